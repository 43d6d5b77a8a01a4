//! indices_in_vocab(node) (the BugZoo TokenizerBoundary card): every index an `embedding` node
//! can read over the contract's input set lies in `0..V`, V the table's row count.
//!
//! `structure` decides it exactly when the indices are a graph input: the sampler rounds each
//! coordinate of the input's box to an integer, so the ids the set allows are
//! `round(lower)..=round(upper)` per element, and the claim holds iff every such range lies in
//! `0..V` (checked). Otherwise the out-of-range id is the counterexample: tl replays the graph on
//! it with the reference semantics and reports what it did (an error, or a value read from the
//! wrong row).

use std::collections::BTreeMap;

use tl_ir::{Dim, NodeKind, Op};
use tl_kernels::{denote, Tensor};

use super::model::{concrete_shape, values};
use super::sampling::draw;
use super::{Cx, Failure};
use crate::outcome::{Counterexample, Verdict};

pub(super) fn structure(cx: &Cx, node: &str) -> Result<(Verdict, String), Failure> {
    let graph = &cx.model.graph;
    let id = cx
        .model
        .node(node)
        .ok_or_else(|| Failure::claim(format!("the graph has no node `{node}`")))?;
    let n = &graph.nodes[id];
    if !matches!(
        n.kind,
        NodeKind::Op {
            op: Op::Embedding,
            ..
        }
    ) {
        return Err(Failure::claim(format!("`{node}` is not an embedding node")));
    }
    let (ids, table) = (n.parents[0], n.parents[1]);
    let vocab = match graph.nodes[table].shape.0.first() {
        Some(Dim::Known(v)) => *v as i64,
        _ => {
            return Err(Failure::unsupported(
                "the table's row count is not a fixed extent",
            ))
        }
    };
    if !graph.inputs.contains(&ids) {
        return Ok((
            Verdict::Unknown {
                reason: format!(
                    "the indices of `{node}` are computed (node `{}`), not a graph input: their range is not read off the input set",
                    graph.nodes[ids].name
                ),
            },
            "exact check over the input set".into(),
        ));
    }
    let name = graph.nodes[ids].name.clone();
    let set = cx
        .set_for(&name)
        .ok_or_else(|| Failure::input(format!("input `{name}` has no `given` set")))?;
    let shape = concrete_shape(&graph.nodes[ids].shape, 1);
    let b = set.to_box(&shape)?;
    let lo = b.lower.iter().map(|v| v.round() as i64).min().unwrap_or(0);
    let hi = b.upper.iter().map(|v| v.round() as i64).max().unwrap_or(0);
    let bad = b
        .lower
        .iter()
        .zip(&b.upper)
        .enumerate()
        .find_map(|(k, (l, u))| {
            let (l, u) = (l.round() as i64, u.round() as i64);
            if u >= vocab {
                Some((k, u))
            } else if l < 0 {
                Some((k, l))
            } else {
                None
            }
        });
    let Some((element, id_value)) = bad else {
        return Ok((
            Verdict::Holds,
            format!(
                "every id the set allows for `{name}` ({lo}..={hi}) lies in 0..{vocab}, the rows of `{}`: exact over the input set (TorchLean's card types token ids as Fin vocab; tl checked this set against this table)",
                graph.nodes[table].name
            ),
        ));
    };
    // Replay: the set's own points, with the offending id at its element.
    let mut inputs: BTreeMap<String, Tensor> = draw(cx, cx.model, 1, 0, 1)?
        .pop()
        .ok_or_else(|| Failure::input("the input set has no point"))?;
    let mut ids_values: Vec<i64> = b.lower.iter().map(|v| v.round() as i64).collect();
    ids_values[element] = id_value;
    let ids_t = Tensor::from_i64(&shape, ids_values).map_err(|e| Failure::input(e.to_string()))?;
    inputs.insert(name.clone(), ids_t);
    let replay = match denote(graph, &cx.model.params, &inputs) {
        Err(e) => format!("the reference semantics rejects it: {e}"),
        Ok(_) => "the reference semantics ran on it without an error (it read a row the table does not mean to have)".into(),
    };
    Ok((
        Verdict::Violated {
            counterexample: Counterexample {
                inputs: inputs
                    .iter()
                    .map(|(n, t)| (n.clone(), t.shape().to_vec(), values(t)))
                    .collect(),
                outputs: vec![],
                confirmed_on: "the input set's bound (replayed on the reference semantics)".into(),
            },
        },
        format!(
            "the set allows id {id_value} for `{name}` (element {element}), outside 0..{vocab} (the rows of `{}`); {replay}",
            graph.nodes[table].name
        ),
    ))
}
