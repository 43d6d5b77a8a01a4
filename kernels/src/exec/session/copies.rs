//! Allocation-free copies for a [`super::Session`]: concat, slice (positive steps) and gather
//! along one axis. Each views its operand as `[outer, len, inner]` around the axis and copies
//! whole `inner` blocks, so the values are the generic kernels' exactly.
//!
//! The caller checks what the generic kernels would refuse first (through [`slice_range`] and
//! [`gather_indices_fit`], and the shapes for concat) and runs them instead, so errors keep
//! their codes.

use super::fast_kernels::check_len;
use crate::error::{KernelError, KernelResult};

/// `shape` around `axis`: (product before, extent, product after).
pub(crate) fn around(shape: &[usize], axis: usize) -> (usize, usize, usize) {
    let outer = shape[..axis].iter().product();
    let inner = shape[axis + 1..].iter().product();
    (outer, shape[axis], inner)
}

/// Copies one concat operand `x: [outer, len, inner]` into `out: [outer, total, inner]` at
/// `offset` along the axis.
pub(crate) fn concat_part_into(
    x: &[f32],
    (outer, len, inner): (usize, usize, usize),
    total: usize,
    offset: usize,
    out: &mut [f32],
) -> KernelResult<()> {
    const OP: &str = "concat";
    check_len(OP, "input", x.len(), outer * len * inner)?;
    check_len(OP, "output", out.len(), outer * total * inner)?;
    if offset + len > total {
        return Err(KernelError::shape(
            OP,
            format!(
                "part [{offset}, {}) overruns the axis of {total}",
                offset + len
            ),
        ));
    }
    let (block, row) = (len * inner, total * inner);
    if block == 0 {
        return Ok(());
    }
    for (o, src) in x.chunks_exact(block).enumerate() {
        let at = o * row + offset * inner;
        out[at..at + block].copy_from_slice(src);
    }
    Ok(())
}

/// The first index and count of Python's `range(len)[start:end:step]` for `step >= 1`
/// (negative bounds count from the end, bounds clamp); `None` for other steps.
pub(crate) fn slice_range(len: usize, start: i64, end: i64, step: i64) -> Option<(usize, usize)> {
    if step < 1 {
        return None;
    }
    let n = i128::try_from(len).ok()?;
    let resolve = |v: i64| {
        let v = i128::from(v);
        (if v < 0 { v + n } else { v }).clamp(0, n)
    };
    let (s, e) = (resolve(start), resolve(end));
    let count = if e > s {
        (e - s + i128::from(step) - 1) / i128::from(step)
    } else {
        0
    };
    Some((usize::try_from(s).ok()?, usize::try_from(count).ok()?))
}

/// `x: [outer, len, inner]` sliced along the middle axis: `count` blocks from `first`, every
/// `step`, into `out: [outer, count, inner]`.
pub(crate) fn slice_into(
    x: &[f32],
    (outer, len, inner): (usize, usize, usize),
    (first, count, step): (usize, usize, usize),
    out: &mut [f32],
) -> KernelResult<()> {
    const OP: &str = "slice";
    check_len(OP, "input", x.len(), outer * len * inner)?;
    check_len(OP, "output", out.len(), outer * count * inner)?;
    if count > 0 && first + (count - 1) * step >= len {
        return Err(KernelError::argument(
            OP,
            format!("{count} steps of {step} from {first} leave an axis of {len}"),
        ));
    }
    if out.is_empty() {
        return Ok(());
    }
    for (o, dst) in out.chunks_exact_mut(count * inner).enumerate() {
        for (c, block) in dst.chunks_exact_mut(inner).enumerate() {
            let at = (o * len + first + c * step) * inner;
            block.copy_from_slice(&x[at..at + inner]);
        }
    }
    Ok(())
}

/// Whether every index is in `-len..len` (negative ones count from the end), as gather wants.
pub(crate) fn gather_indices_fit(indices: &[i64], len: usize) -> bool {
    let n = i128::try_from(len).unwrap_or(i128::MAX);
    indices.iter().all(|&i| (-n..n).contains(&i128::from(i)))
}

/// `numpy.take(x, indices, axis)` for `x: [outer, len, inner]` around `axis` into
/// `out: [outer, indices.len(), inner]`.
pub(crate) fn gather_into(
    x: &[f32],
    (outer, len, inner): (usize, usize, usize),
    indices: &[i64],
    out: &mut [f32],
) -> KernelResult<()> {
    const OP: &str = "gather";
    check_len(OP, "input", x.len(), outer * len * inner)?;
    check_len(OP, "output", out.len(), outer * indices.len() * inner)?;
    if let Some(&index) = indices.iter().find(|&&i| !gather_indices_fit(&[i], len)) {
        return Err(KernelError::Index {
            op: OP,
            index,
            size: len,
        });
    }
    if out.is_empty() {
        return Ok(());
    }
    for (o, dst) in out.chunks_exact_mut(indices.len() * inner).enumerate() {
        for (&i, block) in indices.iter().zip(dst.chunks_exact_mut(inner)) {
            let j = if i < 0 { i + len as i64 } else { i } as usize;
            let at = (o * len + j) * inner;
            block.copy_from_slice(&x[at..at + inner]);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cpu;
    use ndarray::{ArrayD, Dimension, IxDyn};
    use proptest::prelude::*;

    /// A shape of rank 1..=4 with extents 0..=5 and distinct values for it.
    fn tensor() -> impl Strategy<Value = ArrayD<f32>> {
        proptest::collection::vec(0usize..6, 1..=4).prop_map(|shape| {
            let n: usize = shape.iter().product();
            ArrayD::from_shape_vec(
                IxDyn(&shape),
                (0..n).map(|i| i as f32 * 0.5 - 3.0).collect(),
            )
            .unwrap()
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(300))]

        #[test]
        fn concat_equals_the_generic_kernel(
            x in tensor(),
            axis in 0usize..4,
            extra in proptest::collection::vec(0usize..4, 0..3),
        ) {
            let axis = axis % x.ndim();
            // Parts with x's shape but other extents along the axis.
            let parts: Vec<ArrayD<f32>> = std::iter::once(x.clone())
                .chain(extra.iter().map(|&len| {
                    let mut shape = x.shape().to_vec();
                    shape[axis] = len;
                    ArrayD::from_shape_fn(IxDyn(&shape), |i| i.as_array_view().sum() as f32)
                }))
                .collect();
            let views: Vec<_> = parts.iter().map(|p| p.view()).collect();
            let want = cpu::concat(&views, axis as isize).unwrap();
            let total = want.shape()[axis];
            let mut out = vec![f32::NAN; want.len()];
            let mut offset = 0;
            for p in &parts {
                let shape = around(p.shape(), axis);
                concat_part_into(p.as_slice().unwrap(), shape, total, offset, &mut out).unwrap();
                offset += shape.1;
            }
            let want = want.as_standard_layout();
            prop_assert_eq!(out.as_slice(), want.as_slice().unwrap());
        }

        #[test]
        fn slice_equals_the_generic_kernel(
            x in tensor(),
            axis in 0usize..4,
            start in -8i64..8,
            end in prop_oneof![-8i64..8, Just(i64::MAX), Just(i64::MIN)],
            step in 1i64..4,
        ) {
            let axis = axis % x.ndim();
            let want = cpu::slice(x.view(), axis as isize, start, end, step).unwrap();
            let shape = around(x.shape(), axis);
            let (first, count) = slice_range(shape.1, start, end, step).unwrap();
            prop_assert_eq!(count, want.shape()[axis]);
            let mut out = vec![f32::NAN; want.len()];
            slice_into(x.as_slice().unwrap(), shape, (first, count, step as usize), &mut out)
                .unwrap();
            let want = want.as_standard_layout();
            prop_assert_eq!(out.as_slice(), want.as_slice().unwrap());
        }

        #[test]
        fn gather_equals_the_generic_kernel(
            x in tensor(),
            axis in 0usize..4,
            indices in proptest::collection::vec(-7i64..7, 0..6),
            two_d: bool,
        ) {
            let axis = axis % x.ndim();
            let idx_shape = if two_d && indices.len() % 2 == 0 {
                vec![2, indices.len() / 2]
            } else {
                vec![indices.len()]
            };
            let idx = ArrayD::from_shape_vec(IxDyn(&idx_shape), indices.clone()).unwrap();
            let want = cpu::gather(x.view(), axis as isize, idx.view());
            let shape = around(x.shape(), axis);
            prop_assert_eq!(want.is_ok(), gather_indices_fit(&indices, shape.1));
            let mut out = vec![f32::NAN; shape.0 * indices.len() * shape.2];
            let got = gather_into(x.as_slice().unwrap(), shape, &indices, &mut out);
            match want {
                Ok(want) => {
                    got.unwrap();
                    prop_assert_eq!(out.as_slice(), want.as_slice().unwrap());
                }
                Err(e) => prop_assert_eq!(got.unwrap_err().to_string(), e.to_string()),
            }
        }
    }

    #[test]
    fn zero_and_negative_steps_are_left_to_the_generic_kernel() {
        assert_eq!(slice_range(5, 0, 5, 0), None);
        assert_eq!(slice_range(5, 4, 0, -1), None);
        assert_eq!(slice_range(5, -2, i64::MAX, 1), Some((3, 2)));
        let mut out = [0.0f32; 2];
        let err = slice_into(&[1.0; 5], (1, 5, 1), (4, 2, 1), &mut out);
        assert_eq!(err.unwrap_err().code(), "TL0503");
    }
}
