//! Shared by the generated-model tests: run a python generator from tools/onnx_zoo/ into a fresh
//! temporary directory, and compare an engine's output with onnxruntime's.

use std::path::{Path, PathBuf};
use std::process::Command;

use tl_kernels::Tensor;

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
