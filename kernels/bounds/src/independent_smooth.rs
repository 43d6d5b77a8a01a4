//! The independent checker's own interval rules for the Transformer layers: elementwise smooth
//! functions (`Layer::Unary`), products of two bounded tensors (`Layer::Mul`) and softmax.
//!
//! Written from the functions' definitions, sharing nothing with `unary.rs`, `crown.rs` or
//! `f32_noise.rs`: every rule is a plain interval enclosure (monotone pieces evaluated at the
//! ends, the known minimum where a piece turns), padded outward by a generous evaluation error.
//! The checker uses these as interval layers (constant lines) in its backward pass, so it is
//! looser than the producer's tangent lines; it only has to confirm a claim, never to find one.
//!
//! Function values come from Rust's `f64` `exp`/`ln`/`sqrt`/`tanh` and the `libm` crate's `erf`;
//! each is padded by 64 ulps (plus absolute terms where the formula cancels), far more than the
//! 4 ulps that `float.libm_within_4ulp` assumes of them.

use crate::error::{codes, BoundsError, Result};
use crate::unary::UnaryFn;

const EPS: f64 = f64::EPSILON;
const U_F32: f64 = f32::EPSILON as f64 / 2.0;
/// Below the minimum of both GELU forms (erf: -0.169971 at x = -0.75179; tanh approximation:
/// -0.170041 at x = -0.75246), rounded down with room.
const GELU_FLOOR: f64 = -0.171;
/// Both GELU forms decrease on (-inf, -0.76] and increase on [-0.745, inf).
const GELU_DECREASING_TO: f64 = -0.76;
const GELU_INCREASING_FROM: f64 = -0.745;

fn refuse(msg: String) -> BoundsError {
    BoundsError::new(codes::CERT_REJECTED, msg)
}

/// `y` moved down / up by a relative and an absolute pad, then one ulp.
fn down(y: f64, abs_pad: f64) -> f64 {
    (y - 64.0 * EPS * y.abs() - abs_pad - f64::from_bits(1)).next_down()
}
fn up(y: f64, abs_pad: f64) -> f64 {
    (y + 64.0 * EPS * y.abs() + abs_pad + f64::from_bits(1)).next_up()
}

fn gelu_erf(x: f64) -> f64 {
    0.5 * x * (1.0 + libm::erf(x / std::f64::consts::SQRT_2))
}

fn gelu_tanh(x: f64) -> f64 {
    let k = (2.0 / std::f64::consts::PI).sqrt();
    0.5 * x * (1.0 + (k * (x + 0.044715 * x * x * x)).tanh())
}

/// The absolute error of evaluating a GELU form at `x` in f64: `1 + erf(.)` / `1 + tanh(.)` is
/// off by a few ulps of 2 (the argument's rounding moves it by at most |x| ulps), times 0.5 |x|.
fn gelu_pad(x: f64) -> f64 {
    64.0 * EPS * x.abs() * (1.0 + x.abs() * (1.0 + 0.05 * x * x))
}

/// An enclosure of `f` over `[l, u]`; refused where `f` is undefined somewhere on it.
pub(crate) fn unary_interval(f: UnaryFn, l: f64, u: f64) -> Result<(f64, f64)> {
    if !(l <= u) {
        return Err(refuse(format!("an empty or NaN interval [{l}, {u}]")));
    }
    let positive = |what: &str| {
        if l > 0.0 {
            Ok(())
        } else {
            Err(refuse(format!(
                "{what} of an interval reaching {l} (the checker needs x > 0)"
            )))
        }
    };
    Ok(match f {
        UnaryFn::Exp => (down(l.exp(), 0.0).max(0.0), up(u.exp(), 0.0)),
        UnaryFn::Log => {
            positive("log")?;
            (down(l.ln(), EPS), up(u.ln(), EPS))
        }
        UnaryFn::Sqrt => {
            if l < 0.0 {
                return Err(refuse(format!("sqrt of an interval reaching {l}")));
            }
            (down(l.sqrt(), 0.0).max(0.0), up(u.sqrt(), 0.0))
        }
        UnaryFn::Square => {
            let (a, b) = (l * l, u * u);
            let lo = if l <= 0.0 && u >= 0.0 { 0.0 } else { a.min(b) };
            (down(lo, 0.0).max(0.0), up(a.max(b), 0.0))
        }
        UnaryFn::Reciprocal => {
            positive("reciprocal")?;
            (down(1.0 / u, 0.0).max(0.0), up(1.0 / l, 0.0))
        }
        UnaryFn::Rsqrt => {
            positive("rsqrt")?;
            (down(1.0 / u.sqrt(), 0.0).max(0.0), up(1.0 / l.sqrt(), 0.0))
        }
        UnaryFn::Erf => (
            down(libm::erf(l), EPS).max(-1.0),
            up(libm::erf(u), EPS).min(1.0),
        ),
        UnaryFn::Gelu | UnaryFn::GeluTanh => {
            let g = |x: f64| {
                if f == UnaryFn::Gelu {
                    gelu_erf(x)
                } else {
                    gelu_tanh(x)
                }
            };
            let (gl, gu) = (g(l), g(u));
            let (lo, hi) = if u <= GELU_DECREASING_TO {
                (down(gu, gelu_pad(u)), up(gl, gelu_pad(l)))
            } else if l >= GELU_INCREASING_FROM {
                (down(gl, gelu_pad(l)), up(gu, gelu_pad(u)))
            } else {
                // The minimum lies inside; the maximum is at an end (one valley).
                (GELU_FLOOR, up(gl, gelu_pad(l)).max(up(gu, gelu_pad(u))))
            };
            (lo.max(GELU_FLOOR), hi)
        }
    })
}

/// The f32 executor's own rounding of `f` (its f32 libm calls within 4 ulp, the formulas'
/// further roundings), with `mx`, `my` bounds of |input| and |output|. Twice the budget of the
/// model in docs/bounds.md, independently written.
pub(crate) fn unary_f32_noise(f: UnaryFn, mx: f64, my: f64) -> f64 {
    let u = U_F32;
    let e = match f {
        UnaryFn::Exp | UnaryFn::Erf => 16.0 * u * my,
        UnaryFn::Log => 16.0 * u * (my + 1.0),
        UnaryFn::Sqrt | UnaryFn::Reciprocal => 4.0 * u * my,
        UnaryFn::Square => 16.0 * u * my,
        UnaryFn::Rsqrt => 8.0 * u * my,
        UnaryFn::Gelu => 4.0 * u * (mx * mx + 5.0 * mx + my),
        UnaryFn::GeluTanh => 8.0 * u * ((mx + 0.05 * mx * mx * mx + 1.0) * mx + my),
    };
    e + 4.0 * f32::from_bits(1) as f64
}

/// An enclosure of `a * b` for `a` in `[la, ha]`, `b` in `[lb, hb]` (the four corner products,
/// each one rounding, moved out one ulp).
pub(crate) fn product_interval(la: f64, ha: f64, lb: f64, hb: f64) -> (f64, f64) {
    let p = [la * lb, la * hb, ha * lb, ha * hb];
    if p.iter().any(|v| v.is_nan()) {
        return (f64::NEG_INFINITY, f64::INFINITY);
    }
    let lo = p.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = p.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    (lo.next_down(), hi.next_up())
}

/// Softmax over `groups` of an input in `[lo, hi]`: `y_i = 1 / (1 + sum_{j != i} exp(x_j -
/// x_i))`, smallest when the others are at their upper and `x_i` at its lower bound. Positions
/// in no group are exactly 0.
pub(crate) fn softmax_interval(
    lo: &[f64],
    hi: &[f64],
    groups: &[Vec<usize>],
) -> Result<(Vec<f64>, Vec<f64>)> {
    let mut yl = vec![0.0; lo.len()];
    let mut yh = vec![0.0; lo.len()];
    for g in groups {
        for &i in g {
            let (mut s_big, mut s_small) = (0.0f64, 0.0f64);
            for &j in g {
                if j != i {
                    s_big += up((hi[j] - lo[i]).next_up().exp(), 0.0);
                    s_small += down((lo[j] - hi[i]).next_down().exp(), 0.0).max(0.0);
                }
            }
            if s_big.is_nan() || s_small.is_nan() {
                return Err(refuse("softmax of an unbounded input".to_string()));
            }
            // Each sum of k terms is off by at most k roundings; pad it, then the division.
            let k = g.len() as f64;
            let s_big = s_big * (1.0 + 4.0 * k * EPS);
            let s_small = s_small * (1.0 - 4.0 * k * EPS);
            yl[i] = down(1.0 / (1.0 + s_big), 0.0).clamp(0.0, 1.0);
            yh[i] = up(1.0 / (1.0 + s_small), 0.0).clamp(0.0, 1.0);
        }
    }
    Ok((yl, yh))
}

/// The f32 executor's softmax rounding (max subtracted first, f32 exp within 4 ulp, a sum of
/// `n`, one division), absolute since outputs are at most 1; `range` bounds `max - x` in the
/// group. Twice the documented model's budget.
pub(crate) fn softmax_f32_noise(range: f64, n: usize) -> f64 {
    let nu = (n as f64 + 2.0) * U_F32;
    let sum = if nu >= 0.25 {
        f64::INFINITY
    } else {
        nu / (1.0 - nu)
    };
    2.0 * (2.2 * (range + 6.0) * U_F32 + sum) + 4.0 * f32::from_bits(1) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALL: [UnaryFn; 9] = [
        UnaryFn::Exp,
        UnaryFn::Log,
        UnaryFn::Sqrt,
        UnaryFn::Square,
        UnaryFn::Reciprocal,
        UnaryFn::Rsqrt,
        UnaryFn::Erf,
        UnaryFn::Gelu,
        UnaryFn::GeluTanh,
    ];

    fn exact(f: UnaryFn, x: f64) -> f64 {
        match f {
            UnaryFn::Exp => x.exp(),
            UnaryFn::Log => x.ln(),
            UnaryFn::Sqrt => x.sqrt(),
            UnaryFn::Square => x * x,
            UnaryFn::Reciprocal => 1.0 / x,
            UnaryFn::Rsqrt => 1.0 / x.sqrt(),
            UnaryFn::Erf => libm::erf(x),
            UnaryFn::Gelu => gelu_erf(x),
            UnaryFn::GeluTanh => gelu_tanh(x),
        }
    }

    /// A small xorshift so the test needs no dependency and fails the same way each run.
    fn rng(seed: &mut u64) -> f64 {
        *seed ^= *seed << 13;
        *seed ^= *seed >> 7;
        *seed ^= *seed << 17;
        (*seed >> 11) as f64 / (1u64 << 53) as f64
    }

    #[test]
    fn unary_enclosures_contain_sampled_values() {
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        for f in ALL {
            for _ in 0..400 {
                let positive = matches!(
                    f,
                    UnaryFn::Log | UnaryFn::Sqrt | UnaryFn::Reciprocal | UnaryFn::Rsqrt
                );
                let c = if positive {
                    0.01 + 6.0 * rng(&mut seed)
                } else {
                    -6.0 + 12.0 * rng(&mut seed)
                };
                let w = 3.0 * rng(&mut seed) * rng(&mut seed);
                let (l, u) = if positive { (c, c + w) } else { (c - w, c + w) };
                let (lo, hi) = unary_interval(f, l, u).unwrap();
                for k in 0..=64 {
                    let x = l + (u - l) * k as f64 / 64.0;
                    let y = exact(f, x);
                    assert!(
                        lo <= y && y <= hi,
                        "{} at {x} in [{l}, {u}]: {y} not in [{lo}, {hi}]",
                        f.name()
                    );
                }
            }
        }
    }

    #[test]
    fn domains_outside_the_function_are_refused() {
        for f in [UnaryFn::Log, UnaryFn::Reciprocal, UnaryFn::Rsqrt] {
            assert!(unary_interval(f, -0.5, 1.0).is_err(), "{}", f.name());
        }
        assert!(unary_interval(UnaryFn::Sqrt, -0.5, 1.0).is_err());
    }

    #[test]
    fn softmax_and_products_contain_sampled_values() {
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        for _ in 0..300 {
            let n = 2 + (rng(&mut seed) * 5.0) as usize;
            let lo: Vec<f64> = (0..n).map(|_| -4.0 + 8.0 * rng(&mut seed)).collect();
            let hi: Vec<f64> = lo.iter().map(|l| l + 2.0 * rng(&mut seed)).collect();
            let groups = vec![(0..n).collect::<Vec<_>>()];
            let (yl, yh) = softmax_interval(&lo, &hi, &groups).unwrap();
            for _ in 0..50 {
                let x: Vec<f64> = lo
                    .iter()
                    .zip(&hi)
                    .map(|(l, h)| l + (h - l) * rng(&mut seed))
                    .collect();
                let m = x.iter().copied().fold(f64::NEG_INFINITY, f64::max);
                let s: f64 = x.iter().map(|v| (v - m).exp()).sum();
                for i in 0..n {
                    let y = (x[i] - m).exp() / s;
                    assert!(
                        yl[i] <= y && y <= yh[i],
                        "softmax {i}: {y} not in [{}, {}]",
                        yl[i],
                        yh[i]
                    );
                }
            }
            let (a, b) = (lo[0], hi[0]);
            let (c, d) = (lo[1], hi[1]);
            let (pl, ph) = product_interval(a, b, c, d);
            for _ in 0..50 {
                let p = (a + (b - a) * rng(&mut seed)) * (c + (d - c) * rng(&mut seed));
                assert!(pl <= p && p <= ph);
            }
        }
    }
}
