//! Branch and bound, counterexamples, certificates and coded errors on the fixture networks.

mod common;

use std::sync::atomic::Ordering;
use std::time::Duration;

use ndarray::{ArrayD, IxDyn};
use tl_bounds::certificate::CertNode;
use tl_bounds::{
    check_certificate, codes, compute_bounds, eval, format_result, verify, BabConfig, BoundNet,
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
        .map(|_| eval::eval::<f64>(&net, &rng.point(&b.lower, &b.upper))[0])
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
    let y = eval::eval::<f64>(&net, &b.center());
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

    let mut soft = Graph::new("soft");
    let x = soft.add_input("x", Shape::known(&[1, 3]), DType::F32);
    let s = soft
        .add_op("s", Op::Softmax, vec![x], Attrs::new())
        .unwrap();
    soft.add_output("y", s);
    let e = BoundNet::from_graph_map(&soft, &w, None).unwrap_err();
    assert_eq!(e.code, codes::UNSUPPORTED_OP);
    assert!(e.message.contains("softmax"));

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

/// y = x on [1, 2], unsafe when y <= 1 - 1e-9: true over the reals, but inside the f32 executor's
/// rounding margin near x = 1 (and with no counterexample anywhere). Over the reals: unsat; with
/// the f32 margin: unknown, never unsat and never sat.
#[test]
fn a_property_inside_the_f32_margin_is_unknown_not_unsat() {
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
    let net = BoundNet::from_graph_map(&g, &weights, None).unwrap();
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
