//! Diagnostics: a stable code, a message, a primary span, secondary labels, notes and help.
//!
//! Inside the per-item queries spans are item-relative ([`Span`]) so that an edit elsewhere in the
//! file leaves those query results equal; [`Diagnostic::resolve`] turns them into file positions
//! only at the end, in a cheap query that is allowed to re-run on every keystroke.

use tl_syntax::TextRange;

use crate::db::{Db, SourceFile};
use crate::items::ItemSource;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Error,
    Warning,
    Info,
}

/// A position relative to the start of one item, or to the start of a file (for text outside any
/// item, and for whole-file problems such as an unreadable import).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, salsa::SalsaValue)]
pub enum Span<'db> {
    Item(ItemSource<'db>, TextRange),
    File(SourceFile, TextRange),
}

/// An absolute position: a file and a byte range in it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct FileSpan {
    pub file: SourceFile,
    pub range: TextRange,
}

impl<'db> Span<'db> {
    pub fn resolve(self, db: &'db dyn Db) -> FileSpan {
        match self {
            Span::Item(item, range) => FileSpan {
                file: item.file(db),
                range: range.shift(item.offset(db)),
            },
            Span::File(file, range) => FileSpan { file, range },
        }
    }
}

/// A diagnostic as the per-item queries produce it.
#[derive(Clone, Debug, PartialEq, Eq, Hash, salsa::SalsaValue)]
pub struct Diagnostic<'db> {
    /// The number in `TLxxxx`.
    pub code: u16,
    pub severity: Severity,
    pub message: String,
    pub span: Span<'db>,
    /// The label under the primary span (may be empty).
    pub label: String,
    pub related: Vec<(Span<'db>, String)>,
    pub notes: Vec<String>,
    pub help: Option<String>,
    /// Code that has no effect (an assumption nothing rests on): editors fade it.
    pub unnecessary: bool,
}

impl<'db> Diagnostic<'db> {
    pub fn error(code: u16, span: Span<'db>, message: impl Into<String>) -> Self {
        Diagnostic {
            code,
            severity: Severity::Error,
            message: message.into(),
            span,
            label: String::new(),
            related: Vec::new(),
            notes: Vec::new(),
            help: None,
            unnecessary: false,
        }
    }
    pub fn warning(code: u16, span: Span<'db>, message: impl Into<String>) -> Self {
        Diagnostic {
            severity: Severity::Warning,
            ..Diagnostic::error(code, span, message)
        }
    }
    pub fn with_label(mut self, label: impl Into<String>) -> Self {
        self.label = label.into();
        self
    }
    pub fn with_related(mut self, span: Span<'db>, message: impl Into<String>) -> Self {
        self.related.push((span, message.into()));
        self
    }
    pub fn with_note(mut self, note: impl Into<String>) -> Self {
        self.notes.push(note.into());
        self
    }
    pub fn with_help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }
    pub fn unnecessary(mut self) -> Self {
        self.unnecessary = true;
        self
    }

    /// The diagnostic in absolute file positions, as front ends show it.
    pub fn resolve(&self, db: &'db dyn Db) -> ResolvedDiagnostic {
        ResolvedDiagnostic {
            code: self.code,
            severity: self.severity,
            message: self.message.clone(),
            span: self.span.resolve(db),
            label: self.label.clone(),
            related: self
                .related
                .iter()
                .map(|(s, m)| (s.resolve(db), m.clone()))
                .collect(),
            notes: self.notes.clone(),
            help: self.help.clone(),
            unnecessary: self.unnecessary,
        }
    }
}

/// A diagnostic in file positions: what the CLI renders and the server publishes.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ResolvedDiagnostic {
    pub code: u16,
    pub severity: Severity,
    pub message: String,
    pub span: FileSpan,
    pub label: String,
    pub related: Vec<(FileSpan, String)>,
    pub notes: Vec<String>,
    pub help: Option<String>,
    pub unnecessary: bool,
}

impl ResolvedDiagnostic {
    /// `TL0123`.
    pub fn code_str(&self) -> String {
        code_str(self.code)
    }
}

pub fn code_str(code: u16) -> String {
    format!("TL{code:04}")
}

/// Parses `TL0123` (or `tl0123`, `123`) into the number.
pub fn parse_code(text: &str) -> Option<u16> {
    let t = text.trim();
    let digits = t
        .strip_prefix("TL")
        .or_else(|| t.strip_prefix("tl"))
        .unwrap_or(t);
    if digits.is_empty() || digits.len() > 4 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// The section of docs/diagnostics.md for a code, as `tlc explain` prints it.
pub fn explain(code: u16) -> Option<&'static str> {
    let doc = include_str!("../../docs/diagnostics.md");
    let head = format!("## {}", code_str(code));
    let start = doc.find(&head)?;
    let rest = &doc[start..];
    let end = rest[head.len()..]
        .find("\n## ")
        .map(|i| i + head.len() + 1)
        .unwrap_or(rest.len());
    Some(rest[..end].trim_end())
}

/// Every code documented in docs/diagnostics.md, in order.
pub fn documented_codes() -> Vec<u16> {
    include_str!("../../docs/diagnostics.md")
        .lines()
        .filter_map(|l| l.strip_prefix("## TL"))
        .filter_map(|l| l.get(..4))
        .filter_map(|d| d.parse().ok())
        .collect()
}
