//! Semantic tokens: every token of a file classified by what it is (not only how it looks), from
//! the lexer and the occurrences.

use tl_ir::DType;
use tl_syntax::lexer::{tokenize, Tok};
use tl_syntax::TextRange;

use super::file_text;
use super::occurrences::{file_occurrences, Symbol};
use tl_analysis::db::{Db, SourceFile};
use tl_analysis::graphs::{analyze_graph, NodeOrigin};
use tl_analysis::items::DefKind;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum TokenKind {
    Keyword,
    /// An op from the op table.
    Op,
    /// A node defined by an op or block call.
    Node,
    /// A graph input.
    Input,
    /// A declared param.
    Param,
    /// A dtype (`f32`) or a symbolic extent in a type.
    Type,
    /// A graph or block name.
    Graph,
    /// A contract, tolerance, assumption or import alias name.
    Declaration,
    /// An attribute or method option name.
    Attribute,
    /// A check method.
    Method,
    Number,
    String,
    Comment,
}

impl TokenKind {
    /// Every kind, in a stable order (the server's legend).
    pub const ALL: [TokenKind; 13] = [
        TokenKind::Keyword,
        TokenKind::Op,
        TokenKind::Node,
        TokenKind::Input,
        TokenKind::Param,
        TokenKind::Type,
        TokenKind::Graph,
        TokenKind::Declaration,
        TokenKind::Attribute,
        TokenKind::Method,
        TokenKind::Number,
        TokenKind::String,
        TokenKind::Comment,
    ];
}

/// A classified token; `definition` is set where a name is defined (editors may bold it).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct SemanticToken {
    pub range: TextRange,
    pub kind: TokenKind,
    pub definition: bool,
}

/// The classified tokens of `file`, in order and not overlapping.
pub fn semantic_tokens(db: &dyn Db, file: SourceFile) -> Vec<SemanticToken> {
    let text = file_text(db, file);
    let occurrences = file_occurrences(db, file);
    let lexed = tokenize(text);
    let mut out = Vec::with_capacity(lexed.tokens.len());
    let mut occ_i = 0;
    let mut prev: Option<Tok<'_>> = None;
    for (ti, t) in lexed.tokens.iter().enumerate() {
        let next = lexed.tokens[ti + 1..]
            .iter()
            .find(|n| !n.tok.is_trivia())
            .map(|n| n.tok);
        let kind = match t.tok {
            Tok::Comment(_) | Tok::DocComment(_) | Tok::BlockComment(_) => {
                Some((TokenKind::Comment, false))
            }
            Tok::Str(_) | Tok::UnterminatedStr(_) => Some((TokenKind::String, false)),
            Tok::Int(_) | Tok::Float(_) | Tok::NumberLike(_) | Tok::Duration(_) => {
                Some((TokenKind::Number, false))
            }
            Tok::KwTrue | Tok::KwFalse => Some((TokenKind::Keyword, false)),
            Tok::Ident(word) => {
                while occ_i < occurrences.len() && occurrences[occ_i].range.end <= t.span.start {
                    occ_i += 1;
                }
                let occ = occurrences[occ_i..]
                    .iter()
                    .take_while(|o| o.range.start <= t.span.start)
                    .filter(|o| o.range.start <= t.span.start && t.span.end <= o.range.end)
                    .min_by_key(|o| o.range.len());
                match occ {
                    Some(o) => Some((symbol_kind(db, &o.symbol), o.is_definition)),
                    None => ident_by_position(word, prev, next),
                }
            }
            Tok::StmtStart => None,
            ref k if k.spelling().chars().all(|c| c.is_ascii_alphabetic()) => {
                Some((TokenKind::Keyword, false))
            }
            _ => None,
        };
        if !t.tok.is_trivia() {
            prev = Some(t.tok);
        }
        if let Some((kind, definition)) = kind {
            out.push(SemanticToken {
                range: t.span,
                kind,
                definition,
            });
        }
    }
    out
}

fn symbol_kind(db: &dyn Db, symbol: &Symbol<'_>) -> TokenKind {
    match symbol {
        Symbol::Op(_) => TokenKind::Op,
        Symbol::Attr(..) => TokenKind::Attribute,
        Symbol::Method(_) => TokenKind::Method,
        Symbol::Def { kind, .. } => match kind {
            DefKind::Graph | DefKind::Block => TokenKind::Graph,
            _ => TokenKind::Declaration,
        },
        Symbol::Node { graph, index } => {
            let origin = analyze_graph(db, *graph)
                .as_ref()
                .and_then(|a| a.nodes.get(*index))
                .map(|n| &n.origin);
            match origin {
                Some(NodeOrigin::Input) => TokenKind::Input,
                Some(NodeOrigin::Param { .. }) => TokenKind::Param,
                _ => TokenKind::Node,
            }
        }
    }
}

/// Identifiers that name nothing in a file: dtypes and extents in types, words given meaning by
/// their position (`abs`, `kernel`, `onnx`), option names.
fn ident_by_position(
    word: &str,
    prev: Option<Tok<'_>>,
    next: Option<Tok<'_>>,
) -> Option<(TokenKind, bool)> {
    if DType::from_name(word).is_some() && matches!(prev, Some(Tok::Colon | Tok::Arrow)) {
        return Some((TokenKind::Type, false));
    }
    if matches!(prev, Some(Tok::LBracket | Tok::Comma))
        && word
            .chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
    {
        return Some((TokenKind::Type, false));
    }
    if matches!(next, Some(Tok::Eq)) && matches!(prev, Some(Tok::LParen | Tok::Comma)) {
        return Some((TokenKind::Attribute, false));
    }
    match word {
        "abs" | "rel" | "ulp" | "onnx" | "torchlean" | "vnnlib" | "kernel" | "solver"
        | "environment" | "float" | "certificate" | "cpu" | "cuda" => {
            Some((TokenKind::Keyword, false))
        }
        _ => None,
    }
}
