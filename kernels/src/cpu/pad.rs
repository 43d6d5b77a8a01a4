//! Padding (ONNX `Pad`, PyTorch `F.pad`): constant, reflect and edge modes. One index map per axis
//! (output position -> input position, or none for the constant fill) drives the forward kernel
//! and the backward scatter, so both agree on every mode.

use crate::error::{KernelError, KernelResult};
use crate::real::Real;
use ndarray::{ArrayD, ArrayViewD, IxDyn};

const OP: &str = "pad";

/// What the new elements hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PadMode {
    /// A fixed value.
    Constant,
    /// The mirror image, without repeating the edge element (numpy `reflect`).
    Reflect,
    /// The edge element repeated.
    Edge,
}

impl PadMode {
    pub fn from_name(name: &str) -> Option<PadMode> {
        match name {
            "constant" => Some(PadMode::Constant),
            "reflect" => Some(PadMode::Reflect),
            "edge" => Some(PadMode::Edge),
            _ => None,
        }
    }
}

/// For one axis of extent `len` padded by `lo` before and `hi` after: the input index each output
/// position reads (`None`: the constant fill).
pub fn pad_axis_map(
    mode: PadMode,
    len: usize,
    lo: usize,
    hi: usize,
) -> KernelResult<Vec<Option<usize>>> {
    if mode == PadMode::Reflect && (lo >= len || hi >= len) && (lo, hi) != (0, 0) {
        return Err(KernelError::argument(
            OP,
            format!("reflect padding by {lo} and {hi} needs an extent above both, got {len}"),
        ));
    }
    if mode == PadMode::Edge && len == 0 && (lo, hi) != (0, 0) {
        return Err(KernelError::argument(OP, "edge padding of an empty axis"));
    }
    let n = len as i64;
    Ok((0..lo + len + hi)
        .map(|o| {
            let i = o as i64 - lo as i64;
            if (0..n).contains(&i) {
                return Some(i as usize);
            }
            match mode {
                PadMode::Constant => None,
                PadMode::Edge => Some(i.clamp(0, n - 1) as usize),
                // Within one reflection: lo, hi < len.
                PadMode::Reflect => Some(if i < 0 { -i } else { 2 * (n - 1) - i } as usize),
            }
        })
        .collect())
}

fn maps(
    shape: &[usize],
    pads: &[(usize, usize)],
    mode: PadMode,
) -> KernelResult<Vec<Vec<Option<usize>>>> {
    if pads.len() != shape.len() {
        return Err(KernelError::shape(
            OP,
            format!(
                "{} pad pairs for a tensor of rank {}",
                pads.len(),
                shape.len()
            ),
        ));
    }
    shape
        .iter()
        .zip(pads)
        .map(|(&len, &(lo, hi))| pad_axis_map(mode, len, lo, hi))
        .collect()
}

/// Calls `f(out_flat, Some(in_flat) | None)` for every output element in row-major order.
fn for_each_source(
    in_shape: &[usize],
    maps: &[Vec<Option<usize>>],
    mut f: impl FnMut(usize, Option<usize>),
) {
    let rank = in_shape.len();
    let mut strides = vec![1usize; rank];
    for a in (0..rank.saturating_sub(1)).rev() {
        strides[a] = strides[a + 1] * in_shape[a + 1];
    }
    let out_shape: Vec<usize> = maps.iter().map(Vec::len).collect();
    let total: usize = out_shape.iter().product();
    let mut idx = vec![0usize; rank];
    for flat in 0..total {
        let src = idx
            .iter()
            .zip(maps)
            .zip(&strides)
            .try_fold(0usize, |acc, ((&o, m), &s)| m[o].map(|i| acc + i * s));
        f(flat, src);
        for a in (0..rank).rev() {
            idx[a] += 1;
            if idx[a] < out_shape[a] {
                break;
            }
            idx[a] = 0;
        }
    }
}

/// `x` padded by `pads[axis] = (before, after)` in `mode`; `value` fills constant mode.
pub fn pad<T: Real>(
    x: ArrayViewD<T>,
    pads: &[(usize, usize)],
    mode: PadMode,
    value: f64,
) -> KernelResult<ArrayD<T>> {
    let maps = maps(x.shape(), pads, mode)?;
    let out_shape: Vec<usize> = maps.iter().map(Vec::len).collect();
    crate::tensor::checked_numel(OP, &out_shape)?;
    let xs = x.as_standard_layout();
    let data = xs.as_slice().expect("standard layout is contiguous");
    let fill = T::from_f64(value);
    let mut out = Vec::with_capacity(out_shape.iter().product());
    for_each_source(x.shape(), &maps, |_, src| {
        out.push(src.map_or(fill, |i| data[i]))
    });
    ArrayD::from_shape_vec(IxDyn(&out_shape), out)
        .map_err(|e| KernelError::shape(OP, e.to_string()))
}

/// The gradient of `pad` with respect to its input: each output gradient added to the input
/// element it was read from (reflect and edge read some elements more than once).
pub fn pad_backward(
    g: ArrayViewD<f64>,
    in_shape: &[usize],
    pads: &[(usize, usize)],
    mode: PadMode,
) -> KernelResult<ArrayD<f64>> {
    let maps = maps(in_shape, pads, mode)?;
    let out_shape: Vec<usize> = maps.iter().map(Vec::len).collect();
    if g.shape() != out_shape.as_slice() {
        return Err(KernelError::shape(
            OP,
            format!(
                "gradient {:?} is not the padded shape {out_shape:?}",
                g.shape()
            ),
        ));
    }
    let gs = g.as_standard_layout();
    let gd = gs.as_slice().expect("standard layout is contiguous");
    let mut dx = vec![0.0; in_shape.iter().product()];
    for_each_source(in_shape, &maps, |o, src| {
        if let Some(i) = src {
            dx[i] += gd[o];
        }
    });
    ArrayD::from_shape_vec(IxDyn(in_shape), dx).map_err(|e| KernelError::shape(OP, e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn axis_maps_match_numpy_modes() {
        // numpy.pad([0, 1, 2, 3], (2, 3), mode) index patterns.
        let m = |mode| pad_axis_map(mode, 4, 2, 3).unwrap();
        let some = |v: &[usize]| v.iter().map(|&i| Some(i)).collect::<Vec<_>>();
        assert_eq!(m(PadMode::Reflect), some(&[2, 1, 0, 1, 2, 3, 2, 1, 0]));
        assert_eq!(m(PadMode::Edge), some(&[0, 0, 0, 1, 2, 3, 3, 3, 3]));
        let c = m(PadMode::Constant);
        assert_eq!(c[..2], [None, None]);
        assert_eq!(c[2..6], some(&[0, 1, 2, 3])[..]);
        assert!(pad_axis_map(PadMode::Reflect, 3, 3, 0).is_err());
        assert!(pad_axis_map(PadMode::Edge, 0, 1, 0).is_err());
    }

    #[test]
    fn pad_and_its_backward_are_adjoint() {
        // <pad(x), g> == <x, pad_backward(g)> for every mode: the scatter is the transpose.
        let x = ArrayD::from_shape_fn(IxDyn(&[2, 3, 4]), |i| {
            (i[0] * 12 + i[1] * 4 + i[2]) as f64 * 0.37 - 2.0
        });
        let pads = [(0, 1), (2, 1), (1, 3)];
        for mode in [PadMode::Constant, PadMode::Reflect, PadMode::Edge] {
            let y = pad(x.view(), &pads, mode, 0.0).unwrap();
            let g = ArrayD::from_shape_fn(y.raw_dim(), |i| {
                ((i[0] + 3 * i[1] + 7 * i[2]) % 5) as f64 - 1.5
            });
            let dx = pad_backward(g.view(), x.shape(), &pads, mode).unwrap();
            let lhs: f64 = (&y * &g).sum();
            let rhs: f64 = (&x * &dx).sum();
            assert!((lhs - rhs).abs() < 1e-9, "{mode:?}: {lhs} vs {rhs}");
        }
        let y = pad(x.view(), &pads, PadMode::Constant, 2.5).unwrap();
        assert_eq!(y.shape(), &[3, 6, 8]);
        assert_eq!(y[[2, 0, 0]], 2.5);
        assert_eq!(y[[0, 2, 1]], x[[0, 0, 0]]);
    }
}
