//! ONNX -> tl graph for the verifier's inputs (VNN-COMP networks), on top of tl-kernels' ONNX
//! loader. Covers the feed-forward ops VNN-COMP benchmarks such as ACAS Xu use (Sub/Add/Mul/Div,
//! MatMul, Gemm, Conv, Relu, LeakyRelu, Sigmoid, Tanh, Flatten, Reshape, Identity, Dropout).
//! When tl-kernels ships its general importer, this module should defer to it.

use std::collections::HashMap;
use std::path::Path;

use ndarray::ArrayD;
use tl_ir::{AttrValue, Attrs, DType, Graph, Op, Shape};
use tl_kernels::onnx::{self, Attribute, Dim};

use crate::error::{codes, BoundsError, Result};

/// A graph and its weights (by param key).
pub struct Imported {
    pub graph: Graph,
    pub weights: HashMap<String, ArrayD<f64>>,
}

fn err(msg: impl Into<String>) -> BoundsError {
    BoundsError::new(codes::ONNX, msg)
}

/// Loads an ONNX file into a tl graph with one input and one output.
pub fn load_onnx(path: &Path) -> Result<Imported> {
    let model = onnx::load(path).map_err(|e| err(format!("{}: {e}", path.display())))?;
    if model.inputs.len() != 1 || model.outputs.len() != 1 {
        return Err(err(format!(
            "{}: the verifier needs one input and one output, the model has {} and {}",
            path.display(),
            model.inputs.len(),
            model.outputs.len()
        )));
    }
    let mut g = Graph::new(model.graph_name.clone());
    let mut weights = HashMap::new();
    let mut ids: HashMap<String, usize> = HashMap::new();
    let input = &model.inputs[0];
    let dims: Vec<u64> = input
        .shape
        .as_ref()
        .ok_or_else(|| err(format!("input {} has no declared shape", input.name)))?
        .iter()
        .map(|d| match d {
            Dim::Fixed(n) if *n > 0 => *n as u64,
            _ => 1, // symbolic batch: verify one sample
        })
        .collect();
    ids.insert(
        input.name.clone(),
        g.add_input(&input.name, Shape::known(&dims), DType::F32),
    );
    let mut consts: HashMap<String, ArrayD<f64>> = HashMap::new();
    for (name, t) in &model.initializers {
        consts.insert(name.clone(), t.to_f64());
    }
    let param = |g: &mut Graph,
                 ids: &mut HashMap<String, usize>,
                 weights: &mut HashMap<String, ArrayD<f64>>,
                 name: &str,
                 value: ArrayD<f64>| {
        if let Some(&id) = ids.get(name) {
            return id;
        }
        let shape: Vec<u64> = value.shape().iter().map(|&d| d as u64).collect();
        let id = g.add_param(name, Shape::known(&shape), DType::F32);
        weights.insert(name.to_string(), value);
        ids.insert(name.to_string(), id);
        id
    };
    for node in &model.nodes {
        let mut parents = Vec::new();
        for i in node.inputs.iter().filter(|i| !i.is_empty()) {
            let id = match ids.get(i) {
                Some(&id) => id,
                None => match consts.get(i) {
                    Some(v) => param(&mut g, &mut ids, &mut weights, i, v.clone()),
                    None => return Err(err(format!("{}: input {i} is undefined", node.name))),
                },
            };
            parents.push(id);
        }
        let int = |k: &str, d: i64| match node.attributes.get(k) {
            Some(Attribute::Int(v)) => *v,
            _ => d,
        };
        let ints = |k: &str| match node.attributes.get(k) {
            Some(Attribute::Ints(v)) => Some(v.clone()),
            _ => None,
        };
        let float = |k: &str, d: f64| match node.attributes.get(k) {
            Some(Attribute::Float(v)) => *v as f64,
            _ => d,
        };
        let shape_of =
            |g: &Graph, id: usize| -> Vec<u64> { g.nodes[id].shape.as_known().unwrap_or_default() };
        let (op, attrs, parents) = match node.op_type.as_str() {
            "Add" => (Op::Add, Attrs::new(), parents),
            "Sub" => (Op::Sub, Attrs::new(), parents),
            "Mul" => (Op::Mul, Attrs::new(), parents),
            "Div" => (Op::Div, Attrs::new(), parents),
            "MatMul" => (Op::Matmul, Attrs::new(), parents),
            "Relu" => (Op::Relu, Attrs::new(), parents),
            "Sigmoid" => (Op::Sigmoid, Attrs::new(), parents),
            "Tanh" => (Op::Tanh, Attrs::new(), parents),
            "LeakyRelu" => (
                Op::LeakyRelu,
                Attrs::new().with("alpha", AttrValue::Float(float("alpha", 0.01))),
                parents,
            ),
            "Identity" | "Dropout" => (Op::Identity, Attrs::new(), parents[..1].to_vec()),
            "Flatten" => {
                let s = shape_of(&g, parents[0]);
                let axis = int("axis", 1);
                let axis = if axis < 0 {
                    axis + s.len() as i64
                } else {
                    axis
                } as usize;
                let a: u64 = s[..axis.min(s.len())].iter().product();
                let b: u64 = s[axis.min(s.len())..].iter().product();
                (
                    Op::Reshape,
                    Attrs::new().with("shape", AttrValue::Ints(vec![a as i64, b as i64])),
                    parents,
                )
            }
            "Reshape" => {
                let target = consts
                    .get(&node.inputs[1])
                    .ok_or_else(|| err(format!("{}: reshape target is not constant", node.name)))?;
                let v: Vec<i64> = target.iter().map(|&x| x as i64).collect();
                (
                    Op::Reshape,
                    Attrs::new().with("shape", AttrValue::Ints(v)),
                    parents[..1].to_vec(),
                )
            }
            "Gemm" => {
                if float("alpha", 1.0) != 1.0 || float("beta", 1.0) != 1.0 || int("transA", 0) != 0
                {
                    return Err(err(format!(
                        "{}: Gemm with alpha/beta != 1 or transA is not supported",
                        node.name
                    )));
                }
                let mut p = parents;
                if int("transB", 0) == 0 {
                    let w = consts.get(&node.inputs[1]).ok_or_else(|| {
                        err(format!("{}: Gemm weight must be an initializer", node.name))
                    })?;
                    let key = format!("{}.T", node.inputs[1]);
                    let wt = w.t().to_owned().into_dyn();
                    p[1] = param(&mut g, &mut ids, &mut weights, &key, wt);
                }
                (Op::Linear, Attrs::new(), p)
            }
            "Conv" => {
                let pads = ints("pads").unwrap_or(vec![0, 0, 0, 0]);
                if pads.len() == 4 && (pads[0] != pads[2] || pads[1] != pads[3]) {
                    return Err(err(format!("{}: asymmetric padding", node.name)));
                }
                let mut a = Attrs::new()
                    .with(
                        "padding",
                        AttrValue::Ints(pads[..2.min(pads.len())].to_vec()),
                    )
                    .with("groups", AttrValue::Int(int("group", 1)));
                if let Some(s) = ints("strides") {
                    a = a.with("stride", AttrValue::Ints(s));
                }
                if let Some(d) = ints("dilations") {
                    a = a.with("dilation", AttrValue::Ints(d));
                }
                (Op::Conv2d, a, parents)
            }
            other => {
                return Err(err(format!(
                    "{}: ONNX op {other} is not supported by the verifier's importer",
                    node.name
                )))
            }
        };
        let out = node
            .outputs
            .first()
            .ok_or_else(|| err(format!("{} has no output", node.name)))?;
        let id = g
            .add_op(out, op, parents, attrs)
            .map_err(|e| err(format!("{}: {}", node.name, e.message)))?;
        ids.insert(out.clone(), id);
    }
    let out = &model.outputs[0].name;
    let id = *ids
        .get(out)
        .ok_or_else(|| err(format!("output {out} is not produced by any node")))?;
    g.add_output(out, id);
    Ok(Imported { graph: g, weights })
}
