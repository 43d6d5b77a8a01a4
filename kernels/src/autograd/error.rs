//! Why a gradient cannot be computed.

use crate::exec::ExecError;
use thiserror::Error;

/// An error while differentiating a graph.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum AutogradError {
    /// The forward evaluation, or a backward rule's operands, failed (TL03xx/TL05xx codes of the
    /// underlying error).
    #[error(transparent)]
    Exec(#[from] ExecError),
    /// TL0560: a node on a path from a float input or param to the output has no backward rule.
    #[error("node {node} ({op}) has no backward rule: {detail}")]
    NoRule {
        node: String,
        op: &'static str,
        detail: String,
    },
    /// TL0561: the requested output is not in the graph or is not a float value.
    #[error("cannot differentiate `{output}`: {detail}")]
    NotDifferentiable { output: String, detail: String },
}

impl AutogradError {
    pub fn code(&self) -> &'static str {
        match self {
            AutogradError::Exec(e) => e.code(),
            AutogradError::NoRule { .. } => "TL0560",
            AutogradError::NotDifferentiable { .. } => "TL0561",
        }
    }
}

pub type AutogradResult<T> = Result<T, AutogradError>;
