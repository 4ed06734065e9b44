//! Saving and loading a model's parameters by name: safetensors files and directories of
//! `.npy` files.
//!
//! Any [`Tensors`](crate::params::Tensors) can be saved and loaded, so every model
//! `backprop::model!` generates. Each parameter is stored under its name, in the model's
//! element type (`f32` or `f64`), row-major, with its shape in the model:
//!
//! | | safetensors | `.npy` |
//! |---|---|---|
//! | save | [`save_safetensors`], [`to_safetensors`] (bytes) | [`save_npy_dir`]: `dir/<name>.npy` |
//! | save in a [`NameMap`]'s layout | [`save_safetensors_with`], [`to_safetensors_with`] | [`save_npy_dir_with`] |
//! | load | [`load_safetensors`], [`load_safetensors_bytes`] | [`load_npy_dir`] |
//!
//! Loading fills a model that already has its shapes: build or `init` the model, then
//! load. The file must hold exactly the model's parameters, each of the model's element
//! type and shape; nothing is converted or reshaped. Loading is all-or-nothing: every
//! tensor is read and checked (names, element type, shape, length of the data) before the
//! first parameter is written, so on any error the model is unchanged, bit for bit. No
//! bytes make the loaders panic: each malformed file is a [`CheckpointError`] naming the
//! file and the tensor.
//!
//! A [`NameMap`] relates the file's names and layout to the model's: by default they are
//! the same; [`NameMap::linear`] reads the weights of a PyTorch `nn.Linear` (`[out, in]`,
//! as `fc1.weight`) into a model that computes `x @ w1 + b1` (`w1` is `[in, out]`), and the
//! same map given to a `_with` saver writes a file PyTorch's `load_state_dict` takes.
//!
//! ```
//! # use backprop_runtime::params::Tensors;
//! # use ndarray::{array, Array1, Array2, ArrayViewD, ArrayViewMutD};
//! # #[derive(Clone, Debug, PartialEq)]
//! # struct Mlp { w1: Array2<f32>, b1: Array1<f32> }
//! # impl Tensors<f32> for Mlp {
//! #     fn visit(&self, f: &mut dyn FnMut(&'static str, ArrayViewD<'_, f32>)) {
//! #         f("w1", self.w1.view().into_dyn());
//! #         f("b1", self.b1.view().into_dyn());
//! #     }
//! #     fn visit_mut(&mut self, f: &mut dyn FnMut(&'static str, ArrayViewMutD<'_, f32>)) {
//! #         f("w1", self.w1.view_mut().into_dyn());
//! #         f("b1", self.b1.view_mut().into_dyn());
//! #     }
//! # }
//! use backprop_runtime::checkpoint::{load_safetensors_bytes, to_safetensors_with, NameMap};
//!
//! // `Mlp` implements `Tensors<f32>` with `w1` [3, 2] and `b1` [2], as a model
//! // `x @ w1 + b1` would; PyTorch's `fc1 = nn.Linear(3, 2)` holds `fc1.weight` as [2, 3].
//! let torch = NameMap::new().linear("fc1", "w1", "b1");
//! let trained = Mlp { w1: array![[1., 2.], [3., 4.], [5., 6.]], b1: array![0.5, -0.5] };
//! let bytes = to_safetensors_with(&trained, &torch)?; // what PyTorch would have written
//!
//! let mut model = Mlp { w1: Array2::zeros((3, 2)), b1: Array1::zeros(2) };
//! load_safetensors_bytes(&mut model, &bytes, &torch)?;
//! assert_eq!(model, trained);
//! # Ok::<(), backprop_runtime::checkpoint::CheckpointError>(())
//! ```
//!
//! `.npz` archives are not supported: reading them would take ndarray-npy's `npz`
//! feature and the zip implementation it brings. A directory of `.npy` files holds the
//! same arrays; `numpy.load` reads each, and `numpy.save` writes them.

mod error;
mod names;
mod npy_dir;
mod safetensors_file;
mod stage;

pub use error::CheckpointError;
pub use names::NameMap;
pub use npy_dir::{load_npy_dir, save_npy_dir, save_npy_dir_with};
pub use safetensors_file::{
    load_safetensors, load_safetensors_bytes, save_safetensors, save_safetensors_with,
    to_safetensors, to_safetensors_with,
};
