//! Floating-point error bookkeeping (docs/bounds.md explains the argument).
//!
//! Every bound is computed in f64 with round-to-nearest, then widened by an a-priori error bound:
//! a dot product of length n computed in any order (blocked, FMA or not) differs from the exact
//! one by at most `gamma(n) * sum |a_i b_i|` with `gamma(n) = n u / (1 - n u)` and `u = 2^-53`
//! (Higham, Accuracy and Stability of Numerical Algorithms, 3.1). Final values are then moved one
//! ulp outward with `next_down`/`next_up`, which covers the rounding of the widening itself.

/// Unit roundoff of f64.
pub const U64: f64 = f64::EPSILON / 2.0;
/// Unit roundoff of f32.
pub const U32: f64 = f32::EPSILON as f64 / 2.0;

/// `n u / (1 - n u)` for f64, rounded up; `+inf` when `n u >= 1`.
pub fn gamma(n: f64) -> f64 {
    gamma_with(n, U64)
}

/// `n u / (1 - n u)` for unit roundoff `u`, rounded up.
pub fn gamma_with(n: f64, u: f64) -> f64 {
    let nu = n * u;
    if nu >= 0.5 {
        return f64::INFINITY;
    }
    // Two relative roundings at most: bump by 4 ulps to stay above the exact value.
    (nu / (1.0 - nu)) * (1.0 + 8.0 * U64)
}

/// A value known to be >= the exact `x - err`, moved one ulp down.
pub fn down(x: f64, err: f64) -> f64 {
    let v = x - err;
    if v.is_nan() {
        f64::NEG_INFINITY
    } else {
        v.next_down()
    }
}

/// A value known to be <= the exact `x + err`, moved one ulp up.
pub fn up(x: f64, err: f64) -> f64 {
    let v = x + err;
    if v.is_nan() {
        f64::INFINITY
    } else {
        v.next_up()
    }
}

/// Smallest positive subnormal times a count: covers underflow in `count` operations.
pub fn underflow(count: f64) -> f64 {
    count * f64::from_bits(1) * 4.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gamma_grows_with_n_and_saturates() {
        assert!(gamma(1.0) > U64);
        assert!(gamma(10.0) > 10.0 * U64);
        assert!(gamma(1e3) < 1e-12);
        assert_eq!(gamma(1e17), f64::INFINITY);
    }

    #[test]
    fn outward_steps_are_strict() {
        assert!(down(1.0, 0.0) < 1.0);
        assert!(up(1.0, 0.0) > 1.0);
        assert_eq!(down(f64::NAN, 0.0), f64::NEG_INFINITY);
        // 0.1 + 0.2 rounds up to 0.30000000000000004; the upper bound must still be above 0.3.
        assert!(up(0.1 + 0.2, 0.0) > 0.3);
        assert!(down(0.1 + 0.2, 0.0) <= 0.3);
    }
}
