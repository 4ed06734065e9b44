//! Expressions -> nodes: each syntax node lowered to primitives through the op registry
//! (sugar becomes primitives here), with the errors of shapes that cannot fit at the
//! expression's token.

use std::collections::HashMap;

use proc_macro2::Span;
use syn::{Error, Ident, Result};

use crate::ast::{BinOp, Brief, DimSpec, Expr, ExprKind, Reduce as Reduction, Role};
use crate::check::{call_form, CallForm, Errors};
use crate::ir::{DimId, Graph, NodeId};
use crate::ops::index::{count, Axes, Index, MAX_RANK};
use crate::ops::lanes::Lanes;
use crate::ops::norm::deviation;
use crate::ops::shape::Fault;
use crate::ops::{loss, Linalg, Op, Reduce};

pub(super) struct Lower {
    pub(super) graph: Graph,
    pub(super) env: HashMap<String, NodeId>,
    pub(super) labels: HashMap<String, DimId>,
}

impl Lower {
    /// The dims of a tensor the model takes: declared numbers and names (one name, one
    /// dim across the model), or fresh dims.
    pub(super) fn leaf_shape(&mut self, declared: Option<&[DimSpec]>, rank: usize) -> Vec<DimId> {
        let dims = &mut self.graph.dims;
        match declared {
            None => (0..rank).map(|_| dims.fresh(None, None)).collect(),
            Some(spec) => spec
                .iter()
                .map(|d| match d {
                    DimSpec::Num(n) => dims.fresh(Some(*n), None),
                    DimSpec::Sym(label) => *self
                        .labels
                        .entry(label.to_string())
                        .or_insert_with(|| dims.fresh(None, Some(label.to_string()))),
                })
                .collect(),
        }
    }

    pub(super) fn expr(&mut self, e: &Expr) -> Result<NodeId> {
        crate::deep(|| self.expr_at(e))
    }

    fn expr_at(&mut self, e: &Expr) -> Result<NodeId> {
        let node = match &e.kind {
            ExprKind::Lit(v) => Ok(self.graph.cst(*v)),
            ExprKind::Name(n) => return self.name(n),
            ExprKind::Neg(a) => {
                let a = self.expr(a)?;
                self.graph.neg(a)
            }
            ExprKind::Binary(op, a, b) => {
                let (na, nb) = (self.expr(a)?, self.expr(b)?);
                self.site(e, &[a, b]);
                let built = match op {
                    BinOp::Add => self.graph.sum2(na, nb),
                    BinOp::Sub => self.graph.sub(na, nb),
                    BinOp::Mul => self.graph.mul(na, nb),
                    BinOp::Div => self.graph.div(na, nb),
                    BinOp::Matmul => self.graph.apply(Op::Linalg(Linalg::Matmul), &[na, nb]),
                };
                return built.map_err(|f| self.fault(f, e, *op, na, nb, a, b));
            }
            ExprKind::Call(f, args) => return self.call(e, f, args),
            ExprKind::Transpose(a) => {
                let na = self.expr(a)?;
                self.graph.t(na)
            }
            ExprKind::Pow(a, k) => {
                let na = self.expr(a)?;
                self.site(e, &[a]);
                self.graph.pow(na, *k)
            }
            ExprKind::Reduce(kind, a, axis, keep) => {
                let na = self.expr(a)?;
                self.site(e, &[a]);
                let rank = self.graph.rank(na) as i64;
                let axis = match axis {
                    None => None,
                    Some(k) if (-rank..rank).contains(k) => Some(k.rem_euclid(rank.max(1)) as u8),
                    Some(k) => {
                        return Err(Error::new(
                            e.span,
                            format!("axis {k} is out of range for `{a}`, which has rank {rank}"),
                        ))
                    }
                };
                let keep = *keep;
                match (kind, axis) {
                    (Reduction::Max | Reduction::Min, None) => {
                        let name = if *kind == Reduction::Max {
                            "max"
                        } else {
                            "min"
                        };
                        return Err(Error::new(
                            e.span,
                            format!("`{e}` needs an axis, as in `{a}.{name}(1)`; the largest or smallest of all elements is not supported"),
                        ));
                    }
                    // PyTorch's gradient goes to the first largest; for `min` the first
                    // smallest, which is the first largest of the negation.
                    (Reduction::Max, Some(k)) => self
                        .graph
                        .apply(Op::Reduce(Reduce::Max { axis: k, keep }), &[na]),
                    (Reduction::Min, Some(k)) => self.graph.neg(na).and_then(|m| {
                        let max = self
                            .graph
                            .apply(Op::Reduce(Reduce::Max { axis: k, keep }), &[m])?;
                        self.graph.neg(max)
                    }),
                    // PyTorch's: the sum of squares about the mean over the count less the
                    // correction; `std` its square root.
                    (Reduction::Var(c), _) => {
                        deviation(&mut self.graph, na, axis, keep, *c).map(|(_, var)| var)
                    }
                    (Reduction::Std(c), _) => deviation(&mut self.graph, na, axis, keep, *c)
                        .and_then(|(_, var)| self.graph.pow(var, 0.5)),
                    (Reduction::Sum | Reduction::Mean, _) => {
                        let sum = Op::Reduce(Reduce::Sum { axis, keep });
                        let sum = self.graph.apply(sum, &[na]);
                        match kind {
                            Reduction::Mean => sum.and_then(|s| {
                                let n = self.graph.apply(Op::Reduce(Reduce::Count(axis)), &[na])?;
                                self.graph.div(s, n)
                            }),
                            _ => sum,
                        }
                    }
                }
            }
            ExprKind::Dim(a, k) => {
                let na = self.shaped(a)?;
                let rank = self.graph.rank(na);
                if *k >= rank {
                    return Err(Error::new(
                        e.span,
                        format!("`{a}` has rank {rank}, so it has no axis {k}"),
                    ));
                }
                let axis = Some(*k as u8);
                self.graph.apply(Op::Reduce(Reduce::Count(axis)), &[na])
            }
            ExprKind::Pick(a, labels, keep) => {
                let ExprKind::Name(name) = &labels.kind else {
                    return Err(Error::new(
                        labels.span,
                        "rows are picked by a target of integer class labels, as in `logprobs[range(n), y]` or `logprobs.gather(1, y.view(-1, 1))`",
                    ));
                };
                let (na, nl) = (self.expr(a)?, self.labels_or_name(name)?);
                self.site(e, &[a, labels]);
                return loss::pick(&mut self.graph, na, nl, *keep).map_err(|_| {
                    let dims = &self.graph.dims;
                    Error::new(
                        e.span,
                        format!(
                            "`{e}` picks one element per row of a matrix by one label per row, but `{a}` is {} and `{labels}` is {}",
                            dims.describe_shape(self.graph.shape(na)),
                            dims.describe_shape(self.graph.shape(nl)),
                        ),
                    )
                });
            }
            ExprKind::Gather(table, indices) => {
                let ExprKind::Name(name) = &indices.kind else {
                    return Err(Error::new(
                        indices.span,
                        "rows are picked by an input of integer indices, as in `C[X]`",
                    ));
                };
                let (nt, ni) = (self.expr(table)?, self.labels_or_name(name)?);
                self.site(e, &[table, indices]);
                let is_indices =
                    matches!(self.graph.op(ni), Op::Var(v) if self.graph.vars[*v].labels);
                if !is_indices || self.graph.rank(ni) == 0 {
                    return Err(Error::new(
                        indices.span,
                        format!("`{e}` picks rows of `{table}` by integer indices, a tensor of at least one axis; `{indices}` is not"),
                    ));
                }
                if self.graph.rank(nt) == 0 {
                    return Err(Error::new(
                        table.span,
                        format!("`{e}` picks rows, but `{table}` is a number"),
                    ));
                }
                self.graph.apply(Op::Index(Index::Gather), &[nt, ni])
            }
            ExprKind::Reshape(a, lengths) => {
                let na = self.expr(a)?;
                self.site(e, &[a]);
                let axes = self.lengths(e, na, lengths)?;
                let built = self.graph.apply(Op::Index(Index::Reshape(axes)), &[na]);
                return built.map_err(|_| {
                    let dims = &self.graph.dims;
                    let from = self.graph.shape(na);
                    Error::new(
                        e.span,
                        format!(
                            "`{e}` cannot hold the {} elements of a tensor {}: {} has {}",
                            count(from, dims).unwrap_or(0),
                            dims.describe_shape(from),
                            dims.describe_shape(axes.dims()),
                            count(axes.dims(), dims).unwrap_or(0),
                        ),
                    )
                });
            }
            ExprKind::Column(a, k) => {
                let na = self.expr(a)?;
                self.site(e, &[a]);
                if self.graph.rank(na) != 2 {
                    return Err(Error::new(
                        e.span,
                        format!(
                            "`{a}` has rank {}; `[:, {k}]` selects a column of a matrix",
                            self.graph.rank(na)
                        ),
                    ));
                }
                self.graph.apply(Op::Reduce(Reduce::Column(*k)), &[na])
            }
        };
        node.map_err(|f| Error::new(e.span, self.describe(f, e)))
    }

    /// The axes of `e`, a reshape of `a` to `lengths`: each a number, a named dim, a length
    /// `x.shape[k]`, or one `-1` for the length that keeps the number of elements.
    fn lengths(&mut self, e: &Expr, a: NodeId, lengths: &[Expr]) -> Result<Axes> {
        let mut axes = Vec::new();
        let mut inferred = None;
        for (i, l) in lengths.iter().enumerate() {
            let dim = match (&l.kind, l.literal()) {
                (_, Some(v)) if v == -1.0 && inferred.is_none() => {
                    inferred = Some(i);
                    DimId(0)
                }
                (_, Some(v)) if v >= 1.0 && v.fract() == 0.0 && v < 1e15 => {
                    self.graph.dims.fresh(Some(v as usize), None)
                }
                (ExprKind::Name(n), _) if self.labels.contains_key(&n.to_string()) => {
                    self.labels[&n.to_string()]
                }
                (ExprKind::Dim(of, k), _) => {
                    let node = self.shaped(of)?;
                    match self.graph.shape(node).get(*k) {
                        Some(&d) => d,
                        None => {
                            return Err(Error::new(
                                l.span,
                                format!("`{of}` has rank {}, so it has no axis {k}", self.graph.rank(node)),
                            ))
                        }
                    }
                }
                _ => {
                    return Err(Error::new(
                        l.span,
                        "a length of `view` is a whole number, a named dim, `x.shape[k]`, or one `-1` for the length inferred",
                    ))
                }
            };
            axes.push(dim);
        }
        let from = self.graph.nodes[a.0].shape.clone();
        if let Some(i) = inferred {
            let dims = &mut self.graph.dims;
            let others: Vec<DimId> = axes
                .iter()
                .enumerate()
                .filter(|(j, _)| *j != i)
                .map(|(_, &d)| d)
                .collect();
            let length = match (count(&from, dims), count(&others, dims)) {
                (Some(total), Some(rest)) if rest > 0 && total % rest == 0 => Some(total / rest),
                (Some(total), Some(_)) => {
                    return Err(Error::new(
                        e.span,
                        format!(
                            "`{e}` cannot hold the elements of a tensor {}: {total} does not divide into axes of {}",
                            dims.describe_shape(&from),
                            dims.describe_shape(&others),
                        ),
                    ))
                }
                _ => None,
            };
            axes[i] = dims.fresh(length, None);
        }
        Axes::new(&axes, inferred)
            .ok_or_else(|| Error::new(e.span, format!("a tensor has at most {MAX_RANK} axes")))
    }

    /// `e`'s node where only its shape is read (`e.shape[k]`): indices and labels too.
    fn shaped(&mut self, e: &Expr) -> Result<NodeId> {
        match &e.kind {
            ExprKind::Name(n) => self.labels_or_name(n),
            _ => self.expr(e),
        }
    }

    fn name(&mut self, n: &Ident) -> Result<NodeId> {
        let node = self.labels_or_name(n)?;
        if let Op::Var(i) = self.graph.op(node) {
            let var = &self.graph.vars[*i];
            if var.labels && var.role == Role::Input {
                return Err(Error::new(
                    n.span(),
                    format!("`{n}` holds integer indices; it can only pick rows, as in `C[{n}]`"),
                ));
            }
            if var.labels {
                return Err(Error::new(
                    n.span(),
                    format!("`{n}` holds integer class labels; it can only be the labels of `cross_entropy` or `nll`, or pick, as in `logprobs[range(n), {n}]`"),
                ));
            }
        }
        Ok(node)
    }

    /// A name's node, class labels included.
    fn labels_or_name(&mut self, n: &Ident) -> Result<NodeId> {
        let name = n.to_string();
        if let Some(&node) = self.env.get(&name) {
            return Ok(node);
        }
        // `check::forms` has reported a `let` used early and `out` outside the loss, and
        // an expression that uses a failed binding is not lowered.
        Err(Error::new(
            n.span(),
            format!("cannot find `{name}` in this model"),
        ))
    }

    fn call(&mut self, e: &Expr, f: &Ident, args: &[Expr]) -> Result<NodeId> {
        let (arg, op) = match call_form(f, args)? {
            CallForm::Loss(l, a, b) => return self.loss(e, l, a, b),
            CallForm::Norm(kind, [x, gain, bias], eps) => {
                let (nx, ng, nb) = (self.expr(x)?, self.expr(gain)?, self.expr(bias)?);
                self.site(e, &[x, gain, bias]);
                let built = kind.build(&mut self.graph, nx, ng, nb, eps);
                return built.map_err(|fault| Error::new(e.span, self.describe(fault, e)));
            }
            CallForm::Function(func, arg, k) => {
                let na = self.expr(arg)?;
                self.site(e, &[arg]);
                let built = self.graph.map_with(func, k, na);
                return built.map_err(|fault| Error::new(e.span, self.describe(fault, e)));
            }
            CallForm::Lanes(kind, arg, axis) => (arg, (kind, axis)),
        };
        let na = self.expr(arg)?;
        self.site(e, &[arg]);
        let (kind, axis) = op;
        let rank = self.graph.rank(na) as i64;
        if !(-rank..rank).contains(&axis) {
            return Err(Error::new(
                e.span,
                format!("axis {axis} is out of range for `{arg}`, which has rank {rank}"),
            ));
        }
        let lanes = Lanes {
            kind,
            axis: axis.rem_euclid(rank) as u8,
        };
        self.graph
            .apply(Op::Lanes(lanes), &[na])
            .map_err(|fault| Error::new(e.span, self.describe(fault, e)))
    }

    /// A named loss of `a` against `b`, with PyTorch's meaning and reduction.
    fn loss(&mut self, e: &Expr, l: loss::Named, a: &Expr, b: &Expr) -> Result<NodeId> {
        let def = l.def();
        let name = def.name;
        if def.labels {
            let ExprKind::Name(labels) = &b.kind else {
                return Err(Error::new(
                    b.span,
                    format!(
                        "the labels of `{name}` are a target of integer class labels, such as `y`"
                    ),
                ));
            };
            let (na, nb) = (self.expr(a)?, self.labels_or_name(labels)?);
            self.site(e, &[a, b]);
            return (def.build)(&mut self.graph, na, nb).map_err(|_| {
                let dims = &self.graph.dims;
                Error::new(
                    e.span,
                    format!(
                        "`{name}` takes logits [n, classes] and one label per row, but `{a}` is {} and `{b}` is {}",
                        dims.describe_shape(self.graph.shape(na)),
                        dims.describe_shape(self.graph.shape(nb)),
                    ),
                )
            });
        }
        let (na, nb) = (self.expr(a)?, self.expr(b)?);
        self.site(e, &[a, b]);
        let (sa, sb) = (self.graph.shape(na).clone(), self.graph.shape(nb).clone());
        let mismatch = |g: &Graph| {
            Error::new(
                e.span,
                format!(
                    "loss `{name}` compares `{a}` {} with `{b}` {}; their shapes must match",
                    g.dims.describe_shape(&sa),
                    g.dims.describe_shape(&sb)
                ),
            )
        };
        if sa.len() != sb.len() {
            return Err(mismatch(&self.graph));
        }
        for (&x, &y) in sa.iter().zip(&sb) {
            if self.graph.dims.unify(x, y).is_err() {
                return Err(mismatch(&self.graph));
            }
        }
        (def.build)(&mut self.graph, na, nb).map_err(|f| Error::new(e.span, self.describe(f, e)))
    }

    /// Records `e` as the first use of each operand that is a tensor the model takes,
    /// possibly transposed (`x @ fc1.T` is where `fc1` is used, not `fc1.T`).
    fn site(&mut self, e: &Expr, operands: &[&Expr]) {
        for mut operand in operands.iter().copied() {
            while let ExprKind::Transpose(inner) = &operand.kind {
                operand = inner;
            }
            let ExprKind::Name(n) = &operand.kind else {
                continue;
            };
            let node = self.env.get(&n.to_string()).copied();
            if let Some(Op::Var(i)) = node.map(|node| *self.graph.op(node)) {
                let var = &mut self.graph.vars[i];
                if var.site.is_empty() {
                    var.site = Brief(e).to_string();
                }
            }
        }
    }

    /// The error for a binary op's shape fault, naming both operands and their shapes.
    #[allow(clippy::too_many_arguments)]
    fn fault(
        &self,
        fault: Fault,
        e: &Expr,
        op: BinOp,
        na: NodeId,
        nb: NodeId,
        a: &Expr,
        b: &Expr,
    ) -> Error {
        let dims = &self.graph.dims;
        let (sa, sb) = (
            dims.describe_shape(self.graph.shape(na)),
            dims.describe_shape(self.graph.shape(nb)),
        );
        let msg = match (op, &fault) {
            (BinOp::Matmul, Fault::Dims(l, r)) => format!(
                "inner dimensions of `{e}` differ: `{a}` {sa} has {l} columns, `{b}` {sb} has {r} rows"
            ),
            (BinOp::Matmul, Fault::Rank { arg, got }) => format!(
                "`{}` has rank {got}; `@` multiplies matrices and vectors",
                if *arg == 0 { a } else { b }
            ),
            (_, Fault::Dims(..)) => format!("cannot broadcast `{a}` {sa} with `{b}` {sb} in `{e}`"),
            _ => self.describe(fault, e),
        };
        Error::new(e.span, msg)
    }

    fn describe(&self, fault: Fault, e: &Expr) -> String {
        match fault {
            Fault::Dims(l, r) => format!("dims {l} and {r} must be equal in `{e}`"),
            Fault::Rank { got, .. } => {
                format!("an operand of `{e}` has rank {got}, which it does not take")
            }
            Fault::Column { k, cols } => {
                format!("`{e}` selects column {k}, but there are {cols} columns")
            }
            Fault::Axis { axis, rank } => {
                format!("axis {axis} is out of range in `{e}`, of rank {rank}")
            }
        }
    }

    /// Targets are known only when training; the output must not need them.
    /// `body` holds the names the `let`s and the output use, in order, for the span of the
    /// target's first use.
    pub(super) fn no_targets_in_output(
        &self,
        out: NodeId,
        output: &Expr,
        body: &[(String, Span)],
        errors: &mut Errors,
    ) {
        let mut stack = vec![out];
        let mut seen = vec![false; self.graph.nodes.len()];
        while let Some(n) = stack.pop() {
            if std::mem::replace(&mut seen[n.0], true) {
                continue;
            }
            if let Op::Var(i) = self.graph.op(n) {
                let var = &self.graph.vars[*i];
                if var.role == Role::Target {
                    let first_use = body.iter().find(|(n, _)| *n == var.name);
                    errors.push(Error::new(
                        first_use.map_or(output.span, |(_, span)| *span),
                        format!(
                            "the output uses the target `{}`; targets may appear only in the loss",
                            var.name
                        ),
                    ));
                }
            }
            stack.extend_from_slice(self.graph.args(n));
        }
    }
}
