//! Verify runs for `tl.verifyFile`, `tl.verifyContract` and verify-on-save.
//!
//! A run prepares its contracts from a database snapshot on a blocking thread and drops the
//! snapshot before anything executes (a live snapshot would hold up the next edit), then runs
//! each contract with `verify::execute` on the blocking pool, reporting `$/progress` and
//! publishing `tl/status` as each one finishes. Between contracts it checks that it is still the
//! file's latest run and that the document has not changed: an edit or a newer run stops it
//! there, and a contract in flight is told to stop through `VerifyOptions::cancel` (a branch and
//! bound search stops at its next domain; sampling and single-pass bounds finish, they are short).
//! A result obtained after the flag was raised is dropped, never stored.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::Arc;

use serde::Serialize;
use tl_ide as ide;
use tl_ide::verify::{execute, Memo, Prepared};
use tower_lsp_server::jsonrpc::{Error, ErrorCode};
use tower_lsp_server::ls_types::notification::Progress;
use tower_lsp_server::ls_types::{
    ProgressParams, ProgressParamsValue, ProgressToken, Uri, WorkDoneProgress,
    WorkDoneProgressBegin, WorkDoneProgressEnd, WorkDoneProgressReport,
};
use tower_lsp_server::Client;

use crate::convert::Cx;
use crate::runs::Ticket;
use crate::state::{path_of, State};
use crate::writer::{status_params, ContractReport, StatusNotification};

/// What `tl.verifyFile` and `tl.verifyContract` answer once the run ends.
#[derive(Debug, Serialize)]
pub struct VerifySummary {
    pub uri: Uri,
    /// The run stopped early: the document changed or a newer run started.
    pub cancelled: bool,
    /// Contracts executed now (the others came from the result store).
    pub executed: usize,
    pub cached: usize,
    /// Every contract of the file with its status, as the last `tl/status` sent them.
    pub contracts: Vec<ContractReport>,
}

fn server_error(message: String) -> Error {
    Error {
        code: ErrorCode::ServerError(-32000),
        message: message.into(),
        data: None,
    }
}

/// A token for `$/progress`: the client's, else one the server creates when the client supports
/// server-initiated progress, else none (no progress is reported).
pub async fn progress_token(
    state: &State,
    client: &Client,
    given: Option<ProgressToken>,
) -> Option<ProgressToken> {
    if given.is_some() {
        return given;
    }
    if !state.progress_support.load(Ordering::SeqCst) {
        return None;
    }
    let n = state.progress_tokens.fetch_add(1, Ordering::SeqCst) + 1;
    let token = ProgressToken::String(format!("tl-verify-{n}"));
    client
        .create_work_done_progress(token.clone())
        .await
        .ok()
        .map(|()| token)
}

struct Reporter<'a> {
    client: &'a Client,
    token: Option<ProgressToken>,
}

impl Reporter<'_> {
    async fn send(&self, value: WorkDoneProgress) {
        if let Some(token) = &self.token {
            self.client
                .send_notification::<Progress>(ProgressParams {
                    token: token.clone(),
                    value: ProgressParamsValue::WorkDone(value),
                })
                .await;
        }
    }
    async fn begin(&self, title: String, message: String) {
        self.send(WorkDoneProgress::Begin(WorkDoneProgressBegin {
            title,
            cancellable: Some(false),
            message: Some(message),
            percentage: Some(0),
        }))
        .await;
    }
    async fn report(&self, message: String, done: usize, total: usize) {
        self.send(WorkDoneProgress::Report(WorkDoneProgressReport {
            cancellable: Some(false),
            message: Some(message),
            percentage: Some((done * 100 / total.max(1)) as u32),
        }))
        .await;
    }
    async fn end(&self, message: String) {
        self.send(WorkDoneProgress::End(WorkDoneProgressEnd {
            message: Some(message),
        }))
        .await;
    }
}

/// The open document's version (`None`: not open, the file on disk is verified).
fn version_of(state: &State, path: &Path) -> Option<i32> {
    state.lock_docs().get(path).map(|d| d.version)
}

/// Whether the run may go on: it is the file's latest and the document is unchanged.
fn still_wanted(state: &State, path: &Path, ticket: Ticket) -> bool {
    state.verify.is_current(path, ticket) && version_of(state, path) == ticket.version
}

/// Prepares the contracts on a blocking thread from a snapshot that is dropped before returning.
async fn prepare_all(
    state: &Arc<State>,
    path: PathBuf,
    only: Option<String>,
) -> Result<Option<(Vec<Prepared>, ide::ProjectSettings)>, Error> {
    let st = state.clone();
    let joined = tokio::task::spawn_blocking(move || {
        let settings = ide::project::project_settings(&path).map_err(server_error)?;
        let snapshot = st.analysis();
        let prepared = catch_unwind(AssertUnwindSafe(|| {
            snapshot.prepare_contracts(&path, only.as_deref(), &settings.options)
        }));
        drop(snapshot);
        match prepared {
            Ok(Ok(p)) => Ok(Some((p, settings))),
            // The document changed while preparing: this run is stale.
            Ok(Err(_cancelled)) => Ok(None),
            Err(_) => Err(server_error(
                "tl-lsp bug: preparing the contracts panicked (the server keeps running)".into(),
            )),
        }
    })
    .await;
    joined.unwrap_or_else(|e| Err(server_error(format!("tl-lsp: prepare task failed: {e}"))))
}

/// Computes the file's statuses from a fresh snapshot and sends `tl/status`, unless the document
/// moved on to another version (the writer publishes for that one).
pub async fn publish_status(
    state: &Arc<State>,
    client: &Client,
    uri: &Uri,
    version: Option<i32>,
) -> Option<Vec<ContractReport>> {
    let st = state.clone();
    let path = path_of(uri);
    let u = uri.clone();
    let status = tokio::task::spawn_blocking(move || {
        let snapshot = st.analysis();
        let uris = st.uris();
        let (runs, running) = st.verify.current(&path, version);
        catch_unwind(AssertUnwindSafe(|| {
            let cx = Cx::new(&snapshot, st.encoding(), &uris, st.docs_link());
            let text = cx.text(&path)?;
            status_params(&cx, &path, &u, &cx.index(&text), &runs, &running)
        }))
    })
    .await;
    let Ok(Ok(Ok(status))) = status else {
        return None;
    };
    if version_of(state, &path_of(uri)) != version {
        return None;
    }
    let contracts = status.contracts.clone();
    client.send_notification::<StatusNotification>(status).await;
    Some(contracts)
}

/// Runs the contracts of `uri` (only `only`, when given) and returns the summary.
pub async fn verify(
    state: Arc<State>,
    client: Client,
    uri: Uri,
    only: Option<String>,
    token: Option<ProgressToken>,
) -> Result<VerifySummary, Error> {
    state.caught_up().await;
    let path = path_of(&uri);
    let ticket = state.verify.begin(&path, version_of(&state, &path));
    let progress = Reporter {
        client: &client,
        token,
    };
    let file_name = path
        .file_name()
        .map_or_else(String::new, |n| n.to_string_lossy().into_owned());
    progress
        .begin(format!("Verifying {file_name}"), "reading contracts".into())
        .await;
    let (prepared, settings) = match prepare_all(&state, path.clone(), only.clone()).await {
        Ok(Some(p)) => p,
        Ok(None) => {
            progress.end("cancelled: the document changed".into()).await;
            return Ok(summary(&state, &client, &uri, ticket, true, 0, 0).await);
        }
        Err(e) => {
            progress.end(format!("failed: {}", e.message)).await;
            return Err(e);
        }
    };
    if let (Some(name), true) = (&only, prepared.is_empty()) {
        progress.end(format!("no contract `{name}`")).await;
        return Err(Error {
            code: ErrorCode::InvalidParams,
            message: format!("no contract named `{name}` in {file_name}").into(),
            data: None,
        });
    }
    let names: Vec<String> = prepared.iter().map(|p| p.name.clone()).collect();
    state.verify.set_running(&path, ticket, names);
    publish_status(&state, &client, &uri, ticket.version).await;

    let cache_dir = settings.cache_dir.clone();
    let opts = Arc::new(settings.options);
    let memo = Arc::new(Memo::default());
    let total = prepared.len();
    let (mut executed, mut cached, mut cancelled) = (0, 0, false);
    for (i, p) in prepared.into_iter().enumerate() {
        if !still_wanted(&state, &path, ticket) {
            cancelled = true;
            break;
        }
        progress
            .report(format!("{} ({}/{total})", p.name, i + 1), i, total)
            .await;
        let name = p.name.clone();
        let run = match state
            .verify
            .lookup(&p.cache_key, cache_dir.as_deref(), opts.timeout)
        {
            Some(run) => {
                cached += 1;
                run.for_contract(&p)
            }
            None => {
                let (o, m) = (opts.clone(), memo.clone());
                let handle = tokio::task::spawn_blocking(move || {
                    catch_unwind(AssertUnwindSafe(|| execute(&p, &o, &m)))
                });
                tokio::pin!(handle);
                // While the contract runs, an edit or a newer run raises the cancel flag, which
                // stops a branch-and-bound search at its next domain.
                let outcome = loop {
                    tokio::select! {
                        r = &mut handle => break r,
                        _ = tokio::time::sleep(std::time::Duration::from_millis(50)) => {
                            if !still_wanted(&state, &path, ticket) {
                                opts.cancel.store(true, Ordering::SeqCst);
                            }
                        }
                    }
                };
                if opts.cancel.load(Ordering::SeqCst) {
                    // Stopped early: the result is not the contract's and is neither stored nor shown.
                    cancelled = true;
                    break;
                }
                match outcome {
                    Ok(Ok(run)) => {
                        executed += 1;
                        state.verify.store(&run, cache_dir.as_deref(), opts.timeout);
                        run
                    }
                    _ => {
                        let message = format!(
                            "tl-lsp bug: verifying `{name}` panicked; its status is left as it was"
                        );
                        eprintln!("{message}");
                        progress.report(message, i + 1, total).await;
                        continue;
                    }
                }
            }
        };
        let line = format!("{name}: {}", run.evidence_status);
        state.verify.record(&path, ticket, run);
        publish_status(&state, &client, &uri, ticket.version).await;
        progress.report(line, i + 1, total).await;
    }
    let message = if cancelled {
        "cancelled: the document changed".to_string()
    } else {
        format!("{total} contract(s): {executed} run, {cached} from the cache")
    };
    progress.end(message).await;
    if state.lens_refresh.load(Ordering::SeqCst) {
        let _ = client.code_lens_refresh().await;
    }
    Ok(summary(&state, &client, &uri, ticket, cancelled, executed, cached).await)
}

async fn summary(
    state: &Arc<State>,
    client: &Client,
    uri: &Uri,
    ticket: Ticket,
    cancelled: bool,
    executed: usize,
    cached: usize,
) -> VerifySummary {
    let path = path_of(uri);
    if cancelled {
        state.verify.set_running(&path, ticket, Vec::new());
    }
    let contracts = if cancelled {
        // The document moved on: the writer publishes statuses for the new version.
        Vec::new()
    } else {
        publish_status(state, client, uri, ticket.version)
            .await
            .unwrap_or_default()
    };
    VerifySummary {
        uri: uri.clone(),
        cancelled,
        executed,
        cached,
        contracts,
    }
}
