//! Shape rules: the shape of `op(args)` from the shapes of its arguments, unifying the
//! dims the op requires to be equal. Broadcasting is decided at compile time: an axis
//! broadcasts only where a dim is known to be 1 or missing (a leading axis); two dims that
//! are not known become one dim, checked at run time.

use crate::ir::{DimId, Dims, Shape};
use crate::ops::Op;

/// Why a shape rule failed; `lower.rs` turns it into a message with the expression's text.
#[derive(Debug, Clone, PartialEq)]
pub enum Fault {
    /// Two dims that must be equal cannot be (as shown: a length, a name or `_`).
    Dims(String, String),
    /// Argument `arg` has rank `got`, which the op does not take.
    Rank { arg: usize, got: usize },
    /// Column `k` of a matrix known to have `cols` columns.
    Column { k: usize, cols: usize },
    /// A reduction axis past the tensor's rank.
    Axis { axis: usize, rank: usize },
}

pub fn infer(op: &Op, args: &[Shape], dims: &mut Dims) -> Result<Shape, Fault> {
    let a = args.first().cloned().unwrap_or_default();
    let rank = |i: usize| args.get(i).map_or(0, Vec::len);
    match op {
        Op::Var(_) | Op::Const(_) | Op::Count(_) => Ok(Vec::new()),
        Op::Bce | Op::BceLogits => {
            same(&a, &args[1], dims)?;
            Ok(Vec::new())
        }
        Op::Softmax(axis) | Op::LogSoftmax(axis) => {
            if usize::from(*axis) >= a.len() {
                return Err(Fault::Axis {
                    axis: usize::from(*axis),
                    rank: a.len(),
                });
            }
            Ok(a)
        }
        Op::CrossEntropy => match (a.len(), rank(1)) {
            (2, 1) => {
                dims.unify(a[0], args[1][0])?;
                Ok(Vec::new())
            }
            (2, got) => Err(Fault::Rank { arg: 1, got }),
            (got, _) => Err(Fault::Rank { arg: 0, got }),
        },
        Op::OneHot => Ok(args[1].clone()),
        Op::Neg
        | Op::Pow(_)
        | Op::Exp
        | Op::Log
        | Op::Sqrt
        | Op::Abs
        | Op::Sign
        | Op::Relu
        | Op::Step
        | Op::Sigmoid
        | Op::Tanh
        | Op::Softplus
        | Op::LeakyRelu(_)
        | Op::LeakyStep(_)
        | Op::ClampMin(_)
        | Op::ClampMinStep(_) => Ok(a),
        Op::Add | Op::Mul => broadcast(&a, &args[1], dims),
        Op::Matmul => {
            let b = &args[1];
            match (a.len(), b.len()) {
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
            }
        }
        Op::Outer => match (a.len(), rank(1)) {
            (1, 1) => Ok(vec![a[0], args[1][0]]),
            (1, got) => Err(Fault::Rank { arg: 1, got }),
            (got, _) => Err(Fault::Rank { arg: 0, got }),
        },
        Op::Transpose => match a.len() {
            2 => Ok(vec![a[1], a[0]]),
            got => Err(Fault::Rank { arg: 0, got }),
        },
        Op::Sum { axis, keep } => {
            let rank = a.len();
            match (axis, keep) {
                (None, false) => Ok(Vec::new()),
                (None, true) => Ok(a.iter().map(|_| dims.fresh(Some(1), None)).collect()),
                (Some(k), keep) => {
                    let k = usize::from(*k);
                    if k >= rank {
                        return Err(Fault::Axis { axis: k, rank });
                    }
                    let mut out = a.clone();
                    if *keep {
                        out[k] = dims.fresh(Some(1), None);
                    } else {
                        out.remove(k);
                    }
                    Ok(out)
                }
            }
        }
        Op::Unsum { .. } | Op::ColumnScatter(_) => Ok(args[1].clone()),
        Op::Column(k) => match a.len() {
            2 => match dims.known(a[1]) {
                Some(cols) if *k >= cols => Err(Fault::Column { k: *k, cols }),
                _ => Ok(vec![a[0]]),
            },
            got => Err(Fault::Rank { arg: 0, got }),
        },
    }
}

/// NumPy's broadcasting, decided at compile time: trailing axes aligned, a missing axis or
/// a dim known to be 1 broadcasts, any other pair of dims is unified.
fn broadcast(a: &Shape, b: &Shape, dims: &mut Dims) -> Result<Shape, Fault> {
    let n = a.len().max(b.len());
    let at = |s: &Shape, i: usize| (i + s.len()).checked_sub(n).map(|j| s[j]);
    let mut out = Vec::with_capacity(n);
    for i in 0..n {
        out.push(match (at(a, i), at(b, i)) {
            (Some(x), None) | (None, Some(x)) => x,
            (Some(x), Some(y)) => pair(x, y, dims)?,
            // Shapes align from the right, so one of them has every axis.
            (None, None) => dims.fresh(None, None),
        });
    }
    Ok(out)
}

fn pair(x: DimId, y: DimId, dims: &mut Dims) -> Result<DimId, Fault> {
    match (dims.is_one(x), dims.is_one(y)) {
        (true, false) => Ok(y),
        (false, true) => Ok(x),
        _ => {
            dims.unify(x, y)?;
            Ok(x)
        }
    }
}

/// Two shapes that must be equal, dim for dim.
fn same(a: &Shape, b: &Shape, dims: &mut Dims) -> Result<(), Fault> {
    if a.len() != b.len() {
        return Err(Fault::Rank {
            arg: 1,
            got: b.len(),
        });
    }
    for (&x, &y) in a.iter().zip(b) {
        dims.unify(x, y)?;
    }
    Ok(())
}
