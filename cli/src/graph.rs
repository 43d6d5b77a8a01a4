//! `tlc graph`: a graph of a spec as mermaid (the spec's view, blocks as single nodes, the same
//! text the editor's "Show graph" gets), or as Graphviz DOT / JSON of the lowered IR (blocks
//! inlined, state-dict names).

use std::path::PathBuf;

use clap::Args;
use tl_ide::GraphView;
use tl_ir::{Graph, NodeKind};

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
    let mut host = tl_ide::AnalysisHost::new();
    let mut change = tl_ide::Change::new();
    change.load_file(&args.spec);
    host.apply_change(change);
    // Load what the specs import (the queries never read the disk).
    host.settle(&[args.spec.clone()]);
    let view =
        host.analysis()
            .graph_view(&args.spec, args.graph.as_deref(), args.format == "mermaid");
    match crate::uncancelled(view) {
        Ok(GraphView::Mermaid(text)) => {
            print!("{text}");
            exit::OK
        }
        Ok(GraphView::Ir(graph)) => print_ir(&graph, &args.format),
        Err(e) => {
            match &e.code {
                Some(code) => eprintln!("error[{code}]: {}", e.message),
                None => eprintln!("error: {}", e.message),
            }
            if e.usage {
                exit::USAGE
            } else {
                exit::FINDINGS
            }
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
