//! The picture of a model's graph, `GRAPH`: pinned as Graphviz text for the README's `Mlp`
//! and Nugues' network (`tests/snapshots/*.dot`), every line of the derivation a node
//! labelled with it, edges from the values each line reads, and drawn by Graphviz's `dot`
//! to SVG and PNG (`target/graphs/`). Needs `dot` on the path (Debian's `graphviz`, which
//! `.ci/packages` installs).
//!
//! After a deliberate change, `BACKPROP_BLESS=1 cargo test --test graph` rewrites the
//! snapshots; review their diff.

mod common;
#[path = "../examples/explain.rs"]
#[allow(dead_code)]
mod explain;

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use common::assert_snapshot;

use explain::nugues::Nugues;

backprop::model! { pub struct Mlp; relu(x @ w1 + b1) @ w2 + b2; loss mse }

fn graphs() -> [(&'static str, &'static str, &'static str); 2] {
    [
        ("mlp", Mlp::GRAPH, Mlp::DERIVATION),
        ("nugues", Nugues::GRAPH, Nugues::DERIVATION),
    ]
}

#[test]
fn graphs_are_pinned() {
    for (name, graph, _) in graphs() {
        assert_snapshot(&format!("{name}.dot"), graph);
    }
}

/// An edge: the labels of the nodes it joins, and whether it is dashed (a forward value
/// the backward pass reads).
type Edge = (String, String, bool);

/// The nodes of a graph by id, with their labels, and its edges.
fn parse(graph: &str) -> (HashMap<String, String>, Vec<Edge>) {
    let mut nodes = HashMap::new();
    let mut edges = Vec::new();
    for line in graph.lines().map(str::trim) {
        if let Some((from, rest)) = line.split_once(" -> ") {
            let to = rest.split([' ', ';']).next().unwrap_or_default();
            edges.push((from.to_string(), to.to_string(), rest.contains("dashed")));
        } else if let Some((id, rest)) = line.split_once(" [label=\"") {
            let label = rest.split("\", ").next().unwrap_or_default();
            nodes.insert(id.to_string(), label.replace("\\\"", "\""));
        }
    }
    let edges = edges
        .into_iter()
        .map(|(a, b, dashed)| (nodes[&a].clone(), nodes[&b].clone(), dashed))
        .collect();
    (nodes, edges)
}

#[test]
fn every_line_of_the_derivation_is_a_node() {
    for (name, graph, derivation) in graphs() {
        let (nodes, _) = parse(graph);
        let labels: Vec<&String> = nodes.values().collect();
        for line in derivation.lines().filter(|l| l.starts_with("  ")) {
            let formula = match line.find("   [") {
                Some(i) => line[..i].trim(),
                None => line.trim(),
            };
            // The counts (`N = numel(z3)`) are in the formulas, not nodes.
            if formula.contains("numel(") || formula.contains(".shape[") {
                continue;
            }
            assert!(
                labels.iter().any(|l| *l == formula),
                "{name}: no node `{formula}` in\n{graph}"
            );
        }
    }
}

#[test]
fn edges_follow_what_each_line_reads() {
    let (_, edges) = parse(Mlp::GRAPH);
    let has = |from: &str, to: &str, dashed: bool| {
        edges
            .iter()
            .any(|(a, b, d)| a.starts_with(from) && b.starts_with(to) && *d == dashed)
    };
    // Forward: the tensors into the first layer, the layer into the next.
    assert!(has("x", "z1 = ", false), "{edges:?}");
    assert!(has("w1", "z1 = ", false), "{edges:?}");
    assert!(has("b1", "z1 = ", false), "{edges:?}");
    assert!(has("z1 = ", "h1 = ", false), "{edges:?}");
    assert!(has("h1 = ", "ŷ = ", false), "{edges:?}");
    assert!(has("ŷ = ", "L = ", false), "{edges:?}");
    // Backward: gradient into gradient, and the forward values each reads, dashed.
    assert!(has("δz1 = ", "∂L/∂w1 = ", false), "{edges:?}");
    assert!(has("x", "∂L/∂w1 = ", true), "{edges:?}");
    assert!(has("z1 = ", "δz1 = ", true), "{edges:?}");
    let (_, edges) = parse(Nugues::GRAPH);
    assert!(
        edges
            .iter()
            .any(|(a, b, _)| a.starts_with("δz3 = ") && b.starts_with("∂L/∂fc3 = ")),
        "{edges:?}"
    );
}

/// `dot -T<format>` of `graph`, written to `path`.
fn draw(graph: &str, format: &str, path: &Path) {
    let drawn = backprop::graph::draw(graph, format)
        .unwrap_or_else(|e| panic!("dot -T{format} draws the graph: {e}"));
    std::fs::write(path, drawn).expect("the drawing written");
}

#[test]
fn graphs_draw_as_svg_and_png() {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("graphs");
    std::fs::create_dir_all(&dir).expect("a directory for the drawings");
    for (name, graph, _) in graphs() {
        let svg = dir.join(format!("{name}.svg"));
        draw(graph, "svg", &svg);
        let text = std::fs::read_to_string(&svg).expect("the SVG");
        let (nodes, _) = parse(graph);
        assert_eq!(
            text.matches("class=\"node\"").count(),
            nodes.len(),
            "{name}"
        );
        let gradient = if name == "mlp" {
            "∂L/∂w1"
        } else {
            "∂L/∂fc1"
        };
        assert!(text.contains(gradient), "{name}: {gradient} in the SVG");
        let png = dir.join(format!("{name}.png"));
        draw(graph, "png", &png);
        let bytes = std::fs::read(&png).expect("the PNG");
        assert!(
            bytes.starts_with(b"\x89PNG\r\n\x1a\n") && bytes.len() > 10_000,
            "{name}"
        );
    }
}

/// The numbers of one pass on the graph, as micrograd's `draw_dot` shows them: each
/// parameter's value and gradient, the output and its gradient, the loss, under their
/// nodes; drawn too.
#[test]
fn a_pass_is_written_on_the_graph() {
    let model = Mlp::<f64>::init(0, [2, 3], [3], [3, 1], [1]).unwrap();
    let x = ndarray::array![[0.5, -1.0], [1.5, 2.0]];
    let y = ndarray::array![[1.0], [0.0]];
    let trace = model.trace(&x, &y).unwrap();
    let drawn = backprop::graph::annotate(Mlp::GRAPH)
        .parameters(&model)
        .gradients(&trace.grads)
        .value("ŷ", &trace.out)
        .value("δŷ", &trace.d_out)
        .value("L", &trace.loss)
        .finish();
    let (nodes, _) = parse(&drawn);
    let label = |start: &str| {
        nodes
            .values()
            .find(|l| l.starts_with(start))
            .cloned()
            .unwrap_or_else(|| panic!("no node {start} in\n{drawn}"))
    };
    // The first value written under a label, to four significant digits.
    let shown = |label: &str| -> f64 {
        let note = label.split("\\n").nth(1).unwrap_or_default();
        let first = note.rsplit(": ").next().unwrap_or(note);
        first
            .split(", ")
            .next()
            .unwrap_or_default()
            .parse()
            .unwrap()
    };
    let close = |a: f64, b: f64| (a - b).abs() <= 5e-4 * b.abs().max(1e-3);
    let w1 = label("w1");
    assert!(w1.starts_with("w1\\n[2, 3]: "), "{w1}");
    assert!(close(shown(&w1), model.w1[[0, 0]]), "{w1}");
    let g = label("∂L/∂w1 = ");
    assert!(g.contains("\\n[2, 3]: "), "{g}");
    assert!(close(shown(&g), trace.grads.w1[[0, 0]]), "{g}");
    let out = label("ŷ = ");
    assert!(out.contains("\\n[2, 1]: "), "{out}");
    assert!(close(shown(&out), trace.out[[0, 0]]), "{out}");
    assert!(
        close(shown(&label("δŷ = ")), trace.d_out[[0, 0]]),
        "{drawn}"
    );
    assert!(close(shown(&label("L = ")), trace.loss), "{drawn}");
    // The lines the pass does not keep are as they were.
    assert_eq!(label("z1 = "), "z1 = x · w1 + b1");
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("graphs");
    std::fs::create_dir_all(&dir).expect("a directory for the drawings");
    draw(&drawn, "png", &dir.join("mlp-pass.png"));
}
