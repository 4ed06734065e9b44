//! The allocation-free path of a training step: a workspace struct holding one buffer per
//! tensor the step must keep, and `grad_in`, which writes every value into its buffer.
//!
//! The plan decides where each value of the graph lives:
//! - a scalar (rank 0) is a local of type `A`;
//! - a tensor the model takes, a transpose, a column and a spread sum are views, no copies;
//! - an elementwise op with one consumer, itself elementwise and of the same shape, is
//!   inlined into the consumer's closure, so a chain (bias add, activation, the loss
//!   derivative, a mask) is one pass over memory; a chain under a full sum is folded;
//! - the root of a chain writes into a buffer of its own, or in place into the buffer of a
//!   matrix product that nothing else reads (bias add and activation on the matmul output);
//! - a parameter's gradient is written straight into the workspace's gradients.

use std::collections::HashMap;

use proc_macro2::TokenStream;
use quote::{format_ident, quote};
use syn::Ident;

use super::{array_ty, ident, Codegen};
use crate::ast::Role;
use crate::ir::{Graph, NodeId};
use crate::ops::emit::{constant, rt, scalar};
use crate::ops::lanes::{self, Lanes};
use crate::ops::{Linalg, Loss, Op, Reduce};

/// The most arrays one fused pass reads besides its output (the runtime's `fill5`).
const MAX_PARTS: usize = 5;

#[derive(Clone, Debug, PartialEq)]
enum Kind {
    /// Not needed by the step.
    Unused,
    /// A local of type `A`.
    Scalar,
    /// An expression giving a view: a tensor the model takes, a transpose, a column.
    View,
    /// The adjoint of a sum read only by fused passes: a view they broadcast.
    Spread,
    /// Computed inside its one consumer's pass.
    Inline,
    /// Written into a buffer.
    Stored(Place),
}

#[derive(Clone, Debug, PartialEq)]
enum Place {
    /// The workspace's buffer for this node.
    Own,
    /// The workspace's gradient of a parameter (its index among the graph's tensors).
    Grad(usize),
    /// In place in the buffer of another node, which nothing else reads.
    Alias(NodeId),
}

pub(super) struct Plan {
    kind: Vec<Kind>,
    /// Per group root, the arrays its pass reads, in order (the in-place one excluded).
    parts: HashMap<NodeId, Vec<NodeId>>,
    /// The parameters (by index among the graph's tensors) whose gradient is one matrix
    /// product that nothing else reads, of operands that are not parameters: `step` adds
    /// `-lr` times that product to the parameter in the product's own pass, after every
    /// other value, instead of storing the gradient and updating from it.
    updates: Vec<(usize, NodeId)>,
}

/// The arguments whose values `n` reads.
fn read_args(g: &Graph, n: NodeId) -> &[NodeId] {
    g.op(n).value_args(g.args(n))
}

impl Plan {
    pub(super) fn new(g: &Graph, roots: &[NodeId], grads: &[(usize, Option<NodeId>)]) -> Self {
        let len = g.nodes.len();
        let mut needed = vec![false; len];
        let mut stack = roots.to_vec();
        while let Some(n) = stack.pop() {
            if !std::mem::replace(&mut needed[n.0], true) {
                stack.extend_from_slice(read_args(g, n));
            }
        }
        let mut consumers: Vec<Vec<NodeId>> = vec![Vec::new(); len];
        for i in (0..len).filter(|&i| needed[i]) {
            for &a in read_args(g, NodeId(i)) {
                consumers[a.0].push(NodeId(i));
            }
        }
        let mut rooted = vec![false; len];
        for r in roots {
            rooted[r.0] = true;
        }
        let elementwise = |n: NodeId| g.op(n).is_elementwise() && g.rank(n) > 0;
        let full_sum = |n: NodeId| {
            matches!(g.op(n), Op::Reduce(Reduce::Sum { keep: false, .. })) && g.rank(n) == 0
        };
        // Whether `n` may run inside its one consumer's pass.
        let fusible = |n: NodeId| {
            let [c] = consumers[n.0][..] else {
                return false;
            };
            elementwise(n)
                && !rooted[n.0]
                && ((elementwise(c) && g.same_shape(n, c)) || full_sum(c))
        };
        let mut kind: Vec<Kind> = (0..len)
            .map(|i| {
                let n = NodeId(i);
                if !needed[i] {
                    return Kind::Unused;
                }
                if g.rank(n) == 0 {
                    return Kind::Scalar;
                }
                match g.op(n) {
                    Op::Var(_) | Op::Linalg(Linalg::Transpose) | Op::Reduce(Reduce::Column(_)) => {
                        Kind::View
                    }
                    Op::Reduce(Reduce::Unsum { .. })
                        if !rooted[i] && consumers[i].iter().all(|&c| elementwise(c)) =>
                    {
                        Kind::Spread
                    }
                    _ if fusible(n) => Kind::Inline,
                    _ => Kind::Stored(Place::Own),
                }
            })
            .collect();
        // Groups, parents first: a child that would take a pass past MAX_PARTS arrays is
        // stored instead, and roots its own group later.
        let mut parts = HashMap::new();
        for i in (0..len).rev() {
            let root = NodeId(i);
            let is_root = match kind[i] {
                Kind::Stored(_) => elementwise(root),
                Kind::Scalar => full_sum(root) && kind[g.args(root)[0].0] == Kind::Inline,
                _ => false,
            };
            if !is_root {
                continue;
            }
            let top = if full_sum(root) {
                g.args(root)[0]
            } else {
                root
            };
            let mut leaves: Vec<NodeId> = Vec::new();
            let mut members = vec![top];
            while let Some(m) = members.pop() {
                for &a in g.args(m) {
                    if kind[a.0] == Kind::Inline {
                        let more = array_args(g, &kind, a)
                            .into_iter()
                            .filter(|x| !leaves.contains(x))
                            .count();
                        if leaves.len() + more <= MAX_PARTS {
                            members.push(a);
                            continue;
                        }
                        kind[a.0] = Kind::Stored(Place::Own);
                    }
                    if is_array(g, &kind, a) && !leaves.contains(&a) {
                        leaves.push(a);
                    }
                }
            }
            parts.insert(root, leaves);
        }
        let mut plan = Self {
            kind,
            parts,
            updates: Vec::new(),
        };
        plan.place_grads(grads);
        plan.in_place(g, &consumers, &rooted);
        plan.updates = grads
            .iter()
            .filter_map(|&(var, grad)| Some((var, grad?)))
            .filter(|&(var, n)| {
                plan.kind[n.0] == Kind::Stored(Place::Grad(var))
                    && *g.op(n) == Op::Linalg(Linalg::Matmul)
                    && consumers[n.0].is_empty()
                    && g.args(n)
                        .iter()
                        .all(|&a| g.rank(a) == 2 && !views_param(g, a))
            })
            .collect();
        plan
    }

    /// Each parameter's gradient is written into the workspace's gradients when it is
    /// stored and not the gradient of another parameter too.
    fn place_grads(&mut self, grads: &[(usize, Option<NodeId>)]) {
        for &(var, grad) in grads {
            let Some(n) = grad else { continue };
            if self.kind[n.0] == Kind::Stored(Place::Own) {
                self.kind[n.0] = Kind::Stored(Place::Grad(var));
            }
        }
    }

    /// A pass writing a buffer of its own takes over the buffer of an array it reads
    /// when nothing else reads that array and the shapes are the same.
    fn in_place(&mut self, g: &Graph, consumers: &[Vec<NodeId>], rooted: &[bool]) {
        let roots: Vec<NodeId> = self.parts.keys().copied().collect();
        for root in roots {
            if self.kind[root.0] != Kind::Stored(Place::Own) {
                continue;
            }
            let Some(leaves) = self.parts.get(&root) else {
                continue;
            };
            let host = leaves.iter().copied().find(|&l| {
                matches!(self.kind[l.0], Kind::Stored(Place::Own | Place::Alias(_)))
                    && consumers[l.0].len() == 1
                    && !rooted[l.0]
                    && g.same_shape(l, root)
            });
            if let Some(h) = host {
                self.kind[root.0] = Kind::Stored(Place::Alias(h));
                if let Some(leaves) = self.parts.get_mut(&root) {
                    leaves.retain(|&l| l != h);
                }
            }
        }
    }

    fn is_stored_own(&self, n: NodeId) -> bool {
        self.kind[n.0] == Kind::Stored(Place::Own)
    }

    /// The node whose buffer a stored node writes: itself, or the one it works in place on.
    fn host(&self, mut n: NodeId) -> NodeId {
        while let Kind::Stored(Place::Alias(h)) = self.kind[n.0] {
            n = h;
        }
        n
    }

    /// The in-place array of a group root, if any.
    fn alias(&self, n: NodeId) -> Option<NodeId> {
        match self.kind[n.0] {
            Kind::Stored(Place::Alias(h)) => Some(h),
            _ => None,
        }
    }

    /// The nodes with a buffer of their own in the workspace.
    pub(super) fn buffers(&self) -> impl Iterator<Item = NodeId> + '_ {
        (0..self.kind.len())
            .map(NodeId)
            .filter(|&n| self.is_stored_own(n))
    }
}

/// Whether `n` is a parameter or a view of one (a transpose, a column), whose value a
/// parameter update changes.
fn views_param(g: &Graph, n: NodeId) -> bool {
    match *g.op(n) {
        Op::Var(i) => g.vars.get(i).is_some_and(|v| v.role == Role::Param),
        Op::Linalg(Linalg::Transpose) | Op::Reduce(Reduce::Column(_)) => {
            views_param(g, g.args(n)[0])
        }
        _ => false,
    }
}

/// Whether a fused pass reads `a` as an array (not a constant or a scalar).
fn is_array(g: &Graph, kind: &[Kind], a: NodeId) -> bool {
    g.konst(a).is_none() && kind[a.0] != Kind::Scalar && !spread_scalar(g, kind, a)
}

/// A spread of a scalar, which a pass reads as that scalar.
fn spread_scalar(g: &Graph, kind: &[Kind], a: NodeId) -> bool {
    kind[a.0] == Kind::Spread && g.rank(g.args(a)[0]) == 0
}

/// The arrays an inlined node reads directly.
fn array_args(g: &Graph, kind: &[Kind], n: NodeId) -> Vec<NodeId> {
    g.args(n)
        .iter()
        .copied()
        .filter(|&a| kind[a.0] != Kind::Inline && is_array(g, kind, a))
        .collect()
}

fn buffer_ident(n: NodeId) -> Ident {
    format_ident!("__b{}", n.0)
}

fn local_ident(n: NodeId) -> Ident {
    format_ident!("__n{}", n.0)
}

impl Codegen<'_> {
    /// The parameters' gradients, by name.
    fn param_grads(&self) -> Vec<(usize, Option<NodeId>)> {
        self.graph
            .vars
            .iter()
            .enumerate()
            .filter(|(_, v)| v.role == Role::Param)
            .map(|(i, v)| (i, self.grad_of(v.node)))
            .collect()
    }

    pub(super) fn plan(&self) -> Plan {
        let grads = self.param_grads();
        let mut roots = vec![self.lowered.loss];
        roots.extend(grads.iter().filter_map(|(_, g)| *g));
        Plan::new(self.graph, &roots, &grads)
    }

    /// The workspace struct and its impl.
    pub(super) fn workspace_struct(&self, plan: &Plan) -> TokenStream {
        let rt = rt();
        let vis = &self.model.vis;
        let name = &self.name;
        let ty = &self.workspace_ty;
        let grads_ty = &self.grads_ty;
        let k = self.classes.0;
        let fields = plan.buffers().map(|n| {
            let f = buffer_ident(n);
            let t = array_ty(self.graph.rank(n));
            quote!(#f: #t)
        });
        let doc = format!(
            "The buffers of [`{name}::grad_in`] for one set of shapes: the first call with a batch \
             size allocates them, and later calls with the same shapes allocate nothing."
        );
        quote! {
            #[doc = #doc]
            #[derive(Debug, Clone, Default)]
            #vis struct #ty<A = f32> {
                grads: #grads_ty<A>,
                dims: ::core::option::Option<[usize; #k]>,
                #(#fields,)*
            }

            const _: () = {
                use ::backprop::__private as #rt;

                impl<A: #rt::Float> #ty<A> {
                    /// An empty workspace; the first step sizes it.
                    pub fn new() -> Self {
                        ::core::default::Default::default()
                    }

                    /// The gradients of the last step.
                    pub fn grads(&self) -> &#grads_ty<A> {
                        &self.grads
                    }
                }
            };
        }
    }

    /// `grad_in`, `step` and `sgd`.
    pub(super) fn workspace_methods(&self, plan: &Plan) -> TokenStream {
        let rt = rt();
        let ty = &self.workspace_ty;
        let grads_ty = &self.grads_ty;
        let roles = [Role::Input, Role::Target];
        let (args, prologue) = self.prologue("grad_in", &roles);
        let (step_args, step_prologue) = self.prologue("step", &roles);
        let sizing = self.sizing(plan);
        let body = self.steps(plan, false);
        let step_body = self.steps(plan, true);
        let loss = local_ident(self.lowered.loss);
        let params = self.vars(Role::Param);
        let updates = params.iter().map(|v| {
            let f = ident(&v.name, v.span);
            quote!(#rt::fused::sgd(self.#f.view_mut(), grads.#f.view(), lr)?;)
        });
        let step_updates = self.fused_updates(plan);
        quote! {
            /// A workspace for [`Self::grad_in`] and [`Self::step`].
            pub fn workspace(&self) -> #ty<A> {
                #ty::new()
            }

            /// The loss and its gradient with respect to every parameter, as [`Self::grad`]
            /// computes them, written into `ws`: after the first call with these shapes, no
            /// allocation.
            ///
            /// # Errors
            ///
            /// `ShapeError` naming the tensor whose shape does not fit.
            #[allow(unused_parens, unused_variables)]
            pub fn grad_in<'__w, '__a>(&self, ws: &'__w mut #ty<A>, #(#args),*) -> ::core::result::Result<(A, &'__w #grads_ty<A>), #rt::ShapeError> {
                #prologue
                #sizing
                #body
                ::core::result::Result::Ok((#loss, &ws.grads))
            }

            /// One step of stochastic gradient descent: `p -= lr * grad` for each parameter.
            ///
            /// # Errors
            ///
            /// `ShapeError` when a gradient's shape is not its parameter's.
            pub fn sgd(&mut self, grads: &#grads_ty<A>, lr: A) -> ::core::result::Result<(), #rt::ShapeError> {
                #(#updates)*
                ::core::result::Result::Ok(())
            }

            /// One training step, [`Self::grad_in`] then [`Self::sgd`] in effect, with the
            /// update fused where it can be: a gradient that is one matrix product
            /// (`dz^T @ h`) is added, times `-lr`, to its parameter in that product's own
            /// pass, never stored. The gradients `ws` holds afterwards are therefore not all
            /// this step's; call [`Self::grad_in`] to read them. Returns the loss before the
            /// step.
            ///
            /// # Errors
            ///
            /// `ShapeError` naming the tensor whose shape does not fit.
            #[allow(unused_parens, unused_variables)]
            pub fn step<'__a>(&mut self, ws: &mut #ty<A>, #(#step_args,)* lr: A) -> ::core::result::Result<A, #rt::ShapeError> {
                #step_prologue
                #sizing
                #step_body
                #step_updates
                ::core::result::Result::Ok(#loss)
            }
        }
    }

    /// The parameter updates ending `step`: the fused products of [`Plan::updates`],
    /// then `p -= lr * grad` from the workspace for every other parameter.
    fn fused_updates(&self, plan: &Plan) -> TokenStream {
        let rt = rt();
        self.param_grads()
            .into_iter()
            .map(|(i, _)| {
                let v = &self.graph.vars[i];
                let f = ident(&v.name, v.span);
                match plan.updates.iter().find(|&&(var, _)| var == i) {
                    Some(&(_, n)) => {
                        let args = self.graph.args(n);
                        let (a, b) = (self.view(plan, args[0]), self.view(plan, args[1]));
                        quote!(#rt::fused::matmul_add_into(#a, #b, self.#f.view_mut(), -lr)?;)
                    }
                    None => quote!(#rt::fused::sgd(self.#f.view_mut(), ws.grads.#f.view(), lr)?;),
                }
            })
            .collect()
    }

    /// The lengths of a node's axes, from the dims the prologue bound.
    fn dims_of(&self, n: NodeId) -> Vec<TokenStream> {
        self.graph
            .shape(n)
            .iter()
            .map(|&d| match self.graph.dims.known(d) {
                Some(len) => quote!(#len),
                None => {
                    let class = self.class(d);
                    quote!(__d[#class])
                }
            })
            .collect()
    }

    /// Reallocates every buffer when the shapes differ from the last call's.
    fn sizing(&self, plan: &Plan) -> TokenStream {
        let rt = rt();
        let buffers = plan.buffers().map(|n| {
            let f = buffer_ident(n);
            let dims = self.dims_of(n);
            quote!(ws.#f = #rt::ndarray::Array::zeros(#rt::ndarray::Dim([#(#dims),*]));)
        });
        let grads = self.vars(Role::Param).into_iter().map(|v| {
            let f = ident(&v.name, v.span);
            quote!(ws.grads.#f = #rt::ndarray::Array::zeros(self.#f.raw_dim());)
        });
        quote! {
            let __d = __dims.lengths();
            if ws.dims != ::core::option::Option::Some(__d) {
                #(#grads)*
                #(#buffers)*
                ws.dims = ::core::option::Option::Some(__d);
            }
        }
    }

    /// The statements computing every stored node and scalar, children first, then the
    /// gradients that are not written in place; for `step` (`fuse_updates`), without the
    /// gradients its updates fuse.
    fn steps(&self, plan: &Plan, fuse_updates: bool) -> TokenStream {
        let rt = rt();
        let g = self.graph;
        let mut out = TokenStream::new();
        for i in 0..g.nodes.len() {
            let n = NodeId(i);
            if fuse_updates && plan.updates.iter().any(|&(_, u)| u == n) {
                continue;
            }
            let line = match &plan.kind[i] {
                Kind::Scalar => {
                    let l = local_ident(n);
                    let value = self.scalar_value(plan, n);
                    quote!(let #l: A = #value;)
                }
                Kind::Stored(_) => self.store(plan, n),
                Kind::Unused | Kind::View | Kind::Spread | Kind::Inline => continue,
            };
            out.extend(line);
        }
        for (i, grad) in self.param_grads() {
            let var = &g.vars[i];
            let f = ident(&var.name, var.span);
            let line = match grad {
                None => quote!(ws.grads.#f.fill(<A as #rt::Float>::zero());),
                Some(n) if plan.kind[n.0] == Kind::Stored(Place::Grad(i)) => continue,
                Some(n) => {
                    let value = self.view(plan, n);
                    quote!(#rt::fused::fill1(ws.grads.#f.view_mut(), #value, |_, __v| __v)?;)
                }
            };
            out.extend(line);
        }
        out
    }

    /// The workspace field holding the stored node `n`: its own buffer, the one it works
    /// in place on, or a parameter's gradient.
    fn field(&self, plan: &Plan, n: NodeId) -> TokenStream {
        let host = plan.host(n);
        match plan.kind[host.0] {
            Kind::Stored(Place::Grad(i)) => {
                let var = &self.graph.vars[i];
                let f = ident(&var.name, var.span);
                quote!(ws.grads.#f)
            }
            _ => {
                let b = buffer_ident(host);
                quote!(ws.#b)
            }
        }
    }

    /// A view of the value of `n`.
    fn view(&self, plan: &Plan, n: NodeId) -> TokenStream {
        let rt = rt();
        let g = self.graph;
        match (&plan.kind[n.0], g.op(n)) {
            (Kind::Scalar, _) => {
                let l = local_ident(n);
                quote!(#rt::ndarray::aview0(&#l))
            }
            (Kind::View, Op::Var(v)) => {
                let b = self.binding(*v);
                quote!(#b.view())
            }
            (Kind::View, Op::Linalg(Linalg::Transpose)) => {
                let a = self.view(plan, g.args(n)[0]);
                quote!(#a.reversed_axes())
            }
            (Kind::View, Op::Reduce(Reduce::Column(k))) => {
                let a = self.view(plan, g.args(n)[0]);
                quote!(#rt::fused::column(#a, #k)?)
            }
            (Kind::Spread, Op::Reduce(Reduce::Unsum { axis, keep })) => {
                let a = self.view(plan, g.args(n)[0]);
                let axis = axis_tokens(*axis);
                quote!(#rt::fused::unsum_view(#a, #axis, #keep)?)
            }
            (Kind::Stored(_), _) => {
                let field = self.field(plan, n);
                quote!(#field.view())
            }
            _ => quote!(::core::compile_error!("no view of this value")),
        }
    }

    /// The scalar value of the rank-0 node `n`.
    fn scalar_value(&self, plan: &Plan, n: NodeId) -> TokenStream {
        let rt = rt();
        let g = self.graph;
        let args = g.args(n);
        let view = |i: usize| self.view(plan, args[i]);
        let local = |i: usize| {
            let l = local_ident(args[i]);
            quote!(#l)
        };
        match *g.op(n) {
            Op::Var(v) => {
                let b = self.binding(v);
                quote!(#b[()])
            }
            Op::Const(c) => constant(c.get()),
            Op::Reduce(Reduce::Count(axis)) => {
                let dims = self.dims_of(args[0]);
                let count = match axis {
                    Some(k) => dims.get(usize::from(k)).cloned(),
                    None if dims.is_empty() => None,
                    None => dims.into_iter().reduce(|a, b| quote!(#a * #b)),
                };
                let count = count.unwrap_or(quote!(1usize));
                quote!(<A as #rt::scalar::Real>::cst((#count) as f64))
            }
            Op::Reduce(Reduce::Sum { .. }) if plan.parts.contains_key(&n) => {
                let top = args[0];
                let parts = &plan.parts[&n];
                let fold = format_ident!("fold{}", parts.len());
                let dims = self.dims_of(top);
                let views = parts.iter().map(|&p| self.view(plan, p));
                let closure = self.closure(plan, top, parts, false);
                quote!(#rt::fused::#fold(#rt::ndarray::Dim([#(#dims),*]), #(#views,)* #closure)?)
            }
            Op::Reduce(Reduce::Sum { .. }) => {
                let a = view(0);
                quote!(#rt::fused::total(#a))
            }
            Op::Reduce(Reduce::Unsum { .. }) => local(0),
            Op::Linalg(Linalg::Matmul) => {
                let (a, b) = (view(0), view(1));
                quote!(#rt::fused::dot(#a, #b)?)
            }
            Op::Loss(Loss::Bce) => {
                let (a, b) = (view(0), view(1));
                quote!(#rt::loss::bce(#a, #b)?)
            }
            Op::Loss(Loss::BceLogits) => {
                let (a, b) = (view(0), view(1));
                quote!(#rt::loss::bce_logits(#a, #b)?)
            }
            Op::Loss(Loss::CrossEntropy) => {
                let (a, b) = (view(0), view(1));
                quote!(#rt::loss::cross_entropy(#a, #b)?)
            }
            ref op if op.is_elementwise() => {
                let scalars: Vec<TokenStream> = args
                    .iter()
                    .map(|&a| match g.konst(a) {
                        Some(c) => constant(c),
                        None => {
                            let l = local_ident(a);
                            quote!(#l)
                        }
                    })
                    .collect();
                scalar(op, &scalars)
            }
            _ => quote!(::core::compile_error!("no scalar form of this op")),
        }
    }

    /// The closure of a fused pass rooted at `top`: `|__o, __p0, ...| expr`, or without
    /// `__o` for a fold.
    fn closure(&self, plan: &Plan, top: NodeId, parts: &[NodeId], fill: bool) -> TokenStream {
        let names: Vec<Ident> = (0..parts.len())
            .map(|i| format_ident!("__p{}", i))
            .collect();
        let host = plan.alias(top);
        let body = self.fused_expr(plan, top, parts, &names, host);
        if fill {
            let o = if host.is_some() {
                quote!(__o)
            } else {
                quote!(_)
            };
            quote!(|#o: A, #(#names: A),*| #body)
        } else {
            quote!(|#(#names: A),*| #body)
        }
    }

    /// The scalar expression of `n` inside a fused pass.
    fn fused_expr(
        &self,
        plan: &Plan,
        n: NodeId,
        parts: &[NodeId],
        names: &[Ident],
        host: Option<NodeId>,
    ) -> TokenStream {
        let g = self.graph;
        let args: Vec<TokenStream> = g
            .args(n)
            .iter()
            .map(|&a| {
                if let Some(c) = g.konst(a) {
                    return constant(c);
                }
                if Some(a) == host {
                    return quote!(__o);
                }
                if let Some(i) = parts.iter().position(|&p| p == a) {
                    let p = &names[i];
                    return quote!(#p);
                }
                match plan.kind[a.0] {
                    Kind::Inline => {
                        let e = self.fused_expr(plan, a, parts, names, host);
                        quote!((#e))
                    }
                    Kind::Spread => {
                        let l = local_ident(g.args(a)[0]);
                        quote!(#l)
                    }
                    _ => {
                        let l = local_ident(a);
                        quote!(#l)
                    }
                }
            })
            .collect();
        scalar(g.op(n), &args)
    }

    /// The statement that writes the stored node `n`.
    fn store(&self, plan: &Plan, n: NodeId) -> TokenStream {
        let rt = rt();
        let g = self.graph;
        let args = g.args(n);
        let field = self.field(plan, n);
        let out = quote!(#field.view_mut());
        let view = |i: usize| self.view(plan, args[i]);
        match *g.op(n) {
            ref op if op.is_elementwise() => {
                let parts = plan.parts.get(&n).cloned().unwrap_or_default();
                let fill = format_ident!("fill{}", parts.len());
                let views = parts.iter().map(|&p| self.view(plan, p));
                let closure = self.closure(plan, n, &parts, true);
                quote!(#rt::fused::#fill(#out, #(#views,)* #closure)?;)
            }
            Op::Linalg(Linalg::Matmul) => {
                let kernel = match (g.rank(args[0]), g.rank(args[1])) {
                    (2, 2) => quote!(matmul_into),
                    (2, _) => quote!(matvec_into),
                    _ => quote!(vecmat_into),
                };
                let (a, b) = (view(0), view(1));
                quote!(#rt::fused::#kernel(#a, #b, #out)?;)
            }
            Op::Linalg(Linalg::Outer) => {
                let (a, b) = (view(0), view(1));
                quote!(#rt::fused::outer_into(#a, #b, #out)?;)
            }
            Op::Reduce(Reduce::Sum { axis, keep }) => {
                let a = view(0);
                match (axis, keep) {
                    (Some(k), false) => {
                        let k = usize::from(k);
                        quote!(#rt::fused::sum_axis_into(#a, #k, #out)?;)
                    }
                    (Some(k), true) => {
                        let k = usize::from(k);
                        quote!(#rt::fused::sum_axis_keep_into(#a, #k, #out)?;)
                    }
                    (None, _) => quote!(#rt::fused::sum_keep_into(#a, #out);),
                }
            }
            Op::Reduce(Reduce::Unsum { axis, keep }) => {
                let (a, axis) = (view(0), axis_tokens(axis));
                quote!(#rt::fused::unsum_into(#a, #axis, #keep, #out)?;)
            }
            Op::Reduce(Reduce::ColumnScatter(k)) => {
                let a = view(0);
                quote!(#rt::fused::column_scatter_into(#a, #k, #out)?;)
            }
            Op::Lanes(Lanes { kind, axis }) => {
                let (a, axis) = (view(0), usize::from(axis));
                match kind {
                    lanes::Kind::Softmax => quote!(#rt::fused::softmax_into(#a, #axis, #out)?;),
                    lanes::Kind::LogSoftmax => {
                        quote!(#rt::fused::log_softmax_into(#a, #axis, #out)?;)
                    }
                }
            }
            Op::Loss(Loss::OneHot) => {
                let a = view(0);
                quote!(#rt::fused::one_hot_into(#a, #out)?;)
            }
            _ => quote!(::core::compile_error!("no stored form of this op");),
        }
    }
}

fn axis_tokens(axis: Option<u8>) -> TokenStream {
    match axis {
        Some(k) => {
            let k = usize::from(k);
            quote!(::core::option::Option::Some(#k))
        }
        None => quote!(::core::option::Option::None),
    }
}
