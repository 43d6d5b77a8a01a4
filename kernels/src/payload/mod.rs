//! Payload files: weight loaders for `.npy` and `.safetensors`, and a header-only inspection that
//! returns names, shapes and dtypes without reading tensor data (analysis uses it to check a
//! spec's declared params cheaply).

pub(crate) mod decode;
pub mod npy;
pub mod safetensors;

use crate::dtype::DType;
use crate::error::{PayloadError, PayloadResult};
use std::path::Path;

/// What a file declares about one tensor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TensorInfo {
    pub name: String,
    pub dtype: DType,
    pub shape: Vec<usize>,
}

/// The tensors a weight file declares, read from its header only. `.npy` files hold one tensor,
/// named after the file stem.
pub fn inspect(path: &Path) -> PayloadResult<Vec<TensorInfo>> {
    match extension(path).as_deref() {
        Some("npy") => npy::read_header(path).map(|h| vec![h.info]),
        Some("safetensors") => safetensors::SafeTensorsFile::open(path).map(|f| f.infos()),
        _ => Err(unknown_format(path)),
    }
}

fn extension(path: &Path) -> Option<String> {
    path.extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase)
}

fn unknown_format(path: &Path) -> PayloadError {
    PayloadError::UnsupportedDType {
        path: path.display().to_string(),
        dtype: "(unknown file format: expected .npy or .safetensors)".into(),
    }
}

pub(crate) fn io_error(path: &Path, e: std::io::Error) -> PayloadError {
    PayloadError::Io {
        path: path.display().to_string(),
        message: e.to_string(),
    }
}
