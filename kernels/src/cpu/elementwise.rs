//! Elementwise kernels: activations and unary math (one scalar function per op, shared by the
//! whole-array kernels and by fused chains in the compiled plan) and broadcasting binary ops.

use crate::error::{KernelError, KernelResult};
use crate::real::Real;
use crate::tensor::broadcast_shapes;
use ndarray::{ArrayD, ArrayViewD, ArrayViewMutD, IxDyn, Zip};

/// A unary elementwise op with its parameters (given in f64, converted per element type).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum UnaryOp {
    Relu,
    LeakyRelu {
        alpha: f64,
    },
    Sigmoid,
    Tanh,
    /// GELU; `tanh_approx` selects PyTorch's `approximate="tanh"` form instead of the erf form.
    Gelu {
        tanh_approx: bool,
    },
    /// `1/beta * log(1 + exp(beta x))`, linear (`x`) where `beta x > threshold` (PyTorch).
    Softplus {
        beta: f64,
        threshold: f64,
    },
    Silu,
    Neg,
    Exp,
    Log,
    Sqrt,
    Abs,
    /// The Gauss error function.
    Erf,
    /// Clamp to `[min, max]`; a missing bound is unbounded. NaN stays NaN.
    Clamp {
        min: Option<f64>,
        max: Option<f64>,
    },
    /// `x ^ exponent` for a constant exponent.
    PowScalar {
        exponent: f64,
    },
    /// `x * factor`, and `x + offset`: the affine pieces a fused chain needs for constant operands.
    Scale {
        factor: f64,
    },
    Offset {
        offset: f64,
    },
    /// Dropout in evaluation mode: the identity.
    Identity,
    /// `x` for `x > 0`, else `alpha (e^x - 1)`.
    Elu {
        alpha: f64,
    },
    /// `gamma * elu_alpha(x)`.
    Selu {
        alpha: f64,
        gamma: f64,
    },
    /// `max(0, min(1, alpha x + beta))`.
    HardSigmoid {
        alpha: f64,
        beta: f64,
    },
    /// `x * max(0, min(1, x / 6 + 1/2))`.
    HardSwish,
}

impl UnaryOp {
    pub fn name(&self) -> &'static str {
        match self {
            UnaryOp::Relu => "relu",
            UnaryOp::LeakyRelu { .. } => "leaky_relu",
            UnaryOp::Sigmoid => "sigmoid",
            UnaryOp::Tanh => "tanh",
            UnaryOp::Gelu { .. } => "gelu",
            UnaryOp::Softplus { .. } => "softplus",
            UnaryOp::Silu => "silu",
            UnaryOp::Neg => "neg",
            UnaryOp::Exp => "exp",
            UnaryOp::Log => "log",
            UnaryOp::Sqrt => "sqrt",
            UnaryOp::Abs => "abs",
            UnaryOp::Erf => "erf",
            UnaryOp::Clamp { .. } => "clamp",
            UnaryOp::PowScalar { .. } => "pow",
            UnaryOp::Scale { .. } => "mul",
            UnaryOp::Offset { .. } => "add",
            UnaryOp::Identity => "identity",
            UnaryOp::Elu { .. } => "elu",
            UnaryOp::Selu { .. } => "selu",
            UnaryOp::HardSigmoid { .. } => "hard_sigmoid",
            UnaryOp::HardSwish => "hard_swish",
        }
    }

    /// Checks the parameters: finite where they must be, `beta > 0`, `min <= max`.
    pub fn validate(&self) -> KernelResult<()> {
        let op = self.name();
        let finite = |name: &str, v: f64| {
            if v.is_finite() {
                Ok(())
            } else {
                Err(KernelError::argument(
                    op,
                    format!("{name} must be finite, got {v}"),
                ))
            }
        };
        match *self {
            UnaryOp::LeakyRelu { alpha } => finite("alpha", alpha),
            UnaryOp::Softplus { beta, threshold } => {
                finite("beta", beta)?;
                finite("threshold", threshold)?;
                if beta <= 0.0 {
                    return Err(KernelError::argument(
                        op,
                        format!("beta must be > 0, got {beta}"),
                    ));
                }
                Ok(())
            }
            UnaryOp::Clamp { min, max } => {
                if min.is_some_and(f64::is_nan) || max.is_some_and(f64::is_nan) {
                    return Err(KernelError::argument(op, "bounds must not be NaN"));
                }
                if let (Some(lo), Some(hi)) = (min, max) {
                    if lo > hi {
                        return Err(KernelError::argument(op, format!("min {lo} > max {hi}")));
                    }
                }
                Ok(())
            }
            UnaryOp::PowScalar { exponent } => {
                if exponent.is_nan() {
                    return Err(KernelError::argument(op, "exponent is NaN"));
                }
                Ok(())
            }
            UnaryOp::Scale { factor } => finite("factor", factor),
            UnaryOp::Offset { offset } => finite("offset", offset),
            UnaryOp::Elu { alpha } => finite("alpha", alpha),
            UnaryOp::Selu { alpha, gamma } => {
                finite("alpha", alpha)?;
                finite("gamma", gamma)
            }
            UnaryOp::HardSigmoid { alpha, beta } => {
                finite("alpha", alpha)?;
                finite("beta", beta)
            }
            _ => Ok(()),
        }
    }

    /// Applies the op to one value. Call [`UnaryOp::validate`] first.
    #[inline]
    pub fn apply<T: Real>(&self, x: T) -> T {
        let zero = T::zero();
        let one = T::one();
        match *self {
            UnaryOp::Relu => {
                // NaN is kept (NaN > 0 is false), as in PyTorch.
                if x > zero || x.is_nan() {
                    x
                } else {
                    zero
                }
            }
            UnaryOp::LeakyRelu { alpha } => {
                if x >= zero {
                    x
                } else {
                    x * T::from_f64(alpha)
                }
            }
            UnaryOp::Sigmoid => sigmoid(x),
            UnaryOp::Tanh => x.tanh(),
            UnaryOp::Gelu { tanh_approx: false } => {
                let half = T::from_f64(0.5);
                half * x * (one + (x * T::from_f64(std::f64::consts::FRAC_1_SQRT_2)).erf())
            }
            UnaryOp::Gelu { tanh_approx: true } => {
                let half = T::from_f64(0.5);
                let k = T::from_f64((2.0 / std::f64::consts::PI).sqrt());
                let inner = k * (x + T::from_f64(0.044715) * x * x * x);
                half * x * (one + inner.tanh())
            }
            UnaryOp::Softplus { beta, threshold } => {
                let b = T::from_f64(beta);
                let bx = b * x;
                if bx > T::from_f64(threshold) {
                    x
                } else {
                    // log1p(exp(bx)) without overflow: max(bx,0) + log1p(exp(-|bx|)).
                    let pos = if bx > zero { bx } else { zero };
                    (pos + (-bx.abs()).exp().ln_1p()) / b
                }
            }
            UnaryOp::Silu => x * sigmoid(x),
            UnaryOp::Neg => -x,
            UnaryOp::Exp => x.exp(),
            UnaryOp::Log => x.ln(),
            UnaryOp::Sqrt => x.sqrt(),
            UnaryOp::Abs => x.abs(),
            UnaryOp::Erf => x.erf(),
            UnaryOp::Clamp { min, max } => {
                let mut y = x;
                if let Some(lo) = min {
                    let lo = T::from_f64(lo);
                    if y < lo {
                        y = lo;
                    }
                }
                if let Some(hi) = max {
                    let hi = T::from_f64(hi);
                    if y > hi {
                        y = hi;
                    }
                }
                y
            }
            UnaryOp::PowScalar { exponent } => x.powf(T::from_f64(exponent)),
            UnaryOp::Scale { factor } => x * T::from_f64(factor),
            UnaryOp::Offset { offset } => x + T::from_f64(offset),
            UnaryOp::Identity => x,
            UnaryOp::Elu { alpha } => elu(x, T::from_f64(alpha)),
            UnaryOp::Selu { alpha, gamma } => T::from_f64(gamma) * elu(x, T::from_f64(alpha)),
            UnaryOp::HardSigmoid { alpha, beta } => {
                hard_sigmoid(x, T::from_f64(alpha), T::from_f64(beta))
            }
            UnaryOp::HardSwish => x * hard_sigmoid(x, T::from_f64(1.0 / 6.0), T::from_f64(0.5)),
        }
    }
}

/// `x` for `x > 0`, else `alpha (e^x - 1)` (NaN stays NaN).
#[inline]
fn elu<T: Real>(x: T, alpha: T) -> T {
    if x > T::zero() || x.is_nan() {
        x
    } else {
        alpha * (x.exp() - T::one())
    }
}

/// `alpha x + beta` clamped to `[0, 1]` (NaN stays NaN).
#[inline]
fn hard_sigmoid<T: Real>(x: T, alpha: T, beta: T) -> T {
    let v = alpha * x + beta;
    if v < T::zero() {
        T::zero()
    } else if v > T::one() {
        T::one()
    } else {
        v
    }
}

/// Logistic sigmoid, stable for large |x| (never computes exp of a large positive number).
#[inline]
fn sigmoid<T: Real>(x: T) -> T {
    let one = T::one();
    if x >= T::zero() {
        one / (one + (-x).exp())
    } else {
        let e = x.exp();
        e / (one + e)
    }
}

/// `op` applied to every element of `x`.
pub fn unary<T: Real>(op: &UnaryOp, x: ArrayViewD<T>) -> KernelResult<ArrayD<T>> {
    op.validate()?;
    Ok(x.mapv(|v| op.apply(v)))
}

/// `op` applied to every element of `x`, written into `out` (same shape).
pub fn unary_into<T: Real>(
    op: &UnaryOp,
    x: ArrayViewD<T>,
    mut out: ArrayViewMutD<T>,
) -> KernelResult<()> {
    op.validate()?;
    if x.shape() != out.shape() {
        return Err(KernelError::shape(
            op.name(),
            format!(
                "output shape {:?} differs from input shape {:?}",
                out.shape(),
                x.shape()
            ),
        ));
    }
    Zip::from(&mut out)
        .and(&x)
        .for_each(|o, &v| *o = op.apply(v));
    Ok(())
}

/// Applies a chain of unary ops in place, element by element (one pass over memory).
pub fn unary_chain_in_place<T: Real>(ops: &[UnaryOp], mut x: ArrayViewMutD<T>) -> KernelResult<()> {
    for op in ops {
        op.validate()?;
    }
    x.mapv_inplace(|mut v| {
        for op in ops {
            v = op.apply(v);
        }
        v
    });
    Ok(())
}

/// A binary elementwise op with numpy broadcasting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BinaryOp {
    Add,
    Sub,
    Mul,
    Div,
    Pow,
    /// Elementwise maximum / minimum (NaN propagates).
    Max,
    Min,
    /// `a` where `a >= 0`, else `b * a` (ONNX PRelu: `b` is the slope).
    Prelu,
}

impl BinaryOp {
    pub fn name(self) -> &'static str {
        match self {
            BinaryOp::Add => "add",
            BinaryOp::Sub => "sub",
            BinaryOp::Mul => "mul",
            BinaryOp::Div => "div",
            BinaryOp::Pow => "pow",
            BinaryOp::Max => "maximum",
            BinaryOp::Min => "minimum",
            BinaryOp::Prelu => "prelu",
        }
    }

    #[inline]
    pub fn apply<T: Real>(self, a: T, b: T) -> T {
        match self {
            BinaryOp::Add => a + b,
            BinaryOp::Sub => a - b,
            BinaryOp::Mul => a * b,
            BinaryOp::Div => a / b,
            BinaryOp::Pow => a.powf(b),
            BinaryOp::Max => a.max_nan(b),
            BinaryOp::Min => -((-a).max_nan(-b)),
            BinaryOp::Prelu => {
                if a >= T::zero() || a.is_nan() {
                    a
                } else {
                    b * a
                }
            }
        }
    }
}

/// `a op b` with numpy broadcasting.
pub fn binary<T: Real>(
    op: BinaryOp,
    a: ArrayViewD<T>,
    b: ArrayViewD<T>,
) -> KernelResult<ArrayD<T>> {
    let shape = broadcast_shapes(op.name(), a.shape(), b.shape())?;
    crate::tensor::checked_numel(op.name(), &shape)?;
    let mut out = ArrayD::<T>::zeros(IxDyn(&shape));
    binary_into(op, a, b, out.view_mut())?;
    Ok(out)
}

/// `a op b` with numpy broadcasting, written into `out`, whose shape must be the broadcast shape.
pub fn binary_into<T: Real>(
    op: BinaryOp,
    a: ArrayViewD<T>,
    b: ArrayViewD<T>,
    mut out: ArrayViewMutD<T>,
) -> KernelResult<()> {
    let shape = broadcast_shapes(op.name(), a.shape(), b.shape())?;
    if out.shape() != shape.as_slice() {
        return Err(KernelError::shape(
            op.name(),
            format!(
                "output shape {:?} differs from broadcast shape {shape:?}",
                out.shape()
            ),
        ));
    }
    let bcast_err = || KernelError::Broadcast {
        op: op.name(),
        lhs: a.shape().to_vec(),
        rhs: b.shape().to_vec(),
    };
    let a_b = a.broadcast(IxDyn(&shape)).ok_or_else(bcast_err)?;
    let b_b = b.broadcast(IxDyn(&shape)).ok_or_else(bcast_err)?;
    Zip::from(&mut out)
        .and(&a_b)
        .and(&b_b)
        .for_each(|o, &x, &y| *o = op.apply(x, y));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::{arr1, arr2, ArrayD};

    fn un(op: UnaryOp, xs: &[f64]) -> Vec<f64> {
        unary(&op, arr1(xs).into_dyn().view())
            .unwrap()
            .into_iter()
            .collect()
    }

    fn close(a: &[f64], b: &[f64], tol: f64) {
        assert_eq!(a.len(), b.len());
        for (x, y) in a.iter().zip(b) {
            assert!((x - y).abs() <= tol, "{a:?} vs {b:?}");
        }
    }

    #[test]
    fn activations_match_hand_values() {
        assert_eq!(un(UnaryOp::Relu, &[-1.0, 0.0, 2.0]), vec![0.0, 0.0, 2.0]);
        assert_eq!(
            un(UnaryOp::LeakyRelu { alpha: 0.1 }, &[-2.0, 3.0]),
            vec![-0.2, 3.0]
        );
        close(
            &un(UnaryOp::Sigmoid, &[0.0, 2.0, -800.0]),
            &[0.5, 0.8807970779778823, 0.0],
            1e-15,
        );
        close(&un(UnaryOp::Tanh, &[0.5]), &[0.46211715726000974], 1e-15);
        // gelu(1) = 0.5 * (1 + erf(1/sqrt 2)) = 0.8413447460685429
        close(
            &un(UnaryOp::Gelu { tanh_approx: false }, &[1.0, 0.0]),
            &[0.8413447460685429, 0.0],
            1e-12,
        );
        close(
            &un(UnaryOp::Gelu { tanh_approx: true }, &[1.0]),
            &[0.8411919906082768],
            1e-12,
        );
        // softplus(0) = ln 2; above the threshold it is the identity.
        let sp = UnaryOp::Softplus {
            beta: 1.0,
            threshold: 20.0,
        };
        close(
            &un(sp, &[0.0, 30.0, -50.0]),
            &[std::f64::consts::LN_2, 30.0, 1.9287498479639178e-22],
            1e-15,
        );
        close(&un(UnaryOp::Silu, &[1.0]), &[0.7310585786300049], 1e-15);
        // elu(-1) = alpha (e^-1 - 1); selu(-1) = gamma alpha (e^-1 - 1) with PyTorch's constants.
        close(
            &un(UnaryOp::Elu { alpha: 0.5 }, &[-1.0, 2.0, 0.0]),
            &[0.5 * ((-1f64).exp() - 1.0), 2.0, 0.0],
            1e-15,
        );
        close(
            &un(
                UnaryOp::Selu {
                    alpha: 1.6732632423543772,
                    gamma: 1.0507009873554805,
                },
                &[-1.0, 2.0],
            ),
            &[-1.1113307378125625, 2.101401974710961],
            1e-14,
        );
        // nn.Hardsigmoid (alpha 1/6): 0 at -3, 1 at 3, 1/2 at 0; hard_swish(1) = 2/3.
        let hs = UnaryOp::HardSigmoid {
            alpha: 1.0 / 6.0,
            beta: 0.5,
        };
        close(
            &un(hs, &[-4.0, -3.0, 0.0, 1.5, 3.5]),
            &[0.0, 0.0, 0.5, 0.75, 1.0],
            1e-15,
        );
        close(
            &un(UnaryOp::HardSwish, &[-4.0, 1.0, -1.0, 5.0]),
            &[0.0, 2.0 / 3.0, -1.0 / 3.0, 5.0],
            1e-15,
        );
        assert!(un(UnaryOp::HardSwish, &[f64::NAN])[0].is_nan());
    }

    #[test]
    fn math_ops_and_clamp() {
        assert_eq!(un(UnaryOp::Neg, &[1.0, -2.0]), vec![-1.0, 2.0]);
        assert_eq!(un(UnaryOp::Sqrt, &[4.0]), vec![2.0]);
        assert_eq!(un(UnaryOp::Abs, &[-3.0]), vec![3.0]);
        // erf(1) = 0.8427007929497149 (Abramowitz and Stegun, table 7.1); erf is odd.
        close(
            &un(UnaryOp::Erf, &[1.0, -1.0, 0.0]),
            &[0.8427007929497149, -0.8427007929497149, 0.0],
            1e-15,
        );
        close(&un(UnaryOp::Exp, &[1.0]), &[std::f64::consts::E], 1e-15);
        assert_eq!(un(UnaryOp::Log, &[1.0]), vec![0.0]);
        assert_eq!(un(UnaryOp::PowScalar { exponent: 2.0 }, &[3.0]), vec![9.0]);
        let c = UnaryOp::Clamp {
            min: Some(-1.0),
            max: Some(1.0),
        };
        assert_eq!(un(c, &[-5.0, 0.5, 5.0]), vec![-1.0, 0.5, 1.0]);
        let bad = UnaryOp::Clamp {
            min: Some(2.0),
            max: Some(1.0),
        };
        assert_eq!(
            unary(&bad, arr1(&[0.0f64]).into_dyn().view())
                .unwrap_err()
                .code(),
            "TL0503"
        );
        let bad = UnaryOp::Softplus {
            beta: 0.0,
            threshold: 20.0,
        };
        assert!(bad.validate().is_err());
    }

    #[test]
    fn relu_keeps_nan_and_f32_agrees_with_f64() {
        assert!(un(UnaryOp::Relu, &[f64::NAN])[0].is_nan());
        let x32 = arr1(&[-1.5f32, 0.25, 3.0]).into_dyn();
        let y32 = unary(&UnaryOp::Gelu { tanh_approx: false }, x32.view()).unwrap();
        let y64 = un(UnaryOp::Gelu { tanh_approx: false }, &[-1.5, 0.25, 3.0]);
        for (a, b) in y32.iter().zip(&y64) {
            assert!((f64::from(*a) - b).abs() < 1e-6);
        }
    }

    #[test]
    fn binary_broadcasts() {
        let a = arr2(&[[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]).into_dyn();
        let b = arr1(&[10.0, 20.0, 30.0]).into_dyn();
        let y = binary(BinaryOp::Add, a.view(), b.view()).unwrap();
        assert_eq!(
            y,
            arr2(&[[11.0, 22.0, 33.0], [14.0, 25.0, 36.0]]).into_dyn()
        );
        let col = arr2(&[[2.0], [4.0]]).into_dyn();
        let y = binary(BinaryOp::Div, a.view(), col.view()).unwrap();
        assert_eq!(y, arr2(&[[0.5, 1.0, 1.5], [1.0, 1.25, 1.5]]).into_dyn());
        let y = binary(
            BinaryOp::Pow,
            col.view(),
            b.view().slice_move(ndarray::s![..1]).into_dyn(),
        )
        .unwrap();
        assert_eq!(y, arr2(&[[1024.0], [1048576.0]]).into_dyn());
        assert_eq!(
            binary(BinaryOp::Sub, a.view(), col.view()).unwrap()[[1, 2]],
            2.0
        );
        assert_eq!(
            binary(BinaryOp::Mul, a.view(), col.view()).unwrap()[[1, 0]],
            16.0
        );
        let bad = arr1(&[1.0, 2.0]).into_dyn();
        assert_eq!(
            binary(BinaryOp::Add, a.view(), bad.view())
                .unwrap_err()
                .code(),
            "TL0502"
        );
    }

    #[test]
    fn binary_into_checks_output_shape() {
        let a = ArrayD::<f32>::ones(IxDyn(&[2, 2]));
        let mut out = ArrayD::<f32>::zeros(IxDyn(&[2, 3]));
        assert_eq!(
            binary_into(BinaryOp::Add, a.view(), a.view(), out.view_mut())
                .unwrap_err()
                .code(),
            "TL0501"
        );
    }

    #[test]
    fn chain_equals_sequential_application() {
        let x = arr1(&[-2.0f64, -0.5, 0.0, 0.7, 3.0]).into_dyn();
        let ops = [
            UnaryOp::Scale { factor: 2.0 },
            UnaryOp::Offset { offset: 0.5 },
            UnaryOp::Relu,
            UnaryOp::Tanh,
        ];
        let mut fused = x.clone();
        unary_chain_in_place(&ops, fused.view_mut()).unwrap();
        let mut step = x.clone();
        for op in &ops {
            step = unary(op, step.view()).unwrap();
        }
        assert_eq!(fused, step);
    }
}
