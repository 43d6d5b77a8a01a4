//! Header-only ONNX reading for the keystroke path: the graph, its inputs and outputs, every
//! initializer's name, dtype and shape, and the data of small initializers only (shape tensors,
//! the constants the importer folds). Large tensor data is skipped by seeking, never read, so a
//! 550 MB model is inspected in a few milliseconds and a few MB of memory.
//!
//! The file is walked as raw protobuf: every field is copied into a slim `ModelProto` except the
//! data fields of large (or externally stored) initializers, which are dropped and kept as
//! [`TensorHeader`]s. The slim model then goes through the same decoder as a full load.

use super::proto;
use super::{model_from_proto, OnnxModel, TensorHeader};
use crate::error::{PayloadError, PayloadResult};
use crate::payload::io_error;
use prost::Message;
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Seek, SeekFrom};
use std::path::Path;

/// Initializer data up to this many bytes is read (the importer folds shape tensors and small
/// constants from it); larger data is skipped.
pub const HEADER_KEEP_BYTES: u64 = 64 * 1024;

/// Field numbers of `TensorProto`'s element data (float, int32, string, int64, raw, double,
/// uint64).
const TENSOR_DATA_FIELDS: [u64; 7] = [4, 5, 6, 7, 9, 10, 11];
const MODEL_GRAPH: u64 = 7;
const GRAPH_INITIALIZER: u64 = 5;

/// Reads the header of an ONNX model file (see the module docs).
pub fn load_header(path: &Path) -> PayloadResult<OnnxModel> {
    let file = std::fs::File::open(path).map_err(|e| io_error(path, e))?;
    let len = file.metadata().map_err(|e| io_error(path, e))?.len();
    let base = path.parent().unwrap_or(Path::new("."));
    decode_header(path, base, BufReader::new(file), len)
}

/// [`load_header`] over any reader of `len` bytes (`label` names the model in errors).
pub fn decode_header(
    label: &Path,
    base_dir: &Path,
    reader: impl BufRead + Seek,
    len: u64,
) -> PayloadResult<OnnxModel> {
    decode_header_keeping(label, base_dir, reader, len, HEADER_KEEP_BYTES)
}

/// [`decode_header`] reading initializer data up to `keep` bytes.
pub(super) fn decode_header_keeping(
    label: &Path,
    base_dir: &Path,
    reader: impl BufRead + Seek,
    len: u64,
    keep: u64,
) -> PayloadResult<OnnxModel> {
    let path = label.display().to_string();
    let mut w = Walker {
        r: reader,
        pos: 0,
        path: path.clone(),
        keep,
    };
    let mut slim = Vec::new();
    let mut skipped = BTreeMap::new();
    while w.pos < len {
        let key = w.varint()?;
        let (field, wire) = (key >> 3, key & 7);
        if field == MODEL_GRAPH && wire == 2 {
            let n = w.length(len)?;
            let graph = w.graph(w.pos + n, &mut skipped)?;
            put_len_field(&mut slim, key, &graph);
        } else {
            w.copy_field(key, len, &mut slim)?;
        }
    }
    let model =
        proto::ModelProto::decode(slim.as_slice()).map_err(|e| PayloadError::OnnxDecode {
            path: path.clone(),
            detail: e.to_string(),
        })?;
    let mut m = model_from_proto(label, base_dir, &model)?;
    for (name, header) in skipped {
        if m.initializers.contains_key(&name) {
            continue;
        }
        m.headers.insert(name, header);
    }
    // Graph inputs that name a skipped initializer are not runtime inputs.
    m.inputs.retain(|v| !m.headers.contains_key(&v.name));
    Ok(m)
}

struct Walker<R> {
    r: R,
    pos: u64,
    path: String,
    /// Data fields up to this many bytes are read.
    keep: u64,
}

impl<R: BufRead + Seek> Walker<R> {
    fn bad(&self, detail: impl Into<String>) -> PayloadError {
        PayloadError::OnnxDecode {
            path: self.path.clone(),
            detail: format!("{} (at byte {})", detail.into(), self.pos),
        }
    }

    fn byte(&mut self) -> PayloadResult<u8> {
        let mut b = [0u8; 1];
        self.r
            .read_exact(&mut b)
            .map_err(|_| self.bad("unexpected end of file"))?;
        self.pos += 1;
        Ok(b[0])
    }

    fn varint(&mut self) -> PayloadResult<u64> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let b = self.byte()?;
            v |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err(self.bad("varint longer than 10 bytes"))
    }

    /// A length prefix that must fit in what is left (`end` is the enclosing message's end).
    fn length(&mut self, end: u64) -> PayloadResult<u64> {
        let n = self.varint()?;
        if n > end.saturating_sub(self.pos) {
            return Err(self.bad(format!("a field of {n} bytes runs past its message")));
        }
        Ok(n)
    }

    fn bytes(&mut self, n: u64) -> PayloadResult<Vec<u8>> {
        let mut buf = vec![0u8; n as usize];
        self.r
            .read_exact(&mut buf)
            .map_err(|_| self.bad("unexpected end of file"))?;
        self.pos += n;
        Ok(buf)
    }

    /// Skips `n` bytes by seeking (the data is never read; `length` checked they exist).
    fn skip(&mut self, n: u64) -> PayloadResult<()> {
        let step = i64::try_from(n).map_err(|_| self.bad("a field too large to skip"))?;
        self.r
            .seek(SeekFrom::Current(step))
            .map_err(|e| self.bad(e.to_string()))?;
        self.pos += n;
        Ok(())
    }

    /// The payload of a field with `key` (its tag already read), as raw bytes after the tag.
    fn value(&mut self, key: u64, end: u64) -> PayloadResult<Vec<u8>> {
        match key & 7 {
            0 => {
                let mut out = Vec::new();
                put_varint(&mut out, self.varint()?);
                Ok(out)
            }
            1 => self.bytes(8),
            2 => {
                let n = self.length(end)?;
                let mut out = Vec::new();
                put_varint(&mut out, n);
                out.extend(self.bytes(n)?);
                Ok(out)
            }
            5 => self.bytes(4),
            w => Err(self.bad(format!("unsupported wire type {w}"))),
        }
    }

    fn copy_field(&mut self, key: u64, end: u64, out: &mut Vec<u8>) -> PayloadResult<()> {
        let v = self.value(key, end)?;
        put_varint(out, key);
        out.extend(v);
        Ok(())
    }

    /// A GraphProto ending at `end`, its large initializers' data dropped (recorded in `skipped`).
    fn graph(
        &mut self,
        end: u64,
        skipped: &mut BTreeMap<String, TensorHeader>,
    ) -> PayloadResult<Vec<u8>> {
        let mut out = Vec::new();
        while self.pos < end {
            let key = self.varint()?;
            if key >> 3 == GRAPH_INITIALIZER && key & 7 == 2 {
                let n = self.length(end)?;
                let (tensor, dropped) = self.tensor(self.pos + n)?;
                if dropped {
                    let t = proto::TensorProto::decode(tensor.as_slice())
                        .map_err(|e| self.bad(e.to_string()))?;
                    skipped.insert(t.name.clone(), header_of(&self.path, &t)?);
                } else {
                    put_len_field(&mut out, key, &tensor);
                }
            } else {
                self.copy_field(key, end, &mut out)?;
            }
        }
        if self.pos != end {
            return Err(self.bad("a graph field runs past the graph"));
        }
        Ok(out)
    }

    /// A TensorProto ending at `end` without data fields over `keep` bytes; `true` when
    /// data was dropped or lives in an external file (never read here).
    fn tensor(&mut self, end: u64) -> PayloadResult<(Vec<u8>, bool)> {
        let mut out = Vec::new();
        let mut dropped = false;
        while self.pos < end {
            let key = self.varint()?;
            let (field, wire) = (key >> 3, key & 7);
            if wire == 2 && TENSOR_DATA_FIELDS.contains(&field) {
                let n = self.length(end)?;
                if n > self.keep {
                    self.skip(n)?;
                    dropped = true;
                    continue;
                }
                let data = self.bytes(n)?;
                put_len_field(&mut out, key, &data);
            } else {
                // external_data (13) or data_location = EXTERNAL (14): the data is elsewhere.
                dropped |= field == 13 || (field == 14 && wire == 0);
                self.copy_field(key, end, &mut out)?;
            }
        }
        if self.pos != end {
            return Err(self.bad("a tensor field runs past the tensor"));
        }
        Ok((out, dropped))
    }
}

fn header_of(path: &str, t: &proto::TensorProto) -> PayloadResult<TensorHeader> {
    let bad = |detail: String| PayloadError::OnnxTensor {
        path: path.into(),
        name: t.name.clone(),
        detail,
    };
    if t.name.is_empty() {
        return Err(PayloadError::OnnxGraph {
            path: path.into(),
            detail: "an initializer has no name".into(),
        });
    }
    let dtype = super::dtype_of_onnx(t.data_type)
        .ok_or_else(|| bad(format!("unsupported data type code {}", t.data_type)))?;
    let shape = t
        .dims
        .iter()
        .map(|&d| usize::try_from(d).map_err(|_| bad(format!("negative dim {d}"))))
        .collect::<PayloadResult<Vec<_>>>()?;
    Ok(TensorHeader { dtype, shape })
}

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn put_len_field(out: &mut Vec<u8>, key: u64, bytes: &[u8]) {
    put_varint(out, key);
    put_varint(out, bytes.len() as u64);
    out.extend_from_slice(bytes);
}
