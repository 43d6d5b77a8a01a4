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

fn tensor(n: &str, dims: &[i64], data: &[f32], ty: DataType) -> TensorProto {
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
}

fn node(op: &str, inputs: &[&str], output: &str) -> NodeProto {
    NodeProto {
        input: inputs.iter().map(|s| s.to_string()).collect(),
        output: vec![output.into()],
        op_type: op.into(),
        name: format!("{op}_{output}"),
        ..Default::default()
    }
}

fn gemm(inputs: &[&str], output: &str) -> NodeProto {
    NodeProto {
        attribute: vec![AttributeProto {
            name: "transB".into(),
            r#type: AttributeType::Int as i32,
            i: 1,
            ..Default::default()
        }],
        ..node("Gemm", inputs, output)
    }
}

fn save(
    dir: &Path,
    name: &str,
    nodes: Vec<NodeProto>,
    initializer: Vec<TensorProto>,
    input: Vec<ValueInfoProto>,
    output: Vec<ValueInfoProto>,
) -> PathBuf {
    let m = ModelProto {
        ir_version: 8,
        opset_import: vec![OperatorSetIdProto {
            domain: String::new(),
            version: 13,
        }],
        graph: Some(GraphProto {
            name: "g".into(),
            node: nodes,
            initializer,
            input,
            output,
            ..Default::default()
        }),
        ..Default::default()
    };
    let p = dir.join(name);
    std::fs::write(&p, m.encode_to_vec()).unwrap();
    p
}

/// y = relu(x W^T + b) with W = [[1, 0], [1, -1]] (+ `dw` on W[0,0]), b = [0, 0.5]; x: [batch, 2];
/// the Gemm's output is the value `h`.
fn write_model_dw(dir: &Path, name: &str, ty: DataType, dw: f32) -> PathBuf {
    save(
        dir,
        name,
        vec![gemm(&["x", "W", "b"], "h"), node("Relu", &["h"], "y")],
        vec![
            tensor("W", &[2, 2], &[1.0 + dw, 0.0, 1.0, -1.0], ty),
            tensor("b", &[2], &[0.0, 0.5], ty),
        ],
        vec![value("x", &[-1, 2], ty)],
        vec![value("y", &[-1, 2], ty)],
    )
}

fn write_model(dir: &Path, name: &str, ty: DataType) -> PathBuf {
    write_model_dw(dir, name, ty, 0.0)
}

/// Two inputs a, c: [1, 2]; h = a W^T + b (W = I, b = 0); y = relu(h) + c.
fn write_two_input_model(dir: &Path) -> PathBuf {
    let ty = DataType::Float;
    save(
        dir,
        "two_in.onnx",
        vec![
            gemm(&["a", "W", "b"], "h"),
            node("Relu", &["h"], "r"),
            node("Add", &["r", "c"], "y"),
        ],
        vec![
            tensor("W", &[2, 2], &[1.0, 0.0, 0.0, 1.0], ty),
            tensor("b", &[2], &[0.0, 0.0], ty),
        ],
        vec![value("a", &[1, 2], ty), value("c", &[1, 2], ty)],
        vec![value("y", &[1, 2], ty)],
    )
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
    // Only operators the verifier bounds: Gemm, Relu, Softmax and Exp are; LogSoftmax is
    // imported but has no relaxation.
    let ops = lines("--onnx-operators");
    assert!(ops
        .iter()
        .all(|o| tl_kernels::onnx::supported_ops().contains(&o.as_str())));
    assert!(
        ["Gemm", "Relu", "Softmax", "Exp", "LayerNormalization"]
            .iter()
            .all(|want| ops.iter().any(|o| o == want)),
        "{ops:?}"
    );
    assert!(tl_kernels::onnx::supported_ops().contains(&"LogSoftmax"));
    assert!(!ops.iter().any(|o| o == "LogSoftmax"), "{ops:?}");
    assert_eq!(lines("--onnx-element-types"), ["float32", "real"]);
    assert_eq!(lines("--vnnlib-versions"), ["2.0", "2.0"]);
    assert_eq!(lines("--onnx-opset-versions").len(), 2);
    assert_eq!(lines("--hidden-node-theories"), ["NH", "H"]);
    assert_eq!(lines("--multiple-input-output-theories"), ["SIO", "MIO"]);
    assert_eq!(
        lines("--multiple-network-theories"),
        ["SNET", "MENET", "MINET", "MNET"]
    );
    assert_eq!(lines("--multiple-node-comparison-theories"), ["SNC", "MNC"]);
    assert_eq!(lines("--arithmetic-complexity-theories"), ["BND", "OUTC"]);
    assert_eq!(lines("--optimised-disjunctive-reasoning"), ["false"]);
    assert_eq!(lines("--serialise-assignments"), ["true"]);
    assert_eq!(lines("--unsat-proofs"), ["false"]);
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
    let a = parse_assignment(&out);
    let names: Vec<&str> = a.iter().map(|(k, ..)| k.as_str()).collect();
    assert_eq!(names, ["X float32 [1,2]", "Y float32 [1,2]"]);
    let (x, y) = (&a[0].1, &a[1].1);
    assert!(x.iter().all(|v| (0.0..=1.0).contains(v)), "{out}");
    assert!(
        y[1] >= 1.2 && (y[1] - (x[0] - x[1] + 0.5)).abs() < 1e-5,
        "{out}"
    );
    // The same answer serialised: stdout has only the first line, each variable a TensorProto.
    let dir = d.join("assign");
    let (rc, out2, err) = run(&[
        "verify",
        &q,
        "--network",
        &net,
        "--timeout",
        "20",
        "--serialise-assignments",
        &dir.display().to_string(),
    ]);
    assert_eq!((rc, out2.as_str()), (0, "sat\n"), "{err}");
    for (name, want) in [("X", x), ("Y", y)] {
        let t =
            TensorProto::decode(&*std::fs::read(dir.join(format!("{name}.pb"))).unwrap()).unwrap();
        assert_eq!(t.name, name);
        assert_eq!(t.dims, [1, 2]);
        assert_eq!(t.data_type, DataType::Float as i32);
        let want: Vec<f32> = want.iter().map(|v| *v as f32).collect();
        assert_eq!(t.float_data, want, "{name}");
    }
}

/// The command-line assignment format: `NAME TYPE [dims]` headers, then one value per line.
fn parse_assignment(out: &str) -> Vec<(String, Vec<f64>)> {
    let mut lines = out.lines();
    assert_eq!(lines.next(), Some("sat"), "{out}");
    let mut vars: Vec<(String, Vec<f64>)> = Vec::new();
    for l in lines {
        match l.parse::<f64>() {
            Ok(v) => vars.last_mut().expect("a header first").1.push(v),
            Err(_) => vars.push((l.to_string(), Vec::new())),
        }
    }
    for (h, v) in &vars {
        let dims = h.split('[').nth(1).unwrap().trim_end_matches(']');
        let n: usize = dims
            .split(',')
            .map(|d| d.parse::<usize>().unwrap())
            .product();
        assert_eq!(v.len(), n, "{h}");
    }
    vars
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
            let a = parse_assignment(&out);
            assert_eq!(a[0].0, "X float32 [1,1,1,5]");
            assert_eq!(a[1].0, "Y float32 [1,5]");
            let y = &a[1].1;
            assert!((1..5).all(|j| y[j] <= y[0]), "{out}");
        }
    }
}

fn write(dir: &Path, name: &str, text: &str) -> String {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p.display().to_string()
}

const BOX: &str = "(assert (and (>= tX[0,0] 0) (<= tX[0,0] 1) (>= tX[0,1] 0) (<= tX[0,1] 1)))\n";

/// A teacher and a student that differs by `dw` on one weight, on the same input (the query
/// equates the inputs): bounds on the difference network decide `sY - tY > T`. Without the
/// equalities the inputs are independent and the difference is large.
#[test]
fn isomorphic_networks_on_a_shared_input_are_decided_on_their_difference() {
    let d = tmp("iso");
    let teacher = write_model(&d, "teacher.onnx", DataType::Float);
    let student = write_model_dw(&d, "student.onnx", DataType::Float, 0.01);
    let nets = |q: &str| {
        let (rc, out, err) = run(&[
            "verify",
            q,
            "--network",
            &format!("teacher={}", teacher.display()),
            "--network",
            &format!("student={}", student.display()),
            "--timeout",
            "30",
        ]);
        assert_eq!(rc, 0, "{err}");
        (out, err)
    };
    for ty in ["float32", "Real"] {
        let decls = format!(
            "(vnnlib-version <2.0>)\n(declare-network teacher (declare-input tX {ty} [1,2]) (declare-output tY {ty} [1,2]))\n\
             (declare-network student (isomorphic-to teacher) (declare-input sX {ty} [1,2]) (declare-output sY {ty} [1,2]))\n"
        );
        let same = "(assert (and (== tX[0,0] sX[0,0]) (== tX[0,1] sX[0,1])))\n";
        // sY0 - tY0 = 0.01 * x0 <= 0.01 on the box.
        let q = write(
            &d,
            "unsat.vnnlib",
            &format!("{decls}{BOX}{same}(assert (> (- sY[0,0] tY[0,0]) 0.0125))\n"),
        );
        assert_eq!(nets(&q).0, "unsat\n", "{ty}");
        // 0.01 * x0 > 0.006 for x0 > 0.6: sat, and the assignment replays.
        let q = write(
            &d,
            "sat.vnnlib",
            &format!("{decls}{BOX}{same}(assert (> (- sY[0,0] tY[0,0]) 0.006))\n"),
        );
        let (out, err) = nets(&q);
        let a = parse_assignment(&out);
        let names: Vec<&str> = a
            .iter()
            .map(|(k, _)| k.split(' ').next().unwrap())
            .collect();
        assert_eq!(names, ["tX", "tY", "sX", "sY"], "{err}");
        assert_eq!(a[0].1, a[2].1, "the inputs are equal");
        assert!(a[3].1[0] - a[1].1[0] > 0.006, "{out}");
        assert!((a[1].1[0] - a[0].1[0]).abs() < 1e-6, "{out}");
        // Independent inputs: sX0 = 1, tX0 = 0 gives 1.01.
        let q = write(
            &d,
            "indep.vnnlib",
            &format!(
                "{decls}{BOX}(assert (and (>= sX[0,0] 0) (<= sX[0,0] 1) (>= sX[0,1] 0) (<= sX[0,1] 1)))\n\
                 (assert (> (- sY[0,0] tY[0,0]) 0.5))\n"
            ),
        );
        let (out, _) = nets(&q);
        let a = parse_assignment(&out);
        assert!(a[3].1[0] - a[1].1[0] > 0.5, "{out}");
    }
}

/// `equal-to`: the second network runs the first's model (no --network for it); a --network for
/// it is an unnecessary model file, a mandatory error.
#[test]
fn equal_to_networks_share_the_model() {
    let d = tmp("equal");
    let f = write_model(&d, "f.onnx", DataType::Float);
    let q = write(
        &d,
        "eq.vnnlib",
        &format!(
            "(declare-network f (declare-input tX float32 [1,2]) (declare-output tY float32 [1,2]))\n\
             (declare-network g (equal-to f) (declare-input gX float32 [1,2]) (declare-output gY float32 [1,2]))\n\
             {BOX}(assert (and (== tX[0,0] gX[0,0]) (== tX[0,1] gX[0,1])))\n(assert (> (- tY[0,0] gY[0,0]) 0.001))\n"
        ),
    );
    let net = format!("f={}", f.display());
    let (rc, out, err) = run(&["verify", &q, "--network", &net, "--timeout", "30"]);
    assert_eq!((rc, out.as_str()), (0, "unsat\n"), "{err}");
    let (rc, _, err) = run(&[
        "verify",
        &q,
        "--network",
        &net,
        "--network",
        &format!("g={}", f.display()),
    ]);
    assert_eq!(rc, 2);
    assert!(err.contains("TL0668") && err.contains("equal-to"), "{err}");
}

/// Several inputs, a hidden node by ONNX name, a comparison between a hidden node and an output
/// of one network.
#[test]
fn multiple_inputs_and_hidden_nodes() {
    let d = tmp("mio");
    let m = write_two_input_model(&d);
    let net = format!("f={}", m.display());
    let decls =
        "(declare-network f (declare-input A float32 [1,2]) (declare-input C float32 [1,2])\n\
                 (declare-hidden H float32 [1,2] \"h\") (declare-output Y float32 [1,2]))\n\
                 (assert (and (>= A[0,0] 0) (<= A[0,0] 1) (>= A[0,1] 0) (<= A[0,1] 1)))\n\
                 (assert (and (>= C[0,0] 0) (<= C[0,0] 1) (>= C[0,1] 0) (<= C[0,1] 1)))\n";
    let verify = |name: &str, tail: &str| {
        let q = write(&d, name, &format!("{decls}{tail}"));
        run(&["verify", &q, "--network", &net, "--timeout", "30"])
    };
    // y0 = a0 + c0 <= 2.
    let (rc, out, err) = verify("u.vnnlib", "(assert (> Y[0,0] 2.25))\n");
    assert_eq!((rc, out.as_str()), (0, "unsat\n"), "{err}");
    // y0 > 1.5 with h0 = a0 < 0.25 needs c0 > 1.25: unsat; y0 - h0 = c0 compared directly.
    let (_, out, err) = verify(
        "u2.vnnlib",
        "(assert (and (> Y[0,0] 1.5) (< H[0,0] 0.25)))\n",
    );
    assert_eq!(out, "unsat\n", "{err}");
    let (_, out, err) = verify("u3.vnnlib", "(assert (> (- Y[0,1] H[0,1]) 1.125))\n");
    assert_eq!(out, "unsat\n", "{err}");
    let (_, out, err) = verify(
        "s.vnnlib",
        "(assert (and (> Y[0,0] 1.5) (< H[0,0] 0.75)))\n",
    );
    let a = parse_assignment(&out);
    let names: Vec<&str> = a.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(
        names,
        [
            "A float32 [1,2]",
            "C float32 [1,2]",
            "H float32 [1,2]",
            "Y float32 [1,2]"
        ],
        "{err}"
    );
    let (av, cv, hv, yv) = (&a[0].1, &a[1].1, &a[2].1, &a[3].1);
    assert_eq!(hv, av, "h = a on the box");
    assert!((yv[0] - (av[0] + cv[0])).abs() < 1e-6 && yv[0] > 1.5 && hv[0] < 0.75);
    // A hidden node the model does not have.
    let q = write(
        &d,
        "nohidden.vnnlib",
        &decls.replace("\"h\"", "\"nope\"").to_string().replace(
            "(assert (and (>= C",
            "(assert (> H[0,0] 0))\n(assert (and (>= C",
        ),
    );
    let (rc, out, err) = run(&["verify", &q, "--network", &net]);
    assert_eq!((rc, out.as_str()), (2, ""));
    assert!(err.contains("TL0669") && err.contains("nope"), "{err}");
    // Inputs declared in the wrong number.
    let q = write(
        &d,
        "one_in.vnnlib",
        "(declare-network f (declare-input A float32 [1,2]) (declare-output Y float32 [1,2]))\n\
         (assert (and (>= A[0,0] 0) (<= A[0,0] 1) (>= A[0,1] 0) (<= A[0,1] 1)))\n(assert (> Y[0,0] 3))\n",
    );
    let (rc, _, err) = run(&["verify", &q, "--network", &net]);
    assert_eq!(rc, 2);
    assert!(err.contains("TL0665"), "{err}");
}

/// An isomorphic-to network whose model has another structure, and a constraint over several
/// inputs tl does not decide: coded errors, no verdict.
#[test]
fn structure_mismatch_and_unsupported_constraints_are_refused() {
    let d = tmp("noniso");
    let teacher = write_model(&d, "teacher.onnx", DataType::Float);
    let other = save(
        &d,
        "other.onnx",
        vec![gemm(&["x", "W", "b"], "y")],
        vec![
            tensor("W", &[2, 2], &[1.0, 0.0, 1.0, -1.0], DataType::Float),
            tensor("b", &[2], &[0.0, 0.5], DataType::Float),
        ],
        vec![value("x", &[-1, 2], DataType::Float)],
        vec![value("y", &[-1, 2], DataType::Float)],
    );
    let decls = "(declare-network teacher (declare-input tX float32 [1,2]) (declare-output tY float32 [1,2]))\n\
                 (declare-network student (isomorphic-to teacher) (declare-input sX float32 [1,2]) (declare-output sY float32 [1,2]))\n";
    let same = "(assert (and (== tX[0,0] sX[0,0]) (== tX[0,1] sX[0,1])))\n";
    let q = write(
        &d,
        "q.vnnlib",
        &format!("{decls}{BOX}{same}(assert (> sY[0,0] tY[0,0]))\n"),
    );
    let args = |s: &Path| {
        vec![
            "verify".to_string(),
            q.clone(),
            "--network".into(),
            format!("teacher={}", teacher.display()),
            "--network".into(),
            format!("student={}", s.display()),
        ]
    };
    let (rc, out, err) = run(&args(&other).iter().map(String::as_str).collect::<Vec<_>>());
    assert_eq!((rc, out.as_str()), (2, ""));
    assert!(err.contains("TL0670"), "{err}");
    // Monotonicity-style constraints between inputs (tX0 <= sX0) are outside the fragment.
    let q2 = write(
        &d,
        "mono.vnnlib",
        &format!("{decls}{BOX}(assert (<= tX[0,0] sX[0,0]))\n(assert (and (>= sX[0,0] 0) (<= sX[0,0] 1) (>= sX[0,1] 0) (<= sX[0,1] 1)))\n(assert (> tY[0,0] sY[0,0]))\n"),
    );
    let (rc, out, err) = run(&[
        "verify",
        &q2,
        "--network",
        &format!("teacher={}", teacher.display()),
        "--network",
        &format!("student={}", teacher.display()),
    ]);
    assert_eq!((rc, out.as_str()), (2, ""), "{err}");
    assert!(
        err.contains("error[TL0612] at "),
        "a code and a position: {err}"
    );
}

/// Byte-level mutations of a valid two-network query with hidden nodes, run through the binary:
/// every outcome is an answer (exit 0, a verdict line) or a coded error (exit 2, `error[TL`),
/// never a panic.
#[test]
fn mutated_queries_never_panic_the_binary() {
    let d = tmp("fuzz");
    let teacher = write_model(&d, "teacher.onnx", DataType::Float);
    let student = write_model_dw(&d, "student.onnx", DataType::Float, 0.01);
    let base = format!(
        "(declare-network teacher (declare-input tX float32 [1,2] \"x\") (declare-hidden tH float32 [1,2] \"h\") (declare-output tY float32 [1,2] \"y\"))\n\
         (declare-network student (isomorphic-to teacher) (declare-input sX float32 [1,2]) (declare-output sY float32 [1,2]))\n\
         {BOX}(assert (and (== tX[0,0] sX[0,0]) (== tX[0,1] sX[0,1])))\n(assert (or (> (- sY[0,0] tY[0,0]) 0.006) (< tH[0,1] -0.4)))\n"
    );
    let nets = [
        format!("teacher={}", teacher.display()),
        format!("student={}", student.display()),
    ];
    let mut s: u64 = 0x243f6a8885a308d3;
    let mut next = || {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        s
    };
    let alphabet = b"()[],-+*<=>!. 0123456789XYHtsf\"\n";
    let q = d.join("m.vnnlib");
    for _ in 0..300 {
        let mut b = base.as_bytes().to_vec();
        for _ in 0..(1 + next() % 3) {
            let i = (next() as usize) % b.len();
            match next() % 3 {
                0 => {
                    b.remove(i);
                }
                1 => b.insert(i, alphabet[(next() as usize) % alphabet.len()]),
                _ => b[i] = alphabet[(next() as usize) % alphabet.len()],
            }
        }
        std::fs::write(&q, &b).unwrap();
        let qs = q.display().to_string();
        let (rc, out, err) = run(&[
            "verify",
            &qs,
            "--network",
            &nets[0],
            "--network",
            &nets[1],
            "--timeout",
            "5",
        ]);
        let text = String::from_utf8_lossy(&b);
        match rc {
            0 => assert!(
                matches!(
                    out.lines().next(),
                    Some("sat" | "unsat" | "unknown" | "timed-out")
                ),
                "{text}\n{out}"
            ),
            2 => assert!(err.contains("error[TL") && out.is_empty(), "{text}\n{err}"),
            _ => panic!("exit {rc} on\n{text}\n{err}"),
        }
    }
}
