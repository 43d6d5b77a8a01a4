//! Server state shared by the handlers and the writer: the analysis host, open documents,
//! negotiated settings, and the edit queue's sequence numbers.
//!
//! The `tl_ide::AnalysisHost` lives behind a mutex. Readers lock it only to take an `Analysis`
//! snapshot (on a blocking thread, never across an `.await`); the single writer locks it to apply
//! a `Change`, which cancels the answers computing on older snapshots (`tl_ide::Cancelled`), so a
//! burst of edits never queues stale analyses.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard, OnceLock, PoisonError};

use tl_ide::{Analysis, AnalysisHost};
use tokio::sync::{mpsc, watch};
use tower_lsp_server::ls_types::{TextDocumentContentChangeEvent, Uri};

use crate::document::Document;
use crate::position::Encoding;
use crate::runs::Runs;

/// An edit for the single writer, applied in arrival order.
pub enum Edit {
    Open {
        path: PathBuf,
        uri: Uri,
        version: i32,
        text: String,
    },
    Change {
        path: PathBuf,
        version: i32,
        changes: Vec<TextDocumentContentChangeEvent>,
    },
    Close {
        path: PathBuf,
    },
    /// Files changed on disk (watched-file events).
    Reload {
        paths: Vec<PathBuf>,
    },
    /// Load every `.tl` file under a workspace root (for references and workspace symbols).
    Scan {
        root: PathBuf,
    },
    /// Read the files an analysis asked for that are not loaded yet (imports, weight headers,
    /// models): the queries never read the disk, the writer does.
    LoadRequested,
}

pub struct State {
    pub host: Mutex<AnalysisHost>,
    pub docs: Mutex<HashMap<PathBuf, Document>>,
    pub encoding: OnceLock<Encoding>,
    pub inlay_hints: AtomicBool,
    pub snippets: AtomicBool,
    /// Verify a file's contracts when it is saved (setting `verifyOnSave`, default on).
    pub verify_on_save: AtomicBool,
    /// The client accepts `window/workDoneProgress/create`.
    pub progress_support: AtomicBool,
    /// The client accepts `workspace/codeLens/refresh`.
    pub lens_refresh: AtomicBool,
    pub progress_tokens: AtomicU64,
    /// Verify results and runs in flight.
    pub verify: Runs,
    /// `file:///.../docs/diagnostics.md` when the docs are found.
    pub docs_link: OnceLock<Option<String>>,
    edits: mpsc::UnboundedSender<(u64, Edit)>,
    enqueued: AtomicU64,
    pub applied: watch::Sender<u64>,
    /// Bumped per publish round; a round that finds a newer one started publishes nothing.
    pub generation: AtomicU64,
}

impl State {
    pub fn new() -> (State, mpsc::UnboundedReceiver<(u64, Edit)>) {
        let (tx, rx) = mpsc::unbounded_channel();
        let state = State {
            host: Mutex::new(AnalysisHost::new()),
            docs: Mutex::new(HashMap::new()),
            encoding: OnceLock::new(),
            inlay_hints: AtomicBool::new(true),
            snippets: AtomicBool::new(true),
            verify_on_save: AtomicBool::new(true),
            progress_support: AtomicBool::new(false),
            lens_refresh: AtomicBool::new(false),
            progress_tokens: AtomicU64::new(0),
            verify: Runs::default(),
            docs_link: OnceLock::new(),
            edits: tx,
            enqueued: AtomicU64::new(0),
            applied: watch::Sender::new(0),
            generation: AtomicU64::new(0),
        };
        (state, rx)
    }

    pub fn encoding(&self) -> Encoding {
        *self.encoding.get().unwrap_or(&Encoding::Utf16)
    }

    pub fn docs_link(&self) -> Option<&str> {
        self.docs_link.get().and_then(|d| d.as_deref())
    }

    /// Queues an edit for the writer.
    pub fn submit(&self, edit: Edit) {
        let seq = self.enqueued.fetch_add(1, Ordering::SeqCst) + 1;
        // The receiver only goes away when the server stops.
        let _ = self.edits.send((seq, edit));
    }

    /// Waits until every edit queued before this call is in the database, so a request never
    /// answers about text older than what the client sent before it.
    pub async fn caught_up(&self) {
        let target = self.enqueued.load(Ordering::SeqCst);
        let mut rx = self.applied.subscribe();
        let _ = rx.wait_for(|&applied| applied >= target).await;
    }

    pub fn lock_host(&self) -> MutexGuard<'_, AnalysisHost> {
        self.host.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A snapshot of the current inputs (the host's lock is held only while taking it).
    pub fn analysis(&self) -> Analysis {
        self.lock_host().analysis()
    }

    pub fn lock_docs(&self) -> MutexGuard<'_, HashMap<PathBuf, Document>> {
        self.docs.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// URIs of the open documents, by path.
    pub fn uris(&self) -> HashMap<PathBuf, Uri> {
        self.lock_docs()
            .iter()
            .map(|(p, d)| (p.clone(), d.uri.clone()))
            .collect()
    }
}

/// The database path of a document: its file path, or a stable made-up path for `untitled:` and
/// other non-file URIs (so they can be analysed, without imports resolving next to them).
pub fn path_of(uri: &Uri) -> PathBuf {
    if uri.as_str().starts_with("file:") {
        if let Some(p) = uri.to_file_path() {
            return tl_ide::normalize_path(&p);
        }
    }
    let safe: String = uri
        .as_str()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' {
                c
            } else {
                '_'
            }
        })
        .collect();
    Path::new("/__tl_buffers__").join(safe)
}
