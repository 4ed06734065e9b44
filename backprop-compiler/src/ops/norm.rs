//! Normalisations the language names, as sugar over the primitives: `batch_norm(x, gain,
//! bias, eps)` normalises each column of a batch by the batch's statistics (PyTorch's
//! `F.batch_norm` in training mode), `layer_norm(x, gain, bias, eps)` each row by its own
//! (`F.layer_norm` over the last axis). Both use the biased variance, as PyTorch's do, and
//! `eps` is `1e-5` unless given. Their derivatives are those of the primitives they build.

use crate::ir::{Graph, NodeId};
use crate::ops::shape::Fault;
use crate::ops::{Op, Reduce};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Norm {
    /// Each column by the batch's mean and variance (axis 0).
    Batch,
    /// Each row by its own mean and variance (the last axis).
    Layer,
}

/// How the language spells them.
pub const SPELLINGS: &[(&str, Norm)] = &[("batch_norm", Norm::Batch), ("layer_norm", Norm::Layer)];

/// The normalisation spelled `name`.
pub fn named(name: &str) -> Option<Norm> {
    SPELLINGS.iter().find(|(n, _)| *n == name).map(|(_, k)| *k)
}

/// `x` less its mean along `axis` (all axes for `None`), and its variance there, PyTorch's
/// `var(axis, keepdim=keep, correction=c)`: the sum of squares of the deviation over the
/// count less `c`.
pub fn deviation(
    g: &mut Graph,
    x: NodeId,
    axis: Option<u8>,
    keep: bool,
    correction: i64,
) -> Result<(NodeId, NodeId), Fault> {
    let n = g.apply(Op::Reduce(Reduce::Count(axis)), &[x])?;
    let total = g.apply(Op::Reduce(Reduce::Sum { axis, keep: true }), &[x])?;
    let mean = g.div(total, n)?;
    let d = g.sub(x, mean)?;
    let sq = g.mul(d, d)?;
    let ss = g.apply(Op::Reduce(Reduce::Sum { axis, keep }), &[sq])?;
    let c = g.cst(correction as f64);
    let dof = g.sub(n, c)?;
    Ok((d, g.div(ss, dof)?))
}

impl Norm {
    /// `(x - mean) / sqrt(var + eps) * gain + bias`, the statistics along the norm's axis,
    /// kept so that they broadcast back.
    pub fn build(
        self,
        g: &mut Graph,
        x: NodeId,
        gain: NodeId,
        bias: NodeId,
        eps: f64,
    ) -> Result<NodeId, Fault> {
        let axis = match self {
            Norm::Batch => Some(0),
            Norm::Layer => Some((g.rank(x).max(1) - 1) as u8),
        };
        let (d, var) = deviation(g, x, axis, true, 0)?;
        let eps = g.cst(eps);
        let shifted = g.sum2(var, eps)?;
        let inv = g.pow(shifted, -0.5)?;
        let raw = g.mul(d, inv)?;
        let scaled = g.mul(raw, gain)?;
        g.sum2(scaled, bias)
    }
}
