//! tl's bound-propagation verifier.
//!
//! Input: a `tl_ir::Graph`, a payload of f64 weights keyed by param key, and an input box (or a
//! VNN-LIB property). Output: sound bounds of the outputs (IBP, CROWN, alpha-CROWN), or a verdict
//! from branch and bound: verified (with a checkable certificate), falsified (with a counterexample
//! confirmed by concrete execution in f32 and f64), unknown or timeout. Soundness over the reals
//! and for an f32 executor is argued in docs/bounds.md.

pub mod alpha;
pub mod attack;
pub mod bab;
pub mod certificate;
pub mod crown;
pub mod error;
pub mod execute;
pub mod f32_noise;
pub mod float_error;
pub mod independent;
mod independent_smooth;
pub mod lower;
pub mod net;
pub mod onnx;
pub mod relax;
pub mod rounding;
pub mod runner;
pub mod stop;
pub mod unary;
pub mod vnnlib;
pub mod vnnlib2;

pub use attack::Counterexample;
pub use bab::{verify, BabConfig, BabResult, Branching, Stats, Verdict};
pub use certificate::{check_certificate, Certificate, CheckReport};
pub use crown::{
    compute_bounds, Alphas, Analysis, CrownOptions, InputBox, LinearBound, Method, OutputBounds,
    ReluSplit,
};
pub use error::{codes, BoundsError, Span};
pub use execute::Executor;
pub use independent::{check_independently, check_independently_until, refutes_box};
pub use lower::Payload;
pub use net::{BoundNet, ConcatPart, Layer, NetNode};
pub use runner::{format_result, run_instance, run_instance_with, write_result, Instance};
pub use stop::{Stop, StopReason};
pub use unary::UnaryFn;
pub use vnnlib::{Case, OutputConstraint, Property};
