//! The bounds with `f32_executor` on must contain what the compiled f32 executor computes, not
//! only the exact function: sampled (and corner) points of the box are run through the compiled
//! plan and every output must lie inside the certified interval.
//!
//! Batch norm is the case that needs care: the executor folds `s = weight / sqrt(var + eps)` and
//! `t = bias - mean * s` in f32 itself, and `t` cancels when `bias ~ mean * s`, so the rounding of
//! `mean * s` (not only of `t`) reaches the output.

use std::collections::{BTreeMap, HashMap};

use ndarray::{ArrayD, IxDyn};
use tl_bounds::{compute_bounds, BoundNet, CrownOptions, InputBox, Method};
use tl_ir::{Attrs, DType, Graph, Op, Shape};
use tl_kernels::{compile, Tensor};

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> f64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 >> 11) as f64 / (1u64 << 53) as f64
    }
    fn sym(&mut self) -> f64 {
        2.0 * self.next() - 1.0
    }
}

/// `x: [1, C, 2, 2] -> batch_norm -> y` with the given per-channel statistics.
fn batch_norm_net(
    mean: &[f64],
    var: &[f64],
    weight: &[f64],
    bias: &[f64],
) -> (Graph, HashMap<String, ArrayD<f64>>) {
    let c = mean.len();
    let mut g = Graph::new("bn");
    let mut w = HashMap::new();
    let x = g.add_input("x", Shape::known(&[1, c as u64, 2, 2]), DType::F32);
    let mut ids = vec![x];
    for (key, vals) in [
        ("bn.weight", weight),
        ("bn.bias", bias),
        ("bn.mean", mean),
        ("bn.var", var),
    ] {
        w.insert(
            key.to_string(),
            ArrayD::from_shape_vec(IxDyn(&[c]), vals.to_vec()).unwrap(),
        );
        ids.push(g.add_param(key, Shape::known(&[c as u64]), DType::F32));
    }
    let y = g.add_op("y", Op::BatchNorm, ids, Attrs::new()).unwrap();
    g.add_output("y", y);
    (g, w)
}

/// Runs the compiled plan on sampled points and corners of `[lo, hi]` and asserts every output
/// lies in the f32-executor bounds of `method`.
fn assert_executor_inside(
    graph: &Graph,
    weights: &HashMap<String, ArrayD<f64>>,
    lo: f64,
    hi: f64,
    rng: &mut Rng,
) {
    let channels = weights["bn.mean"].len();
    let n = channels * 4;
    let payload = |k: &str| weights.get(k).cloned();
    let net = BoundNet::from_graph(graph, &payload, Some("y")).unwrap();
    let boxed = InputBox::new(vec![lo; n], vec![hi; n]).unwrap();
    let params: BTreeMap<String, Tensor> = weights
        .iter()
        .map(|(k, v)| (k.clone(), Tensor::F64(v.clone())))
        .collect();
    let plan = compile(graph, &params).unwrap();
    for method in [Method::Ibp, Method::Crown] {
        let b = compute_bounds(&net, &boxed, method, None, CrownOptions::default()).unwrap();
        for trial in 0..64 {
            let x: Vec<f32> = (0..n)
                .map(|_| match trial % 3 {
                    0 => lo as f32,
                    1 => hi as f32,
                    _ => (lo + rng.next() * (hi - lo)) as f32,
                })
                .collect();
            let t = ArrayD::from_shape_vec(IxDyn(&[1, n / 4, 2, 2]), x).unwrap();
            let mut inputs = BTreeMap::new();
            inputs.insert("x".to_string(), Tensor::F32(t));
            let out = plan.run(&inputs).unwrap();
            let Tensor::F32(y) = &out["y"] else {
                panic!("f32 output expected")
            };
            for (j, &v) in y.iter().enumerate() {
                let v = v as f64;
                assert!(
                    b.lower[j] <= v && v <= b.upper[j],
                    "{method:?}: executor output {v} at {j} outside the f32-sound bounds [{}, {}]",
                    b.lower[j],
                    b.upper[j]
                );
            }
        }
    }
}

#[test]
fn batch_norm_whose_shift_cancels_stays_inside_the_f32_bounds() {
    // bias = mean * s: the exact shift is ~0 while the executor's f32 fold of `mean * s` rounds
    // at the scale of `mean`.
    let mut rng = Rng(0x5eed_b0);
    let c = 4;
    let mean: Vec<f64> = (0..c).map(|_| 1000.0 * (1.0 + rng.next())).collect();
    let var: Vec<f64> = (0..c).map(|_| 0.5 + rng.next()).collect();
    let weight: Vec<f64> = (0..c).map(|_| 0.5 + rng.next()).collect();
    let bias: Vec<f64> = (0..c)
        .map(|ch| mean[ch] * weight[ch] / (var[ch] + 1e-5).sqrt())
        .collect();
    let (g, w) = batch_norm_net(&mean, &var, &weight, &bias);
    assert_executor_inside(&g, &w, -1.0, 1.0, &mut rng);
}

#[test]
fn batch_norm_with_ordinary_statistics_stays_inside_the_f32_bounds() {
    let mut rng = Rng(0xb0b);
    for _ in 0..20 {
        let c = 3;
        let mean: Vec<f64> = (0..c).map(|_| 3.0 * rng.sym()).collect();
        let var: Vec<f64> = (0..c).map(|_| 0.1 + 2.0 * rng.next()).collect();
        let weight: Vec<f64> = (0..c).map(|_| 2.0 * rng.sym()).collect();
        let bias: Vec<f64> = (0..c).map(|_| 3.0 * rng.sym()).collect();
        let (g, w) = batch_norm_net(&mean, &var, &weight, &bias);
        assert_executor_inside(&g, &w, -0.05, 0.05, &mut rng);
    }
}

#[test]
fn leaky_relu_with_an_inexact_slope_stays_inside_the_f32_bounds() {
    // The executor multiplies by f32(alpha): two roundings, not one.
    let n = 256;
    let mut g = Graph::new("leaky");
    let x = g.add_input("x", Shape::known(&[1, n as u64]), DType::F32);
    let y = g
        .add_op(
            "y",
            Op::LeakyRelu,
            vec![x],
            Attrs::new().with("alpha", tl_ir::AttrValue::Float(0.01)),
        )
        .unwrap();
    g.add_output("y", y);
    let mut rng = Rng(0x1ea);
    // Degenerate boxes at f32 points: the bound must hold at each point itself.
    let xs: Vec<f32> = (0..n).map(|_| (-1.0 - 9.0 * rng.next()) as f32).collect();
    let pts: Vec<f64> = xs.iter().map(|&v| v as f64).collect();
    let payload = |_: &str| None;
    let net = BoundNet::from_graph(&g, &payload, Some("y")).unwrap();
    let inputs_x = pts.clone();
    let boxed = InputBox::new(pts.clone(), pts).unwrap();
    let b = compute_bounds(&net, &boxed, Method::Ibp, None, CrownOptions::default()).unwrap();
    let plan = compile(&g, &BTreeMap::new()).unwrap();
    let mut inputs = BTreeMap::new();
    inputs.insert(
        "x".to_string(),
        Tensor::F32(ArrayD::from_shape_vec(IxDyn(&[1, n]), xs).unwrap()),
    );
    let out = plan.run(&inputs).unwrap();
    let Tensor::F32(out) = &out["y"] else {
        panic!("f32 output expected")
    };
    let mut worst = 0.0f64;
    for (j, &v) in out.iter().enumerate() {
        let v = v as f64;
        let exact = 0.01 * inputs_x[j];
        worst = worst.max((v - exact).abs() / (b.upper[j] - exact).max(exact - b.lower[j]));
        assert!(
            b.lower[j] <= v && v <= b.upper[j],
            "executor output {v} at {j} outside the f32-sound bounds [{}, {}]",
            b.lower[j],
            b.upper[j]
        );
    }
    eprintln!("worst deviation / bound half-width: {worst}");
}

/// A random net `x: [1, c, 4, 4] -> conv -> batch_norm -> act -> flatten -> linear -> act ->
/// linear`, with f64 weights that are not f32 numbers.
fn random_net(rng: &mut Rng, act: Op) -> (Graph, HashMap<String, ArrayD<f64>>) {
    use tl_ir::AttrValue;
    let mut g = Graph::new("net");
    let mut w = HashMap::new();
    let mut param = |g: &mut Graph, key: &str, shape: &[usize], f: &mut dyn FnMut() -> f64| {
        let n: usize = shape.iter().product();
        let data: Vec<f64> = (0..n).map(|_| f()).collect();
        w.insert(
            key.to_string(),
            ArrayD::from_shape_vec(IxDyn(shape), data).unwrap(),
        );
        let dims: Vec<u64> = shape.iter().map(|&d| d as u64).collect();
        g.add_param(key, Shape::known(&dims), DType::F32)
    };
    let x = g.add_input("x", Shape::known(&[1, 2, 4, 4]), DType::F32);
    let cw = param(&mut g, "conv.w", &[3, 2, 3, 3], &mut || 0.4 * rng.sym());
    let cb = param(&mut g, "conv.b", &[3], &mut || 0.2 * rng.sym());
    let conv = g
        .add_op(
            "conv",
            Op::Conv2d,
            vec![x, cw, cb],
            Attrs::new().with("padding", AttrValue::Ints(vec![1, 1])),
        )
        .unwrap();
    let bw = param(&mut g, "bn.weight", &[3], &mut || 0.5 + rng.next());
    let bb = param(&mut g, "bn.bias", &[3], &mut || 2.0 * rng.sym());
    let bm = param(&mut g, "bn.mean", &[3], &mut || 2.0 * rng.sym());
    let bv = param(&mut g, "bn.var", &[3], &mut || 0.2 + rng.next());
    let bn = g
        .add_op(
            "bn",
            Op::BatchNorm,
            vec![conv, bw, bb, bm, bv],
            Attrs::new(),
        )
        .unwrap();
    let a1 = g.add_op("a1", act, vec![bn], Attrs::new()).unwrap();
    let f = g
        .add_op("flat", Op::Flatten, vec![a1], Attrs::new())
        .unwrap();
    let w1 = param(&mut g, "fc1.w", &[8, 48], &mut || 0.3 * rng.sym());
    let b1 = param(&mut g, "fc1.b", &[8], &mut || 0.1 * rng.sym());
    let h = g
        .add_op("h", Op::Linear, vec![f, w1, b1], Attrs::new())
        .unwrap();
    let a2 = g.add_op("a2", act, vec![h], Attrs::new()).unwrap();
    let w2 = param(&mut g, "fc2.w", &[4, 8], &mut || 0.5 * rng.sym());
    let b2 = param(&mut g, "fc2.b", &[4], &mut || 0.1 * rng.sym());
    let y = g
        .add_op("y", Op::Linear, vec![a2, w2, b2], Attrs::new())
        .unwrap();
    g.add_output("y", y);
    (g, w)
}

/// Tiny boxes around random points: the bounds are then nearly exact, so only the f32 noise
/// model stands between the exact function and the executor's value.
#[test]
fn random_conv_nets_executor_stays_inside_the_f32_bounds_on_tiny_boxes() {
    let mut rng = Rng(0xf32);
    for act in [Op::Relu, Op::LeakyRelu, Op::Tanh, Op::Sigmoid] {
        for _ in 0..6 {
            let (g, w) = random_net(&mut rng, act);
            let payload = |k: &str| w.get(k).cloned();
            let net = BoundNet::from_graph(&g, &payload, Some("y")).unwrap();
            let params: BTreeMap<String, Tensor> = w
                .iter()
                .map(|(k, v)| (k.clone(), Tensor::F64(v.clone())))
                .collect();
            let plan = compile(&g, &params).unwrap();
            let centre: Vec<f64> = (0..32).map(|_| (rng.sym() as f32) as f64).collect();
            let radius = 1e-7;
            let lo: Vec<f64> = centre.iter().map(|c| c - radius).collect();
            let hi: Vec<f64> = centre.iter().map(|c| c + radius).collect();
            let boxed = InputBox::new(lo.clone(), hi.clone()).unwrap();
            for method in [Method::Ibp, Method::Crown] {
                let b =
                    compute_bounds(&net, &boxed, method, None, CrownOptions::default()).unwrap();
                for trial in 0..8 {
                    let x: Vec<f32> = (0..32)
                        .map(|j| {
                            let v = match trial {
                                0 => centre[j],
                                1 => lo[j],
                                2 => hi[j],
                                _ => lo[j] + rng.next() * (hi[j] - lo[j]),
                            };
                            // f32 points of the box (the executor reads f32 inputs).
                            let v32 = v as f32;
                            if (v32 as f64) < lo[j] || (v32 as f64) > hi[j] {
                                centre[j] as f32
                            } else {
                                v32
                            }
                        })
                        .collect();
                    let t = ArrayD::from_shape_vec(IxDyn(&[1, 2, 4, 4]), x).unwrap();
                    let mut inputs = BTreeMap::new();
                    inputs.insert("x".to_string(), Tensor::F32(t));
                    let out = plan.run(&inputs).unwrap();
                    let Tensor::F32(y) = &out["y"] else {
                        panic!("f32 output expected")
                    };
                    for (j, &v) in y.iter().enumerate() {
                        let v = v as f64;
                        assert!(
                            b.lower[j] <= v && v <= b.upper[j],
                            "{act:?} {method:?}: executor output {v} at {j} outside the f32-sound bounds [{}, {}]",
                            b.lower[j],
                            b.upper[j]
                        );
                    }
                }
            }
        }
    }
}
