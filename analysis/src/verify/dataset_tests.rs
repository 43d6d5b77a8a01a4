//! `dataset("x.npy")` sets split into rows the same way for every sampled claim kind (issue #14):
//! a row is one example of the input's fixed extents, and a batch whose symbolic extents are set
//! to k is filled with k rows. Before, range contracts split 40 values into rows of [1, 8] and
//! equivalence and gradient contracts into rows of [4, 8] (TL0802 "40 values do not split").

use std::path::{Path, PathBuf};

use super::*;
use crate::items::file_items;
use crate::RootDatabase;
use tl_bounds::attack::Rng;
use tl_syntax::ItemKeyword;

/// A little-endian f32 .npy of `shape` (format 1.0), written by hand so the test depends on
/// nothing but the format.
fn write_npy(path: &Path, shape: &[usize], data: &[f32]) {
    let dims: Vec<String> = shape.iter().map(|d| d.to_string()).collect();
    let shape_text = match dims.len() {
        1 => format!("({},)", dims[0]),
        _ => format!("({})", dims.join(", ")),
    };
    let mut header = format!("{{'descr': '<f4', 'fortran_order': False, 'shape': {shape_text}, }}");
    while (10 + header.len() + 1) % 64 != 0 {
        header.push(' ');
    }
    header.push('\n');
    let mut bytes = b"\x93NUMPY\x01\x00".to_vec();
    bytes.extend_from_slice(&(header.len() as u16).to_le_bytes());
    bytes.extend_from_slice(header.as_bytes());
    for v in data {
        bytes.extend_from_slice(&v.to_le_bytes());
    }
    std::fs::write(path, bytes).unwrap();
}

fn scratch(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("tl-dataset-{tag}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn run(db: &RootDatabase, file: crate::SourceFile, name: &str) -> ContractRun {
    let item = file_items(db, file)
        .iter()
        .copied()
        .find(|i| i.keyword(db) == ItemKeyword::Contract && i.name(db).as_deref() == Some(name))
        .unwrap_or_else(|| panic!("no contract {name}"));
    run_contract(db, item, &VerifyOptions::default())
}

fn describe(run: &ContractRun) -> String {
    run.outcome
        .methods
        .iter()
        .map(|m| format!("{}: {:?} {}", m.method, m.verdict, m.detail))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Random weights drawn at test time, as a literal.
fn literal(rng: &mut Rng, rows: usize, cols: usize) -> String {
    let row = |rng: &mut Rng| {
        let v: Vec<String> = (0..cols)
            .map(|_| format!("{:.4}", rng.next_f64() * 2.0 - 1.0))
            .collect();
        format!("[{}]", v.join(", "))
    };
    let all: Vec<String> = (0..rows).map(|_| row(rng)).collect();
    format!("[{}]", all.join(", "))
}

fn spec(rng: &mut Rng) -> String {
    let w = literal(rng, 2, 8);
    let b = literal(rng, 1, 2);
    let b = &b[1..b.len() - 1];
    format!(
        r#"tolerance loose = abs 1e-3, rel 1e-3

graph net(x: f32[N, 8]) -> y: f32[N, 2] {{
  param w: f32[2, 8] = {w}
  param b: f32[2] = {b}
  y = tanh(linear(x, w, b))
}}

graph loss_of(x: f32[N, 8]) -> loss: f32 {{
  param w: f32[2, 8] = {w}
  param b: f32[2] = {b}
  loss = sum(tanh(linear(x, w, b)))
}}

assume environment rows_data: "x.npy is the file the claim is about"
assume kernel kernels: "tl's kernels compute the reference semantics"

contract in_range on net {{
  rests on rows_data
  given x in dataset("x.npy")
  ensure all(y <= 1.0) && all(y >= -1.0)
  check by sampling(7)
}}

contract same on net {{
  rests on rows_data
  given x in dataset("x.npy")
  ensure compiled ~= reference within loose
  check by sampling(7)
}}

contract grad on loss_of {{
  rests on rows_data, kernels
  given x in dataset("x.npy")
  ensure gradient ~= finite_difference within loose
  check by sampling(3)
}}
"#
    )
}

#[test]
fn every_claim_kind_splits_a_dataset_into_the_same_rows() {
    let mut rng = Rng(0x5EED_DA7A ^ std::process::id() as u64);
    let dir = scratch("rows");
    // 5 rows of 8 features = 40 values: not a multiple of 4 * 8.
    let data: Vec<f32> = (0..40).map(|_| rng.next_f64() as f32 * 2.0 - 1.0).collect();
    write_npy(&dir.join("x.npy"), &[5, 8], &data);
    let path = dir.join("rows.tl");
    let text = spec(&mut rng);
    std::fs::write(&path, &text).unwrap();
    let mut db = RootDatabase::default();
    let file = db.set_source_text(&path, text);
    db.settle(&[file]);
    for name in ["in_range", "same", "grad"] {
        let r = run(&db, file, name);
        let all = describe(&r);
        assert!(!all.contains("TL0802"), "{name}: {all}");
        assert!(!all.contains("do not split"), "{name}: {all}");
        // Sampling ran on the rows and decided (the status itself is the ledger's: the data
        // assumption makes it `assumed`).
        let last = r.outcome.methods.last().expect("a method ran");
        assert_eq!(last.method, "sampling", "{name}: {all}");
        assert_eq!(last.verdict, Verdict::Holds, "{name}: {all}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_batch_is_filled_with_consecutive_rows_cycling_through_the_file() {
    let dir = scratch("batch");
    let data: Vec<f32> = (0..40).map(|v| v as f32).collect();
    let file = dir.join("x.npy");
    write_npy(&file, &[5, 8], &data);
    let set = sets::SetSpec::Dataset { path: file.clone() };
    let shape = tl_ir::Shape(vec![tl_ir::Dim::Sym("N".into()), tl_ir::Dim::Known(8)]);
    // One row per point.
    let one = set.points(&shape, 1, 6, 0).unwrap();
    assert_eq!(one.len(), 6);
    assert_eq!(one[0], (0..8).map(f64::from).collect::<Vec<_>>());
    assert_eq!(one[5], one[0], "six points cycle through five rows");
    // Batches of four rows: the first takes rows 0..4, the second 4, 0, 1, 2.
    let four = set.points(&shape, 4, 2, 0).unwrap();
    assert_eq!(four[0], (0..32).map(f64::from).collect::<Vec<_>>());
    let second: Vec<f64> = (32..40).chain(0..24).map(f64::from).collect();
    assert_eq!(four[1], second);
    // A symbolic extent that is not leading: each position along it is its own row.
    let inner = tl_ir::Shape(vec![
        tl_ir::Dim::Known(1),
        tl_ir::Dim::Sym("T".into()),
        tl_ir::Dim::Known(8),
    ]);
    let seq = set.points(&inner, 2, 1, 0).unwrap();
    assert_eq!(seq[0], (0..16).map(f64::from).collect::<Vec<_>>());
    // 40 values never fit rows of 16: a coded input failure, not a panic.
    let wide = tl_ir::Shape(vec![tl_ir::Dim::Sym("N".into()), tl_ir::Dim::Known(16)]);
    let err = set.points(&wide, 1, 1, 0).unwrap_err();
    assert_eq!(err.code, "TL0802");
    assert!(
        err.message.contains("do not split into rows of shape [16]"),
        "{}",
        err.message
    );
    let _ = std::fs::remove_dir_all(&dir);
}
