//! The methods that run the model: `forward`, `loss`, `grad`, `grad_with_inputs` and
//! `trace`, each a prologue of shape checks and a straight line over the nodes it needs.

use std::collections::HashMap;

use proc_macro2::{Span, TokenStream};
use quote::quote;

use super::{
    array_ty, block, count, d_ident, grad_or_zeros, ident, node_ident, phantom, take, uses, Codegen,
};
use crate::ast::Role;
use crate::ir::NodeId;
use crate::ops::emit::rt;

impl Codegen<'_> {
    pub(super) fn forward(&self) -> TokenStream {
        let rt = rt();
        let (args, prologue) = self.prologue("forward", &[Role::Input]);
        let out = self.lowered.out;
        let body = self.body(&[out]);
        let value = take(out, 1);
        let ty = array_ty(self.graph.rank(out));
        let block = block(
            prologue,
            body,
            quote! {
                ::core::result::Result::Ok(#value)
            },
        );
        quote! {
            /// The model's output for these inputs.
            ///
            /// # Errors
            ///
            /// `ShapeError` naming the tensor whose shape does not fit.
            pub fn forward<'__a>(&self, #(#args),*) -> ::core::result::Result<#ty, #rt::ShapeError> #block
        }
    }

    pub(super) fn loss(&self) -> TokenStream {
        let rt = rt();
        let (args, prologue) = self.prologue("loss", &[Role::Input, Role::Target]);
        let loss = self.lowered.loss;
        let body = self.body(&[loss]);
        let l = node_ident(loss);
        let block = block(
            prologue,
            body,
            quote! {
                ::core::result::Result::Ok(#l[()])
            },
        );
        quote! {
            /// The loss for these inputs and targets.
            ///
            /// # Errors
            ///
            /// `ShapeError` naming the tensor whose shape does not fit.
            pub fn loss<'__a>(&self, #(#args),*) -> ::core::result::Result<A, #rt::ShapeError> #block
        }
    }

    pub(super) fn grad(&self) -> TokenStream {
        let rt = rt();
        let (args, prologue) = self.prologue("grad", &[Role::Input, Role::Target]);
        let loss = self.lowered.loss;
        let params = self.vars(Role::Param);
        let mut roots = vec![loss];
        roots.extend(params.iter().filter_map(|v| self.grad_of(v.node)));
        let body = self.body(&roots);
        let grads = self.grads_value(&uses(&roots), &|n| self.grad_of(n));
        let l = node_ident(loss);
        let grads_ty = &self.grads_ty;
        let block = block(
            prologue,
            body,
            quote! {
                let __loss = #l[()];
                ::core::result::Result::Ok((__loss, #grads))
            },
        );
        quote! {
            /// The loss and its gradient with respect to every parameter.
            ///
            /// # Errors
            ///
            /// `ShapeError` naming the tensor whose shape does not fit.
            pub fn grad<'__a>(&self, #(#args),*) -> ::core::result::Result<(A, #grads_ty<A>), #rt::ShapeError> #block
        }
    }

    pub(super) fn grad_with_inputs(&self) -> TokenStream {
        let rt = rt();
        let (args, prologue) = self.prologue("grad_with_inputs", &[Role::Input, Role::Target]);
        let loss = self.lowered.loss;
        let mut roots = vec![loss];
        for v in self.vars(Role::Param).iter().chain(&self.vars(Role::Input)) {
            roots.extend(self.grad_of(v.node));
        }
        let body = self.body(&roots);
        let grads = self.grads_value(&uses(&roots), &|n| self.grad_of(n));
        let inputs = self.input_grads_value(&uses(&roots), &|n| self.grad_of(n));
        let l = node_ident(loss);
        let grads_ty = &self.grads_ty;
        let inputs_ty = &self.input_grads_ty;
        let block = block(
            prologue,
            body,
            quote! {
                let __loss = #l[()];
                ::core::result::Result::Ok((__loss, #grads, #inputs))
            },
        );
        quote! {
            /// The loss and its gradients with respect to every parameter and every input.
            ///
            /// # Errors
            ///
            /// `ShapeError` naming the tensor whose shape does not fit.
            pub fn grad_with_inputs<'__a>(&self, #(#args),*) -> ::core::result::Result<(A, #grads_ty<A>, #inputs_ty<A>), #rt::ShapeError> #block
        }
    }

    pub(super) fn trace(&self) -> TokenStream {
        let rt = rt();
        let (args, prologue) = self.prologue("trace", &[Role::Input, Role::Target]);
        let loss = self.lowered.loss;
        let named = self.named_values();
        let grad = |n: NodeId| self.grad_of(n);
        let mut roots = vec![loss];
        for v in self.vars(Role::Param).iter().chain(&self.vars(Role::Input)) {
            roots.extend(grad(v.node));
        }
        for (_, node) in &named {
            roots.push(*node);
            roots.extend(grad(*node));
        }
        let body = self.body(&roots);
        let used = uses(&roots);
        // Zeros borrow a node's shape, so they come before any node is moved out.
        let mut zeros = Vec::new();
        let mut fields = Vec::new();
        for (name, node) in &named {
            let f = ident(name, Span::call_site());
            let d = d_ident(name);
            let value = take(*node, count(&used, *node));
            let d_value = match grad(*node) {
                Some(g) => take(g, count(&used, g)),
                None => {
                    let n = node_ident(*node);
                    zeros.push(quote!(let #d = #rt::ndarray::Array::zeros(#n.raw_dim());));
                    quote!(#d)
                }
            };
            fields.push(quote!(#f: #value, #d: #d_value));
        }
        let grads = self.grads_value(&uses(&roots), &grad);
        let inputs = self.input_grads_value(&uses(&roots), &grad);
        let l = node_ident(loss);
        let trace_ty = &self.trace_ty;
        let block = block(
            prologue,
            body,
            quote! {
                let __loss = #l[()];
                #(#zeros)*
                ::core::result::Result::Ok(#trace_ty {
                    #(#fields,)*
                    loss: __loss,
                    grads: #grads,
                    inputs: #inputs,
                })
            },
        );
        quote! {
            /// Every `let` value, the output and the loss, with the loss's gradient with
            /// respect to each, to every parameter and to every input.
            ///
            /// # Errors
            ///
            /// `ShapeError` naming the tensor whose shape does not fit.
            pub fn trace<'__a>(&self, #(#args),*) -> ::core::result::Result<#trace_ty<A>, #rt::ShapeError> #block
        }
    }

    pub(super) fn grads_value(
        &self,
        uses: &HashMap<NodeId, usize>,
        grad: &dyn Fn(NodeId) -> Option<NodeId>,
    ) -> TokenStream {
        let ty = &self.grads_ty;
        let fields = self.vars(Role::Param).into_iter().map(|v| {
            let f = ident(&v.name, v.span);
            let value = grad_or_zeros(grad(v.node), uses, quote!(self.#f));
            quote!(#f: #value)
        });
        let phantom = phantom(&self.vars(Role::Param));
        quote!(#ty { #(#fields,)* #phantom })
    }

    pub(super) fn input_grads_value(
        &self,
        uses: &HashMap<NodeId, usize>,
        grad: &dyn Fn(NodeId) -> Option<NodeId>,
    ) -> TokenStream {
        let ty = &self.input_grads_ty;
        let fields = self.vars(Role::Input).into_iter().map(|v| {
            let f = ident(&v.name, v.span);
            let value = grad_or_zeros(grad(v.node), uses, quote!(#f));
            quote!(#f: #value)
        });
        quote!(#ty { #(#fields,)* __element: ::core::marker::PhantomData })
    }
}
