//! The driver: parse -> lower (roles, ranks, shapes) -> differentiate -> emit. Rewrites
//! happen as nodes are built, so simplification needs no pass of its own.

use proc_macro2::TokenStream;

use crate::ast::{Model, Role};
use crate::codegen::Codegen;
use crate::diff;
use crate::ir::NodeId;
use crate::lower::{lower, Lowered};

pub fn expand(input: TokenStream) -> TokenStream {
    match compile(input) {
        Ok(tokens) => tokens,
        Err(err) => err.to_compile_error(),
    }
}

/// The model parsed, lowered and differentiated: the gradient of its loss with respect to
/// every node that depends on a parameter or an input, and again with the gradients of
/// the named values (`let`s and `out`) exact, for `trace`.
pub struct Compiled {
    pub model: Model,
    pub lowered: Lowered,
    pub adjoint: Vec<Option<NodeId>>,
    pub traced: Vec<Option<NodeId>>,
}

pub fn analyze(input: TokenStream) -> syn::Result<Compiled> {
    let model: Model = syn::parse2(input)?;
    let mut lowered = lower(&model)?;
    let wrt: Vec<_> = lowered
        .graph
        .vars
        .iter()
        .filter(|v| v.role != Role::Target && !v.labels)
        .map(|v| v.node)
        .collect();
    let internal = |fault| {
        syn::Error::new(
            model.span,
            format!("the derivative of this model could not be built: {fault:?}"),
        )
    };
    let adjoint = diff::gradients(&mut lowered.graph, lowered.loss, &wrt, &[]).map_err(internal)?;
    let mut named: Vec<NodeId> = lowered.lets.iter().map(|(_, n)| *n).collect();
    named.push(lowered.out);
    let traced =
        diff::gradients(&mut lowered.graph, lowered.loss, &wrt, &named).map_err(internal)?;
    Ok(Compiled {
        model,
        lowered,
        adjoint,
        traced,
    })
}

fn compile(input: TokenStream) -> syn::Result<TokenStream> {
    let c = analyze(input)?;
    Ok(Codegen::new(&c).generate())
}
