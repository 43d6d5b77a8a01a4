//! Ledgers and coverage as text (terminal), markdown (hovers, reports) and the JSON report shape.

use std::fmt::Write;

use super::coverage::short_id;
use super::{Expectation, GraphCoverage, Ledger, Link, SCHEMA};

/// What `tlc trust --format json` writes; documented in docs/trust.md.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct TrustReport {
    /// [`SCHEMA`]: bumped whenever a field changes meaning or disappears.
    pub schema: &'static str,
    /// Whether a verify run filled the method links (else they are pending).
    pub verified: bool,
    pub files: Vec<FileTrust>,
}

/// One spec file's ledgers and graph coverage.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct FileTrust {
    /// The path as given on the command line.
    pub file: String,
    /// Error diagnostics in the file (`tlc check` lists them); its ledgers are then incomplete.
    pub errors: usize,
    pub contracts: Vec<Ledger>,
    pub graphs: Vec<GraphCoverage>,
}

impl TrustReport {
    pub fn new(verified: bool, files: Vec<FileTrust>) -> TrustReport {
        TrustReport {
            schema: SCHEMA,
            verified,
            files,
        }
    }
}

fn status_word(l: &Link) -> String {
    if l.pending {
        "pending".into()
    } else {
        l.status.to_string()
    }
}

fn headline(l: &Ledger) -> String {
    let mut s = format!(
        "contract {} on {}{}: {}",
        l.contract,
        l.target.as_deref().unwrap_or("?"),
        l.kind
            .as_deref()
            .map(|k| format!(" ({k})"))
            .unwrap_or_default(),
        l.status
    );
    if l.pending {
        let _ = write!(
            s,
            ", pending verification (at most {} once verified)",
            l.ceiling
        );
    }
    if let Some(e) = l.expected {
        let _ = write!(s, "{}", expectation_text(e, l.expectation_met));
    }
    if l.errors > 0 {
        let _ = write!(s, " [{} error(s): run `tlc check`]", l.errors);
    }
    s
}

/// The headline's words for `expect falsified`: met (an expected failure), not met (TL0471), or
/// not judged yet.
pub fn expectation_text(e: Expectation, met: Option<bool>) -> String {
    match met {
        Some(true) => format!(", as expected (expect {}: a known-buggy variant)", e.name()),
        Some(false) => format!(
            ", but the spec expects {} [TL0471: the buggy variant is no longer {}]",
            e.name(),
            e.name()
        ),
        None => format!(" (expect {})", e.name()),
    }
}

/// A ledger for a terminal.
pub fn ledger_text(l: &Ledger) -> String {
    let mut s = headline(l);
    s.push('\n');
    for link in &l.links {
        let _ = writeln!(
            s,
            "  {:<10} {:<10} {}{}",
            link.layer.name(),
            status_word(link),
            link.claim,
            if link.required { "" } else { " [not required]" }
        );
        for e in &link.evidence {
            let _ = writeln!(s, "             - {e}");
        }
        if !link.assumptions.is_empty() {
            let _ = writeln!(s, "             rests on: {}", link.assumptions.join(", "));
        }
        if !link.catalog_entries.is_empty() {
            let _ = writeln!(s, "             cites: {}", link.catalog_entries.join(", "));
        }
    }
    if let Some(c) = &l.card {
        let _ = writeln!(s, "  card       BugZoo {}", c.card);
        for t in &c.torchlean {
            let _ = writeln!(s, "             - TorchLean proves `{}`: {}", t.id, t.title);
            if let Some(st) = &t.statement {
                let _ = writeln!(s, "               {st}");
            }
        }
        let _ = writeln!(s, "             - {}", c.tl);
    }
    if l.assumptions.is_empty() {
        s.push_str("  assumptions: none\n");
    } else {
        s.push_str("  assumptions:\n");
        for a in &l.assumptions {
            let links: Vec<&str> = a.links.iter().map(|k| k.name()).collect();
            let _ = writeln!(
                s,
                "    {} ({}{}) used by {}: {}",
                a.name,
                a.source,
                a.kind
                    .as_deref()
                    .map(|k| format!(", {k}"))
                    .unwrap_or_default(),
                if links.is_empty() {
                    "no link".to_string()
                } else {
                    links.join(", ")
                },
                a.text
            );
        }
    }
    for b in &l.boundaries {
        if b.covered_by.is_empty() {
            let _ = writeln!(
                s,
                "  warning[{}]: boundary {} `{}` has no assumption; add {}",
                b.code,
                b.link.name(),
                b.what,
                b.suggestion.as_deref().unwrap_or("an assumption")
            );
        } else {
            let _ = writeln!(
                s,
                "  boundary {} `{}`: assumed by {}",
                b.link.name(),
                b.what,
                b.covered_by.join(", ")
            );
        }
    }
    s
}

fn md(text: &str) -> String {
    text.replace('|', "\\|")
}

/// A ledger as markdown (for hovers and reports).
pub fn ledger_markdown(l: &Ledger) -> String {
    let mut s = format!("### {}\n\n", md(&headline(l)));
    s.push_str("| link | status | claim | evidence | rests on |\n|---|---|---|---|---|\n");
    for link in &l.links {
        let mut evidence = link.evidence.join("<br>");
        if !link.catalog_entries.is_empty() {
            let cites: Vec<String> = link
                .catalog_entries
                .iter()
                .map(|e| format!("`{}`", short_id(e)))
                .collect();
            let _ = write!(evidence, "<br>cites {}", cites.join(", "));
        }
        let _ = writeln!(
            s,
            "| {}{} | **{}** | {} | {} | {} |",
            link.layer.name(),
            if link.required { "" } else { " (not required)" },
            status_word(link),
            md(&link.claim),
            md(&evidence),
            md(&link.assumptions.join(", "))
        );
    }
    if let Some(c) = &l.card {
        let _ = writeln!(s, "\n**BugZoo card {}**\n", md(&c.card));
        for t in &c.torchlean {
            let _ = writeln!(
                s,
                "- TorchLean proves `{}`: {}",
                short_id(&t.id),
                md(&t.title)
            );
        }
        let _ = writeln!(s, "- {}", md(&c.tl));
    }
    if !l.assumptions.is_empty() {
        s.push_str("\n**Assumptions**\n\n");
        for a in &l.assumptions {
            let _ = writeln!(s, "- `{}` ({}): {}", a.name, a.source, md(&a.text));
        }
    }
    let open: Vec<_> = l
        .boundaries
        .iter()
        .filter(|b| b.covered_by.is_empty())
        .collect();
    if !open.is_empty() {
        s.push_str("\n**Uncovered trust boundaries**\n\n");
        for b in open {
            let _ = writeln!(
                s,
                "- {} `{}` ({}): add `{}`",
                b.link.name(),
                md(&b.what),
                b.code,
                b.suggestion.as_deref().unwrap_or("an assumption")
            );
        }
    }
    s
}

/// Per-layer coverage of a graph, and the nodes that are not covered, for a terminal.
pub fn coverage_text(c: &GraphCoverage) -> String {
    let mut s = format!("graph {} ({})", c.graph, c.origin);
    if let Some(e) = &c.error {
        let _ = writeln!(s, ": coverage unavailable: {e}");
        return s;
    }
    let n = c.nodes.len();
    let _ = writeln!(s, ": {n} op node{}", if n == 1 { "" } else { "s" });
    for layer in &c.layers {
        let _ = writeln!(
            s,
            "  {:<20} {:>5.1}%  {}/{} covered{}",
            layer.layer,
            layer.percent,
            layer.covered,
            layer.total,
            if layer.assumed > 0 {
                format!(" ({} under assumptions)", layer.assumed)
            } else {
                String::new()
            }
        );
        for t in &layer.theorems {
            let _ = writeln!(
                s,
                "      whole graph: {} {}{}",
                short_id(&t.entry),
                t.status,
                if t.detail.is_empty() {
                    String::new()
                } else {
                    format!(" ({})", t.detail)
                }
            );
        }
    }
    let mut first = true;
    for n in &c.nodes {
        for l in n.layers.iter().filter(|l| l.reason.is_some()) {
            if std::mem::take(&mut first) {
                s.push_str("  not covered:\n");
            }
            let _ = writeln!(
                s,
                "    {} ({}) in {}: {}",
                n.node,
                n.op,
                l.layer,
                l.reason.as_deref().unwrap_or_default()
            );
        }
    }
    s
}

/// Per-layer coverage of a graph as markdown: a summary table, then one row per node.
pub fn coverage_markdown(c: &GraphCoverage) -> String {
    let mut s = format!("### Coverage of `{}`\n\n", c.graph);
    if let Some(e) = &c.error {
        let _ = writeln!(s, "Unavailable: {}", md(e));
        return s;
    }
    s.push_str("| layer | covered | of | % | under assumptions |\n|---|---|---|---|---|\n");
    for l in &c.layers {
        let _ = writeln!(
            s,
            "| {} | {} | {} | {:.1} | {} |",
            l.layer, l.covered, l.total, l.percent, l.assumed
        );
    }
    s.push_str("\n| node | op |");
    for l in &c.layers {
        let _ = write!(s, " {} |", l.layer);
    }
    s.push_str("\n|---|---|");
    for _ in &c.layers {
        s.push_str("---|");
    }
    s.push('\n');
    for n in &c.nodes {
        let _ = write!(s, "| `{}` | {} |", n.node, n.op);
        for l in &n.layers {
            let cell = match &l.reason {
                Some(r) => format!("uncovered: {}", md(r)),
                None => format!(
                    "{} ({})",
                    l.status,
                    l.entries
                        .iter()
                        .map(|e| short_id(e))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            };
            let _ = write!(s, " {cell} |");
        }
        s.push('\n');
    }
    s
}
