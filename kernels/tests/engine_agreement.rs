//! Property: on random small graphs the compiled f32 plan agrees with the reference f64
//! evaluator (the spec semantics) within f32 rounding.

use proptest::prelude::*;
use std::collections::BTreeMap;
use tl_ir::{AttrValue, Attrs, DType, Graph, NodeId, Op, Shape};
use tl_kernels::{compile, denote, Tensor};

/// One step of a random chain over a [2, 3] value `cur`, with `x` the graph input.
#[derive(Debug, Clone)]
enum Step {
    Unary(Op),
    AddInput,
    MulInput,
    MaxInput,
    Linear(Vec<f32>, Vec<f32>),
    Softmax,
    LayerNorm,
    Transpose2,
}

fn step() -> impl Strategy<Value = Step> {
    let w = proptest::collection::vec(-1.0f32..1.0, 9);
    let b = proptest::collection::vec(-1.0f32..1.0, 3);
    prop_oneof![
        prop::sample::select(vec![
            Op::Relu,
            Op::Tanh,
            Op::Sigmoid,
            Op::Abs,
            Op::Neg,
            Op::Identity,
            Op::Elu,
            Op::Selu,
            Op::HardSigmoid,
            Op::HardSwish
        ])
        .prop_map(Step::Unary),
        Just(Step::AddInput),
        Just(Step::MulInput),
        Just(Step::MaxInput),
        (w, b).prop_map(|(w, b)| Step::Linear(w, b)),
        Just(Step::Softmax),
        Just(Step::LayerNorm),
        Just(Step::Transpose2),
    ]
}

fn build(steps: &[Step]) -> (Graph, BTreeMap<String, Tensor>) {
    let mut g = Graph::new("random");
    let mut payload = BTreeMap::new();
    let x = g.add_input("x", Shape::known(&[2, 3]), DType::F32);
    let mut cur: NodeId = x;
    for (i, s) in steps.iter().enumerate() {
        let name = format!("n{i}");
        cur = match s {
            Step::Unary(op) => g.add_op(name, *op, vec![cur], Attrs::new()),
            Step::AddInput => g.add_op(name, Op::Add, vec![cur, x], Attrs::new()),
            Step::MulInput => g.add_op(name, Op::Mul, vec![cur, x], Attrs::new()),
            Step::MaxInput => g.add_op(name, Op::Maximum, vec![cur, x], Attrs::new()),
            Step::Linear(w, b) => {
                let wk = format!("l{i}.weight");
                let bk = format!("l{i}.bias");
                payload.insert(wk.clone(), Tensor::from_f32(&[3, 3], w.clone()).unwrap());
                payload.insert(bk.clone(), Tensor::from_f32(&[3], b.clone()).unwrap());
                let wp = g.add_param(wk, Shape::known(&[3, 3]), DType::F32);
                let bp = g.add_param(bk, Shape::known(&[3]), DType::F32);
                g.add_op(name, Op::Linear, vec![cur, wp, bp], Attrs::new())
            }
            Step::Softmax => g.add_op(
                name,
                Op::Softmax,
                vec![cur],
                Attrs::new().with("axis", AttrValue::Int(-1)),
            ),
            Step::LayerNorm => g.add_op(name, Op::LayerNorm, vec![cur], Attrs::new()),
            // Two transposes keep the [2, 3] shape while exercising the layout path.
            Step::Transpose2 => {
                let t = g
                    .add_op(format!("{name}t"), Op::Transpose, vec![cur], Attrs::new())
                    .unwrap();
                g.add_op(name, Op::Transpose, vec![t], Attrs::new())
            }
        }
        .unwrap();
    }
    g.add_output("y", cur);
    (g, payload)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]
    #[test]
    fn compiled_agrees_with_reference(
        steps in proptest::collection::vec(step(), 1..10),
        x in proptest::collection::vec(-2.0f32..2.0, 6),
    ) {
        let (g, payload) = build(&steps);
        let inputs: BTreeMap<String, Tensor> = [("x".to_string(), Tensor::from_f32(&[2, 3], x).unwrap())].into();
        let reference = denote(&g, &payload, &inputs).unwrap();
        let compiled = compile(&g, &payload).unwrap().run(&inputs).unwrap();
        let r = reference.output("y").unwrap().to_f64();
        let c = compiled["y"].to_f64();
        prop_assert_eq!(r.shape(), c.shape());
        for (a, b) in r.iter().zip(c.iter()) {
            // Layer norm of a near-constant row amplifies rounding; the bound is for f32 chains of
            // at most nine steps with values of order one.
            prop_assert!((a - b).abs() <= 1e-3 * a.abs().max(1.0), "reference {a}, compiled {b}, steps {steps:?}");
        }
    }
}
