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

/// `import onnx "m.onnx" as net`: `tlc graph --graph net` finds the import (as `tlc run --graph
/// net` does), and the graph is named by the alias, not by the model's own name (`torch_jit`).
#[test]
fn an_onnx_import_is_found_by_its_alias() {
    let dir = crate::support::TempDir::new("graph-onnx");
    std::fs::copy(
        repo_root().join("tests/fixtures/onnx/mlp.onnx"),
        dir.0.join("m.onnx"),
    )
    .expect("copy model");
    std::fs::write(dir.0.join("spec.tl"), "import onnx \"m.onnx\" as net\n").expect("spec");
    for format in ["dot", "json", "mermaid"] {
        let (code, out, stderr) = run_in(
            &dir.0,
            &["graph", "spec.tl", "--graph", "net", "--format", format],
        );
        assert_eq!(code, 0, "{format}: {stderr}");
        assert!(!out.contains("torch_jit"), "{format}:\n{out}");
        match format {
            "dot" => assert!(out.starts_with("digraph \"net\""), "{out}"),
            "json" => {
                let v: serde_json::Value = serde_json::from_str(&out).expect("JSON");
                assert_eq!(v["name"], "net");
                assert!(!v["nodes"].as_array().expect("nodes").is_empty());
            }
            _ => assert!(out.contains("flowchart TD"), "{out}"),
        }
    }
    let (code, out, stderr) = run_in(&dir.0, &["graph", "spec.tl", "--format", "dot"]);
    assert_eq!(code, 0, "the only graph is the import: {stderr}");
    assert!(out.starts_with("digraph \"net\""), "{out}");
}
