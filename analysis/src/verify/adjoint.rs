//! (Test support.) The adjoint law `<J u, v> = <u, J^T v>` on a contract's model: forward mode against reverse
//! mode (`tl_kernels::autograd::graph_adjoint`) at a drawn point, for random directions through
//! every float input and param and a random cotangent of every float output. Sampled evidence
//! about tl's own rules; the spec-example test below runs it on every shipped graph.

use std::collections::BTreeMap;

use ndarray::{ArrayD, IxDyn};
use tl_bounds::attack::Rng;
use tl_kernels::autograd::{graph_adjoint, AdjointCheck, Seeds};
use tl_kernels::exec::Payload;
use tl_kernels::Tensor;

use super::model::Model;

/// The adjoint law for every float output of `model` at `inputs`, with seeded random tangents
/// and cotangents in [-1, 1]: `(output, check)` per output.
pub(super) fn adjoint_at(
    model: &Model,
    inputs: &BTreeMap<String, Tensor>,
    seed: u64,
) -> Result<Vec<(String, AdjointCheck)>, tl_kernels::autograd::AutogradError> {
    let mut rng = Rng(seed ^ 0xAD_101E);
    let mut random =
        |shape: &[usize]| ArrayD::from_shape_simple_fn(IxDyn(shape), || 2.0 * rng.next_f64() - 1.0);
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
