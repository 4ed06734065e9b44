//! Central finite differences, for checking any gradient: a generated model's, or one
//! derived by hand.

use ndarray::{Array, Dimension};

use crate::params::Parameters;
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
        let numeric: Vec<f64> = numeric.iter().map(|v| v.as_f64()).collect();
        Ok(self.report(analytic.iter().map(|a| a.as_f64()), numeric))
    }

    /// Checks the gradient of `loss` with respect to every parameter of `model`, found by
    /// name as optimizers and savers find them, a scalar parameter among them: each
    /// element is moved by `±eps` in a copy of the model. Returns each parameter's name
    /// and report, in the model's order.
    ///
    /// ```
    /// use backprop_runtime::GradCheck;
    /// use backprop_runtime::params::{Parameters, Tensors};
    /// # use ndarray::{ArrayViewD, ArrayViewMutD};
    /// # use backprop_runtime::params::Field;
    /// // A model with one vector `w` and one scalar `s`, written as `model!` writes it:
    /// // loss = s * sum(w^2).
    /// #[derive(Clone, Default)]
    /// struct Scaled { w: ndarray::Array1<f64>, s: f64 }
    /// impl Tensors<f64> for Scaled {
    ///     fn visit(&self, f: &mut dyn FnMut(&'static str, ArrayViewD<'_, f64>)) {
    ///         f("w", self.w.tensor());
    ///         f("s", self.s.tensor());
    ///     }
    ///     fn visit_mut(&mut self, f: &mut dyn FnMut(&'static str, ArrayViewMutD<'_, f64>)) {
    ///         f("w", self.w.tensor_mut());
    ///         f("s", self.s.tensor_mut());
    ///     }
    /// }
    /// impl Parameters<f64> for Scaled {
    ///     type Grads = Scaled;
    ///     fn visit_with_grads(
    ///         &mut self,
    ///         g: &Scaled,
    ///         f: &mut dyn FnMut(&'static str, ArrayViewMutD<'_, f64>, ArrayViewD<'_, f64>),
    ///     ) {
    ///         f("w", self.w.tensor_mut(), g.w.tensor());
    ///         f("s", self.s.tensor_mut(), g.s.tensor());
    ///     }
    /// }
    /// let m = Scaled { w: ndarray::array![1.0, -2.0], s: 0.5 };
    /// let loss = |m: &Scaled| m.s * m.w.mapv(|v| v * v).sum();
    /// let grads = Scaled { w: &m.w * 2.0 * m.s, s: m.w.mapv(|v| v * v).sum() };
    /// let reports = GradCheck::default().check_params(&m, loss, &grads)?;
    /// assert_eq!(reports.iter().map(|(n, _)| *n).collect::<Vec<_>>(), ["w", "s"]);
    /// assert!(reports.iter().all(|(_, r)| r.passed));
    /// # Ok::<(), backprop_runtime::ShapeError>(())
    /// ```
    ///
    /// # Errors
    /// [`ShapeError::Dims`] when a gradient in `grads` does not have its parameter's
    /// shape.
    pub fn check_params<A: Float, M: Parameters<A> + Clone>(
        &self,
        model: &M,
        mut loss: impl FnMut(&M) -> A,
        grads: &M::Grads,
    ) -> Result<Vec<(&'static str, GradReport)>, ShapeError> {
        let mut probe = model.clone();
        probe.check_grads(grads, "GradCheck::check_params")?;
        let mut analytic: Vec<Vec<f64>> = Vec::new();
        probe.visit_with_grads(grads, &mut |_, _, g| {
            analytic.push(g.iter().map(|v| v.as_f64()).collect());
        });
        let h = A::cst(self.eps);
        // Element `i` of the `k`-th parameter of `probe` moved to `v`, returning what it was.
        let set = |probe: &mut M, k: usize, i: usize, v: Option<A>| {
            let (mut at, mut old) = (0, A::zero());
            probe.visit_mut(&mut |_, mut t| {
                if at == k {
                    if let Some(e) = t.iter_mut().nth(i) {
                        old = *e;
                        *e = v.unwrap_or(old);
                    }
                }
                at += 1;
            });
            old
        };
        let mut reports = Vec::new();
        for (k, (name, want)) in model.names().into_iter().zip(analytic).enumerate() {
            let mut numeric = Vec::with_capacity(want.len());
            for i in 0..want.len() {
                let orig = set(&mut probe, k, i, None);
                set(&mut probe, k, i, Some(orig + h));
                let up = loss(&probe);
                set(&mut probe, k, i, Some(orig - h));
                let down = loss(&probe);
                set(&mut probe, k, i, Some(orig));
                numeric.push(((up - down) / (h + h)).as_f64());
            }
            reports.push((name, self.report(want.into_iter(), numeric)));
        }
        Ok(reports)
    }

    /// The report of `analytic` against `numeric`, element by element.
    fn report(&self, analytic: impl Iterator<Item = f64>, numeric: Vec<f64>) -> GradReport {
        let mut report = GradReport {
            passed: true,
            max_abs_err: 0.0,
            worst: 0,
            numeric,
        };
        let mut worst_excess = f64::NEG_INFINITY;
        for (i, (a, n)) in analytic.zip(&report.numeric).enumerate() {
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
        report
    }
}

fn set<A: Float, D: Dimension>(x: &mut Array<A, D>, i: usize, v: A) {
    if let Some(e) = x.iter_mut().nth(i) {
        *e = v;
    }
}
