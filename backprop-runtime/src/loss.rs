//! Loss kernels that are not sums of elementwise pieces, with PyTorch's numerics.

use ndarray::{ArrayView, ArrayView1, ArrayView2, Dimension, Zip};

use crate::kernels::label_error;
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
/// assert!((bce(p.view(), y.view()).unwrap() - std::f64::consts::LN_2).abs() < 1e-15);
/// // A probability that rounded to 1 gives the clamped loss, not infinity.
/// let sure = ndarray::array![[1.0]];
/// assert_eq!(bce(sure.view(), ndarray::array![[0.0]].view()).unwrap(), 100.0);
/// ```
pub fn bce<A: Float, D: Dimension>(
    p: ArrayView<A, D>,
    y: ArrayView<A, D>,
) -> Result<A, ShapeError> {
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
    Ok(total / A::cst(p.len() as f64))
}

/// Binary cross-entropy of logits `z` against targets `y`, mean over all elements, as
/// PyTorch's `F.binary_cross_entropy_with_logits`: `mean(max(z, 0) - z y + ln(1 + e^-|z|))`,
/// finite for every finite `z`.
///
/// # Errors
/// [`ShapeError::Operands`] when `z` and `y` differ in shape.
///
/// ```
/// use backprop_runtime::loss::bce_logits;
/// let z = ndarray::array![[1000.0], [-1000.0]];
/// let y = ndarray::array![[0.0], [0.0]];
/// assert_eq!(bce_logits(z.view(), y.view()).unwrap(), 500.0);
/// ```
pub fn bce_logits<A: Float, D: Dimension>(
    z: ArrayView<A, D>,
    y: ArrayView<A, D>,
) -> Result<A, ShapeError> {
    if z.shape() != y.shape() {
        return Err(ShapeError::Operands {
            op: "bce_logits",
            lhs: z.shape().to_vec(),
            rhs: y.shape().to_vec(),
        });
    }
    let mut total = A::zero();
    Zip::from(&z).and(&y).for_each(|&z, &y| {
        total = total + z.max(A::zero()) - z * y + (-z.abs()).exp().ln_1p();
    });
    Ok(total / A::cst(z.len() as f64))
}

/// Cross-entropy of logits `z` (`[n, classes]`) against integer class labels (`[n]`), mean
/// over the rows, as PyTorch's `F.cross_entropy`: `mean(logsumexp(z_i) - z_i[label_i])`,
/// with each row shifted by its maximum.
///
/// # Errors
/// [`ShapeError::Operands`] when there is not one label per row, [`ShapeError::Label`]
/// for a label past the last class.
///
/// ```
/// use backprop_runtime::loss::cross_entropy;
/// let z = ndarray::array![[1000.0, 0.0], [0.0, 0.0]];
/// let labels = ndarray::array![1usize, 0];
/// let l = cross_entropy(z.view(), labels.view()).unwrap();
/// assert!((l - (1000.0 + std::f64::consts::LN_2) / 2.0).abs() < 1e-12);
/// ```
pub fn cross_entropy<A: Float>(
    z: ArrayView2<A>,
    labels: ArrayView1<usize>,
) -> Result<A, ShapeError> {
    if z.nrows() != labels.len() {
        return Err(ShapeError::Operands {
            op: "cross_entropy",
            lhs: z.shape().to_vec(),
            rhs: labels.shape().to_vec(),
        });
    }
    let mut total = A::zero();
    for (row, &label) in z.rows().into_iter().zip(labels) {
        let Some(&picked) = row.get(label) else {
            return Err(label_error(label, row.len()));
        };
        total = total + crate::fused::log_sum_exp(row) - picked;
    }
    Ok(total / A::cst(z.nrows() as f64))
}
