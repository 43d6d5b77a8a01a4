//! Element types: the workspace has one dtype enum, tl-ir's (the language's types are the ones
//! payload files and ONNX models declare); the numeric core stores floats as f32/f64 and every
//! integer and bool as i64 (see `Tensor`).

pub use tl_ir::DType;
