//! Elementwise arithmetic: `-a`, `a^k` for a constant `k`, and `a + b`, `a * b` with
//! NumPy's broadcasting, whose gradients are summed back over the broadcast axes.
//! Subtraction and division are sugar over these (`a + (-b)`, `a * b^-1`).

use proc_macro2::TokenStream;
use quote::quote;

use crate::ir::{Dims, NodeId, Rule, Shape};
use crate::ops::emit::{rt, Cx, Form, Operand};
use crate::ops::shape::{arg, broadcast, Fault};
use crate::ops::vjp::Vjp;
use crate::ops::{Family, Op, Reads, F64};
use crate::print::{number, Notation, Printer};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Arith {
    Neg,
    /// The argument to a constant power.
    Pow(F64),
    Add,
    Mul,
}

impl Family for Arith {
    fn shape(&self, args: &[Shape], dims: &mut Dims) -> Result<Shape, Fault> {
        match self {
            Arith::Neg | Arith::Pow(_) => Ok(arg(args, 0)),
            Arith::Add | Arith::Mul => broadcast(&arg(args, 0), &arg(args, 1), dims),
        }
    }

    fn vjp(&self, v: &mut Vjp<'_>) -> Result<(), Fault> {
        let (a, b, g) = (v.arg(0), v.arg(1), v.g);
        match self {
            Arith::Neg => {
                let minus = v.graph.neg(g)?;
                v.give(a, minus, None);
            }
            // d a^k = k a^(k-1)
            Arith::Pow(k) => {
                let k = k.get();
                let p = v.graph.pow(a, k - 1.0)?;
                let c = v.graph.cst(k);
                let local = v.graph.mul(c, p)?;
                v.chain(local, Some(Rule::Power))?;
            }
            Arith::Add => {
                for x in [a, b] {
                    if v.wants(x) {
                        v.give_reduced(x, g, None)?;
                    }
                }
            }
            // d (a b) = da b + a db
            Arith::Mul => {
                let rule = (v.wants(a) && v.wants(b)).then_some(Rule::Product);
                for (x, other) in [(a, b), (b, a)] {
                    if v.wants(x) {
                        let full = v.graph.mul(g, other)?;
                        v.give_reduced(x, full, rule)?;
                    }
                }
            }
        }
        Ok(())
    }

    fn is_elementwise(&self) -> bool {
        true
    }

    fn is_differentiable(&self) -> bool {
        true
    }

    fn reads(&self) -> Reads {
        Reads::All
    }

    fn is_activation(&self) -> bool {
        false
    }

    fn fold(&self, args: &[f64]) -> Option<f64> {
        let a = *args.first()?;
        Some(match self {
            Arith::Neg => -a,
            Arith::Pow(k) => backprop_scalar::pow(a, k.get()),
            Arith::Add => a + args.get(1)?,
            Arith::Mul => a * args.get(1)?,
        })
    }

    fn print(&self, p: &Printer<'_>, args: &[NodeId]) -> String {
        let g = p.graph();
        let arg = |i: usize| args.get(i).copied().unwrap_or(NodeId(0));
        let (a, b) = (arg(0), arg(1));
        let notation = p.notation();
        let minus = if notation == Notation::Text {
            "−"
        } else {
            "-"
        };
        match (self, notation) {
            (Arith::Neg, _) => format!("{minus}{}", p.operand(a, 3)),
            (Arith::Pow(k), Notation::Latex) if k.get() == -1.0 => {
                format!(r"\frac{{1}}{{{}}}", p.show(a))
            }
            (Arith::Pow(k), _) if k.get() == -1.0 => format!("1 / {}", p.operand(a, 3)),
            (Arith::Pow(k), Notation::Text) if k.get() == 2.0 => format!("{}²", p.operand(a, 5)),
            (Arith::Pow(k), Notation::Text) if k.get() == 3.0 => format!("{}³", p.operand(a, 5)),
            (Arith::Pow(k), Notation::Latex) => {
                format!("{{{}}}^{{{}}}", p.operand(a, 5), number(k.get()))
            }
            (Arith::Pow(k), _) => format!("{}^{}", p.operand(a, 5), number(k.get())),
            (Arith::Add, _) => match (negated(p, b), g.konst(b)) {
                (Some(inner), _) => format!("{} {minus} {}", p.operand(a, 1), p.operand(inner, 2)),
                // `n - 1`, not `n + -1`.
                (None, Some(c)) if c < 0.0 => format!("{} {minus} {}", p.operand(a, 1), number(-c)),
                (None, _) => format!("{} + {}", p.operand(a, 1), p.operand(b, 1)),
            },
            (Arith::Mul, _) => match (reciprocal(p, a), reciprocal(p, b)) {
                (_, Some(den)) => p.divide(a, den),
                (Some(den), None) => p.divide(b, den),
                (None, None) => {
                    let sign = match notation {
                        Notation::Code => "*",
                        _ if g.rank(a) == 0 || g.rank(b) == 0 => p.dot(),
                        Notation::Text => "⊙",
                        Notation::Latex => r"\odot",
                    };
                    // `a * (b * c)` and `a * (b / c)` read the same without the parentheses.
                    let right = if g.op(b) == &Op::Arith(Arith::Mul) {
                        p.show(b)
                    } else {
                        p.operand(b, 3)
                    };
                    format!("{} {sign} {right}", p.operand(a, 2))
                }
            },
        }
    }

    fn precedence(&self, notation: Notation) -> u8 {
        match self {
            Arith::Add => 1,
            Arith::Mul => 2,
            Arith::Neg => 3,
            Arith::Pow(k) if k.get() == -1.0 && notation == Notation::Latex => 9,
            Arith::Pow(k) if k.get() == -1.0 => 2,
            Arith::Pow(_) => 4,
        }
    }

    fn is_view(&self) -> bool {
        false
    }

    fn expr(&self, args: &[Operand]) -> Option<Operand> {
        let a = args.first()?;
        Some(match *self {
            Arith::Neg => {
                let t = a.at(3);
                Operand {
                    tokens: quote!(-#t),
                    prec: 3,
                    negation_of: Some(Box::new(a.clone())),
                }
            }
            // a^2 as a product, as exact as `powi(2)` and cheaper.
            Arith::Pow(k) if k.get() == 2.0 => {
                let (l, r) = (a.at(2), a.at(3));
                Operand::new(quote!(#l * #r), 2)
            }
            // a^-1 as a reciprocal, which is what `powi(-1)` computes.
            Arith::Pow(k) if k.get() == -1.0 => {
                let r = a.at(3);
                Operand::new(quote!(A::one() / #r), 2)
            }
            Arith::Pow(k) => {
                let (rt, t, k) = (rt(), &a.tokens, crate::ops::emit::float(k.get()));
                Operand::atom(quote!(#rt::scalar::pow(#t, #k)))
            }
            // a + (-b) is a - b, exactly.
            Arith::Add => {
                let b = args.get(1)?;
                let l = a.at(1);
                match &b.negation_of {
                    Some(inner) => {
                        let r = inner.at(2);
                        Operand::new(quote!(#l - #r), 1)
                    }
                    None => {
                        let r = b.at(2);
                        Operand::new(quote!(#l + #r), 1)
                    }
                }
            }
            Arith::Mul => {
                let (l, r) = (a.at(2), args.get(1)?.at(3));
                Operand::new(quote!(#l * #r), 2)
            }
        })
    }

    fn code(&self, _: &Cx<'_>, _: &Form) -> Option<TokenStream> {
        // Elementwise ops are written as expressions inside fused passes.
        None
    }

    #[cfg(test)]
    fn eval(&self, args: &[&ndarray::ArrayD<f64>]) -> ndarray::ArrayD<f64> {
        let f = |p: f64, q: f64| self.fold(&[p, q]).unwrap_or(f64::NAN);
        match args {
            [x] => x.mapv(|v| f(v, 0.0)),
            [x, y] => crate::ops::eval::zip(x, y, f),
            _ => ndarray::arr0(f64::NAN).into_dyn(),
        }
    }
}

/// `x` when `n` is `-x` printed without a name of its own.
fn negated(p: &Printer<'_>, n: NodeId) -> Option<NodeId> {
    let g = p.graph();
    (g.op(n) == &Op::Arith(Arith::Neg) && !p.is_named(n)).then(|| g.args(n)[0])
}

/// `x` when `n` is `x^-1` printed without a name of its own.
fn reciprocal(p: &Printer<'_>, n: NodeId) -> Option<NodeId> {
    let g = p.graph();
    (g.op(n) == &Op::Arith(Arith::Pow(F64::new(-1.0))) && !p.is_named(n)).then(|| g.args(n)[0])
}
