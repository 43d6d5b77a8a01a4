//! The lexer: logos produces raw tokens, [`tokenize`] classifies numbers, validates strings and
//! turns lexical errors into coded [`SyntaxError`]s (the offending text is skipped, so parsing goes on).
//!
//! Comments are kept as trivia tokens ([`Tok::Comment`], [`Tok::DocComment`]): the formatter needs
//! them and the parser reads doc comments from them. Whitespace is skipped.

use logos::Logos;

use crate::error::{codes, SyntaxError};
use crate::TextRange;

/// The reserved words of the language (docs/language.md, "Lexical structure"): each lexes as its
/// own token, never as an identifier.
pub const KEYWORDS: &[&str] = &[
    "import",
    "as",
    "graph",
    "block",
    "param",
    "params",
    "from",
    "within",
    "contract",
    "on",
    "given",
    "in",
    "ensure",
    "check",
    "by",
    "then",
    "rests",
    "execute",
    "expect",
    "card",
    "tolerance",
    "assume",
    "true",
    "false",
];

/// A token. Variants that carry `&str` hold the source text as written.
#[derive(Logos, Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[logos(skip r"[ \t\r\n\f\u{FEFF}]+")]
pub enum Tok<'a> {
    // Trivia. `////...` is an ordinary comment, as in Rust.
    #[regex(r"///([^/\r\n][^\r\n]*)?", |lex| lex.slice(), allow_greedy = true)]
    DocComment(&'a str),
    #[regex(r"//[^\r\n]*", |lex| lex.slice(), allow_greedy = true)]
    Comment(&'a str),
    /// `/* ... */` (to the end of the text when unclosed): not part of tl, which has only `//`
    /// comments. [`tokenize`] reports it once (TL0010) and passes it on as trivia, so the text
    /// inside cannot cascade into other errors.
    #[token("/*", block_comment)]
    BlockComment(&'a str),

    #[regex("[A-Za-z_][A-Za-z0-9_]*", |lex| lex.slice())]
    Ident(&'a str),
    /// Anything that starts with a digit; [`tokenize`] reclassifies it as Int, Float or Duration.
    #[regex(r"[0-9][0-9A-Za-z_]*(\.[0-9][0-9A-Za-z_]*)?([eE][+-][0-9][0-9A-Za-z_]*)?", |lex| lex.slice())]
    NumberLike(&'a str),
    Int(&'a str),
    Float(&'a str),
    Duration(&'a str),
    /// A string literal including its quotes (escapes unresolved; see [`unescape`]).
    #[regex(r#""([^"\\\r\n]|\\[^\r\n])*""#, |lex| lex.slice())]
    Str(&'a str),
    /// A string cut off by the end of the line; [`tokenize`] reports it and passes it on as `Str`.
    #[regex(r#""([^"\\\r\n]|\\[^\r\n])*\\?"#, |lex| lex.slice())]
    UnterminatedStr(&'a str),
    /// Never lexed: the parser's token stream gets one, zero-width, before each statement of a
    /// graph body, so that error recovery resumes exactly at the next statement.
    StmtStart,

    #[token("import")]
    KwImport,
    #[token("as")]
    KwAs,
    #[token("graph")]
    KwGraph,
    #[token("block")]
    KwBlock,
    #[token("param")]
    KwParam,
    #[token("params")]
    KwParams,
    #[token("from")]
    KwFrom,
    #[token("within")]
    KwWithin,
    #[token("contract")]
    KwContract,
    #[token("on")]
    KwOn,
    #[token("given")]
    KwGiven,
    #[token("in")]
    KwIn,
    #[token("ensure")]
    KwEnsure,
    #[token("check")]
    KwCheck,
    #[token("by")]
    KwBy,
    #[token("then")]
    KwThen,
    #[token("rests")]
    KwRests,
    #[token("execute")]
    KwExecute,
    #[token("expect")]
    KwExpect,
    #[token("card")]
    KwCard,
    #[token("tolerance")]
    KwTolerance,
    #[token("assume")]
    KwAssume,
    #[token("true")]
    KwTrue,
    #[token("false")]
    KwFalse,

    #[token("(")]
    LParen,
    #[token(")")]
    RParen,
    #[token("[")]
    LBracket,
    #[token("]")]
    RBracket,
    #[token("{")]
    LBrace,
    #[token("}")]
    RBrace,
    #[token(",")]
    Comma,
    #[token(":")]
    Colon,
    #[token("=")]
    Eq,
    #[token("->")]
    Arrow,
    #[token(".")]
    Dot,
    #[token("+")]
    Plus,
    #[token("-")]
    Minus,
    #[token("*")]
    Star,
    #[token("/")]
    Slash,
    #[token("==")]
    EqEq,
    #[token("!=")]
    Ne,
    #[token("<")]
    Lt,
    #[token("<=")]
    Le,
    #[token(">")]
    Gt,
    #[token(">=")]
    Ge,
    #[token("~=")]
    Approx,
    #[token("≈")]
    ApproxUnicode,
    #[token("!")]
    Bang,
    #[token("&&")]
    AndAnd,
    #[token("||")]
    OrOr,
}

/// Extends a `/*` token to its closing `*/`, or to the end of the text.
fn block_comment<'a>(lex: &mut logos::Lexer<'a, Tok<'a>>) -> &'a str {
    let rest = lex.remainder();
    let len = rest.find("*/").map_or(rest.len(), |i| i + 2);
    lex.bump(len);
    lex.slice()
}

impl Tok<'_> {
    pub fn is_trivia(&self) -> bool {
        matches!(
            self,
            Tok::Comment(_) | Tok::DocComment(_) | Tok::BlockComment(_)
        )
    }
    /// True for tokens an operand can end with (`x`, `3`, `)`, `]`, ...): after them `-` is binary
    /// and `(`/`[` is a call or an index.
    pub fn ends_operand(&self) -> bool {
        matches!(
            self,
            Tok::Ident(_)
                | Tok::Int(_)
                | Tok::Float(_)
                | Tok::Duration(_)
                | Tok::NumberLike(_)
                | Tok::Str(_)
                | Tok::UnterminatedStr(_)
                | Tok::KwTrue
                | Tok::KwFalse
                | Tok::RParen
                | Tok::RBracket
        )
    }
    /// How the token reads in a message: `` `}` ``, ``identifier `foo` ``, ``number `3` ``.
    pub fn describe(&self) -> String {
        match self {
            Tok::Ident(s) => format!("identifier `{s}`"),
            Tok::Int(s) | Tok::Float(s) | Tok::NumberLike(s) => format!("number `{s}`"),
            Tok::Duration(s) => format!("duration `{s}`"),
            Tok::Str(_) | Tok::UnterminatedStr(_) => "a string".to_string(),
            Tok::Comment(_) | Tok::DocComment(_) | Tok::BlockComment(_) => "a comment".to_string(),
            Tok::StmtStart => "the next statement".to_string(),
            other => format!("`{}`", other.spelling()),
        }
    }
    /// The fixed spelling of a keyword or punctuation token; the text for the others.
    pub fn spelling(&self) -> &str {
        match self {
            Tok::DocComment(s)
            | Tok::Comment(s)
            | Tok::BlockComment(s)
            | Tok::Ident(s)
            | Tok::NumberLike(s)
            | Tok::Int(s)
            | Tok::Float(s)
            | Tok::Duration(s)
            | Tok::Str(s)
            | Tok::UnterminatedStr(s) => s,
            Tok::StmtStart => "",
            Tok::KwImport => "import",
            Tok::KwAs => "as",
            Tok::KwGraph => "graph",
            Tok::KwBlock => "block",
            Tok::KwParam => "param",
            Tok::KwParams => "params",
            Tok::KwFrom => "from",
            Tok::KwWithin => "within",
            Tok::KwContract => "contract",
            Tok::KwOn => "on",
            Tok::KwGiven => "given",
            Tok::KwIn => "in",
            Tok::KwEnsure => "ensure",
            Tok::KwCheck => "check",
            Tok::KwBy => "by",
            Tok::KwThen => "then",
            Tok::KwRests => "rests",
            Tok::KwExecute => "execute",
            Tok::KwExpect => "expect",
            Tok::KwCard => "card",
            Tok::KwTolerance => "tolerance",
            Tok::KwAssume => "assume",
            Tok::KwTrue => "true",
            Tok::KwFalse => "false",
            Tok::LParen => "(",
            Tok::RParen => ")",
            Tok::LBracket => "[",
            Tok::RBracket => "]",
            Tok::LBrace => "{",
            Tok::RBrace => "}",
            Tok::Comma => ",",
            Tok::Colon => ":",
            Tok::Eq => "=",
            Tok::Arrow => "->",
            Tok::Dot => ".",
            Tok::Plus => "+",
            Tok::Minus => "-",
            Tok::Star => "*",
            Tok::Slash => "/",
            Tok::EqEq => "==",
            Tok::Ne => "!=",
            Tok::Lt => "<",
            Tok::Le => "<=",
            Tok::Gt => ">",
            Tok::Ge => ">=",
            Tok::Approx => "~=",
            Tok::ApproxUnicode => "≈",
            Tok::Bang => "!",
            Tok::AndAnd => "&&",
            Tok::OrOr => "||",
        }
    }
}

/// A token with its byte range in the lexed text.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Spanned<'a> {
    pub tok: Tok<'a>,
    pub span: TextRange,
}

/// The result of [`tokenize`]: every token (comments included) and the lexical errors.
#[derive(Clone, Debug, Default)]
pub struct Lexed<'a> {
    pub tokens: Vec<Spanned<'a>>,
    pub errors: Vec<SyntaxError>,
}

/// Lexes `text`. Never fails: bad characters are reported (TL0003) and skipped; unterminated strings
/// (TL0004), bad escapes (TL0005) and bad numbers (TL0006) are reported and still produce a token.
/// `text` must be shorter than 4 GiB (positions are u32); callers check this first.
pub fn tokenize(text: &str) -> Lexed<'_> {
    let mut out = Lexed::default();
    let mut lexer = Tok::lexer(text);
    let mut pending_invalid: Option<(usize, usize)> = None;
    while let Some(result) = lexer.next() {
        let range = lexer.span();
        let tok = match result {
            Ok(tok) => tok,
            Err(()) => {
                // Merge runs of bad bytes into one error that ends on a char boundary.
                let end = ceil_char_boundary(text, range.end.max(range.start + 1));
                pending_invalid = match pending_invalid {
                    Some((start, prev_end)) if prev_end >= range.start => Some((start, end)),
                    Some(done) => {
                        out.errors.push(invalid_character(text, done));
                        Some((range.start, end))
                    }
                    None => Some((range.start, end)),
                };
                if end > range.end {
                    lexer.bump(end - range.end);
                }
                continue;
            }
        };
        if let Some(done) = pending_invalid.take() {
            out.errors.push(invalid_character(text, done));
        }
        let span = TextRange::new(range.start as u32, range.end as u32);
        match tok {
            Tok::NumberLike(s) => push_number(&mut out, s, span),
            Tok::Str(s) => {
                out.errors.extend(unescape(s, span.start).1);
                out.tokens.push(Spanned {
                    tok: Tok::Str(s),
                    span,
                });
            }
            Tok::BlockComment(s) => {
                let closed = s.len() >= 4 && s.ends_with("*/");
                let message = if closed {
                    "block comments `/* */` are not part of tl"
                } else {
                    "block comments `/* */` are not part of tl (and this one is never closed)"
                };
                out.errors.push(
                    SyntaxError::new(codes::BLOCK_COMMENT, message, span)
                        .with_help("comment each line with `//`; the text up to `*/` is skipped"),
                );
                out.tokens.push(Spanned { tok, span });
            }
            Tok::UnterminatedStr(s) => {
                out.errors.push(
                    SyntaxError::new(
                        codes::UNTERMINATED_STRING,
                        "unterminated string: missing closing `\"` on this line",
                        span,
                    )
                    .with_help("strings end on the line they start; close it with `\"`"),
                );
                out.errors.extend(unescape(s, span.start).1);
                out.tokens.push(Spanned {
                    tok: Tok::Str(s),
                    span,
                });
            }
            tok => out.tokens.push(Spanned { tok, span }),
        }
    }
    if let Some(done) = pending_invalid {
        out.errors.push(invalid_character(text, done));
    }
    out
}

fn ceil_char_boundary(text: &str, mut at: usize) -> usize {
    while at < text.len() && !text.is_char_boundary(at) {
        at += 1;
    }
    at.min(text.len())
}

fn invalid_character(text: &str, (start, end): (usize, usize)) -> SyntaxError {
    let start = floor_char_boundary(text, start);
    let bad = text.get(start..end).unwrap_or("");
    let shown: String = bad
        .chars()
        .take(8)
        .map(|c| {
            if c.is_control() {
                format!("U+{:04X}", c as u32)
            } else {
                c.to_string()
            }
        })
        .collect();
    let mut err = SyntaxError::new(
        codes::INVALID_CHARACTER,
        if bad.chars().count() == 1 {
            format!("invalid character `{shown}`")
        } else {
            format!("invalid characters `{shown}`")
        },
        TextRange::new(start as u32, end as u32),
    );
    if bad.starts_with('\'') {
        err = err.with_help("strings use double quotes: \"...\"");
    } else if bad.starts_with('#') {
        err = err.with_help("comments start with `//`");
    }
    err
}

fn floor_char_boundary(text: &str, mut at: usize) -> usize {
    while at > 0 && !text.is_char_boundary(at) {
        at -= 1;
    }
    at
}

/// Splits a `NumberLike` into the parser's number tokens. `a.0.1` lexes `0.1` as one number; right
/// after a `.` it is re-split into path segments `0`, `.`, `1`.
fn push_number<'a>(out: &mut Lexed<'a>, s: &'a str, span: TextRange) {
    let after_dot = out
        .tokens
        .last()
        .is_some_and(|t| t.tok == Tok::Dot && t.span.end == span.start);
    if after_dot {
        if let Some((int, frac)) = s.split_once('.') {
            if is_digits(int) && is_digits(frac) {
                let mid = span.start + int.len() as u32;
                out.tokens.push(Spanned {
                    tok: Tok::Int(int),
                    span: TextRange::new(span.start, mid),
                });
                out.tokens.push(Spanned {
                    tok: Tok::Dot,
                    span: TextRange::new(mid, mid + 1),
                });
                out.tokens.push(Spanned {
                    tok: Tok::Int(frac),
                    span: TextRange::new(mid + 1, span.end),
                });
                return;
            }
        }
    }
    let tok = match classify_number(s) {
        NumberClass::Int => Tok::Int(s),
        NumberClass::Float => Tok::Float(s),
        NumberClass::Duration => {
            if duration_millis(s).is_none() {
                out.errors.push(SyntaxError::new(
                    codes::INVALID_NUMBER,
                    format!("duration `{s}` is too large"),
                    span,
                ));
            }
            Tok::Duration(s)
        }
        NumberClass::Invalid => {
            out.errors.push(
                SyntaxError::new(codes::INVALID_NUMBER, format!("invalid number `{s}`"), span).with_help(
                    "numbers are written `7`, `0.02`, `1e-5`, `2.5E+3`; durations `500ms`, `60s`, `2m`, `1h`",
                ),
            );
            Tok::Float(s)
        }
    };
    out.tokens.push(Spanned { tok, span });
}

enum NumberClass {
    Int,
    Float,
    Duration,
    Invalid,
}

fn is_digits(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())
}

fn classify_number(s: &str) -> NumberClass {
    if is_digits(s) {
        return NumberClass::Int;
    }
    let digits_end = s
        .bytes()
        .position(|b| !b.is_ascii_digit())
        .unwrap_or(s.len());
    let (int, rest) = s.split_at(digits_end);
    if matches!(rest, "ms" | "s" | "m" | "h") {
        return NumberClass::Duration;
    }
    let (frac, exp) = match rest.find(['e', 'E']) {
        Some(i) => (&rest[..i], Some(&rest[i + 1..])),
        None => (rest, None),
    };
    let frac_ok = frac.is_empty() || frac.strip_prefix('.').is_some_and(is_digits);
    let exp_ok = exp.is_none_or(|e| is_digits(e.strip_prefix(['+', '-']).unwrap_or(e)));
    if is_digits(int) && frac_ok && exp_ok {
        NumberClass::Float
    } else {
        NumberClass::Invalid
    }
}

/// Milliseconds of a duration literal (`500ms`, `60s`, `2m`, `1h`); `None` if malformed or too large.
pub fn duration_millis(s: &str) -> Option<u64> {
    let digits_end = s.bytes().position(|b| !b.is_ascii_digit())?;
    let value: u64 = s[..digits_end].parse().ok()?;
    let unit = match &s[digits_end..] {
        "ms" => 1,
        "s" => 1_000,
        "m" => 60_000,
        "h" => 3_600_000,
        _ => return None,
    };
    value.checked_mul(unit)
}

/// Resolves the escapes of a string token as written (with its quotes; the closing one may be
/// missing). Returns the value and the TL0005 errors, positioned from `offset` (the token start).
/// Invalid escapes are kept verbatim in the value.
pub fn unescape(raw: &str, offset: u32) -> (String, Vec<SyntaxError>) {
    let body = raw.strip_prefix('"').unwrap_or(raw);
    let body = if body.ends_with('"') && !ends_with_escaped_quote(body) {
        &body[..body.len() - 1]
    } else {
        body
    };
    let mut value = String::with_capacity(body.len());
    let mut errors = Vec::new();
    let mut chars = body.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        if c != '\\' {
            value.push(c);
            continue;
        }
        let esc_start = offset + 1 + i as u32;
        let Some(&(j, e)) = chars.peek() else {
            errors.push(bad_escape(
                "a `\\` at the end of a string escapes nothing",
                esc_start,
                esc_start + 1,
            ));
            value.push('\\');
            break;
        };
        chars.next();
        match e {
            '"' => value.push('"'),
            '\\' => value.push('\\'),
            'n' => value.push('\n'),
            't' => value.push('\t'),
            'u' => {
                let rest = &body[j + 1..];
                let parsed = rest.strip_prefix('{').and_then(|r| {
                    let close = r.find('}')?;
                    let hex = &r[..close];
                    let ok =
                        (1..=6).contains(&hex.len()) && hex.bytes().all(|b| b.is_ascii_hexdigit());
                    let ch = if ok {
                        u32::from_str_radix(hex, 16).ok().and_then(char::from_u32)
                    } else {
                        None
                    };
                    Some((ch, close + 2))
                });
                match parsed {
                    Some((Some(ch), consumed)) => {
                        value.push(ch);
                        for _ in 0..consumed {
                            chars.next();
                        }
                    }
                    Some((None, consumed)) => {
                        let end = offset + 1 + (j + 1 + consumed) as u32;
                        errors.push(bad_escape(
                            "invalid unicode escape: expected 1 to 6 hex digits naming a valid code point",
                            esc_start,
                            end,
                        ));
                        value.push_str(&body[i..j + 1 + consumed]);
                        for _ in 0..consumed {
                            chars.next();
                        }
                    }
                    None => {
                        errors.push(bad_escape(
                            "invalid unicode escape: write `\\u{...}` with braces",
                            esc_start,
                            offset + 1 + (j + 1) as u32,
                        ));
                        value.push_str("\\u");
                    }
                }
            }
            other => {
                let end = offset + 1 + (j + other.len_utf8()) as u32;
                errors.push(bad_escape(
                    &format!("invalid escape `\\{other}`"),
                    esc_start,
                    end,
                ));
                value.push('\\');
                value.push(other);
            }
        }
    }
    (value, errors)
}

/// `"a\"` (unterminated, the quote is escaped) vs `"a\\"` (terminated): count trailing backslashes.
fn ends_with_escaped_quote(body: &str) -> bool {
    let before_quote = &body.as_bytes()[..body.len() - 1];
    before_quote
        .iter()
        .rev()
        .take_while(|&&b| b == b'\\')
        .count()
        % 2
        == 1
}

fn bad_escape(message: &str, start: u32, end: u32) -> SyntaxError {
    SyntaxError::new(codes::INVALID_ESCAPE, message, TextRange::new(start, end))
        .with_help("valid escapes are `\\\"`, `\\\\`, `\\n`, `\\t` and `\\u{...}`")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(text: &str) -> Vec<Tok<'_>> {
        tokenize(text).tokens.into_iter().map(|t| t.tok).collect()
    }

    #[test]
    fn keywords_idents_and_punctuation() {
        assert_eq!(
            kinds("graph graphs(x) -> y ~= z ≈ w"),
            vec![
                Tok::KwGraph,
                Tok::Ident("graphs"),
                Tok::LParen,
                Tok::Ident("x"),
                Tok::RParen,
                Tok::Arrow,
                Tok::Ident("y"),
                Tok::Approx,
                Tok::Ident("z"),
                Tok::ApproxUnicode,
                Tok::Ident("w"),
            ]
        );
    }

    #[test]
    fn numbers_and_durations() {
        assert_eq!(
            kinds("7 0.02 1e-5 2.5E+3 60s 500ms 2m 3 - 2"),
            vec![
                Tok::Int("7"),
                Tok::Float("0.02"),
                Tok::Float("1e-5"),
                Tok::Float("2.5E+3"),
                Tok::Duration("60s"),
                Tok::Duration("500ms"),
                Tok::Duration("2m"),
                Tok::Int("3"),
                Tok::Minus,
                Tok::Int("2"),
            ]
        );
        assert_eq!(duration_millis("2m"), Some(120_000));
        assert_eq!(duration_millis("500ms"), Some(500));
    }

    #[test]
    fn numeric_path_segments_are_split() {
        assert_eq!(
            kinds("layers.0.1.w"),
            vec![
                Tok::Ident("layers"),
                Tok::Dot,
                Tok::Int("0"),
                Tok::Dot,
                Tok::Int("1"),
                Tok::Dot,
                Tok::Ident("w")
            ]
        );
    }

    #[test]
    fn comments_are_trivia() {
        assert_eq!(
            kinds("/// doc\n// plain\n//// also plain\nx"),
            vec![
                Tok::DocComment("/// doc"),
                Tok::Comment("// plain"),
                Tok::Comment("//// also plain"),
                Tok::Ident("x")
            ]
        );
    }

    #[test]
    fn string_escapes() {
        let (v, e) = unescape(r#""a\"b\\c\n\t\u{263A}""#, 0);
        assert!(e.is_empty());
        assert_eq!(v, "a\"b\\c\n\t\u{263A}");
        let lexed = tokenize(r#"x = "bad \q here""#);
        assert_eq!(lexed.errors.len(), 1);
        assert_eq!(lexed.errors[0].code, codes::INVALID_ESCAPE);
        assert_eq!(lexed.errors[0].span, TextRange::new(9, 11));
        let lexed = tokenize(r#""\u{110000}" "\u12""#);
        assert_eq!(lexed.errors.len(), 2);
    }

    #[test]
    fn unterminated_string_still_yields_a_token() {
        let lexed = tokenize("a = \"open\nb");
        assert_eq!(lexed.errors.len(), 1);
        assert_eq!(lexed.errors[0].code, codes::UNTERMINATED_STRING);
        assert_eq!(lexed.tokens.len(), 4);
        let (v, _) = unescape("\"open", 0);
        assert_eq!(v, "open");
        let lexed = tokenize("\"ends in backslash\\");
        assert_eq!(lexed.errors[0].code, codes::UNTERMINATED_STRING);
    }

    #[test]
    fn invalid_characters_merge_and_respect_char_boundaries() {
        let text = "a §é€ b # c";
        let lexed = tokenize(text);
        assert_eq!(lexed.errors.len(), 2, "{:?}", lexed.errors);
        let first = &lexed.errors[0];
        assert_eq!(first.code, codes::INVALID_CHARACTER);
        assert_eq!(
            &text[first.span.start as usize..first.span.end as usize],
            "§é€"
        );
        assert_eq!(
            lexed.errors[1].help.as_deref(),
            Some("comments start with `//`")
        );
        assert_eq!(
            kinds(text),
            vec![Tok::Ident("a"), Tok::Ident("b"), Tok::Ident("c")]
        );
    }

    #[test]
    fn invalid_numbers() {
        for bad in ["12abc", "1e", "5x", "1.5e-3x", "1__"] {
            let lexed = tokenize(bad);
            assert_eq!(lexed.errors.len(), 1, "{bad}");
            assert_eq!(lexed.errors[0].code, codes::INVALID_NUMBER, "{bad}");
        }
        let lexed = tokenize("99999999999999999999h");
        assert_eq!(lexed.errors[0].code, codes::INVALID_NUMBER);
    }
}

#[cfg(test)]
mod keyword_tests {
    use super::*;

    #[test]
    fn every_listed_keyword_lexes_as_a_keyword() {
        for kw in KEYWORDS {
            let lexed = tokenize(kw);
            assert_eq!(lexed.tokens.len(), 1, "{kw}");
            assert!(
                !matches!(lexed.tokens[0].tok, Tok::Ident(_)),
                "{kw} lexes as an identifier"
            );
        }
    }
}
