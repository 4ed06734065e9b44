//! Seeded parameter initialisers, reproducible across platforms (ChaCha8).

use ndarray::{Array, Dimension, IntoDimension, ShapeBuilder};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::{Float, ShapeError};

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

    /// [`Init::linear`] for the parameter `tensor` of `context` (`Model::init`), without
    /// aborting: a shape whose bytes overflow or that the allocator cannot give is an
    /// error, found before any value is drawn.
    ///
    /// ```
    /// use backprop_runtime::init::Init;
    /// let w: ndarray::Array2<f32> = Init::new(1).try_linear([2, 3], 2, "w", "M::init").unwrap();
    /// assert_eq!(w, Init::new(1).linear::<f32, _>([2, 3], 2));
    /// let huge = Init::new(1).try_linear::<f32, _>([1 << 40, 1 << 30], 2, "w", "M::init");
    /// assert_eq!(
    ///     huge.unwrap_err().to_string(),
    ///     "M::init: `w` of shape [1099511627776, 1073741824] does not fit in memory (2^64 bytes or more)"
    /// );
    /// ```
    ///
    /// # Errors
    /// [`ShapeError::TooLarge`] naming the tensor and its shape.
    pub fn try_linear<A: Float, Sh: IntoDimension>(
        &mut self,
        shape: Sh,
        fan_in: usize,
        tensor: &str,
        context: &str,
    ) -> Result<Array<A, Sh::Dim>, ShapeError> {
        let dim = shape.into_dimension();
        let too_large = |bytes: String| ShapeError::TooLarge {
            context: context.to_string(),
            tensor: tensor.to_string(),
            actual: dim.slice().to_vec(),
            bytes,
        };
        let bytes = dim
            .slice()
            .iter()
            .try_fold(1usize, |n, &len| n.checked_mul(len))
            .and_then(|n| n.checked_mul(std::mem::size_of::<A>()))
            .ok_or_else(|| too_large("2^64 bytes or more".to_string()))?;
        if bytes > isize::MAX as usize {
            return Err(too_large(format!(
                "{bytes} bytes, more than an allocation may hold"
            )));
        }
        let mut values: Vec<A> = Vec::new();
        values
            .try_reserve_exact(dim.size())
            .map_err(|_| too_large(format!("{bytes} bytes, which could not be allocated")))?;
        let bound = if fan_in == 0 {
            0.0
        } else {
            1.0 / (fan_in as f64).sqrt()
        };
        values.extend((0..dim.size()).map(|_| {
            let u: f64 = self.rng.random();
            A::cst((2.0 * u - 1.0) * bound)
        }));
        Ok(Array::from_shape_vec(dim, values).expect("as many values as the shape holds"))
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
