//! Syntax tree -> graph. Names get their roles (`x` input, `y` target, other free names
//! parameters, unless declared), ranks are inferred, and sugar becomes primitives here and
//! nowhere else: `a - b` is `a + (-b)`, `a / b` is `a * b^-1`, `mean` is `sum / numel`, and
//! the named losses are written out.

use std::collections::HashMap;

use proc_macro2::Span;
use syn::{Error, Ident, Result};

use crate::ast::{
    BinOp, Brief, Decl, DimSpec, Expr, ExprKind, Loss, Model, Reduce as Reduction, Role,
};
use crate::check::{call_form, declarations, forms, suggest, undefined_in_loss, CallForm, Errors};
use crate::ir::{DimId, Graph, NodeId};
use crate::ops::lanes::Lanes;
use crate::ops::shape::Fault;
use crate::ops::{loss, Linalg, Op, Reduce};
use crate::rank::{Name, Ranks};

/// Whether `e` calls a loss whose second argument is integer class labels
/// (`cross_entropy`).
fn calls_labels_loss(e: &Expr) -> Option<&[Expr]> {
    match &e.kind {
        ExprKind::Call(f, args) => loss::named(&f.to_string())
            .filter(|l| l.def().labels)
            .map(|_| args.as_slice()),
        _ => None,
    }
}

/// A model as a graph, with the nodes the generated code names.
pub struct Lowered {
    pub graph: Graph,
    /// `let` bindings in order.
    pub lets: Vec<(Ident, NodeId)>,
    pub out: NodeId,
    pub loss: NodeId,
}

/// The model as a graph; `stable` turns the numerical stability rewrites on.
pub fn lower(model: &Model, stable: bool) -> Result<Lowered> {
    let mut errors = Errors::default();
    let (output, loss) = match (&model.output, &model.loss) {
        (Some(o), Some(l)) => (o, l),
        (output, loss) => {
            if output.is_none() && loss.is_none() && model.lets.is_empty() {
                errors.push(Error::new(
                    model.span,
                    "the model is empty; write a network such as `relu(x @ w1 + b1) @ w2 + b2; loss mse`",
                ));
            } else {
                if output.is_none() {
                    errors.push(Error::new(
                        model.span,
                        "the model has no output expression; write it after the `let`s, as in `sigmoid(z3);`",
                    ));
                }
                if loss.is_none() {
                    errors.push(Error::new(
                        model.span,
                        "the model has no loss; end it with `loss mse` or `loss <expr>`",
                    ));
                }
            }
            return Err(errors.finish().unwrap_err());
        }
    };
    let decls = declarations(model, &mut errors);
    let targets: Vec<&Decl> = model
        .decls
        .iter()
        .filter(|d| d.role == Role::Target)
        .collect();
    let let_names: Vec<String> = model.lets.iter().map(|l| l.name.to_string()).collect();
    let loss_expr = loss_expression(loss, &targets, &let_names, &mut errors);
    let loss_expr = errors.take(loss_expr);
    forms(model, &let_names, loss_expr.as_ref(), &mut errors);
    // The errors so far make rank inference meaningless; report them all at once.
    errors.finish()?;
    let Some(loss_expr) = loss_expr else {
        return Err(Error::new(model.span, "the model has no loss"));
    };

    // Every name, in the order it first appears; declared ones first.
    let mut order = declared_and_body_names(model);
    let in_body = order.len();
    // The names the `let`s and the output use, for the span of a misused one.
    let body = order[model.decls.len()..].to_vec();
    names_in(&loss_expr, &mut order);
    undefined_in_loss(
        &order[..in_body],
        &order[in_body..],
        &let_names,
        &decls,
        &mut errors,
    );
    let order = tensors_among(order, &let_names);

    let bound = model
        .lets
        .iter()
        .map(|l| (l.name.to_string(), l.name.span()));
    for (n, span) in order.iter().cloned().chain(bound) {
        if n.starts_with("__") {
            errors.push(Error::new(
                span,
                format!("`{n}` is reserved: names starting with `__` are the generated code's"),
            ));
        }
    }
    errors.finish()?;
    let mut names: HashMap<String, Name> = HashMap::new();
    for (n, _) in &order {
        let (role, rank) = match decls.get(n) {
            Some(d) => (d.role, d.shape.as_ref().map(Vec::len)),
            None => (default_role(n), None),
        };
        names.insert(n.clone(), Name::Var(role, rank));
    }
    for n in let_names.iter().chain(std::iter::once(&"out".to_string())) {
        names.insert(n.clone(), Name::Bound(None));
    }
    // The names `cross_entropy` takes as labels: integers, not tensors of the model's type.
    let labels: Vec<String> = match calls_labels_loss(&loss_expr).and_then(|a| a.get(1)) {
        Some(Expr {
            kind: ExprKind::Name(n),
            ..
        }) => vec![n.to_string()],
        _ => Vec::new(),
    };
    let mut ranks = Ranks::new(names);
    ranks.fixpoint(|r| {
        for l in &model.lets {
            let name = l.name.to_string();
            let rank = r.walk(&l.value, r.expected(&name));
            r.bind(&name, rank);
        }
        let rank = r.walk(output, r.expected("out"));
        r.bind("out", rank);
        match (&loss_expr.kind, calls_labels_loss(&loss_expr)) {
            (_, Some([logits, labels])) => {
                // Logits [n, classes] and one label per row.
                let rank = r.walk(logits, Some(2));
                r.walk(labels, Some(rank.unwrap_or(2).saturating_sub(1)));
            }
            (ExprKind::Call(f, args), _)
                if args.len() == 2 && loss::named(&f.to_string()).is_some() =>
            {
                r.same_rank(&args[0], &args[1]);
            }
            _ => drop(r.walk(&loss_expr, None)),
        }
    });

    let mut lower = Lower {
        graph: Graph::new(stable),
        env: HashMap::new(),
        labels: HashMap::new(),
    };
    for (n, span) in &order {
        let Some(Name::Var(role, rank)) = ranks.names.get(n).copied() else {
            continue;
        };
        let Some(rank) = rank else {
            let example = match role {
                Role::Input => "input",
                Role::Target => "target",
                Role::Param => "param",
            };
            errors.push(Error::new(
                *span,
                format!("cannot infer the rank of `{n}`; declare it, as in `{example} {n}: [];` for a scalar or `{example} {n}: [d];` for a vector"),
            ));
            continue;
        };
        let shape = lower.leaf_shape(decls.get(n).and_then(|d| d.shape.as_deref()), rank);
        let is_labels = labels.contains(n);
        if is_labels && role != Role::Target {
            errors.push(Error::new(
                *span,
                format!("`{n}` holds the class labels of `cross_entropy`, so it must be a target; declare it with `target {n};`"),
            ));
        }
        let node = lower.graph.var(n.clone(), role, is_labels, *span, shape);
        lower.env.insert(n.clone(), node);
    }
    errors.finish()?;

    let mut lets = Vec::new();
    // A binding whose value failed is not reported again wherever it is used.
    let mut failed: Vec<String> = Vec::new();
    let mut attempt = |lower: &mut Lower, e: &Expr, name: &str, errors: &mut Errors| {
        let mut used = Vec::new();
        names_in(e, &mut used);
        let node = if used.iter().any(|(n, _)| failed.contains(n)) {
            None
        } else {
            errors.take(lower.expr(e))
        };
        if node.is_none() {
            failed.push(name.to_string());
        }
        node
    };
    for l in &model.lets {
        let name = l.name.to_string();
        if let Some(node) = attempt(&mut lower, &l.value, &name, &mut errors) {
            lets.push((l.name.clone(), node));
            lower.graph.named.push(node);
            lower.env.insert(name, node);
        }
    }
    let out = attempt(&mut lower, output, "out", &mut errors);
    if let Some(out) = out {
        lower.env.insert("out".to_string(), out);
        lower.graph.named.push(out);
        lower.no_targets_in_output(out, output, &body, &mut errors);
    }
    let loss_node = attempt(&mut lower, &loss_expr, "loss", &mut errors);
    if let Some(l) = loss_node {
        if lower.graph.rank(l) != 0 {
            errors.push(Error::new(
                loss_expr.span,
                format!(
                    "the loss must be a scalar, but `{loss_expr}` has shape {}; reduce it with `.mean()` or `.sum()`",
                    lower.graph.dims.describe_shape(lower.graph.shape(l))
                ),
            ));
        }
    }
    errors.finish()?;
    match (out, loss_node) {
        (Some(out), Some(loss)) => Ok(Lowered {
            graph: lower.graph,
            lets,
            out,
            loss,
        }),
        _ => Err(Error::new(model.span, "the model could not be lowered")),
    }
}

pub fn default_role(name: &str) -> Role {
    match name {
        "x" => Role::Input,
        "y" => Role::Target,
        _ => Role::Param,
    }
}

/// The loss as one expression: a named loss becomes a call with its arguments, `out` and
/// the model's target when they are left out.
fn loss_expression(
    loss: &Loss,
    targets: &[&Decl],
    lets: &[String],
    errors: &mut Errors,
) -> Result<Expr> {
    match loss {
        Loss::Expr(e) => Ok(e.clone()),
        // `loss out` or `loss l` for a `let l`: a name, not a named loss.
        Loss::Named { name, args }
            if args.is_empty() && (name == "out" || lets.contains(&name.to_string())) =>
        {
            Ok(Expr::new(ExprKind::Name(name.clone()), name.span()))
        }
        Loss::Named { name, args } => {
            let span = name.span();
            if loss::named(&name.to_string()).is_none() {
                let known: Vec<&str> = loss::SPELLINGS.iter().map(|l| l.name).collect();
                return Err(Error::new(
                    span,
                    format!(
                        "unknown loss `{name}`{}; the losses are listed in the documentation of `backprop`",
                        suggest(&name.to_string(), &known),
                    ),
                ));
            }
            let args = if args.is_empty() {
                let target = match targets {
                    [] => Ident::new("y", span),
                    [t] => t.name.clone(),
                    _ => {
                        errors.push(Error::new(
                            span,
                            format!("the model has several targets; name them, as in `loss {name}(out, {})`", targets[0].name),
                        ));
                        targets[0].name.clone()
                    }
                };
                vec![
                    Expr::new(ExprKind::Name(Ident::new("out", span)), span),
                    Expr::new(ExprKind::Name(target), span),
                ]
            } else {
                args.clone()
            };
            Ok(Expr::new(ExprKind::Call(name.clone(), args), span))
        }
    }
}

/// The declared names, then the names the `let`s and the output use, in the order they
/// are written, with repeats.
pub fn declared_and_body_names(model: &Model) -> Vec<(String, Span)> {
    let mut names: Vec<(String, Span)> = model
        .decls
        .iter()
        .map(|d| (d.name.to_string(), d.name.span()))
        .collect();
    for e in model.lets.iter().map(|l| &l.value).chain(&model.output) {
        names_in(e, &mut names);
    }
    names
}

/// The tensors a model takes among `names`: each name once, where it first appears,
/// without the `let`s and `out`.
pub fn tensors_among(mut names: Vec<(String, Span)>, lets: &[String]) -> Vec<(String, Span)> {
    let mut seen = HashMap::new();
    names.retain(|(n, _)| seen.insert(n.clone(), ()).is_none());
    names.retain(|(n, _)| !lets.contains(n) && n != "out");
    names
}

/// The names `e` uses, in the order they are written.
pub fn names_in(e: &Expr, out: &mut Vec<(String, Span)>) {
    e.visit(&mut |e| {
        if let ExprKind::Name(n) = &e.kind {
            out.push((n.to_string(), n.span()));
        }
    });
}

struct Lower {
    graph: Graph,
    env: HashMap<String, NodeId>,
    labels: HashMap<String, DimId>,
}

impl Lower {
    /// The dims of a tensor the model takes: declared numbers and names (one name, one
    /// dim across the model), or fresh dims.
    fn leaf_shape(&mut self, declared: Option<&[DimSpec]>, rank: usize) -> Vec<DimId> {
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

    fn expr(&mut self, e: &Expr) -> Result<NodeId> {
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
            ExprKind::Reduce(kind, a, axis) => {
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
                let sum = Op::Reduce(Reduce::Sum { axis, keep: false });
                let sum = self.graph.apply(sum, &[na]);
                match kind {
                    Reduction::Sum => sum,
                    Reduction::Mean => sum.and_then(|s| {
                        let n = self.graph.apply(Op::Reduce(Reduce::Count(axis)), &[na])?;
                        self.graph.div(s, n)
                    }),
                }
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

    fn name(&mut self, n: &Ident) -> Result<NodeId> {
        let node = self.labels_or_name(n)?;
        if let Op::Var(i) = self.graph.op(node) {
            if self.graph.vars[*i].labels {
                return Err(Error::new(
                    n.span(),
                    format!("`{n}` holds integer class labels; it can only be the labels of `cross_entropy`"),
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
    fn no_targets_in_output(
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
