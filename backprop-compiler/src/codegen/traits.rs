//! The runtime's traits on the model, by which optimizers, savers and the training loop
//! see it: `Tensors` on the model and its gradients, `Parameters` on the model, and, for a
//! model with one input and one target, `Supervised`.

use proc_macro2::TokenStream;
use quote::quote;

use super::{ident, ix, Codegen};
use crate::ast::Role;
use crate::ops::emit::rt;

impl Codegen<'_> {
    pub(super) fn trait_impls(&self) -> TokenStream {
        let rt = rt();
        let nd = quote!(#rt::ndarray);
        let (name, grads_ty) = (&self.name, &self.grads_ty);
        let params = self.vars(Role::Param);
        let names: Vec<&str> = params
            .iter()
            .map(|v| v.name.trim_start_matches("r#"))
            .collect();
        let fields: Vec<_> = params.iter().map(|v| ident(&v.name, v.span)).collect();
        let tensors = |ty: &syn::Ident| {
            quote! {
                #[allow(unused_variables)]
                impl<A: #rt::Float> #rt::params::Tensors<A> for #ty<A> {
                    fn visit(&self, f: &mut dyn FnMut(&'static str, #nd::ArrayViewD<'_, A>)) {
                        #(f(#names, self.#fields.view().into_dyn());)*
                    }

                    fn visit_mut(&mut self, f: &mut dyn FnMut(&'static str, #nd::ArrayViewMutD<'_, A>)) {
                        #(f(#names, self.#fields.view_mut().into_dyn());)*
                    }
                }
            }
        };
        let model_tensors = tensors(name);
        let grads_tensors = tensors(grads_ty);
        let supervised = self.supervised();
        quote! {
            #model_tensors
            #grads_tensors

            #[allow(unused_variables)]
            impl<A: #rt::Float> #rt::params::Parameters<A> for #name<A> {
                type Grads = #grads_ty<A>;

                fn visit_with_grads(
                    &mut self,
                    grads: &#grads_ty<A>,
                    f: &mut dyn FnMut(&'static str, #nd::ArrayViewMutD<'_, A>, #nd::ArrayViewD<'_, A>),
                ) {
                    #(f(#names, self.#fields.view_mut().into_dyn(), grads.#fields.view().into_dyn());)*
                }
            }

            #supervised
        }
    }

    /// `Supervised`, for a model with exactly one input and one target.
    fn supervised(&self) -> TokenStream {
        let (inputs, targets) = (self.vars(Role::Input), self.vars(Role::Target));
        let ([x], [y]) = (inputs.as_slice(), targets.as_slice()) else {
            return TokenStream::new();
        };
        let rt = rt();
        let nd = quote!(#rt::ndarray);
        let (name, grads_ty, ws_ty) = (&self.name, &self.grads_ty, &self.workspace_ty);
        let input = ix(self.graph.rank(x.node));
        let target = ix(self.graph.rank(y.node));
        let output = ix(self.graph.rank(self.lowered.out));
        let label = if y.labels { quote!(usize) } else { quote!(A) };
        quote! {
            impl<A: #rt::Float> #rt::params::Supervised<A> for #name<A> {
                type Input = #input;
                type Label = #label;
                type Target = #target;
                type Output = #output;
                type Workspace = #ws_ty<A>;

                fn workspace(&self) -> #ws_ty<A> {
                    #name::workspace(self)
                }

                fn grad_in<'__w>(
                    &self,
                    ws: &'__w mut #ws_ty<A>,
                    x: #nd::ArrayView<'_, A, #input>,
                    y: #nd::ArrayView<'_, #label, #target>,
                ) -> ::core::result::Result<(A, &'__w #grads_ty<A>), #rt::ShapeError> {
                    #name::grad_in(self, ws, x.view(), y.view())
                }

                fn loss(
                    &self,
                    x: #nd::ArrayView<'_, A, #input>,
                    y: #nd::ArrayView<'_, #label, #target>,
                ) -> ::core::result::Result<A, #rt::ShapeError> {
                    #name::loss(self, x.view(), y.view())
                }

                fn forward(
                    &self,
                    x: #nd::ArrayView<'_, A, #input>,
                ) -> ::core::result::Result<#nd::Array<A, #output>, #rt::ShapeError> {
                    #name::forward(self, x)
                }
            }
        }
    }
}
