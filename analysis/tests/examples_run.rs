//! Every graph of spec-examples/ lowers to IR, runs in the reference evaluator (f64) and the
//! compiled plan (f32), and the two agree.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use tl_analysis::items::file_items;
use tl_analysis::lower::{lower_graph, SpecPayload};
use tl_analysis::RootDatabase;
use tl_ir::{DType, Dim};
use tl_kernels::Tensor;
use tl_syntax::ItemKeyword;

fn examples() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../spec-examples");
    let mut out = Vec::new();
    let mut stack = vec![root];
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(dir).expect("spec-examples") {
            let p = e.expect("entry").path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "tl") {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

/// A deterministic pseudo-random value in [-1, 1).
fn noise(i: usize) -> f64 {
    let x = (i as u64)
        .wrapping_mul(0x9E37_79B9_7F4A_7C15)
        .rotate_left(17)
        ^ 0xD1B5_4A32_D192_ED03;
    (x >> 11) as f64 / (1u64 << 52) as f64 - 1.0
}

#[test]
fn every_example_graph_runs_and_engines_agree() {
    let mut db = RootDatabase::default();
    let mut ran = 0;
    for path in examples() {
        let file = db.load_source(&path);
        db.settle(&[file]);
        for &item in file_items(&db, file) {
            if item.keyword(&db) != ItemKeyword::Graph {
                continue;
            }
            let name = item.name(&db).clone().unwrap_or_default();
            let lowered = lower_graph(&db, item)
                .as_ref()
                .unwrap_or_else(|e| panic!("{}: {name}: {e}", path.display()));
            let mut inputs = BTreeMap::new();
            for &id in &lowered.graph.inputs {
                let node = &lowered.graph.nodes[id];
                let shape: Vec<usize> = node
                    .shape
                    .0
                    .iter()
                    .map(|d| match d {
                        Dim::Known(n) => *n as usize,
                        Dim::Sym(_) => 2,
                    })
                    .collect();
                let n: usize = shape.iter().product();
                // Labels get some ignored entries (-100); token ids (embedding indices) must
                // stay in the table.
                let labels = lowered.graph.nodes.iter().any(|m| {
                    matches!(
                        m.kind,
                        tl_ir::NodeKind::Op {
                            op: tl_ir::Op::CrossEntropy,
                            ..
                        }
                    ) && m.parents.get(1) == Some(&id)
                });
                let t = if node.dtype == DType::I64 {
                    Tensor::from_i64(
                        &shape,
                        (0..n)
                            .map(|i| {
                                if labels && i % 3 == 2 {
                                    -100
                                } else {
                                    (i % 2) as i64
                                }
                            })
                            .collect(),
                    )
                } else {
                    Tensor::from_f64(&shape, (0..n).map(noise).collect())
                };
                inputs.insert(node.name.clone(), t.expect("input tensor"));
            }
            let payload = SpecPayload::new(&lowered.params);
            let reference = tl_kernels::exec::denote(&lowered.graph, &payload, &inputs)
                .unwrap_or_else(|e| panic!("{name}: denote: {e}"));
            let plan = tl_kernels::exec::compile(&lowered.graph, &payload)
                .unwrap_or_else(|e| panic!("{name}: compile: {e}"));
            let compiled = plan
                .run(&inputs)
                .unwrap_or_else(|e| panic!("{name}: run: {e}"));
            for (out, want) in reference.outputs() {
                let got = compiled
                    .get(out)
                    .unwrap_or_else(|| panic!("{name}: compiled plan lacks output {out}"));
                let (w, g) = (want.to_f64(), got.to_f64());
                assert_eq!(w.shape(), g.shape(), "{name}.{out}");
                for (a, b) in w.iter().zip(g.iter()) {
                    assert!(a.is_finite(), "{name}.{out}: reference produced {a}");
                    assert!(
                        (a - b).abs() <= 1e-4 * (1.0 + a.abs()),
                        "{name}.{out}: reference {a} vs compiled {b}"
                    );
                }
            }
            ran += 1;
        }
    }
    assert!(ran >= 8, "expected every example graph to run, ran {ran}");
}
