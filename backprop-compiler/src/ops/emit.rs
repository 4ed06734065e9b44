//! Forward code: the Rust expression that computes `op(args)` from the arguments' values,
//! through the runtime's kernels. Elementwise ops are written as scalar expressions and
//! mapped; a constant argument is inlined into the scalar expression.

use proc_macro2::{Literal, TokenStream};
use quote::quote;

use crate::ops::Op;

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
        Op::Count(a) => {
            let (x, a) = (value(0), axis(a));
            quote!(#rt::kernels::count::<A>(#x.shape(), #a))
        }
        Op::Matmul => {
            let (a, b) = (view(0), view(1));
            let kernel = match (args[0].rank, args[1].rank) {
                (2, 2) => quote!(matmul),
                (2, _) => quote!(matvec),
                (_, 2) => quote!(vecmat),
                _ => quote!(dot),
            };
            quote!(#rt::kernels::#kernel(#a, #b)?)
        }
        Op::Outer => {
            let (a, b) = (view(0), view(1));
            quote!(#rt::kernels::outer(#a, #b))
        }
        Op::Transpose => {
            let a = value(0);
            quote!(#a.t())
        }
        Op::Sum { axis: a, keep } => {
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
        Op::Unsum { axis: a, keep } => {
            let (g, like, a) = (view(0), value(1), axis(a));
            quote!(#rt::kernels::unsum(#g, #like.raw_dim(), #a, #keep)?)
        }
        Op::Column(k) => {
            let a = view(0);
            quote!(#rt::kernels::column(#a, #k)?)
        }
        Op::ColumnScatter(k) => {
            let (g, like) = (view(0), value(1));
            quote!(#rt::kernels::column_scatter(#g, #like.raw_dim(), #k)?)
        }
        Op::Bce => {
            let (p, y) = (view(0), view(1));
            quote!(#rt::kernels::scalar(#rt::loss::bce(#p, #y)?))
        }
        Op::BceLogits => {
            let (z, y) = (view(0), view(1));
            quote!(#rt::kernels::scalar(#rt::loss::bce_logits(#z, #y)?))
        }
        Op::Softmax(axis) => {
            let (x, axis) = (view(0), usize::from(axis));
            quote!(#rt::kernels::softmax(#x, #axis))
        }
        Op::LogSoftmax(axis) => {
            let (x, axis) = (view(0), usize::from(axis));
            quote!(#rt::kernels::log_softmax(#x, #axis))
        }
        Op::CrossEntropy => {
            let (z, labels) = (view(0), view(1));
            quote!(#rt::kernels::scalar(#rt::loss::cross_entropy(#z, #labels)?))
        }
        Op::OneHot => {
            let (labels, like) = (view(0), value(1));
            quote!(#rt::kernels::one_hot::<A>(#labels, #like.raw_dim())?)
        }
        Op::Neg
        | Op::Pow(_)
        | Op::Exp
        | Op::Log
        | Op::Sqrt
        | Op::Abs
        | Op::Sign
        | Op::Relu
        | Op::Step
        | Op::Sigmoid
        | Op::Tanh
        | Op::Softplus
        | Op::LeakyRelu(_)
        | Op::LeakyStep(_)
        | Op::ClampMin(_)
        | Op::ClampMinStep(_)
        | Op::Add
        | Op::Mul => elementwise(op, args),
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
        Op::Neg => quote!(-#x),
        Op::Pow(k) if k.get() == 2.0 => quote!(#x * #x),
        Op::Pow(k) => {
            let k = Literal::f64_suffixed(k.get());
            quote!(#s::pow(#x, #k))
        }
        Op::Exp => quote!(#s::exp(#x)),
        Op::Log => quote!(#s::ln(#x)),
        Op::Sqrt => quote!(#s::sqrt(#x)),
        Op::Abs => quote!(#s::abs(#x)),
        Op::Sign => quote!(#s::sign(#x)),
        Op::Relu => quote!(#s::relu(#x)),
        Op::Step => quote!(#s::step(#x)),
        Op::Sigmoid => quote!(#s::sigmoid(#x)),
        Op::Tanh => quote!(#s::tanh(#x)),
        Op::Softplus => quote!(#s::softplus(#x)),
        Op::LeakyRelu(k) => {
            let k = constant(k.get());
            quote!(#s::leaky_relu(#x, #k))
        }
        Op::LeakyStep(k) => {
            let k = constant(k.get());
            quote!(#s::leaky_step(#x, #k))
        }
        Op::ClampMin(k) => {
            let k = constant(k.get());
            quote!(#s::clamp_min(#x, #k))
        }
        Op::ClampMinStep(k) => {
            let k = constant(k.get());
            quote!(#s::clamp_min_step(#x, #k))
        }
        Op::Add => quote!(#x + #y),
        Op::Mul => quote!(#x * #y),
        Op::Var(_)
        | Op::Const(_)
        | Op::Count(_)
        | Op::Matmul
        | Op::Outer
        | Op::Transpose
        | Op::Sum { .. }
        | Op::Unsum { .. }
        | Op::Column(_)
        | Op::ColumnScatter(_)
        | Op::Bce
        | Op::BceLogits
        | Op::Softmax(_)
        | Op::LogSoftmax(_)
        | Op::CrossEntropy
        | Op::OneHot => quote!(compile_error!("not an elementwise op")),
    }
}
