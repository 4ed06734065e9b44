//! The runtime's traits on the model, by which optimizers, savers and the training loop
//! see it: `Tensors` on the model and its gradients and `Parameters` on the model, for
//! every model, and `Supervised` for a model with one input and one target that are not
//! scalars, with one output, and whose input is of the element type, each one
//! line of the runtime's macros.

use proc_macro2::TokenStream;
use quote::quote;

use super::{ident, ix, Codegen, Graphed};
use crate::ast::Role;
use crate::ops::emit::rt;

impl Codegen<'_> {
    pub(super) fn trait_impls(&self, gr: &Graphed<'_>) -> TokenStream {
        let rt = rt();
        let (name, grads) = (&self.name, &self.grads_ty);
        let fields = self.params().into_iter().map(|v| ident(&v.name, v.span));
        let tensors = quote!(#rt::tensors!(#name, #grads; #(#fields),*););
        let g = &gr.lowered.graph;
        let of = |role: Role| {
            g.vars
                .iter()
                .filter(move |v| v.role == role)
                .collect::<Vec<_>>()
        };
        let supervised = match (of(Role::Input).as_slice(), of(Role::Target).as_slice()) {
            // The training loop batches rows: a scalar input, target or output has none.
            ([x], [y])
                if !gr.lowered.tuple
                    && !x.labels
                    && [x.node, y.node, gr.lowered.outputs[0].1]
                        .iter()
                        .all(|&n| g.rank(n) > 0) =>
            {
                let ws = &self.workspace_ty;
                let (input, target) = (ix(g.rank(x.node)), ix(g.rank(y.node)));
                let output = ix(g.rank(gr.lowered.outputs[0].1));
                let label = if y.labels { quote!(usize) } else { quote!(A) };
                quote!(#rt::supervised!(#name, #grads, #ws; #input, #label, #target => #output);)
            }
            _ => TokenStream::new(),
        };
        quote!(#tensors #supervised)
    }
}
