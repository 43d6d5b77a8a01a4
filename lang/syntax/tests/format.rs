//! Formatter behaviour on the fixtures: snapshot, idempotence, and that formatting never changes
//! the parsed tree (compared with spans erased).

use std::path::PathBuf;

fn fixture(name: &str) -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name);
    std::fs::read_to_string(path).expect("fixture exists")
}

/// The items' Debug output with every `TextRange { .. }` replaced by `_`.
fn items_without_spans(text: &str) -> Vec<String> {
    tl_syntax::parse_file(text)
        .items
        .iter()
        .map(|(_, parse)| erase_spans(&format!("{:?}", parse.item)))
        .collect()
}

fn erase_spans(debug: &str) -> String {
    let mut out = String::with_capacity(debug.len());
    let mut rest = debug;
    while let Some(at) = rest.find("TextRange {") {
        out.push_str(&rest[..at]);
        out.push('_');
        let close = rest[at..].find('}').expect("TextRange debug closes");
        rest = &rest[at + close + 1..];
    }
    out.push_str(rest);
    out
}

const SNIPPETS: &[&str] = &[
    "tolerance t = abs 1, rel 2, ulp 4",
    "import onnx \"net.onnx\" as net\nimport \"a.tl\"",
    "graph g() -> y: f32 {}",
    "block b(x: f32) -> y: f32 { y = -x - -x * !x }",
    "graph g(x: f32[N]) -> y: f32[N] { y = ((x)) + (x, x,)[0] + [[1, 2], [3]][0, 1] + a.0.1.b }",
    "contract c on net { given vnnlib(\"p.vnnlib\") ensure a != b || c < d && e > f }",
    "/// doc one\n/// doc two\nassume float f: \"x\"\n\n\n\n// dangling",
    "graph g() -> y: f32 { y = f(a, // c\n) }",
    "graph g() -> y: f32 {\n  // only a comment\n}",
    "// only a comment",
    "",
];

fn check_round_trip(name: &str, text: &str) {
    let formatted = tl_syntax::format(text).unwrap_or_else(|e| panic!("{name}: {e:?}"));
    let again = tl_syntax::format(&formatted).expect("formatted text parses");
    assert_eq!(again, formatted, "{name}: formatting is not idempotent");
    assert_eq!(
        items_without_spans(&formatted),
        items_without_spans(text),
        "{name}: formatting changed the tree"
    );
    assert!(formatted.is_empty() || formatted.ends_with('\n') && !formatted.ends_with("\n\n"));
    assert!(
        !formatted.lines().any(|l| l.ends_with(' ')),
        "{name}: trailing whitespace"
    );
}

#[test]
fn fixtures_and_snippets_round_trip() {
    for name in ["mnist.tl", "transformer.tl", "messy.tl"] {
        check_round_trip(name, &fixture(name));
    }
    for (i, snippet) in SNIPPETS.iter().enumerate() {
        check_round_trip(&format!("snippet {i}"), snippet);
    }
}

#[test]
fn messy_spec_snapshot() {
    insta::assert_snapshot!(tl_syntax::format(&fixture("messy.tl")).unwrap());
}

#[test]
fn realistic_spec_snapshot() {
    insta::assert_snapshot!(tl_syntax::format(&fixture("transformer.tl")).unwrap());
}

#[test]
fn canonical_input_is_unchanged() {
    let text = fixture("mnist.tl");
    assert_eq!(tl_syntax::format(&text).unwrap(), text);
}

#[test]
fn refuses_files_with_syntax_errors() {
    let errors = tl_syntax::format("graph g( -> y: f32 {}\ntolerance t = abs 1").unwrap_err();
    assert!(!errors.is_empty());
    assert!(errors.iter().all(|e| e.code.starts_with("TL00")));
    assert!(tl_syntax::format("x = \"open").is_err());
}
