//! The device-agnostic kernel interface. Evaluators lower each node to a [`KernelOp`] (an op with
//! its static parameters) and call [`Backend::run`]; a backend owns its tensor storage
//! (`Backend::Tensor`) and moves data in and out with `upload`/`download`. The CPU backend runs
//! the ndarray kernels in [`crate::cpu`]; a CUDA backend implements the same trait.

use crate::cpu::{
    self, AttentionMask, BinaryOp, Conv1dParams, Conv2dParams, Pool2dParams, ReduceOp, Reduction,
    UnaryOp,
};
use crate::dtype::DType;
use crate::error::{KernelError, KernelResult};
use crate::tensor::Tensor;
use ndarray::ArrayViewD;

/// How `scaled_dot_product_attention` reads its optional fourth operand.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MaskKind {
    None,
    /// An i64 tensor, nonzero = may attend.
    Keep,
    /// A float tensor added to the scores.
    Additive,
}

/// One kernel invocation's static part. Operands are positional; optional operands are announced
/// by flags so that the arity is known without looking at the data.
#[derive(Debug, Clone, PartialEq)]
pub enum KernelOp {
    Unary(UnaryOp),
    Binary(BinaryOp),
    /// x, W, [b]
    Linear {
        bias: bool,
    },
    MatMul,
    /// x, w, [b]
    Conv1d {
        params: Conv1dParams,
        bias: bool,
    },
    Conv2d {
        params: Conv2dParams,
        bias: bool,
    },
    /// x, w, [b]
    ConvTranspose2d {
        params: cpu::ConvTranspose2dParams,
        bias: bool,
    },
    /// x, [weight], [bias]; `normalized_shape: None` means the weight's shape when there is a
    /// weight, else the last axis.
    LayerNorm {
        normalized_shape: Option<Vec<usize>>,
        eps: f64,
        weight: bool,
        bias: bool,
    },
    /// x, running_mean, running_var, [weight], [bias]
    BatchNorm {
        eps: f64,
        weight: bool,
        bias: bool,
    },
    /// x, [weight]; `normalized_shape: None` means the last axis.
    RmsNorm {
        normalized_shape: Option<Vec<usize>>,
        eps: f64,
        weight: bool,
    },
    /// Pools take `[N, C, H, W]` or unbatched `[C, H, W]`.
    MaxPool2d(Pool2dParams),
    AvgPool2d(Pool2dParams),
    GlobalAvgPool,
    Reduce {
        op: ReduceOp,
        axes: Option<Vec<isize>>,
        keepdim: bool,
    },
    ArgMax {
        axis: Option<isize>,
        keepdim: bool,
    },
    Softmax {
        axis: isize,
    },
    LogSoftmax {
        axis: isize,
    },
    Transpose {
        dim0: isize,
        dim1: isize,
    },
    Permute {
        dims: Vec<isize>,
    },
    /// One extent may be -1 (inferred); 0 copies the input's extent at that position (tl and
    /// ONNX semantics).
    Reshape {
        shape: Vec<i64>,
    },
    /// Inserts extent-1 axes at `axes` (positions in the output).
    Unsqueeze {
        axes: Vec<isize>,
    },
    /// Removes the given extent-1 axes (`None`: every extent-1 axis).
    Squeeze {
        axes: Option<Vec<isize>>,
    },
    Flatten {
        start_dim: isize,
        end_dim: isize,
    },
    /// any number >= 1 of operands
    Concat {
        axis: isize,
    },
    Slice {
        axis: isize,
        start: i64,
        end: i64,
        step: i64,
    },
    /// x, indices (i64)
    Gather {
        axis: isize,
    },
    /// weight, ids (i64)
    Embedding,
    /// q, k, v, [mask]; outputs the result and, with `return_weights`, the weights.
    Attention {
        causal: bool,
        scale: Option<f64>,
        mask: MaskKind,
        return_weights: bool,
    },
    /// prediction, target
    MseLoss {
        reduction: Reduction,
    },
    /// logits, labels (i64)
    CrossEntropy {
        ignore_index: Option<i64>,
        reduction: Reduction,
    },
    Cast {
        dtype: DType,
    },
    Resize(cpu::ResizeParams),
    /// `pads[axis] = (before, after)`; `value` fills constant mode.
    Pad {
        pads: Vec<(usize, usize)>,
        mode: cpu::PadMode,
        value: f64,
    },
    Lrn(cpu::LrnParams),
    /// cond (any dtype, nonzero = true), a, b: `a` where cond, else `b`, broadcast.
    Where,
    /// Keeps the upper (`j - i >= k`) or lower (`j - i <= k`) triangle of the last two axes.
    Trilu {
        upper: bool,
        k: i64,
    },
}

impl KernelOp {
    pub fn name(&self) -> &'static str {
        match self {
            KernelOp::Unary(u) => u.name(),
            KernelOp::Binary(b) => b.name(),
            KernelOp::Linear { .. } => "linear",
            KernelOp::MatMul => "matmul",
            KernelOp::Conv1d { .. } => "conv1d",
            KernelOp::Conv2d { .. } => "conv2d",
            KernelOp::ConvTranspose2d { .. } => "conv_transpose2d",
            KernelOp::LayerNorm { .. } => "layer_norm",
            KernelOp::BatchNorm { .. } => "batch_norm",
            KernelOp::RmsNorm { .. } => "rms_norm",
            KernelOp::MaxPool2d(_) => "max_pool2d",
            KernelOp::AvgPool2d(_) => "avg_pool2d",
            KernelOp::GlobalAvgPool => "global_avg_pool",
            KernelOp::Reduce { op, .. } => op.name(),
            KernelOp::ArgMax { .. } => "argmax",
            KernelOp::Softmax { .. } => "softmax",
            KernelOp::LogSoftmax { .. } => "log_softmax",
            KernelOp::Transpose { .. } => "transpose",
            KernelOp::Permute { .. } => "permute",
            KernelOp::Reshape { .. } => "reshape",
            KernelOp::Unsqueeze { .. } => "unsqueeze",
            KernelOp::Squeeze { .. } => "squeeze",
            KernelOp::Flatten { .. } => "flatten",
            KernelOp::Concat { .. } => "concat",
            KernelOp::Slice { .. } => "slice",
            KernelOp::Gather { .. } => "gather",
            KernelOp::Embedding => "embedding",
            KernelOp::Attention { .. } => "scaled_dot_product_attention",
            KernelOp::MseLoss { .. } => "mse_loss",
            KernelOp::CrossEntropy { .. } => "cross_entropy",
            KernelOp::Cast { .. } => "cast",
            KernelOp::Pad { .. } => "pad",
            KernelOp::Resize(_) => "resize",
            KernelOp::Where => "where",
            KernelOp::Lrn(_) => "lrn",
            KernelOp::Trilu { .. } => "trilu",
        }
    }

    /// The number of operands this op takes (`None` for variadic concat).
    pub fn arity(&self) -> Option<usize> {
        let n = |base: usize, opts: &[bool]| Some(base + opts.iter().filter(|&&o| o).count());
        match self {
            KernelOp::Unary(_)
            | KernelOp::MaxPool2d(_)
            | KernelOp::AvgPool2d(_)
            | KernelOp::GlobalAvgPool
            | KernelOp::Reduce { .. }
            | KernelOp::ArgMax { .. }
            | KernelOp::Softmax { .. }
            | KernelOp::LogSoftmax { .. }
            | KernelOp::Transpose { .. }
            | KernelOp::Permute { .. }
            | KernelOp::Reshape { .. }
            | KernelOp::Unsqueeze { .. }
            | KernelOp::Squeeze { .. }
            | KernelOp::Flatten { .. }
            | KernelOp::Slice { .. }
            | KernelOp::Pad { .. }
            | KernelOp::Resize(_)
            | KernelOp::Trilu { .. }
            | KernelOp::Lrn(_)
            | KernelOp::Cast { .. } => Some(1),
            KernelOp::Where => Some(3),
            KernelOp::Binary(_)
            | KernelOp::MatMul
            | KernelOp::Gather { .. }
            | KernelOp::Embedding
            | KernelOp::MseLoss { .. }
            | KernelOp::CrossEntropy { .. } => Some(2),
            KernelOp::Linear { bias } => n(2, &[*bias]),
            KernelOp::Conv1d { bias, .. }
            | KernelOp::Conv2d { bias, .. }
            | KernelOp::ConvTranspose2d { bias, .. } => n(2, &[*bias]),
            KernelOp::LayerNorm { weight, bias, .. } => n(1, &[*weight, *bias]),
            KernelOp::BatchNorm { weight, bias, .. } => n(3, &[*weight, *bias]),
            KernelOp::RmsNorm { weight, .. } => n(1, &[*weight]),
            KernelOp::Attention { mask, .. } => n(3, &[*mask != MaskKind::None]),
            KernelOp::Concat { .. } => None,
        }
    }
}

/// A set of kernels on one device.
pub trait Backend {
    /// The backend's tensor storage (host arrays for the CPU, device buffers for a GPU).
    type Tensor: Clone;

    fn name(&self) -> &'static str;
    /// Copies a host tensor to the backend.
    fn upload(&self, t: &Tensor) -> KernelResult<Self::Tensor>;
    /// Copies a backend tensor to the host.
    fn download(&self, t: &Self::Tensor) -> KernelResult<Tensor>;
    /// Runs one op; most ops have one output, attention with weights has two.
    fn run(&self, op: &KernelOp, inputs: &[&Self::Tensor]) -> KernelResult<Vec<Self::Tensor>>;
}

/// The CPU backend: host tensors, ndarray kernels. Float operands of one op must share a dtype
/// (no implicit promotion: the spec decides where precision changes).
#[derive(Debug, Clone, Copy, Default)]
pub struct CpuBackend;

enum Floats<'a> {
    F32(Vec<ArrayViewD<'a, f32>>),
    F64(Vec<ArrayViewD<'a, f64>>),
}

/// Views of the float operands, all of one float dtype.
fn floats<'a>(op: &'static str, ts: &[&'a Tensor]) -> KernelResult<Floats<'a>> {
    let first = ts.first().map(|t| t.dtype()).unwrap_or(DType::F32);
    let mismatch = |found| KernelError::DType {
        op,
        expected: "f32 or f64 operands of one dtype",
        found,
    };
    match first {
        DType::F32 => ts
            .iter()
            .map(|t| {
                t.as_f32()
                    .map(|a| a.view())
                    .map_err(|_| mismatch(t.dtype()))
            })
            .collect::<KernelResult<_>>()
            .map(Floats::F32),
        DType::F64 => ts
            .iter()
            .map(|t| {
                t.as_f64()
                    .map(|a| a.view())
                    .map_err(|_| mismatch(t.dtype()))
            })
            .collect::<KernelResult<_>>()
            .map(Floats::F64),
        other => Err(mismatch(other)),
    }
}

/// Runs `$body` once per float dtype with `$v` bound to the operand views; wraps the result.
macro_rules! per_float {
    ($op:expr, $ts:expr, |$v:ident| $body:expr) => {
        match floats($op, $ts)? {
            Floats::F32($v) => ($body).map(|r| vec![Tensor::from(r)]),
            Floats::F64($v) => ($body).map(|r| vec![Tensor::from(r)]),
        }
    };
}

/// Runs `$body` for any element type (layout ops), with `$x` the first operand's view.
macro_rules! per_any {
    ($t:expr, |$x:ident| $body:expr) => {
        match $t {
            Tensor::F32(a) => {
                let $x = a.view();
                ($body).map(|r| vec![Tensor::from(r)])
            }
            Tensor::F64(a) => {
                let $x = a.view();
                ($body).map(|r| vec![Tensor::from(r)])
            }
            Tensor::I64(a) => {
                let $x = a.view();
                ($body).map(|r| vec![Tensor::from(r)])
            }
        }
    };
}

fn opt<T: Clone>(v: &[T], i: usize, present: bool) -> Option<T> {
    present.then(|| v[i].clone())
}

impl Backend for CpuBackend {
    type Tensor = Tensor;

    fn name(&self) -> &'static str {
        "cpu"
    }

    fn upload(&self, t: &Tensor) -> KernelResult<Tensor> {
        Ok(t.clone())
    }

    fn download(&self, t: &Tensor) -> KernelResult<Tensor> {
        Ok(t.clone())
    }

    fn run(&self, op: &KernelOp, inputs: &[&Tensor]) -> KernelResult<Vec<Tensor>> {
        let name = op.name();
        match op.arity() {
            Some(n) if n != inputs.len() => {
                return Err(KernelError::Arity {
                    op: name,
                    expected: arity_text(n),
                    found: inputs.len(),
                })
            }
            None if inputs.is_empty() => {
                return Err(KernelError::Arity {
                    op: name,
                    expected: "at least 1",
                    found: 0,
                })
            }
            _ => {}
        }
        match op {
            KernelOp::Unary(u) => per_float!(name, inputs, |v| cpu::unary(u, v[0].clone())),
            KernelOp::Binary(b) => per_float!(name, inputs, |v| cpu::binary(
                *b,
                v[0].clone(),
                v[1].clone()
            )),
            KernelOp::Linear { bias } => {
                per_float!(name, inputs, |v| cpu::linear(
                    v[0].clone(),
                    v[1].clone(),
                    opt(&v, 2, *bias)
                ))
            }
            KernelOp::MatMul => {
                per_float!(name, inputs, |v| cpu::matmul(v[0].clone(), v[1].clone()))
            }
            KernelOp::Conv1d { params, bias } => {
                per_float!(name, inputs, |v| cpu::conv1d(
                    v[0].clone(),
                    v[1].clone(),
                    opt(&v, 2, *bias),
                    params
                ))
            }
            KernelOp::Conv2d { params, bias } => {
                per_float!(name, inputs, |v| cpu::conv2d(
                    v[0].clone(),
                    v[1].clone(),
                    opt(&v, 2, *bias),
                    params
                ))
            }
            KernelOp::ConvTranspose2d { params, bias } => {
                per_float!(name, inputs, |v| cpu::conv_transpose2d(
                    v[0].clone(),
                    v[1].clone(),
                    opt(&v, 2, *bias),
                    params
                ))
            }
            KernelOp::LayerNorm {
                normalized_shape,
                eps,
                weight,
                bias,
            } => per_float!(name, inputs, |v| {
                let b_at = 1 + usize::from(*weight);
                let norm = normalized_or_default(normalized_shape, &v[0], weight.then(|| &v[1]));
                cpu::layer_norm(
                    v[0].clone(),
                    &norm,
                    opt(&v, 1, *weight),
                    opt(&v, b_at, *bias),
                    *eps,
                )
            }),
            KernelOp::BatchNorm { eps, weight, bias } => per_float!(name, inputs, |v| {
                let b_at = 3 + usize::from(*weight);
                cpu::batch_norm(
                    v[0].clone(),
                    v[1].clone(),
                    v[2].clone(),
                    opt(&v, 3, *weight),
                    opt(&v, b_at, *bias),
                    *eps,
                )
            }),
            KernelOp::RmsNorm {
                normalized_shape,
                eps,
                weight,
            } => {
                per_float!(name, inputs, |v| cpu::rms_norm(
                    v[0].clone(),
                    &normalized_or_default(normalized_shape, &v[0], None),
                    opt(&v, 1, *weight),
                    *eps
                ))
            }
            KernelOp::MaxPool2d(p) => {
                per_float!(name, inputs, |v| unbatched(v[0].clone(), |x| {
                    cpu::max_pool2d(x, p)
                }))
            }
            KernelOp::AvgPool2d(p) => {
                per_float!(name, inputs, |v| unbatched(v[0].clone(), |x| {
                    cpu::avg_pool2d(x, p)
                }))
            }
            KernelOp::GlobalAvgPool => {
                per_float!(name, inputs, |v| cpu::global_avg_pool(v[0].clone()))
            }
            KernelOp::Reduce { op, axes, keepdim } => {
                per_float!(name, inputs, |v| cpu::reduce(
                    *op,
                    v[0].clone(),
                    axes.as_deref(),
                    *keepdim
                ))
            }
            KernelOp::ArgMax { axis, keepdim } => match inputs[0] {
                Tensor::I64(a) => {
                    let f = a.mapv(|x| x as f64);
                    cpu::argmax(f.view(), *axis, *keepdim).map(|r| vec![Tensor::I64(r)])
                }
                Tensor::F32(a) => {
                    cpu::argmax(a.view(), *axis, *keepdim).map(|r| vec![Tensor::I64(r)])
                }
                Tensor::F64(a) => {
                    cpu::argmax(a.view(), *axis, *keepdim).map(|r| vec![Tensor::I64(r)])
                }
            },
            KernelOp::Softmax { axis } => {
                per_float!(name, inputs, |v| cpu::softmax(v[0].clone(), *axis))
            }
            KernelOp::LogSoftmax { axis } => {
                per_float!(name, inputs, |v| cpu::log_softmax(v[0].clone(), *axis))
            }
            KernelOp::Transpose { dim0, dim1 } => {
                per_any!(inputs[0], |x| cpu::transpose(x, *dim0, *dim1))
            }
            KernelOp::Permute { dims } => per_any!(inputs[0], |x| cpu::permute(x, dims)),
            KernelOp::Reshape { shape } => {
                let target = copy_zero_extents(shape, inputs[0].shape())?;
                per_any!(inputs[0], |x| cpu::reshape(x, &target))
            }
            KernelOp::Unsqueeze { axes } => per_any!(inputs[0], |x| cpu::unsqueeze(x, axes)),
            KernelOp::Squeeze { axes } => per_any!(inputs[0], |x| cpu::squeeze(x, axes.as_deref())),
            KernelOp::Flatten { start_dim, end_dim } => {
                per_any!(inputs[0], |x| cpu::flatten(x, *start_dim, *end_dim))
            }
            KernelOp::Slice {
                axis,
                start,
                end,
                step,
            } => {
                per_any!(inputs[0], |x| cpu::slice(x, *axis, *start, *end, *step))
            }
            KernelOp::Concat { axis } => concat_any(inputs, *axis),
            KernelOp::Gather { axis } => {
                let idx = index_operand(name, inputs[1])?;
                per_any!(inputs[0], |x| cpu::gather(x, *axis, idx.view()))
            }
            KernelOp::Embedding => {
                let idx = index_operand(name, inputs[1])?;
                per_any!(inputs[0], |x| cpu::embedding(x, idx.view()))
            }
            KernelOp::Attention {
                causal,
                scale,
                mask,
                return_weights,
            } => attention(inputs, *causal, *scale, *mask, *return_weights),
            KernelOp::MseLoss { reduction } => {
                per_float!(name, inputs, |v| cpu::mse_loss(
                    v[0].clone(),
                    v[1].clone(),
                    *reduction
                ))
            }
            KernelOp::CrossEntropy {
                ignore_index,
                reduction,
            } => {
                let labels = index_operand(name, inputs[1])?;
                per_float!(name, &inputs[..1], |v| cpu::cross_entropy(
                    v[0].clone(),
                    labels.view(),
                    *ignore_index,
                    *reduction
                ))
            }
            KernelOp::Cast { dtype } => inputs[0].cast(*dtype).map(|t| vec![t]),
            KernelOp::Resize(p) => per_float!(name, inputs, |v| cpu::resize(v[0].clone(), p)),
            KernelOp::Pad { pads, mode, value } => {
                per_float!(name, inputs, |v| cpu::pad(
                    v[0].clone(),
                    pads,
                    *mode,
                    *value
                ))
            }
            KernelOp::Where => {
                let cond = match inputs[0] {
                    Tensor::F32(c) => c.mapv(|v| v != 0.0),
                    Tensor::F64(c) => c.mapv(|v| v != 0.0),
                    Tensor::I64(c) => c.mapv(|v| v != 0),
                };
                per_float!(name, &inputs[1..], |v| cpu::where_select(
                    cond.view(),
                    v[0].clone(),
                    v[1].clone()
                ))
            }
            KernelOp::Lrn(p) => per_float!(name, inputs, |v| cpu::lrn(v[0].clone(), p)),
            KernelOp::Trilu { upper, k } => per_any!(inputs[0], |x| cpu::trilu(x, *upper, *k)),
        }
    }
}

/// The layer/rms norm axes: given, else the weight's shape, else the last axis.
fn normalized_or_default<T>(
    given: &Option<Vec<usize>>,
    x: &ArrayViewD<T>,
    weight: Option<&ArrayViewD<T>>,
) -> Vec<usize> {
    match (given, weight) {
        (Some(n), _) => n.clone(),
        (None, Some(w)) => w.shape().to_vec(),
        (None, None) => x.shape().last().map(|&d| vec![d]).unwrap_or_default(),
    }
}

/// Runs a 4-D pooling kernel on `[C, H, W]` by adding and removing a batch axis.
fn unbatched<T: crate::Real>(
    x: ArrayViewD<T>,
    kernel: impl FnOnce(ArrayViewD<T>) -> KernelResult<ndarray::ArrayD<T>>,
) -> KernelResult<ndarray::ArrayD<T>> {
    if x.ndim() == 3 {
        Ok(kernel(x.insert_axis(ndarray::Axis(0)))?.remove_axis(ndarray::Axis(0)))
    } else {
        kernel(x)
    }
}

/// Replaces each 0 in a reshape target by the input's extent at that position.
fn copy_zero_extents(target: &[i64], input: &[usize]) -> KernelResult<Vec<i64>> {
    target
        .iter()
        .enumerate()
        .map(|(i, &d)| match d {
            0 => input.get(i).map(|&e| e as i64).ok_or_else(|| {
                KernelError::argument(
                    "reshape",
                    format!("shape[{i}] = 0 copies an axis the input {input:?} lacks"),
                )
            }),
            d => Ok(d),
        })
        .collect()
}

fn arity_text(n: usize) -> &'static str {
    ["0", "1", "2", "3", "4", "5"]
        .get(n)
        .copied()
        .unwrap_or("many")
}

fn index_operand<'a>(op: &'static str, t: &'a Tensor) -> KernelResult<&'a ndarray::ArrayD<i64>> {
    t.as_i64().map_err(|_| KernelError::DType {
        op,
        expected: "i64 indices",
        found: t.dtype(),
    })
}

fn concat_any(inputs: &[&Tensor], axis: isize) -> KernelResult<Vec<Tensor>> {
    const OP: &str = "concat";
    match inputs[0] {
        Tensor::I64(_) => {
            let vs = inputs
                .iter()
                .map(|t| index_operand(OP, t).map(|a| a.view()))
                .collect::<KernelResult<Vec<_>>>()?;
            cpu::concat(&vs, axis).map(|r| vec![Tensor::I64(r)])
        }
        _ => per_float!(OP, inputs, |v| cpu::concat(&v, axis)),
    }
}

fn attention(
    inputs: &[&Tensor],
    causal: bool,
    scale: Option<f64>,
    mask: MaskKind,
    return_weights: bool,
) -> KernelResult<Vec<Tensor>> {
    const OP: &str = "scaled_dot_product_attention";
    let keep = match mask {
        MaskKind::Keep => Some(index_operand(OP, inputs[3])?.mapv(|m| m != 0)),
        _ => None,
    };
    let qkv_and_add = if mask == MaskKind::Additive {
        inputs
    } else {
        &inputs[..3]
    };
    macro_rules! go {
        ($v:ident, $wrap:path) => {{
            let m = match (&keep, mask) {
                (Some(k), _) => Some(AttentionMask::Keep(k.view())),
                (None, MaskKind::Additive) => Some(AttentionMask::Additive($v[3].clone())),
                _ => None,
            };
            let r = cpu::scaled_dot_product_attention(
                $v[0].clone(),
                $v[1].clone(),
                $v[2].clone(),
                m,
                causal,
                scale,
                return_weights,
            )?;
            let mut out = vec![$wrap(r.output)];
            out.extend(r.weights.map($wrap));
            Ok(out)
        }};
    }
    match floats(OP, qkv_and_add)? {
        Floats::F32(v) => go!(v, Tensor::F32),
        Floats::F64(v) => go!(v, Tensor::F64),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dispatches_by_dtype_and_checks_arity() {
        let be = CpuBackend;
        let x = Tensor::from_f32(&[2], vec![-1.0, 2.0]).unwrap();
        let y = be.run(&KernelOp::Unary(UnaryOp::Relu), &[&x]).unwrap();
        assert_eq!(y, vec![Tensor::from_f32(&[2], vec![0.0, 2.0]).unwrap()]);
        let err = be.run(&KernelOp::Binary(BinaryOp::Add), &[&x]).unwrap_err();
        assert_eq!(err.code(), "TL0507");
        let x64 = x.cast(DType::F64).unwrap();
        let err = be
            .run(&KernelOp::Binary(BinaryOp::Add), &[&x, &x64])
            .unwrap_err();
        assert_eq!(err.code(), "TL0504");
        let i = Tensor::from_i64(&[2], vec![1, 0]).unwrap();
        assert_eq!(
            be.run(&KernelOp::Unary(UnaryOp::Exp), &[&i])
                .unwrap_err()
                .code(),
            "TL0504"
        );
        let g = be.run(&KernelOp::Gather { axis: 0 }, &[&x64, &i]).unwrap();
        assert_eq!(g[0], Tensor::from_f64(&[2], vec![2.0, -1.0]).unwrap());
    }

    #[test]
    fn layer_ops_route_optional_operands() {
        let be = CpuBackend;
        let x = Tensor::from_f64(&[1, 2], vec![1.0, 3.0]).unwrap();
        let bias = Tensor::from_f64(&[2], vec![10.0, 20.0]).unwrap();
        let op = KernelOp::LayerNorm {
            normalized_shape: Some(vec![2]),
            eps: 0.0,
            weight: false,
            bias: true,
        };
        let y = be.run(&op, &[&x, &bias]).unwrap();
        assert_eq!(y[0], Tensor::from_f64(&[1, 2], vec![9.0, 21.0]).unwrap());
        let q = Tensor::from_f64(&[1, 1], vec![1.0]).unwrap();
        let keep = Tensor::from_i64(&[1, 1], vec![1]).unwrap();
        let op = KernelOp::Attention {
            causal: false,
            scale: None,
            mask: MaskKind::Keep,
            return_weights: true,
        };
        let out = be.run(&op, &[&q, &q, &q, &keep]).unwrap();
        assert_eq!(out.len(), 2);
        assert_eq!(out[1], Tensor::from_f64(&[1, 1], vec![1.0]).unwrap());
        let labels = Tensor::from_i64(&[1], vec![1]).unwrap();
        let op = KernelOp::CrossEntropy {
            ignore_index: None,
            reduction: Reduction::Sum,
        };
        let l = be.run(&op, &[&x, &labels]).unwrap();
        let want = (1f64.exp() + 3f64.exp()).ln() - 3.0;
        assert!((l[0].as_f64().unwrap()[[]] - want).abs() < 1e-12);
    }
}
