//! Elementwise functions and their derivatives, one scalar at a time, with PyTorch's
//! conventions at the kinks (`relu'(0) = 0`, `sign(0) = 0`).

use crate::Float;

/// `max(v, 0)`; NaN stays NaN, as in PyTorch, so that a NaN in the data is not hidden.
pub fn relu<A: Float>(v: A) -> A {
    if v > A::zero() || v.is_nan() {
        v
    } else {
        A::zero()
    }
}

/// The derivative of `relu`: `1` where `v > 0`, else `0`.
pub fn step<A: Float>(v: A) -> A {
    if v > A::zero() {
        A::one()
    } else {
        A::zero()
    }
}

/// `1 / (1 + e^-v)`.
pub fn sigmoid<A: Float>(v: A) -> A {
    A::one() / (A::one() + (-v).exp())
}

/// `ln(1 + e^v)`, computed as `max(v, 0) + ln(1 + e^-|v|)` so that no exponential
/// overflows: finite and exact to rounding for every finite `v`.
pub fn softplus<A: Float>(v: A) -> A {
    v.max(A::zero()) + (-v.abs()).exp().ln_1p()
}

/// `v` where `v > 0`, else `alpha * v`.
pub fn leaky_relu<A: Float>(v: A, alpha: A) -> A {
    if v > A::zero() {
        v
    } else {
        alpha * v
    }
}

/// The derivative of `leaky_relu`: `1` where `v > 0`, else `alpha`.
pub fn leaky_step<A: Float>(v: A, alpha: A) -> A {
    if v > A::zero() {
        A::one()
    } else {
        alpha
    }
}

/// The sign of `v`: `-1`, `0` or `1` (the derivative of `abs`).
pub fn sign<A: Float>(v: A) -> A {
    if v > A::zero() {
        A::one()
    } else if v < A::zero() {
        -A::one()
    } else {
        A::zero()
    }
}

/// `v^k`, by repeated multiplication when `k` is a small integer.
pub fn pow<A: Float>(v: A, k: f64) -> A {
    if k == k.trunc() && k.abs() <= 64.0 {
        v.powi(k as i32)
    } else {
        v.powf(A::cst(k))
    }
}

/// `max(v, lo)`, passing NaN through.
pub fn clamp_min<A: Float>(v: A, lo: A) -> A {
    if v < lo {
        lo
    } else {
        v
    }
}

/// The derivative of `clamp_min(v, lo)` with respect to `v`: `1` where `v > lo`, else `0`.
pub fn clamp_min_step<A: Float>(v: A, lo: A) -> A {
    if v > lo {
        A::one()
    } else {
        A::zero()
    }
}

/// `e^v`.
pub fn exp<A: Float>(v: A) -> A {
    v.exp()
}

/// The natural logarithm of `v`.
pub fn ln<A: Float>(v: A) -> A {
    v.ln()
}

/// The square root of `v`.
pub fn sqrt<A: Float>(v: A) -> A {
    v.sqrt()
}

/// `|v|`.
pub fn abs<A: Float>(v: A) -> A {
    v.abs()
}

/// The hyperbolic tangent of `v`.
pub fn tanh<A: Float>(v: A) -> A {
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
}
