//! The graph: a `Vec` of nodes indexed by `NodeId`, children before parents, hash-consed.
//! Every node has a symbolic shape whose dims are classes of a union-find, so that `x @ w1`
//! records that `x`'s columns and `w1`'s rows are one dim. Nodes are built only through
//! `Graph::apply`, which computes the shape, then applies the simplification rules, then
//! interns the node.

use std::collections::HashMap;

use proc_macro2::Span;

use crate::ast::Role;
use crate::ops::reduce::Reduce;
use crate::ops::shape::Fault;
use crate::ops::{Arith, Func, Linalg, Map, Op, F64};
use crate::simplify;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NodeId(pub usize);

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DimId(pub usize);

pub type Shape = Vec<DimId>;

#[derive(Clone, Debug)]
pub struct Node {
    pub op: Op,
    pub args: Vec<NodeId>,
    pub shape: Shape,
}

/// A tensor the model takes: an input, a target or a parameter.
#[derive(Clone, Debug)]
pub struct Var {
    pub name: String,
    pub role: Role,
    pub span: Span,
    pub node: NodeId,
    /// The expression where it is first used, quoted by run-time shape errors.
    pub site: String,
    /// Integer class labels (`usize`), as `cross_entropy` takes them, not values of the
    /// model's element type.
    pub labels: bool,
}

/// The classes of dims: union-find with, per class, a known length and a declared name.
#[derive(Clone, Debug, Default)]
pub struct Dims {
    parent: Vec<usize>,
    known: Vec<Option<usize>>,
    label: Vec<Option<String>>,
}

/// A rule of differentiation or a rewrite, named on the line of the derivation where it
/// shaped the expression.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Rule {
    /// `bce(sigmoid(z), y)` as `bce_logits(z, y)`, whose derivative is `(ŷ − y)/N`.
    SigmoidBce,
    /// `log(sigmoid(z))` as `-softplus(-z)`.
    LogSigmoid,
    /// `log(1 - sigmoid(z))` as `-softplus(z)`.
    LogOneMinusSigmoid,
    /// `log(softmax(z))` as `log_softmax(z)`.
    LogSoftmax,
    /// `cross_entropy(z, labels)`, whose derivative is `(softmax(z) − onehot)/N`.
    SoftmaxCrossEntropy,
    /// The derivative of a function, by its symbol (`relu`, `σ`).
    Derivative(Symbol),
    /// `d a^k = k a^(k-1)`.
    Power,
    /// `d (a b) = da b + a db`, both factors depending on what is differentiated.
    Product,
    /// The gradient of a broadcast operand, summed over the axes it was broadcast along.
    Broadcast,
    /// The gradients of a value used more than once, added.
    FanOut,
}

/// A function's name as the derivation writes it, in Unicode and in LaTeX.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Symbol {
    /// In Unicode: `σ`.
    pub text: &'static str,
    /// In LaTeX: `\sigma`.
    pub latex: &'static str,
}

impl Symbol {
    /// The symbol written `text` in Unicode and `latex` in LaTeX.
    pub const fn new(text: &'static str, latex: &'static str) -> Self {
        Self { text, latex }
    }

    /// A symbol written the same in both, as a word: `relu`.
    pub const fn same(name: &'static str) -> Self {
        Self::new(name, name)
    }
}

impl Rule {
    /// Whether the rule is a rewrite that changes what the forward pass computes (a
    /// numerically stable form), not a rule of differentiation.
    pub fn is_rewrite(&self) -> bool {
        matches!(
            self,
            Rule::SigmoidBce | Rule::LogSigmoid | Rule::LogOneMinusSigmoid | Rule::LogSoftmax
        )
    }
}

#[derive(Debug, Default)]
pub struct Graph {
    pub nodes: Vec<Node>,
    /// The rules that built a node, for the derivation's text.
    pub rules: HashMap<NodeId, Vec<Rule>>,
    interned: HashMap<(Op, Vec<NodeId>), NodeId>,
    pub dims: Dims,
    pub vars: Vec<Var>,
    /// Nodes the user named (`let`s and `out`), where rewrites that look through a chain
    /// of nodes stop, so that derivatives read in the user's names.
    pub named: Vec<NodeId>,
    /// The gradients of the named values, which rewrites do not look into, so that the
    /// gradients computed from them read in their names (`δbndiff2 = expand(δbnvar / (n − 1))`).
    pub opaque: std::collections::HashSet<NodeId>,
    /// Whether the numerical stability rewrites apply (`log(sigmoid(z))` as
    /// `-softplus(-z)`, ...); off for the graph that `trace` follows step by step.
    pub stable: bool,
}

impl Dims {
    pub fn fresh(&mut self, known: Option<usize>, label: Option<String>) -> DimId {
        self.parent.push(self.parent.len());
        self.known.push(known);
        self.label.push(label);
        DimId(self.parent.len() - 1)
    }

    pub fn find(&self, d: DimId) -> DimId {
        let mut i = d.0;
        while self.parent[i] != i {
            i = self.parent[i];
        }
        DimId(i)
    }

    pub fn known(&self, d: DimId) -> Option<usize> {
        self.known[self.find(d).0]
    }

    pub fn label(&self, d: DimId) -> Option<&str> {
        self.label[self.find(d).0].as_deref()
    }

    pub fn is_one(&self, d: DimId) -> bool {
        self.known(d) == Some(1)
    }

    /// Whether two dims are equal on every run: one class, or the same known length.
    pub fn same(&self, a: DimId, b: DimId) -> bool {
        self.find(a) == self.find(b)
            || matches!((self.known(a), self.known(b)), (Some(x), Some(y)) if x == y)
    }

    /// Makes `a` and `b` one dim; fails when both are known and differ, or both were
    /// declared under different names (a declared name promises a dim of its own).
    pub fn unify(&mut self, a: DimId, b: DimId) -> Result<(), Fault> {
        let (ra, rb) = (self.find(a), self.find(b));
        if ra == rb {
            return Ok(());
        }
        let conflict = match (self.known[ra.0], self.known[rb.0]) {
            (Some(x), Some(y)) => x != y,
            _ => false,
        } || match (&self.label[ra.0], &self.label[rb.0]) {
            (Some(x), Some(y)) => x != y,
            (Some(_), None) => self.known[rb.0].is_some(),
            (None, Some(_)) => self.known[ra.0].is_some(),
            (None, None) => false,
        };
        if conflict {
            return Err(Fault::Dims(self.describe(a), self.describe(b)));
        }
        let (root, child) = if ra.0 < rb.0 { (ra, rb) } else { (rb, ra) };
        self.parent[child.0] = root.0;
        self.known[root.0] = self.known[root.0].or(self.known[child.0]);
        if self.label[root.0].is_none() {
            self.label[root.0] = self.label[child.0].take();
        }
        Ok(())
    }

    /// A dim as messages show it: its length, its declared name, or `_`.
    pub fn describe(&self, d: DimId) -> String {
        match (self.known(d), self.label(d)) {
            (Some(n), _) => n.to_string(),
            (None, Some(l)) => l.to_string(),
            (None, None) => "_".to_string(),
        }
    }

    pub fn describe_shape(&self, shape: &[DimId]) -> String {
        let dims: Vec<String> = shape.iter().map(|&d| self.describe(d)).collect();
        format!("[{}]", dims.join(", "))
    }

    /// The number of classes, and a dense index for each root.
    pub fn classes(&self) -> (usize, HashMap<DimId, usize>) {
        let mut index = HashMap::new();
        for i in 0..self.parent.len() {
            let root = self.find(DimId(i));
            let next = index.len();
            index.entry(root).or_insert(next);
        }
        (index.len(), index)
    }
}

impl Graph {
    /// An empty graph; `stable` turns the stability rewrites on.
    pub fn new(stable: bool) -> Self {
        Self {
            stable,
            ..Self::default()
        }
    }

    pub fn node(&self, id: NodeId) -> &Node {
        &self.nodes[id.0]
    }

    pub fn op(&self, id: NodeId) -> &Op {
        &self.nodes[id.0].op
    }

    pub fn args(&self, id: NodeId) -> &[NodeId] {
        &self.nodes[id.0].args
    }

    pub fn shape(&self, id: NodeId) -> &Shape {
        &self.nodes[id.0].shape
    }

    pub fn rank(&self, id: NodeId) -> usize {
        self.nodes[id.0].shape.len()
    }

    /// Records that `rule` built `id`.
    pub fn tag(&mut self, id: NodeId, rule: Rule) {
        let rules = self.rules.entry(id).or_default();
        if !rules.contains(&rule) {
            rules.push(rule);
        }
    }

    /// The rules that built `id`.
    pub fn rules_of(&self, id: NodeId) -> &[Rule] {
        self.rules.get(&id).map_or(&[], Vec::as_slice)
    }

    pub fn konst(&self, id: NodeId) -> Option<f64> {
        if let Op::Const(c) = self.op(id) {
            Some(c.get())
        } else {
            None
        }
    }

    /// Whether two nodes have the same shape, dim for dim.
    pub fn same_shape(&self, a: NodeId, b: NodeId) -> bool {
        let (sa, sb) = (self.shape(a), self.shape(b));
        sa.len() == sb.len() && sa.iter().zip(sb).all(|(&x, &y)| self.dims.same(x, y))
    }

    /// A leaf for a tensor the model takes; `labels` for integer class labels.
    pub fn var(
        &mut self,
        name: String,
        role: Role,
        labels: bool,
        span: Span,
        shape: Shape,
    ) -> NodeId {
        let index = self.vars.len();
        let node = self.intern(Op::Var(index), Vec::new(), shape);
        self.vars.push(Var {
            name,
            role,
            span,
            node,
            site: String::new(),
            labels,
        });
        node
    }

    /// The node `op(args)`: its shape is computed (unifying dims as the op requires), then
    /// the simplification rules may answer with an existing or simpler node, else the node
    /// is interned.
    pub fn apply(&mut self, op: Op, args: &[NodeId]) -> Result<NodeId, Fault> {
        let shapes: Vec<Shape> = args.iter().map(|&a| self.shape(a).clone()).collect();
        let shape = op.shape(&shapes, &mut self.dims)?;
        if let Some(simpler) = simplify::rewrite(self, &op, args)? {
            return Ok(simpler);
        }
        Ok(self.intern(op, args.to_vec(), shape))
    }

    fn intern(&mut self, op: Op, args: Vec<NodeId>, shape: Shape) -> NodeId {
        if !matches!(op, Op::Var(_)) {
            if let Some(&id) = self.interned.get(&(op, args.clone())) {
                return id;
            }
        }
        let id = NodeId(self.nodes.len());
        self.interned.insert((op, args.clone()), id);
        self.nodes.push(Node { op, args, shape });
        id
    }

    pub fn cst(&mut self, v: f64) -> NodeId {
        self.intern(Op::Const(F64::new(v)), Vec::new(), Vec::new())
    }

    pub fn neg(&mut self, a: NodeId) -> Result<NodeId, Fault> {
        self.apply(Op::Arith(Arith::Neg), &[a])
    }

    pub fn sum2(&mut self, a: NodeId, b: NodeId) -> Result<NodeId, Fault> {
        self.apply(Op::Arith(Arith::Add), &[a, b])
    }

    pub fn sub(&mut self, a: NodeId, b: NodeId) -> Result<NodeId, Fault> {
        let nb = self.neg(b)?;
        self.sum2(a, nb)
    }

    pub fn mul(&mut self, a: NodeId, b: NodeId) -> Result<NodeId, Fault> {
        self.apply(Op::Arith(Arith::Mul), &[a, b])
    }

    pub fn pow(&mut self, a: NodeId, k: f64) -> Result<NodeId, Fault> {
        self.apply(Op::Arith(Arith::Pow(F64::new(k))), &[a])
    }

    pub fn div(&mut self, a: NodeId, b: NodeId) -> Result<NodeId, Fault> {
        let rb = self.pow(b, -1.0)?;
        self.mul(a, rb)
    }

    /// The function `f` of `a`.
    pub fn map(&mut self, f: Func, a: NodeId) -> Result<NodeId, Fault> {
        self.map_with(f, 0.0, a)
    }

    /// The function `f` of `a`, with the number `k`.
    pub fn map_with(&mut self, f: Func, k: f64, a: NodeId) -> Result<NodeId, Fault> {
        self.apply(Op::Map(Map::new(f, k)), &[a])
    }

    pub fn t(&mut self, a: NodeId) -> Result<NodeId, Fault> {
        if self.rank(a) < 2 {
            Ok(a)
        } else {
            self.apply(Op::Linalg(Linalg::Transpose), &[a])
        }
    }

    /// The sum of all elements of `a`.
    pub fn sum(&mut self, a: NodeId) -> Result<NodeId, Fault> {
        let all = Reduce::Sum {
            axis: None,
            keep: false,
        };
        self.apply(Op::Reduce(all), &[a])
    }

    /// The number of elements of `a`, as a scalar.
    pub fn count(&mut self, a: NodeId) -> Result<NodeId, Fault> {
        self.apply(Op::Reduce(Reduce::Count(None)), &[a])
    }

    /// `g` summed over the axes along which `like` was broadcast to `g`'s shape: leading
    /// axes `like` lacks, and axes where `like` has a fixed length 1.
    pub fn reduce_to(&mut self, g: NodeId, like: NodeId) -> Result<NodeId, Fault> {
        let mut cur = g;
        let target = self.rank(like);
        if target == 0 && self.rank(cur) > 0 {
            return self.sum(cur);
        }
        while self.rank(cur) > target {
            let rows = Reduce::Sum {
                axis: Some(0),
                keep: false,
            };
            cur = self.apply(Op::Reduce(rows), &[cur])?;
        }
        for i in 0..target {
            let (want, have) = (self.shape(like)[i], self.shape(cur)[i]);
            if self.dims.is_one(want) && !self.dims.is_one(have) {
                let along = Reduce::Sum {
                    axis: Some(i as u8),
                    keep: true,
                };
                cur = self.apply(Op::Reduce(along), &[cur])?;
            }
        }
        Ok(cur)
    }
}
