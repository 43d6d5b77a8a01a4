//! `tlc bounds`, `tlc vnncomp`, `tlc certificate check` and `tlc import vnnlib` on a small fixture
//! network written by the test, on the ONNX fixture MLP, and on ACAS Xu instances from
//! ../shared/acasxu (skipped with a message when absent).

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::support::{repo_root, run_in, tlc, write_npy, TempDir};

/// relu(x W1^T + b1) W2^T + b2 with x: [1, 2]; computed again in `forward` below.
const W1: [[f64; 2]; 3] = [[1.0, -1.0], [0.5, 2.0], [-1.0, 0.25]];
const B1: [f64; 3] = [0.0, -0.5, 0.25];
const W2: [[f64; 3]; 2] = [[1.0, -2.0, 0.5], [-1.0, 1.0, 1.0]];
const B2: [f64; 2] = [0.125, -0.25];

const TINY_SPEC: &str = "graph tiny(x: f32[1, 2]) -> y: f32[1, 2] {
  param w1: f32[3, 2] = [[1.0, -1.0], [0.5, 2.0], [-1.0, 0.25]]
  param b1: f32[3] = [0.0, -0.5, 0.25]
  param w2: f32[2, 3] = [[1.0, -2.0, 0.5], [-1.0, 1.0, 1.0]]
  param b2: f32[2] = [0.125, -0.25]
  h = relu(linear(x, w1, b1))
  y = linear(h, w2, b2)
}
";

fn forward(x: [f64; 2]) -> [f64; 2] {
    let h: Vec<f64> = (0..3)
        .map(|i| (W1[i][0] * x[0] + W1[i][1] * x[1] + B1[i]).max(0.0))
        .collect();
    [0, 1].map(|o| (0..3).map(|i| W2[o][i] * h[i]).sum::<f64>() + B2[o])
}

fn tiny_project() -> TempDir {
    let dir = TempDir::new("bounds");
    std::fs::write(dir.0.join("tiny.tl"), TINY_SPEC).unwrap();
    write_npy(&dir.0.join("centre.npy"), &[1, 2], &[0.5, -0.25]);
    dir
}

fn json(out: &str) -> serde_json::Value {
    serde_json::from_str(out).unwrap_or_else(|e| panic!("not JSON ({e}): {out}"))
}

fn floats(v: &serde_json::Value) -> Vec<f64> {
    v.as_array()
        .expect("array")
        .iter()
        .map(|x| x.as_f64().expect("number"))
        .collect()
}

#[test]
fn bounds_text_output() {
    let dir = tiny_project();
    let (code, out, err) = run_in(
        &dir.0,
        &[
            "bounds",
            "tiny.tl",
            "--input",
            "x=centre.npy",
            "--eps",
            "0.25",
        ],
    );
    assert_eq!(code, 0, "{err}");
    insta::assert_snapshot!(out);
}

#[test]
fn bounds_json_contain_every_sampled_output_and_tighten_with_the_method() {
    let dir = tiny_project();
    let eps = 0.25;
    let mut widths = Vec::new();
    for method in ["ibp", "crown", "alpha-crown"] {
        let (code, out, err) = run_in(
            &dir.0,
            &[
                "bounds",
                "tiny.tl",
                "--method",
                method,
                "--input",
                "x=centre.npy",
                "--eps",
                "0.25",
                "--format",
                "json",
            ],
        );
        assert_eq!(code, 0, "{method}: {err}");
        let v = json(&out);
        assert_eq!(v["method"], method);
        let y = &v["outputs"]["y"];
        assert_eq!(y["shape"], serde_json::json!([1, 2]));
        let (lo, hi) = (floats(&y["lower"]), floats(&y["upper"]));
        // A grid over the ball, corners included: every output lies inside the bounds.
        let steps = 8;
        for i in 0..=steps {
            for j in 0..=steps {
                let x = [
                    0.5 - eps + 2.0 * eps * i as f64 / steps as f64,
                    -0.25 - eps + 2.0 * eps * j as f64 / steps as f64,
                ];
                let y = forward(x);
                for k in 0..2 {
                    assert!(
                        lo[k] <= y[k] && y[k] <= hi[k],
                        "{method}: y{k}({x:?}) = {} outside [{}, {}]",
                        y[k],
                        lo[k],
                        hi[k]
                    );
                }
            }
        }
        widths.push(hi[0] - lo[0] + hi[1] - lo[1]);
    }
    assert!(widths[1] <= widths[0], "CROWN looser than IBP: {widths:?}");
    assert!(
        widths[2] <= widths[1] + 1e-9,
        "alpha-CROWN looser than CROWN: {widths:?}"
    );
}

#[test]
fn bounds_refuse_bad_inputs_with_codes() {
    let dir = tiny_project();
    let (code, _, err) = run_in(
        &dir.0,
        &[
            "bounds",
            "tiny.tl",
            "--input",
            "x=centre.npy",
            "--eps",
            "-1",
        ],
    );
    assert_eq!(code, 2);
    assert!(err.contains("TL0602"), "{err}");

    write_npy(&dir.0.join("wide.npy"), &[1, 3], &[0.0, 0.0, 0.0]);
    let (code, _, err) = run_in(
        &dir.0,
        &["bounds", "tiny.tl", "--input", "x=wide.npy", "--eps", "0.1"],
    );
    assert_eq!(code, 2);
    assert!(err.contains("TL0511"), "{err}");

    std::fs::write(
        dir.0.join("broken.tl"),
        TINY_SPEC.replace("relu(", "relux("),
    )
    .unwrap();
    let (code, _, err) = run_in(
        &dir.0,
        &[
            "bounds",
            "broken.tl",
            "--input",
            "x=centre.npy",
            "--eps",
            "0.1",
        ],
    );
    assert_eq!(code, 2, "a spec with errors is refused: {err}");
    assert!(err.contains("error"), "{err}");

    let (code, _, _) = run_in(
        &dir.0,
        &[
            "bounds",
            "tiny.tl",
            "--method",
            "zonotope",
            "--input",
            "x=centre.npy",
            "--eps",
            "0.1",
        ],
    );
    assert_eq!(code, 2);
}

#[test]
fn bounds_help_has_examples() {
    let (code, out, _) = run_in(&repo_root(), &["bounds", "--help"]);
    assert_eq!(code, 0);
    assert!(out.contains("Examples:") && out.contains("--eps"), "{out}");
    for cmd in [
        &["vnncomp", "--help"][..],
        &["certificate", "check", "--help"],
    ] {
        let (code, out, _) = run_in(&repo_root(), cmd);
        assert_eq!(code, 0);
        assert!(out.contains("Examples:"), "{out}");
    }
}

/// A VNN-LIB property over the fixture MLP (8 inputs, 4 tanh outputs): the box is
/// [-0.1, 0.1]^8 and the unsafe set is `Y_0 >= threshold`.
fn mlp_property(dir: &Path, name: &str, threshold: f64) -> PathBuf {
    let mut s = String::new();
    for i in 0..8 {
        s.push_str(&format!("(declare-const X_{i} Real)\n"));
    }
    for i in 0..4 {
        s.push_str(&format!("(declare-const Y_{i} Real)\n"));
    }
    for i in 0..8 {
        s.push_str(&format!(
            "(assert (<= X_{i} 0.1))\n(assert (>= X_{i} -0.1))\n"
        ));
    }
    s.push_str(&format!("(assert (>= Y_0 {threshold}))\n"));
    let p = dir.join(name);
    std::fs::write(&p, s).unwrap();
    p
}

fn mlp_onnx() -> PathBuf {
    repo_root().join("tests/fixtures/onnx/mlp.onnx")
}

fn result_of(dir: &Path, name: &str) -> String {
    std::fs::read_to_string(dir.join(name)).expect("result file written")
}

/// `tlc vnncomp NET PROP` must answer unsat (result file too) and write a certificate that
/// `tlc certificate check` accepts; returns the checker's output.
fn vnncomp_unsat_then_check(
    dir: &Path,
    net: &str,
    prop: &str,
    timeout: &str,
    cert: &str,
) -> String {
    let result = format!("{cert}.result.txt");
    let (code, out, err) = run_in(
        dir,
        &[
            "vnncomp",
            net,
            prop,
            "--timeout",
            timeout,
            "--result",
            &result,
            "--certificate",
            cert,
        ],
    );
    assert_eq!(code, 0, "{err}");
    assert!(out.starts_with("unsat ("), "{out}");
    assert_eq!(result_of(dir, &result), "unsat\n");
    let (code, out, err) = run_in(dir, &["certificate", "check", cert, net, "--vnnlib", prop]);
    assert_eq!(code, 0, "{err}");
    out
}

/// An `unsat` is written only when its certificate re-checks independently. On the Transformer
/// fixture (layer norm, attention products, softmax, gelu) the search's CROWN bound of Y_0 over
/// the box is about 60.5; the independent checker (McCormick planes for the products) now
/// confirms every threshold the search's first bound refutes here, so each `unsat` must carry a
/// passing re-check, and whatever is not confirmed is `unknown` (TL0608) or a timeout. The
/// rejection path itself is tested on tampered certificates (kernels/bounds/tests/bab.rs).
#[test]
fn vnncomp_unsat_needs_the_independent_recheck() {
    let dir = TempDir::new("vnncomp-recheck");
    let net = repo_root().join("tests/fixtures/onnx/transformer.onnx");
    let property = |name: &str, threshold: f64| {
        let mut s = String::new();
        for i in 0..80 {
            s.push_str(&format!("(declare-const X_{i} Real)\n"));
        }
        for i in 0..80 {
            s.push_str(&format!("(declare-const Y_{i} Real)\n"));
        }
        for i in 0..80 {
            s.push_str(&format!(
                "(assert (<= X_{i} 0.001))\n(assert (>= X_{i} -0.001))\n"
            ));
        }
        s.push_str(&format!("(assert (>= Y_0 {threshold:?}))\n"));
        std::fs::write(dir.0.join(name), s).unwrap();
    };
    let decide = |prop: &str| {
        let (code, out, err) = run_in(
            &dir.0,
            &[
                "vnncomp",
                net.to_str().unwrap(),
                prop,
                "--timeout",
                "60",
                "--result",
                "r.txt",
            ],
        );
        assert_eq!(code, 0, "{err}");
        (result_of(&dir.0, "r.txt"), out)
    };
    property("far.vnnlib", 1000.0);
    let (result, out) = decide("far.vnnlib");
    assert_eq!(result, "unsat\n", "{out}");
    assert!(out.contains("independent check: passes"), "{out}");

    for (name, threshold) in [("near.vnnlib", 80.0), ("nearer.vnnlib", 61.0)] {
        property(name, threshold);
        let (result, out) = decide(name);
        match result.as_str() {
            "unsat\n" => assert!(out.contains("independent check: passes"), "{out}"),
            "unknown\n" => assert!(out.contains("TL0608"), "{out}"),
            other => assert_eq!(other, "timeout\n", "{out}"),
        }
    }
}

#[test]
fn vnncomp_certificate_and_import_on_the_fixture_mlp() {
    let dir = TempDir::new("vnncomp");
    let net = mlp_onnx();
    let net = net.to_str().unwrap();
    // tanh never reaches 1.5: unsat, with a certificate that re-checks.
    mlp_property(&dir.0, "high.vnnlib", 1.5);
    let out = vnncomp_unsat_then_check(&dir.0, net, "high.vnnlib", "30", "cert.json");
    assert!(out.starts_with("certificate checks:"), "{out}");

    // The same certificate does not prove a different property.
    mlp_property(&dir.0, "lower.vnnlib", -2.0);
    let (code, _, err) = run_in(
        &dir.0,
        &[
            "certificate",
            "check",
            "cert.json",
            net,
            "--vnnlib",
            "lower.vnnlib",
        ],
    );
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("TL0621"), "{err}");

    // Y_0 >= -2 holds everywhere: sat, with the counterexample in the result file.
    let (code, _, err) = run_in(
        &dir.0,
        &[
            "vnncomp",
            net,
            "lower.vnnlib",
            "--timeout",
            "30",
            "--result",
            "low.txt",
        ],
    );
    assert_eq!(code, 0, "{err}");
    let sat = result_of(&dir.0, "low.txt");
    assert!(sat.starts_with("sat\n((X_0 "), "{sat}");
    assert_eq!(sat.matches("(X_").count(), 8);
    assert_eq!(sat.matches("(Y_").count(), 4);

    // import vnnlib: a spec that tlc check accepts, and whose contract the certificate matches.
    std::fs::copy(mlp_onnx(), dir.0.join("mlp.onnx")).unwrap();
    let (code, _, err) = run_in(
        &dir.0,
        &[
            "import",
            "vnnlib",
            "high.vnnlib",
            "--model",
            "mlp.onnx",
            "-o",
            "high.tl",
        ],
    );
    assert_eq!(code, 0, "{err}");
    let spec = std::fs::read_to_string(dir.0.join("high.tl")).unwrap();
    insta::assert_snapshot!("import_vnnlib_spec", spec);
    let (code, out, err) = run_in(&dir.0, &["check", "high.tl"]);
    assert_eq!(code, 0, "{out}{err}");
    let (code, out, err) = run_in(
        &dir.0,
        &[
            "certificate",
            "check",
            "cert.json",
            "high.tl",
            "--contract",
            "high",
        ],
    );
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("contract high"), "{out}");
}

#[test]
fn vnncomp_and_certificate_errors_are_coded() {
    let dir = TempDir::new("vnncomp-errors");
    let net = mlp_onnx();
    let net = net.to_str().unwrap();
    std::fs::write(dir.0.join("junk.vnnlib"), "(assert (<= X_0").unwrap();
    let (code, _, err) = run_in(
        &dir.0,
        &["vnncomp", net, "junk.vnnlib", "--result", "r.txt"],
    );
    assert_eq!(code, 2);
    assert!(err.contains("TL061"), "{err}");
    assert!(
        !dir.0.join("r.txt").exists(),
        "no result for an instance that does not load"
    );

    mlp_property(&dir.0, "p.vnnlib", 1.5);
    let (code, _, err) = run_in(
        &dir.0,
        &[
            "vnncomp",
            net,
            "p.vnnlib",
            "--timeout",
            "0",
            "--result",
            "r.txt",
        ],
    );
    assert_eq!(code, 2);
    assert!(err.contains("TL0632"), "{err}");

    std::fs::write(dir.0.join("bad.json"), "{\"version\": 1").unwrap();
    let (code, _, err) = run_in(
        &dir.0,
        &[
            "certificate",
            "check",
            "bad.json",
            net,
            "--vnnlib",
            "p.vnnlib",
        ],
    );
    assert_eq!(code, 1);
    assert!(err.contains("TL0620"), "{err}");

    let (code, _, err) = run_in(&dir.0, &["certificate", "check", "bad.json", net]);
    assert_eq!(code, 2);
    assert!(err.contains("TL0633"), "{err}");
}

fn acasxu() -> Option<PathBuf> {
    let d = repo_root().join("../shared/acasxu");
    if d.join("prop_1.vnnlib").exists() {
        Some(d)
    } else {
        eprintln!("skipping: {} is absent", d.display());
        None
    }
}

#[test]
fn acas_xu_unsat_with_a_certificate_and_sat_with_a_counterexample() {
    let Some(a) = acasxu() else { return };
    let dir = TempDir::new("acas");
    let net = |n: &str| {
        a.join(format!("ACASXU_run2a_{n}_batch_2000.onnx"))
            .to_string_lossy()
            .into_owned()
    };
    let prop = |p: &str| a.join(format!("{p}.vnnlib")).to_string_lossy().into_owned();
    let out = vnncomp_unsat_then_check(&dir.0, &net("1_1"), &prop("prop_1"), "60", "c1.json");
    assert!(out.contains("f32 executor"), "{out}");

    let (code, _, err) = run_in(
        &dir.0,
        &[
            "vnncomp",
            &net("2_1"),
            &prop("prop_2"),
            "--timeout",
            "60",
            "--result",
            "r2.txt",
        ],
    );
    assert_eq!(code, 0, "{err}");
    insta::assert_snapshot!("acas_2_1_prop_2_result", result_of(&dir.0, "r2.txt"));
}

#[test]
fn acas_xu_ctrl_c_writes_unknown() {
    let Some(a) = acasxu() else { return };
    let dir = TempDir::new("acas-sigint");
    // An instance that takes long: the search is still running when the signal comes.
    let mut child = tlc()
        .args([
            "vnncomp",
            a.join("ACASXU_run2a_4_7_batch_2000.onnx").to_str().unwrap(),
            a.join("prop_1.vnnlib").to_str().unwrap(),
            "--timeout",
            "120",
            "--result",
            "r.txt",
        ])
        .current_dir(&dir.0)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("tlc starts");
    std::thread::sleep(Duration::from_millis(1500));
    let sent = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(sent.success());
    let start = Instant::now();
    let status = child.wait().expect("tlc exits");
    assert!(
        start.elapsed() < Duration::from_secs(30),
        "cancel took too long"
    );
    assert_eq!(status.code(), Some(0));
    assert_eq!(result_of(&dir.0, "r.txt"), "unknown\n");
}

/// A wide relu MLP written as ONNX at test time (never committed): 512 inputs, three hidden
/// layers of 2048, two outputs; its first CROWN pass takes far longer than a few seconds.
fn wide_onnx(path: &Path) {
    use prost::Message;
    use tl_kernels::onnx::proto::{
        tensor_proto::DataType, tensor_shape_proto::dimension::Value as D,
        tensor_shape_proto::Dimension, type_proto, GraphProto, ModelProto, NodeProto,
        OperatorSetIdProto, TensorProto, TensorShapeProto, TypeProto, ValueInfoProto,
    };
    let value = |name: &str, n: i64| ValueInfoProto {
        name: name.into(),
        r#type: Some(TypeProto {
            value: Some(type_proto::Value::TensorType(type_proto::Tensor {
                elem_type: DataType::Float as i32,
                shape: Some(TensorShapeProto {
                    dim: [1, n]
                        .iter()
                        .map(|&d| Dimension {
                            value: Some(D::DimValue(d)),
                            denotation: String::new(),
                        })
                        .collect(),
                }),
            })),
            denotation: String::new(),
        }),
        ..Default::default()
    };
    let mut seed = 0x9E37_79B9_7F4A_7C15u64;
    let mut rand = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        (seed >> 11) as f32 / (1u64 << 53) as f32 * 2.0 - 1.0
    };
    let widths = [512i64, 2048, 2048, 2048, 2];
    let (mut nodes, mut inits) = (Vec::new(), Vec::new());
    let mut prev = "x".to_string();
    for (l, w) in widths.windows(2).enumerate() {
        let (n_in, n_out) = (w[0], w[1]);
        let scale = 1.0 / (n_in as f32).sqrt();
        inits.push(TensorProto {
            name: format!("W{l}"),
            dims: vec![n_out, n_in],
            data_type: DataType::Float as i32,
            float_data: (0..n_in * n_out).map(|_| rand() * scale).collect(),
            ..Default::default()
        });
        inits.push(TensorProto {
            name: format!("b{l}"),
            dims: vec![n_out],
            data_type: DataType::Float as i32,
            float_data: (0..n_out).map(|_| rand() * 0.1).collect(),
            ..Default::default()
        });
        let last = l + 2 == widths.len();
        let out = if last {
            "y".to_string()
        } else {
            format!("h{l}")
        };
        nodes.push(NodeProto {
            input: vec![prev.clone(), format!("W{l}"), format!("b{l}")],
            output: vec![out.clone()],
            op_type: "Gemm".into(),
            attribute: vec![tl_kernels::onnx::proto::AttributeProto {
                name: "transB".into(),
                r#type: tl_kernels::onnx::proto::attribute_proto::AttributeType::Int as i32,
                i: 1,
                ..Default::default()
            }],
            ..Default::default()
        });
        prev = out;
        if !last {
            nodes.push(NodeProto {
                input: vec![prev.clone()],
                output: vec![format!("a{l}")],
                op_type: "Relu".into(),
                ..Default::default()
            });
            prev = format!("a{l}");
        }
    }
    let model = ModelProto {
        ir_version: 8,
        opset_import: vec![OperatorSetIdProto {
            domain: String::new(),
            version: 13,
        }],
        producer_name: "tl e2e".into(),
        graph: Some(GraphProto {
            name: "wide".into(),
            node: nodes,
            initializer: inits,
            input: vec![value("x", widths[0])],
            output: vec![value("y", 2)],
            ..Default::default()
        }),
        ..Default::default()
    };
    std::fs::write(path, model.encode_to_vec()).unwrap();
}

/// Every input in [-1, 1]; unsafe: Y_0 <= -1e6 (never reached, so no attack ends the run early).
fn wide_property(path: &Path) {
    let mut s = String::new();
    for i in 0..512 {
        s.push_str(&format!("(declare-const X_{i} Real)\n"));
    }
    s.push_str("(declare-const Y_0 Real)\n(declare-const Y_1 Real)\n");
    for i in 0..512 {
        s.push_str(&format!(
            "(assert (<= X_{i} 1.0))\n(assert (>= X_{i} -1.0))\n"
        ));
    }
    s.push_str("(assert (<= Y_0 -1000000.0))\n");
    std::fs::write(path, s).unwrap();
}

/// The timing guarantee: a net whose first bound pass takes far longer than the limit still
/// answers `timeout` within the limit plus 1 s (import included), and Ctrl-C answers `unknown`
/// within a second.
#[test]
fn vnncomp_obeys_the_time_limit_and_ctrl_c_on_a_wide_net() {
    let dir = TempDir::new("vnncomp_wide");
    wide_onnx(&dir.0.join("wide.onnx"));
    wide_property(&dir.0.join("wide.vnnlib"));
    let limit = 3.0;
    let t = Instant::now();
    let (code, out, err) = run_in(
        &dir.0,
        &[
            "vnncomp",
            "wide.onnx",
            "wide.vnnlib",
            "--timeout",
            "3",
            "--result",
            "out.txt",
        ],
    );
    let took = t.elapsed().as_secs_f64();
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(result_of(&dir.0, "out.txt"), "timeout\n", "{out}{err}");
    assert!(
        took <= limit + 1.0,
        "answered after {took:.2} s, limit {limit} s: {out}{err}"
    );

    #[cfg(unix)]
    {
        let child = tlc()
            .current_dir(&dir.0)
            .args([
                "vnncomp",
                "wide.onnx",
                "wide.vnnlib",
                "--timeout",
                "600",
                "--result",
                "int.txt",
            ])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(2500));
        let sent = Instant::now();
        // SAFETY: signalling our own child process by its id.
        unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
        let out = child.wait_with_output().unwrap();
        let took = sent.elapsed().as_secs_f64();
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(took <= 1.0, "Ctrl-C took {took:.2} s to stop: {text}");
        assert_eq!(result_of(&dir.0, "int.txt"), "unknown\n", "{text}");
        assert!(text.contains("cancelled"), "{text}");
    }
}

/// VNN-LIB 2.0 files are read wherever 1.0 ones are: `tlc vnncomp`, `tlc import vnnlib` and a
/// contract's `given vnnlib("...")`, with the answers of the 1.0 file they were converted from.
#[test]
fn vnnlib_2_0_properties_are_read_like_1_0() {
    let dir = TempDir::new("vnnlib2");
    let net = mlp_onnx();
    let net = net.to_str().unwrap();
    mlp_property(&dir.0, "high.vnnlib", 1.5);
    let p = tl_bounds::vnnlib::load(&dir.0.join("high.vnnlib")).unwrap();
    let t2 = tl_bounds::vnnlib2::write(&tl_bounds::vnnlib2::from_property(&p));
    assert!(t2.starts_with("(vnnlib-version <2.0>)"), "{t2}");
    std::fs::write(dir.0.join("high2.vnnlib"), &t2).unwrap();
    for prop in ["high.vnnlib", "high2.vnnlib"] {
        let (code, out, err) = run_in(
            &dir.0,
            &["vnncomp", net, prop, "--timeout", "30", "--result", "r.txt"],
        );
        assert_eq!(code, 0, "{prop}: {err}");
        assert!(out.starts_with("unsat ("), "{prop}: {out}");
    }
    std::fs::copy(mlp_onnx(), dir.0.join("mlp.onnx")).unwrap();
    let (code, _, err) = run_in(
        &dir.0,
        &[
            "import",
            "vnnlib",
            "high2.vnnlib",
            "--model",
            "mlp.onnx",
            "-o",
            "high2.tl",
        ],
    );
    assert_eq!(code, 0, "{err}");
    let spec = std::fs::read_to_string(dir.0.join("high2.tl")).unwrap();
    assert!(spec.contains("given vnnlib(\"high2.vnnlib\")"), "{spec}");
    let (code, out, err) = run_in(&dir.0, &["verify", "high2.tl"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("checked"), "{out}");
    // A malformed 2.0 file is a coded error with its position, never a verdict.
    std::fs::write(dir.0.join("bad2.vnnlib"), "(vnnlib-version <2.0>)\n(declare-network f (declare-input X Real [2]) (declare-output Y Real [1]))\n(assert (<= Z[0] 1))\n").unwrap();
    let (code, _, err) = run_in(
        &dir.0,
        &["vnncomp", net, "bad2.vnnlib", "--result", "r.txt"],
    );
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("TL0661"), "{err}");
}

/// A DenseNet-style skip concat, `y = W2 concat([x, relu(W1 x + b1)], axis = 1) + b2`: every
/// grid point's output lies inside the `tlc bounds` range of each method, CROWN no looser than IBP.
#[test]
fn bounds_through_a_skip_concat_contain_every_sampled_output() {
    const W3: [[f64; 5]; 2] = [[0.5, -1.0, 1.0, -2.0, 0.5], [1.0, 0.25, -1.0, 1.0, 1.0]];
    let spec = "graph skip(x: f32[1, 2]) -> y: f32[1, 2] {
  param w1: f32[3, 2] = [[1.0, -1.0], [0.5, 2.0], [-1.0, 0.25]]
  param b1: f32[3] = [0.0, -0.5, 0.25]
  param w3: f32[2, 5] = [[0.5, -1.0, 1.0, -2.0, 0.5], [1.0, 0.25, -1.0, 1.0, 1.0]]
  param b2: f32[2] = [0.125, -0.25]
  h = relu(linear(x, w1, b1))
  c = concat(x, h, axis = 1)
  y = linear(c, w3, b2)
}
";
    let forward = |x: [f64; 2]| -> [f64; 2] {
        let mut c = vec![x[0], x[1]];
        c.extend((0..3).map(|i| (W1[i][0] * x[0] + W1[i][1] * x[1] + B1[i]).max(0.0)));
        [0, 1].map(|o| (0..5).map(|i| W3[o][i] * c[i]).sum::<f64>() + B2[o])
    };
    let dir = tiny_project();
    std::fs::write(dir.0.join("skip.tl"), spec).unwrap();
    let eps = 0.25;
    let mut widths = Vec::new();
    for method in ["ibp", "crown", "alpha-crown"] {
        let (code, out, err) = run_in(
            &dir.0,
            &[
                "bounds",
                "skip.tl",
                "--method",
                method,
                "--input",
                "x=centre.npy",
                "--eps",
                "0.25",
                "--format",
                "json",
            ],
        );
        assert_eq!(code, 0, "{method}: {err}");
        let y = &json(&out)["outputs"]["y"];
        let (lo, hi) = (floats(&y["lower"]), floats(&y["upper"]));
        let steps = 8;
        for i in 0..=steps {
            for j in 0..=steps {
                let x = [
                    0.5 - eps + 2.0 * eps * i as f64 / steps as f64,
                    -0.25 - eps + 2.0 * eps * j as f64 / steps as f64,
                ];
                let y = forward(x);
                for k in 0..2 {
                    assert!(
                        lo[k] <= y[k] && y[k] <= hi[k],
                        "{method}: y{k}({x:?}) = {} outside [{}, {}]",
                        y[k],
                        lo[k],
                        hi[k]
                    );
                }
            }
        }
        widths.push(hi[0] - lo[0] + hi[1] - lo[1]);
    }
    assert!(widths[1] <= widths[0], "CROWN looser than IBP: {widths:?}");
    assert!(
        widths[2] <= widths[1] + 1e-9,
        "alpha-CROWN looser than CROWN: {widths:?}"
    );
}
