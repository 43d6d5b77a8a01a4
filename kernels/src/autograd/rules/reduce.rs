//! Backward rules of reductions (sum, mean, max over axes), softmax, log_softmax and global
//! average pooling.
//!
//! Max sends the gradient to the maximal elements of each reduced group, split evenly between
//! ties (PyTorch's `amax` rule).

use super::{operand_mismatch, Grads, RuleError};
use crate::cpu::ReduceOp;
use crate::tensor::{normalize_axes, normalize_axis};
use ndarray::{ArrayD, Axis, IxDyn, Zip};

/// `a` with extent-1 axes inserted at the (sorted) reduced `axes`, as keepdim would leave it.
fn kept(a: &ArrayD<f64>, axes: &[usize], keepdim: bool) -> ArrayD<f64> {
    let mut a = a.clone();
    if !keepdim {
        for &ax in axes {
            a.insert_axis_inplace(Axis(ax));
        }
    }
    a
}

pub(super) fn reduce(
    op: ReduceOp,
    axes: Option<&[isize]>,
    keepdim: bool,
    x: &ArrayD<f64>,
    y: &ArrayD<f64>,
    g: &ArrayD<f64>,
) -> Result<Grads, RuleError> {
    let name = op.name();
    let axes = match axes {
        Some(a) => normalize_axes(name, a, x.ndim())?,
        None => (0..x.ndim()).collect(),
    };
    let gk = kept(g, &axes, keepdim);
    let shape = IxDyn(x.shape());
    let mismatch = || operand_mismatch(name, "the gradient does not broadcast to the input");
    let gx = match op {
        ReduceOp::Sum => gk.broadcast(shape).ok_or_else(mismatch)?.to_owned(),
        ReduceOp::Mean => {
            let count: usize = axes.iter().map(|&a| x.shape()[a]).product();
            let gb = gk.broadcast(shape).ok_or_else(mismatch)?;
            gb.mapv(|v| v / count as f64)
        }
        ReduceOp::Max => {
            let yk = kept(y, &axes, keepdim);
            let yb = yk.broadcast(shape.clone()).ok_or_else(mismatch)?;
            let is_max = Zip::from(x)
                .and(&yb)
                .map_collect(|&v, &m| f64::from(v == m || (v.is_nan() && m.is_nan())));
            let mut ties = is_max.clone();
            for &a in axes.iter().rev() {
                ties = ties.sum_axis(Axis(a));
            }
            for &a in &axes {
                ties.insert_axis_inplace(Axis(a));
            }
            let tb = ties.broadcast(shape.clone()).ok_or_else(mismatch)?;
            let gb = gk.broadcast(shape).ok_or_else(mismatch)?;
            Zip::from(&is_max)
                .and(&tb)
                .and(&gb)
                .map_collect(|&m, &t, &g| if m > 0.0 { g / t } else { 0.0 })
        }
    };
    Ok(vec![Some(gx)])
}

/// `g . y` summed along `axis`, kept as an extent-1 axis.
fn lane_sum(a: &ArrayD<f64>, axis: usize) -> ArrayD<f64> {
    a.sum_axis(Axis(axis)).insert_axis(Axis(axis))
}

pub(super) fn softmax(axis: isize, y: &ArrayD<f64>, g: &ArrayD<f64>) -> Result<Grads, RuleError> {
    let a = normalize_axis("softmax", axis, y.ndim())?;
    let dot = lane_sum(&(g * y), a);
    Ok(vec![Some(y * &(g - &dot))])
}

pub(super) fn log_softmax(
    axis: isize,
    y: &ArrayD<f64>,
    g: &ArrayD<f64>,
) -> Result<Grads, RuleError> {
    let a = normalize_axis("log_softmax", axis, y.ndim())?;
    let total = lane_sum(g, a);
    Ok(vec![Some(g - &(y.mapv(f64::exp) * &total))])
}

pub(super) fn global_avg_pool(x: &ArrayD<f64>, g: &ArrayD<f64>) -> Result<Grads, RuleError> {
    const OP: &str = "global_avg_pool";
    if x.ndim() < 3 {
        return Err(operand_mismatch(OP, "input must be [N, C, spatial...]"));
    }
    let (n, c) = (x.shape()[0], x.shape()[1]);
    let spatial: usize = x.shape()[2..].iter().product();
    let g2 = g
        .to_shape((n, c, 1))
        .map_err(|e| operand_mismatch(OP, e.to_string()))?;
    let gx = g2
        .broadcast((n, c, spatial))
        .ok_or_else(|| operand_mismatch(OP, "gradient does not fit the input"))?
        .mapv(|v| v / spatial as f64)
        .into_shape_with_order(x.raw_dim())
        .map_err(|e| operand_mismatch(OP, e.to_string()))?;
    Ok(vec![Some(gx)])
}

/// Forward mode of a max reduction, with the backward rule's convention at ties: the tangent is
/// the mean of the tangents of the tied maxima of each group.
pub(super) fn max_jvp(
    axes: Option<&[isize]>,
    keepdim: bool,
    x: &ArrayD<f64>,
    y: &ArrayD<f64>,
    u: &ArrayD<f64>,
) -> Result<ArrayD<f64>, RuleError> {
    const OP: &str = "max";
    let axes = match axes {
        Some(a) => normalize_axes(OP, a, x.ndim())?,
        None => (0..x.ndim()).collect(),
    };
    let yk = kept(y, &axes, keepdim);
    let yb = yk
        .broadcast(IxDyn(x.shape()))
        .ok_or_else(|| operand_mismatch(OP, "the output does not broadcast to the input"))?;
    let is_max = Zip::from(x)
        .and(&yb)
        .map_collect(|&v, &m| f64::from(v == m || (v.is_nan() && m.is_nan())));
    let mut picked = &is_max * u;
    let mut ties = is_max;
    for &a in axes.iter().rev() {
        picked = picked.sum_axis(Axis(a));
        ties = ties.sum_axis(Axis(a));
    }
    let mut out = Zip::from(&picked)
        .and(&ties)
        .map_collect(|&p, &t| if t > 0.0 { p / t } else { 0.0 });
    if keepdim {
        for &a in &axes {
            out.insert_axis_inplace(Axis(a));
        }
    }
    Ok(out)
}

/// Forward mode of softmax: `y * (u - sum(y * u))` along the axis.
pub(super) fn softmax_jvp(
    axis: isize,
    y: &ArrayD<f64>,
    u: &ArrayD<f64>,
) -> Result<ArrayD<f64>, RuleError> {
    let a = normalize_axis("softmax", axis, y.ndim())?;
    let dot = lane_sum(&(u * y), a);
    Ok(y * &(u - &dot))
}

/// Forward mode of log_softmax: `u - sum(softmax * u)` along the axis.
pub(super) fn log_softmax_jvp(
    axis: isize,
    y: &ArrayD<f64>,
    u: &ArrayD<f64>,
) -> Result<ArrayD<f64>, RuleError> {
    let a = normalize_axis("log_softmax", axis, y.ndim())?;
    let dot = lane_sum(&(y.mapv(f64::exp) * u), a);
    Ok(u - &dot)
}

/// How many groups of a max reduction have two elements within `rel * max(1, |max|)` of the
/// maximum (a tie: the reduction is not differentiable there).
pub(super) fn max_ties(
    axes: Option<&[isize]>,
    keepdim: bool,
    x: &ArrayD<f64>,
    y: &ArrayD<f64>,
    rel: f64,
) -> Result<usize, RuleError> {
    const OP: &str = "max";
    let axes = match axes {
        Some(a) => normalize_axes(OP, a, x.ndim())?,
        None => (0..x.ndim()).collect(),
    };
    let yk = kept(y, &axes, keepdim);
    let yb = yk
        .broadcast(IxDyn(x.shape()))
        .ok_or_else(|| operand_mismatch(OP, "the output does not broadcast to the input"))?;
    let mut near = Zip::from(x)
        .and(&yb)
        .map_collect(|&v, &m| f64::from((m - v).abs() <= rel * m.abs().max(1.0)));
    for &a in axes.iter().rev() {
        near = near.sum_axis(Axis(a));
    }
    Ok(near.iter().filter(|&&n| n >= 2.0).count())
}
