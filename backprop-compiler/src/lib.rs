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
