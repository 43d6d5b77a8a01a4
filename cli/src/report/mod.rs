//! `tlc report SPEC -o report.html`: one self-contained HTML page (every style and script
//! inline, nothing fetched at view time) with the IR graph laid out (layout-rs), each contract's
//! trust ledger (the same data `tlc trust` prints, from `tl_analysis::ledger`) and per-node
//! IBP/CROWN boxes with a tightness ranking (`tlc bounds --per-node`) for boundable graphs.
//!
//! Each section labels itself: the ledger is the checked artifact rendered; the graph layout,
//! its colours and the bounds table are diagnostic views.

mod html;
mod tape;

use std::path::{Path, PathBuf};

use serde_json::Value;
use tl_ide::verify::VerifyOptions;
use tl_ide::{AnalysisHost, Change};
use tl_ir::{Dim, Graph};

use crate::bounds::BoundsArgs;
use crate::exit;
use crate::run::{resolve, CliError};

#[derive(clap::Args)]
#[command(after_help = "Examples:
  tlc report spec-examples/acas_xu_controller.tl -o report.html
  tlc report spec-examples/mnist_mlp.tl --contract robust_digit_7 --verify -o r.html
  tlc report model.tl --input x=centre.npy --eps 0.05 -o r.html

Without --verify, ledger links that need a verify run are shown as pending (as `tlc trust`).
Without --input, the bounds view uses a zero centre (labelled so on the page).
Exit 0 page written, 1 the spec has errors (page written, ledgers incomplete), 2 usage or I/O.")]
pub struct ReportArgs {
    /// The spec.
    pub spec: PathBuf,
    /// Show only this contract's ledger (default: every contract of the spec).
    #[arg(long)]
    pub contract: Option<String>,
    /// Where to write the page.
    #[arg(short = 'o', long = "output")]
    pub output: PathBuf,
    /// Run the contracts' check methods first, so method links are filled (as `tlc trust --verify`).
    #[arg(long)]
    pub verify: bool,
    /// The centre of the bounds view's input ball, `NAME=CENTER.npy` (default: zeros).
    #[arg(long = "input", value_name = "NAME=CENTER.npy")]
    pub input: Option<String>,
    /// The L-infinity radius of the bounds view's input ball.
    #[arg(long, default_value_t = 0.01, allow_negative_numbers = true)]
    pub eps: f64,
}

/// One graph of the page: its IR, its coverage entry and (when boundable) the per-node boxes.
pub struct GraphView {
    pub name: String,
    pub graph: Option<Graph>,
    /// Why the graph could not be loaded or bounded (shown on the page).
    pub note: Vec<String>,
    pub coverage: Value,
    /// `tlc bounds --per-node --format json` output.
    pub bounds: Option<Value>,
    /// How the bounds view's input box was chosen.
    pub bounds_input: String,
    /// For the target of a gradient contract: the reverse sweep at a seeded point.
    pub tape: Option<Result<tape::Tape, String>>,
}

pub fn run(args: ReportArgs) -> u8 {
    match report(&args) {
        Ok((errors, contracts)) => {
            eprintln!(
                "wrote {} ({contracts} contract(s){})",
                args.output.display(),
                if errors > 0 {
                    format!(", {errors} error(s) in the spec: ledgers incomplete")
                } else {
                    String::new()
                }
            );
            if errors > 0 {
                exit::FINDINGS
            } else {
                exit::OK
            }
        }
        Err(e) => e.print(),
    }
}

fn report(args: &ReportArgs) -> Result<(usize, usize), CliError> {
    if !args.eps.is_finite() || args.eps < 0.0 {
        return Err(CliError::new(
            tl_bounds::codes::BAD_INPUT_BOX,
            format!(
                "--eps {}: the radius must be a finite number >= 0",
                args.eps
            ),
            exit::USAGE,
        ));
    }
    let text = std::fs::read_to_string(&args.spec).map_err(|e| {
        CliError::new(
            "TL0120",
            format!("cannot read {}: {e}", args.spec.display()),
            exit::USAGE,
        )
    })?;
    let mut host = AnalysisHost::new();
    let mut change = Change::new();
    change.set_file_text(args.spec.clone(), text);
    host.apply_change(change);
    // Load what the specs import (the queries never read the disk).
    host.settle(&[args.spec.clone()]);
    let analysis = host.analysis();
    // The same report `tlc trust [--verify]` prints for this one file.
    let (report, replays) = crate::uncancelled(analysis.trust_report_with_replays(
        &[args.spec.clone()],
        args.verify,
        &VerifyOptions::default(),
    ));
    let trust = report
        .files
        .into_iter()
        .next()
        .expect("one file asked, one answered");
    let errors = trust.errors;
    let trust = serde_json::to_value(&trust).map_err(|e| {
        CliError::new(
            "TL0860",
            format!("cannot encode the ledger: {e}"),
            exit::USAGE,
        )
    })?;
    let mut contracts: Vec<Value> = trust["contracts"].as_array().cloned().unwrap_or_default();
    if let Some(c) = &args.contract {
        contracts.retain(|l| l["contract"] == c.as_str());
        if contracts.is_empty() {
            return Err(CliError::new(
                "TL0860",
                format!(
                    "--contract {c}: no contract of that name in {}",
                    args.spec.display()
                ),
                exit::USAGE,
            ));
        }
    }
    // Graphs of the spec, then those of the specs it imports that a shown contract is on.
    let mut covs: Vec<Value> = trust["graphs"].as_array().cloned().unwrap_or_default();
    for cov in crate::uncancelled(analysis.imported_coverage(&args.spec)) {
        let cov = serde_json::to_value(&cov).unwrap_or(Value::Null);
        let name = cov["graph"].clone();
        let wanted = contracts.iter().any(|l| l["target"] == name);
        let known = covs.iter().any(|c| c["graph"] == name);
        if wanted && !known {
            covs.push(cov);
        }
    }
    // Graphs a shown contract is on that have no coverage entry (an `import onnx` model): drawn
    // all the same, every node's coverage shown as "not listed" rather than guessed.
    for l in &contracts {
        let name = l["target"].clone();
        if name.is_string() && !covs.iter().any(|c| c["graph"] == name) {
            covs.push(serde_json::json!({ "graph": name }));
        }
    }
    let mut graphs = Vec::new();
    for cov in covs {
        let name = cov["graph"].as_str().unwrap_or_default().to_string();
        if let Some(c) = &args.contract {
            if !contracts
                .iter()
                .any(|l| l["target"] == name.as_str() && l["contract"] == c.as_str())
            {
                continue;
            }
        }
        let gradient_target = contracts
            .iter()
            .any(|l| l["target"] == name.as_str() && l["kind"] == "gradient");
        graphs.push(graph_view(args, &name, cov, gradient_target));
    }
    let replays: Vec<Value> = replays
        .iter()
        .filter(|r| args.contract.as_deref().is_none_or(|c| r.contract == c))
        .filter_map(|r| serde_json::to_value(r).ok())
        .collect();
    let page = html::page(args, &trust, &contracts, &replays, &graphs);
    std::fs::write(&args.output, page).map_err(|e| {
        CliError::new(
            "TL0861",
            format!("cannot write {}: {e}", args.output.display()),
            exit::USAGE,
        )
    })?;
    Ok((errors, contracts.len()))
}

fn graph_view(args: &ReportArgs, name: &str, coverage: Value, gradient_target: bool) -> GraphView {
    let mut view = GraphView {
        name: name.to_string(),
        graph: None,
        note: vec![],
        coverage,
        bounds: None,
        bounds_input: String::new(),
        tape: None,
    };
    let graph = match resolve(&args.spec, Some(name)) {
        Ok(r) => {
            if gradient_target {
                view.tape = r
                    .graph()
                    .outputs
                    .first()
                    .map(|(out, _)| tape::tape(&r, out));
            }
            r.graph().clone()
        }
        Err(e) => {
            view.note
                .push(format!("graph not loaded: {}: {}", e.code, e.message));
            return view;
        }
    };
    // The bounds view: graphs with one f32 input and outputs the bound network lowers.
    if graph.inputs.len() == 1 {
        let input = &graph.nodes[graph.inputs[0]];
        let (centre, label) = match &args.input {
            Some(spec) => (
                spec.clone(),
                format!("centre from {spec}, eps = {}", args.eps),
            ),
            None => {
                let shape: Vec<usize> = input
                    .shape
                    .0
                    .iter()
                    .map(|d| match d {
                        Dim::Known(k) => *k as usize,
                        Dim::Sym(_) => 1,
                    })
                    .collect();
                let path = std::env::temp_dir().join(format!(
                    "tl-report-{}-{}.npy",
                    std::process::id(),
                    name.replace(|c: char| !c.is_ascii_alphanumeric(), "_")
                ));
                if let Err(e) = write_zeros_npy(&path, &shape) {
                    view.note.push(format!("bounds view skipped: {e}"));
                    view.graph = Some(graph);
                    return view;
                }
                (
                    format!("{}={}", input.name, path.display()),
                    format!(
                        "centre: zeros of shape {shape:?} (default; symbolic extents set to 1; pass --input), eps = {}",
                        args.eps
                    ),
                )
            }
        };
        let bargs = BoundsArgs {
            spec: args.spec.clone(),
            graph: Some(name.to_string()),
            method: "crown".into(),
            input: centre.clone(),
            eps: args.eps,
            format: "json".into(),
            semantics: "f32".into(),
            per_node: true,
        };
        match crate::bounds::bounds(&bargs) {
            Ok(text) => match serde_json::from_str::<Value>(&text) {
                Ok(v) => view.bounds = Some(v),
                Err(e) => view.note.push(format!("bounds view skipped: {e}")),
            },
            Err(e) => view
                .note
                .push(format!("not boundable here: {}: {}", e.code, e.message)),
        }
        view.bounds_input = label;
        if args.input.is_none() {
            if let Some((_, p)) = centre.split_once('=') {
                let _ = std::fs::remove_file(p);
            }
        }
    } else {
        view.note.push(format!(
            "no bounds view: the graph has {} inputs (bounds need one)",
            graph.inputs.len()
        ));
    }
    view.graph = Some(graph);
    view
}

/// A zero-filled little-endian f32 `.npy` of `shape`.
fn write_zeros_npy(path: &Path, shape: &[usize]) -> std::io::Result<()> {
    let dims: Vec<String> = shape.iter().map(|d| d.to_string()).collect();
    let shape_text = if dims.len() == 1 {
        format!("({},)", dims[0])
    } else {
        format!("({})", dims.join(", "))
    };
    let mut header = format!("{{'descr': '<f4', 'fortran_order': False, 'shape': {shape_text}, }}");
    while (10 + header.len() + 1) % 64 != 0 {
        header.push(' ');
    }
    header.push('\n');
    let mut bytes = b"\x93NUMPY\x01\x00".to_vec();
    bytes.extend((header.len() as u16).to_le_bytes());
    bytes.extend(header.as_bytes());
    let n: usize = shape.iter().product();
    bytes.extend(std::iter::repeat_n(0u8, 4 * n));
    std::fs::write(path, bytes)
}
