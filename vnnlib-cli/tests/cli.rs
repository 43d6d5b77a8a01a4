//! Drives the real `tl-vnnlib` binary: the standard's global options, `supports`, `verify` on a
//! small generated ONNX network (unsat, sat with a replayed assignment), and the mandatory errors.

use std::path::{Path, PathBuf};
use std::process::Command;

use prost::Message;
use tl_kernels::onnx::proto::{
    attribute_proto::AttributeType, tensor_proto::DataType, tensor_shape_proto::dimension::Value,
    tensor_shape_proto::Dimension, type_proto, AttributeProto, GraphProto, ModelProto, NodeProto,
    OperatorSetIdProto, TensorProto, TensorShapeProto, TypeProto, ValueInfoProto,
};

fn value(name: &str, dims: &[i64], ty: DataType) -> ValueInfoProto {
    let dim = dims
        .iter()
        .map(|&d| Dimension {
            value: Some(if d < 0 {
                Value::DimParam("batch".into())
            } else {
                Value::DimValue(d)
            }),
            denotation: String::new(),
        })
        .collect();
    ValueInfoProto {
        name: name.into(),
        r#type: Some(TypeProto {
            value: Some(type_proto::Value::TensorType(type_proto::Tensor {
                elem_type: ty as i32,
                shape: Some(TensorShapeProto { dim }),
            })),
            denotation: String::new(),
        }),
        ..Default::default()
    }
}

/// y = relu(x W^T + b) with W = [[1, 0], [1, -1]], b = [0, 0.5]; x: [batch, 2].
fn write_model(dir: &Path, name: &str, ty: DataType) -> PathBuf {
    let t = |n: &str, dims: &[i64], data: &[f32]| {
        let mut p = TensorProto {
            name: n.into(),
            dims: dims.to_vec(),
            data_type: ty as i32,
            ..Default::default()
        };
        if ty == DataType::Double {
            p.double_data = data.iter().map(|v| *v as f64).collect();
        } else {
            p.float_data = data.to_vec();
        }
        p
    };
    let m = ModelProto {
        ir_version: 8,
        opset_import: vec![OperatorSetIdProto {
            domain: String::new(),
            version: 13,
        }],
        graph: Some(GraphProto {
            name: "g".into(),
            node: vec![
                NodeProto {
                    input: vec!["x".into(), "W".into(), "b".into()],
                    output: vec!["h".into()],
                    op_type: "Gemm".into(),
                    attribute: vec![AttributeProto {
                        name: "transB".into(),
                        r#type: AttributeType::Int as i32,
                        i: 1,
                        ..Default::default()
                    }],
                    ..Default::default()
                },
                NodeProto {
                    input: vec!["h".into()],
                    output: vec!["y".into()],
                    op_type: "Relu".into(),
                    ..Default::default()
                },
            ],
            initializer: vec![
                t("W", &[2, 2], &[1.0, 0.0, 1.0, -1.0]),
                t("b", &[2], &[0.0, 0.5]),
            ],
            input: vec![value("x", &[-1, 2], ty)],
            output: vec![value("y", &[-1, 2], ty)],
            ..Default::default()
        }),
        ..Default::default()
    };
    let p = dir.join(name);
    std::fs::write(&p, m.encode_to_vec()).unwrap();
    p
}

fn tmp(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("tl-vnnlib-{tag}-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
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

fn query(dir: &Path, name: &str, ty: &str, xshape: &str, assert: &str) -> String {
    let p = dir.join(name);
    std::fs::write(
        &p,
        format!(
            "(vnnlib-version <2.0>)\n(declare-network f\n  (declare-input X {ty} {xshape})\n  (declare-output Y {ty} [1,2]))\n\
             (assert (and (>= X[0,0] 0) (<= X[0,0] 1) (>= X[0,1] 0) (<= X[0,1] 1)))\n(assert {assert})\n"
        ),
    )
    .unwrap();
    p.display().to_string()
}

#[test]
fn global_options_and_supports() {
    assert_eq!(run(&["--version"]).1.trim(), env!("CARGO_PKG_VERSION"));
    let (rc, name, _) = run(&["--name"]);
    assert_eq!(rc, 0);
    assert!(name.starts_with("tl "));
    let lines = |flag: &str| {
        let (rc, out, err) = run(&["supports", flag]);
        assert_eq!(rc, 0, "{flag}: {err}");
        out.lines().map(String::from).collect::<Vec<_>>()
    };
    let ops = lines("--onnx-operators");
    assert_eq!(ops.len(), tl_kernels::onnx::supported_ops().len());
    assert!(ops.iter().any(|o| o == "Gemm") && ops.iter().any(|o| o == "Relu"));
    assert_eq!(lines("--onnx-element-types"), ["float32", "real"]);
    assert_eq!(lines("--vnnlib-versions"), ["2.0", "2.0"]);
    assert_eq!(lines("--onnx-opset-versions").len(), 2);
    assert_eq!(lines("--hidden-node-theories"), ["NH"]);
    assert_eq!(lines("--multiple-input-output-theories"), ["SIO"]);
    assert_eq!(lines("--multiple-network-theories"), ["SNET"]);
    assert_eq!(lines("--multiple-node-comparison-theories"), ["SNC"]);
    assert_eq!(lines("--arithmetic-complexity-theories"), ["BND", "OUTC"]);
    assert_eq!(lines("--optimised-disjunctive-reasoning"), ["false"]);
    assert_eq!(lines("--serialise-assignments"), ["false"]);
    let (rc, out, err) = run(&["supports", "--bogus"]);
    assert_eq!((rc, out.as_str()), (2, ""));
    assert!(err.contains("TL0668"), "{err}");
}

#[test]
fn verify_answers_unsat_and_sat_with_a_replayed_assignment() {
    let d = tmp("verify");
    let model = write_model(&d, "net.onnx", DataType::Float);
    let net = format!("f={}", model.display());
    // y0 = relu(x0) <= 1 on the box: y0 >= 1.5 is unreachable.
    for ty in ["float32", "Real"] {
        let q = query(&d, "unsat.vnnlib", ty, "[1,2]", "(>= Y[0,0] 1.5)");
        let (rc, out, err) = run(&["verify", &q, "--network", &net, "--timeout", "20"]);
        assert_eq!((rc, out.as_str()), (0, "unsat\n"), "{ty}: {err}");
    }
    // y1 = relu(x0 - x1 + 0.5) >= 1.2 needs x0 - x1 >= 0.7: reachable.
    let q = query(&d, "sat.vnnlib", "float32", "[1,2]", "(>= Y[0,1] 1.2)");
    let (rc, out, err) = run(&["verify", &q, "--network", &net, "--timeout", "20"]);
    assert_eq!(rc, 0, "{err}");
    let mut lines = out.lines();
    assert_eq!(lines.next(), Some("sat"));
    let vals: Vec<(String, f64)> = lines
        .map(|l| {
            let (k, v) = l.split_once('=').unwrap();
            (k.to_string(), v.parse().unwrap())
        })
        .collect();
    let names: Vec<&str> = vals.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(names, ["X[0,0]", "X[0,1]", "Y[0,0]", "Y[0,1]"]);
    let (x0, x1, y1) = (vals[0].1, vals[1].1, vals[3].1);
    assert!((0.0..=1.0).contains(&x0) && (0.0..=1.0).contains(&x1));
    assert!(y1 >= 1.2 && (y1 - (x0 - x1 + 0.5)).abs() < 1e-5, "{out}");
}

#[test]
fn mandatory_errors_are_coded_on_stderr() {
    let d = tmp("errors");
    let model = write_model(&d, "net.onnx", DataType::Float);
    let net = format!("f={}", model.display());
    let code = |args: &[&str]| {
        let (rc, out, err) = run(args);
        assert_eq!(rc, 2, "{args:?}: {out}{err}");
        assert!(out.is_empty(), "{out}");
        err.split(['[', ']']).nth(1).unwrap_or("").to_string()
    };
    // The model does not match the declarations.
    let q = query(&d, "shape.vnnlib", "float32", "[1,3]", "(>= Y[0,0] 1.5)");
    assert_eq!(code(&["verify", &q, "--network", &net]), "TL0665");
    // The element types do not match.
    let m64 = write_model(&d, "net64.onnx", DataType::Double);
    let q = query(&d, "f32.vnnlib", "float32", "[1,2]", "(>= Y[0,0] 1.5)");
    assert_eq!(
        code(&["verify", &q, "--network", &format!("f={}", m64.display())]),
        "TL0666"
    );
    // Types over which tl cannot be sound.
    for ty in ["float16", "float64", "int8"] {
        let q = query(&d, "t.vnnlib", ty, "[1,2]", "(>= Y[0,0] 1.5)");
        assert_eq!(code(&["verify", &q, "--network", &net]), "TL0667", "{ty}");
    }
    // Usage: unknown and missing networks, a bad timeout; a malformed query.
    let q = query(&d, "ok.vnnlib", "float32", "[1,2]", "(>= Y[0,0] 1.5)");
    assert_eq!(
        code(&["verify", &q, "--network", &net, "--network", "g=x.onnx"]),
        "TL0668"
    );
    assert_eq!(code(&["verify", &q]), "TL0668");
    assert_eq!(
        code(&["verify", &q, "--network", &net, "--timeout", "-1"]),
        "TL0668"
    );
    let q = query(&d, "bad.vnnlib", "float32", "[1,2]", "(>= Y[0,2] 1.5)");
    assert_eq!(code(&["verify", &q, "--network", &net]), "TL0662");
}

fn acasxu() -> Option<PathBuf> {
    let d = Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .map(|a| a.join("shared/acasxu"))
        .find(|p| p.is_dir());
    if d.is_none() {
        eprintln!("skipping: no ../shared/acasxu beside the worktree");
    }
    d
}

/// ACAS Xu 1.0 properties converted to 2.0 (float32, shapes from the model) give the answers the
/// 1.0 instances have (kernels/bounds/tests/acasxu.rs): prop_1 on 1_1 unsat, prop_2 on 2_1 sat.
#[test]
fn acasxu_properties_converted_to_2_0_give_the_same_answers() {
    let Some(a) = acasxu() else { return };
    let d = tmp("acas");
    for (net, prop, want) in [("1_1", "prop_1", "unsat"), ("2_1", "prop_2", "sat")] {
        let model = a.join(format!("ACASXU_run2a_{net}_batch_2000.onnx"));
        let (rc, q2, err) = run(&[
            "convert",
            &a.join(format!("{prop}.vnnlib")).display().to_string(),
            "--element-type",
            "float32",
            "--model",
            &model.display().to_string(),
        ]);
        assert_eq!(rc, 0, "{err}");
        assert!(q2.contains("(declare-input X float32 [1,1,1,5])"), "{q2}");
        let qp = d.join(format!("{net}_{prop}.vnnlib"));
        std::fs::write(&qp, &q2).unwrap();
        let (rc, out, err) = run(&[
            "verify",
            &qp.display().to_string(),
            "--network",
            &format!("N={}", model.display()),
            "--timeout",
            "120",
        ]);
        assert_eq!(rc, 0, "{err}");
        assert_eq!(out.lines().next(), Some(want), "{net} {prop}: {out}{err}");
        if want == "sat" {
            // 5 inputs, 5 outputs, Y[0,0] maximal (prop_2's unsafe set).
            let vals: Vec<f64> = out
                .lines()
                .skip(1)
                .map(|l| l.split_once('=').unwrap().1.parse().unwrap())
                .collect();
            assert_eq!(vals.len(), 10);
            assert!((1..5).all(|j| vals[5 + j] <= vals[5]), "{out}");
        }
    }
}
