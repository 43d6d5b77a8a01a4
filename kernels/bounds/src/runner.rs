//! VNN-COMP style instances: load a network and a property, decide, and write the result file.

use std::collections::HashMap;
use std::path::Path;
use std::time::Duration;

use ndarray::ArrayD;
use tl_ir::Graph;

use crate::bab::{verify, BabConfig, BabResult, Verdict};
use crate::error::{codes, BoundsError, Result};
use crate::lower::Payload;
use crate::net::BoundNet;
use crate::onnx::load_network;
use crate::vnnlib::{self, Property};

/// Runs one instance with the default search settings and `timeout`.
pub fn run_instance(
    graph: &Graph,
    payload: Payload,
    property: &Property,
    timeout: Duration,
) -> Result<BabResult> {
    let cfg = BabConfig {
        timeout,
        ..BabConfig::default()
    };
    run_instance_with(graph, payload, property, &cfg)
}

/// Runs one instance with explicit settings.
pub fn run_instance_with(
    graph: &Graph,
    payload: Payload,
    property: &Property,
    cfg: &BabConfig,
) -> Result<BabResult> {
    let net = BoundNet::from_graph(graph, payload, None)?;
    verify(&net, property, cfg)
}

/// A network and its weights loaded from an ONNX file, and a property from a VNN-LIB file.
pub struct Instance {
    pub graph: Graph,
    pub weights: HashMap<String, ArrayD<f64>>,
    pub property: Property,
}

impl Instance {
    pub fn load(onnx: &Path, vnnlib_path: &Path) -> Result<Instance> {
        let imported = load_network(onnx)?;
        let property = vnnlib::load(vnnlib_path)?;
        Ok(Instance {
            graph: imported.graph,
            weights: imported.weights,
            property,
        })
    }
    pub fn net(&self) -> Result<BoundNet> {
        BoundNet::from_graph_map(&self.graph, &self.weights, None)
    }
    pub fn run(&self, cfg: &BabConfig) -> Result<BabResult> {
        verify(&self.net()?, &self.property, cfg)
    }
}

/// The VNN-COMP result file: `unsat`, `timeout`, `unknown`, or `sat` followed by the
/// counterexample as `((X_0 v) ... (Y_0 v) ...)`.
pub fn format_result(verdict: &Verdict) -> String {
    match verdict {
        Verdict::Verified { .. } => "unsat\n".to_string(),
        Verdict::Timeout => "timeout\n".to_string(),
        Verdict::Unknown(_) => "unknown\n".to_string(),
        Verdict::Falsified(cx) => {
            let mut s = String::from("sat\n(");
            let mut first = true;
            for (name, vals) in [("X", &cx.x), ("Y", &cx.y_f64)] {
                for (i, v) in vals.iter().enumerate() {
                    if !first {
                        s.push_str("\n ");
                    }
                    first = false;
                    s.push_str(&format!("({name}_{i} {v:e})"));
                }
            }
            s.push_str(")\n");
            s
        }
    }
}

/// Writes the result file.
pub fn write_result(path: &Path, verdict: &Verdict) -> Result<()> {
    std::fs::write(path, format_result(verdict))
        .map_err(|e| BoundsError::new(codes::IO, format!("cannot write {}: {e}", path.display())))
}
