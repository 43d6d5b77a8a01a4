//! Float error rules for the ops `lower.rs` builds out of several layers named `{node}.{part}`
//! (layer norm, softmax, attention, matmul of two activations, division, the broadcasts of a
//! binary op) and for the elementwise functions of `unary.rs`.
//!
//! The per-layer rules of the parent module are sound only where the executor computes each
//! layer's value. For a part layer that is not so, the rule here either bounds a *virtual*
//! value (an exact function of executor values, e.g. `1 / b` inside `a / b`, whose rounding the
//! next layer carries) or bounds the whole op at its last layer from the executor's arithmetic
//! (layer norm: a relative argument that one layer at a time would lose). Layers whose value
//! the executor never computes and no later rule reads are `Internal`: they get no budget.
//!
//! Each rule follows the kernel as written (tl-kernels `exec/session/fast_kernels.rs`,
//! `exec/session/batched.rs`, `cpu/norm.rs`, `cpu/attention.rs`, `cpu/elementwise.rs`), with
//! `u` the unit roundoff, `gamma(n) = n u / (1 - n u)` (Higham 3.1) and `eta` half the
//! smallest subnormal:
//!
//! - **product of two computed tensors** `fl(a * b)`: `|a| e_b + |b| e_a + e_a e_b` from the
//!   operands plus `u (|a| + e_a)(|b| + e_b)`. Inside a matmul the product is left exact (its
//!   rounding, or the FMA's absence of one, belongs to the sum).
//! - **matmul of two computed tensors** (attention scores and weights x values too): the GEMM
//!   micro-kernels, the score kernel (`acc += q * k`) and the weights x values loop (`d += w * v`)
//!   all start at 0 and add one product per step, in some order: `gamma(k + 1) sum |a_t b_t|`.
//! - **attention scale**: `scale * acc` with the scale rounded once to f32 (and the f64 scale
//!   within 2 ulp of `1 / sqrt(E)`): `gamma(3)` relative.
//! - **softmax** (max subtraction, `exp`, a sequential sum, one division per element): for the
//!   computed inputs, with `p_i <= pu_i` over the widened box `[l - e, u + e]`,
//!   `|dp_i| <= min(1/4, pu_i) (e_i + max_j e_j)` (the Jacobian `diag(p) - p p^T`), and the
//!   rounding, relative to `p_i`, `(1 + t)(1 + u) / ((1 - t)(1 - gamma(n - 1))) - 1` with
//!   `t = (1 + 8u) exp(D u) - 1` for the subtraction (`|x_i - max| <= D`) and `exp` within 4 ulp
//!   (the libm assumption), plus `(16 n + 20) eta` for subnormal exponentials (the sum is >= 1:
//!   the maximum's exponential is `exp(0)`). Masked positions are exactly 0 in both.
//! - **layer norm** (`mean = fl(sum)/n`, `c = fl(x - mean)`, `var = fl(sum fl(c^2))/n`,
//!   `inv = fl(1 / fl(sqrt(fl(var + f32(eps)))))`, `y = fl(c * inv)`): the centered values carry
//!   `e_x + mean(e_x) + gamma(d + 2)(sum (|x| + e_x) / d + |x| + e_x)`. With `s = sqrt(var +
//!   eps)` of the real input, `s >= s_lo` (the range of `var + eps`), `E` the largest centered
//!   error of the row and `k = E / s_lo`: `|computed var + eps - s^2| <= s^2 rho`,
//!   `rho = (2k + k^2)(1 + g) + g + d eta / s_lo^2`, `g = gamma(d + 3)` (Cauchy-Schwarz:
//!   `mean |c| <= sqrt(var)`), so the computed `sqrt` is `s q` with `q` in
//!   `[(1 - rho)(1 - u), (1 + rho)(1 + u)]` (needs `rho < 1`) and
//!   `|y - c / s| <= (e_c / s_lo) Q + R (Q - 1)`-like terms with `R = min(sqrt(d - 1), |c| / s_lo)`
//!   the largest `|c| / s` (see `layer_norm`). The weight and bias that follow are two more
//!   roundings with the constants' own: `|w| e + gamma(3)(|w| (|y| + e) + |b|)`.
//! - **division** `fl(a / b)` (`b` away from 0): `1 / b` is virtual, `|1/b_c - 1/b| <= e_b /
//!   (d (d - e_b))` with `d` the distance of b's range from 0, and the product's one rounding is
//!   the division's.
//! - **exp, log, erf, gelu (erf form)** under the libm assumption, **sqrt** correctly rounded
//!   (IEEE 754), **pow** by 2, 0.5, -1, -0.5 through `powf` (libm): the largest derivative over
//!   `[l - e, u + e]` times `e`, plus the rounding (4 ulp of the largest value for a libm call;
//!   for gelu, `0.5 x (1 + erf(x k))` with its three roundings and erf's argument's).
//! - **sum/mean** reductions: the dot product rule of the parent module (1/count is the division).

use ndarray::Array1;
use tl_ir::{Graph, NodeKind, Op};

use crate::net::{BoundNet, Layer};
use crate::rounding::gamma_with;
use crate::unary::UnaryFn;

/// What a composite rule decided for one layer.
pub(super) enum Step {
    /// The bound of |computed - real| per element, and the rule's description.
    Bound(Array1<f64>, String),
    /// A layer the executor never computes and only a later rule of the same op reads.
    Internal,
    /// The rule uses a libm function: the bound rests on the libm assumption.
    Libm(Array1<f64>, String),
}

/// The inputs a rule reads.
pub(super) struct Cx<'a> {
    pub net: &'a BoundNet,
    pub graph: &'a Graph,
    pub lower: &'a [Array1<f64>],
    pub upper: &'a [Array1<f64>],
    pub errs: &'a [Array1<f64>],
    pub u: f64,
    pub eta: f64,
}

impl Cx<'_> {
    fn mag(&self, k: usize) -> Array1<f64> {
        ndarray::Zip::from(&self.lower[k])
            .and(&self.upper[k])
            .map_collect(|l, h| l.abs().max(h.abs()))
    }
    fn g(&self, n: f64) -> f64 {
        gamma_with(n, self.u)
    }
    /// The error of a layer an earlier rule marked internal is never read.
    fn err(&self, k: usize) -> Result<&Array1<f64>, String> {
        let e = &self.errs[k];
        if e.len() != self.net.nodes[k].size || e.iter().any(|v| v.is_nan()) {
            return Err(format!(
                "reads `{}`, whose value the executor does not compute",
                self.net.nodes[k].name
            ));
        }
        Ok(e)
    }
}

/// The graph node a layer belongs to and the part of it (`""` for the layer named as the node).
pub(super) fn owner<'g>(graph: &'g Graph, layer: &str) -> Option<(&'g tl_ir::Node, String)> {
    let mut best: Option<&tl_ir::Node> = None;
    for n in &graph.nodes {
        let fits = layer == n.name
            || (layer.len() > n.name.len()
                && layer.starts_with(n.name.as_str())
                && layer.as_bytes()[n.name.len()] == b'.');
        if fits && best.is_none_or(|b| n.name.len() > b.name.len()) {
            best = Some(n);
        }
    }
    let node = best?;
    let part = layer[node.name.len()..].trim_start_matches('.').to_string();
    Some((node, part))
}

fn op_of(node: &tl_ir::Node) -> Option<Op> {
    match &node.kind {
        NodeKind::Op { op, .. } => Some(*op),
        _ => None,
    }
}

/// The composite rule for layer `i`, or `None` when the parent module's rules apply.
pub(super) fn rule(cx: &Cx, i: usize) -> Option<Result<Step, String>> {
    let node = &cx.net.nodes[i];
    let (owner_node, part) = owner(cx.graph, &node.name)?;
    let op = op_of(owner_node)?;
    let attention = matches!(op, Op::AttentionWeights | Op::ScaledDotProductAttention);
    let matmul = attention || op == Op::Matmul;
    let out = match (&node.layer, op, part.as_str()) {
        (Layer::Gather { src, index }, _, p)
            if p.starts_with("broadcast_") || ((p == "lhs" || p == "rhs") && matmul) =>
        {
            cx.err(*src).map(|e| {
                Step::Bound(
                    index.iter().map(|&k| e[k]).collect(),
                    "data movement, exact".into(),
                )
            })
        }
        (Layer::Mul { a, b }, _, "products") if matmul => product(cx, *a, *b, false),
        (Layer::Mul { a, b }, Op::Mul | Op::Div, "") => product(cx, *a, *b, true),
        (Layer::Affine { src, w, .. }, _, "") if matmul => {
            if !matches!(&cx.net.nodes[*src].layer, Layer::Mul { .. })
                || owner(cx.graph, &cx.net.nodes[*src].name).map(|(n, p)| (n.name.clone(), p))
                    != Some((owner_node.name.clone(), "products".to_string()))
            {
                return Some(Err(
                    "a matmul layer that does not sum its own products: not modelled".into(),
                ));
            }
            matmul_sum(cx, *src, w)
        }
        (
            Layer::Scale {
                src, scale, shift, ..
            },
            _,
            "scaled",
        ) if attention => cx.err(*src).map(|ex| {
            let mx = cx.mag(*src) + ex;
            let sa = scale.mapv(f64::abs);
            let e = &sa * ex + (&sa * &mx + shift.mapv(f64::abs)) * cx.g(3.0) + 3.0 * cx.eta;
            Step::Bound(e, "attention scale, gamma(3)".into())
        }),
        (Layer::Softmax { src, groups }, _, p)
            if op == Op::Softmax && p.is_empty()
                || attention && (p == "weights" || p.is_empty()) =>
        {
            softmax(cx, *src, groups, node.size)
        }
        (
            Layer::Unary {
                src,
                f: UnaryFn::Reciprocal,
            },
            Op::Div,
            "reciprocal",
        ) => reciprocal(cx, *src),
        (Layer::Unary { src, f }, _, "") => unary(cx, op, *src, *f),
        (Layer::Affine { src, .. }, Op::LayerNorm, "centered") => centered(cx, *src, i),
        (
            Layer::Unary { .. } | Layer::Affine { .. } | Layer::Gather { .. },
            Op::LayerNorm,
            "squared" | "var_eps" | "rsqrt" | "rsqrt_b",
        ) => Ok(Step::Internal),
        (Layer::Mul { a, b }, Op::LayerNorm, "normalized" | "") => layer_norm(cx, *a, *b),
        (
            Layer::Scale {
                src, scale, shift, ..
            },
            Op::LayerNorm,
            "",
        ) => cx.err(*src).map(|ex| {
            let mx = cx.mag(*src) + ex;
            let sa = scale.mapv(f64::abs);
            let e = &sa * ex + (&sa * &mx + shift.mapv(f64::abs)) * cx.g(3.0) + 3.0 * cx.eta;
            Step::Bound(
                e,
                "layer_norm weight and bias, gamma(3) with the constants' rounding".into(),
            )
        }),
        // `c / x` as `c * (1 / x)`: the parent module's scale rule (c rounded, one division).
        (Layer::Scale { .. }, Op::Div, "") => return None,
        (_, Op::LayerNorm | Op::Softmax | Op::Div, _) => Err(format!(
            "{} layer `{}` of {op:?}: not modelled",
            node.layer.kind_name(),
            node.name
        )),
        _ if matmul => Err(format!(
            "{} layer `{}` of {op:?}: not modelled",
            node.layer.kind_name(),
            node.name
        )),
        _ => return None,
    };
    Some(out)
}

/// `a * b` of two computed tensors; `rounded`: the executor rounds the product here.
fn product(cx: &Cx, a: usize, b: usize, rounded: bool) -> Result<Step, String> {
    let (ea, eb) = (cx.err(a)?, cx.err(b)?);
    let (ma, mb) = (cx.mag(a), cx.mag(b));
    let mut e = &ma * eb + &mb * ea + ea * eb;
    if rounded {
        e = e + (&ma + ea) * (&mb + eb) * cx.u + cx.eta;
        Ok(Step::Bound(
            e,
            "product of two computed tensors, one rounding".into(),
        ))
    } else {
        Ok(Step::Bound(
            e,
            "exact product (rounded in the matmul's sum)".into(),
        ))
    }
}

/// The 0/1 summing layer of a matmul of two computed tensors.
fn matmul_sum(cx: &Cx, prod: usize, w: &ndarray::Array2<f64>) -> Result<Step, String> {
    let ep = cx.err(prod)?;
    let mp = cx.mag(prod) + ep;
    let mut e = Array1::zeros(w.nrows());
    let mut kmax = 0usize;
    for (j, row) in w.outer_iter().enumerate() {
        let (mut prop, mut abs, mut k) = (0.0, 0.0, 0usize);
        for (t, &c) in row.iter().enumerate() {
            if c != 0.0 {
                if c != 1.0 {
                    return Err("a matmul sum with a coefficient other than 1".into());
                }
                prop += ep[t];
                abs += mp[t];
                k += 1;
            }
        }
        kmax = kmax.max(k);
        e[j] = prop + cx.g(k as f64 + 1.0) * abs + (2 * k + 1) as f64 * cx.eta;
    }
    Ok(Step::Bound(
        e,
        format!(
            "matmul of two computed tensors, gamma({}) over |a||b|",
            kmax + 1
        ),
    ))
}

/// Softmax over each group (positions in no group are exactly 0).
fn softmax(cx: &Cx, src: usize, groups: &[Vec<usize>], size: usize) -> Result<Step, String> {
    let ex = cx.err(src)?;
    let (l, h) = (&cx.lower[src], &cx.upper[src]);
    let u = cx.u;
    let mut e = Array1::zeros(size);
    for g in groups {
        let n = g.len();
        if n == 0 {
            continue;
        }
        let emax = g.iter().fold(0.0f64, |m, &j| m.max(ex[j]));
        let top = g
            .iter()
            .fold(f64::NEG_INFINITY, |m, &j| m.max(h[j] + ex[j]));
        let sum_rounding = cx.g(n.saturating_sub(1) as f64);
        for &i in g {
            let li = l[i] - ex[i];
            let ui = h[i] + ex[i];
            // The largest p_i over the widened box, padded for the f64 evaluation.
            let others: f64 = g
                .iter()
                .filter(|&&j| j != i)
                .map(|&j| (l[j] - ex[j] - ui).exp())
                .sum();
            let pu = ((1.0 / (1.0 + others)) * (1.0 + 1e-12)).min(1.0);
            let lip = pu.min(0.25) * (ex[i] + emax);
            let d = top - li;
            let t = (1.0 + 8.0 * u) * (d * u * (1.0 + 1e-9)).exp_m1() + 8.0 * u * (1.0 + 1e-9);
            if !(t < 0.5 && sum_rounding < 0.5) {
                return Err(format!(
                    "softmax inputs span {d:.3e}: the rounding of exp(x - max) is not bounded"
                ));
            }
            let r = (1.0 + t) * (1.0 + u) / ((1.0 - t) * (1.0 - sum_rounding)) - 1.0;
            e[i] = lip + pu * r * (1.0 + 1e-9) + (16 * n + 20) as f64 * cx.eta;
        }
    }
    Ok(Step::Libm(
        e,
        "softmax: Lipschitz min(1/4, p) on the widened box + exp (libm within 4 ulp, assumed), sum and division".into(),
    ))
}

/// The distance of `[l, h]` from 0 (0 when it contains 0).
fn distance_from_zero(l: f64, h: f64) -> f64 {
    if l > 0.0 {
        l
    } else if h < 0.0 {
        -h
    } else {
        0.0
    }
}

/// `1 / b` inside `a / b`: a virtual value, exact; the division's rounding is the product's.
fn reciprocal(cx: &Cx, src: usize) -> Result<Step, String> {
    let eb = cx.err(src)?;
    let (l, h) = (&cx.lower[src], &cx.upper[src]);
    let mut e = Array1::zeros(eb.len());
    for j in 0..eb.len() {
        let d = distance_from_zero(l[j], h[j]);
        if d - eb[j] <= 0.0 {
            return Err(format!(
                "the divisor's range [{:.3e}, {:.3e}] widened by its error {:.3e} reaches 0",
                l[j], h[j], eb[j]
            ));
        }
        e[j] = eb[j] / (d * (d - eb[j]));
    }
    Ok(Step::Bound(
        e,
        "1/b inside a division, exact (rounded once with the product)".into(),
    ))
}

/// An elementwise function of `unary.rs` computed by the executor as the graph op says.
fn unary(cx: &Cx, op: Op, src: usize, f: UnaryFn) -> Result<Step, String> {
    let ex = cx.err(src)?;
    let (l, h) = (&cx.lower[src], &cx.upper[src]);
    let u = cx.u;
    // Which implementation the executor calls: sqrt is IEEE (correctly rounded), pow goes
    // through powf, the rest are the libm calls of the assumption.
    let via_pow = op == Op::Pow;
    if !via_pow
        && !matches!(
            (op, f),
            (Op::Exp, UnaryFn::Exp)
                | (Op::Log, UnaryFn::Log)
                | (Op::Sqrt, UnaryFn::Sqrt)
                | (Op::Erf, UnaryFn::Erf)
                | (Op::Gelu, UnaryFn::Gelu)
        )
    {
        return Err(format!("{} lowered from {op:?}: not modelled", f.name()));
    }
    let mut e = Array1::zeros(ex.len());
    for j in 0..ex.len() {
        let (a, b) = (l[j] - ex[j], h[j] + ex[j]);
        if !f.in_domain(a, b) || !(a.is_finite() && b.is_finite()) {
            return Err(format!(
                "{}'s operand range [{:.3e}, {:.3e}] widened by its error {:.3e} leaves the domain",
                f.name(),
                l[j],
                h[j],
                ex[j]
            ));
        }
        let (ylo, yhi) = f.interval(a, b);
        let my = ylo.abs().max(yhi.abs());
        let d = distance_from_zero(a, b);
        let slope = match f {
            UnaryFn::Exp => b.exp() * (1.0 + 1e-12),
            UnaryFn::Log => 1.0 / a * (1.0 + 1e-12),
            UnaryFn::Sqrt => 0.5 / a.sqrt() * (1.0 + 1e-12),
            UnaryFn::Square => 2.0 * a.abs().max(b.abs()),
            UnaryFn::Reciprocal => 1.0 / (d * d) * (1.0 + 1e-12),
            UnaryFn::Rsqrt => 0.5 / (a * a.sqrt()) * (1.0 + 1e-12),
            UnaryFn::Erf => {
                (2.0 / std::f64::consts::PI.sqrt() * (-d * d).exp() * (1.0 + 1e-9)).min(1.13)
            }
            // |gelu'| <= 1.129 (its maximum, at sqrt 2; its minimum is -0.129).
            UnaryFn::Gelu => 1.13,
            UnaryFn::GeluTanh => return Err("gelu (tanh form): not modelled".into()),
        };
        let mut prop = slope * ex[j];
        if f == UnaryFn::Sqrt {
            // Hoelder: |sqrt a - sqrt b| <= sqrt |a - b|, finite at 0.
            prop = if prop.is_finite() {
                prop.min(ex[j].sqrt() * (1.0 + 1e-12))
            } else {
                ex[j].sqrt() * (1.0 + 1e-12)
            };
        }
        let local = match f {
            UnaryFn::Sqrt if !via_pow => u * my + cx.eta,
            UnaryFn::Gelu => {
                // 0.5 x (1 + erf(x k)): the argument's gamma(2) (erf' <= 2/sqrt(pi), k = 1/sqrt 2),
                // erf's 4 ulp, the add, the product (0.5 x is exact).
                let m = a.abs().max(b.abs());
                let de = 0.8 * cx.g(2.0) * m + 8.0 * u + 8.0 * cx.eta;
                let dp = de + u * (2.0 + de);
                0.5 * m * dp + u * 0.5 * m * (2.0 + dp) + 2.0 * cx.eta
            }
            _ => 8.0 * u * my + 8.0 * cx.eta,
        };
        e[j] = prop + local;
    }
    let rule = format!(
        "{} (Lipschitz on the widened range) + {}",
        f.name(),
        if f == UnaryFn::Sqrt && !via_pow {
            "one rounding (IEEE sqrt)"
        } else {
            "libm within 4 ulp (assumed)"
        }
    );
    if f == UnaryFn::Sqrt && !via_pow {
        Ok(Step::Bound(e, rule))
    } else {
        Ok(Step::Libm(e, rule))
    }
}

/// `x - mean(x)` over each row, as the layer norm kernel computes it. `i` is the centered layer.
fn centered(cx: &Cx, src: usize, i: usize) -> Result<Step, String> {
    let ex = cx.err(src)?;
    let Layer::Affine { w, .. } = &cx.net.nodes[i].layer else {
        unreachable!("matched as an affine layer")
    };
    let mx = cx.mag(src) + ex;
    let mut e = Array1::zeros(w.nrows());
    let mut dmax = 0usize;
    for (j, row) in w.outer_iter().enumerate() {
        // The row's group: the inputs with a nonzero coefficient.
        let (mut sum_e, mut sum_m, mut d) = (0.0, 0.0, 0usize);
        for (t, &c) in row.iter().enumerate() {
            if c != 0.0 {
                sum_e += ex[t];
                sum_m += mx[t];
                d += 1;
            }
        }
        if d == 0 {
            return Err("an empty layer_norm row".into());
        }
        dmax = dmax.max(d);
        let df = d as f64;
        e[j] = ex[j] + sum_e / df + cx.g(df + 2.0) * (sum_m / df + mx[j]) + (df + 2.0) * cx.eta;
    }
    Ok(Step::Bound(
        e,
        format!("layer_norm centering, gamma({})", dmax + 2),
    ))
}

/// The normalized values `c / sqrt(var + eps)` from the centered values `c` (layer `cen`) and
/// the broadcast reciprocal standard deviation (layer `rb`): one rule for the whole chain.
fn layer_norm(cx: &Cx, cen: usize, rb: usize) -> Result<Step, String> {
    let structure = || "a layer_norm lowered in an unexpected shape: not modelled".to_string();
    let Layer::Gather { src: rs, index } = &cx.net.nodes[rb].layer else {
        return Err(structure());
    };
    let Layer::Unary {
        src: var,
        f: UnaryFn::Rsqrt,
    } = &cx.net.nodes[*rs].layer
    else {
        return Err(structure());
    };
    let Layer::Affine { src: sq, w, .. } = &cx.net.nodes[*var].layer else {
        return Err(structure());
    };
    match &cx.net.nodes[*sq].layer {
        Layer::Unary {
            src,
            f: UnaryFn::Square,
        } if *src == cen => {}
        _ => return Err(structure()),
    }
    let ec = cx.err(cen)?;
    let mc = cx.mag(cen);
    let u = cx.u;
    let groups = w.nrows();
    // Per group: its size, its largest centered error.
    let mut size = vec![0usize; groups];
    let mut emax = vec![0.0f64; groups];
    for (j, &g) in index.iter().enumerate() {
        if g >= groups {
            return Err(structure());
        }
        size[g] += 1;
        emax[g] = emax[g].max(ec[j]);
    }
    let mut e = Array1::zeros(index.len());
    for (j, &g) in index.iter().enumerate() {
        let s2 = cx.lower[*var][g];
        if !(s2 > 0.0) {
            return Err(format!(
                "var + eps of row {g} may reach {s2:.3e}: the standard deviation is not bounded away from 0"
            ));
        }
        let s_lo = s2.sqrt() * (1.0 - 1e-12);
        let d = size[g] as f64;
        let k = emax[g] / s_lo;
        let gr = cx.g(d + 3.0);
        let rho = ((2.0 * k + k * k) * (1.0 + gr) + gr + d * cx.eta / (s_lo * s_lo)) * (1.0 + 1e-9);
        if !(rho < 0.5) {
            return Err(format!(
                "the centered error {:.3e} is not small against the standard deviation {s_lo:.3e} of row {g}",
                emax[g]
            ));
        }
        // sqrt(computed var + eps) = s q (rounded sqrt); inv = (1/(s q))(1 + d1); y = c inv (1 + d2).
        let q_hi = 1.0 / ((1.0 - rho) * (1.0 - u)) * (1.0 + u) * (1.0 + u);
        let q_lo = 1.0 / ((1.0 + rho) * (1.0 + u)) * (1.0 - u) * (1.0 - u);
        let dev = (q_hi - 1.0).max(1.0 - q_lo) * (1.0 + 1e-9);
        let r = (d - 1.0).max(0.0).sqrt().min(mc[j] / s_lo);
        e[j] = ec[j] / s_lo * q_hi + r * dev + 4.0 * cx.eta;
    }
    Ok(Step::Bound(
        e,
        "layer_norm: centered error over the smallest standard deviation, and the relative error of sqrt(var + eps)".into(),
    ))
}
