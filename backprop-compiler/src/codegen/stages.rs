//! The allocating path. A model's computation is written once, as stage functions:
//! `forward` (the output, and what later stages read of the forward pass), `criterion`
//! (the loss), `backward` (the parameters' gradients), `input_grads`, and for `trace`,
//! `named_grads` (the gradients of the `let`s no other stage needed). Each stage computes
//! what its results need that no earlier stage did, from the tensors and earlier values
//! it takes, and returns its results and what later stages read. `forward`, `loss`,
//! `grad`, `grad_with_inputs` and `trace` are each a few calls of them, so every method
//! computes each value once, and `grad` no input gradient.

use std::collections::{BTreeSet, HashMap, HashSet};

use proc_macro2::{Span, TokenStream};
use quote::quote;
use syn::Ident;

use super::body::{Body, Missing, Owned, Reads, Storage};
use super::plan::{read_args, Kind};
use super::{array_ty, ident, view_ty, Codegen, Graphed};
use crate::ast::Role;
use crate::ir::NodeId;
use crate::ops::emit::{num, rt, Array};

/// A stage's place in the pipeline.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    Forward,
    Criterion,
    Backward,
    InputGrads,
    NamedGrads,
    /// The whole of `trace` over the graph as the model is written, when that differs
    /// from the graph the other methods compute.
    Trace,
}

/// Where a body finds the model's parameters.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Owner {
    /// A stage function, whose signature destructures them into references.
    Stage,
    /// A method of the model, where they are fields of `self`.
    Model,
}

/// The struct a stage or a method returns.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Build {
    Grads,
    InputGrads,
    /// The trace, whose gradients are built too, or given by these names.
    Trace(Option<(Ident, Ident)>),
}

/// One stage function, written.
pub struct Stage {
    pub step: Step,
    pub name: Ident,
    /// The values it computes, by statement.
    pub nodes: Vec<NodeId>,
    statements: TokenStream,
    pub build: Option<(Build, Literal)>,
    pub reads: Reads,
    /// The values it returns after the struct, which later stages and methods read.
    pub exports: Vec<NodeId>,
}

impl Codegen<'_> {
    /// The stages of `gr`, written.
    pub(super) fn stages(&self, gr: &Graphed<'_>) -> Result<Vec<Stage>, Missing> {
        let g = &gr.lowered.graph;
        let plan = &gr.plan;
        // Each statement goes to the first stage whose results need it.
        let mut stage_of: HashMap<NodeId, usize> = HashMap::new();
        for (i, (_, roots)) in gr.steps.iter().enumerate() {
            let mut stack = roots.clone();
            while let Some(n) = stack.pop() {
                if plan.is_statement(g, n) {
                    if stage_of.contains_key(&n) {
                        continue;
                    }
                    stage_of.insert(n, i);
                }
                stack.extend_from_slice(read_args(g, n));
            }
        }
        let mut stages = Vec::new();
        let mut earlier: HashSet<NodeId> = HashSet::new();
        for (i, (step, _)) in gr.steps.iter().enumerate() {
            let mut nodes: Vec<NodeId> = stage_of
                .iter()
                .filter(|&(_, &s)| s == i)
                .map(|(&n, _)| n)
                .collect();
            nodes.sort();
            let body = self.body(
                gr,
                Storage::Locals,
                self.tensors(gr, Owner::Stage),
                earlier.clone(),
            );
            let mut statements = TokenStream::new();
            for &n in &nodes {
                statements.extend(body.statement(n)?);
            }
            let build = match step {
                Step::Backward => Some(Build::Grads),
                Step::InputGrads => Some(Build::InputGrads),
                Step::Trace => Some(Build::Trace(None)),
                Step::Forward | Step::Criterion | Step::NamedGrads => None,
            };
            let build = match build {
                Some(b) => {
                    let literal = self.literal(gr, &body, &b)?;
                    Some((b, literal))
                }
                None => None,
            };
            let reads = body.take_reads();
            earlier.extend(nodes.iter().copied());
            stages.push(Stage {
                step: *step,
                name: self.h.stage(*step).clone(),
                nodes,
                statements,
                build,
                reads,
                exports: Vec::new(),
            });
        }
        Ok(stages)
    }

    /// How a body reaches the model's tensors: inputs and targets as the views its
    /// signature takes, parameters as the references a stage's signature destructures
    /// ([`Owner::Stage`]) or as fields of `self` in a method ([`Owner::Model`]). A scalar's
    /// "view" is the number itself.
    pub(super) fn tensors(&self, gr: &Graphed<'_>, owner: Owner) -> Vec<Array> {
        let g = &gr.lowered.graph;
        g.vars
            .iter()
            .map(|v| {
                let f = ident(&v.name, v.span);
                let place = match (v.role, owner) {
                    (Role::Param, Owner::Model) => quote!(self.#f),
                    (Role::Param, Owner::Stage) | (Role::Input | Role::Target, _) => quote!(#f),
                };
                let view = match (v.role, owner, g.rank(v.node)) {
                    (Role::Param, Owner::Stage, 0) => quote!(*#f),
                    (Role::Param, Owner::Model, 0) => quote!(#place),
                    (Role::Param, _, _) => quote!(#place.view()),
                    (Role::Input | Role::Target, _, _) => quote!(#f),
                };
                Array {
                    place: Some(place),
                    view,
                }
            })
            .collect()
    }

    pub(super) fn body<'b>(
        &'b self,
        gr: &'b Graphed<'_>,
        storage: Storage,
        vars: Vec<Array>,
        received: HashSet<NodeId>,
    ) -> Body<'b> {
        Body::new(
            &gr.lowered.graph,
            &gr.plan,
            &gr.names,
            storage,
            &self.h.dims,
            &gr.classes,
            vars,
            received,
        )
    }

    /// The struct literal of a stage's or a method's result: the gradients, the inputs'
    /// gradients, or the whole trace.
    pub(super) fn build(
        &self,
        gr: &Graphed<'_>,
        body: &Body<'_>,
        build: &Build,
    ) -> Result<TokenStream, Missing> {
        let literal = self.literal(gr, body, build)?;
        Ok(render(&literal, &last_moves(&literal)))
    }

    pub(super) fn literal(
        &self,
        gr: &Graphed<'_>,
        body: &Body<'_>,
        build: &Build,
    ) -> Result<Literal, Missing> {
        let g = &gr.lowered.graph;
        let rt = rt();
        let grad = |n: NodeId| gr.adjoint.get(n.0).copied().flatten();
        let mut fields = Vec::new();
        let tensors = |role: Role, fields: &mut Vec<(Ident, Field)>| -> Result<(), Missing> {
            // Integer labels and indices have no gradient.
            for (i, v) in g
                .vars
                .iter()
                .enumerate()
                .filter(|(_, v)| v.role == role && !v.labels)
            {
                let value = match grad(v.node) {
                    Some(d) => Field::Owned(body.owned(d)?),
                    None if g.rank(v.node) == 0 => Field::Expr(quote!(A::zero())),
                    None => {
                        let place = body.var(i).place;
                        Field::Expr(quote!(#rt::zeros(#place.raw_dim())))
                    }
                };
                fields.push((ident(&v.name, v.span), value));
            }
            Ok(())
        };
        let (ty, phantom) = match build {
            Build::Grads => {
                tensors(Role::Param, &mut fields)?;
                (self.grads_ty.clone(), self.params().is_empty())
            }
            Build::InputGrads => {
                tensors(Role::Input, &mut fields)?;
                (self.input_grads_ty.clone(), fields.is_empty())
            }
            Build::Trace(given) => {
                for (name, node) in self.named_values(gr) {
                    fields.push((
                        ident(&name, Span::call_site()),
                        Field::Owned(body.owned(node)?),
                    ));
                    let d = match grad(node) {
                        Some(dn) => Field::Owned(body.owned(dn)?),
                        None if g.rank(node) == 0 => Field::Expr(quote!(A::zero())),
                        None => {
                            let shape = body.shape(node);
                            body.note_dims(&shape);
                            Field::Expr(quote!(#rt::zeros(#shape)))
                        }
                    };
                    fields.push((super::d_ident(&name), d));
                }
                let loss = body.scalar(gr.lowered.loss)?;
                fields.push((Ident::new("loss", Span::call_site()), Field::Expr(loss)));
                let (grads_f, inputs_f) = (
                    Ident::new("grads", Span::call_site()),
                    Ident::new("inputs", Span::call_site()),
                );
                match given {
                    Some((grads, inputs)) => {
                        fields.push((grads_f, Field::Expr(quote!(#grads))));
                        fields.push((inputs_f, Field::Expr(quote!(#inputs))));
                    }
                    None => {
                        let grads = self.literal(gr, body, &Build::Grads)?;
                        fields.push((grads_f, Field::Struct(grads)));
                        let inputs = self.literal(gr, body, &Build::InputGrads)?;
                        fields.push((inputs_f, Field::Struct(inputs)));
                    }
                }
                (self.trace_ty.clone(), false)
            }
        };
        Ok(Literal {
            ty,
            fields,
            phantom,
        })
    }

    /// The stage functions and the methods over them.
    pub(super) fn allocating(
        &self,
        gr: &Graphed<'_>,
    ) -> Result<(TokenStream, TokenStream), Missing> {
        let mut stages = self.stages(gr)?;
        // What each method returns, and so what the stages it calls must export.
        let methods = self.method_specs(gr, &stages);
        // A stage's own values it reads are not taken from another.
        for s in &mut stages {
            let own: HashSet<NodeId> = s.nodes.iter().copied().collect();
            s.reads.nodes.retain(|n| !own.contains(n));
        }
        let mut wanted: BTreeSet<NodeId> = BTreeSet::new();
        for s in &stages {
            wanted.extend(s.reads.nodes.iter().copied());
        }
        for m in &methods {
            wanted.extend(m.reads.nodes.iter().copied());
        }
        for s in &mut stages {
            s.exports = s
                .nodes
                .iter()
                .copied()
                .filter(|n| wanted.contains(n))
                .collect();
        }
        let mut fns = TokenStream::new();
        for s in stages.iter().filter(|s| self.emits(s)) {
            fns.extend(self.stage_fn(gr, s));
        }
        let mut out = TokenStream::new();
        for m in &methods {
            out.extend(self.method(gr, &stages, m));
        }
        Ok((fns, out))
    }

    /// Whether a stage has a function: it computes something or builds a struct.
    pub(super) fn emits(&self, s: &Stage) -> bool {
        !s.nodes.is_empty() || s.build.is_some()
    }

    pub(super) fn stage_fn(&self, gr: &Graphed<'_>, s: &Stage) -> TokenStream {
        let g = &gr.lowered.graph;
        let rt = rt();
        let name = &s.name;
        let (args, _) = self.stage_args(gr, s);
        let mut returns = Vec::new();
        let mut values = Vec::new();
        if let Some((build, literal)) = &s.build {
            let ty = match build {
                Build::Grads => &self.grads_ty,
                Build::InputGrads => &self.input_grads_ty,
                Build::Trace(_) => &self.trace_ty,
            };
            returns.push(quote!(#ty<A>));
            // A local also returned on its own is moved there, and cloned here.
            let mut last = last_moves(literal);
            for &n in &s.exports {
                if let Some(name) = gr.names.get(gr.plan.last_in(gr.plan.host(n))) {
                    last.remove(&name.to_string());
                }
            }
            values.push(render(literal, &last));
        }
        for &n in &s.exports {
            let name = gr.names.get(gr.plan.last_in(gr.plan.host(n)));
            returns.push(if gr.plan.kind[n.0] == Kind::Scalar {
                quote!(A)
            } else {
                array_ty(g.rank(n))
            });
            values.push(quote!(#name));
        }
        // The struct is bound first, so that the result fits a line.
        let mut statements = s.statements.clone();
        if let Some((build, _)) = &s.build {
            let bound = self.h.built(build);
            let literal = std::mem::replace(&mut values[0], quote!(#bound));
            statements.extend(quote!(let #bound = #literal;));
        }
        // A stage takes what it reads, which for a wide model is many values.
        let allow = (args.len() > 7).then(|| quote!(#[allow(clippy::too_many_arguments)]));
        let (ret, value) = tuple(returns, values);
        quote! {
            #allow
            fn #name<A: #rt::Float>(#(#args),*) -> #rt::Result<#ret> {
                #statements
                #rt::Ok(#value)
            }
        }
    }

    /// A stage's parameters, and the arguments a method passes them.
    pub(super) fn stage_args(
        &self,
        gr: &Graphed<'_>,
        s: &Stage,
    ) -> (Vec<TokenStream>, Vec<TokenStream>) {
        let g = &gr.lowered.graph;
        let (mut params, mut args) = (Vec::new(), Vec::new());
        let read: Vec<usize> = s.reads.vars.iter().copied().collect();
        let fields: Vec<Ident> = read
            .iter()
            .map(|&i| &g.vars[i])
            .filter(|v| v.role == Role::Param)
            .map(|v| ident(&v.name, v.span))
            .collect();
        if !fields.is_empty() {
            let model = &self.name;
            let rest = (fields.len() < self.params().len()).then(|| quote!(..));
            let comma = (rest.is_some()).then(|| quote!(,));
            params.push(quote!(#model { #(#fields),* #comma #rest }: &#model<A>));
            args.push(quote!(self));
        }
        if s.reads.dims {
            let (dims, k) = (&self.h.dims, num(gr.k));
            params.push(quote!(#dims: [usize; #k]));
            args.push(quote!(#dims));
        }
        for &i in &read {
            let v = &g.vars[i];
            if v.role == Role::Param {
                continue;
            }
            let f = ident(&v.name, v.span);
            let ty = view_ty(g.rank(v.node), v.labels);
            params.push(quote!(#f: #ty));
            args.push(quote!(#f));
        }
        for &n in &s.reads.nodes {
            let name = gr.names.get(gr.plan.last_in(gr.plan.host(n)));
            if gr.plan.kind[n.0] == Kind::Scalar {
                params.push(quote!(#name: A));
                args.push(quote!(#name));
            } else {
                let ty = array_ty(g.rank(n));
                params.push(quote!(#name: &#ty));
                args.push(quote!(&#name));
            }
        }
        (params, args)
    }
}

/// A struct literal of owned values.
pub struct Literal {
    ty: Ident,
    fields: Vec<(Ident, Field)>,
    /// Whether it ends with the hidden `__element` of a struct without another field of
    /// the element type.
    phantom: bool,
}

enum Field {
    Owned(Owned),
    Expr(TokenStream),
    Struct(Literal),
}

/// Where each local is moved out of a literal: its last use in the order the fields are
/// written, which is the order they are evaluated in, unless a later field borrows it
/// (`ht: h.t().to_owned()` after `h`). The other uses clone it.
fn last_moves(literal: &Literal) -> HashMap<String, usize> {
    fn walk(
        l: &Literal,
        at: &mut usize,
        moves: &mut Vec<(Ident, usize)>,
        reads: &mut Vec<(TokenStream, usize)>,
    ) {
        for (_, f) in &l.fields {
            match f {
                Field::Owned(Owned::Moved(name)) => moves.push((name.clone(), *at)),
                // A nested literal's own fields are counted, not the literal.
                Field::Struct(inner) => {
                    walk(inner, at, moves, reads);
                    continue;
                }
                Field::Owned(Owned::Copy(e)) | Field::Expr(e) => reads.push((e.clone(), *at)),
            }
            *at += 1;
        }
    }
    let (mut moves, mut reads) = (Vec::new(), Vec::new());
    walk(literal, &mut 0, &mut moves, &mut reads);
    let mut last: HashMap<String, usize> = HashMap::new();
    for (name, at) in &moves {
        last.insert(name.to_string(), *at);
    }
    for (name, _) in &moves {
        let at = last.get(&name.to_string()).copied().unwrap_or(0);
        if reads
            .iter()
            .any(|(e, r)| *r > at && super::body::mentions(e, name))
        {
            last.remove(&name.to_string());
        }
    }
    last
}

pub fn render(literal: &Literal, last: &HashMap<String, usize>) -> TokenStream {
    fn go(l: &Literal, at: &mut usize, last: &HashMap<String, usize>) -> TokenStream {
        let mut fields = Vec::new();
        for (f, v) in &l.fields {
            let field = match v {
                Field::Struct(inner) => {
                    let value = go(inner, at, last);
                    fields.push(quote!(#f: #value));
                    continue;
                }
                Field::Owned(Owned::Moved(name)) if last.get(&name.to_string()) == Some(at) => {
                    if f == name {
                        quote!(#f)
                    } else {
                        quote!(#f: #name)
                    }
                }
                Field::Owned(Owned::Moved(name)) => quote!(#f: #name.clone()),
                Field::Expr(e) if *f == e.to_string() => quote!(#f),
                Field::Owned(Owned::Copy(e)) | Field::Expr(e) => quote!(#f: #e),
            };
            fields.push(field);
            *at += 1;
        }
        let ty = &l.ty;
        let phantom = l.phantom.then(|| {
            let rt = rt();
            quote!(__element: #rt::PhantomData)
        });
        quote!(#ty { #(#fields,)* #phantom })
    }
    go(literal, &mut 0, last)
}

/// A function's result type and value: one, or a tuple.
fn tuple(types: Vec<TokenStream>, values: Vec<TokenStream>) -> (TokenStream, TokenStream) {
    match (types.as_slice(), values.as_slice()) {
        ([t], [v]) => (t.clone(), v.clone()),
        _ => (quote!((#(#types),*)), quote!((#(#values),*))),
    }
}
