//! ONNX networks for the verifier (VNN-COMP instances): tl-kernels' importer builds the graph, and
//! every symbolic extent (the batch axis of most VNN-COMP models) is bound to 1, because the
//! verifier decides a property of one sample.

use std::collections::HashMap;
use std::path::Path;

use ndarray::ArrayD;
use tl_ir::{Dim, Graph, NodeKind, Shape};
use tl_kernels::onnx;

use crate::error::{codes, BoundsError, Result};

/// A graph with one input and one output, and its weights by param key.
pub struct OnnxNetwork {
    pub graph: Graph,
    pub weights: HashMap<String, ArrayD<f64>>,
}

fn onnx_error(path: &Path, msg: impl std::fmt::Display) -> BoundsError {
    BoundsError::new(codes::ONNX, format!("{}: {msg}", path.display()))
}

/// Loads and imports an ONNX file; symbolic extents become 1.
pub fn load_network(path: &Path) -> Result<OnnxNetwork> {
    let model = onnx::load(path).map_err(|e| onnx_error(path, e))?;
    let imported =
        onnx::import(&model).map_err(|e| onnx_error(path, format_args!("[{}] {e}", e.code())))?;
    if imported.graph.inputs.len() != 1 || imported.graph.outputs.len() != 1 {
        return Err(onnx_error(
            path,
            format_args!(
                "the verifier needs one input and one output, the model has {} and {}",
                imported.graph.inputs.len(),
                imported.graph.outputs.len()
            ),
        ));
    }
    let graph = bind_symbols_to_one(&imported.graph).map_err(|e| onnx_error(path, e))?;
    let weights = imported
        .payload
        .iter()
        .map(|(k, t)| (k.clone(), t.to_f64()))
        .collect();
    Ok(OnnxNetwork { graph, weights })
}

/// Rebuilds `graph` with every symbolic extent of its inputs and params set to 1, re-inferring
/// op shapes through the op table (node ids are kept, so parents stay valid).
pub fn bind_symbols_to_one(graph: &Graph) -> std::result::Result<Graph, String> {
    bind_symbols(graph, &HashMap::new())
}

/// Rebuilds `graph` with symbolic extents bound by `symbols` (absent ones: 1).
pub fn bind_symbols(
    graph: &Graph,
    symbols: &HashMap<String, u64>,
) -> std::result::Result<Graph, String> {
    let bind = |s: &Shape| {
        Shape(
            s.0.iter()
                .map(|d| match d {
                    Dim::Sym(name) => Dim::Known(symbols.get(name).copied().unwrap_or(1)),
                    other => other.clone(),
                })
                .collect(),
        )
    };
    let mut out = Graph::new(graph.name.clone());
    for node in &graph.nodes {
        match &node.kind {
            NodeKind::Input => {
                out.add_input(node.name.clone(), bind(&node.shape), node.dtype);
            }
            NodeKind::Param { key } => {
                out.add_param(key.clone(), bind(&node.shape), node.dtype);
                if let Some(last) = out.nodes.last_mut() {
                    last.name = node.name.clone();
                }
            }
            NodeKind::Op { op, attrs } => {
                out.add_op(node.name.clone(), *op, node.parents.clone(), attrs.clone())
                    .map_err(|e| e.message)?;
            }
        }
    }
    for (name, id) in &graph.outputs {
        out.add_output(name.clone(), *id);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use tl_ir::{Attrs, DType, Op};

    #[test]
    fn symbolic_batch_becomes_one_and_shapes_follow() {
        let mut g = Graph::new("g");
        let x = g.add_input(
            "x",
            Shape(vec![Dim::Sym("N".into()), Dim::Known(3)]),
            DType::F32,
        );
        let y = g.add_op("y", Op::Relu, vec![x], Attrs::new()).unwrap();
        g.add_output("y", y);
        let b = bind_symbols_to_one(&g).unwrap();
        assert_eq!(b.nodes[1].shape, Shape::known(&[1, 3]));
        assert!(b.validate().is_ok());
    }

    #[test]
    fn a_missing_file_is_a_coded_error() {
        let Err(e) = load_network(Path::new("/nonexistent/net.onnx")) else {
            panic!("expected an error")
        };
        assert_eq!(e.code, codes::ONNX);
    }
}
