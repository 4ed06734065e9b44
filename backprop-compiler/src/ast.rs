//! The DSL's syntax tree, as parsed: every node keeps the span of the token it came from.

use std::fmt;

use proc_macro2::Span;
use syn::{Attribute, Ident, Visibility};

/// A whole `model! { ... }` invocation.
pub struct Model {
    pub attrs: Vec<Attribute>,
    pub vis: Visibility,
    pub name: Option<Ident>,
    pub decls: Vec<Decl>,
    pub lets: Vec<Let>,
    /// The output expression, or each part of a tuple of outputs (`(o1, o2);`).
    pub output: Vec<Expr>,
    /// Whether the output is a tuple.
    pub tuple: bool,
    pub loss: Option<Loss>,
    /// The span of the whole invocation's first token, for errors about what is missing.
    pub span: Span,
}

impl Model {
    /// The generated struct's name: the one given, else `Model`.
    pub fn struct_name(&self) -> Ident {
        self.name
            .clone()
            .unwrap_or_else(|| Ident::new("Model", self.span))
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Role {
    Input,
    Target,
    Param,
}

/// `input x: [n, 3]`, `param w` (shape optional).
pub struct Decl {
    pub role: Role,
    pub name: Ident,
    pub shape: Option<Vec<DimSpec>>,
}

#[derive(Clone)]
pub enum DimSpec {
    Num(usize),
    Sym(Ident),
}

/// `let z1 = x @ fc1.T;`
pub struct Let {
    pub name: Ident,
    pub value: Expr,
}

pub enum Loss {
    /// `loss mse`: a named loss of the output and the target, or a bound name (`loss out`).
    Named(Ident),
    /// `loss (out - y).pow(2).mean()`, `loss mse(out, y) + 0.01 * (w * w).sum()`.
    Expr(Expr),
}

#[derive(Clone)]
pub struct Expr {
    pub kind: ExprKind,
    /// The responsible token: the operator, the function name, the identifier.
    pub span: Span,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BinOp {
    Add,
    Sub,
    Mul,
    Div,
    Matmul,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reduce {
    Sum,
    Mean,
    /// `max` and `amax`: PyTorch's values along an axis.
    Max,
    /// `min` and `amin`.
    Min,
    /// `var`, over the count less a correction (PyTorch's `correction`, 1 by default:
    /// Bessel's; `unbiased=False` is 0).
    Var(i64),
    /// `std`, the square root of `var`.
    Std(i64),
}

#[derive(Clone)]
pub enum ExprKind {
    Lit(f64),
    Name(Ident),
    Neg(Box<Expr>),
    Binary(BinOp, Box<Expr>, Box<Expr>),
    /// `relu(e)`, `leaky_relu(e, 0.1)`, and the method forms `e.relu()`.
    Call(Ident, Vec<Expr>),
    Transpose(Box<Expr>),
    Pow(Box<Expr>, f64),
    /// `e.sum()`, `e.mean(1)`, `e.sum(0, keepdim=True)`: the reduction, its axis, and
    /// whether the axis stays with length 1.
    Reduce(Reduce, Box<Expr>, Option<i64>, bool),
    Column(Box<Expr>, usize),
    /// `logprobs[range(n), labels]`: each row's element at its integer label; with `true`,
    /// `logprobs.gather(1, labels)`, a column of them.
    Pick(Box<Expr>, Box<Expr>, bool),
    /// `x.shape[k]`: the length of axis `k`, a number.
    Dim(Box<Expr>, usize),
    /// `C[X]`: the rows of a table at integer indices of any shape, an embedding.
    Gather(Box<Expr>, Box<Expr>),
    /// `e.view(n, -1)`, `e.reshape(...)`: the same elements in another shape, each length
    /// a number, a named dim, `x.shape[k]` or `-1` for the one inferred.
    Reshape(Box<Expr>, Vec<Expr>),
}

impl Expr {
    pub fn new(kind: ExprKind, span: Span) -> Self {
        Self { kind, span }
    }

    /// The numeric value of a literal, possibly negated.
    pub fn literal(&self) -> Option<f64> {
        match &self.kind {
            ExprKind::Lit(v) => Some(*v),
            ExprKind::Neg(e) => e.literal().map(|v| -v),
            _ => None,
        }
    }

    /// Calls `f` on this expression and every subexpression, parents first, operands in
    /// the order they are written.
    pub fn visit(&self, f: &mut impl FnMut(&Expr)) {
        f(self);
        match &self.kind {
            ExprKind::Lit(_) | ExprKind::Name(_) => {}
            ExprKind::Neg(a)
            | ExprKind::Transpose(a)
            | ExprKind::Pow(a, _)
            | ExprKind::Reduce(_, a, _, _)
            | ExprKind::Column(a, _)
            | ExprKind::Dim(a, _) => a.visit(f),
            ExprKind::Binary(_, a, b) | ExprKind::Pick(a, b, _) | ExprKind::Gather(a, b) => {
                a.visit(f);
                b.visit(f);
            }
            ExprKind::Call(_, args) => args.iter().for_each(|a| a.visit(f)),
            ExprKind::Reshape(a, lengths) => {
                a.visit(f);
                lengths.iter().for_each(|l| l.visit(f));
            }
        }
    }

    fn is_leaf(&self) -> bool {
        matches!(self.kind, ExprKind::Lit(_) | ExprKind::Name(_))
    }

    fn precedence(&self) -> u8 {
        match &self.kind {
            ExprKind::Binary(BinOp::Add | BinOp::Sub, ..) => 1,
            ExprKind::Binary(..) => 2,
            ExprKind::Neg(_) => 3,
            ExprKind::Pow(..) => 4,
            _ => 5,
        }
    }
}

impl BinOp {
    pub fn symbol(self) -> &'static str {
        match self {
            BinOp::Add => "+",
            BinOp::Sub => "-",
            BinOp::Mul => "*",
            BinOp::Div => "/",
            BinOp::Matmul => "@",
        }
    }
}

/// The canonical text of an expression, as messages quote it: `relu(x @ w1 + b1) @ w2`.
impl fmt::Display for Expr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.write(f, usize::MAX)
    }
}

/// An expression's text, with its deepest subexpressions shown as `…` when the whole would
/// be longer than a line of a message, so that the site a run-time message names stays
/// short however deep the model nests: `relu(… @ w2 + b2) @ w3`.
pub struct Brief<'a>(pub &'a Expr);

impl fmt::Display for Brief<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const WIDTH: usize = 60;
        let mut text = String::new();
        for depth in (1..=8).rev() {
            text = Depth(self.0, depth).to_string();
            if text.chars().count() <= WIDTH {
                break;
            }
        }
        f.write_str(&text)
    }
}

/// An expression's text down to `depth` levels.
struct Depth<'a>(&'a Expr, usize);

impl fmt::Display for Depth<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.write(f, self.1)
    }
}

impl Expr {
    fn write(&self, f: &mut fmt::Formatter<'_>, depth: usize) -> fmt::Result {
        if depth == 0 && !self.is_leaf() {
            return f.write_str("…");
        }
        let depth = depth.saturating_sub(1);
        let wrap = |f: &mut fmt::Formatter<'_>, e: &Expr, min: u8| {
            // A subexpression shown as `…` needs no parentheses.
            if depth != 0 && e.precedence() < min {
                f.write_str("(")?;
                e.write(f, depth)?;
                f.write_str(")")
            } else {
                e.write(f, depth)
            }
        };
        match &self.kind {
            ExprKind::Lit(v) => write!(f, "{v}"),
            ExprKind::Name(n) => write!(f, "{n}"),
            ExprKind::Neg(e) => {
                f.write_str("-")?;
                wrap(f, e, 3)
            }
            ExprKind::Binary(op, l, r) => {
                let p = self.precedence();
                wrap(f, l, p)?;
                write!(f, " {} ", op.symbol())?;
                wrap(f, r, p + 1)
            }
            ExprKind::Call(name, args) => {
                write!(f, "{name}(")?;
                for (i, a) in args.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    a.write(f, depth)?;
                }
                f.write_str(")")
            }
            ExprKind::Transpose(e) => {
                wrap(f, e, 5)?;
                f.write_str(".T")
            }
            ExprKind::Pow(e, k) => {
                wrap(f, e, 5)?;
                write!(f, ".pow({k})")
            }
            ExprKind::Reduce(kind, e, axis, keep) => {
                wrap(f, e, 5)?;
                let name = match kind {
                    Reduce::Sum => "sum",
                    Reduce::Mean => "mean",
                    Reduce::Max => "max",
                    Reduce::Min => "min",
                    Reduce::Var(_) => "var",
                    Reduce::Std(_) => "std",
                };
                match (axis, keep) {
                    (Some(a), false) => write!(f, ".{name}({a})"),
                    (Some(a), true) => write!(f, ".{name}({a}, keepdim=True)"),
                    (None, false) => write!(f, ".{name}()"),
                    (None, true) => write!(f, ".{name}(keepdim=True)"),
                }
            }
            ExprKind::Column(e, k) => {
                wrap(f, e, 5)?;
                write!(f, "[:, {k}]")
            }
            ExprKind::Pick(e, labels, false) => {
                wrap(f, e, 5)?;
                write!(f, "[range(n), {labels}]")
            }
            ExprKind::Pick(e, labels, true) => {
                wrap(f, e, 5)?;
                write!(f, ".gather(1, {labels})")
            }
            ExprKind::Dim(e, k) => {
                wrap(f, e, 5)?;
                write!(f, ".shape[{k}]")
            }
            ExprKind::Gather(e, indices) => {
                wrap(f, e, 5)?;
                f.write_str("[")?;
                indices.write(f, depth)?;
                f.write_str("]")
            }
            ExprKind::Reshape(e, lengths) => {
                wrap(f, e, 5)?;
                f.write_str(".view(")?;
                for (i, l) in lengths.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    l.write(f, depth)?;
                }
                f.write_str(")")
            }
        }
    }
}
