//! Every identifier the generated code binds, each unique: the model's own names (its
//! tensors and `let`s, `out`, `loss`), the names the derivation gives the values it
//! shows (`z1`, `h1`, `d_z1`, `d_w1`, `d_out`, `n`), temporaries (`t1`, `t2`) for the
//! values it does not, and the generated helpers and their locals (`dims`, `forward`),
//! which give way to the model's names. So no binding shadows another that a later line
//! reads, and the code reads in the derivation's names.

use std::collections::{HashMap, HashSet};

use proc_macro2::Span;
use syn::Ident;

use super::ident;
use super::plan::{Kind, Plan};
use crate::derivation::Derivation;
use crate::ir::{Graph, NodeId};
use crate::lower::Lowered;
use crate::ops::{Linalg, Op, Reduce};
use crate::print::{Notation, Sym};

/// The names taken so far.
#[derive(Clone, Default)]
pub struct Namer {
    taken: HashSet<String>,
}

impl Namer {
    /// The model's own names, which are taken as they are.
    pub fn new(lowered: &Lowered) -> Self {
        let mut taken: HashSet<String> = lowered
            .graph
            .vars
            .iter()
            .map(|v| v.name.trim_start_matches("r#").to_string())
            .collect();
        taken.extend(
            lowered
                .lets
                .iter()
                .map(|(l, _)| l.to_string().trim_start_matches("r#").to_string()),
        );
        Self { taken }
    }

    /// `want`, or `want_2`, `want_3`, ... the first not taken.
    pub fn claim(&mut self, want: &str) -> Ident {
        let want = want.trim_start_matches("r#");
        let mut name = want.to_string();
        let mut k = 1;
        while self.taken.contains(&name) || is_keyword(&name) {
            k += 1;
            name = format!("{want}_{k}");
        }
        self.taken.insert(name.clone());
        Ident::new(&name, Span::call_site())
    }
}

fn is_keyword(name: &str) -> bool {
    syn::parse_str::<Ident>(name).is_err()
}

/// The names of one graph's values.
pub struct Names {
    by_node: HashMap<NodeId, Ident>,
}

impl Names {
    /// Names for the values `plan` binds or passes by name: the model's, the derivation's,
    /// then temporaries; views and spreads that fused passes read get their base's name
    /// with a suffix (`w2_t`).
    pub fn new(lowered: &Lowered, d: &Derivation<'_>, plans: &[&Plan], namer: &mut Namer) -> Self {
        let g = &lowered.graph;
        let mut by_node: HashMap<NodeId, Ident> = HashMap::new();
        for v in &g.vars {
            by_node.insert(v.node, ident(&v.name, Span::call_site()));
        }
        for (name, n) in &lowered.lets {
            by_node.entry(*n).or_insert_with(|| name.clone());
        }
        let outputs = lowered.outputs.iter().map(|(name, n)| (*n, name.as_str()));
        for (n, name) in outputs.chain([(lowered.loss, "loss")]) {
            by_node.entry(n).or_insert_with(|| namer.claim(name));
        }
        // The derivation's names, then temporaries, for the values stored or computed.
        for (n, sym) in d.names() {
            by_node
                .entry(n)
                .or_insert_with(|| namer.claim(&code_name(sym)));
        }
        for i in 0..g.nodes.len() {
            let n = NodeId(i);
            if by_node.contains_key(&n) {
                continue;
            }
            // An array that a later pass works in place on is named after its last value.
            let own = plans
                .iter()
                .any(|p| p.is_statement(g, n) && p.last_in(p.host(n)) == n);
            let viewed = plans
                .iter()
                .any(|p| matches!(p.kind[i], Kind::View | Kind::Spread));
            let name = if own {
                "t".to_string()
            } else if viewed {
                view_name(g, n, &by_node)
            } else {
                continue;
            };
            let name = if name == "t" {
                numbered(namer)
            } else {
                namer.claim(&name)
            };
            by_node.insert(n, name);
        }
        Self { by_node }
    }

    /// The name of `n`'s value; `None` for a value computed inside a pass.
    pub fn get(&self, n: NodeId) -> Option<&Ident> {
        self.by_node.get(&n)
    }
}

/// The next free `t1`, `t2`, ...
fn numbered(namer: &mut Namer) -> Ident {
    let mut k = 1;
    loop {
        let want = format!("t{k}");
        if !namer.taken.contains(&want) {
            return namer.claim(&want);
        }
        k += 1;
    }
}

/// A derivation's symbol as an identifier: `d_z1` for `δz1`, `d_w1` for `∂L/∂w1`,
/// `d_out` for `δŷ`, `n` for the count `N`.
fn code_name(sym: &Sym) -> String {
    match sym {
        Sym::Name(n)
            if n.chars()
                .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit()) =>
        {
            n.to_lowercase()
        }
        Sym::Name(_) | Sym::Output | Sym::Loss | Sym::Delta(_) | Sym::Partial(_) => {
            sym.render(Notation::Code).replace("r#", "")
        }
    }
}

/// A name for a view that a pass reads: `w2_t` for `w2.T`, `h_0` for `h[:, 0]`, `g_spread`
/// for a gradient spread over a sum's shape.
fn view_name(g: &Graph, n: NodeId, named: &HashMap<NodeId, Ident>) -> String {
    let base = g.args(n).first().and_then(|a| named.get(a));
    let base = base.map_or("v".to_string(), |b| b.to_string().replace("r#", ""));
    match g.op(n) {
        Op::Linalg(Linalg::Transpose) => format!("{base}_t"),
        Op::Reduce(Reduce::Column(k)) => format!("{base}_{k}"),
        Op::Reduce(Reduce::Unsum { .. }) => format!("{base}_spread"),
        Op::Var(_)
        | Op::Const(_)
        | Op::Arith(_)
        | Op::Map(_)
        | Op::Linalg(_)
        | Op::Reduce(_)
        | Op::Index(_)
        | Op::Normalize(_)
        | Op::Lanes(_)
        | Op::Loss(_) => base,
    }
}
