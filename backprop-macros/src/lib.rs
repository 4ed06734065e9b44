//! The `model!` entry point. The compiler lives in `backprop-compiler`, a plain library so
//! that it can be tested and benchmarked outside rustc; use both through the `backprop`
//! crate, which documents the language.
#![forbid(unsafe_code)]

/// Compiles a network into a parameter struct with forward and backward methods; see the
/// `backprop` crate.
#[proc_macro]
pub fn model(input: proc_macro::TokenStream) -> proc_macro::TokenStream {
    backprop_compiler::expand(input.into()).into()
}

/// The language's functions as a Markdown table, for the `backprop` crate's documentation.
#[doc(hidden)]
#[proc_macro]
pub fn __function_table(_: proc_macro::TokenStream) -> proc_macro::TokenStream {
    let table = backprop_compiler::function_table();
    proc_macro::TokenStream::from(proc_macro::TokenTree::Literal(proc_macro::Literal::string(
        &table,
    )))
}
