//! Every rule against central finite differences of `L = sum(r * op(operands))` for a random
//! cotangent `r`, on random f64 operands with odd shapes and broadcasting. Points are kept away
//! from kinks (relu/abs/clamp/max), where the one-sided derivatives differ.
//!
//! Every case also runs the op's forward-mode rule: its JVP against central differences along a
//! random direction, and the adjoint law `<JVP u, v> = <u, VJP v>` within its derived rounding
//! budget (`autograd::adjoint`). So the cases below are the op-table test of all three.

use super::*;
use crate::backend::{Backend, CpuBackend};
use crate::cpu::{
    BinaryOp, Conv1dParams, Conv2dParams, Pool2dParams, ReduceOp, Reduction, UnaryOp,
};
use ndarray::IxDyn;

/// splitmix64: deterministic test values without a dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> f64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        (z >> 11) as f64 / (1u64 << 53) as f64
    }
    /// Uniform in [lo, hi).
    fn uniform(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * self.next()
    }
    fn array(&mut self, shape: &[usize], lo: f64, hi: f64) -> ArrayD<f64> {
        ArrayD::from_shape_simple_fn(IxDyn(shape), || self.uniform(lo, hi))
    }
    /// Values in ±[0.1, 2): at least 0.1 from the kink at 0.
    fn away_from_zero(&mut self, shape: &[usize]) -> ArrayD<f64> {
        ArrayD::from_shape_simple_fn(IxDyn(shape), || {
            let m = self.uniform(0.1, 2.0);
            if self.next() < 0.5 {
                -m
            } else {
                m
            }
        })
    }
}

/// Kernel output `output` of `op` on `operands`, in f64.
fn forward_output(op: &KernelOp, operands: &[Tensor], output: usize) -> ArrayD<f64> {
    let refs: Vec<&Tensor> = operands.iter().collect();
    CpuBackend
        .run(op, &refs)
        .expect("forward")
        .swap_remove(output)
        .to_f64()
}

fn forward(op: &KernelOp, operands: &[Tensor]) -> ArrayD<f64> {
    forward_output(op, operands, 0)
}

/// Compares the rule's gradient of every float operand with central differences.
fn check(op: KernelOp, operands: Vec<Tensor>, seed: u64) {
    check_output(op, operands, 0, seed);
}

/// [`check`] for kernel output `output`; returns the rule's gradients.
fn check_output(op: KernelOp, operands: Vec<Tensor>, output: usize, seed: u64) -> Grads {
    let mut rng = Rng(seed);
    let y = forward_output(&op, &operands, output);
    let r = rng.array(y.shape(), -1.0, 1.0);
    let loss = |ops: &[Tensor]| (forward_output(&op, ops, output) * &r).sum();
    let refs: Vec<&Tensor> = operands.iter().collect();
    let grads = vjp(&op, &refs, output, &y, &r).unwrap_or_else(|e| panic!("{}: {e:?}", op.name()));
    assert_eq!(
        grads.len(),
        operands.len(),
        "{}: one gradient per operand",
        op.name()
    );
    for (k, t) in operands.iter().enumerate() {
        let Tensor::F64(x) = t else {
            assert!(
                grads[k].is_none(),
                "{}: integer operand {k} has no gradient",
                op.name()
            );
            continue;
        };
        let g = grads[k]
            .as_ref()
            .unwrap_or_else(|| panic!("{}: no gradient for operand {k}", op.name()));
        assert_eq!(g.shape(), x.shape(), "{}: operand {k}", op.name());
        let g_row_major: Vec<f64> = g.iter().copied().collect();
        for (i, &ad) in g_row_major.iter().enumerate() {
            let xi = x.as_slice().unwrap()[i];
            let h = 1e-6 * xi.abs().max(1.0);
            let mut moved = operands.clone();
            let at = |ops: &mut Vec<Tensor>, v: f64| {
                let Tensor::F64(a) = &mut ops[k] else {
                    unreachable!()
                };
                a.as_slice_mut().unwrap()[i] = v;
            };
            at(&mut moved, xi + h);
            let up = loss(&moved);
            at(&mut moved, xi - h);
            let down = loss(&moved);
            let fd = (up - down) / ((xi + h) - (xi - h));
            assert!(
                (ad - fd).abs() <= 1e-6 * fd.abs().max(1.0),
                "{} operand {k} index {i}: autograd {ad} vs finite difference {fd}",
                op.name()
            );
        }
    }
    check_jvp(&op, &operands, output, &y, &r, &mut rng);
    grads
}

/// The JVP along a random direction `u` (one per float operand) against the central difference
/// `(f(x + h u) - f(x - h u)) / 2h`, element by element; then the adjoint law with the cotangent
/// `r`.
fn check_jvp(
    op: &KernelOp,
    operands: &[Tensor],
    output: usize,
    y: &ArrayD<f64>,
    r: &ArrayD<f64>,
    rng: &mut Rng,
) {
    let u: Vec<Option<ArrayD<f64>>> = operands
        .iter()
        .map(|t| match t {
            Tensor::F64(x) => Some(rng.array(x.shape(), -1.0, 1.0)),
            _ => None,
        })
        .collect();
    let refs: Vec<&Tensor> = operands.iter().collect();
    let us: Vec<Option<&ArrayD<f64>>> = u.iter().map(Option::as_ref).collect();
    let ju = jvp(op, &refs, &us, output, y).unwrap_or_else(|e| panic!("{} jvp: {e:?}", op.name()));
    assert_eq!(ju.shape(), y.shape(), "{}: tangent shape", op.name());
    let scale = operands
        .iter()
        .filter_map(|t| t.as_f64().ok())
        .flat_map(|a| a.iter())
        .fold(1.0f64, |m, v| m.max(v.abs()));
    let h = 1e-6 * scale;
    let moved = |sign: f64| -> Vec<Tensor> {
        operands
            .iter()
            .zip(&u)
            .map(|(t, d)| match (t, d) {
                (Tensor::F64(x), Some(d)) => Tensor::F64(x + &(d * (sign * h))),
                _ => t.clone(),
            })
            .collect()
    };
    let (up, down) = (
        forward_output(op, &moved(1.0), output),
        forward_output(op, &moved(-1.0), output),
    );
    for (i, ((&j, &a), &b)) in ju.iter().zip(up.iter()).zip(down.iter()).enumerate() {
        let fd = (a - b) / (2.0 * h);
        assert!(
            (j - fd).abs() <= 1e-6 * fd.abs().max(1.0),
            "{} output element {i}: forward mode {j} vs finite difference {fd}",
            op.name()
        );
    }
    let law = crate::autograd::adjoint::op_adjoint(op, &refs, &us, output, y, r)
        .unwrap_or_else(|e| panic!("{} adjoint: {e:?}", op.name()));
    assert!(
        law.holds(),
        "{}: <J u, v> = {} but <u, J^T v> = {} (error {:e} > budget {:e})",
        op.name(),
        law.forward,
        law.reverse,
        law.error(),
        law.budget
    );
}

/// A wrong rule breaks the adjoint law: a VJP rule with a flipped sign, simulated by negating
/// the cotangent on one side only, misses by far more than the budget.
#[test]
fn the_adjoint_law_catches_a_wrong_rule() {
    let mut rng = Rng(77);
    let op = KernelOp::Linear { bias: true };
    let ops = [
        t(rng.array(&[3, 4], -1.0, 1.0)),
        t(rng.array(&[5, 4], -1.0, 1.0)),
        t(rng.array(&[5], -1.0, 1.0)),
    ];
    let refs: Vec<&Tensor> = ops.iter().collect();
    let y = forward(&op, &ops);
    let v = rng.array(y.shape(), -1.0, 1.0);
    let u: Vec<ArrayD<f64>> = ops
        .iter()
        .map(|o| rng.array(o.shape(), -1.0, 1.0))
        .collect();
    let us: Vec<Option<&ArrayD<f64>>> = u.iter().map(Some).collect();
    let right = crate::autograd::adjoint::op_adjoint(&op, &refs, &us, 0, &y, &v).unwrap();
    assert!(right.holds(), "{right:?}");
    // The same law with a wrong transpose (the cotangent scaled by 1.001 on the reverse side).
    let wrong =
        crate::autograd::adjoint::op_adjoint(&op, &refs, &us, 0, &y, &(&v * 1.001)).unwrap();
    let forged = crate::autograd::AdjointCheck {
        forward: right.forward,
        ..wrong
    };
    assert!(!forged.holds(), "{forged:?}");
}

fn t(a: ArrayD<f64>) -> Tensor {
    Tensor::F64(a)
}

#[test]
fn unary_rules_match_finite_differences() {
    let mut rng = Rng(1);
    let kinked = [
        UnaryOp::Relu,
        UnaryOp::LeakyRelu { alpha: 0.07 },
        UnaryOp::Abs,
        UnaryOp::Clamp {
            min: Some(-0.05),
            max: Some(0.05),
        },
        UnaryOp::Elu { alpha: 1.3 },
        UnaryOp::Selu {
            alpha: 1.6732632423543772,
            gamma: 1.0507009873554805,
        },
    ];
    for (s, op) in kinked.into_iter().enumerate() {
        check(
            KernelOp::Unary(op),
            vec![t(rng.away_from_zero(&[3, 5]))],
            10 + s as u64,
        );
    }
    let smooth = [
        UnaryOp::Sigmoid,
        UnaryOp::Tanh,
        UnaryOp::Gelu { tanh_approx: false },
        UnaryOp::Gelu { tanh_approx: true },
        UnaryOp::Softplus {
            beta: 1.5,
            threshold: 20.0,
        },
        UnaryOp::Silu,
        UnaryOp::Neg,
        UnaryOp::Exp,
        UnaryOp::Erf,
        UnaryOp::Scale { factor: -2.5 },
        UnaryOp::Offset { offset: 3.0 },
        UnaryOp::Identity,
    ];
    for (s, op) in smooth.into_iter().enumerate() {
        check(
            KernelOp::Unary(op),
            vec![t(rng.array(&[2, 3, 2], -3.0, 3.0))],
            20 + s as u64,
        );
    }
    for (s, op) in [
        UnaryOp::Log,
        UnaryOp::Sqrt,
        UnaryOp::PowScalar { exponent: 2.7 },
    ]
    .into_iter()
    .enumerate()
    {
        check(
            KernelOp::Unary(op),
            vec![t(rng.array(&[7], 0.3, 4.0))],
            40 + s as u64,
        );
    }
    // Piecewise-linear activations away from their corners (hard_sigmoid's at -2.5 and 2.5,
    // hard_swish's at -3 and 3), inside and outside.
    for (s, (lo, hi)) in [(-2.4, 2.4), (2.6, 4.0), (-4.0, -3.1)]
        .into_iter()
        .enumerate()
    {
        for (k, op) in [
            UnaryOp::HardSigmoid {
                alpha: 0.2,
                beta: 0.5,
            },
            UnaryOp::HardSwish,
        ]
        .into_iter()
        .enumerate()
        {
            check(
                KernelOp::Unary(op),
                vec![t(rng.array(&[2, 5], lo, hi))],
                60 + 2 * s as u64 + k as u64,
            );
        }
    }
    // Softplus in its linear region (beta x > threshold).
    check(
        KernelOp::Unary(UnaryOp::Softplus {
            beta: 2.0,
            threshold: 1.0,
        }),
        vec![t(rng.array(&[4], 0.8, 3.0))],
        50,
    );
}

#[test]
fn kink_conventions_are_pytorchs() {
    let zero = ArrayD::<f64>::zeros(IxDyn(&[1]));
    let g = ArrayD::<f64>::ones(IxDyn(&[1]));
    let at_zero = |op: UnaryOp| {
        let y = forward(&KernelOp::Unary(op), &[t(zero.clone())]);
        vjp(&KernelOp::Unary(op), &[&t(zero.clone())], 0, &y, &g).unwrap()[0]
            .clone()
            .unwrap()[[0]]
    };
    assert_eq!(at_zero(UnaryOp::Relu), 0.0);
    assert_eq!(at_zero(UnaryOp::Abs), 0.0);
    assert_eq!(at_zero(UnaryOp::LeakyRelu { alpha: 0.2 }), 0.2);
    assert_eq!(
        at_zero(UnaryOp::Clamp {
            min: Some(0.0),
            max: None
        }),
        1.0
    );
}

#[test]
fn binary_rules_unbroadcast() {
    let mut rng = Rng(2);
    let shapes: [(&[usize], &[usize]); 4] = [
        (&[3, 4], &[3, 4]),
        (&[2, 3, 4], &[4]),
        (&[3, 1], &[1, 5]),
        (&[1, 2, 1], &[3, 1, 4]),
    ];
    for (s, (sa, sb)) in shapes.into_iter().enumerate() {
        for op in [BinaryOp::Add, BinaryOp::Sub, BinaryOp::Mul] {
            check(
                KernelOp::Binary(op),
                vec![t(rng.array(sa, -2.0, 2.0)), t(rng.array(sb, -2.0, 2.0))],
                s as u64,
            );
        }
        check(
            KernelOp::Binary(BinaryOp::Div),
            vec![t(rng.array(sa, -2.0, 2.0)), t(rng.array(sb, 0.5, 2.0))],
            7 + s as u64,
        );
        check(
            KernelOp::Binary(BinaryOp::Pow),
            vec![t(rng.array(sa, 0.4, 2.0)), t(rng.array(sb, -1.5, 2.5))],
            13 + s as u64,
        );
        for op in [BinaryOp::Max, BinaryOp::Min] {
            check(
                KernelOp::Binary(op),
                vec![t(rng.array(sa, -2.0, 2.0)), t(rng.array(sb, -2.0, 2.0))],
                17 + s as u64,
            );
        }
    }
    // prelu: the slope broadcasts to x (x keeps its shape), x away from the kink at 0.
    for (s, (sx, sl)) in [
        (&[2usize, 3, 4][..], &[3usize, 1][..]),
        (&[3, 4], &[1]),
        (&[2, 3], &[2, 3]),
    ]
    .into_iter()
    .enumerate()
    {
        check(
            KernelOp::Binary(BinaryOp::Prelu),
            vec![t(rng.away_from_zero(sx)), t(rng.array(sl, -0.5, 0.5))],
            25 + s as u64,
        );
    }
}

#[test]
fn conv_transpose2d_rules_match_finite_differences() {
    let mut rng = Rng(11);
    let p = crate::cpu::ConvTranspose2dParams {
        stride: [2, 1],
        padding: [1, 0],
        output_padding: [1, 0],
        dilation: [1, 2],
        groups: 2,
    };
    for bias in [false, true] {
        let mut ops = vec![
            t(rng.array(&[2, 4, 3, 3], -1.0, 1.0)),
            t(rng.array(&[4, 3, 2, 2], -1.0, 1.0)),
        ];
        if bias {
            ops.push(t(rng.array(&[6], -1.0, 1.0)));
        }
        check(
            KernelOp::ConvTranspose2d { params: p, bias },
            ops,
            80 + u64::from(bias),
        );
    }
}

#[test]
fn resize_rules_match_finite_differences() {
    use crate::cpu::{CoordinateMode, NearestMode, ResizeMode, ResizeParams};
    let mut rng = Rng(12);
    for (s, (mode, coordinates)) in [
        (ResizeMode::Linear, CoordinateMode::HalfPixel),
        (ResizeMode::Linear, CoordinateMode::AlignCorners),
        (ResizeMode::Nearest, CoordinateMode::Asymmetric),
    ]
    .into_iter()
    .enumerate()
    {
        let p = ResizeParams {
            shape: vec![1, 2, 5, 7],
            mode,
            coordinates,
            nearest: NearestMode::Floor,
        };
        check(
            KernelOp::Resize(p),
            vec![t(rng.array(&[1, 2, 3, 4], -1.0, 1.0))],
            90 + s as u64,
        );
    }
}

#[test]
fn max_min_split_a_tie_and_pad_scatters_back() {
    let a = t(ArrayD::from_elem(IxDyn(&[2]), 1.0));
    let g = ArrayD::<f64>::ones(IxDyn(&[2]));
    for op in [BinaryOp::Max, BinaryOp::Min] {
        let kop = KernelOp::Binary(op);
        let y = forward(&kop, &[a.clone(), a.clone()]);
        let grads = vjp(&kop, &[&a, &a], 0, &y, &g).unwrap();
        assert_eq!(grads[0].as_ref().unwrap()[[0]], 0.5, "{op:?}");
        assert_eq!(grads[1].as_ref().unwrap()[[1]], 0.5, "{op:?}");
    }
    let mut rng = Rng(9);
    for (s, mode) in [
        crate::cpu::PadMode::Constant,
        crate::cpu::PadMode::Reflect,
        crate::cpu::PadMode::Edge,
    ]
    .into_iter()
    .enumerate()
    {
        check(
            KernelOp::Pad {
                pads: vec![(0, 0), (1, 2), (2, 1)],
                mode,
                value: 0.75,
            },
            vec![t(rng.array(&[2, 3, 4], -1.0, 1.0))],
            70 + s as u64,
        );
    }
}

#[test]
fn linear_and_batched_matmul() {
    let mut rng = Rng(3);
    for bias in [false, true] {
        let mut ops = vec![
            t(rng.array(&[2, 3, 5], -1.0, 1.0)),
            t(rng.array(&[4, 5], -1.0, 1.0)),
        ];
        if bias {
            ops.push(t(rng.array(&[4], -1.0, 1.0)));
        }
        check(KernelOp::Linear { bias }, ops, 30);
    }
    check(
        KernelOp::Linear { bias: true },
        vec![
            t(rng.array(&[5], -1.0, 1.0)),
            t(rng.array(&[3, 5], -1.0, 1.0)),
            t(rng.array(&[3], -1.0, 1.0)),
        ],
        31,
    );
    let cases: [(&[usize], &[usize]); 6] = [
        (&[3, 4], &[4, 2]),
        (&[2, 3, 4], &[4, 5]),
        (&[2, 1, 3, 4], &[3, 4, 2]),
        (&[4], &[4, 3]),
        (&[2, 3, 4], &[4]),
        (&[5], &[5]),
    ];
    for (s, (sa, sb)) in cases.into_iter().enumerate() {
        check(
            KernelOp::MatMul,
            vec![t(rng.array(sa, -1.0, 1.0)), t(rng.array(sb, -1.0, 1.0))],
            40 + s as u64,
        );
    }
}

#[test]
fn reductions_and_softmaxes() {
    let mut rng = Rng(4);
    let x = || t(Rng(77).array(&[2, 3, 4], -2.0, 2.0));
    for op in [ReduceOp::Sum, ReduceOp::Mean, ReduceOp::Max] {
        for axes in [None, Some(vec![1]), Some(vec![0, 2]), Some(vec![-1])] {
            for keepdim in [false, true] {
                check(
                    KernelOp::Reduce {
                        op,
                        axes: axes.clone(),
                        keepdim,
                    },
                    vec![x()],
                    5,
                );
            }
        }
    }
    for axis in [0, 1, -1] {
        check(
            KernelOp::Softmax { axis },
            vec![t(rng.array(&[3, 2, 5], -3.0, 3.0))],
            6,
        );
        check(
            KernelOp::LogSoftmax { axis },
            vec![t(rng.array(&[3, 2, 5], -3.0, 3.0))],
            7,
        );
    }
    check(
        KernelOp::GlobalAvgPool,
        vec![t(rng.array(&[2, 3, 4, 5], -1.0, 1.0))],
        8,
    );
}

#[test]
fn max_reduction_splits_ties_evenly() {
    let x = ArrayD::from_shape_vec(IxDyn(&[3]), vec![2.0, 2.0, 1.0]).unwrap();
    let op = KernelOp::Reduce {
        op: ReduceOp::Max,
        axes: None,
        keepdim: false,
    };
    let y = forward(&op, &[t(x.clone())]);
    let g = vjp(&op, &[&t(x)], 0, &y, &ArrayD::ones(IxDyn(&[]))).unwrap()[0]
        .clone()
        .unwrap();
    assert_eq!(g.iter().copied().collect::<Vec<_>>(), vec![0.5, 0.5, 0.0]);
}

#[test]
fn shape_movement() {
    let mut rng = Rng(5);
    let x = |rng: &mut Rng| t(rng.array(&[2, 3, 4], -1.0, 1.0));
    check(
        KernelOp::Transpose { dim0: 0, dim1: -1 },
        vec![x(&mut rng)],
        1,
    );
    check(
        KernelOp::Permute {
            dims: vec![2, 0, 1],
        },
        vec![x(&mut rng)],
        2,
    );
    check(
        KernelOp::Reshape { shape: vec![4, -1] },
        vec![x(&mut rng)],
        3,
    );
    check(
        KernelOp::Flatten {
            start_dim: 1,
            end_dim: -1,
        },
        vec![x(&mut rng)],
        4,
    );
    check(KernelOp::Unsqueeze { axes: vec![1] }, vec![x(&mut rng)], 5);
    check(
        KernelOp::Squeeze { axes: None },
        vec![t(rng.array(&[2, 1, 3], -1.0, 1.0))],
        6,
    );
    check(
        KernelOp::Concat { axis: 1 },
        vec![
            t(rng.array(&[2, 1, 4], -1.0, 1.0)),
            x(&mut rng),
            t(rng.array(&[2, 2, 4], -1.0, 1.0)),
        ],
        7,
    );
    check(
        KernelOp::Slice {
            axis: 2,
            start: -1,
            end: i64::MIN,
            step: -2,
        },
        vec![x(&mut rng)],
        8,
    );
    check(
        KernelOp::Slice {
            axis: 0,
            start: 1,
            end: 2,
            step: 1,
        },
        vec![x(&mut rng)],
        9,
    );
    let idx = Tensor::I64(ArrayD::from_shape_vec(IxDyn(&[2, 2]), vec![0, -1, 2, 0]).unwrap());
    check(KernelOp::Gather { axis: 1 }, vec![x(&mut rng), idx], 10);
    let ids = Tensor::I64(ArrayD::from_shape_vec(IxDyn(&[3]), vec![1, 1, 4]).unwrap());
    check(
        KernelOp::Embedding,
        vec![t(rng.array(&[5, 3], -1.0, 1.0)), ids],
        11,
    );
}

#[test]
fn losses() {
    let mut rng = Rng(6);
    for reduction in [Reduction::None, Reduction::Mean, Reduction::Sum] {
        check(
            KernelOp::MseLoss { reduction },
            vec![
                t(rng.array(&[3, 2], -1.0, 1.0)),
                t(rng.array(&[3, 2], -1.0, 1.0)),
            ],
            1,
        );
        let labels = Tensor::I64(ArrayD::from_shape_vec(IxDyn(&[4]), vec![2, -100, 0, 3]).unwrap());
        check(
            KernelOp::CrossEntropy {
                ignore_index: Some(-100),
                reduction,
            },
            vec![t(rng.array(&[4, 5], -2.0, 2.0)), labels],
            2,
        );
        // Spatial logits [N, C, d] and an unbatched row [C].
        let labels =
            Tensor::I64(ArrayD::from_shape_vec(IxDyn(&[2, 3]), vec![0, 1, 2, 2, 1, 0]).unwrap());
        check(
            KernelOp::CrossEntropy {
                ignore_index: None,
                reduction,
            },
            vec![t(rng.array(&[2, 3, 3], -2.0, 2.0)), labels],
            3,
        );
        let label = Tensor::I64(ArrayD::from_elem(IxDyn(&[]), 1));
        check(
            KernelOp::CrossEntropy {
                ignore_index: None,
                reduction,
            },
            vec![t(rng.array(&[4], -2.0, 2.0)), label],
            4,
        );
    }
}

#[test]
fn normalisations() {
    let mut rng = Rng(7);
    for (weight, bias) in [(false, false), (true, false), (true, true)] {
        let mut ops = vec![t(rng.array(&[2, 3, 4], -2.0, 2.0))];
        if weight {
            ops.push(t(rng.array(&[3, 4], 0.5, 1.5)));
        }
        if bias {
            ops.push(t(rng.array(&[3, 4], -1.0, 1.0)));
        }
        let normalized_shape = if weight { None } else { Some(vec![3, 4]) };
        check(
            KernelOp::LayerNorm {
                normalized_shape,
                eps: 1e-5,
                weight,
                bias,
            },
            ops,
            1,
        );
    }
    check(
        KernelOp::LayerNorm {
            normalized_shape: None,
            eps: 1e-3,
            weight: false,
            bias: false,
        },
        vec![t(rng.array(&[3, 5], -2.0, 2.0))],
        2,
    );
    for weight in [false, true] {
        let mut ops = vec![t(rng.array(&[2, 5], -2.0, 2.0))];
        if weight {
            ops.push(t(rng.array(&[5], 0.5, 1.5)));
        }
        check(
            KernelOp::RmsNorm {
                normalized_shape: None,
                eps: 1e-6,
                weight,
            },
            ops,
            3,
        );
    }
    let c = 3;
    let ops = vec![
        t(rng.array(&[2, c, 2, 3], -2.0, 2.0)),
        t(rng.array(&[c], -0.5, 0.5)),
        t(rng.array(&[c], 0.5, 2.0)),
        t(rng.array(&[c], 0.5, 1.5)),
        t(rng.array(&[c], -1.0, 1.0)),
    ];
    check(
        KernelOp::BatchNorm {
            eps: 1e-5,
            weight: true,
            bias: true,
        },
        ops,
        4,
    );
}

#[test]
fn convolutions_and_pools() {
    let mut rng = Rng(8);
    let params = [
        Conv2dParams::default(),
        Conv2dParams::symmetric([2, 1], [1, 2], [1, 2], 1),
        Conv2dParams {
            stride: [1, 2],
            padding: [[0, 1], [2, 0]],
            dilation: [1, 1],
            groups: 2,
        },
    ];
    for (s, p) in params.into_iter().enumerate() {
        let cg = 4 / p.groups;
        check(
            KernelOp::Conv2d {
                params: p,
                bias: s != 1,
            },
            {
                let mut ops = vec![
                    t(rng.array(&[2, 4, 5, 6], -1.0, 1.0)),
                    t(rng.array(&[6, cg, 3, 2], -1.0, 1.0)),
                ];
                if s != 1 {
                    ops.push(t(rng.array(&[6], -1.0, 1.0)));
                }
                ops
            },
            s as u64,
        );
    }
    let p1 = Conv1dParams {
        stride: 2,
        padding: [1, 0],
        dilation: 1,
        groups: 1,
    };
    check(
        KernelOp::Conv1d {
            params: p1,
            bias: true,
        },
        vec![
            t(rng.array(&[2, 3, 7], -1.0, 1.0)),
            t(rng.array(&[2, 3, 3], -1.0, 1.0)),
            t(rng.array(&[2], -1.0, 1.0)),
        ],
        9,
    );
    let pools = [
        Pool2dParams::new([2, 2]),
        Pool2dParams {
            kernel: [3, 2],
            stride: [2, 1],
            padding: [[1, 1], [0, 0]],
            dilation: [1, 1],
            ceil_mode: true,
            count_include_pad: true,
        },
        Pool2dParams {
            kernel: [3, 3],
            stride: [2, 2],
            padding: [[1, 1], [1, 1]],
            dilation: [1, 1],
            ceil_mode: false,
            count_include_pad: false,
        },
    ];
    for (s, p) in pools.into_iter().enumerate() {
        // Distinct values (a random permutation-like spread) keep every window's max unique.
        check(
            KernelOp::AvgPool2d(p),
            vec![t(rng.array(&[2, 2, 5, 6], -1.0, 1.0))],
            20 + s as u64,
        );
        check(
            KernelOp::MaxPool2d(p),
            vec![t(rng.array(&[2, 2, 5, 6], -1.0, 1.0))],
            30 + s as u64,
        );
    }
    let dilated = Pool2dParams {
        dilation: [2, 1],
        ..Pool2dParams::new([2, 2])
    };
    check(
        KernelOp::MaxPool2d(dilated),
        vec![t(rng.array(&[2, 5, 4], -1.0, 1.0))],
        40,
    );
    check(
        KernelOp::AvgPool2d(Pool2dParams::new([2, 2])),
        vec![t(rng.array(&[3, 4, 4], -1.0, 1.0))],
        41,
    );
}

#[test]
fn ops_without_rules_are_refused_by_name() {
    let q = t(Rng(9).array(&[2, 3], -1.0, 1.0));
    let argmax = KernelOp::ArgMax {
        axis: Some(-1),
        keepdim: false,
    };
    assert!(matches!(
        vjp(
            &argmax,
            &[&q],
            0,
            &ArrayD::zeros(IxDyn(&[2])),
            &ArrayD::zeros(IxDyn(&[2]))
        ),
        Err(RuleError::Missing(_))
    ));
    // Only attention has a second output with a rule.
    let y = forward(&KernelOp::Unary(UnaryOp::Tanh), std::slice::from_ref(&q));
    let err = vjp(&KernelOp::Unary(UnaryOp::Tanh), &[&q], 1, &y, &y).unwrap_err();
    assert!(
        matches!(err, RuleError::Missing(ref d) if d.contains("output 1 of tanh")),
        "{err:?}"
    );
}

#[test]
fn a_gradient_of_the_wrong_shape_is_a_coded_error() {
    let x = t(Rng(10).array(&[2, 3], -1.0, 1.0));
    let y = ArrayD::zeros(IxDyn(&[2, 3]));
    let err = vjp(
        &KernelOp::Unary(UnaryOp::Tanh),
        &[&x],
        0,
        &y,
        &ArrayD::zeros(IxDyn(&[3])),
    )
    .unwrap_err();
    assert!(
        matches!(err, RuleError::Kernel(ref e) if e.code() == "TL0501"),
        "{err:?}"
    );
}

mod attention;

#[test]
fn where_and_trilu_rules_match_finite_differences() {
    let mut rng = Rng(13);
    // A random i64 condition broadcast against a, b (b a scalar fill, as causal masks use).
    let cond = rng
        .array(&[1, 4, 4], -1.0, 1.0)
        .mapv(|v| i64::from(v > 0.0));
    let shapes: [(&[usize], &[usize]); 2] = [(&[2, 4, 4], &[]), (&[4, 1], &[2, 1, 4])];
    for (s, (sa, sb)) in shapes.into_iter().enumerate() {
        check(
            KernelOp::Where,
            vec![
                Tensor::I64(cond.clone()),
                t(rng.array(sa, -2.0, 2.0)),
                t(rng.array(sb, -2.0, 2.0)),
            ],
            100 + s as u64,
        );
    }
    for (s, (upper, k)) in [(true, 0), (true, 1), (false, -1), (false, 2)]
        .into_iter()
        .enumerate()
    {
        check(
            KernelOp::Trilu { upper, k },
            vec![t(rng.array(&[2, 3, 5], -1.0, 1.0))],
            110 + s as u64,
        );
    }
}

#[test]
fn lrn_rules_match_finite_differences() {
    let mut rng = Rng(14);
    for (s, size) in [1usize, 2, 3, 5].into_iter().enumerate() {
        let p = crate::cpu::LrnParams {
            size,
            alpha: 0.3,
            beta: 0.75,
            bias: 1.5,
        };
        check(
            KernelOp::Lrn(p),
            vec![t(rng.array(&[2, 4, 2, 3], -1.5, 1.5))],
            120 + s as u64,
        );
    }
}
