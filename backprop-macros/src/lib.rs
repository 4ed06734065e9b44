//! The `model!` compiler: a network written as the notebooks write it, differentiated
//! symbolically at compile time into plain Rust over `ndarray`. Use it through the
//! `backprop` crate, which documents the language.
#![forbid(unsafe_code)]

mod ast;
mod codegen;
mod diff;
mod expand;
mod ir;
mod lower;
mod ops;
mod parse;
mod print;
mod rank;
mod simplify;
#[cfg(test)]
mod tests;

/// Compiles a network into a parameter struct with forward and backward methods; see the
/// `backprop` crate.
#[proc_macro]
pub fn model(input: proc_macro::TokenStream) -> proc_macro::TokenStream {
    expand::expand(input.into()).into()
}
