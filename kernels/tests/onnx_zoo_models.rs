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

use generated::check_corpus_with;

#[test]
fn zoo_models_match_onnxruntime_in_both_engines_and_bad_ones_are_refused_by_node() {
    check_corpus_with(
        "make_zoo_models.py",
        "onnx zoo models",
        15,
        &|name, graph| {
            if !name.starts_with("gpt2_attention") {
                return None;
            }
            // The masks must import as where/trilu nodes (or folded), not vanish.
            let ops: Vec<tl_ir::Op> = graph
                .nodes
                .iter()
                .filter_map(|n| match n.kind {
                    tl_ir::NodeKind::Op { op, .. } => Some(op),
                    _ => None,
                })
                .collect();
            let opset: i64 = name.rsplit("op").next()?.parse().ok()?;
            (!ops.contains(&tl_ir::Op::Where) || (opset >= 14 && !ops.contains(&tl_ir::Op::Trilu)))
                .then(|| format!("no where/trilu node in {ops:?}"))
        },
    );
}
