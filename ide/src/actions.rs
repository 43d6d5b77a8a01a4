//! Code actions (quick fixes for diagnostics) and whole-file formatting.

use tl_syntax::ast::Item;
use tl_syntax::TextRange;

use super::{file_text, item_at, FileEdit};
use tl_analysis::check::file_diagnostics;
use tl_analysis::db::{Db, SourceFile};
use tl_analysis::diagnostics::ResolvedDiagnostic;
use tl_analysis::items::{parse_item, DefKind, ItemSource};
use tl_analysis::scope::{lookup, visible_names};

/// A quick fix for one diagnostic.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CodeAction {
    pub title: String,
    /// The code of the diagnostic it fixes, and that diagnostic's range.
    pub code: u16,
    pub diagnostic_range: TextRange,
    pub edits: Vec<FileEdit>,
    /// The one fix an editor may apply without asking (a did-you-mean).
    pub preferred: bool,
}

/// Fixes for the diagnostics of `file` that overlap `range`.
pub fn code_actions(db: &dyn Db, file: SourceFile, range: TextRange) -> Vec<CodeAction> {
    let mut out = Vec::new();
    for d in file_diagnostics(db, file) {
        let r = d.span.range;
        if d.span.file != file || r.end < range.start || r.start > range.end {
            continue;
        }
        let cx = Fix { db, file, d: &d };
        match d.code {
            407 => out.extend(cx.declare_assumption()),
            420 => out.extend(cx.cuda_assumption()),
            401 => out.extend(cx.declare_tolerance()),
            410 => out.extend(cx.contract_tolerance()),
            _ => {}
        }
        out.extend(cx.did_you_mean());
    }
    out
}

struct Fix<'a> {
    db: &'a dyn Db,
    file: SourceFile,
    d: &'a ResolvedDiagnostic,
}

impl Fix<'_> {
    fn text(&self) -> &str {
        file_text(self.db, self.file)
    }
    fn action(&self, title: String, edits: Vec<FileEdit>, preferred: bool) -> CodeAction {
        CodeAction {
            title,
            code: self.d.code,
            diagnostic_range: self.d.span.range,
            edits,
            preferred,
        }
    }
    fn edit(&self, range: TextRange, new_text: String) -> FileEdit {
        FileEdit {
            path: self.file.path(self.db).clone(),
            range,
            new_text,
        }
    }
    /// The text under the diagnostic (a name).
    fn subject(&self) -> Option<&str> {
        let r = self.d.span.range;
        self.text().get(r.start as usize..r.end as usize)
    }
    /// An edit appending a declaration at the end of the file, after one blank line.
    fn append(&self, declaration: &str) -> FileEdit {
        let text = self.text();
        let end = text.len() as u32;
        let sep = if text.is_empty() || text.ends_with("\n\n") {
            ""
        } else if text.ends_with('\n') {
            "\n"
        } else {
            "\n\n"
        };
        self.edit(TextRange::new(end, end), format!("{sep}{declaration}\n"))
    }
    fn is_defined(&self, name: &str) -> bool {
        lookup(self.db, self.file, &[name]).is_some()
    }

    fn declare_assumption(&self) -> Option<CodeAction> {
        let name = self.subject()?;
        if !super::text::is_identifier(name) || self.is_defined(name) {
            return None;
        }
        Some(self.action(
            format!("Declare assumption `{name}`"),
            vec![self.append(&format!(
                "assume kernel {name}: \"state why this holds and who checked it\""
            ))],
            false,
        ))
    }

    fn declare_tolerance(&self) -> Option<CodeAction> {
        if !self.d.message.starts_with("unknown tolerance") {
            return None;
        }
        let name = self.subject()?;
        if !super::text::is_identifier(name) || self.is_defined(name) {
            return None;
        }
        Some(self.action(
            format!("Declare tolerance `{name}`"),
            vec![self.append(&format!("tolerance {name} = abs 1e-5, rel 1e-4"))],
            false,
        ))
    }

    /// The contract the diagnostic is in.
    fn contract(&self) -> Option<(ItemSource<'_>, &tl_syntax::ast::Contract)> {
        let item = item_at(self.db, self.file, self.d.span.range.start)?;
        match &parse_item(self.db, item).item {
            Item::Contract(c) => Some((item, c)),
            _ => None,
        }
    }

    fn cuda_assumption(&self) -> Vec<CodeAction> {
        let Some((item, c)) = self.contract() else {
            return Vec::new();
        };
        let name = "cuda_kernels";
        let mut edits = Vec::new();
        match lookup(self.db, self.file, &[name]) {
            Some(def) if def.kind != DefKind::Assumption => return Vec::new(),
            Some(_) => {}
            None => edits.push(self.append(&format!(
                "assume kernel {name}: \"the CUDA kernels this contract runs compute what the reference ops specify\""
            ))),
        }
        let base = item.offset(self.db);
        let item_text = item.text(self.db);
        let Some(close) = item_text.rfind('}') else {
            return Vec::new();
        };
        let line_start = item_text[..close].rfind('\n').map_or(0, |i| i + 1);
        let (at, text) = if item_text[line_start..close].trim().is_empty() {
            (line_start, format!("  rests on {name}\n"))
        } else {
            (close, format!("\n  rests on {name}\n"))
        };
        let at = base + at as u32;
        edits.push(self.edit(TextRange::new(at, at), text));
        vec![self.action(
            format!(
                "Rest contract `{}` on a kernel assumption `{name}`",
                c.name.text
            ),
            edits,
            false,
        )]
    }

    fn contract_tolerance(&self) -> Vec<CodeAction> {
        let Some((item, c)) = self.contract() else {
            return Vec::new();
        };
        if c.tolerance.is_some() {
            return Vec::new();
        }
        let at = item.offset(self.db) + c.target.span.end;
        let insert = |name: &str| self.edit(TextRange::new(at, at), format!(" within {name}"));
        let mut out = Vec::new();
        let mut tolerances: Vec<String> = visible_names(self.db, self.file)
            .into_iter()
            .filter(|(_, d)| d.kind == DefKind::Tolerance)
            .map(|(n, _)| n)
            .collect();
        tolerances.sort();
        for t in tolerances.iter().take(3) {
            out.push(self.action(
                format!("Check contract `{}` within tolerance `{t}`", c.name.text),
                vec![insert(t)],
                false,
            ));
        }
        let mut fresh = format!("{}_tol", c.name.text);
        while self.is_defined(&fresh) {
            fresh.push('_');
        }
        out.push(self.action(
            format!(
                "Declare tolerance `{fresh}` and check `{}` within it",
                c.name.text
            ),
            vec![
                insert(&fresh),
                self.append(&format!("tolerance {fresh} = abs 1e-5, rel 1e-4")),
            ],
            false,
        ));
        out
    }

    /// `help: did you mean `x`?` becomes a replacement of the diagnostic's range.
    fn did_you_mean(&self) -> Option<CodeAction> {
        let help = self.d.help.as_deref()?;
        let suggestion = help.strip_prefix("did you mean `")?.strip_suffix("`?")?;
        Some(self.action(
            format!("Replace with `{suggestion}`"),
            vec![self.edit(self.d.span.range, suggestion.to_string())],
            true,
        ))
    }
}

/// The formatted text of `file`: `Ok(None)` when it is already formatted, `Err` with a reason
/// when it has syntax errors (the formatter never guesses).
pub fn format_file(db: &dyn Db, file: SourceFile) -> Result<Option<String>, String> {
    let text = file_text(db, file);
    match tl_syntax::format(text) {
        Ok(formatted) if formatted == text => Ok(None),
        Ok(formatted) => Ok(Some(formatted)),
        Err(errors) => Err(format!(
            "cannot format: the file has {} syntax error(s); fix them first",
            errors.len()
        )),
    }
}
