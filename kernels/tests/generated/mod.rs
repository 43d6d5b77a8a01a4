//! Shared by the generated-model tests: run a python generator from tools/onnx_zoo/ into a fresh
//! temporary directory, and compare an engine's output with onnxruntime's.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use tl_kernels::{compile, denote, onnx, payload, Tensor};

/// Runs `tools/onnx_zoo/SCRIPT OUT_DIR`; `None` (with the reason printed) when python3 or its
/// onnx/onnxruntime/numpy packages are absent. `what` names the models in the messages.
pub fn generate(script: &str, what: &str) -> Option<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let script = root.join("tools/onnx_zoo").join(script);
    let tag = what.replace(' ', "-");
    let dir = std::env::temp_dir().join(format!("tl-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let out = match Command::new("python3").arg(&script).arg(&dir).output() {
        Ok(out) => out,
        Err(e) => {
            eprintln!("SKIP {what}: python3 is not available ({e})");
            return None;
        }
    };
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        if err.contains("ModuleNotFoundError") {
            eprintln!(
                "SKIP {what}: {} (pip install onnx onnxruntime numpy)",
                err.lines().last().unwrap_or("")
            );
            return None;
        }
        panic!("the generator failed:\n{err}");
    }
    Some(dir)
}

/// The largest |got - want| relative to the output's scale (its largest magnitude).
pub fn max_rel_err(got: &Tensor, want: &Tensor) -> f64 {
    assert_eq!(got.shape(), want.shape());
    let (g, w) = (got.to_f64(), want.to_f64());
    let scale = w.iter().fold(0.0f64, |m, v| m.max(v.abs())).max(1e-30);
    g.iter()
        .zip(w.iter())
        .map(|(a, b)| (a - b).abs() / scale)
        .fold(0.0, f64::max)
}

/// Generates a corpus with `script` (see [`generate`]) and checks it: every model in
/// manifest.txt imports and runs in both engines (reference f64, compiled f32) within 1e-4 of
/// onnxruntime relative to the output's scale, and every `NAME CODE NODE` line of bad.txt is
/// refused with that code naming that node. Skips (printed) when the generator cannot run.
#[allow(dead_code)]
pub fn check_corpus(script: &str, what: &str, min_models: usize) {
    check_corpus_with(script, what, min_models, &|_, _| None)
}

/// [`check_corpus`] plus `structure(name, imported graph)`: a failure message when an imported
/// model lacks what it must contain (the ops a family is meant to exercise).
pub fn check_corpus_with(
    script: &str,
    what: &str,
    min_models: usize,
    structure: &dyn Fn(&str, &tl_ir::Graph) -> Option<String>,
) {
    let Some(dir) = generate(script, what) else {
        return;
    };
    let manifest = std::fs::read_to_string(dir.join("manifest.txt")).unwrap();
    let names: Vec<&str> = manifest.lines().filter(|l| !l.is_empty()).collect();
    assert!(names.len() >= min_models, "{names:?}");
    let mut failures = Vec::new();
    for name in &names {
        let model = onnx::load(&dir.join(format!("{name}.onnx"))).unwrap();
        let imported = match onnx::import(&model) {
            Ok(m) => m,
            Err(e) => {
                failures.push(format!("{name}: import: [{}] {e}", e.code()));
                continue;
            }
        };
        if let Some(why) = structure(name, &imported.graph) {
            failures.push(format!("{name}: {why}"));
        }
        let x = payload::npy::read(&dir.join(format!("{name}.input.x.npy"))).unwrap();
        let want = payload::npy::read(&dir.join(format!("{name}.expected.y.npy"))).unwrap();
        let out = std::fs::read_to_string(dir.join(format!("{name}.output"))).unwrap();
        let inputs: BTreeMap<String, Tensor> = [("x".to_string(), x)].into();
        match denote(&imported.graph, &imported.payload, &inputs) {
            Ok(d) => {
                let err = max_rel_err(d.output(&out).unwrap(), &want);
                if err > 1e-4 {
                    failures.push(format!(
                        "{name}: reference differs by {err:.2e} of the scale"
                    ));
                }
            }
            Err(e) => failures.push(format!("{name}: denote: [{}] {e}", e.code())),
        }
        match compile(&imported.graph, &imported.payload).and_then(|p| p.run(&inputs)) {
            Ok(got) => {
                let err = max_rel_err(&got[&out], &want);
                if err > 1e-4 {
                    failures.push(format!(
                        "{name}: compiled differs by {err:.2e} of the scale"
                    ));
                }
            }
            Err(e) => failures.push(format!("{name}: compiled: [{}] {e}", e.code())),
        }
    }
    let bad = std::fs::read_to_string(dir.join("bad.txt")).unwrap();
    for line in bad.lines().filter(|l| !l.is_empty()) {
        let mut parts = line.split(' ');
        let (name, code, node) = (
            parts.next().unwrap(),
            parts.next().unwrap(),
            parts.next().unwrap(),
        );
        let model = onnx::load(&dir.join(format!("{name}.onnx"))).unwrap();
        match onnx::import(&model) {
            Ok(_) => failures.push(format!("{name}: imported, expected {code}")),
            Err(e) if e.code() == code && e.to_string().contains(node) => {}
            Err(e) => failures.push(format!(
                "{name}: [{}] {e}, expected {code} naming {node}",
                e.code()
            )),
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
