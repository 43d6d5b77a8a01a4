//! The IR graph: what analysis lowers a `.tl` graph to and what every engine consumes.
//!
//! Invariants (as in TorchLean's IR): node ids are indices into `nodes`; every parent id is smaller
//! than its child's (nodes are in a topological order); weights are not in the graph but in a
//! payload keyed by each param node's `key`, so topology can be checked without the values.

use crate::attrs::Attrs;
use crate::dtype::DType;
use crate::ops::Op;
use crate::shape::Shape;
use crate::shape_rules::{infer_dtype, infer_shape};

pub type NodeId = usize;

#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum NodeKind {
    /// A graph input, bound at run time.
    Input,
    /// A weight, read from the payload under `key` (e.g. `fc1.weight`).
    Param { key: String },
    /// An op applied to the node's parents, in order.
    Op { op: Op, attrs: Attrs },
}

#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Node {
    /// The name in the spec (`h1`, `fc1.weight`, `enc0.attn.q`); unique within the graph.
    pub name: String,
    pub kind: NodeKind,
    pub parents: Vec<NodeId>,
    pub shape: Shape,
    pub dtype: DType,
}

#[derive(Clone, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Graph {
    pub name: String,
    pub nodes: Vec<Node>,
    /// Input nodes, in signature order.
    pub inputs: Vec<NodeId>,
    /// Named outputs, in signature order.
    pub outputs: Vec<(String, NodeId)>,
}

/// A violated graph invariant.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GraphError {
    pub node: Option<NodeId>,
    pub message: String,
}

impl Graph {
    pub fn new(name: impl Into<String>) -> Graph {
        Graph {
            name: name.into(),
            ..Graph::default()
        }
    }

    pub fn add_input(&mut self, name: impl Into<String>, shape: Shape, dtype: DType) -> NodeId {
        let id = self.push(Node {
            name: name.into(),
            kind: NodeKind::Input,
            parents: vec![],
            shape,
            dtype,
        });
        self.inputs.push(id);
        id
    }

    pub fn add_param(&mut self, key: impl Into<String>, shape: Shape, dtype: DType) -> NodeId {
        let key = key.into();
        self.push(Node {
            name: key.clone(),
            kind: NodeKind::Param { key },
            parents: vec![],
            shape,
            dtype,
        })
    }

    /// Adds an op node, inferring its shape and dtype with the op table's rules.
    pub fn add_op(
        &mut self,
        name: impl Into<String>,
        op: Op,
        parents: Vec<NodeId>,
        attrs: Attrs,
    ) -> Result<NodeId, GraphError> {
        let name = name.into();
        if let Some(&bad) = parents.iter().find(|&&p| p >= self.nodes.len()) {
            return Err(GraphError {
                node: None,
                message: format!("{name}: parent {bad} does not exist yet"),
            });
        }
        let shapes: Vec<Shape> = parents
            .iter()
            .map(|&p| self.nodes[p].shape.clone())
            .collect();
        let dtypes: Vec<DType> = parents.iter().map(|&p| self.nodes[p].dtype).collect();
        let shape = infer_shape(op, &shapes, &attrs).map_err(|e| GraphError {
            node: None,
            message: format!("{name}: {}", e.message),
        })?;
        let dtype = infer_dtype(op, &dtypes, &attrs).map_err(|e| GraphError {
            node: None,
            message: format!("{name}: {}", e.message),
        })?;
        Ok(self.push(Node {
            name,
            kind: NodeKind::Op { op, attrs },
            parents,
            shape,
            dtype,
        }))
    }

    pub fn add_output(&mut self, name: impl Into<String>, node: NodeId) {
        self.outputs.push((name.into(), node));
    }

    fn push(&mut self, node: Node) -> NodeId {
        self.nodes.push(node);
        self.nodes.len() - 1
    }

    pub fn node_by_name(&self, name: &str) -> Option<NodeId> {
        self.nodes.iter().position(|n| n.name == name)
    }

    /// Keys of every param node, in node order.
    pub fn param_keys(&self) -> impl Iterator<Item = (NodeId, &str)> {
        self.nodes
            .iter()
            .enumerate()
            .filter_map(|(i, n)| match &n.kind {
                NodeKind::Param { key } => Some((i, key.as_str())),
                _ => None,
            })
    }

    /// Checks the structural invariants: parents point backward, op arities and shapes agree with
    /// the op table, inputs and outputs exist. Graphs built through `add_*` satisfy it; graphs
    /// deserialised from elsewhere (TorchLean JSON, hand-built) must be validated.
    pub fn validate(&self) -> Result<(), GraphError> {
        for (i, n) in self.nodes.iter().enumerate() {
            let at = |message: String| GraphError {
                node: Some(i),
                message,
            };
            if let Some(&p) = n.parents.iter().find(|&&p| p >= i) {
                return Err(at(format!(
                    "node {i} ({}) has parent {p}, which does not come before it",
                    n.name
                )));
            }
            match &n.kind {
                NodeKind::Input | NodeKind::Param { .. } if !n.parents.is_empty() => {
                    return Err(at(format!(
                        "node {i} ({}) is an input or param but has parents",
                        n.name
                    )))
                }
                NodeKind::Op { op, attrs } => {
                    let shapes: Vec<Shape> = n
                        .parents
                        .iter()
                        .map(|&p| self.nodes[p].shape.clone())
                        .collect();
                    let shape = infer_shape(*op, &shapes, attrs)
                        .map_err(|e| at(format!("node {i} ({}): {}", n.name, e.message)))?;
                    if shape != n.shape {
                        return Err(at(format!(
                            "node {i} ({}) declares shape {} but {} gives {shape}",
                            n.name,
                            n.shape,
                            op.name()
                        )));
                    }
                }
                _ => {}
            }
        }
        let count = self.nodes.len();
        if let Some(&bad) = self
            .inputs
            .iter()
            .find(|&&i| i >= count || self.nodes[i].kind != NodeKind::Input)
        {
            return Err(GraphError {
                node: Some(bad),
                message: format!("input {bad} is not an input node"),
            });
        }
        if let Some((name, _)) = self.outputs.iter().find(|(_, i)| *i >= count) {
            return Err(GraphError {
                node: None,
                message: format!("output {name} refers to a missing node"),
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::attrs::AttrValue;

    #[test]
    fn builds_an_mlp_and_validates() {
        let mut g = Graph::new("mlp");
        let x = g.add_input("x", Shape::known(&[1, 4]), DType::F32);
        let w = g.add_param("fc.weight", Shape::known(&[3, 4]), DType::F32);
        let b = g.add_param("fc.bias", Shape::known(&[3]), DType::F32);
        let h = g
            .add_op("h", Op::Linear, vec![x, w, b], Attrs::new())
            .unwrap();
        let y = g.add_op("y", Op::Relu, vec![h], Attrs::new()).unwrap();
        g.add_output("y", y);
        assert_eq!(g.nodes[y].shape, Shape::known(&[1, 3]));
        g.validate().unwrap();
        assert_eq!(
            g.param_keys().map(|(_, k)| k).collect::<Vec<_>>(),
            ["fc.weight", "fc.bias"]
        );
    }

    #[test]
    fn validate_rejects_forward_parents_and_wrong_shapes() {
        let mut g = Graph::new("bad");
        let x = g.add_input("x", Shape::known(&[2]), DType::F32);
        let y = g.add_op("y", Op::Relu, vec![x], Attrs::new()).unwrap();
        let mut forward = g.clone();
        forward.nodes[y].parents = vec![y];
        assert!(forward.validate().is_err());
        let mut wrong = g.clone();
        wrong.nodes[y].shape = Shape::known(&[3]);
        assert!(wrong
            .validate()
            .unwrap_err()
            .message
            .contains("declares shape"));
        let c = g
            .add_op(
                "c",
                Op::Constant,
                vec![],
                Attrs::new().with("value", AttrValue::Ints(vec![1, 2])),
            )
            .unwrap();
        assert_eq!(g.nodes[c].shape, Shape::known(&[2]));
    }
}
