//! Seed 000, "Backprop machinery": a forum user regresses MNIST labels with four bias-free
//! linear layers (784-512-264-128-1), loss `0.5 * eᵀe`, SGD with lr 1e-3 in batches of 10
//! over 200 images scaled by 1/256. PyTorch's version converges; the hand-written numpy
//! version blows up, because its error is `e4 = y − y4` where the backward pass needs
//! `y4 − y`, so every update climbs the loss.
//!
//! Here the same network is written once, trained with its generated gradient (the loss
//! falls), the gradient checker compares the forum's hand-written backward pass with
//! finite differences (it flags the flipped sign), and training with the forum's update
//! stops with an error naming the step and the parameter instead of drifting into NaN.
//!
//! Run with `cargo run --release --example seed000`.

use std::error::Error;

use backprop::data::mnist_5k;
use backprop::optim::{OptimError, Optimizer, Sgd};
use backprop::params::Parameters;
use backprop::train::{History, Train, TrainError};
use backprop::GradCheck;
use ndarray::{s, Array2, Axis};

backprop::model! {
    /// The forum's `MyModel`: `nn.Linear(784, 512, bias=False)` … `nn.Linear(128, 1,
    /// bias=False)`, weights `[out, in]` as PyTorch keeps them, no activation; the loss is
    /// `0.5 * e.T @ e` with `e = y4 − target`.
    pub struct Forum;
    input x: [n, 784];
    target y: [n, 1];
    x @ fc1.T @ fc2.T @ fc3.T @ fc4.T;
    loss 0.5 * sse(out, y)
}

/// The forum's data: the first `n` MNIST images, pixels / 256, and their labels as values.
pub fn data(n: usize) -> Result<(Array2<f64>, Array2<f64>), Box<dyn Error>> {
    // The shipped subset is sorted by digit; take every tenth image so all digits appear.
    let digits = mnist_5k()?.shuffled(0);
    let x = digits
        .features::<f64>()
        .slice(s![..n, ..])
        .mapv(|p| p * 255.0 / 256.0);
    let y = digits
        .labels
        .slice(s![..n])
        .mapv(|l| l as f64)
        .insert_axis(Axis(1));
    Ok((x, y))
}

/// The network as the forum initialises it (`init_w`: uniform in ±1/√fan_in, which is also
/// PyTorch's default for `nn.Linear`), seeded.
pub fn network(seed: u64) -> Result<Forum<f64>, Box<dyn Error>> {
    Ok(Forum::init(
        seed,
        [512, 784],
        [264, 512],
        [128, 264],
        [1, 128],
    )?)
}

/// The forum's numpy backward pass, row-major (`e4` is `[n, 1]`, `w4` is `[1, 128]`), as
/// gradients of the loss: `w -= eta * grad` is the forum's update. `flipped` is its
/// `e4 = y_target − y4`; the correct error is `y4 − y_target`.
pub fn hand_written(
    m: &Forum<f64>,
    x: &Array2<f64>,
    y: &Array2<f64>,
    flipped: bool,
) -> [Array2<f64>; 4] {
    let y1 = x.dot(&m.fc1.t());
    let y2 = y1.dot(&m.fc2.t());
    let y3 = y2.dot(&m.fc3.t());
    let y4 = y3.dot(&m.fc4.t());
    let e4 = if flipped { y - &y4 } else { &y4 - y };
    let e3 = e4.dot(&m.fc4);
    let e2 = e3.dot(&m.fc3);
    let e1 = e2.dot(&m.fc2);
    [
        e1.t().dot(x),
        e2.t().dot(&y1),
        e3.t().dot(&y2),
        e4.t().dot(&y3),
    ]
}

/// The gradient checker's verdict on `fc4`'s gradient (its 128 weights, by central
/// differences of the loss): the generated one, the forum's with the flipped sign, and the
/// forum's corrected. Returns, for each, whether it passed and its largest difference from
/// the finite differences, relative to their largest magnitude.
pub fn check(
    m: &Forum<f64>,
    x: &Array2<f64>,
    y: &Array2<f64>,
) -> Result<[(bool, f64); 3], Box<dyn Error>> {
    let loss = |fc4: &Array2<f64>| {
        let mut moved = m.clone();
        moved.fc4.assign(fc4);
        moved.loss(x, y).unwrap_or(f64::NAN)
    };
    let (_, generated) = m.grad(x, y)?;
    let checker = GradCheck::default();
    let [.., flipped] = hand_written(m, x, y, true);
    let [.., corrected] = hand_written(m, x, y, false);
    let mut verdicts = [(false, 0.0); 3];
    for (v, g) in verdicts
        .iter_mut()
        .zip([&generated.fc4, &flipped, &corrected])
    {
        let report = checker.check(loss, &m.fc4, g)?;
        let scale = report.numeric.iter().fold(0.0, |a: f64, n| a.max(n.abs()));
        *v = (report.passed, report.max_abs_err / scale);
    }
    Ok(verdicts)
}

/// The forum's update, `w = w − eta · (e · yᵀ)` with the flipped `e4`: since flipping `e4`
/// flips every gradient, this is `w += eta · grad`.
pub struct ForumUpdate {
    /// The forum's `eta`.
    pub eta: f64,
}

impl Optimizer<f64> for ForumUpdate {
    fn step<M: Parameters<f64>>(
        &mut self,
        model: &mut M,
        grads: &M::Grads,
    ) -> Result<(), OptimError> {
        model.check_grads(grads, "ForumUpdate::step")?;
        model.visit_with_grads(grads, &mut |_, mut p, g| p.scaled_add(self.eta, &g));
        Ok(())
    }

    fn lr(&self) -> f64 {
        self.eta
    }

    fn set_lr(&mut self, lr: f64) -> Result<(), OptimError> {
        self.eta = lr;
        Ok(())
    }

    fn reset(&mut self) {}
}

/// The forum's run: `epochs` over the data in batches of 10, in order, updated by
/// `optimizer`: `Sgd` with lr 1e-3 as in PyTorch, or [`ForumUpdate`].
pub fn train(
    m: &mut Forum<f64>,
    x: &Array2<f64>,
    y: &Array2<f64>,
    epochs: usize,
    optimizer: &mut impl Optimizer<f64>,
) -> Result<History, TrainError> {
    Train::new(epochs, 10)
        .in_order()
        .progress(false)
        .fit(m, optimizer, x.view(), y.view())
}

/// The forum's printed loss: each epoch's summed batch losses over `n_train`.
pub fn forum_losses(history: &History, n: usize) -> Vec<f64> {
    let per_epoch = history.losses.len() / history.epochs.len().max(1);
    history
        .losses
        .chunks(per_epoch.max(1))
        .map(|c| c.iter().sum::<f64>() / n as f64)
        .collect()
}

#[allow(dead_code)]
fn main() -> Result<(), Box<dyn Error>> {
    let n = 200;
    let (x, y) = data(n)?;
    let m = network(0)?;

    println!("The gradient checker on fc4's gradient (central differences, 10 images):");
    let (xs, ys) = (
        x.slice(s![..10, ..]).to_owned(),
        y.slice(s![..10, ..]).to_owned(),
    );
    let names = [
        "generated by model!",
        "forum, e4 = y - y4",
        "forum, e4 = y4 - y",
    ];
    for (name, (passed, err)) in names.iter().zip(check(&m, &xs, &ys)?) {
        let verdict = if passed { "passes" } else { "FAILS" };
        println!("  {name:<22} {verdict:<6} largest error {err:.1e} of the gradient's size");
    }

    println!("\nTraining with the generated gradient (SGD lr 1e-3, batch 10, {n} images):");
    let mut good = m.clone();
    let history = train(&mut good, &x, &y, 10, &mut Sgd::new(1e-3)?)?;
    for (epoch, loss) in forum_losses(&history, n).iter().enumerate() {
        println!("  Train Epoch: {}\tLoss: {loss:.6}", epoch + 1);
    }

    println!("\nTraining with the forum's update (the flipped e4):");
    let mut bad = m.clone();
    match train(&mut bad, &x, &y, 10, &mut ForumUpdate { eta: 1e-3 }) {
        Ok(h) => println!(
            "  no divergence in 10 epochs; last loss {:?}",
            h.losses.last()
        ),
        Err(e) => println!("  stopped: {e}"),
    }
    Ok(())
}
