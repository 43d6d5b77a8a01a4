//! A graph as mermaid flowchart text, for "Show graph".

use std::fmt::Write;

use tl_analysis::db::{Db, SourceFile};
use tl_analysis::graphs::{analyze_graph, NodeOrigin};
use tl_analysis::items::{file_items, ItemSource};
use tl_analysis::scope::lookup;

/// The mermaid text of the graph or block `name` as seen from `file` (its own or an imported one).
pub fn graph_mermaid(db: &dyn Db, file: SourceFile, name: &str) -> Option<String> {
    let segments: Vec<&str> = name.split('.').collect();
    let item = lookup(db, file, &segments).map(|d| d.item).or_else(|| {
        file_items(db, file)
            .iter()
            .copied()
            .find(|i| i.name(db).as_deref() == Some(name))
    })?;
    mermaid(db, item)
}

fn mermaid(db: &dyn Db, item: ItemSource<'_>) -> Option<String> {
    let a = analyze_graph(db, item).as_ref()?;
    let mut s = String::from("flowchart TD\n");
    for (i, n) in a.nodes.iter().enumerate() {
        let ty =
            n.ty.as_ref()
                .map(|t| t.to_string())
                .unwrap_or_else(|| "?".into());
        let (open, close, what) = match &n.origin {
            NodeOrigin::Input => ("([", "])", "input".to_string()),
            NodeOrigin::Param { .. } => ("[(", ")]", "param".to_string()),
            NodeOrigin::Op(op) if n.name.contains('#') => ("((", "))", op.name().to_string()),
            NodeOrigin::Op(op) => ("[", "]", op.name().to_string()),
            NodeOrigin::Block(b) => ("[[", "]]", b.name(db).clone().unwrap_or_default()),
            NodeOrigin::Repeat(b, times) => (
                "[[",
                "]]",
                format!("{} x{times}", b.name(db).clone().unwrap_or_default()),
            ),
        };
        let label = if n.name.contains('#') {
            format!("constant<br/>{ty}")
        } else {
            format!("{}<br/>{what}: {ty}", n.name)
        };
        let _ = writeln!(s, "  n{i}{open}\"{}\"{close}", escape(&label));
    }
    for (i, n) in a.nodes.iter().enumerate() {
        for &arg in &n.args {
            if arg < a.nodes.len() {
                let _ = writeln!(s, "  n{arg} --> n{i}");
            }
        }
    }
    for (name, idx) in &a.outputs {
        let _ = writeln!(
            s,
            "  n{idx} --> out_{i}([\"output {}\"])",
            escape(name),
            i = idx
        );
    }
    Some(s)
}

/// Mermaid labels are quoted: quotes and angle brackets become entities (`<br/>` is ours).
fn escape(text: &str) -> String {
    text.replace('&', "#amp;")
        .replace('"', "#quot;")
        .replace('<', "#lt;")
        .replace('>', "#gt;")
        .replace("#lt;br/#gt;", "<br/>")
}
