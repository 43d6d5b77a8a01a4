//! The model-zoo ops of issue 15 (Pad in its three modes and both input forms, Elu, Selu,
//! HardSigmoid, HardSwish, PRelu, the variadic Sum/Mean/Max/Min, and a MobileNetV3 block with
//! depthwise convolution, explicit Pad and squeeze-and-excitation, a GPT-2 masked attention block
//! with Where/Trilu/Range causal masks) at several opsets, generated
//! at test time with random weights by tools/onnx_zoo/make_zoo_models.py and compared with
//! onnxruntime's outputs in both engines: the reference `denote` (f64) and the compiled plan
//! (f32), each within 1e-4 relative to the output's scale (its largest magnitude). Bad input
//! (negative pads, pads computed from data) must give the coded error naming the node.
//!
//! Skips, with the reason printed, when python3 or its onnx/onnxruntime/numpy packages are absent
//! (pip install onnx onnxruntime numpy).

mod generated;

use std::collections::BTreeMap;

use generated::{generate, max_rel_err};

use tl_kernels::{compile, denote, onnx, payload, Tensor};

#[test]
fn zoo_models_match_onnxruntime_in_both_engines_and_bad_ones_are_refused_by_node() {
    let Some(dir) = generate("make_zoo_models.py", "onnx zoo models") else {
        return;
    };
    let manifest = std::fs::read_to_string(dir.join("manifest.txt")).unwrap();
    let names: Vec<&str> = manifest.lines().filter(|l| !l.is_empty()).collect();
    assert!(names.len() >= 15, "{names:?}");
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
        if name.starts_with("gpt2_attention") {
            // The masks must import as where/trilu nodes (or folded), not vanish.
            let ops: Vec<tl_ir::Op> = imported
                .graph
                .nodes
                .iter()
                .filter_map(|n| match n.kind {
                    tl_ir::NodeKind::Op { op, .. } => Some(op),
                    _ => None,
                })
                .collect();
            let opset: i64 = name.rsplit("op").next().unwrap().parse().unwrap();
            if !ops.contains(&tl_ir::Op::Where) || (opset >= 14 && !ops.contains(&tl_ir::Op::Trilu))
            {
                failures.push(format!("{name}: no where/trilu node in {ops:?}"));
            }
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
