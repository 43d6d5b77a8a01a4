//! Coded errors of the bound verifier (TL0600-TL0699, documented in docs/diagnostics.md).

use std::fmt;

/// A position in a text input (VNN-LIB, certificate JSON), 1-based.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Span {
    pub line: usize,
    pub col: usize,
}

impl fmt::Display for Span {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.line, self.col)
    }
}

/// Stable diagnostic codes; each has a section in docs/diagnostics.md.
pub mod codes {
    /// The graph uses an op (or an op form) the verifier has no relaxation for.
    pub const UNSUPPORTED_OP: &str = "TL0600";
    /// A param key is missing from the payload or has the wrong shape.
    pub const BAD_PAYLOAD: &str = "TL0601";
    /// The input box is malformed: wrong length, NaN, or lower > upper.
    pub const BAD_INPUT_BOX: &str = "TL0602";
    /// The graph's structure is outside what the verifier handles (inputs, symbolic shapes, size).
    pub const UNSUPPORTED_GRAPH: &str = "TL0603";
    /// A weight or constant is NaN or infinite.
    pub const NON_FINITE: &str = "TL0604";
    /// A linear specification does not match the output size.
    pub const BAD_SPEC: &str = "TL0605";
    /// An operand's bounds leave the domain of the function applied to it (division by a tensor
    /// whose bounds reach 0, log/sqrt/rsqrt of a possibly non-positive tensor, overflow).
    pub const OUTSIDE_DOMAIN: &str = "TL0606";
    /// The independent certificate checker has no relaxation of its own for a layer kind.
    pub const CHECKER_UNSUPPORTED: &str = "TL0607";
    /// VNN-LIB text is not well-formed (tokens, parentheses, numbers).
    pub const VNNLIB_SYNTAX: &str = "TL0610";
    /// VNN-LIB refers to an undeclared or misnamed variable.
    pub const VNNLIB_UNKNOWN_VAR: &str = "TL0611";
    /// VNN-LIB uses a construct outside the VNN-COMP 1.0 dialect handled here.
    pub const VNNLIB_UNSUPPORTED: &str = "TL0612";
    /// The property's variable counts do not match the network.
    pub const VNNLIB_MISMATCH: &str = "TL0613";
    /// The property has no bounded input box or too many disjunctive cases.
    pub const VNNLIB_BAD_PROPERTY: &str = "TL0614";
    /// A certificate is not valid JSON for the certificate schema.
    pub const CERT_MALFORMED: &str = "TL0620";
    /// A certificate does not check: a leaf is not refuted or the split tree does not cover the box.
    pub const CERT_REJECTED: &str = "TL0621";
    /// A file could not be read or written.
    pub const IO: &str = "TL0630";
    /// An ONNX model could not be imported for verification.
    pub const ONNX: &str = "TL0631";
    /// A command-line value of a verifier command is out of range (time limit).
    pub const BAD_OPTION: &str = "TL0632";
    /// `tlc certificate check` cannot tell which property to check (no usable contract or file).
    pub const NO_PROPERTY: &str = "TL0633";
    /// The time limit was reached before an answer (any stage: import, bounds, search).
    pub const TIMED_OUT: &str = "TL0640";
    /// The run was cancelled (Ctrl-C, an edit in the editor) before an answer.
    pub const CANCELLED: &str = "TL0641";
    /// The verifier's memory ceiling would be exceeded by this network or search.
    pub const MEMORY_CEILING: &str = "TL0642";
    /// tl-kernels' executors could not run the source network on a point (a candidate
    /// counterexample stays unconfirmed).
    pub const EXECUTION: &str = "TL0643";
}

/// An error with a stable code, a message, and where known a position in the input text.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub struct BoundsError {
    pub code: &'static str,
    pub message: String,
    pub span: Option<Span>,
}

impl fmt::Display for BoundsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.span {
            Some(s) => write!(f, "error[{}] at {s}: {}", self.code, self.message),
            None => write!(f, "error[{}]: {}", self.code, self.message),
        }
    }
}

impl BoundsError {
    pub fn new(code: &'static str, message: impl Into<String>) -> BoundsError {
        BoundsError {
            code,
            message: message.into(),
            span: None,
        }
    }
    pub fn at(code: &'static str, span: Span, message: impl Into<String>) -> BoundsError {
        BoundsError {
            code,
            message: message.into(),
            span: Some(span),
        }
    }
}

pub type Result<T, E = BoundsError> = std::result::Result<T, E>;
