//! The attention rule against central differences of `sum(r * attention(...))`, for both outputs,
//! with batch and head axes, L != S, E != Ev, broadcast batch axes and masks, causal on and off, a
//! custom scale, and query rows whose keys are all masked.

use super::*;
use crate::backend::MaskKind;
use ndarray::{s, Axis};

const B: usize = 2;
const H: usize = 3;
const L: usize = 4;
const S: usize = 6;
const E: usize = 5;
const EV: usize = 7;

fn op(causal: bool, scale: Option<f64>, mask: MaskKind, weights: bool) -> KernelOp {
    KernelOp::Attention {
        causal,
        scale,
        mask,
        return_weights: weights,
    }
}

fn keep(shape: &[usize], data: &[i64]) -> Tensor {
    Tensor::I64(ArrayD::from_shape_vec(IxDyn(shape), data.to_vec()).unwrap())
}

/// `[L, S]` keep mask: row 1 attends to nothing, row 0 only to keys the causal mask removes.
fn row_mask() -> Tensor {
    #[rustfmt::skip]
    let data = [
        0, 1, 1, 0, 1, 1,
        0, 0, 0, 0, 0, 0,
        1, 0, 1, 1, 0, 1,
        1, 1, 0, 1, 1, 0,
    ];
    keep(&[L, S], &data)
}

#[test]
fn output_gradients_with_batch_and_head_axes() {
    let mut rng = Rng(101);
    let q = t(rng.array(&[B, H, L, E], -1.0, 1.0));
    let k = t(rng.array(&[B, H, S, E], -1.0, 1.0));
    let v = t(rng.array(&[B, H, S, EV], -1.0, 1.0));
    for (n, (causal, scale)) in [
        (false, None),
        (true, None),
        (false, Some(0.3)),
        (true, Some(-1.7)),
    ]
    .into_iter()
    .enumerate()
    {
        check(
            op(causal, scale, MaskKind::None, false),
            vec![q.clone(), k.clone(), v.clone()],
            110 + n as u64,
        );
    }
}

#[test]
fn broadcast_batch_axes_sum_their_gradients() {
    let mut rng = Rng(102);
    // q [B, 1, L, E], k [H, S, E], v [1, S, Ev]: the batch is [B, H].
    let q = t(rng.array(&[B, 1, L, E], -1.0, 1.0));
    let k = t(rng.array(&[H, S, E], -1.0, 1.0));
    let v = t(rng.array(&[1, S, EV], -1.0, 1.0));
    check(
        op(true, Some(0.6), MaskKind::None, false),
        vec![q, k, v],
        120,
    );
}

#[test]
fn keep_masks_and_fully_masked_rows() {
    let mut rng = Rng(103);
    let q = t(rng.array(&[B, H, L, E], -1.0, 1.0));
    let k = t(rng.array(&[B, H, S, E], -1.0, 1.0));
    let v = t(rng.array(&[B, H, S, EV], -1.0, 1.0));
    // Key padding [B, 1, 1, S]: batch 1 keeps no key at all.
    let padding = keep(&[B, 1, 1, S], &[1, 1, 0, 1, 1, 0, 0, 0, 0, 0, 0, 0]);
    for (n, (mask, causal)) in [(row_mask(), false), (row_mask(), true), (padding, true)]
        .into_iter()
        .enumerate()
    {
        let attention = op(causal, None, MaskKind::Keep, false);
        let operands = vec![q.clone(), k.clone(), v.clone(), mask];
        let y = forward(&attention, &operands);
        let grads = check_output(attention, operands, 0, 130 + n as u64);
        assert!(grads[3].is_none(), "a keep mask gets no gradient");
        let gq = grads[0].as_ref().unwrap();
        // The rows that attend to nothing: zero output, zero gradient (exactly).
        let dead: Vec<(usize, usize)> = match n {
            0 => vec![(0, 1)],
            1 => vec![(0, 0), (0, 1)],
            _ => (0..L).map(|l| (1, l)).collect(),
        };
        for (b, l) in dead {
            for h in 0..H {
                assert!(y.slice(s![b, h, l, ..]).iter().all(|&x| x == 0.0));
                assert!(
                    gq.slice(s![b, h, l, ..]).iter().all(|&x| x == 0.0),
                    "mask {n}: batch {b} head {h} row {l} attends to nothing"
                );
            }
        }
    }
}

#[test]
fn attention_weights_gradients() {
    let mut rng = Rng(104);
    let q = t(rng.array(&[B, H, L, E], -1.0, 1.0));
    let k = t(rng.array(&[1, H, S, E], -1.0, 1.0));
    // attention_weights(q, k, mask) lowers to the kernel on (q, k, k, mask) and keeps output 1.
    for (n, (causal, scale, mask)) in [
        (false, None, None),
        (true, Some(0.45), None),
        (true, None, Some(row_mask())),
    ]
    .into_iter()
    .enumerate()
    {
        let kind = if mask.is_some() {
            MaskKind::Keep
        } else {
            MaskKind::None
        };
        let mut operands = vec![q.clone(), k.clone(), k.clone()];
        operands.extend(mask);
        let grads = check_output(op(causal, scale, kind, true), operands, 1, 140 + n as u64);
        assert!(
            grads[2].as_ref().unwrap().iter().all(|&x| x == 0.0),
            "the weights do not depend on v"
        );
    }
}

#[test]
fn an_additive_mask_gets_the_score_gradient() {
    let mut rng = Rng(105);
    let q = t(rng.array(&[B, H, L, E], -1.0, 1.0));
    let k = t(rng.array(&[B, H, S, E], -1.0, 1.0));
    let v = t(rng.array(&[B, H, S, EV], -1.0, 1.0));
    let add = t(rng.array(&[1, L, S], -3.0, 1.0));
    check(
        op(true, None, MaskKind::Additive, false),
        vec![q, k, v, add],
        150,
    );
}

#[test]
fn a_float_keep_mask_is_read_as_nonzero_keep() {
    // The backward sweep sees a mask as its producer left it (here f64), not as the 0/1 i64
    // tensor the executors pass to the kernel: both must give the same gradients.
    let mut rng = Rng(106);
    let q = t(rng.array(&[H, L, E], -1.0, 1.0));
    let k = t(rng.array(&[H, S, E], -1.0, 1.0));
    let v = t(rng.array(&[H, S, EV], -1.0, 1.0));
    let ints = row_mask();
    let floats = t(ints.to_f64().mapv(|m| m * 2.5));
    let attention = op(false, None, MaskKind::Keep, false);
    let y = forward(&attention, &[q.clone(), k.clone(), v.clone(), ints.clone()]);
    let r = rng.array(y.shape(), -1.0, 1.0);
    let with = |m: &Tensor| vjp(&attention, &[&q, &k, &v, m], 0, &y, &r).unwrap();
    let (a, b) = (with(&ints), with(&floats));
    assert_eq!(a, b);
    assert!(b[3].is_none());
    assert_eq!(a[0].as_ref().unwrap().len_of(Axis(1)), L);
}

#[test]
fn bad_operands_are_coded_errors() {
    let mut rng = Rng(107);
    let q = t(rng.array(&[L, E], -1.0, 1.0));
    let k = t(rng.array(&[S, E + 1], -1.0, 1.0));
    let g = ArrayD::zeros(IxDyn(&[L, E]));
    let err = vjp(
        &op(false, None, MaskKind::None, false),
        &[&q, &k, &k],
        0,
        &g,
        &g,
    )
    .unwrap_err();
    assert!(
        matches!(err, RuleError::Kernel(ref e) if e.code() == "TL0501"),
        "{err:?}"
    );
    // Output 1 exists only when the kernel returns its weights.
    let err = vjp(
        &op(false, None, MaskKind::None, false),
        &[&q, &q, &q],
        1,
        &g,
        &g,
    )
    .unwrap_err();
    assert!(matches!(err, RuleError::Kernel(_)), "{err:?}");
}
