//! Named rewrite rules, tried in order as each node is built (`Graph::apply`), so the
//! derivative comes out as a person would write it, and numerically stable rewrites of the
//! classic traps (`log(sigmoid(z))`, `bce(sigmoid(z), y)`, `log(softmax(z))`), which look
//! through transposes and column selects. Every rule makes the expression smaller or moves
//! a constant outward, so rewriting ends; nothing iterates over a hash map, so the result
//! is the same on every build.

use crate::ir::{Graph, NodeId, Rule};
use crate::ops::function::{LOG, SIGMOID, SOFTPLUS};
use crate::ops::lanes::{self, Lanes};
use crate::ops::shape::Fault;
use crate::ops::{Arith, Linalg, Loss, Op, Reduce};

/// A rule: a simpler node equal to `op(args)`, if it applies.
type Rewrite = fn(&mut Graph, &Op, &[NodeId]) -> Result<Option<NodeId>, Fault>;

/// The rules, in the order they are tried; the stability rewrites only where the graph
/// asks for them.
const RULES: &[Rewrite] = &[
    fold_constants,
    log_sigmoid,
    log_one_minus_sigmoid,
    log_of_softmax,
    bce_of_sigmoid,
    mul_one,
    add_zero,
    like_terms,
    const_first,
    minus_one,
    merge_consts,
    scale_neg,
    hoist_const,
    unsum_scalar,
    unsum_mul,
    neg_neg,
    neg_scaled,
    pow_one,
    transpose_transpose,
    count_through,
    count_of_tensor,
];

/// A simpler node equal to `op(args)`, if a rule applies.
pub fn rewrite(g: &mut Graph, op: &Op, args: &[NodeId]) -> Result<Option<NodeId>, Fault> {
    for rule in RULES {
        if let Some(simpler) = rule(g, op, args)? {
            return Ok(Some(simpler));
        }
    }
    Ok(None)
}

/// fold_constants: an elementwise op of constants is a constant.
fn fold_constants(g: &mut Graph, op: &Op, args: &[NodeId]) -> Result<Option<NodeId>, Fault> {
    if !op.is_elementwise() {
        return Ok(None);
    }
    let values: Option<Vec<f64>> = args.iter().map(|&a| g.konst(a)).collect();
    Ok(values
        .and_then(|vs| op.fold(&vs))
        .filter(|v| v.is_finite())
        .map(|v| g.cst(v)))
}

/// log_sigmoid: log(sigmoid(z)) = -softplus(-z)
fn log_sigmoid(g: &mut Graph, op: &Op, args: &[NodeId]) -> Result<Option<NodeId>, Fault> {
    let (true, &[arg]) = (g.stable && op.applies(LOG), args) else {
        return Ok(None);
    };
    let (layers, inner) = strip(g, arg);
    if !g.op(inner).applies(SIGMOID) {
        return Ok(None);
    }
    let z = rebuild(g, &layers, g.args(inner)[0])?;
    let minus_z = g.neg(z)?;
    let sp = g.map(SOFTPLUS, minus_z)?;
    let n = g.neg(sp)?;
    Ok(Some(tagged(g, n, Rule::LogSigmoid)))
}

/// log_one_minus_sigmoid: log(1 - sigmoid(z)) = -softplus(z)
fn log_one_minus_sigmoid(g: &mut Graph, op: &Op, args: &[NodeId]) -> Result<Option<NodeId>, Fault> {
    let (true, &[arg]) = (g.stable && op.applies(LOG), args) else {
        return Ok(None);
    };
    let (layers, inner) = strip(g, arg);
    let Some((Arith::Add, [one, minus])) = arith(g, inner) else {
        return Ok(None);
    };
    let Some((Arith::Neg, [p])) = arith(g, minus) else {
        return Ok(None);
    };
    let (inner_layers, p) = strip(g, p);
    if g.konst(one) != Some(1.0) || !g.op(p).applies(SIGMOID) {
        return Ok(None);
    }
    let z = rebuild(g, &inner_layers, g.args(p)[0])?;
    let z = rebuild(g, &layers, z)?;
    let sp = g.map(SOFTPLUS, z)?;
    let n = g.neg(sp)?;
    Ok(Some(tagged(g, n, Rule::LogOneMinusSigmoid)))
}

/// log_of_softmax: log(softmax(z)) = log_softmax(z)
fn log_of_softmax(g: &mut Graph, op: &Op, args: &[NodeId]) -> Result<Option<NodeId>, Fault> {
    let (true, &[arg]) = (g.stable && op.applies(LOG), args) else {
        return Ok(None);
    };
    let (layers, inner) = strip(g, arg);
    let Op::Lanes(Lanes {
        kind: lanes::Kind::Softmax,
        axis,
    }) = *g.op(inner)
    else {
        return Ok(None);
    };
    let log_softmax = Lanes {
        kind: lanes::Kind::LogSoftmax,
        axis,
    };
    let ls = g.apply(Op::Lanes(log_softmax), &[g.args(inner)[0]])?;
    g.tag(ls, Rule::LogSoftmax);
    Ok(Some(rebuild(g, &layers, ls)?))
}

/// bce_of_sigmoid: bce(sigmoid(z), y) = bce_logits(z, y)
fn bce_of_sigmoid(g: &mut Graph, op: &Op, args: &[NodeId]) -> Result<Option<NodeId>, Fault> {
    let (true, &Op::Loss(Loss::Bce), &[p, y]) = (g.stable, op, args) else {
        return Ok(None);
    };
    let (layers, inner) = strip(g, p);
    if !g.op(inner).applies(SIGMOID) {
        return Ok(None);
    }
    let z = rebuild(g, &layers, g.args(inner)[0])?;
    let n = g.apply(Op::Loss(Loss::BceLogits), &[z, y])?;
    Ok(Some(tagged(g, n, Rule::SigmoidBce)))
}

/// mul_one: 1 * x = x = x * 1
fn mul_one(g: &mut Graph, op: &Op, args: &[NodeId]) -> Result<Option<NodeId>, Fault> {
    let (&Op::Arith(Arith::Mul), &[a, b]) = (op, args) else {
        return Ok(None);
    };
    Ok(match (g.konst(a), g.konst(b)) {
        (Some(1.0), _) => Some(b),
        (_, Some(1.0)) => Some(a),
        _ => None,
    })
}

/// add_zero: 0 + x = x = x + 0
fn add_zero(g: &mut Graph, op: &Op, args: &[NodeId]) -> Result<Option<NodeId>, Fault> {
    let (&Op::Arith(Arith::Add), &[a, b]) = (op, args) else {
        return Ok(None);
    };
    Ok(match (g.konst(a), g.konst(b)) {
        (Some(0.0), _) => Some(b),
        (_, Some(0.0)) => Some(a),
        _ => None,
    })
}

/// like_terms: x + x = 2 * x, and c1 * x + c2 * x = (c1 + c2) * x (the gradient of
/// `(w * w).sum()` is `2 * w`, not `w + w`)
fn like_terms(g: &mut Graph, op: &Op, args: &[NodeId]) -> Result<Option<NodeId>, Fault> {
    let (&Op::Arith(Arith::Add), &[a, b]) = (op, args) else {
        return Ok(None);
    };
    let term = |g: &Graph, n: NodeId| match arith(g, n) {
        Some((Arith::Mul, [c, x])) if g.konst(c).is_some() => (g.konst(c).unwrap_or(1.0), x),
        _ => (1.0, n),
    };
    let ((ca, xa), (cb, xb)) = (term(g, a), term(g, b));
    if xa != xb || !g.same_shape(a, b) {
        return Ok(None);
    }
    let c = g.cst(ca + cb);
    Ok(Some(g.mul(c, xa)?))
}

/// const_first: x * c = c * x
fn const_first(g: &mut Graph, op: &Op, args: &[NodeId]) -> Result<Option<NodeId>, Fault> {
    let (&Op::Arith(Arith::Mul), &[a, b]) = (op, args) else {
        return Ok(None);
    };
    if g.konst(b).is_some() && g.konst(a).is_none() {
        return Ok(Some(g.mul(b, a)?));
    }
    Ok(None)
}

/// minus_one: (-1) * x = -x
fn minus_one(g: &mut Graph, op: &Op, args: &[NodeId]) -> Result<Option<NodeId>, Fault> {
    let (&Op::Arith(Arith::Mul), &[a, b]) = (op, args) else {
        return Ok(None);
    };
    if g.konst(a) == Some(-1.0) {
        return Ok(Some(g.neg(b)?));
    }
    Ok(None)
}

/// merge_consts: c1 * (c2 * x) = (c1 c2) * x
fn merge_consts(g: &mut Graph, op: &Op, args: &[NodeId]) -> Result<Option<NodeId>, Fault> {
    let (&Op::Arith(Arith::Mul), &[a, b]) = (op, args) else {
        return Ok(None);
    };
    let (Some(c1), Some((Arith::Mul, [c2, x]))) = (g.konst(a), arith(g, b)) else {
        return Ok(None);
    };
    let Some(c2) = g.konst(c2) else {
        return Ok(None);
    };
    let c = g.cst(c1 * c2);
    Ok(Some(g.mul(c, x)?))
}

/// scale_neg: c * (-x) = (-c) * x
fn scale_neg(g: &mut Graph, op: &Op, args: &[NodeId]) -> Result<Option<NodeId>, Fault> {
    let (&Op::Arith(Arith::Mul), &[a, b]) = (op, args) else {
        return Ok(None);
    };
    let (Some(c), Some((Arith::Neg, [x]))) = (g.konst(a), arith(g, b)) else {
        return Ok(None);
    };
    let c = g.cst(-c);
    Ok(Some(g.mul(c, x)?))
}

/// hoist_const: a * (c * b) = c * (a * b) = (c * a) * b
fn hoist_const(g: &mut Graph, op: &Op, args: &[NodeId]) -> Result<Option<NodeId>, Fault> {
    let (&Op::Arith(Arith::Mul), &[a, b]) = (op, args) else {
        return Ok(None);
    };
    if g.konst(a).is_some() {
        return Ok(None);
    }
    if let Some((Arith::Mul, [c, rest])) = arith(g, b) {
        if g.konst(c).is_some() {
            let ab = g.mul(a, rest)?;
            return Ok(Some(g.mul(c, ab)?));
        }
    }
    if let Some((Arith::Mul, [c, rest])) = arith(g, a) {
        if g.konst(c).is_some() {
            let ab = g.mul(rest, b)?;
            return Ok(Some(g.mul(c, ab)?));
        }
    }
    Ok(None)
}

/// unsum_mul: spread(s) * x = s * x = x * spread(s), when s broadcasts to x as it is
fn unsum_mul(g: &mut Graph, op: &Op, args: &[NodeId]) -> Result<Option<NodeId>, Fault> {
    let (&Op::Arith(Arith::Mul), &[a, b]) = (op, args) else {
        return Ok(None);
    };
    for (spread, other) in [(a, b), (b, a)] {
        let Some(n) = visible(g, spread) else {
            continue;
        };
        if let Op::Reduce(Reduce::Unsum { axis, keep }) = *g.op(n) {
            let (s, like) = (g.args(n)[0], g.args(n)[1]);
            if broadcasts(axis, keep) && g.same_shape(like, other) {
                return Ok(Some(g.mul(s, other)?));
            }
        }
    }
    Ok(None)
}

/// unsum_scalar: a scalar spread over a shape, then spread again, is the scalar spread
/// over the last shape
fn unsum_scalar(g: &mut Graph, op: &Op, args: &[NodeId]) -> Result<Option<NodeId>, Fault> {
    let (&Op::Reduce(Reduce::Unsum { .. }), &[inner, like]) = (op, args) else {
        return Ok(None);
    };
    let Some(n) = visible(g, inner) else {
        return Ok(None);
    };
    let Op::Reduce(Reduce::Unsum { axis: None, .. }) = *g.op(n) else {
        return Ok(None);
    };
    let s = g.args(n)[0];
    if g.rank(s) != 0 {
        return Ok(None);
    }
    let spread = Op::Reduce(Reduce::Unsum {
        axis: None,
        keep: false,
    });
    Ok(Some(g.apply(spread, &[s, like])?))
}

/// neg_neg: -(-a) = a
fn neg_neg(g: &mut Graph, op: &Op, args: &[NodeId]) -> Result<Option<NodeId>, Fault> {
    let (&Op::Arith(Arith::Neg), &[a]) = (op, args) else {
        return Ok(None);
    };
    let Some((Arith::Neg, [x])) = arith(g, a) else {
        return Ok(None);
    };
    Ok(Some(x))
}

/// neg_scaled: -(c * x) = (-c) * x
fn neg_scaled(g: &mut Graph, op: &Op, args: &[NodeId]) -> Result<Option<NodeId>, Fault> {
    let (&Op::Arith(Arith::Neg), &[a]) = (op, args) else {
        return Ok(None);
    };
    let Some((Arith::Mul, [c, x])) = arith(g, a) else {
        return Ok(None);
    };
    let Some(c) = g.konst(c) else {
        return Ok(None);
    };
    let c = g.cst(-c);
    Ok(Some(g.mul(c, x)?))
}

/// pow_one: a^1 = a
fn pow_one(_: &mut Graph, op: &Op, args: &[NodeId]) -> Result<Option<NodeId>, Fault> {
    let (&Op::Arith(Arith::Pow(k)), &[a]) = (op, args) else {
        return Ok(None);
    };
    Ok((k.get() == 1.0).then_some(a))
}

/// transpose_transpose: (a.T).T = a
fn transpose_transpose(g: &mut Graph, op: &Op, args: &[NodeId]) -> Result<Option<NodeId>, Fault> {
    let (&Op::Linalg(Linalg::Transpose), &[a]) = (op, args) else {
        return Ok(None);
    };
    Ok(visible(g, a)
        .filter(|&n| *g.op(n) == Op::Linalg(Linalg::Transpose))
        .map(|n| g.args(n)[0]))
}

/// count_through: numel(f(a)) = numel(a) for an elementwise f that keeps a's shape,
/// stopping at a name
fn count_through(g: &mut Graph, op: &Op, args: &[NodeId]) -> Result<Option<NodeId>, Fault> {
    let (&Op::Reduce(Reduce::Count(axis)), &[e]) = (op, args) else {
        return Ok(None);
    };
    if g.named.contains(&e) || !g.op(e).is_elementwise() {
        return Ok(None);
    }
    let source = g.args(e).iter().copied().find(|&a| g.same_shape(a, e));
    match source {
        Some(a) => Ok(Some(g.apply(Op::Reduce(Reduce::Count(axis)), &[a])?)),
        None => Ok(None),
    }
}

/// count_of_tensor: the length of an axis is that of the first tensor the model takes
/// with that dim (`n` of `logprobs[range(n), Yb].mean()` is `Xb.shape[0]`), so that one
/// length has one name in the derivation
fn count_of_tensor(g: &mut Graph, op: &Op, args: &[NodeId]) -> Result<Option<NodeId>, Fault> {
    let (&Op::Reduce(Reduce::Count(axis)), &[e]) = (op, args) else {
        return Ok(None);
    };
    if matches!(g.op(e), Op::Var(_)) {
        return Ok(None);
    }
    let dim = match (axis, g.shape(e).as_slice()) {
        (Some(k), shape) => shape.get(usize::from(k)).copied(),
        (None, &[d]) => Some(d),
        (None, _) => None,
    };
    let Some(dim) = dim.map(|d| g.dims.find(d)) else {
        return Ok(None);
    };
    let found = g.vars.iter().find_map(|v| {
        let shape = g.shape(v.node);
        let j = shape.iter().position(|&d| g.dims.find(d) == dim)?;
        Some((v.node, j as u8))
    });
    match found {
        Some((v, j)) => Ok(Some(g.apply(Op::Reduce(Reduce::Count(Some(j))), &[v])?)),
        None => Ok(None),
    }
}

/// `n`, unless it is a named value of the graph `trace` follows: there a named value is
/// opaque, since looking through it (as `(a.T).T = a` would for `let a = z.T`) would take
/// it off the loss's path and zero the gradient `trace` reports for it; or the gradient of
/// a named value, which the gradients after it use by name.
fn visible(g: &Graph, n: NodeId) -> Option<NodeId> {
    ((g.stable || !g.named.contains(&n)) && !g.opaque.contains(&n)).then_some(n)
}

/// The arithmetic op of a visible node and its arguments.
fn arith<const N: usize>(g: &Graph, n: NodeId) -> Option<(Arith, [NodeId; N])> {
    let n = visible(g, n)?;
    let Op::Arith(a) = *g.op(n) else {
        return None;
    };
    let args: [NodeId; N] = g.args(n).try_into().ok()?;
    Some((a, args))
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
    while let op @ (Op::Linalg(Linalg::Transpose) | Op::Reduce(Reduce::Column(_))) = *g.op(node) {
        layers.push(op);
        node = g.args(node)[0];
    }
    (layers, node)
}

/// `node` wrapped in `layers` again.
fn rebuild(g: &mut Graph, layers: &[Op], node: NodeId) -> Result<NodeId, Fault> {
    let mut node = node;
    for op in layers.iter().rev() {
        node = g.apply(*op, &[node])?;
    }
    Ok(node)
}

/// Whether the argument of `Unsum { axis, keep }` broadcasts to the result's shape without
/// inserting an axis.
fn broadcasts(axis: Option<u8>, keep: bool) -> bool {
    keep || matches!(axis, None | Some(0))
}
