//! Byte offsets <-> LSP positions in the negotiated encoding (UTF-16 by default, UTF-8 when the
//! client offers it). Positions past the end of a line or of the file clamp to that end: an editor
//! a keystroke ahead of the server must get a slightly stale answer, never a panic.

use tower_lsp_server::ls_types::{Position, Range};

use tl_syntax::TextRange;

/// How `Position::character` counts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Encoding {
    Utf8,
    Utf16,
}

impl Encoding {
    fn units(self, c: char) -> u32 {
        match self {
            Encoding::Utf8 => c.len_utf8() as u32,
            Encoding::Utf16 => c.len_utf16() as u32,
        }
    }
}

/// Line starts of one text, for repeated conversions.
pub struct LineIndex<'a> {
    text: &'a str,
    line_starts: Vec<u32>,
    encoding: Encoding,
}

impl<'a> LineIndex<'a> {
    pub fn new(text: &'a str, encoding: Encoding) -> Self {
        let mut line_starts = vec![0];
        line_starts.extend(
            text.bytes()
                .enumerate()
                .filter(|(_, b)| *b == b'\n')
                .map(|(i, _)| i as u32 + 1),
        );
        LineIndex {
            text,
            line_starts,
            encoding,
        }
    }

    pub fn position(&self, offset: u32) -> Position {
        let mut offset = (offset as usize).min(self.text.len());
        while !self.text.is_char_boundary(offset) {
            offset -= 1;
        }
        let line = self.line_starts.partition_point(|&s| s as usize <= offset) - 1;
        let start = self.line_starts[line] as usize;
        let character = self.text[start..offset]
            .chars()
            .map(|c| self.encoding.units(c))
            .sum();
        Position::new(line as u32, character)
    }

    pub fn range(&self, r: TextRange) -> Range {
        Range::new(self.position(r.start), self.position(r.end))
    }

    /// The byte offset of a position, clamped to the line's end (before its newline) and to the
    /// end of the text.
    pub fn offset(&self, pos: Position) -> u32 {
        let Some(&start) = self.line_starts.get(pos.line as usize) else {
            return self.text.len() as u32;
        };
        let line = line_text(self.text, start as usize);
        let mut units = 0;
        for (i, c) in line.char_indices() {
            if units >= pos.character {
                return start + i as u32;
            }
            units += self.encoding.units(c);
        }
        start + line.len() as u32
    }

    pub fn text_range(&self, r: Range) -> TextRange {
        let (a, b) = (self.offset(r.start), self.offset(r.end));
        TextRange::new(a.min(b), a.max(b))
    }
}

/// The text of the line starting at `start`, without its line break.
fn line_text(text: &str, start: usize) -> &str {
    let rest = &text[start..];
    let end = rest.find('\n').unwrap_or(rest.len());
    rest[..end].strip_suffix('\r').unwrap_or(&rest[..end])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utf16_counts_surrogate_pairs() {
        let text = "a = \"é😀\" x\nnext";
        let idx = LineIndex::new(text, Encoding::Utf16);
        let x = text.find(" x").unwrap() as u32 + 1;
        // a,space,=,space,",é(1),😀(2),",space -> x at 10.
        assert_eq!(idx.position(x), Position::new(0, 10));
        assert_eq!(idx.offset(Position::new(0, 10)), x);
        let idx8 = LineIndex::new(text, Encoding::Utf8);
        assert_eq!(idx8.position(x), Position::new(0, x));
        assert_eq!(idx8.offset(Position::new(0, x)), x);
    }

    #[test]
    fn out_of_range_positions_clamp() {
        let text = "ab\r\ncd";
        let idx = LineIndex::new(text, Encoding::Utf16);
        assert_eq!(idx.offset(Position::new(0, 99)), 2);
        assert_eq!(idx.offset(Position::new(7, 0)), text.len() as u32);
        assert_eq!(idx.position(999), Position::new(1, 2));
        // Inside a multi-byte char: rounds down to its start.
        let idx = LineIndex::new("é", Encoding::Utf8);
        assert_eq!(idx.position(1), Position::new(0, 0));
    }
}
