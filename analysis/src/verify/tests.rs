//! Runs contracts end to end through the database: the shipped examples and small inline specs
//! (weights as literals, so nothing depends on files).

use std::path::{Path, PathBuf};

use super::*;
use crate::items::file_items;
use crate::RootDatabase;
use tl_syntax::ItemKeyword;

fn examples() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../spec-examples")
}

/// Runs contract `name` of the spec at `path` (with the given text, or the file on disk).
fn run_named(path: &Path, text: Option<&str>, name: &str, opts: &VerifyOptions) -> ContractRun {
    let mut db = RootDatabase::default();
    let file = match text {
        Some(t) => db.set_source_text(path, t.to_string()),
        None => db.load_source(path),
    };
    db.settle(&[file]);
    let item = file_items(&db, file)
        .iter()
        .copied()
        .find(|i| i.keyword(&db) == ItemKeyword::Contract && i.name(&db).as_deref() == Some(name))
        .unwrap_or_else(|| panic!("no contract {name}"));
    run_contract(&db, item, opts)
}

fn example(file: &str, name: &str) -> ContractRun {
    run_named(
        &examples().join(file),
        None,
        name,
        &VerifyOptions::default(),
    )
}

fn verdicts(run: &ContractRun) -> Vec<(String, String)> {
    run.outcome
        .methods
        .iter()
        .map(|m| {
            let v = match &m.verdict {
                Verdict::Holds => "holds".to_string(),
                Verdict::Violated { .. } => "violated".into(),
                Verdict::Unknown { reason } => format!("unknown: {reason}"),
                Verdict::Timeout => "timeout".into(),
                Verdict::Error { code, message } => format!("error {code}: {message}"),
            };
            (m.method.clone(), v)
        })
        .collect()
}

#[test]
fn robust_digit_is_checked_by_bounds() {
    let run = example("mnist_mlp.tl", "robust_digit_7");
    assert_eq!(run.status, Status::Checked, "{:?}", verdicts(&run));
    let last = run.deciding_method().unwrap();
    assert!(last.detail.contains("f32"), "{}", last.detail);
}

#[test]
fn compiled_matches_carries_the_derived_float_bound() {
    let run = example("mnist_mlp.tl", "compiled_matches");
    let detail = &run.outcome.methods[0].detail;
    println!("compiled_matches detail: {detail}");
    assert!(detail.contains("derived float bound"), "{detail}");
    match run.status {
        Status::Checked => assert!(detail.contains("fits fp32_run"), "{detail}"),
        Status::Tested => {
            assert!(detail.contains("worst"), "{detail}");
            assert!(detail.contains("exceeds fp32_run by a factor"), "{detail}");
        }
        other => panic!("{other:?}: {:?}", verdicts(&run)),
    }
}

const FLOAT: &str = r#"
tolerance loose = abs 1e-4
tolerance tight = abs 1e-9

graph net(x: f32[1, 3]) -> y: f32[1, 2] {
  param w: f32[2, 3] = [[0.5, -0.25, 0.125], [1.5, 2.0, -1.0]]
  param b: f32[2] = [0.1, -0.2]
  h = relu(x)
  y = linear(h, w, b)
}
contract fits on net {
  given x in box(-1.0, 1.0)
  ensure compiled ~= reference within loose
  check by sampling(20, seed = 0)
}
contract too_tight on net {
  given x in box(-1.0, 1.0)
  ensure compiled ~= reference within tight
  check by sampling(20, seed = 0)
}
contract with_tanh on tanh_net {
  given x in box(-1.0, 1.0)
  ensure compiled ~= reference within loose
  check by sampling(20, seed = 0)
}
graph tanh_net(x: f32[1, 3]) -> y: f32[1, 3] {
  y = tanh(x)
}
"#;

#[test]
fn equivalence_is_checked_when_the_derived_bound_fits_and_tested_otherwise() {
    let path = examples().join("float_inline.tl");
    let opts = VerifyOptions::default();
    let run = run_named(&path, Some(FLOAT), "fits", &opts);
    assert_eq!(run.status, Status::Checked, "{:?}", verdicts(&run));
    let detail = &run.outcome.methods[0].detail;
    assert!(detail.contains("fits loose"), "{detail}");
    assert!(detail.contains("sampling not needed"), "{detail}");
    // A tolerance below the derived bound: sampling decides (here it finds a sample beyond
    // 1e-9: falsified), and the detail says by how much the derived bound exceeded it.
    let run = run_named(&path, Some(FLOAT), "too_tight", &opts);
    assert!(
        matches!(run.evidence_status, Status::Tested | Status::Falsified),
        "{:?}",
        verdicts(&run)
    );
    let detail = &run.outcome.methods[0].detail;
    assert!(detail.contains("exceeds tight by a factor"), "{detail}");
    // tanh rests on the libm assumption the spec does not name: tested, and said so.
    let run = run_named(&path, Some(FLOAT), "with_tanh", &opts);
    assert_eq!(run.evidence_status, Status::Tested, "{:?}", verdicts(&run));
    let detail = &run.outcome.methods[0].detail;
    assert!(detail.contains("float.libm_within_4ulp"), "{detail}");
}

#[test]
fn causal_mask_catalog_needs_the_slicewise_assumption_so_sampling_decides() {
    let run = example("transformer_encoder.tl", "causal_mask_exact");
    // The hard-mask theorems are for one score matrix; the example's attention is batched, and
    // the slice-by-slice use is not mechanical: the catalog does not decide, sampling does.
    assert_eq!(run.evidence_status, Status::Tested, "{:?}", verdicts(&run));
    let catalog = &run.outcome.methods[0];
    assert!(
        catalog.detail.contains("slicewise_batched_attention")
            || format!("{:?}", catalog.verdict).contains("slicewise_batched_attention"),
        "{:?}",
        verdicts(&run)
    );
    assert_eq!(
        run.outcome.methods.len(),
        2,
        "sampling runs after the catalog"
    );
    // The example rests on an assumption about the attention and gelu kernels.
    assert_eq!(run.status, Status::Assumed);
}

#[test]
fn ignored_labels_is_proved_and_sampling_agrees() {
    let run = example("bugzoo_losses.tl", "ignored_labels_free");
    assert_eq!(run.evidence_status, Status::Proved, "{:?}", verdicts(&run));
    assert_eq!(
        run.status,
        Status::Assumed,
        "rests on the cross_entropy kernel assumption"
    );
    // Sampling alone on the same graph also holds.
    let text = std::fs::read_to_string(examples().join("bugzoo_losses.tl"))
        .unwrap()
        .replace(
            "check by catalog then sampling(200, seed = 5)",
            "check by sampling(50, seed = 5)",
        );
    let run = run_named(
        &examples().join("bugzoo_losses.tl"),
        Some(&text),
        "ignored_labels_free",
        &VerifyOptions::default(),
    );
    assert_eq!(run.evidence_status, Status::Tested, "{:?}", verdicts(&run));
}

#[test]
fn vnnlib_and_box_properties_of_the_controller_are_decided() {
    for name in ["coc_bounded", "coc_vnnlib"] {
        let run = example("acas_xu_controller.tl", name);
        assert!(
            matches!(run.evidence_status, Status::Checked | Status::Falsified),
            "{name}: {:?}",
            verdicts(&run)
        );
    }
}

#[test]
fn cuda_bridge_carries_over_at_most_tested_and_rests_on_assumptions() {
    let run = example("cuda_deployment.tl", "robust_digit_7_on_gpu");
    assert_eq!(run.evidence_status, Status::Tested, "{:?}", verdicts(&run));
    assert_eq!(run.status, Status::Assumed);
    assert!(run.outcome.methods[0]
        .detail
        .contains("CUDA execution was NOT checked"));
}

const TINY: &str = r#"
tolerance t = abs 1e-6
graph tiny(x: f32[1, 2]) -> y: f32[1, 2] {
  param w: f32[2, 2] = [[1.0, 0.0], [0.0, -1.0]]
  y = linear(x, w)
}
contract pos on tiny {
  given x in box(0.0, 1.0)
  ensure y[0, 1] >= 0.5
  check by crown then bab(timeout = 5s)
}
contract pos_sampled on tiny {
  given x in box(0.0, 1.0)
  ensure y[0, 1] >= 0.5
  check by sampling(10, seed = 1)
}
contract bounded on tiny {
  given x in linf_ball([[0.5, 0.5]], eps = 0.1)
  ensure all(y <= 1.0)
  check by ibp
}
contract loose on tiny {
  given x in box(0.0, 1.0)
  ensure y[0, 0] <= 0.9
  check by ibp
}
"#;

#[test]
fn falsified_claims_carry_a_confirmed_counterexample() {
    let path = Path::new("/tmp/tl-verify-tests/tiny.tl");
    for name in ["pos", "pos_sampled"] {
        let run = run_named(path, Some(TINY), name, &VerifyOptions::default());
        assert_eq!(
            run.status,
            Status::Falsified,
            "{name}: {:?}",
            verdicts(&run)
        );
        let Some(Verdict::Violated { counterexample }) =
            run.outcome.methods.last().map(|m| &m.verdict)
        else {
            panic!("no counterexample");
        };
        // y[0, 1] = -x[1] < 0.5 for every x in the box: the output shows it.
        assert!(counterexample.outputs[0].2[1] < 0.5);
    }
    let run = run_named(path, Some(TINY), "bounded", &VerifyOptions::default());
    assert_eq!(run.status, Status::Checked, "{:?}", verdicts(&run));
    // IBP alone never reports a violation: a real one (x[0] = 1 > 0.9) is only "unknown".
    let run = run_named(path, Some(TINY), "loose", &VerifyOptions::default());
    assert_eq!(run.status, Status::Uncovered);
    assert!(matches!(
        run.outcome.methods[0].verdict,
        Verdict::Unknown { .. }
    ));
}

#[test]
fn cache_keys_change_with_the_contract_and_the_options() {
    let path = Path::new("/tmp/tl-verify-tests/keys.tl");
    let a = run_named(path, Some(TINY), "bounded", &VerifyOptions::default());
    let b = run_named(path, Some(TINY), "bounded", &VerifyOptions::default());
    assert_eq!(a.cache_key, b.cache_key);
    let edited = TINY.replace("eps = 0.1", "eps = 0.2");
    let c = run_named(path, Some(&edited), "bounded", &VerifyOptions::default());
    assert_ne!(a.cache_key, c.cache_key);
    let opts = VerifyOptions {
        timeout: Some(Duration::from_secs(1)),
        ..VerifyOptions::default()
    };
    let d = run_named(path, Some(TINY), "bounded", &opts);
    // The time limit is not in the key: the cache stores it with a run that timed out.
    assert_eq!(a.cache_key, d.cache_key);
    let dir = std::env::temp_dir().join(format!("tl-cache-test-{}", std::process::id()));
    let cache = cache::ResultCache::new(&dir);
    assert!(cache.get(&a.cache_key).is_none());
    cache.put(&a).unwrap();
    let back = cache.get(&a.cache_key).unwrap();
    assert!(back.cached);
    assert_eq!(back.outcome, a.outcome);
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn tolerance_allows_abs_rel_and_ulp() {
    let t = Tolerance {
        name: "t".into(),
        abs: 1e-6,
        rel: 1e-3,
        ulp: None,
    };
    assert_eq!(t.allowed(2.0), 1e-6 + 2e-3);
    let u = Tolerance {
        ulp: Some(4.0),
        abs: 0.0,
        rel: 0.0,
        ..t
    };
    assert_eq!(u.allowed(1.0), 4.0 * f32::EPSILON as f64);
}

#[test]
fn cache_keys_name_the_build_not_only_the_version() {
    let id = super::build_identity();
    let version = env!("CARGO_PKG_VERSION");
    // The test binary exists on disk, so its size and mtime are part of the identity.
    assert!(id.starts_with(&format!("{version}+")), "{id}");
    let exe_len = std::fs::metadata(std::env::current_exe().unwrap())
        .unwrap()
        .len();
    assert!(
        id.contains(&format!("+{exe_len}-")),
        "{id} lacks the size {exe_len}"
    );
    assert_eq!(id, super::build_identity(), "stable within one process");
}

#[test]
fn payload_digests_are_remembered_until_the_file_changes() {
    let dir = std::env::temp_dir().join(format!("tl-digest-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("w.bin");
    let digest = |p: &Path| super::content_digest(p, &std::fs::metadata(p).unwrap()).unwrap();
    std::fs::write(&path, b"first contents").unwrap();
    let first = digest(&path);
    assert_eq!(first, digest(&path));
    let expected: [u8; 32] = Sha256::digest(b"first contents").into();
    assert_eq!(first, expected, "the digest is the sha256 of the bytes");
    // Same size, new bytes, a later mtime: re-read.
    std::fs::write(&path, b"other contents").unwrap();
    let later = std::time::SystemTime::now() + std::time::Duration::from_secs(5);
    std::fs::File::options()
        .write(true)
        .open(&path)
        .unwrap()
        .set_modified(later)
        .unwrap();
    let second = digest(&path);
    assert_ne!(first, second);
    assert_eq!(second, <[u8; 32]>::from(Sha256::digest(b"other contents")));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn gradient_contract_is_tested_against_finite_differences() {
    let run = example("regression_training.tl", "loss_gradient");
    assert_eq!(run.evidence_status, Status::Tested, "{:?}", verdicts(&run));
    // The contract rests on the kernel assumption.
    assert_eq!(run.status, Status::Assumed);
    let detail = &run.outcome.methods[0].detail;
    // x [4, 4] + target [4, 1] + 49 weights: few enough to compare every coordinate.
    assert!(detail.contains("on all 69 coordinates"), "{detail}");
    assert!(detail.contains("f64 reference semantics"), "{detail}");
    assert!(detail.contains("sampled, not proved"), "{detail}");
}

const GRADIENTS: &str = r#"
tolerance g = abs 1e-5, rel 1e-4

graph kink(x: f32[1, 3]) -> loss: f32 {
  h = relu(x)
  loss = sum(h)
}
contract at_the_kink on kink {
  given x in box(0.0, 0.0)
  ensure gradient ~= finite_difference within g
  check by sampling(3, seed = 1)
}
contract off_the_kink on kink {
  given x in box(0.5, 1.0)
  ensure gradient ~= finite_difference within g
  check by sampling(3, seed = 1)
}

graph wide(x: f32[1, 300]) -> y: f32[1, 300] {
  y = tanh(x)
}
contract wide_gradient on wide {
  given x in box(-2.0, 2.0)
  ensure gradient ~= finite_difference within g
  check by sampling(2, seed = 4)
}

graph logs(x: f32[1, 2]) -> loss: f32 {
  l = log(x)
  loss = sum(l)
}
contract outside_the_domain on logs {
  given x in box(-1.0, -0.5)
  ensure gradient ~= finite_difference within g
  check by sampling(2, seed = 1)
}

graph attn(q: f32[1, 2, 3]) -> loss: f32 {
  a = scaled_dot_product_attention(q, q, q)
  loss = sum(a)
}
contract through_attention on attn {
  given q in box(-1.0, 1.0)
  ensure gradient ~= finite_difference within g
  check by sampling(2, seed = 1)
}

graph pool(x: f32[1, 1, 4, 4]) -> loss: f32 {
  p = max_pool2d(x, kernel_size = 2)
  t = tanh(p)
  loss = sum(t)
}
contract pool_gradient on pool {
  given x in box(0.0, 1.0)
  ensure gradient ~= finite_difference within g
  check by sampling(4, seed = 3)
}

graph classes(x: f32[1, 3]) -> k: i64[1] {
  k = argmax(x, axis = 1)
}
contract integer_output on classes {
  given x in box(-1.0, 1.0)
  ensure gradient ~= finite_difference within g
  check by sampling(2, seed = 1)
}
"#;

fn gradient_run(name: &str) -> ContractRun {
    let path = Path::new("/tmp/tl-verify-tests/gradients.tl");
    run_named(path, Some(GRADIENTS), name, &VerifyOptions::default())
}

#[test]
fn a_gradient_at_a_relu_kink_is_not_a_pass_and_says_why() {
    // Every point of box(0, 0) is relu's kink: the gradient is undefined there, so the check
    // skips every point and answers unknown, naming the node (not falsified: autograd's relu'(0)
    // = 0 is a convention, and the central difference straddles the kink).
    let run = gradient_run("at_the_kink");
    assert_eq!(run.status, Status::Uncovered, "{:?}", verdicts(&run));
    assert!(
        matches!(
            &run.outcome.methods[0].verdict,
            Verdict::Unknown { reason } if reason.contains("lies at a kink")
                && reason.contains("node `h` (relu): 3 element(s) at 0")
                && reason.contains("not a pass")
        ),
        "{:?}",
        verdicts(&run)
    );
    let run = gradient_run("off_the_kink");
    assert_eq!(run.status, Status::Tested, "{:?}", verdicts(&run));
}

#[test]
fn a_max_pool_gradient_skips_the_tied_corners_of_its_box() {
    // The box's corners are constant images: every pooling window ties. The check skips them
    // (and says so) and still checks `samples` differentiable points.
    let run = gradient_run("pool_gradient");
    assert_eq!(run.status, Status::Tested, "{:?}", verdicts(&run));
    let detail = &run.outcome.methods[0].detail;
    assert!(detail.starts_with("4 samples"), "{detail}");
    assert!(
        detail.contains("skipped 2 point(s) at a kink")
            && detail.contains("node `p` (max_pool2d): 4 window(s) whose maximum ties"),
        "{detail}"
    );
}

#[test]
fn large_gradient_problems_check_a_subset_and_directions() {
    let run = gradient_run("wide_gradient");
    assert_eq!(run.status, Status::Tested, "{:?}", verdicts(&run));
    let detail = &run.outcome.methods[0].detail;
    assert!(detail.contains("64 of 300 coordinates"), "{detail}");
    assert!(
        detail.contains("4 random directional derivatives"),
        "{detail}"
    );
    assert!(
        detail.contains("`y` has 300 elements: the gradient of their sum"),
        "{detail}"
    );
}

#[test]
fn non_finite_and_non_float_gradients_never_pass() {
    let run = gradient_run("outside_the_domain");
    assert_eq!(run.status, Status::Uncovered, "{:?}", verdicts(&run));
    assert!(matches!(
        &run.outcome.methods[0].verdict,
        Verdict::Unknown { reason } if reason.contains("NaN") && reason.contains("not a pass")
    ));
    let run = gradient_run("integer_output");
    assert_eq!(run.status, Status::Uncovered, "{:?}", verdicts(&run));
    assert!(
        matches!(
            &run.outcome.methods[0].verdict,
            Verdict::Error { code, message } if code == "TL0805" && message.contains("TL0561")
        ),
        "{:?}",
        verdicts(&run)
    );
}

#[test]
fn a_gradient_through_attention_is_tested() {
    let run = gradient_run("through_attention");
    assert_eq!(run.evidence_status, Status::Tested, "{:?}", verdicts(&run));
    let detail = &run.outcome.methods[0].detail;
    assert!(detail.contains("on all 6 coordinates"), "{detail}");
}

#[test]
fn a_cancelled_run_stops_sampling_and_gradient_checks_before_the_next_sample() {
    let opts = VerifyOptions::default();
    opts.cancel.store(true, std::sync::atomic::Ordering::SeqCst);
    for (file, name) in [
        ("mnist_mlp.tl", "compiled_matches"),
        ("regression_training.tl", "loss_gradient"),
    ] {
        let run = run_named(&examples().join(file), None, name, &opts);
        let v = verdicts(&run);
        assert!(
            v.iter()
                .any(|(_, v)| v.starts_with("unknown: stopped after 0 of")
                    && v.ends_with("the run was cancelled")),
            "{file}::{name}: {v:?}"
        );
        assert_eq!(run.evidence_status, Status::Uncovered, "{file}::{name}");
    }
}

/// The adjoint law between tl's forward and reverse modes on every spec-example graph a contract
/// names, at a point drawn from the contract's own input sets, for random directions through
/// every float input and param: a rule that breaks it fails here, naming the graph and output.
#[test]
fn the_adjoint_law_holds_on_every_spec_example_graph() {
    let mut files: Vec<PathBuf> = std::fs::read_dir(examples())
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "tl"))
        .collect();
    files.sort();
    let opts = VerifyOptions::default();
    let mut done = std::collections::BTreeSet::new();
    let mut failures = Vec::new();
    for path in &files {
        let mut db = RootDatabase::default();
        let f = db.load_source(path);
        db.settle(&[f]);
        for item in file_items(&db, f).iter().copied() {
            if item.keyword(&db) != ItemKeyword::Contract {
                continue;
            }
            let p = prepare(&db, item, &opts);
            let (Ok(model), Some(claim)) = (&p.model, &p.claim) else {
                continue;
            };
            if !done.insert(model.graph.name.clone()) {
                continue;
            }
            let cx = Cx {
                p: &p,
                opts: &opts,
                model,
                claim,
            };
            let draws =
                sampling::draw(&cx, model, 1, 7, sampling::STRUCTURE_SIZE).unwrap_or_else(|f| {
                    // An input without a `given` set: floats in [-1, 1], integers (labels,
                    // ids) 0, which every class count admits.
                    println!(
                        "{}: {} ({}): a point of my own",
                        path.display(),
                        model.graph.name,
                        f.message
                    );
                    let mut rng = tl_bounds::attack::Rng(5);
                    let point = model
                        .inputs()
                        .into_iter()
                        .map(|(id, name)| {
                            let node = &model.graph.nodes[id];
                            let shape =
                                model::concrete_shape(&node.shape, sampling::STRUCTURE_SIZE);
                            let n: usize = shape.iter().product();
                            let t = if node.dtype.is_integer() {
                                tl_kernels::Tensor::from_i64(&shape, vec![0; n])
                            } else {
                                tl_kernels::Tensor::from_f64(
                                    &shape,
                                    (0..n).map(|_| 2.0 * rng.next_f64() - 1.0).collect(),
                                )
                            };
                            (name, t.unwrap())
                        })
                        .collect();
                    vec![point]
                });
            match adjoint::testing::adjoint_at(model, &draws[0], 11) {
                Ok(checks) => {
                    for (output, c) in checks {
                        println!(
                            "{}: {output}: <Ju,v> {:e}, <u,J^T v> {:e}, error {:e}, budget {:e}",
                            model.graph.name,
                            c.forward,
                            c.reverse,
                            c.error(),
                            c.budget
                        );
                        if !c.holds() {
                            failures.push(format!("{} {output}: {c:?}", model.graph.name));
                        }
                    }
                }
                Err(e) => println!("{}: not differentiable: {e}", model.graph.name),
            }
        }
    }
    println!("graphs: {done:?}");
    assert!(done.len() >= 6, "{done:?}");
    assert!(failures.is_empty(), "{failures:#?}");
}

const JACOBIANS: &str = r#"
graph net(x: f32[1, 3]) -> y: f32[1, 2] {
  param w: f32[2, 3] = [[0.5, -0.25, 0.125], [1.5, 2.0, -1.0]]
  param b: f32[2] = [0.1, -0.2]
  h = relu(x)
  y = linear(h, w, b)
}
contract lipschitz_proved on net {
  given x in box(-1.0, 1.0)
  ensure lipschitz(y, x, norm = "linf") <= 4.6
  check by ibp
}
contract lipschitz_false on net {
  given x in box(-1.0, 1.0)
  ensure lipschitz(y, x) <= 4.0
  check by ibp
}
contract lipschitz_at_the_edge on net {
  given x in box(-1.0, 1.0)
  ensure lipschitz(y, x) <= 4.5
  check by ibp
}
contract lipschitz_sampled on net {
  given x in box(-1.0, 1.0)
  ensure lipschitz(y, x) <= 4.6
  check by sampling(20, seed = 1)
}
contract l1_lipschitz on net {
  given x in box(-1.0, 1.0)
  ensure lipschitz(y, x, norm = "l1") <= 2.3
  check by ibp
}
contract monotone on net {
  given x in box(-1.0, 1.0)
  ensure d(y[0, 1]) / d(x[0, 1]) >= 0
  check by ibp
}
contract not_monotone on net {
  given x in box(-1.0, 1.0)
  ensure d(y[0, 0]) / d(x[0, 1]) >= 0
  check by ibp
}
contract monotone_at_the_kink on net {
  given x in box(0.0, 0.0)
  ensure d(y[0, 1]) / d(x[0, 1]) >= 0
  check by sampling(4, seed = 1)
}
graph dead(x: f32[1, 2]) -> y: f32[1, 1] {
  param w: f32[1, 2] = [[1.0, 0.0]]
  y = matmul(x, transpose(w))
}
contract strict_slope_of_a_dead_input on dead {
  given x in box(-1.0, 1.0)
  ensure d(y[0, 0]) / d(x[0, 1]) > 0
  check by sampling(8, seed = 1)
}
graph soft(x: f32[1, 3]) -> y: f32[1, 3] {
  y = softmax(x, axis = 1)
}
contract softmax_enclosed on soft {
  given x in box(-1.0, 1.0)
  ensure lipschitz(y, x) <= 10.0
  check by ibp
}
graph log_soft(x: f32[1, 3]) -> y: f32[1, 3] {
  y = log_softmax(x, axis = 1)
}
contract no_enclosure on log_soft {
  given x in box(-1.0, 1.0)
  ensure lipschitz(y, x) <= 10.0
  check by ibp
}
"#;

fn jacobian_run(name: &str) -> ContractRun {
    let path = Path::new("/tmp/tl-verify-tests/jacobians.tl");
    run_named(path, Some(JACOBIANS), name, &VerifyOptions::default())
}

#[test]
fn lipschitz_claims_are_checked_by_the_enclosure_or_falsified_by_a_jacobian() {
    let run = jacobian_run("lipschitz_proved");
    assert_eq!(run.status, Status::Checked, "{:?}", verdicts(&run));
    let d = &run.outcome.methods[0].detail;
    // |W| row sums: 0.875 and 4.5, relu' in [0, 1] over the box.
    assert!(d.contains("by 4.500000e0"), "{d}");
    let run = jacobian_run("lipschitz_false");
    assert_eq!(run.status, Status::Falsified, "{:?}", verdicts(&run));
    let m = &run.outcome.methods[0];
    assert!(
        m.detail.contains("linf norm of the Jacobian is 4.5"),
        "{}",
        m.detail
    );
    let Verdict::Violated { counterexample } = &m.verdict else {
        panic!("{:?}", m.verdict)
    };
    assert!(counterexample.inputs[0]
        .2
        .iter()
        .all(|&v| v > 0.0 && v < 1.0));
    // True, but the enclosure's outward rounding puts its bound just above 4.5 and no sample
    // exceeds it: unknown, not checked.
    let run = jacobian_run("lipschitz_at_the_edge");
    assert_eq!(run.status, Status::Uncovered, "{:?}", verdicts(&run));
    assert!(
        matches!(&run.outcome.methods[0].verdict, Verdict::Unknown { reason } if reason.contains("too loose")),
        "{:?}",
        verdicts(&run)
    );
    let run = jacobian_run("lipschitz_sampled");
    assert_eq!(run.status, Status::Tested, "{:?}", verdicts(&run));
    // l1: column sums of |W|: 2.0, 2.25, 1.125.
    let run = jacobian_run("l1_lipschitz");
    assert_eq!(run.status, Status::Checked, "{:?}", verdicts(&run));
}

#[test]
fn derivative_sign_claims_are_checked_or_falsified() {
    let run = jacobian_run("monotone");
    assert_eq!(run.status, Status::Checked, "{:?}", verdicts(&run));
    assert!(
        run.outcome.methods[0]
            .detail
            .contains("d(y[0, 1]) / d(x[0, 1]) in [0"),
        "{}",
        run.outcome.methods[0].detail
    );
    let run = jacobian_run("not_monotone");
    assert_eq!(run.status, Status::Falsified, "{:?}", verdicts(&run));
    assert!(
        run.outcome.methods[0].detail.contains("is -2.5"),
        "{}",
        run.outcome.methods[0].detail
    );
    // Every point of a point box at relu's kink: sampling cannot judge the derivative there.
    let run = jacobian_run("monotone_at_the_kink");
    assert_eq!(run.status, Status::Uncovered, "{:?}", verdicts(&run));
    assert!(
        matches!(&run.outcome.methods[0].verdict, Verdict::Unknown { reason }
            if reason.contains("at a kink") && reason.contains("not unique")),
        "{:?}",
        verdicts(&run)
    );
    // A slope of exactly 0 everywhere against `> 0`: inside the rounding margin at every
    // sample, so neither falsified nor tested-true.
    let run = jacobian_run("strict_slope_of_a_dead_input");
    assert_eq!(run.status, Status::Uncovered, "{:?}", verdicts(&run));
    assert!(
        matches!(&run.outcome.methods[0].verdict, Verdict::Unknown { reason }
            if reason.contains("within the rounding budget")),
        "{:?}",
        verdicts(&run)
    );
    // softmax has an enclosure rule (its true row sums are 2 p_c (1 - p_c) <= 1/2).
    let run = jacobian_run("softmax_enclosed");
    assert_eq!(run.evidence_status, Status::Checked, "{:?}", verdicts(&run));
    let run = jacobian_run("no_enclosure");
    assert_eq!(run.status, Status::Uncovered, "{:?}", verdicts(&run));
    assert!(
        matches!(&run.outcome.methods[0].verdict, Verdict::Unknown { reason }
            if reason.contains("log_softmax")),
        "{:?}",
        verdicts(&run)
    );
}

#[test]
fn the_jacobian_contracts_of_the_examples_are_checked() {
    for (file, name, needle) in [
        (
            "risk_score.tl",
            "monotone_in_debt",
            "d(score[0, 0]) / d(x[0, 3]) in [",
        ),
        (
            "risk_score.tl",
            "score_lipschitz",
            "Lipschitz constant of `score` by",
        ),
        (
            "acas_xu_controller.tl",
            "scores_lipschitz_near_coc",
            "tightened by CROWN",
        ),
    ] {
        let run = example(file, name);
        assert_eq!(
            run.status,
            Status::Checked,
            "{file}::{name}: {:?}",
            verdicts(&run)
        );
        let d = &run.outcome.methods[0].detail;
        assert!(d.contains(needle) && d.ends_with("checked"), "{d}");
    }
}

const ADJOINT: &str = r#"
graph mixer(x: f32[1, 3, 4]) -> y: f32[1, 3, 4] {
  param w: f32[4, 4] = [[0.5, -0.25, 0.125, 0.3], [1.5, 2.0, -1.0, 0.2], [0.1, 0.2, 0.3, 0.4], [-0.7, 0.6, -0.5, 0.4]]
  param b: f32[4] = [0.1, -0.2, 0.0, 0.3]
  h = linear(x, w, b)
  a = scaled_dot_product_attention(h, h, h, causal = true)
  n = layer_norm(a)
  s = softmax(n, axis = 2)
  y = tanh(s)
}
contract law on mixer {
  given x in box(-1.0, 1.0)
  ensure adjoint(y)
  check by sampling(3, seed = 1)
}
"#;

#[test]
fn the_adjoint_law_is_a_tested_contract_per_op_and_for_the_graph() {
    let path = Path::new("/tmp/tl-verify-tests/adjoint.tl");
    let run = run_named(path, Some(ADJOINT), "law", &VerifyOptions::default());
    assert_eq!(run.status, Status::Tested, "{:?}", verdicts(&run));
    let d = &run.outcome.methods[0].detail;
    assert!(
        d.contains("at each of its 5 differentiable op nodes")
            && d.ends_with("sampled, not proved"),
        "{d}"
    );
}

/// An integer param written inline (labels, ids) loads as i64: both engines bind it (it loaded
/// as f64 and every run failed with TL0512), and a non-integer literal is a coded error.
#[test]
fn inline_integer_params_load_as_integers() {
    const SPEC: &str = r#"
graph labelled(logits: f32[2, 3]) -> loss: f32[1] {
  param labels: i64[2] = [2, 0]
  loss = reshape(cross_entropy(logits, labels), shape = [1])
}
contract loss_bounded on labelled {
  given logits in box(-1.0, 1.0)
  ensure loss[0] <= 10.0
  check by sampling(5, seed = 1)
}
graph fractional(logits: f32[2, 3]) -> loss: f32[1] {
  param labels: i64[2] = [2.5, 0]
  loss = reshape(cross_entropy(logits, labels), shape = [1])
}
contract fractional_label on fractional {
  given logits in box(-1.0, 1.0)
  ensure loss[0] <= 10.0
  check by sampling(5, seed = 1)
}
"#;
    let path = Path::new("/tmp/tl-verify-tests/inline_labels.tl");
    let opts = VerifyOptions::default();
    let run = run_named(path, Some(SPEC), "loss_bounded", &opts);
    assert_eq!(
        verdicts(&run),
        vec![("sampling".to_string(), "holds".to_string())]
    );
    let run = run_named(path, Some(SPEC), "fractional_label", &opts);
    let v = verdicts(&run);
    assert!(
        v[0].1.starts_with("error") && v[0].1.contains("2.5 is not an integer"),
        "{v:?}"
    );
}
