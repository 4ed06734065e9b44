//! A model's tensors by name: what optimizers, savers and the training loop see of any
//! model `backprop::model!` generates.
//!
//! Every generated model implements [`Parameters`], and its gradients struct implements
//! [`Tensors`], both visiting in the order the model declares its parameters. A model with
//! one input and one target also implements [`Supervised`], which the training loop
//! ([`crate::train`]) drives.
//!
//! ```
//! use backprop_runtime::params::{Parameters, Tensors};
//! use ndarray::{array, Array1, ArrayViewD, ArrayViewMutD};
//!
//! // What the macro generates, written by hand for a model with one parameter `w`.
//! #[derive(Clone, Default)]
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
//! let line = Line { w: array![1.0, 2.0] };
//! assert_eq!(line.names(), ["w"]);
//! assert_eq!(line.numel(), 2);
//! ```

use ndarray::{Array, ArrayView, ArrayViewD, ArrayViewMutD, Axis, Dimension};

use crate::{Float, ShapeError};

/// Named tensors of one element type, visited in a fixed order: a model's parameters, or
/// its gradients.
pub trait Tensors<A: Float> {
    /// Calls `f` with each tensor's name and a view of it.
    fn visit(&self, f: &mut dyn FnMut(&'static str, ArrayViewD<'_, A>));

    /// Calls `f` with each tensor's name and a mutable view of it.
    fn visit_mut(&mut self, f: &mut dyn FnMut(&'static str, ArrayViewMutD<'_, A>));

    /// The tensors' names, in visiting order.
    fn names(&self) -> Vec<&'static str> {
        let mut names = Vec::new();
        self.visit(&mut |name, _| names.push(name));
        names
    }

    /// How many numbers the tensors hold together.
    fn numel(&self) -> usize {
        let mut n = 0;
        self.visit(&mut |_, t| n += t.len());
        n
    }

    /// The first tensor holding a NaN or an infinity: its name, the index of the first
    /// such element and the element.
    fn first_non_finite(&self) -> Option<NonFinite> {
        let mut found = None;
        self.visit(&mut |name, t| {
            // The plain pass first: this runs on every step of a training loop, and
            // indexing every element would cost more than the check.
            if found.is_some() || t.iter().all(|v| v.is_finite()) {
                return;
            }
            if let Some((index, v)) = t.indexed_iter().find(|(_, v)| !v.is_finite()) {
                found = Some(NonFinite {
                    tensor: name,
                    index: index.slice().to_vec(),
                    value: v.as_f64(),
                });
            }
        });
        found
    }
}

/// A non-finite element, as [`Tensors::first_non_finite`] finds it.
#[derive(Debug, Clone, PartialEq)]
pub struct NonFinite {
    /// The tensor's name.
    pub tensor: &'static str,
    /// The element's index.
    pub index: Vec<usize>,
    /// The element: NaN or an infinity.
    pub value: f64,
}

/// A model's trainable parameters, each with its gradient.
pub trait Parameters<A: Float>: Tensors<A> {
    /// The model's gradients, one tensor per parameter under the parameter's name.
    type Grads: Tensors<A> + Default + Clone;

    /// Calls `f` with each parameter's name, a mutable view of it and a view of its
    /// gradient in `grads`, which may have another shape: callers check.
    #[allow(clippy::type_complexity)]
    fn visit_with_grads(
        &mut self,
        grads: &Self::Grads,
        f: &mut dyn FnMut(&'static str, ArrayViewMutD<'_, A>, ArrayViewD<'_, A>),
    );

    /// `Ok` when every gradient in `grads` has its parameter's shape; otherwise a
    /// [`ShapeError`] naming the first that does not (`context` names the caller).
    ///
    /// # Errors
    ///
    /// [`ShapeError::Dims`] naming the gradient, its parameter's shape and its own.
    fn check_grads(&mut self, grads: &Self::Grads, context: &str) -> Result<(), ShapeError> {
        let mut result = Ok(());
        self.visit_with_grads(grads, &mut |name, p, g| {
            if result.is_ok() && p.shape() != g.shape() {
                result = Err(ShapeError::Dims {
                    context: context.to_string(),
                    tensor: format!("grads.{name}"),
                    expected: format!("{:?}", p.shape()),
                    actual: g.shape().to_vec(),
                    site: format!("the gradient of `{name}`"),
                });
            }
        });
        result
    }
}

/// A model with one input and one target, as the training loop takes it: its
/// allocation-free gradient, its loss and its output, over views.
///
/// `Label` is the target's element type: `A`, or `usize` for the class labels of
/// `cross_entropy`. Rows (axis 0) of the input and of the target are examples.
pub trait Supervised<A: Float>: Parameters<A> {
    /// The input's dimension.
    type Input: Dimension;
    /// The target's element type.
    type Label: Clone + Default;
    /// The target's dimension.
    type Target: Dimension;
    /// The output's dimension.
    type Output: Dimension;
    /// The buffers [`Supervised::grad_in`] reuses.
    type Workspace;

    /// An empty workspace.
    fn workspace(&self) -> Self::Workspace;

    /// The loss and the gradients, written into `ws`.
    ///
    /// # Errors
    ///
    /// [`ShapeError`] naming the tensor whose shape does not fit.
    fn grad_in<'w>(
        &self,
        ws: &'w mut Self::Workspace,
        x: ArrayView<'_, A, Self::Input>,
        y: ArrayView<'_, Self::Label, Self::Target>,
    ) -> Result<(A, &'w Self::Grads), ShapeError>;

    /// The loss.
    ///
    /// # Errors
    ///
    /// [`ShapeError`] naming the tensor whose shape does not fit.
    fn loss(
        &self,
        x: ArrayView<'_, A, Self::Input>,
        y: ArrayView<'_, Self::Label, Self::Target>,
    ) -> Result<A, ShapeError>;

    /// The output.
    ///
    /// # Errors
    ///
    /// [`ShapeError`] naming the tensor whose shape does not fit.
    fn forward(
        &self,
        x: ArrayView<'_, A, Self::Input>,
    ) -> Result<Array<A, Self::Output>, ShapeError>;
}

/// What a field of a generated model or of its gradients holds: an array, or, for a
/// scalar, one number of the element type. Optimizers, savers and the gradient checker see
/// either as an array (a scalar as a 0-d one) through [`Tensors`].
///
/// ```
/// use backprop_runtime::params::Field;
/// use ndarray::array;
///
/// let (mut w, mut s) = (array![1.0, 2.0], 0.5_f64);
/// assert_eq!(Field::<f64>::tensor(&w).shape(), &[2]);
/// assert_eq!(Field::<f64>::tensor(&s).shape(), &[] as &[usize]);
/// Field::<f64>::tensor_mut(&mut s).fill(3.0);
/// Field::<f64>::tensor_mut(&mut w)[[1]] = 4.0;
/// assert_eq!((s, w), (3.0, array![1.0, 4.0]));
/// ```
pub trait Field<A> {
    /// A view of the field, of its own rank.
    fn tensor(&self) -> ArrayViewD<'_, A>;

    /// A mutable view of the field, of its own rank.
    fn tensor_mut(&mut self) -> ArrayViewMutD<'_, A>;
}

impl<A, D: Dimension> Field<A> for Array<A, D> {
    fn tensor(&self) -> ArrayViewD<'_, A> {
        self.view().into_dyn()
    }

    fn tensor_mut(&mut self) -> ArrayViewMutD<'_, A> {
        self.view_mut().into_dyn()
    }
}

impl<A: Float> Field<A> for A {
    fn tensor(&self) -> ArrayViewD<'_, A> {
        ndarray::aview0(self).into_dyn()
    }

    fn tensor_mut(&mut self) -> ArrayViewMutD<'_, A> {
        // The one element of a one-element view, an index that is always in bounds.
        ndarray::aview_mut1(std::slice::from_mut(self))
            .index_axis_move(Axis(0), 0)
            .into_dyn()
    }
}

/// A name as the model writes it, without the `r#` of a raw identifier.
#[doc(hidden)]
pub fn field_name(name: &'static str) -> &'static str {
    name.strip_prefix("r#").unwrap_or(name)
}

/// [`Tensors`] on a model and on its gradients, and [`Parameters`] on the model, for the
/// parameter fields given in order: `tensors!(Mlp, MlpGrads; w1, b1, w2, b2)`. What the
/// code `backprop::model!` generates writes instead of the impls themselves.
#[doc(hidden)]
#[macro_export]
macro_rules! __tensors {
    ($model:ident, $grads:ident; $($field:ident),* $(,)?) => {
        $crate::__tensors!(@tensors $model; $($field),*);
        $crate::__tensors!(@tensors $grads; $($field),*);

        impl<A: $crate::Float> $crate::params::Parameters<A> for $model<A> {
            type Grads = $grads<A>;

            fn visit_with_grads(
                &mut self,
                _grads: &$grads<A>,
                _f: &mut dyn ::core::ops::FnMut(
                    &'static str,
                    $crate::__ndarray::ArrayViewMutD<'_, A>,
                    $crate::__ndarray::ArrayViewD<'_, A>,
                ),
            ) {
                $(_f(
                    $crate::params::field_name(::core::stringify!($field)),
                    $crate::params::Field::tensor_mut(&mut self.$field),
                    $crate::params::Field::tensor(&_grads.$field),
                );)*
            }
        }
    };
    (@tensors $ty:ident; $($field:ident),*) => {
        impl<A: $crate::Float> $crate::params::Tensors<A> for $ty<A> {
            fn visit(&self, _f: &mut dyn ::core::ops::FnMut(&'static str, $crate::__ndarray::ArrayViewD<'_, A>)) {
                $(_f(
                    $crate::params::field_name(::core::stringify!($field)),
                    $crate::params::Field::tensor(&self.$field),
                );)*
            }

            fn visit_mut(
                &mut self,
                _f: &mut dyn ::core::ops::FnMut(&'static str, $crate::__ndarray::ArrayViewMutD<'_, A>),
            ) {
                $(_f(
                    $crate::params::field_name(::core::stringify!($field)),
                    $crate::params::Field::tensor_mut(&mut self.$field),
                );)*
            }
        }
    };
}

/// [`Supervised`] on a model with one input and one target, through its own methods:
/// `supervised!(Mlp, MlpGrads, MlpWorkspace; Ix2, A, Ix2 => Ix2)` for the input's, the
/// label's, the target's and the output's types. What the code `backprop::model!`
/// generates writes instead of the impl itself.
#[doc(hidden)]
#[macro_export]
macro_rules! __supervised {
    ($model:ident, $grads:ident, $ws:ident; $input:ty, $label:ty, $target:ty => $output:ty) => {
        impl<A: $crate::Float> $crate::params::Supervised<A> for $model<A> {
            type Input = $input;
            type Label = $label;
            type Target = $target;
            type Output = $output;
            type Workspace = $ws<A>;

            fn workspace(&self) -> $ws<A> {
                $model::workspace(self)
            }

            fn grad_in<'w>(
                &self,
                ws: &'w mut $ws<A>,
                x: $crate::__ndarray::ArrayView<'_, A, $input>,
                y: $crate::__ndarray::ArrayView<'_, $label, $target>,
            ) -> ::core::result::Result<(A, &'w $grads<A>), $crate::ShapeError> {
                $model::grad_in(self, ws, x.view(), y.view())
            }

            fn loss(
                &self,
                x: $crate::__ndarray::ArrayView<'_, A, $input>,
                y: $crate::__ndarray::ArrayView<'_, $label, $target>,
            ) -> ::core::result::Result<A, $crate::ShapeError> {
                $model::loss(self, x.view(), y.view())
            }

            fn forward(
                &self,
                x: $crate::__ndarray::ArrayView<'_, A, $input>,
            ) -> ::core::result::Result<$crate::__ndarray::Array<A, $output>, $crate::ShapeError>
            {
                $model::forward(self, x)
            }
        }
    };
}
