//! Models thousands of layers long, through rustc: a sum of 5,000 terms
//! (`x @ w + b + b + ...`, whose fused pass was one closure nested 5,000 deep and crashed
//! rustc's parser) and 5,000 activations nested in one expression. Each is compiled, run, and its loss and
//! gradients compared with the same network computed by hand, a row and a layer at a time.

use std::fmt::Write as _;

const LAYERS: usize = 5000;

/// The activations the nested chain alternates.
const CHAIN: [&str; 2] = ["tanh", "relu"];

fn sum_model() -> String {
    let terms = " + b".repeat(LAYERS);
    format!(
        "pub struct Sum; input x: [n, 3]; target y: [n, 1]; param w: [3, 1], b: [1];\n\
         x @ w{terms};\nloss mse"
    )
}

fn chain_model() -> String {
    let mut e = String::from("x @ w");
    for i in 0..LAYERS {
        e = format!("{}({e})", CHAIN[i % CHAIN.len()]);
    }
    format!("pub struct Chain; input x: [n, 3]; target y: [n, 1]; param w: [3, 1];\n{e};\nloss mse")
}

/// The program: both models, and a `main` that checks each against the network by hand.
fn program() -> String {
    let mut file = String::from("#![deny(warnings)]\nuse ndarray::{array, Array2};\n");
    let _ = writeln!(file, "::backprop::model! {{ {} }}", sum_model());
    let _ = writeln!(file, "::backprop::model! {{ {} }}", chain_model());
    let _ = writeln!(file, "const LAYERS: usize = {LAYERS};");
    file.push_str(
        r#"
/// Equal up to the rounding of sums taken in another order.
fn close(got: f64, want: f64, what: &str) {
    assert!((got - want).abs() <= 1e-9 * want.abs(), "{what}: {got} against {want}");
}

fn main() {
    let x: Array2<f64> = array![[0.5, -1.0, 2.0], [1.5, 0.25, -0.75], [-0.2, 0.1, 0.3], [0.1, 0.2, 0.3]];
    let y: Array2<f64> = array![[1.0], [0.0], [0.5], [-1.0]];
    let w: Array2<f64> = array![[0.3], [-0.2], [0.1]];
    let rows = x.nrows();
    let z: Vec<f64> = (0..rows).map(|i| (0..3).map(|j| x[[i, j]] * w[[j, 0]]).sum()).collect();

    // The sum: out = z + LAYERS b.
    let b = array![0.001];
    let model = Sum::new(w.clone(), b.clone()).unwrap();
    let (loss, g) = model.grad(&x, &y).unwrap();
    let out: Vec<f64> = z.iter().map(|z| z + LAYERS as f64 * b[0]).collect();
    let d: Vec<f64> = (0..rows).map(|i| out[i] - y[[i, 0]]).collect();
    close(loss, d.iter().map(|d| d * d).sum::<f64>() / rows as f64, "loss of the sum");
    let dout: Vec<f64> = d.iter().map(|d| 2.0 * d / rows as f64).collect();
    close(g.b[0], LAYERS as f64 * dout.iter().sum::<f64>(), "db of the sum");
    for j in 0..3 {
        let want: f64 = (0..rows).map(|i| x[[i, j]] * dout[i]).sum();
        close(g.w[[j, 0]], want, "dw of the sum");
    }

    // The chain: out = f_LAYERS(... f_1(z)), the f alternating tanh and relu.
    let model = Chain::new(w.clone()).unwrap();
    let (loss, g) = model.grad(&x, &y).unwrap();
    let mut total = 0.0;
    let mut dz = vec![0.0; rows];
    for i in 0..rows {
        let mut v = z[i];
        let mut slope = 1.0;
        for layer in 0..LAYERS {
            if layer % 2 == 0 {
                v = v.tanh();
                slope *= 1.0 - v * v;
            } else {
                slope *= if v > 0.0 { 1.0 } else { 0.0 };
                v = v.max(0.0);
            }
        }
        let d = v - y[[i, 0]];
        total += d * d;
        dz[i] = 2.0 * d / rows as f64 * slope;
    }
    close(loss, total / rows as f64, "loss of the chain");
    assert!(dz.iter().any(|&d| d != 0.0), "the chain's gradient is not all zeros");
    for j in 0..3 {
        let want: f64 = (0..rows).map(|i| x[[i, j]] * dz[i]).sum();
        close(g.w[[j, 0]], want, "dw of the chain");
    }
}
"#,
    );
    file
}

#[test]
fn five_thousand_layers_compile_and_compute_what_they_say() {
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("deep");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("five_thousand_layers.rs");
    std::fs::write(&path, program()).unwrap();
    trybuild::TestCases::new().pass(&path);
}
