//! `tlc tolerance`: derived float budgets per node over a contract's input set or an explicit box,
//! on the shipped examples (text and JSON), cross-checked against the two engines run by `tlc run`,
//! and its coded errors.

use std::path::Path;

use crate::support::{repo_root, run_in, write_npy, TempDir};

fn json(out: &str) -> serde_json::Value {
    serde_json::from_str(out).unwrap_or_else(|e| panic!("not JSON ({e}): {out}"))
}

fn tolerance(args: &[&str]) -> (i32, String, String) {
    let mut all = vec!["tolerance"];
    all.extend_from_slice(args);
    run_in(&repo_root(), &all)
}

#[test]
fn mnist_contract_budget_as_text() {
    let (code, out, err) = tolerance(&["spec-examples/mnist_mlp.tl"]);
    assert_eq!(code, 0, "{err}");
    insta::assert_snapshot!(out);
}

#[test]
fn small_cnn_box_budget_as_text() {
    let (code, out, err) = tolerance(&["spec-examples/small_cnn.tl", "--box", "0,1"]);
    assert_eq!(code, 0, "{err}");
    insta::assert_snapshot!(out);
}

#[test]
fn small_cnn_box_budget_as_json() {
    let (code, out, err) = tolerance(&[
        "spec-examples/small_cnn.tl",
        "--box",
        "-0.5,1",
        "--format",
        "json",
    ]);
    assert_eq!(code, 0, "{err}");
    let v = json(&out);
    assert_eq!(v["schema"], "tl.tolerance/1");
    assert_eq!(v["graph"], "small_cnn");
    let section = &v["sections"][0];
    assert!(section["contract"].is_null());
    assert!(section["tolerance"].is_null());
    let o = &section["outputs"][0];
    assert_eq!(o["output"], "scores");
    assert!(o["fit"].is_null(), "no tolerance, no fit: {o}");
    let names: Vec<&str> = o["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["image", "features", "active", "pooled", "scores"]);
    insta::assert_snapshot!(out);
}

/// The JSON budget of the MNIST contract: the declared tolerance beside the derived bound, the
/// bound the sum of the two passes at the output, and never exceeded by the two engines.
#[test]
fn mnist_json_budget_contains_the_engines_deviation() {
    let (code, out, err) = tolerance(&["spec-examples/mnist_mlp.tl", "--format", "json"]);
    assert_eq!(code, 0, "{err}");
    let v = json(&out);
    let sections = v["sections"].as_array().unwrap();
    assert_eq!(sections.len(), 1, "one equivalence contract: {v}");
    let s = &sections[0];
    assert_eq!(s["contract"], "compiled_matches");
    assert_eq!(s["input"], "x in box(0.0, 1.0)");
    assert_eq!(s["tolerance"]["name"], "fp32_run");
    assert_eq!(s["tolerance"]["abs"].as_f64(), Some(1e-5));
    let o = &s["outputs"][0];
    assert_eq!(o["output"], "logits");
    assert_eq!(o["range_method"], "crown");
    assert!(o["stopped"].is_null());
    let bound = o["bound"].as_f64().unwrap();
    let last = o["nodes"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(last["name"], "logits");
    let sum = last["compiled_abs"].as_f64().unwrap() + last["reference_abs"].as_f64().unwrap();
    assert!(
        bound >= sum && bound <= sum * (1.0 + 1e-6),
        "{bound} vs {sum}"
    );
    let ratio = o["fit"]["ratio"].as_f64().unwrap();
    assert_eq!(o["fit"]["fits"].as_bool(), Some(ratio <= 1.0));
    // The derived bound holds for points of the box (corners and a pseudo-random point).
    let dir = TempDir::new("tolerance");
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let random: Vec<f32> = (0..784)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state % 1001) as f32 / 1000.0
        })
        .collect();
    let spec = repo_root().join("spec-examples/mnist_mlp.tl");
    for (tag, x) in [
        ("zeros", vec![0.0f32; 784]),
        ("ones", vec![1.0f32; 784]),
        ("random", random),
    ] {
        let path = dir.0.join(format!("{tag}.npy"));
        write_npy(&path, &[1, 784], &x);
        let logits = |engine: &str| run_logits(&dir.0, &spec, &path, engine);
        let (c, r) = (logits("compiled"), logits("reference"));
        for (a, b) in c.iter().zip(&r) {
            assert!(
                (a - b).abs() <= bound,
                "{tag}: |{a} - {b}| exceeds the derived {bound}"
            );
        }
    }
}

fn run_logits(dir: &Path, spec: &Path, input: &Path, engine: &str) -> Vec<f64> {
    let x = format!("x={}", input.display());
    let (code, out, err) = run_in(
        dir,
        &[
            "run",
            spec.to_str().unwrap(),
            "--input",
            &x,
            "--engine",
            engine,
            "--format",
            "json",
        ],
    );
    assert_eq!(code, 0, "{err}");
    json(&out)["outputs"]["logits"]["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_f64().unwrap())
        .collect()
}

const STOPS: &str = "graph g(x: f32[1, 2]) -> y: f32[1, 2] {
  param w: f32[2] = [0.5, -0.25]
  s = add(w, w)
  h = relu(x)
  y = add(h, s)
}

graph e(x: f32[1, 2]) -> y: f32[1, 2] {
  y = elu(x)
}

tolerance t_fp32 = abs 1e-5, rel 1e-4

contract g_matches on g {
  given x in box(-1.0, 1.0)
  ensure compiled ~= reference within t_fp32
  check by sampling
}
";

/// Where the analysis stops, the node and the reason; exit 1.
#[test]
fn a_stopped_analysis_names_the_node_and_exits_1() {
    let dir = TempDir::new("tolerance-stop");
    std::fs::write(dir.0.join("stops.tl"), STOPS).unwrap();
    let (code, out, err) = run_in(
        &dir.0,
        &["tolerance", "stops.tl", "--graph", "g", "--format", "json"],
    );
    assert_eq!(code, 1, "{out}{err}");
    let stopped = &json(&out)["sections"][0]["outputs"][0]["stopped"];
    assert_eq!(stopped["node"], "y", "{stopped}");
    assert!(
        stopped["reason"].as_str().unwrap().contains("`s`"),
        "{stopped}"
    );
    // A graph the bound verifier refuses: no node, the bounds code in the reason.
    let (code, out, err) = run_in(
        &dir.0,
        &["tolerance", "stops.tl", "--graph", "e", "--box=-1,1"],
    );
    assert_eq!(code, 1, "{out}{err}");
    assert!(
        out.contains("not derived") && out.contains("TL0600"),
        "{out}"
    );
}

#[test]
fn errors_are_coded() {
    let cases: [(&[&str], &str); 5] = [
        (&["spec-examples/small_cnn.tl"], "TL0827"),
        (&["spec-examples/small_cnn.tl", "--box", "1,0"], "TL0828"),
        (&["spec-examples/small_cnn.tl", "--box", "0,x"], "TL0828"),
        (&["spec-examples/small_cnn.tl", "--box", "0"], "TL0828"),
        (&["spec-examples/small_cnn.tl", "--graph", "nope"], "TL0532"),
    ];
    for (args, want) in cases {
        let (code, out, err) = tolerance(args);
        assert_eq!(code, 2, "{args:?}: {out}{err}");
        assert!(err.contains(&format!("error[{want}]")), "{args:?}: {err}");
        assert!(out.is_empty(), "{args:?}: {out}");
    }
    for code in ["TL0827", "TL0828", "TL0829"] {
        let (status, out, err) = run_in(&repo_root(), &["explain", code]);
        assert_eq!(status, 0, "{code}: {err}");
        assert!(out.contains(code), "{out}");
    }
}
