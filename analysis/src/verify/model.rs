//! The graph a contract runs on, with its weights in memory, and the two engines over it.
//!
//! Checks run without the database: a [`Model`] owns the lowered IR and every param tensor, so
//! contracts can run on worker threads.

use std::collections::BTreeMap;

use tl_ir::{Dim, Graph, NodeKind, Shape};
use tl_kernels::exec::Plan;
use tl_kernels::Tensor;

use super::Failure;

/// A lowered graph and its params, loaded once.
#[derive(Clone, Debug)]
pub struct Model {
    pub graph: Graph,
    pub params: BTreeMap<String, Tensor>,
}

impl Model {
    /// The same graph with `nodes` (node names) added as outputs, so the compiled plan returns
    /// them too; unknown names are an error.
    pub fn with_outputs(&self, nodes: &[String]) -> Result<Model, Failure> {
        let mut graph = self.graph.clone();
        for name in nodes {
            if graph.outputs.iter().any(|(o, _)| o == name) {
                continue;
            }
            let id = graph
                .node_by_name(name)
                .ok_or_else(|| Failure::claim(format!("the graph has no node `{name}`")))?;
            graph.add_output(name.clone(), id);
        }
        Ok(Model {
            graph,
            params: self.params.clone(),
        })
    }

    /// Compiles the f32 plan (the executor every counterexample is confirmed on).
    pub fn compile(&self) -> Result<Plan, Failure> {
        tl_kernels::compile(&self.graph, &self.params).map_err(Failure::exec)
    }

    /// The node (or output) called `name`: its id.
    pub fn node(&self, name: &str) -> Option<usize> {
        self.graph
            .outputs
            .iter()
            .find(|(o, _)| o == name)
            .map(|(_, id)| *id)
            .or_else(|| self.graph.node_by_name(name))
    }

    /// The graph input ids and names, in signature order.
    pub fn inputs(&self) -> Vec<(usize, String)> {
        self.graph
            .inputs
            .iter()
            .map(|&i| (i, self.graph.nodes[i].name.clone()))
            .collect()
    }

    /// The weights as f64 arrays, for the bounds crate.
    pub fn f64_param(&self, key: &str) -> Option<ndarray::ArrayD<f64>> {
        self.params.get(key).map(Tensor::to_f64)
    }
}

/// A shape with every symbolic extent replaced by `size`.
pub fn concrete_shape(shape: &Shape, size: u64) -> Vec<usize> {
    shape
        .0
        .iter()
        .map(|d| match d {
            Dim::Known(k) => *k as usize,
            Dim::Sym(_) => size as usize,
        })
        .collect()
}

/// Rebuilds `graph` with every symbolic extent set to `size` (shapes re-inferred by the IR's
/// rules), for the bounds crate, which works on concrete shapes.
pub fn instantiate(graph: &Graph, size: u64) -> Result<Graph, Failure> {
    let subst = |s: &Shape| {
        Shape(
            s.0.iter()
                .map(|d| match d {
                    Dim::Sym(_) => Dim::Known(size),
                    k => k.clone(),
                })
                .collect(),
        )
    };
    let mut out = Graph::new(graph.name.clone());
    for n in &graph.nodes {
        match &n.kind {
            NodeKind::Input => {
                out.add_input(n.name.clone(), subst(&n.shape), n.dtype);
            }
            NodeKind::Param { key } => {
                out.add_param(key.clone(), subst(&n.shape), n.dtype);
            }
            NodeKind::Op { op, attrs } => {
                out.add_op(n.name.clone(), *op, n.parents.clone(), attrs.clone())
                    .map_err(|e| {
                        Failure::unsupported(format!(
                            "node {} with symbolic extents set to {size}: {}",
                            n.name, e.message
                        ))
                    })?;
            }
        }
    }
    for (name, id) in &graph.outputs {
        out.add_output(name.clone(), *id);
    }
    Ok(out)
}

/// Row-major values of a tensor as f64.
pub fn values(t: &Tensor) -> Vec<f64> {
    t.to_f64().iter().copied().collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use tl_ir::{Attrs, DType, Op};

    #[test]
    fn instantiate_sets_symbols_and_reinfers_shapes() {
        let mut g = Graph::new("g");
        let x = g.add_input(
            "x",
            Shape(vec![Dim::Sym("B".into()), Dim::Known(3)]),
            DType::F32,
        );
        let r = g.add_op("r", Op::Relu, vec![x], Attrs::new()).unwrap();
        g.add_output("r", r);
        let c = instantiate(&g, 1).unwrap();
        assert_eq!(c.nodes[1].shape, Shape(vec![Dim::Known(1), Dim::Known(3)]));
        assert_eq!(
            concrete_shape(&g.nodes[0].shape, 4),
            vec![4, 3],
            "sampling shapes"
        );
    }
}
