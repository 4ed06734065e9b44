//! Ops over each lane along an axis: softmax and log-softmax, spelled `softmax(e, axis)`
//! (the axis defaults to the last, as `dim=-1`), each lane shifted by its maximum.

use proc_macro2::TokenStream;
use quote::quote;

use crate::ir::{Dims, NodeId, Rule, Shape, Symbol};
use crate::ops::emit::{rt, Cx, Form, Operand};
use crate::ops::reduce::Reduce;
use crate::ops::shape::{arg, Fault};
use crate::ops::vjp::Vjp;
use crate::ops::{Family, Op, Reads};
use crate::print::{Notation, Printer};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    Softmax,
    LogSoftmax,
}

/// A lane op along `axis`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Lanes {
    pub kind: Kind,
    pub axis: u8,
}

/// How the language spells each lane op.
pub const SPELLINGS: &[(&str, Kind)] = &[
    ("softmax", Kind::Softmax),
    ("log_softmax", Kind::LogSoftmax),
];

/// The lane op spelled `name`.
pub fn named(name: &str) -> Option<Kind> {
    SPELLINGS.iter().find(|(n, _)| *n == name).map(|(_, k)| *k)
}

impl Kind {
    pub fn name(self) -> &'static str {
        SPELLINGS
            .iter()
            .find(|(_, k)| *k == self)
            .map_or("", |(n, _)| n)
    }
}

impl Family for Lanes {
    fn shape(&self, args: &[Shape], _: &mut Dims) -> Result<Shape, Fault> {
        let a = arg(args, 0);
        if usize::from(self.axis) >= a.len() {
            return Err(Fault::Axis {
                axis: usize::from(self.axis),
                rank: a.len(),
            });
        }
        Ok(a)
    }

    fn vjp(&self, v: &mut Vjp<'_>) -> Result<(), Fault> {
        let (a, g, s) = (v.arg(0), v.g, v.node);
        let along = Op::Reduce(Reduce::Sum {
            axis: Some(self.axis),
            keep: true,
        });
        let rule = Some(Rule::Derivative(Symbol::same(self.kind.name())));
        let d = match self.kind {
            // d softmax: s * (g - sum(g * s, axis))
            Kind::Softmax => {
                let gs = v.graph.mul(g, s)?;
                let dot = v.graph.apply(along, &[gs])?;
                let diff = v.graph.sub(g, dot)?;
                v.graph.mul(s, diff)?
            }
            // d log_softmax: g - softmax * sum(g, axis)
            Kind::LogSoftmax => {
                let total = v.graph.apply(along, &[g])?;
                let softmax = Lanes {
                    kind: Kind::Softmax,
                    axis: self.axis,
                };
                let p = v.graph.apply(Op::Lanes(softmax), &[a])?;
                let spread = v.graph.mul(p, total)?;
                v.graph.sub(g, spread)?
            }
        };
        v.give(a, d, rule);
        Ok(())
    }

    fn is_elementwise(&self) -> bool {
        false
    }

    fn is_differentiable(&self) -> bool {
        true
    }

    fn reads(&self) -> Reads {
        Reads::All
    }

    fn is_activation(&self) -> bool {
        true
    }

    fn fold(&self, _: &[f64]) -> Option<f64> {
        None
    }

    fn print(&self, p: &Printer<'_>, args: &[NodeId]) -> String {
        let name = self.kind.name();
        match p.notation() {
            Notation::Code => {
                let a = args.first().copied().unwrap_or(NodeId(0));
                format!("{name}({}, {})", p.show(a), self.axis)
            }
            Notation::Text | Notation::Latex => {
                let latex = crate::ops::function::symbol_latex(name);
                p.call("", name, &latex, args)
            }
        }
    }

    fn precedence(&self, _: Notation) -> u8 {
        9
    }

    fn is_view(&self) -> bool {
        false
    }

    fn expr(&self, _: &[Operand]) -> Option<Operand> {
        None
    }

    fn code(&self, cx: &Cx<'_>, form: &Form) -> Option<TokenStream> {
        let (rt, a, axis) = (
            rt(),
            cx.view(0),
            crate::ops::emit::num(usize::from(self.axis)),
        );
        let name = self.kind.name();
        match form {
            Form::Alloc => {
                let f = syn::Ident::new(name, proc_macro2::Span::call_site());
                Some(quote!(#rt::#f(#a, #axis)?))
            }
            Form::Into(out) => {
                let f = quote::format_ident!("{name}_into");
                Some(quote!(#rt::#f(#a, #axis, #out)?;))
            }
            Form::Scalar | Form::View => None,
        }
    }

    #[cfg(test)]
    fn eval(&self, args: &[&ndarray::ArrayD<f64>]) -> ndarray::ArrayD<f64> {
        let (x, axis) = (args[0].view(), usize::from(self.axis));
        match self.kind {
            Kind::Softmax => backprop_runtime::kernels::softmax(x, axis),
            Kind::LogSoftmax => backprop_runtime::kernels::log_softmax(x, axis),
        }
        .expect("the axis is the op's own, within the rank the shape rule checked")
    }
}
