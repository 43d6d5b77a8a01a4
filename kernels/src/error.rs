//! Coded errors. Execution problems (bad shapes, bad arguments) are `KernelError` with codes
//! TL05xx; problems with payload files (weights, ONNX models) are `PayloadError` with codes TL03xx.
//! Every code has a section in docs/diagnostics.md.

use crate::dtype::DType;
use thiserror::Error;

pub type KernelResult<T> = Result<T, KernelError>;
pub type PayloadResult<T> = Result<T, PayloadError>;

/// An error raised while running a kernel.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum KernelError {
    /// TL0501: an operand has the wrong rank or its dims do not fit the op.
    #[error("{op}: {detail}")]
    Shape { op: &'static str, detail: String },
    /// TL0502: two operands cannot be broadcast together (numpy rules).
    #[error("{op}: cannot broadcast shapes {lhs:?} and {rhs:?}")]
    Broadcast {
        op: &'static str,
        lhs: Vec<usize>,
        rhs: Vec<usize>,
    },
    /// TL0503: a scalar argument (axis, stride, eps, ...) is out of its domain.
    #[error("{op}: invalid argument: {detail}")]
    Argument { op: &'static str, detail: String },
    /// TL0504: an operand has a dtype the op does not accept.
    #[error("{op}: expected {expected}, found {found}")]
    DType {
        op: &'static str,
        expected: &'static str,
        found: DType,
    },
    /// TL0505: an index operand (label, gather index) is outside its range.
    #[error("{op}: index {index} is out of range for a dimension of size {size}")]
    Index {
        op: &'static str,
        index: i64,
        size: usize,
    },
    /// TL0506: the number of elements of a result overflows `usize`.
    #[error("{op}: tensor of shape {shape:?} has too many elements")]
    Overflow { op: &'static str, shape: Vec<usize> },
    /// TL0507: an op got the wrong number of operands.
    #[error("{op}: expected {expected} operands, got {found}")]
    Arity {
        op: &'static str,
        expected: &'static str,
        found: usize,
    },
    /// TL0508: the backend has no kernel for this op (or this dtype).
    #[error("backend {backend} cannot run {op}: {detail}")]
    Unsupported {
        backend: &'static str,
        op: &'static str,
        detail: String,
    },
}

impl KernelError {
    pub fn code(&self) -> &'static str {
        match self {
            KernelError::Shape { .. } => "TL0501",
            KernelError::Broadcast { .. } => "TL0502",
            KernelError::Argument { .. } => "TL0503",
            KernelError::DType { .. } => "TL0504",
            KernelError::Index { .. } => "TL0505",
            KernelError::Overflow { .. } => "TL0506",
            KernelError::Arity { .. } => "TL0507",
            KernelError::Unsupported { .. } => "TL0508",
        }
    }

    pub(crate) fn shape(op: &'static str, detail: impl Into<String>) -> Self {
        KernelError::Shape {
            op,
            detail: detail.into(),
        }
    }

    pub(crate) fn argument(op: &'static str, detail: impl Into<String>) -> Self {
        KernelError::Argument {
            op,
            detail: detail.into(),
        }
    }
}

/// An error raised while reading a payload file: weights (`.npy`, `.safetensors`) or an ONNX model.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum PayloadError {
    /// TL0301: the file cannot be opened or read.
    #[error("{path}: cannot read file: {message}")]
    Io { path: String, message: String },
    /// TL0302: the `.npy` header is malformed.
    #[error("{path}: malformed .npy header: {detail}")]
    NpyHeader { path: String, detail: String },
    /// TL0303: the file stores an element type tl does not read.
    #[error("{path}: unsupported element type {dtype}")]
    UnsupportedDType { path: String, dtype: String },
    /// TL0304: the data section is shorter or longer than the declared shape needs.
    #[error("{path}: tensor {name} needs {expected} bytes of data but the file holds {found}")]
    DataLength {
        path: String,
        name: String,
        expected: u64,
        found: u64,
    },
    /// TL0305: the product of the declared dims overflows.
    #[error("{path}: tensor {name} has shape {shape:?} whose element count overflows")]
    ShapeOverflow {
        path: String,
        name: String,
        shape: Vec<u64>,
    },
    /// TL0306: the `.safetensors` file is malformed.
    #[error("{path}: malformed .safetensors file: {detail}")]
    Safetensors { path: String, detail: String },
    /// TL0307: a requested tensor name is not in the file.
    #[error("{path}: no tensor named {name}")]
    TensorNotFound { path: String, name: String },
    /// TL0308: a stored value does not fit the tensor type tl holds it in (u64 above i64::MAX).
    #[error("{path}: tensor {name}: {detail}")]
    ValueRange {
        path: String,
        name: String,
        detail: String,
    },
    /// TL0310: the ONNX file is not a valid ModelProto.
    #[error("{path}: not a valid ONNX model: {detail}")]
    OnnxDecode { path: String, detail: String },
    /// TL0311: an ONNX tensor (initializer or constant) is malformed.
    #[error("{path}: ONNX tensor {name}: {detail}")]
    OnnxTensor {
        path: String,
        name: String,
        detail: String,
    },
    /// TL0312: an ONNX tensor's external data file is missing, escapes the model folder, or is short.
    #[error("{path}: external data of ONNX tensor {name}: {detail}")]
    OnnxExternalData {
        path: String,
        name: String,
        detail: String,
    },
    /// TL0313: the ONNX graph structure is malformed (no graph, unnamed values, bad attributes).
    #[error("{path}: malformed ONNX graph: {detail}")]
    OnnxGraph { path: String, detail: String },
}

impl PayloadError {
    pub fn code(&self) -> &'static str {
        match self {
            PayloadError::Io { .. } => "TL0301",
            PayloadError::NpyHeader { .. } => "TL0302",
            PayloadError::UnsupportedDType { .. } => "TL0303",
            PayloadError::DataLength { .. } => "TL0304",
            PayloadError::ShapeOverflow { .. } => "TL0305",
            PayloadError::Safetensors { .. } => "TL0306",
            PayloadError::TensorNotFound { .. } => "TL0307",
            PayloadError::ValueRange { .. } => "TL0308",
            PayloadError::OnnxDecode { .. } => "TL0310",
            PayloadError::OnnxTensor { .. } => "TL0311",
            PayloadError::OnnxExternalData { .. } => "TL0312",
            PayloadError::OnnxGraph { .. } => "TL0313",
        }
    }
}
