//! The elementwise functions of backprop's models and their derivatives, one scalar at a
//! time, with PyTorch's conventions at the kinks (`relu'(0) = 0`, `sign(0) = 0`). Generic
//! over [`Real`] (`f32` and `f64`): the runtime's kernels call them on every element, and
//! the compiler calls them in `f64` to fold constants and to evaluate models in its tests,
//! so that each function is written once.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

/// A floating-point type the functions take: `f32` or `f64`.
pub trait Real: num_traits::Float {
    /// The constant `v` in this type (rounded for `f32`).
    fn cst(v: f64) -> Self;
}

impl Real for f32 {
    fn cst(v: f64) -> Self {
        v as f32
    }
}

impl Real for f64 {
    fn cst(v: f64) -> Self {
        v
    }
}

/// `max(v, 0)`; NaN stays NaN, as in PyTorch, so that a NaN in the data is not hidden.
///
/// ```
/// use backprop_scalar::relu;
/// assert_eq!((relu(-2.0), relu(3.0)), (0.0, 3.0));
/// assert!(relu(f64::NAN).is_nan());
/// ```
pub fn relu<A: Real>(v: A) -> A {
    if v > A::zero() || v.is_nan() {
        v
    } else {
        A::zero()
    }
}

/// The derivative of `relu`: `1` where `v > 0`, else `0`.
pub fn step<A: Real>(v: A) -> A {
    if v > A::zero() {
        A::one()
    } else {
        A::zero()
    }
}

/// `1 / (1 + e^-v)`.
pub fn sigmoid<A: Real>(v: A) -> A {
    A::one() / (A::one() + (-v).exp())
}

/// `ln(1 + e^v)`, computed as `max(v, 0) + ln(1 + e^-|v|)` so that no exponential
/// overflows: finite and exact to rounding for every finite `v`.
///
/// ```
/// assert_eq!(backprop_scalar::softplus(1000.0), 1000.0);
/// ```
pub fn softplus<A: Real>(v: A) -> A {
    v.max(A::zero()) + (-v.abs()).exp().ln_1p()
}

/// `v` where `v > 0`, else `alpha * v`.
pub fn leaky_relu<A: Real>(v: A, alpha: A) -> A {
    if v > A::zero() {
        v
    } else {
        alpha * v
    }
}

/// The derivative of `leaky_relu`: `1` where `v > 0`, else `alpha`.
pub fn leaky_step<A: Real>(v: A, alpha: A) -> A {
    if v > A::zero() {
        A::one()
    } else {
        alpha
    }
}

/// The sign of `v`: `-1`, `0` or `1` (the derivative of `abs`).
pub fn sign<A: Real>(v: A) -> A {
    if v > A::zero() {
        A::one()
    } else if v < A::zero() {
        -A::one()
    } else {
        A::zero()
    }
}

/// `v^k`, by repeated multiplication when `k` is a small integer.
///
/// ```
/// assert_eq!(backprop_scalar::pow(3.0, -1.0), 1.0 / 3.0);
/// ```
pub fn pow<A: Real>(v: A, k: f64) -> A {
    if k == k.trunc() && k.abs() <= 64.0 {
        v.powi(k as i32)
    } else {
        v.powf(A::cst(k))
    }
}

/// `max(v, lo)`, passing NaN through.
pub fn clamp_min<A: Real>(v: A, lo: A) -> A {
    if v < lo {
        lo
    } else {
        v
    }
}

/// The derivative of `clamp_min(v, lo)` with respect to `v`: `1` where `v > lo`, else `0`.
pub fn clamp_min_step<A: Real>(v: A, lo: A) -> A {
    if v > lo {
        A::one()
    } else {
        A::zero()
    }
}

/// `e^v`.
pub fn exp<A: Real>(v: A) -> A {
    v.exp()
}

/// The natural logarithm of `v`.
pub fn ln<A: Real>(v: A) -> A {
    v.ln()
}

/// The square root of `v`.
pub fn sqrt<A: Real>(v: A) -> A {
    v.sqrt()
}

/// `|v|`.
pub fn abs<A: Real>(v: A) -> A {
    v.abs()
}

/// The hyperbolic tangent of `v`.
pub fn tanh<A: Real>(v: A) -> A {
    v.tanh()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relu_keeps_nan_as_pytorch_does() {
        assert!(relu(f64::NAN).is_nan());
        assert_eq!((relu(-2.0), relu(0.0), relu(3.0)), (0.0, 0.0, 3.0));
        assert_eq!(relu(-0.0f32).to_bits(), 0.0f32.to_bits());
        assert_eq!(relu(f64::NEG_INFINITY), 0.0);
    }

    #[test]
    fn kinks_follow_pytorch() {
        assert_eq!(
            (step(0.0), sign(0.0), leaky_step(0.0, 0.1)),
            (0.0, 0.0, 0.1)
        );
        assert_eq!(clamp_min_step(1.0, 1.0), 0.0);
        assert!(clamp_min(f64::NAN, 0.0).is_nan());
    }
}
