//! `tlc export torchlean`: write a graph of a spec as a torchlean.ir.v1 JSON artifact with its
//! weights inline (TorchLean's importer reads them per node). `tlc export onnx` (a graph as an
//! ONNX model, export_onnx.rs) and `tlc export vnnlib` (a contract as a VNN-LIB property,
//! export_vnnlib.rs) hand a spec to other tools.

use std::path::PathBuf;

use clap::Args;
use tl_kernels::torchlean::{export, ExportOptions};

use crate::exit;
use crate::run::{resolve, CliError};

#[derive(Args)]
#[command(
    after_help = "Examples:\n  tlc export torchlean spec-examples/mnist_mlp.tl --dim B=1 -o mnist.json\n  tlc export onnx spec-examples/mnist_mlp.tl --graph mnist_mlp -o mnist.onnx\n  tlc export vnnlib spec-examples/mnist_mlp.tl robust_digit_7 --version 2 -o robust.vnnlib"
)]
pub struct ExportArgs {
    /// The target format: `torchlean` or `onnx` (a graph), `vnnlib` (a contract).
    #[arg(value_parser = ["torchlean", "onnx", "vnnlib"])]
    pub format: String,
    /// The spec.
    pub spec: PathBuf,
    /// `vnnlib` only: the contract to export.
    pub contract: Option<String>,
    /// `vnnlib` only: VNN-LIB version 1 or 2 (2.0 declares float32 tensors of the graph's shapes).
    #[arg(long = "version", value_parser = ["1", "2"], default_value = "2")]
    pub vnnlib_version: String,
    /// The graph to export; needed when the spec has more than one.
    #[arg(long)]
    pub graph: Option<String>,
    /// A value for a symbolic extent (TorchLean shapes are concrete): `B=1`.
    #[arg(long = "dim", value_name = "NAME=N")]
    pub dims: Vec<String>,
    /// The file to write (`vnnlib`: stdout when absent).
    #[arg(short = 'o', long = "output")]
    pub output: Option<PathBuf>,
}

pub fn run(args: ExportArgs) -> u8 {
    match run_inner(&args) {
        Ok(()) => exit::OK,
        Err(e) => e.print(),
    }
}

fn run_inner(args: &ExportArgs) -> Result<(), CliError> {
    match args.format.as_str() {
        "onnx" => return crate::export_onnx::run(args),
        "vnnlib" => return crate::export_vnnlib::run(args),
        _ => {}
    }
    let output = required_output(args)?;
    let mut options = ExportOptions::default();
    for d in &args.dims {
        let parsed = d
            .split_once('=')
            .and_then(|(k, v)| Some((k.to_string(), v.parse::<u64>().ok().filter(|&n| n >= 1)?)));
        let (k, v) = parsed.ok_or_else(|| {
            CliError::new(
                "TL0555",
                format!("--dim {d}: write NAME=N with N >= 1"),
                exit::USAGE,
            )
        })?;
        options.dims.insert(k, v);
    }
    let runnable = resolve(&args.spec, args.graph.as_deref())?;
    let artifact = runnable
        .with_payload(|graph, payload| export(graph, payload, &options))
        .map_err(|e| CliError::new(e.code(), e.to_string(), exit::FINDINGS))?;
    let text = serde_json::to_string_pretty(&artifact).expect("JSON values serialise");
    std::fs::write(output, text + "\n").map_err(|e| {
        CliError::new(
            "TL0541",
            format!("cannot write {}: {e}", output.display()),
            exit::USAGE,
        )
    })
}

/// `-o FILE`, which graph exports need.
pub fn required_output(args: &ExportArgs) -> Result<&PathBuf, CliError> {
    args.output.as_ref().ok_or_else(|| {
        CliError::new(
            "TL0582",
            format!("tlc export {} needs -o FILE", args.format),
            exit::USAGE,
        )
    })
}
