//! The verify cache and time limits (issue #14): a run that timed out is cached with the limit it
//! had, reused by a rerun with the same or a smaller limit (and still reported as a timeout,
//! marked cached), and rerun when the limit grows.

use crate::support::{run_in, TempDir};

const SPEC: &str = "graph g(x: f32[1, 2]) -> scores: f32[1, 2] {
  param w: f32[2, 2] = [[1.0, 0.0], [0.0, 1.0]]
  scores = linear(x, w)
}

contract c on g {
  given x in linf_ball([[0.9, 0.1]], eps = 0.05)
  ensure argmax(scores) == 0
  check by bab(timeout = 60s)
}
";

/// Runs verify in `dir` with tl.toml `timeout = limit` and returns (cached, verdict, status).
fn verify_with_limit(dir: &TempDir, cache: &TempDir, limit: &str) -> (bool, String, String) {
    std::fs::write(dir.0.join("tl.toml"), format!("timeout = \"{limit}\"\n")).unwrap();
    let cache_dir = cache.0.to_string_lossy().into_owned();
    let (code, out, err) = run_in(
        &dir.0,
        &[
            "verify",
            "--cache-dir",
            &cache_dir,
            "--format",
            "json",
            "-q",
        ],
    );
    assert_eq!(code, 0, "{err}\n{out}");
    let report: serde_json::Value =
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("not JSON ({e}): {out}"));
    let c = &report["contracts"][0];
    let methods = c["methods"].as_array().expect("methods");
    assert_eq!(methods.len(), 1, "{c}");
    (
        c["cached"].as_bool().expect("cached"),
        methods[0]["verdict"]["verdict"]
            .as_str()
            .unwrap()
            .to_string(),
        c["status"].as_str().unwrap().to_string(),
    )
}

#[test]
fn timeouts_are_cached_by_their_limit_and_rerun_when_it_grows() {
    let dir = TempDir::new("timeout-cache");
    let cache = TempDir::new("timeout-cache-store");
    std::fs::write(dir.0.join("spec.tl"), SPEC).unwrap();
    // A limit of 0 ms: the search times out before its first domain.
    let first = verify_with_limit(&dir, &cache, "0ms");
    assert_eq!(first, (false, "timeout".into(), "uncovered".into()));
    // The same limit: the stored timeout, still a timeout and still uncovered, marked cached.
    let again = verify_with_limit(&dir, &cache, "0ms");
    assert_eq!(again, (true, "timeout".into(), "uncovered".into()));
    // A larger limit: the search runs again and decides.
    let more = verify_with_limit(&dir, &cache, "60s");
    assert_eq!(more, (false, "holds".into(), "checked".into()));
    // The decided result now serves any limit.
    let back = verify_with_limit(&dir, &cache, "0ms");
    assert_eq!(back, (true, "holds".into(), "checked".into()));
}

#[test]
fn a_timeout_under_a_limit_is_reused_by_a_smaller_one() {
    let dir = TempDir::new("timeout-cache-small");
    let cache = TempDir::new("timeout-cache-small-store");
    // No claim times out at 5 s but decides at 6 s reliably on a shared machine, so the stored
    // file is edited: a timeout written under 0 ms is relabelled as written under 5 s.
    std::fs::write(dir.0.join("spec.tl"), SPEC).unwrap();
    let first = verify_with_limit(&dir, &cache, "0ms");
    assert_eq!(first.1, "timeout");
    // Raise the stored limit to 5 s (as a run capped at 5 s that timed out would have written).
    let file = std::fs::read_dir(&cache.0)
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|x| x == "json"))
        .expect("a stored run");
    let text = std::fs::read_to_string(&file).unwrap();
    let mut stored: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(
        stored["timed_out_under"],
        serde_json::json!({ "capped_ms": 0 })
    );
    stored["timed_out_under"] = serde_json::json!({ "capped_ms": 5000 });
    std::fs::write(&file, stored.to_string()).unwrap();
    for smaller in ["5s", "2s", "1ms"] {
        let r = verify_with_limit(&dir, &cache, smaller);
        assert_eq!(r, (true, "timeout".into(), "uncovered".into()), "{smaller}");
    }
    let r = verify_with_limit(&dir, &cache, "6s");
    assert_eq!(r, (false, "holds".into(), "checked".into()));
}
