//! Ledger tests: the spec examples pinned as snapshots, and in-memory fixtures (literal params, so
//! nothing is read from disk) for the gaps, boundaries and outcome handling.

use std::path::{Path, PathBuf};

use super::*;
use crate::catalog::Layer;
use crate::db::{Db, RootDatabase, SourceFile};
use crate::items::file_items;
use crate::outcome::{Counterexample, MethodOutcome, Verdict};

fn examples_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../spec-examples")
}

const EXAMPLES: &[&str] = &[
    "mnist_mlp.tl",
    "cuda_deployment.tl",
    "acas_xu_controller.tl",
    "bugzoo_batch.tl",
    "bugzoo_losses.tl",
    "bugzoo_tokenizer.tl",
    "regression_training.tl",
    "residual_block.tl",
    "small_cnn.tl",
    "transformer_encoder.tl",
    "multi_file/model.tl",
];

fn text_of(db: &dyn Db, file: SourceFile) -> String {
    let mut s = String::new();
    for l in file_ledgers(db, file, &[]) {
        s.push_str(&ledger_text(&l));
        s.push('\n');
    }
    for c in file_coverage(db, file) {
        s.push_str(&coverage_text(&c));
    }
    s
}

#[test]
fn spec_example_ledgers() {
    let dir = examples_dir();
    if !dir.join("mnist_mlp.tl").exists() {
        eprintln!("skipped: spec-examples/ not found at {}", dir.display());
        return;
    }
    for name in EXAMPLES {
        let mut db = RootDatabase::default();
        let file = db.load_source(&dir.join(name));
        db.settle(&[file]);
        let snap = name.replace(['/', '.'], "_");
        insta::assert_snapshot!(format!("text_{snap}"), text_of(&db, file));
        let report = TrustReport::new(
            false,
            vec![FileTrust {
                file: name.to_string(),
                errors: 0,
                contracts: file_ledgers(&db, file, &[]),
                graphs: file_coverage(&db, file),
            }],
        );
        insta::assert_json_snapshot!(format!("json_{snap}"), report);
    }
}

const PATH: &str = "/virtual/ledger/main.tl";

fn fixture(text: &str) -> (RootDatabase, SourceFile) {
    let mut db = RootDatabase::default();
    let file = db.set_source_text(Path::new(PATH), text.to_string());
    db.settle(&[file]);
    (db, file)
}

fn contract<'db>(
    db: &'db RootDatabase,
    file: SourceFile,
    name: &str,
) -> crate::items::ItemSource<'db> {
    *file_items(db, file)
        .iter()
        .find(|i| i.name(db).as_deref() == Some(name))
        .unwrap_or_else(|| panic!("no item {name}"))
}

const MLP: &str = r#"tolerance fp32_run = abs 1e-5, rel 1e-4

graph mlp(x: f32[1, 2]) -> y: f32[1, 2] {
  param w1: f32[2, 2] = [[1.0, 0.0], [0.0, 1.0]]
  param w2: f32[2, 2] = [[1.0, -1.0], [0.5, 2.0]]
  h = linear(x, w1)
  a = relu(h)
  y = linear(a, w2)
}

contract bounded on mlp {
  given x in box(-1.0, 1.0)
  ensure y[0, 0] <= 10.0
  check by crown then bab(timeout = 10s)
}
"#;

fn method(name: &str, verdict: Verdict, grants: Status) -> MethodOutcome {
    MethodOutcome {
        method: name.into(),
        verdict,
        grants,
        millis: 1,
        detail: String::new(),
    }
}

fn link_of(l: &Ledger, layer: LinkLayer) -> &Link {
    l.links
        .iter()
        .find(|k| k.layer == layer)
        .unwrap_or_else(|| panic!("no {layer:?} link in {l:#?}"))
}

#[test]
fn a_reals_contract_is_pending_until_verified_then_checked() {
    let (db, file) = fixture(MLP);
    let item = contract(&db, file, "bounded");
    let pending = contract_ledger(&db, item, None).unwrap();
    assert_eq!(
        link_of(&pending, LinkLayer::Semantics).status,
        Status::Proved
    );
    assert!(link_of(&pending, LinkLayer::Method).pending);
    assert!(pending.pending);
    assert_eq!(pending.status, Status::Uncovered);
    // crown and bab are sound over the reals: verified, the contract is at most checked.
    assert_eq!(pending.ceiling, Status::Checked);
    // The float link is reported but not required: the claim is over the reals.
    let float = link_of(&pending, LinkLayer::Float);
    assert!(!float.required);
    assert_eq!(float.status, Status::Uncovered);

    let holds = ContractOutcome {
        contract: "bounded".into(),
        file: file.path(&db).clone(),
        methods: vec![method("crown", Verdict::Holds, Status::Checked)],
        index_maps: Vec::new(),
    };
    let verified = contract_ledger(&db, item, Some(&holds)).unwrap();
    assert!(!verified.pending);
    assert_eq!(verified.status, Status::Checked);

    let unknown = ContractOutcome {
        contract: "bounded".into(),
        file: file.path(&db).clone(),
        methods: vec![
            method(
                "crown",
                Verdict::Unknown {
                    reason: "loose".into(),
                },
                Status::Checked,
            ),
            method("bab", Verdict::Timeout, Status::Checked),
        ],
        index_maps: Vec::new(),
    };
    let undecided = contract_ledger(&db, item, Some(&unknown)).unwrap();
    assert_eq!(undecided.status, Status::Uncovered);
    assert!(link_of(&undecided, LinkLayer::Method)
        .evidence
        .iter()
        .any(|e| e == "bab: timed out"));

    let violated = ContractOutcome {
        contract: "bounded".into(),
        file: file.path(&db).clone(),
        methods: vec![
            method("crown", Verdict::Holds, Status::Checked),
            method(
                "bab",
                Verdict::Violated {
                    counterexample: Counterexample {
                        inputs: vec![],
                        outputs: vec![],
                        confirmed_on: Counterexample::compiled_executor(),
                    },
                },
                Status::Checked,
            ),
        ],
        index_maps: Vec::new(),
    };
    assert_eq!(
        contract_ledger(&db, item, Some(&violated)).unwrap().status,
        Status::Falsified
    );
}

#[test]
fn sampling_evidence_is_tested_never_more() {
    let spec = MLP.replace(
        "check by crown then bab(timeout = 10s)",
        "check by sampling(50)",
    );
    let (db, file) = fixture(&spec);
    let item = contract(&db, file, "bounded");
    // A method outcome that over-claims is capped by what it grants, and sampling grants tested.
    let outcome = ContractOutcome {
        contract: "bounded".into(),
        file: file.path(&db).clone(),
        methods: vec![method("sampling", Verdict::Holds, Status::Tested)],
        index_maps: Vec::new(),
    };
    let l = contract_ledger(&db, item, Some(&outcome)).unwrap();
    assert_eq!(l.status, Status::Tested);
    assert!(link_of(&l, LinkLayer::Method)
        .claim
        .contains("on the compiled f32 executor"));
}

const TRAINING: &str = r#"tolerance grad_check = abs 1e-4, rel 1e-3

graph training(x: f32[2, 2], target: f32[2, 1]) -> loss: f32 {
  param w: f32[1, 2] = [[0.5, -0.5]]
  h = tanh(x)
  y = linear(h, w)
  loss = mse_loss(y, target)
}

contract grads on training {
  given x in box(-1.0, 1.0)
  given target in box(-1.0, 1.0)
  ensure gradient ~= finite_difference within grad_check
  check by sampling(10)
}
"#;

#[test]
fn mse_loss_shows_the_compiled_semantics_gap_at_its_node() {
    let (db, file) = fixture(TRAINING);
    let cov = file_coverage(&db, file).remove(0);
    let (node, answer) = cov
        .in_layer(Layer::CompiledSemantics)
        .find(|(n, _)| n.op == "mse_loss")
        .unwrap();
    assert_eq!(node.node, "loss");
    assert_eq!(
        answer.reason.as_deref(),
        Some("outside execGraphOfIR_semantics_eq (side condition NoMSELoss)")
    );
    // The theorem is about whole graphs: NoMSELoss fails, so no node of this graph gets it.
    let summary = cov.layer(Layer::CompiledSemantics).unwrap();
    assert_eq!((summary.covered, summary.total), (0, 3));
    assert!(summary
        .conditions
        .iter()
        .any(|c| c.condition == "no_mse_loss" && c.outcome == "fails"));
    // Other layers are unaffected by NoMSELoss: tanh and linear have autograd rules.
    let autograd = cov.layer(Layer::Autograd).unwrap();
    assert_eq!(autograd.covered, 2);

    let l = static_ledger(&db, contract(&db, file, "grads"))
        .clone()
        .unwrap();
    let sem = link_of(&l, LinkLayer::Semantics);
    assert_eq!(sem.status, Status::Uncovered);
    // One reason for the whole graph, not the same reason repeated for every node.
    assert!(sem
        .evidence
        .iter()
        .any(|e| e.starts_with("no node is covered")
            && e.contains("no_mse_loss fails (node `loss` is mse_loss)")));
    assert!(!sem.evidence.iter().any(|e| e.contains("`loss` (mse_loss)")));
    let b = &l.boundaries[0];
    assert_eq!(b.kind, BoundaryKind::UnprovedOps);
    assert!(b.what.starts_with("all 3 op nodes of graph "), "{}", b.what);
    assert!(b.what.ends_with(", as no_mse_loss fails"), "{}", b.what);
    assert_eq!(
        b.suggestion.as_deref(),
        Some(
            "assume kernel unproved_op_kernels: \"tl's linear, mse_loss, tanh kernels compute the reference semantics; reviewed by ...\""
        )
    );

    // A kernel assumption turns the gap into a named assumption.
    let assumed = format!(
        "{TRAINING}\nassume kernel tl_kernels: \"tl's kernels compute their reference semantics\"\n"
    )
    .replace(
        "check by sampling(10)",
        "check by sampling(10)\n  rests on tl_kernels",
    );
    let (db, file) = fixture(&assumed);
    let l = static_ledger(&db, contract(&db, file, "grads"))
        .clone()
        .unwrap();
    let sem = link_of(&l, LinkLayer::Semantics);
    assert_eq!(sem.status, Status::Assumed);
    assert_eq!(sem.assumptions, ["tl_kernels"]);
    assert_eq!(l.assumptions[0].links, [LinkLayer::Semantics]);
    assert!(crate::ledger::file_boundary_diagnostics(&db, file).is_empty());
}

#[test]
fn cuda_without_an_assumption_is_an_uncovered_boundary() {
    let spec = format!(
        "{MLP}\ncontract on_gpu on mlp {{\n  execute on cuda\n  ensure bounded within fp32_run\n  check by sampling(10)\n}}\n"
    );
    let (db, file) = fixture(&spec);
    let l = static_ledger(&db, contract(&db, file, "on_gpu"))
        .clone()
        .unwrap();
    let exec = link_of(&l, LinkLayer::Execution);
    assert_eq!(exec.status, Status::Uncovered);
    let b = l
        .boundaries
        .iter()
        .find(|b| b.kind == BoundaryKind::NativeCode)
        .unwrap();
    assert!(b.covered_by.is_empty());
    assert_eq!(b.code, "TL0420");
    assert!(b
        .suggestion
        .as_deref()
        .unwrap()
        .starts_with("assume kernel cuda_kernels: "));
    // The bridge link carries the real-valued contract's ledger.
    let bridge = link_of(&l, LinkLayer::Bridge);
    assert!(bridge.claim.contains("`bounded`"));
    assert!(bridge.pending);
    // TL0420 already reports CUDA during contract analysis; the ledger does not repeat it.
    assert!(file_boundary_diagnostics(&db, file).is_empty());
    let codes: Vec<u16> = crate::check::file_diagnostics(&db, file)
        .iter()
        .map(|d| d.code)
        .collect();
    assert!(codes.contains(&420), "{codes:?}");

    // With the assumption, the execution link is assumed and the bridged result decides the rest.
    let covered = spec.replace(
        "  execute on cuda\n",
        "  execute on cuda\n  rests on sgemm\n",
    ) + "assume kernel sgemm: \"cuBLAS SGEMM is IEEE-754 binary32\"\n";
    let (db, file) = fixture(&covered);
    let item = contract(&db, file, "on_gpu");
    let outcomes = [
        ContractOutcome {
            contract: "bounded".into(),
            file: file.path(&db).clone(),
            methods: vec![method("crown", Verdict::Holds, Status::Checked)],
            index_maps: Vec::new(),
        },
        ContractOutcome {
            contract: "on_gpu".into(),
            file: file.path(&db).clone(),
            methods: vec![method("sampling", Verdict::Holds, Status::Tested)],
            index_maps: Vec::new(),
        },
    ];
    let l = contract_ledger_with(&db, item, &outcomes).unwrap();
    assert_eq!(link_of(&l, LinkLayer::Execution).status, Status::Assumed);
    assert_eq!(link_of(&l, LinkLayer::Bridge).status, Status::Checked);
    assert_eq!(link_of(&l, LinkLayer::Float).status, Status::Tested);
    assert_eq!(l.status, Status::Assumed);
}

#[test]
fn bridge_cycles_are_reported_not_followed() {
    let spec = format!(
        "{MLP}\ncontract a on mlp {{\n  execute on cpu\n  ensure b within fp32_run\n  check by sampling(1)\n}}\ncontract b on mlp {{\n  execute on cpu\n  ensure a within fp32_run\n  check by sampling(1)\n}}\n"
    );
    let (db, file) = fixture(&spec);
    let l = static_ledger(&db, contract(&db, file, "a"))
        .clone()
        .unwrap();
    let bridge = link_of(&l, LinkLayer::Bridge);
    assert_eq!(bridge.status, Status::Uncovered);
    let inner = bridge.evidence.join("\n");
    assert!(inner.contains("bridge cycle: a -> b -> a"), "{inner}");
}

#[test]
fn external_data_and_solver_boundaries_warn_with_the_assume_to_add() {
    let spec = MLP.replace(
        "check by crown then bab(timeout = 10s)",
        "check by certificate(\"cert.json\")",
    ) + "\ncontract rows on mlp {\n  given x in dataset(\"inputs.npy\")\n  ensure y[0, 0] <= 10.0\n  check by sampling(5)\n}\n";
    let (db, file) = fixture(&spec);
    let diags = file_boundary_diagnostics(&db, file);
    let codes: Vec<u16> = diags.iter().map(|d| d.code).collect();
    assert_eq!(codes, [710, 711]);
    assert_eq!(
        diags[1].help.as_deref(),
        Some("declare `assume environment inputs_data: \"inputs.npy is the file the claim is about; reviewed by ...\"` and add `rests on inputs_data`")
    );
    let l = static_ledger(&db, contract(&db, file, "rows"))
        .clone()
        .unwrap();
    assert_eq!(link_of(&l, LinkLayer::Data).status, Status::Uncovered);
    // Every boundary code is documented.
    for code in [710u16, 711, 712] {
        assert!(
            crate::diagnostics::explain(code).is_some(),
            "TL{code} undocumented"
        );
    }
}

#[test]
fn catalog_discharges_a_causal_mask_claim_and_checks_its_side_condition() {
    let spec = r#"graph attn(q: f32[1, 4, 2], k: f32[1, 4, 2]) -> w: f32[1, 4, 4] {
  w = attention_weights(q, k, causal = true)
}

contract masked on attn {
  given q in box(-1.0, 1.0)
  ensure masked_weights_zero(w)
  check by catalog
}
"#;
    let (db, file) = fixture(spec);
    let l = static_ledger(&db, contract(&db, file, "masked"))
        .clone()
        .unwrap();
    let m = link_of(&l, LinkLayer::Method);
    assert!(!m.pending);
    // The theorem is about one [nQ, nK] matrix; tl's op is batched. Its slice-by-slice use is a
    // named side condition tl cannot decide, so the catalog gives assumed, never proved.
    assert_eq!(m.status, Status::Assumed, "{:?}", m.evidence);
    assert!(m.catalog_entries.contains(
        &"NN.Proofs.Models.Attention.hardMaskedSoftmaxSpec_causal_future_zero".to_string()
    ));
    assert!(
        m.assumptions
            .iter()
            .any(|a| a.ends_with("#slicewise_batched_attention")),
        "{:?}",
        m.assumptions
    );
    // Not causal and no mask: the hard-mask side condition fails, so no entry applies.
    let (db, file) = fixture(&spec.replace("causal = true", "causal = false"));
    let l = static_ledger(&db, contract(&db, file, "masked"))
        .clone()
        .unwrap();
    let m = link_of(&l, LinkLayer::Method);
    assert_eq!(m.status, Status::Uncovered);
    assert!(m
        .evidence
        .iter()
        .any(|e| e.contains("causal_or_hard_mask") || e.contains("hard_causal_mask")));
}

#[test]
fn status_composes_along_the_chain() {
    // The weakest required link decides; a link that is not required does not lower it.
    let mk = |status, required| Link {
        layer: LinkLayer::Method,
        claim: String::new(),
        status,
        pending: false,
        pending_grants: None,
        required,
        evidence: vec![],
        assumptions: vec![],
        catalog_entries: vec![],
    };
    let compose =
        |links: &[Link]| Status::compose_all(links.iter().filter(|l| l.required).map(|l| l.status));
    use Status::*;
    assert_eq!(
        compose(&[mk(Proved, true), mk(Checked, true), mk(Uncovered, false)]),
        Checked
    );
    assert_eq!(
        compose(&[mk(Proved, true), mk(Tested, true), mk(Assumed, true)]),
        Assumed
    );
    assert_eq!(compose(&[mk(Falsified, true), mk(Proved, true)]), Falsified);
}

#[test]
fn broken_contracts_and_graphs_give_ledgers_not_panics() {
    for spec in [
        "contract c on nowhere {\n  ensure y <= 1\n}\n",
        "graph g(x: f32[2]) -> y: f32[3] {\n  y = relu(x)\n}\ncontract c on g {\n  given x in box(0.0, 1.0)\n  ensure y[0] <= 1.0\n  check by ibp\n}\n",
        "graph g(x: f32[2]) -> y: f32[2] {\n  param w: f32[2, 2] = load(\"missing.npy\")\n  y = linear(x, w)\n}\ncontract c on g {\n  given x in box(0.0, 1.0)\n  ensure y[0] <= 1.0\n  check by ibp\n}\n",
    ] {
        let (db, file) = fixture(spec);
        let l = static_ledger(&db, contract(&db, file, "c")).clone().unwrap();
        assert_eq!(l.status, Status::Uncovered, "{spec}");
        let _ = file_coverage(&db, file);
        let _ = ledger_text(&l);
        let _ = ledger_markdown(&l);
    }
}

/// A bound that held was computed with the f32 executor's rounding as noise, so it covers the
/// f32 executor too: checked, or assumed under the libm assumption through sigmoid/tanh. A
/// sampled or falsified result gives the float link nothing.
#[test]
fn a_bound_that_held_covers_the_f32_executor() {
    let outcome = |file: SourceFile, db: &RootDatabase, m: MethodOutcome| ContractOutcome {
        contract: "bounded".into(),
        file: file.path(db).clone(),
        methods: vec![m],
        index_maps: Vec::new(),
    };
    let (db, file) = fixture(MLP);
    let item = contract(&db, file, "bounded");
    for name in ["crown", "bab", "bab(timeout = 10s)"] {
        let held = outcome(file, &db, method(name, Verdict::Holds, Status::Checked));
        let l = contract_ledger(&db, item, Some(&held)).unwrap();
        let float = link_of(&l, LinkLayer::Float);
        assert_eq!(float.status, Status::Checked, "{name}: {float:#?}");
        assert!(float.assumptions.is_empty());
    }
    let sampled = outcome(
        file,
        &db,
        method("sampling", Verdict::Holds, Status::Tested),
    );
    let l = contract_ledger(&db, item, Some(&sampled)).unwrap();
    assert_eq!(link_of(&l, LinkLayer::Float).status, Status::Uncovered);
    let unknown = outcome(
        file,
        &db,
        method(
            "crown",
            Verdict::Unknown {
                reason: "loose".into(),
            },
            Status::Checked,
        ),
    );
    let l = contract_ledger(&db, item, Some(&unknown)).unwrap();
    assert_eq!(link_of(&l, LinkLayer::Float).status, Status::Uncovered);

    // tanh, and pow (the f32 kernel calls powf, which bounds read as a square): the op table's
    // `calls_libm` decides, not a list in the ledger.
    for (activation, op) in [("a = tanh(h)", "tanh"), ("a = pow(h, 2.0)", "pow")] {
        let (db, file) = fixture(&MLP.replace("a = relu(h)", activation));
        let item = contract(&db, file, "bounded");
        let held = outcome(file, &db, method("crown", Verdict::Holds, Status::Checked));
        let l = contract_ledger(&db, item, Some(&held)).unwrap();
        let float = link_of(&l, LinkLayer::Float);
        assert_eq!(float.status, Status::Assumed, "{op}: {float:#?}");
        assert_eq!(
            float.assumptions,
            vec!["float.libm_within_4ulp".to_string()]
        );
        assert!(
            float
                .evidence
                .iter()
                .any(|e| e.starts_with(&format!("{op} nodes"))),
            "{:?}",
            float.evidence
        );
        assert!(l
            .assumptions
            .iter()
            .any(|a| a.name == "float.libm_within_4ulp"));
    }
}
