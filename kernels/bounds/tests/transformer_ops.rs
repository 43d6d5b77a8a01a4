//! Soundness of the Transformer ops' bounds (products of two tensors, matmul of two activations,
//! exp, division, softmax, layer norm, sum/mean, gelu, erf, attention): random weights, random
//! boxes, thousands of sampled points (and corners) run through tl's f64 reference executor
//! (`denote`) and the compiled f32 plan; every output must lie inside the IBP and the CROWN
//! bounds (f32-executor margin on, the default).

use std::collections::{BTreeMap, HashMap};

use ndarray::{ArrayD, IxDyn};
use tl_bounds::{compute_bounds, BoundNet, CrownOptions, InputBox, Method};
use tl_ir::{AttrValue, Attrs, DType, Graph, NodeId, Op, Shape};
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

const L: usize = 3;
const D: usize = 4;

/// A graph under construction over `x: [1, L, D]` with random weights.
struct Net {
    g: Graph,
    w: HashMap<String, ArrayD<f64>>,
    x: NodeId,
    n: usize,
}

impl Net {
    fn new(name: &str) -> Net {
        let mut g = Graph::new(name);
        let x = g.add_input("x", Shape::known(&[1, L as u64, D as u64]), DType::F32);
        Net {
            g,
            w: HashMap::new(),
            x,
            n: 0,
        }
    }
    fn param(&mut self, shape: &[usize], scale: f64, rng: &mut Rng) -> NodeId {
        self.n += 1;
        let key = format!("p{}", self.n);
        let len: usize = shape.iter().product();
        let v: Vec<f64> = (0..len).map(|_| scale * rng.sym()).collect();
        self.w.insert(
            key.clone(),
            ArrayD::from_shape_vec(IxDyn(shape), v).unwrap(),
        );
        let dims: Vec<u64> = shape.iter().map(|&d| d as u64).collect();
        self.g.add_param(key, Shape::known(&dims), DType::F32)
    }
    fn op(&mut self, op: Op, args: Vec<NodeId>, attrs: Attrs) -> NodeId {
        self.n += 1;
        self.g
            .add_op(format!("n{}", self.n), op, args, attrs)
            .unwrap()
    }
    /// `x @ W` with a random `[D, out]` weight.
    fn proj(&mut self, src: NodeId, out: usize, rng: &mut Rng) -> NodeId {
        let w = self.param(&[D, out], 1.0, rng);
        self.op(Op::Matmul, vec![src, w], Attrs::new())
    }
    fn finish(mut self, y: NodeId) -> (Graph, HashMap<String, ArrayD<f64>>) {
        self.g.add_output("y", y);
        (self.g, self.w)
    }
}

type Builder = fn(&mut Rng) -> (Graph, HashMap<String, ArrayD<f64>>);

fn mul_two(rng: &mut Rng) -> (Graph, HashMap<String, ArrayD<f64>>) {
    let mut n = Net::new("mul");
    let (a, b) = (n.proj(n.x, D, rng), n.proj(n.x, D, rng));
    let y = n.op(Op::Mul, vec![a, b], Attrs::new());
    n.finish(y)
}

fn square_by_mul(rng: &mut Rng) -> (Graph, HashMap<String, ArrayD<f64>>) {
    let mut n = Net::new("sq");
    let a = n.proj(n.x, D, rng);
    let y = n.op(Op::Mul, vec![a, a], Attrs::new());
    n.finish(y)
}

/// An LSTM-style gate: `sigmoid(x W1) * tanh(x W2)`.
fn gate(rng: &mut Rng) -> (Graph, HashMap<String, ArrayD<f64>>) {
    let mut n = Net::new("gate");
    let (a, b) = (n.proj(n.x, D, rng), n.proj(n.x, D, rng));
    let s = n.op(Op::Sigmoid, vec![a], Attrs::new());
    let t = n.op(Op::Tanh, vec![b], Attrs::new());
    let y = n.op(Op::Mul, vec![s, t], Attrs::new());
    n.finish(y)
}

fn scores(rng: &mut Rng) -> (Graph, HashMap<String, ArrayD<f64>>) {
    let mut n = Net::new("scores");
    let (q, k) = (n.proj(n.x, D, rng), n.proj(n.x, D, rng));
    let kt = n.op(Op::Transpose, vec![k], Attrs::new());
    let y = n.op(Op::Matmul, vec![q, kt], Attrs::new());
    n.finish(y)
}

fn exp_div(rng: &mut Rng) -> (Graph, HashMap<String, ArrayD<f64>>) {
    let mut n = Net::new("div");
    let (a, b) = (n.proj(n.x, D, rng), n.proj(n.x, D, rng));
    let e = n.op(Op::Exp, vec![b], Attrs::new());
    let y = n.op(Op::Div, vec![a, e], Attrs::new());
    n.finish(y)
}

fn softmax(rng: &mut Rng) -> (Graph, HashMap<String, ArrayD<f64>>) {
    let mut n = Net::new("softmax");
    let a = n.proj(n.x, D, rng);
    let y = n.op(
        Op::Softmax,
        vec![a],
        Attrs::new().with("axis", AttrValue::Int(-1)),
    );
    n.finish(y)
}

/// A softmax read directly by a nonlinear layer (its own CROWN pass is skipped).
fn softmax_squared(rng: &mut Rng) -> (Graph, HashMap<String, ArrayD<f64>>) {
    let mut n = Net::new("softmax_sq");
    let a = n.proj(n.x, D, rng);
    let p = n.op(
        Op::Softmax,
        vec![a],
        Attrs::new().with("axis", AttrValue::Int(-1)),
    );
    let b = n.proj(n.x, D, rng);
    let y = n.op(Op::Mul, vec![p, b], Attrs::new());
    n.finish(y)
}

fn layer_norm(rng: &mut Rng) -> (Graph, HashMap<String, ArrayD<f64>>) {
    let mut n = Net::new("ln");
    let w = n.param(&[D], 1.0, rng);
    let b = n.param(&[D], 1.0, rng);
    let y = n.op(Op::LayerNorm, vec![n.x, w, b], Attrs::new());
    n.finish(y)
}

fn mean_sum(rng: &mut Rng) -> (Graph, HashMap<String, ArrayD<f64>>) {
    let mut n = Net::new("reduce");
    let a = n.proj(n.x, D, rng);
    let m = n.op(
        Op::Mean,
        vec![a],
        Attrs::new()
            .with("axes", AttrValue::Ints(vec![-1]))
            .with("keepdim", AttrValue::Bool(true)),
    );
    let s = n.op(Op::Sum, vec![m], Attrs::new());
    n.finish(s)
}

/// Centring and a variance: `sub` and `mul` of two computed tensors that broadcast (a
/// keepdim mean against its rows), as a hand-written normalisation does.
fn centre_broadcast(rng: &mut Rng) -> (Graph, HashMap<String, ArrayD<f64>>) {
    let mut n = Net::new("centre");
    let a = n.proj(n.x, D, rng);
    let keep = || {
        Attrs::new()
            .with("axes", AttrValue::Ints(vec![-1]))
            .with("keepdim", AttrValue::Bool(true))
    };
    let m = n.op(Op::Mean, vec![a], keep());
    let c = n.op(Op::Sub, vec![a, m], Attrs::new());
    let sq = n.op(Op::Mul, vec![c, c], Attrs::new());
    let v = n.op(Op::Mean, vec![sq], keep());
    let y = n.op(Op::Add, vec![c, v], Attrs::new());
    n.finish(y)
}

fn gelu_erf(rng: &mut Rng) -> (Graph, HashMap<String, ArrayD<f64>>) {
    let mut n = Net::new("gelu");
    let a = n.proj(n.x, D, rng);
    let g = n.op(Op::Gelu, vec![a], Attrs::new());
    let t = n.op(
        Op::Gelu,
        vec![g],
        Attrs::new().with("approximate", AttrValue::Str("tanh".into())),
    );
    let y = n.op(Op::Erf, vec![t], Attrs::new());
    n.finish(y)
}

fn attention(rng: &mut Rng) -> (Graph, HashMap<String, ArrayD<f64>>) {
    let mut n = Net::new("attn");
    let (q, k, v) = (
        n.proj(n.x, D, rng),
        n.proj(n.x, D, rng),
        n.proj(n.x, D, rng),
    );
    let y = n.op(Op::ScaledDotProductAttention, vec![q, k, v], Attrs::new());
    n.finish(y)
}

fn causal_attention(rng: &mut Rng) -> (Graph, HashMap<String, ArrayD<f64>>) {
    let mut n = Net::new("causal");
    let (q, k) = (n.proj(n.x, D, rng), n.proj(n.x, D, rng));
    let w = n.op(
        Op::AttentionWeights,
        vec![q, k],
        Attrs::new().with("causal", AttrValue::Bool(true)),
    );
    let v = n.proj(n.x, D, rng);
    let y = n.op(Op::Matmul, vec![w, v], Attrs::new());
    n.finish(y)
}

/// Pre-norm encoder block: x + attn(ln(x)), then + W2 gelu(W1 ln(.) + b1).
fn encoder(rng: &mut Rng) -> (Graph, HashMap<String, ArrayD<f64>>) {
    let mut n = Net::new("encoder");
    let (w1, b1) = (n.param(&[D], 1.0, rng), n.param(&[D], 0.3, rng));
    let h = n.op(Op::LayerNorm, vec![n.x, w1, b1], Attrs::new());
    let (q, k, v) = (n.proj(h, D, rng), n.proj(h, D, rng), n.proj(h, D, rng));
    let kt = n.op(Op::Transpose, vec![k], Attrs::new());
    let s = n.op(Op::Matmul, vec![q, kt], Attrs::new());
    let c = n.param(&[], 1.0, rng);
    n.w.insert(format!("p{}", n.n), ArrayD::from_elem(IxDyn(&[]), 2.0));
    let s = n.op(Op::Div, vec![s, c], Attrs::new());
    let p = n.op(
        Op::Softmax,
        vec![s],
        Attrs::new().with("axis", AttrValue::Int(-1)),
    );
    let ctx = n.op(Op::Matmul, vec![p, v], Attrs::new());
    let r = n.op(Op::Add, vec![n.x, ctx], Attrs::new());
    let (w2, b2) = (n.param(&[D], 1.0, rng), n.param(&[D], 0.3, rng));
    let h2 = n.op(Op::LayerNorm, vec![r, w2, b2], Attrs::new());
    let u = n.proj(h2, 2 * D, rng);
    let bu = n.param(&[2 * D], 0.5, rng);
    let u = n.op(Op::Add, vec![u, bu], Attrs::new());
    let g = n.op(Op::Gelu, vec![u], Attrs::new());
    let w = n.param(&[2 * D, D], 1.0, rng);
    let f = n.op(Op::Matmul, vec![g, w], Attrs::new());
    let y = n.op(Op::Add, vec![r, f], Attrs::new());
    n.finish(y)
}

const BUILDERS: &[(&str, Builder)] = &[
    ("mul", mul_two),
    ("square by mul", square_by_mul),
    ("sigmoid times tanh", gate),
    ("scores", scores),
    ("exp and div", exp_div),
    ("softmax", softmax),
    ("softmax times a tensor", softmax_squared),
    ("layer_norm", layer_norm),
    ("mean and sum", mean_sum),
    ("centring by broadcast", centre_broadcast),
    ("gelu and erf", gelu_erf),
    ("attention", attention),
    ("causal attention", causal_attention),
    ("encoder", encoder),
];

fn values(t: &Tensor) -> Vec<f64> {
    match t {
        Tensor::F32(a) => a.iter().map(|&v| v as f64).collect(),
        Tensor::F64(a) => a.iter().copied().collect(),
        Tensor::I64(a) => a.iter().map(|&v| v as f64).collect(),
    }
}

/// Samples of the box: corners-ish (each coordinate at an end) and uniform points.
fn sample(lo: &[f64], hi: &[f64], trial: usize, rng: &mut Rng) -> Vec<f64> {
    lo.iter()
        .zip(hi)
        .map(|(&l, &h)| match trial % 4 {
            0 => {
                if rng.next() < 0.5 {
                    l
                } else {
                    h
                }
            }
            _ => l + rng.next() * (h - l),
        })
        .collect()
}

#[test]
fn every_sampled_output_lies_inside_ibp_and_crown_bounds() {
    let mut rng = Rng(0x7a5f_0e11_d00d);
    let n_in = L * D;
    for (label, build) in BUILDERS {
        for round in 0..3 {
            let (graph, weights) = build(&mut rng);
            let payload = |k: &str| weights.get(k).cloned();
            let net = BoundNet::from_graph(&graph, &payload, Some("y"))
                .unwrap_or_else(|e| panic!("{label}: {}", e.message));
            let radius = [0.02, 0.2, 0.6][round];
            let center: Vec<f64> = (0..n_in).map(|_| rng.sym()).collect();
            let lo: Vec<f64> = center
                .iter()
                .map(|c| c - radius * (0.2 + rng.next()))
                .collect();
            let hi: Vec<f64> = center
                .iter()
                .map(|c| c + radius * (0.2 + rng.next()))
                .collect();
            let boxed = InputBox::new(lo.clone(), hi.clone()).unwrap();
            let params: BTreeMap<String, Tensor> = weights
                .iter()
                .map(|(k, v)| (k.clone(), Tensor::F64(v.clone())))
                .collect();
            let plan = compile(&graph, &params).unwrap();
            let bounds: Vec<(Method, _)> = [Method::Ibp, Method::Crown]
                .into_iter()
                .map(|m| {
                    let b = compute_bounds(&net, &boxed, m, None, CrownOptions::default())
                        .unwrap_or_else(|e| panic!("{label} {m:?}: {}", e.message));
                    assert!(
                        b.lower.iter().chain(&b.upper).all(|v| !v.is_nan()),
                        "{label} {m:?}: NaN bound"
                    );
                    (m, b)
                })
                .collect();
            for trial in 0..700 {
                let x = sample(&lo, &hi, trial, &mut rng);
                let t32 = ArrayD::from_shape_vec(
                    IxDyn(&[1, L, D]),
                    x.iter().map(|&v| v as f32).collect(),
                )
                .unwrap();
                // The f32 point is inside the box only if rounding kept it there.
                let x32: Vec<f64> = t32.iter().map(|&v| v as f64).collect();
                let in_box = boxed.contains(&x32);
                let t64 = ArrayD::from_shape_vec(IxDyn(&[1, L, D]), x.clone()).unwrap();
                let reference = denote(
                    &graph,
                    &params,
                    &BTreeMap::from([("x".to_string(), Tensor::F64(t64))]),
                )
                .unwrap();
                let mut outs = vec![("f64 reference", values(reference.output("y").unwrap()))];
                if in_box {
                    let c = plan
                        .run(&BTreeMap::from([("x".to_string(), Tensor::F32(t32))]))
                        .unwrap();
                    outs.push(("f32 compiled", values(&c["y"])));
                }
                for (m, b) in &bounds {
                    for (what, y) in &outs {
                        for (j, &v) in y.iter().enumerate() {
                            assert!(
                                b.lower[j] <= v && v <= b.upper[j],
                                "{label} (round {round}) {m:?}: {what} output {v} at {j} outside [{}, {}]",
                                b.lower[j],
                                b.upper[j]
                            );
                        }
                    }
                }
            }
        }
    }
}

/// CROWN's linear bounds through the products must not be looser than IBP by much on a small
/// box, and a tiny box must give tight bounds (a bound that is sound but useless would pass the
/// containment test).
#[test]
fn bounds_shrink_with_the_box() {
    let mut rng = Rng(0xbeef_cafe);
    for (label, build) in BUILDERS {
        let (graph, weights) = build(&mut rng);
        let payload = |k: &str| weights.get(k).cloned();
        let net = BoundNet::from_graph(&graph, &payload, Some("y")).unwrap();
        let center: Vec<f64> = (0..L * D).map(|_| rng.sym()).collect();
        let width = |r: f64, m: Method| {
            let b = compute_bounds(
                &net,
                &InputBox::new(
                    center.iter().map(|c| c - r).collect(),
                    center.iter().map(|c| c + r).collect(),
                )
                .unwrap(),
                m,
                None,
                CrownOptions::default(),
            )
            .unwrap();
            b.lower
                .iter()
                .zip(&b.upper)
                .map(|(l, u)| u - l)
                .fold(0.0f64, f64::max)
        };
        for m in [Method::Ibp, Method::Crown] {
            let (small, tiny) = (width(1e-2, m), width(1e-5, m));
            eprintln!("{label} {m:?}: width {small:.3e} at radius 1e-2, {tiny:.3e} at 1e-5");
            assert!(tiny.is_finite() && small.is_finite(), "{label} {m:?}");
            assert!(
                tiny < small / 20.0,
                "{label} {m:?}: {tiny} not well below {small}"
            );
        }
    }
}

#[test]
fn division_by_a_tensor_that_may_be_zero_is_a_coded_error() {
    let mut rng = Rng(42);
    let mut n = Net::new("bad_div");
    let (a, b) = (n.proj(n.x, D, &mut rng), n.proj(n.x, D, &mut rng));
    let y = n.op(Op::Div, vec![a, b], Attrs::new());
    let (graph, weights) = n.finish(y);
    let payload = |k: &str| weights.get(k).cloned();
    let net = BoundNet::from_graph(&graph, &payload, Some("y")).unwrap();
    let boxed = InputBox::new(vec![-1.0; L * D], vec![1.0; L * D]).unwrap();
    let err = compute_bounds(&net, &boxed, Method::Ibp, None, CrownOptions::default()).unwrap_err();
    assert_eq!(err.code, "TL0606", "{}", err.message);
}

/// Branch and bound proves a property of a softmax network; both the producer's certificate check
/// and the independent checker (its own softmax interval rule) accept it, and the independent
/// checker rejects the same certificate for a property that sampled points violate.
#[test]
fn the_independent_checker_rechecks_softmax_and_rejects_a_false_property() {
    use tl_bounds::vnnlib::{Case, OutputConstraint, Property};
    use tl_bounds::{check_certificate, check_independently, verify, BabConfig, Verdict};
    let mut rng = Rng(7);
    let (graph, weights) = softmax(&mut rng);
    let payload = |k: &str| weights.get(k).cloned();
    let net = BoundNet::from_graph(&graph, &payload, Some("y")).unwrap();
    let boxed = InputBox::new(vec![-1.0; L * D], vec![1.0; L * D]).unwrap();
    let mut coeffs = vec![0.0; L * D];
    coeffs[0] = 1.0;
    // Unsafe: y_0 <= -0.5; a softmax output never is.
    let prop = Property {
        n_inputs: L * D,
        n_outputs: L * D,
        cases: vec![Case {
            input: boxed,
            disjuncts: vec![vec![OutputConstraint {
                coeffs,
                rhs: -0.5,
                strict: false,
            }]],
        }],
    };
    let cfg = BabConfig {
        certificate: true,
        ..BabConfig::default()
    };
    let Verdict::Verified {
        certificate: Some(cert),
    } = verify(&net, &prop, &cfg).unwrap().verdict
    else {
        panic!("softmax >= 0 was not verified");
    };
    check_certificate(&cert, &net, &prop, cfg.f32_executor).unwrap();
    let report = check_independently(&cert, &net, &prop, cfg.f32_executor).unwrap();
    assert_eq!(report.leaves, cert.cases[0].nodes.len() - report.splits);
    // Unsafe: y_0 <= 0.9, reached at the box's centre (y_0 = 1/D there).
    let mut false_prop = prop.clone();
    false_prop.cases[0].disjuncts[0][0].rhs = 0.9;
    let err = check_independently(&cert, &net, &false_prop, cfg.f32_executor).unwrap_err();
    assert_eq!(err.code, "TL0621", "{}", err.message);
}

/// The independent checker never refutes a property some input violates: on every builder, for
/// random output rows `c`, the sampled least value of `c . y` (f64 reference) is a point of the
/// unsafe set `c . y <= rhs` with `rhs` just above it, so a one-leaf certificate must be
/// rejected; and `rhs` far below the IBP bound must be refuted (but on layer norm).
#[test]
fn the_independent_checker_never_refutes_a_sampled_violation() {
    use tl_bounds::certificate::{CaseCertificate, CertNode, Certificate};
    use tl_bounds::vnnlib::{Case, OutputConstraint, Property};
    use tl_bounds::{check_independently, refutes_box};
    let mut rng = Rng(0x51de_cafe);
    let n_in = L * D;
    for (label, build) in BUILDERS {
        let (graph, weights) = build(&mut rng);
        let payload = |k: &str| weights.get(k).cloned();
        let net = BoundNet::from_graph(&graph, &payload, Some("y")).unwrap();
        let n_out = net.output_size();
        let params: BTreeMap<String, Tensor> = weights
            .iter()
            .map(|(k, v)| (k.clone(), Tensor::F64(v.clone())))
            .collect();
        for round in 0..2 {
            let radius = [0.05, 0.4][round];
            let center: Vec<f64> = (0..n_in).map(|_| rng.sym()).collect();
            let lo: Vec<f64> = center.iter().map(|c| c - radius).collect();
            let hi: Vec<f64> = center.iter().map(|c| c + radius).collect();
            let boxed = InputBox::new(lo.clone(), hi.clone()).unwrap();
            let coeffs: Vec<f64> = (0..n_out).map(|_| rng.sym()).collect();
            let mut least = f64::INFINITY;
            for trial in 0..200 {
                let x = sample(&lo, &hi, trial, &mut rng);
                let t64 = ArrayD::from_shape_vec(IxDyn(&[1, L, D]), x).unwrap();
                let r = denote(
                    &graph,
                    &params,
                    &BTreeMap::from([("x".to_string(), Tensor::F64(t64))]),
                )
                .unwrap();
                let y = values(r.output("y").unwrap());
                least = least.min(coeffs.iter().zip(&y).map(|(c, v)| c * v).sum::<f64>());
            }
            let prop = |rhs: f64| Property {
                n_inputs: n_in,
                n_outputs: n_out,
                cases: vec![Case {
                    input: boxed.clone(),
                    disjuncts: vec![vec![OutputConstraint {
                        coeffs: coeffs.clone(),
                        rhs,
                        strict: false,
                    }]],
                }],
            };
            let cert = Certificate {
                version: 1,
                f32_executor: true,
                cases: vec![CaseCertificate {
                    case: 0,
                    nodes: vec![CertNode::Leaf {
                        empty: false,
                        bounds: vec![],
                        alphas: None,
                    }],
                }],
            };
            let violated = prop(least + 1e-9 * least.abs().max(1.0));
            assert!(
                check_independently(&cert, &net, &violated, true).is_err(),
                "{label} (round {round}): a sampled violation was refuted"
            );
            assert!(refutes_box(&net, &violated.cases[0], &lo, &hi, true).is_err());
            let ibp =
                compute_bounds(&net, &boxed, Method::Ibp, None, CrownOptions::default()).unwrap();
            let floor: f64 = coeffs
                .iter()
                .enumerate()
                .map(|(j, &c)| {
                    if c >= 0.0 {
                        c * ibp.lower[j]
                    } else {
                        c * ibp.upper[j]
                    }
                })
                .sum();
            // The checker has no layer-norm structure (the producer caps the normalized values
            // at sqrt(d - 1)): far looser there, so only the other builders must refute this.
            if !matches!(*label, "layer_norm" | "encoder") {
                let far = prop(floor - 10.0 * (1.0 + floor.abs()));
                check_independently(&cert, &net, &far, true)
                    .unwrap_or_else(|e| panic!("{label} (round {round}): {}", e.message));
            }
        }
    }
}
