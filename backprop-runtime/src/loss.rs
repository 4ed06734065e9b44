//! Loss kernels that are not sums of elementwise pieces, with PyTorch's numerics.

use ndarray::{Array0, ArrayView, Dimension, Zip};

use crate::{Float, ShapeError};

/// Binary cross-entropy of probabilities `p` against targets `y`, mean over all elements,
/// each log clamped below at -100 as PyTorch's `F.binary_cross_entropy` does:
/// `mean(-(y ln p + (1 - y) ln(1 - p)))`.
///
/// # Errors
/// [`ShapeError::Operands`] when `p` and `y` differ in shape.
///
/// ```
/// use backprop_runtime::loss::bce;
/// let p = ndarray::array![[0.5]];
/// let y = ndarray::array![[1.0]];
/// assert!((bce(p.view(), y.view()).unwrap()[()] - std::f64::consts::LN_2).abs() < 1e-15);
/// // A probability that rounded to 1 gives the clamped loss, not infinity.
/// let sure = ndarray::array![[1.0]];
/// assert_eq!(bce(sure.view(), ndarray::array![[0.0]].view()).unwrap()[()], 100.0);
/// ```
pub fn bce<A: Float, D: Dimension>(
    p: ArrayView<A, D>,
    y: ArrayView<A, D>,
) -> Result<Array0<A>, ShapeError> {
    if p.shape() != y.shape() {
        return Err(ShapeError::Operands {
            op: "bce",
            lhs: p.shape().to_vec(),
            rhs: y.shape().to_vec(),
        });
    }
    let floor = A::cst(-100.0);
    let mut total = A::zero();
    Zip::from(&p).and(&y).for_each(|&p, &y| {
        let log_p = p.ln().max(floor);
        let log_q = (A::one() - p).ln().max(floor);
        total = total - (y * log_p + (A::one() - y) * log_q);
    });
    Ok(ndarray::arr0(total / A::cst(p.len() as f64)))
}
