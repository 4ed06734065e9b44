//! Semantic checks over the syntax tree, one function per rule, with the errors collected
//! so that every mistake is reported at once: calls and their arity, `let` order, `out`
//! outside the loss, declarations, names used only in the loss.

use std::collections::HashMap;

use proc_macro2::Span;
use syn::{Error, Ident, Result};

use crate::ast::{Decl, Expr, ExprKind, Model, Role};
use crate::lower::{default_role, names_in, output_names, trace_names};
use crate::ops::function::Param;
use crate::ops::norm::Norm;
use crate::ops::{self, lanes, loss, Callable, Func};

/// Names a `let` cannot take: the output's, and those of the trace's own fields.
pub const RESERVED_BINDINGS: &[&str] = &["out", "loss", "grads", "inputs"];

/// The prelude's enum variants: a binding of one of these names is a pattern that matches
/// the variant instead of a new name, so no tensor, `let` or dim can be called so.
const PRELUDE_VARIANTS: &[(&str, &str)] = &[
    ("Some", "Option::Some"),
    ("None", "Option::None"),
    ("Ok", "Result::Ok"),
    ("Err", "Result::Err"),
];

/// The types the generated code names without a path, which a model of the same name
/// would shadow: its element type parameter and the primitive types.
const TYPES_IN_SCOPE: &[&str] = &[
    "A", "bool", "char", "str", "i8", "i16", "i32", "i64", "i128", "isize", "u8", "u16", "u32",
    "u64", "u128", "usize", "f16", "f32", "f64", "f128",
];

/// A tensor's, `let`'s or dim's name that cannot be bound in Rust.
pub fn bindable(name: &str, span: Span) -> Result<()> {
    match PRELUDE_VARIANTS.iter().find(|(n, _)| *n == name) {
        Some((_, variant)) => Err(Error::new(
            span,
            format!(
                "`{name}` is the prelude's `{variant}`, which a binding of that name would match instead of binding; name it otherwise"
            ),
        )),
        None => Ok(()),
    }
}

/// The model's struct name, unless the generated code names a type of that name.
pub fn model_name(name: &Ident) -> Result<()> {
    let text = name.to_string();
    let reason = match text.as_str() {
        "A" => "the element type parameter of the generated types (`Model<A = f32>`)",
        ops::emit::RUNTIME => "the name the generated code gives `backprop`'s runtime",
        n if TYPES_IN_SCOPE.contains(&n) => "a primitive type, which the generated code names",
        _ => return Ok(()),
    };
    Err(Error::new(
        name.span(),
        format!("`{text}` is {reason}; name the model otherwise"),
    ))
}

/// A call, checked against its callable's spelling and arity.
pub enum CallForm<'e> {
    /// A function of one tensor, with its number (0 for a function that takes none).
    Function(Func, &'e Expr, f64),
    /// A lane op of one tensor along an axis (-1, the last, by default).
    Lanes(lanes::Kind, &'e Expr, i64),
    /// A named loss of the output and the target.
    Loss(loss::Named, &'e Expr, &'e Expr),
    /// A normalisation of a tensor, with its gain, bias and `eps`.
    Norm(Norm, [&'e Expr; 3], f64),
}

pub fn call_form<'e>(f: &Ident, args: &'e [Expr]) -> Result<CallForm<'e>> {
    let name = f.to_string();
    let arity = |want: &str| Error::new(f.span(), format!("`{name}` takes {want}"));
    let Some(callable) = ops::callable(&name) else {
        let known = ops::spellings();
        return Err(Error::new(
            f.span(),
            format!(
                "unknown function `{name}`{}; the functions are listed in the documentation of `backprop`",
                suggest(&name, &known)
            ),
        ));
    };
    match callable {
        Callable::Loss(l) => match args {
            [a, b] => Ok(CallForm::Loss(l, a, b)),
            _ => Err(arity("two arguments: the output and the target")),
        },
        Callable::Norm(kind) => match args {
            [x, gain, bias] => Ok(CallForm::Norm(kind, [x, gain, bias], 1e-5)),
            [x, gain, bias, eps] => {
                let eps = eps
                    .literal()
                    .filter(|v| v.is_finite() && *v >= 0.0)
                    .ok_or_else(|| {
                        Error::new(
                            eps.span,
                            format!("the eps of `{name}` is a number, 0 or more"),
                        )
                    })?;
                Ok(CallForm::Norm(kind, [x, gain, bias], eps))
            }
            _ => Err(arity("a tensor, a gain, a bias and an optional eps")),
        },
        Callable::Lanes(kind) => match args {
            [a] => Ok(CallForm::Lanes(kind, a, -1)),
            [a, axis] => {
                let k = axis.literal().filter(|v| v.fract() == 0.0).ok_or_else(|| {
                    Error::new(axis.span, format!("the axis of `{name}` is an integer"))
                })?;
                Ok(CallForm::Lanes(kind, a, k as i64))
            }
            _ => Err(arity("one tensor and an axis")),
        },
        Callable::Function(func) => match (func.def().param, args) {
            (Param::None, [a]) => Ok(CallForm::Function(func, a, 0.0)),
            (Param::None, _) => Err(arity("one argument")),
            (
                Param::Number {
                    default: Some(k), ..
                },
                [a],
            ) => Ok(CallForm::Function(func, a, k)),
            (Param::Number { what, .. }, [a, k]) => {
                let k = k.literal().ok_or_else(|| {
                    Error::new(k.span, format!("the {what} of `{name}` is a number"))
                })?;
                Ok(CallForm::Function(func, a, k))
            }
            (Param::Number { what, default }, _) => Err(arity(&format!(
                "one tensor and {} {what}",
                if default.is_some() {
                    "an optional"
                } else {
                    "a"
                }
            ))),
        },
    }
}

/// The checks that need no ranks, over the whole model: every call's function and arity,
/// every `let` bound before it is used, and `out` only in the loss.
pub fn forms(model: &Model, lets: &[String], loss: Option<&Expr>, errors: &mut Errors) {
    let calls = |e: &Expr, errors: &mut Errors| {
        e.visit(&mut |e| {
            if let ExprKind::Call(f, args) = &e.kind {
                errors.take(call_form(f, args));
            }
        });
    };
    let mut bound: Vec<String> = Vec::new();
    let body = model.lets.iter().map(|l| (&l.value, Some(&l.name)));
    for (e, name) in body.chain(model.output.iter().map(|o| (o, None))) {
        calls(e, errors);
        let mut used = Vec::new();
        names_in(e, &mut used);
        for (n, span) in used {
            if n == "out" {
                let msg = "`out` is the model's output; it can be used only in the loss";
                errors.push(Error::new(span, msg));
            } else if lets.contains(&n) && !bound.contains(&n) {
                errors.push(Error::new(span, format!("`{n}` is used before its `let`")));
            }
        }
        if let Some(name) = name {
            bound.push(name.to_string());
        }
    }
    if let Some(loss) = loss {
        calls(loss, errors);
    }
}

/// A name that appears only in the loss and is not declared is a mistake, not a parameter:
/// nothing the model computes depends on it (`loss mse(out, t)` for a target `y`).
pub fn undefined_in_loss(
    outputs: &[String],
    body: &[(String, Span)],
    loss: &[(String, Span)],
    lets: &[String],
    decls: &HashMap<String, &Decl>,
    errors: &mut Errors,
) {
    let known = |n: &str| {
        outputs.iter().any(|o| o == n)
            || decls.contains_key(n)
            || lets.iter().any(|l| l == n)
            || body.iter().any(|(b, _)| b == n)
    };
    for (n, span) in loss {
        if known(n) || default_role(n) != Role::Param {
            continue;
        }
        if loss::named(n).is_some() {
            // `loss mse + 0.01 * (w * w).sum()`: the bare form is the whole loss.
            let target = decls
                .values()
                .filter(|d| d.role == Role::Target)
                .map(|d| d.name.to_string())
                .min()
                .unwrap_or_else(|| "y".to_string());
            errors.push(Error::new(
                *span,
                format!(
                    "`{n}` alone is a whole loss; in an expression call it with the output and the target, as in `{n}(out, {target})`"
                ),
            ));
            continue;
        }
        // A target is the likeliest meaning, then any other name of the model.
        let mut targets: Vec<&str> = decls
            .iter()
            .filter(|(_, d)| d.role == Role::Target)
            .map(|(k, _)| k.as_str())
            .collect();
        if targets.is_empty() {
            targets.push("y");
        }
        targets.sort_unstable();
        let mut others: Vec<&str> = vec!["out", "x"];
        others.extend(decls.keys().map(String::as_str));
        others.extend(lets.iter().map(String::as_str));
        others.extend(body.iter().map(|(b, _)| b.as_str()));
        others.sort_unstable();
        let nearest = targets
            .iter()
            .map(|k| (edit_distance(n, k), 0, k))
            .chain(others.iter().map(|k| (edit_distance(n, k), 1, k)))
            .filter(|(d, ..)| *d <= 2)
            .min();
        let hint = nearest
            .map(|(.., k)| format!(" (did you mean `{k}`?)"))
            .unwrap_or_default();
        errors.push(Error::new(
            *span,
            format!(
                "cannot find `{n}` in this model{hint}; a name used only in the loss must be declared, as in `target {n};`"
            ),
        ));
    }
}

pub fn declarations<'m>(model: &'m Model, errors: &mut Errors) -> HashMap<String, &'m Decl> {
    let mut decls: HashMap<String, &Decl> = HashMap::new();
    let outputs = output_names(model);
    for d in &model.decls {
        let name = d.name.to_string();
        if name == "out" || outputs.contains(&name) {
            errors.push(Error::new(
                d.name.span(),
                format!(
                    "`{name}` names the model's output in the loss; name this tensor otherwise"
                ),
            ));
        }
        if decls.insert(name.clone(), d).is_some() {
            errors.push(Error::new(
                d.name.span(),
                format!("`{name}` is declared twice"),
            ));
        }
    }
    let mut bound: Vec<String> = Vec::new();
    for l in &model.lets {
        let name = l.name.to_string();
        if RESERVED_BINDINGS.contains(&name.as_str()) {
            errors.push(Error::new(
                l.name.span(),
                format!("`{name}` is reserved; name this binding otherwise"),
            ));
        } else if bound.contains(&name) || decls.contains_key(&name) {
            errors.push(Error::new(
                l.name.span(),
                format!("`{name}` is bound twice"),
            ));
        }
        bound.push(name);
    }
    // The parts of a tuple of outputs that are not `let`s are named `out1`, `out2`, ….
    let lets: Vec<String> = model.lets.iter().map(|l| l.name.to_string()).collect();
    let outputs = output_names(model);
    for l in &model.lets {
        let name = l.name.to_string();
        let unnamed = model.output.iter().zip(&outputs).any(|(e, o)| {
            *o == name && !matches!(&e.kind, ExprKind::Name(n) if lets.contains(&n.to_string()))
        });
        if unnamed {
            errors.push(Error::new(
                l.name.span(),
                format!("`{name}` names a part of the output; name this binding otherwise"),
            ));
        }
    }
    // The trace has a field `d_v` for the gradient of each named value `v`.
    let gradients: HashMap<String, String> = trace_names(model)
        .into_iter()
        .map(|v| (format!("d_{v}"), v))
        .collect();
    for l in &model.lets {
        let name = l.name.to_string();
        let plain = name.trim_start_matches("r#");
        if let Some(of) = gradients.get(plain) {
            errors.push(Error::new(
                l.name.span(),
                format!(
                    "`{name}` is the name of the trace's gradient of `{of}`; name this binding otherwise"
                ),
            ));
        }
    }
    decls
}

/// Collected semantic errors, reported together.
#[derive(Default)]
pub struct Errors(Option<Error>);

impl Errors {
    pub fn push(&mut self, e: Error) {
        match &mut self.0 {
            Some(all) => all.combine(e),
            None => self.0 = Some(e),
        }
    }

    pub fn take<T>(&mut self, r: Result<T>) -> Option<T> {
        r.map_err(|e| self.push(e)).ok()
    }

    pub fn finish(&mut self) -> Result<()> {
        match self.0.take() {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }
}

/// "; did you mean `relu`?" when a known name is within two edits.
pub fn suggest(name: &str, known: &[&str]) -> String {
    known
        .iter()
        .map(|k| (edit_distance(name, k), k))
        .filter(|(d, _)| *d <= 2)
        .min()
        .map(|(_, k)| format!(" (did you mean `{k}`?)"))
        .unwrap_or_default()
}

pub fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, &cb) in b.iter().enumerate() {
            let cur = row[j + 1];
            row[j + 1] = (prev + usize::from(ca != cb)).min(row[j] + 1).min(cur + 1);
            prev = cur;
        }
    }
    row[b.len()]
}
