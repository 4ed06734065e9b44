//! The allocation-free path of a training step: a workspace struct holding one array per
//! value the step must keep, named after the value, and one function, `backward_in`, that
//! writes every value into it; `grad_in` calls it, and `step` calls it and then updates
//! the parameters, adding a weight gradient that is one product to its weight in that
//! product's own pass instead of storing it. Where each value lives is the plan's.

use std::collections::HashSet;

use proc_macro2::TokenStream;
use quote::quote;

use super::body::{Body, Missing, Storage};
use super::plan::{Kind, Place};
use super::stages::Owner;
use super::{field_ty, ident, view_ty, Codegen, Graphed};
use crate::ast::Role;
use crate::ir::NodeId;
use crate::ops::emit::{num, rt, Array};

impl Codegen<'_> {
    /// The parameters' gradients in the workspace, by the index of each parameter.
    fn param_grads(&self, gr: &Graphed<'_>) -> Vec<(usize, Option<NodeId>)> {
        gr.lowered
            .graph
            .vars
            .iter()
            .enumerate()
            .filter(|(_, v)| v.role == Role::Param)
            .map(|(i, v)| (i, gr.adjoint.get(v.node.0).copied().flatten()))
            .collect()
    }

    /// The arrays of the workspace: the nodes with an array of their own.
    fn buffers(&self, gr: &Graphed<'_>) -> Vec<NodeId> {
        let plan = &gr.ws_plan;
        (0..plan.kind.len())
            .map(NodeId)
            .filter(|&n| plan.kind[n.0] == Kind::Stored(Place::Own))
            .collect()
    }

    fn ws_body<'b>(&'b self, gr: &'b Graphed<'_>, vars: Vec<Array>) -> Body<'b> {
        Body::new(
            &gr.lowered.graph,
            &gr.ws_plan,
            &gr.names,
            Storage::Workspace(self.h.ws.clone(), self.h.grads.clone()),
            &self.h.dims,
            &gr.classes,
            vars,
            HashSet::new(),
        )
    }

    /// The workspace struct and its impl.
    pub(super) fn workspace_struct(&self, gr: &Graphed<'_>) -> Result<TokenStream, Missing> {
        let vis = &self.c.model.vis;
        let (name, ty, grads_ty) = (&self.name, &self.workspace_ty, &self.grads_ty);
        let (grads, dims, k) = (&self.h.grads, &self.h.dims, num(gr.k));
        let body = self.ws_body(gr, self.tensors(gr, Owner::Stage));
        let mut fields = Vec::new();
        for n in self.buffers(gr) {
            let f = body.array_name(n)?;
            let t = field_ty(gr.lowered.graph.rank(n));
            fields.push(quote!(#f: #t));
        }
        let doc = super::docs(&format!(
            "The arrays of [`{name}::grad_in`] and [`{name}::step`] for one set of shapes: the\n\
             first call with a batch size allocates them, and later calls with the same shapes\n\
             allocate nothing."
        ));
        Ok(quote! {
            #doc
            #[derive(Debug, Clone, Default)]
            #vis struct #ty<A = f32> {
                #grads: #grads_ty<A>,
                #dims: ::core::option::Option<[usize; #k]>,
                #(#fields,)*
            }
        })
    }

    /// The workspace's own impl, inside the generated block.
    pub(super) fn workspace_impl(&self) -> TokenStream {
        let rt = rt();
        let (ty, grads_ty, grads) = (&self.workspace_ty, &self.grads_ty, &self.h.grads);
        quote! {
            impl<A: #rt::Float> #ty<A> {
                /// An empty workspace; the first step sizes it.
                pub fn new() -> Self {
                    ::core::default::Default::default()
                }

                /// The gradients of the last step.
                pub fn grads(&self) -> &#grads_ty<A> {
                    &self.#grads
                }
            }
        }
    }

    /// `workspace`, `grad_in`, `sgd` and `step`, and the function they share.
    pub(super) fn workspace_methods(
        &self,
        gr: &Graphed<'_>,
    ) -> Result<(TokenStream, TokenStream), Missing> {
        let rt = rt();
        let g = &gr.lowered.graph;
        let plan = &gr.ws_plan;
        let (ws, lr, dims, grads, update) = (
            &self.h.ws,
            &self.h.lr,
            &self.h.dims,
            &self.h.grads,
            &self.h.update,
        );
        let (ty, grads_ty, k) = (&self.workspace_ty, &self.grads_ty, num(gr.k));
        let roles = [Role::Input, Role::Target];
        let fused = !plan.updates.is_empty();

        // The shared function: size the arrays, then every value, then the gradients
        // that are not written in place.
        let body = self.ws_body(gr, self.tensors(gr, Owner::Stage));
        let mut sizing = TokenStream::new();
        for (i, _) in self.param_grads(gr) {
            let v = &g.vars[i];
            if g.rank(v.node) == 0 {
                continue;
            }
            let f = ident(&v.name, v.span);
            let place = body.var(i).place;
            sizing.extend(quote!(#ws.#grads.#f = #rt::zeros(#place.raw_dim());));
        }
        for n in self.buffers(gr) {
            let f = body.array_name(n)?;
            let shape = body.shape(n);
            sizing.extend(quote!(#ws.#f = #rt::zeros(#shape);));
        }
        let mut lines = TokenStream::new();
        for i in 0..g.nodes.len() {
            let n = NodeId(i);
            if !plan.is_statement(g, n) {
                continue;
            }
            let line = body.statement(n)?;
            if plan.updates.iter().any(|&(_, u)| u == n) {
                lines.extend(quote!(if !#update { #line }));
            } else {
                lines.extend(line);
            }
        }
        for (i, grad) in self.param_grads(gr) {
            let v = &g.vars[i];
            let f = ident(&v.name, v.span);
            match grad {
                None if g.rank(v.node) == 0 => lines.extend(quote!(#ws.#grads.#f = A::zero();)),
                None => lines.extend(quote!(#ws.#grads.#f.fill(A::zero());)),
                Some(n) if plan.kind[n.0] == Kind::Stored(Place::Grad(i)) => {}
                Some(n) if g.rank(v.node) == 0 => {
                    let value = body.value(n)?.scalar();
                    lines.extend(quote!(#ws.#grads.#f = #value;));
                }
                Some(n) => {
                    let value = body.value(n)?.view();
                    lines.extend(quote!(#rt::fill1(#ws.#grads.#f.view_mut(), #value, |_, v| v)?;));
                }
            }
        }
        let loss = body.scalar(gr.lowered.loss)?;
        let reads = body.take_reads();
        // The parameters it reads, and those whose gradients it sizes.
        let fields: Vec<_> = g
            .vars
            .iter()
            .enumerate()
            .filter(|(i, v)| {
                v.role == Role::Param && (reads.vars.contains(i) || g.rank(v.node) > 0)
            })
            .map(|(_, v)| ident(&v.name, v.span))
            .collect();
        let model = &self.name;
        let mut params = Vec::new();
        let mut args = Vec::new();
        if !fields.is_empty() {
            let rest = (fields.len() < self.params().len()).then(|| quote!(, ..));
            params.push(quote!(#model { #(#fields),* #rest }: &#model<A>));
            args.push(quote!(self));
        }
        params.push(quote!(#ws: &mut #ty<A>));
        args.push(quote!(#ws));
        params.push(quote!(#dims: [usize; #k]));
        args.push(quote!(#dims));
        for &r in &roles {
            for (i, v) in g.vars.iter().enumerate().filter(|(_, v)| v.role == r) {
                let f = ident(&v.name, v.span);
                if reads.vars.contains(&i) {
                    let t = view_ty(g.rank(v.node), v.labels);
                    params.push(quote!(#f: #t));
                    args.push(quote!(#f));
                }
            }
        }
        let (mut grad_in_args, mut step_args) = (args.clone(), args);
        if fused {
            params.push(quote!(#update: bool));
            grad_in_args.push(quote!(false));
            step_args.push(quote!(true));
        }
        let backward_in = &self.h.backward_in;
        let allow = (params.len() > 7).then(|| quote!(#[allow(clippy::too_many_arguments)]));
        let function = quote! {
            /// The loss and the gradients of one step, written into the workspace, whose
            /// arrays are sized for these shapes first; with `update`, without the weight
            /// gradients that `step` adds to their weights in their own products.
            #allow
            fn #backward_in<A: #rt::Float>(#(#params),*) -> #rt::Result<A> {
                if #ws.#dims != #rt::Some(#dims) {
                    #sizing
                    #ws.#dims = #rt::Some(#dims);
                }
                #lines
                #rt::Ok(#loss)
            }
        };

        // The methods.
        let (args, views) = self.arguments(gr, &roles);
        let allow = |extra: usize| {
            (args.len() + extra > 7).then(|| quote!(#[allow(clippy::too_many_arguments)]))
        };
        let (allow_grad_in, allow_step) = (allow(2), allow(3));
        let check = |method: &str| self.check_call(gr, &self.method_context(method), &roles, true);
        let (check_grad_in, check_step) = (check("grad_in"), check("step"));
        let loss_name = gr.names.get(gr.lowered.loss);
        let step_body = self.ws_body(gr, self.tensors(gr, Owner::Model));
        let mut updates = TokenStream::new();
        for (i, _) in self.param_grads(gr) {
            let v = &g.vars[i];
            let f = ident(&v.name, v.span);
            match plan.updates.iter().find(|&&(var, _)| var == i) {
                Some(&(_, n)) => {
                    let a = step_body.value(g.args(n)[0])?.view();
                    let b = step_body.value(g.args(n)[1])?.view();
                    updates
                        .extend(quote!(#rt::matmul_add_into(#a, #b, self.#f.view_mut(), -#lr)?;));
                }
                None if g.rank(v.node) == 0 => {
                    updates.extend(quote!(self.#f = self.#f - #lr * #ws.#grads.#f;));
                }
                None => updates
                    .extend(quote!(#rt::sgd(self.#f.view_mut(), #ws.#grads.#f.view(), #lr)?;)),
            }
        }
        let sgd: Vec<TokenStream> = self
            .params()
            .iter()
            .map(|v| {
                let f = ident(&v.name, v.span);
                if g.rank(v.node) == 0 {
                    quote!(self.#f = self.#f - #lr * #grads.#f;)
                } else {
                    quote!(#rt::sgd(self.#f.view_mut(), #grads.#f.view(), #lr)?;)
                }
            })
            .collect();
        let (sgd_grads, sgd_lr) = if sgd.is_empty() {
            (quote!(_), quote!(_))
        } else {
            (quote!(#grads), quote!(#lr))
        };
        let methods = quote! {
            /// A workspace for [`Self::grad_in`] and [`Self::step`].
            pub fn workspace(&self) -> #ty<A> {
                #ty::new()
            }

            /// The loss and its gradient with respect to every parameter, as [`Self::grad`]
            /// computes them, written into `ws`: after the first call with these shapes, no
            /// allocation.
            /// # Errors
            /// `ShapeError` naming the tensor whose shape does not fit.
            #allow_grad_in
            pub fn grad_in<'w, 'a>(&self, #ws: &'w mut #ty<A>, #(#args),*) -> #rt::Result<(A, &'w #grads_ty<A>)> {
                #views
                #check_grad_in
                #rt::Ok((#backward_in(#(#grad_in_args),*)?, &#ws.#grads))
            }

            /// One step of stochastic gradient descent: `p -= lr * grad` for each parameter.
            /// # Errors
            /// `ShapeError` when a gradient's shape is not its parameter's.
            pub fn sgd(&mut self, #sgd_grads: &#grads_ty<A>, #sgd_lr: A) -> #rt::Result<()> {
                #(#sgd)*
                #rt::Ok(())
            }

            /// One training step, [`Self::grad_in`] then [`Self::sgd`] in effect, with the
            /// update fused where it can be: a gradient that is one matrix product
            /// (`dz^T @ h`) is added, times `-lr`, to its parameter in that product's own
            /// pass, never stored. The gradients `ws` holds afterwards are therefore not all
            /// this step's; call [`Self::grad_in`] to read them. Returns the loss before the
            /// step.
            /// # Errors
            /// `ShapeError` naming the tensor whose shape does not fit.
            #allow_step
            pub fn step<'a>(&mut self, #ws: &mut #ty<A>, #(#args,)* #lr: A) -> #rt::Result<A> {
                #views
                #check_step
                let #loss_name = #backward_in(#(#step_args),*)?;
                #updates
                #rt::Ok(#loss_name)
            }
        };
        Ok((methods, function))
    }
}
