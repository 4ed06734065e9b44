//! Rank inference over the syntax tree, before lowering: the operands of `@` are matrices,
//! a parameter added to a matrix is a row-broadcast vector (the bias convention), one that
//! scales a tensor is a scalar,
//! an input or target combined with a tensor has its rank, and so on, to a fixed point.
//! Declared shapes win; a name whose rank stays unknown must be declared.

use std::collections::{HashMap, HashSet};

use crate::ast::{BinOp, Expr, ExprKind, Role};
use crate::ops::loss;

/// What rank inference knows of a name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Name {
    /// A tensor the model takes, with its rank once known.
    Var(Role, Option<usize>),
    /// A `let` binding or `out`, with its rank once known.
    Bound(Option<usize>),
}

#[derive(Clone)]
pub struct Ranks {
    pub names: HashMap<String, Name>,
    /// Ranks pushed down onto a `let` whose own rank is not known yet.
    expected: HashMap<String, usize>,
    changed: bool,
}

impl Ranks {
    pub fn new(names: HashMap<String, Name>) -> Self {
        Self {
            names,
            expected: HashMap::new(),
            changed: false,
        }
    }

    /// Runs `pass` (one walk over the model) until nothing changes.
    pub fn fixpoint(&mut self, mut pass: impl FnMut(&mut Self)) {
        for _ in 0..=self.names.len() + 1 {
            self.changed = false;
            pass(self);
            if !self.changed {
                break;
            }
        }
    }

    /// The names of `order` whose rank stays unknown, less those that declaring the
    /// earlier ones would rank: each is assumed declared in turn, by the batch convention
    /// (an input or target a batch of rows, a parameter a scalar), and `pass` run again.
    pub fn needing_declarations(
        &self,
        order: &[(String, proc_macro2::Span)],
        pass: &mut impl FnMut(&mut Self),
    ) -> HashSet<String> {
        let mut trial = self.clone();
        let mut needed = HashSet::new();
        for (n, _) in order {
            if let Some(Name::Var(role, slot @ None)) = trial.names.get_mut(n) {
                *slot = Some(if *role == Role::Param { 0 } else { 2 });
                needed.insert(n.clone());
                trial.fixpoint(&mut *pass);
            }
        }
        needed
    }

    /// Records the rank of a bound name (a `let` or `out`).
    pub fn bind(&mut self, name: &str, rank: Option<usize>) {
        if let (Some(r), Some(Name::Bound(old))) = (rank, self.names.get_mut(name)) {
            if *old != Some(r) {
                *old = Some(r);
                self.changed = true;
            }
        }
    }

    pub fn expected(&self, name: &str) -> Option<usize> {
        self.expected.get(name).copied()
    }

    /// The rank of `e`, if it can be told yet; `expect` is the rank its context needs.
    pub fn walk(&mut self, e: &Expr, expect: Option<usize>) -> Option<usize> {
        crate::deep(|| self.walk_at(e, expect))
    }

    fn walk_at(&mut self, e: &Expr, expect: Option<usize>) -> Option<usize> {
        match &e.kind {
            ExprKind::Lit(_) => Some(0),
            ExprKind::Name(n) => self.name(&n.to_string(), expect),
            ExprKind::Neg(a) | ExprKind::Transpose(a) | ExprKind::Pow(a, _) => self.walk(a, expect),
            ExprKind::Call(f, args) => {
                if let Some(l) = loss::named(&f.to_string()) {
                    match args.as_slice() {
                        // Logits [n, classes] and one label per row.
                        [logits, labels] if l.def().labels => {
                            let rank = self.walk(logits, Some(2));
                            self.walk(labels, Some(rank.unwrap_or(2).saturating_sub(1)));
                        }
                        [a, b] => self.same_rank(a, b),
                        _ => {
                            for a in args {
                                self.walk(a, None);
                            }
                        }
                    }
                    return Some(0);
                }
                // A batch of rows, and a gain and a bias per feature.
                if crate::ops::norm::named(&f.to_string()).is_some() {
                    let rank = self.walk(args.first()?, Some(2));
                    for row in args.iter().skip(1).take(2) {
                        self.walk(row, Some(1));
                    }
                    return rank;
                }
                let first = args.first()?;
                for extra in &args[1..] {
                    self.walk(extra, None);
                }
                self.walk(first, expect)
            }
            ExprKind::Binary(BinOp::Matmul, a, b) => {
                let ra = self.operand(a, Some(2));
                let rb = self.operand(b, Some(2));
                match (ra?, rb?) {
                    (2, 2) => Some(2),
                    (2, 1) | (1, 2) => Some(1),
                    (1, 1) => Some(0),
                    _ => None,
                }
            }
            ExprKind::Binary(op, a, b) => {
                self.elementwise(a, b, *op == BinOp::Add || *op == BinOp::Sub, expect)
            }
            // `keepdim=True` keeps the rank.
            ExprKind::Reduce(_, a, _, true) => self.walk(a, expect),
            ExprKind::Reduce(_, a, None, false) => {
                self.walk(a, None);
                Some(0)
            }
            ExprKind::Reduce(_, a, Some(_), false) => {
                let r = self.walk(a, expect.map(|r| r + 1))?;
                r.checked_sub(1)
            }
            ExprKind::Dim(a, _) => {
                self.walk(a, None);
                Some(0)
            }
            // Rows of scores and one label per row: one number per row.
            ExprKind::Pick(a, labels, keep) => {
                self.walk(a, Some(2));
                self.walk(labels, Some(1));
                Some(if *keep { 2 } else { 1 })
            }
            ExprKind::Column(a, _) => {
                self.walk(a, Some(2));
                Some(1)
            }
            // A table's rows at indices: the indices' axes, then a row's. A table nothing
            // else ranks is a matrix of rows (an embedding).
            ExprKind::Gather(table, indices) => {
                let rt = self.operand(table, Some(2))?;
                let want = expect.and_then(|r| (r + 1).checked_sub(rt));
                let ri = self.walk(indices, want)?;
                (ri + rt).checked_sub(1)
            }
            // The lengths are numbers and dims, not tensors.
            ExprKind::Reshape(a, lengths) => {
                self.walk(a, None);
                Some(lengths.len())
            }
        }
    }

    /// Two operands that are compared elementwise and must have one rank (a loss).
    pub fn same_rank(&mut self, a: &Expr, b: &Expr) {
        let ra = self.walk(a, None);
        let rb = self.walk(b, None);
        match (ra, rb) {
            (Some(r), None) => drop(self.walk(b, Some(r))),
            (None, Some(r)) => drop(self.walk(a, Some(r))),
            _ => {}
        }
    }

    fn operand(&mut self, e: &Expr, default: Option<usize>) -> Option<usize> {
        self.walk(e, None).or_else(|| self.walk(e, default))
    }

    /// `a (+|-|*|/) b`: when one side's rank is known and not 0, the other side gets it
    /// too, except that a parameter added to a matrix is a row vector and one that scales a
    /// tensor a scalar, and an input or target combined with a parameter row is a batch of
    /// rows. A scalar result (a loss) has scalar operands.
    fn elementwise(
        &mut self,
        a: &Expr,
        b: &Expr,
        additive: bool,
        expect: Option<usize>,
    ) -> Option<usize> {
        let scalar = expect.filter(|&r| r == 0);
        let ra = self.walk(a, scalar);
        let rb = self.walk(b, scalar);
        match (ra, rb) {
            (Some(x), Some(y)) => Some(x.max(y)),
            (Some(r), None) => {
                let rb = self.push(b, r, additive, self.is_param_row(a));
                Some(r.max(rb?))
            }
            (None, Some(r)) => {
                let ra = self.push(a, r, additive, self.is_param_row(b));
                Some(r.max(ra?))
            }
            (None, None) => None,
        }
    }

    /// Whether `e` is a parameter of rank 1: a row of per-feature values.
    fn is_param_row(&self, e: &Expr) -> bool {
        matches!(&e.kind, ExprKind::Name(n)
            if self.names.get(&n.to_string()) == Some(&Name::Var(Role::Param, Some(1))))
    }

    fn push(&mut self, e: &Expr, other: usize, additive: bool, row: bool) -> Option<usize> {
        if let ExprKind::Name(n) = &e.kind {
            match self.names.get(&n.to_string()) {
                // A parameter that scales a tensor is a scalar (`s * relu(x @ w)`); one
                // added to a matrix is a bias row; otherwise it has the other side's rank.
                Some(Name::Var(Role::Param, None)) => {
                    return match (additive, other) {
                        (false, _) => self.walk(e, Some(0)),
                        (true, 2) => self.walk(e, Some(1)),
                        (true, r) => self.walk(e, Some(r)),
                    };
                }
                // `x * w` for a row `w` of per-feature weights: `x` is rows of examples.
                Some(Name::Var(Role::Input | Role::Target, None)) if row => {
                    return self.walk(e, Some(2));
                }
                _ => {}
            }
        }
        // A scalar on the other side says nothing: it broadcasts against any rank.
        self.walk(e, (other > 0).then_some(other))
    }

    /// The batch convention for a model without a matrix: the names nothing gave a rank,
    /// parameters as scalars and inputs and targets as batches of numbers (`[n]`).
    pub fn default_elementwise(&mut self) {
        for name in self.names.values_mut() {
            if let Name::Var(role, slot @ None) = name {
                *slot = Some(if *role == Role::Param { 0 } else { 1 });
                self.changed = true;
            }
        }
    }

    /// The convention for indices nothing gives a rank: one per example (`[n]`).
    pub fn default_indices(&mut self, indices: &[String]) {
        for n in indices {
            if let Some(Name::Var(_, slot @ None)) = self.names.get_mut(n) {
                *slot = Some(1);
                self.changed = true;
            }
        }
    }

    fn name(&mut self, n: &str, expect: Option<usize>) -> Option<usize> {
        match self.names.get_mut(n) {
            Some(Name::Var(_, Some(r)) | Name::Bound(Some(r))) => Some(*r),
            Some(Name::Var(_, slot @ None)) => {
                *slot = expect;
                self.changed |= expect.is_some();
                expect
            }
            Some(Name::Bound(None)) => {
                if let Some(r) = expect {
                    if self.expected.insert(n.to_string(), r) != Some(r) {
                        self.changed = true;
                    }
                }
                None
            }
            None => None,
        }
    }
}
