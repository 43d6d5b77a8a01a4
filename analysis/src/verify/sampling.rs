//! sampling: seeded executions of both engines. Evidence of status "tested", never more; a
//! sample that breaks the claim on the compiled f32 executor is a counterexample.

use std::collections::BTreeMap;

use tl_bounds::attack::Rng;
use tl_ir::{Dim, NodeKind, Op};
use tl_kernels::exec::Plan;
use tl_kernels::{denote, Tensor};

use super::claims::{self, index_text, property_violated, RowClaim};
use super::model::{concrete_shape, values, Model};
use super::sets::box_samples;
use super::{Cx, Failure, Tolerance};
use crate::contracts::Claim;
use crate::outcome::{Counterexample, Verdict};

/// Symbolic extents for sampled output claims: one row, as the bounds methods use.
const POINT_SIZE: u64 = 1;
/// Symbolic extents for structural claims (masks, ignored rows, equivalence): several positions
/// so that masks and row removal mean something.
pub(super) const STRUCTURE_SIZE: u64 = 4;

type Inputs = BTreeMap<String, Tensor>;

pub(super) fn run(cx: &Cx, samples: u64, seed: u64) -> Result<(Verdict, String), Failure> {
    match cx.claim {
        Claim::Argmax { .. } | Claim::Linear { .. } | Claim::All(_) => {
            output_claim(cx, samples, seed)
        }
        Claim::VnnLib { .. } => vnnlib(cx, samples, seed),
        Claim::Equivalence => {
            let tol =
                cx.p.tolerance
                    .as_ref()
                    .ok_or_else(|| Failure::claim("an equivalence contract needs a tolerance"))?;
            equivalence(cx, tol, samples, seed)
        }
        Claim::MaskedWeightsZero { node } => masked(cx, node, samples, seed),
        Claim::IgnoredLabelsZero { node } => ignored(cx, node, samples, seed),
        other => Err(Failure::unsupported(format!(
            "sampling does not check {} claims here",
            other.kind()
        ))),
    }
}

/// `count` input maps drawn from the contract's sets, symbolic extents set to `size`.
pub(super) fn draw(
    cx: &Cx,
    model: &Model,
    count: u64,
    seed: u64,
    size: u64,
) -> Result<Vec<Inputs>, Failure> {
    // (input name, concrete shape, one point per sample, integer dtype)
    type Column = (String, Vec<usize>, Vec<Vec<f64>>, bool);
    let mut columns: Vec<Column> = Vec::new();
    for (id, name) in model.inputs() {
        let node = &model.graph.nodes[id];
        let shape = concrete_shape(&node.shape, size);
        let set = cx.set_for(&name).ok_or_else(|| {
            Failure::input(format!("input `{name}` has no `given` set to sample from"))
        })?;
        let points = set.points(&node.shape, size, count, seed ^ hash(&name))?;
        columns.push((name, shape, points, node.dtype.is_integer()));
    }
    (0..count as usize)
        .map(|k| {
            columns
                .iter()
                .map(|(name, shape, points, int)| {
                    let t = if *int {
                        Tensor::from_i64(
                            shape,
                            points[k].iter().map(|v| v.round() as i64).collect(),
                        )
                    } else {
                        Tensor::from_f64(shape, points[k].clone())
                    };
                    t.map(|t| (name.clone(), t))
                        .map_err(|e| Failure::input(e.to_string()))
                })
                .collect()
        })
        .collect()
}

fn hash(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ b as u64).wrapping_mul(0x100_0000_01b3)
    })
}

fn run_plan(plan: &Plan, inputs: &Inputs) -> Result<BTreeMap<String, Tensor>, Failure> {
    plan.run(inputs).map_err(Failure::exec)
}

fn get<'a>(out: &'a BTreeMap<String, Tensor>, name: &str) -> Result<&'a Tensor, Failure> {
    out.get(name)
        .ok_or_else(|| Failure::claim(format!("no value for `{name}`")))
}

fn counterexample(inputs: &Inputs, outputs: &[(&str, &Tensor)]) -> Counterexample {
    Counterexample {
        inputs: inputs
            .iter()
            .map(|(n, t)| (n.clone(), t.shape().to_vec(), values(t)))
            .collect(),
        outputs: outputs
            .iter()
            .map(|(n, t)| (n.to_string(), t.shape().to_vec(), values(t)))
            .collect(),
        confirmed_on: Counterexample::compiled_executor(),
    }
}

fn output_claim(cx: &Cx, samples: u64, seed: u64) -> Result<(Verdict, String), Failure> {
    let node = claims::claim_node(cx.claim)?;
    let model = cx.model.with_outputs(std::slice::from_ref(&node))?;
    let plan = model.compile()?;
    let draws = draw(cx, &model, samples, seed, POINT_SIZE)?;
    let mut rows: Option<RowClaim> = None;
    let mut reference_only = None;
    let mut worst_gap = 0.0f64;
    for (k, inputs) in draws.iter().enumerate() {
        if let Some(stop) = cx.cancelled(k, samples) {
            return Ok(stop);
        }
        let out = run_plan(&plan, inputs)?;
        let y_t = get(&out, &node)?;
        let rc = match &rows {
            Some(rc) => rc,
            None => rows.insert(claims::rows(cx.claim, &node, y_t.shape())?),
        };
        let y = values(y_t);
        if let Some(row) = rc.violated_row(&y) {
            return Ok((
                Verdict::Violated {
                    counterexample: counterexample(inputs, &[(&node, y_t)]),
                },
                format!(
                    "sample {k} of {samples} (seed {seed}) breaks `{}` on the compiled f32 executor",
                    row.text
                ),
            ));
        }
        let den = denote(&model.graph, &model.params, inputs).map_err(Failure::exec)?;
        let y64 = values(
            den.output(&node)
                .ok_or_else(|| Failure::claim(format!("no value for `{node}`")))?,
        );
        worst_gap = y
            .iter()
            .zip(&y64)
            .fold(worst_gap, |w, (a, b)| w.max((a - b).abs()));
        if reference_only.is_none() && !rc.holds(&y64) {
            reference_only = Some(k);
        }
    }
    if let Some(k) = reference_only {
        return Ok((
            Verdict::Unknown {
                reason: format!("sample {k} breaks the claim in the reference (f64) semantics but not on the compiled executor: not reported as a counterexample"),
            },
            format!("{samples} samples (seed {seed})"),
        ));
    }
    Ok((
        Verdict::Holds,
        format!(
            "{samples} samples (seed {seed}): the claim held on every one in the compiled (f32) and reference (f64) engines; largest engine difference {worst_gap:.3e}; sampled, not proved"
        ),
    ))
}

fn vnnlib(cx: &Cx, samples: u64, seed: u64) -> Result<(Verdict, String), Failure> {
    let path =
        cx.p.vnnlib
            .as_ref()
            .ok_or_else(|| Failure::input("no VNN-LIB file"))?;
    let prop = tl_bounds::vnnlib::load(path)
        .map_err(|e| Failure::input(format!("{}: {} [{}]", path.display(), e.message, e.code)))?;
    let (input_id, input) = cx
        .model
        .inputs()
        .first()
        .cloned()
        .ok_or_else(|| Failure::claim("the graph has no input"))?;
    let output = cx
        .model
        .graph
        .outputs
        .first()
        .map(|(n, _)| n.clone())
        .ok_or_else(|| Failure::claim("the graph has no output"))?;
    let shape = concrete_shape(&cx.model.graph.nodes[input_id].shape, POINT_SIZE);
    let plan = cx.model.compile()?;
    let per_case = (samples / prop.cases.len().max(1) as u64).max(1);
    let mut done = 0;
    for (c, case) in prop.cases.iter().enumerate() {
        for x in box_samples(&case.input, per_case, seed ^ c as u64) {
            if let Some(stop) = cx.cancelled(done, per_case * prop.cases.len() as u64) {
                return Ok(stop);
            }
            done += 1;
            let t =
                Tensor::from_f64(&shape, x.clone()).map_err(|e| Failure::input(e.to_string()))?;
            let inputs = BTreeMap::from([(input.clone(), t)]);
            let out = run_plan(&plan, &inputs)?;
            let y_t = get(&out, &output)?;
            if property_violated(&prop, &x, &values(y_t)) {
                return Ok((
                    Verdict::Violated {
                        counterexample: counterexample(&inputs, &[(&output, y_t)]),
                    },
                    format!(
                        "a sample of case {c} reaches the unsafe set on the compiled f32 executor"
                    ),
                ));
            }
        }
    }
    Ok((
        Verdict::Holds,
        format!(
            "{} samples over {} case(s) (seed {seed}) stayed out of the unsafe set; sampled, not proved",
            per_case * prop.cases.len() as u64,
            prop.cases.len()
        ),
    ))
}

/// Worst deviation between the engines at one node.
#[derive(Clone, Debug, Default)]
pub(super) struct Worst {
    pub node: String,
    pub index: String,
    pub error: f64,
    pub allowed: f64,
}

pub(super) fn equivalence(
    cx: &Cx,
    tol: &Tolerance,
    samples: u64,
    seed: u64,
) -> Result<(Verdict, String), Failure> {
    let op_nodes: Vec<String> = cx
        .model
        .graph
        .nodes
        .iter()
        .filter(|n| matches!(n.kind, NodeKind::Op { .. }))
        .map(|n| n.name.clone())
        .collect();
    let outputs: Vec<String> = cx
        .model
        .graph
        .outputs
        .iter()
        .map(|(n, _)| n.clone())
        .collect();
    let model = cx.model.with_outputs(&op_nodes)?;
    let plan = model.compile()?;
    let draws = draw(cx, &model, samples, seed, STRUCTURE_SIZE)?;
    let mut worst = Worst::default();
    let mut worst_output = Worst::default();
    for (k, inputs) in draws.iter().enumerate() {
        if let Some(stop) = cx.cancelled(k, samples) {
            return Ok(stop);
        }
        let compiled = run_plan(&plan, inputs)?;
        let reference = denote(&model.graph, &model.params, inputs).map_err(Failure::exec)?;
        for (name, c) in &compiled {
            let Some(r) = reference.get(name).or_else(|| reference.output(name)) else {
                continue;
            };
            let shape = c.shape().to_vec();
            let (cv, rv) = (values(c), values(r));
            for (i, (a, b)) in cv.iter().zip(&rv).enumerate() {
                let err = if a == b { 0.0 } else { (a - b).abs() };
                let allowed = tol.allowed(*b);
                let ratio = |w: &Worst| {
                    if w.allowed > 0.0 {
                        w.error / w.allowed
                    } else {
                        w.error
                    }
                };
                let cand = Worst {
                    node: name.clone(),
                    index: index_text(&shape, i),
                    error: if err.is_nan() { f64::INFINITY } else { err },
                    allowed,
                };
                if ratio(&cand) > ratio(&worst) || worst.node.is_empty() {
                    worst = cand.clone();
                }
                if outputs.contains(name)
                    && (ratio(&cand) > ratio(&worst_output) || worst_output.node.is_empty())
                {
                    worst_output = cand.clone();
                }
                if outputs.contains(name) && (cand.error.is_nan() || cand.error > allowed) {
                    let outs: Vec<(&str, &Tensor)> = outputs
                        .iter()
                        .filter_map(|o| compiled.get(o).map(|t| (o.as_str(), t)))
                        .collect();
                    return Ok((
                        Verdict::Violated {
                            counterexample: counterexample(inputs, &outs),
                        },
                        format!(
                            "output {name}{} differs by {:.3e} > {:.3e} allowed by {}",
                            cand.index, cand.error, allowed, tol.name
                        ),
                    ));
                }
            }
        }
    }
    Ok((
        Verdict::Holds,
        format!(
            "{samples} samples (seed {seed}): every output within {}; worst output error {:.3e} at {}{}; worst node error {:.3e} at node {} {}; sampled, not proved",
            tol.name, worst_output.error, worst_output.node, worst_output.index, worst.error, worst.node, worst.index
        ),
    ))
}

fn op_node<'m>(model: &'m Model, node: &str) -> Result<(usize, Op, &'m tl_ir::Attrs), Failure> {
    let id = model
        .node(node)
        .ok_or_else(|| Failure::claim(format!("the graph has no node `{node}`")))?;
    match &model.graph.nodes[id].kind {
        NodeKind::Op { op, attrs } => Ok((id, *op, attrs)),
        _ => Err(Failure::claim(format!("`{node}` is not an op node"))),
    }
}

fn masked(cx: &Cx, node: &str, samples: u64, seed: u64) -> Result<(Verdict, String), Failure> {
    let (id, op, attrs) = op_node(cx.model, node)?;
    if op != Op::AttentionWeights {
        return Err(Failure::unsupported(format!(
            "`{node}` is {}: its weights are not a node; name an attention_weights node",
            op.name()
        )));
    }
    let causal = attrs.bool("causal", false);
    let mask_node = cx.model.graph.nodes[id]
        .parents
        .get(2)
        .map(|&m| cx.model.graph.nodes[m].name.clone());
    let mut wanted = vec![node.to_string()];
    wanted.extend(mask_node.clone());
    let model = cx.model.with_outputs(&wanted)?;
    let plan = model.compile()?;
    let draws = draw(cx, &model, samples, seed, STRUCTURE_SIZE)?;
    let mut checked = 0usize;
    for (k, inputs) in draws.iter().enumerate() {
        if let Some(stop) = cx.cancelled(k, samples) {
            return Ok(stop);
        }
        let out = run_plan(&plan, inputs)?;
        let den = denote(&model.graph, &model.params, inputs).map_err(Failure::exec)?;
        let w = get(&out, node)?;
        let shape = w.shape().to_vec();
        let (l, s) = match shape.as_slice() {
            [.., l, s] => (*l, *s),
            _ => {
                return Err(Failure::claim(format!(
                    "`{node}` has shape {shape:?}, not [..., L, S]"
                )))
            }
        };
        let keep = match &mask_node {
            Some(m) => {
                let mt = get(&out, m)?;
                Some(super::sets::broadcast(mt.shape(), &values(mt), &shape)?)
            }
            None => None,
        };
        let wr = den
            .get(node)
            .map(values)
            .ok_or_else(|| Failure::claim(format!("no reference value for `{node}`")))?;
        for (i, v) in values(w).iter().enumerate() {
            let (row, col) = ((i / s) % l, i % s);
            let is_masked = (causal && col > row) || keep.as_ref().is_some_and(|k| k[i] == 0.0);
            if !is_masked {
                continue;
            }
            checked += 1;
            if *v != 0.0 || wr[i] != 0.0 {
                let engine = if *v != 0.0 {
                    "compiled f32"
                } else {
                    "reference f64"
                };
                return Ok((
                    Verdict::Violated {
                        counterexample: counterexample(inputs, &[(node, w)]),
                    },
                    format!(
                        "sample {k}: masked weight {node}{} is {} in the {engine} engine, not 0",
                        index_text(&shape, i),
                        if *v != 0.0 { *v } else { wr[i] }
                    ),
                ));
            }
        }
    }
    let what = match (causal, &mask_node) {
        (true, Some(_)) => "causal and mask",
        (true, None) => "causal",
        (false, Some(_)) => "mask",
        (false, None) => "no masking: the claim holds vacuously",
    };
    Ok((
        Verdict::Holds,
        format!(
            "{samples} samples (seed {seed}), symbolic extents {STRUCTURE_SIZE}: all {checked} masked weights ({what}) exactly 0 in both engines; sampled, not proved"
        ),
    ))
}

fn ignored(cx: &Cx, node: &str, samples: u64, seed: u64) -> Result<(Verdict, String), Failure> {
    let (id, op, attrs) = op_node(cx.model, node)?;
    if op != Op::CrossEntropy {
        return Err(Failure::claim(format!(
            "`{node}` is not a cross_entropy node"
        )));
    }
    let ignore = attrs.int("ignore_index", -100);
    let reduction = attrs.str("reduction", "mean").to_string();
    let graph = &cx.model.graph;
    let parents = &graph.nodes[id].parents;
    let (logits, labels) = (parents[0], parents[1]);
    if !graph.inputs.contains(&labels) {
        return Err(Failure::unsupported(
            "the labels of the loss are computed, not a graph input: verify draws labels itself",
        ));
    }
    let labels_name = graph.nodes[labels].name.clone();
    let Some(Dim::Sym(rows_sym)) = graph.nodes[labels].shape.0.first().cloned() else {
        return Err(Failure::unsupported(
            "the labels have a fixed length: ignored rows cannot be removed to compare",
        ));
    };
    let classes = match graph.nodes[logits]
        .shape
        .0
        .get(if graph.nodes[logits].shape.0.len() == 1 {
            0
        } else {
            1
        }) {
        Some(Dim::Known(c)) => *c as i64,
        _ => {
            return Err(Failure::unsupported(
                "the number of classes is not a fixed extent",
            ))
        }
    };
    // Every input whose first extent is the labels' row symbol loses the same rows.
    let row_inputs: Vec<String> = graph
        .inputs
        .iter()
        .filter(|&&i| graph.nodes[i].shape.0.first() == Some(&Dim::Sym(rows_sym.clone())))
        .map(|&i| graph.nodes[i].name.clone())
        .collect();
    let model = cx.model.with_outputs(&[node.to_string()])?;
    let plan = model.compile()?;
    let n = 2 * STRUCTURE_SIZE as usize;
    let mut rng = Rng(seed ^ 0x001A_B315);
    // Float inputs from their sets; labels drawn here (they have no set).
    // (name, concrete shape, one point per sample)
    let mut columns = Vec::new();
    for (iid, name) in model.inputs() {
        if name == labels_name {
            continue;
        }
        let shape = concrete_shape(&graph.nodes[iid].shape, n as u64);
        let set = cx.set_for(&name).ok_or_else(|| {
            Failure::input(format!("input `{name}` has no `given` set to sample from"))
        })?;
        let points = set.points(
            &graph.nodes[iid].shape,
            n as u64,
            samples,
            seed ^ hash(&name),
        )?;
        columns.push((name, shape, points));
    }
    let mut draws = Vec::new();
    for k in 0..samples {
        let mut inputs = BTreeMap::new();
        for (name, shape, points) in &columns {
            inputs.insert(
                name.clone(),
                Tensor::from_f64(shape, points[k as usize].clone())
                    .map_err(|e| Failure::input(e.to_string()))?,
            );
        }
        let labels: Vec<i64> = (0..n)
            .map(|_| {
                let r = rng.next_f64();
                if k == 0 || r < 0.35 {
                    ignore
                } else {
                    ((rng.next_f64() * classes as f64) as i64).min(classes - 1)
                }
            })
            .collect();
        draws.push((inputs, labels));
    }
    for (k, (mut inputs, labels)) in draws.into_iter().enumerate() {
        if let Some(stop) = cx.cancelled(k, samples) {
            return Ok(stop);
        }
        inputs.insert(
            labels_name.clone(),
            Tensor::from_i64(&[n], labels.clone()).map_err(|e| Failure::input(e.to_string()))?,
        );
        let full_t = get(&run_plan(&plan, &inputs)?, node)?.clone();
        let full = values(&full_t);
        let keep: Vec<usize> = (0..n).filter(|&i| labels[i] != ignore).collect();
        let bad = |why: String| {
            Ok((
                Verdict::Violated {
                    counterexample: counterexample(&inputs, &[(node, &full_t)]),
                },
                format!("sample {k}: {why}"),
            ))
        };
        if reduction == "none" {
            if let Some(i) = (0..n).find(|&i| labels[i] == ignore && full[i] != 0.0) {
                return bad(format!(
                    "ignored row {i} has loss {} (reduction none)",
                    full[i]
                ));
            }
            continue;
        }
        if keep.is_empty() {
            if full[0] != 0.0 {
                return bad(format!(
                    "every label is ignored but the loss is {}",
                    full[0]
                ));
            }
            continue;
        }
        let kept: Inputs = inputs
            .iter()
            .map(|(name, t)| {
                if row_inputs.contains(name) {
                    take_rows(t, &keep).map(|t| (name.clone(), t))
                } else {
                    Ok((name.clone(), t.clone()))
                }
            })
            .collect::<Result<_, _>>()?;
        let without = values(get(&run_plan(&plan, &kept)?, node)?)[0];
        if full[0] != without && !(full[0].is_nan() && without.is_nan()) {
            return bad(format!(
                "loss {} with the ignored rows, {} without them",
                full[0], without
            ));
        }
    }
    Ok((
        Verdict::Holds,
        format!(
            "{samples} samples (seed {seed}) of {n} rows, about a third labelled {ignore} and one batch all ignored: the {reduction} loss equals the loss without the ignored rows exactly (0 when all are ignored) on the compiled executor; sampled, not proved"
        ),
    ))
}

/// Rows `keep` of a tensor along its first axis.
pub(super) fn take_rows(t: &Tensor, keep: &[usize]) -> Result<Tensor, Failure> {
    let shape = t.shape().to_vec();
    let per: usize = shape[1..].iter().product();
    let mut new_shape = shape.clone();
    new_shape[0] = keep.len();
    let err = |e: tl_kernels::KernelError| Failure::input(e.to_string());
    match t {
        Tensor::I64(a) => {
            let v: Vec<i64> = a.iter().copied().collect();
            Tensor::from_i64(
                &new_shape,
                keep.iter()
                    .flat_map(|&r| v[r * per..(r + 1) * per].to_vec())
                    .collect(),
            )
            .map_err(err)
        }
        _ => {
            let v = values(t);
            Tensor::from_f64(
                &new_shape,
                keep.iter()
                    .flat_map(|&r| v[r * per..(r + 1) * per].to_vec())
                    .collect(),
            )
            .map_err(err)
        }
    }
}
