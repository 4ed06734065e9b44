//! Networks written as the notebooks write them, differentiated symbolically at compile
//! time into plain Rust over [`ndarray`](https://docs.rs/ndarray).
//!
//! ```
//! use ndarray::array;
//!
//! backprop::model! { pub struct Mlp; relu(x @ w1 + b1) @ w2 + b2; loss mse }
//!
//! let model = Mlp::new(
//!     array![[0.5, -0.2], [0.1, 0.4]], // w1: [2, 2]
//!     array![0.0, 0.1],                // b1: [2], a row added to every row of x @ w1
//!     array![[1.0], [-1.0]],           // w2: [2, 1]
//!     array![0.2],                     // b2: [1]
//! )?;
//! let x = array![[1.0, 2.0], [0.5, -1.0]];
//! let y = array![[1.0], [0.0]];
//! let (loss, grads) = model.grad(&x, &y)?;
//! assert!(loss > 0.0);
//! assert_eq!(grads.w1.shape(), &[2, 2]);
//! # Ok::<(), backprop::ShapeError>(())
//! ```
//!
//! # The language
//!
//! A model is a list of statements separated by `;`:
//!
//! - `pub struct Name;` (optional) names the generated struct; attributes and doc comments
//!   before it carry over. The default name is `Model`.
//! - `input x: [n, 3];`, `target y: [n, 1];`, `param w: [4, 3], b;` (optional) declare
//!   roles and, optionally, shapes whose dims are numbers or names; several names may
//!   share one (`param w1, w2: [];`), and `[]` is a scalar. A dim a declaration names is
//!   also a number in expressions, its length at run time (`1/(n-1)` for `input x: [n, 3]`),
//!   as is `x.shape[k]`, declared or not.
//!   Undeclared names take
//!   their role from their name: `x` is the input, `y` the target, any other name a
//!   trainable parameter.
//! - `let z1 = x @ fc1.T;` binds an intermediate, which [`trace`](#generated-items)
//!   returns with its gradient.
//! - One expression is the output, named `out`; or a tuple of them, `(o1, o2);`, each
//!   named by its `let` (or `out1, out2, ...` when it is not a name), which `forward`
//!   returns as a tuple and a loss expression uses by name.
//! - `loss mse` (or `sse`, `bce`, `bce_logits`, `l1`, `cross_entropy`, `nll`): a named loss of
//!   `out` and the target; or `loss <expr>`, any scalar expression of `out` and the
//!   tensors, in which the named losses are functions with explicit arguments:
//!   `loss cross_entropy(out, labels) + 0.5 * 1e-3 * (w1 * w1).sum()`. The named losses
//!   have PyTorch's meaning and mean reduction, except `sse`, the sum of squared errors
//!   (`mse_loss(reduction="sum")`; a forum's `0.5 * e.T @ e` is `0.5 * sse(out, y)`).
//!   `cross_entropy` takes logits `[n, classes]` and a target of integer class labels,
//!   passed as a `usize` array and checked against the number of classes; `nll` takes
//!   log-probabilities (`log_softmax(z)`) and the same labels, as PyTorch's `nll_loss`.
//!   A matrix's rows are also picked by such labels as a notebook picks them,
//!   `-logprobs[range(n), labels].mean()`: each row's element at its label; or as a
//!   column, as PyTorch's `logprobs.gather(1, labels.view(-1, 1))` (also
//!   `labels.unsqueeze(1)`, or `labels` itself).
//! - `C[X]` picks rows of a table by integer indices, an embedding: for `C: [27, 10]`
//!   and `input X: [n, 3]`, `C[X]` is `[n, 3, 10]`, the indices' axes then a row's. The
//!   indices are an input of `usize` of any rank (an undeclared name used so is an input,
//!   one index per example unless something else ranks it), checked against the table's
//!   rows before any arithmetic; the gradient adds each row's back into the row it came
//!   from, a row picked twice getting both. `e.view(n, -1)` and `e.reshape(...)` give the
//!   same elements in another shape, read in row-major order as PyTorch's: each length a
//!   number, a named dim, `x.shape[k]`, or one `-1` for the length that keeps the number
//!   of elements (checked at compile time where the lengths are known, at run time
//!   otherwise).
//!
//! Tensors of any rank up to 6 flow through the elementwise operations, reductions and
//! reshapes; `@`, `.T`, `[:, k]` and the losses take matrices and vectors. Names keep the
//! case they are written in (`W1`, `Xb`). Where Python and Rust differ, the model is
//! written as Rust's tokens allow: `let` before a binding and `;` after each statement,
//! `torch.tanh(h)` or `tanh(h)` (the `torch.` and `np.` prefixes are accepted and mean
//! nothing), and `x.view(n, -1)` for a tuple's `x.view((n, -1))`. makemore part 4's
//! network reads, line for line:
//!
//! ```
//! backprop::model! {
//!     pub struct Ninja;
//!     input Xb: [n, 3];
//!     target Yb;
//!     param C: [27, 10], W1: [30, 64], b1: [64], W2: [64, 27], b2: [27];
//!     param bngain: [1, 64], bnbias: [1, 64];
//!     let emb = C[Xb];
//!     let embcat = emb.view(emb.shape[0], -1);
//!     let hprebn = embcat @ W1 + b1;
//!     let bnmeani = 1/n*hprebn.sum(0, keepdim=True);
//!     let bndiff = hprebn - bnmeani;
//!     let bndiff2 = bndiff**2;
//!     let bnvar = 1/(n-1)*(bndiff2).sum(0, keepdim=True);
//!     let bnvar_inv = (bnvar + 1e-5)**-0.5;
//!     let bnraw = bndiff * bnvar_inv;
//!     let hpreact = bngain * bnraw + bnbias;
//!     let h = torch.tanh(hpreact);
//!     let logits = h @ W2 + b2;
//!     let logit_maxes = logits.max(1, keepdim=True).values;
//!     let norm_logits = logits - logit_maxes;
//!     let counts = norm_logits.exp();
//!     let counts_sum = counts.sum(1, keepdims=True);
//!     let counts_sum_inv = counts_sum**-1;
//!     let probs = counts * counts_sum_inv;
//!     let logprobs = probs.log();
//!     logits;
//!     loss -logprobs[range(n), Yb].mean()
//! }
//!
//! let model = Ninja::<f64>::init(42)?;
//! let xb = ndarray::array![[0, 0, 5], [0, 5, 13], [5, 13, 13], [13, 13, 1]];
//! let yb = ndarray::array![13, 13, 1, 0];
//! let t = model.trace(&xb, &yb)?;
//! // Every intermediate and its gradient, as the notebook's `cmp` checks them.
//! assert_eq!((t.emb.shape(), t.d_emb.shape()), (&[4, 3, 10][..], &[4, 3, 10][..]));
//! assert_eq!(t.d_embcat.shape(), &[4, 30]);
//! assert_eq!(t.grads.C.shape(), &[27, 10]);
//! # Ok::<(), backprop::ShapeError>(())
//! ```
//!
//! Expressions use Python's precedence: postfix (`.T`, `.t()`, `.pow(k)`, `.sum()`,
//! `.mean()`, `.sum(axis)`, `.mean(axis)`, `[:, k]`, `.relu()` and the other functions as
//! methods) binds tightest, then `**`, unary `-`, `* / @`, and `+ -`. A reduction takes
//! PyTorch's arguments: the axis positional or as `dim=` (negative from the last), and
//! `keepdim=True` (or `keepdims=True`; Rust's `true` too), which keeps the axis with
//! length 1 so that the result broadcasts back (`x - x.mean(0, keepdim=True)`). `.max(axis)`
//! and `.min(axis)` (also `amax`, `amin`, and `.max(1, keepdim=True).values` as PyTorch
//! writes it) are the largest and smallest along an axis, their gradient all to the first
//! largest (smallest) element of each lane, as PyTorch's. `.var(axis)` and `.std(axis)`
//! are PyTorch's, over the count less a correction: Bessel's (1) by default, or
//! `unbiased=False` (0), or `correction=k`. Elementwise
//! operations broadcast by NumPy's rules, decided at compile time: an axis broadcasts where
//! one side lacks it (a bias row added to a matrix) or has a dim declared as 1
//! (`param c: [n, 1]`); any other two dims are the same dim, checked at run time. The
//! gradient of a broadcast operand is summed over the axes it was broadcast along.
//!
//! The elementwise functions, each also a method (`e.relu()`), with PyTorch's meaning and
//! conventions (`relu'(0) = 0`):
//!
#![doc = backprop_macros::__function_table!()]
//!
//! and `softmax(e, axis)` and `log_softmax(e, axis)` along an axis (the last by default);
//! `batch_norm(x, gain, bias)` and `layer_norm(x, gain, bias)` (an optional fourth argument
//! is `eps`, `1e-5` by default), PyTorch's `F.batch_norm` in training mode (each column by
//! the batch's mean and biased variance) and `F.layer_norm` over the last axis: a gain and
//! a bias over `norm_rows(x)`, whose gradient is its closed form, as the derivation shows
//! it: `(g − Σ_rows g / n − x̂ ⊙ Σ_rows (g ⊙ x̂) / n) ⊙ (1/std_rows(x))` for `g` the
//! gradient of the normalised `x̂`, equal to that of the formula written out.
//!
//! The classic numerical traps are rewritten on the expression graph, also through
//! transposes, column selects and `let`s: `log(sigmoid(z))` is computed as
//! `-softplus(-z)`, `log(1 - sigmoid(z))` as `-softplus(z)`, `bce(sigmoid(z), y)` as
//! `bce_logits(z, y)` and `log(softmax(z))` as `log_softmax(z)`, so logits of ±1000 give
//! finite losses and gradients.
//!
//! Ranks are inferred: the operands of `@` are matrices, a parameter added to a matrix is
//! a row vector (a bias), a parameter that scales a tensor is a scalar, an input or target
//! combined with a tensor has its rank, and one combined with a parameter row is a batch
//! of rows. A model with no matrix anywhere (`(x * a + b) / (c * c + 1)`) needs no
//! declarations: its parameters are scalars and its inputs and targets batches of numbers
//! (`[n]`), or scalars where a scalar loss or a scalar operand makes them so. A scalar is a
//! plain `A` everywhere: `Micro::new(-4.0, 2.0)`, `grads.a + 1.0`. A name whose rank cannot
//! be inferred must be declared; the error names only those that nothing else would rank
//! once they are. A name that appears only in the loss
//! must be declared too (`loss bce(out, t)` needs `target t;`): nothing the model computes
//! depends on it, so it is more likely a slip than a parameter.
//!
//! # Compile errors
//!
//! Mistakes are reported by the compiler at the token responsible, every one at once where
//! there are several, each with what to do about it:
//!
//! ```text
//! error: inner dimensions of `x @ w1` differ: `x` [n, 784] has 784 columns, `w1` [785, 50] has 785 rows
//!  --> src/main.rs:6:12
//!   |
//! 6 |     relu(x @ w1 + b1) @ w2 + b2;
//!   |            ^
//! ```
//!
//! Declared dims are checked against each other at compile time; the rest at run time.
//! A model with a mistake still defines its types, as aliases of one that rustc holds to
//! be in error already, so that the code using the model reports nothing more: not a
//! method, a field or a trait the model would have had.
//!
//! # Generated items
//!
//! For `pub struct Mlp; ...` the macro generates `Mlp<A = f32>` (generic over `f32` and
//! `f64`) with one public field per parameter, an `ndarray` array of its rank or, for a
//! scalar, a plain `A`, and the items [`example_generated`] shows for one model:
//!
//! - `Mlp::new(params...)`, which checks that their shapes fit together. It takes the
//!   parameters in this order: the declared ones as they are declared, then the others as
//!   they first appear (`relu(x @ w1 + b1) @ w2 + b2` takes `w1, b1, w2, b2`;
//!   `param w1, w2;` before it, `w1, w2, b1, b2`); each generated `new`'s documentation
//!   lists them. And `Mlp::init`,
//!   drawn as PyTorch's `nn.Linear` draws them from a seed: `init(seed)` when the
//!   declarations give every dim of every parameter, `init(seed, MlpDims { nh: 128 })` when
//!   they name some dims (`param w1: [784, nh]`), and `init(seed, shapes...)`, a shape per
//!   parameter, otherwise;
//! - `forward(inputs)`, `loss(inputs, targets)`;
//! - `grad(inputs, targets) -> (loss, MlpGrads)` with one gradient per parameter;
//! - `grad_with_inputs(...)`, which adds `MlpInputGrads`, the gradients with respect to
//!   the inputs, without slowing `grad`;
//! - `trace(...) -> MlpTrace` with every `let` value, the output, the loss, and the
//!   gradient with respect to each, computed as the model is written (without the
//!   stability rewrites, which could bypass a named value).
//!
//! - `workspace()`, `grad_in(&mut ws, inputs, targets) -> (loss, &MlpGrads)`,
//!   `sgd(&grads, lr)` and `step(&mut ws, inputs, targets, lr)`: the training loop's path,
//!   below;
//! - the runtime's parameter traits: [`params::Tensors`] on `Mlp` and `MlpGrads` and
//!   [`params::Parameters`] on `Mlp`, which visit each parameter and its gradient by name
//!   (what [`optim`]'s optimizers and [`checkpoint`]'s savers take), and, for a model with
//!   one input and one target, [`params::Supervised`], which [`train::Train`] drives.
//!
//! Inputs and targets are taken as any `ndarray` view (`&Array2`, `ArrayView2`, a slice of
//! a larger array). Every method checks every shape before any arithmetic and returns a
//! [`ShapeError`] naming the tensor and both shapes instead of panicking.
//!
//! # The derivation, and the code
//!
//! The chain rule the macro applied is part of what it generates, in the struct's
//! documentation and as constants: `Mlp::DERIVATION` (Unicode), `Mlp::DERIVATION_LATEX`
//! (one LaTeX `aligned` block) and `Mlp::CODE`, the Rust the model expands to, laid out as
//! `rustfmt` would (given as the compiler receives it past 256 KB, about 65 layers). The
//! derivation lists each forward definition, then each gradient in the order the code
//! computes it, over the model's own names: `δz1` is the gradient of the loss with respect
//! to `z1`, `∂L/∂w1` a parameter's. A value the model leaves unnamed is named when it is a
//! layer: `z1, z2, ...` for the argument of an activation or a product feeding another,
//! `h1, h2, ...` for an activation feeding a product. Each line names the rules that
//! shaped it: the derivative of an activation (`[relu']`), a sum over broadcast rows
//! (`[broadcast]`), a rewrite (`[sigmoid + bce]`), the gradients of a value used twice
//! added (`[fan-out]`). `Mlp::GRAPH` draws the same as a Graphviz graph (`dot -Tsvg`): a
//! node for each tensor and each line, labelled with it, an edge from every named value a
//! line reads, the backward pass from the loss.
//!
//! ```
//! backprop::model! { pub struct Mlp; relu(x @ w1 + b1) @ w2 + b2; loss mse }
//!
//! assert!(Mlp::GRAPH.contains("[label=\"∂L/∂w1 = xᵀ · δz1\""));
//! let lines: Vec<&str> = Mlp::DERIVATION.lines().map(str::trim).collect();
//! assert!(lines.contains(&"h1 = relu(z1)"));
//! // The rules stand in brackets past the longest formula.
//! let mask = lines.iter().find(|l| l.starts_with("δz1 = δh1 ⊙ [z1 > 0]")).unwrap();
//! assert!(mask.ends_with("[relu']"));
//! assert!(lines.contains(&"∂L/∂w1 = xᵀ · δz1"));
//! assert!(Mlp::DERIVATION_LATEX.contains(r"\delta_{z_{1}}"));
//! assert!(Mlp::CODE.contains("pub fn grad<"));
//! ```
//!
//! # Training loops
//!
//! `grad` returns fresh arrays, which is what a notebook wants. A training loop wants the
//! same numbers without the allocations: `MlpWorkspace` holds a buffer for each value the
//! step must keep, sized by the first call for a batch shape, and `grad_in` writes into
//! it. Elementwise chains are fused into one pass (the bias add and the activation in place
//! on the matrix product's output; the loss derivative, the activation's mask and the
//! scaling in one pass), transposes are views, and each parameter's gradient is written
//! where it is returned. `step` goes one further for a weight whose gradient is one matrix
//! product (`dz^T @ h`): it adds that product, times `-lr`, to the weight in the product's
//! own pass, so the gradient is never stored (read gradients with `grad_in`). After the
//! first step, a step allocates nothing.
//!
//! ```
//! use ndarray::{array, Array2};
//!
//! backprop::model! { pub struct Mlp; relu(x @ w1 + b1) @ w2 + b2; loss mse }
//!
//! # fn main() -> Result<(), backprop::ShapeError> {
//! let mut net = Mlp::<f64>::init(0, [2, 8], [8], [8, 1], [1])?;
//! let x = array![[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]];
//! let y = array![[0.0], [1.0], [1.0], [2.0]];
//! let mut ws = net.workspace();
//! let first = net.step(&mut ws, &x, &y, 0.05)?; // sizes the buffers
//! let mut last = first;
//! for _ in 0..200 {
//!     last = net.step(&mut ws, &x, &y, 0.05)?; // allocates nothing
//! }
//! assert!(last < first / 10.0);
//! // The same loss and gradients as the allocating path, to rounding.
//! let (loss, grads) = net.grad(&x, &y)?;
//! let (loss_in, grads_in) = net.grad_in(&mut ws, &x, &y)?;
//! assert!((loss - loss_in).abs() < 1e-12);
//! assert!((&grads.w1 - &grads_in.w1).iter().all(|d| d.abs() < 1e-12));
//! # Ok(())
//! # }
//! ```
//!
//! With any other optimizer, the loop is `grad_in` then the optimizer's `step` on the
//! gradients, and [`train::Train`] runs it over epochs of shuffled mini-batches:
//!
//! ```
//! use backprop::optim::{Optimizer, Sgd, SgdConfig};
//! use backprop::train::Train;
//! use ndarray::array;
//!
//! backprop::model! { pub struct Mlp; relu(x @ w1 + b1) @ w2 + b2; loss mse }
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let x = array![[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]];
//! let y = array![[0.0], [1.0], [1.0], [2.0]];
//! let mut net = Mlp::<f64>::init(0, [2, 8], [8], [8, 1], [1])?;
//! let mut sgd = Sgd::with_config(SgdConfig { lr: 0.05, momentum: 0.9, ..SgdConfig::default() })?;
//! let mut ws = net.workspace();
//! let (first, grads) = net.grad_in(&mut ws, &x, &y)?;
//! sgd.step(&mut net, grads)?; // momentum SGD, as torch.optim.SGD
//! let history = Train::new(100, 2).shuffled(0).progress(false).fit(&mut net, &mut sgd, x.view(), y.view())?;
//! assert!(net.loss(&x, &y)? < first / 10.0);
//! assert_eq!(history.losses.len(), 200);
//! # Ok(())
//! # }
//! ```
//!
//! Large matrix products are split over [`threads()`] threads (the machine's, unless set
//! by [`set_threads`] or the `BACKPROP_THREADS` environment variable).
#![forbid(unsafe_code)]
#![warn(missing_docs)]

/// Compiles a model written in [the language](crate#the-language) into its struct, its
/// gradients and its methods ([the generated items](crate#generated-items)); the items of
/// one model, as rustdoc shows them, are in [`example_generated`].
///
/// ```
/// backprop::model! { pub struct Mlp; relu(x @ w1 + b1) @ w2 + b2; loss mse }
///
/// let net = Mlp::<f64>::init(0, [2, 8], [8], [8, 1], [1])?;
/// let x = ndarray::array![[0.0, 1.0], [1.0, 0.0]];
/// assert_eq!(net.forward(&x)?.shape(), [2, 1]);
/// # Ok::<(), backprop::ShapeError>(())
/// ```
pub use backprop_macros::model;
#[cfg(feature = "mpi")]
pub use backprop_runtime::mpi;
pub use backprop_runtime::{
    checkpoint, data, graph, init, numeric_gradient, optim, params, set_threads, threads, train,
    Float, GradCheck, GradReport, ShapeError,
};
// The in-place kernels, for benchmarks that time one of them beside a whole step.
#[doc(hidden)]
pub use backprop_runtime::fused;
// ndarray as the runtime sees it, by which rustc names its types in messages.
#[doc(hidden)]
pub use backprop_runtime::__ndarray;

// Generated code names the crate `::backprop`, also in this crate's own example.
extern crate self as backprop;

#[cfg(any(doc, test))]
pub mod example_generated;

#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;

/// What generated code calls; not part of the public API. Flat, so that the generated
/// code reads `rt::matmul(x, w1.view())?` under `use ::backprop::__private as rt`.
#[doc(hidden)]
pub mod __private {
    pub use backprop_runtime::fused::*;
    pub use backprop_runtime::index::*;
    pub use backprop_runtime::kernels::*;
    pub use backprop_runtime::loss::{bce, bce_logits, cross_entropy};
    pub use backprop_runtime::norm::{inv_std, inv_std_into, standardize, standardize_into};
    pub use backprop_runtime::shape::{fixed, free, named, Dims};
    pub use backprop_runtime::{
        __supervised as supervised, __tensors as tensors, init, params, scalar, Float, ShapeError,
    };
    pub use core::marker::PhantomData;
    pub use core::option::Option::{self, None, Some};
    pub use core::result::Result::Ok;
    pub use ndarray;
    pub use ndarray::{
        Array0, Array1, Array2, Array3, Array4, Array5, Array6, ArrayView0, ArrayView1, ArrayView2,
        ArrayView3, ArrayView4, ArrayView5, ArrayView6, AsArray, Ix0, Ix1, Ix2, Ix3, Ix4, Ix5, Ix6,
    };

    /// What every method of a generated model returns.
    pub type Result<T> = core::result::Result<T, ShapeError>;
}
