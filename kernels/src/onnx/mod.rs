//! ONNX model loading: decodes a ModelProto (code generated from `kernels/proto/onnx.proto`) into
//! plain Rust values: opsets, graph inputs (without the initializers old exporters also list as
//! inputs), outputs, nodes with decoded attributes, and initializers as [`Tensor`]s (typed fields,
//! `raw_data`, or external data files next to the model).

#[allow(clippy::all, missing_docs)]
#[rustfmt::skip]
pub mod proto;
mod export;
mod fold;
mod header;
mod import;
mod tensor;

use crate::dtype::DType;
use crate::error::{PayloadError, PayloadResult};
use crate::payload::io_error;
use crate::tensor::Tensor;
use prost::Message;
use proto::attribute_proto::AttributeType;
use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};

pub use export::{export, export_bytes, ExportError, EXPORT_OPSET};
pub use header::{decode_header, load_header, HEADER_KEEP_BYTES};
pub use import::{
    import, import_with, is_import_only, is_supported, supported_ops, ImportOptions, ImportedModel,
    FOLD_ONLY_OPS, IMPORT_ONLY_OPS, OPSETS,
};
pub use tensor::{dtype_of_onnx, tensor_from_proto, TensorSource};

/// One dim of a declared graph input or output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Dim {
    Fixed(i64),
    /// A symbolic dim such as `batch`.
    Param(String),
    Unknown,
}

/// A graph input or output: name, element type and shape when declared.
#[derive(Debug, Clone, PartialEq)]
pub struct ValueInfo {
    pub name: String,
    pub dtype: Option<DType>,
    pub shape: Option<Vec<Dim>>,
}

/// A decoded node attribute.
#[derive(Debug, Clone, PartialEq)]
pub enum Attribute {
    Float(f32),
    Int(i64),
    String(String),
    Tensor(Tensor),
    Floats(Vec<f32>),
    Ints(Vec<i64>),
    Strings(Vec<String>),
    /// Subgraphs, sparse tensors and type protos: kept as their kind only; no supported op uses
    /// them, so the importer reports the node instead.
    Unsupported(&'static str),
}

/// A node of the graph.
#[derive(Debug, Clone, PartialEq)]
pub struct OnnxNode {
    /// The node's name, or `<op_type>_<index>` when the model leaves it empty.
    pub name: String,
    pub op_type: String,
    /// Empty for the default `ai.onnx` domain.
    pub domain: String,
    /// Input value names; an empty name marks an omitted optional input.
    pub inputs: Vec<String>,
    pub outputs: Vec<String>,
    pub attributes: BTreeMap<String, Attribute>,
}

/// A loaded ONNX model.
#[derive(Debug, Clone, PartialEq)]
pub struct OnnxModel {
    pub path: PathBuf,
    pub ir_version: i64,
    /// Version of the default (`ai.onnx`) operator set.
    pub opset: i64,
    /// Every imported operator set as (domain, version).
    pub opset_imports: Vec<(String, i64)>,
    pub producer: String,
    pub graph_name: String,
    /// Runtime inputs: graph inputs that have no initializer.
    pub inputs: Vec<ValueInfo>,
    pub outputs: Vec<ValueInfo>,
    /// Nodes in file order (ONNX requires topological order).
    pub nodes: Vec<OnnxNode>,
    /// Initializers by name, with their data. A header-only load ([`load_header`]) holds the
    /// small ones only.
    pub initializers: BTreeMap<String, Tensor>,
    /// Every initializer's dtype and shape, whether or not its data was read.
    pub headers: BTreeMap<String, TensorHeader>,
}

/// What a model declares about an initializer without its data.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TensorHeader {
    pub dtype: DType,
    pub shape: Vec<usize>,
}

impl OnnxModel {
    /// Whether every initializer's data was read (a full [`load`], not [`load_header`]).
    pub fn has_all_data(&self) -> bool {
        self.headers.len() == self.initializers.len()
    }
}

/// Reads and decodes an ONNX model file.
pub fn load(path: &Path) -> PayloadResult<OnnxModel> {
    let bytes = std::fs::read(path).map_err(|e| io_error(path, e))?;
    let base = path.parent().unwrap_or(Path::new("."));
    decode_model(path, base, &bytes)
}

/// Decodes model bytes; `label` names the model in errors and `base_dir` is where external data
/// files are looked up.
pub fn decode_model(label: &Path, base_dir: &Path, bytes: &[u8]) -> PayloadResult<OnnxModel> {
    let path = label.display().to_string();
    let model = proto::ModelProto::decode(bytes).map_err(|e| PayloadError::OnnxDecode {
        path: path.clone(),
        detail: e.to_string(),
    })?;
    model_from_proto(label, base_dir, &model)
}

/// A decoded `ModelProto` as plain values (shared by full and header-only loads).
fn model_from_proto(
    label: &Path,
    base_dir: &Path,
    model: &proto::ModelProto,
) -> PayloadResult<OnnxModel> {
    let path = label.display().to_string();
    let graph_err = |detail: &str| PayloadError::OnnxGraph {
        path: path.clone(),
        detail: detail.into(),
    };
    let graph = model
        .graph
        .as_ref()
        .ok_or_else(|| graph_err("the model has no graph"))?;
    let opset_imports: Vec<(String, i64)> = model
        .opset_import
        .iter()
        .map(|o| (o.domain.clone(), o.version))
        .collect();
    let opset = opset_imports
        .iter()
        .find(|(d, _)| d.is_empty() || d == "ai.onnx")
        .map(|&(_, v)| v)
        .ok_or_else(|| graph_err("no opset_import for the default ai.onnx domain"))?;

    let ctx = TensorSource {
        path: &path,
        base_dir,
    };
    let mut initializers = BTreeMap::new();
    for t in &graph.initializer {
        if t.name.is_empty() {
            return Err(graph_err("an initializer has no name"));
        }
        initializers.insert(t.name.clone(), tensor_from_proto(&ctx, t)?);
    }
    let init_names: HashSet<&str> = initializers.keys().map(String::as_str).collect();
    let inputs = graph
        .input
        .iter()
        .filter(|v| !init_names.contains(v.name.as_str()))
        .map(|v| value_info(&path, v))
        .collect::<PayloadResult<Vec<_>>>()?;
    let outputs = graph
        .output
        .iter()
        .map(|v| value_info(&path, v))
        .collect::<PayloadResult<Vec<_>>>()?;
    let nodes = graph
        .node
        .iter()
        .enumerate()
        .map(|(i, n)| node(&ctx, i, n))
        .collect::<PayloadResult<Vec<_>>>()?;
    Ok(OnnxModel {
        path: label.to_path_buf(),
        ir_version: model.ir_version,
        opset,
        opset_imports,
        producer: model.producer_name.clone(),
        graph_name: graph.name.clone(),
        inputs,
        outputs,
        nodes,
        headers: initializers
            .iter()
            .map(|(name, t)| {
                let header = TensorHeader {
                    dtype: t.dtype(),
                    shape: t.shape().to_vec(),
                };
                (name.clone(), header)
            })
            .collect(),
        initializers,
    })
}

fn value_info(path: &str, v: &proto::ValueInfoProto) -> PayloadResult<ValueInfo> {
    if v.name.is_empty() {
        return Err(PayloadError::OnnxGraph {
            path: path.into(),
            detail: "a graph input or output has no name".into(),
        });
    }
    let tensor_type = v.r#type.as_ref().and_then(|t| {
        t.value
            .as_ref()
            .map(|proto::type_proto::Value::TensorType(tt)| tt)
    });
    let dtype = tensor_type.and_then(|t| dtype_of_onnx(t.elem_type));
    let shape = tensor_type.and_then(|t| t.shape.as_ref()).map(|s| {
        s.dim
            .iter()
            .map(|d| match &d.value {
                Some(proto::tensor_shape_proto::dimension::Value::DimValue(v)) => Dim::Fixed(*v),
                Some(proto::tensor_shape_proto::dimension::Value::DimParam(p)) => {
                    Dim::Param(p.clone())
                }
                None => Dim::Unknown,
            })
            .collect()
    });
    Ok(ValueInfo {
        name: v.name.clone(),
        dtype,
        shape,
    })
}

fn node(ctx: &TensorSource, index: usize, n: &proto::NodeProto) -> PayloadResult<OnnxNode> {
    let name = if n.name.is_empty() {
        format!("{}_{index}", n.op_type)
    } else {
        n.name.clone()
    };
    let mut attributes = BTreeMap::new();
    for a in &n.attribute {
        if a.name.is_empty() {
            return Err(PayloadError::OnnxGraph {
                path: ctx.path.into(),
                detail: format!("node {name} has an attribute without a name"),
            });
        }
        attributes.insert(a.name.clone(), attribute(ctx, &name, a)?);
    }
    Ok(OnnxNode {
        name,
        op_type: n.op_type.clone(),
        domain: n.domain.clone(),
        inputs: n.input.clone(),
        outputs: n.output.clone(),
        attributes,
    })
}

fn attribute(
    ctx: &TensorSource,
    node: &str,
    a: &proto::AttributeProto,
) -> PayloadResult<Attribute> {
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    let missing = || PayloadError::OnnxGraph {
        path: ctx.path.into(),
        detail: format!(
            "attribute {} of node {node} has no value of its declared type",
            a.name
        ),
    };
    Ok(
        match AttributeType::try_from(a.r#type).unwrap_or(AttributeType::Undefined) {
            AttributeType::Float => Attribute::Float(a.f),
            AttributeType::Int => Attribute::Int(a.i),
            AttributeType::String => Attribute::String(text(&a.s)),
            AttributeType::Tensor => {
                Attribute::Tensor(tensor_from_proto(ctx, a.t.as_ref().ok_or_else(missing)?)?)
            }
            AttributeType::Floats => Attribute::Floats(a.floats.clone()),
            AttributeType::Ints => Attribute::Ints(a.ints.clone()),
            AttributeType::Strings => {
                Attribute::Strings(a.strings.iter().map(|s| text(s)).collect())
            }
            AttributeType::Tensors => Attribute::Unsupported("tensors"),
            AttributeType::Graph | AttributeType::Graphs => Attribute::Unsupported("graph"),
            AttributeType::SparseTensor | AttributeType::SparseTensors => {
                Attribute::Unsupported("sparse tensor")
            }
            AttributeType::TypeProto | AttributeType::TypeProtos => {
                Attribute::Unsupported("type proto")
            }
            AttributeType::Undefined => return Err(missing()),
        },
    )
}

#[cfg(test)]
mod tests;
