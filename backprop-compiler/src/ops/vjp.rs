//! Vector-Jacobian products: for a node and the gradient `g` of the loss with respect to
//! it, the contributions to the gradients of other nodes, built as IR. A rule may send its
//! contribution past its own argument when the composition has a simpler derivative than
//! the chain of the parts (`bce(sigmoid(z), y)` gives `z` the gradient `(sigmoid(z) - y)/N`),
//! unless the skipped node's own gradient is asked for.

use crate::diff::Scope;
use crate::ir::{Graph, NodeId};
use crate::ops::shape::Fault;
use crate::ops::{Op, F64};

/// Contributions `(node, gradient)` of `id`'s gradient `g`, for the nodes `scope` wants.
pub fn vjp(
    graph: &mut Graph,
    id: NodeId,
    g: NodeId,
    scope: &Scope,
) -> Result<Vec<(NodeId, NodeId)>, Fault> {
    let wants = |n: NodeId| scope.wants(n);
    let node = graph.node(id).clone();
    let a = node.args.first().copied().unwrap_or(id);
    let b = node.args.get(1).copied().unwrap_or(id);
    // `local` is the elementwise derivative d op(a) / d a: the contribution is g * local.
    let local = match node.op {
        Op::Var(_)
        | Op::Const(_)
        | Op::Count(_)
        | Op::Sign
        | Op::Step
        | Op::LeakyStep(_)
        | Op::ClampMinStep(_)
        | Op::OneHot => return Ok(Vec::new()),
        Op::Neg => return Ok(vec![(a, graph.neg(g)?)]),
        // d a^k = k a^(k-1)
        Op::Pow(k) => {
            let k = k.get();
            let p = graph.pow(a, k - 1.0)?;
            let c = graph.cst(k);
            graph.mul(c, p)?
        }
        // d e^a = e^a
        Op::Exp => id,
        // d ln a = 1 / a
        Op::Log => graph.pow(a, -1.0)?,
        // d sqrt(a) = 0.5 / sqrt(a)
        Op::Sqrt => {
            let r = graph.pow(id, -1.0)?;
            let half = graph.cst(0.5);
            graph.mul(half, r)?
        }
        Op::Abs => graph.unary(Op::Sign, a)?,
        Op::Relu => graph.unary(Op::Step, a)?,
        // d sigmoid(a) = sigmoid(a) (1 - sigmoid(a))
        Op::Sigmoid => {
            let one = graph.cst(1.0);
            let rest = graph.sub(one, id)?;
            graph.mul(id, rest)?
        }
        // d tanh(a) = 1 - tanh(a)^2
        Op::Tanh => {
            let one = graph.cst(1.0);
            let sq = graph.pow(id, 2.0)?;
            graph.sub(one, sq)?
        }
        // d softplus(a) = sigmoid(a)
        Op::Softplus => graph.unary(Op::Sigmoid, a)?,
        Op::LeakyRelu(s) => graph.unary(Op::LeakyStep(s), a)?,
        Op::ClampMin(lo) => graph.unary(Op::ClampMinStep(lo), a)?,
        Op::Add => {
            let mut out = Vec::new();
            for x in [a, b] {
                if wants(x) {
                    out.push((x, graph.reduce_to(g, x)?));
                }
            }
            return Ok(out);
        }
        Op::Mul => {
            let mut out = Vec::new();
            for (x, other) in [(a, b), (b, a)] {
                if wants(x) {
                    let full = graph.mul(g, other)?;
                    out.push((x, graph.reduce_to(full, x)?));
                }
            }
            return Ok(out);
        }
        Op::Matmul => return matmul(graph, a, b, g, scope),
        // d (a b^T): a gets g @ b, b gets g^T @ a
        Op::Outer => {
            let mut out = Vec::new();
            if wants(a) {
                out.push((a, graph.add(Op::Matmul, &[g, b])?));
            }
            if wants(b) {
                let gt = graph.t(g)?;
                out.push((b, graph.add(Op::Matmul, &[gt, a])?));
            }
            return Ok(out);
        }
        Op::Transpose => return Ok(vec![(a, graph.t(g)?)]),
        Op::Sum { axis, keep } => {
            return Ok(vec![(a, graph.add(Op::Unsum { axis, keep }, &[g, a])?)]);
        }
        Op::Unsum { axis, keep } => {
            return Ok(vec![(a, graph.add(Op::Sum { axis, keep }, &[g])?)]);
        }
        Op::Column(k) => return Ok(vec![(a, graph.add(Op::ColumnScatter(k), &[g, a])?)]),
        Op::ColumnScatter(k) => return Ok(vec![(a, graph.add(Op::Column(k), &[g])?)]),
        Op::Bce => return bce(graph, a, b, g, scope),
        // d bce_logits(z, y) = (sigmoid(z) - y) / N for z, -z / N for y
        Op::BceLogits => {
            let n = graph.count(a)?;
            let scale = graph.div(g, n)?;
            let mut out = Vec::new();
            if wants(a) {
                let p = graph.unary(Op::Sigmoid, a)?;
                let diff = graph.sub(p, b)?;
                out.push((a, graph.mul(scale, diff)?));
            }
            if wants(b) {
                let minus_z = graph.neg(a)?;
                out.push((b, graph.mul(scale, minus_z)?));
            }
            return Ok(out);
        }
        // d softmax: s * (g - sum(g * s, axis))
        Op::Softmax(axis) => {
            let gs = graph.mul(g, id)?;
            let dot = graph.add(
                Op::Sum {
                    axis: Some(axis),
                    keep: true,
                },
                &[gs],
            )?;
            let diff = graph.sub(g, dot)?;
            return Ok(vec![(a, graph.mul(id, diff)?)]);
        }
        // d log_softmax: g - softmax * sum(g, axis)
        Op::LogSoftmax(axis) => {
            let total = graph.add(
                Op::Sum {
                    axis: Some(axis),
                    keep: true,
                },
                &[g],
            )?;
            let s = graph.add(Op::Softmax(axis), &[a])?;
            let spread = graph.mul(s, total)?;
            return Ok(vec![(a, graph.sub(g, spread)?)]);
        }
        // d cross_entropy(z, labels) = (softmax(z) - onehot(labels)) / N
        Op::CrossEntropy => {
            let n = graph.count(b)?;
            let scale = graph.div(g, n)?;
            let s = graph.add(Op::Softmax(1), &[a])?;
            let hot = graph.add(Op::OneHot, &[b, a])?;
            let diff = graph.sub(s, hot)?;
            return Ok(vec![(a, graph.mul(scale, diff)?)]);
        }
    };
    Ok(vec![(a, graph.mul(g, local)?)])
}

/// `c = a @ b`: `a` gets `g @ b^T` and `b` gets `a^T @ g`, with outer products where a
/// side is a vector. An operand that is a transpose `w.T` (nn.Linear's layout) passes its
/// gradient straight to `w`, transposed: `h @ w.T` gives `w` the gradient `g^T @ h`.
fn matmul(
    graph: &mut Graph,
    a: NodeId,
    b: NodeId,
    g: NodeId,
    scope: &Scope,
) -> Result<Vec<(NodeId, NodeId)>, Fault> {
    let mut out = Vec::new();
    let (ra, rb) = (graph.rank(a), graph.rank(b));
    let untransposed = |graph: &Graph, n: NodeId| match graph.op(n) {
        Op::Transpose if !scope.keeps(n) => Some(graph.args(n)[0]),
        _ => None,
    };
    if scope.wants(a) {
        match (untransposed(graph, a), ra, rb) {
            // a = u.T: du = (g @ b.T).T = b @ g.T
            (Some(u), 2, 2) => {
                let gt = graph.t(g)?;
                out.push((u, graph.add(Op::Matmul, &[b, gt])?));
            }
            (_, 2, 2) => {
                let bt = graph.t(b)?;
                out.push((a, graph.add(Op::Matmul, &[g, bt])?));
            }
            (_, 2, 1) => out.push((a, graph.add(Op::Outer, &[g, b])?)),
            (_, 1, 2) => out.push((a, graph.add(Op::Matmul, &[b, g])?)),
            _ => out.push((a, graph.mul(g, b)?)),
        }
    }
    if scope.wants(b) {
        match (untransposed(graph, b), ra, rb) {
            // b = w.T: dw = (a.T @ g).T = g.T @ a
            (Some(w), 2, 2) => {
                let gt = graph.t(g)?;
                out.push((w, graph.add(Op::Matmul, &[gt, a])?));
            }
            (_, 2, _) => {
                let at = graph.t(a)?;
                out.push((b, graph.add(Op::Matmul, &[at, g])?));
            }
            (_, 1, 2) => out.push((b, graph.add(Op::Outer, &[a, g])?)),
            _ => out.push((b, graph.mul(g, a)?)),
        }
    }
    Ok(out)
}

/// PyTorch's `binary_cross_entropy` backward: `p` gets `g (p - y) / max(p (1 - p), 1e-12) / N`,
/// and when `p = sigmoid(z)` the product with `sigmoid'` is taken symbolically, so `z` gets
/// `g (p - y) / N`; `y` gets `g (ln(1 - p) - ln p) / N` with the logs clamped as forward.
fn bce(
    graph: &mut Graph,
    p: NodeId,
    y: NodeId,
    g: NodeId,
    scope: &Scope,
) -> Result<Vec<(NodeId, NodeId)>, Fault> {
    let wants = |n: NodeId| scope.wants(n);
    let mut out = Vec::new();
    let n = graph.count(p)?;
    let scale = graph.div(g, n)?;
    let logit = match graph.op(p) {
        Op::Sigmoid if !scope.keeps(p) => Some(graph.args(p)[0]),
        _ => None,
    };
    match logit {
        Some(z) if wants(z) => {
            let diff = graph.sub(p, y)?;
            out.push((z, graph.mul(scale, diff)?));
        }
        Some(_) => {}
        None if wants(p) => {
            let diff = graph.sub(p, y)?;
            let one = graph.cst(1.0);
            let q = graph.sub(one, p)?;
            let pq = graph.mul(p, q)?;
            let floor = graph.unary(Op::ClampMin(F64::new(1e-12)), pq)?;
            let ratio = graph.div(diff, floor)?;
            out.push((p, graph.mul(scale, ratio)?));
        }
        None => {}
    }
    if wants(y) {
        let one = graph.cst(1.0);
        let q = graph.sub(one, p)?;
        let log_q = graph.unary(Op::Log, q)?;
        let log_p = graph.unary(Op::Log, p)?;
        let lo = F64::new(-100.0);
        let log_q = graph.unary(Op::ClampMin(lo), log_q)?;
        let log_p = graph.unary(Op::ClampMin(lo), log_p)?;
        let diff = graph.sub(log_q, log_p)?;
        out.push((y, graph.mul(scale, diff)?));
    }
    Ok(out)
}
