//! Handwritten digits, end to end: a 784-128-10 softmax classifier trained with Adam on the
//! 5,000 MNIST images shipped with the crate, 4,000 to learn from (with four copies of
//! each, shifted by one pixel) and 1,000 held out (100 of each digit). Shows a progress
//! bar, prints the held-out accuracy after every epoch, and writes the loss and accuracy
//! curves as an SVG plot.
//!
//! Run with `cargo run --release --example digits`; `-- --epochs N` and `-- --plot PATH`
//! change the defaults (10 epochs, `target/digits.svg`).

use std::error::Error;
use std::path::{Path, PathBuf};

use backprop::data::{mnist_5k, Digits};
use backprop::optim::Adam;
use backprop::train::{History, Train};
use ndarray::{s, Array1, Array2, Axis, Slice};
use plotters::prelude::*;

backprop::model! {
    /// A softmax classifier: 128 ReLUs, then ten logits; the loss is the cross-entropy of
    /// their softmax against the digit's class, as `nn.CrossEntropyLoss`.
    pub struct Classifier;
    input x: [n, 784];
    param w1: [784, nh], w2: [nh, 10];
    relu(x @ w1 + b1) @ w2 + b2;
    loss cross_entropy
}

/// What a run gives: its history, the held-out accuracy after each epoch, and the data's
/// sizes.
pub struct Run {
    /// Every step's loss and each epoch's summary.
    pub history: History,
    /// The fraction of held-out images classified right, after each epoch.
    pub accuracy: Vec<f64>,
    /// The trained model.
    pub model: Classifier<f32>,
    /// How many images it learnt from and how many were held out.
    pub sizes: (usize, usize),
}

/// The fraction of `digits` whose largest logit is their class.
pub fn accuracy(model: &Classifier<f32>, x: &Array2<f32>, labels: &Array1<usize>) -> f64 {
    let Ok(logits) = model.forward(x) else {
        return 0.0;
    };
    let right = logits
        .axis_iter(Axis(0))
        .zip(labels)
        .filter(|(row, &label)| {
            let best = row
                .iter()
                .enumerate()
                .fold(
                    (0, f32::NEG_INFINITY),
                    |b, (k, &v)| if v > b.1 { (k, v) } else { b },
                );
            best.0 == label
        })
        .count();
    right as f64 / labels.len().max(1) as f64
}

/// `digits` with four more copies of each image, moved one pixel up, down, left and
/// right: the same digits as a slightly shifted pen would write them.
pub fn with_shifts(digits: &Digits) -> Digits {
    let (n, rows, cols) = digits.images.dim();
    let mut images = ndarray::Array3::zeros((5 * n, rows, cols));
    // Each copy's rows and columns, and the image's rows and columns they show (all
    // but the last, and all but the first).
    let (all, head, tail) = (Slice::from(..), Slice::from(..-1), Slice::from(1..));
    let shifts = [
        (all, all, all, all),
        (head, all, tail, all), // up: row r shows row r + 1
        (tail, all, head, all), // down
        (all, head, all, tail), // left
        (all, tail, all, head), // right
    ];
    for (k, (to_rows, to_cols, from_rows, from_cols)) in shifts.into_iter().enumerate() {
        images
            .slice_mut(s![k * n..(k + 1) * n, to_rows, to_cols])
            .assign(&digits.images.slice(s![.., from_rows, from_cols]));
    }
    let labels = ndarray::concatenate(Axis(0), &[digits.labels.view(); 5]).unwrap_or_default();
    Digits {
        images,
        labels,
        max_pixel: digits.max_pixel,
    }
}

/// Trains the classifier for `epochs` on `train`, measuring accuracy on `test`.
pub fn train(
    train: &Digits,
    test: &Digits,
    epochs: usize,
    progress: bool,
) -> Result<Run, Box<dyn Error>> {
    let (x, y) = (train.features::<f32>(), &train.labels);
    let (x_test, y_test) = (test.features::<f32>(), &test.labels);
    let mut model = Classifier::<f32>::init(0, ClassifierDims { nh: 128 })?;
    let mut adam = Adam::new(1e-3)?;
    let mut accuracies = Vec::new();
    let history = Train::new(epochs, 32)
        .shuffled(0)
        .progress(progress)
        .fit_with(&mut model, &mut adam, x.view(), y.view(), |m, epoch| {
            let a = accuracy(m, &x_test, y_test);
            accuracies.push(a);
            Some(format!(
                "epoch {:>2}: loss {:.4}, held-out accuracy {:.1}%, {:.0} images/s",
                epoch.epoch,
                epoch.loss,
                100.0 * a,
                epoch.throughput
            ))
        })?;
    Ok(Run {
        history,
        accuracy: accuracies,
        model,
        sizes: (train.len(), test.len()),
    })
}

/// Writes the loss of every step, each epoch's mean loss and the held-out accuracy as an
/// SVG plot at `path`.
pub fn plot(run: &Run, path: &Path) -> Result<(), Box<dyn Error>> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let root = SVGBackend::new(path, (1000, 420)).into_drawing_area();
    root.fill(&WHITE)?;
    let (left, right) = root.split_horizontally(600);
    let losses = &run.history.losses;
    let steps_per_epoch = losses.len() / run.history.epochs.len().max(1);
    let top = losses.iter().copied().fold(0.0, f64::max).min(3.0);
    let mut chart = ChartBuilder::on(&left)
        .caption("training loss (cross-entropy)", ("sans-serif", 18))
        .margin(12)
        .x_label_area_size(32)
        .y_label_area_size(48)
        .build_cartesian_2d(0.0..losses.len() as f64, 0.0..top)?;
    chart
        .configure_mesh()
        .x_desc("step")
        .y_desc("loss")
        .draw()?;
    let steps = losses
        .iter()
        .enumerate()
        .map(|(i, &l)| (i as f64, l.min(top)));
    chart
        .draw_series(LineSeries::new(steps, RGBColor(170, 190, 230)))?
        .label("each batch")
        .legend(|(x, y)| PathElement::new([(x, y), (x + 16, y)], RGBColor(170, 190, 230)));
    let means = run
        .history
        .epochs
        .iter()
        .map(|e| ((e.epoch * steps_per_epoch) as f64, e.loss));
    chart
        .draw_series(LineSeries::new(means, BLUE.stroke_width(2)))?
        .label("epoch mean")
        .legend(|(x, y)| PathElement::new([(x, y), (x + 16, y)], BLUE));
    chart
        .configure_series_labels()
        .border_style(BLACK)
        .background_style(WHITE)
        .draw()?;
    let low = run.accuracy.iter().copied().fold(1.0, f64::min).min(0.9);
    let mut acc = ChartBuilder::on(&right)
        .caption("held-out accuracy", ("sans-serif", 18))
        .margin(12)
        .x_label_area_size(32)
        .y_label_area_size(48)
        .build_cartesian_2d(1.0..run.accuracy.len().max(2) as f64, low..1.0)?;
    acc.configure_mesh()
        .x_desc("epoch")
        .y_desc("accuracy")
        .draw()?;
    let points = run
        .accuracy
        .iter()
        .enumerate()
        .map(|(i, &a)| ((i + 1) as f64, a));
    acc.draw_series(LineSeries::new(points, RED.stroke_width(2)))?;
    root.present()?;
    Ok(())
}

/// The value after `flag` on the command line.
fn arg(flag: &str) -> Option<String> {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == flag)
        .and_then(|i| args.get(i + 1).cloned())
}

#[allow(dead_code)]
fn main() -> Result<(), Box<dyn Error>> {
    let epochs = arg("--epochs").map_or(Ok(10), |e| e.parse())?;
    let path = arg("--plot").map_or_else(|| PathBuf::from("target/digits.svg"), PathBuf::from);
    let (train_set, test_set) = mnist_5k()?.stratified_split(100);
    println!(
        "MNIST, the 5,000 images shipped with backprop: {} to learn from (each also shifted \
         by a pixel four ways), {} held out",
        train_set.len(),
        test_set.len()
    );
    println!("{}", Classifier::DERIVATION);
    let start = std::time::Instant::now();
    let train_set = with_shifts(&train_set);
    let run = train(&train_set, &test_set, epochs, true)?;
    let seconds = start.elapsed().as_secs_f64();
    let last = run.accuracy.last().copied().unwrap_or_default();
    println!(
        "held-out accuracy after {epochs} epochs: {:.1}% ({} of {} images), trained in {seconds:.1} s",
        100.0 * last,
        (last * run.sizes.1 as f64).round(),
        run.sizes.1
    );
    plot(&run, &path)?;
    println!("loss and accuracy curves: {}", path.display());
    Ok(())
}
