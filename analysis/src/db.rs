//! The salsa database: its inputs (source texts, external files' headers) and the file registry.
//!
//! The inputs are a small VFS, as rust-analyzer's loader keeps: **no query reads the disk**. A
//! query that names a file the database does not know yet gets an input marked not loaded (the
//! file is "requested"); the host (outside every query) reads the requested files
//! with [`crate::vfs`] and sets them, which re-runs exactly the queries that asked
//! ([`RootDatabase::load_requested`], [`RootDatabase::settle`]).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use salsa::Setter;

/// A `.tl` source file. `text` is `None` when the file could not be read (missing, not UTF-8): the
/// error is reported where the file is imported.
#[salsa::input(debug)]
pub struct SourceFile {
    #[returns(ref)]
    pub path: PathBuf,
    #[returns(ref)]
    pub text: Result<String, LoadError>,
}

/// A file tl reads but does not parse as `.tl` (weights, ONNX models, VNN-LIB properties): what
/// the loader read of its header (never tensor data), and `stamp`, which changes whenever the file
/// on disk changes (length and modification time). The language server reloads it on
/// watched-file events.
#[salsa::input(debug)]
pub struct ExternalFile {
    #[returns(ref)]
    pub path: PathBuf,
    #[returns(copy)]
    pub stamp: u64,
    #[returns(ref)]
    pub content: crate::vfs::ExternalContent,
}

/// Why a source file has no text.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum LoadError {
    /// The loader has not read the file yet (a query asked for it; the host loads it next).
    NotLoaded,
    NotFound,
    NotUtf8 {
        valid_up_to: usize,
    },
    /// NUL bytes: an executable, an archive, a weight file named `.tl` by mistake.
    Binary {
        offset: usize,
    },
    TooLarge {
        bytes: u64,
    },
    Io(String),
}

impl std::fmt::Display for LoadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LoadError::NotLoaded => f.write_str("file not loaded yet"),
            LoadError::NotFound => f.write_str("file not found"),
            LoadError::NotUtf8 { valid_up_to } => write!(
                f,
                "not valid UTF-8 (first bad byte at offset {valid_up_to})"
            ),
            LoadError::TooLarge { bytes } => write!(
                f,
                "file is {bytes} bytes, over the {} byte limit",
                MAX_SOURCE_BYTES
            ),
            LoadError::Binary { offset } => {
                write!(f, "a binary file, not a spec (NUL byte at offset {offset})")
            }
            LoadError::Io(e) => f.write_str(e),
        }
    }
}

impl LoadError {
    /// Where a diagnostic should point: the first invalid UTF-8 byte. (A binary file is not
    /// shown, so its diagnostic stays at the start; its message gives the NUL's offset.)
    pub fn offset(&self) -> Option<usize> {
        match self {
            LoadError::NotUtf8 { valid_up_to } => Some(*valid_up_to),
            _ => None,
        }
    }
}

/// A file's bytes as text for showing where a [`LoadError`] is: invalid sequences become U+FFFD.
/// Everything before the first bad byte is valid, so that byte's offset is the same in this text.
pub fn lossy_source(path: &Path) -> String {
    match std::fs::read(path) {
        Ok(bytes) if bytes.len() as u64 <= MAX_SOURCE_BYTES => {
            String::from_utf8_lossy(&bytes).into_owned()
        }
        _ => String::new(),
    }
}

/// Specs larger than this are refused (a generated 10,000-node spec is about 0.5 MB).
pub const MAX_SOURCE_BYTES: u64 = 64 * 1024 * 1024;

/// Reads a spec from disk with the checks every front end needs. A leading UTF-8 byte order mark
/// is dropped, so positions count from the first character a reader sees.
pub fn read_source(path: &Path) -> Result<String, LoadError> {
    read_source_with_bom(path).map(|t| match t.strip_prefix('\u{FEFF}') {
        Some(rest) => rest.to_string(),
        None => t,
    })
}

/// [`read_source`] keeping a leading byte order mark (for `tlc fmt`, which drops it on writing).
pub fn read_source_with_bom(path: &Path) -> Result<String, LoadError> {
    let meta = std::fs::metadata(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => LoadError::NotFound,
        _ => LoadError::Io(e.to_string()),
    })?;
    if meta.len() > MAX_SOURCE_BYTES {
        return Err(LoadError::TooLarge { bytes: meta.len() });
    }
    let bytes = std::fs::read(path).map_err(|e| LoadError::Io(e.to_string()))?;
    // The first problem wins, so the offset a diagnostic shows is the first bad byte and the
    // text before it is valid UTF-8 (what `lossy_source` relies on).
    let nul = bytes.iter().position(|&b| b == 0);
    match String::from_utf8(bytes) {
        Ok(text) => match nul {
            Some(offset) => Err(LoadError::Binary { offset }),
            None => Ok(text),
        },
        Err(e) => {
            let valid_up_to = e.utf8_error().valid_up_to();
            match nul {
                Some(offset) if offset < valid_up_to => Err(LoadError::Binary { offset }),
                _ => Err(LoadError::NotUtf8 { valid_up_to }),
            }
        }
    }
}

/// Length and modification time of a file, folded into one number (0 when absent).
pub fn file_stamp(path: &Path) -> u64 {
    match std::fs::metadata(path) {
        Ok(m) => {
            let mtime = m
                .modified()
                .ok()
                .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                .map(|d| d.as_nanos() as u64)
                .unwrap_or(0);
            m.len().wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ mtime ^ 1
        }
        Err(_) => 0,
    }
}

/// What every query can ask of the database beyond salsa itself.
#[salsa::db]
pub trait Db: salsa::Database {
    /// The source file at `path` (normalised) as the loader or an editor set it; a path not
    /// loaded yet is requested (its text is [`LoadError::NotLoaded`] until the host loads it).
    fn source(&self, path: &Path) -> SourceFile;
    /// The external file at `path`; like [`Db::source`], requested when not loaded yet.
    fn external(&self, path: &Path) -> ExternalFile;
}

/// The database behind the CLI and the language server.
#[salsa::db]
#[derive(Clone)]
pub struct RootDatabase {
    storage: salsa::Storage<Self>,
    files: Arc<Mutex<HashMap<PathBuf, SourceFile>>>,
    externals: Arc<Mutex<HashMap<PathBuf, ExternalFile>>>,
    executions: Arc<Mutex<Option<Vec<String>>>>,
}

impl Default for RootDatabase {
    fn default() -> Self {
        let executions: Arc<Mutex<Option<Vec<String>>>> = Arc::default();
        let log = executions.clone();
        RootDatabase {
            storage: salsa::Storage::new(Some(Box::new(move |event| {
                if let salsa::EventKind::WillExecute { database_key } = event.kind {
                    if let Some(log) = log.lock().expect("log lock").as_mut() {
                        log.push(format!("{database_key:?}"));
                    }
                }
            }))),
            files: Arc::default(),
            externals: Arc::default(),
            executions,
        }
    }
}

#[salsa::db]
impl salsa::Database for RootDatabase {}

#[salsa::db]
impl Db for RootDatabase {
    fn source(&self, path: &Path) -> SourceFile {
        let path = normalize(path);
        let mut files = self.files.lock().expect("files lock");
        if let Some(f) = files.get(&path) {
            return *f;
        }
        let file = SourceFile::new(self, path.clone(), Err(LoadError::NotLoaded));
        files.insert(path, file);
        file
    }

    fn external(&self, path: &Path) -> ExternalFile {
        let path = normalize(path);
        let mut ext = self.externals.lock().expect("externals lock");
        if let Some(f) = ext.get(&path) {
            return *f;
        }
        let file = ExternalFile::new(
            self,
            path.clone(),
            0,
            crate::vfs::ExternalContent::NotLoaded,
        );
        ext.insert(path, file);
        file
    }
}

impl RootDatabase {
    /// Sets the text of a file (an editor buffer or a freshly read file), creating it if needed.
    pub fn set_source_text(&mut self, path: &Path, text: String) -> SourceFile {
        let path = normalize(path);
        let existing = self.files.lock().expect("files lock").get(&path).copied();
        match existing {
            Some(file) => {
                if file.text(self).as_ref().ok() != Some(&text) {
                    let _previous = file.set_text(self).to(Ok(text));
                }
                file
            }
            None => {
                let file = SourceFile::new(self, path.clone(), Ok(text));
                self.files.lock().expect("files lock").insert(path, file);
                file
            }
        }
    }

    /// Re-reads a known file from disk (after a watched-file event or when an editor closes it):
    /// a source's text, or an external file's header.
    pub fn reload_source(&mut self, path: &Path) {
        let path = normalize(path);
        let existing = self.files.lock().expect("files lock").get(&path).copied();
        if let Some(file) = existing {
            self.set_loaded_text(file, read_source(&path));
        }
        let ext = self
            .externals
            .lock()
            .expect("externals lock")
            .get(&path)
            .copied();
        if let Some(ext) = ext {
            let (stamp, content) = crate::vfs::load_external(&path);
            self.set_external(ext, stamp, content);
        }
    }

    /// Loads a `.tl` file from disk unless the database knows it already (a workspace scan, the
    /// files named on `tlc`'s command line).
    pub fn load_source(&mut self, path: &Path) -> SourceFile {
        let path = normalize(path);
        let existing = self.files.lock().expect("files lock").get(&path).copied();
        match existing {
            Some(file) if !matches!(file.text(self), Err(LoadError::NotLoaded)) => file,
            Some(file) => {
                self.set_loaded_text(file, read_source(&path));
                file
            }
            None => {
                let file = SourceFile::new(self, path.clone(), read_source(&path));
                self.files.lock().expect("files lock").insert(path, file);
                file
            }
        }
    }

    /// Sets an external file's content from bytes held in memory (a VFS without a disk behind
    /// it), as the loader would have read them from a file at `path`.
    pub fn set_external_bytes(&mut self, path: &Path, bytes: &[u8]) -> ExternalFile {
        let path = normalize(path);
        let content = crate::vfs::external_from_bytes(&path, bytes);
        let stamp = crate::vfs::bytes_stamp(bytes);
        let existing = self
            .externals
            .lock()
            .expect("externals lock")
            .get(&path)
            .copied();
        match existing {
            Some(ext) => {
                self.set_external(ext, stamp, content);
                ext
            }
            None => {
                let ext = ExternalFile::new(self, path.clone(), stamp, content);
                self.externals
                    .lock()
                    .expect("externals lock")
                    .insert(path, ext);
                ext
            }
        }
    }

    /// Whether queries asked for files that are not loaded yet, as this database (or snapshot)
    /// sees its inputs. A snapshot's inputs cannot change while it lives, so a snapshot that says
    /// `false` computed every answer over loaded files.
    pub fn has_requested(&self) -> bool {
        let files: Vec<SourceFile> = self
            .files
            .lock()
            .expect("files lock")
            .values()
            .copied()
            .collect();
        let externals: Vec<ExternalFile> = self
            .externals
            .lock()
            .expect("externals lock")
            .values()
            .copied()
            .collect();
        files
            .iter()
            .any(|f| matches!(f.text(self), Err(LoadError::NotLoaded)))
            || externals
                .iter()
                .any(|e| matches!(e.content(self), crate::vfs::ExternalContent::NotLoaded))
    }

    /// Reads every file queries asked for that is not loaded yet from disk (outside any query)
    /// and sets it; returns how many were loaded.
    pub fn load_requested(&mut self) -> usize {
        let files: Vec<(PathBuf, SourceFile)> = self
            .files
            .lock()
            .expect("files lock")
            .iter()
            .map(|(p, f)| (p.clone(), *f))
            .collect();
        let externals: Vec<(PathBuf, ExternalFile)> = self
            .externals
            .lock()
            .expect("externals lock")
            .iter()
            .map(|(p, f)| (p.clone(), *f))
            .collect();
        let mut loaded = 0;
        for (path, file) in files {
            if matches!(file.text(self), Err(LoadError::NotLoaded)) {
                self.set_loaded_text(file, read_source(&path));
                loaded += 1;
            }
        }
        for (path, ext) in externals {
            if matches!(ext.content(self), crate::vfs::ExternalContent::NotLoaded) {
                let (stamp, content) = crate::vfs::load_external(&path);
                self.set_external(ext, stamp, content);
                loaded += 1;
            }
        }
        loaded
    }

    /// Loads what the diagnostics of `files` need until nothing more is requested: the imports,
    /// weight files and models they name, transitively. Queries that ran on a file not loaded yet
    /// re-run once it is set.
    pub fn settle(&mut self, files: &[SourceFile]) {
        // Each round loads at least one file; the bound only guards against a bug looping.
        for _ in 0..1024 {
            for &f in files {
                let _ = crate::check::file_diagnostics(self, f);
            }
            if self.load_requested() == 0 {
                return;
            }
        }
    }

    fn set_loaded_text(&mut self, file: SourceFile, text: Result<String, LoadError>) {
        if *file.text(self) != text {
            let _previous = file.set_text(self).to(text);
        }
    }

    fn set_external(
        &mut self,
        ext: ExternalFile,
        stamp: u64,
        content: crate::vfs::ExternalContent,
    ) {
        if ext.stamp(self) != stamp || *ext.content(self) != content {
            ext.set_stamp(self).to(stamp);
            let _previous = ext.set_content(self).to(content);
        }
    }

    /// Every source file the database knows, in path order.
    pub fn known_sources(&self) -> Vec<SourceFile> {
        let files = self.files.lock().expect("files lock");
        let mut all: Vec<(PathBuf, SourceFile)> =
            files.iter().map(|(p, f)| (p.clone(), *f)).collect();
        all.sort_by(|a, b| a.0.cmp(&b.0));
        all.into_iter().map(|(_, f)| f).collect()
    }

    /// Starts recording which queries execute (for tests and the incremental benchmark).
    pub fn start_logging(&self) {
        *self.executions.lock().expect("log lock") = Some(Vec::new());
    }

    /// The queries executed since logging started or the last call, as `query(id)` strings.
    pub fn take_executions(&self) -> Vec<String> {
        self.executions
            .lock()
            .expect("log lock")
            .as_mut()
            .map(std::mem::take)
            .unwrap_or_default()
    }
}

/// Makes a path absolute and removes `.`/`..` without touching the file system (files may not
/// exist yet, and symlinked paths must stay as the user wrote them).
pub fn normalize(path: &Path) -> PathBuf {
    let abs = if path.is_absolute() {
        path.to_path_buf()
    } else {
        std::env::current_dir()
            .map(|d| d.join(path))
            .unwrap_or_else(|_| path.to_path_buf())
    };
    let mut out = PathBuf::new();
    for c in abs.components() {
        match c {
            std::path::Component::CurDir => {}
            std::path::Component::ParentDir => {
                out.pop();
            }
            other => out.push(other),
        }
    }
    out
}
