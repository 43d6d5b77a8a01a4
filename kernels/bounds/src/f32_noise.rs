//! The f32 executor's rounding error as bounded noise on each layer's output.
//!
//! With `m` an upper bound of |value| of a layer's inputs (from the bounds computed so far, which
//! already enclose the executor's values), the executor's output of the layer differs from the
//! exact function of its (already perturbed) inputs by at most:
//! - dot products of length n (weights rounded to f32 too): `gamma32(n + 2) (|W| m + |b|)`, with
//!   `n + 2` doubled for coefficients the executor does not store (a pool's, layer norm's `1/n`);
//! - elementwise scale and shift by constants: `gamma32(4) (|s| m + |t|)`; add/sub:
//!   `u32 (m_a + m_b)`;
//! - batch norm, whose `s = w / sqrt(var + eps)` and `t = b - mean s` the executor folds in f32
//!   (cpu/norm.rs, exec/session/norms.rs) before `y = v s + t`: `s` carries at most 6 roundings
//!   (the f32 parameters, add, sqrt, div, mul), `mean s` 8, `t` 10 relative to `|b| + |mean s|`
//!   (it may cancel), and the two output operations 2 more: `gamma32(12) (|s| m + |b| + |mean s|)`;
//! - relu, max-pool, gather, concat (and pad, a gather of its input and its fill): exact, but
//!   a constant part of a concat (a pad's fill value) is the executor's f32 copy of it:
//!   `gamma32(4) |c|`, as a constant shift's; leaky relu: `gamma32(2) alpha m` (the slope is
//!   rounded to f32 too);
//! - sigmoid, tanh: 8 u32 absolute (f32 `exp`/`tanh` assumed accurate to 4 ulp: an assumption
//!   named in docs/bounds.md);
//! - the input: the f32 rounding of a real point of the box, `u32 |x|`;
//! - exp, log, sqrt, square, reciprocal, rsqrt, erf, gelu: `UnaryFn::f32_noise` (unary.rs),
//!   relative to the output's magnitude (exp, log, erf under the libm assumption);
//! - a product of two tensors: `u32 m_a m_b` (the executor's matmul of two activations is
//!   lowered to these products and a 0/1 affine sum, whose dot-product rule covers any order);
//! - softmax: `2.2 (R + 6) u32 + gamma32(n + 2)` absolute (outputs are at most 1), with `R` the
//!   group's range (cpu/reduce.rs subtracts the maximum first);
//! - layer norm is lowered to centering (affine), square, mean + eps (affine), rsqrt, a product
//!   and a scale, the two-pass order of cpu/norm.rs, so each step's rule applies.
//!
//! The noise enters IBP as a widening and CROWN as a `|A| e` term at each layer, so the bounds
//! contain both the exact outputs and the executor's.

use ndarray::Array1;

use crate::crown::Analysis;
use crate::net::{ConcatPart, Layer};
use crate::rounding::{gamma_with, U32};

fn mag(an: &Analysis, i: usize) -> Array1<f64> {
    ndarray::Zip::from(&an.lower[i])
        .and(&an.upper[i])
        .map_collect(|l, u| l.abs().max(u.abs()))
}

/// Gradual underflow of one f32 operation (the executor does not flush denormals).
const TINY: f64 = 2.0 * 1.401298464324817e-45;

/// Noise bound of layer `i` (its parents' bounds must be known).
pub fn layer_noise(an: &Analysis, i: usize) -> Array1<f64> {
    let node = &an.net.nodes[i];
    let bump = 1.0 + 1e-9; // the bookkeeping itself rounds to nearest
    let e = match &node.layer {
        Layer::Input => {
            let m: Array1<f64> = an
                .input
                .lower
                .iter()
                .zip(&an.input.upper)
                .map(|(l, u)| l.abs().max(u.abs()))
                .collect();
            m * U32
        }
        Layer::Affine {
            src,
            w_abs,
            b,
            coef_ulps,
            ..
        } => {
            // Coefficients that are not the executor's own (a pool's or layer norm's 1/n: the
            // executor sums, then divides, then may subtract) get the count doubled per ulp.
            let n = (w_abs.ncols() + 2) * (1 + *coef_ulps as usize);
            let g = gamma_with(n as f64, U32);
            (w_abs.dot(&mag(an, *src)) + b.mapv(f64::abs)) * g
        }
        Layer::Scale {
            src,
            scale,
            shift,
            f32_fold_terms,
            ..
        } => {
            let scaled = scale.mapv(f64::abs) * mag(an, *src);
            if f32_fold_terms.iter().any(|&v| v != 0.0) {
                (scaled + f32_fold_terms) * gamma_with(12.0, U32)
            } else {
                (scaled + shift.mapv(f64::abs)) * gamma_with(4.0, U32)
            }
        }
        Layer::Add { a, b } | Layer::Sub { a, b } => (mag(an, *a) + mag(an, *b)) * U32,
        // x * f32(alpha): the slope's rounding and the product's.
        Layer::LeakyRelu { src, alpha } => mag(an, *src) * (alpha * gamma_with(2.0, U32)),
        Layer::Sigmoid { .. } | Layer::Tanh { .. } => Array1::from_elem(node.size, 8.0 * U32),
        Layer::Relu { .. } | Layer::MaxPool { .. } | Layer::Gather { .. } => {
            Array1::zeros(node.size)
        }
        Layer::Unary { src, f } => {
            let (l, u) = (&an.lower[*src], &an.upper[*src]);
            (0..node.size)
                .map(|j| {
                    let (yl, yu) = f.interval(l[j], u[j]);
                    f.f32_noise(l[j].abs().max(u[j].abs()), yl.abs().max(yu.abs()))
                })
                .collect()
        }
        Layer::Concat { parts } => {
            let mut e = Vec::with_capacity(node.size);
            for p in parts {
                match p {
                    ConcatPart::Layer(k) => {
                        e.extend(std::iter::repeat_n(0.0, an.net.nodes[*k].size))
                    }
                    ConcatPart::Const(c) => {
                        e.extend(c.iter().map(|v| v.abs() * gamma_with(4.0, U32) + TINY))
                    }
                }
            }
            Array1::from(e)
        }
        // One rounded product of two f32 operands.
        Layer::Mul { a, b } => mag(an, *a) * mag(an, *b) * U32 + TINY,
        Layer::Softmax { src, groups } => {
            // exp(x - max) / sum (cpu/reduce.rs): the subtraction's rounding moves exp by a
            // factor within u R (R the group's range), exp adds 4 ulp (libm assumption), the sum
            // gamma(n) and the division one rounding; numerator and sum err the same way, the
            // quotient twice that. Outputs are at most 1.
            let (l, u) = (&an.lower[*src], &an.upper[*src]);
            let mut e = Array1::zeros(node.size);
            for g in groups {
                let top = g.iter().map(|&j| u[j]).fold(f64::NEG_INFINITY, f64::max);
                let bottom = g.iter().map(|&j| l[j]).fold(f64::INFINITY, f64::min);
                let range = (top - bottom).max(0.0);
                let rel = 2.2 * (range + 6.0) * U32 + gamma_with(g.len() as f64 + 2.0, U32);
                for &j in g {
                    e[j] = rel + TINY;
                }
            }
            e
        }
    };
    e * bump
}
