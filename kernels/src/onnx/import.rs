//! ONNX -> tl-ir: builds a [`tl_ir::Graph`] and its payload (the initializers) from a loaded
//! [`OnnxModel`], for the default-domain ops of opsets 8-21 listed by [`supported_ops`] (the op table's `onnx`
//! column and the shape computations folded at import). A model
//! using anything else is refused with one TL0520 error listing every unsupported node.

use super::fold::{self, Folded, SymInt};
use super::{Attribute, Dim as OnnxDim, OnnxModel, OnnxNode};
use crate::dtype::DType;
use crate::exec::ExecError;
use crate::tensor::Tensor;
use std::collections::{BTreeMap, HashMap};
use tl_ir::{AttrValue, Attrs, DType as IrDType, Dim, Graph, NodeId, Op, Shape};

mod recurrent;

/// The default-domain opsets the importer reads, inclusive.
pub const OPSETS: (i64, i64) = (1, 21);

/// ONNX ops the importer handles that no tl op lists in its `onnx` mapping: shape computations
/// folded at import (see [`super::fold`]), `Cast`, `Split` (one slice per output), and two exact
/// lowerings of constant-shaped broadcasts: `Expand` (a product with ones of the target shape:
/// `x * 1 = x` for every float, -0 and inf included) and `Tile` (concats of copies); and the
/// recurrent `LSTM`, `GRU` and `RNN`, unrolled over their static sequence length into linears,
/// gates and slices (see [`recurrent`]).
pub const IMPORT_ONLY_OPS: &[&str] = &[
    "Shape",
    "Size",
    "ConstantOfShape",
    "Range",
    "Cast",
    "Split",
    "Expand",
    "Tile",
    "LSTM",
    "GRU",
    "RNN",
];

/// Comparisons and logic that import only when they fold on known values (known integer and
/// boolean mask subgraphs; TL0570 otherwise): they have no tl op (their results are booleans).
pub const FOLD_ONLY_OPS: &[&str] = &[
    "Equal",
    "Less",
    "Greater",
    "LessOrEqual",
    "GreaterOrEqual",
    "Not",
    "And",
    "Or",
    "Xor",
];

/// Whether the importer maps ONNX op type `op_type` (default domain): the ops the op table lists
/// (`OpInfo::onnx`, the one list) plus [`IMPORT_ONLY_OPS`] and [`FOLD_ONLY_OPS`].
pub fn is_supported(op_type: &str) -> bool {
    tl_ir::OPS.iter().any(|o| o.onnx.contains(&op_type)) || is_import_only(op_type)
}

/// Whether `op_type` is mapped by the importer itself rather than by an op-table row.
pub fn is_import_only(op_type: &str) -> bool {
    IMPORT_ONLY_OPS.contains(&op_type) || FOLD_ONLY_OPS.contains(&op_type)
}

/// Every ONNX op type the importer maps, sorted.
pub fn supported_ops() -> Vec<&'static str> {
    let mut all: Vec<&'static str> = tl_ir::OPS
        .iter()
        .flat_map(|o| o.onnx.iter().copied())
        .chain(IMPORT_ONLY_OPS.iter().copied())
        .chain(FOLD_ONLY_OPS.iter().copied())
        .collect();
    all.sort_unstable();
    all.dedup();
    all
}

/// The tl op an ONNX op maps to one for one, inputs in order and no attributes: the table row
/// that lists it, when that row is the only one, has no attributes and only required inputs.
fn direct_op(op_type: &str) -> Option<&'static tl_ir::OpInfo> {
    let mut rows = tl_ir::OPS.iter().filter(|o| o.onnx.contains(&op_type));
    let row = rows.next()?;
    (rows.next().is_none()
        && row.attrs.is_empty()
        && row.inputs.iter().all(|i| !i.optional && !i.variadic))
    .then_some(row)
}

/// The variadic ONNX elementwise ops (`Sum`, `Mean`, `Max`, `Min`: any number of inputs with
/// numpy broadcasting) and the binary tl op whose chain computes them (`Mean` divides the sum).
fn variadic_op(op_type: &str) -> Option<Op> {
    let op = match op_type {
        "Sum" | "Mean" => Op::Add,
        "Max" => Op::Maximum,
        "Min" => Op::Minimum,
        _ => return None,
    };
    op.info().onnx.contains(&op_type).then_some(op)
}

/// The tl op an ONNX op maps to with its float attributes copied by name (`Elu`'s `alpha`,
/// `Selu`'s `alpha`/`gamma`, `HardSigmoid`'s `alpha`/`beta`): the only row listing it, with
/// required inputs and only float attributes whose table defaults are ONNX's.
fn float_attr_row(op_type: &str) -> Option<&'static tl_ir::OpInfo> {
    let mut rows = tl_ir::OPS.iter().filter(|o| o.onnx.contains(&op_type));
    let row = rows.next()?;
    (rows.next().is_none()
        && row.inputs.iter().all(|i| !i.optional && !i.variadic)
        && row.attrs.iter().all(|a| a.kind == tl_ir::AttrKind::Float))
    .then_some(row)
}

/// A tl graph imported from ONNX, with its params (initializers, some re-laid-out) as payload.
#[derive(Debug, Clone)]
pub struct ImportedModel {
    pub graph: Graph,
    pub payload: BTreeMap<String, Tensor>,
}

/// How to import: symbolic input extents (ONNX `dim_param`s) to fix to numbers.
#[derive(Debug, Clone, Default)]
pub struct ImportOptions {
    /// `batch = 2`: every input axis declared with `dim_param` "batch" gets extent 2, so shape
    /// computations over it fold (a `batch * heads` reshape target needs this).
    pub bind: BTreeMap<String, u64>,
}

/// Converts a loaded ONNX model to a tl-ir graph, symbolic extents kept symbolic.
pub fn import(model: &OnnxModel) -> Result<ImportedModel, ExecError> {
    import_with(model, &ImportOptions::default())
}

/// Converts a loaded ONNX model to a tl-ir graph with `options`.
pub fn import_with(model: &OnnxModel, options: &ImportOptions) -> Result<ImportedModel, ExecError> {
    let unsupported: Vec<(String, String)> = model
        .nodes
        .iter()
        .filter(|n| !(n.domain.is_empty() || n.domain == "ai.onnx") || !is_supported(&n.op_type))
        .map(|n| (n.op_type.clone(), n.name.clone()))
        .collect();
    if !unsupported.is_empty() {
        return Err(ExecError::UnsupportedOnnxOps { ops: unsupported });
    }
    if !(OPSETS.0..=OPSETS.1).contains(&model.opset) {
        return Err(ExecError::OnnxImport {
            node: "(model)".into(),
            detail: format!(
                "opset {} is outside {}..={}",
                model.opset, OPSETS.0, OPSETS.1
            ),
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
        folded: HashMap::new(),
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
                    OnnxDim::Param(p) if !p.is_empty() => match options.bind.get(p) {
                        Some(&v) => Dim::Known(v),
                        None => Dim::Sym(p.clone()),
                    },
                    _ => {
                        let name = format!("{}_d{i}", input.name);
                        match options.bind.get(&name) {
                            Some(&v) => Dim::Known(v),
                            None => Dim::Sym(name),
                        }
                    }
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

/// The dtype an imported value gets in the IR: what the engines hold it as (the integers without
/// an engine kernel of their own widen to i64).
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
    /// Integer values computed at import (shape subgraphs); materialised as constants on demand.
    folded: HashMap<String, Folded>,
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
        if let Some(h) = self.model.headers.get(name) {
            // A header-only load: the param's type without its data.
            return Ok(self.param_header(name, &h.shape, h.dtype));
        }
        if let Some(f) = self.folded.get(name).cloned() {
            let Some(ints) = f.ints() else {
                return Err(ExecError::OnnxShape {
                    node: user.into(),
                    detail: format!(
                        "value {name:?} = {} is used as tensor data but holds extents known only at run time",
                        f.describe()
                    ),
                });
            };
            let attrs = Attrs::new()
                .with(
                    "value",
                    AttrValue::Tensor {
                        shape: f.shape.iter().map(|&d| d as u64).collect(),
                        data: ints.iter().map(|&v| v as f64).collect(),
                    },
                )
                .with("dtype", AttrValue::Str("i64".into()));
            let id = self
                .graph
                .add_op(name, Op::Constant, vec![], attrs)
                .map_err(|e| ExecError::OnnxImport {
                    node: user.into(),
                    detail: e.message,
                })?;
            self.values.insert(name.into(), id);
            return Ok(id);
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

    /// A param whose data was not read (the payload has no entry for it).
    fn param_header(&mut self, key: &str, shape: &[usize], dtype: DType) -> NodeId {
        let shape = Shape::known(&shape.iter().map(|&d| d as u64).collect::<Vec<_>>());
        let id = self.graph.add_param(key, shape, ir_dtype(dtype));
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
                    if matches!(attrs.str("dtype", "f32"), "i64" | "i32" | "bool") {
                        Tensor::from_i64(&shape, data.iter().map(|&v| v as i64).collect()).ok()
                    } else {
                        Tensor::from_f64(&shape, data.clone()).ok()
                    }
                }
                _ => None,
            },
            _ => None,
        }
    }

    /// An integer value known at import: folded, an initializer or a Constant node.
    fn folded_value(&self, name: &str) -> Option<Folded> {
        if let Some(f) = self.folded.get(name) {
            return Some(f.clone());
        }
        let t = self.constant(name)?;
        if t.dtype() != DType::I64 {
            return None;
        }
        Some(Folded::known(
            t.shape().to_vec(),
            t.to_f64().iter().map(|&v| v as i64),
        ))
    }

    /// A shape-like input (axes, a reshape target, slice bounds) as numbers; TL0570 when it is
    /// computed from tensor data or from extents known only at run time.
    fn folded_shape_input(&self, node: &OnnxNode, name: &str) -> Result<Folded, ExecError> {
        if let Some(f) = self.folded_value(name) {
            return Ok(f);
        }
        if let Some(t) = self.constant(name) {
            // A float constant used as integers (old exporters): exact integers only.
            let v = t.to_f64();
            if v.iter().all(|x| x.fract() == 0.0 && x.abs() < 9.0e15) {
                return Ok(Folded::known(
                    t.shape().to_vec(),
                    v.iter().map(|&x| x as i64),
                ));
            }
            return Err(Self::err(
                node,
                format!("input {name:?} must hold integers"),
            ));
        }
        Err(ExecError::OnnxShape {
            node: node.name.clone(),
            detail: if self.values.contains_key(name)
                || self
                    .model
                    .nodes
                    .iter()
                    .any(|n| n.outputs.iter().any(|o| o == name))
            {
                format!(
                    "input {name:?} is computed from tensor data (not from shapes and constants)"
                )
            } else {
                format!("input {name:?} is not produced before it is used")
            },
        })
    }

    fn constant_ints(&self, node: &OnnxNode, name: &str) -> Result<Vec<i64>, ExecError> {
        let f = self.folded_shape_input(node, name)?;
        f.ints().ok_or_else(|| ExecError::OnnxShape {
            node: node.name.clone(),
            detail: format!(
                "input {name:?} = {} holds extents known only at run time; tl needs them fixed here",
                f.describe()
            ),
        })
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
        if node.op_type == "Split" {
            return self.split(node);
        }
        if matches!(node.op_type.as_str(), "LSTM" | "GRU" | "RNN") {
            return self.recurrent(node);
        }
        if let Some(op) = variadic_op(&node.op_type) {
            let id = self.variadic(node, &out_name, op)?;
            self.values.insert(out_name, id);
            return Ok(());
        }
        if node.outputs.iter().skip(1).any(|o| !o.is_empty())
            && !matches!(node.op_type.as_str(), "Dropout")
            && !self.outputs_unused(&node.outputs[1..])
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
        if let Some(f) = self.fold(node)? {
            self.folded.insert(out_name, f);
            return Ok(());
        }
        if self.values.contains_key(&out_name) {
            return Ok(()); // emitted by the folder (a float ConstantOfShape)
        }
        let direct = direct_op(&node.op_type).map(|row| (row.op, row.inputs.len()));
        let id = if let Some((op, n)) = direct {
            let parents = (0..n)
                .map(|i| input(self, i))
                .collect::<Result<Vec<_>, _>>()?;
            self.op(node, out_name.clone(), op, parents, Attrs::new())?
        } else {
            match node.op_type.as_str() {
                "Dropout" => {
                    let x = input(self, 0)?;
                    // Opset 12+: an optional training_mode input; tl runs in eval mode only.
                    if has_input(2) {
                        let t = self.constant_ints(node, inputs[2])?;
                        if t.iter().any(|&v| v != 0) {
                            return Err(Self::err(node, "training_mode = true is not supported (tl runs in eval mode)"));
                        }
                    }
                    let id = self.op(node, out_name.clone(), Op::Dropout, vec![x], Attrs::new())?;
                    // The mask of an eval-mode dropout keeps everything: a constant of trues.
                    if let Some(mask) = node.outputs.get(1).filter(|m| !m.is_empty()) {
                        if !self.outputs_unused(std::slice::from_ref(mask)) {
                            let dims = self.graph.nodes[x].shape.as_known().ok_or_else(|| {
                                Self::err(node, "the dropout mask is used, and the input's shape is not fully known")
                            })?;
                            let n: u64 = dims.iter().product();
                            let attrs = Attrs::new()
                                .with("value", AttrValue::Tensor { shape: dims, data: vec![1.0; n as usize] })
                                .with("dtype", AttrValue::Str("bool".into()));
                            let m = self.op(node, mask.clone(), Op::Constant, vec![], attrs)?;
                            self.values.insert(mask.clone(), m);
                        }
                    }
                    id
                }
                "Softplus" => {
                    // ONNX Softplus is log(exp(x) + 1) everywhere: beta 1 and no linear cut-off.
                    let x = input(self, 0)?;
                    self.op(
                        node,
                        out_name.clone(),
                        Op::Softplus,
                        vec![x],
                        Attrs::new().with("threshold", AttrValue::Float(f64::MAX)),
                    )?
                }
                "Clip" => {
                    let x = input(self, 0)?;
                    let bound = |b: &Self, attr: &str, i: usize| -> Result<Option<f64>, ExecError> {
                        if opset < 11 {
                            return Ok(match node.attributes.get(attr) {
                                Some(Attribute::Float(v)) => Some(f64::from(*v)),
                                _ => None,
                            });
                        }
                        match inputs.get(i) {
                            Some(n) if !n.is_empty() => {
                                let t = b.constant(n).ok_or_else(|| {
                                    Self::err(node, format!("Clip bound {n:?} must be a constant"))
                                })?;
                                if t.shape().iter().product::<usize>() != 1 {
                                    return Err(Self::err(node, "Clip bounds must be scalars"));
                                }
                                Ok(t.to_f64().iter().next().copied())
                            }
                            _ => Ok(None),
                        }
                    };
                    let mut attrs = Attrs::new();
                    if let Some(lo) = bound(self, "min", 1)? {
                        attrs = attrs.with("min", AttrValue::Float(lo));
                    }
                    if let Some(hi) = bound(self, "max", 2)? {
                        attrs = attrs.with("max", AttrValue::Float(hi));
                    }
                    self.op(node, out_name.clone(), Op::Clamp, vec![x], attrs)?
                }
                "ArgMax" => {
                    let x = input(self, 0)?;
                    if int("select_last_index", 0) != 0 {
                        return Err(Self::err(node, "select_last_index = 1 is not supported (tl's argmax takes the first maximum)"));
                    }
                    self.op(
                        node,
                        out_name.clone(),
                        Op::Argmax,
                        vec![x],
                        Attrs::new()
                            .with("axis", AttrValue::Int(int("axis", 0)))
                            .with("keepdim", AttrValue::Bool(int("keepdims", 1) != 0)),
                    )?
                }
                "Cast" => {
                    // Casts of shape values fold (above); a cast that keeps the dtype is the identity.
                    let x = input(self, 0)?;
                    let to = int("to", 0);
                    let target = super::dtype_of_onnx(to as i32).map(ir_dtype);
                    let from = self.graph.nodes[x].dtype;
                    if target != Some(from) {
                        return Err(Self::err(node, format!(
                            "Cast from {from} to ONNX type {to} is not supported (only casts that keep the dtype, and casts of shape values)"
                        )));
                    }
                    self.op(node, out_name.clone(), Op::Identity, vec![x], Attrs::new())?
                }
                "Shape" | "Size" | "ConstantOfShape" | "Range" | "Equal" | "Less" | "Greater"
                | "LessOrEqual" | "GreaterOrEqual" | "Not" | "And" | "Or" | "Xor" => {
                    return Err(ExecError::OnnxShape {
                        node: node.name.clone(),
                        detail: format!(
                            "{} needs inputs known at import (shapes and constants); this one depends on tensor data or on extents known only at run time",
                            node.op_type
                        ),
                    })
                }
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
                    let op = if node.op_type == "Softmax" {
                        Op::Softmax
                    } else {
                        Op::LogSoftmax
                    };
                    if opset < 13 && norm != rank - 1 {
                        // Before opset 13 the input is coerced to 2-D [prod(:axis), prod(axis:)]
                        // and normalised along the second axis: reshape, softmax, reshape back.
                        return self.coerced_softmax(node, &out_name, op, x, norm);
                    }
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
                    let x = self.pre_pad(node, x, self.rank(w).saturating_sub(2), 0.0)?;
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
                "ConvTranspose" => {
                    let x = input(self, 0)?;
                    let w = input(self, 1)?;
                    if self.rank(w) != 4 {
                        return Err(Self::err(node, "only 2-D transposed convolutions are supported"));
                    }
                    if node.attributes.contains_key("output_shape") {
                        return Err(Self::err(
                            node,
                            "output_shape is not supported; export with pads and output_padding",
                        ));
                    }
                    let attrs = self
                        .window_attrs(node, 2)?
                        .with("groups", AttrValue::Int(int("group", 1)))
                        .with(
                            "output_padding",
                            AttrValue::Ints(ints("output_padding").unwrap_or_else(|| vec![0, 0])),
                        );
                    let mut parents = vec![x, w];
                    if has_input(2) {
                        parents.push(input(self, 2)?);
                    }
                    self.op(node, out_name.clone(), Op::ConvTranspose2d, parents, attrs)?
                }
                "MaxPool" | "AveragePool" if ints("kernel_shape").is_some_and(|k| k.len() == 1) => {
                    self.pool1d(node, &out_name)?
                }
                "MaxPool" | "AveragePool" => {
                    let x = input(self, 0)?;
                    let kernel = ints("kernel_shape")
                        .ok_or_else(|| Self::err(node, "kernel_shape is required"))?;
                    if kernel.len() != 2 {
                        return Err(Self::err(node, "only 2-D pooling is supported"));
                    }
                    // Asymmetric pads: explicit -inf padding is exact for max pooling; average
                    // pooling divides by the window's real elements, which a pad would change.
                    let x = if node.op_type == "MaxPool" && int("ceil_mode", 0) == 0 {
                        self.pre_pad(node, x, 2, f64::NEG_INFINITY)?
                    } else {
                        x
                    };
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
                    let target =
                        self.folded_shape_input(node, inputs.get(1).copied().unwrap_or(""))?;
                    let dims: Vec<Result<u64, String>> = self.graph.nodes[x]
                        .shape
                        .0
                        .iter()
                        .map(|d| match d {
                            Dim::Known(v) => Ok(*v),
                            Dim::Sym(s) => Err(s.clone()),
                        })
                        .collect();
                    let shape = fold::reshape_target(&target, &dims).map_err(|detail| {
                        ExecError::OnnxShape {
                            node: node.name.clone(),
                            detail,
                        }
                    })?;
                    if int("allowzero", 0) != 0 && shape.contains(&0) {
                        return Err(Self::err(
                            node,
                            "allowzero = 1 with a 0 extent is not supported",
                        ));
                    }
                    let symbolic = target.ints().is_none();
                    self.graph
                        .add_op(
                            out_name.clone(),
                            Op::Reshape,
                            vec![x],
                            Attrs::new().with("shape", AttrValue::Ints(shape)),
                        )
                        .map_err(|e| {
                            if symbolic {
                                ExecError::OnnxShape {
                                    node: node.name.clone(),
                                    detail: format!(
                                        "the target {} mixes extents known only at run time: {}; bind them at import",
                                        target.describe(),
                                        e.message
                                    ),
                                }
                            } else {
                                Self::err(node, e.message)
                            }
                        })?
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
                "ReduceMean" | "ReduceSum" | "ReduceMax" => {
                    let x = input(self, 0)?;
                    let axes_from_input = (node.op_type == "ReduceSum" && opset >= 13)
                        || (node.op_type != "ReduceSum" && opset >= 18);
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
                        let op = match node.op_type.as_str() {
                            "ReduceMean" => Op::Mean,
                            "ReduceMax" => Op::Max,
                            _ => Op::Sum,
                        };
                        let mut attrs =
                            Attrs::new().with("keepdim", AttrValue::Bool(int("keepdims", 1) != 0));
                        if let Some(a) = axes {
                            attrs = attrs.with("axes", AttrValue::Ints(a));
                        }
                        self.op(node, out_name.clone(), op, vec![x], attrs)?
                    }
                }
                "GlobalMaxPool" => {
                    // The maximum over every spatial axis, kept with extent 1: exact.
                    let x = input(self, 0)?;
                    let r = self.rank(x) as i64;
                    if r < 3 {
                        return Err(Self::err(node, "GlobalMaxPool needs [N, C, spatial...]"));
                    }
                    let attrs = Attrs::new()
                        .with("axes", AttrValue::Ints((2..r).collect()))
                        .with("keepdim", AttrValue::Bool(true));
                    self.op(node, out_name.clone(), Op::Max, vec![x], attrs)?
                }
                "Pad" => self.pad(node, &out_name)?,
                "LRN" => {
                    let x = input(self, 0)?;
                    let size = match node.attributes.get("size") {
                        Some(Attribute::Int(v)) if *v >= 1 => *v,
                        _ => return Err(Self::err(node, "LRN needs an integer size >= 1")),
                    };
                    let row = Op::Lrn.info();
                    let mut attrs = Attrs::new().with("size", AttrValue::Int(size));
                    for a in ["alpha", "beta", "bias"] {
                        let d = row.default_value(a).and_then(|v| v.as_f64()).unwrap_or(0.0);
                        attrs = attrs.with(a, AttrValue::Float(float(a, d)));
                    }
                    self.op(node, out_name.clone(), Op::Lrn, vec![x], attrs)?
                }
                "Trilu" => {
                    let x = input(self, 0)?;
                    let k = if has_input(1) {
                        match self.constant_ints(node, inputs[1])?.as_slice() {
                            [k] => *k,
                            other => {
                                return Err(Self::err(node, format!("Trilu k must be one integer, got {other:?}")))
                            }
                        }
                    } else {
                        0
                    };
                    let attrs = Attrs::new()
                        .with("upper", AttrValue::Bool(int("upper", 1) != 0))
                        .with("k", AttrValue::Int(k));
                    self.op(node, out_name.clone(), Op::Trilu, vec![x], attrs)?
                }
                "Resize" | "Upsample" => self.resize(node, &out_name)?,
                "Expand" => self.expand(node, &out_name)?,
                "Tile" => self.tile(node, &out_name)?,
                other => match float_attr_row(other) {
                    Some(row) => self.float_attr_op(node, &out_name, row)?,
                    None => {
                        return Err(Self::err(
                            node,
                            format!("{other} is listed as supported but has no mapping"),
                        ))
                    }
                },
            }
        };
        self.values.insert(out_name, id);
        Ok(())
    }

    /// The ONNX `pads` of a conv or pool node when they differ between the two ends of an axis.
    /// A 1-D MaxPool/AveragePool on `[N, C, L]` as the 2-D pool of `[N, C, 1, L]` with a
    /// `1 x k` window (height stride 1, no height padding: exact), then the axis removed.
    fn pool1d(&mut self, node: &OnnxNode, out_name: &str) -> Result<NodeId, ExecError> {
        let x_name = node
            .inputs
            .first()
            .filter(|n| !n.is_empty())
            .ok_or_else(|| Self::err(node, "input 0 is missing"))?;
        let x = self.value(x_name, &node.name)?;
        if self.rank(x) != 3 {
            return Err(Self::err(node, "a 1-D pool needs an [N, C, L] input"));
        }
        let lifted = self.fresh_name(&format!("{}__lifted", node.name));
        let u = self.op(
            node,
            lifted.clone(),
            Op::Unsqueeze,
            vec![x],
            Attrs::new().with("axes", AttrValue::Ints(vec![2])),
        )?;
        self.values.insert(lifted.clone(), u);
        let mut as_2d = node.clone();
        as_2d.inputs = vec![lifted];
        let pooled = self.fresh_name(&format!("{}__2d", node.name));
        as_2d.outputs = vec![pooled.clone()];
        for (name, height) in [("kernel_shape", 1), ("strides", 1), ("dilations", 1)] {
            if let Some(Attribute::Ints(v)) = as_2d.attributes.get_mut(name) {
                v.insert(0, height);
            }
        }
        if let Some(Attribute::Ints(v)) = as_2d.attributes.get_mut("pads") {
            if v.len() != 2 {
                return Err(Self::err(
                    node,
                    format!("pads {v:?} of a 1-D pool need 2 entries"),
                ));
            }
            *v = vec![0, v[0], 0, v[1]];
        }
        self.node(&as_2d)?;
        let p = self.values[&pooled];
        self.op(
            node,
            out_name.to_string(),
            Op::Squeeze,
            vec![p],
            Attrs::new().with("axes", AttrValue::Ints(vec![2])),
        )
    }

    fn asymmetric_pads(node: &OnnxNode, spatial: usize) -> Option<Vec<i64>> {
        match node.attributes.get("pads") {
            Some(Attribute::Ints(p))
                if p.len() == 2 * spatial && (0..spatial).any(|i| p[i] != p[i + spatial]) =>
            {
                Some(p.clone())
            }
            _ => None,
        }
    }

    /// `x` padded explicitly with `fill` (over the spatial axes, as `pads` says) when the node's
    /// pads are asymmetric; [`Self::window_attrs`] then sees no padding. Else `x` itself.
    fn pre_pad(
        &mut self,
        node: &OnnxNode,
        x: NodeId,
        spatial: usize,
        fill: f64,
    ) -> Result<NodeId, ExecError> {
        let Some(p) = Self::asymmetric_pads(node, spatial) else {
            return Ok(x);
        };
        if p.iter().any(|&v| v < 0) {
            return Err(Self::err(
                node,
                format!("negative pads {p:?} are not supported"),
            ));
        }
        let lead = self.rank(x).saturating_sub(spatial);
        let mut pads = vec![0; lead];
        pads.extend_from_slice(&p[..spatial]);
        pads.extend(std::iter::repeat_n(0, lead));
        pads.extend_from_slice(&p[spatial..]);
        let name = self.fresh_name(&node.name);
        let attrs = Attrs::new()
            .with("pads", AttrValue::Ints(pads))
            .with("mode", AttrValue::Str("constant".into()))
            .with("value", AttrValue::Float(fill));
        self.op(node, name, Op::Pad, vec![x], attrs)
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
        // Asymmetric pads of a conv or max pool were made explicit by `pre_pad`.
        let pre_padded = Self::asymmetric_pads(node, spatial).is_some()
            && (node.op_type == "Conv"
                || (node.op_type == "MaxPool"
                    && !matches!(node.attributes.get("ceil_mode"), Some(Attribute::Int(v)) if *v != 0)));
        let pads = if pre_padded {
            vec![0; 2 * spatial]
        } else {
            pads
        };
        if pads.len() != 2 * spatial || (0..spatial).any(|i| pads[i] != pads[i + spatial]) {
            return Err(Self::err(
                node,
                format!("pads {pads:?}: asymmetric padding is supported for Conv and MaxPool (without ceil_mode) only"),
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
            (false, None)
                if self
                    .model
                    .headers
                    .get(&b_name)
                    .is_some_and(|h| h.shape.len() == 2) =>
            {
                // Header-only: the re-laid-out weight's type, as a full load would give it.
                let h = &self.model.headers[&b_name];
                let key = format!("{b_name}.T");
                let (shape, dtype) = ([h.shape[1], h.shape[0]], h.dtype);
                match self.values.get(&key) {
                    Some(&id) => id,
                    None => self.param_header(&key, &shape, dtype),
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

    /// `Sum`/`Mean`/`Max`/`Min` of n inputs: a left-to-right chain of the binary op (one input is
    /// the identity); `Mean` divides the sum by n.
    fn variadic(&mut self, node: &OnnxNode, out_name: &str, op: Op) -> Result<NodeId, ExecError> {
        let names: Vec<&String> = node.inputs.iter().filter(|n| !n.is_empty()).collect();
        if names.is_empty() {
            return Err(Self::err(
                node,
                format!("{} needs at least one input", node.op_type),
            ));
        }
        let mean = node.op_type == "Mean";
        let mut acc = self.value(names[0], &node.name)?;
        for (k, name) in names.iter().enumerate().skip(1) {
            let x = self.value(name, &node.name)?;
            let last = k + 1 == names.len() && !mean;
            let name = if last {
                out_name.to_string()
            } else {
                self.fresh_name(&node.name)
            };
            acc = self.op(node, name, op, vec![acc, x], Attrs::new())?;
        }
        if mean && names.len() > 1 {
            let dtype = self.graph.nodes[acc].dtype;
            let n = self.typed_scalar(node, names.len() as f64, dtype)?;
            return self.op(node, out_name.into(), Op::Div, vec![acc, n], Attrs::new());
        }
        if names.len() == 1 {
            return self.op(node, out_name.into(), Op::Identity, vec![acc], Attrs::new());
        }
        Ok(acc)
    }

    /// A scalar constant of the float dtype `dtype` (so an f64 graph stays f64).
    fn typed_scalar(
        &mut self,
        node: &OnnxNode,
        v: f64,
        dtype: IrDType,
    ) -> Result<NodeId, ExecError> {
        let name = self.fresh_name(&node.name);
        let attrs = Attrs::new().with("value", AttrValue::Float(v)).with(
            "dtype",
            AttrValue::Str(if dtype == IrDType::F64 { "f64" } else { "f32" }.into()),
        );
        self.op(node, name, Op::Constant, vec![], attrs)
    }

    /// An op whose ONNX attributes are its tl float attributes by name; any other attribute is
    /// refused rather than ignored.
    fn float_attr_op(
        &mut self,
        node: &OnnxNode,
        out_name: &str,
        row: &'static tl_ir::OpInfo,
    ) -> Result<NodeId, ExecError> {
        let mut attrs = Attrs::new();
        for (name, value) in &node.attributes {
            match (row.attr(name), value) {
                (Some(spec), Attribute::Float(v)) => {
                    attrs = attrs.with(spec.name, AttrValue::Float(f64::from(*v)))
                }
                _ => {
                    return Err(Self::err(
                        node,
                        format!("{} attribute {name:?} is not supported", node.op_type),
                    ))
                }
            }
        }
        let parents = (0..row.inputs.len())
            .map(|i| match node.inputs.get(i) {
                Some(n) if !n.is_empty() => self.value(n, &node.name),
                _ => Err(Self::err(node, format!("input {i} is missing"))),
            })
            .collect::<Result<Vec<_>, _>>()?;
        self.op(node, out_name.into(), row.op, parents, attrs)
    }

    /// Pad: pads, mode and value as attributes before opset 11; from 11 pads and the constant
    /// value are inputs (known at import), and from 18 an `axes` input picks the padded axes.
    /// `Expand(x, shape)`: numpy broadcasting of `x` and `shape`, as `x * ones(shape)` (exact for
    /// every float value). The shape must fold to constants; `x` must be a float tensor.
    fn expand(&mut self, node: &OnnxNode, out_name: &str) -> Result<NodeId, ExecError> {
        let x = self.value(node.inputs.first().map_or("", String::as_str), &node.name)?;
        let shape_name = node
            .inputs
            .get(1)
            .filter(|n| !n.is_empty())
            .ok_or_else(|| Self::err(node, "Expand needs a shape input"))?
            .clone();
        let shape = self.constant_ints(node, &shape_name)?;
        if shape.iter().any(|&d| d < 0) {
            return Err(Self::err(
                node,
                format!("Expand shape {shape:?} has a negative extent"),
            ));
        }
        let dtype = self.graph.nodes[x].dtype;
        if !dtype.is_float() {
            return Err(Self::err(
                node,
                format!("Expand of a {dtype} tensor that is not folded at import is not supported"),
            ));
        }
        let n: usize = shape.iter().map(|&d| d as usize).product();
        if n > 1 << 24 {
            return Err(Self::err(
                node,
                format!("Expand to {shape:?} is too large to lower"),
            ));
        }
        let ones = self.fresh_name(&node.name);
        let attrs = Attrs::new()
            .with(
                "value",
                AttrValue::Tensor {
                    shape: shape.iter().map(|&d| d as u64).collect(),
                    data: vec![1.0; n],
                },
            )
            .with(
                "dtype",
                AttrValue::Str(if dtype == IrDType::F64 { "f64" } else { "f32" }.into()),
            );
        let ones = self.op(node, ones, Op::Constant, vec![], attrs)?;
        self.op(node, out_name.into(), Op::Mul, vec![x, ones], Attrs::new())
    }

    /// `Tile(x, repeats)`: along each axis with `repeats[a] > 1`, a concat of that many copies.
    fn tile(&mut self, node: &OnnxNode, out_name: &str) -> Result<NodeId, ExecError> {
        let x = self.value(node.inputs.first().map_or("", String::as_str), &node.name)?;
        let name = node
            .inputs
            .get(1)
            .filter(|n| !n.is_empty())
            .ok_or_else(|| Self::err(node, "Tile needs a repeats input"))?
            .clone();
        let repeats = self.constant_ints(node, &name)?;
        let rank = self.rank(x);
        if repeats.len() != rank || repeats.iter().any(|&r| r < 0) {
            return Err(Self::err(
                node,
                format!("Tile repeats {repeats:?} must be {rank} extents >= 0"),
            ));
        }
        if repeats.iter().any(|&r| r == 0) {
            return Err(Self::err(
                node,
                "Tile with a zero repeat (an empty tensor) is not supported",
            ));
        }
        if repeats.iter().product::<i64>() > 1 << 16 {
            return Err(Self::err(
                node,
                format!("Tile repeats {repeats:?} are too many to lower"),
            ));
        }
        let last = repeats.iter().rposition(|&r| r > 1);
        let mut acc = x;
        for (axis, &r) in repeats.iter().enumerate() {
            if r <= 1 {
                continue;
            }
            let name = if Some(axis) == last {
                out_name.to_string()
            } else {
                self.fresh_name(&node.name)
            };
            acc = self.op(
                node,
                name,
                Op::Concat,
                vec![acc; r as usize],
                Attrs::new().with("axis", AttrValue::Int(axis as i64)),
            )?;
        }
        if last.is_none() {
            return self.op(node, out_name.into(), Op::Identity, vec![acc], Attrs::new());
        }
        Ok(acc)
    }

    fn pad(&mut self, node: &OnnxNode, out_name: &str) -> Result<NodeId, ExecError> {
        let x = self.value(node.inputs.first().map_or("", String::as_str), &node.name)?;
        let rank = self.rank(x);
        let input = |i: usize| node.inputs.get(i).filter(|n| !n.is_empty()).cloned();
        let mode = match node.attributes.get("mode") {
            Some(Attribute::String(m)) => m.clone(),
            _ => "constant".into(),
        };
        if !matches!(mode.as_str(), "constant" | "reflect" | "edge") {
            return Err(Self::err(
                node,
                format!("Pad mode {mode:?} is not supported (constant, reflect, edge)"),
            ));
        }
        let (pads, value) = if self.model.opset < 11 {
            let pads = match node.attributes.get("pads") {
                Some(Attribute::Ints(v)) => v.clone(),
                _ => return Err(Self::err(node, "Pad needs pads")),
            };
            let value = match node.attributes.get("value") {
                Some(Attribute::Float(v)) => f64::from(*v),
                _ => 0.0,
            };
            (pads, value)
        } else {
            let pads_name = input(1).ok_or_else(|| Self::err(node, "Pad needs a pads input"))?;
            let pads = self.constant_ints(node, &pads_name)?;
            let value = match input(2) {
                Some(v) => {
                    let t = self.constant(&v).ok_or_else(|| {
                        Self::err(node, format!("Pad constant_value {v:?} must be a constant"))
                    })?;
                    if t.shape().iter().product::<usize>() != 1 {
                        return Err(Self::err(node, "Pad constant_value must be a scalar"));
                    }
                    t.to_f64().iter().next().copied().unwrap_or(0.0)
                }
                None => 0.0,
            };
            let pads = match input(3) {
                None => pads,
                Some(a) => {
                    let axes = self.constant_ints(node, &a)?;
                    if pads.len() != 2 * axes.len() {
                        return Err(Self::err(
                            node,
                            format!("Pad has {} pads for {} axes", pads.len(), axes.len()),
                        ));
                    }
                    let mut full = vec![0; 2 * rank];
                    for (k, &a) in axes.iter().enumerate() {
                        let norm = if a < 0 { a + rank as i64 } else { a };
                        if !(0..rank as i64).contains(&norm) {
                            return Err(Self::err(
                                node,
                                format!("Pad axis {a} is out of range for rank {rank}"),
                            ));
                        }
                        full[norm as usize] = pads[k];
                        full[rank + norm as usize] = pads[axes.len() + k];
                    }
                    full
                }
            };
            (pads, value)
        };
        if pads.len() != 2 * rank {
            return Err(Self::err(
                node,
                format!("Pad has {} pads for an input of rank {rank}", pads.len()),
            ));
        }
        if let Some(p) = pads.iter().find(|&&p| p < 0) {
            return Err(Self::err(
                node,
                format!("negative pads (cropping) are not supported: pads {pads:?} has {p}"),
            ));
        }
        let attrs = Attrs::new()
            .with("pads", AttrValue::Ints(pads))
            .with("mode", AttrValue::Str(mode))
            .with("value", AttrValue::Float(value));
        self.op(node, out_name.into(), Op::Pad, vec![x], attrs)
    }

    /// Resize (opsets 10-21) and Upsample (7-9) in nearest and linear modes, to extents known at
    /// import: `sizes`, or `scales` whose products with the input's extents are whole.
    fn resize(&mut self, node: &OnnxNode, out_name: &str) -> Result<NodeId, ExecError> {
        let x = self.value(node.inputs.first().map_or("", String::as_str), &node.name)?;
        let rank = self.rank(x);
        let opset = self.model.opset;
        let input = |i: usize| node.inputs.get(i).filter(|n| !n.is_empty()).cloned();
        let text = |name: &str, default: &str| match node.attributes.get(name) {
            Some(Attribute::String(v)) => v.clone(),
            _ => default.to_string(),
        };
        let int = |name: &str| match node.attributes.get(name) {
            Some(Attribute::Int(v)) => *v,
            _ => 0,
        };
        let mode = text("mode", "nearest");
        let mode = match mode.as_str() {
            "nearest" => "nearest",
            "linear" | "bilinear" => "linear",
            other => {
                return Err(Self::err(
                    node,
                    format!(
                        "{} mode {other:?} is not supported (nearest, linear)",
                        node.op_type
                    ),
                ))
            }
        };
        // Upsample and Resize-10 map output to input coordinates as x / scale, rounding down.
        let legacy = node.op_type == "Upsample" || opset < 11;
        let coordinates = if legacy {
            "asymmetric".to_string()
        } else {
            text("coordinate_transformation_mode", "half_pixel")
        };
        if !matches!(
            coordinates.as_str(),
            "half_pixel" | "pytorch_half_pixel" | "asymmetric" | "align_corners"
        ) {
            return Err(Self::err(
                node,
                format!("coordinate_transformation_mode {coordinates:?} is not supported"),
            ));
        }
        let nearest = if legacy {
            "floor".to_string()
        } else {
            text("nearest_mode", "round_prefer_floor")
        };
        if int("exclude_outside") != 0 || int("antialias") != 0 {
            return Err(Self::err(
                node,
                "exclude_outside and antialias are not supported",
            ));
        }
        if !matches!(
            text("keep_aspect_ratio_policy", "stretch").as_str(),
            "stretch"
        ) {
            return Err(Self::err(
                node,
                "keep_aspect_ratio_policy other than stretch is not supported",
            ));
        }
        if node.attributes.contains_key("axes") {
            return Err(Self::err(node, "the axes attribute is not supported"));
        }
        let dims: Vec<u64> = self.graph.nodes[x]
            .shape
            .as_known()
            .ok_or_else(|| Self::err(node, "resize needs an input of known extents"))?;
        let (scales_at, sizes_at) = match (node.op_type.as_str(), opset) {
            ("Upsample", o) if o < 9 => (None, None),
            ("Upsample", _) | (_, 10) => (Some(1), None),
            _ => (Some(2), Some(3)),
        };
        let sizes = match sizes_at.and_then(input) {
            Some(n) => Some(self.constant_ints(node, &n)?),
            None => None,
        };
        let shape: Vec<i64> = if let Some(sizes) = sizes {
            sizes
        } else {
            let scales: Vec<f64> = match scales_at.and_then(input) {
                Some(n) => {
                    let t = self.constant(&n).ok_or_else(|| ExecError::OnnxShape {
                        node: node.name.clone(),
                        detail: format!(
                            "scales {n:?} is computed from tensor data (not a constant)"
                        ),
                    })?;
                    t.to_f64().iter().copied().collect()
                }
                None => match node.attributes.get("scales") {
                    Some(Attribute::Floats(v)) => v.iter().map(|&f| f64::from(f)).collect(),
                    _ => return Err(Self::err(node, "resize needs scales or sizes")),
                },
            };
            if scales.len() != rank {
                return Err(Self::err(
                    node,
                    format!("{} scales for an input of rank {rank}", scales.len()),
                ));
            }
            let mut shape = Vec::with_capacity(rank);
            for (&d, &sc) in dims.iter().zip(&scales) {
                let out = d as f64 * sc;
                // tl maps coordinates with out / in; that is the given scale only when out is whole.
                if !(sc > 0.0) || (out - out.round()).abs() > 1e-4 {
                    return Err(Self::err(
                        node,
                        format!("scale {sc} of an axis of extent {d} does not give a whole extent"),
                    ));
                }
                shape.push(out.round() as i64);
            }
            shape
        };
        let attrs = Attrs::new()
            .with("shape", AttrValue::Ints(shape))
            .with("mode", AttrValue::Str(mode.into()))
            .with(
                "coordinate_transformation_mode",
                AttrValue::Str(coordinates),
            )
            .with("nearest_mode", AttrValue::Str(nearest));
        self.op(node, out_name.into(), Op::Resize, vec![x], attrs)
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
            (_, _, _, _, _)
                if node.attributes.contains_key("sparse_value")
                    || node.attributes.contains_key("value_string")
                    || node.attributes.contains_key("value_strings") =>
            {
                return Err(Self::err(
                    node,
                    "sparse and string constants are not supported",
                ))
            }
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
                // The constant keeps its element type: an f64 model's constants stay f64.
                AttrValue::Str(
                    if integer {
                        "i64"
                    } else if tensor.dtype() == DType::F64 {
                        "f64"
                    } else {
                        "f32"
                    }
                    .into(),
                ),
            );
        self.op(node, out_name.into(), Op::Constant, vec![], attrs)
    }

    /// Split: one slice per output along `axis` (sizes from the `split` input or attribute, else
    /// equal parts, as `num_outputs` at opset 18 says).
    fn split(&mut self, node: &OnnxNode) -> Result<(), ExecError> {
        let x_name = node.inputs.first().cloned().unwrap_or_default();
        let x = self.value(&x_name, &node.name)?;
        let rank = self.rank(x) as i64;
        let axis = match node.attributes.get("axis") {
            Some(Attribute::Int(v)) => *v,
            _ => 0,
        };
        let norm = if axis < 0 { axis + rank } else { axis };
        if !(0..rank).contains(&norm) {
            return Err(Self::err(
                node,
                format!("Split axis {axis} is out of range for rank {rank}"),
            ));
        }
        let extent = self.graph.nodes[x].shape.0[norm as usize]
            .known()
            .ok_or_else(|| {
                Self::err(
                    node,
                    "Split along an axis of symbolic extent is not supported",
                )
            })? as i64;
        let n = node.outputs.len() as i64;
        let sizes = match (
            node.inputs.get(1).filter(|s| !s.is_empty()),
            node.attributes.get("split"),
        ) {
            (Some(s), _) => self.constant_ints(node, s)?,
            (None, Some(Attribute::Ints(v))) => v.clone(),
            _ => {
                // Equal parts; at opset 18 the last may be smaller.
                let part = (extent + n - 1) / n.max(1);
                (0..n).map(|i| part.min(extent - i * part).max(0)).collect()
            }
        };
        if sizes.len() as i64 != n
            || sizes.iter().any(|&v| v < 0)
            || sizes.iter().sum::<i64>() != extent
        {
            return Err(Self::err(
                node,
                format!("split sizes {sizes:?} do not cover the extent {extent} with {n} outputs"),
            ));
        }
        let mut start = 0;
        for (out, size) in node.outputs.iter().zip(sizes) {
            if !out.is_empty() {
                let attrs = Attrs::new()
                    .with("axis", AttrValue::Int(norm))
                    .with("start", AttrValue::Int(start))
                    .with("end", AttrValue::Int(start + size))
                    .with("step", AttrValue::Int(1));
                let id = self.op(node, out.clone(), Op::Slice, vec![x], attrs)?;
                self.values.insert(out.clone(), id);
            }
            start += size;
        }
        Ok(())
    }

    /// Whether none of `names` is read by a node or is a graph output.
    fn outputs_unused(&self, names: &[String]) -> bool {
        names.iter().filter(|n| !n.is_empty()).all(|n| {
            !self.model.nodes.iter().any(|m| m.inputs.contains(n))
                && !self.model.outputs.iter().any(|o| &o.name == n)
        })
    }

    /// Softmax or LogSoftmax before opset 13 with `axis` not the last: ONNX coerces the input to
    /// 2-D `[prod(shape[..axis]), prod(shape[axis..])]` and normalises each row.
    fn coerced_softmax(
        &mut self,
        node: &OnnxNode,
        out_name: &str,
        op: Op,
        x: NodeId,
        axis: i64,
    ) -> Result<(), ExecError> {
        let dims = self.graph.nodes[x].shape.0.clone();
        let axis = axis.clamp(0, dims.len() as i64) as usize;
        let tail: Option<u64> = dims[axis..].iter().map(Dim::known).product();
        let tail = tail.ok_or_else(|| {
            Self::err(
                node,
                "softmax before opset 13 needs known extents from axis on",
            )
        })?;
        let unknown = dims.iter().filter(|d| d.known().is_none()).count();
        if unknown > 1 {
            return Err(Self::err(
                node,
                "softmax before opset 13 with more than one symbolic extent is not supported",
            ));
        }
        let back: Vec<i64> = dims
            .iter()
            .map(|d| d.known().map_or(-1, |v| v as i64))
            .collect();
        let name = self.fresh_name(&node.name);
        let flat = self.op(
            node,
            name,
            Op::Reshape,
            vec![x],
            Attrs::new().with("shape", AttrValue::Ints(vec![-1, tail as i64])),
        )?;
        let name = self.fresh_name(&node.name);
        let sm = self.op(
            node,
            name,
            op,
            vec![flat],
            Attrs::new().with("axis", AttrValue::Int(-1)),
        )?;
        let id = self.op(
            node,
            out_name.into(),
            Op::Reshape,
            vec![sm],
            Attrs::new().with("shape", AttrValue::Ints(back)),
        )?;
        self.values.insert(out_name.into(), id);
        Ok(())
    }

    /// The extents of value `name` as folded integers (known or symbolic).
    fn extents(&mut self, node: &OnnxNode, name: &str) -> Result<Vec<SymInt>, ExecError> {
        if let Some(f) = self.folded.get(name) {
            return Ok(f.shape.iter().map(|&d| SymInt::Known(d as i64)).collect());
        }
        let id = self.value(name, &node.name)?;
        Ok(self.graph.nodes[id]
            .shape
            .0
            .iter()
            .map(|d| match d {
                Dim::Known(v) => SymInt::Known(*v as i64),
                Dim::Sym(s) => SymInt::Sym(s.clone()),
            })
            .collect())
    }

    /// Evaluates a shape computation at import when its inputs are known (see [`super::fold`]);
    /// `None` leaves the node to the ordinary mapping.
    fn fold(&mut self, node: &OnnxNode) -> Result<Option<Folded>, ExecError> {
        let op = node.op_type.as_str();
        let name = |i: usize| {
            node.inputs
                .get(i)
                .filter(|n| !n.is_empty())
                .map(String::as_str)
        };
        let int = |a: &str, d: i64| match node.attributes.get(a) {
            Some(Attribute::Int(v)) => *v,
            _ => d,
        };
        let shape_err = |detail: String| ExecError::OnnxShape {
            node: node.name.clone(),
            detail,
        };
        match op {
            "Shape" => {
                let x = name(0).ok_or_else(|| Self::err(node, "Shape needs an input"))?;
                let dims = self.extents(node, x)?;
                let r = dims.len() as i64;
                let clampi = |v: i64| (if v < 0 { v + r } else { v }).clamp(0, r) as usize;
                let (s, e) = (clampi(int("start", 0)), clampi(int("end", r)));
                return Ok(Some(Folded::vector(dims[s..e.max(s)].to_vec())));
            }
            "Size" => {
                let x = name(0).ok_or_else(|| Self::err(node, "Size needs an input"))?;
                let dims = self.extents(node, x)?;
                let f = dims.iter().try_fold(Folded::known(vec![], [1]), |acc, d| {
                    fold::arith("Mul", &acc, &Folded::vector(vec![d.clone()]))
                });
                let mut f = f.map_err(shape_err)?;
                f.shape = vec![];
                return Ok(Some(f));
            }
            _ => {}
        }
        // The rest fold only when every given input is known.
        let foldable = matches!(
            op,
            "Gather"
                | "Unsqueeze"
                | "Squeeze"
                | "Concat"
                | "Reshape"
                | "Identity"
                | "Cast"
                | "Add"
                | "Sub"
                | "Mul"
                | "Div"
                | "Slice"
                | "Range"
                | "ConstantOfShape"
                | "Expand"
                | "Tile"
                | "Where"
                | "Trilu"
        ) || FOLD_ONLY_OPS.contains(&op);
        if !foldable {
            return Ok(None);
        }
        let mut args = Vec::new();
        for n in node.inputs.iter().filter(|n| !n.is_empty()) {
            match self.folded_value(n) {
                Some(f) => args.push(f),
                None => return Ok(None),
            }
        }
        // A node with fewer inputs than its op reads is an error, not an index past the end
        // (found by fuzzing: a Gather with one input).
        let needs = match op {
            "Add" | "Sub" | "Mul" | "Div" | "Gather" | "Reshape" | "Expand" | "Tile" => 2,
            "Equal" | "Less" | "Greater" | "LessOrEqual" | "GreaterOrEqual" | "And" | "Or"
            | "Xor" => 2,
            "Range" | "Where" => 3,
            "Concat" => 0,
            _ => 1,
        };
        if args.len() < needs {
            return Err(shape_err(format!(
                "{op} has {} input(s), it needs {needs}",
                args.len()
            )));
        }
        // Only fold values that came from shapes: constant-only integer graphs (an int
        // initializer through Identity) fold too, which is exact.
        let ints = |f: &Folded| {
            f.ints().ok_or_else(|| {
                shape_err(format!(
                    "{} needs known extents here, got {}",
                    op,
                    f.describe()
                ))
            })
        };
        let attr_ints = |a: &str| match node.attributes.get(a) {
            Some(Attribute::Ints(v)) => Some(v.clone()),
            _ => None,
        };
        let out = match op {
            "Identity" => args[0].clone(),
            "Cast" => {
                let to = super::dtype_of_onnx(int("to", 0) as i32);
                match to {
                    Some(DType::Bool) => {
                        fold::elementwise(&[&args[0]], |v| Ok(i64::from(v[0] != 0)))
                            .map_err(shape_err)?
                            .unwrap_or_else(|| args[0].clone())
                    }
                    Some(d @ (DType::F32 | DType::F64)) => {
                        // A known integer tensor cast to float (a mask made float): a float
                        // constant, exact below 2^24.
                        let Some(v) = args[0]
                            .ints()
                            .filter(|v| v.iter().all(|x| x.abs() < 1 << 24))
                        else {
                            return Ok(None);
                        };
                        let attrs = Attrs::new()
                            .with(
                                "value",
                                AttrValue::Tensor {
                                    shape: args[0].shape.iter().map(|&d| d as u64).collect(),
                                    data: v.iter().map(|&x| x as f64).collect(),
                                },
                            )
                            .with(
                                "dtype",
                                AttrValue::Str(if d == DType::F64 { "f64" } else { "f32" }.into()),
                            );
                        let out = node.outputs[0].clone();
                        let id = self.op(node, out.clone(), Op::Constant, vec![], attrs)?;
                        self.values.insert(out, id);
                        return Ok(None);
                    }
                    Some(d) if !d.is_float() => args[0].clone(),
                    _ => return Ok(None),
                }
            }
            "Equal" | "Less" | "Greater" | "LessOrEqual" | "GreaterOrEqual" | "And" | "Or"
            | "Xor" | "Not" | "Where" => {
                let f = |v: &[i64]| -> Result<i64, String> {
                    Ok(match op {
                        "Equal" => i64::from(v[0] == v[1]),
                        "Less" => i64::from(v[0] < v[1]),
                        "Greater" => i64::from(v[0] > v[1]),
                        "LessOrEqual" => i64::from(v[0] <= v[1]),
                        "GreaterOrEqual" => i64::from(v[0] >= v[1]),
                        "And" => i64::from(v[0] != 0 && v[1] != 0),
                        "Or" => i64::from(v[0] != 0 || v[1] != 0),
                        "Xor" => i64::from((v[0] != 0) != (v[1] != 0)),
                        "Not" => i64::from(v[0] == 0),
                        _ => {
                            if v[0] != 0 {
                                v[1]
                            } else {
                                v[2]
                            }
                        }
                    })
                };
                let refs: Vec<&Folded> = args.iter().collect();
                match fold::elementwise(&refs, f).map_err(shape_err)? {
                    Some(out) => out,
                    None => return Ok(None),
                }
            }
            "Trilu" => {
                let k = match args.get(1) {
                    Some(k) => ints(k)?.first().copied().unwrap_or(0),
                    None => 0,
                };
                match fold::trilu(&args[0], int("upper", 1) != 0, k).map_err(shape_err)? {
                    Some(out) => out,
                    None => return Ok(None),
                }
            }
            "Add" | "Sub" | "Mul" | "Div" => {
                fold::arith(op, &args[0], &args[1]).map_err(shape_err)?
            }
            "Expand" => fold::expand(&args[0], &ints(&args[1])?).map_err(shape_err)?,
            "Tile" => fold::tile(&args[0], &ints(&args[1])?).map_err(shape_err)?,
            "Gather" => {
                let (data, idx) = (&args[0], ints(&args[1])?);
                if data.shape.len() != 1 || int("axis", 0) != 0 {
                    return Ok(None);
                }
                let n = data.data.len() as i64;
                let mut out = Vec::new();
                for i in idx {
                    let j = if i < 0 { i + n } else { i };
                    if !(0..n).contains(&j) {
                        return Err(shape_err(format!(
                            "Gather index {i} is out of range for {}",
                            data.describe()
                        )));
                    }
                    out.push(data.data[j as usize].clone());
                }
                Folded {
                    shape: args[1].shape.clone(),
                    data: out,
                }
            }
            "Unsqueeze" | "Squeeze" => {
                let axes = if self.model.opset >= 13 {
                    args.get(1).map(ints).transpose()?
                } else {
                    attr_ints("axes")
                };
                let mut shape = args[0].shape.clone();
                if op == "Unsqueeze" {
                    let axes = axes.ok_or_else(|| Self::err(node, "Unsqueeze needs axes"))?;
                    let r = (shape.len() + axes.len()) as i64;
                    let mut norm: Vec<usize> = axes
                        .iter()
                        .map(|&a| (if a < 0 { a + r } else { a }) as usize)
                        .collect();
                    norm.sort_unstable();
                    for a in norm {
                        if a > shape.len() {
                            return Err(Self::err(
                                node,
                                format!("Unsqueeze axis {a} is out of range"),
                            ));
                        }
                        shape.insert(a, 1);
                    }
                } else {
                    let r = shape.len() as i64;
                    match axes {
                        Some(axes) => {
                            let mut norm: Vec<usize> = axes
                                .iter()
                                .map(|&a| (if a < 0 { a + r } else { a }) as usize)
                                .collect();
                            norm.sort_unstable();
                            for a in norm.into_iter().rev() {
                                if shape.get(a) != Some(&1) {
                                    return Err(Self::err(
                                        node,
                                        format!("Squeeze axis {a} does not have extent 1"),
                                    ));
                                }
                                shape.remove(a);
                            }
                        }
                        None => shape.retain(|&d| d != 1),
                    }
                }
                Folded {
                    shape,
                    data: args[0].data.clone(),
                }
            }
            "Concat" => {
                if args.iter().any(|a| a.shape.len() != 1) {
                    return Ok(None);
                }
                Folded::vector(args.iter().flat_map(|a| a.data.iter().cloned()).collect())
            }
            "Reshape" => {
                let target = ints(&args[1])?;
                let n = args[0].data.len();
                let mut shape: Vec<usize> = Vec::new();
                let mut infer = None;
                for (i, &t) in target.iter().enumerate() {
                    match t {
                        -1 => {
                            infer = Some(i);
                            shape.push(1)
                        }
                        0 => shape.push(*args[0].shape.get(i).unwrap_or(&1)),
                        t if t > 0 => shape.push(t as usize),
                        _ => return Err(Self::err(node, format!("Reshape extent {t} is invalid"))),
                    }
                }
                let known: usize = shape.iter().product();
                if let Some(i) = infer {
                    shape[i] = if known == 0 { 0 } else { n / known };
                }
                if shape.iter().product::<usize>() != n {
                    return Err(Self::err(
                        node,
                        format!("Reshape of {n} values to {target:?}"),
                    ));
                }
                Folded {
                    shape,
                    data: args[0].data.clone(),
                }
            }
            "Slice" => {
                if args[0].shape.len() != 1 || args.len() < 3 {
                    return Ok(None);
                }
                let (st, en) = (ints(&args[1])?, ints(&args[2])?);
                let steps = args.get(4).map(ints).transpose()?.unwrap_or(vec![1]);
                if st.len() != 1 || en.len() != 1 || steps != [1] {
                    return Ok(None);
                }
                let n = args[0].data.len() as i64;
                let c = |v: i64| (if v < 0 { v + n } else { v }).clamp(0, n) as usize;
                let (a, b) = (c(st[0]), c(en[0]));
                Folded::vector(args[0].data[a..b.max(a)].to_vec())
            }
            "Range" => {
                let v: Vec<i64> = args
                    .iter()
                    .map(|a| ints(a).map(|v| v.first().copied().unwrap_or(0)))
                    .collect::<Result<_, _>>()?;
                let (start, limit, delta) = (v[0], v[1], v[2]);
                if delta == 0 {
                    return Err(Self::err(node, "Range delta is 0"));
                }
                let count = ((limit as f64 - start as f64) / delta as f64)
                    .ceil()
                    .max(0.0) as i64;
                if count > 1 << 24 {
                    return Err(Self::err(
                        node,
                        format!("Range of {count} values is too long to fold"),
                    ));
                }
                Folded::known(vec![count as usize], (0..count).map(|i| start + i * delta))
            }
            "ConstantOfShape" => {
                let shape: Vec<usize> =
                    ints(&args[0])?.iter().map(|&d| d.max(0) as usize).collect();
                let (is_int, v) = match node.attributes.get("value") {
                    Some(Attribute::Tensor(t)) => (
                        t.dtype() == DType::I64,
                        t.to_f64().iter().next().copied().unwrap_or(0.0),
                    ),
                    _ => (false, 0.0),
                };
                let n: usize = shape.iter().product();
                if !is_int {
                    // A float fill is tensor data: a constant node.
                    if n > 1 << 24 {
                        return Err(Self::err(node, "ConstantOfShape output is too large"));
                    }
                    let dtype = match node.attributes.get("value") {
                        Some(Attribute::Tensor(t)) if t.dtype() == DType::F64 => "f64",
                        _ => "f32",
                    };
                    let attrs = Attrs::new()
                        .with(
                            "value",
                            AttrValue::Tensor {
                                shape: shape.iter().map(|&d| d as u64).collect(),
                                data: vec![v; n],
                            },
                        )
                        .with("dtype", AttrValue::Str(dtype.into()));
                    let out = node.outputs[0].clone();
                    let id = self.op(node, out.clone(), Op::Constant, vec![], attrs)?;
                    self.values.insert(out, id);
                    // Handled: the caller sees the value and maps nothing more.
                    return Ok(None);
                }
                Folded::known(shape, std::iter::repeat(v as i64).take(n))
            }
            _ => return Ok(None),
        };
        Ok(Some(out))
    }
}
