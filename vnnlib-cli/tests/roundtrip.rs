//! The shipped VNN-LIB 1.0 properties (../shared/acasxu, ../shared/vnncomp2021) converted to 2.0
//! by `tl-vnnlib convert` (float32, shapes from the model) read back to the same constraint set,
//! and `tl-vnnlib verify` on the 2.0 query gives the answer tl's 1.0 path gives (the library call
//! `tlc vnncomp` makes, f32 semantics). A sample that runs in seconds in debug builds; every
//! instance is covered by `scripts/vnnlib_roundtrip.sh` (numbers in docs/performance.md).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

fn shared(sub: &str) -> Option<PathBuf> {
    let d = Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .map(|a| a.join("shared").join(sub))
        .find(|p| p.is_dir());
    if d.is_none() {
        eprintln!("skipping: no ../shared/{sub} beside the worktree");
    }
    d
}

fn run(args: &[&str]) -> (i32, String, String) {
    let o = Command::new(env!("CARGO_BIN_EXE_tl-vnnlib"))
        .args(args)
        .output()
        .unwrap();
    (
        o.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

/// tl's answer on the 1.0 instance, as `tlc vnncomp` computes it.
fn answer_1_0(model: &Path, prop: &Path, timeout: Duration) -> &'static str {
    let inst = tl_bounds::Instance::load(model, prop).unwrap();
    let net = tl_bounds::BoundNet::from_graph_map(&inst.graph, &inst.weights, None).unwrap();
    let cfg = tl_bounds::BabConfig {
        timeout,
        f32_executor: true,
        ..tl_bounds::BabConfig::default()
    };
    match tl_bounds::verify(&net, &inst.property, &cfg)
        .unwrap()
        .verdict
    {
        tl_bounds::Verdict::Verified { .. } => "unsat",
        tl_bounds::Verdict::Falsified(_) => "sat",
        tl_bounds::Verdict::Timeout => "timed-out",
        tl_bounds::Verdict::Unknown(_) => "unknown",
    }
}

fn check(dir: &Path, model: &Path, prop: &Path, want: &str) {
    let tag = format!(
        "{}-{}",
        model.file_stem().unwrap().to_string_lossy(),
        prop.file_stem().unwrap().to_string_lossy()
    );
    let (rc, q2, err) = run(&[
        "convert",
        &prop.display().to_string(),
        "--element-type",
        "float32",
        "--model",
        &model.display().to_string(),
    ]);
    assert_eq!(rc, 0, "{tag}: {err}");
    // The 2.0 text reads back to the 1.0 property's constraint set.
    let p1 = tl_bounds::vnnlib::load(prop).unwrap();
    let p2 = tl_bounds::vnnlib2::parse(&q2)
        .unwrap()
        .to_property()
        .unwrap();
    assert_eq!(p1.cases.len(), p2.cases.len(), "{tag}");
    for (a, b) in p1.cases.iter().zip(&p2.cases) {
        assert_eq!(a.input.lower, b.input.lower, "{tag}");
        assert_eq!(a.input.upper, b.input.upper, "{tag}");
        assert_eq!(a.disjuncts.len(), b.disjuncts.len(), "{tag}");
        for (x, y) in a.disjuncts.iter().zip(&b.disjuncts) {
            let rows = |d: &[tl_bounds::OutputConstraint]| {
                d.iter()
                    .map(|c| (c.coeffs.clone(), c.rhs, c.strict))
                    .collect::<Vec<_>>()
            };
            assert_eq!(rows(x), rows(y), "{tag}");
        }
    }
    let qp = dir.join(format!("{tag}.vnnlib"));
    std::fs::write(&qp, &q2).unwrap();
    let (rc, out, err) = run(&[
        "verify",
        &qp.display().to_string(),
        "--network",
        &format!("N={}", model.display()),
        "--timeout",
        "60",
    ]);
    assert_eq!(rc, 0, "{tag}: {err}");
    let got = out.lines().next().unwrap_or("");
    let one = answer_1_0(model, prop, Duration::from_secs(60));
    assert_eq!(got, one, "{tag}: 2.0 through tl-vnnlib against 1.0: {err}");
    assert_eq!(got, want, "{tag}");
}

#[test]
fn shipped_properties_round_trip_and_give_the_same_answers() {
    let dir = std::env::temp_dir().join(format!("tl-vnnlib-rt-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    if let Some(a) = shared("acasxu") {
        let net = |n: &str| a.join(format!("ACASXU_run2a_{n}_batch_2000.onnx"));
        for (n, p, want) in [
            ("2_1", "prop_3", "unsat"),
            ("1_1", "prop_4", "unsat"),
            ("2_1", "prop_2", "sat"),
        ] {
            check(&dir, &net(n), &a.join(format!("{p}.vnnlib")), want);
        }
    }
    if let Some(m) = shared("vnncomp2021/mnistfc") {
        let net = m.join("mnist-net_256x2.onnx");
        check(&dir, &net, &m.join("prop_1_0.05.vnnlib"), "sat");
    }
}
