//! Elementwise functions of one bounded tensor beyond the piecewise-linear and s-shaped
//! activations (`relax.rs`): exp, log, sqrt, the square, the reciprocal and reciprocal square
//! root of a positive tensor, erf and gelu. One [`UnaryFn`] per function carries everything a
//! pass needs, so adding a function touches this file and the op -> layer mapping in `lower.rs`:
//! - `eval`: the value, in f64 or f32 (the evaluator, counterexample replay);
//! - `interval`: a sound enclosure of `f([l, u])`, outward rounded (IBP);
//! - `relax`: lower and upper lines on `[l, u]` (CROWN): tangent and chord for convex and concave
//!   pieces, made sound like `relax.rs` does (checked where the gap is smallest, then padded);
//!   constant lines (the interval) where the function has no cheap relaxation (gelu outside its
//!   convex part, erf across 0);
//! - `f32_noise`: the f32 executor's rounding, relative to the output's magnitude, under the
//!   libm assumption of docs/bounds.md for exp, log and erf.

use crate::rounding::{U32, U64};

/// Below this the gelu (erf form and tanh form) is decreasing, above [`GELU_MIN_HI`] increasing.
const GELU_MIN_LO: f64 = -0.76;
const GELU_MIN_HI: f64 = -0.74;
/// Below both gelus' minimum (-0.169971 at -0.75179; the tanh form -0.170041 at -0.75246).
const GELU_MIN_VALUE: f64 = -0.1701;
/// The erf-form gelu is convex on [-sqrt 2, sqrt 2] (gelu'' = phi(x) (2 - x^2)).
const GELU_CONVEX: f64 = std::f64::consts::SQRT_2;

/// An elementwise function of one bounded tensor.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum UnaryFn {
    Exp,
    /// Natural logarithm (domain x > 0).
    Log,
    /// Square root (domain x >= 0).
    Sqrt,
    Square,
    /// `1 / x` (domain x > 0: the verifier bounds division by a positive tensor only).
    Reciprocal,
    /// `1 / sqrt(x)` (domain x > 0; layer norm's `1 / sqrt(var + eps)`).
    Rsqrt,
    Erf,
    /// `x Phi(x)`, erf form.
    Gelu,
    /// GELU's tanh approximation.
    GeluTanh,
}

#[derive(Clone, Copy, PartialEq)]
enum Shape {
    Convex,
    Concave,
    /// No cheap relaxation: constant lines.
    Box,
}

fn gelu_erf(x: f64) -> f64 {
    0.5 * x * (1.0 + libm::erf(x * std::f64::consts::FRAC_1_SQRT_2))
}

fn gelu_tanh(x: f64) -> f64 {
    let k = (2.0 / std::f64::consts::PI).sqrt();
    0.5 * x * (1.0 + (k * (x + 0.044715 * x * x * x)).tanh())
}

impl UnaryFn {
    pub fn name(self) -> &'static str {
        match self {
            UnaryFn::Exp => "exp",
            UnaryFn::Log => "log",
            UnaryFn::Sqrt => "sqrt",
            UnaryFn::Square => "square",
            UnaryFn::Reciprocal => "reciprocal",
            UnaryFn::Rsqrt => "rsqrt",
            UnaryFn::Erf => "erf",
            UnaryFn::Gelu => "gelu",
            UnaryFn::GeluTanh => "gelu_tanh",
        }
    }

    /// The value in `T` (as tl's kernels compute it: cpu/elementwise.rs).
    pub fn eval<T: tl_kernels::Real>(self, x: T) -> T {
        let one = T::one();
        match self {
            UnaryFn::Exp => x.exp(),
            UnaryFn::Log => x.ln(),
            UnaryFn::Sqrt => x.sqrt(),
            UnaryFn::Square => x * x,
            UnaryFn::Reciprocal => one / x,
            UnaryFn::Rsqrt => one / x.sqrt(),
            UnaryFn::Erf => x.erf(),
            UnaryFn::Gelu => {
                let half = T::from_f64(0.5);
                half * x * (one + (x * T::from_f64(std::f64::consts::FRAC_1_SQRT_2)).erf())
            }
            UnaryFn::GeluTanh => {
                let half = T::from_f64(0.5);
                let k = T::from_f64((2.0 / std::f64::consts::PI).sqrt());
                let inner = k * (x + T::from_f64(0.044715) * x * x * x);
                half * x * (one + inner.tanh())
            }
        }
    }

    /// The f64 value (libm within a few ulp; the pads below cover that).
    pub fn f(self, x: f64) -> f64 {
        match self {
            UnaryFn::Gelu => gelu_erf(x),
            UnaryFn::GeluTanh => gelu_tanh(x),
            _ => self.eval::<f64>(x),
        }
    }

    fn df(self, x: f64) -> f64 {
        match self {
            UnaryFn::Exp => x.exp(),
            UnaryFn::Log => 1.0 / x,
            UnaryFn::Sqrt => 0.5 / x.sqrt(),
            UnaryFn::Square => 2.0 * x,
            UnaryFn::Reciprocal => -1.0 / (x * x),
            UnaryFn::Rsqrt => -0.5 / (x * x.sqrt()),
            UnaryFn::Erf => 2.0 / std::f64::consts::PI.sqrt() * (-x * x).exp(),
            UnaryFn::Gelu => {
                let phi = (-0.5 * x * x).exp() / (2.0 * std::f64::consts::PI).sqrt();
                0.5 * (1.0 + libm::erf(x * std::f64::consts::FRAC_1_SQRT_2)) + x * phi
            }
            UnaryFn::GeluTanh => f64::NAN,
        }
    }

    /// The lowest operand bound the function is defined (and bounded) for, if any: `(bound,
    /// strict)`.
    pub fn domain(self) -> Option<(f64, bool)> {
        match self {
            UnaryFn::Log | UnaryFn::Reciprocal | UnaryFn::Rsqrt => Some((0.0, true)),
            UnaryFn::Sqrt => Some((0.0, false)),
            _ => None,
        }
    }

    /// Whether `[l, u]` lies in the domain.
    pub fn in_domain(self, l: f64, u: f64) -> bool {
        l.is_finite()
            && u.is_finite()
            && match self.domain() {
                Some((d, true)) => l > d,
                Some((d, false)) => l >= d,
                None => true,
            }
    }

    fn shape_on(self, l: f64, u: f64) -> Shape {
        match self {
            UnaryFn::Exp | UnaryFn::Square | UnaryFn::Reciprocal | UnaryFn::Rsqrt => Shape::Convex,
            UnaryFn::Log | UnaryFn::Sqrt => Shape::Concave,
            UnaryFn::Erf if u <= 0.0 => Shape::Convex,
            UnaryFn::Erf if l >= 0.0 => Shape::Concave,
            UnaryFn::Gelu if l >= -GELU_CONVEX && u <= GELU_CONVEX => Shape::Convex,
            _ => Shape::Box,
        }
    }

    /// A value at most `v`'s exact counterpart: libm results within 4 ulp, moved outward.
    fn lo(v: f64) -> f64 {
        (v - 8.0 * U64 * v.abs()).next_down()
    }
    fn hi(v: f64) -> f64 {
        (v + 8.0 * U64 * v.abs()).next_up()
    }

    /// A sound enclosure of `f([l, u])` (`[l, u]` in the domain, finite).
    pub fn interval(self, l: f64, u: f64) -> (f64, f64) {
        let (fl, fu) = (self.f(l), self.f(u));
        let (a, b) = match self {
            UnaryFn::Exp | UnaryFn::Log | UnaryFn::Sqrt | UnaryFn::Erf => (fl, fu),
            UnaryFn::Reciprocal | UnaryFn::Rsqrt => (fu, fl),
            UnaryFn::Square => {
                let top = fl.max(fu);
                if l <= 0.0 && u >= 0.0 {
                    (0.0, top)
                } else {
                    (fl.min(fu), top)
                }
            }
            UnaryFn::Gelu | UnaryFn::GeluTanh => {
                // Unimodal: the maximum is at an end, the minimum at an end or the valley.
                let top = fl.max(fu);
                if u <= GELU_MIN_LO {
                    (fu, top)
                } else if l >= GELU_MIN_HI {
                    (fl, top)
                } else {
                    (GELU_MIN_VALUE, top)
                }
            }
        };
        let (mut lo, mut hi) = (Self::lo(a), Self::hi(b));
        // Exact ranges the rounding pad must not leave.
        match self {
            UnaryFn::Exp
            | UnaryFn::Sqrt
            | UnaryFn::Square
            | UnaryFn::Reciprocal
            | UnaryFn::Rsqrt => lo = lo.max(0.0),
            UnaryFn::Erf => {
                lo = lo.max(-1.0);
                hi = hi.min(1.0);
            }
            _ => {}
        }
        // A pad below the smallest normal number: subnormal results.
        (lo - f64::MIN_POSITIVE, hi + f64::MIN_POSITIVE)
    }

    /// Lines `lo_s x + lo_b <= f(x) <= up_s x + up_b` on `[l, u]` (in the domain, finite), with
    /// the interval `(y_lo, y_hi)` as the fallback constant lines.
    pub fn relax(self, l: f64, u: f64, y_lo: f64, y_hi: f64) -> (f64, f64, f64, f64) {
        let boxed = (0.0, y_lo, 0.0, y_hi);
        let width = u - l;
        let big = l.abs().max(u.abs());
        if width.is_nan() || width <= 1e-9 * (1.0 + big) || big > 1e6 {
            return boxed;
        }
        let shape = self.shape_on(l, u);
        if shape == Shape::Box {
            return boxed;
        }
        let (fl, fu) = (self.f(l), self.f(u));
        let k_chord = (fu - fl) / width;
        let b_chord = fl - k_chord * l;
        let m = l + width / 2.0;
        let k_tan = self.df(m);
        let b_tan = self.f(m) - k_tan * m;
        if ![k_chord, b_chord, k_tan, b_tan]
            .iter()
            .all(|v| v.is_finite())
        {
            return boxed;
        }
        // Convex: f - line is convex, so its minimum over [l, u] against the tangent is at m and
        // its maximum against the chord at an end; concave mirrored.
        let pts = [l, m, u];
        let (lo, up) = match shape {
            Shape::Convex => (
                (k_tan, self.sound_lower(k_tan, b_tan, &pts)),
                (k_chord, self.sound_upper(k_chord, b_chord, &pts)),
            ),
            Shape::Concave => (
                (k_chord, self.sound_lower(k_chord, b_chord, &pts)),
                (k_tan, self.sound_upper(k_tan, b_tan, &pts)),
            ),
            Shape::Box => unreachable!(),
        };
        // Either line may be worse than the interval at every point; keep the better one per
        // side by comparing at the ends (lines and constants are both sound).
        let lo = if lo.0 * l + lo.1 < y_lo && lo.0 * u + lo.1 < y_lo {
            (0.0, y_lo)
        } else {
            lo
        };
        let up = if up.0 * l + up.1 > y_hi && up.0 * u + up.1 > y_hi {
            (0.0, y_hi)
        } else {
            up
        };
        (lo.0, lo.1, up.0, up.1)
    }

    fn sound_lower(self, k: f64, b: f64, points: &[f64]) -> f64 {
        let mut b = b;
        let mut scale: f64 = 1.0;
        for &p in points {
            let y = self.f(p);
            let gap = y - (k * p + b);
            scale = scale.max((k * p).abs() + b.abs() + y.abs());
            if gap < 0.0 {
                b += gap;
            }
        }
        b - 32.0 * U64 * scale
    }

    fn sound_upper(self, k: f64, b: f64, points: &[f64]) -> f64 {
        let mut b = b;
        let mut scale: f64 = 1.0;
        for &p in points {
            let y = self.f(p);
            let gap = (k * p + b) - y;
            scale = scale.max((k * p).abs() + b.abs() + y.abs());
            if gap < 0.0 {
                b -= gap;
            }
        }
        b + 32.0 * U64 * scale
    }

    /// Bound on |f32 executor's value - f(x)| for the executor's f32 operand `x` with |x| <= `mx`
    /// and |f(x)| <= `my` (tl's kernels: cpu/elementwise.rs, norm.rs). exp, log and erf rest on
    /// `float.libm_within_4ulp`; sqrt and division are correctly rounded.
    pub fn f32_noise(self, mx: f64, my: f64) -> f64 {
        let u = U32;
        let e = match self {
            // One libm call, within 4 ulp.
            UnaryFn::Exp | UnaryFn::Erf => 8.0 * u * my,
            // ln near 1 is small: the absolute error of logf is 4 ulp of the result, at least
            // one ulp of 1 near x = 1.
            UnaryFn::Log => 8.0 * u * (my + 1.0),
            UnaryFn::Sqrt | UnaryFn::Reciprocal => 2.0 * u * my,
            // x * x (one rounding), or powf(x, 2) from an exported Pow (4 ulp).
            UnaryFn::Square => 8.0 * u * my,
            // 1 / sqrt(x): two roundings.
            UnaryFn::Rsqrt => 4.0 * u * my,
            // 0.5 x (1 + erf(x / sqrt 2)): the scaled argument (erf' <= 1.13), erf's 4 ulp, the
            // sum and the two products.
            UnaryFn::Gelu => 2.0 * u * (mx * mx + 5.0 * mx + my),
            // 0.5 x (1 + tanh(k (x + c x^3))): the inner polynomial's roundings (tanh' <= 1).
            UnaryFn::GeluTanh => 4.0 * u * ((mx + 0.05 * mx * mx * mx + 1.0) * mx + my),
        };
        e * (1.0 + 1e-6) + 2.0 * f32::from_bits(1) as f64
    }
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

    /// Intervals and lines enclose the function at many points of many intervals (the ends
    /// chosen around each function's curvature changes and the gelu valley).
    #[test]
    fn intervals_and_lines_enclose_the_function() {
        let ends = [
            -30.0, -5.0, -2.0, -1.5, -1.0, -0.76, -0.75, -0.3, -1e-7, 0.0, 1e-7, 0.01, 0.2, 0.7,
            1.0, 1.3, 2.0, 4.0, 40.0,
        ];
        for f in ALL {
            for &l in &ends {
                for &u in &ends {
                    if l > u || !f.in_domain(l, u) {
                        continue;
                    }
                    let (lo, hi) = f.interval(l, u);
                    let (ls, lb, us, ub) = f.relax(l, u, lo, hi);
                    for i in 0..=1000 {
                        let x = (l + (u - l) * i as f64 / 1000.0).clamp(l, u);
                        let y = f.f(x);
                        assert!(
                            lo <= y && y <= hi,
                            "{f:?} interval [{lo}, {hi}] misses {y} at {x} on [{l}, {u}]"
                        );
                        assert!(
                            ls * x + lb <= y,
                            "{f:?} lower line above at {x} on [{l}, {u}]"
                        );
                        assert!(
                            us * x + ub >= y,
                            "{f:?} upper line below at {x} on [{l}, {u}]"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn gelu_interval_reaches_its_minimum() {
        let (lo, hi) = UnaryFn::Gelu.interval(-1.0, -0.5);
        assert!(lo <= -0.1699 && lo > -0.171, "{lo}");
        assert!(hi >= UnaryFn::Gelu.f(-1.0).max(UnaryFn::Gelu.f(-0.5)));
    }
}
