//! The editor facade: what an editor asks about a file, answered in editor terms (absolute byte
//! offsets, plain structs, markdown strings). No LSP types and no JSON: the language server maps
//! these onto the protocol, and other front ends (tests, a future web playground) use them as is.
//!
//! Every function takes `&dyn Db`, a file and byte offsets into that file's text as the database
//! holds it. Functions that look across files (references, rename, workspace symbols) also take the
//! workspace's files: the database knows which files exist, the caller knows which ones matter.

mod actions;
mod completion;
mod folding;
mod graph_view;
mod hover;
mod inlay;
mod navigation;
mod occurrences;
pub mod project;
mod signature;
mod status;
mod symbols;
mod text;
mod tokens;
mod verification;

#[cfg(test)]
mod tests;

use std::path::PathBuf;

use tl_syntax::TextRange;

use crate::db::{Db, SourceFile};
use crate::items::{file_items, ItemSource};

pub use actions::{code_actions, format_file, CodeAction};
pub use completion::{completions, CompletionItem, CompletionKind};
pub use folding::{folding_ranges, Fold, FoldKind};
pub use graph_view::graph_mermaid;
pub use hover::{hover, Hover};
pub use inlay::{inlay_hints, InlayHint};
pub use navigation::{definition, prepare_rename, references, rename, RenameError};
pub use occurrences::{file_occurrences, occurrence_at, Occurrence, Symbol};
pub use project::{project_settings, ProjectSettings};
pub use signature::{signature_help, ParameterInfo, SignatureHelp};
pub use status::{contract_statuses, lens_targets, ContractStatus, LensKind, LensTarget};
pub use symbols::{
    document_symbols, workspace_symbols, DocumentSymbol, SymbolKind, WorkspaceSymbol,
};
pub use tokens::{semantic_tokens, SemanticToken, TokenKind};
pub use verification::{hover_with_runs, prepare_contracts, statuses_with_runs, trust_markdown};

/// A byte range in a file.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct FileRange {
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
pub fn item_at<'db>(db: &'db dyn Db, file: SourceFile, offset: u32) -> Option<ItemSource<'db>> {
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
