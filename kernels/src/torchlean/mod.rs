//! TorchLean interop: the `torchlean.ir.v1` JSON graph artifact (TorchLean's
//! `NN/Runtime/PyTorch/Import/TorchExport.lean` reads it, `Wire.lean` fixes its op spellings).
//!
//! An artifact is one object: `format` (`"torchlean.ir.v1"`), `input_id` (the one graph input),
//! `output_ids`, and `nodes`, where node `i` has `"id": i`, `parents` with smaller ids, a `kind`
//! from the wire table and its declared `shape`. Weights travel inside the nodes that own them
//! (`linear`: `weight`/`bias`; `layernorm`, `batch_norm_eval`: `gamma`/`beta`/...; `const`:
//! `values`), so the payload is keyed by node id. [`import`] turns an artifact into a tl-ir graph
//! plus a payload; [`export`] does the reverse. Ops one side has and the other lacks are refused
//! with one error listing every node (TL0551 on import, TL0552 on export).

mod export;
mod import;
mod wire;

pub use export::{export, ExportOptions};
pub use import::{import, import_str, ImportedGraph};
pub use wire::{tl_op_for_wire, FORMAT, WIRE_OPS};

use thiserror::Error;

/// An error reading or writing a TorchLean artifact. Codes TL0550-TL0555.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum TorchLeanError {
    /// TL0550: not JSON, or not a `torchlean.ir.v1` object.
    #[error("not a torchlean.ir.v1 graph: {detail}")]
    Format { detail: String },
    /// TL0551: the artifact uses TorchLean ops tl does not import: (node id, kind, why).
    #[error("TorchLean ops tl cannot import: {}", list_ids(nodes))]
    UnsupportedImport { nodes: Vec<(usize, String, String)> },
    /// TL0552: the graph uses tl ops TorchLean's IR cannot express: (node, op, why).
    #[error("tl ops TorchLean's IR cannot express: {}", list_names(nodes))]
    UnsupportedExport {
        nodes: Vec<(String, String, String)>,
    },
    /// TL0553: ids, parents or declared shapes are inconsistent.
    #[error("invalid TorchLean graph at node {node}: {detail}")]
    InvalidGraph { node: String, detail: String },
    /// TL0554: a weight field is missing, mis-shaped or not finite.
    #[error("node {node}: weight `{field}`: {detail}")]
    Payload {
        node: String,
        field: String,
        detail: String,
    },
    /// TL0555: the graph's interface does not fit the format (one input, concrete shapes).
    #[error("{detail}")]
    Interface { detail: String },
}

impl TorchLeanError {
    pub fn code(&self) -> &'static str {
        match self {
            TorchLeanError::Format { .. } => "TL0550",
            TorchLeanError::UnsupportedImport { .. } => "TL0551",
            TorchLeanError::UnsupportedExport { .. } => "TL0552",
            TorchLeanError::InvalidGraph { .. } => "TL0553",
            TorchLeanError::Payload { .. } => "TL0554",
            TorchLeanError::Interface { .. } => "TL0555",
        }
    }
}

fn list_ids(nodes: &[(usize, String, String)]) -> String {
    nodes
        .iter()
        .map(|(id, kind, why)| format!("node {id} `{kind}` ({why})"))
        .collect::<Vec<_>>()
        .join("; ")
}

fn list_names(nodes: &[(String, String, String)]) -> String {
    nodes
        .iter()
        .map(|(name, op, why)| format!("{name} `{op}` ({why})"))
        .collect::<Vec<_>>()
        .join("; ")
}

#[cfg(test)]
mod tests;
#[cfg(test)]
mod window_tests;
