//! Graph -> text, as a person writes it: `2 * (out - y) / numel(out)`. Nodes with a name
//! (the model's tensors, `let` bindings, `out`) print as that name.

use std::collections::HashMap;

use crate::ir::{Graph, NodeId};
use crate::ops::Op;

pub struct Printer<'g> {
    graph: &'g Graph,
    names: HashMap<NodeId, String>,
}

impl<'g> Printer<'g> {
    pub fn new(graph: &'g Graph) -> Self {
        let names = graph
            .vars
            .iter()
            .map(|v| (v.node, v.name.clone()))
            .collect();
        Self { graph, names }
    }

    /// Prints `node` as `name` wherever it appears (except at the top of `print(node)`).
    pub fn name(&mut self, node: NodeId, name: &str) {
        self.names.entry(node).or_insert_with(|| name.to_string());
    }

    /// The text of `id`, spelled out even if it has a name.
    pub fn print(&self, id: NodeId) -> String {
        self.node(id, true)
    }

    /// The text of `id`, or its name if it has one.
    pub fn show(&self, id: NodeId) -> String {
        self.node(id, false)
    }

    /// `a` printed in a context of precedence `min`: parenthesized if it binds looser.
    fn operand(&self, id: NodeId, min: u8) -> String {
        let text = self.show(id);
        if self.precedence(id) < min {
            format!("({text})")
        } else {
            text
        }
    }

    fn precedence(&self, id: NodeId) -> u8 {
        if self.names.contains_key(&id) {
            return 9;
        }
        let g = self.graph;
        match g.op(id) {
            Op::Add => 1,
            Op::Mul | Op::Matmul => 2,
            Op::Neg => 3,
            Op::Const(c) if c.get() < 0.0 => 3,
            Op::Pow(k) if k.get() == -1.0 => 2,
            Op::Pow(_) => 4,
            _ => 9,
        }
    }

    fn node(&self, id: NodeId, top: bool) -> String {
        if !top {
            if let Some(name) = self.names.get(&id) {
                return name.clone();
            }
        }
        let g = self.graph;
        let args = g.args(id);
        let arg = |i: usize| args.get(i).copied().unwrap_or(id);
        let call = |f: &str| {
            let inner: Vec<String> = args.iter().map(|&a| self.show(a)).collect();
            format!("{f}({})", inner.join(", "))
        };
        let reciprocal = |n: NodeId| match g.op(n) {
            Op::Pow(k) if k.get() == -1.0 => Some(g.args(n)[0]),
            _ => None,
        };
        match *g.op(id) {
            Op::Var(i) => g.vars[i].name.clone(),
            Op::Const(c) => number(c.get()),
            Op::Count(None) => call("numel"),
            Op::Count(Some(k)) => format!("{}.shape[{k}]", self.operand(arg(0), 9)),
            Op::Neg => format!("-{}", self.operand(arg(0), 3)),
            Op::Pow(k) if k.get() == -1.0 => format!("1 / {}", self.operand(arg(0), 3)),
            Op::Pow(k) => format!("{}^{}", self.operand(arg(0), 5), number(k.get())),
            Op::Exp => call("exp"),
            Op::Log => call("log"),
            Op::Sqrt => call("sqrt"),
            Op::Abs => call("abs"),
            Op::Sign => call("sign"),
            Op::Relu => call("relu"),
            Op::Step => format!("({} > 0)", self.show(arg(0))),
            Op::Sigmoid => call("sigmoid"),
            Op::Tanh => call("tanh"),
            Op::Softplus => call("softplus"),
            Op::LeakyRelu(s) => format!("leaky_relu({}, {})", self.show(arg(0)), number(s.get())),
            Op::LeakyStep(s) => format!("leaky_step({}, {})", self.show(arg(0)), number(s.get())),
            Op::ClampMin(lo) => format!("max({}, {})", self.show(arg(0)), number(lo.get())),
            Op::ClampMinStep(lo) => format!("({} > {})", self.show(arg(0)), number(lo.get())),
            Op::Add => match *g.op(arg(1)) {
                Op::Neg if !self.names.contains_key(&arg(1)) => format!(
                    "{} - {}",
                    self.operand(arg(0), 1),
                    self.operand(g.args(arg(1))[0], 2)
                ),
                _ => format!("{} + {}", self.operand(arg(0), 1), self.operand(arg(1), 1)),
            },
            Op::Mul => match (reciprocal(arg(0)), reciprocal(arg(1))) {
                (_, Some(den)) if !self.names.contains_key(&arg(1)) => {
                    format!("{} / {}", self.operand(arg(0), 2), self.operand(den, 3))
                }
                (Some(den), _) if !self.names.contains_key(&arg(0)) => {
                    format!("{} / {}", self.operand(arg(1), 2), self.operand(den, 3))
                }
                _ => {
                    // `a * (b * c)` and `a * (b / c)` read the same without the parentheses.
                    let right = match g.op(arg(1)) {
                        Op::Mul => self.show(arg(1)),
                        _ => self.operand(arg(1), 3),
                    };
                    format!("{} * {right}", self.operand(arg(0), 2))
                }
            },
            Op::Matmul => format!("{} @ {}", self.operand(arg(0), 2), self.operand(arg(1), 3)),
            Op::Outer => call("outer"),
            Op::Transpose => format!("{}.T", self.operand(arg(0), 9)),
            Op::Sum { axis, keep } => match (axis, keep) {
                (None, false) => call("sum"),
                (None, true) => format!("sum({}, keepdim)", self.show(arg(0))),
                (Some(k), false) => format!("{}.sum({k})", self.operand(arg(0), 9)),
                (Some(k), true) => format!("{}.sum({k}, keepdim)", self.operand(arg(0), 9)),
            },
            Op::Unsum { .. } => call("expand"),
            Op::Column(k) => format!("{}[:, {k}]", self.operand(arg(0), 9)),
            Op::ColumnScatter(k) => format!(
                "scatter({}, {}, column={k})",
                self.show(arg(0)),
                self.show(arg(1))
            ),
            Op::Bce => call("bce"),
            Op::BceLogits => call("bce_logits"),
            Op::Softmax(axis) => format!("softmax({}, {axis})", self.show(arg(0))),
            Op::LogSoftmax(axis) => format!("log_softmax({}, {axis})", self.show(arg(0))),
            Op::CrossEntropy => call("cross_entropy"),
            Op::OneHot => format!("onehot({})", self.show(arg(0))),
        }
    }
}

/// `2`, `0.5`, `-1`: integers without a fraction.
pub fn number(v: f64) -> String {
    if v == v.trunc() && v.abs() < 1e15 {
        format!("{}", v as i64)
    } else {
        format!("{v}")
    }
}
