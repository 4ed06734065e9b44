//! Normalisations the language names, as sugar over the primitives: `batch_norm(x, gain,
//! bias, eps)` normalises each column of a batch by the batch's statistics (PyTorch's
//! `F.batch_norm` in training mode), `layer_norm(x, gain, bias, eps)` each row by its own
//! (`F.layer_norm` over the last axis). Both use the biased variance, as PyTorch's do, and
//! `eps` is `1e-5` unless given. Both are a gain and a bias over one op, [`Normalize`]:
//! each lane less its mean over its deviation, whose derivative is the closed form a
//! person derives for it (`(g − mean g − x̂ ⊙ mean(g ⊙ x̂)) / std`), not that of the
//! arithmetic it stands for.

use proc_macro2::TokenStream;
use quote::quote;

use crate::ir::{Dims, Graph, NodeId, Rule, Shape, Symbol};
use crate::ops::emit::{num, rt, Cx, Form, Operand};
use crate::ops::shape::{arg, Fault};
use crate::ops::vjp::Vjp;
use crate::ops::{Family, Op, Reads, Reduce, F64};
use crate::print::{Notation, Printer};

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
    /// `(x - mean) / sqrt(var + eps) * gain + bias`, the statistics along the norm's axis.
    pub fn build(
        self,
        g: &mut Graph,
        x: NodeId,
        gain: NodeId,
        bias: NodeId,
        eps: f64,
    ) -> Result<NodeId, Fault> {
        let axis = match self {
            Norm::Batch => 0,
            Norm::Layer => (g.rank(x).max(1) - 1) as u8,
        };
        let eps = F64::new(eps);
        let raw = g.apply(Op::Normalize(Normalize::Standardize { axis, eps }), &[x])?;
        let scaled = g.mul(raw, gain)?;
        g.sum2(scaled, bias)
    }
}

/// The ops the normalisations are made of.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Normalize {
    /// Each lane along `axis` less its mean, over `sqrt(var + eps)` (the biased variance).
    Standardize { axis: u8, eps: F64 },
    /// `1 / sqrt(var + eps)` of each lane along `axis`, the axis kept with length 1: what
    /// the derivative of `Standardize` divides by.
    InvStd { axis: u8, eps: F64 },
}

impl Normalize {
    fn axis(self) -> u8 {
        match self {
            Normalize::Standardize { axis, .. } | Normalize::InvStd { axis, .. } => axis,
        }
    }

    fn eps(self) -> f64 {
        match self {
            Normalize::Standardize { eps, .. } | Normalize::InvStd { eps, .. } => eps.get(),
        }
    }
}

/// `rows`, `cols` or `axis k`, as a sum's subscript names the axis.
fn over(axis: u8) -> String {
    match axis {
        0 => "rows".into(),
        1 => "cols".into(),
        k => format!("axis {k}"),
    }
}

impl Family for Normalize {
    fn shape(&self, args: &[Shape], dims: &mut Dims) -> Result<Shape, Fault> {
        let mut a = arg(args, 0);
        let (axis, rank) = (usize::from(self.axis()), a.len());
        if axis >= rank {
            return Err(Fault::Axis { axis, rank });
        }
        if let Normalize::InvStd { .. } = self {
            a[axis] = dims.fresh(Some(1), None);
        }
        Ok(a)
    }

    // d x̂ = (g − mean(g) − x̂ ⊙ mean(g ⊙ x̂)) / sqrt(var + eps), the means along the axis.
    fn vjp(&self, v: &mut Vjp<'_>) -> Result<(), Fault> {
        let Normalize::Standardize { axis, eps } = *self else {
            return Ok(());
        };
        let (x, g, raw) = (v.arg(0), v.g, v.node);
        let graph = &mut *v.graph;
        let along = Op::Reduce(Reduce::Sum {
            axis: Some(axis),
            keep: true,
        });
        let n = graph.apply(Op::Reduce(Reduce::Count(Some(axis))), &[x])?;
        let total = graph.apply(along, &[g])?;
        let mean = graph.div(total, n)?;
        let projected = graph.mul(g, raw)?;
        let projection = graph.apply(along, &[projected])?;
        let projection = graph.div(projection, n)?;
        let along_raw = graph.mul(raw, projection)?;
        let centred = graph.sub(g, mean)?;
        let inner = graph.sub(centred, along_raw)?;
        let inv = graph.apply(Op::Normalize(Normalize::InvStd { axis, eps }), &[x])?;
        let d = graph.mul(inner, inv)?;
        v.give(x, d, Some(Rule::Derivative(Symbol::same("norm"))));
        Ok(())
    }

    fn is_elementwise(&self) -> bool {
        false
    }

    fn is_differentiable(&self) -> bool {
        matches!(self, Normalize::Standardize { .. })
    }

    fn reads(&self) -> Reads {
        Reads::All
    }

    fn is_activation(&self) -> bool {
        false
    }

    fn fold(&self, _: &[f64]) -> Option<f64> {
        None
    }

    fn print(&self, p: &Printer<'_>, args: &[NodeId]) -> String {
        let a = args.first().copied().unwrap_or(NodeId(0));
        let (axis, over) = (self.axis(), over(self.axis()));
        match (*self, p.notation()) {
            (Normalize::Standardize { .. }, Notation::Code) => {
                format!("standardize({}, {axis})", p.show(a))
            }
            (Normalize::InvStd { .. }, Notation::Code) => format!("inv_std({}, {axis})", p.show(a)),
            (Normalize::Standardize { .. }, Notation::Text) => {
                format!("norm_{over}({})", p.show(a))
            }
            (Normalize::InvStd { .. }, Notation::Text) => format!("1/std_{over}({})", p.show(a)),
            (Normalize::Standardize { .. }, Notation::Latex) => {
                format!(
                    r"\operatorname{{norm}}_{{\text{{{over}}}}}\left({}\right)",
                    p.show(a)
                )
            }
            (Normalize::InvStd { .. }, Notation::Latex) => format!(
                r"\frac{{1}}{{\operatorname{{std}}_{{\text{{{over}}}}}\left({}\right)}}",
                p.show(a)
            ),
        }
    }

    fn precedence(&self, notation: Notation) -> u8 {
        match (self, notation) {
            (Normalize::InvStd { .. }, Notation::Text | Notation::Code) => 2,
            _ => 9,
        }
    }

    fn is_view(&self) -> bool {
        false
    }

    fn expr(&self, _: &[Operand]) -> Option<Operand> {
        None
    }

    fn code(&self, cx: &Cx<'_>, form: &Form) -> Option<TokenStream> {
        let (rt, a) = (rt(), cx.view(0));
        let (axis, eps) = (
            num(usize::from(self.axis())),
            crate::ops::emit::float(self.eps()),
        );
        match (self, form) {
            (Normalize::Standardize { .. }, Form::Alloc) => {
                Some(quote!(#rt::standardize(#a, #axis, #eps)?))
            }
            (Normalize::Standardize { .. }, Form::Into(out)) => {
                Some(quote!(#rt::standardize_into(#a, #axis, #eps, #out)?;))
            }
            (Normalize::InvStd { .. }, Form::Alloc) => {
                let shape = cx.shape();
                Some(quote!(#rt::inv_std(#a, #axis, #eps, #shape)?))
            }
            (Normalize::InvStd { .. }, Form::Into(out)) => {
                Some(quote!(#rt::inv_std_into(#a, #axis, #eps, #out)?;))
            }
            (_, Form::Scalar | Form::View) => None,
        }
    }

    #[cfg(test)]
    fn eval(&self, args: &[&ndarray::ArrayD<f64>]) -> ndarray::ArrayD<f64> {
        let (x, axis, eps) = (args[0].view(), usize::from(self.axis()), self.eps());
        match self {
            Normalize::Standardize { .. } => {
                backprop_runtime::norm::standardize(x, axis, eps).unwrap()
            }
            Normalize::InvStd { .. } => {
                let mut shape = x.shape().to_vec();
                shape[axis] = 1;
                let shape = ndarray::IxDyn(&shape);
                backprop_runtime::norm::inv_std(x, axis, eps, shape).unwrap()
            }
        }
    }
}
