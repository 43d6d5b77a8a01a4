//! `tlc certificate check`: re-checks a branch-and-bound certificate against a network and a
//! property from scratch (tl-bounds' `check_certificate`: it rebuilds every domain from the split
//! tree and recomputes every bound; nothing recorded in the certificate is trusted).

use std::path::{Path, PathBuf};

use clap::{Args, Subcommand};
use tl_bounds::{codes, BoundNet, Certificate, Property};

use crate::bounds::bounds_error;
use crate::exit;
use crate::run::{resolve, CliError, RunnableGraph};

#[derive(Subcommand)]
pub enum CertificateCommand {
    /// Re-check a certificate (from `tlc vnncomp --certificate`). Exit 0 it checks, 1 it is
    /// rejected or malformed, 2 usage or I/O errors.
    #[command(after_help = "Examples:
  tlc certificate check cert.json net.onnx --vnnlib prop_1.vnnlib
  tlc certificate check cert.json model.tl --graph net --vnnlib prop.vnnlib
  tlc certificate check cert.json model.tl --contract prop_1   (a `given vnnlib(...)` contract)")]
    Check(CheckArgs),
}

#[derive(Args)]
pub struct CheckArgs {
    /// The certificate (JSON).
    pub certificate: PathBuf,
    /// The network: a `.tl` spec, or an `.onnx` file.
    pub spec: PathBuf,
    /// The graph of the spec (when it has several and no --contract names one).
    #[arg(long)]
    pub graph: Option<String>,
    /// A contract of the spec with `given vnnlib(...)`: its target and property.
    #[arg(long, conflicts_with_all = ["vnnlib", "graph"])]
    pub contract: Option<String>,
    /// The property (VNN-LIB).
    #[arg(long)]
    pub vnnlib: Option<PathBuf>,
}

pub fn run(cmd: CertificateCommand) -> u8 {
    let CertificateCommand::Check(args) = cmd;
    match check(&args) {
        Ok(text) => {
            print!("{text}");
            exit::OK
        }
        Err(e) => e.print(),
    }
}

fn read(path: &Path) -> Result<String, CliError> {
    std::fs::read_to_string(path).map_err(|e| {
        CliError::new(
            codes::IO,
            format!("cannot read {}: {e}", path.display()),
            exit::USAGE,
        )
    })
}

fn is_onnx(path: &Path) -> bool {
    path.extension().is_some_and(|e| e == "onnx")
}

fn usage(e: tl_bounds::BoundsError) -> CliError {
    let mut e = bounds_error(e);
    e.status = exit::USAGE;
    e
}

fn check(args: &CheckArgs) -> Result<String, CliError> {
    if args.vnnlib.is_none() && (args.contract.is_none() || is_onnx(&args.spec)) {
        return Err(CliError::new(
            codes::NO_PROPERTY,
            if is_onnx(&args.spec) {
                "an .onnx network needs the property: --vnnlib PROP.vnnlib"
            } else {
                "say which property the certificate is for: --vnnlib PROP.vnnlib or --contract NAME"
            },
            exit::USAGE,
        ));
    }
    let cert = Certificate::from_json(&read(&args.certificate)?).map_err(bounds_error)?;
    let (net, property, described) =
        if let (true, Some(vnnlib)) = (is_onnx(&args.spec), &args.vnnlib) {
            let network = tl_bounds::onnx::load_network(&args.spec).map_err(usage)?;
            let net = BoundNet::from_graph_map(&network.graph, &network.weights, None)
                .map_err(bounds_error)?;
            let prop = tl_bounds::vnnlib::load(vnnlib).map_err(usage)?;
            (net, prop, vnnlib.display().to_string())
        } else if let Some(contract) = &args.contract {
            contract_problem(&args.spec, contract)?
        } else if let Some(vnnlib) = &args.vnnlib {
            let runnable = resolve(&args.spec, args.graph.as_deref()).map_err(|mut e| {
                e.status = exit::USAGE;
                e
            })?;
            let net = net_of(&runnable)?;
            let prop = tl_bounds::vnnlib::load(vnnlib).map_err(usage)?;
            (net, prop, vnnlib.display().to_string())
        } else {
            unreachable!("checked above: a property source is given")
        };
    let report = tl_bounds::check_certificate(&cert, &net, &property, cert.f32_executor)
        .map_err(bounds_error)?;
    Ok(format!(
        "certificate checks: {described} is unsat (checked: {} case(s), {} leaves, {} splits recomputed; {})\n{}\n",
        report.cases,
        report.leaves,
        report.splits,
        if cert.f32_executor {
            "sound over the reals and for an f32 executor"
        } else {
            "sound over the reals"
        },
        independent_line(&cert, &net, &property)
    ))
}

/// The second opinion: the independent checker (tl-bounds' `independent` module, which shares
/// no bound code with the producer) re-derives every leaf. Its relaxations are simpler, so it
/// may fail to re-derive a leaf the producer refuted: that is reported, not hidden.
pub fn independent_line(cert: &Certificate, net: &BoundNet, property: &Property) -> String {
    match tl_bounds::check_independently(cert, net, property, cert.f32_executor) {
        Ok(r) => format!(
            "independent check: passes ({} leaves re-derived by a second evaluator that shares no bound code with the search)",
            r.leaves
        ),
        Err(e) => format!("independent check: does not pass [{}]: {}", e.code, e.message),
    }
}

/// The bound network of a resolved graph, symbolic extents bound to 1.
fn net_of(runnable: &RunnableGraph) -> Result<BoundNet, CliError> {
    let graph = tl_bounds::onnx::bind_symbols_to_one(runnable.graph())
        .map_err(|e| CliError::new(codes::UNSUPPORTED_GRAPH, e, exit::FINDINGS))?;
    runnable.with_payload(|_, payload| {
        let weights = |key: &str| payload.load(key).ok().map(|t| t.to_f64());
        BoundNet::from_graph(&graph, &weights, None).map_err(bounds_error)
    })
}

/// The target network and VNN-LIB property of a contract.
fn contract_problem(spec: &Path, name: &str) -> Result<(BoundNet, Property, String), CliError> {
    // Loads the spec (refusing one with errors) through the same path as `tlc run`.
    let probe = resolve(spec, None);
    if let Err(e) = probe {
        // Several graphs are fine here (the contract names its target); errors are not.
        if e.code == "TL0533" || e.code == "TL0120" {
            return Err(CliError::new(e.code, e.message, exit::USAGE));
        }
    }
    let mut host = tl_ide::AnalysisHost::new();
    let mut change = tl_ide::Change::new();
    change.load_file(spec);
    host.apply_change(change);
    // Load what the specs import (the queries never read the disk).
    host.settle(&[spec.to_path_buf()]);
    let (runnable, vnnlib) = crate::uncancelled(host.analysis().contract_vnnlib_target(spec, name))
        .map_err(|e| {
            let status = if e.usage { exit::USAGE } else { exit::FINDINGS };
            CliError::new(e.code, e.message, status)
        })?;
    let net = net_of(&runnable)?;
    let prop = tl_bounds::vnnlib::load(&vnnlib).map_err(usage)?;
    Ok((net, prop, format!("contract {name} ({})", vnnlib.display())))
}
