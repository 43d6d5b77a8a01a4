use super::*;
use crate::tensor::Tensor;
use std::collections::BTreeMap;
use tl_ir::{AttrValue, Attrs, DType as IrDType, Dim, Graph, Op, Shape};

fn batch(b: &str, rest: &[u64]) -> Shape {
    let mut dims = vec![Dim::Sym(b.into())];
    dims.extend(rest.iter().map(|&d| Dim::Known(d)));
    Shape(dims)
}

/// x[B, 2] -> linear(W1[3, 2], b1) -> relu -> linear(W2[1, 3]) -> y
fn mlp() -> (Graph, BTreeMap<String, Tensor>) {
    let mut g = Graph::new("mlp");
    let x = g.add_input("x", batch("B", &[2]), IrDType::F32);
    let w1 = g.add_param("fc1.weight", Shape::known(&[3, 2]), IrDType::F32);
    let b1 = g.add_param("fc1.bias", Shape::known(&[3]), IrDType::F32);
    let w2 = g.add_param("fc2.weight", Shape::known(&[1, 3]), IrDType::F32);
    let h = g
        .add_op("h", Op::Linear, vec![x, w1, b1], Attrs::new())
        .unwrap();
    let a = g.add_op("a", Op::Relu, vec![h], Attrs::new()).unwrap();
    let y = g
        .add_op("y", Op::Linear, vec![a, w2], Attrs::new())
        .unwrap();
    g.add_output("y", y);
    let mut p = BTreeMap::new();
    p.insert(
        "fc1.weight".into(),
        Tensor::from_f32(&[3, 2], vec![1.0, 0.0, 0.0, 1.0, 1.0, -1.0]).unwrap(),
    );
    p.insert(
        "fc1.bias".into(),
        Tensor::from_f32(&[3], vec![0.0, -1.0, 0.5]).unwrap(),
    );
    p.insert(
        "fc2.weight".into(),
        Tensor::from_f32(&[1, 3], vec![1.0, 2.0, 3.0]).unwrap(),
    );
    (g, p)
}

fn inputs(pairs: &[(&str, Tensor)]) -> BTreeMap<String, Tensor> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.clone()))
        .collect()
}

#[test]
fn reference_matches_hand_computation() {
    let (g, p) = mlp();
    let x = Tensor::from_f64(&[2, 2], vec![1.0, 2.0, -1.0, 0.5]).unwrap();
    let d = denote(&g, &p, &inputs(&[("x", x)])).unwrap();
    // Row 1: h = [1, 2-1, 1-2+0.5] = [1, 1, -0.5] -> relu [1, 1, 0] -> y = 1 + 2 = 3.
    // Row 2: h = [-1, -0.5, -1-0.5+0.5] -> relu 0 -> y = 0.
    assert_eq!(
        d.output("y").unwrap(),
        &Tensor::from_f64(&[2, 1], vec![3.0, 0.0]).unwrap()
    );
    assert_eq!(d.get("h").unwrap().shape(), &[2, 3]);
    assert_eq!(d.get("a").unwrap().dtype(), crate::DType::F64);
}

#[test]
fn compiled_agrees_with_reference_in_f32() {
    let (g, p) = mlp();
    let plan = compile(&g, &p).unwrap();
    for b in [1usize, 3, 7] {
        let data: Vec<f64> = (0..b * 2).map(|i| (i as f64 * 0.37).sin()).collect();
        let x = Tensor::from_f64(&[b, 2], data).unwrap();
        let want = denote(&g, &p, &inputs(&[("x", x.clone())])).unwrap();
        let got = plan.run(&inputs(&[("x", x)])).unwrap();
        let (w, c) = (want.output("y").unwrap().to_f64(), got["y"].to_f64());
        assert_eq!(got["y"].dtype(), crate::DType::F32);
        assert!(w.iter().zip(c.iter()).all(|(a, b)| (a - b).abs() < 1e-5));
    }
}

#[test]
fn unary_chains_fuse_and_aliases_cost_nothing() {
    let mut g = Graph::new("chain");
    let x = g.add_input("x", Shape::known(&[4]), IrDType::F32);
    let a = g.add_op("a", Op::Relu, vec![x], Attrs::new()).unwrap();
    let d = g.add_op("d", Op::Dropout, vec![a], Attrs::new()).unwrap();
    let t = g.add_op("t", Op::Tanh, vec![d], Attrs::new()).unwrap();
    let s = g.add_op("s", Op::Sigmoid, vec![t], Attrs::new()).unwrap();
    let y = g.add_op("y", Op::Add, vec![s, a], Attrs::new()).unwrap();
    g.add_output("y", y);
    let p = BTreeMap::new();
    let plan = compile(&g, &p).unwrap();
    // relu is read twice (by tanh via the dropout alias, and by add), so it stays its own step;
    // tanh -> sigmoid fuse.
    assert_eq!(plan.stats().fused_nodes, 1);
    assert_eq!(plan.stats().steps, 3);
    let x = Tensor::from_f32(&[4], vec![-2.0, -0.1, 0.3, 4.0]).unwrap();
    let got = plan.run(&inputs(&[("x", x.clone())])).unwrap();
    let want = denote(&g, &p, &inputs(&[("x", x)])).unwrap();
    let (w, c) = (want.output("y").unwrap().to_f64(), got["y"].to_f64());
    assert!(
        w.iter().zip(c.iter()).all(|(a, b)| (a - b).abs() < 1e-6),
        "{w:?} vs {c:?}"
    );
}

#[test]
fn binding_errors_are_coded() {
    let (g, p) = mlp();
    assert_eq!(
        denote(&g, &p, &BTreeMap::new()).unwrap_err().code(),
        "TL0510"
    );
    let wrong = Tensor::from_f64(&[2, 3], vec![0.0; 6]).unwrap();
    assert_eq!(
        denote(&g, &p, &inputs(&[("x", wrong)])).unwrap_err().code(),
        "TL0511"
    );
    let ints = Tensor::from_i64(&[1, 2], vec![1, 2]).unwrap();
    assert_eq!(
        denote(&g, &p, &inputs(&[("x", ints)])).unwrap_err().code(),
        "TL0511"
    );
    let mut missing = p.clone();
    missing.remove("fc2.weight");
    assert_eq!(compile(&g, &missing).unwrap_err().code(), "TL0307");
    let mut bad = p.clone();
    bad.insert(
        "fc1.bias".into(),
        Tensor::from_f32(&[4], vec![0.0; 4]).unwrap(),
    );
    let err = compile(&g, &bad).unwrap_err();
    assert_eq!(err.code(), "TL0512");
    assert!(err.to_string().contains("fc1.bias"));
}

#[test]
fn symbolic_dims_must_bind_consistently() {
    let mut g = Graph::new("pair");
    let a = g.add_input("a", batch("B", &[2]), IrDType::F32);
    let b = g.add_input("b", batch("B", &[2]), IrDType::F32);
    let y = g.add_op("y", Op::Add, vec![a, b], Attrs::new()).unwrap();
    g.add_output("y", y);
    let a = Tensor::from_f64(&[1, 2], vec![0.0; 2]).unwrap();
    let b = Tensor::from_f64(&[3, 2], vec![0.0; 6]).unwrap();
    let err = denote(&g, &BTreeMap::new(), &inputs(&[("a", a), ("b", b)])).unwrap_err();
    assert_eq!(err.code(), "TL0511");
}

#[test]
fn unlowerable_nodes_are_refused_by_name() {
    let mut g = Graph::new("bad");
    let x = g.add_input("x", Shape::known(&[2]), IrDType::F32);
    let y = g
        .add_op(
            "weird",
            Op::Gelu,
            vec![x],
            Attrs::new().with("approximate", AttrValue::Str("cubic".into())),
        )
        .unwrap();
    g.add_output("y", y);
    let err = compile(&g, &BTreeMap::new()).unwrap_err();
    assert_eq!(err.code(), "TL0513");
    assert!(err.to_string().contains("weird"));
}

#[test]
fn attention_and_losses_through_the_ir() {
    let mut g = Graph::new("attn");
    let q = g.add_input("q", Shape::known(&[2, 3, 4]), IrDType::F32);
    let k = g.add_input("k", Shape::known(&[2, 3, 4]), IrDType::F32);
    let v = g.add_input("v", Shape::known(&[2, 3, 2]), IrDType::F32);
    let causal = Attrs::new().with("causal", AttrValue::Bool(true));
    let w = g
        .add_op("w", Op::AttentionWeights, vec![q, k], causal.clone())
        .unwrap();
    let o = g
        .add_op("o", Op::ScaledDotProductAttention, vec![q, k, v], causal)
        .unwrap();
    let labels = g.add_input("labels", Shape::known(&[2]), IrDType::I64);
    let logits = g
        .add_op(
            "logits",
            Op::Sum,
            vec![o],
            Attrs::new().with("axes", AttrValue::Ints(vec![1])),
        )
        .unwrap();
    let l = g
        .add_op("loss", Op::CrossEntropy, vec![logits, labels], Attrs::new())
        .unwrap();
    g.add_output("w", w);
    g.add_output("loss", l);
    let fill = |shape: &[usize], seed: f64| {
        let n: usize = shape.iter().product();
        Tensor::from_f64(
            shape,
            (0..n).map(|i| ((i as f64 + seed) * 0.7).cos()).collect(),
        )
        .unwrap()
    };
    let ins = inputs(&[
        ("q", fill(&[2, 3, 4], 0.0)),
        ("k", fill(&[2, 3, 4], 1.0)),
        ("v", fill(&[2, 3, 2], 2.0)),
        ("labels", Tensor::from_i64(&[2], vec![1, -100]).unwrap()),
    ]);
    let d = denote(&g, &BTreeMap::new(), &ins).unwrap();
    let w = d.output("w").unwrap().to_f64();
    assert_eq!(w[[0, 0, 1]], 0.0);
    assert_eq!(w[[1, 1, 2]], 0.0);
    let plan = compile(&g, &BTreeMap::new()).unwrap();
    let got = plan.run(&ins).unwrap();
    let (a, b) = (
        d.output("loss").unwrap().to_f64()[[]],
        got["loss"].to_f64()[[]],
    );
    assert!((a - b).abs() < 1e-5 && a.is_finite());
}
