//! The derivation's text and LaTeX: names for unnamed layers, the rules on their lines,
//! gradients that are another line's, and LaTeX identifiers. The seed models' derivations
//! are pinned in the facade's tests/snapshots.

use super::compile;
use crate::derivation::Derivation;
use crate::print::latex_ident;

fn both(src: &str) -> (String, String) {
    let c = compile(src);
    let d = Derivation::new(&c.lowered, &c.adjoint);
    (d.text(), d.latex())
}

/// The formula lines of a derivation (without the rules), and each line's rules.
fn lines(text: &str) -> Vec<(String, String)> {
    text.lines()
        .map(|l| match l.find("   [") {
            Some(i) => (l[..i].trim().to_string(), l[i..].trim().to_string()),
            None => (l.trim().to_string(), String::new()),
        })
        .collect()
}

fn has(text: &str, line: &str, rules: &str) {
    assert!(
        lines(text).iter().any(|(l, r)| l == line && r == rules),
        "no `{line}` with `{rules}` in\n{text}"
    );
}

#[test]
fn unnamed_layers_are_named_as_the_notebooks_name_them() {
    let (text, _) = both("relu(relu(x @ w1 + b1) @ w2 + b2) @ w3 + b3; loss mse");
    has(&text, "z1 = x · w1 + b1", "");
    has(&text, "h1 = relu(z1)", "");
    has(&text, "z2 = h1 · w2 + b2", "");
    has(&text, "h2 = relu(z2)", "");
    has(&text, "ŷ = h2 · w3 + b3", "");
    has(&text, "δz2 = δh2 ⊙ [z2 > 0]", "[relu']");
    has(&text, "δh1 = δz2 · w2ᵀ", "");
    has(&text, "∂L/∂b1 = Σ_rows δz1", "[broadcast]");
    has(&text, "δŷ = 2 · (ŷ − y) / N", "[power rule]");
    has(&text, "N = numel(ŷ)", "");
    // A chain of products without activations names each product.
    let (text, _) = both("x @ a @ b @ c; loss sse");
    has(&text, "z1 = x · a", "");
    has(&text, "z2 = z1 · b", "");
    has(&text, "δz1 = δz2 · bᵀ", "");
}

#[test]
fn given_names_are_kept_and_not_reused() {
    let (text, _) = both("input z1: [n, 2]; let h = tanh(z1 @ w + b); h @ v; loss mse");
    has(&text, "z2 = z1 · w + b", "");
    has(&text, "h = tanh(z2)", "");
    has(&text, "δz2 = δh ⊙ (1 − h²)", "[tanh']");
    has(&text, "δz1 = δz2 · wᵀ", "");
}

#[test]
fn rewrites_and_fan_out_are_named_where_they_fire() {
    let (text, _) = both("input x: [n, 2]; let z = x @ w; sigmoid(z); loss -log(out).mean()");
    let all = lines(&text);
    let loss = all
        .iter()
        .find(|(l, _)| l.starts_with("L = "))
        .expect("a loss line");
    assert_eq!(loss.1, "[log σ(z) = −softplus(−z)]", "{text}");
    assert!(loss.0.contains("softplus(−z)"), "{text}");
    let dz = all
        .iter()
        .find(|(l, _)| l.starts_with("δz = "))
        .expect("a line for z");
    assert_eq!(dz.1, "[softplus', log σ(z) = −softplus(−z)]", "{text}");
    let (text, _) = both("relu(x @ w) @ w.T; loss mse(out, x)");
    let (w, rules) = lines(&text)
        .into_iter()
        .find(|(l, _)| l.starts_with("∂L/∂w ="))
        .expect("a line for w");
    assert_eq!(w, "∂L/∂w = δŷᵀ · h1 + xᵀ · δz1");
    assert!(rules.contains("fan-out"), "{rules}");
}

/// A gradient that is another value's is written as that value's name.
#[test]
fn shared_gradients_are_written_by_name() {
    let (text, _) = both("let a = x @ w; let s = a + b; s; loss 0.5 * sse(out, y)");
    has(&text, "δs = s − y", "");
    assert!(
        lines(&text)
            .iter()
            .any(|(l, _)| l == "δa = δs" || l == "δs = δa"),
        "{text}"
    );
}

#[test]
fn latex_identifiers_and_lines() {
    assert_eq!(latex_ident("x"), "x");
    assert_eq!(latex_ident("z12"), "z_{12}");
    assert_eq!(latex_ident("fc3"), r"\mathit{fc}_{3}");
    assert_eq!(latex_ident("w_l1"), r"w_{l1}");
    assert_eq!(latex_ident("w_a_b"), r"w_{a\_b}");
    assert_eq!(latex_ident("labels"), r"\mathit{labels}");
    assert_eq!(latex_ident("_x"), r"\mathit{\_x}");
    let (_, latex) = both("let z = x @ fc1.T; sigmoid(z); loss bce");
    assert!(latex.starts_with("\\begin{aligned}\n"), "{latex}");
    assert!(
        latex.contains(r"z &= x \cdot {\mathit{fc}_{1}}^{\top}"),
        "{latex}"
    );
    assert!(
        latex.contains(r"\delta_{z} &= \frac{\hat{y} - y}{N} && [\text{sigmoid + bce}]"),
        "{latex}"
    );
    assert!(
        latex.contains(
            r"\frac{\partial L}{\partial \mathit{fc}_{1}} &= {\delta_{z}}^{\top} \cdot x"
        ),
        "{latex}"
    );
}
