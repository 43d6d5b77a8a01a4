//! Layout ops, generic over any element type (floats and i64): transpose, permute, reshape
//! (with one -1), flatten, concat, slice (Python semantics, any nonzero step), gather/embedding.

use crate::error::{KernelError, KernelResult};
use crate::tensor::{checked_numel, normalize_axis};
use ndarray::{ArrayD, ArrayViewD, Axis, IxDyn};

/// Swaps two axes.
pub fn transpose<T: Clone>(x: ArrayViewD<T>, dim0: isize, dim1: isize) -> KernelResult<ArrayD<T>> {
    let a = normalize_axis("transpose", dim0, x.ndim())?;
    let b = normalize_axis("transpose", dim1, x.ndim())?;
    let mut v = x;
    v.swap_axes(a, b);
    Ok(v.as_standard_layout().into_owned())
}

/// Reorders axes: output axis `i` is input axis `dims[i]` (negative dims allowed).
pub fn permute<T: Clone>(x: ArrayViewD<T>, dims: &[isize]) -> KernelResult<ArrayD<T>> {
    const OP: &str = "permute";
    if dims.len() != x.ndim() {
        return Err(KernelError::argument(
            OP,
            format!("{} dims given for rank {}", dims.len(), x.ndim()),
        ));
    }
    let resolved = dims
        .iter()
        .map(|&d| normalize_axis(OP, d, x.ndim()))
        .collect::<KernelResult<Vec<_>>>()?;
    let mut seen = vec![false; x.ndim()];
    for &d in &resolved {
        if std::mem::replace(&mut seen[d], true) {
            return Err(KernelError::argument(
                OP,
                format!("{dims:?} is not a permutation"),
            ));
        }
    }
    Ok(x.permuted_axes(IxDyn(&resolved))
        .as_standard_layout()
        .into_owned())
}

/// Resolves a target shape with at most one -1 against `numel` elements.
pub fn resolve_shape(op: &'static str, numel: usize, shape: &[i64]) -> KernelResult<Vec<usize>> {
    let mut infer = None;
    let mut known = 1usize;
    let mut out = Vec::with_capacity(shape.len());
    for (i, &d) in shape.iter().enumerate() {
        match d {
            -1 if infer.is_none() => {
                infer = Some(i);
                out.push(1);
            }
            -1 => {
                return Err(KernelError::argument(
                    op,
                    format!("more than one -1 in {shape:?}"),
                ))
            }
            d if d < 0 => {
                return Err(KernelError::argument(
                    op,
                    format!("negative dim {d} in {shape:?}"),
                ))
            }
            d => {
                let d =
                    usize::try_from(d).map_err(|_| KernelError::argument(op, "dim too large"))?;
                known = known.checked_mul(d).ok_or_else(|| KernelError::Overflow {
                    op,
                    shape: shape.iter().map(|&d| d.max(0) as usize).collect(),
                })?;
                out.push(d);
            }
        }
    }
    if let Some(i) = infer {
        if known == 0 || !numel.is_multiple_of(known) {
            return Err(KernelError::shape(
                op,
                format!("cannot infer -1 in {shape:?} for {numel} elements"),
            ));
        }
        out[i] = numel / known;
    } else if known != numel {
        return Err(KernelError::shape(
            op,
            format!("shape {shape:?} does not hold {numel} elements"),
        ));
    }
    Ok(out)
}

/// Row-major reshape; one dim may be -1.
pub fn reshape<T: Clone>(x: ArrayViewD<T>, shape: &[i64]) -> KernelResult<ArrayD<T>> {
    let target = resolve_shape("reshape", x.len(), shape)?;
    x.as_standard_layout()
        .into_owned()
        .into_shape_with_order(IxDyn(&target))
        .map_err(|e| KernelError::shape("reshape", e.to_string()))
}

/// Inserts extent-1 axes; `axes` are positions in the output (negative counts from its end).
pub fn unsqueeze<T: Clone>(x: ArrayViewD<T>, axes: &[isize]) -> KernelResult<ArrayD<T>> {
    let rank = x.ndim() + axes.len();
    let axes = crate::tensor::normalize_axes("unsqueeze", axes, rank)?;
    let mut out = x.to_owned();
    for a in axes {
        out.insert_axis_inplace(Axis(a));
    }
    Ok(out)
}

/// Removes extent-1 axes (`None`: all of them). Naming an axis whose extent is not 1 is an error.
pub fn squeeze<T: Clone>(x: ArrayViewD<T>, axes: Option<&[isize]>) -> KernelResult<ArrayD<T>> {
    const OP: &str = "squeeze";
    let axes = match axes {
        Some(a) => crate::tensor::normalize_axes(OP, a, x.ndim())?,
        None => (0..x.ndim()).filter(|&a| x.shape()[a] == 1).collect(),
    };
    if let Some(&a) = axes.iter().find(|&&a| x.shape()[a] != 1) {
        return Err(KernelError::shape(
            OP,
            format!(
                "axis {a} of {:?} has extent {}, not 1",
                x.shape(),
                x.shape()[a]
            ),
        ));
    }
    let mut out = x.to_owned();
    for &a in axes.iter().rev() {
        out = out.remove_axis(Axis(a));
    }
    Ok(out)
}

/// Merges dims `start_dim..=end_dim` into one (a scalar flattens to `[1]`, as in PyTorch).
pub fn flatten<T: Clone>(
    x: ArrayViewD<T>,
    start_dim: isize,
    end_dim: isize,
) -> KernelResult<ArrayD<T>> {
    const OP: &str = "flatten";
    if x.ndim() == 0 {
        return reshape(x, &[1]);
    }
    let s = normalize_axis(OP, start_dim, x.ndim())?;
    let e = normalize_axis(OP, end_dim, x.ndim())?;
    if s > e {
        return Err(KernelError::argument(
            OP,
            format!("start_dim {start_dim} is after end_dim {end_dim}"),
        ));
    }
    let mut shape: Vec<i64> = x.shape()[..s].iter().map(|&d| d as i64).collect();
    shape.push(x.shape()[s..=e].iter().product::<usize>() as i64);
    shape.extend(x.shape()[e + 1..].iter().map(|&d| d as i64));
    reshape(x, &shape)
}

/// Joins tensors along `axis`; all other dims must agree.
pub fn concat<T: Clone>(xs: &[ArrayViewD<T>], axis: isize) -> KernelResult<ArrayD<T>> {
    const OP: &str = "concat";
    let first = xs
        .first()
        .ok_or_else(|| KernelError::argument(OP, "no inputs"))?;
    let a = normalize_axis(OP, axis, first.ndim())?;
    for x in xs {
        let same_rank = x.ndim() == first.ndim();
        if !same_rank || (0..first.ndim()).any(|d| d != a && x.shape()[d] != first.shape()[d]) {
            return Err(KernelError::shape(
                OP,
                format!(
                    "shapes {:?} and {:?} differ outside axis {a}",
                    first.shape(),
                    x.shape()
                ),
            ));
        }
    }
    let mut shape = first.shape().to_vec();
    shape[a] = xs.iter().map(|x| x.shape()[a]).sum();
    checked_numel(OP, &shape)?;
    ndarray::concatenate(Axis(a), xs).map_err(|e| KernelError::shape(OP, e.to_string()))
}

/// The indices Python's `range(len)[start:end:step]` selects. Out-of-range bounds clamp.
pub fn slice_indices(
    op: &'static str,
    len: usize,
    start: i64,
    end: i64,
    step: i64,
) -> KernelResult<Vec<usize>> {
    if step == 0 {
        return Err(KernelError::argument(op, "step must not be 0"));
    }
    let n = len as i64;
    let resolve = |v: i64, lo: i64, hi: i64| {
        let v = if v < 0 { v.saturating_add(n) } else { v };
        v.clamp(lo, hi)
    };
    let mut out = Vec::new();
    if step > 0 {
        let (s, e) = (resolve(start, 0, n), resolve(end, 0, n));
        let mut i = s;
        while i < e {
            out.push(i as usize);
            i = match i.checked_add(step) {
                Some(next) => next,
                None => break,
            };
        }
    } else {
        let (s, e) = (resolve(start, -1, n - 1), resolve(end, -1, n - 1));
        let mut i = s;
        while i > e {
            out.push(i as usize);
            i = match i.checked_add(step) {
                Some(next) => next,
                None => break,
            };
        }
    }
    Ok(out)
}

/// `x[..., start:end:step, ...]` on `axis`, with Python semantics (negative indices count from the
/// end, bounds clamp, negative steps walk backwards).
pub fn slice<T: Clone>(
    x: ArrayViewD<T>,
    axis: isize,
    start: i64,
    end: i64,
    step: i64,
) -> KernelResult<ArrayD<T>> {
    const OP: &str = "slice";
    let a = normalize_axis(OP, axis, x.ndim())?;
    let idx = slice_indices(OP, x.shape()[a], start, end, step)?;
    Ok(x.select(Axis(a), &idx))
}

/// `numpy.take(x, indices, axis)`: the output is `x.shape[:axis] + indices.shape +
/// x.shape[axis+1:]`. Negative indices count from the end (ONNX Gather).
pub fn gather<T: Clone>(
    x: ArrayViewD<T>,
    axis: isize,
    indices: ArrayViewD<i64>,
) -> KernelResult<ArrayD<T>> {
    gather_named("gather", x, axis, indices, true)
}

/// Rows of `weight: [V, D]` picked by `ids` (any shape): output `ids.shape + [D]`. Ids must be in
/// `0..V`.
pub fn embedding<T: Clone>(weight: ArrayViewD<T>, ids: ArrayViewD<i64>) -> KernelResult<ArrayD<T>> {
    if weight.ndim() != 2 {
        return Err(KernelError::shape(
            "embedding",
            "weight must be [num_embeddings, dim]",
        ));
    }
    gather_named("embedding", weight, 0, ids, false)
}

fn gather_named<T: Clone>(
    op: &'static str,
    x: ArrayViewD<T>,
    axis: isize,
    indices: ArrayViewD<i64>,
    allow_negative: bool,
) -> KernelResult<ArrayD<T>> {
    let a = normalize_axis(op, axis, x.ndim())?;
    let size = x.shape()[a];
    let flat = indices
        .iter()
        .map(|&i| {
            let j = if i < 0 && allow_negative {
                i + size as i64
            } else {
                i
            };
            if j < 0 || j >= size as i64 {
                Err(KernelError::Index { op, index: i, size })
            } else {
                Ok(j as usize)
            }
        })
        .collect::<KernelResult<Vec<_>>>()?;
    let mut shape = x.shape()[..a].to_vec();
    shape.extend_from_slice(indices.shape());
    shape.extend_from_slice(&x.shape()[a + 1..]);
    checked_numel(op, &shape)?;
    let picked = x.select(Axis(a), &flat);
    picked
        .as_standard_layout()
        .into_owned()
        .into_shape_with_order(IxDyn(&shape))
        .map_err(|e| KernelError::shape(op, e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::{arr1, arr2, Array};

    fn iota(shape: &[usize]) -> ArrayD<i64> {
        let n: usize = shape.iter().product();
        ArrayD::from_shape_vec(IxDyn(shape), (0..n as i64).collect()).unwrap()
    }

    #[test]
    fn transpose_and_permute() {
        let x = iota(&[2, 3]);
        assert_eq!(
            transpose(x.view(), 0, -1).unwrap(),
            arr2(&[[0, 3], [1, 4], [2, 5]]).into_dyn()
        );
        let y = iota(&[2, 3, 4]);
        let p = permute(y.view(), &[2, 0, 1]).unwrap();
        assert_eq!(p.shape(), &[4, 2, 3]);
        assert_eq!(p[[3, 1, 2]], y[[1, 2, 3]]);
        assert_eq!(permute(y.view(), &[0, 0, 1]).unwrap_err().code(), "TL0503");
    }

    #[test]
    fn reshape_and_flatten() {
        let x = iota(&[2, 3, 4]);
        assert_eq!(reshape(x.view(), &[4, -1]).unwrap().shape(), &[4, 6]);
        assert_eq!(reshape(x.view(), &[5, -1]).unwrap_err().code(), "TL0501");
        assert_eq!(reshape(x.view(), &[-1, -1]).unwrap_err().code(), "TL0503");
        assert_eq!(reshape(x.view(), &[2, 12]).unwrap()[[1, 0]], 12);
        assert_eq!(flatten(x.view(), 1, -1).unwrap().shape(), &[2, 12]);
        assert_eq!(flatten(x.view(), 0, 1).unwrap().shape(), &[6, 4]);
        let t = transpose(x.view(), 0, 2).unwrap();
        assert_eq!(reshape(t.view(), &[-1]).unwrap()[[1]], 12);
    }

    #[test]
    fn squeeze_and_unsqueeze() {
        let x = iota(&[2, 3]);
        let u = unsqueeze(x.view(), &[0, -1]).unwrap();
        assert_eq!(u.shape(), &[1, 2, 3, 1]);
        assert_eq!(squeeze(u.view(), None).unwrap(), x);
        assert_eq!(squeeze(u.view(), Some(&[-1])).unwrap().shape(), &[1, 2, 3]);
        assert_eq!(squeeze(u.view(), Some(&[1])).unwrap_err().code(), "TL0501");
    }

    #[test]
    fn concat_checks_other_dims() {
        let a = iota(&[2, 2]);
        let b = iota(&[2, 1]);
        let c = concat(&[a.view(), b.view()], 1).unwrap();
        assert_eq!(c, arr2(&[[0, 1, 0], [2, 3, 1]]).into_dyn());
        assert_eq!(
            concat(&[a.view(), b.view()], 0).unwrap_err().code(),
            "TL0501"
        );
    }

    #[test]
    fn slice_follows_python() {
        assert_eq!(slice_indices("t", 5, 1, 4, 1).unwrap(), vec![1, 2, 3]);
        assert_eq!(slice_indices("t", 5, -2, 100, 1).unwrap(), vec![3, 4]);
        assert_eq!(slice_indices("t", 5, 0, 5, 2).unwrap(), vec![0, 2, 4]);
        assert_eq!(
            slice_indices("t", 5, -1, i64::MIN, -1).unwrap(),
            vec![4, 3, 2, 1, 0]
        );
        assert_eq!(slice_indices("t", 5, 3, 1, 1).unwrap(), Vec::<usize>::new());
        assert!(slice_indices("t", 5, 0, 1, 0).is_err());
        let x = iota(&[2, 5]);
        assert_eq!(
            slice(x.view(), 1, 1, i64::MAX, 2).unwrap(),
            arr2(&[[1, 3], [6, 8]]).into_dyn()
        );
    }

    #[test]
    fn gather_and_embedding() {
        let w = Array::from_shape_fn((4, 2), |(i, j)| (i * 10 + j) as f32).into_dyn();
        let ids = arr2(&[[3i64, 0], [1, 1]]).into_dyn();
        let e = embedding(w.view(), ids.view()).unwrap();
        assert_eq!(e.shape(), &[2, 2, 2]);
        assert_eq!(e[[0, 0, 1]], 31.0);
        let neg = arr1(&[-1i64]).into_dyn();
        assert_eq!(
            embedding(w.view(), neg.view()).unwrap_err().code(),
            "TL0505"
        );
        assert_eq!(gather(w.view(), 0, neg.view()).unwrap()[[0, 0]], 30.0);
        let g = gather(w.view(), 1, arr1(&[1i64]).into_dyn().view()).unwrap();
        assert_eq!(g.shape(), &[4, 1]);
        let big = arr1(&[4i64]).into_dyn();
        assert_eq!(
            gather(w.view(), 0, big.view()).unwrap_err().code(),
            "TL0505"
        );
    }
}
