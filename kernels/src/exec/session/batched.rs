//! Allocation-free batched matrix kernels for a [`super::Session`]: numpy `matmul` and
//! hard-masked scaled dot-product attention, each over batch dims that broadcast.
//!
//! [`MatmulShape::of`] and [`AttentionShape::of`] accept exactly the operands the generic
//! kernels accept; for anything else they return `None` and the session runs the generic
//! kernel, so errors keep their codes. Attention does the generic kernel's masked softmax in
//! the same order (masked weights exactly 0, a fully masked row all zeros); the products are
//! plain loops summing in index order, so they differ from the generic GEMM in rounding only.

use super::fast_kernels::{check_len, for_each_row, Dims, MAX_RANK};
use crate::error::{KernelError, KernelResult};
use crate::real::Real;

/// The broadcast of batch shapes (numpy rules), on the stack.
fn broadcast_batch(shapes: &[&[usize]]) -> Option<Dims> {
    let rank = shapes.iter().map(|s| s.len()).max().unwrap_or(0);
    let mut dims = [1usize; MAX_RANK];
    let dims = dims.get_mut(..rank)?;
    for s in shapes {
        let lead = rank - s.len();
        for (d, &len) in s.iter().enumerate() {
            let cur = &mut dims[lead + d];
            match (*cur, len) {
                (a, b) if a == b => {}
                (1, b) => *cur = b,
                (_, 1) => {}
                _ => return None,
            }
        }
    }
    Dims::new(dims)
}

/// Strides of an operand `shape` (batch dims then `tail` trailing values per matrix) over the
/// axes of `full` (batch dims then one axis of extent 1): 0 where the operand is broadcast.
fn batch_strides(shape: &[usize], tail: usize, full: &Dims) -> [usize; MAX_RANK] {
    let batch_rank = full.as_slice().len() - 1;
    let own = &shape[..shape.len() - tail.min(shape.len())];
    let lead = batch_rank - own.len();
    let mut strides = [0usize; MAX_RANK];
    let mut step: usize = shape[own.len()..].iter().product();
    for d in (0..own.len()).rev() {
        if own[d] != 1 {
            strides[lead + d] = step;
        }
        step *= own[d];
    }
    strides
}

/// `dims` followed by one axis of extent 1: [`for_each_row`] then visits every batch index.
fn with_unit_axis(dims: &Dims) -> Option<Dims> {
    let mut all = [1usize; MAX_RANK];
    let rank = dims.as_slice().len();
    all.get_mut(..rank)?.copy_from_slice(dims.as_slice());
    Dims::new(all.get(..rank + 1)?)
}

/// The operand and result extents of a `matmul` the generic kernel would accept.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct MatmulShape {
    m: usize,
    k: usize,
    n: usize,
    /// The broadcast batch dims plus a trailing 1.
    batch: Dims,
}

impl MatmulShape {
    /// `None` when the generic kernel refuses the shapes (rank 0, inner dims differ, batch
    /// dims that do not broadcast) or the batch rank exceeds what the stack arrays hold.
    pub(crate) fn of(a: &[usize], b: &[usize]) -> Option<MatmulShape> {
        let (&k, a_rest) = a.split_last()?;
        let (m, a_batch) = match a_rest.split_last() {
            Some((&m, batch)) => (m, batch),
            None => (1, a_rest),
        };
        let (&b_last, b_rest) = b.split_last()?;
        let (k2, n, b_batch) = match b_rest.split_last() {
            Some((&k2, batch)) => (k2, b_last, batch),
            None => (b_last, 1, b_rest),
        };
        if k != k2 {
            return None;
        }
        let batch = with_unit_axis(&broadcast_batch(&[a_batch, b_batch])?)?;
        Some(MatmulShape { m, k, n, batch })
    }

    /// Values of the result (the broadcast batch, then `m` and `n`, without the 1-D axes).
    pub(crate) fn numel(&self) -> usize {
        self.batch.as_slice().iter().product::<usize>() * self.m * self.n
    }
}

/// `a @ b` with numpy semantics (1-D operands promoted, batch dims broadcast) into `out`.
/// Each result row is accumulated over `k` in order.
pub(crate) fn matmul_into(
    a: (&[f32], &[usize]),
    b: (&[f32], &[usize]),
    shape: &MatmulShape,
    out: &mut [f32],
) -> KernelResult<()> {
    const OP: &str = "matmul";
    check_len(OP, "left operand", a.0.len(), a.1.iter().product())?;
    check_len(OP, "right operand", b.0.len(), b.1.iter().product())?;
    check_len(OP, "output", out.len(), shape.numel())?;
    let MatmulShape { m, k, n, batch } = *shape;
    if out.is_empty() {
        return Ok(());
    }
    let sa = batch_strides(a.1, 2, &batch);
    let sb = batch_strides(b.1, 2, &batch);
    let mut so = batch.strides();
    so.iter_mut().for_each(|s| *s *= m * n);
    for_each_row(batch.as_slice(), [&so, &sa, &sb], |[o, ia, ib]| {
        for i in 0..m {
            let row = &mut out[o + i * n..o + (i + 1) * n];
            row.fill(0.0);
            let a_row = &a.0[ia + i * k..ia + (i + 1) * k];
            for (kk, &x) in a_row.iter().enumerate() {
                let b_row = &b.0[ib + kk * n..ib + (kk + 1) * n];
                for (d, &y) in row.iter_mut().zip(b_row) {
                    *d += x * y;
                }
            }
        }
    });
    Ok(())
}

/// `scores[j] = scale * (q . keys[j])` for the rows `keys[j]` (each `q.len()` values), each
/// dot summed in index order. Keys go eight at a time so that eight independent sums are in
/// flight (a single sum is bound by the add latency).
fn scaled_dots(q: &[f32], keys: &[f32], scale: f32, scores: &mut [f32]) {
    const KEYS: usize = 8;
    let e = q.len();
    if e == 0 {
        scores.fill(scale * 0.0);
        return;
    }
    let mut blocks = scores.chunks_exact_mut(KEYS);
    let mut key_blocks = keys.chunks_exact(KEYS * e);
    for (dst, block) in (&mut blocks).zip(&mut key_blocks) {
        let mut acc = [0.0f32; KEYS];
        for (i, &a) in q.iter().enumerate() {
            for (j, acc) in acc.iter_mut().enumerate() {
                *acc += a * block[j * e + i];
            }
        }
        for (d, &acc) in dst.iter_mut().zip(&acc) {
            *d = scale * acc;
        }
    }
    let rest = blocks.into_remainder();
    for (d, k_row) in rest.iter_mut().zip(key_blocks.remainder().chunks_exact(e)) {
        let dot = q
            .iter()
            .zip(k_row)
            .fold(0.0f32, |acc, (&a, &b)| acc + a * b);
        *d = scale * dot;
    }
}

/// A keep mask (nonzero keeps, as tl masks are read) in any dtype the engine holds.
#[derive(Debug, Clone, Copy)]
pub(crate) enum KeepMask<'a> {
    F32(&'a [f32]),
    F64(&'a [f64]),
    I64(&'a [i64]),
}

impl KeepMask<'_> {
    fn keeps(&self, i: usize) -> bool {
        match self {
            KeepMask::F32(m) => m[i] != 0.0,
            KeepMask::F64(m) => m[i] != 0.0,
            KeepMask::I64(m) => m[i] != 0,
        }
    }

    fn len(&self) -> usize {
        match self {
            KeepMask::F32(m) => m.len(),
            KeepMask::F64(m) => m.len(),
            KeepMask::I64(m) => m.len(),
        }
    }
}

/// The extents of an attention the generic kernel would accept.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct AttentionShape {
    l: usize,
    s: usize,
    e: usize,
    ev: usize,
    scale: f32,
    /// The broadcast batch dims plus a trailing 1.
    batch: Dims,
    /// The mask's strides over `[batch..., L, S]` (0 where broadcast), when there is one.
    mask: Option<[usize; MAX_RANK]>,
}

impl AttentionShape {
    /// `None` when the generic kernel refuses the operands (rank < 2, `q[-1] != k[-1]`,
    /// `k[-2] != v[-2]`, a non-finite scale, batch dims or a mask that do not broadcast).
    pub(crate) fn of(
        q: &[usize],
        k: &[usize],
        v: &[usize],
        mask: Option<&[usize]>,
        scale: Option<f64>,
    ) -> Option<AttentionShape> {
        let last2 = |x: &[usize]| (x.len() >= 2).then(|| (x[x.len() - 2], x[x.len() - 1]));
        let ((l, e), (s, ek), (sv, ev)) = (last2(q)?, last2(k)?, last2(v)?);
        if e != ek || s != sv {
            return None;
        }
        let scale = match scale {
            Some(sc) if sc.is_finite() => sc,
            Some(_) => return None,
            None if e == 0 => 1.0,
            None => 1.0 / (e as f64).sqrt(),
        };
        let batch = broadcast_batch(&[&q[..q.len() - 2], &k[..k.len() - 2], &v[..v.len() - 2]])?;
        let mask = match mask {
            Some(m) => Some(mask_strides(m, &batch, l, s)?),
            None => None,
        };
        Some(AttentionShape {
            l,
            s,
            e,
            ev,
            scale: f32::from_f64(scale),
            batch: with_unit_axis(&batch)?,
            mask,
        })
    }

    fn batch_len(&self) -> usize {
        self.batch.as_slice().iter().product()
    }

    /// Values of the output `[batch..., L, Ev]`, or of the weights `[batch..., L, S]`.
    pub(crate) fn numel(&self, weights: bool) -> usize {
        self.batch_len() * self.l * if weights { self.s } else { self.ev }
    }

    /// Scratch values the kernel needs (one row of scores).
    pub(crate) fn scratch_len(&self) -> usize {
        self.s
    }
}

/// The strides of a mask broadcast (without growing the batch) to `[batch..., L, S]`.
fn mask_strides(mask: &[usize], batch: &Dims, l: usize, s: usize) -> Option<[usize; MAX_RANK]> {
    let mut full = [0usize; MAX_RANK];
    let b = batch.as_slice();
    let rank = b.len() + 2;
    full.get_mut(..b.len())?.copy_from_slice(b);
    *full.get_mut(rank - 2)? = l;
    *full.get_mut(rank - 1)? = s;
    let lead = rank.checked_sub(mask.len())?;
    let mut strides = [0usize; MAX_RANK];
    let mut step = 1usize;
    for d in (0..mask.len()).rev() {
        match mask[d] {
            len if len == full[lead + d] => {
                if len != 1 {
                    strides[lead + d] = step;
                }
            }
            1 => {}
            _ => return None,
        }
        step *= mask[d];
    }
    Some(strides)
}

/// The operands of [`attention_into`]: each value slice with its shape.
pub(crate) struct AttentionOperands<'a> {
    pub(crate) q: (&'a [f32], &'a [usize]),
    pub(crate) k: (&'a [f32], &'a [usize]),
    pub(crate) v: (&'a [f32], &'a [usize]),
    pub(crate) mask: Option<(KeepMask<'a>, &'a [usize])>,
}

/// `softmax(q k^T * scale, hard-masked) v` into `out` (`weights = false`), or the weights
/// themselves (`weights = true`). A masked key gets weight exactly 0; a query whose keys are
/// all masked gets zero weights and a zero output. `scratch` holds one row of scores.
pub(crate) fn attention_into(
    x: &AttentionOperands,
    shape: &AttentionShape,
    causal: bool,
    weights: bool,
    out: &mut [f32],
    scratch: &mut [f32],
) -> KernelResult<()> {
    const OP: &str = "scaled_dot_product_attention";
    let AttentionShape {
        l,
        s,
        e,
        ev,
        scale,
        batch,
        mask: mask_strides,
    } = *shape;
    for (what, (vals, dims)) in [("q", x.q), ("k", x.k), ("v", x.v)] {
        check_len(OP, what, vals.len(), dims.iter().product())?;
    }
    check_len(OP, "output", out.len(), shape.numel(weights))?;
    if scratch.len() < s {
        return Err(KernelError::argument(
            OP,
            "scratch holds less than one row of scores",
        ));
    }
    let (mask, ms) = match (x.mask, mask_strides) {
        (Some((m, dims)), Some(st)) => {
            check_len(OP, "mask", m.len(), dims.iter().product())?;
            (Some(m), st)
        }
        (None, None) => (None, [0; MAX_RANK]),
        _ => {
            return Err(KernelError::argument(
                OP,
                "the mask does not match its shape",
            ))
        }
    };
    if out.is_empty() {
        return Ok(());
    }
    let rank = batch.as_slice().len() - 1;
    let (ml, mstep) = (ms[rank], ms[rank + 1]);
    let sq = batch_strides(x.q.1, 2, &batch);
    let sk = batch_strides(x.k.1, 2, &batch);
    let sv = batch_strides(x.v.1, 2, &batch);
    let mut so = batch.strides();
    let row_len = if weights { s } else { ev };
    so.iter_mut().for_each(|st| *st *= l * row_len);
    let scores = &mut scratch[..s];
    let strides = [&so, &sq, &sk, &sv, &ms];
    for_each_row(batch.as_slice(), strides, |[o, iq, ik, iv, im]| {
        for li in 0..l {
            let q_row = &x.q.0[iq + li * e..iq + (li + 1) * e];
            scaled_dots(q_row, &x.k.0[ik..ik + s * e], scale, scores);
            let kept = |si: usize| {
                !(causal && si > li) && mask.is_none_or(|m| m.keeps(im + li * ml + si * mstep))
            };
            let max = (0..s)
                .filter(|&si| kept(si))
                .fold(f32::NEG_INFINITY, |m, si| m.max_nan(scores[si]));
            let dst = &mut out[o + li * row_len..o + (li + 1) * row_len];
            if max == f32::NEG_INFINITY {
                // Every key masked (or -inf): the row attends to nothing.
                dst.fill(0.0);
                continue;
            }
            let mut total = 0.0f32;
            for (si, w) in scores.iter_mut().enumerate() {
                *w = if kept(si) { (*w - max).exp() } else { 0.0 };
                total += *w;
            }
            scores.iter_mut().for_each(|w| *w /= total);
            if weights {
                dst.copy_from_slice(scores);
                continue;
            }
            dst.fill(0.0);
            for (si, &w) in scores.iter().enumerate() {
                let v_row = &x.v.0[iv + si * ev..iv + (si + 1) * ev];
                for (d, &y) in dst.iter_mut().zip(v_row) {
                    *d += w * y;
                }
            }
        }
    });
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cpu::{self, AttentionMask};
    use ndarray::ArrayD;
    use proptest::prelude::*;

    /// Values for `shape` from a seed, in [-2, 2).
    fn values(shape: &[usize], seed: u64) -> ArrayD<f32> {
        super::super::seeded_values(shape, seed, 2.0)
    }

    /// A batch shape (rank 0..=3, extents 0..=3) and, per operand, a mask of its axes to
    /// keep (the others become 1) and a count of leading axes to drop.
    fn batch() -> impl Strategy<Value = Vec<usize>> {
        proptest::collection::vec(0usize..4, 0..=3)
    }

    fn operand_batch(batch: &[usize], keep: u8, drop: usize) -> Vec<usize> {
        batch[drop.min(batch.len())..]
            .iter()
            .enumerate()
            .map(|(d, &len)| if keep & (1 << d) != 0 { len } else { 1 })
            .collect()
    }

    fn shape(batch: Vec<usize>, tail: &[usize]) -> Vec<usize> {
        batch.into_iter().chain(tail.iter().copied()).collect()
    }

    /// Each value within `tol` of the generic kernel's, scaled by `scale`.
    fn near(got: &[f32], want: &ArrayD<f32>, tol: f32) -> Result<(), TestCaseError> {
        prop_assert_eq!(got.len(), want.len());
        for (i, (g, w)) in got.iter().zip(want.iter()).enumerate() {
            prop_assert!((g - w).abs() <= tol, "value {}: {} vs {}", i, g, w);
        }
        Ok(())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(300))]

        #[test]
        fn matmul_matches_the_generic_kernel(
            batch in batch(),
            (keep_a, keep_b) in (any::<u8>(), any::<u8>()),
            (drop_a, drop_b) in (0usize..4, 0usize..4),
            (m, k, n) in (0usize..6, 0usize..7, 0usize..6),
            (a_vec, b_vec) in (0u8..5, 0u8..5),
            k_off in prop_oneof![4 => Just(0usize), 1 => Just(1usize)],
            seed in any::<u64>(),
        ) {
            // A 1-D operand one time in five (it has no batch dims).
            let a_shape = if a_vec == 0 {
                vec![k]
            } else {
                shape(operand_batch(&batch, keep_a, drop_a), &[m, k])
            };
            let b_shape = if b_vec == 0 {
                vec![k + k_off]
            } else {
                shape(operand_batch(&batch, keep_b, drop_b), &[k + k_off, n])
            };
            let (a, b) = (values(&a_shape, seed), values(&b_shape, seed ^ 7));
            let want = cpu::matmul(a.view(), b.view());
            let plan = MatmulShape::of(&a_shape, &b_shape);
            prop_assert_eq!(want.is_ok(), plan.is_some(), "{:?} @ {:?}", a_shape, b_shape);
            let (Ok(want), Some(plan)) = (want, plan) else { return Ok(()) };
            prop_assert_eq!(plan.numel(), want.len());
            let mut out = vec![f32::NAN; plan.numel()];
            matmul_into(
                (a.as_slice().unwrap(), &a_shape),
                (b.as_slice().unwrap(), &b_shape),
                &plan,
                &mut out,
            )
            .unwrap();
            near(&out, &want, 1e-5 * (1 + 4 * k) as f32)?;
        }

        #[test]
        fn attention_matches_the_generic_kernel(
            batch in batch(),
            keeps in any::<[u8; 4]>(),
            drops in any::<[u8; 4]>(),
            (l, s, e, ev) in (0usize..5, 0usize..20, 0usize..5, 1usize..4),
            mask_kind in 0u8..4,
            causal: bool,
            weights: bool,
            scale in prop_oneof![Just(None), Just(Some(0.7)), Just(Some(f64::INFINITY))],
            e_off in prop_oneof![6 => Just(0usize), 1 => Just(1usize)],
            seed in any::<u64>(),
        ) {
            let of = |i: usize, tail: &[usize]| {
                shape(operand_batch(&batch, keeps[i], usize::from(drops[i] % 3)), tail)
            };
            let (qs, ks, vs) = (of(0, &[l, e]), of(1, &[s, e + e_off]), of(2, &[s, ev]));
            let (q, k, v) = (values(&qs, seed), values(&ks, seed ^ 3), values(&vs, seed ^ 5));
            // No mask, an i64 mask over [.., L, S], an f32 one, or one row [S] for all queries.
            let mask_shape = match mask_kind {
                0 => None,
                3 => Some(vec![s]),
                _ => Some(of(3, &[l, s])),
            };
            let bits = mask_shape.as_ref().map(|ms| values(ms, seed ^ 11).mapv(|x| x > -0.5));
            let want = cpu::scaled_dot_product_attention(
                q.view(),
                k.view(),
                v.view(),
                bits.as_ref().map(|b| AttentionMask::Keep(b.view())),
                causal,
                scale,
                weights,
            );
            let plan = AttentionShape::of(&qs, &ks, &vs, mask_shape.as_deref(), scale);
            prop_assert_eq!(want.is_ok(), plan.is_some(), "{:?} {:?} {:?} {:?}", qs, ks, vs, mask_shape);
            let (Ok(want), Some(plan)) = (want, plan) else { return Ok(()) };
            let want = if weights { want.weights.unwrap() } else { want.output };
            let mask_i64 = bits.as_ref().map(|b| b.mapv(i64::from));
            let mask_f32 = bits.as_ref().map(|b| b.mapv(|k| if k { 0.5f32 } else { 0.0 }));
            let mask = match (mask_kind, &mask_i64, &mask_f32) {
                (1, Some(m), _) => Some((KeepMask::I64(m.as_slice().unwrap()), m.shape())),
                (_, _, Some(m)) => Some((KeepMask::F32(m.as_slice().unwrap()), m.shape())),
                _ => None,
            };
            let operands = AttentionOperands {
                q: (q.as_slice().unwrap(), &qs),
                k: (k.as_slice().unwrap(), &ks),
                v: (v.as_slice().unwrap(), &vs),
                mask,
            };
            let mut out = vec![f32::NAN; plan.numel(weights)];
            let mut scratch = vec![f32::NAN; plan.scratch_len()];
            attention_into(&operands, &plan, causal, weights, &mut out, &mut scratch).unwrap();
            near(&out, &want, 1e-5 * (1 + 4 * e) as f32)?;
            // Hard masking: exactly zero wherever the generic kernel gives exactly zero weight.
            if weights {
                for (g, w) in out.iter().zip(want.iter()) {
                    prop_assert!(*w != 0.0 || *g == 0.0);
                }
            }
        }
    }

    #[test]
    fn blocked_dots_sum_each_key_in_order() {
        for (keys, e) in [(0usize, 3usize), (7, 5), (8, 1), (19, 16), (4, 0)] {
            let q = values(&[e], keys as u64);
            let k = values(&[keys, e], 99);
            let mut got = vec![f32::NAN; keys];
            scaled_dots(q.as_slice().unwrap(), k.as_slice().unwrap(), 0.3, &mut got);
            for (j, g) in got.iter().enumerate() {
                let row = &k.as_slice().unwrap()[j * e..(j + 1) * e];
                let dot = q.iter().zip(row).fold(0.0f32, |acc, (&a, &b)| acc + a * b);
                assert_eq!(g.to_bits(), (0.3f32 * dot).to_bits(), "{keys} keys of {e}");
            }
        }
    }

    #[test]
    fn masked_keys_and_fully_masked_rows_are_exactly_zero() {
        // Two queries, three keys; query 1 sees no key.
        let q = values(&[2, 2], 1);
        let k = values(&[3, 2], 2);
        let mask = [1i64, 0, 1, 0, 0, 0];
        let plan = AttentionShape::of(&[2, 2], &[3, 2], &[3, 2], Some(&[2, 3]), None).unwrap();
        let operands = AttentionOperands {
            q: (q.as_slice().unwrap(), &[2, 2]),
            k: (k.as_slice().unwrap(), &[3, 2]),
            v: (k.as_slice().unwrap(), &[3, 2]),
            mask: Some((KeepMask::I64(&mask), &[2, 3])),
        };
        let mut w = [f32::NAN; 6];
        let mut scratch = [0.0f32; 3];
        attention_into(&operands, &plan, false, true, &mut w, &mut scratch).unwrap();
        assert_eq!(w[1], 0.0);
        assert!((w[0] + w[2] - 1.0).abs() < 1e-6);
        assert_eq!(&w[3..], &[0.0; 3]);
        let mut o = [f32::NAN; 4];
        attention_into(&operands, &plan, false, false, &mut o, &mut scratch).unwrap();
        assert_eq!(&o[2..], &[0.0; 2]);
        // Too little scratch, or a mask of the wrong length, is a coded error.
        let err = attention_into(&operands, &plan, false, true, &mut w, &mut scratch[..2]);
        assert_eq!(err.unwrap_err().code(), "TL0503");
        let short = AttentionOperands {
            mask: Some((KeepMask::I64(&mask[..5]), &[2, 3])),
            ..operands
        };
        let err = attention_into(&short, &plan, false, true, &mut w, &mut scratch);
        assert_eq!(err.unwrap_err().code(), "TL0501");
    }
}
