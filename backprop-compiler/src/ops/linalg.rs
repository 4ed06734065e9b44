//! Linear algebra: the matrix product `@` (vectors on either side as NumPy's `@`), the
//! outer product that is the adjoint of a matrix-vector product, and transposes.

use proc_macro2::TokenStream;
use quote::quote;

use crate::ir::{Dims, NodeId, Shape};
use crate::ops::emit::{rt, Array, Cx, Form, Operand, Value};
use crate::ops::shape::{arg, Fault};
use crate::ops::vjp::Vjp;
use crate::ops::{Family, Op, Reads};
use crate::print::{Notation, Printer};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Linalg {
    /// `a @ b`.
    Matmul,
    /// `a b^T` of two vectors.
    Outer,
    /// The transpose of a matrix.
    Transpose,
}

impl Family for Linalg {
    fn shape(&self, args: &[Shape], dims: &mut Dims) -> Result<Shape, Fault> {
        let (a, b) = (arg(args, 0), arg(args, 1));
        match self {
            Linalg::Matmul => match (a.len(), b.len()) {
                (2, 2) => {
                    dims.unify(a[1], b[0])?;
                    Ok(vec![a[0], b[1]])
                }
                (2, 1) => {
                    dims.unify(a[1], b[0])?;
                    Ok(vec![a[0]])
                }
                (1, 2) => {
                    dims.unify(a[0], b[0])?;
                    Ok(vec![b[1]])
                }
                (1, 1) => {
                    dims.unify(a[0], b[0])?;
                    Ok(Vec::new())
                }
                (1 | 2, got) => Err(Fault::Rank { arg: 1, got }),
                (got, _) => Err(Fault::Rank { arg: 0, got }),
            },
            Linalg::Outer => match (a.len(), b.len()) {
                (1, 1) => Ok(vec![a[0], b[0]]),
                (1, got) => Err(Fault::Rank { arg: 1, got }),
                (got, _) => Err(Fault::Rank { arg: 0, got }),
            },
            Linalg::Transpose => match a.len() {
                2 => Ok(vec![a[1], a[0]]),
                got => Err(Fault::Rank { arg: 0, got }),
            },
        }
    }

    fn vjp(&self, v: &mut Vjp<'_>) -> Result<(), Fault> {
        let (a, b, g) = (v.arg(0), v.arg(1), v.g);
        match self {
            Linalg::Matmul => matmul(v, a, b),
            // d (a b^T): a gets g @ b, b gets g^T @ a
            Linalg::Outer => {
                if v.wants(a) {
                    let d = v.graph.apply(Op::Linalg(Linalg::Matmul), &[g, b])?;
                    v.give(a, d, None);
                }
                if v.wants(b) {
                    let gt = v.graph.t(g)?;
                    let d = v.graph.apply(Op::Linalg(Linalg::Matmul), &[gt, a])?;
                    v.give(b, d, None);
                }
                Ok(())
            }
            Linalg::Transpose => {
                let d = v.graph.t(g)?;
                v.give(a, d, None);
                Ok(())
            }
        }
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
        false
    }

    fn fold(&self, _: &[f64]) -> Option<f64> {
        None
    }

    fn print(&self, p: &Printer<'_>, args: &[NodeId]) -> String {
        let arg = |i: usize| args.get(i).copied().unwrap_or(NodeId(0));
        let (a, b) = (arg(0), arg(1));
        match (self, p.notation()) {
            (Linalg::Matmul, Notation::Code) => {
                format!("{} @ {}", p.operand(a, 2), p.operand(b, 3))
            }
            (Linalg::Matmul, _) => format!("{} {} {}", p.operand(a, 2), p.dot(), p.operand(b, 3)),
            (Linalg::Outer, Notation::Code) => p.call("outer", "", "", args),
            (Linalg::Outer, Notation::Text) => {
                format!("{} ⊗ {}", p.operand(a, 3), p.operand(b, 3))
            }
            (Linalg::Outer, Notation::Latex) => {
                format!(r"{} \otimes {}", p.operand(a, 3), p.operand(b, 3))
            }
            (Linalg::Transpose, Notation::Code) => format!("{}.T", p.operand(a, 9)),
            (Linalg::Transpose, Notation::Text) => format!("{}ᵀ", p.operand(a, 9)),
            (Linalg::Transpose, Notation::Latex) => format!(r"{{{}}}^{{\top}}", p.operand(a, 9)),
        }
    }

    fn precedence(&self, notation: Notation) -> u8 {
        match (self, notation) {
            (Linalg::Matmul, _) => 2,
            (Linalg::Outer, Notation::Code) => 9,
            (Linalg::Outer, Notation::Text | Notation::Latex) => 2,
            (Linalg::Transpose, _) => 9,
        }
    }

    fn is_view(&self) -> bool {
        matches!(self, Linalg::Transpose)
    }

    fn expr(&self, _: &[Operand]) -> Option<Operand> {
        None
    }

    fn code(&self, cx: &Cx<'_>, form: &Form) -> Option<TokenStream> {
        let rt = rt();
        let (a, b) = (cx.view(0), cx.view(1));
        let product = match (cx.rank(0), cx.rank(1)) {
            (2, 2) => "matmul",
            (2, _) => "matvec",
            (_, 2) => "vecmat",
            _ => "dot",
        };
        let kernel = |suffix: &str| {
            syn::Ident::new(
                &format!("{product}{suffix}"),
                proc_macro2::Span::call_site(),
            )
        };
        match (self, form) {
            (Linalg::Matmul, Form::Scalar) => Some(quote!(#rt::dot(#a, #b)?)),
            (Linalg::Matmul, Form::Alloc) => {
                let k = kernel("");
                Some(quote!(#rt::#k(#a, #b)?))
            }
            (Linalg::Matmul, Form::Into(out)) => {
                let k = kernel("_into");
                Some(quote!(#rt::#k(#a, #b, #out)?;))
            }
            (Linalg::Outer, Form::Alloc) => Some(quote!(#rt::outer(#a, #b))),
            (Linalg::Outer, Form::Into(out)) => Some(quote!(#rt::outer_into(#a, #b, #out)?;)),
            // `w.t()` borrows a binding; a view that is an expression is turned in place.
            (Linalg::Transpose, Form::View) => Some(match cx.args.first()? {
                Value::Array(Array {
                    place: Some(place), ..
                }) => quote!(#place.t()),
                other => {
                    let v = other.view();
                    quote!(#v.reversed_axes())
                }
            }),
            (Linalg::Matmul | Linalg::Outer, Form::View)
            | (Linalg::Outer, Form::Scalar)
            | (Linalg::Transpose, Form::Scalar | Form::Alloc | Form::Into(_)) => None,
        }
    }

    #[cfg(test)]
    fn eval(&self, args: &[&ndarray::ArrayD<f64>]) -> ndarray::ArrayD<f64> {
        use ndarray::Array2;
        match self {
            Linalg::Matmul => crate::ops::eval::matmul(args[0], args[1]),
            Linalg::Outer => {
                let (x, y) = (args[0], args[1]);
                let mut out = Array2::zeros((x.len(), y.len()));
                for (i, p) in x.iter().enumerate() {
                    for (j, q) in y.iter().enumerate() {
                        out[[i, j]] = p * q;
                    }
                }
                out.into_dyn()
            }
            Linalg::Transpose => args[0].clone().reversed_axes(),
        }
    }
}

/// `c = a @ b`: `a` gets `g @ b^T` and `b` gets `a^T @ g`, with outer products where a
/// side is a vector. An operand that is a transpose `w.T` (nn.Linear's layout) passes its
/// gradient straight to `w`, transposed: `h @ w.T` gives `w` the gradient `g^T @ h`.
fn matmul(v: &mut Vjp<'_>, a: NodeId, b: NodeId) -> Result<(), Fault> {
    let g = v.g;
    let (ra, rb) = (v.graph.rank(a), v.graph.rank(b));
    let untransposed = |v: &Vjp<'_>, n: NodeId| {
        (v.graph.op(n) == &Op::Linalg(Linalg::Transpose) && !v.keeps(n)).then(|| v.graph.args(n)[0])
    };
    let product = Op::Linalg(Linalg::Matmul);
    if v.wants(a) {
        match (untransposed(v, a), ra, rb) {
            // a = u.T: du = (g @ b.T).T = b @ g.T
            (Some(u), 2, 2) => {
                let gt = v.graph.t(g)?;
                let d = v.graph.apply(product, &[b, gt])?;
                v.give(u, d, None);
            }
            (_, 2, 2) => {
                let bt = v.graph.t(b)?;
                let d = v.graph.apply(product, &[g, bt])?;
                v.give(a, d, None);
            }
            (_, 2, 1) => {
                let d = v.graph.apply(Op::Linalg(Linalg::Outer), &[g, b])?;
                v.give(a, d, None);
            }
            (_, 1, 2) => {
                let d = v.graph.apply(product, &[b, g])?;
                v.give(a, d, None);
            }
            _ => {
                let d = v.graph.mul(g, b)?;
                v.give(a, d, None);
            }
        }
    }
    if v.wants(b) {
        match (untransposed(v, b), ra, rb) {
            // b = w.T: dw = (a.T @ g).T = g.T @ a
            (Some(w), 2, 2) => {
                let gt = v.graph.t(g)?;
                let d = v.graph.apply(product, &[gt, a])?;
                v.give(w, d, None);
            }
            (_, 2, _) => {
                let at = v.graph.t(a)?;
                let d = v.graph.apply(product, &[at, g])?;
                v.give(b, d, None);
            }
            (_, 1, 2) => {
                let d = v.graph.apply(Op::Linalg(Linalg::Outer), &[a, g])?;
                v.give(b, d, None);
            }
            _ => {
                let d = v.graph.mul(g, a)?;
                v.give(b, d, None);
            }
        }
    }
    Ok(())
}
