//! `.safetensors` reader over a memory map: opening parses and validates the JSON header only
//! (tensor data pages are not touched until a tensor is read).

use super::decode::{decode_tensor, Origin};
use super::{io_error, TensorInfo};
use crate::dtype::DType;
use crate::error::{PayloadError, PayloadResult};
use crate::tensor::Tensor;
use memmap2::Mmap;
use safetensors::tensor::{Dtype, SafeTensorError};
use safetensors::SafeTensors;
use std::path::Path;

/// An open `.safetensors` file.
pub struct SafeTensorsFile {
    label: String,
    map: Mmap,
    /// Start of the data section.
    data_start: usize,
    /// Sorted by name: (info, byte range within the data section).
    entries: Vec<(TensorInfo, (usize, usize))>,
}

impl std::fmt::Debug for SafeTensorsFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SafeTensorsFile")
            .field("path", &self.label)
            .field("tensors", &self.entries.len())
            .finish()
    }
}

impl SafeTensorsFile {
    /// Maps the file and validates its header (offsets contiguous, sizes matching shapes, no
    /// overflow, total length equal to the file length).
    pub fn open(path: &Path) -> PayloadResult<Self> {
        let label = path.display().to_string();
        let file = std::fs::File::open(path).map_err(|e| io_error(path, e))?;
        let len = file.metadata().map_err(|e| io_error(path, e))?.len();
        if len < 8 {
            return Err(st_err(
                &label,
                format!("file has {len} bytes, shorter than the 8-byte header length"),
            ));
        }
        // SAFETY: the map is read-only and private to this value. If another process truncates
        // the file while it is mapped, reads may fault; weight files are not edited in place
        // while tl runs, which is the usual contract for memory-mapped model files.
        let map = unsafe { Mmap::map(&file) }.map_err(|e| io_error(path, e))?;
        let (header_len, metadata) =
            SafeTensors::read_metadata(&map).map_err(|e| convert(&label, e))?;
        let mut entries = Vec::new();
        for (name, info) in metadata.tensors() {
            let dtype = dtype_of(info.dtype).ok_or_else(|| PayloadError::UnsupportedDType {
                path: label.clone(),
                dtype: format!("{:?} (tensor {name})", info.dtype),
            })?;
            entries.push((
                TensorInfo {
                    name,
                    dtype,
                    shape: info.shape.clone(),
                },
                info.data_offsets,
            ));
        }
        entries.sort_by(|a, b| a.0.name.cmp(&b.0.name));
        Ok(SafeTensorsFile {
            label,
            map,
            data_start: 8 + header_len,
            entries,
        })
    }

    /// Every tensor's name, dtype and shape, sorted by name.
    pub fn infos(&self) -> Vec<TensorInfo> {
        self.entries.iter().map(|(i, _)| i.clone()).collect()
    }

    pub fn info(&self, name: &str) -> Option<&TensorInfo> {
        self.find(name).map(|(i, _)| i)
    }

    fn find(&self, name: &str) -> Option<&(TensorInfo, (usize, usize))> {
        self.entries
            .binary_search_by(|(i, _)| i.name.as_str().cmp(name))
            .ok()
            .map(|k| &self.entries[k])
    }

    /// Reads and decodes one tensor.
    pub fn tensor(&self, name: &str) -> PayloadResult<Tensor> {
        let (info, (start, end)) = self
            .find(name)
            .ok_or_else(|| PayloadError::TensorNotFound {
                path: self.label.clone(),
                name: name.into(),
            })?;
        let bytes = &self.map[self.data_start + start..self.data_start + end];
        let origin = Origin {
            path: &self.label,
            name,
        };
        decode_tensor(origin, info.dtype, false, false, &info.shape, bytes)
    }
}

fn st_err(label: &str, detail: impl Into<String>) -> PayloadError {
    PayloadError::Safetensors {
        path: label.into(),
        detail: detail.into(),
    }
}

fn convert(label: &str, e: SafeTensorError) -> PayloadError {
    match e {
        SafeTensorError::ValidationOverflow => PayloadError::ShapeOverflow {
            path: label.into(),
            name: "(a tensor in the header)".into(),
            shape: vec![],
        },
        SafeTensorError::MetadataIncompleteBuffer => st_err(
            label,
            "the data section is shorter or longer than the header declares (truncated file?)",
        ),
        other => st_err(label, other.to_string()),
    }
}

fn dtype_of(d: Dtype) -> Option<DType> {
    Some(match d {
        Dtype::BOOL => DType::Bool,
        Dtype::U8 => DType::U8,
        Dtype::I8 => DType::I8,
        Dtype::I16 => DType::I16,
        Dtype::U16 => DType::U16,
        Dtype::F16 => DType::F16,
        Dtype::BF16 => DType::BF16,
        Dtype::I32 => DType::I32,
        Dtype::U32 => DType::U32,
        Dtype::F32 => DType::F32,
        Dtype::F64 => DType::F64,
        Dtype::I64 => DType::I64,
        Dtype::U64 => DType::U64,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn st_bytes(header: &str, data: &[u8]) -> Vec<u8> {
        let mut out = (header.len() as u64).to_le_bytes().to_vec();
        out.extend(header.as_bytes());
        out.extend(data);
        out
    }

    fn write(name: &str, bytes: &[u8]) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("tl-st-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join(name);
        std::fs::write(&p, bytes).unwrap();
        p
    }

    #[test]
    fn reads_tensors_and_headers() {
        let mut data: Vec<u8> = [1.0f32, 2.0, 3.0, 4.0]
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect();
        data.extend(half::bf16::from_f32(0.5).to_bits().to_le_bytes());
        let header = r#"{"fc.weight":{"dtype":"F32","shape":[2,2],"data_offsets":[0,16]},"s":{"dtype":"BF16","shape":[],"data_offsets":[16,18]},"__metadata__":{"format":"pt"}}"#;
        let p = write("ok.safetensors", &st_bytes(header, &data));
        let f = SafeTensorsFile::open(&p).unwrap();
        assert_eq!(
            f.infos(),
            vec![
                TensorInfo {
                    name: "fc.weight".into(),
                    dtype: DType::F32,
                    shape: vec![2, 2]
                },
                TensorInfo {
                    name: "s".into(),
                    dtype: DType::BF16,
                    shape: vec![]
                },
            ]
        );
        assert_eq!(
            f.tensor("fc.weight").unwrap(),
            Tensor::from_f32(&[2, 2], vec![1.0, 2.0, 3.0, 4.0]).unwrap()
        );
        assert_eq!(
            f.tensor("s").unwrap(),
            Tensor::F32(ndarray::arr0(0.5f32).into_dyn())
        );
        assert_eq!(f.tensor("nope").unwrap_err().code(), "TL0307");
        assert_eq!(crate::payload::inspect(&p).unwrap().len(), 2);
    }

    #[test]
    fn corrupt_files_get_codes() {
        let data = [0u8; 16];
        let good = r#"{"w":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}}"#;
        let full = st_bytes(good, &data);
        let p = write("trunc.safetensors", &full[..full.len() - 3]);
        assert_eq!(SafeTensorsFile::open(&p).unwrap_err().code(), "TL0306");
        let p = write("tiny.safetensors", &[1, 2, 3]);
        assert_eq!(SafeTensorsFile::open(&p).unwrap_err().code(), "TL0306");
        let p = write("json.safetensors", &st_bytes("{not json", &data));
        assert_eq!(SafeTensorsFile::open(&p).unwrap_err().code(), "TL0306");
        let bad_len = r#"{"w":{"dtype":"F32","shape":[3],"data_offsets":[0,16]}}"#;
        let p = write("len.safetensors", &st_bytes(bad_len, &data));
        assert_eq!(SafeTensorsFile::open(&p).unwrap_err().code(), "TL0306");
        let overflow =
            r#"{"w":{"dtype":"F32","shape":[18446744073709551615,2],"data_offsets":[0,16]}}"#;
        let p = write("ovf.safetensors", &st_bytes(overflow, &data));
        assert_eq!(SafeTensorsFile::open(&p).unwrap_err().code(), "TL0305");
        let fp8 = r#"{"w":{"dtype":"F8_E4M3","shape":[16],"data_offsets":[0,16]}}"#;
        let p = write("fp8.safetensors", &st_bytes(fp8, &data));
        assert_eq!(SafeTensorsFile::open(&p).unwrap_err().code(), "TL0303");
        let mut huge = u64::MAX.to_le_bytes().to_vec();
        huge.extend(b"{}");
        let p = write("huge.safetensors", &huge);
        assert_eq!(SafeTensorsFile::open(&p).unwrap_err().code(), "TL0306");
    }
}
