//! `tlc graph`: which graph of a spec to show, and as what: the spec's mermaid view (blocks as
//! single nodes, the text the editor's "Show graph" gets), or the IR (blocks inlined) of a graph
//! or of an `import onnx ... as NAME` (named by its alias, as `tlc run --graph NAME` finds it).

use std::path::Path;

use tl_analysis::check::file_diagnostics;
use tl_analysis::db::Db;
use tl_analysis::items::file_items;
use tl_analysis::lower::lower_graph;
use tl_analysis::onnx_model::{onnx_file, onnx_graph};
use tl_ir::Graph;
use tl_syntax::ItemKeyword;

use crate::Severity;

/// What `tlc graph` prints.
pub enum GraphView {
    /// The spec's view as a mermaid flowchart.
    Mermaid(String),
    /// The IR of a graph or imported model.
    Ir(Graph),
}

/// Why no view: `error[code]: message` (or `error: message` without a code).
#[derive(Clone, Debug)]
pub struct ViewError {
    pub code: Option<String>,
    pub message: String,
    /// The request was wrong (a name), not the spec or model.
    pub usage: bool,
}

fn usage(message: String) -> ViewError {
    ViewError {
        code: None,
        message,
        usage: true,
    }
}

fn findings(code: Option<String>, message: String) -> ViewError {
    ViewError {
        code,
        message,
        usage: false,
    }
}

/// The graph `name` of `spec` (its only graph when `None`), as mermaid when `mermaid`, else as IR.
pub(crate) fn graph_view(
    db: &dyn Db,
    spec: &Path,
    name: Option<&str>,
    mermaid: bool,
) -> Result<GraphView, ViewError> {
    let file = db.source(spec);
    let errors = file_diagnostics(db, file)
        .iter()
        .filter(|d| d.severity == Severity::Error)
        .count();
    if errors > 0 {
        return Err(findings(
            None,
            format!(
                "{} has {errors} error(s); run `tlc check {}`",
                spec.display(),
                spec.display()
            ),
        ));
    }
    let graphs: Vec<_> = file_items(db, file)
        .iter()
        .copied()
        .filter(|&i| match i.keyword(db) {
            ItemKeyword::Graph | ItemKeyword::Block => true,
            ItemKeyword::Import => onnx_file(db, i).is_some(),
            _ => false,
        })
        .collect();
    let name = match (name, graphs.as_slice()) {
        (Some(n), _) => n.to_string(),
        (None, [only]) => only.name(db).clone().unwrap_or_default(),
        (None, _) => {
            let names: Vec<String> = graphs.iter().filter_map(|g| g.name(db).clone()).collect();
            return Err(usage(format!(
                "{} defines {} graphs; pick one with --graph ({})",
                spec.display(),
                names.len(),
                names.join(", ")
            )));
        }
    };
    // `import onnx "m.onnx" as net`: the imported model's IR, named by its alias (as `tlc run
    // --graph net` finds it); the model's own graph name (often `torch_jit`) is not the spec's.
    if let Some(import) = file_items(db, file).iter().copied().find(|i| {
        i.keyword(db) == ItemKeyword::Import && i.name(db).as_deref() == Some(name.as_str())
    }) {
        let Some(ext) = onnx_file(db, import) else {
            return Err(usage(format!(
                "`{name}` imports a spec, not a model; name one of its graphs"
            )));
        };
        return match onnx_graph(db, ext) {
            Ok(model) => {
                let mut graph = model.graph.clone();
                graph.name = name.clone();
                Ok(GraphView::Ir(graph))
            }
            Err(e) => Err(findings(
                Some(format!("TL{:04}", e.code)),
                e.message.clone(),
            )),
        };
    }
    if mermaid {
        return crate::graph_mermaid(db, file, &name)
            .map(GraphView::Mermaid)
            .ok_or_else(|| usage(format!("no graph or block named `{name}`")));
    }
    let Some(item) = graphs
        .iter()
        .copied()
        .find(|g| g.name(db).as_deref() == Some(name.as_str()))
    else {
        return Err(usage(format!(
            "no graph named `{name}` in {}",
            spec.display()
        )));
    };
    if item.keyword(db) == ItemKeyword::Block {
        return Err(usage(format!(
            "`{name}` is a block; the IR exists for graphs (use --format mermaid for a block)"
        )));
    }
    match lower_graph(db, item) {
        Ok(lowered) => Ok(GraphView::Ir(lowered.graph.clone())),
        Err(e) => Err(findings(None, format!("cannot lower `{name}`: {e}"))),
    }
}
