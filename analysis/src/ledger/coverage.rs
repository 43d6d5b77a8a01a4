//! Node-level coverage: for every op node of a lowered graph (blocks inlined) and every proof layer,
//! which catalog entries cover it with their side conditions checked, or why nothing does; per
//! layer, the share of covered nodes and the whole-graph theorems that apply.

use std::collections::BTreeSet;

use tl_ir::{Graph, NodeId, Op};

use super::checks::{is_graph_level, op_nodes, run_graph_check, run_node_check, CheckOutcome};
use super::{catalog, GraphFacts};
use crate::catalog::{Check, Entry, Layer, Status, Verdict};
use crate::db::Db;
use crate::graphs::graph_signature;
use crate::items::ItemSource;
use crate::lower::lower_graph;
use crate::scope::{import_target, ImportTarget};
use tl_syntax::ast::GraphKind;

/// The layers node coverage is reported for (the other layers state whole-sublayer, record or
/// card results, never per-op ones).
pub const NODE_LAYERS: [Layer; 4] = [
    Layer::CompiledSemantics,
    Layer::Autograd,
    Layer::FloatApproximation,
    Layer::BoundPropagation,
];

/// Coverage of one graph.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct GraphCoverage {
    pub graph: String,
    /// `spec` (a graph item) or `onnx` (an imported model).
    pub origin: &'static str,
    /// Why the graph could not be lowered or imported; then there are no nodes.
    pub error: Option<String>,
    pub nodes: Vec<NodeCoverage>,
    pub layers: Vec<LayerSummary>,
    /// The whole-graph facts the checks read (absent when the graph could not be built).
    #[serde(skip)]
    pub facts: Option<GraphFacts>,
}

/// One op node's answers, one per layer of [`NODE_LAYERS`].
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct NodeCoverage {
    /// The lowered name: `h1`, or `attn.weights` inside a block instance.
    pub node: String,
    pub op: &'static str,
    pub layers: Vec<NodeLayer>,
    /// The node only moves data and no compiled-semantics theorem lists its op, so the verify
    /// run checks its kernel by index map (`verify::index_maps`).
    #[serde(skip)]
    pub index_map: bool,
}

#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct NodeLayer {
    pub layer: &'static str,
    /// What the best applicable entry grants (assumed when it rests on undecided side
    /// conditions), or uncovered.
    pub status: Status,
    pub entries: Vec<String>,
    /// Side conditions tl could not decide, as `entry#condition`.
    pub assumptions: Vec<String>,
    /// Why the node is uncovered in this layer.
    pub reason: Option<String>,
}

/// A side condition about the whole graph and what checking it gave.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct ConditionResult {
    pub entry: String,
    pub condition: String,
    /// `holds`, `fails` or `undecided`.
    pub outcome: &'static str,
    pub detail: String,
}

/// A theorem about a whole graph (no op list) and whether it applies to this one.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct GraphTheorem {
    pub entry: String,
    pub status: Status,
    pub detail: String,
}

#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct LayerSummary {
    pub layer: &'static str,
    /// Op nodes covered (including those covered only under assumptions).
    pub covered: usize,
    /// Of the covered nodes, those that rest on undecided side conditions.
    pub assumed: usize,
    pub total: usize,
    /// `covered / total` in percent, one decimal; 100 for a graph without op nodes.
    pub percent: f64,
    pub conditions: Vec<ConditionResult>,
    pub theorems: Vec<GraphTheorem>,
}

impl GraphCoverage {
    pub fn layer(&self, layer: Layer) -> Option<&LayerSummary> {
        self.layers.iter().find(|l| l.layer == layer.name())
    }

    /// Each node's answer in `layer`.
    pub fn in_layer(&self, layer: Layer) -> impl Iterator<Item = (&NodeCoverage, &NodeLayer)> {
        self.nodes.iter().filter_map(move |n| {
            n.layers
                .iter()
                .find(|l| l.layer == layer.name())
                .map(|l| (n, l))
        })
    }
}

/// Coverage of a graph item (blocks inlined by lowering). `None` for blocks and non-graphs.
#[salsa::tracked(returns(ref))]
pub fn graph_coverage<'db>(db: &'db dyn Db, item: ItemSource<'db>) -> Option<GraphCoverage> {
    let sig = graph_signature(db, item).as_ref()?;
    if sig.kind != GraphKind::Graph {
        return None;
    }
    let name = item.name(db).clone().unwrap_or_default();
    let lowered = match lower_graph(db, item) {
        Ok(l) => l,
        Err(e) => {
            return Some(unavailable(
                name,
                "spec",
                format!("the graph does not lower: {e}"),
            ))
        }
    };
    // The keystroke path never compiles a plan nor reads weight data: lowering is checked from
    // the op table alone (weight shapes and dtypes are checked against file headers by
    // `payload::check_payload`); `compile` runs when a verify, run or bounds needs a plan.
    let facts = GraphFacts {
        structural: Ok(()),
        compiles: tl_kernels::exec::check_lowering(&lowered.graph)
            .map_err(|e| format!("{}: {e}", e.code())),
    };
    Some(cover_graph(name, "spec", &lowered.graph, &facts))
}

/// Coverage of every graph item of a file, in source order.
pub fn file_coverage(db: &dyn Db, file: crate::db::SourceFile) -> Vec<GraphCoverage> {
    crate::items::file_items(db, file)
        .iter()
        .filter_map(|&item| graph_coverage(db, item).clone())
        .collect()
}

/// Coverage of an ONNX model imported `as` a name (the import item).
#[salsa::tracked(returns(ref))]
pub fn onnx_coverage<'db>(db: &'db dyn Db, import: ItemSource<'db>) -> Option<GraphCoverage> {
    let Some(ImportTarget::Onnx(file)) = import_target(db, import) else {
        return None;
    };
    let name = import.name(db).clone().unwrap_or_default();
    // The header's graph: coverage needs the structure and the ops, never the weights.
    let imported = match crate::onnx_model::onnx_graph(db, file) {
        Ok(i) => i,
        Err(e) => return Some(unavailable(name, "onnx", e.to_string())),
    };
    let facts = GraphFacts {
        structural: imported.graph.validate().map_err(|e| e.message),
        compiles: tl_kernels::exec::check_lowering(&imported.graph)
            .map_err(|e| format!("{}: {e}", e.code())),
    };
    Some(cover_graph(name, "onnx", &imported.graph, &facts))
}

fn unavailable(graph: String, origin: &'static str, error: String) -> GraphCoverage {
    GraphCoverage {
        graph,
        origin,
        error: Some(error),
        nodes: vec![],
        layers: vec![],
        facts: None,
    }
}

/// Coverage of an IR graph with the given whole-graph facts.
pub fn cover_graph(
    name: String,
    origin: &'static str,
    graph: &Graph,
    facts: &GraphFacts,
) -> GraphCoverage {
    let catalog = catalog();
    let ops: Vec<(NodeId, Op)> = op_nodes(graph).collect();
    let mut nodes: Vec<NodeCoverage> = ops
        .iter()
        .map(|&(id, op)| NodeCoverage {
            node: graph.nodes[id].name.clone(),
            op: op.name(),
            layers: vec![],
            index_map: match &graph.nodes[id].kind {
                tl_ir::NodeKind::Op { attrs, .. } => {
                    crate::verify::index_maps::wants_check(op, attrs)
                }
                _ => false,
            },
        })
        .collect();
    let mut layers = Vec::new();
    for layer in NODE_LAYERS {
        let mut conditions: Vec<ConditionResult> = Vec::new();
        for (k, &(id, op)) in ops.iter().enumerate() {
            let answer = node_layer(
                layer,
                catalog.coverage_in(layer, op).verdict,
                graph,
                id,
                facts,
                &mut conditions,
            );
            nodes[k].layers.push(answer);
        }
        let answers: Vec<&NodeLayer> = nodes.iter().filter_map(|n| n.layers.last()).collect();
        let covered = answers
            .iter()
            .filter(|a| a.status != Status::Uncovered)
            .count();
        let assumed = answers
            .iter()
            .filter(|a| a.status == Status::Assumed)
            .count();
        let theorems = catalog
            .entries()
            .iter()
            .filter(|e| e.layer == layer && is_whole_graph_theorem(e))
            .map(|e| graph_theorem(e, graph, facts, &nodes, &answers))
            .collect();
        let total = ops.len();
        let percent = if total == 0 {
            100.0
        } else {
            (covered as f64 * 1000.0 / total as f64).round() / 10.0
        };
        layers.push(LayerSummary {
            layer: layer.name(),
            covered,
            assumed,
            total,
            percent,
            conditions,
            theorems,
        });
    }
    GraphCoverage {
        graph: name,
        origin,
        error: None,
        nodes,
        layers,
        facts: Some(facts.clone()),
    }
}

/// The answer for one node in one layer. Graph-level conditions are evaluated once per entry and
/// recorded in `conditions`.
fn node_layer(
    layer: Layer,
    verdict: Verdict<'_>,
    graph: &Graph,
    id: NodeId,
    facts: &GraphFacts,
    conditions: &mut Vec<ConditionResult>,
) -> NodeLayer {
    let layer = layer.name();
    let covers = match verdict {
        Verdict::Uncovered { reason } => {
            return NodeLayer {
                layer,
                status: Status::Uncovered,
                entries: vec![],
                assumptions: vec![],
                reason: Some(reason.to_string()),
            }
        }
        Verdict::Covered(covers) => covers,
    };
    let mut failures = Vec::new();
    let mut best: Option<(Status, &Entry, Vec<String>)> = None;
    for cover in &covers {
        let mut assumptions = Vec::new();
        let mut failed = None;
        for cond in &cover.side_conditions {
            let outcome = match cond.check {
                Some(check) if cond.mechanical && is_graph_level(check) => graph_condition(
                    cover.entry,
                    cond.id.as_str(),
                    check,
                    graph,
                    facts,
                    conditions,
                ),
                Some(_) if cond.mechanical => run_node_check(cond, graph, id),
                _ => CheckOutcome::Undecided(cond.description.clone()),
            };
            match outcome {
                CheckOutcome::Holds => {}
                CheckOutcome::Undecided(_) => {
                    assumptions.push(format!("{}#{}", cover.entry.id, cond.id))
                }
                CheckOutcome::Fails(why) => {
                    failed = Some(format!(
                        "{}: side condition {} fails ({why})",
                        short_id(&cover.entry.id),
                        cond.id
                    ));
                    break;
                }
            }
        }
        if let Some(f) = failed {
            failures.push(f);
            continue;
        }
        let status = if assumptions.is_empty() {
            cover.entry.grants
        } else {
            cover.entry.grants.compose(Status::Assumed)
        };
        if best.as_ref().is_none_or(|(s, _, _)| stronger(status, *s)) {
            best = Some((status, cover.entry, assumptions));
        }
    }
    match best {
        Some((status, entry, assumptions)) => NodeLayer {
            layer,
            status,
            entries: vec![entry.id.clone()],
            assumptions,
            reason: None,
        },
        None => NodeLayer {
            layer,
            status: Status::Uncovered,
            entries: vec![],
            assumptions: vec![],
            reason: Some(failures.join("; ")),
        },
    }
}

/// A graph-level condition of an entry, evaluated once and remembered.
fn graph_condition(
    entry: &Entry,
    condition: &str,
    check: Check,
    graph: &Graph,
    facts: &GraphFacts,
    seen: &mut Vec<ConditionResult>,
) -> CheckOutcome {
    if let Some(r) = seen
        .iter()
        .find(|r| r.entry == entry.id && r.condition == condition)
    {
        return match r.outcome {
            "holds" => CheckOutcome::Holds,
            "fails" => CheckOutcome::Fails(r.detail.clone()),
            _ => CheckOutcome::Undecided(r.detail.clone()),
        };
    }
    let outcome = run_graph_check(check, graph, facts);
    let (word, detail) = match &outcome {
        CheckOutcome::Holds => ("holds", String::new()),
        CheckOutcome::Fails(d) => ("fails", d.clone()),
        CheckOutcome::Undecided(d) => ("undecided", d.clone()),
    };
    seen.push(ConditionResult {
        entry: entry.id.clone(),
        condition: condition.to_string(),
        outcome: word,
        detail,
    });
    outcome
}

/// Whether a whole-graph entry (no op list) applies: its graph checks run, `all_nodes_covered`
/// reads the layer's node answers, undecided conditions make it assumed.
fn graph_theorem(
    entry: &Entry,
    graph: &Graph,
    facts: &GraphFacts,
    nodes: &[NodeCoverage],
    answers: &[&NodeLayer],
) -> GraphTheorem {
    let mut status = entry.grants;
    let mut notes = Vec::new();
    for cond in &entry.side_conditions {
        let outcome = match cond.check {
            Some(Check::AllNodesCovered) if cond.mechanical => {
                let missing: BTreeSet<&str> = nodes
                    .iter()
                    .zip(answers)
                    .filter(|(_, a)| a.status == Status::Uncovered)
                    .map(|(n, _)| n.op)
                    .collect();
                if missing.is_empty() {
                    status = status.compose(Status::compose_all(
                        answers.iter().map(|a| a.status).chain([Status::Proved]),
                    ));
                    CheckOutcome::Holds
                } else {
                    let list: Vec<&str> = missing.into_iter().collect();
                    CheckOutcome::Fails(format!("uncovered ops: {}", list.join(", ")))
                }
            }
            Some(check) if cond.mechanical && is_graph_level(check) => {
                run_graph_check(check, graph, facts)
            }
            _ => CheckOutcome::Undecided(cond.description.clone()),
        };
        match outcome {
            CheckOutcome::Holds => {}
            CheckOutcome::Undecided(_) => {
                status = status.compose(Status::Assumed);
                notes.push(format!("assumes {}", cond.id));
            }
            CheckOutcome::Fails(why) => {
                status = Status::Uncovered;
                notes.push(format!("{} fails ({why})", cond.id));
            }
        }
    }
    GraphTheorem {
        entry: entry.id.clone(),
        status,
        detail: notes.join("; "),
    }
}

/// An entry about whole graphs: no op list, and a mechanical condition on the graph (every node
/// covered, a fixed shape). Modules and rules without one are not graph theorems.
fn is_whole_graph_theorem(e: &Entry) -> bool {
    e.ops.is_empty()
        && e.families.is_empty()
        && e.side_conditions
            .iter()
            .any(|c| c.mechanical && c.check.is_some_and(is_graph_level))
}

/// Higher is stronger on the trust scale; falsified never comes from the catalog.
fn stronger(a: Status, b: Status) -> bool {
    a != b && a.compose(b) == b
}

/// The last segment of a Lean name: `execGraphOfIR_semantics_eq`.
pub fn short_id(id: &str) -> &str {
    id.rsplit('.').next().unwrap_or(id)
}
