//! An open editor buffer: a rope, edited incrementally as the client sends changes.

use ropey::Rope;
use tower_lsp_server::ls_types::{Position, TextDocumentContentChangeEvent, Uri};

use crate::position::Encoding;

pub struct Document {
    pub uri: Uri,
    pub version: i32,
    pub rope: Rope,
}

impl Document {
    pub fn new(uri: Uri, version: i32, text: &str) -> Self {
        Document {
            uri,
            version,
            rope: Rope::from_str(text),
        }
    }

    /// Applies one change: a range replacement, or the whole text when there is no range.
    pub fn apply(&mut self, change: &TextDocumentContentChangeEvent, encoding: Encoding) {
        match change.range {
            None => self.rope = Rope::from_str(&change.text),
            Some(range) => {
                let a = self.char_index(range.start, encoding);
                let b = self.char_index(range.end, encoding);
                let (start, end) = (a.min(b), a.max(b));
                self.rope.remove(start..end);
                self.rope.insert(start, &change.text);
            }
        }
    }

    /// The char index of a position, clamped to the end of its line and of the text.
    fn char_index(&self, pos: Position, encoding: Encoding) -> usize {
        let line = pos.line as usize;
        if line >= self.rope.len_lines() {
            return self.rope.len_chars();
        }
        let start = self.rope.line_to_char(line);
        let mut units = 0u32;
        for (i, c) in self.rope.line(line).chars().enumerate() {
            if units >= pos.character || c == '\n' || c == '\r' {
                return start + i;
            }
            units += match encoding {
                Encoding::Utf8 => c.len_utf8() as u32,
                Encoding::Utf16 => c.len_utf16() as u32,
            };
        }
        start + self.rope.line(line).len_chars()
    }

    pub fn text(&self) -> String {
        self.rope.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tower_lsp_server::ls_types::Range;

    fn change(l0: u32, c0: u32, l1: u32, c1: u32, text: &str) -> TextDocumentContentChangeEvent {
        TextDocumentContentChangeEvent {
            range: Some(Range::new(Position::new(l0, c0), Position::new(l1, c1))),
            range_length: None,
            text: text.into(),
        }
    }

    #[test]
    fn incremental_edits_in_utf16() {
        let uri: Uri = "file:///t.tl".parse().unwrap();
        let mut d = Document::new(uri, 1, "x = \"😀\" y\nz\n");
        // After the emoji (2 UTF-16 units) and the closing quote: column 8.
        d.apply(&change(0, 8, 0, 8, "!"), Encoding::Utf16);
        assert_eq!(d.text(), "x = \"😀\"! y\nz\n");
        d.apply(&change(1, 0, 1, 1, "w"), Encoding::Utf16);
        assert_eq!(d.text(), "x = \"😀\"! y\nw\n");
        // Out of range: clamps to the end instead of panicking.
        d.apply(&change(0, 99, 9, 9, ""), Encoding::Utf16);
        assert_eq!(d.text(), "x = \"😀\"! y");
    }
}
