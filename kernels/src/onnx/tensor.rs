//! TensorProto -> [`Tensor`]: typed data fields, little-endian `raw_data`, or external data.

use super::proto::{self, tensor_proto::DataType};
use crate::dtype::DType;
use crate::error::{PayloadError, PayloadResult};
use crate::payload::decode::{byte_len, decode_tensor, Origin};
use crate::tensor::Tensor;
use ndarray::{ArrayD, IxDyn};
use std::io::{Read, Seek, SeekFrom};
use std::path::{Component, Path};

/// Where a tensor is read: the model (for errors) and its folder (for external data).
pub struct TensorSource<'a> {
    pub path: &'a str,
    pub base_dir: &'a Path,
}

/// The tl dtype of an ONNX `TensorProto.DataType` code, if tl reads it.
pub fn dtype_of_onnx(code: i32) -> Option<DType> {
    Some(match DataType::try_from(code).ok()? {
        DataType::Float => DType::F32,
        DataType::Uint8 => DType::U8,
        DataType::Int8 => DType::I8,
        DataType::Uint16 => DType::U16,
        DataType::Int16 => DType::I16,
        DataType::Int32 => DType::I32,
        DataType::Int64 => DType::I64,
        DataType::Bool => DType::Bool,
        DataType::Float16 => DType::F16,
        DataType::Double => DType::F64,
        DataType::Uint32 => DType::U32,
        DataType::Uint64 => DType::U64,
        DataType::Bfloat16 => DType::BF16,
        _ => return None,
    })
}

/// Decodes an initializer or constant tensor.
pub fn tensor_from_proto(ctx: &TensorSource, t: &proto::TensorProto) -> PayloadResult<Tensor> {
    let name = if t.name.is_empty() {
        "(unnamed)"
    } else {
        t.name.as_str()
    };
    let bad = |detail: String| PayloadError::OnnxTensor {
        path: ctx.path.into(),
        name: name.into(),
        detail,
    };
    let dtype =
        dtype_of_onnx(t.data_type).ok_or_else(|| match DataType::try_from(t.data_type) {
            Ok(known) => PayloadError::UnsupportedDType {
                path: ctx.path.into(),
                dtype: format!("{} (tensor {name})", known.as_str_name()),
            },
            Err(_) => bad(format!("unknown data type code {}", t.data_type)),
        })?;
    if t.segment.is_some() {
        return Err(bad("segmented tensors are not supported".into()));
    }
    let shape = t
        .dims
        .iter()
        .map(|&d| usize::try_from(d).map_err(|_| bad(format!("negative dim {d}"))))
        .collect::<PayloadResult<Vec<_>>>()?;
    let origin = Origin {
        path: ctx.path,
        name,
    };
    let numel = byte_len(origin, dtype, &shape)? / dtype.size_bytes();

    if t.data_location == proto::tensor_proto::DataLocation::External as i32 {
        let bytes = read_external(ctx, name, t, byte_len(origin, dtype, &shape)?)?;
        return decode_tensor(origin, dtype, false, false, &shape, &bytes);
    }
    if !t.raw_data.is_empty() || numel == 0 {
        return decode_tensor(origin, dtype, false, false, &shape, &t.raw_data);
    }
    let count_err = |found: usize| {
        bad(format!(
            "{found} typed values for {numel} elements of shape {shape:?}"
        ))
    };
    match dtype {
        DType::F32 => {
            check(t.float_data.len(), numel, count_err)?;
            Ok(Tensor::F32(arr(&shape, t.float_data.clone())))
        }
        DType::F64 => {
            check(t.double_data.len(), numel, count_err)?;
            Ok(Tensor::F64(arr(&shape, t.double_data.clone())))
        }
        DType::I64 => {
            check(t.int64_data.len(), numel, count_err)?;
            Ok(Tensor::I64(arr(&shape, t.int64_data.clone())))
        }
        DType::U32 | DType::U64 => {
            check(t.uint64_data.len(), numel, count_err)?;
            let vals = t
                .uint64_data
                .iter()
                .map(|&v| {
                    i64::try_from(v).map_err(|_| bad(format!("uint64 value {v} does not fit i64")))
                })
                .collect::<PayloadResult<Vec<_>>>()?;
            Ok(Tensor::I64(arr(&shape, vals)))
        }
        DType::F16 | DType::BF16 => {
            check(t.int32_data.len(), numel, count_err)?;
            let to_f32 = |bits: i32| {
                let b = bits as u16;
                if dtype == DType::F16 {
                    half::f16::from_bits(b).to_f32()
                } else {
                    half::bf16::from_bits(b).to_f32()
                }
            };
            Ok(Tensor::F32(arr(
                &shape,
                t.int32_data.iter().map(|&b| to_f32(b)).collect(),
            )))
        }
        _ => {
            // int8/int16/int32/uint8/uint16/bool are stored one per int32 entry.
            check(t.int32_data.len(), numel, count_err)?;
            let vals = t.int32_data.iter().map(|&v| {
                if dtype == DType::Bool {
                    i64::from(v != 0)
                } else {
                    i64::from(v)
                }
            });
            Ok(Tensor::I64(arr(&shape, vals.collect())))
        }
    }
}

fn check(found: usize, numel: usize, err: impl Fn(usize) -> PayloadError) -> PayloadResult<()> {
    if found == numel {
        Ok(())
    } else {
        Err(err(found))
    }
}

fn arr<T>(shape: &[usize], data: Vec<T>) -> ArrayD<T> {
    ArrayD::from_shape_vec(IxDyn(shape), data).expect("length checked against the shape")
}

/// Reads `length` bytes (or the declared `length`) at `offset` of the external file. Paths must
/// stay inside the model's folder.
fn read_external(
    ctx: &TensorSource,
    name: &str,
    t: &proto::TensorProto,
    need: usize,
) -> PayloadResult<Vec<u8>> {
    let err = |detail: String| PayloadError::OnnxExternalData {
        path: ctx.path.into(),
        name: name.into(),
        detail,
    };
    let entry = |key: &str| {
        t.external_data
            .iter()
            .find(|e| e.key == key)
            .map(|e| e.value.as_str())
    };
    let location = entry("location").ok_or_else(|| err("no 'location' entry".into()))?;
    let rel = Path::new(location);
    if rel.is_absolute()
        || rel
            .components()
            .any(|c| !matches!(c, Component::Normal(_) | Component::CurDir))
    {
        return Err(err(format!(
            "location {location:?} must be a relative path inside the model's folder"
        )));
    }
    let number = |key: &str| -> PayloadResult<Option<u64>> {
        entry(key)
            .map(|v| {
                v.trim()
                    .parse::<u64>()
                    .map_err(|_| err(format!("{key} {v:?} is not a byte count")))
            })
            .transpose()
    };
    let offset = number("offset")?.unwrap_or(0);
    let length = number("length")?.unwrap_or(need as u64);
    if length != need as u64 {
        return Err(err(format!(
            "length {length} differs from the {need} bytes the shape needs"
        )));
    }
    let file_path = ctx.base_dir.join(rel);
    let mut f = std::fs::File::open(&file_path)
        .map_err(|e| err(format!("{}: {e}", file_path.display())))?;
    let file_len = f.metadata().map_err(|e| err(e.to_string()))?.len();
    if offset.checked_add(length).is_none_or(|end| end > file_len) {
        return Err(err(format!(
            "bytes {offset}..{offset}+{length} lie beyond the file's {file_len} bytes"
        )));
    }
    f.seek(SeekFrom::Start(offset))
        .map_err(|e| err(e.to_string()))?;
    let mut buf = vec![0u8; need];
    f.read_exact(&mut buf).map_err(|e| err(e.to_string()))?;
    Ok(buf)
}
