//! The canonical formatter. It prints the file's own tokens (numbers, strings and comments as
//! written) and decides only the whitespace: the parse tree says where items, statements and
//! clauses start; everything inside a statement goes on one line with fixed spacing rules.
//!
//! Layout: 2-space indent per `{`, one statement or clause per line, spaces around binary
//! operators, `=` and `->`, one blank line between items, runs of blank lines collapsed to one,
//! no trailing commas, a trailing newline. Comments keep their place: a comment that followed code
//! on its line stays at the end of that line; one on its own line stays on its own line above the
//! next token. A comment in the middle of a statement forces a line break; the statement then
//! continues one level deeper.

use crate::ast::{Clause, Item, Stmt};
use crate::error::SyntaxError;
use crate::lexer::{tokenize, Spanned, Tok};
use crate::parser::{parse_file, FileParse};

const INDENT: &str = "  ";

/// Formats a whole file; refuses (returns every syntax error) when the file does not parse.
pub fn format(text: &str) -> Result<String, Vec<SyntaxError>> {
    // The canonical layout has no byte order mark: a leading one is dropped (so formatting twice
    // gives the same text, with or without it).
    let text = text.strip_prefix('\u{FEFF}').unwrap_or(text);
    let parse = parse_file(text);
    if parse.has_errors() {
        return Err(parse.errors());
    }
    let layout = Layout::new(&parse);
    let lexed = tokenize(text);
    if !lexed.errors.is_empty() {
        return Err(lexed.errors);
    }
    Ok(Printer::new(text, &lexed.tokens, &layout).print())
}

/// Where lines must start, taken from the parse tree (absolute byte offsets, sorted).
struct Layout {
    line_starts: Vec<u32>,
    item_ends: Vec<u32>,
}

impl Layout {
    fn new(parse: &FileParse) -> Layout {
        let mut line_starts = Vec::new();
        let mut item_ends = Vec::new();
        for (chunk, item_parse) in &parse.items {
            let base = chunk.range.start;
            let item = &item_parse.item;
            line_starts.push(base + item.span().start);
            item_ends.push(base + item.span().end);
            let body_starts: Vec<u32> = match item {
                Item::Graph(g) => g.body.iter().map(stmt_start).collect(),
                Item::Contract(c) => c.clauses.iter().map(clause_start).collect(),
                _ => continue,
            };
            line_starts.extend(body_starts.into_iter().map(|s| base + s));
            // The closing `}` of the body.
            line_starts.push(base + item.span().end - 1);
        }
        line_starts.sort_unstable();
        line_starts.dedup();
        Layout {
            line_starts,
            item_ends,
        }
    }
    fn starts_line(&self, offset: u32) -> bool {
        self.line_starts.binary_search(&offset).is_ok()
    }
    fn ends_item(&self, offset: u32) -> bool {
        self.item_ends.binary_search(&offset).is_ok()
    }
}

fn stmt_start(stmt: &Stmt) -> u32 {
    match stmt {
        Stmt::Param(p) => p.span.start,
        Stmt::ParamsFrom { span, .. } => span.start,
        Stmt::Node(n) => n.span.start,
        Stmt::Error(span) => span.start,
    }
}

fn clause_start(clause: &Clause) -> u32 {
    match clause {
        Clause::Given { span, .. }
        | Clause::Ensure { span, .. }
        | Clause::CheckBy { span, .. }
        | Clause::RestsOn { span, .. }
        | Clause::ExecuteOn { span, .. }
        | Clause::Expect { span, .. }
        | Clause::Card { span, .. }
        | Clause::Error(span) => span.start,
    }
}

struct Printer<'a, 't> {
    text: &'a str,
    tokens: &'t [Spanned<'a>],
    layout: &'t Layout,
    out: String,
    depth: usize,
    at_line_start: bool,
    /// The last significant token printed, for spacing.
    prev: Option<Tok<'a>>,
    before_prev: Option<Tok<'a>>,
    /// The last line printed ended an item: the next top-level line gets a blank line above it.
    after_item: bool,
    item_just_ended: bool,
}

impl<'a, 't> Printer<'a, 't> {
    fn new(text: &'a str, tokens: &'t [Spanned<'a>], layout: &'t Layout) -> Self {
        Printer {
            text,
            tokens,
            layout,
            out: String::with_capacity(text.len() + text.len() / 8),
            depth: 0,
            at_line_start: true,
            prev: None,
            before_prev: None,
            after_item: false,
            item_just_ended: false,
        }
    }

    fn print(mut self) -> String {
        for i in 0..self.tokens.len() {
            let token = self.tokens[i];
            let gap_start = if i == 0 {
                0
            } else {
                self.tokens[i - 1].span.end as usize
            };
            let newlines = self.text[gap_start..token.span.start as usize]
                .matches('\n')
                .count();
            match token.tok {
                Tok::Comment(c) | Tok::DocComment(c) => self.comment(i, c, newlines),
                Tok::Comma
                    if self
                        .next_significant(i)
                        .is_some_and(|t| matches!(t.tok, Tok::RParen | Tok::RBracket)) => {}
                tok => self.significant(token, tok, newlines),
            }
        }
        if !self.at_line_start {
            self.out.push('\n');
        }
        self.out
    }

    fn next_significant(&self, i: usize) -> Option<&Spanned<'a>> {
        self.tokens[i + 1..].iter().find(|t| !t.tok.is_trivia())
    }

    fn comment(&mut self, i: usize, comment: &str, newlines: usize) {
        let comment = comment.trim_end();
        if newlines == 0 && !self.at_line_start {
            self.out.push(' ');
            self.out.push_str(comment);
            self.end_line();
            return;
        }
        // On its own line: indented like the line that follows it.
        let depth = match self.next_significant(i) {
            Some(next) if next.tok == Tok::RBrace && self.layout.starts_line(next.span.start) => {
                self.depth
            }
            Some(next) if self.layout.starts_line(next.span.start) => self.depth,
            Some(_) => self.depth + 1,
            None => self.depth,
        };
        self.start_line(newlines >= 2, depth);
        self.out.push_str(comment);
        self.end_line();
    }

    fn significant(&mut self, token: Spanned<'a>, tok: Tok<'a>, newlines: usize) {
        if tok == Tok::RBrace {
            self.depth = self.depth.saturating_sub(1);
        }
        if self.layout.starts_line(token.span.start) {
            let closing = tok == Tok::RBrace;
            self.start_line(newlines >= 2 && !closing, self.depth);
        } else if self.at_line_start {
            // A comment broke the statement: continue one level deeper.
            self.start_line(false, self.depth + 1);
        } else if self.needs_space(tok) {
            self.out.push(' ');
        }
        self.out
            .push_str(&self.text[token.span.start as usize..token.span.end as usize]);
        self.at_line_start = false;
        if tok == Tok::LBrace {
            self.depth += 1;
        }
        self.before_prev = self.prev;
        self.prev = Some(tok);
        if self.layout.ends_item(token.span.end) {
            self.item_just_ended = true;
        }
    }

    fn end_line(&mut self) {
        self.out.push('\n');
        self.at_line_start = true;
        if self.item_just_ended {
            self.after_item = true;
            self.item_just_ended = false;
        }
    }

    /// Starts a new line at `depth`, with a blank line above when asked (and when one is allowed:
    /// never at the top of the file or right after a `{`).
    fn start_line(&mut self, blank_in_source: bool, depth: usize) {
        if !self.at_line_start {
            self.end_line();
        }
        let top_level_after_item = self.after_item && depth == 0;
        let after_open_brace = self.prev == Some(Tok::LBrace) && self.out.ends_with("{\n");
        if !self.out.is_empty() && !after_open_brace && (blank_in_source || top_level_after_item) {
            self.out.push('\n');
        }
        self.after_item = false;
        for _ in 0..depth {
            self.out.push_str(INDENT);
        }
        self.at_line_start = false;
    }

    fn needs_space(&self, next: Tok<'_>) -> bool {
        let Some(prev) = self.prev else { return false };
        if matches!(
            next,
            Tok::RParen | Tok::RBracket | Tok::Comma | Tok::Colon | Tok::Dot
        ) {
            return false;
        }
        if matches!(prev, Tok::LParen | Tok::LBracket | Tok::Dot | Tok::Bang) {
            return false;
        }
        if prev == Tok::Minus && self.prev_minus_is_unary() {
            return false;
        }
        if matches!(next, Tok::LParen | Tok::LBracket) && prev.ends_operand() {
            return false;
        }
        true
    }

    /// Whether the `-` just printed is a prefix minus: it is unless an operand precedes it.
    fn prev_minus_is_unary(&self) -> bool {
        !self.before_prev.is_some_and(|t| t.ends_operand())
    }
}
