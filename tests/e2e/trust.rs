//! `tlc trust`: ledgers and coverage of the shipped examples, boundaries, `--verify`, formats.

use crate::support::{repo_root, run_in, TempDir};

#[test]
fn example_ledgers_as_text() {
    let (code, stdout, stderr) = run_in(&repo_root(), &["trust", "spec-examples"]);
    assert_eq!(code, 0, "{stderr}");
    insta::assert_snapshot!(stdout);
    assert!(
        stderr.contains("pending verification (run with --verify)"),
        "{stderr}"
    );
}

#[test]
fn json_report_follows_the_documented_schema() {
    let (code, stdout, stderr) = run_in(
        &repo_root(),
        &["trust", "spec-examples", "--format", "json"],
    );
    assert_eq!(code, 0, "{stderr}");
    let report: serde_json::Value = serde_json::from_str(&stdout).expect("valid JSON");
    assert_eq!(report["schema"], "tl.trust/1");
    assert_eq!(report["verified"], false);
    let files = report["files"].as_array().expect("files");
    assert!(files.len() >= 9, "{}", files.len());
    let statuses = [
        "proved",
        "checked",
        "tested",
        "assumed",
        "uncovered",
        "falsified",
    ];
    for f in files {
        for c in f["contracts"].as_array().expect("contracts") {
            assert!(statuses.contains(&c["status"].as_str().unwrap()), "{c}");
            for link in c["links"].as_array().expect("links") {
                for key in [
                    "layer",
                    "claim",
                    "status",
                    "pending",
                    "required",
                    "evidence",
                    "assumptions",
                    "catalog_entries",
                ] {
                    assert!(link.get(key).is_some(), "link without {key}: {link}");
                }
            }
        }
        for g in f["graphs"].as_array().expect("graphs") {
            for layer in g["layers"].as_array().expect("layers") {
                let pct = layer["percent"].as_f64().unwrap();
                assert!((0.0..=100.0).contains(&pct), "{layer}");
            }
        }
    }
}

#[test]
fn mse_loss_gap_is_shown_at_its_node() {
    let (code, stdout, _) = run_in(
        &repo_root(),
        &["trust", "spec-examples/regression_training.tl"],
    );
    assert_eq!(code, 0);
    assert!(stdout.contains(
        "loss (mse_loss) in compiled_semantics: outside execGraphOfIR_semantics_eq (side condition NoMSELoss)"
    ), "{stdout}");
    assert!(
        stdout.contains("compiled_semantics     0.0%  0/4 covered"),
        "{stdout}"
    );
    assert!(
        stdout.contains("unproved ops assumed: training_kernels"),
        "{stdout}"
    );
}

const CUDA_SPEC: &str = r#"tolerance fp32_run = abs 1e-5, rel 1e-4

graph mlp(x: f32[1, 2]) -> y: f32[1, 2] {
  param w: f32[2, 2] = [[1.0, 0.0], [0.0, 1.0]]
  h = linear(x, w)
  y = relu(h)
}

contract bounded on mlp {
  given x in box(-1.0, 1.0)
  ensure y[0, 0] <= 2.0
  check by crown
}

contract on_gpu on mlp {
  execute on cuda
  ensure bounded within fp32_run
  check by sampling(10, seed = 1)
}
"#;

#[test]
fn cuda_without_an_assumption_warns_and_suggests_one() {
    let dir = TempDir::new("trust-cuda");
    std::fs::write(dir.0.join("gpu.tl"), CUDA_SPEC).unwrap();
    let (code, stdout, stderr) = run_in(&dir.0, &["trust", "gpu.tl"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stdout.contains("execution  uncovered  execution target: cuda"),
        "{stdout}"
    );
    assert!(
        stdout.contains("warning[TL0420]: boundary execution `CUDA kernels` has no assumption; add assume kernel cuda_kernels: "),
        "{stdout}"
    );
    assert!(
        stderr.contains("1 trust boundary without an assumption"),
        "{stderr}"
    );
    let (_, check_out, _) = run_in(&dir.0, &["check", "gpu.tl", "--format", "short"]);
    assert!(check_out.contains("TL0420"), "{check_out}");

    // Declaring the kernel assumption makes the execution link assumed.
    let assumed = CUDA_SPEC.replace(
        "  execute on cuda\n",
        "  execute on cuda\n  rests on sgemm\n",
    )
        + "\nassume kernel sgemm: \"cuBLAS SGEMM is IEEE-754 binary32; checked in CI\"\n";
    std::fs::write(dir.0.join("gpu.tl"), assumed).unwrap();
    let (_, stdout, stderr) = run_in(&dir.0, &["trust", "gpu.tl", "--verify"]);
    assert!(stdout.contains("execution  assumed"), "{stdout}");
    assert!(
        stdout.contains("contract bounded on mlp (output_range): checked"),
        "{stdout}"
    );
    assert!(
        stdout.contains("contract on_gpu on mlp (execution): assumed"),
        "{stdout}"
    );
    assert!(!stderr.contains("pending"), "{stderr}");
}

#[test]
fn verify_fills_the_method_links() {
    let (code, stdout, stderr) = run_in(
        &repo_root(),
        &[
            "trust",
            "spec-examples/mnist_mlp.tl",
            "--verify",
            "--format",
            "json",
        ],
    );
    assert_eq!(code, 0, "{stderr}");
    let report: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(report["verified"], true);
    let contracts = report["files"][0]["contracts"].as_array().unwrap();
    let status = |name: &str| {
        contracts
            .iter()
            .find(|c| c["contract"] == name)
            .map(|c| c["status"].as_str().unwrap().to_string())
    };
    // CROWN is sound over the reals; sampling is a test, never more.
    assert_eq!(status("robust_digit_7").as_deref(), Some("checked"));
    assert_eq!(status("compiled_matches").as_deref(), Some("tested"));
}

#[test]
fn markdown_and_errors() {
    let (code, stdout, _) = run_in(
        &repo_root(),
        &[
            "trust",
            "spec-examples/small_cnn.tl",
            "--format",
            "markdown",
        ],
    );
    assert_eq!(code, 0);
    assert!(stdout.starts_with("# Trust report"), "{stdout}");
    assert!(
        stdout.contains("| compiled_semantics | 5 | 5 | 100.0 | 0 |"),
        "{stdout}"
    );

    // A spec with errors still gets (incomplete) ledgers, and exit 1.
    let dir = repo_root().join("tests/fixtures/broken");
    for name in [
        "contract_errors.tl",
        "junk.tl",
        "invalid_utf8.tl",
        "shape_mismatch.tl",
    ] {
        let (code, stdout, stderr) = run_in(&dir, &["trust", name]);
        assert_eq!(code, 1, "{name}: {stdout}{stderr}");
        assert!(!stderr.contains("panicked"), "{name}: {stderr}");
    }
    let (code, _, stderr) = run_in(&repo_root(), &["trust", "no/such/file.tl"]);
    assert_eq!(code, 2, "{stderr}");
    let (code, _, _) = run_in(
        &repo_root(),
        &["trust", "spec-examples", "--format", "yaml"],
    );
    assert_eq!(code, 2);
}
