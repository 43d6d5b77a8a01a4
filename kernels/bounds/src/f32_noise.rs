//! The f32 executor's rounding error as bounded noise on each layer's output.
//!
//! With `m` an upper bound of |value| of a layer's inputs (from the bounds computed so far, which
//! already enclose the executor's values), the executor's output of the layer differs from the
//! exact function of its (already perturbed) inputs by at most:
//! - dot products of length n (weights rounded to f32 too): `gamma32(n + 2) (|W| m + |b|)`;
//! - elementwise scale and shift by constants: `gamma32(4) (|s| m + |t|)`; add/sub:
//!   `u32 (m_a + m_b)`;
//! - batch norm, whose `s = w / sqrt(var + eps)` and `t = b - mean s` the executor folds in f32
//!   (cpu/norm.rs, exec/session/norms.rs) before `y = v s + t`: `s` carries at most 6 roundings
//!   (the f32 parameters, add, sqrt, div, mul), `mean s` 8, `t` 10 relative to `|b| + |mean s|`
//!   (it may cancel), and the two output operations 2 more: `gamma32(12) (|s| m + |b| + |mean s|)`;
//! - relu, max-pool, gather: exact; leaky relu: `gamma32(2) alpha m` (the slope is
//!   rounded to f32 too);
//! - sigmoid, tanh: 8 u32 absolute (f32 `exp`/`tanh` assumed accurate to 4 ulp: an assumption
//!   named in docs/bounds.md);
//! - the input: the f32 rounding of a real point of the box, `u32 |x|`.
//! The noise enters IBP as a widening and CROWN as a `|A| e` term at each layer, so the bounds
//! contain both the exact outputs and the executor's.

use ndarray::Array1;

use crate::crown::Analysis;
use crate::net::Layer;
use crate::rounding::{gamma_with, U32};

fn mag(an: &Analysis, i: usize) -> Array1<f64> {
    ndarray::Zip::from(&an.lower[i])
        .and(&an.upper[i])
        .map_collect(|l, u| l.abs().max(u.abs()))
}

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
        Layer::Affine { src, w_abs, b, .. } => {
            let g = gamma_with((w_abs.ncols() + 2) as f64, U32);
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
    };
    e * bump
}
