//! Branch and bound, counterexamples, certificates and coded errors on the fixture networks.

mod common;

use std::sync::atomic::Ordering;
use std::time::Duration;

use ndarray::{ArrayD, IxDyn};
use tl_bounds::certificate::CertNode;
use tl_bounds::{
    check_certificate, codes, compute_bounds, format_result, verify, BabConfig, BoundNet,
    Branching, Case, CrownOptions, InputBox, Method, OutputConstraint, Property, Verdict,
};
use tl_ir::{Attrs, DType, Graph, Op, Shape};

fn mlp() -> (BoundNet, common::Fixture) {
    let fx = common::fixtures()
        .into_iter()
        .find(|f| f.name == "mlp")
        .unwrap();
    let (g, w) = fx.graph();
    (BoundNet::from_graph_map(&g, &w, None).unwrap(), fx)
}

/// Unsafe iff `y[j] <= rhs` on the box.
fn below(b: &InputBox, n_out: usize, j: usize, rhs: f64) -> Property {
    let mut coeffs = vec![0.0; n_out];
    coeffs[j] = 1.0;
    Property {
        n_inputs: b.lower.len(),
        n_outputs: n_out,
        cases: vec![Case {
            input: b.clone(),
            disjuncts: vec![vec![OutputConstraint {
                coeffs,
                rhs,
                strict: false,
            }]],
        }],
    }
}

fn cfg(branching: Branching) -> BabConfig {
    BabConfig {
        timeout: Duration::from_secs(60),
        branching,
        certificate: true,
        ..BabConfig::default()
    }
}

#[test]
fn verifies_a_true_property_with_a_checkable_certificate() {
    let (net, fx) = mlp();
    let case = &fx.cases[2]; // the widest box: CROWN alone is not enough
    let b = InputBox::new(case.lower.clone(), case.upper.clone()).unwrap();
    // A threshold between CROWN's bound and the lowest y0 seen; a confirmed counterexample
    // lowers "the lowest seen" and the threshold follows, until the property is true.
    let mut rng = common::Rng(3);
    let mut min = (0..2_000)
        .map(|_| {
            net.exec
                .as_ref()
                .unwrap()
                .reference(&rng.point(&b.lower, &b.upper))
                .unwrap()[0]
        })
        .fold(f64::INFINITY, f64::min);
    let crown = compute_bounds(&net, &b, Method::Crown, None, CrownOptions::default()).unwrap();
    for branching in [Branching::Input, Branching::Relu] {
        let mut outcome = None;
        for _ in 0..20 {
            let rhs = crown.lower[0] + 0.7 * (min - crown.lower[0]);
            let prop = below(&b, 3, 0, rhs);
            let res = verify(&net, &prop, &cfg(branching)).unwrap();
            match res.verdict {
                Verdict::Falsified(cx) => min = min.min(cx.y_f64[0]),
                v => {
                    outcome = Some((prop, v, res.stats));
                    break;
                }
            }
        }
        let (prop, verdict, stats) = outcome.expect("threshold never became true");
        let Verdict::Verified {
            certificate: Some(cert),
        } = verdict
        else {
            panic!("{branching:?}: expected verified, got {verdict:?}");
        };
        let res = tl_bounds::BabResult {
            verdict: Verdict::Verified { certificate: None },
            stats,
        };
        assert!(res.stats.domains > 1, "{branching:?} needed no split");
        let report = check_certificate(&cert, &net, &prop, true).unwrap();
        assert!(report.leaves >= 2);
        let back = tl_bounds::Certificate::from_json(&cert.to_json()).unwrap();
        assert_eq!(back, cert);

        // Tampering: drop a subtree (the root becomes a leaf) -> the leaf does not refute.
        let mut cut = cert.clone();
        cut.cases[0].nodes[0] = CertNode::Leaf {
            empty: false,
            bounds: vec![],
            alphas: None,
        };
        let e = check_certificate(&cut, &net, &prop, true).unwrap_err();
        assert_eq!(e.code, codes::CERT_REJECTED);
        // A certificate for a stronger property does not check.
        let stronger = below(&b, 3, 0, min + 0.5);
        assert!(check_certificate(&cert, &net, &stronger, true).is_err());
    }
    assert_eq!(
        tl_bounds::Certificate::from_json("{\"version\": 1")
            .unwrap_err()
            .code,
        codes::CERT_MALFORMED
    );
}

#[test]
fn falsifies_a_false_property_with_a_confirmed_counterexample() {
    let (net, fx) = mlp();
    let case = &fx.cases[1];
    let b = InputBox::new(case.lower.clone(), case.upper.clone()).unwrap();
    let y = net.exec.as_ref().unwrap().reference(&b.center()).unwrap();
    let prop = below(&b, 3, 1, y[1] + 0.01);
    let res = verify(&net, &prop, &cfg(Branching::Input)).unwrap();
    let Verdict::Falsified(cx) = &res.verdict else {
        panic!("expected falsified, got {:?}", res.verdict);
    };
    assert!(b.contains(&cx.x));
    assert!(cx.y_f64[1] <= y[1] + 0.01 && cx.y_f32[1] <= y[1] + 0.01);
    assert_eq!(
        cx.x.iter().map(|&v| v as f32 as f64).collect::<Vec<_>>(),
        cx.x
    );
    let text = format_result(&res.verdict);
    assert!(text.starts_with("sat\n((X_0 "), "{text}");
    assert!(text.contains("(Y_2 "));
    assert_eq!(
        format_result(&Verdict::Verified { certificate: None }),
        "unsat\n"
    );
}

#[test]
fn limits_cancellation_and_mismatches_give_no_answer() {
    let (net, fx) = mlp();
    let case = &fx.cases[2];
    let b = InputBox::new(case.lower.clone(), case.upper.clone()).unwrap();
    let crown = compute_bounds(&net, &b, Method::Crown, None, CrownOptions::default()).unwrap();
    // Unsafe region just above the CROWN bound: true or false, it needs splitting to decide.
    let prop = below(&b, 3, 0, crown.lower[0] + 1e-3);
    let mut c = cfg(Branching::Input);
    c.attack.samples = 0;
    c.attack.restarts = 0;
    c.cancel.store(true, Ordering::Relaxed);
    let r = verify(&net, &prop, &c).unwrap();
    assert!(matches!(
        r.verdict,
        Verdict::Unknown(_) | Verdict::Falsified(_)
    ));
    let mut c = cfg(Branching::Input);
    c.timeout = Duration::ZERO;
    c.attack.samples = 0;
    c.attack.restarts = 0;
    let r = verify(&net, &prop, &c).unwrap();
    assert!(matches!(
        r.verdict,
        Verdict::Timeout | Verdict::Falsified(_)
    ));
    let wrong = below(&b, 4, 0, 0.0);
    assert_eq!(
        verify(&net, &wrong, &c).unwrap_err().code,
        codes::VNNLIB_MISMATCH
    );
}

#[test]
fn bad_inputs_get_coded_errors() {
    let (_, fx) = mlp();
    let (g, mut w) = fx.graph();
    let ok = BoundNet::from_graph_map(&g, &w, None).unwrap();
    let n = ok.input_size();
    assert_eq!(
        InputBox::new(vec![1.0; n], vec![0.0; n]).unwrap_err().code,
        codes::BAD_INPUT_BOX
    );
    assert_eq!(
        InputBox::new(vec![f64::NAN; n], vec![0.0; n])
            .unwrap_err()
            .code,
        codes::BAD_INPUT_BOX
    );
    let short = InputBox::new(vec![0.0], vec![1.0]).unwrap();
    assert_eq!(
        compute_bounds(&ok, &short, Method::Crown, None, CrownOptions::default())
            .unwrap_err()
            .code,
        codes::BAD_INPUT_BOX
    );
    let key = "fc1.weight".to_string();
    let good = w[&key].clone();
    w.get_mut(&key).unwrap()[[0, 0]] = f64::NAN;
    assert_eq!(
        BoundNet::from_graph_map(&g, &w, None).unwrap_err().code,
        codes::NON_FINITE
    );
    w.insert(key.clone(), ArrayD::zeros(IxDyn(&[2, 2])));
    assert_eq!(
        BoundNet::from_graph_map(&g, &w, None).unwrap_err().code,
        codes::BAD_PAYLOAD
    );
    w.remove(&key);
    assert_eq!(
        BoundNet::from_graph_map(&g, &w, None).unwrap_err().code,
        codes::BAD_PAYLOAD
    );
    w.insert(key, good);

    // An op with no relaxation is refused with a code naming it.
    let mut soft = Graph::new("soft");
    let x = soft.add_input("x", Shape::known(&[1, 3]), DType::F32);
    let s = soft
        .add_op("s", Op::LogSoftmax, vec![x], Attrs::new())
        .unwrap();
    soft.add_output("y", s);
    let e = BoundNet::from_graph_map(&soft, &w, None).unwrap_err();
    assert_eq!(e.code, codes::UNSUPPORTED_OP);
    assert!(e.message.contains("log_softmax"));

    // The model-zoo ops have no relaxation yet: refused with TL0600 naming the op, never
    // bounded as something else.
    for (op, attrs) in [
        (Op::Elu, Attrs::new()),
        (Op::Selu, Attrs::new()),
        (Op::HardSigmoid, Attrs::new()),
        (Op::HardSwish, Attrs::new()),
        (Op::Prelu, Attrs::new()),
        (Op::Maximum, Attrs::new()),
        (Op::Minimum, Attrs::new()),
        (Op::Where, Attrs::new()),
        (Op::Trilu, Attrs::new()),
        (Op::Lrn, Attrs::new().with("size", tl_ir::AttrValue::Int(3))),
    ] {
        let mut g = Graph::new("zoo");
        let x = g.add_input("x", Shape::known(&[1, 3]), DType::F32);
        let args = vec![x; op.info().inputs.len()];
        let y = g.add_op("y", op, args, attrs).unwrap();
        g.add_output("out", y);
        let e = BoundNet::from_graph_map(&g, &w, None).unwrap_err();
        assert_eq!(e.code, codes::UNSUPPORTED_OP, "{}", op.name());
        assert!(
            e.message.contains(op.name()),
            "{}: {}",
            op.name(),
            e.message
        );
    }

    let mut sym = Graph::new("sym");
    let x = sym.add_input(
        "x",
        Shape(vec![tl_ir::Dim::Sym("B".into()), tl_ir::Dim::Known(3)]),
        DType::F32,
    );
    let r = sym.add_op("r", Op::Relu, vec![x], Attrs::new()).unwrap();
    sym.add_output("y", r);
    assert_eq!(
        BoundNet::from_graph_map(&sym, &w, None).unwrap_err().code,
        codes::UNSUPPORTED_GRAPH
    );
}

/// `y = linear(x, [[1]], [0])` on one input: the identity, lowered from a graph.
fn identity_net() -> BoundNet {
    let mut g = Graph::new("id");
    let x = g.add_input("x", Shape::known(&[1, 1]), DType::F32);
    let w = g.add_param("w", Shape::known(&[1, 1]), DType::F32);
    let b = g.add_param("b", Shape::known(&[1]), DType::F32);
    let y = g
        .add_op("y", Op::Linear, vec![x, w, b], Attrs::new())
        .unwrap();
    g.add_output("y", y);
    let weights = [
        ("w".to_string(), ArrayD::from_elem(IxDyn(&[1, 1]), 1.0)),
        ("b".to_string(), ArrayD::from_elem(IxDyn(&[1]), 0.0)),
    ]
    .into_iter()
    .collect();
    BoundNet::from_graph_map(&g, &weights, None).unwrap()
}

/// y = x on [1, 2], unsafe when y <= 1 - 1e-9: true over the reals, but inside the f32 executor's
/// rounding margin near x = 1 (and with no counterexample anywhere). Over the reals: unsat; with
/// the f32 margin: unknown, never unsat and never sat.
#[test]
fn a_property_inside_the_f32_margin_is_unknown_not_unsat() {
    let net = identity_net();
    let b = InputBox::new(vec![1.0], vec![2.0]).unwrap();
    let prop = below(&b, 1, 0, 1.0 - 1e-9);
    let mut c = cfg(Branching::Input);
    c.f32_executor = false;
    let reals = verify(&net, &prop, &c).unwrap();
    assert!(
        matches!(reals.verdict, Verdict::Verified { .. }),
        "{:?}",
        reals.verdict
    );
    c.f32_executor = true;
    let f32 = verify(&net, &prop, &c).unwrap();
    let Verdict::Unknown(why) = &f32.verdict else {
        panic!("expected unknown, got {:?}", f32.verdict);
    };
    assert!(why.contains("f32 resolution"), "{why}");
}

/// A relu MLP with random weights: `widths[0]` inputs, one relu after every hidden layer.
fn wide_net(widths: &[usize]) -> BoundNet {
    let mut rng = common::Rng(11);
    let mut g = Graph::new("wide");
    let mut h = g.add_input("x", Shape::known(&[1, widths[0] as u64]), DType::F32);
    let mut weights = std::collections::HashMap::new();
    for (l, w) in widths.windows(2).enumerate() {
        let scale = 1.0 / (w[0] as f64).sqrt();
        let m = ArrayD::from_shape_fn(IxDyn(&[w[1], w[0]]), |_| {
            (rng.next_f64() * 2.0 - 1.0) * scale
        });
        let b = ArrayD::from_shape_fn(IxDyn(&[w[1]]), |_| (rng.next_f64() * 2.0 - 1.0) * 0.1);
        let (wk, bk) = (format!("w{l}"), format!("b{l}"));
        let wp = g.add_param(&wk, Shape::known(&[w[1] as u64, w[0] as u64]), DType::F32);
        let bp = g.add_param(&bk, Shape::known(&[w[1] as u64]), DType::F32);
        weights.insert(wk, m);
        weights.insert(bk, b);
        h = g
            .add_op(format!("fc{l}"), Op::Linear, vec![h, wp, bp], Attrs::new())
            .unwrap();
        if l + 2 < widths.len() {
            h = g
                .add_op(format!("relu{l}"), Op::Relu, vec![h], Attrs::new())
                .unwrap();
        }
    }
    g.add_output("y", h);
    BoundNet::from_graph_map(&g, &weights, None).unwrap()
}

#[test]
fn a_first_bound_pass_longer_than_the_limit_still_answers_in_time() {
    let net = wide_net(&[256, 1024, 1024, 1024, 2]);
    let b = InputBox::new(vec![-1.0; 256], vec![1.0; 256]).unwrap();
    let prop = below(&b, 2, 0, -1e6);
    // How long the first pass takes without a limit, once (the limit below is a fraction of it).
    let t = std::time::Instant::now();
    compute_bounds(&net, &b, Method::Crown, None, CrownOptions::default()).unwrap();
    let full = t.elapsed();
    let limit = full / 5;
    let limited = BabConfig {
        timeout: limit,
        ..cfg(Branching::Relu)
    };
    let t = std::time::Instant::now();
    let res = verify(&net, &prop, &limited).unwrap();
    let took = t.elapsed();
    assert_eq!(res.verdict, Verdict::Timeout, "{:?}", res.stats);
    assert!(
        took < limit + Duration::from_millis(500),
        "limit {limit:?} (first pass {full:?}), answered after {took:?}"
    );
    // A cancel mid-pass: unknown, promptly.
    let unlimited = cfg(Branching::Relu);
    let cancel = unlimited.cancel.clone();
    let t = std::time::Instant::now();
    let stopper = std::thread::spawn(move || {
        std::thread::sleep(limit);
        cancel.store(true, Ordering::SeqCst);
    });
    let res = verify(&net, &prop, &unlimited).unwrap();
    stopper.join().unwrap();
    assert_eq!(res.verdict, Verdict::Unknown("cancelled".into()));
    assert!(t.elapsed() < limit + Duration::from_millis(500));
}

#[test]
fn the_memory_ceiling_answers_unknown_naming_it() {
    let net = wide_net(&[64, 256, 2]);
    let b = InputBox::new(vec![-1.0; 64], vec![1.0; 64]).unwrap();
    let prop = below(&b, 2, 0, -1e6);
    let tight = BabConfig {
        memory_limit: net.bytes() / 2,
        ..cfg(Branching::Relu)
    };
    let res = verify(&net, &prop, &tight).unwrap();
    match res.verdict {
        Verdict::Unknown(why) => assert!(why.contains("memory ceiling [TL0642]"), "{why}"),
        v => panic!("{v:?}"),
    }
    // With room, the same property is decided.
    let res = verify(&net, &prop, &cfg(Branching::Relu)).unwrap();
    assert!(
        matches!(res.verdict, Verdict::Verified { .. }),
        "{:?}",
        res.verdict
    );
}

/// The independent checker accepts what the search proved (input splitting, with and without
/// alpha slopes, reals and f32 semantics) and rejects tampered certificates.
#[test]
fn the_independent_checker_rederives_every_leaf_and_rejects_tampering() {
    use tl_bounds::check_independently;
    let net = wide_net(&[3, 12, 12, 2]);
    let b = InputBox::new(vec![-1.0; 3], vec![1.0; 3]).unwrap();
    let mut rng = common::Rng(5);
    let mut min = (0..4_000)
        .map(|_| {
            net.exec
                .as_ref()
                .unwrap()
                .reference(&rng.point(&b.lower, &b.upper))
                .unwrap()[0]
        })
        .fold(f64::INFINITY, f64::min);
    let crown = compute_bounds(&net, &b, Method::Crown, None, CrownOptions::default()).unwrap();
    let mut checked = 0;
    // Relu-split certificates are not exercised here: relu splitting did not decide this net
    // within the test's budget (issue 16's weak relu branch and bound).
    for (branching, f32_executor, alpha_iters) in
        [(Branching::Input, true, 0), (Branching::Input, false, 5)]
    {
        let run = BabConfig {
            f32_executor,
            alpha_iters,
            timeout: Duration::from_secs(10),
            ..cfg(branching)
        };
        let mut found = None;
        // Between CROWN's bound and the lowest output seen; closer to CROWN after a timeout.
        let mut frac = 0.8;
        for _ in 0..20 {
            let rhs = crown.lower[0] + frac * (min - crown.lower[0]);
            let prop = below(&b, 2, 0, rhs);
            match verify(&net, &prop, &run).unwrap().verdict {
                Verdict::Falsified(cx) => min = min.min(cx.y_f64[0]),
                Verdict::Timeout => frac /= 2.0,
                Verdict::Verified {
                    certificate: Some(cert),
                } => {
                    found = Some((prop, cert));
                    break;
                }
                v => panic!("{branching:?}: {v:?}"),
            }
        }
        let (prop, cert) = found.expect("threshold never became true");
        check_certificate(&cert, &net, &prop, f32_executor).unwrap();
        let report = check_independently(&cert, &net, &prop, f32_executor)
            .unwrap_or_else(|e| panic!("{branching:?} f32 {f32_executor}: {e}"));
        assert!(report.leaves >= 1);
        // A re-check told to stop gives up with a timeout, never a verdict.
        let e = tl_bounds::check_independently_until(&cert, &net, &prop, f32_executor, &|| true)
            .unwrap_err();
        assert_eq!(e.code, codes::TIMED_OUT, "{e}");
        checked += 1;
        let rejected = |c: &tl_bounds::Certificate, p: &Property| {
            let e = check_independently(c, &net, p, f32_executor).unwrap_err();
            assert_eq!(e.code, codes::CERT_REJECTED, "{e}");
        };
        // A stronger property than the one proved.
        rejected(&cert, &below(&b, 2, 0, min + 0.25));
        // The root made a leaf: the whole box with no split is not refuted (CROWN was not enough).
        if cert.cases[0].nodes.len() > 1 {
            let mut cut = cert.clone();
            cut.cases[0].nodes[0] = CertNode::Leaf {
                empty: false,
                bounds: vec![],
                alphas: None,
            };
            rejected(&cut, &prop);
        }
        for (id, node) in cert.cases[0].nodes.iter().enumerate() {
            match node {
                CertNode::InputSplit { dim, mid, children } => {
                    // A split outside the box would leave part of it uncovered.
                    let mut bad = cert.clone();
                    bad.cases[0].nodes[id] = CertNode::InputSplit {
                        dim: *dim,
                        mid: mid + 10.0,
                        children: *children,
                    };
                    rejected(&bad, &prop);
                    // Both halves pointing at one subtree: the other half is never checked.
                    let mut twice = cert.clone();
                    twice.cases[0].nodes[id] = CertNode::InputSplit {
                        dim: *dim,
                        mid: *mid,
                        children: [children[0], children[0]],
                    };
                    rejected(&twice, &prop);
                }
                CertNode::ReluSplit {
                    layer, children, ..
                } => {
                    // A split of a neuron that does not exist.
                    let mut bad = cert.clone();
                    bad.cases[0].nodes[id] = CertNode::ReluSplit {
                        layer: *layer,
                        neuron: 10_000,
                        children: *children,
                    };
                    rejected(&bad, &prop);
                }
                CertNode::Leaf {
                    alphas: Some(list), ..
                } => {
                    // Slopes outside [0, 1] are not a sound relaxation.
                    let mut bad = cert.clone();
                    let mut list = list.clone();
                    for row in &mut list[0].1 {
                        for a in row.iter_mut() {
                            *a = 1.5;
                        }
                    }
                    bad.cases[0].nodes[id] = CertNode::Leaf {
                        empty: false,
                        bounds: vec![],
                        alphas: Some(list),
                    };
                    rejected(&bad, &prop);
                }
                _ => {}
            }
        }
        // A certificate without the f32 margin does not prove the f32 claim.
        if !f32_executor {
            let e = check_independently(&cert, &net, &prop, true).unwrap_err();
            assert_eq!(e.code, codes::CERT_REJECTED);
        }
    }
    assert_eq!(checked, 2);
}

/// A `sat` is what tl-kernels' executor computes on the source graph, not what the verifier's
/// lowered layers say: a lowering tampered to violate the property (bias -1 on `y = x`) yields
/// candidates the compiled plan and the reference semantics both reject, so no counterexample is
/// reported (a private evaluator of the layers would have confirmed one at once).
#[test]
fn counterexamples_are_confirmed_on_the_source_graph_not_the_lowering() {
    let honest = identity_net();
    let mut tampered = honest.clone();
    let mut shifted = 0;
    for node in &mut tampered.nodes {
        match &mut node.layer {
            tl_bounds::Layer::Affine { b, .. } => {
                b.fill(-1.0);
                shifted += 1;
            }
            tl_bounds::Layer::Scale { shift, .. } => {
                shift.fill(-1.0);
                shifted += 1;
            }
            _ => {}
        }
    }
    assert_eq!(shifted, 1, "{:?}", tampered.nodes);
    let b = InputBox::new(vec![0.0], vec![1.0]).unwrap();
    // Unsafe when y <= -0.5: never on the graph (y = x >= 0), at once on the tampered layers.
    let prop = below(&b, 1, 0, -0.5);
    let c = BabConfig {
        max_domains: 200,
        ..cfg(Branching::Input)
    };
    let res = verify(&tampered, &prop, &c).unwrap();
    assert!(
        !matches!(res.verdict, Verdict::Falsified(_)),
        "a counterexample of the lowering alone was reported: {:?}",
        res.verdict
    );
    // The honest lowering proves it; a property the graph does violate is still found.
    let res = verify(&honest, &prop, &cfg(Branching::Input)).unwrap();
    assert!(
        matches!(res.verdict, Verdict::Verified { .. }),
        "{:?}",
        res.verdict
    );
    let res = verify(&honest, &below(&b, 1, 0, 0.25), &cfg(Branching::Input)).unwrap();
    let Verdict::Falsified(cx) = res.verdict else {
        panic!("expected sat, got {:?}", res.verdict)
    };
    assert!(
        cx.x[0] <= 0.25 && cx.y_f32[0] <= 0.25 && cx.y_f64[0] <= 0.25,
        "{cx:?}"
    );
}
