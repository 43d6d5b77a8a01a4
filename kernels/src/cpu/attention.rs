//! Scaled dot-product attention with hard masking: a masked position gets a weight of exactly
//! 0.0 (it is left out of the softmax, never approximated by a large negative number).

use crate::error::{KernelError, KernelResult};
use crate::real::Real;
use crate::tensor::{broadcast_shapes, checked_numel};
use ndarray::linalg::general_mat_mul;
use ndarray::{Array2, ArrayD, ArrayViewD, Axis, Ix2, IxDyn};

/// An attention mask broadcastable to `[..., L, S]`.
#[derive(Debug, Clone)]
pub enum AttentionMask<'a, T> {
    /// `true` where the query may attend to the key (PyTorch's boolean `attn_mask`).
    Keep(ArrayViewD<'a, bool>),
    /// Added to the scores; `-inf` entries are hard-masked.
    Additive(ArrayViewD<'a, T>),
}

/// The attention output `[..., L, Ev]` and, when asked for, the weights `[..., L, S]`.
#[derive(Debug, Clone, PartialEq)]
pub struct AttentionOutput<T> {
    pub output: ArrayD<T>,
    pub weights: Option<ArrayD<T>>,
}

/// `softmax(q k^T * scale + mask) v` for `q: [..., L, E]`, `k: [..., S, E]`, `v: [..., S, Ev]`
/// (batch dims broadcast). `causal` keeps key `s` for query `l` only when `s <= l` (top-left
/// aligned, as PyTorch). `scale` defaults to `1/sqrt(E)`. A query row whose keys are all masked
/// gets all-zero weights and a zero output (PyTorch >= 2.5's math kernel does the same; older
/// versions return NaN).
pub fn scaled_dot_product_attention<T: Real>(
    q: ArrayViewD<T>,
    k: ArrayViewD<T>,
    v: ArrayViewD<T>,
    mask: Option<AttentionMask<'_, T>>,
    causal: bool,
    scale: Option<f64>,
    return_weights: bool,
) -> KernelResult<AttentionOutput<T>> {
    const OP: &str = "scaled_dot_product_attention";
    if q.ndim() < 2 || k.ndim() < 2 || v.ndim() < 2 {
        return Err(KernelError::shape(OP, "q, k and v must have rank >= 2"));
    }
    let (l, e) = last2(&q);
    let (s, ek) = last2(&k);
    let (sv, ev) = last2(&v);
    if e != ek || s != sv {
        return Err(KernelError::shape(
            OP,
            format!(
                "q {:?}, k {:?}, v {:?}: need q[-1] = k[-1] and k[-2] = v[-2]",
                q.shape(),
                k.shape(),
                v.shape()
            ),
        ));
    }
    let scale = match scale {
        Some(sc) if sc.is_finite() => sc,
        Some(sc) => {
            return Err(KernelError::argument(
                OP,
                format!("scale must be finite, got {sc}"),
            ))
        }
        None if e == 0 => 1.0,
        None => 1.0 / (e as f64).sqrt(),
    };
    let batch = broadcast_shapes(OP, &q.shape()[..q.ndim() - 2], &k.shape()[..k.ndim() - 2])?;
    let batch = broadcast_shapes(OP, &batch, &v.shape()[..v.ndim() - 2])?;
    let full = |tail: [usize; 2]| -> Vec<usize> { batch.iter().copied().chain(tail).collect() };
    checked_numel(OP, &full([l, ev]))?;
    checked_numel(OP, &full([l, s]))?;
    let (qb, kb, vb) = (
        bcast(&q, &full([l, e]))?,
        bcast(&k, &full([s, e]))?,
        bcast(&v, &full([s, ev]))?,
    );
    let keep_b = match &mask {
        Some(AttentionMask::Keep(m)) => Some(bcast(m, &full([l, s]))?),
        _ => None,
    };
    let add_b = match &mask {
        Some(AttentionMask::Additive(m)) => Some(bcast(m, &full([l, s]))?),
        _ => None,
    };

    let mut output = ArrayD::<T>::zeros(IxDyn(&full([l, ev])));
    let mut weights_all = return_weights.then(|| ArrayD::<T>::zeros(IxDyn(&full([l, s]))));
    let scale_t = T::from_f64(scale);
    let mut scores = Array2::<T>::zeros((l, s));
    for idx in ndarray::indices(IxDyn(&batch)) {
        let idx = ndarray::Dimension::slice(&idx);
        let qm = at(qb.view(), idx)?;
        let km = at(kb.view(), idx)?;
        let vm = at(vb.view(), idx)?;
        general_mat_mul(scale_t, &qm, &km.t(), T::zero(), &mut scores);
        let keep = keep_b.as_ref().map(|m| at(m.view(), idx)).transpose()?;
        let add = add_b.as_ref().map(|m| at(m.view(), idx)).transpose()?;
        for (li, mut row) in scores.outer_iter_mut().enumerate() {
            let kept =
                |si: usize| !(causal && si > li) && keep.as_ref().is_none_or(|m| m[[li, si]]);
            if let Some(add) = &add {
                for (si, x) in row.iter_mut().enumerate() {
                    *x = *x + add[[li, si]];
                }
            }
            let max = (0..s)
                .filter(|&si| kept(si))
                .fold(T::NEG_INFINITY, |m, si| m.max_nan(row[si]));
            if max == T::NEG_INFINITY {
                // Every key masked (or -inf): the row attends to nothing.
                row.fill(T::zero());
                continue;
            }
            let mut total = T::zero();
            for si in 0..s {
                row[si] = if kept(si) {
                    (row[si] - max).exp()
                } else {
                    T::zero()
                };
                total = total + row[si];
            }
            row.mapv_inplace(|w| w / total);
        }
        let mut out_m = at_mut(&mut output, idx)?;
        general_mat_mul(T::one(), &scores, &vm, T::zero(), &mut out_m);
        if let Some(w) = weights_all.as_mut() {
            at_mut(w, idx)?.assign(&scores);
        }
    }
    Ok(AttentionOutput {
        output,
        weights: weights_all,
    })
}

fn bcast<'a, T>(x: &'a ArrayViewD<'_, T>, full: &[usize]) -> KernelResult<ArrayViewD<'a, T>> {
    x.broadcast(IxDyn(full))
        .ok_or_else(|| KernelError::Broadcast {
            op: "scaled_dot_product_attention",
            lhs: x.shape().to_vec(),
            rhs: full.to_vec(),
        })
}

fn last2<T>(x: &ArrayViewD<T>) -> (usize, usize) {
    (x.shape()[x.ndim() - 2], x.shape()[x.ndim() - 1])
}

fn at<'a, T>(x: ArrayViewD<'a, T>, idx: &[usize]) -> KernelResult<ndarray::ArrayView2<'a, T>> {
    let mut v = x;
    for &i in idx {
        v = v.index_axis_move(Axis(0), i);
    }
    v.into_dimensionality::<Ix2>()
        .map_err(|e| KernelError::shape("scaled_dot_product_attention", e.to_string()))
}

fn at_mut<'a, T>(
    x: &'a mut ArrayD<T>,
    idx: &[usize],
) -> KernelResult<ndarray::ArrayViewMut2<'a, T>> {
    let mut v = x.view_mut();
    for &i in idx {
        v = v.index_axis_move(Axis(0), i);
    }
    v.into_dimensionality::<Ix2>()
        .map_err(|e| KernelError::shape("scaled_dot_product_attention", e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::{arr2, Array};

    #[test]
    fn uniform_scores_average_values() {
        let q = ArrayD::<f64>::zeros(IxDyn(&[1, 2, 3]));
        let k = ArrayD::<f64>::ones(IxDyn(&[1, 4, 3]));
        let v = Array::from_shape_fn((1, 4, 2), |(_, s, j)| (s * 2 + j) as f64).into_dyn();
        let r = scaled_dot_product_attention(q.view(), k.view(), v.view(), None, false, None, true)
            .unwrap();
        assert_eq!(
            r.output,
            arr2(&[[3.0, 4.0], [3.0, 4.0]])
                .into_dyn()
                .insert_axis(Axis(0))
        );
        assert!(r.weights.unwrap().iter().all(|&w| w == 0.25));
    }

    #[test]
    fn causal_weights_are_exactly_zero_above_diagonal() {
        let q = Array::from_shape_fn((3, 2), |(i, j)| (i + j) as f32 * 0.3).into_dyn();
        let k = Array::from_shape_fn((3, 2), |(i, j)| (i * 2 + j) as f32 * 0.1).into_dyn();
        let v = Array::from_shape_fn((3, 1), |(i, _)| i as f32).into_dyn();
        let r = scaled_dot_product_attention(q.view(), k.view(), v.view(), None, true, None, true)
            .unwrap();
        let w = r.weights.unwrap();
        for li in 0..3 {
            for si in 0..3 {
                if si > li {
                    assert_eq!(w[[li, si]], 0.0);
                }
            }
            let row_sum: f32 = (0..3).map(|si| w[[li, si]]).sum();
            assert!((row_sum - 1.0).abs() < 1e-6);
        }
        // Query 0 sees only key 0.
        assert_eq!(r.output[[0, 0]], 0.0);
    }

    #[test]
    fn hand_computed_two_keys() {
        // scores = [0, ln 3] with scale 1 -> weights [1/4, 3/4]
        let q = arr2(&[[1.0]]).into_dyn();
        let k = arr2(&[[0.0], [3f64.ln()]]).into_dyn();
        let v = arr2(&[[4.0], [8.0]]).into_dyn();
        let r = scaled_dot_product_attention(
            q.view(),
            k.view(),
            v.view(),
            None,
            false,
            Some(1.0),
            true,
        )
        .unwrap();
        let w = r.weights.unwrap();
        assert!((w[[0, 0]] - 0.25).abs() < 1e-12 && (w[[0, 1]] - 0.75).abs() < 1e-12);
        assert!((r.output[[0, 0]] - 7.0).abs() < 1e-12);
    }

    #[test]
    fn masks_are_hard_and_fully_masked_rows_are_zero() {
        let q = ArrayD::<f64>::ones(IxDyn(&[2, 2]));
        let k = ArrayD::<f64>::ones(IxDyn(&[2, 2]));
        let v = arr2(&[[1.0], [5.0]]).into_dyn();
        let keep = arr2(&[[true, false], [false, false]]).into_dyn();
        let r = scaled_dot_product_attention(
            q.view(),
            k.view(),
            v.view(),
            Some(AttentionMask::Keep(keep.view())),
            false,
            None,
            true,
        )
        .unwrap();
        assert_eq!(
            r.weights.unwrap(),
            arr2(&[[1.0, 0.0], [0.0, 0.0]]).into_dyn()
        );
        assert_eq!(r.output, arr2(&[[1.0], [0.0]]).into_dyn());
        let add = arr2(&[[0.0, f64::NEG_INFINITY]]).into_dyn();
        let r = scaled_dot_product_attention(
            q.view(),
            k.view(),
            v.view(),
            Some(AttentionMask::Additive(add.view())),
            false,
            None,
            false,
        )
        .unwrap();
        assert!(r.weights.is_none());
        assert_eq!(r.output, arr2(&[[1.0], [1.0]]).into_dyn());
        let bad = ArrayD::<bool>::from_elem(IxDyn(&[3, 2]), true);
        let err = scaled_dot_product_attention(
            q.view(),
            k.view(),
            v.view(),
            Some(AttentionMask::Keep(bad.view())),
            false,
            None,
            false,
        )
        .unwrap_err();
        assert_eq!(err.code(), "TL0502");
        let v_bad = ArrayD::<f64>::ones(IxDyn(&[3, 1]));
        assert_eq!(
            scaled_dot_product_attention(
                q.view(),
                k.view(),
                v_bad.view(),
                None,
                false,
                None,
                false
            )
            .unwrap_err()
            .code(),
            "TL0501"
        );
    }
}
