//! The methods of the allocating path, each the prologue (the arguments as views, the
//! shape checks) and a few calls of the stage functions: `forward`, `loss`, `grad`,
//! `grad_with_inputs` and `trace`.

use std::collections::{BTreeSet, HashSet};

use proc_macro2::TokenStream;
use quote::quote;
use syn::Ident;

use super::body::{Missing, Owned, Reads, Storage};
use super::stages::{Build, Owner, Stage, Step};
use super::{array_ty, ident, Codegen, Graphed};
use crate::ast::Role;
use crate::ir::NodeId;
use crate::ops::emit::rt;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Method {
    Forward,
    Loss,
    Grad,
    GradWithInputs,
    Trace,
}

/// A method, planned: the stages it calls, its result over theirs, and what that reads.
pub struct Spec {
    method: Method,
    calls: Vec<usize>,
    result: TokenStream,
    pub reads: Reads,
}

impl Method {
    /// The steps whose results the method needs.
    fn steps(self) -> &'static [Step] {
        match self {
            Method::Forward => &[Step::Forward],
            Method::Loss => &[Step::Forward, Step::Criterion],
            Method::Grad => &[Step::Forward, Step::Criterion, Step::Backward],
            Method::GradWithInputs => &[
                Step::Forward,
                Step::Criterion,
                Step::Backward,
                Step::InputGrads,
            ],
            Method::Trace => &[
                Step::Forward,
                Step::Criterion,
                Step::Backward,
                Step::InputGrads,
                Step::NamedGrads,
                Step::Trace,
            ],
        }
    }

    fn name(self) -> &'static str {
        match self {
            Method::Forward => "forward",
            Method::Loss => "loss",
            Method::Grad => "grad",
            Method::GradWithInputs => "grad_with_inputs",
            Method::Trace => "trace",
        }
    }

    /// The roles of the tensors the method takes.
    fn roles(self) -> &'static [Role] {
        match self {
            Method::Forward => &[Role::Input],
            Method::Loss | Method::Grad | Method::GradWithInputs | Method::Trace => {
                &[Role::Input, Role::Target]
            }
        }
    }

    fn doc(self) -> &'static str {
        match self {
            Method::Forward => "The model's output for these inputs.",
            Method::Loss => "The loss for these inputs and targets.",
            Method::Grad => "The loss and its gradient with respect to every parameter.",
            Method::GradWithInputs => {
                "The loss and its gradients with respect to every parameter and every input."
            }
            Method::Trace => {
                "Every `let` value, the output and the loss, with the loss's gradient with \
                 respect to each, to every parameter and to every input."
            }
        }
    }
}

impl Codegen<'_> {
    /// The methods `gr` gives: all five for the graph the model computes, `trace` alone
    /// for the graph as written when that differs.
    pub(super) fn method_specs(&self, gr: &Graphed<'_>, stages: &[Stage]) -> Vec<Spec> {
        let methods: &[Method] = if gr.traced {
            &[Method::Trace]
        } else if self.traced.is_some() {
            &[
                Method::Forward,
                Method::Loss,
                Method::Grad,
                Method::GradWithInputs,
            ]
        } else {
            &[
                Method::Forward,
                Method::Loss,
                Method::Grad,
                Method::GradWithInputs,
                Method::Trace,
            ]
        };
        methods
            .iter()
            .filter_map(|&m| self.spec(gr, stages, m).ok())
            .collect()
    }

    fn spec(&self, gr: &Graphed<'_>, stages: &[Stage], method: Method) -> Result<Spec, Missing> {
        let calls: Vec<usize> = stages
            .iter()
            .enumerate()
            .filter(|(_, s)| method.steps().contains(&s.step) && self.emits(s))
            .map(|(i, _)| i)
            .collect();
        let body = self.body(
            gr,
            Storage::Locals,
            self.tensors(gr, Owner::Model),
            HashSet::new(),
        );
        let lowered = gr.lowered;
        let (grads, inputs) = (&self.h.grads, &self.h.inputs);
        let result = match method {
            Method::Forward => {
                let mut parts = Vec::new();
                for (_, n) in &lowered.outputs {
                    parts.push(body.owned(*n)?);
                }
                outputs(parts, lowered.tuple)
            }
            Method::Loss => body.scalar(lowered.loss)?,
            Method::Grad => {
                let loss = body.scalar(lowered.loss)?;
                quote!((#loss, #grads))
            }
            Method::GradWithInputs => {
                let loss = body.scalar(lowered.loss)?;
                quote!((#loss, #grads, #inputs))
            }
            Method::Trace if gr.traced => {
                let trace = &self.h.trace;
                quote!(#trace)
            }
            Method::Trace => {
                let given = Some((grads.clone(), inputs.clone()));
                self.build(gr, &body, &Build::Trace(given))?
            }
        };
        Ok(Spec {
            method,
            calls,
            result,
            reads: body.take_reads(),
        })
    }

    pub(super) fn method(&self, gr: &Graphed<'_>, stages: &[Stage], spec: &Spec) -> TokenStream {
        let rt = rt();
        let g = &gr.lowered.graph;
        let method = spec.method;
        let name = Ident::new(method.name(), proc_macro2::Span::call_site());
        let (args, views) = self.arguments(gr, method.roles());
        let mut lines = TokenStream::new();
        // The values each call's results must bind: those a later call or the result reads.
        let mut needed: BTreeSet<NodeId> = spec.reads.nodes.clone();
        let mut dims = spec.reads.dims;
        for &i in &spec.calls {
            needed.extend(stages[i].reads.nodes.iter().copied());
            dims |= stages[i].reads.dims;
        }
        for &i in &spec.calls {
            let s = &stages[i];
            let mut binds = Vec::new();
            if let Some((build, _)) = &s.build {
                binds.push(self.h.built(build).clone());
            }
            let exports: Vec<TokenStream> = s
                .exports
                .iter()
                .map(|n| {
                    let name = gr.names.get(gr.plan.last_in(gr.plan.host(*n)));
                    if needed.contains(n) {
                        quote!(#name)
                    } else {
                        quote!(_)
                    }
                })
                .collect();
            let binds: Vec<TokenStream> = binds.iter().map(|b| quote!(#b)).chain(exports).collect();
            let pattern = match binds.as_slice() {
                [one] => one.clone(),
                all => quote!((#(#all),*)),
            };
            let (_, call_args) = self.stage_args(gr, s);
            let f = &s.name;
            lines.extend(quote!(let #pattern = #f(#(#call_args),*)?;));
        }
        let check = self.check_call(
            gr,
            &self.method_context(method.name()),
            method.roles(),
            dims,
        );
        let ty = match method {
            Method::Forward => {
                let types = gr.lowered.outputs.iter().map(|(_, n)| array_ty(g.rank(*n)));
                if gr.lowered.tuple {
                    quote!((#(#types,)*))
                } else {
                    quote!(#(#types)*)
                }
            }
            Method::Loss => quote!(A),
            Method::Grad => {
                let grads = &self.grads_ty;
                quote!((A, #grads<A>))
            }
            Method::GradWithInputs => {
                let (grads, inputs) = (&self.grads_ty, &self.input_grads_ty);
                quote!((A, #grads<A>, #inputs<A>))
            }
            Method::Trace => {
                let trace = &self.trace_ty;
                quote!(#trace<A>)
            }
        };
        let doc = format!(" {}", method.doc());
        let result = &spec.result;
        // A method takes each tensor of the model, which may be many.
        let allow = (args.len() + 1 > 7).then(|| quote!(#[allow(clippy::too_many_arguments)]));
        quote! {
            #[doc = #doc]
            /// # Errors
            /// `ShapeError` naming the tensor whose shape does not fit.
            #allow
            pub fn #name<'a>(&self, #(#args),*) -> #rt::Result<#ty> {
                #views
                #check
                #lines
                #rt::Ok(#result)
            }
        }
    }

    /// `Mlp::grad`, the context of a method's shape errors.
    pub(super) fn method_context(&self, method: &str) -> String {
        format!("{}::{method}", self.name)
    }

    /// A method's arguments (`x: impl AsArray<'a, A, Ix2>`) and the lines that make them
    /// views.
    pub(super) fn arguments(
        &self,
        gr: &Graphed<'_>,
        roles: &[Role],
    ) -> (Vec<TokenStream>, TokenStream) {
        let rt = rt();
        let g = &gr.lowered.graph;
        let mut args = Vec::new();
        let mut views = TokenStream::new();
        for &role in roles {
            for v in g.vars.iter().filter(|v| v.role == role) {
                let f = ident(&v.name, v.span);
                if g.rank(v.node) == 0 {
                    let el = if v.labels { quote!(usize) } else { quote!(A) };
                    args.push(quote!(#f: #el));
                    continue;
                }
                let ix = super::ix(g.rank(v.node));
                let el = if v.labels { quote!(usize) } else { quote!(A) };
                let view = super::view_ty_a(g.rank(v.node), v.labels);
                args.push(quote!(#f: impl #rt::AsArray<'a, #el, #ix>));
                views.extend(quote!(let #f: #view = #f.into();));
            }
        }
        (args, views)
    }
}

/// `forward`'s result: the output, or the tuple of the outputs, each local moved out at its
/// last use and cloned before it (`(o1.clone(), o1)` for an output given twice).
fn outputs(parts: Vec<Owned>, tuple: bool) -> TokenStream {
    let last = |i: usize, name: &Ident| {
        !parts[i + 1..]
            .iter()
            .any(|p| matches!(p, Owned::Moved(m) if m == name))
    };
    let values: Vec<TokenStream> = parts
        .iter()
        .enumerate()
        .map(|(i, p)| match p {
            Owned::Moved(name) if last(i, name) => quote!(#name),
            Owned::Moved(name) => quote!(#name.clone()),
            Owned::Copy(e) => e.clone(),
        })
        .collect();
    if tuple {
        quote!((#(#values,)*))
    } else {
        quote!(#(#values)*)
    }
}
