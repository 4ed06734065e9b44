//! What [`model!`](crate::model) generates, for one model, as rustdoc shows it. Nothing
//! here is part of the crate's API: every model gets its own items, named after its
//! struct.
//!
//! ```text
//! backprop::model! {
//!     /// A regressor with one hidden layer of ReLUs, a learned output scale and an L2
//!     /// penalty on the first layer's weights.
//!     pub struct Mlp;
//!     input x: [n, 4];
//!     target y: [n, 2];
//!     param w1: [4, nh], w2: [nh, 2], scale: [];
//!     let z1 = x @ w1 + b1;
//!     let h1 = relu(z1);
//!     scale * (h1 @ w2 + b2);
//!     loss mse(out, y) + 1e-4 * (w1 * w1).sum()
//! }
//! ```
//!
//! gives [`Mlp`], with one field per parameter (`scale` a number, the others arrays of
//! their rank), its methods and its derivation; [`MlpGrads`], a gradient per parameter;
//! [`MlpInputGrads`], the gradient with respect to `x`; [`MlpTrace`], every named value and
//! its gradient; [`MlpWorkspace`], the buffers of the training loop's path; and
//! [`MlpDims`], the dim `nh` that the declarations name and `init` takes.

crate::model! {
    /// A regressor with one hidden layer of ReLUs, a learned output scale and an L2
    /// penalty on the first layer's weights.
    pub struct Mlp;
    input x: [n, 4];
    target y: [n, 2];
    param w1: [4, nh], w2: [nh, 2], scale: [];
    let z1 = x @ w1 + b1;
    let h1 = relu(z1);
    scale * (h1 @ w2 + b2);
    loss mse(out, y) + 1e-4 * (w1 * w1).sum()
}
