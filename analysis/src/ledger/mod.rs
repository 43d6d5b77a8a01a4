//! The trust ledger: for every contract, the chain of evidence from the graph to the claim, each
//! link with its status, the assumptions it rests on and the catalog entries it cites; the trust
//! boundaries evidence crosses; and, per graph, which catalog entries cover each node.
//!
//! The contract's status is the weakest of its required links (falsified overrides all), so a
//! sampled test never makes a result more than **tested**, and a boundary nothing assumes leaves
//! it **uncovered**. Links that need a verify run are *pending* until a [`ContractOutcome`] is
//! given. Everything here is plain data (no LSP types) so the CLI, the language server and tests
//! read the same answers. The JSON form is documented (and versioned) in docs/trust.md.

mod boundaries;
mod chain;
pub(crate) mod checks;
mod coverage;
mod render;

#[cfg(test)]
mod fidelity_tests;
#[cfg(test)]
mod tests;

use std::sync::OnceLock;

pub use boundaries::{boundary_diagnostics, file_boundary_diagnostics};
pub use chain::{contract_ledger, contract_ledger_with, file_ledgers, static_ledger};
pub use checks::{CheckOutcome, GraphFacts};
pub use coverage::{
    cover_graph, file_coverage, graph_coverage, onnx_coverage, ConditionResult, GraphCoverage,
    GraphTheorem, LayerSummary, NodeCoverage, NodeLayer, NODE_LAYERS,
};
pub use render::{
    coverage_markdown, coverage_text, ledger_markdown, ledger_text, FileTrust, TrustReport,
};

pub use crate::catalog::Status;
pub use crate::contracts::Expectation;
pub use crate::outcome::ContractOutcome;

/// The version of the JSON schema `tlc trust --format json` writes (docs/trust.md).
pub const SCHEMA: &str = "tl.trust/1";

/// The ledger of one contract.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct Ledger {
    pub contract: String,
    /// The graph (or imported ONNX model) the contract is about.
    pub target: Option<String>,
    /// The claim kind (`robustness`, `output_range`, `equivalence`, ...), when the claim parsed.
    pub kind: Option<String>,
    /// The weakest required link; falsified overrides all.
    pub status: Status,
    /// Some link waits for a verify run.
    pub pending: bool,
    /// The best status the contract can reach once its pending links are established: the weakest
    /// of the required links that do not wait (equal to `status` when nothing is pending).
    pub ceiling: Status,
    /// `expect falsified`: the contract is a known-buggy variant meant to be falsified. The status
    /// above stays what the evidence says; only `expectation_met` reads the expectation.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expected: Option<Expectation>,
    /// With an expectation and nothing pending: whether the status meets it (`false` is TL0471).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expectation_met: Option<bool>,
    /// Errors in the contract (its ledger is then incomplete; `tlc check` lists them).
    pub errors: usize,
    pub links: Vec<Link>,
    pub assumptions: Vec<Assumption>,
    pub boundaries: Vec<Boundary>,
    /// `card NAME`: the BugZoo card the contract states, with what TorchLean proves for it and
    /// what tl checked here.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub card: Option<CardNote>,
}

/// What TorchLean proves for a BugZoo card, beside what tl checked for this contract.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct CardNote {
    pub card: String,
    /// The card's catalog entries: id, title and the statement as read.
    pub torchlean: Vec<CardTheorem>,
    /// One line: the claim, the methods and the contract's status (with its expectation).
    pub tl: String,
}

#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct CardTheorem {
    pub id: String,
    pub title: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub statement: Option<String>,
}

/// Where in the chain a link sits.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LinkLayer {
    /// External data the claim is stated over (datasets, VNN-LIB properties, ONNX models).
    Data,
    /// The graph's meaning: the compiled executor computes the reference IR denotation.
    Semantics,
    /// The check methods that establish the claim.
    Method,
    /// The real-valued result a bridge contract carries to an executor.
    Bridge,
    /// From real-valued semantics to f32 execution.
    Float,
    /// The executor the result is claimed for (native code).
    Execution,
}

impl LinkLayer {
    pub fn name(self) -> &'static str {
        match self {
            LinkLayer::Data => "data",
            LinkLayer::Semantics => "semantics",
            LinkLayer::Method => "method",
            LinkLayer::Bridge => "bridge",
            LinkLayer::Float => "float",
            LinkLayer::Execution => "execution",
        }
    }
}

/// One link of a contract's chain of evidence.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct Link {
    pub layer: LinkLayer,
    /// What the link establishes: "reference IR of graph mnist_mlp".
    pub claim: String,
    pub status: Status,
    /// Waits for a verify run (`status` is then what is established without it).
    pub pending: bool,
    /// For a pending link: the status it gets if the pending checks hold (sound methods grant
    /// checked, sampling tested). The contract's `ceiling` composes these.
    pub pending_grants: Option<Status>,
    /// Counts toward the contract's status. A float link of a claim over the reals is reported
    /// but not required: the claim does not speak about f32 execution.
    pub required: bool,
    /// One line per fact a reviewer reads.
    pub evidence: Vec<String>,
    /// Names of the assumptions this link rests on (declared ones and undecided side conditions).
    pub assumptions: Vec<String>,
    /// Catalog entry ids this link cites.
    pub catalog_entries: Vec<String>,
}

/// An assumption a contract's ledger rests on.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct Assumption {
    pub name: String,
    /// `declared` (an `assume` item the contract rests on), `side_condition` (a catalog side
    /// condition tl cannot decide, named `entry#condition`) or `ledger` (a step the ledger cannot
    /// check, such as a claim's margin against a tolerance).
    pub source: &'static str,
    /// The assumption kind (`kernel`, ...) for declared ones.
    pub kind: Option<String>,
    /// The justification or the side condition's description.
    pub text: String,
    /// The links that rest on it (empty: declared, but no link of this contract needs it).
    pub links: Vec<LinkLayer>,
}

/// What kind of trust boundary evidence crosses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BoundaryKind {
    /// Native code outside every proof (`execute on cuda`).
    NativeCode,
    /// An external solver's output (`check by certificate(...)`).
    ExternalSolver,
    /// An external file the claim is stated over (dataset, VNN-LIB property, ONNX model).
    ExternalData,
    /// Ops no compiled-semantics theorem covers: their kernels are trusted as written.
    UnprovedOps,
}

impl BoundaryKind {
    /// The assumption kinds that cover this boundary.
    pub fn accepts(self) -> &'static [&'static str] {
        match self {
            BoundaryKind::NativeCode | BoundaryKind::UnprovedOps => &["kernel"],
            BoundaryKind::ExternalSolver => &["certificate", "solver"],
            BoundaryKind::ExternalData => &["environment"],
        }
    }

    /// The diagnostic reported when no assumption covers it (TL0420 predates the ledger).
    pub fn code(self) -> u16 {
        match self {
            BoundaryKind::NativeCode => 420,
            BoundaryKind::ExternalSolver => 710,
            BoundaryKind::ExternalData => 711,
            BoundaryKind::UnprovedOps => 712,
        }
    }
}

/// A place a contract's evidence crosses into something tl does not check.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct Boundary {
    pub kind: BoundaryKind,
    /// What is crossed: "CUDA kernels", "data/coc_bounded.vnnlib", "mse_loss (node loss)",
    /// "all 4 op nodes of graph g, as no_mse_loss fails".
    pub what: String,
    /// The link it belongs to.
    pub link: LinkLayer,
    /// Assumption kinds that would cover it.
    pub accepts: Vec<&'static str>,
    /// The declared assumptions that cover it (empty: uncovered, and a warning).
    pub covered_by: Vec<String>,
    /// The `assume` item to add when nothing covers it (and `rests on` its name).
    pub suggestion: Option<String>,
    /// `TLxxxx` of the warning an uncovered boundary raises.
    pub code: String,
}

/// The BugZoo cards the catalog has entries for (`NN.Examples.BugZoo.<Card>.<theorem>`), sorted.
pub fn bugzoo_cards() -> Vec<&'static str> {
    let mut cards: Vec<&'static str> = catalog()
        .entries()
        .iter()
        .filter_map(|e| card_of(&e.id))
        .collect();
    cards.sort_unstable();
    cards.dedup();
    cards
}

/// The card an entry id belongs to, for `NN.Examples.BugZoo.<Card>.<theorem>`.
pub(crate) fn card_of(id: &str) -> Option<&str> {
    let rest = id.strip_prefix("NN.Examples.BugZoo.")?;
    rest.split_once('.').map(|(card, _)| card)
}

/// The shipped catalog, parsed once.
pub(crate) fn catalog() -> &'static crate::catalog::Catalog {
    static CATALOG: OnceLock<crate::catalog::Catalog> = OnceLock::new();
    CATALOG.get_or_init(crate::catalog::Catalog::builtin)
}
