//! Soundness of the concat and pad bounds (issue #16): random DenseNet/UNet-style skip concats
//! (`concat([x, relu(W x)])`, constants among the parts, inner axes) and pads (constant, reflect,
//! edge) before a conv. The lowered net evaluates to the reference semantics; sampled points and
//! corners, through the f64 reference and the compiled f32 plan, lie inside the IBP, CROWN and
//! alpha-CROWN bounds; and the independent checker re-derives a certificate through them.

use std::collections::{BTreeMap, HashMap};

use ndarray::{ArrayD, IxDyn};
use tl_bounds::vnnlib::{Case, OutputConstraint, Property};
use tl_bounds::{
    check_independently, compute_bounds, verify, BabConfig, BoundNet, CrownOptions, InputBox,
    Method, Verdict,
};
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

struct Net {
    g: Graph,
    w: HashMap<String, ArrayD<f64>>,
    x: NodeId,
    shape: Vec<usize>,
    n: usize,
}

impl Net {
    fn new(shape: &[usize]) -> Net {
        let mut g = Graph::new("net");
        let dims: Vec<u64> = shape.iter().map(|&d| d as u64).collect();
        let x = g.add_input("x", Shape::known(&dims), DType::F32);
        Net {
            g,
            w: HashMap::new(),
            x,
            shape: shape.to_vec(),
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
    fn linear(&mut self, x: NodeId, i: usize, o: usize, rng: &mut Rng) -> NodeId {
        let w = self.param(&[o, i], 0.7, rng);
        let b = self.param(&[o], 0.3, rng);
        self.op(Op::Linear, vec![x, w, b], Attrs::new())
    }
    fn conv(&mut self, x: NodeId, c: usize, o: usize, pad: i64, rng: &mut Rng) -> NodeId {
        let w = self.param(&[o, c, 3, 3], 0.4, rng);
        let b = self.param(&[o], 0.2, rng);
        self.op(
            Op::Conv2d,
            vec![x, w, b],
            Attrs::new().with("padding", AttrValue::Ints(vec![pad, pad])),
        )
    }
    fn relu(&mut self, x: NodeId) -> NodeId {
        self.op(Op::Relu, vec![x], Attrs::new())
    }
    fn concat(&mut self, xs: Vec<NodeId>, axis: i64) -> NodeId {
        self.op(
            Op::Concat,
            xs,
            Attrs::new().with("axis", AttrValue::Int(axis)),
        )
    }
    fn pad(&mut self, x: NodeId, pads: Vec<i64>, mode: &str, value: f64) -> NodeId {
        self.op(
            Op::Pad,
            vec![x],
            Attrs::new()
                .with("pads", AttrValue::Ints(pads))
                .with("mode", AttrValue::Str(mode.into()))
                .with("value", AttrValue::Float(value)),
        )
    }
    fn finish(mut self, y: NodeId) -> Net {
        self.g.add_output("y", y);
        self
    }
}

/// DenseNet-style skip over a batch of two rows: `concat([x, relu(W x + b)], axis=1)` then a
/// linear layer (the axis is inner, so the lowering interleaves blocks with a gather).
fn dense_skip(rng: &mut Rng) -> Net {
    let mut n = Net::new(&[2, 6]);
    let h = n.linear(n.x, 6, 5, rng);
    let r = n.relu(h);
    let c = n.concat(vec![n.x, r], 1);
    let y = n.linear(c, 11, 3, rng);
    n.finish(y)
}

/// A constant among the parts, the concat read by a relu (CROWN's intermediate bounds pass
/// through it), and one layer concatenated twice.
fn skip_const_relu(rng: &mut Rng) -> Net {
    let mut n = Net::new(&[2, 6]);
    let h = n.linear(n.x, 6, 4, rng);
    let r = n.relu(h);
    let k = n.param(&[2, 2], 1.0, rng);
    let c = n.concat(vec![r, k, n.x, r], 1);
    let a = n.relu(c);
    let y = n.linear(a, 16, 3, rng);
    n.finish(y)
}

/// UNet-style: conv features concatenated with the input along channels, then a conv; and the
/// same along the last axis.
fn unet(rng: &mut Rng) -> Net {
    let mut n = Net::new(&[1, 2, 4, 4]);
    let f = n.conv(n.x, 2, 3, 1, rng);
    let a = n.relu(f);
    let c = n.concat(vec![a, n.x], 1);
    let g = n.conv(c, 5, 2, 1, rng);
    let b = n.relu(g);
    let w = n.concat(vec![b, n.x], -1);
    let y = n.conv(w, 2, 2, 0, rng);
    n.finish(y)
}

fn pad_conv(mode: &'static str, value: f64) -> impl Fn(&mut Rng) -> Net {
    move |rng| {
        let mut n = Net::new(&[1, 2, 4, 4]);
        let p = n.pad(n.x, vec![0, 0, 1, 2, 0, 0, 2, 1], mode, value);
        let f = n.conv(p, 2, 3, 0, rng);
        let a = n.relu(f);
        // A pad of a computed tensor too.
        let q = n.pad(a, vec![0, 0, 1, 1, 0, 0, 1, 1], mode, -value);
        let y = n.conv(q, 3, 2, 0, rng);
        n.finish(y)
    }
}

type Builder = Box<dyn Fn(&mut Rng) -> Net>;

fn builders() -> Vec<(&'static str, Builder)> {
    vec![
        ("dense skip", Box::new(dense_skip)),
        ("skip with constant and relu", Box::new(skip_const_relu)),
        ("unet", Box::new(unet)),
        ("pad zero", Box::new(pad_conv("constant", 0.0))),
        ("pad value", Box::new(pad_conv("constant", 0.7))),
        ("pad reflect", Box::new(pad_conv("reflect", 0.0))),
        ("pad edge", Box::new(pad_conv("edge", 0.0))),
    ]
}

fn values(t: &Tensor) -> Vec<f64> {
    match t {
        Tensor::F32(a) => a.iter().map(|&v| v as f64).collect(),
        Tensor::F64(a) => a.iter().copied().collect(),
        Tensor::I64(a) => a.iter().map(|&v| v as f64).collect(),
    }
}

fn params(net: &Net) -> BTreeMap<String, Tensor> {
    net.w
        .iter()
        .map(|(k, v)| (k.clone(), Tensor::F64(v.clone())))
        .collect()
}

fn lower(net: &Net) -> BoundNet {
    let payload = |k: &str| net.w.get(k).cloned();
    BoundNet::from_graph(&net.g, &payload, Some("y")).unwrap()
}

fn reference(net: &Net, x: &[f64]) -> Vec<f64> {
    let t = ArrayD::from_shape_vec(IxDyn(&net.shape), x.to_vec()).unwrap();
    let r = denote(
        &net.g,
        &params(net),
        &BTreeMap::from([("x".to_string(), Tensor::F64(t))]),
    )
    .unwrap();
    values(r.output("y").unwrap())
}

/// The lowered layers' bounds over the one-point box `{x}` (over the reals): each output's
/// interval must hold the reference value and be no wider than rounding.
fn lowered_at_point(bnet: &BoundNet, x: &[f64]) -> Vec<(f64, f64)> {
    let b = InputBox::new(x.to_vec(), x.to_vec()).unwrap();
    let opts = CrownOptions {
        f32_executor: false,
        ..CrownOptions::default()
    };
    let ob = compute_bounds(bnet, &b, Method::Ibp, None, opts).unwrap();
    ob.lower
        .iter()
        .zip(&ob.upper)
        .map(|(&l, &u)| (l, u))
        .collect()
}

fn assert_lowered_matches(label: &str, want: &[f64], got: &[(f64, f64)]) {
    assert_eq!(want.len(), got.len(), "{label}");
    for (j, (a, &(lo, hi))) in want.iter().zip(got).enumerate() {
        let slack = 1e-9 * (1.0 + a.abs());
        assert!(
            lo - slack <= *a && *a <= hi + slack && hi - lo <= slack,
            "{label}: output {j}: reference {a}, lowered [{lo}, {hi}]"
        );
    }
}

/// The lowering's index maps are the op's semantics: the lowered layers, bounded over one point,
/// give the reference's value there.
#[test]
fn the_lowered_net_evaluates_to_the_reference() {
    let mut rng = Rng(0x5eed_c0de);
    for (label, build) in builders() {
        let net = build(&mut rng);
        let bnet = lower(&net);
        let n_in: usize = net.shape.iter().product();
        for _ in 0..20 {
            let x: Vec<f64> = (0..n_in).map(|_| rng.sym()).collect();
            let want = reference(&net, &x);
            assert_lowered_matches(label, &want, &lowered_at_point(&bnet, &x));
        }
    }
}

#[test]
fn sampled_outputs_lie_inside_ibp_crown_and_alpha_crown_bounds() {
    let mut rng = Rng(0xc0ca_7e11);
    for (label, build) in builders() {
        for round in 0..3 {
            let net = build(&mut rng);
            let bnet = lower(&net);
            let n_in: usize = net.shape.iter().product();
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
            let plan = compile(&net.g, &params(&net)).unwrap();
            let methods = [
                Method::Ibp,
                Method::Crown,
                Method::AlphaCrown { iters: 8, lr: 0.1 },
            ];
            let bounds: Vec<_> = methods
                .iter()
                .map(|&m| {
                    let b = compute_bounds(&bnet, &boxed, m, None, CrownOptions::default())
                        .unwrap_or_else(|e| panic!("{label} {m:?}: {}", e.message));
                    assert!(b.lower.iter().chain(&b.upper).all(|v| v.is_finite()));
                    (m, b)
                })
                .collect();
            // CROWN no looser than IBP over the output (in total width), alpha-CROWN no looser
            // than CROWN (it starts from CROWN's slopes and keeps the best).
            let width = |b: &tl_bounds::OutputBounds| -> f64 {
                b.lower.iter().zip(&b.upper).map(|(l, u)| u - l).sum()
            };
            let (wi, wc, wa) = (
                width(&bounds[0].1),
                width(&bounds[1].1),
                width(&bounds[2].1),
            );
            eprintln!("{label} r={radius}: width ibp {wi:.4e} crown {wc:.4e} alpha {wa:.4e}");
            assert!(
                wc <= wi * (1.0 + 1e-9),
                "{label}: crown {wc} looser than ibp {wi}"
            );
            assert!(
                wa <= wc * (1.0 + 1e-9),
                "{label}: alpha {wa} looser than crown {wc}"
            );
            for trial in 0..300 {
                let x: Vec<f64> = lo
                    .iter()
                    .zip(&hi)
                    .map(|(&l, &h)| match trial % 3 {
                        0 if rng.next() < 0.5 => l,
                        0 => h,
                        _ => l + rng.next() * (h - l),
                    })
                    .collect();
                let mut outs = vec![("f64 reference", reference(&net, &x))];
                let t32 = ArrayD::from_shape_vec(
                    IxDyn(&net.shape),
                    x.iter().map(|&v| v as f32).collect(),
                )
                .unwrap();
                let x32: Vec<f64> = t32.iter().map(|&v| v as f64).collect();
                if boxed.contains(&x32) {
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

/// Branch and bound proves `y_0 < ub + 0.5` through concat and pad layers (constant parts
/// included); the independent checker re-derives the certificate with its own code, and rejects
/// it for a property the box's centre violates.
#[test]
fn the_independent_checker_rechecks_concat_and_pad() {
    let mut rng = Rng(99);
    for (label, build) in builders() {
        let net = build(&mut rng);
        let bnet = lower(&net);
        let n_in: usize = net.shape.iter().product();
        let n_out = bnet.output_size();
        let boxed = InputBox::new(vec![-0.1; n_in], vec![0.1; n_in]).unwrap();
        let b = compute_bounds(&bnet, &boxed, Method::Ibp, None, CrownOptions::default()).unwrap();
        let mut coeffs = vec![0.0; n_out];
        coeffs[0] = -1.0;
        // Unsafe: y_0 >= ub + 0.5.
        let prop = Property {
            n_inputs: n_in,
            n_outputs: n_out,
            cases: vec![Case {
                input: boxed,
                disjuncts: vec![vec![OutputConstraint {
                    coeffs,
                    rhs: -(b.upper[0] + 0.5),
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
        } = verify(&bnet, &prop, &cfg).unwrap().verdict
        else {
            panic!("{label}: y_0 < ub + 0.5 was not verified");
        };
        check_independently(&cert, &bnet, &prop, cfg.f32_executor)
            .unwrap_or_else(|e| panic!("{label}: {}", e.message));
        // Unsafe: y_0 >= y_0(centre) - 1e-3, reached at the centre.
        let y0 = reference(&net, &vec![0.0; n_in])[0];
        let mut false_prop = prop.clone();
        false_prop.cases[0].disjuncts[0][0].rhs = -(y0 - 1e-3);
        let err = check_independently(&cert, &bnet, &false_prop, cfg.f32_executor).unwrap_err();
        assert_eq!(err.code, "TL0621", "{label}: {}", err.message);
    }
}

/// The float error analysis treats concat and pad as exact data movement: its bound holds for
/// the compiled f32 plan against the f64 reference.
#[test]
fn float_error_covers_concat_and_pad() {
    use tl_bounds::float_error::executor_vs_reference;
    let mut rng = Rng(1234);
    for (label, build) in builders() {
        let net = build(&mut rng);
        let bnet = lower(&net);
        let n_in: usize = net.shape.iter().product();
        let boxed = InputBox::new(vec![-0.5; n_in], vec![0.5; n_in]).unwrap();
        let (_, bound) = executor_vs_reference(&bnet, &net.g, &boxed, Method::Crown)
            .unwrap_or_else(|e| panic!("{label}: {e}"));
        let plan = compile(&net.g, &params(&net)).unwrap();
        for _ in 0..50 {
            let x: Vec<f64> = (0..n_in)
                .map(|_| ((0.5 * rng.sym()) as f32) as f64)
                .collect();
            let t32 =
                ArrayD::from_shape_vec(IxDyn(&net.shape), x.iter().map(|&v| v as f32).collect())
                    .unwrap();
            let c = plan
                .run(&BTreeMap::from([("x".to_string(), Tensor::F32(t32))]))
                .unwrap();
            let r = reference(&net, &x);
            for (j, (a, b)) in values(&c["y"]).iter().zip(&r).enumerate() {
                assert!(
                    (a - b).abs() <= bound[j],
                    "{label}: |f32 - f64| = {} above the bound {} at {j}",
                    (a - b).abs(),
                    bound[j]
                );
            }
        }
    }
}

/// A concat and a pad of constants only are folded; the folded constant enters as a shift.
#[test]
fn concat_and_pad_of_constants_fold() {
    let mut rng = Rng(5);
    let mut n = Net::new(&[2, 6]);
    let (a, b) = (
        n.param(&[2, 2], 1.0, &mut rng),
        n.param(&[2, 3], 1.0, &mut rng),
    );
    let k = n.concat(vec![a, b], 1);
    let k = n.pad(k, vec![0, 0, 0, 1], "constant", 0.25);
    let e = n.param(&[2, 4], 1.0, &mut rng);
    let e = n.pad(e, vec![0, 1, 0, 1], "reflect", 0.0);
    let s = n.op(Op::Add, vec![n.x, k], Attrs::new());
    let s = n.op(Op::Sub, vec![s, e], Attrs::new());
    let r = n.relu(s);
    let y = n.linear(r, 6, 2, &mut rng);
    let net = n.finish(y);
    let bnet = lower(&net);
    assert!(bnet
        .nodes
        .iter()
        .all(|nd| !matches!(nd.layer, tl_bounds::Layer::Concat { .. })));
    for _ in 0..20 {
        let x: Vec<f64> = (0..12).map(|_| rng.sym()).collect();
        let want = reference(&net, &x);
        assert_lowered_matches("pad and concat", &want, &lowered_at_point(&bnet, &x));
    }
}
