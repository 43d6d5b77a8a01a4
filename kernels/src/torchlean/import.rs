//! `torchlean.ir.v1` JSON -> tl-ir graph and payload. Every node is checked the way TorchLean's
//! importer checks it: ids are array indices, parents point backward, exactly one `input` (the
//! one `input_id` names), and each declared shape equals what tl's shape rule infers.

use super::wire::{tl_op_for_wire, FORMAT};
use super::TorchLeanError;
use crate::tensor::Tensor;
use serde_json::{Map, Value};
use std::collections::{BTreeMap, HashSet};
use tl_ir::{AttrValue, Attrs, DType, Graph, NodeId, Op, Shape};

mod window;

/// A graph read from a TorchLean artifact, with its weights keyed by tl param key.
#[derive(Debug, Clone, PartialEq)]
pub struct ImportedGraph {
    pub graph: Graph,
    pub payload: BTreeMap<String, Tensor>,
}

/// Parses and imports an artifact from JSON text.
pub fn import_str(text: &str, graph_name: &str) -> Result<ImportedGraph, TorchLeanError> {
    let value: Value = serde_json::from_str(text).map_err(|e| TorchLeanError::Format {
        detail: format!("not JSON: {e}"),
    })?;
    import(&value, graph_name)
}

/// One raw node, before lowering.
struct RawNode<'a> {
    id: usize,
    kind: &'a str,
    parents: Vec<usize>,
    shape: Vec<u64>,
    obj: &'a Map<String, Value>,
}

/// Imports a parsed artifact.
pub fn import(root: &Value, graph_name: &str) -> Result<ImportedGraph, TorchLeanError> {
    let format = |detail: String| TorchLeanError::Format { detail };
    let root = root
        .as_object()
        .ok_or_else(|| format("the root is not an object".into()))?;
    match root.get("format") {
        Some(Value::String(f)) if f == FORMAT => {}
        Some(Value::String(f)) => {
            return Err(format(format!("format is `{f}`, expected `{FORMAT}`")))
        }
        _ => return Err(format("missing string field `format`".into())),
    }
    let input_id = nat(root.get("input_id"), "root.input_id")?;
    let output_ids = nats(root.get("output_ids"), "root.output_ids")?;
    if output_ids.is_empty() {
        return Err(format("output_ids is empty".into()));
    }
    let nodes = root
        .get("nodes")
        .and_then(Value::as_array)
        .ok_or_else(|| format("missing array field `nodes`".into()))?;
    if nodes.is_empty() {
        return Err(format("the graph has no nodes".into()));
    }
    let mut raw = Vec::with_capacity(nodes.len());
    for (i, n) in nodes.iter().enumerate() {
        raw.push(raw_node(i, n)?);
    }
    let unsupported: Vec<(usize, String, String)> = raw
        .iter()
        .filter(|n| !matches!(n.kind, "input" | "const"))
        .filter_map(|n| {
            tl_op_for_wire(n.kind)
                .err()
                .or_else(|| window::refusal(n))
                .map(|why| (n.id, n.kind.to_string(), why))
        })
        .collect();
    if !unsupported.is_empty() {
        return Err(TorchLeanError::UnsupportedImport { nodes: unsupported });
    }
    let inputs: Vec<usize> = raw
        .iter()
        .filter(|n| n.kind == "input")
        .map(|n| n.id)
        .collect();
    if inputs != [input_id] {
        return Err(TorchLeanError::InvalidGraph {
            node: input_id.to_string(),
            detail: format!(
                "expected exactly one `input` node, designated by input_id; found inputs at {inputs:?}"
            ),
        });
    }
    let mut b = Builder {
        graph: Graph::new(graph_name),
        payload: BTreeMap::new(),
        ids: Vec::with_capacity(raw.len()),
        names: HashSet::new(),
    };
    for n in &raw {
        let id = b.node(n)?;
        b.ids.push(id);
    }
    for &o in &output_ids {
        let id = *b.ids.get(o).ok_or_else(|| TorchLeanError::InvalidGraph {
            node: o.to_string(),
            detail: "output id is out of bounds".into(),
        })?;
        let name = b.graph.nodes[id].name.clone();
        if b.graph.outputs.iter().any(|(n, _)| *n == name) {
            continue;
        }
        b.graph.add_output(name, id);
    }
    Ok(ImportedGraph {
        graph: b.graph,
        payload: b.payload,
    })
}

fn raw_node(index: usize, v: &Value) -> Result<RawNode<'_>, TorchLeanError> {
    let ctx = format!("nodes[{index}]");
    let obj = v.as_object().ok_or_else(|| TorchLeanError::Format {
        detail: format!("{ctx} is not an object"),
    })?;
    let id = nat(obj.get("id"), &format!("{ctx}.id"))?;
    let invalid = |detail: String| TorchLeanError::InvalidGraph {
        node: index.to_string(),
        detail,
    };
    if id != index {
        return Err(invalid(format!(
            "id {id} at index {index}: ids must equal array positions"
        )));
    }
    let parents = nats(obj.get("parents"), &format!("{ctx}.parents"))?;
    if let Some(p) = parents.iter().find(|&&p| p >= id) {
        return Err(invalid(format!(
            "parent {p} does not come before node {id}"
        )));
    }
    let kind = obj
        .get("kind")
        .and_then(Value::as_str)
        .ok_or_else(|| TorchLeanError::Format {
            detail: format!("{ctx}.kind is missing or not a string"),
        })?;
    if obj.get("value_kind").is_some_and(|k| k != "tensor") {
        return Err(TorchLeanError::UnsupportedImport {
            nodes: vec![(id, kind.into(), "tuple-valued nodes are not tensors".into())],
        });
    }
    let shape = nats(obj.get("shape"), &format!("{ctx}.shape"))?
        .into_iter()
        .map(|d| d as u64)
        .collect();
    Ok(RawNode {
        id,
        kind,
        parents,
        shape,
        obj,
    })
}

fn nat(v: Option<&Value>, ctx: &str) -> Result<usize, TorchLeanError> {
    v.and_then(Value::as_u64)
        .and_then(|n| usize::try_from(n).ok())
        .ok_or_else(|| TorchLeanError::Format {
            detail: format!("{ctx} is missing or not a natural number"),
        })
}

fn nats(v: Option<&Value>, ctx: &str) -> Result<Vec<usize>, TorchLeanError> {
    let arr = v
        .and_then(Value::as_array)
        .ok_or_else(|| TorchLeanError::Format {
            detail: format!("{ctx} is missing or not an array"),
        })?;
    arr.iter().map(|x| nat(Some(x), ctx)).collect()
}

struct Builder {
    graph: Graph,
    payload: BTreeMap<String, Tensor>,
    /// tl node of each raw id.
    ids: Vec<NodeId>,
    names: HashSet<String>,
}

impl Builder {
    /// A unique tl name: the artifact's `name` when it is an identifier, else `kind_id`.
    fn name(&mut self, n: &RawNode) -> String {
        // Names from tl exports may be dotted (`b1.h`, a block instance's node): keep them readable.
        let given = n
            .obj
            .get("name")
            .and_then(Value::as_str)
            .map(|s| s.replace(['.', '#'], "_"))
            .filter(|s| is_ident(s));
        let mut name = match given {
            Some(s) => s,
            None if n.kind == "input" => "x".to_string(),
            None => format!("{}_{}", n.kind, n.id),
        };
        if self.names.contains(&name) {
            name = format!("{name}_{}", n.id);
        }
        self.names.insert(name.clone());
        name
    }

    /// A name no other node has yet: `base`, else `base_2`, `base_3`, ...
    fn fresh(&mut self, base: &str) -> String {
        let mut name = base.to_string();
        let mut k = 2;
        while self.names.contains(&name) {
            name = format!("{base}_{k}");
            k += 1;
        }
        self.names.insert(name.clone());
        name
    }

    /// Adds an op node; a tl shape-rule failure becomes TL0553 at artifact node `n`.
    fn op(
        &mut self,
        n: &RawNode,
        name: String,
        op: Op,
        inputs: Vec<NodeId>,
        attrs: Attrs,
    ) -> Result<NodeId, TorchLeanError> {
        self.graph
            .add_op(name, op, inputs, attrs)
            .map_err(|e| TorchLeanError::InvalidGraph {
                node: n.id.to_string(),
                detail: e.message,
            })
    }

    fn node(&mut self, n: &RawNode) -> Result<NodeId, TorchLeanError> {
        let name = self.name(n);
        let parents: Vec<NodeId> = n.parents.iter().map(|&p| self.ids[p]).collect();
        if matches!(n.kind, "conv" | "max_pool" | "avg_pool") {
            let id = self.window(n, name, &parents)?;
            return self.check_declared(n, id);
        }
        let attr_nat = |key: &str| nat(n.obj.get(key), &format!("node {} {key}", n.id));
        let rank = |id: NodeId, g: &Graph| g.nodes[id].shape.rank();
        let (op, mut inputs, attrs) = match n.kind {
            "input" => {
                return Ok(self
                    .graph
                    .add_input(name, Shape::known(&n.shape), DType::F32));
            }
            "const" => {
                let numel: u64 = n.shape.iter().product();
                let values = self.weight(n, "values", &[numel])?;
                return self.param(&name, values, &n.shape);
            }
            "linear" => {
                let (out_dim, in_dim) = (attr_nat("out_dim")? as u64, attr_nat("in_dim")? as u64);
                let w = self.weight(n, "weight", &[out_dim, in_dim])?;
                let b = self.weight(n, "bias", &[out_dim])?;
                let w = self.param(&format!("{name}.weight"), w, &[out_dim, in_dim])?;
                let b = self.param(&format!("{name}.bias"), b, &[out_dim])?;
                (Op::Linear, vec![w, b], Attrs::new())
            }
            "layernorm" => {
                let axis = attr_nat("axis")?;
                let normalized: Vec<u64> = n.shape.get(axis..).unwrap_or(&[]).to_vec();
                let g = self.weight(n, "gamma", &normalized)?;
                let bt = self.weight(n, "beta", &normalized)?;
                let eps = self.float(n, "eps")?;
                let g = self.param(&format!("{name}.weight"), g, &normalized)?;
                let bt = self.param(&format!("{name}.bias"), bt, &normalized)?;
                let attrs = Attrs::new()
                    .with(
                        "normalized_shape",
                        AttrValue::Ints(normalized.iter().map(|&d| d as i64).collect()),
                    )
                    .with("eps", AttrValue::Float(eps));
                (Op::LayerNorm, vec![g, bt], attrs)
            }
            "batch_norm_eval" => {
                if attr_nat("channel_axis")? != 1 {
                    return Err(TorchLeanError::UnsupportedImport {
                        nodes: vec![(n.id, n.kind.into(), "tl's batch_norm normalises axis 1 of [N, C, ...]; channel_axis must be 1".into())],
                    });
                }
                let c = attr_nat("channels")? as u64;
                let mut ps = Vec::new();
                for (field, key) in [
                    ("gamma", "weight"),
                    ("beta", "bias"),
                    ("mean", "running_mean"),
                    ("var", "running_var"),
                ] {
                    let t = self.weight(n, field, &[c])?;
                    ps.push(self.param(&format!("{name}.{key}"), t, &[c])?);
                }
                let eps = self.float(n, "eps")?;
                (
                    Op::BatchNorm,
                    ps,
                    Attrs::new().with("eps", AttrValue::Float(eps)),
                )
            }
            "softplus" => (
                Op::Softplus,
                vec![],
                Attrs::new().with("threshold", AttrValue::Float(f64::INFINITY)),
            ),
            "softmax" => (
                Op::Softmax,
                vec![],
                Attrs::new().with("axis", AttrValue::Int(attr_nat("axis")? as i64)),
            ),
            "concat" => (
                Op::Concat,
                vec![],
                Attrs::new().with("axis", AttrValue::Int(attr_nat("axis")? as i64)),
            ),
            "permute" => {
                let perm = nats(n.obj.get("perm"), "perm")?;
                (
                    Op::Permute,
                    vec![],
                    Attrs::new().with(
                        "dims",
                        AttrValue::Ints(perm.iter().map(|&p| p as i64).collect()),
                    ),
                )
            }
            "transpose" => (
                Op::Transpose,
                vec![],
                Attrs::new()
                    .with("dim0", AttrValue::Int(attr_nat("axis1")? as i64))
                    .with("dim1", AttrValue::Int(attr_nat("axis2")? as i64)),
            ),
            "reshape" | "flatten" => {
                let out = n.shape.iter().map(|&d| d as i64).collect();
                (
                    Op::Reshape,
                    vec![],
                    Attrs::new().with("shape", AttrValue::Ints(out)),
                )
            }
            "sum" => {
                let r = parents.first().map(|&p| rank(p, &self.graph)).unwrap_or(0);
                (
                    Op::Sum,
                    vec![],
                    Attrs::new().with("axes", AttrValue::Ints((0..r as i64).collect())),
                )
            }
            "reduce_sum" | "reduce_mean" => {
                let axes = nats(n.obj.get("axes"), "axes")?;
                let keep = n
                    .obj
                    .get("keepdim")
                    .and_then(Value::as_bool)
                    .unwrap_or(false);
                let op = if n.kind == "reduce_sum" {
                    Op::Sum
                } else {
                    Op::Mean
                };
                (
                    op,
                    vec![],
                    Attrs::new()
                        .with(
                            "axes",
                            AttrValue::Ints(axes.iter().map(|&a| a as i64).collect()),
                        )
                        .with("keepdim", AttrValue::Bool(keep)),
                )
            }
            kind => {
                let op = tl_op_for_wire(kind).map_err(|why| TorchLeanError::UnsupportedImport {
                    nodes: vec![(n.id, kind.into(), why)],
                })?;
                (op, vec![], Attrs::new())
            }
        };
        let mut all = parents;
        all.append(&mut inputs);
        let id = self.op(n, name, op, all, attrs)?;
        self.check_declared(n, id)
    }

    /// `id` when tl infers the shape the artifact declares for node `n`, else TL0553.
    fn check_declared(&self, n: &RawNode, id: NodeId) -> Result<NodeId, TorchLeanError> {
        let inferred = &self.graph.nodes[id].shape;
        if *inferred != Shape::known(&n.shape) {
            return Err(TorchLeanError::InvalidGraph {
                node: n.id.to_string(),
                detail: format!(
                    "`{}` declares shape {:?} but tl infers {inferred}",
                    n.kind, n.shape
                ),
            });
        }
        Ok(id)
    }

    fn param(&mut self, key: &str, t: Tensor, shape: &[u64]) -> Result<NodeId, TorchLeanError> {
        self.payload.insert(key.to_string(), t);
        Ok(self.graph.add_param(key, Shape::known(shape), DType::F32))
    }

    fn float(&self, n: &RawNode, key: &str) -> Result<f64, TorchLeanError> {
        n.obj
            .get(key)
            .and_then(Value::as_f64)
            .ok_or_else(|| TorchLeanError::Payload {
                node: n.id.to_string(),
                field: key.into(),
                detail: "missing or not a number".into(),
            })
    }

    /// A weight field: nested arrays of the given shape (a flat array is accepted for rank 1).
    fn weight(&self, n: &RawNode, field: &str, shape: &[u64]) -> Result<Tensor, TorchLeanError> {
        let err = |detail: String| TorchLeanError::Payload {
            node: n.id.to_string(),
            field: field.into(),
            detail,
        };
        let v = n.obj.get(field).ok_or_else(|| err("missing".into()))?;
        let mut data = Vec::new();
        flatten(v, shape, &mut data).map_err(err)?;
        let dims: Vec<usize> = shape.iter().map(|&d| d as usize).collect();
        Tensor::from_f64(&dims, data).map_err(|e| err(e.to_string()))
    }
}

/// Checks that `v` is a nested array of `shape` and appends its numbers in row-major order.
fn flatten(v: &Value, shape: &[u64], out: &mut Vec<f64>) -> Result<(), String> {
    match shape.split_first() {
        None => match v.as_f64() {
            Some(x) => {
                out.push(x);
                Ok(())
            }
            None => Err(format!("expected a number, found {}", short(v))),
        },
        Some((&d, rest)) => {
            let arr = v
                .as_array()
                .ok_or_else(|| format!("expected an array of {d}, found {}", short(v)))?;
            if arr.len() as u64 != d {
                return Err(format!("expected {d} entries, found {}", arr.len()));
            }
            arr.iter().try_for_each(|x| flatten(x, rest, out))
        }
    }
}

fn short(v: &Value) -> String {
    let s = v.to_string();
    if s.chars().count() > 40 {
        format!("{}...", s.chars().take(40).collect::<String>())
    } else {
        s
    }
}

fn is_ident(s: &str) -> bool {
    let mut chars = s.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}
