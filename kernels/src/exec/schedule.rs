//! The fast schedule of a compiled plan: the plan's steps re-expressed as f32 kernels that write
//! into preallocated buffers (see [`super::Session`]). Built once at compile time:
//!
//! - linear and 2-D convolution with a param weight use a weight packed for the GEMM
//!   micro-kernel; a unary chain reading only their output is fused into the step (relu in the
//!   GEMM epilogue, other ops in place right after), and an average pool over whole windows
//!   reading only a convolution's output is fused into it (each image pooled in cache);
//! - pooling, unary chains, binary ops (broadcasting or not), softmax and log-softmax, layer
//!   norm, transpose and permute, sum/mean/max reductions and pure reshapes have
//!   allocation-free kernels (`session/fast_kernels.rs`), and so do batched matmul and
//!   hard-masked attention (output or weights; `session/batched.rs`; a matmul whose right
//!   operand is a 2-D param runs as a linear step with that param packed), concat, slice and
//!   gather (`session/copies.rs`), RMS norm and batch norm (`session/norms.rs`);
//! - every other step (and any step whose operands turn out not to be f32) runs the generic
//!   kernel, which allocates its result.

use super::compiled::{Step, StepKind};
use super::lower::Lowered;
use super::{ExecError, ExecResult};
use crate::backend::{KernelOp, MaskKind};
use crate::cpu::conv::TiledAvgPool;
use crate::cpu::{BinaryOp, Epilogue, PackedConv2d, PackedMatrix, Pool2dParams, ReduceOp, UnaryOp};
use crate::tensor::Tensor;

/// What a fast step computes.
#[derive(Debug, Clone)]
pub(crate) enum FastKind {
    /// `y = x W^T + b` over the last dim of `x`, W packed.
    Linear {
        weight: PackedMatrix,
        epilogue: Epilogue,
    },
    /// A convolution, with an average pool over whole windows fused after it (each image is
    /// pooled while in cache; the convolution's output is never stored).
    Conv2d {
        conv: PackedConv2d,
        epilogue: Epilogue,
        pool: Option<TiledAvgPool>,
    },
    MaxPool2d(Pool2dParams),
    AvgPool2d(Pool2dParams),
    /// Unary ops applied to a copy of the operand.
    Chain(Vec<UnaryOp>),
    /// A binary op, broadcasting its operands to the output's shape.
    Binary(BinaryOp),
    /// Softmax (or log-softmax) along `axis`.
    Softmax {
        axis: isize,
        log: bool,
    },
    /// x, [weight], [bias]; `normalized_shape` as the generic kernel reads it.
    LayerNorm {
        normalized_shape: Option<Vec<usize>>,
        eps: f64,
        weight: bool,
        bias: bool,
    },
    /// Transpose or permute.
    Permute(AxisOrder),
    /// Sum, mean or max over `axes` (`None`: all); keepdim does not change the layout.
    Reduce {
        op: ReduceOp,
        axes: Option<Vec<isize>>,
    },
    /// The operand's values in a new shape (reshape, flatten, squeeze, unsqueeze), or a graph
    /// output that is an input or a constant copied into its own buffer.
    Copy,
    /// numpy `matmul` of operands 0 and 1.
    MatMul,
    /// Hard-masked scaled dot-product attention: the output, or (`weights`) the weights.
    Attention {
        causal: bool,
        scale: Option<f64>,
        weights: bool,
        /// Positions in the step's operands of q, k, v and the keep mask.
        q: usize,
        k: usize,
        v: usize,
        mask: Option<usize>,
    },
    /// Operands joined along `axis`.
    Concat {
        axis: isize,
    },
    /// `x[start:end:step]` along `axis` (steps >= 1; others run the generic kernel).
    Slice {
        axis: isize,
        start: i64,
        end: i64,
        step: i64,
    },
    /// `numpy.take(x, indices, axis)`, indices i64.
    Gather {
        axis: isize,
    },
    /// x, [weight]; `normalized_shape: None` means the last axis.
    RmsNorm {
        normalized_shape: Option<Vec<usize>>,
        eps: f64,
        weight: bool,
    },
    /// x, running_mean, running_var, [weight], [bias] (evaluation mode); `order[i]` is the
    /// position in the step's operands of kernel operand `i` (the IR lists x, weight, bias,
    /// mean, var).
    BatchNorm {
        eps: f64,
        weight: bool,
        bias: bool,
        order: Vec<usize>,
    },
    /// Only the generic kernels of `origin`.
    Generic,
}

/// The axis order of a transpose or permute, as the op gives it (resolved against the rank
/// at run time).
#[derive(Debug, Clone)]
pub(crate) enum AxisOrder {
    Swap(isize, isize),
    Order(Vec<isize>),
}

/// One step of the fast schedule.
#[derive(Debug, Clone)]
pub(crate) struct FastStep {
    pub(crate) node: String,
    pub(crate) kind: FastKind,
    pub(crate) operands: Vec<usize>,
    pub(crate) output: usize,
    /// Unary ops applied in place after the kernel (a fused chain that is not a lone relu).
    pub(crate) post: Vec<UnaryOp>,
    /// The plan steps this step stands for, run generically when the fast kernel does not apply.
    pub(crate) origin: Vec<usize>,
}

/// The schedule and the slots it needs beyond the graph's nodes.
#[derive(Debug, Clone)]
pub(crate) struct Schedule {
    pub(crate) steps: Vec<FastStep>,
    /// Slot count: graph nodes plus one buffer per output that is an input or a constant.
    pub(crate) slots: usize,
    /// (output name, slot) in the schedule's numbering.
    pub(crate) outputs: Vec<(String, usize)>,
    /// Slots some fast step writes (others need no buffer).
    pub(crate) written: Vec<bool>,
}

/// Builds the fast schedule of `steps`. `fixed` holds params and constants by slot, `uses` the
/// number of kernel steps reading each slot, `outputs` the graph outputs by slot.
pub(crate) fn build(
    steps: &[Step],
    fixed: &[Option<Tensor>],
    uses: &[usize],
    outputs: &[(String, usize)],
) -> ExecResult<Schedule> {
    let n = fixed.len();
    let is_output = |slot: usize| outputs.iter().any(|(_, s)| *s == slot);
    let mut fast: Vec<FastStep> = Vec::with_capacity(steps.len());
    // The fast step producing each slot, for fusing a chain into it.
    let mut producer: Vec<Option<usize>> = vec![None; n];
    for (index, step) in steps.iter().enumerate() {
        if let Some(pool) = tiled_avg_pool(step) {
            let src = step.operands[0];
            let fusible = uses[src] == 1 && !is_output(src) && fixed[src].is_none();
            if let Some(p) = producer[src].filter(|_| fusible) {
                let target = &mut fast[p];
                if let FastKind::Conv2d {
                    pool: slot @ None, ..
                } = &mut target.kind
                {
                    if target.post.is_empty() && target.output == src {
                        *slot = Some(pool);
                        target.output = step.output;
                        target.origin.push(index);
                        producer[step.output] = Some(p);
                        continue;
                    }
                }
            }
        }
        if let StepKind::Chain(ops) = &step.kind {
            let src = step.operands[0];
            let fusible = uses[src] == 1 && !is_output(src) && fixed[src].is_none();
            if let Some(p) = producer[src].filter(|_| fusible) {
                let target = &mut fast[p];
                let gemm = matches!(
                    target.kind,
                    // Not after a fused pool: the epilogue runs before the pooling.
                    FastKind::Linear { .. } | FastKind::Conv2d { pool: None, .. }
                );
                if gemm && target.post.is_empty() && target.output == src {
                    fuse(target, ops, step.output, index);
                    producer[step.output] = Some(p);
                    continue;
                }
            }
        }
        let kind = fast_kind(step, fixed)?;
        producer[step.output] = Some(fast.len());
        fast.push(FastStep {
            node: step.node.clone(),
            kind,
            operands: step.operands.clone(),
            output: step.output,
            post: vec![],
            origin: vec![index],
        });
    }
    // Outputs that no step writes (an input or a constant) get a buffer of their own.
    let mut slots = n;
    let mut schedule_outputs = Vec::with_capacity(outputs.len());
    for (name, slot) in outputs {
        let produced = steps.iter().any(|s| s.output == *slot);
        if produced {
            schedule_outputs.push((name.clone(), *slot));
            continue;
        }
        fast.push(FastStep {
            node: name.clone(),
            kind: FastKind::Copy,
            operands: vec![*slot],
            output: slots,
            post: vec![],
            origin: vec![],
        });
        schedule_outputs.push((name.clone(), slots));
        slots += 1;
    }
    let mut written = vec![false; slots];
    for step in &fast {
        written[step.output] = true;
    }
    Ok(Schedule {
        steps: fast,
        slots,
        outputs: schedule_outputs,
        written,
    })
}

/// The pool of an average-pooling step whose windows tile its input.
fn tiled_avg_pool(step: &Step) -> Option<TiledAvgPool> {
    match &step.kind {
        StepKind::Kernel(Lowered::Kernel {
            op: KernelOp::AvgPool2d(p),
            output: 0,
            keep_mask: None,
            ..
        }) => TiledAvgPool::from_params(p),
        _ => None,
    }
}

/// Folds the unary chain `ops` (plan step `index`, writing `output`) into a GEMM step.
fn fuse(target: &mut FastStep, ops: &[UnaryOp], output: usize, index: usize) {
    let epilogue = match &mut target.kind {
        FastKind::Linear { epilogue, .. } | FastKind::Conv2d { epilogue, .. } => epilogue,
        _ => unreachable!("only GEMM steps take a chain"),
    };
    match ops {
        [UnaryOp::Relu] => *epilogue = Epilogue::Relu,
        _ => target.post = ops.to_vec(),
    }
    target.output = output;
    target.origin.push(index);
}

/// The fast kernel for one plan step.
fn fast_kind(step: &Step, fixed: &[Option<Tensor>]) -> ExecResult<FastKind> {
    let f32_param = |pos: usize| match step.operands.get(pos).and_then(|&s| fixed[s].as_ref()) {
        Some(Tensor::F32(a)) => Some(a.view()),
        _ => None,
    };
    let packing = |e: crate::KernelError| ExecError::Kernel {
        node: step.node.clone(),
        source: e,
    };
    let l = match &step.kind {
        StepKind::Chain(ops) => return Ok(FastKind::Chain(ops.clone())),
        StepKind::Kernel(l) => l,
    };
    if let Some(kind) = attention_kind(l) {
        return Ok(kind);
    }
    let Lowered::Kernel {
        op,
        operands,
        output: 0,
        keep_mask: None,
    } = l
    else {
        return Ok(FastKind::Generic);
    };
    // Kernel operands in order (the lowering may reorder the node's parents).
    let arg = |i: usize| operands.get(i).copied();
    let param = |i: usize| arg(i).and_then(f32_param);
    let identity_order = operands.iter().enumerate().all(|(i, &o)| i == o);
    Ok(match op {
        KernelOp::Linear { bias } if identity_order => match (param(1), *bias) {
            (Some(w), false) => match w.into_dimensionality::<ndarray::Ix2>() {
                Ok(w2) => FastKind::Linear {
                    weight: PackedMatrix::from_rows(w2, None).map_err(packing)?,
                    epilogue: Epilogue::None,
                },
                Err(_) => FastKind::Generic,
            },
            (Some(w), true) => match (
                w.into_dimensionality::<ndarray::Ix2>(),
                param(2).map(|b| b.into_dimensionality::<ndarray::Ix1>()),
            ) {
                (Ok(w2), Some(Ok(b1))) if b1.len() == w2.nrows() => FastKind::Linear {
                    weight: PackedMatrix::from_rows(w2, Some(b1)).map_err(packing)?,
                    epilogue: Epilogue::None,
                },
                _ => FastKind::Generic,
            },
            _ => FastKind::Generic,
        },
        KernelOp::Conv2d { params, bias } if identity_order && params.groups == 1 => {
            let weight = param(1);
            let b = if *bias { param(2) } else { None };
            match weight {
                Some(w) if w.ndim() == 4 && (!*bias || b.is_some()) => {
                    match PackedConv2d::new(w, b, *params) {
                        Ok(conv) => FastKind::Conv2d {
                            conv,
                            epilogue: Epilogue::None,
                            pool: None,
                        },
                        // A bad weight or bias: the generic kernel reports it at run time.
                        Err(_) => FastKind::Generic,
                    }
                }
                _ => FastKind::Generic,
            }
        }
        KernelOp::MaxPool2d(p) => FastKind::MaxPool2d(*p),
        KernelOp::AvgPool2d(p) => FastKind::AvgPool2d(*p),
        KernelOp::Binary(b) if identity_order => FastKind::Binary(*b),
        // `x @ B` with B a 2-D param is a linear layer with weight B^T: packed once, GEMM.
        KernelOp::MatMul if identity_order => {
            match param(1).map(|b| b.into_dimensionality::<ndarray::Ix2>()) {
                Some(Ok(b)) => FastKind::Linear {
                    weight: PackedMatrix::from_rows(b.t(), None).map_err(packing)?,
                    epilogue: Epilogue::None,
                },
                _ => FastKind::MatMul,
            }
        }
        KernelOp::Concat { axis } if identity_order => FastKind::Concat { axis: *axis },
        KernelOp::Slice {
            axis,
            start,
            end,
            step,
        } => FastKind::Slice {
            axis: *axis,
            start: *start,
            end: *end,
            step: *step,
        },
        KernelOp::Gather { axis } if identity_order => FastKind::Gather { axis: *axis },
        KernelOp::Softmax { axis } => FastKind::Softmax {
            axis: *axis,
            log: false,
        },
        KernelOp::LogSoftmax { axis } => FastKind::Softmax {
            axis: *axis,
            log: true,
        },
        KernelOp::LayerNorm {
            normalized_shape,
            eps,
            weight,
            bias,
        } if identity_order => FastKind::LayerNorm {
            normalized_shape: normalized_shape.clone(),
            eps: *eps,
            weight: *weight,
            bias: *bias,
        },
        KernelOp::RmsNorm {
            normalized_shape,
            eps,
            weight,
        } if identity_order => FastKind::RmsNorm {
            normalized_shape: normalized_shape.clone(),
            eps: *eps,
            weight: *weight,
        },
        KernelOp::BatchNorm { eps, weight, bias } if operands.first() == Some(&0) => {
            FastKind::BatchNorm {
                eps: *eps,
                weight: *weight,
                bias: *bias,
                order: operands.clone(),
            }
        }
        KernelOp::Transpose { dim0, dim1 } => FastKind::Permute(AxisOrder::Swap(*dim0, *dim1)),
        KernelOp::Permute { dims } => FastKind::Permute(AxisOrder::Order(dims.clone())),
        KernelOp::Reduce { op, axes, .. } => FastKind::Reduce {
            op: *op,
            axes: axes.clone(),
        },
        KernelOp::Reshape { .. }
        | KernelOp::Flatten { .. }
        | KernelOp::Squeeze { .. }
        | KernelOp::Unsqueeze { .. } => FastKind::Copy,
        _ => FastKind::Generic,
    })
}

/// The fast kind of an attention step with no mask or a keep mask (additive masks, which the
/// lowering never produces, stay generic).
fn attention_kind(l: &Lowered) -> Option<FastKind> {
    let Lowered::Kernel {
        op:
            KernelOp::Attention {
                causal,
                scale,
                mask,
                return_weights,
            },
        operands,
        output,
        keep_mask,
    } = l
    else {
        return None;
    };
    let masked = match (mask, keep_mask) {
        (MaskKind::None, None) => None,
        (MaskKind::Keep, Some(3)) => Some(*operands.get(3)?),
        _ => return None,
    };
    let weights = match (*output, *return_weights) {
        (0, _) => false,
        (1, true) => true,
        _ => return None,
    };
    Some(FastKind::Attention {
        causal: *causal,
        scale: *scale,
        weights,
        q: *operands.first()?,
        k: *operands.get(1)?,
        v: *operands.get(2)?,
        mask: masked,
    })
}
