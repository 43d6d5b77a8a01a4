//! ONNX models as graphs of a spec: `import onnx "net.onnx" as net` makes `net` a graph.
//!
//! [`onnx_graph`] imports the model's header (read by the loader, `vfs::load_external`: the graph
//! and every initializer's type, small constants only) in a query over the file's input, so an
//! edited model re-runs exactly the queries that read it. Its signature (inputs and outputs with
//! their shapes) lets contracts `on net` resolve names. Running the model (`tlc run --graph net`,
//! verify) loads its data with [`load_onnx`], outside the queries. A broken model or one using ops tl does not
//! import is reported on the import line with the loader's code (TL03xx, TL0520 listing each
//! unsupported op with its node, TL0521).

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use tl_ir::{Attrs, Graph, NodeKind, Op, Shape};
use tl_kernels::Tensor;
use tl_syntax::ast::{GraphKind, Item};
use tl_syntax::TextRange;

use crate::db::{Db, ExternalFile};
use crate::diagnostics::{parse_code, Diagnostic, Span};
use crate::graphs::{Port, Signature, TensorType};
use crate::items::{parse_item, ItemSource};
use crate::scope::{import_target, ImportTarget};
use crate::vfs::ExternalContent;

/// An imported ONNX model: the tl-ir graph, its params (initializers, some re-laid out by the
/// importer) and where it came from.
#[derive(Clone, Debug, PartialEq)]
pub struct OnnxGraph {
    pub graph: Graph,
    pub payload: BTreeMap<String, Tensor>,
    /// The model's initializers as stored in the file (the payload of a written spec).
    pub initializers: BTreeMap<String, Tensor>,
    pub opset: i64,
    pub producer: String,
}

/// Why a model cannot be used: the loader's or importer's code and message; for TL0520, every
/// unsupported (op type, node name).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct OnnxModelError {
    pub code: u16,
    pub message: String,
    pub unsupported: Vec<(String, String)>,
}

impl std::fmt::Display for OnnxModelError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "TL{:04}: {}", self.code, self.message)
    }
}

/// Loads and imports a model file with its data (no database; for running it, and for the
/// CLI's `tlc import onnx`).
pub fn load_onnx(path: &Path) -> Result<OnnxGraph, OnnxModelError> {
    let model = tl_kernels::onnx::load(path).map_err(|e| OnnxModelError {
        code: parse_code(e.code()).unwrap_or(301),
        message: e.to_string(),
        unsupported: Vec::new(),
    })?;
    import_model(&model)
}

/// Imports a loaded model, full or header-only (a header's graph has params without data).
fn import_model(model: &tl_kernels::onnx::OnnxModel) -> Result<OnnxGraph, OnnxModelError> {
    let imported = tl_kernels::onnx::import(model).map_err(|e| OnnxModelError {
        code: parse_code(e.code()).unwrap_or(521),
        message: e.to_string(),
        unsupported: match &e {
            tl_kernels::ExecError::UnsupportedOnnxOps { ops } => ops.clone(),
            _ => Vec::new(),
        },
    })?;
    Ok(OnnxGraph {
        graph: imported.graph,
        payload: imported.payload,
        initializers: model.initializers.clone(),
        opset: model.opset,
        producer: model.producer.clone(),
    })
}

/// The imported graph of a model file's header: the graph and its params' types, with the data
/// of small initializers only (see the module docs).
#[salsa::tracked(returns(ref))]
pub fn onnx_graph(db: &dyn Db, file: ExternalFile) -> Result<Arc<OnnxGraph>, OnnxModelError> {
    let error = |code: u16, message: String| OnnxModelError {
        code,
        message,
        unsupported: Vec::new(),
    };
    match file.content(db) {
        ExternalContent::Onnx(Ok(model)) => import_model(model).map(Arc::new),
        ExternalContent::Onnx(Err((code, message))) => Err(error(*code, message.clone())),
        ExternalContent::NotLoaded => Err(error(
            301,
            format!("{}: file not loaded yet", file.path(db).display()),
        )),
        ExternalContent::Missing => Err(error(
            301,
            format!("{}: file not found", file.path(db).display()),
        )),
        ExternalContent::Weights(_) => Err(error(
            310,
            format!("{}: not an ONNX model", file.path(db).display()),
        )),
    }
}

/// The model an `import onnx ... as name` item refers to.
pub fn onnx_file<'db>(db: &'db dyn Db, item: ItemSource<'db>) -> Option<ExternalFile> {
    match import_target(db, item)? {
        ImportTarget::Onnx(file) => Some(file),
        _ => None,
    }
}

/// The signature of an imported model: its runtime inputs and its outputs, with shapes.
#[salsa::tracked(returns(ref))]
pub fn onnx_signature<'db>(db: &'db dyn Db, item: ItemSource<'db>) -> Option<Signature> {
    let model = onnx_graph(db, onnx_file(db, item)?).as_ref().ok()?;
    let g = &model.graph;
    let port = |id: usize, name: &str| Port {
        name: name.to_string(),
        ty: TensorType {
            dtype: Some(g.nodes[id].dtype),
            shape: g.nodes[id].shape.clone(),
        },
        span: TextRange::new(0, 0),
    };
    Some(Signature {
        kind: GraphKind::Graph,
        inputs: g
            .inputs
            .iter()
            .map(|&i| port(i, &g.nodes[i].name))
            .collect(),
        outputs: g.outputs.iter().map(|(n, i)| port(*i, n)).collect(),
        tolerance: None,
    })
}

/// Problems with the model an ONNX import names, on the import's path.
#[salsa::tracked(returns(ref))]
pub fn onnx_import_diagnostics<'db>(
    db: &'db dyn Db,
    item: ItemSource<'db>,
) -> Vec<Diagnostic<'db>> {
    let Item::Import(import) = &parse_item(db, item).item else {
        return Vec::new();
    };
    let Some(file) = onnx_file(db, item) else {
        return Vec::new();
    };
    if !file.content(db).exists() {
        return Vec::new(); // TL0110, reported by the import checks (or not loaded yet)
    }
    match onnx_graph(db, file) {
        Ok(_) => Vec::new(),
        Err(e) => {
            let shown = e
                .message
                .replace(&file.path(db).display().to_string(), &import.path.value);
            let mut d = Diagnostic::error(
                e.code,
                Span::Item(item, import.path.span),
                format!("cannot import ONNX model `{}`: {shown}", import.path.value),
            );
            for (op, node) in &e.unsupported {
                d = d.with_note(format!("unsupported op {op} at node {node}"));
            }
            if !e.unsupported.is_empty() {
                d = d.with_help(
                    "re-export the model without these ops, or see docs/engine.md for the ops tl imports",
                );
            }
            vec![d]
        }
    }
}

/// The imported graph rewritten so every param is an initializer of the file: a weight the
/// importer stored transposed (`B.T`, for Gemm without transB) becomes the stored initializer `B`
/// followed by an explicit `transpose` node. A written spec can then load its params straight
/// from the `.onnx` file.
pub fn with_initializer_params(model: &OnnxGraph) -> Result<Graph, String> {
    let g = &model.graph;
    let mut out = Graph::new(g.name.clone());
    let mut ids = Vec::with_capacity(g.nodes.len());
    let mut params: BTreeMap<String, usize> = BTreeMap::new();
    let mut param = |out: &mut Graph, key: &str, shape: Shape, dtype| {
        *params
            .entry(key.to_string())
            .or_insert_with(|| out.add_param(key, shape, dtype))
    };
    for node in &g.nodes {
        let id = match &node.kind {
            NodeKind::Input => out.add_input(node.name.clone(), node.shape.clone(), node.dtype),
            NodeKind::Param { key } if model.initializers.contains_key(key) => {
                param(&mut out, key, node.shape.clone(), node.dtype)
            }
            NodeKind::Param { key } => {
                let base = key
                    .strip_suffix(".T")
                    .filter(|b| {
                        model
                            .initializers
                            .get(*b)
                            .is_some_and(|t| t.shape().len() == 2)
                    })
                    .ok_or_else(|| format!("param {key} is not an initializer of the model"))?;
                let t = &model.initializers[base];
                let stored = Shape::known(&[t.shape()[0] as u64, t.shape()[1] as u64]);
                let p = param(&mut out, base, stored, node.dtype);
                out.add_op(key.clone(), Op::Transpose, vec![p], Attrs::new())
                    .map_err(|e| e.message)?
            }
            NodeKind::Op { op, attrs } => {
                let parents = node.parents.iter().map(|&p| ids[p]).collect();
                out.add_op(node.name.clone(), *op, parents, attrs.clone())
                    .map_err(|e| e.message)?
            }
        };
        ids.push(id);
    }
    for (name, id) in &g.outputs {
        out.add_output(name.clone(), ids[*id]);
    }
    Ok(out)
}
