//! Vector-Jacobian products, one per kernel op: given the operands' values, the op's output and
//! the gradient of the (scalar) objective with respect to that output, the gradient with respect
//! to each operand. Rules work on the f64 values of the reference evaluator.
//!
//! An op without a rule is [`RuleError::Missing`], never a silent zero. Integer operands (labels,
//! indices, masks) get no gradient (`None`).
//!
//! Beside each VJP rule sits its forward-mode rule (Jacobian-vector product, [`jvp`]): given the
//! operands' values and a tangent per operand, the tangent of the output. The same `match` over
//! [`KernelOp`] dispatches both, so an op cannot have one without the other going unnoticed (the
//! op-table test in `tests.rs` runs both on every differentiable op). Ops linear in their float
//! operands (data movement, sums, average pools) apply the forward kernel itself to the tangents;
//! bilinear ops (linear, matmul, convolutions, mul) apply it once per operand; every other op has
//! its derivative written out. The JVP rules are independent of the VJP rules, so the adjoint law
//! `<J u, v> = <u, J^T v>` (`autograd::adjoint`) tests one against the other.

mod attention;
mod elementwise;
mod linalg;
mod loss;
mod norm;
mod reduce;
mod shape;
mod spatial;

pub(crate) use elementwise::unbroadcast;
pub(crate) use spatial::max_pool2d_hull;

use crate::backend::KernelOp;
use crate::error::KernelError;
use crate::tensor::Tensor;
use ndarray::ArrayD;

/// One gradient per operand; `None` where the operand is not differentiable (integers).
pub(crate) type Grads = Vec<Option<ArrayD<f64>>>;

/// Why a rule gave no gradients.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum RuleError {
    /// The op (or this form of it) has no backward rule.
    Missing(String),
    /// The operands do not fit the op (a kernel error with its TL05xx code).
    Kernel(KernelError),
}

impl From<KernelError> for RuleError {
    fn from(e: KernelError) -> Self {
        RuleError::Kernel(e)
    }
}

pub(super) fn operand_mismatch(op: &'static str, detail: impl Into<String>) -> RuleError {
    RuleError::Kernel(KernelError::Shape {
        op,
        detail: detail.into(),
    })
}

/// The f64 value of operand `i`.
fn float<'a>(
    op: &'static str,
    operands: &[&'a Tensor],
    i: usize,
) -> Result<&'a ArrayD<f64>, RuleError> {
    let t = operands
        .get(i)
        .ok_or_else(|| operand_mismatch(op, format!("operand {i} missing")))?;
    Ok(t.as_f64()?)
}

/// The i64 value of operand `i`.
fn integer<'a>(
    op: &'static str,
    operands: &[&'a Tensor],
    i: usize,
) -> Result<&'a ArrayD<i64>, RuleError> {
    let t = operands
        .get(i)
        .ok_or_else(|| operand_mismatch(op, format!("operand {i} missing")))?;
    Ok(t.as_i64()?)
}

/// The gradients of `op`'s operands, given the gradient `g` of its kernel output number
/// `output`, whose value is `y`. Only attention has a rule for an output other than 0 (its
/// weights).
pub(crate) fn vjp(
    op: &KernelOp,
    operands: &[&Tensor],
    output: usize,
    y: &ArrayD<f64>,
    g: &ArrayD<f64>,
) -> Result<Grads, RuleError> {
    vjp_needed(op, operands, output, y, g, &[])
}

/// [`vjp`] where only the operands with `needs[i]` (absent: needed) want a gradient: linear and
/// matmul skip the others (a weight's gradient is the costly outer product when only the input's
/// is asked for); every other rule computes all and the caller drops what it does not need.
pub(crate) fn vjp_needed(
    op: &KernelOp,
    operands: &[&Tensor],
    output: usize,
    y: &ArrayD<f64>,
    g: &ArrayD<f64>,
    needs: &[bool],
) -> Result<Grads, RuleError> {
    let need = |i: usize| needs.get(i).copied().unwrap_or(true);
    let name = op.name();
    let x = |i| float(name, operands, i);
    if output != 0 && !matches!(op, KernelOp::Attention { .. }) {
        return Err(RuleError::Missing(format!(
            "output {output} of {name} has no backward rule"
        )));
    }
    if g.shape() != y.shape() {
        return Err(operand_mismatch(
            name,
            format!(
                "gradient {:?} differs from the output {:?}",
                g.shape(),
                y.shape()
            ),
        ));
    }
    match op {
        KernelOp::Unary(u) => Ok(elementwise::unary(u, x(0)?, y, g)),
        KernelOp::Binary(b) => elementwise::binary(*b, x(0)?, x(1)?, y, g),
        KernelOp::Linear { bias } => linalg::linear(x(0)?, x(1)?, *bias, g, [need(0), need(1)]),
        KernelOp::MatMul => linalg::matmul(x(0)?, x(1)?, g, [need(0), need(1)]),
        KernelOp::Reduce { op, axes, keepdim } => {
            reduce::reduce(*op, axes.as_deref(), *keepdim, x(0)?, y, g)
        }
        KernelOp::Softmax { axis } => reduce::softmax(*axis, y, g),
        KernelOp::LogSoftmax { axis } => reduce::log_softmax(*axis, y, g),
        KernelOp::GlobalAvgPool => reduce::global_avg_pool(x(0)?, g),
        KernelOp::Transpose { dim0, dim1 } => shape::transpose(*dim0, *dim1, g),
        KernelOp::Permute { dims } => shape::permute(dims, g),
        KernelOp::Reshape { .. }
        | KernelOp::Flatten { .. }
        | KernelOp::Squeeze { .. }
        | KernelOp::Unsqueeze { .. } => shape::reshape_back(name, x(0)?, g),
        KernelOp::Concat { axis } => {
            let parts = (0..operands.len()).map(x).collect::<Result<Vec<_>, _>>()?;
            shape::concat(*axis, &parts, g)
        }
        KernelOp::Slice {
            axis,
            start,
            end,
            step,
        } => shape::slice(x(0)?, *axis, *start, *end, *step, g),
        KernelOp::Gather { axis } => shape::gather(x(0)?, *axis, integer(name, operands, 1)?, g),
        KernelOp::Embedding => shape::embedding(x(0)?, integer(name, operands, 1)?, g),
        KernelOp::MseLoss { reduction } => loss::mse(x(0)?, x(1)?, *reduction, g),
        KernelOp::CrossEntropy {
            ignore_index,
            reduction,
        } => loss::cross_entropy(
            x(0)?,
            integer(name, operands, 1)?,
            *ignore_index,
            *reduction,
            g,
        ),
        KernelOp::LayerNorm {
            normalized_shape,
            eps,
            weight,
            bias,
        } => {
            let w = if *weight { Some(x(1)?) } else { None };
            norm::layer_norm(x(0)?, normalized_shape.as_deref(), w, *bias, *eps, g)
        }
        KernelOp::RmsNorm {
            normalized_shape,
            eps,
            weight,
        } => {
            let w = if *weight { Some(x(1)?) } else { None };
            norm::rms_norm(x(0)?, normalized_shape.as_deref(), w, *eps, g)
        }
        KernelOp::BatchNorm { eps, weight, bias } => {
            let w = if *weight { Some(x(3)?) } else { None };
            norm::batch_norm(x(0)?, x(1)?, x(2)?, w, *bias, *eps, g)
        }
        KernelOp::Conv2d { params, bias } => spatial::conv2d(x(0)?, x(1)?, *bias, params, g),
        KernelOp::Conv1d { params, bias } => spatial::conv1d(x(0)?, x(1)?, *bias, params, g),
        KernelOp::ConvTranspose2d { params, bias } => {
            let (dx, dw, db) = crate::cpu::conv_transpose2d_backward(
                x(0)?.view(),
                x(1)?.view(),
                g.view(),
                *bias,
                params,
            )
            .map_err(RuleError::Kernel)?;
            let mut grads = vec![Some(dx), Some(dw)];
            if *bias {
                grads.push(db);
            }
            Ok(grads)
        }
        KernelOp::MaxPool2d(p) => spatial::max_pool2d(x(0)?, y, p, g),
        KernelOp::AvgPool2d(p) => spatial::avg_pool2d(x(0)?, p, g),
        KernelOp::ArgMax { .. } => Err(RuleError::Missing(
            "argmax is piecewise constant with an integer result: it has no gradient".into(),
        )),
        KernelOp::Attention {
            causal,
            scale,
            mask,
            return_weights,
        } => attention::attention(
            attention::Attention {
                causal: *causal,
                scale: *scale,
                mask: *mask,
                return_weights: *return_weights,
            },
            operands,
            output,
            g,
        ),
        KernelOp::Cast { .. } => Err(RuleError::Missing("cast has no backward rule".into())),
        KernelOp::Resize(p) => Ok(vec![Some(
            crate::cpu::resize_backward(g.view(), x(0)?.shape(), p).map_err(RuleError::Kernel)?,
        )]),
        KernelOp::Pad { pads, mode, .. } => Ok(vec![Some(
            crate::cpu::pad_backward(g.view(), x(0)?.shape(), pads, *mode)
                .map_err(RuleError::Kernel)?,
        )]),
        // The gradient flows to the side each element was taken from; the condition has none.
        KernelOp::Where => {
            let zero = Tensor::F64(ArrayD::zeros(ndarray::IxDyn(&[])));
            let g = Tensor::F64(g.clone());
            let ga = run_kernel(op, &[operands[0].clone(), g.clone(), zero.clone()])?;
            let gb = run_kernel(op, &[operands[0].clone(), zero, g])?;
            Ok(vec![
                None,
                Some(unbroadcast(ga, x(1)?.shape())),
                Some(unbroadcast(gb, x(2)?.shape())),
            ])
        }
        KernelOp::Lrn(p) => Ok(vec![Some(
            crate::cpu::lrn_backward(x(0)?.view(), g.view(), p).map_err(RuleError::Kernel)?,
        )]),
        // A mask by position: its own adjoint.
        KernelOp::Trilu { .. } => Ok(vec![Some(run_kernel(op, &[Tensor::F64(g.clone())])?)]),
    }
}

/// Tangents, one per operand: `None` is a zero tangent (integer operands, constants).
pub(crate) type Tangents<'a> = [Option<&'a ArrayD<f64>>];

/// The tangent of operand `i` (zeros when it has none).
fn tangent(
    op: &'static str,
    operands: &[&Tensor],
    tangents: &Tangents,
    i: usize,
) -> Result<ArrayD<f64>, RuleError> {
    let shape = operands
        .get(i)
        .ok_or_else(|| operand_mismatch(op, format!("operand {i} missing")))?
        .shape();
    match tangents.get(i).copied().flatten() {
        Some(t) if t.shape() == shape => Ok(t.clone()),
        Some(t) => Err(operand_mismatch(
            op,
            format!("tangent {:?} for operand {i} of shape {shape:?}", t.shape()),
        )),
        None => Ok(ArrayD::zeros(ndarray::IxDyn(shape))),
    }
}

/// Output 0 of the forward kernel of `op` on `args`, in f64.
fn run_kernel(op: &KernelOp, args: &[Tensor]) -> Result<ArrayD<f64>, RuleError> {
    use crate::backend::{Backend, CpuBackend};
    let refs: Vec<&Tensor> = args.iter().collect();
    let mut outs = CpuBackend.run(op, &refs)?;
    if outs.is_empty() {
        return Err(operand_mismatch(op.name(), "the kernel returned nothing"));
    }
    Ok(outs.swap_remove(0).to_f64())
}

/// The JVP of an op linear in its float operands: the kernel on the tangents (integer operands,
/// indices and labels, kept as they are).
fn linear_in_floats(
    op: &KernelOp,
    operands: &[&Tensor],
    tangents: &Tangents,
) -> Result<ArrayD<f64>, RuleError> {
    let args = operands
        .iter()
        .enumerate()
        .map(|(i, t)| match t {
            Tensor::I64(_) => Ok((*t).clone()),
            _ => tangent(op.name(), operands, tangents, i).map(Tensor::F64),
        })
        .collect::<Result<Vec<_>, _>>()?;
    run_kernel(op, &args)
}

/// The JVP of `op(x, w[, b])`, bilinear in (x, w) plus an optional bias: `op(dx, w, db) +
/// op_nobias(x, dw)`.
fn bilinear(
    op: &KernelOp,
    op_without_bias: &KernelOp,
    operands: &[&Tensor],
    tangents: &Tangents,
) -> Result<ArrayD<f64>, RuleError> {
    let name = op.name();
    let x = float(name, operands, 0)?.clone();
    let w = float(name, operands, 1)?.clone();
    let mut first = vec![
        Tensor::F64(tangent(name, operands, tangents, 0)?),
        Tensor::F64(w),
    ];
    if operands.len() > 2 {
        first.push(Tensor::F64(tangent(name, operands, tangents, 2)?));
    }
    let a = run_kernel(op, &first)?;
    let b = run_kernel(
        op_without_bias,
        &[
            Tensor::F64(x),
            Tensor::F64(tangent(name, operands, tangents, 1)?),
        ],
    )?;
    if a.shape() != b.shape() {
        return Err(operand_mismatch(
            name,
            "the two tangent terms differ in shape",
        ));
    }
    Ok(a + b)
}

/// The tangent of `op`'s kernel output number `output` (value `y`) for the operand tangents
/// `tangents` (one per operand; `None` is zero). Ops without a VJP rule have none here either.
pub(crate) fn jvp(
    op: &KernelOp,
    operands: &[&Tensor],
    tangents: &Tangents,
    output: usize,
    y: &ArrayD<f64>,
) -> Result<ArrayD<f64>, RuleError> {
    let name = op.name();
    let x = |i| float(name, operands, i);
    let dx = |i| tangent(name, operands, tangents, i);
    if output != 0 && !matches!(op, KernelOp::Attention { .. }) {
        return Err(RuleError::Missing(format!(
            "output {output} of {name} has no forward-mode rule"
        )));
    }
    if tangents.len() != operands.len() {
        return Err(operand_mismatch(
            name,
            format!(
                "{} tangents for {} operands",
                tangents.len(),
                operands.len()
            ),
        ));
    }
    let out = match op {
        KernelOp::Unary(u) => elementwise::unary_jvp(u, x(0)?, y, &dx(0)?),
        KernelOp::Binary(b) => elementwise::binary_jvp(*b, x(0)?, x(1)?, y, &dx(0)?, &dx(1)?)?,
        KernelOp::Linear { .. } => {
            bilinear(op, &KernelOp::Linear { bias: false }, operands, tangents)?
        }
        KernelOp::MatMul => bilinear(op, op, operands, tangents)?,
        KernelOp::Conv2d { params, .. } => bilinear(
            op,
            &KernelOp::Conv2d {
                params: *params,
                bias: false,
            },
            operands,
            tangents,
        )?,
        KernelOp::ConvTranspose2d { params, .. } => bilinear(
            op,
            &KernelOp::ConvTranspose2d {
                params: *params,
                bias: false,
            },
            operands,
            tangents,
        )?,
        KernelOp::Conv1d { params, .. } => bilinear(
            op,
            &KernelOp::Conv1d {
                params: *params,
                bias: false,
            },
            operands,
            tangents,
        )?,
        KernelOp::Reduce {
            op: crate::cpu::ReduceOp::Max,
            axes,
            keepdim,
        } => reduce::max_jvp(axes.as_deref(), *keepdim, x(0)?, y, &dx(0)?)?,
        KernelOp::Softmax { axis } => reduce::softmax_jvp(*axis, y, &dx(0)?)?,
        KernelOp::LogSoftmax { axis } => reduce::log_softmax_jvp(*axis, y, &dx(0)?)?,
        KernelOp::Reduce { .. }
        | KernelOp::GlobalAvgPool
        | KernelOp::AvgPool2d(_)
        | KernelOp::Transpose { .. }
        | KernelOp::Permute { .. }
        | KernelOp::Reshape { .. }
        | KernelOp::Flatten { .. }
        | KernelOp::Squeeze { .. }
        | KernelOp::Unsqueeze { .. }
        | KernelOp::Concat { .. }
        | KernelOp::Slice { .. }
        | KernelOp::Gather { .. }
        | KernelOp::Embedding => linear_in_floats(op, operands, tangents)?,
        KernelOp::MseLoss { reduction } => {
            loss::mse_jvp(x(0)?, x(1)?, *reduction, &dx(0)?, &dx(1)?, y)?
        }
        KernelOp::CrossEntropy {
            ignore_index,
            reduction,
        } => loss::cross_entropy_jvp(
            x(0)?,
            integer(name, operands, 1)?,
            *ignore_index,
            *reduction,
            &dx(0)?,
            y,
        )?,
        KernelOp::LayerNorm {
            normalized_shape,
            eps,
            weight,
            bias,
        } => {
            let w = if *weight { Some((x(1)?, dx(1)?)) } else { None };
            let b = if *bias {
                Some(dx(1 + usize::from(*weight))?)
            } else {
                None
            };
            norm::layer_norm_jvp(
                x(0)?,
                &dx(0)?,
                normalized_shape.as_deref(),
                w.as_ref().map(|(w, dw)| (*w, dw)),
                b.as_ref(),
                *eps,
            )?
        }
        KernelOp::RmsNorm {
            normalized_shape,
            eps,
            weight,
        } => {
            let w = if *weight { Some((x(1)?, dx(1)?)) } else { None };
            norm::rms_norm_jvp(
                x(0)?,
                &dx(0)?,
                normalized_shape.as_deref(),
                w.as_ref().map(|(w, dw)| (*w, dw)),
                *eps,
            )?
        }
        KernelOp::BatchNorm { eps, weight, bias } => {
            let w = if *weight { Some((x(3)?, dx(3)?)) } else { None };
            let b = if *bias {
                Some(dx(3 + usize::from(*weight))?)
            } else {
                None
            };
            norm::batch_norm_jvp(
                [x(0)?, x(1)?, x(2)?],
                [&dx(0)?, &dx(1)?, &dx(2)?],
                w.as_ref().map(|(w, dw)| (*w, dw)),
                b.as_ref(),
                *eps,
            )?
        }
        KernelOp::MaxPool2d(p) => spatial::max_pool2d_jvp(x(0)?, y, p, &dx(0)?)?,
        KernelOp::ArgMax { .. } => {
            return Err(RuleError::Missing(
                "argmax is piecewise constant with an integer result: it has no derivative".into(),
            ))
        }
        KernelOp::Attention {
            causal,
            scale,
            mask,
            return_weights,
        } => attention::attention_jvp(
            attention::Attention {
                causal: *causal,
                scale: *scale,
                mask: *mask,
                return_weights: *return_weights,
            },
            operands,
            tangents,
            output,
        )?,
        KernelOp::Cast { .. } => {
            return Err(RuleError::Missing("cast has no forward-mode rule".into()))
        }
        KernelOp::Resize(p) => crate::cpu::resize(dx(0)?.view(), p).map_err(RuleError::Kernel)?,
        // Linear in x; the fill is a constant, so its tangent is 0.
        KernelOp::Pad { pads, mode, .. } => {
            crate::cpu::pad(dx(0)?.view(), pads, *mode, 0.0).map_err(RuleError::Kernel)?
        }
        // Linear in (a, b) for a fixed condition (which has no tangent).
        KernelOp::Where => run_kernel(
            op,
            &[
                operands[0].clone(),
                Tensor::F64(dx(1)?),
                Tensor::F64(dx(2)?),
            ],
        )?,
        KernelOp::Trilu { .. } => linear_in_floats(op, operands, tangents)?,
        KernelOp::Lrn(p) => {
            crate::cpu::lrn_jvp(x(0)?.view(), dx(0)?.view(), p).map_err(RuleError::Kernel)?
        }
    };
    if out.shape() != y.shape() {
        return Err(operand_mismatch(
            name,
            format!(
                "the output tangent {:?} differs from the output {:?}",
                out.shape(),
                y.shape()
            ),
        ));
    }
    Ok(out)
}

/// Whether `op` is evaluated within `margin(v) = rel * max(1, |v|)` of a point where it is not
/// differentiable (the third entry of the op table, beside the VJP and JVP rules): relu, leaky
/// relu and abs at 0, clamp at a bound, and a tie for the maximum of a max reduction or of a max
/// pooling window. `None` where the op is smooth there; else the reason.
pub(crate) fn kink(
    op: &KernelOp,
    operands: &[&Tensor],
    y: &ArrayD<f64>,
    rel: f64,
) -> Result<Option<String>, RuleError> {
    let name = op.name();
    let near = |a: f64, b: f64| (a - b).abs() <= rel * a.abs().max(b.abs()).max(1.0);
    let count = |x: &ArrayD<f64>, at: &dyn Fn(f64) -> bool| x.iter().filter(|&&v| at(v)).count();
    let found = match op {
        KernelOp::Unary(u) => {
            let x = float(name, operands, 0)?;
            let (n, what) = match *u {
                crate::cpu::UnaryOp::Relu
                | crate::cpu::UnaryOp::LeakyRelu { .. }
                | crate::cpu::UnaryOp::Abs => (count(x, &|v| near(v, 0.0)), "at 0"),
                crate::cpu::UnaryOp::Clamp { min, max } => (
                    count(x, &|v| {
                        min.is_some_and(|lo| near(v, lo)) || max.is_some_and(|hi| near(v, hi))
                    }),
                    "at a clamp bound",
                ),
                crate::cpu::UnaryOp::Elu { .. } | crate::cpu::UnaryOp::Selu { .. } => {
                    (count(x, &|v| near(v, 0.0)), "at 0")
                }
                crate::cpu::UnaryOp::HardSigmoid { alpha, beta } if alpha != 0.0 => (
                    count(x, &|v| {
                        near(v, -beta / alpha) || near(v, (1.0 - beta) / alpha)
                    }),
                    "at a corner of hard_sigmoid",
                ),
                crate::cpu::UnaryOp::HardSwish => {
                    (count(x, &|v| near(v, -3.0) || near(v, 3.0)), "at -3 or 3")
                }
                _ => (0, ""),
            };
            (n > 0).then(|| format!("{n} element(s) {what}"))
        }
        KernelOp::Binary(
            b @ (crate::cpu::BinaryOp::Prelu
            | crate::cpu::BinaryOp::Max
            | crate::cpu::BinaryOp::Min),
        ) => {
            let a = float(name, operands, 0)?;
            let n = if *b == crate::cpu::BinaryOp::Prelu {
                count(a, &|v| near(v, 0.0))
            } else {
                let other = float(name, operands, 1)?;
                match (a.broadcast(y.raw_dim()), other.broadcast(y.raw_dim())) {
                    (Some(a), Some(o)) => ndarray::Zip::from(&a)
                        .and(&o)
                        .fold(0, |n, &p, &q| n + usize::from(near(p, q))),
                    _ => 0,
                }
            };
            (n > 0).then(|| format!("{n} element(s) at a kink of {name}"))
        }
        KernelOp::Reduce {
            op: crate::cpu::ReduceOp::Max,
            axes,
            keepdim,
        } => {
            let n = reduce::max_ties(axes.as_deref(), *keepdim, float(name, operands, 0)?, y, rel)?;
            (n > 0).then(|| format!("{n} group(s) whose maximum ties"))
        }
        KernelOp::MaxPool2d(p) => {
            let n = spatial::max_pool2d_ties(float(name, operands, 0)?, y, p, rel)?;
            (n > 0).then(|| format!("{n} window(s) whose maximum ties"))
        }
        _ => None,
    };
    Ok(found)
}

#[cfg(test)]
mod tests;
