//! catalog: a claim discharged by a catalog entry (a TorchLean theorem or BugZoo card) whose
//! mechanically checkable side conditions verify checks on the lowered graph. Holds (granting
//! "proved") only when every side condition that applies holds; otherwise Unknown, naming the
//! failed or unchecked condition.

use tl_ir::{Graph, Node, NodeKind};

use super::{Cx, Failure};
use crate::catalog::{Check, Entry, SideCondition};
use crate::contracts::Claim;
use crate::ledger::checks::{
    is_graph_level, run_graph_check, run_node_check, CheckOutcome, GraphFacts,
};
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

/// One side condition on the lowered graph, by the one interpreter the ledger also uses
/// (`ledger::checks`); only the whole-graph facts it cannot know alone (structure, compilation)
/// are computed here.
fn check_one(
    cx: &Cx,
    check: Check,
    sc: &SideCondition,
    graph: &Graph,
    node: Option<&Node>,
) -> Result<(), String> {
    let outcome = if is_graph_level(check) {
        let facts = GraphFacts {
            structural: graph.validate().map_err(|e| e.message),
            compiles: match check {
                Check::CompilationSucceeds => cx.model.compile().map(|_| ()).map_err(|f| f.message),
                _ => Ok(()),
            },
        };
        run_graph_check(check, graph, &facts)
    } else {
        let n = node.ok_or("no node")?;
        let id = graph
            .nodes
            .iter()
            .position(|m| std::ptr::eq(m, n))
            .ok_or("the node is not in the graph")?;
        run_node_check(sc, graph, id)
    };
    match outcome {
        CheckOutcome::Holds => Ok(()),
        CheckOutcome::Fails(why) => Err(why),
        CheckOutcome::Undecided(why) => Err(format!("cannot be decided here: {why}")),
    }
}
