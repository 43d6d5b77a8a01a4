//! Losses: mean squared error and cross entropy with ignore_index.

use crate::cpu::reduce::log_softmax;
use crate::error::{KernelError, KernelResult};
use crate::real::Real;
use ndarray::{ArrayD, ArrayViewD, IxDyn};

/// How per-element losses are combined.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reduction {
    /// Keep one loss per element (per sample for cross entropy).
    None,
    Mean,
    Sum,
}

/// Combines per-element losses. The sum is one left-to-right pass in row-major order (not
/// ndarray's lane-unrolled `sum`): adding an exact 0 then leaves the running sum unchanged, so a
/// loss whose ignored rows contribute 0 equals, bit for bit, the loss without those rows (the
/// property `ignored_labels_zero` claims of the compiled f32 kernel).
fn reduce_losses<T: Real>(losses: ArrayD<T>, reduction: Reduction, count: usize) -> ArrayD<T> {
    let sum = |l: &ArrayD<T>| l.iter().fold(T::zero(), |acc, &v| acc + v);
    match reduction {
        Reduction::None => losses,
        Reduction::Sum => ArrayD::from_elem(IxDyn(&[]), sum(&losses)),
        Reduction::Mean => {
            let mean = if count == 0 {
                T::zero()
            } else {
                sum(&losses) / T::from_usize(count)
            };
            ArrayD::from_elem(IxDyn(&[]), mean)
        }
    }
}

/// `(pred - target)^2`, reduced. The shapes must be equal (PyTorch only warns when they broadcast,
/// which is almost always a bug). The mean of an empty tensor is 0.
pub fn mse_loss<T: Real>(
    pred: ArrayViewD<T>,
    target: ArrayViewD<T>,
    reduction: Reduction,
) -> KernelResult<ArrayD<T>> {
    if pred.shape() != target.shape() {
        return Err(KernelError::shape(
            "mse_loss",
            format!(
                "prediction {:?} and target {:?} differ",
                pred.shape(),
                target.shape()
            ),
        ));
    }
    let sq = ndarray::Zip::from(&pred)
        .and(&target)
        .map_collect(|&p, &t| (p - t) * (p - t));
    let n = sq.len();
    Ok(reduce_losses(sq, reduction, n))
}

/// Cross entropy of `logits` (`[C]`, `[N, C]` or `[N, C, d...]`; classes on axis 1, or 0 for 1-D)
/// against integer `labels` (`[]`, `[N]` or `[N, d...]`).
///
/// Labels equal to `ignore_index` contribute exactly 0 and are not counted by the mean. When every
/// label is ignored the mean is **0**, where PyTorch returns NaN (0/0): a spec about a batch that
/// happens to be fully padded should not fail on a NaN. Any other label outside `0..C` is a TL0505
/// error.
pub fn cross_entropy<T: Real>(
    logits: ArrayViewD<T>,
    labels: ArrayViewD<i64>,
    ignore_index: Option<i64>,
    reduction: Reduction,
) -> KernelResult<ArrayD<T>> {
    const OP: &str = "cross_entropy";
    if logits.ndim() == 0 {
        return Err(KernelError::shape(OP, "logits must have rank >= 1"));
    }
    let class_axis = if logits.ndim() == 1 { 0 } else { 1 };
    let classes = logits.shape()[class_axis];
    let mut expected: Vec<usize> = logits.shape().to_vec();
    expected.remove(class_axis);
    if labels.shape() != expected.as_slice() {
        return Err(KernelError::shape(
            OP,
            format!(
                "logits {:?} need labels of shape {expected:?}, got {:?}",
                logits.shape(),
                labels.shape()
            ),
        ));
    }
    let logp = log_softmax(logits, class_axis as isize)?;
    // Move the class axis last so that row i of [M, C] pairs with label i in row-major order.
    let mut order: Vec<usize> = (0..logp.ndim()).filter(|&a| a != class_axis).collect();
    order.push(class_axis);
    let logp = logp.permuted_axes(IxDyn(&order));
    let logp = logp.as_standard_layout();
    let rows = labels.len();
    let logp = logp
        .view()
        .into_shape_with_order((rows, classes))
        .map_err(|e| KernelError::shape(OP, e.to_string()))?;
    let mut losses = Vec::with_capacity(rows);
    let mut counted = 0usize;
    for (row, &label) in logp.outer_iter().zip(labels.iter()) {
        if Some(label) == ignore_index {
            losses.push(T::zero());
            continue;
        }
        if label < 0 || label >= classes as i64 {
            return Err(KernelError::Index {
                op: OP,
                index: label,
                size: classes,
            });
        }
        losses.push(-row[label as usize]);
        counted += 1;
    }
    let losses = ArrayD::from_shape_vec(IxDyn(labels.shape()), losses)
        .map_err(|e| KernelError::shape(OP, e.to_string()))?;
    Ok(reduce_losses(losses, reduction, counted))
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::{arr0, arr1, arr2, Array};

    #[test]
    fn mse_reductions() {
        let p = arr1(&[1.0, 2.0, 4.0]).into_dyn();
        let t = arr1(&[1.0, 0.0, 1.0]).into_dyn();
        assert_eq!(
            mse_loss(p.view(), t.view(), Reduction::None).unwrap(),
            arr1(&[0.0, 4.0, 9.0]).into_dyn()
        );
        assert_eq!(
            mse_loss(p.view(), t.view(), Reduction::Sum).unwrap(),
            arr0(13.0).into_dyn()
        );
        assert_eq!(
            mse_loss(p.view(), t.view(), Reduction::Mean).unwrap(),
            arr0(13.0 / 3.0).into_dyn()
        );
        let t2 = arr1(&[1.0]).into_dyn();
        assert_eq!(
            mse_loss(p.view(), t2.view(), Reduction::Mean)
                .unwrap_err()
                .code(),
            "TL0501"
        );
    }

    #[test]
    fn cross_entropy_hand_values() {
        // Uniform logits over 4 classes: loss ln 4 for every sample.
        let logits = ArrayD::<f64>::zeros(IxDyn(&[2, 4]));
        let labels = arr1(&[0i64, 3]).into_dyn();
        let l = cross_entropy(logits.view(), labels.view(), None, Reduction::Mean).unwrap();
        assert!((l[[]] - 4f64.ln()).abs() < 1e-12);
        let logits = arr2(&[[0.0, 3f64.ln()]]).into_dyn();
        let l = cross_entropy(
            logits.view(),
            arr1(&[1i64]).into_dyn().view(),
            None,
            Reduction::Sum,
        )
        .unwrap();
        assert!((l[[]] - (4.0f64 / 3.0).ln()).abs() < 1e-12);
    }

    #[test]
    fn ignored_labels_contribute_zero_and_all_ignored_mean_is_zero() {
        let logits = arr2(&[[1.0, 2.0], [5.0, -1.0]]).into_dyn();
        let labels = arr1(&[-100i64, 0]).into_dyn();
        let per = cross_entropy(logits.view(), labels.view(), Some(-100), Reduction::None).unwrap();
        assert_eq!(per[[0]], 0.0);
        let mean =
            cross_entropy(logits.view(), labels.view(), Some(-100), Reduction::Mean).unwrap();
        assert_eq!(mean[[]], per[[1]]);
        let all = arr1(&[-100i64, -100]).into_dyn();
        assert_eq!(
            cross_entropy(logits.view(), all.view(), Some(-100), Reduction::Mean).unwrap()[[]],
            0.0
        );
        assert_eq!(
            cross_entropy(logits.view(), labels.view(), None, Reduction::Mean)
                .unwrap_err()
                .code(),
            "TL0505"
        );
    }

    /// Ignored rows change nothing, bit for bit, in f32 (issue #14: ndarray's lane-unrolled sum
    /// put the kept losses in different accumulators with and without the zero rows, so the mean
    /// differed in the last place). Random logits and labels, drawn at test time.
    #[test]
    fn ignored_rows_leave_the_f32_loss_bit_identical() {
        let mut seed = 0x1A_B315u64 ^ std::process::id() as u64;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed >> 11) as f64 / (1u64 << 53) as f64
        };
        for trial in 0..300 {
            let rows = 8 + trial % 24;
            let classes = 2 + trial % 5;
            let logits =
                Array::from_shape_fn((rows, classes), |_| (next() * 20.0 - 10.0) as f32).into_dyn();
            let labels: Vec<i64> = (0..rows)
                .map(|_| {
                    if next() < 0.35 {
                        -100
                    } else {
                        ((next() * classes as f64) as i64).min(classes as i64 - 1)
                    }
                })
                .collect();
            let keep: Vec<usize> = (0..rows).filter(|&i| labels[i] != -100).collect();
            let kept_logits = logits.select(ndarray::Axis(0), &keep);
            let kept_labels: Vec<i64> = keep.iter().map(|&i| labels[i]).collect();
            for reduction in [Reduction::Mean, Reduction::Sum] {
                let full = cross_entropy(
                    logits.view(),
                    arr1(&labels).into_dyn().view(),
                    Some(-100),
                    reduction,
                )
                .unwrap()[[]];
                let without = cross_entropy(
                    kept_logits.view(),
                    arr1(&kept_labels).into_dyn().view(),
                    Some(-100),
                    reduction,
                )
                .unwrap()[[]];
                assert_eq!(
                    full.to_bits(),
                    without.to_bits(),
                    "trial {trial} {reduction:?}: {full} with the ignored rows, {without} without"
                );
            }
        }
    }

    #[test]
    fn spatial_cross_entropy_matches_per_pixel() {
        let logits = Array::from_shape_fn((2, 3, 2), |(n, c, d)| {
            (n * 7 + c * 3 + d) as f64 * 0.37 % 1.3
        })
        .into_dyn();
        let labels = arr2(&[[0i64, 2], [1, 1]]).into_dyn();
        let per = cross_entropy(logits.view(), labels.view(), None, Reduction::None).unwrap();
        for n in 0..2 {
            for d in 0..2 {
                let row: Vec<f64> = (0..3).map(|c| logits[[n, c, d]]).collect();
                let lse = row.iter().map(|v| v.exp()).sum::<f64>().ln();
                let want = lse - row[labels[[n, d]] as usize];
                assert!((per[[n, d]] - want).abs() < 1e-12);
            }
        }
    }
}
