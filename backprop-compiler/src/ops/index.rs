//! Ops that move elements without arithmetic, with their adjoints: the rows of a table at
//! integer indices (`C[X]`, an embedding: the indices' axes then a row's) and the scatter
//! that adds each gradient row back into the row it came from, and the same elements in
//! another shape (`e.view(n, -1)`, read in row-major order) and the reshape of a gradient
//! back to its argument's shape.

use proc_macro2::TokenStream;
use quote::quote;

use crate::ir::{DimId, Dims, NodeId, Shape};
use crate::ops::emit::{rt, Cx, Form, Operand, Value};
use crate::ops::shape::{arg, Fault};
use crate::ops::vjp::Vjp;
use crate::ops::{Family, Op, Reads};
use crate::print::{Notation, Printer};

/// The most axes a reshape gives, ndarray's largest fixed rank.
pub const MAX_RANK: usize = 6;

/// The axes a reshape gives, as dims of the graph, and which was written `-1`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Axes {
    len: u8,
    dims: [DimId; MAX_RANK],
    inferred: Option<u8>,
}

impl Axes {
    /// The axes `dims`, `inferred` the one written `-1`; `None` past [`MAX_RANK`].
    pub fn new(dims: &[DimId], inferred: Option<usize>) -> Option<Self> {
        let mut all = [DimId(0); MAX_RANK];
        all.get_mut(..dims.len())?.copy_from_slice(dims);
        Some(Self {
            len: dims.len() as u8,
            dims: all,
            inferred: inferred.map(|i| i as u8),
        })
    }

    pub fn dims(&self) -> &[DimId] {
        &self.dims[..usize::from(self.len)]
    }

    /// The axis whose length is inferred, as `-1` asks.
    pub fn inferred(&self) -> Option<usize> {
        self.inferred.map(usize::from)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Index {
    /// The rows of the first argument (a table) at the second's integer indices.
    Gather,
    /// The adjoint of `Gather`: zeros shaped as the third argument (the table), each row
    /// of the first added into the row its index in the second names.
    ScatterAdd,
    /// The elements of the argument in row-major order, in the shape `Axes`.
    Reshape(Axes),
    /// The adjoint of `Reshape`: the first argument in the shape of the second.
    Unshape,
}

/// The number of elements of `shape` when every dim is known.
pub fn count(shape: &[DimId], dims: &Dims) -> Option<usize> {
    shape
        .iter()
        .try_fold(1usize, |a, &d| a.checked_mul(dims.known(d)?))
}

impl Family for Index {
    fn shape(&self, args: &[Shape], dims: &mut Dims) -> Result<Shape, Fault> {
        let a = arg(args, 0);
        match *self {
            Index::Gather => match a.split_first() {
                Some((_, row)) => Ok(arg(args, 1)
                    .into_iter()
                    .chain(row.iter().copied())
                    .collect()),
                None => Err(Fault::Rank { arg: 0, got: 0 }),
            },
            Index::ScatterAdd => Ok(arg(args, 2)),
            Index::Reshape(axes) => {
                let to = axes.dims().to_vec();
                match (count(&a, dims), count(&to, dims)) {
                    (Some(from), Some(into)) if from != into => Err(Fault::Dims(
                        dims.describe_shape(&a),
                        dims.describe_shape(&to),
                    )),
                    _ => Ok(to),
                }
            }
            Index::Unshape => Ok(arg(args, 1)),
        }
    }

    fn vjp(&self, v: &mut Vjp<'_>) -> Result<(), Fault> {
        let (a, g) = (v.arg(0), v.g);
        match *self {
            Index::Gather => {
                let indices = v.arg(1);
                let d = v
                    .graph
                    .apply(Op::Index(Index::ScatterAdd), &[g, indices, a])?;
                v.give(a, d, None);
            }
            Index::Reshape(_) => {
                let d = v.graph.apply(Op::Index(Index::Unshape), &[g, a])?;
                v.give(a, d, None);
            }
            // Only ever gradients, never differentiated.
            Index::ScatterAdd | Index::Unshape => {}
        }
        Ok(())
    }

    fn is_elementwise(&self) -> bool {
        false
    }

    fn is_differentiable(&self) -> bool {
        matches!(self, Index::Gather | Index::Reshape(_))
    }

    fn reads(&self) -> Reads {
        match self {
            Index::Gather | Index::Reshape(_) => Reads::All,
            Index::ScatterAdd => Reads::FirstTwo,
            Index::Unshape => Reads::First,
        }
    }

    fn is_activation(&self) -> bool {
        false
    }

    fn fold(&self, _: &[f64]) -> Option<f64> {
        None
    }

    fn print(&self, p: &Printer<'_>, args: &[NodeId]) -> String {
        let at = |i: usize| args.get(i).copied().unwrap_or(NodeId(0));
        let latex = crate::ops::function::symbol_latex;
        match (*self, p.notation()) {
            (Index::Gather, Notation::Latex) => {
                format!(r"{}\left[{}\right]", p.operand(at(0), 9), p.show(at(1)))
            }
            (Index::Gather, _) => format!("{}[{}]", p.operand(at(0), 9), p.show(at(1))),
            (Index::ScatterAdd, Notation::Code) => p.call("scatter_add", "", "", args),
            (Index::ScatterAdd, Notation::Text) => {
                format!("scatter_add({}, {})", p.show(at(0)), p.show(at(1)))
            }
            (Index::ScatterAdd, Notation::Latex) => {
                p.call("", "", &latex("scatter_add"), &args[..args.len().min(2)])
            }
            (Index::Reshape(axes), notation) => {
                let dims = &p.graph().dims;
                let lengths: Vec<String> = axes.dims().iter().map(|&d| dims.describe(d)).collect();
                let lengths = lengths.join(", ");
                match notation {
                    Notation::Latex => {
                        format!(
                            r"{}\left({}, [{lengths}]\right)",
                            latex("reshape"),
                            p.show(at(0))
                        )
                    }
                    _ => format!("{}.view({lengths})", p.operand(at(0), 9)),
                }
            }
            (Index::Unshape, Notation::Code) => p.call("reshape_as", "", "", args),
            (Index::Unshape, Notation::Text) => {
                format!(
                    "{} reshaped as {}",
                    p.operand(at(0), 9),
                    p.operand(at(1), 9)
                )
            }
            (Index::Unshape, Notation::Latex) => p.call("", "", &latex("reshape_as"), args),
        }
    }

    fn precedence(&self, notation: Notation) -> u8 {
        match (self, notation) {
            (Index::Unshape, Notation::Text) => 3,
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
        let rt = rt();
        let a = cx.view(0);
        match (*self, form) {
            (Index::Gather, Form::Alloc) => {
                let (indices, shape) = (cx.view(1), cx.shape());
                Some(quote!(#rt::gather(#a, #indices, #shape)?))
            }
            (Index::Gather, Form::Into(out)) => {
                let indices = cx.view(1);
                Some(quote!(#rt::gather_into(#a, #indices, #out)?;))
            }
            (Index::ScatterAdd, Form::Alloc) => {
                let (indices, shape) = (cx.view(1), cx.shape());
                Some(quote!(#rt::scatter_add(#a, #indices, #shape)?))
            }
            (Index::ScatterAdd, Form::Into(out)) => {
                let indices = cx.view(1);
                Some(quote!(#rt::scatter_add_into(#a, #indices, #out)?;))
            }
            (Index::Reshape(_) | Index::Unshape, Form::Scalar) => Some(match cx.args.first() {
                Some(Value::Scalar(s)) => s.clone(),
                _ => quote!(#rt::sole(#a)?),
            }),
            (Index::Reshape(_) | Index::Unshape, Form::Alloc) => {
                let shape = cx.shape();
                Some(quote!(#rt::reshape(#a, #shape)?))
            }
            (Index::Reshape(_) | Index::Unshape, Form::Into(out)) => {
                Some(quote!(#rt::reshape_into(#a, #out)?;))
            }
            (Index::Gather | Index::ScatterAdd, Form::Scalar) | (_, Form::View) => None,
        }
    }

    #[cfg(test)]
    fn eval(&self, args: &[&ndarray::ArrayD<f64>]) -> ndarray::ArrayD<f64> {
        use ndarray::{ArrayD, IxDyn};
        let indices = || args[1].mapv(|i| i as usize);
        match *self {
            Index::Gather => {
                let (table, indices) = (args[0], indices());
                let shape: Vec<usize> = indices
                    .shape()
                    .iter()
                    .chain(&table.shape()[1..])
                    .copied()
                    .collect();
                let mut out = ArrayD::zeros(IxDyn(&shape));
                backprop_runtime::index::gather_into(table.view(), indices.view(), out.view_mut())
                    .unwrap();
                out
            }
            Index::ScatterAdd => {
                let mut out = ArrayD::zeros(IxDyn(args[2].shape()));
                let indices = indices();
                backprop_runtime::index::scatter_add_into(
                    args[0].view(),
                    indices.view(),
                    out.view_mut(),
                )
                .unwrap();
                out
            }
            // The interpreter gives a reshape the lengths it binds at run time, as the
            // second argument's shape.
            Index::Reshape(_) | Index::Unshape => {
                let mut out = ArrayD::zeros(IxDyn(args[1].shape()));
                backprop_runtime::index::reshape_into(args[0].view(), out.view_mut()).unwrap();
                out
            }
        }
    }
}
