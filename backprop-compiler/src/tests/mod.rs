//! Compiler tests that need no rustc: symbolic derivatives as text, errors at tokens, and
//! random models checked against finite differences with the reference interpreter.

mod derivation;
mod errors;
mod fuzz;
mod prop;
mod symbolic;

use std::collections::HashMap;

use ndarray::{ArrayD, IxDyn};

use crate::expand::{analyze, Compiled};
use crate::ir::{DimId, Graph, NodeId};
use crate::ops::{Index, Op};
use crate::print::Printer;

pub fn compile(src: &str) -> Compiled {
    match parse_and_analyze(src) {
        Ok(c) => c,
        Err(e) => panic!("`{src}` does not compile: {e}"),
    }
}

/// The error messages of a model that must not compile.
pub fn errors(src: &str) -> Vec<String> {
    match parse_and_analyze(src) {
        Ok(_) => panic!("`{src}` compiles"),
        Err(e) => e.into_iter().map(|e| e.to_string()).collect(),
    }
}

fn parse_and_analyze(src: &str) -> syn::Result<Compiled> {
    let model = syn::parse_str(src)?;
    analyze(model).map_err(|(err, _)| err)
}

/// Values of nodes `0..=upto`, the model's tensors given in `vars`.
pub fn run(graph: &Graph, vars: &[ArrayD<f64>], upto: NodeId) -> Vec<ArrayD<f64>> {
    let mut values: Vec<ArrayD<f64>> = Vec::with_capacity(upto.0 + 1);
    // The length of each class of dims, as the values so far have them.
    let mut lengths: HashMap<DimId, usize> = HashMap::new();
    for node in &graph.nodes[..=upto.0] {
        let value = match node.op {
            Op::Var(k) => vars[k].clone(),
            // A reshape is given its lengths as the shape of a second argument.
            Op::Index(Index::Reshape(axes)) => {
                let a = &values[node.args[0].0];
                let length = |d: DimId| {
                    graph
                        .dims
                        .known(d)
                        .or(lengths.get(&graph.dims.find(d)).copied())
                };
                let known: Vec<Option<usize>> = axes
                    .dims()
                    .iter()
                    .enumerate()
                    .map(|(i, &d)| {
                        if Some(i) == axes.inferred() {
                            None
                        } else {
                            length(d)
                        }
                    })
                    .collect();
                let rest: usize = known.iter().flatten().product();
                let shape: Vec<usize> = known.iter().map(|l| l.unwrap_or(a.len() / rest)).collect();
                let like = ArrayD::zeros(IxDyn(&shape));
                node.op.eval(&[a, &like])
            }
            _ => {
                let args: Vec<&ArrayD<f64>> = node.args.iter().map(|a| &values[a.0]).collect();
                node.op.eval(&args)
            }
        };
        for (&d, &len) in node.shape.iter().zip(value.shape()) {
            lengths.insert(graph.dims.find(d), len);
        }
        values.push(value);
    }
    values
}

/// A printer that names the `let`s, `out`, and the gradient of each as `d_name`.
pub fn printer(c: &Compiled) -> Printer<'_> {
    let mut p = Printer::new(&c.lowered.graph);
    let mut named: Vec<(String, NodeId)> = c
        .lowered
        .lets
        .iter()
        .map(|(n, id)| (n.to_string(), *id))
        .collect();
    named.extend(c.lowered.unnamed_outputs().cloned());
    for (name, id) in &named {
        p.name(*id, name);
        if let Some(g) = c.adjoint[id.0] {
            p.name(g, &format!("d_{name}"));
        }
    }
    p
}

/// The gradient of the loss with respect to the tensor or `let` called `name`, as text.
pub fn derivative(src: &str, name: &str) -> String {
    let c = compile(src);
    let g = &c.lowered.graph;
    let node = g
        .vars
        .iter()
        .find(|v| v.name == name)
        .map(|v| v.node)
        .or_else(|| {
            c.lowered
                .lets
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, id)| *id)
        })
        .or_else(|| {
            let outputs = &c.lowered.outputs;
            outputs.iter().find(|(n, _)| n == name).map(|(_, id)| *id)
        })
        .unwrap_or_else(|| panic!("no `{name}`"));
    match c.adjoint[node.0] {
        Some(d) => printer(&c).print(d),
        None => "0".into(),
    }
}

/// The text of the loss (or of a named value) after lowering and simplification.
pub fn lowered(src: &str) -> String {
    let c = compile(src);
    printer(&c).print(c.lowered.loss)
}
