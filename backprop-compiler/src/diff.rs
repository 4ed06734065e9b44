//! Reverse mode on the graph: walk the nodes from the loss back to the leaves, ask each
//! op's vector-Jacobian rule for its contributions, and sum the contributions a node gets
//! from every use (fan-out). Nothing here is specific to an op.

use crate::ir::{Graph, NodeId, Rule};
use crate::ops::shape::Fault;
use crate::ops::vjp::Vjp;
use crate::ops::{Op, Reduce};

/// Which nodes a differentiation serves: those on a path to one of `wrt`, and among them
/// those whose own gradient must be exact (not skipped over by a rule's shortcut).
pub struct Scope {
    needs: Vec<bool>,
    keep: Vec<NodeId>,
}

impl Scope {
    pub fn wants(&self, n: NodeId) -> bool {
        self.needs.get(n.0).copied().unwrap_or(false)
    }

    pub fn keeps(&self, n: NodeId) -> bool {
        self.keep.contains(&n)
    }
}

/// The gradient of the scalar `loss` with respect to every node before it that depends on
/// one of `wrt`, indexed by node; `None` where the gradient is zero. The gradients of the
/// nodes in `keep` are complete; others may be bypassed by a shortcut.
pub fn gradients(
    graph: &mut Graph,
    loss: NodeId,
    wrt: &[NodeId],
    keep: &[NodeId],
) -> Result<Vec<Option<NodeId>>, Fault> {
    let len = loss.0 + 1;
    let mut needs = vec![false; len];
    for i in 0..len {
        let node = graph.node(NodeId(i));
        needs[i] = wrt.contains(&NodeId(i))
            || (node.op.is_differentiable() && node.args.iter().any(|a| needs[a.0]));
    }
    let scope = Scope {
        needs,
        keep: keep.to_vec(),
    };
    let named: std::collections::HashSet<NodeId> = graph.named.iter().copied().collect();
    let mut adjoint: Vec<Option<NodeId>> = vec![None; len];
    if scope.wants(loss) {
        adjoint[loss.0] = Some(graph.cst(1.0));
    }
    for i in (0..len).rev() {
        let Some(g) = adjoint[i] else { continue };
        let node = NodeId(i);
        // A named value's gradient is complete here; what is built from it keeps its name,
        // unless it is a number spread over the value's shape (`1` for `out.sum()`), which
        // folds into what uses it.
        let spread = matches!(graph.op(g), Op::Reduce(Reduce::Unsum { .. }))
            && graph.rank(graph.args(g)[0]) == 0;
        if named.contains(&node) && !spread && graph.konst(g).is_none() {
            graph.opaque.insert(g);
        }
        // The op is copied out, so that its family's rule may add to the graph.
        let op = *graph.op(node);
        let Some(family) = op.family() else { continue };
        let mut v = Vjp::new(graph, node, g, &scope);
        family.vjp(&mut v)?;
        let contributions = v.out;
        // A node a rewrite built (`-softplus(-z)` for `log(sigmoid(z))`) passes its
        // gradient on under that rewrite's name rather than its own op's rule.
        let rewrites: Vec<Rule> = graph
            .rules_of(node)
            .iter()
            .copied()
            .filter(Rule::is_rewrite)
            .collect();
        for c in contributions {
            let mut rules = if rewrites.is_empty() {
                c.rule.into_iter().collect()
            } else {
                rewrites.clone()
            };
            if c.broadcast {
                rules.push(Rule::Broadcast);
            }
            for rule in rules {
                graph.tag(c.gradient, rule);
            }
            let target = c.target;
            adjoint[target.0] = Some(match adjoint[target.0] {
                None => c.gradient,
                Some(sum) => {
                    let total = graph.sum2(sum, c.gradient)?;
                    graph.tag(total, Rule::FanOut);
                    total
                }
            });
        }
    }
    Ok(adjoint)
}
