//! The element types a model can be instantiated with: `f32` and `f64`. Constants of the
//! type come from [`Real::cst`](backprop_scalar::Real::cst), the bound `Float` extends.

use std::fmt::{Debug, Display};
use std::iter::Sum;

use ndarray::{LinalgScalar, ScalarOperand};

/// The bound on a model's element type `A`; implemented for `f32` and `f64`.
///
/// ```
/// use backprop_runtime::Float;
/// fn half<A: Float>(v: A) -> A { v * A::cst(0.5) }
/// assert_eq!(half(3.0f32), 1.5);
/// ```
pub trait Float:
    backprop_scalar::Real
    + LinalgScalar
    + ScalarOperand
    + Sum
    + Default
    + Debug
    + Display
    + Send
    + Sync
    + 'static
{
    /// This value as an `f64`, exactly.
    fn as_f64(self) -> f64;
    /// `out = alpha * a @ b`, or `out += alpha * a @ b` when `add`, through this crate's
    /// kernel for the products it is built for and the GEMM library for the others, when
    /// the views are contiguous; false, having done nothing, otherwise.
    #[doc(hidden)]
    fn dense_gemm(
        a: &ndarray::ArrayView2<'_, Self>,
        b: &ndarray::ArrayView2<'_, Self>,
        out: &mut ndarray::ArrayViewMut2<'_, Self>,
        scale: crate::gemm::Scale<Self>,
        threads: usize,
    ) -> bool;
    /// Runs `f` on `len` elements of this thread's scratch buffer number `slot` (0 to 3),
    /// kept between calls so that products that need one allocate only the first time.
    #[doc(hidden)]
    fn with_scratch<R>(slot: usize, len: usize, f: impl FnOnce(&mut [Self]) -> R) -> R;
}

/// The hidden methods through which kernels reach the matrix-product library and the
/// per-thread scratch, the same for both element types.
macro_rules! backend {
    ($t:ty, $kernel:path) => {
        fn dense_gemm(
            a: &ndarray::ArrayView2<'_, Self>,
            b: &ndarray::ArrayView2<'_, Self>,
            out: &mut ndarray::ArrayViewMut2<'_, Self>,
            scale: crate::gemm::Scale<Self>,
            threads: usize,
        ) -> bool {
            $kernel(a, b, out, scale, threads) || crate::gemm::faer_gemm(a, b, out, scale, threads)
        }

        fn with_scratch<R>(slot: usize, len: usize, f: impl FnOnce(&mut [Self]) -> R) -> R {
            thread_local! {
                static SCRATCH: [std::cell::RefCell<Vec<$t>>; 4] =
                    const { [const { std::cell::RefCell::new(Vec::new()) }; 4] };
            }
            SCRATCH.with(
                |cells| match cells.get(slot).map(|cell| cell.try_borrow_mut()) {
                    Some(Ok(mut buf)) => {
                        if buf.len() < len {
                            buf.resize(len, 0.0);
                        }
                        f(&mut buf[..len])
                    }
                    _ => f(&mut vec![0.0; len]),
                },
            )
        }
    };
}

impl Float for f32 {
    backend!(f32, crate::gemm::kernel_gemm);

    fn as_f64(self) -> f64 {
        f64::from(self)
    }
}

impl Float for f64 {
    // The kernel is written for `f32`; `f64` products go through `faer`.
    backend!(f64, crate::gemm::no_kernel);

    fn as_f64(self) -> f64 {
        self
    }
}
