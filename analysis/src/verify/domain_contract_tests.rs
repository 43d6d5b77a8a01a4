//! `domain_safe(y)` end to end through the analysis: a box that reaches the bad set is falsified
//! only with a replayed witness, a box inside the domain is checked, a loose range with no witness
//! is neither, sampling never checks, and mangled specs never panic.

use std::path::Path;

use tl_bounds::attack::Rng;
use tl_syntax::ItemKeyword;

use super::*;
use crate::check::file_diagnostics;
use crate::items::file_items;
use crate::RootDatabase;

const GRAPHS: &str = "\
graph naive(x: f32[4]) -> y: f32[4] {\n  y = log(x)\n}\n\
graph shifted(x: f32[4]) -> y: f32[4] {\n  s = add(x, 1.0)\n  y = log(s)\n}\n\
graph norm(x: f32[3]) -> y: f32 {\n  q = mul(x, x)\n  s = sum(q)\n  y = sqrt(s)\n}\n\
graph smoothed(x: f32[3]) -> y: f32 {\n  q = mul(x, x)\n  s = sum(q)\n  t = add(s, 0.001)\n  y = sqrt(t)\n}\n\
graph cancel(x: f32[2]) -> y: f32[2] {\n  d = sub(x, x)\n  t = add(d, 1.5)\n  y = log(t)\n}\n\
graph ratio(x: f32[2]) -> y: f32[2] {\n  y = div(1.0, x)\n}\n";

fn spec(contract: &str) -> (RootDatabase, crate::SourceFile) {
    let mut db = RootDatabase::default();
    let file = db.set_source_text(
        Path::new("/tmp/tl_domain_tests/spec.tl"),
        format!("{GRAPHS}{contract}"),
    );
    (db, file)
}

fn run(graph: &str, set: &str, method: &str) -> (ContractRun, String) {
    let (db, file) = spec(&format!(
        "contract c on {graph} {{\n  given x in {set}\n  ensure domain_safe(y)\n  check by {method}\n}}\n"
    ));
    let codes: Vec<u16> = file_diagnostics(&db, file)
        .iter()
        .map(|d| d.code)
        .filter(|c| *c != 712)
        .collect();
    assert!(codes.is_empty(), "{graph} {set}: {codes:?}");
    let item = file_items(&db, file)
        .iter()
        .copied()
        .find(|i| i.keyword(&db) == ItemKeyword::Contract)
        .expect("a contract");
    let r = run_contract(&db, item, &VerifyOptions::default());
    let text = serde_json::to_string(&r.outcome).unwrap();
    (r, text)
}

#[test]
fn log_over_a_box_reaching_zero_is_falsified_by_a_replayed_witness() {
    for method in ["ibp", "crown", "alpha_crown"] {
        let (r, text) = run("naive", "box(0.0, 1.0)", method);
        assert_eq!(r.evidence_status, Status::Falsified, "{method}: {text}");
        assert!(text.contains("TL0572"), "{method}: {text}");
        assert!(text.contains("replayed"), "{method}: {text}");
    }
}

#[test]
fn log_over_a_box_inside_its_domain_is_checked() {
    for method in ["ibp", "crown", "alpha_crown"] {
        let (r, text) = run("naive", "box(0.1, 1.0)", method);
        assert_eq!(r.evidence_status, Status::Checked, "{method}: {text}");
        let (r, text) = run("shifted", "box(0.0, 1.0)", method);
        assert_eq!(r.evidence_status, Status::Checked, "{method}: {text}");
        assert!(text.contains("re-checks independently"), "{method}: {text}");
    }
}

#[test]
fn sqrt_of_a_norm_at_the_origin_is_falsified_and_the_smoothed_norm_is_not() {
    let (r, text) = run("norm", "box(-1.0, 1.0)", "crown");
    assert_eq!(r.evidence_status, Status::Falsified, "{text}");
    assert!(text.contains("TL0572"), "{text}");
    // sum(x*x) + 0.001 is positive: a square's bounds know its factors are one value.
    for method in ["ibp", "crown"] {
        let (r, text) = run("smoothed", "box(-1.0, 1.0)", method);
        assert_eq!(r.evidence_status, Status::Checked, "{method}: {text}");
    }
}

#[test]
fn a_loose_range_without_a_witness_is_open() {
    // x - x + 1.5 is 1.5, but IBP sees x - x in [-2, 2]: the range reaches the bad set, no input
    // does, so the claim is open (TL0571), never falsified and never checked. CROWN's linear
    // bound cancels x and checks it.
    let (r, text) = run("cancel", "box(-1.0, 1.0)", "ibp");
    assert!(
        !matches!(r.evidence_status, Status::Falsified | Status::Checked),
        "{text}"
    );
    assert!(text.contains("TL0571"), "{text}");
    let (r, text) = run("cancel", "box(-1.0, 1.0)", "crown");
    assert_eq!(r.evidence_status, Status::Checked, "{text}");
}

#[test]
fn division_by_a_range_containing_zero_needs_a_witness() {
    // x = 0 is a corner of the box: found and replayed.
    let (r, text) = run("ratio", "box(0.0, 2.0)", "crown");
    assert_eq!(r.evidence_status, Status::Falsified, "{text}");
    let (r, text) = run("ratio", "box(0.5, 2.0)", "crown");
    assert_eq!(r.evidence_status, Status::Checked, "{text}");
    // A denominator below 0 is as safe; the independent checker refutes the other half-space.
    let (r, text) = run("ratio", "box(-2.0, -0.5)", "crown");
    assert_eq!(r.evidence_status, Status::Checked, "{text}");
    assert!(text.contains("re-checks independently"), "{text}");
}

#[test]
fn sampling_never_checks() {
    let (r, text) = run("shifted", "box(0.0, 1.0)", "sampling(20, seed = 3)");
    assert_eq!(r.evidence_status, Status::Tested, "{text}");
    let (r, text) = run("naive", "box(-1.0, 1.0)", "sampling(20, seed = 3)");
    assert_eq!(r.evidence_status, Status::Falsified, "{text}");
}

#[test]
fn claim_errors_are_coded_and_mutations_never_panic() {
    for claim in ["domain_safe()", "domain_safe(y, y)", "domain_safe(1.0)"] {
        let (db, file) = spec(&format!(
            "contract c on naive {{\n  given x in box(0.1, 1.0)\n  ensure {claim}\n  check by ibp\n}}\n"
        ));
        let codes: Vec<u16> = file_diagnostics(&db, file).iter().map(|d| d.code).collect();
        assert!(codes.contains(&573), "{claim}: {codes:?}");
    }
    let base = format!(
        "{GRAPHS}contract c on norm {{\n  given x in box(-1.0, 1.0)\n  ensure domain_safe(y)\n  check by crown then sampling(5, seed = 1)\n}}\n"
    );
    let mut rng = Rng(17);
    for k in 0..30 {
        let mut bytes = base.clone().into_bytes();
        for _ in 0..3 {
            let at = (rng.next_f64() * bytes.len() as f64) as usize % bytes.len();
            bytes[at] = b"(),=.0-x yqs{}"[(rng.next_f64() * 14.0) as usize % 14];
        }
        let text = String::from_utf8_lossy(&bytes).into_owned();
        let mut db = RootDatabase::default();
        let file = db.set_source_text(Path::new(&format!("/tmp/tl_domain_mut_{k}.tl")), text);
        let _ = file_diagnostics(&db, file);
        for item in file_items(&db, file).iter().copied() {
            if item.keyword(&db) == ItemKeyword::Contract {
                let _ = run_contract(&db, item, &VerifyOptions::default());
            }
        }
    }
}
