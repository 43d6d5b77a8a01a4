//! `tlc trust`: each contract's status with its chain of evidence, assumptions and trust
//! boundaries, and each graph's coverage per proof layer (docs/trust.md).

use std::path::PathBuf;

use tl_ide::trust::{coverage_text, ledger_text, TrustReport};
use tl_ide::verify::VerifyOptions;
use tl_ide::{AnalysisHost, Change};

use crate::exit;

#[derive(clap::Args)]
#[command(
    after_help = "Examples:\n  tlc trust spec-examples/mnist_mlp.tl\n  tlc trust spec-examples/ --format json\n  tlc trust model.tl --verify --format markdown > TRUST.md\n\nWithout --verify, links that need a verify run are shown as pending.\nExit 0: report written; 1: a spec has errors (its ledgers are incomplete); 2: usage or I/O error."
)]
pub struct TrustArgs {
    /// Files or directories (searched recursively for *.tl).
    #[arg(required = true)]
    paths: Vec<PathBuf>,
    /// `text` (terminal), `json` (schema tl.trust/1, docs/trust.md) or `markdown`.
    #[arg(long, default_value = "text", value_parser = ["text", "json", "markdown"])]
    format: String,
    /// Run every contract's check methods first (the verify engine), so method links are filled.
    #[arg(long)]
    verify: bool,
}

pub fn run(args: TrustArgs) -> u8 {
    let files = match crate::sources::collect(&args.paths) {
        Ok(f) if f.is_empty() => {
            eprintln!("error: no .tl files found");
            return exit::USAGE;
        }
        Ok(f) => f,
        Err(e) => {
            eprintln!("error: {e}");
            return exit::USAGE;
        }
    };
    let mut host = AnalysisHost::new();
    let mut change = Change::new();
    for path in &files {
        change.load_file(path);
    }
    host.apply_change(change);
    // Load what the specs import (the queries never read the disk).
    host.settle(&files);
    let report = crate::uncancelled(host.analysis().trust_report(
        &files,
        args.verify,
        &VerifyOptions::default(),
    ));
    match args.format.as_str() {
        "json" => match serde_json::to_string_pretty(&report) {
            Ok(s) => emit(&format!("{s}\n")),
            Err(e) => {
                eprintln!("error: cannot write the report: {e}");
                return exit::USAGE;
            }
        },
        "markdown" => emit(&markdown(&report)),
        _ => emit(&text(&report)),
    }
    eprintln!("{}", summary(&report));
    if report.files.iter().any(|f| f.errors > 0) {
        exit::FINDINGS
    } else {
        exit::OK
    }
}

/// Writes to stdout; a closed pipe (`tlc trust ... | head`) is not an error.
fn emit(text: &str) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(text.as_bytes()).and_then(|()| out.flush());
}

fn text(report: &TrustReport) -> String {
    let mut s = String::new();
    for f in &report.files {
        s.push_str(&format!("== {} ==\n", f.file));
        if f.errors > 0 {
            s.push_str(&format!(
                "{} error(s): the ledgers below are incomplete; run `tlc check {}`\n",
                f.errors, f.file
            ));
        }
        for l in &f.contracts {
            s.push_str(&ledger_text(l));
            s.push('\n');
        }
        for c in &f.graphs {
            s.push_str(&coverage_text(c));
            s.push('\n');
        }
    }
    s
}

fn markdown(report: &TrustReport) -> String {
    tl_ide::trust::markdown(
        &report.files,
        (!report.verified).then_some(
            "Verification did not run (`tlc trust --verify` runs it): method links are pending.",
        ),
    )
}

/// `9 contracts: 1 assumed, 8 uncovered (7 pending verification)`.
fn summary(report: &TrustReport) -> String {
    let ledgers: Vec<_> = report.files.iter().flat_map(|f| &f.contracts).collect();
    let mut counts: Vec<(String, usize)> = Vec::new();
    for l in &ledgers {
        let name = l.status.to_string();
        match counts.iter_mut().find(|(n, _)| *n == name) {
            Some((_, c)) => *c += 1,
            None => counts.push((name, 1)),
        }
    }
    let parts: Vec<String> = counts.iter().map(|(n, c)| format!("{c} {n}")).collect();
    let pending = ledgers.iter().filter(|l| l.pending).count();
    let boundaries = ledgers
        .iter()
        .flat_map(|l| &l.boundaries)
        .filter(|b| b.covered_by.is_empty())
        .count();
    let mut s = format!(
        "{} contract{}: {}",
        ledgers.len(),
        if ledgers.len() == 1 { "" } else { "s" },
        if parts.is_empty() {
            "none".to_string()
        } else {
            parts.join(", ")
        }
    );
    if pending > 0 {
        s.push_str(&format!(
            "; {pending} pending verification (run with --verify)"
        ));
    }
    if boundaries > 0 {
        s.push_str(&format!(
            "; {boundaries} trust boundar{} without an assumption",
            if boundaries == 1 { "y" } else { "ies" }
        ));
    }
    s
}
