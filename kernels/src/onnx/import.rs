//! ONNX -> tl-ir: builds a [`tl_ir::Graph`] and its payload (the initializers) from a loaded
//! [`OnnxModel`], for the default-domain ops of opsets 8-21 listed in [`SUPPORTED_OPS`]. A model
//! using anything else is refused with one TL0520 error listing every unsupported node.

use super::{Attribute, Dim as OnnxDim, OnnxModel, OnnxNode};
use crate::dtype::DType;
use crate::exec::ExecError;
use crate::tensor::Tensor;
use std::collections::{BTreeMap, HashMap};
use tl_ir::{AttrValue, Attrs, DType as IrDType, Dim, Graph, NodeId, Op, Shape};

/// The default-domain opsets the importer reads, inclusive.
pub const OPSETS: (i64, i64) = (1, 21);

/// The ONNX op types the importer maps to tl ops.
pub const SUPPORTED_OPS: &[&str] = &[
    "Gemm",
    "MatMul",
    "Add",
    "Sub",
    "Mul",
    "Div",
    "Relu",
    "LeakyRelu",
    "Sigmoid",
    "Tanh",
    "Gelu",
    "Softmax",
    "LogSoftmax",
    "Conv",
    "MaxPool",
    "AveragePool",
    "GlobalAveragePool",
    "BatchNormalization",
    "LayerNormalization",
    "Flatten",
    "Reshape",
    "Transpose",
    "Concat",
    "Slice",
    "Gather",
    "Constant",
    "Identity",
    "Dropout",
    "Unsqueeze",
    "Squeeze",
    "Sqrt",
    "Pow",
    "Exp",
    "Log",
    "ReduceMean",
    "ReduceSum",
];

/// A tl graph imported from ONNX, with its params (initializers, some re-laid-out) as payload.
#[derive(Debug, Clone)]
pub struct ImportedModel {
    pub graph: Graph,
    pub payload: BTreeMap<String, Tensor>,
}

/// Converts a loaded ONNX model to a tl-ir graph.
pub fn import(model: &OnnxModel) -> Result<ImportedModel, ExecError> {
    let unsupported: Vec<(String, String)> = model
        .nodes
        .iter()
        .filter(|n| {
            !(n.domain.is_empty() || n.domain == "ai.onnx")
                || !SUPPORTED_OPS.contains(&n.op_type.as_str())
        })
        .map(|n| (n.op_type.clone(), n.name.clone()))
        .collect();
    if !unsupported.is_empty() {
        return Err(ExecError::UnsupportedOnnxOps { ops: unsupported });
    }
    if !(OPSETS.0..=OPSETS.1).contains(&model.opset) {
        return Err(ExecError::OnnxImport {
            node: "(model)".into(),
            detail: format!("opset {} is outside {}..={}", model.opset, OPSETS.0, OPSETS.1),
        });
    }
    let mut b = Builder {
        graph: Graph::new(if model.graph_name.is_empty() {
            "onnx"
        } else {
            &model.graph_name
        }),
        payload: BTreeMap::new(),
        values: HashMap::new(),
        model,
        fresh: 0,
    };
    for input in &model.inputs {
        let dims = match &input.shape {
            Some(dims) => dims
                .iter()
                .enumerate()
                .map(|(i, d)| match d {
                    OnnxDim::Fixed(v) if *v >= 0 => Dim::Known(*v as u64),
                    OnnxDim::Param(p) if !p.is_empty() => Dim::Sym(p.clone()),
                    _ => Dim::Sym(format!("{}_d{i}", input.name)),
                })
                .collect(),
            None => {
                return Err(ExecError::OnnxImport {
                    node: input.name.clone(),
                    detail: "graph input has no declared shape".into(),
                })
            }
        };
        let dtype = input.dtype.map(ir_dtype).unwrap_or(IrDType::F32);
        let id = b.graph.add_input(input.name.clone(), Shape(dims), dtype);
        b.values.insert(input.name.clone(), id);
    }
    for node in &model.nodes {
        b.node(node)?;
    }
    for out in &model.outputs {
        let id = b.value(&out.name, "(graph outputs)")?;
        b.graph.add_output(out.name.clone(), id);
    }
    Ok(ImportedModel {
        graph: b.graph,
        payload: b.payload,
    })
}

fn ir_dtype(d: DType) -> IrDType {
    match d {
        DType::F16 => IrDType::F16,
        DType::BF16 => IrDType::BF16,
        DType::F32 => IrDType::F32,
        DType::F64 => IrDType::F64,
        DType::I8 => IrDType::I8,
        DType::I32 => IrDType::I32,
        DType::U8 => IrDType::U8,
        DType::Bool => IrDType::Bool,
        // Other integers are held as i64 by the engines.
        _ => IrDType::I64,
    }
}

struct Builder<'m> {
    graph: Graph,
    payload: BTreeMap<String, Tensor>,
    values: HashMap<String, NodeId>,
    model: &'m OnnxModel,
    fresh: usize,
}

impl Builder<'_> {
    fn err(node: &OnnxNode, detail: impl Into<String>) -> ExecError {
        ExecError::OnnxImport {
            node: node.name.clone(),
            detail: detail.into(),
        }
    }

    /// The node producing value `name`; initializers become params on first use.
    fn value(&mut self, name: &str, user: &str) -> Result<NodeId, ExecError> {
        if let Some(&id) = self.values.get(name) {
            return Ok(id);
        }
        if let Some(t) = self.model.initializers.get(name) {
            return Ok(self.param(name, t.clone()));
        }
        Err(ExecError::OnnxImport {
            node: user.into(),
            detail: format!("value {name:?} is not produced before it is used"),
        })
    }

    fn param(&mut self, key: &str, t: Tensor) -> NodeId {
        let shape = Shape::known(&t.shape().iter().map(|&d| d as u64).collect::<Vec<_>>());
        let dtype = ir_dtype(t.dtype());
        let id = self.graph.add_param(key, shape, dtype);
        self.payload.insert(key.into(), t);
        self.values.insert(key.into(), id);
        id
    }

    /// A value known at import time: an initializer or the output of a Constant node.
    fn constant(&self, name: &str) -> Option<Tensor> {
        if let Some(t) = self.model.initializers.get(name) {
            return Some(t.clone());
        }
        let id = *self.values.get(name)?;
        match &self.graph.nodes[id].kind {
            tl_ir::NodeKind::Op {
                op: Op::Constant,
                attrs,
            } => match attrs.get("value") {
                Some(AttrValue::Tensor { shape, data }) => {
                    let shape: Vec<usize> = shape.iter().map(|&d| d as usize).collect();
                    Tensor::from_f64(&shape, data.clone()).ok()
                }
                _ => None,
            },
            _ => None,
        }
    }

    fn constant_ints(&self, node: &OnnxNode, name: &str) -> Result<Vec<i64>, ExecError> {
        let t = self
            .constant(name)
            .ok_or_else(|| Self::err(node, format!("input {name:?} must be a constant")))?;
        Ok(t.to_f64().iter().map(|&v| v as i64).collect())
    }

    fn op(
        &mut self,
        node: &OnnxNode,
        name: String,
        op: Op,
        parents: Vec<NodeId>,
        attrs: Attrs,
    ) -> Result<NodeId, ExecError> {
        self.graph
            .add_op(name, op, parents, attrs)
            .map_err(|e| Self::err(node, e.message))
    }

    fn fresh_name(&mut self, base: &str) -> String {
        self.fresh += 1;
        format!("{base}__{}", self.fresh)
    }

    fn rank(&self, id: NodeId) -> usize {
        self.graph.nodes[id].shape.rank()
    }

    fn scalar_const(&mut self, node: &OnnxNode, v: f64) -> Result<NodeId, ExecError> {
        let name = self.fresh_name(&node.name);
        self.op(
            node,
            name,
            Op::Constant,
            vec![],
            Attrs::new().with("value", AttrValue::Float(v)),
        )
    }

    fn node(&mut self, node: &OnnxNode) -> Result<(), ExecError> {
        let out_name = node
            .outputs
            .first()
            .cloned()
            .ok_or_else(|| Self::err(node, "node has no output"))?;
        if node.outputs.iter().skip(1).any(|o| !o.is_empty())
            && !matches!(node.op_type.as_str(), "Dropout")
        {
            return Err(Self::err(node, "only the first output is supported"));
        }
        let inputs: Vec<&str> = node.inputs.iter().map(String::as_str).collect();
        let input = |b: &mut Self, i: usize| -> Result<NodeId, ExecError> {
            match inputs.get(i) {
                Some(n) if !n.is_empty() => b.value(n, &node.name),
                _ => Err(Self::err(node, format!("input {i} is missing"))),
            }
        };
        let has_input = |i: usize| inputs.get(i).is_some_and(|n| !n.is_empty());
        let int = |name: &str, default: i64| match node.attributes.get(name) {
            Some(Attribute::Int(v)) => *v,
            _ => default,
        };
        let float = |name: &str, default: f64| match node.attributes.get(name) {
            Some(Attribute::Float(v)) => f64::from(*v),
            _ => default,
        };
        let ints = |name: &str| match node.attributes.get(name) {
            Some(Attribute::Ints(v)) => Some(v.clone()),
            _ => None,
        };
        let opset = self.model.opset;
        let simple = |op: Op| -> Option<Op> { Some(op) };
        let direct = match node.op_type.as_str() {
            "Relu" => simple(Op::Relu),
            "Sigmoid" => simple(Op::Sigmoid),
            "Tanh" => simple(Op::Tanh),
            "Sqrt" => simple(Op::Sqrt),
            "Exp" => simple(Op::Exp),
            "Log" => simple(Op::Log),
            "Add" => simple(Op::Add),
            "Sub" => simple(Op::Sub),
            "Mul" => simple(Op::Mul),
            "Div" => simple(Op::Div),
            "Pow" => simple(Op::Pow),
            "MatMul" => simple(Op::Matmul),
            "GlobalAveragePool" => simple(Op::GlobalAvgPool),
            "Identity" => simple(Op::Identity),
            "Dropout" => simple(Op::Dropout),
            _ => None,
        };
        let id = if let Some(op) = direct {
            if op == Op::Dropout && node.outputs.get(1).is_some_and(|o| !o.is_empty()) {
                return Err(Self::err(node, "the dropout mask output is not supported"));
            }
            let n = if matches!(
                op,
                Op::Add | Op::Sub | Op::Mul | Op::Div | Op::Pow | Op::Matmul
            ) {
                2
            } else {
                1
            };
            let parents = (0..n)
                .map(|i| input(self, i))
                .collect::<Result<Vec<_>, _>>()?;
            self.op(node, out_name.clone(), op, parents, Attrs::new())?
        } else {
            match node.op_type.as_str() {
                "LeakyRelu" => {
                    let x = input(self, 0)?;
                    self.op(
                        node,
                        out_name.clone(),
                        Op::LeakyRelu,
                        vec![x],
                        Attrs::new().with("alpha", AttrValue::Float(float("alpha", 0.01))),
                    )?
                }
                "Gelu" => {
                    let x = input(self, 0)?;
                    let approx = match node.attributes.get("approximate") {
                        Some(Attribute::String(s)) => s.clone(),
                        _ => "none".into(),
                    };
                    self.op(
                        node,
                        out_name.clone(),
                        Op::Gelu,
                        vec![x],
                        Attrs::new().with("approximate", AttrValue::Str(approx)),
                    )?
                }
                "Softmax" | "LogSoftmax" => {
                    let x = input(self, 0)?;
                    let rank = self.rank(x) as i64;
                    let axis = int("axis", if opset >= 13 { -1 } else { 1 });
                    let norm = if axis < 0 { axis + rank } else { axis };
                    if opset < 13 && norm != rank - 1 {
                        return Err(Self::err(node, "before opset 13 softmax flattens from axis; only the last axis is supported"));
                    }
                    let op = if node.op_type == "Softmax" {
                        Op::Softmax
                    } else {
                        Op::LogSoftmax
                    };
                    self.op(
                        node,
                        out_name.clone(),
                        op,
                        vec![x],
                        Attrs::new().with("axis", AttrValue::Int(axis)),
                    )?
                }
                "Gemm" => self.gemm(node, &out_name)?,
                "Conv" => {
                    let x = input(self, 0)?;
                    let w = input(self, 1)?;
                    let spatial = self.rank(w).saturating_sub(2);
                    let op = match spatial {
                        1 => Op::Conv1d,
                        2 => Op::Conv2d,
                        _ => {
                            return Err(Self::err(
                                node,
                                "only 1-D and 2-D convolutions are supported",
                            ))
                        }
                    };
                    let attrs = self
                        .window_attrs(node, spatial)?
                        .with("groups", AttrValue::Int(int("group", 1)));
                    let mut parents = vec![x, w];
                    if has_input(2) {
                        parents.push(input(self, 2)?);
                    }
                    self.op(node, out_name.clone(), op, parents, attrs)?
                }
                "MaxPool" | "AveragePool" => {
                    let x = input(self, 0)?;
                    let kernel = ints("kernel_shape")
                        .ok_or_else(|| Self::err(node, "kernel_shape is required"))?;
                    if kernel.len() != 2 {
                        return Err(Self::err(node, "only 2-D pooling is supported"));
                    }
                    let mut attrs = self
                        .window_attrs(node, 2)?
                        .with("kernel_size", AttrValue::Ints(kernel))
                        .with("ceil_mode", AttrValue::Bool(int("ceil_mode", 0) != 0));
                    if node.op_type == "MaxPool" {
                        if int("storage_order", 0) != 0 {
                            return Err(Self::err(node, "storage_order = 1 is not supported"));
                        }
                        self.op(node, out_name.clone(), Op::MaxPool2d, vec![x], attrs)?
                    } else {
                        if attrs
                            .get("dilation")
                            .is_some_and(|d| d.as_ints() != Some(vec![1, 1]))
                        {
                            return Err(Self::err(
                                node,
                                "dilated average pooling is not supported",
                            ));
                        }
                        attrs.0.remove("dilation");
                        // ONNX's default excludes padding from the divisor (PyTorch's includes it).
                        let attrs = attrs.with(
                            "count_include_pad",
                            AttrValue::Bool(int("count_include_pad", 0) != 0),
                        );
                        self.op(node, out_name.clone(), Op::AvgPool2d, vec![x], attrs)?
                    }
                }
                "BatchNormalization" => {
                    if int("training_mode", 0) != 0 {
                        return Err(Self::err(
                            node,
                            "training_mode = 1 is not supported (tl runs in eval mode)",
                        ));
                    }
                    let parents = (0..5)
                        .map(|i| input(self, i))
                        .collect::<Result<Vec<_>, _>>()?;
                    self.op(
                        node,
                        out_name.clone(),
                        Op::BatchNorm,
                        parents,
                        Attrs::new().with("eps", AttrValue::Float(float("epsilon", 1e-5))),
                    )?
                }
                "LayerNormalization" => {
                    let x = input(self, 0)?;
                    let rank = self.rank(x) as i64;
                    let axis = int("axis", -1);
                    let axis = if axis < 0 { axis + rank } else { axis };
                    let mut parents = vec![x, input(self, 1)?];
                    if has_input(2) {
                        parents.push(input(self, 2)?);
                    }
                    let dims = &self.graph.nodes[x].shape.0[axis.clamp(0, rank) as usize..];
                    let mut attrs =
                        Attrs::new().with("eps", AttrValue::Float(float("epsilon", 1e-5)));
                    if let Some(known) = dims.iter().map(Dim::known).collect::<Option<Vec<_>>>() {
                        attrs = attrs.with(
                            "normalized_shape",
                            AttrValue::Ints(known.iter().map(|&d| d as i64).collect()),
                        );
                    }
                    self.op(node, out_name.clone(), Op::LayerNorm, parents, attrs)?
                }
                "Flatten" => {
                    let x = input(self, 0)?;
                    let axis = int("axis", 1);
                    if axis == 1 {
                        self.op(
                            node,
                            out_name.clone(),
                            Op::Flatten,
                            vec![x],
                            Attrs::new()
                                .with("start_dim", AttrValue::Int(1))
                                .with("end_dim", AttrValue::Int(-1)),
                        )?
                    } else {
                        let rank = self.rank(x) as i64;
                        let axis = if axis < 0 { axis + rank } else { axis };
                        let lead: Option<u64> = self.graph.nodes[x].shape.0
                            [..axis.clamp(0, rank) as usize]
                            .iter()
                            .map(Dim::known)
                            .product();
                        let lead = lead.ok_or_else(|| {
                            Self::err(node, "Flatten needs known leading extents")
                        })?;
                        self.op(
                            node,
                            out_name.clone(),
                            Op::Reshape,
                            vec![x],
                            Attrs::new().with("shape", AttrValue::Ints(vec![lead as i64, -1])),
                        )?
                    }
                }
                "Reshape" => {
                    let x = input(self, 0)?;
                    let shape = self.constant_ints(node, inputs.get(1).copied().unwrap_or(""))?;
                    if int("allowzero", 0) != 0 && shape.contains(&0) {
                        return Err(Self::err(
                            node,
                            "allowzero = 1 with a 0 extent is not supported",
                        ));
                    }
                    self.op(
                        node,
                        out_name.clone(),
                        Op::Reshape,
                        vec![x],
                        Attrs::new().with("shape", AttrValue::Ints(shape)),
                    )?
                }
                "Transpose" => {
                    let x = input(self, 0)?;
                    let rank = self.rank(x) as i64;
                    let perm = ints("perm").unwrap_or_else(|| (0..rank).rev().collect());
                    self.op(
                        node,
                        out_name.clone(),
                        Op::Permute,
                        vec![x],
                        Attrs::new().with("dims", AttrValue::Ints(perm)),
                    )?
                }
                "Concat" => {
                    let parents = (0..inputs.len())
                        .map(|i| input(self, i))
                        .collect::<Result<Vec<_>, _>>()?;
                    self.op(
                        node,
                        out_name.clone(),
                        Op::Concat,
                        parents,
                        Attrs::new().with("axis", AttrValue::Int(int("axis", 0))),
                    )?
                }
                "Slice" => self.slice(node, &out_name)?,
                "Gather" => {
                    let x = input(self, 0)?;
                    let idx = input(self, 1)?;
                    self.op(
                        node,
                        out_name.clone(),
                        Op::Gather,
                        vec![x, idx],
                        Attrs::new().with("axis", AttrValue::Int(int("axis", 0))),
                    )?
                }
                "Constant" => self.constant_node(node, &out_name)?,
                "Unsqueeze" | "Squeeze" => {
                    let x = input(self, 0)?;
                    let axes = if opset >= 13 {
                        if has_input(1) {
                            Some(self.constant_ints(node, inputs[1])?)
                        } else {
                            None
                        }
                    } else {
                        ints("axes")
                    };
                    let (op, attrs) = match (node.op_type.as_str(), axes) {
                        ("Unsqueeze", Some(a)) => {
                            (Op::Unsqueeze, Attrs::new().with("axes", AttrValue::Ints(a)))
                        }
                        ("Unsqueeze", None) => return Err(Self::err(node, "Unsqueeze needs axes")),
                        (_, Some(a)) => {
                            (Op::Squeeze, Attrs::new().with("axes", AttrValue::Ints(a)))
                        }
                        (_, None) => (Op::Squeeze, Attrs::new()),
                    };
                    self.op(node, out_name.clone(), op, vec![x], attrs)?
                }
                "ReduceMean" | "ReduceSum" => {
                    let x = input(self, 0)?;
                    let axes_from_input = (node.op_type == "ReduceSum" && opset >= 13)
                        || (node.op_type == "ReduceMean" && opset >= 18);
                    let axes = if axes_from_input {
                        if has_input(1) {
                            Some(self.constant_ints(node, inputs[1])?)
                        } else {
                            None
                        }
                    } else {
                        ints("axes")
                    };
                    let axes = axes.filter(|a| !a.is_empty());
                    if axes.is_none() && int("noop_with_empty_axes", 0) != 0 {
                        self.op(node, out_name.clone(), Op::Identity, vec![x], Attrs::new())?
                    } else {
                        let op = if node.op_type == "ReduceMean" {
                            Op::Mean
                        } else {
                            Op::Sum
                        };
                        let mut attrs =
                            Attrs::new().with("keepdim", AttrValue::Bool(int("keepdims", 1) != 0));
                        if let Some(a) = axes {
                            attrs = attrs.with("axes", AttrValue::Ints(a));
                        }
                        self.op(node, out_name.clone(), op, vec![x], attrs)?
                    }
                }
                other => {
                    return Err(Self::err(
                        node,
                        format!("{other} is listed as supported but has no mapping"),
                    ))
                }
            }
        };
        self.values.insert(out_name, id);
        Ok(())
    }

    /// stride/padding/dilation attrs for conv and pooling from ONNX strides/pads/dilations.
    fn window_attrs(&self, node: &OnnxNode, spatial: usize) -> Result<Attrs, ExecError> {
        let ints = |name: &str| match node.attributes.get(name) {
            Some(Attribute::Ints(v)) => Some(v.clone()),
            _ => None,
        };
        match node.attributes.get("auto_pad") {
            Some(Attribute::String(s)) if s != "NOTSET" && s != "VALID" => {
                return Err(Self::err(
                    node,
                    format!("auto_pad = {s} is not supported; export with explicit pads"),
                ))
            }
            _ => {}
        }
        let pads = ints("pads").unwrap_or_else(|| vec![0; 2 * spatial]);
        if pads.len() != 2 * spatial || (0..spatial).any(|i| pads[i] != pads[i + spatial]) {
            return Err(Self::err(
                node,
                format!("pads {pads:?}: only symmetric padding is supported"),
            ));
        }
        Ok(Attrs::new()
            .with(
                "stride",
                AttrValue::Ints(ints("strides").unwrap_or_else(|| vec![1; spatial])),
            )
            .with("padding", AttrValue::Ints(pads[..spatial].to_vec()))
            .with(
                "dilation",
                AttrValue::Ints(ints("dilations").unwrap_or_else(|| vec![1; spatial])),
            ))
    }

    /// Gemm: `alpha * A' B' + beta * C` as linear (weights re-laid out to `[out, in]` when B is an
    /// initializer), with explicit ops for transA, alpha and beta when they are not trivial.
    fn gemm(&mut self, node: &OnnxNode, out_name: &str) -> Result<NodeId, ExecError> {
        let attr = |name: &str, default: f64| match node.attributes.get(name) {
            Some(Attribute::Float(v)) => f64::from(*v),
            Some(Attribute::Int(v)) => *v as f64,
            _ => default,
        };
        let (alpha, beta) = (attr("alpha", 1.0), attr("beta", 1.0));
        let (trans_a, trans_b) = (attr("transA", 0.0) != 0.0, attr("transB", 0.0) != 0.0);
        let mut a = self.value(&node.inputs[0], &node.name)?;
        if trans_a {
            let name = self.fresh_name(&node.name);
            a = self.op(node, name, Op::Transpose, vec![a], Attrs::new())?;
        }
        let b_name = node
            .inputs
            .get(1)
            .cloned()
            .ok_or_else(|| Self::err(node, "Gemm needs B"))?;
        let weight = match (trans_b, self.model.initializers.get(&b_name)) {
            (true, _) => self.value(&b_name, &node.name)?,
            (false, Some(b)) => {
                // Store W = B^T so that linear's y = x W^T equals x B.
                let key = format!("{b_name}.T");
                let t = crate::backend::CpuBackend;
                let transposed =
                    crate::Backend::run(&t, &crate::KernelOp::Transpose { dim0: 0, dim1: 1 }, &[b])
                        .map_err(|e| Self::err(node, e.to_string()))?
                        .remove(0);
                match self.values.get(&key) {
                    Some(&id) => id,
                    None => self.param(&key, transposed),
                }
            }
            (false, None) => {
                let b = self.value(&b_name, &node.name)?;
                let name = self.fresh_name(&node.name);
                self.op(node, name, Op::Transpose, vec![b], Attrs::new())?
            }
        };
        let c = node.inputs.get(2).filter(|c| !c.is_empty()).cloned();
        let out_features = self.graph.nodes[weight]
            .shape
            .0
            .first()
            .and_then(Dim::known);
        // The simple case: y = x W^T + b with a 1-D bias.
        if alpha == 1.0 && beta == 1.0 {
            if let Some(c_name) = &c {
                let c_id = self.value(c_name, &node.name)?;
                let c_shape = &self.graph.nodes[c_id].shape;
                if c_shape.rank() == 1 && c_shape.0.first().and_then(Dim::known) == out_features {
                    return self.op(
                        node,
                        out_name.into(),
                        Op::Linear,
                        vec![a, weight, c_id],
                        Attrs::new(),
                    );
                }
            } else {
                return self.op(
                    node,
                    out_name.into(),
                    Op::Linear,
                    vec![a, weight],
                    Attrs::new(),
                );
            }
        }
        let name = self.fresh_name(&node.name);
        let mut y = self.op(node, name, Op::Linear, vec![a, weight], Attrs::new())?;
        if alpha != 1.0 {
            let k = self.scalar_const(node, alpha)?;
            let name = self.fresh_name(&node.name);
            y = self.op(node, name, Op::Mul, vec![y, k], Attrs::new())?;
        }
        match c {
            None => self.op(node, out_name.into(), Op::Identity, vec![y], Attrs::new()),
            Some(c_name) => {
                let mut c_id = self.value(&c_name, &node.name)?;
                if beta != 1.0 {
                    let k = self.scalar_const(node, beta)?;
                    let name = self.fresh_name(&node.name);
                    c_id = self.op(node, name, Op::Mul, vec![c_id, k], Attrs::new())?;
                }
                self.op(node, out_name.into(), Op::Add, vec![y, c_id], Attrs::new())
            }
        }
    }

    /// Slice over several axes becomes a chain of single-axis slices.
    fn slice(&mut self, node: &OnnxNode, out_name: &str) -> Result<NodeId, ExecError> {
        let x = self.value(&node.inputs[0], &node.name)?;
        let list = |b: &Self, attr: &str, input: usize| -> Result<Option<Vec<i64>>, ExecError> {
            if b.model.opset >= 10 {
                match node.inputs.get(input) {
                    Some(n) if !n.is_empty() => b.constant_ints(node, n).map(Some),
                    _ => Ok(None),
                }
            } else {
                Ok(match node.attributes.get(attr) {
                    Some(Attribute::Ints(v)) => Some(v.clone()),
                    _ => None,
                })
            }
        };
        let starts =
            list(self, "starts", 1)?.ok_or_else(|| Self::err(node, "Slice needs starts"))?;
        let ends = list(self, "ends", 2)?.ok_or_else(|| Self::err(node, "Slice needs ends"))?;
        let axes = list(self, "axes", 3)?.unwrap_or_else(|| (0..starts.len() as i64).collect());
        let steps = list(self, "steps", 4)?.unwrap_or_else(|| vec![1; starts.len()]);
        if [ends.len(), axes.len(), steps.len()]
            .iter()
            .any(|&l| l != starts.len())
            || starts.is_empty()
        {
            return Err(Self::err(
                node,
                "starts, ends, axes and steps must have one entry per sliced axis",
            ));
        }
        if let Some(s) = steps.iter().find(|&&s| s < 1) {
            return Err(Self::err(
                node,
                format!("step {s} is not supported (tl slices need step >= 1)"),
            ));
        }
        let mut cur = x;
        for i in 0..starts.len() {
            let name = if i + 1 == starts.len() {
                out_name.to_string()
            } else {
                self.fresh_name(&node.name)
            };
            let attrs = Attrs::new()
                .with("axis", AttrValue::Int(axes[i]))
                .with("start", AttrValue::Int(starts[i]))
                .with("end", AttrValue::Int(ends[i]))
                .with("step", AttrValue::Int(steps[i]));
            cur = self.op(node, name, Op::Slice, vec![cur], attrs)?;
        }
        Ok(cur)
    }

    fn constant_node(&mut self, node: &OnnxNode, out_name: &str) -> Result<NodeId, ExecError> {
        let (tensor, integer) = match (
            node.attributes.get("value"),
            node.attributes.get("value_float"),
            node.attributes.get("value_int"),
            node.attributes.get("value_floats"),
            node.attributes.get("value_ints"),
        ) {
            (Some(Attribute::Tensor(t)), ..) => (t.clone(), t.dtype() == DType::I64),
            (_, Some(Attribute::Float(v)), ..) => (Tensor::scalar_f64(f64::from(*v)), false),
            (_, _, Some(Attribute::Int(v)), ..) => (Tensor::scalar_f64(*v as f64), true),
            (_, _, _, Some(Attribute::Floats(v)), _) => (
                Tensor::from_f64(&[v.len()], v.iter().map(|&x| f64::from(x)).collect())
                    .map_err(|e| Self::err(node, e.to_string()))?,
                false,
            ),
            (_, _, _, _, Some(Attribute::Ints(v))) => (
                Tensor::from_f64(&[v.len()], v.iter().map(|&x| x as f64).collect())
                    .map_err(|e| Self::err(node, e.to_string()))?,
                true,
            ),
            _ => return Err(Self::err(node, "Constant needs a value attribute tl reads")),
        };
        let shape = tensor.shape().iter().map(|&d| d as u64).collect();
        let data = tensor.to_f64().iter().copied().collect();
        let attrs = Attrs::new()
            .with("value", AttrValue::Tensor { shape, data })
            .with(
                "dtype",
                AttrValue::Str(if integer { "i64" } else { "f32" }.into()),
            );
        self.op(node, out_name.into(), Op::Constant, vec![], attrs)
    }
}
