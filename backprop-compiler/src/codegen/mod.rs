//! Graph -> `TokenStream`: the parameter struct, its `Grads` twin, and the methods
//! (`new`, `init`, `forward`, `loss`, `grad`, `grad_with_inputs`, `trace`), each a
//! straight line of kernel calls over exactly the nodes it needs, after checking every
//! tensor's shape.

use std::collections::HashMap;

use proc_macro2::{Delimiter, Group, Span, TokenStream, TokenTree};
use quote::{format_ident, quote, quote_spanned, ToTokens};
use syn::Ident;

use crate::ast::{self, Role};
use crate::derivation::Derivation;
use crate::expand::Compiled;
use crate::ir::{Graph, NodeId, Var};
use crate::lower::Lowered;
use crate::ops::emit::{emit, rt, Arg};
use crate::ops::{Arith, Linalg, Loss, Op, Reduce};
use crate::print::Printer;

mod methods;
mod traits;
mod workspace;

pub struct Codegen<'a> {
    model: &'a ast::Model,
    graph: &'a Graph,
    lowered: &'a Lowered,
    /// The gradients the methods return.
    adjoint: &'a [Option<NodeId>],
    /// The model as written, which `trace` follows, when this generates the other methods.
    traced: Option<Box<Codegen<'a>>>,
    name: Ident,
    /// The structs beside the model's: its gradients, its inputs' and its trace.
    grads_ty: Ident,
    input_grads_ty: Ident,
    trace_ty: Ident,
    workspace_ty: Ident,
    classes: (usize, HashMap<crate::ir::DimId, usize>),
}

impl<'a> Codegen<'a> {
    pub fn new(c: &'a Compiled) -> Self {
        let traced = Self::over(c, &c.traced, &c.traced_adjoint, None);
        Self::over(c, &c.lowered, &c.adjoint, Some(Box::new(traced)))
    }

    fn over(
        c: &'a Compiled,
        lowered: &'a Lowered,
        adjoint: &'a [Option<NodeId>],
        traced: Option<Box<Codegen<'a>>>,
    ) -> Self {
        let name = c.model.struct_name();
        let (grads_ty, input_grads_ty, trace_ty, workspace_ty) = companions(&name);
        Self {
            model: &c.model,
            graph: &lowered.graph,
            lowered,
            adjoint,
            traced,
            name,
            grads_ty,
            input_grads_ty,
            trace_ty,
            workspace_ty,
            classes: lowered.graph.dims.classes(),
        }
    }

    fn vars(&self, role: Role) -> Vec<&'a Var> {
        self.graph.vars.iter().filter(|v| v.role == role).collect()
    }

    fn grad_of(&self, node: NodeId) -> Option<NodeId> {
        self.adjoint.get(node.0).copied().flatten()
    }

    pub fn generate(&self) -> TokenStream {
        let model = self.model;
        let rt = rt();
        let attrs = &model.attrs;
        let vis = &model.vis;
        let name = &self.name;
        let (grads, input_grads, trace) = (&self.grads_ty, &self.input_grads_ty, &self.trace_ty);
        let params = self.vars(Role::Param);
        let inputs = self.vars(Role::Input);
        let fields = |vars: &[&Var], doc: &str| -> Vec<TokenStream> {
            vars.iter()
                .map(|v| {
                    let f = ident(&v.name, v.span);
                    // The whole field at the name's token, so that rustc's errors about
                    // it (a `#[derive(Copy)]` on the model) land there.
                    let ty = respan(array_ty(self.graph.rank(v.node)), v.span);
                    let doc = format!("{doc} `{}`.", v.name);
                    quote_spanned!(v.span=> #[doc = #doc] pub #f: #ty)
                })
                .collect()
        };
        let mut param_fields = fields(&params, "Parameter");
        let mut grad_fields = fields(&params, "The loss's gradient with respect to");
        // A model without parameters still has an element type.
        if params.is_empty() {
            let phantom = quote!(#[doc(hidden)] pub __element: ::core::marker::PhantomData<A>);
            param_fields.push(phantom.clone());
            grad_fields.push(phantom);
        }
        let input_fields = fields(&inputs, "The loss's gradient with respect to the input");
        let trace_fields = self.trace_fields();
        let specs = self.specs();
        let plan = self.plan();
        let workspace = self.workspace_struct(&plan);
        let traits = self.trait_impls();
        let methods = [
            self.constructors(),
            self.forward(),
            self.loss(),
            self.grad(),
            self.grad_with_inputs(),
            self.traced
                .as_ref()
                .map_or_else(TokenStream::new, |t| t.trace()),
            self.workspace_methods(&plan),
        ];
        let grads_doc = format!("Gradients of [`{name}`]'s loss, one per parameter.");
        let inputs_doc = format!("Gradients of [`{name}`]'s loss with respect to its inputs.");
        let trace_doc = format!(
            "Every value of one pass of [`{name}`]: each `let`, the output, the loss, and the gradient with respect to each."
        );
        let derivation = Derivation::new(self.lowered, self.adjoint);
        let text = derivation.text();
        let latex = derivation.latex();
        let doc = format!(
            "# Derivation\n\nThe chain rule of this model, as its gradients are computed \
             (also [`{name}::DERIVATION`], and in LaTeX [`{name}::DERIVATION_LATEX`]):\n\n\
             ```text\n{text}```"
        );
        // A line per attribute, as `///` comments are.
        let doc = doc.lines().map(|l| format!(" {l}"));
        let separator = (!attrs.is_empty()).then(|| quote!(#[doc = ""]));
        let items = quote! {
            #(#attrs)*
            #separator
            #(#[doc = #doc])*
            #[derive(Debug, Clone, PartialEq)]
            #vis struct #name<A = f32> {
                #(#param_fields,)*
            }

            #[doc = #grads_doc]
            #[derive(Debug, Clone, PartialEq, Default)]
            #vis struct #grads<A = f32> {
                #(#grad_fields,)*
            }

            #[doc = #inputs_doc]
            #[derive(Debug, Clone, PartialEq)]
            #vis struct #input_grads<A = f32> {
                #(#input_fields,)*
                #[doc(hidden)]
                pub __element: ::core::marker::PhantomData<A>,
            }

            #[doc = #trace_doc]
            #[derive(Debug, Clone, PartialEq)]
            #vis struct #trace<A = f32> {
                #(#trace_fields,)*
            }

            #workspace

            const _: () = {
                use ::backprop::__private as #rt;

                impl<A: #rt::Float> #name<A> {
                    #specs
                    #(#methods)*
                }

                #traits
            };
        };
        let code = pretty(&items);
        quote! {
            #items

            impl #name {
                /// The chain rule of this model, step by step: each forward definition,
                /// then each gradient in the order it is computed, over the model's own
                /// names (`δz1` for the gradient of the loss with respect to `z1`,
                /// `∂L/∂w1` for a parameter's), with the rules that shaped each line.
                pub const DERIVATION: &'static str = #text;
                /// [`Self::DERIVATION`] in LaTeX, one `aligned` block.
                pub const DERIVATION_LATEX: &'static str = #latex;
                /// The Rust this model expands to, pretty-printed: every item of the
                /// expansion but these three constants.
                pub const CODE: &'static str = #code;
            }
        }
    }

    fn trace_fields(&self) -> Vec<TokenStream> {
        let mut fields = Vec::new();
        for (name, node) in self.named_values() {
            let f = ident(&name, Span::call_site());
            let d = d_ident(&name);
            let ty = array_ty(self.graph.rank(node));
            let doc = format!("The value of `{name}`.");
            let d_doc = format!("The loss's gradient with respect to `{name}`.");
            fields.push(quote!(#[doc = #doc] pub #f: #ty));
            fields.push(quote!(#[doc = #d_doc] pub #d: #ty));
        }
        let (grads, inputs) = (&self.grads_ty, &self.input_grads_ty);
        fields.push(quote!(#[doc = "The loss."] pub loss: A));
        fields.push(quote!(#[doc = "The gradients of the parameters."] pub grads: #grads<A>));
        fields.push(quote!(#[doc = "The gradients of the inputs."] pub inputs: #inputs<A>));
        fields
    }

    /// The `let` bindings and `out`, in order.
    fn named_values(&self) -> Vec<(String, NodeId)> {
        let mut all: Vec<(String, NodeId)> = self
            .lowered
            .lets
            .iter()
            .map(|(n, node)| (n.to_string(), *node))
            .collect();
        all.push(("out".to_string(), self.lowered.out));
        all
    }

    fn constructors(&self) -> TokenStream {
        let rt = rt();
        let params = self.vars(Role::Param);
        let names: Vec<Ident> = params.iter().map(|v| ident(&v.name, v.span)).collect();
        let types: Vec<TokenStream> = params
            .iter()
            .map(|v| array_ty(self.graph.rank(v.node)))
            .collect();
        let phantom = phantom(&params);
        let checks = self.checks("new", &params, |v| {
            let f = ident(&v.name, v.span);
            quote!(#f.shape())
        });
        let ranks: Vec<usize> = params.iter().map(|v| self.graph.rank(v.node)).collect();
        let fan_ins = self.fan_ins(&params);
        // The seed's name, unless a parameter has it.
        let seed = if params.iter().any(|v| v.name == "seed") {
            format_ident!("__seed")
        } else {
            format_ident!("seed")
        };
        let new_doc = format!(
            "The model with these parameters.\n\n# Errors\n\n[`ShapeError`]({rt_path}::ShapeError) when their shapes do not fit together.",
            rt_path = "::backprop"
        );
        let init_doc = "Parameters of the given shapes drawn from a generator seeded with `seed`, \
            as PyTorch's `nn.Linear` initialises them: uniform in `±1/sqrt(fan_in)` for a weight \
            and for the bias added to its product, uniform in `±1` for other parameters.\n\n\
            # Errors\n\n`ShapeError` when the shapes do not fit together.";
        quote! {
            #[doc = #new_doc]
            pub fn new(#(#names: #types),*) -> ::core::result::Result<Self, #rt::ShapeError> {
                #checks
                ::core::result::Result::Ok(Self { #(#names,)* #phantom })
            }

            #[doc = #init_doc]
            pub fn init(#seed: u64, #(#names: [usize; #ranks]),*) -> ::core::result::Result<Self, #rt::ShapeError> {
                let mut __rng = #rt::init::Init::new(#seed);
                Self::new(#(__rng.linear(#rt::ndarray::Dim(#names), #fan_ins)),*)
            }
        }
    }

    /// PyTorch's fan-in for each parameter: the dim a weight contracts over in its first
    /// `@`, or that of the weight whose product a bias is first added to; 1 otherwise.
    fn fan_ins(&self, params: &[&Var]) -> Vec<TokenStream> {
        let g = self.graph;
        let forward = &g.nodes[..=self.lowered.loss.0];
        let unwrap_t = |n: NodeId| match g.op(n) {
            Op::Linalg(Linalg::Transpose) => (g.args(n)[0], true),
            _ => (n, false),
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
        params
            .iter()
            .map(|v| {
                let w = if contracted.contains_key(&v.node) {
                    v.node
                } else {
                    match weight_of_bias.get(&v.node) {
                        Some(&w) => w,
                        None => return quote!(1usize),
                    }
                };
                let (Op::Var(i), Some(axis)) = (g.op(w), contracted.get(&w)) else {
                    return quote!(1usize);
                };
                let wv = &g.vars[*i];
                let w = ident(&wv.name, wv.span);
                quote!(#w[#axis])
            })
            .collect()
    }

    /// One `TensorSpec` per tensor the model takes, as hidden associated constants.
    fn specs(&self) -> TokenStream {
        let rt = rt();
        let specs = self.graph.vars.iter().enumerate().map(|(i, v)| {
            let axes = self.graph.shape(v.node).iter().map(|&d| {
                let class = self.class(d);
                let fixed = option(self.graph.dims.known(d));
                let label = match self.graph.dims.label(d) {
                    Some(l) => quote!(::core::option::Option::Some(#l)),
                    None => quote!(::core::option::Option::None),
                };
                quote!(#rt::shape::AxisSpec { class: #class, fixed: #fixed, label: #label })
            });
            let name = &v.name;
            let site = if v.site.is_empty() {
                v.name.clone()
            } else {
                v.site.clone()
            };
            let spec = spec_ident(i);
            quote! {
                #[doc(hidden)]
                const #spec: #rt::shape::TensorSpec = #rt::shape::TensorSpec {
                    name: #name,
                    axes: &[#(#axes),*],
                    site: #site,
                };
            }
        });
        quote!(#(#specs)*)
    }

    /// Shape checks of `vars` for method `method`, then of every column select.
    fn checks(
        &self,
        method: &str,
        vars: &[&Var],
        shape: impl Fn(&Var) -> TokenStream,
    ) -> TokenStream {
        let rt = rt();
        let k = self.classes.0;
        let context = format!("{}::{method}", self.name);
        let checks = vars.iter().map(|v| {
            let Op::Var(i) = self.graph.op(v.node) else {
                return TokenStream::new();
            };
            let spec = spec_ident(*i);
            let actual = shape(v);
            quote!(__dims.check(&Self::#spec, #actual)?;)
        });
        let mut printer = Printer::new(self.graph);
        for (n, node) in self.named_values() {
            printer.name(node, &n);
        }
        let checked: Vec<&str> = vars.iter().map(|v| v.name.as_str()).collect();
        let columns = self.graph.nodes[..=self.lowered.loss.0]
            .iter()
            .enumerate()
            .filter_map(|(i, node)| match node.op {
                Op::Reduce(Reduce::Column(col)) => {
                    let arg = node.args[0];
                    let class = self.class(self.graph.shape(arg)[1]);
                    let tensor = printer.show(arg);
                    let site = printer.print(NodeId(i));
                    Some(quote!(__dims.check_column(#class, #col, #tensor, #site)?;))
                }
                // Labels past the last class, before any arithmetic.
                Op::Loss(Loss::CrossEntropy) => {
                    let (logits, labels) = (node.args[0], node.args[1]);
                    let Op::Var(v) = self.graph.op(labels) else {
                        return None;
                    };
                    let var = &self.graph.vars[*v];
                    if !checked.contains(&var.name.as_str()) {
                        return None;
                    }
                    let class = self.class(self.graph.shape(logits)[1]);
                    let f = ident(&var.name, var.span);
                    let name = &var.name;
                    let site = printer.print(NodeId(i));
                    Some(quote!(__dims.check_labels(#class, #f.iter(), #name, #site)?;))
                }
                _ => None,
            });
        quote! {
            let mut __dims = #rt::shape::Dims::<#k>::new(#context);
            #(#checks)*
            #(#columns)*
        }
    }

    fn class(&self, d: crate::ir::DimId) -> usize {
        self.classes
            .1
            .get(&self.graph.dims.find(d))
            .copied()
            .unwrap_or_default()
    }

    /// The arguments of a method taking `roles`, and the lines that turn them into views.
    fn arguments(&self, roles: &[Role]) -> (Vec<TokenStream>, TokenStream) {
        let nd = quote!(::backprop::__private::ndarray);
        let vars: Vec<&Var> = roles.iter().flat_map(|&r| self.vars(r)).collect();
        let element = |v: &Var| if v.labels { quote!(usize) } else { quote!(A) };
        let args = vars.iter().map(|v| {
            let f = ident(&v.name, v.span);
            let (ix, el) = (ix(self.graph.rank(v.node)), element(v));
            quote!(#f: impl #nd::AsArray<'__a, #el, #ix>)
        });
        let views = vars.iter().map(|v| {
            let f = ident(&v.name, v.span);
            let (ix, el) = (ix(self.graph.rank(v.node)), element(v));
            quote!(let #f: #nd::ArrayView<'__a, #el, #ix> = #f.into();)
        });
        (args.collect(), quote!(#(#views)*))
    }

    fn prologue(&self, method: &str, roles: &[Role]) -> (Vec<TokenStream>, TokenStream) {
        let (args, views) = self.arguments(roles);
        let mut vars = self.vars(Role::Param);
        for &r in roles {
            vars.extend(self.vars(r));
        }
        let checks = self.checks(method, &vars, |v| {
            let f = ident(&v.name, v.span);
            if v.role == Role::Param {
                quote!(self.#f.shape())
            } else {
                quote!(#f.shape())
            }
        });
        (args, quote!(#views #checks))
    }

    /// Where a method finds the model's `v`-th tensor: a field of `self` for a parameter,
    /// the argument's view for an input or a target.
    fn binding(&self, v: usize) -> TokenStream {
        let var = &self.graph.vars[v];
        let f = ident(&var.name, var.span);
        match var.role {
            Role::Param => quote!(self.#f),
            Role::Input | Role::Target => quote!(#f),
        }
    }

    /// `let __nK = ...;` for every node the roots need, children first.
    fn body(&self, roots: &[NodeId]) -> TokenStream {
        let g = self.graph;
        let mut needed = vec![false; g.nodes.len()];
        let mut stack: Vec<NodeId> = roots.to_vec();
        while let Some(n) = stack.pop() {
            if std::mem::replace(&mut needed[n.0], true) {
                continue;
            }
            let inlined = g.op(n).is_elementwise();
            for &a in g.args(n) {
                if !(inlined && g.konst(a).is_some()) {
                    stack.push(a);
                }
            }
        }
        let lines = (0..g.nodes.len()).filter(|&i| needed[i]).map(|i| {
            let id = NodeId(i);
            let args: Vec<Arg> = g
                .args(id)
                .iter()
                .map(|&a| Arg {
                    value: node_ident(a).into_token_stream(),
                    konst: g.konst(a),
                    rank: g.rank(a),
                })
                .collect();
            let leaf = |v: usize| {
                let b = self.binding(v);
                quote!(#b.view())
            };
            let value = emit(g.op(id), &args, &leaf);
            let name = node_ident(id);
            quote!(let #name = #value;)
        });
        // Extending moves each line's tokens; interpolating would copy them once per level
        // of nesting, which dominates the time to expand a large model.
        let mut body = TokenStream::new();
        body.extend(lines);
        body
    }
}

/// A method's body: the prologue, the lines, then `tail`, moved into one braced group (a
/// group is cheap to interpolate; a long stream of statements is not).
fn block(prologue: TokenStream, body: TokenStream, tail: TokenStream) -> Group {
    let mut all = prologue;
    all.extend([body, tail]);
    Group::new(Delimiter::Brace, all)
}

/// `tokens` with every span set to `span`.
fn respan(tokens: TokenStream, span: Span) -> TokenStream {
    tokens
        .into_iter()
        .map(|mut t| {
            if let TokenTree::Group(g) = &t {
                let mut inner = Group::new(g.delimiter(), respan(g.stream(), span));
                inner.set_span(span);
                t = TokenTree::Group(inner);
            } else {
                t.set_span(span);
            }
            t
        })
        .collect()
}

/// The hidden field of a struct whose model has no parameters.
fn phantom(params: &[&Var]) -> TokenStream {
    if params.is_empty() {
        quote!(__element: ::core::marker::PhantomData)
    } else {
        TokenStream::new()
    }
}

fn spec_ident(var: usize) -> Ident {
    format_ident!("__SPEC_{}", var)
}

fn node_ident(id: NodeId) -> Ident {
    format_ident!("__n{}", id.0)
}

/// The value of node `id` to return: moved out when it is returned once, else copied.
fn take(id: NodeId, uses: usize) -> TokenStream {
    let n = node_ident(id);
    if uses <= 1 {
        quote!(#n.into_owned())
    } else {
        quote!(#n.to_owned())
    }
}

fn grad_or_zeros(
    grad: Option<NodeId>,
    uses: &HashMap<NodeId, usize>,
    tensor: TokenStream,
) -> TokenStream {
    match grad {
        Some(g) => take(g, count(uses, g)),
        None => quote!(::backprop::__private::ndarray::Array::zeros(#tensor.raw_dim())),
    }
}

/// How many times each root is returned.
fn uses(roots: &[NodeId]) -> HashMap<NodeId, usize> {
    let mut uses = HashMap::new();
    for &r in roots {
        *uses.entry(r).or_default() += 1;
    }
    uses
}

fn count(uses: &HashMap<NodeId, usize>, id: NodeId) -> usize {
    uses.get(&id).copied().unwrap_or_default()
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

pub fn ix(rank: usize) -> TokenStream {
    let ix = format_ident!("Ix{}", rank);
    quote!(::backprop::__private::ndarray::#ix)
}

pub fn array_ty(rank: usize) -> TokenStream {
    let ix = ix(rank);
    quote!(::backprop::__private::ndarray::Array<A, #ix>)
}

fn option(v: Option<usize>) -> TokenStream {
    match v {
        Some(n) => quote!(::core::option::Option::Some(#n)),
        None => quote!(::core::option::Option::None),
    }
}

/// Expansions longer than this (in bytes of Rust, about 150 layers) are given in `CODE` as
/// the compiler receives them, not laid out: parsing the expansion to lay it out takes
/// about 0.15 s per megabyte, which for a model of a thousand layers would triple the time
/// of the whole expansion.
const PRETTY_LIMIT: usize = 1 << 20;

/// `items` as `rustfmt` would lay them out, or their token text when they are longer than
/// [`PRETTY_LIMIT`] (or, which does not happen, do not parse as a file).
fn pretty(items: &TokenStream) -> String {
    let text = items.to_string();
    if text.len() > PRETTY_LIMIT {
        return text;
    }
    match syn::parse_str::<syn::File>(&text) {
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
