//! Kernels of the normalisations (`batch_norm`, `layer_norm`): each lane along an axis
//! less its mean over its standard deviation, with the biased variance and `eps` as
//! PyTorch's, and the reciprocal of that deviation, which their gradient uses. The
//! moments are accumulated in `f64`.

use ndarray::{Array, ArrayView, ArrayViewMut, Axis, IntoDimension, RemoveAxis, Zip};

use crate::{Float, ShapeError};

/// The mean of `lane` and `1 / sqrt(var + eps)`, its variance the biased one.
fn moments<'a, A: Float>(lane: impl Iterator<Item = &'a A> + Clone, eps: f64) -> (f64, f64) {
    let (mut n, mut total) = (0usize, 0.0);
    for v in lane.clone() {
        n += 1;
        total += v.as_f64();
    }
    let count = n.max(1) as f64;
    let mean = total / count;
    let ss: f64 = lane.map(|v| (v.as_f64() - mean).powi(2)).sum();
    (mean, 1.0 / (ss / count + eps).sqrt())
}

fn mismatch(op: &'static str, lhs: &[usize], rhs: &[usize]) -> ShapeError {
    ShapeError::Operands {
        op,
        lhs: lhs.to_vec(),
        rhs: rhs.to_vec(),
    }
}

/// `out` = each lane of `a` along `axis` less its mean, over `sqrt(var + eps)`.
///
/// # Errors
/// [`ShapeError::Operands`] when `out`'s shape is not `a`'s or the axis is past its rank.
///
/// ```
/// use backprop_runtime::norm::standardize_into;
/// let a = ndarray::array![[1.0, 10.0], [3.0, 30.0]];
/// let mut out = ndarray::Array2::zeros((2, 2));
/// standardize_into(a.view(), 0, 0.0, out.view_mut()).unwrap();
/// assert_eq!(out, ndarray::array![[-1.0, -1.0], [1.0, 1.0]]);
/// ```
pub fn standardize_into<A: Float, D: RemoveAxis>(
    a: ArrayView<'_, A, D>,
    axis: usize,
    eps: f64,
    mut out: ArrayViewMut<'_, A, D>,
) -> Result<(), ShapeError> {
    if a.shape() != out.shape() || axis >= a.ndim() {
        return Err(mismatch("standardize", a.shape(), out.shape()));
    }
    Zip::from(out.lanes_mut(Axis(axis)))
        .and(a.lanes(Axis(axis)))
        .for_each(|mut o, lane| {
            let (mean, inv) = moments(lane.iter(), eps);
            for (o, v) in o.iter_mut().zip(lane) {
                *o = A::cst((v.as_f64() - mean) * inv);
            }
        });
    Ok(())
}

/// Each lane of `a` along `axis` less its mean, over `sqrt(var + eps)`, in a new array.
///
/// # Errors
/// As [`standardize_into`].
pub fn standardize<A: Float, D: RemoveAxis>(
    a: ArrayView<'_, A, D>,
    axis: usize,
    eps: f64,
) -> Result<Array<A, D>, ShapeError> {
    let mut out = Array::zeros(a.raw_dim());
    standardize_into(a, axis, eps, out.view_mut())?;
    Ok(out)
}

/// `out` = `1 / sqrt(var + eps)` of each lane of `a` along `axis`, the axis kept with
/// length 1.
///
/// # Errors
/// [`ShapeError::Operands`] when `out` is not `a`'s shape with the axis of length 1.
///
/// ```
/// use backprop_runtime::norm::inv_std_into;
/// let a = ndarray::array![[1.0, 10.0], [3.0, 30.0]];
/// let mut out = ndarray::Array2::zeros((1, 2));
/// inv_std_into(a.view(), 0, 0.0, out.view_mut()).unwrap();
/// assert_eq!(out, ndarray::array![[1.0, 0.1]]);
/// ```
pub fn inv_std_into<A: Float, D: RemoveAxis>(
    a: ArrayView<'_, A, D>,
    axis: usize,
    eps: f64,
    out: ArrayViewMut<'_, A, D>,
) -> Result<(), ShapeError> {
    let mut kept = a.shape().to_vec();
    if let Some(len) = kept.get_mut(axis) {
        *len = 1;
    }
    if axis >= a.ndim() || out.shape() != kept.as_slice() {
        return Err(mismatch("inv_std", a.shape(), out.shape()));
    }
    Zip::from(out.index_axis_move(Axis(axis), 0))
        .and(a.lanes(Axis(axis)))
        .for_each(|o, lane| *o = A::cst(moments(lane.iter(), eps).1));
    Ok(())
}

/// `1 / sqrt(var + eps)` of each lane of `a` along `axis`, in a new array of `shape` (`a`'s
/// with the axis of length 1).
///
/// # Errors
/// As [`inv_std_into`].
pub fn inv_std<A: Float, D: RemoveAxis, Sh: IntoDimension<Dim = D>>(
    a: ArrayView<'_, A, D>,
    axis: usize,
    eps: f64,
    shape: Sh,
) -> Result<Array<A, D>, ShapeError> {
    let mut out = Array::zeros(shape.into_dimension());
    inv_std_into(a, axis, eps, out.view_mut())?;
    Ok(out)
}
