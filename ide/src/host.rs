//! The door itself: [`AnalysisHost`] (owns the database, takes [`Change`]s) and [`Analysis`]
//! (a snapshot answering in plain data, every answer [`Cancellable`]).
//!
//! Salsa's cancellation is caught here, once ([`Analysis::with_db`]): a front end sees only this
//! crate's [`Cancelled`].

use std::panic::AssertUnwindSafe;
use std::path::{Path, PathBuf};

use tl_analysis::db::{Db, RootDatabase, SourceFile};
use tl_analysis::diagnostics::{FileSpan, ResolvedDiagnostic};
use tl_syntax::TextRange;

use crate::verify::{ContractRun, Prepared, VerifyOptions};
use crate::{
    CodeAction, CompletionItem, ContractStatus, DocumentSymbol, FileEdit, Fold, Hover, InlayHint,
    LensTarget, RenameError, SemanticToken, Severity, SignatureHelp, SourceRange, WorkspaceSymbol,
};

/// A snapshot's computation was cancelled by a change applied to the host: ask again.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cancelled;

impl std::fmt::Display for Cancelled {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the analysis was cancelled by a newer change")
    }
}

impl std::error::Error for Cancelled {}

/// An answer, or [`Cancelled`] when a change landed while it was computed.
pub type Cancellable<T> = Result<T, Cancelled>;

/// A byte range in a file, the file named by its (normalised) path.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct FileRange {
    pub path: PathBuf,
    pub range: TextRange,
}

/// A diagnostic in editor terms: what `tlc check` prints and the server publishes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Diagnostic {
    pub code: u16,
    pub severity: Severity,
    pub message: String,
    /// Where it points (usually in the file asked about; an import's error can point elsewhere).
    pub range: FileRange,
    pub label: String,
    pub related: Vec<(FileRange, String)>,
    pub notes: Vec<String>,
    pub help: Option<String>,
    /// The span is unused code (editors fade it).
    pub unnecessary: bool,
}

impl Diagnostic {
    /// `TL0123`.
    pub fn code_str(&self) -> String {
        tl_analysis::diagnostics::code_str(self.code)
    }
}

/// One file's change.
#[derive(Debug)]
enum FileChange {
    /// The text as an editor holds it.
    Set(String),
    /// The file changed on disk, or an editor buffer over it closed: read it again (a source's
    /// text, or an external file's stamp).
    Refresh,
    /// Make the file known (a workspace scan): read it from disk unless it is known already.
    Load,
    /// An external file's bytes held in memory (an ONNX model), in place of the disk's.
    SetExternal(Vec<u8>),
}

/// A batch of changes, applied in order by [`AnalysisHost::apply_change`].
#[derive(Debug, Default)]
pub struct Change {
    files: Vec<(PathBuf, FileChange)>,
    load_requested: bool,
}

impl Change {
    pub fn new() -> Change {
        Change::default()
    }

    /// Sets the text of a `.tl` file (an open editor buffer).
    pub fn set_file_text(&mut self, path: impl Into<PathBuf>, text: String) {
        self.files.push((path.into(), FileChange::Set(text)));
    }

    /// The file changed on disk or its editor buffer closed: its text (or, for weights, models
    /// and properties, its stamp) is read again.
    pub fn file_changed_on_disk(&mut self, path: impl Into<PathBuf>) {
        self.files.push((path.into(), FileChange::Refresh));
    }

    /// Makes a `.tl` file on disk known to the database (for references and workspace symbols).
    pub fn load_file(&mut self, path: impl Into<PathBuf>) {
        self.files.push((path.into(), FileChange::Load));
    }

    /// Sets an external file (an ONNX model) from bytes in memory instead of the disk.
    pub fn set_external_bytes(&mut self, path: impl Into<PathBuf>, bytes: Vec<u8>) {
        self.files
            .push((path.into(), FileChange::SetExternal(bytes)));
    }

    /// Reads the files the analysis asked for that are not loaded yet ([`Analysis::has_requested`]).
    pub fn load_requested(&mut self) {
        self.load_requested = true;
    }

    pub fn is_empty(&self) -> bool {
        self.files.is_empty() && !self.load_requested
    }
}

/// Owns the database. Changes go in through [`AnalysisHost::apply_change`] (which cancels the
/// snapshots computing on older inputs); answers come from [`AnalysisHost::analysis`] snapshots.
#[derive(Default)]
pub struct AnalysisHost {
    db: RootDatabase,
}

impl AnalysisHost {
    pub fn new() -> AnalysisHost {
        AnalysisHost::default()
    }

    /// Applies a batch of changes in order.
    pub fn apply_change(&mut self, change: Change) {
        for (path, c) in change.files {
            match c {
                FileChange::Set(text) => {
                    self.db.set_source_text(&path, text);
                }
                FileChange::Refresh => self.db.reload_source(&path),
                FileChange::Load => {
                    self.db.load_source(&path);
                }
                FileChange::SetExternal(bytes) => {
                    self.db.set_external_bytes(&path, &bytes);
                }
            }
        }
        if change.load_requested {
            self.db.load_requested();
        }
    }

    /// Loads everything the diagnostics of `paths` need, transitively (imported specs, weight
    /// headers, models), reading the disk here and never in a query. `tlc` calls it once its
    /// files are loaded; the server loads requested files after each round instead
    /// ([`Analysis::has_requested`], [`Change::load_requested`]).
    pub fn settle(&mut self, paths: &[PathBuf]) {
        let files: Vec<SourceFile> = paths.iter().map(|p| self.db.source(p)).collect();
        self.db.settle(&files);
    }

    /// A snapshot of the current inputs.
    pub fn analysis(&self) -> Analysis {
        Analysis {
            db: self.db.clone(),
        }
    }
}

/// A snapshot of the database. Cheap to make; hold it only while answering (a live snapshot
/// delays the host's next change until it is dropped or cancelled).
pub struct Analysis {
    db: RootDatabase,
}

impl Analysis {
    /// Runs `f` on the snapshot, turning salsa's cancellation into [`Cancelled`] (the one place
    /// this happens).
    fn with_db<T>(&self, f: impl FnOnce(&RootDatabase) -> T) -> Cancellable<T> {
        salsa::Cancelled::catch(AssertUnwindSafe(|| f(&self.db))).map_err(|_| Cancelled)
    }

    /// Like [`Analysis::with_db`], for a question about the file at `path`.
    fn with_file<T>(
        &self,
        path: &Path,
        f: impl FnOnce(&RootDatabase, SourceFile) -> T,
    ) -> Cancellable<T> {
        self.with_db(|db| {
            let file = db.source(path);
            f(db, file)
        })
    }

    /// Whether answering asked for files the host has not loaded yet: answers may then be
    /// missing what those files hold; the host loads them with [`Change::load_requested`].
    pub fn has_requested(&self) -> Cancellable<bool> {
        self.with_db(|db| db.has_requested())
    }

    /// The text of `path` as the snapshot holds it ("" when the file cannot be read): offsets in
    /// every answer are byte offsets into this text.
    pub fn file_text(&self, path: &Path) -> Cancellable<String> {
        self.with_file(path, |db, file| crate::file_text(db, file).to_string())
    }

    /// Why the file at `path` could not be read (missing, too large, not UTF-8, binary), when it
    /// could not.
    pub fn load_error(&self, path: &Path) -> Cancellable<Option<String>> {
        self.with_file(path, |db, file| {
            file.text(db).as_ref().err().map(|e| e.to_string())
        })
    }

    /// Every diagnostic of the file at `path`, sorted by position.
    pub fn diagnostics(&self, path: &Path) -> Cancellable<Vec<Diagnostic>> {
        self.with_file(path, |db, file| {
            tl_analysis::check::file_diagnostics(db, file)
                .iter()
                .map(|d| diagnostic(db, d))
                .collect()
        })
    }

    /// Hover at `offset`, with the ledger over `runs` for contracts that have run.
    pub fn hover(
        &self,
        path: &Path,
        offset: u32,
        runs: &[ContractRun],
    ) -> Cancellable<Option<Hover>> {
        self.with_file(path, |db, file| {
            crate::hover_with_runs(db, &workspace(db), file, offset, runs)
        })
    }

    pub fn completions(&self, path: &Path, offset: u32) -> Cancellable<Vec<CompletionItem>> {
        self.with_file(path, |db, file| crate::completions(db, file, offset))
    }

    pub fn signature_help(&self, path: &Path, offset: u32) -> Cancellable<Option<SignatureHelp>> {
        self.with_file(path, |db, file| crate::signature_help(db, file, offset))
    }

    pub fn definition(&self, path: &Path, offset: u32) -> Cancellable<Option<FileRange>> {
        self.with_file(path, |db, file| {
            crate::definition(db, file, offset).map(|r| file_range(db, r))
        })
    }

    /// References to the symbol at `offset` across every file the snapshot knows.
    pub fn references(
        &self,
        path: &Path,
        offset: u32,
        include_declaration: bool,
    ) -> Cancellable<Vec<FileRange>> {
        self.with_file(path, |db, file| {
            crate::references(db, &workspace(db), file, offset, include_declaration)
                .into_iter()
                .map(|r| file_range(db, r))
                .collect()
        })
    }

    pub fn prepare_rename(
        &self,
        path: &Path,
        offset: u32,
    ) -> Cancellable<Result<TextRange, RenameError>> {
        self.with_file(path, |db, file| crate::prepare_rename(db, file, offset))
    }

    pub fn rename(
        &self,
        path: &Path,
        offset: u32,
        new_name: &str,
    ) -> Cancellable<Result<Vec<FileEdit>, RenameError>> {
        self.with_file(path, |db, file| {
            crate::rename(db, &workspace(db), file, offset, new_name)
        })
    }

    pub fn document_symbols(&self, path: &Path) -> Cancellable<Vec<DocumentSymbol>> {
        self.with_file(path, |db, file| crate::document_symbols(db, file))
    }

    /// Symbols of every file the snapshot knows whose name fuzzily matches `query`.
    pub fn workspace_symbols(
        &self,
        query: &str,
        limit: usize,
    ) -> Cancellable<Vec<WorkspaceSymbol>> {
        self.with_db(|db| crate::workspace_symbols(db, &workspace(db), query, limit))
    }

    pub fn semantic_tokens(&self, path: &Path) -> Cancellable<Vec<SemanticToken>> {
        self.with_file(path, |db, file| crate::semantic_tokens(db, file))
    }

    pub fn folding_ranges(&self, path: &Path) -> Cancellable<Vec<Fold>> {
        self.with_file(path, |db, file| crate::folding_ranges(db, file))
    }

    pub fn inlay_hints(&self, path: &Path, range: TextRange) -> Cancellable<Vec<InlayHint>> {
        self.with_file(path, |db, file| crate::inlay::inlay_hints(db, file, range))
    }

    /// The formatted text, `None` when it is formatted already; `Err` when it does not parse.
    pub fn format_file(&self, path: &Path) -> Cancellable<Result<Option<String>, String>> {
        self.with_file(path, |db, file| crate::format_file(db, file))
    }

    pub fn code_actions(&self, path: &Path, range: TextRange) -> Cancellable<Vec<CodeAction>> {
        self.with_file(path, |db, file| crate::code_actions(db, file, range))
    }

    pub fn lens_targets(&self, path: &Path) -> Cancellable<Vec<LensTarget>> {
        self.with_file(path, |db, file| crate::lens_targets(db, file))
    }

    /// Every contract of the file with its status given `runs` (the ledger's, as `tlc verify`
    /// reports it), `running` for those in flight, else the analysis status.
    pub fn statuses_with_runs(
        &self,
        path: &Path,
        runs: &[ContractRun],
        running: &[String],
    ) -> Cancellable<Vec<ContractStatus>> {
        self.with_file(path, |db, file| {
            crate::statuses_with_runs(db, file, runs, running)
        })
    }

    /// The graph or block `name` in scope of the file, as a Mermaid flowchart.
    pub fn graph_mermaid(&self, path: &Path, name: &str) -> Cancellable<Option<String>> {
        self.with_file(path, |db, file| crate::graph_mermaid(db, file, name))
    }

    /// What `tlc graph` shows of the spec at `path`: the graph `name` (its only one when `None`)
    /// as the spec's mermaid view when `mermaid` (an imported model has only its IR), else its IR.
    pub fn graph_view(
        &self,
        path: &Path,
        name: Option<&str>,
        mermaid: bool,
    ) -> Cancellable<Result<crate::GraphView, crate::ViewError>> {
        self.with_db(|db| crate::graph_select::graph_view(db, path, name, mermaid))
    }

    /// The file's trust report as markdown (`tlc trust --format markdown` for one file).
    pub fn trust_markdown(&self, path: &Path, runs: &[ContractRun]) -> Cancellable<String> {
        self.with_file(path, |db, file| crate::trust_markdown(db, file, runs))
    }

    /// The text to show `path`'s diagnostics against: its text, or for a file that is not valid
    /// UTF-8 its bytes read lossily (so a diagnostic points at the bad byte), else "".
    pub fn display_text(&self, path: &Path) -> Cancellable<String> {
        self.with_file(path, |db, file| match file.text(db) {
            Ok(t) => t.clone(),
            Err(e) if e.offset().is_some() => tl_analysis::db::lossy_source(file.path(db)),
            Err(_) => String::new(),
        })
    }

    /// The graph `name` of the spec at `path` (its only one when `None`), lowered or imported,
    /// for running; refused when the spec has errors (see [`crate::runnable`]).
    pub fn resolve_graph(
        &self,
        path: &Path,
        name: Option<&str>,
    ) -> Cancellable<Result<crate::RunnableGraph, crate::GraphError>> {
        self.with_db(|db| crate::runnable::resolve_graph(db, path, name))
    }

    /// The derived float budgets of graph `name` of `path` (its only one when `None`) per node,
    /// over each equivalence contract's input set or an explicit box (`tlc tolerance`; reads the
    /// weights: never on the keystroke path). See [`crate::tolerance`].
    pub fn tolerance(
        &self,
        path: &Path,
        name: Option<&str>,
        request: &crate::tolerance::InputRequest,
    ) -> Cancellable<Result<crate::tolerance::ToleranceReport, crate::GraphError>> {
        self.with_db(|db| crate::tolerance::tolerance(db, path, name, request))
    }

    /// The named contracts of `path` in source order (for a batch run).
    pub fn contracts(&self, path: &Path) -> Cancellable<Vec<crate::ContractRef>> {
        self.with_file(path, |db, file| {
            crate::verification::contract_refs(db, file)
        })
    }

    /// Prepares one contract to run (`None`: the file no longer defines it).
    pub fn prepare_contract(
        &self,
        contract: &crate::ContractRef,
        opts: &VerifyOptions,
    ) -> Cancellable<Option<Prepared>> {
        self.with_db(|db| crate::verification::prepare_ref(db, contract, opts))
    }

    /// The ledger decides: sets each run's `status` to its contract's trust-ledger status over
    /// all `runs` (`contracts[i]` is the contract of `runs[i]`). `tlc verify` calls this once its
    /// methods have run; the editor's statuses go through the same ledger.
    pub fn decide_statuses(
        &self,
        contracts: &[crate::ContractRef],
        runs: &mut [ContractRun],
    ) -> Cancellable<()> {
        self.with_db(|db| crate::verification::decide(db, contracts, runs))
    }

    /// The trust report of `paths` (`tlc trust`): with `verify`, each error-free file's contracts
    /// (and those of the specs it imports) run first with `options`, and the ledgers decide.
    pub fn trust_report(
        &self,
        paths: &[PathBuf],
        verify: bool,
        options: &VerifyOptions,
    ) -> Cancellable<crate::trust::TrustReport> {
        self.with_db(|db| crate::trust::trust_report(db, paths, verify, options).0)
    }

    /// [`Analysis::trust_report`] and, with `verify`, every counterexample the contracts of
    /// `paths` got, replayed node by node in both engines (`tlc report`'s replay view).
    pub fn trust_report_with_replays(
        &self,
        paths: &[PathBuf],
        verify: bool,
        options: &VerifyOptions,
    ) -> Cancellable<(
        crate::trust::TrustReport,
        Vec<crate::trust::CounterexampleReplay>,
    )> {
        self.with_db(|db| crate::trust::trust_report(db, paths, verify, options))
    }

    /// The coverage of the graphs of the specs `path` imports.
    pub fn imported_coverage(&self, path: &Path) -> Cancellable<Vec<crate::trust::GraphCoverage>> {
        self.with_file(path, |db, file| crate::trust::imported_coverage(db, file))
    }

    /// The target graph and VNN-LIB file of the `given vnnlib(...)` contract `name` of `path`.
    pub fn contract_vnnlib_target(
        &self,
        path: &Path,
        name: &str,
    ) -> Cancellable<Result<(crate::RunnableGraph, PathBuf), crate::GraphError>> {
        self.with_db(|db| crate::runnable::contract_vnnlib_target(db, path, name))
    }

    /// The file's contracts (only `only`, when given) prepared to run: plain data, executed with
    /// [`crate::verify::execute`] after this snapshot is dropped.
    pub fn prepare_contracts(
        &self,
        path: &Path,
        only: Option<&str>,
        opts: &VerifyOptions,
    ) -> Cancellable<Vec<Prepared>> {
        self.with_file(path, |db, file| {
            crate::prepare_contracts(db, file, only, opts)
        })
    }
}

/// Every source file the snapshot knows and can read (the workspace for references and symbols).
fn workspace(db: &RootDatabase) -> Vec<SourceFile> {
    db.known_sources()
        .into_iter()
        .filter(|f| f.text(db).is_ok())
        .collect()
}

fn file_range(db: &dyn Db, r: SourceRange) -> FileRange {
    FileRange {
        path: r.file.path(db).clone(),
        range: r.range,
    }
}

fn span_range(db: &dyn Db, s: &FileSpan) -> FileRange {
    FileRange {
        path: s.file.path(db).clone(),
        range: s.range,
    }
}

pub(crate) fn diagnostic(db: &dyn Db, d: &ResolvedDiagnostic) -> Diagnostic {
    Diagnostic {
        code: d.code,
        severity: d.severity,
        message: d.message.clone(),
        range: span_range(db, &d.span),
        label: d.label.clone(),
        related: d
            .related
            .iter()
            .map(|(s, m)| (span_range(db, s), m.clone()))
            .collect(),
        notes: d.notes.clone(),
        help: d.help.clone(),
        unnecessary: d.unnecessary,
    }
}
