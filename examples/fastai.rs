//! Seed 004, the fastai lesson "backprop from the foundations": the 784-50-1 network with
//! ReLU and `mse`, whose backward pass the lesson writes by hand (`lin_grad`,
//! `forward_and_backward`) and checks against autograd with `test_close`. Here the
//! generated gradients are checked against that hand-written pass the same way, on MNIST
//! images shipped with the crate, normalised as the lesson normalises them; then the network
//! trains, regressing the digit's value as the lesson does.
//!
//! Run with `cargo run --release --example fastai`.

use std::error::Error;

use backprop::data::mnist_5k;
use backprop::optim::Sgd;
use backprop::train::{History, Train};
use ndarray::{Array1, Array2, ArrayView, Axis, Dimension};

backprop::model! {
    /// The lesson's model: `lin(relu(lin(x, w1, b1)), w2, b2)`, weights `[in, out]`, and
    /// its `mse`: `(output.squeeze(-1) - targ).pow(2).mean()`.
    pub struct Lesson;
    relu(x @ w1 + b1) @ w2 + b2;
    loss (out[:, 0] - y).pow(2).mean()
}

/// The lesson's gradients, named as it names them (`w1.g`, ..., `inp.g`).
pub struct Hand {
    /// `w1.g`.
    pub w1: Array2<f64>,
    /// `b1.g`.
    pub b1: Array1<f64>,
    /// `w2.g`.
    pub w2: Array2<f64>,
    /// `b2.g`.
    pub b2: Array1<f64>,
    /// `inp.g`.
    pub x: Array2<f64>,
}

/// `lin_grad`: `inp.g = out.g @ w.t()`, `w.g = inp.t() @ out.g`, `b.g = out.g.sum(0)`.
pub fn lin_grad(
    inp: &Array2<f64>,
    out_g: &Array2<f64>,
    w: &Array2<f64>,
) -> (Array2<f64>, Array2<f64>, Array1<f64>) {
    (
        out_g.dot(&w.t()),
        inp.t().dot(out_g),
        out_g.sum_axis(Axis(0)),
    )
}

/// `forward_and_backward`, line for line: the loss and the lesson's gradients.
pub fn forward_and_backward(inp: &Array2<f64>, targ: &Array1<f64>, m: &Lesson<f64>) -> (f64, Hand) {
    // forward pass:
    let l1 = inp.dot(&m.w1) + &m.b1;
    let l2 = l1.mapv(|v| v.max(0.0));
    let out = l2.dot(&m.w2) + &m.b2;
    let diff = &out.column(0) - targ;
    let loss = diff.mapv(|d| d * d).mean().unwrap_or(f64::NAN);
    // backward pass:
    let out_g = (2.0 * &diff).insert_axis(Axis(1)) / inp.nrows() as f64;
    let (l2_g, w2_g, b2_g) = lin_grad(&l2, &out_g, &m.w2);
    let l1_g = l1.mapv(|v| f64::from(u8::from(v > 0.0))) * &l2_g;
    let (inp_g, w1_g, b1_g) = lin_grad(inp, &l1_g, &m.w1);
    let hand = Hand {
        w1: w1_g,
        b1: b1_g,
        w2: w2_g,
        b2: b2_g,
        x: inp_g,
    };
    (loss, hand)
}

/// fastai's `test_close`: every element of `a` within `eps` of `b`'s, shapes equal.
pub fn test_close<D: Dimension>(
    a: ArrayView<'_, f64, D>,
    b: ArrayView<'_, f64, D>,
    eps: f64,
) -> bool {
    a.shape() == b.shape() && a.iter().zip(&b).all(|(x, y)| (x - y).abs() < eps)
}

/// Images as rows and their targets.
pub type Set = (Array2<f64>, Array1<f64>);

/// The lesson's data: the images as rows normalised by the training set's mean and
/// standard deviation, and each digit's value as the target; 4,000 to train, 1,000 to
/// validate.
pub fn data() -> Result<[Set; 2], Box<dyn Error>> {
    let (train, valid) = mnist_5k()?.stratified_split(100);
    let (x_train, x_valid) = (train.features::<f64>(), valid.features::<f64>());
    let mean = x_train.mean().unwrap_or(0.0);
    let std = x_train.std(0.0);
    let norm = |x: Array2<f64>| (x - mean) / std;
    let target = |labels: &Array1<usize>| labels.mapv(|l| l as f64);
    Ok([
        (norm(x_train), target(&train.labels)),
        (norm(x_valid), target(&valid.labels)),
    ])
}

/// The lesson's network, initialised as `nn.Linear` is, seeded.
pub fn network(seed: u64) -> Result<Lesson<f64>, Box<dyn Error>> {
    Ok(Lesson::init(seed, [784, 50], [50], [50, 1], [1])?)
}

/// The generated gradients against the lesson's, each as `test_close(ours, lesson's, eps)`
/// in the order `w1`, `b1`, `w2`, `b2`, `x`, and the two losses.
pub fn compare(
    m: &Lesson<f64>,
    x: &Array2<f64>,
    y: &Array1<f64>,
    eps: f64,
) -> Result<([bool; 5], f64, f64), Box<dyn Error>> {
    let (loss, grads, inputs) = m.grad_with_inputs(x, y)?;
    let (hand_loss, hand) = forward_and_backward(x, y, m);
    let close = [
        test_close(grads.w1.view(), hand.w1.view(), eps),
        test_close(grads.b1.view(), hand.b1.view(), eps),
        test_close(grads.w2.view(), hand.w2.view(), eps),
        test_close(grads.b2.view(), hand.b2.view(), eps),
        test_close(inputs.x.view(), hand.x.view(), eps),
    ];
    Ok((close, loss, hand_loss))
}

/// Trains with SGD (lr 0.01, batches of 64, shuffled), printing the validation loss after
/// every epoch when `verbose`.
pub fn train(
    m: &mut Lesson<f64>,
    [(x, y), (x_valid, y_valid)]: &[Set; 2],
    epochs: usize,
    verbose: bool,
) -> Result<History, Box<dyn Error>> {
    let mut sgd = Sgd::new(0.01)?;
    let history = Train::new(epochs, 64)
        .shuffled(0)
        .progress(verbose)
        .fit_with(m, &mut sgd, x.view(), y.view(), |m, e| {
            let valid = m.loss(x_valid, y_valid).unwrap_or(f64::NAN);
            Some(format!(
                "epoch {}: train mse {:.4}, valid mse {valid:.4}",
                e.epoch, e.loss
            ))
        })?;
    Ok(history)
}

#[allow(dead_code)]
fn main() -> Result<(), Box<dyn Error>> {
    let data = data()?;
    let mut m = network(0)?;
    let (x, y) = &data[0];
    let (close, loss, hand_loss) = compare(&m, x, y, 1e-5)?;
    println!("loss: generated {loss:.6}, forward_and_backward {hand_loss:.6}");
    for (name, ok) in ["w1", "b1", "w2", "b2", "x"].iter().zip(close) {
        println!("test_close({name}.g, generated, eps=1e-5): {ok}");
    }
    if !close.iter().all(|&c| c) {
        return Err("a generated gradient differs from the lesson's".into());
    }
    println!();
    let history = train(&mut m, &data, 10, true)?;
    let (first, last) = (history.epochs.first(), history.epochs.last());
    if let (Some(first), Some(last)) = (first, last) {
        println!(
            "train mse: {:.4} in the first epoch, {:.4} in the last",
            first.loss, last.loss
        );
    }
    Ok(())
}
