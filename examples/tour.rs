//! The whole product in one run, on data shipped with the crate:
//!
//! 1. Pierre Nugues' notebook (seed 003): the model's derivation, as `model!` works it out,
//!    and every value the notebook prints (outputs, losses, deltas, weight gradients)
//!    beside ours.
//! 2. A digits classifier trained with Adam on 5,000 MNIST images, with a progress bar, the
//!    held-out accuracy after each epoch, and its loss curve plotted.
//! 3. The trained weights saved as safetensors and loaded back into a fresh model.
//!
//! Run with `cargo run --release --example tour`.

use std::error::Error;
use std::path::Path;

use backprop::checkpoint::{load_safetensors, save_safetensors, NameMap};
use backprop::data::mnist_5k;

#[path = "digits.rs"]
mod digits;
#[path = "nugues.rs"]
mod nugues;

fn main() -> Result<(), Box<dyn Error>> {
    println!("1. Pierre Nugues' 3-4-2-1 network, differentiated at compile time\n");
    println!("{}", nugues::Nugues::DERIVATION);
    println!("{:<30} {:>44}", "value", "backprop | notebook");
    let show = |values: &[f64]| {
        let cells: Vec<String> = values.iter().take(4).map(|v| format!("{v:8.4}")).collect();
        let more = if values.len() > 4 { " …" } else { "" };
        format!("{}{more}", cells.join(" "))
    };
    let mut differ = Vec::new();
    for ((name, ours), (_, printed)) in nugues::ours()?.iter().zip(nugues::NOTEBOOK) {
        let within = |slack: f64| {
            ours.len() == printed.len()
                && ours
                    .iter()
                    .zip(*printed)
                    .all(|(a, b)| (a - b).abs() <= 0.5e-4 + slack + 1e-9)
        };
        let mark = if within(0.0) {
            "="
        } else if within(nugues::slack(name)) {
            "≈"
        } else {
            differ.push(*name);
            "≠"
        };
        println!("{name:<30} {:>40} {mark} {}", show(ours), show(printed));
    }
    if !differ.is_empty() {
        return Err(format!("values differ from the notebook's: {differ:?}").into());
    }
    println!(
        "\n= prints as the notebook's 4 decimals; ≈ within 3e-4, what its weights, printed \
         rounded to 4 decimals, leave open\n"
    );

    println!("2. A 784-128-10 classifier on MNIST digits, trained with Adam\n");
    let (train, test) = mnist_5k()?.stratified_split(100);
    println!(
        "{} images to learn from, each also shifted by a pixel four ways; {} held out",
        train.len(),
        test.len()
    );
    let start = std::time::Instant::now();
    let run = digits::train(&digits::with_shifts(&train), &test, 10, true)?;
    let accuracy = run.accuracy.last().copied().unwrap_or_default();
    println!(
        "held-out accuracy {:.1}% after {} epochs in {:.1} s",
        100.0 * accuracy,
        run.accuracy.len(),
        start.elapsed().as_secs_f64()
    );
    let plot = Path::new("target/digits.svg");
    digits::plot(&run, plot)?;
    println!("loss and accuracy curves: {}\n", plot.display());

    println!("3. The weights, saved and loaded back\n");
    let file = Path::new("target/digits.safetensors");
    save_safetensors(&run.model, file)?;
    let mut fresh = digits::Classifier::<f32>::init(1, digits::ClassifierDims { nh: 128 })?;
    load_safetensors(&mut fresh, file, &NameMap::new())?;
    let reloaded = digits::accuracy(&fresh, &test.features(), &test.labels);
    println!(
        "{}: {} bytes; the loaded model's held-out accuracy is {:.1}%, {}",
        file.display(),
        std::fs::metadata(file)?.len(),
        100.0 * reloaded,
        if fresh == run.model {
            "its weights bit for bit the trained ones"
        } else {
            "but its weights differ"
        }
    );
    Ok(())
}
