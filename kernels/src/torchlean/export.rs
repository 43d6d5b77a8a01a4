//! tl-ir graph + payload -> `torchlean.ir.v1` JSON. Symbolic extents must be fixed first
//! (TorchLean shapes are concrete), the graph must have one input, and every op must have a
//! v1 spelling with the same meaning; otherwise one error lists every node that does not fit.

use super::wire::FORMAT;
use super::TorchLeanError;
use crate::exec::Payload;
use crate::tensor::Tensor;
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;
use tl_ir::{Attrs, Dim, Graph, NodeId, NodeKind, Op};

mod window;

/// Options of an export.
#[derive(Debug, Clone, Default)]
pub struct ExportOptions {
    /// Extents for the graph's symbolic dims (`B` -> 1).
    pub dims: BTreeMap<String, u64>,
}

/// Writes `graph` with weights from `payload` as a TorchLean artifact.
pub fn export(
    graph: &Graph,
    payload: &dyn Payload,
    options: &ExportOptions,
) -> Result<Value, TorchLeanError> {
    let shapes = concrete_shapes(graph, &options.dims)?;
    if graph.inputs.len() != 1 {
        return Err(TorchLeanError::Interface {
            detail: format!(
                "a TorchLean graph has exactly one input; `{}` has {}",
                graph.name,
                graph.inputs.len()
            ),
        });
    }
    let problems: Vec<(String, String, String)> = graph
        .nodes
        .iter()
        .enumerate()
        .filter_map(|(i, n)| match &n.kind {
            NodeKind::Op { op, attrs } => unsupported(graph, &shapes, i, *op, attrs)
                .map(|why| (n.name.clone(), op.name().to_string(), why)),
            _ => None,
        })
        .collect();
    if !problems.is_empty() {
        return Err(TorchLeanError::UnsupportedExport { nodes: problems });
    }
    let mut w = Writer {
        graph,
        payload,
        shapes: &shapes,
        nodes: Vec::new(),
        ids: vec![None; graph.nodes.len()],
    };
    for i in 0..graph.nodes.len() {
        if matches!(graph.nodes[i].kind, NodeKind::Op { .. } | NodeKind::Input) {
            w.emit(i)?;
        }
    }
    let input_id = w.ids[graph.inputs[0]].expect("inputs are emitted");
    let mut output_ids = Vec::new();
    for (_, id) in &graph.outputs {
        output_ids.push(w.value(*id)?);
    }
    Ok(json!({
        "format": FORMAT,
        "input_id": input_id,
        "output_ids": output_ids,
        "nodes": w.nodes,
    }))
}

/// Every node's shape with the symbolic extents replaced.
fn concrete_shapes(
    graph: &Graph,
    dims: &BTreeMap<String, u64>,
) -> Result<Vec<Vec<u64>>, TorchLeanError> {
    let mut missing: Vec<String> = Vec::new();
    let shapes = graph
        .nodes
        .iter()
        .map(|n| {
            n.shape
                .0
                .iter()
                .map(|d| match d {
                    Dim::Known(k) => *k,
                    Dim::Sym(s) => match dims.get(s) {
                        Some(&k) => k,
                        None => {
                            if !missing.contains(s) {
                                missing.push(s.clone());
                            }
                            1
                        }
                    },
                })
                .collect()
        })
        .collect();
    if missing.is_empty() {
        Ok(shapes)
    } else {
        Err(TorchLeanError::Interface {
            detail: format!(
                "TorchLean shapes are concrete; give a value for {} (e.g. `--dim {}=1`)",
                missing.join(", "),
                missing[0]
            ),
        })
    }
}

fn is_fixed(graph: &Graph, id: NodeId) -> bool {
    match &graph.nodes[id].kind {
        NodeKind::Param { .. } => true,
        NodeKind::Op { op, .. } => *op == Op::Constant,
        NodeKind::Input => false,
    }
}

fn norm_axis(axis: i64, rank: usize) -> i64 {
    if axis < 0 {
        axis + rank as i64
    } else {
        axis
    }
}

/// Why an op node has no v1 equivalent, or `None` when it has one.
fn unsupported(
    graph: &Graph,
    shapes: &[Vec<u64>],
    id: NodeId,
    op: Op,
    attrs: &Attrs,
) -> Option<String> {
    let parents = &graph.nodes[id].parents;
    let fixed_tail = |from: usize| parents[from..].iter().all(|&p| is_fixed(graph, p));
    match op {
        Op::Relu | Op::Tanh | Op::Sigmoid | Op::Exp | Op::Log | Op::Sqrt | Op::Abs => None,
        Op::Identity | Op::Dropout | Op::Matmul | Op::Permute | Op::Transpose => None,
        Op::Reshape | Op::Flatten | Op::Squeeze | Op::Unsqueeze | Op::Constant => None,
        Op::Concat if parents.len() >= 2 => None,
        Op::Concat => Some("TorchLean's concat needs at least two inputs".into()),
        Op::Add | Op::Sub | Op::Mul => (shapes[parents[0]] != shapes[parents[1]]).then(|| {
            format!(
                "operands {:?} and {:?} broadcast; TorchLean's elementwise ops need equal shapes",
                shapes[parents[0]], shapes[parents[1]]
            )
        }),
        Op::Softplus => {
            (attrs.float("beta", 1.0) != 1.0).then(|| "TorchLean's softplus has beta = 1".into())
        }
        Op::Softmax => None,
        Op::Sum | Op::Mean => None,
        Op::MseLoss => (attrs.str("reduction", "mean") != "mean")
            .then(|| "TorchLean's mse_loss is the mean".into()),
        Op::Linear => (!fixed_tail(1)).then(|| {
            "TorchLean's linear reads weight and bias from the payload; here they are computed"
                .into()
        }),
        Op::LayerNorm => (!fixed_tail(1)).then(|| {
            "TorchLean's layernorm reads gamma and beta from the payload; here they are computed"
                .into()
        }),
        Op::BatchNorm => {
            if !fixed_tail(1) {
                Some("TorchLean's batch_norm_eval reads its vectors from the payload".into())
            } else {
                None
            }
        }
        Op::Conv1d | Op::Conv2d => (!fixed_tail(1)).then(|| {
            "TorchLean's conv reads weight and bias from the payload; here they are computed".into()
        }),
        Op::MaxPool2d | Op::AvgPool2d | Op::GlobalAvgPool => {
            window::pool_refusal(shapes, id, parents[0], op, attrs)
        }
        other => Some(format!("TorchLean v1 has no op for `{}`", other.name())),
    }
}

struct Writer<'a> {
    graph: &'a Graph,
    payload: &'a dyn Payload,
    shapes: &'a [Vec<u64>],
    nodes: Vec<Value>,
    /// Artifact id of each tl node once emitted.
    ids: Vec<Option<usize>>,
}

impl Writer<'_> {
    fn push(
        &mut self,
        tl: NodeId,
        kind: &str,
        parents: Vec<usize>,
        shape: &[u64],
        extra: Map<String, Value>,
    ) -> usize {
        let id = self.nodes.len();
        let mut obj = Map::new();
        obj.insert("id".into(), json!(id));
        obj.insert("kind".into(), json!(kind));
        obj.insert("parents".into(), json!(parents));
        obj.insert("shape".into(), json!(shape));
        obj.insert("name".into(), json!(self.graph.nodes[tl].name));
        obj.extend(extra);
        self.nodes.push(Value::Object(obj));
        id
    }

    /// The artifact id holding the value of tl node `id` (params and constants become `const`
    /// nodes on first use).
    fn value(&mut self, id: NodeId) -> Result<usize, TorchLeanError> {
        if let Some(a) = self.ids[id] {
            return Ok(a);
        }
        let t = self.tensor(id)?;
        let shape = self.shapes[id].clone();
        let mut extra = Map::new();
        extra.insert(
            "values".into(),
            nested(&t, &[t.len() as u64], &self.graph.nodes[id].name, "values")?,
        );
        let a = self.push(id, "const", vec![], &shape, extra);
        self.ids[id] = Some(a);
        Ok(a)
    }

    /// The values of a param or constant node.
    fn tensor(&self, id: NodeId) -> Result<Tensor, TorchLeanError> {
        let node = &self.graph.nodes[id];
        let err = |detail: String| TorchLeanError::Payload {
            node: node.name.clone(),
            field: "values".into(),
            detail,
        };
        match &node.kind {
            NodeKind::Param { key } => self.payload.load(key).map_err(|e| err(e.to_string())),
            NodeKind::Op {
                op: Op::Constant,
                attrs,
            } => {
                let shape: Vec<usize> = self.shapes[id].iter().map(|&d| d as usize).collect();
                let data = match attrs.get("value") {
                    Some(tl_ir::AttrValue::Tensor { data, .. }) => data.clone(),
                    Some(tl_ir::AttrValue::Ints(v)) => v.iter().map(|&x| x as f64).collect(),
                    Some(v) => vec![v
                        .as_f64()
                        .ok_or_else(|| err("constant without a value".into()))?],
                    None => return Err(err("constant without a value".into())),
                };
                Tensor::from_f64(&shape, data).map_err(|e| err(e.to_string()))
            }
            _ => Err(err("not a param or constant".into())),
        }
    }

    fn field(
        &self,
        owner: NodeId,
        from: NodeId,
        field: &str,
        shape: &[u64],
    ) -> Result<Value, TorchLeanError> {
        let t = self.tensor(from)?;
        nested(&t, shape, &self.graph.nodes[owner].name, field)
    }

    fn emit(&mut self, i: NodeId) -> Result<(), TorchLeanError> {
        let node = &self.graph.nodes[i];
        let shape = self.shapes[i].clone();
        let (op, attrs) = match &node.kind {
            NodeKind::Input => {
                let a = self.push(i, "input", vec![], &shape, Map::new());
                self.ids[i] = Some(a);
                return Ok(());
            }
            NodeKind::Op { op, attrs } => (*op, attrs),
            NodeKind::Param { .. } => return Ok(()),
        };
        if op == Op::Constant {
            return Ok(()); // emitted as `const` when first used
        }
        let parents = node.parents.clone();
        if matches!(op, Op::Identity | Op::Dropout) {
            // TorchLean's IR has no identity node, and its `detach` is not one: it stops
            // gradients, so a gradient read through the artifact would differ. tl's identity and
            // (eval-mode) dropout are the identity map, so the node is elided: its users, and the
            // graph outputs, read its input.
            let a = self.value(parents[0])?;
            self.ids[i] = Some(a);
            return Ok(());
        }
        let rank0 = parents.first().map(|&p| self.shapes[p].len()).unwrap_or(0);
        let mut extra = Map::new();
        let data_parents = match op {
            Op::Linear | Op::LayerNorm | Op::BatchNorm | Op::Conv1d | Op::Conv2d => 1,
            _ => parents.len(),
        };
        let kind: &str = match op {
            Op::Relu => "relu",
            Op::Tanh => "tanh",
            Op::Sigmoid => "sigmoid",
            Op::Exp => "exp",
            Op::Log => "log",
            Op::Sqrt => "sqrt",
            Op::Abs => "abs",
            Op::Softplus => "softplus",
            Op::Add => "add",
            Op::Sub => "sub",
            Op::Mul => "mul_elem",
            Op::Matmul => "matmul",
            Op::MseLoss => "mse_loss",
            Op::Softmax => {
                extra.insert(
                    "axis".into(),
                    json!(norm_axis(attrs.int("axis", -1), rank0)),
                );
                "softmax"
            }
            Op::Concat => {
                extra.insert("axis".into(), json!(norm_axis(attrs.int("axis", 0), rank0)));
                "concat"
            }
            Op::Permute => {
                let dims: Vec<i64> = attrs
                    .ints("dims")
                    .unwrap_or_default()
                    .iter()
                    .map(|&d| norm_axis(d, rank0))
                    .collect();
                extra.insert("perm".into(), json!(dims));
                "permute"
            }
            Op::Transpose => {
                extra.insert(
                    "axis1".into(),
                    json!(norm_axis(attrs.int("dim0", -2), rank0)),
                );
                extra.insert(
                    "axis2".into(),
                    json!(norm_axis(attrs.int("dim1", -1), rank0)),
                );
                "transpose"
            }
            Op::Reshape | Op::Flatten | Op::Squeeze | Op::Unsqueeze => {
                extra.insert("in_shape".into(), json!(self.shapes[parents[0]]));
                extra.insert("out_shape".into(), json!(shape));
                "reshape"
            }
            Op::Sum | Op::Mean => {
                let keep = attrs.bool("keepdim", false);
                let axes: Vec<i64> = match attrs.ints("axes") {
                    Some(a) => a.iter().map(|&x| norm_axis(x, rank0)).collect(),
                    None => (0..rank0 as i64).collect(),
                };
                if op == Op::Sum && !keep && axes.len() == rank0 {
                    "sum"
                } else {
                    extra.insert("axes".into(), json!(axes));
                    extra.insert("keepdim".into(), json!(keep));
                    if op == Op::Sum {
                        "reduce_sum"
                    } else {
                        "reduce_mean"
                    }
                }
            }
            Op::Linear => {
                let w = &self.shapes[parents[1]];
                let (out_dim, in_dim) = (w[0], w[1]);
                extra.insert("out_dim".into(), json!(out_dim));
                extra.insert("in_dim".into(), json!(in_dim));
                extra.insert(
                    "weight".into(),
                    self.field(i, parents[1], "weight", &[out_dim, in_dim])?,
                );
                let bias = match parents.get(2) {
                    Some(&b) => self.field(i, b, "bias", &[out_dim])?,
                    None => json!(vec![0.0; out_dim as usize]),
                };
                extra.insert("bias".into(), bias);
                "linear"
            }
            Op::LayerNorm => {
                let normalized: Vec<u64> = match attrs.ints("normalized_shape") {
                    Some(v) => v.iter().map(|&d| d as u64).collect(),
                    None => match parents.get(1) {
                        Some(&wt) => self.shapes[wt].clone(),
                        None => shape.last().map(|&d| vec![d]).unwrap_or_default(),
                    },
                };
                let n: u64 = normalized.iter().product();
                extra.insert("axis".into(), json!(rank0 - normalized.len()));
                extra.insert(
                    "gamma".into(),
                    match parents.get(1) {
                        Some(&g) => self.field(i, g, "gamma", &normalized)?,
                        None => nested(
                            &Tensor::from_f64(&shape_usize(&normalized), vec![1.0; n as usize])
                                .expect("shape matches"),
                            &normalized,
                            &node.name,
                            "gamma",
                        )?,
                    },
                );
                extra.insert(
                    "beta".into(),
                    match parents.get(2) {
                        Some(&b) => self.field(i, b, "beta", &normalized)?,
                        None => nested(
                            &Tensor::from_f64(&shape_usize(&normalized), vec![0.0; n as usize])
                                .expect("shape matches"),
                            &normalized,
                            &node.name,
                            "beta",
                        )?,
                    },
                );
                extra.insert("eps".into(), json!(attrs.float("eps", 1e-5)));
                "layernorm"
            }
            Op::BatchNorm => {
                let c = self.shapes[parents[0]][1];
                extra.insert("channel_axis".into(), json!(1));
                extra.insert("channels".into(), json!(c));
                for (k, field) in ["gamma", "beta", "mean", "var"].iter().enumerate() {
                    extra.insert((*field).into(), self.field(i, parents[k + 1], field, &[c])?);
                }
                extra.insert("eps".into(), json!(attrs.float("eps", 1e-5)));
                "batch_norm_eval"
            }
            Op::Conv1d | Op::Conv2d => {
                self.conv_fields(i, attrs, &mut extra)?;
                "conv"
            }
            Op::MaxPool2d | Op::AvgPool2d | Op::GlobalAvgPool => {
                window::pool_fields(&self.shapes[parents[0]], attrs, op, &mut extra);
                if op == Op::MaxPool2d {
                    "max_pool"
                } else {
                    "avg_pool"
                }
            }
            other => {
                return Err(TorchLeanError::UnsupportedExport {
                    nodes: vec![(node.name.clone(), other.name().into(), "no v1 op".into())],
                })
            }
        };
        let mut ids = Vec::new();
        for &p in &parents[..data_parents] {
            ids.push(self.value(p)?);
        }
        let a = self.push(i, kind, ids, &shape, extra);
        self.ids[i] = Some(a);
        Ok(())
    }
}

fn shape_usize(s: &[u64]) -> Vec<usize> {
    s.iter().map(|&d| d as usize).collect()
}

/// A tensor as nested JSON arrays of `shape` (which must hold as many elements).
fn nested(t: &Tensor, shape: &[u64], node: &str, field: &str) -> Result<Value, TorchLeanError> {
    let data: Vec<f64> = t.to_f64().iter().copied().collect();
    let err = |detail: String| TorchLeanError::Payload {
        node: node.into(),
        field: field.into(),
        detail,
    };
    if shape.iter().product::<u64>() != data.len() as u64 {
        return Err(err(format!(
            "holds {} values, expected shape {:?}",
            data.len(),
            shape
        )));
    }
    if let Some(bad) = data.iter().find(|x| !x.is_finite()) {
        return Err(err(format!("{bad} cannot be written in JSON")));
    }
    fn build(data: &[f64], shape: &[u64]) -> Value {
        match shape.split_first() {
            None => json!(data[0]),
            Some((&d, rest)) => {
                let step: usize = rest.iter().product::<u64>() as usize;
                Value::Array(
                    (0..d as usize)
                        .map(|k| build(&data[k * step..(k + 1) * step], rest))
                        .collect(),
                )
            }
        }
    }
    Ok(build(&data, shape))
}
