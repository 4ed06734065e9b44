//! Reductions and selections, with their adjoints: sums over all axes or one (`keep`
//! keeps the axis with length 1), the spread of a gradient back over the summed shape,
//! the number of elements (a scalar that depends on the shape only), a matrix's column
//! `[:, k]` and the scatter of a gradient back into it.

use proc_macro2::TokenStream;
use quote::quote;

use crate::ir::{Dims, NodeId, Shape};
use crate::ops::emit::{rt, Cx, Form, Operand, Value};
use crate::ops::shape::{arg, Fault};
use crate::ops::vjp::Vjp;
use crate::ops::{Family, Op, Reads};
use crate::print::{Notation, Printer};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Reduce {
    /// The sum over all axes (`None`) or one.
    Sum { axis: Option<u8>, keep: bool },
    /// The adjoint of `Sum`: the first argument spread over the shape of the second.
    Unsum { axis: Option<u8>, keep: bool },
    /// The number of elements of the argument (along `axis`).
    Count(Option<u8>),
    /// Column `k` of a matrix.
    Column(usize),
    /// The adjoint of `Column`: zeros shaped as the second argument, column `k` the first.
    ColumnScatter(usize),
    /// The largest element along an axis (PyTorch's `max(axis, keepdim).values`).
    Max { axis: u8, keep: bool },
    /// The adjoint of `Max`: zeros shaped as the second argument, each lane's element of the
    /// first at the index `max` picked in the second.
    MaxScatter { axis: u8, keep: bool },
}

/// `a`'s shape reduced along axis `k`: without it, or with it of length 1 (`keep`).
fn along(mut a: Shape, k: usize, keep: bool, dims: &mut Dims) -> Result<Shape, Fault> {
    let rank = a.len();
    if k >= rank {
        return Err(Fault::Axis { axis: k, rank });
    }
    if keep {
        a[k] = dims.fresh(Some(1), None);
    } else {
        a.remove(k);
    }
    Ok(a)
}

impl Family for Reduce {
    fn shape(&self, args: &[Shape], dims: &mut Dims) -> Result<Shape, Fault> {
        let a = arg(args, 0);
        match *self {
            Reduce::Sum { axis: None, keep } => Ok(if keep {
                a.iter().map(|_| dims.fresh(Some(1), None)).collect()
            } else {
                Vec::new()
            }),
            Reduce::Sum {
                axis: Some(axis),
                keep,
            }
            | Reduce::Max { axis, keep } => along(a, usize::from(axis), keep, dims),
            Reduce::Unsum { .. } | Reduce::ColumnScatter(_) | Reduce::MaxScatter { .. } => {
                Ok(arg(args, 1))
            }
            Reduce::Count(_) => Ok(Vec::new()),
            Reduce::Column(k) => match a.len() {
                2 => match dims.known(a[1]) {
                    Some(cols) if k >= cols => Err(Fault::Column { k, cols }),
                    _ => Ok(vec![a[0]]),
                },
                got => Err(Fault::Rank { arg: 0, got }),
            },
        }
    }

    fn vjp(&self, v: &mut Vjp<'_>) -> Result<(), Fault> {
        let (a, g) = (v.arg(0), v.g);
        let d = match *self {
            Reduce::Sum { axis, keep } => v
                .graph
                .apply(Op::Reduce(Reduce::Unsum { axis, keep }), &[g, a])?,
            Reduce::Unsum { axis, keep } => v
                .graph
                .apply(Op::Reduce(Reduce::Sum { axis, keep }), &[g])?,
            Reduce::Count(_) => return Ok(()),
            Reduce::Column(k) => v
                .graph
                .apply(Op::Reduce(Reduce::ColumnScatter(k)), &[g, a])?,
            Reduce::ColumnScatter(k) => v.graph.apply(Op::Reduce(Reduce::Column(k)), &[g])?,
            // The whole gradient to the element `max` picked; the scatter is only ever a
            // gradient, never differentiated.
            Reduce::Max { axis, keep } => v
                .graph
                .apply(Op::Reduce(Reduce::MaxScatter { axis, keep }), &[g, a])?,
            Reduce::MaxScatter { .. } => return Ok(()),
        };
        v.give(a, d, None);
        Ok(())
    }

    fn is_elementwise(&self) -> bool {
        false
    }

    fn is_differentiable(&self) -> bool {
        !matches!(self, Reduce::Count(_) | Reduce::MaxScatter { .. })
    }

    fn reads(&self) -> Reads {
        match self {
            Reduce::Sum { .. } | Reduce::Column(_) | Reduce::Max { .. } => Reads::All,
            Reduce::MaxScatter { .. } => Reads::All,
            Reduce::Unsum { .. } | Reduce::ColumnScatter(_) => Reads::First,
            Reduce::Count(_) => Reads::Shape,
        }
    }

    fn is_activation(&self) -> bool {
        false
    }

    fn fold(&self, _: &[f64]) -> Option<f64> {
        None
    }

    fn print(&self, p: &Printer<'_>, args: &[NodeId]) -> String {
        let a = args.first().copied().unwrap_or(NodeId(0));
        let notation = p.notation();
        let name = crate::ops::function::symbol_latex;
        match (*self, notation) {
            (Reduce::Sum { axis, keep }, Notation::Code) => match (axis, keep) {
                (None, false) => p.call("sum", "", "", args),
                (None, true) => format!("sum({}, keepdim)", p.show(a)),
                (Some(k), false) => format!("{}.sum({k})", p.operand(a, 9)),
                (Some(k), true) => format!("{}.sum({k}, keepdim)", p.operand(a, 9)),
            },
            (Reduce::Sum { axis, .. }, Notation::Text | Notation::Latex) => {
                let over = match axis {
                    None => String::new(),
                    Some(0) => "rows".into(),
                    Some(1) => "cols".into(),
                    Some(k) => format!("axis {k}"),
                };
                let body = p.operand(a, 3);
                match (notation == Notation::Text, over.is_empty()) {
                    (true, true) => format!("Σ {body}"),
                    (true, false) => format!("Σ_{over} {body}"),
                    (false, true) => format!(r"\sum {body}"),
                    (false, false) => format!(r"\sum_{{\text{{{over}}}}} {body}"),
                }
            }
            (Reduce::Max { axis, keep }, Notation::Code) => match keep {
                false => format!("{}.max({axis})", p.operand(a, 9)),
                true => format!("{}.max({axis}, keepdim)", p.operand(a, 9)),
            },
            (Reduce::Max { axis, .. }, _) => {
                let over = match axis {
                    0 => "rows".to_string(),
                    1 => "cols".to_string(),
                    k => format!("axis {k}"),
                };
                let body = p.operand(a, 9);
                match notation {
                    Notation::Latex => format!(r"\max_{{\text{{{over}}}}} {body}"),
                    _ => format!("max_{over} {body}"),
                }
            }
            (Reduce::MaxScatter { axis, .. }, Notation::Code) => {
                let like = args.get(1).copied().unwrap_or(a);
                format!("scatter_max({}, {}, {axis})", p.show(a), p.show(like))
            }
            (Reduce::MaxScatter { .. }, Notation::Text) => {
                let like = args.get(1).copied().unwrap_or(a);
                format!("{} at argmax {}", p.operand(a, 9), p.operand(like, 9))
            }
            (Reduce::MaxScatter { .. }, Notation::Latex) => {
                let like = args.get(1).copied().unwrap_or(a);
                format!(
                    r"{}\left({}, {}\right)",
                    name("scatter_argmax"),
                    p.show(a),
                    p.show(like)
                )
            }
            (Reduce::Unsum { .. }, Notation::Code) => p.call("expand", "", "", args),
            (Reduce::Unsum { .. }, _) => p.call("", "expand", &name("expand"), &args[..1]),
            (Reduce::Count(None), _) => p.call("numel", "numel", &name("numel"), args),
            (Reduce::Count(Some(k)), Notation::Latex) => {
                format!(r"{}\left({}\right)", name(&format!("dim_{k}")), p.show(a))
            }
            (Reduce::Count(Some(k)), _) => format!("{}.shape[{k}]", p.operand(a, 9)),
            (Reduce::Column(k), Notation::Latex) => format!("{{{}}}_{{:,{k}}}", p.operand(a, 9)),
            (Reduce::Column(k), _) => format!("{}[:, {k}]", p.operand(a, 9)),
            (Reduce::ColumnScatter(k), Notation::Code) => {
                let like = args.get(1).copied().unwrap_or(a);
                format!("scatter({}, {}, column={k})", p.show(a), p.show(like))
            }
            (Reduce::ColumnScatter(k), Notation::Text) => {
                format!("scatter({}, column {k})", p.show(a))
            }
            (Reduce::ColumnScatter(k), Notation::Latex) => {
                format!(
                    r"{}\left({}\right)",
                    name(&format!("scatter_{k}")),
                    p.show(a)
                )
            }
        }
    }

    fn precedence(&self, notation: Notation) -> u8 {
        match (self, notation) {
            (Reduce::Sum { .. }, Notation::Text | Notation::Latex) => 3,
            (Reduce::Sum { .. }, Notation::Code)
            | (Reduce::Unsum { .. } | Reduce::Count(_), _)
            | (Reduce::Column(_) | Reduce::ColumnScatter(_), _)
            | (Reduce::Max { .. } | Reduce::MaxScatter { .. }, _) => 9,
        }
    }

    fn is_view(&self) -> bool {
        matches!(self, Reduce::Column(_))
    }

    fn expr(&self, _: &[Operand]) -> Option<Operand> {
        None
    }

    fn code(&self, cx: &Cx<'_>, form: &Form) -> Option<TokenStream> {
        let rt = rt();
        let a = cx.view(0);
        let axis = |axis: Option<u8>| match axis {
            Some(k) => {
                let k = crate::ops::emit::num(usize::from(k));
                quote!(#rt::Some(#k))
            }
            None => quote!(#rt::None),
        };
        let scalar_arg = matches!(cx.args.first(), Some(Value::Scalar(_)));
        match (*self, form) {
            (Reduce::Sum { .. }, Form::Scalar) if scalar_arg => Some(cx.args[0].scalar()),
            (Reduce::Sum { .. }, Form::Scalar) => Some(quote!(#rt::total(#a))),
            (Reduce::Sum { axis: None, .. }, Form::Alloc) => Some(quote!(#rt::sum_keep(#a))),
            (Reduce::Sum { axis: None, .. }, Form::Into(out)) => {
                Some(quote!(#rt::sum_keep_into(#a, #out);))
            }
            (
                Reduce::Sum {
                    axis: Some(k),
                    keep,
                },
                Form::Alloc,
            ) => {
                let k = crate::ops::emit::num(usize::from(k));
                Some(if keep {
                    quote!(#rt::sum_axis_keep(#a, #k)?)
                } else {
                    quote!(#rt::sum_axis(#a, #k)?)
                })
            }
            (
                Reduce::Sum {
                    axis: Some(k),
                    keep,
                },
                Form::Into(out),
            ) => {
                let k = crate::ops::emit::num(usize::from(k));
                Some(if keep {
                    quote!(#rt::sum_axis_keep_into(#a, #k, #out)?;)
                } else {
                    quote!(#rt::sum_axis_into(#a, #k, #out)?;)
                })
            }
            (Reduce::Unsum { .. }, Form::Scalar) => Some(cx.args.first()?.scalar()),
            (Reduce::Unsum { axis: a, keep }, Form::View) => {
                let (g, a) = (cx.view(0), axis(a));
                Some(quote!(#rt::unsum_view(#g, #a, #keep)?))
            }
            (Reduce::Unsum { .. }, Form::Alloc) if scalar_arg => {
                let s = cx.args[0].scalar();
                let shape = cx.shape();
                Some(quote!(#rt::full(#shape, #s)))
            }
            (Reduce::Unsum { axis: a, keep }, Form::Alloc) => {
                let (g, a) = (cx.view(0), axis(a));
                let shape = cx.shape();
                Some(quote!(#rt::unsum(#g, #shape, #a, #keep)?))
            }
            (Reduce::Unsum { .. }, Form::Into(out)) if scalar_arg => {
                let s = cx.args[0].scalar();
                Some(quote!(#rt::fill0(#out, |_| #s)?;))
            }
            (Reduce::Unsum { axis: a, keep }, Form::Into(out)) => {
                let (g, a) = (cx.view(0), axis(a));
                Some(quote!(#rt::unsum_into(#g, #a, #keep, #out)?;))
            }
            // The number of elements, from the dims the shape checks bound.
            (Reduce::Count(axis), Form::Scalar) => {
                let dims = cx.arg_dims(0);
                let lengths: Vec<TokenStream> = match axis {
                    Some(k) => dims.get(usize::from(k)).cloned().into_iter().collect(),
                    None => dims.clone(),
                };
                Some(match lengths.as_slice() {
                    [] => quote!(A::one()),
                    [one] => quote!(A::cst(#one as f64)),
                    [first, rest @ ..] => {
                        let product = rest.iter().fold(first.clone(), |a, b| quote!(#a * #b));
                        quote!(A::cst((#product) as f64))
                    }
                })
            }
            (Reduce::Column(k), Form::View) => {
                let k = crate::ops::emit::num(k);
                Some(quote!(#rt::column(#a, #k)?))
            }
            (Reduce::ColumnScatter(k), Form::Alloc) => {
                let k = crate::ops::emit::num(k);
                let shape = cx.shape();
                Some(quote!(#rt::column_scatter(#a, #shape, #k)?))
            }
            (Reduce::ColumnScatter(k), Form::Into(out)) => {
                let k = crate::ops::emit::num(k);
                Some(quote!(#rt::column_scatter_into(#a, #k, #out)?;))
            }
            (Reduce::Max { axis, keep }, Form::Alloc) => {
                let (k, shape) = (crate::ops::emit::num(usize::from(axis)), cx.shape());
                Some(quote!(#rt::max_axis(#a, #shape, #k, #keep)?))
            }
            (Reduce::Max { axis, keep }, Form::Into(out)) => {
                let k = crate::ops::emit::num(usize::from(axis));
                Some(quote!(#rt::max_axis_into(#a, #k, #keep, #out)?;))
            }
            (Reduce::MaxScatter { axis, keep }, Form::Alloc) => {
                let (k, like) = (crate::ops::emit::num(usize::from(axis)), cx.view(1));
                Some(quote!(#rt::max_scatter(#a, #like, #k, #keep)?))
            }
            (Reduce::MaxScatter { axis, keep }, Form::Into(out)) => {
                let (k, like) = (crate::ops::emit::num(usize::from(axis)), cx.view(1));
                Some(quote!(#rt::max_scatter_into(#a, #like, #k, #keep, #out)?;))
            }
            (Reduce::Max { .. } | Reduce::MaxScatter { .. }, Form::Scalar | Form::View) => None,
            (Reduce::Sum { .. }, Form::View)
            | (Reduce::Count(_), Form::Alloc | Form::Into(_) | Form::View)
            | (Reduce::Column(_), Form::Scalar | Form::Alloc | Form::Into(_))
            | (Reduce::ColumnScatter(_), Form::Scalar | Form::View) => None,
        }
    }

    #[cfg(test)]
    fn eval(&self, args: &[&ndarray::ArrayD<f64>]) -> ndarray::ArrayD<f64> {
        use ndarray::{ArrayD, Axis, IxDyn};
        let x = args[0];
        match *self {
            Reduce::Sum { axis: None, keep } => {
                let s = ndarray::arr0(x.sum()).into_dyn();
                if keep {
                    let ones = vec![1; x.ndim()];
                    s.into_shape_with_order(IxDyn(&ones)).unwrap()
                } else {
                    s
                }
            }
            Reduce::Sum {
                axis: Some(k),
                keep,
            } => {
                let s = x.sum_axis(Axis(usize::from(k)));
                if keep {
                    s.insert_axis(Axis(usize::from(k)))
                } else {
                    s
                }
            }
            Reduce::Unsum { axis, keep } => {
                let mut g = x.clone();
                if let (Some(k), false) = (axis, keep) {
                    g = g.insert_axis(Axis(usize::from(k)));
                }
                g.broadcast(IxDyn(args[1].shape())).unwrap().to_owned()
            }
            Reduce::Count(axis) => ndarray::arr0(match axis {
                Some(k) => x.shape()[usize::from(k)] as f64,
                None => x.len() as f64,
            })
            .into_dyn(),
            Reduce::Column(k) => x.index_axis(Axis(1), k).to_owned(),
            Reduce::ColumnScatter(k) => {
                let mut out = ArrayD::zeros(IxDyn(args[1].shape()));
                out.index_axis_mut(Axis(1), k).assign(x);
                out
            }
            Reduce::Max { axis, keep } => {
                let k = usize::from(axis);
                let mut shape = x.shape().to_vec();
                if keep {
                    shape[k] = 1;
                } else {
                    shape.remove(k);
                }
                let mut out = ArrayD::zeros(IxDyn(&shape));
                backprop_runtime::fused::max_axis_into(x.view(), k, keep, out.view_mut()).unwrap();
                out
            }
            Reduce::MaxScatter { axis, keep } => {
                let mut out = ArrayD::zeros(IxDyn(args[1].shape()));
                let (g, like) = (x.view(), args[1].view());
                backprop_runtime::fused::max_scatter_into(
                    g,
                    like,
                    usize::from(axis),
                    keep,
                    out.view_mut(),
                )
                .unwrap();
                out
            }
        }
    }
}
