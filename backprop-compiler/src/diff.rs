//! Reverse mode on the graph: walk the nodes from the loss back to the leaves, ask each
//! op's vector-Jacobian rule for its contributions, and sum the contributions a node gets
//! from every use (fan-out). Nothing here is specific to an op.

use crate::ir::{Graph, NodeId, Rule};
use crate::ops::shape::Fault;
use crate::ops::vjp::vjp;
use crate::ops::Op;

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
    let mut adjoint: Vec<Option<NodeId>> = vec![None; len];
    if scope.wants(loss) {
        adjoint[loss.0] = Some(graph.cst(1.0));
    }
    for i in (0..len).rev() {
        let Some(g) = adjoint[i] else { continue };
        let node = NodeId(i);
        let contributions = vjp(graph, node, g, &scope)?;
        let wanted = contributions.len();
        for (target, contribution) in contributions {
            for rule in rules(graph, node, target, wanted) {
                graph.tag(contribution, rule);
            }
            adjoint[target.0] = Some(match adjoint[target.0] {
                None => contribution,
                Some(sum) => {
                    let total = graph.sum2(sum, contribution)?;
                    graph.tag(total, Rule::FanOut);
                    total
                }
            });
        }
    }
    Ok(adjoint)
}

/// The rules by which `node`'s gradient reaches `target`, `wanted` of its arguments
/// getting one: a rewrite that built `node` (`bce(sigmoid(z), y)`), else the derivative of
/// its function, and a sum over broadcast axes.
fn rules(graph: &Graph, node: NodeId, target: NodeId, wanted: usize) -> Vec<Rule> {
    let mut out: Vec<Rule> = graph
        .rules_of(node)
        .iter()
        .copied()
        .filter(Rule::is_rewrite)
        .collect();
    if out.is_empty() {
        // `bce(sigmoid(z), y)` sends its gradient straight to `z` (its rule's shortcut).
        let p = graph.args(node).first().copied();
        let shortcut = p
            .is_some_and(|p| *graph.op(p) == Op::Sigmoid && graph.args(p).first() == Some(&target));
        let rule = match graph.op(node) {
            Op::Bce if shortcut => Some(Rule::SigmoidBce),
            Op::CrossEntropy => Some(Rule::SoftmaxCrossEntropy),
            Op::Pow(_) => Some(Rule::Power),
            Op::Mul if wanted == 2 => Some(Rule::Product),
            op => op.function().map(Rule::Derivative),
        };
        out.extend(rule);
    }
    if matches!(graph.op(node), Op::Add | Op::Mul) && !graph.same_shape(node, target) {
        out.push(Rule::Broadcast);
    }
    out
}
