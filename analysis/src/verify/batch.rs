//! batch_invariant(y): row i of the batched output is the graph's output on row i alone (the
//! BugZoo BatchInvariance card: no op mixes the rows of a batch, as a batch-axis softmax or a
//! batch-statistics normalisation does).
//!
//! `structure` decides it exactly from the lowered graph: every node on the way from a batched
//! input to `y` must act row by row on axis 0, by the rule of its op below (checked). `sampling`
//! runs the reference semantics on a batch and on each of its rows alone (tested; a row that
//! differs is a counterexample, replayed on the reference semantics).

use std::collections::BTreeMap;

use tl_ir::{Dim, Family, Graph, NodeKind, Op};
use tl_kernels::{denote, Tensor};

use super::model::values;
use super::sampling::{draw, STRUCTURE_SIZE};
use super::{Cx, Failure};
use crate::outcome::{Counterexample, Verdict};

/// How a node's value relates to the batch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Rows {
    /// Independent of every batched input (params, constants, ops on them).
    Free,
    /// Axis 0 is the batch axis and row i depends only on row i of the batched inputs.
    RowWise,
}

/// The batch symbol: the first extent of the graph's first input, when it is symbolic.
fn batch_symbol(graph: &Graph) -> Option<String> {
    graph
        .inputs
        .iter()
        .find_map(|&i| match graph.nodes[i].shape.0.first() {
            Some(Dim::Sym(s)) => Some(s.clone()),
            _ => None,
        })
}

/// The exact structural check: Ok(the rule that applied at each op kind), or the first node that
/// may mix rows and why.
pub(super) fn structure(cx: &Cx, output: &str) -> Result<(Verdict, String), Failure> {
    let graph = &cx.model.graph;
    let out_id = cx
        .model
        .node(output)
        .ok_or_else(|| Failure::claim(format!("the graph has no node `{output}`")))?;
    let Some(sym) = batch_symbol(graph) else {
        return Ok(unknown(
            "no graph input has a symbolic first extent (the batch axis)",
        ));
    };
    let mut rows: Vec<Option<Rows>> = vec![None; graph.nodes.len()];
    for (id, n) in graph.nodes.iter().enumerate() {
        let r = match &n.kind {
            // A weight sized by the batch extent is read per batch, not per row.
            NodeKind::Param { .. } if n.shape.0.contains(&Dim::Sym(sym.clone())) => Err(format!(
                "param `{}` has the batch extent {sym} in its shape",
                n.name
            )),
            NodeKind::Param { .. } => Ok(Rows::Free),
            NodeKind::Input => match n.shape.0.first() {
                Some(Dim::Sym(s)) if *s == sym => Ok(Rows::RowWise),
                _ if n.shape.0.iter().any(|d| *d == Dim::Sym(sym.clone())) => Err(format!(
                    "input `{}` has the batch extent {sym} on an axis other than 0",
                    n.name
                )),
                _ => Ok(Rows::Free),
            },
            NodeKind::Op { op, attrs } => {
                let args: Vec<Rows> = n
                    .parents
                    .iter()
                    .map(|&p| rows[p].unwrap_or(Rows::Free))
                    .collect();
                let ranks: Vec<usize> = n
                    .parents
                    .iter()
                    .map(|&p| graph.nodes[p].shape.0.len())
                    .collect();
                op_rows(*op, attrs, &args, &ranks, n.shape.0.len())
                    .map_err(|why| format!("node `{}` ({}): {why}", n.name, op.name()))
            }
        };
        match r {
            Ok(r) => rows[id] = Some(r),
            // A node off the path to the output does not matter.
            Err(why) if reaches(graph, id, out_id) => {
                return Ok((
                    Verdict::Unknown {
                        reason: format!("{why}: the structural check cannot show row independence (sampling may find the rows mixed)"),
                    },
                    "structural check of the lowered graph".into(),
                ))
            }
            Err(_) => rows[id] = None,
        }
    }
    match rows[out_id] {
        Some(Rows::RowWise) => Ok((
            Verdict::Holds,
            format!(
                "every node from the batched inputs to `{output}` acts row by row on axis 0 ({sym}), so the graph is a per-row model lifted over the batch: row i of `{output}` is the graph on row i alone, exactly (tl's per-op rules checked it; TorchLean proves the lift's law, NN.Examples.BugZoo.BatchInvariance.mapBatch_select_eq_single, not these rules)"
            ),
        )),
        _ => Ok(unknown(&format!(
            "`{output}` does not carry the batch axis {sym} as axis 0"
        ))),
    }
}

fn unknown(why: &str) -> (Verdict, String) {
    (
        Verdict::Unknown {
            reason: why.to_string(),
        },
        "structural check of the lowered graph".into(),
    )
}

/// Whether node `from` is an ancestor of (or is) `to`.
fn reaches(graph: &Graph, from: usize, to: usize) -> bool {
    let mut seen = vec![false; graph.nodes.len()];
    let mut stack = vec![to];
    while let Some(n) = stack.pop() {
        if n == from {
            return true;
        }
        if !std::mem::replace(&mut seen[n], true) {
            stack.extend(graph.nodes[n].parents.iter().copied());
        }
    }
    false
}

/// An axis attribute normalised against `rank` (negative counts from the end).
fn axis(a: i64, rank: usize) -> i64 {
    if a < 0 {
        a + rank as i64
    } else {
        a
    }
}

/// The rule of one op: how the rows of its result relate to the rows of its arguments.
fn op_rows(
    op: Op,
    attrs: &tl_ir::Attrs,
    args: &[Rows],
    ranks: &[usize],
    out_rank: usize,
) -> Result<Rows, String> {
    if args.iter().all(|a| *a == Rows::Free) {
        return Ok(Rows::Free);
    }
    let first_rowwise = args.first() == Some(&Rows::RowWise);
    let rest_free = args.iter().skip(1).all(|a| *a == Rows::Free);
    // The op's axes never include axis 0 of a rank-`rank` operand.
    let keeps_axis0 = |name: &str, default_all: bool, rank: usize| -> Result<(), String> {
        match attrs.ints(name) {
            Some(axes) if axes.iter().all(|&a| axis(a, rank) != 0) => Ok(()),
            Some(_) => Err(format!("`{name}` includes the batch axis 0")),
            None if default_all => Err(format!(
                "`{name}` defaults to every axis, the batch axis too"
            )),
            None => Ok(()),
        }
    };
    let row = |ok: bool, why: &str| {
        if ok {
            Ok(Rows::RowWise)
        } else {
            Err(why.to_string())
        }
    };
    let rank0 = ranks.first().copied().unwrap_or(0);
    match op {
        _ if op.info().family == Family::Activation => Ok(Rows::RowWise),
        Op::Neg
        | Op::Exp
        | Op::Log
        | Op::Sqrt
        | Op::Abs
        | Op::Erf
        | Op::Clamp
        | Op::Dropout
        | Op::Identity => Ok(Rows::RowWise),
        Op::Add | Op::Sub | Op::Mul | Op::Div | Op::Pow | Op::Where => {
            // A batch-free operand broadcasts over the rows only when it has no axis 0 of its own
            // (a lower rank); two batched operands must both have axis 0.
            let ok = args.iter().zip(ranks).all(|(a, &r)| match a {
                Rows::RowWise => r == out_rank,
                Rows::Free => r < out_rank,
            });
            row(
                ok,
                "a batch-free operand has an axis 0 of its own, or a batched one is broadcast",
            )
        }
        Op::Linear => row(
            first_rowwise && rest_free && rank0 >= 2,
            "the rows are not the input's leading axis, or the weights depend on the batch",
        ),
        Op::Matmul => {
            let ok = match (args, ranks) {
                ([Rows::RowWise, Rows::Free], [a, b]) => *a >= 2 && *b <= 2,
                ([Rows::RowWise, Rows::RowWise], [a, b]) => *a >= 3 && a == b,
                _ => false,
            };
            row(
                ok,
                "the product contracts or broadcasts over the batch axis",
            )
        }
        Op::Conv1d
        | Op::Conv2d
        | Op::MaxPool2d
        | Op::AvgPool2d
        | Op::GlobalAvgPool
        | Op::BatchNorm => row(
            first_rowwise && rest_free,
            "the weights or statistics depend on the batch",
        ),
        Op::LayerNorm | Op::RmsNorm => {
            // Normalises trailing axes; axis 0 stays outside when the input has more than the
            // normalised ones.
            // normalized_shape, else the weight's rank, else the last axis (the op's defaults).
            let normalized = attrs
                .ints("normalized_shape")
                .map(|s| s.len())
                .or_else(|| ranks.get(1).copied())
                .unwrap_or(1);
            row(
                first_rowwise && rest_free && rank0 > normalized,
                "the normalised axes include the batch axis",
            )
        }
        Op::Softmax | Op::LogSoftmax | Op::Argmax => {
            let a = axis(attrs.int("axis", -1), rank0);
            row(
                first_rowwise && a != 0,
                "it normalises over the batch axis 0",
            )
        }
        Op::Sum | Op::Mean | Op::Max => {
            keeps_axis0("axes", true, rank0)?;
            row(first_rowwise, "it reduces over the batch axis")
        }
        Op::Trilu => row(
            first_rowwise && rank0 >= 3,
            "the triangle's axes include the batch axis",
        ),
        Op::Flatten => row(
            first_rowwise && axis(attrs.int("start_dim", 1), rank0) >= 1,
            "it merges the batch axis",
        ),
        Op::Transpose => {
            let (d0, d1) = (
                axis(attrs.int("dim0", -2), rank0),
                axis(attrs.int("dim1", -1), rank0),
            );
            row(
                first_rowwise && d0 != 0 && d1 != 0,
                "it moves the batch axis",
            )
        }
        Op::Permute => row(
            first_rowwise
                && attrs
                    .ints("dims")
                    .is_some_and(|d| d.first().map(|&a| axis(a, rank0)) == Some(0)),
            "it moves the batch axis",
        ),
        Op::Slice => row(
            first_rowwise && axis(attrs.int("axis", 0), rank0) != 0,
            "it slices the batch axis",
        ),
        Op::Unsqueeze => {
            keeps_axis0("axes", false, out_rank)?;
            row(first_rowwise, "")
        }
        Op::Squeeze => {
            let ok = attrs
                .ints("axes")
                .is_some_and(|a| a.iter().all(|&x| axis(x, rank0) != 0));
            row(first_rowwise && ok, "it may squeeze the batch axis")
        }
        Op::Concat => row(
            args.iter().all(|a| *a == Rows::RowWise) && axis(attrs.int("axis", 0), rank0) != 0,
            "it joins along the batch axis, or joins batched and batch-free values",
        ),
        Op::Embedding => row(
            first_rowwise && rest_free && rank0 >= 1,
            "the table depends on the batch",
        ),
        Op::AttentionWeights | Op::ScaledDotProductAttention => row(
            ranks.iter().take(2).all(|&r| r >= 3)
                && args
                    .iter()
                    .zip(ranks)
                    .all(|(a, &r)| *a == Rows::RowWise || r < out_rank),
            "attention over rank-2 operands attends across the batch axis",
        ),
        Op::MseLoss | Op::CrossEntropy => row(
            attrs.str("reduction", "mean") == "none" && args.iter().all(|a| *a == Rows::RowWise),
            "the loss is reduced over the batch, or its targets are not batched",
        ),
        other => Err(format!("no row rule for {}", other.name())),
    }
}

/// Sampling: the reference semantics on a batch of rows and on each row alone.
pub(super) fn sample(
    cx: &Cx,
    output: &str,
    samples: u64,
    seed: u64,
) -> Result<(Verdict, String), Failure> {
    let model = cx.model.with_outputs(&[output.to_string()])?;
    let graph = &model.graph;
    let Some(sym) = batch_symbol(graph) else {
        return Err(Failure::unsupported(
            "no graph input has a symbolic first extent (the batch axis)",
        ));
    };
    let batched: Vec<String> = graph
        .inputs
        .iter()
        .filter(|&&i| graph.nodes[i].shape.0.first() == Some(&Dim::Sym(sym.clone())))
        .map(|&i| graph.nodes[i].name.clone())
        .collect();
    let rows = STRUCTURE_SIZE as usize;
    let run = |inputs: &BTreeMap<String, Tensor>| -> Result<Tensor, Failure> {
        let den = denote(graph, &model.params, inputs).map_err(Failure::exec)?;
        den.output(output)
            .cloned()
            .ok_or_else(|| Failure::claim(format!("no value for `{output}`")))
    };
    let mut worst = 0.0f64;
    for (k, inputs) in draw(cx, &model, samples, seed, STRUCTURE_SIZE)?
        .iter()
        .enumerate()
    {
        if let Some(stop) = cx.cancelled(k, samples) {
            return Ok(stop);
        }
        let full_t = run(inputs)?;
        if full_t.shape().first() != Some(&rows) {
            return Err(Failure::claim(format!(
                "`{output}` does not keep the batch axis {sym} as axis 0"
            )));
        }
        let full = values(&full_t);
        let per = full.len() / rows;
        for i in 0..rows {
            let alone: BTreeMap<String, Tensor> = inputs
                .iter()
                .map(|(n, t)| {
                    if batched.contains(n) {
                        super::sampling::take_rows(t, &[i]).map(|t| (n.clone(), t))
                    } else {
                        Ok((n.clone(), t.clone()))
                    }
                })
                .collect::<Result<_, _>>()?;
            let single = values(&run(&alone)?);
            for (j, (&a, &b)) in full[i * per..(i + 1) * per].iter().zip(&single).enumerate() {
                let gap = (a - b).abs();
                // Both engines run the same f64 arithmetic per row; only summation order may
                // differ between a batch and a row, far below this threshold.
                if gap > 1e-9 * (1.0 + b.abs()) || a.is_nan() != b.is_nan() {
                    return Ok((
                        Verdict::Violated {
                            counterexample: Counterexample {
                                inputs: inputs
                                    .iter()
                                    .map(|(n, t)| (n.clone(), t.shape().to_vec(), values(t)))
                                    .collect(),
                                outputs: vec![(output.to_string(), full_t.shape().to_vec(), full.clone())],
                                confirmed_on: "the f64 reference semantics".into(),
                            },
                        },
                        format!(
                            "sample {k} (seed {seed}): row {i} of `{output}` in a batch of {rows} differs from the graph on row {i} alone at element {j}: {a} vs {b}"
                        ),
                    ));
                }
                worst = worst.max(gap);
            }
        }
    }
    Ok((
        Verdict::Holds,
        format!(
            "{samples} samples (seed {seed}) of {rows} rows: each row of `{output}` equals the graph on that row alone in the reference semantics (largest difference {worst:.1e}); sampled, not proved"
        ),
    ))
}
