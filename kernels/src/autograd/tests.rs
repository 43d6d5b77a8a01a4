//! Whole-graph reverse mode against central finite differences of the same graph, and the coded
//! refusals.

use super::*;
use crate::tensor::Tensor;
use std::collections::BTreeMap;
use tl_ir::{AttrValue, Attrs, DType as IrDType, Graph, Op, Shape};

fn f32s(shape: &[usize], seed: u32) -> Tensor {
    let n: usize = shape.iter().product();
    // Deterministic, irregular values in (-1, 1).
    let data = (0..n)
        .map(|i| {
            ((i as u32 + 1).wrapping_mul(2654435761u32.wrapping_add(seed)) % 1000) as f32 / 500.0
                - 1.0
        })
        .collect();
    Tensor::from_f32(shape, data).unwrap()
}

/// Checks every coordinate of every float input and param.
fn agrees_with_finite_differences(
    g: &Graph,
    params: &BTreeMap<String, Tensor>,
    inputs: &BTreeMap<String, Tensor>,
    output: &str,
) -> Gradients {
    let objective = Objective::new(g, params, inputs, output).unwrap();
    let grads = objective.gradients().unwrap();
    for (wrt, shape) in objective.coordinates() {
        let block = match &wrt {
            Wrt::Input(n) => &grads.inputs[n],
            Wrt::Param(k) => &grads.params[k],
        };
        assert_eq!(block.shape(), shape.as_slice(), "{wrt}");
        let x = objective.block(&wrt).unwrap();
        for (i, (&ad, &xi)) in block.iter().zip(x.iter()).enumerate() {
            let fd = objective
                .central_difference(&wrt, i, 1e-6 * xi.abs().max(1.0))
                .unwrap();
            assert!(
                (ad - fd).abs() <= 1e-6 * fd.abs().max(1.0),
                "{wrt}[{i}]: autograd {ad}, finite difference {fd}"
            );
        }
    }
    forward_mode_and_adjoint_agree(g, params, inputs, output, &objective);
    grads
}

/// Forward mode through the whole graph along a direction through every float input and param:
/// the summed output tangent against the directional central difference, then the adjoint law
/// against reverse mode from a cotangent that is not all ones.
fn forward_mode_and_adjoint_agree(
    g: &Graph,
    params: &BTreeMap<String, Tensor>,
    inputs: &BTreeMap<String, Tensor>,
    output: &str,
    objective: &Objective,
) {
    let mut seeds = Seeds::default();
    let mut dirs = Vec::new();
    for (k, (wrt, shape)) in objective.coordinates().into_iter().enumerate() {
        let d = f32s(&shape, 40 + k as u32).to_f64();
        match &wrt {
            Wrt::Input(n) => seeds.inputs.insert(n.clone(), d.clone()),
            Wrt::Param(key) => seeds.params.insert(key.clone(), d.clone()),
        };
        dirs.push((wrt, d));
    }
    let j = jvp(g, params, inputs, output, &seeds).unwrap();
    let fd = objective.directional_difference(&dirs, 1e-6).unwrap();
    let ad = j.tangent.sum();
    assert!(
        (ad - fd).abs() <= 1e-6 * fd.abs().max(1.0),
        "forward mode {ad} vs directional difference {fd}"
    );
    let v = f32s(j.value.shape(), 99).to_f64();
    let law = graph_adjoint(g, params, inputs, output, &seeds, &v).unwrap();
    assert!(law.holds(), "{law:?}");
    assert!(law.budget < 1e-9 * law.scale.max(1.0), "{law:?}");
}

/// The regression training graph of spec-examples/regression_training.tl: tanh MLP + mse.
fn training() -> (Graph, BTreeMap<String, Tensor>) {
    let mut g = Graph::new("training_loss");
    let x = g.add_input("x", Shape::known(&[3, 4]), IrDType::F32);
    let target = g.add_input("target", Shape::known(&[3, 1]), IrDType::F32);
    let w1 = g.add_param("fc1.weight", Shape::known(&[8, 4]), IrDType::F32);
    let b1 = g.add_param("fc1.bias", Shape::known(&[8]), IrDType::F32);
    let w2 = g.add_param("fc2.weight", Shape::known(&[1, 8]), IrDType::F32);
    let b2 = g.add_param("fc2.bias", Shape::known(&[1]), IrDType::F32);
    let l1 = g
        .add_op("l1", Op::Linear, vec![x, w1, b1], Attrs::new())
        .unwrap();
    let h = g.add_op("h", Op::Tanh, vec![l1], Attrs::new()).unwrap();
    let y = g
        .add_op("y", Op::Linear, vec![h, w2, b2], Attrs::new())
        .unwrap();
    let loss = g
        .add_op("loss", Op::MseLoss, vec![y, target], Attrs::new())
        .unwrap();
    g.add_output("loss", loss);
    let params = BTreeMap::from([
        ("fc1.weight".to_string(), f32s(&[8, 4], 1)),
        ("fc1.bias".to_string(), f32s(&[8], 2)),
        ("fc2.weight".to_string(), f32s(&[1, 8], 3)),
        ("fc2.bias".to_string(), f32s(&[1], 4)),
    ]);
    (g, params)
}

#[test]
fn training_loss_gradients_match_finite_differences() {
    let (g, params) = training();
    let inputs = BTreeMap::from([
        ("x".to_string(), f32s(&[3, 4], 5)),
        ("target".to_string(), f32s(&[3, 1], 6)),
    ]);
    let grads = agrees_with_finite_differences(&g, &params, &inputs, "loss");
    assert_eq!(grads.summed, 1);
    assert_eq!(grads.params.len(), 4);
    assert_eq!(grads.inputs.len(), 2);
}

#[test]
fn shared_values_broadcasts_and_non_scalar_outputs() {
    // y = x * x + b (b [3] broadcast over [2, 3]), z = softmax(y) used twice: out = z * y.
    let mut g = Graph::new("g");
    let x = g.add_input("x", Shape::known(&[2, 3]), IrDType::F32);
    let b = g.add_param("b", Shape::known(&[3]), IrDType::F32);
    let sq = g.add_op("sq", Op::Mul, vec![x, x], Attrs::new()).unwrap();
    let y = g.add_op("y", Op::Add, vec![sq, b], Attrs::new()).unwrap();
    let z = g.add_op("z", Op::Softmax, vec![y], Attrs::new()).unwrap();
    let out = g.add_op("out", Op::Mul, vec![z, y], Attrs::new()).unwrap();
    g.add_output("out", out);
    let params = BTreeMap::from([("b".to_string(), f32s(&[3], 7))]);
    let inputs = BTreeMap::from([("x".to_string(), f32s(&[2, 3], 8))]);
    let grads = agrees_with_finite_differences(&g, &params, &inputs, "out");
    assert_eq!(
        grads.summed, 6,
        "a [2, 3] output is differentiated as the sum of its 6 elements"
    );
}

#[test]
fn two_param_nodes_with_one_key_sum_their_gradients() {
    let mut g = Graph::new("g");
    let x = g.add_input("x", Shape::known(&[4]), IrDType::F32);
    let w1 = g.add_param("w", Shape::known(&[4]), IrDType::F32);
    let w2 = g.add_param("w", Shape::known(&[4]), IrDType::F32);
    let a = g.add_op("a", Op::Mul, vec![x, w1], Attrs::new()).unwrap();
    let e = g.add_op("e", Op::Exp, vec![a], Attrs::new()).unwrap();
    let m = g.add_op("m", Op::Mul, vec![e, w2], Attrs::new()).unwrap();
    let s = g.add_op("s", Op::Sum, vec![m], Attrs::new()).unwrap();
    g.add_output("s", s);
    let params = BTreeMap::from([("w".to_string(), f32s(&[4], 9))]);
    let inputs = BTreeMap::from([("x".to_string(), f32s(&[4], 10))]);
    agrees_with_finite_differences(&g, &params, &inputs, "s");
}

#[test]
fn conv_pool_flatten_classifier_with_cross_entropy() {
    let mut g = Graph::new("cnn");
    let x = g.add_input("x", Shape::known(&[2, 1, 6, 6]), IrDType::F32);
    let labels = g.add_input("labels", Shape::known(&[2]), IrDType::I64);
    let w = g.add_param("conv.weight", Shape::known(&[2, 1, 3, 3]), IrDType::F32);
    let cb = g.add_param("conv.bias", Shape::known(&[2]), IrDType::F32);
    let fw = g.add_param("fc.weight", Shape::known(&[3, 8]), IrDType::F32);
    let c = g
        .add_op(
            "c",
            Op::Conv2d,
            vec![x, w, cb],
            Attrs::new().with("padding", AttrValue::Int(1)),
        )
        .unwrap();
    let a = g.add_op("a", Op::Gelu, vec![c], Attrs::new()).unwrap();
    let p = g
        .add_op(
            "p",
            Op::AvgPool2d,
            vec![a],
            Attrs::new().with("kernel_size", AttrValue::Int(3)),
        )
        .unwrap();
    let f = g.add_op("f", Op::Flatten, vec![p], Attrs::new()).unwrap();
    let logits = g
        .add_op("logits", Op::Linear, vec![f, fw], Attrs::new())
        .unwrap();
    let loss = g
        .add_op("loss", Op::CrossEntropy, vec![logits, labels], Attrs::new())
        .unwrap();
    g.add_output("loss", loss);
    let params = BTreeMap::from([
        ("conv.weight".to_string(), f32s(&[2, 1, 3, 3], 11)),
        ("conv.bias".to_string(), f32s(&[2], 12)),
        ("fc.weight".to_string(), f32s(&[3, 8], 13)),
    ]);
    let inputs = BTreeMap::from([
        ("x".to_string(), f32s(&[2, 1, 6, 6], 14)),
        (
            "labels".to_string(),
            Tensor::from_i64(&[2], vec![2, 0]).unwrap(),
        ),
    ]);
    let grads = agrees_with_finite_differences(&g, &params, &inputs, "loss");
    assert!(
        !grads.inputs.contains_key("labels"),
        "integer inputs have no gradient"
    );
}

#[test]
fn directional_difference_matches_the_gradient_dot_direction() {
    let (g, params) = training();
    let inputs = BTreeMap::from([
        ("x".to_string(), f32s(&[3, 4], 15)),
        ("target".to_string(), f32s(&[3, 1], 16)),
    ]);
    let objective = Objective::new(&g, &params, &inputs, "loss").unwrap();
    let grads = objective.gradients().unwrap();
    let direction: Vec<(Wrt, ndarray::ArrayD<f64>)> = objective
        .coordinates()
        .into_iter()
        .enumerate()
        .map(|(k, (wrt, shape))| (wrt, f32s(&shape, 100 + k as u32).to_f64()))
        .collect();
    let dot: f64 = direction
        .iter()
        .map(|(wrt, v)| {
            let g = match wrt {
                Wrt::Input(n) => &grads.inputs[n],
                Wrt::Param(k) => &grads.params[k],
            };
            (g * v).sum()
        })
        .sum();
    let fd = objective.directional_difference(&direction, 1e-6).unwrap();
    assert!(
        (dot - fd).abs() <= 1e-6 * fd.abs().max(1.0),
        "{dot} vs {fd}"
    );
}

/// Self-attention on projections of `x`, both attention ops, a constant f32 keep mask (masks
/// share the float dtype in tl; a mask input would be a coordinate of the finite differences,
/// which jump where an entry crosses 0) with a row that attends to nothing: `loss = mse(sdpa(q, k, v, mask), target) + sum(w * w)` for
/// `w = attention_weights(q, k; causal, scale)`.
fn attention_loss() -> (Graph, BTreeMap<String, Tensor>) {
    let mut g = Graph::new("attention_loss");
    let x = g.add_input("x", Shape::known(&[2, 4, 3]), IrDType::F32);
    let target = g.add_input("target", Shape::known(&[2, 4, 2]), IrDType::F32);
    #[rustfmt::skip]
    let keep = vec![
        1.0, 0.0, 1.0, 1.0,
        0.0, 0.0, 0.0, 0.0,
        1.0, 1.0, 0.0, 1.0,
        0.0, 1.0, 1.0, 1.0,
    ];
    let value = AttrValue::Tensor {
        shape: vec![4, 4],
        data: keep,
    };
    let mask = g
        .add_op(
            "mask",
            Op::Constant,
            vec![],
            Attrs::new().with("value", value),
        )
        .unwrap();
    let wq = g.add_param("wq", Shape::known(&[5, 3]), IrDType::F32);
    let wk = g.add_param("wk", Shape::known(&[5, 3]), IrDType::F32);
    let wv = g.add_param("wv", Shape::known(&[2, 3]), IrDType::F32);
    let proj = |g: &mut Graph, name: &str, w| {
        g.add_op(name, Op::Linear, vec![x, w], Attrs::new())
            .unwrap()
    };
    let (q, k, v) = (
        proj(&mut g, "q", wq),
        proj(&mut g, "k", wk),
        proj(&mut g, "v", wv),
    );
    let a = g
        .add_op(
            "a",
            Op::ScaledDotProductAttention,
            vec![q, k, v, mask],
            Attrs::new(),
        )
        .unwrap();
    let w = g
        .add_op(
            "w",
            Op::AttentionWeights,
            vec![q, k],
            Attrs::new()
                .with("causal", AttrValue::Bool(true))
                .with("scale", AttrValue::Float(0.8)),
        )
        .unwrap();
    let mse = g
        .add_op("mse", Op::MseLoss, vec![a, target], Attrs::new())
        .unwrap();
    let ww = g.add_op("ww", Op::Mul, vec![w, w], Attrs::new()).unwrap();
    let sq = g.add_op("sq", Op::Sum, vec![ww], Attrs::new()).unwrap();
    let loss = g
        .add_op("loss", Op::Add, vec![mse, sq], Attrs::new())
        .unwrap();
    g.add_output("loss", loss);
    let params = BTreeMap::from([
        ("wq".to_string(), f32s(&[5, 3], 20)),
        ("wk".to_string(), f32s(&[5, 3], 21)),
        ("wv".to_string(), f32s(&[2, 3], 22)),
    ]);
    (g, params)
}

#[test]
fn attention_graph_gradients_match_finite_differences() {
    let (g, params) = attention_loss();
    let inputs = BTreeMap::from([
        ("x".to_string(), f32s(&[2, 4, 3], 23)),
        ("target".to_string(), f32s(&[2, 4, 2], 24)),
    ]);
    let grads = agrees_with_finite_differences(&g, &params, &inputs, "loss");
    assert_eq!(grads.params.len(), 3);
    assert!(grads.params["wq"].iter().any(|&d| d != 0.0));
}

#[test]
fn constant_subgraphs_are_not_differentiated() {
    // argmax of a constant feeds nothing differentiable: no refusal.
    let mut g = Graph::new("g");
    let x = g.add_input("x", Shape::known(&[3]), IrDType::F32);
    let c = g
        .add_op(
            "c",
            Op::Constant,
            vec![],
            Attrs::new().with(
                "value",
                AttrValue::Tensor {
                    shape: vec![3],
                    data: vec![1.0, 2.0, 3.0],
                },
            ),
        )
        .unwrap();
    let m = g.add_op("m", Op::Mul, vec![x, c], Attrs::new()).unwrap();
    let s = g.add_op("s", Op::Sum, vec![m], Attrs::new()).unwrap();
    g.add_output("s", s);
    let inputs = BTreeMap::from([("x".to_string(), f32s(&[3], 18))]);
    let grads = gradients(&g, &BTreeMap::new(), &inputs, "s").unwrap();
    assert_eq!(
        grads.inputs["x"].iter().copied().collect::<Vec<_>>(),
        vec![1.0, 2.0, 3.0]
    );
}

#[test]
fn integer_and_unknown_outputs_are_not_differentiable() {
    let mut g = Graph::new("g");
    let x = g.add_input("x", Shape::known(&[2, 3]), IrDType::F32);
    let k = g.add_op("k", Op::Argmax, vec![x], Attrs::new()).unwrap();
    g.add_output("k", k);
    let inputs = BTreeMap::from([("x".to_string(), f32s(&[2, 3], 19))]);
    let err = gradients(&g, &BTreeMap::new(), &inputs, "k").unwrap_err();
    assert_eq!(err.code(), "TL0561", "{err}");
    let err = gradients(&g, &BTreeMap::new(), &inputs, "nope").unwrap_err();
    assert_eq!(err.code(), "TL0561", "{err}");
    // A forward failure keeps its own code.
    let err = gradients(&g, &BTreeMap::new(), &BTreeMap::new(), "k").unwrap_err();
    assert_eq!(err.code(), "TL0510", "{err}");
}
