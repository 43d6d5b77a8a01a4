//! What the editor shows about contracts before anything is verified: each contract's status from
//! the analysis alone, code lens anchors, and a trust summary.
//!
//! Until the verify engine runs, no contract is "proved", "checked" or "tested" here: a contract
//! with no check method is "uncovered", one with methods is "unknown" (not run yet).

use std::fmt::Write;

use tl_syntax::ast::Item;
use tl_syntax::{ItemKeyword, TextRange};

use super::hover::method_label;
use super::text::md_code;
use crate::check::file_diagnostics;
use crate::contracts::{analyze_contract, Claim, Method, Target};
use crate::db::{Db, SourceFile};
use crate::diagnostics::Severity;
use crate::items::{file_items, parse_item};

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ContractStatus {
    pub name: String,
    /// The whole contract item.
    pub range: TextRange,
    /// `uncovered` or `unknown` (see the module docs).
    pub status: &'static str,
    /// The methods as written, `crown then bab(timeout = 60000ms)`.
    pub method: Option<String>,
    pub message: String,
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
        let range = TextRange::new(base, base + item.text(db).len() as u32);
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
            let labels: Vec<String> = methods.iter().map(|m| method_label(m)).collect();
            (
                "unknown",
                Some(labels.join(" then ")),
                "not verified yet: run `tl.verifyContract` once the verify engine is available"
                    .to_string(),
            )
        };
        out.push(ContractStatus {
            name: c.name.text.clone(),
            range,
            status,
            method,
            message,
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

/// A markdown summary of what the file's contracts claim and rest on, with their statuses.
pub fn trust_summary(db: &dyn Db, file: SourceFile) -> String {
    let mut s = format!(
        "# Trust: {}\n\n",
        file.path(db)
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default()
    );
    let errors = file_diagnostics(db, file)
        .iter()
        .filter(|d| d.severity == Severity::Error)
        .count();
    if errors > 0 {
        let _ = writeln!(
            s,
            "**{errors} error(s)** in this file: results below are incomplete.\n"
        );
    }
    s.push_str("Statuses come from the analysis alone: verification has not run in this session, so no contract is proved, checked or tested yet.\n\n");
    s.push_str("| contract | target | claim | methods | tolerance | rests on | status |\n|---|---|---|---|---|---|---|\n");
    let statuses = contract_statuses(db, file);
    for &item in file_items(db, file) {
        if item.keyword(db) != ItemKeyword::Contract {
            continue;
        }
        let Some(a) = analyze_contract(db, item).as_ref() else {
            continue;
        };
        let name = item.name(db).clone().unwrap_or_default();
        let target = match a.target {
            Some(Target::Graph(g)) | Some(Target::Onnx(g)) => {
                g.name(db).clone().unwrap_or_default()
            }
            None => "?".into(),
        };
        let claim = a.claim.as_ref().map_or("?", Claim::kind);
        let methods = if a.methods.is_empty() {
            "none".to_string()
        } else {
            a.methods
                .iter()
                .map(method_label)
                .collect::<Vec<_>>()
                .join(" then ")
        };
        let tolerance = a
            .tolerance
            .map(|t| t.name(db).clone().unwrap_or_default())
            .unwrap_or_else(|| "none".into());
        let rests: Vec<String> = a
            .rests_on
            .iter()
            .map(|i| i.name(db).clone().unwrap_or_default())
            .collect();
        let status = statuses
            .iter()
            .find(|st| st.name == name)
            .map_or("unknown", |st| st.status);
        let _ = writeln!(
            s,
            "| {} | {} | {claim} | {} | {} | {} | {status} |",
            md_code(&name),
            md_code(&target),
            methods.replace('|', "\\|"),
            md_code(&tolerance),
            if rests.is_empty() {
                "nothing".to_string()
            } else {
                rests.join(", ")
            }
        );
    }
    s
}
