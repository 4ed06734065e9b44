//! Named rewrite rules, applied as each node is built (`Graph::add`), so the derivative
//! comes out as a person would write it, and numerically stable rewrites of the classic
//! traps (`log(sigmoid(z))`, `bce(sigmoid(z), y)`, `log(softmax(z))`), which look through
//! transposes and column selects. Every rule makes the expression smaller or moves a
//! constant outward, so rewriting ends; nothing iterates over a hash map, so the result
//! is the same on every build.

use crate::ir::{Graph, NodeId, Rule};
use crate::ops::shape::Fault;
use crate::ops::Op;

/// A simpler node equal to `op(args)`, if a rule applies.
pub fn rewrite(g: &mut Graph, op: &Op, args: &[NodeId]) -> Result<Option<NodeId>, Fault> {
    // fold_constants: an elementwise op of constants is a constant.
    if op.is_elementwise() {
        let values: Option<Vec<f64>> = args.iter().map(|&a| g.konst(a)).collect();
        if let Some(v) = values.and_then(|vs| op.scalar(&vs)) {
            if v.is_finite() {
                return Ok(Some(g.cst(v)));
            }
        }
    }
    if g.stable {
        if let Some(stable) = stability(g, op, args)? {
            return Ok(Some(stable));
        }
    }
    let k = |i: usize| args.get(i).and_then(|&a| g.konst(a));
    // In the graph `trace` follows, a named value is opaque: looking through it (as
    // `(a.T).T = a` would for `let a = z.T`) would take it off the loss's path and zero
    // the gradient `trace` reports for it.
    let opaque = |a: NodeId| !g.stable && g.named.contains(&a);
    let inner = |i: usize| {
        args.get(i)
            .filter(|&&a| !opaque(a))
            .map(|&a| (*g.op(a), g.args(a).to_vec()))
    };
    Ok(match (op, args) {
        // mul_one: 1 * x = x
        (Op::Mul, &[_, b]) if k(0) == Some(1.0) => Some(b),
        (Op::Mul, &[a, _]) if k(1) == Some(1.0) => Some(a),
        // add_zero: 0 + x = x
        (Op::Add, &[_, b]) if k(0) == Some(0.0) => Some(b),
        (Op::Add, &[a, _]) if k(1) == Some(0.0) => Some(a),
        // const_first: x * c = c * x
        (Op::Mul, &[a, b]) if k(1).is_some() && k(0).is_none() => Some(g.mul(b, a)?),
        // minus_one: (-1) * x = -x
        (Op::Mul, &[_, b]) if k(0) == Some(-1.0) => Some(g.neg(b)?),
        (Op::Mul, &[a, b]) => match (k(0), inner(1), inner(0)) {
            // merge_consts: c1 * (c2 * x) = (c1 c2) * x
            (Some(c1), Some((Op::Mul, rest)), _) if g.konst(rest[0]).is_some() => {
                let c = g.cst(c1 * g.konst(rest[0]).unwrap_or(1.0));
                Some(g.mul(c, rest[1])?)
            }
            // scale_neg: c * (-x) = (-c) * x
            (Some(c), Some((Op::Neg, rest)), _) => {
                let c = g.cst(-c);
                Some(g.mul(c, rest[0])?)
            }
            // hoist_const: a * (c * b) = c * (a * b)
            (None, Some((Op::Mul, rest)), _) if g.konst(rest[0]).is_some() => {
                let ab = g.mul(a, rest[1])?;
                Some(g.mul(rest[0], ab)?)
            }
            // hoist_const: (c * a) * b = c * (a * b)
            (None, _, Some((Op::Mul, rest))) if g.konst(rest[0]).is_some() => {
                let ab = g.mul(rest[1], b)?;
                Some(g.mul(rest[0], ab)?)
            }
            // unsum_mul: spread(s) * x = s * x when s broadcasts to x as it is
            (_, _, Some((Op::Unsum { axis, keep }, rest)))
                if broadcasts(axis, keep) && g.same_shape(rest[1], b) =>
            {
                Some(g.mul(rest[0], b)?)
            }
            (_, Some((Op::Unsum { axis, keep }, rest)), _)
                if broadcasts(axis, keep) && g.same_shape(rest[1], a) =>
            {
                Some(g.mul(rest[0], a)?)
            }
            _ => None,
        },
        (Op::Neg, &[_]) => match inner(0) {
            // neg_neg: -(-a) = a
            Some((Op::Neg, rest)) => Some(rest[0]),
            // neg_scaled: -(c * x) = (-c) * x
            Some((Op::Mul, rest)) if g.konst(rest[0]).is_some() => {
                let c = g.cst(-g.konst(rest[0]).unwrap_or(0.0));
                Some(g.mul(c, rest[1])?)
            }
            _ => None,
        },
        // pow_one: a^1 = a
        (Op::Pow(p), &[a]) if p.get() == 1.0 => Some(a),
        (Op::Transpose, &[_]) => match inner(0) {
            // transpose_transpose: (a.T).T = a
            Some((Op::Transpose, rest)) => Some(rest[0]),
            _ => None,
        },
        // count_through: numel(f(a)) = numel(a) for an elementwise f that keeps a's shape,
        // stopping at a name
        (Op::Count(axis), &[e]) if !g.named.contains(&e) => {
            let source = g
                .args(e)
                .iter()
                .copied()
                .find(|&a| g.op(e).is_elementwise() && g.same_shape(a, e));
            match source {
                Some(a) => Some(g.add(Op::Count(*axis), &[a])?),
                None => None,
            }
        }
        _ => None,
    })
}

/// The stability rewrites, each through any chain of transposes and column selects.
fn stability(g: &mut Graph, op: &Op, args: &[NodeId]) -> Result<Option<NodeId>, Fault> {
    Ok(match (op, args) {
        (Op::Log, &[arg]) => {
            let (layers, inner) = strip(g, arg);
            match (*g.op(inner), g.args(inner).to_vec().as_slice()) {
                // log_sigmoid: log(sigmoid(z)) = -softplus(-z)
                (Op::Sigmoid, &[z]) => {
                    let z = rebuild(g, &layers, z)?;
                    let minus_z = g.neg(z)?;
                    let sp = g.unary(Op::Softplus, minus_z)?;
                    let n = g.neg(sp)?;
                    Some(tagged(g, n, Rule::LogSigmoid))
                }
                // log_one_minus_sigmoid: log(1 - sigmoid(z)) = -softplus(z)
                (Op::Add, &[one, minus]) if g.konst(one) == Some(1.0) => match g.op(minus) {
                    Op::Neg => {
                        let (inner_layers, p) = strip(g, g.args(minus)[0]);
                        match (*g.op(p), g.args(p).to_vec().as_slice()) {
                            (Op::Sigmoid, &[z]) => {
                                let z = rebuild(g, &inner_layers, z)?;
                                let z = rebuild(g, &layers, z)?;
                                let sp = g.unary(Op::Softplus, z)?;
                                let n = g.neg(sp)?;
                                Some(tagged(g, n, Rule::LogOneMinusSigmoid))
                            }
                            _ => None,
                        }
                    }
                    _ => None,
                },
                // log_of_softmax: log(softmax(z)) = log_softmax(z)
                (Op::Softmax(axis), &[z]) => {
                    let ls = g.add(Op::LogSoftmax(axis), &[z])?;
                    g.tag(ls, Rule::LogSoftmax);
                    Some(rebuild(g, &layers, ls)?)
                }
                _ => None,
            }
        }
        // bce_of_sigmoid: bce(sigmoid(z), y) = bce_logits(z, y)
        (Op::Bce, &[p, y]) => {
            let (layers, inner) = strip(g, p);
            match (*g.op(inner), g.args(inner).to_vec().as_slice()) {
                (Op::Sigmoid, &[z]) => {
                    let z = rebuild(g, &layers, z)?;
                    let n = g.add(Op::BceLogits, &[z, y])?;
                    Some(tagged(g, n, Rule::SigmoidBce))
                }
                _ => None,
            }
        }
        _ => None,
    })
}

/// `id`, recorded as built by `rule`.
fn tagged(g: &mut Graph, id: NodeId, rule: Rule) -> NodeId {
    g.tag(id, rule);
    id
}

/// The transposes and column selects wrapped around a node, outermost first, and the node
/// inside them.
fn strip(g: &Graph, mut node: NodeId) -> (Vec<Op>, NodeId) {
    let mut layers = Vec::new();
    while let op @ (Op::Transpose | Op::Column(_)) = *g.op(node) {
        layers.push(op);
        node = g.args(node)[0];
    }
    (layers, node)
}

/// `node` wrapped in `layers` again.
fn rebuild(g: &mut Graph, layers: &[Op], node: NodeId) -> Result<NodeId, Fault> {
    let mut node = node;
    for op in layers.iter().rev() {
        node = g.add(*op, &[node])?;
    }
    Ok(node)
}

/// Whether the argument of `Unsum { axis, keep }` broadcasts to the result's shape without
/// inserting an axis.
fn broadcasts(axis: Option<u8>, keep: bool) -> bool {
    keep || matches!(axis, None | Some(0))
}
