//! Adam and AdamW, as `torch.optim.Adam` and `torch.optim.AdamW` compute them.

use std::collections::BTreeMap;

use ndarray::{ArrayD, ArrayViewD, ArrayViewMutD, Zip};

use super::{
    check_all, differs, inconsistent, non_finite, non_negative, representable, require, stale,
    Buffers, OptimError, Optimizer, NON_NEGATIVE, UNIT,
};
use crate::params::Parameters;
use crate::Float;

/// [`Adam`]'s hyper-parameters; the default is `torch.optim.Adam`'s.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AdamConfig {
    /// The learning rate; default `1e-3`.
    pub lr: f64,
    /// The decay rates of the first and second moment estimates; default `(0.9, 0.999)`.
    pub betas: (f64, f64),
    /// Added to the denominator; default `1e-8`.
    pub eps: f64,
    /// The L2 penalty added to the gradient; default `0`.
    pub weight_decay: f64,
    /// AMSGrad: divide by the largest second moment estimate so far; default `false`.
    pub amsgrad: bool,
}

impl Default for AdamConfig {
    fn default() -> Self {
        AdamConfig {
            lr: 1e-3,
            betas: (0.9, 0.999),
            eps: 1e-8,
            weight_decay: 0.0,
            amsgrad: false,
        }
    }
}

/// [`AdamW`]'s hyper-parameters; the default is `torch.optim.AdamW`'s, which differs
/// from [`AdamConfig`]'s in `weight_decay`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AdamWConfig {
    /// The learning rate; default `1e-3`.
    pub lr: f64,
    /// The decay rates of the first and second moment estimates; default `(0.9, 0.999)`.
    pub betas: (f64, f64),
    /// Added to the denominator; default `1e-8`.
    pub eps: f64,
    /// The decoupled weight decay: each step first scales the parameters by
    /// `1 - lr * weight_decay`; default `1e-2`.
    pub weight_decay: f64,
    /// AMSGrad: divide by the largest second moment estimate so far; default `false`.
    pub amsgrad: bool,
}

impl Default for AdamWConfig {
    fn default() -> Self {
        AdamWConfig {
            lr: 1e-3,
            betas: (0.9, 0.999),
            eps: 1e-8,
            weight_decay: 1e-2,
            amsgrad: false,
        }
    }
}

impl AdamConfig {
    /// `Ok` when the hyper-parameters are valid: `lr`, `eps` and `weight_decay` finite and
    /// `>= 0`, both betas in `[0, 1)` (PyTorch's rules, and finite as well).
    ///
    /// # Errors
    ///
    /// [`OptimError::HyperParameter`] naming the first invalid one.
    pub fn validate(&self) -> Result<(), OptimError> {
        validate_adam("Adam", self)
    }
}

impl AdamWConfig {
    /// `Ok` when the hyper-parameters are valid, by [`AdamConfig::validate`]'s rules.
    ///
    /// # Errors
    ///
    /// [`OptimError::HyperParameter`] naming the first invalid one.
    pub fn validate(&self) -> Result<(), OptimError> {
        validate_adam("AdamW", &self.as_adam())
    }

    /// The same numbers as an [`AdamConfig`].
    fn as_adam(&self) -> AdamConfig {
        AdamConfig {
            lr: self.lr,
            betas: self.betas,
            eps: self.eps,
            weight_decay: self.weight_decay,
            amsgrad: self.amsgrad,
        }
    }
}

/// [`validate_adam`], and each value finite in the model's element type `A`.
fn validate_for<A: Float>(optimizer: &'static str, c: &AdamConfig) -> Result<(), OptimError> {
    validate_adam(optimizer, c)?;
    representable::<A>(optimizer, "lr", c.lr)?;
    representable::<A>(optimizer, "eps", c.eps)?;
    representable::<A>(optimizer, "weight_decay", c.weight_decay)
}

fn validate_adam(optimizer: &'static str, c: &AdamConfig) -> Result<(), OptimError> {
    let unit = |b: f64| (0.0..1.0).contains(&b);
    require(optimizer, "lr", c.lr, NON_NEGATIVE, non_negative(c.lr))?;
    require(optimizer, "eps", c.eps, NON_NEGATIVE, non_negative(c.eps))?;
    require(optimizer, "betas.0", c.betas.0, UNIT, unit(c.betas.0))?;
    require(optimizer, "betas.1", c.betas.1, UNIT, unit(c.betas.1))?;
    require(
        optimizer,
        "weight_decay",
        c.weight_decay,
        NON_NEGATIVE,
        non_negative(c.weight_decay),
    )
}

/// One parameter's state in [`Adam`] or [`AdamW`].
#[derive(Debug, Clone)]
pub struct AdamState<A: Float> {
    step: u64,
    exp_avg: ArrayD<A>,
    exp_avg_sq: ArrayD<A>,
    max_exp_avg_sq: Option<ArrayD<A>>,
}

impl<A: Float> AdamState<A> {
    /// How many steps have updated the parameter.
    pub fn step(&self) -> u64 {
        self.step
    }

    /// The first moment estimate (PyTorch's `exp_avg`), not bias-corrected.
    pub fn exp_avg(&self) -> ArrayViewD<'_, A> {
        self.exp_avg.view()
    }

    /// The second moment estimate (PyTorch's `exp_avg_sq`), not bias-corrected.
    pub fn exp_avg_sq(&self) -> ArrayViewD<'_, A> {
        self.exp_avg_sq.view()
    }

    /// The largest second moment estimate so far (PyTorch's `max_exp_avg_sq`), with
    /// AMSGrad only.
    pub fn max_exp_avg_sq(&self) -> Option<ArrayViewD<'_, A>> {
        self.max_exp_avg_sq.as_ref().map(ArrayD::view)
    }
}

impl<A: Float> Buffers for AdamState<A> {
    fn mismatch(&self, shape: &[usize]) -> Option<(&'static str, &[usize])> {
        differs("exp_avg", &self.exp_avg, shape)
            .or_else(|| differs("exp_avg_sq", &self.exp_avg_sq, shape))
            .or_else(|| {
                self.max_exp_avg_sq
                    .as_ref()
                    .and_then(|m| differs("max_exp_avg_sq", m, shape))
            })
    }
}

/// `start + weight * (end - start)` as PyTorch's CPU `lerp` computes it: for a weight of
/// magnitude 0.5 or more it starts from `end` instead.
fn lerp<A: Float>(start: A, end: A, weight: A) -> A {
    if weight.abs() < A::cst(0.5) {
        start + weight * (end - start)
    } else {
        end - (end - start) * (A::one() - weight)
    }
}

/// `torch.maximum`: NaN when either is NaN.
fn maximum<A: Float>(a: A, b: A) -> A {
    if a.is_nan() || b.is_nan() {
        A::nan()
    } else if a > b {
        a
    } else {
        b
    }
}

/// Adam and AdamW: the same step, with the weight decay coupled or decoupled.
#[derive(Debug, Clone)]
struct AdamCore<A: Float> {
    config: AdamConfig,
    decoupled: bool,
    name: &'static str,
    context: &'static str,
    states: BTreeMap<&'static str, AdamState<A>>,
}

impl<A: Float> AdamCore<A> {
    fn step<M: Parameters<A>>(
        &mut self,
        model: &mut M,
        grads: &M::Grads,
    ) -> Result<(), OptimError> {
        let context = self.context;
        check_all(context, model, grads, &self.states)?;
        let c = self.config;
        let (beta1, beta2) = c.betas;
        let decay = c.weight_decay != 0.0;
        let decoupled = self.decoupled;
        let wd = A::cst(c.weight_decay);
        let shrink = A::cst(1.0 - c.lr * c.weight_decay);
        let w1 = A::cst(1.0 - beta1);
        let b2 = A::cst(beta2);
        let w2 = A::cst(1.0 - beta2);
        let eps = A::cst(c.eps);
        let amsgrad = c.amsgrad;
        // PyTorch's scalars of a parameter's `step`-th update, in f64 as Python computes
        // them: `beta ** step` is `pow`.
        let scalars = |step: u64| {
            let t = step as f64;
            let bias_correction1 = 1.0 - beta1.powf(t);
            let bias_correction2 = 1.0 - beta2.powf(t);
            (
                A::cst(-(c.lr / bias_correction1)),
                A::cst(bias_correction2.powf(0.5)),
            )
        };
        // The new parameter, moments and maximum of one element, from the old ones (the
        // maximum is 0 without AMSGrad).
        let next = |(neg_step_size, bias_correction2_sqrt): (A, A),
                    p: A,
                    grad: A,
                    m: A,
                    v: A,
                    vmax: A|
         -> [A; 4] {
            let (mut p, mut grad) = (p, grad);
            if decay {
                if decoupled {
                    p = p * shrink;
                } else {
                    grad = grad + wd * p;
                }
            }
            let m = lerp(m, grad, w1);
            let v = v * b2 + w2 * grad * grad;
            let (vmax, second) = if amsgrad {
                let vmax = maximum(vmax, v);
                (vmax, vmax)
            } else {
                (vmax, v)
            };
            let denom = second.sqrt() / bias_correction2_sqrt + eps;
            [p + neg_step_size * m / denom, m, v, vmax]
        };
        let finite = |n: [A; 4]| n.iter().fold(true, |ok, v| ok & v.is_finite());
        // Every new value is computed and checked before any is written.
        let states = &mut self.states;
        let mut refused = None;
        model.visit_with_grads(grads, &mut |name, p: ArrayViewMutD<'_, A>, g| {
            if refused.is_some() || p.shape() != g.shape() {
                return;
            }
            let state = states
                .get(name)
                .filter(|state| state.mismatch(p.shape()).is_none());
            let k = scalars(state.map_or(0, |state| state.step) + 1);
            let zero = A::zero();
            let ok = match state {
                None => Zip::from(&p).and(&g).fold(true, |ok, &p, &g| {
                    ok & finite(next(k, p, g, zero, zero, zero))
                }),
                Some(state) => {
                    let zip = Zip::from(&p)
                        .and(&g)
                        .and(&state.exp_avg)
                        .and(&state.exp_avg_sq);
                    match &state.max_exp_avg_sq {
                        Some(vmax) => zip.and(vmax).fold(true, |ok, &p, &g, &m, &v, &vmax| {
                            ok & finite(next(k, p, g, m, v, vmax))
                        }),
                        None => zip.fold(true, |ok, &p, &g, &m, &v| {
                            ok & finite(next(k, p, g, m, v, zero))
                        }),
                    }
                }
            };
            if ok {
                return;
            }
            refused = non_finite(context, name, p.shape(), |i| {
                let (m, v, vmax) = match state {
                    None => (zero, zero, zero),
                    Some(s) => (
                        s.exp_avg[i],
                        s.exp_avg_sq[i],
                        s.max_exp_avg_sq.as_ref().map_or(zero, |vmax| vmax[i]),
                    ),
                };
                let [p, m, v, vmax] = next(k, p[i], g[i], m, v, vmax);
                [
                    (None, p),
                    (Some("exp_avg"), m),
                    (Some("exp_avg_sq"), v),
                    (Some("max_exp_avg_sq"), vmax),
                ]
            });
        });
        if let Some(e) = refused {
            return Err(e);
        }
        let mut result = Ok(());
        model.visit_with_grads(grads, &mut |name, p: ArrayViewMutD<'_, A>, g| {
            if result.is_err() {
                return;
            }
            if p.shape() != g.shape() {
                result = Err(inconsistent(context, name, p.shape(), g.shape()));
                return;
            }
            let state = states.entry(name).or_insert_with(|| AdamState {
                step: 0,
                exp_avg: ArrayD::zeros(p.raw_dim()),
                exp_avg_sq: ArrayD::zeros(p.raw_dim()),
                max_exp_avg_sq: amsgrad.then(|| ArrayD::zeros(p.raw_dim())),
            });
            if let Some((buffer, actual)) = state.mismatch(p.shape()) {
                result = Err(stale(context, name, buffer, p.shape(), actual));
                return;
            }
            state.step += 1;
            let k = scalars(state.step);
            let AdamState {
                exp_avg,
                exp_avg_sq,
                max_exp_avg_sq,
                ..
            } = state;
            let zip = Zip::from(p).and(&g).and(exp_avg).and(exp_avg_sq);
            match max_exp_avg_sq {
                Some(vmax) => zip.and(vmax).for_each(|p, &grad, m, v, vmax| {
                    [*p, *m, *v, *vmax] = next(k, *p, grad, *m, *v, *vmax);
                }),
                None => zip.for_each(|p, &grad, m, v| {
                    let [np, nm, nv, _] = next(k, *p, grad, *m, *v, A::zero());
                    (*p, *m, *v) = (np, nm, nv);
                }),
            }
        });
        result
    }

    fn set_lr(&mut self, lr: f64) -> Result<(), OptimError> {
        require(self.name, "lr", lr, NON_NEGATIVE, non_negative(lr))?;
        representable::<A>(self.name, "lr", lr)?;
        self.config.lr = lr;
        Ok(())
    }
}

/// Adam, as `torch.optim.Adam` computes it, with optional L2 weight decay and AMSGrad.
/// For each parameter `p` with gradient `grad`, at its `step`-th update (from 1):
///
/// ```text
/// g = grad + weight_decay * p                           (when weight_decay != 0)
/// m = lerp(m, g, 1 - beta1)                             (m starts at 0)
/// v = beta2 * v + (1 - beta2) * g * g                   (v starts at 0)
/// v_max = max(v_max, v)                                 (AMSGrad; then v_max replaces v)
/// denom = sqrt(v) / sqrt(1 - beta2^step) + eps
/// p = p - lr / (1 - beta1^step) * m / denom
/// ```
///
/// ```
/// use backprop_runtime::optim::{Adam, AdamConfig, Optimizer};
/// # use backprop_runtime::params::{Parameters, Tensors};
/// # use ndarray::{array, Array1, ArrayViewD, ArrayViewMutD};
/// # #[derive(Default, Clone)]
/// # struct Line { w: Array1<f64> }
/// # impl Tensors<f64> for Line {
/// #     fn visit(&self, f: &mut dyn FnMut(&'static str, ArrayViewD<'_, f64>)) {
/// #         f("w", self.w.view().into_dyn());
/// #     }
/// #     fn visit_mut(&mut self, f: &mut dyn FnMut(&'static str, ArrayViewMutD<'_, f64>)) {
/// #         f("w", self.w.view_mut().into_dyn());
/// #     }
/// # }
/// # impl Parameters<f64> for Line {
/// #     type Grads = Line;
/// #     fn visit_with_grads(
/// #         &mut self,
/// #         grads: &Line,
/// #         f: &mut dyn FnMut(&'static str, ArrayViewMutD<'_, f64>, ArrayViewD<'_, f64>),
/// #     ) {
/// #         f("w", self.w.view_mut().into_dyn(), grads.w.view().into_dyn());
/// #     }
/// # }
/// // `Line` is a model with one parameter `w` (its trait impls are hidden here).
/// let mut line = Line { w: array![1.0, 1.0] };
/// let grads = Line { w: array![4.0, -0.01] };
/// let mut adam = Adam::new(0.1)?;
/// adam.step(&mut line, &grads)?;
/// // The first step moves each parameter by about lr, against its gradient's sign.
/// assert!((line.w[0] - 0.9).abs() < 1e-8 && (line.w[1] - 1.1).abs() < 1e-6);
/// assert_eq!(adam.state("w").unwrap().step(), 1);
///
/// // A learning-rate schedule.
/// adam.set_lr(adam.lr() * 0.5)?;
/// assert_eq!(adam.lr(), 0.05);
///
/// // Other hyper-parameters, checked by torch's rules.
/// let amsgrad = AdamConfig { lr: 0.1, amsgrad: true, ..AdamConfig::default() };
/// assert!(Adam::<f64>::with_config(amsgrad).is_ok());
/// let beta = AdamConfig { betas: (0.9, 1.0), ..AdamConfig::default() };
/// assert!(Adam::<f64>::with_config(beta).is_err());
/// # Ok::<(), backprop_runtime::optim::OptimError>(())
/// ```
#[derive(Debug, Clone)]
pub struct Adam<A: Float>(AdamCore<A>);

impl<A: Float> Adam<A> {
    /// Adam with learning rate `lr` and otherwise `torch.optim.Adam`'s defaults.
    ///
    /// # Errors
    ///
    /// [`OptimError::HyperParameter`] when `lr` is negative or not finite.
    pub fn new(lr: f64) -> Result<Self, OptimError> {
        Self::with_config(AdamConfig {
            lr,
            ..AdamConfig::default()
        })
    }

    /// An optimizer with these hyper-parameters and no state yet.
    ///
    /// # Errors
    ///
    /// As [`AdamConfig::validate`], and [`OptimError::HyperParameter`] for a value that
    /// is not finite in the model's element type (`1e39` for an `f32` model).
    pub fn with_config(config: AdamConfig) -> Result<Self, OptimError> {
        validate_for::<A>("Adam", &config)?;
        Ok(Adam(AdamCore {
            config,
            decoupled: false,
            name: "Adam",
            context: "Adam::step",
            states: BTreeMap::new(),
        }))
    }

    /// The hyper-parameters, with the current learning rate.
    pub fn config(&self) -> AdamConfig {
        self.0.config
    }

    /// The state of the parameter `name`, once a step has created it.
    pub fn state(&self, name: &str) -> Option<&AdamState<A>> {
        self.0.states.get(name)
    }
}

impl<A: Float> Optimizer<A> for Adam<A> {
    fn step<M: Parameters<A>>(
        &mut self,
        model: &mut M,
        grads: &M::Grads,
    ) -> Result<(), OptimError> {
        self.0.step(model, grads)
    }

    fn lr(&self) -> f64 {
        self.0.config.lr
    }

    fn set_lr(&mut self, lr: f64) -> Result<(), OptimError> {
        self.0.set_lr(lr)
    }

    fn reset(&mut self) {
        self.0.states.clear();
    }

    fn checks_finite(&self) -> bool {
        true
    }
}

/// Adam with decoupled weight decay, as `torch.optim.AdamW` computes it: each step first
/// scales every parameter by `1 - lr * weight_decay`, then takes [`Adam`]'s step without
/// weight decay.
///
/// ```
/// use backprop_runtime::optim::{AdamW, AdamWConfig, Optimizer};
/// # use backprop_runtime::params::{Parameters, Tensors};
/// # use ndarray::{array, Array1, ArrayViewD, ArrayViewMutD};
/// # #[derive(Default, Clone)]
/// # struct Line { w: Array1<f64> }
/// # impl Tensors<f64> for Line {
/// #     fn visit(&self, f: &mut dyn FnMut(&'static str, ArrayViewD<'_, f64>)) {
/// #         f("w", self.w.view().into_dyn());
/// #     }
/// #     fn visit_mut(&mut self, f: &mut dyn FnMut(&'static str, ArrayViewMutD<'_, f64>)) {
/// #         f("w", self.w.view_mut().into_dyn());
/// #     }
/// # }
/// # impl Parameters<f64> for Line {
/// #     type Grads = Line;
/// #     fn visit_with_grads(
/// #         &mut self,
/// #         grads: &Line,
/// #         f: &mut dyn FnMut(&'static str, ArrayViewMutD<'_, f64>, ArrayViewD<'_, f64>),
/// #     ) {
/// #         f("w", self.w.view_mut().into_dyn(), grads.w.view().into_dyn());
/// #     }
/// # }
/// // `Line` is a model with one parameter `w` (its trait impls are hidden here).
/// let mut line = Line { w: array![2.0] };
/// let grads = Line { w: array![0.0] };
/// let config = AdamWConfig { lr: 0.1, weight_decay: 0.5, ..AdamWConfig::default() };
/// let mut adamw = AdamW::with_config(config)?;
/// adamw.step(&mut line, &grads)?;
/// // A zero gradient leaves only the decay: w = 2 * (1 - 0.1 * 0.5).
/// assert_eq!(line.w, array![1.9]);
/// assert_eq!(AdamWConfig::default().weight_decay, 1e-2);
/// # Ok::<(), backprop_runtime::optim::OptimError>(())
/// ```
#[derive(Debug, Clone)]
pub struct AdamW<A: Float>(AdamCore<A>);

impl<A: Float> AdamW<A> {
    /// AdamW with learning rate `lr` and otherwise `torch.optim.AdamW`'s defaults
    /// (weight decay `1e-2`).
    ///
    /// # Errors
    ///
    /// [`OptimError::HyperParameter`] when `lr` is negative or not finite.
    pub fn new(lr: f64) -> Result<Self, OptimError> {
        Self::with_config(AdamWConfig {
            lr,
            ..AdamWConfig::default()
        })
    }

    /// An optimizer with these hyper-parameters and no state yet.
    ///
    /// # Errors
    ///
    /// As [`AdamWConfig::validate`], and [`OptimError::HyperParameter`] for a value that
    /// is not finite in the model's element type (`1e39` for an `f32` model).
    pub fn with_config(config: AdamWConfig) -> Result<Self, OptimError> {
        validate_for::<A>("AdamW", &config.as_adam())?;
        Ok(AdamW(AdamCore {
            config: config.as_adam(),
            decoupled: true,
            name: "AdamW",
            context: "AdamW::step",
            states: BTreeMap::new(),
        }))
    }

    /// The hyper-parameters, with the current learning rate.
    pub fn config(&self) -> AdamWConfig {
        let c = &self.0.config;
        AdamWConfig {
            lr: c.lr,
            betas: c.betas,
            eps: c.eps,
            weight_decay: c.weight_decay,
            amsgrad: c.amsgrad,
        }
    }

    /// The state of the parameter `name`, once a step has created it.
    pub fn state(&self, name: &str) -> Option<&AdamState<A>> {
        self.0.states.get(name)
    }
}

impl<A: Float> Optimizer<A> for AdamW<A> {
    fn step<M: Parameters<A>>(
        &mut self,
        model: &mut M,
        grads: &M::Grads,
    ) -> Result<(), OptimError> {
        self.0.step(model, grads)
    }

    fn lr(&self) -> f64 {
        self.0.config.lr
    }

    fn set_lr(&mut self, lr: f64) -> Result<(), OptimError> {
        self.0.set_lr(lr)
    }

    fn reset(&mut self) {
        self.0.states.clear();
    }

    fn checks_finite(&self) -> bool {
        true
    }
}
