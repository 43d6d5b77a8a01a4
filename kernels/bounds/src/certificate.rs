//! Certificates of "verified" answers and their checker.
//!
//! A certificate is, per property case, the split tree of the search as a flat node list (node 0
//! is the root box; input splits halve one axis at `mid`, relu splits fix a neuron inactive then
//! active), with every leaf's refuting rows and their input-level linear bounds
//! (`row >= a_in . x + bias` on the leaf's box) and, where alpha-CROWN was needed, its slopes.
//! [`check_certificate`] trusts none of the numbers: it rebuilds each leaf's domain from the tree,
//! recomputes CROWN with the recorded slopes (any slopes in range are sound) and checks every
//! disjunct is refuted, and that the tree covers the box.

use std::collections::HashMap;

use ndarray::Array2;

use crate::bab::{row_margins, CaseSpec};
use crate::crown::{Analysis, CrownOptions, InputBox, Method, ReluSplit};
use crate::error::{codes, BoundsError, Result};
use crate::net::{BoundNet, Layer};
use crate::vnnlib::Property;

/// A leaf's bound on one refuting row.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct LeafBound {
    pub row: usize,
    pub lower: f64,
    pub a_in: Vec<f64>,
    pub bias: f64,
}

/// One node of a case's split tree.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum CertNode {
    /// Not decided (never in a finished certificate).
    Open,
    Leaf {
        /// The relu splits made the domain empty.
        empty: bool,
        bounds: Vec<LeafBound>,
        /// Per relu layer, per spec row, the lower slopes used (alpha-CROWN).
        alphas: Option<Vec<(usize, Vec<Vec<f64>>)>>,
    },
    InputSplit {
        dim: usize,
        mid: f64,
        /// Lower half, upper half.
        children: [usize; 2],
    },
    ReluSplit {
        layer: usize,
        neuron: usize,
        /// Inactive (pre-activation <= 0), active (>= 0).
        children: [usize; 2],
    },
}

#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct CaseCertificate {
    pub case: usize,
    pub nodes: Vec<CertNode>,
}

#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Certificate {
    pub version: u32,
    /// Whether leaves were refuted with the f32 executor margin.
    pub f32_executor: bool,
    pub cases: Vec<CaseCertificate>,
}

impl Certificate {
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("certificates serialise")
    }
    pub fn from_json(text: &str) -> Result<Certificate> {
        serde_json::from_str(text).map_err(|e| {
            BoundsError::at(
                codes::CERT_MALFORMED,
                crate::error::Span {
                    line: e.line(),
                    col: e.column(),
                },
                format!("certificate: {e}"),
            )
        })
    }
}

/// What a successful check covered.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize)]
pub struct CheckReport {
    pub cases: usize,
    pub leaves: usize,
    pub splits: usize,
}

fn reject(msg: impl Into<String>) -> BoundsError {
    BoundsError::new(codes::CERT_REJECTED, msg)
}

/// Re-checks `cert` for `prop` on `net` from scratch. `f32_executor`: also require the f32
/// executor margin (a certificate made without it is then rejected).
pub fn check_certificate(
    cert: &Certificate,
    net: &BoundNet,
    prop: &Property,
    f32_executor: bool,
) -> Result<CheckReport> {
    if f32_executor && !cert.f32_executor {
        return Err(reject(
            "the certificate was made without the f32 executor margin",
        ));
    }
    if prop.n_inputs != net.input_size() || prop.n_outputs != net.output_size() {
        return Err(BoundsError::new(
            codes::VNNLIB_MISMATCH,
            "the property does not match the network",
        ));
    }
    let mut report = CheckReport::default();
    for (k, case) in prop.cases.iter().enumerate() {
        let cc = cert
            .cases
            .iter()
            .find(|c| c.case == k)
            .ok_or_else(|| reject(format!("case {k} has no split tree")))?;
        let spec = CaseSpec::new(case, net.output_size());
        let n = cc.nodes.len();
        let mut seen = vec![false; n];
        let mut stack: Vec<(usize, InputBox, Vec<ReluSplit>)> =
            vec![(0, case.input.clone(), Vec::new())];
        while let Some((id, input, splits)) = stack.pop() {
            let node = cc
                .nodes
                .get(id)
                .ok_or_else(|| reject(format!("case {k}: node {id} does not exist")))?;
            if std::mem::replace(&mut seen[id], true) {
                return Err(reject(format!("case {k}: node {id} is reached twice")));
            }
            match node {
                CertNode::Open => return Err(reject(format!("case {k}: node {id} is undecided"))),
                CertNode::InputSplit { dim, mid, children } => {
                    let (l, u) = match (input.lower.get(*dim), input.upper.get(*dim)) {
                        (Some(l), Some(u)) => (*l, *u),
                        _ => return Err(reject(format!("case {k}: node {id} splits axis {dim}"))),
                    };
                    if !(l < *mid && *mid < u) {
                        return Err(reject(format!(
                            "case {k}: node {id} splits [{l}, {u}] at {mid}"
                        )));
                    }
                    let mut lo = input.clone();
                    lo.upper[*dim] = *mid;
                    let mut hi = input;
                    hi.lower[*dim] = *mid;
                    stack.push((children[0], lo, splits.clone()));
                    stack.push((children[1], hi, splits));
                    report.splits += 1;
                }
                CertNode::ReluSplit {
                    layer,
                    neuron,
                    children,
                } => {
                    let ok = net.nodes.get(*layer).is_some_and(|nd| {
                        matches!(nd.layer, Layer::Relu { .. } | Layer::LeakyRelu { .. })
                            && *neuron < nd.size
                    });
                    if !ok {
                        return Err(reject(format!(
                            "case {k}: node {id} splits a neuron that is not a relu"
                        )));
                    }
                    for (child, active) in children.iter().zip([false, true]) {
                        let mut s = splits.clone();
                        s.push(ReluSplit {
                            layer: *layer,
                            neuron: *neuron,
                            active,
                        });
                        stack.push((*child, input.clone(), s));
                    }
                    report.splits += 1;
                }
                CertNode::Leaf { alphas, .. } => {
                    check_leaf(net, &spec, &input, &splits, alphas.as_ref(), f32_executor)
                        .map_err(|e| reject(format!("case {k}, leaf {id}: {}", e.message)))?;
                    report.leaves += 1;
                }
            }
        }
        report.cases += 1;
    }
    Ok(report)
}

fn check_leaf(
    net: &BoundNet,
    spec: &CaseSpec,
    input: &InputBox,
    splits: &[ReluSplit],
    alphas: Option<&Vec<(usize, Vec<Vec<f64>>)>>,
    f32_executor: bool,
) -> Result<()> {
    let opts = CrownOptions {
        f32_executor,
        ..CrownOptions::default()
    };
    let Some(an) = Analysis::new(net, input, Method::Crown, opts, splits)? else {
        return Ok(()); // the splits leave no input: nothing to refute
    };
    let rows = spec.c.nrows();
    let alphas = match alphas {
        None => None,
        Some(list) => {
            let mut map = HashMap::new();
            for (layer, m) in list {
                let rl = an
                    .relax
                    .get(*layer)
                    .and_then(|r| r.as_ref())
                    .ok_or_else(|| reject(format!("slopes for layer {layer}, which has none")))?;
                let floor = match net.nodes[*layer].layer {
                    Layer::LeakyRelu { alpha, .. } => alpha,
                    Layer::Relu { .. } => 0.0,
                    _ => return Err(reject(format!("slopes for non-relu layer {layer}"))),
                };
                let n = rl.lo_s.len();
                if m.len() != rows || m.iter().any(|r| r.len() != n) {
                    return Err(reject(format!(
                        "slopes of layer {layer} have the wrong shape"
                    )));
                }
                if m.iter().flatten().any(|a| !(floor..=1.0).contains(a)) {
                    return Err(reject(format!(
                        "slopes of layer {layer} leave [{floor}, 1]"
                    )));
                }
                let flat: Vec<f64> = m.iter().flatten().copied().collect();
                map.insert(
                    *layer,
                    Array2::from_shape_vec((rows, n), flat).expect("shape checked"),
                );
            }
            Some(map)
        }
    };
    let lb = an.spec_lower(&spec.c, alphas.as_ref());
    let margin = row_margins(spec);
    let refuting = spec.refuting_rows(&lb.lower, &margin);
    match refuting.iter().position(Option::is_none) {
        Some(d) => Err(reject(format!("disjunct {d} is not refuted"))),
        None => Ok(()),
    }
}
