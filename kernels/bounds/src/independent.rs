//! An independent certificate checker.
//!
//! [`check_independently`] re-derives every leaf's bound from the certificate and the network
//! alone. It shares no search or bound code with the producer: not `crown.rs` (IBP, CROWN),
//! `relax.rs` (relaxations), `alpha.rs`, `f32_noise.rs`, `rounding.rs` nor `bab.rs` (`CaseSpec`,
//! margins). It keeps its own small evaluator on purpose, and must stay independent (issue 13
//! moves tl-bounds onto the kernels' executors; this module is the deliberate exception): a bug
//! in the producer's bound code can then not also hide in the check.
//!
//! What it does share, and so trusts: the lowered network ([`BoundNet`], from `lower.rs`), the
//! parsed property ([`Property`]) and the certificate's JSON schema.
//!
//! Per leaf it rebuilds the domain from the split tree, computes interval bounds of every layer
//! (outward rounded), tightens the inputs of nonlinear layers by its own backward linear bound
//! (one row at a time), and bounds each property row the same way, using the certificate's
//! relu slopes when it carries them (checked to lie in range; any slopes in range are sound).
//! Every floating-point step is charged a generous a-priori error (twice Higham's `gamma`), and
//! final values move outward. Its relaxations are simple and sound: triangle lines for relu and
//! leaky relu, lines of the least slope on the box for sigmoid and tanh and McCormick planes for
//! products (looser than the producer's: a leaf the producer refuted with tangent lines may then
//! fail here, which is reported, never hidden),
//! `x_k <= y <= max u` for max-pool. With `f32_executor`, each layer's f32 rounding is bounded by
//! its own copy of the model in docs/bounds.md and charged as noise; relu splits are then
//! refused (the split condition would have to say which semantics it fixes), input splits work.

use rayon::prelude::*;

use crate::certificate::{CertNode, Certificate, CheckReport};
use crate::error::{codes, BoundsError, Result};
use crate::independent_smooth::{
    product_interval, softmax_f32_noise, softmax_interval, unary_f32_noise, unary_interval,
};
use crate::net::{BoundNet, ConcatPart, Layer};
use crate::vnnlib::{Case, Property};

const U: f64 = f64::EPSILON / 2.0;
const U_F32: f64 = f32::EPSILON as f64 / 2.0;

/// Twice `n u / (1 - n u)` for f64 (n + 2 roundings), rounded up generously.
fn g(n: usize) -> f64 {
    let nu = (n as f64 + 2.0) * U;
    if nu >= 0.25 {
        return f64::INFINITY;
    }
    2.0 * nu / (1.0 - nu) * 1.01
}

fn g32(n: usize) -> f64 {
    let nu = n as f64 * U_F32;
    if nu >= 0.25 {
        return f64::INFINITY;
    }
    nu / (1.0 - nu) * 1.01
}

fn reject(msg: impl Into<String>) -> BoundsError {
    BoundsError::new(codes::CERT_REJECTED, msg)
}

/// A relu-type split of one leaf's path.
#[derive(Clone, Copy)]
struct Fix {
    layer: usize,
    neuron: usize,
    active: bool,
}

/// Bounds of every layer of one leaf (empty for layers the output does not depend on).
struct Leaf<'n> {
    net: &'n BoundNet,
    lo: Vec<Vec<f64>>,
    hi: Vec<Vec<f64>>,
    /// max(|lo|, |hi|) per layer.
    mag: Vec<Vec<f64>>,
    /// f32 executor noise per layer (empty without the f32 semantics).
    noise: Vec<Vec<f64>>,
    /// The largest magnitude anywhere (for the underflow pad).
    big: f64,
}

fn live(net: &BoundNet) -> Vec<bool> {
    let mut live = vec![false; net.nodes.len()];
    live[net.output] = true;
    for i in (0..net.nodes.len()).rev() {
        if live[i] {
            for p in parents(&net.nodes[i].layer) {
                live[p] = true;
            }
        }
    }
    live
}

fn parents(l: &Layer) -> Vec<usize> {
    match l {
        Layer::Input => vec![],
        Layer::Add { a, b } | Layer::Sub { a, b } => vec![*a, *b],
        Layer::Affine { src, .. }
        | Layer::Scale { src, .. }
        | Layer::Gather { src, .. }
        | Layer::Relu { src }
        | Layer::LeakyRelu { src, .. }
        | Layer::Sigmoid { src }
        | Layer::Tanh { src }
        | Layer::MaxPool { src, .. }
        | Layer::Unary { src, .. }
        | Layer::Softmax { src, .. } => vec![*src],
        Layer::Mul { a, b } => vec![*a, *b],
        Layer::Concat { parts } => parts
            .iter()
            .filter_map(|p| match p {
                ConcatPart::Layer(k) => Some(*k),
                ConcatPart::Const(_) => None,
            })
            .collect(),
    }
}

/// A concat part's length, from the net's own layer sizes.
fn part_len(net: &BoundNet, p: &ConcatPart) -> usize {
    match p {
        ConcatPart::Layer(k) => net.nodes[*k].size,
        ConcatPart::Const(c) => c.len(),
    }
}

/// `f` of sigmoid / tanh moved `k` ulps outward (libm's exp and tanh are within 1 ulp; the
/// sigmoid's three further operations add at most 3 roundings).
fn s_shaped(sigmoid: bool, x: f64, upward: bool) -> f64 {
    let (y, k) = if sigmoid {
        (1.0 / (1.0 + (-x).exp()), 6)
    } else {
        (x.tanh(), 3)
    };
    let mut y = y;
    for _ in 0..k {
        y = if upward { y.next_up() } else { y.next_down() };
    }
    if sigmoid {
        y.clamp(0.0, 1.0)
    } else {
        y.clamp(-1.0, 1.0)
    }
}

/// A lower bound of sigmoid' or tanh' on `[l, u]`: both derivatives are even and decrease in
/// `|x|`, so the least value is at an end. Computed as `s(x) s(-x)` and `(1 - t)(1 + t)`, then
/// lowered by a relative 1e-6 and an absolute 4e-15 (the f64 libm and the cancellation in
/// `1 - t` are off by a few ulps of 1); 0 for an unbounded box.
fn least_slope(sigmoid: bool, l: f64, u: f64) -> f64 {
    if !(l.is_finite() && u.is_finite()) {
        return 0.0;
    }
    let slope = |x: f64| {
        if sigmoid {
            (1.0 / (1.0 + (-x).exp())) * (1.0 / (1.0 + x.exp()))
        } else {
            let t = x.tanh();
            (1.0 - t) * (1.0 + t)
        }
    };
    let d = slope(l).min(slope(u)) * (1.0 - 1e-6) - 4e-15;
    if d.is_nan() {
        0.0
    } else {
        d.max(0.0)
    }
}

impl<'n> Leaf<'n> {
    /// Bounds of every live layer on `lower..upper` under `fixes`; `None` when they are empty.
    fn new(
        net: &'n BoundNet,
        lower: &[f64],
        upper: &[f64],
        fixes: &[Fix],
        f32: bool,
    ) -> Result<Option<Leaf<'n>>> {
        let n = net.nodes.len();
        let live = live(net);
        // Layers read by a nonlinearity get linear bounds per neuron; when every reader is a
        // relu, only the neurons the interval leaves unstable.
        let mut needs = vec![false; n];
        let mut relu_only = vec![true; n];
        for node in &net.nodes {
            let relu = matches!(node.layer, Layer::Relu { .. } | Layer::LeakyRelu { .. });
            let nonlinear = relu
                || matches!(
                    node.layer,
                    Layer::Sigmoid { .. }
                        | Layer::Tanh { .. }
                        | Layer::MaxPool { .. }
                        | Layer::Unary { .. }
                        | Layer::Mul { .. }
                        | Layer::Softmax { .. }
                );
            for p in parents(&node.layer) {
                needs[p] |= nonlinear;
                relu_only[p] &= relu;
            }
        }
        let mut leaf = Leaf {
            net,
            lo: Vec::with_capacity(n),
            hi: Vec::with_capacity(n),
            mag: Vec::with_capacity(n),
            noise: Vec::with_capacity(n),
            big: 0.0,
        };
        for i in 0..n {
            if !live[i] {
                leaf.lo.push(Vec::new());
                leaf.hi.push(Vec::new());
                leaf.mag.push(Vec::new());
                leaf.noise.push(Vec::new());
                continue;
            }
            let noise = if f32 {
                leaf.f32_noise(i, lower, upper)
            } else {
                Vec::new()
            };
            let (mut l, mut h) = leaf.interval(i, lower, upper)?;
            for (j, e) in noise.iter().enumerate() {
                l[j] = (l[j] - e).next_down();
                h[j] = (h[j] + e).next_up();
            }
            leaf.noise.push(noise);
            // The layer's own magnitude is needed by the backward pass below only for earlier
            // layers; push the interval first, tighten after.
            leaf.mag.push(
                l.iter()
                    .zip(&h)
                    .map(|(a, b)| a.abs().max(b.abs()))
                    .collect(),
            );
            leaf.lo.push(l);
            leaf.hi.push(h);
            if needs[i] && i != 0 {
                let size = net.nodes[i].size;
                for j in 0..size {
                    let (l, h) = (leaf.lo[i][j], leaf.hi[i][j]);
                    if relu_only[i] && !(l < 0.0 && h > 0.0) {
                        continue;
                    }
                    let mut e = vec![0.0; size];
                    e[j] = 1.0;
                    let cl = leaf.row_lower(i, e.clone(), None, lower, upper)?;
                    e[j] = -1.0;
                    let cu = -leaf.row_lower(i, e, None, lower, upper)?;
                    leaf.lo[i][j] = l.max(cl);
                    leaf.hi[i][j] = h.min(cu);
                }
            }
            for f in fixes {
                if parents(&net.nodes[f.layer].layer).first() == Some(&i) {
                    let (l, h) = (&mut leaf.lo[i][f.neuron], &mut leaf.hi[i][f.neuron]);
                    if f.active {
                        *l = l.max(0.0);
                    } else {
                        *h = h.min(0.0);
                    }
                }
            }
            if leaf.lo[i].iter().zip(&leaf.hi[i]).any(|(l, h)| l > h) {
                return Ok(None);
            }
            leaf.mag[i] = leaf.lo[i]
                .iter()
                .zip(&leaf.hi[i])
                .map(|(a, b)| a.abs().max(b.abs()))
                .collect();
            leaf.big = leaf.mag[i].iter().fold(leaf.big, |m, &v| m.max(v));
        }
        Ok(Some(leaf))
    }

    /// Interval bounds of layer `i` from its parents' (outward rounded).
    fn interval(&self, i: usize, lower: &[f64], upper: &[f64]) -> Result<(Vec<f64>, Vec<f64>)> {
        let dn = |v: f64, e: f64| (v - e).next_down();
        let upw = |v: f64, e: f64| (v + e).next_up();
        Ok(match &self.net.nodes[i].layer {
            Layer::Unary { src, f } => {
                let (l, h) = (&self.lo[*src], &self.hi[*src]);
                let mut lo = Vec::with_capacity(l.len());
                let mut hi = Vec::with_capacity(l.len());
                for j in 0..l.len() {
                    let (a, b) = unary_interval(*f, l[j], h[j]).map_err(|e| {
                        reject(format!("{}: {}", self.net.nodes[i].name, e.message))
                    })?;
                    lo.push(a);
                    hi.push(b);
                }
                (lo, hi)
            }
            Layer::Mul { a, b } if a == b => (0..self.lo[*a].len())
                .map(|j| {
                    let (l, h) = (self.lo[*a][j], self.hi[*a][j]);
                    let (lo, hi) = product_interval(l, h, l, h);
                    if l <= 0.0 && h >= 0.0 {
                        (0.0, hi)
                    } else {
                        ((l * l).min(h * h).next_down().max(0.0).max(lo), hi)
                    }
                })
                .unzip(),
            Layer::Mul { a, b } => (0..self.lo[*a].len())
                .map(|j| {
                    product_interval(
                        self.lo[*a][j],
                        self.hi[*a][j],
                        self.lo[*b][j],
                        self.hi[*b][j],
                    )
                })
                .unzip(),
            Layer::Softmax { src, groups } => {
                softmax_interval(&self.lo[*src], &self.hi[*src], groups)?
            }
            Layer::Input => (lower.to_vec(), upper.to_vec()),
            Layer::Affine {
                src,
                w,
                b,
                coef_ulps,
                ..
            } => {
                let (l, h) = (&self.lo[*src], &self.hi[*src]);
                let gg = g(w.ncols()) + 4.0 * *coef_ulps as f64 * U;
                let mut lo = Vec::with_capacity(w.nrows());
                let mut hi = Vec::with_capacity(w.nrows());
                for r in 0..w.nrows() {
                    let (mut a, mut c, mut m) = (b[r], b[r], b[r].abs());
                    for (k, &wk) in w.row(r).iter().enumerate() {
                        let (p, q) = (wk * l[k], wk * h[k]);
                        a += p.min(q);
                        c += p.max(q);
                        m += p.abs().max(q.abs());
                    }
                    lo.push(dn(a, gg * m));
                    hi.push(upw(c, gg * m));
                }
                (lo, hi)
            }
            Layer::Scale {
                src,
                scale,
                shift,
                coef_ulps,
                shift_err,
                ..
            } => {
                let (l, h) = (&self.lo[*src], &self.hi[*src]);
                let gg = g(2) + 4.0 * *coef_ulps as f64 * U;
                (0..scale.len())
                    .map(|j| {
                        let (p, q) = (scale[j] * l[j], scale[j] * h[j]);
                        let e = gg * (p.abs().max(q.abs()) + shift[j].abs()) + shift_err[j];
                        (dn(p.min(q) + shift[j], e), upw(p.max(q) + shift[j], e))
                    })
                    .unzip()
            }
            Layer::Add { a, b } => (0..self.lo[*a].len())
                .map(|j| {
                    (
                        (self.lo[*a][j] + self.lo[*b][j]).next_down(),
                        (self.hi[*a][j] + self.hi[*b][j]).next_up(),
                    )
                })
                .unzip(),
            Layer::Sub { a, b } => (0..self.lo[*a].len())
                .map(|j| {
                    (
                        (self.lo[*a][j] - self.hi[*b][j]).next_down(),
                        (self.hi[*a][j] - self.lo[*b][j]).next_up(),
                    )
                })
                .unzip(),
            Layer::Gather { src, index } => (
                index.iter().map(|&k| self.lo[*src][k]).collect(),
                index.iter().map(|&k| self.hi[*src][k]).collect(),
            ),
            Layer::Concat { parts } => {
                let (mut lo, mut hi) = (Vec::new(), Vec::new());
                for p in parts {
                    match p {
                        ConcatPart::Layer(k) => {
                            lo.extend_from_slice(&self.lo[*k]);
                            hi.extend_from_slice(&self.hi[*k]);
                        }
                        ConcatPart::Const(c) => {
                            lo.extend(c.iter());
                            hi.extend(c.iter());
                        }
                    }
                }
                (lo, hi)
            }
            Layer::Relu { src } => (
                self.lo[*src].iter().map(|v| v.max(0.0)).collect(),
                self.hi[*src].iter().map(|v| v.max(0.0)).collect(),
            ),
            Layer::LeakyRelu { src, alpha } => {
                let f = |v: f64| if v >= 0.0 { v } else { alpha * v };
                (
                    self.lo[*src].iter().map(|&v| f(v).next_down()).collect(),
                    self.hi[*src].iter().map(|&v| f(v).next_up()).collect(),
                )
            }
            Layer::Sigmoid { src } | Layer::Tanh { src } => {
                let sig = matches!(self.net.nodes[i].layer, Layer::Sigmoid { .. });
                (
                    self.lo[*src]
                        .iter()
                        .map(|&v| s_shaped(sig, v, false))
                        .collect(),
                    self.hi[*src]
                        .iter()
                        .map(|&v| s_shaped(sig, v, true))
                        .collect(),
                )
            }
            Layer::MaxPool { src, windows } => windows
                .iter()
                .map(|w| {
                    let l = w
                        .iter()
                        .map(|&k| self.lo[*src][k])
                        .fold(f64::NEG_INFINITY, f64::max);
                    let h = w
                        .iter()
                        .map(|&k| self.hi[*src][k])
                        .fold(f64::NEG_INFINITY, f64::max);
                    (l, h)
                })
                .unzip(),
        })
    }

    /// The f32 executor's rounding error at layer `i` (the model of docs/bounds.md, own copy).
    fn f32_noise(&self, i: usize, lower: &[f64], upper: &[f64]) -> Vec<f64> {
        let bump = 1.0 + 1e-6;
        let node = &self.net.nodes[i];
        let e: Vec<f64> = match &node.layer {
            Layer::Unary { src, f } => (0..node.size)
                .map(|j| {
                    let (l, h) = (self.lo[*src][j], self.hi[*src][j]);
                    // An undefined input is refused by `interval` right after.
                    let my = unary_interval(*f, l, h)
                        .map_or(f64::INFINITY, |(a, b)| a.abs().max(b.abs()));
                    unary_f32_noise(*f, self.mag[*src][j], my)
                })
                .collect(),
            Layer::Mul { a, b } => (0..node.size)
                .map(|j| 2.0 * U_F32 * self.mag[*a][j] * self.mag[*b][j] + 4.0 * f64::from_bits(1))
                .collect(),
            Layer::Softmax { src, groups } => {
                let mut e = vec![0.0; node.size];
                for grp in groups {
                    let top = grp
                        .iter()
                        .map(|&j| self.hi[*src][j])
                        .fold(f64::NEG_INFINITY, f64::max);
                    let bottom = grp
                        .iter()
                        .map(|&j| self.lo[*src][j])
                        .fold(f64::INFINITY, f64::min);
                    let noise = softmax_f32_noise((top - bottom).max(0.0), grp.len());
                    for &j in grp {
                        e[j] = noise;
                    }
                }
                e
            }
            Layer::Input => lower
                .iter()
                .zip(upper)
                .map(|(l, u)| l.abs().max(u.abs()) * U_F32)
                .collect(),
            Layer::Affine { src, w, b, .. } => {
                let m = &self.mag[*src];
                let gg = g32(w.ncols() + 2);
                (0..w.nrows())
                    .map(|r| {
                        let s: f64 = w.row(r).iter().zip(m).map(|(a, b)| a.abs() * b).sum();
                        (s + b[r].abs()) * gg
                    })
                    .collect()
            }
            // Batch norm's shift is folded by the executor in f32 and may cancel: its rounding
            // scales with |b| + |mean s| (`f32_fold_terms`), over 12 roundings.
            Layer::Scale {
                src,
                scale,
                shift,
                f32_fold_terms,
                ..
            } => (0..scale.len())
                .map(|j| {
                    let scaled = scale[j].abs() * self.mag[*src][j];
                    if f32_fold_terms[j] != 0.0 {
                        (scaled + f32_fold_terms[j]) * g32(12)
                    } else {
                        (scaled + shift[j].abs()) * g32(4)
                    }
                })
                .collect(),
            Layer::Add { a, b } | Layer::Sub { a, b } => (0..node.size)
                .map(|j| (self.mag[*a][j] + self.mag[*b][j]) * U_F32)
                .collect(),
            Layer::LeakyRelu { src, alpha } => self.mag[*src]
                .iter()
                .map(|m| m * alpha.abs() * g32(2))
                .collect(),
            Layer::Sigmoid { .. } | Layer::Tanh { .. } => vec![8.0 * U_F32; node.size],
            Layer::Relu { .. } | Layer::MaxPool { .. } | Layer::Gather { .. } => {
                vec![0.0; node.size]
            }
            // Data movement; a constant part is the executor's f32 copy of it.
            Layer::Concat { parts } => parts
                .iter()
                .flat_map(|p| match p {
                    ConcatPart::Layer(k) => vec![0.0; self.net.nodes[*k].size],
                    ConcatPart::Const(c) => c
                        .iter()
                        .map(|v| v.abs() * g32(4) + 4.0 * f64::from_bits(1))
                        .collect(),
                })
                .collect(),
        };
        e.into_iter().map(|v| v * bump).collect()
    }

    /// A sound lower bound of `c . z_target` over the leaf (one backward pass, one row).
    /// `slopes`: relu lower slopes per layer for this row (alpha-CROWN), checked by the caller.
    fn row_lower(
        &self,
        target: usize,
        c: Vec<f64>,
        slopes: Option<&[(usize, Vec<f64>)]>,
        lower: &[f64],
        upper: &[f64],
    ) -> Result<f64> {
        let net = self.net;
        let mut pending: Vec<Option<Vec<f64>>> = vec![None; target + 1];
        pending[target] = Some(c);
        let mut bias = 0.0f64;
        // Magnitudes of the terms summed into `bias`, their count, and the error charged so far.
        let (mut bias_mag, mut bias_terms, mut slack, mut ops) = (0.0f64, 0usize, 0.0f64, 0usize);
        let mut a_in: Option<Vec<f64>> = None;
        let merge =
            |slot: &mut Option<Vec<f64>>, a: Vec<f64>, m: &[f64], slack: &mut f64| match slot {
                Some(p) => {
                    for k in 0..p.len() {
                        *slack += g(1) * (p[k].abs() + a[k].abs()) * m[k];
                        p[k] += a[k];
                    }
                }
                None => *slot = Some(a),
            };
        for i in (0..=target).rev() {
            let Some(a) = pending[i].take() else {
                continue;
            };
            if let Some(e) = self.noise.get(i).filter(|e| !e.is_empty()) {
                slack += a.iter().zip(e).map(|(x, y)| x.abs() * y).sum::<f64>();
            }
            ops += a.len() + 2;
            match &net.nodes[i].layer {
                // McCormick planes of `y = p q` on the box `[lp, up] x [lq, uq]`:
                // y >= lq p + lp q - lp lq and y >= uq p + up q - up uq (below),
                // y <= lq p + up q - up lq and y <= uq p + lp q - lp uq (above); each follows
                // from a product of two non-negative factors, e.g. (p - lp)(q - lq) >= 0. Per
                // element, the plane is chosen by its value at the box centre.
                Layer::Mul { a: pa, b: pb } => {
                    let (lp, up, mp) = (&self.lo[*pa], &self.hi[*pa], &self.mag[*pa]);
                    let (lq, uq, mq) = (&self.lo[*pb], &self.hi[*pb], &self.mag[*pb]);
                    let (mut na, mut nb) = (vec![0.0f64; a.len()], vec![0.0f64; a.len()]);
                    for j in 0..a.len() {
                        if a[j] == 0.0 {
                            continue;
                        }
                        let (l1, u1, l2, u2) = (lp[j], up[j], lq[j], uq[j]);
                        if ![l1, u1, l2, u2].iter().all(|v| v.is_finite()) {
                            return Ok(f64::NEG_INFINITY);
                        }
                        // Planes (slope in p, slope in q, corner p, corner q): y ~ sq p + sp q - cp cq.
                        let planes = if a[j] > 0.0 {
                            [(l2, l1, l1, l2), (u2, u1, u1, u2)]
                        } else {
                            [(l2, u1, u1, l2), (u2, l1, l1, u2)]
                        };
                        let (cp, cq) = ((l1 + u1) / 2.0, (l2 + u2) / 2.0);
                        let at =
                            |(sq, sp, xp, xq): (f64, f64, f64, f64)| sq * cp + sp * cq - xp * xq;
                        let pick = if a[j] > 0.0 {
                            if at(planes[0]) >= at(planes[1]) {
                                planes[0]
                            } else {
                                planes[1]
                            }
                        } else if at(planes[0]) <= at(planes[1]) {
                            planes[0]
                        } else {
                            planes[1]
                        };
                        let (sq, sp, xp, xq) = pick;
                        na[j] = a[j] * sq;
                        nb[j] = a[j] * sp;
                        let t = -(a[j] * (xp * xq));
                        bias += t;
                        bias_mag += t.abs();
                        bias_terms += 1;
                        slack += 2.0 * g(1) * t.abs()
                            + g(1) * ((na[j] * mp[j]).abs() + (nb[j] * mq[j]).abs());
                    }
                    merge(&mut pending[*pa], na, mp, &mut slack);
                    merge(&mut pending[*pb], nb, mq, &mut slack);
                }
                // Interval layers: constant lines at the layer's own (independent) bounds.
                Layer::Unary { .. } | Layer::Softmax { .. } => {
                    let (l, h) = (&self.lo[i], &self.hi[i]);
                    for j in 0..a.len() {
                        if a[j] == 0.0 {
                            continue;
                        }
                        let t = if a[j] > 0.0 { a[j] * l[j] } else { a[j] * h[j] };
                        if t.is_nan() {
                            return Ok(f64::NEG_INFINITY);
                        }
                        bias += t;
                        bias_mag += t.abs();
                        bias_terms += 1;
                        slack += g(1) * t.abs();
                    }
                }
                Layer::Input => a_in = Some(a),
                Layer::Affine {
                    src,
                    w,
                    b,
                    coef_ulps,
                    ..
                } => {
                    let m = &self.mag[*src];
                    let gg = g(w.nrows()) + 4.0 * *coef_ulps as f64 * U;
                    let mut na = vec![0.0f64; w.ncols()];
                    let mut abs_row = vec![0.0; w.ncols()];
                    for (r, &ar) in a.iter().enumerate() {
                        if ar == 0.0 {
                            continue;
                        }
                        let t = ar * b[r];
                        bias += t;
                        bias_mag += t.abs();
                        bias_terms += 1;
                        slack += gg * t.abs();
                        for (k, &wk) in w.row(r).iter().enumerate() {
                            na[k] += ar * wk;
                            abs_row[k] += (ar * wk).abs();
                        }
                    }
                    slack += gg * abs_row.iter().zip(m).map(|(x, y)| x * y).sum::<f64>();
                    merge(&mut pending[*src], na, m, &mut slack);
                }
                Layer::Scale {
                    src,
                    scale,
                    shift,
                    coef_ulps,
                    shift_err,
                    ..
                } => {
                    let m = &self.mag[*src];
                    let gg = g(1) + 4.0 * *coef_ulps as f64 * U;
                    let mut na = vec![0.0f64; a.len()];
                    for j in 0..a.len() {
                        na[j] = a[j] * scale[j];
                        let t = a[j] * shift[j];
                        bias += t;
                        bias_mag += t.abs();
                        bias_terms += 1;
                        slack += gg * (na[j].abs() * m[j] + t.abs()) + a[j].abs() * shift_err[j];
                    }
                    merge(&mut pending[*src], na, m, &mut slack);
                }
                Layer::Add { a: pa, b: pb } | Layer::Sub { a: pa, b: pb } => {
                    let neg = matches!(net.nodes[i].layer, Layer::Sub { .. });
                    let other: Vec<f64> = if neg {
                        a.iter().map(|v| -v).collect()
                    } else {
                        a.clone()
                    };
                    merge(&mut pending[*pa], a, &self.mag[*pa], &mut slack);
                    merge(&mut pending[*pb], other, &self.mag[*pb], &mut slack);
                }
                Layer::Gather { src, index } => {
                    let m = &self.mag[*src];
                    let mut na = vec![0.0f64; net.nodes[*src].size];
                    for (j, &k) in index.iter().enumerate() {
                        slack += g(1) * (na[k] + a[j]).abs().max(a[j].abs()) * m[k] * 2.0;
                        na[k] += a[j];
                    }
                    merge(&mut pending[*src], na, m, &mut slack);
                }
                Layer::Concat { parts } => {
                    // Each layer part takes its own columns; a constant's go into the bias.
                    let mut off = 0;
                    for p in parts {
                        let n = part_len(net, p);
                        let cols = &a[off..off + n];
                        match p {
                            ConcatPart::Layer(k) => {
                                merge(&mut pending[*k], cols.to_vec(), &self.mag[*k], &mut slack)
                            }
                            ConcatPart::Const(c) => {
                                for (&aj, &cj) in cols.iter().zip(c) {
                                    let t = aj * cj;
                                    bias += t;
                                    bias_mag += t.abs();
                                    bias_terms += 1;
                                    slack += g(1) * t.abs();
                                }
                            }
                        }
                        off += n;
                    }
                }
                Layer::Relu { src } | Layer::LeakyRelu { src, .. } => {
                    let alpha = match net.nodes[i].layer {
                        Layer::LeakyRelu { alpha, .. } => alpha,
                        _ => 0.0,
                    };
                    let (l, h, m) = (&self.lo[*src], &self.hi[*src], &self.mag[*src]);
                    let row_slopes = slopes.and_then(|s| s.iter().find(|(k, _)| *k == i));
                    let mut na = vec![0.0f64; a.len()];
                    for j in 0..a.len() {
                        let aj = a[j];
                        if aj == 0.0 {
                            continue;
                        }
                        let (lj, hj) = (l[j], h[j]);
                        if lj >= 0.0 {
                            na[j] = aj;
                        } else if hj <= 0.0 {
                            na[j] = aj * alpha;
                            slack += g(1) * (na[j] * m[j]).abs();
                        } else {
                            // Upper: a line through (l, alpha l) with slope >= the chord's.
                            let k = ((hj - alpha * lj) / (hj - lj)) * (1.0 + 8.0 * U);
                            let t = alpha * lj - k * lj;
                            let t = (t + 4.0 * U * ((alpha * lj).abs() + (k * lj).abs())).next_up();
                            let s_lo = match row_slopes {
                                Some((_, s)) => s[j],
                                None if k > 0.5 => 1.0,
                                None => alpha,
                            };
                            if aj >= 0.0 {
                                na[j] = aj * s_lo;
                            } else {
                                na[j] = aj * k;
                                let tt = aj * t;
                                bias += tt;
                                bias_mag += tt.abs();
                                bias_terms += 1;
                                slack += g(1) * tt.abs();
                            }
                            slack += g(1) * (na[j] * m[j]).abs();
                        }
                    }
                    merge(&mut pending[*src], na, m, &mut slack);
                }
                Layer::Sigmoid { src } | Layer::Tanh { src } => {
                    // Lines of the least slope on the box: f' >= d on [l, u], so
                    // f(l) + d (x - l) <= f(x) <= f(u) - d (u - x); d = 0 gives the constant
                    // lines f(l) <= y <= f(u) (monotone).
                    let sig = matches!(net.nodes[i].layer, Layer::Sigmoid { .. });
                    let (l, h, m) = (&self.lo[*src], &self.hi[*src], &self.mag[*src]);
                    let mut na = vec![0.0f64; a.len()];
                    for j in 0..a.len() {
                        if a[j] == 0.0 {
                            continue;
                        }
                        let d = least_slope(sig, l[j], h[j]);
                        let (anchor, value) = if a[j] >= 0.0 {
                            (l[j], s_shaped(sig, l[j], false))
                        } else {
                            (h[j], s_shaped(sig, h[j], true))
                        };
                        // a (value + d (x - anchor)) = a d x + a (value - d anchor).
                        let (c, c_err) = if d > 0.0 {
                            let c = value - d * anchor;
                            (c, 2.0 * U * (value.abs() + (d * anchor).abs()))
                        } else {
                            (value, 0.0)
                        };
                        let t = a[j] * c;
                        bias += t;
                        bias_mag += t.abs();
                        bias_terms += 1;
                        slack += g(1) * t.abs() + a[j].abs() * c_err * 1.01;
                        if d > 0.0 {
                            na[j] = a[j] * d;
                            slack += g(1) * (na[j] * m[j]).abs();
                        }
                    }
                    if na.iter().any(|v| *v != 0.0) {
                        merge(&mut pending[*src], na, m, &mut slack);
                    }
                }
                Layer::MaxPool { src, windows } => {
                    let (l, h, m) = (&self.lo[*src], &self.hi[*src], &self.mag[*src]);
                    let mut na = vec![0.0f64; net.nodes[*src].size];
                    for (j, win) in windows.iter().enumerate() {
                        if a[j] >= 0.0 {
                            // y >= x_k for the element with the largest lower bound.
                            let k = *win
                                .iter()
                                .max_by(|&&p, &&q| l[p].total_cmp(&l[q]))
                                .ok_or_else(|| reject("an empty max-pool window"))?;
                            slack += g(1) * (na[k].abs() + a[j].abs()) * m[k];
                            na[k] += a[j];
                        } else {
                            let umax = win.iter().map(|&q| h[q]).fold(f64::NEG_INFINITY, f64::max);
                            let t = a[j] * umax;
                            bias += t;
                            bias_mag += t.abs();
                            bias_terms += 1;
                            slack += g(1) * t.abs();
                        }
                    }
                    merge(&mut pending[*src], na, m, &mut slack);
                }
            }
        }
        let a_in = a_in.unwrap_or_else(|| vec![0.0; net.input_size()]);
        let mut acc = bias;
        let mut mag = bias.abs();
        for (k, &v) in a_in.iter().enumerate() {
            let t = if v >= 0.0 { v * lower[k] } else { v * upper[k] };
            acc += t;
            mag += t.abs();
        }
        ops += a_in.len() + 2;
        let err = slack + g(bias_terms) * bias_mag + g(a_in.len() + 1) * mag;
        // Underflow: each operation is off by at most a few subnormals times the magnitudes.
        let tiny = ops as f64 * 8.0 * f64::from_bits(1) * (1.0 + self.big) * (1.0 + mag);
        let v = acc - (err * (1.0 + 1e-9) + tiny);
        Ok(if v.is_nan() {
            f64::NEG_INFINITY
        } else {
            v.next_down()
        })
    }
}

/// Re-checks `cert` for `prop` on `net`, sharing no bound code with the producer (module doc).
pub fn check_independently(
    cert: &Certificate,
    net: &BoundNet,
    prop: &Property,
    f32_executor: bool,
) -> Result<CheckReport> {
    check_independently_until(cert, net, prop, f32_executor, &|| false)
}

/// [`check_independently`] that gives up (TL0640) once `stop` says so (a deadline passed or
/// the run was cancelled); `stop` is asked before every leaf. The split tree is walked first,
/// then the leaves are re-derived in parallel (each leaf's check is independent of the others).
pub fn check_independently_until(
    cert: &Certificate,
    net: &BoundNet,
    prop: &Property,
    f32_executor: bool,
    stop: &(dyn Fn() -> bool + Sync),
) -> Result<CheckReport> {
    if f32_executor && !cert.f32_executor {
        return Err(reject(
            "the certificate was made without the f32 executor margin",
        ));
    }
    if prop.n_inputs != net.input_size() || prop.n_outputs != net.output_size() {
        return Err(BoundsError::new(
            codes::VNNLIB_MISMATCH,
            "the property does not match the network",
        ));
    }
    let mut report = CheckReport::default();
    for (k, case) in prop.cases.iter().enumerate() {
        let cc = cert
            .cases
            .iter()
            .find(|c| c.case == k)
            .ok_or_else(|| reject(format!("case {k} has no split tree")))?;
        let n = cc.nodes.len();
        let mut seen = vec![false; n];
        type LeafBox<'c> = (
            usize,
            Vec<f64>,
            Vec<f64>,
            Vec<Fix>,
            Option<&'c Vec<(usize, Vec<Vec<f64>>)>>,
        );
        let mut leaves: Vec<LeafBox<'_>> = Vec::new();
        let mut stack: Vec<(usize, Vec<f64>, Vec<f64>, Vec<Fix>)> = vec![(
            0,
            case.input.lower.clone(),
            case.input.upper.clone(),
            Vec::new(),
        )];
        while let Some((id, lo, hi, fixes)) = stack.pop() {
            let node = cc
                .nodes
                .get(id)
                .ok_or_else(|| reject(format!("case {k}: node {id} does not exist")))?;
            if std::mem::replace(&mut seen[id], true) {
                return Err(reject(format!("case {k}: node {id} is reached twice")));
            }
            match node {
                CertNode::Open => return Err(reject(format!("case {k}: node {id} is undecided"))),
                CertNode::InputSplit { dim, mid, children } => {
                    let (Some(&l), Some(&u)) = (lo.get(*dim), hi.get(*dim)) else {
                        return Err(reject(format!("case {k}: node {id} splits axis {dim}")));
                    };
                    if !(l < *mid && *mid < u) {
                        return Err(reject(format!(
                            "case {k}: node {id} splits [{l}, {u}] at {mid}"
                        )));
                    }
                    let (mut hi_a, mut lo_b) = (hi.clone(), lo.clone());
                    hi_a[*dim] = *mid;
                    lo_b[*dim] = *mid;
                    stack.push((children[0], lo, hi_a, fixes.clone()));
                    stack.push((children[1], lo_b, hi, fixes));
                    report.splits += 1;
                }
                CertNode::ReluSplit {
                    layer,
                    neuron,
                    children,
                } => {
                    if f32_executor {
                        return Err(reject(format!(
                            "case {k}: node {id} splits a relu; the independent checker does not check relu splits under the f32 semantics"
                        )));
                    }
                    let ok = net.nodes.get(*layer).is_some_and(|nd| {
                        matches!(nd.layer, Layer::Relu { .. } | Layer::LeakyRelu { .. })
                            && *neuron < nd.size
                    });
                    if !ok {
                        return Err(reject(format!(
                            "case {k}: node {id} splits a neuron that is not a relu"
                        )));
                    }
                    for (child, active) in children.iter().zip([false, true]) {
                        let mut f = fixes.clone();
                        f.push(Fix {
                            layer: *layer,
                            neuron: *neuron,
                            active,
                        });
                        stack.push((*child, lo.clone(), hi.clone(), f));
                    }
                    report.splits += 1;
                }
                CertNode::Leaf { alphas, .. } => {
                    leaves.push((id, lo, hi, fixes, alphas.as_ref()));
                }
            }
        }
        // The first failing leaf in walk order is the one reported, whatever the threads did.
        let results: Vec<Result<()>> = leaves
            .par_iter()
            .map(|(id, lo, hi, fixes, alphas)| {
                if stop() {
                    return Err(BoundsError::new(
                        codes::TIMED_OUT,
                        "the independent re-check ran past its time limit or was cancelled",
                    ));
                }
                check_leaf(net, case, lo, hi, fixes, *alphas, f32_executor).map_err(|e| {
                    if e.code == codes::TIMED_OUT {
                        e
                    } else {
                        reject(format!("case {k}, leaf {id}: {}", e.message))
                    }
                })
            })
            .collect();
        if let Some(e) = results.into_iter().find_map(|r| r.err()) {
            return Err(e);
        }
        report.leaves += leaves.len();
        report.cases += 1;
    }
    Ok(report)
}

/// The checker's own verdict on one input box of `case` (no relu splits): `Ok` when it refutes
/// every disjunct there. A producer may use it to find an input-split tree the checker accepts;
/// the tree itself is then checked by [`check_independently`], which walks it from the case's
/// box, so a producer's mistake in building it is caught there.
/// A lower bound of `c . y` for `y` in the box `[lo, hi]`, rounded down (the f64 sum's error
/// charged by `g`).
fn box_lower(c: &[f64], lo: &[f64], hi: &[f64]) -> f64 {
    let (mut sum, mut mag) = (0.0f64, 0.0f64);
    for ((&ck, &l), &h) in c.iter().zip(lo).zip(hi) {
        if ck == 0.0 {
            continue;
        }
        let t = if ck > 0.0 { ck * l } else { ck * h };
        if !t.is_finite() {
            return f64::NEG_INFINITY;
        }
        sum += t;
        mag += t.abs();
    }
    (sum - g(c.len() + 1) * mag).next_down()
}

pub fn refutes_box(net: &BoundNet, case: &Case, lo: &[f64], hi: &[f64], f32: bool) -> Result<()> {
    if lo.len() != net.input_size() || hi.len() != net.input_size() {
        return Err(reject("the box does not match the network's input"));
    }
    check_leaf(net, case, lo, hi, &[], None, f32)
}

fn check_leaf(
    net: &BoundNet,
    case: &Case,
    lo: &[f64],
    hi: &[f64],
    fixes: &[Fix],
    alphas: Option<&Vec<(usize, Vec<Vec<f64>>)>>,
    f32: bool,
) -> Result<()> {
    let Some(leaf) = Leaf::new(net, lo, hi, fixes, f32)? else {
        return Ok(()); // the splits leave no input: nothing to refute
    };
    let rows: usize = case.disjuncts.iter().map(Vec::len).sum();
    if let Some(list) = alphas {
        for (layer, m) in list {
            let floor = match net.nodes.get(*layer).map(|n| &n.layer) {
                Some(Layer::LeakyRelu { alpha, .. }) => *alpha,
                Some(Layer::Relu { .. }) => 0.0,
                _ => return Err(reject(format!("slopes for non-relu layer {layer}"))),
            };
            let size = net.nodes[*layer].size;
            if m.len() != rows.max(1) || m.iter().any(|r| r.len() != size) {
                return Err(reject(format!(
                    "slopes of layer {layer} have the wrong shape"
                )));
            }
            if m.iter().flatten().any(|a| !(floor..=1.0).contains(a)) {
                return Err(reject(format!(
                    "slopes of layer {layer} leave [{floor}, 1]"
                )));
            }
        }
    }
    let mut r = 0;
    for (d, disjunct) in case.disjuncts.iter().enumerate() {
        let mut refuted = false;
        let mut best = f64::NEG_INFINITY;
        for con in disjunct {
            let slopes: Option<Vec<(usize, Vec<f64>)>> = alphas.map(|list| {
                list.iter()
                    .map(|(layer, m)| (*layer, m[r].clone()))
                    .collect()
            });
            let linear =
                leaf.row_lower(net.output, con.coeffs.clone(), slopes.as_deref(), lo, hi)?;
            // The row over the output's own box can be tighter than the linear pass (a square
            // is bounded below by 0 in the box, not by its McCormick planes).
            let lb = linear.max(box_lower(
                &con.coeffs,
                &leaf.lo[net.output],
                &leaf.hi[net.output],
            ));
            r += 1;
            // The row's constraint `c y <= rhs` cannot hold when `c y > rhs` everywhere.
            let slack = (lb - con.rhs).next_down();
            best = best.max(slack);
            if slack > 0.0 {
                refuted = true;
            }
        }
        if !refuted {
            return Err(reject(format!(
                "disjunct {d} is not refuted: its best row's independent lower bound exceeds the right-hand side by {best:e} (refuting needs more than 0)"
            )));
        }
    }
    Ok(())
}
