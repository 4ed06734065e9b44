//! Graph -> `TokenStream`: the parameter struct and its companions (gradients, inputs'
//! gradients, trace, workspace), and in one block importing the runtime as `rt`: the
//! methods, each a prologue of shape checks and calls of functions that compute each value
//! once, in the derivation's names. `plan` says where values live, `names` what they are
//! called, `body` writes their statements, `stages` and `methods` the allocating path,
//! `workspace` the training step's, `checks` the shape checks and constructors, `traits`
//! the runtime's traits.

use std::collections::HashMap;

use proc_macro2::{Span, TokenStream, TokenTree};
use quote::{format_ident, quote, quote_spanned};
use syn::Ident;

use crate::ast::Role;
use crate::derivation::Derivation;
use crate::expand::Compiled;
use crate::ir::{DimId, NodeId, Var};
use crate::lower::Lowered;
use crate::ops::emit::rt;

mod body;
mod checks;
mod methods;
mod names;
mod plan;
mod stages;
mod traits;
mod workspace;

pub use body::Missing;
use names::{Namer, Names};
use plan::Plan;
use stages::Step;

/// The identifiers of the generated helpers and their locals, each free of the model's.
pub struct Helpers {
    pub dims: Ident,
    pub method: Ident,
    pub ws: Ident,
    pub lr: Ident,
    pub seed: Ident,
    pub rng: Ident,
    pub model: Ident,
    pub grads: Ident,
    pub inputs: Ident,
    pub trace: Ident,
    pub update: Ident,
    pub check: Ident,
    pub shapes: Ident,
    pub check_trace: Ident,
    pub backward_in: Ident,
    stages: Vec<(Step, Ident)>,
}

impl Helpers {
    fn new(namer: &mut Namer) -> Self {
        let mut claim = |n: &str| namer.claim(n);
        let steps = [
            (Step::Forward, "forward"),
            (Step::Criterion, "criterion"),
            (Step::Backward, "backward"),
            (Step::InputGrads, "input_grads"),
            (Step::NamedGrads, "named_grads"),
            (Step::Trace, "trace_as_written"),
        ];
        Self {
            dims: claim("dims"),
            method: claim("method"),
            ws: claim("ws"),
            lr: claim("lr"),
            seed: claim("seed"),
            rng: claim("rng"),
            model: claim("model"),
            grads: claim("grads"),
            inputs: claim("inputs"),
            trace: claim("trace"),
            update: claim("update"),
            check: claim("check"),
            shapes: claim("shapes"),
            check_trace: claim("check_as_written"),
            backward_in: claim("backward_in"),
            stages: steps.iter().map(|&(s, n)| (s, claim(n))).collect(),
        }
    }

    /// The name a method binds a stage's struct to.
    pub fn built(&self, build: &stages::Build) -> &Ident {
        match build {
            stages::Build::Grads => &self.grads,
            stages::Build::InputGrads => &self.inputs,
            stages::Build::Trace(_) => &self.trace,
        }
    }

    /// The name of a stage's function.
    pub fn stage(&self, step: Step) -> &Ident {
        self.stages
            .iter()
            .find(|(s, _)| *s == step)
            .map_or(&self.check, |(_, n)| n)
    }
}

/// One graph, ready to write: the model's computation, or the model as written for
/// `trace` when that differs.
pub struct Graphed<'a> {
    lowered: &'a Lowered,
    adjoint: &'a [Option<NodeId>],
    /// Whether this is the graph as written, which only `trace` follows.
    traced: bool,
    classes: HashMap<DimId, usize>,
    /// The number of classes of dims.
    k: usize,
    /// The allocating path's plan, over every stage's results.
    plan: Plan,
    /// The workspace's plan.
    ws_plan: Plan,
    /// Each stage's results.
    steps: Vec<(Step, Vec<NodeId>)>,
    names: Names,
}

impl Graphed<'_> {
    fn class(&self, d: DimId) -> usize {
        self.classes
            .get(&self.lowered.graph.dims.find(d))
            .copied()
            .unwrap_or_default()
    }

    fn check_name<'h>(&self, h: &'h Helpers) -> &'h Ident {
        if self.traced {
            &h.check_trace
        } else {
            &h.check
        }
    }
}

pub struct Codegen<'a> {
    c: &'a Compiled,
    name: Ident,
    /// The structs beside the model's: its gradients, its inputs', its trace and its
    /// workspace.
    grads_ty: Ident,
    input_grads_ty: Ident,
    trace_ty: Ident,
    workspace_ty: Ident,
    h: Helpers,
    stable: Graphed<'a>,
    /// The model as written, when `trace` must follow another graph than the methods.
    traced: Option<Graphed<'a>>,
    derivation: Derivation<'a>,
}

impl<'a> Codegen<'a> {
    pub fn new(c: &'a Compiled) -> Self {
        let name = c.model.struct_name();
        let (grads_ty, input_grads_ty, trace_ty, workspace_ty) = companions(&name);
        let mut namer = Namer::new(&c.lowered);
        let same = same_graph(c);
        let derivation = Derivation::new(&c.lowered, &c.adjoint);
        let stable = graphed(&c.lowered, &c.adjoint, false, same, &derivation, &mut namer);
        let traced = (!same).then(|| {
            let d = Derivation::new(&c.traced, &c.traced_adjoint);
            graphed(&c.traced, &c.traced_adjoint, true, false, &d, &mut namer)
        });
        let h = Helpers::new(&mut namer);
        Self {
            c,
            name,
            grads_ty,
            input_grads_ty,
            trace_ty,
            workspace_ty,
            h,
            stable,
            traced,
            derivation,
        }
    }

    /// `MlpDims`, the named dims `init` takes.
    fn dims_ty(&self) -> Ident {
        format_ident!("{}Dims", self.name)
    }

    /// The struct of the named dims `init` takes, when it takes some.
    fn dims_struct(&self) -> TokenStream {
        let checks::InitDims::Named(labels) = self.init_dims(&self.stable) else {
            return TokenStream::new();
        };
        let (vis, name, ty) = (&self.c.model.vis, &self.name, self.dims_ty());
        let fields = labels.iter().map(|l| {
            let f = ident(l, Span::call_site());
            let doc = format!(" The length of `{l}`.");
            quote!(#[doc = #doc] pub #f: usize)
        });
        let doc =
            format!(" The dims [`{name}`]'s declarations name, which [`{name}::init`] takes.");
        quote! {
            #[doc = #doc]
            #[derive(Debug, Clone, Copy, PartialEq, Eq)]
            #vis struct #ty {
                #(#fields,)*
            }
        }
    }

    fn params(&self) -> Vec<&'a Var> {
        self.vars(Role::Param)
    }

    fn vars(&self, role: Role) -> Vec<&'a Var> {
        self.c
            .lowered
            .graph
            .vars
            .iter()
            .filter(|v| v.role == role)
            .collect()
    }

    /// The inputs that have a gradient: not integer indices.
    fn differentiable_inputs(&self) -> Vec<&'a Var> {
        let mut inputs = self.vars(Role::Input);
        inputs.retain(|v| !v.labels);
        inputs
    }

    /// The `let` bindings and the outputs that are not `let`s, in order.
    fn named_values(&self, gr: &Graphed<'_>) -> Vec<(String, NodeId)> {
        let mut all: Vec<(String, NodeId)> = gr
            .lowered
            .lets
            .iter()
            .map(|(n, node)| (n.to_string(), *node))
            .collect();
        all.extend(gr.lowered.unnamed_outputs().cloned());
        all
    }

    /// The model's items, or the failure to write one, which a correct compiler never
    /// meets.
    pub fn generate(&self) -> Result<TokenStream, Missing> {
        let model = &self.c.model;
        let rt = rt();
        let (attrs, vis, name) = (&model.attrs, &model.vis, &self.name);
        let (grads, input_grads, trace) = (&self.grads_ty, &self.input_grads_ty, &self.trace_ty);
        let g = &self.c.lowered.graph;
        let fields = |vars: &[&Var], doc: &str| -> Vec<TokenStream> {
            vars.iter()
                .map(|v| {
                    let f = ident(&v.name, v.span);
                    // The whole field at the name's token, so that rustc's errors about
                    // it (a `#[derive(Copy)]` on the model) land there.
                    let ty = respan(field_ty(g.rank(v.node)), v.span);
                    let doc = format!(" {doc} `{}`.", v.name);
                    quote_spanned!(v.span=> #[doc = #doc] pub #f: #ty)
                })
                .collect()
        };
        let params = self.params();
        let mut param_fields = fields(&params, "Parameter");
        let mut grad_fields = fields(&params, "The loss's gradient with respect to");
        let mut input_fields = fields(
            &self.differentiable_inputs(),
            "The loss's gradient with respect to the input",
        );
        // A struct without a field of the element type still has it: a model without
        // parameters, inputs that are all labels.
        let phantom = quote!(#[doc(hidden)] pub __element: ::core::marker::PhantomData<A>);
        for fields in [&mut param_fields, &mut grad_fields, &mut input_fields] {
            if fields.is_empty() {
                fields.push(phantom.clone());
            }
        }
        let trace_fields = self.trace_fields();
        let workspace = self.workspace_struct(&self.stable)?;
        let dims_struct = self.dims_struct();
        let ws_impl = self.workspace_impl();
        let constructors = self.constructors(&self.stable);
        let (stage_fns, methods) = self.allocating(&self.stable)?;
        let (trace_fns, trace_method) = match &self.traced {
            Some(t) => {
                let (f, m) = self.allocating(t)?;
                let check = self.check_fn(t);
                (quote!(#check #f), m)
            }
            None => (TokenStream::new(), TokenStream::new()),
        };
        let check = self.check_fn(&self.stable);
        let shapes = self.shapes_fn();
        let (ws_methods, ws_fn) = self.workspace_methods(&self.stable)?;
        let traits = self.trait_impls(&self.stable);
        let grads_doc = format!(" Gradients of [`{name}`]'s loss, one per parameter.");
        let inputs_doc = format!(" Gradients of [`{name}`]'s loss with respect to its inputs.");
        let trace_doc = format!(
            " Every value of one pass of [`{name}`]: each `let`, the output, the loss, and the gradient with respect to each."
        );
        let text = self.derivation.text();
        let latex = self.derivation.latex();
        let graph = self.derivation.graph(&name.to_string());
        let doc = format!(
            "# Derivation\n\nThe chain rule of this model, as its gradients are computed \
             (also [`{name}::DERIVATION`], and in LaTeX [`{name}::DERIVATION_LATEX`]):\n\n\
             ```text\n{text}```"
        );
        // A line per attribute, as `///` comments are.
        let doc = doc.lines().map(|l| format!(" {l}"));
        let separator = (!attrs.is_empty()).then(|| quote!(#[doc = ""]));
        // Names as the notebooks write them (`W1`, `Xb`) are the model's, kept as written.
        let lowered = &self.c.lowered;
        let upper = |n: &str| n.chars().any(char::is_uppercase);
        let case = (lowered.graph.vars.iter().any(|v| upper(&v.name))
            || lowered.lets.iter().any(|(n, _)| upper(&n.to_string())))
        .then(|| quote!(#[allow(non_snake_case)]));
        let prefixed = |item: TokenStream| match item.is_empty() {
            true => item,
            false => quote!(#case #item),
        };
        let (workspace, dims_struct) = (prefixed(workspace), prefixed(dims_struct));
        let items = quote! {
            #(#attrs)*
            #separator
            #(#[doc = #doc])*
            #[derive(Debug, Clone, PartialEq)]
            #case
            #vis struct #name<A = f32> {
                #(#param_fields,)*
            }

            #[doc = #grads_doc]
            #[derive(Debug, Clone, PartialEq, Default)]
            #case
            #vis struct #grads<A = f32> {
                #(#grad_fields,)*
            }

            #[doc = #inputs_doc]
            #[derive(Debug, Clone, PartialEq)]
            #case
            #vis struct #input_grads<A = f32> {
                #(#input_fields,)*
            }

            #[doc = #trace_doc]
            #[derive(Debug, Clone, PartialEq)]
            #case
            #vis struct #trace<A = f32> {
                #(#trace_fields,)*
            }

            #workspace

            #dims_struct

            #case
            const _: () = {
                use ::backprop::__private as #rt;

                #ws_impl

                impl<A: #rt::Float> #name<A> {
                    #constructors
                    #methods
                    #trace_method
                    #ws_methods
                }

                #shapes
                #check
                #stage_fns
                #trace_fns
                #ws_fn
                #traits
            };
        };
        let code = pretty(&items);
        Ok(quote! {
            #items

            impl #name {
                /// The chain rule of this model, step by step: each forward definition,
                /// then each gradient in the order it is computed, over the model's own
                /// names (`δz1` for the gradient of the loss with respect to `z1`,
                /// `∂L/∂w1` for a parameter's), with the rules that shaped each line.
                pub const DERIVATION: &'static str = #text;
                /// [`Self::DERIVATION`] in LaTeX, one `aligned` block.
                pub const DERIVATION_LATEX: &'static str = #latex;
                /// [`Self::DERIVATION`] as a Graphviz graph, to draw with `dot -Tsvg`: a
                /// node for each tensor and each line, labelled with it, an edge from
                /// every named value a line reads; forward and backward in a cluster each,
                /// parameters and their gradients shaded blue, other gradients orange.
                pub const GRAPH: &'static str = #graph;
                /// The Rust this model expands to, pretty-printed: every item of the
                /// expansion but these four constants.
                pub const CODE: &'static str = #code;
            }
        })
    }

    fn trace_fields(&self) -> Vec<TokenStream> {
        let mut fields = Vec::new();
        let g = &self.c.lowered.graph;
        for (name, node) in self.named_values(&self.stable) {
            let f = ident(&name, Span::call_site());
            let d = d_ident(&name);
            let ty = field_ty(g.rank(node));
            let doc = format!(" The value of `{name}`.");
            let d_doc = format!(" The loss's gradient with respect to `{name}`.");
            fields.push(quote!(#[doc = #doc] pub #f: #ty));
            fields.push(quote!(#[doc = #d_doc] pub #d: #ty));
        }
        let (grads, inputs) = (&self.grads_ty, &self.input_grads_ty);
        fields.push(quote!(#[doc = " The loss."] pub loss: A));
        fields.push(quote!(#[doc = " The gradients of the parameters."] pub grads: #grads<A>));
        fields.push(quote!(#[doc = " The gradients of the inputs."] pub inputs: #inputs<A>));
        fields
    }
}

/// Whether the graph as written is the graph the methods compute, node for node and
/// gradient for gradient: then `trace` calls the methods' own functions.
fn same_graph(c: &Compiled) -> bool {
    let (a, b) = (&c.lowered, &c.traced);
    a.graph.nodes.len() == b.graph.nodes.len()
        && a.graph
            .nodes
            .iter()
            .zip(&b.graph.nodes)
            .all(|(x, y)| x.op == y.op && x.args == y.args)
        && c.adjoint == c.traced_adjoint
        && (&a.outputs, a.loss) == (&b.outputs, b.loss)
}

/// A graph planned and named: its stages, its two plans, its values' names.
fn graphed<'a>(
    lowered: &'a Lowered,
    adjoint: &'a [Option<NodeId>],
    traced: bool,
    with_trace: bool,
    derivation: &Derivation<'_>,
    namer: &mut Namer,
) -> Graphed<'a> {
    let g = &lowered.graph;
    let grad = |n: NodeId| adjoint.get(n.0).copied().flatten();
    let of = |role: Role| -> Vec<NodeId> {
        g.vars
            .iter()
            .filter(|v| v.role == role && !v.labels)
            .filter_map(|v| grad(v.node))
            .collect()
    };
    let mut named: Vec<NodeId> = lowered.lets.iter().map(|(_, n)| *n).collect();
    named.extend(lowered.lets.iter().filter_map(|(_, n)| grad(*n)));
    named.extend(lowered.unnamed_outputs().filter_map(|(_, n)| grad(*n)));
    let outputs: Vec<NodeId> = lowered.outputs.iter().map(|(_, n)| *n).collect();
    let steps: Vec<(Step, Vec<NodeId>)> = if traced {
        let mut all = outputs;
        all.push(lowered.loss);
        all.extend(of(Role::Param));
        all.extend(of(Role::Input));
        all.extend(named);
        vec![(Step::Trace, all)]
    } else {
        let mut steps = vec![
            (Step::Forward, outputs),
            (Step::Criterion, vec![lowered.loss]),
            (Step::Backward, of(Role::Param)),
            (Step::InputGrads, of(Role::Input)),
        ];
        if with_trace {
            steps.push((Step::NamedGrads, named));
        }
        steps
    };
    let roots: Vec<NodeId> = steps.iter().flat_map(|(_, r)| r.iter().copied()).collect();
    let plan = Plan::new(g, &roots, None);
    let grads: Vec<(usize, Option<NodeId>)> = g
        .vars
        .iter()
        .enumerate()
        .filter(|(_, v)| v.role == Role::Param)
        .map(|(i, v)| (i, grad(v.node)))
        .collect();
    let mut ws_roots = vec![lowered.loss];
    ws_roots.extend(grads.iter().filter_map(|(_, d)| *d));
    let ws_plan = Plan::new(g, &ws_roots, Some(&grads));
    let names = Names::new(lowered, derivation, &[&plan, &ws_plan], namer);
    let (k, classes) = g.dims.classes();
    Graphed {
        lowered,
        adjoint,
        traced,
        classes,
        k,
        plan,
        ws_plan,
        steps,
        names,
    }
}

/// `text` as doc attributes, a line each with the space a `///` comment has.
pub fn docs(text: &str) -> TokenStream {
    let lines = text.lines().map(|l| {
        if l.is_empty() {
            String::new()
        } else {
            format!(" {l}")
        }
    });
    quote!(#(#[doc = #lines])*)
}

/// `tokens` with every span set to `span`.
fn respan(tokens: TokenStream, span: Span) -> TokenStream {
    tokens
        .into_iter()
        .map(|mut t| {
            if let TokenTree::Group(g) = &t {
                let mut inner = proc_macro2::Group::new(g.delimiter(), respan(g.stream(), span));
                inner.set_span(span);
                t = TokenTree::Group(inner);
            } else {
                t.set_span(span);
            }
            t
        })
        .collect()
}

/// The identifier for a name of the model, raw (`r#type`) where it was written raw.
pub fn ident(name: &str, span: Span) -> Ident {
    match name.strip_prefix("r#") {
        Some(raw) => Ident::new_raw(raw, span),
        None => Ident::new(name, span),
    }
}

/// `d_name` for the gradient of `name`.
pub fn d_ident(name: &str) -> Ident {
    format_ident!("d_{}", name.trim_start_matches("r#"))
}

/// `rt::Ix2`, inside the generated block.
pub fn ix(rank: usize) -> TokenStream {
    let rt = rt();
    let ix = format_ident!("Ix{}", rank);
    quote!(#rt::#ix)
}

/// `rt::Array2<A>`, inside the generated block; `A` for a scalar.
pub fn array_ty(rank: usize) -> TokenStream {
    if rank == 0 {
        return quote!(A);
    }
    let rt = rt();
    let ty = format_ident!("Array{}", rank);
    quote!(#rt::#ty<A>)
}

/// `::backprop::__private::Array2<A>`, for a field of a struct outside the block; `A` for
/// a scalar.
pub fn field_ty(rank: usize) -> TokenStream {
    if rank == 0 {
        return quote!(A);
    }
    let ty = format_ident!("Array{}", rank);
    quote!(::backprop::__private::#ty<A>)
}

/// `rt::ArrayView2<'_, A>` (`usize` for labels); a scalar is passed as itself.
pub fn view_ty(rank: usize, labels: bool) -> TokenStream {
    let el = if labels { quote!(usize) } else { quote!(A) };
    if rank == 0 {
        return el;
    }
    let rt = rt();
    let ty = format_ident!("ArrayView{}", rank);
    quote!(#rt::#ty<'_, #el>)
}

/// `rt::ArrayView2<'a, A>`, the views a method's arguments become.
pub fn view_ty_a(rank: usize, labels: bool) -> TokenStream {
    let rt = rt();
    let ty = format_ident!("ArrayView{}", rank);
    let el = if labels { quote!(usize) } else { quote!(A) };
    quote!(#rt::#ty<'a, #el>)
}

/// Expansions longer than this (in bytes of Rust, about 65 layers of a dense network)
/// are given in `CODE` as the compiler receives them, not laid out: `syn` parses Rust at
/// about 0.15 s per megabyte, which for a model of a hundred layers would be two thirds
/// of the expansion's time.
const PRETTY_LIMIT: usize = 256 << 10;

/// `items` as `rustfmt` would lay them out, or their token text when they are longer than
/// [`PRETTY_LIMIT`] (or, which does not happen, do not parse as a file).
fn pretty(items: &TokenStream) -> String {
    let text = items.to_string();
    if text.len() > PRETTY_LIMIT {
        return text;
    }
    match syn::parse2::<syn::File>(items.clone()) {
        Ok(file) => prettyplease::unparse(&file),
        Err(_) => text,
    }
}

/// The names of the structs generated beside the model's: its gradients, its inputs'
/// gradients, its trace and its workspace.
pub fn companions(name: &Ident) -> (Ident, Ident, Ident, Ident) {
    (
        format_ident!("{}Grads", name),
        format_ident!("{}InputGrads", name),
        format_ident!("{}Trace", name),
        format_ident!("{}Workspace", name),
    )
}
