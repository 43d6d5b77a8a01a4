//! Backward rules of the losses: mean squared error (both operands) and cross entropy (logits;
//! labels are integers). Ignored labels get exactly zero gradient, and the mean divides by the
//! number of counted labels, as the forward kernel does.

use super::{operand_mismatch, Grads, RuleError};
use crate::cpu::{softmax, Reduction};
use crate::error::KernelError;
use ndarray::{ArrayD, Axis, Dimension, IxDyn};

/// The weight each element's loss has in the reduced result's gradient `g`.
fn element_weights(
    reduction: Reduction,
    g: &ArrayD<f64>,
    count: usize,
    shape: &[usize],
) -> Result<ArrayD<f64>, RuleError> {
    match reduction {
        Reduction::None => Ok(g.clone()),
        Reduction::Sum | Reduction::Mean => {
            let total = *g
                .iter()
                .next()
                .ok_or_else(|| operand_mismatch("loss", "the reduced loss has no value"))?;
            let w = match reduction {
                Reduction::Mean if count == 0 => 0.0,
                Reduction::Mean => total / count as f64,
                _ => total,
            };
            Ok(ArrayD::from_elem(IxDyn(shape), w))
        }
    }
}

pub(super) fn mse(
    p: &ArrayD<f64>,
    t: &ArrayD<f64>,
    reduction: Reduction,
    g: &ArrayD<f64>,
) -> Result<Grads, RuleError> {
    if p.shape() != t.shape() {
        return Err(operand_mismatch(
            "mse_loss",
            "prediction and target differ in shape",
        ));
    }
    let w = element_weights(reduction, g, p.len(), p.shape())?;
    let gp = (p - t) * 2.0 * &w;
    let gt = gp.mapv(|v| -v);
    Ok(vec![Some(gp), Some(gt)])
}

pub(super) fn cross_entropy(
    logits: &ArrayD<f64>,
    labels: &ArrayD<i64>,
    ignore_index: Option<i64>,
    reduction: Reduction,
    g: &ArrayD<f64>,
) -> Result<Grads, RuleError> {
    const OP: &str = "cross_entropy";
    if logits.ndim() == 0 {
        return Err(operand_mismatch(OP, "logits must have rank >= 1"));
    }
    let class_axis = usize::from(logits.ndim() > 1);
    let classes = logits.shape()[class_axis];
    let ignored = |l: i64| Some(l) == ignore_index;
    let counted = labels.iter().filter(|&&l| !ignored(l)).count();
    let mut w = element_weights(reduction, g, counted, labels.shape())?;
    for (wi, &l) in w.iter_mut().zip(labels.iter()) {
        if ignored(l) {
            *wi = 0.0;
        }
    }
    // d loss_row / d logits_row = softmax(row) - onehot(label), scaled by the row's weight.
    let mut gx = softmax(logits.view(), class_axis as isize)?;
    let wb = w.insert_axis(Axis(class_axis));
    let wb = wb
        .broadcast(logits.raw_dim())
        .ok_or_else(|| operand_mismatch(OP, "labels do not fit the logits"))?;
    gx *= &wb;
    for (idx, &l) in labels.indexed_iter() {
        if ignored(l) {
            continue;
        }
        if l < 0 || l >= classes as i64 {
            return Err(KernelError::Index {
                op: OP,
                index: l,
                size: classes,
            }
            .into());
        }
        let mut at: Vec<usize> = idx.slice().to_vec();
        at.insert(class_axis, l as usize);
        let weight = wb[IxDyn(&at)];
        gx[IxDyn(&at)] -= weight;
    }
    Ok(vec![Some(gx), None])
}

/// `per_element` reduced as the forward kernel reduces the loss (`count` elements for a mean).
fn reduce_like(
    reduction: Reduction,
    per_element: ArrayD<f64>,
    count: usize,
    y: &ArrayD<f64>,
) -> Result<ArrayD<f64>, RuleError> {
    let total = || per_element.sum();
    let v = match reduction {
        Reduction::None => return Ok(per_element),
        Reduction::Sum => total(),
        Reduction::Mean if count == 0 => 0.0,
        Reduction::Mean => total() / count as f64,
    };
    Ok(ArrayD::from_elem(y.raw_dim(), v))
}

/// Forward mode of the mean squared error: `2 (p - t) (dp - dt)`, reduced.
pub(super) fn mse_jvp(
    p: &ArrayD<f64>,
    t: &ArrayD<f64>,
    reduction: Reduction,
    dp: &ArrayD<f64>,
    dt: &ArrayD<f64>,
    y: &ArrayD<f64>,
) -> Result<ArrayD<f64>, RuleError> {
    if p.shape() != t.shape() {
        return Err(operand_mismatch(
            "mse_loss",
            "prediction and target differ in shape",
        ));
    }
    let per = (p - t) * 2.0 * &(dp - dt);
    reduce_like(reduction, per, p.len(), y)
}

/// Forward mode of cross entropy over the logits: per counted label,
/// `sum(softmax(row) * du_row) - du_row[label]`; ignored labels contribute exactly 0.
pub(super) fn cross_entropy_jvp(
    logits: &ArrayD<f64>,
    labels: &ArrayD<i64>,
    ignore_index: Option<i64>,
    reduction: Reduction,
    du: &ArrayD<f64>,
    y: &ArrayD<f64>,
) -> Result<ArrayD<f64>, RuleError> {
    const OP: &str = "cross_entropy";
    if logits.ndim() == 0 {
        return Err(operand_mismatch(OP, "logits must have rank >= 1"));
    }
    let class_axis = usize::from(logits.ndim() > 1);
    let classes = logits.shape()[class_axis];
    let sm = softmax(logits.view(), class_axis as isize)?;
    let expected = (&sm * du).sum_axis(Axis(class_axis));
    if expected.shape() != labels.shape() {
        return Err(operand_mismatch(OP, "labels do not fit the logits"));
    }
    let mut per = ArrayD::<f64>::zeros(labels.raw_dim());
    let mut counted = 0;
    for (idx, &l) in labels.indexed_iter() {
        if Some(l) == ignore_index {
            continue;
        }
        if l < 0 || l >= classes as i64 {
            return Err(KernelError::Index {
                op: OP,
                index: l,
                size: classes,
            }
            .into());
        }
        counted += 1;
        let mut at: Vec<usize> = idx.slice().to_vec();
        at.insert(class_axis, l as usize);
        per[&idx] = expected[&idx] - du[IxDyn(&at)];
    }
    reduce_like(reduction, per, counted, y)
}
