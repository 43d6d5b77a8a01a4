//! The item splitter: a byte scan that finds where each top-level item starts, without lexing.
//!
//! An item starts at an item keyword (`import graph block contract tolerance assume`) at brace
//! depth 0, or at one in column 0 whatever the depth (so an unclosed `{` cannot swallow the items
//! below it). Doc comments (`///`) on the lines right above the keyword belong to the item.
//! Strings and comments are skipped so that keywords and braces inside them do not count.

use crate::TextRange;

/// Which keyword started a chunk; `Junk` is text before the first item.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ItemKeyword {
    Import,
    Graph,
    Block,
    Contract,
    Tolerance,
    Assume,
    Junk,
}

impl ItemKeyword {
    fn from_word(word: &[u8]) -> Option<Self> {
        Some(match word {
            b"import" => ItemKeyword::Import,
            b"graph" => ItemKeyword::Graph,
            b"block" => ItemKeyword::Block,
            b"contract" => ItemKeyword::Contract,
            b"tolerance" => ItemKeyword::Tolerance,
            b"assume" => ItemKeyword::Assume,
            _ => return None,
        })
    }
}

/// One item's text in a file.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ItemChunk {
    pub keyword: ItemKeyword,
    /// The item's name as [`crate::ast::Item::name`] gives it: the identifier after the keyword,
    /// for `assume KIND NAME` the second one, for `import` the alias after `as` (if any).
    pub name: Option<String>,
    /// Absolute byte range: from the first doc comment (or the keyword) to the end of the last
    /// token before the next item. Whitespace and comments between items belong to no chunk.
    pub range: TextRange,
}

impl ItemChunk {
    /// The chunk's text within the file it was split from.
    pub fn text<'a>(&self, file: &'a str) -> &'a str {
        &file[self.range.start as usize..self.range.end as usize]
    }
}

/// Splits a file into item chunks, in order. `text` must be shorter than 4 GiB.
pub fn split_items(text: &str) -> Vec<ItemChunk> {
    let bytes = text.as_bytes();
    let mut chunks: Vec<ItemChunk> = Vec::new();
    let mut depth: u32 = 0;
    // Only whitespace (and doc comments) since the start of the line.
    let mut blank_so_far = true;
    let mut doc_run_start: Option<usize> = None;
    let mut first_significant: Option<usize> = None;
    let mut last_significant_end = 0usize;
    // A leading byte order mark (an editor buffer may hold one) is not text: skip it, so the
    // first item still starts in column 0.
    let mut i = if text.starts_with('\u{FEFF}') { 3 } else { 0 };
    let mut line_start = i;

    while i < bytes.len() {
        let b = bytes[i];
        let start = i;
        match b {
            b'\n' => {
                i += 1;
                line_start = i;
                blank_so_far = true;
                continue;
            }
            b' ' | b'\t' | b'\r' | b'\x0c' => {
                i += 1;
                continue;
            }
            b'/' if bytes.get(i + 1) == Some(&b'/') => {
                let is_doc = bytes.get(i + 2) == Some(&b'/') && bytes.get(i + 3) != Some(&b'/');
                i = line_end(bytes, i);
                if is_doc && blank_so_far {
                    doc_run_start.get_or_insert(start);
                } else {
                    doc_run_start = None;
                }
                continue;
            }
            // A block comment is not tl (the lexer reports it), but its text must not start
            // items either: skip to its `*/`, keeping it in the chunk so the error is reported.
            b'/' if bytes.get(i + 1) == Some(&b'*') => {
                i = bytes[i + 2..]
                    .windows(2)
                    .position(|w| w == b"*/")
                    .map_or(bytes.len(), |p| i + 2 + p + 2);
            }
            b'"' => i = string_end(bytes, i),
            b'{' => {
                depth += 1;
                i += 1;
            }
            b'}' => {
                depth = depth.saturating_sub(1);
                i += 1;
            }
            b'A'..=b'Z' | b'a'..=b'z' | b'_' | b'0'..=b'9' => {
                i = word_end(bytes, i);
                let is_ident = !b.is_ascii_digit();
                let keyword = if is_ident && (depth == 0 || start == line_start) {
                    ItemKeyword::from_word(&bytes[start..i])
                } else {
                    None
                };
                if let Some(keyword) = keyword {
                    let chunk_start = doc_run_start.unwrap_or(start);
                    close_previous(&mut chunks, first_significant, last_significant_end);
                    chunks.push(ItemChunk {
                        keyword,
                        name: None,
                        range: TextRange::new(chunk_start as u32, i as u32),
                    });
                    depth = 0;
                }
            }
            _ => i += 1,
        }
        blank_so_far = false;
        doc_run_start = None;
        first_significant.get_or_insert(start);
        last_significant_end = i;
    }
    close_previous(&mut chunks, first_significant, last_significant_end);
    for chunk in &mut chunks {
        chunk.name = item_name(chunk.keyword, chunk.text(text));
    }
    chunks
}

/// Ends the last chunk at the last significant byte seen; before the first item, records junk.
fn close_previous(chunks: &mut Vec<ItemChunk>, first_significant: Option<usize>, last_end: usize) {
    match chunks.last_mut() {
        Some(last) => last.range.end = last.range.end.max(last_end as u32),
        None => {
            if let Some(first) = first_significant {
                chunks.push(ItemChunk {
                    keyword: ItemKeyword::Junk,
                    name: None,
                    range: TextRange::new(first as u32, last_end as u32),
                });
            }
        }
    }
}

fn line_end(bytes: &[u8], from: usize) -> usize {
    bytes[from..]
        .iter()
        .position(|&b| b == b'\n')
        .map_or(bytes.len(), |p| from + p)
}

/// The end of a string starting at `from` (on the `"`): after the closing quote, or at the end of
/// the line for an unterminated one, as the lexer does.
fn string_end(bytes: &[u8], from: usize) -> usize {
    let mut i = from + 1;
    while i < bytes.len() {
        match bytes[i] {
            b'"' => return i + 1,
            b'\n' | b'\r' => return i,
            b'\\' if matches!(bytes.get(i + 1), Some(b) if *b != b'\n' && *b != b'\r') => i += 2,
            _ => i += 1,
        }
    }
    bytes.len()
}

fn word_end(bytes: &[u8], from: usize) -> usize {
    bytes[from..]
        .iter()
        .position(|b| !(b.is_ascii_alphanumeric() || *b == b'_'))
        .map_or(bytes.len(), |p| from + p)
}

/// Reads the name from the first tokens of a chunk, with the same byte scan as the splitter (the
/// lexer would cost more than the whole split).
fn item_name(keyword: ItemKeyword, chunk: &str) -> Option<String> {
    let bytes = chunk.as_bytes();
    let mut scan = HeadScan { bytes, at: 0 };
    // Skip doc comments and the keyword itself.
    scan.next_token()?;
    let name = match keyword {
        ItemKeyword::Junk => return None,
        ItemKeyword::Assume => {
            scan.next_token()?;
            scan.next_token()?
        }
        ItemKeyword::Import => loop {
            let token = scan.next_token()?;
            if &bytes[token.0..token.1] == b"as" {
                break scan.next_token()?;
            }
        },
        _ => scan.next_token()?,
    };
    // Only an ASCII word can be a name; other tokens may be one byte of a longer UTF-8 char.
    let word = &bytes[name.0..name.1];
    let is_ident = word
        .first()
        .is_some_and(|b| b.is_ascii_alphabetic() || *b == b'_');
    let word = std::str::from_utf8(word)
        .ok()
        .filter(|w| is_ident && !is_keyword(w))?;
    Some(word.to_string())
}

/// Tokens at the head of a chunk: words, strings and single bytes; whitespace and comments skipped.
struct HeadScan<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl HeadScan<'_> {
    fn next_token(&mut self) -> Option<(usize, usize)> {
        let bytes = self.bytes;
        loop {
            let b = *bytes.get(self.at)?;
            let start = self.at;
            self.at = match b {
                b' ' | b'\t' | b'\r' | b'\n' | b'\x0c' => {
                    self.at += 1;
                    continue;
                }
                b'/' if bytes.get(start + 1) == Some(&b'/') => {
                    self.at = line_end(bytes, start);
                    continue;
                }
                b'"' => string_end(bytes, start),
                b'A'..=b'Z' | b'a'..=b'z' | b'_' | b'0'..=b'9' => word_end(bytes, start),
                _ => start + 1,
            };
            return Some((start, self.at));
        }
    }
}

fn is_keyword(word: &str) -> bool {
    matches!(
        word,
        "import"
            | "as"
            | "graph"
            | "block"
            | "param"
            | "params"
            | "from"
            | "within"
            | "contract"
            | "on"
            | "given"
            | "in"
            | "ensure"
            | "check"
            | "by"
            | "then"
            | "rests"
            | "execute"
            | "expect"
            | "card"
            | "tolerance"
            | "assume"
            | "true"
            | "false"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn summary(text: &str) -> Vec<(ItemKeyword, Option<String>, &str)> {
        split_items(text)
            .into_iter()
            .map(|c| (c.keyword, c.name.clone(), c.text(text)))
            .collect()
    }

    #[test]
    fn names_next_to_non_ascii_text() {
        assert_eq!(summary("assume é x: \"\"")[0].1, None);
        assert_eq!(summary("graph é")[0].1, None);
        assert_eq!(summary("import \"p\" as é")[0].1, None);
    }

    #[test]
    fn splits_top_level_items_with_their_docs() {
        let text = "/// doc\ngraph g(x: f32) -> y: f32 {\n  y = relu(x)\n}\n\n// gap\ntolerance t = abs 1e-5\nimport onnx \"n.onnx\" as net\nassume kernel k: \"why\"\n";
        assert_eq!(
            summary(text),
            vec![
                (
                    ItemKeyword::Graph,
                    Some("g".into()),
                    "/// doc\ngraph g(x: f32) -> y: f32 {\n  y = relu(x)\n}"
                ),
                (
                    ItemKeyword::Tolerance,
                    Some("t".into()),
                    "tolerance t = abs 1e-5"
                ),
                (
                    ItemKeyword::Import,
                    Some("net".into()),
                    "import onnx \"n.onnx\" as net"
                ),
                (
                    ItemKeyword::Assume,
                    Some("k".into()),
                    "assume kernel k: \"why\""
                ),
            ]
        );
    }

    #[test]
    fn unclosed_brace_does_not_swallow_the_next_item() {
        let text = "graph g() -> y: f32 {\n  y = f(\ncontract c on g {\n}\n";
        let chunks = summary(text);
        assert_eq!(chunks.len(), 2);
        assert_eq!(chunks[0].2, "graph g() -> y: f32 {\n  y = f(");
        assert_eq!(chunks[1].0, ItemKeyword::Contract);
    }

    #[test]
    fn keywords_inside_bodies_strings_and_comments_do_not_split() {
        let text =
            "graph g() -> y: f32 {\n  y = f(\"graph\") // contract\n  z = g(x) within t\n}\n";
        assert_eq!(split_items(text).len(), 1);
    }

    #[test]
    fn leading_text_is_junk_and_trailing_text_joins_the_item() {
        let text = "oops here\ngraph g() -> y: f32 {}\n trailing";
        let chunks = summary(text);
        assert_eq!(chunks[0], (ItemKeyword::Junk, None, "oops here"));
        assert_eq!(chunks[1].2, "graph g() -> y: f32 {}\n trailing");
    }

    #[test]
    fn doc_comment_after_code_is_not_a_leading_doc() {
        let text = "tolerance a = abs 1 /// not mine\ntolerance b = abs 2";
        let chunks = summary(text);
        assert_eq!(chunks[1].2, "tolerance b = abs 2");
    }

    #[test]
    fn ranges_are_ordered_and_disjoint() {
        let text = "x\n\ngraph a() -> y: f32 {\n}\n\n\n/// d\n/// e\nblock b() -> y: f32 { }\n";
        let chunks = split_items(text);
        for pair in chunks.windows(2) {
            assert!(pair[0].range.end <= pair[1].range.start);
            let gap = &text[pair[0].range.end as usize..pair[1].range.start as usize];
            assert!(gap.trim().is_empty(), "gap {gap:?}");
        }
    }
}
