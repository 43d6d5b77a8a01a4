//! `Tensor`: an owned n-d array of one of the stored element types, plus shape helpers
//! (element counts that cannot overflow, numpy broadcasting, Python-style axis indices).

use crate::dtype::DType;
use crate::error::{KernelError, KernelResult};
use ndarray::{ArrayD, IxDyn};

/// An owned tensor. Floats are computed in f32 (compiled) or f64 (reference); i64 holds indices,
/// labels and masks (nonzero = true).
#[derive(Debug, Clone, PartialEq)]
pub enum Tensor {
    F32(ArrayD<f32>),
    F64(ArrayD<f64>),
    I64(ArrayD<i64>),
}

impl Tensor {
    pub fn dtype(&self) -> DType {
        match self {
            Tensor::F32(_) => DType::F32,
            Tensor::F64(_) => DType::F64,
            Tensor::I64(_) => DType::I64,
        }
    }

    pub fn shape(&self) -> &[usize] {
        match self {
            Tensor::F32(a) => a.shape(),
            Tensor::F64(a) => a.shape(),
            Tensor::I64(a) => a.shape(),
        }
    }

    pub fn len(&self) -> usize {
        self.shape().iter().product()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// A tensor of the given shape from row-major data; errors when the lengths disagree.
    pub fn from_f32(shape: &[usize], data: Vec<f32>) -> KernelResult<Tensor> {
        Ok(Tensor::F32(from_shape_vec("tensor", shape, data)?))
    }

    pub fn from_f64(shape: &[usize], data: Vec<f64>) -> KernelResult<Tensor> {
        Ok(Tensor::F64(from_shape_vec("tensor", shape, data)?))
    }

    pub fn from_i64(shape: &[usize], data: Vec<i64>) -> KernelResult<Tensor> {
        Ok(Tensor::I64(from_shape_vec("tensor", shape, data)?))
    }

    pub fn scalar_f64(v: f64) -> Tensor {
        Tensor::F64(ArrayD::from_elem(IxDyn(&[]), v))
    }

    /// A copy converted to f64 (i64 converts exactly up to 2^53).
    pub fn to_f64(&self) -> ArrayD<f64> {
        match self {
            Tensor::F32(a) => a.mapv(f64::from),
            Tensor::F64(a) => a.clone(),
            Tensor::I64(a) => a.mapv(|v| v as f64),
        }
    }

    /// A copy converted to f32 (rounds to nearest).
    pub fn to_f32(&self) -> ArrayD<f32> {
        match self {
            Tensor::F32(a) => a.clone(),
            Tensor::F64(a) => a.mapv(|v| v as f32),
            Tensor::I64(a) => a.mapv(|v| v as f32),
        }
    }

    /// A copy cast to `dtype` (F32, F64 or I64; floats truncate toward zero into I64).
    pub fn cast(&self, dtype: DType) -> KernelResult<Tensor> {
        Ok(match dtype {
            DType::F32 => Tensor::F32(self.to_f32()),
            DType::F64 => Tensor::F64(self.to_f64()),
            DType::I64 => Tensor::I64(match self {
                Tensor::F32(a) => a.mapv(|v| v as i64),
                Tensor::F64(a) => a.mapv(|v| v as i64),
                Tensor::I64(a) => a.clone(),
            }),
            other => {
                return Err(KernelError::DType {
                    op: "cast",
                    expected: "f32, f64 or i64",
                    found: other,
                })
            }
        })
    }

    pub fn as_f32(&self) -> KernelResult<&ArrayD<f32>> {
        match self {
            Tensor::F32(a) => Ok(a),
            other => Err(dtype_error("as_f32", "f32", other.dtype())),
        }
    }

    pub fn as_f64(&self) -> KernelResult<&ArrayD<f64>> {
        match self {
            Tensor::F64(a) => Ok(a),
            other => Err(dtype_error("as_f64", "f64", other.dtype())),
        }
    }

    pub fn as_i64(&self) -> KernelResult<&ArrayD<i64>> {
        match self {
            Tensor::I64(a) => Ok(a),
            other => Err(dtype_error("as_i64", "i64", other.dtype())),
        }
    }
}

impl From<ArrayD<f32>> for Tensor {
    fn from(a: ArrayD<f32>) -> Self {
        Tensor::F32(a)
    }
}

impl From<ArrayD<f64>> for Tensor {
    fn from(a: ArrayD<f64>) -> Self {
        Tensor::F64(a)
    }
}

impl From<ArrayD<i64>> for Tensor {
    fn from(a: ArrayD<i64>) -> Self {
        Tensor::I64(a)
    }
}

pub(crate) fn dtype_error(op: &'static str, expected: &'static str, found: DType) -> KernelError {
    KernelError::DType {
        op,
        expected,
        found,
    }
}

/// Builds an array from row-major data, checking the element count.
pub fn from_shape_vec<T>(
    op: &'static str,
    shape: &[usize],
    data: Vec<T>,
) -> KernelResult<ArrayD<T>> {
    let n = checked_numel(op, shape)?;
    if n != data.len() {
        return Err(KernelError::shape(
            op,
            format!("shape {shape:?} needs {n} elements, got {}", data.len()),
        ));
    }
    ArrayD::from_shape_vec(IxDyn(shape), data)
        .map_err(|e| KernelError::shape(op, format!("shape {shape:?}: {e}")))
}

/// The element count of `shape`, or a TL0506 error when it overflows `usize` (or isize, which
/// ndarray needs for strides).
pub fn checked_numel(op: &'static str, shape: &[usize]) -> KernelResult<usize> {
    shape
        .iter()
        .try_fold(1usize, |acc, &d| acc.checked_mul(d))
        .filter(|&n| n <= isize::MAX as usize)
        .ok_or_else(|| KernelError::Overflow {
            op,
            shape: shape.to_vec(),
        })
}

/// The numpy broadcast of two shapes: align trailing dims; each pair must be equal or contain 1.
pub fn broadcast_shapes(
    op: &'static str,
    lhs: &[usize],
    rhs: &[usize],
) -> KernelResult<Vec<usize>> {
    let rank = lhs.len().max(rhs.len());
    let mut out = vec![0; rank];
    for (i, slot) in out.iter_mut().enumerate() {
        let l = dim_from_end(lhs, rank - 1 - i);
        let r = dim_from_end(rhs, rank - 1 - i);
        *slot = match (l, r) {
            (a, b) if a == b => a,
            (1, b) => b,
            (a, 1) => a,
            _ => {
                return Err(KernelError::Broadcast {
                    op,
                    lhs: lhs.to_vec(),
                    rhs: rhs.to_vec(),
                })
            }
        };
    }
    Ok(out)
}

fn dim_from_end(shape: &[usize], from_end: usize) -> usize {
    if from_end < shape.len() {
        shape[shape.len() - 1 - from_end]
    } else {
        1
    }
}

/// Resolves a Python-style axis (negative counts from the end) against `rank`.
pub fn normalize_axis(op: &'static str, axis: isize, rank: usize) -> KernelResult<usize> {
    let r = rank as isize;
    let a = if axis < 0 { axis + r } else { axis };
    if a < 0 || a >= r {
        return Err(KernelError::argument(
            op,
            format!("axis {axis} is out of range for rank {rank}"),
        ));
    }
    Ok(a as usize)
}

/// Resolves a list of axes, rejecting duplicates; the result is sorted ascending.
pub fn normalize_axes(op: &'static str, axes: &[isize], rank: usize) -> KernelResult<Vec<usize>> {
    let mut out = axes
        .iter()
        .map(|&a| normalize_axis(op, a, rank))
        .collect::<KernelResult<Vec<_>>>()?;
    out.sort_unstable();
    if out.windows(2).any(|w| w[0] == w[1]) {
        return Err(KernelError::argument(
            op,
            format!("repeated axis in {axes:?}"),
        ));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn broadcast_follows_numpy() {
        assert_eq!(
            broadcast_shapes("t", &[2, 1, 4], &[3, 1]).unwrap(),
            vec![2, 3, 4]
        );
        assert_eq!(broadcast_shapes("t", &[], &[5]).unwrap(), vec![5]);
        assert_eq!(broadcast_shapes("t", &[0, 3], &[1, 3]).unwrap(), vec![0, 3]);
        let err = broadcast_shapes("t", &[2, 3], &[4, 3]).unwrap_err();
        assert_eq!(err.code(), "TL0502");
    }

    #[test]
    fn numel_overflow_is_coded() {
        let err = checked_numel("t", &[usize::MAX, 2]).unwrap_err();
        assert_eq!(err.code(), "TL0506");
        assert_eq!(checked_numel("t", &[]).unwrap(), 1);
        assert_eq!(checked_numel("t", &[3, 0]).unwrap(), 0);
    }

    #[test]
    fn axes_resolve_like_python() {
        assert_eq!(normalize_axis("t", -1, 3).unwrap(), 2);
        assert!(normalize_axis("t", 3, 3).is_err());
        assert!(normalize_axis("t", -4, 3).is_err());
        assert_eq!(normalize_axes("t", &[-1, 0], 3).unwrap(), vec![0, 2]);
        assert_eq!(
            normalize_axes("t", &[1, -2], 3).unwrap_err().code(),
            "TL0503"
        );
    }

    #[test]
    fn from_vec_checks_length_and_cast_round_trips() {
        assert_eq!(
            Tensor::from_f32(&[2, 2], vec![1.0; 3]).unwrap_err().code(),
            "TL0501"
        );
        let t = Tensor::from_f64(&[2], vec![1.5, -2.5]).unwrap();
        assert_eq!(
            t.cast(DType::I64).unwrap(),
            Tensor::from_i64(&[2], vec![1, -2]).unwrap()
        );
        assert_eq!(t.cast(DType::F32).unwrap().dtype(), DType::F32);
        assert_eq!(t.as_i64().unwrap_err().code(), "TL0504");
    }
}
