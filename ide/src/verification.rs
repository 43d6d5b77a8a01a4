//! Verification in editor terms: which contracts of a file to run, the statuses the trust ledger
//! gives their results (the same words `tlc verify` prints), the ledger in contract hovers, and the
//! trust report (`tlc trust --format markdown` for one file) with whatever results exist.
//!
//! The runs themselves happen outside the database: the caller prepares contracts here, executes
//! them with `verify::execute` on its own threads, and passes the resulting [`ContractRun`]s back.

use tl_syntax::ItemKeyword;

use super::hover::hover;
use super::occurrences::{occurrence_at, Symbol};
use super::status::{contract_statuses, ContractStatus};
use super::Hover;
use tl_analysis::contracts::{analyze_contract, Method};
use tl_analysis::db::{Db, SourceFile};
use tl_analysis::items::{file_items, DefKind, ItemSource};
use tl_analysis::ledger::{contract_ledger_with, ledger_markdown};
use tl_analysis::outcome::{ContractOutcome, Status, Verdict};
use tl_analysis::verify::{prepare, ContractRun, Prepared, VerifyOptions};

/// The contracts of `file` in source order (only the one named `only`, when given).
fn contract_items<'db>(
    db: &'db dyn Db,
    file: SourceFile,
    only: Option<&str>,
) -> Vec<ItemSource<'db>> {
    file_items(db, file)
        .iter()
        .copied()
        .filter(|i| i.keyword(db) == ItemKeyword::Contract)
        .filter(|i| only.is_none_or(|want| i.name(db).as_deref() == Some(want)))
        .collect()
}

/// Prepares the contracts of `file` to run (everything read from the database, so the caller can
/// drop its snapshot before executing them). Empty when `only` names no contract of the file.
pub fn prepare_contracts(
    db: &dyn Db,
    file: SourceFile,
    only: Option<&str>,
    opts: &VerifyOptions,
) -> Vec<Prepared> {
    contract_items(db, file, only)
        .into_iter()
        .filter(|i| i.name(db).is_some())
        .map(|i| prepare(db, i, opts))
        .collect()
}

fn outcomes(runs: &[ContractRun]) -> Vec<ContractOutcome> {
    runs.iter().map(|r| r.outcome.clone()).collect()
}

/// Every contract of `file` with its status given the `runs` known for the file (matched by
/// contract name): a contract with a run gets the trust ledger's status over all of them (so a
/// bridge contract sees the run of the contract it bridges), as `tlc verify` reports it; one
/// named in `running` is `running`; the rest keep their analysis status.
pub fn statuses_with_runs(
    db: &dyn Db,
    file: SourceFile,
    runs: &[ContractRun],
    running: &[String],
) -> Vec<ContractStatus> {
    let all = outcomes(runs);
    let items = contract_items(db, file, None);
    contract_statuses(db, file)
        .into_iter()
        .map(|mut st| {
            if running.contains(&st.name) {
                st.status = "running";
                st.message = "verification in progress".into();
                return st;
            }
            let Some(run) = runs
                .iter()
                .find(|r| r.outcome.is_of(file.path(db), &st.name))
            else {
                return st;
            };
            let item = items
                .iter()
                .find(|i| i.name(db).as_deref() == Some(st.name.as_str()));
            let ledger = item.and_then(|&i| contract_ledger_with(db, i, &all));
            let status = ledger.as_ref().map_or(run.status, |l| l.status);
            let samples = item.and_then(|&i| sample_count(db, i));
            st.status = status.name();
            st.method = run.deciding_method().map(|m| m.method.clone());
            st.millis = Some(run.millis);
            st.message = run_message(run);
            st.headline = Some(headline(run, status, samples));
            if let Some(l) = &ledger {
                expectation_words(&mut st, l.expected, l.expectation_met);
            }
            st
        })
        .collect()
}

/// `expect falsified` in the editor's words, as `tlc verify` and the ledger say it: a met
/// expectation is an expected failure; an unmet one is TL0471.
fn expectation_words(
    st: &mut ContractStatus,
    expected: Option<tl_analysis::contracts::Expectation>,
    met: Option<bool>,
) {
    let Some(e) = expected else {
        return;
    };
    match met {
        Some(true) => {
            st.headline = Some(format!("{} as expected (expect {})", e.name(), e.name()));
            st.message = format!(
                "expected failure: this known-buggy variant is {} as its spec expects; {}",
                e.name(),
                st.message
            );
        }
        Some(false) => {
            st.headline = Some(format!("{}, expected {} (TL0471)", st.status, e.name()));
            st.message = format!(
                "TL0471: the spec expects {} but the run shows {}: the buggy variant is no longer caught; {}",
                e.name(),
                st.status,
                st.message
            );
        }
        None => {}
    }
}

/// The number of samples of the contract's sampling method, if it names one.
fn sample_count(db: &dyn Db, item: ItemSource<'_>) -> Option<u64> {
    analyze_contract(db, item)
        .as_ref()?
        .methods
        .iter()
        .find_map(|m| match m {
            Method::Sampling { samples, .. } => Some(*samples),
            _ => None,
        })
}

/// The deciding method's detail, or why it did not decide.
fn run_message(run: &ContractRun) -> String {
    let Some(m) = run.deciding_method() else {
        return "no method ran: the contract names none that fits its claim".into();
    };
    let why = match &m.verdict {
        Verdict::Holds | Verdict::Violated { .. } => String::new(),
        Verdict::Unknown { reason } => format!("{} could not decide: {reason}", m.method),
        Verdict::Timeout => format!("{} ran out of time", m.method),
        Verdict::Error { code, message } => format!("{code}: {message}"),
    };
    match (why.is_empty(), m.detail.is_empty()) {
        (true, _) => m.detail.clone(),
        (false, true) => why,
        (false, false) => format!("{why} ({})", m.detail),
    }
}

/// A code lens title: "checked in 42 ms", "falsified: counterexample", "tested 1000 samples".
fn headline(run: &ContractRun, status: Status, samples: Option<u64>) -> String {
    let deciding = run.deciding_method();
    let sampled = deciding.is_some_and(|m| m.method == "sampling" && m.verdict == Verdict::Holds);
    let mut s = match (status, deciding.map(|m| &m.verdict), samples) {
        (Status::Falsified, _, _) => "falsified: counterexample".to_string(),
        (Status::Tested, _, Some(n)) if sampled => format!("tested {n} samples"),
        (_, Some(Verdict::Holds), _) => format!("{status} in {} ms", run.millis),
        (_, Some(Verdict::Timeout), _) => format!("{status}: timed out"),
        (_, Some(Verdict::Unknown { .. }), _) => format!("{status}: undecided"),
        (_, Some(Verdict::Error { code, .. }), _) => format!("{status}: error {code}"),
        _ => status.to_string(),
    };
    if run.cached {
        s.push_str(" (cached)");
    }
    s
}

/// The hover at `offset`; on a contract of `file` that has a run, the trust ledger (its chain of
/// evidence with the run's results) follows the contract's summary.
pub fn hover_with_runs(
    db: &dyn Db,
    workspace: &[SourceFile],
    file: SourceFile,
    offset: u32,
    runs: &[ContractRun],
) -> Option<Hover> {
    let mut h = hover(db, workspace, file, offset)?;
    if runs.is_empty() {
        return Some(h);
    }
    if let Some(Symbol::Def {
        item,
        kind: DefKind::Contract,
    }) = occurrence_at(db, file, offset).map(|o| o.symbol)
    {
        let name = item.name(db).clone().unwrap_or_default();
        let verified =
            item.file(db) == file && runs.iter().any(|r| r.outcome.is_of(file.path(db), &name));
        if verified {
            if let Some(ledger) = contract_ledger_with(db, item, &outcomes(runs)) {
                h.markdown.push_str("\n\n---\n\n");
                h.markdown.push_str(&ledger_markdown(&ledger));
            }
        }
    }
    Some(h)
}

/// The trust report of `file` as markdown, laid out like `tlc trust --format markdown`: every
/// contract's ledger (method links filled from `runs`, pending without one) and the per-layer
/// coverage of every graph.
pub fn trust_markdown(db: &dyn Db, file: SourceFile, runs: &[ContractRun]) -> String {
    let name = file
        .path(db)
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let report = crate::trust::file_trust(db, file, name, &outcomes(runs));
    crate::trust::markdown(
        &[report],
        runs.is_empty().then_some(
            "Verification did not run in this session (`tl.verifyFile` runs it): method links are pending.",
        ),
    )
}

/// A named contract of a file, found in source order: what a batch run (`tlc verify`) lists,
/// filters, prepares and finally hands back to the ledger.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ContractRef {
    /// The defining file (normalised).
    pub path: std::path::PathBuf,
    pub name: String,
    /// The contract's name in the file.
    pub name_range: tl_syntax::TextRange,
    /// `expect falsified` (its word): the contract is a known-buggy variant meant to be falsified.
    pub expect: Option<&'static str>,
}

/// The named contracts of `file` in source order.
pub(crate) fn contract_refs(db: &dyn Db, file: SourceFile) -> Vec<ContractRef> {
    let mut out = Vec::new();
    for item in contract_items(db, file, None) {
        let Some(name) = item.name(db).clone() else {
            continue;
        };
        let span = match &tl_analysis::items::parse_item(db, item).item {
            tl_syntax::ast::Item::Contract(c) => c.name.span,
            _ => continue,
        };
        let offset = item.offset(db);
        out.push(ContractRef {
            path: file.path(db).clone(),
            name,
            name_range: tl_syntax::TextRange::new(offset + span.start, offset + span.end),
            expect: analyze_contract(db, item)
                .as_ref()
                .and_then(|a| a.expect)
                .map(|e| e.name()),
        });
    }
    out
}

/// The item `c` names (the first contract of that name in its file).
fn contract_item<'db>(db: &'db dyn Db, c: &ContractRef) -> Option<ItemSource<'db>> {
    contract_items(db, db.source(&c.path), Some(&c.name))
        .into_iter()
        .next()
}

pub(crate) fn prepare_ref(db: &dyn Db, c: &ContractRef, opts: &VerifyOptions) -> Option<Prepared> {
    contract_item(db, c).map(|i| prepare(db, i, opts))
}

/// The ledger decides: each run's `status` becomes its contract's trust-ledger status over the
/// outcomes of all `runs` (so a bridge sees the run of the contract it bridges), the contract
/// found by item (file and name). `contracts[i]` is the contract of `runs[i]`.
pub(crate) fn decide(db: &dyn Db, contracts: &[ContractRef], runs: &mut [ContractRun]) {
    let all = outcomes(runs);
    for (c, run) in contracts.iter().zip(runs.iter_mut()) {
        if let Some(ledger) = contract_item(db, c).and_then(|i| contract_ledger_with(db, i, &all)) {
            run.status = ledger.status;
        }
    }
}
