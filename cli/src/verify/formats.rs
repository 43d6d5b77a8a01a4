//! Rendering a report: human summary, JSON, SARIF 2.1.0, JUnit XML, GitHub annotations.

use std::fmt::Write;

use serde_json::json;
use tl_ide::verify::Status;

use super::report::{ContractEntry, Report};

pub const FORMATS: [&str; 5] = ["human", "json", "sarif", "junit", "github"];

pub struct Style {
    pub color: bool,
    pub verbose: bool,
}

pub fn render(report: &Report, format: &str, style: &Style) -> String {
    match format {
        "json" => serde_json::to_string_pretty(report).expect("serialisable") + "\n",
        "sarif" => serde_json::to_string_pretty(&sarif(report)).expect("serialisable") + "\n",
        "junit" => junit(report),
        "github" => github(report),
        _ => human(report, style),
    }
}

fn paint(style: &Style, status: Status, text: &str) -> String {
    if !style.color {
        return text.to_string();
    }
    let code = match status {
        Status::Proved | Status::Checked => "32",
        Status::Tested => "36",
        Status::Assumed => "33",
        Status::Uncovered => "2",
        Status::Falsified => "1;31",
    };
    format!("\x1b[{code}m{text}\x1b[0m")
}

pub fn human(r: &Report, style: &Style) -> String {
    let mut s = String::new();
    for d in &r.diagnostics {
        let _ = writeln!(
            s,
            "{}:{}:{}: {}[{}]: {}",
            d.location.file, d.location.line, d.location.column, d.severity, d.code, d.message
        );
    }
    if r.totals.spec_errors > 0 {
        let _ = writeln!(
            s,
            "the specs have {} error(s): no contract was run (see `tlc check`)",
            r.totals.spec_errors
        );
        return s;
    }
    let width = r.contracts.iter().map(|c| c.id.len()).max().unwrap_or(0);
    for c in &r.contracts {
        let method = c.methods.last().map_or("-", |m| m.method.as_str());
        let mark = if c.meets_bar { " " } else { "!" };
        let status = paint(style, c.status, &format!("{:<9}", c.status.name()));
        let cached = if c.cached { " (cached)" } else { "" };
        let expected = if c.expected_failure() {
            " (expected)"
        } else {
            ""
        };
        let _ = writeln!(
            s,
            "{mark} {status}  {:<width$}  {:<11} {:>6} ms{cached}{expected}",
            c.id, method, c.millis
        );
        if let Some(why) = c.unmet_expectation() {
            let _ = writeln!(s, "      {why}");
        }
        if style.verbose || !c.meets_bar || c.status == Status::Uncovered {
            for m in &c.methods {
                let _ = writeln!(s, "      {}: {}", m.method, method_line(m));
            }
            if !c.rests_on.is_empty() {
                let _ = writeln!(s, "      rests on: {}", c.rests_on.join(", "));
            }
        }
    }
    let t = &r.totals;
    let _ = writeln!(
        s,
        "\n{} contracts: {} proved, {} checked, {} tested, {} assumed, {} uncovered, {} falsified{}{}",
        t.contracts,
        t.proved,
        t.checked,
        t.tested,
        t.assumed,
        t.uncovered,
        t.falsified,
        if t.expected_failures > 0 {
            format!(" ({} as expected)", t.expected_failures)
        } else {
            String::new()
        },
        if t.cached > 0 { format!(" ({} cached)", t.cached) } else { String::new() }
    );
    let _ = writeln!(
        s,
        "{} below the bar (fail_on = [{}])",
        t.below_bar,
        r.fail_on.join(", ")
    );
    s
}

fn method_line(m: &tl_ide::verify::MethodOutcome) -> String {
    use tl_ide::verify::Verdict;
    let v = match &m.verdict {
        Verdict::Holds => format!("holds (grants {})", m.grants),
        Verdict::Violated { counterexample } => {
            let outs: Vec<String> = counterexample
                .outputs
                .iter()
                .map(|(n, _, v)| format!("{n} = {}", short_values(v)))
                .collect();
            format!(
                "VIOLATED, confirmed on {}: {}",
                counterexample.confirmed_on,
                outs.join("; ")
            )
        }
        Verdict::Unknown { reason } => format!("unknown: {reason}"),
        Verdict::Timeout => "timeout".into(),
        Verdict::Error { code, message } => format!("error {code}: {message}"),
    };
    if m.detail.is_empty() {
        v
    } else {
        format!("{v}\n        {}", m.detail)
    }
}

fn short_values(v: &[f64]) -> String {
    let shown: Vec<String> = v.iter().take(10).map(|x| format!("{x:.4}")).collect();
    format!(
        "[{}{}]",
        shown.join(", "),
        if v.len() > 10 { ", ..." } else { "" }
    )
}

/// Rule ids of contract results (diagnostics use their own codes).
const RULES: [(&str, &str, &str); 4] = [
    (
        "TL0850",
        "ContractFalsified",
        "A confirmed counterexample violates the contract.",
    ),
    (
        "TL0851",
        "ContractUncovered",
        "No method established the contract: it has no evidence.",
    ),
    (
        "TL0852",
        "ContractHolds",
        "The contract holds with the reported status (proved, checked, tested or assumed).",
    ),
    (
        "TL0471",
        "ExpectedFalsifiedNotFalsified",
        "A contract marked `expect falsified` (a known-buggy variant) was not falsified.",
    ),
];

fn rule_of(c: &ContractEntry) -> &'static str {
    if c.unmet_expectation().is_some() {
        return "TL0471";
    }
    match c.status {
        Status::Falsified => "TL0850",
        Status::Uncovered => "TL0851",
        _ => "TL0852",
    }
}

fn sarif_region(l: &super::report::Location) -> serde_json::Value {
    json!({
        "physicalLocation": {
            "artifactLocation": { "uri": l.file },
            "region": {
                "startLine": l.line,
                "startColumn": l.column,
                "endLine": l.end_line,
                "endColumn": l.end_column
            }
        }
    })
}

/// The one-line message of a contract result in SARIF and GitHub output.
fn contract_message(c: &ContractEntry) -> String {
    if let Some(why) = c.unmet_expectation() {
        return format!("{why}: {}", c.summary());
    }
    let expected = if c.expected_failure() {
        ", as expected (expect falsified: a known-buggy variant)"
    } else {
        ""
    };
    format!(
        "contract `{}` is {}{expected}: {}",
        c.name,
        c.status,
        c.summary()
    )
}

pub fn sarif(r: &Report) -> serde_json::Value {
    let mut rules: Vec<serde_json::Value> = RULES
        .iter()
        .map(|(id, name, text)| json!({"id": id, "name": name, "shortDescription": {"text": text}}))
        .collect();
    let mut codes: Vec<&str> = r.diagnostics.iter().map(|d| d.code.as_str()).collect();
    codes.sort();
    codes.dedup();
    for code in codes {
        rules.push(json!({
            "id": code,
            "shortDescription": {"text": format!("tl diagnostic {code} (see `tlc explain {code}`)")}
        }));
    }
    let mut results: Vec<serde_json::Value> = r
        .diagnostics
        .iter()
        .map(|d| {
            json!({
                "ruleId": d.code,
                "level": match d.severity.as_str() { "error" => "error", "warning" => "warning", _ => "note" },
                "message": {"text": d.message},
                "locations": [sarif_region(&d.location)]
            })
        })
        .collect();
    for c in &r.contracts {
        let (kind, level) = match (c.meets_bar, c.status) {
            (false, _) => ("fail", "error"),
            // An expected failure: the bug is caught, as the spec says it should be.
            _ if c.expected_failure() => ("pass", "note"),
            (true, Status::Falsified | Status::Uncovered) => ("fail", "warning"),
            (true, _) => ("pass", "none"),
        };
        results.push(json!({
            "ruleId": rule_of(c),
            "kind": kind,
            "level": level,
            "message": {"text": contract_message(c)},
            "locations": [sarif_region(&c.location)],
            "properties": {
                "status": c.status.name(),
                "kind": c.kind,
                "meets_bar": c.meets_bar,
                "expected": c.expected,
                "expectation_met": c.expectation_met
            }
        }));
    }
    json!({
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {
                "name": "tlc",
                "version": r.tool.version,
                "rules": rules
            }},
            "results": results
        }]
    })
}

fn xml(s: &str) -> String {
    s.chars()
        .filter(|&c| c == '\n' || c == '\t' || c >= ' ')
        .map(|c| match c {
            '&' => "&amp;".to_string(),
            '<' => "&lt;".into(),
            '>' => "&gt;".into(),
            '"' => "&quot;".into(),
            '\'' => "&apos;".into(),
            c => c.to_string(),
        })
        .collect()
}

/// JUnit's skipped: an uncovered contract within the bar, or an expected failure (xfail).
fn junit_skipped(c: &ContractEntry) -> bool {
    c.expected_failure() || (c.meets_bar && c.status == Status::Uncovered)
}

pub fn junit(r: &Report) -> String {
    let mut files: Vec<&str> = r
        .contracts
        .iter()
        .map(|c| c.location.file.as_str())
        .collect();
    files.sort();
    files.dedup();
    let errors = r.totals.spec_errors;
    let failures = r.totals.below_bar;
    let skipped = r.contracts.iter().filter(|c| junit_skipped(c)).count();
    let secs = |ms: u64| format!("{:.3}", ms as f64 / 1000.0);
    let total_ms: u64 = r.contracts.iter().map(|c| c.millis).sum();
    let mut s = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(
        s,
        "<testsuites name=\"tlc verify\" tests=\"{}\" failures=\"{failures}\" errors=\"{errors}\" skipped=\"{skipped}\" time=\"{}\">",
        r.contracts.len() + errors,
        secs(total_ms)
    );
    if errors > 0 {
        let _ = writeln!(s, "  <testsuite name=\"spec diagnostics\" tests=\"{errors}\" failures=\"0\" errors=\"{errors}\" skipped=\"0\" time=\"0.000\">");
        for d in r.diagnostics.iter().filter(|d| d.severity == "error") {
            let _ = writeln!(
                s,
                "    <testcase name=\"{} {}:{}\" classname=\"{}\" time=\"0.000\">\n      <error message=\"{}\" type=\"{}\"/>\n    </testcase>",
                xml(&d.code), d.location.line, d.location.column, xml(&d.location.file), xml(&d.message), xml(&d.code)
            );
        }
        let _ = writeln!(s, "  </testsuite>");
    }
    for f in files {
        let cs: Vec<&ContractEntry> = r
            .contracts
            .iter()
            .filter(|c| c.location.file == f)
            .collect();
        let fails = cs.iter().filter(|c| !c.meets_bar).count();
        let skips = cs.iter().filter(|c| junit_skipped(c)).count();
        let _ = writeln!(
            s,
            "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{fails}\" errors=\"0\" skipped=\"{skips}\" time=\"{}\">",
            xml(f),
            cs.len(),
            secs(cs.iter().map(|c| c.millis).sum())
        );
        for c in cs {
            let _ = writeln!(
                s,
                "    <testcase name=\"{}\" classname=\"{}\" time=\"{}\">",
                xml(&c.name),
                xml(f),
                secs(c.millis)
            );
            let msg = format!("{}: {}", c.status, c.summary());
            if let Some(why) = c.unmet_expectation() {
                let _ = writeln!(
                    s,
                    "      <failure message=\"{}\" type=\"TL0471\"/>",
                    xml(&format!("{why}; {msg}"))
                );
            } else if c.expected_failure() {
                // As pytest writes an xfail: skipped, with the reason.
                let _ = writeln!(
                    s,
                    "      <skipped type=\"xfail\" message=\"{}\"/>",
                    xml(&format!("expected failure (expect falsified): {msg}"))
                );
            } else if !c.meets_bar {
                let _ = writeln!(
                    s,
                    "      <failure message=\"{}\" type=\"{}\"/>",
                    xml(&msg),
                    c.status
                );
            } else if c.status == Status::Uncovered {
                let _ = writeln!(s, "      <skipped message=\"{}\"/>", xml(&msg));
            }
            let evidence: Vec<String> = c
                .methods
                .iter()
                .map(|m| format!("{}: {}", m.method, method_line(m)))
                .collect();
            let _ = writeln!(
                s,
                "      <system-out>status {} (evidence {})\n{}</system-out>\n    </testcase>",
                c.status,
                c.evidence_status,
                xml(&evidence.join("\n"))
            );
        }
        let _ = writeln!(s, "  </testsuite>");
    }
    s.push_str("</testsuites>\n");
    s
}

/// GitHub workflow commands: `::error file=...,line=...::message`.
pub fn github(r: &Report) -> String {
    let data = |s: &str| {
        s.replace('%', "%25")
            .replace('\r', "%0D")
            .replace('\n', "%0A")
    };
    let prop = |s: &str| data(s).replace(':', "%3A").replace(',', "%2C");
    let mut s = String::new();
    for d in &r.diagnostics {
        let level = match d.severity.as_str() {
            "error" => "error",
            "warning" => "warning",
            _ => "notice",
        };
        let _ = writeln!(
            s,
            "::{level} file={},line={},col={},endLine={},endColumn={},title={}::{}",
            prop(&d.location.file),
            d.location.line,
            d.location.column,
            d.location.end_line,
            d.location.end_column,
            prop(&d.code),
            data(&d.message)
        );
    }
    for c in &r.contracts {
        let level = match (c.meets_bar, c.status) {
            (false, _) => "error",
            _ if c.expected_failure() => "notice",
            (true, Status::Falsified | Status::Uncovered) => "warning",
            _ => "notice",
        };
        let _ = writeln!(
            s,
            "::{level} file={},line={},col={},title={}::{}",
            prop(&c.location.file),
            c.location.line,
            c.location.column,
            prop(&format!("{} {} is {}", rule_of(c), c.name, c.status)),
            data(&match c.unmet_expectation() {
                Some(why) => format!("{why}: {}", c.summary()),
                None if c.expected_failure() =>
                    format!("as expected (expect falsified): {}", c.summary()),
                None => c.summary(),
            })
        );
    }
    let t = &r.totals;
    let _ = writeln!(
        s,
        "{} contracts: {} proved, {} checked, {} tested, {} assumed, {} uncovered, {} falsified{}; {} below the bar",
        t.contracts, t.proved, t.checked, t.tested, t.assumed, t.uncovered, t.falsified,
        if t.expected_failures > 0 { format!(" ({} as expected)", t.expected_failures) } else { String::new() },
        t.below_bar
    );
    s
}
