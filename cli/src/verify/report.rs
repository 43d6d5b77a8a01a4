//! The report of a verify run: what every output format renders, and the JSON form (schema
//! `tl-verify-report`, version 1, documented in docs/verify.md) that `tlc merge` combines.

use serde::{Deserialize, Serialize};
use tl_ide::verify::{IndexMapCheck, MethodOutcome, Status, Verdict};

pub const SCHEMA: &str = "tl-verify-report";
pub const VERSION: u32 = 1;

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Location {
    /// Relative to the project root (tl.toml's directory) or the working directory, `/`-separated.
    pub file: String,
    pub line: usize,
    pub column: usize,
    pub end_line: usize,
    pub end_column: usize,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct DiagnosticEntry {
    pub code: String,
    pub severity: String,
    pub message: String,
    #[serde(flatten)]
    pub location: Location,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct ContractEntry {
    /// `file::name`, unique in a run; shards split on it.
    pub id: String,
    pub name: String,
    #[serde(flatten)]
    pub location: Location,
    pub kind: String,
    pub status: Status,
    pub evidence_status: Status,
    pub meets_bar: bool,
    pub cached: bool,
    pub millis: u64,
    pub rests_on: Vec<String>,
    pub execute_on: Option<String>,
    pub methods: Vec<MethodOutcome>,
    /// The index-map checks of the target's data-movement nodes outside the compiled-semantics
    /// theorem (docs/trust.md); absent when there are none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub index_maps: Vec<IndexMapCheck>,
    /// `expect falsified`: a known-buggy variant meant to be falsified (absent otherwise).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expected: Option<String>,
    /// With `expected`: whether the status meets it. A met expectation meets the bar whatever
    /// `fail_on` says; an unmet one (TL0471) never does.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expectation_met: Option<bool>,
}

impl ContractEntry {
    /// Why an unmet expectation fails the run (TL0471), or None.
    pub fn unmet_expectation(&self) -> Option<String> {
        let e = self.expected.as_deref()?;
        (self.expectation_met == Some(false)).then(|| {
            format!(
                "TL0471: the spec expects `{}` is {e} (`expect {e}`), but it is {}: the buggy variant is no longer caught",
                self.name, self.status
            )
        })
    }

    /// A met expectation: an expected failure, counted as meeting the bar.
    pub fn expected_failure(&self) -> bool {
        self.expected.is_some() && self.expectation_met == Some(true)
    }

    /// One line for humans: the deciding method's verdict.
    pub fn summary(&self) -> String {
        let Some(m) = self.methods.last() else {
            return "no method ran".into();
        };
        let verdict = match &m.verdict {
            Verdict::Holds => "holds".to_string(),
            Verdict::Violated { counterexample } => {
                format!(
                    "counterexample confirmed on {}",
                    counterexample.confirmed_on
                )
            }
            Verdict::Unknown { reason } => format!("unknown: {reason}"),
            Verdict::Timeout => "timeout".into(),
            Verdict::Error { code, message } => format!("error {code}: {message}"),
        };
        if m.detail.is_empty() {
            verdict
        } else {
            format!("{verdict}; {}", m.detail)
        }
    }
}

#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct Totals {
    pub contracts: usize,
    pub proved: usize,
    pub checked: usize,
    pub tested: usize,
    pub assumed: usize,
    pub uncovered: usize,
    pub falsified: usize,
    /// Falsified contracts that `expect falsified` (included in `falsified`).
    #[serde(default)]
    pub expected_failures: usize,
    pub below_bar: usize,
    pub cached: usize,
    pub spec_errors: usize,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Tool {
    pub name: String,
    pub version: String,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Shard {
    pub index: usize,
    pub count: usize,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Report {
    pub schema: String,
    pub version: u32,
    pub tool: Tool,
    pub fail_on: Vec<String>,
    pub shard: Option<Shard>,
    pub diagnostics: Vec<DiagnosticEntry>,
    pub contracts: Vec<ContractEntry>,
    pub totals: Totals,
    pub exit_code: u8,
}

/// Exit codes of `tlc verify` and `tlc merge`.
pub mod code {
    pub const OK: u8 = 0;
    pub const BELOW_BAR: u8 = 1;
    pub const SPEC_ERRORS: u8 = 2;
    pub const USAGE: u8 = 3;
}

/// Whether a result fails the bar `fail_on`.
pub fn below_bar(fail_on: &[String], status: Status, methods: &[MethodOutcome]) -> bool {
    let has = |w: &str| fail_on.iter().any(|f| f == w);
    has(status.name())
        || (has("timeout") && methods.iter().any(|m| m.verdict == Verdict::Timeout))
        || (has("error")
            && methods
                .iter()
                .any(|m| matches!(m.verdict, Verdict::Error { .. })))
}

impl Report {
    pub fn new(
        fail_on: Vec<String>,
        shard: Option<Shard>,
        diagnostics: Vec<DiagnosticEntry>,
        contracts: Vec<ContractEntry>,
    ) -> Report {
        let mut r = Report {
            schema: SCHEMA.into(),
            version: VERSION,
            tool: Tool {
                name: "tlc".into(),
                version: env!("CARGO_PKG_VERSION").into(),
            },
            fail_on,
            shard,
            diagnostics,
            contracts,
            totals: Totals::default(),
            exit_code: 0,
        };
        r.finish();
        r
    }

    /// Recomputes bars, totals and the exit code.
    pub fn finish(&mut self) {
        let mut t = Totals::default();
        for c in &mut self.contracts {
            c.expectation_met = c.expected.as_deref().map(|e| e == c.status.name());
            c.meets_bar = match c.expectation_met {
                Some(met) => met,
                None => !below_bar(&self.fail_on, c.status, &c.methods),
            };
            t.expected_failures += usize::from(c.expected_failure());
            t.contracts += 1;
            match c.status {
                Status::Proved => t.proved += 1,
                Status::Checked => t.checked += 1,
                Status::Tested => t.tested += 1,
                Status::Assumed => t.assumed += 1,
                Status::Uncovered => t.uncovered += 1,
                Status::Falsified => t.falsified += 1,
            }
            t.below_bar += usize::from(!c.meets_bar);
            t.cached += usize::from(c.cached);
        }
        t.spec_errors = self
            .diagnostics
            .iter()
            .filter(|d| d.severity == "error")
            .count();
        self.exit_code = if t.spec_errors > 0 {
            code::SPEC_ERRORS
        } else if t.below_bar > 0 {
            code::BELOW_BAR
        } else {
            code::OK
        };
        self.totals = t;
    }

    /// Combines shard reports: contracts and diagnostics deduplicated and re-sorted.
    pub fn merge(parts: Vec<Report>) -> Result<Report, String> {
        let mut it = parts.into_iter();
        let mut first = it.next().ok_or("nothing to merge")?;
        for p in it {
            if p.fail_on != first.fail_on {
                return Err(format!(
                    "the reports use different fail_on settings ({:?} and {:?})",
                    first.fail_on, p.fail_on
                ));
            }
            for d in p.diagnostics {
                if !first.diagnostics.contains(&d) {
                    first.diagnostics.push(d);
                }
            }
            for c in p.contracts {
                if !first.contracts.iter().any(|x| x.id == c.id) {
                    first.contracts.push(c);
                }
            }
        }
        first.shard = None;
        first.contracts.sort_by(|a, b| {
            (&a.location.file, a.location.line, &a.name).cmp(&(
                &b.location.file,
                b.location.line,
                &b.name,
            ))
        });
        first.diagnostics.sort_by(|a, b| {
            (
                &a.location.file,
                a.location.line,
                a.location.column,
                &a.code,
            )
                .cmp(&(
                    &b.location.file,
                    b.location.line,
                    b.location.column,
                    &b.code,
                ))
        });
        first.finish();
        Ok(first)
    }

    pub fn parse(text: &str) -> Result<Report, String> {
        let v: serde_json::Value = serde_json::from_str(text).map_err(|e| e.to_string())?;
        if v.get("schema").and_then(|s| s.as_str()) != Some(SCHEMA) {
            return Err(format!("not a {SCHEMA} file"));
        }
        let version = v.get("version").and_then(|s| s.as_u64());
        if version != Some(VERSION as u64) {
            return Err(format!(
                "schema version {version:?}, this tlc reads {VERSION}"
            ));
        }
        serde_json::from_value(v).map_err(|e| e.to_string())
    }
}
