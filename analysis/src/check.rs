//! File-level diagnostics: every item's results, resolved to file positions, in source order.

use tl_syntax::ast::Item;
use tl_syntax::{ItemKeyword, TextRange};

use crate::contracts::{analyze_contract, check_declaration};
use crate::db::{Db, SourceFile};
use crate::diagnostics::{Diagnostic, ResolvedDiagnostic, Span};
use crate::graphs::analyze_graph;
use crate::items::{
    file_definition_diagnostics, file_items, item_syntax_diagnostics, name_span, parse_item,
    ItemSource,
};
use crate::scope::import_diagnostics;

/// The diagnostics of one item (syntax and semantics), item-relative.
#[salsa::tracked(returns(ref))]
pub fn item_diagnostics<'db>(db: &'db dyn Db, item: ItemSource<'db>) -> Vec<Diagnostic<'db>> {
    let mut out = item_syntax_diagnostics(db, item).clone();
    match item.keyword(db) {
        ItemKeyword::Graph | ItemKeyword::Block => {
            if let Some(a) = analyze_graph(db, item) {
                out.extend(a.diagnostics.iter().cloned());
            }
            out.extend(crate::payload::check_payload(db, item).iter().cloned());
        }
        ItemKeyword::Contract => {
            if let Some(a) = analyze_contract(db, item) {
                out.extend(a.diagnostics.iter().cloned());
            }
        }
        ItemKeyword::Tolerance | ItemKeyword::Assume => {
            out.extend(check_declaration(db, item).iter().cloned())
        }
        ItemKeyword::Import => out.extend(
            crate::onnx_model::onnx_import_diagnostics(db, item)
                .iter()
                .cloned(),
        ),
        ItemKeyword::Junk => {}
    }
    out
}

/// Assumptions of a file that no contract of the file rests on.
#[salsa::tracked(returns(ref))]
pub fn unused_assumptions(db: &dyn Db, file: SourceFile) -> Vec<Diagnostic<'_>> {
    let items = file_items(db, file);
    let used: std::collections::HashSet<ItemSource<'_>> = items
        .iter()
        .filter(|i| i.keyword(db) == ItemKeyword::Contract)
        .filter_map(|&i| analyze_contract(db, i).as_ref())
        .flat_map(|a| a.rests_on.iter().copied())
        .collect();
    items
        .iter()
        .filter(|i| i.keyword(db) == ItemKeyword::Assume && !used.contains(i))
        .filter(|&&i| matches!(parse_item(db, i).item, Item::Assume(_)))
        .map(|&i| {
            Diagnostic::warning(
                421,
                name_span(db, i),
                format!(
                    "no contract rests on assumption `{}`",
                    i.name(db).clone().unwrap_or_default()
                ),
            )
            .unnecessary()
            .with_help("add `rests on NAME` to the contracts that depend on it, or remove it")
        })
        .collect()
}

/// All diagnostics of a file, resolved and sorted by position.
pub fn file_diagnostics(db: &dyn Db, file: SourceFile) -> Vec<ResolvedDiagnostic> {
    if let Err(e) = file.text(db) {
        let at = e.offset().unwrap_or(0) as u32;
        let d = Diagnostic::error(
            120,
            Span::File(file, TextRange::new(at, at)),
            format!(
                "cannot read {}: {e}",
                file.path(db)
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default()
            ),
        );
        return vec![d.resolve(db)];
    }
    let mut out: Vec<ResolvedDiagnostic> = Vec::new();
    if file_items(db, file).is_empty() {
        let d = Diagnostic::warning(
            121,
            Span::File(file, TextRange::new(0, 0)),
            "this spec defines nothing",
        )
        .with_help("a spec holds graphs, blocks, contracts, tolerances, assumptions or imports");
        out.push(d.resolve(db));
    }
    for &item in file_items(db, file) {
        out.extend(item_diagnostics(db, item).iter().map(|d| d.resolve(db)));
    }
    for d in file_definition_diagnostics(db, file)
        .iter()
        .chain(import_diagnostics(db, file))
        .chain(unused_assumptions(db, file))
        .chain(crate::ledger::file_boundary_diagnostics(db, file))
    {
        out.push(d.resolve(db));
    }
    out.sort_by(|a, b| (a.span.range.start, a.code).cmp(&(b.span.range.start, b.code)));
    out.dedup();
    out
}
