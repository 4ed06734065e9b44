//! makemore part 4's network ("becoming a backprop ninja", Karpathy's nn-zero-to-hero),
//! trained on the 5,163 first names of the 1990 US Census shipped with the crate: each
//! name's characters predicted from the three before them, through an embedding, a linear
//! layer, batch norm written out as the notebook writes it, tanh and a linear layer,
//! trained by SGD on batches of 32 with the notebook's schedule (`lr` 0.1, then 0.01 for
//! the second half) at a tenth of its length. Prints the loss falling, the loss on the
//! training and held-out names with batch norm calibrated on the training set (as the
//! notebook does at the end), and names sampled from the model.
//!
//! Run with `cargo run --release --example makemore`; `-- --steps N` changes the number
//! of steps (20,000).

use std::error::Error;

use backprop::data::names;
use backprop::ShapeError;
use ndarray::{s, Array1, Array2, Axis};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// The characters before the one predicted.
pub const BLOCK: usize = 3;
/// `.`, then `a` to `z`.
pub const VOCAB: usize = 27;

backprop::model! {
    /// The notebook's network, its forward pass line for line.
    pub struct Ninja;
    input Xb: [n, 3];
    target Yb;
    param C: [27, 10], W1: [30, 64], b1: [64], W2: [64, 27], b2: [27];
    param bngain: [1, 64], bnbias: [1, 64];
    let emb = C[Xb];
    let embcat = emb.view(emb.shape[0], -1);
    let hprebn = embcat @ W1 + b1;
    let bnmeani = 1/n*hprebn.sum(0, keepdim=True);
    let bndiff = hprebn - bnmeani;
    let bndiff2 = bndiff**2;
    let bnvar = 1/(n-1)*(bndiff2).sum(0, keepdim=True);
    let bnvar_inv = (bnvar + 1e-5)**-0.5;
    let bnraw = bndiff * bnvar_inv;
    let hpreact = bngain * bnraw + bnbias;
    let h = torch.tanh(hpreact);
    let logits = h @ W2 + b2;
    let logit_maxes = logits.max(1, keepdim=True).values;
    let norm_logits = logits - logit_maxes;
    let counts = norm_logits.exp();
    let counts_sum = counts.sum(1, keepdims=True);
    let counts_sum_inv = counts_sum**-1;
    let probs = counts * counts_sum_inv;
    let logprobs = probs.log();
    logits;
    loss -logprobs[range(n), Yb].mean()
}

backprop::model! {
    /// The trained network at inference: batch norm by the mean and variance of the whole
    /// training set (`bnmean`, `bnvar`) instead of the batch's, so that one context at a
    /// time can be scored and sampled from.
    pub struct Calibrated;
    input Xb: [n, 3];
    target Yb;
    param C: [27, 10], W1: [30, 64], b1: [64], W2: [64, 27], b2: [27];
    param bngain: [1, 64], bnbias: [1, 64], bnmean: [1, 64], bnvar: [1, 64];
    let hpreact = bngain * (C[Xb].view(n, 30) @ W1 + b1 - bnmean) * (bnvar + 1e-5)**-0.5 + bnbias;
    let logits = tanh(hpreact) @ W2 + b2;
    logits;
    loss cross_entropy(out, Yb)
}

/// Every name's contexts and the character after each: `emma` gives `...→e`, `..e→m`,
/// `.em→m`, `emm→a` and `mma→.`, characters as `.` = 0, `a` = 1, …, `z` = 26.
pub fn dataset(words: &[&str]) -> (Array2<usize>, Array1<usize>) {
    let (mut x, mut y) = (Vec::new(), Vec::new());
    for w in words {
        let mut context = [0; BLOCK];
        for c in w.bytes().map(|c| usize::from(c - b'a') + 1).chain([0]) {
            x.extend_from_slice(&context);
            y.push(c);
            context.rotate_left(1);
            context[BLOCK - 1] = c;
        }
    }
    let rows = y.len();
    let x = Array2::from_shape_vec((rows, BLOCK), x).unwrap_or_else(|_| Array2::zeros((0, BLOCK)));
    (x, Array1::from(y))
}

/// The names shuffled by `seed`, as training (80%), held-out (10%) and test (10%) sets.
pub fn split(seed: u64) -> [(Array2<usize>, Array1<usize>); 3] {
    let mut words = names();
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    for i in (1..words.len()).rev() {
        words.swap(i, rng.random_range(0..=i));
    }
    let (n1, n2) = (words.len() * 8 / 10, words.len() * 9 / 10);
    [
        dataset(&words[..n1]),
        dataset(&words[n1..n2]),
        dataset(&words[n2..]),
    ]
}

/// Normal draws times `scale`, by Box and Muller's transform.
fn randn(rng: &mut ChaCha8Rng, shape: (usize, usize), scale: f32) -> Array2<f32> {
    Array2::from_shape_simple_fn(shape, || {
        let (u, v): (f32, f32) = (rng.random_range(f32::EPSILON..1.0), rng.random());
        (-2.0 * u.ln()).sqrt() * (std::f32::consts::TAU * v).cos() * scale
    })
}

/// The notebook's initialisation: a unit-normal embedding, `W1` scaled for tanh
/// (`5/3 / sqrt(30)`), small biases and output weights, gains near 1.
pub fn init(seed: u64) -> Result<Ninja<f32>, ShapeError> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let row = |a: Array2<f32>| a.row(0).to_owned();
    Ninja::new(
        randn(&mut rng, (VOCAB, 10), 1.0),
        randn(&mut rng, (30, 64), (5.0 / 3.0) / 30f32.sqrt()),
        row(randn(&mut rng, (1, 64), 0.1)),
        randn(&mut rng, (64, VOCAB), 0.1),
        row(randn(&mut rng, (1, VOCAB), 0.1)),
        randn(&mut rng, (1, 64), 0.1) + 1.0,
        randn(&mut rng, (1, 64), 0.1),
    )
}

/// What a run gives: the trained and calibrated network, the batch loss every tenth of
/// the run, and the losses on the whole training and held-out sets.
pub struct Run {
    pub model: Calibrated<f32>,
    pub losses: Vec<(usize, f32)>,
    pub train_loss: f32,
    pub dev_loss: f32,
}

/// Trains for `steps` steps on batches of 32 drawn with `seed`.
///
/// # Errors
/// A `ShapeError`, which the shapes here never give.
pub fn train(steps: usize, seed: u64) -> Result<Run, ShapeError> {
    let [(xtr, ytr), (xdev, ydev), _] = split(seed);
    let mut model = init(seed)?;
    let mut ws = model.workspace();
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 1);
    let (mut xb, mut yb) = (Array2::zeros((32, BLOCK)), Array1::zeros(32));
    let mut losses = Vec::new();
    for i in 0..steps {
        for (k, mut row) in xb.axis_iter_mut(Axis(0)).enumerate() {
            let pick = rng.random_range(0..ytr.len());
            row.assign(&xtr.row(pick));
            yb[k] = ytr[pick];
        }
        let lr = if i < steps / 2 { 0.1 } else { 0.01 };
        let loss = model.step(&mut ws, &xb, &yb, lr)?;
        if i % (steps / 10).max(1) == 0 || i + 1 == steps {
            losses.push((i, loss));
        }
    }
    // Batch norm's statistics over the whole training set, as the notebook calibrates it.
    let t = model.trace(&xtr, &ytr)?;
    let m = model;
    let calibrated = Calibrated::new(
        m.C, m.W1, m.b1, m.W2, m.b2, m.bngain, m.bnbias, t.bnmeani, t.bnvar,
    )?;
    Ok(Run {
        train_loss: calibrated.loss(&xtr, &ytr)?,
        dev_loss: calibrated.loss(&xdev, &ydev)?,
        model: calibrated,
        losses,
    })
}

/// `count` names drawn from the model, a character at a time from the softmax of its
/// logits given the three before, until it draws the end.
pub fn sample(model: &Calibrated<f32>, count: usize, seed: u64) -> Result<Vec<String>, ShapeError> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut out = Vec::new();
    for _ in 0..count {
        let (mut context, mut name) = ([0usize; BLOCK], String::new());
        while name.len() < 20 {
            let x = Array2::from_shape_fn((1, BLOCK), |(_, j)| context[j]);
            let logits = model.forward(&x)?;
            let row = logits.slice(s![0, ..]);
            let max = row.fold(f32::NEG_INFINITY, |m, &v| m.max(v));
            let weights: Vec<f32> = row.iter().map(|&v| (v - max).exp()).collect();
            let mut u = rng.random::<f32>() * weights.iter().sum::<f32>();
            let next = weights
                .iter()
                .position(|&w| {
                    u -= w;
                    u <= 0.0
                })
                .unwrap_or(0);
            if next == 0 {
                break;
            }
            name.push(char::from(b'a' + (next - 1) as u8));
            context.rotate_left(1);
            context[BLOCK - 1] = next;
        }
        out.push(name);
    }
    Ok(out)
}

// The tests use this file as a module, without its `main`.
#[allow(dead_code)]
fn main() -> Result<(), Box<dyn Error>> {
    let mut steps = 20_000;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--steps" => steps = args.next().ok_or("--steps needs a number")?.parse()?,
            other => return Err(format!("unknown argument `{other}`; try --steps N").into()),
        }
    }
    let [(xtr, _), (xdev, _), _] = split(42);
    println!(
        "{} names: {} contexts to learn from, {} held out; a uniform guess over {VOCAB} characters loses ln 27 = {:.4}",
        names().len(),
        xtr.nrows(),
        xdev.nrows(),
        (VOCAB as f32).ln()
    );
    let start = std::time::Instant::now();
    let run = train(steps, 42)?;
    for (step, loss) in &run.losses {
        println!("step {step:>6}/{steps}: batch loss {loss:.4}");
    }
    println!(
        "after {steps} steps ({:.1} s): loss {:.4} on the training names, {:.4} held out",
        start.elapsed().as_secs_f64(),
        run.train_loss,
        run.dev_loss
    );
    println!("sampled: {}", sample(&run.model, 12, 7)?.join(", "));
    Ok(())
}
