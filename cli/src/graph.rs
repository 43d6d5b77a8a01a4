//! `tlc graph`: a graph of a spec as mermaid (the spec's view, blocks as single nodes, the same
//! text the editor's "Show graph" gets), or as Graphviz DOT / JSON of the lowered IR (blocks
//! inlined, state-dict names).

use std::path::PathBuf;

use clap::Args;
use tl_analysis::check::file_diagnostics;
use tl_analysis::db::Db;
use tl_analysis::items::file_items;
use tl_analysis::lower::lower_graph;
use tl_analysis::onnx_model::{onnx_file, onnx_graph};
use tl_analysis::{RootDatabase, Severity};
use tl_ir::{Graph, NodeKind};
use tl_syntax::ItemKeyword;

use crate::exit;

#[derive(Args)]
#[command(
    after_help = "Examples:\n  tlc graph spec-examples/mnist_mlp.tl\n  tlc graph spec-examples/residual_block.tl --graph residual_net --format dot | dot -Tsvg > net.svg\n  tlc graph model.tl --format json"
)]
pub struct GraphArgs {
    /// The spec file.
    spec: PathBuf,
    /// The graph or block (default: the file's only graph).
    #[arg(long)]
    graph: Option<String>,
    /// `mermaid` (the spec's view), `dot` or `json` (the lowered IR, blocks inlined).
    #[arg(long, default_value = "mermaid", value_parser = ["mermaid", "dot", "json"])]
    format: String,
}

pub fn run(args: GraphArgs) -> u8 {
    if !args.spec.is_file() {
        eprintln!("error: {}: no such file", args.spec.display());
        return exit::USAGE;
    }
    let db = RootDatabase::default();
    let file = db.source(&args.spec);
    let errors = file_diagnostics(&db, file)
        .iter()
        .filter(|d| d.severity == Severity::Error)
        .count();
    if errors > 0 {
        eprintln!(
            "error: {} has {errors} error(s); run `tlc check {}`",
            args.spec.display(),
            args.spec.display()
        );
        return exit::FINDINGS;
    }
    let graphs: Vec<_> = file_items(&db, file)
        .iter()
        .copied()
        .filter(|&i| match i.keyword(&db) {
            ItemKeyword::Graph | ItemKeyword::Block => true,
            ItemKeyword::Import => onnx_file(&db, i).is_some(),
            _ => false,
        })
        .collect();
    let name = match (&args.graph, graphs.as_slice()) {
        (Some(n), _) => n.clone(),
        (None, [only]) => only.name(&db).clone().unwrap_or_default(),
        (None, _) => {
            let names: Vec<String> = graphs.iter().filter_map(|g| g.name(&db).clone()).collect();
            eprintln!(
                "error: {} defines {} graphs; pick one with --graph ({})",
                args.spec.display(),
                names.len(),
                names.join(", ")
            );
            return exit::USAGE;
        }
    };
    // `import onnx "m.onnx" as net`: the imported model's IR, named by its alias (as `tlc run
    // --graph net` finds it); the model's own graph name (often `torch_jit`) is not the spec's.
    if let Some(import) = file_items(&db, file).iter().copied().find(|i| {
        i.keyword(&db) == ItemKeyword::Import && i.name(&db).as_deref() == Some(name.as_str())
    }) {
        let Some(ext) = onnx_file(&db, import) else {
            eprintln!("error: `{name}` imports a spec, not a model; name one of its graphs");
            return exit::USAGE;
        };
        return match onnx_graph(&db, ext) {
            Ok(model) => {
                let mut graph = model.graph.clone();
                graph.name = name.clone();
                print_ir(&graph, &args.format)
            }
            Err(e) => {
                eprintln!("error[TL{:04}]: {}", e.code, e.message);
                exit::FINDINGS
            }
        };
    }
    if args.format == "mermaid" {
        let mut host = tl_ide::AnalysisHost::new();
        let mut change = tl_ide::Change::new();
        change.load_file(&args.spec);
        host.apply_change(change);
        let mermaid = crate::uncancelled(host.analysis().graph_mermaid(&args.spec, &name));
        return match mermaid {
            Some(text) => {
                print!("{text}");
                exit::OK
            }
            None => {
                eprintln!("error: no graph or block named `{name}`");
                exit::USAGE
            }
        };
    }
    let Some(item) = graphs
        .iter()
        .copied()
        .find(|g| g.name(&db).as_deref() == Some(name.as_str()))
    else {
        eprintln!("error: no graph named `{name}` in {}", args.spec.display());
        return exit::USAGE;
    };
    if item.keyword(&db) == ItemKeyword::Block {
        eprintln!("error: `{name}` is a block; the IR exists for graphs (use --format mermaid for a block)");
        return exit::USAGE;
    }
    match lower_graph(&db, item) {
        Ok(lowered) => print_ir(&lowered.graph, &args.format),
        Err(e) => {
            eprintln!("error: cannot lower `{name}`: {e}");
            exit::FINDINGS
        }
    }
}

/// Prints an IR graph as JSON, DOT or (for an imported model) mermaid.
fn print_ir(graph: &Graph, format: &str) -> u8 {
    match format {
        "json" => match serde_json::to_string_pretty(graph) {
            Ok(s) => println!("{s}"),
            Err(e) => {
                eprintln!("error: {e}");
                return exit::USAGE;
            }
        },
        "mermaid" => print!("{}", mermaid(graph)),
        _ => print!("{}", dot(graph)),
    }
    exit::OK
}

/// Mermaid of an IR graph (for imported models, which have no spec view).
fn mermaid(g: &Graph) -> String {
    let mut s = format!("%% {}\nflowchart TD\n", g.name);
    let label = |t: &str| t.replace('"', "#quot;");
    for (i, n) in g.nodes.iter().enumerate() {
        let what = match &n.kind {
            NodeKind::Input => "input".to_string(),
            NodeKind::Param { .. } => "param".to_string(),
            NodeKind::Op { op, .. } => op.name().to_string(),
        };
        s.push_str(&format!(
            "  n{i}[\"{}: {what} {}{}\"]\n",
            label(&n.name),
            n.dtype,
            n.shape
        ));
        for &p in &n.parents {
            s.push_str(&format!("  n{p} --> n{i}\n"));
        }
    }
    s
}

/// Graphviz DOT of an IR graph: inputs as ellipses, params as cylinders, ops as boxes.
fn dot(g: &Graph) -> String {
    let mut s = format!(
        "digraph \"{}\" {{\n  rankdir=TB;\n  node [fontname=\"monospace\"];\n",
        escape(&g.name)
    );
    for (i, n) in g.nodes.iter().enumerate() {
        let (shape, what) = match &n.kind {
            NodeKind::Input => ("ellipse", "input".to_string()),
            NodeKind::Param { .. } => ("cylinder", "param".to_string()),
            NodeKind::Op { op, .. } => ("box", op.name().to_string()),
        };
        s.push_str(&format!(
            "  n{i} [shape={shape}, label=\"{}\\n{what} {}{}\"];\n",
            escape(&n.name),
            n.dtype,
            escape(&n.shape.to_string())
        ));
        for &p in &n.parents {
            s.push_str(&format!("  n{p} -> n{i};\n"));
        }
    }
    for (name, id) in &g.outputs {
        s.push_str(&format!(
            "  out_{id} [shape=plaintext, label=\"{}\"];\n  n{id} -> out_{id};\n",
            escape(name)
        ));
    }
    s.push_str("}\n");
    s
}

fn escape(s: &str) -> String {
    s.replace('\\', "\\\\").replace('"', "\\\"")
}
