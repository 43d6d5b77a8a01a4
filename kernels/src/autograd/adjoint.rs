//! The adjoint law as a check: for a linear map `J` (the derivative of an op, or of a whole graph,
//! at a point), `<J u, v> = <u, J^T v>` for every tangent `u` and cotangent `v`. Forward mode
//! computes the left side, reverse mode the right; the rules are written independently, so a
//! wrong rule (in either) breaks the law at almost every random `(u, v)`.
//!
//! This is TorchLean's `backpropVec_eq_adjoint_fderiv` turned into a test: there it is a theorem
//! (under `GraphFDerivCorrect`), here it is evidence at sampled points and directions, so it can
//! earn "tested", never more.
//!
//! # The rounding budget
//!
//! Both sides are computed in f64 and differ by rounding. The budget is derived from the
//! magnitudes involved, with `γ(K) = K·u / (1 − K·u)` (`u = 2⁻⁵³`, Higham's bound for a sum of
//! `K` products):
//!
//! `|lhs − rhs| ≤ 4 · γ(K) · S`
//!
//! where `K` counts every scalar the two sweeps compute (the elements of every tangent and every
//! adjoint, plus the two final dot products), and `S` is the largest absolute dot product
//! `Σ |t_n| · |a_n|` over the nodes `n` (tangent `t_n` from forward mode, adjoint `a_n` from
//! reverse mode; in exact arithmetic `Σ t_n · a_n` is the same number at every cut of the graph).
//! `S` catches cancellation inside the graph that the final values hide. This is a first-order
//! forward-error model (each computed value carries a relative error of at most `γ` of its
//! accumulation length, errors add along the graph, the factor 4 covers the products and
//! divisions of a rule); it is not a proof, which is why the law only ever earns "tested". A
//! wrong rule misses by O(S), some 10¹⁰ times the budget.

use super::backward::{backward_from, depends_on_leaves, output_id};
use super::error::{AutogradError, AutogradResult};
use super::forward::{forward_tangents, Seeds};
use super::rules::{jvp, vjp, RuleError, Tangents};
use crate::exec::{denote, Payload};
use crate::tensor::Tensor;
use ndarray::ArrayD;
use std::collections::BTreeMap;
use tl_ir::{Graph, NodeKind};

/// Higham's `γ(K) = K u / (1 − K u)` for f64 (`u = 2⁻⁵³`); infinite when `K u ≥ 1`.
pub fn gamma(k: usize) -> f64 {
    let ku = k as f64 * f64::EPSILON / 2.0;
    if ku >= 1.0 {
        f64::INFINITY
    } else {
        ku / (1.0 - ku)
    }
}

/// One evaluation of the adjoint law.
#[derive(Debug, Clone, PartialEq)]
pub struct AdjointCheck {
    /// `<J u, v>` (forward mode).
    pub forward: f64,
    /// `<u, J^T v>` (reverse mode).
    pub reverse: f64,
    /// The magnitude `S` the budget scales with.
    pub scale: f64,
    /// How many computed scalars the budget counts (`K`).
    pub terms: usize,
    /// The allowed difference, `4 γ(K) S`.
    pub budget: f64,
}

impl AdjointCheck {
    fn new(forward: f64, reverse: f64, scale: f64, terms: usize) -> Self {
        let budget = 4.0 * gamma(terms) * scale;
        AdjointCheck {
            forward,
            reverse,
            scale,
            terms,
            budget,
        }
    }

    pub fn error(&self) -> f64 {
        (self.forward - self.reverse).abs()
    }

    /// Whether the law holds within the budget (a non-finite side never holds).
    pub fn holds(&self) -> bool {
        self.forward.is_finite() && self.reverse.is_finite() && self.error() <= self.budget
    }
}

fn dot(a: &ArrayD<f64>, b: &ArrayD<f64>) -> f64 {
    a.iter().zip(b.iter()).map(|(x, y)| x * y).sum()
}

fn abs_dot(a: &ArrayD<f64>, b: &ArrayD<f64>) -> f64 {
    a.iter().zip(b.iter()).map(|(x, y)| (x * y).abs()).sum()
}

/// The adjoint law for one kernel op at `operands`: tangents `u` (one per operand, `None` for
/// integer operands) and a cotangent `v` of kernel output `output` (value `y`).
#[cfg_attr(not(test), allow(dead_code))]
pub(crate) fn op_adjoint(
    op: &crate::backend::KernelOp,
    operands: &[&Tensor],
    u: &Tangents,
    output: usize,
    y: &ArrayD<f64>,
    v: &ArrayD<f64>,
) -> Result<AdjointCheck, RuleError> {
    let ju = jvp(op, operands, u, output, y)?;
    let jtv = vjp(op, operands, output, y, v)?;
    let forward = dot(&ju, v);
    let mut reverse = 0.0;
    let mut scale = abs_dot(&ju, v);
    let mut terms = ju.len() + y.len();
    let mut back = 0.0;
    for (k, g) in jtv.iter().enumerate() {
        if let (Some(g), Some(Some(t))) = (g, u.get(k)) {
            reverse += dot(t, g);
            back += abs_dot(t, g);
            terms += t.len() + g.len();
        }
    }
    scale = scale.max(back);
    Ok(AdjointCheck::new(forward, reverse, scale, terms))
}

/// The adjoint law for a whole graph at `inputs`: `<J u, v>` by forward mode from the leaf
/// tangents `seeds`, against `<u, J^T v>` by reverse mode from the cotangent `v` of `output`.
pub fn graph_adjoint(
    graph: &Graph,
    payload: &dyn Payload,
    inputs: &BTreeMap<String, Tensor>,
    output: &str,
    seeds: &Seeds,
    v: &ArrayD<f64>,
) -> AutogradResult<AdjointCheck> {
    let values = denote(graph, payload, inputs)?;
    let out = output_id(graph, output)?;
    let tangents = forward_tangents(graph, &values, seeds)?;
    let adjoints = backward_from(graph, &values, out, Some(v))?;
    let ju = tangents[out]
        .clone()
        .unwrap_or_else(|| ArrayD::zeros(v.raw_dim()));
    if ju.shape() != v.shape() {
        return Err(AutogradError::NotDifferentiable {
            output: output.into(),
            detail: "the output tangent and the cotangent differ in shape".into(),
        });
    }
    let forward = dot(&ju, v);
    let depends = depends_on_leaves(graph);
    let mut reverse = 0.0;
    let mut scale = abs_dot(&ju, v);
    let mut terms = 2 * v.len();
    // Leaves sharing a param key share a tangent; their adjoints are summed into that key, so
    // summing per node is the same dot product.
    for (id, node) in graph.nodes.iter().enumerate() {
        if !depends[id] {
            continue;
        }
        let (Some(t), Some(a)) = (&tangents[id], &adjoints[id]) else {
            continue;
        };
        terms += t.len() + a.len();
        scale = scale.max(abs_dot(t, a));
        if matches!(node.kind, NodeKind::Input | NodeKind::Param { .. }) {
            reverse += dot(t, a);
        }
    }
    Ok(AdjointCheck::new(forward, reverse, scale, terms))
}
