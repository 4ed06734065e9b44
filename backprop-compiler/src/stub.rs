//! On error: the model's errors, and its types as aliases of a type rustc already holds to
//! be in error, so that one mistake in a model does not cascade into errors wherever the
//! model is used.
//!
//! The first error stands where an array's length would, `[A; compile_error!(..)]`, and the
//! model's name is that array's `Deref` target. rustc reports the `compile_error!` once and
//! takes every type built on it as already reported: a call of any method with any
//! arguments, a field, a struct literal of `MlpDims`, a trait bound (an optimizer's, the
//! training loop's), a derive in a struct holding the model all type-check silently. So
//! the stub needs no signatures to agree with the real items, and cannot disagree with
//! them: not after a grammar error, where nothing is known, nor after a rank or shape
//! error, where the real `init` and `grad` would have depended on what failed.

use proc_macro2::{Delimiter, TokenStream, TokenTree};
use quote::{format_ident, quote};
use syn::{Ident, Visibility};

use crate::ast::{DimSpec, Model};
use crate::codegen::companions;

/// The errors of a model that parsed, beside its stub types.
pub fn stub(model: &Model, err: syn::Error) -> TokenStream {
    let named_dims = model
        .decls
        .iter()
        .filter_map(|d| d.shape.as_ref())
        .any(|shape| shape.iter().any(|dim| matches!(dim, DimSpec::Sym(_))));
    let vis = &model.vis;
    items(quote!(#vis), &model.struct_name(), named_dims, err)
}

/// The errors of a model that did not parse, beside its stub types: named as its
/// `struct` names it (`Model` without one), with the visibility written before it.
pub fn stub_unparsed(input: TokenStream, err: syn::Error) -> TokenStream {
    let tokens: Vec<TokenTree> = input.into_iter().collect();
    let at = tokens
        .iter()
        .position(|t| matches!(t, TokenTree::Ident(i) if i == "struct"));
    let name = at
        .and_then(|at| tokens.get(at + 1))
        .and_then(|t| syn::parse2::<Ident>(TokenStream::from(t.clone())).ok())
        .unwrap_or_else(|| Ident::new("Model", err.span()));
    // `pub` or `pub(crate)` just before `struct`.
    let vis = at.map_or_else(TokenStream::new, |at| {
        let before = &tokens[..at];
        let start = match before {
            [.., TokenTree::Ident(p), TokenTree::Group(g)]
                if p == "pub" && g.delimiter() == Delimiter::Parenthesis =>
            {
                before.len() - 2
            }
            [.., TokenTree::Ident(p)] if p == "pub" => before.len() - 1,
            _ => before.len(),
        };
        let vis: TokenStream = before[start..].iter().cloned().collect();
        match syn::parse2::<Visibility>(vis) {
            Ok(vis) => quote!(#vis),
            Err(_) => TokenStream::new(),
        }
    });
    items(vis, &name, true, err)
}

/// The errors, the first of them inside the model's type.
fn items(vis: TokenStream, name: &Ident, named_dims: bool, err: syn::Error) -> TokenStream {
    let mut errors = err.into_iter().map(|e| e.to_compile_error());
    let first = errors.next().unwrap_or_default();
    let rest: TokenStream = errors.collect();
    let (grads, input_grads, trace, workspace) = companions(name);
    let dims = named_dims.then(|| {
        let dims = format_ident!("{}Dims", name);
        quote! {
            #[allow(dead_code, missing_docs)]
            #vis type #dims = #name;
        }
    });
    quote! {
        #[allow(dead_code, missing_docs)]
        #vis type #name<A = f32> = <[A; #first] as ::core::ops::Deref>::Target;
        #rest
        #[allow(dead_code, missing_docs)]
        #vis type #grads<A = f32> = #name<A>;
        #[allow(dead_code, missing_docs)]
        #vis type #input_grads<A = f32> = #name<A>;
        #[allow(dead_code, missing_docs)]
        #vis type #trace<A = f32> = #name<A>;
        #[allow(dead_code, missing_docs)]
        #vis type #workspace<A = f32> = #name<A>;
        #dims
    }
}
