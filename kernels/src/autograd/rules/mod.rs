//! Vector-Jacobian products, one per kernel op: given the operands' values, the op's output and
//! the gradient of the (scalar) objective with respect to that output, the gradient with respect
//! to each operand. Rules work on the f64 values of the reference evaluator.
//!
//! An op without a rule is [`RuleError::Missing`], never a silent zero. Integer operands (labels,
//! indices, masks) get no gradient (`None`).

mod attention;
mod elementwise;
mod linalg;
mod loss;
mod norm;
mod reduce;
mod shape;
mod spatial;

pub(crate) use elementwise::unbroadcast;

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
        KernelOp::Linear { bias } => linalg::linear(x(0)?, x(1)?, *bias, g),
        KernelOp::MatMul => linalg::matmul(x(0)?, x(1)?, g),
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
    }
}

#[cfg(test)]
mod tests;
