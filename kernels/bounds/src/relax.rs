//! Linear relaxations of elementwise activations on an input interval: for each neuron a lower
//! line and an upper line with `lo_s x + lo_b <= f(x) <= up_s x + up_b` for x in [l, u].
//!
//! The slopes follow auto_LiRPA 0.3 (so bounds can be compared with it); the intercepts are then
//! made sound in floating point: each line is checked at the points where its gap to f can be
//! smallest (the interval ends, the inflection point 0, the tangent point) and moved outward by
//! the measured violation plus a pad that dominates the rounding of those checks.

use ndarray::Array1;

use crate::rounding::U64;

/// Relaxation lines of one layer.
#[derive(Clone, Debug)]
pub struct Relax {
    pub lo_s: Array1<f64>,
    pub lo_b: Array1<f64>,
    pub up_s: Array1<f64>,
    pub up_b: Array1<f64>,
    /// Relu/leaky-relu neurons whose lower slope is free in [alpha_min, 1] (alpha-CROWN).
    pub unstable: Vec<bool>,
}

impl Relax {
    fn with_len(n: usize) -> Relax {
        Relax {
            lo_s: Array1::zeros(n),
            lo_b: Array1::zeros(n),
            up_s: Array1::zeros(n),
            up_b: Array1::zeros(n),
            unstable: vec![false; n],
        }
    }
}

/// Which activation.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Act {
    Relu,
    LeakyRelu(f64),
    Sigmoid,
    Tanh,
}

impl Act {
    pub fn f(self, x: f64) -> f64 {
        match self {
            Act::Relu => x.max(0.0),
            Act::LeakyRelu(a) => {
                if x >= 0.0 {
                    x
                } else {
                    a * x
                }
            }
            Act::Sigmoid => 1.0 / (1.0 + (-x).exp()),
            Act::Tanh => x.tanh(),
        }
    }
    fn df(self, x: f64) -> f64 {
        match self {
            Act::Sigmoid => {
                let s = self.f(x);
                s * (1.0 - s)
            }
            Act::Tanh => {
                // auto_LiRPA: 0 when |x| >= 25 (cosh overflow guard).
                if x.abs() < 25.0 {
                    1.0 / x.cosh().powi(2)
                } else {
                    0.0
                }
            }
            _ => unreachable!("piecewise-linear activations have no tangent lines here"),
        }
    }
    /// Lowest value of the lower slope for alpha-CROWN.
    pub fn alpha_min(self) -> f64 {
        match self {
            Act::LeakyRelu(a) => a,
            _ => 0.0,
        }
    }
}

/// Moves a lower line down so it is below f at `points`, plus a rounding pad.
fn sound_lower(act: Act, k: f64, b: f64, points: &[f64]) -> f64 {
    let mut b = b;
    let mut scale: f64 = 1.0;
    for &p in points {
        let gap = act.f(p) - (k * p + b);
        scale = scale.max((k * p).abs() + b.abs() + act.f(p).abs());
        if gap < 0.0 {
            b += gap;
        }
    }
    b - 16.0 * U64 * scale
}

/// Moves an upper line up so it is above f at `points`, plus a rounding pad.
fn sound_upper(act: Act, k: f64, b: f64, points: &[f64]) -> f64 {
    -sound_lower_neg(act, k, b, points)
}

fn sound_lower_neg(act: Act, k: f64, b: f64, points: &[f64]) -> f64 {
    // Upper line of f is the negated lower line of -f.
    let mut nb = -b;
    let mut scale: f64 = 1.0;
    for &p in points {
        let gap = -act.f(p) - (-k * p + nb);
        scale = scale.max((k * p).abs() + b.abs() + act.f(p).abs());
        if gap < 0.0 {
            nb += gap;
        }
    }
    nb - 16.0 * U64 * scale
}

/// Piecewise-linear activations (relu, leaky relu), auto_LiRPA's adaptive lower slope.
fn relax_piecewise(act: Act, lower: &Array1<f64>, upper: &Array1<f64>) -> Relax {
    let alpha = act.alpha_min();
    let n = lower.len();
    let mut r = Relax::with_len(n);
    for j in 0..n {
        let (l, u) = (lower[j], upper[j]);
        if l >= 0.0 {
            r.lo_s[j] = 1.0;
            r.up_s[j] = 1.0;
        } else if u <= 0.0 {
            r.lo_s[j] = alpha;
            r.up_s[j] = alpha;
        } else {
            // Chord from (l, alpha l) to (u, u); exact lines through 0 need no pad for the lower.
            let k = (u - alpha * l) / (u - l);
            let b = -l * k + alpha * l;
            r.up_s[j] = k;
            r.up_b[j] = sound_upper(act, k, b, &[l, u]);
            r.lo_s[j] = if k > 0.5 { 1.0 } else { alpha };
            r.unstable[j] = true;
        }
    }
    r
}

/// Step of auto_LiRPA's precomputed tangent table.
const STEP_PRE: f64 = 0.01;
const X_LIMIT: f64 = 500.0;

/// The tangent point d <= 0 closest to 0 whose tangent stays below f at `upper` (bisection as in
/// auto_LiRPA's `precompute_relaxation`, for the table's grid point at or above `upper`).
fn tangent_lower_point(act: Act, upper: f64) -> f64 {
    let idx = ((upper / STEP_PRE).floor().max(0.0)) + 1.0;
    let g = idx * STEP_PRE;
    let ok = |d: f64| act.df(d) * (g - d) + act.f(d) <= act.f(g);
    let mut l = -1.0;
    while !ok(l) {
        l *= 2.0;
        if l < -1e6 {
            break;
        }
    }
    let mut r = 0.0;
    for _ in 0..100 {
        let m = (l + r) / 2.0;
        if ok(m) {
            l = m;
        } else {
            r = m;
        }
    }
    l
}

/// The tangent point d >= 0 closest to 0 whose tangent stays above f at `lower`.
fn tangent_upper_point(act: Act, lower: f64) -> f64 {
    let idx = ((lower / -STEP_PRE).floor().max(0.0)) + 1.0;
    let g = -idx * STEP_PRE;
    let ok = |d: f64| act.df(d) * (g - d) + act.f(d) >= act.f(g);
    let mut r = 1.0;
    while !ok(r) {
        r *= 2.0;
        if r > 1e6 {
            break;
        }
    }
    let mut l = 0.0;
    for _ in 0..100 {
        let m = (l + r) / 2.0;
        if ok(m) {
            r = m;
        } else {
            l = m;
        }
    }
    r
}

/// Sigmoid and tanh: convex below 0, concave above (auto_LiRPA's CROWN relaxation).
fn relax_s_shaped(act: Act, lower: &Array1<f64>, upper: &Array1<f64>) -> Relax {
    let n = lower.len();
    let mut r = Relax::with_len(n);
    for j in 0..n {
        let (l0, u0) = (lower[j], upper[j]);
        let l = l0.max(-X_LIMIT);
        let u = u0.min(X_LIMIT).max(l);
        let (yl, yu) = (act.f(l), act.f(u));
        let k_direct = if u - l < 1e-6 {
            act.df(u)
        } else {
            (yu - yl) / (u - l)
        };
        let chord_b = -l * k_direct + yl;
        let mut pts = vec![l0, u0, l, u];
        if l < 0.0 && u > 0.0 {
            pts.push(0.0);
        }
        let tangent = |d: f64| (act.df(d), -d * act.df(d) + act.f(d));
        let (lo, up, tp_lo, tp_up) = if u <= 0.0 {
            let m = (l + u) / 2.0;
            (tangent(m), (k_direct, chord_b), Some(m), None)
        } else if l >= 0.0 {
            let m = (l + u) / 2.0;
            ((k_direct, chord_b), tangent(m), None, Some(m))
        } else {
            let (lo, tp_lo) = if k_direct < act.df(l) {
                ((k_direct, chord_b), None)
            } else {
                let d = tangent_lower_point(act, u);
                (tangent(d), Some(d))
            };
            let (up, tp_up) = if k_direct < act.df(u) {
                ((k_direct, chord_b), None)
            } else {
                let d = tangent_upper_point(act, l);
                (tangent(d), Some(d))
            };
            (lo, up, tp_lo, tp_up)
        };
        let mut lo_pts = pts.clone();
        lo_pts.extend(tp_lo);
        let mut up_pts = pts;
        up_pts.extend(tp_up);
        r.lo_s[j] = lo.0;
        r.lo_b[j] = sound_lower(act, lo.0, lo.1, &lo_pts);
        r.up_s[j] = up.0;
        r.up_b[j] = sound_upper(act, up.0, up.1, &up_pts);
        // Outside the table's range the function is flat to within f64: cover the clipped part.
        if l0 < -X_LIMIT || u0 > X_LIMIT {
            r.lo_s[j] = 0.0;
            r.up_s[j] = 0.0;
            r.lo_b[j] = act.f(l0) - 4.0 * U64;
            r.up_b[j] = act.f(u0) + 4.0 * U64;
        }
    }
    r
}

/// The relaxation of `act` on the boxes `[lower, upper]`.
pub fn relax(act: Act, lower: &Array1<f64>, upper: &Array1<f64>) -> Relax {
    match act {
        Act::Relu | Act::LeakyRelu(_) => relax_piecewise(act, lower, upper),
        Act::Sigmoid | Act::Tanh => relax_s_shaped(act, lower, upper),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check_valid(act: Act, l: f64, u: f64) {
        let r = relax(act, &Array1::from(vec![l]), &Array1::from(vec![u]));
        for i in 0..=2000 {
            let x = l + (u - l) * i as f64 / 2000.0;
            let y = act.f(x);
            assert!(
                r.lo_s[0] * x + r.lo_b[0] <= y,
                "{act:?} lower violated at {x} on [{l}, {u}]"
            );
            assert!(
                r.up_s[0] * x + r.up_b[0] >= y,
                "{act:?} upper violated at {x} on [{l}, {u}]"
            );
        }
    }

    #[test]
    fn relaxations_enclose_the_function_on_many_intervals() {
        let acts = [Act::Relu, Act::LeakyRelu(0.1), Act::Sigmoid, Act::Tanh];
        let ends = [
            -30.0, -5.0, -1.0, -0.3, -1e-7, 0.0, 1e-7, 0.2, 1.0, 4.0, 40.0,
        ];
        for act in acts {
            for &l in &ends {
                for &u in &ends {
                    if l <= u {
                        check_valid(act, l, u);
                    }
                }
            }
        }
    }

    #[test]
    fn relu_uses_the_adaptive_lower_slope() {
        let r = relax(
            Act::Relu,
            &Array1::from(vec![-1.0, -3.0, 1.0, -2.0]),
            &Array1::from(vec![2.0, 1.0, 2.0, -1.0]),
        );
        assert_eq!(r.lo_s.to_vec(), vec![1.0, 0.0, 1.0, 0.0]);
        assert!((r.up_s[0] - 2.0 / 3.0).abs() < 1e-15);
        assert!(r.up_b[0] >= 2.0 / 3.0);
        assert_eq!(r.unstable, vec![true, true, false, false]);
    }
}
