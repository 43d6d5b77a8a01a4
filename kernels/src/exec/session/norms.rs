//! Allocation-free RMS norm and evaluation-mode batch norm for a [`super::Session`], doing the
//! generic kernels' arithmetic in the same order (identical results). The caller checks what
//! the generic kernels would refuse first and runs them instead, so errors keep their codes.

use super::fast_kernels::check_len;
use crate::error::KernelResult;

/// `x / sqrt(mean(x^2) + eps) * weight` over rows of `inner` values (weight: `inner` values).
pub(crate) fn rms_norm_into(
    x: &[f32],
    inner: usize,
    weight: Option<&[f32]>,
    eps: f64,
    out: &mut [f32],
) -> KernelResult<()> {
    const OP: &str = "rms_norm";
    check_len(OP, "output", out.len(), x.len())?;
    if inner == 0 || !x.len().is_multiple_of(inner) {
        return Err(crate::KernelError::shape(
            OP,
            format!("{} values are not rows of {inner}", x.len()),
        ));
    }
    if let Some(w) = weight {
        check_len(OP, "weight", w.len(), inner)?;
    }
    let (n, eps) = (inner as f32, eps as f32);
    for (row, dst) in x.chunks_exact(inner).zip(out.chunks_exact_mut(inner)) {
        let ms = row.iter().fold(0.0f32, |a, &v| a + v * v) / n;
        let inv = 1.0 / (ms + eps).sqrt();
        match weight {
            Some(w) => {
                for ((o, &v), &w) in dst.iter_mut().zip(row).zip(w) {
                    *o = v * inv * w;
                }
            }
            None => {
                for (o, &v) in dst.iter_mut().zip(row) {
                    *o = v * inv;
                }
            }
        }
    }
    Ok(())
}

/// Per-channel statistics and affine parameters of a batch norm (each `C` values).
pub(crate) struct ChannelParams<'a> {
    pub(crate) mean: &'a [f32],
    pub(crate) var: &'a [f32],
    pub(crate) weight: Option<&'a [f32]>,
    pub(crate) bias: Option<&'a [f32]>,
}

/// Batch norm with running statistics over `x: [N, C, plane]`:
/// `y = x * s + t` per channel, `s = weight / sqrt(var + eps)`, `t = bias - mean * s`.
pub(crate) fn batch_norm_into(
    x: &[f32],
    (images, channels, plane): (usize, usize, usize),
    p: &ChannelParams,
    eps: f64,
    out: &mut [f32],
) -> KernelResult<()> {
    const OP: &str = "batch_norm";
    check_len(OP, "input", x.len(), images * channels * plane)?;
    check_len(OP, "output", out.len(), x.len())?;
    for v in [Some(p.mean), Some(p.var), p.weight, p.bias]
        .into_iter()
        .flatten()
    {
        check_len(OP, "a per-channel parameter", v.len(), channels)?;
    }
    if out.is_empty() || plane == 0 {
        return Ok(());
    }
    let eps = eps as f32;
    for ch in 0..channels {
        let inv = 1.0 / (p.var[ch] + eps).sqrt();
        let s = inv * p.weight.map_or(1.0, |w| w[ch]);
        let t = p.bias.map_or(0.0, |b| b[ch]) - p.mean[ch] * s;
        for img in 0..images {
            let at = (img * channels + ch) * plane;
            for (o, &v) in out[at..at + plane].iter_mut().zip(&x[at..at + plane]) {
                *o = v * s + t;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cpu;
    use ndarray::ArrayD;
    use proptest::prelude::*;

    /// Values for `shape` from a seed, in [-3, 3).
    fn values(shape: &[usize], seed: u64) -> ArrayD<f32> {
        super::super::seeded_values(shape, seed, 3.0)
    }

    fn same_bits(got: &[f32], want: &ArrayD<f32>) -> Result<(), TestCaseError> {
        let want = want.as_standard_layout();
        prop_assert_eq!(got.len(), want.len());
        for (g, w) in got.iter().zip(want.iter()) {
            prop_assert!(
                g.to_bits() == w.to_bits() || (g.is_nan() && w.is_nan()),
                "{} vs {}",
                g,
                w
            );
        }
        Ok(())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(200))]

        #[test]
        fn rms_norm_equals_the_generic_kernel(
            shape in proptest::collection::vec(1usize..6, 1..=4),
            trailing in 1usize..3,
            weighted: bool,
            eps in prop_oneof![Just(0.0f64), Just(1e-6), Just(0.5)],
            seed in any::<u64>(),
        ) {
            let x = values(&shape, seed);
            let normalized = shape[shape.len() - trailing.min(shape.len())..].to_vec();
            let inner: usize = normalized.iter().product();
            let w = values(&normalized, seed ^ 9);
            let w = weighted.then_some(&w);
            let want = cpu::rms_norm(x.view(), &normalized, w.map(|w| w.view()), eps).unwrap();
            let mut out = vec![f32::NAN; x.len()];
            let ws = w.map(|w| w.as_slice().unwrap());
            rms_norm_into(x.as_slice().unwrap(), inner, ws, eps, &mut out).unwrap();
            same_bits(&out, &want)?;
        }

        #[test]
        fn batch_norm_equals_the_generic_kernel(
            shape in proptest::collection::vec(0usize..5, 2..=4),
            affine in 0u8..4,
            eps in prop_oneof![Just(0.0f64), Just(1e-5)],
            seed in any::<u64>(),
        ) {
            let x = values(&shape, seed);
            let c = shape[1];
            let mean = values(&[c], seed ^ 1);
            let var = values(&[c], seed ^ 2).mapv(|v| v.abs() + 0.1);
            let (w, b) = (values(&[c], seed ^ 3), values(&[c], seed ^ 4));
            let w = (affine & 1 != 0).then_some(&w);
            let b = (affine & 2 != 0).then_some(&b);
            let want = cpu::batch_norm(
                x.view(),
                mean.view(),
                var.view(),
                w.map(|w| w.view()),
                b.map(|b| b.view()),
                eps,
            )
            .unwrap();
            let params = ChannelParams {
                mean: mean.as_slice().unwrap(),
                var: var.as_slice().unwrap(),
                weight: w.map(|w| w.as_slice().unwrap()),
                bias: b.map(|b| b.as_slice().unwrap()),
            };
            let plane = shape[2..].iter().product();
            let mut out = vec![f32::NAN; x.len()];
            batch_norm_into(x.as_slice().unwrap(), (shape[0], c, plane), &params, eps, &mut out)
                .unwrap();
            same_bits(&out, &want)?;
        }
    }

    #[test]
    fn wrong_lengths_are_refused_with_codes() {
        let mut out = [0.0f32; 6];
        let x = [1.0f32; 6];
        let err = rms_norm_into(&x, 4, None, 1e-5, &mut out);
        assert_eq!(err.unwrap_err().code(), "TL0501");
        let p = ChannelParams {
            mean: &x[..2],
            var: &x[..3],
            weight: None,
            bias: None,
        };
        let err = batch_norm_into(&x, (1, 3, 2), &p, 1e-5, &mut out);
        assert_eq!(err.unwrap_err().code(), "TL0501");
    }
}
