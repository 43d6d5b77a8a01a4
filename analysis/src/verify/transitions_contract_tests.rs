//! `given transitions(...)` end to end through the analysis: the clause's diagnostics, the
//! `records` method on good, broken and mangled files, and the simulator's link in the ledger.

use std::path::{Path, PathBuf};

use tl_bounds::attack::Rng;
use tl_syntax::ItemKeyword;

use super::*;
use crate::check::file_diagnostics;
use crate::items::file_items;
use crate::ledger::{contract_ledger_with, ledger_text};
use crate::RootDatabase;

const GRAPH: &str = "graph q(obs: f32[1, 2]) -> y: f32[1, 2] {\n  y = relu(obs)\n}\n";
const BOUNDARY: &str = "obs = [2], action = discrete(4), reward = [-1.0, 1.0]";

fn record(obs: [f64; 2], action: i64, reward: f64, next: [f64; 2], done: bool) -> String {
    format!(
        "{{\"episode\": 0, \"obs\": [{}, {}], \"action\": {action}, \"reward\": {reward}, \"next_obs\": [{}, {}], \"terminated\": {done}, \"truncated\": false}}",
        obs[0], obs[1], next[0], next[1]
    )
}

/// A short valid episode: steps along the row, the last one terminal with reward 1.
fn episode() -> String {
    let mut lines = Vec::new();
    for k in 0..5 {
        let x = k as f64 / 5.0;
        let done = k == 4;
        let r = if done { 1.0 } else { -0.01 };
        lines.push(record([0.0, x], 1, r, [0.0, (k + 1) as f64 / 5.0], done));
    }
    lines.join("\n") + "\n"
}

fn dir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("tl_transitions_{tag}_{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn spec(dir: &Path, records: &str, extra: &str) -> (RootDatabase, crate::SourceFile) {
    let text = format!(
        "{GRAPH}assume environment sim: \"the simulator that wrote the records\"\n\
         contract steps on q {{\n  given transitions(\"{records}\", {BOUNDARY})\n  check by records\n  rests on sim\n{extra}}}\n"
    );
    let mut db = RootDatabase::default();
    let file = db.set_source_text(&dir.join("spec.tl"), text);
    (db, file)
}

fn run(db: &RootDatabase, file: crate::SourceFile) -> ContractRun {
    let item = file_items(db, file)
        .iter()
        .copied()
        .find(|i| i.keyword(db) == ItemKeyword::Contract)
        .expect("a contract");
    run_contract(db, item, &VerifyOptions::default())
}

#[test]
fn good_records_are_checked_and_the_simulator_stays_assumed() {
    let d = dir("good");
    std::fs::write(d.join("run.jsonl"), episode()).unwrap();
    let (db, file) = spec(&d, "run.jsonl", "");
    let errors: Vec<u16> = file_diagnostics(&db, file).iter().map(|x| x.code).collect();
    assert!(errors.is_empty(), "{errors:?}");
    let r = run(&db, file);
    assert_eq!(r.evidence_status, Status::Checked);
    let item = file_items(&db, file)
        .iter()
        .copied()
        .find(|i| i.keyword(&db) == ItemKeyword::Contract)
        .unwrap();
    let l = contract_ledger_with(&db, item, &[r.outcome]).unwrap();
    assert_eq!(l.status, Status::Checked);
    let sim = l
        .links
        .iter()
        .find(|x| x.claim.contains("simulator"))
        .expect("a simulator link");
    assert!(!sim.required);
    assert_eq!(sim.status, Status::Assumed);
    assert_eq!(sim.assumptions, vec!["sim".to_string()]);
    assert!(ledger_text(&l).contains("all 5 records"));
}

#[test]
fn broken_records_are_falsified_by_line() {
    let d = dir("broken");
    let mut lines: Vec<String> = episode().lines().map(String::from).collect();
    lines[1] = record([0.0, 0.2], 1, 3.5, [0.0, 2.0 / 5.0 * 1.0 + 0.0], false);
    lines[3] = record([0.0, 0.6], 9, -0.01, [0.0, 0.8], false);
    std::fs::write(d.join("run.jsonl"), lines.join("\n")).unwrap();
    let (db, file) = spec(&d, "run.jsonl", "  expect falsified\n");
    let r = run(&db, file);
    assert_eq!(r.evidence_status, Status::Falsified);
    let text = serde_json::to_string(&r.outcome).unwrap();
    assert!(text.contains("line 2: TL0486"), "{text}");
    assert!(text.contains("line 4: TL0485"), "{text}");
}

#[test]
fn a_missing_file_is_a_coded_failure_not_a_check() {
    let d = dir("missing");
    let (db, file) = spec(&d, "absent.jsonl", "");
    let r = run(&db, file);
    assert_ne!(r.evidence_status, Status::Checked);
    let text = serde_json::to_string(&r.outcome).unwrap();
    assert!(text.contains("TL0480"), "{text}");
}

#[test]
fn clause_errors_have_codes() {
    let cases = [
        (
            "transitions(obs = [2], action = discrete(4), reward = [0, 1])",
            472,
        ),
        ("transitions(\"r.jsonl\", obs = [2])", 473),
        (
            "transitions(\"r.jsonl\", obs = 2, action = discrete(4), reward = [0, 1])",
            474,
        ),
        (
            "transitions(\"r.jsonl\", obs = [2], action = discrete(4), reward = [0, 1], speed = 1)",
            474,
        ),
        (
            "x in transitions(\"r.jsonl\", obs = [2], action = discrete(4), reward = [0, 1])",
            475,
        ),
    ];
    for (clause, code) in cases {
        let text = format!("{GRAPH}contract c on q {{\n  given {clause}\n  check by records\n}}\n");
        let mut db = RootDatabase::default();
        let file = db.set_source_text(Path::new("/tmp/transitions_clause.tl"), text);
        let codes: Vec<u16> = file_diagnostics(&db, file).iter().map(|x| x.code).collect();
        assert!(codes.contains(&code), "{clause}: {codes:?}");
    }
}

#[test]
fn mangled_files_never_panic_and_utf16_is_never_checked() {
    let d = dir("mangled");
    let good = episode().into_bytes();
    let mut rng = Rng(0x7A1);
    let mut variants: Vec<Vec<u8>> = Vec::new();
    for _ in 0..40 {
        let mut b = good.clone();
        for _ in 0..1 + (rng.next_f64() * 4.0) as usize {
            let i = (rng.next_f64() * b.len() as f64) as usize % b.len();
            b[i] = (rng.next_f64() * 256.0) as u8;
        }
        let cut = (rng.next_f64() * b.len() as f64) as usize;
        if rng.next_f64() < 0.3 {
            b.truncate(cut);
        }
        variants.push(b);
    }
    let mut bom = vec![0xEF, 0xBB, 0xBF];
    bom.extend_from_slice(&good);
    variants.push(bom);
    let utf16: Vec<u8> = std::iter::once(0xFEFFu16)
        .chain(episode().encode_utf16())
        .flat_map(|u| u.to_le_bytes())
        .collect();
    for bytes in &variants {
        std::fs::write(d.join("run.jsonl"), bytes).unwrap();
        let (db, file) = spec(&d, "run.jsonl", "");
        run(&db, file);
    }
    std::fs::write(d.join("run.jsonl"), &utf16).unwrap();
    let (db, file) = spec(&d, "run.jsonl", "");
    assert_ne!(run(&db, file).evidence_status, Status::Checked);
}
