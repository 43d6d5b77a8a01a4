//! Inlay hints: the inferred type after each node defined by an op or block call.

use tl_syntax::TextRange;

use tl_analysis::db::{Db, SourceFile};
use tl_analysis::graphs::{analyze_graph, NodeOrigin};
use tl_analysis::items::file_items;

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct InlayHint {
    /// Where the hint goes: right after the node's name.
    pub offset: u32,
    /// `: f32[B, 128]`.
    pub label: String,
    /// Hover text for the hint.
    pub tooltip: String,
}

/// Hints for nodes whose names lie in `range`.
pub fn inlay_hints(db: &dyn Db, file: SourceFile, range: TextRange) -> Vec<InlayHint> {
    let mut out = Vec::new();
    for &item in file_items(db, file) {
        let base = item.offset(db);
        let end = base + item.text(db).len() as u32;
        if end < range.start || base > range.end {
            continue;
        }
        let Some(a) = analyze_graph(db, item) else {
            continue;
        };
        for n in &a.nodes {
            if n.name.contains('#')
                || matches!(n.origin, NodeOrigin::Input | NodeOrigin::Param { .. })
            {
                continue;
            }
            let Some(ty) = &n.ty else { continue };
            let offset = n.name_span.end + base;
            if range.contains_inclusive(offset) {
                let how = match &n.origin {
                    NodeOrigin::Op(op) => format!("inferred by the shape rule of `{}`", op.name()),
                    _ => "inferred from the block's signature".to_string(),
                };
                out.push(InlayHint {
                    offset,
                    label: format!(": {ty}"),
                    tooltip: how,
                });
            }
        }
    }
    out
}
