//! The digits classifier of `examples/digits.rs`, trained data-parallel on MPI: every
//! process reads the same 5,000 MNIST images, takes its shard of each batch of 32, and the
//! shards' gradients are summed across the processes every step, so that each holds the
//! same parameters, those one process would reach on the same batches. Rank 0 alone shows
//! progress, prints the held-out accuracy and writes the trained weights.
//!
//! ```sh
//! cargo build --release --features mpi --example digits_mpi
//! mpirun -n 2 target/release/examples/digits_mpi            # or: -- --epochs N --out PATH
//! ```

use std::error::Error;
use std::path::PathBuf;
use std::time::Instant;

use backprop::checkpoint::save_safetensors;
use backprop::data::mnist_5k;
use backprop::mpi::traits::Communicator;
use backprop::optim::Adam;
use backprop::train::Train;

// Only the classifier, its accuracy and the shifted copies are used here.
#[allow(dead_code)]
#[path = "digits.rs"]
mod digits;
use digits::{accuracy, with_shifts, Classifier, ClassifierDims};

/// The value after `flag` on the command line.
fn arg(flag: &str) -> Option<String> {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == flag)
        .and_then(|i| args.get(i + 1).cloned())
}

fn main() -> Result<(), Box<dyn Error>> {
    let universe = backprop::mpi::initialize().ok_or("MPI was initialised already")?;
    let world = universe.world();
    let root = world.rank() == 0;
    let epochs = arg("--epochs").map_or(Ok(10), |e| e.parse())?;
    let out =
        arg("--out").map_or_else(|| PathBuf::from("target/digits.safetensors"), PathBuf::from);
    let (train_set, test_set) = mnist_5k()?.stratified_split(100);
    let train_set = with_shifts(&train_set);
    if root {
        println!(
            "MNIST on {} processes: {} images to learn from (shifted copies included), {} held out, \
             batches of 32 shared among the processes",
            world.size(),
            train_set.len(),
            test_set.len()
        );
    }
    let (x, y) = (train_set.features::<f32>(), &train_set.labels);
    let (x_test, y_test) = (test_set.features::<f32>(), &test_set.labels);
    // Every process draws its own; rank 0's are broadcast before the first step.
    let mut model = Classifier::<f32>::init(0, ClassifierDims { nh: 128 })?;
    let mut adam = Adam::new(1e-3)?;
    let start = Instant::now();
    let mut last = 0.0;
    Train::new(epochs, 32)
        .shuffled(0)
        .progress(root)
        .data_parallel(&world)
        .fit_with(&mut model, &mut adam, x.view(), y.view(), |m, epoch| {
            last = accuracy(m, &x_test, y_test);
            Some(format!(
                "epoch {:>2}: loss {:.4}, held-out accuracy {:.1}%, {:.0} images/s",
                epoch.epoch,
                epoch.loss,
                100.0 * last,
                epoch.throughput
            ))
        })?;
    if root {
        println!(
            "held-out accuracy after {epochs} epochs: {:.1}% ({} of {} images), trained in {:.1} s",
            100.0 * last,
            (last * test_set.len() as f64).round(),
            test_set.len(),
            start.elapsed().as_secs_f64()
        );
        if let Some(dir) = out.parent() {
            std::fs::create_dir_all(dir)?;
        }
        save_safetensors(&model, &out)?;
        println!("weights: {}", out.display());
    }
    Ok(())
}
