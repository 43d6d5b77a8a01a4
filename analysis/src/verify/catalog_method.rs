//! catalog: a claim discharged by a catalog entry (a TorchLean theorem or BugZoo card) whose
//! mechanically checkable side conditions verify checks on the lowered graph. Holds (granting
//! "proved") only when every side condition that applies holds; otherwise Unknown, naming the
//! failed or unchecked condition.

use tl_ir::{AttrValue, Graph, Node, NodeKind, Op};

use super::{Cx, Failure};
use crate::catalog::{Check, Entry, SideCondition};
use crate::contracts::Claim;
use crate::outcome::Verdict;

pub(super) fn run(cx: &Cx) -> Result<(Verdict, String), Failure> {
    let kind = cx.claim.kind();
    let entries = cx.opts.catalog.entries_for_contract_kind(kind);
    if entries.is_empty() {
        return Ok(unknown(format!(
            "no catalog entry states a result for {kind} contracts"
        )));
    }
    match cx.claim {
        Claim::MaskedWeightsZero { node } | Claim::IgnoredLabelsZero { node } => {
            one_node(cx, &entries, node)
        }
        Claim::Equivalence => whole_graph(cx, &entries),
        other => Ok(unknown(format!(
            "the catalog method does not discharge {} claims",
            other.kind()
        ))),
    }
}

fn unknown(reason: String) -> (Verdict, String) {
    (
        Verdict::Unknown { reason },
        "no catalog entry applies with all side conditions met".into(),
    )
}

/// The claim is about one node: the first entry that covers its op and whose conditions hold.
fn one_node(cx: &Cx, entries: &[&Entry], node: &str) -> Result<(Verdict, String), Failure> {
    let graph = &cx.model.graph;
    let id = cx
        .model
        .node(node)
        .ok_or_else(|| Failure::claim(format!("the graph has no node `{node}`")))?;
    let n = &graph.nodes[id];
    let NodeKind::Op { op, .. } = &n.kind else {
        return Err(Failure::claim(format!("`{node}` is not an op node")));
    };
    let mut failures = Vec::new();
    for e in entries {
        // An entry that lists no ops states its result for the contract kind as a whole.
        let lists_ops = !e.ops.is_empty() || !e.families.is_empty();
        if lists_ops && !e.covers(*op) {
            failures.push(format!("{} does not cover {}", e.id, op.name()));
            continue;
        }
        let mut conds: Vec<Condition> = e
            .side_conditions_for(*op)
            .into_iter()
            .map(Condition::Catalog)
            .collect();
        conds.extend(extra_conditions(cx.claim));
        match check_all(cx, &conds, graph, Some(n)) {
            Ok(names) => {
                return Ok((
                    Verdict::Holds,
                    format!(
                        "{} ({}) covers {} `{node}`; side conditions checked: {}",
                        e.id,
                        e.source,
                        op.name(),
                        if names.is_empty() {
                            "none apply".into()
                        } else {
                            names.join(", ")
                        }
                    ),
                ))
            }
            Err(why) => failures.push(format!("{}: {why}", e.id)),
        }
    }
    Ok(unknown(failures.join("; ")))
}

/// Equivalence of the compiled graph: every op node covered by one entry whose conditions hold.
fn whole_graph(cx: &Cx, entries: &[&Entry]) -> Result<(Verdict, String), Failure> {
    let graph = &cx.model.graph;
    let mut cited: Vec<&str> = Vec::new();
    let mut checked: Vec<String> = Vec::new();
    for n in &graph.nodes {
        let NodeKind::Op { op, .. } = &n.kind else {
            continue;
        };
        let covering: Vec<&&Entry> = entries.iter().filter(|e| e.covers(*op)).collect();
        let Some(e) = covering.first() else {
            let why = cx
                .opts
                .catalog
                .coverage(*op)
                .into_iter()
                .find_map(|c| match c.verdict {
                    crate::catalog::Verdict::Uncovered { reason }
                        if c.layer == crate::catalog::Layer::CompiledSemantics =>
                    {
                        Some(reason.to_string())
                    }
                    _ => None,
                })
                .unwrap_or_else(|| "no entry lists it".into());
            return Ok(unknown(format!(
                "node `{}` ({}) is not covered: {why}",
                n.name,
                op.name()
            )));
        };
        let conds: Vec<Condition> = e
            .side_conditions_for(*op)
            .into_iter()
            .map(Condition::Catalog)
            .collect();
        match check_all(cx, &conds, graph, Some(n)) {
            Ok(names) => checked.extend(names),
            Err(why) => return Ok(unknown(format!("{} at node `{}`: {why}", e.id, n.name))),
        }
        if !cited.contains(&e.id.as_str()) {
            cited.push(&e.id);
        }
    }
    checked.sort();
    checked.dedup();
    Ok((
        Verdict::Holds,
        format!(
            "every op node is covered by {} (proved for TorchLean's compiler; tl's compiled plan is a separate implementation, so for it this is assumed, not proved); side conditions checked: {}",
            cited.join(", "),
            checked.join(", ")
        ),
    ))
}

/// A side condition: the catalog's, or one verify adds for a claim kind.
enum Condition<'a> {
    Catalog(&'a SideCondition),
    /// The ignored-labels card states the reduced loss (mean over non-ignored labels, 0 when all
    /// are ignored); a per-row loss (`reduction = "none"`) is not what it proves.
    ReducedLoss,
}

fn extra_conditions(claim: &Claim) -> Vec<Condition<'static>> {
    match claim {
        Claim::IgnoredLabelsZero { .. } => vec![Condition::ReducedLoss],
        _ => vec![],
    }
}

/// Checks every condition; the names of those checked, or why one fails.
fn check_all(
    cx: &Cx,
    conds: &[Condition],
    graph: &Graph,
    node: Option<&Node>,
) -> Result<Vec<String>, String> {
    let mut names = Vec::new();
    for c in conds {
        match c {
            Condition::ReducedLoss => {
                let reduction = node
                    .and_then(|n| match &n.kind {
                        NodeKind::Op { attrs, .. } => {
                            Some(attrs.str("reduction", "mean").to_string())
                        }
                        _ => None,
                    })
                    .unwrap_or_default();
                if reduction == "none" {
                    return Err("side condition reduced_loss fails: reduction = \"none\"".into());
                }
                names.push("reduced_loss".into());
            }
            Condition::Catalog(sc) => {
                if !sc.mechanical {
                    return Err(format!(
                        "side condition {} is not mechanically checkable ({})",
                        sc.id, sc.description
                    ));
                }
                let Some(check) = sc.check else {
                    return Err(format!("side condition {} names no check", sc.id));
                };
                check_one(cx, check, sc, graph, node)
                    .map_err(|why| format!("side condition {} fails: {why}", sc.id))?;
                names.push(sc.id.clone());
            }
        }
    }
    Ok(names)
}

fn attrs_of(node: Option<&Node>) -> Option<(Op, &tl_ir::Attrs)> {
    match node.map(|n| &n.kind) {
        Some(NodeKind::Op { op, attrs }) => Some((*op, attrs)),
        _ => None,
    }
}

fn check_one(
    cx: &Cx,
    check: Check,
    sc: &SideCondition,
    graph: &Graph,
    node: Option<&Node>,
) -> Result<(), String> {
    let op_attrs = attrs_of(node);
    let default_of = |op: Op, name: &str| {
        op.info()
            .attrs
            .iter()
            .find(|a| a.name == name)
            .and_then(|a| a.default)
    };
    match check {
        Check::StructuralChecksPass => graph.validate().map_err(|e| e.message),
        Check::CompilationSucceeds => cx.model.compile().map(|_| ()).map_err(|f| f.message),
        Check::NoMseLoss => match graph.nodes.iter().find(|n| {
            matches!(
                n.kind,
                NodeKind::Op {
                    op: Op::MseLoss,
                    ..
                }
            )
        }) {
            Some(n) => Err(format!("node `{}` is an mse_loss", n.name)),
            None => Ok(()),
        },
        Check::OperandsSameShape => {
            let n = node.ok_or("no node")?;
            let shapes: Vec<&tl_ir::Shape> =
                n.parents.iter().map(|&p| &graph.nodes[p].shape).collect();
            if shapes.windows(2).all(|w| w[0] == w[1]) {
                Ok(())
            } else {
                Err(format!(
                    "operand shapes differ ({})",
                    shapes
                        .iter()
                        .map(|s| s.to_string())
                        .collect::<Vec<_>>()
                        .join(", ")
                ))
            }
        }
        Check::AttrsAtDefault => {
            let (op, attrs) = op_attrs.ok_or("no node")?;
            for a in &sc.attrs {
                if let Some(v) = attrs.get(a) {
                    if Some(v.to_string().as_str()) != default_of(op, a) {
                        return Err(format!("{a} = {v} is not the default"));
                    }
                }
            }
            Ok(())
        }
        Check::AttrEquals => {
            let (op, attrs) = op_attrs.ok_or("no node")?;
            let want = sc.value.clone().unwrap_or_default();
            for a in &sc.attrs {
                let have = attrs
                    .get(a)
                    .map(|v| match v {
                        AttrValue::Str(s) => s.clone(),
                        v => v.to_string(),
                    })
                    .or_else(|| default_of(op, a).map(|d| d.trim_matches('"').to_string()));
                if have.as_deref() != Some(want.as_str()) {
                    return Err(format!(
                        "{a} is {}, not {want}",
                        have.unwrap_or("unset".into())
                    ));
                }
            }
            Ok(())
        }
        Check::AttrPositive => {
            let (op, attrs) = op_attrs.ok_or("no node")?;
            for a in &sc.attrs {
                let v = attrs
                    .get(a)
                    .and_then(AttrValue::as_f64)
                    .or_else(|| default_of(op, a).and_then(|d| d.parse().ok()));
                if !v.is_some_and(|v| v > 0.0) {
                    return Err(format!("{a} is not > 0"));
                }
            }
            Ok(())
        }
        Check::UniformSpatialAttrs => {
            let (_, attrs) = op_attrs.ok_or("no node")?;
            for a in &sc.attrs {
                if let Some(AttrValue::Ints(v)) = attrs.get(a) {
                    if v.windows(2).any(|w| w[0] != w[1]) {
                        return Err(format!("{a} = {v:?} differs between axes"));
                    }
                }
            }
            Ok(())
        }
        Check::LastAxis => {
            let (_, attrs) = op_attrs.ok_or("no node")?;
            let n = node.ok_or("no node")?;
            let rank = n.shape.0.len() as i64;
            let axis = attrs.int("axis", -1);
            if axis == -1 || axis == rank - 1 {
                Ok(())
            } else {
                Err(format!("axis = {axis}, not the last axis"))
            }
        }
        Check::CausalOrHardMask => {
            let (_, attrs) = op_attrs.ok_or("no node")?;
            let n = node.ok_or("no node")?;
            // tl's attention ops apply masks as hard masks (the op table's semantics); what is
            // left to check is that something is masked at all.
            if attrs.bool("causal", false)
                || n.parents.len()
                    > 2 + usize::from(matches!(
                        n.kind,
                        NodeKind::Op {
                            op: Op::ScaledDotProductAttention,
                            ..
                        }
                    ))
            {
                Ok(())
            } else {
                Err("the op is neither causal nor given a mask".into())
            }
        }
        Check::AttentionUnmasked => {
            let (_, attrs) = op_attrs.ok_or("no node")?;
            let n = node.ok_or("no node")?;
            let mask_at = if matches!(
                n.kind,
                NodeKind::Op {
                    op: Op::ScaledDotProductAttention,
                    ..
                }
            ) {
                3
            } else {
                2
            };
            if attrs.bool("causal", false) || n.parents.len() > mask_at {
                Err("the attention is masked".into())
            } else {
                Ok(())
            }
        }
        Check::OperandRank => {
            let n = node.ok_or("no node")?;
            let want = sc
                .value
                .as_deref()
                .and_then(|v| v.parse::<usize>().ok())
                .ok_or("operand_rank without a rank")?;
            let ranks: Vec<usize> = n
                .parents
                .iter()
                .map(|&p| graph.nodes[p].shape.rank())
                .collect();
            if ranks.iter().all(|&k| k == want) {
                Ok(())
            } else {
                Err(format!(
                    "operand ranks are {ranks:?}; the result is stated for rank {want}"
                ))
            }
        }
        other => Err(format!("verify cannot check `{}` yet", other.name())),
    }
}
