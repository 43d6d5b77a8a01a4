//! Graph resolution for `tlc run` and `tlc bounds`: a spec's graph (or an `import onnx ... as
//! NAME`) found by name, lowered or imported, ready to run. A spec with errors is refused, with its
//! error diagnostics, so nothing runs on a spec `tlc check` rejects.
//!
//! Codes: TL0120 (the spec cannot be read), TL0532 (no such graph, or a name that is not one),
//! TL0533 (the spec has errors), TL0534 (the graph does not lower), and the ONNX importer's own.

use std::path::Path;
use std::sync::Arc;

use std::path::PathBuf;

use tl_analysis::check::file_diagnostics;
use tl_analysis::contracts::{analyze_contract, Claim, Target};
use tl_analysis::db::{Db, SourceFile};
use tl_analysis::items::DefKind;
use tl_analysis::lower::{lower_graph, Lowered, SpecPayload};
use tl_analysis::onnx_model::{load_onnx, onnx_file, onnx_graph, OnnxGraph};
use tl_analysis::scope::{lookup, relative_path};
use tl_ir::Graph;
use tl_kernels::exec::Payload;

use crate::{Diagnostic, Severity};

/// A graph ready to run: lowered from the spec, or imported from an ONNX model.
pub enum RunnableGraph {
    Spec(Arc<Lowered>),
    Onnx(Arc<OnnxGraph>),
}

impl RunnableGraph {
    pub fn graph(&self) -> &Graph {
        match self {
            RunnableGraph::Spec(l) => &l.graph,
            RunnableGraph::Onnx(o) => &o.graph,
        }
    }

    /// Calls `f` with the graph and a payload for its params.
    pub fn with_payload<R>(&self, f: impl FnOnce(&Graph, &dyn Payload) -> R) -> R {
        match self {
            RunnableGraph::Spec(l) => f(&l.graph, &SpecPayload::new(&l.params)),
            RunnableGraph::Onnx(o) => f(&o.graph, &o.payload),
        }
    }
}

/// Why no graph could be resolved.
#[derive(Clone, Debug)]
pub struct GraphError {
    /// `TL0532` and the like.
    pub code: String,
    pub message: String,
    /// The request was wrong (a name, a path), not the spec or model.
    pub usage: bool,
    /// For TL0533: the spec's error diagnostics, to show before the message.
    pub diagnostics: Vec<Diagnostic>,
}

impl GraphError {
    fn new(code: impl Into<String>, message: impl Into<String>, usage: bool) -> GraphError {
        GraphError {
            code: code.into(),
            message: message.into(),
            usage,
            diagnostics: Vec::new(),
        }
    }
}

pub(crate) fn resolve_graph(
    db: &dyn Db,
    spec: &Path,
    name: Option<&str>,
) -> Result<RunnableGraph, GraphError> {
    let file = db.source(spec);
    if let Err(e) = file.text(db) {
        return Err(GraphError::new(
            "TL0120",
            format!("cannot read {}: {e}", spec.display()),
            true,
        ));
    }
    let errors: Vec<Diagnostic> = file_diagnostics(db, file)
        .iter()
        .filter(|d| d.severity == Severity::Error)
        .map(|d| crate::host::diagnostic(db, d))
        .collect();
    if !errors.is_empty() {
        let mut e = GraphError::new(
            "TL0533",
            format!(
                "{} has {} error(s); fix them before running (see `tlc check`)",
                spec.display(),
                errors.len()
            ),
            false,
        );
        e.diagnostics = errors;
        return Err(e);
    }
    let name = match name {
        Some(n) => n.to_string(),
        None => only_graph(db, file)?,
    };
    let segments: Vec<&str> = name.split('.').collect();
    let def = lookup(db, file, &segments).ok_or_else(|| {
        GraphError::new(
            "TL0532",
            format!(
                "no graph `{name}` in {}; graphs: {}",
                spec.display(),
                runnable_names(db, file).join(", ")
            ),
            true,
        )
    })?;
    match def.kind {
        DefKind::Graph => lower_graph(db, def.item)
            .clone()
            .map(RunnableGraph::Spec)
            .map_err(|e| GraphError::new("TL0534", format!("{name}: {e}"), false)),
        DefKind::Import => {
            let ext = onnx_file(db, def.item).ok_or_else(|| {
                GraphError::new(
                    "TL0532",
                    format!("`{name}` imports a spec, not a model; name one of its graphs"),
                    true,
                )
            })?;
            onnx_with_data(db, ext)
                .map(RunnableGraph::Onnx)
                .map_err(|e| GraphError::new(format!("TL{:04}", e.code), e.message, false))
        }
        other => Err(GraphError::new(
            "TL0532",
            format!("`{name}` is a {}, not a graph", other.describe()),
            true,
        )),
    }
}

/// The graph name `resolve_graph` resolves for `name` (the spec's only graph when `None`).
pub(crate) fn resolved_name(
    db: &dyn Db,
    spec: &Path,
    name: Option<&str>,
) -> Result<String, GraphError> {
    match name {
        Some(n) => Ok(n.to_string()),
        None => only_graph(db, db.source(spec)),
    }
}

/// Graphs and ONNX imports a spec defines.
fn runnable_names(db: &dyn Db, file: SourceFile) -> Vec<String> {
    tl_analysis::items::file_definitions(db, file)
        .iter()
        .filter(|(_, defs)| match defs[0].kind {
            DefKind::Graph => true,
            DefKind::Import => onnx_file(db, defs[0].item).is_some(),
            _ => false,
        })
        .map(|(n, _)| n.clone())
        .collect()
}

fn only_graph(db: &dyn Db, file: SourceFile) -> Result<String, GraphError> {
    let names = runnable_names(db, file);
    match names.as_slice() {
        [one] => Ok(one.clone()),
        [] => Err(GraphError::new(
            "TL0532",
            format!("{} defines no graph to run", file.path(db).display()),
            true,
        )),
        many => Err(GraphError::new(
            "TL0532",
            format!(
                "the spec has several graphs; pick one with --graph ({})",
                many.join(", ")
            ),
            true,
        )),
    }
}

/// The target graph and VNN-LIB file of a `given vnnlib(...)` contract (`tlc certificate check
/// --contract`). Codes: TL0633 (no such contract, or one without a VNN-LIB property or target),
/// TL0534 (the target does not lower), the ONNX importer's own.
pub(crate) fn contract_vnnlib_target(
    db: &dyn Db,
    spec: &Path,
    name: &str,
) -> Result<(RunnableGraph, PathBuf), GraphError> {
    let no_property = tl_bounds::codes::NO_PROPERTY;
    let file = db.source(spec);
    let def = lookup(db, file, &[name])
        .filter(|d| d.kind == DefKind::Contract)
        .ok_or_else(|| {
            GraphError::new(
                no_property,
                format!("{} has no contract `{name}`", spec.display()),
                true,
            )
        })?;
    let analysis = analyze_contract(db, def.item)
        .as_ref()
        .ok_or_else(|| GraphError::new(no_property, format!("`{name}` is not a contract"), true))?;
    let Some(Claim::VnnLib { path }) = &analysis.claim else {
        return Err(GraphError::new(
            no_property,
            format!(
                "contract `{name}` does not state a VNN-LIB property; certificates are checked against `given vnnlib(...)` contracts or --vnnlib"
            ),
            true,
        ));
    };
    let vnnlib = relative_path(db, file, path);
    let runnable = match analysis.target {
        Some(Target::Graph(item)) => lower_graph(db, item)
            .clone()
            .map(RunnableGraph::Spec)
            .map_err(|e| GraphError::new("TL0534", format!("{name}: {e}"), false))?,
        Some(Target::Onnx(item)) => {
            let ext = onnx_file(db, item).ok_or_else(|| {
                GraphError::new(
                    no_property,
                    format!("the target of `{name}` is not an ONNX model"),
                    true,
                )
            })?;
            onnx_with_data(db, ext)
                .map(RunnableGraph::Onnx)
                .map_err(|e| GraphError::new(format!("TL{:04}", e.code), e.message, true))?
        }
        None => {
            return Err(GraphError::new(
                no_property,
                format!("contract `{name}` has no target"),
                true,
            ))
        }
    };
    Ok((runnable, vnnlib))
}

/// A model with its data, for running. The queries know only its header (from the VFS); the
/// data is read here, when a run needs it, outside every query.
fn onnx_with_data(
    db: &dyn Db,
    ext: tl_analysis::db::ExternalFile,
) -> Result<std::sync::Arc<OnnxGraph>, tl_analysis::onnx_model::OnnxModelError> {
    onnx_graph(db, ext).as_ref().map_err(Clone::clone)?;
    load_onnx(ext.path(db)).map(std::sync::Arc::new)
}
