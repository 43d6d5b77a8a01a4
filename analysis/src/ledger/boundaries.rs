//! Trust-boundary diagnostics: a boundary a contract's evidence crosses with no declared
//! assumption covering it is a warning (TL0710-TL0712) whose help is the `assume` item to add.
//!
//! Native code (`execute on cuda`) is already reported by TL0420 during contract analysis and an
//! assumption nothing rests on by TL0421, so neither is repeated here.

use tl_syntax::ItemKeyword;

use super::chain::static_ledger;
use super::{Boundary, BoundaryKind};
use crate::db::{Db, SourceFile};
use crate::diagnostics::Diagnostic;
use crate::items::{file_items, name_span, ItemSource};

/// The boundary warnings of one contract item (empty for other items).
pub fn boundary_diagnostics<'db>(db: &'db dyn Db, item: ItemSource<'db>) -> Vec<Diagnostic<'db>> {
    if item.keyword(db) != ItemKeyword::Contract {
        return vec![];
    }
    let Some(ledger) = static_ledger(db, item) else {
        return vec![];
    };
    ledger
        .boundaries
        .iter()
        .filter(|b| b.covered_by.is_empty() && b.kind != BoundaryKind::NativeCode)
        .map(|b| warning(db, item, &ledger.contract, b))
        .collect()
}

/// The boundary warnings of every contract of a file, for the file diagnostics
/// (`crate::check::file_diagnostics`).
#[salsa::tracked(returns(ref))]
pub fn file_boundary_diagnostics(db: &dyn Db, file: SourceFile) -> Vec<Diagnostic<'_>> {
    file_items(db, file)
        .iter()
        .flat_map(|&item| boundary_diagnostics(db, item))
        .collect()
}

fn warning<'db>(
    db: &'db dyn Db,
    item: ItemSource<'db>,
    contract: &str,
    b: &Boundary,
) -> Diagnostic<'db> {
    let (message, note) = match b.kind {
        BoundaryKind::ExternalSolver => (
            format!("`{contract}` takes evidence from an external solver (`{}`) that no assumption covers", b.what),
            "a certificate is checked by tl, but what the solver was asked and what it left out are outside tl: name that trust",
        ),
        BoundaryKind::ExternalData => (
            format!("`{contract}` is stated over external data (`{}`) that no assumption covers", b.what),
            "the claim means whatever the file holds; a reviewer must accept that it is the intended file",
        ),
        BoundaryKind::UnprovedOps | BoundaryKind::NativeCode => (
            format!("`{contract}` rests on ops outside every compiled-semantics proof: {}", b.what),
            "no catalog theorem says the compiled executor computes these ops' reference semantics; their kernels are trusted as written",
        ),
    };
    let mut d = Diagnostic::warning(b.kind.code(), name_span(db, item), message).with_note(note);
    if let Some(s) = &b.suggestion {
        let name = s
            .split_whitespace()
            .nth(2)
            .map(|n| n.trim_end_matches(':'))
            .unwrap_or("NAME");
        d = d.with_help(format!("declare `{s}` and add `rests on {name}`"));
    }
    d
}
