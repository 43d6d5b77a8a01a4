//! `tlc export onnx SPEC [--graph G] -o MODEL.onnx`: a graph of a spec as an ONNX model (opset
//! 13, weights as initializers, symbolic extents as `dim_param`s), for onnxruntime or a VNN-LIB
//! verifier. Ops without an ONNX counterpart are refused (TL0580).

use crate::exit;
use crate::export::{required_output, ExportArgs};
use crate::run::{resolve, CliError};

pub fn run(args: &ExportArgs) -> Result<(), CliError> {
    if args.contract.is_some() || !args.dims.is_empty() {
        return Err(CliError::new(
            "TL0582",
            "tlc export onnx takes a spec and --graph (no contract, no --dim: symbolic extents stay symbolic)",
            exit::USAGE,
        ));
    }
    let output = required_output(args)?;
    let runnable = resolve(&args.spec, args.graph.as_deref())?;
    let bytes = runnable
        .with_payload(tl_kernels::onnx::export_bytes)
        .map_err(|e| CliError::new(e.code(), e.to_string(), exit::FINDINGS))?;
    std::fs::write(output, bytes).map_err(|e| {
        CliError::new(
            "TL0541",
            format!("cannot write {}: {e}", output.display()),
            exit::USAGE,
        )
    })
}
