//! IBP and CROWN (backward linear relaxation) over a [`BoundNet`], with sound f64 rounding.
//!
//! `Analysis::new` computes bounds of every live layer in topological order: IBP everywhere, and
//! CROWN (a backward pass from the layer with `C = [I; -I]`) for layers that feed a nonlinearity.
//! `Analysis::spec_lower` then bounds `C y` for the output with a final backward pass, optionally
//! with per-row relu lower slopes (alpha-CROWN, see `alpha.rs`).

use std::collections::HashMap;

use ndarray::{s, Array1, Array2, Axis};

use crate::error::{codes, BoundsError, Result};
use crate::net::{BoundNet, ConcatPart, Layer};
use crate::relax::{relax, Act, Relax};
use crate::rounding::{down, gamma, underflow, up, U64};
use crate::stop::Stop;
use crate::unary::UnaryFn;

/// Intermediate bounds are computed this many neurons at a time (2x rows: both signs), so the
/// backward pass's coefficient matrices stay small and a stop is noticed between chunks.
pub(crate) const NEURON_CHUNK: usize = 128;

/// An input set: a box.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct InputBox {
    pub lower: Vec<f64>,
    pub upper: Vec<f64>,
}

impl InputBox {
    pub fn new(lower: Vec<f64>, upper: Vec<f64>) -> Result<InputBox> {
        let b = InputBox { lower, upper };
        b.check(b.lower.len())?;
        Ok(b)
    }
    /// Checks length, finiteness and order.
    pub fn check(&self, n: usize) -> Result<()> {
        if self.lower.len() != n || self.upper.len() != n {
            return Err(BoundsError::new(
                codes::BAD_INPUT_BOX,
                format!(
                    "input box has {} lower and {} upper values, the network input has {n}",
                    self.lower.len(),
                    self.upper.len()
                ),
            ));
        }
        for (i, (l, u)) in self.lower.iter().zip(&self.upper).enumerate() {
            if !l.is_finite() || !u.is_finite() {
                return Err(BoundsError::new(
                    codes::BAD_INPUT_BOX,
                    format!("input {i}: bounds [{l}, {u}] are not finite"),
                ));
            }
            if l > u {
                return Err(BoundsError::new(
                    codes::BAD_INPUT_BOX,
                    format!("input {i}: lower bound {l} is above upper bound {u}"),
                ));
            }
        }
        Ok(())
    }
    pub fn contains(&self, x: &[f64]) -> bool {
        x.iter()
            .zip(self.lower.iter().zip(&self.upper))
            .all(|(v, (l, u))| l <= v && v <= u)
    }
    pub fn center(&self) -> Vec<f64> {
        self.lower
            .iter()
            .zip(&self.upper)
            .map(|(l, u)| l + (u - l) / 2.0)
            .collect()
    }
}

/// How bounds are computed.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Method {
    Ibp,
    Crown,
    /// CROWN with relu lower slopes optimised by projected Adam ascent for `iters` steps.
    AlphaCrown {
        iters: usize,
        lr: f64,
    },
}

/// Options of the bound computation.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct CrownOptions {
    /// Intersect CROWN's intermediate bounds with IBP's (both are sound; auto_LiRPA does not).
    pub intersect_ibp: bool,
    /// Widen every bound by the f64 rounding-error bound (off only to compare with references).
    pub sound: bool,
    /// Make bounds hold for an f32 executor too: each layer's f32 rounding error is bounded from
    /// the layer's magnitudes and carried as bounded noise on its output (docs/bounds.md).
    pub f32_executor: bool,
}

impl Default for CrownOptions {
    fn default() -> Self {
        CrownOptions {
            intersect_ibp: true,
            sound: true,
            f32_executor: true,
        }
    }
}

/// A relu neuron fixed to one side in a branch-and-bound domain.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct ReluSplit {
    /// The relu layer.
    pub layer: usize,
    pub neuron: usize,
    /// `true`: pre-activation >= 0; `false`: <= 0.
    pub active: bool,
}

/// Per-row lower slopes of relu layers for the final backward pass.
pub type Alphas = HashMap<usize, Array2<f64>>;

/// Bounds of every layer (empty vectors for layers the output does not depend on).
#[derive(Clone, Debug)]
pub struct Analysis<'n> {
    pub net: &'n BoundNet,
    pub input: InputBox,
    pub lower: Vec<Array1<f64>>,
    pub upper: Vec<Array1<f64>>,
    /// Relaxation of each nonlinear layer (indexed by the nonlinear layer).
    pub relax: Vec<Option<Relax>>,
    /// Per layer, a bound on the f32 executor's rounding error added at its output (empty when
    /// `f32_executor` is off).
    pub noise: Vec<Array1<f64>>,
    pub opts: CrownOptions,
    /// Per layer, the vector `v` such that a backward step through the layer with coefficients
    /// `A` adds at most `|A| v` of error: the executor's noise plus the step's rounding (empty:
    /// nothing to charge). Computed once per layer from its source's final bounds.
    charges: Vec<Array1<f64>>,
    /// The largest magnitude of any layer so far (for the underflow term).
    mag_max: f64,
    /// Checked per layer and per chunk of rows; a stopped backward pass returns `-inf`.
    pub stop: Stop,
}

/// Result of a backward pass: `C y >= a_in x + bias` for x in the box, and its concretisation.
#[derive(Clone, Debug)]
pub struct LinearBound {
    pub a_in: Array2<f64>,
    pub bias: Array1<f64>,
    /// Sound lower bound of each row over the box.
    pub lower: Array1<f64>,
    /// `A` at each relu layer's output (kept for alpha gradients).
    pub relu_a: HashMap<usize, Array2<f64>>,
}

fn act_of(layer: &Layer) -> Option<Act> {
    match layer {
        Layer::Relu { .. } => Some(Act::Relu),
        Layer::LeakyRelu { alpha, .. } => Some(Act::LeakyRelu(*alpha)),
        Layer::Sigmoid { .. } => Some(Act::Sigmoid),
        Layer::Tanh { .. } => Some(Act::Tanh),
        _ => None,
    }
}

/// Where a backward pass starts: what earlier steps already contributed.
struct Start {
    bias: Array1<f64>,
    abs_err: Array1<f64>,
}

impl<'n> Analysis<'n> {
    /// Bounds of every layer on `input`, with relu `splits` applied to the pre-activation bounds.
    /// Returns `Ok(None)` when the splits make the domain empty.
    pub fn new(
        net: &'n BoundNet,
        input: &InputBox,
        method: Method,
        opts: CrownOptions,
        splits: &[ReluSplit],
    ) -> Result<Option<Analysis<'n>>> {
        Analysis::with_stop(net, input, method, opts, splits, &Stop::never())
    }

    /// Like [`Analysis::new`], stopping with a `TIMED_OUT` / `CANCELLED` error when `stop` says
    /// so (checked per layer and per chunk of neurons).
    pub fn with_stop(
        net: &'n BoundNet,
        input: &InputBox,
        method: Method,
        opts: CrownOptions,
        splits: &[ReluSplit],
        stop: &Stop,
    ) -> Result<Option<Analysis<'n>>> {
        stop.check("the bound pass")?;
        input.check(net.input_size())?;
        let live = net.live();
        let n = net.nodes.len();
        let mut needs_crown = vec![false; n];
        for node in &net.nodes {
            if node.layer.is_nonlinear() {
                for p in node.layer.parents() {
                    needs_crown[p] = true;
                }
            }
        }
        let mut an = Analysis {
            net,
            input: input.clone(),
            lower: Vec::with_capacity(n),
            upper: Vec::with_capacity(n),
            relax: vec![None; n],
            noise: Vec::with_capacity(n),
            opts,
            charges: Vec::with_capacity(n),
            mag_max: 0.0,
            stop: stop.clone(),
        };
        let children = net.children();
        for i in 0..n {
            if !live[i] {
                an.lower.push(Array1::zeros(0));
                an.upper.push(Array1::zeros(0));
                an.noise.push(Array1::zeros(0));
                an.charges.push(Array1::zeros(0));
                continue;
            }
            if let Some(act) = act_of(&net.nodes[i].layer) {
                let src = net.nodes[i].layer.parents()[0];
                an.relax[i] = Some(relax(act, &an.lower[src], &an.upper[src]));
            }
            if let Layer::Unary { src, f } = &net.nodes[i].layer {
                an.relax[i] = Some(relax_unary(
                    *f,
                    &an.lower[*src],
                    &an.upper[*src],
                    &net.nodes[i].name,
                )?);
            }
            let noise = if opts.f32_executor {
                crate::f32_noise::layer_noise(&an, i)
            } else {
                Array1::zeros(0)
            };
            an.noise.push(noise);
            let charge = an.step_charge(i);
            an.charges.push(charge);
            let (mut lo, mut hi) = an.ibp_layer(i);
            if !an.noise[i].is_empty() {
                lo = ndarray::Zip::from(&lo)
                    .and(&an.noise[i])
                    .map_collect(|&l, &e| down(l, e));
                hi = ndarray::Zip::from(&hi)
                    .and(&an.noise[i])
                    .map_collect(|&h, &e| up(h, e));
            }
            an.clamp_to_known_range(i, &mut lo, &mut hi);
            // A softmax's CROWN bound is its own box (an interval layer): nothing to gain.
            let interval_layer = matches!(net.nodes[i].layer, Layer::Softmax { .. });
            if method != Method::Ibp && needs_crown[i] && i != 0 && !interval_layer {
                // Only neurons whose relaxation depends on the bounds: relus unstable under IBP
                // (as auto_LiRPA's sparse intermediate bounds), every neuron for other layers.
                let relu_only = children[i].iter().all(|&c| {
                    matches!(
                        net.nodes[c].layer,
                        Layer::Relu { .. } | Layer::LeakyRelu { .. }
                    )
                });
                let wanted: Vec<usize> = (0..net.nodes[i].size)
                    .filter(|&j| !relu_only || (lo[j] < 0.0 && hi[j] > 0.0))
                    .collect();
                for chunk in wanted.chunks(NEURON_CHUNK) {
                    stop.check("the bound pass")?;
                    let k = chunk.len();
                    let lb = an.neuron_bounds(i, chunk);
                    stop.check("the bound pass")?;
                    for (r, &j) in chunk.iter().enumerate() {
                        let (cl, cu) = (lb[r], -lb[k + r]);
                        if opts.intersect_ibp {
                            lo[j] = lo[j].max(cl);
                            hi[j] = hi[j].min(cu);
                        } else {
                            lo[j] = cl;
                            hi[j] = cu;
                        }
                    }
                }
            }
            // Splits constrain the pre-activation of their relu layer, i.e. this layer when a
            // relu reads it.
            for sp in splits {
                if net.nodes[sp.layer].layer.parents().first() == Some(&i) {
                    if sp.active {
                        lo[sp.neuron] = lo[sp.neuron].max(0.0);
                    } else {
                        hi[sp.neuron] = hi[sp.neuron].min(0.0);
                    }
                }
            }
            if lo.iter().zip(hi.iter()).any(|(l, h)| l > h) {
                return Ok(None);
            }
            an.mag_max = lo
                .iter()
                .chain(hi.iter())
                .fold(an.mag_max, |m, v| m.max(v.abs()));
            an.lower.push(lo);
            an.upper.push(hi);
        }
        Ok(Some(an))
    }

    /// Ranges both the exact value and the f32 executor's value are known to lie in, which the
    /// noise widening may have left: exp, squares, square roots and reciprocals of positive
    /// values are non-negative (so are their f32 results), softmax lies in [0, 1] (in f32 too:
    /// each term is at most the sum), and a non-negative combination of non-negative values
    /// plus a non-negative bias is at least the bias (every rounding is monotone; the bias
    /// itself rounds to f32 once: layer norm's `var + eps` stays positive).
    fn clamp_to_known_range(&self, i: usize, lo: &mut Array1<f64>, hi: &mut Array1<f64>) {
        let floor_at = |lo: &mut Array1<f64>, v: f64| lo.mapv_inplace(|l| l.max(v));
        match &self.net.nodes[i].layer {
            Layer::Unary {
                f:
                    UnaryFn::Exp
                    | UnaryFn::Square
                    | UnaryFn::Sqrt
                    | UnaryFn::Rsqrt
                    | UnaryFn::Reciprocal,
                ..
            } => floor_at(lo, 0.0),
            Layer::Softmax { .. } => {
                floor_at(lo, 0.0);
                hi.mapv_inplace(|h| h.min(1.0));
            }
            // Layer norm's variance over the reals: for a unit `v` orthogonal to the ones (the
            // centred box centre, normalised), `mean(c^2) = |P x|^2 / d >= (v . x)^2 / d`, and
            // `v . x` over the box is an interval. Interval arithmetic on the squares alone
            // gives 0 whenever a centred value's range contains 0.
            Layer::Affine { b: eps, .. } if !self.opts.f32_executor => {
                if let Some((x, _, rows)) = self.net.layer_norm_var(i) {
                    let (xl, xu) = (&self.lower[x], &self.upper[x]);
                    for (g, members) in rows.iter().enumerate() {
                        let d = members.len() as f64;
                        let mid: Vec<f64> =
                            members.iter().map(|&j| 0.5 * (xl[j] + xu[j])).collect();
                        let mean = mid.iter().sum::<f64>() / d;
                        let pc: Vec<f64> = mid.iter().map(|m| m - mean).collect();
                        let norm = pc.iter().map(|v| v * v).sum::<f64>().sqrt();
                        if !(norm > 0.0 && norm.is_finite()) {
                            continue;
                        }
                        let (mut at_mid, mut spread) = (0.0, 0.0);
                        for (k, &j) in members.iter().enumerate() {
                            let v = pc[k] / norm;
                            at_mid += v * mid[k];
                            spread += v.abs() * 0.5 * (xu[j] - xl[j]);
                        }
                        // |v| may be 1 + a few ulps and the sums carry rounding: pad.
                        let least = (at_mid.abs() - spread) * (1.0 - 1e-9) - 1e-300;
                        if least > 0.0 {
                            let floor = (least * least / d) * (1.0 - 1e-9) + eps[g] * (1.0 - 1e-15);
                            lo[g] = lo[g].max(floor);
                        }
                    }
                }
            }
            // Layer norm's normalized values: |c_j| / sqrt(mean(c^2) + eps) <= sqrt(d - 1) for a
            // centered row of d; the f32 executor's row is centered only up to rounding, so it
            // gets sqrt(d), padded by the roundings of the mean, the squares and the sqrt.
            // `x * x` is non-negative, in f32 too (each product rounds monotonically from a
            // non-negative real).
            Layer::Mul { a, b } if a == b => lo.mapv_inplace(|l| l.max(0.0)),
            Layer::Mul { .. } => {
                if let Some(rows) = self.net.normalized_rows(i) {
                    for (j, &d) in rows.iter().enumerate() {
                        let d = d as f64;
                        let cap = if self.opts.f32_executor {
                            d.sqrt()
                                * (1.0 + crate::rounding::gamma_with(d + 8.0, crate::rounding::U32))
                        } else {
                            (d - 1.0).sqrt() * (1.0 + 1e-12)
                        };
                        lo[j] = lo[j].max(-cap);
                        hi[j] = hi[j].min(cap);
                    }
                }
            }
            Layer::Affine { src, w, b, .. }
                if self.lower[*src].iter().all(|&l| l >= 0.0) && w.iter().all(|&v| v >= 0.0) =>
            {
                for (l, &bj) in lo.iter_mut().zip(b) {
                    if bj >= 0.0 {
                        *l = l.max(bj * (1.0 - 4.0 * crate::rounding::U32));
                    }
                }
            }
            _ => {}
        }
        for (l, h) in lo.iter_mut().zip(hi.iter_mut()) {
            // Only rounding can cross them here; keep the enclosure non-empty.
            *h = h.max(*l);
        }
    }

    fn widen(&self, v: f64, err: f64, lower: bool) -> f64 {
        match (self.opts.sound, lower) {
            (true, true) => down(v, err),
            (true, false) => up(v, err),
            (false, _) => v,
        }
    }

    /// IBP bounds of layer `i` from its parents' bounds.
    fn ibp_layer(&self, i: usize) -> (Array1<f64>, Array1<f64>) {
        let node = &self.net.nodes[i];
        let sound = self.opts.sound;
        match &node.layer {
            Layer::Input => (
                Array1::from(self.input.lower.clone()),
                Array1::from(self.input.upper.clone()),
            ),
            Layer::Affine {
                src,
                w,
                b,
                coef_ulps,
                ..
            } => {
                let (l, u) = (&self.lower[*src], &self.upper[*src]);
                let mid = (u + l) * 0.5;
                let rad = (u - l) * 0.5;
                let wabs = w.mapv(f64::abs);
                let c = w.dot(&mid) + b;
                let r = wabs.dot(&rad);
                let err = if sound {
                    // |mid| + rad bounds |x|; the mid/rad split itself adds two roundings.
                    let mag = wabs.dot(&(mid.mapv(f64::abs) + &rad)) + b.mapv(f64::abs);
                    let g = gamma((w.ncols() + 4) as f64) + *coef_ulps as f64 * 2.0 * U64;
                    mag * g + underflow(w.ncols() as f64 + 4.0)
                } else {
                    Array1::zeros(c.len())
                };
                let lo = ndarray::Zip::from(&c)
                    .and(&r)
                    .and(&err)
                    .map_collect(|&c, &r, &e| self.widen(c - r, e, true));
                let hi = ndarray::Zip::from(&c)
                    .and(&r)
                    .and(&err)
                    .map_collect(|&c, &r, &e| self.widen(c + r, e, false));
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
                let (l, u) = (&self.lower[*src], &self.upper[*src]);
                let n = scale.len();
                let (mut lo, mut hi) = (Array1::zeros(n), Array1::zeros(n));
                for j in 0..n {
                    let (a, b) = (scale[j] * l[j], scale[j] * u[j]);
                    let mag = scale[j].abs() * l[j].abs().max(u[j].abs());
                    let e = if sound {
                        (mag + shift[j].abs()) * (3.0 + *coef_ulps as f64 * 2.0) * U64
                            + shift_err[j]
                            + underflow(2.0)
                    } else {
                        0.0
                    };
                    lo[j] = self.widen(a.min(b) + shift[j], e, true);
                    hi[j] = self.widen(a.max(b) + shift[j], e, false);
                }
                (lo, hi)
            }
            Layer::Add { a, b } => (
                (&self.lower[*a] + &self.lower[*b]).mapv(|v| self.widen(v, 0.0, true)),
                (&self.upper[*a] + &self.upper[*b]).mapv(|v| self.widen(v, 0.0, false)),
            ),
            Layer::Sub { a, b } => (
                (&self.lower[*a] - &self.upper[*b]).mapv(|v| self.widen(v, 0.0, true)),
                (&self.upper[*a] - &self.lower[*b]).mapv(|v| self.widen(v, 0.0, false)),
            ),
            Layer::Gather { src, index } => (
                index.iter().map(|&j| self.lower[*src][j]).collect(),
                index.iter().map(|&j| self.upper[*src][j]).collect(),
            ),
            Layer::Relu { src } => (
                self.lower[*src].mapv(|v| v.max(0.0)),
                self.upper[*src].mapv(|v| v.max(0.0)),
            ),
            Layer::LeakyRelu { src, alpha } => {
                let f = |v: f64| if v >= 0.0 { v } else { alpha * v };
                (
                    self.lower[*src].mapv(|v| self.widen(f(v), 0.0, true)),
                    self.upper[*src].mapv(|v| self.widen(f(v), 0.0, false)),
                )
            }
            Layer::Sigmoid { src } | Layer::Tanh { src } => {
                let act = act_of(&node.layer).expect("activation");
                // libm's exp/tanh are within 1 ulp; two outward steps cover it.
                let lo = self.lower[*src].mapv(|v| {
                    let y = act.f(v);
                    if sound {
                        y.next_down().next_down()
                    } else {
                        y
                    }
                });
                let hi = self.upper[*src].mapv(|v| {
                    let y = act.f(v);
                    if sound {
                        y.next_up().next_up()
                    } else {
                        y
                    }
                });
                (lo, hi)
            }
            Layer::Unary { src, f } => {
                let (l, u) = (&self.lower[*src], &self.upper[*src]);
                let (mut lo, mut hi) = (Array1::zeros(l.len()), Array1::zeros(l.len()));
                for j in 0..l.len() {
                    // The domain was checked when the layer was relaxed.
                    (lo[j], hi[j]) = f.interval(l[j], u[j]);
                }
                (lo, hi)
            }
            Layer::Mul { a, b } => {
                let (la, ua, lb, ub) = (
                    &self.lower[*a],
                    &self.upper[*a],
                    &self.lower[*b],
                    &self.upper[*b],
                );
                let n = la.len();
                let (mut lo, mut hi) = (Array1::zeros(n), Array1::zeros(n));
                for j in 0..n {
                    // A square's two factors are one value, not two independent ones.
                    let (lo_j, hi_j) = if a == b {
                        interval_square(la[j], ua[j])
                    } else {
                        interval_product(la[j], ua[j], lb[j], ub[j])
                    };
                    lo[j] = lo_j;
                    hi[j] = hi_j;
                }
                (lo, hi)
            }
            Layer::Softmax { src, groups } => {
                softmax_interval(&self.lower[*src], &self.upper[*src], groups)
            }
            Layer::Concat { parts } => {
                // Data movement: each part's box, a constant's exactly.
                let (mut lo, mut hi) =
                    (Vec::with_capacity(node.size), Vec::with_capacity(node.size));
                for p in parts {
                    match p {
                        ConcatPart::Layer(k) => {
                            lo.extend(self.lower[*k].iter());
                            hi.extend(self.upper[*k].iter());
                        }
                        ConcatPart::Const(c) => {
                            lo.extend(c.iter());
                            hi.extend(c.iter());
                        }
                    }
                }
                (Array1::from(lo), Array1::from(hi))
            }
            Layer::MaxPool { src, windows } => (
                windows
                    .iter()
                    .map(|w| {
                        w.iter()
                            .map(|&k| self.lower[*src][k])
                            .fold(f64::NEG_INFINITY, f64::max)
                    })
                    .collect(),
                windows
                    .iter()
                    .map(|w| {
                        w.iter()
                            .map(|&k| self.upper[*src][k])
                            .fold(f64::NEG_INFINITY, f64::max)
                    })
                    .collect(),
            ),
        }
    }

    /// Lower bounds of `c` times layer `target` over the box (one backward pass).
    /// `alphas` overrides relu lower slopes per row; `record` keeps A at relu outputs.
    pub fn backward(
        &self,
        target: usize,
        c: Array2<f64>,
        alphas: Option<&Alphas>,
        record: bool,
    ) -> LinearBound {
        let rows = c.nrows();
        let start = Start {
            bias: Array1::zeros(rows),
            abs_err: Array1::zeros(rows),
        };
        self.backward_from(target, c, start, alphas, record)
    }

    /// Bounds of `+-` single neurons of layer `i` (rows `wanted`, then their negations). When the
    /// layer is affine the first backward step is a row selection, not a product.
    fn neuron_bounds(&self, i: usize, wanted: &[usize]) -> Array1<f64> {
        let k = wanted.len();
        let size = self.net.nodes[i].size;
        if let Layer::Affine {
            src,
            w,
            b,
            coef_ulps: 0,
            ..
        } = &self.net.nodes[i].layer
        {
            // Selecting rows of W is exact (the stored coefficients are the layer's own).
            let n = w.ncols();
            let mut a = Array2::zeros((2 * k, n));
            let mut bias = Array1::zeros(2 * k);
            let mut abs_err = Array1::zeros(2 * k);
            let noise = self.noise.get(i).filter(|e| !e.is_empty());
            for (r, &j) in wanted.iter().enumerate() {
                let row = w.row(j);
                a.row_mut(r).assign(&row);
                a.row_mut(k + r).assign(&(-&row));
                bias[r] = b[j];
                bias[k + r] = -b[j];
                if let Some(e) = noise {
                    abs_err[r] = e[j];
                    abs_err[k + r] = e[j];
                }
            }
            let start = Start { bias, abs_err };
            return self.backward_from(*src, a, start, None, false).lower;
        }
        let mut c = Array2::zeros((2 * k, size));
        for (r, &j) in wanted.iter().enumerate() {
            c[[r, j]] = 1.0;
            c[[k + r, j]] = -1.0;
        }
        self.backward(i, c, None, false).lower
    }

    /// `max(|lower|, |upper|)` of layer `i`: bounds every value (exact or executor) it takes.
    fn magnitude(&self, i: usize) -> Array1<f64> {
        ndarray::Zip::from(&self.lower[i])
            .and(&self.upper[i])
            .map_collect(|l, u| l.abs().max(u.abs()))
    }

    /// The error vector of a backward step through layer `i` (see `charges`): the executor's
    /// noise `e` (its value is the exact one plus at most `e`), plus, in sound mode, the step's
    /// rounding: `gamma(n + 2) (|M| m + |t|)` for a step computing `A M` and `A t` with inner
    /// dimension `n`, `m >= |z_src|` from the source layer's bounds.
    fn step_charge(&self, i: usize) -> Array1<f64> {
        let layer = &self.net.nodes[i].layer;
        let noise = self.noise.get(i).filter(|e| !e.is_empty());
        let mut v: Option<Array1<f64>> = match layer {
            // Folded shifts carry their own error bound (charged in every mode).
            Layer::Scale { shift_err, .. } => Some(shift_err.clone()),
            _ => None,
        };
        let mut add = |x: Array1<f64>| match &mut v {
            Some(acc) => *acc += &x,
            None => v = Some(x),
        };
        if self.opts.sound {
            match layer {
                Layer::Input | Layer::Add { .. } | Layer::Sub { .. } => {}
                Layer::Affine {
                    src,
                    w,
                    w_abs,
                    b,
                    coef_ulps,
                } => {
                    let g = gamma((w.ncols() + 2) as f64) + 2.0 * *coef_ulps as f64 * U64;
                    add((w_abs.dot(&self.magnitude(*src)) + b.mapv(f64::abs)) * g);
                }
                Layer::Scale {
                    src,
                    scale,
                    shift,
                    coef_ulps,
                    ..
                } => {
                    let g = gamma((scale.len() + 2) as f64) + 2.0 * *coef_ulps as f64 * U64;
                    add((scale.mapv(f64::abs) * &self.magnitude(*src) + shift.mapv(f64::abs)) * g);
                }
                Layer::Gather { src, index } => {
                    // Repeated indices sum columns: one rounding each, at most.
                    let m = self.magnitude(*src);
                    add(index.iter().map(|&k| m[k] * gamma(1.0)).collect());
                }
                Layer::Concat { parts } => {
                    // Columns of layer parts move unchanged; constant parts add `A_p c` to the
                    // bias, a sum over every constant element.
                    let n_const: usize = parts
                        .iter()
                        .map(|p| match p {
                            ConcatPart::Const(c) => c.len(),
                            ConcatPart::Layer(_) => 0,
                        })
                        .sum();
                    if n_const > 0 {
                        let g = gamma((n_const + 2) as f64);
                        let mut v = Vec::with_capacity(self.net.nodes[i].size);
                        for p in parts {
                            match p {
                                ConcatPart::Layer(k) => {
                                    v.extend(std::iter::repeat_n(0.0, self.net.nodes[*k].size))
                                }
                                ConcatPart::Const(c) => v.extend(c.iter().map(|x| x.abs() * g)),
                            }
                        }
                        add(Array1::from(v));
                    }
                }
                Layer::Mul { a, b } => {
                    // Per entry: two coefficient products and an intercept `c la lb` summed
                    // over the row, all below `3 |c| M_a M_b` in magnitude.
                    let (ma, mb) = (self.magnitude(*a), self.magnitude(*b));
                    let g = 3.0 * gamma((ma.len() + 4) as f64);
                    add(ma * mb * g);
                }
                Layer::Softmax { src, .. } => {
                    // The step is `A y_box`: a row sum of products with values in [0, 1].
                    let n = self.net.nodes[*src].size;
                    add(Array1::from_elem(n, 1.01 * gamma((n + 2) as f64)));
                }
                Layer::Relu { src }
                | Layer::LeakyRelu { src, .. }
                | Layer::Sigmoid { src }
                | Layer::Tanh { src }
                | Layer::Unary { src, .. } => {
                    // Each coefficient is one product; the intercept sum has n terms. Slopes
                    // (alpha ones included) are at most 1 in absolute value on unstable neurons.
                    let rl = self.relax[i].as_ref().expect("relaxed before its charge");
                    let m = self.magnitude(*src);
                    let g = gamma((rl.lo_s.len() + 2) as f64);
                    add((0..rl.lo_s.len())
                        .map(|j| {
                            let unstable = if rl.unstable[j] { 1.0f64 } else { 0.0 };
                            let s = rl.lo_s[j].abs().max(rl.up_s[j].abs()).max(unstable);
                            (s * m[j] + rl.lo_b[j].abs().max(rl.up_b[j].abs())) * g
                        })
                        .collect());
                }
                Layer::MaxPool { src, windows } => {
                    // Overlapping windows add into one column, the bias gathers one term each.
                    let (l, u) = (&self.lower[*src], &self.upper[*src]);
                    let m = self.magnitude(*src);
                    let g = gamma((windows.len() + 2) as f64);
                    add(windows
                        .iter()
                        .map(|win| {
                            let k_lo = *win
                                .iter()
                                .max_by(|&&p, &&q| l[p].total_cmp(&l[q]))
                                .expect("non-empty window");
                            let umax = win.iter().map(|&q| u[q]).fold(f64::NEG_INFINITY, f64::max);
                            (m[k_lo] + umax.abs()) * g
                        })
                        .collect());
                }
            }
        }
        match (v, noise) {
            (Some(v), Some(e)) => v + e,
            (Some(v), None) => v,
            (None, Some(e)) => e.clone(),
            (None, None) => Array1::zeros(0),
        }
    }

    /// Adds `a` to the coefficients pending for layer `src`. Merging two contributions rounds
    /// each entry once: `u (|A1| + |A2|) m`, with `m >= |z_src|`, is charged to `abs_err`.
    fn add_into(
        &self,
        slot: &mut Option<Array2<f64>>,
        a: Array2<f64>,
        src: usize,
        abs_err: &mut Array1<f64>,
    ) {
        match slot {
            Some(p) => {
                if self.opts.sound {
                    let m = self.magnitude(src);
                    *abs_err += &((p.mapv(f64::abs) + a.mapv(f64::abs)).dot(&m) * gamma(1.0));
                }
                *p += &a;
            }
            None => *slot = Some(a),
        }
    }

    /// The backward pass from `target` with coefficients `c`.
    ///
    /// Rounding is charged where it happens (docs/bounds.md): the pass maintains
    /// `C y >= A z_i + bias - abs_err` for every reachable `z_i`; each step through layer `i`
    /// adds `|A| charges[i]`, so the error stays proportional to the values the network
    /// actually takes on the domain, and shrinks with it.
    fn backward_from(
        &self,
        target: usize,
        c: Array2<f64>,
        start: Start,
        alphas: Option<&Alphas>,
        record: bool,
    ) -> LinearBound {
        let net = self.net;
        let rows = c.nrows();
        let sound = self.opts.sound;
        let mut pending: Vec<Option<Array2<f64>>> = (0..=target).map(|_| None).collect();
        pending[target] = Some(c);
        let Start {
            mut bias,
            mut abs_err,
        } = start;
        // Underflow: at most this many roundings touch each row, each off by <= 4 subnormals
        // times the largest magnitude of any layer.
        let mut ops = 0.0f64;
        let mut relu_a = HashMap::new();
        let mut result: Option<Array2<f64>> = None;
        for i in (0..=target).rev() {
            let Some(a) = pending[i].take() else {
                continue;
            };
            if self.stop.stopped() {
                // The trivial bound: sound, refutes nothing; callers check `stop` themselves.
                return LinearBound {
                    a_in: Array2::zeros((rows, net.input_size())),
                    bias: Array1::from_elem(rows, f64::NEG_INFINITY),
                    lower: Array1::from_elem(rows, f64::NEG_INFINITY),
                    relu_a,
                };
            }
            if let Some(v) = self.charges.get(i).filter(|v| !v.is_empty()) {
                abs_err += &a.mapv(f64::abs).dot(v);
            }
            let bias_before = bias.clone();
            match &net.nodes[i].layer {
                Layer::Input => {
                    result = Some(a);
                }
                Layer::Affine { src, w, b, .. } => {
                    ops += (w.ncols() + 2) as f64;
                    bias += &a.dot(b);
                    let na = a.dot(w);
                    self.add_into(&mut pending[*src], na, *src, &mut abs_err);
                }
                Layer::Scale {
                    src, scale, shift, ..
                } => {
                    ops += (scale.len() + 2) as f64;
                    bias += &a.dot(shift);
                    let na = &a * scale;
                    self.add_into(&mut pending[*src], na, *src, &mut abs_err);
                }
                Layer::Add { a: pa, b: pb } | Layer::Sub { a: pa, b: pb } => {
                    let neg = matches!(net.nodes[i].layer, Layer::Sub { .. });
                    let other = if neg { -&a } else { a.clone() };
                    ops += 1.0;
                    self.add_into(&mut pending[*pa], a, *pa, &mut abs_err);
                    self.add_into(&mut pending[*pb], other, *pb, &mut abs_err);
                }
                Layer::Gather { src, index } => {
                    let n = net.nodes[*src].size;
                    let mut na = Array2::zeros((rows, n));
                    for (j, &k) in index.iter().enumerate() {
                        let mut dst = na.column_mut(k);
                        dst += &a.column(j);
                    }
                    ops += 1.0;
                    self.add_into(&mut pending[*src], na, *src, &mut abs_err);
                }
                Layer::Concat { parts } => {
                    // Exact: each part gets its own columns; a constant's go into the bias.
                    let mut off = 0;
                    for p in parts {
                        let n = p.size(&net.nodes);
                        let cols = a.slice(s![.., off..off + n]);
                        match p {
                            ConcatPart::Layer(k) => {
                                ops += 1.0;
                                self.add_into(&mut pending[*k], cols.to_owned(), *k, &mut abs_err);
                            }
                            ConcatPart::Const(c) => {
                                ops += (n + 2) as f64;
                                bias += &cols.dot(c);
                            }
                        }
                        off += n;
                    }
                }
                Layer::Mul { a: pa, b: pb } => {
                    if record {
                        relu_a.insert(i, a.clone());
                    }
                    let (la, lb, ub) = (&self.lower[*pa], &self.lower[*pb], &self.upper[*pb]);
                    let n = la.len();
                    ops += (n + 4) as f64;
                    let mut na = Array2::<f64>::zeros((rows, n));
                    let mut nb = Array2::<f64>::zeros((rows, n));
                    for r in 0..rows {
                        let mut bsum = 0.0;
                        for j in 0..n {
                            let c = a[[r, j]];
                            // McCormick: a b >= lb a + la b - la lb (c >= 0), and
                            // a b <= ub a + la b - la ub (c < 0); both exact in the reals.
                            let bk = if c >= 0.0 { lb[j] } else { ub[j] };
                            na[[r, j]] = c * bk;
                            nb[[r, j]] = c * la[j];
                            bsum -= c * (la[j] * bk);
                        }
                        bias[r] += bsum;
                    }
                    self.add_into(&mut pending[*pa], na, *pa, &mut abs_err);
                    self.add_into(&mut pending[*pb], nb, *pb, &mut abs_err);
                }
                Layer::Softmax { .. } => {
                    if record {
                        relu_a.insert(i, a.clone());
                    }
                    // An interval layer: constant lines at its own bounds, which already hold
                    // the executor's noise. Nothing flows further back.
                    let (l, u) = (&self.lower[i], &self.upper[i]);
                    ops += (l.len() + 2) as f64;
                    for r in 0..rows {
                        let mut bsum = 0.0;
                        for j in 0..l.len() {
                            let c = a[[r, j]];
                            bsum += if c >= 0.0 { c * l[j] } else { c * u[j] };
                        }
                        bias[r] += bsum;
                    }
                }
                Layer::Relu { src }
                | Layer::LeakyRelu { src, .. }
                | Layer::Sigmoid { src }
                | Layer::Tanh { src }
                | Layer::Unary { src, .. } => {
                    let rl = self.relax[i].as_ref().expect("relaxed in Analysis::new");
                    let alpha = alphas.and_then(|al| al.get(&i));
                    if record {
                        relu_a.insert(i, a.clone());
                    }
                    let n = rl.lo_s.len();
                    ops += (n + 2) as f64;
                    let a = a.as_standard_layout();
                    let a_s = a.as_slice().expect("standard layout");
                    let mut na = Array2::<f64>::zeros((rows, n));
                    let na_s = na.as_slice_mut().expect("fresh array");
                    let (lo_s, lo_b) = (rl.lo_s.as_slice().unwrap(), rl.lo_b.as_slice().unwrap());
                    let (up_s, up_b) = (rl.up_s.as_slice().unwrap(), rl.up_b.as_slice().unwrap());
                    let al_s = alpha.map(|al| al.as_slice().expect("alphas are standard layout"));
                    // Branch-free: the sign of each coefficient picks the line.
                    let mut lo_row = lo_s.to_vec();
                    for r in 0..rows {
                        let ar = &a_s[r * n..(r + 1) * n];
                        let out = &mut na_s[r * n..(r + 1) * n];
                        if let Some(al) = al_s {
                            let al = &al[r * n..(r + 1) * n];
                            for j in 0..n {
                                lo_row[j] = if rl.unstable[j] { al[j] } else { lo_s[j] };
                            }
                        }
                        let mut bsum = 0.0;
                        for ((((o, &v), &ls), (&lb, &us)), &ub) in out
                            .iter_mut()
                            .zip(ar)
                            .zip(&lo_row)
                            .zip(lo_b.iter().zip(up_s))
                            .zip(up_b)
                        {
                            let (p, q) = (v.max(0.0), v.min(0.0));
                            *o = p * ls + q * us;
                            bsum += p * lb + q * ub;
                        }
                        bias[r] += bsum;
                    }
                    self.add_into(&mut pending[*src], na, *src, &mut abs_err);
                }
                Layer::MaxPool { src, windows } => {
                    let (l, u) = (&self.lower[*src], &self.upper[*src]);
                    let n = net.nodes[*src].size;
                    let mut na = Array2::zeros((rows, n));
                    for (j, win) in windows.iter().enumerate() {
                        // Lower: y >= x_k for the element with the largest lower bound.
                        let k_lo = *win
                            .iter()
                            .max_by(|&&p, &&q| l[p].total_cmp(&l[q]))
                            .expect("non-empty window");
                        // Upper: y = x_k when k dominates every other element, else y <= max u.
                        let dominated = win.iter().all(|&q| q == k_lo || u[q] <= l[k_lo]);
                        let umax = win.iter().map(|&q| u[q]).fold(f64::NEG_INFINITY, f64::max);
                        for r in 0..rows {
                            let c = a[[r, j]];
                            if c >= 0.0 || dominated {
                                na[[r, k_lo]] += c;
                            } else {
                                bias[r] += c * umax;
                            }
                        }
                    }
                    ops += (windows.len() + 2) as f64;
                    self.add_into(&mut pending[*src], na, *src, &mut abs_err);
                }
            }
            if sound && bias != bias_before {
                // Each running-sum update of the bias rounds once.
                abs_err += &(bias.mapv(f64::abs) * gamma(1.0));
            }
        }
        let a_in = result.unwrap_or_else(|| Array2::zeros((rows, net.input_size())));
        let (l, u) = (&self.input.lower, &self.input.upper);
        let n_in = l.len();
        let mut lower = Array1::zeros(rows);
        for r in 0..rows {
            let row = a_in.row(r);
            let mut acc = bias[r];
            for j in 0..n_in {
                let v = row[j];
                acc += if v >= 0.0 { v * l[j] } else { v * u[j] };
            }
            lower[r] = acc;
        }
        if sound {
            let m_in: Array1<f64> = l.iter().zip(u).map(|(a, b)| a.abs().max(b.abs())).collect();
            // Concretisation: n_in products and n_in + 1 additions per row.
            let concretise =
                (a_in.mapv(f64::abs).dot(&m_in) + bias.mapv(f64::abs)) * gamma(n_in as f64 + 2.0);
            let big = self.mag_max.max(m_in.iter().fold(0.0, |x, &y| x.max(y)));
            let tiny = underflow(ops + n_in as f64 + 2.0) * (big + 1.0) * (rows as f64 + 1.0);
            for r in 0..rows {
                // The bookkeeping itself rounds to nearest: the factor covers it.
                let err = (abs_err[r] + concretise[r]) * (1.0 + 1e-10) + tiny;
                lower[r] = down(lower[r], err);
            }
        } else {
            lower -= &abs_err;
        }
        LinearBound {
            a_in,
            bias,
            lower,
            relu_a,
        }
    }

    /// Lower bounds of `c y` for the output layer.
    pub fn spec_lower(&self, c: &Array2<f64>, alphas: Option<&Alphas>) -> LinearBound {
        self.backward(self.net.output, c.clone(), alphas, alphas.is_some())
    }

    /// Lower and upper bounds of the output (IBP values for `Method::Ibp`, CROWN otherwise).
    pub fn output_bounds(&self, method: Method) -> (Vec<f64>, Vec<f64>) {
        let o = self.net.output;
        if method == Method::Ibp {
            return (self.lower[o].to_vec(), self.upper[o].to_vec());
        }
        let n = self.net.output_size();
        let mut c = Array2::zeros((2 * n, n));
        for j in 0..n {
            c[[j, j]] = 1.0;
            c[[n + j, j]] = -1.0;
        }
        let lb = self.bound_spec(&c, method);
        let lo = lb.slice(s![..n]).to_vec();
        let hi = lb.slice(s![n..]).mapv(|v| -v).to_vec();
        (lo, hi)
    }

    /// A linear bound's lower bounds of `c y`, raised to the output box's (IBP, intersected
    /// with CROWN per neuron) where that is tighter: both are sound, and over a wide input set
    /// the linear bound can be the looser one.
    fn with_output_box(&self, c: &Array2<f64>, linear: Array1<f64>) -> Array1<f64> {
        if !self.opts.intersect_ibp {
            return linear;
        }
        let boxed = self.bound_spec(c, Method::Ibp);
        linear
            .iter()
            .zip(boxed.iter())
            .map(|(&l, &b)| l.max(b))
            .collect()
    }

    /// Lower bounds of `c y` by `method` (IBP: interval arithmetic on the output bounds).
    pub fn bound_spec(&self, c: &Array2<f64>, method: Method) -> Array1<f64> {
        match method {
            Method::Ibp => {
                let o = self.net.output;
                let (l, u) = (&self.lower[o], &self.upper[o]);
                c.axis_iter(Axis(0))
                    .map(|row| {
                        let mut acc = 0.0;
                        let mut mag = 0.0;
                        for j in 0..row.len() {
                            let v = row[j];
                            let t = if v >= 0.0 { v * l[j] } else { v * u[j] };
                            acc += t;
                            mag += t.abs();
                        }
                        self.widen(acc, gamma(row.len() as f64 + 1.0) * mag, true)
                    })
                    .collect()
            }
            Method::Crown => self.with_output_box(c, self.spec_lower(c, None).lower),
            Method::AlphaCrown { iters, lr } => {
                self.with_output_box(c, crate::alpha::optimize(self, c, iters, lr).lower)
            }
        }
    }
}

/// The relaxation of an elementwise [`UnaryFn`] layer; an operand outside the function's domain
/// is a coded error (no sound bound exists there).
fn relax_unary(f: UnaryFn, lower: &Array1<f64>, upper: &Array1<f64>, name: &str) -> Result<Relax> {
    let n = lower.len();
    let mut r = Relax {
        lo_s: Array1::zeros(n),
        lo_b: Array1::zeros(n),
        up_s: Array1::zeros(n),
        up_b: Array1::zeros(n),
        unstable: vec![false; n],
    };
    for j in 0..n {
        let (l, u) = (lower[j], upper[j]);
        if !f.in_domain(l, u) {
            return Err(BoundsError::new(
                codes::OUTSIDE_DOMAIN,
                format!(
                    "{name}: the operand of {} may be {l:e}..{u:e} at element {j}, outside its domain{}",
                    f.name(),
                    match f.domain() {
                        Some((_, true)) => " (x > 0)",
                        Some((_, false)) => " (x >= 0)",
                        None => " (finite values)",
                    }
                ),
            ));
        }
        let (yl, yu) = f.interval(l, u);
        if !yl.is_finite() || !yu.is_finite() {
            return Err(BoundsError::new(
                codes::OUTSIDE_DOMAIN,
                format!(
                    "{name}: {} overflows on the operand's range {l:e}..{u:e}",
                    f.name()
                ),
            ));
        }
        (r.lo_s[j], r.lo_b[j], r.up_s[j], r.up_b[j]) = f.relax(l, u, yl, yu);
    }
    Ok(r)
}

/// `[la, ua] * [lb, ub]`, outward rounded (each product rounds once).
pub(crate) fn interval_product(la: f64, ua: f64, lb: f64, ub: f64) -> (f64, f64) {
    let p = [la * lb, la * ub, ua * lb, ua * ub];
    if p.iter().any(|v| v.is_nan()) {
        return (f64::NEG_INFINITY, f64::INFINITY);
    }
    let lo = p.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = p.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    (
        lo.next_down() - f64::from_bits(1),
        hi.next_up() + f64::from_bits(1),
    )
}

/// `[l, u]^2`, outward rounded: 0 when the interval contains 0.
pub(crate) fn interval_square(l: f64, u: f64) -> (f64, f64) {
    let (a, b) = (l * l, u * u);
    if a.is_nan() || b.is_nan() {
        return (f64::NEG_INFINITY, f64::INFINITY);
    }
    let hi = a.max(b).next_up() + f64::from_bits(1);
    if l <= 0.0 && u >= 0.0 {
        return (0.0, hi);
    }
    ((a.min(b).next_down() - f64::from_bits(1)).max(0.0), hi)
}

/// Softmax bounds per group: `y_i = 1 / (1 + sum_{j != i} exp(x_j - x_i))` is smallest at
/// `x_j = u_j`, `x_i = l_i` and largest at the other corner; each step rounds outward (libm's
/// exp within 4 ulp, as for sigmoid).
pub(crate) fn softmax_interval(
    l: &Array1<f64>,
    u: &Array1<f64>,
    groups: &[Vec<usize>],
) -> (Array1<f64>, Array1<f64>) {
    let n = l.len();
    // Positions in no group (a causal mask's future) are exactly 0.
    let (mut lo, mut hi) = (Array1::zeros(n), Array1::zeros(n));
    let exp_up = |d: f64| {
        let e = d.exp();
        (e + 8.0 * U64 * e).next_up()
    };
    let exp_down = |d: f64| {
        let e = d.exp();
        (e - 8.0 * U64 * e).next_down().max(0.0)
    };
    for g in groups {
        let k = g.len() as f64;
        let grow = 1.0 + gamma(k + 2.0);
        let shrink = 1.0 - gamma(k + 2.0);
        for &i in g {
            let (mut s_hi, mut s_lo) = (0.0f64, 0.0f64);
            for &j in g {
                if j != i {
                    s_hi += exp_up((u[j] - l[i]).next_up());
                    s_lo += exp_down((l[j] - u[i]).next_down());
                }
            }
            let s_hi = (s_hi * grow).next_up();
            let s_lo = (s_lo * shrink).next_down().max(0.0);
            let y_lo = if s_hi.is_finite() {
                (1.0 / (1.0 + s_hi).next_up()).next_down() - f64::MIN_POSITIVE
            } else {
                0.0
            };
            let y_hi = (1.0 / (1.0 + s_lo).next_down()).next_up();
            lo[i] = y_lo.max(0.0);
            hi[i] = y_hi.min(1.0);
        }
    }
    (lo, hi)
}

/// Bounds of the output (or of `spec * output` when a spec is given) over `input`.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct OutputBounds {
    pub lower: Vec<f64>,
    pub upper: Vec<f64>,
}

/// One-call entry point: bounds of the network's output, or of `spec y` when `spec` is given.
pub fn compute_bounds(
    net: &BoundNet,
    input: &InputBox,
    method: Method,
    spec: Option<&Array2<f64>>,
    opts: CrownOptions,
) -> Result<OutputBounds> {
    let an = Analysis::new(net, input, method, opts, &[])?
        .expect("no splits: the domain is never empty");
    match spec {
        None => {
            let (lower, upper) = an.output_bounds(method);
            Ok(OutputBounds { lower, upper })
        }
        Some(c) => {
            if c.ncols() != net.output_size() {
                return Err(BoundsError::new(
                    codes::BAD_SPEC,
                    format!(
                        "specification has {} columns, the output has {} values",
                        c.ncols(),
                        net.output_size()
                    ),
                ));
            }
            let rows = c.nrows();
            let mut both = Array2::zeros((2 * rows, c.ncols()));
            both.slice_mut(s![..rows, ..]).assign(c);
            both.slice_mut(s![rows.., ..]).assign(&(-c));
            let lb = an.bound_spec(&both, method);
            Ok(OutputBounds {
                lower: lb.slice(s![..rows]).to_vec(),
                upper: lb.slice(s![rows..]).mapv(|v| -v).to_vec(),
            })
        }
    }
}
