//! Stochastic gradient descent, as `torch.optim.SGD` computes it.

use std::collections::BTreeMap;

use ndarray::{ArrayD, ArrayViewD, ArrayViewMutD, Zip};

use super::{
    check_all, differs, inconsistent, non_finite, non_negative, representable, require, stale,
    Buffers, OptimError, Optimizer, NON_NEGATIVE,
};
use crate::params::Parameters;
use crate::Float;

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
    /// As [`SgdConfig::validate`], and [`OptimError::HyperParameter`] for a value that is
    /// not finite in the model's element type (`1e39` for an `f32` model).
    pub fn with_config(config: SgdConfig) -> Result<Self, OptimError> {
        config.validate()?;
        representable::<A>("Sgd", "lr", config.lr)?;
        representable::<A>("Sgd", "momentum", config.momentum)?;
        representable::<A>("Sgd", "dampening", config.dampening)?;
        representable::<A>("Sgd", "weight_decay", config.weight_decay)?;
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
        // The new parameter and momentum buffer of one element; a first step (no buffer
        // yet) sets the buffer to the (decayed) gradient.
        let next = |p: A, grad: A, b: Option<A>| -> (A, A) {
            let d = if decay { grad + wd * p } else { grad };
            if c.momentum == 0.0 {
                return (p + neg_lr * d, A::zero());
            }
            let b = match b {
                None => d,
                Some(b) => b * momentum + keep * d,
            };
            let step = if c.nesterov { d + momentum * b } else { b };
            (p + neg_lr * step, b)
        };
        let finite = |(p, b): (A, A)| p.is_finite() & b.is_finite();
        // Every new value is computed and checked before any is written.
        let buffers = &mut self.buffers;
        let mut refused = None;
        model.visit_with_grads(grads, &mut |name, p: ArrayViewMutD<'_, A>, g| {
            if refused.is_some() || p.shape() != g.shape() {
                return;
            }
            let buf = buffers.get(name).filter(|b| b.shape() == p.shape());
            let ok = match buf {
                Some(buf) => Zip::from(&p)
                    .and(&g)
                    .and(buf)
                    .fold(true, |ok, &p, &g, &b| ok & finite(next(p, g, Some(b)))),
                None => Zip::from(&p)
                    .and(&g)
                    .fold(true, |ok, &p, &g| ok & finite(next(p, g, None))),
            };
            if ok {
                return;
            }
            refused = non_finite(CONTEXT, name, p.shape(), |i| {
                let (p, b) = next(p[i], g[i], buf.map(|b| b[i]));
                [(None, p), (Some("momentum_buffer"), b)]
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
                result = Err(inconsistent(CONTEXT, name, p.shape(), g.shape()));
                return;
            }
            if c.momentum == 0.0 {
                Zip::from(p)
                    .and(&g)
                    .for_each(|p, &grad| *p = next(*p, grad, None).0);
                return;
            }
            let first = !buffers.contains_key(name);
            let buf = buffers
                .entry(name)
                .or_insert_with(|| ArrayD::zeros(p.raw_dim()));
            if let Some((buffer, actual)) = buf.mismatch(p.shape()) {
                result = Err(stale(CONTEXT, name, buffer, p.shape(), actual));
                return;
            }
            Zip::from(p).and(&g).and(buf).for_each(|p, &grad, b| {
                (*p, *b) = next(*p, grad, (!first).then_some(*b));
            });
        });
        result
    }

    fn lr(&self) -> f64 {
        self.config.lr
    }

    fn set_lr(&mut self, lr: f64) -> Result<(), OptimError> {
        require("Sgd", "lr", lr, NON_NEGATIVE, non_negative(lr))?;
        representable::<A>("Sgd", "lr", lr)?;
        self.config.lr = lr;
        Ok(())
    }

    fn reset(&mut self) {
        self.buffers.clear();
    }

    fn checks_finite(&self) -> bool {
        true
    }
}
