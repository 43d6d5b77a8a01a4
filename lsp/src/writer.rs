//! The single writer: applies document edits and file events in arrival order, then publishes
//! diagnostics and `tl/status` for the open documents. A burst of edits is drained and applied as
//! one database write; analyses of older versions are cancelled or skipped, never queued.
//! Contract statuses include the verify results recorded for the version analysed.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use tl_ide::verify::ContractRun;
use tl_ide::{Cancellable, Change};
use tokio::sync::mpsc;
use tower_lsp_server::ls_types::{notification::Notification, Diagnostic, Range, Uri};
use tower_lsp_server::Client;

use crate::convert::Cx;
use crate::document::Document;
use crate::position::LineIndex;
use crate::state::{Edit, State};

/// `tl/status`: every contract of one file with its status.
pub enum StatusNotification {}

impl Notification for StatusNotification {
    type Params = StatusParams;
    const METHOD: &'static str = "tl/status";
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct StatusParams {
    pub uri: Uri,
    pub contracts: Vec<ContractReport>,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct ContractReport {
    pub name: String,
    pub range: Range,
    pub status: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub method: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub millis: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// Most `.tl` files a workspace scan loads (a guard against scanning a home directory).
const MAX_SCANNED_FILES: usize = 5000;

/// What a batch of edits asks of the analysis host.
enum Write {
    Set(PathBuf, String),
    Reload(PathBuf),
    Load(PathBuf),
    LoadRequested,
}

pub async fn run(state: Arc<State>, client: Client, mut rx: mpsc::UnboundedReceiver<(u64, Edit)>) {
    while let Some(first) = rx.recv().await {
        let mut batch = vec![first];
        while let Ok(next) = rx.try_recv() {
            batch.push(next);
        }
        let last_seq = batch.last().map_or(0, |b| b.0);
        let mut closed: Vec<Uri> = Vec::new();
        let writes = {
            let mut docs = state.lock_docs();
            let encoding = state.encoding();
            let mut writes: Vec<Write> = Vec::new();
            for (_, edit) in batch {
                let applied = catch_unwind(AssertUnwindSafe(|| {
                    apply(&state, &mut docs, edit, encoding, &mut writes, &mut closed)
                }));
                if applied.is_err() {
                    eprintln!("tl-lsp: an edit could not be applied (bug); the document may be out of sync");
                }
            }
            dedup_sets(writes)
        };
        let st = state.clone();
        let done = tokio::task::spawn_blocking(move || {
            catch_unwind(AssertUnwindSafe(|| {
                let mut change = Change::new();
                for w in writes {
                    match w {
                        Write::Set(path, text) => change.set_file_text(path, text),
                        Write::Reload(path) => change.file_changed_on_disk(path),
                        Write::Load(path) => change.load_file(path),
                        Write::LoadRequested => change.load_requested(),
                    }
                }
                st.lock_host().apply_change(change);
            }))
        })
        .await;
        if !matches!(done, Ok(Ok(()))) {
            eprintln!("tl-lsp: a database write failed (bug)");
        }
        state.applied.send_replace(last_seq);
        for uri in closed {
            client.publish_diagnostics(uri, Vec::new(), None).await;
        }
        tokio::spawn(publish(state.clone(), client.clone()));
    }
}

fn apply(
    state: &State,
    docs: &mut std::collections::HashMap<PathBuf, Document>,
    edit: Edit,
    encoding: crate::position::Encoding,
    writes: &mut Vec<Write>,
    closed: &mut Vec<Uri>,
) {
    match edit {
        Edit::Open {
            path,
            uri,
            version,
            text,
        } => {
            writes.push(Write::Set(path.clone(), text.clone()));
            // Version numbers start over with a new open: earlier results no longer match them.
            state.verify.forget(&path);
            docs.insert(path, Document::new(uri, version, &text));
        }
        Edit::Change {
            path,
            version,
            changes,
        } => {
            if let Some(doc) = docs.get_mut(&path) {
                for c in &changes {
                    doc.apply(c, encoding);
                }
                doc.version = version;
                writes.push(Write::Set(path, doc.text()));
            }
        }
        Edit::Close { path } => {
            if let Some(doc) = docs.remove(&path) {
                state.verify.forget(&path);
                closed.push(doc.uri);
                writes.push(Write::Reload(path));
            }
        }
        Edit::Reload { paths } => {
            // Weights, data or an imported spec changed: shown results may no longer hold.
            state.verify.forget_all();
            for p in paths {
                if !docs.contains_key(&p) {
                    writes.push(Write::Reload(p.clone()));
                    if p.extension().is_some_and(|e| e == "tl") && p.exists() {
                        writes.push(Write::Load(p));
                    }
                }
            }
        }
        Edit::LoadRequested => writes.push(Write::LoadRequested),
        Edit::Scan { root } => {
            let mut found = Vec::new();
            scan(&root, &mut found, 0);
            writes.extend(
                found
                    .into_iter()
                    .filter(|p| !docs.contains_key(p))
                    .map(Write::Load),
            );
        }
    }
}

/// Keeps only the last `Set` of each path (a burst of keystrokes is one write).
fn dedup_sets(writes: Vec<Write>) -> Vec<Write> {
    let mut out: Vec<Write> = Vec::new();
    for w in writes {
        if let Write::Set(p, _) = &w {
            out.retain(|o| !matches!(o, Write::Set(q, _) if q == p));
        }
        out.push(w);
    }
    out
}

fn scan(dir: &Path, out: &mut Vec<PathBuf>, depth: usize) {
    if depth > 12 || out.len() >= MAX_SCANNED_FILES {
        return;
    }
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let name = e.file_name();
        let name = name.to_string_lossy();
        if name.starts_with('.') || name == "target" || name == "node_modules" {
            continue;
        }
        let Ok(ft) = e.file_type() else { continue };
        let path = e.path();
        if ft.is_dir() {
            scan(&path, out, depth + 1);
        } else if ft.is_file() && path.extension().is_some_and(|x| x == "tl") {
            out.push(tl_ide::normalize_path(&path));
            if out.len() >= MAX_SCANNED_FILES {
                return;
            }
        }
    }
}

/// One document's results: diagnostics and contract statuses, for the version analysed.
struct Published {
    uri: Uri,
    version: i32,
    path: PathBuf,
    diagnostics: Vec<Diagnostic>,
    status: StatusParams,
}

/// Publishes diagnostics and statuses for every open document, unless a newer round starts first.
pub async fn publish(state: Arc<State>, client: Client) {
    let generation = state.generation.fetch_add(1, Ordering::SeqCst) + 1;
    let st = state.clone();
    let computed = tokio::task::spawn_blocking(move || {
        let snapshot = st.analysis();
        // With each version its text: the writer updates a document before the database, so a
        // snapshot taken in between holds the previous text. Such a document is skipped here
        // (the database write that follows publishes it); publishing would label the previous
        // text's diagnostics with the new version.
        let open: Vec<(PathBuf, Uri, i32, ropey::Rope)> = st
            .lock_docs()
            .iter()
            .map(|(p, d)| (p.clone(), d.uri.clone(), d.version, d.rope.clone()))
            .collect();
        let uris = open
            .iter()
            .map(|(p, u, _, _)| (p.clone(), u.clone()))
            .collect();
        catch_unwind(AssertUnwindSafe(|| {
            let cx = Cx::new(&snapshot, st.encoding(), &uris, st.docs_link());
            let mut out = Vec::new();
            for (path, uri, version, rope) in &open {
                let readable = cx.analysis.load_error(path)?.is_none();
                if !(readable && *rope == cx.text(path)?.as_str()) {
                    continue;
                }
                let (runs, running) = st.verify.current(path, Some(*version));
                out.push(analyse(&cx, path, uri, *version, &runs, &running)?);
            }
            if snapshot.has_requested()? {
                // The analysis named files not loaded yet: these results lack them. The writer
                // loads them and publishes again.
                st.submit(Edit::LoadRequested);
                return Err(tl_ide::Cancelled);
            }
            Ok::<_, tl_ide::Cancelled>(out)
        }))
    })
    .await;
    let Ok(Ok(Ok(results))) = computed else {
        // Cancelled by a newer write (which publishes itself) or a bug, reported once.
        if !matches!(computed, Ok(Ok(Err(tl_ide::Cancelled)))) {
            eprintln!("tl-lsp: computing diagnostics failed (bug)");
        }
        return;
    };
    for r in results {
        if state.generation.load(Ordering::SeqCst) != generation {
            return;
        }
        let current = state.lock_docs().get(&r.path).map(|d| d.version);
        if current != Some(r.version) {
            continue;
        }
        client
            .publish_diagnostics(r.uri, r.diagnostics, Some(r.version))
            .await;
        client
            .send_notification::<StatusNotification>(r.status)
            .await;
    }
}

fn analyse(
    cx: &Cx<'_>,
    path: &Path,
    uri: &Uri,
    version: i32,
    runs: &[ContractRun],
    running: &[String],
) -> Cancellable<Published> {
    let text = cx.text(path)?;
    let index = cx.index(&text);
    // Diagnostics located in this file (an import's own errors are published for that file).
    let here = tl_ide::normalize_path(path);
    let mut diagnostics = Vec::new();
    for d in cx.analysis.diagnostics(path)? {
        if d.range.path == here {
            diagnostics.push(cx.diagnostic(&d, &index)?);
        }
    }
    let status = status_params(cx, path, uri, &index, runs, running)?;
    Ok(Published {
        uri: uri.clone(),
        version,
        path: path.to_path_buf(),
        diagnostics,
        status,
    })
}

/// Every contract of `path` with its status: the trust ledger's over `runs` where a contract
/// has one (what `tlc verify` prints), `running` for those in flight, else the analysis status.
pub fn status_params(
    cx: &Cx<'_>,
    path: &Path,
    uri: &Uri,
    index: &LineIndex<'_>,
    runs: &[ContractRun],
    running: &[String],
) -> Cancellable<StatusParams> {
    Ok(StatusParams {
        uri: uri.clone(),
        contracts: cx
            .analysis
            .statuses_with_runs(path, runs, running)?
            .into_iter()
            .map(|c| ContractReport {
                name: c.name,
                range: index.range(c.range),
                status: c.status.to_string(),
                method: c.method,
                millis: c.millis,
                message: Some(c.message),
            })
            .collect(),
    })
}
