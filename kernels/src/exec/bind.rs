//! Binding runtime values to a graph: inputs and params are checked against their declarations
//! (rank, known extents, symbolic extents bound consistently, float vs integer) and converted to
//! the engine's float type.

use super::{ExecError, ExecResult};
use crate::dtype::DType;
use crate::error::{PayloadError, PayloadResult};
use crate::payload::safetensors::SafeTensorsFile;
use crate::tensor::Tensor;
use std::collections::{BTreeMap, HashMap};
use tl_ir::{Dim, Shape};

/// Where params come from: a weights file, ONNX initializers, or an in-memory map.
pub trait Payload {
    fn load(&self, key: &str) -> PayloadResult<Tensor>;
}

impl Payload for SafeTensorsFile {
    fn load(&self, key: &str) -> PayloadResult<Tensor> {
        self.tensor(key)
    }
}

impl Payload for BTreeMap<String, Tensor> {
    fn load(&self, key: &str) -> PayloadResult<Tensor> {
        self.get(key)
            .cloned()
            .ok_or_else(|| PayloadError::TensorNotFound {
                path: "(in-memory payload)".into(),
                name: key.into(),
            })
    }
}

/// Symbolic extents seen so far (`B` -> 4).
#[derive(Default)]
pub(crate) struct SymbolTable(HashMap<String, usize>);

impl SymbolTable {
    /// Checks `actual` against `declared`; returns a description of the first mismatch.
    pub(crate) fn check(&mut self, declared: &Shape, actual: &[usize]) -> Result<(), String> {
        if declared.0.len() != actual.len() {
            return Err(format!(
                "declared shape {declared} has rank {}, the value has shape {actual:?}",
                declared.0.len()
            ));
        }
        for (d, &a) in declared.0.iter().zip(actual) {
            match d {
                Dim::Known(k) if *k as usize != a => {
                    return Err(format!(
                        "declared shape {declared}, the value has shape {actual:?}"
                    ))
                }
                Dim::Sym(s) => match self.0.get(s) {
                    Some(&bound) if bound != a => {
                        return Err(format!(
                            "{s} is {bound} elsewhere but {a} here (shape {actual:?})"
                        ))
                    }
                    _ => {
                        self.0.insert(s.clone(), a);
                    }
                },
                _ => {}
            }
        }
        Ok(())
    }
}

/// Converts a value to the engine's representation: floats to `float`, integers stay i64.
pub(crate) fn to_engine(
    t: &Tensor,
    declared: tl_ir::DType,
    float: DType,
) -> Result<Tensor, String> {
    match (declared.is_float(), t.dtype()) {
        (true, DType::F32 | DType::F64) => t.cast(float).map_err(|e| e.to_string()),
        (false, DType::I64) => Ok(t.clone()),
        (true, found) => Err(format!("declared {declared} but the value holds {found}")),
        (false, found) => Err(format!("declared {declared} but the value holds {found}")),
    }
}

pub(crate) fn bind_input(
    syms: &mut SymbolTable,
    name: &str,
    declared_shape: &Shape,
    declared: tl_ir::DType,
    value: Option<&Tensor>,
    float: DType,
) -> ExecResult<Tensor> {
    let value = value.ok_or_else(|| ExecError::MissingInput { name: name.into() })?;
    let mismatch = |detail| ExecError::InputMismatch {
        name: name.into(),
        detail,
    };
    syms.check(declared_shape, value.shape())
        .map_err(mismatch)?;
    to_engine(value, declared, float).map_err(mismatch)
}

pub(crate) fn bind_param(
    syms: &mut SymbolTable,
    key: &str,
    declared_shape: &Shape,
    declared: tl_ir::DType,
    payload: &dyn Payload,
    float: DType,
) -> ExecResult<Tensor> {
    let value = payload.load(key)?;
    let mismatch = |detail| ExecError::ParamMismatch {
        key: key.into(),
        detail,
    };
    syms.check(declared_shape, value.shape())
        .map_err(mismatch)?;
    // The payload's tensor is already a copy: keep it when it has the engine's float type.
    match (&value, float) {
        (Tensor::F64(_), DType::F64) | (Tensor::F32(_), DType::F32) if declared.is_float() => {
            Ok(value)
        }
        _ => to_engine(&value, declared, float).map_err(mismatch),
    }
}
