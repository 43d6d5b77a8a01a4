//! tl syntax: the lexer (logos), the item splitter, the parser (lalrpop, with error recovery) and
//! the formatter. Pure functions of text; no files, no salsa, no LSP.
//!
//! A file is first split into items ([`split_items`]): every top-level keyword (`import`, `graph`,
//! `block`, `contract`, `tolerance`, `assume`) at brace depth 0, or at the start of a line whatever
//! the depth, begins an item, together with the doc comments right above it. Each item is then
//! parsed on its own ([`parse_item`]) with spans relative to its start, so an edit inside one item
//! cannot change another item's tree, and an unclosed brace cannot swallow the rest of the file.

pub mod ast;
pub mod error;
pub mod format;
pub mod lexer;
mod nesting;
mod parser;
pub mod split;

lalrpop_util::lalrpop_mod!(
    #[allow(clippy::all, unused_parens, unused_imports, dead_code)]
    grammar
);

pub use error::{codes, SyntaxError};
pub use format::format;
pub use nesting::MAX_NESTING;
pub use parser::{parse_file, parse_item, FileParse, ItemParse};
pub use split::{split_items, ItemChunk, ItemKeyword};

/// A half-open byte range `start..end`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TextRange {
    pub start: u32,
    pub end: u32,
}

impl TextRange {
    pub fn new(start: u32, end: u32) -> Self {
        debug_assert!(start <= end);
        TextRange { start, end }
    }
    pub fn len(self) -> u32 {
        self.end - self.start
    }
    pub fn is_empty(self) -> bool {
        self.start == self.end
    }
    pub fn shift(self, by: u32) -> Self {
        TextRange {
            start: self.start + by,
            end: self.end + by,
        }
    }
    pub fn cover(self, other: TextRange) -> Self {
        TextRange {
            start: self.start.min(other.start),
            end: self.end.max(other.end),
        }
    }
    pub fn contains(self, offset: u32) -> bool {
        self.start <= offset && offset < self.end
    }
    pub fn contains_inclusive(self, offset: u32) -> bool {
        self.start <= offset && offset <= self.end
    }
}
