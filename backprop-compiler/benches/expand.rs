//! Times `expand` on models of 10 to 2,000 layers, each written five ways (`let` chains and
//! one nested expression of dense layers, a nested chain of activations, a chain of `let`s
//! of activations, a long sum), and prints the median time and the output's size per
//! model and per layer.
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

/// The activations the unary chains cycle through.
const UNARY: [&str; 3] = ["tanh", "relu", "sigmoid"];

/// `tanh(relu(sigmoid(... x @ w ...)))`, `layers` activations deep.
fn unary(layers: usize) -> String {
    let mut e = String::from("x @ w");
    for i in 0..layers {
        e = format!("{}({e})", UNARY[i % UNARY.len()]);
    }
    format!(
        "pub struct Unary; input x: [n, 8]; target y: [n, 1]; param w: [8, 1];\n{e};\nloss mse\n"
    )
}

/// `let h1 = tanh(h0); let h2 = relu(h1); ...`: the same chain, a `let` a layer.
fn unary_lets(layers: usize) -> String {
    let mut src = String::from(
        "pub struct UnaryLets; input x: [n, 8]; target y: [n, 1]; param w: [8, 1];\nlet h0 = x @ w;\n",
    );
    for i in 1..=layers {
        let f = UNARY[(i - 1) % UNARY.len()];
        src += &format!("let h{i} = {f}(h{});\n", i - 1);
    }
    src += &format!("h{layers};\nloss mse\n");
    src
}

/// `x @ w + b1 + b2 + ...`, a term a layer.
fn sum(layers: usize) -> String {
    let mut src =
        String::from("pub struct Sum; input x: [n, 8]; target y: [n, 1]; param w: [8, 1];\n");
    let mut e = String::from("x @ w");
    for i in 1..=layers {
        src += &format!("param b{i}: [1];\n");
        e += &format!(" + b{i}");
    }
    src += &format!("{e};\nloss mse\n");
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
    // `--layers=100,500` runs those sizes only.
    let sizes: Vec<usize> = std::env::args()
        .find_map(|a| {
            a.strip_prefix("--layers=")
                .map(|l| l.split(',').filter_map(|n| n.parse().ok()).collect())
        })
        .unwrap_or_else(|| vec![10, 100, 1000, 2000]);
    println!("| form | layers | output text | median | per layer | runs |");
    println!("|---|---:|---:|---:|---:|---:|");
    for (form, build) in [
        ("let chain", chain as fn(usize) -> String),
        ("nested", nested),
        ("unary nested", unary),
        ("unary lets", unary_lets),
        ("sum", sum),
    ] {
        for &layers in &sizes {
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
