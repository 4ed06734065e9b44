//! Where each value of a graph lives, for both paths: the allocating methods and the
//! workspace of a training step read the same plan.
//!
//! - a scalar (rank 0) is a local of type `A`;
//! - a tensor the model takes, a transpose and a column are views, never copies, and so
//!   is the spread of a gradient that only elementwise ops read;
//! - an elementwise op with one consumer, itself elementwise and of the same shape, is
//!   computed inside its consumer's pass, so a chain (bias add, activation, the loss
//!   derivative, a mask) is one pass over memory; a chain under a full sum is folded;
//! - the root of a chain is stored: in an array of its own, or in place in the array of
//!   a value it reads that nothing else reads (bias add and activation on the product);
//! - on the workspace path, a parameter's gradient is written straight into the
//!   workspace's gradients, and a weight gradient that is one product may be added to its
//!   weight in that product's own pass instead (`step`).

use std::collections::HashMap;

use crate::ast::Role;
use crate::ir::{Graph, NodeId};
use crate::ops::{Linalg, Op, Reduce};

/// The most arrays one fused pass reads besides its output (the runtime's `fill5`).
pub const MAX_PARTS: usize = 5;

/// The deepest chain one fused pass computes: a longer chain (a thousand activations
/// nested, a long sum of one bias) is stored every this many ops, so that no closure nests
/// deeper than rustc parses and the code stays linear in the model.
pub const MAX_CHAIN: usize = 32;

#[derive(Clone, Debug, PartialEq)]
pub enum Kind {
    /// Not needed.
    Unused,
    /// A value of type `A`: a local, or a leaf read in place.
    Scalar,
    /// An expression giving a view: a tensor the model takes, a transpose, a column.
    View,
    /// The adjoint of a sum read only by fused passes: a view they broadcast.
    Spread,
    /// Computed inside its one consumer's pass.
    Inline,
    /// Written into an array.
    Stored(Place),
}

#[derive(Clone, Debug, PartialEq)]
pub enum Place {
    /// An array of its own.
    Own,
    /// The workspace's gradient of a parameter (its index among the graph's tensors).
    Grad(usize),
    /// In place in the array of another node, which nothing else reads.
    Alias(NodeId),
}

pub struct Plan {
    pub kind: Vec<Kind>,
    /// Per fused pass, keyed by its root, the arrays it reads, in order (the one it works
    /// in place on excluded).
    pub parts: HashMap<NodeId, Vec<NodeId>>,
    /// The parameters (by index among the graph's tensors) whose gradient is one matrix
    /// product that nothing else reads, of operands that are not parameters: `step` adds
    /// `-lr` times that product to the parameter in the product's own pass, after every
    /// other value, instead of storing the gradient and updating from it.
    pub updates: Vec<(usize, NodeId)>,
    /// The nodes that read each node's value.
    pub consumers: Vec<Vec<NodeId>>,
    /// The roots: nodes whose values leave the plan.
    pub rooted: Vec<bool>,
    /// Per array (by its own node), the node whose value it holds last: the end of the
    /// chain of passes that work in place on it. The array is named after it.
    last: Vec<NodeId>,
}

/// The arguments whose values `n` reads.
pub fn read_args(g: &Graph, n: NodeId) -> &[NodeId] {
    g.op(n).value_args(g.args(n))
}

impl Plan {
    /// The plan computing `roots`; with `grads` (the workspace's), each parameter's
    /// gradient is written into the workspace's gradients and the fusable updates found.
    pub fn new(g: &Graph, roots: &[NodeId], grads: Option<&[(usize, Option<NodeId>)]>) -> Self {
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
        // Whether `n` may run inside its one consumer's pass.
        let fusible = |n: NodeId| {
            let [c] = consumers[n.0][..] else {
                return false;
            };
            elementwise(n)
                && !rooted[n.0]
                && ((elementwise(c) && g.same_shape(n, c)) || full_sum(g, c))
        };
        let mut kind: Vec<Kind> = (0..len)
            .map(|i| {
                let n = NodeId(i);
                let op = g.op(n);
                if !needed[i] {
                    Kind::Unused
                } else if g.rank(n) == 0 {
                    Kind::Scalar
                } else if matches!(op, Op::Var(_)) || op.is_view() {
                    Kind::View
                } else if matches!(op, Op::Reduce(Reduce::Unsum { .. }))
                    && !rooted[i]
                    && consumers[i].iter().all(|&c| elementwise(c))
                {
                    Kind::Spread
                } else if fusible(n) {
                    Kind::Inline
                } else {
                    Kind::Stored(Place::Own)
                }
            })
            .collect();
        // Chains, children first: every MAX_CHAIN-th inline op of a chain is stored.
        let mut depth = vec![0usize; len];
        for i in 0..len {
            if kind[i] != Kind::Inline {
                continue;
            }
            let below = g.args(NodeId(i)).iter().map(|a| depth[a.0]).max();
            depth[i] = below.unwrap_or(0) + 1;
            if depth[i] >= MAX_CHAIN {
                kind[i] = Kind::Stored(Place::Own);
                depth[i] = 0;
            }
        }
        // Passes, parents first: a child that would take a pass past MAX_PARTS arrays is
        // stored instead, and roots a pass of its own later.
        let mut parts = HashMap::new();
        for i in (0..len).rev() {
            let root = NodeId(i);
            let is_root = match kind[i] {
                Kind::Stored(_) => elementwise(root),
                Kind::Scalar => full_sum(g, root) && kind[g.args(root)[0].0] == Kind::Inline,
                Kind::Unused | Kind::View | Kind::Spread | Kind::Inline => false,
            };
            if !is_root {
                continue;
            }
            let top = if full_sum(g, root) {
                g.args(root)[0]
            } else {
                root
            };
            loop {
                let (leaves, members) = gather(g, &mut kind, top);
                if leaves.len() <= MAX_PARTS {
                    parts.insert(root, leaves);
                    break;
                }
                // The greedy pass took too many: the inline member with the most arrays
                // below it gets a pass of its own.
                let split = members
                    .iter()
                    .copied()
                    .filter(|&m| m != top)
                    .max_by_key(|&m| (subtree_arrays(g, &kind, m), std::cmp::Reverse(m)));
                match split {
                    Some(m) => kind[m.0] = Kind::Stored(Place::Own),
                    None => {
                        parts.insert(root, leaves);
                        break;
                    }
                }
            }
        }
        let mut plan = Self {
            kind,
            parts,
            updates: Vec::new(),
            consumers,
            rooted,
            last: (0..len).map(NodeId).collect(),
        };
        if let Some(grads) = grads {
            plan.place_grads(grads);
        }
        plan.in_place(g);
        if let Some(grads) = grads {
            plan.updates = plan.fusable_updates(g, grads);
        }
        for i in 0..len {
            if plan.alias(NodeId(i)).is_some() {
                let host = plan.host(NodeId(i));
                plan.last[host.0] = plan.last[host.0].max(NodeId(i));
            }
        }
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

    /// A pass writing an array of its own takes over the array of one it reads when
    /// nothing else reads that array and the shapes are the same. Passes are visited in
    /// node order, so that the choice is the same on every build.
    fn in_place(&mut self, g: &Graph) {
        let mut roots: Vec<NodeId> = self.parts.keys().copied().collect();
        roots.sort();
        for root in roots {
            if self.kind[root.0] != Kind::Stored(Place::Own) {
                continue;
            }
            let Some(leaves) = self.parts.get(&root) else {
                continue;
            };
            let host = leaves.iter().copied().find(|&l| {
                matches!(self.kind[l.0], Kind::Stored(Place::Own | Place::Alias(_)))
                    && self.consumers[l.0].len() == 1
                    && !self.rooted[l.0]
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

    /// The parameters whose gradient `step` adds to them in the product's own pass.
    fn fusable_updates(
        &self,
        g: &Graph,
        grads: &[(usize, Option<NodeId>)],
    ) -> Vec<(usize, NodeId)> {
        grads
            .iter()
            .filter_map(|&(var, grad)| Some((var, grad?)))
            .filter(|&(var, n)| {
                self.kind[n.0] == Kind::Stored(Place::Grad(var))
                    && *g.op(n) == Op::Linalg(Linalg::Matmul)
                    && self.consumers[n.0].is_empty()
                    && g.args(n)
                        .iter()
                        .all(|&a| g.rank(a) == 2 && !views_param(g, a))
            })
            .collect()
    }

    /// The node whose array a stored node writes: itself, or the one it works in place on.
    pub fn host(&self, mut n: NodeId) -> NodeId {
        while let Kind::Stored(Place::Alias(h)) = self.kind[n.0] {
            n = h;
        }
        n
    }

    /// The array a pass works in place on, if any.
    pub fn alias(&self, n: NodeId) -> Option<NodeId> {
        match self.kind[n.0] {
            Kind::Stored(Place::Alias(h)) => Some(h),
            Kind::Stored(Place::Own | Place::Grad(_))
            | Kind::Unused
            | Kind::Scalar
            | Kind::View
            | Kind::Spread
            | Kind::Inline => None,
        }
    }

    /// Whether `n` is written by a statement of its own: a stored array, or a scalar
    /// that is computed (not a tensor or a constant, read in place).
    pub fn is_statement(&self, g: &Graph, n: NodeId) -> bool {
        match self.kind[n.0] {
            Kind::Stored(_) => true,
            Kind::Scalar => !matches!(g.op(n), Op::Var(_) | Op::Const(_)),
            Kind::Unused | Kind::View | Kind::Spread | Kind::Inline => false,
        }
    }

    /// Whether another pass works in place in `n`'s array, which must then be mutable.
    pub fn is_hosting(&self, n: NodeId) -> bool {
        self.last[n.0] != n
    }

    /// The node whose value `n`'s array holds last.
    pub fn last_in(&self, n: NodeId) -> NodeId {
        self.last[n.0]
    }
}

/// Whether `n` is a full sum, whose pass folds instead of storing.
pub fn full_sum(g: &Graph, n: NodeId) -> bool {
    matches!(g.op(n), Op::Reduce(Reduce::Sum { keep: false, .. })) && g.rank(n) == 0
}

/// Whether `n` is a parameter or a view of one (a transpose, a column), whose value a
/// parameter update changes.
fn views_param(g: &Graph, n: NodeId) -> bool {
    let op = g.op(n);
    if let Op::Var(i) = *op {
        return g.vars.get(i).is_some_and(|v| v.role == Role::Param);
    }
    op.is_view() && views_param(g, g.args(n)[0])
}

/// Whether a fused pass reads `a` as an array (not a constant or a scalar).
pub fn is_array(g: &Graph, kind: &[Kind], a: NodeId) -> bool {
    g.konst(a).is_none() && kind[a.0] != Kind::Scalar && !spread_scalar(g, kind, a)
}

/// A spread of a scalar, which a pass reads as that scalar.
pub fn spread_scalar(g: &Graph, kind: &[Kind], a: NodeId) -> bool {
    kind[a.0] == Kind::Spread && g.rank(g.args(a)[0]) == 0
}

/// The arrays a pass rooted at `top` reads, and the nodes inside it, merging inline
/// children while the pass stays within MAX_PARTS arrays (a child that does not fit is
/// stored and read as an array).
fn gather(g: &Graph, kind: &mut [Kind], top: NodeId) -> (Vec<NodeId>, Vec<NodeId>) {
    let mut leaves: Vec<NodeId> = Vec::new();
    let mut inside = vec![top];
    let mut members = vec![top];
    while let Some(m) = members.pop() {
        for &a in g.args(m) {
            if kind[a.0] == Kind::Inline {
                let more = array_args(g, kind, a)
                    .into_iter()
                    .filter(|x| !leaves.contains(x))
                    .count();
                if leaves.len() + more <= MAX_PARTS {
                    members.push(a);
                    inside.push(a);
                    continue;
                }
                kind[a.0] = Kind::Stored(Place::Own);
            }
            if is_array(g, kind, a) && !leaves.contains(&a) {
                leaves.push(a);
            }
        }
    }
    (leaves, inside)
}

/// How many arrays the inline chain under `n` reads.
fn subtree_arrays(g: &Graph, kind: &[Kind], n: NodeId) -> usize {
    g.args(n)
        .iter()
        .map(|&a| match kind[a.0] {
            Kind::Inline => subtree_arrays(g, kind, a),
            _ if is_array(g, kind, a) => 1,
            _ => 0,
        })
        .sum()
}

/// The arrays an inlined node reads directly.
fn array_args(g: &Graph, kind: &[Kind], n: NodeId) -> Vec<NodeId> {
    g.args(n)
        .iter()
        .copied()
        .filter(|&a| kind[a.0] != Kind::Inline && is_array(g, kind, a))
        .collect()
}
