//! The reverse sweep: vector-Jacobian products from the output back to every float input and
//! param, over the values the reference evaluator kept.

use super::error::{AutogradError, AutogradResult};
use super::rules::{vjp_needed, RuleError};
use crate::exec::{denote, lower, Denotation, ExecError, Lowered, Payload};
use crate::tensor::Tensor;
use ndarray::ArrayD;
use std::collections::BTreeMap;
use tl_ir::{Graph, NodeId, NodeKind};

/// Gradients of one output of a graph at one point.
#[derive(Debug, Clone, PartialEq)]
pub struct Gradients {
    /// The output differentiated.
    pub output: String,
    /// The differentiated value: the output itself when it has one element, else the sum of its
    /// elements (the gradient of a non-scalar output is the gradient of that sum).
    pub value: f64,
    /// How many output elements were summed (1 for a scalar output).
    pub summed: usize,
    /// d value / d input, for every float graph input (zeros where the output does not depend on
    /// it).
    pub inputs: BTreeMap<String, ArrayD<f64>>,
    /// d value / d param, by payload key (summed over nodes that share a key).
    pub params: BTreeMap<String, ArrayD<f64>>,
}

/// The id of graph output (or node) `name`.
pub(crate) fn output_id(graph: &Graph, name: &str) -> AutogradResult<NodeId> {
    graph
        .outputs
        .iter()
        .find(|(o, _)| o == name)
        .map(|&(_, id)| id)
        .or_else(|| graph.node_by_name(name))
        .ok_or_else(|| AutogradError::NotDifferentiable {
            output: name.into(),
            detail: "the graph has no such output or node".into(),
        })
}

/// Evaluates `graph` in f64 and differentiates the sum of output `output`'s elements with respect
/// to every float input and param.
pub fn gradients(
    graph: &Graph,
    payload: &dyn Payload,
    inputs: &BTreeMap<String, Tensor>,
    output: &str,
) -> AutogradResult<Gradients> {
    let values = denote(graph, payload, inputs)?;
    let out = output_id(graph, output)?;
    let adjoints = backward(graph, &values, out)?;
    let y = values
        .node(out)
        .ok_or_else(|| AutogradError::NotDifferentiable {
            output: output.into(),
            detail: "no value".into(),
        })?;
    let mut grads = Gradients {
        output: output.into(),
        value: y.to_f64().sum(),
        summed: y.len(),
        inputs: BTreeMap::new(),
        params: BTreeMap::new(),
    };
    for (id, node) in graph.nodes.iter().enumerate() {
        if !node.dtype.is_float() {
            continue;
        }
        let value = || {
            values
                .node(id)
                .map_or_else(|| ArrayD::zeros(ndarray::IxDyn(&[])), Tensor::to_f64)
        };
        let adjoint = adjoints[id]
            .clone()
            .unwrap_or_else(|| ArrayD::zeros(value().raw_dim()));
        match &node.kind {
            NodeKind::Input => {
                grads.inputs.insert(node.name.clone(), adjoint);
            }
            NodeKind::Param { key } => match grads.params.get_mut(key) {
                Some(sum) if sum.shape() == adjoint.shape() => *sum += &adjoint,
                _ => {
                    grads.params.insert(key.clone(), adjoint);
                }
            },
            NodeKind::Op { .. } => {}
        }
    }
    Ok(grads)
}

/// The adjoint of every node (`None`: the output does not depend on it through float values):
/// the gradient of the sum of `output`'s elements with respect to the node's value.
pub fn backward(
    graph: &Graph,
    values: &Denotation,
    output: NodeId,
) -> AutogradResult<Vec<Option<ArrayD<f64>>>> {
    backward_from(graph, values, output, None)
}

/// [`backward`] from the cotangent `seed` of `output` (`None`: all ones): the adjoint of every
/// node is `J_node^T seed`, the vector-Jacobian product of the whole graph.
pub fn backward_from(
    graph: &Graph,
    values: &Denotation,
    output: NodeId,
    seed: Option<&ArrayD<f64>>,
) -> AutogradResult<Vec<Option<ArrayD<f64>>>> {
    sweep(graph, values, output, seed, &depends_on_leaves(graph))
}

/// [`backward_from`] toward the graph's float inputs only: params get no adjoint and no rule
/// computes one for them (a search that steers an input by its gradient, at a fraction of the
/// cost when the weights are large).
pub fn backward_to_inputs(
    graph: &Graph,
    values: &Denotation,
    output: NodeId,
    seed: Option<&ArrayD<f64>>,
) -> AutogradResult<Vec<Option<ArrayD<f64>>>> {
    let mut depends = vec![false; graph.nodes.len()];
    for (id, node) in graph.nodes.iter().enumerate() {
        depends[id] = match node.kind {
            NodeKind::Input => node.dtype.is_float(),
            NodeKind::Param { .. } => false,
            NodeKind::Op { .. } => node.parents.iter().any(|&p| depends[p]),
        };
    }
    sweep(graph, values, output, seed, &depends)
}

/// The reverse sweep over the nodes `depends` marks (the others get no adjoint).
fn sweep(
    graph: &Graph,
    values: &Denotation,
    output: NodeId,
    seed: Option<&ArrayD<f64>>,
    depends: &[bool],
) -> AutogradResult<Vec<Option<ArrayD<f64>>>> {
    let value = |id: NodeId| {
        values.node(id).ok_or_else(|| {
            AutogradError::Exec(ExecError::InvalidGraph {
                detail: format!("no value for node {id}"),
            })
        })
    };
    let out = value(output)?;
    let out_name = graph.nodes.get(output).map_or("", |n| n.name.as_str());
    if !matches!(out, Tensor::F64(_) | Tensor::F32(_)) {
        return Err(AutogradError::NotDifferentiable {
            output: out_name.into(),
            detail: format!("its value is {}, not a float", out.dtype()),
        });
    }
    let mut adjoints: Vec<Option<ArrayD<f64>>> = vec![None; graph.nodes.len()];
    adjoints[output] = Some(match seed {
        Some(s) if s.shape() == out.shape() => s.clone(),
        Some(s) => {
            return Err(AutogradError::NotDifferentiable {
                output: out_name.into(),
                detail: format!(
                    "the cotangent {:?} differs from the output {:?}",
                    s.shape(),
                    out.shape()
                ),
            })
        }
        None => ArrayD::ones(out.shape()),
    });
    for id in (0..=output).rev() {
        let node = &graph.nodes[id];
        let NodeKind::Op { op, attrs } = &node.kind else {
            continue;
        };
        if !depends[id] {
            continue;
        }
        let Some(g) = adjoints[id].clone() else {
            continue;
        };
        let lowered =
            lower(*op, attrs, node.parents.len()).map_err(|detail| ExecError::Lowering {
                node: node.name.clone(),
                op: op.name(),
                detail,
            })?;
        let contributions: Vec<(NodeId, ArrayD<f64>)> = match lowered {
            Lowered::Forward => node
                .parents
                .first()
                .map(|&p| (p, g.clone()))
                .into_iter()
                .collect(),
            Lowered::Constant { .. } => vec![],
            Lowered::Kernel {
                op: kop,
                operands,
                output: which,
                ..
            } => {
                let no_rule = |detail: String| AutogradError::NoRule {
                    node: node.name.clone(),
                    op: op.name(),
                    detail,
                };
                let parents: Vec<NodeId> = operands
                    .iter()
                    .map(|&i| node.parents.get(i).copied())
                    .collect::<Option<_>>()
                    .ok_or_else(|| no_rule("an operand is missing".into()))?;
                let args = parents
                    .iter()
                    .map(|&p| value(p))
                    .collect::<AutogradResult<Vec<_>>>()?;
                let y = value(id)?.to_f64();
                let needs: Vec<bool> = parents.iter().map(|&p| depends[p]).collect();
                let grads =
                    vjp_needed(&kop, &args, which, &y, &g, &needs).map_err(|e| match e {
                        RuleError::Missing(detail) => no_rule(detail),
                        RuleError::Kernel(source) => AutogradError::Exec(ExecError::Kernel {
                            node: node.name.clone(),
                            source,
                        }),
                    })?;
                parents
                    .into_iter()
                    .zip(grads)
                    .filter_map(|(p, gp)| gp.map(|gp| (p, gp)))
                    .collect()
            }
        };
        for (p, gp) in contributions {
            if !depends[p] {
                continue;
            }
            match &mut adjoints[p] {
                Some(acc) if acc.shape() == gp.shape() => *acc += &gp,
                Some(acc) => {
                    return Err(AutogradError::Exec(ExecError::InvalidGraph {
                        detail: format!(
                            "node {}: gradient {:?} for a value of shape {:?}",
                            node.name,
                            gp.shape(),
                            acc.shape()
                        ),
                    }))
                }
                slot @ None => *slot = Some(gp),
            }
        }
    }
    Ok(adjoints)
}

/// Whether each node depends on a float input or param (only those need adjoints; a constant
/// subgraph is never differentiated, so an op without a rule there is no error).
pub(crate) fn depends_on_leaves(graph: &Graph) -> Vec<bool> {
    let mut depends = vec![false; graph.nodes.len()];
    for (id, node) in graph.nodes.iter().enumerate() {
        depends[id] = match node.kind {
            NodeKind::Input | NodeKind::Param { .. } => node.dtype.is_float(),
            NodeKind::Op { .. } => node.parents.iter().any(|&p| depends[p]),
        };
    }
    depends
}
