//! The gradient tape view: the reverse sweep of tl's autograd (`tl_kernels::autograd::backward`,
//! the f64 reference semantics) over a graph at one seeded point, node by node in the order the
//! sweep visits them, with each node's value range and its adjoint (d output / d node). A
//! diagnostic view of what a gradient contract checks, not evidence.

use std::collections::BTreeMap;

use serde::Serialize;
use tl_ide::verify::instantiate;
use tl_ide::RunnableGraph;
use tl_ir::{NodeKind, Shape};
use tl_kernels::autograd::backward;
use tl_kernels::{denote, Tensor};

/// The seed of the point the tape is recorded at (printed on the page, so it reproduces).
pub const TAPE_SEED: u64 = 0x7a9e;

/// Symbolic extents are set to this size for the tape.
const TAPE_SIZE: u64 = 2;

#[derive(Clone, Debug, Serialize)]
pub struct TapeRow {
    pub node: String,
    /// `input`, `param` or the op.
    pub op: String,
    pub shape: Vec<usize>,
    pub value: (f64, f64),
    /// The adjoint's range and L2 norm.
    pub adjoint: (f64, f64),
    pub adjoint_l2: f64,
}

#[derive(Clone, Debug, Serialize)]
pub struct Tape {
    pub output: String,
    /// How the point was chosen.
    pub point: String,
    pub rows: Vec<TapeRow>,
}

fn range(v: &[f64]) -> (f64, f64) {
    v.iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(l, h), &x| {
            (l.min(x), h.max(x))
        })
}

/// The tape of `output` of `runnable`'s graph: float inputs drawn uniformly from [-1, 1] by a
/// seeded generator, integer inputs 0, symbolic extents `TAPE_SIZE`.
pub fn tape(runnable: &RunnableGraph, output: &str) -> Result<Tape, String> {
    let graph = instantiate(runnable.graph(), TAPE_SIZE).map_err(|f| f.message)?;
    let mut state = TAPE_SEED | 1;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state % 2_000_001) as f64 / 1_000_000.0 - 1.0
    };
    let mut inputs = BTreeMap::new();
    for &id in &graph.inputs {
        let n = &graph.nodes[id];
        let shape: Vec<usize> = known(&n.shape)?;
        let len: usize = shape.iter().product();
        let t = if n.dtype.is_float() {
            Tensor::from_f64(&shape, (0..len).map(|_| next()).collect())
        } else {
            Tensor::from_i64(&shape, vec![0; len])
        }
        .map_err(|e| e.to_string())?;
        inputs.insert(n.name.clone(), t);
    }
    let out = graph
        .outputs
        .iter()
        .find(|(o, _)| o == output)
        .map(|(_, id)| *id)
        .ok_or_else(|| format!("the graph has no output `{output}`"))?;
    runnable.with_payload(|_, payload| {
        let values = denote(&graph, payload, &inputs).map_err(|e| e.to_string())?;
        let adjoints = backward(&graph, &values, out).map_err(|e| e.to_string())?;
        let mut rows = Vec::new();
        // The reverse sweep visits nodes from the output back (ids are topological).
        for id in (0..graph.nodes.len()).rev() {
            let (Some(adj), Some(v)) = (&adjoints[id], values.node(id)) else {
                continue;
            };
            let n = &graph.nodes[id];
            let a: Vec<f64> = adj.iter().copied().collect();
            let vals: Vec<f64> = v.to_f64().iter().copied().collect();
            rows.push(TapeRow {
                node: n.name.clone(),
                op: match &n.kind {
                    NodeKind::Op { op, .. } => op.name().to_string(),
                    NodeKind::Input => "input".into(),
                    NodeKind::Param { .. } => "param".into(),
                },
                shape: v.shape().to_vec(),
                value: range(&vals),
                adjoint: range(&a),
                adjoint_l2: a.iter().map(|x| x * x).sum::<f64>().sqrt(),
            });
        }
        Ok(Tape {
            output: output.to_string(),
            point: format!(
                "float inputs uniform in [-1, 1] (xorshift seed {TAPE_SEED:#x}), integer inputs 0, symbolic extents {TAPE_SIZE}; the adjoint is d sum({output}) / d node"
            ),
            rows,
        })
    })
}

fn known(shape: &Shape) -> Result<Vec<usize>, String> {
    shape
        .as_known()
        .map(|s| s.into_iter().map(|d| d as usize).collect())
        .ok_or_else(|| format!("shape {shape:?} is not concrete"))
}
