//! Every golden case whose ops the language has, written with `model!`, against
//! PyTorch's loss and gradients (float64 autograd): to 1e-10 relative in f64 and 1e-4
//! in f32.

mod common;

use backprop::Float;
use common::{assert_close, assert_scalar_close, Golden};
use ndarray::{Array1, Array2};

const F64_TOL: f64 = 1e-10;
const F32_TOL: f64 = 1e-4;

backprop::model! { struct FastaiMlp; relu(x @ w1 + b1) @ w2 + b2; loss (out[:, 0] - y).pow(2).mean() }
backprop::model! { struct MseFull; relu(x @ w1 + b1) @ w2 + b2; loss mse }
backprop::model! {
    struct Nugues;
    let z1 = x @ fc1.T;
    let z2 = z1 @ fc2.T;
    let z3 = z2 @ fc3.T;
    sigmoid(z3);
    loss bce
}
backprop::model! {
    struct Hello;
    let h = sigmoid(x @ w_l1.T + b_l1);
    sigmoid(h @ w_l2.T + b_l2);
    loss mse
}
backprop::model! { struct Seed000Column; w4 @ w3 @ w2 @ w1 @ x; loss 0.5 * ((y - out) ** 2).sum() }
backprop::model! { struct BceLogits; let z = x @ w + b; z; loss (softplus(z) - y * z).mean() }
backprop::model! { struct Tied; relu(x @ w) @ w.T; loss mse(out, x) }

fn fastai<A: Float>(name: &str, tol: f64) {
    let g = Golden::load(name);
    let m = FastaiMlp::<A>::new(
        g.tensor("w1"),
        g.tensor("b1"),
        g.tensor("w2"),
        g.tensor("b2"),
    )
    .unwrap();
    let (x, y): (Array2<A>, Array1<A>) = (g.tensor("x"), g.tensor("y"));
    let (loss, grads, inputs) = m.grad_with_inputs(&x, &y).unwrap();
    assert_scalar_close("loss", loss.as_f64(), g.loss(), tol);
    assert_close("w1", &grads.w1, &g.grad("w1"), tol);
    assert_close("b1", &grads.b1, &g.grad("b1"), tol);
    assert_close("w2", &grads.w2, &g.grad("w2"), tol);
    assert_close("b2", &grads.b2, &g.grad("b2"), tol);
    assert_close("x", &inputs.x, &g.grad("x"), tol);
    assert_eq!(g.grad_names().len(), 5);
}

fn mse_full<A: Float>(tol: f64) {
    let g = Golden::load("mse_full");
    let m = MseFull::<A>::new(
        g.tensor("w1"),
        g.tensor("b1"),
        g.tensor("w2"),
        g.tensor("b2"),
    )
    .unwrap();
    let (x, y): (Array2<A>, Array2<A>) = (g.tensor("x"), g.tensor("y"));
    let (loss, grads, inputs) = m.grad_with_inputs(&x, &y).unwrap();
    assert_scalar_close("loss", loss.as_f64(), g.loss(), tol);
    assert_close("w1", &grads.w1, &g.grad("w1"), tol);
    assert_close("b1", &grads.b1, &g.grad("b1"), tol);
    assert_close("w2", &grads.w2, &g.grad("w2"), tol);
    assert_close("b2", &grads.b2, &g.grad("b2"), tol);
    assert_close("x", &inputs.x, &g.grad("x"), tol);
}

fn nugues<A: Float>(name: &str, tol: f64) {
    let g = Golden::load(name);
    let m = Nugues::<A>::new(g.tensor("fc1"), g.tensor("fc2"), g.tensor("fc3")).unwrap();
    let (x, y): (Array2<A>, Array2<A>) = (g.tensor("x"), g.tensor("y"));
    let (loss, grads, inputs) = m.grad_with_inputs(&x, &y).unwrap();
    assert_scalar_close("loss", loss.as_f64(), g.loss(), tol);
    assert_close("fc1", &grads.fc1, &g.grad("fc1"), tol);
    assert_close("fc2", &grads.fc2, &g.grad("fc2"), tol);
    assert_close("fc3", &grads.fc3, &g.grad("fc3"), tol);
    assert_close("x", &inputs.x, &g.grad("x"), tol);
}

fn hello<A: Float>(tol: f64) {
    let g = Golden::load("hello");
    let m = Hello::<A>::new(
        g.tensor("w_l1"),
        g.tensor("b_l1"),
        g.tensor("w_l2"),
        g.tensor("b_l2"),
    )
    .unwrap();
    let (x, y): (Array2<A>, Array2<A>) = (g.tensor("x"), g.tensor("y"));
    let (loss, grads, inputs) = m.grad_with_inputs(&x, &y).unwrap();
    assert_scalar_close("loss", loss.as_f64(), g.loss(), tol);
    assert_close("w_l1", &grads.w_l1, &g.grad("w_l1"), tol);
    assert_close("b_l1", &grads.b_l1, &g.grad("b_l1"), tol);
    assert_close("w_l2", &grads.w_l2, &g.grad("w_l2"), tol);
    assert_close("b_l2", &grads.b_l2, &g.grad("b_l2"), tol);
    assert_close("x", &inputs.x, &g.grad("x"), tol);
}

fn seed000<A: Float>(tol: f64) {
    let g = Golden::load("seed000_column");
    let m = Seed000Column::<A>::new(
        g.tensor("w4"),
        g.tensor("w3"),
        g.tensor("w2"),
        g.tensor("w1"),
    )
    .unwrap();
    let (x, y): (Array2<A>, Array2<A>) = (g.tensor("x"), g.tensor("y"));
    let (loss, grads, inputs) = m.grad_with_inputs(&x, &y).unwrap();
    assert_scalar_close("loss", loss.as_f64(), g.loss(), tol);
    assert_close("w1", &grads.w1, &g.grad("w1"), tol);
    assert_close("w2", &grads.w2, &g.grad("w2"), tol);
    assert_close("w3", &grads.w3, &g.grad("w3"), tol);
    assert_close("w4", &grads.w4, &g.grad("w4"), tol);
    assert_close("x", &inputs.x, &g.grad("x"), tol);
}

fn bce_logits<A: Float>(tol: f64) {
    let g = Golden::load("bce_logits");
    let m = BceLogits::<A>::new(g.tensor("w"), g.tensor("b")).unwrap();
    let (x, y): (Array2<A>, Array2<A>) = (g.tensor("x"), g.tensor("y"));
    let (loss, grads, inputs) = m.grad_with_inputs(&x, &y).unwrap();
    assert_scalar_close("loss", loss.as_f64(), g.loss(), tol);
    assert_close("w", &grads.w, &g.grad("w"), tol);
    assert_close("b", &grads.b, &g.grad("b"), tol);
    assert_close("x", &inputs.x, &g.grad("x"), tol);
}

fn tied<A: Float>(tol: f64) {
    let g = Golden::load("tied_autoencoder");
    let m = Tied::<A>::new(g.tensor("w")).unwrap();
    let x: Array2<A> = g.tensor("x");
    let (loss, grads, inputs) = m.grad_with_inputs(&x).unwrap();
    assert_scalar_close("loss", loss.as_f64(), g.loss(), tol);
    assert_close("w", &grads.w, &g.grad("w"), tol);
    assert_close("x", &inputs.x, &g.grad("x"), tol);
}

#[test]
fn fastai_mlp_matches_pytorch() {
    fastai::<f64>("fastai_mlp", F64_TOL);
    fastai::<f32>("fastai_mlp", F32_TOL);
}

#[test]
fn mse_full_matches_pytorch() {
    mse_full::<f64>(F64_TOL);
    mse_full::<f32>(F32_TOL);
}

#[test]
fn nugues_matches_pytorch() {
    for case in ["nugues_single", "nugues_batch"] {
        nugues::<f64>(case, F64_TOL);
        nugues::<f32>(case, F32_TOL);
    }
}

#[test]
fn hello_matches_pytorch() {
    hello::<f64>(F64_TOL);
    hello::<f32>(F32_TOL);
}

#[test]
fn seed000_column_matches_pytorch() {
    seed000::<f64>(F64_TOL);
    seed000::<f32>(F32_TOL);
}

#[test]
fn bce_logits_matches_pytorch() {
    bce_logits::<f64>(F64_TOL);
    bce_logits::<f32>(F32_TOL);
}

#[test]
fn tied_autoencoder_matches_pytorch() {
    tied::<f64>(F64_TOL);
    tied::<f32>(F32_TOL);
}

/// `grad` gives the same parameter gradients as `grad_with_inputs`, and `loss` the same
/// loss, though each computes only what it returns.
#[test]
fn methods_agree() {
    let g = Golden::load("fastai_mlp");
    let m = FastaiMlp::<f64>::new(
        g.tensor("w1"),
        g.tensor("b1"),
        g.tensor("w2"),
        g.tensor("b2"),
    )
    .unwrap();
    let (x, y): (Array2<f64>, Array1<f64>) = (g.tensor("x"), g.tensor("y"));
    let (loss, grads) = m.grad(&x, &y).unwrap();
    let (loss2, grads2, _) = m.grad_with_inputs(&x, &y).unwrap();
    assert_eq!(loss, loss2);
    assert_eq!(grads, grads2);
    assert_eq!(m.loss(&x, &y).unwrap(), loss);
    let trace = m.trace(&x, &y).unwrap();
    assert_eq!(trace.out, m.forward(&x).unwrap());
    assert_eq!(trace.grads, grads);
}
