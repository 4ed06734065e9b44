//! The elementwise functions of one tensor, one entry each in [`FUNCTIONS`]: how the
//! language spells it and the number it may take, where it is defined, whether it is an
//! activation, how the derivation writes it, the runtime's scalar function that computes
//! it (the same function gives its `f64` value here), and its derivative: built from IR
//! nodes (`σ' = σ (1 − σ)`), or a scalar function of its own, written as a function of its
//! own in the derivation (`relu' = [z > 0]`). Every field is required, so an entry that
//! leaves one out does not compile.
//!
//! An op applies an entry, or, with `derivative`, the entry's derivative: [`Map`].

/// `Scalar` for a function of `backprop-scalar`, named once: `scalar!(relu)`, or
/// `scalar!(leaky_relu, param)` for one that takes the function's number.
macro_rules! scalar {
    ($f:ident) => {
        Scalar {
            runtime: stringify!($f),
            takes_param: false,
            f64: |v, _| backprop_scalar::$f(v),
        }
    };
    ($f:ident, param) => {
        Scalar {
            runtime: stringify!($f),
            takes_param: true,
            f64: backprop_scalar::$f,
        }
    };
}

mod table;

pub use table::{ABS, CLAMP_MIN, FUNCTIONS, LOG, SIGMOID, SOFTPLUS};

use proc_macro2::{Ident, Span, TokenStream};
use quote::quote;

use crate::ir::{Dims, Graph, NodeId, Rule, Shape, Symbol};
use crate::ops::emit::{constant, rt, Cx, Form as Code, Operand};
use crate::ops::shape::{arg, Fault};
use crate::ops::vjp::Vjp;
use crate::ops::{Family, Op, Reads, F64};
use crate::print::{Notation, Printer};

/// One function of the language.
pub struct Function {
    /// The language's spelling: `relu(e)`, and the method form `e.relu()`.
    pub name: &'static str,
    /// The number it takes after the tensor, if any: `leaky_relu(e, 0.1)`.
    pub param: Param,
    /// Where it is defined, so that tests know what arguments to give it.
    pub domain: Domain,
    /// Whether it is a layer's activation, whose argument the derivation names `z1`.
    pub activation: bool,
    /// Its symbol in Unicode and LaTeX, which names its derivative's rule (`[σ']`).
    pub symbol: Symbol,
    /// How the derivation writes it applied to an argument.
    pub form: Form,
    /// The runtime's scalar function that computes it.
    pub value: Scalar,
    /// Its derivative with respect to the tensor.
    pub derivative: Derivative,
}

/// The number a function takes after the tensor.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Param {
    /// No number: `relu(e)`.
    None,
    /// A number: `leaky_relu(e, 0.1)`.
    Number {
        /// What the number is, for messages: `slope`.
        what: &'static str,
        /// Its value when the call leaves it out; `None` when it is required.
        default: Option<f64>,
    },
}

/// Where a function is defined.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Domain {
    /// Every real number.
    Real,
    /// The positive numbers (`log`, `sqrt`).
    Positive,
}

/// How the derivation writes a function (or its derivative) applied to `$x`, with its
/// number as `$k`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Form {
    /// Its symbol and the arguments in parentheses: `σ(x)`, `\sigma\left(x\right)`; a
    /// derivative's symbol carries a prime, `silu'(x)`.
    Call,
    /// Templates in code, Unicode and LaTeX: `[$x > 0]`.
    Template {
        /// In the language's notation, for messages and tests: `($x > 0)`.
        code: &'static str,
        /// In Unicode: `[$x > 0]`.
        text: &'static str,
        /// In LaTeX.
        latex: &'static str,
    },
}

/// A function of the runtime's `scalar` module, and the same function in `f64`.
#[derive(Clone, Copy)]
pub struct Scalar {
    /// Its name in the runtime's `scalar` module (`backprop-scalar`).
    pub runtime: &'static str,
    /// Whether it takes the function's number as a second argument.
    pub takes_param: bool,
    /// Its value on an `f64` and the number.
    pub f64: fn(f64, f64) -> f64,
}

/// A function's derivative.
#[derive(Clone, Copy)]
pub enum Derivative {
    /// Built from IR nodes: `f'(a)` from the graph, `a`, the node `f(a)` and the number.
    Ir(fn(&mut Graph, NodeId, NodeId, f64) -> Result<NodeId, Fault>),
    /// A scalar function of its own, written as its own function in the derivation.
    Own {
        /// The runtime's scalar function that computes it.
        value: Scalar,
        /// How the derivation writes it.
        form: Form,
    },
}

/// An entry of [`FUNCTIONS`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Func(u8);

impl Func {
    /// The entry spelled `name`; a name without one stops the build, since this runs at
    /// compile time for the constants above.
    pub(super) const fn named(name: &str) -> Func {
        let mut i = 0;
        while i < FUNCTIONS.len() {
            if eq(FUNCTIONS[i].name.as_bytes(), name.as_bytes()) {
                return Func(i as u8);
            }
            i += 1;
        }
        panic!("no function of that name")
    }

    pub fn def(self) -> &'static Function {
        &FUNCTIONS[usize::from(self.0)]
    }
}

const fn eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let mut i = 0;
    while i < a.len() {
        if a[i] != b[i] {
            return false;
        }
        i += 1;
    }
    true
}

impl Function {
    /// What the entry lacks that the type system cannot see, each part named: a runtime
    /// function that takes the function's number exactly when the entry has one (and the
    /// same for its derivative), symbols in both notations, templates that place the
    /// argument. Empty for a complete entry; a test runs it on every entry.
    pub fn incomplete(&self) -> Vec<String> {
        let mut missing = Vec::new();
        let name = self.name;
        let takes = matches!(self.param, Param::Number { .. });
        let mut scalar = |part: &str, s: Scalar| {
            if s.takes_param != takes {
                let does = if takes { "does not take" } else { "takes" };
                missing.push(format!(
                    "`{name}`: its {part} `{}` {does} the function's number",
                    s.runtime
                ));
            }
            if s.runtime.is_empty() {
                missing.push(format!("`{name}`: its {part} has no runtime name"));
            }
        };
        scalar("value", self.value);
        let mut forms = vec![("form", self.form)];
        if let Derivative::Own { value, form } = self.derivative {
            scalar("derivative", value);
            forms.push(("derivative's form", form));
        }
        if name.is_empty() || self.symbol.text.is_empty() || self.symbol.latex.is_empty() {
            missing.push(format!("`{name}`: a name or a symbol is empty"));
        }
        for (part, form) in forms {
            if let Form::Template { code, text, latex } = form {
                for t in [code, text, latex]
                    .into_iter()
                    .filter(|t| !t.contains("$x"))
                {
                    missing.push(format!("`{name}`: its {part} `{t}` does not place `$x`"));
                }
            }
        }
        missing
    }
}

/// The function spelled `name`, if the language has one.
pub fn named(name: &str) -> Option<Func> {
    (0..FUNCTIONS.len())
        .find(|&i| FUNCTIONS[i].name == name)
        .map(|i| Func(i as u8))
}

/// Every function, in the table's order.
pub fn spelled() -> impl Iterator<Item = Func> {
    (0..FUNCTIONS.len()).map(|i| Func(i as u8))
}

/// A function of the table applied elementwise, with its number `k` (0 when it takes
/// none); with `derivative`, its derivative.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Map {
    pub f: Func,
    pub k: F64,
    pub derivative: bool,
}

impl Map {
    pub fn new(f: Func, k: f64) -> Self {
        Self {
            f,
            k: F64::new(k),
            derivative: false,
        }
    }

    /// The scalar function the op computes, and how the derivation writes it.
    pub fn scalar(&self) -> (Scalar, Form) {
        let def = self.f.def();
        match (self.derivative, def.derivative) {
            (true, Derivative::Own { value, form, .. }) => (value, form),
            // An entry whose derivative is built from IR makes no derivative op.
            (true, Derivative::Ir(_)) | (false, _) => (def.value, def.form),
        }
    }
}

impl Map {
    /// The runtime's scalar function itself (`rt::scalar::relu`), for a map of one array
    /// by a function that takes no number.
    pub fn function_path(&self) -> Option<TokenStream> {
        let (value, _) = self.scalar();
        let rt = rt();
        let f = Ident::new(value.runtime, Span::call_site());
        (!value.takes_param).then(|| quote!(#rt::scalar::#f))
    }
}

impl Family for Map {
    fn shape(&self, args: &[Shape], _: &mut Dims) -> Result<Shape, Fault> {
        Ok(arg(args, 0))
    }

    fn vjp(&self, v: &mut Vjp<'_>) -> Result<(), Fault> {
        if self.derivative {
            return Ok(());
        }
        let (a, out, k) = (v.arg(0), v.node, self.k.get());
        let local = match self.f.def().derivative {
            Derivative::Ir(build) => build(v.graph, a, out, k)?,
            Derivative::Own { .. } => {
                let d = Map {
                    derivative: true,
                    ..*self
                };
                v.graph.apply(Op::Map(d), &[a])?
            }
        };
        v.chain(local, Some(Rule::Derivative(self.f.def().symbol)))
    }

    fn is_elementwise(&self) -> bool {
        true
    }

    /// A derivative op is not differentiated: the compiler differentiates once, and builds
    /// derivative ops only past the loss.
    fn is_differentiable(&self) -> bool {
        !self.derivative
    }

    fn reads(&self) -> Reads {
        Reads::All
    }

    fn is_activation(&self) -> bool {
        self.f.def().activation && !self.derivative
    }

    fn fold(&self, args: &[f64]) -> Option<f64> {
        let (scalar, _) = self.scalar();
        Some((scalar.f64)(*args.first()?, self.k.get()))
    }

    fn print(&self, p: &Printer<'_>, args: &[NodeId]) -> String {
        let def = self.f.def();
        let x = p.show(args.first().copied().unwrap_or(NodeId(0)));
        let k = crate::print::number(self.k.get());
        let (_, form) = self.scalar();
        let prime = if self.derivative { "'" } else { "" };
        let template = match (form, p.notation()) {
            (Form::Template { code, .. }, Notation::Code) => code.to_string(),
            (Form::Template { text, .. }, Notation::Text) => text.to_string(),
            (Form::Template { latex, .. }, Notation::Latex) => latex.to_string(),
            (Form::Call, notation) => {
                let name = match notation {
                    Notation::Code if self.derivative => self.scalar().0.runtime.to_string(),
                    Notation::Code => def.name.to_string(),
                    Notation::Text => format!("{}{prime}", def.symbol.text),
                    Notation::Latex => format!("{}{prime}", symbol_latex(def.symbol.latex)),
                };
                let inner = match def.param {
                    Param::None => "$x".to_string(),
                    Param::Number { .. } => "$x, $k".to_string(),
                };
                match notation {
                    Notation::Latex => format!(r"{name}\left({inner}\right)"),
                    Notation::Code | Notation::Text => format!("{name}({inner})"),
                }
            }
        };
        template.replace("$k", &k).replace("$x", &x)
    }

    fn precedence(&self, _: Notation) -> u8 {
        9
    }

    fn is_view(&self) -> bool {
        false
    }

    /// `rt::scalar::relu(a)`, or with the number, `rt::scalar::leaky_relu(a, A::cst(0.01))`.
    fn expr(&self, args: &[Operand]) -> Option<Operand> {
        let (value, _) = self.scalar();
        let (rt, a) = (rt(), &args.first()?.tokens);
        let f = Ident::new(value.runtime, Span::call_site());
        Some(Operand::atom(if value.takes_param {
            let k = constant(self.k.get());
            quote!(#rt::scalar::#f(#a, #k))
        } else {
            quote!(#rt::scalar::#f(#a))
        }))
    }

    fn code(&self, _: &Cx<'_>, _: &Code) -> Option<TokenStream> {
        // Elementwise ops are written as expressions inside fused passes.
        None
    }

    #[cfg(test)]
    fn eval(&self, args: &[&ndarray::ArrayD<f64>]) -> ndarray::ArrayD<f64> {
        let (scalar, _) = self.scalar();
        let k = self.k.get();
        args[0].mapv(|v| (scalar.f64)(v, k))
    }
}

/// The functions as a Markdown table, for the documentation: each one's call, what it
/// computes, and its derivative, as the derivation writes them.
pub fn table() -> String {
    let mut graph = Graph::new(false);
    let x = graph.var(
        "x".to_string(),
        crate::ast::Role::Input,
        false,
        proc_macro2::Span::call_site(),
        Vec::new(),
    );
    let mut out = String::from("| call | computes | derivative |\n|---|---|---|\n");
    for f in spelled() {
        let def = f.def();
        let (call, k) = match def.param {
            Param::None => (format!("{}(e)", def.name), String::new()),
            Param::Number {
                what,
                default: Some(d),
            } => (
                format!("{}(e, {what} = {})", def.name, crate::print::number(d)),
                what.to_string(),
            ),
            Param::Number {
                what,
                default: None,
            } => (format!("{}(e, {what})", def.name), what.to_string()),
        };
        let written = |form: Form, symbol: String| match form {
            Form::Template { text, .. } => text.replace("$k", &k).replace("$x", "x"),
            Form::Call if k.is_empty() => format!("{symbol}(x)"),
            Form::Call => format!("{symbol}(x, {k})"),
        };
        let mut value = written(def.form, def.symbol.text.to_string());
        if def.domain == Domain::Positive {
            value.push_str(", for x > 0");
        }
        let derivative = match def.derivative {
            Derivative::Own { form, .. } => written(form, format!("{}'", def.symbol.text)),
            Derivative::Ir(build) => {
                let fx = graph.map(f, x);
                let d = fx.and_then(|fx| build(&mut graph, x, fx, 0.0));
                match d {
                    Ok(d) => Printer::with(&graph, Notation::Text).print(d),
                    Err(_) => String::new(),
                }
            }
        };
        // Pipes would end the cell, and brackets would read as links.
        let cell = |s: String| {
            s.replace('|', "\\|")
                .replace('[', "\\[")
                .replace(']', "\\]")
        };
        out.push_str(&format!(
            "| `{call}` | {} | {} |\n",
            cell(value),
            cell(derivative)
        ));
    }
    out
}

/// A LaTeX symbol as a function name: `\sigma` as it is, `relu` upright.
pub fn symbol_latex(symbol: &str) -> String {
    if symbol.starts_with('\\') {
        symbol.to_string()
    } else {
        format!(r"\operatorname{{{}}}", symbol.replace('_', r"\_"))
    }
}

#[cfg(test)]
mod tests;
