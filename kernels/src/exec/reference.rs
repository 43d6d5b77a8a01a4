//! The reference evaluator: the spec semantics of a graph, node by node in f64, keeping every
//! node's value (contracts may speak about intermediate nodes).

use super::bind::{bind_input, bind_param, Payload, SymbolTable};
use super::lower::{lower, Lowered};
use super::{ExecError, ExecResult};
use crate::backend::{Backend, CpuBackend};
use crate::dtype::DType;
use crate::tensor::Tensor;
use std::collections::BTreeMap;
use tl_ir::{Graph, NodeId, NodeKind};

/// Every node's value after evaluating a graph.
#[derive(Debug, Clone, PartialEq)]
pub struct Denotation {
    values: Vec<Tensor>,
    names: Vec<String>,
    outputs: Vec<(String, NodeId)>,
}

impl Denotation {
    pub fn node(&self, id: NodeId) -> Option<&Tensor> {
        self.values.get(id)
    }

    /// The value of the node called `name`.
    pub fn get(&self, name: &str) -> Option<&Tensor> {
        self.names
            .iter()
            .position(|n| n == name)
            .map(|i| &self.values[i])
    }

    /// The value of graph output `name`.
    pub fn output(&self, name: &str) -> Option<&Tensor> {
        self.outputs
            .iter()
            .find(|(n, _)| n == name)
            .map(|&(_, id)| &self.values[id])
    }

    pub fn outputs(&self) -> impl Iterator<Item = (&str, &Tensor)> {
        self.outputs
            .iter()
            .map(|(n, id)| (n.as_str(), &self.values[*id]))
    }
}

/// Evaluates `graph` in f64 with params from `payload` and the given inputs (by input name).
pub fn denote(
    graph: &Graph,
    payload: &dyn Payload,
    inputs: &BTreeMap<String, Tensor>,
) -> ExecResult<Denotation> {
    graph
        .validate()
        .map_err(|e| ExecError::InvalidGraph { detail: e.message })?;
    let backend = CpuBackend;
    let mut syms = SymbolTable::default();
    let mut values: Vec<Tensor> = Vec::with_capacity(graph.nodes.len());
    for node in &graph.nodes {
        let value = match &node.kind {
            NodeKind::Input => bind_input(
                &mut syms,
                &node.name,
                &node.shape,
                node.dtype,
                inputs.get(&node.name),
                DType::F64,
            )?,
            NodeKind::Param { key } => {
                bind_param(&mut syms, key, &node.shape, node.dtype, payload, DType::F64)?
            }
            NodeKind::Op { op, attrs } => {
                let lowered = lower(*op, attrs, node.parents.len()).map_err(|detail| {
                    ExecError::Lowering {
                        node: node.name.clone(),
                        op: op.name(),
                        detail,
                    }
                })?;
                let parents: Vec<&Tensor> = node.parents.iter().map(|&p| &values[p]).collect();
                let value = run_lowered(&backend, &lowered, &node.name, &parents, DType::F64)?;
                // The kernel must agree with the op's shape rule; a disagreement is a bug in one.
                syms.check(&node.shape, value.shape())
                    .map_err(|d| ExecError::InvalidGraph {
                        detail: format!(
                            "node {}: the kernel's result disagrees with the shape rule: {d}",
                            node.name
                        ),
                    })?;
                value
            }
        };
        values.push(value);
    }
    Ok(Denotation {
        values,
        names: graph.nodes.iter().map(|n| n.name.clone()).collect(),
        outputs: graph.outputs.clone(),
    })
}

/// Computes one lowered node from its parents' values.
pub(crate) fn run_lowered(
    backend: &CpuBackend,
    lowered: &Lowered,
    node: &str,
    parents: &[&Tensor],
    float: DType,
) -> ExecResult<Tensor> {
    let kernel_err = |source| ExecError::Kernel {
        node: node.into(),
        source,
    };
    match lowered {
        Lowered::Forward => {
            parents
                .first()
                .map(|t| (*t).clone())
                .ok_or_else(|| ExecError::Lowering {
                    node: node.into(),
                    op: "identity",
                    detail: "no operand".into(),
                })
        }
        Lowered::Constant { .. } => {
            lowered
                .constant_tensor(float)
                .ok_or_else(|| ExecError::Lowering {
                    node: node.into(),
                    op: "constant",
                    detail: "value does not fit its shape".into(),
                })
        }
        Lowered::Kernel {
            op,
            operands,
            output,
            keep_mask,
        } => {
            let mut owned_mask = None;
            let mut args: Vec<&Tensor> = Vec::with_capacity(operands.len());
            for (pos, &i) in operands.iter().enumerate() {
                let t = *parents.get(i).ok_or_else(|| ExecError::Lowering {
                    node: node.into(),
                    op: op.name(),
                    detail: format!("operand {i} missing"),
                })?;
                if *keep_mask == Some(pos) {
                    owned_mask = Some(keep_mask_of(t));
                }
                args.push(t);
            }
            if let (Some(pos), Some(mask)) = (keep_mask, owned_mask.as_ref()) {
                args[*pos] = mask;
            }
            let mut outs = backend.run(op, &args).map_err(kernel_err)?;
            if *output >= outs.len() {
                return Err(ExecError::Lowering {
                    node: node.into(),
                    op: op.name(),
                    detail: "kernel output missing".into(),
                });
            }
            Ok(outs.swap_remove(*output))
        }
    }
}

/// A "nonzero = keep" mask of any dtype as 0/1 i64.
fn keep_mask_of(t: &Tensor) -> Tensor {
    match t {
        Tensor::I64(a) => Tensor::I64(a.mapv(|v| i64::from(v != 0))),
        Tensor::F32(a) => Tensor::I64(a.mapv(|v| i64::from(v != 0.0))),
        Tensor::F64(a) => Tensor::I64(a.mapv(|v| i64::from(v != 0.0))),
    }
}
