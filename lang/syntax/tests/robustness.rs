//! No input makes the syntax layer panic, hang or overflow the stack.

use proptest::prelude::*;

fn exercise(text: &str) {
    let parse = tl_syntax::parse_file(text);
    for error in parse.errors() {
        assert!(error.span.start <= error.span.end && error.span.end as usize <= text.len());
        assert!(
            text.is_char_boundary(error.span.start as usize),
            "{error:?}"
        );
        assert!(text.is_char_boundary(error.span.end as usize), "{error:?}");
    }
    let mut last_end = 0;
    for (chunk, _) in &parse.items {
        assert!(chunk.range.start >= last_end && chunk.range.end as usize <= text.len());
        last_end = chunk.range.end;
    }
    if let Ok(formatted) = tl_syntax::format(text) {
        assert_eq!(tl_syntax::format(&formatted).as_ref(), Ok(&formatted));
    }
}

const VOCABULARY: &[&str] = &[
    "graph",
    "block",
    "contract",
    "tolerance",
    "assume",
    "import",
    "param",
    "params",
    "from",
    "on",
    "given",
    "in",
    "ensure",
    "check",
    "by",
    "then",
    "rests",
    "execute",
    "expect",
    "within",
    "as",
    "x",
    "y",
    "f32",
    "B",
    "7",
    "0.5",
    "1e-5",
    "60s",
    "\"s\"",
    "\"",
    "(",
    ")",
    "[",
    "]",
    "{",
    "}",
    ",",
    ":",
    "=",
    "->",
    ".",
    "+",
    "-",
    "*",
    "/",
    "==",
    "~=",
    "≈",
    "!",
    "&&",
    "||",
    "\n",
    "// c\n",
    "/// d\n",
    "é",
    "\\",
];

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn arbitrary_strings(text in any::<String>()) {
        exercise(&text);
    }

    #[test]
    fn arbitrary_bytes_as_lossy_utf8(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
        exercise(&String::from_utf8_lossy(&bytes));
    }

    #[test]
    fn token_soup(words in proptest::collection::vec(proptest::sample::select(VOCABULARY), 0..80)) {
        exercise(&words.join(" "));
    }
}

/// Runs `f` on a thread with a small stack, so a recursion that grows with the input fails here.
fn with_small_stack(f: impl FnOnce() + Send + 'static) {
    std::thread::Builder::new()
        .stack_size(256 * 1024)
        .spawn(f)
        .unwrap()
        .join()
        .unwrap();
}

#[test]
fn hundred_thousand_open_parens() {
    with_small_stack(|| {
        let text = format!("graph g() -> y: f32 {{ y = {} }}", "(".repeat(100_000));
        let errors = tl_syntax::parse_file(&text).errors();
        assert!(errors.iter().any(|e| e.code == "TL0007"));
        assert!(tl_syntax::format(&text).is_err());
    });
}

#[test]
fn long_operator_and_postfix_chains_are_bounded() {
    with_small_stack(|| {
        for body in [
            format!("y = x{}", " + x".repeat(100_000)),
            format!("y = x{}", "[0]".repeat(100_000)),
            format!("y = {}x", "!".repeat(100_000)),
            format!("y = {}x{}", "[".repeat(50_000), "]".repeat(50_000)),
        ] {
            let text = format!("graph g() -> y: f32 {{ {body} }}");
            let errors = tl_syntax::parse_file(&text).errors();
            assert_eq!(errors.len(), 1, "{errors:?}");
            assert_eq!(errors[0].code, "TL0007");
        }
    });
}

#[test]
fn moderate_nesting_is_accepted() {
    let text = format!(
        "graph g() -> y: f32 {{ y = {}x{} + 1 }}",
        "(".repeat(200),
        ")".repeat(200)
    );
    assert!(tl_syntax::parse_file(&text).errors().is_empty());
    assert!(tl_syntax::format(&text).is_ok());
}

#[test]
fn many_statements_do_not_count_as_nesting() {
    let body: String = (0..5_000)
        .map(|i| format!("  n{i} = a + b * c - d\n"))
        .collect();
    let text = format!("graph g() -> y: f32 {{\n{body}}}\n");
    assert!(tl_syntax::parse_file(&text).errors().is_empty());
}
