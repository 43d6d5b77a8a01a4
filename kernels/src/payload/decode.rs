//! Raw bytes to a [`Tensor`]: element decoding for every stored dtype and either byte order.
//! Half floats widen to f32, f64 stays f64, integers and bools widen to i64.

use crate::dtype::DType;
use crate::error::{PayloadError, PayloadResult};
use crate::tensor::Tensor;
use ndarray::{ArrayD, IxDyn, ShapeBuilder};

/// Where a tensor came from, for error messages.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Origin<'a> {
    pub path: &'a str,
    pub name: &'a str,
}

/// The byte length of `shape` elements of `dtype`, or TL0305 when it overflows.
pub(crate) fn byte_len(origin: Origin, dtype: DType, shape: &[usize]) -> PayloadResult<usize> {
    shape
        .iter()
        .try_fold(1usize, |acc, &d| acc.checked_mul(d))
        .filter(|&n| n <= isize::MAX as usize)
        .and_then(|n| n.checked_mul(dtype.size_bytes()))
        .ok_or_else(|| PayloadError::ShapeOverflow {
            path: origin.path.into(),
            name: origin.name.into(),
            shape: shape.iter().map(|&d| d as u64).collect(),
        })
}

/// Decodes `bytes` (exactly the tensor's data) into a tensor of `shape`. `fortran_order` means
/// the data is column-major.
pub(crate) fn decode_tensor(
    origin: Origin,
    dtype: DType,
    big_endian: bool,
    fortran_order: bool,
    shape: &[usize],
    bytes: &[u8],
) -> PayloadResult<Tensor> {
    let expected = byte_len(origin, dtype, shape)?;
    if bytes.len() != expected {
        return Err(PayloadError::DataLength {
            path: origin.path.into(),
            name: origin.name.into(),
            expected: expected as u64,
            found: bytes.len() as u64,
        });
    }
    macro_rules! words {
        ($t:ty) => {
            bytes.chunks_exact(std::mem::size_of::<$t>()).map(|c| {
                let a = c.try_into().expect("chunks_exact yields full words");
                if big_endian {
                    <$t>::from_be_bytes(a)
                } else {
                    <$t>::from_le_bytes(a)
                }
            })
        };
    }
    let tensor = match dtype {
        DType::F16 => Tensor::F32(build(
            shape,
            fortran_order,
            words!(u16)
                .map(|b| half::f16::from_bits(b).to_f32())
                .collect(),
        )),
        DType::BF16 => Tensor::F32(build(
            shape,
            fortran_order,
            words!(u16)
                .map(|b| half::bf16::from_bits(b).to_f32())
                .collect(),
        )),
        DType::F32 => Tensor::F32(build(shape, fortran_order, words!(f32).collect())),
        DType::F64 => Tensor::F64(build(shape, fortran_order, words!(f64).collect())),
        DType::Bool => Tensor::I64(build(
            shape,
            fortran_order,
            bytes.iter().map(|&b| i64::from(b != 0)).collect(),
        )),
        DType::U8 => Tensor::I64(build(
            shape,
            fortran_order,
            bytes.iter().map(|&b| i64::from(b)).collect(),
        )),
        DType::I8 => Tensor::I64(build(
            shape,
            fortran_order,
            bytes.iter().map(|&b| i64::from(b as i8)).collect(),
        )),
        DType::I16 => Tensor::I64(build(
            shape,
            fortran_order,
            words!(i16).map(i64::from).collect(),
        )),
        DType::U16 => Tensor::I64(build(
            shape,
            fortran_order,
            words!(u16).map(i64::from).collect(),
        )),
        DType::I32 => Tensor::I64(build(
            shape,
            fortran_order,
            words!(i32).map(i64::from).collect(),
        )),
        DType::U32 => Tensor::I64(build(
            shape,
            fortran_order,
            words!(u32).map(i64::from).collect(),
        )),
        DType::I64 => Tensor::I64(build(shape, fortran_order, words!(i64).collect())),
        DType::U64 => {
            let vals = words!(u64)
                .map(|v| {
                    i64::try_from(v).map_err(|_| PayloadError::ValueRange {
                        path: origin.path.into(),
                        name: origin.name.into(),
                        detail: format!("u64 value {v} does not fit i64"),
                    })
                })
                .collect::<PayloadResult<Vec<_>>>()?;
            Tensor::I64(build(shape, fortran_order, vals))
        }
    };
    Ok(tensor)
}

/// Arranges row- or column-major data as a standard-layout array. The caller checked the length.
fn build<T: Clone>(shape: &[usize], fortran_order: bool, data: Vec<T>) -> ArrayD<T> {
    let arr = ArrayD::from_shape_vec(IxDyn(shape).set_f(fortran_order), data)
        .expect("data length equals the product of the shape");
    if fortran_order {
        arr.as_standard_layout().into_owned()
    } else {
        arr
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const O: Origin = Origin {
        path: "mem",
        name: "t",
    };

    #[test]
    fn decodes_each_dtype_and_byte_order() {
        let t = decode_tensor(
            O,
            DType::F32,
            false,
            false,
            &[2],
            &[0, 0, 128, 63, 0, 0, 0, 192],
        )
        .unwrap();
        assert_eq!(t, Tensor::from_f32(&[2], vec![1.0, -2.0]).unwrap());
        let t = decode_tensor(O, DType::F32, true, false, &[1], &[63, 128, 0, 0]).unwrap();
        assert_eq!(t, Tensor::from_f32(&[1], vec![1.0]).unwrap());
        let t = decode_tensor(O, DType::F16, false, false, &[1], &[0x00, 0x3c]).unwrap();
        assert_eq!(t, Tensor::from_f32(&[1], vec![1.0]).unwrap());
        let t = decode_tensor(O, DType::BF16, false, false, &[1], &[0x80, 0x3f]).unwrap();
        assert_eq!(t, Tensor::from_f32(&[1], vec![1.0]).unwrap());
        let t = decode_tensor(O, DType::I8, false, false, &[2], &[0xff, 7]).unwrap();
        assert_eq!(t, Tensor::from_i64(&[2], vec![-1, 7]).unwrap());
        let t = decode_tensor(O, DType::Bool, false, false, &[2], &[0, 1]).unwrap();
        assert_eq!(t, Tensor::from_i64(&[2], vec![0, 1]).unwrap());
        let t = decode_tensor(O, DType::I16, true, false, &[1], &[0xff, 0xfe]).unwrap();
        assert_eq!(t, Tensor::from_i64(&[1], vec![-2]).unwrap());
        let big = u64::MAX.to_le_bytes();
        let e = decode_tensor(O, DType::U64, false, false, &[1], &big).unwrap_err();
        assert_eq!(e.code(), "TL0308");
    }

    #[test]
    fn fortran_order_transposes_and_lengths_are_checked() {
        let bytes: Vec<u8> = [1i32, 2, 3, 4, 5, 6]
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect();
        let t = decode_tensor(O, DType::I32, false, true, &[2, 3], &bytes).unwrap();
        assert_eq!(
            t,
            Tensor::from_i64(&[2, 3], vec![1, 3, 5, 2, 4, 6]).unwrap()
        );
        let e = decode_tensor(O, DType::I32, false, false, &[2, 2], &bytes).unwrap_err();
        assert_eq!(e.code(), "TL0304");
        let e = decode_tensor(O, DType::F64, false, false, &[usize::MAX, 4], &bytes).unwrap_err();
        assert_eq!(e.code(), "TL0305");
    }
}
