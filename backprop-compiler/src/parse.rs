//! `syn` parsing of the DSL: statements, declarations and expressions with Python's
//! precedence (postfix > `**` > unary `-` > `* / @` > `+ -`). Grammar errors stop at the
//! first problem.

use syn::parse::{Parse, ParseStream};
use syn::{bracketed, parenthesized, token, Attribute, Ident, Lit, Result, Token, Visibility};

use crate::ast::{BinOp, Decl, DimSpec, Expr, ExprKind, Let, Loss, Model, Reduce, Role};

mod kw {
    syn::custom_keyword!(input);
    syn::custom_keyword!(target);
    syn::custom_keyword!(param);
    syn::custom_keyword!(loss);
}

impl Parse for Model {
    fn parse(input: ParseStream) -> Result<Self> {
        let mut model = Model {
            attrs: Vec::new(),
            vis: Visibility::Inherited,
            name: None,
            decls: Vec::new(),
            lets: Vec::new(),
            output: Vec::new(),
            tuple: false,
            loss: None,
            span: input.span(),
        };
        while !input.is_empty() {
            statement(input, &mut model)?;
        }
        Ok(model)
    }
}

fn statement(input: ParseStream, model: &mut Model) -> Result<()> {
    if input.peek(Token![#]) || input.peek(Token![pub]) || input.peek(Token![struct]) {
        let attrs = input.call(Attribute::parse_outer)?;
        let vis: Visibility = input.parse()?;
        let kw: Token![struct] = input.parse()?;
        if model.name.is_some() {
            return Err(syn::Error::new(kw.span, "the model is named twice"));
        }
        model.name = Some(input.parse()?);
        model.attrs = attrs;
        model.vis = vis;
        return end(input);
    }
    let role = if input.peek(kw::input) {
        Some((input.parse::<kw::input>()?.span, Role::Input))
    } else if input.peek(kw::target) {
        Some((input.parse::<kw::target>()?.span, Role::Target))
    } else if input.peek(kw::param) {
        Some((input.parse::<kw::param>()?.span, Role::Param))
    } else {
        None
    };
    if let Some((_, role)) = role {
        // `param w1, w2, w3: [];`: a shape is shared by the names without one before it.
        let mut unshaped = Vec::new();
        loop {
            let d = decl(input, role)?;
            match &d.shape {
                None => unshaped.push(model.decls.len()),
                Some(shape) => {
                    for i in unshaped.drain(..) {
                        model.decls[i].shape = Some(shape.clone());
                    }
                }
            }
            model.decls.push(d);
            if input.peek(Token![,]) {
                input.parse::<Token![,]>()?;
            } else {
                break;
            }
        }
        return end(input);
    }
    if input.peek(Token![let]) {
        input.parse::<Token![let]>()?;
        let name: Ident = input.parse()?;
        input.parse::<Token![=]>()?;
        let value = expr(input)?;
        model.lets.push(Let { name, value });
        return end(input);
    }
    if input.peek(kw::loss) {
        let kw: kw::loss = input.parse()?;
        if model.loss.is_some() {
            return Err(syn::Error::new(kw.span, "the model has two losses"));
        }
        model.loss = Some(loss(input)?);
        return end(input);
    }
    let (parts, tuple) = match tuple(input)? {
        Some(parts) => (parts, true),
        None => (vec![expr(input)?], false),
    };
    if let Some(first) = model.output.first() {
        let mut err = syn::Error::new(
            parts[0].span,
            "the model has two output expressions; bind the first with `let`, or give both as a tuple, as in `(o1, o2);`",
        );
        err.combine(syn::Error::new(first.span, "the first output is here"));
        return Err(err);
    }
    model.output = parts;
    model.tuple = tuple;
    end(input)
}

/// `(o1, o2)` as a whole statement: the parts of a tuple of outputs. `None` when the
/// statement is not a parenthesized list with a comma, which `(a + b) * c` is not.
fn tuple(input: ParseStream) -> Result<Option<Vec<Expr>>> {
    if !input.peek(token::Paren) {
        return Ok(None);
    }
    let ahead = input.fork();
    let content;
    parenthesized!(content in ahead);
    let Ok(parts) = content.parse_terminated(expr, Token![,]) else {
        return Ok(None);
    };
    if !parts.trailing_punct() && parts.len() < 2 || !(ahead.is_empty() || ahead.peek(Token![;])) {
        return Ok(None);
    }
    let content;
    parenthesized!(content in input);
    let parts = content.parse_terminated(expr, Token![,])?;
    Ok(Some(parts.into_iter().collect()))
}

/// A statement ends with `;`, or with the end of the input.
fn end(input: ParseStream) -> Result<()> {
    if input.is_empty() {
        Ok(())
    } else {
        input.parse::<Token![;]>().map(drop)
    }
}

fn decl(input: ParseStream, role: Role) -> Result<Decl> {
    let name: Ident = input.parse()?;
    if input.peek(token::Bracket) {
        return Err(input.error(format!(
            "expected `:` before the shape of `{name}`, as in `{name}: [n, 3]`"
        )));
    }
    let shape = if input.peek(Token![:]) {
        input.parse::<Token![:]>()?;
        let content;
        bracketed!(content in input);
        let mut dims = Vec::new();
        while !content.is_empty() {
            let look = content.lookahead1();
            if look.peek(Ident) {
                dims.push(DimSpec::Sym(content.parse()?));
            } else if look.peek(syn::LitInt) {
                let lit: syn::LitInt = content.parse()?;
                dims.push(DimSpec::Num(lit.base10_parse()?));
            } else {
                return Err(look.error());
            }
            if !content.is_empty() {
                content.parse::<Token![,]>()?;
            }
        }
        Some(dims)
    } else {
        None
    };
    Ok(Decl { role, name, shape })
}

/// `loss mse` (a named loss of the output and the target), `loss l` for a bound name, or
/// any expression, in which the named losses are functions: `loss mse(out, y) + 0.01 *
/// (w * w).sum()`.
fn loss(input: ParseStream) -> Result<Loss> {
    let ahead = input.fork();
    if let Ok(name) = ahead.parse::<Ident>() {
        if ahead.is_empty() || ahead.peek(Token![;]) {
            input.parse::<Ident>()?;
            return Ok(Loss::Named(name));
        }
    }
    Ok(Loss::Expr(expr(input)?))
}

pub fn expr(input: ParseStream) -> Result<Expr> {
    let _nested = Nested::enter(input)?;
    crate::deep(|| binary(input, 1))
}

/// How deep expressions may nest (parentheses, calls, signs): far past any network's; the
/// recursions that follow the nesting grow their stack as they go (`crate::deep`).
pub const MAX_DEPTH: usize = 8192;

std::thread_local! {
    static DEPTH: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

/// One level of nesting, counted while it is parsed.
struct Nested;

impl Nested {
    fn enter(input: ParseStream) -> Result<Self> {
        let depth = DEPTH.get() + 1;
        if depth > MAX_DEPTH {
            return Err(input.error(format!(
                "this expression nests more than {MAX_DEPTH} deep; \
                 name an inner part with `let` to nest less"
            )));
        }
        DEPTH.set(depth);
        Ok(Nested)
    }
}

impl Drop for Nested {
    fn drop(&mut self) {
        DEPTH.set(DEPTH.get().saturating_sub(1));
    }
}

fn binary(input: ParseStream, min: u8) -> Result<Expr> {
    let mut lhs = unary(input)?;
    while let Some((op, prec)) = peek_binop(input) {
        if prec < min {
            break;
        }
        let span = input.span();
        match op {
            BinOp::Add => drop(input.parse::<Token![+]>()?),
            BinOp::Sub => drop(input.parse::<Token![-]>()?),
            BinOp::Mul => drop(input.parse::<Token![*]>()?),
            BinOp::Div => drop(input.parse::<Token![/]>()?),
            BinOp::Matmul => drop(input.parse::<Token![@]>()?),
        }
        let rhs = binary(input, prec + 1)?;
        lhs = Expr::new(ExprKind::Binary(op, Box::new(lhs), Box::new(rhs)), span);
    }
    Ok(lhs)
}

fn peek_binop(input: ParseStream) -> Option<(BinOp, u8)> {
    if input.peek(Token![+]) {
        Some((BinOp::Add, 1))
    } else if input.peek(Token![-]) {
        Some((BinOp::Sub, 1))
    } else if input.peek(Token![*]) && !input.peek2(Token![*]) {
        Some((BinOp::Mul, 2))
    } else if input.peek(Token![/]) {
        Some((BinOp::Div, 2))
    } else if input.peek(Token![@]) {
        Some((BinOp::Matmul, 2))
    } else {
        None
    }
}

fn unary(input: ParseStream) -> Result<Expr> {
    if input.peek(Token![-]) {
        let _nested = Nested::enter(input)?;
        let minus: Token![-] = input.parse()?;
        let operand = crate::deep(|| unary(input))?;
        return Ok(Expr::new(ExprKind::Neg(Box::new(operand)), minus.span));
    }
    power(input)
}

/// `a ** k`, binding tighter than unary minus on its left as in Python (`-x**2` is
/// `-(x**2)`); the exponent is a number.
fn power(input: ParseStream) -> Result<Expr> {
    let base = postfix(input)?;
    if input.peek(Token![*]) && input.peek2(Token![*]) {
        let star: Token![*] = input.parse()?;
        input.parse::<Token![*]>()?;
        let exponent = unary(input)?;
        let k = number(&exponent, "an exponent")?;
        return Ok(Expr::new(ExprKind::Pow(Box::new(base), k), star.span));
    }
    Ok(base)
}

fn postfix(input: ParseStream) -> Result<Expr> {
    let e = primary(input)?;
    postfix_rest(input, e)
}

fn postfix_rest(input: ParseStream, mut e: Expr) -> Result<Expr> {
    loop {
        if input.peek(Token![.]) {
            input.parse::<Token![.]>()?;
            let method: Ident = input.parse()?;
            e = method_call(input, e, method)?;
        } else if input.peek(token::Bracket) {
            let content;
            let bracket = bracketed!(content in input);
            // `[range(n), labels]`: each row's element at its label.
            if content.peek(Ident) && content.fork().parse::<Ident>().is_ok_and(|i| i == "range") {
                let rows = postfix(&content)?;
                if !matches!(&rows.kind, ExprKind::Call(f, _) if f == "range") {
                    return Err(syn::Error::new(rows.span, "expected `range(n)`, the rows"));
                }
                content.parse::<Token![,]>()?;
                let labels = expr(&content)?;
                if !content.is_empty() {
                    return Err(content.error("expected `]`"));
                }
                let span = bracket.span.join();
                e = Expr::new(ExprKind::Pick(Box::new(e), Box::new(labels), false), span);
                continue;
            }
            // `C[X]`: the rows of `C` at the indices `X`.
            if !content.peek(Token![:]) {
                let indices = expr(&content)?;
                if !content.is_empty() {
                    return Err(content.error(
                        "expected `]`; the indexing supported is rows at indices `C[X]`, a column `[:, k]` and a label per row `[range(n), labels]`",
                    ));
                }
                let span = bracket.span.join();
                e = Expr::new(ExprKind::Gather(Box::new(e), Box::new(indices)), span);
                continue;
            }
            content.parse::<Token![:]>()?;
            content.parse::<Token![,]>()?;
            let lit: syn::LitInt = content.parse()?;
            if !content.is_empty() {
                return Err(
                    content.error("expected `]`; the indexing supported is a column `[:, k]` and a label per row `[range(n), labels]`")
                );
            }
            let k = lit.base10_parse()?;
            e = Expr::new(ExprKind::Column(Box::new(e), k), bracket.span.join());
        } else {
            return Ok(e);
        }
    }
}

fn method_call(input: ParseStream, recv: Expr, method: Ident) -> Result<Expr> {
    let span = method.span();
    let name = method.to_string();
    if name == "T" {
        return Ok(Expr::new(ExprKind::Transpose(Box::new(recv)), span));
    }
    // `x.shape[0]`, a number.
    if name == "shape" {
        let content;
        let bracket = bracketed!(content in input);
        let k: syn::LitInt = content.parse()?;
        if !content.is_empty() {
            return Err(content.error("expected `]`; `.shape[k]` is the length of one axis"));
        }
        let span = span.join(bracket.span.join()).unwrap_or(span);
        return Ok(Expr::new(
            ExprKind::Dim(Box::new(recv), k.base10_parse()?),
            span,
        ));
    }
    // `x.max(1).values`: the values of PyTorch's (values, indices), which `max` gives here.
    if name == "values" && matches!(recv.kind, ExprKind::Reduce(Reduce::Max | Reduce::Min, ..)) {
        return Ok(recv);
    }
    let content;
    parenthesized!(content in input);
    if matches!(
        name.as_str(),
        "sum" | "mean" | "max" | "amax" | "min" | "amin" | "var" | "std"
    ) {
        let (axis, keep, correction) = reduction_args(&content, &name)?;
        let kind = reduce(&name, correction.unwrap_or(1));
        return Ok(Expr::new(
            ExprKind::Reduce(kind, Box::new(recv), axis, keep),
            span,
        ));
    }
    let args: Vec<Expr> = content
        .parse_terminated(expr, Token![,])?
        .into_iter()
        .collect();
    let kind = match (name.as_str(), args.as_slice()) {
        ("t", []) => ExprKind::Transpose(Box::new(recv)),
        ("view" | "reshape", [_, ..]) => ExprKind::Reshape(Box::new(recv), args),
        // `logprobs.gather(1, labels.view(-1, 1))`: each row's element at its label.
        ("gather", [axis, labels]) => match axis.literal() {
            Some(v) if v == 1.0 || v == -1.0 => {
                let labels = column_of(labels.clone());
                ExprKind::Pick(Box::new(recv), Box::new(labels), true)
            }
            _ => {
                return Err(syn::Error::new(
                    axis.span,
                    "`gather` picks along the columns, axis 1: `logprobs.gather(1, labels.view(-1, 1))`",
                ))
            }
        },
        ("pow", [k]) => ExprKind::Pow(Box::new(recv), number(k, "an exponent")?),
        ("t" | "pow" | "view" | "reshape" | "gather", _) => {
            return Err(syn::Error::new(
                span,
                format!("wrong number of arguments to `.{name}()`"),
            ))
        }
        _ => {
            let mut all = vec![recv];
            all.extend(args);
            ExprKind::Call(method, all)
        }
    };
    Ok(Expr::new(kind, span))
}

/// The labels `gather` takes, as a column the way PyTorch needs them:
/// `labels.view(-1, 1)`, `labels.reshape(-1, 1)` and `labels.unsqueeze(1)` are `labels`.
fn column_of(e: Expr) -> Expr {
    let is = |e: &Expr, v: f64| e.literal() == Some(v);
    match e.kind {
        ExprKind::Reshape(inner, lengths) if matches!(lengths.as_slice(), [a, b] if is(a, -1.0) && is(b, 1.0)) => {
            column_of(*inner)
        }
        ExprKind::Call(f, args) if f == "unsqueeze" => match <[Expr; 2]>::try_from(args) {
            Ok([inner, axis]) if is(&axis, 1.0) || is(&axis, -1.0) => column_of(inner),
            Ok(pair) => Expr::new(ExprKind::Call(f, pair.into()), e.span),
            Err(args) => Expr::new(ExprKind::Call(f, args), e.span),
        },
        kind => Expr::new(kind, e.span),
    }
}

/// The arguments of a reduction as PyTorch spells them: an optional axis, positional or
/// `dim=`/`axis=`, then an optional `keepdim=True` (or `keepdims`, which PyTorch also
/// accepts; `False`, or Rust's `true`/`false`), and for `var` and `std` `unbiased=` or
/// `correction=`.
fn reduction_args(input: ParseStream, name: &str) -> Result<(Option<i64>, bool, Option<i64>)> {
    let (mut axis, mut keep, mut correction) = (None, None, None);
    let spread = name == "var" || name == "std";
    while !input.is_empty() {
        if input.peek(Ident) && input.peek2(Token![=]) && !input.peek2(Token![==]) {
            let key: Ident = input.parse()?;
            input.parse::<Token![=]>()?;
            match key.to_string().as_str() {
                "dim" | "axis" if axis.is_none() => axis = Some(axis_number(input)?),
                "keepdim" | "keepdims" if keep.is_none() => keep = Some(boolean(input)?),
                "unbiased" if spread && correction.is_none() => {
                    correction = Some(i64::from(boolean(input)?));
                }
                "correction" if spread && correction.is_none() => {
                    let e = unary(input)?;
                    let c = number(&e, "a correction")?;
                    if c.fract() != 0.0 || c < 0.0 {
                        return Err(syn::Error::new(e.span, "a correction is a whole number"));
                    }
                    correction = Some(c as i64);
                }
                "unbiased" | "correction" if spread => {
                    return Err(syn::Error::new(
                        key.span(),
                        "the correction is given twice (`unbiased=` or `correction=`)",
                    ))
                }
                "dim" | "axis" | "keepdim" | "keepdims" => {
                    return Err(syn::Error::new(key.span(), format!("`{key}` is given twice")))
                }
                _ => {
                    return Err(syn::Error::new(
                        key.span(),
                        format!("unknown argument `{key}`; a reduction takes an axis (`dim=`) and `keepdim=`"),
                    ))
                }
            }
        } else if axis.is_none() && keep.is_none() {
            axis = Some(axis_number(input)?);
        } else {
            return Err(input.error("expected `keepdim=True`; a reduction takes one axis"));
        }
        if input.is_empty() {
            break;
        }
        input.parse::<Token![,]>()?;
    }
    Ok((axis, keep.unwrap_or(false), correction))
}

/// An axis: an integer, negative counting from the last.
fn axis_number(input: ParseStream) -> Result<i64> {
    let e = unary(input)?;
    let a = number(&e, "an axis")?;
    if a.fract() != 0.0 {
        return Err(syn::Error::new(e.span, "an axis is an integer"));
    }
    Ok(a as i64)
}

/// `True` or `False` as Python writes them, `true` or `false` as Rust does.
fn boolean(input: ParseStream) -> Result<bool> {
    if input.peek(syn::LitBool) {
        return Ok(input.parse::<syn::LitBool>()?.value);
    }
    let word: Ident = input.parse()?;
    match word.to_string().as_str() {
        "True" => Ok(true),
        "False" => Ok(false),
        _ => Err(syn::Error::new(word.span(), "expected `True` or `False`")),
    }
}

/// The reduction spelled `name`; `var` and `std` with their correction.
fn reduce(name: &str, correction: i64) -> Reduce {
    match name {
        "sum" => Reduce::Sum,
        "max" | "amax" => Reduce::Max,
        "min" | "amin" => Reduce::Min,
        "var" => Reduce::Var(correction),
        "std" => Reduce::Std(correction),
        _ => Reduce::Mean,
    }
}

fn primary(input: ParseStream) -> Result<Expr> {
    let look = input.lookahead1();
    if look.peek(token::Paren) {
        let content;
        parenthesized!(content in input);
        let inner = expr(&content)?;
        if !content.is_empty() {
            return Err(content.error("expected `)`"));
        }
        Ok(inner)
    } else if look.peek(Ident) {
        let mut name: Ident = input.parse()?;
        // `torch.tanh(h)`, `np.exp(z)`: the function, as the notebooks call it.
        if NAMESPACES.contains(&name.to_string().as_str())
            && input.peek(Token![.])
            && input.peek2(Ident)
        {
            input.parse::<Token![.]>()?;
            name = input.parse()?;
            if !input.peek(token::Paren) {
                return Err(syn::Error::new(
                    name.span(),
                    format!("expected `{name}(...)`, a call"),
                ));
            }
        }
        if input.peek(token::Paren) {
            call_rest(input, name)
        } else {
            let span = name.span();
            Ok(Expr::new(ExprKind::Name(name), span))
        }
    } else if look.peek(Lit) {
        let lit: Lit = input.parse()?;
        let value = match &lit {
            Lit::Int(i) => i.base10_parse::<f64>()?,
            Lit::Float(f) => f.base10_parse::<f64>()?,
            other => {
                return Err(syn::Error::new(
                    other.span(),
                    "expected a number; literals in a model are numeric",
                ))
            }
        };
        if !value.is_finite() {
            return Err(syn::Error::new(
                lit.span(),
                "this number is larger than the largest `f64` (about 1.8e308)",
            ));
        }
        Ok(Expr::new(ExprKind::Lit(value), lit.span()))
    } else {
        Err(look.error())
    }
}

/// The module names a notebook calls functions through, which name no tensor here.
const NAMESPACES: &[&str] = &["torch", "np"];

fn call_rest(input: ParseStream, name: Ident) -> Result<Expr> {
    let content;
    parenthesized!(content in input);
    let args = content.parse_terminated(expr, Token![,])?;
    let span = name.span();
    Ok(Expr::new(
        ExprKind::Call(name, args.into_iter().collect()),
        span,
    ))
}

fn number(e: &Expr, what: &str) -> Result<f64> {
    e.literal()
        .ok_or_else(|| syn::Error::new(e.span, format!("expected a number as {what}")))
}
