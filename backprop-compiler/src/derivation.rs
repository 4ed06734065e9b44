//! The derivation of a model: each forward definition and each backward step of the chain
//! rule, in the order the generated code computes them, as formulas over the user's names
//! (`let`s, tensors, `ŷ`, `δz1` and `∂L/∂w1`), each backward line naming the rules that
//! shaped it (`[sigmoid + bce]`, `[relu']`, `[broadcast]`); in Unicode text and in LaTeX.
//!
//! A value the model does not name gets a name when it is a layer: the argument of an
//! activation or a product feeding another product is `z1`, `z2`, ..., an activation
//! feeding a product is `h1`, `h2`, ..., so that a one-liner reads as the notebooks write
//! it: `δz1 = δh1 ⊙ [z1 > 0]`.

use std::collections::{HashMap, HashSet};

use crate::ast::Role;
use crate::ir::{Graph, NodeId, Rule};
use crate::lower::Lowered;
use crate::ops::function::symbol_latex;
use crate::ops::{Arith, Linalg, Op, Reduce};
use crate::print::{Notation, Printer, Sym};

/// The most ops a value the backward pass reads prints as before it gets a name.
const SHARED: usize = 12;

/// Formulas longer than this do not push the others' rules to the right.
const ALIGN: usize = 72;

/// One line: `lhs = rhs   [rules]`.
struct Line {
    lhs: Sym,
    /// The column of `lhs` that `rhs` fills (the other columns are zero), for the gradient
    /// of a value the loss reads one column of.
    column: Option<usize>,
    rhs: NodeId,
    /// `rhs` is another line's value: print its name.
    alias: Option<Sym>,
    rules: Vec<Rule>,
}

pub struct Derivation<'g> {
    graph: &'g Graph,
    /// The names of forward values (the `let`s, `ŷ`, the layers named here).
    values: Vec<(NodeId, Sym)>,
    /// The names of gradients (`δz1`, `∂L/∂w1`).
    gradients: HashMap<NodeId, Sym>,
    forward: Vec<Line>,
    backward: Vec<Line>,
    /// `N = numel(z3)`: the counts the formulas divide by.
    counts: Vec<(Sym, NodeId)>,
}

impl<'g> Derivation<'g> {
    pub fn new(lowered: &'g Lowered, adjoint: &[Option<NodeId>]) -> Self {
        let g = &lowered.graph;
        let loss = lowered.loss;
        let mut taken: HashSet<String> = g.vars.iter().map(|v| v.name.clone()).collect();
        let mut named: HashMap<NodeId, Sym> = g
            .vars
            .iter()
            .map(|v| (v.node, Sym::Name(v.name.clone())))
            .collect();
        let mut forward_names: Vec<(NodeId, Sym)> = Vec::new();
        let mut give = |n: NodeId, sym: Sym, named: &mut HashMap<NodeId, Sym>| {
            if g.konst(n).is_none() && !named.contains_key(&n) {
                named.insert(n, sym.clone());
                forward_names.push((n, sym));
            }
        };
        for (ident, n) in &lowered.lets {
            taken.insert(ident.to_string());
            give(*n, Sym::Name(ident.to_string()), &mut named);
        }
        for (name, n) in &lowered.outputs {
            let sym = if lowered.tuple {
                Sym::Name(name.clone())
            } else {
                Sym::Output
            };
            give(*n, sym, &mut named);
        }
        // Layers the model leaves unnamed.
        let reach = reachable(g, loss);
        let mut layers: Vec<(NodeId, char)> = Vec::new();
        for i in (0..=loss.0).filter(|&i| reach[i]) {
            let n = NodeId(i);
            let op = g.op(n);
            if op.is_activation() {
                let a = g.args(n)[0];
                if is_layer(g.op(a)) {
                    layers.push((a, 'z'));
                }
            }
            if *op == MATMUL {
                for &a in g.args(n) {
                    let a = strip_views(g, a);
                    if is_layer(g.op(a)) {
                        layers.push((a, 'z'));
                    } else if g.op(a).is_activation() {
                        layers.push((a, 'h'));
                    }
                }
            }
        }
        layers.sort();
        layers.dedup_by_key(|(n, _)| *n);
        let mut counter: HashMap<char, usize> = HashMap::new();
        for (n, letter) in layers {
            if named.contains_key(&n) || g.konst(n).is_some() || g.rank(n) == 0 {
                continue;
            }
            let name = fresh(letter, &mut counter, &mut taken);
            give(n, Sym::Name(name), &mut named);
        }
        // Shared subterms: a value the backward pass reads that would print as more than
        // SHARED ops is named, so that no line repeats another's long formula and the
        // derivation of a deep chain grows with the chain, not with its square.
        let mut read_back = vec![false; loss.0 + 1];
        for n in (loss.0 + 1..g.nodes.len()).map(NodeId) {
            for a in g.args(n).iter().filter(|a| a.0 <= loss.0) {
                read_back[a.0] = true;
            }
        }
        let mut size = vec![1usize; loss.0 + 1];
        for i in (0..=loss.0).filter(|&i| reach[i]) {
            let n = NodeId(i);
            if named.contains_key(&n) || g.konst(n).is_some() {
                continue;
            }
            size[i] = g
                .args(n)
                .iter()
                .fold(1usize, |s, a| s.saturating_add(size[a.0]));
            if read_back[i] && size[i] > SHARED {
                let letter = if g.op(n).is_activation() { 'h' } else { 'z' };
                let name = fresh(letter, &mut counter, &mut taken);
                give(n, Sym::Name(name), &mut named);
                size[i] = 1;
            }
        }
        forward_names.sort_by_key(|(n, _)| *n);

        let mut forward: Vec<Line> = forward_names
            .iter()
            .map(|(n, sym)| Line {
                lhs: sym.clone(),
                column: None,
                rhs: *n,
                alias: None,
                rules: Vec::new(),
            })
            .collect();
        forward.push(Line {
            lhs: Sym::Loss,
            column: None,
            rhs: loss,
            alias: None,
            rules: Vec::new(),
        });

        // Backward: every named value, parameter and input with a gradient, in the order
        // the gradients are computed.
        let mut items: Vec<(NodeId, NodeId, Sym)> = Vec::new();
        for (n, sym) in &forward_names {
            if let Some(d) = adjoint.get(n.0).copied().flatten() {
                items.push((d, *n, Sym::Delta(Box::new(sym.clone()))));
            }
        }
        for v in g
            .vars
            .iter()
            .filter(|v| v.role != Role::Target && !v.labels)
        {
            if let Some(d) = adjoint.get(v.node.0).copied().flatten() {
                let sym = Box::new(Sym::Name(v.name.clone()));
                let sym = match v.role {
                    Role::Param => Sym::Partial(sym),
                    _ => Sym::Delta(sym),
                };
                items.push((d, v.node, sym));
            }
        }
        items.sort_by_key(|&(d, n, _)| (d, std::cmp::Reverse(n)));
        let mut gradients: HashMap<NodeId, Sym> = HashMap::new();
        let mut backward = Vec::new();
        for (d, _, sym) in items {
            let alias = match gradients.get(&d).or_else(|| named.get(&d)) {
                Some(other) => Some(other.clone()),
                None => {
                    gradients.insert(d, sym.clone());
                    None
                }
            };
            // A gradient that is one column of zeros prints as that column.
            let (rhs, column) =
                if let (Op::Reduce(Reduce::ColumnScatter(k)), None) = (*g.op(d), &alias) {
                    (g.args(d)[0], Some(k))
                } else {
                    (d, None)
                };
            backward.push(Line {
                lhs: sym,
                column,
                rhs,
                alias,
                rules: Vec::new(),
            });
        }
        let mut this = Self {
            graph: g,
            values: forward_names,
            gradients,
            forward,
            backward,
            counts: Vec::new(),
        };
        this.collect(loss);
        this
    }

    /// The names the derivation gives values, in the order it gives them: forward values,
    /// gradients by the node that computes them, counts.
    pub fn names(&self) -> Vec<(NodeId, &Sym)> {
        let mut gradients: Vec<(NodeId, &Sym)> =
            self.gradients.iter().map(|(n, s)| (*n, s)).collect();
        gradients.sort_by_key(|(n, _)| *n);
        let values = self.values.iter().map(|(n, s)| (*n, s));
        let counts = self.counts.iter().map(|(s, n)| (*n, s));
        values.chain(gradients).chain(counts).collect()
    }

    /// The rules each line used, and a name for each count the formulas divide by.
    fn collect(&mut self, loss: NodeId) {
        let named: HashSet<NodeId> = self
            .values
            .iter()
            .map(|(n, _)| *n)
            .chain(self.gradients.keys().copied())
            .collect();
        let g = self.graph;
        let mut counts: Vec<NodeId> = Vec::new();
        for (backward, lines) in [(false, &mut self.forward), (true, &mut self.backward)] {
            for line in lines.iter_mut().filter(|l| l.alias.is_none()) {
                let mut stack = vec![line.rhs];
                let mut seen = HashSet::new();
                while let Some(n) = stack.pop() {
                    if !seen.insert(n) || (n != line.rhs && named.contains(&n)) {
                        continue;
                    }
                    if matches!(g.op(n), Op::Reduce(Reduce::Count(_))) && !counts.contains(&n) {
                        counts.push(n);
                    }
                    for r in g.rules_of(n) {
                        let shown = if backward { n > loss } else { r.is_rewrite() };
                        if shown && !line.rules.contains(r) {
                            line.rules.push(*r);
                        }
                    }
                    stack.extend_from_slice(g.args(n));
                }
            }
        }
        let letters = ["N", "M", "K", "P"];
        for (i, n) in counts.into_iter().enumerate() {
            let name = match letters.get(i) {
                Some(l) => l.to_string(),
                None => format!("N{i}"),
            };
            self.counts.push((Sym::Name(name), n));
        }
    }

    /// A printer that knows the forward names and the counts, and with `gradients` the
    /// gradients' names too (a gradient can be a forward value: `δŷ = ŷ − y`).
    fn printer(&self, notation: Notation, gradients: bool) -> Printer<'g> {
        let mut p = Printer::with(self.graph, notation);
        for (n, sym) in &self.values {
            p.name_sym(*n, sym.clone());
        }
        for (sym, n) in &self.counts {
            p.name_sym(*n, sym.clone());
        }
        if gradients {
            for (n, sym) in &self.gradients {
                p.name_sym(*n, sym.clone());
            }
        }
        p
    }

    /// The derivation in Unicode, a line per step, the rules in brackets.
    pub fn text(&self) -> String {
        let p = self.printer(Notation::Text, true);
        let fp = self.printer(Notation::Text, false);
        let render = |p: &Printer<'_>, line: &Line| -> (String, String) {
            let (lhs, rhs) = sides(p, line);
            let rules: Vec<String> = line.rules.iter().map(rule_text).collect();
            let rules = if rules.is_empty() {
                String::new()
            } else {
                format!("[{}]", rules.join(", "))
            };
            (format!("{lhs} = {rhs}"), rules)
        };
        let sections: Vec<(&str, Vec<(String, String)>)> = vec![
            (
                "Forward",
                self.forward.iter().map(|l| render(&fp, l)).collect(),
            ),
            (
                "Backward",
                self.backward.iter().map(|l| render(&p, l)).collect(),
            ),
            (
                "where",
                self.counts
                    .iter()
                    .map(|(sym, n)| {
                        let text = format!("{} = {}", sym.render(Notation::Text), p.print(*n));
                        (text, String::new())
                    })
                    .collect(),
            ),
        ];
        let width = sections
            .iter()
            .flat_map(|(_, lines)| lines.iter())
            .filter(|(_, rules)| !rules.is_empty())
            .map(|(formula, _)| formula.chars().count())
            .filter(|&w| w <= ALIGN)
            .max()
            .unwrap_or(0);
        let mut out = String::new();
        for (title, lines) in sections.into_iter().filter(|(_, l)| !l.is_empty()) {
            out.push_str(title);
            out.push('\n');
            for (formula, rules) in lines {
                out.push_str("  ");
                out.push_str(&formula);
                if !rules.is_empty() {
                    let pad = width.saturating_sub(formula.chars().count()) + 3;
                    out.push_str(&" ".repeat(pad));
                    out.push_str(&rules);
                }
                out.push('\n');
            }
        }
        out
    }

    /// The derivation as one LaTeX `aligned` block.
    pub fn latex(&self) -> String {
        let p = self.printer(Notation::Latex, true);
        let fp = self.printer(Notation::Latex, false);
        let render = |p: &Printer<'_>, line: &Line| -> String {
            let mut lhs = line.lhs.render(Notation::Latex);
            if let Some(k) = line.column {
                lhs = format!("{{{lhs}}}_{{:,{k}}}");
            }
            let rhs = match &line.alias {
                Some(sym) => sym.render(Notation::Latex),
                None => p.print(line.rhs),
            };
            let rules: Vec<String> = line.rules.iter().map(rule_latex).collect();
            if rules.is_empty() {
                format!("{lhs} &= {rhs}")
            } else {
                format!("{lhs} &= {rhs} && [{}]", rules.join(r",\ "))
            }
        };
        let mut rows: Vec<String> = vec![r"&\textbf{Forward}".into()];
        rows.extend(self.forward.iter().map(|l| render(&fp, l)));
        rows.push(r"&\textbf{Backward}".into());
        rows.extend(self.backward.iter().map(|l| render(&p, l)));
        if !self.counts.is_empty() {
            rows.push(r"&\textbf{where}".into());
            rows.extend(
                self.counts
                    .iter()
                    .map(|(sym, n)| format!("{} &= {}", sym.render(Notation::Latex), p.print(*n))),
            );
        }
        format!(
            "\\begin{{aligned}}\n{}\n\\end{{aligned}}\n",
            rows.join(" \\\\\n")
        )
    }
}

impl Derivation<'_> {
    /// The derivation as a Graphviz graph: a node for each of the model's tensors and
    /// each line of the derivation, labelled with that line (`z1 = x · w1 + b1`,
    /// `δz1 = δh1 ⊙ [z1 > 0]`), an edge from every named value a line reads to it; the
    /// forward pass and the backward pass each in a cluster, parameters and their
    /// gradients shaded, and a forward value the backward pass reads joined by a dashed
    /// edge. `name` is the graph's.
    pub fn graph(&self, name: &str) -> String {
        let g = self.graph;
        let p = self.printer(Notation::Text, true);
        let fp = self.printer(Notation::Text, false);
        // Each named value's node, and the counts, which are not nodes.
        let mut id: HashMap<NodeId, String> = HashMap::new();
        let mut out = format!(
            "digraph \"{}\" {{\n  rankdir=TB;\n  node [fontname=\"Helvetica\", fontsize=11];\n  \
             edge [color=\"#555555\"];\n",
            escape(name)
        );
        out.push_str(
            "  subgraph cluster_forward {\n    label=\"Forward\";\n    color=\"#bbbbbb\";\n",
        );
        for v in &g.vars {
            let (shape, fill) = match v.role {
                Role::Param => ("box", "#dde8f7"),
                _ => ("ellipse", "#ffffff"),
            };
            let node = format!("v{}", v.node.0);
            out.push_str(&format!(
                "    {node} [label=\"{}\", shape={shape}, style=filled, fillcolor=\"{fill}\"];\n",
                escape(&v.name)
            ));
            id.insert(v.node, node);
        }
        for line in &self.forward {
            let node = format!("v{}", line.rhs.0);
            let label = format!(
                "{} = {}",
                line.lhs.render(Notation::Text),
                fp.print(line.rhs)
            );
            out.push_str(&format!(
                "    {node} [label=\"{}\", shape=box, style=rounded];\n",
                escape(&label)
            ));
            id.insert(line.rhs, node);
        }
        for (i, (sym, n)) in self.counts.iter().enumerate() {
            let label = format!("{} = {}", sym.render(Notation::Text), p.print(*n));
            out.push_str(&format!(
                "    n{i} [label=\"{}\", shape=plaintext];\n",
                escape(&label)
            ));
        }
        out.push_str(
            "  }\n  subgraph cluster_backward {\n    label=\"Backward\";\n    color=\"#bbbbbb\";\n",
        );
        let mut back: Vec<(String, &Line)> = Vec::new();
        for (i, line) in self.backward.iter().enumerate() {
            let node = format!("g{i}");
            let (lhs, rhs) = sides(&p, line);
            let fill = if matches!(line.lhs, Sym::Partial(_)) {
                "#dde8f7"
            } else {
                "#fbe3d6"
            };
            out.push_str(&format!(
                "    {node} [label=\"{}\", shape=box, style=\"rounded,filled\", fillcolor=\"{fill}\"];\n",
                escape(&format!("{lhs} = {rhs}"))
            ));
            back.push((node, line));
        }
        out.push_str("  }\n");
        // The node each name stands for: a gradient's, or a forward value's.
        let mut by_name: HashMap<&Sym, NodeId> = self.values.iter().map(|(n, s)| (s, *n)).collect();
        by_name.extend(self.gradients.iter().map(|(n, s)| (s, *n)));
        // A gradient's node, by the node computing it: the first line that defines it.
        let mut gradient: HashMap<NodeId, String> = HashMap::new();
        for (node, line) in &back {
            if line.alias.is_none() {
                gradient.entry(line.rhs).or_insert_with(|| node.clone());
                if let Some(&d) = by_name.get(&line.lhs) {
                    gradient.entry(d).or_insert_with(|| node.clone());
                }
            }
        }
        let counts: HashSet<NodeId> = self.counts.iter().map(|(_, n)| *n).collect();
        let mut edges: Vec<String> = Vec::new();
        let mut drawn: HashSet<String> = HashSet::new();
        let mut edge = |from: &str, to: &str, style: &str| {
            let e = format!("  {from} -> {to}{style};\n");
            if drawn.insert(e.clone()) {
                edges.push(e);
            }
        };
        for line in &self.forward {
            let Some(to) = id.get(&line.rhs) else {
                continue;
            };
            for n in self.reads(line.rhs, &|n| id.contains_key(&n), &counts) {
                if let Some(from) = id.get(&n) {
                    edge(from, to, "");
                }
            }
        }
        for (to, line) in &back {
            let named = |n: NodeId| gradient.contains_key(&n) || id.contains_key(&n);
            let reads = match &line.alias {
                Some(sym) => by_name.get(sym).copied().into_iter().collect(),
                None => self.reads(line.rhs, &named, &counts),
            };
            // The chain starts at the loss: a line that reads no other gradient is its
            // first step.
            if !reads
                .iter()
                .any(|n| gradient.get(n).is_some_and(|from| from != to))
            {
                if let Some(loss) = self.forward.last().and_then(|l| id.get(&l.rhs)) {
                    edge(loss, to, " [color=\"#c0504d\"]");
                }
            }
            for n in reads {
                match (gradient.get(&n), id.get(&n)) {
                    (Some(from), _) if from != to => edge(from, to, " [color=\"#c0504d\"]"),
                    (Some(_), _) | (None, None) => {}
                    (None, Some(from)) => edge(from, to, " [style=dashed, color=\"#999999\"]"),
                }
            }
        }
        for e in edges {
            out.push_str(&e);
        }
        out.push_str("}\n");
        out
    }

    /// The named values the formula of `rhs` reads: every node below it that `named`
    /// holds, without looking past one (or into a count the formula divides by), in the
    /// order of the graph.
    fn reads(
        &self,
        rhs: NodeId,
        named: &dyn Fn(NodeId) -> bool,
        counts: &HashSet<NodeId>,
    ) -> Vec<NodeId> {
        let g = self.graph;
        let mut found = Vec::new();
        let mut seen = HashSet::new();
        let mut stack = g.args(rhs).to_vec();
        while let Some(n) = stack.pop() {
            if !seen.insert(n) || counts.contains(&n) || g.konst(n).is_some() {
                continue;
            }
            if named(n) {
                found.push(n);
            } else {
                stack.extend_from_slice(g.args(n));
            }
        }
        found.sort();
        found
    }
}

/// The two sides of `line` in Unicode, as `p` prints them: `δŷ[:, 0]` and its formula, or
/// the name of the line it equals.
fn sides(p: &Printer<'_>, line: &Line) -> (String, String) {
    let mut lhs = line.lhs.render(Notation::Text);
    if let Some(k) = line.column {
        lhs.push_str(&format!("[:, {k}]"));
    }
    let rhs = match &line.alias {
        Some(sym) => sym.render(Notation::Text),
        None => p.print(line.rhs),
    };
    (lhs, rhs)
}

/// `text` inside a Graphviz string: quotes and backslashes escaped.
fn escape(text: &str) -> String {
    text.replace('\\', "\\\\").replace('"', "\\\"")
}

/// `z1`, `z2`, ... for `letter` `z`: the next name of that letter not taken, taken.
fn fresh(letter: char, counter: &mut HashMap<char, usize>, taken: &mut HashSet<String>) -> String {
    let k = counter.entry(letter).or_insert(0);
    loop {
        *k += 1;
        let candidate = format!("{letter}{k}");
        if taken.insert(candidate.clone()) {
            return candidate;
        }
    }
}

/// The nodes the loss reads, directly or not.
fn reachable(g: &Graph, loss: NodeId) -> Vec<bool> {
    let mut reach = vec![false; loss.0 + 1];
    let mut stack = vec![loss];
    while let Some(n) = stack.pop() {
        if n.0 <= loss.0 && !std::mem::replace(&mut reach[n.0], true) {
            stack.extend_from_slice(g.args(n));
        }
    }
    reach
}

/// A product or a sum, which the derivation names `z1` where it feeds an activation or
/// another product.
fn is_layer(op: &Op) -> bool {
    matches!(op, Op::Linalg(Linalg::Matmul) | Op::Arith(Arith::Add))
}

const MATMUL: Op = Op::Linalg(Linalg::Matmul);

/// The node under any transposes and column selects.
fn strip_views(g: &Graph, mut n: NodeId) -> NodeId {
    while matches!(
        g.op(n),
        Op::Linalg(Linalg::Transpose) | Op::Reduce(Reduce::Column(_))
    ) {
        n = g.args(n)[0];
    }
    n
}

fn rule_text(rule: &Rule) -> String {
    match rule {
        Rule::SigmoidBce => "sigmoid + bce".into(),
        Rule::LogSigmoid => "log σ(z) = −softplus(−z)".into(),
        Rule::LogOneMinusSigmoid => "log(1 − σ(z)) = −softplus(z)".into(),
        Rule::LogSoftmax => "log softmax".into(),
        Rule::SoftmaxCrossEntropy => "softmax + cross-entropy".into(),
        Rule::Derivative(f) => format!("{}'", f.text),
        Rule::Power => "power rule".into(),
        Rule::Product => "product rule".into(),
        Rule::Broadcast => "broadcast".into(),
        Rule::FanOut => "fan-out".into(),
    }
}

fn rule_latex(rule: &Rule) -> String {
    match rule {
        Rule::LogSigmoid => r"\log\sigma(z) = -\operatorname{softplus}(-z)".into(),
        Rule::LogOneMinusSigmoid => r"\log(1 - \sigma(z)) = -\operatorname{softplus}(z)".into(),
        Rule::Derivative(f) => format!("{}'", symbol_latex(f.latex)),
        other => format!(r"\text{{{}}}", rule_text(other)),
    }
}
