//! The `model!` compiler: a network written as the notebooks write it, differentiated
//! symbolically at compile time into plain Rust over `ndarray`. `backprop-macros` wraps
//! [`expand`] as a procedural macro; use both through the `backprop` crate, which documents
//! the language.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod ast;
mod check;
mod codegen;
mod derivation;
mod diff;
mod expand;
mod ir;
mod lower;
mod ops;
mod parse;
mod print;
mod rank;
mod simplify;
mod stub;
#[cfg(test)]
mod tests;

pub use expand::expand;

/// Runs `f`, one level of a recursion as deep as the model nests, on a fresh stack segment
/// when little of the current one is left: rustc runs the macro on 8 MiB, and an
/// unoptimised build of the compiler (a user's debug build) takes kilobytes a level.
pub(crate) fn deep<R>(f: impl FnOnce() -> R) -> R {
    stacker::maybe_grow(64 << 10, 1 << 20, f)
}

/// The language's elementwise functions as a Markdown table (call, what it computes, its
/// derivative), from the compiler's own registry, for the `backprop` crate's documentation.
///
/// ```
/// let table = backprop_compiler::function_table();
/// assert!(table.contains(r"| `relu(e)` | relu(x) | \[x > 0\] |"));
/// ```
pub fn function_table() -> String {
    ops::function::table()
}

/// The op registry's types, public only so that tests outside the crate can show that a
/// part left out of an entry does not compile: `tests/ui/incomplete-function-entry.rs`
/// (E0063, naming the missing field) and `tests/ui/incomplete-op-family.rs` (E0046,
/// naming the missing concerns). A complete entry compiles, and the checks the type system
/// cannot make find nothing to name:
///
/// ```
/// use backprop_compiler::registry::{Derivative, Domain, Form, Function, Param, Scalar, Symbol};
/// const SOFTSIGN: Function = Function {
///     name: "softsign",
///     param: Param::None,
///     domain: Domain::Real,
///     activation: true,
///     symbol: Symbol::same("softsign"),
///     form: Form::Call,
///     value: Scalar { runtime: "softsign", takes_param: false, f64: |v, _| v / (1.0 + v.abs()) },
///     derivative: Derivative::Own {
///         value: Scalar {
///             runtime: "softsign_grad",
///             takes_param: false,
///             f64: |v, _| 1.0 / (1.0 + v.abs()).powi(2),
///         },
///         form: Form::Call,
///     },
/// };
/// assert!(SOFTSIGN.incomplete().is_empty());
/// ```
#[doc(hidden)]
pub mod registry {
    pub use crate::ir::Symbol;
    pub use crate::ops::function::{Derivative, Domain, Form, Function, Param, Scalar};
    pub use crate::ops::Family;
}
