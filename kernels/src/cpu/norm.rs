//! Normalisations: layer_norm and rms_norm over trailing dims, batch_norm in evaluation mode
//! (running statistics).

use crate::error::{KernelError, KernelResult};
use crate::real::Real;
use ndarray::{ArrayD, ArrayViewD, Axis, Ix1};

fn check_eps(op: &'static str, eps: f64) -> KernelResult<()> {
    if eps.is_finite() && eps >= 0.0 {
        Ok(())
    } else {
        Err(KernelError::argument(
            op,
            format!("eps must be finite and >= 0, got {eps}"),
        ))
    }
}

/// Checks that `x` ends with `normalized_shape` and that each affine parameter has exactly that
/// shape; returns the number of normalised elements per row.
fn trailing_group<T>(
    op: &'static str,
    x: &ArrayViewD<T>,
    normalized_shape: &[usize],
    params: &[(&str, Option<&ArrayViewD<T>>)],
) -> KernelResult<usize> {
    let k = normalized_shape.len();
    if k == 0 || k > x.ndim() || &x.shape()[x.ndim() - k..] != normalized_shape {
        return Err(KernelError::shape(
            op,
            format!(
                "input {:?} does not end with normalized_shape {normalized_shape:?}",
                x.shape()
            ),
        ));
    }
    for (name, p) in params {
        if let Some(p) = p {
            if p.shape() != normalized_shape {
                return Err(KernelError::shape(
                    op,
                    format!("{name} is {:?}, expected {normalized_shape:?}", p.shape()),
                ));
            }
        }
    }
    let inner: usize = normalized_shape.iter().product();
    if inner == 0 {
        return Err(KernelError::shape(
            op,
            "normalized_shape must not contain 0",
        ));
    }
    Ok(inner)
}

/// Applies `f(row, out_row)` to each row of `x` viewed as `[rows, inner]`, in standard layout.
fn map_rows<T: Real>(
    op: &'static str,
    x: &ArrayViewD<T>,
    inner: usize,
    mut f: impl FnMut(ndarray::ArrayView1<T>, ndarray::ArrayViewMut1<T>),
) -> KernelResult<ArrayD<T>> {
    let rows = x.len() / inner;
    let mut out = x.as_standard_layout().into_owned();
    {
        let src = x.as_standard_layout();
        let src = src
            .view()
            .into_shape_with_order((rows, inner))
            .map_err(|e| KernelError::shape(op, e.to_string()))?;
        let mut dst = out
            .view_mut()
            .into_shape_with_order((rows, inner))
            .map_err(|e| KernelError::shape(op, e.to_string()))?;
        for (s, d) in src.outer_iter().zip(dst.outer_iter_mut()) {
            f(s, d);
        }
    }
    Ok(out)
}

/// `(x - mean) / sqrt(var + eps) * weight + bias` over the trailing `normalized_shape` dims,
/// with the biased variance (PyTorch).
pub fn layer_norm<T: Real>(
    x: ArrayViewD<T>,
    normalized_shape: &[usize],
    weight: Option<ArrayViewD<T>>,
    bias: Option<ArrayViewD<T>>,
    eps: f64,
) -> KernelResult<ArrayD<T>> {
    const OP: &str = "layer_norm";
    check_eps(OP, eps)?;
    let inner = trailing_group(
        OP,
        &x,
        normalized_shape,
        &[("weight", weight.as_ref()), ("bias", bias.as_ref())],
    )?;
    let w = weight.map(|w| w.iter().copied().collect::<Vec<_>>());
    let b = bias.map(|b| b.iter().copied().collect::<Vec<_>>());
    let n = T::from_usize(inner);
    let eps = T::from_f64(eps);
    map_rows(OP, &x, inner, |row, mut out| {
        let mean = row.iter().fold(T::zero(), |a, &v| a + v) / n;
        let var = row
            .iter()
            .fold(T::zero(), |a, &v| a + (v - mean) * (v - mean))
            / n;
        let inv = T::one() / (var + eps).sqrt();
        for (j, (o, &v)) in out.iter_mut().zip(row.iter()).enumerate() {
            let mut y = (v - mean) * inv;
            if let Some(w) = &w {
                y = y * w[j];
            }
            if let Some(b) = &b {
                y = y + b[j];
            }
            *o = y;
        }
    })
}

/// `x / sqrt(mean(x^2) + eps) * weight` over the trailing `normalized_shape` dims.
pub fn rms_norm<T: Real>(
    x: ArrayViewD<T>,
    normalized_shape: &[usize],
    weight: Option<ArrayViewD<T>>,
    eps: f64,
) -> KernelResult<ArrayD<T>> {
    const OP: &str = "rms_norm";
    check_eps(OP, eps)?;
    let inner = trailing_group(OP, &x, normalized_shape, &[("weight", weight.as_ref())])?;
    let w = weight.map(|w| w.iter().copied().collect::<Vec<_>>());
    let n = T::from_usize(inner);
    let eps = T::from_f64(eps);
    map_rows(OP, &x, inner, |row, mut out| {
        let ms = row.iter().fold(T::zero(), |a, &v| a + v * v) / n;
        let inv = T::one() / (ms + eps).sqrt();
        for (j, (o, &v)) in out.iter_mut().zip(row.iter()).enumerate() {
            *o = match &w {
                Some(w) => v * inv * w[j],
                None => v * inv,
            };
        }
    })
}

/// Batch norm in evaluation mode over `x: [N, C, ...]` with per-channel running statistics.
pub fn batch_norm<T: Real>(
    x: ArrayViewD<T>,
    running_mean: ArrayViewD<T>,
    running_var: ArrayViewD<T>,
    weight: Option<ArrayViewD<T>>,
    bias: Option<ArrayViewD<T>>,
    eps: f64,
) -> KernelResult<ArrayD<T>> {
    const OP: &str = "batch_norm";
    check_eps(OP, eps)?;
    if x.ndim() < 2 {
        return Err(KernelError::shape(OP, "input must be [N, C, ...]"));
    }
    let c = x.shape()[1];
    let per_channel = |name: &str, v: ArrayViewD<T>| -> KernelResult<Vec<T>> {
        v.into_dimensionality::<Ix1>()
            .ok()
            .filter(|v| v.len() == c)
            .map(|v| v.to_vec())
            .ok_or_else(|| KernelError::shape(OP, format!("{name} must be [{c}]")))
    };
    let mean = per_channel("running_mean", running_mean)?;
    let var = per_channel("running_var", running_var)?;
    let w = weight.map(|w| per_channel("weight", w)).transpose()?;
    let b = bias.map(|b| per_channel("bias", b)).transpose()?;
    let eps = T::from_f64(eps);
    // Per channel y = x * scale + shift.
    let (scale, shift): (Vec<T>, Vec<T>) = (0..c)
        .map(|ch| {
            let inv = T::one() / (var[ch] + eps).sqrt();
            let s = inv * w.as_ref().map_or(T::one(), |w| w[ch]);
            let t = b.as_ref().map_or(T::zero(), |b| b[ch]) - mean[ch] * s;
            (s, t)
        })
        .unzip();
    let mut out = x.to_owned();
    for mut img in out.outer_iter_mut() {
        for (ch, mut plane) in img.axis_iter_mut(Axis(0)).enumerate() {
            plane.mapv_inplace(|v| v * scale[ch] + shift[ch]);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::{arr1, arr2, ArrayD, IxDyn};

    #[test]
    fn layer_norm_hand_values() {
        let x = arr2(&[[1.0, 2.0, 3.0], [2.0, 2.0, 2.0]]).into_dyn();
        let y = layer_norm(x.view(), &[3], None, None, 0.0).unwrap();
        let s = (1.5f64).sqrt();
        assert!(
            (y[[0, 0]] + s).abs() < 1e-12
                && y[[0, 1]].abs() < 1e-12
                && (y[[0, 2]] - s).abs() < 1e-12
        );
        // A constant row with eps > 0 normalises to exactly 0, then the bias.
        let w = arr1(&[2.0, 2.0, 2.0]).into_dyn();
        let b = arr1(&[1.0, 0.0, -1.0]).into_dyn();
        let y = layer_norm(x.view(), &[3], Some(w.view()), Some(b.view()), 1e-5).unwrap();
        assert_eq!(
            y.index_axis(Axis(0), 1).iter().copied().collect::<Vec<_>>(),
            vec![1.0, 0.0, -1.0]
        );
        assert_eq!(
            layer_norm(x.view(), &[2], None, None, 1e-5)
                .unwrap_err()
                .code(),
            "TL0501"
        );
        assert_eq!(
            layer_norm(x.view(), &[3], None, None, -1.0)
                .unwrap_err()
                .code(),
            "TL0503"
        );
    }

    #[test]
    fn layer_norm_rows_have_zero_mean_unit_variance() {
        let x = ndarray::Array::from_shape_fn((2, 3, 4), |(a, b, c)| {
            ((a * 13 + b * 5 + c * 7) % 9) as f64
        })
        .into_dyn();
        let y = layer_norm(x.view(), &[3, 4], None, None, 0.0).unwrap();
        for row in y.outer_iter() {
            let m = row.mean().unwrap();
            let v = row.mapv(|t| (t - m) * (t - m)).mean().unwrap();
            assert!(m.abs() < 1e-12 && (v - 1.0).abs() < 1e-12);
        }
    }

    #[test]
    fn rms_norm_hand_values() {
        let x = arr2(&[[3.0f32, 4.0]]).into_dyn();
        // mean square = 12.5
        let y = rms_norm(x.view(), &[2], None, 0.0).unwrap();
        let r = 12.5f32.sqrt();
        assert_eq!(
            y.iter().copied().collect::<Vec<_>>(),
            vec![3.0 / r, 4.0 / r]
        );
        let bad_w = arr1(&[1.0f32]).into_dyn();
        assert_eq!(
            rms_norm(x.view(), &[2], Some(bad_w.view()), 0.0)
                .unwrap_err()
                .code(),
            "TL0501"
        );
    }

    #[test]
    fn batch_norm_eval() {
        let x = ArrayD::from_shape_vec(IxDyn(&[1, 2, 2]), vec![1.0, 3.0, 10.0, 20.0]).unwrap();
        let mean = arr1(&[1.0, 10.0]).into_dyn();
        let var = arr1(&[4.0, 100.0]).into_dyn();
        let w = arr1(&[1.0, 2.0]).into_dyn();
        let b = arr1(&[0.0, 1.0]).into_dyn();
        let y = batch_norm(
            x.view(),
            mean.view(),
            var.view(),
            Some(w.view()),
            Some(b.view()),
            0.0,
        )
        .unwrap();
        assert_eq!(
            y.iter().copied().collect::<Vec<_>>(),
            vec![0.0, 1.0, 1.0, 3.0]
        );
        let short = arr1(&[1.0]).into_dyn();
        assert_eq!(
            batch_norm(x.view(), short.view(), var.view(), None, None, 0.0)
                .unwrap_err()
                .code(),
            "TL0501"
        );
    }
}
