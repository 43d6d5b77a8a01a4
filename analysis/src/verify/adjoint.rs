//! `ensure adjoint(y)`: the adjoint law `<J u, v> = <u, J^T v>` between tl's forward mode and
//! reverse mode for the derivative of `y`, at points drawn from the input sets, for random
//! directions through every float input and param and random cotangents: per op node (each op's
//! JVP rule against its VJP rule at the values met, `tl_kernels::autograd::node_adjoints`) and
//! for the whole graph (`graph_adjoint`), each within its derived rounding budget. A failure is a
//! falsified result naming the op. Sampled evidence about tl's own rules: tested at most. The
//! spec-example test runs the graph-level law on every shipped graph (`adjoint_at`).

use ndarray::{ArrayD, IxDyn};
use tl_bounds::attack::Rng;
use tl_kernels::autograd::{graph_adjoint, Seeds};

use super::model::values;
use super::sampling::{draw, STRUCTURE_SIZE};
use super::{Cx, Failure};
use crate::outcome::{Counterexample, Verdict};

pub(super) fn run(
    cx: &Cx,
    output: &str,
    samples: u64,
    seed: u64,
) -> Result<(Verdict, String), Failure> {
    let model = cx.model.with_outputs(&[output.to_string()])?;
    let draws = draw(cx, &model, samples, seed, STRUCTURE_SIZE)?;
    let fail = |e: tl_kernels::autograd::AutogradError| {
        let code = e.code();
        match e {
            tl_kernels::autograd::AutogradError::Exec(inner) => Failure::exec(inner),
            other => Failure::new("TL0809", format!("{other} [{code}]")),
        }
    };
    let mut worst: Option<(f64, String)> = None;
    let mut nodes = 0;
    for (k, inputs) in draws.iter().enumerate() {
        if let Some(stop) = cx.cancelled(k, samples) {
            return Ok(stop);
        }
        let values_at =
            tl_kernels::denote(&model.graph, &model.params, inputs).map_err(Failure::exec)?;
        let per_node =
            tl_kernels::autograd::node_adjoints(&model.graph, &values_at, seed ^ k as u64)
                .map_err(fail)?;
        nodes = per_node.len();
        let mut rng = Rng(seed ^ (k as u64).wrapping_mul(0x2545_F491_4F6C_DD1D));
        let mut seeds = Seeds::default();
        for (name, t) in inputs {
            if t.dtype().is_float() {
                seeds.inputs.insert(
                    name.clone(),
                    ArrayD::from_shape_simple_fn(IxDyn(t.shape()), || 2.0 * rng.next_f64() - 1.0),
                );
            }
        }
        for node in &model.graph.nodes {
            if let tl_ir::NodeKind::Param { key } = &node.kind {
                if let (true, Some(t)) = (node.dtype.is_float(), model.params.get(key)) {
                    seeds.params.entry(key.clone()).or_insert_with(|| {
                        ArrayD::from_shape_simple_fn(IxDyn(t.shape()), || {
                            2.0 * rng.next_f64() - 1.0
                        })
                    });
                }
            }
        }
        let y = model
            .node(output)
            .and_then(|id| values_at.node(id))
            .ok_or_else(|| Failure::claim(format!("the graph has no value `{output}`")))?;
        let v = ArrayD::from_shape_simple_fn(IxDyn(y.shape()), || 2.0 * rng.next_f64() - 1.0);
        let whole =
            graph_adjoint(&model.graph, &model.params, inputs, output, &seeds, &v).map_err(fail)?;
        let checks = per_node
            .iter()
            .map(|n| (format!("node `{}` ({})", n.node, n.op), &n.check))
            .chain(std::iter::once((
                format!("the whole graph up to `{output}`"),
                &whole,
            )));
        for (what, c) in checks {
            if !c.holds() {
                let detail = format!(
                    "sample {k} of {samples} (seed {seed}): {what} breaks the adjoint law: <J u, v> = {:e} by forward mode, <u, J^T v> = {:e} by reverse mode, error {:.3e} > budget {:.3e} (4 gamma(K) S, K = {}, S = {:.3e}); f64 reference semantics",
                    c.forward, c.reverse, c.error(), c.budget, c.terms, c.scale
                );
                return Ok((
                    Verdict::Violated {
                        counterexample: Counterexample {
                            inputs: inputs
                                .iter()
                                .map(|(n, t)| (n.clone(), t.shape().to_vec(), values(t)))
                                .collect(),
                            outputs: vec![(output.to_string(), y.shape().to_vec(), values(y))],
                            confirmed_on:
                                "the f64 reference semantics (forward against reverse mode)".into(),
                        },
                    },
                    detail,
                ));
            }
            let ratio = if c.budget > 0.0 {
                c.error() / c.budget
            } else {
                0.0
            };
            if worst.as_ref().is_none_or(|(r, _)| ratio > *r) {
                worst = Some((ratio, what));
            }
        }
    }
    let worst = worst.map_or(String::new(), |(r, what)| {
        format!("; worst: {what} at {r:.2e} of its budget")
    });
    Ok((
        Verdict::Holds,
        format!(
            "{samples} samples (seed {seed}), symbolic extents {STRUCTURE_SIZE}: forward mode and reverse mode satisfy <J u, v> = <u, J^T v> within the derived rounding budget for `{output}` over the whole graph and at each of its {nodes} differentiable op nodes{worst}; sampled, not proved"
        ),
    ))
}

/// The graph-level law on a model, for the spec-example test.
#[cfg(test)]
pub(super) mod testing {
    use std::collections::BTreeMap;

    use ndarray::{ArrayD, IxDyn};
    use tl_bounds::attack::Rng;
    use tl_kernels::autograd::{graph_adjoint, AdjointCheck, Seeds};
    use tl_kernels::exec::Payload;
    use tl_kernels::Tensor;

    use super::super::model::Model;

    /// The adjoint law for every float output of `model` at `inputs`, with seeded random tangents
    /// and cotangents in [-1, 1]: `(output, check)` per output.
    pub(in crate::verify) fn adjoint_at(
        model: &Model,
        inputs: &BTreeMap<String, Tensor>,
        seed: u64,
    ) -> Result<Vec<(String, AdjointCheck)>, tl_kernels::autograd::AutogradError> {
        let mut rng = Rng(seed ^ 0xAD_101E);
        let mut random = |shape: &[usize]| {
            ArrayD::from_shape_simple_fn(IxDyn(shape), || 2.0 * rng.next_f64() - 1.0)
        };
        let mut seeds = Seeds::default();
        for (name, t) in inputs {
            if t.dtype().is_float() {
                seeds.inputs.insert(name.clone(), random(t.shape()));
            }
        }
        for node in &model.graph.nodes {
            if let tl_ir::NodeKind::Param { key } = &node.kind {
                if seeds.params.contains_key(key) || !node.dtype.is_float() {
                    continue;
                }
                if let Ok(t) = (&model.params as &dyn Payload).load(key) {
                    seeds.params.insert(key.clone(), random(t.shape()));
                }
            }
        }
        let values = tl_kernels::denote(&model.graph, &model.params, inputs)?;
        let mut out = Vec::new();
        for (name, id) in &model.graph.outputs {
            let Some(y) = values.node(*id) else { continue };
            if !y.dtype().is_float() {
                continue;
            }
            let v = random(y.shape());
            out.push((
                name.clone(),
                graph_adjoint(&model.graph, &model.params, inputs, name, &seeds, &v)?,
            ));
        }
        Ok(out)
    }
}
