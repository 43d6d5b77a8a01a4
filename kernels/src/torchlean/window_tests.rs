//! Conv and pooling interop: round trips, the wire fields TorchLean's parser reads, hand-written
//! artifacts, leading-axis views, and the refused configurations.

use super::*;
use crate::exec::denote;
use crate::tensor::Tensor;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use tl_ir::{AttrValue, Attrs, DType, Dim, Graph, NodeId, Op, Shape};

/// Deterministic values in [-1, 1) (a multiplicative hash, so neighbours differ).
fn values(shape: &[usize], seed: u64) -> Tensor {
    let n: usize = shape.iter().product();
    let data = (0..n)
        .map(|i| (((i as u64 * 2654435761 + seed * 7919) % 2000) as f64 / 1000.0) - 1.0)
        .collect();
    Tensor::from_f64(shape, data).unwrap()
}

fn ints(v: &[i64]) -> AttrValue {
    AttrValue::Ints(v.to_vec())
}

fn flat(t: &Tensor) -> Vec<f64> {
    t.to_f64().iter().copied().collect()
}

/// x[B, 2, 7, 6] -> conv (padding 1, stride [1, 2]) -> relu -> max_pool (2, padding 1) ->
/// grouped dilated conv without bias -> avg_pool (3, stride 1, padding 1) -> flatten -> linear,
/// and a global average pool of the first conv.
fn small_cnn() -> (Graph, BTreeMap<String, Tensor>) {
    let mut g = Graph::new("cnn");
    let x = g.add_input(
        "x",
        Shape(vec![
            Dim::Sym("B".into()),
            Dim::Known(2),
            Dim::Known(7),
            Dim::Known(6),
        ]),
        DType::F32,
    );
    let mut payload = BTreeMap::new();
    let mut param = |g: &mut Graph, key: &str, shape: &[usize]| -> NodeId {
        payload.insert(key.to_string(), values(shape, payload.len() as u64 + 1));
        let dims: Vec<u64> = shape.iter().map(|&d| d as u64).collect();
        g.add_param(key, Shape::known(&dims), DType::F32)
    };
    let w1 = param(&mut g, "c1.weight", &[4, 2, 3, 3]);
    let b1 = param(&mut g, "c1.bias", &[4]);
    let w2 = param(&mut g, "c2.weight", &[4, 2, 2, 2]);
    let fw = param(&mut g, "fc.weight", &[3, 32]);
    let fb = param(&mut g, "fc.bias", &[3]);
    let c1 = g
        .add_op(
            "c1",
            Op::Conv2d,
            vec![x, w1, b1],
            Attrs::new()
                .with("padding", AttrValue::Int(1))
                .with("stride", ints(&[1, 2])),
        )
        .unwrap();
    let r = g.add_op("r", Op::Relu, vec![c1], Attrs::new()).unwrap();
    let m = g
        .add_op(
            "m",
            Op::MaxPool2d,
            vec![r],
            Attrs::new()
                .with("kernel_size", AttrValue::Int(2))
                .with("padding", AttrValue::Int(1)),
        )
        .unwrap();
    let c2 = g
        .add_op(
            "c2",
            Op::Conv2d,
            vec![m, w2],
            Attrs::new()
                .with("groups", AttrValue::Int(2))
                .with("dilation", AttrValue::Int(2))
                .with("padding", AttrValue::Int(1)),
        )
        .unwrap();
    let a = g
        .add_op(
            "a",
            Op::AvgPool2d,
            vec![c2],
            Attrs::new()
                .with("kernel_size", AttrValue::Int(3))
                .with("stride", AttrValue::Int(1))
                .with("padding", AttrValue::Int(1)),
        )
        .unwrap();
    let f = g.add_op("f", Op::Flatten, vec![a], Attrs::new()).unwrap();
    let y = g
        .add_op("y", Op::Linear, vec![f, fw, fb], Attrs::new())
        .unwrap();
    let gp = g
        .add_op("gp", Op::GlobalAvgPool, vec![c1], Attrs::new())
        .unwrap();
    g.add_output("y", y);
    g.add_output("gp", gp);
    (g, payload)
}

fn dims(b: u64) -> ExportOptions {
    ExportOptions {
        dims: [("B".to_string(), b)].into(),
    }
}

fn run(g: &Graph, payload: &BTreeMap<String, Tensor>, x: &Tensor) -> BTreeMap<String, Vec<f64>> {
    let inputs: BTreeMap<String, Tensor> = [(g.nodes[g.inputs[0]].name.clone(), x.clone())].into();
    let d = denote(g, payload, &inputs).unwrap();
    d.outputs()
        .map(|(name, t)| (name.to_string(), flat(t)))
        .collect()
}

#[test]
fn cnn_export_then_import_computes_the_same_function() {
    let (g, payload) = small_cnn();
    let artifact = export(&g, &payload, &dims(2)).unwrap();
    let kinds: Vec<&str> = artifact["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["kind"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds,
        [
            "input", "conv", "relu", "max_pool", "conv", "avg_pool", "reshape", "linear",
            "avg_pool"
        ]
    );
    let back = import(&artifact, "cnn").unwrap();
    let reshapes = back
        .graph
        .nodes
        .iter()
        .filter(|n| {
            matches!(
                &n.kind,
                tl_ir::NodeKind::Op {
                    op: Op::Reshape,
                    ..
                }
            )
        })
        .count();
    assert_eq!(reshapes, 1, "the flatten; NCHW windows need no reshapes");
    for seed in 0..4 {
        let x = values(&[2, 2, 7, 6], 100 + seed);
        let original = run(&g, &payload, &x);
        let imported = run(&back.graph, &back.payload, &x);
        assert_eq!(original["y"], imported["y"], "input seed {seed}");
        // global_avg_pool comes back as a whole-window avg_pool2d: the same mean, summed in
        // another order.
        assert_eq!(original["gp"].len(), imported["gp"].len());
        for (a, b) in original["gp"].iter().zip(&imported["gp"]) {
            assert!((a - b).abs() <= 1e-14 * a.abs().max(1.0), "gp {a} vs {b}");
        }
    }
}

#[test]
fn conv_nodes_carry_the_fields_torchlean_parses() {
    let (g, payload) = small_cnn();
    let artifact = export(&g, &payload, &dims(1)).unwrap();
    let nodes = artifact["nodes"].as_array().unwrap();
    let keys = |n: &Value| -> Vec<String> { n.as_object().unwrap().keys().cloned().collect() };
    // TorchLean's writer dumps with sort_keys=True; its parser reads fields by name.
    let mut conv_keys = vec![
        "id",
        "kind",
        "parents",
        "shape",
        "name",
        "spatial_rank",
        "kernel",
        "stride",
        "padding",
        "padding_after",
        "dilation",
        "groups",
        "channel_axis",
        "input_spatial",
        "in_channels",
        "out_channels",
        "weight",
        "bias",
    ];
    conv_keys.sort_unstable();
    assert_eq!(keys(&nodes[1]), conv_keys);
    let mut pool_keys = vec![
        "id",
        "kind",
        "parents",
        "shape",
        "name",
        "spatial_rank",
        "kernel",
        "stride",
        "padding",
    ];
    pool_keys.sort_unstable();
    assert_eq!(keys(&nodes[3]), pool_keys);
    assert_eq!(keys(&nodes[8]), pool_keys);
    let c2 = &nodes[4];
    assert_eq!(c2["groups"], 2);
    assert_eq!(c2["dilation"], json!([2, 2]));
    assert_eq!(c2["in_channels"], 4);
    assert_eq!(c2["input_spatial"], json!([4, 2]));
    // Dense block-diagonal weight [O, C, kh, kw]: output channel 0 (group 0) has zeros at input
    // channels 2 and 3, output channel 3 (group 1) at input channels 0 and 1.
    let w = &c2["weight"];
    assert_eq!(w.as_array().unwrap().len(), 4);
    assert_eq!(w[0].as_array().unwrap().len(), 4);
    assert_eq!(w[0][2], json!([[0.0, 0.0], [0.0, 0.0]]));
    assert_eq!(w[3][1], json!([[0.0, 0.0], [0.0, 0.0]]));
    assert_ne!(w[3][2], json!([[0.0, 0.0], [0.0, 0.0]]));
    assert_eq!(c2["bias"], json!([0.0, 0.0, 0.0, 0.0]), "absent bias");
    assert_eq!(nodes[8]["kernel"], json!([7, 3]), "global pool window");
    let skeleton: Vec<Value> = nodes
        .iter()
        .map(|n| {
            let mut n = n.clone();
            for heavy in ["weight", "bias"] {
                if let Some(v) = n.get_mut(heavy) {
                    *v = json!("...");
                }
            }
            n
        })
        .collect();
    insta::assert_json_snapshot!("cnn_artifact_skeleton", skeleton);
}

/// The output named `name` of a denotation, flattened.
fn output(g: &ImportedGraph, x: Tensor, name: &str) -> Vec<f64> {
    let inputs: BTreeMap<String, Tensor> = [("x".to_string(), x)].into();
    let d = denote(&g.graph, &g.payload, &inputs).unwrap();
    flat(d.output(name).unwrap())
}

#[test]
fn imports_a_hand_written_unbatched_artifact() {
    // The shape TorchLean's own exporter writes for a [C, H, W] input: `channel_axis` 0, a dense
    // grouped weight whose off-block entries TorchLean never reads (99 here), and a 1-D average
    // pool over the last axis.
    let artifact = json!({
        "format": FORMAT, "input_id": 0, "output_ids": [3, 4],
        "nodes": [
            {"id": 0, "kind": "input", "parents": [], "shape": [2, 3, 3]},
            {"id": 1, "kind": "conv", "parents": [0], "shape": [2, 2, 2],
             "spatial_rank": 2, "kernel": [2, 2], "stride": [1, 1], "padding": [0, 0],
             "padding_after": [0, 0], "dilation": [1, 1], "groups": 2, "channel_axis": 0,
             "input_spatial": [3, 3], "in_channels": 2, "out_channels": 2,
             "weight": [[[[1, 0], [0, 1]], [[99, 99], [99, 99]]],
                        [[[99, 99], [99, 99]], [[0, 1], [1, 0]]]],
             "bias": [0.5, -1]},
            {"id": 2, "kind": "max_pool", "parents": [1], "shape": [2, 1, 1],
             "spatial_rank": 2, "kernel": [2, 2], "stride": [2, 2], "padding": [0, 0]},
            {"id": 3, "kind": "flatten", "parents": [2], "shape": [2], "value_shape": [2, 1, 1]},
            {"id": 4, "kind": "avg_pool", "parents": [0], "shape": [2, 3, 2],
             "spatial_rank": 1, "kernel": [2], "stride": [2], "padding": [1]}
        ]
    });
    let g = import(&artifact, "hand").unwrap();
    // Channel 0 is 1..9, channel 1 is 10..18, row-major.
    let x = Tensor::from_f64(&[2, 3, 3], (1..=18).map(f64::from).collect()).unwrap();
    // Group 0 adds the diagonal of each 2x2 window of channel 0, plus 0.5:
    // [[6, 8], [12, 14]] + 0.5, max 14.5. Group 1 adds the anti-diagonal of each window of
    // channel 1, minus 1: [[24, 26], [30, 32]] - 1, max 31.
    assert_eq!(output(&g, x.clone(), "flatten_3"), [14.5, 31.0]);
    // Width 3 with padding 1, kernel 2, stride 2: windows [pad, a] and [b, c], divided by 2.
    let pooled = output(&g, x, "avg_pool_4");
    assert_eq!(&pooled[..6], [0.5, 2.5, 2.0, 5.5, 3.5, 8.5]);
    let conv_ops = g
        .graph
        .nodes
        .iter()
        .filter(|n| matches!(&n.kind, tl_ir::NodeKind::Op { op: Op::Conv2d, .. }))
        .count();
    assert_eq!(conv_ops, 1);
    assert_eq!(
        g.payload["conv_1.weight"].shape(),
        [2, 1, 2, 2],
        "packed groups"
    );
}

#[test]
fn leading_axes_before_the_channel_axis_are_kept() {
    // conv over x[2, 3, 1, 4, 4] with channel_axis 2: every [1, 4, 4] slice is convolved alone.
    let w = [[[[0.5, -1.0], [2.0, 0.25]]], [[[1.0, 1.0], [1.0, 1.0]]]];
    let artifact = json!({
        "format": FORMAT, "input_id": 0, "output_ids": [1, 2],
        "nodes": [
            {"id": 0, "kind": "input", "parents": [], "shape": [2, 3, 1, 4, 4]},
            {"id": 1, "kind": "conv", "parents": [0], "shape": [2, 3, 2, 2, 3],
             "spatial_rank": 2, "kernel": [2, 2], "stride": [2, 1], "padding": [0, 0],
             "padding_after": [0, 0], "dilation": [1, 1], "groups": 1, "channel_axis": 2,
             "input_spatial": [4, 4], "in_channels": 1, "out_channels": 2,
             "weight": w, "bias": [0.0, 1.5]},
            {"id": 2, "kind": "max_pool", "parents": [0], "shape": [2, 3, 1, 2, 2],
             "spatial_rank": 2, "kernel": [3, 3], "stride": [2, 2], "padding": [1, 1]}
        ]
    });
    let g = import(&artifact, "lead").unwrap();
    let x = values(&[2, 3, 1, 4, 4], 5);
    let conv = output(&g, x.clone(), "conv_1");
    let pool = output(&g, x.clone(), "max_pool_2");
    // Per slice: a plain NCHW tl graph on one [1, 1, 4, 4] sample.
    let mut one = Graph::new("one");
    let xi = one.add_input("x", Shape::known(&[1, 1, 4, 4]), DType::F32);
    let wi = one.add_param("w", Shape::known(&[2, 1, 2, 2]), DType::F32);
    let bi = one.add_param("b", Shape::known(&[2]), DType::F32);
    let c = one
        .add_op(
            "c",
            Op::Conv2d,
            vec![xi, wi, bi],
            Attrs::new().with("stride", ints(&[2, 1])),
        )
        .unwrap();
    let p = one
        .add_op(
            "p",
            Op::MaxPool2d,
            vec![xi],
            Attrs::new()
                .with("kernel_size", AttrValue::Int(3))
                .with("stride", AttrValue::Int(2))
                .with("padding", AttrValue::Int(1)),
        )
        .unwrap();
    one.add_output("c", c);
    one.add_output("p", p);
    let payload: BTreeMap<String, Tensor> = [
        (
            "w".to_string(),
            Tensor::from_f64(
                &[2, 1, 2, 2],
                vec![0.5, -1.0, 2.0, 0.25, 1.0, 1.0, 1.0, 1.0],
            )
            .unwrap(),
        ),
        (
            "b".to_string(),
            Tensor::from_f64(&[2], vec![0.0, 1.5]).unwrap(),
        ),
    ]
    .into();
    let xs = flat(&x);
    for slice in 0..6 {
        let xi =
            Tensor::from_f64(&[1, 1, 4, 4], xs[slice * 16..(slice + 1) * 16].to_vec()).unwrap();
        let got = run(&one, &payload, &xi);
        assert_eq!(
            got["c"],
            conv[slice * 12..(slice + 1) * 12],
            "conv slice {slice}"
        );
        assert_eq!(
            got["p"],
            pool[slice * 4..(slice + 1) * 4],
            "pool slice {slice}"
        );
    }
}

#[test]
fn import_refuses_what_tl_cannot_compute_listing_every_node() {
    let conv = |id: usize, rank: usize, after: Value| {
        json!({"id": id, "kind": "conv", "parents": [0], "shape": [1, 1, 1, 1, 1],
               "spatial_rank": rank, "kernel": vec![1; rank], "stride": vec![1; rank],
               "padding": vec![0; rank], "padding_after": after, "dilation": vec![1; rank],
               "groups": 1, "channel_axis": 1, "input_spatial": vec![1; rank],
               "in_channels": 1, "out_channels": 1})
    };
    let artifact = json!({
        "format": FORMAT, "input_id": 0, "output_ids": [3],
        "nodes": [
            {"id": 0, "kind": "input", "parents": [], "shape": [1, 1, 1, 1, 1]},
            conv(1, 3, json!([0, 0, 0])),
            conv(2, 2, json!([1, 0])),
            {"id": 3, "kind": "avg_pool", "parents": [0], "shape": [1, 1, 1, 2, 1],
             "spatial_rank": 2, "kernel": [1, 1], "stride": [1, 1], "padding": [1, 0]}
        ]
    });
    let err = import(&artifact, "g").unwrap_err();
    assert_eq!(err.code(), "TL0551");
    let text = err.to_string();
    assert!(
        text.contains("node 1 `conv` (tl has conv1d and conv2d"),
        "{text}"
    );
    assert!(text.contains("node 2 `conv` (asymmetric padding"), "{text}");
    assert!(
        text.contains("node 3 `avg_pool` (padding 1 exceeds half the kernel 1"),
        "{text}"
    );
}

#[test]
fn malformed_window_nodes_get_coded_errors() {
    let base = json!({"id": 1, "kind": "max_pool", "parents": [0], "shape": [1, 2, 2],
                      "spatial_rank": 2, "kernel": [2, 2], "stride": [2, 2], "padding": [0, 0]});
    let artifact = |node: Value| {
        json!({"format": FORMAT, "input_id": 0, "output_ids": [1], "nodes": [
            {"id": 0, "kind": "input", "parents": [], "shape": [1, 4, 4]}, node]})
    };
    let with = |key: &str, v: Value| {
        let mut n = base.clone();
        n[key] = v;
        n
    };
    assert!(import(&artifact(base.clone()), "g").is_ok());
    for (node, code) in [
        (with("kernel", json!([2])), "TL0553"),
        (with("stride", json!([0, 2])), "TL0553"),
        (with("padding", json!("none")), "TL0550"),
        (with("shape", json!([1, 3, 3])), "TL0553"),
        (with("parents", json!([])), "TL0553"),
        (with("spatial_rank", json!(-1)), "TL0550"),
        (with("padding", json!([u64::MAX, 0])), "TL0551"),
        (with("kernel", json!([u64::MAX, 2])), "TL0553"),
    ] {
        let err = import(&artifact(node.clone()), "g").unwrap_err();
        assert_eq!(err.code(), code, "{node}: {err}");
    }
    let huge = 1u64 << 40;
    let overflow = json!({"format": FORMAT, "input_id": 0, "output_ids": [1], "nodes": [
        {"id": 0, "kind": "input", "parents": [], "shape": [huge, huge, 1, 4, 4]},
        {"id": 1, "kind": "max_pool", "parents": [0], "shape": [huge, huge, 1, 2, 2],
         "spatial_rank": 2, "kernel": [2, 2], "stride": [2, 2], "padding": [0, 0]}]});
    assert_eq!(import(&overflow, "g").unwrap_err().code(), "TL0553");
    let conv = json!({"id": 1, "kind": "conv", "parents": [0], "shape": [1, 1, 3, 3],
        "spatial_rank": 2, "kernel": [2, 2], "stride": [1, 1], "padding": [0, 0],
        "padding_after": [0, 0], "dilation": [1, 1], "groups": 1, "channel_axis": 0,
        "input_spatial": [4, 4], "in_channels": 1, "out_channels": 1,
        "weight": [[[[1, 1], [1, 1]]]], "bias": [0]});
    let conv_artifact = |node: Value| {
        json!({"format": FORMAT, "input_id": 0, "output_ids": [1], "nodes": [
            {"id": 0, "kind": "input", "parents": [], "shape": [1, 4, 4]}, node]})
    };
    let mut ok = conv.clone();
    ok["shape"] = json!([1, 3, 3]);
    assert!(import(&conv_artifact(ok.clone()), "g").is_ok());
    for (key, v, code) in [
        ("channel_axis", json!(1), "TL0553"),
        ("in_channels", json!(2), "TL0553"),
        ("input_spatial", json!([4, 5]), "TL0553"),
        ("groups", json!(0), "TL0553"),
        ("dilation", json!([0, 1]), "TL0553"),
        ("weight", json!([[[1, 1], [1, 1]]]), "TL0554"),
        ("bias", json!([0, 1]), "TL0554"),
        ("weight", json!([[[[1, 1], [1, "x"]]]]), "TL0554"),
    ] {
        let mut n = ok.clone();
        n[key] = v;
        let err = import(&conv_artifact(n.clone()), "g").unwrap_err();
        assert_eq!(err.code(), code, "{key}: {err}");
    }
}

#[test]
fn export_refuses_pooling_torchlean_computes_differently() {
    let mut g = Graph::new("g");
    let x = g.add_input("x", Shape::known(&[1, 1, 5, 5]), DType::F32);
    let pool = |g: &mut Graph, name: &str, op: Op, attrs: Attrs| {
        let id = g
            .add_op(
                name,
                op,
                vec![x],
                attrs.with("kernel_size", AttrValue::Int(2)),
            )
            .unwrap();
        g.add_output(name, id);
    };
    pool(
        &mut g,
        "dilated",
        Op::MaxPool2d,
        Attrs::new().with("dilation", AttrValue::Int(2)),
    );
    pool(
        &mut g,
        "ceil",
        Op::MaxPool2d,
        Attrs::new().with("ceil_mode", AttrValue::Bool(true)),
    );
    pool(
        &mut g,
        "exclusive",
        Op::AvgPool2d,
        Attrs::new()
            .with("padding", AttrValue::Int(1))
            .with("count_include_pad", AttrValue::Bool(false)),
    );
    // Allowed: ceil_mode that adds no window, and count_include_pad = false without padding.
    pool(
        &mut g,
        "ceil_exact",
        Op::AvgPool2d,
        Attrs::new()
            .with("ceil_mode", AttrValue::Bool(true))
            .with("stride", AttrValue::Int(1)),
    );
    pool(
        &mut g,
        "unpadded",
        Op::AvgPool2d,
        Attrs::new().with("count_include_pad", AttrValue::Bool(false)),
    );
    let w = g.add_op("w", Op::Relu, vec![x], Attrs::new()).unwrap();
    let c = g
        .add_op("computed", Op::Conv2d, vec![x, w], Attrs::new())
        .unwrap();
    g.add_output("computed", c);
    let err = export(&g, &BTreeMap::new(), &ExportOptions::default()).unwrap_err();
    assert_eq!(err.code(), "TL0552");
    let TorchLeanError::UnsupportedExport { nodes } = &err else {
        panic!()
    };
    let names: Vec<&str> = nodes.iter().map(|n| n.0.as_str()).collect();
    assert_eq!(names, ["dilated", "ceil", "exclusive", "computed"], "{err}");
    assert!(err.to_string().contains("rounds down to [2, 2]"), "{err}");
}

#[test]
fn conv1d_and_unbatched_pools_round_trip() {
    let mut g = Graph::new("seq");
    let x = g.add_input("x", Shape::known(&[3, 2, 9]), DType::F32);
    let w = g.add_param("w", Shape::known(&[4, 1, 3]), DType::F32);
    let b = g.add_param("b", Shape::known(&[4]), DType::F32);
    let c = g
        .add_op(
            "c",
            Op::Conv1d,
            vec![x, w, b],
            Attrs::new()
                .with("groups", AttrValue::Int(2))
                .with("stride", AttrValue::Int(2))
                .with("padding", AttrValue::Int(1)),
        )
        .unwrap();
    // [C, H, W] pooling (no batch axis) over the conv output [3, 4, 5].
    let p = g
        .add_op(
            "p",
            Op::MaxPool2d,
            vec![c],
            Attrs::new()
                .with("kernel_size", ints(&[2, 3]))
                .with("stride", AttrValue::Int(1)),
        )
        .unwrap();
    g.add_output("p", p);
    let payload: BTreeMap<String, Tensor> = [
        ("w".to_string(), values(&[4, 1, 3], 1)),
        ("b".to_string(), values(&[4], 2)),
    ]
    .into();
    let artifact = export(&g, &payload, &ExportOptions::default()).unwrap();
    assert_eq!(artifact["nodes"][1]["spatial_rank"], 1);
    assert_eq!(artifact["nodes"][1]["weight"][0][1], json!([0.0, 0.0, 0.0]));
    let back = import(&artifact, "seq").unwrap();
    let x = values(&[3, 2, 9], 3);
    assert_eq!(run(&g, &payload, &x), run(&back.graph, &back.payload, &x));
}
