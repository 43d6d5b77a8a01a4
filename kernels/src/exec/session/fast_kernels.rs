//! Allocation-free f32 kernels for a [`super::Session`]: softmax and log-softmax along any
//! axis, layer norm, axis permutations, sum/mean/max reductions and broadcasting binary ops,
//! each writing into a buffer the session sized when it bound its inputs.
//!
//! Shapes live in stack arrays (ranks up to [`MAX_RANK`]); the caller falls back to the
//! generic kernels for a higher rank, and for any operand the generic kernel would refuse, so
//! errors keep coming from one place. Softmax and layer norm do the generic kernels'
//! arithmetic in the same order, so their results are identical.

use crate::cpu::{BinaryOp, ReduceOp};
use crate::error::{KernelError, KernelResult};
use crate::real::Real;

/// The highest rank these kernels handle.
pub(crate) const MAX_RANK: usize = 8;

/// A shape of rank <= [`MAX_RANK`], on the stack.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Dims {
    rank: usize,
    dims: [usize; MAX_RANK],
}

impl Dims {
    pub(crate) fn new(shape: &[usize]) -> Option<Dims> {
        let mut dims = [0; MAX_RANK];
        dims.get_mut(..shape.len())?.copy_from_slice(shape);
        Some(Dims {
            rank: shape.len(),
            dims,
        })
    }

    pub(crate) fn as_slice(&self) -> &[usize] {
        &self.dims[..self.rank]
    }

    /// Row-major strides.
    pub(super) fn strides(&self) -> [usize; MAX_RANK] {
        let mut strides = [0; MAX_RANK];
        let mut step = 1;
        for d in (0..self.rank).rev() {
            strides[d] = step;
            step *= self.dims[d];
        }
        strides
    }

    fn numel(&self) -> usize {
        self.as_slice().iter().product()
    }
}

/// Calls `f(offsets)` for every row of `dims` (every index of all dims but the last, in
/// row-major order), with `offsets[o] = sum_d index[d] * strides[o][d]`.
pub(super) fn for_each_row<const N: usize>(
    dims: &[usize],
    strides: [&[usize; MAX_RANK]; N],
    mut f: impl FnMut([usize; N]),
) {
    let outer = &dims[..dims.len().saturating_sub(1)];
    if outer.contains(&0) {
        return;
    }
    let mut index = [0usize; MAX_RANK];
    let mut offsets = [0usize; N];
    loop {
        f(offsets);
        let mut d = outer.len();
        loop {
            if d == 0 {
                return;
            }
            d -= 1;
            index[d] += 1;
            if index[d] < outer[d] {
                for (off, s) in offsets.iter_mut().zip(&strides) {
                    *off += s[d];
                }
                break;
            }
            for (off, s) in offsets.iter_mut().zip(&strides) {
                *off -= s[d] * (outer[d] - 1);
            }
            index[d] = 0;
        }
    }
}

pub(super) fn check_len(op: &'static str, what: &str, got: usize, want: usize) -> KernelResult<()> {
    if got == want {
        Ok(())
    } else {
        Err(KernelError::shape(
            op,
            format!("{what} holds {got} values, the shape needs {want}"),
        ))
    }
}

/// Softmax (`log = false`) or log-softmax of `x: shape` along `axis` (resolved) into `out`.
pub(crate) fn softmax_into(
    x: &[f32],
    shape: &Dims,
    axis: usize,
    log: bool,
    out: &mut [f32],
) -> KernelResult<()> {
    let op = if log { "log_softmax" } else { "softmax" };
    let dims = shape.as_slice();
    if axis >= dims.len() {
        return Err(KernelError::argument(
            op,
            format!("axis {axis} of rank {}", dims.len()),
        ));
    }
    check_len(op, "input", x.len(), shape.numel())?;
    check_len(op, "output", out.len(), shape.numel())?;
    let len = dims[axis];
    let inner: usize = dims[axis + 1..].iter().product();
    let outer: usize = dims[..axis].iter().product();
    if len == 0 || inner == 0 {
        return Ok(());
    }
    if inner == 1 {
        // The last axis (or one followed by extent-1 axes): each lane is a contiguous row.
        for (row, dst) in x.chunks_exact(len).zip(out.chunks_exact_mut(len)) {
            let m = row.iter().fold(f32::NEG_INFINITY, |acc, &v| acc.max_nan(v));
            if log {
                let s = row.iter().fold(0.0f32, |acc, &v| acc + (v - m).exp());
                let lse = m + s.ln();
                for (d, &v) in dst.iter_mut().zip(row) {
                    *d = v - lse;
                }
            } else {
                for (d, &v) in dst.iter_mut().zip(row) {
                    *d = (v - m).exp();
                }
                let s = dst.iter().fold(0.0f32, |acc, &v| acc + v);
                dst.iter_mut().for_each(|d| *d /= s);
            }
        }
        return Ok(());
    }
    // Lanes (columns j of one outer index) in chunks of COLUMNS, running over the axis row by
    // row: contiguous reads, and each lane folds its values in axis order as the generic
    // kernel does.
    const COLUMNS: usize = 64;
    for o in 0..outer {
        let block = o * len * inner;
        for j0 in (0..inner).step_by(COLUMNS) {
            let c = (inner - j0).min(COLUMNS);
            let row = |l: usize| block + l * inner + j0..block + l * inner + j0 + c;
            let mut m = [f32::NEG_INFINITY; COLUMNS];
            for l in 0..len {
                for (m, &v) in m.iter_mut().zip(&x[row(l)]) {
                    *m = m.max_nan(v);
                }
            }
            let mut s = [0.0f32; COLUMNS];
            if log {
                for l in 0..len {
                    for ((s, &m), &v) in s.iter_mut().zip(&m).zip(&x[row(l)]) {
                        *s += (v - m).exp();
                    }
                }
                let mut lse = [0.0f32; COLUMNS];
                for ((lse, &m), &s) in lse.iter_mut().zip(&m).zip(&s) {
                    *lse = m + s.ln();
                }
                for l in 0..len {
                    for ((o, &v), &lse) in out[row(l)].iter_mut().zip(&x[row(l)]).zip(&lse) {
                        *o = v - lse;
                    }
                }
            } else {
                for l in 0..len {
                    for ((o, &v), &m) in out[row(l)].iter_mut().zip(&x[row(l)]).zip(&m) {
                        *o = (v - m).exp();
                    }
                }
                for l in 0..len {
                    for (s, &e) in s.iter_mut().zip(&out[row(l)]) {
                        *s += e;
                    }
                }
                for l in 0..len {
                    for (o, &s) in out[row(l)].iter_mut().zip(&s) {
                        *o /= s;
                    }
                }
            }
        }
    }
    Ok(())
}

/// Layer norm of `x` viewed as rows of `inner` values: `(x - mean) / sqrt(var + eps)`, times
/// `weight` and plus `bias` (each `inner` values) when given; biased variance.
pub(crate) fn layer_norm_into(
    x: &[f32],
    inner: usize,
    weight: Option<&[f32]>,
    bias: Option<&[f32]>,
    eps: f64,
    out: &mut [f32],
) -> KernelResult<()> {
    const OP: &str = "layer_norm";
    if inner == 0 || !x.len().is_multiple_of(inner) {
        return Err(KernelError::shape(
            OP,
            format!("{} values are not rows of {inner}", x.len()),
        ));
    }
    check_len(OP, "output", out.len(), x.len())?;
    for p in [weight, bias].into_iter().flatten() {
        check_len(OP, "weight or bias", p.len(), inner)?;
    }
    let n = inner as f32;
    let eps = eps as f32;
    for (row, dst) in x.chunks_exact(inner).zip(out.chunks_exact_mut(inner)) {
        let mean = row.iter().fold(0.0f32, |a, &v| a + v) / n;
        let var = row.iter().fold(0.0f32, |a, &v| a + (v - mean) * (v - mean)) / n;
        let inv = 1.0 / (var + eps).sqrt();
        for (j, (o, &v)) in dst.iter_mut().zip(row).enumerate() {
            let mut y = (v - mean) * inv;
            if let Some(w) = weight {
                y *= w[j];
            }
            if let Some(b) = bias {
                y += b[j];
            }
            *o = y;
        }
    }
    Ok(())
}

/// Permutes the axes of `x: shape` into `out`: output axis `i` is input axis `perm[i]`
/// (resolved, a permutation of `0..rank`).
pub(crate) fn permute_into(
    x: &[f32],
    shape: &Dims,
    perm: &[usize],
    out: &mut [f32],
) -> KernelResult<()> {
    const OP: &str = "permute";
    let rank = shape.rank;
    let mut seen = [false; MAX_RANK];
    if perm.len() != rank
        || perm
            .iter()
            .any(|&p| p >= rank || std::mem::replace(&mut seen[p], true))
    {
        return Err(KernelError::argument(
            OP,
            format!("{perm:?} is not a permutation of rank {rank}"),
        ));
    }
    check_len(OP, "input", x.len(), shape.numel())?;
    check_len(OP, "output", out.len(), shape.numel())?;
    let in_strides = shape.strides();
    let mut out_dims = *shape;
    let mut src_strides = [0; MAX_RANK];
    for (i, &p) in perm.iter().enumerate() {
        out_dims.dims[i] = shape.dims[p];
        src_strides[i] = in_strides[p];
    }
    if out.is_empty() {
        return Ok(());
    }
    let dims = out_dims.as_slice();
    let (len, step) = match dims.last() {
        Some(&len) => (len, src_strides[rank - 1]),
        None => (1, 0),
    };
    for_each_row(dims, [&out_dims.strides(), &src_strides], |[o, s]| {
        let dst = &mut out[o..o + len];
        if step == 1 {
            dst.copy_from_slice(&x[s..s + len]);
        } else {
            for (t, d) in dst.iter_mut().enumerate() {
                *d = x[s + t * step];
            }
        }
    });
    Ok(())
}

/// Reduces `x: shape` over the axes marked in `reduced` into `out` (the kept axes in order;
/// with or without keepdim the values are laid out the same). The mean of nothing is NaN;
/// the max of nothing is refused.
pub(crate) fn reduce_into(
    op: ReduceOp,
    x: &[f32],
    shape: &Dims,
    reduced: &[bool; MAX_RANK],
    out: &mut [f32],
) -> KernelResult<()> {
    let name = op.name();
    let dims = shape.as_slice();
    check_len(name, "input", x.len(), shape.numel())?;
    let mut kept = *shape;
    let mut count = 1usize;
    for (d, &len) in dims.iter().enumerate() {
        if reduced[d] {
            kept.dims[d] = 1;
            count *= len;
            if op == ReduceOp::Max && len == 0 {
                return Err(KernelError::shape(
                    name,
                    format!("cannot take the max of empty axis {d}"),
                ));
            }
        }
    }
    check_len(name, "output", out.len(), kept.numel())?;
    // Strides into the output: 0 along reduced axes, so every value lands on its result.
    let mut dst_strides = kept.strides();
    for (s, &r) in dst_strides.iter_mut().zip(reduced).take(shape.rank) {
        if r {
            *s = 0;
        }
    }
    match op {
        ReduceOp::Sum | ReduceOp::Mean => {
            fold_rows(x, shape, reduced, &dst_strides, out, 0.0, |a, v| a + v)
        }
        ReduceOp::Max => fold_rows(
            x,
            shape,
            reduced,
            &dst_strides,
            out,
            f32::NEG_INFINITY,
            |a, v| a.max_nan(v),
        ),
    }
    if op == ReduceOp::Mean {
        let n = count as f32;
        out.iter_mut().for_each(|v| *v /= n);
    }
    Ok(())
}

/// Folds every value of `x` into its result in `out` (`dst_strides` into `out`, 0 along the
/// reduced axes), starting from `init`, reading `x` in order.
fn fold_rows(
    x: &[f32],
    shape: &Dims,
    reduced: &[bool; MAX_RANK],
    dst_strides: &[usize; MAX_RANK],
    out: &mut [f32],
    init: f32,
    combine: impl Fn(f32, f32) -> f32,
) {
    out.fill(init);
    if x.is_empty() {
        return;
    }
    let dims = shape.as_slice();
    let (len, last_reduced) = match dims.last() {
        Some(&len) => (len, reduced[shape.rank - 1]),
        None => (1, false),
    };
    for_each_row(dims, [&shape.strides(), dst_strides], |[s, o]| {
        let row = &x[s..s + len];
        if last_reduced {
            out[o] = row.iter().fold(out[o], |a, &v| combine(a, v));
        } else {
            for (d, &v) in out[o..o + len].iter_mut().zip(row) {
                *d = combine(*d, v);
            }
        }
    });
}

/// `a op b` with numpy broadcasting into `out`, whose shape `out_shape` must be the
/// broadcast shape of `a_shape` and `b_shape`.
pub(crate) fn binary_broadcast_into(
    op: BinaryOp,
    (a, a_shape): (&[f32], &Dims),
    (b, b_shape): (&[f32], &Dims),
    out: &mut [f32],
    out_shape: &Dims,
) -> KernelResult<()> {
    let name = op.name();
    let rank = out_shape.rank;
    let refuse = || KernelError::Broadcast {
        op: name,
        lhs: a_shape.as_slice().to_vec(),
        rhs: b_shape.as_slice().to_vec(),
    };
    if a_shape.rank > rank || b_shape.rank > rank {
        return Err(refuse());
    }
    check_len(name, "left operand", a.len(), a_shape.numel())?;
    check_len(name, "right operand", b.len(), b_shape.numel())?;
    check_len(name, "output", out.len(), out_shape.numel())?;
    // Each operand's strides over the output's axes: 0 where it is broadcast.
    let aligned = |s: &Dims| -> Option<[usize; MAX_RANK]> {
        let own = s.strides();
        let lead = rank - s.rank;
        let mut strides = [0; MAX_RANK];
        for d in lead..rank {
            match s.dims[d - lead] {
                len if len == out_shape.dims[d] && len != 1 => strides[d] = own[d - lead],
                1 => {}
                _ => return None,
            }
        }
        Some(strides)
    };
    let (Some(sa), Some(sb)) = (aligned(a_shape), aligned(b_shape)) else {
        return Err(refuse());
    };
    // An output axis longer than 1 where both operands have extent 1 (or none) is not
    // their broadcast shape.
    let extent = |s: &Dims, d: usize| (d + s.rank).checked_sub(rank).map_or(1, |i| s.dims[i]);
    if (0..rank)
        .any(|d| out_shape.dims[d] != 1 && extent(a_shape, d) == 1 && extent(b_shape, d) == 1)
    {
        return Err(KernelError::shape(
            name,
            format!(
                "output shape {:?} is not the broadcast of {:?} and {:?}",
                out_shape.as_slice(),
                a_shape.as_slice(),
                b_shape.as_slice()
            ),
        ));
    }
    if out.is_empty() {
        return Ok(());
    }
    let dims = out_shape.as_slice();
    let (len, la, lb) = match dims.last() {
        Some(&len) => (len, sa[rank - 1], sb[rank - 1]),
        None => (1, 0, 0),
    };
    let strides = [&out_shape.strides(), &sa, &sb];
    let last = (len, la, lb);
    // One loop per common op, so that the element op inlines into it.
    match op {
        BinaryOp::Add => broadcast_rows(dims, strides, last, a, b, out, |x, y| x + y),
        BinaryOp::Sub => broadcast_rows(dims, strides, last, a, b, out, |x, y| x - y),
        BinaryOp::Mul => broadcast_rows(dims, strides, last, a, b, out, |x, y| x * y),
        BinaryOp::Div => broadcast_rows(dims, strides, last, a, b, out, |x, y| x / y),
        other => broadcast_rows(dims, strides, last, a, b, out, |x, y| other.apply(x, y)),
    }
    Ok(())
}

/// `a op b` for operands of the same length, into `out` (of that length too).
pub(crate) fn binary_same_shape_into(
    op: BinaryOp,
    a: &[f32],
    b: &[f32],
    out: &mut [f32],
) -> KernelResult<()> {
    check_len(op.name(), "right operand", b.len(), a.len())?;
    check_len(op.name(), "output", out.len(), a.len())?;
    // One row: the whole buffers.
    let dims = [a.len()];
    let strides = [1usize; MAX_RANK];
    let last = (a.len(), 1, 1);
    match op {
        BinaryOp::Add => broadcast_rows(&dims, [&strides; 3], last, a, b, out, |x, y| x + y),
        BinaryOp::Sub => broadcast_rows(&dims, [&strides; 3], last, a, b, out, |x, y| x - y),
        BinaryOp::Mul => broadcast_rows(&dims, [&strides; 3], last, a, b, out, |x, y| x * y),
        BinaryOp::Div => broadcast_rows(&dims, [&strides; 3], last, a, b, out, |x, y| x / y),
        other => broadcast_rows(&dims, [&strides; 3], last, a, b, out, |x, y| {
            other.apply(x, y)
        }),
    }
    Ok(())
}

/// The rows of a broadcasting binary op: `(len, la, lb)` are the last axis's length and the
/// operands' strides along it (0 or 1).
#[inline(always)]
fn broadcast_rows(
    dims: &[usize],
    strides: [&[usize; MAX_RANK]; 3],
    (len, la, lb): (usize, usize, usize),
    a: &[f32],
    b: &[f32],
    out: &mut [f32],
    f: impl Fn(f32, f32) -> f32,
) {
    for_each_row(dims, strides, |[o, ia, ib]| {
        let dst = &mut out[o..o + len];
        match (la, lb) {
            (0, 0) => dst.fill(f(a[ia], b[ib])),
            (0, _) => {
                let x = a[ia];
                for (d, &y) in dst.iter_mut().zip(&b[ib..ib + len]) {
                    *d = f(x, y);
                }
            }
            (_, 0) => {
                let y = b[ib];
                for (d, &x) in dst.iter_mut().zip(&a[ia..ia + len]) {
                    *d = f(x, y);
                }
            }
            _ => {
                for ((d, &x), &y) in dst.iter_mut().zip(&a[ia..ia + len]).zip(&b[ib..ib + len]) {
                    *d = f(x, y);
                }
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cpu;
    use ndarray::{ArrayD, Dimension, IxDyn};
    use proptest::prelude::*;

    /// A shape of rank 0..=4 with extents 0..=6 (odd sizes, empty axes) and values for it.
    fn tensor(max_rank: usize) -> impl Strategy<Value = ArrayD<f32>> {
        proptest::collection::vec(0usize..7, 0..=max_rank).prop_flat_map(|shape| {
            let n = shape.iter().product::<usize>();
            proptest::collection::vec(-30.0f32..30.0, n).prop_map(move |v| {
                ArrayD::from_shape_vec(IxDyn(&shape), v).expect("sized for the shape")
            })
        })
    }

    fn dims(a: &ArrayD<f32>) -> Dims {
        Dims::new(a.shape()).unwrap()
    }

    /// Each value within `tol` of the f64 reference, scaled by the reference's magnitude.
    fn close(got: &[f32], want: impl Iterator<Item = f64>, tol: f64) -> Result<(), String> {
        for (i, (g, w)) in got.iter().zip(want).enumerate() {
            let g = f64::from(*g);
            let same = (g.is_nan() && w.is_nan()) || (g - w).abs() <= tol * (1.0 + w.abs());
            if !same {
                return Err(format!("value {i}: {g} vs {w}"));
            }
        }
        Ok(())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(200))]

        #[test]
        fn softmax_equals_the_generic_kernel(x in tensor(4), axis in 0usize..4, log: bool) {
            prop_assume!(x.ndim() > 0);
            let axis = axis % x.ndim();
            let want = if log {
                cpu::log_softmax(x.view(), axis as isize)
            } else {
                cpu::softmax(x.view(), axis as isize)
            }
            .unwrap();
            let mut out = vec![f32::NAN; x.len()];
            softmax_into(x.as_slice().unwrap(), &dims(&x), axis, log, &mut out).unwrap();
            // The same arithmetic in the same order: identical bits (NaN for NaN).
            for (g, w) in out.iter().zip(want.iter()) {
                prop_assert!(g.to_bits() == w.to_bits() || (g.is_nan() && w.is_nan()), "{g} vs {w}");
            }
        }

        #[test]
        fn layer_norm_equals_the_generic_kernel(
            x in tensor(4),
            trailing in 1usize..3,
            affine in 0u8..3,
            eps in prop_oneof![Just(0.0f64), Just(1e-5), Just(0.5)],
        ) {
            let rank = x.ndim();
            prop_assume!(rank > 0);
            let normalized = x.shape()[rank - trailing.min(rank)..].to_vec();
            let inner: usize = normalized.iter().product();
            prop_assume!(inner > 0);
            let param = |seed: f32| {
                ArrayD::from_shape_fn(IxDyn(&normalized), |i| {
                    seed + 0.1 * i.as_array_view().iter().sum::<usize>() as f32
                })
            };
            let (w, b) = (param(0.5), param(-1.0));
            let w = (affine >= 1).then_some(&w);
            let b = (affine >= 2).then_some(&b);
            let want = cpu::layer_norm(
                x.view(),
                &normalized,
                w.map(|w| w.view()),
                b.map(|b| b.view()),
                eps,
            )
            .unwrap();
            let mut out = vec![f32::NAN; x.len()];
            layer_norm_into(
                x.as_slice().unwrap(),
                inner,
                w.map(|w| w.as_slice().unwrap()),
                b.map(|b| b.as_slice().unwrap()),
                eps,
                &mut out,
            )
            .unwrap();
            for (g, w) in out.iter().zip(want.iter()) {
                prop_assert!(g.to_bits() == w.to_bits() || (g.is_nan() && w.is_nan()), "{g} vs {w}");
            }
        }

        #[test]
        fn permute_equals_the_generic_kernel(x in tensor(5), seed in any::<u64>()) {
            let rank = x.ndim();
            // A permutation from the seed (Fisher-Yates).
            let mut perm: Vec<usize> = (0..rank).collect();
            let mut r = seed;
            for i in (1..rank).rev() {
                r = r.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                perm.swap(i, (r >> 33) as usize % (i + 1));
            }
            let signed: Vec<isize> = perm.iter().map(|&p| p as isize).collect();
            let want = cpu::permute(x.view(), &signed).unwrap();
            let mut out = vec![f32::NAN; x.len()];
            permute_into(x.as_slice().unwrap(), &dims(&x), &perm, &mut out).unwrap();
            prop_assert_eq!(out.as_slice(), want.as_slice().unwrap());
        }

        #[test]
        fn reductions_match_the_f64_reference(
            x in tensor(4),
            mask in any::<u8>(),
            op in prop_oneof![Just(ReduceOp::Sum), Just(ReduceOp::Mean), Just(ReduceOp::Max)],
        ) {
            let rank = x.ndim();
            let mut reduced = [false; MAX_RANK];
            for (d, r) in reduced.iter_mut().enumerate().take(rank) {
                *r = mask & (1 << d) != 0;
            }
            let axes: Vec<isize> = (0..rank).filter(|&d| reduced[d]).map(|d| d as isize).collect();
            let x64 = x.mapv(f64::from);
            let want = cpu::reduce(op, x64.view(), Some(&axes), false);
            let mut out = vec![f32::NAN; want.as_ref().map_or(0, |w| w.len())];
            let got = reduce_into(op, x.as_slice().unwrap(), &dims(&x), &reduced, &mut out);
            match want {
                Ok(want) => {
                    prop_assert!(got.is_ok());
                    let tol = 1e-6 * (x.len().max(1) as f64);
                    close(&out, want.iter().copied(), tol).map_err(TestCaseError::fail)?;
                }
                // The max of an empty axis is refused by both.
                Err(_) => prop_assert_eq!(got.unwrap_err().code(), "TL0501"),
            }
        }

        #[test]
        fn broadcasting_binary_ops_equal_the_generic_kernel(
            x in tensor(4),
            keep in any::<u8>(),
            drop_lead in 0usize..3,
            op in prop_oneof![
                Just(cpu::BinaryOp::Add),
                Just(cpu::BinaryOp::Sub),
                Just(cpu::BinaryOp::Mul),
                Just(cpu::BinaryOp::Div),
                Just(cpu::BinaryOp::Max),
            ],
            swap: bool,
        ) {
            // The other operand: x's shape with some axes set to 1 and leading axes dropped.
            let rank = x.ndim();
            let shape: Vec<usize> = x.shape()[drop_lead.min(rank)..]
                .iter()
                .enumerate()
                .map(|(d, &len)| if keep & (1 << d) != 0 { len } else { 1 })
                .collect();
            let y = ArrayD::from_shape_fn(IxDyn(&shape), |i| {
                1.5 + i.as_array_view().iter().map(|&v| v as f32).sum::<f32>()
            });
            let (a, b) = if swap { (&y, &x) } else { (&x, &y) };
            let want = cpu::binary(op, a.view(), b.view()).unwrap();
            let mut out = vec![f32::NAN; want.len()];
            binary_broadcast_into(
                op,
                (a.as_slice().unwrap(), &dims(a)),
                (b.as_slice().unwrap(), &dims(b)),
                &mut out,
                &Dims::new(want.shape()).unwrap(),
            )
            .unwrap();
            for (g, w) in out.iter().zip(want.iter()) {
                prop_assert!(g.to_bits() == w.to_bits() || (g.is_nan() && w.is_nan()), "{g} vs {w}");
            }
        }
    }

    #[test]
    fn same_shape_binary_ops_equal_the_generic_kernel() {
        let a = ArrayD::from_shape_fn(IxDyn(&[3, 5, 7]), |i| i[0] as f32 - 0.3 * i[2] as f32);
        let b = ArrayD::from_shape_fn(IxDyn(&[3, 5, 7]), |i| 0.7 + i[1] as f32 * 0.5);
        for op in [
            cpu::BinaryOp::Add,
            cpu::BinaryOp::Sub,
            cpu::BinaryOp::Mul,
            cpu::BinaryOp::Div,
            cpu::BinaryOp::Pow,
            cpu::BinaryOp::Max,
            cpu::BinaryOp::Min,
        ] {
            let want = cpu::binary(op, a.view(), b.view()).unwrap();
            let mut out = vec![f32::NAN; a.len()];
            let (xs, ys) = (a.as_slice().unwrap(), b.as_slice().unwrap());
            binary_same_shape_into(op, xs, ys, &mut out).unwrap();
            for (g, w) in out.iter().zip(want.iter()) {
                assert!(
                    g.to_bits() == w.to_bits() || (g.is_nan() && w.is_nan()),
                    "{op:?}"
                );
            }
            let short = binary_same_shape_into(op, xs, &ys[1..], &mut out);
            assert_eq!(short.unwrap_err().code(), "TL0501");
        }
    }

    #[test]
    fn wrong_shapes_are_refused_with_codes() {
        let d = |s: &[usize]| Dims::new(s).unwrap();
        let mut out = [0.0f32; 6];
        let x = [1.0f32; 6];
        let err = binary_broadcast_into(
            cpu::BinaryOp::Add,
            (&x, &d(&[2, 3])),
            (&x[..2], &d(&[2])),
            &mut out,
            &d(&[2, 3]),
        );
        assert_eq!(
            err.unwrap_err().code(),
            "TL0502",
            "[2, 3] and [2] do not broadcast"
        );
        let err = binary_broadcast_into(
            cpu::BinaryOp::Add,
            (&x[..3], &d(&[1, 3])),
            (&x[..1], &d(&[1])),
            &mut out,
            &d(&[2, 3]),
        );
        assert_eq!(
            err.unwrap_err().code(),
            "TL0501",
            "output is not the broadcast shape"
        );
        let err = permute_into(&x, &d(&[2, 3]), &[0, 0], &mut out);
        assert_eq!(err.unwrap_err().code(), "TL0503");
        let err = softmax_into(&x, &d(&[2, 3]), 2, false, &mut out);
        assert_eq!(err.unwrap_err().code(), "TL0503");
        let err = layer_norm_into(&x, 4, None, None, 1e-5, &mut out);
        assert_eq!(err.unwrap_err().code(), "TL0501");
        let err = reduce_into(
            ReduceOp::Sum,
            &x,
            &d(&[2, 3]),
            &[false; MAX_RANK],
            &mut out[..5],
        );
        assert_eq!(err.unwrap_err().code(), "TL0501");
        assert!(Dims::new(&[1; MAX_RANK + 1]).is_none());
    }
}
