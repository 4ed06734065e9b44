//! Central finite differences, for checking any gradient: a generated model's, or one
//! derived by hand.

use ndarray::{Array, Dimension};

use crate::{Float, ShapeError};

/// The gradient of `f` at `at` by central differences with step `eps`:
/// `(f(x + eps e_i) - f(x - eps e_i)) / (2 eps)` for every element `i`.
///
/// ```
/// use backprop_runtime::numeric_gradient;
/// let x = ndarray::array![1.0, -2.0];
/// let g = numeric_gradient(|v| v.mapv(|e: f64| e * e).sum(), &x, 1e-6);
/// assert!((g[0] - 2.0).abs() < 1e-6 && (g[1] + 4.0).abs() < 1e-6);
/// ```
pub fn numeric_gradient<A: Float, D: Dimension>(
    mut f: impl FnMut(&Array<A, D>) -> A,
    at: &Array<A, D>,
    eps: f64,
) -> Array<A, D> {
    let mut x = at.to_owned();
    let h = A::cst(eps);
    let mut values = Vec::with_capacity(at.len());
    for i in 0..at.len() {
        let orig = x.iter().nth(i).copied().unwrap_or_else(A::zero);
        set(&mut x, i, orig + h);
        let up = f(&x);
        set(&mut x, i, orig - h);
        let down = f(&x);
        set(&mut x, i, orig);
        values.push((up - down) / (h + h));
    }
    let mut grad = Array::zeros(at.raw_dim());
    for (g, v) in grad.iter_mut().zip(values) {
        *g = v;
    }
    grad
}

/// Tolerances for comparing an analytic gradient with finite differences: an element
/// passes when `|analytic - numeric| <= atol + rtol * max(|analytic|, |numeric|)`.
///
/// ```
/// use backprop_runtime::GradCheck;
/// let x = ndarray::array![[0.5, -1.5]];
/// let f = |v: &ndarray::Array2<f64>| v.mapv(f64::sin).sum();
/// let analytic = x.mapv(f64::cos);
/// let report = GradCheck::default().check(f, &x, &analytic).unwrap();
/// assert!(report.passed, "{report:?}");
/// let wrong = -analytic;
/// assert!(!GradCheck::default().check(f, &x, &wrong).unwrap().passed);
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GradCheck {
    /// The finite-difference step.
    pub eps: f64,
    /// Relative tolerance.
    pub rtol: f64,
    /// Absolute tolerance.
    pub atol: f64,
}

impl Default for GradCheck {
    /// Settings for `f64`: step `1e-6`, `rtol` `1e-5`, `atol` `1e-8`.
    fn default() -> Self {
        Self {
            eps: 1e-6,
            rtol: 1e-5,
            atol: 1e-8,
        }
    }
}

/// The outcome of a [`GradCheck`].
#[derive(Debug, Clone, PartialEq)]
pub struct GradReport {
    /// Whether every element is within tolerance.
    pub passed: bool,
    /// The largest `|analytic - numeric|`.
    pub max_abs_err: f64,
    /// The flat (row-major) index of the element furthest outside tolerance, or of the
    /// largest error when all pass.
    pub worst: usize,
    /// The finite-difference gradient, row-major.
    pub numeric: Vec<f64>,
}

impl GradCheck {
    /// Compares `analytic` with the finite-difference gradient of `f` at `at`.
    ///
    /// # Errors
    /// [`ShapeError::Operands`] when `analytic` and `at` differ in shape.
    pub fn check<A: Float, D: Dimension>(
        &self,
        f: impl FnMut(&Array<A, D>) -> A,
        at: &Array<A, D>,
        analytic: &Array<A, D>,
    ) -> Result<GradReport, ShapeError> {
        if at.shape() != analytic.shape() {
            return Err(ShapeError::Operands {
                op: "gradcheck",
                lhs: at.shape().to_vec(),
                rhs: analytic.shape().to_vec(),
            });
        }
        let numeric = numeric_gradient(f, at, self.eps);
        let mut report = GradReport {
            passed: true,
            max_abs_err: 0.0,
            worst: 0,
            numeric: numeric.iter().map(|v| v.as_f64()).collect(),
        };
        let mut worst_excess = f64::NEG_INFINITY;
        for (i, (a, n)) in analytic.iter().zip(&report.numeric).enumerate() {
            let a = a.as_f64();
            let err = (a - n).abs();
            let excess = err - (self.atol + self.rtol * a.abs().max(n.abs()));
            report.max_abs_err = report.max_abs_err.max(err);
            if excess > 0.0 || excess.is_nan() {
                report.passed = false;
            }
            if excess > worst_excess || excess.is_nan() {
                worst_excess = excess;
                report.worst = i;
            }
        }
        Ok(report)
    }
}

fn set<A: Float, D: Dimension>(x: &mut Array<A, D>, i: usize, v: A) {
    if let Some(e) = x.iter_mut().nth(i) {
        *e = v;
    }
}
