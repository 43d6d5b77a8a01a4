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
use crate::exec::{denote, lower, Denotation, ExecError, Lowered, Payload};
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

/// The adjoint law of one op node at the values of a denotation.
#[derive(Debug, Clone, PartialEq)]
pub struct NodeAdjoint {
    pub node: String,
    pub op: &'static str,
    pub check: AdjointCheck,
}

/// The adjoint law for every differentiable op node of `graph` at `values` (a node on a path
/// from a float input or param, with a float value), with seeded random tangents of its float
/// operands and a random cotangent of its value, in [-1, 1]: each op's JVP rule against its VJP
/// rule, so a failure names the op.
pub fn node_adjoints(
    graph: &Graph,
    values: &Denotation,
    seed: u64,
) -> AutogradResult<Vec<NodeAdjoint>> {
    let mut state = seed ^ 0x5EED_AD70;
    let mut next = move || {
        state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        2.0 * (((z ^ (z >> 31)) >> 11) as f64 / (1u64 << 53) as f64) - 1.0
    };
    let depends = depends_on_leaves(graph);
    let mut out = Vec::new();
    for (id, node) in graph.nodes.iter().enumerate() {
        let NodeKind::Op { op, attrs } = &node.kind else {
            continue;
        };
        if !depends[id] || !node.dtype.is_float() {
            continue;
        }
        let lowered =
            lower(*op, attrs, node.parents.len()).map_err(|detail| ExecError::Lowering {
                node: node.name.clone(),
                op: op.name(),
                detail,
            })?;
        let Lowered::Kernel {
            op: kop,
            operands,
            output,
            keep_mask,
        } = lowered
        else {
            continue;
        };
        let missing = || {
            AutogradError::Exec(ExecError::InvalidGraph {
                detail: format!("node {}: an operand has no value", node.name),
            })
        };
        let args = operands
            .iter()
            .map(|&i| node.parents.get(i).and_then(|&p| values.node(p)))
            .collect::<Option<Vec<_>>>()
            .ok_or_else(missing)?;
        let y = values.node(id).ok_or_else(missing)?.to_f64();
        let u: Vec<Option<ArrayD<f64>>> = args
            .iter()
            .enumerate()
            .map(|(pos, t)| {
                (keep_mask != Some(pos) && t.dtype().is_float())
                    .then(|| ArrayD::from_shape_simple_fn(ndarray::IxDyn(t.shape()), &mut next))
            })
            .collect();
        let v = ArrayD::from_shape_simple_fn(y.raw_dim(), &mut next);
        let us: Vec<Option<&ArrayD<f64>>> = u.iter().map(Option::as_ref).collect();
        let no_rule = |detail: String| AutogradError::NoRule {
            node: node.name.clone(),
            op: op.name(),
            detail,
        };
        let check = op_adjoint(&kop, &args, &us, output, &y, &v).map_err(|e| match e {
            RuleError::Missing(d) => no_rule(d),
            RuleError::Kernel(source) => AutogradError::Exec(ExecError::Kernel {
                node: node.name.clone(),
                source,
            }),
        })?;
        out.push(NodeAdjoint {
            node: node.name.clone(),
            op: op.name(),
            check,
        });
    }
    Ok(out)
}
