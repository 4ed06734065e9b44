//! The elementwise functions of backprop's models and their derivatives, one scalar at a
//! time, with PyTorch's conventions at the kinks (`relu'(0) = 0`, `sign(0) = 0`). Generic
//! over [`Real`] (`f32` and `f64`): the runtime's kernels call them on every element, and
//! the compiler calls them in `f64` to fold constants and to evaluate models in its tests,
//! so that each function is written once.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

use core::f64::consts::{FRAC_1_SQRT_2, FRAC_2_SQRT_PI, SQRT_2};

/// A floating-point type the functions take: `f32` or `f64`.
pub trait Real: num_traits::Float {
    /// The constant `v` in this type (rounded for `f32`).
    fn cst(v: f64) -> Self;
    /// The error function, `2/√π ∫₀ᵛ e^(-t²) dt`.
    fn erf(self) -> Self;
}

impl Real for f32 {
    fn cst(v: f64) -> Self {
        v as f32
    }
    fn erf(self) -> Self {
        libm::erff(self)
    }
}

impl Real for f64 {
    fn cst(v: f64) -> Self {
        v
    }
    fn erf(self) -> Self {
        libm::erf(self)
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

/// `v σ(v)`, PyTorch's `silu`, computed as `v / (1 + e^-v)`.
///
/// ```
/// assert_eq!(backprop_scalar::silu(0.0), 0.0);
/// assert!((backprop_scalar::silu(1.0f64) - 0.7310585786300049).abs() < 1e-15);
/// ```
pub fn silu<A: Real>(v: A) -> A {
    v / (A::one() + (-v).exp())
}

/// The derivative of `silu`: `σ(v) (1 + v (1 − σ(v)))`.
pub fn silu_grad<A: Real>(v: A) -> A {
    let s = sigmoid(v);
    s * (A::one() + v * (A::one() - s))
}

/// `v Φ(v)`, PyTorch's `gelu` with `approximate='none'`: `v / 2 (1 + erf(v / √2))`.
///
/// ```
/// assert!((backprop_scalar::gelu(1.0f64) - 0.8413447460685429).abs() < 1e-15);
/// ```
pub fn gelu<A: Real>(v: A) -> A {
    v * A::cst(0.5) * (A::one() + (v * A::cst(FRAC_1_SQRT_2)).erf())
}

/// The derivative of `gelu`: `Φ(v) + v φ(v)`, the normal distribution's function and
/// density.
pub fn gelu_grad<A: Real>(v: A) -> A {
    let cdf = A::cst(0.5) * (A::one() + (v * A::cst(FRAC_1_SQRT_2)).erf());
    let pdf = (A::cst(-0.5) * v * v).exp() * A::cst(FRAC_2_SQRT_PI * FRAC_1_SQRT_2 * 0.5);
    cdf + v * pdf
}

/// PyTorch's `gelu` with `approximate='tanh'`: `v / 2 (1 + tanh(√(2/π) (v + 0.044715 v³)))`.
pub fn gelu_tanh<A: Real>(v: A) -> A {
    let (beta, kappa) = (A::cst(SQRT_2 * FRAC_2_SQRT_PI * 0.5), A::cst(0.044715));
    let inner = beta * (v + kappa * (v * v * v));
    A::cst(0.5) * v * (A::one() + inner.tanh())
}

/// The derivative of `gelu_tanh`.
pub fn gelu_tanh_grad<A: Real>(v: A) -> A {
    let (beta, kappa) = (A::cst(SQRT_2 * FRAC_2_SQRT_PI * 0.5), A::cst(0.044715));
    let square = v * v;
    let t = (beta * (v + kappa * (square * v))).tanh();
    let left = A::cst(0.5) * v;
    let inner = A::one() + A::cst(3.0) * kappa * square;
    A::cst(0.5) * (A::one() + t) + left * (A::one() - t * t) * beta * inner
}

/// PyTorch's `elu`: `v` where `v > 0`, else `alpha (e^v − 1)`.
///
/// ```
/// assert_eq!(backprop_scalar::elu(2.0, 0.5), 2.0);
/// // e^v − 1 by `expm1`, exact where `exp(v) - 1` would lose half the digits.
/// assert!((backprop_scalar::elu(-1e-10f64, 1.0) + 9.9999999995e-11).abs() < 1e-24);
/// ```
pub fn elu<A: Real>(v: A, alpha: A) -> A {
    if v > A::zero() {
        v
    } else {
        v.exp_m1() * alpha
    }
}

/// The derivative of `elu`: `1` where `v > 0`, else `alpha e^v` (`alpha` at 0, as in
/// PyTorch).
pub fn elu_grad<A: Real>(v: A, alpha: A) -> A {
    if v > A::zero() {
        A::one()
    } else {
        alpha * v.exp()
    }
}

/// `ln σ(v)`, PyTorch's `logsigmoid`: `min(v, 0) − ln(1 + e^-|v|)`, finite for every finite
/// `v`.
///
/// ```
/// assert_eq!(backprop_scalar::log_sigmoid(-1000.0), -1000.0);
/// ```
pub fn log_sigmoid<A: Real>(v: A) -> A {
    v.min(A::zero()) - (-v.abs()).exp().ln_1p()
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
