//! Backward rules of the normalisations: layer_norm and rms_norm over trailing dims (statistics
//! of the row, so every element's gradient depends on the whole row), and batch_norm in
//! evaluation mode (running statistics are operands, a per-channel affine map of x).

use super::{operand_mismatch, Grads, RuleError};
use ndarray::{ArrayD, IxDyn};

/// `(rows, inner)` for normalising `x` over its trailing `normalized` dims.
fn rows_of(
    op: &'static str,
    x: &ArrayD<f64>,
    normalized: &[usize],
) -> Result<(usize, usize), RuleError> {
    let k = normalized.len();
    if k == 0 || k > x.ndim() || &x.shape()[x.ndim() - k..] != normalized {
        return Err(operand_mismatch(
            op,
            format!("input {:?} does not end with {normalized:?}", x.shape()),
        ));
    }
    let inner: usize = normalized.iter().product();
    if inner == 0 {
        return Err(operand_mismatch(op, "normalized_shape must not contain 0"));
    }
    Ok((x.len() / inner, inner))
}

/// Row-major values of `a`.
fn flat(a: &ArrayD<f64>) -> Vec<f64> {
    a.iter().copied().collect()
}

/// The normalised shape the forward kernel uses when none is given.
fn default_normalized(
    given: Option<&[usize]>,
    x: &ArrayD<f64>,
    w: Option<&ArrayD<f64>>,
) -> Vec<usize> {
    match (given, w) {
        (Some(n), _) => n.to_vec(),
        (None, Some(w)) => w.shape().to_vec(),
        (None, None) => x.shape().last().map(|&d| vec![d]).unwrap_or_default(),
    }
}

fn shaped(v: Vec<f64>, shape: &[usize]) -> Result<ArrayD<f64>, RuleError> {
    ArrayD::from_shape_vec(IxDyn(shape), v).map_err(|e| operand_mismatch("norm", e.to_string()))
}

pub(super) fn layer_norm(
    x: &ArrayD<f64>,
    normalized: Option<&[usize]>,
    w: Option<&ArrayD<f64>>,
    bias: bool,
    eps: f64,
    g: &ArrayD<f64>,
) -> Result<Grads, RuleError> {
    let norm = default_normalized(normalized, x, w);
    let (rows, inner) = rows_of("layer_norm", x, &norm)?;
    let (xs, gs) = (flat(x), flat(g));
    let ws = w.map(flat);
    let mut gx = vec![0.0; xs.len()];
    let mut gw = vec![0.0; inner];
    let mut gb = vec![0.0; inner];
    let n = inner as f64;
    for r in 0..rows {
        let row = &xs[r * inner..(r + 1) * inner];
        let grow = &gs[r * inner..(r + 1) * inner];
        let mean = row.iter().sum::<f64>() / n;
        let var = row.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / n;
        let inv = 1.0 / (var + eps).sqrt();
        let xhat: Vec<f64> = row.iter().map(|v| (v - mean) * inv).collect();
        let gxhat: Vec<f64> = (0..inner)
            .map(|j| grow[j] * ws.as_ref().map_or(1.0, |w| w[j]))
            .collect();
        let m1 = gxhat.iter().sum::<f64>() / n;
        let m2 = gxhat.iter().zip(&xhat).map(|(a, b)| a * b).sum::<f64>() / n;
        for j in 0..inner {
            gx[r * inner + j] = inv * (gxhat[j] - m1 - xhat[j] * m2);
            gw[j] += grow[j] * xhat[j];
            gb[j] += grow[j];
        }
    }
    let mut grads = vec![Some(shaped(gx, x.shape())?)];
    if let Some(w) = w {
        grads.push(Some(shaped(gw, w.shape())?));
    }
    if bias {
        grads.push(Some(shaped(gb, &norm)?));
    }
    Ok(grads)
}

pub(super) fn rms_norm(
    x: &ArrayD<f64>,
    normalized: Option<&[usize]>,
    w: Option<&ArrayD<f64>>,
    eps: f64,
    g: &ArrayD<f64>,
) -> Result<Grads, RuleError> {
    // The forward kernel defaults to the last axis here, whatever the weight's shape.
    let norm = normalized.map_or_else(
        || x.shape().last().map(|&d| vec![d]).unwrap_or_default(),
        <[usize]>::to_vec,
    );
    let (rows, inner) = rows_of("rms_norm", x, &norm)?;
    let (xs, gs) = (flat(x), flat(g));
    let ws = w.map(flat);
    let mut gx = vec![0.0; xs.len()];
    let mut gw = vec![0.0; inner];
    let n = inner as f64;
    for r in 0..rows {
        let row = &xs[r * inner..(r + 1) * inner];
        let grow = &gs[r * inner..(r + 1) * inner];
        let inv = 1.0 / (row.iter().map(|v| v * v).sum::<f64>() / n + eps).sqrt();
        let gz: Vec<f64> = (0..inner)
            .map(|j| grow[j] * ws.as_ref().map_or(1.0, |w| w[j]))
            .collect();
        let dot = gz.iter().zip(row).map(|(a, b)| a * b).sum::<f64>() / n;
        for j in 0..inner {
            gx[r * inner + j] = inv * gz[j] - row[j] * inv * inv * inv * dot;
            gw[j] += grow[j] * row[j] * inv;
        }
    }
    let mut grads = vec![Some(shaped(gx, x.shape())?)];
    if let Some(w) = w {
        grads.push(Some(shaped(gw, w.shape())?));
    }
    Ok(grads)
}

/// Operands in kernel order: x, running_mean, running_var, [weight], [bias].
pub(super) fn batch_norm(
    x: &ArrayD<f64>,
    mean: &ArrayD<f64>,
    var: &ArrayD<f64>,
    w: Option<&ArrayD<f64>>,
    bias: bool,
    eps: f64,
    g: &ArrayD<f64>,
) -> Result<Grads, RuleError> {
    const OP: &str = "batch_norm";
    if x.ndim() < 2 {
        return Err(operand_mismatch(OP, "input must be [N, C, ...]"));
    }
    let (n, c) = (x.shape()[0], x.shape()[1]);
    let per = |a: &ArrayD<f64>, name: &str| {
        if a.len() == c {
            Ok(flat(a))
        } else {
            Err(operand_mismatch(OP, format!("{name} must have {c} values")))
        }
    };
    let (m, v) = (per(mean, "running_mean")?, per(var, "running_var")?);
    let ws = w.map(|w| per(w, "weight")).transpose()?;
    let spatial = x.len().checked_div(n * c).unwrap_or(0);
    let (xs, gs) = (flat(x), flat(g));
    let mut gx = vec![0.0; xs.len()];
    let (mut gmean, mut gvar, mut gw, mut gb) =
        (vec![0.0; c], vec![0.0; c], vec![0.0; c], vec![0.0; c]);
    for ch in 0..c {
        let inv = 1.0 / (v[ch] + eps).sqrt();
        let scale = ws.as_ref().map_or(1.0, |w| w[ch]);
        for img in 0..n {
            let base = (img * c + ch) * spatial;
            for k in base..base + spatial {
                let (gv, centred) = (gs[k], xs[k] - m[ch]);
                gx[k] = gv * inv * scale;
                gb[ch] += gv;
                gw[ch] += gv * centred * inv;
                gmean[ch] -= gv * inv * scale;
                // d/dvar (var + eps)^(-1/2) = -1/2 (var + eps)^(-3/2)
                gvar[ch] -= 0.5 * gv * centred * scale * inv * inv * inv;
            }
        }
    }
    let mut grads = vec![
        Some(shaped(gx, x.shape())?),
        Some(shaped(gmean, mean.shape())?),
        Some(shaped(gvar, var.shape())?),
    ];
    if let Some(w) = w {
        grads.push(Some(shaped(gw, w.shape())?));
    }
    if bias {
        grads.push(Some(shaped(gb, &[c])?));
    }
    Ok(grads)
}

/// Forward mode of layer_norm: with `xhat = (x - mean) / s`, `s = sqrt(var + eps)`,
/// `d xhat = (dx - mean(dx) - xhat * mean(xhat * dx)) / s` per row, and
/// `dy = d xhat * w + xhat * dw + db`.
pub(super) fn layer_norm_jvp(
    x: &ArrayD<f64>,
    dx: &ArrayD<f64>,
    normalized: Option<&[usize]>,
    w: Option<(&ArrayD<f64>, &ArrayD<f64>)>,
    db: Option<&ArrayD<f64>>,
    eps: f64,
) -> Result<ArrayD<f64>, RuleError> {
    let norm = default_normalized(normalized, x, w.map(|(w, _)| w));
    let (rows, inner) = rows_of("layer_norm", x, &norm)?;
    let (xs, us) = (flat(x), flat(dx));
    let ws = w.map(|(w, dw)| (flat(w), flat(dw)));
    let bs = db.map(flat);
    let n = inner as f64;
    let mut out = vec![0.0; xs.len()];
    for r in 0..rows {
        let row = &xs[r * inner..(r + 1) * inner];
        let urow = &us[r * inner..(r + 1) * inner];
        let mean = row.iter().sum::<f64>() / n;
        let var = row.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / n;
        let inv = 1.0 / (var + eps).sqrt();
        let xhat: Vec<f64> = row.iter().map(|v| (v - mean) * inv).collect();
        let m1 = urow.iter().sum::<f64>() / n;
        let m2 = urow.iter().zip(&xhat).map(|(a, b)| a * b).sum::<f64>() / n;
        for j in 0..inner {
            let dxhat = inv * (urow[j] - m1 - xhat[j] * m2);
            let mut d = match &ws {
                Some((w, dw)) => dxhat * w[j] + xhat[j] * dw[j],
                None => dxhat,
            };
            if let Some(b) = &bs {
                d += b[j];
            }
            out[r * inner + j] = d;
        }
    }
    shaped(out, x.shape())
}

/// Forward mode of rms_norm: with `r = 1 / sqrt(mean(x^2) + eps)`,
/// `d(x r) = r dx - x r^3 mean(x dx)` per row, and `dy = d(x r) * w + x r * dw`.
pub(super) fn rms_norm_jvp(
    x: &ArrayD<f64>,
    dx: &ArrayD<f64>,
    normalized: Option<&[usize]>,
    w: Option<(&ArrayD<f64>, &ArrayD<f64>)>,
    eps: f64,
) -> Result<ArrayD<f64>, RuleError> {
    let norm = normalized.map_or_else(
        || x.shape().last().map(|&d| vec![d]).unwrap_or_default(),
        <[usize]>::to_vec,
    );
    let (rows, inner) = rows_of("rms_norm", x, &norm)?;
    let (xs, us) = (flat(x), flat(dx));
    let ws = w.map(|(w, dw)| (flat(w), flat(dw)));
    let n = inner as f64;
    let mut out = vec![0.0; xs.len()];
    for r in 0..rows {
        let row = &xs[r * inner..(r + 1) * inner];
        let urow = &us[r * inner..(r + 1) * inner];
        let inv = 1.0 / (row.iter().map(|v| v * v).sum::<f64>() / n + eps).sqrt();
        let dot = urow.iter().zip(row).map(|(a, b)| a * b).sum::<f64>() / n;
        for j in 0..inner {
            let dz = inv * urow[j] - row[j] * inv * inv * inv * dot;
            out[r * inner + j] = match &ws {
                Some((w, dw)) => dz * w[j] + row[j] * inv * dw[j],
                None => dz,
            };
        }
    }
    shaped(out, x.shape())
}

/// Forward mode of evaluation-mode batch_norm in all its operands:
/// `dy = ((dx - dm) s - (x - m) s^3 dv / 2) w + (x - m) s dw + db`, `s = 1 / sqrt(var + eps)`.
pub(super) fn batch_norm_jvp(
    [x, mean, var]: [&ArrayD<f64>; 3],
    [dx, dmean, dvar]: [&ArrayD<f64>; 3],
    w: Option<(&ArrayD<f64>, &ArrayD<f64>)>,
    db: Option<&ArrayD<f64>>,
    eps: f64,
) -> Result<ArrayD<f64>, RuleError> {
    const OP: &str = "batch_norm";
    if x.ndim() < 2 {
        return Err(operand_mismatch(OP, "input must be [N, C, ...]"));
    }
    let (n, c) = (x.shape()[0], x.shape()[1]);
    let per = |a: &ArrayD<f64>, name: &str| {
        if a.len() == c {
            Ok(flat(a))
        } else {
            Err(operand_mismatch(OP, format!("{name} must have {c} values")))
        }
    };
    let (m, v, dm, dv) = (
        per(mean, "running_mean")?,
        per(var, "running_var")?,
        per(dmean, "running_mean")?,
        per(dvar, "running_var")?,
    );
    let ws = w
        .map(|(w, dw)| Ok::<_, RuleError>((per(w, "weight")?, per(dw, "weight")?)))
        .transpose()?;
    let bs = db.map(|b| per(b, "bias")).transpose()?;
    let spatial = x.len().checked_div(n * c).unwrap_or(0);
    let (xs, us) = (flat(x), flat(dx));
    let mut out = vec![0.0; xs.len()];
    for ch in 0..c {
        let inv = 1.0 / (v[ch] + eps).sqrt();
        let (scale, dscale) = ws.as_ref().map_or((1.0, 0.0), |(w, dw)| (w[ch], dw[ch]));
        let shift = bs.as_ref().map_or(0.0, |b| b[ch]);
        for img in 0..n {
            let base = (img * c + ch) * spatial;
            for k in base..base + spatial {
                let centred = xs[k] - m[ch];
                let dnorm = (us[k] - dm[ch]) * inv - 0.5 * centred * inv * inv * inv * dv[ch];
                out[k] = dnorm * scale + centred * inv * dscale + shift;
            }
        }
    }
    shaped(out, x.shape())
}
