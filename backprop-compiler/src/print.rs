//! Graph -> text, as a person writes it, in three notations: code (`2 * (out - y) /
//! numel(out)`, the run-time error sites and the tests), Unicode math (`2 · (ŷ − y) / N`)
//! and LaTeX (`\frac{2 \cdot (\hat{y} - y)}{N}`), the last two for the derivation. Nodes
//! with a name (the model's tensors, `let` bindings, `out`, adjoints) print as that name.

use std::collections::HashMap;

use crate::ir::{Graph, NodeId};

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
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
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
    pub fn operand(&self, id: NodeId, min: u8) -> String {
        let text = self.show(id);
        if self.precedence(id) < min {
            match self.notation {
                Notation::Latex => format!(r"\left({text}\right)"),
                Notation::Code | Notation::Text => format!("({text})"),
            }
        } else {
            text
        }
    }

    fn precedence(&self, id: NodeId) -> u8 {
        if self.names.contains_key(&id) {
            return 9;
        }
        self.graph.op(id).precedence(self.notation)
    }

    /// The notation this printer writes.
    pub fn notation(&self) -> Notation {
        self.notation
    }

    pub fn graph(&self) -> &'g Graph {
        self.graph
    }

    /// Whether `id` prints as a name.
    pub fn is_named(&self, id: NodeId) -> bool {
        self.names.contains_key(&id)
    }

    /// The model's `i`-th tensor.
    pub fn var(&self, i: usize) -> String {
        let name = self.graph.vars.get(i).map_or("", |v| v.name.as_str());
        Sym::Name(name.to_string()).render(self.notation)
    }

    /// `f(args)` with `f` as each notation writes it.
    pub fn call(&self, code: &str, text: &str, latex: &str, args: &[NodeId]) -> String {
        let inner: Vec<String> = args.iter().map(|&a| self.show(a)).collect();
        let inner = inner.join(", ");
        match self.notation {
            Notation::Code => format!("{code}({inner})"),
            Notation::Text => format!("{text}({inner})"),
            Notation::Latex => format!(r"{latex}\left({inner}\right)"),
        }
    }

    fn node(&self, id: NodeId, top: bool) -> String {
        if !top {
            if let Some(name) = self.names.get(&id) {
                return name.render(self.notation);
            }
        }
        crate::deep(|| self.graph.op(id).print(self, self.graph.args(id)))
    }

    /// The product sign between a matrix product's operands or a scalar and a tensor.
    pub fn dot(&self) -> &'static str {
        match self.notation {
            Notation::Code => "@",
            Notation::Text => "·",
            Notation::Latex => r"\cdot",
        }
    }

    /// `num / den`.
    pub fn divide(&self, num: NodeId, den: NodeId) -> String {
        match self.notation {
            Notation::Latex => format!(r"\frac{{{}}}{{{}}}", self.show(num), self.show(den)),
            Notation::Code | Notation::Text => {
                format!("{} / {}", self.operand(num, 2), self.operand(den, 3))
            }
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
