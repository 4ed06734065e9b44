//! Kernels of the workspace path: each writes into a buffer the caller owns and allocates
//! nothing. A chain of elementwise ops is one [`fill2`]-style pass whose closure holds the
//! whole chain; a sum of such a chain is one [`fold2`]-style pass; matrix products write
//! their result in place through [`crate::gemm`].
//!
//! Shapes are checked by the generated code before any kernel runs; the kernels still check
//! what they rely on and return [`ShapeError::Operands`] instead of panicking.

use ndarray::{
    ArrayView, ArrayView1, ArrayView2, ArrayViewMut, ArrayViewMut1, ArrayViewMut2, Axis, Dimension,
    IntoDimension, RemoveAxis, Zip,
};

use crate::{Float, ShapeError};

/// `a` broadcast to `shape`, or the error naming both.
fn spread<'a, A, D: Dimension, E: Dimension>(
    a: &'a ArrayView<'_, A, E>,
    shape: &D,
) -> Result<ArrayView<'a, A, D>, ShapeError> {
    a.broadcast(shape.clone())
        .ok_or_else(|| ShapeError::Operands {
            op: "fuse",
            lhs: a.shape().to_vec(),
            rhs: shape.slice().to_vec(),
        })
}

/// The most elements a fill or fold takes over plain memory instead of through `Zip`,
/// whose set-up costs more than the arithmetic of arrays this small.
const SMALL: usize = 64;

/// An operand of a small fill or fold over the memory of a row-major array: one element
/// per element of it, or one per column, repeated down its rows.
#[derive(Clone, Copy)]
enum Part<'a, A> {
    Full(&'a [A]),
    Row(&'a [A]),
}

impl<A: Float> Part<'_, A> {
    /// Element `i` of the array, which is in column `j`.
    #[inline(always)]
    fn at(self, i: usize, j: usize) -> A {
        let v = match self {
            Part::Full(s) => s.get(i),
            Part::Row(s) => s.get(j),
        };
        v.copied().unwrap_or_else(A::zero)
    }
}

/// `p` as a [`Part`] of a row-major array of shape `shape`, when it is stored row by row
/// with that shape, or is a row vector as long as its rows.
fn part<'a, A, P: Dimension>(p: &'a ArrayView<'_, A, P>, shape: &[usize]) -> Option<Part<'a, A>> {
    let s = p.as_slice()?;
    if p.shape() == shape {
        Some(Part::Full(s))
    } else if p.ndim() == 1 && shape.last() == Some(&s.len()) {
        Some(Part::Row(s))
    } else {
        None
    }
}

/// Replaces `n` in a closure's argument list with the element type.
macro_rules! element {
    ($n:ident) => {
        A
    };
}

macro_rules! fill {
    ($(($fill:ident, [$($p:ident: $P:ident),*]),)*) => {$(
        /// `out = f(out, parts...)` elementwise, each part broadcast to `out`'s shape by
        /// NumPy's rules: one pass over memory for a whole chain of elementwise ops, in
        /// place when the chain's first argument is `out` itself.
        ///
        /// # Errors
        /// [`ShapeError::Operands`] when a part does not broadcast to `out`.
        pub fn $fill<A: Float, D: Dimension, $($P: Dimension),*>(
            mut out: ArrayViewMut<'_, A, D>,
            $($p: ArrayView<'_, A, $P>,)*
            f: impl Fn(A, $(element!($p)),*) -> A,
        ) -> Result<(), ShapeError> {
            let dim = out.raw_dim();
            if dim.size() <= SMALL {
                if let (true, $(Some($p),)*) = (true, $(part(&$p, dim.slice()),)*) {
                    if let Some(o) = out.as_slice_mut() {
                        let cols = dim.slice().last().copied().unwrap_or(1);
                        let mut j = 0;
                        for (i, o) in o.iter_mut().enumerate() {
                            let _ = (i, j); // unused by a fill of no parts
                            *o = f(*o, $($p.at(i, j)),*);
                            j = if j + 1 == cols { 0 } else { j + 1 };
                        }
                        return Ok(());
                    }
                }
            }
            $(let $p = spread(&$p, &dim)?;)*
            Zip::from(&mut out)
                $(.and(&$p))*
                .for_each(|o, $(&$p),*| *o = f(*o, $($p),*));
            Ok(())
        }
    )*};
}

macro_rules! fold {
    ($(($fold:ident, [$p0:ident: $P0:ident $(, $p:ident: $P:ident)*]),)*) => {$(
        /// The sum of `f(parts...)` over `shape`, each part broadcast to it: a loss or a
        /// full reduction of an elementwise chain in one pass, accumulated in `f64`.
        ///
        /// # Errors
        /// [`ShapeError::Operands`] when a part does not broadcast to `shape`.
        pub fn $fold<A: Float, Sh: IntoDimension, $P0: Dimension, $($P: Dimension),*>(
            shape: Sh,
            $p0: ArrayView<'_, A, $P0>,
            $($p: ArrayView<'_, A, $P>,)*
            f: impl Fn(A, $(element!($p)),*) -> A,
        ) -> Result<A, ShapeError> {
            let shape = shape.into_dimension();
            if shape.size() <= SMALL {
                if let (Some($p0), $(Some($p),)*) = (part(&$p0, shape.slice()), $(part(&$p, shape.slice()),)*) {
                    let cols = shape.slice().last().copied().unwrap_or(1);
                    let (mut j, mut total) = (0, 0.0f64);
                    for i in 0..shape.size() {
                        total += f($p0.at(i, j), $($p.at(i, j)),*).as_f64();
                        j = if j + 1 == cols { 0 } else { j + 1 };
                    }
                    return Ok(A::cst(total));
                }
            }
            let $p0 = spread(&$p0, &shape)?;
            $(let $p = spread(&$p, &shape)?;)*
            let total = Zip::from(&$p0)
                $(.and(&$p))*
                .fold(0.0f64, |acc, &$p0, $(&$p),*| acc + f($p0, $($p),*).as_f64());
            Ok(A::cst(total))
        }
    )*};
}

fill! {
    (fill0, []),
    (fill1, [p0: P0]),
    (fill2, [p0: P0, p1: P1]),
    (fill3, [p0: P0, p1: P1, p2: P2]),
    (fill4, [p0: P0, p1: P1, p2: P2, p3: P3]),
    (fill5, [p0: P0, p1: P1, p2: P2, p3: P3, p4: P4]),
}

fold! {
    (fold1, [p0: P0]),
    (fold2, [p0: P0, p1: P1]),
    (fold3, [p0: P0, p1: P1, p2: P2]),
    (fold4, [p0: P0, p1: P1, p2: P2, p3: P3]),
    (fold5, [p0: P0, p1: P1, p2: P2, p3: P3, p4: P4]),
}

/// Whether `out = a @ b` fits: `a`'s columns are `b`'s rows, `out` is `[a rows, b columns]`.
fn fits<A>(
    a: &ArrayView2<'_, A>,
    b: &ArrayView2<'_, A>,
    out: &ArrayViewMut2<'_, A>,
) -> Result<(), ShapeError> {
    if a.ncols() != b.nrows() || out.dim() != (a.nrows(), b.ncols()) {
        return Err(ShapeError::Operands {
            op: "matmul",
            lhs: a.shape().to_vec(),
            rhs: b.shape().to_vec(),
        });
    }
    Ok(())
}

/// `out = a @ b` for matrices, either of which may be a transposed or strided view.
///
/// # Errors
/// [`ShapeError::Operands`] when `a`'s columns differ from `b`'s rows or `out` is not
/// `[a rows, b columns]`.
pub fn matmul_into<A: Float>(
    a: ArrayView2<'_, A>,
    b: ArrayView2<'_, A>,
    out: ArrayViewMut2<'_, A>,
) -> Result<(), ShapeError> {
    fits(&a, &b, &out)?;
    crate::gemm::gemm(a, b, out);
    Ok(())
}

/// `out += alpha * (a @ b)`: a product added to what `out` holds, in the product's own
/// pass, such as a gradient-descent update `w -= lr * (dz^T @ h)` that never stores the
/// gradient.
///
/// ```
/// use ndarray::array;
/// let mut w = array![[1.0, 2.0], [3.0, 4.0]];
/// let (dz, h) = (array![[1.0], [2.0]], array![[10.0, 20.0]]);
/// backprop_runtime::fused::matmul_add_into(dz.view(), h.view(), w.view_mut(), -0.1)?;
/// assert_eq!(w, array![[0.0, 0.0], [1.0, 0.0]]);
/// # Ok::<(), backprop_runtime::ShapeError>(())
/// ```
///
/// # Errors
/// [`ShapeError::Operands`] when the shapes do not fit, as for [`matmul_into`].
pub fn matmul_add_into<A: Float>(
    a: ArrayView2<'_, A>,
    b: ArrayView2<'_, A>,
    out: ArrayViewMut2<'_, A>,
    alpha: A,
) -> Result<(), ShapeError> {
    fits(&a, &b, &out)?;
    crate::gemm::gemm_scaled(a, b, out, crate::gemm::Scale { alpha, add: true });
    Ok(())
}

/// `out = a @ b` for a matrix and a vector.
///
/// # Errors
/// [`ShapeError::Operands`] when the shapes do not fit.
pub fn matvec_into<A: Float>(
    a: ArrayView2<'_, A>,
    b: ArrayView1<'_, A>,
    out: ArrayViewMut1<'_, A>,
) -> Result<(), ShapeError> {
    matmul_into(a, b.insert_axis(Axis(1)), out.insert_axis(Axis(1)))
}

/// `out = a @ b` for a vector and a matrix.
///
/// # Errors
/// [`ShapeError::Operands`] when the shapes do not fit.
pub fn vecmat_into<A: Float>(
    a: ArrayView1<'_, A>,
    b: ArrayView2<'_, A>,
    out: ArrayViewMut1<'_, A>,
) -> Result<(), ShapeError> {
    matmul_into(a.insert_axis(Axis(0)), b, out.insert_axis(Axis(0)))
}

/// The inner product of two vectors.
///
/// # Errors
/// [`ShapeError::Operands`] when the lengths differ.
pub fn dot<A: Float>(a: ArrayView1<'_, A>, b: ArrayView1<'_, A>) -> Result<A, ShapeError> {
    if a.len() != b.len() {
        return Err(ShapeError::Operands {
            op: "matmul",
            lhs: a.shape().to_vec(),
            rhs: b.shape().to_vec(),
        });
    }
    Ok(a.dot(&b))
}

/// `out = a b^T`, the outer product of two vectors.
///
/// # Errors
/// [`ShapeError::Operands`] when `out` is not `[a length, b length]`.
pub fn outer_into<A: Float>(
    a: ArrayView1<'_, A>,
    b: ArrayView1<'_, A>,
    out: ArrayViewMut2<'_, A>,
) -> Result<(), ShapeError> {
    fill2(
        out,
        a.insert_axis(Axis(1)),
        b.insert_axis(Axis(0)),
        |_, p, q| p * q,
    )
}

/// The sum of all elements.
pub fn total<A: Float, D: Dimension>(a: ArrayView<'_, A, D>) -> A {
    a.sum()
}

/// `out` filled with the sum of all elements of `a` (a sum that keeps every axis).
pub fn sum_keep_into<A: Float, D: Dimension, E: Dimension>(
    a: ArrayView<'_, A, D>,
    mut out: ArrayViewMut<'_, A, E>,
) {
    out.fill(a.sum());
}

/// `out` = the sums of `a` along `axis`, which `out` lacks.
///
/// # Errors
/// [`ShapeError::Operands`] when `out` is not `a`'s shape without `axis`.
pub fn sum_axis_into<A: Float, D: RemoveAxis>(
    a: ArrayView<'_, A, D>,
    axis: usize,
    mut out: ArrayViewMut<'_, A, D::Smaller>,
) -> Result<(), ShapeError> {
    let fits = axis < a.ndim() && a.raw_dim().remove_axis(Axis(axis)) == out.raw_dim();
    if !fits {
        return Err(ShapeError::Operands {
            op: "sum",
            lhs: a.shape().to_vec(),
            rhs: out.shape().to_vec(),
        });
    }
    out.fill(A::zero());
    // Both stored row by row, the sums over the first axis are whole rows of `a` added
    // in turn, in the order of the lanes below.
    if let (0, Some(a), Some(out)) = (axis, a.as_slice(), out.as_slice_mut()) {
        if !out.is_empty() {
            for row in a.chunks_exact(out.len()) {
                for (o, &v) in out.iter_mut().zip(row) {
                    *o = *o + v;
                }
            }
        }
        return Ok(());
    }
    for lane in a.axis_iter(Axis(axis)) {
        Zip::from(&mut out).and(&lane).for_each(|o, &v| *o = *o + v);
    }
    Ok(())
}

/// `out` = the sums of `a` along `axis`, which `out` keeps with length 1.
///
/// # Errors
/// [`ShapeError::Operands`] when `out` is not `a`'s shape with `axis` of length 1.
pub fn sum_axis_keep_into<A: Float, D: RemoveAxis>(
    a: ArrayView<'_, A, D>,
    axis: usize,
    out: ArrayViewMut<'_, A, D>,
) -> Result<(), ShapeError> {
    if axis >= out.ndim() || out.len_of(Axis(axis)) != 1 {
        return Err(ShapeError::Operands {
            op: "sum",
            lhs: a.shape().to_vec(),
            rhs: out.shape().to_vec(),
        });
    }
    sum_axis_into(a, axis, out.index_axis_move(Axis(axis), 0))
}

/// `g` with `axis` inserted when a sum without `keep` removed it, ready to broadcast over
/// the summed tensor's shape: the adjoint of a sum, as a view.
///
/// # Errors
/// [`ShapeError::Operands`] when `axis` is past `g`'s rank.
pub fn unsum_view<'a, A: Float, D: Dimension>(
    g: ArrayView<'a, A, D>,
    axis: Option<usize>,
    keep: bool,
) -> Result<ArrayView<'a, A, ndarray::IxDyn>, ShapeError> {
    let g = g.into_dyn();
    match (axis, keep) {
        (Some(k), false) if k > g.ndim() => Err(ShapeError::Operands {
            op: "unsum",
            lhs: g.shape().to_vec(),
            rhs: vec![k],
        }),
        (Some(k), false) => Ok(g.insert_axis(Axis(k))),
        _ => Ok(g),
    }
}

/// `out` = `g` spread over `out`'s shape: the adjoint of a sum.
///
/// # Errors
/// [`ShapeError::Operands`] when `g` does not broadcast to `out`.
pub fn unsum_into<A: Float, D: Dimension, E: Dimension>(
    g: ArrayView<'_, A, E>,
    axis: Option<usize>,
    keep: bool,
    out: ArrayViewMut<'_, A, D>,
) -> Result<(), ShapeError> {
    fill1(out, unsum_view(g, axis, keep)?, |_, v| v)
}

/// Column `k` of `a`, as a view (`a[:, k]`).
///
/// # Errors
/// [`ShapeError::Operands`] when `a` has no column `k`.
pub fn column<A: Float>(a: ArrayView2<'_, A>, k: usize) -> Result<ArrayView1<'_, A>, ShapeError> {
    if k >= a.ncols() {
        return Err(ShapeError::Operands {
            op: "column",
            lhs: a.shape().to_vec(),
            rhs: vec![k],
        });
    }
    Ok(a.index_axis_move(Axis(1), k))
}

/// `out` = zeros with column `k` set to `g`: the adjoint of a column select.
///
/// # Errors
/// [`ShapeError::Operands`] when `g` does not fit column `k` of `out`.
pub fn column_scatter_into<A: Float>(
    g: ArrayView1<'_, A>,
    k: usize,
    mut out: ArrayViewMut2<'_, A>,
) -> Result<(), ShapeError> {
    if k >= out.ncols() || g.len() != out.nrows() {
        return Err(ShapeError::Operands {
            op: "column_scatter",
            lhs: g.shape().to_vec(),
            rhs: out.shape().to_vec(),
        });
    }
    out.fill(A::zero());
    out.index_axis_move(Axis(1), k).assign(&g);
    Ok(())
}

/// `out` = the softmax of `a` along `axis`: `e^(v - max) / Σ e^(u - max)` over each lane,
/// shifted by the lane's maximum so that no exponential overflows.
///
/// # Errors
/// [`ShapeError::Operands`] when `out`'s shape is not `a`'s.
pub fn softmax_into<A: Float, D: RemoveAxis>(
    a: ArrayView<'_, A, D>,
    axis: usize,
    out: ArrayViewMut<'_, A, D>,
) -> Result<(), ShapeError> {
    per_lane(a, axis, out, |mut lane| {
        let max = lane_max(lane.view());
        lane.mapv_inplace(|v| (v - max).exp());
        let total = lane.fold(A::zero(), |s, &v| s + v);
        lane.mapv_inplace(|v| v / total);
    })
}

/// `out` = the log-softmax of `a` along `axis`: `v - logsumexp(lane)` over each lane.
///
/// # Errors
/// [`ShapeError::Operands`] when `out`'s shape is not `a`'s.
pub fn log_softmax_into<A: Float, D: RemoveAxis>(
    a: ArrayView<'_, A, D>,
    axis: usize,
    out: ArrayViewMut<'_, A, D>,
) -> Result<(), ShapeError> {
    per_lane(a, axis, out, |mut lane| {
        let shift = log_sum_exp(lane.view());
        lane.mapv_inplace(|v| v - shift);
    })
}

/// The largest value of a lane (`-inf` for an empty one); NaNs are passed over.
fn lane_max<A: Float>(lane: ArrayView1<'_, A>) -> A {
    lane.fold(A::neg_infinity(), |m, &v| m.max(v))
}

/// `ln Σ e^v` over a lane, as `max + ln Σ e^(v - max)`: finite wherever the lane is. The
/// shift of log-softmax and the normaliser of cross-entropy.
pub(crate) fn log_sum_exp<A: Float>(lane: ArrayView1<'_, A>) -> A {
    let max = lane_max(lane);
    let total = lane.fold(A::zero(), |s, &v| s + (v - max).exp());
    max + total.ln()
}

/// `a` copied into `out`, then `f` on each lane of `out` along `axis`.
fn per_lane<A: Float, D: RemoveAxis>(
    a: ArrayView<'_, A, D>,
    axis: usize,
    mut out: ArrayViewMut<'_, A, D>,
    f: impl Fn(ArrayViewMut1<'_, A>),
) -> Result<(), ShapeError> {
    if a.shape() != out.shape() || axis >= a.ndim() {
        return Err(ShapeError::Operands {
            op: "softmax",
            lhs: a.shape().to_vec(),
            rhs: out.shape().to_vec(),
        });
    }
    out.assign(&a);
    out.lanes_mut(Axis(axis)).into_iter().for_each(f);
    Ok(())
}

/// `out` = one row per label with a 1 in the label's column.
///
/// # Errors
/// [`ShapeError::Label`] for a label past the last class, [`ShapeError::Operands`] when
/// there is not one label per row.
pub fn one_hot_into<A: Float>(
    labels: ArrayView1<'_, usize>,
    mut out: ArrayViewMut2<'_, A>,
) -> Result<(), ShapeError> {
    if labels.len() != out.nrows() {
        return Err(ShapeError::Operands {
            op: "one_hot",
            lhs: vec![labels.len()],
            rhs: out.shape().to_vec(),
        });
    }
    out.fill(A::zero());
    for (mut row, &label) in out.rows_mut().into_iter().zip(&labels) {
        match row.get_mut(label) {
            Some(v) => *v = A::one(),
            None => return Err(crate::kernels::label_error(label, row.len())),
        }
    }
    Ok(())
}

/// One step of gradient descent on one parameter: `p -= lr * grad`.
///
/// # Errors
/// [`ShapeError::Operands`] when `grad`'s shape is not `p`'s.
///
/// ```
/// use backprop_runtime::fused::sgd;
/// let mut w = ndarray::array![1.0, 2.0];
/// sgd(w.view_mut(), ndarray::array![10.0, -10.0].view(), 0.1).unwrap();
/// assert_eq!(w, ndarray::array![0.0, 3.0]);
/// ```
pub fn sgd<A: Float, D: Dimension>(
    mut p: ArrayViewMut<'_, A, D>,
    grad: ArrayView<'_, A, D>,
    lr: A,
) -> Result<(), ShapeError> {
    if p.shape() != grad.shape() {
        return Err(ShapeError::Operands {
            op: "sgd",
            lhs: p.shape().to_vec(),
            rhs: grad.shape().to_vec(),
        });
    }
    if let (Some(p), Some(grad)) = (p.as_slice_mut(), grad.as_slice()) {
        for (p, &g) in p.iter_mut().zip(grad) {
            *p = *p - lr * g;
        }
        return Ok(());
    }
    Zip::from(&mut p)
        .and(&grad)
        .for_each(|p, &g| *p = *p - lr * g);
    Ok(())
}

/// The index of the first largest element of `lane`, or of its first NaN: the index
/// PyTorch's `max` along an axis returns.
fn first_max<A: Float>(lane: &ArrayView1<'_, A>) -> usize {
    let mut best = 0;
    for (i, &v) in lane.iter().enumerate() {
        if v.is_nan() {
            return i;
        }
        if v > lane[best] {
            best = i;
        }
    }
    best
}

/// `a`'s shape with `axis` removed, or with `keep` of length 1; `None` when `a` has no
/// such axis or it is empty.
fn reduced_shape(shape: &[usize], axis: usize, keep: bool) -> Option<Vec<usize>> {
    let mut out = shape.to_vec();
    match out.get(axis) {
        Some(0) | None => return None,
        Some(_) if keep => out[axis] = 1,
        Some(_) => drop(out.remove(axis)),
    }
    Some(out)
}

/// `out` = the largest element of each lane of `a` along `axis`, which `out` lacks or,
/// with `keep`, keeps with length 1; NaN for a lane that holds one, as PyTorch's `max`.
///
/// # Errors
/// [`ShapeError::Operands`] when `out` is not that shape, or the axis is empty.
pub fn max_axis_into<A: Float, D: Dimension, E: Dimension>(
    a: ArrayView<'_, A, D>,
    axis: usize,
    keep: bool,
    out: ArrayViewMut<'_, A, E>,
) -> Result<(), ShapeError> {
    let (a, out) = (a.into_dyn(), out.into_dyn());
    if reduced_shape(a.shape(), axis, keep).as_deref() != Some(out.shape()) {
        return Err(ShapeError::Operands {
            op: "max",
            lhs: a.shape().to_vec(),
            rhs: out.shape().to_vec(),
        });
    }
    let mut out = if keep {
        out.index_axis_move(Axis(axis), 0)
    } else {
        out
    };
    Zip::from(&mut out)
        .and(a.lanes(Axis(axis)))
        .for_each(|o, lane| *o = lane[first_max(&lane)]);
    Ok(())
}

/// `out` = zeros but for the element of each lane of `a` along `axis` that `max` picked,
/// which gets the lane's element of `g`: the adjoint of [`max_axis_into`], as PyTorch's,
/// the whole gradient to the first largest element.
///
/// # Errors
/// [`ShapeError::Operands`] when `out` is not `a`'s shape or `g` not the reduced one.
pub fn max_scatter_into<A: Float, D: Dimension, E: Dimension, F: Dimension>(
    g: ArrayView<'_, A, E>,
    a: ArrayView<'_, A, F>,
    axis: usize,
    keep: bool,
    out: ArrayViewMut<'_, A, D>,
) -> Result<(), ShapeError> {
    let (g, a, mut out) = (g.into_dyn(), a.into_dyn(), out.into_dyn());
    let fits = out.shape() == a.shape()
        && reduced_shape(a.shape(), axis, keep).as_deref() == Some(g.shape());
    if !fits {
        return Err(ShapeError::Operands {
            op: "max_scatter",
            lhs: g.shape().to_vec(),
            rhs: out.shape().to_vec(),
        });
    }
    let g = if keep {
        g.index_axis_move(Axis(axis), 0)
    } else {
        g
    };
    out.fill(A::zero());
    Zip::from(a.lanes(Axis(axis)))
        .and(out.lanes_mut(Axis(axis)))
        .and(&g)
        .for_each(|lane, mut o, &v| o[first_max(&lane)] = v);
    Ok(())
}

#[cfg(test)]
mod tests {
    use ndarray::{Array1, Array2, Axis, Slice};

    use super::*;

    fn filled(r: usize, c: usize, seed: usize) -> Array2<f32> {
        Array2::from_shape_fn((r, c), |(i, j)| {
            ((i * 31 + j * 17 + seed) % 23) as f32 / 7.0 - 1.5
        })
    }

    /// Fills, folds and sums of arrays of at most [`SMALL`] elements over plain memory,
    /// and those that take `Zip` (larger, transposed, broadcast down a column), give the
    /// same bits as an element-by-element loop in the order of the indices.
    #[test]
    fn small_and_large_elementwise_passes_agree_bit_for_bit() {
        for &(r, c) in &[(1, 1), (4, 3), (8, 8), (3, 22), (9, 8), (40, 7)] {
            let a = filled(r, c, 1);
            let row: Array1<f32> = filled(1, c, 2).row(0).to_owned();
            let col = filled(r, 1, 3);
            let a_t = a.t().to_owned();
            let f = |o: f32, p: f32, q: f32| o * 0.5 + p * q - 0.25;
            for (case, p) in [a.view(), a_t.t()].into_iter().enumerate() {
                let want = Array2::from_shape_fn((r, c), |(i, j)| f(a[[i, j]], p[[i, j]], row[j]));
                let mut out = a.clone();
                fill2(out.view_mut(), p, row.view(), f).unwrap();
                assert_eq!(out, want, "case {case} [{r}, {c}]");
                let want = Array2::from_shape_fn((r, c), |(i, j)| f(0.0, p[[i, j]], col[[i, 0]]));
                fill2(out.view_mut(), p, col.view(), |_, p, q| f(0.0, p, q)).unwrap();
                assert_eq!(out, want, "case {case} [{r}, {c}], a column");
                let total = a.iter().fold(0.0f64, |t, &v| t + f64::from(v * v));
                let got = fold2([r, c], p, row.view(), |p, q| p * p + 0.0 * q).unwrap();
                assert_eq!(
                    got.to_bits(),
                    (total as f32).to_bits(),
                    "case {case} [{r}, {c}]"
                );
                let mut sums = Array1::<f32>::zeros(c);
                sum_axis_into(p, 0, sums.view_mut()).unwrap();
                let want = Array1::from_shape_fn(c, |j| (0..r).fold(0.0f32, |t, i| t + a[[i, j]]));
                assert_eq!(sums, want, "case {case} [{r}, {c}], sums");
                let mut w = a.clone();
                sgd(w.view_mut(), p, 0.1).unwrap();
                assert_eq!(
                    w,
                    Array2::from_shape_fn((r, c), |(i, j)| a[[i, j]] - 0.1 * a[[i, j]])
                );
            }
        }
        // A part that does not broadcast is refused, small or not.
        let mut out = filled(2, 3, 0);
        assert!(fill1(out.view_mut(), filled(3, 2, 0).view(), |o, p| o + p).is_err());
        let a = filled(4, 6, 0);
        let cols = a.slice_axis(Axis(1), Slice::new(0, Some(4), 1));
        assert!(fold2([4, 6], a.view(), cols, |p, q| p + q).is_err());
    }
}
