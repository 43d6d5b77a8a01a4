//! The facade's plain data as LSP types. Positions are computed against the text the analysis
//! saw (the database snapshot), so ranges always match the diagnostics and tokens they describe.

use std::cell::RefCell;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::str::FromStr;

use tl_ide as ide;
use tl_ide::{Analysis, Cancellable, FileRange, Severity};
use tower_lsp_server::ls_types::{self as lsp, Uri};

use crate::position::{Encoding, LineIndex};

/// Conversion context: one analysis snapshot, the encoding, and the open documents' URIs.
pub struct Cx<'a> {
    pub analysis: &'a Analysis,
    pub encoding: Encoding,
    /// URIs of open documents by normalised path (an `untitled:` buffer keeps its URI).
    pub uris: &'a HashMap<PathBuf, Uri>,
    /// `file:///.../docs/diagnostics.md`, for codeDescription links.
    pub docs: Option<&'a str>,
    /// Texts fetched from the snapshot, so that many ranges in one file copy it once.
    texts: RefCell<HashMap<PathBuf, Rc<String>>>,
}

impl<'a> Cx<'a> {
    pub fn new(
        analysis: &'a Analysis,
        encoding: Encoding,
        uris: &'a HashMap<PathBuf, Uri>,
        docs: Option<&'a str>,
    ) -> Cx<'a> {
        Cx {
            analysis,
            encoding,
            uris,
            docs,
            texts: RefCell::default(),
        }
    }

    /// The text of `path` as the snapshot holds it (what every offset is into).
    pub fn text(&self, path: &Path) -> Cancellable<Rc<String>> {
        if let Some(t) = self.texts.borrow().get(path) {
            return Ok(t.clone());
        }
        let text = Rc::new(self.analysis.file_text(path)?);
        self.texts
            .borrow_mut()
            .insert(path.to_path_buf(), text.clone());
        Ok(text)
    }

    pub fn index<'t>(&self, text: &'t str) -> LineIndex<'t> {
        LineIndex::new(text, self.encoding)
    }

    pub fn uri(&self, path: &Path) -> Option<Uri> {
        self.uris
            .get(path)
            .cloned()
            .or_else(|| Uri::from_file_path(path))
    }

    pub fn location(&self, r: &FileRange) -> Cancellable<Option<lsp::Location>> {
        let Some(uri) = self.uri(&r.path) else {
            return Ok(None);
        };
        let text = self.text(&r.path)?;
        Ok(Some(lsp::Location {
            uri,
            range: self.index(&text).range(r.range),
        }))
    }

    /// Locations of `ranges`, dropping those without a URI.
    pub fn locations(&self, ranges: &[FileRange]) -> Cancellable<Vec<lsp::Location>> {
        let mut out = Vec::with_capacity(ranges.len());
        for r in ranges {
            out.extend(self.location(r)?);
        }
        Ok(out)
    }

    pub fn diagnostic(
        &self,
        d: &ide::Diagnostic,
        index: &LineIndex<'_>,
    ) -> Cancellable<lsp::Diagnostic> {
        let mut message = d.message.clone();
        if !d.label.is_empty() {
            message.push_str(&format!(" ({})", d.label));
        }
        for n in &d.notes {
            message.push_str(&format!("\nnote: {n}"));
        }
        if let Some(h) = &d.help {
            message.push_str(&format!("\nhelp: {h}"));
        }
        let code = d.code_str();
        let code_description = self.docs.and_then(|base| {
            Uri::from_str(&format!("{base}#{}", code.to_lowercase()))
                .ok()
                .map(|href| lsp::CodeDescription { href })
        });
        let mut related: Vec<lsp::DiagnosticRelatedInformation> = Vec::new();
        for (span, msg) in &d.related {
            if let Some(location) = self.location(span)? {
                related.push(lsp::DiagnosticRelatedInformation {
                    location,
                    message: msg.clone(),
                });
            }
        }
        Ok(lsp::Diagnostic {
            range: index.range(d.range.range),
            severity: Some(match d.severity {
                Severity::Error => lsp::DiagnosticSeverity::ERROR,
                Severity::Warning => lsp::DiagnosticSeverity::WARNING,
                Severity::Info => lsp::DiagnosticSeverity::INFORMATION,
            }),
            code: Some(lsp::NumberOrString::String(code)),
            code_description,
            source: Some("tl".into()),
            message,
            related_information: (!related.is_empty()).then_some(related),
            tags: d.unnecessary.then(|| vec![lsp::DiagnosticTag::UNNECESSARY]),
            data: None,
        })
    }

    pub fn edits(&self, edits: &[ide::FileEdit]) -> Cancellable<HashMap<Uri, Vec<lsp::TextEdit>>> {
        let mut out: HashMap<Uri, Vec<lsp::TextEdit>> = HashMap::new();
        for e in edits {
            let text = self.text(&e.path)?;
            let Some(uri) = self.uri(&e.path) else {
                continue;
            };
            let range = self.index(&text).range(e.range);
            out.entry(uri).or_default().push(lsp::TextEdit {
                range,
                new_text: e.new_text.clone(),
            });
        }
        Ok(out)
    }
}

pub fn markdown(value: String) -> lsp::MarkupContent {
    lsp::MarkupContent {
        kind: lsp::MarkupKind::Markdown,
        value,
    }
}

/// Semantic token legend: `ide::TokenKind::ALL` in order.
pub fn token_type(kind: ide::TokenKind) -> lsp::SemanticTokenType {
    use ide::TokenKind as K;
    match kind {
        K::Keyword => lsp::SemanticTokenType::KEYWORD,
        K::Op => lsp::SemanticTokenType::FUNCTION,
        K::Node => lsp::SemanticTokenType::VARIABLE,
        K::Input => lsp::SemanticTokenType::PARAMETER,
        K::Param => lsp::SemanticTokenType::PROPERTY,
        K::Type => lsp::SemanticTokenType::TYPE,
        K::Graph => lsp::SemanticTokenType::CLASS,
        K::Declaration => lsp::SemanticTokenType::ENUM_MEMBER,
        K::Attribute => lsp::SemanticTokenType::DECORATOR,
        K::Method => lsp::SemanticTokenType::METHOD,
        K::Number => lsp::SemanticTokenType::NUMBER,
        K::String => lsp::SemanticTokenType::STRING,
        K::Comment => lsp::SemanticTokenType::COMMENT,
    }
}

pub fn legend() -> lsp::SemanticTokensLegend {
    lsp::SemanticTokensLegend {
        token_types: ide::TokenKind::ALL.iter().map(|k| token_type(*k)).collect(),
        token_modifiers: vec![lsp::SemanticTokenModifier::DECLARATION],
    }
}

/// Delta-encoded semantic tokens (every tl token lies on one line).
pub fn semantic_tokens(
    tokens: &[ide::SemanticToken],
    index: &LineIndex<'_>,
) -> Vec<lsp::SemanticToken> {
    let mut out = Vec::with_capacity(tokens.len());
    let (mut prev_line, mut prev_char) = (0u32, 0u32);
    for t in tokens {
        let start = index.position(t.range.start);
        let end = index.position(t.range.end);
        if end.line != start.line || end.character <= start.character {
            continue;
        }
        let kind = ide::TokenKind::ALL
            .iter()
            .position(|k| *k == t.kind)
            .unwrap_or(0) as u32;
        let delta_line = start.line - prev_line;
        let delta_start = if delta_line == 0 {
            start.character - prev_char
        } else {
            start.character
        };
        out.push(lsp::SemanticToken {
            delta_line,
            delta_start,
            length: end.character - start.character,
            token_type: kind,
            token_modifiers_bitset: u32::from(t.definition),
        });
        prev_line = start.line;
        prev_char = start.character;
    }
    out
}

pub fn completion_kind(kind: ide::CompletionKind) -> lsp::CompletionItemKind {
    use ide::CompletionKind as K;
    match kind {
        K::Op | K::Function => lsp::CompletionItemKind::FUNCTION,
        K::Attribute => lsp::CompletionItemKind::PROPERTY,
        K::Block | K::Graph => lsp::CompletionItemKind::CLASS,
        K::Input | K::Node => lsp::CompletionItemKind::VARIABLE,
        K::Param => lsp::CompletionItemKind::FIELD,
        K::Tolerance | K::Assumption => lsp::CompletionItemKind::CONSTANT,
        K::Contract => lsp::CompletionItemKind::INTERFACE,
        K::Method => lsp::CompletionItemKind::METHOD,
        K::Keyword => lsp::CompletionItemKind::KEYWORD,
        K::File => lsp::CompletionItemKind::FILE,
        K::Folder => lsp::CompletionItemKind::FOLDER,
    }
}

pub fn symbol_kind(kind: ide::SymbolKind) -> lsp::SymbolKind {
    use ide::SymbolKind as K;
    match kind {
        K::Graph => lsp::SymbolKind::CLASS,
        K::Block => lsp::SymbolKind::STRUCT,
        K::Input => lsp::SymbolKind::VARIABLE,
        K::Param => lsp::SymbolKind::FIELD,
        K::Node => lsp::SymbolKind::VARIABLE,
        K::Contract => lsp::SymbolKind::INTERFACE,
        K::Tolerance => lsp::SymbolKind::CONSTANT,
        K::Assumption => lsp::SymbolKind::PROPERTY,
        K::Import => lsp::SymbolKind::MODULE,
    }
}

#[allow(deprecated)]
pub fn document_symbol(s: &ide::DocumentSymbol, index: &LineIndex<'_>) -> lsp::DocumentSymbol {
    lsp::DocumentSymbol {
        name: s.name.clone(),
        detail: s.detail.clone(),
        kind: symbol_kind(s.kind),
        tags: None,
        deprecated: None,
        range: index.range(s.range),
        selection_range: index.range(s.selection_range),
        children: (!s.children.is_empty()).then(|| {
            s.children
                .iter()
                .map(|c| document_symbol(c, index))
                .collect()
        }),
    }
}

/// A snippet as plain text, for clients without snippet support: `${1:x}` -> `x`,
/// `${1|a,b|}` -> `a`, `$0` -> ``.
pub fn strip_snippet(s: &str) -> String {
    let mut out = String::new();
    let mut rest = s;
    while let Some(i) = rest.find('$') {
        out.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        if let Some(body) = after.strip_prefix('{') {
            let end = body.find('}').unwrap_or(body.len());
            let inner = &body[..end];
            let value = if let Some((_, v)) = inner.split_once(':') {
                v.to_string()
            } else if let Some((_, v)) = inner.split_once('|') {
                v.trim_end_matches('|')
                    .split(',')
                    .next()
                    .unwrap_or("")
                    .to_string()
            } else {
                String::new()
            };
            out.push_str(&value);
            rest = body.get(end + 1..).unwrap_or("");
        } else {
            let digits = after.chars().take_while(|c| c.is_ascii_digit()).count();
            rest = &after[digits..];
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::strip_snippet;

    #[test]
    fn snippets_become_plain_text() {
        assert_eq!(
            strip_snippet("linear(${1:x}, ${2:weight})"),
            "linear(x, weight)"
        );
        assert_eq!(
            strip_snippet("execute on ${1|cpu,cuda|}$0"),
            "execute on cpu"
        );
    }
}
