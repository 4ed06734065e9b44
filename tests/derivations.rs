//! The derivations of the seed models: pinned as text and LaTeX (`tests/snapshots/`), read
//! against the notebooks' own steps, with the Nugues deltas as its notebook prints them, and
//! the LaTeX rendered by KaTeX under Node.js.
//!
//! After a deliberate change, `BACKPROP_BLESS=1 cargo test --test derivations` rewrites the
//! snapshots; review their diff.

mod common;
#[path = "../examples/explain.rs"]
#[allow(dead_code)]
mod explain;

use std::path::{Path, PathBuf};

use common::{assert_snapshot, snapshot};
use std::process::Command;

#[test]
fn seed_derivations_are_pinned() {
    for (name, text, latex) in explain::derivations() {
        assert_snapshot(&format!("{name}.txt"), text);
        assert_snapshot(&format!("{name}.tex"), latex);
    }
}

/// The lines of a derivation, trimmed of the rules in brackets.
fn lines(derivation: &str) -> Vec<String> {
    derivation
        .lines()
        .map(|l| match l.find("   [") {
            Some(i) => l[..i].trim().to_string(),
            None => l.trim().to_string(),
        })
        .collect()
}

fn assert_has(derivation: &str, line: &str) {
    assert!(
        lines(derivation).iter().any(|l| l == line),
        "no line `{line}` in\n{derivation}"
    );
}

/// Seed 003's notebook: δ3 = ŷ − y (over the batch), δ2 = δ3·W3, δ1 = δ2·W2, δ0 = δ1·W1,
/// and each weight's gradient δᵀ times the layer below.
#[test]
fn nugues_reads_as_the_notebook() {
    let d = explain::nugues::Nugues::DERIVATION;
    for line in [
        "δz3 = (ŷ − y) / N",
        "δz2 = δz3 · fc3",
        "δz1 = δz2 · fc2",
        "δx = δz1 · fc1",
        "∂L/∂fc3 = δz3ᵀ · z2",
        "∂L/∂fc2 = δz2ᵀ · z1",
        "∂L/∂fc1 = δz1ᵀ · x",
        "N = numel(z3)",
    ] {
        assert_has(d, line);
    }
    assert!(d.contains("δz3 = (ŷ − y) / N       [sigmoid + bce]"), "{d}");
}

/// Seed 004's `lin_grad` and `relu_grad`: `out.g = 2·diff/N` (as a column), `l1.g = (l1 >
/// 0)·l2.g`, `w.g = inpᵀ·out.g`, `b.g = Σ out.g` for both layers, `inp.g = out.g·wᵀ`.
#[test]
fn fastai_reads_as_lin_grad() {
    let d = explain::Fastai::DERIVATION;
    for line in [
        "δŷ[:, 0] = 2 · (ŷ[:, 0] − y) / N",
        "δz1 = δh1 ⊙ [z1 > 0]",
        "∂L/∂w2 = h1ᵀ · δŷ",
        "∂L/∂b2 = Σ_rows δŷ",
        "δh1 = δŷ · w2ᵀ",
        "∂L/∂w1 = xᵀ · δz1",
        "∂L/∂b1 = Σ_rows δz1",
        "δx = δz1 · w1ᵀ",
    ] {
        assert_has(d, line);
    }
    assert!(d.contains("[relu']") && d.contains("[broadcast]"), "{d}");
}

/// `cargo run --example explain` prints each δ of Nugues' first observation as the
/// notebook prints delta3, delta2, delta1 and delta0: to four decimals.
#[test]
fn nugues_deltas_print_as_the_notebook() {
    let rows = explain::nugues_deltas().unwrap();
    assert_eq!(rows.len(), 4);
    for d in rows {
        assert_eq!(d.ours.len(), d.notebook.len(), "{}", d.name);
        assert!(!d.ours.is_empty(), "{}", d.name);
        let ours: Vec<String> = d.ours.iter().map(|&v| explain::four(v)).collect();
        let notebook: Vec<String> = d.notebook.iter().map(|&v| explain::four(v)).collect();
        assert_eq!(
            ours, notebook,
            "{} against the notebook's {}",
            d.name, d.printed
        );
    }
}

/// Every seed model's LaTeX renders in KaTeX (`throwOnError`, strict), installed from the
/// npm registry into `tests/katex/node_modules` by `npm ci` when it is not there yet.
#[test]
fn latex_renders_in_katex() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/katex");
    if !dir.join("node_modules/katex").exists() {
        let status = Command::new("npm")
            .args(["ci", "--no-audit", "--no-fund"])
            .current_dir(&dir)
            .status()
            .expect("npm runs (Node.js is needed to render the LaTeX)");
        assert!(status.success(), "npm ci in {}", dir.display());
    }
    let files: Vec<PathBuf> = explain::derivations()
        .iter()
        .map(|(name, _, _)| snapshot(&format!("{name}.tex")))
        .collect();
    let output = Command::new("node")
        .arg("render.js")
        .args(&files)
        .current_dir(&dir)
        .output()
        .expect("node runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "KaTeX failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    // One line per file: its name and the length of the HTML KaTeX made of it.
    assert_eq!(stdout.lines().count(), files.len(), "{stdout}");
    for line in stdout.lines() {
        let chars: usize = line
            .rsplit(' ')
            .next()
            .and_then(|n| n.parse().ok())
            .unwrap_or(0);
        assert!(chars > 1000, "{line}");
    }
}
