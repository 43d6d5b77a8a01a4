//! `tlc tolerance`: the derived float budgets of one graph, per node, over an input set.
//!
//! For each node of the bound network: a bound on |compiled f32 - real| (the f32 executor) and on
//! |reference f64 - real| (the reference evaluator), absolute and, where the node's real range
//! excludes 0, relative; the rule charged; at the output the bound on |compiled - reference| (their
//! sum) and, for a contract, whether it fits the declared tolerance (the test `tlc verify` applies,
//! `tl_analysis::verify::float`). Where the analysis stops, the node and the reason.
//!
//! The input set is each `compiled ~= reference within T` contract's on the graph (one section per
//! contract), or an explicit box. Weights are read here, at the command's request, never on the
//! keystroke path. Codes: TL0532 (no such graph), TL0827 (no contract and no box), TL0829 (the
//! graph cannot take the explicit box); the command line's TL0828 (a bad `--box`).

use serde::Serialize;
use tl_analysis::contracts::{analyze_contract, Claim, Target};
use tl_analysis::db::Db;
use tl_analysis::items::{file_items, DefKind};
use tl_analysis::scope::lookup;
use tl_analysis::verify::float::{contract_box, fit_ratio, output_budgets, OutputBudget, Stop};
use tl_analysis::verify::model::instantiate;
use tl_analysis::verify::sets::ValueSpec;
use tl_analysis::verify::{prepare, SetSpec, Tolerance, VerifyOptions};
use tl_bounds::float_error::NodeBound;
use tl_bounds::InputBox;
use tl_syntax::ItemKeyword;

use crate::runnable::{resolve_graph, resolved_name};
use crate::GraphError;

/// The input set the budgets are derived over.
#[derive(Clone, Debug, PartialEq)]
pub enum InputRequest {
    /// The input set of each equivalence contract on the graph, one section each.
    Contracts,
    /// Every coordinate of the graph's one input in `[lo, hi]` (symbolic extents 1).
    Box { lo: f64, hi: f64 },
}

/// The budgets of one graph.
#[derive(Clone, Debug, Serialize)]
pub struct ToleranceReport {
    pub graph: String,
    pub sections: Vec<Section>,
}

impl ToleranceReport {
    /// Whether every output of every section got a budget.
    pub fn all_derived(&self) -> bool {
        self.sections
            .iter()
            .all(|s| s.error.is_none() && s.outputs.iter().all(|o| o.stopped.is_none()))
    }
}

/// The budgets over one input set.
#[derive(Clone, Debug, Serialize)]
pub struct Section {
    /// The contract whose input set this is (`None`: the explicit box).
    pub contract: Option<String>,
    /// The input set in words.
    pub input: String,
    /// The contract's declared tolerance.
    pub tolerance: Option<DeclaredTolerance>,
    /// Why nothing could be derived over this set (no box, the target does not load).
    pub error: Option<String>,
    pub outputs: Vec<OutputReport>,
}

/// A `tolerance` item's components.
#[derive(Clone, Debug, Serialize)]
pub struct DeclaredTolerance {
    pub name: String,
    pub abs: f64,
    pub rel: f64,
    pub ulp: Option<f64>,
}

/// One graph output's budgets.
#[derive(Clone, Debug, Serialize)]
pub struct OutputReport {
    pub output: String,
    /// The range analysis the budgets rest on (`crown`, or `ibp` for large networks; `None` when
    /// the graph does not lower to a bound network).
    pub range_method: Option<String>,
    /// Per live node of the bound network, in order (empty when the analysis stopped).
    pub nodes: Vec<NodeBudget>,
    /// The largest bound on |compiled f32 - reference f64| over the output's elements.
    pub bound: Option<f64>,
    /// Against the contract's tolerance (the test `tlc verify` applies).
    pub fit: Option<Fit>,
    /// Named assumptions the budget rests on (libm accuracy for tanh/sigmoid, ...).
    pub assumptions: Vec<String>,
    /// Where and why the analysis stopped.
    pub stopped: Option<Stopped>,
}

/// The derived bound against a declared tolerance.
#[derive(Clone, Debug, Serialize)]
pub struct Fit {
    /// The largest derived bound / allowed error over the output's elements (serialised as
    /// `null` when the tolerance allows no error where the bound is positive).
    pub ratio: f64,
    /// `ratio <= 1`: the derived bound is within the tolerance everywhere in the box.
    pub fits: bool,
}

/// Where the analysis stopped.
#[derive(Clone, Debug, Serialize)]
pub struct Stopped {
    /// The graph node (`None`: the graph does not lower to a bound network at all).
    pub node: Option<String>,
    pub reason: String,
}

/// One node's budgets.
#[derive(Clone, Debug, Serialize)]
pub struct NodeBudget {
    pub name: String,
    /// The bound network's layer kind.
    pub kind: String,
    /// The rounding rule charged at the node (of the f32 pass).
    pub rule: String,
    /// The largest bound on |compiled f32 - real|.
    pub compiled_abs: f64,
    /// The largest relative bound, where every element's real range excludes 0.
    pub compiled_rel: Option<f64>,
    /// The largest bound on |reference f64 - real|.
    pub reference_abs: Option<f64>,
    pub reference_rel: Option<f64>,
}

pub(crate) fn tolerance(
    db: &dyn Db,
    spec: &std::path::Path,
    name: Option<&str>,
    request: &InputRequest,
) -> Result<ToleranceReport, GraphError> {
    let runnable = resolve_graph(db, spec, name)?;
    let graph_name = resolved_name(db, spec, name)?;
    let sections = match request {
        InputRequest::Box { lo, hi } => vec![box_section(&runnable, *lo, *hi)?],
        InputRequest::Contracts => contract_sections(db, spec, &graph_name)?,
    };
    Ok(ToleranceReport {
        graph: graph_name,
        sections,
    })
}

fn error(code: &str, message: String) -> GraphError {
    GraphError {
        code: code.into(),
        message,
        usage: true,
        diagnostics: vec![],
    }
}

fn box_section(runnable: &crate::RunnableGraph, lo: f64, hi: f64) -> Result<Section, GraphError> {
    let graph = runnable.graph();
    if graph.inputs.len() != 1 {
        return Err(error(
            "TL0829",
            format!(
                "the float analysis needs a graph with exactly one input; {} has {}",
                graph.name,
                graph.inputs.len()
            ),
        ));
    }
    let concrete = instantiate(graph, 1)
        .map_err(|f| error("TL0829", format!("{}: {}", graph.name, f.message)))?;
    let input = &concrete.nodes[concrete.inputs[0]];
    let Some(shape) = input.shape.as_known() else {
        return Err(error(
            "TL0829",
            format!("the shape of input `{}` is not concrete", input.name),
        ));
    };
    let n: usize = shape.iter().map(|&d| d as usize).product();
    let b = InputBox::new(vec![lo; n], vec![hi; n])
        .map_err(|e| error("TL0828", format!("--box {lo},{hi}: {}", e.message)))?;
    let budgets = runnable.with_payload(|_, payload| {
        let weights = |key: &str| payload.load(key).ok().map(|t| t.to_f64());
        output_budgets(&concrete, &weights, &b, true)
    });
    Ok(Section {
        contract: None,
        input: format!("{} in box({lo:?}, {hi:?}) ({n} coordinates)", input.name),
        tolerance: None,
        error: None,
        outputs: budgets
            .into_iter()
            .map(|o| output_report(o, None))
            .collect(),
    })
}

fn contract_sections(
    db: &dyn Db,
    spec: &std::path::Path,
    graph_name: &str,
) -> Result<Vec<Section>, GraphError> {
    let file = db.source(spec);
    let segments: Vec<&str> = graph_name.split('.').collect();
    let target = lookup(db, file, &segments)
        .filter(|d| matches!(d.kind, DefKind::Graph | DefKind::Import))
        .map(|d| d.item);
    let opts = VerifyOptions::default();
    let mut sections = Vec::new();
    for item in file_items(db, file).iter().copied() {
        if item.keyword(db) != ItemKeyword::Contract {
            continue;
        }
        let Some(name) = item.name(db).clone() else {
            continue;
        };
        let Some(analysis) = analyze_contract(db, item) else {
            continue;
        };
        if !matches!(analysis.claim, Some(Claim::Equivalence)) {
            continue;
        }
        let on_graph = match analysis.target {
            Some(Target::Graph(g)) | Some(Target::Onnx(g)) => Some(g) == target,
            None => false,
        };
        if !on_graph {
            continue;
        }
        let p = prepare(db, item, &opts);
        let input = p
            .inputs
            .iter()
            .map(|(n, s)| match n {
                Some(n) => format!("{n} in {}", describe_set(s)),
                None => describe_set(s),
            })
            .collect::<Vec<_>>()
            .join(", ");
        let tolerance = p.tolerance.as_ref().map(|t| DeclaredTolerance {
            name: t.name.clone(),
            abs: t.abs,
            rel: t.rel,
            ulp: t.ulp,
        });
        let mut section = Section {
            contract: Some(name),
            input,
            tolerance,
            error: None,
            outputs: vec![],
        };
        let model = match &p.model {
            Ok(m) => m.clone(),
            Err(f) => {
                section.error = Some(format!("{} [{}]", f.message, f.code));
                sections.push(section);
                continue;
            }
        };
        match contract_box(&p, &model) {
            Err(why) => section.error = Some(why),
            Ok((concrete, b)) => {
                let weights = |key: &str| model.f64_param(key);
                section.outputs = output_budgets(&concrete, &weights, &b, true)
                    .into_iter()
                    .map(|o| output_report(o, p.tolerance.as_ref()))
                    .collect();
            }
        }
        sections.push(section);
    }
    if sections.is_empty() {
        return Err(error(
            "TL0827",
            format!(
                "{} has no `compiled ~= reference within T` contract on {graph_name}; give an input box with --box LO,HI",
                spec.display()
            ),
        ));
    }
    Ok(sections)
}

fn describe_set(s: &SetSpec) -> String {
    let value = |v: &ValueSpec| match v {
        ValueSpec::Scalar(x) => format!("{x:?}"),
        ValueSpec::Literal { data, .. } => format!("[{} values]", data.len()),
        ValueSpec::File(p) => p
            .file_name()
            .map_or_else(|| p.display().to_string(), |f| f.to_string_lossy().into()),
    };
    match s {
        SetSpec::LinfBall { center, eps } => format!("ball({}, eps = {eps:?})", value(center)),
        SetSpec::Box { lower, upper } => format!("box({}, {})", value(lower), value(upper)),
        SetSpec::Dataset { path } => format!("dataset({})", path.display()),
    }
}

fn output_report(o: OutputBudget, tol: Option<&Tolerance>) -> OutputReport {
    let mut report = OutputReport {
        output: o.output,
        range_method: o.range_method.map(str::to_string),
        nodes: vec![],
        bound: None,
        fit: None,
        assumptions: vec![],
        stopped: None,
    };
    match o.result {
        Err(Stop::Net { message, code, .. }) => {
            report.stopped = Some(Stopped {
                node: None,
                reason: format!("{message} [{code}]"),
            })
        }
        Err(Stop::Unmodelled(u)) => {
            report.stopped = Some(Stopped {
                node: Some(u.node),
                reason: u.reason,
            })
        }
        Ok(b) => {
            let reference: Vec<Option<&NodeBound>> = match &b.f64_pass {
                // Both passes walk the same live layers in the same order.
                Some(r) if r.nodes.len() == b.f32_pass.nodes.len() => {
                    r.nodes.iter().map(Some).collect()
                }
                _ => vec![None; b.f32_pass.nodes.len()],
            };
            report.nodes = b
                .f32_pass
                .nodes
                .iter()
                .zip(reference)
                .map(|(n, r)| {
                    let r = r.filter(|r| r.name == n.name);
                    NodeBudget {
                        name: n.name.clone(),
                        kind: n.kind.to_string(),
                        rule: n.rule.clone(),
                        compiled_abs: n.max_abs(),
                        compiled_rel: n.max_rel(),
                        reference_abs: r.map(NodeBound::max_abs),
                        reference_rel: r.and_then(NodeBound::max_rel),
                    }
                })
                .collect();
            report.bound = Some(b.combined.iter().fold(0.0f64, |m, &v| m.max(v)));
            report.fit = tol.map(|t| {
                let ratio = fit_ratio(b.f32_pass.output(), &b.combined, t);
                Fit {
                    ratio,
                    fits: ratio <= 1.0,
                }
            });
            let mut assumptions = b.f32_pass.assumptions.clone();
            if let Some(r) = &b.f64_pass {
                for a in &r.assumptions {
                    if !assumptions.contains(a) {
                        assumptions.push(a.clone());
                    }
                }
            }
            report.assumptions = assumptions;
        }
    }
    report
}
