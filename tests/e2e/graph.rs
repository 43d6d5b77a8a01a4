//! `tlc graph`: mermaid of the spec's view, DOT and JSON of the lowered IR.

use crate::support::{repo_root, run_in};

#[test]
fn mermaid_of_a_spec_graph() {
    let (code, stdout, stderr) = run_in(&repo_root(), &["graph", "spec-examples/small_cnn.tl"]);
    assert_eq!(code, 0, "{stderr}");
    insta::assert_snapshot!(stdout);
}

#[test]
fn dot_and_json_show_inlined_block_instances() {
    let root = repo_root();
    let args = [
        "graph",
        "spec-examples/residual_block.tl",
        "--graph",
        "residual_net",
        "--format",
    ];
    let (code, dot, stderr) = run_in(&root, &[&args[..], &["dot"]].concat());
    assert_eq!(code, 0, "{stderr}");
    assert!(dot.starts_with("digraph \"residual_net\""), "{dot}");
    assert!(
        dot.contains("layers.1.fc2.weight"),
        "repeated block params are inlined with state-dict names:\n{dot}"
    );
    let (code, json, stderr) = run_in(&root, &[&args[..], &["json"]].concat());
    assert_eq!(code, 0, "{stderr}");
    let v: serde_json::Value = serde_json::from_str(&json).expect("JSON");
    let nodes = v["nodes"].as_array().expect("nodes");
    assert!(nodes.iter().any(|n| n["name"] == "layers.0.y"), "{json}");
    assert_eq!(v["outputs"][0][0], "out");
}

#[test]
fn several_graphs_need_a_choice_and_errors_refuse() {
    let root = repo_root();
    let (code, _, stderr) = run_in(&root, &["graph", "spec-examples/residual_block.tl"]);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("--graph"), "{stderr}");
    let (code, _, stderr) = run_in(&root, &["graph", "tests/fixtures/broken/unknown_op.tl"]);
    assert_eq!(code, 1, "{stderr}");
}
