//! Syntax tree -> graph. Names get their roles (`x` input, `y` target, other free names
//! parameters, unless declared), ranks are inferred, and sugar becomes primitives here and
//! nowhere else: `a - b` is `a + (-b)`, `a / b` is `a * b^-1`, `mean` is `sum / numel`, and
//! the named losses are written out.

use std::collections::{BTreeMap, HashMap};

use proc_macro2::Span;
use syn::{Error, Ident, Result};

use crate::ast::{BinOp, Decl, DimSpec, Expr, ExprKind, Loss, Model, Role};
use crate::check::{bindable, declarations, forms, model_name, suggest, undefined_in_loss, Errors};
use crate::ir::{Graph, NodeId};
use crate::ops::{loss, Op, Reduce};
use crate::rank::{Name, Ranks};

mod expr;

use expr::Lower;

/// The names `e` gives as integer class labels to a loss that takes them
/// (`cross_entropy(out, labels)`) or picks by (`logprobs[range(n), labels]`), wherever in
/// `e` it does.
pub fn label_names(e: &Expr) -> Vec<Ident> {
    let mut names = Vec::new();
    e.visit(&mut |e| {
        if let ExprKind::Pick(_, labels, _) = &e.kind {
            if let ExprKind::Name(n) = &labels.kind {
                names.push(n.clone());
            }
        }
        if let ExprKind::Call(f, args) = &e.kind {
            let labels = loss::named(&f.to_string()).is_some_and(|l| l.def().labels);
            if let (true, Some(ExprKind::Name(n))) = (labels, args.get(1).map(|a| &a.kind)) {
                names.push(n.clone());
            }
        }
    });
    names
}

/// The names `e` indexes rows by (`C[X]`): integer indices, not tensors of the model's
/// type.
pub fn index_names(e: &Expr) -> Vec<Ident> {
    let mut names = Vec::new();
    e.visit(&mut |e| {
        if let ExprKind::Gather(_, indices) = &e.kind {
            if let ExprKind::Name(n) = &indices.kind {
                names.push(n.clone());
            }
        }
    });
    names
}

/// A model as a graph, with the nodes the generated code names.
pub struct Lowered {
    pub graph: Graph,
    /// `let` bindings in order.
    pub lets: Vec<(Ident, NodeId)>,
    /// The outputs, by name: `out` for the one output, or each part of a tuple named by
    /// its `let` (`o1`), or `out1`, `out2`, … where it is an expression.
    pub outputs: Vec<(String, NodeId)>,
    /// Whether the output is a tuple.
    pub tuple: bool,
    pub loss: NodeId,
}

impl Lowered {
    /// The outputs that are not `let`s, which the trace names after the output.
    pub fn unnamed_outputs(&self) -> impl Iterator<Item = &(String, NodeId)> {
        self.outputs
            .iter()
            .filter(|(name, _)| !self.lets.iter().any(|(l, _)| l == name))
    }
}

/// The names of the values the trace holds, each with its gradient: every `let`, without
/// the `r#` of a raw identifier, then the outputs that are not `let`s.
pub fn trace_names(model: &Model) -> Vec<String> {
    let lets: Vec<String> = model
        .lets
        .iter()
        .map(|l| l.name.to_string().trim_start_matches("r#").to_string())
        .collect();
    let mut names = lets.clone();
    for o in output_names(model) {
        if !lets.contains(&o) && !names.contains(&o) {
            names.push(o);
        }
    }
    names
}

/// The name of each part of a model's output: `out`, or for a tuple a part's `let` name or
/// `out1`, `out2`, … by position.
pub fn output_names(model: &Model) -> Vec<String> {
    if !model.tuple {
        return model.output.iter().map(|_| "out".to_string()).collect();
    }
    let lets: Vec<String> = model.lets.iter().map(|l| l.name.to_string()).collect();
    model
        .output
        .iter()
        .enumerate()
        .map(|(i, e)| match &e.kind {
            ExprKind::Name(n) if lets.contains(&n.to_string()) => n.to_string(),
            _ => format!("out{}", i + 1),
        })
        .collect()
}

/// The model as a graph; `stable` turns the numerical stability rewrites on.
pub fn lower(model: &Model, stable: bool) -> Result<Lowered> {
    let mut errors = Errors::default();
    let (output, loss) = match (model.output.as_slice(), &model.loss) {
        (o @ [_, ..], Some(l)) => (o, l),
        (output, loss) => {
            if output.is_empty() && loss.is_none() && model.lets.is_empty() {
                errors.push(Error::new(
                    model.span,
                    "the model is empty; write a network such as `relu(x @ w1 + b1) @ w2 + b2; loss mse`",
                ));
            } else {
                if output.is_empty() {
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
    let loss_expr = loss_expression(loss, model.tuple, &targets, &let_names, &mut errors);
    let loss_expr = errors.take(loss_expr);
    forms(model, &let_names, loss_expr.as_ref(), &mut errors);
    // The errors so far make rank inference meaningless; report them all at once.
    errors.finish()?;
    let Some(loss_expr) = loss_expr else {
        return Err(Error::new(model.span, "the model has no loss"));
    };

    // Every name, in the order it first appears; declared ones first.
    // Named dims used as numbers (`1/(n-1)`) are not tensors.
    let dim_names = dims_as_numbers(model);
    let mut order = declared_and_body_names(model);
    order.retain(|(n, _)| !dim_names.contains_key(n));
    let in_body = order.len();
    // The names the `let`s and the output use, for the span of a misused one.
    let body = order[model.decls.len()..].to_vec();
    let mut in_loss = Vec::new();
    names_in(&loss_expr, &mut in_loss);
    in_loss.retain(|(n, _)| !dim_names.contains_key(n));
    order.extend(in_loss);
    undefined_in_loss(
        &output_names(model),
        &order[..in_body],
        &order[in_body..],
        &let_names,
        &decls,
        &mut errors,
    );
    let order = tensors_among(model, order);

    let bound = model
        .lets
        .iter()
        .map(|l| (l.name.to_string(), l.name.span()));
    let mut seen = std::collections::HashSet::new();
    let dims = model
        .decls
        .iter()
        .flat_map(|d| d.shape.iter().flatten())
        .filter_map(|d| match d {
            DimSpec::Sym(s) => Some((s.to_string(), s.span())),
            DimSpec::Num(_) => None,
        })
        .filter(|(n, _)| seen.insert(n.clone()));
    for (n, span) in order.iter().cloned().chain(bound).chain(dims) {
        if n.starts_with("__") {
            errors.push(Error::new(
                span,
                format!("`{n}` is reserved: names starting with `__` are the generated code's"),
            ));
        }
        errors.take(bindable(&n, span));
    }
    if let Some(name) = &model.name {
        errors.take(model_name(name));
    }
    errors.finish()?;
    // The names that index rows (`C[X]`): integers, inputs unless declared otherwise.
    let indices: Vec<String> = model
        .lets
        .iter()
        .map(|l| &l.value)
        .chain(&model.output)
        .chain([&loss_expr])
        .flat_map(index_names)
        .map(|n| n.to_string())
        .collect();
    let mut names: HashMap<String, Name> = HashMap::new();
    for (n, _) in &order {
        let (role, rank) = match decls.get(n) {
            Some(d) => (d.role, d.shape.as_ref().map(Vec::len)),
            None if indices.contains(n) => (Role::Input, None),
            None => (default_role(n), None),
        };
        names.insert(n.clone(), Name::Var(role, rank));
    }
    let out_names = output_names(model);
    for n in let_names.iter().chain(&out_names) {
        names.insert(n.clone(), Name::Bound(None));
    }
    for n in dim_names.keys() {
        names.insert(n.clone(), Name::Bound(Some(0)));
    }
    // The names `cross_entropy` and `nll` take as labels, or that pick rows: integers, not
    // tensors of the model's type.
    let labels: Vec<String> = label_names(&loss_expr)
        .iter()
        .map(ToString::to_string)
        .collect();
    let mut ranks = Ranks::new(names);
    let mut pass = |r: &mut Ranks| {
        for l in &model.lets {
            let name = l.name.to_string();
            let rank = r.walk(&l.value, r.expected(&name));
            r.bind(&name, rank);
        }
        for (part, name) in output.iter().zip(&out_names) {
            let rank = r.walk(part, r.expected(name));
            r.bind(name, rank);
        }
        r.walk(&loss_expr, Some(0));
    };
    ranks.fixpoint(&mut pass);
    ranks.default_indices(&indices);
    ranks.fixpoint(&mut pass);
    if elementwise_only(model, &loss_expr, &ranks) {
        ranks.default_elementwise();
        ranks.fixpoint(&mut pass);
    }
    let undeclared = ranks.needing_declarations(&order, &mut pass);

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
            // Only the names that stay unknown once the others are declared.
            if undeclared.contains(n) {
                let message = match role {
                    Role::Input | Role::Target => {
                        let role = if role == Role::Input { "input" } else { "target" };
                        format!("cannot infer the rank of `{n}`; declare it, as in `{role} {n}: [n, d];` for a batch of rows, or `{role} {n}: [n];` for a number per example")
                    }
                    Role::Param => format!("cannot infer the rank of `{n}`; declare it, as in `param {n}: [];` for a scalar or `param {n}: [d];` for a vector"),
                };
                errors.push(Error::new(*span, message));
            }
            continue;
        };
        let is_labels = labels.contains(n);
        let is_indices = indices.contains(n);
        // Labels are one per row, whatever else misuses them (that use is reported).
        let rank = if is_labels { 1 } else { rank };
        let shape = lower.leaf_shape(decls.get(n).and_then(|d| d.shape.as_deref()), rank);
        if is_labels && role != Role::Target {
            errors.push(Error::new(
                *span,
                format!("`{n}` holds class labels, so it must be a target; declare it with `target {n};`"),
            ));
        } else if is_indices && role == Role::Param {
            errors.push(Error::new(
                *span,
                format!("`{n}` holds integer indices, so it must be an input; declare it with `input {n}: [n, k];`"),
            ));
        }
        let node = lower
            .graph
            .var(n.clone(), role, is_labels || is_indices, *span, shape);
        lower.env.insert(n.clone(), node);
    }
    errors.finish()?;
    // A named dim is the length of the first declared axis that names it.
    for (n, (tensor, axis)) in &dim_names {
        if let Some(&node) = lower.env.get(tensor) {
            let axis = Some(*axis as u8);
            let length = lower.graph.apply(Op::Reduce(Reduce::Count(axis)), &[node]);
            let length = length.map_err(|_| Error::new(model.span, "a dim's length"))?;
            lower.env.insert(n.clone(), length);
        }
    }

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
    let mut outputs = Vec::new();
    for (part, name) in output.iter().zip(&out_names) {
        if let Some(node) = attempt(&mut lower, part, name, &mut errors) {
            if !lower.env.contains_key(name) {
                lower.env.insert(name.clone(), node);
                lower.graph.named.push(node);
            }
            lower.no_targets_in_output(node, part, &body, &mut errors);
            outputs.push((name.clone(), node));
        }
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
    match loss_node {
        Some(loss) if outputs.len() == output.len() => Ok(Lowered {
            graph: lower.graph,
            lets,
            outputs,
            tuple: model.tuple,
            loss,
        }),
        _ => Err(Error::new(model.span, "the model could not be lowered")),
    }
}

/// Whether nothing in the model is a matrix: no product, transpose, column, reduction
/// along an axis or lane op, and no name of rank 2 or more. Then a name nothing gives a
/// rank follows the batch convention ([`Ranks::default_elementwise`]).
fn elementwise_only(model: &Model, loss: &Expr, ranks: &Ranks) -> bool {
    let mut matrix = false;
    let bodies = model.lets.iter().map(|l| &l.value).chain(&model.output);
    for e in bodies.chain(std::iter::once(loss)) {
        e.visit(&mut |e| {
            matrix |= match &e.kind {
                ExprKind::Binary(BinOp::Matmul, ..)
                | ExprKind::Transpose(_)
                | ExprKind::Column(..)
                | ExprKind::Pick(..)
                | ExprKind::Reduce(_, _, Some(_), _)
                | ExprKind::Reduce(_, _, _, true) => true,
                ExprKind::Call(f, _) => {
                    let name = f.to_string();
                    lanes_named(&name) || loss::named(&name).is_some_and(|l| l.def().labels)
                }
                _ => false,
            };
        });
    }
    let ranked = ranks
        .names
        .values()
        .any(|n| matches!(n, Name::Var(_, Some(r)) | Name::Bound(Some(r)) if *r >= 2));
    !matrix && !ranked
}

/// Whether `name` is a lane op (`softmax`), which works along an axis of a matrix.
fn lanes_named(name: &str) -> bool {
    matches!(
        crate::ops::callable(name),
        Some(crate::ops::Callable::Lanes(_))
    )
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
    tuple: bool,
    targets: &[&Decl],
    lets: &[String],
    errors: &mut Errors,
) -> Result<Expr> {
    match loss {
        Loss::Expr(e) => Ok(e.clone()),
        // `loss out` or `loss l` for a `let l`: a name, not a named loss.
        Loss::Named(name) if name == "out" || lets.contains(&name.to_string()) => {
            Ok(Expr::new(ExprKind::Name(name.clone()), name.span()))
        }
        Loss::Named(name) if tuple && loss::named(&name.to_string()).is_some() => Err(Error::new(
            name.span(),
            format!("the output is a tuple; name the parts the loss compares, as in `loss {name}(o1, y)`"),
        )),
        Loss::Named(name) => {
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
            let args = vec![
                Expr::new(ExprKind::Name(Ident::new("out", span)), span),
                Expr::new(ExprKind::Name(target), span),
            ];
            Ok(Expr::new(ExprKind::Call(name.clone(), args), span))
        }
    }
}

/// The dims the declarations name (`n` of `input x: [n, 3]`) that are not also a tensor,
/// a `let` or an output: usable as numbers in expressions, as the length of the first
/// declared axis that names them (tensor name, axis).
pub fn dims_as_numbers(model: &Model) -> BTreeMap<String, (String, usize)> {
    let mut taken: std::collections::HashSet<String> =
        model.decls.iter().map(|d| d.name.to_string()).collect();
    taken.extend(model.lets.iter().map(|l| l.name.to_string()));
    taken.extend(output_names(model));
    let mut dims = BTreeMap::new();
    for d in &model.decls {
        for (axis, dim) in d.shape.iter().flatten().enumerate() {
            if let DimSpec::Sym(label) = dim {
                let label = label.to_string();
                if !taken.contains(&label) {
                    dims.entry(label)
                        .or_insert_with(|| (d.name.to_string(), axis));
                }
            }
        }
    }
    dims
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

/// The tensors `model` takes among `names`: each name once, where it first appears,
/// without the `let`s and the outputs.
pub fn tensors_among(model: &Model, mut names: Vec<(String, Span)>) -> Vec<(String, Span)> {
    let mut bound: std::collections::HashSet<String> =
        model.lets.iter().map(|l| l.name.to_string()).collect();
    bound.extend(output_names(model));
    let mut seen = std::collections::HashSet::new();
    names.retain(|(n, _)| seen.insert(n.clone()) && !bound.contains(n));
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
