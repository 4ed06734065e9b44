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
pub fn vjp(graph: &mut Graph, id: NodeId, g: NodeId, scope: &Scope) -> Result<Vec<(NodeId, NodeId)>, Fault> {
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
        | Op::ClampMinStep(_) => return Ok(Vec::new()),
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
        Op::Matmul => return matmul(graph, a, b, g, &wants),
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
    };
    Ok(vec![(a, graph.mul(g, local)?)])
}

/// `c = a @ b`: `a` gets `g @ b^T` and `b` gets `a^T @ g`, with outer products where a
/// side is a vector.
fn matmul(
    graph: &mut Graph,
    a: NodeId,
    b: NodeId,
    g: NodeId,
    wants: &dyn Fn(NodeId) -> bool,
) -> Result<Vec<(NodeId, NodeId)>, Fault> {
    let mut out = Vec::new();
    let (ra, rb) = (graph.rank(a), graph.rank(b));
    if wants(a) {
        let da = match (ra, rb) {
            (2, 2) => {
                let bt = graph.t(b)?;
                graph.add(Op::Matmul, &[g, bt])?
            }
            (2, 1) => graph.add(Op::Outer, &[g, b])?,
            (1, 2) => graph.add(Op::Matmul, &[b, g])?,
            _ => graph.mul(g, b)?,
        };
        out.push((a, da));
    }
    if wants(b) {
        let db = match (ra, rb) {
            (2, 2) | (2, 1) => {
                let at = graph.t(a)?;
                graph.add(Op::Matmul, &[at, g])?
            }
            (1, 2) => graph.add(Op::Outer, &[a, g])?,
            _ => graph.mul(g, a)?,
        };
        out.push((b, db));
    }
    Ok(out)
}

/// PyTorch's `binary_cross_entropy` backward: `p` gets `g (p - y) / max(p (1 - p), 1e-12) / N`,
/// and when `p = sigmoid(z)` the product with `sigmoid'` is taken symbolically, so `z` gets
/// `g (p - y) / N`; `y` gets `g (ln(1 - p) - ln p) / N` with the logs clamped as forward.
fn bce(graph: &mut Graph, p: NodeId, y: NodeId, g: NodeId, scope: &Scope) -> Result<Vec<(NodeId, NodeId)>, Fault> {
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
