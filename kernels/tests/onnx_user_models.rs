//! The three user models of issue 15 (an MLP, a CNN with BatchNorm and MaxPool, a Transformer
//! block with nn.GELU and nn.MultiheadAttention), in the node patterns torch.onnx.export emits at
//! opsets 13 and 17, generated at test time by tools/onnx_zoo/make_user_models.py and compared
//! with onnxruntime's outputs in both engines: the reference `denote` (f64) and the compiled plan
//! (f32), each within 1e-4 relative to the output's scale (its largest magnitude).
//!
//! Skips, with the reason printed, when python3 or its onnx/onnxruntime/numpy packages are absent
//! (pip install onnx onnxruntime numpy).

mod generated;

use std::collections::BTreeMap;

use generated::{generate, max_rel_err};

use tl_kernels::{compile, denote, onnx, payload, Tensor};

#[test]
fn user_models_import_as_exported_and_match_onnxruntime_in_both_engines() {
    let Some(dir) = generate("make_user_models.py", "onnx user models") else {
        return;
    };
    let manifest = std::fs::read_to_string(dir.join("manifest.txt")).unwrap();
    let names: Vec<&str> = manifest.lines().filter(|l| !l.is_empty()).collect();
    assert!(names.len() >= 9, "{names:?}");
    let mut failures = Vec::new();
    for name in &names {
        let model = onnx::load(&dir.join(format!("{name}.onnx"))).unwrap();
        let dynamic = name.contains("_dyn_");
        if dynamic {
            // Unbound, a symbolic batch is refused where heads split it (batch * 4), with TL0570.
            match onnx::import(&model) {
                Ok(_) if name.starts_with("mlp") => {}
                Ok(_) => failures.push(format!("{name}: imported with an unbound batch")),
                Err(e) if e.code() == "TL0570" && e.to_string().contains("bind") => {}
                Err(e) => failures.push(format!("{name}: unbound import: [{}] {e}", e.code())),
            }
        }
        let x = payload::npy::read(&dir.join(format!("{name}.input.x.npy"))).unwrap();
        // The batch axis: 0 for the MLP, 1 for the (sequence-first) Transformer.
        let batch = x.shape()[usize::from(name.starts_with("transformer"))] as u64;
        let options = onnx::ImportOptions {
            bind: if dynamic {
                [("batch".to_string(), batch)].into()
            } else {
                BTreeMap::new()
            },
        };
        let imported = match onnx::import_with(&model, &options) {
            Ok(m) => m,
            Err(e) => {
                failures.push(format!("{name}: import: [{}] {e}", e.code()));
                continue;
            }
        };
        let want = payload::npy::read(&dir.join(format!("{name}.expected.y.npy"))).unwrap();
        let out = std::fs::read_to_string(dir.join(format!("{name}.output"))).unwrap();
        let inputs: BTreeMap<String, Tensor> = [("x".to_string(), x)].into();
        match denote(&imported.graph, &imported.payload, &inputs) {
            Ok(d) => {
                let err = max_rel_err(d.output(&out).unwrap(), &want);
                // An f64 model (its constant typed f64) runs in f64 in the reference: exact to
                // rounding, where a constant coerced to f32 would be off by ~1e-8.
                let tol = if name.starts_with("f64") { 1e-14 } else { 1e-4 };
                if err > tol {
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
    let _ = std::fs::remove_dir_all(&dir);
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
