//! Document symbols (an outline of one file) and workspace symbols (top-level names and nodes).

use tl_syntax::ast::{Item, Stmt};
use tl_syntax::TextRange;

use super::text::fuzzy_match;
use tl_analysis::db::{Db, SourceFile};
use tl_analysis::graphs::{analyze_graph, NodeOrigin};
use tl_analysis::items::{file_items, parse_item};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SymbolKind {
    Graph,
    Block,
    Input,
    Param,
    Node,
    Contract,
    Tolerance,
    Assumption,
    Import,
}

/// One entry of a file's outline; ranges are absolute.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DocumentSymbol {
    pub name: String,
    pub detail: Option<String>,
    pub kind: SymbolKind,
    /// The whole item or statement.
    pub range: TextRange,
    /// The name.
    pub selection_range: TextRange,
    pub children: Vec<DocumentSymbol>,
}

/// The outline of a file: graphs and blocks with their inputs, params and nodes, contracts,
/// tolerances, assumptions and imports.
pub fn document_symbols(db: &dyn Db, file: SourceFile) -> Vec<DocumentSymbol> {
    let mut out = Vec::new();
    for &item in file_items(db, file) {
        let base = item.offset(db);
        let whole = TextRange::new(base, base + item.text(db).len() as u32);
        let parsed = &parse_item(db, item).item;
        let Some(name) = parsed.name() else {
            continue;
        };
        let (kind, detail, children) = match parsed {
            Item::Graph(g) => {
                let kind = match g.kind {
                    tl_syntax::ast::GraphKind::Graph => SymbolKind::Graph,
                    tl_syntax::ast::GraphKind::Block => SymbolKind::Block,
                };
                (kind, None, graph_children(db, item, g))
            }
            Item::Contract(c) => (
                SymbolKind::Contract,
                Some(format!("on {}", c.target.text())),
                vec![],
            ),
            Item::Tolerance(t) => {
                let parts: Vec<String> = t
                    .components
                    .iter()
                    .map(|c| format!("{} {}", c.kind.text, c.value.text))
                    .collect();
                (SymbolKind::Tolerance, Some(parts.join(", ")), vec![])
            }
            Item::Assume(a) => (SymbolKind::Assumption, Some(a.kind.text.clone()), vec![]),
            Item::Import(i) => (SymbolKind::Import, Some(i.path.value.clone()), vec![]),
            Item::Error(_) => continue,
        };
        out.push(DocumentSymbol {
            name: name.text.clone(),
            detail,
            kind,
            range: whole,
            selection_range: name.span.shift(base),
            children,
        });
    }
    out
}

fn graph_children(
    db: &dyn Db,
    item: tl_analysis::items::ItemSource<'_>,
    g: &tl_syntax::ast::Graph,
) -> Vec<DocumentSymbol> {
    let base = item.offset(db);
    let Some(a) = analyze_graph(db, item) else {
        return Vec::new();
    };
    // Statement spans, so that a node's range is its whole line.
    let stmt_spans: Vec<TextRange> = g
        .body
        .iter()
        .filter_map(|s| match s {
            Stmt::Param(p) => Some(p.span),
            Stmt::Node(n) => Some(n.span),
            _ => None,
        })
        .collect();
    a.nodes
        .iter()
        .filter(|n| !n.name.contains('#'))
        .map(|n| {
            let kind = match n.origin {
                NodeOrigin::Input => SymbolKind::Input,
                NodeOrigin::Param { .. } => SymbolKind::Param,
                _ => SymbolKind::Node,
            };
            let range = stmt_spans
                .iter()
                .copied()
                .find(|s| s.contains(n.name_span.start))
                .unwrap_or(n.span);
            DocumentSymbol {
                name: n.name.clone(),
                detail: n.ty.as_ref().map(|t| t.to_string()),
                kind,
                range: range.shift(base),
                selection_range: n.name_span.shift(base),
                children: vec![],
            }
        })
        .collect()
}

/// A symbol found by a workspace-wide search; `range` is the name's.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WorkspaceSymbol {
    pub name: String,
    pub kind: SymbolKind,
    pub path: std::path::PathBuf,
    pub range: TextRange,
    /// The graph a node belongs to.
    pub container: Option<String>,
}

/// Top-level names and graph nodes whose name fuzzily matches `query`, at most `limit`.
pub fn workspace_symbols(
    db: &dyn Db,
    workspace: &[SourceFile],
    query: &str,
    limit: usize,
) -> Vec<WorkspaceSymbol> {
    let mut out = Vec::new();
    'files: for &file in workspace {
        for sym in document_symbols(db, file) {
            if out.len() >= limit {
                break 'files;
            }
            if fuzzy_match(query, &sym.name) {
                out.push(WorkspaceSymbol {
                    name: sym.name.clone(),
                    kind: sym.kind,
                    path: file.path(db).clone(),
                    range: sym.selection_range,
                    container: None,
                });
            }
            // Inputs and params repeat across graphs; nodes are what people search for.
            for child in sym.children.iter().filter(|c| c.kind == SymbolKind::Node) {
                if out.len() >= limit {
                    break 'files;
                }
                if !query.is_empty() && fuzzy_match(query, &child.name) {
                    out.push(WorkspaceSymbol {
                        name: child.name.clone(),
                        kind: child.kind,
                        path: file.path(db).clone(),
                        range: child.selection_range,
                        container: Some(sym.name.clone()),
                    });
                }
            }
        }
    }
    out
}
