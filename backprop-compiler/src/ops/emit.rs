//! What the families' code is made of: the values generated code holds (a scalar of the
//! model's element type `A`, or an array, as a binding or a view), the forms an op's code
//! takes (a scalar, a new array, an array written into a buffer, a view of its argument),
//! and scalar expressions that carry their precedence, so that a fused chain is written
//! with the parentheses it needs and no others.

use proc_macro2::{Literal, TokenStream};
use quote::quote;

/// The name through which generated code reaches the runtime, `::backprop::__private`,
/// as the generated code imports it; no model can take it.
pub const RUNTIME: &str = "rt";

/// [`RUNTIME`] as a path.
pub fn rt() -> TokenStream {
    let rt = proc_macro2::Ident::new(RUNTIME, proc_macro2::Span::call_site());
    quote!(#rt)
}

/// A count or an index, written without a suffix: `2`, not `2usize`.
pub fn num(n: usize) -> Literal {
    Literal::usize_unsuffixed(n)
}

/// A constant of the model's element type: `A::cst(0.5)`.
pub fn constant(v: f64) -> TokenStream {
    let v = float(v);
    quote!(A::cst(#v))
}

/// An `f64` as Rust writes it: `0.5`, or `f64::INFINITY` and the others that have no
/// literal (a folded constant can overflow).
pub fn float(v: f64) -> TokenStream {
    match v {
        v if v.is_finite() => {
            let lit = Literal::f64_unsuffixed(v);
            quote!(#lit)
        }
        v if v == f64::INFINITY => quote!(::core::primitive::f64::INFINITY),
        v if v == f64::NEG_INFINITY => quote!(::core::primitive::f64::NEG_INFINITY),
        _ => quote!(::core::primitive::f64::NAN),
    }
}

/// A value an op reads.
#[derive(Clone)]
pub enum Value {
    /// A scalar of type `A`: a local, a constant, `s[()]`.
    Scalar(TokenStream),
    /// An array.
    Array(Array),
}

/// An array as generated code reaches it.
#[derive(Clone)]
pub struct Array {
    /// A binding or field that holds it (`z1`, `ws.z1`, `w2`), whose methods borrow it.
    pub place: Option<TokenStream>,
    /// An expression of an `ArrayView` of it: `z1.view()`, `x`, `w2.t()`.
    pub view: TokenStream,
}

impl Value {
    /// The value as an array view: a scalar as a 0-d view of it.
    pub fn view(&self) -> TokenStream {
        match self {
            Value::Array(a) => a.view.clone(),
            Value::Scalar(s) => {
                let rt = rt();
                quote!(#rt::ndarray::aview0(&#s))
            }
        }
    }

    /// The value as a scalar (an array's only element).
    pub fn scalar(&self) -> TokenStream {
        match self {
            Value::Scalar(s) => s.clone(),
            Value::Array(a) => {
                let v = &a.view;
                quote!(#v[()])
            }
        }
    }
}

/// The form of an op's code that the planner asks for.
pub enum Form {
    /// A scalar of type `A`, for a result of rank 0.
    Scalar,
    /// An expression giving a new array.
    Alloc,
    /// A statement writing the result into the mutable view `out`.
    Into(TokenStream),
    /// An expression giving a view of the first argument, without a copy.
    View,
}

/// What an op's code is written from: its arguments' values and ranks, and, computed when
/// asked for, the lengths of its result's axes and of its arguments'.
pub struct Cx<'a> {
    pub args: Vec<Value>,
    /// The ranks of the arguments.
    pub ranks: Vec<usize>,
    pub(crate) shape: &'a dyn Fn() -> TokenStream,
    pub(crate) dims: &'a dyn Fn(usize) -> Vec<TokenStream>,
}

impl Cx<'_> {
    /// Argument `i` as a view.
    pub fn view(&self, i: usize) -> TokenStream {
        self.args.get(i).map(Value::view).unwrap_or_default()
    }

    pub fn rank(&self, i: usize) -> usize {
        self.ranks.get(i).copied().unwrap_or(0)
    }

    /// The result's shape, as a `[usize; N]` expression (`[dims[0], dims[2]]`), for the
    /// kernels that cannot tell it from their arguments.
    pub fn shape(&self) -> TokenStream {
        (self.shape)()
    }

    /// The lengths of argument `i`'s axes, as expressions, for ops that read only a shape.
    pub fn arg_dims(&self, i: usize) -> Vec<TokenStream> {
        (self.dims)(i)
    }
}

/// A scalar expression and how tightly it binds: 1 for `a + b`, 2 for `a * b`, 3 for
/// `-a`, 4 for an atom (a name, a call, a constant).
#[derive(Clone)]
pub struct Operand {
    pub tokens: TokenStream,
    pub prec: u8,
    /// For `-a`, `a`: a sum with it is written as a difference.
    pub negation_of: Option<Box<Operand>>,
}

impl Operand {
    pub fn atom(tokens: TokenStream) -> Self {
        Self::new(tokens, 4)
    }

    pub fn new(tokens: TokenStream, prec: u8) -> Self {
        Self {
            tokens,
            prec,
            negation_of: None,
        }
    }

    /// The tokens, parenthesized where they bind looser than `min`.
    pub fn at(&self, min: u8) -> TokenStream {
        let t = &self.tokens;
        if self.prec < min {
            quote!((#t))
        } else {
            t.clone()
        }
    }
}
