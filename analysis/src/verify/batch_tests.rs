//! `batch_invariant` and `expect falsified`: the structural check against sampling on graphs with
//! random weights, the shipped BugZoo pair, and the expectation through the ledger.

use std::path::Path;

use tl_bounds::attack::Rng;
use tl_syntax::ItemKeyword;

use super::*;
use crate::contracts::Expectation;
use crate::items::file_items;
use crate::ledger::contract_ledger_with;
use crate::RootDatabase;

fn contract<'db>(db: &'db RootDatabase, file: crate::SourceFile, name: &str) -> ItemSource<'db> {
    file_items(db, file)
        .iter()
        .copied()
        .find(|i| i.keyword(db) == ItemKeyword::Contract && i.name(db).as_deref() == Some(name))
        .unwrap_or_else(|| panic!("no contract {name}"))
}

fn matrix(rng: &mut Rng, rows: usize, cols: usize) -> String {
    let row = |rng: &mut Rng| {
        let v: Vec<String> = (0..cols)
            .map(|_| format!("{:.4}", rng.next_f64() * 2.0 - 1.0))
            .collect();
        format!("[{}]", v.join(", "))
    };
    let rows: Vec<String> = (0..rows).map(|_| row(rng)).collect();
    format!("[{}]", rows.join(", "))
}

/// Graph bodies over `x: f32[B, 4]` and `w: f32[3, 4]`, producing `y: f32[B, 3]`: some act row by
/// row, some mix the rows of the batch. The test does not say which: it checks that the
/// structural check never claims what sampling refutes.
const BODIES: &[&str] = &[
    "h = linear(x, w)\n  y = softmax(relu(h), axis = -1)",
    "h = linear(x, w)\n  y = softmax(h, axis = 0)",
    "m = mean(x, axes = [0], keepdim = true)\n  y = linear(sub(x, m), w)",
    "n = layer_norm(x)\n  y = tanh(linear(n, w))",
    "s = sum(x, axes = [1], keepdim = true)\n  y = linear(mul(x, s), w)",
    "m = mean(x, keepdim = true)\n  y = linear(sub(x, m), w)",
    "t = transpose(x, dim0 = 0, dim1 = 1)\n  u = transpose(t, dim0 = 0, dim1 = 1)\n  y = linear(u, w)",
    "h = linear(x, w)\n  y = log_softmax(h, axis = 1)",
];

#[test]
fn structure_never_claims_what_sampling_refutes() {
    let mut rng = Rng(0xBA7C);
    let (mut held, mut refuted) = (0, 0);
    for (k, body) in BODIES.iter().enumerate() {
        let w = matrix(&mut rng, 3, 4);
        let text = format!(
            "graph g(x: f32[B, 4]) -> y: f32[B, 3] {{\n  param w: f32[3, 4] = {w}\n  {body}\n}}\n\
             contract by_structure on g {{\n  given x in box(-2.0, 2.0)\n  ensure batch_invariant(y)\n  check by structure\n}}\n\
             contract by_sampling on g {{\n  given x in box(-2.0, 2.0)\n  ensure batch_invariant(y)\n  check by sampling(30, seed = {k})\n}}\n"
        );
        let mut db = RootDatabase::default();
        let file = db.set_source_text(Path::new(&format!("/tmp/batch_{k}.tl")), text.clone());
        let opts = VerifyOptions::default();
        let s = run_contract(&db, contract(&db, file, "by_structure"), &opts);
        let m = run_contract(&db, contract(&db, file, "by_sampling"), &opts);
        let sv = &s.outcome.methods[0].verdict;
        let mv = &m.outcome.methods[0].verdict;
        assert!(
            matches!(sv, Verdict::Holds | Verdict::Unknown { .. }),
            "{text}\n{sv:?}"
        );
        assert!(
            matches!(mv, Verdict::Holds | Verdict::Violated { .. }),
            "{text}\n{mv:?}"
        );
        if *sv == Verdict::Holds {
            assert_eq!(
                *mv,
                Verdict::Holds,
                "structure holds, sampling refutes:\n{text}"
            );
            assert_eq!(s.status, Status::Checked);
            held += 1;
        }
        if let Verdict::Violated { counterexample } = mv {
            assert_eq!(m.status, Status::Falsified);
            assert_eq!(counterexample.confirmed_on, "the f64 reference semantics");
            refuted += 1;
        }
    }
    // Both sides of the check were exercised.
    assert!(held > 0 && refuted > 0, "held {held}, refuted {refuted}");
}

#[test]
fn the_shipped_pair_is_falsified_and_checked() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../spec-examples/bugzoo_batch.tl");
    let mut db = RootDatabase::default();
    let file = db.source(&path);
    db.settle(&[file]);
    let opts = VerifyOptions::default();
    let buggy = contract(&db, file, "batch_softmax_mixes_rows");
    let fixed = contract(&db, file, "rows_independent");
    let runs = [
        run_contract(&db, buggy, &opts),
        run_contract(&db, fixed, &opts),
    ];
    assert_eq!(runs[0].evidence_status, Status::Falsified);
    assert_eq!(runs[1].evidence_status, Status::Checked);
    let outcomes: Vec<_> = runs.iter().map(|r| r.outcome.clone()).collect();
    let l = contract_ledger_with(&db, buggy, &outcomes).unwrap();
    assert_eq!(l.status, Status::Falsified);
    assert_eq!(l.expected, Some(Expectation::Falsified));
    assert_eq!(l.expectation_met, Some(true));
    let l = contract_ledger_with(&db, fixed, &outcomes).unwrap();
    assert_eq!((l.expected, l.expectation_met), (None, None));
}

#[test]
fn an_expectation_the_run_does_not_meet_is_reported_not_hidden() {
    // The buggy contract's text on the fixed graph: it holds, so the expectation fails.
    let text = "graph g(x: f32[B, 2]) -> y: f32[B, 2] {\n  y = softmax(x, axis = -1)\n}\n\
                contract c on g {\n  given x in box(-1.0, 1.0)\n  ensure batch_invariant(y)\n  check by structure\n  expect falsified\n}\n";
    let mut db = RootDatabase::default();
    let file = db.set_source_text(Path::new("/tmp/expect_unmet.tl"), text.to_string());
    let item = contract(&db, file, "c");
    let pending = contract_ledger_with(&db, item, &[]).unwrap();
    assert!(pending.pending);
    assert_eq!(pending.expectation_met, None, "not judged before a run");
    let run = run_contract(&db, item, &VerifyOptions::default());
    let l = contract_ledger_with(&db, item, &[run.outcome]).unwrap();
    assert_eq!(
        l.status,
        Status::Checked,
        "the status stays what the evidence says"
    );
    assert_eq!(l.expectation_met, Some(false));
    assert!(crate::ledger::ledger_text(&l).contains("TL0471"));
}

#[test]
fn expect_takes_one_known_word_once() {
    let codes = |clauses: &str| {
        let text = format!(
            "graph g(x: f32[B, 2]) -> y: f32[B, 2] {{\n  y = relu(x)\n}}\n\
             contract c on g {{\n  given x in box(-1.0, 1.0)\n  ensure batch_invariant(y)\n  check by structure\n{clauses}}}\n"
        );
        let mut db = RootDatabase::default();
        let file = db.set_source_text(Path::new("/tmp/expect_words.tl"), text);
        let a = analyze_contract(&db, contract(&db, file, "c"))
            .clone()
            .unwrap();
        (
            a.expect,
            a.diagnostics.iter().map(|d| d.code).collect::<Vec<_>>(),
        )
    };
    assert_eq!(
        codes("  expect falsified\n"),
        (Some(Expectation::Falsified), vec![])
    );
    assert_eq!(codes("  expect proved\n"), (None, vec![470]));
    assert_eq!(
        codes("  expect falsified\n  expect falsified\n"),
        (Some(Expectation::Falsified), vec![470])
    );
    assert_eq!(codes(""), (None, vec![]));
}

#[test]
fn a_card_names_a_catalog_card_once_and_the_ledger_sets_torchlean_beside_tl() {
    let spec = |clauses: &str| {
        format!(
            "graph g(x: f32[B, 2]) -> y: f32[B, 2] {{\n  y = relu(x)\n}}\n\
             contract c on g {{\n{clauses}  given x in box(-1.0, 1.0)\n  ensure batch_invariant(y)\n  check by structure\n}}\n"
        )
    };
    let analyse = |clauses: &str| {
        let mut db = RootDatabase::default();
        let file = db.set_source_text(Path::new("/tmp/card_words.tl"), spec(clauses));
        let a = analyze_contract(&db, contract(&db, file, "c"))
            .clone()
            .unwrap();
        (
            a.card,
            a.diagnostics.iter().map(|d| d.code).collect::<Vec<_>>(),
        )
    };
    assert_eq!(
        analyse("  card BatchInvariance\n"),
        (Some("BatchInvariance".to_string()), vec![])
    );
    assert_eq!(analyse("  card BatchInvariant\n"), (None, vec![477]));
    assert_eq!(
        analyse("  card BatchInvariance\n  card KVCache\n"),
        (Some("BatchInvariance".to_string()), vec![477])
    );
    // The ledger cites the card's theorem and reports tl's own verdict beside it.
    let mut db = RootDatabase::default();
    let file = db.set_source_text(
        Path::new("/tmp/card_ledger.tl"),
        spec("  card BatchInvariance\n"),
    );
    let item = contract(&db, file, "c");
    let run = run_contract(&db, item, &VerifyOptions::default());
    let l = contract_ledger_with(&db, item, &[run.outcome]).unwrap();
    let card = l.card.as_ref().expect("a card note");
    assert!(card
        .torchlean
        .iter()
        .any(|t| t.id.ends_with("mapBatch_select_eq_single") && t.statement.is_some()));
    assert!(card.tl.ends_with(": checked"), "{}", card.tl);
    assert!(crate::ledger::ledger_text(&l).contains("TorchLean proves"));
}

#[test]
fn indices_in_vocab_holds_exactly_when_the_set_stays_in_the_table() {
    let mut rng = Rng(0x70C3);
    let (mut held, mut refuted) = (0, 0);
    for k in 0..24 {
        let vocab = 2 + (rng.next_f64() * 10.0) as i64;
        let lo = (rng.next_f64() * 4.0 - 2.0).round() as i64;
        let hi = lo + (rng.next_f64() * 14.0) as i64;
        let table = matrix(&mut rng, vocab as usize, 2);
        let text = format!(
            "graph g(ids: i64[B, 3]) -> h: f32[B, 3, 2] {{\n  param t: f32[{vocab}, 2] = {table}\n  h = embedding(ids, t)\n}}\n\
             contract c on g {{\n  given ids in box({lo}, {hi})\n  ensure indices_in_vocab(h)\n  check by structure\n}}\n"
        );
        let mut db = RootDatabase::default();
        let file = db.set_source_text(Path::new(&format!("/tmp/vocab_{k}.tl")), text.clone());
        let run = run_contract(&db, contract(&db, file, "c"), &VerifyOptions::default());
        let inside = lo >= 0 && hi < vocab;
        match &run.outcome.methods[0].verdict {
            Verdict::Holds => {
                assert!(inside, "{text}");
                held += 1;
            }
            Verdict::Violated { counterexample } => {
                assert!(!inside, "{text}");
                let (_, _, ids) = &counterexample.inputs[0];
                assert!(ids.iter().any(|&v| v < 0.0 || v >= vocab as f64), "{text}");
                assert!(
                    ids.iter().all(|&v| v >= lo as f64 && v <= hi as f64),
                    "{text}"
                );
                refuted += 1;
            }
            other => panic!("{text}\n{other:?}"),
        }
    }
    assert!(held > 0 && refuted > 0, "held {held}, refuted {refuted}");
}
