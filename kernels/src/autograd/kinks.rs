//! Where a graph is evaluated at (or within a margin of) a point where it is not differentiable:
//! relu/abs at 0, clamp at a bound, ties for a maximum. Sampled derivative checks skip such
//! points: there the one-sided derivatives differ, a finite difference straddles the kink, and
//! autograd returns a convention (PyTorch's subgradient), not a derivative.

use super::backward::depends_on_leaves;
use super::error::{AutogradError, AutogradResult};
use super::rules::{kink, RuleError};
use crate::exec::{lower, Denotation, ExecError, Lowered};
use tl_ir::{Graph, NodeKind};

/// One node evaluated at a kink.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Kink {
    pub node: String,
    pub op: &'static str,
    /// What ties or sits at the kink, e.g. `2 window(s) whose maximum ties`.
    pub detail: String,
}

impl std::fmt::Display for Kink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "node `{}` ({}): {}", self.node, self.op, self.detail)
    }
}

/// Every node on a path from a float input or param whose operands lie within
/// `rel * max(1, |v|)` of a kink of its op, in graph order.
pub fn kinks(graph: &Graph, values: &Denotation, rel: f64) -> AutogradResult<Vec<Kink>> {
    let depends = depends_on_leaves(graph);
    let mut out = Vec::new();
    for (id, node) in graph.nodes.iter().enumerate() {
        let NodeKind::Op { op, attrs } = &node.kind else {
            continue;
        };
        if !depends[id] {
            continue;
        }
        let lowered =
            lower(*op, attrs, node.parents.len()).map_err(|detail| ExecError::Lowering {
                node: node.name.clone(),
                op: op.name(),
                detail,
            })?;
        let Lowered::Kernel {
            op: kop, operands, ..
        } = lowered
        else {
            continue;
        };
        let missing = || {
            AutogradError::Exec(ExecError::InvalidGraph {
                detail: format!("node {}: an operand has no value", node.name),
            })
        };
        let args = operands
            .iter()
            .map(|&i| node.parents.get(i).and_then(|&p| values.node(p)))
            .collect::<Option<Vec<_>>>()
            .ok_or_else(missing)?;
        let y = values.node(id).ok_or_else(missing)?.to_f64();
        match kink(&kop, &args, &y, rel) {
            Ok(Some(detail)) => out.push(Kink {
                node: node.name.clone(),
                op: op.name(),
                detail,
            }),
            Ok(None) => {}
            Err(RuleError::Missing(_)) => {}
            Err(RuleError::Kernel(source)) => {
                return Err(AutogradError::Exec(ExecError::Kernel {
                    node: node.name.clone(),
                    source,
                }))
            }
        }
    }
    Ok(out)
}
