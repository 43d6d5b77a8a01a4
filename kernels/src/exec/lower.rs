//! The one table from tl-ir ops (with their attributes) to kernel invocations. Both engines use
//! it; attribute defaults are the op table's (`tl_ir::OPS`).

use crate::backend::{KernelOp, MaskKind};
use crate::cpu::{
    BinaryOp, Conv1dParams, Conv2dParams, Pool2dParams, ReduceOp, Reduction, UnaryOp,
};
use crate::dtype::DType;
use crate::tensor::Tensor;
use ndarray::{ArrayD, IxDyn};
use tl_ir::{AttrValue, Attrs, Op};

/// How a node is computed.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Lowered {
    /// Run `op` on the node's parents picked by `operands`; the node's value is output `output`.
    /// With an attention mask, operand `keep_mask` is turned into a 0/1 i64 tensor first
    /// (tl masks are "nonzero = keep" in any dtype).
    Kernel {
        op: KernelOp,
        operands: Vec<usize>,
        output: usize,
        keep_mask: Option<usize>,
    },
    /// A literal; floats take the engine's float type.
    Constant {
        shape: Vec<usize>,
        data: Vec<f64>,
        integer: bool,
    },
    /// The node's value is its parent's (identity, eval-mode dropout).
    Forward,
}

impl Lowered {
    /// The unary op of a plain elementwise node (candidates for fusion).
    pub(crate) fn as_unary(&self) -> Option<UnaryOp> {
        match self {
            Lowered::Kernel {
                op: KernelOp::Unary(u),
                ..
            } => Some(*u),
            _ => None,
        }
    }

    /// The literal as a tensor of the engine's float type (or i64).
    pub(crate) fn constant_tensor(&self, float: DType) -> Option<Tensor> {
        let Lowered::Constant {
            shape,
            data,
            integer,
        } = self
        else {
            return None;
        };
        let arr = ArrayD::from_shape_vec(IxDyn(shape), data.clone()).ok()?;
        Some(if *integer {
            Tensor::I64(arr.mapv(|v| v as i64))
        } else {
            Tensor::F64(arr).cast(float).ok()?
        })
    }
}

fn kernel(op: KernelOp, operands: Vec<usize>) -> Lowered {
    Lowered::Kernel {
        op,
        operands,
        output: 0,
        keep_mask: None,
    }
}

fn all(n: usize) -> Vec<usize> {
    (0..n).collect()
}

/// Lowers one node with `n` parents.
pub(crate) fn lower(op: Op, attrs: &Attrs, n: usize) -> Result<Lowered, String> {
    let unary = |u: UnaryOp| Ok(kernel(KernelOp::Unary(u), vec![0]));
    let binary = |b: BinaryOp| Ok(kernel(KernelOp::Binary(b), vec![0, 1]));
    match op {
        Op::Relu => unary(UnaryOp::Relu),
        Op::LeakyRelu => unary(UnaryOp::LeakyRelu {
            alpha: attrs.float_or_default(op, "alpha"),
        }),
        Op::Sigmoid => unary(UnaryOp::Sigmoid),
        Op::Tanh => unary(UnaryOp::Tanh),
        Op::Gelu => match attrs.str("approximate", "none") {
            "none" => unary(UnaryOp::Gelu { tanh_approx: false }),
            "tanh" => unary(UnaryOp::Gelu { tanh_approx: true }),
            other => Err(format!(
                "approximate = {other:?} is not \"none\" or \"tanh\""
            )),
        },
        Op::Softplus => unary(UnaryOp::Softplus {
            beta: attrs.float_or_default(op, "beta"),
            threshold: attrs.float_or_default(op, "threshold"),
        }),
        Op::Silu => unary(UnaryOp::Silu),
        Op::Elu => unary(UnaryOp::Elu {
            alpha: attrs.float_or_default(op, "alpha"),
        }),
        Op::Selu => unary(UnaryOp::Selu {
            alpha: attrs.float_or_default(op, "alpha"),
            gamma: attrs.float_or_default(op, "gamma"),
        }),
        Op::HardSigmoid => unary(UnaryOp::HardSigmoid {
            alpha: attrs.float_or_default(op, "alpha"),
            beta: attrs.float_or_default(op, "beta"),
        }),
        Op::HardSwish => unary(UnaryOp::HardSwish),
        Op::Prelu => binary(BinaryOp::Prelu),
        Op::Maximum => binary(BinaryOp::Max),
        Op::Minimum => binary(BinaryOp::Min),
        Op::Pad => pad(attrs),
        Op::Resize => resize(attrs),
        Op::Lrn => {
            let size = attrs.int("size", 0);
            if size < 1 {
                return Err(format!("lrn size must be >= 1, got {size}"));
            }
            Ok(kernel(
                KernelOp::Lrn(crate::cpu::LrnParams {
                    size: size as usize,
                    alpha: attrs.float_or_default(op, "alpha"),
                    beta: attrs.float_or_default(op, "beta"),
                    bias: attrs.float_or_default(op, "bias"),
                }),
                vec![0],
            ))
        }
        Op::Where => Ok(kernel(KernelOp::Where, vec![0, 1, 2])),
        Op::Trilu => Ok(kernel(
            KernelOp::Trilu {
                upper: attrs.bool_or_default(op, "upper"),
                k: attrs.int_or_default(op, "k"),
            },
            vec![0],
        )),
        Op::Neg => unary(UnaryOp::Neg),
        Op::Exp => unary(UnaryOp::Exp),
        Op::Log => unary(UnaryOp::Log),
        Op::Sqrt => unary(UnaryOp::Sqrt),
        Op::Abs => unary(UnaryOp::Abs),
        Op::Erf => unary(UnaryOp::Erf),
        Op::Clamp => unary(UnaryOp::Clamp {
            min: attrs.get("min").and_then(AttrValue::as_f64),
            max: attrs.get("max").and_then(AttrValue::as_f64),
        }),
        Op::Add => binary(BinaryOp::Add),
        Op::Sub => binary(BinaryOp::Sub),
        Op::Mul => binary(BinaryOp::Mul),
        Op::Div => binary(BinaryOp::Div),
        Op::Pow => binary(BinaryOp::Pow),
        Op::Constant => constant(attrs),
        Op::Linear => Ok(kernel(KernelOp::Linear { bias: n == 3 }, all(n))),
        Op::Matmul => Ok(kernel(KernelOp::MatMul, vec![0, 1])),
        Op::Conv1d => {
            let c = conv_attrs(attrs, 1)?;
            let params = Conv1dParams {
                stride: c.stride[0],
                padding: [c.padding[0]; 2],
                dilation: c.dilation[0],
                groups: c.groups,
            };
            Ok(kernel(
                KernelOp::Conv1d {
                    params,
                    bias: n == 3,
                },
                all(n),
            ))
        }
        Op::Conv2d => {
            let c = conv_attrs(attrs, 2)?;
            let params = Conv2dParams::symmetric(
                [c.stride[0], c.stride[1]],
                [c.padding[0], c.padding[1]],
                [c.dilation[0], c.dilation[1]],
                c.groups,
            );
            Ok(kernel(
                KernelOp::Conv2d {
                    params,
                    bias: n == 3,
                },
                all(n),
            ))
        }
        Op::ConvTranspose2d => {
            let c = conv_attrs(attrs, 2)?;
            let output_padding = spatial(attrs, "output_padding", 2, Some(0))?;
            let params = crate::cpu::ConvTranspose2dParams {
                stride: [c.stride[0], c.stride[1]],
                padding: [c.padding[0], c.padding[1]],
                output_padding: [output_padding[0], output_padding[1]],
                dilation: [c.dilation[0], c.dilation[1]],
                groups: c.groups,
            };
            Ok(kernel(
                KernelOp::ConvTranspose2d {
                    params,
                    bias: n == 3,
                },
                all(n),
            ))
        }
        Op::LayerNorm => {
            let normalized_shape = attrs
                .ints("normalized_shape")
                .map(|v| non_negative(&v, "normalized_shape"))
                .transpose()?;
            let eps = attrs.float_or_default(op, "eps");
            Ok(kernel(
                KernelOp::LayerNorm {
                    normalized_shape,
                    eps,
                    weight: n >= 2,
                    bias: n >= 3,
                },
                all(n),
            ))
        }
        // IR order: x, weight, bias, running_mean, running_var.
        Op::BatchNorm => Ok(kernel(
            KernelOp::BatchNorm {
                eps: attrs.float_or_default(op, "eps"),
                weight: true,
                bias: true,
            },
            vec![0, 3, 4, 1, 2],
        )),
        Op::RmsNorm => Ok(kernel(
            KernelOp::RmsNorm {
                normalized_shape: None,
                eps: attrs.float_or_default(op, "eps"),
                weight: n == 2,
            },
            all(n),
        )),
        Op::MaxPool2d | Op::AvgPool2d => {
            let kernel_size = spatial(attrs, "kernel_size", 2, None)?;
            let stride = if attrs.get("stride").is_some() {
                spatial(attrs, "stride", 2, Some(1))?
            } else {
                kernel_size.clone()
            };
            let padding = spatial(attrs, "padding", 2, Some(0))?;
            let dilation = spatial(attrs, "dilation", 2, Some(1))?;
            let p = Pool2dParams {
                kernel: [kernel_size[0], kernel_size[1]],
                stride: [stride[0], stride[1]],
                padding: [[padding[0]; 2], [padding[1]; 2]],
                dilation: [dilation[0], dilation[1]],
                ceil_mode: attrs.bool_or_default(op, "ceil_mode"),
                // Max pooling has no such attribute (padding never wins a maximum).
                count_include_pad: op == Op::MaxPool2d
                    || attrs.bool_or_default(op, "count_include_pad"),
            };
            Ok(kernel(
                if op == Op::MaxPool2d {
                    KernelOp::MaxPool2d(p)
                } else {
                    KernelOp::AvgPool2d(p)
                },
                vec![0],
            ))
        }
        Op::GlobalAvgPool => Ok(kernel(KernelOp::GlobalAvgPool, vec![0])),
        Op::Transpose => Ok(kernel(
            KernelOp::Transpose {
                dim0: attrs.int_or_default(op, "dim0") as isize,
                dim1: attrs.int_or_default(op, "dim1") as isize,
            },
            vec![0],
        )),
        Op::Permute => {
            let dims = attrs.ints("dims").ok_or("permute needs dims")?;
            Ok(kernel(
                KernelOp::Permute {
                    dims: dims.iter().map(|&d| d as isize).collect(),
                },
                vec![0],
            ))
        }
        Op::Dropout | Op::Identity => Ok(Lowered::Forward),
        Op::Sum | Op::Mean | Op::Max => {
            let reduce = match op {
                Op::Sum => ReduceOp::Sum,
                Op::Mean => ReduceOp::Mean,
                _ => ReduceOp::Max,
            };
            let axes = attrs
                .ints("axes")
                .map(|v| v.iter().map(|&a| a as isize).collect());
            Ok(kernel(
                KernelOp::Reduce {
                    op: reduce,
                    axes,
                    keepdim: attrs.bool_or_default(op, "keepdim"),
                },
                vec![0],
            ))
        }
        Op::Argmax => Ok(kernel(
            KernelOp::ArgMax {
                axis: Some(attrs.int_or_default(op, "axis") as isize),
                keepdim: attrs.bool_or_default(op, "keepdim"),
            },
            vec![0],
        )),
        Op::Softmax => Ok(kernel(
            KernelOp::Softmax {
                axis: attrs.int_or_default(op, "axis") as isize,
            },
            vec![0],
        )),
        Op::LogSoftmax => Ok(kernel(
            KernelOp::LogSoftmax {
                axis: attrs.int_or_default(op, "axis") as isize,
            },
            vec![0],
        )),
        Op::Reshape => Ok(kernel(
            KernelOp::Reshape {
                shape: attrs.ints("shape").ok_or("reshape needs shape")?,
            },
            vec![0],
        )),
        Op::Flatten => Ok(kernel(
            KernelOp::Flatten {
                start_dim: attrs.int_or_default(op, "start_dim") as isize,
                end_dim: attrs.int_or_default(op, "end_dim") as isize,
            },
            vec![0],
        )),
        Op::Concat => Ok(kernel(
            KernelOp::Concat {
                axis: attrs.int_or_default(op, "axis") as isize,
            },
            all(n),
        )),
        Op::Slice => {
            let step = attrs.int_or_default(op, "step");
            if step < 1 {
                return Err(format!("slice step must be >= 1, got {step}"));
            }
            Ok(kernel(
                KernelOp::Slice {
                    axis: attrs.int_or_default(op, "axis") as isize,
                    start: attrs.int_or_default(op, "start"),
                    end: attrs.int("end", i64::MAX),
                    step,
                },
                vec![0],
            ))
        }
        Op::Unsqueeze => {
            let axes = attrs.ints("axes").ok_or("unsqueeze needs axes")?;
            Ok(kernel(
                KernelOp::Unsqueeze {
                    axes: axes.iter().map(|&a| a as isize).collect(),
                },
                vec![0],
            ))
        }
        Op::Squeeze => Ok(kernel(
            KernelOp::Squeeze {
                axes: attrs
                    .ints("axes")
                    .map(|v| v.iter().map(|&a| a as isize).collect()),
            },
            vec![0],
        )),
        // IR order: indices, weight.
        Op::Embedding => Ok(kernel(KernelOp::Embedding, vec![1, 0])),
        Op::Gather => Ok(kernel(
            KernelOp::Gather {
                axis: attrs.int_or_default(op, "axis") as isize,
            },
            vec![0, 1],
        )),
        Op::AttentionWeights | Op::ScaledDotProductAttention => {
            let weights_only = op == Op::AttentionWeights;
            let has_mask = n == if weights_only { 3 } else { 4 };
            let scale = attrs.get("scale").and_then(AttrValue::as_f64);
            let attention = KernelOp::Attention {
                causal: attrs.bool_or_default(op, "causal"),
                scale,
                mask: if has_mask {
                    MaskKind::Keep
                } else {
                    MaskKind::None
                },
                return_weights: weights_only,
            };
            // attention_weights(q, k, mask) runs attention with v = k and keeps the weights.
            let mut operands = if weights_only {
                vec![0, 1, 1]
            } else {
                vec![0, 1, 2]
            };
            if has_mask {
                operands.push(n - 1);
            }
            Ok(Lowered::Kernel {
                op: attention,
                operands,
                output: usize::from(weights_only),
                keep_mask: has_mask.then_some(3),
            })
        }
        Op::MseLoss => Ok(kernel(
            KernelOp::MseLoss {
                reduction: reduction(attrs)?,
            },
            vec![0, 1],
        )),
        Op::CrossEntropy => Ok(kernel(
            KernelOp::CrossEntropy {
                ignore_index: Some(attrs.int_or_default(op, "ignore_index")),
                reduction: reduction(attrs)?,
            },
            vec![0, 1],
        )),
    }
}

fn pad(attrs: &Attrs) -> Result<Lowered, String> {
    let pads = attrs.ints("pads").ok_or("pad needs pads")?;
    let pads = non_negative(&pads, "pads")?;
    if pads.len() % 2 != 0 {
        return Err(format!("pads has {} entries, not two per axis", pads.len()));
    }
    let rank = pads.len() / 2;
    let mode_name = attrs.str("mode", "constant");
    let mode = crate::cpu::PadMode::from_name(mode_name)
        .ok_or_else(|| format!("mode = {mode_name:?} is not constant, reflect or edge"))?;
    let value = attrs.float_or_default(Op::Pad, "value");
    Ok(kernel(
        KernelOp::Pad {
            pads: (0..rank).map(|i| (pads[i], pads[rank + i])).collect(),
            mode,
            value,
        },
        vec![0],
    ))
}

fn resize(attrs: &Attrs) -> Result<Lowered, String> {
    use crate::cpu::{CoordinateMode as C, NearestMode as N, ResizeMode as M};
    let shape = non_negative(&attrs.ints("shape").ok_or("resize needs shape")?, "shape")?;
    let mode = match attrs.str("mode", "nearest") {
        "nearest" => M::Nearest,
        "linear" => M::Linear,
        other => return Err(format!("mode = {other:?} is not nearest or linear")),
    };
    let coordinates = match attrs.str("coordinate_transformation_mode", "half_pixel") {
        "half_pixel" => C::HalfPixel,
        "pytorch_half_pixel" => C::PytorchHalfPixel,
        "asymmetric" => C::Asymmetric,
        "align_corners" => C::AlignCorners,
        other => {
            return Err(format!(
                "coordinate_transformation_mode = {other:?} is not supported"
            ))
        }
    };
    let nearest = match attrs.str("nearest_mode", "round_prefer_floor") {
        "round_prefer_floor" => N::RoundPreferFloor,
        "round_prefer_ceil" => N::RoundPreferCeil,
        "floor" => N::Floor,
        "ceil" => N::Ceil,
        other => return Err(format!("nearest_mode = {other:?} is not supported")),
    };
    Ok(kernel(
        KernelOp::Resize(crate::cpu::ResizeParams {
            shape,
            mode,
            coordinates,
            nearest,
        }),
        vec![0],
    ))
}

fn reduction(attrs: &Attrs) -> Result<Reduction, String> {
    match attrs.str("reduction", "mean") {
        "mean" => Ok(Reduction::Mean),
        "sum" => Ok(Reduction::Sum),
        "none" => Ok(Reduction::None),
        other => Err(format!("reduction = {other:?} is not mean, sum or none")),
    }
}

fn non_negative(v: &[i64], name: &str) -> Result<Vec<usize>, String> {
    v.iter()
        .map(|&d| usize::try_from(d).map_err(|_| format!("{name} has negative entry {d}")))
        .collect()
}

/// A per-spatial-axis attribute given as one value or `n` values.
fn spatial(
    attrs: &Attrs,
    name: &str,
    n: usize,
    default: Option<i64>,
) -> Result<Vec<usize>, String> {
    if attrs.get(name).is_none() && default.is_none() {
        return Err(format!("{name} is required"));
    }
    let v = attrs
        .spatial(name, n, default.unwrap_or(0))
        .ok_or_else(|| format!("{name} needs 1 or {n} values"))?;
    non_negative(&v, name)
}

struct ConvAttrs {
    stride: Vec<usize>,
    padding: Vec<usize>,
    dilation: Vec<usize>,
    groups: usize,
}

fn conv_attrs(attrs: &Attrs, n: usize) -> Result<ConvAttrs, String> {
    Ok(ConvAttrs {
        stride: spatial(attrs, "stride", n, Some(1))?,
        padding: spatial(attrs, "padding", n, Some(0))?,
        dilation: spatial(attrs, "dilation", n, Some(1))?,
        groups: usize::try_from(attrs.int("groups", 1))
            .map_err(|_| "groups must be >= 1".to_string())?,
    })
}

fn constant(attrs: &Attrs) -> Result<Lowered, String> {
    let integer = matches!(attrs.str("dtype", "f32"), "i64" | "i32" | "bool");
    let (shape, data) = match attrs.get("value") {
        Some(AttrValue::Tensor { shape, data }) => (
            shape
                .iter()
                .map(|&d| usize::try_from(d).map_err(|_| "dim too large".to_string()))
                .collect::<Result<Vec<_>, _>>()?,
            data.clone(),
        ),
        Some(AttrValue::Ints(v)) => (vec![v.len()], v.iter().map(|&i| i as f64).collect()),
        Some(AttrValue::Int(i)) => (vec![], vec![*i as f64]),
        Some(AttrValue::Float(x)) => (vec![], vec![*x]),
        _ => return Err("constant needs value = a number or nested list".into()),
    };
    if shape.iter().try_fold(1usize, |a, &d| a.checked_mul(d)) != Some(data.len()) {
        return Err(format!(
            "constant of shape {shape:?} has {} values",
            data.len()
        ));
    }
    Ok(Lowered::Constant {
        shape,
        data,
        integer,
    })
}
