//! A cheap pre-pass over an item's tokens, before the parser runs:
//! - rejects nesting deeper than [`MAX_NESTING`] (TL0007), so no recursive walk or drop of the AST
//!   can overflow the stack;
//! - finds brackets left open at the end of the item, so the parser can be handed synthetic
//!   closers and still build a partial tree (each unclosed bracket is reported as TL0002).

use crate::error::{codes, SyntaxError};
use crate::lexer::{Spanned, Tok};
use crate::TextRange;

/// The deepest expression nesting accepted (brackets, operator chains, unary chains together).
pub const MAX_NESTING: usize = 256;

pub(crate) struct Brackets<'a> {
    /// Every opener without its closer (one per TL0002).
    pub unclosed: Vec<Spanned<'a>>,
    /// Openers still open at the end of the item, outermost first: they get synthetic closers.
    pub open_at_end: Vec<Spanned<'a>>,
}

fn closer_of(open: Tok<'_>) -> Tok<'static> {
    match open {
        Tok::LParen => Tok::RParen,
        Tok::LBracket => Tok::RBracket,
        _ => Tok::RBrace,
    }
}

/// Checks nesting over the significant (non-trivia) tokens of one item.
///
/// The depth counted is an upper bound of the AST depth: one per open bracket, one per binary
/// operator or postfix `[`/`(` since the last `,`, `=` or keyword at this bracket level (each
/// left-associative operator adds a level), plus the current run of prefix `-`/`!`.
pub(crate) fn check_brackets<'a>(tokens: &[Spanned<'a>]) -> Result<Brackets<'a>, SyntaxError> {
    let mut levels = vec![Level {
        opener: None,
        operators: 0,
    }];
    let mut depth = 0usize; // sum over levels of (1 for the bracket + operators)
    let mut unary_run = 0usize;
    let mut prev: Option<Tok<'a>> = None;
    let mut closed_implicitly = Vec::new();
    for token in tokens {
        let tok = token.tok;
        let after_operand = prev.is_some_and(|p| p.ends_operand());
        let is_unary = matches!(tok, Tok::Bang) || (tok == Tok::Minus && !after_operand);
        if is_unary {
            unary_run += 1;
        } else {
            unary_run = 0;
        }
        match tok {
            Tok::LParen | Tok::LBracket | Tok::LBrace => {
                if after_operand && tok != Tok::LBrace {
                    // A call or an index wraps what came before it.
                    bump(levels.last_mut(), &mut depth);
                }
                levels.push(Level {
                    opener: Some(*token),
                    operators: 0,
                });
                depth += 1;
            }
            Tok::RParen | Tok::RBracket | Tok::RBrace => {
                // Close the nearest matching opener; openers above it were never closed. A closer
                // that matches nothing is left for the parser to report.
                let matching = levels
                    .iter()
                    .rposition(|l| l.opener.is_some_and(|o| closer_of(o.tok) == tok));
                if let Some(index) = matching {
                    while levels.len() > index {
                        let level = levels.pop().expect("levels above index exist");
                        depth -= 1 + level.operators;
                        if levels.len() > index {
                            closed_implicitly.extend(level.opener);
                        }
                    }
                }
            }
            Tok::Comma | Tok::Eq => reset(levels.last_mut(), &mut depth),
            Tok::Plus
            | Tok::Minus
            | Tok::Star
            | Tok::Slash
            | Tok::EqEq
            | Tok::Ne
            | Tok::Lt
            | Tok::Le
            | Tok::Gt
            | Tok::Ge
            | Tok::Approx
            | Tok::ApproxUnicode
            | Tok::AndAnd
            | Tok::OrOr
                if !is_unary =>
            {
                bump(levels.last_mut(), &mut depth)
            }
            t if is_keyword(t) => reset(levels.last_mut(), &mut depth),
            _ => {}
        }
        if depth + unary_run > MAX_NESTING {
            return Err(SyntaxError::new(
                codes::NESTING_TOO_DEEP,
                format!("expression nested too deeply (more than {MAX_NESTING} levels)"),
                token.span,
            )
            .with_help("split the expression into several named nodes"));
        }
        prev = Some(tok);
    }
    let open_at_end: Vec<_> = levels.into_iter().filter_map(|l| l.opener).collect();
    let mut unclosed = closed_implicitly;
    unclosed.extend(open_at_end.iter().copied());
    Ok(Brackets {
        unclosed,
        open_at_end,
    })
}

struct Level<'a> {
    opener: Option<Spanned<'a>>,
    operators: usize,
}

/// One more operator wraps the expression at the innermost level.
fn bump(level: Option<&mut Level<'_>>, depth: &mut usize) {
    if let Some(level) = level {
        level.operators += 1;
        *depth += 1;
    }
}

/// A separator ends the expression at the innermost level.
fn reset(level: Option<&mut Level<'_>>, depth: &mut usize) {
    if let Some(level) = level {
        *depth -= std::mem::take(&mut level.operators);
    }
}

fn is_keyword(tok: Tok<'_>) -> bool {
    matches!(
        tok,
        Tok::KwImport
            | Tok::KwAs
            | Tok::KwGraph
            | Tok::KwBlock
            | Tok::KwParam
            | Tok::KwParams
            | Tok::KwFrom
            | Tok::KwWithin
            | Tok::KwContract
            | Tok::KwOn
            | Tok::KwGiven
            | Tok::KwIn
            | Tok::KwEnsure
            | Tok::KwCheck
            | Tok::KwBy
            | Tok::KwThen
            | Tok::KwRests
            | Tok::KwExecute
            | Tok::KwExpect
            | Tok::KwCard
            | Tok::KwTolerance
            | Tok::KwAssume
    )
}

/// Zero-width closers for the unclosed brackets, innermost first, placed at `end`.
pub(crate) fn synthetic_closers(unclosed: &[Spanned<'_>], end: u32) -> Vec<Spanned<'static>> {
    unclosed
        .iter()
        .rev()
        .map(|open| Spanned {
            tok: closer_of(open.tok),
            span: TextRange::new(end, end),
        })
        .collect()
}

pub(crate) fn unclosed_error(open: &Spanned<'_>) -> SyntaxError {
    let closer = closer_of(open.tok).spelling().to_string();
    SyntaxError::new(
        codes::UNEXPECTED_END,
        format!(
            "unclosed `{}`: the item ends before its `{closer}`",
            open.tok.spelling()
        ),
        open.span,
    )
    .with_expected(vec![format!("`{closer}`")])
    .with_help(format!("add the missing `{closer}`"))
}
