//! Seeded parameter initialisers, reproducible across platforms (ChaCha8).

use ndarray::{Array, ShapeBuilder};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::Float;

/// A seeded source of initial parameter values.
///
/// ```
/// use backprop_runtime::init::Init;
/// let w: ndarray::Array2<f64> = Init::new(7).uniform(ndarray::Dim([3, 4]), 0.5);
/// assert!(w.iter().all(|v| v.abs() <= 0.5));
/// assert_eq!(w, Init::new(7).uniform::<f64, _>(ndarray::Dim([3, 4]), 0.5));
/// ```
#[derive(Debug, Clone)]
pub struct Init {
    rng: ChaCha8Rng,
}

impl Init {
    /// The initialiser for `seed`.
    pub fn new(seed: u64) -> Self {
        Self {
            rng: ChaCha8Rng::seed_from_u64(seed),
        }
    }

    /// Values drawn uniformly from `[-bound, bound)`.
    pub fn uniform<A: Float, Sh: ShapeBuilder>(
        &mut self,
        shape: Sh,
        bound: f64,
    ) -> Array<A, Sh::Dim> {
        Array::from_shape_simple_fn(shape, || {
            let u: f64 = self.rng.random();
            A::cst((2.0 * u - 1.0) * bound)
        })
    }

    /// PyTorch's default for `nn.Linear`: uniform in `±1/sqrt(fan_in)`, for the weight and
    /// its bias alike (`fan_in` 0 gives zeros).
    pub fn linear<A: Float, Sh: ShapeBuilder>(
        &mut self,
        shape: Sh,
        fan_in: usize,
    ) -> Array<A, Sh::Dim> {
        let bound = if fan_in == 0 {
            0.0
        } else {
            1.0 / (fan_in as f64).sqrt()
        };
        self.uniform(shape, bound)
    }

    /// One number, drawn as [`Init::linear`] draws each element: the initial value of a
    /// scalar parameter.
    ///
    /// ```
    /// use backprop_runtime::init::Init;
    /// let s: f64 = Init::new(3).scalar(1);
    /// let same: ndarray::Array0<f64> = Init::new(3).linear((), 1);
    /// assert_eq!(s, same[()]);
    /// ```
    pub fn scalar<A: Float>(&mut self, fan_in: usize) -> A {
        self.linear((), fan_in).into_scalar()
    }
}
