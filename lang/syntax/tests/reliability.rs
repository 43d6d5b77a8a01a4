//! Regression tests for issue 14's syntax bugs: a byte order mark, block comments.

use tl_syntax::format::format;
use tl_syntax::parse_file;

const SPEC: &str = "graph g(x: f32[4]) -> y: f32[4] {\n  y = relu(x)\n}\n";

/// A leading BOM is skipped: no error, the item starts right after it, and `tlc fmt` drops it
/// (formatting is idempotent with or without it).
#[test]
fn a_byte_order_mark_is_accepted_and_dropped_by_the_formatter() {
    let text = format!("\u{FEFF}{SPEC}");
    let parse = parse_file(&text);
    assert!(!parse.has_errors(), "{:?}", parse.errors());
    assert_eq!(parse.items.len(), 1);
    assert_eq!(
        parse.items[0].0.range.start, 3,
        "the item starts after the BOM"
    );
    let once = format(&text).expect("formats");
    assert_eq!(once, SPEC);
    assert_eq!(format(&once).expect("formats again"), once);
}

/// A `/* */` comment gives exactly one TL0010 at the comment, wherever it is, and the words
/// inside it (item keywords, braces) do not start items or cause other errors.
#[test]
fn a_block_comment_is_one_coded_error_without_cascades() {
    let inside = "graph g(x: f32[4]) -> y: f32[4] {\n  /* y = {\ngraph h(\n */\n  y = relu(x)\n}\n";
    let before = "/* a header\n   contract c on g {\n*/\ngraph g(x: f32[4]) -> y: f32[4] {\n  y = relu(x)\n}\n";
    let after = format!("{SPEC}/* trailing\n block b( */\n");
    let unclosed = format!("{SPEC}/* never closed\ngraph h(x: f32[4]) -> y: f32[4] {{\n");
    for text in [inside.to_string(), before.to_string(), after, unclosed] {
        let parse = parse_file(&text);
        let errors = parse.errors();
        assert_eq!(errors.len(), 1, "{text}\n{errors:?}");
        assert_eq!(errors[0].code, "TL0010", "{text}\n{errors:?}");
        let at = text.find("/*").unwrap() as u32;
        assert_eq!(errors[0].span.start, at, "{text}");
        let graphs = parse
            .items
            .iter()
            .filter(|(c, _)| c.keyword == tl_syntax::split::ItemKeyword::Graph)
            .count();
        assert_eq!(graphs, 1, "{text}: the comment's words started an item");
    }
}
