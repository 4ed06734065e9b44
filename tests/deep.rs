//! Models thousands of layers long, through rustc: a sum of 5,000 terms
//! (`x @ w + b + b + ...`, whose fused pass was one closure nested 5,000 deep and crashed
//! rustc's parser) and 5,000 activations nested in one expression. Each is compiled, run,
//! and its loss and gradients compared with the same network computed by hand, a row and a
//! layer at a time.
//!
//! Past a few hundred stored arrays the macro writes its passes as nested functions rather
//! than closures, which rustc type-checks in time quadratic in their number. A third model,
//! 320 residual layers through every function of the language and its arithmetic, is
//! written that way: its output is compared with a one-cycle model, written with closures,
//! applied cycle after cycle, and its gradient with finite differences.

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

/// One cycle of the residual model: a layer for each function, `h + 0.01 * f(h)`.
const CYCLE: [&str; 16] = [
    "relu({h})",
    "sigmoid({h})",
    "tanh({h})",
    "exp({h})",
    "log(1 + {h} * {h})",
    "sqrt(1 + {h} * {h})",
    "abs({h})",
    "softplus({h})",
    "leaky_relu({h}, 0.1)",
    "clamp_min({h}, -0.5)",
    "silu({h})",
    "gelu({h})",
    "gelu_tanh({h})",
    "elu({h}, 1.0)",
    "log_sigmoid({h})",
    "{h}.pow(2) / (1 + {h} * {h}) - {h} / 2",
];

/// How many cycles the residual model runs.
const CYCLES: usize = 20;

/// `cycles` cycles of residual layers after `x @ w` (`w` of `rows` rows).
fn residual_model(name: &str, rows: usize, cycles: usize) -> String {
    let mut model = format!(
        "pub struct {name}; input x: [n, {rows}]; target y: [n, 1]; param w: [{rows}, 1];\n\
         let h0 = x @ w;\n"
    );
    let mut k = 0;
    for _ in 0..cycles {
        for f in CYCLE {
            k += 1;
            let f = f.replace("{h}", &format!("h{}", k - 1));
            let _ = writeln!(model, "let h{k} = h{} + 0.01 * {f};", k - 1);
        }
    }
    let _ = write!(model, "h{k};\nloss mse");
    model
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
    let _ = writeln!(
        file,
        "::backprop::model! {{ {} }}",
        residual_model("Every", 3, CYCLES)
    );
    let _ = writeln!(
        file,
        "::backprop::model! {{ {} }}",
        residual_model("Cycle", 1, 1)
    );
    let _ = writeln!(file, "const LAYERS: usize = {LAYERS};");
    let _ = writeln!(file, "const CYCLES: usize = {CYCLES};");
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

    // The residual model, its passes nested functions: its output is the one-cycle
    // model's, written with closures, applied CYCLES times to x @ w.
    let model = Every::new(w.clone()).unwrap();
    let mut h: Array2<f64> = Array2::from_shape_vec((rows, 1), z.clone()).unwrap();
    let one = Cycle::new(array![[1.0]]).unwrap();
    for _ in 0..CYCLES {
        h = one.forward(&h).unwrap();
    }
    let out = model.forward(&x).unwrap();
    for i in 0..rows {
        close(out[[i, 0]], h[[i, 0]], "output of the residual model");
    }
    let (loss, g) = model.grad(&x, &y).unwrap();
    let numeric = backprop::numeric_gradient(
        |w: &Array2<f64>| Every::new(w.clone()).unwrap().loss(&x, &y).unwrap(),
        &w,
        1e-6,
    );
    assert!(loss > 0.1, "the residual model's loss, {loss}");
    for j in 0..3 {
        let (got, want) = (g.w[[j, 0]], numeric[[j, 0]]);
        assert!(
            (got - want).abs() <= 1e-6 * want.abs().max(1.0),
            "dw of the residual model: {got} against finite differences {want}"
        );
    }
}
"#,
    );
    file
}

#[test]
fn thousands_of_layers_compile_and_compute_what_they_say() {
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("deep");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("five_thousand_layers.rs");
    std::fs::write(&path, program()).unwrap();
    trybuild::TestCases::new().pass(&path);
}
