//! The forward sweep (forward mode, Jacobian-vector products): the tangent of every node for
//! given tangents of the float inputs and params, over the values the reference evaluator kept.
//! Each op's tangent comes from its JVP rule, beside its VJP rule in `rules/`.

use super::error::{AutogradError, AutogradResult};
use super::rules::{jvp as op_jvp, RuleError};
use crate::exec::{denote, lower, Denotation, ExecError, Lowered, Payload};
use crate::tensor::Tensor;
use ndarray::ArrayD;
use std::collections::BTreeMap;
use tl_ir::{Graph, NodeKind};

/// Tangents of the leaves: float inputs by name, params by payload key (a key shared by several
/// nodes gives each the same tangent). A leaf without one has a zero tangent.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Seeds {
    pub inputs: BTreeMap<String, ArrayD<f64>>,
    pub params: BTreeMap<String, ArrayD<f64>>,
}

/// One output's value and its tangent `J u` at one point.
#[derive(Debug, Clone, PartialEq)]
pub struct Jvp {
    pub output: String,
    pub value: ArrayD<f64>,
    pub tangent: ArrayD<f64>,
}

/// Evaluates `graph` in f64 and pushes the leaf tangents `seeds` forward to output `output`.
pub fn jvp(
    graph: &Graph,
    payload: &dyn Payload,
    inputs: &BTreeMap<String, Tensor>,
    output: &str,
    seeds: &Seeds,
) -> AutogradResult<Jvp> {
    let values = denote(graph, payload, inputs)?;
    let out = super::backward::output_id(graph, output)?;
    let tangents = forward_tangents(graph, &values, seeds)?;
    let value = values
        .node(out)
        .ok_or_else(|| AutogradError::NotDifferentiable {
            output: output.into(),
            detail: "no value".into(),
        })?;
    if !value.dtype().is_float() {
        return Err(AutogradError::NotDifferentiable {
            output: output.into(),
            detail: format!("its value is {}, not a float", value.dtype()),
        });
    }
    let value = value.to_f64();
    let tangent = tangents[out]
        .clone()
        .unwrap_or_else(|| ArrayD::zeros(value.raw_dim()));
    Ok(Jvp {
        output: output.into(),
        value,
        tangent,
    })
}

/// The tangent of every node (`None`: zero, e.g. integer values or constants).
pub fn forward_tangents(
    graph: &Graph,
    values: &Denotation,
    seeds: &Seeds,
) -> AutogradResult<Vec<Option<ArrayD<f64>>>> {
    let value = |id: usize| {
        values.node(id).ok_or_else(|| {
            AutogradError::Exec(ExecError::InvalidGraph {
                detail: format!("no value for node {id}"),
            })
        })
    };
    let seed = |name: &str, t: Option<&ArrayD<f64>>, v: &Tensor| match t {
        Some(t) if t.shape() == v.shape() => Ok(Some(t.clone())),
        Some(t) => Err(AutogradError::NotDifferentiable {
            output: name.into(),
            detail: format!(
                "the tangent {:?} differs from the value {:?}",
                t.shape(),
                v.shape()
            ),
        }),
        None => Ok(None),
    };
    let mut tangents: Vec<Option<ArrayD<f64>>> = Vec::with_capacity(graph.nodes.len());
    for (id, node) in graph.nodes.iter().enumerate() {
        let t = match &node.kind {
            NodeKind::Input if node.dtype.is_float() => {
                seed(&node.name, seeds.inputs.get(&node.name), value(id)?)?
            }
            NodeKind::Param { key } if node.dtype.is_float() => {
                seed(&node.name, seeds.params.get(key), value(id)?)?
            }
            NodeKind::Input | NodeKind::Param { .. } => None,
            // An integer result (argmax, labels) is piecewise constant: no tangent.
            NodeKind::Op { .. } if !node.dtype.is_float() => None,
            NodeKind::Op { op, attrs } => {
                let lowered = lower(*op, attrs, node.parents.len()).map_err(|detail| {
                    ExecError::Lowering {
                        node: node.name.clone(),
                        op: op.name(),
                        detail,
                    }
                })?;
                match lowered {
                    Lowered::Forward => node.parents.first().and_then(|&p| tangents[p].clone()),
                    Lowered::Constant { .. } => None,
                    Lowered::Kernel {
                        op: kop,
                        operands,
                        output,
                        keep_mask,
                    } => {
                        let no_rule = |detail: String| AutogradError::NoRule {
                            node: node.name.clone(),
                            op: op.name(),
                            detail,
                        };
                        let parents: Vec<usize> = operands
                            .iter()
                            .map(|&i| node.parents.get(i).copied())
                            .collect::<Option<_>>()
                            .ok_or_else(|| no_rule("an operand is missing".into()))?;
                        let ts: Vec<Option<&ArrayD<f64>>> = parents
                            .iter()
                            .enumerate()
                            .map(|(pos, &p)| {
                                if keep_mask == Some(pos) {
                                    None
                                } else {
                                    tangents[p].as_ref()
                                }
                            })
                            .collect();
                        if ts.iter().all(Option::is_none) {
                            None
                        } else {
                            let args = parents
                                .iter()
                                .map(|&p| value(p))
                                .collect::<AutogradResult<Vec<_>>>()?;
                            let y = value(id)?.to_f64();
                            let t = op_jvp(&kop, &args, &ts, output, &y).map_err(|e| match e {
                                RuleError::Missing(detail) => no_rule(detail),
                                RuleError::Kernel(source) => {
                                    AutogradError::Exec(ExecError::Kernel {
                                        node: node.name.clone(),
                                        source,
                                    })
                                }
                            })?;
                            Some(t)
                        }
                    }
                }
            }
        };
        tangents.push(t);
    }
    Ok(tangents)
}
