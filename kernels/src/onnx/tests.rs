use super::proto::{
    attribute_proto::AttributeType, tensor_proto::DataLocation, tensor_proto::DataType,
    AttributeProto, GraphProto, ModelProto, NodeProto, OperatorSetIdProto, StringStringEntryProto,
    TensorProto, TypeProto, ValueInfoProto,
};
use super::*;

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
