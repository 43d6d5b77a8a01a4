//! Rendering diagnostics for the terminal with codespan-reporting.

use codespan_reporting::diagnostic::{Diagnostic, Label, Severity as CsSeverity};
use codespan_reporting::files::SimpleFiles;
use codespan_reporting::term::{self, Config};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

use tl_ide::{Analysis, Diagnostic as IdeDiagnostic, Severity};

/// Renders diagnostics of any files, with source snippets (`human`) or one line each (`short`).
pub struct Renderer<'a> {
    analysis: &'a Analysis,
    files: SimpleFiles<String, String>,
    ids: HashMap<PathBuf, usize>,
    base: std::path::PathBuf,
    color: bool,
}

impl<'a> Renderer<'a> {
    pub fn new(analysis: &'a Analysis) -> Self {
        Renderer {
            analysis,
            files: SimpleFiles::new(),
            ids: HashMap::new(),
            base: std::env::current_dir().unwrap_or_default(),
            color: colors_enabled(),
        }
    }

    fn id(&mut self, path: &Path) -> usize {
        if let Some(&id) = self.ids.get(path) {
            return id;
        }
        let name = path
            .strip_prefix(&self.base)
            .unwrap_or(path)
            .display()
            .to_string();
        // An unreadable file is shown lossily, so its diagnostic points at the bad byte.
        let text = crate::uncancelled(self.analysis.display_text(path));
        let id = self.files.add(name, text);
        self.ids.insert(path.to_path_buf(), id);
        id
    }

    /// `path:line:col: severity[TL0123]: message`.
    pub fn short(&mut self, d: &IdeDiagnostic) -> String {
        let id = self.id(&d.range.path);
        let file = self.files.get(id).expect("added");
        let (line, col) = line_col(file.source(), d.range.range.start as usize);
        format!(
            "{}:{line}:{col}: {}[{}]: {}",
            file.name(),
            severity_word(d.severity),
            d.code_str(),
            d.message
        )
    }

    pub fn human(&mut self, d: &IdeDiagnostic) -> String {
        let id = self.id(&d.range.path);
        let mut labels =
            vec![Label::primary(id, range(d.range.range, self.len(id)))
                .with_message(d.label.clone())];
        for (span, message) in &d.related {
            let rid = self.id(&span.path);
            let len = self.len(rid);
            labels
                .push(Label::secondary(rid, range(span.range, len)).with_message(message.clone()));
        }
        let mut notes = d.notes.clone();
        if let Some(help) = &d.help {
            notes.push(format!("help: {help}"));
        }
        let diag = Diagnostic::new(match d.severity {
            Severity::Error => CsSeverity::Error,
            Severity::Warning => CsSeverity::Warning,
            Severity::Info => CsSeverity::Note,
        })
        .with_message(d.message.clone())
        .with_code(d.code_str())
        .with_labels(labels)
        .with_notes(notes);
        if self.color {
            let mut buf = term::termcolor::Buffer::ansi();
            match term::emit_to_write_style(&mut buf, &Config::default(), &self.files, &diag) {
                Ok(()) => String::from_utf8_lossy(buf.as_slice()).into_owned(),
                Err(e) => format!("{e}\n"),
            }
        } else {
            term::emit_into_string(&Config::default(), &self.files, &diag)
                .unwrap_or_else(|e| format!("{e}\n"))
        }
    }

    fn len(&self, id: usize) -> usize {
        self.files.get(id).map(|f| f.source().len()).unwrap_or(0)
    }
}

/// Colours on a terminal, unless NO_COLOR is set (https://no-color.org).
pub fn colors_enabled() -> bool {
    use std::io::IsTerminal;
    std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty()) && std::io::stdout().is_terminal()
}

fn range(r: tl_syntax::TextRange, len: usize) -> std::ops::Range<usize> {
    let start = (r.start as usize).min(len);
    start..(r.end as usize).clamp(start, len)
}

fn severity_word(s: Severity) -> &'static str {
    match s {
        Severity::Error => "error",
        Severity::Warning => "warning",
        Severity::Info => "info",
    }
}

/// 1-based line and column (in characters) of a byte offset.
pub fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(text.len());
    let before = &text[..text.floor_char_boundary(offset)];
    let line = before.matches('\n').count() + 1;
    let col = before
        .rsplit('\n')
        .next()
        .map(|l| l.chars().count())
        .unwrap_or(0)
        + 1;
    (line, col)
}
