//! ONNX LSTM, GRU and RNN (issue 15) as torch.onnx.export emits them (forward, reverse and
//! bidirectional; with and without initial states and biases; GRU with linear_before_reset 0 and
//! 1; RNN with Tanh and Relu; batch-first by a Transpose; two stacked layers; each of Y, Y_h and
//! Y_c used), at opsets 9-21, generated at test time with random weights by
//! tools/onnx_zoo/make_rnn_models.py. tl unrolls them at import; both engines must match
//! onnxruntime within 1e-4 relative to the output's scale. Forms tl does not unroll (clip, custom
//! activations, sequence_lens, a symbolic sequence length) must give TL0526 naming the node.
//!
//! Skips, with the reason printed, when python3 or its onnx/onnxruntime/numpy packages are absent
//! (pip install onnx onnxruntime numpy).

mod generated;

use generated::check_corpus;

#[test]
fn recurrent_models_match_onnxruntime_in_both_engines_and_bad_ones_are_refused_by_node() {
    check_corpus("make_rnn_models.py", "onnx rnn models", 30);
}
