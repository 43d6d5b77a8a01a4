//! The `torchlean.ir.v1` op spellings (TorchLean's `NN/Runtime/PyTorch/Wire.lean`, `Wire.opTag`)
//! and which tl op each one corresponds to.

use tl_ir::Op;

/// The format marker in the root `format` field.
pub const FORMAT: &str = "torchlean.ir.v1";

/// Every v1 wire spelling, with the tl op it imports to, or why it does not.
pub const WIRE_OPS: &[(&str, Result<Op, &str>)] = &[
    ("input", Err("graph input, not an op")),
    ("const", Err("becomes a param holding its `values`")),
    ("permute", Ok(Op::Permute)),
    ("transpose", Ok(Op::Transpose)),
    ("detach", Ok(Op::Identity)),
    ("rand_uniform", Err("random sampling has no tl op")),
    ("bernoulli_mask", Err("random masks have no tl op")),
    ("add", Ok(Op::Add)),
    ("sub", Ok(Op::Sub)),
    ("mul_elem", Ok(Op::Mul)),
    ("abs", Ok(Op::Abs)),
    ("sqrt", Ok(Op::Sqrt)),
    ("inv", Err("tl has no reciprocal op")),
    ("max_elem", Err("tl has no elementwise maximum")),
    ("min_elem", Err("tl has no elementwise minimum")),
    // One or two spatial axes; the leading axes are reshaped around the op when needed.
    ("max_pool", Ok(Op::MaxPool2d)),
    ("avg_pool", Ok(Op::AvgPool2d)),
    ("broadcast_to", Err("tl has no explicit broadcast op")),
    ("reduce_sum", Ok(Op::Sum)),
    ("reduce_mean", Ok(Op::Mean)),
    ("sum", Ok(Op::Sum)),
    ("matmul", Ok(Op::Matmul)),
    ("linear", Ok(Op::Linear)),
    // `conv1d` when `spatial_rank` is 1.
    ("conv", Ok(Op::Conv2d)),
    ("batch_norm_eval", Ok(Op::BatchNorm)),
    ("relu", Ok(Op::Relu)),
    ("tanh", Ok(Op::Tanh)),
    ("sigmoid", Ok(Op::Sigmoid)),
    ("softplus", Ok(Op::Softplus)),
    ("safe_log", Err("tl has no safe_log op")),
    ("exp", Ok(Op::Exp)),
    ("log", Ok(Op::Log)),
    ("sin", Err("tl has no sin op")),
    ("cos", Err("tl has no cos op")),
    ("softmax", Ok(Op::Softmax)),
    (
        "hard_masked_softmax",
        Err("TorchLean v1 has no artifact encoding for its mask"),
    ),
    ("layernorm", Ok(Op::LayerNorm)),
    ("reshape", Ok(Op::Reshape)),
    ("flatten", Ok(Op::Reshape)),
    ("concat", Ok(Op::Concat)),
    ("mse_loss", Ok(Op::MseLoss)),
    ("custom", Err("custom ops have no tl meaning")),
    ("tuple_getitem", Err("tuple values are not tensors")),
    (
        "multihead_attention",
        Err("tuple-valued attention is not imported"),
    ),
];

/// The tl op a wire spelling imports to; `Err` says why there is none (or that the spelling is
/// not a v1 op at all).
pub fn tl_op_for_wire(kind: &str) -> Result<Op, String> {
    match WIRE_OPS.iter().find(|(k, _)| *k == kind) {
        Some((_, Ok(op))) => Ok(*op),
        Some((_, Err(why))) => Err((*why).to_string()),
        None => Err("not a torchlean.ir.v1 op spelling".to_string()),
    }
}
