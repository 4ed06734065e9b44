//! The shape checks every method begins with, one function per graph: each parameter's
//! shape, then those of the inputs and targets the method takes, against the dims the
//! model declares or infers, then each column select and each label against the classes,
//! before any arithmetic; and the constructors, `new` and `init`, which check too.

use std::collections::HashMap;

use proc_macro2::TokenStream;
use quote::quote;

use super::{array_ty, ident, view_ty, Codegen, Graphed};
use crate::ast::Role;
use crate::ir::{DimId, NodeId, Var};
use crate::ops::emit::{num, rt};
use crate::ops::{Arith, Index, Linalg, Loss, Op, Reduce};
use crate::print::Printer;

/// The expression where `v` is first used, or its name, for messages.
fn site_of(v: &Var) -> String {
    if v.site.is_empty() {
        v.name.clone()
    } else {
        v.site.clone()
    }
}

/// The run-time description of the axis `d`: its class, and its declared length or name.
fn axis_spec(gr: &Graphed<'_>, d: DimId) -> TokenStream {
    let (rt, dims) = (rt(), &gr.lowered.graph.dims);
    let class = num(gr.class(d));
    match (dims.known(d), dims.label(d)) {
        (Some(n), _) => {
            let n = num(n);
            quote!(#rt::fixed(#class, #n))
        }
        (None, Some(l)) => quote!(#rt::named(#class, #l)),
        (None, None) => quote!(#rt::free(#class)),
    }
}

/// What a model's `init` takes besides the seed.
pub enum InitDims {
    /// Nothing: the text gives every dim of every parameter.
    Fixed,
    /// The dims the text names (`nh`), as the fields of the model's `Dims` struct.
    Named(Vec<String>),
    /// Each parameter's shape.
    Shapes,
}

impl Codegen<'_> {
    /// The function checking `gr`'s tensors: `check(model, method, Some(&x), Some(&y))`
    /// gives the length of every class of dims.
    pub(super) fn check_fn(&self, gr: &Graphed<'_>) -> TokenStream {
        let rt = rt();
        let g = &gr.lowered.graph;
        let (dims, method) = (&self.h.dims, &self.h.method);
        let k = num(gr.k);
        // A tensor whose axes are all free is checked by their classes alone.
        let axes = |v: &Var| {
            let dimmed = g.shape(v.node);
            let free = dimmed
                .iter()
                .all(|&d| g.dims.known(d).is_none() && g.dims.label(d).is_none());
            if free {
                let classes = dimmed.iter().map(|&d| num(gr.class(d)));
                return (true, quote!(&[#(#classes),*]));
            }
            let axes = dimmed.iter().map(|&d| axis_spec(gr, d));
            (false, quote!(&[#(#axes),*]))
        };
        // A scalar is a number: there is no shape to check.
        let params: Vec<&Var> = self
            .params()
            .into_iter()
            .filter(|v| g.rank(v.node) > 0)
            .collect();
        let shapes = &self.h.shapes;
        let p = num(params.len());
        let mut lines: Vec<TokenStream> = params
            .iter()
            .enumerate()
            .map(|(i, v)| {
                let (name, site) = (v.name.trim_start_matches("r#"), site_of(v));
                let i = num(i);
                match axes(v) {
                    (true, axes) => quote!(#dims.tensor(#name, #axes, #site, #shapes[#i])?;),
                    (false, axes) => quote!(#dims.declared(#name, #axes, #site, #shapes[#i])?;),
                }
            })
            .collect();
        let mut args = vec![
            quote!(#shapes: [&[usize]; #p]),
            quote!(#method: &'static str),
        ];
        let given = [Role::Input, Role::Target]
            .into_iter()
            .flat_map(|r| g.vars.iter().filter(move |v| v.role == r))
            .filter(|v| g.rank(v.node) > 0);
        // An input or target is checked when the method takes it.
        for v in given {
            let f = ident(&v.name, v.span);
            let ty = view_ty(g.rank(v.node), v.labels);
            args.push(quote!(#f: #rt::Option<&#ty>));
            let (name, site) = (v.name.trim_start_matches("r#"), site_of(v));
            let (_, axes) = axes(v);
            lines.push(quote!(#dims.given(#name, #axes, #site, #f)?;));
        }
        lines.extend(self.selections(gr));
        let name = gr.check_name(&self.h);
        let allow = (args.len() > 7).then(|| quote!(#[allow(clippy::too_many_arguments)]));
        // Generic over the element type only for the inputs and targets it takes.
        let generic = self.check_generic(gr).then(|| quote!(<A: #rt::Float>));
        quote! {
            /// The length of every class of dims, after checking the parameters' shapes
            /// (in `new`'s order) and the inputs and targets given against the model's.
            #allow
            fn #name #generic(#(#args),*) -> #rt::Result<[usize; #k]> {
                let mut #dims = #rt::Dims::<#k>::new(#method);
                #(#lines)*
                #rt::Ok(#dims.lengths())
            }
        }
    }

    /// Whether `gr`'s check takes a tensor of the element type, and so is generic over it.
    fn check_generic(&self, gr: &Graphed<'_>) -> bool {
        let g = &gr.lowered.graph;
        g.vars.iter().any(|v| {
            matches!(v.role, Role::Input | Role::Target) && g.rank(v.node) > 0 && !v.labels
        })
    }

    /// `shapes(model)`: the shapes of the parameters that are not numbers, in `new`'s
    /// order, as the checks take them.
    pub(super) fn shapes_fn(&self) -> TokenStream {
        let rt = rt();
        let params: Vec<_> = self
            .params()
            .into_iter()
            .filter(|v| self.stable.lowered.graph.rank(v.node) > 0)
            .map(|v| ident(&v.name, v.span))
            .collect();
        let (model, shapes) = (&self.name, &self.h.shapes);
        let p = num(params.len());
        let rest = (params.len() < self.params().len()).then(|| quote!(..));
        let pattern = match (params.is_empty(), rest) {
            (true, _) => quote!(_: &#model<A>),
            (false, None) => quote!(#model { #(#params),* }: &#model<A>),
            (false, Some(rest)) => quote!(#model { #(#params,)* #rest }: &#model<A>),
        };
        quote! {
            /// The shapes of the parameters that are not numbers, in `new`'s order.
            fn #shapes<A: #rt::Float>(#pattern) -> [&[usize]; #p] {
                [#(#params.shape()),*]
            }
        }
    }

    /// The checks of every column select (`[:, k]` within the columns) and of the labels
    /// of `cross_entropy` and `nll` (within the classes), after the shapes that bind their
    /// dims.
    fn selections(&self, gr: &Graphed<'_>) -> Vec<TokenStream> {
        let rt = rt();
        let g = &gr.lowered.graph;
        let dims = &self.h.dims;
        let mut printer = Printer::new(g);
        for (n, node) in self.named_values(gr) {
            printer.name(node, &n);
        }
        let mut lines = Vec::new();
        for (i, node) in g.nodes[..=gr.lowered.loss.0].iter().enumerate() {
            let site = || printer.print(NodeId(i));
            if let Op::Reduce(Reduce::Column(col)) = node.op {
                let arg = node.args[0];
                let (class, col) = (num(gr.class(g.shape(arg)[1])), num(col));
                let (tensor, site) = (printer.show(arg), site());
                lines.push(quote!(#dims.check_column(#class, #col, #tensor, #site)?;));
            }
            // `C[X]`: every index a row of the table.
            if let (Op::Index(Index::Gather), &[table, indices]) = (node.op, &node.args[..]) {
                let Op::Var(v) = *g.op(indices) else { continue };
                let var = &g.vars[v];
                let rows = axis_spec(gr, g.shape(table)[0]);
                let f = ident(&var.name, var.span);
                let name = var.name.trim_start_matches("r#");
                let site = site();
                lines.push(quote! {
                    if let #rt::Some(#f) = #f {
                        #dims.check_indices(#rows, #f.view(), #name, #site)?;
                    }
                });
            }
            // `e.view(..)`: as many elements, the length of a `-1` bound.
            if let (Op::Index(Index::Reshape(axes)), &[a]) = (node.op, &node.args[..]) {
                let spec =
                    |dims: &[DimId]| dims.iter().map(|&d| axis_spec(gr, d)).collect::<Vec<_>>();
                let (from, to) = (spec(g.shape(a)), spec(axes.dims()));
                let inferred = match axes.inferred() {
                    Some(i) => {
                        let i = num(i);
                        quote!(#rt::Some(#i))
                    }
                    None => quote!(#rt::None),
                };
                let (tensor, site) = (printer.show(a), site());
                lines.push(quote! {
                    #dims.reshape(&[#(#from),*], &[#(#to),*], #inferred, #tensor, #site)?;
                });
            }
            // `cross_entropy(logits, labels)`, and `nll`'s one-hot rows of its log-probabilities.
            let labelled = match (node.op, &node.args[..]) {
                (Op::Loss(Loss::CrossEntropy), &[logits, labels])
                | (Op::Loss(Loss::OneHot), &[labels, logits]) => Some((logits, labels)),
                _ => None,
            };
            if let Some((logits, labels)) = labelled {
                let Op::Var(v) = *g.op(labels) else { continue };
                let var = &g.vars[v];
                let classes = axis_spec(gr, g.shape(logits)[1]);
                let f = ident(&var.name, var.span);
                let (name, site) = (var.name.trim_start_matches("r#"), site());
                lines.push(quote! {
                    if let #rt::Some(#f) = #f {
                        #dims.check_labels(#classes, #f.iter(), #name, #site)?;
                    }
                });
            }
        }
        lines
    }

    /// The call of `gr`'s checks from a method taking tensors of `roles`, binding the
    /// lengths of the dims when `bind`.
    pub(super) fn check_call(
        &self,
        gr: &Graphed<'_>,
        context: &str,
        roles: &[Role],
        bind: bool,
    ) -> TokenStream {
        let rt = rt();
        let g = &gr.lowered.graph;
        let mut args = Vec::new();
        for r in [Role::Input, Role::Target] {
            for v in g.vars.iter().filter(|v| v.role == r && g.rank(v.node) > 0) {
                let f = ident(&v.name, v.span);
                args.push(if roles.contains(&r) {
                    quote!(#rt::Some(&#f))
                } else {
                    quote!(#rt::None)
                });
            }
        }
        let (check, shapes) = (gr.check_name(&self.h), &self.h.shapes);
        let dims = &self.h.dims;
        let call = quote!(#check(#shapes(self), #context, #(#args),*)?;);
        if bind {
            quote!(let #dims = #call)
        } else {
            call
        }
    }

    /// `new`, checking the parameters' shapes, and `init`, seeded as PyTorch's
    /// `nn.Linear` initialises them.
    pub(super) fn constructors(&self, gr: &Graphed<'_>) -> TokenStream {
        let rt = rt();
        let g = &gr.lowered.graph;
        let params = self.params();
        let names: Vec<_> = params.iter().map(|v| ident(&v.name, v.span)).collect();
        let types: Vec<_> = params.iter().map(|v| array_ty(g.rank(v.node))).collect();
        let fan_ins = self.fan_ins(gr);
        let dims = &self.h.dims;
        // The shapes `init` takes: none when the text fixes them, the named dims when it
        // names the others, or else each shape. A scalar is drawn as one number.
        let given = self.init_dims(gr);
        let mut shapes = Vec::new();
        let mut draws = Vec::new();
        let mut sized = Vec::new();
        let mut known = TokenStream::new();
        let init_context = self.method_context("init");
        for ((v, f), fan_in) in params.iter().zip(&names).zip(&fan_ins) {
            let rng = &self.h.rng;
            let rank = g.rank(v.node);
            if rank == 0 {
                draws.push(quote!(#rng.scalar(#fan_in)));
                continue;
            }
            let name = v.name.trim_start_matches("r#");
            draws.push(quote!(#rng.try_linear(#f, #fan_in, #name, #init_context)?));
            sized.push(f.clone());
            let r = num(rank);
            match &given {
                InitDims::Shapes => shapes.push(quote!(#f: [usize; #r])),
                InitDims::Fixed | InitDims::Named(_) => {
                    let axes = g.shape(v.node).iter().map(|&d| match g.dims.known(d) {
                        Some(n) => {
                            let n = num(n);
                            quote!(#n)
                        }
                        None => {
                            let label = ident(g.dims.label(d).unwrap_or_default(), v.span);
                            quote!(#dims.#label)
                        }
                    });
                    known.extend(quote!(let #f: [usize; #r] = [#(#axes),*];));
                }
            }
        }
        if let InitDims::Named(_) = &given {
            let ty = self.dims_ty();
            shapes.push(quote!(#dims: #ty));
        }
        let phantom = names
            .is_empty()
            .then(|| quote!(__element: ::core::marker::PhantomData));
        let (model, seed, rng) = (&self.h.model, &self.h.seed, &self.h.rng);
        let (check, shapes_fn) = (gr.check_name(&self.h), &self.h.shapes);
        let context = self.method_context("new");
        let nones = [Role::Input, Role::Target]
            .into_iter()
            .flat_map(|r| g.vars.iter().filter(move |v| v.role == r))
            .filter(|v| g.rank(v.node) > 0)
            .map(|_| quote!(#rt::None))
            .collect::<Vec<_>>();
        // No tensor is given to `init`'s check to tell its element type.
        let turbofish = self.check_generic(gr).then(|| quote!(::<A>));
        // The order of the arguments, which nothing else in a call shows.
        let order: Vec<String> = params
            .iter()
            .map(|v| match g.rank(v.node) {
                0 => format!("`{}` (a number)", v.name),
                _ => format!("`{}` {}", v.name, g.dims.describe_shape(g.shape(v.node))),
            })
            .collect();
        let new_doc = super::docs(&format!(
            "The model with these parameters: {}, the declared ones first, as declared, then \
             the others as they first appear.\n# Errors\n`ShapeError` when their shapes do not \
             fit together.",
            order.join(", ")
        ));
        let shapes_doc = match &given {
            InitDims::Fixed => "Parameters of the shapes the model declares",
            InitDims::Named(_) => "Parameters of the shapes the model declares, the dims it names given in `dims`,",
            InitDims::Shapes => "Parameters of the given shapes, one for each parameter that is not a number, in\n`new`'s order,",
        };
        let init_doc = super::docs(&format!(
            "{shapes_doc} drawn from a generator seeded with `seed`, as\n\
             PyTorch's `nn.Linear` initialises them: uniform in `±1/sqrt(fan_in)` for a weight\n\
             and for the bias added to its product, uniform in `±1` for other parameters.\n\
             # Errors\n`ShapeError` when the shapes do not fit together or do not fit in memory,\n\
             before anything is drawn."
        ));
        // A model of many parameters takes them all.
        let allow = |n: usize| (n > 7).then(|| quote!(#[allow(clippy::too_many_arguments)]));
        let (allow_new, allow_init) = (allow(names.len()), allow(shapes.len() + 1));
        quote! {
            #new_doc
            #allow_new
            pub fn new(#(#names: #types),*) -> #rt::Result<Self> {
                let #model = Self { #(#names,)* #phantom };
                #check #turbofish(#shapes_fn(&#model), #context, #(#nones),*)?;
                #rt::Ok(#model)
            }

            #init_doc
            #allow_init
            pub fn init(#seed: u64, #(#shapes),*) -> #rt::Result<Self> {
                #known
                #check #turbofish([#(&#sized),*], #init_context, #(#nones),*)?;
                let mut #rng = #rt::init::Init::new(#seed);
                Self::new(#(#draws),*)
            }
        }
    }

    /// What `init` takes besides the seed: nothing when every dim of every parameter is a
    /// number in the text, the named ones when the rest are, or else every shape.
    pub(super) fn init_dims(&self, gr: &Graphed<'_>) -> InitDims {
        let g = &gr.lowered.graph;
        let mut named: Vec<String> = Vec::new();
        for v in self.params() {
            for &d in g.shape(v.node) {
                match (g.dims.known(d), g.dims.label(d)) {
                    (Some(_), _) => {}
                    (None, Some(label)) => {
                        if !named.iter().any(|l| l == label) {
                            named.push(label.to_string());
                        }
                    }
                    (None, None) => return InitDims::Shapes,
                }
            }
        }
        if named.is_empty() {
            InitDims::Fixed
        } else {
            InitDims::Named(named)
        }
    }

    /// PyTorch's fan-in for each parameter: the dim a weight contracts over in its first
    /// `@`, or that of the weight whose product a bias is first added to; 1 otherwise.
    fn fan_ins(&self, gr: &Graphed<'_>) -> Vec<TokenStream> {
        let g = &gr.lowered.graph;
        let forward = &g.nodes[..=gr.lowered.loss.0];
        let unwrap_t = |n: NodeId| {
            if let Op::Linalg(Linalg::Transpose) = g.op(n) {
                (g.args(n)[0], true)
            } else {
                (n, false)
            }
        };
        // One pass each, so that a model of a thousand layers is not a million lookups.
        let mut contracted: HashMap<NodeId, usize> = HashMap::new();
        for node in forward {
            if let (Op::Linalg(Linalg::Matmul), &[a, b]) = (node.op, node.args.as_slice()) {
                let ((ua, ta), (ub, tb)) = (unwrap_t(a), unwrap_t(b));
                if g.rank(ub) == 2 {
                    contracted.entry(ub).or_insert(usize::from(tb));
                }
                if g.rank(ua) == 2 {
                    contracted.entry(ua).or_insert(usize::from(!ta));
                }
            }
        }
        let is_var = |n: NodeId| matches!(g.op(n), Op::Var(_));
        let mut weight_of_bias: HashMap<NodeId, NodeId> = HashMap::new();
        for node in forward {
            let Op::Arith(Arith::Add) = node.op else {
                continue;
            };
            for (p, b) in [(node.args[0], node.args[1]), (node.args[1], node.args[0])] {
                if weight_of_bias.contains_key(&b) {
                    continue;
                }
                if let (Op::Linalg(Linalg::Matmul), &[l, r]) = (g.op(p), g.args(p)) {
                    let w = [r, l]
                        .into_iter()
                        .map(|w| unwrap_t(w).0)
                        .find(|&w| is_var(w));
                    if let Some(w) = w.filter(|w| contracted.contains_key(w)) {
                        weight_of_bias.insert(b, w);
                    }
                }
            }
        }
        self.params()
            .iter()
            .map(|v| {
                let w = if contracted.contains_key(&v.node) {
                    v.node
                } else {
                    match weight_of_bias.get(&v.node) {
                        Some(&w) => w,
                        None => return quote!(1),
                    }
                };
                let (Op::Var(i), Some(axis)) = (g.op(w), contracted.get(&w)) else {
                    return quote!(1);
                };
                let wv = &g.vars[*i];
                let (w, axis) = (ident(&wv.name, wv.span), num(*axis));
                quote!(#w[#axis])
            })
            .collect()
    }
}
