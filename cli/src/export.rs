//! `tlc export torchlean`: write a graph of a spec as a torchlean.ir.v1 JSON artifact with its
//! weights inline (TorchLean's importer reads them per node).

use std::path::PathBuf;

use clap::Args;
use tl_kernels::torchlean::{export, ExportOptions};

use crate::exit;
use crate::run::{resolve, CliError};

#[derive(Args)]
#[command(
    after_help = "Example:\n  tlc export torchlean spec-examples/mnist_mlp.tl --dim B=1 -o mnist.json"
)]
pub struct ExportArgs {
    /// The target format (only `torchlean`).
    #[arg(value_parser = ["torchlean"])]
    pub format: String,
    /// The spec.
    pub spec: PathBuf,
    /// The graph to export; needed when the spec has more than one.
    #[arg(long)]
    pub graph: Option<String>,
    /// A value for a symbolic extent (TorchLean shapes are concrete): `B=1`.
    #[arg(long = "dim", value_name = "NAME=N")]
    pub dims: Vec<String>,
    /// The JSON file to write.
    #[arg(short = 'o', long = "output", required = true)]
    pub output: PathBuf,
}

pub fn run(args: ExportArgs) -> u8 {
    match run_inner(&args) {
        Ok(()) => exit::OK,
        Err(e) => e.print(),
    }
}

fn run_inner(args: &ExportArgs) -> Result<(), CliError> {
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
    std::fs::write(&args.output, text + "\n").map_err(|e| {
        CliError::new(
            "TL0541",
            format!("cannot write {}: {e}", args.output.display()),
            exit::USAGE,
        )
    })
}
