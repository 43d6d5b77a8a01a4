//! `tlc run`, `tlc import onnx|torchlean` and `tlc export torchlean` end to end: ONNX fixtures
//! against onnxruntime's outputs, imported specs against their models, TorchLean round trips
//! against the original specs, and the coded errors and warnings of bad runs.

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::support::{repo_root, run_in, write_npy, TempDir};

fn fixtures() -> PathBuf {
    repo_root().join("tests/fixtures/onnx")
}

/// Reads an f32 `.npy` fixture (as numpy writes them: version 1, '<f4', C order).
fn read_npy(path: &Path) -> (Vec<usize>, Vec<f64>) {
    let bytes = std::fs::read(path).expect("read npy");
    let len = u16::from_le_bytes([bytes[8], bytes[9]]) as usize;
    let header = std::str::from_utf8(&bytes[10..10 + len]).unwrap();
    assert!(header.contains("'<f4'"), "{header}");
    let inner = &header[header.find("'shape': (").unwrap() + 10..];
    let inner = &inner[..inner.find(')').unwrap()];
    let shape: Vec<usize> = inner
        .split(',')
        .filter_map(|s| s.trim().parse().ok())
        .collect();
    let data = bytes[10 + len..]
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]) as f64)
        .collect();
    (shape, data)
}

/// The outputs of `tlc run ... --format json` as (shape, data) by name.
fn run_json(dir: &Path, args: &[&str]) -> serde_json::Map<String, Value> {
    let mut all = vec!["run"];
    all.extend_from_slice(args);
    all.extend_from_slice(&["--format", "json"]);
    let (code, out, err) = run_in(dir, &all);
    assert_eq!(code, 0, "tlc {all:?}\nstdout: {out}\nstderr: {err}");
    let doc: Value = serde_json::from_str(&out).expect("JSON output");
    doc["outputs"].as_object().expect("outputs").clone()
}

fn values(v: &Value) -> (Vec<usize>, Vec<f64>) {
    let shape = v["shape"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d.as_u64().unwrap() as usize)
        .collect();
    let data = v["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d.as_f64().expect("finite"))
        .collect();
    (shape, data)
}

/// Agreement with onnxruntime: 1e-5 relative, with a 1e-6 absolute floor near zero.
fn assert_close(what: &str, got: &[f64], expected: &[f64]) {
    assert_eq!(got.len(), expected.len(), "{what}: length");
    for (i, (g, e)) in got.iter().zip(expected).enumerate() {
        assert!(
            (g - e).abs() <= 1e-5 * e.abs() + 1e-6,
            "{what}[{i}]: tl {g}, onnxruntime {e}"
        );
    }
}

/// Each fixture: (model stem, input name, output name).
fn fixture_models() -> Vec<(String, String, String)> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(fixtures()).expect("fixtures dir") {
        let name = entry.unwrap().file_name().to_string_lossy().into_owned();
        if let Some(rest) = name.strip_suffix(".npy") {
            if let Some((stem, input)) = rest.split_once(".input.") {
                let expected = std::fs::read_dir(fixtures())
                    .unwrap()
                    .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                    .find_map(|f| {
                        f.strip_prefix(&format!("{stem}.expected."))
                            .and_then(|f| f.strip_suffix(".npy"))
                            .map(str::to_string)
                    })
                    .expect("expected output");
                out.push((stem.to_string(), input.to_string(), expected));
            }
        }
    }
    out.sort();
    assert!(out.len() >= 5, "fixtures: {out:?}");
    out
}

#[test]
fn onnx_fixtures_agree_with_onnxruntime_in_both_engines() {
    let dir = TempDir::new("onnx-run");
    for (stem, input, output) in fixture_models() {
        let model = fixtures().join(format!("{stem}.onnx"));
        std::fs::write(
            dir.0.join("spec.tl"),
            format!("import onnx {:?} as net\n", model.display().to_string()),
        )
        .unwrap();
        let input_arg = format!(
            "{input}={}",
            fixtures()
                .join(format!("{stem}.input.{input}.npy"))
                .display()
        );
        let (shape, expected) = read_npy(&fixtures().join(format!("{stem}.expected.{output}.npy")));
        for engine in ["reference", "compiled"] {
            let outs = run_json(
                &dir.0,
                &[
                    "spec.tl", "--graph", "net", "--input", &input_arg, "--engine", engine,
                ],
            );
            let (got_shape, got) = values(&outs[&output]);
            assert_eq!(got_shape, shape, "{stem} {engine}");
            assert_close(&format!("{stem} {engine}"), &got, &expected);
        }
    }
}

#[test]
fn imported_onnx_specs_check_clean_and_compute_the_model() {
    let dir = TempDir::new("onnx-import");
    for (stem, input, output) in fixture_models() {
        let model = fixtures().join(format!("{stem}.onnx"));
        let spec = format!("{stem}.tl");
        let (code, _, err) = run_in(
            &dir.0,
            &["import", "onnx", model.to_str().unwrap(), "-o", &spec],
        );
        assert_eq!(code, 0, "{stem}: {err}");
        let text = std::fs::read_to_string(dir.0.join(&spec)).unwrap();
        assert!(
            text.contains("params from \"") || !text.contains("param "),
            "{stem}: params reference the model\n{text}"
        );
        let (code, out, err) = run_in(&dir.0, &["check", &spec, "--deny-warnings"]);
        assert_eq!(code, 0, "{stem} does not check clean:\n{out}{err}\n{text}");
        let (_, expected) = read_npy(&fixtures().join(format!("{stem}.expected.{output}.npy")));
        let input_arg = format!(
            "{}={}",
            tl_ide::interchange::sanitize_ident(&input),
            fixtures()
                .join(format!("{stem}.input.{input}.npy"))
                .display()
        );
        let outs = run_json(&dir.0, &[&spec, "--input", &input_arg]);
        let (_, got) = values(outs.values().next().expect("one output"));
        assert_close(&format!("imported {stem}"), &got, &expected);
    }
}

#[test]
fn acas_xu_import_is_the_same_function_as_the_model() {
    let model = repo_root().join("../shared/acasxu/ACASXU_run2a_1_1_batch_2000.onnx");
    if !model.exists() {
        eprintln!("skipped: {} is absent", model.display());
        return;
    }
    let dir = TempDir::new("acas");
    std::fs::copy(&model, dir.0.join("net.onnx")).unwrap();
    let (code, _, err) = run_in(&dir.0, &["import", "onnx", "net.onnx", "-o", "net.tl"]);
    assert_eq!(code, 0, "{err}");
    let (code, out, err) = run_in(&dir.0, &["check", "net.tl"]);
    assert_eq!(code, 0, "{out}{err}");
    std::fs::write(dir.0.join("use.tl"), "import onnx \"net.onnx\" as net\n").unwrap();
    for (k, point) in [[0.1f32, 0.2, -0.3, 0.4, 0.5], [-0.3, 0.0, 0.45, -0.5, 0.2]]
        .iter()
        .enumerate()
    {
        let x = dir.0.join(format!("x{k}.npy"));
        write_npy(&x, &[1, 1, 1, 5], point);
        let arg = format!("input={}", x.display());
        for engine in ["reference", "compiled"] {
            let spec = run_json(&dir.0, &["net.tl", "--input", &arg, "--engine", engine]);
            let direct = run_json(
                &dir.0,
                &[
                    "use.tl", "--graph", "net", "--input", &arg, "--engine", engine,
                ],
            );
            assert_eq!(
                spec.values().next(),
                direct.values().next(),
                "{engine}, point {k}"
            );
        }
    }
}

#[test]
fn broken_and_unsupported_models_are_reported_on_the_import_line() {
    let dir = TempDir::new("onnx-bad");
    std::fs::write(dir.0.join("bad.onnx"), b"\x08\x07garbage").unwrap();
    let unsupported = fixtures().join("unsupported.onnx");
    std::fs::write(
        dir.0.join("spec.tl"),
        format!(
            "import onnx \"bad.onnx\" as bad\nimport onnx {:?} as net\n",
            unsupported.display().to_string()
        ),
    )
    .unwrap();
    let (code, out, _) = run_in(&dir.0, &["check", "spec.tl", "--format", "short"]);
    assert_eq!(code, 1, "{out}");
    let lines: Vec<&str> = out.lines().collect();
    assert!(
        lines
            .iter()
            .any(|l| l.contains("spec.tl:1:") && l.contains("TL03")),
        "{out}"
    );
    let unsupported_line = lines.iter().find(|l| l.contains("TL0520")).expect(&out);
    assert!(unsupported_line.contains("spec.tl:2:"), "{out}");
    assert!(
        // Erf is imported now (exact GELU); Sin is still refused.
        unsupported_line.contains("Sin (node wave)") && !unsupported_line.contains("Erf"),
        "{out}"
    );
    let (code, _, err) = run_in(&dir.0, &["run", "spec.tl", "--graph", "net"]);
    assert_eq!(code, 1);
    assert!(err.contains("TL0520") || err.contains("TL0533"), "{err}");
}

#[test]
fn bad_inputs_and_non_finite_outputs_are_coded() {
    let dir = TempDir::new("run-errors");
    std::fs::write(
        dir.0.join("g.tl"),
        "graph g(x: f32[3]) -> y: f32[3] {\n  a = log(x)\n  b = relu(x)\n  y = add(a, b)\n}\n",
    )
    .unwrap();
    write_npy(&dir.0.join("ok.npy"), &[3], &[1.0, 2.0, 3.0]);
    write_npy(&dir.0.join("neg.npy"), &[3], &[1.0, -2.0, 3.0]);
    write_npy(&dir.0.join("wide.npy"), &[4], &[1.0, 2.0, 3.0, 4.0]);
    let outs = run_json(&dir.0, &["g.tl", "--input", "x=ok.npy"]);
    let (_, y) = values(&outs["y"]);
    assert!((y[1] - (2f64.ln() + 2.0)).abs() < 1e-12);

    let (code, _, err) = run_in(&dir.0, &["run", "g.tl", "--input", "x=wide.npy"]);
    assert_eq!(code, 2);
    assert!(
        err.contains("error[TL0511]") && err.contains("[3]"),
        "{err}"
    );
    let (code, _, err) = run_in(&dir.0, &["run", "g.tl", "--input", "z=ok.npy"]);
    assert_eq!(code, 2);
    assert!(err.contains("error[TL0530]"), "{err}");
    let (code, _, err) = run_in(&dir.0, &["run", "g.tl"]);
    assert_eq!(code, 2);
    assert!(err.contains("error[TL0510]"), "{err}");
    let (code, _, err) = run_in(&dir.0, &["run", "g.tl", "--input", "x=missing.npy"]);
    assert_eq!(code, 2);
    assert!(err.contains("error[TL03"), "{err}");

    for engine in ["reference", "compiled"] {
        let (code, out, err) = run_in(
            &dir.0,
            &[
                "run",
                "g.tl",
                "--input",
                "x=neg.npy",
                "--engine",
                engine,
                "--format",
                "json",
            ],
        );
        assert_eq!(code, 1, "non-finite outputs are a finding");
        assert!(err.contains("warning[TL0531]: output `y` has 1 non-finite value(s); first produced at node a (log)"), "{err}");
        let doc: Value = serde_json::from_str(&out).unwrap();
        assert_eq!(doc["outputs"]["y"]["data"][1], "NaN");
        assert_eq!(doc["warnings"][0]["node"], "a (log)");
    }
}

/// (spec, graph, input name, input shape with the symbols bound, --dim args).
type RoundTrip = (
    &'static str,
    &'static str,
    &'static str,
    &'static [usize],
    &'static [&'static str],
);
const ROUND_TRIPS: &[RoundTrip] = &[
    ("mnist_mlp.tl", "mnist_mlp", "x", &[2, 784], &["B=2"]),
    (
        "acas_xu_controller.tl",
        "acas_controller",
        "x",
        &[1, 5],
        &[],
    ),
    ("residual_block.tl", "residual_net", "x", &[2, 16], &["B=2"]),
    (
        "small_cnn.tl",
        "small_cnn",
        "image",
        &[2, 1, 8, 8],
        &["N=2"],
    ),
];

#[test]
fn torchlean_round_trip_computes_the_same_function() {
    let dir = TempDir::new("torchlean");
    let examples = repo_root().join("spec-examples");
    for (k, (spec, graph, input, shape, dims)) in ROUND_TRIPS.iter().enumerate() {
        let json = format!("g{k}.json");
        let mut args: Vec<String> = vec![
            "export".into(),
            "torchlean".into(),
            examples.join(spec).to_str().unwrap().to_string(),
            "--graph".into(),
            graph.to_string(),
            "-o".into(),
            json.clone(),
        ];
        for d in *dims {
            args.push("--dim".into());
            args.push(d.to_string());
        }
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let (code, _, err) = run_in(&dir.0, &args);
        assert_eq!(code, 0, "export {spec}: {err}");
        let artifact: Value =
            serde_json::from_str(&std::fs::read_to_string(dir.0.join(&json)).unwrap()).unwrap();
        assert_eq!(artifact["format"], "torchlean.ir.v1");
        let out_spec = format!("g{k}.tl");
        let (code, _, err) = run_in(&dir.0, &["import", "torchlean", &json, "-o", &out_spec]);
        assert_eq!(code, 0, "import {spec}: {err}");
        let (code, out, err) = run_in(&dir.0, &["check", &out_spec]);
        assert_eq!(code, 0, "{spec} round trip does not check: {out}{err}");
        let n: usize = shape.iter().product();
        let data: Vec<f32> = (0..n)
            .map(|i| ((i * 37 % 101) as f32 / 50.0) - 1.0)
            .collect();
        let x = dir.0.join(format!("x{k}.npy"));
        write_npy(&x, shape, &data);
        let arg = format!("{input}={}", x.display());
        for engine in ["reference", "compiled"] {
            let spec_path = examples.join(spec);
            let original = run_json(
                &dir.0,
                &[
                    spec_path.to_str().unwrap(),
                    "--graph",
                    graph,
                    "--input",
                    &arg,
                    "--engine",
                    engine,
                ],
            );
            let imported = run_json(&dir.0, &[&out_spec, "--input", &arg, "--engine", engine]);
            let a: Vec<&Value> = original.values().collect();
            let b: Vec<&Value> = imported.values().collect();
            assert_eq!(a, b, "{spec} {engine}: the round trip changed the function");
        }
    }
}

/// A hand-written artifact in the shape TorchLean's exporter writes for an unbatched `[C, H, W]`
/// input: a grouped `conv` on channel axis 0 with a dense block-diagonal weight (the 99s lie off
/// the blocks and are never read), a `max_pool`, and a 1-D `avg_pool` over the last axis.
#[test]
fn torchlean_hand_written_conv_artifact_imports_and_runs() {
    let dir = TempDir::new("torchlean-conv");
    let json = repo_root().join("tests/fixtures/torchlean/conv_unbatched.json");
    let (code, _, err) = run_in(
        &dir.0,
        &[
            "import",
            "torchlean",
            json.to_str().unwrap(),
            "-o",
            "conv.tl",
        ],
    );
    assert_eq!(code, 0, "{err}");
    let x = dir.0.join("x.npy");
    let data: Vec<f32> = (1..=18).map(|v| v as f32).collect();
    write_npy(&x, &[2, 3, 3], &data);
    let arg = format!("x={}", x.display());
    for engine in ["reference", "compiled"] {
        let out = run_json(&dir.0, &["conv.tl", "--input", &arg, "--engine", engine]);
        // Diagonal sums of channel 0's 2x2 windows + 0.5, anti-diagonal sums of channel 1's - 1.
        assert_eq!(
            values(&out["flatten_3"]),
            (vec![2], vec![14.5, 31.0]),
            "{engine}"
        );
        let (shape, pooled) = values(&out["avg_pool_4"]);
        assert_eq!(shape, [2, 3, 2]);
        assert_eq!(pooled[..6], [0.5, 2.5, 2.0, 5.5, 3.5, 8.5], "{engine}");
    }
}

#[test]
fn torchlean_export_lists_every_node_it_cannot_express() {
    let dir = TempDir::new("torchlean-refused");
    let examples = repo_root().join("spec-examples");
    let spec = examples.join("transformer_encoder.tl");
    let (code, _, err) = run_in(
        &dir.0,
        &[
            "export",
            "torchlean",
            spec.to_str().unwrap(),
            "--graph",
            "encoder_layer",
            "--dim",
            "B=1",
            "--dim",
            "T=4",
            "-o",
            "t.json",
        ],
    );
    assert_eq!(code, 1);
    assert!(
        err.contains("error[TL0552]")
            && err.contains("`gelu`")
            && err.contains("`attention_weights`"),
        "{err}"
    );
    let spec = examples.join("regression_training.tl");
    let (code, _, err) = run_in(
        &dir.0,
        &[
            "export",
            "torchlean",
            spec.to_str().unwrap(),
            "--graph",
            "training_loss",
            "--dim",
            "N=2",
            "-o",
            "r.json",
        ],
    );
    assert_eq!(code, 1);
    assert!(err.contains("error[TL0555]"), "{err}");
    std::fs::write(dir.0.join("odd.json"), r#"{"format": "torchlean.ir.v1", "input_id": 0, "output_ids": [1], "nodes": [{"id": 0, "kind": "input", "parents": [], "shape": [2]}, {"id": 1, "kind": "sin", "parents": [0], "shape": [2]}]}"#).unwrap();
    let (code, _, err) = run_in(&dir.0, &["import", "torchlean", "odd.json", "-o", "odd.tl"]);
    assert_eq!(code, 1);
    assert!(
        err.contains("error[TL0551]") && err.contains("node 1 `sin`"),
        "{err}"
    );
}

#[test]
fn every_engine_code_is_explained() {
    let dir = TempDir::new("explain");
    for code in [
        "TL0530", "TL0531", "TL0532", "TL0533", "TL0534", "TL0540", "TL0541", "TL0550", "TL0551",
        "TL0552", "TL0553", "TL0554", "TL0555",
    ] {
        let (status, out, err) = run_in(&dir.0, &["explain", code]);
        assert_eq!(status, 0, "{code}: {err}");
        assert!(out.contains(code), "{code}: {out}");
    }
}
