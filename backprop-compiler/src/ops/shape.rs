//! What the families' shape rules share: why a rule fails, NumPy's broadcasting decided
//! at compile time (an axis broadcasts only where a dim is known to be 1 or missing, a
//! leading axis; two dims that are not known become one dim, checked at run time), and
//! shapes that must be equal.

use crate::ir::{DimId, Dims, Shape};

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

/// NumPy's broadcasting, decided at compile time: trailing axes aligned, a missing axis or
/// a dim known to be 1 broadcasts, any other pair of dims is unified.
pub fn broadcast(a: &Shape, b: &Shape, dims: &mut Dims) -> Result<Shape, Fault> {
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
pub fn same(a: &Shape, b: &Shape, dims: &mut Dims) -> Result<(), Fault> {
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

/// The shape of argument `i`, empty past the end (a caller's arity is checked before).
pub fn arg(args: &[Shape], i: usize) -> Shape {
    args.get(i).cloned().unwrap_or_default()
}
