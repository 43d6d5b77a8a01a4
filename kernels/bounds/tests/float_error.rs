//! Soundness and tightness of the float error analysis: on random MLPs and CNNs over random
//! boxes, the derived bound of |compiled f32 - reference f64| at the output is never exceeded by
//! the deviation of the real executors, found by sampling the box and then by a search that
//! maximises the deviation (coordinate steps, corners: cancellation-heavy inputs).
//! `cargo test -p tl-bounds --test float_error -- --nocapture` prints derived / measured.

use std::collections::{BTreeMap, HashMap};

use ndarray::{ArrayD, IxDyn};
use tl_bounds::float_error::{analyze, executor_vs_reference, Format};
use tl_bounds::{BoundNet, InputBox, Method};
use tl_ir::{AttrValue, Attrs, DType, Graph, Op, Shape};
use tl_kernels::{compile, denote, Tensor};

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

struct Net {
    graph: Graph,
    weights: HashMap<String, ArrayD<f64>>,
    input_shape: Vec<usize>,
}

fn param(
    g: &mut Graph,
    w: &mut HashMap<String, ArrayD<f64>>,
    key: &str,
    shape: &[usize],
    scale: f64,
    rng: &mut Rng,
) -> usize {
    let n: usize = shape.iter().product();
    // f64 values that are not f32 numbers: the executor's weight rounding is exercised.
    let data: Vec<f64> = (0..n).map(|_| rng.sym() * scale).collect();
    w.insert(
        key.into(),
        ArrayD::from_shape_vec(IxDyn(shape), data).unwrap(),
    );
    let dims: Vec<u64> = shape.iter().map(|&d| d as u64).collect();
    g.add_param(key, Shape::known(&dims), DType::F32)
}

fn mlp(rng: &mut Rng, dims: &[usize], act: Op) -> Net {
    let mut g = Graph::new("mlp");
    let mut w = HashMap::new();
    let mut x = g.add_input("x", Shape::known(&[1, dims[0] as u64]), DType::F32);
    for l in 0..dims.len() - 1 {
        let scale = 1.0 / (dims[l] as f64).sqrt();
        let wt = param(
            &mut g,
            &mut w,
            &format!("fc{l}.weight"),
            &[dims[l + 1], dims[l]],
            scale,
            rng,
        );
        let b = param(
            &mut g,
            &mut w,
            &format!("fc{l}.bias"),
            &[dims[l + 1]],
            0.1,
            rng,
        );
        x = g
            .add_op(format!("h{l}"), Op::Linear, vec![x, wt, b], Attrs::new())
            .unwrap();
        if l + 2 < dims.len() {
            x = g
                .add_op(format!("a{l}"), act, vec![x], Attrs::new())
                .unwrap();
        }
    }
    g.add_output("y", x);
    Net {
        graph: g,
        weights: w,
        input_shape: vec![1, dims[0]],
    }
}

fn cnn(rng: &mut Rng, avg: bool) -> Net {
    let mut g = Graph::new("cnn");
    let mut w = HashMap::new();
    let x = g.add_input("x", Shape::known(&[1, 2, 8, 8]), DType::F32);
    let cw = param(&mut g, &mut w, "conv.weight", &[4, 2, 3, 3], 0.3, rng);
    let cb = param(&mut g, &mut w, "conv.bias", &[4], 0.1, rng);
    let conv = g
        .add_op(
            "conv",
            Op::Conv2d,
            vec![x, cw, cb],
            Attrs::new()
                .with("stride", AttrValue::Ints(vec![1, 1]))
                .with("padding", AttrValue::Ints(vec![1, 1])),
        )
        .unwrap();
    let r = g.add_op("act", Op::Relu, vec![conv], Attrs::new()).unwrap();
    let pool_op = if avg { Op::AvgPool2d } else { Op::MaxPool2d };
    let p = g
        .add_op(
            "pool",
            pool_op,
            vec![r],
            Attrs::new().with("kernel_size", AttrValue::Ints(vec![2, 2])),
        )
        .unwrap();
    let f = g
        .add_op("flat", Op::Flatten, vec![p], Attrs::new())
        .unwrap();
    let fw = param(&mut g, &mut w, "fc.weight", &[5, 64], 0.2, rng);
    let fb = param(&mut g, &mut w, "fc.bias", &[5], 0.1, rng);
    let y = g
        .add_op("y", Op::Linear, vec![f, fw, fb], Attrs::new())
        .unwrap();
    g.add_output("y", y);
    Net {
        graph: g,
        weights: w,
        input_shape: vec![1, 2, 8, 8],
    }
}

/// The largest |compiled - reference| over the output at `x` (an f32 point).
fn deviation(
    net: &Net,
    plan: &tl_kernels::Plan,
    params: &BTreeMap<String, Tensor>,
    x: &[f64],
) -> Vec<f64> {
    let t = ArrayD::from_shape_vec(
        IxDyn(&net.input_shape),
        x.iter().map(|&v| v as f32).collect(),
    )
    .unwrap();
    let mut inputs = BTreeMap::new();
    inputs.insert("x".to_string(), Tensor::F32(t));
    let c = plan.run(&inputs).unwrap();
    let r = denote(&net.graph, params, &inputs).unwrap();
    let cv = c["y"].to_f64_vec();
    let rv = r.output("y").unwrap().to_f64_vec();
    cv.iter().zip(&rv).map(|(a, b)| (a - b).abs()).collect()
}

trait F64Vec {
    fn to_f64_vec(&self) -> Vec<f64>;
}
impl F64Vec for Tensor {
    fn to_f64_vec(&self) -> Vec<f64> {
        match self {
            Tensor::F32(a) => a.iter().map(|&v| v as f64).collect(),
            Tensor::F64(a) => a.iter().copied().collect(),
            Tensor::I64(a) => a.iter().map(|&v| v as f64).collect(),
        }
    }
}

/// Derived bound and measured worst deviation (max over output elements of each).
fn check(
    net: &Net,
    lo: &[f64],
    hi: &[f64],
    rng: &mut Rng,
    samples: usize,
    search: usize,
) -> (f64, f64) {
    let payload = |k: &str| net.weights.get(k).cloned();
    let bnet = BoundNet::from_graph(&net.graph, &payload, Some("y")).unwrap();
    let boxed = InputBox::new(lo.to_vec(), hi.to_vec()).unwrap();
    let (_, bound) = executor_vs_reference(&bnet, &net.graph, &boxed, Method::Crown).unwrap();
    let params: BTreeMap<String, Tensor> = net
        .weights
        .iter()
        .map(|(k, v)| (k.clone(), Tensor::F64(v.clone())))
        .collect();
    let plan = compile(&net.graph, &params).unwrap();
    // f32 points of the box (both engines then read the same input).
    let pick = |rng: &mut Rng| -> Vec<f64> {
        lo.iter()
            .zip(hi)
            .map(|(&l, &h)| {
                let v = ((l + rng.next() * (h - l)) as f32) as f64;
                v.clamp(l, h)
            })
            .collect()
    };
    let mut worst = vec![0.0f64; bound.len()];
    let record = |d: &[f64], worst: &mut Vec<f64>| {
        for (j, (&d, &b)) in d.iter().zip(&bound).enumerate() {
            assert!(
                d <= b,
                "output {j}: measured deviation {d:e} exceeds the derived bound {b:e}"
            );
            worst[j] = worst[j].max(d);
        }
    };
    let mut best: Option<(Vec<f64>, f64)> = None;
    for _ in 0..samples {
        let x = pick(rng);
        let d = deviation(net, &plan, &params, &x);
        record(&d, &mut worst);
        let m = d.iter().fold(0.0f64, |a, &b| a.max(b));
        if best.as_ref().is_none_or(|(_, bm)| m > *bm) {
            best = Some((x, m));
        }
    }
    // Search: from the worst sample, move single coordinates to a corner or a random point of
    // the box and keep moves that increase the deviation.
    let (mut x, mut m) = best.unwrap();
    for step in 0..search {
        let j = (rng.next() * x.len() as f64) as usize % x.len();
        let old = x[j];
        x[j] = match step % 3 {
            0 => lo[j],
            1 => hi[j],
            _ => (((lo[j] + rng.next() * (hi[j] - lo[j])) as f32) as f64).clamp(lo[j], hi[j]),
        };
        let d = deviation(net, &plan, &params, &x);
        record(&d, &mut worst);
        let nm = d.iter().fold(0.0f64, |a, &b| a.max(b));
        if nm > m {
            m = nm;
        } else {
            x[j] = old;
        }
    }
    let derived = bound.iter().fold(0.0f64, |a, &b| a.max(b));
    let measured = worst.iter().fold(0.0f64, |a, &b| a.max(b));
    (derived, measured)
}

fn random_box(rng: &mut Rng, n: usize, lo: f64, hi: f64, width: f64) -> (Vec<f64>, Vec<f64>) {
    let mut l = Vec::with_capacity(n);
    let mut h = Vec::with_capacity(n);
    for _ in 0..n {
        let c = lo + rng.next() * (hi - lo);
        l.push(c - width);
        h.push(c + width);
    }
    (l, h)
}

#[test]
fn derived_bound_contains_the_executor_on_random_mlps() {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    for (k, dims) in [vec![16, 32, 8], vec![64, 48, 32, 10], vec![100, 64, 10]]
        .into_iter()
        .enumerate()
    {
        for act in [Op::Relu, Op::Tanh, Op::Sigmoid] {
            let net = mlp(&mut rng, &dims, act);
            let (lo, hi) = random_box(&mut rng, dims[0], -1.0, 1.0, 0.5);
            let (derived, measured) = check(&net, &lo, &hi, &mut rng, 60, 150);
            println!(
                "mlp {k} {dims:?} {act:?}: derived {derived:.3e} measured {measured:.3e} ratio {:.1}",
                derived / measured.max(f64::MIN_POSITIVE)
            );
            assert!(derived.is_finite() && derived > 0.0);
        }
    }
}

#[test]
fn derived_bound_contains_the_executor_on_random_cnns() {
    let mut rng = Rng(0x1234_5678_9abc_def1);
    for avg in [false, true] {
        for _ in 0..2 {
            let net = cnn(&mut rng, avg);
            let (lo, hi) = random_box(&mut rng, 128, 0.0, 1.0, 0.1);
            let (derived, measured) = check(&net, &lo, &hi, &mut rng, 40, 120);
            println!(
                "cnn avg={avg}: derived {derived:.3e} measured {measured:.3e} ratio {:.1}",
                derived / measured.max(f64::MIN_POSITIVE)
            );
        }
    }
}

#[test]
fn per_node_bounds_grow_along_the_net_and_name_the_libm_assumption() {
    let mut rng = Rng(7);
    let net = mlp(&mut rng, &[8, 8, 4], Op::Tanh);
    let payload = |k: &str| net.weights.get(k).cloned();
    let bnet = BoundNet::from_graph(&net.graph, &payload, Some("y")).unwrap();
    let b = InputBox::new(vec![-1.0; 8], vec![1.0; 8]).unwrap();
    let r = analyze(&bnet, &net.graph, &b, Method::Ibp, Format::F32).unwrap();
    let names: Vec<&str> = r.nodes.iter().map(|n| n.name.as_str()).collect();
    assert_eq!(names, ["x", "h0", "a0", "h1"]);
    assert!(r.nodes[1].max_abs() > r.nodes[0].max_abs());
    assert_eq!(r.assumptions.len(), 1, "{:?}", r.assumptions);
    // A relu-only net rests on no libm assumption.
    let net = mlp(&mut rng, &[8, 8, 4], Op::Relu);
    let payload = |k: &str| net.weights.get(k).cloned();
    let bnet = BoundNet::from_graph(&net.graph, &payload, Some("y")).unwrap();
    let r = analyze(&bnet, &net.graph, &b, Method::Ibp, Format::F32).unwrap();
    assert!(r.assumptions.is_empty());
    // The f64 reference's own error is about 2^29 times smaller.
    let r64 = analyze(&bnet, &net.graph, &b, Method::Ibp, Format::F64).unwrap();
    let ratio = r.output().max_abs() / r64.output().max_abs();
    assert!(ratio > 1e8 && ratio < 1e10, "{ratio}");
}

#[test]
fn unmodelled_kernels_and_folded_constants_are_reported_not_bounded() {
    let mut rng = Rng(11);
    // batch_norm: its kernel is not modelled.
    let mut g = Graph::new("bn");
    let mut w = HashMap::new();
    let x = g.add_input("x", Shape::known(&[1, 2, 2, 2]), DType::F32);
    let mut ps = Vec::new();
    for key in ["bn.weight", "bn.bias", "bn.mean"] {
        ps.push(param(&mut g, &mut w, key, &[2], 1.0, &mut rng));
    }
    w.insert("bn.var".into(), ArrayD::from_elem(IxDyn(&[2]), 0.5));
    ps.push(g.add_param("bn.var", Shape::known(&[2]), DType::F32));
    let y = g
        .add_op("y", Op::BatchNorm, [vec![x], ps].concat(), Attrs::new())
        .unwrap();
    g.add_output("y", y);
    let payload = |k: &str| w.get(k).cloned();
    let bnet = BoundNet::from_graph(&g, &payload, Some("y")).unwrap();
    let b = InputBox::new(vec![0.0; 8], vec![1.0; 8]).unwrap();
    let e = analyze(&bnet, &g, &b, Method::Ibp, Format::F32).unwrap_err();
    assert_eq!(e.node, "y");
    assert!(e.reason.contains("BatchNorm"), "{}", e.reason);
    // x * (c + c): the constant is folded in f64 by the lowering, computed in f32 by the executor.
    let mut g = Graph::new("fold");
    let mut w = HashMap::new();
    let x = g.add_input("x", Shape::known(&[1, 3]), DType::F32);
    let c = param(&mut g, &mut w, "c", &[3], 1.0, &mut rng);
    let cc = g.add_op("cc", Op::Add, vec![c, c], Attrs::new()).unwrap();
    let y = g.add_op("y", Op::Mul, vec![x, cc], Attrs::new()).unwrap();
    g.add_output("y", y);
    let payload = |k: &str| w.get(k).cloned();
    let bnet = BoundNet::from_graph(&g, &payload, Some("y")).unwrap();
    let b = InputBox::new(vec![0.0; 3], vec![1.0; 3]).unwrap();
    let e = analyze(&bnet, &g, &b, Method::Ibp, Format::F32).unwrap_err();
    assert!(e.reason.contains("`cc`"), "{}", e.reason);
}

/// `y = linear(ln(x))` or, with `attention`, a pre-norm causal self-attention block with a
/// residual and a GELU feed-forward layer: `x + attn(ln1 x)`, then `+ ff(ln2 .)`.
fn transformer(rng: &mut Rng, t: usize, d: usize, attention: bool) -> Net {
    let mut g = Graph::new("block");
    let mut w = HashMap::new();
    let x = g.add_input("x", Shape::known(&[1, t as u64, d as u64]), DType::F32);
    type W = HashMap<String, ArrayD<f64>>;
    fn linear(
        g: &mut Graph,
        w: &mut W,
        rng: &mut Rng,
        name: &str,
        src: usize,
        o: usize,
        i: usize,
    ) -> usize {
        let wt = param(
            g,
            w,
            &format!("{name}.weight"),
            &[o, i],
            1.0 / (i as f64).sqrt(),
            rng,
        );
        let b = param(g, w, &format!("{name}.bias"), &[o], 0.1, rng);
        g.add_op(name, Op::Linear, vec![src, wt, b], Attrs::new())
            .unwrap()
    }
    fn ln(g: &mut Graph, w: &mut W, rng: &mut Rng, name: &str, src: usize, d: usize) -> usize {
        let lw = param(g, w, &format!("{name}.weight"), &[d], 0.2, rng);
        // Weights near 1, as trained layer norms have.
        w.get_mut(&format!("{name}.weight"))
            .unwrap()
            .mapv_inplace(|v| 1.0 + v);
        let lb = param(g, w, &format!("{name}.bias"), &[d], 0.1, rng);
        g.add_op(
            name,
            Op::LayerNorm,
            vec![src, lw, lb],
            Attrs::new().with("eps", AttrValue::Float(1e-5)),
        )
        .unwrap()
    }
    let n1 = ln(&mut g, &mut w, rng, "ln1", x, d);
    let y = if !attention {
        linear(&mut g, &mut w, rng, "y", n1, d, d)
    } else {
        let q = linear(&mut g, &mut w, rng, "q", n1, d, d);
        let k = linear(&mut g, &mut w, rng, "k", n1, d, d);
        let v = linear(&mut g, &mut w, rng, "v", n1, d, d);
        let p = g
            .add_op(
                "weights",
                Op::AttentionWeights,
                vec![q, k],
                Attrs::new().with("causal", AttrValue::Bool(true)),
            )
            .unwrap();
        let mix = g
            .add_op("mix", Op::Matmul, vec![p, v], Attrs::new())
            .unwrap();
        let o = linear(&mut g, &mut w, rng, "o", mix, d, d);
        let r = g.add_op("r", Op::Add, vec![x, o], Attrs::new()).unwrap();
        let n2 = ln(&mut g, &mut w, rng, "ln2", r, d);
        let h = linear(&mut g, &mut w, rng, "fc", n2, 2 * d, d);
        let a = g.add_op("act", Op::Gelu, vec![h], Attrs::new()).unwrap();
        let f = linear(&mut g, &mut w, rng, "proj", a, d, 2 * d);
        g.add_op("y", Op::Add, vec![r, f], Attrs::new()).unwrap()
    };
    g.add_output("y", y);
    Net {
        graph: g,
        weights: w,
        input_shape: vec![1, t, d],
    }
}

/// Elementwise functions and a softmax: `h = linear(x)`, then
/// `y = softmax(linear((erf(h) + h / sqrt(h * h + 1) + log(exp(h) + 1)) * mean(h)))`.
fn elementwise(rng: &mut Rng, n: usize) -> Net {
    let mut g = Graph::new("fns");
    let mut w = HashMap::new();
    let x = g.add_input("x", Shape::known(&[1, n as u64]), DType::F32);
    let w0 = param(
        &mut g,
        &mut w,
        "fc.weight",
        &[n, n],
        1.0 / (n as f64).sqrt(),
        rng,
    );
    let b0 = param(&mut g, &mut w, "fc.bias", &[n], 0.1, rng);
    let h = g
        .add_op("h", Op::Linear, vec![x, w0, b0], Attrs::new())
        .unwrap();
    w.insert("one".into(), ArrayD::from_elem(IxDyn(&[1]), 1.0));
    let one = g.add_param("one", Shape::known(&[1]), DType::F32);
    let op = |g: &mut Graph, name: &str, op: Op, args: Vec<usize>| {
        g.add_op(name, op, args, Attrs::new()).unwrap()
    };
    let e = op(&mut g, "erf", Op::Erf, vec![h]);
    let sq = op(&mut g, "sq", Op::Mul, vec![h, h]);
    let sq1 = op(&mut g, "sq1", Op::Add, vec![sq, one]);
    let rt = op(&mut g, "rt", Op::Sqrt, vec![sq1]);
    let dv = op(&mut g, "dv", Op::Div, vec![h, rt]);
    let ex = op(&mut g, "ex", Op::Exp, vec![h]);
    let ex1 = op(&mut g, "ex1", Op::Add, vec![ex, one]);
    let lg = op(&mut g, "lg", Op::Log, vec![ex1]);
    let m = g
        .add_op(
            "m",
            Op::Mean,
            vec![h],
            Attrs::new()
                .with("axes", AttrValue::Ints(vec![1]))
                .with("keepdim", AttrValue::Bool(true)),
        )
        .unwrap();
    let s1 = op(&mut g, "s1", Op::Add, vec![e, dv]);
    let s2 = op(&mut g, "s2", Op::Add, vec![s1, lg]);
    let s3 = op(&mut g, "s3", Op::Mul, vec![s2, m]);
    let w1 = param(&mut g, &mut w, "out.weight", &[n, n], 1.0, rng);
    let b1 = param(&mut g, &mut w, "out.bias", &[n], 0.1, rng);
    let z = g
        .add_op("z", Op::Linear, vec![s3, w1, b1], Attrs::new())
        .unwrap();
    let y = op(&mut g, "y", Op::Softmax, vec![z]);
    g.add_output("y", y);
    Net {
        graph: g,
        weights: w,
        input_shape: vec![1, n],
    }
}

#[test]
fn derived_bound_contains_the_executor_on_layer_norm_attention_and_elementwise_nets() {
    let mut rng = Rng(0x5eed_f1a7_0e11_c0de);
    for (case, attention, width) in [
        ("layer norm", false, 0.5),
        ("layer norm, near-constant rows", false, 1e-3),
        ("attention block", true, 0.05),
    ] {
        for _ in 0..2 {
            let net = transformer(&mut rng, 4, 8, attention);
            let (lo, hi) = random_box(&mut rng, 32, -1.0, 1.0, width);
            let (derived, measured) = check(&net, &lo, &hi, &mut rng, 40, 120);
            println!(
                "{case}: derived {derived:.3e} measured {measured:.3e} ratio {:.1}",
                derived / measured.max(f64::MIN_POSITIVE)
            );
            assert!(derived.is_finite() && derived > 0.0);
        }
    }
    for _ in 0..3 {
        let net = elementwise(&mut rng, 8);
        let (lo, hi) = random_box(&mut rng, 8, -1.0, 1.0, 0.5);
        let (derived, measured) = check(&net, &lo, &hi, &mut rng, 60, 150);
        println!(
            "erf/div/sqrt/exp/log/mean/softmax: derived {derived:.3e} measured {measured:.3e} ratio {:.1}",
            derived / measured.max(f64::MIN_POSITIVE)
        );
    }
}

/// A hand-written normalisation (a keepdim mean subtracted from its rows by broadcast, a
/// variance by `mul`) and a max over actions (a TD target), as users write them.
fn centring_and_max(rng: &mut Rng, n: usize) -> Net {
    let mut g = Graph::new("centre_max");
    let mut w = HashMap::new();
    let x = g.add_input("x", Shape::known(&[2, n as u64]), DType::F32);
    let w0 = param(&mut g, &mut w, "fc.weight", &[n, n], 1.0, rng);
    let b0 = param(&mut g, &mut w, "fc.bias", &[n], 0.1, rng);
    let h = g
        .add_op("h", Op::Linear, vec![x, w0, b0], Attrs::new())
        .unwrap();
    let keep = || {
        Attrs::new()
            .with("axes", AttrValue::Ints(vec![1]))
            .with("keepdim", AttrValue::Bool(true))
    };
    let m = g.add_op("m", Op::Mean, vec![h], keep()).unwrap();
    let c = g.add_op("c", Op::Sub, vec![h, m], Attrs::new()).unwrap();
    let sq = g.add_op("sq", Op::Mul, vec![c, c], Attrs::new()).unwrap();
    let var = g.add_op("var", Op::Mean, vec![sq], keep()).unwrap();
    let best = g.add_op("best", Op::Max, vec![c], keep()).unwrap();
    let y = g
        .add_op("y", Op::Add, vec![best, var], Attrs::new())
        .unwrap();
    g.add_output("y", y);
    Net {
        graph: g,
        weights: w,
        input_shape: vec![2, n],
    }
}

#[test]
fn derived_bound_contains_the_executor_on_broadcast_centring_and_max() {
    let mut rng = Rng(0x0ce7_7e4d_3a11_5eed);
    for _ in 0..3 {
        let net = centring_and_max(&mut rng, 6);
        let (lo, hi) = random_box(&mut rng, 12, -1.0, 1.0, 0.5);
        let (derived, measured) = check(&net, &lo, &hi, &mut rng, 60, 150);
        println!(
            "centring/variance/max: derived {derived:.3e} measured {measured:.3e} ratio {:.1}",
            derived / measured.max(f64::MIN_POSITIVE)
        );
        assert!(derived.is_finite() && derived > 0.0);
    }
}
