//! `tlc`: check, format, explain, run and verify `.tl` specs, and serve them to editors.

mod bounds;
mod bounds_nodes;
mod certificate;
mod check;
mod explain;
mod export;
mod export_onnx;
mod export_vnnlib;
mod fmt;
mod graph;
mod import;
mod render;
mod report;
mod run;
mod sources;
mod tolerance;
mod trust;
mod verify;
mod vnncomp;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Exit statuses shared by every subcommand (documented in README.md).
pub mod exit {
    /// Clean: no errors (for `verify`: every contract meets the bar).
    pub const OK: u8 = 0;
    /// Findings: errors in the specs, unformatted files, contracts below the bar.
    pub const FINDINGS: u8 = 1;
    /// Usage or I/O error (for `verify`: the specs have errors).
    pub const USAGE: u8 = 2;
}

/// An answer from a `tl_ide::Analysis` snapshot. `tlc` applies no change to its host while it
/// holds a snapshot, so nothing it asks can be cancelled.
pub fn uncancelled<T>(answer: tl_ide::Cancellable<T>) -> T {
    answer.unwrap_or_else(|_| unreachable!("tlc changes no input while it analyses"))
}

#[derive(Parser)]
#[command(
    name = "tlc",
    version,
    about = "Check, verify and format tl specs: IR graphs, contracts, tolerances and assumptions",
    after_help = "Examples:\n  tlc check spec-examples/\n  tlc fmt --check spec-examples/mnist_mlp.tl\n  tlc explain TL0201\n\nDocs: docs/language.md (the language), docs/diagnostics.md (every code)."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Parse and analyse specs; print every diagnostic. Exit 0 clean, 1 errors, 2 usage/I/O error.
    #[command(
        after_help = "Examples:\n  tlc check spec-examples/\n  tlc check model.tl --format short"
    )]
    Check {
        /// Files or directories (searched recursively for *.tl).
        #[arg(required = true)]
        paths: Vec<PathBuf>,
        /// `human` (source snippets) or `short` (one line per diagnostic).
        #[arg(long, default_value = "human", value_parser = ["human", "short"])]
        format: String,
        /// Treat warnings as errors.
        #[arg(long)]
        deny_warnings: bool,
    },
    /// Format specs in place (or check that they are formatted). Keeps comments; idempotent.
    #[command(
        after_help = "Examples:\n  tlc fmt spec-examples/\n  tlc fmt --check model.tl\n  cat model.tl | tlc fmt -"
    )]
    Fmt {
        /// Files or directories; `-` reads standard input and writes standard output.
        #[arg(required = true)]
        paths: Vec<PathBuf>,
        /// Do not write; exit 1 if a file would change, and print which.
        #[arg(long)]
        check: bool,
    },
    /// Run a graph (or a spec's ONNX import) on .npy inputs; print its outputs. Exit 1 on non-finite outputs.
    Run(run::RunArgs),
    /// Write a spec for an ONNX model or a TorchLean graph.
    Import(import::ImportArgs),
    /// Write a graph of a spec as a TorchLean torchlean.ir.v1 JSON graph.
    Export(export::ExportArgs),
    /// Run the language server on standard input and output (LSP 3.17).
    Lsp,
    /// Print a graph of a spec: mermaid (the spec's view), Graphviz DOT or JSON (the lowered IR).
    Graph(graph::GraphArgs),
    /// Show each contract's status with its chain of evidence, assumptions and trust boundaries, and each graph's coverage per proof layer.
    Trust(trust::TrustArgs),
    /// Print the documentation of a diagnostic code.
    #[command(after_help = "Example:\n  tlc explain TL0201")]
    Explain {
        /// A code such as TL0201.
        code: String,
    },
    /// Run every contract's checks; report statuses for CI. Exit 0 meets the bar, 1 below it, 2 spec errors, 3 usage/I/O.
    Verify(verify::VerifyArgs),
    /// Merge JSON reports of `tlc verify --shard` runs.
    Merge(verify::MergeArgs),
    /// Sound bounds of a graph's outputs over an L-infinity ball (IBP, CROWN, alpha-CROWN).
    Bounds(bounds::BoundsArgs),
    /// Derived float budgets per node: |compiled f32 - real| and |reference f64 - real| over each
    /// equivalence contract's input set (or --box), against the declared tolerance.
    Tolerance(tolerance::ToleranceArgs),
    /// Write one self-contained HTML page: the graph laid out, each contract's ledger, per-node
    /// bounds (diagnostic views labelled as such).
    Report(report::ReportArgs),
    /// Decide a VNN-COMP instance (ONNX network + VNN-LIB property); write the result file.
    Vnncomp(vnncomp::VnncompArgs),
    /// Check branch-and-bound certificates.
    #[command(subcommand)]
    Certificate(certificate::CertificateCommand),
}

fn main() -> ExitCode {
    restore_default_sigpipe();
    let cli = Cli::parse();
    let code = match cli.command {
        Command::Check {
            paths,
            format,
            deny_warnings,
        } => check::run(&paths, &format, deny_warnings),
        Command::Fmt { paths, check } => fmt::run(&paths, check),
        Command::Explain { code } => explain::run(&code),
        Command::Trust(args) => trust::run(args),
        Command::Verify(args) => verify::run(args),
        Command::Merge(args) => verify::merge(args),
        Command::Bounds(args) => bounds::run(args),
        Command::Tolerance(args) => tolerance::run(args),
        Command::Report(args) => report::run(args),
        Command::Vnncomp(args) => vnncomp::run(args),
        Command::Certificate(cmd) => certificate::run(cmd),
        Command::Lsp => match tl_lsp::run_stdio() {
            Ok(()) => exit::OK,
            Err(e) => {
                eprintln!("tlc lsp: {e}");
                exit::USAGE
            }
        },
        Command::Run(args) => run::run(args),
        Command::Graph(args) => graph::run(args),
        Command::Import(args) => import::run(args),
        Command::Export(args) => export::run(args),
    };
    ExitCode::from(code)
}

/// Rust ignores SIGPIPE, so `tlc explain TL0101 | head` would panic on the closed pipe ("failed
/// printing to stdout"). Restoring the default action ends tlc quietly, as other Unix tools do;
/// `tlc lsp` then also ends when its client closes the pipe, which is what it should do.
fn restore_default_sigpipe() {
    #[cfg(unix)]
    // SAFETY: called first in main, before any thread exists; SIG_DFL is a valid action.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}
