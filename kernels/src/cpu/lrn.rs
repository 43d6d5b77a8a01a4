//! Local response normalisation across channels (ONNX `LRN`, AlexNet): with the channel window
//! `W(c) = [c - floor((size-1)/2), c + ceil((size-1)/2)]` clipped to the channels,
//! `d_c = bias + alpha / size * sum_{j in W(c)} x_j^2` and `y_c = x_c * d_c^-beta`.
//! The forward kernel and both derivatives walk the same windows (`window`).

use crate::error::{KernelError, KernelResult};
use crate::real::Real;
use ndarray::{ArrayD, ArrayViewD, Axis};

/// LRN's attributes (ONNX's names and defaults live in the op table).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LrnParams {
    pub size: usize,
    pub alpha: f64,
    pub beta: f64,
    pub bias: f64,
}

/// The channels in `W(c)` for `channels` channels.
fn window(p: &LrnParams, c: usize, channels: usize) -> std::ops::Range<usize> {
    let lo = (p.size - 1) / 2;
    let hi = p.size - 1 - lo;
    c.saturating_sub(lo)..(c + hi + 1).min(channels)
}

fn check<T>(x: &ArrayViewD<T>, p: &LrnParams) -> KernelResult<()> {
    if x.ndim() < 2 {
        return Err(KernelError::shape(
            "lrn",
            format!("needs [N, C, ...], got shape {:?}", x.shape()),
        ));
    }
    if p.size == 0 {
        return Err(KernelError::argument("lrn", "size must be >= 1"));
    }
    Ok(())
}

/// `d_c` for every element (same shape as `x`).
fn denominators<T: Real>(x: &ArrayViewD<T>, p: &LrnParams) -> ArrayD<T> {
    let channels = x.shape()[1];
    let scale = T::from_f64(p.alpha / p.size as f64);
    let mut d = ArrayD::from_elem(x.raw_dim(), T::from_f64(p.bias));
    for (mut dn, xn) in d.axis_iter_mut(Axis(0)).zip(x.axis_iter(Axis(0))) {
        for c in 0..channels {
            let mut dc = dn.index_axis_mut(Axis(0), c);
            for j in window(p, c, channels) {
                let xj = xn.index_axis(Axis(0), j);
                dc.zip_mut_with(&xj, |o, &v| *o = *o + scale * v * v);
            }
        }
    }
    d
}

pub fn lrn<T: Real>(x: ArrayViewD<T>, p: &LrnParams) -> KernelResult<ArrayD<T>> {
    check(&x, p)?;
    let mut d = denominators(&x, p);
    let beta = T::from_f64(p.beta);
    d.zip_mut_with(&x, |o, &v| *o = v / o.powf(beta));
    Ok(d)
}

/// The gradient with respect to `x` given the output's gradient `g`:
/// `g_j d_j^-beta - 2 alpha beta / size * x_j * sum_{c: j in W(c)} g_c x_c d_c^(-beta-1)`.
pub fn lrn_backward(
    x: ArrayViewD<f64>,
    g: ArrayViewD<f64>,
    p: &LrnParams,
) -> KernelResult<ArrayD<f64>> {
    check(&x, p)?;
    let d = denominators(&x, p);
    let channels = x.shape()[1];
    // t_c = g_c x_c d_c^(-beta-1)
    let mut t = ArrayD::zeros(x.raw_dim());
    ndarray::Zip::from(&mut t)
        .and(&g)
        .and(&x)
        .and(&d)
        .for_each(|t, &g, &x, &d| *t = g * x * d.powf(-p.beta - 1.0));
    let k = 2.0 * p.alpha * p.beta / p.size as f64;
    let mut gx = ArrayD::zeros(x.raw_dim());
    ndarray::Zip::from(&mut gx)
        .and(&g)
        .and(&d)
        .for_each(|o, &g, &d| *o = g * d.powf(-p.beta));
    for n in 0..x.shape()[0] {
        for c in 0..channels {
            let tc = t.index_axis(Axis(0), n).index_axis(Axis(0), c).to_owned();
            for j in window(p, c, channels) {
                let xj = x.index_axis(Axis(0), n).index_axis(Axis(0), j).to_owned();
                let mut oj = gx.index_axis_mut(Axis(0), n);
                let mut oj = oj.index_axis_mut(Axis(0), j);
                ndarray::Zip::from(&mut oj)
                    .and(&xj)
                    .and(&tc)
                    .for_each(|o, &x, &t| *o -= k * x * t);
            }
        }
    }
    Ok(gx)
}

/// The tangent of the output along `u`:
/// `u_c d_c^-beta - 2 alpha beta / size * x_c d_c^(-beta-1) * sum_{j in W(c)} x_j u_j`.
pub fn lrn_jvp(x: ArrayViewD<f64>, u: ArrayViewD<f64>, p: &LrnParams) -> KernelResult<ArrayD<f64>> {
    check(&x, p)?;
    let d = denominators(&x, p);
    let channels = x.shape()[1];
    let k = 2.0 * p.alpha * p.beta / p.size as f64;
    let mut out = ArrayD::zeros(x.raw_dim());
    for n in 0..x.shape()[0] {
        for c in 0..channels {
            let mut s =
                ArrayD::<f64>::zeros(x.index_axis(Axis(0), n).index_axis(Axis(0), c).raw_dim());
            for j in window(p, c, channels) {
                let xj = x.index_axis(Axis(0), n);
                let uj = u.index_axis(Axis(0), n);
                ndarray::Zip::from(&mut s)
                    .and(&xj.index_axis(Axis(0), j))
                    .and(&uj.index_axis(Axis(0), j))
                    .for_each(|s, &x, &u| *s += x * u);
            }
            let mut o = out.index_axis_mut(Axis(0), n);
            let mut o = o.index_axis_mut(Axis(0), c);
            let xn = x.index_axis(Axis(0), n);
            let un = u.index_axis(Axis(0), n);
            let dn = d.index_axis(Axis(0), n);
            ndarray::Zip::from(&mut o)
                .and(&xn.index_axis(Axis(0), c))
                .and(&un.index_axis(Axis(0), c))
                .and(&dn.index_axis(Axis(0), c))
                .and(&s)
                .for_each(|o, &x, &u, &d, &s| {
                    *o = u * d.powf(-p.beta) - k * x * d.powf(-p.beta - 1.0) * s
                });
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::IxDyn;

    #[test]
    fn lrn_matches_the_onnx_formula_written_out() {
        // One pixel, three channels, size 2: W(0) = {0, 1}, W(1) = {1, 2}, W(2) = {2}.
        let x = ArrayD::from_shape_vec(IxDyn(&[1, 3, 1]), vec![1.0, 2.0, 3.0]).unwrap();
        let p = LrnParams {
            size: 2,
            alpha: 0.5,
            beta: 0.75,
            bias: 1.0,
        };
        let y = lrn(x.view(), &p).unwrap();
        let d = [
            1.0 + 0.25 * (1.0 + 4.0),
            1.0 + 0.25 * (4.0 + 9.0),
            1.0 + 0.25 * 9.0,
        ];
        for (c, &dc) in d.iter().enumerate() {
            let want = x[[0, c, 0]] / f64::powf(dc, 0.75);
            assert!((y[[0, c, 0]] - want).abs() < 1e-12, "{c}");
        }
        assert!(lrn(x.view(), &LrnParams { size: 0, ..p }).is_err());
    }
}
