//! The driver: parse -> check and lower (roles, ranks, shapes) -> differentiate -> emit,
//! or, on error, the errors beside stub types. Rewrites happen as nodes are built, so
//! simplification needs no pass of its own.

use proc_macro2::TokenStream;

use crate::ast::{Model, Role};
use crate::codegen::Codegen;
use crate::diff;
use crate::ir::NodeId;
use crate::lower::{lower, Lowered};
use crate::ops::shape::Fault;
use crate::stub::{stub, stub_unparsed};

/// Expands the body of a `model!` invocation into its items: the parameter struct, its
/// gradients, trace and methods. On a mistake in the model it returns a `compile_error!`
/// for each mistake, at the user's token, and the model's types as aliases of a type in
/// error, so that one mistake does not cascade into errors where the model is used. It
/// never panics.
///
/// ```
/// use quote::quote;
///
/// let items = backprop_compiler::expand(quote! { relu(x @ w1 + b1) @ w2 + b2; loss mse });
/// assert!(items.to_string().contains("pub fn grad"));
///
/// let wrong = backprop_compiler::expand(quote! { relux(x @ w); loss mse });
/// assert!(wrong.to_string().contains("unknown function `relux`"));
/// ```
pub fn expand(input: TokenStream) -> TokenStream {
    let model: Model = match syn::parse2(input.clone()) {
        Ok(model) => model,
        Err(err) => return stub_unparsed(input, err),
    };
    let (err, model) = match analyze(model) {
        Ok(c) => match Codegen::new(&c).generate() {
            Ok(items) => return items,
            Err(missing) => {
                let msg = format!(
                    "backprop could not write the code of this model ({}); please report it",
                    missing.0
                );
                (syn::Error::new(c.model.span, msg), Box::new(c.model))
            }
        },
        Err(failed) => failed,
    };
    stub(&model, err)
}

/// The model parsed, lowered and differentiated: the gradient of its loss with respect to
/// every node that depends on a parameter or an input. `traced` is the model as written,
/// without the stability rewrites, differentiated with the gradients of the named values
/// (`let`s and `out`) exact, for `trace`.
pub struct Compiled {
    pub model: Model,
    pub lowered: Lowered,
    pub adjoint: Vec<Option<NodeId>>,
    pub traced: Lowered,
    pub traced_adjoint: Vec<Option<NodeId>>,
}

/// The model lowered and differentiated, or the errors with the model given back for its
/// stub.
pub fn analyze(model: Model) -> Result<Compiled, (syn::Error, Box<Model>)> {
    let lowered = lower(&model, true).and_then(|l| Ok((l, lower(&model, false)?)));
    let (mut lowered, mut traced) = match lowered {
        Ok(both) => both,
        Err(err) => return Err((err, Box::new(model))),
    };
    let adjoints =
        differentiate(&mut lowered, false).and_then(|a| Ok((a, differentiate(&mut traced, true)?)));
    let (adjoint, traced_adjoint) = match adjoints {
        Ok(both) => both,
        Err(fault) => {
            let msg = format!("the derivative of this model could not be built: {fault:?}");
            return Err((syn::Error::new(model.span, msg), Box::new(model)));
        }
    };
    Ok(Compiled {
        model,
        lowered,
        adjoint,
        traced,
        traced_adjoint,
    })
}

/// Gradients with respect to the parameters and inputs, and with `exact_names` complete
/// for the `let`s and `out`.
fn differentiate(l: &mut Lowered, exact_names: bool) -> Result<Vec<Option<NodeId>>, Fault> {
    let wrt: Vec<NodeId> = l
        .graph
        .vars
        .iter()
        .filter(|v| v.role != Role::Target && !v.labels)
        .map(|v| v.node)
        .collect();
    let mut named: Vec<NodeId> = Vec::new();
    if exact_names {
        named = l.lets.iter().map(|(_, n)| *n).collect();
        named.extend(l.outputs.iter().map(|(_, n)| *n));
    }
    diff::gradients(&mut l.graph, l.loss, &wrt, &named)
}
