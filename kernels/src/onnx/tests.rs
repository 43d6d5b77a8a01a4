use super::proto::{
    attribute_proto::AttributeType, tensor_proto::DataLocation, tensor_proto::DataType,
    AttributeProto, GraphProto, ModelProto, NodeProto, OperatorSetIdProto, StringStringEntryProto,
    TensorProto, TypeProto, ValueInfoProto,
};
use super::*;
use std::collections::BTreeMap;

fn value(name: &str, dims: &[i64]) -> ValueInfoProto {
    use super::proto::{
        tensor_shape_proto::dimension::Value as D, tensor_shape_proto::Dimension, type_proto,
    };
    let dim = dims
        .iter()
        .map(|&d| Dimension {
            value: Some(if d < 0 {
                D::DimParam("batch".into())
            } else {
                D::DimValue(d)
            }),
            denotation: String::new(),
        })
        .collect();
    ValueInfoProto {
        name: name.into(),
        r#type: Some(TypeProto {
            value: Some(type_proto::Value::TensorType(type_proto::Tensor {
                elem_type: DataType::Float as i32,
                shape: Some(super::proto::TensorShapeProto { dim }),
            })),
            denotation: String::new(),
        }),
        ..Default::default()
    }
}

fn float_tensor(name: &str, dims: &[i64], data: &[f32]) -> TensorProto {
    TensorProto {
        name: name.into(),
        dims: dims.to_vec(),
        data_type: DataType::Float as i32,
        float_data: data.to_vec(),
        ..Default::default()
    }
}

fn gemm_model(weight: TensorProto) -> ModelProto {
    ModelProto {
        ir_version: 8,
        opset_import: vec![OperatorSetIdProto {
            domain: String::new(),
            version: 13,
        }],
        producer_name: "test".into(),
        graph: Some(GraphProto {
            name: "g".into(),
            node: vec![NodeProto {
                input: vec!["x".into(), "W".into()],
                output: vec!["y".into()],
                op_type: "Gemm".into(),
                attribute: vec![AttributeProto {
                    name: "transB".into(),
                    r#type: AttributeType::Int as i32,
                    i: 1,
                    ..Default::default()
                }],
                ..Default::default()
            }],
            initializer: vec![weight],
            // Old-style graph: the initializer is listed as an input too.
            input: vec![value("x", &[-1, 2]), value("W", &[3, 2])],
            output: vec![value("y", &[-1, 3])],
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn decode(m: &ModelProto) -> PayloadResult<OnnxModel> {
    decode_model(Path::new("mem.onnx"), Path::new("."), &m.encode_to_vec())
}

#[test]
fn decodes_graph_inputs_nodes_and_initializers() {
    let m = decode(&gemm_model(float_tensor(
        "W",
        &[3, 2],
        &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0],
    )))
    .unwrap();
    assert_eq!(m.opset, 13);
    assert_eq!(
        m.inputs.len(),
        1,
        "initializers listed as inputs are not runtime inputs"
    );
    assert_eq!(
        m.inputs[0].shape,
        Some(vec![Dim::Param("batch".into()), Dim::Fixed(2)])
    );
    assert_eq!(m.inputs[0].dtype, Some(DType::F32));
    assert_eq!(m.nodes[0].name, "Gemm_0");
    assert_eq!(m.nodes[0].attributes["transB"], Attribute::Int(1));
    assert_eq!(
        m.initializers["W"],
        Tensor::from_f32(&[3, 2], vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0]).unwrap()
    );
}

#[test]
fn raw_and_typed_fields_decode_alike() {
    let raw: Vec<u8> = [1i64, -2, 3].iter().flat_map(|v| v.to_le_bytes()).collect();
    let ctx = TensorSource {
        path: "mem",
        base_dir: Path::new("."),
    };
    let t = TensorProto {
        name: "a".into(),
        dims: vec![3],
        data_type: DataType::Int64 as i32,
        raw_data: raw,
        ..Default::default()
    };
    let typed = TensorProto {
        raw_data: vec![],
        int64_data: vec![1, -2, 3],
        ..t.clone()
    };
    assert_eq!(
        tensor_from_proto(&ctx, &t).unwrap(),
        tensor_from_proto(&ctx, &typed).unwrap()
    );
    let half = TensorProto {
        name: "h".into(),
        dims: vec![2],
        data_type: DataType::Float16 as i32,
        int32_data: vec![0x3c00, 0xc000],
        ..Default::default()
    };
    assert_eq!(
        tensor_from_proto(&ctx, &half).unwrap(),
        Tensor::from_f32(&[2], vec![1.0, -2.0]).unwrap()
    );
    let bools = TensorProto {
        name: "b".into(),
        dims: vec![2],
        data_type: DataType::Bool as i32,
        int32_data: vec![0, 5],
        ..Default::default()
    };
    assert_eq!(
        tensor_from_proto(&ctx, &bools).unwrap(),
        Tensor::from_i64(&[2], vec![0, 1]).unwrap()
    );
    let scalar = float_tensor("s", &[], &[2.5]);
    assert_eq!(
        tensor_from_proto(&ctx, &scalar).unwrap().shape(),
        &[] as &[usize]
    );
}

#[test]
fn corrupt_tensors_and_models_get_codes() {
    let short = float_tensor("W", &[3, 2], &[1.0]);
    assert_eq!(decode(&gemm_model(short)).unwrap_err().code(), "TL0311");
    let neg = float_tensor("W", &[-3, 2], &[]);
    assert_eq!(decode(&gemm_model(neg)).unwrap_err().code(), "TL0311");
    let raw_short = TensorProto {
        raw_data: vec![0; 5],
        float_data: vec![],
        ..float_tensor("W", &[3, 2], &[])
    };
    assert_eq!(decode(&gemm_model(raw_short)).unwrap_err().code(), "TL0304");
    let huge = TensorProto {
        dims: vec![i64::MAX, i64::MAX],
        ..float_tensor("W", &[], &[])
    };
    assert_eq!(decode(&gemm_model(huge)).unwrap_err().code(), "TL0305");
    let strings = TensorProto {
        data_type: DataType::String as i32,
        ..float_tensor("W", &[1], &[])
    };
    assert_eq!(decode(&gemm_model(strings)).unwrap_err().code(), "TL0303");
    let unknown = TensorProto {
        data_type: 999,
        ..float_tensor("W", &[1], &[1.0])
    };
    assert_eq!(decode(&gemm_model(unknown)).unwrap_err().code(), "TL0311");
    let no_graph = ModelProto {
        graph: None,
        ..gemm_model(float_tensor("W", &[1], &[1.0]))
    };
    assert_eq!(decode(&no_graph).unwrap_err().code(), "TL0313");
    let err =
        decode_model(Path::new("x.onnx"), Path::new("."), b"\xff\xff\xff garbage").unwrap_err();
    assert_eq!(err.code(), "TL0310");
    assert_eq!(
        load(Path::new("/nonexistent/model.onnx"))
            .unwrap_err()
            .code(),
        "TL0301"
    );
}

#[test]
fn external_data_is_read_relative_to_the_model() {
    let dir = std::env::temp_dir().join(format!("tl-onnx-ext-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut blob = vec![0u8; 4];
    blob.extend(
        [1.0f32, 2.0, 3.0, 4.0, 5.0, 6.0]
            .iter()
            .flat_map(|v| v.to_le_bytes()),
    );
    std::fs::write(dir.join("weights.bin"), &blob).unwrap();
    let entry = |k: &str, v: &str| StringStringEntryProto {
        key: k.into(),
        value: v.into(),
    };
    let ext = TensorProto {
        data_location: DataLocation::External as i32,
        external_data: vec![
            entry("location", "weights.bin"),
            entry("offset", "4"),
            entry("length", "24"),
        ],
        float_data: vec![],
        ..float_tensor("W", &[3, 2], &[])
    };
    let path = dir.join("m.onnx");
    std::fs::write(&path, gemm_model(ext.clone()).encode_to_vec()).unwrap();
    let m = load(&path).unwrap();
    assert_eq!(
        m.initializers["W"],
        Tensor::from_f32(&[3, 2], vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0]).unwrap()
    );

    let escape = TensorProto {
        external_data: vec![entry("location", "../weights.bin")],
        ..ext.clone()
    };
    std::fs::write(&path, gemm_model(escape).encode_to_vec()).unwrap();
    assert_eq!(load(&path).unwrap_err().code(), "TL0312");
    let beyond = TensorProto {
        external_data: vec![entry("location", "weights.bin"), entry("offset", "8")],
        ..ext.clone()
    };
    std::fs::write(&path, gemm_model(beyond).encode_to_vec()).unwrap();
    assert_eq!(load(&path).unwrap_err().code(), "TL0312");
    let missing = TensorProto {
        external_data: vec![entry("location", "nope.bin")],
        ..ext
    };
    std::fs::write(&path, gemm_model(missing).encode_to_vec()).unwrap();
    assert_eq!(load(&path).unwrap_err().code(), "TL0312");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// The path of a file under the shared reference data, or None (with a printed reason).
pub(crate) fn shared_file(rel: &str) -> Option<PathBuf> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../shared")
        .join(rel);
    if p.exists() {
        Some(p)
    } else {
        eprintln!("skipping: {} is absent", p.display());
        None
    }
}

#[test]
fn loads_acasxu_network() {
    let Some(path) = shared_file("acasxu/ACASXU_run2a_1_1_batch_2000.onnx") else {
        return;
    };
    let m = load(&path).unwrap();
    assert_eq!(m.inputs.len(), 1);
    assert_eq!(m.outputs.len(), 1);
    let ops: Vec<&str> = m.nodes.iter().map(|n| n.op_type.as_str()).collect();
    assert!(!ops.is_empty());
    // ACAS Xu: 5 inputs, 6 hidden layers of 50 ReLUs, 5 outputs.
    let weights: Vec<&Tensor> = m
        .initializers
        .values()
        .filter(|t| t.shape().len() == 2)
        .collect();
    assert_eq!(weights.len(), 7, "ops: {ops:?}");
    assert!(weights
        .iter()
        .all(|t| t.shape().contains(&50) || t.shape() == [5, 5]));
    assert!(m.initializers.values().all(|t| t.dtype() == DType::F32));
}

#[test]
fn acasxu_imports_and_matches_a_direct_forward_pass() {
    let Some(path) = shared_file("acasxu/ACASXU_run2a_1_1_batch_2000.onnx") else {
        return;
    };
    let m = load(&path).unwrap();
    let imported = import(&m).unwrap();
    let x = Tensor::from_f64(&[1, 1, 1, 5], vec![0.3, -0.2, 0.1, 0.4, -0.45]).unwrap();
    let inputs: BTreeMap<String, Tensor> = [("input".to_string(), x.clone())].into();
    let reference = crate::denote(&imported.graph, &imported.payload, &inputs).unwrap();
    let y_ref = reference.output("linear_7_Add").unwrap().to_f64();

    // Independent forward pass straight from the initializers.
    let w = |k: &str| m.initializers[k].to_f64();
    let mut h = (&x.to_f64() - &w("input_AvgImg"))
        .into_shape_with_order((1, 5))
        .unwrap()
        .into_dyn();
    for layer in 1..=7 {
        let prefix = if layer == 7 {
            "linear_7".to_string()
        } else {
            format!("Operation_{layer}")
        };
        let wm = w(&format!("{prefix}_MatMul_W"))
            .into_dimensionality::<ndarray::Ix2>()
            .unwrap();
        let h2 = h.into_dimensionality::<ndarray::Ix2>().unwrap().dot(&wm)
            + &w(&format!("{prefix}_Add_B"));
        h = if layer == 7 {
            h2.into_dyn()
        } else {
            h2.mapv(|v| v.max(0.0)).into_dyn()
        };
    }
    assert_eq!(y_ref.shape(), &[1, 5]);
    for (a, b) in y_ref.iter().zip(h.iter()) {
        assert!((a - b).abs() <= 1e-9 * b.abs().max(1.0), "{y_ref} vs {h}");
    }
    let plan = crate::compile(&imported.graph, &imported.payload).unwrap();
    let y32 = plan.run(&inputs).unwrap()["linear_7_Add"].to_f64();
    for (a, b) in y32.iter().zip(h.iter()) {
        assert!((a - b).abs() <= 1e-4 * b.abs().max(1.0));
    }
}

fn node(op: &str, inputs: &[&str], output: &str, attrs: Vec<AttributeProto>) -> NodeProto {
    NodeProto {
        name: format!("n_{output}"),
        op_type: op.into(),
        input: inputs.iter().map(|s| s.to_string()).collect(),
        output: vec![output.into()],
        attribute: attrs,
        ..Default::default()
    }
}

fn ints_attr(name: &str, v: &[i64]) -> AttributeProto {
    AttributeProto {
        name: name.into(),
        r#type: AttributeType::Ints as i32,
        ints: v.to_vec(),
        ..Default::default()
    }
}

fn int_attr(name: &str, v: i64) -> AttributeProto {
    AttributeProto {
        name: name.into(),
        r#type: AttributeType::Int as i32,
        i: v,
        ..Default::default()
    }
}

fn model_of(
    opset: i64,
    nodes: Vec<NodeProto>,
    inits: Vec<TensorProto>,
    input: ValueInfoProto,
    output: &str,
) -> OnnxModel {
    let m = ModelProto {
        ir_version: 8,
        opset_import: vec![OperatorSetIdProto {
            domain: String::new(),
            version: opset,
        }],
        graph: Some(GraphProto {
            name: "t".into(),
            node: nodes,
            initializer: inits,
            input: vec![input],
            output: vec![ValueInfoProto {
                name: output.into(),
                ..Default::default()
            }],
            ..Default::default()
        }),
        ..Default::default()
    };
    decode(&m).unwrap()
}

#[test]
fn unsupported_ops_are_listed_together() {
    let nodes = vec![
        node("Relu", &["x"], "a", vec![]),
        node("Sin", &["a"], "b", vec![]),
        node("Cos", &["b"], "c", vec![]),
    ];
    let m = model_of(13, nodes, vec![], value("x", &[2]), "c");
    let err = import(&m).unwrap_err();
    assert_eq!(err.code(), "TL0520");
    let text = err.to_string();
    assert!(
        text.contains("Sin (node n_b)") && text.contains("Cos (node n_c)"),
        "{text}"
    );
}

#[test]
fn cnn_ops_import_and_run() {
    // x[1,1,4,4] -> Conv(2 filters 3x3, pad 1) -> BatchNorm -> Relu -> MaxPool 2x2 -> Flatten
    //   -> Gemm(transB = 0, so the importer re-lays the weight out) -> Softmax
    let conv_w = float_tensor(
        "cw",
        &[2, 1, 3, 3],
        &[
            0.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0,
            1.0,
        ],
    );
    let bn = |n: &str, v: &[f32]| float_tensor(n, &[2], v);
    let gemm_b = float_tensor(
        "gb",
        &[8, 3],
        &(0..24).map(|i| (i % 5) as f32 * 0.1).collect::<Vec<_>>(),
    );
    let nodes = vec![
        node(
            "Conv",
            &["x", "cw"],
            "c",
            vec![
                ints_attr("pads", &[1, 1, 1, 1]),
                ints_attr("kernel_shape", &[3, 3]),
            ],
        ),
        node(
            "BatchNormalization",
            &["c", "s", "b", "m", "v"],
            "bn",
            vec![],
        ),
        node("Relu", &["bn"], "r", vec![]),
        node(
            "MaxPool",
            &["r"],
            "p",
            vec![
                ints_attr("kernel_shape", &[2, 2]),
                ints_attr("strides", &[2, 2]),
            ],
        ),
        node("Flatten", &["p"], "f", vec![int_attr("axis", 1)]),
        node("Gemm", &["f", "gb"], "g", vec![]),
        node("Softmax", &["g"], "y", vec![int_attr("axis", -1)]),
    ];
    let inits = vec![
        conv_w,
        bn("s", &[1.0, 0.5]),
        bn("b", &[0.0, 0.1]),
        bn("m", &[0.0, 1.0]),
        bn("v", &[1.0, 4.0]),
        gemm_b,
    ];
    let m = model_of(13, nodes, inits, value("x", &[1, 1, 4, 4]), "y");
    let imported = import(&m).unwrap();
    assert!(imported.payload.contains_key("gb.T"));
    let x = Tensor::from_f64(
        &[1, 1, 4, 4],
        (0..16).map(|i| i as f64 / 8.0 - 1.0).collect(),
    )
    .unwrap();
    let inputs: BTreeMap<String, Tensor> = [("x".to_string(), x)].into();
    let d = crate::denote(&imported.graph, &imported.payload, &inputs).unwrap();
    let y = d.output("y").unwrap().to_f64();
    assert_eq!(y.shape(), &[1, 3]);
    assert!((y.sum() - 1.0).abs() < 1e-12);
    // The Gemm equals flatten @ B computed directly.
    let f = d
        .get("f")
        .unwrap()
        .to_f64()
        .into_dimensionality::<ndarray::Ix2>()
        .unwrap();
    let b = m.initializers["gb"]
        .to_f64()
        .into_dimensionality::<ndarray::Ix2>()
        .unwrap();
    let g = d.get("g").unwrap().to_f64();
    for (a, b) in g.iter().zip(f.dot(&b).iter()) {
        assert!((a - b).abs() < 1e-12);
    }
    let got = crate::compile(&imported.graph, &imported.payload)
        .unwrap()
        .run(&inputs)
        .unwrap();
    assert!(got["y"]
        .to_f64()
        .iter()
        .zip(y.iter())
        .all(|(a, b)| (a - b).abs() < 1e-6));
}

#[test]
fn structural_ops_read_constant_inputs() {
    let shape = TensorProto {
        name: "shape".into(),
        dims: vec![2],
        data_type: DataType::Int64 as i32,
        int64_data: vec![0, -1],
        ..Default::default()
    };
    let i64s = |name: &str, v: &[i64]| TensorProto {
        name: name.into(),
        dims: vec![v.len() as i64],
        data_type: DataType::Int64 as i32,
        int64_data: v.to_vec(),
        ..Default::default()
    };
    let nodes = vec![
        node("Reshape", &["x", "shape"], "r", vec![]),
        node("Slice", &["r", "st", "en", "ax"], "s", vec![]),
        node("Unsqueeze", &["s", "ua"], "u", vec![]),
        node(
            "ReduceSum",
            &["u", "ra"],
            "y",
            vec![int_attr("keepdims", 0)],
        ),
    ];
    let inits = vec![
        shape,
        i64s("st", &[1, 0]),
        i64s("en", &[i64::MAX, 2]),
        i64s("ax", &[1, 0]),
        i64s("ua", &[0]),
        i64s("ra", &[2]),
    ];
    let m = model_of(13, nodes, inits, value("x", &[2, 2, 3]), "y");
    let imported = import(&m).unwrap();
    let x = Tensor::from_f64(&[2, 2, 3], (0..12).map(f64::from).collect()).unwrap();
    let inputs: BTreeMap<String, Tensor> = [("x".to_string(), x)].into();
    let d = crate::denote(&imported.graph, &imported.payload, &inputs).unwrap();
    // r = [[0..6], [6..12]]; s = rows 0..2, columns 1.. -> [[1..6], [7..12]]; u adds axis 0;
    // y sums columns: [1+2+3+4+5, 7+8+9+10+11] with shape [1, 2].
    assert_eq!(
        d.output("y").unwrap(),
        &Tensor::from_f64(&[1, 2], vec![15.0, 45.0]).unwrap()
    );
    let dynamic = vec![node("Reshape", &["x", "x"], "y", vec![])];
    let m = model_of(13, dynamic, vec![], value("x", &[2]), "y");
    let err = import(&m).unwrap_err();
    // A reshape target computed from tensor data: the shape-folding refusal, naming the node.
    assert_eq!(err.code(), "TL0570");
    assert!(
        err.to_string().contains("n_y") && err.to_string().contains("tensor data"),
        "{err}"
    );
}

#[test]
fn zoo_ops_export_and_import_back_to_the_same_values() {
    use tl_ir::{AttrValue, Attrs, DType as IrDType, Graph, Op, Shape};
    let mut g = Graph::new("zoo");
    let x = g.add_input("x", Shape::known(&[2, 3, 4, 4]), IrDType::F32);
    let slope = g.add_param("slope", Shape::known(&[3, 1, 1]), IrDType::F32);
    let f = |v: f64| AttrValue::Float(v);
    let e = g
        .add_op("e", Op::Elu, vec![x], Attrs::new().with("alpha", f(0.5)))
        .unwrap();
    let s = g.add_op("s", Op::Selu, vec![e], Attrs::new()).unwrap();
    let h = g
        .add_op(
            "h",
            Op::HardSigmoid,
            vec![x],
            Attrs::new().with("alpha", f(0.25)).with("beta", f(0.375)),
        )
        .unwrap();
    let p = g
        .add_op("p", Op::Prelu, vec![s, slope], Attrs::new())
        .unwrap();
    let mx = g
        .add_op("mx", Op::Maximum, vec![p, h], Attrs::new())
        .unwrap();
    let mn = g
        .add_op("mn", Op::Minimum, vec![mx, x], Attrs::new())
        .unwrap();
    let padded = g
        .add_op(
            "pd",
            Op::Pad,
            vec![mn],
            Attrs::new()
                .with("pads", AttrValue::Ints(vec![0, 0, 1, 2, 0, 1, 3, 0]))
                .with("mode", AttrValue::Str("reflect".into())),
        )
        .unwrap();
    g.add_output("y", padded);
    let payload: BTreeMap<String, Tensor> = [(
        "slope".to_string(),
        Tensor::from_f32(&[3, 1, 1], vec![0.1, -0.3, 0.7]).unwrap(),
    )]
    .into();
    let bytes = export_bytes(&g, &payload).unwrap();
    let model = decode_model(Path::new("zoo.onnx"), Path::new("."), &bytes).unwrap();
    let back = import(&model).unwrap();
    let ops: Vec<Op> = back
        .graph
        .nodes
        .iter()
        .filter_map(|n| match n.kind {
            tl_ir::NodeKind::Op { op, .. } => Some(op),
            _ => None,
        })
        .collect();
    for op in [
        Op::Elu,
        Op::Selu,
        Op::HardSigmoid,
        Op::Prelu,
        Op::Maximum,
        Op::Minimum,
        Op::Pad,
    ] {
        assert!(ops.contains(&op), "{} not read back: {ops:?}", op.name());
    }
    let data: Vec<f32> = (0..96)
        .map(|i| ((i * 37 % 23) as f32 - 11.0) * 0.3)
        .collect();
    let inputs: BTreeMap<String, Tensor> = [(
        "x".to_string(),
        Tensor::from_f32(&[2, 3, 4, 4], data).unwrap(),
    )]
    .into();
    let want = crate::denote(&g, &payload, &inputs).unwrap();
    let got = crate::denote(&back.graph, &back.payload, &inputs).unwrap();
    let (w, o) = (
        want.output("y").unwrap().to_f64(),
        got.output("y").unwrap().to_f64(),
    );
    assert_eq!(w.shape(), &[2, 4, 8, 6]);
    // Float attributes travel as f32 (selu's defaults are not exact in f32).
    let worst = w
        .iter()
        .zip(o.iter())
        .map(|(a, b)| (a - b).abs())
        .fold(0.0, f64::max);
    assert!(worst < 1e-6, "{worst}");
}

/// The ONNX models of the repository's fixtures, fuzz seeds and spec-examples (generated by other tools).
fn repo_onnx_models() -> Vec<std::path::PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut out = Vec::new();
    for dir in [
        "tests/fixtures/onnx",
        "fuzz/seeds/onnx",
        "spec-examples/models",
    ] {
        let Ok(entries) = std::fs::read_dir(root.join(dir)) else {
            continue;
        };
        out.extend(
            entries
                .flatten()
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|x| x == "onnx")),
        );
    }
    out.sort();
    out
}

fn header_keeping(path: &Path, keep: u64) -> PayloadResult<OnnxModel> {
    let bytes = std::fs::read(path).unwrap();
    let len = bytes.len() as u64;
    header::decode_header_keeping(
        path,
        Path::new("."),
        std::io::Cursor::new(&bytes),
        len,
        keep,
    )
}

#[test]
fn header_only_import_gives_the_full_import_graph() {
    let models = repo_onnx_models();
    assert!(models.len() >= 4, "{models:?}");
    let (mut compared, mut dropped) = (0, 0);
    for path in &models {
        let full = load(path);
        // 64 bytes: shape tensors are read, weights are not.
        let header = header_keeping(path, 64);
        let (full, header) = match (full, header) {
            (Ok(f), Ok(h)) => (f, h),
            (Err(f), Err(h)) => {
                assert_eq!(f.code(), h.code(), "{}", path.display());
                continue;
            }
            (f, h) => panic!("{}: full {f:?} vs header {h:?}", path.display()),
        };
        assert_eq!(full.headers, header.headers, "{}", path.display());
        assert_eq!(full.inputs, header.inputs, "{}", path.display());
        assert_eq!(full.nodes, header.nodes, "{}", path.display());
        for (name, t) in &header.initializers {
            assert_eq!(Some(t), full.initializers.get(name), "{}", path.display());
        }
        dropped += full.initializers.len() - header.initializers.len();
        match (import(&full), import(&header)) {
            (Ok(f), Ok(h)) => {
                assert_eq!(f.graph, h.graph, "{}", path.display());
                compared += 1;
            }
            (Err(f), Err(h)) => assert_eq!(f.to_string(), h.to_string()),
            (f, h) => panic!("{}: {:?} vs {:?}", path.display(), f.err(), h.err()),
        }
    }
    assert!(compared >= 3, "only {compared} models imported");
    assert!(dropped > 0, "no initializer was large enough to skip");
}

#[test]
fn header_only_gemm_weight_keeps_the_relaid_out_type() {
    // Gemm without transB: the importer stores W^T; the header gives the same param type.
    let mut seed = 7u64;
    let data: Vec<f32> = (0..6)
        .map(|_| {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (seed >> 40) as f32 / (1u64 << 24) as f32 - 0.5
        })
        .collect();
    let mut m = gemm_model(float_tensor("W", &[2, 3], &data));
    m.graph.as_mut().unwrap().node[0].attribute.clear();
    let bytes = m.encode_to_vec();
    let full = decode(&m).unwrap();
    let header = header::decode_header_keeping(
        Path::new("mem.onnx"),
        Path::new("."),
        std::io::Cursor::new(&bytes),
        bytes.len() as u64,
        0,
    )
    .unwrap();
    assert!(header.initializers.is_empty() && !full.initializers.is_empty());
    assert_eq!(import(&full).unwrap().graph, import(&header).unwrap().graph);
    assert!(import(&header).unwrap().payload.is_empty());
}

#[test]
fn truncated_models_are_coded_errors_in_the_header_reader() {
    for path in repo_onnx_models() {
        let bytes = std::fs::read(&path).unwrap();
        for cut in [1, bytes.len() / 3, bytes.len() / 2, bytes.len() - 1] {
            let part = &bytes[..cut];
            let r = header::decode_header_keeping(
                &path,
                Path::new("."),
                std::io::Cursor::new(part),
                cut as u64,
                64,
            );
            if let Err(e) = r {
                assert!(e.code().starts_with("TL03"), "{e}");
            }
        }
    }
}

#[test]
fn where_exports_with_a_bool_cast_and_imports_back_and_trilu_export_is_refused() {
    use tl_ir::{AttrValue, Attrs, DType as IrDType, Graph, Op, Shape};
    let mut g = Graph::new("masked");
    let x = g.add_input("x", Shape::known(&[2, 3, 3]), IrDType::F32);
    let mask = g
        .add_op(
            "mask",
            Op::Constant,
            vec![],
            Attrs::new()
                .with(
                    "value",
                    AttrValue::Tensor {
                        shape: vec![3, 3],
                        data: vec![1.0, 0.0, 0.0, 1.0, 1.0, 0.0, 1.0, 1.0, 1.0],
                    },
                )
                .with("dtype", AttrValue::Str("i64".into())),
        )
        .unwrap();
    let fill = g
        .add_op(
            "fill",
            Op::Constant,
            vec![],
            Attrs::new().with("value", AttrValue::Float(-1e9)),
        )
        .unwrap();
    let wh = g
        .add_op("wh", Op::Where, vec![mask, x, fill], Attrs::new())
        .unwrap();
    g.add_output("y", wh);
    let payload: BTreeMap<String, Tensor> = BTreeMap::new();
    let bytes = export_bytes(&g, &payload).unwrap();
    let model = decode_model(Path::new("w.onnx"), Path::new("."), &bytes).unwrap();
    let back = import(&model).unwrap();
    let data: Vec<f32> = (0..18).map(|i| ((i * 7 % 11) as f32 - 5.0) * 0.5).collect();
    let inputs: BTreeMap<String, Tensor> =
        [("x".to_string(), Tensor::from_f32(&[2, 3, 3], data).unwrap())].into();
    let want = crate::denote(&g, &payload, &inputs).unwrap();
    let got = crate::denote(&back.graph, &back.payload, &inputs).unwrap();
    assert_eq!(
        want.output("y").unwrap().to_f64(),
        got.output("y").unwrap().to_f64()
    );
    let w = want.output("y").unwrap().to_f64();
    assert_eq!(w[[1, 0, 1]], -1e9);

    let mut t = Graph::new("tri");
    let x = t.add_input("x", Shape::known(&[3, 3]), IrDType::F32);
    let tr = t.add_op("tr", Op::Trilu, vec![x], Attrs::new()).unwrap();
    t.add_output("y", tr);
    let e = export_bytes(&t, &payload).unwrap_err();
    assert!(e.to_string().contains("trilu"), "{e}");
}
