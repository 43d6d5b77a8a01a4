//! Trust reports: each contract's ledger and each graph's coverage per proof layer, for one or
//! more files, and the one markdown layout that `tlc trust --format markdown` and the editor's
//! "Show trust" both print.

use std::path::PathBuf;

use tl_analysis::check::file_diagnostics;
use tl_analysis::db::{Db, SourceFile};
use tl_analysis::diagnostics::Severity;
use tl_analysis::items::file_items;
use tl_analysis::ledger::{coverage_markdown, file_coverage, file_ledgers, ledger_markdown};
use tl_analysis::outcome::ContractOutcome;
use tl_analysis::outcome::{Counterexample, Verdict};
use tl_analysis::scope::spec_imports;
use tl_analysis::verify::replay::{replay, NodeReplay};
use tl_analysis::verify::{execute, prepare, Memo, VerifyOptions};
use tl_syntax::ItemKeyword;

pub use tl_analysis::ledger::{coverage_text, ledger_text, FileTrust, GraphCoverage, TrustReport};

/// One file's trust: its error count, ledgers over `outcomes` and graph coverage, under `label`.
pub(crate) fn file_trust(
    db: &dyn Db,
    file: SourceFile,
    label: String,
    outcomes: &[ContractOutcome],
) -> FileTrust {
    FileTrust {
        file: label,
        errors: error_count(db, file),
        contracts: file_ledgers(db, file, outcomes),
        graphs: file_coverage(db, file),
    }
}

fn error_count(db: &dyn Db, file: SourceFile) -> usize {
    file_diagnostics(db, file)
        .iter()
        .filter(|d| d.severity == Severity::Error)
        .count()
}

/// The trust report of `paths` (labelled as given). With `verify`, the contracts of each file
/// without errors, and of the specs it imports (a bridge contract's ledger needs the outcome of
/// the contract it bridges), run first, so the ledgers' method links are filled; every
/// counterexample a contract of `paths` got is replayed node by node.
pub(crate) fn trust_report(
    db: &dyn Db,
    paths: &[PathBuf],
    verify: bool,
    options: &VerifyOptions,
) -> (TrustReport, Vec<CounterexampleReplay>) {
    let mut replays = Vec::new();
    let files = paths
        .iter()
        .map(|path| {
            let file = db.source(path);
            let outcomes = if verify && error_count(db, file) == 0 {
                verify_outcomes(db, file, options, &mut replays)
            } else {
                vec![]
            };
            file_trust(db, file, path.display().to_string(), &outcomes)
        })
        .collect();
    (TrustReport::new(verify, files), replays)
}

/// A counterexample a verify run found, replayed through both engines of the contract's target.
#[derive(Clone, Debug, serde::Serialize)]
pub struct CounterexampleReplay {
    pub file: PathBuf,
    pub contract: String,
    /// The method that found it (`bab`, `sampling`, ...).
    pub method: String,
    pub counterexample: Counterexample,
    /// Every op node's values, or why the replay could not run.
    pub nodes: Result<Vec<NodeReplay>, String>,
}

fn verify_outcomes(
    db: &dyn Db,
    file: SourceFile,
    options: &VerifyOptions,
    replays: &mut Vec<CounterexampleReplay>,
) -> Vec<ContractOutcome> {
    let files: Vec<SourceFile> = std::iter::once(file)
        .chain(spec_imports(db, file).iter().map(|(_, f)| *f))
        .collect();
    let mut outcomes = Vec::new();
    for &f in &files {
        for &item in file_items(db, f).iter() {
            if item.keyword(db) != ItemKeyword::Contract {
                continue;
            }
            let prepared = prepare(db, item, options);
            let run = execute(&prepared, options, &Memo::default());
            if f == file {
                for m in &run.outcome.methods {
                    let Verdict::Violated { counterexample } = &m.verdict else {
                        continue;
                    };
                    let nodes = match &prepared.model {
                        Ok(model) => replay(model, counterexample).map_err(|e| e.message.clone()),
                        Err(e) => Err(e.message.clone()),
                    };
                    replays.push(CounterexampleReplay {
                        file: prepared.file.clone(),
                        contract: prepared.name.clone(),
                        method: m.method.clone(),
                        counterexample: counterexample.clone(),
                        nodes,
                    });
                }
            }
            outcomes.push(run.outcome);
        }
    }
    outcomes
}

/// A trust report as markdown. `not_run` is the line shown when no verify run filled the method
/// links (it says how to run one in the front end at hand).
pub fn markdown(files: &[FileTrust], not_run: Option<&str>) -> String {
    let mut s = String::from("# Trust report\n\n");
    if let Some(line) = not_run {
        s.push_str(line);
        s.push_str("\n\n");
    }
    for f in files {
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

/// The coverage of every graph of the specs `file` imports (a report shows the graphs its
/// contracts are on, wherever they are defined).
pub(crate) fn imported_coverage(db: &dyn Db, file: SourceFile) -> Vec<GraphCoverage> {
    spec_imports(db, file)
        .iter()
        .flat_map(|(_, imported)| file_coverage(db, *imported))
        .collect()
}
