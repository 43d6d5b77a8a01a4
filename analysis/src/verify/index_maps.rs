//! The index-map checks of a contract's target graph: every data-movement node the
//! compiled-semantics theorem does not cover (slice, concat, pad, squeeze, ...) has its compiled
//! kernel run once on distinct values against the reference evaluator
//! (`tl_kernels::exec::check_index_map`). The ledger's semantics link counts a node that
//! passes as **checked** (docs/trust.md, "The semantics link").

use tl_ir::{Graph, NodeKind};

use crate::catalog::{Layer, Verdict};
use crate::outcome::IndexMapCheck;

/// Whether the ledger asks for an index-map check of this op node: it only moves data and no
/// compiled-semantics theorem lists its op.
pub fn wants_check(op: tl_ir::Op, attrs: &tl_ir::Attrs) -> bool {
    op.is_index_map(attrs)
        && matches!(
            crate::ledger::catalog()
                .coverage_in(Layer::CompiledSemantics, op)
                .verdict,
            Verdict::Uncovered { .. }
        )
}

/// The checks of every such node of `graph`, in graph order.
pub fn check(graph: &Graph) -> Vec<IndexMapCheck> {
    graph
        .nodes
        .iter()
        .enumerate()
        .filter_map(|(id, n)| match &n.kind {
            NodeKind::Op { op, attrs } if wants_check(*op, attrs) => {
                let result = tl_kernels::exec::check_index_map(graph, id);
                Some(IndexMapCheck {
                    node: n.name.clone(),
                    op: op.name().to_string(),
                    elements: *result.as_ref().unwrap_or(&0),
                    failure: result.err(),
                })
            }
            _ => None,
        })
        .collect()
}
