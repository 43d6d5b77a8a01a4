//! Reductions over axes (sum, mean, max with keepdim), argmax, and numerically stable softmax
//! and log_softmax (the row maximum is subtracted before exponentiating).

use crate::error::{KernelError, KernelResult};
use crate::real::Real;
use crate::tensor::{normalize_axes, normalize_axis};
use ndarray::{ArrayD, ArrayViewD, ArrayViewMut1, Axis, IxDyn};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReduceOp {
    Sum,
    Mean,
    Max,
}

impl ReduceOp {
    pub fn name(self) -> &'static str {
        match self {
            ReduceOp::Sum => "sum",
            ReduceOp::Mean => "mean",
            ReduceOp::Max => "max",
        }
    }
}

/// Reduces `x` over `axes` (`None` = every axis; an empty list reduces nothing). With `keepdim`
/// the reduced axes stay with size 1. Max over an empty axis is an error; the mean of an empty
/// axis is NaN (0/0, as in PyTorch).
pub fn reduce<T: Real>(
    op: ReduceOp,
    x: ArrayViewD<T>,
    axes: Option<&[isize]>,
    keepdim: bool,
) -> KernelResult<ArrayD<T>> {
    let name = op.name();
    let axes = match axes {
        Some(a) => normalize_axes(name, a, x.ndim())?,
        None => (0..x.ndim()).collect(),
    };
    let mut out = x.to_owned();
    let mut count = 1usize;
    for &a in axes.iter().rev() {
        let len = out.shape()[a];
        count = count.saturating_mul(len);
        out = match op {
            ReduceOp::Sum | ReduceOp::Mean => out.sum_axis(Axis(a)),
            ReduceOp::Max => {
                if len == 0 {
                    return Err(KernelError::shape(
                        name,
                        format!("cannot take the max of empty axis {a}"),
                    ));
                }
                out.fold_axis(Axis(a), T::NEG_INFINITY, |&acc, &v| acc.max_nan(v))
            }
        };
    }
    if op == ReduceOp::Mean {
        let n = T::from_usize(count);
        out.mapv_inplace(|v| v / n);
    }
    if keepdim {
        for &a in &axes {
            out.insert_axis_inplace(Axis(a));
        }
    }
    Ok(out)
}

/// Index of the largest value along `axis` (`None` = of the flattened tensor). Ties give the
/// first index; NaN counts as larger than everything (numpy and PyTorch agree).
pub fn argmax<T: Real>(
    x: ArrayViewD<T>,
    axis: Option<isize>,
    keepdim: bool,
) -> KernelResult<ArrayD<i64>> {
    const OP: &str = "argmax";
    if x.is_empty() {
        return Err(KernelError::shape(
            OP,
            "cannot take the argmax of an empty tensor",
        ));
    }
    let better = |cand: T, best: T| !best.is_nan() && (cand.is_nan() || cand > best);
    let lane_argmax = |lane: ndarray::ArrayView1<T>| -> i64 {
        let mut best_i = 0usize;
        for (i, &v) in lane.iter().enumerate().skip(1) {
            if better(v, lane[best_i]) {
                best_i = i;
            }
        }
        best_i as i64
    };
    match axis {
        None => {
            let flat: Vec<T> = x.iter().copied().collect();
            let idx = lane_argmax(ndarray::ArrayView1::from(&flat));
            let shape = if keepdim { vec![1; x.ndim()] } else { vec![] };
            Ok(ArrayD::from_elem(IxDyn(&shape), idx))
        }
        Some(axis) => {
            let a = normalize_axis(OP, axis, x.ndim())?;
            let mut out = x.map_axis(Axis(a), lane_argmax);
            if keepdim {
                out.insert_axis_inplace(Axis(a));
            }
            Ok(out)
        }
    }
}

fn softmax_lane<T: Real>(mut lane: ArrayViewMut1<T>, log: bool) {
    let m = lane.iter().fold(T::NEG_INFINITY, |acc, &v| acc.max_nan(v));
    if log {
        let s = lane.iter().fold(T::zero(), |acc, &v| acc + (v - m).exp());
        let lse = m + s.ln();
        lane.mapv_inplace(|v| v - lse);
    } else {
        lane.mapv_inplace(|v| (v - m).exp());
        let s = lane.iter().fold(T::zero(), |acc, &v| acc + v);
        lane.mapv_inplace(|v| v / s);
    }
}

/// `exp(x - max) / sum(exp(x - max))` along `axis`. A lane of all -inf gives NaN (PyTorch).
pub fn softmax<T: Real>(x: ArrayViewD<T>, axis: isize) -> KernelResult<ArrayD<T>> {
    let a = normalize_axis("softmax", axis, x.ndim())?;
    let mut out = x.to_owned();
    for lane in out.lanes_mut(Axis(a)) {
        softmax_lane(lane, false);
    }
    Ok(out)
}

/// `x - max - log(sum(exp(x - max)))` along `axis`.
pub fn log_softmax<T: Real>(x: ArrayViewD<T>, axis: isize) -> KernelResult<ArrayD<T>> {
    let a = normalize_axis("log_softmax", axis, x.ndim())?;
    let mut out = x.to_owned();
    for lane in out.lanes_mut(Axis(a)) {
        softmax_lane(lane, true);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::{arr1, arr2, Array};

    #[test]
    fn sum_mean_max_with_keepdim() {
        let x = arr2(&[[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]).into_dyn();
        assert_eq!(
            reduce(ReduceOp::Sum, x.view(), Some(&[0]), false).unwrap(),
            arr1(&[5.0, 7.0, 9.0]).into_dyn()
        );
        assert_eq!(
            reduce(ReduceOp::Mean, x.view(), Some(&[-1]), true).unwrap(),
            arr2(&[[2.0], [5.0]]).into_dyn()
        );
        assert_eq!(
            reduce(ReduceOp::Max, x.view(), None, false).unwrap().sum(),
            6.0
        );
        assert_eq!(
            reduce(ReduceOp::Sum, x.view(), None, true).unwrap().shape(),
            &[1, 1]
        );
        assert_eq!(
            reduce(ReduceOp::Sum, x.view(), Some(&[]), false).unwrap(),
            x
        );
        assert_eq!(
            reduce(ReduceOp::Sum, x.view(), Some(&[2]), false)
                .unwrap_err()
                .code(),
            "TL0503"
        );
        let empty = ArrayD::<f64>::zeros(IxDyn(&[2, 0]));
        assert_eq!(
            reduce(ReduceOp::Max, empty.view(), Some(&[1]), false)
                .unwrap_err()
                .code(),
            "TL0501"
        );
        assert!(reduce(ReduceOp::Mean, empty.view(), Some(&[1]), false).unwrap()[[0]].is_nan());
    }

    #[test]
    fn argmax_first_tie_and_nan() {
        let x = arr2(&[[1.0, 3.0, 3.0], [f64::NAN, 9.0, 0.0]]).into_dyn();
        assert_eq!(
            argmax(x.view(), Some(1), false).unwrap(),
            arr1(&[1i64, 0]).into_dyn()
        );
        assert_eq!(argmax(x.view(), Some(0), true).unwrap().shape(), &[1, 3]);
        let y = arr1(&[0.5f32, 2.0, -1.0]).into_dyn();
        assert_eq!(
            argmax(y.view(), None, false).unwrap().into_iter().next(),
            Some(1)
        );
    }

    #[test]
    fn softmax_is_stable_and_normalised() {
        let x = arr1(&[1000.0, 1000.0, -1000.0]).into_dyn();
        let s = softmax(x.view(), 0).unwrap();
        assert_eq!(s.iter().copied().collect::<Vec<_>>(), vec![0.5, 0.5, 0.0]);
        let ls = log_softmax(x.view(), -1).unwrap();
        assert!((ls[[0]] + std::f64::consts::LN_2).abs() < 1e-12);
        let x = Array::from_shape_fn((3, 4), |(i, j)| (i as f64 - j as f64) * 0.7).into_dyn();
        let s = softmax(x.view(), 1).unwrap();
        for row in s.outer_iter() {
            assert!((row.sum() - 1.0).abs() < 1e-12);
        }
        let ls = log_softmax(x.view(), 1).unwrap();
        for (a, b) in ls.iter().zip(s.iter()) {
            assert!((a.exp() - b).abs() < 1e-12);
        }
        let s = softmax(arr1(&[1.0f32, 2.0, 3.0]).into_dyn().view(), 0).unwrap();
        assert!((s[[2]] - 0.66524096).abs() < 1e-6);
    }
}
