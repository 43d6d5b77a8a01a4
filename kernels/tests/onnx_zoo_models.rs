//! The model-zoo ops of issue 15 (Pad in its three modes and both input forms, Elu, Selu,
//! HardSigmoid, HardSwish, PRelu, the variadic Sum/Mean/Max/Min, and a MobileNetV3 block with
//! depthwise convolution, explicit Pad and squeeze-and-excitation) at several opsets, generated
//! at test time with random weights by tools/onnx_zoo/make_zoo_models.py and compared with
//! onnxruntime's outputs in both engines: the reference `denote` (f64) and the compiled plan
//! (f32), each within 1e-4 relative to the output's scale (its largest magnitude). Bad input
//! (negative pads, pads computed from data) must give the coded error naming the node.
//!
//! Skips, with the reason printed, when python3 or its onnx/onnxruntime/numpy packages are absent
//! (pip install onnx onnxruntime numpy).

mod generated;

use generated::check_corpus;

#[test]
fn zoo_models_match_onnxruntime_in_both_engines_and_bad_ones_are_refused_by_node() {
    check_corpus("make_zoo_models.py", "onnx zoo models", 15);
}
