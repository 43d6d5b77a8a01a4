//! tl-ide: the one front door to the analysis, in the style of rust-analyzer's `ide` crate.
//!
//! An [`AnalysisHost`] owns the database and takes [`Change`]s (file texts set, files changed on
//! disk). [`AnalysisHost::analysis`] hands out an [`Analysis`]: a snapshot whose methods answer in
//! editor terms (paths, byte offsets into the text the snapshot holds, plain structs, markdown
//! strings) and return [`Cancellable`]: a change applied to the host while a snapshot computes
//! cancels it, and the method returns [`Cancelled`] instead of a stale answer. Nothing salsa-typed
//! crosses this crate's public API, so the front ends (the language server, `tlc`) cannot depend on
//! the database's shape, and they cannot disagree: both ask the same functions.
//!
//! The modules below are the editor facade proper (each takes the database, a file and offsets);
//! they are private, reached through [`Analysis`].

mod actions;
mod completion;
mod folding;
mod graph_select;
mod graph_view;
mod host;
mod hover;
mod inlay;
mod navigation;
mod occurrences;
pub mod project;
pub mod runnable;
mod signature;
mod status;
mod symbols;
mod text;
mod tokens;
pub mod tolerance;
pub mod trust;
mod verification;

#[cfg(test)]
mod decide_tests;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod vfs_tests;

use std::path::PathBuf;

use tl_syntax::TextRange;

use tl_analysis::db::{Db, SourceFile};
use tl_analysis::items::{file_items, ItemSource};

pub use actions::CodeAction;
pub use completion::{CompletionItem, CompletionKind};
pub use folding::{Fold, FoldKind};
pub use graph_select::{GraphView, ViewError};
pub use host::{Analysis, AnalysisHost, Cancellable, Cancelled, Change, Diagnostic, FileRange};
pub use hover::Hover;
pub use inlay::InlayHint;
pub use navigation::RenameError;
pub use project::ProjectSettings;
pub use runnable::{GraphError, RunnableGraph};
pub use signature::{ParameterInfo, SignatureHelp};
pub use status::{ContractStatus, LensKind, LensTarget};
pub use symbols::{DocumentSymbol, SymbolKind, WorkspaceSymbol};
pub use tl_analysis::diagnostics::Severity;
pub use tokens::{SemanticToken, TokenKind};
pub use verification::ContractRef;

pub(crate) use actions::{code_actions, format_file};
pub(crate) use completion::completions;
pub(crate) use folding::folding_ranges;
pub(crate) use graph_view::graph_mermaid;
#[cfg(test)]
pub(crate) use hover::hover;
#[cfg(test)]
pub(crate) use inlay::inlay_hints;
pub(crate) use navigation::{definition, prepare_rename, references, rename};
pub(crate) use signature::signature_help;
#[cfg(test)]
pub(crate) use status::contract_statuses;
pub(crate) use status::lens_targets;
pub(crate) use symbols::{document_symbols, workspace_symbols};
pub(crate) use tokens::semantic_tokens;
pub(crate) use verification::{
    hover_with_runs, prepare_contracts, statuses_with_runs, trust_markdown,
};

/// Verify runs: the plain data a front end passes between [`Analysis::prepare_contracts`], its
/// own threads and [`Analysis::statuses_with_runs`]. A [`verify::Prepared`] contract holds no
/// database: it is executed after the snapshot is dropped.
pub mod verify {
    pub use tl_analysis::contracts::{Claim, Method};
    pub use tl_analysis::outcome::{
        ContractOutcome, IndexMapCheck, MethodOutcome, Status, Verdict,
    };
    pub use tl_analysis::verify::cache::{Limit, ResultCache};
    pub use tl_analysis::verify::model::{instantiate, Model};
    pub use tl_analysis::verify::{claims, SetSpec};
    pub use tl_analysis::verify::{execute, ContractRun, Failure, Memo, Prepared, VerifyOptions};
}

/// Diagnostic codes: `TL0123` parsed, and the section of docs/diagnostics.md that explains one
/// (what `tlc explain` prints).
pub use tl_analysis::diagnostics::{code_str, explain, parse_code};

/// The loader's side of files: how a spec is read from disk (size limit, UTF-8 and NUL checks, a
/// byte order mark dropped or kept) and how an external file is stamped. Reading happens here,
/// on the front end's side of the door.
pub mod vfs {
    pub use tl_analysis::db::{
        file_stamp, lossy_source, read_source, read_source_with_bom, LoadError, MAX_SOURCE_BYTES,
    };
}

/// Model interchange for `tlc import`: an ONNX model loaded and imported into IR, and a spec
/// written for it.
pub mod interchange {
    pub use tl_analysis::onnx_model::{load_onnx, with_initializer_params};
    pub use tl_analysis::spec_writer::{sanitize_ident, write_spec, WeightsRef};
}

/// Test support shared by the analysis' and the front ends' tests (not part of the API).
#[doc(hidden)]
pub mod testing {
    pub use tl_analysis::testing::*;
}

/// Paths as the database keys them: absolute, `.` and `..` resolved lexically.
pub fn normalize_path(path: &std::path::Path) -> PathBuf {
    tl_analysis::db::normalize(path)
}

/// A byte range in a file known to the database (crate-internal: the public [`FileRange`] names
/// the file by path).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) struct SourceRange {
    pub file: SourceFile,
    pub range: TextRange,
}

/// A text replacement in a file, identified by path so that it can be applied to a file the
/// database has not loaded yet (an assumption added to the end of a file, say).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct FileEdit {
    pub path: PathBuf,
    pub range: TextRange,
    pub new_text: String,
}

/// The item whose text contains `offset` (its end included, so a cursor right after an item's
/// last character still belongs to it).
pub(crate) fn item_at<'db>(
    db: &'db dyn Db,
    file: SourceFile,
    offset: u32,
) -> Option<ItemSource<'db>> {
    file_items(db, file).iter().copied().find(|item| {
        let start = item.offset(db);
        let end = start + item.text(db).len() as u32;
        start <= offset && offset <= end
    })
}

/// The last item that starts at or before `offset`: where text typed at `offset` belongs (the
/// whitespace after an item is in no item's text, but it is where the user continues it).
pub(crate) fn item_before<'db>(
    db: &'db dyn Db,
    file: SourceFile,
    offset: u32,
) -> Option<ItemSource<'db>> {
    file_items(db, file)
        .iter()
        .copied()
        .take_while(|item| item.offset(db) <= offset)
        .last()
}

/// The file's text, or "" when it could not be read.
pub(crate) fn file_text(db: &dyn Db, file: SourceFile) -> &str {
    file.text(db).as_deref().map_or("", |t| t)
}
