//! Seed 003, Pierre Nugues' notebook: a bias-free 3-4-2-1 network with a sigmoid output
//! and binary cross-entropy, its forward values, losses and gradients beside the values
//! the notebook prints (checked there by hand: `delta3 = y_hat - y`, `delta2 = delta3 @ W3`,
//! ...).
//!
//! Run with `cargo run --release --example nugues`.

use backprop::ShapeError;
use ndarray::{array, Array2};

backprop::model! {
    /// The notebook's simplified network: three `nn.Linear` layers without bias, `[out, in]`
    /// weights, a sigmoid on the last.
    pub struct Nugues;
    input x: [n, 3];
    target y: [n, 1];
    param fc1: [4, 3], fc2: [2, 4], fc3: [1, 2];
    let z1 = x @ fc1.T;
    let z2 = z1 @ fc2.T;
    let z3 = z2 @ fc3.T;
    sigmoid(z3);
    loss bce
}

/// The weights the notebook prints (`fc1.weight`, `fc2.weight`, `fc3.weight`).
pub fn weights() -> (Array2<f64>, Array2<f64>, Array2<f64>) {
    (
        array![
            [0.2369, 0.4875, -0.0785],
            [-0.1420, 0.5180, -0.4875],
            [-0.0190, -0.2783, 0.3500],
            [0.2950, -0.3992, 0.5065]
        ],
        array![
            [-0.0172, -0.1255, 0.3816, 0.4249],
            [-0.0027, -0.1248, 0.4886, 0.1373]
        ],
        array![[-0.2785, 0.4220]],
    )
}

/// The values the notebook prints, by the name of its cell's expression, row-major.
pub const NOTEBOOK: &[(&str, &[f64])] = &[
    ("net.forward(x)", &[0.4999]),
    ("net.forward(X)", &[0.4999, 0.4962, 0.4926, 0.4889]),
    ("loss_fn(net.forward(X), y_v)", &[0.6896]),
    ("loss (one observation)", &[0.6933]),
    ("net.z1", &[0.9764, -0.5687, 0.4745, 1.0161]),
    ("net.z2", &[0.6674, 0.4397]),
    ("net.z3", &[-0.0003]),
    ("delta3", &[-0.5001]),
    ("delta2", &[0.1393, -0.2110]),
    ("delta1", &[-0.0018, 0.0089, -0.0500, 0.0302]),
    ("delta0", &[0.0082, 0.0055, -0.0064]),
    (
        "net.fc1.weight.grad",
        &[
            -0.0018, -0.0037, -0.0055, 0.0089, 0.0177, 0.0266, -0.0500, -0.0999, -0.1499, 0.0302,
            0.0604, 0.0906,
        ],
    ),
    (
        "net.fc2.weight.grad",
        &[
            0.1360, -0.0792, 0.0661, 0.1415, -0.2061, 0.1200, -0.1001, -0.2144,
        ],
    ),
    ("net.fc3.weight.grad", &[-0.3337, -0.2199]),
];

/// How far a value of ours may be from the notebook's beyond its printed rounding
/// (`0.5e-4`). The notebook computed with weights it prints rounded to four decimals;
/// rounding moves a pre-activation by at most `(1 + 2 + 3) * 0.5e-4 = 3e-4` for
/// `x = [1, 2, 3]`, which bounds the layer outputs `z1`, `z2` and the gradients built on
/// them. The losses, the outputs, the deltas and the input gradient print exactly as the
/// notebook's.
pub fn slack(name: &str) -> f64 {
    let exact = name.starts_with("loss") || name.starts_with("delta") || name.contains("forward");
    if exact {
        0.0
    } else {
        3e-4
    }
}

/// Our values for every entry of [`NOTEBOOK`], in the same order.
pub fn ours() -> Result<Vec<(&'static str, Vec<f64>)>, ShapeError> {
    let (fc1, fc2, fc3) = weights();
    let net = Nugues::new(fc1, fc2, fc3)?;
    let x = array![[1.0, 2.0, 3.0]];
    let big_x = array![
        [1.0, 2.0, 3.0],
        [2.0, 3.0, 4.0],
        [3.0, 4.0, 5.0],
        [4.0, 5.0, 6.0]
    ];
    let y_v = array![[1.0], [0.0], [1.0], [0.0]];
    let y_one = y_v.slice(ndarray::s![..1, ..]);
    let one = net.trace(&x, y_one)?;
    let flat = |a: &Array2<f64>| a.iter().copied().collect::<Vec<f64>>();
    Ok(vec![
        ("net.forward(x)", flat(&net.forward(&x)?)),
        ("net.forward(X)", flat(&net.forward(&big_x)?)),
        (
            "loss_fn(net.forward(X), y_v)",
            vec![net.loss(&big_x, &y_v)?],
        ),
        ("loss (one observation)", vec![one.loss]),
        ("net.z1", flat(&one.z1)),
        ("net.z2", flat(&one.z2)),
        ("net.z3", flat(&one.z3)),
        ("delta3", flat(&one.d_z3)),
        ("delta2", flat(&one.d_z2)),
        ("delta1", flat(&one.d_z1)),
        ("delta0", flat(&one.inputs.x)),
        ("net.fc1.weight.grad", flat(&one.grads.fc1)),
        ("net.fc2.weight.grad", flat(&one.grads.fc2)),
        ("net.fc3.weight.grad", flat(&one.grads.fc3)),
    ])
}

#[allow(dead_code)]
fn main() -> Result<(), ShapeError> {
    let show = |values: &[f64]| {
        let cells: Vec<String> = values.iter().map(|v| format!("{v:8.4}")).collect();
        cells.join(" ")
    };
    for ((name, ours), (_, printed)) in ours()?.iter().zip(NOTEBOOK) {
        println!("{name}");
        println!("  backprop  {}", show(ours));
        println!("  notebook  {}", show(printed));
    }
    Ok(())
}
