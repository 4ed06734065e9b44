//! Optimizers over any model's [`Parameters`]: [`Sgd`], [`Adam`] and [`AdamW`], with the
//! update rules, defaults and order of operations of PyTorch's `torch.optim.SGD`, `Adam`
//! and `AdamW` (their single-tensor paths), so that an `f64` run follows PyTorch's to
//! round-off. Each operation rounds where PyTorch's portable CPU kernels round: with
//! those, SGD's parameters and Adam's moment estimates agree bit for bit (PyTorch's
//! AVX2/AVX-512 kernels fuse some multiply-adds, and its tensor `sqrt` is not always
//! correctly rounded, which moves the last bits).
//!
//! An optimizer keeps its state (momentum buffers, moment estimates, step counts) per
//! parameter name, creates it on the first [`Optimizer::step`] and reuses it afterwards:
//! steps after the first allocate nothing. A step is all-or-nothing: it checks every
//! gradient's shape and every state's shape before it changes anything.
//!
//! Hyper-parameters are `f64`, as PyTorch's are Python floats; each step derives its
//! scalars in `f64` and rounds them to the model's element type, as PyTorch does for an
//! `f32` tensor.
//!
//! ```
//! use backprop_runtime::optim::{Optimizer, Sgd};
//! use backprop_runtime::params::{Parameters, Tensors};
//! use ndarray::{array, Array1, ArrayViewD, ArrayViewMutD};
//!
//! // A model with one parameter `w`, as `backprop::model!` would generate it.
//! #[derive(Default, Clone)]
//! struct Line { w: Array1<f64> }
//! impl Tensors<f64> for Line {
//!     fn visit(&self, f: &mut dyn FnMut(&'static str, ArrayViewD<'_, f64>)) {
//!         f("w", self.w.view().into_dyn());
//!     }
//!     fn visit_mut(&mut self, f: &mut dyn FnMut(&'static str, ArrayViewMutD<'_, f64>)) {
//!         f("w", self.w.view_mut().into_dyn());
//!     }
//! }
//! impl Parameters<f64> for Line {
//!     type Grads = Line;
//!     fn visit_with_grads(
//!         &mut self,
//!         grads: &Line,
//!         f: &mut dyn FnMut(&'static str, ArrayViewMutD<'_, f64>, ArrayViewD<'_, f64>),
//!     ) {
//!         f("w", self.w.view_mut().into_dyn(), grads.w.view().into_dyn());
//!     }
//! }
//!
//! let mut line = Line { w: array![1.0, -2.0] };
//! let grads = Line { w: array![0.5, 0.25] };
//! let mut sgd = Sgd::new(0.1)?;
//! sgd.step(&mut line, &grads)?;
//! assert_eq!(line.w, array![1.0 - 0.1 * 0.5, -2.0 - 0.1 * 0.25]);
//!
//! // A gradient of the wrong shape changes nothing.
//! let wrong = Line { w: array![1.0] };
//! assert!(sgd.step(&mut line, &wrong).is_err());
//! assert_eq!(line.w, array![0.95, -2.025]);
//! # Ok::<(), backprop_runtime::optim::OptimError>(())
//! ```

use std::collections::BTreeMap;

use ndarray::{ArrayD, ArrayViewD, ArrayViewMutD, Zip};

use crate::params::Parameters;
use crate::{Float, ShapeError};

/// What an optimizer can refuse: a gradient or a state whose shape does not fit its
/// parameter (found before anything changes), or an invalid hyper-parameter.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum OptimError {
    /// A gradient whose shape is not its parameter's.
    #[error(transparent)]
    Shape(#[from] ShapeError),
    /// A state buffer whose shape is no longer its parameter's: the parameter was
    /// reshaped since the state was created. [`Optimizer::reset`] drops the state.
    #[error(
        "{context}: the optimizer's `{buffer}` for `{parameter}` is {actual:?} but the \
         parameter is {expected:?}; reset the optimizer after reshaping a parameter"
    )]
    State {
        /// The optimizer and method, as `Adam::step`.
        context: &'static str,
        /// The parameter's name.
        parameter: &'static str,
        /// The state buffer, as `exp_avg`.
        buffer: &'static str,
        /// The parameter's shape.
        expected: Vec<usize>,
        /// The buffer's shape.
        actual: Vec<usize>,
    },
    /// A hyper-parameter out of its range.
    #[error("{optimizer}: invalid {name} {value}: it must be {rule}")]
    HyperParameter {
        /// The optimizer, as `Sgd`.
        optimizer: &'static str,
        /// The hyper-parameter, as `lr` or `betas.0`.
        name: &'static str,
        /// The value given.
        value: f64,
        /// The range it must lie in, as `finite and >= 0`.
        rule: &'static str,
    },
    /// Nesterov momentum without momentum, or with dampening.
    #[error(
        "Sgd: Nesterov momentum requires a momentum > 0 and zero dampening, \
         got momentum {momentum} and dampening {dampening}"
    )]
    Nesterov {
        /// The momentum given.
        momentum: f64,
        /// The dampening given.
        dampening: f64,
    },
}

/// An optimizer: updates a model's parameters from their gradients.
pub trait Optimizer<A: Float> {
    /// One update of every parameter of `model` from its gradient in `grads`.
    ///
    /// All-or-nothing: every gradient's shape and every kept state's shape is checked
    /// before any parameter or state changes.
    ///
    /// # Errors
    ///
    /// [`OptimError::Shape`] naming the first gradient whose shape is not its
    /// parameter's; [`OptimError::State`] naming the first parameter whose kept state
    /// has another shape than the parameter now has.
    fn step<M: Parameters<A>>(&mut self, model: &mut M, grads: &M::Grads)
        -> Result<(), OptimError>;

    /// The learning rate the next step uses.
    fn lr(&self) -> f64;

    /// Sets the learning rate for the next steps (as a schedule does), keeping the state.
    ///
    /// # Errors
    ///
    /// [`OptimError::HyperParameter`] when `lr` is negative or not finite; the learning
    /// rate is then unchanged.
    fn set_lr(&mut self, lr: f64) -> Result<(), OptimError>;

    /// Drops every parameter's state, as a freshly built optimizer has none.
    fn reset(&mut self);
}

/// Checks that `value` satisfies `ok`, or names it.
fn require(
    optimizer: &'static str,
    name: &'static str,
    value: f64,
    rule: &'static str,
    ok: bool,
) -> Result<(), OptimError> {
    if ok {
        Ok(())
    } else {
        Err(OptimError::HyperParameter {
            optimizer,
            name,
            value,
            rule,
        })
    }
}

const NON_NEGATIVE: &str = "finite and >= 0";
const UNIT: &str = "in [0, 1)";

/// `value` is finite and at least 0 (NaN is not).
fn non_negative(value: f64) -> bool {
    value.is_finite() && value >= 0.0
}

/// What a step must know about a parameter's kept state to check it.
trait Buffers {
    /// The first buffer whose shape is not `shape`: its name and its shape.
    fn mismatch(&self, shape: &[usize]) -> Option<(&'static str, &[usize])>;
}

/// Checks every gradient, then every kept state, against its parameter.
fn check_all<A: Float, M: Parameters<A>, S: Buffers>(
    context: &'static str,
    model: &mut M,
    grads: &M::Grads,
    states: &BTreeMap<&'static str, S>,
) -> Result<(), OptimError> {
    model.check_grads(grads, context)?;
    let mut result = Ok(());
    model.visit(&mut |name, p| {
        if result.is_err() {
            return;
        }
        if let Some((buffer, actual)) = states.get(name).and_then(|s| s.mismatch(p.shape())) {
            result = Err(stale(context, name, buffer, p.shape(), actual));
        }
    });
    result
}

/// The error for the state `buffer` of the parameter `name`, whose shape `actual` is not
/// the parameter's shape `expected`.
fn stale(
    context: &'static str,
    name: &'static str,
    buffer: &'static str,
    expected: &[usize],
    actual: &[usize],
) -> OptimError {
    OptimError::State {
        context,
        parameter: name,
        buffer,
        expected: expected.to_vec(),
        actual: actual.to_vec(),
    }
}

/// The error for a parameter whose gradient changed shape between the checks and the
/// update, which a model whose visitors agree never does.
fn inconsistent(context: &'static str, name: &'static str, p: &[usize], g: &[usize]) -> OptimError {
    OptimError::Shape(ShapeError::Dims {
        context: context.to_string(),
        tensor: format!("grads.{name}"),
        expected: format!("{p:?}"),
        actual: g.to_vec(),
        site: format!("the gradient of `{name}`"),
    })
}

/// `buffer`'s name and shape when its shape is not `shape`.
fn differs<'a, A>(
    name: &'static str,
    buffer: &'a ArrayD<A>,
    shape: &[usize],
) -> Option<(&'static str, &'a [usize])> {
    (buffer.shape() != shape).then(|| (name, buffer.shape()))
}

// ---------------------------------------------------------------------------------------
// SGD
// ---------------------------------------------------------------------------------------

/// [`Sgd`]'s hyper-parameters; the default is `torch.optim.SGD`'s.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SgdConfig {
    /// The learning rate; default `1e-3`.
    pub lr: f64,
    /// The momentum factor; default `0` (no momentum, no state).
    pub momentum: f64,
    /// The dampening of the momentum; default `0`.
    pub dampening: f64,
    /// The L2 penalty added to the gradient; default `0`.
    pub weight_decay: f64,
    /// Nesterov momentum; default `false`.
    pub nesterov: bool,
}

impl Default for SgdConfig {
    fn default() -> Self {
        SgdConfig {
            lr: 1e-3,
            momentum: 0.0,
            dampening: 0.0,
            weight_decay: 0.0,
            nesterov: false,
        }
    }
}

impl SgdConfig {
    /// `Ok` when the hyper-parameters are valid: `lr`, `momentum` and `weight_decay`
    /// finite and `>= 0`, `dampening` finite, and Nesterov only with `momentum > 0` and
    /// `dampening == 0` (PyTorch's rules, and finite as well).
    ///
    /// # Errors
    ///
    /// [`OptimError::HyperParameter`] naming the first invalid one, or
    /// [`OptimError::Nesterov`].
    pub fn validate(&self) -> Result<(), OptimError> {
        require("Sgd", "lr", self.lr, NON_NEGATIVE, non_negative(self.lr))?;
        require(
            "Sgd",
            "momentum",
            self.momentum,
            NON_NEGATIVE,
            non_negative(self.momentum),
        )?;
        require(
            "Sgd",
            "dampening",
            self.dampening,
            "finite",
            self.dampening.is_finite(),
        )?;
        require(
            "Sgd",
            "weight_decay",
            self.weight_decay,
            NON_NEGATIVE,
            non_negative(self.weight_decay),
        )?;
        if self.nesterov && (self.momentum <= 0.0 || self.dampening != 0.0) {
            return Err(OptimError::Nesterov {
                momentum: self.momentum,
                dampening: self.dampening,
            });
        }
        Ok(())
    }
}

/// Stochastic gradient descent with optional momentum, dampening, Nesterov momentum and
/// weight decay, as `torch.optim.SGD` computes it. For each parameter `p` with gradient
/// `grad`:
///
/// ```text
/// g = grad + weight_decay * p                      (when weight_decay != 0)
/// buf = g                                          (first step, when momentum != 0)
/// buf = momentum * buf + (1 - dampening) * g       (later steps)
/// g = g + momentum * buf  if nesterov,  else  g = buf
/// p = p - lr * g
/// ```
///
/// ```
/// use backprop_runtime::optim::{Optimizer, Sgd, SgdConfig};
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
/// let mut line = Line { w: array![1.0] };
/// let grads = Line { w: array![1.0] };
/// let config = SgdConfig { lr: 0.5, momentum: 0.5, ..SgdConfig::default() };
/// let mut sgd = Sgd::with_config(config)?;
/// sgd.step(&mut line, &grads)?; // buf = 1;               w = 1 - 0.5 * 1
/// assert_eq!(line.w, array![0.5]);
/// sgd.step(&mut line, &grads)?; // buf = 0.5 * 1 + 1;     w = 0.5 - 0.5 * 1.5
/// assert_eq!(line.w, array![-0.25]);
/// assert_eq!(sgd.momentum_buffer("w").unwrap(), array![1.5].into_dyn().view());
///
/// // Torch's rules for the hyper-parameters.
/// let nesterov = SgdConfig { lr: 0.1, nesterov: true, ..SgdConfig::default() };
/// assert!(Sgd::<f64>::with_config(nesterov).is_err());
/// assert!(Sgd::<f64>::new(-0.1).is_err());
/// # Ok::<(), backprop_runtime::optim::OptimError>(())
/// ```
#[derive(Debug, Clone)]
pub struct Sgd<A: Float> {
    config: SgdConfig,
    /// Momentum buffers by parameter name; empty without momentum.
    buffers: BTreeMap<&'static str, ArrayD<A>>,
}

impl<A> Buffers for ArrayD<A> {
    fn mismatch(&self, shape: &[usize]) -> Option<(&'static str, &[usize])> {
        differs("momentum_buffer", self, shape)
    }
}

impl<A: Float> Sgd<A> {
    /// Plain SGD with learning rate `lr`: no momentum, no weight decay.
    ///
    /// # Errors
    ///
    /// [`OptimError::HyperParameter`] when `lr` is negative or not finite.
    pub fn new(lr: f64) -> Result<Self, OptimError> {
        Self::with_config(SgdConfig {
            lr,
            ..SgdConfig::default()
        })
    }

    /// An optimizer with these hyper-parameters and no state yet.
    ///
    /// # Errors
    ///
    /// As [`SgdConfig::validate`].
    pub fn with_config(config: SgdConfig) -> Result<Self, OptimError> {
        config.validate()?;
        Ok(Sgd {
            config,
            buffers: BTreeMap::new(),
        })
    }

    /// The hyper-parameters, with the current learning rate.
    pub fn config(&self) -> SgdConfig {
        self.config
    }

    /// The momentum buffer of the parameter `name`, once a step with momentum has
    /// created it.
    pub fn momentum_buffer(&self, name: &str) -> Option<ArrayViewD<'_, A>> {
        self.buffers.get(name).map(ArrayD::view)
    }
}

impl<A: Float> Optimizer<A> for Sgd<A> {
    fn step<M: Parameters<A>>(
        &mut self,
        model: &mut M,
        grads: &M::Grads,
    ) -> Result<(), OptimError> {
        const CONTEXT: &str = "Sgd::step";
        check_all(CONTEXT, model, grads, &self.buffers)?;
        let c = self.config;
        let decay = c.weight_decay != 0.0;
        let wd = A::cst(c.weight_decay);
        let momentum = A::cst(c.momentum);
        let keep = A::cst(1.0 - c.dampening);
        let neg_lr = A::cst(-c.lr);
        let buffers = &mut self.buffers;
        let mut result = Ok(());
        model.visit_with_grads(grads, &mut |name, p: ArrayViewMutD<'_, A>, g| {
            if p.shape() != g.shape() {
                result = Err(inconsistent(CONTEXT, name, p.shape(), g.shape()));
                return;
            }
            let decayed = |p: A, grad: A| if decay { grad + wd * p } else { grad };
            if c.momentum == 0.0 {
                Zip::from(p)
                    .and(&g)
                    .for_each(|p, &grad| *p = *p + neg_lr * decayed(*p, grad));
                return;
            }
            // The first step creates the buffer and sets it to the (decayed) gradient.
            let first = !buffers.contains_key(name);
            let buf = buffers
                .entry(name)
                .or_insert_with(|| ArrayD::zeros(p.raw_dim()));
            if let Some((buffer, actual)) = buf.mismatch(p.shape()) {
                result = Err(stale(CONTEXT, name, buffer, p.shape(), actual));
                return;
            }
            Zip::from(p).and(&g).and(buf).for_each(|p, &grad, b| {
                let d = decayed(*p, grad);
                *b = if first { d } else { *b * momentum + keep * d };
                let step = if c.nesterov { d + momentum * *b } else { *b };
                *p = *p + neg_lr * step;
            });
        });
        result
    }

    fn lr(&self) -> f64 {
        self.config.lr
    }

    fn set_lr(&mut self, lr: f64) -> Result<(), OptimError> {
        require("Sgd", "lr", lr, NON_NEGATIVE, non_negative(lr))?;
        self.config.lr = lr;
        Ok(())
    }

    fn reset(&mut self) {
        self.buffers.clear();
    }
}

// ---------------------------------------------------------------------------------------
// Adam and AdamW
// ---------------------------------------------------------------------------------------

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
        let states = &mut self.states;
        let mut result = Ok(());
        model.visit_with_grads(grads, &mut |name, p: ArrayViewMutD<'_, A>, g| {
            if p.shape() != g.shape() {
                result = Err(inconsistent(context, name, p.shape(), g.shape()));
                return;
            }
            let state = states.entry(name).or_insert_with(|| AdamState {
                step: 0,
                exp_avg: ArrayD::zeros(p.raw_dim()),
                exp_avg_sq: ArrayD::zeros(p.raw_dim()),
                max_exp_avg_sq: c.amsgrad.then(|| ArrayD::zeros(p.raw_dim())),
            });
            if let Some((buffer, actual)) = state.mismatch(p.shape()) {
                result = Err(stale(context, name, buffer, p.shape(), actual));
                return;
            }
            state.step += 1;
            // PyTorch's scalars, in f64 as Python computes them: `beta ** step` is `pow`.
            let t = state.step as f64;
            let bias_correction1 = 1.0 - beta1.powf(t);
            let bias_correction2 = 1.0 - beta2.powf(t);
            let neg_step_size = A::cst(-(c.lr / bias_correction1));
            let bias_correction2_sqrt = A::cst(bias_correction2.powf(0.5));
            let update = |p: &mut A, grad: A, m: &mut A, v: &mut A, vmax: Option<&mut A>| {
                let mut grad = grad;
                if decay {
                    if decoupled {
                        *p = *p * shrink;
                    } else {
                        grad = grad + wd * *p;
                    }
                }
                *m = lerp(*m, grad, w1);
                *v = *v * b2;
                *v = *v + w2 * grad * grad;
                let second = match vmax {
                    Some(vmax) => {
                        *vmax = maximum(*vmax, *v);
                        *vmax
                    }
                    None => *v,
                };
                let denom = second.sqrt() / bias_correction2_sqrt + eps;
                *p = *p + neg_step_size * *m / denom;
            };
            let AdamState {
                exp_avg,
                exp_avg_sq,
                max_exp_avg_sq,
                ..
            } = state;
            let zip = Zip::from(p).and(&g).and(exp_avg).and(exp_avg_sq);
            match max_exp_avg_sq {
                Some(vmax) => zip
                    .and(vmax)
                    .for_each(|p, &grad, m, v, vmax| update(p, grad, m, v, Some(vmax))),
                None => zip.for_each(|p, &grad, m, v| update(p, grad, m, v, None)),
            }
        });
        result
    }

    fn set_lr(&mut self, lr: f64) -> Result<(), OptimError> {
        require(self.name, "lr", lr, NON_NEGATIVE, non_negative(lr))?;
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
    /// As [`AdamConfig::validate`].
    pub fn with_config(config: AdamConfig) -> Result<Self, OptimError> {
        config.validate()?;
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
    /// As [`AdamWConfig::validate`].
    pub fn with_config(config: AdamWConfig) -> Result<Self, OptimError> {
        config.validate()?;
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
}
