//! Parsing one item ([`parse_item`]) or a whole file ([`parse_file`]), and turning lalrpop's
//! errors into human [`SyntaxError`]s.

use std::convert::Infallible;

use lalrpop_util::{ErrorRecovery, ParseError};

use crate::ast::{BinaryOp, Expr, Item};
use crate::error::{codes, SyntaxError};
use crate::lexer::{duration_millis, tokenize, Spanned, Tok};
use crate::nesting::{check_brackets, synthetic_closers, unclosed_error};
use crate::split::{split_items, ItemChunk, ItemKeyword};
use crate::TextRange;

/// One parsed item: always a tree (possibly with `Error` nodes), plus every error found in it.
/// Spans are relative to the start of the parsed text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ItemParse {
    pub item: Item,
    pub errors: Vec<SyntaxError>,
}

/// A parsed file: each chunk from [`split_items`] with its parse (spans relative to the chunk).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileParse {
    pub items: Vec<(ItemChunk, ItemParse)>,
}

impl FileParse {
    /// Every error of the file, with absolute spans, in file order.
    pub fn errors(&self) -> Vec<SyntaxError> {
        self.items
            .iter()
            .flat_map(|(chunk, parse)| {
                parse
                    .errors
                    .iter()
                    .map(|e| e.clone().shifted(chunk.range.start))
            })
            .collect()
    }
    pub fn has_errors(&self) -> bool {
        self.items.iter().any(|(_, parse)| !parse.errors.is_empty())
    }
}

/// Splits `text` into items and parses each one.
pub fn parse_file(text: &str) -> FileParse {
    if let Some(error) = too_large(text) {
        let parse = ItemParse {
            item: Item::Error(TextRange::default()),
            errors: vec![error],
        };
        let chunk = ItemChunk {
            keyword: ItemKeyword::Junk,
            name: None,
            range: TextRange::default(),
        };
        return FileParse {
            items: vec![(chunk, parse)],
        };
    }
    let items = split_items(text)
        .into_iter()
        .map(|chunk| {
            let parse = match chunk.keyword {
                ItemKeyword::Junk => junk_parse(chunk.text(text)),
                _ => parse_item(chunk.text(text)),
            };
            (chunk, parse)
        })
        .collect();
    FileParse { items }
}

fn junk_parse(text: &str) -> ItemParse {
    let span = TextRange::new(0, text.len() as u32);
    // Only comments (a `/* */` one among them): its lexical error is the one to report.
    let lexed = crate::lexer::tokenize(text);
    if lexed.tokens.iter().all(|t| t.tok.is_trivia()) && !lexed.errors.is_empty() {
        return ItemParse {
            item: Item::Error(span),
            errors: lexed.errors,
        };
    }
    let error = SyntaxError::new(codes::TEXT_OUTSIDE_ITEM, "text outside any item", span).with_help(
        "a file holds items that start with `import`, `graph`, `block`, `contract`, `tolerance` or \
         `assume`; comments start with `//`",
    );
    ItemParse {
        item: Item::Error(span),
        errors: vec![error],
    }
}

fn too_large(text: &str) -> Option<SyntaxError> {
    (text.len() > u32::MAX as usize).then(|| {
        SyntaxError::new(
            codes::INPUT_TOO_LARGE,
            "input larger than 4 GiB",
            TextRange::default(),
        )
    })
}

/// Parses one item (the text of an [`ItemChunk`], or any text holding one item).
pub fn parse_item(text: &str) -> ItemParse {
    if let Some(error) = too_large(text) {
        return ItemParse {
            item: Item::Error(TextRange::default()),
            errors: vec![error],
        };
    }
    let lexed = tokenize(text);
    let mut errors = lexed.errors;
    let docs = DocMap::collect(&lexed.tokens);
    let mut tokens: Vec<Spanned<'_>> = lexed
        .tokens
        .into_iter()
        .filter(|t| !t.tok.is_trivia())
        .collect();
    let whole = match (tokens.first(), tokens.last()) {
        (Some(first), Some(last)) => first.span.cover(last.span),
        _ => TextRange::default(),
    };
    let brackets = match check_brackets(&tokens) {
        Ok(brackets) => brackets,
        Err(too_deep) => {
            errors.push(too_deep);
            sort(&mut errors);
            return ItemParse {
                item: Item::Error(whole),
                errors,
            };
        }
    };
    let end = text.len() as u32;
    errors.extend(brackets.unclosed.iter().map(unclosed_error));
    tokens.extend(synthetic_closers(&brackets.open_at_end, end));
    let tokens = mark_statements(&tokens);

    let ctx = Ctx { docs };
    let mut raw = Vec::new();
    let result = crate::grammar::ItemParser::new().parse(
        &ctx,
        &mut raw,
        tokens
            .iter()
            .map(|t| Ok::<_, Infallible>((t.span.start, t.tok, t.span.end))),
    );
    let item = match result {
        Ok(item) => item,
        Err(error) => {
            errors.push(describe(error, &[], Recovery::Other, end));
            Item::Error(whole)
        }
    };
    for error in raw {
        let error = match error {
            RawError::Recovered(
                kind,
                ErrorRecovery {
                    error,
                    dropped_tokens,
                },
            ) => describe(error, &dropped_tokens, kind, end),
            RawError::Syntax(error) => error,
        };
        if !repeats_unclosed_error(&error, end) {
            errors.push(error);
        }
    }
    sort(&mut errors);
    ItemParse { item, errors }
}

/// Inserts a zero-width [`Tok::StmtStart`] before each statement of a graph or block body: at
/// `param`, `params`, and at `NAME =` unless `NAME` follows `(` or `,` (a named argument) or `:`
/// (the dtype of a `param p: f32 = ...`). This is lexical on purpose, so it still finds statements
/// after an unclosed parenthesis.
fn mark_statements<'a>(tokens: &[Spanned<'a>]) -> Vec<Spanned<'a>> {
    let is_graph = matches!(
        tokens.first().map(|t| t.tok),
        Some(Tok::KwGraph | Tok::KwBlock)
    );
    let mut out = Vec::with_capacity(tokens.len() + tokens.len() / 4);
    let mut in_body = false;
    for (i, token) in tokens.iter().enumerate() {
        let starts_statement = in_body
            && match token.tok {
                Tok::KwParam | Tok::KwParams => true,
                Tok::Ident(_) => {
                    let next_is_eq = tokens.get(i + 1).is_some_and(|t| t.tok == Tok::Eq);
                    let prev = i.checked_sub(1).map(|p| tokens[p].tok);
                    next_is_eq && !matches!(prev, Some(Tok::LParen | Tok::Comma | Tok::Colon))
                }
                _ => false,
            };
        if starts_statement {
            // It shares the span of the token it precedes, so errors "found the next statement"
            // point at that statement's first token.
            out.push(Spanned {
                tok: Tok::StmtStart,
                span: token.span,
            });
        }
        in_body |= is_graph && token.tok == Tok::LBrace;
        out.push(*token);
    }
    out
}

/// A synthetic closer that arrives where some closer was acceptable adds nothing to the TL0002
/// already reported for the unclosed bracket.
fn repeats_unclosed_error(error: &SyntaxError, item_end: u32) -> bool {
    error.span == TextRange::new(item_end, item_end)
        && error
            .expected
            .iter()
            .any(|e| matches!(e.as_str(), "`)`" | "`]`" | "`}`"))
}

fn sort(errors: &mut [SyntaxError]) {
    errors.sort_by_key(|e| (e.span.start, e.span.end));
}

/// Where the parser recovered; decides how an error reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Recovery {
    /// Tokens after a complete item.
    AfterItem,
    Other,
}

pub(crate) enum RawError<'a> {
    Recovered(Recovery, ErrorRecovery<u32, Tok<'a>, Infallible>),
    Syntax(SyntaxError),
}

/// What grammar actions may consult: doc comments by position.
pub(crate) struct Ctx {
    docs: DocMap,
}

impl Ctx {
    pub(crate) fn doc_at(&self, offset: u32) -> Option<String> {
        self.docs.at(offset)
    }
    pub(crate) fn duration_millis(&self, text: &str) -> u64 {
        // An overflowing duration was already reported by the lexer (TL0006).
        duration_millis(text).unwrap_or(u64::MAX)
    }
    pub(crate) fn dim_value(
        &self,
        text: &str,
        span: TextRange,
        errors: &mut Vec<RawError<'_>>,
    ) -> u64 {
        text.parse().unwrap_or_else(|_| {
            errors.push(RawError::Syntax(SyntaxError::new(
                codes::INVALID_NUMBER,
                format!("dimension `{text}` does not fit in 64 bits"),
                span,
            )));
            0
        })
    }
}

/// Doc comment text keyed by the start of the token it documents.
struct DocMap {
    entries: Vec<(u32, String)>,
}

impl DocMap {
    fn collect(tokens: &[Spanned<'_>]) -> DocMap {
        let mut entries = Vec::new();
        let mut run: Vec<&str> = Vec::new();
        for token in tokens {
            match token.tok {
                Tok::DocComment(text) => run.push(doc_line(text)),
                Tok::Comment(_) | Tok::BlockComment(_) => run.clear(),
                _ => {
                    if !run.is_empty() {
                        entries.push((token.span.start, run.join("\n")));
                        run.clear();
                    }
                }
            }
        }
        DocMap { entries }
    }
    fn at(&self, offset: u32) -> Option<String> {
        let index = self
            .entries
            .binary_search_by_key(&offset, |(at, _)| *at)
            .ok()?;
        Some(self.entries[index].1.clone())
    }
}

/// `/// text` → `text` (one space after the slashes is part of the syntax, the rest is content).
fn doc_line(comment: &str) -> &str {
    let body = comment.strip_prefix("///").unwrap_or(comment);
    body.strip_prefix(' ').unwrap_or(body).trim_end()
}

pub(crate) fn span(l: u32, r: u32) -> TextRange {
    TextRange::new(l.min(r), r.max(l))
}

pub(crate) fn binary(op: BinaryOp, lhs: Expr, rhs: Expr, l: u32, r: u32) -> Expr {
    Expr::Binary {
        op,
        lhs: Box::new(lhs),
        rhs: Box::new(rhs),
        span: span(l, r),
    }
}

/// Turns a lalrpop error into a message a person can act on.
fn describe(
    error: ParseError<u32, Tok<'_>, Infallible>,
    dropped: &[(u32, Tok<'_>, u32)],
    kind: Recovery,
    item_end: u32,
) -> SyntaxError {
    match error {
        ParseError::UnrecognizedToken {
            token: (l, tok, r),
            expected,
        } => {
            let expected = summarize_expected(&expected);
            // Synthetic closers sit, zero-width, at the end of the item.
            let at_end = l == r && l == item_end && tok != Tok::StmtStart;
            let found = if at_end {
                "end of item".to_string()
            } else {
                tok.describe()
            };
            let end = dropped.last().map_or(r, |d| d.2).max(r);
            if kind == Recovery::AfterItem {
                let message = if expected.is_empty() {
                    format!("unexpected {found} after the end of the item")
                } else {
                    format!(
                        "expected {} or the end of the item, found {found}",
                        join_or(&expected)
                    )
                };
                return SyntaxError::new(codes::TEXT_OUTSIDE_ITEM, message, TextRange::new(l, end))
                    .with_expected(expected)
                    .with_help(
                        "an item ends at its last token; start a new item (`graph`, `contract`, \
                         `tolerance`, ...) or delete this text",
                    );
            }
            let code = if at_end {
                codes::UNEXPECTED_END
            } else {
                codes::UNEXPECTED_TOKEN
            };
            let message = if expected.is_empty() {
                format!("unexpected {found}")
            } else {
                format!("expected {}, found {found}", join_or(&expected))
            };
            let offers_operator = expected.iter().any(|e| e == "an operator");
            let mut err =
                SyntaxError::new(code, message, TextRange::new(l, r)).with_expected(expected);
            if tok == Tok::Eq && offers_operator {
                err = err
                    .with_help("use `==` to compare; `=` only names nodes, params and arguments");
            } else if is_item_keyword(tok) {
                err = err.with_help(
                    "item keywords start a new item only at the start of a line or outside braces",
                );
            }
            err
        }
        ParseError::UnrecognizedEof { location, expected } => {
            let expected = summarize_expected(&expected);
            let message = if expected.is_empty() {
                "unexpected end of item".to_string()
            } else {
                format!("expected {}, found end of item", join_or(&expected))
            };
            SyntaxError::new(
                codes::UNEXPECTED_END,
                message,
                TextRange::new(location, location),
            )
            .with_expected(expected)
        }
        ParseError::ExtraToken { token: (l, tok, r) } => SyntaxError::new(
            codes::TEXT_OUTSIDE_ITEM,
            format!("unexpected {} after the end of the item", tok.describe()),
            TextRange::new(l, r),
        ),
        ParseError::InvalidToken { location } => SyntaxError::new(
            codes::INVALID_CHARACTER,
            "invalid token",
            TextRange::new(location, location),
        ),
        ParseError::User { error } => match error {},
    }
}

fn is_item_keyword(tok: Tok<'_>) -> bool {
    matches!(
        tok,
        Tok::KwImport
            | Tok::KwGraph
            | Tok::KwBlock
            | Tok::KwContract
            | Tok::KwTolerance
            | Tok::KwAssume
    )
}

const EXPRESSION_START: &[&str] = &[
    "IDENT",
    "INT",
    "FLOAT",
    "DURATION",
    "STRING",
    "\"(\"",
    "\"[\"",
    "\"-\"",
    "\"!\"",
    "\"true\"",
    "\"false\"",
];
const OPERATORS: &[&str] = &[
    "\"+\"", "\"-\"", "\"*\"", "\"/\"", "\"==\"", "\"!=\"", "\"<\"", "\"<=\"", "\">\"", "\">=\"",
    "\"~=\"", "\"≈\"", "\"&&\"", "\"||\"",
];
const SEPARATORS: &[&str] = &["\")\"", "\"]\"", "\"}\"", "\",\""];

/// lalrpop's terminal names → display names, with expression starts and operators grouped.
fn summarize_expected(raw: &[String]) -> Vec<String> {
    let has = |name: &str| raw.iter().any(|r| r == name);
    let expression = ["IDENT", "INT", "STRING", "\"(\"", "\"[\""]
        .iter()
        .all(|n| has(n));
    let operators = OPERATORS.iter().filter(|n| has(n)).count() >= 4;
    let mut first = Vec::new();
    let mut rest = Vec::new();
    for name in raw {
        if (expression && EXPRESSION_START.contains(&name.as_str()))
            || (operators && OPERATORS.contains(&name.as_str()))
        {
            continue;
        }
        if name == "STMT_START" {
            continue;
        }
        let shown = display_terminal(name);
        if SEPARATORS.contains(&name.as_str()) {
            first.push(shown);
        } else {
            rest.push(shown);
        }
    }
    first.extend(rest);
    if expression {
        first.push("an expression".to_string());
    }
    if operators {
        first.push("an operator".to_string());
    }
    if has("STMT_START") {
        first.push("a statement".to_string());
    }
    first
}

fn display_terminal(name: &str) -> String {
    match name {
        "IDENT" => "identifier".to_string(),
        "INT" => "integer".to_string(),
        "FLOAT" => "number".to_string(),
        "DURATION" => "duration".to_string(),
        "STRING" => "string".to_string(),
        quoted => format!("`{}`", quoted.trim_matches('"')),
    }
}

fn join_or(items: &[String]) -> String {
    match items {
        [] => String::new(),
        [one] => one.clone(),
        [init @ .., last] => format!("{} or {last}", init.join(", ")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ast::{Clause, GraphKind, Stmt, UnaryOp};

    fn parse_ok(text: &str) -> Item {
        let parse = parse_item(text);
        assert!(parse.errors.is_empty(), "{:?}", parse.errors);
        parse.item
    }

    fn slice(text: &str, range: TextRange) -> &str {
        &text[range.start as usize..range.end as usize]
    }

    #[test]
    fn graph_with_docs_types_and_spans() {
        let text = "/// The net.\n/// Second line.\nblock b(x: f32[B, 4]) -> (y: f32, z: i64[2]) within t {\n  /// A weight.\n  param w.0: f32[4] = load(\"w.npy\")\n  // plain\n  y = sum(x * w.0) within t\n  z = x\n}";
        let Item::Graph(g) = parse_ok(text) else {
            panic!("not a graph")
        };
        assert_eq!(g.kind, GraphKind::Block);
        assert_eq!(g.doc.as_deref(), Some("The net.\nSecond line."));
        assert_eq!(slice(text, g.span), &text[text.find("block").unwrap()..]);
        assert_eq!(g.outputs.len(), 2);
        assert_eq!(g.outputs[0].ty.dims, None);
        assert_eq!(g.tolerance.as_ref().unwrap().text, "t");
        let Stmt::Param(p) = &g.body[0] else { panic!() };
        assert_eq!(p.doc.as_deref(), Some("A weight."));
        assert_eq!(p.path.text(), "w.0");
        assert_eq!(slice(text, p.span), "param w.0: f32[4] = load(\"w.npy\")");
        let Stmt::Node(n) = &g.body[1] else { panic!() };
        assert_eq!(n.doc, None, "a plain comment breaks the doc run");
        assert_eq!(slice(text, n.span), "y = sum(x * w.0) within t");
    }

    #[test]
    fn operator_precedence_and_associativity() {
        let text = "graph g() -> y: f32 { y = -a - b * c + d == e && f || !g }";
        let Item::Graph(g) = parse_ok(text) else {
            panic!()
        };
        let Stmt::Node(n) = &g.body[0] else { panic!() };
        let Expr::Binary {
            op: BinaryOp::Or,
            lhs,
            rhs,
            ..
        } = &n.value
        else {
            panic!("{:?}", n.value)
        };
        assert!(matches!(
            **rhs,
            Expr::Unary {
                op: UnaryOp::Not,
                ..
            }
        ));
        let Expr::Binary {
            op: BinaryOp::And,
            lhs: cmp,
            ..
        } = &**lhs
        else {
            panic!()
        };
        let Expr::Binary {
            op: BinaryOp::Eq,
            lhs: sum,
            ..
        } = &**cmp
        else {
            panic!()
        };
        let Expr::Binary {
            op: BinaryOp::Add,
            lhs: sub,
            ..
        } = &**sum
        else {
            panic!()
        };
        let Expr::Binary {
            op: BinaryOp::Sub,
            lhs: neg,
            rhs: mul,
            ..
        } = &**sub
        else {
            panic!()
        };
        assert!(matches!(
            **neg,
            Expr::Unary {
                op: UnaryOp::Neg,
                ..
            }
        ));
        assert!(matches!(
            **mul,
            Expr::Binary {
                op: BinaryOp::Mul,
                ..
            }
        ));
    }

    #[test]
    fn contract_clauses() {
        let text = "contract c on net.main within t {\n given x in box(-1, 1)\n given vnnlib(\"p\")\n ensure y ~= z within t\n check by crown then bab(timeout = 2m)\n rests on a, b\n execute on cuda\n expect falsified\n}";
        let Item::Contract(c) = parse_ok(text) else {
            panic!()
        };
        assert_eq!(c.target.text(), "net.main");
        assert_eq!(c.clauses.len(), 7);
        assert!(matches!(&c.clauses[0], Clause::Given { var: Some(v), .. } if v.text == "x"));
        assert!(matches!(&c.clauses[1], Clause::Given { var: None, .. }));
        let Clause::CheckBy { methods, .. } = &c.clauses[3] else {
            panic!()
        };
        let Expr::Duration(d) = &methods[1].args[0].value else {
            panic!()
        };
        assert_eq!(d.millis, 120_000);
        assert!(
            matches!(&c.clauses[4], Clause::RestsOn { assumptions, .. } if assumptions.len() == 2)
        );
        assert!(
            matches!(&c.clauses[6], Clause::Expect { outcome, .. } if outcome.text == "falsified")
        );
    }

    #[test]
    fn recovery_keeps_the_rest_of_the_body() {
        let text = "graph g(x: f32) -> y: f32 {\n  a = f(x\n  b = = 2\n  y = relu(x)\n}";
        let parse = parse_item(text);
        let Item::Graph(g) = &parse.item else {
            panic!("{:?}", parse.item)
        };
        assert_eq!(g.body.len(), 3);
        assert!(matches!(g.body[1], Stmt::Error(_)));
        assert!(matches!(&g.body[2], Stmt::Node(n) if n.name.text == "y"));
        let codes: Vec<_> = parse.errors.iter().map(|e| e.code).collect();
        assert_eq!(
            codes,
            vec![
                codes::UNEXPECTED_END,
                codes::UNEXPECTED_TOKEN,
                codes::UNEXPECTED_TOKEN
            ]
        );
    }

    #[test]
    fn argument_errors_recover_inside_the_call() {
        let text = "graph g() -> y: f32 { y = f(a, +, c) }";
        let parse = parse_item(text);
        let Item::Graph(g) = &parse.item else {
            panic!()
        };
        let Stmt::Node(n) = &g.body[0] else { panic!() };
        let Expr::Call { args, .. } = &n.value else {
            panic!()
        };
        assert_eq!(args.len(), 3);
        assert!(matches!(args[1].value, Expr::Error(_)));
        assert_eq!(parse.errors.len(), 1);
    }

    #[test]
    fn missing_brace_still_yields_the_graph() {
        let parse = parse_item("graph g() -> y: f32 {\n  y = f(x)\n");
        assert!(matches!(&parse.item, Item::Graph(g) if g.body.len() == 1));
        assert_eq!(parse.errors.len(), 1);
        assert_eq!(parse.errors[0].code, codes::UNEXPECTED_END);
    }

    #[test]
    fn empty_and_header_only_items() {
        let parse = parse_item("");
        assert!(matches!(parse.item, Item::Error(_)));
        assert_eq!(parse.errors[0].code, codes::UNEXPECTED_END);
        let parse = parse_item("graph");
        assert!(matches!(parse.item, Item::Error(_)));
        assert_eq!(
            parse.errors[0].message,
            "expected identifier, found end of item"
        );
    }

    #[test]
    fn huge_dimension_is_reported() {
        let parse = parse_item("graph g(x: f32[99999999999999999999999]) -> y: f32 {}");
        assert_eq!(parse.errors[0].code, codes::INVALID_NUMBER);
    }

    #[test]
    fn file_errors_are_absolute() {
        let text = "tolerance t = abs 1\n\ntolerance u = abs";
        let errors = parse_file(text).errors();
        assert_eq!(errors.len(), 1);
        assert_eq!(errors[0].span.start as usize, text.len());
    }
}
