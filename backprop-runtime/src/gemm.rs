//! The matrix product every `@` of a model runs on.

use ndarray::{ArrayView2, ArrayViewMut2};

use crate::Float;

/// `out = a @ b`; the caller has checked that the shapes fit.
pub(crate) fn gemm<A: Float>(
    a: ArrayView2<'_, A>,
    b: ArrayView2<'_, A>,
    mut out: ArrayViewMut2<'_, A>,
) {
    ndarray::linalg::general_mat_mul(A::one(), &a, &b, A::zero(), &mut out);
}
