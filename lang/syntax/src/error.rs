//! Syntax diagnostics: one struct, stable codes (documented in `docs/diagnostics.md`).

use crate::TextRange;

/// Stable diagnostic codes of the syntax layer (TL0001–TL0099).
pub mod codes {
    /// A token the grammar does not allow here.
    pub const UNEXPECTED_TOKEN: &str = "TL0001";
    /// The item ends (or a bracket is never closed) before the construct is complete.
    pub const UNEXPECTED_END: &str = "TL0002";
    /// A character that is not part of the language.
    pub const INVALID_CHARACTER: &str = "TL0003";
    /// A string literal without its closing `"` on the same line.
    pub const UNTERMINATED_STRING: &str = "TL0004";
    /// A `\` escape that the language does not define.
    pub const INVALID_ESCAPE: &str = "TL0005";
    /// A malformed number or duration (`12abc`, `1e`, `5x`, an out-of-range value).
    pub const INVALID_NUMBER: &str = "TL0006";
    /// Brackets, parentheses, operators or unary chains nested deeper than [`crate::MAX_NESTING`].
    pub const NESTING_TOO_DEEP: &str = "TL0007";
    /// Text that belongs to no item: before the first item, or after an item has ended.
    pub const TEXT_OUTSIDE_ITEM: &str = "TL0008";
    /// An input larger than the 4 GiB that u32 byte offsets can address.
    pub const INPUT_TOO_LARGE: &str = "TL0009";
    /// A `/* */` block comment: tl has only `//` line comments.
    pub const BLOCK_COMMENT: &str = "TL0010";
}

/// One syntax error. `span` is relative to the text that was parsed (an item for
/// [`crate::parse_item`], the file for [`crate::FileParse::errors`]).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct SyntaxError {
    pub code: &'static str,
    /// A human sentence, e.g. "expected `)` or `,`, found `}`".
    pub message: String,
    pub span: TextRange,
    /// What would have been accepted here, in display form (`` `)` ``, `identifier`, `an expression`).
    pub expected: Vec<String>,
    pub help: Option<String>,
}

impl SyntaxError {
    pub fn new(code: &'static str, message: impl Into<String>, span: TextRange) -> Self {
        SyntaxError {
            code,
            message: message.into(),
            span,
            expected: Vec::new(),
            help: None,
        }
    }
    pub fn with_help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }
    pub fn with_expected(mut self, expected: Vec<String>) -> Self {
        self.expected = expected;
        self
    }
    /// The same error with its span moved by `by` bytes (item-relative to file-absolute).
    pub fn shifted(mut self, by: u32) -> Self {
        self.span = self.span.shift(by);
        self
    }
}

impl std::fmt::Display for SyntaxError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "error[{}]: {} at {}..{}",
            self.code, self.message, self.span.start, self.span.end
        )
    }
}

impl std::error::Error for SyntaxError {}
