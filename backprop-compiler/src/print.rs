//! Graph -> text, as a person writes it, in three notations: code (`2 * (out - y) /
//! numel(out)`, the run-time error sites and the tests), Unicode math (`2 · (ŷ − y) / N`)
//! and LaTeX (`\frac{2 \cdot (\hat{y} - y)}{N}`), the last two for the derivation. Nodes
//! with a name (the model's tensors, `let` bindings, `out`, adjoints) print as that name.

use std::collections::HashMap;

use crate::ir::{Graph, NodeId};
use crate::ops::Op;

/// How a printer writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Notation {
    /// The language's own syntax: `x @ w1.T`, `d_z1`.
    Code,
    /// Unicode math: `x · w1ᵀ`, `δz1`, `∂L/∂w1`.
    Text,
    /// LaTeX math: `x \cdot w_{1}^{\top}`, `\delta_{z_{1}}`.
    Latex,
}

/// A name in a formula.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Sym {
    /// A tensor, a `let`, or a name the derivation gave an intermediate value.
    Name(String),
    /// The model's output (`out`, `ŷ`).
    Output,
    /// The loss (`L`).
    Loss,
    /// The gradient of the loss with respect to a value (`δz1`).
    Delta(Box<Sym>),
    /// The gradient of the loss with respect to a parameter (`∂L/∂w1`).
    Partial(Box<Sym>),
}

impl Sym {
    pub fn render(&self, notation: Notation) -> String {
        match (self, notation) {
            (Sym::Name(n), Notation::Latex) => latex_ident(n),
            (Sym::Name(n), _) => n.clone(),
            (Sym::Output, Notation::Code) => "out".into(),
            (Sym::Output, Notation::Text) => "ŷ".into(),
            (Sym::Output, Notation::Latex) => r"\hat{y}".into(),
            (Sym::Loss, Notation::Code) => "loss".into(),
            (Sym::Loss, _) => "L".into(),
            (Sym::Delta(s) | Sym::Partial(s), Notation::Code) => {
                format!("d_{}", s.render(notation))
            }
            (Sym::Delta(s), Notation::Text) => format!("δ{}", s.render(notation)),
            (Sym::Delta(s), Notation::Latex) => format!(r"\delta_{{{}}}", s.render(notation)),
            (Sym::Partial(s), Notation::Text) => format!("∂L/∂{}", s.render(notation)),
            (Sym::Partial(s), Notation::Latex) => {
                format!(r"\frac{{\partial L}}{{\partial {}}}", s.render(notation))
            }
        }
    }
}

/// An identifier in LaTeX: a trailing number or what follows the first `_` as a subscript,
/// a name of several letters upright-italic as one word: `fc3` is `\mathit{fc}_{3}`.
pub fn latex_ident(name: &str) -> String {
    let (base, sub) = match name.split_once('_') {
        Some((b, s)) if !b.is_empty() && !s.is_empty() => (b, Some(s.to_string())),
        _ => {
            let digits = name.len() - name.trim_end_matches(|c: char| c.is_ascii_digit()).len();
            if digits > 0 && digits < name.len() {
                let (b, s) = name.split_at(name.len() - digits);
                (b, Some(s.to_string()))
            } else {
                (name, None)
            }
        }
    };
    let escape = |s: &str| s.replace('_', r"\_");
    let base = if base.chars().count() > 1 {
        format!(r"\mathit{{{}}}", escape(base))
    } else {
        escape(base)
    };
    match sub {
        Some(s) => format!("{base}_{{{}}}", escape(&s)),
        None => base,
    }
}

pub struct Printer<'g> {
    graph: &'g Graph,
    names: HashMap<NodeId, Sym>,
    notation: Notation,
}

impl<'g> Printer<'g> {
    /// A printer in the language's own syntax.
    pub fn new(graph: &'g Graph) -> Self {
        Self::with(graph, Notation::Code)
    }

    pub fn with(graph: &'g Graph, notation: Notation) -> Self {
        let names = graph
            .vars
            .iter()
            .map(|v| (v.node, Sym::Name(v.name.clone())))
            .collect();
        Self {
            graph,
            names,
            notation,
        }
    }

    /// Prints `node` as `name` wherever it appears (except at the top of `print(node)`).
    pub fn name(&mut self, node: NodeId, name: &str) {
        self.name_sym(node, Sym::Name(name.to_string()));
    }

    /// Prints `node` as `sym`, unless it has a name already.
    pub fn name_sym(&mut self, node: NodeId, sym: Sym) {
        self.names.entry(node).or_insert(sym);
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
            match self.notation {
                Notation::Latex => format!(r"\left({text}\right)"),
                _ => format!("({text})"),
            }
        } else {
            text
        }
    }

    fn precedence(&self, id: NodeId) -> u8 {
        if self.names.contains_key(&id) {
            return 9;
        }
        let g = self.graph;
        let latex = self.notation == Notation::Latex;
        match g.op(id) {
            Op::Add => 1,
            Op::Mul | Op::Matmul => 2,
            Op::Outer if self.notation != Notation::Code => 2,
            Op::Sum { .. } if self.notation != Notation::Code => 3,
            Op::Neg => 3,
            Op::Const(c) if c.get() < 0.0 => 3,
            Op::Pow(k) if k.get() == -1.0 && latex => 9,
            Op::Pow(k) if k.get() == -1.0 => 2,
            Op::Pow(_) => 4,
            _ => 9,
        }
    }

    /// `f(args)` with `f` as each notation writes it.
    fn call(&self, code: &str, text: &str, latex: &str, args: &[NodeId]) -> String {
        let inner: Vec<String> = args.iter().map(|&a| self.show(a)).collect();
        let inner = inner.join(", ");
        match self.notation {
            Notation::Code => format!("{code}({inner})"),
            Notation::Text => format!("{text}({inner})"),
            Notation::Latex => format!(r"{latex}\left({inner}\right)"),
        }
    }

    /// A function of one argument and one constant, `leaky_relu(x, 0.1)`.
    fn call_with(&self, f: &str, a: NodeId, c: f64) -> String {
        match self.notation {
            Notation::Latex => format!(
                r"\operatorname{{{}}}\left({}, {}\right)",
                f.replace('_', r"\_"),
                self.show(a),
                number(c)
            ),
            _ => format!("{f}({}, {})", self.show(a), number(c)),
        }
    }

    fn node(&self, id: NodeId, top: bool) -> String {
        if !top {
            if let Some(name) = self.names.get(&id) {
                return name.render(self.notation);
            }
        }
        let g = self.graph;
        let args = g.args(id);
        let arg = |i: usize| args.get(i).copied().unwrap_or(id);
        let reciprocal = |n: NodeId| match g.op(n) {
            Op::Pow(k) if k.get() == -1.0 => Some(g.args(n)[0]),
            _ => None,
        };
        let (code, text, latex) = (
            self.notation == Notation::Code,
            self.notation == Notation::Text,
            self.notation == Notation::Latex,
        );
        let op_name = |f: &str| format!(r"\operatorname{{{}}}", f.replace('_', r"\_"));
        let frac = |num: String, den: String| format!(r"\frac{{{num}}}{{{den}}}");
        match *g.op(id) {
            Op::Var(i) => Sym::Name(g.vars[i].name.clone()).render(self.notation),
            Op::Const(c) => number(c.get()),
            Op::Count(None) => self.call("numel", "numel", &op_name("numel"), args),
            Op::Count(Some(k)) if latex => {
                format!(
                    r"{}\left({}\right)",
                    op_name(&format!("dim_{k}")),
                    self.show(arg(0))
                )
            }
            Op::Count(Some(k)) => format!("{}.shape[{k}]", self.operand(arg(0), 9)),
            Op::Neg if text => format!("−{}", self.operand(arg(0), 3)),
            Op::Neg => format!("-{}", self.operand(arg(0), 3)),
            Op::Pow(k) if k.get() == -1.0 && latex => frac("1".into(), self.show(arg(0))),
            Op::Pow(k) if k.get() == -1.0 => format!("1 / {}", self.operand(arg(0), 3)),
            Op::Pow(k) if text && (k.get() == 2.0 || k.get() == 3.0) => {
                let sup = if k.get() == 2.0 { "²" } else { "³" };
                format!("{}{sup}", self.operand(arg(0), 5))
            }
            Op::Pow(k) if latex => {
                format!("{{{}}}^{{{}}}", self.operand(arg(0), 5), number(k.get()))
            }
            Op::Pow(k) => format!("{}^{}", self.operand(arg(0), 5), number(k.get())),
            Op::Exp => self.call("exp", "exp", r"\exp", args),
            Op::Log => self.call("log", "log", r"\log", args),
            Op::Sqrt if latex => format!(r"\sqrt{{{}}}", self.show(arg(0))),
            Op::Sqrt => self.call("sqrt", "√", "", args),
            Op::Abs if code => self.call("abs", "", "", args),
            Op::Abs if latex => format!(r"\left\lvert {} \right\rvert", self.show(arg(0))),
            Op::Abs => format!("|{}|", self.show(arg(0))),
            Op::Sign => self.call("sign", "sign", &op_name("sign"), args),
            Op::Relu => self.call("relu", "relu", &op_name("relu"), args),
            Op::Step if code => format!("({} > 0)", self.show(arg(0))),
            Op::Step => format!("[{} > 0]", self.show(arg(0))),
            Op::Sigmoid => self.call("sigmoid", "σ", r"\sigma", args),
            Op::Tanh => self.call("tanh", "tanh", r"\tanh", args),
            Op::Softplus => self.call("softplus", "softplus", &op_name("softplus"), args),
            Op::LeakyRelu(s) => self.call_with("leaky_relu", arg(0), s.get()),
            Op::LeakyStep(s) => self.call_with("leaky_step", arg(0), s.get()),
            Op::ClampMin(lo) => self.call_with("max", arg(0), lo.get()),
            Op::ClampMinStep(lo) if code => {
                format!("({} > {})", self.show(arg(0)), number(lo.get()))
            }
            Op::ClampMinStep(lo) => format!("[{} > {}]", self.show(arg(0)), number(lo.get())),
            Op::Add => {
                let minus = match self.notation {
                    Notation::Text => "−",
                    _ => "-",
                };
                match *g.op(arg(1)) {
                    Op::Neg if !self.names.contains_key(&arg(1)) => format!(
                        "{} {minus} {}",
                        self.operand(arg(0), 1),
                        self.operand(g.args(arg(1))[0], 2)
                    ),
                    _ => format!("{} + {}", self.operand(arg(0), 1), self.operand(arg(1), 1)),
                }
            }
            Op::Mul => {
                let (a, b) = (arg(0), arg(1));
                match (reciprocal(a), reciprocal(b)) {
                    (_, Some(den)) if !self.names.contains_key(&b) => self.divide(a, den),
                    (Some(den), _) if !self.names.contains_key(&a) => self.divide(b, den),
                    _ => {
                        let sign = match self.notation {
                            Notation::Code => "*",
                            _ if g.rank(a) == 0 || g.rank(b) == 0 => self.dot(),
                            Notation::Text => "⊙",
                            Notation::Latex => r"\odot",
                        };
                        // `a * (b * c)` and `a * (b / c)` read the same without the parentheses.
                        let right = match g.op(b) {
                            Op::Mul => self.show(b),
                            _ => self.operand(b, 3),
                        };
                        format!("{} {sign} {right}", self.operand(a, 2))
                    }
                }
            }
            Op::Matmul if code => {
                format!("{} @ {}", self.operand(arg(0), 2), self.operand(arg(1), 3))
            }
            Op::Matmul => format!(
                "{} {} {}",
                self.operand(arg(0), 2),
                self.dot(),
                self.operand(arg(1), 3)
            ),
            Op::Outer if code => self.call("outer", "", "", args),
            Op::Outer => {
                let sign = if text { "⊗" } else { r"\otimes" };
                format!(
                    "{} {sign} {}",
                    self.operand(arg(0), 3),
                    self.operand(arg(1), 3)
                )
            }
            Op::Transpose if code => format!("{}.T", self.operand(arg(0), 9)),
            Op::Transpose if text => format!("{}ᵀ", self.operand(arg(0), 9)),
            Op::Transpose => format!(r"{{{}}}^{{\top}}", self.operand(arg(0), 9)),
            Op::Sum { axis, keep } if code => match (axis, keep) {
                (None, false) => self.call("sum", "", "", args),
                (None, true) => format!("sum({}, keepdim)", self.show(arg(0))),
                (Some(k), false) => format!("{}.sum({k})", self.operand(arg(0), 9)),
                (Some(k), true) => format!("{}.sum({k}, keepdim)", self.operand(arg(0), 9)),
            },
            Op::Sum { axis, .. } => {
                let over = match axis {
                    None => String::new(),
                    Some(0) => "rows".into(),
                    Some(1) => "cols".into(),
                    Some(k) => format!("axis {k}"),
                };
                let body = self.operand(arg(0), 3);
                match (text, over.is_empty()) {
                    (true, true) => format!("Σ {body}"),
                    (true, false) => format!("Σ_{over} {body}"),
                    (false, true) => format!(r"\sum {body}"),
                    (false, false) => format!(r"\sum_{{\text{{{over}}}}} {body}"),
                }
            }
            Op::Unsum { .. } if code => self.call("expand", "", "", args),
            Op::Unsum { .. } => self.call("", "expand", &op_name("expand"), &args[..1]),
            Op::Column(k) if latex => format!("{{{}}}_{{:,{k}}}", self.operand(arg(0), 9)),
            Op::Column(k) => format!("{}[:, {k}]", self.operand(arg(0), 9)),
            Op::ColumnScatter(k) if code => format!(
                "scatter({}, {}, column={k})",
                self.show(arg(0)),
                self.show(arg(1))
            ),
            Op::ColumnScatter(k) if text => format!("scatter({}, column {k})", self.show(arg(0))),
            Op::ColumnScatter(k) => format!(
                r"{}\left({}\right)",
                op_name(&format!("scatter_{k}")),
                self.show(arg(0))
            ),
            Op::Bce => self.call("bce", "bce", &op_name("bce"), args),
            Op::BceLogits => self.call("bce_logits", "bce_logits", &op_name("bce_logits"), args),
            Op::Softmax(axis) if code => format!("softmax({}, {axis})", self.show(arg(0))),
            Op::Softmax(_) => self.call("", "softmax", &op_name("softmax"), args),
            Op::LogSoftmax(axis) if code => format!("log_softmax({}, {axis})", self.show(arg(0))),
            Op::LogSoftmax(_) => self.call("", "log_softmax", &op_name("log_softmax"), args),
            Op::CrossEntropy => self.call(
                "cross_entropy",
                "cross_entropy",
                &op_name("cross_entropy"),
                args,
            ),
            Op::OneHot if code => format!("onehot({})", self.show(arg(0))),
            Op::OneHot => self.call("", "onehot", &op_name("onehot"), &args[..1]),
        }
    }

    /// The product sign between a matrix product's operands or a scalar and a tensor.
    fn dot(&self) -> &'static str {
        match self.notation {
            Notation::Code => "@",
            Notation::Text => "·",
            Notation::Latex => r"\cdot",
        }
    }

    /// `num / den`.
    fn divide(&self, num: NodeId, den: NodeId) -> String {
        match self.notation {
            Notation::Latex => format!(r"\frac{{{}}}{{{}}}", self.show(num), self.show(den)),
            _ => format!("{} / {}", self.operand(num, 2), self.operand(den, 3)),
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
