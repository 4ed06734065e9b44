//! Stochastic gradient descent, as `torch.optim.SGD` computes it.

use std::collections::BTreeMap;

use ndarray::{ArrayD, ArrayViewD, ArrayViewMutD, Zip};

use super::{
    check_all, differs, inconsistent, non_negative, require, stale, Buffers, OptimError, Optimizer,
    NON_NEGATIVE,
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
