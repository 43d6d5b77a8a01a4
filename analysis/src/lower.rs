//! Lowering an analysed graph to the IR every engine runs, with its payload plan.
//!
//! Block instances are inlined here (and only here): the spec names a block once, the IR has one
//! copy of its nodes per instance, named `instance.node` and with params keyed
//! `instance.param`, exactly as PyTorch's state-dict names them.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use tl_ir::{Dim, Graph, NodeId, Shape};
use tl_kernels::exec::Payload;
use tl_kernels::{PayloadError, PayloadResult, Tensor};

use crate::db::Db;
use crate::graphs::{analyze_graph, graph_signature, NodeOrigin, ParamInit};
use crate::items::ItemSource;
use crate::payload::payload_header;
use crate::scope::relative_path;

/// Where one param's values come from.
#[derive(Clone, Debug, PartialEq)]
pub enum ParamSource {
    /// A weight file; `key` is the tensor name inside it (`None`: the file's only tensor).
    File { path: PathBuf, key: Option<String> },
    /// Literal values written in the spec, row-major; `integer` for a param of an integer dtype
    /// (labels, ids), whose values load as i64.
    Literal {
        shape: Vec<usize>,
        data: Vec<f64>,
        integer: bool,
    },
}

/// A graph ready to run: the IR and, for every param key, its source.
#[derive(Clone, Debug, PartialEq)]
pub struct Lowered {
    pub graph: Graph,
    pub params: BTreeMap<String, ParamSource>,
}

/// Why a graph cannot be lowered (its diagnostics say more; this is for tools that run it).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LowerError(pub String);

impl std::fmt::Display for LowerError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Lowers a graph item (not a block) to IR. Fails when the graph or a block it uses has errors.
#[salsa::tracked(returns(ref))]
pub fn lower_graph<'db>(
    db: &'db dyn Db,
    item: ItemSource<'db>,
) -> Result<Arc<Lowered>, LowerError> {
    let sig = graph_signature(db, item)
        .as_ref()
        .ok_or_else(|| LowerError("not a graph".into()))?;
    let name = item.name(db).clone().unwrap_or_default();
    let mut cx = LowerCx {
        db,
        graph: Graph::new(name.clone()),
        params: BTreeMap::new(),
        sources: Vec::new(),
    };
    let analysis = analyze_graph(db, item)
        .as_ref()
        .ok_or_else(|| LowerError("not a graph".into()))?;
    cx.sources = analysis
        .param_sources
        .iter()
        .map(|(p, _)| relative_path(db, item.file(db), p))
        .collect();
    let outputs = cx.body(item, "", None, &BTreeMap::new(), 0)?;
    for (port, id) in sig.outputs.iter().zip(outputs) {
        cx.graph.add_output(port.name.clone(), id);
    }
    cx.graph
        .validate()
        .map_err(|e| LowerError(format!("{name}: {}", e.message)))?;
    Ok(Arc::new(Lowered {
        graph: cx.graph,
        params: cx.params,
    }))
}

struct LowerCx<'db> {
    db: &'db dyn Db,
    graph: Graph,
    params: BTreeMap<String, ParamSource>,
    /// `params from` files of the graph being lowered (block params are read from them).
    sources: Vec<PathBuf>,
}

impl<'db> LowerCx<'db> {
    /// Lowers one body; `bound` maps the body's inputs to existing nodes (for block instances),
    /// `symbols` binds the body's symbolic extents. Returns the body's output nodes.
    fn body(
        &mut self,
        item: ItemSource<'db>,
        prefix: &str,
        bound: Option<&[NodeId]>,
        symbols: &BTreeMap<String, Dim>,
        depth: usize,
    ) -> Result<Vec<NodeId>, LowerError> {
        let db = self.db;
        let what = item.name(db).clone().unwrap_or_default();
        if depth > 64 {
            return Err(LowerError(format!(
                "{what}: blocks nested more than 64 deep"
            )));
        }
        let a = analyze_graph(db, item)
            .as_ref()
            .ok_or_else(|| LowerError(format!("{what} is not a graph")))?;
        if a.has_errors() {
            return Err(LowerError(format!("{what} has errors; run `tlc check`")));
        }
        let subst = |s: &Shape| {
            Shape(
                s.0.iter()
                    .map(|d| match d {
                        Dim::Sym(name) => symbols.get(name).cloned().unwrap_or_else(|| d.clone()),
                        k => k.clone(),
                    })
                    .collect(),
            )
        };
        let mut ids: Vec<NodeId> = Vec::with_capacity(a.nodes.len());
        let mut input_index = 0;
        for n in &a.nodes {
            let ty =
                n.ty.as_ref()
                    .ok_or_else(|| LowerError(format!("{what}.{}: type unknown", n.name)))?;
            let dtype = ty
                .dtype
                .ok_or_else(|| LowerError(format!("{what}.{}: dtype unknown", n.name)))?;
            let full = format!("{prefix}{}", n.name);
            let id = match &n.origin {
                NodeOrigin::Input => match bound {
                    Some(b) => {
                        let id = b[input_index];
                        input_index += 1;
                        id
                    }
                    None => self.graph.add_input(full, subst(&ty.shape), dtype),
                },
                NodeOrigin::Param { init } => {
                    let shape = subst(&ty.shape);
                    let source = self.param_source(item, &full, init, &shape, dtype)?;
                    self.params.insert(full.clone(), source);
                    self.graph.add_param(full, shape, dtype)
                }
                NodeOrigin::Op(op) => {
                    let parents: Vec<NodeId> = n.args.iter().map(|&i| ids[i]).collect();
                    self.graph
                        .add_op(full, *op, parents, n.attrs.clone())
                        .map_err(|e| LowerError(e.message))?
                }
                NodeOrigin::Block(block) => {
                    let args: Vec<NodeId> = n.args.iter().map(|&i| ids[i]).collect();
                    self.instance(*block, &format!("{full}."), &args, depth)?
                }
                NodeOrigin::Repeat(block, times) => {
                    let mut x: Vec<NodeId> = n.args.iter().map(|&i| ids[i]).collect();
                    for k in 0..*times {
                        let out = self.instance(*block, &format!("{full}.{k}."), &x, depth)?;
                        x = vec![out];
                    }
                    x[0]
                }
            };
            ids.push(id);
        }
        Ok(a.outputs.iter().map(|(_, i)| ids[*i]).collect())
    }

    /// Inlines one block instance and returns its (single) output node.
    fn instance(
        &mut self,
        block: ItemSource<'db>,
        prefix: &str,
        args: &[NodeId],
        depth: usize,
    ) -> Result<NodeId, LowerError> {
        let sig = graph_signature(self.db, block)
            .as_ref()
            .ok_or_else(|| LowerError("not a block".into()))?;
        let mut symbols = BTreeMap::new();
        for (port, &arg) in sig.inputs.iter().zip(args) {
            for (d, actual) in port.ty.shape.0.iter().zip(&self.graph.nodes[arg].shape.0) {
                if let Dim::Sym(s) = d {
                    symbols.insert(s.clone(), actual.clone());
                }
            }
        }
        let outs = self.body(block, prefix, Some(args), &symbols, depth + 1)?;
        outs.first()
            .copied()
            .ok_or_else(|| LowerError(format!("block instance {prefix} has no output")))
    }

    fn param_source(
        &self,
        item: ItemSource<'db>,
        key: &str,
        init: &ParamInit,
        shape: &Shape,
        dtype: tl_ir::DType,
    ) -> Result<ParamSource, LowerError> {
        let db = self.db;
        Ok(match init {
            ParamInit::Literal(bits) => {
                let data: Vec<f64> = bits.iter().map(|&b| f64::from_bits(b)).collect();
                // Analysis only accepts literals for params of fully known shape.
                let shape = shape.as_known().ok_or_else(|| {
                    LowerError(format!("param {key}: literal with a symbolic shape"))
                })?;
                ParamSource::Literal {
                    shape: shape.iter().map(|&d| d as usize).collect(),
                    data,
                    integer: dtype.is_integer(),
                }
            }
            ParamInit::Load { path, key: k } => ParamSource::File {
                path: relative_path(db, item.file(db), path),
                key: k.clone(),
            },
            ParamInit::FromGraphSource => {
                let found = self.sources.iter().find(|p| {
                    payload_header(db, db.external(p))
                        .as_ref()
                        .is_ok_and(|entries| entries.iter().any(|e| e.name == key))
                });
                match found {
                    Some(p) => ParamSource::File {
                        path: p.clone(),
                        key: Some(key.to_string()),
                    },
                    None => return Err(LowerError(format!("no payload for param {key}"))),
                }
            }
        })
    }
}

/// Loads params for the executors from the sources a lowering names; each safetensors file is
/// opened (memory-mapped) once.
pub struct SpecPayload<'a> {
    params: &'a BTreeMap<String, ParamSource>,
    open:
        std::sync::Mutex<BTreeMap<PathBuf, Arc<tl_kernels::payload::safetensors::SafeTensorsFile>>>,
    /// Initializers of `.onnx` files used as weight files, each model decoded once.
    onnx: std::sync::Mutex<BTreeMap<PathBuf, Arc<BTreeMap<String, Tensor>>>>,
}

impl<'a> SpecPayload<'a> {
    pub fn new(params: &'a BTreeMap<String, ParamSource>) -> Self {
        SpecPayload {
            params,
            open: std::sync::Mutex::new(BTreeMap::new()),
            onnx: std::sync::Mutex::new(BTreeMap::new()),
        }
    }
}

impl Payload for SpecPayload<'_> {
    fn load(&self, key: &str) -> PayloadResult<Tensor> {
        let missing = || PayloadError::TensorNotFound {
            path: "(spec)".into(),
            name: key.into(),
        };
        match self.params.get(key).ok_or_else(missing)? {
            ParamSource::Literal {
                shape,
                data,
                integer,
            } => {
                let range = |detail: String| PayloadError::ValueRange {
                    path: "(spec literal)".into(),
                    name: key.into(),
                    detail,
                };
                if *integer {
                    let ids = data
                        .iter()
                        .map(|&v| {
                            (v.fract() == 0.0 && v.abs() < 9.007_199_254_740_992e15)
                                .then_some(v as i64)
                                .ok_or_else(|| range(format!("{v} is not an integer")))
                        })
                        .collect::<Result<Vec<i64>, _>>()?;
                    Tensor::from_i64(shape, ids).map_err(|e| range(e.to_string()))
                } else {
                    Tensor::from_f64(shape, data.clone()).map_err(|e| range(e.to_string()))
                }
            }
            ParamSource::File { path, key: k } => {
                let is_npy = path.extension().is_some_and(|e| e == "npy");
                if crate::payload::is_onnx_file(path) {
                    let inits = {
                        let mut onnx = self.onnx.lock().expect("payload cache lock");
                        match onnx.get(path) {
                            Some(i) => i.clone(),
                            None => {
                                let i = Arc::new(tl_kernels::onnx::load(path)?.initializers);
                                onnx.insert(path.clone(), i.clone());
                                i
                            }
                        }
                    };
                    let name = k.as_deref().unwrap_or(key);
                    inits
                        .get(name)
                        .cloned()
                        .ok_or_else(|| PayloadError::TensorNotFound {
                            path: path.display().to_string(),
                            name: name.into(),
                        })
                } else if is_npy {
                    tl_kernels::payload::npy::read(path)
                } else {
                    let file = {
                        let mut open = self.open.lock().expect("payload cache lock");
                        match open.get(path) {
                            Some(f) => f.clone(),
                            None => {
                                let f = Arc::new(
                                    tl_kernels::payload::safetensors::SafeTensorsFile::open(path)?,
                                );
                                open.insert(path.clone(), f.clone());
                                f
                            }
                        }
                    };
                    file.tensor(k.as_deref().unwrap_or(key))
                }
            }
        }
    }
}
