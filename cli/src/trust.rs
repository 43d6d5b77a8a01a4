//! `tlc trust`: each contract's status with its chain of evidence, assumptions and trust
//! boundaries, and each graph's coverage per proof layer (docs/trust.md).

use std::path::PathBuf;

use tl_analysis::check::file_diagnostics;
use tl_analysis::db::{Db, SourceFile};
use tl_analysis::items::file_items;
use tl_analysis::ledger::{
    coverage_markdown, coverage_text, file_coverage, file_ledgers, ledger_markdown, ledger_text,
    FileTrust, TrustReport,
};
use tl_analysis::outcome::ContractOutcome;
use tl_analysis::scope::spec_imports;
use tl_analysis::verify::{run_contract, VerifyOptions};
use tl_analysis::{RootDatabase, Severity};
use tl_syntax::ItemKeyword;

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
    let db = RootDatabase::default();
    let options = VerifyOptions::default();
    let mut reports = Vec::new();
    for path in &files {
        let file = db.source(path);
        let errors = file_diagnostics(&db, file)
            .iter()
            .filter(|d| d.severity == Severity::Error)
            .count();
        let outcomes = if args.verify && errors == 0 {
            verify_outcomes(&db, file, &options)
        } else {
            vec![]
        };
        reports.push(FileTrust {
            file: path.display().to_string(),
            errors,
            contracts: file_ledgers(&db, file, &outcomes),
            graphs: file_coverage(&db, file),
        });
    }
    let report = TrustReport::new(args.verify, reports);
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

/// Runs the contracts of `file` and of the specs it imports (a bridge contract's ledger needs the
/// outcome of the contract it bridges).
pub(crate) fn verify_outcomes(
    db: &dyn Db,
    file: SourceFile,
    options: &VerifyOptions,
) -> Vec<ContractOutcome> {
    let files: Vec<SourceFile> = std::iter::once(file)
        .chain(spec_imports(db, file).iter().map(|(_, f)| *f))
        .collect();
    files
        .iter()
        .flat_map(|&f| file_items(db, f).iter().copied())
        .filter(|i| i.keyword(db) == ItemKeyword::Contract)
        .map(|i| run_contract(db, i, options).outcome)
        .collect()
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
    let mut s = String::from("# Trust report\n\n");
    if !report.verified {
        s.push_str("Verification did not run (`tlc trust --verify` runs it): method links are pending.\n\n");
    }
    for f in &report.files {
        s.push_str(&format!("## {}\n\n", f.file));
        if f.errors > 0 {
            s.push_str(&format!(
                "**{} error(s)**: the ledgers below are incomplete.\n\n",
                f.errors
            ));
        }
        for l in &f.contracts {
            s.push_str(&ledger_markdown(l));
            s.push('\n');
        }
        for c in &f.graphs {
            s.push_str(&coverage_markdown(c));
            s.push('\n');
        }
    }
    s
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
