//! Backward rule of hard-masked scaled dot-product attention, for both of its outputs: the
//! attention output `O = P v` (output 0, `scaled_dot_product_attention`) and the weights
//! `P = softmax_kept(scale * q k^T + add)` (output 1, `attention_weights`, lowered with `v = k`).
//!
//! The weights are recomputed by the forward kernel itself, so the rule differentiates exactly
//! what the engine evaluates: the same default scale (`1/sqrt(E)`, 1 when `E = 0`), the same
//! causal and keep masks, the same broadcasting of batch axes. Masked positions have weight
//! exactly 0 and the softmax Jacobian `P ⊙ (dP - rowsum(dP ⊙ P))` vanishes there, so no gradient
//! flows through them. A row whose keys are all masked is a constant zero row in the forward (for
//! every q, k, v nearby), so its gradient is exactly zero as well — the same formula with `P = 0`.
//!
//! Keep masks are selectors: they get no gradient (`None`), whatever their dtype ("nonzero =
//! keep" is piecewise constant). An additive float mask gets the gradient of the scores.

use super::{float, operand_mismatch, reduce, unbroadcast, Grads, RuleError};
use crate::backend::MaskKind;
use crate::cpu::{matmul, scaled_dot_product_attention, AttentionMask};
use crate::tensor::Tensor;
use ndarray::{ArrayD, ArrayViewD};

const OP: &str = "scaled_dot_product_attention";

/// The static part of one attention kernel call.
#[derive(Debug, Clone, Copy)]
pub(super) struct Attention {
    pub causal: bool,
    pub scale: Option<f64>,
    pub mask: MaskKind,
    pub return_weights: bool,
}

/// The gradients of `q, k, v[, mask]` given the gradient `g` of kernel output `output`
/// (0: the attention output, 1: the weights).
pub(super) fn attention(
    a: Attention,
    operands: &[&Tensor],
    output: usize,
    g: &ArrayD<f64>,
) -> Result<Grads, RuleError> {
    if output > usize::from(a.return_weights) {
        return Err(operand_mismatch(
            OP,
            format!("the kernel has no output {output}"),
        ));
    }
    let (q, k, v) = (
        float(OP, operands, 0)?,
        float(OP, operands, 1)?,
        float(OP, operands, 2)?,
    );
    let keep = match a.mask {
        MaskKind::Keep => Some(keep_of(operand(operands, 3)?)),
        _ => None,
    };
    let additive = match a.mask {
        MaskKind::Additive => Some(float(OP, operands, 3)?),
        _ => None,
    };
    let mask = match (&keep, additive) {
        (Some(keep), _) => Some(AttentionMask::Keep(keep.view())),
        (None, Some(add)) => Some(AttentionMask::Additive(add.view())),
        (None, None) => None,
    };
    let p =
        scaled_dot_product_attention(q.view(), k.view(), v.view(), mask, a.causal, a.scale, true)?
            .weights
            .ok_or_else(|| operand_mismatch(OP, "the kernel returned no weights"))?;

    // dP and dv: through O = P v, or the weights are the output themselves (v is unused).
    let (gp, gv) = if output == 0 {
        let gp = matmul(g.view(), transposed(v.view()))?;
        let gv = matmul(transposed(p.view()), g.view())?;
        (gp, unbroadcast(gv, v.shape()))
    } else {
        (g.clone(), ArrayD::zeros(v.raw_dim()))
    };
    // Scores z = scale * q k^T (+ add): dz is the softmax rule, zero at masked positions and on
    // fully masked rows because P is zero there.
    let gz = reduce::softmax(-1, &p, &gp)?
        .pop()
        .flatten()
        .ok_or_else(|| operand_mismatch(OP, "softmax rule gave no gradient"))?;
    let scale = effective_scale(a.scale, q.shape()[q.ndim() - 1]);
    let gq = matmul(gz.view(), k.view())? * scale;
    let gk = matmul(transposed(gz.view()), q.view())? * scale;
    let mut grads = vec![
        Some(unbroadcast(gq, q.shape())),
        Some(unbroadcast(gk, k.shape())),
        Some(gv),
    ];
    match a.mask {
        MaskKind::None => {}
        MaskKind::Keep => grads.push(None),
        MaskKind::Additive => {
            let shape = operand(operands, 3)?.shape().to_vec();
            grads.push(Some(unbroadcast(gz, &shape)));
        }
    }
    Ok(grads)
}

/// The scale the forward kernel uses (it has already refused a non-finite one).
fn effective_scale(scale: Option<f64>, e: usize) -> f64 {
    match scale {
        Some(s) => s,
        None if e == 0 => 1.0,
        None => 1.0 / (e as f64).sqrt(),
    }
}

fn operand<'a>(operands: &[&'a Tensor], i: usize) -> Result<&'a Tensor, RuleError> {
    operands
        .get(i)
        .copied()
        .ok_or_else(|| operand_mismatch(OP, format!("operand {i} missing")))
}

/// "Nonzero = keep" in any dtype: the backward sweep sees the mask as its producer left it, not
/// the 0/1 tensor the executors pass to the kernel.
fn keep_of(t: &Tensor) -> ArrayD<bool> {
    match t {
        Tensor::I64(m) => m.mapv(|x| x != 0),
        Tensor::F32(m) => m.mapv(|x| x != 0.0),
        Tensor::F64(m) => m.mapv(|x| x != 0.0),
    }
}

/// The last two axes swapped.
fn transposed(mut x: ArrayViewD<f64>) -> ArrayViewD<f64> {
    let n = x.ndim();
    x.swap_axes(n - 2, n - 1);
    x
}

/// Forward mode of attention: with `z = scale * q k^T (+ add)` and `P = softmax_kept(z)`,
/// `dz = scale (dq k^T + q dk^T) (+ d add)`, `dP = P ⊙ (dz - rowsum(P ⊙ dz))` (zero wherever
/// `P` is, so masked keys and fully masked rows get none), and `dO = dP v + P dv`.
pub(super) fn attention_jvp(
    a: Attention,
    operands: &[&Tensor],
    tangents: &super::Tangents,
    output: usize,
) -> Result<ArrayD<f64>, RuleError> {
    if output > usize::from(a.return_weights) {
        return Err(operand_mismatch(
            OP,
            format!("the kernel has no output {output}"),
        ));
    }
    let (q, k, v) = (
        float(OP, operands, 0)?,
        float(OP, operands, 1)?,
        float(OP, operands, 2)?,
    );
    let d = |i| super::tangent(OP, operands, tangents, i);
    let keep = match a.mask {
        MaskKind::Keep => Some(keep_of(operand(operands, 3)?)),
        _ => None,
    };
    let additive = match a.mask {
        MaskKind::Additive => Some(float(OP, operands, 3)?),
        _ => None,
    };
    let mask = match (&keep, additive) {
        (Some(keep), _) => Some(AttentionMask::Keep(keep.view())),
        (None, Some(add)) => Some(AttentionMask::Additive(add.view())),
        (None, None) => None,
    };
    let p =
        scaled_dot_product_attention(q.view(), k.view(), v.view(), mask, a.causal, a.scale, true)?
            .weights
            .ok_or_else(|| operand_mismatch(OP, "the kernel returned no weights"))?;
    let scale = effective_scale(a.scale, q.shape()[q.ndim() - 1]);
    let (dq, dk) = (d(0)?, d(1)?);
    let mut dz = (matmul(dq.view(), transposed(k.view()))?
        + matmul(q.view(), transposed(dk.view()))?)
        * scale;
    if matches!(a.mask, MaskKind::Additive) {
        let dadd = d(3)?;
        dz = &dz + &dadd;
    }
    let dot = (&p * &dz).sum_axis(ndarray::Axis(p.ndim() - 1));
    let dp = &p * &(&dz - &dot.insert_axis(ndarray::Axis(p.ndim() - 1)));
    if output == 1 {
        return Ok(dp);
    }
    let dv = d(2)?;
    Ok(matmul(dp.view(), v.view())? + matmul(p.view(), dv.view())?)
}
