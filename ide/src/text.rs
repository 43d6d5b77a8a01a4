//! Small text helpers shared by the facade: names, keywords, fuzzy matching, markdown.

use tl_syntax::lexer::{tokenize, Spanned, Tok};

pub use tl_syntax::lexer::KEYWORDS;

/// True for `[A-Za-z_][A-Za-z0-9_]*` that is not a keyword.
pub fn is_identifier(name: &str) -> bool {
    let mut chars = name.chars();
    let first_ok = chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_');
    first_ok && chars.all(|c| c.is_ascii_alphanumeric() || c == '_') && !KEYWORDS.contains(&name)
}

/// True for a dotted param path: identifiers, then identifiers or integers, joined by `.`.
pub fn is_param_path(name: &str) -> bool {
    let mut segments = name.split('.');
    segments.next().is_some_and(is_identifier)
        && segments
            .all(|s| is_identifier(s) || (!s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())))
}

/// Case-insensitive subsequence match, as editors filter symbol lists.
pub fn fuzzy_match(query: &str, candidate: &str) -> bool {
    let mut rest = candidate.chars().flat_map(char::to_lowercase);
    query
        .chars()
        .flat_map(char::to_lowercase)
        .all(|q| rest.any(|c| c == q))
}

/// The non-trivia tokens of `text` that end at or before `end` (a cursor position).
pub fn tokens_before(text: &str, end: usize) -> Vec<Spanned<'_>> {
    let end = floor_char_boundary(text, end);
    tokenize(&text[..end])
        .tokens
        .into_iter()
        .filter(|t| !t.tok.is_trivia())
        .collect()
}

/// The largest char boundary at or below `i`.
pub fn floor_char_boundary(text: &str, i: usize) -> usize {
    let mut i = i.min(text.len());
    while !text.is_char_boundary(i) {
        i -= 1;
    }
    i
}

/// Escapes text for a markdown paragraph (names may contain `_` and `*`).
pub fn md_code(text: &str) -> String {
    let ticks = if text.contains('`') { "``" } else { "`" };
    format!("{ticks}{text}{ticks}")
}

/// True when the token is an identifier with this text.
pub fn is_ident(t: &Spanned<'_>, text: &str) -> bool {
    matches!(t.tok, Tok::Ident(s) if s == text)
}
