//! Writing a tl-ir graph as an ONNX model (opset 13), so another tool (onnxruntime, a VNN-LIB
//! verifier) can run or check the same network.
//!
//! Every graph value keeps its tl name as the ONNX value name; params become initializers under
//! their payload keys; symbolic extents become `dim_param`s. The ops written are the ones with a
//! direct ONNX counterpart that the importer reads back to the same op (activations, element-wise
//! arithmetic, maximum/minimum, matmul, linear, flatten over axes 1.., reshape to known extents,
//! pad, constants); any
//! other op is refused with TL0580, never approximated.

use std::collections::HashMap;

use tl_ir::{AttrValue, DType as IrDType, Dim, Graph, NodeKind, Op};

use super::proto::{
    attribute_proto::AttributeType, tensor_proto::DataType, tensor_shape_proto::dimension::Value,
    tensor_shape_proto::Dimension, type_proto, AttributeProto, GraphProto, ModelProto, NodeProto,
    OperatorSetIdProto, TensorProto, TensorShapeProto, TypeProto, ValueInfoProto,
};
use crate::exec::Payload;
use crate::tensor::Tensor;

/// The opset the exporter writes.
pub const EXPORT_OPSET: i64 = 13;

/// TL0580: a graph that cannot be written as ONNX (an op without an export, a param the payload
/// lacks).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("ONNX export, node {node}: {detail}")]
pub struct ExportError {
    pub node: String,
    pub detail: String,
}

impl ExportError {
    pub fn code(&self) -> &'static str {
        "TL0580"
    }
}

fn err(node: &str, detail: impl Into<String>) -> ExportError {
    ExportError {
        node: node.into(),
        detail: detail.into(),
    }
}

fn data_type(d: IrDType) -> DataType {
    match d {
        IrDType::F16 => DataType::Float16,
        IrDType::BF16 => DataType::Bfloat16,
        IrDType::F32 => DataType::Float,
        IrDType::F64 => DataType::Double,
        IrDType::I8 => DataType::Int8,
        IrDType::I32 => DataType::Int32,
        IrDType::I64 => DataType::Int64,
        IrDType::U8 => DataType::Uint8,
        IrDType::Bool => DataType::Bool,
        IrDType::I16 => DataType::Int16,
        IrDType::U16 => DataType::Uint16,
        IrDType::U32 => DataType::Uint32,
        IrDType::U64 => DataType::Uint64,
    }
}

fn value_info(name: &str, dims: &[Dim], dtype: IrDType) -> ValueInfoProto {
    let dim = dims
        .iter()
        .map(|d| Dimension {
            value: Some(match d {
                Dim::Known(v) => Value::DimValue(*v as i64),
                Dim::Sym(s) => Value::DimParam(s.clone()),
            }),
            denotation: String::new(),
        })
        .collect();
    ValueInfoProto {
        name: name.into(),
        r#type: Some(TypeProto {
            value: Some(type_proto::Value::TensorType(type_proto::Tensor {
                elem_type: data_type(dtype) as i32,
                shape: Some(TensorShapeProto { dim }),
            })),
            denotation: String::new(),
        }),
        ..Default::default()
    }
}

/// A float tensor as an initializer of element type `dtype` (f32 or f64 kept exactly).
fn initializer(name: &str, shape: &[usize], data: Vec<f64>, dtype: IrDType) -> TensorProto {
    let mut t = TensorProto {
        name: name.into(),
        dims: shape.iter().map(|&d| d as i64).collect(),
        ..Default::default()
    };
    match dtype {
        IrDType::F64 => {
            t.data_type = DataType::Double as i32;
            t.double_data = data;
        }
        IrDType::I64 | IrDType::I32 | IrDType::I8 | IrDType::U8 | IrDType::Bool => {
            t.data_type = DataType::Int64 as i32;
            t.int64_data = data.iter().map(|&v| v as i64).collect();
        }
        _ => {
            t.data_type = DataType::Float as i32;
            t.float_data = data.iter().map(|&v| v as f32).collect();
        }
    }
    t
}

fn tensor_values(t: &Tensor) -> Vec<f64> {
    t.to_f64().iter().copied().collect()
}

fn node(op: &str, inputs: Vec<String>, output: &str, attribute: Vec<AttributeProto>) -> NodeProto {
    NodeProto {
        input: inputs,
        output: vec![output.into()],
        name: output.into(),
        op_type: op.into(),
        attribute,
        ..Default::default()
    }
}

fn attr_int(name: &str, v: i64) -> AttributeProto {
    AttributeProto {
        name: name.into(),
        r#type: AttributeType::Int as i32,
        i: v,
        ..Default::default()
    }
}

fn attr_float(name: &str, v: f64) -> AttributeProto {
    AttributeProto {
        name: name.into(),
        r#type: AttributeType::Float as i32,
        f: v as f32,
        ..Default::default()
    }
}

fn attr_string(name: &str, v: &str) -> AttributeProto {
    AttributeProto {
        name: name.into(),
        r#type: AttributeType::String as i32,
        s: v.as_bytes().to_vec(),
        ..Default::default()
    }
}

fn attr_ints(name: &str, v: &[i64]) -> AttributeProto {
    AttributeProto {
        name: name.into(),
        r#type: AttributeType::Ints as i32,
        ints: v.to_vec(),
        ..Default::default()
    }
}

/// The graph as an ONNX model with every param from `payload` as an initializer.
pub fn export(graph: &Graph, payload: &dyn Payload) -> Result<ModelProto, ExportError> {
    graph.validate().map_err(|e| err("(graph)", e.message))?;
    let mut g = GraphProto {
        name: graph.name.clone(),
        ..Default::default()
    };
    let names: Vec<&str> = graph.nodes.iter().map(|n| n.name.as_str()).collect();
    let mut used: HashMap<String, usize> = HashMap::new();
    for n in &names {
        *used.entry(n.to_string()).or_default() += 1;
    }
    if let Some((dup, _)) = used.iter().find(|(_, c)| **c > 1) {
        return Err(err(dup, "two nodes share this name"));
    }
    let rank = |id: usize| graph.nodes[id].shape.rank();
    for (id, n) in graph.nodes.iter().enumerate() {
        let name = n.name.as_str();
        let arg = |k: usize| names[n.parents[k]].to_string();
        let args: Vec<String> = n.parents.iter().map(|&p| names[p].to_string()).collect();
        match &n.kind {
            NodeKind::Input => g.input.push(value_info(name, &n.shape.0, n.dtype)),
            NodeKind::Param { key } => {
                let t = payload
                    .load(key)
                    .map_err(|e| err(name, format!("param {key}: {e}")))?;
                g.initializer
                    .push(initializer(name, t.shape(), tensor_values(&t), n.dtype));
            }
            NodeKind::Op { op, attrs } => {
                let simple = |ty: &str| node(ty, args.clone(), name, vec![]);
                let onnx = match op {
                    Op::Relu => simple("Relu"),
                    Op::Sigmoid => simple("Sigmoid"),
                    Op::Tanh => simple("Tanh"),
                    Op::Neg => simple("Neg"),
                    Op::Identity => simple("Identity"),
                    Op::Add => simple("Add"),
                    Op::Sub => simple("Sub"),
                    Op::Mul => simple("Mul"),
                    Op::Div => simple("Div"),
                    Op::Matmul => simple("MatMul"),
                    Op::Prelu => simple("PRelu"),
                    Op::Maximum => simple("Max"),
                    Op::Minimum => simple("Min"),
                    Op::Elu => node(
                        "Elu",
                        args.clone(),
                        name,
                        vec![attr_float("alpha", attrs.float_or_default(*op, "alpha"))],
                    ),
                    Op::Selu => node(
                        "Selu",
                        args.clone(),
                        name,
                        vec![
                            attr_float("alpha", attrs.float_or_default(*op, "alpha")),
                            attr_float("gamma", attrs.float_or_default(*op, "gamma")),
                        ],
                    ),
                    Op::HardSigmoid => node(
                        "HardSigmoid",
                        args.clone(),
                        name,
                        vec![
                            attr_float("alpha", attrs.float_or_default(*op, "alpha")),
                            attr_float("beta", attrs.float_or_default(*op, "beta")),
                        ],
                    ),
                    Op::Pad => {
                        // Opset 13: pads and the fill are inputs.
                        let pads = attrs
                            .ints("pads")
                            .ok_or_else(|| err(name, "pad without pads"))?;
                        let (p, v) = (format!("{name}__pads"), format!("{name}__value"));
                        g.initializer.push(initializer(
                            &p,
                            &[pads.len()],
                            pads.iter().map(|&x| x as f64).collect(),
                            IrDType::I64,
                        ));
                        g.initializer.push(initializer(
                            &v,
                            &[],
                            vec![attrs.float_or_default(*op, "value")],
                            n.dtype,
                        ));
                        node(
                            "Pad",
                            vec![arg(0), p, v],
                            name,
                            vec![attr_string("mode", attrs.str("mode", "constant"))],
                        )
                    }
                    Op::Where => {
                        // ONNX wants a bool condition; tl's is nonzero = true in any dtype.
                        let c = format!("{name}__cond");
                        g.node.push(node(
                            "Cast",
                            vec![arg(0)],
                            &c,
                            vec![attr_int("to", 9)], // TensorProto.BOOL
                        ));
                        node("Where", vec![c, arg(1), arg(2)], name, vec![])
                    }
                    Op::LeakyRelu => node(
                        "LeakyRelu",
                        args.clone(),
                        name,
                        vec![attr_float("alpha", attrs.float("alpha", 0.01))],
                    ),
                    Op::Linear => {
                        // y = x W^T + b: Gemm for a matrix input, MatMul with W^T (+ Add)
                        // otherwise.
                        if rank(n.parents[0]) == 2 {
                            node("Gemm", args.clone(), name, vec![attr_int("transB", 1)])
                        } else {
                            let wt = format!("{name}__weight_t");
                            g.node.push(node(
                                "Transpose",
                                vec![arg(1)],
                                &wt,
                                vec![attr_ints("perm", &[1, 0])],
                            ));
                            if n.parents.len() == 3 {
                                let mm = format!("{name}__matmul");
                                g.node.push(node("MatMul", vec![arg(0), wt], &mm, vec![]));
                                node("Add", vec![mm, arg(2)], name, vec![])
                            } else {
                                node("MatMul", vec![arg(0), wt], name, vec![])
                            }
                        }
                    }
                    Op::Flatten => {
                        let start = attrs.int("start_dim", 1);
                        let end = attrs.int("end_dim", -1);
                        let r = rank(n.parents[0]) as i64;
                        if start != 1 || (end != -1 && end != r - 1) {
                            return Err(err(
                                name,
                                format!("flatten(start_dim = {start}, end_dim = {end}) has no ONNX Flatten (axis 1 to the end only)"),
                            ));
                        }
                        node("Flatten", args.clone(), name, vec![attr_int("axis", 1)])
                    }
                    Op::Reshape => {
                        let shape = attrs
                            .ints("shape")
                            .ok_or_else(|| err(name, "reshape without a shape"))?;
                        let s = format!("{name}__shape");
                        g.initializer.push(initializer(
                            &s,
                            &[shape.len()],
                            shape.iter().map(|&v| v as f64).collect(),
                            IrDType::I64,
                        ));
                        node("Reshape", vec![arg(0), s], name, vec![])
                    }
                    Op::Constant => {
                        let (shape, data): (Vec<usize>, Vec<f64>) = match attrs.get("value") {
                            Some(AttrValue::Tensor { shape, data }) => {
                                (shape.iter().map(|&d| d as usize).collect(), data.clone())
                            }
                            Some(AttrValue::Ints(v)) => {
                                (vec![v.len()], v.iter().map(|&x| x as f64).collect())
                            }
                            Some(v) => (
                                vec![],
                                vec![v
                                    .as_f64()
                                    .ok_or_else(|| err(name, "a constant that is not a number"))?],
                            ),
                            None => return Err(err(name, "a constant without a value")),
                        };
                        g.initializer
                            .push(initializer(name, &shape, data, n.dtype));
                        continue;
                    }
                    other => {
                        return Err(err(
                            name,
                            format!(
                                "op {} has no ONNX export (exported: relu, sigmoid, tanh, leaky_relu, elu, selu, hard_sigmoid, prelu, neg, identity, add, sub, mul, div, maximum, minimum, matmul, linear, flatten, reshape, pad, where, constant; hard_swish and trilu need opset 14)",
                                other.name()
                            ),
                        ))
                    }
                };
                g.node.push(onnx);
            }
        }
        let _ = id;
    }
    for (out, id) in &graph.outputs {
        let n = &graph.nodes[*id];
        if *out != n.name {
            if used.contains_key(out) {
                return Err(err(out, "an output named like another node"));
            }
            g.node
                .push(node("Identity", vec![n.name.clone()], out, vec![]));
        }
        g.output.push(value_info(out, &n.shape.0, n.dtype));
    }
    Ok(ModelProto {
        ir_version: 8,
        producer_name: "tl".into(),
        producer_version: env!("CARGO_PKG_VERSION").into(),
        opset_import: vec![OperatorSetIdProto {
            domain: String::new(),
            version: EXPORT_OPSET,
        }],
        graph: Some(g),
        ..Default::default()
    })
}

/// The model's bytes.
pub fn export_bytes(graph: &Graph, payload: &dyn Payload) -> Result<Vec<u8>, ExportError> {
    use prost::Message;
    Ok(export(graph, payload)?.encode_to_vec())
}
