//! What the editor shows about contracts before anything is verified: each contract's status from
//! the analysis alone, and code lens anchors.
//!
//! Without a verify run no contract is "proved", "checked" or "tested" here: a contract with no
//! check method is "uncovered", one with methods is "unknown" (not run yet). Statuses with run
//! results come from `verification::statuses_with_runs`.

use tl_syntax::ast::Item;
use tl_syntax::{ItemKeyword, TextRange};

use tl_analysis::contracts::{analyze_contract, Method};
use tl_analysis::db::{Db, SourceFile};
use tl_analysis::items::{file_items, parse_item};

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ContractStatus {
    pub name: String,
    /// The contract from its `contract` keyword (doc comments excluded) to its end.
    pub range: TextRange,
    /// Without a run: `uncovered` or `unknown` (see the module docs). With one: the trust
    /// ledger's status, exactly what `tlc verify` reports; `running` while it is in flight.
    pub status: &'static str,
    /// Without a run, the methods as written (`crown then bab(timeout = 30s)`); with one, the
    /// method that decided.
    pub method: Option<String>,
    /// Wall time of the run, when there is one.
    pub millis: Option<u64>,
    /// Why: the deciding method's detail, or what is missing.
    pub message: String,
    /// A one-line result for code lenses ("checked in 42 ms"), when there is a run.
    pub headline: Option<String>,
}

/// The analysis-level status of every contract of `file`.
pub fn contract_statuses(db: &dyn Db, file: SourceFile) -> Vec<ContractStatus> {
    let mut out = Vec::new();
    for &item in file_items(db, file) {
        if item.keyword(db) != ItemKeyword::Contract {
            continue;
        }
        let Item::Contract(c) = &parse_item(db, item).item else {
            continue;
        };
        let base = item.offset(db);
        // From the `contract` keyword (after any doc comment) to the end of the item, so that
        // editors mark the line that says `contract`.
        let text = item.text(db);
        let keyword = text[..(c.name.span.start as usize).min(text.len())]
            .rfind("contract")
            .unwrap_or(0) as u32;
        let range = TextRange::new(base + keyword, base + text.len() as u32);
        let analysis = analyze_contract(db, item).as_ref();
        let methods: Vec<&Method> = analysis
            .map(|a| a.methods.iter().collect())
            .unwrap_or_default();
        let (status, method, message) = if methods.is_empty() {
            (
                "uncovered",
                None,
                "no check method: nothing will establish this claim".to_string(),
            )
        } else {
            let labels: Vec<String> = methods.iter().map(|m| m.to_string()).collect();
            (
                "unknown",
                Some(labels.join(" then ")),
                "not verified yet: save the file or run `tl.verifyContract`".to_string(),
            )
        };
        out.push(ContractStatus {
            name: c.name.text.clone(),
            range,
            status,
            method,
            millis: None,
            message,
            headline: None,
        });
    }
    out
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum LensKind {
    Contract,
    Graph,
}

/// Where code lenses go: each contract and each graph or block, at its name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LensTarget {
    pub name: String,
    pub range: TextRange,
    pub kind: LensKind,
}

pub fn lens_targets(db: &dyn Db, file: SourceFile) -> Vec<LensTarget> {
    let mut out = Vec::new();
    for &item in file_items(db, file) {
        let base = item.offset(db);
        let (name, kind) = match &parse_item(db, item).item {
            Item::Contract(c) => (&c.name, LensKind::Contract),
            Item::Graph(g) => (&g.name, LensKind::Graph),
            _ => continue,
        };
        out.push(LensTarget {
            name: name.text.clone(),
            range: name.span.shift(base),
            kind,
        });
    }
    out
}
