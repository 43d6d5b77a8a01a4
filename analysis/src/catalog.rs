//! The proof catalog: which TorchLean theorems, checked rules and BugZoo cards a tl result may cite,
//! what each covers (ops, op families, contract kinds), under which side conditions, and why an op
//! is uncovered in a layer. The shipped catalog is `catalog/torchlean.toml`; users may add their own
//! files, which merge into it. The format is documented in docs/catalog.md; loading errors are
//! TL0700–TL0719 in docs/diagnostics.md.
//!
//! The catalog only answers "what could this rest on"; the ledger decides what a result does rest on
//! (it runs the mechanical checks and turns the rest into named assumptions).

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::ops::Range;
use std::path::Path;

use serde::Deserialize;
use tl_ir::{Family, Op, OPS};
use toml::Spanned;

/// The file shipped with tl, compiled in so the catalog never depends on the install layout.
const BUILTIN_NAME: &str = "<builtin>/torchlean.toml";
const BUILTIN_TEXT: &str = include_str!("../catalog/torchlean.toml");

/// User catalogs larger than this are refused: a catalog is a hand-written list, and reading an
/// arbitrary huge file into memory just to reject it later helps no one.
const MAX_CATALOG_BYTES: u64 = 8 * 1024 * 1024;

// ------------------------------------------------------------------------------------------------
// Vocabulary
// ------------------------------------------------------------------------------------------------

/// A proof layer of TorchLean; every entry belongs to exactly one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Layer {
    CompiledSemantics,
    Autograd,
    FloatApproximation,
    BoundPropagation,
    Attention,
    Transformer,
    RlBoundary,
    Bugzoo,
}

impl Layer {
    pub const ALL: [Layer; 8] = [
        Layer::CompiledSemantics,
        Layer::Autograd,
        Layer::FloatApproximation,
        Layer::BoundPropagation,
        Layer::Attention,
        Layer::Transformer,
        Layer::RlBoundary,
        Layer::Bugzoo,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Layer::CompiledSemantics => "compiled_semantics",
            Layer::Autograd => "autograd",
            Layer::FloatApproximation => "float_approximation",
            Layer::BoundPropagation => "bound_propagation",
            Layer::Attention => "attention",
            Layer::Transformer => "transformer",
            Layer::RlBoundary => "rl_boundary",
            Layer::Bugzoo => "bugzoo",
        }
    }

    pub fn from_name(name: &str) -> Option<Layer> {
        Layer::ALL.into_iter().find(|l| l.name() == name)
    }
}

impl fmt::Display for Layer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// How much a result can be trusted. Ordered from strongest to weakest; `Falsified` is not on that
/// scale: a counterexample overrides every other evidence.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Proved,
    Checked,
    Tested,
    Assumed,
    Uncovered,
    Falsified,
}

impl Status {
    pub fn name(self) -> &'static str {
        match self {
            Status::Proved => "proved",
            Status::Checked => "checked",
            Status::Tested => "tested",
            Status::Assumed => "assumed",
            Status::Uncovered => "uncovered",
            Status::Falsified => "falsified",
        }
    }

    pub fn from_name(name: &str) -> Option<Status> {
        [
            Status::Proved,
            Status::Checked,
            Status::Tested,
            Status::Assumed,
            Status::Uncovered,
            Status::Falsified,
        ]
        .into_iter()
        .find(|s| s.name() == name)
    }

    /// Rank on the trust scale, higher is stronger; `Falsified` ranks below everything.
    fn rank(self) -> u8 {
        match self {
            Status::Proved => 5,
            Status::Checked => 4,
            Status::Tested => 3,
            Status::Assumed => 2,
            Status::Uncovered => 1,
            Status::Falsified => 0,
        }
    }

    /// The status of a result resting on both `self` and `other`: the weakest link decides, and
    /// falsified overrides all.
    pub fn compose(self, other: Status) -> Status {
        if self.rank() <= other.rank() {
            self
        } else {
            other
        }
    }

    /// [`Status::compose`] over many parts; an empty list rests on nothing and is uncovered.
    pub fn compose_all(parts: impl IntoIterator<Item = Status>) -> Status {
        parts
            .into_iter()
            .reduce(Status::compose)
            .unwrap_or(Status::Uncovered)
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// What an entry cites.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EntryKind {
    /// One Lean declaration.
    Theorem,
    /// A module (or a documented section of one) whose declarations were not cited one by one.
    Module,
    /// A BugZoo card.
    Card,
}

impl EntryKind {
    pub fn name(self) -> &'static str {
        match self {
            EntryKind::Theorem => "theorem",
            EntryKind::Module => "module",
            EntryKind::Card => "card",
        }
    }
    fn from_name(name: &str) -> Option<EntryKind> {
        [EntryKind::Theorem, EntryKind::Module, EntryKind::Card]
            .into_iter()
            .find(|k| k.name() == name)
    }
}

/// The mechanical checks a side condition may name. The ledger implements each one; the catalog
/// only refers to them, so an unknown name is a loading error rather than a silent "unchecked".
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Check {
    /// The IR graph passes tl's structural checks (the analogue of `checkWellFormed`).
    StructuralChecksPass,
    /// The compiled executor accepts the graph.
    CompilationSucceeds,
    /// The graph contains no `mse_loss` node.
    NoMseLoss,
    /// The op's input is strictly positive on the contract's input set (by bounds analysis).
    DomainPositive,
    /// Normalization uses running statistics and dropout is the identity.
    EvalMode,
    /// Both operands have the same shape (no implicit broadcast).
    OperandsSameShape,
    /// The listed attributes keep their default values.
    AttrsAtDefault,
    /// The listed attribute equals `value`.
    AttrEquals,
    /// The listed attributes are strictly positive.
    AttrPositive,
    /// The listed per-axis attributes have one value for every spatial axis.
    UniformSpatialAttrs,
    /// A reduction reduces exactly one axis (or, for `sum`, all of them).
    SingleReductionAxis,
    /// The op acts on the last axis.
    LastAxis,
    /// Attention is unmasked and non-causal.
    AttentionUnmasked,
    /// Attention masks causally or with an explicit mask under hard-mask semantics.
    CausalOrHardMask,
    /// Every node of the graph is covered in the entry's layer.
    AllNodesCovered,
    /// The graph is linear -> relu -> linear on a vector input.
    TwoLayerReluMlp,
    /// The subgraph is a post-norm Transformer sublayer.
    PostNormSublayer,
    /// Integer indices are within the indexed table.
    IndicesInRange,
    /// Every operand of the node has rank `value` (TorchLean states many results for fixed
    /// ranks: `[m, d]` attention operands, rank-2 matmul, a `[n]` softmax vector).
    OperandRank,
    /// Every operand broadcasts to the output shape by numpy's right-aligned rule with only one
    /// possible alignment, so TorchLean's `broadcastTo` of each operand (whatever witness it
    /// picks) denotes the same broadcast and the node reads as `broadcastTo` nodes then the op.
    BroadcastAsBroadcastTo,
    /// A matmul whose right operand has rank 2: a left operand of rank > 2 multiplies row by
    /// row, so the node reads as reshape to rank 2, rank-2 matmul, reshape back.
    MatmulRowsAsRank2,
}

impl Check {
    pub const ALL: [Check; 21] = [
        Check::StructuralChecksPass,
        Check::CompilationSucceeds,
        Check::NoMseLoss,
        Check::DomainPositive,
        Check::EvalMode,
        Check::OperandsSameShape,
        Check::AttrsAtDefault,
        Check::AttrEquals,
        Check::AttrPositive,
        Check::UniformSpatialAttrs,
        Check::SingleReductionAxis,
        Check::LastAxis,
        Check::AttentionUnmasked,
        Check::CausalOrHardMask,
        Check::AllNodesCovered,
        Check::TwoLayerReluMlp,
        Check::PostNormSublayer,
        Check::IndicesInRange,
        Check::OperandRank,
        Check::BroadcastAsBroadcastTo,
        Check::MatmulRowsAsRank2,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Check::StructuralChecksPass => "structural_checks_pass",
            Check::CompilationSucceeds => "compilation_succeeds",
            Check::NoMseLoss => "no_mse_loss",
            Check::DomainPositive => "domain_positive",
            Check::EvalMode => "eval_mode",
            Check::OperandsSameShape => "operands_same_shape",
            Check::AttrsAtDefault => "attrs_at_default",
            Check::AttrEquals => "attr_equals",
            Check::AttrPositive => "attr_positive",
            Check::UniformSpatialAttrs => "uniform_spatial_attrs",
            Check::SingleReductionAxis => "single_reduction_axis",
            Check::LastAxis => "last_axis",
            Check::AttentionUnmasked => "attention_unmasked",
            Check::CausalOrHardMask => "causal_or_hard_mask",
            Check::AllNodesCovered => "all_nodes_covered",
            Check::TwoLayerReluMlp => "two_layer_relu_mlp",
            Check::PostNormSublayer => "post_norm_sublayer",
            Check::IndicesInRange => "indices_in_range",
            Check::OperandRank => "operand_rank",
            Check::BroadcastAsBroadcastTo => "broadcast_as_broadcast_to",
            Check::MatmulRowsAsRank2 => "matmul_rows_as_rank2",
        }
    }

    pub fn from_name(name: &str) -> Option<Check> {
        Check::ALL.into_iter().find(|c| c.name() == name)
    }

    /// Checks that take a `value`.
    fn takes_value(self) -> bool {
        matches!(self, Check::AttrEquals | Check::OperandRank)
    }

    /// Checks parameterised by attribute names.
    fn takes_attrs(self) -> bool {
        matches!(
            self,
            Check::AttrsAtDefault
                | Check::AttrEquals
                | Check::AttrPositive
                | Check::UniformSpatialAttrs
        )
    }
}

/// The contract kinds entries may name (the ledger classifies each contract into one).
pub const CONTRACT_KINDS: &[&str] = &[
    "robustness",
    "output_range",
    "equivalence",
    "gradient",
    "tolerance",
    "attention_mask",
    "kv_cache",
    "rope_position",
    "tokenizer_boundary",
    "stable_loss",
    "ignored_labels",
    "normalization_state",
    "shape_broadcast",
    "compiler_boundary",
    "float_boundary",
    "rl_transition",
    "batch_invariance",
    "safe_domain",
    "jacobian",
];

// ------------------------------------------------------------------------------------------------
// The catalog
// ------------------------------------------------------------------------------------------------

/// Where a catalog item was written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Origin {
    pub file: String,
    /// 1-based.
    pub line: usize,
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.file, self.line)
    }
}

/// A condition the cited result needs beyond the graph being in its fragment.
#[derive(Clone, Debug, PartialEq)]
pub struct SideCondition {
    pub id: String,
    pub description: String,
    /// tl can decide it; `check` says how. Otherwise it stays a named assumption.
    pub mechanical: bool,
    pub check: Option<Check>,
    /// Attribute names for the attribute checks.
    pub attrs: Vec<String>,
    /// The expected value for [`Check::AttrEquals`].
    pub value: Option<String>,
    /// The ops it applies to; empty means every op the entry covers (and the entry as a whole).
    pub ops: Vec<Op>,
}

impl SideCondition {
    pub fn applies_to(&self, op: Op) -> bool {
        self.ops.is_empty() || self.ops.contains(&op)
    }
}

/// One citable theorem, module or card.
#[derive(Clone, Debug, PartialEq)]
pub struct Entry {
    /// The Lean declaration (or module) name.
    pub id: String,
    pub title: String,
    /// The Lean module in lean-dojo/TorchLean.
    pub source: String,
    pub layer: Layer,
    pub kind: EntryKind,
    /// The status a result citing this entry gets when every side condition holds.
    pub grants: Status,
    /// The name and module were confirmed in the TorchLean sources.
    pub confirmed: bool,
    pub ops: Vec<Op>,
    pub families: Vec<Family>,
    pub contract_kinds: Vec<String>,
    pub side_conditions: Vec<SideCondition>,
    pub note: Option<String>,
    /// The TorchLean file the statement was read in (`NN/Proofs/...lean`).
    pub file: Option<String>,
    /// The statement as read: hypotheses and conclusion.
    pub statement: Option<String>,
    /// The TorchLean commit the file was read at, when it differs from the catalog's pin.
    pub read_at: Option<String>,
    /// Where tl's op semantics differ from TorchLean's for what this entry states.
    pub differences: Vec<Difference>,
    pub origin: Origin,
}

/// A difference between tl's semantics and TorchLean's that a result citing an entry carries
/// (the ledger shows it in the evidence chain).
#[derive(Clone, Debug, PartialEq)]
pub struct Difference {
    /// The ops it concerns; empty means whatever the entry is cited for.
    pub ops: Vec<Op>,
    pub text: String,
}

/// The TorchLean commit a catalog file was read at.
#[derive(Clone, Debug, PartialEq)]
pub struct SourcePin {
    pub repo: String,
    pub commit: String,
}

impl Entry {
    pub fn covers(&self, op: Op) -> bool {
        self.ops.contains(&op) || self.families.contains(&op.info().family)
    }

    pub fn side_conditions_for(&self, op: Op) -> Vec<&SideCondition> {
        self.side_conditions
            .iter()
            .filter(|c| c.applies_to(op))
            .collect()
    }
}

/// What a layer is about and the reason given for ops nothing in it covers.
#[derive(Clone, Debug, PartialEq)]
pub struct LayerInfo {
    pub description: String,
    pub default_reason: String,
    pub origin: Origin,
}

/// An explicit reason why ops are outside a layer.
#[derive(Clone, Debug, PartialEq)]
pub struct UncoveredReason {
    pub layer: Layer,
    pub ops: Vec<Op>,
    pub reason: String,
    pub origin: Origin,
}

/// An entry covering an op, with the side conditions that apply to that op.
#[derive(Clone, Debug)]
pub struct Cover<'a> {
    pub entry: &'a Entry,
    pub side_conditions: Vec<&'a SideCondition>,
}

/// The answer for one op in one layer.
#[derive(Clone, Debug)]
pub enum Verdict<'a> {
    Covered(Vec<Cover<'a>>),
    Uncovered { reason: &'a str },
}

#[derive(Clone, Debug)]
pub struct LayerCoverage<'a> {
    pub layer: Layer,
    pub verdict: Verdict<'a>,
}

impl LayerCoverage<'_> {
    pub fn is_covered(&self) -> bool {
        matches!(self.verdict, Verdict::Covered(_))
    }
}

/// The merged catalog: the builtin file plus any user files.
#[derive(Clone, Debug, Default)]
pub struct Catalog {
    pin: Option<SourcePin>,
    entries: Vec<Entry>,
    index: HashMap<String, usize>,
    layers: BTreeMap<Layer, LayerInfo>,
    uncovered: Vec<UncoveredReason>,
}

impl Catalog {
    /// The catalog shipped with tl. Its validity is a unit test, so failure here is a build bug.
    pub fn builtin() -> Catalog {
        match Catalog::parse(BUILTIN_NAME, BUILTIN_TEXT) {
            Ok(catalog) => catalog,
            Err(errors) => panic!(
                "the shipped catalog is invalid (a unit test catches this): {}",
                errors[0]
            ),
        }
    }

    /// The builtin catalog merged with the user catalog at `path`.
    pub fn load(path: &Path) -> Result<Catalog, Vec<CatalogError>> {
        let mut catalog = Catalog::builtin();
        catalog.merge_file(path)?;
        Ok(catalog)
    }

    /// Reads the catalog at `path` and merges it into `self`.
    pub fn merge_file(&mut self, path: &Path) -> Result<(), Vec<CatalogError>> {
        let file = path.display().to_string();
        let text = read_catalog_file(path, &file).map_err(|e| vec![e])?;
        let other = Catalog::parse(&file, &text)?;
        self.merge(other)
    }

    /// Parses one catalog file on its own (no merge with the builtin).
    pub fn parse(file: &str, text: &str) -> Result<Catalog, Vec<CatalogError>> {
        let raw: RawCatalog = toml::from_str(text).map_err(|e| {
            vec![CatalogError::at(
                "TL0701",
                format!("not a valid catalog file: {}", e.message()),
                file,
                text,
                e.span(),
            )]
        })?;
        let mut catalog = Builder::new(file, text).build(raw)?;
        catalog.reindex();
        let errors = catalog.consistency_errors();
        if errors.is_empty() {
            Ok(catalog)
        } else {
            Err(errors)
        }
    }

    /// Adds every item of `other`. Duplicate entry ids or layer descriptions are errors; on error
    /// `self` is left unchanged.
    pub fn merge(&mut self, other: Catalog) -> Result<(), Vec<CatalogError>> {
        let mut errors = Vec::new();
        for entry in &other.entries {
            if let Some(existing) = self.entry(&entry.id) {
                errors.push(CatalogError::duplicate_entry(entry, &existing.origin));
            }
        }
        for (layer, info) in &other.layers {
            if let Some(existing) = self.layers.get(layer) {
                errors.push(CatalogError {
                    code: "TL0705",
                    message: format!(
                        "layer `{layer}` is already described at {}",
                        existing.origin
                    ),
                    file: info.origin.file.clone(),
                    line: Some(info.origin.line),
                    span: None,
                });
            }
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        let mut merged = self.clone();
        merged.pin = merged.pin.or(other.pin);
        merged.entries.extend(other.entries);
        merged.layers.extend(other.layers);
        merged.uncovered.extend(other.uncovered);
        merged.reindex();
        let errors = merged.consistency_errors();
        if !errors.is_empty() {
            return Err(errors);
        }
        *self = merged;
        Ok(())
    }

    pub fn entries(&self) -> &[Entry] {
        &self.entries
    }

    /// The TorchLean commit the builtin catalog was read at.
    pub fn pin(&self) -> Option<&SourcePin> {
        self.pin.as_ref()
    }

    /// Differences between tl's and TorchLean's semantics that entries covering `op` record.
    pub fn differences_for(&self, op: Op) -> Vec<(&Entry, &Difference)> {
        let mut out: Vec<(&Entry, &Difference)> = Vec::new();
        for e in self.entries.iter().filter(|e| e.covers(op)) {
            for d in e.differences.iter().filter(|d| d.ops.contains(&op)) {
                if !out.iter().any(|(_, seen)| seen.text == d.text) {
                    out.push((e, d));
                }
            }
        }
        out
    }

    pub fn entry(&self, id: &str) -> Option<&Entry> {
        self.index.get(id).map(|&i| &self.entries[i])
    }

    pub fn layer_info(&self, layer: Layer) -> Option<&LayerInfo> {
        self.layers.get(&layer)
    }

    /// Entries that state a result for contracts of `kind` (see [`CONTRACT_KINDS`]).
    pub fn entries_for_contract_kind(&self, kind: &str) -> Vec<&Entry> {
        self.entries
            .iter()
            .filter(|e| e.contract_kinds.iter().any(|k| k == kind))
            .collect()
    }

    /// For every layer, the entries covering `op` (with the side conditions that apply to it), or
    /// why nothing does.
    pub fn coverage(&self, op: Op) -> Vec<LayerCoverage<'_>> {
        Layer::ALL
            .into_iter()
            .map(|layer| LayerCoverage {
                layer,
                verdict: self.verdict(layer, op),
            })
            .collect()
    }

    /// The answer for one layer.
    pub fn coverage_in(&self, layer: Layer, op: Op) -> LayerCoverage<'_> {
        LayerCoverage {
            layer,
            verdict: self.verdict(layer, op),
        }
    }

    fn verdict(&self, layer: Layer, op: Op) -> Verdict<'_> {
        let covers: Vec<Cover<'_>> = self
            .entries
            .iter()
            .filter(|e| e.layer == layer && e.covers(op))
            .map(|entry| Cover {
                entry,
                side_conditions: entry.side_conditions_for(op),
            })
            .collect();
        if !covers.is_empty() {
            return Verdict::Covered(covers);
        }
        let explicit = self
            .uncovered
            .iter()
            .find(|u| u.layer == layer && u.ops.contains(&op));
        let reason = match (explicit, self.layers.get(&layer)) {
            (Some(u), _) => u.reason.as_str(),
            (None, Some(info)) => info.default_reason.as_str(),
            (None, None) => "no catalog describes this layer",
        };
        Verdict::Uncovered { reason }
    }

    fn reindex(&mut self) {
        self.index = self
            .entries
            .iter()
            .enumerate()
            .map(|(i, e)| (e.id.clone(), i))
            .collect();
    }

    /// Cross-item problems: an op both covered and declared uncovered in one layer, or declared
    /// uncovered twice.
    fn consistency_errors(&self) -> Vec<CatalogError> {
        let mut errors = Vec::new();
        let mut seen: HashMap<(Layer, Op), &Origin> = HashMap::new();
        for u in &self.uncovered {
            for &op in &u.ops {
                if let Some(entry) = self
                    .entries
                    .iter()
                    .find(|e| e.layer == u.layer && e.covers(op))
                {
                    errors.push(CatalogError::conflict(
                        u,
                        format!(
                            "`{}` is declared uncovered in layer `{}`, but entry `{}` ({}) covers it",
                            op.name(),
                            u.layer,
                            entry.id,
                            entry.origin
                        ),
                    ));
                } else if let Some(first) = seen.insert((u.layer, op), &u.origin) {
                    errors.push(CatalogError::conflict(
                        u,
                        format!(
                            "`{}` is already declared uncovered in layer `{}` at {first}",
                            op.name(),
                            u.layer
                        ),
                    ));
                }
            }
        }
        errors
    }
}

fn read_catalog_file(path: &Path, file: &str) -> Result<String, CatalogError> {
    let unreadable = |why: String| CatalogError {
        code: "TL0700",
        message: format!("cannot read catalog file: {why}"),
        file: file.to_string(),
        line: None,
        span: None,
    };
    let meta = std::fs::metadata(path).map_err(|e| unreadable(e.to_string()))?;
    if !meta.is_file() {
        return Err(unreadable("not a regular file".into()));
    }
    if meta.len() > MAX_CATALOG_BYTES {
        return Err(unreadable(format!(
            "{} bytes is over the {MAX_CATALOG_BYTES}-byte limit",
            meta.len()
        )));
    }
    let bytes = std::fs::read(path).map_err(|e| unreadable(e.to_string()))?;
    String::from_utf8(bytes).map_err(|e| {
        unreadable(format!(
            "not UTF-8 (invalid byte at offset {})",
            e.utf8_error().valid_up_to()
        ))
    })
}

// ------------------------------------------------------------------------------------------------
// Errors
// ------------------------------------------------------------------------------------------------

/// A coded catalog loading error (TL0700–TL0719).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CatalogError {
    pub code: &'static str,
    pub message: String,
    pub file: String,
    /// 1-based line, when known.
    pub line: Option<usize>,
    /// Byte range in the file, when known.
    pub span: Option<Range<usize>>,
}

impl CatalogError {
    fn at(
        code: &'static str,
        message: String,
        file: &str,
        text: &str,
        span: Option<Range<usize>>,
    ) -> CatalogError {
        CatalogError {
            code,
            message,
            file: file.to_string(),
            line: span.as_ref().map(|s| line_of(text, s.start)),
            span,
        }
    }

    fn duplicate_entry(entry: &Entry, first: &Origin) -> CatalogError {
        CatalogError {
            code: "TL0704",
            message: format!(
                "duplicate entry id `{}` (first defined at {first})",
                entry.id
            ),
            file: entry.origin.file.clone(),
            line: Some(entry.origin.line),
            span: None,
        }
    }

    fn conflict(u: &UncoveredReason, message: String) -> CatalogError {
        CatalogError {
            code: "TL0709",
            message,
            file: u.origin.file.clone(),
            line: Some(u.origin.line),
            span: None,
        }
    }
}

impl fmt::Display for CatalogError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(line) => write!(
                f,
                "error[{}]: {}:{}: {}",
                self.code, self.file, line, self.message
            ),
            None => write!(f, "error[{}]: {}: {}", self.code, self.file, self.message),
        }
    }
}

impl std::error::Error for CatalogError {}

fn line_of(text: &str, offset: usize) -> usize {
    let end = offset.min(text.len());
    text.as_bytes()[..end]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
        + 1
}

// ------------------------------------------------------------------------------------------------
// The file format (serde) and its validation
// ------------------------------------------------------------------------------------------------

type Str = Spanned<String>;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCatalog {
    torchlean: Option<RawPin>,
    #[serde(default)]
    layers: BTreeMap<Str, RawLayer>,
    #[serde(default)]
    entry: Vec<Spanned<RawEntry>>,
    #[serde(default)]
    uncovered: Vec<Spanned<RawUncovered>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPin {
    repo: String,
    commit: Str,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDifference {
    #[serde(default)]
    ops: Vec<Str>,
    text: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLayer {
    description: String,
    default_reason: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEntry {
    id: Str,
    title: String,
    source: String,
    layer: Str,
    kind: Str,
    grants: Str,
    confirmed: bool,
    #[serde(default)]
    ops: Vec<Str>,
    #[serde(default)]
    families: Vec<Str>,
    #[serde(default)]
    contract_kinds: Vec<Str>,
    #[serde(default)]
    side_condition: Vec<Spanned<RawSideCondition>>,
    note: Option<String>,
    file: Option<String>,
    statement: Option<String>,
    read_at: Option<Str>,
    #[serde(default)]
    difference: Vec<RawDifference>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSideCondition {
    id: Str,
    description: String,
    mechanical: bool,
    check: Option<Str>,
    #[serde(default)]
    attrs: Vec<Str>,
    value: Option<String>,
    #[serde(default)]
    ops: Vec<Str>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawUncovered {
    layer: Str,
    ops: Vec<Str>,
    reason: String,
}

/// Turns the raw file into validated items, collecting every error rather than the first.
struct Builder<'t> {
    file: &'t str,
    text: &'t str,
    errors: Vec<CatalogError>,
}

impl<'t> Builder<'t> {
    fn new(file: &'t str, text: &'t str) -> Builder<'t> {
        Builder {
            file,
            text,
            errors: Vec::new(),
        }
    }

    fn error(&mut self, code: &'static str, message: String, span: Range<usize>) {
        self.errors.push(CatalogError::at(
            code,
            message,
            self.file,
            self.text,
            Some(span),
        ));
    }

    fn origin(&self, span: &Range<usize>) -> Origin {
        Origin {
            file: self.file.to_string(),
            line: line_of(self.text, span.start),
        }
    }

    fn build(mut self, raw: RawCatalog) -> Result<Catalog, Vec<CatalogError>> {
        let mut catalog = Catalog::default();
        if let Some(pin) = raw.torchlean {
            if self.commit_hash(&pin.commit) {
                catalog.pin = Some(SourcePin {
                    repo: pin.repo,
                    commit: pin.commit.into_inner(),
                });
            }
        }
        for (name, layer) in raw.layers {
            if let Some(l) = self.layer(&name) {
                let origin = self.origin(&name.span());
                catalog.layers.insert(
                    l,
                    LayerInfo {
                        description: layer.description,
                        default_reason: layer.default_reason,
                        origin,
                    },
                );
            }
        }
        let mut first_seen: HashMap<String, Origin> = HashMap::new();
        for raw_entry in raw.entry {
            let span = raw_entry.span();
            if let Some(entry) = self.entry(raw_entry.into_inner(), span) {
                if let Some(first) = first_seen.get(&entry.id) {
                    self.errors
                        .push(CatalogError::duplicate_entry(&entry, first));
                } else {
                    first_seen.insert(entry.id.clone(), entry.origin.clone());
                    catalog.entries.push(entry);
                }
            }
        }
        for raw_u in raw.uncovered {
            let origin = self.origin(&raw_u.span());
            let raw_u = raw_u.into_inner();
            let layer = self.layer(&raw_u.layer);
            let ops = self.ops(&raw_u.ops);
            if raw_u.reason.trim().is_empty() {
                self.error(
                    "TL0707",
                    "an uncovered reason must not be empty".into(),
                    raw_u.layer.span(),
                );
            }
            if let Some(layer) = layer {
                catalog.uncovered.push(UncoveredReason {
                    layer,
                    ops,
                    reason: raw_u.reason,
                    origin,
                });
            }
        }
        if self.errors.is_empty() {
            Ok(catalog)
        } else {
            Err(self.errors)
        }
    }

    fn entry(&mut self, raw: RawEntry, span: Range<usize>) -> Option<Entry> {
        let before = self.errors.len();
        if raw.id.get_ref().trim().is_empty() {
            self.error(
                "TL0707",
                "an entry id must not be empty".into(),
                raw.id.span(),
            );
        }
        let layer = self.layer(&raw.layer);
        let kind = EntryKind::from_name(raw.kind.get_ref());
        if kind.is_none() {
            self.error(
                "TL0707",
                format!(
                    "unknown entry kind `{}` (expected theorem, module or card)",
                    raw.kind.get_ref()
                ),
                raw.kind.span(),
            );
        }
        let grants = match Status::from_name(raw.grants.get_ref()) {
            Some(s @ (Status::Proved | Status::Checked | Status::Tested | Status::Assumed)) => {
                Some(s)
            }
            _ => {
                self.error(
                    "TL0706",
                    format!(
                        "`grants = \"{}\"`: an entry grants proved, checked, tested or assumed",
                        raw.grants.get_ref()
                    ),
                    raw.grants.span(),
                );
                None
            }
        };
        let ops = self.ops(&raw.ops);
        let families = self.families(&raw.families);
        for kind in &raw.contract_kinds {
            if !CONTRACT_KINDS.contains(&kind.get_ref().as_str()) {
                self.error(
                    "TL0708",
                    format!(
                        "unknown contract kind `{}` (known: {})",
                        kind.get_ref(),
                        CONTRACT_KINDS.join(", ")
                    ),
                    kind.span(),
                );
            }
        }
        if raw.ops.is_empty() && raw.families.is_empty() && raw.contract_kinds.is_empty() {
            self.error(
                "TL0707",
                format!(
                    "entry `{}` covers nothing: give ops, families or contract_kinds",
                    raw.id.get_ref()
                ),
                raw.id.span(),
            );
        }
        let mut side_conditions: Vec<SideCondition> = Vec::new();
        for raw_sc in raw.side_condition {
            let sc_span = raw_sc.span();
            if let Some(sc) = self.side_condition(raw_sc.into_inner(), &ops, &families) {
                if side_conditions.iter().any(|c| c.id == sc.id) {
                    self.error(
                        "TL0707",
                        format!(
                            "side condition `{}` appears twice in entry `{}`",
                            sc.id,
                            raw.id.get_ref()
                        ),
                        sc_span,
                    );
                } else {
                    side_conditions.push(sc);
                }
            }
        }
        if let Some(c) = &raw.read_at {
            self.commit_hash(c);
        }
        let mut differences = Vec::new();
        for d in raw.difference {
            let ops = self.ops(&d.ops);
            if d.text.trim().is_empty() {
                self.error(
                    "TL0707",
                    format!("a difference of entry `{}` has no text", raw.id.get_ref()),
                    raw.id.span(),
                );
            }
            differences.push(Difference { ops, text: d.text });
        }
        if self.errors.len() > before {
            return None;
        }
        Some(Entry {
            id: raw.id.into_inner(),
            title: raw.title,
            source: raw.source,
            layer: layer?,
            kind: kind?,
            grants: grants?,
            confirmed: raw.confirmed,
            ops,
            families,
            contract_kinds: raw
                .contract_kinds
                .into_iter()
                .map(Spanned::into_inner)
                .collect(),
            side_conditions,
            note: raw.note,
            file: raw.file,
            statement: raw.statement,
            read_at: raw.read_at.map(Spanned::into_inner),
            differences,
            origin: self.origin(&span),
        })
    }

    fn side_condition(
        &mut self,
        raw: RawSideCondition,
        entry_ops: &[Op],
        entry_families: &[Family],
    ) -> Option<SideCondition> {
        let before = self.errors.len();
        let check = raw.check.as_ref().and_then(|c| {
            let check = Check::from_name(c.get_ref());
            if check.is_none() {
                self.error(
                    "TL0703",
                    format!("unknown side-condition check `{}`", c.get_ref()),
                    c.span(),
                );
            }
            check
        });
        match (raw.mechanical, &raw.check) {
            (true, None) => self.error(
                "TL0707",
                format!(
                    "side condition `{}` is mechanical but names no check",
                    raw.id.get_ref()
                ),
                raw.id.span(),
            ),
            (false, Some(c)) => self.error(
                "TL0707",
                format!(
                    "side condition `{}` names a check but says mechanical = false",
                    raw.id.get_ref()
                ),
                c.span(),
            ),
            _ => {}
        }
        let ops = self.ops(&raw.ops);
        for (raw_op, op) in raw.ops.iter().zip(&ops) {
            let covered = entry_ops.contains(op) || entry_families.contains(&op.info().family);
            if !covered {
                self.error(
                    "TL0707",
                    format!(
                        "side condition `{}` names `{}`, which its entry does not cover",
                        raw.id.get_ref(),
                        op.name()
                    ),
                    raw_op.span(),
                );
            }
        }
        if let Some(check) = check {
            if check.takes_attrs() && raw.attrs.is_empty() {
                self.error(
                    "TL0707",
                    format!("check `{}` needs `attrs`", check.name()),
                    raw.id.span(),
                );
            }
            if check.takes_value() != raw.value.is_some() {
                self.error(
                    "TL0707",
                    "`value` goes with checks `attr_equals` and `operand_rank`, and only with them"
                        .into(),
                    raw.id.span(),
                );
            }
            if check == Check::OperandRank
                && raw
                    .value
                    .as_deref()
                    .is_some_and(|v| v.parse::<usize>().is_err())
            {
                self.error(
                    "TL0707",
                    "check `operand_rank` needs `value` = a rank (\"2\")".into(),
                    raw.id.span(),
                );
            }
        }
        // Attribute names are checked against the ops the condition applies to.
        let targets: Vec<Op> = if ops.is_empty() {
            entry_ops.to_vec()
        } else {
            ops.clone()
        };
        for attr in &raw.attrs {
            if let Some(op) = targets
                .iter()
                .find(|op| op.info().attr(attr.get_ref()).is_none())
            {
                self.error(
                    "TL0703",
                    format!("`{}` has no attribute `{}`", op.name(), attr.get_ref()),
                    attr.span(),
                );
            }
        }
        if self.errors.len() > before {
            return None;
        }
        Some(SideCondition {
            id: raw.id.into_inner(),
            description: raw.description,
            mechanical: raw.mechanical,
            check,
            attrs: raw.attrs.into_iter().map(Spanned::into_inner).collect(),
            value: raw.value,
            ops,
        })
    }

    /// A full 40-digit commit hash, else a TL0707 error.
    fn commit_hash(&mut self, commit: &Str) -> bool {
        let c = commit.get_ref();
        let ok = c.len() == 40 && c.bytes().all(|b| b.is_ascii_hexdigit());
        if !ok {
            self.error(
                "TL0707",
                format!("`{c}` is not a full 40-digit commit hash"),
                commit.span(),
            );
        }
        ok
    }

    fn layer(&mut self, name: &Str) -> Option<Layer> {
        let layer = Layer::from_name(name.get_ref());
        if layer.is_none() {
            let known: Vec<&str> = Layer::ALL.iter().map(|l| l.name()).collect();
            self.error(
                "TL0702",
                format!(
                    "unknown layer `{}` (known: {})",
                    name.get_ref(),
                    known.join(", ")
                ),
                name.span(),
            );
        }
        layer
    }

    /// Valid op names, in order; each unknown name is reported.
    fn ops(&mut self, names: &[Str]) -> Vec<Op> {
        names
            .iter()
            .filter_map(|name| match tl_ir::lookup(name.get_ref()) {
                Some(info) => Some(info.op),
                None => {
                    self.error(
                        "TL0703",
                        format!("unknown op `{}` (not in tl's op table)", name.get_ref()),
                        name.span(),
                    );
                    None
                }
            })
            .collect()
    }

    fn families(&mut self, names: &[Str]) -> Vec<Family> {
        names
            .iter()
            .filter_map(|name| {
                let family = family_by_name(name.get_ref());
                if family.is_none() {
                    self.error(
                        "TL0703",
                        format!("unknown op family `{}`", name.get_ref()),
                        name.span(),
                    );
                }
                family
            })
            .collect()
    }
}

/// Families by their serde (snake_case) spelling, as used in catalog files.
fn family_by_name(name: &str) -> Option<Family> {
    OPS.iter().map(|o| o.family).find(|f| {
        toml::Value::try_from(f)
            .ok()
            .and_then(|v| v.as_str().map(|s| s == name))
            .unwrap_or(false)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reason(catalog: &Catalog, layer: Layer, op: Op) -> Option<&str> {
        match catalog.coverage_in(layer, op).verdict {
            Verdict::Uncovered { reason } => Some(reason),
            Verdict::Covered(_) => None,
        }
    }

    fn write_temp(name: &str, text: &str) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("tl-catalog-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(name);
        std::fs::write(&path, text).unwrap();
        path
    }

    const USER_ENTRY: &str = r#"
[[entry]]
id = "MyLab.relu_lipschitz"
title = "relu is 1-Lipschitz"
source = "MyLab.Relu"
layer = "bound_propagation"
kind = "theorem"
grants = "proved"
confirmed = true
ops = ["leaky_relu"]
contract_kinds = ["robustness"]
"#;

    #[test]
    fn builtin_catalog_loads() {
        let catalog = Catalog::builtin();
        assert!(catalog.entries().len() >= 30);
        for layer in Layer::ALL {
            assert!(catalog.layer_info(layer).is_some(), "{layer} undescribed");
            assert!(
                catalog.entries().iter().any(|e| e.layer == layer),
                "{layer} has no entry"
            );
        }
    }

    #[test]
    fn mse_loss_is_outside_compiled_semantics_with_the_no_mse_loss_reason() {
        let catalog = Catalog::builtin();
        assert_eq!(
            reason(&catalog, Layer::CompiledSemantics, Op::MseLoss),
            Some("outside execGraphOfIR_semantics_eq (side condition NoMSELoss)")
        );
        let theorem = catalog
            .entry("Runtime.Autograd.Compiled.execGraphOfIR_semantics_eq")
            .unwrap();
        assert!(!theorem.covers(Op::MseLoss));
        assert!(theorem
            .side_conditions
            .iter()
            .any(|c| c.check == Some(Check::NoMseLoss)));
    }

    #[test]
    fn relu_is_covered_in_every_layer_the_source_supports() {
        let catalog = Catalog::builtin();
        let covered: Vec<Layer> = catalog
            .coverage(Op::Relu)
            .into_iter()
            .filter(|c| c.is_covered())
            .map(|c| c.layer)
            .collect();
        assert_eq!(
            covered,
            vec![
                Layer::CompiledSemantics,
                Layer::Autograd,
                Layer::FloatApproximation,
                Layer::BoundPropagation
            ]
        );
        // The compiled-semantics cover carries the theorem's global side conditions.
        let cover = catalog.coverage_in(Layer::CompiledSemantics, Op::Relu);
        let Verdict::Covered(covers) = cover.verdict else {
            unreachable!()
        };
        let ids: Vec<&str> = covers[0]
            .side_conditions
            .iter()
            .map(|c| c.id.as_str())
            .collect();
        assert_eq!(
            ids,
            [
                "structural_checks_pass",
                "compilation_succeeds",
                "no_mse_loss"
            ]
        );
        // relu's autograd rule holds only away from the kink, which tl cannot decide.
        let Verdict::Covered(covers) = catalog.coverage_in(Layer::Autograd, Op::Relu).verdict
        else {
            unreachable!()
        };
        assert!(covers[0].side_conditions.iter().any(|c| !c.mechanical));
    }

    #[test]
    fn op_specific_side_conditions_apply_only_to_their_ops() {
        let catalog = Catalog::builtin();
        let Verdict::Covered(covers) = catalog
            .coverage_in(Layer::CompiledSemantics, Op::Conv2d)
            .verdict
        else {
            unreachable!()
        };
        let ids: Vec<&str> = covers[0]
            .side_conditions
            .iter()
            .map(|c| c.id.as_str())
            .collect();
        assert!(ids.contains(&"conv_plain"));
        assert!(!ids.contains(&"broadcast_as_broadcast_to"));
        let Verdict::Covered(covers) = catalog.coverage_in(Layer::Autograd, Op::Log).verdict else {
            unreachable!()
        };
        assert!(covers[0]
            .side_conditions
            .iter()
            .any(|c| c.check == Some(Check::DomainPositive)));
    }

    #[test]
    fn every_op_gets_an_answer_in_every_layer() {
        let catalog = Catalog::builtin();
        for info in OPS {
            let answers = catalog.coverage(info.op);
            assert_eq!(answers.len(), Layer::ALL.len());
            for answer in answers {
                match answer.verdict {
                    Verdict::Covered(covers) => assert!(!covers.is_empty()),
                    Verdict::Uncovered { reason } => {
                        assert!(
                            !reason.trim().is_empty(),
                            "{} in {}",
                            info.name,
                            answer.layer
                        )
                    }
                }
            }
        }
    }

    #[test]
    fn contract_kind_queries() {
        let catalog = Catalog::builtin();
        let robustness: Vec<&str> = catalog
            .entries_for_contract_kind("robustness")
            .iter()
            .map(|e| e.id.as_str())
            .collect();
        assert!(
            robustness.contains(&"NN.Proofs.RuntimeApprox.FP32.ibpBound_contains_reluMlp2_fp32")
        );
        assert!(catalog
            .entries_for_contract_kind("attention_mask")
            .iter()
            .all(|e| matches!(e.layer, Layer::Attention | Layer::Bugzoo)));
        assert!(!catalog
            .entries_for_contract_kind("ignored_labels")
            .is_empty());
        assert!(catalog.entries_for_contract_kind("no_such_kind").is_empty());
        for kind in CONTRACT_KINDS {
            assert!(
                !catalog.entries_for_contract_kind(kind).is_empty(),
                "no entry for {kind}"
            );
        }
    }

    #[test]
    fn user_catalogs_merge() {
        let path = write_temp("merge.toml", USER_ENTRY);
        let catalog = Catalog::load(&path).unwrap();
        let entry = catalog.entry("MyLab.relu_lipschitz").unwrap();
        assert_eq!(entry.origin.line, 2);
        assert!(catalog
            .coverage_in(Layer::BoundPropagation, Op::LeakyRelu)
            .is_covered());
        // The builtin entries are still there.
        assert!(catalog
            .entry("Runtime.Autograd.Compiled.execGraphOfIR_semantics_eq")
            .is_some());
        assert_eq!(
            catalog.entries().len(),
            Catalog::builtin().entries().len() + 1
        );
    }

    #[test]
    fn duplicate_ids_fail_with_file_and_line() {
        let text = USER_ENTRY.replace(
            "MyLab.relu_lipschitz",
            "Runtime.Autograd.Compiled.execGraphOfIR_semantics_eq",
        );
        let path = write_temp("dup.toml", &text);
        let errors = Catalog::load(&path).unwrap_err();
        assert_eq!(errors.len(), 1);
        assert_eq!(errors[0].code, "TL0704");
        assert_eq!(errors[0].file, path.display().to_string());
        assert_eq!(errors[0].line, Some(2));
        assert!(errors[0].message.contains("<builtin>/torchlean.toml:"));

        // Within one file too.
        let twice = format!("{USER_ENTRY}{USER_ENTRY}");
        let errors = Catalog::parse("twice.toml", &twice).unwrap_err();
        assert_eq!(errors[0].code, "TL0704");
        assert_eq!(errors[0].line, Some(13));
    }

    #[test]
    fn unknown_names_are_coded_with_spans() {
        let text = USER_ENTRY
            .replace("\"leaky_relu\"", "\"leaky_relu\", \"relu6\"")
            .replace("bound_propagation", "vibes");
        let errors = Catalog::parse("bad.toml", &text).unwrap_err();
        let codes: Vec<&str> = errors.iter().map(|e| e.code).collect();
        assert_eq!(codes, ["TL0702", "TL0703"]);
        let op_error = &errors[1];
        assert_eq!(op_error.line, Some(10));
        assert_eq!(&text[op_error.span.clone().unwrap()], "\"relu6\"");
    }

    #[test]
    fn malformed_files_are_coded_not_panics() {
        for text in [
            "[[entry]\nid = 1",
            "[[entry]]\nid = \"x\"",
            "surprise = true",
            "\u{feff}[layers.autograd]\ndescription = 3",
        ] {
            let errors = Catalog::parse("m.toml", text).unwrap_err();
            assert_eq!(errors[0].code, "TL0701", "{text:?}");
        }
        let path = write_temp("binary.toml", "");
        std::fs::write(&path, [0xff, 0xfe, 0x00]).unwrap();
        assert_eq!(Catalog::load(&path).unwrap_err()[0].code, "TL0700");
        let missing = path.with_file_name("missing.toml");
        assert_eq!(Catalog::load(&missing).unwrap_err()[0].code, "TL0700");
    }

    #[test]
    fn side_condition_rules_are_validated() {
        let mechanical_without_check = format!(
            "{USER_ENTRY}\n[[entry.side_condition]]\nid = \"c\"\ndescription = \"d\"\nmechanical = true\n"
        );
        let errors = Catalog::parse("s.toml", &mechanical_without_check).unwrap_err();
        assert_eq!(errors[0].code, "TL0707");

        let unknown_check = format!(
            "{USER_ENTRY}\n[[entry.side_condition]]\nid = \"c\"\ndescription = \"d\"\nmechanical = true\ncheck = \"vibe_check\"\n"
        );
        assert_eq!(
            Catalog::parse("s.toml", &unknown_check).unwrap_err()[0].code,
            "TL0703"
        );

        let bad_attr = format!(
            "{USER_ENTRY}\n[[entry.side_condition]]\nid = \"c\"\ndescription = \"d\"\nmechanical = true\ncheck = \"attrs_at_default\"\nattrs = [\"groups\"]\n"
        );
        let errors = Catalog::parse("s.toml", &bad_attr).unwrap_err();
        assert_eq!(errors[0].code, "TL0703");
        assert!(errors[0].message.contains("leaky_relu"));

        let bad_grant = USER_ENTRY.replace("grants = \"proved\"", "grants = \"falsified\"");
        assert_eq!(
            Catalog::parse("s.toml", &bad_grant).unwrap_err()[0].code,
            "TL0706"
        );
        let bad_kind = USER_ENTRY.replace("\"robustness\"", "\"robustnes\"");
        assert_eq!(
            Catalog::parse("s.toml", &bad_kind).unwrap_err()[0].code,
            "TL0708"
        );
    }

    #[test]
    fn covered_and_uncovered_at_once_is_a_conflict() {
        let text = format!(
            "{USER_ENTRY}\n[[uncovered]]\nlayer = \"bound_propagation\"\nops = [\"leaky_relu\"]\nreason = \"r\"\n"
        );
        assert_eq!(
            Catalog::parse("c.toml", &text).unwrap_err()[0].code,
            "TL0709"
        );
        // Declaring relu uncovered where the builtin covers it conflicts on merge.
        let user =
            "[[uncovered]]\nlayer = \"compiled_semantics\"\nops = [\"relu\"]\nreason = \"r\"\n";
        let mut catalog = Catalog::builtin();
        let before = catalog.entries().len();
        let errors = catalog
            .merge(Catalog::parse("u.toml", user).unwrap())
            .unwrap_err();
        assert_eq!(errors[0].code, "TL0709");
        assert_eq!(
            catalog.entries().len(),
            before,
            "a failed merge changes nothing"
        );
    }

    #[test]
    fn statuses_compose_by_the_weakest_link() {
        use Status::*;
        assert_eq!(Proved.compose(Checked), Checked);
        assert_eq!(Tested.compose(Proved), Tested);
        assert_eq!(Assumed.compose(Uncovered), Uncovered);
        assert_eq!(Falsified.compose(Proved), Falsified);
        assert_eq!(Proved.compose(Falsified), Falsified);
        assert_eq!(Status::compose_all([Proved, Proved]), Proved);
        assert_eq!(Status::compose_all([Proved, Assumed, Checked]), Assumed);
        assert_eq!(Status::compose_all([]), Uncovered);
    }

    #[test]
    fn unconfirmed_entries_say_why() {
        let catalog = Catalog::builtin();
        for entry in catalog.entries().iter().filter(|e| !e.confirmed) {
            assert!(
                entry.note.is_some(),
                "{} is unconfirmed without a note",
                entry.id
            );
        }
    }

    /// Every side condition in the shipped file, read as plain TOML (not through the loader), is
    /// either a check tl knows or a named assumption with a description: none is granted silently.
    #[test]
    fn every_shipped_condition_is_checked_or_named_as_assumed() {
        let raw: toml::Value = toml::from_str(BUILTIN_TEXT).unwrap();
        let entries = raw["entry"].as_array().unwrap();
        let known: Vec<&str> = Check::ALL.iter().map(|c| c.name()).collect();
        let mut seen = 0;
        for e in entries {
            let id = e["id"].as_str().unwrap();
            for c in e
                .get("side_condition")
                .and_then(|v| v.as_array())
                .into_iter()
                .flatten()
            {
                seen += 1;
                let cid = c["id"].as_str().unwrap();
                let description = c["description"].as_str().unwrap_or("");
                assert!(
                    !description.trim().is_empty(),
                    "{id}#{cid} has no description"
                );
                match (c["mechanical"].as_bool().unwrap(), c.get("check")) {
                    (true, Some(check)) => {
                        let check = check.as_str().unwrap();
                        assert!(known.contains(&check), "{id}#{cid}: unknown check {check}");
                    }
                    (false, None) => {} // a named assumption: the ledger lists it as assumed
                    other => panic!("{id}#{cid}: mechanical/check mismatch {other:?}"),
                }
            }
        }
        assert!(seen > 30, "only {seen} side conditions read");
    }

    /// The shipped catalog is pinned to one TorchLean commit and every entry names the file it
    /// was read in; confirmed theorems and cards record the statement read.
    #[test]
    fn shipped_entries_record_file_statement_and_commit() {
        let c = Catalog::builtin();
        let pin = c.pin().expect("the builtin catalog is pinned");
        assert_eq!(pin.repo, "lean-dojo/TorchLean");
        assert_eq!(pin.commit.len(), 40);
        for e in c.entries() {
            let file = e
                .file
                .as_deref()
                .unwrap_or_else(|| panic!("{} names no file", e.id));
            assert!(file.ends_with(".lean"), "{}: {file}", e.id);
            let module = e.source.replace('.', "/") + ".lean";
            assert_eq!(module, file, "{}: source and file disagree", e.id);
            if e.confirmed && e.kind != EntryKind::Module {
                assert!(
                    e.statement.is_some(),
                    "{} is confirmed without a statement",
                    e.id
                );
            }
        }
    }

    #[test]
    fn softmax_and_sigmoid_cite_what_torchlean_states() {
        let c = Catalog::builtin();
        let Verdict::Covered(covers) = c
            .coverage_in(Layer::FloatApproximation, Op::Sigmoid)
            .verdict
        else {
            panic!("sigmoid is uncovered")
        };
        assert_eq!(covers.len(), 1);
        assert!(covers[0]
            .entry
            .id
            .ends_with("NFBackend.approxTensor_softmax_spec"));
        let Verdict::Covered(covers) = c
            .coverage_in(Layer::FloatApproximation, Op::Softmax)
            .verdict
        else {
            panic!("softmax is uncovered")
        };
        let ids: Vec<&str> = covers.iter().map(|c| c.entry.id.as_str()).collect();
        assert!(ids.iter().all(|id| id.contains("AxisSoftmax")), "{ids:?}");
        for cover in &covers {
            assert!(cover
                .side_conditions
                .iter()
                .any(|sc| sc.id == "denominator_error_below_one" && !sc.mechanical));
        }
        // The max note says what Coverage lists (max/min away from ties), not that nothing is.
        let Verdict::Uncovered { reason } = c.coverage_in(Layer::Autograd, Op::Max).verdict else {
            panic!("max is covered")
        };
        assert!(reason.contains("away from ties"), "{reason}");
    }

    #[test]
    fn operand_rank_needs_a_numeric_value_and_pins_need_full_hashes() {
        let bad = r#"
[torchlean]
repo = "lean-dojo/TorchLean"
commit = "4ec1f62"

[[entry]]
id = "X.y"
title = "t"
source = "X"
layer = "autograd"
kind = "theorem"
grants = "proved"
confirmed = false
ops = ["matmul"]

[[entry.side_condition]]
id = "r"
description = "d"
mechanical = true
check = "operand_rank"
value = "two"
"#;
        let errors = Catalog::parse("u.toml", bad).unwrap_err();
        let text: Vec<String> = errors.iter().map(|e| e.to_string()).collect();
        assert!(text.iter().any(|t| t.contains("40-digit")), "{text:?}");
        assert!(text.iter().any(|t| t.contains("operand_rank")), "{text:?}");
    }
}
