//! Items: a file split into independently parsed pieces, and the names each file defines.

use std::collections::BTreeMap;

use tl_syntax::ast::{self, Item};
use tl_syntax::{ItemKeyword, TextRange};

use crate::db::{Db, SourceFile};
use crate::diagnostics::{Diagnostic, Span};

/// One top-level item of a file. Its identity is (file, keyword, name) — so it survives edits to
/// other items and to its own body — while its text and offset are tracked fields: a query that
/// reads only the text (parsing, analysis) does not re-run when the item merely moves.
#[salsa::tracked(debug)]
pub struct ItemSource<'db> {
    #[returns(copy)]
    pub file: SourceFile,
    #[returns(copy)]
    pub keyword: ItemKeyword,
    #[returns(ref)]
    pub name: Option<String>,
    #[tracked]
    #[returns(ref)]
    pub text: String,
    #[tracked]
    #[returns(copy)]
    pub offset: u32,
}

/// The items of a file in source order.
#[salsa::tracked(returns(ref))]
pub fn file_items(db: &dyn Db, file: SourceFile) -> Vec<ItemSource<'_>> {
    let Ok(text) = file.text(db) else {
        return Vec::new();
    };
    tl_syntax::split_items(text)
        .into_iter()
        .map(|chunk| {
            let slice = &text[chunk.range.start as usize..chunk.range.end as usize];
            ItemSource::new(
                db,
                file,
                chunk.keyword,
                chunk.name.clone(),
                slice.to_string(),
                chunk.range.start,
            )
        })
        .collect()
}

/// The parsed item (spans relative to the item) and its syntax errors.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParsedItem {
    pub item: Item,
    pub errors: Vec<tl_syntax::SyntaxError>,
}

#[salsa::tracked(returns(ref))]
pub fn parse_item<'db>(db: &'db dyn Db, item: ItemSource<'db>) -> ParsedItem {
    let parse = tl_syntax::parse_item(item.text(db));
    ParsedItem {
        item: parse.item,
        errors: parse.errors,
    }
}

/// Syntax errors of one item as diagnostics.
#[salsa::tracked(returns(ref))]
pub fn item_syntax_diagnostics<'db>(
    db: &'db dyn Db,
    item: ItemSource<'db>,
) -> Vec<Diagnostic<'db>> {
    parse_item(db, item)
        .errors
        .iter()
        .map(|e| {
            let mut d = Diagnostic::error(
                crate::diagnostics::parse_code(e.code).unwrap_or(1),
                Span::Item(item, e.span),
                e.message.clone(),
            );
            if !e.expected.is_empty() {
                d = d.with_note(format!("expected {}", e.expected.join(", ")));
            }
            if let Some(h) = &e.help {
                d = d.with_help(h.clone());
            }
            d
        })
        .collect()
}

/// What a name defined at the top level of a file is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, salsa::SalsaValue)]
pub enum DefKind {
    Graph,
    Block,
    Contract,
    Tolerance,
    Assumption,
    /// `import "x.tl" as ns` or `import onnx "net.onnx" as net`.
    Import,
}

impl DefKind {
    pub fn describe(self) -> &'static str {
        match self {
            DefKind::Graph => "graph",
            DefKind::Block => "block",
            DefKind::Contract => "contract",
            DefKind::Tolerance => "tolerance",
            DefKind::Assumption => "assumption",
            DefKind::Import => "import",
        }
    }
}

/// The kind of definition an item keyword introduces (`None` for junk).
pub fn def_kind(keyword: ItemKeyword) -> Option<DefKind> {
    Some(match keyword {
        ItemKeyword::Graph => DefKind::Graph,
        ItemKeyword::Block => DefKind::Block,
        ItemKeyword::Contract => DefKind::Contract,
        ItemKeyword::Tolerance => DefKind::Tolerance,
        ItemKeyword::Assume => DefKind::Assumption,
        ItemKeyword::Import => DefKind::Import,
        ItemKeyword::Junk => return None,
    })
}

/// A top-level definition: the item and its kind.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, salsa::SalsaValue)]
pub struct Def<'db> {
    pub item: ItemSource<'db>,
    pub kind: DefKind,
}

/// The names a file defines itself (not its imports), first definition first; later duplicates
/// are reported by [`file_definition_diagnostics`]. Depends only on item identities, which do not
/// change when a body is edited.
#[salsa::tracked(returns(ref))]
pub fn file_definitions(db: &dyn Db, file: SourceFile) -> BTreeMap<String, Vec<Def<'_>>> {
    let mut defs: BTreeMap<String, Vec<Def<'_>>> = BTreeMap::new();
    for &item in file_items(db, file) {
        if let (Some(kind), Some(name)) = (def_kind(item.keyword(db)), item.name(db)) {
            if kind == DefKind::Import
                && !matches!(&parse_item(db, item).item, Item::Import(i) if i.alias.is_some())
            {
                continue;
            }
            defs.entry(name.clone())
                .or_default()
                .push(Def { item, kind });
        }
    }
    defs
}

/// Duplicate top-level names.
#[salsa::tracked(returns(ref))]
pub fn file_definition_diagnostics(db: &dyn Db, file: SourceFile) -> Vec<Diagnostic<'_>> {
    let mut out = Vec::new();
    for (name, defs) in file_definitions(db, file) {
        let first = defs[0];
        for dup in &defs[1..] {
            out.push(
                Diagnostic::error(
                    101,
                    name_span(db, dup.item),
                    format!("`{name}` is defined more than once"),
                )
                .with_label(format!("second definition of `{name}`"))
                .with_related(
                    name_span(db, first.item),
                    format!("first defined here as a {}", first.kind.describe()),
                )
                .with_help("rename one of them; top-level names share one namespace per file"),
            );
        }
    }
    out
}

/// The span of an item's name (or of the whole item when it has none).
pub fn name_span<'db>(db: &'db dyn Db, item: ItemSource<'db>) -> Span<'db> {
    let parsed = &parse_item(db, item).item;
    let range = parsed
        .name()
        .map(|n| n.span)
        .unwrap_or_else(|| parsed.span());
    Span::Item(item, range)
}

/// The AST of a graph or block item.
pub fn graph_ast<'db>(db: &'db dyn Db, item: ItemSource<'db>) -> Option<&'db ast::Graph> {
    match &parse_item(db, item).item {
        Item::Graph(g) => Some(g),
        _ => None,
    }
}

/// The whole-item span.
pub fn item_span<'db>(db: &'db dyn Db, item: ItemSource<'db>) -> Span<'db> {
    Span::Item(item, TextRange::new(0, item.text(db).len() as u32))
}
