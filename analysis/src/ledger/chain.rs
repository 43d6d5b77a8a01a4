//! Building a contract's chain of evidence: data, semantics, method (or bridge), float and
//! execution links, each with its status, assumptions, catalog entries and boundaries.

use std::collections::BTreeSet;
use std::path::Path;

use tl_syntax::ast::Item;
use tl_syntax::ItemKeyword;

use super::checks::{is_graph_level, op_nodes, run_graph_check, run_node_check, CheckOutcome};
use super::coverage::{
    graph_coverage, onnx_coverage, short_id, GraphCoverage, NodeCoverage, NodeLayer,
};
use super::{
    catalog, Assumption, Boundary, BoundaryKind, CardNote, CardTheorem, Ledger, Link, LinkLayer,
};
use crate::catalog::{Entry, Layer, Status};
use crate::contracts::Expectation;
use crate::contracts::{analyze_contract, Claim, ContractAnalysis, InputSet, Method, Target};
use crate::db::{Db, SourceFile};
use crate::diagnostics::Severity;
use crate::items::{file_items, parse_item, DefKind, ItemSource};
use crate::lower::lower_graph;
use crate::outcome::{ContractOutcome, Verdict};
use crate::scope::{lookup, spec_imports};

/// The named assumption an f32 bound through sigmoid/tanh rests on (tl-bounds' float models).
const LIBM_ASSUMPTION_NAME: &str = "float.libm_within_4ulp";

/// Bridges nested deeper than this are reported, not followed.
const MAX_BRIDGE_DEPTH: usize = 16;
/// Uncovered nodes listed one per line before the rest are counted.
const MAX_LISTED_NODES: usize = 8;

/// The ledger of a contract before any verify run: method links that need one are pending.
#[salsa::tracked(returns(ref))]
pub fn static_ledger<'db>(db: &'db dyn Db, item: ItemSource<'db>) -> Option<Ledger> {
    Builder {
        db,
        outcomes: &|_, _| None,
        stack: Vec::new(),
    }
    .ledger(item)
}

/// The ledger of a contract item, with the outcome of its verify run when there is one.
/// `None` when the item is not a contract.
pub fn contract_ledger(
    db: &dyn Db,
    item: ItemSource<'_>,
    outcome: Option<&ContractOutcome>,
) -> Option<Ledger> {
    match outcome {
        None => static_ledger(db, item).clone(),
        Some(o) => {
            let name = item.name(db).clone().unwrap_or_default();
            let file = item.file(db).path(db).clone();
            Builder {
                db,
                outcomes: &|f, c| (f == file && c == name).then_some(o),
                stack: Vec::new(),
            }
            .ledger(item)
        }
    }
}

/// The ledger of a contract item with the outcomes of several contracts (a bridge contract's
/// ledger reads the outcome of the contract it bridges). Outcomes are matched by item: the file
/// that defines the contract and its name, never the name alone.
pub fn contract_ledger_with(
    db: &dyn Db,
    item: ItemSource<'_>,
    outcomes: &[ContractOutcome],
) -> Option<Ledger> {
    Builder {
        db,
        outcomes: &|f, c| outcomes.iter().find(|o| o.is_of(f, c)),
        stack: Vec::new(),
    }
    .ledger(item)
}

/// The ledgers of every contract of a file, in source order.
pub fn file_ledgers(db: &dyn Db, file: SourceFile, outcomes: &[ContractOutcome]) -> Vec<Ledger> {
    file_items(db, file)
        .iter()
        .filter(|i| i.keyword(db) == ItemKeyword::Contract)
        .filter_map(|&i| {
            if outcomes.is_empty() {
                static_ledger(db, i).clone()
            } else {
                contract_ledger_with(db, i, outcomes)
            }
        })
        .collect()
}

struct Builder<'a> {
    db: &'a dyn Db,
    /// The outcome of the contract defined in a file (normalised path) under a name.
    outcomes: &'a dyn Fn(&Path, &str) -> Option<&'a ContractOutcome>,
    /// Contracts being built, to stop bridge cycles.
    stack: Vec<String>,
}

/// A declared assumption a contract rests on.
struct Declared {
    name: String,
    kind: String,
    text: String,
}

/// What the methods of a contract established.
struct MethodResult {
    status: Status,
    pending: bool,
    /// What the pending methods grant if they hold.
    pending_grants: Option<Status>,
    evidence: Vec<String>,
    entries: Vec<String>,
    assumptions: Vec<String>,
}

/// One contract's chain while it is built.
struct Chain {
    declared: Vec<Declared>,
    links: Vec<Link>,
    boundaries: Vec<Boundary>,
    /// Undecided side conditions and ledger steps: (name, source, text).
    extra: Vec<(String, &'static str, String)>,
}

impl Chain {
    /// The declared assumptions of the kinds a boundary accepts.
    fn covering(&self, kind: BoundaryKind) -> Vec<String> {
        self.declared
            .iter()
            .filter(|d| kind.accepts().contains(&d.kind.as_str()))
            .map(|d| d.name.clone())
            .collect()
    }

    /// Records a boundary and returns the assumptions covering it.
    fn boundary(
        &mut self,
        kind: BoundaryKind,
        what: String,
        link: LinkLayer,
        suggestion: (String, String),
    ) -> Vec<String> {
        let covered_by = self.covering(kind);
        let (name, why) = suggestion;
        self.boundaries.push(Boundary {
            kind,
            what,
            link,
            accepts: kind.accepts().to_vec(),
            covered_by: covered_by.clone(),
            suggestion: covered_by
                .is_empty()
                .then(|| format!("assume {} {name}: \"{why}\"", kind.accepts()[0])),
            code: crate::diagnostics::code_str(kind.code()),
        });
        covered_by
    }

    fn push(&mut self, link: Link) {
        self.links.push(link);
    }
}

fn link(layer: LinkLayer, claim: String, status: Status) -> Link {
    Link {
        layer,
        claim,
        status,
        pending: false,
        pending_grants: None,
        required: true,
        evidence: vec![],
        assumptions: vec![],
        catalog_entries: vec![],
    }
}

impl<'a> Builder<'a> {
    fn ledger(&mut self, item: ItemSource<'_>) -> Option<Ledger> {
        let db = self.db;
        let a = analyze_contract(db, item).as_ref()?;
        let name = item.name(db).clone().unwrap_or_default();
        self.stack.push(name.clone());
        let mut chain = Chain {
            declared: a.rests_on.iter().filter_map(|&i| declared(db, i)).collect(),
            links: vec![],
            boundaries: vec![],
            extra: vec![],
        };
        let (target, coverage) = match a.target {
            Some(Target::Graph(g)) => (g.name(db).clone(), graph_coverage(db, g).as_ref()),
            Some(Target::Onnx(i)) => (i.name(db).clone(), onnx_coverage(db, i).as_ref()),
            None => (None, None),
        };
        self.data_links(&mut chain, a);
        let outcome = (self.outcomes)(item.file(db).path(db), &name);
        semantics_link(&mut chain, a, target.as_deref(), coverage, outcome);
        match &a.claim {
            Some(Claim::Bridge { contract }) => {
                self.bridge_link(&mut chain, item, contract);
                let result = self.run_methods(item, a, None);
                let tol = tolerance_name(db, a);
                let on = a.execute_on.as_deref().unwrap_or("the compiled executor");
                let mut l = link(
                    LinkLayer::Float,
                    format!("f32 execution on {on} stays within {tol} of `{contract}`"),
                    result.status,
                );
                l.pending = result.pending;
                l.pending_grants = result.pending_grants;
                l.evidence = result.evidence;
                chain.push(l);
            }
            Some(claim) => {
                self.method_link(&mut chain, item, a, claim);
                if !matches!(claim, Claim::Equivalence) {
                    self.float_link(&mut chain, item, &name, a);
                }
            }
            None => {
                let mut l = link(
                    LinkLayer::Method,
                    "the claim (it has errors)".into(),
                    Status::Uncovered,
                );
                l.evidence
                    .push("the claim could not be analysed: run `tlc check`".into());
                chain.push(l);
            }
        }
        attach_float_assumptions(&mut chain);
        execution_link(&mut chain, a);
        self.stack.pop();
        let mut ledger = finish(
            name,
            target,
            a.expect,
            a.claim.as_ref().map(|c| c.kind().to_string()),
            a.diagnostics
                .iter()
                .filter(|d| d.severity == Severity::Error)
                .count(),
            chain,
        );
        ledger.card = a.card.as_deref().map(|card| card_note(card, a, &ledger));
        Some(ledger)
    }

    /// Datasets, VNN-LIB properties and ONNX models: the claim is stated over external files.
    fn data_links(&self, chain: &mut Chain, a: &ContractAnalysis<'_>) {
        let mut files: Vec<(String, String)> = Vec::new();
        if let Some(Target::Onnx(i)) = a.target {
            if let Item::Import(imp) = &parse_item(self.db, i).item {
                files.push((
                    imp.path.value.clone(),
                    format!("graph: ONNX model {} imported by tl", imp.path.value),
                ));
            }
        }
        for (_, set) in &a.inputs {
            if let InputSet::Dataset { path } = set {
                files.push((path.clone(), format!("input set: the rows of {path}")));
            }
        }
        if let Some(Claim::VnnLib { path }) = &a.claim {
            files.push((
                path.clone(),
                format!("property: {path} (VNN-LIB, parsed by tl)"),
            ));
        }
        if let Some(Claim::Transitions { path, .. }) = &a.claim {
            self.simulator_link(chain, path);
        }
        for (path, claim) in files {
            let covered = chain.boundary(
                BoundaryKind::ExternalData,
                path.clone(),
                LinkLayer::Data,
                (
                    format!("{}_data", identifier(&path)),
                    format!("{path} is the file the claim is about; reviewed by ..."),
                ),
            );
            let mut l = link(LinkLayer::Data, claim, Status::Uncovered);
            assumed_by(&mut l, covered, || {
                format!("external data: no `environment` assumption says {path} is what the claim means")
            });
            chain.push(l);
        }
    }

    /// A transitions contract checks the records themselves (the method link); the simulator
    /// that wrote them is an `environment` boundary beyond the claim: shown, named by the
    /// assumption that covers it, and not required (the claim says nothing about unrecorded steps).
    fn simulator_link(&self, chain: &mut Chain, path: &str) {
        let covered = chain.boundary(
            BoundaryKind::ExternalData,
            path.to_string(),
            LinkLayer::Data,
            (
                format!("{}_simulator", identifier(path)),
                format!("the environment that wrote {path} behaves beyond the recorded steps as in them; reviewed by ..."),
            ),
        );
        let mut l = link(
            LinkLayer::Data,
            format!("environment: the simulator that wrote {path}"),
            Status::Uncovered,
        );
        l.required = false;
        l.evidence
            .push("not claimed: the contract speaks about the recorded steps only".into());
        assumed_by(&mut l, covered, || {
            format!("no `environment` assumption names the simulator behind {path}")
        });
        chain.push(l);
    }

    /// The real-valued result a bridge contract carries to an executor: the bridged contract's
    /// own ledger.
    fn bridge_link(&mut self, chain: &mut Chain, item: ItemSource<'_>, contract: &str) {
        let db = self.db;
        let claim = format!("real-valued result: contract `{contract}`");
        let mut l = link(LinkLayer::Bridge, claim, Status::Uncovered);
        let target = lookup(db, item.file(db), &[contract])
            .filter(|d| d.kind == DefKind::Contract)
            .map(|d| d.item);
        if self.stack.iter().any(|c| c == contract) {
            l.evidence.push(format!(
                "bridge cycle: {} -> {contract}",
                self.stack.join(" -> ")
            ));
        } else if self.stack.len() > MAX_BRIDGE_DEPTH {
            l.evidence
                .push(format!("bridges nested deeper than {MAX_BRIDGE_DEPTH}"));
        } else if let Some(inner) = target.and_then(|t| self.ledger(t)) {
            l.status = inner.status;
            l.pending = inner.pending;
            l.pending_grants = inner.pending.then_some(inner.ceiling);
            l.evidence.push(format!(
                "`{contract}` is {}{}",
                inner.status,
                if inner.pending { " (pending)" } else { "" }
            ));
            for il in inner.links.iter().filter(|il| il.required) {
                // Why a link is uncovered matters more than its other evidence.
                let why = match il.evidence.last() {
                    Some(e) if il.status == Status::Uncovered && !il.pending => format!(": {e}"),
                    _ => String::new(),
                };
                l.evidence.push(format!(
                    "{}: {}{} ({}){why}",
                    il.layer.name(),
                    il.status,
                    if il.pending { ", pending" } else { "" },
                    il.claim
                ));
            }
            l.catalog_entries = inner
                .links
                .iter()
                .flat_map(|il| il.catalog_entries.iter().cloned())
                .collect::<BTreeSet<_>>()
                .into_iter()
                .collect();
        } else {
            l.evidence
                .push(format!("`{contract}` is not a contract tl could analyse"));
        }
        chain.push(l);
    }

    fn method_link(
        &self,
        chain: &mut Chain,
        item: ItemSource<'_>,
        a: &ContractAnalysis<'_>,
        claim: &Claim,
    ) {
        let db = self.db;
        let catalog_result = a
            .methods
            .iter()
            .any(|m| matches!(m, Method::Catalog))
            .then(|| self.catalog_discharge(a, claim));
        let run = self.run_methods(item, a, catalog_result.as_ref());
        let mut l = link(
            LinkLayer::Method,
            format!(
                "{} claim {}",
                claim.kind(),
                methods_phrase(
                    &a.methods,
                    matches!(claim, Claim::Gradient | Claim::BatchInvariant { .. })
                )
            ),
            run.status,
        );
        l.pending = run.pending;
        l.pending_grants = run.pending_grants;
        l.evidence = run.evidence;
        l.catalog_entries = run.entries;
        l.assumptions = run.assumptions.clone();
        for sc in &run.assumptions {
            chain
                .extra
                .push((sc.clone(), "side_condition", side_condition_text(sc)));
        }
        for m in &a.methods {
            if let Method::Certificate { path } = m {
                let covered = chain.boundary(
                    BoundaryKind::ExternalSolver,
                    path.clone(),
                    LinkLayer::Method,
                    (
                        "certificate_solver".into(),
                        format!(
                            "the solver that wrote {path} states the claim tl recomputes; reviewed by ..."
                        ),
                    ),
                );
                if covered.is_empty() {
                    l.status = l.status.compose(Status::Uncovered);
                    l.evidence.push(format!(
                        "external solver: no `certificate` or `solver` assumption covers {path}"
                    ));
                } else {
                    l.status = l.status.compose(Status::Assumed);
                    l.assumptions.extend(covered);
                }
            }
        }
        let _ = db;
        chain.push(l);
    }

    /// The evidence of the methods a verify run executes (all but `catalog`), composed with the
    /// catalog's static answer when there is one.
    /// The method link's result for contract `item` from the outcome keyed by the item.
    fn run_methods(
        &self,
        item: ItemSource<'_>,
        a: &ContractAnalysis<'_>,
        catalog: Option<&MethodResult>,
    ) -> MethodResult {
        let run: Vec<&Method> = a
            .methods
            .iter()
            .filter(|m| !matches!(m, Method::Catalog))
            .collect();
        let mut out = MethodResult {
            status: Status::Uncovered,
            pending: false,
            pending_grants: None,
            evidence: vec![],
            entries: vec![],
            assumptions: vec![],
        };
        if let Some(c) = catalog {
            out.status = c.status;
            out.evidence.extend(c.evidence.iter().cloned());
            out.entries = c.entries.clone();
            out.assumptions = c.assumptions.clone();
        }
        if a.methods.is_empty() {
            out.evidence
                .push("no check method: nothing establishes this claim".into());
            return out;
        }
        if run.is_empty() {
            return out;
        }
        let labels: Vec<String> = run.iter().map(|m| m.to_string()).collect();
        let name = item.name(self.db).clone().unwrap_or_default();
        match (self.outcomes)(item.file(self.db).path(self.db), &name) {
            None => {
                let established = catalog.is_some_and(|c| c.status != Status::Uncovered);
                out.pending = !established;
                out.pending_grants = Some(strongest(
                    out.status,
                    Status::compose_all(run.iter().map(|m| m.grants(a.claim.as_ref())))
                        .compose(Status::Proved),
                ));
                out.evidence.push(format!(
                    "{}: not run yet (pending; `tlc trust --verify` runs it)",
                    labels.join(" then ")
                ));
            }
            Some(o) => {
                let ran: Vec<_> = o.methods.iter().filter(|m| m.method != "catalog").collect();
                for m in &ran {
                    let verdict = match &m.verdict {
                        Verdict::Holds => format!("holds ({})", m.grants),
                        Verdict::Violated { .. } => "counterexample found".into(),
                        Verdict::Unknown { reason } => format!("unknown: {reason}"),
                        Verdict::Timeout => "timed out".into(),
                        Verdict::Error { code, message } => format!("error {code}: {message}"),
                    };
                    let detail = if m.detail.is_empty() {
                        String::new()
                    } else {
                        format!(" - {}", m.detail)
                    };
                    out.evidence
                        .push(format!("{}: {verdict}{detail}", m.method));
                }
                if ran.is_empty() {
                    out.evidence.push(format!(
                        "{}: the verify run reported nothing for them",
                        labels.join(" then ")
                    ));
                }
                let evidence = ContractOutcome {
                    contract: o.contract.clone(),
                    file: o.file.clone(),
                    methods: ran.into_iter().cloned().collect(),
                    index_maps: Vec::new(),
                }
                .evidence_status();
                out.status = if evidence == Status::Falsified {
                    Status::Falsified
                } else {
                    strongest(out.status, evidence)
                };
            }
        }
        out
    }

    /// Discharges the claim with a catalog entry for its kind, checking the side conditions on
    /// the lowered graph (on the claim's node when the claim names one).
    fn catalog_discharge(&self, a: &ContractAnalysis<'_>, claim: &Claim) -> MethodResult {
        let mut out = MethodResult {
            status: Status::Uncovered,
            pending: false,
            pending_grants: None,
            evidence: vec![],
            entries: vec![],
            assumptions: vec![],
        };
        let Some(Target::Graph(g)) = a.target else {
            out.evidence
                .push("catalog: a catalog theorem needs a tl graph as the target".into());
            return out;
        };
        let Ok(lowered) = lower_graph(self.db, g) else {
            out.evidence.push(
                "catalog: the graph does not lower, so no side condition can be checked".into(),
            );
            return out;
        };
        let graph = &lowered.graph;
        let Some(facts) = graph_coverage(self.db, g)
            .as_ref()
            .and_then(|c| c.facts.clone())
        else {
            out.evidence
                .push("catalog: the graph's structural facts are unavailable".into());
            return out;
        };
        let node = match claim {
            Claim::MaskedWeightsZero { node } | Claim::IgnoredLabelsZero { node } => {
                graph.node_by_name(node)
            }
            _ => None,
        };
        let entries = catalog().entries_for_contract_kind(claim.kind());
        if entries.is_empty() {
            out.evidence
                .push(format!("catalog: no entry states {} results", claim.kind()));
            return out;
        }
        let mut best: Option<(Status, Vec<String>)> = None;
        for entry in entries {
            match entry_applies(entry, graph, node, &facts) {
                Ok(assumptions) => {
                    let status = if assumptions.is_empty() {
                        entry.grants
                    } else {
                        entry.grants.compose(Status::Assumed)
                    };
                    out.evidence.push(format!(
                        "catalog: {} applies ({status}{})",
                        short_id(&entry.id),
                        if assumptions.is_empty() {
                            ", side conditions checked".to_string()
                        } else {
                            format!(", assumes {}", assumptions.join(", "))
                        }
                    ));
                    for d in entry.differences.iter().filter(|d| d.ops.is_empty()) {
                        out.evidence.push(format!(
                            "semantics differ from TorchLean ({}): {}",
                            short_id(&entry.id),
                            d.text
                        ));
                    }
                    out.entries.push(entry.id.clone());
                    if best
                        .as_ref()
                        .is_none_or(|(s, _)| strongest(status, *s) != *s)
                    {
                        best = Some((status, assumptions));
                    }
                }
                Err(why) => out.evidence.push(format!(
                    "catalog: {} does not apply: {why}",
                    short_id(&entry.id)
                )),
            }
        }
        if let Some((status, assumptions)) = best {
            out.status = status;
            out.assumptions = assumptions;
        }
        out
    }

    /// The bound method (ibp, crown, alpha_crown, bab) whose verdict `holds` decided this
    /// contract in the verify run, if one did.
    fn bound_that_held(&self, item: ItemSource<'_>) -> Option<String> {
        let name = item.name(self.db).clone().unwrap_or_default();
        let outcome = (self.outcomes)(item.file(self.db).path(self.db), &name)?;
        if outcome.evidence_status() == Status::Falsified {
            return None;
        }
        outcome
            .methods
            .iter()
            .find(|m| {
                matches!(m.verdict, Verdict::Holds)
                    && ["ibp", "crown", "alpha_crown", "bab"]
                        .iter()
                        .any(|b| m.method == *b || m.method.starts_with(&format!("{b}(")))
            })
            .map(|m| m.method.clone())
    }

    /// The ops of the target whose f32 kernels call libm (`Op::calls_libm`): the f32 rounding
    /// bound of a graph with any rests on the libm assumption. `None` when the target is not a
    /// graph that lowers here, such as an ONNX target (the caller assumes).
    fn libm_ops(&self, a: &ContractAnalysis<'_>) -> Option<Vec<&'static str>> {
        let Some(Target::Graph(g)) = a.target else {
            return None;
        };
        let Ok(lowered) = lower_graph(self.db, g) else {
            return None;
        };
        let mut ops: Vec<&'static str> = lowered
            .graph
            .nodes
            .iter()
            .filter_map(|n| match &n.kind {
                tl_ir::NodeKind::Op { op, .. } if op.calls_libm() => Some(op.name()),
                _ => None,
            })
            .collect();
        ops.sort_unstable();
        ops.dedup();
        Some(ops)
    }

    /// From the real-valued result to f32 execution: the contract's own bound (computed with
    /// the f32 rounding as noise), a bridge contract or an equivalence contract on the same
    /// graph, else uncovered.
    fn float_link(
        &self,
        chain: &mut Chain,
        item: ItemSource<'_>,
        name: &str,
        a: &ContractAnalysis<'_>,
    ) {
        let db = self.db;
        let required = a.execute_on.is_some();
        let mut l = link(LinkLayer::Float, "f32 executor".into(), Status::Uncovered);
        l.required = required;
        if !required {
            l.evidence.push(
                "not claimed: the contract speaks about the reference semantics (reals)".into(),
            );
        }
        let file = item.file(db);
        let files: Vec<SourceFile> = std::iter::once(file)
            .chain(spec_imports(db, file).iter().map(|(_, f)| *f))
            .collect();
        let contracts: Vec<(String, ItemSource<'_>, &ContractAnalysis<'_>)> = files
            .iter()
            .flat_map(|&f| file_items(db, f).iter().copied())
            .filter(|i| i.keyword(db) == ItemKeyword::Contract && *i != item)
            .filter_map(|i| {
                Some((
                    i.name(db).clone().unwrap_or_default(),
                    i,
                    analyze_contract(db, i).as_ref()?,
                ))
            })
            .collect();
        let bridge = contracts.iter().find(
            |(_, _, c)| matches!(&c.claim, Some(Claim::Bridge { contract }) if contract == name),
        );
        let equivalence = contracts.iter().find(|(_, _, c)| {
            matches!(c.claim, Some(Claim::Equivalence))
                && c.target.is_some()
                && c.target == a.target
        });
        let on_tl_cpu = a.execute_on.as_deref().is_none_or(|e| e == "cpu");
        if let Some(method) = on_tl_cpu.then(|| self.bound_that_held(item)).flatten() {
            // Every bound method runs with the f32 executor's rounding as noise on each layer
            // (tl-bounds f32_noise, docs/bounds.md): a bound that held holds for tl's compiled
            // f32 executor too, with no tolerance in between.
            l.claim = format!("f32 executor: the `{method}` bound covers it");
            l.evidence.push(format!(
                "{method} held with each layer's f32 rounding carried as bounded noise (docs/bounds.md), so the claim holds for tl's compiled f32 executor as well as over the reals"
            ));
            // Unknown ops (the graph does not lower here): assume, never check.
            let libm = self
                .libm_ops(a)
                .unwrap_or_else(|| vec!["(the graph's ops could not be read)"]);
            if !libm.is_empty() {
                l.status = Status::Assumed;
                l.assumptions.push(LIBM_ASSUMPTION_NAME.into());
                l.evidence.push(format!(
                    "{} nodes: their f32 rounding is bounded under the libm assumption",
                    libm.join("/")
                ));
                chain.extra.push((
                    LIBM_ASSUMPTION_NAME.into(),
                    "ledger",
                    "the f32 executor's transcendental calls are within 4 ulp of the real function: expf, logf, tanhf and powf from the platform libm (through std), erff from the `libm` crate (a port of musl)".into(),
                ));
            } else {
                l.status = Status::Checked;
            }
        } else if let Some((b, bi, c)) = bridge {
            let result = self.run_methods(*bi, c, None);
            l.claim = format!("f32 executor: bridged by contract `{b}`");
            l.status = result.status;
            l.pending = result.pending;
            l.pending_grants = result.pending_grants;
            l.evidence.extend(result.evidence);
        } else if let Some((e, ei, c)) = equivalence {
            let result = self.run_methods(*ei, c, None);
            let tol = tolerance_name(db, c);
            let margin = format!("{name}_margin_exceeds_{tol}");
            l.claim = format!("f32 executor: within {tol} of the reference by contract `{e}`");
            l.status = result.status.compose(Status::Assumed);
            l.pending = result.pending;
            l.pending_grants = result.pending_grants.map(|g| g.compose(Status::Assumed));
            l.evidence.extend(result.evidence);
            l.evidence.push(format!(
                "the ledger does not compare the claim's margin with {tol}: assumed"
            ));
            l.assumptions.push(margin.clone());
            chain.extra.push((
                margin,
                "ledger",
                format!("the claim of `{name}` holds with a margin larger than {tol}, so f32 rounding within {tol} cannot flip it"),
            ));
        } else {
            l.evidence.push(
                "uncovered: no tolerance bridge (no contract `ensure THIS within T`, no `compiled ~= reference` contract on this graph)".into(),
            );
        }
        if a.execute_on.as_deref() == Some("cpu") {
            l.evidence
                .push("execution on cpu: tl's compiled f32 executor".into());
        }
        chain.push(l);
    }
}

/// The compiled-semantics link: the compiled executor computes the reference IR denotation.
fn semantics_link(
    chain: &mut Chain,
    a: &ContractAnalysis<'_>,
    target: Option<&str>,
    coverage: Option<&GraphCoverage>,
    outcome: Option<&ContractOutcome>,
) {
    let what = match a.target {
        Some(Target::Onnx(_)) => "ONNX model",
        _ => "graph",
    };
    let mut l = link(
        LinkLayer::Semantics,
        format!(
            "reference IR of {what} {}",
            target.map_or("?".to_string(), |t| format!("`{t}`"))
        ),
        Status::Uncovered,
    );
    let Some(cov) = coverage else {
        l.evidence
            .push("the contract has no target tl could analyse".into());
        chain.push(l);
        return;
    };
    if let Some(e) = &cov.error {
        l.evidence.push(e.clone());
        chain.push(l);
        return;
    }
    let answers: Vec<_> = cov.in_layer(Layer::CompiledSemantics).collect();
    // Data-movement nodes no theorem covers: the verify run checks their kernels by index map.
    let mut maps_checked: Vec<(&str, &str, usize)> = Vec::new();
    let mut maps_pending: Vec<&str> = Vec::new();
    let mut maps_failed: Vec<(&NodeCoverage, String)> = Vec::new();
    let uncovered: Vec<_> = answers
        .iter()
        .filter(|(_, n)| n.status == Status::Uncovered)
        .filter(|(n, _)| {
            if !n.index_map {
                return true;
            }
            match outcome.map(|o| o.index_maps.iter().find(|c| c.node == n.node)) {
                None => maps_pending.push(&n.node),
                Some(Some(c)) if c.failure.is_none() => {
                    maps_checked.push((&n.node, n.op, c.elements))
                }
                Some(found) => maps_failed.push((
                    n,
                    found
                        .and_then(|c| c.failure.clone())
                        .unwrap_or_else(|| "the verify run did not check it".into()),
                )),
            }
            false
        })
        .collect();
    let by_theorem = answers.len()
        - uncovered.len()
        - maps_checked.len()
        - maps_pending.len()
        - maps_failed.len();
    l.evidence.push(format!(
        "compiled semantics covers {by_theorem} of {} op nodes",
        answers.len()
    ));
    if !maps_checked.is_empty() {
        l.evidence.push(format!(
            "index maps checked for {} data-movement node{}: {} (each compiled kernel, run alone on distinct values, put every output element where the reference does)",
            maps_checked.len(),
            if maps_checked.len() == 1 { "" } else { "s" },
            maps_checked
                .iter()
                .take(MAX_LISTED_NODES)
                .map(|(n, op, k)| format!("`{n}` ({op}, {k} elements)"))
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    if !maps_pending.is_empty() {
        l.evidence.push(format!(
            "index maps of {} data-movement node{} not checked yet (pending; `tlc trust --verify` runs them): {}",
            maps_pending.len(),
            if maps_pending.len() == 1 { "" } else { "s" },
            maps_pending
                .iter()
                .take(MAX_LISTED_NODES)
                .map(|n| format!("`{n}`"))
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    for (n, why) in &maps_failed {
        l.evidence.push(format!(
            "`{}` ({}): index map not checked: {why}",
            n.node, n.op
        ));
    }
    let uncovered: Vec<(&NodeCoverage, &NodeLayer)> = uncovered
        .into_iter()
        .copied()
        .chain(maps_failed.iter().map(|(n, _)| {
            let layer = n
                .layers
                .iter()
                .find(|x| x.layer == Layer::CompiledSemantics.name())
                .expect("the node has a compiled-semantics answer");
            (*n, layer)
        }))
        .collect();
    let uncovered: Vec<&(&NodeCoverage, &NodeLayer)> = uncovered.iter().collect();
    let mut failing_conditions = Vec::new();
    let mut failing_names = Vec::new();
    if let Some(summary) = cov.layer(Layer::CompiledSemantics) {
        failing_conditions = summary
            .conditions
            .iter()
            .filter(|c| c.outcome == "fails")
            .map(|c| format!("{} fails ({})", c.condition, c.detail))
            .collect();
        failing_names = summary
            .conditions
            .iter()
            .filter(|c| c.outcome == "fails")
            .map(|c| format!("{} fails", c.condition))
            .collect();
        let conds: Vec<String> = summary
            .conditions
            .iter()
            .map(|c| match c.outcome {
                "holds" => format!("{} holds", c.condition),
                word => format!("{} {word} ({})", c.condition, c.detail),
            })
            .collect();
        if !conds.is_empty() {
            l.evidence
                .push(format!("graph conditions: {}", conds.join(", ")));
        }
    }
    // A failing whole-graph condition (e.g. NoMSELoss) uncovers every node for the same reason:
    // say that once instead of repeating it per node.
    let whole_graph_fails = !failing_conditions.is_empty() && uncovered.len() == answers.len();
    if whole_graph_fails {
        l.evidence.push(format!(
            "no node is covered: the compiled-semantics theorem needs every graph condition, and {}",
            failing_conditions.join(", ")
        ));
    }
    let listed = if whole_graph_fails {
        0
    } else {
        MAX_LISTED_NODES
    };
    for (n, answer) in uncovered.iter().take(listed) {
        l.evidence.push(format!(
            "`{}` ({}): {}",
            n.node,
            n.op,
            answer.reason.as_deref().unwrap_or("uncovered")
        ));
    }
    if !whole_graph_fails && uncovered.len() > MAX_LISTED_NODES {
        l.evidence.push(format!(
            "... and {} more uncovered nodes",
            uncovered.len() - MAX_LISTED_NODES
        ));
    }
    // Where tl's op semantics differ from TorchLean's for an op of this graph, say so: a result
    // citing TorchLean is about TorchLean's op, not exactly tl's.
    let mut ops_seen: Vec<&str> = Vec::new();
    for n in &cov.nodes {
        if ops_seen.contains(&n.op) {
            continue;
        }
        ops_seen.push(n.op);
        let Some(op) = tl_ir::lookup(n.op).map(|i| i.op) else {
            continue;
        };
        for (entry, d) in catalog().differences_for(op) {
            l.evidence.push(format!(
                "semantics differ from TorchLean ({}, {}): {}",
                n.op,
                short_id(&entry.id),
                d.text
            ));
        }
    }
    let mut entries = BTreeSet::new();
    let mut side = BTreeSet::new();
    for (_, answer) in &answers {
        entries.extend(answer.entries.iter().cloned());
        side.extend(answer.assumptions.iter().cloned());
    }
    let covered_status = Status::compose_all(
        answers
            .iter()
            .filter(|(_, n)| n.status != Status::Uncovered)
            .map(|(_, n)| n.status)
            .chain([Status::Proved]),
    );
    let covered_status = if maps_checked.is_empty() {
        covered_status
    } else {
        covered_status.compose(Status::Checked)
    };
    l.status = covered_status;
    if !uncovered.is_empty() {
        let ops: BTreeSet<&str> = uncovered.iter().map(|(n, _)| n.op).collect();
        let subject = if whole_graph_fails {
            format!(
                "all {} op nodes of {what} {}, as {}",
                answers.len(),
                target.unwrap_or("?"),
                failing_names.join(", ")
            )
        } else {
            uncovered
                .iter()
                .map(|(n, _)| format!("{} (node {})", n.op, n.node))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let suggestion_name = if ops.len() == 1 {
            format!("{}_kernel", ops.iter().next().expect("one op"))
        } else {
            "unproved_op_kernels".to_string()
        };
        let op_list: Vec<&str> = ops.iter().copied().collect();
        let covered = chain.boundary(
            BoundaryKind::UnprovedOps,
            subject,
            LinkLayer::Semantics,
            (
                suggestion_name,
                format!(
                    "tl's {} kernel{} compute{} the reference semantics; reviewed by ...",
                    op_list.join(", "),
                    if op_list.len() == 1 { "" } else { "s" },
                    if op_list.len() == 1 { "s" } else { "" }
                ),
            ),
        );
        if covered.is_empty() {
            l.status = Status::Uncovered;
        } else {
            l.status = covered_status.compose(Status::Assumed);
            l.evidence
                .push(format!("unproved ops assumed: {}", covered.join(", ")));
            l.assumptions.extend(covered);
        }
    }
    for sc in &side {
        chain
            .extra
            .push((sc.clone(), "side_condition", side_condition_text(sc)));
    }
    l.assumptions.extend(side);
    l.catalog_entries = entries.into_iter().collect();
    if !maps_pending.is_empty() {
        // Until the checks run the pending nodes count as uncovered; they grant checked.
        l.pending = true;
        l.pending_grants = Some(l.status.compose(Status::Checked));
        l.status = Status::Uncovered;
    }
    chain.push(l);
}

/// `execute on cuda`: native kernels outside every proof, assumed or uncovered.
fn execution_link(chain: &mut Chain, a: &ContractAnalysis<'_>) {
    if a.execute_on.as_deref() != Some("cuda") {
        return;
    }
    let covered = chain.boundary(
        BoundaryKind::NativeCode,
        "CUDA kernels".into(),
        LinkLayer::Execution,
        (
            "cuda_kernels".into(),
            "the CUDA kernels compute IEEE-754 binary32 results within the tolerance; checked against the CPU executor by ...".into(),
        ),
    );
    let mut l = link(
        LinkLayer::Execution,
        "execution target: cuda (native kernels)".into(),
        Status::Assumed,
    );
    if covered.is_empty() {
        l.status = Status::Uncovered;
        l.evidence
            .push("no `kernel` assumption covers the CUDA kernels".into());
    } else {
        l.evidence.push(format!("assumed: {}", covered.join(", ")));
        l.assumptions = covered;
    }
    chain.push(l);
}

/// Declared `float` assumptions rest on the float link.
fn attach_float_assumptions(chain: &mut Chain) {
    let floats: Vec<String> = chain
        .declared
        .iter()
        .filter(|d| d.kind == "float")
        .map(|d| d.name.clone())
        .collect();
    if let Some(l) = chain.links.iter_mut().find(|l| l.layer == LinkLayer::Float) {
        if !floats.is_empty() && l.status != Status::Uncovered {
            l.status = l.status.compose(Status::Assumed);
        }
        l.assumptions.extend(floats);
    }
}

fn finish(
    contract: String,
    target: Option<String>,
    expected: Option<Expectation>,
    kind: Option<String>,
    errors: usize,
    chain: Chain,
) -> Ledger {
    let required: Vec<&Link> = chain.links.iter().filter(|l| l.required).collect();
    let status = Status::compose_all(required.iter().map(|l| l.status));
    let pending = required.iter().any(|l| l.pending);
    let ceiling = Status::compose_all(
        required
            .iter()
            .map(|l| match (l.pending, l.pending_grants) {
                (true, Some(g)) => g,
                _ => l.status,
            })
            .chain([Status::Proved]),
    );
    let mut assumptions: Vec<Assumption> = chain
        .declared
        .iter()
        .map(|d| Assumption {
            name: d.name.clone(),
            source: "declared",
            kind: Some(d.kind.clone()),
            text: d.text.clone(),
            links: vec![],
        })
        .collect();
    for (name, source, text) in chain.extra {
        if !assumptions.iter().any(|a| a.name == name) {
            assumptions.push(Assumption {
                name,
                source,
                kind: None,
                text,
                links: vec![],
            });
        }
    }
    for a in &mut assumptions {
        a.links = chain
            .links
            .iter()
            .filter(|l| l.assumptions.contains(&a.name))
            .map(|l| l.layer)
            .collect();
    }
    // A pending run has not shown its status yet; an expectation is judged only on a decided one.
    let expectation_met = expected.filter(|_| !pending).map(|e| e.met_by(status));
    Ledger {
        contract,
        target,
        kind,
        status,
        pending,
        ceiling,
        expected,
        expectation_met,
        errors,
        links: chain.links,
        assumptions,
        boundaries: chain.boundaries,
        card: None,
    }
}

/// The card's TorchLean entries beside this contract's own result.
fn card_note(card: &str, a: &ContractAnalysis<'_>, ledger: &Ledger) -> CardNote {
    let torchlean = catalog()
        .entries()
        .iter()
        .filter(|e| super::card_of(&e.id) == Some(card))
        .map(|e| CardTheorem {
            id: e.id.clone(),
            title: e.title.clone(),
            statement: e.statement.clone(),
        })
        .collect();
    let methods: Vec<String> = a.methods.iter().map(|m| m.to_string()).collect();
    let status = if ledger.pending {
        format!("pending (at most {} once verified)", ledger.ceiling.name())
    } else {
        ledger.status.name().to_string()
    };
    let expected = match (ledger.expected, ledger.expectation_met) {
        (Some(e), Some(true)) => {
            format!(", as expected (a known-buggy variant: expect {})", e.name())
        }
        (Some(e), Some(false)) => format!(", NOT as expected (expect {}: TL0471)", e.name()),
        (Some(e), None) => format!(" (expect {})", e.name()),
        (None, _) => String::new(),
    };
    CardNote {
        card: card.to_string(),
        torchlean,
        tl: format!(
            "tl checks this contract's {} claim by {} on tl's own graphs and kernels: {status}{expected}",
            ledger.kind.as_deref().unwrap_or("?"),
            if methods.is_empty() { "no method".to_string() } else { methods.join(" then ") },
        ),
    }
}

/// Whether a catalog entry discharges a claim on this graph: `Ok(undecided side conditions)`
/// or why not.
fn entry_applies(
    entry: &Entry,
    graph: &tl_ir::Graph,
    node: Option<tl_ir::NodeId>,
    facts: &super::GraphFacts,
) -> Result<Vec<String>, String> {
    let covers_ops = !entry.ops.is_empty() || !entry.families.is_empty();
    let nodes: Vec<(tl_ir::NodeId, tl_ir::Op)> = match node {
        Some(id) => op_nodes(graph).filter(|(i, _)| *i == id).collect(),
        None if covers_ops => op_nodes(graph).collect(),
        None => vec![],
    };
    if covers_ops {
        if let Some((id, op)) = nodes.iter().find(|(_, op)| !entry.covers(*op)) {
            return Err(format!(
                "it does not cover {} (node `{}`)",
                op.name(),
                graph.nodes[*id].name
            ));
        }
    }
    let mut assumptions = Vec::new();
    for cond in &entry.side_conditions {
        let outcomes: Vec<CheckOutcome> = match cond.check {
            Some(check) if cond.mechanical && is_graph_level(check) => {
                vec![run_graph_check(check, graph, facts)]
            }
            Some(_) if cond.mechanical => nodes
                .iter()
                .filter(|(_, op)| cond.applies_to(*op))
                .map(|&(id, _)| run_node_check(cond, graph, id))
                .collect(),
            _ => vec![CheckOutcome::Undecided(cond.description.clone())],
        };
        for o in outcomes {
            match o {
                CheckOutcome::Holds => {}
                CheckOutcome::Undecided(_) => {
                    let name = format!("{}#{}", entry.id, cond.id);
                    if !assumptions.contains(&name) {
                        assumptions.push(name);
                    }
                }
                CheckOutcome::Fails(why) => {
                    return Err(format!("side condition {} fails ({why})", cond.id))
                }
            }
        }
    }
    Ok(assumptions)
}

/// The description of a catalog side condition named `entry#condition`.
fn side_condition_text(name: &str) -> String {
    let (entry, cond) = name.split_once('#').unwrap_or((name, ""));
    catalog()
        .entry(entry)
        .and_then(|e| e.side_conditions.iter().find(|c| c.id == cond))
        .map(|c| format!("{} (tl cannot decide it)", c.description))
        .unwrap_or_default()
}

fn declared(db: &dyn Db, item: ItemSource<'_>) -> Option<Declared> {
    match &parse_item(db, item).item {
        Item::Assume(a) => Some(Declared {
            name: a.name.text.clone(),
            kind: a.kind.text.clone(),
            text: a.justification.value.clone(),
        }),
        _ => None,
    }
}

fn tolerance_name(db: &dyn Db, a: &ContractAnalysis<'_>) -> String {
    a.tolerance
        .and_then(|t| t.name(db).clone())
        .unwrap_or_else(|| "its tolerance".into())
}

/// The stronger of two statuses (falsified is not stronger than anything).
fn strongest(a: Status, b: Status) -> Status {
    if a.compose(b) == a {
        b
    } else {
        a
    }
}

/// `crown then bab(timeout = 60s) over the reals`. Gradient claims are sampled on the f64
/// reference semantics (autograd against finite differences), not on the compiled executor.
/// `reference`: the sampled check runs the f64 reference semantics (gradient, batch claims).
fn methods_phrase(methods: &[Method], reference: bool) -> String {
    if methods.is_empty() {
        return "with no check method".into();
    }
    let labels: Vec<String> = methods.iter().map(|m| m.to_string()).collect();
    let sound = methods.iter().any(|m| {
        matches!(
            m,
            Method::Ibp | Method::Crown | Method::AlphaCrown | Method::Bab { .. }
        )
    });
    let sampled = methods.iter().any(|m| matches!(m, Method::Sampling { .. }));
    let scope = match (sound, sampled) {
        (true, _) => " over the reals",
        (false, false) if methods.iter().any(|m| matches!(m, Method::Structure)) => {
            " of the lowered graph, exactly"
        }
        (false, true) if reference => " on the f64 reference semantics",
        (false, true) => " on the compiled f32 executor",
        _ => "",
    };
    format!("by {}{scope}", labels.join(" then "))
}

/// A file path as an identifier fragment: `data/coc_bounded.vnnlib` -> `coc_bounded`.
fn identifier(path: &str) -> String {
    let stem = std::path::Path::new(path)
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut id: String = stem
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    if !id.starts_with(|c: char| c.is_ascii_alphabetic()) {
        id.insert_str(0, "file_");
    }
    id
}

/// A boundary link is assumed by the assumptions that cover it, else stays uncovered with why.
fn assumed_by(l: &mut Link, covered: Vec<String>, uncovered: impl FnOnce() -> String) {
    if covered.is_empty() {
        l.evidence.push(uncovered());
    } else {
        l.status = Status::Assumed;
        l.evidence.push(format!("assumed: {}", covered.join(", ")));
        l.assumptions = covered;
    }
}
