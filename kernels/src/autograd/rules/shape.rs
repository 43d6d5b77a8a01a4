//! Backward rules of data movement: axis swaps, reshapes, concatenation, slicing, gather and
//! embedding lookups. Each routes every gradient element back to the input element it came from
//! (scatter-adding where one input element feeds several outputs).

use super::{operand_mismatch, Grads, RuleError};
use crate::cpu::slice_indices;
use crate::tensor::normalize_axis;
use ndarray::{ArrayD, Axis, IxDyn, Slice};

pub(super) fn transpose(dim0: isize, dim1: isize, g: &ArrayD<f64>) -> Result<Grads, RuleError> {
    let a = normalize_axis("transpose", dim0, g.ndim())?;
    let b = normalize_axis("transpose", dim1, g.ndim())?;
    let mut v = g.view();
    v.swap_axes(a, b);
    Ok(vec![Some(v.as_standard_layout().into_owned())])
}

pub(super) fn permute(dims: &[isize], g: &ArrayD<f64>) -> Result<Grads, RuleError> {
    let n = g.ndim();
    let mut inverse = vec![usize::MAX; n];
    for (i, &d) in dims.iter().enumerate() {
        let d = normalize_axis("permute", d, n)?;
        match inverse.get_mut(d) {
            Some(slot) if *slot == usize::MAX => *slot = i,
            _ => {
                return Err(operand_mismatch(
                    "permute",
                    format!("dims {dims:?} are not a permutation"),
                ))
            }
        }
    }
    if dims.len() != n {
        return Err(operand_mismatch(
            "permute",
            format!("dims {dims:?} are not a permutation of {n} axes"),
        ));
    }
    let v = g.view().permuted_axes(IxDyn(&inverse));
    Ok(vec![Some(v.as_standard_layout().into_owned())])
}

/// reshape, flatten, squeeze, unsqueeze: the same elements in the same row-major order.
pub(super) fn reshape_back(
    op: &'static str,
    x: &ArrayD<f64>,
    g: &ArrayD<f64>,
) -> Result<Grads, RuleError> {
    let gx = g
        .to_shape(x.raw_dim())
        .map_err(|e| operand_mismatch(op, e.to_string()))?
        .into_owned();
    Ok(vec![Some(gx)])
}

pub(super) fn concat(
    axis: isize,
    parts: &[&ArrayD<f64>],
    g: &ArrayD<f64>,
) -> Result<Grads, RuleError> {
    let a = normalize_axis("concat", axis, g.ndim())?;
    let mut offset = 0usize;
    let mut grads = Vec::with_capacity(parts.len());
    for p in parts {
        let len = p.shape().get(a).copied().unwrap_or(0);
        if offset + len > g.shape()[a] {
            return Err(operand_mismatch(
                "concat",
                "operands are longer than the result",
            ));
        }
        let piece = g.slice_axis(Axis(a), Slice::from(offset..offset + len));
        grads.push(Some(piece.to_owned()));
        offset += len;
    }
    Ok(grads)
}

pub(super) fn slice(
    x: &ArrayD<f64>,
    axis: isize,
    start: i64,
    end: i64,
    step: i64,
    g: &ArrayD<f64>,
) -> Result<Grads, RuleError> {
    let a = normalize_axis("slice", axis, x.ndim())?;
    let picked = slice_indices("slice", x.shape()[a], start, end, step)?;
    let mut gx = ArrayD::<f64>::zeros(x.raw_dim());
    for (j, &i) in picked.iter().enumerate() {
        let mut dst = gx.index_axis_mut(Axis(a), i);
        dst += &g.index_axis(Axis(a), j);
    }
    Ok(vec![Some(gx)])
}

/// `numpy.take(x, indices, axis)`: scatter-add the gradient rows back to the rows they came from.
pub(super) fn gather(
    x: &ArrayD<f64>,
    axis: isize,
    indices: &ArrayD<i64>,
    g: &ArrayD<f64>,
) -> Result<Grads, RuleError> {
    let a = normalize_axis("gather", axis, x.ndim())?;
    let size = x.shape()[a];
    let gx = scatter_rows("gather", x.raw_dim(), a, indices, g, |i| {
        let j = if i < 0 { i + size as i64 } else { i };
        (0..size as i64).contains(&j).then_some(j as usize)
    })?;
    Ok(vec![Some(gx), None])
}

pub(super) fn embedding(
    w: &ArrayD<f64>,
    ids: &ArrayD<i64>,
    g: &ArrayD<f64>,
) -> Result<Grads, RuleError> {
    let rows = w.shape().first().copied().unwrap_or(0);
    let gw = scatter_rows("embedding", w.raw_dim(), 0, ids, g, |i| {
        (0..rows as i64).contains(&i).then_some(i as usize)
    })?;
    Ok(vec![Some(gw), None])
}

/// Zeros of `shape` plus, for each index `k` (row-major over `indices`), the gradient slab `k`
/// added at position `resolve(indices[k])` along `axis`.
fn scatter_rows(
    op: &'static str,
    shape: IxDyn,
    axis: usize,
    indices: &ArrayD<i64>,
    g: &ArrayD<f64>,
    resolve: impl Fn(i64) -> Option<usize>,
) -> Result<ArrayD<f64>, RuleError> {
    let mut out = ArrayD::<f64>::zeros(shape);
    // g: x.shape[..axis] + indices.shape + x.shape[axis+1..]; flatten the index dims into one.
    let mut flat_shape: Vec<usize> = out.shape()[..axis].to_vec();
    flat_shape.push(indices.len());
    flat_shape.extend_from_slice(&out.shape()[axis + 1..]);
    let g3 = g
        .to_shape(IxDyn(&flat_shape))
        .map_err(|e| operand_mismatch(op, e.to_string()))?;
    for (k, &i) in indices.iter().enumerate() {
        let at = resolve(i).ok_or(crate::error::KernelError::Index {
            op,
            index: i,
            size: out.shape()[axis],
        })?;
        let mut dst = out.index_axis_mut(Axis(axis), at);
        dst += &g3.index_axis(Axis(axis), k);
    }
    Ok(out)
}
