//! Backward rules of elementwise ops: unary activations and math (a scalar derivative per op)
//! and numpy-broadcast binary ops (the gradient is summed back over the broadcast axes).
//!
//! Kinks follow PyTorch: relu'(0) = 0, leaky_relu'(0) = alpha, abs'(0) = 0, and clamp passes
//! the gradient where `min <= x <= max` (both bounds inclusive).

use super::{operand_mismatch, Grads, RuleError};
use crate::cpu::{BinaryOp, UnaryOp};
use ndarray::{ArrayD, Axis, IxDyn, Zip};
use std::f64::consts::{FRAC_1_SQRT_2, PI};

/// `g * f'(x)` for a unary op with input `x` and output `y`.
pub(super) fn unary(op: &UnaryOp, x: &ArrayD<f64>, y: &ArrayD<f64>, g: &ArrayD<f64>) -> Grads {
    let gx = Zip::from(g)
        .and(x)
        .and(y)
        .map_collect(|&g, &x, &y| g * derivative(op, x, y));
    vec![Some(gx)]
}

/// The derivative of `op` at `x`, where `y = op(x)` (several derivatives are cheapest from `y`).
fn derivative(op: &UnaryOp, x: f64, y: f64) -> f64 {
    let step = |pass: bool| if pass { 1.0 } else { 0.0 };
    match *op {
        UnaryOp::Relu => {
            if x.is_nan() {
                f64::NAN
            } else {
                step(x > 0.0)
            }
        }
        UnaryOp::LeakyRelu { alpha } => {
            if x > 0.0 {
                1.0
            } else {
                alpha
            }
        }
        UnaryOp::Sigmoid => y * (1.0 - y),
        UnaryOp::Tanh => 1.0 - y * y,
        UnaryOp::Gelu { tanh_approx: false } => {
            // d/dx x * Phi(x) = Phi(x) + x * phi(x)
            let cdf = 0.5 * (1.0 + libm::erf(x * FRAC_1_SQRT_2));
            let pdf = (-0.5 * x * x).exp() / (2.0 * PI).sqrt();
            cdf + x * pdf
        }
        UnaryOp::Gelu { tanh_approx: true } => {
            let k = (2.0 / PI).sqrt();
            let t = (k * (x + 0.044715 * x * x * x)).tanh();
            0.5 * (1.0 + t) + 0.5 * x * (1.0 - t * t) * k * (1.0 + 3.0 * 0.044715 * x * x)
        }
        UnaryOp::Softplus { beta, threshold } => {
            let bx = beta * x;
            if bx > threshold {
                1.0
            } else {
                sigmoid(bx)
            }
        }
        UnaryOp::Silu => {
            let s = sigmoid(x);
            s + x * s * (1.0 - s)
        }
        UnaryOp::Neg => -1.0,
        UnaryOp::Exp => y,
        UnaryOp::Log => 1.0 / x,
        UnaryOp::Sqrt => 0.5 / y,
        // d/dx erf(x) = 2/sqrt(pi) exp(-x^2)
        UnaryOp::Erf => 2.0 / PI.sqrt() * (-x * x).exp(),
        UnaryOp::Abs => {
            if x.is_nan() {
                f64::NAN
            } else if x > 0.0 {
                1.0
            } else if x < 0.0 {
                -1.0
            } else {
                0.0
            }
        }
        UnaryOp::Clamp { min, max } => {
            if x.is_nan() {
                return f64::NAN;
            }
            step(min.is_none_or(|lo| x >= lo) && max.is_none_or(|hi| x <= hi))
        }
        UnaryOp::PowScalar { exponent } => {
            if exponent == 0.0 {
                0.0
            } else {
                exponent * x.powf(exponent - 1.0)
            }
        }
        UnaryOp::Scale { factor } => factor,
        UnaryOp::Offset { .. } | UnaryOp::Identity => 1.0,
        // PyTorch: elu'(x) = alpha e^x for x <= 0.
        UnaryOp::Elu { alpha } => {
            if x > 0.0 {
                1.0
            } else {
                alpha * x.exp()
            }
        }
        UnaryOp::Selu { alpha, gamma } => {
            if x > 0.0 {
                gamma
            } else {
                gamma * alpha * x.exp()
            }
        }
        // PyTorch passes the slope strictly inside (0, 1) and 0 on the flat parts and the kinks.
        UnaryOp::HardSigmoid { alpha, beta } => {
            let v = alpha * x + beta;
            if v > 0.0 && v < 1.0 {
                alpha
            } else {
                0.0
            }
        }
        // PyTorch: 0 below -3, x/3 + 1/2 on [-3, 3], 1 above.
        UnaryOp::HardSwish => {
            if x < -3.0 {
                0.0
            } else if x <= 3.0 {
                x / 3.0 + 0.5
            } else {
                1.0
            }
        }
    }
}

fn sigmoid(x: f64) -> f64 {
    if x >= 0.0 {
        1.0 / (1.0 + (-x).exp())
    } else {
        let e = x.exp();
        e / (1.0 + e)
    }
}

/// Gradients of `a op b` (numpy broadcasting) for both operands.
pub(super) fn binary(
    op: BinaryOp,
    a: &ArrayD<f64>,
    b: &ArrayD<f64>,
    y: &ArrayD<f64>,
    g: &ArrayD<f64>,
) -> Result<Grads, RuleError> {
    let shape = IxDyn(g.shape());
    let (Some(ab), Some(bb)) = (a.broadcast(shape.clone()), b.broadcast(shape)) else {
        return Err(operand_mismatch(
            op.name(),
            format!(
                "operands {:?} and {:?} do not broadcast to the gradient {:?}",
                a.shape(),
                b.shape(),
                g.shape()
            ),
        ));
    };
    let (ga, gb) = match op {
        BinaryOp::Add => (g.clone(), g.clone()),
        BinaryOp::Sub => (g.clone(), g.mapv(|v| -v)),
        BinaryOp::Mul => (g * &bb, g * &ab),
        BinaryOp::Div => (
            Zip::from(g).and(&bb).map_collect(|&g, &b| g / b),
            Zip::from(g)
                .and(&ab)
                .and(&bb)
                .map_collect(|&g, &a, &b| -g * a / (b * b)),
        ),
        BinaryOp::Pow => (
            Zip::from(g).and(&ab).and(&bb).map_collect(|&g, &a, &b| {
                if b == 0.0 {
                    0.0
                } else {
                    g * b * a.powf(b - 1.0)
                }
            }),
            // d/db a^b = a^b ln a; PyTorch takes it as 0 where a = 0 and b >= 0.
            Zip::from(g)
                .and(&ab)
                .and(&bb)
                .and(y)
                .map_collect(|&g, &a, &b, &y| {
                    if a == 0.0 && b >= 0.0 {
                        0.0
                    } else {
                        g * y * a.ln()
                    }
                }),
        ),
        // PyTorch's maximum/minimum: the winner takes the gradient, a tie splits it evenly.
        BinaryOp::Max | BinaryOp::Min => {
            let share = |a: f64, b: f64| winner_share(op, a, b);
            (
                Zip::from(g)
                    .and(&ab)
                    .and(&bb)
                    .map_collect(|&g, &a, &b| g * share(a, b)),
                Zip::from(g)
                    .and(&ab)
                    .and(&bb)
                    .map_collect(|&g, &a, &b| g * share(b, a)),
            )
        }
        // PyTorch's prelu: the slope applies where x <= 0; d/dslope = x there.
        BinaryOp::Prelu => (
            Zip::from(g)
                .and(&ab)
                .and(&bb)
                .map_collect(|&g, &a, &b| if a > 0.0 { g } else { g * b }),
            Zip::from(g)
                .and(&ab)
                .map_collect(|&g, &a| if a > 0.0 { 0.0 } else { g * a }),
        ),
    };
    Ok(vec![
        Some(unbroadcast(ga, a.shape())),
        Some(unbroadcast(gb, b.shape())),
    ])
}

/// Sums a gradient of a broadcast result back to an operand of `shape`: over the leading axes the
/// operand lacks and over its extent-1 axes that were stretched.
pub(crate) fn unbroadcast(mut g: ArrayD<f64>, shape: &[usize]) -> ArrayD<f64> {
    while g.ndim() > shape.len() {
        g = g.sum_axis(Axis(0));
    }
    for (axis, &extent) in shape.iter().enumerate() {
        if extent == 1 && g.shape()[axis] != 1 {
            g = g.sum_axis(Axis(axis)).insert_axis(Axis(axis));
        }
    }
    g
}

/// Forward mode of a unary op: `f'(x) * u`, the same scalar derivative (and kink conventions) as
/// the backward rule.
pub(super) fn unary_jvp(
    op: &UnaryOp,
    x: &ArrayD<f64>,
    y: &ArrayD<f64>,
    u: &ArrayD<f64>,
) -> ArrayD<f64> {
    Zip::from(u)
        .and(x)
        .and(y)
        .map_collect(|&u, &x, &y| u * derivative(op, x, y))
}

/// Forward mode of `a op b` (numpy broadcasting): the tangent of the broadcast result.
pub(super) fn binary_jvp(
    op: BinaryOp,
    a: &ArrayD<f64>,
    b: &ArrayD<f64>,
    y: &ArrayD<f64>,
    da: &ArrayD<f64>,
    db: &ArrayD<f64>,
) -> Result<ArrayD<f64>, RuleError> {
    let shape = IxDyn(y.shape());
    let (Some(ab), Some(bb), Some(dab), Some(dbb)) = (
        a.broadcast(shape.clone()),
        b.broadcast(shape.clone()),
        da.broadcast(shape.clone()),
        db.broadcast(shape),
    ) else {
        return Err(operand_mismatch(
            op.name(),
            format!(
                "operands {:?} and {:?} do not broadcast to the output {:?}",
                a.shape(),
                b.shape(),
                y.shape()
            ),
        ));
    };
    Ok(match op {
        BinaryOp::Add => &dab + &dbb,
        BinaryOp::Sub => &dab - &dbb,
        BinaryOp::Mul => &dab * &bb + &ab * &dbb,
        BinaryOp::Div => Zip::from(&ab)
            .and(&bb)
            .and(&dab)
            .and(&dbb)
            .map_collect(|&a, &b, &da, &db| da / b - a * db / (b * b)),
        BinaryOp::Pow => Zip::from(&ab)
            .and(&bb)
            .and(&dab)
            .and(&dbb)
            .and(y)
            .map_collect(|&a, &b, &da, &db, &y| {
                let wrt_a = if b == 0.0 {
                    0.0
                } else {
                    b * a.powf(b - 1.0) * da
                };
                let wrt_b = if a == 0.0 && b >= 0.0 {
                    0.0
                } else {
                    y * a.ln() * db
                };
                wrt_a + wrt_b
            }),
        BinaryOp::Max | BinaryOp::Min => {
            Zip::from(&ab)
                .and(&bb)
                .and(&dab)
                .and(&dbb)
                .map_collect(|&a, &b, &da, &db| {
                    winner_share(op, a, b) * da + winner_share(op, b, a) * db
                })
        }
        BinaryOp::Prelu => Zip::from(&ab)
            .and(&bb)
            .and(&dab)
            .and(&dbb)
            .map_collect(|&a, &b, &da, &db| if a > 0.0 { da } else { b * da + a * db }),
    })
}

/// The share of the gradient of `max(a, b)` (or `min`) that goes to `a`: 1 when it wins, 1/2 on
/// a tie, else 0.
fn winner_share(op: BinaryOp, a: f64, b: f64) -> f64 {
    let wins = if op == BinaryOp::Max { a > b } else { a < b };
    if wins {
        1.0
    } else if a == b {
        0.5
    } else {
        0.0
    }
}
