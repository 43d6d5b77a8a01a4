use super::*;
use crate::exec::denote;
use crate::tensor::Tensor;
use serde_json::json;
use std::collections::BTreeMap;
use tl_ir::{AttrValue, Attrs, DType, Dim, Graph, Op, Shape};

fn weights(shape: &[usize], seed: u64) -> Tensor {
    let n: usize = shape.iter().product();
    let data = (0..n)
        .map(|i| (((i as u64 * 2654435761 + seed * 97) % 1000) as f64 / 500.0) - 1.0)
        .collect();
    Tensor::from_f64(shape, data).unwrap()
}

/// x[B, 4] -> linear -> layer_norm -> relu -> linear -> softmax, plus a residual add.
fn block() -> (Graph, BTreeMap<String, Tensor>) {
    let mut g = Graph::new("block");
    let x = g.add_input(
        "x",
        Shape(vec![Dim::Sym("B".into()), Dim::Known(4)]),
        DType::F32,
    );
    let w1 = g.add_param("fc1.weight", Shape::known(&[4, 4]), DType::F32);
    let b1 = g.add_param("fc1.bias", Shape::known(&[4]), DType::F32);
    let lw = g.add_param("ln.weight", Shape::known(&[4]), DType::F32);
    let lb = g.add_param("ln.bias", Shape::known(&[4]), DType::F32);
    let w2 = g.add_param("fc2.weight", Shape::known(&[3, 4]), DType::F32);
    let h = g
        .add_op("h", Op::Linear, vec![x, w1, b1], Attrs::new())
        .unwrap();
    let r = g.add_op("r", Op::Add, vec![h, x], Attrs::new()).unwrap();
    let n = g
        .add_op(
            "n",
            Op::LayerNorm,
            vec![r, lw, lb],
            Attrs::new().with("eps", AttrValue::Float(1e-5)),
        )
        .unwrap();
    let a = g.add_op("a", Op::Relu, vec![n], Attrs::new()).unwrap();
    let y = g
        .add_op("y", Op::Linear, vec![a, w2], Attrs::new())
        .unwrap();
    let p = g
        .add_op(
            "p",
            Op::Softmax,
            vec![y],
            Attrs::new().with("axis", AttrValue::Int(-1)),
        )
        .unwrap();
    let t = g.add_op("t", Op::Transpose, vec![p], Attrs::new()).unwrap();
    g.add_output("p", p);
    g.add_output("t", t);
    let mut payload = BTreeMap::new();
    for (k, s, seed) in [
        ("fc1.weight", vec![4, 4], 1),
        ("fc1.bias", vec![4], 2),
        ("ln.weight", vec![4], 3),
        ("ln.bias", vec![4], 4),
        ("fc2.weight", vec![3, 4], 5),
    ] {
        payload.insert(k.to_string(), weights(&s, seed));
    }
    (g, payload)
}

fn dims(b: u64) -> ExportOptions {
    ExportOptions {
        dims: [("B".to_string(), b)].into(),
    }
}

#[test]
fn export_then_import_computes_the_same_function() {
    let (g, payload) = block();
    let artifact = export(&g, &payload, &dims(2)).unwrap();
    assert_eq!(artifact["format"], FORMAT);
    let nodes = artifact["nodes"].as_array().unwrap();
    for (i, n) in nodes.iter().enumerate() {
        assert_eq!(n["id"], i);
        assert!(n["parents"]
            .as_array()
            .unwrap()
            .iter()
            .all(|p| p.as_u64().unwrap() < i as u64));
    }
    let kinds: Vec<&str> = nodes.iter().map(|n| n["kind"].as_str().unwrap()).collect();
    assert_eq!(
        kinds,
        [
            "input",
            "linear",
            "add",
            "layernorm",
            "relu",
            "linear",
            "softmax",
            "transpose"
        ]
    );
    let back = import(&artifact, "block").unwrap();
    let x = weights(&[2, 4], 9);
    let inputs: BTreeMap<String, Tensor> = [("x".to_string(), x)].into();
    let original = denote(&g, &payload, &inputs).unwrap();
    let imported = denote(&back.graph, &back.payload, &inputs).unwrap();
    for name in ["p", "t"] {
        assert_eq!(
            original.output(name),
            imported.output(name),
            "output {name}"
        );
    }
}

#[test]
fn import_reports_every_unsupported_node() {
    let artifact = json!({
        "format": FORMAT, "input_id": 0, "output_ids": [3],
        "nodes": [
            {"id": 0, "kind": "input", "parents": [], "shape": [2]},
            {"id": 1, "kind": "sin", "parents": [0], "shape": [2]},
            {"id": 2, "kind": "inv", "parents": [1], "shape": [2]},
            {"id": 3, "kind": "frobnicate", "parents": [2], "shape": [2]}
        ]
    });
    let err = import(&artifact, "g").unwrap_err();
    assert_eq!(err.code(), "TL0551");
    let TorchLeanError::UnsupportedImport { nodes } = &err else {
        panic!()
    };
    assert_eq!(nodes.iter().map(|n| n.0).collect::<Vec<_>>(), [1, 2, 3]);
    assert!(err
        .to_string()
        .contains("not a torchlean.ir.v1 op spelling"));
}

#[test]
fn export_reports_every_node_torchlean_lacks() {
    let mut g = Graph::new("g");
    let x = g.add_input("x", Shape::known(&[2, 3]), DType::F32);
    let a = g.add_op("a", Op::Gelu, vec![x], Attrs::new()).unwrap();
    let b = g.add_op("b", Op::Neg, vec![a], Attrs::new()).unwrap();
    let c = g
        .add_op(
            "c",
            Op::Constant,
            vec![],
            Attrs::new().with("value", AttrValue::Float(2.0)),
        )
        .unwrap();
    let d = g.add_op("d", Op::Mul, vec![b, c], Attrs::new()).unwrap();
    g.add_output("d", d);
    let err = export(&g, &BTreeMap::new(), &ExportOptions::default()).unwrap_err();
    assert_eq!(err.code(), "TL0552");
    let TorchLeanError::UnsupportedExport { nodes } = err else {
        panic!()
    };
    let names: Vec<&str> = nodes.iter().map(|n| n.0.as_str()).collect();
    assert_eq!(names, ["a", "b", "d"], "gelu, neg and a broadcasting mul");
}

#[test]
fn export_needs_concrete_dims_and_one_input() {
    let (g, payload) = block();
    let err = export(&g, &payload, &ExportOptions::default()).unwrap_err();
    assert_eq!(err.code(), "TL0555");
    assert!(err.to_string().contains("--dim B=1"));
    let mut two = Graph::new("two");
    let a = two.add_input("a", Shape::known(&[2]), DType::F32);
    let b = two.add_input("b", Shape::known(&[2]), DType::F32);
    let s = two.add_op("s", Op::Add, vec![a, b], Attrs::new()).unwrap();
    two.add_output("s", s);
    assert_eq!(
        export(&two, &BTreeMap::new(), &ExportOptions::default())
            .unwrap_err()
            .code(),
        "TL0555"
    );
}

#[test]
fn malformed_artifacts_get_coded_errors() {
    let cases = [
        (json!([1, 2]), "TL0550"),
        (
            json!({"format": "torchlean.ir.v2", "input_id": 0, "output_ids": [0], "nodes": []}),
            "TL0550",
        ),
        (
            json!({"format": FORMAT, "input_id": 0, "output_ids": [0], "nodes": [
            {"id": 1, "kind": "input", "parents": [], "shape": [2]}]}),
            "TL0553",
        ),
        (
            json!({"format": FORMAT, "input_id": 0, "output_ids": [1], "nodes": [
            {"id": 0, "kind": "input", "parents": [], "shape": [2]},
            {"id": 1, "kind": "relu", "parents": [1], "shape": [2]}]}),
            "TL0553",
        ),
        (
            json!({"format": FORMAT, "input_id": 0, "output_ids": [1], "nodes": [
            {"id": 0, "kind": "input", "parents": [], "shape": [2]},
            {"id": 1, "kind": "relu", "parents": [0], "shape": [3]}]}),
            "TL0553",
        ),
        (
            json!({"format": FORMAT, "input_id": 0, "output_ids": [1], "nodes": [
            {"id": 0, "kind": "input", "parents": [], "shape": [1, 2]},
            {"id": 1, "kind": "linear", "parents": [0], "shape": [1, 3], "out_dim": 3, "in_dim": 2,
             "weight": [[1, 2], [3, 4]], "bias": [0, 0, 0]}]}),
            "TL0554",
        ),
        (
            json!({"format": FORMAT, "input_id": 0, "output_ids": [9], "nodes": [
            {"id": 0, "kind": "input", "parents": [], "shape": [2]}]}),
            "TL0553",
        ),
    ];
    for (artifact, code) in cases {
        let err = import(&artifact, "g").unwrap_err();
        assert_eq!(err.code(), code, "{artifact}: {err}");
    }
    assert_eq!(import_str("{not json", "g").unwrap_err().code(), "TL0550");
}

#[test]
fn imports_a_torchlean_style_artifact_with_inline_weights() {
    // The shape TorchLean's importer documents: node-owned weights, flatten to 1-D, sum to a scalar.
    let artifact = json!({
        "format": FORMAT, "input_id": 0, "output_ids": [4],
        "nodes": [
            {"id": 0, "kind": "input", "parents": [], "shape": [1, 2]},
            {"id": 1, "kind": "linear", "parents": [0], "shape": [1, 2], "out_dim": 2, "in_dim": 2,
             "weight": [[1.0, 2.0], [-1.0, 0.5]], "bias": [0.5, -3.0]},
            {"id": 2, "kind": "relu", "parents": [1], "shape": [1, 2]},
            {"id": 3, "kind": "flatten", "parents": [2], "shape": [2], "value_shape": [1, 2]},
            {"id": 4, "kind": "sum", "parents": [3], "shape": []}
        ]
    });
    let g = import(&artifact, "g").unwrap();
    let x = Tensor::from_f64(&[1, 2], vec![1.0, 1.0]).unwrap();
    let d = denote(&g.graph, &g.payload, &[("x".to_string(), x)].into()).unwrap();
    // linear: [1 + 2 + 0.5, -1 + 0.5 - 3] = [3.5, -3.5] -> relu [3.5, 0] -> sum 3.5
    assert_eq!(
        d.output("sum_4")
            .unwrap()
            .to_f64()
            .iter()
            .copied()
            .collect::<Vec<_>>(),
        [3.5]
    );
}

/// TorchLean's `detach` stops gradients, so tl's identity and eval-mode dropout must not be
/// written as it (they were): the node is elided and its users read its input.
#[test]
fn identity_and_dropout_are_elided_not_written_as_detach() {
    let mut g = Graph::new("drop");
    let x = g.add_input("x", Shape::known(&[2, 4]), DType::F32);
    let d = g
        .add_op(
            "d",
            Op::Dropout,
            vec![x],
            Attrs::new().with("p", AttrValue::Float(0.1)),
        )
        .unwrap();
    let r = g.add_op("r", Op::Relu, vec![d], Attrs::new()).unwrap();
    let i = g.add_op("i", Op::Identity, vec![r], Attrs::new()).unwrap();
    g.add_output("y", i);
    g.add_output("x_again", d);
    let payload: BTreeMap<String, Tensor> = BTreeMap::new();
    let artifact = export(&g, &payload, &ExportOptions::default()).unwrap();
    let nodes = artifact["nodes"].as_array().unwrap();
    let kinds: Vec<&str> = nodes.iter().map(|n| n["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["input", "relu"], "no detach node: {kinds:?}");
    assert_eq!(nodes[1]["parents"], json!([0]));
    assert_eq!(artifact["output_ids"], json!([1, 0]));
    let back = import(&artifact, "drop").unwrap();
    let inputs: BTreeMap<String, Tensor> = [("x".to_string(), weights(&[2, 4], 3))].into();
    let original = denote(&g, &payload, &inputs).unwrap();
    let imported = denote(&back.graph, &back.payload, &inputs).unwrap();
    let a: Vec<&Tensor> = original.outputs().map(|(_, t)| t).collect();
    let b: Vec<&Tensor> = imported.outputs().map(|(_, t)| t).collect();
    assert_eq!(a.len(), 2);
    assert_eq!(a, b);
}
