//! The enclosure against exact Jacobians (forward mode along every unit direction) at random
//! points of random boxes, on networks with random weights drawn at test time.

use super::*;
use crate::autograd::{jvp, Seeds};
use tl_ir::{AttrValue, Attrs, DType as IrDType, Op, Shape};

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
    fn array(&mut self, shape: &[usize], lo: f64, hi: f64) -> ArrayD<f64> {
        ArrayD::from_shape_simple_fn(IxDyn(shape), || lo + (hi - lo) * self.next())
    }
}

fn seed_time() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(1, |d| d.as_nanos() as u64)
}

/// The exact Jacobian `[output element, input coordinate]` at `x`, column by column.
fn exact(
    g: &Graph,
    params: &BTreeMap<String, Tensor>,
    x: &ArrayD<f64>,
    input: &str,
    output: &str,
) -> Array2<f64> {
    let inputs = BTreeMap::from([(input.to_string(), Tensor::F64(x.clone()))]);
    let n = x.len();
    let mut cols = Vec::new();
    for j in 0..n {
        let mut e = ArrayD::zeros(x.raw_dim());
        e.as_slice_mut().unwrap()[j] = 1.0;
        let seeds = Seeds {
            inputs: BTreeMap::from([(input.to_string(), e)]),
            params: BTreeMap::new(),
        };
        cols.push(jvp(g, params, &inputs, output, &seeds).unwrap().tangent);
    }
    let m = cols[0].len();
    Array2::from_shape_fn((m, n), |(i, j)| cols[j].iter().nth(i).copied().unwrap())
}

/// Encloses over a random box around a random centre and checks the exact Jacobian and the value
/// at random points of the box lie inside; returns the enclosure.
fn encloses(
    g: &Graph,
    params: &BTreeMap<String, Tensor>,
    shape: &[usize],
    radius: f64,
    rng: &mut Rng,
) -> JacobianEnclosure {
    let c = rng.array(shape, -1.0, 1.0);
    let r = rng.array(shape, 0.0, radius);
    let (lo, hi) = (&c - &r, &c + &r);
    let boxes = BTreeMap::from([("x".to_string(), (lo.clone(), hi.clone()))]);
    let e = jacobian_enclosure(g, params, &boxes, "x", "y").unwrap();
    for _ in 0..20 {
        let t = rng.array(shape, 0.0, 1.0);
        let x = &lo + &(&(&hi - &lo) * &t);
        let j = exact(g, params, &x, "x", "y");
        for ((idx, &v), (&l, &h)) in j.indexed_iter().zip(e.lo.iter().zip(e.hi.iter())) {
            assert!(l <= v && v <= h, "J{idx:?} = {v} outside [{l}, {h}]");
        }
        let y = crate::denote(
            g,
            params,
            &BTreeMap::from([("x".to_string(), Tensor::F64(x.clone()))]),
        )
        .unwrap()
        .output("y")
        .unwrap()
        .to_f64();
        for ((&v, &l), &h) in y.iter().zip(e.value_lo.iter()).zip(e.value_hi.iter()) {
            assert!(l <= v && v <= h, "value {v} outside [{l}, {h}]");
        }
    }
    e
}

fn mlp(rng: &mut Rng, widths: &[usize], act: Op) -> (Graph, BTreeMap<String, Tensor>) {
    let mut g = Graph::new("mlp");
    let mut h = g.add_input("x", Shape::known(&[1, widths[0] as u64]), IrDType::F32);
    let mut params = BTreeMap::new();
    for (k, win) in widths.windows(2).enumerate() {
        let (i, o) = (win[0], win[1]);
        let w = g.add_param(
            format!("l{k}.w"),
            Shape::known(&[o as u64, i as u64]),
            IrDType::F32,
        );
        let b = g.add_param(format!("l{k}.b"), Shape::known(&[o as u64]), IrDType::F32);
        params.insert(
            format!("l{k}.w"),
            Tensor::F64(rng.array(&[o, i], -0.8, 0.8)),
        );
        params.insert(format!("l{k}.b"), Tensor::F64(rng.array(&[o], -0.3, 0.3)));
        let last = k + 2 == widths.len();
        let name = if last {
            "y".to_string()
        } else {
            format!("z{k}")
        };
        h = g
            .add_op(&name, Op::Linear, vec![h, w, b], Attrs::new())
            .unwrap();
        if !last {
            h = g
                .add_op(format!("a{k}"), act, vec![h], Attrs::new())
                .unwrap();
        }
    }
    let y = g.node_by_name("y").unwrap();
    g.add_output("y", y);
    (g, params)
}

#[test]
fn mlp_enclosures_contain_every_sampled_jacobian() {
    let mut rng = Rng(seed_time());
    for act in [Op::Relu, Op::Tanh, Op::Sigmoid, Op::LeakyRelu] {
        let (g, params) = mlp(&mut rng, &[5, 12, 9, 3], act);
        for radius in [0.0, 0.01, 0.3] {
            let e = encloses(&g, &params, &[1, 5], radius, &mut rng);
            assert_eq!((e.lo.nrows(), e.lo.ncols()), (3, 5));
        }
    }
}

#[test]
fn a_point_box_encloses_the_jacobian_tightly() {
    let mut rng = Rng(seed_time() ^ 1);
    let (g, params) = mlp(&mut rng, &[4, 10, 2], Op::Tanh);
    let x = rng.array(&[1, 4], -1.0, 1.0);
    let boxes = BTreeMap::from([("x".to_string(), (x.clone(), x.clone()))]);
    let e = jacobian_enclosure(&g, &params, &boxes, "x", "y").unwrap();
    let j = exact(&g, &params, &x, "x", "y");
    for ((&l, &h), &v) in e.lo.iter().zip(e.hi.iter()).zip(j.iter()) {
        assert!(
            l <= v && v <= h && h - l <= 1e-12 * v.abs().max(1.0),
            "{l} {v} {h}"
        );
    }
    // The linf norm bound is at least the exact norm at the point, and close to it.
    let exact_norm = j
        .outer_iter()
        .map(|r| r.iter().map(|v| v.abs()).sum::<f64>())
        .fold(0.0, f64::max);
    let bound = e.linf_norm_bound(&[true; 4]);
    assert!(
        bound >= exact_norm && bound <= exact_norm * (1.0 + 1e-10),
        "{bound} {exact_norm}"
    );
}

#[test]
fn conv_pool_flatten_enclosures_contain_sampled_jacobians() {
    let mut rng = Rng(seed_time() ^ 2);
    let mut g = Graph::new("cnn");
    let x = g.add_input("x", Shape::known(&[1, 1, 6, 6]), IrDType::F32);
    let w = g.add_param("w", Shape::known(&[2, 1, 3, 3]), IrDType::F32);
    let b = g.add_param("b", Shape::known(&[2]), IrDType::F32);
    let fw = g.add_param("fw", Shape::known(&[3, 8]), IrDType::F32);
    let c = g
        .add_op(
            "c",
            Op::Conv2d,
            vec![x, w, b],
            Attrs::new().with("padding", AttrValue::Int(1)),
        )
        .unwrap();
    let a = g.add_op("a", Op::Relu, vec![c], Attrs::new()).unwrap();
    let p = g
        .add_op(
            "p",
            Op::MaxPool2d,
            vec![a],
            Attrs::new().with("kernel_size", AttrValue::Int(2)),
        )
        .unwrap();
    let q = g
        .add_op(
            "q",
            Op::AvgPool2d,
            vec![p],
            Attrs::new()
                .with("kernel_size", AttrValue::Int(2))
                .with("stride", AttrValue::Int(1)),
        )
        .unwrap();
    let t = g.add_op("t", Op::Tanh, vec![q], Attrs::new()).unwrap();
    let f = g.add_op("f", Op::Flatten, vec![t], Attrs::new()).unwrap();
    let y = g
        .add_op("y", Op::Linear, vec![f, fw], Attrs::new())
        .unwrap();
    g.add_output("y", y);
    let params = BTreeMap::from([
        (
            "w".to_string(),
            Tensor::F64(rng.array(&[2, 1, 3, 3], -1.0, 1.0)),
        ),
        ("b".to_string(), Tensor::F64(rng.array(&[2], -0.2, 0.2))),
        ("fw".to_string(), Tensor::F64(rng.array(&[3, 8], -1.0, 1.0))),
    ]);
    for radius in [0.0, 0.02, 0.2] {
        encloses(&g, &params, &[1, 1, 6, 6], radius, &mut rng);
    }
}

#[test]
fn ops_without_an_enclosure_rule_are_refused_by_node() {
    let mut g = Graph::new("g");
    let x = g.add_input("x", Shape::known(&[1, 3]), IrDType::F32);
    let s = g
        .add_op("s", Op::LogSoftmax, vec![x], Attrs::new())
        .unwrap();
    g.add_output("y", s);
    let z = ArrayD::zeros(IxDyn(&[1, 3]));
    let boxes = BTreeMap::from([("x".to_string(), (z.clone(), z + 1.0))]);
    let params: BTreeMap<String, Tensor> = BTreeMap::new();
    let err = jacobian_enclosure(&g, &params, &boxes, "x", "y").unwrap_err();
    assert!(
        matches!(&err, AutogradError::NoRule { node, op, .. } if node == "s" && *op == "log_softmax"),
        "{err:?}"
    );
}

/// Cross entropy with fixed labels (some ignored) after a linear layer, every reduction, random
/// boxes: the value and the exact Jacobian at sampled points lie inside the enclosure, and an
/// ignored row's logits have a derivative of exactly 0.
#[test]
fn cross_entropy_enclosures_contain_sampled_jacobians_and_ignore_exactly() {
    let seed = seed_time();
    let mut rng = Rng(seed);
    for reduction in ["mean", "sum", "none"] {
        let mut g = Graph::new("ce");
        let x = g.add_input("x", Shape::known(&[3, 4]), IrDType::F32);
        let w = g.add_param("w", Shape::known(&[5, 4]), IrDType::F32);
        let labels = g.add_param("labels", Shape::known(&[3]), IrDType::I64);
        let z = g.add_op("z", Op::Linear, vec![x, w], Attrs::new()).unwrap();
        let attrs = Attrs::new()
            .with("ignore_index", AttrValue::Int(-100))
            .with("reduction", AttrValue::Str(reduction.into()));
        let y = g
            .add_op("y", Op::CrossEntropy, vec![z, labels], attrs)
            .unwrap();
        g.add_output("y", y);
        let params = BTreeMap::from([
            ("w".to_string(), Tensor::F64(rng.array(&[5, 4], -1.0, 1.0))),
            (
                "labels".to_string(),
                Tensor::from_i64(&[3], vec![4, -100, 1]).unwrap(),
            ),
        ]);
        for radius in [0.01, 0.3, 1.5] {
            let e = encloses(&g, &params, &[3, 4], radius, &mut rng);
            // Row 1 is ignored: x[1, :] (coordinates 4..8) moves no output.
            for (i, (lo, hi)) in e.lo.outer_iter().zip(e.hi.outer_iter()).enumerate() {
                for j in 4..8 {
                    assert_eq!(
                        (lo[j], hi[j]),
                        (0.0, 0.0),
                        "seed {seed} {reduction}: output {i}, x coordinate {j}"
                    );
                }
            }
        }
    }
}

/// Softmax after a linear layer, over the last axis and over a middle one, random boxes from
/// nearly points to wide ones: values and exact Jacobians at sampled points lie inside, and a
/// one-element axis is exactly 1 with derivative 0.
#[test]
fn softmax_enclosures_contain_sampled_jacobians() {
    let seed = seed_time();
    let mut rng = Rng(seed);
    for (shape, axis, wshape) in [
        (vec![1usize, 4], -1i64, [5usize, 4]),
        (vec![3, 4], 0, [3, 4]),
        (vec![2, 3, 4], 1, [4, 4]),
        (vec![2, 1, 4], 1, [4, 4]),
    ] {
        let mut g = Graph::new("sm");
        let dims: Vec<u64> = shape.iter().map(|&d| d as u64).collect();
        let x = g.add_input("x", Shape::known(&dims), IrDType::F32);
        let w = g.add_param(
            "w",
            Shape::known(&[wshape[0] as u64, wshape[1] as u64]),
            IrDType::F32,
        );
        let z = g.add_op("z", Op::Linear, vec![x, w], Attrs::new()).unwrap();
        let y = g
            .add_op(
                "y",
                Op::Softmax,
                vec![z],
                Attrs::new().with("axis", AttrValue::Int(axis)),
            )
            .unwrap();
        g.add_output("y", y);
        let params =
            BTreeMap::from([("w".to_string(), Tensor::F64(rng.array(&wshape, -1.0, 1.0)))]);
        for radius in [1e-6, 0.05, 0.5, 2.0] {
            let e = encloses(&g, &params, &shape, radius, &mut rng);
            if shape == [2, 1, 4] {
                assert!(
                    e.lo.iter().chain(e.hi.iter()).all(|&v| v == 0.0),
                    "seed {seed}"
                );
                assert!(e.value_hi.iter().all(|&v| v == 1.0), "seed {seed}");
            }
        }
    }
}

/// Self-attention from one input: q, k, v linear maps of `x`, `attention_weights` (no mask,
/// causal, a fixed keep mask built by `trilu`, an explicit scale), then `matmul(w, v)` of two
/// varying values, or the same as one `scaled_dot_product_attention`. Values and exact Jacobians at sampled points lie inside the enclosure; a
/// masked weight is exactly 0 with derivative exactly 0.
#[test]
fn attention_enclosures_contain_sampled_jacobians_and_keep_masked_weights_exact() {
    let seed = seed_time();
    let mut rng = Rng(seed);
    for variant in ["plain", "causal", "keep", "scaled"] {
        let mut g = Graph::new("attn");
        let x = g.add_input("x", Shape::known(&[1, 3, 4]), IrDType::F32);
        let mut params = BTreeMap::new();
        let mut lin = |g: &mut Graph, name: &str, rng: &mut Rng| {
            let w = g.add_param(name, Shape::known(&[4, 4]), IrDType::F32);
            params.insert(name.to_string(), Tensor::F64(rng.array(&[4, 4], -0.8, 0.8)));
            g.add_op(format!("{name}.out"), Op::Linear, vec![x, w], Attrs::new())
                .unwrap()
        };
        let q = lin(&mut g, "wq", &mut rng);
        let k = lin(&mut g, "wk", &mut rng);
        let v = lin(&mut g, "wv", &mut rng);
        let mut attrs = Attrs::new();
        let mut args = vec![q, k];
        match variant {
            "causal" => attrs = attrs.with("causal", AttrValue::Bool(true)),
            "scaled" => attrs = attrs.with("scale", AttrValue::Float(0.7)),
            "keep" => {
                let ones = g.add_param("ones", Shape::known(&[3, 3]), IrDType::F32);
                params.insert("ones".into(), Tensor::F64(ArrayD::ones(IxDyn(&[3, 3]))));
                let keep = g
                    .add_op(
                        "keep",
                        Op::Trilu,
                        vec![ones],
                        Attrs::new().with("upper", AttrValue::Bool(false)),
                    )
                    .unwrap();
                args.push(keep);
            }
            _ => {}
        }
        // Two spellings: attention_weights then matmul, and the fused op.
        let y = if rng.next() < 0.5 {
            let w = g.add_op("w", Op::AttentionWeights, args, attrs).unwrap();
            g.add_op("y", Op::Matmul, vec![w, v], Attrs::new()).unwrap()
        } else {
            args.insert(2, v);
            g.add_op("y", Op::ScaledDotProductAttention, args, attrs)
                .unwrap()
        };
        g.add_output("y", y);
        for radius in [1e-6, 0.05, 0.4] {
            let e = encloses(&g, &params, &[1, 3, 4], radius, &mut rng);
            if variant == "causal" || variant == "keep" {
                // Position 0 attends to itself only: its output moves with x[0, 0, :] alone.
                for i in 0..4 {
                    for j in 4..12 {
                        assert_eq!(
                            (e.lo[[i, j]], e.hi[[i, j]]),
                            (0.0, 0.0),
                            "seed {seed} {variant}: y[0, 0, {i}] by x coordinate {j}"
                        );
                    }
                }
            }
        }
    }
}
