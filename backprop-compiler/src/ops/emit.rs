//! Forward code: the Rust expression that computes `op(args)` from the arguments' values,
//! through the runtime's kernels. Elementwise ops are written as scalar expressions and
//! mapped; a constant argument is inlined into the scalar expression.

use proc_macro2::{Literal, TokenStream};
use quote::quote;

use crate::ops::lanes::{self, Lanes};
use crate::ops::{Arith, Linalg, Loss, Op, Reduce};

/// An argument as the generated code holds it: a binding (owned array or view), or a
/// constant to inline.
pub struct Arg {
    pub value: TokenStream,
    pub konst: Option<f64>,
    pub rank: usize,
}

/// The path through which generated code reaches the runtime: `::backprop::__private`,
/// under a short name that the generated impl imports (fewer tokens to emit and compile).
pub fn rt() -> TokenStream {
    quote!(__rt)
}

/// A constant of the model's element type.
pub fn constant(v: f64) -> TokenStream {
    let rt = rt();
    let lit = Literal::f64_suffixed(v);
    quote!(<A as #rt::scalar::Real>::cst(#lit))
}

/// The expression for `op(args)`; `leaf` gives the tensors the model takes.
pub fn emit(op: &Op, args: &[Arg], leaf: &dyn Fn(usize) -> TokenStream) -> TokenStream {
    let rt = rt();
    let view = |i: usize| {
        let v = &args[i].value;
        quote!(#v.view())
    };
    let value = |i: usize| args[i].value.clone();
    let axis = |a: Option<u8>| match a {
        Some(k) => {
            let k = usize::from(k);
            quote!(::core::option::Option::Some(#k))
        }
        None => quote!(::core::option::Option::None),
    };
    match *op {
        Op::Var(i) => leaf(i),
        Op::Const(c) => {
            let c = constant(c.get());
            quote!(#rt::kernels::scalar(#c))
        }
        Op::Reduce(Reduce::Count(a)) => {
            let (x, a) = (value(0), axis(a));
            quote!(#rt::kernels::count::<A>(#x.shape(), #a))
        }
        Op::Linalg(Linalg::Matmul) => {
            let (a, b) = (view(0), view(1));
            let kernel = match (args[0].rank, args[1].rank) {
                (2, 2) => quote!(matmul),
                (2, _) => quote!(matvec),
                (_, 2) => quote!(vecmat),
                _ => quote!(dot),
            };
            quote!(#rt::kernels::#kernel(#a, #b)?)
        }
        Op::Linalg(Linalg::Outer) => {
            let (a, b) = (view(0), view(1));
            quote!(#rt::kernels::outer(#a, #b))
        }
        Op::Linalg(Linalg::Transpose) => {
            let a = value(0);
            quote!(#a.t())
        }
        Op::Reduce(Reduce::Sum { axis: a, keep }) => {
            let x = view(0);
            match (a, keep) {
                (None, false) => quote!(#rt::kernels::sum(#x)),
                (None, true) => quote!(#rt::kernels::sum_keep(#x)),
                (Some(k), false) => {
                    let k = usize::from(k);
                    quote!(#rt::kernels::sum_axis(#x, #k))
                }
                (Some(k), true) => {
                    let k = usize::from(k);
                    quote!(#rt::kernels::sum_axis_keep(#x, #k))
                }
            }
        }
        Op::Reduce(Reduce::Unsum { axis: a, keep }) => {
            let (g, like, a) = (view(0), value(1), axis(a));
            quote!(#rt::kernels::unsum(#g, #like.raw_dim(), #a, #keep)?)
        }
        Op::Reduce(Reduce::Column(k)) => {
            let a = view(0);
            quote!(#rt::kernels::column(#a, #k)?)
        }
        Op::Reduce(Reduce::ColumnScatter(k)) => {
            let (g, like) = (view(0), value(1));
            quote!(#rt::kernels::column_scatter(#g, #like.raw_dim(), #k)?)
        }
        Op::Loss(Loss::Bce) => {
            let (p, y) = (view(0), view(1));
            quote!(#rt::kernels::scalar(#rt::loss::bce(#p, #y)?))
        }
        Op::Loss(Loss::BceLogits) => {
            let (z, y) = (view(0), view(1));
            quote!(#rt::kernels::scalar(#rt::loss::bce_logits(#z, #y)?))
        }
        Op::Lanes(Lanes { kind, axis }) => {
            let (x, axis) = (view(0), usize::from(axis));
            match kind {
                lanes::Kind::Softmax => quote!(#rt::kernels::softmax(#x, #axis)),
                lanes::Kind::LogSoftmax => quote!(#rt::kernels::log_softmax(#x, #axis)),
            }
        }
        Op::Loss(Loss::CrossEntropy) => {
            let (z, labels) = (view(0), view(1));
            quote!(#rt::kernels::scalar(#rt::loss::cross_entropy(#z, #labels)?))
        }
        Op::Loss(Loss::OneHot) => {
            let (labels, like) = (view(0), value(1));
            quote!(#rt::kernels::one_hot::<A>(#labels, #like.raw_dim())?)
        }
        Op::Arith(_) | Op::Map(_) => elementwise(op, args),
    }
}

/// An elementwise op as one pass: `map` over the one array argument, or `zip` over two.
fn elementwise(op: &Op, args: &[Arg]) -> TokenStream {
    let rt = rt();
    let arrays: Vec<&Arg> = args.iter().filter(|a| a.konst.is_none()).collect();
    let names = [quote!(__p), quote!(__q)];
    let mut next = names.iter();
    let scalars: Vec<TokenStream> = args
        .iter()
        .map(|a| match a.konst {
            Some(c) => constant(c),
            None => next.next().cloned().unwrap_or_default(),
        })
        .collect();
    let body = scalar(op, &scalars);
    match arrays.as_slice() {
        [a] => {
            let a = &a.value;
            quote!(#rt::kernels::map(#a.view(), |__p| #body))
        }
        [a, b] => {
            let (a, b) = (&a.value, &b.value);
            quote!(#rt::kernels::zip(#a.view(), #b.view(), |__p, __q| #body)?)
        }
        // Constant folding leaves no elementwise op without an array argument.
        _ => quote!(#rt::kernels::scalar(#body)),
    }
}

/// The scalar expression of an elementwise op, with PyTorch's conventions.
pub fn scalar(op: &Op, a: &[TokenStream]) -> TokenStream {
    let rt = rt();
    let x = a.first().cloned().unwrap_or_default();
    let y = a.get(1).cloned().unwrap_or_default();
    let s = quote!(#rt::scalar);
    match *op {
        Op::Arith(Arith::Neg) => quote!(-#x),
        Op::Arith(Arith::Pow(k)) if k.get() == 2.0 => quote!(#x * #x),
        Op::Arith(Arith::Pow(k)) => {
            let k = Literal::f64_suffixed(k.get());
            quote!(#s::pow(#x, #k))
        }
        Op::Arith(Arith::Add) => quote!(#x + #y),
        Op::Arith(Arith::Mul) => quote!(#x * #y),
        Op::Map(m) => {
            let (value, _) = m.scalar();
            let f = syn::Ident::new(value.runtime, proc_macro2::Span::call_site());
            if value.takes_param {
                let k = constant(m.k.get());
                quote!(#s::#f(#x, #k))
            } else {
                quote!(#s::#f(#x))
            }
        }
        Op::Var(_) | Op::Const(_) | Op::Linalg(_) | Op::Reduce(_) | Op::Lanes(_) | Op::Loss(_) => {
            quote!(compile_error!("not an elementwise op"))
        }
    }
}
