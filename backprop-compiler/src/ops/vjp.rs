//! The context of a vector-Jacobian product: the node, its arguments and its gradient `g`,
//! the nodes the differentiation serves, and the contributions the op's rule makes to
//! other nodes' gradients, each tagged with the rule that gave it. The rules themselves
//! are the families'; `diff.rs` sums what they give.

use crate::diff::Scope;
use crate::ir::{Graph, NodeId, Rule};
use crate::ops::shape::Fault;

/// One contribution to a node's gradient.
pub struct Contribution {
    pub target: NodeId,
    pub gradient: NodeId,
    /// The rule of differentiation that gave it (`[relu']`), if one is worth naming.
    pub rule: Option<Rule>,
    /// Whether it was summed over the axes its target was broadcast along.
    pub broadcast: bool,
}

pub struct Vjp<'a> {
    pub graph: &'a mut Graph,
    /// The node whose gradient is being passed on.
    pub node: NodeId,
    /// Its arguments.
    pub args: Vec<NodeId>,
    /// Its gradient.
    pub g: NodeId,
    scope: &'a Scope,
    pub out: Vec<Contribution>,
}

impl<'a> Vjp<'a> {
    pub fn new(graph: &'a mut Graph, node: NodeId, g: NodeId, scope: &'a Scope) -> Self {
        let args = graph.args(node).to_vec();
        Self {
            graph,
            node,
            args,
            g,
            scope,
            out: Vec::new(),
        }
    }

    /// Argument `i`.
    pub fn arg(&self, i: usize) -> NodeId {
        self.args.get(i).copied().unwrap_or(self.node)
    }

    /// Whether the differentiation needs the gradient of `n`.
    pub fn wants(&self, n: NodeId) -> bool {
        self.scope.wants(n)
    }

    /// Whether the gradient of `n` must be exact, so a shortcut may not bypass it.
    pub fn keeps(&self, n: NodeId) -> bool {
        self.scope.keeps(n)
    }

    /// Adds `gradient` to the gradient of `target`, given by `rule`.
    pub fn give(&mut self, target: NodeId, gradient: NodeId, rule: Option<Rule>) {
        self.out.push(Contribution {
            target,
            gradient,
            rule,
            broadcast: false,
        });
    }

    /// Adds `g` times the elementwise derivative `local` to the gradient of argument 0.
    pub fn chain(&mut self, local: NodeId, rule: Option<Rule>) -> Result<(), Fault> {
        let (a, g) = (self.arg(0), self.g);
        let gradient = self.graph.mul(g, local)?;
        self.give(a, gradient, rule);
        Ok(())
    }

    /// Adds `full`, summed over the axes along which `target` was broadcast to it, to the
    /// gradient of `target`.
    pub fn give_reduced(
        &mut self,
        target: NodeId,
        full: NodeId,
        rule: Option<Rule>,
    ) -> Result<(), Fault> {
        let gradient = self.graph.reduce_to(full, target)?;
        let broadcast = !self.graph.same_shape(self.node, target);
        self.out.push(Contribution {
            target,
            gradient,
            rule,
            broadcast,
        });
        Ok(())
    }
}
