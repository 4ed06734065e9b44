//! Values on a model's graph: a model's `GRAPH` (Graphviz text, a node for each tensor and
//! each line of its derivation) with the numbers of one pass written under the names they
//! belong to, as micrograd's `draw_dot` shows each value's data and gradient.
//!
//! A node is found by the name its label starts with: `w1` for a parameter, `z1` for the
//! line `z1 = x · w1 + b1`, `∂L/∂w1` and `δz1` for gradients, `ŷ` and `L`. Under it goes
//! the tensor's shape and first values.
//!
//! ```
//! use backprop_runtime::graph::annotate;
//! use ndarray::array;
//!
//! let graph = "digraph \"M\" {\n    v1 [label=\"w\", shape=box];\n    g0 [label=\"∂L/∂w = xᵀ · δŷ\"];\n}\n";
//! let w = array![[0.5f64, -1.25]];
//! let drawn = annotate(graph)
//!     .value("w", &w)
//!     .value("∂L/∂w", &array![[0.125f64, 2.0]])
//!     .finish();
//! assert!(drawn.contains("v1 [label=\"w\\n[1, 2]: 0.5, -1.25\", shape=box];"));
//! assert!(drawn.contains("g0 [label=\"∂L/∂w = xᵀ · δŷ\\n[1, 2]: 0.125, 2\"];"));
//! ```
//!
//! [`svg`] and [`draw`] lay a graph out with Graphviz's `dot` (Debian's `graphviz`
//! package), for a notebook to show or a file to keep.

use std::collections::HashMap;
use std::fmt::Write;
use std::io::{self, Write as _};
use std::process::{Command, Stdio};

use ndarray::ArrayViewD;

use crate::params::{Field, Tensors};
use crate::Float;

/// The most values of a tensor written under its name; past them, an ellipsis and the
/// mean.
const SHOWN: usize = 4;

/// A graph being annotated, from [`annotate`].
#[derive(Debug, Clone)]
pub struct Annotate<'g> {
    graph: &'g str,
    notes: HashMap<String, String>,
}

/// Starts annotating `graph`, a model's `GRAPH`.
pub fn annotate(graph: &str) -> Annotate<'_> {
    Annotate {
        graph,
        notes: HashMap::new(),
    }
}

impl Annotate<'_> {
    /// Writes `value` under the node named `name` (`z1`, `δz1`, `ŷ`, `L`).
    #[must_use]
    pub fn value<A: Float>(mut self, name: &str, value: &impl Field<A>) -> Self {
        self.notes.insert(name.to_string(), summary(value.tensor()));
        self
    }

    /// Writes each parameter's value under its node: `model`'s tensors by name.
    #[must_use]
    pub fn parameters<A: Float>(mut self, model: &impl Tensors<A>) -> Self {
        model.visit(&mut |name, t| {
            self.notes.insert(name.to_string(), summary(t));
        });
        self
    }

    /// Writes each parameter's gradient under its node, `∂L/∂w1` for `w1`: `grads`'s
    /// tensors by name, as a model's `grad` or `trace` gives them.
    #[must_use]
    pub fn gradients<A: Float>(mut self, grads: &impl Tensors<A>) -> Self {
        grads.visit(&mut |name, t| {
            self.notes.insert(format!("∂L/∂{name}"), summary(t));
        });
        self
    }

    /// The graph with every value given written under its node's label; a name no node
    /// has is left out.
    pub fn finish(&self) -> String {
        let mut out = String::with_capacity(self.graph.len());
        for line in self.graph.split_inclusive('\n') {
            match self.note(line) {
                Some((at, note)) => {
                    out.push_str(&line[..at]);
                    out.push_str("\\n");
                    out.push_str(&note.replace('\\', "\\\\").replace('"', "\\\""));
                    out.push_str(&line[at..]);
                }
                None => out.push_str(line),
            }
        }
        out
    }

    /// Where in `line`, a node's, the note for its name goes (the end of its label), and
    /// the note.
    fn note(&self, line: &str) -> Option<(usize, &str)> {
        const LABEL: &str = " [label=\"";
        let start = line.find(LABEL)? + LABEL.len();
        if line[..start].contains("->") {
            return None;
        }
        // The label runs to the first quote not escaped.
        let mut end = None;
        let mut escaped = false;
        for (i, c) in line[start..].char_indices() {
            match c {
                '\\' if !escaped => escaped = true,
                '"' if !escaped => {
                    end = Some(start + i);
                    break;
                }
                _ => escaped = false,
            }
        }
        let end = end?;
        let label = &line[start..end];
        let name = label.split(" = ").next().unwrap_or(label);
        self.notes.get(name).map(|note| (end, note.as_str()))
    }
}

/// `graph` drawn by Graphviz as SVG: [`draw`] to `svg`, as text.
///
/// # Errors
///
/// As [`draw`].
pub fn svg(graph: &str) -> io::Result<String> {
    String::from_utf8(draw(graph, "svg")?).map_err(io::Error::other)
}

/// `graph` laid out and drawn by Graphviz's `dot` in `format` (`svg`, `png`, `pdf`: its
/// `-T` argument), the bytes `dot` writes.
///
/// ```no_run
/// let png = backprop_runtime::graph::draw("digraph { x -> y }", "png")?;
/// std::fs::write("graph.png", png)?;
/// # Ok::<(), std::io::Error>(())
/// ```
///
/// # Errors
///
/// `NotFound` when `dot` is not installed, and the error `dot` prints when it cannot read
/// the graph or does not know the format.
pub fn draw(graph: &str, format: &str) -> io::Result<Vec<u8>> {
    let mut child = Command::new("dot")
        .arg(format!("-T{format}"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| match e.kind() {
            io::ErrorKind::NotFound => io::Error::new(
                e.kind(),
                "Graphviz's `dot` is not installed (Debian's and Homebrew's package `graphviz`)",
            ),
            _ => e,
        })?;
    let mut stdin = child
        .stdin
        .take()
        .ok_or_else(|| io::Error::other("dot's input"))?;
    // Written beside the reading of dot's output, so that neither pipe fills while the
    // other waits; the input closes when the writer is done.
    let (written, output) = std::thread::scope(|s| {
        let writer = s.spawn(move || stdin.write_all(graph.as_bytes()));
        let output = child.wait_with_output();
        (writer.join(), output)
    });
    let output = output?;
    if !output.status.success() {
        let message = String::from_utf8_lossy(&output.stderr);
        return Err(io::Error::other(format!(
            "dot -T{format}: {}",
            message.trim()
        )));
    }
    match written {
        Ok(Ok(())) => Ok(output.stdout),
        Ok(Err(e)) => Err(e),
        Err(_) => Err(io::Error::other("writing dot's input")),
    }
}

/// `[2, 8]: 0.1234, -0.5, 0.3, 1.5, … (mean 0.0123)`: the shape and the first values, each to
/// four significant digits.
fn summary<A: Float>(t: ArrayViewD<'_, A>) -> String {
    let mut s = String::new();
    if t.ndim() > 0 {
        let _ = write!(s, "{:?}: ", t.shape());
    }
    let values: Vec<String> = t.iter().take(SHOWN).map(|v| number(v.as_f64())).collect();
    s.push_str(&values.join(", "));
    if t.len() > SHOWN {
        let mean = t.iter().map(|v| v.as_f64()).sum::<f64>() / t.len() as f64;
        let _ = write!(s, ", … (mean {})", number(mean));
    }
    s
}

/// `v` to four significant digits, without trailing zeros.
fn number(v: f64) -> String {
    if v == 0.0 || !v.is_finite() {
        return format!("{v}");
    }
    let digits = (3 - v.abs().log10().floor() as i32).clamp(0, 12) as usize;
    let s = format!("{v:.digits$}");
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_keep_four_significant_digits() {
        assert_eq!(number(0.123456), "0.1235");
        assert_eq!(number(-1.25), "-1.25");
        assert_eq!(number(1234.5678), "1235");
        assert_eq!(number(0.000012346), "0.00001235");
        assert_eq!(number(2.0), "2");
        assert_eq!(number(0.0), "0");
        assert_eq!(number(f64::NAN), "NaN");
    }

    #[test]
    fn a_long_tensor_shows_its_first_values_and_mean() {
        let t = ndarray::Array1::from_iter((1..=8).map(f64::from)).into_dyn();
        assert_eq!(summary(t.view()), "[8]: 1, 2, 3, 4, … (mean 4.5)");
        assert_eq!(summary(ndarray::arr0(0.5f32).into_dyn().view()), "0.5");
    }

    #[test]
    fn dot_draws_svg_and_names_what_it_cannot_read() {
        let drawn = svg("digraph { v1 [label=\"∂L/∂w\"]; v0 -> v1; }").unwrap();
        assert!(
            drawn.starts_with("<?xml") && drawn.contains("∂L/∂w</text>"),
            "{drawn}"
        );
        let err = draw("digraph { v0 -> }", "svg").unwrap_err();
        assert!(err.to_string().starts_with("dot -Tsvg: Error: "), "{err}");
        let err = draw("digraph { v0 }", "nonesuch").unwrap_err();
        assert!(err.to_string().contains("nonesuch"), "{err}");
    }

    #[test]
    fn edges_and_unknown_names_are_left_alone() {
        let graph = "  v1 -> v2 [label=\"w\"];\n    v3 [label=\"q = \\\"w\\\"\"];\n";
        let drawn = annotate(graph)
            .value("w", &ndarray::arr1(&[1.0f64]))
            .finish();
        assert_eq!(drawn, graph);
    }
}
