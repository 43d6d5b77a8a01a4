//! Facade tests over in-memory fixtures (fake paths; nothing is read from disk). `$0` marks the
//! cursor.

use std::path::Path;

use super::*;
use tl_analysis::db::RootDatabase;

const SPEC: &str = r#"tolerance fp32_run = abs 1e-5, rel 1e-4

/// A two-layer perceptron.
graph mnist_mlp(x: f32[B, 784]) -> logits: f32[B, 10] within fp32_run {
  param fc1.weight: f32[32, 784] = load("fc1_w.npy")
  param fc1.bias: f32[32] = load("fc1_b.npy")
  param fc2.weight: f32[10, 32] = load("fc2_w.npy")
  param fc2.bias: f32[10] = load("fc2_b.npy")

  /// First layer.
  h1 = linear(x, fc1.weight, fc1.bias)
  a1 = relu(h1)
  logits = linear(a1, fc2.weight, fc2.bias)
}

assume kernel cublas_sgemm: "cuBLAS SGEMM matches IEEE-754 binary32 dot products"

contract robust on mnist_mlp {
  given x in linf_ball(load("digit.npy"), eps = 0.002)
  ensure argmax(logits) == 7
  check by crown then bab(timeout = 30s)
  rests on cublas_sgemm
}
"#;

const PATH: &str = "/virtual/ws/main.tl";

/// A database holding `text` (with `$0` removed) at [`PATH`], and the cursor offset.
fn fixture(text: &str) -> (RootDatabase, SourceFile, u32) {
    let offset = text.find("$0").unwrap_or(0) as u32;
    let mut db = RootDatabase::default();
    let file = db.set_source_text(Path::new(PATH), text.replacen("$0", "", 1));
    (db, file, offset)
}

/// `SPEC` with the cursor placed before the `nth` (0-based) occurrence of `needle`.
fn at(needle: &str, nth: usize) -> (RootDatabase, SourceFile, u32) {
    let pos = SPEC
        .match_indices(needle)
        .nth(nth)
        .unwrap_or_else(|| panic!("{needle} #{nth} not in SPEC"))
        .0;
    fixture(&format!("{}$0{}", &SPEC[..pos], &SPEC[pos..]))
}

fn hover_text(needle: &str, nth: usize) -> String {
    let (db, file, offset) = at(needle, nth);
    hover(&db, &[file], file, offset)
        .map(|h| h.markdown)
        .unwrap_or_else(|| "<no hover>".into())
}

#[test]
fn spec_fixture_is_clean() {
    let (db, file, _) = fixture(SPEC);
    // Payload files (TL03xx) are not in the fixture: the facade never reads them.
    let diags: Vec<_> = tl_analysis::check::file_diagnostics(&db, file)
        .into_iter()
        .filter(|d| !(300..400).contains(&d.code))
        .collect();
    assert!(diags.is_empty(), "{diags:#?}");
}

#[test]
fn hover_op() {
    insta::assert_snapshot!(hover_text("linear", 0));
}

#[test]
fn hover_node_with_inferred_shape() {
    insta::assert_snapshot!(hover_text("h1)", 0));
}

#[test]
fn hover_input_and_param() {
    insta::assert_snapshot!(hover_text("x,", 0));
    insta::assert_snapshot!(hover_text("fc1.weight,", 0));
}

#[test]
fn hover_contract() {
    insta::assert_snapshot!(hover_text("robust", 0));
}

#[test]
fn hover_assumption_lists_dependents() {
    insta::assert_snapshot!(hover_text("cublas_sgemm", 0));
}

#[test]
fn hover_tolerance_and_method() {
    insta::assert_snapshot!(hover_text("fp32_run {", 0));
    insta::assert_snapshot!(hover_text("crown", 0));
}

#[test]
fn hover_claim_name_resolves_to_graph_output() {
    let text = hover_text("logits)", 0);
    assert!(text.contains("node logits: f32[B, 10]"), "{text}");
}

fn labels(items: &[CompletionItem]) -> String {
    items
        .iter()
        .map(|c| {
            format!(
                "{:?} {}{}{}",
                c.kind,
                c.label,
                c.detail
                    .as_ref()
                    .map(|d| format!(" — {d}"))
                    .unwrap_or_default(),
                c.insert_text
                    .as_ref()
                    .map(|s| format!(" => {s}"))
                    .unwrap_or_default()
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn complete(text: &str) -> String {
    let (db, file, offset) = fixture(text);
    labels(&completions(&db, file, offset))
}

#[test]
fn completes_ops_after_node_equals() {
    let out = complete("graph g(x: f32[4]) -> y: f32[4] {\n  y = $0\n}\n");
    assert!(out.contains("Op relu — relu(x) => relu(${1:x})"), "{out}");
    assert!(out.contains("Op conv2d"), "{out}");
    insta::assert_snapshot!(out
        .lines()
        .filter(|l| l.contains("linear") || l.contains("softmax") || l.contains("repeat"))
        .collect::<Vec<_>>()
        .join("\n"));
}

#[test]
fn completes_names_and_attributes_in_op_call() {
    let out = complete(
        "graph g(x: f32[2, 4]) -> y: f32[2, 4] {\n  a = relu(x)\n  y = softmax(a, $0)\n  z = relu(y)\n}\n",
    );
    insta::assert_snapshot!(out);
}

#[test]
fn completes_declarations_by_position() {
    let base = "tolerance t1 = abs 1e-5\nassume kernel k1: \"why\"\ngraph g(x: f32[4]) -> y: f32[4] {\n  y = relu(x)\n}\n";
    insta::assert_snapshot!(complete(&format!("{base}contract c on g within $0")));
    insta::assert_snapshot!(complete(&format!(
        "{base}contract c on g {{\n  rests on k1, $0\n}}\n"
    )));
    insta::assert_snapshot!(complete(&format!("{base}contract c on $0")));
    let methods = complete(&format!("{base}contract c on g {{\n  check by $0\n}}\n"));
    assert!(methods.contains("Method crown"), "{methods}");
    assert!(methods.contains("Method bab"), "{methods}");
}

#[test]
fn completes_claims_and_nodes_after_ensure() {
    let out = complete(
        "graph g(x: f32[4]) -> y: f32[4] {\n  y = relu(x)\n}\ncontract c on g {\n  ensure $0\n}\n",
    );
    insta::assert_snapshot!(out);
}

#[test]
fn completes_files_in_path_strings() {
    let dir = std::env::temp_dir().join(format!("tl-ide-complete-{}", std::process::id()));
    std::fs::create_dir_all(dir.join("weights")).unwrap();
    std::fs::write(dir.join("w.npy"), b"").unwrap();
    std::fs::write(dir.join("notes.txt"), b"").unwrap();
    std::fs::write(dir.join("other.tl"), b"").unwrap();
    let mut db = RootDatabase::default();
    let path = dir.join("main.tl");
    let text = "graph g(x: f32[4]) -> y: f32[4] {\n  param w: f32[4] = load(\"\")\n  y = add(x, w)\n}\nimport \"o\"\n";
    let file = db.set_source_text(&path, text.to_string());
    let in_load = text.find("load(\"").unwrap() as u32 + 6;
    let got: Vec<String> = completions(&db, file, in_load)
        .into_iter()
        .map(|c| c.label)
        .collect();
    assert_eq!(got, vec!["w.npy", "weights/"]);
    let in_import = text.find("import \"o").unwrap() as u32 + 9;
    let got = completions(&db, file, in_import);
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].label, "other.tl");
    assert_eq!(
        got[0].edit_range,
        Some(TextRange::new(in_import - 1, in_import))
    );
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn definition_of_node_use_and_of_tolerance() {
    let (db, file, offset) = at("h1)", 0);
    let def = definition(&db, file, offset).expect("definition");
    assert_eq!(def.range.start as usize, SPEC.find("h1 = linear").unwrap());
    let (db, file, offset) = at("fp32_run {", 0);
    let def = definition(&db, file, offset).expect("definition");
    assert_eq!(def.range.start as usize, SPEC.find("fp32_run").unwrap());
}

#[test]
fn definition_across_files_via_import() {
    let mut db = RootDatabase::default();
    let lib = db.set_source_text(
        Path::new("/virtual/ws/lib.tl"),
        "tolerance shared = abs 1e-3\n".into(),
    );
    let main_text =
        "import \"lib.tl\"\ngraph g(x: f32[4]) -> y: f32[4] within shared {\n  y = relu(x)\n}\n";
    let main = db.set_source_text(Path::new(PATH), main_text.into());
    let use_at = main_text.find("shared").unwrap() as u32 + 2;
    let def = definition(&db, main, use_at).expect("definition");
    assert_eq!(def.file, lib);
    assert_eq!(def.range, TextRange::new(10, 16));
    let refs = references(&db, &[main, lib], main, use_at, true);
    assert_eq!(refs.len(), 2);
}

#[test]
fn references_of_output_include_signature_and_claim() {
    let (db, file, offset) = at("logits =", 0);
    let refs = references(&db, &[file], file, offset, true);
    let starts: Vec<usize> = refs.iter().map(|r| r.range.start as usize).collect();
    let expected: Vec<usize> = SPEC.match_indices("logits").map(|m| m.0).collect();
    assert_eq!(starts, expected);
    let without_decl = references(&db, &[file], file, offset, false);
    assert_eq!(without_decl.len(), expected.len() - 1);
}

#[test]
fn rename_node_updates_uses_and_validates() {
    let (db, file, offset) = at("a1 =", 0);
    let edits = rename(&db, &[file], file, offset, "act1").expect("rename");
    assert_eq!(edits.len(), 2);
    assert!(edits.iter().all(|e| e.new_text == "act1"));
    let err = rename(&db, &[file], file, offset, "h1").unwrap_err();
    assert!(err.0.contains("already defined"), "{err}");
    let err = rename(&db, &[file], file, offset, "9lives").unwrap_err();
    assert!(err.0.contains("not a valid name"), "{err}");
    let err = rename(&db, &[file], file, offset, "graph").unwrap_err();
    assert!(err.0.contains("not a valid name"), "{err}");
}

#[test]
fn rename_refuses_ops_and_accepts_dotted_params() {
    let (db, file, offset) = at("relu", 0);
    assert!(prepare_rename(&db, file, offset).is_err());
    let (db, file, offset) = at("fc1.bias)", 0);
    let edits = rename(&db, &[file], file, offset, "layer1.bias").expect("rename");
    assert_eq!(edits.len(), 2);
}

#[test]
fn rename_tolerance_across_its_uses() {
    let (db, file, offset) = at("fp32_run", 0);
    let edits = rename(&db, &[file], file, offset, "f32_budget").expect("rename");
    assert_eq!(edits.len(), 2);
}

#[test]
fn document_symbols_outline() {
    let (db, file, _) = fixture(SPEC);
    let outline: Vec<String> = document_symbols(&db, file)
        .iter()
        .flat_map(|s| {
            std::iter::once(format!("{:?} {} {:?}", s.kind, s.name, s.detail)).chain(
                s.children
                    .iter()
                    .map(|c| format!("  {:?} {} {:?}", c.kind, c.name, c.detail)),
            )
        })
        .collect();
    insta::assert_snapshot!(outline.join("\n"));
}

#[test]
fn workspace_symbols_fuzzy() {
    let (db, file, _) = fixture(SPEC);
    let names: Vec<String> = workspace_symbols(&db, &[file], "mlp", 100)
        .into_iter()
        .map(|s| s.name)
        .collect();
    assert_eq!(names, vec!["mnist_mlp"]);
    let names: Vec<String> = workspace_symbols(&db, &[file], "lgt", 100)
        .into_iter()
        .map(|s| format!("{}@{}", s.name, s.container.unwrap_or_default()))
        .collect();
    assert_eq!(names, vec!["logits@mnist_mlp"]);
}

#[test]
fn signature_help_tracks_the_argument() {
    let (db, file, offset) = at("fc1.bias)", 0);
    let help = signature_help(&db, file, offset).expect("signature help");
    assert_eq!(help.label, "linear(x, weight, bias?)");
    assert_eq!(help.active_parameter, Some(2));
    let (db, file, offset) =
        fixture("graph g(x: f32[2, 4]) -> y: f32[2, 4] {\n  y = softmax(x, axis = $0)\n}\n");
    let help = signature_help(&db, file, offset).expect("signature help");
    let active = help.active_parameter.expect("active") as usize;
    assert!(
        help.parameters[active].label.starts_with("axis"),
        "{help:?}"
    );
}

#[test]
fn semantic_tokens_classify_by_meaning() {
    let (db, file, _) = fixture(SPEC);
    let toks = semantic_tokens(&db, file);
    let kind_of = |needle: &str, nth: usize| {
        let pos = SPEC.match_indices(needle).nth(nth).unwrap().0 as u32;
        toks.iter().find(|t| t.range.start == pos).map(|t| t.kind)
    };
    assert_eq!(kind_of("linear", 0), Some(TokenKind::Op));
    assert_eq!(kind_of("h1", 0), Some(TokenKind::Node));
    assert_eq!(kind_of("x,", 0), Some(TokenKind::Input));
    assert_eq!(kind_of("fc1.bias", 0), Some(TokenKind::Param));
    assert_eq!(kind_of("f32", 0), Some(TokenKind::Type));
    assert_eq!(kind_of("graph", 0), Some(TokenKind::Keyword));
    assert_eq!(kind_of("1e-5", 0), Some(TokenKind::Number));
    assert_eq!(kind_of("/// A two", 0), Some(TokenKind::Comment));
    assert_eq!(kind_of("\"cuBLAS", 0), Some(TokenKind::String));
    assert_eq!(kind_of("crown", 0), Some(TokenKind::Method));
    assert_eq!(kind_of("mnist_mlp", 1), Some(TokenKind::Graph));
    // Ordered and not overlapping.
    assert!(toks.windows(2).all(|w| w[0].range.end <= w[1].range.start));
}

#[test]
fn folding_and_inlay_hints() {
    let (db, file, _) = fixture(SPEC);
    let folds = folding_ranges(&db, file);
    assert_eq!(folds.iter().filter(|f| f.kind == FoldKind::Item).count(), 2);
    let hints = inlay_hints(&db, file, TextRange::new(0, SPEC.len() as u32));
    let labels: Vec<&str> = hints.iter().map(|h| h.label.as_str()).collect();
    assert_eq!(labels, vec![": f32[B, 32]", ": f32[B, 32]", ": f32[B, 10]"]);
    assert_eq!(hints[0].offset as usize, SPEC.find("h1 =").unwrap() + 2);
}

fn apply(text: &str, edits: &[FileEdit]) -> String {
    let mut edits = edits.to_vec();
    edits.sort_by_key(|e| std::cmp::Reverse(e.range.start));
    let mut out = text.to_string();
    for e in edits {
        out.replace_range(e.range.start as usize..e.range.end as usize, &e.new_text);
    }
    out
}

/// Applies the action titled `title` and returns the new text and its diagnostics' codes.
fn fix(text: &str, title_part: &str) -> (String, Vec<u16>) {
    let (db, file, _) = fixture(text);
    let actions = code_actions(&db, file, TextRange::new(0, text.len() as u32));
    let action = actions
        .iter()
        .find(|a| a.title.contains(title_part))
        .unwrap_or_else(|| panic!("no action `{title_part}` in {actions:#?}"));
    let fixed = apply(text, &action.edits);
    let (db2, file2, _) = fixture(&fixed);
    let codes = tl_analysis::check::file_diagnostics(&db2, file2)
        .iter()
        .map(|d| d.code)
        .collect();
    (fixed, codes)
}

#[test]
fn quick_fix_did_you_mean() {
    let text = "graph g(x: f32[4]) -> y: f32[4] {\n  y = rellu(x)\n}\n";
    let (fixed, codes) = fix(text, "Replace with `relu`");
    assert!(fixed.contains("y = relu(x)"));
    assert!(codes.is_empty(), "{codes:?}");
}

#[test]
fn quick_fix_declares_unknown_assumption() {
    let text = "graph g(x: f32[4]) -> y: f32[4] {\n  y = relu(x)\n}\ncontract c on g {\n  given x in box(-1.0, 1.0)\n  ensure all(y >= 0)\n  check by crown\n  rests on blas_ok\n}\n";
    let (fixed, codes) = fix(text, "Declare assumption `blas_ok`");
    insta::assert_snapshot!(fixed);
    assert!(codes.is_empty(), "{codes:?}");
}

#[test]
fn quick_fix_cuda_assumption() {
    let text = "graph g(x: f32[4]) -> y: f32[4] {\n  y = relu(x)\n}\ncontract c on g {\n  given x in box(-1.0, 1.0)\n  ensure all(y >= 0)\n  check by crown\n  execute on cuda\n}\n";
    let (fixed, codes) = fix(text, "kernel assumption");
    insta::assert_snapshot!(fixed);
    assert!(!codes.contains(&420), "{codes:?}");
}

#[test]
fn quick_fix_tolerance() {
    let text = "graph g(x: f32[4]) -> y: f32[4] within budget {\n  y = relu(x)\n}\n";
    let (fixed, codes) = fix(text, "Declare tolerance `budget`");
    assert!(
        fixed.ends_with("tolerance budget = abs 1e-5, rel 1e-4\n"),
        "{fixed}"
    );
    assert!(codes.is_empty(), "{codes:?}");
    let text = "graph g(x: f32[4]) -> y: f32[4] {\n  y = relu(x)\n}\ncontract c on g {\n  given x in box(-1.0, 1.0)\n  ensure compiled ~= reference\n  check by sampling(10)\n}\n";
    let (fixed, codes) = fix(text, "Declare tolerance `c_tol`");
    assert!(fixed.contains("contract c on g within c_tol {"), "{fixed}");
    assert!(!codes.contains(&410), "{codes:?}\n{fixed}");
}

#[test]
fn formatting_and_refusal() {
    let (db, file, _) = fixture("tolerance   t = abs 1e-5\n");
    assert_eq!(
        format_file(&db, file),
        Ok(Some("tolerance t = abs 1e-5\n".into()))
    );
    let (db, file, _) = fixture("tolerance t = abs 1e-5\n");
    assert_eq!(format_file(&db, file), Ok(None));
    let (db, file, _) = fixture("graph g(x: f32[4] {\n");
    assert!(format_file(&db, file).is_err());
}

#[test]
fn mermaid_graph() {
    let (db, file, _) = fixture(SPEC);
    insta::assert_snapshot!(graph_mermaid(&db, file, "mnist_mlp").expect("graph"));
    assert!(graph_mermaid(&db, file, "nope").is_none());
}

#[test]
fn statuses_and_trust() {
    let text = "graph g(x: f32[4]) -> y: f32[4] {\n  y = relu(x)\n}\nassume kernel k: \"why\"\ncontract robust on g {\n  given x in box(-1.0, 1.0)\n  ensure argmax(y) == 1\n  check by crown then bab(timeout = 30s)\n  rests on k\n}\ncontract bare on g {\n  given x in box(-1.0, 1.0)\n  ensure argmax(y) == 1\n}\n";
    let (db, file, _) = fixture(text);
    let st: Vec<(String, &str, Option<String>)> = contract_statuses(&db, file)
        .into_iter()
        .map(|s| (s.name, s.status, s.method))
        .collect();
    assert_eq!(
        st,
        vec![
            (
                "robust".into(),
                "unknown",
                Some("crown then bab(timeout = 30s)".into())
            ),
            ("bare".into(), "uncovered", None),
        ]
    );
    insta::assert_snapshot!(trust_markdown(&db, file, &[]));
    let lenses: Vec<(String, LensKind)> = lens_targets(&db, file)
        .into_iter()
        .map(|l| (l.name, l.kind))
        .collect();
    assert_eq!(lenses.len(), 3);
}

const VERIFIABLE: &str = "tolerance t = abs 1e-5, rel 1e-4

graph g(x: f32[4]) -> y: f32[4] within t {
  y = relu(x)
}

contract nonneg on g {
  given x in box(-1.0, 1.0)
  ensure all(y >= -0.5)
  check by crown
}

contract sampled on g {
  given x in box(0.0, 1.0)
  ensure compiled ~= reference within t
  check by sampling(50, seed = 0)
}

contract wrong on g {
  given x in box(-1.0, 1.0)
  ensure all(y >= 0.5)
  check by sampling(50, seed = 0)
}

contract never on g {
  given x in box(-1.0, 1.0)
  ensure all(y >= 0)
}
";

#[test]
fn verified_statuses_hover_and_trust() {
    use tl_analysis::verify::{execute, Memo, VerifyOptions};
    let (db, file, _) = fixture(VERIFIABLE);
    let opts = VerifyOptions::default();
    let memo = Memo::default();
    let prepared = prepare_contracts(&db, file, None, &opts);
    assert_eq!(prepared.len(), 4);
    assert_eq!(
        prepare_contracts(&db, file, Some("sampled"), &opts).len(),
        1
    );
    assert!(prepare_contracts(&db, file, Some("nope"), &opts).is_empty());
    let mut runs: Vec<_> = prepared.iter().map(|p| execute(p, &opts, &memo)).collect();
    for r in &mut runs {
        r.millis = 7;
        for m in &mut r.outcome.methods {
            m.millis = 7;
        }
    }
    // `never` is in flight: it shows as running whatever else is known.
    let st = statuses_with_runs(&db, file, &runs[..3], &["never".to_string()]);
    let got: Vec<(&str, &str, Option<&str>)> = st
        .iter()
        .map(|s| (s.name.as_str(), s.status, s.headline.as_deref()))
        .collect();
    assert_eq!(
        got,
        vec![
            ("nonneg", "checked", Some("checked in 7 ms")),
            ("sampled", "checked", Some("checked in 7 ms")),
            ("wrong", "falsified", Some("falsified: counterexample")),
            ("never", "running", None),
        ]
    );
    assert_eq!(st[0].method.as_deref(), Some("crown"));
    assert_eq!(st[0].millis, Some(7));
    assert!(
        st[1].message.contains("derived float bound"),
        "{}",
        st[1].message
    );
    // Without runs, nothing is claimed.
    let plain = statuses_with_runs(&db, file, &[], &[]);
    assert!(plain
        .iter()
        .all(|s| s.status == "unknown" || s.status == "uncovered"));
    // The hover of a verified contract carries its ledger; an unverified one does not.
    let at = VERIFIABLE.find("contract nonneg").unwrap() as u32 + 10;
    let h = hover_with_runs(&db, &[file], file, at, &runs).expect("hover");
    insta::assert_snapshot!(tl_analysis::testing::redact_sampled_numbers(&h.markdown));
    let h = hover_with_runs(&db, &[file], file, at, &[]).expect("hover");
    assert!(!h.markdown.contains("| link |"));
    let report = trust_markdown(&db, file, &runs);
    assert!(
        report.starts_with("# Trust report\n\n## main.tl"),
        "{report}"
    );
    assert!(
        report.contains("contract wrong on g (output_range): falsified"),
        "{report}"
    );
}

#[test]
fn nothing_panics_on_any_offset() {
    let text = "graph g(x: f32[B, 4]) -> y: f32[B, 4] {\n  y = linear(x, w, b, axis = \"é\")\n  z = 😀(y)\n}\ncontract c on g { ensure argmax(y) == 1 check by crown rests on\n";
    let (db, file, _) = fixture(text);
    for offset in 0..=text.len() as u32 + 2 {
        let _ = hover(&db, &[file], file, offset);
        let _ = completions(&db, file, offset);
        let _ = definition(&db, file, offset);
        let _ = references(&db, &[file], file, offset, true);
        let _ = prepare_rename(&db, file, offset);
        let _ = signature_help(&db, file, offset);
    }
    let _ = semantic_tokens(&db, file);
    let _ = folding_ranges(&db, file);
    let _ = code_actions(&db, file, TextRange::new(0, text.len() as u32));
}
