//! BugZoo buggy/fixed pairs through the real `tlc verify`: the buggy variant, marked
//! `expect falsified`, is falsified and meets the bar; the same contract on a copy whose bug was
//! fixed fails the run with TL0471 in every output format.

use crate::support::{repo_root, run_in, TempDir};

const EXAMPLE: &str = "spec-examples/bugzoo_batch.tl";
const BUGGY: &str = "batch_softmax_mixes_rows";

fn verify(dir: &std::path::Path, path: &str, format: &str) -> (i32, String, String) {
    let cache = TempDir::new("bugzoo-cache");
    let cache_dir = cache.0.to_string_lossy().into_owned();
    run_in(
        dir,
        &[
            "verify",
            "--cache-dir",
            &cache_dir,
            "-q",
            "--format",
            format,
            path,
        ],
    )
}

fn contract<'a>(report: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    report["contracts"]
        .as_array()
        .expect("contracts")
        .iter()
        .find(|c| c["name"] == name)
        .unwrap_or_else(|| panic!("no contract {name}"))
}

#[test]
fn the_buggy_variant_is_an_expected_failure_and_the_fix_is_checked() {
    let root = repo_root();
    let (code, out, err) = verify(&root, EXAMPLE, "json");
    assert_eq!(code, 0, "{err}\n{out}");
    let report: serde_json::Value = serde_json::from_str(&out).expect("json");
    let buggy = contract(&report, BUGGY);
    assert_eq!(buggy["status"], "falsified", "the status stays honest");
    assert_eq!(buggy["expected"], "falsified");
    assert_eq!(buggy["expectation_met"], true);
    assert_eq!(buggy["meets_bar"], true);
    let cex = buggy["methods"]
        .as_array()
        .unwrap()
        .iter()
        .find_map(|m| m["verdict"]["counterexample"].as_object())
        .expect("a counterexample");
    assert_eq!(cex["confirmed_on"], "the f64 reference semantics");
    let fixed = contract(&report, "rows_independent");
    assert_eq!(fixed["status"], "checked");
    assert!(fixed.get("expected").is_none());
    assert_eq!(report["totals"]["expected_failures"], 1);

    let (code, out, _) = verify(&root, EXAMPLE, "human");
    assert_eq!(code, 0);
    let line = out.lines().find(|l| l.contains(BUGGY)).expect("buggy line");
    assert!(
        line.contains("falsified") && line.ends_with("(expected)"),
        "{line}"
    );
    let (_, out, _) = verify(&root, EXAMPLE, "junit");
    assert!(out.contains("<skipped type=\"xfail\""), "{out}");
    assert!(!out.contains("<failure"), "{out}");
    let (_, out, _) = verify(&root, EXAMPLE, "sarif");
    let sarif: serde_json::Value = serde_json::from_str(&out).expect("sarif");
    let result = sarif["runs"][0]["results"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["message"]["text"].as_str().unwrap().contains(BUGGY))
        .unwrap();
    assert_eq!(
        (&result["kind"], &result["level"]),
        (&"pass".into(), &"note".into())
    );
}

#[test]
fn a_buggy_variant_that_stops_being_falsified_fails_the_run() {
    let dir = TempDir::new("bugzoo-fixed");
    let text = std::fs::read_to_string(repo_root().join(EXAMPLE)).unwrap();
    let buggy_line = "probs = softmax(logits, axis = 0)";
    assert!(text.contains(buggy_line));
    // Someone fixes the bug in the buggy variant but leaves `expect falsified`.
    let fixed = text.replace(buggy_line, "probs = softmax(logits, axis = 1)");
    std::fs::write(dir.0.join("pair.tl"), fixed).unwrap();

    let (code, out, err) = verify(&dir.0, "pair.tl", "human");
    assert_eq!(code, 1, "{err}\n{out}");
    assert!(out.contains("TL0471"), "{out}");
    let line = out.lines().find(|l| l.contains(BUGGY)).unwrap();
    assert!(line.starts_with('!') && line.contains("checked"), "{line}");

    let (code, out, _) = verify(&dir.0, "pair.tl", "json");
    assert_eq!(code, 1);
    let report: serde_json::Value = serde_json::from_str(&out).expect("json");
    let c = contract(&report, BUGGY);
    assert_eq!(
        (&c["status"], &c["expectation_met"], &c["meets_bar"]),
        (&"checked".into(), &false.into(), &false.into())
    );
    let (code, out, _) = verify(&dir.0, "pair.tl", "junit");
    assert_eq!(code, 1);
    assert!(out.contains("type=\"TL0471\""), "{out}");
    let (_, out, _) = verify(&dir.0, "pair.tl", "sarif");
    assert!(out.contains("\"ruleId\": \"TL0471\""), "{out}");
    let (_, out, _) = verify(&dir.0, "pair.tl", "github");
    assert!(
        out.lines()
            .any(|l| l.starts_with("::error") && l.contains("TL0471")),
        "{out}"
    );
    // `--fail-on` cannot excuse it: an unmet expectation is below any bar.
    let cache = TempDir::new("bugzoo-cache");
    let cache_dir = cache.0.to_string_lossy().into_owned();
    let (code, _, _) = run_in(
        &dir.0,
        &[
            "verify",
            "--cache-dir",
            &cache_dir,
            "-q",
            "--fail-on",
            "uncovered",
            "pair.tl",
        ],
    );
    assert_eq!(code, 1);
}

const LAYERNORM: &str = "spec-examples/bugzoo_layernorm.tl";

/// LayerNormDegenerateAxis: normalising over an axis of length one makes the output the bias, so
/// the input's slope is 0 and the buggy variant is falsified; the fix's slope claim holds on the
/// samples (its status is capped by layer_norm's semantics link, so it is not falsified).
#[test]
fn layernorm_over_a_length_one_axis_is_falsified_and_the_fix_is_not() {
    let root = repo_root();
    let (code, out, err) = verify(&root, LAYERNORM, "json");
    assert_eq!(code, 0, "{err}\n{out}");
    let report: serde_json::Value = serde_json::from_str(&out).expect("json");
    let buggy = contract(&report, "degenerate_axis_ignores_input");
    assert_eq!(buggy["status"], "falsified");
    assert_eq!(buggy["expectation_met"], true);
    let fixed = contract(&report, "normalised_features_respond");
    assert_ne!(fixed["status"], "falsified", "{fixed}");
    assert_ne!(fixed["status"], "uncovered", "{fixed}");
}

/// The fixed contract on a graph whose features are put back on a length-one axis is falsified.
#[test]
fn layernorm_fix_with_the_degenerate_axis_reintroduced_is_falsified() {
    let dir = TempDir::new("bugzoo-layernorm");
    let text = std::fs::read_to_string(repo_root().join(LAYERNORM)).unwrap();
    let fixed_graph = "graph features_norm(x: f32[1, 4]) -> y: f32[1, 4] {\n  param ln.weight: f32[4] = [2.0, 1.5, 1.0, 0.5]\n  param ln.bias: f32[4] = [3.0, 0.0, -1.0, 0.5]";
    assert!(text.contains(fixed_graph));
    let mutated = text
        .replace(
            fixed_graph,
            "graph features_norm(x: f32[4, 1]) -> y: f32[4, 1] {\n  param ln.weight: f32[1] = [2.0]\n  param ln.bias: f32[1] = [3.0]",
        )
        .replace(
            "box([[1.0, -1.0, 0.0, -0.5]], [[2.0, -0.5, 0.5, 0.0]])",
            "box(-2.0, 2.0)",
        );
    std::fs::write(dir.0.join("ln.tl"), mutated).unwrap();
    let (_, out, err) = verify(&dir.0, "ln.tl", "json");
    let report: serde_json::Value = serde_json::from_str(&out).expect(&err);
    let c = contract(&report, "normalised_features_respond");
    assert_eq!(c["status"], "falsified", "{c}");
}

const DOMAINS: &str = "spec-examples/bugzoo_domains.tl";

/// StableLoss and AutogradDomain: log of an underflowing softmax and sqrt of a norm at the origin
/// are falsified by replayed inputs; log_softmax and the smoothed norm are not.
#[test]
fn domain_bugs_are_falsified_by_replayed_inputs_and_the_fixes_are_not() {
    let root = repo_root();
    let (code, out, err) = verify(&root, DOMAINS, "json");
    assert_eq!(code, 0, "{err}\n{out}");
    let report: serde_json::Value = serde_json::from_str(&out).expect("json");
    for buggy in ["log_prob_underflows", "norm_at_the_origin"] {
        let c = contract(&report, buggy);
        assert_eq!(c["status"], "falsified", "{c}");
        assert_eq!(c["expectation_met"], true);
        assert!(c.to_string().contains("TL0572"), "{c}");
    }
    assert_eq!(
        contract(&report, "smoothed_norm_is_safe")["status"],
        "checked"
    );
    assert_eq!(
        contract(&report, "log_softmax_is_safe")["status"],
        "assumed"
    );
}

/// Dropping the smoothing eps brings the bug back: the fixed contract is then falsified.
#[test]
fn the_smoothed_norm_without_its_eps_is_falsified() {
    let dir = TempDir::new("bugzoo-domains");
    let text = std::fs::read_to_string(repo_root().join(DOMAINS)).unwrap();
    assert!(text.contains("t = add(s, 1e-6)"));
    std::fs::write(
        dir.0.join("d.tl"),
        text.replace("t = add(s, 1e-6)", "t = add(s, 0.0)"),
    )
    .unwrap();
    let (_, out, err) = verify(&dir.0, "d.tl", "json");
    let report: serde_json::Value = serde_json::from_str(&out).expect(&err);
    let c = contract(&report, "smoothed_norm_is_safe");
    assert_eq!(c["status"], "falsified", "{c}");
}
