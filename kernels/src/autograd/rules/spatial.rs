//! Backward rules of convolution and 2-D pooling, written as direct loops over the taps (the
//! reference semantics favours being obviously right over being fast).
//!
//! Max pooling sends each window's gradient to its first maximal tap in row-major window order
//! (the tap the forward kernel's running maximum settles on when values tie).

use super::{operand_mismatch, Grads, RuleError};
use crate::cpu::{Conv1dParams, Conv2dParams, Pool2dParams};
use ndarray::{Array4, ArrayD, Axis, Ix4};

type Plane4 = Array4<f64>;

fn four(op: &'static str, a: &ArrayD<f64>, what: &str) -> Result<Plane4, RuleError> {
    a.clone()
        .into_dimensionality::<Ix4>()
        .map_err(|_| operand_mismatch(op, format!("{what} must be 4-D, got {:?}", a.shape())))
}

/// The input position of tap `k` of output position `o`, if it is inside the input.
fn tap(
    o: usize,
    k: usize,
    stride: usize,
    dilation: usize,
    pad: usize,
    len: usize,
) -> Option<usize> {
    let i = (o * stride + k * dilation) as isize - pad as isize;
    (i >= 0 && (i as usize) < len).then_some(i as usize)
}

pub(super) fn conv2d(
    x: &ArrayD<f64>,
    w: &ArrayD<f64>,
    bias: bool,
    p: &Conv2dParams,
    g: &ArrayD<f64>,
) -> Result<Grads, RuleError> {
    const OP: &str = "conv2d";
    let (x4, w4, g4) = (
        four(OP, x, "input")?,
        four(OP, w, "weight")?,
        four(OP, g, "gradient")?,
    );
    let (n, _, h, wd) = x4.dim();
    let (o, cg, kh, kw) = w4.dim();
    let (_, _, ho, wo) = g4.dim();
    if p.groups == 0 || o % p.groups != 0 {
        return Err(operand_mismatch(
            OP,
            "groups must divide the output channels",
        ));
    }
    let og = o / p.groups;
    let mut gx = Plane4::zeros(x4.raw_dim());
    let mut gw = Plane4::zeros(w4.raw_dim());
    // im2col per image and group: cols[(ic, ki, kj), (oh, ow)] holds the input tap (0 in the
    // padding); then d w = g cols^T and d cols = w^T g (two matrix products), and d cols is
    // scatter-added back to the taps it was read from.
    let taps = cg * kh * kw;
    let positions = ho * wo;
    let tap_of = |ki: usize, kj: usize, oh: usize, ow: usize| {
        let ih = tap(oh, ki, p.stride[0], p.dilation[0], p.padding[0][0], h)?;
        let iw = tap(ow, kj, p.stride[1], p.dilation[1], p.padding[1][0], wd)?;
        Some((ih, iw))
    };
    for img in 0..n {
        for group in 0..p.groups {
            let mut cols = ndarray::Array2::<f64>::zeros((taps, positions));
            for ic in 0..cg {
                let xc = group * cg + ic;
                for ki in 0..kh {
                    for kj in 0..kw {
                        let r = (ic * kh + ki) * kw + kj;
                        for oh in 0..ho {
                            for ow in 0..wo {
                                if let Some((ih, iw)) = tap_of(ki, kj, oh, ow) {
                                    cols[[r, oh * wo + ow]] = x4[[img, xc, ih, iw]];
                                }
                            }
                        }
                    }
                }
            }
            let oc = group * og..(group + 1) * og;
            let g2 = g4
                .slice(ndarray::s![img, oc.clone(), .., ..])
                .to_shape((og, positions))
                .map_err(|e| operand_mismatch(OP, e.to_string()))?
                .into_owned();
            let w2 = w4
                .slice(ndarray::s![oc.clone(), .., .., ..])
                .to_shape((og, taps))
                .map_err(|e| operand_mismatch(OP, e.to_string()))?
                .into_owned();
            let dw = g2.dot(&cols.t());
            let mut gw_group = gw.slice_mut(ndarray::s![oc, .., .., ..]);
            for (dst, &v) in gw_group.iter_mut().zip(dw.iter()) {
                *dst += v;
            }
            let dcols = w2.t().dot(&g2);
            for ic in 0..cg {
                let xc = group * cg + ic;
                for ki in 0..kh {
                    for kj in 0..kw {
                        let r = (ic * kh + ki) * kw + kj;
                        for oh in 0..ho {
                            for ow in 0..wo {
                                if let Some((ih, iw)) = tap_of(ki, kj, oh, ow) {
                                    gx[[img, xc, ih, iw]] += dcols[[r, oh * wo + ow]];
                                }
                            }
                        }
                    }
                }
            }
        }
    }
    let mut grads = vec![Some(gx.into_dyn()), Some(gw.into_dyn())];
    if bias {
        grads.push(Some(
            g4.sum_axis(Axis(3))
                .sum_axis(Axis(2))
                .sum_axis(Axis(0))
                .into_dyn(),
        ));
    }
    Ok(grads)
}

/// conv1d is conv2d with a height of 1, as the forward kernel computes it.
pub(super) fn conv1d(
    x: &ArrayD<f64>,
    w: &ArrayD<f64>,
    bias: bool,
    p: &Conv1dParams,
    g: &ArrayD<f64>,
) -> Result<Grads, RuleError> {
    if x.ndim() != 3 || w.ndim() != 3 || g.ndim() != 3 {
        return Err(operand_mismatch(
            "conv1d",
            "input must be [N, C, L] and weight [O, C/groups, k]",
        ));
    }
    let p2 = Conv2dParams {
        stride: [1, p.stride],
        padding: [[0, 0], p.padding],
        dilation: [1, p.dilation],
        groups: p.groups,
    };
    let lift = |a: &ArrayD<f64>| a.clone().insert_axis(Axis(2));
    let mut grads = conv2d(&lift(x), &lift(w), bias, &p2, &lift(g))?;
    for gr in grads.iter_mut().take(2) {
        *gr = gr.take().map(|a| a.remove_axis(Axis(2)));
    }
    Ok(grads)
}

/// Runs a pooling rule on `[N, C, H, W]`, lifting an unbatched `[C, H, W]` input the way the
/// forward kernel does.
fn batched(
    op: &'static str,
    x: &ArrayD<f64>,
    g: &ArrayD<f64>,
    rule: impl FnOnce(&Plane4, &Plane4) -> Plane4,
) -> Result<Grads, RuleError> {
    let unbatched = x.ndim() == 3;
    let lift = |a: &ArrayD<f64>| {
        if unbatched {
            a.clone().insert_axis(Axis(0))
        } else {
            a.clone()
        }
    };
    let (x4, g4) = (
        four(op, &lift(x), "input")?,
        four(op, &lift(g), "gradient")?,
    );
    let gx = rule(&x4, &g4).into_dyn();
    Ok(vec![Some(if unbatched {
        gx.remove_axis(Axis(0))
    } else {
        gx
    })])
}

pub(super) fn max_pool2d(
    x: &ArrayD<f64>,
    y: &ArrayD<f64>,
    p: &Pool2dParams,
    g: &ArrayD<f64>,
) -> Result<Grads, RuleError> {
    const OP: &str = "max_pool2d";
    let y4 = four(
        OP,
        &if x.ndim() == 3 {
            y.clone().insert_axis(Axis(0))
        } else {
            y.clone()
        },
        "output",
    )?;
    batched(OP, x, g, |x4, g4| {
        let (n, c, h, w) = x4.dim();
        let (_, _, ho, wo) = g4.dim();
        let mut gx = Plane4::zeros(x4.raw_dim());
        for img in 0..n {
            for ch in 0..c {
                for oh in 0..ho {
                    for ow in 0..wo {
                        let m = y4[[img, ch, oh, ow]];
                        let winner = (0..p.kernel[0])
                            .filter_map(|ki| {
                                tap(oh, ki, p.stride[0], p.dilation[0], p.padding[0][0], h)
                            })
                            .flat_map(|ih| {
                                (0..p.kernel[1])
                                    .filter_map(move |kj| {
                                        tap(ow, kj, p.stride[1], p.dilation[1], p.padding[1][0], w)
                                    })
                                    .map(move |iw| (ih, iw))
                            })
                            .find(|&(ih, iw)| {
                                let v = x4[[img, ch, ih, iw]];
                                v == m || (v.is_nan() && m.is_nan())
                            });
                        if let Some((ih, iw)) = winner {
                            gx[[img, ch, ih, iw]] += g4[[img, ch, oh, ow]];
                        }
                    }
                }
            }
        }
        gx
    })
}

pub(super) fn avg_pool2d(
    x: &ArrayD<f64>,
    p: &Pool2dParams,
    g: &ArrayD<f64>,
) -> Result<Grads, RuleError> {
    const OP: &str = "avg_pool2d";
    if p.dilation != [1, 1] {
        return Err(operand_mismatch(OP, "average pooling has no dilation"));
    }
    batched(OP, x, g, |x4, g4| {
        let (n, c, h, w) = x4.dim();
        let (_, _, ho, wo) = g4.dim();
        let mut gx = Plane4::zeros(x4.raw_dim());
        for oh in 0..ho {
            for ow in 0..wo {
                let rows: Vec<usize> = (0..p.kernel[0])
                    .filter_map(|ki| tap(oh, ki, p.stride[0], 1, p.padding[0][0], h))
                    .collect();
                let cols: Vec<usize> = (0..p.kernel[1])
                    .filter_map(|kj| tap(ow, kj, p.stride[1], 1, p.padding[1][0], w))
                    .collect();
                let divisor = if p.count_include_pad {
                    // The window counted with padding stops at the end of the end padding.
                    let span = |o: usize, d: usize, len: usize| {
                        let start = (o * p.stride[d]) as isize - p.padding[d][0] as isize;
                        let end =
                            (start + p.kernel[d] as isize).min((len + p.padding[d][1]) as isize);
                        (end - start).max(0) as usize
                    };
                    span(oh, 0, h) * span(ow, 1, w)
                } else {
                    rows.len() * cols.len()
                }
                .max(1) as f64;
                for img in 0..n {
                    for ch in 0..c {
                        let share = g4[[img, ch, oh, ow]] / divisor;
                        for &ih in &rows {
                            for &iw in &cols {
                                gx[[img, ch, ih, iw]] += share;
                            }
                        }
                    }
                }
            }
        }
        gx
    })
}

/// Forward mode of max pooling: each window's tangent is its first maximal tap's (the tap the
/// backward rule sends the gradient to).
pub(super) fn max_pool2d_jvp(
    x: &ArrayD<f64>,
    y: &ArrayD<f64>,
    p: &Pool2dParams,
    u: &ArrayD<f64>,
) -> Result<ArrayD<f64>, RuleError> {
    const OP: &str = "max_pool2d";
    let unbatched = x.ndim() == 3;
    let lift = |a: &ArrayD<f64>| {
        if unbatched {
            a.clone().insert_axis(Axis(0))
        } else {
            a.clone()
        }
    };
    let (x4, y4, u4) = (
        four(OP, &lift(x), "input")?,
        four(OP, &lift(y), "output")?,
        four(OP, &lift(u), "tangent")?,
    );
    let (n, c, h, w) = x4.dim();
    let (_, _, ho, wo) = y4.dim();
    let mut out = Plane4::zeros(y4.raw_dim());
    for img in 0..n {
        for ch in 0..c {
            for oh in 0..ho {
                for ow in 0..wo {
                    let m = y4[[img, ch, oh, ow]];
                    let winner = (0..p.kernel[0])
                        .filter_map(|ki| {
                            tap(oh, ki, p.stride[0], p.dilation[0], p.padding[0][0], h)
                        })
                        .flat_map(|ih| {
                            (0..p.kernel[1])
                                .filter_map(move |kj| {
                                    tap(ow, kj, p.stride[1], p.dilation[1], p.padding[1][0], w)
                                })
                                .map(move |iw| (ih, iw))
                        })
                        .find(|&(ih, iw)| {
                            let v = x4[[img, ch, ih, iw]];
                            v == m || (v.is_nan() && m.is_nan())
                        });
                    if let Some((ih, iw)) = winner {
                        out[[img, ch, oh, ow]] = u4[[img, ch, ih, iw]];
                    }
                }
            }
        }
    }
    let out = out.into_dyn();
    Ok(if unbatched {
        out.remove_axis(Axis(0))
    } else {
        out
    })
}

/// How many max-pooling windows have two taps within `rel * max(1, |max|)` of their maximum.
pub(super) fn max_pool2d_ties(
    x: &ArrayD<f64>,
    y: &ArrayD<f64>,
    p: &Pool2dParams,
    rel: f64,
) -> Result<usize, RuleError> {
    const OP: &str = "max_pool2d";
    let lift = |a: &ArrayD<f64>| {
        if x.ndim() == 3 {
            a.clone().insert_axis(Axis(0))
        } else {
            a.clone()
        }
    };
    let (x4, y4) = (four(OP, &lift(x), "input")?, four(OP, &lift(y), "output")?);
    let (n, c, h, w) = x4.dim();
    let (_, _, ho, wo) = y4.dim();
    let mut ties = 0;
    for img in 0..n {
        for ch in 0..c {
            for oh in 0..ho {
                for ow in 0..wo {
                    let m = y4[[img, ch, oh, ow]];
                    let margin = rel * m.abs().max(1.0);
                    let close = (0..p.kernel[0])
                        .filter_map(|ki| {
                            tap(oh, ki, p.stride[0], p.dilation[0], p.padding[0][0], h)
                        })
                        .flat_map(|ih| {
                            (0..p.kernel[1])
                                .filter_map(move |kj| {
                                    tap(ow, kj, p.stride[1], p.dilation[1], p.padding[1][0], w)
                                })
                                .map(move |iw| (ih, iw))
                        })
                        .filter(|&(ih, iw)| (m - x4[[img, ch, ih, iw]]).abs() <= margin)
                        .count();
                    if close >= 2 {
                        ties += 1;
                    }
                }
            }
        }
    }
    Ok(ties)
}

/// The tangent hull of max pooling over a box, for the Jacobian enclosure: a tap can be a
/// window's maximum somewhere in the box when its upper bound reaches the window's largest lower
/// bound (`ylo`), and the tangent of the window lies in the hull of those taps' tangents (the
/// generalized derivative of a max is the convex hull of its active pieces'). `tlo`/`thi` carry a
/// leading direction axis.
pub(crate) fn max_pool2d_hull(
    xhi: &ArrayD<f64>,
    ylo: &ArrayD<f64>,
    p: &Pool2dParams,
    tlo: &ArrayD<f64>,
    thi: &ArrayD<f64>,
) -> Result<(ArrayD<f64>, ArrayD<f64>), RuleError> {
    const OP: &str = "max_pool2d";
    let unbatched = xhi.ndim() == 3;
    let lift = |a: &ArrayD<f64>, at: usize| {
        if unbatched {
            a.clone().insert_axis(Axis(at))
        } else {
            a.clone()
        }
    };
    let (xhi4, ylo4) = (
        four(OP, &lift(xhi, 0), "input")?,
        four(OP, &lift(ylo, 0), "output")?,
    );
    let (tlo, thi) = (lift(tlo, 1), lift(thi, 1));
    let dirs = tlo.shape().first().copied().unwrap_or(0);
    let (n, c, h, w) = xhi4.dim();
    let (_, _, ho, wo) = ylo4.dim();
    let shape = [dirs, n, c, ho, wo];
    let mut olo = ndarray::Array5::<f64>::zeros(shape);
    let mut ohi = ndarray::Array5::<f64>::zeros(shape);
    let tlo5 = tlo
        .into_dimensionality::<ndarray::Ix5>()
        .map_err(|_| operand_mismatch(OP, "tangent must be [dirs, N, C, H, W]"))?;
    let thi5 = thi
        .into_dimensionality::<ndarray::Ix5>()
        .map_err(|_| operand_mismatch(OP, "tangent must be [dirs, N, C, H, W]"))?;
    for img in 0..n {
        for ch in 0..c {
            for oh in 0..ho {
                for ow in 0..wo {
                    let floor = ylo4[[img, ch, oh, ow]];
                    let cands: Vec<(usize, usize)> = (0..p.kernel[0])
                        .filter_map(|ki| {
                            tap(oh, ki, p.stride[0], p.dilation[0], p.padding[0][0], h)
                        })
                        .flat_map(|ih| {
                            (0..p.kernel[1])
                                .filter_map(move |kj| {
                                    tap(ow, kj, p.stride[1], p.dilation[1], p.padding[1][0], w)
                                })
                                .map(move |iw| (ih, iw))
                        })
                        .filter(|&(ih, iw)| xhi4[[img, ch, ih, iw]] >= floor)
                        .collect();
                    for d in 0..dirs {
                        let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
                        for &(ih, iw) in &cands {
                            lo = lo.min(tlo5[[d, img, ch, ih, iw]]);
                            hi = hi.max(thi5[[d, img, ch, ih, iw]]);
                        }
                        if cands.is_empty() {
                            (lo, hi) = (0.0, 0.0);
                        }
                        olo[[d, img, ch, oh, ow]] = lo;
                        ohi[[d, img, ch, oh, ow]] = hi;
                    }
                }
            }
        }
    }
    let (olo, ohi) = (olo.into_dyn(), ohi.into_dyn());
    Ok(if unbatched {
        (olo.remove_axis(Axis(1)), ohi.remove_axis(Axis(1)))
    } else {
        (olo, ohi)
    })
}
