//! tl-kernels: the numeric core of tl.
//!
//! - [`Tensor`] and [`DType`]: owned n-d arrays (f32, f64, i64) and element types.
//! - [`cpu`]: kernels over ndarray, generic over f32/f64, each validating its shapes.
//! - [`Backend`]: the device-agnostic interface evaluators call, with [`CpuBackend`].
//! - [`payload`]: weight loaders (`.npy`, `.safetensors`) and header-only inspection.
//! - [`onnx`]: ONNX model loading.
//! - [`autograd`]: reverse-mode gradients over the reference evaluator, and finite differences.
//! - [`exec`]: the reference evaluator [`denote`] (f64) and the compiled [`Plan`] (f32) over tl-ir graphs.
//!
//! Errors carry stable codes: TL03xx for payload files, TL05xx for execution.

pub mod autograd;
pub mod backend;
pub mod cpu;
pub mod dtype;
pub mod error;
pub mod exec;
pub mod onnx;
pub mod payload;
pub mod real;
pub mod tensor;
pub mod torchlean;

pub use autograd::{gradients, AutogradError, Gradients, Objective, Wrt};
pub use backend::{Backend, CpuBackend, KernelOp, MaskKind};
pub use dtype::DType;
pub use error::{KernelError, KernelResult, PayloadError, PayloadResult};
pub use exec::{compile, denote, Denotation, ExecError, ExecResult, Payload, Plan, PlanStats};
pub use real::Real;
pub use tensor::Tensor;
