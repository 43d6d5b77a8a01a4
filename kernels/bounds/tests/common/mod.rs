//! Loading the auto_LiRPA fixtures (tools/lirpa/make_fixtures.py) into tl graphs.
#![allow(dead_code)]

use std::collections::HashMap;
use std::path::PathBuf;

use ndarray::{ArrayD, IxDyn};
use serde::Deserialize;
use tl_ir::{lookup, AttrValue, Attrs, DType, Graph, Shape};

#[derive(Deserialize)]
pub struct Tensor {
    pub shape: Vec<usize>,
    pub data: Vec<f64>,
}

#[derive(Deserialize)]
pub struct FixNode {
    pub name: String,
    pub op: String,
    pub inputs: Vec<String>,
    pub attrs: HashMap<String, serde_json::Value>,
}

#[derive(Deserialize)]
pub struct Bounds {
    pub lower: Vec<f64>,
    pub upper: Vec<f64>,
}

#[derive(Deserialize)]
pub struct Spec {
    pub c: Vec<Vec<f64>>,
    pub lower: Vec<f64>,
    pub upper: Vec<f64>,
}

#[derive(Deserialize)]
pub struct Case {
    pub lower: Vec<f64>,
    pub upper: Vec<f64>,
    pub ibp: Bounds,
    pub crown: Bounds,
    pub spec: Spec,
}

#[derive(Deserialize)]
pub struct Fixture {
    pub name: String,
    pub input_shape: Vec<u64>,
    pub nodes: Vec<FixNode>,
    pub output: String,
    pub params: HashMap<String, Tensor>,
    pub cases: Vec<Case>,
}

pub fn fixtures() -> Vec<Fixture> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let mut names: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    names.sort();
    names
        .iter()
        .map(|p| serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap())
        .collect()
}

fn attr(v: &serde_json::Value) -> AttrValue {
    match v {
        serde_json::Value::Bool(b) => AttrValue::Bool(*b),
        serde_json::Value::Number(n) if n.is_i64() => AttrValue::Int(n.as_i64().unwrap()),
        serde_json::Value::Number(n) => AttrValue::Float(n.as_f64().unwrap()),
        serde_json::Value::Array(a) => {
            AttrValue::Ints(a.iter().map(|x| x.as_i64().unwrap()).collect())
        }
        serde_json::Value::String(s) => AttrValue::Str(s.clone()),
        _ => panic!("unsupported attr {v}"),
    }
}

impl Fixture {
    /// The fixture as a tl graph and a weight map.
    pub fn graph(&self) -> (Graph, HashMap<String, ArrayD<f64>>) {
        let mut g = Graph::new(&self.name);
        let mut ids = HashMap::new();
        ids.insert(
            "x".to_string(),
            g.add_input("x", Shape::known(&self.input_shape), DType::F32),
        );
        let mut keys: Vec<_> = self.params.keys().collect();
        keys.sort();
        for k in keys {
            let t = &self.params[k];
            let shape: Vec<u64> = t.shape.iter().map(|&d| d as u64).collect();
            ids.insert(k.clone(), g.add_param(k, Shape::known(&shape), DType::F32));
        }
        for n in &self.nodes {
            let op = lookup(&n.op).unwrap_or_else(|| panic!("op {}", n.op)).op;
            let mut attrs = Attrs::new();
            for (k, v) in &n.attrs {
                attrs = attrs.with(k, attr(v));
            }
            let parents = n.inputs.iter().map(|i| ids[i]).collect();
            let id = g.add_op(&n.name, op, parents, attrs).unwrap();
            ids.insert(n.name.clone(), id);
        }
        g.add_output("y", ids[&self.output]);
        let weights = self
            .params
            .iter()
            .map(|(k, t)| {
                (
                    k.clone(),
                    ArrayD::from_shape_vec(IxDyn(&t.shape), t.data.clone()).unwrap(),
                )
            })
            .collect();
        (g, weights)
    }
}

/// A small deterministic generator (splitmix64) for sampling points in boxes.
pub struct Rng(pub u64);

impl Rng {
    pub fn next_f64(&mut self) -> f64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        (z >> 11) as f64 / (1u64 << 53) as f64
    }
    pub fn point(&mut self, lo: &[f64], hi: &[f64]) -> Vec<f64> {
        lo.iter()
            .zip(hi)
            .map(|(l, h)| l + (h - l) * self.next_f64())
            .collect()
    }
}
