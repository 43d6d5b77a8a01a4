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
