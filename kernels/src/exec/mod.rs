//! Executing tl-ir graphs: the reference evaluator [`denote`] (the spec semantics, node by node
//! in f64) and the compiler [`compile`] to a [`Plan`] run in f32. Both lower each node through the
//! same [`lower`] table to a [`crate::KernelOp`], so they cannot disagree on what an op means, only
//! on the precision and the schedule.

mod bind;
mod compiled;
mod index_map;
mod lower;
mod reference;
mod schedule;
mod session;

pub use bind::Payload;
pub use compiled::{check_lowering, compile, Plan, PlanStats};
pub use index_map::check_index_map;
pub use reference::{denote, Denotation};
pub use session::Session;

// Autograd lowers nodes exactly as the engines do.
pub(crate) use lower::{lower, Lowered};

use crate::error::{KernelError, PayloadError};
use thiserror::Error;

/// An error while running a graph.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum ExecError {
    /// A kernel failed on a node (the inner error has the TL05xx code).
    #[error("node {node}: {source}")]
    Kernel { node: String, source: KernelError },
    /// A payload tensor could not be read (the inner error has the TL03xx code).
    #[error(transparent)]
    Payload(#[from] PayloadError),
    /// TL0510: no tensor was given for a graph input.
    #[error("no value given for graph input {name}")]
    MissingInput { name: String },
    /// TL0511: an input tensor does not match the graph's declared shape or dtype.
    #[error("graph input {name}: {detail}")]
    InputMismatch { name: String, detail: String },
    /// TL0512: a payload tensor does not match its param declaration.
    #[error("param {key}: {detail}")]
    ParamMismatch { key: String, detail: String },
    /// TL0513: a node cannot be lowered to kernels (bad or unsupported attributes).
    #[error("node {node} ({op}) cannot be lowered: {detail}")]
    Lowering {
        node: String,
        op: &'static str,
        detail: String,
    },
    /// TL0514: the graph violates the IR invariants.
    #[error("invalid graph: {detail}")]
    InvalidGraph { detail: String },
    /// TL0520: the ONNX model uses ops tl does not import; lists every (op type, node name).
    #[error("unsupported ONNX ops: {}", ops.iter().map(|(op, node)| format!("{op} (node {node})")).collect::<Vec<_>>().join(", "))]
    UnsupportedOnnxOps { ops: Vec<(String, String)> },
    /// TL0521: a supported ONNX op uses an attribute value or input form tl cannot express.
    #[error("ONNX node {node}: {detail}")]
    OnnxImport { node: String, detail: String },
    /// TL0570: an ONNX shape computation (Shape, Gather, Concat, ... feeding a Reshape or another
    /// shape input) cannot be folded at import: it depends on tensor data, or on symbolic
    /// extents in a way tl's static shapes cannot express.
    #[error("ONNX node {node}: shape computation cannot be folded at import: {detail}")]
    OnnxShape { node: String, detail: String },
    /// TL0526: an ONNX `LSTM`/`GRU`/`RNN` in a form the import-time unrolling cannot express
    /// (clip, non-default activations, peepholes, sequence_lens, a symbolic sequence length, ...).
    #[error("ONNX node {node}: recurrent op cannot be unrolled: {detail}")]
    OnnxRecurrent { node: String, detail: String },
}

impl ExecError {
    pub fn code(&self) -> &'static str {
        match self {
            ExecError::Kernel { source, .. } => source.code(),
            ExecError::Payload(e) => e.code(),
            ExecError::MissingInput { .. } => "TL0510",
            ExecError::InputMismatch { .. } => "TL0511",
            ExecError::ParamMismatch { .. } => "TL0512",
            ExecError::Lowering { .. } => "TL0513",
            ExecError::InvalidGraph { .. } => "TL0514",
            ExecError::UnsupportedOnnxOps { .. } => "TL0520",
            ExecError::OnnxImport { .. } => "TL0521",
            ExecError::OnnxShape { .. } => "TL0570",
            ExecError::OnnxRecurrent { .. } => "TL0526",
        }
    }
}

pub type ExecResult<T> = Result<T, ExecError>;

#[cfg(test)]
mod session_tests;
#[cfg(test)]
mod tests;
