//! Times `expand` on models of 10, 100 and 1,000 layers, written as `let` chains and as one
//! nested expression, and prints the median time per model and per layer.
//!
//! `cargo bench -p backprop-compiler --bench expand` (add `-- 5000` for a longer run).

use std::hint::black_box;
use std::str::FromStr;
use std::time::{Duration, Instant};

use proc_macro2::TokenStream;

/// `input x: [n, 8]; let h1 = relu(x @ w1 + b1); ... ; h_L @ w_out; loss mse`, every
/// weight declared so that all shape rules run.
fn chain(layers: usize) -> String {
    let mut src = String::from("pub struct Chain; input x: [n, 8]; target y: [n, 1];\n");
    for i in 1..=layers {
        src += &format!("param w{i}: [8, 8], b{i}: [8];\n");
    }
    src += "param w_out: [8, 1];\nlet h0 = x;\n";
    for i in 1..=layers {
        src += &format!("let h{i} = relu(h{} @ w{i} + b{i});\n", i - 1);
    }
    src += &format!("h{layers} @ w_out;\nloss mse\n");
    src
}

/// The same network as one expression, nested `layers` deep.
fn nested(layers: usize) -> String {
    let mut src = String::from("pub struct Nested; input x: [n, 8]; target y: [n, 1];\n");
    for i in 1..=layers {
        src += &format!("param w{i}: [8, 8], b{i}: [8];\n");
    }
    src += "param w_out: [8, 1];\n";
    let mut e = String::from("x");
    for i in 1..=layers {
        e = format!("relu({e} @ w{i} + b{i})");
    }
    src += &format!("{e} @ w_out;\nloss mse\n");
    src
}

fn median(mut times: Vec<Duration>) -> Duration {
    times.sort();
    times[times.len() / 2]
}

fn main() {
    // `cargo bench` passes `--bench`; a number among the arguments is the time budget per
    // model in milliseconds.
    let budget_ms: u64 = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(1000);
    println!("| form | layers | output text | median | per layer | runs |");
    println!("|---|---:|---:|---:|---:|---:|");
    for (form, build) in [
        ("let chain", chain as fn(usize) -> String),
        ("nested", nested),
    ] {
        for layers in [10, 100, 1000] {
            let input = TokenStream::from_str(&build(layers)).expect("the model lexes");
            let out = backprop_compiler::expand(input.clone()).to_string();
            assert!(
                !out.contains("compile_error"),
                "{form} {layers}: the model does not compile"
            );
            let mut times = Vec::new();
            let start = Instant::now();
            while times.len() < 3
                || (start.elapsed() < Duration::from_millis(budget_ms) && times.len() < 1000)
            {
                let t = Instant::now();
                black_box(backprop_compiler::expand(black_box(input.clone())));
                times.push(t.elapsed());
            }
            let runs = times.len();
            let m = median(times);
            println!(
                "| {form} | {layers} | {:.1} MB | {:.1} ms | {:.1} µs | {runs} |",
                out.len() as f64 / 1e6,
                m.as_secs_f64() * 1e3,
                m.as_secs_f64() * 1e6 / layers as f64,
            );
        }
    }
}
