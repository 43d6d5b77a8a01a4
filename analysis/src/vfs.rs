//! The loader's side of the VFS: what is read from an external file (weights, ONNX models,
//! VNN-LIB properties) before it enters the database. Only headers: tensor names, dtypes and
//! shapes, an ONNX model's graph with its small constants; never the tensor data, which the
//! executors read when a check runs (`lower::SpecPayload`, `verify::prepare`).
//!
//! Called by the host (`RootDatabase::load_requested`, `reload_source`), never by a query.

use std::path::Path;
use std::sync::Arc;

use tl_kernels::onnx::OnnxModel;

use crate::diagnostics::parse_code;
use crate::payload::{is_onnx_file, HeaderEntry};

/// What the loader read of an external file.
#[derive(Clone, Debug, PartialEq)]
pub enum ExternalContent {
    /// Not read yet: a query asked for it and the host loads it next.
    NotLoaded,
    /// No such file.
    Missing,
    /// An ONNX model's header (`tl_kernels::onnx::load_header`), or the loader's coded error.
    Onnx(Result<Arc<OnnxModel>, (u16, String)>),
    /// Any other file, read as a weight file's header (`tl_kernels::payload::inspect`): its
    /// tensors, or the coded error (also what a VNN-LIB file gets; no query reads those).
    Weights(Result<Vec<HeaderEntry>, (u16, String)>),
}

impl ExternalContent {
    pub fn exists(&self) -> bool {
        !matches!(self, ExternalContent::Missing | ExternalContent::NotLoaded)
    }
}

/// Reads the header of the file at `path` (see the module docs), with its stamp.
pub fn load_external(path: &Path) -> (u64, ExternalContent) {
    let stamp = crate::db::file_stamp(path);
    if !path.is_file() {
        return (stamp, ExternalContent::Missing);
    }
    let content = if is_onnx_file(path) {
        ExternalContent::Onnx(
            tl_kernels::onnx::load_header(path)
                .map(Arc::new)
                .map_err(|e| (parse_code(e.code()).unwrap_or(301), e.to_string())),
        )
    } else {
        ExternalContent::Weights(
            tl_kernels::payload::inspect(path)
                .map(|infos| infos.into_iter().map(HeaderEntry::from).collect())
                .map_err(|e| (parse_code(e.code()).unwrap_or(301), e.to_string())),
        )
    };
    (stamp, content)
}

/// The content of a file at `path` whose bytes are held in memory (an ONNX model; other formats
/// are read from disk only, and get the loader's error here).
pub fn external_from_bytes(path: &Path, bytes: &[u8]) -> ExternalContent {
    if is_onnx_file(path) {
        let base = path.parent().unwrap_or(Path::new("."));
        ExternalContent::Onnx(
            tl_kernels::onnx::decode_header(
                path,
                base,
                std::io::Cursor::new(bytes),
                bytes.len() as u64,
            )
            .map(Arc::new)
            .map_err(|e| (parse_code(e.code()).unwrap_or(301), e.to_string())),
        )
    } else {
        ExternalContent::Weights(Err((
            301,
            format!(
                "{}: only ONNX models can be given from memory",
                path.display()
            ),
        )))
    }
}

/// A stamp for in-memory bytes (changes when they do).
pub fn bytes_stamp(bytes: &[u8]) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    bytes.hash(&mut h);
    h.finish() | 1
}
