//! A handful of quick ACAS Xu instances (VNN-COMP 2021) with answers established by this
//! verifier's own means: unsat by a certificate that re-checks, sat by a counterexample confirmed
//! in f32 and f64. Skips with a message when ../shared/acasxu is absent.

use std::path::PathBuf;
use std::time::Duration;

use tl_bounds::{check_certificate, BabConfig, Instance, Verdict};

fn dir() -> Option<PathBuf> {
    let d = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/acasxu");
    if d.exists() {
        Some(d)
    } else {
        eprintln!("skipping: {} is absent", d.display());
        None
    }
}

fn run(net: &str, prop: &str) -> (Instance, Verdict) {
    let d = dir().unwrap();
    let inst = Instance::load(
        &d.join(format!("ACASXU_run2a_{net}_batch_2000.onnx")),
        &d.join(format!("{prop}.vnnlib")),
    )
    .unwrap();
    let cfg = BabConfig {
        timeout: Duration::from_secs(120),
        certificate: true,
        ..BabConfig::default()
    };
    let res = inst.run(&cfg).unwrap();
    (inst, res.verdict)
}

#[test]
fn prop_1_is_unsat_on_easy_networks_and_the_certificates_check() {
    if dir().is_none() {
        return;
    }
    for net in ["1_1", "1_5", "1_6"] {
        let (inst, v) = run(net, "prop_1");
        let Verdict::Verified {
            certificate: Some(c),
        } = v
        else {
            panic!("{net} prop_1: expected unsat, got {v:?}");
        };
        check_certificate(&c, &inst.net().unwrap(), &inst.property, true)
            .unwrap_or_else(|e| panic!("{net}: certificate rejected: {e}"));
    }
}

#[test]
fn prop_2_is_sat_on_a_2_x_network_with_a_confirmed_counterexample() {
    if dir().is_none() {
        return;
    }
    let (inst, v) = run("2_1", "prop_2");
    let Verdict::Falsified(cx) = v else {
        panic!("2_1 prop_2: expected sat, got {v:?}");
    };
    let case = &inst.property.cases[cx.case];
    assert!(case.input.contains(&cx.x));
    // Unsafe: Y_0 is maximal (every Y_j <= Y_0), in both precisions.
    for y in [&cx.y_f64, &cx.y_f32] {
        assert!((1..5).all(|j| y[j] <= y[0]), "{y:?}");
    }
    let again = inst.net().unwrap().exec.unwrap().compiled(&cx.x).unwrap();
    assert_eq!(again, cx.y_f32);
}
