//! A counterexample replayed node by node: the inputs it names run through the f64 reference
//! semantics and the compiled f32 executor with every op node as an output, so a report can show
//! where along the graph the violation builds up and where the engines part.

use std::collections::BTreeMap;

use tl_ir::NodeKind;
use tl_kernels::{denote, Tensor};

use super::model::{values, Model};
use super::Failure;
use crate::outcome::Counterexample;

/// One node's values on the counterexample, in both engines.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct NodeReplay {
    pub node: String,
    pub op: String,
    pub shape: Vec<usize>,
    pub reference: ValueSummary,
    pub compiled: ValueSummary,
    /// The largest |reference - compiled| over the node's elements (NaN when either is NaN).
    pub max_abs_diff: f64,
}

/// A tensor's range and its first elements (row-major): enough to read, small enough to show.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct ValueSummary {
    pub min: f64,
    pub max: f64,
    pub first: Vec<f64>,
    pub len: usize,
}

/// How many leading elements a summary keeps.
const FIRST: usize = 8;

impl ValueSummary {
    fn of(v: &[f64]) -> ValueSummary {
        let (mut min, mut max) = (f64::INFINITY, f64::NEG_INFINITY);
        for &x in v {
            if x.is_nan() {
                (min, max) = (f64::NAN, f64::NAN);
                break;
            }
            min = min.min(x);
            max = max.max(x);
        }
        ValueSummary {
            min,
            max,
            first: v.iter().take(FIRST).copied().collect(),
            len: v.len(),
        }
    }
}

/// Runs `cex`'s inputs through both engines of `model`, every op node in graph order.
pub fn replay(model: &Model, cex: &Counterexample) -> Result<Vec<NodeReplay>, Failure> {
    let ops: Vec<(String, String)> = model
        .graph
        .nodes
        .iter()
        .filter_map(|n| match &n.kind {
            NodeKind::Op { op, .. } => Some((n.name.clone(), op.name().to_string())),
            _ => None,
        })
        .collect();
    let names: Vec<String> = ops.iter().map(|(n, _)| n.clone()).collect();
    let model = model.with_outputs(&names)?;
    let mut inputs: BTreeMap<String, Tensor> = BTreeMap::new();
    for (_, name) in model.inputs() {
        let (_, shape, vals) = cex
            .inputs
            .iter()
            .find(|(n, _, _)| *n == name)
            .ok_or_else(|| {
                Failure::input(format!(
                    "the counterexample gives no value for input `{name}`"
                ))
            })?;
        let t = Tensor::from_f64(shape, vals.clone()).map_err(|e| Failure::input(e.to_string()))?;
        inputs.insert(name, t);
    }
    let compiled = model.compile()?.run(&inputs).map_err(Failure::exec)?;
    let reference = denote(&model.graph, &model.params, &inputs).map_err(Failure::exec)?;
    let mut out = Vec::with_capacity(ops.len());
    for (node, op) in ops {
        let (Some(c), Some(r)) = (
            compiled.get(&node),
            reference.get(&node).or_else(|| reference.output(&node)),
        ) else {
            continue;
        };
        let (cv, rv) = (values(c), values(r));
        let max_abs_diff = cv
            .iter()
            .zip(&rv)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0_f64, |m, d| {
                if d.is_nan() || m.is_nan() {
                    f64::NAN
                } else {
                    m.max(d)
                }
            });
        out.push(NodeReplay {
            node,
            op,
            shape: c.shape().to_vec(),
            reference: ValueSummary::of(&rv),
            compiled: ValueSummary::of(&cv),
            max_abs_diff,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use tl_ir::{Attrs, DType, Dim, Graph, Op, Shape};

    /// y = relu(x * w - b) with w = 2, b = 1 on a [1, 3] input: the replay gives every op node's
    /// values.
    #[test]
    fn replays_every_op_node_in_both_engines() {
        let mut g = Graph::new("g");
        let fixed = |n: u64| Shape(vec![Dim::Known(n)]);
        let x = g.add_input("x", Shape(vec![Dim::Known(1), Dim::Known(3)]), DType::F32);
        let w = g.add_param("w", fixed(3), DType::F32);
        let b = g.add_param("b", fixed(3), DType::F32);
        let m = g.add_op("m", Op::Mul, vec![x, w], Attrs::new()).unwrap();
        let s = g.add_op("s", Op::Sub, vec![m, b], Attrs::new()).unwrap();
        let y = g.add_op("y", Op::Relu, vec![s], Attrs::new()).unwrap();
        g.add_output("y", y);
        let mut params = BTreeMap::new();
        params.insert(
            "w".to_string(),
            Tensor::from_f64(&[3], vec![2.0; 3]).unwrap(),
        );
        params.insert(
            "b".to_string(),
            Tensor::from_f64(&[3], vec![1.0; 3]).unwrap(),
        );
        let model = Model { graph: g, params };
        let cex = Counterexample {
            inputs: vec![("x".into(), vec![1, 3], vec![0.0, 0.25, 2.0])],
            outputs: vec![],
            confirmed_on: Counterexample::compiled_executor(),
        };
        let r = replay(&model, &cex).unwrap();
        let names: Vec<&str> = r.iter().map(|n| n.node.as_str()).collect();
        assert!(names.ends_with(&["m", "s", "y"]), "{names:?}");
        let y = r.iter().find(|n| n.node == "y").unwrap();
        assert_eq!(y.reference.first, vec![0.0, 0.0, 3.0]);
        assert_eq!(y.compiled.first, vec![0.0, 0.0, 3.0]);
        assert_eq!((y.reference.min, y.reference.max), (0.0, 3.0));
        assert_eq!(y.max_abs_diff, 0.0);
        let s = r.iter().find(|n| n.node == "s").unwrap();
        assert_eq!(s.reference.first, vec![-1.0, -0.5, 3.0]);
        // An input the counterexample does not name is an error, not a zero.
        let missing = Counterexample {
            inputs: vec![],
            ..cex
        };
        assert!(replay(&model, &missing).is_err());
    }
}
