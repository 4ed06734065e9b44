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

use ndarray::{ArrayD, Dimension};

use crate::params::Parameters;
use crate::{Float, ShapeError};

mod adam;
mod sgd;

pub use adam::{Adam, AdamConfig, AdamState, AdamW, AdamWConfig};
pub use sgd::{Sgd, SgdConfig};

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
    /// An update that would make a parameter, or the state the optimizer keeps for it,
    /// NaN or infinite: found before anything changed, so the model and the optimizer
    /// are as they were before the step.
    #[error(
        "{context}: the update would make {} {value} at {index:?}; nothing was changed; \
         check the learning rate, the gradients' scale and eps",
        what(parameter, *buffer)
    )]
    NonFinite {
        /// The optimizer and method, as `Adam::step`.
        context: &'static str,
        /// The parameter's name.
        parameter: &'static str,
        /// The state buffer, as `exp_avg_sq`, when it is not the parameter itself.
        buffer: Option<&'static str>,
        /// The index of the first such element.
        index: Vec<usize>,
        /// The value it would have had.
        value: f64,
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

    /// Whether [`Optimizer::step`] refuses an update that would make a parameter NaN or
    /// infinite, changing nothing ([`OptimError::NonFinite`]), as every optimizer of this
    /// module does. When false (the default), a training loop checks the parameters
    /// after every step.
    fn checks_finite(&self) -> bool {
        false
    }
}

/// `` `w` `` or `` `w`'s `exp_avg` ``, for messages.
fn what(parameter: &str, buffer: Option<&str>) -> String {
    match buffer {
        Some(buffer) => format!("`{parameter}`'s `{buffer}`"),
        None => format!("`{parameter}`"),
    }
}

/// The error for the first element, in index order, of a tensor of `shape` whose new
/// values are not all finite; `at` gives the new values at an index, each with the
/// buffer it goes to (`None` for the parameter).
fn non_finite<A: Float, const K: usize>(
    context: &'static str,
    parameter: &'static str,
    shape: &[usize],
    at: impl Fn(&[usize]) -> [(Option<&'static str>, A); K],
) -> Option<OptimError> {
    ndarray::indices(ndarray::IxDyn(shape))
        .into_iter()
        .find_map(|index: ndarray::IxDyn| {
            let index = index.slice();
            let (buffer, value) = at(index).into_iter().find(|(_, v)| !v.is_finite())?;
            Some(OptimError::NonFinite {
                context,
                parameter,
                buffer,
                index: index.to_vec(),
                value: value.as_f64(),
            })
        })
}

/// Checks that `value`, valid as an `f64`, is finite in the model's element type `A`
/// (an `f32` holds at most about 3.4e38).
fn representable<A: Float>(
    optimizer: &'static str,
    name: &'static str,
    value: f64,
) -> Result<(), OptimError> {
    require(
        optimizer,
        name,
        value,
        "finite in the model's element type (an f32 is at most 3.4028235e38)",
        A::cst(value).is_finite(),
    )
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
