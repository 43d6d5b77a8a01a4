//! Snapshots of the errors reported for broken inputs, rendered with the offending line and a
//! caret so a reviewer can judge position and wording together.

fn render(text: &str) -> String {
    let parse = tl_syntax::parse_file(text);
    let mut out = String::new();
    for error in parse.errors() {
        let start = error.span.start as usize;
        let line_start = text[..start].rfind('\n').map_or(0, |i| i + 1);
        let line_end = text[start..].find('\n').map_or(text.len(), |i| start + i);
        let line_no = text[..start].matches('\n').count() + 1;
        let column = text[line_start..start].chars().count();
        let width = text[start..(error.span.end as usize).min(line_end)]
            .chars()
            .count()
            .max(1);
        out.push_str(&format!("{}: {}\n", error.code, error.message));
        out.push_str(&format!("{line_no:>3} | {}\n", &text[line_start..line_end]));
        out.push_str(&format!(
            "    | {}{}\n",
            " ".repeat(column),
            "^".repeat(width)
        ));
        if let Some(help) = &error.help {
            out.push_str(&format!("    = help: {help}\n"));
        }
    }
    let items: Vec<String> = parse
        .items
        .iter()
        .map(|(chunk, p)| format!("{:?}({})", chunk.keyword, item_kind(&p.item)))
        .collect();
    out.push_str(&format!("items: {}\n", items.join(", ")));
    out
}

fn item_kind(item: &tl_syntax::ast::Item) -> &'static str {
    use tl_syntax::ast::Item;
    match item {
        Item::Import(_) => "import",
        Item::Graph(_) => "graph",
        Item::Contract(_) => "contract",
        Item::Tolerance(_) => "tolerance",
        Item::Assume(_) => "assume",
        Item::Error(_) => "error",
    }
}

#[test]
fn missing_paren() {
    insta::assert_snapshot!(render(
        "graph g(x: f32[B, 4]) -> y: f32[B, 2] {\n  h = linear(x, w, b\n  y = relu(h)\n}\n"
    ));
}

#[test]
fn missing_closing_brace() {
    insta::assert_snapshot!(render(
        "graph g(x: f32) -> y: f32 {\n  y = relu(x)\n\ncontract c on g {\n  ensure y >= 0\n}\n"
    ));
}

#[test]
fn junk_between_and_before_items() {
    insta::assert_snapshot!(render(
        "hello there\ntolerance t = abs 1e-5\n} stray tokens\nassume kernel k: \"ok\"\n"
    ));
}

#[test]
fn bad_strings() {
    insta::assert_snapshot!(render(
        "assume kernel k: \"unterminated\nassume kernel j: \"bad \\q escape and \\u{zz}\"\n"
    ));
}

#[test]
fn unknown_tokens() {
    insta::assert_snapshot!(render(
        "graph g(x: f32) -> y: f32 {\n  y = x § 2 # comment?\n  z = 'single'\n  w = 12abc + 3.5e\n}\n"
    ));
}

#[test]
fn several_errors_in_one_file() {
    insta::assert_snapshot!(render(concat!(
        "graph g(x: f32) -> y: f32 {\n",
        "  a = f(x, , y)\n",
        "  b = \n",
        "  param p f32\n",
        "  y = relu(a)\n",
        "}\n",
        "contract c on g {\n",
        "  given x in box(0, 1\n",
        "  ensure y = 3\n",
        "  check by crown then\n",
        "}\n",
        "tolerance t = abs 1 rel 2\n",
        "graph h( -> y: f32 {}\n",
    )));
}

#[test]
fn too_deep_nesting() {
    let text = format!("graph g() -> y: f32 {{\n  y = {}x\n}}\n", "-".repeat(300));
    insta::assert_snapshot!(render(&text));
}
