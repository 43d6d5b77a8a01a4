//! `tlc export onnx` and `tlc export vnnlib`: a graph of a spec exported to ONNX and imported back
//! runs to the same outputs on both engines (and on onnxruntime when python3 has it); a contract
//! exported to VNN-LIB and handed with the model to `tl-vnnlib verify` gets the answer
//! `tlc verify` gives (checked -> unsat, falsified -> sat).

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::support::{repo_root, run_in, TempDir};

fn outputs(json: &str) -> Vec<f64> {
    let v: serde_json::Value = serde_json::from_str(json).expect(json);
    let outs = v["outputs"].as_object().expect("outputs");
    outs.values().next().expect("one output")["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap())
        .collect()
}

fn run_json(dir: &Path, spec: &str, graph: &str, input: &str, engine: &str) -> Vec<f64> {
    let (code, out, err) = run_in(
        dir,
        &[
            "run", spec, "--graph", graph, "--input", input, "--engine", engine, "--format", "json",
        ],
    );
    assert_eq!(code, 0, "{err}");
    outputs(&out)
}

fn close(a: &[f64], b: &[f64], tol: f64) -> bool {
    a.len() == b.len()
        && a.iter()
            .zip(b)
            .all(|(x, y)| (x - y).abs() <= tol * (1.0 + y.abs()))
}

#[test]
fn exported_onnx_runs_like_the_spec_on_both_engines_and_onnxruntime() {
    let root = repo_root();
    let tmp = TempDir::new("export-onnx");
    let model = tmp.0.join("mnist.onnx");
    let (code, _, err) = run_in(
        &root,
        &[
            "export",
            "onnx",
            "spec-examples/mnist_mlp.tl",
            "--graph",
            "mnist_mlp",
            "-o",
            &model.display().to_string(),
        ],
    );
    assert_eq!(code, 0, "{err}");
    let spec = tmp.0.join("imported.tl");
    std::fs::write(&spec, "import onnx \"mnist.onnx\" as net\n").unwrap();
    let digit = root.join("spec-examples/data/digit.npy");
    let input = format!("x={}", digit.display());
    let spec_s = spec.display().to_string();
    for engine in ["reference", "compiled"] {
        let want = run_json(
            &root,
            "spec-examples/mnist_mlp.tl",
            "mnist_mlp",
            &input,
            engine,
        );
        let got = run_json(&tmp.0, &spec_s, "net", &input, engine);
        assert_eq!(want.len(), 10);
        assert!(close(&got, &want, 1e-6), "{engine}: {got:?} vs {want:?}");
    }
    // onnxruntime on the same file and input.
    let probe = Command::new("python3")
        .args(["-c", "import onnxruntime, numpy"])
        .output();
    if !probe.is_ok_and(|o| o.status.success()) {
        eprintln!("skipping the onnxruntime comparison: python3 with onnxruntime and numpy is not available");
        return;
    }
    let script = format!(
        "import json, numpy, onnxruntime\ns = onnxruntime.InferenceSession({m:?})\nx = numpy.load({d:?}).astype(numpy.float32)\nprint(json.dumps([float(v) for v in s.run(None, {{'x': x}})[0].reshape(-1)]))\n",
        m = model.display().to_string(),
        d = digit.display().to_string()
    );
    let o = Command::new("python3")
        .args(["-c", &script])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let ort: Vec<f64> = serde_json::from_slice(&o.stdout).unwrap();
    let want = run_json(
        &root,
        "spec-examples/mnist_mlp.tl",
        "mnist_mlp",
        &input,
        "compiled",
    );
    assert!(
        close(&ort, &want, 1e-5),
        "onnxruntime {ort:?} vs tl {want:?}"
    );
}

fn tl_vnnlib() -> Option<PathBuf> {
    let p = Path::new(env!("CARGO_BIN_EXE_tlc")).with_file_name("tl-vnnlib");
    if !p.exists() {
        eprintln!(
            "skipping the tl-vnnlib half: {} is not built (cargo build -p tl-vnnlib)",
            p.display()
        );
        return None;
    }
    Some(p)
}

/// (spec, graph, contract, tlc verify's status, tl-vnnlib's answer)
const CASES: &[(&str, &str, &str, &str, &str)] = &[
    (
        "spec-examples/mnist_mlp.tl",
        "mnist_mlp",
        "robust_digit_7",
        "checked",
        "unsat",
    ),
    (
        "spec-examples/acas_xu_controller.tl",
        "acas_controller",
        "coc_bounded",
        "checked",
        "unsat",
    ),
    (
        "tests/fixtures/verify/failing/swap.tl",
        "identity_classifier",
        "robust_class_0",
        "falsified",
        "sat",
    ),
];

#[test]
fn exported_contracts_get_tlc_verifys_answer_from_tl_vnnlib() {
    let root = repo_root();
    let tmp = TempDir::new("export-vnnlib");
    let Some(vnnlib_bin) = tl_vnnlib() else {
        return;
    };
    for (spec, graph, contract, status, answer) in CASES {
        let (_, out, err) = run_in(
            &root,
            &[
                "verify",
                spec,
                "--contract",
                contract,
                "--format",
                "json",
                "-q",
                "--no-cache",
            ],
        );
        let report: serde_json::Value = serde_json::from_str(&out).expect(&err);
        let got = report["contracts"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["name"] == *contract)
            .unwrap()["status"]
            .clone();
        assert_eq!(got, *status, "{contract}: {err}");
        let model = tmp.0.join(format!("{graph}.onnx"));
        let (code, _, err) = run_in(
            &root,
            &[
                "export",
                "onnx",
                spec,
                "--graph",
                graph,
                "-o",
                &model.display().to_string(),
            ],
        );
        assert_eq!(code, 0, "{err}");
        for version in ["1", "2"] {
            let q = tmp.0.join(format!("{contract}.v{version}.vnnlib"));
            let (code, _, err) = run_in(
                &root,
                &[
                    "export",
                    "vnnlib",
                    spec,
                    contract,
                    "--version",
                    version,
                    "-o",
                    &q.display().to_string(),
                ],
            );
            assert_eq!(code, 0, "{err}");
            if version == "1" {
                // The 1.0 form: what `tlc vnncomp` reads; its answer must agree too.
                let res = tmp.0.join("res.txt");
                let (code, _, err) = run_in(
                    &root,
                    &[
                        "vnncomp",
                        &model.display().to_string(),
                        &q.display().to_string(),
                        "--timeout",
                        "60",
                        "--result",
                        &res.display().to_string(),
                    ],
                );
                assert_eq!(code, 0, "{err}");
                let first = std::fs::read_to_string(&res).unwrap();
                assert_eq!(first.lines().next(), Some(*answer), "{contract} 1.0");
                continue;
            }
            let o = Command::new(&vnnlib_bin)
                .args([
                    "verify",
                    &q.display().to_string(),
                    "--network",
                    &format!("N={}", model.display()),
                    "--timeout",
                    "60",
                ])
                .output()
                .unwrap();
            let stdout = String::from_utf8_lossy(&o.stdout);
            assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
            assert_eq!(stdout.lines().next(), Some(*answer), "{contract}: {stdout}");
        }
    }
}

#[test]
fn exports_that_cannot_be_made_are_coded() {
    let root = repo_root();
    let tmp = TempDir::new("export-bad");
    let out = tmp.0.join("x").display().to_string();
    let code_of = |args: &[&str]| {
        let (code, stdout, err) = run_in(&root, args);
        assert_ne!(code, 0, "{args:?}: {stdout}");
        err.split(['[', ']']).nth(1).unwrap_or("").to_string()
    };
    // A convolution has no ONNX export yet.
    assert_eq!(
        code_of(&["export", "onnx", "spec-examples/small_cnn.tl", "-o", &out]),
        "TL0580"
    );
    // An equivalence claim has no VNN-LIB form; an unknown contract; onnx without -o.
    assert_eq!(
        code_of(&[
            "export",
            "vnnlib",
            "spec-examples/mnist_mlp.tl",
            "compiled_matches"
        ]),
        "TL0581"
    );
    assert_eq!(
        code_of(&["export", "vnnlib", "spec-examples/mnist_mlp.tl", "nope"]),
        "TL0581"
    );
    assert_eq!(
        code_of(&["export", "onnx", "spec-examples/mnist_mlp.tl"]),
        "TL0582"
    );
    assert_eq!(
        code_of(&["export", "vnnlib", "spec-examples/mnist_mlp.tl"]),
        "TL0582"
    );
}
