//! The chain rule of the seed models, as `model!` derived it: every forward definition and
//! every gradient, over the models' own names, in Unicode (LaTeX with `--latex`); then, for
//! Nugues' notebook, the value of each δ beside the delta the notebook prints.
//!
//! Run with `cargo run --example explain` (or `-- --latex`).

use backprop::ShapeError;

#[path = "hello.rs"]
#[allow(dead_code)]
pub mod hello;
#[path = "nugues.rs"]
#[allow(dead_code)]
pub mod nugues;

backprop::model! {
    /// The fastai lesson's network (seed 004): `lin`, `relu`, `lin`, and the mean squared
    /// error of the output's one column.
    pub struct Fastai;
    relu(x @ w1 + b1) @ w2 + b2;
    loss (out[:, 0] - y).pow(2).mean()
}

backprop::model! {
    /// Seed 000's regressor: four bias-free `nn.Linear` layers, `0.5 * e.T @ e` as a sum.
    pub struct Seed000;
    let y1 = x @ fc1.T;
    let y2 = y1 @ fc2.T;
    let y3 = y2 @ fc3.T;
    y3 @ fc4.T;
    loss 0.5 * sse(out, y)
}

/// Each seed model's name, derivation text and LaTeX.
pub fn derivations() -> [(&'static str, &'static str, &'static str); 4] {
    [
        (
            "hello",
            hello::Hello::DERIVATION,
            hello::Hello::DERIVATION_LATEX,
        ),
        (
            "nugues",
            nugues::Nugues::DERIVATION,
            nugues::Nugues::DERIVATION_LATEX,
        ),
        ("fastai", Fastai::DERIVATION, Fastai::DERIVATION_LATEX),
        ("seed000", Seed000::DERIVATION, Seed000::DERIVATION_LATEX),
    ]
}

/// A gradient of Nugues' network beside the delta its notebook prints.
pub struct Delta {
    /// Its name in the derivation (`δz3`).
    pub name: &'static str,
    /// Its name in the notebook (`delta3`).
    pub printed: &'static str,
    /// Its values, from `trace`, row-major.
    pub ours: Vec<f64>,
    /// The values the notebook prints.
    pub notebook: Vec<f64>,
}

/// The gradients of Nugues' network for its first observation, by the derivation's names,
/// beside the deltas its notebook prints.
pub fn nugues_deltas() -> Result<Vec<Delta>, ShapeError> {
    let names = [
        ("delta3", "δz3"),
        ("delta2", "δz2"),
        ("delta1", "δz1"),
        ("delta0", "δx"),
    ];
    // `ours` lists its values in the order of the notebook's.
    Ok(nugues::ours()?
        .into_iter()
        .zip(nugues::NOTEBOOK)
        .filter_map(|((printed, ours), (_, notebook))| {
            let &(_, name) = names.iter().find(|(p, _)| *p == printed)?;
            Some(Delta {
                name,
                printed,
                ours,
                notebook: notebook.to_vec(),
            })
        })
        .collect())
}

/// `v` as the notebook prints it: four decimals.
pub fn four(v: f64) -> String {
    let s = format!("{v:.4}");
    // `-0.0000` prints as `0.0000` in the notebook.
    if s.trim_start_matches('-')
        .chars()
        .all(|c| c == '0' || c == '.')
    {
        s.trim_start_matches('-').to_string()
    } else {
        s
    }
}

#[allow(dead_code)]
fn main() -> Result<(), Box<dyn std::error::Error>> {
    let latex = std::env::args().any(|a| a == "--latex");
    for (name, text, tex) in derivations() {
        println!("== {name}\n");
        println!("{}", if latex { tex } else { text });
    }
    println!("== nugues: the gradients for x = [1, 2, 3], y = 1, against the notebook\n");
    let mut differ = Vec::new();
    for Delta {
        name: delta,
        printed,
        ours,
        notebook,
    } in nugues_deltas()?
    {
        let ours: Vec<String> = ours.iter().map(|&v| four(v)).collect();
        let notebook: Vec<String> = notebook.iter().map(|&v| four(v)).collect();
        let same = ours == notebook;
        println!(
            "{delta:<4} [{}]   notebook {printed}: [{}]   {}",
            ours.join(", "),
            notebook.join(", "),
            if same { "equal" } else { "DIFFERENT" }
        );
        if !same {
            differ.push(delta);
        }
    }
    if differ.is_empty() {
        Ok(())
    } else {
        Err(format!("{differ:?} differ from the notebook").into())
    }
}
