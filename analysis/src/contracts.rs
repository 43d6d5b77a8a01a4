//! Contracts, tolerances and assumptions: what each claims, about which graph, checked how, and
//! resting on what.

use tl_syntax::ast::{self, BinaryOp, Clause, Expr, Item};
use tl_syntax::TextRange;

use crate::catalog::Status;
use crate::db::Db;
use crate::diagnostics::{Diagnostic, Span};
use crate::graphs::{
    analyze_graph, attr_value, graph_signature, literal_tensor, resolve_node_path, Resolution, Use,
};
use crate::items::{parse_item, DefKind, ItemSource};
use crate::scope::{import_target, lookup, suggest, ImportTarget};

/// What a contract's target is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, salsa::SalsaValue)]
pub enum Target<'db> {
    Graph(ItemSource<'db>),
    /// An ONNX model imported `as` a name (its import item).
    Onnx(ItemSource<'db>),
}

/// The set an input ranges over.
#[derive(Clone, Debug, PartialEq, salsa::SalsaValue)]
pub enum InputSet {
    /// `linf_ball(center, eps = e)`: center is a literal or a `load("x.npy")`.
    LinfBall { center: Values, eps: f64 },
    /// `box(lower, upper)`: each a number (broadcast), a literal or a file.
    Box { lower: Values, upper: Values },
    /// `dataset("inputs.npy")`: the rows of a file, used as they are.
    Dataset { path: String },
}

/// Concrete values written in a contract.
#[derive(Clone, Debug, PartialEq, salsa::SalsaValue)]
pub enum Values {
    Scalar(f64),
    Literal { shape: Vec<u64>, data: Vec<f64> },
    File { path: String },
}

/// The comparison in a linear output claim.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, salsa::SalsaValue)]
pub enum Cmp {
    Le,
    Lt,
    Ge,
    Gt,
}

/// A reference to one element of a graph value: `logits[0]`, or `y` when it is a scalar or
/// a whole tensor (`index = None`).
#[derive(Clone, Debug, PartialEq, Eq, Hash, salsa::SalsaValue)]
pub struct ValueRef {
    pub name: String,
    pub index: Option<Vec<i64>>,
}

/// One side of a linear claim: sum of coef * value, plus a constant.
#[derive(Clone, Debug, PartialEq, salsa::SalsaValue)]
pub struct LinearExpr {
    pub terms: Vec<(f64, ValueRef)>,
    pub constant: f64,
}

/// What a contract claims, classified from its `ensure` clauses.
#[derive(Clone, Debug, PartialEq, salsa::SalsaValue)]
pub enum Claim {
    /// `argmax(y) == k` for every input in the set.
    Argmax { output: String, class: i64 },
    /// `lhs CMP rhs` (linear in the outputs); `all(y >= 0)` is `Linear` with whole-tensor refs.
    Linear {
        lhs: LinearExpr,
        cmp: Cmp,
        rhs: LinearExpr,
    },
    /// Several claims that must all hold.
    All(Vec<Claim>),
    /// The property of a VNN-LIB file (`given vnnlib("p.vnnlib")`): its unsafe set is unreachable.
    VnnLib { path: String },
    /// `given transitions("run.jsonl", obs = [2], action = discrete(4), reward = [-1, 1])`:
    /// every record of the file meets the environment boundary (#19). The records are checked;
    /// the simulator that wrote them is not claimed (an `environment` assumption).
    Transitions {
        path: String,
        boundary: crate::verify::transitions::TransitionContract,
    },
    /// `compiled ~= reference within T`: the compiled f32 executor agrees with the reference.
    Equivalence,
    /// `gradient ~= finite_difference within T`: autograd agrees with central differences.
    Gradient,
    /// `target ~= other within T` with two graphs of the spec (a model and its quantised or
    /// distilled copy): on every input of the set, `|target(x) - other(x)| <= T` element-wise,
    /// both graphs applied to the same input. Checked by bounds on the difference network.
    TwoNetwork { other: String },
    /// `masked_weights_zero(node)`: every masked attention weight of the node is exactly 0.
    MaskedWeightsZero { node: String },
    /// `ignored_labels_zero(node)`: labels equal to ignore_index contribute exactly zero loss.
    IgnoredLabelsZero { node: String },
    /// `batch_invariant(y)` (BugZoo BatchInvariance): row i of `y` on a batch equals `y` on row
    /// i alone; no op mixes the rows of the batch (axis 0 of the batched inputs).
    BatchInvariant { output: String },
    /// `indices_in_vocab(node)` (BugZoo TokenizerBoundary): every index the `embedding` node can
    /// read over the input set lies in `0..V`, V the table's row count.
    IndicesInVocab { node: String },
    /// `domain_safe(y)` (BugZoo StableLoss and AutogradDomain): every domain-restricted node `y`
    /// depends on (log, sqrt, the denominator of div, the base of pow) keeps its argument inside
    /// the op's safe domain over the input set, in the real semantics and in the compiled f32
    /// executor. The safe domains: log x > 0; sqrt x > 0 (undefined below 0, infinite gradient
    /// at 0); div b != 0; pow by a non-integer exponent e: x > 0 (x >= 0 when e > 1), by a
    /// negative integer: x != 0.
    DomainSafe { output: String },
    /// `ensure other_contract within T`: the other contract's real-valued result, bridged to the
    /// executor named by `execute on` through tolerance T.
    Bridge { contract: String },
    /// `lipschitz(y, x, norm = "linf") <= L`: the Lipschitz constant of `y` as a function of input
    /// `x` over the input set, in the induced norm (linf: max row sum of |J|; l1: max column
    /// sum), is at most `L` (`strict`: below `L`).
    Lipschitz {
        output: String,
        input: String,
        norm: JacobianNorm,
        bound: f64,
        strict: bool,
    },
    /// `adjoint(y)`: tl's forward and reverse modes agree by the adjoint law
    /// `<J u, v> = <u, J^T v>` for the derivative of `y`, per op node and for the whole graph.
    Adjoint { output: String },
    /// `d(y[i]) / d(x[j]) CMP c`: the partial derivative (the generalized one at kinks) stays on
    /// one side of `c` over the input set; `>= 0` means `y[i]` is non-decreasing in `x[j]`.
    Derivative {
        output: ValueRef,
        input: ValueRef,
        cmp: Cmp,
        bound: f64,
    },
}

/// The norm of a Lipschitz claim (the operator norm it induces on the Jacobian).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, salsa::SalsaValue)]
pub enum JacobianNorm {
    Linf,
    L1,
}

impl JacobianNorm {
    pub fn name(self) -> &'static str {
        match self {
            JacobianNorm::Linf => "linf",
            JacobianNorm::L1 => "l1",
        }
    }
}

impl Claim {
    /// The contract kind, as the catalog and `tlc verify` name it.
    pub fn kind(&self) -> &'static str {
        match self {
            Claim::Argmax { .. } => "robustness",
            Claim::Linear { .. } | Claim::All(_) => "output_range",
            Claim::VnnLib { .. } => "vnnlib",
            Claim::Transitions { .. } => "transitions",
            Claim::Equivalence => "equivalence",
            Claim::Gradient => "gradient",
            Claim::TwoNetwork { .. } => "two_network",
            Claim::MaskedWeightsZero { .. } => "attention_mask",
            Claim::IgnoredLabelsZero { .. } => "ignored_labels",
            Claim::BatchInvariant { .. } => "batch_invariance",
            Claim::IndicesInVocab { .. } => "tokenizer_boundary",
            Claim::DomainSafe { .. } => "safe_domain",
            Claim::Bridge { .. } => "execution",
            Claim::Lipschitz { .. } | Claim::Derivative { .. } => "jacobian",
            Claim::Adjoint { .. } => "adjoint",
        }
    }
}

/// A check method with its options.
#[derive(Clone, Debug, PartialEq, salsa::SalsaValue)]
pub enum Method {
    Ibp,
    Crown,
    AlphaCrown,
    /// Branch and bound; `timeout_ms` and `max_nodes` bound the search.
    Bab {
        timeout_ms: Option<u64>,
        max_nodes: Option<u64>,
        split: Option<String>,
    },
    /// Sampled executions: evidence of status "tested", never "checked".
    Sampling {
        samples: u64,
        seed: u64,
    },
    /// Discharged by a catalog entry whose side conditions tl checks.
    Catalog,
    /// An exact structural check of the lowered graph (per-op rules; `batch_invariant`).
    Structure,
    /// Every record of a transitions file checked against the environment boundary.
    Records,
    /// An external certificate file, recomputed by `tlc certificate check`.
    Certificate {
        path: String,
    },
    /// Another verifier's answer, read from a result file (`tl-vnnlib verify` / VNN-COMP
    /// output: `unsat`, `sat` with its assignment, ...): evidence that rests on the contract's
    /// named `solver` assumption, so at most assumed; a `sat` counts only once replayed.
    External {
        path: String,
    },
}

impl Method {
    /// The status this method's evidence grants when it holds for `claim`: the one
    /// method->status table (verify records it on each outcome; the ledger's pending ceiling
    /// reads it before anything ran).
    pub fn grants(&self, claim: Option<&Claim>) -> Status {
        match self {
            Method::Ibp | Method::Crown | Method::AlphaCrown | Method::Bab { .. } => {
                Status::Checked
            }
            Method::Certificate { .. } | Method::Structure | Method::Records => Status::Checked,
            Method::External { .. } => Status::Assumed,
            Method::Sampling { .. } => Status::Tested,
            // execGraphOfIR_semantics_eq is a theorem about TorchLean's compiler. tl's compiled
            // plan is a separate implementation of the same lowering, so for an equivalence claim
            // about tl's executor the theorem carries over only under that (unproved)
            // correspondence.
            Method::Catalog if matches!(claim, Some(Claim::Equivalence)) => Status::Assumed,
            Method::Catalog => Status::Proved,
        }
    }

    pub fn name(&self) -> &'static str {
        match self {
            Method::Ibp => "ibp",
            Method::Crown => "crown",
            Method::AlphaCrown => "alpha_crown",
            Method::Bab { .. } => "bab",
            Method::Sampling { .. } => "sampling",
            Method::Catalog => "catalog",
            Method::Structure => "structure",
            Method::Records => "records",
            Method::Certificate { .. } => "certificate",
            Method::External { .. } => "external",
        }
    }
}

/// The method as written in a spec: `crown`, `bab(timeout = 60s, split = "input")`,
/// `sampling(1000, seed = 0)`.
impl std::fmt::Display for Method {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Method::Bab {
                timeout_ms,
                max_nodes,
                split,
            } => {
                let mut opts = Vec::new();
                if let Some(t) = timeout_ms {
                    opts.push(format!("timeout = {}", duration_text(*t)));
                }
                if let Some(n) = max_nodes {
                    opts.push(format!("max_nodes = {n}"));
                }
                if let Some(s) = split {
                    opts.push(format!("split = \"{s}\""));
                }
                if opts.is_empty() {
                    f.write_str("bab")
                } else {
                    write!(f, "bab({})", opts.join(", "))
                }
            }
            Method::Sampling { samples, seed } => write!(f, "sampling({samples}, seed = {seed})"),
            Method::Certificate { path } => write!(f, "certificate(\"{path}\")"),
            Method::External { path } => write!(f, "external(\"{path}\")"),
            other => f.write_str(other.name()),
        }
    }
}

/// A duration in milliseconds as specs usually write it: `60s`, `500ms`.
pub fn duration_text(ms: u64) -> String {
    if ms > 0 && ms.is_multiple_of(1000) {
        format!("{}s", ms / 1000)
    } else {
        format!("{ms}ms")
    }
}

/// The method names and which claim kinds each can establish.
pub const METHODS: &[(&str, &[&str], &str)] = &[
    (
        "ibp",
        &[
            "robustness",
            "output_range",
            "vnnlib",
            "two_network",
            "jacobian",
            "safe_domain",
        ],
        "interval bound propagation (sound, loose); for jacobian claims through the derivative graph",
    ),
    (
        "crown",
        &["robustness", "output_range", "vnnlib", "two_network", "safe_domain"],
        "CROWN linear relaxation (sound)",
    ),
    (
        "alpha_crown",
        &["robustness", "output_range", "vnnlib", "two_network", "safe_domain"],
        "CROWN with optimised relu slopes (sound)",
    ),
    (
        "bab",
        &["robustness", "output_range", "vnnlib", "two_network"],
        "branch and bound over CROWN (sound and complete up to its limits)",
    ),
    (
        "sampling",
        &[
            "robustness",
            "output_range",
            "vnnlib",
            "equivalence",
            "gradient",
            "attention_mask",
            "ignored_labels",
            "execution",
            "two_network",
            "jacobian",
            "adjoint",
            "batch_invariance",
            "safe_domain",
        ],
        "random executions: finds counterexamples, never proves (status tested)",
    ),
    (
        "structure",
        &["batch_invariance", "tokenizer_boundary"],
        "an exact check of the lowered graph (op by op) and its input sets (sound; status checked)",
    ),
    (
        "records",
        &["transitions"],
        "every record of a transitions file against the environment boundary (exhaustive over the file; status checked)",
    ),
    (
        "catalog",
        &[
            "attention_mask",
            "ignored_labels",
            "equivalence",
            "execution",
        ],
        "a catalog theorem whose side conditions tl checks",
    ),
    (
        "certificate",
        &["robustness", "output_range", "vnnlib"],
        "an external certificate, recomputed by tl",
    ),
    (
        "external",
        &["robustness", "output_range", "vnnlib"],
        "another verifier's answer from a result file, resting on a named solver assumption (at most assumed)",
    ),
];

/// What a contract's author expects its run to show (`expect falsified`): a known-buggy variant
/// kept beside its fix, as test runners mark an expected failure. The status stays honest
/// (**falsified**); the expectation decides only whether `tlc verify` counts it as a failure.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Hash, salsa::SalsaValue, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum Expectation {
    /// A confirmed counterexample must exist; anything else (held, unknown) is TL0471.
    Falsified,
}

impl Expectation {
    pub const ALL: &'static [Expectation] = &[Expectation::Falsified];

    pub fn name(self) -> &'static str {
        match self {
            Expectation::Falsified => "falsified",
        }
    }

    pub fn parse(s: &str) -> Option<Expectation> {
        Expectation::ALL.iter().copied().find(|e| e.name() == s)
    }

    /// Whether a contract whose ledger status is `status` meets the expectation.
    pub fn met_by(self, status: Status) -> bool {
        match self {
            Expectation::Falsified => status == Status::Falsified,
        }
    }
}

#[derive(Clone, Debug, PartialEq, salsa::SalsaValue)]
pub struct ContractAnalysis<'db> {
    pub target: Option<Target<'db>>,
    /// `given` clauses: input name (None for a VNN-LIB property) and its set.
    pub inputs: Vec<(Option<String>, InputSet)>,
    pub claim: Option<Claim>,
    /// The `within` tolerance of the claim or the contract.
    pub tolerance: Option<ItemSource<'db>>,
    pub methods: Vec<Method>,
    pub rests_on: Vec<ItemSource<'db>>,
    /// `execute on cuda|cpu`; `None` means the reference semantics (reals).
    pub execute_on: Option<String>,
    /// `expect falsified`: the contract is meant to fail (a known-buggy variant).
    pub expect: Option<Expectation>,
    /// `card KVCache`: the TorchLean BugZoo card whose property the contract states.
    pub card: Option<String>,
    pub uses: Vec<Use<'db>>,
    pub diagnostics: Vec<Diagnostic<'db>>,
}

struct ContractCx<'db> {
    db: &'db dyn Db,
    item: ItemSource<'db>,
    out: ContractAnalysis<'db>,
    /// Names visible in claims: the target's inputs, outputs and nodes.
    names: Vec<String>,
    /// Each accepted method's name and span, to check it fits the claim once that is known.
    method_spans: Vec<(&'static str, TextRange)>,
}

#[salsa::tracked(returns(ref))]
pub fn analyze_contract<'db>(
    db: &'db dyn Db,
    item: ItemSource<'db>,
) -> Option<ContractAnalysis<'db>> {
    let Item::Contract(c) = &parse_item(db, item).item else {
        return None;
    };
    let mut cx = ContractCx {
        db,
        item,
        out: ContractAnalysis {
            target: None,
            inputs: vec![],
            claim: None,
            tolerance: None,
            methods: vec![],
            rests_on: vec![],
            execute_on: None,
            expect: None,
            card: None,
            uses: vec![],
            diagnostics: vec![],
        },
        names: vec![],
        method_spans: vec![],
    };
    cx.run(c);
    Some(cx.out)
}

impl<'db> ContractCx<'db> {
    fn span(&self, r: TextRange) -> Span<'db> {
        Span::Item(self.item, r)
    }
    fn error(&mut self, code: u16, r: TextRange, msg: impl Into<String>) -> &mut Diagnostic<'db> {
        let d = Diagnostic::error(code, self.span(r), msg);
        self.out.diagnostics.push(d);
        self.out.diagnostics.last_mut().expect("pushed")
    }

    fn resolve_def(&mut self, id: &ast::Ident, want: DefKind) -> Option<ItemSource<'db>> {
        let file = self.item.file(self.db);
        match lookup(self.db, file, &[id.text.as_str()]) {
            Some(def) if def.kind == want => {
                self.out.uses.push(Use {
                    range: id.span,
                    resolution: Resolution::Def(def.item, def.kind),
                });
                Some(def.item)
            }
            Some(def) => {
                let (w, k) = (want.describe(), def.kind.describe());
                self.error(402, id.span, format!("`{}` is a {k}, not a {w}", id.text));
                None
            }
            None => {
                let code = if want == DefKind::Tolerance { 401 } else { 407 };
                let d = self.error(
                    code,
                    id.span,
                    format!("unknown {} `{}`", want.describe(), id.text),
                );
                d.help = Some(match want {
                    DefKind::Tolerance => {
                        format!("declare it: `tolerance {} = abs 1e-5, rel 1e-4`", id.text)
                    }
                    _ => format!("declare it: `assume kernel {}: \"why it holds\"`", id.text),
                });
                None
            }
        }
    }

    fn run(&mut self, c: &ast::Contract) {
        self.target(&c.target);
        if let Some(t) = &c.tolerance {
            self.out.tolerance = self.resolve_def(t, DefKind::Tolerance);
        }
        let mut ensures = Vec::new();
        let mut vnnlib = None;
        let mut has_check = false;
        for clause in &c.clauses {
            match clause {
                Clause::Given { var, set, span } => {
                    if let Some(claim) = self.given(var.as_ref(), set, *span) {
                        if vnnlib.is_some() {
                            self.error(
                                475,
                                *span,
                                "a contract takes one claim-bearing `given` (a VNN-LIB property or a transitions file)",
                            );
                        } else {
                            vnnlib = Some((claim, *span));
                        }
                    }
                }
                Clause::Ensure { claim, within, .. } => {
                    if let Some(t) = within {
                        self.out.tolerance = self.resolve_def(t, DefKind::Tolerance);
                    }
                    if let Some(cl) = self.claim(claim, within.is_some()) {
                        ensures.push(cl);
                    }
                }
                Clause::CheckBy { methods, .. } => {
                    has_check = true;
                    for m in methods {
                        if let Some(method) = self.method(m) {
                            self.method_spans.push((method.name(), m.name.span));
                            self.out.methods.push(method);
                        }
                    }
                }
                Clause::RestsOn { assumptions, .. } => {
                    for a in assumptions {
                        if let Some(item) = self.resolve_def(a, DefKind::Assumption) {
                            self.out.rests_on.push(item);
                        }
                    }
                }
                Clause::ExecuteOn { target, .. } => {
                    if !matches!(target.text.as_str(), "cpu" | "cuda") {
                        let d = self.error(
                            408,
                            target.span,
                            format!("unknown execution target `{}`", target.text),
                        );
                        d.help = Some("targets: cpu, cuda".into());
                    }
                    self.out.execute_on = Some(target.text.clone());
                }
                Clause::Expect { outcome, .. } => self.expect(outcome),
                Clause::Card { name, .. } => self.card(name),
                Clause::Error(_) => {}
            }
        }
        let other_sets = !self.out.inputs.is_empty();
        self.out.claim = match (vnnlib, ensures.len()) {
            (Some((claim @ Claim::Transitions { .. }, span)), 0) => {
                if other_sets {
                    self.error(475, span, "a transitions contract claims the records alone; move the input sets to another contract");
                    None
                } else {
                    Some(claim)
                }
            }
            (Some((Claim::Transitions { .. }, span)), _) => {
                self.error(475, span, "a transitions contract claims that every record meets the boundary; remove the `ensure` clauses (or put them in another contract)");
                None
            }
            (Some((claim, _)), 0) => Some(claim),
            (Some(_), _) => {
                self.error(409, c.name.span, "a contract with a VNN-LIB property takes its claim from the file; remove the `ensure` clauses");
                None
            }
            // An `ensure` that failed to analyse already has its own error.
            (None, 0)
                if c.clauses
                    .iter()
                    .any(|cl| matches!(cl, Clause::Ensure { .. })) =>
            {
                None
            }
            (None, 0) => {
                let d = self.error(
                    409,
                    c.name.span,
                    format!("contract `{}` claims nothing", c.name.text),
                );
                d.help = Some("add an `ensure` clause, e.g. `ensure argmax(logits) == 7`".into());
                None
            }
            (None, 1) => ensures.pop(),
            (None, _) => Some(Claim::All(ensures)),
        };
        // Only claims on one value's rows conjoin (several `ensure`s, `&&`): the verifier
        // decides the rows together. Anything else would fail at verify time, far from here.
        if let Some(Claim::All(parts)) = &self.out.claim {
            if let Some(other) = parts
                .iter()
                .find(|p| !matches!(p, Claim::Linear { .. } | Claim::Argmax { .. }))
            {
                let kind = other.kind();
                let d = self.error(
                    416,
                    c.name.span,
                    format!(
                        "contract `{}` conjoins a {kind} claim with others; only comparisons and argmax claims combine",
                        c.name.text
                    ),
                );
                d.help = Some(format!(
                    "split it: one contract per {kind} claim (each `ensure` of those kinds in a contract of its own)"
                ));
                self.out.claim = None;
            }
        }
        if let Some(claim) = &self.out.claim {
            let kind = claim.kind();
            let needs_tol = matches!(
                claim,
                Claim::Equivalence
                    | Claim::Gradient
                    | Claim::Bridge { .. }
                    | Claim::TwoNetwork { .. }
            );
            if needs_tol && self.out.tolerance.is_none() {
                let d = self.error(
                    410,
                    c.name.span,
                    format!("{} {kind} contract needs a tolerance", article(kind)),
                );
                d.help =
                    Some("write `ensure ... within fp32_run` with a declared tolerance".into());
            }
            if !has_check {
                let d = Diagnostic::warning(
                    411,
                    self.span(c.name.span),
                    format!(
                        "contract `{}` names no check method: it stays uncovered",
                        c.name.text
                    ),
                )
                .with_help(format!("add `check by {}`", methods_for(kind).join(" | ")));
                self.out.diagnostics.push(d);
            }
            let rests_on_solver = self
                .out
                .rests_on
                .iter()
                .any(|&a| assumption_kind(self.db, a).as_deref() == Some("solver"));
            if let Some((_, span)) = self.method_spans.iter().find(|(n, _)| *n == "external") {
                if !rests_on_solver {
                    let d = self.error(
                        461,
                        *span,
                        "an external solver's answer needs a named `solver` assumption",
                    );
                    d.help = Some("declare `assume solver other_verifier: \"...\"` and add `rests on other_verifier`".into());
                }
            }
            let is_cuda = self.out.execute_on.as_deref() == Some("cuda");
            let rests_on_kernel = self
                .out
                .rests_on
                .iter()
                .any(|&a| assumption_kind(self.db, a).as_deref() == Some("kernel"));
            if is_cuda && !rests_on_kernel {
                let d = Diagnostic::warning(420, self.span(c.name.span), "execution on CUDA crosses a trust boundary that no assumption covers")
                    .with_note("CUDA kernels are native code outside every proof: a result on them rests on an assumption about them")
                    .with_help("declare `assume kernel cuda_kernels: \"...\"` and add `rests on cuda_kernels`");
                self.out.diagnostics.push(d);
            }
        }
        if let Some(kind) = self.out.claim.as_ref().map(Claim::kind) {
            for (name, span) in std::mem::take(&mut self.method_spans) {
                let can = METHODS
                    .iter()
                    .find(|(n, _, _)| *n == name)
                    .is_some_and(|(_, kinds, _)| kinds.contains(&kind));
                if !can {
                    let d = self.error(
                        406,
                        span,
                        format!("`{name}` cannot check {} {kind} contract", article(kind)),
                    );
                    d.help = Some(format!(
                        "methods for {kind}: {}",
                        methods_for(kind).join(", ")
                    ));
                }
            }
        }
    }

    /// `expect falsified`; any other word, or a second `expect`, is TL0470.
    fn expect(&mut self, outcome: &ast::Ident) {
        let Some(e) = Expectation::parse(&outcome.text) else {
            let d = self.error(
                470,
                outcome.span,
                format!("unknown expectation `{}`", outcome.text),
            );
            d.help = Some(format!(
                "write `expect {}` for a variant that is meant to be falsified",
                Expectation::Falsified.name()
            ));
            return;
        };
        if self.out.expect.is_some() {
            self.error(
                470,
                outcome.span,
                "the contract states its expectation twice",
            );
            return;
        }
        self.out.expect = Some(e);
    }

    fn card(&mut self, name: &ast::Ident) {
        if self.out.card.is_some() {
            self.error(477, name.span, "the contract names a BugZoo card twice");
            return;
        }
        let cards = crate::ledger::bugzoo_cards();
        if !cards.iter().any(|c| *c == name.text) {
            let d = self.error(
                477,
                name.span,
                format!("unknown BugZoo card `{}`", name.text),
            );
            d.help = Some(format!("the catalog's cards: {}", cards.join(", ")));
            return;
        }
        self.out.card = Some(name.text.clone());
    }

    fn target(&mut self, path: &ast::Path) {
        let file = self.item.file(self.db);
        let segs: Vec<&str> = path.segments.iter().map(|s| s.text.as_str()).collect();
        match lookup(self.db, file, &segs) {
            Some(def) if def.kind == DefKind::Graph => {
                self.out.uses.push(Use {
                    range: path.span,
                    resolution: Resolution::Def(def.item, def.kind),
                });
                self.out.target = Some(Target::Graph(def.item));
                if let Some(a) = analyze_graph(self.db, def.item) {
                    self.names = a.nodes.iter().map(|n| n.name.clone()).collect();
                }
            }
            Some(def)
                if def.kind == DefKind::Import
                    && matches!(
                        import_target(self.db, def.item),
                        Some(ImportTarget::Onnx(_))
                    ) =>
            {
                self.out.uses.push(Use {
                    range: path.span,
                    resolution: Resolution::Def(def.item, def.kind),
                });
                self.out.target = Some(Target::Onnx(def.item));
            }
            Some(def) => {
                let k = def.kind.describe();
                let d = self.error(
                    402,
                    path.span,
                    format!("`{}` is a {k}; a contract is about a graph", path.text()),
                );
                if def.kind == DefKind::Block {
                    d.help =
                        Some("blocks are checked through the graphs that instantiate them".into());
                }
            }
            None => {
                let graphs: Vec<String> = crate::scope::visible_names(self.db, file)
                    .into_iter()
                    .filter(|(_, d)| d.kind == DefKind::Graph)
                    .map(|(n, _)| n)
                    .collect();
                let hint =
                    suggest(&path.text(), graphs.iter().map(String::as_str)).map(str::to_string);
                let d = self.error(402, path.span, format!("unknown graph `{}`", path.text()));
                if let Some(h) = hint {
                    d.help = Some(format!("did you mean `{h}`?"));
                }
            }
        }
    }

    fn graph_inputs(&self) -> Option<Vec<String>> {
        let sig = match self.out.target? {
            Target::Graph(g) => graph_signature(self.db, g).as_ref(),
            Target::Onnx(import) => crate::onnx_model::onnx_signature(self.db, import).as_ref(),
        }?;
        Some(sig.inputs.iter().map(|p| p.name.clone()).collect())
    }

    /// Returns the claim when the clause carries one: a VNN-LIB property or a transitions file.
    fn given(&mut self, var: Option<&ast::Ident>, set: &Expr, span: TextRange) -> Option<Claim> {
        if let Some(v) = var {
            if let Some(inputs) = self.graph_inputs() {
                if !inputs.contains(&v.text) {
                    let d = self.error(
                        403,
                        v.span,
                        format!("`{}` is not an input of the graph", v.text),
                    );
                    d.help = Some(format!("inputs: {}", inputs.join(", ")));
                }
            }
        }
        let Expr::Call { callee, args, .. } = set else {
            self.error(404, set.span(), "an input set is `linf_ball(...)`, `box(...)`, `dataset(\"file\")` or `vnnlib(\"file\")`");
            return None;
        };
        let named = |n: &str| {
            args.iter()
                .find(|a| a.name.as_ref().is_some_and(|x| x.text == n))
                .map(|a| &a.value)
        };
        let positional: Vec<&Expr> = args
            .iter()
            .filter(|a| a.name.is_none())
            .map(|a| &a.value)
            .collect();
        // The set's value arguments (a ball's centre, a box's bounds) with their spans: their
        // shapes are checked against the input's below.
        let mut shaped: Vec<(&'static str, TextRange, Values)> = Vec::new();
        let set = match callee.text().as_str() {
            "vnnlib" => {
                if var.is_some() {
                    self.error(404, span, "a VNN-LIB property names its own inputs: write `given vnnlib(\"p.vnnlib\")`");
                }
                return match positional.first() {
                    Some(Expr::String(s)) => Some(Claim::VnnLib {
                        path: s.value.clone(),
                    }),
                    _ => {
                        self.error(
                            404,
                            set.span(),
                            "vnnlib takes a file path: `vnnlib(\"prop.vnnlib\")`",
                        );
                        None
                    }
                };
            }
            "transitions" => {
                if let Some(v) = var {
                    self.error(
                        475,
                        v.span,
                        "transition records are not an input of the graph: write `given transitions(\"run.jsonl\", ...)`",
                    );
                }
                return self.transitions(set.span(), args);
            }
            "linf_ball" => {
                let center_expr = positional.first().copied().or(named("center"));
                let center = center_expr.and_then(|e| self.values(e));
                if let (Some(e), Some(v)) = (center_expr, &center) {
                    shaped.push(("the ball's centre", e.span(), v.clone()));
                }
                let eps = named("eps")
                    .or(positional.get(1).copied())
                    .and_then(attr_value)
                    .and_then(|v| v.as_f64());
                match (center, eps) {
                    (Some(center), Some(eps)) if eps >= 0.0 && eps.is_finite() => {
                        InputSet::LinfBall { center, eps }
                    }
                    _ => {
                        self.error(
                            404,
                            set.span(),
                            "linf_ball takes a center and `eps = e` (finite, >= 0)",
                        );
                        return None;
                    }
                }
            }
            "box" => {
                let lower_expr = positional.first().copied().or(named("lower"));
                let upper_expr = positional.get(1).copied().or(named("upper"));
                let lower = lower_expr.and_then(|e| self.values(e));
                let upper = upper_expr.and_then(|e| self.values(e));
                for (what, e, v) in [
                    ("the box's lower bound", lower_expr, &lower),
                    ("the box's upper bound", upper_expr, &upper),
                ] {
                    if let (Some(e), Some(v)) = (e, v) {
                        shaped.push((what, e.span(), v.clone()));
                    }
                }
                match (lower, upper) {
                    (Some(lower), Some(upper)) => {
                        if let (Values::Scalar(l), Values::Scalar(u)) = (&lower, &upper) {
                            if l > u {
                                self.error(
                                    404,
                                    set.span(),
                                    format!("box lower {l} is above upper {u}"),
                                );
                            }
                        }
                        InputSet::Box { lower, upper }
                    }
                    _ => {
                        self.error(
                            404,
                            set.span(),
                            "box takes `lower` and `upper`: numbers, literals or `load(\"x.npy\")`",
                        );
                        return None;
                    }
                }
            }
            "dataset" => match positional.first() {
                Some(Expr::String(s)) => InputSet::Dataset {
                    path: s.value.clone(),
                },
                _ => {
                    self.error(
                        404,
                        set.span(),
                        "dataset takes a file path: `dataset(\"inputs.npy\")`",
                    );
                    return None;
                }
            },
            other => {
                let d = self.error(404, callee.span, format!("unknown input set `{other}`"));
                d.help = Some("input sets: linf_ball, box, dataset, vnnlib, transitions".into());
                return None;
            }
        };
        if var.is_none() {
            self.error(
                403,
                span,
                "name the input this set is for: `given x in ...`",
            );
        }
        if let Some(v) = var {
            for (what, range, values) in shaped {
                self.check_set_shape(&v.text, what, range, &values);
            }
        }
        self.out.inputs.push((var.map(|v| v.text.clone()), set));
        None
    }

    /// `transitions("run.jsonl", obs = [2], action = discrete(4), reward = [-1, 1],
    /// dtype = "f32")`: the environment boundary a file of Gymnasium step records must meet.
    /// Only the clause is analysed here; the file is read at verify time (`verify::transitions`).
    /// TL0472: no path; TL0473: a boundary argument is missing; TL0474: an argument of the wrong
    /// kind, or one the clause does not take.
    fn transitions(&mut self, whole: TextRange, args: &[ast::Arg]) -> Option<Claim> {
        use crate::verify::transitions::{ActionSpace, ObsDtype, TransitionContract};
        const ARGS: &[&str] = &["obs", "action", "reward", "dtype"];
        let positional: Vec<&Expr> = args
            .iter()
            .filter(|a| a.name.is_none())
            .map(|a| &a.value)
            .collect();
        let path = match positional.first() {
            Some(Expr::String(s)) if !s.value.trim().is_empty() => Some(s.value.clone()),
            Some(other) => {
                let d = self.error(472, other.span(), "the transitions file is a path string");
                d.help = Some("write `transitions(\"run.jsonl\", ...)`".into());
                None
            }
            None => {
                let d = self.error(472, whole, "transitions needs the records file's path");
                d.help = Some("write `transitions(\"run.jsonl\", obs = [2], action = discrete(4), reward = [-1, 1])`".into());
                None
            }
        };
        let mut ok = path.is_some();
        for extra in positional.iter().skip(1) {
            self.error(
                474,
                extra.span(),
                "transitions takes one path, then named arguments: obs, action, reward, dtype",
            );
            ok = false;
        }
        let mut seen: Vec<&str> = Vec::new();
        for a in args {
            let Some(n) = &a.name else { continue };
            if !ARGS.contains(&n.text.as_str()) {
                let d = self.error(
                    474,
                    n.span,
                    format!("transitions has no argument `{}`", n.text),
                );
                d.help = Some(format!("arguments: {}", ARGS.join(", ")));
                ok = false;
            } else if seen.contains(&n.text.as_str()) {
                self.error(474, n.span, format!("`{}` is given twice", n.text));
                ok = false;
            } else {
                seen.push(n.text.as_str());
            }
        }
        let named = |n: &str| {
            args.iter()
                .find(|a| a.name.as_ref().is_some_and(|x| x.text == n))
                .map(|a| &a.value)
        };
        let number = |e: &Expr| {
            attr_value(e)
                .and_then(|v| v.as_f64())
                .filter(|x| x.is_finite())
        };
        let mut missing = Vec::new();
        let obs_shape = match named("obs") {
            None => {
                missing.push("obs = [2]");
                None
            }
            Some(e) => {
                let dims = match e {
                    Expr::List { items, .. } => items
                        .iter()
                        .map(|i| attr_value(i).and_then(|v| v.as_i64()).filter(|&d| d > 0))
                        .collect::<Option<Vec<i64>>>(),
                    _ => None,
                };
                if dims.is_none() {
                    self.error(474, e.span(), "obs is the observation's shape: a list of positive extents, `obs = [2]` (`[]` for a scalar)");
                }
                dims.map(|d| d.into_iter().map(|x| x as usize).collect::<Vec<_>>())
            }
        };
        let action = match named("action") {
            None => {
                missing.push("action = discrete(4)");
                None
            }
            Some(e) => {
                let space = match e {
                    Expr::Call { callee, args, .. } => {
                        let vals: Vec<&Expr> = args.iter().map(|a| &a.value).collect();
                        match (callee.text().as_str(), vals.as_slice()) {
                            ("discrete", [n]) => attr_value(n)
                                .and_then(|v| v.as_i64())
                                .filter(|&n| n > 0)
                                .map(ActionSpace::Discrete),
                            ("box", [lo, hi]) => {
                                let vec = |e: &Expr| match literal_tensor(e) {
                                    Ok((shape, data))
                                        if shape.len() == 1
                                            && data.iter().all(|x| x.is_finite()) =>
                                    {
                                        Some(data)
                                    }
                                    _ => None,
                                };
                                match (vec(lo), vec(hi)) {
                                    (Some(lower), Some(upper))
                                        if lower.len() == upper.len()
                                            && lower.iter().zip(&upper).all(|(l, u)| l <= u) =>
                                    {
                                        Some(ActionSpace::Box { lower, upper })
                                    }
                                    _ => None,
                                }
                            }
                            _ => None,
                        }
                    }
                    _ => None,
                };
                if space.is_none() {
                    self.error(474, e.span(), "action is `discrete(n)` (n > 0: actions 0..n) or `box([lower...], [upper...])` (equal lengths, lower <= upper, finite)");
                }
                space
            }
        };
        let reward = match named("reward") {
            None => {
                missing.push("reward = [-1, 1]");
                None
            }
            Some(e) => {
                let range = match e {
                    Expr::List { items, .. } if items.len() == 2 => {
                        match (number(&items[0]), number(&items[1])) {
                            (Some(lo), Some(hi)) if lo <= hi => Some((lo, hi)),
                            _ => None,
                        }
                    }
                    _ => None,
                };
                if range.is_none() {
                    self.error(474, e.span(), "reward is an inclusive range of two finite numbers, low first: `reward = [-1, 1]`");
                }
                range
            }
        };
        let obs_dtype = match named("dtype") {
            None => Some(ObsDtype::F32),
            Some(e) => {
                let d = match e {
                    Expr::String(s) => ObsDtype::parse(&s.value),
                    _ => None,
                };
                if d.is_none() {
                    let names: Vec<&str> = ObsDtype::ALL.iter().map(|d| d.name()).collect();
                    self.error(
                        474,
                        e.span(),
                        format!(
                            "dtype is one of {}: `dtype = \"f32\"`",
                            names
                                .iter()
                                .map(|n| format!("\"{n}\""))
                                .collect::<Vec<_>>()
                                .join(", ")
                        ),
                    );
                }
                d
            }
        };
        if !missing.is_empty() {
            let d = self.error(
                473,
                whole,
                format!(
                    "the transitions boundary needs {}",
                    missing
                        .iter()
                        .map(|m| format!("`{}`", m.split(' ').next().unwrap_or(m)))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            );
            d.help = Some(format!("add {}", missing.join(", ")));
        }
        match (path, obs_shape, action, reward, obs_dtype) {
            (Some(path), Some(obs_shape), Some(action), Some(reward), Some(obs_dtype)) if ok => {
                Some(Claim::Transitions {
                    path,
                    boundary: TransitionContract {
                        obs_shape,
                        obs_dtype,
                        action,
                        reward,
                    },
                })
            }
            _ => None,
        }
    }

    /// TL0431: a set's values (a literal or a `load`ed .npy, read by its header) that cannot be
    /// broadcast to the input's declared shape. Verify would only find out when it tries to make
    /// the set concrete (TL0802, the contract `uncovered`, exit 0); it is known here.
    fn check_set_shape(&mut self, input: &str, what: &str, range: TextRange, values: &Values) {
        let Some(ty) = self.input_type(input) else {
            return;
        };
        let shape: Vec<u64> = match values {
            Values::Scalar(_) => return,
            Values::Literal { shape, .. } => shape.clone(),
            Values::File { path } => {
                let file = self.item.file(self.db);
                let ext = self
                    .db
                    .external(&crate::scope::relative_path(self.db, file, path));
                // An unreadable file is reported where it is read (verify, TL0802); a file
                // holding several tensors is not a `load` of one array.
                match crate::payload::payload_header(self.db, ext) {
                    Ok(entries) if entries.len() == 1 => entries[0].shape.clone(),
                    _ => return,
                }
            }
        };
        if let Err(why) = set_values_fit(&shape, &ty.shape) {
            let d = self.error(
                431,
                range,
                format!(
                    "{what} has shape {shape:?}, which does not broadcast to `{input}: {}` ({why})",
                    ty.shape
                ),
            );
            d.help = Some(format!(
                "give values of `{input}`'s shape {}, or a shape that broadcasts to it (a number, or extents of 1)",
                ty.shape
            ));
        }
    }

    /// The declared type of a target input.
    fn input_type(&self, name: &str) -> Option<crate::graphs::TensorType> {
        match self.out.target? {
            Target::Onnx(import) => crate::onnx_model::onnx_signature(self.db, import)
                .as_ref()?
                .inputs
                .iter()
                .find(|p| p.name == name)
                .map(|p| p.ty.clone()),
            Target::Graph(g) => {
                let (item, i) = resolve_node_path(self.db, g, &[name])?;
                analyze_graph(self.db, item).as_ref()?.nodes[i].ty.clone()
            }
        }
    }

    fn values(&mut self, e: &Expr) -> Option<Values> {
        match e {
            Expr::Call { callee, args, .. } if callee.text() == "load" => {
                match args.first().map(|a| &a.value) {
                    Some(Expr::String(s)) => Some(Values::File {
                        path: s.value.clone(),
                    }),
                    _ => None,
                }
            }
            e => match literal_tensor(e) {
                Ok((shape, data)) if shape.is_empty() => Some(Values::Scalar(data[0])),
                Ok((shape, data)) => Some(Values::Literal { shape, data }),
                Err((r, m)) => {
                    self.error(404, r, m);
                    None
                }
            },
        }
    }

    /// Resolves a name in a claim to a node of the target (through block instances:
    /// `attn.weights`); returns the dotted name, which is also the lowered IR node's name.
    /// The declared or inferred type of a value a claim names, when known.
    fn value_type(&self, path: &ast::Path) -> Option<crate::graphs::TensorType> {
        let text = path.text();
        match self.out.target? {
            Target::Onnx(import) => crate::onnx_model::onnx_signature(self.db, import)
                .as_ref()?
                .outputs
                .iter()
                .find(|p| p.name == text)
                .map(|p| p.ty.clone()),
            Target::Graph(g) => {
                let segs: Vec<&str> = path.segments.iter().map(|s| s.text.as_str()).collect();
                let (item, i) = resolve_node_path(self.db, g, &segs)?;
                analyze_graph(self.db, item).as_ref()?.nodes[i].ty.clone()
            }
        }
    }

    fn value_name(&mut self, path: &ast::Path) -> Option<String> {
        let text = path.text();
        let graph = match self.out.target? {
            Target::Onnx(import) => {
                // An ONNX model exposes its inputs and outputs by name; its inner nodes are the
                // importer's, so claims name outputs only.
                let Some(sig) = crate::onnx_model::onnx_signature(self.db, import).as_ref() else {
                    return Some(text); // the import's own diagnostics say why the model is unreadable
                };
                let names: Vec<&str> = sig
                    .outputs
                    .iter()
                    .chain(&sig.inputs)
                    .map(|p| p.name.as_str())
                    .collect();
                if names.contains(&text.as_str()) {
                    return Some(text);
                }
                let outputs: Vec<&str> = sig.outputs.iter().map(|p| p.name.as_str()).collect();
                let d = self.error(
                    405,
                    path.span,
                    format!("`{text}` is not an input or output of the ONNX model"),
                );
                d.help = Some(match suggest(&text, names.iter().copied()) {
                    Some(h) => format!("did you mean `{h}`?"),
                    None => format!("outputs: {}", outputs.join(", ")),
                });
                return None;
            }
            Target::Graph(g) => g,
        };
        let segs: Vec<&str> = path.segments.iter().map(|s| s.text.as_str()).collect();
        if resolve_node_path(self.db, graph, &segs).is_some() {
            return Some(text);
        }
        let hint = suggest(&text, self.names.iter().map(String::as_str)).map(str::to_string);
        let d = self.error(
            405,
            path.span,
            format!("`{text}` is not a value of the graph"),
        );
        d.help = hint.map(|h| format!("did you mean `{h}`?"));
        None
    }

    /// The op of the node a claim names.
    fn value_op(&self, path: &ast::Path) -> Option<tl_ir::Op> {
        let Some(Target::Graph(g)) = self.out.target else {
            return None;
        };
        let segs: Vec<&str> = path.segments.iter().map(|s| s.text.as_str()).collect();
        let (item, i) = resolve_node_path(self.db, g, &segs)?;
        match analyze_graph(self.db, item).as_ref()?.nodes[i].origin {
            crate::graphs::NodeOrigin::Op(op) => Some(op),
            _ => None,
        }
    }

    /// A name that resolves to a graph item (and is no value of the target, which claims name
    /// first).
    fn is_graph_name(&self, e: &Expr) -> bool {
        let Expr::Name(p) = e else { return false };
        let file = self.item.file(self.db);
        let segs: Vec<&str> = p.segments.iter().map(|s| s.text.as_str()).collect();
        (segs.len() > 1 || !self.names.iter().any(|n| *n == p.text()))
            && lookup(self.db, file, &segs).is_some_and(|d| d.kind == DefKind::Graph)
    }

    /// `a ~= b` over two graphs: one is the contract's target, the other a graph with the same
    /// signature shapes (TL0460 otherwise).
    fn two_network(&mut self, lhs: &Expr, rhs: &Expr, span: TextRange) -> Option<Claim> {
        let file = self.item.file(self.db);
        let resolve = |e: &Expr| -> Option<(ItemSource<'db>, String, TextRange)> {
            let Expr::Name(p) = e else { return None };
            let segs: Vec<&str> = p.segments.iter().map(|s| s.text.as_str()).collect();
            lookup(self.db, file, &segs).map(|d| (d.item, p.text(), p.span))
        };
        let (a, b) = (resolve(lhs)?, resolve(rhs)?);
        for (item, _, range) in [&a, &b] {
            self.out.uses.push(Use {
                range: *range,
                resolution: Resolution::Def(*item, DefKind::Graph),
            });
        }
        let Some(Target::Graph(target)) = self.out.target else {
            self.error(
                460,
                span,
                "a two-network claim needs a contract `on` one of its graphs",
            );
            return None;
        };
        let other = if a.0 == target {
            b.clone()
        } else if b.0 == target {
            a.clone()
        } else {
            let d = self.error(
                460,
                span,
                format!("`{} ~= {}` does not name the contract's graph", a.1, b.1),
            );
            d.help = Some("write the contract `on` one of the two graphs".into());
            return None;
        };
        if other.0 == target {
            self.error(460, span, "a graph compared with itself holds trivially");
            return None;
        }
        let (ts, os) = (
            graph_signature(self.db, target).as_ref(),
            graph_signature(self.db, other.0).as_ref(),
        );
        if let (Some(ts), Some(os)) = (ts, os) {
            let shapes =
                |ps: &[crate::graphs::Port]| ps.iter().map(|p| p.ty.clone()).collect::<Vec<_>>();
            if ts.inputs.len() != 1 || os.inputs.len() != 1 {
                self.error(
                    460,
                    span,
                    "a two-network claim compares graphs with one input each (the input both are applied to)",
                );
                return None;
            }
            // Every output counts, paired by position.
            if shapes(&ts.inputs) != shapes(&os.inputs)
                || shapes(&ts.outputs) != shapes(&os.outputs)
            {
                self.error(
                    460,
                    span,
                    format!(
                        "`{}` and `{}` have different input or output types; a two-network claim compares graphs of one signature, output by output",
                        a.1, b.1
                    ),
                );
                return None;
            }
        }
        Some(Claim::TwoNetwork { other: other.1 })
    }

    fn claim(&mut self, e: &Expr, has_within: bool) -> Option<Claim> {
        match e {
            Expr::Binary {
                op: BinaryOp::And,
                lhs,
                rhs,
                ..
            } => {
                let a = self.claim(lhs, has_within)?;
                let b = self.claim(rhs, has_within)?;
                let mut parts = Vec::new();
                for c in [a, b] {
                    match c {
                        Claim::All(v) => parts.extend(v),
                        c => parts.push(c),
                    }
                }
                Some(Claim::All(parts))
            }
            Expr::Binary {
                op: BinaryOp::Approx,
                lhs,
                rhs,
                span,
            } => {
                let (l, r) = (name_of(lhs), name_of(rhs));
                let claim = match (l.as_deref(), r.as_deref()) {
                    (Some("compiled"), Some("reference"))
                    | (Some("reference"), Some("compiled")) => Claim::Equivalence,
                    (Some("gradient"), Some("finite_difference"))
                    | (Some("finite_difference"), Some("gradient")) => Claim::Gradient,
                    (Some(_), Some(_)) if self.is_graph_name(lhs) && self.is_graph_name(rhs) => {
                        self.two_network(lhs, rhs, *span)?
                    }
                    _ => {
                        let d = self.error(405, *span, "`~=` compares `compiled ~= reference`, `gradient ~= finite_difference` or two graphs (`student ~= teacher`)");
                        d.help = Some("for output bounds use <=, >=, < or >".into());
                        return None;
                    }
                };
                if !has_within && self.out.tolerance.is_none() {
                    self.error(
                        410,
                        *span,
                        "an approximate equality needs `within TOLERANCE`",
                    );
                }
                Some(claim)
            }
            Expr::Binary {
                op: BinaryOp::Eq,
                lhs,
                rhs,
                span,
            } => {
                if let Expr::Call { callee, args, .. } = lhs.as_ref() {
                    if callee.text() == "argmax" && args.len() == 1 {
                        if let (Expr::Name(p), Some(k)) =
                            (&args[0].value, attr_value(rhs).and_then(|v| v.as_i64()))
                        {
                            let output = self.value_name(p)?;
                            if k < 0 {
                                self.error(405, rhs.span(), "a class index is >= 0");
                                return None;
                            }
                            // Known statically: the class must index the last axis.
                            if let Some(classes) =
                                self.value_type(p).and_then(|t| match t.shape.0.last() {
                                    Some(tl_ir::Dim::Known(n)) => Some(*n),
                                    _ => None,
                                })
                            {
                                if k as u64 >= classes as u64 {
                                    let d = self.error(
                                        430,
                                        rhs.span(),
                                        format!(
                                            "class {k} is outside 0..{classes}: `{output}` has {classes} classes (its last axis)"
                                        ),
                                    );
                                    d.help = Some(format!(
                                        "a class index of `{output}` is 0 to {}",
                                        classes.saturating_sub(1)
                                    ));
                                    return None;
                                }
                            }
                            return Some(Claim::Argmax { output, class: k });
                        }
                    }
                }
                let d = self.error(405, *span, "`==` claims are `argmax(y) == k`");
                d.help = Some("bound outputs with <=, >=, < or >".into());
                None
            }
            Expr::Binary {
                op: op @ (BinaryOp::Le | BinaryOp::Lt | BinaryOp::Ge | BinaryOp::Gt),
                lhs,
                rhs,
                ..
            } => {
                let cmp = match op {
                    BinaryOp::Le => Cmp::Le,
                    BinaryOp::Lt => Cmp::Lt,
                    BinaryOp::Ge => Cmp::Ge,
                    _ => Cmp::Gt,
                };
                if let Some(claim) = self.jacobian_claim(lhs, cmp, rhs) {
                    return claim;
                }
                let lhs = self.linear(lhs)?;
                let rhs = self.linear(rhs)?;
                Some(Claim::Linear { lhs, cmp, rhs })
            }
            Expr::Call { callee, args, span } => {
                let name = callee.text();
                match name.as_str() {
                    "all" if args.len() == 1 => self.claim(&args[0].value, has_within),
                    "batch_invariant" => {
                        let Some(Expr::Name(p)) = args.first().map(|a| &a.value) else {
                            self.error(
                                405,
                                *span,
                                "`batch_invariant` takes a graph value: `batch_invariant(y)`",
                            );
                            return None;
                        };
                        let output = self.value_name(p)?;
                        Some(Claim::BatchInvariant { output })
                    }
                    "indices_in_vocab" => {
                        let Some(Expr::Name(p)) = args.first().map(|a| &a.value) else {
                            self.error(405, *span, "indices_in_vocab takes a node name");
                            return None;
                        };
                        let node = self.value_name(p)?;
                        if matches!(self.out.target, Some(Target::Graph(_)))
                            && self.value_op(p).is_none_or(|o| o.name() != "embedding")
                        {
                            self.error(405, p.span, format!("`{node}` is not an embedding node"));
                            return None;
                        }
                        Some(Claim::IndicesInVocab { node })
                    }
                    "domain_safe" => {
                        let Some(Expr::Name(p)) = args.first().map(|a| &a.value) else {
                            self.error(
                                573,
                                *span,
                                "`domain_safe` takes a graph value: `domain_safe(loss)`",
                            );
                            return None;
                        };
                        if args.len() != 1 {
                            self.error(573, *span, "`domain_safe` takes one graph value");
                            return None;
                        }
                        let output = self.value_name(p)?;
                        Some(Claim::DomainSafe { output })
                    }
                    "adjoint" => {
                        let Some(Expr::Name(p)) = args.first().map(|a| &a.value) else {
                            self.error(440, *span, "`adjoint` takes a graph value: `adjoint(y)`");
                            return None;
                        };
                        let output = self.value_name(p)?;
                        Some(Claim::Adjoint { output })
                    }
                    "masked_weights_zero" | "ignored_labels_zero" => {
                        let Some(Expr::Name(p)) = args.first().map(|a| &a.value) else {
                            self.error(405, *span, format!("{name} takes a node name"));
                            return None;
                        };
                        let node = self.value_name(p)?;
                        let want = if name == "masked_weights_zero" {
                            ["attention_weights", "scaled_dot_product_attention"].as_slice()
                        } else {
                            ["cross_entropy"].as_slice()
                        };
                        if matches!(self.out.target, Some(Target::Graph(_))) {
                            let ok = self.value_op(p).is_some_and(|o| want.contains(&o.name()));
                            if !ok {
                                self.error(
                                    405,
                                    p.span,
                                    format!("`{node}` is not a {} node", want.join(" or ")),
                                );
                                return None;
                            }
                        }
                        Some(if name == "masked_weights_zero" {
                            Claim::MaskedWeightsZero { node }
                        } else {
                            Claim::IgnoredLabelsZero { node }
                        })
                    }
                    _ => {
                        let d = self.error(405, callee.span, format!("unknown claim `{name}`"));
                        d.help = Some("claims: argmax(y) == k, linear comparisons, all(...), masked_weights_zero(n), ignored_labels_zero(n), domain_safe(y), adjoint(y), lipschitz(y, x) <= L, d(y[i]) / d(x[j]) >= c, compiled ~= reference, gradient ~= finite_difference".into());
                        None
                    }
                }
            }
            Expr::Name(p) if p.as_single().is_some() && has_within => {
                let file = self.item.file(self.db);
                let id = p.as_single().expect("checked");
                match lookup(self.db, file, &[id.text.as_str()]) {
                    Some(def) if def.kind == DefKind::Contract => {
                        self.out.uses.push(Use {
                            range: p.span,
                            resolution: Resolution::Def(def.item, def.kind),
                        });
                        Some(Claim::Bridge {
                            contract: id.text.clone(),
                        })
                    }
                    _ => {
                        self.error(405, p.span, format!("`{}` is not a contract", id.text));
                        None
                    }
                }
            }
            Expr::Paren { items, .. } if items.len() == 1 => self.claim(&items[0], has_within),
            Expr::Error(_) => None,
            other => {
                self.error(405, other.span(), "this is not a claim tl can check");
                None
            }
        }
    }

    /// `lipschitz(y, x, norm = "linf") CMP L` or `d(y[i]) / d(x[j]) CMP c` (either side), or
    /// `None` when neither side is one (then the comparison is linear). `Some(None)`: it is one,
    /// with an error reported.
    fn jacobian_claim(&mut self, lhs: &Expr, cmp: Cmp, rhs: &Expr) -> Option<Option<Claim>> {
        let is_jacobian = |e: &Expr| match e {
            Expr::Call { callee, .. } => callee.text() == "lipschitz",
            Expr::Binary {
                op: BinaryOp::Div,
                lhs,
                rhs,
                ..
            } => [lhs, rhs]
                .iter()
                .all(|e| matches!(e.as_ref(), Expr::Call { callee, .. } if callee.text() == "d")),
            _ => false,
        };
        let flip = |c: Cmp| match c {
            Cmp::Le => Cmp::Ge,
            Cmp::Lt => Cmp::Gt,
            Cmp::Ge => Cmp::Le,
            Cmp::Gt => Cmp::Lt,
        };
        let (term, cmp, number) = if is_jacobian(lhs) {
            (lhs, cmp, rhs)
        } else if is_jacobian(rhs) {
            (rhs, flip(cmp), lhs)
        } else {
            return None;
        };
        let bound = match attr_value(number).and_then(|v| v.as_f64()) {
            Some(b) if b.is_finite() => b,
            _ => {
                self.error(
                    440,
                    number.span(),
                    "a lipschitz or derivative claim compares with a number",
                );
                return Some(None);
            }
        };
        Some(match term {
            Expr::Call { args, span, .. } => self.lipschitz_claim(args, *span, cmp, bound),
            Expr::Binary { lhs, rhs, .. } => {
                let of = |this: &mut Self, e: &Expr| -> Option<ValueRef> {
                    let Expr::Call { args, span, .. } = e else {
                        return None;
                    };
                    let v = match args.as_slice() {
                        [a] if a.name.is_none() => this.linear(&a.value)?,
                        _ => {
                            this.error(440, *span, "`d` takes one graph value: `d(y[0])`");
                            return None;
                        }
                    };
                    match (v.terms.as_slice(), v.constant) {
                        ([(c, r)], k) if *c == 1.0 && k == 0.0 && r.index.is_some() => {
                            Some(r.clone())
                        }
                        _ => {
                            this.error(
                                440,
                                *span,
                                "`d` takes one indexed element: `d(y[0])`, `d(x[0, 3])`",
                            );
                            None
                        }
                    }
                };
                let output = of(self, lhs);
                let input = of(self, rhs);
                let (output, input) = (output?, input?);
                if !self.is_graph_input(&input.name) {
                    self.error(
                        441,
                        rhs.span(),
                        format!("`{}` is not an input of the graph: differentiate with respect to an input", input.name),
                    );
                    return Some(None);
                }
                Some(Claim::Derivative {
                    output,
                    input,
                    cmp,
                    bound,
                })
            }
            _ => None,
        })
    }

    fn lipschitz_claim(
        &mut self,
        args: &[ast::Arg],
        span: TextRange,
        cmp: Cmp,
        bound: f64,
    ) -> Option<Claim> {
        if matches!(cmp, Cmp::Ge | Cmp::Gt) {
            self.error(
                440,
                span,
                "a Lipschitz claim bounds the constant from above: `lipschitz(y, x) <= L`",
            );
            return None;
        }
        let positional: Vec<&Expr> = args
            .iter()
            .filter(|a| a.name.is_none())
            .map(|a| &a.value)
            .collect();
        let (Some(Expr::Name(y)), Some(Expr::Name(x)), 2) =
            (positional.first(), positional.get(1), positional.len())
        else {
            self.error(
                440,
                span,
                "`lipschitz` takes an output and an input: `lipschitz(y, x, norm = \"linf\")`",
            );
            return None;
        };
        let mut norm = JacobianNorm::Linf;
        for a in args.iter().filter(|a| a.name.is_some()) {
            let name = a.name.as_ref().map(|n| n.text.as_str()).unwrap_or_default();
            match (name, &a.value) {
                ("norm", Expr::String(s)) if s.value == "linf" => norm = JacobianNorm::Linf,
                ("norm", Expr::String(s)) if s.value == "l1" => norm = JacobianNorm::L1,
                ("norm", other) => {
                    let d = self.error(442, other.span(), "unsupported Lipschitz norm");
                    d.help = Some(
                        "norms: \"linf\" (max row sum of |J|), \"l1\" (max column sum)".into(),
                    );
                    return None;
                }
                (other, _) => {
                    self.error(
                        440,
                        a.span,
                        format!("`lipschitz` has no argument `{other}`"),
                    );
                    return None;
                }
            }
        }
        let output = self.value_name(y)?;
        let input = self.value_name(x)?;
        if !self.is_graph_input(&input) {
            self.error(
                441,
                x.span,
                format!("`{input}` is not an input of the graph: a Lipschitz constant is taken with respect to an input"),
            );
            return None;
        }
        if bound < 0.0 {
            self.error(440, span, "a Lipschitz constant is never negative");
            return None;
        }
        Some(Claim::Lipschitz {
            output,
            input,
            norm,
            bound,
            strict: cmp == Cmp::Lt,
        })
    }

    /// Whether `name` is an input of the contract's graph (true when it cannot be told).
    fn is_graph_input(&self, name: &str) -> bool {
        let Some(Target::Graph(g)) = self.out.target else {
            return true;
        };
        graph_signature(self.db, g)
            .as_ref()
            .is_none_or(|sig| sig.inputs.iter().any(|i| i.name == name))
    }

    /// A linear combination of graph values and numbers.
    fn linear(&mut self, e: &Expr) -> Option<LinearExpr> {
        match e {
            Expr::Binary {
                op: op @ (BinaryOp::Add | BinaryOp::Sub),
                lhs,
                rhs,
                ..
            } => {
                let mut a = self.linear(lhs)?;
                let b = self.linear(rhs)?;
                let sign = if *op == BinaryOp::Add { 1.0 } else { -1.0 };
                a.terms
                    .extend(b.terms.into_iter().map(|(c, v)| (sign * c, v)));
                a.constant += sign * b.constant;
                Some(a)
            }
            Expr::Binary {
                op: BinaryOp::Mul,
                lhs,
                rhs,
                span,
            } => {
                let (a, b) = (self.linear(lhs)?, self.linear(rhs)?);
                let (k, mut v) = match (a.terms.is_empty(), b.terms.is_empty()) {
                    (true, _) => (a.constant, b),
                    (_, true) => (b.constant, a),
                    _ => {
                        self.error(405, *span, "claims must be linear in the graph's values");
                        return None;
                    }
                };
                v.terms.iter_mut().for_each(|t| t.0 *= k);
                v.constant *= k;
                Some(v)
            }
            Expr::Unary {
                op: ast::UnaryOp::Neg,
                operand,
                ..
            } => {
                let mut v = self.linear(operand)?;
                v.terms.iter_mut().for_each(|t| t.0 = -t.0);
                v.constant = -v.constant;
                Some(v)
            }
            Expr::Number(n) => Some(LinearExpr {
                terms: vec![],
                constant: n.as_f64()?,
            }),
            Expr::Name(p) => {
                let name = self.value_name(p)?;
                Some(LinearExpr {
                    terms: vec![(1.0, ValueRef { name, index: None })],
                    constant: 0.0,
                })
            }
            Expr::Index {
                base,
                indices,
                span,
            } => {
                let Expr::Name(p) = base.as_ref() else {
                    self.error(405, *span, "index a graph value: `y[0]`");
                    return None;
                };
                let name = self.value_name(p)?;
                let idx: Option<Vec<i64>> = indices
                    .iter()
                    .map(|i| attr_value(i).and_then(|v| v.as_i64()))
                    .collect();
                match idx {
                    Some(index) => Some(LinearExpr {
                        terms: vec![(
                            1.0,
                            ValueRef {
                                name,
                                index: Some(index),
                            },
                        )],
                        constant: 0.0,
                    }),
                    None => {
                        self.error(405, *span, "indices are integer literals");
                        None
                    }
                }
            }
            Expr::Paren { items, .. } if items.len() == 1 => self.linear(&items[0]),
            other => {
                self.error(
                    405,
                    other.span(),
                    "claims must be linear in the graph's values",
                );
                None
            }
        }
    }

    fn method(&mut self, m: &ast::Method) -> Option<Method> {
        let named = |n: &str| {
            m.args
                .iter()
                .find(|a| a.name.as_ref().is_some_and(|x| x.text == n))
                .map(|a| &a.value)
        };
        let positional: Vec<&Expr> = m
            .args
            .iter()
            .filter(|a| a.name.is_none())
            .map(|a| &a.value)
            .collect();
        let int = |e: Option<&Expr>| {
            e.and_then(attr_value)
                .and_then(|v| v.as_i64())
                .filter(|&n| n >= 0)
                .map(|n| n as u64)
        };
        let duration = |e: Option<&Expr>| match e {
            Some(Expr::Duration(d)) => Some(d.millis),
            _ => None,
        };
        let known_args: &[&str] = match m.name.text.as_str() {
            "bab" => &["timeout", "max_nodes", "split"],
            "sampling" => &["samples", "seed"],
            _ => &[],
        };
        for a in &m.args {
            if let Some(n) = &a.name {
                if !known_args.contains(&n.text.as_str()) {
                    let d = self.error(
                        412,
                        n.span,
                        format!("`{}` has no option `{}`", m.name.text, n.text),
                    );
                    d.help = Some(if known_args.is_empty() {
                        "this method takes no options".into()
                    } else {
                        format!("options: {}", known_args.join(", "))
                    });
                }
            }
        }
        Some(match m.name.text.as_str() {
            "ibp" => Method::Ibp,
            "crown" => Method::Crown,
            "alpha_crown" => Method::AlphaCrown,
            "bab" => {
                let timeout = named("timeout");
                if timeout.is_some() && duration(timeout).is_none() {
                    self.error(412, m.span, "bab's timeout is a duration: `timeout = 60s`");
                }
                let split = match named("split") {
                    Some(Expr::String(s)) if s.value == "input" || s.value == "relu" => {
                        Some(s.value.clone())
                    }
                    Some(other) => {
                        self.error(412, other.span(), "split is \"input\" or \"relu\"");
                        None
                    }
                    None => None,
                };
                Method::Bab {
                    timeout_ms: duration(timeout),
                    max_nodes: int(named("max_nodes")),
                    split,
                }
            }
            "sampling" => {
                let samples = int(positional.first().copied().or(named("samples"))).unwrap_or(1000);
                if samples == 0 {
                    self.error(412, m.span, "sampling needs at least one sample");
                }
                Method::Sampling {
                    samples,
                    seed: int(named("seed")).unwrap_or(0),
                }
            }
            "catalog" => Method::Catalog,
            "structure" => Method::Structure,
            "records" => Method::Records,
            "external" => match positional.first() {
                Some(Expr::String(s)) => Method::External {
                    path: s.value.clone(),
                },
                _ => {
                    self.error(
                        412,
                        m.span,
                        "external takes a result file: `external(\"robust.result\")`",
                    );
                    return None;
                }
            },
            "certificate" => match positional.first() {
                Some(Expr::String(s)) => Method::Certificate {
                    path: s.value.clone(),
                },
                _ => {
                    self.error(
                        412,
                        m.span,
                        "certificate takes a file path: `certificate(\"cert.json\")`",
                    );
                    return None;
                }
            },
            other => {
                let names: Vec<&str> = METHODS.iter().map(|m| m.0).collect();
                let d = self.error(406, m.name.span, format!("unknown check method `{other}`"));
                d.help = Some(match suggest(other, names.iter().copied()) {
                    Some(h) => format!("did you mean `{h}`?"),
                    None => format!("methods: {}", names.join(", ")),
                });
                return None;
            }
        })
    }
}

/// "a" or "an" before a word.
fn article(word: &str) -> &'static str {
    if word.starts_with(['a', 'e', 'i', 'o', 'u']) {
        "an"
    } else {
        "a"
    }
}

/// Whether values of `from` broadcast (NumPy rules, right-aligned, as verify makes sets concrete:
/// `verify::sets::broadcast`) to an input of `to` for every value of its symbolic extents: an
/// extent of 1 fits anything, a fixed extent only itself, and a symbolic extent only 1 (verify
/// sets symbolic extents to 1 for some methods and 4 for others). Extra leading extents of 1 may
/// be dropped.
pub fn set_values_fit(from: &[u64], to: &tl_ir::Shape) -> Result<(), String> {
    let to = &to.0;
    let extra = from.len().saturating_sub(to.len());
    if let Some(d) = from[..extra].iter().find(|&&d| d != 1) {
        return Err(format!(
            "it has more axes than the input and a leading extent {d}, not 1"
        ));
    }
    let from = &from[extra..];
    let pad = to.len() - from.len();
    for (axis, (&f, t)) in from.iter().zip(&to[pad..]).enumerate() {
        let axis = axis + pad;
        match t {
            _ if f == 1 => {}
            tl_ir::Dim::Known(k) if *k == f => {}
            tl_ir::Dim::Known(k) => {
                return Err(format!("axis {axis} has extent {f} where the input has {k}"))
            }
            tl_ir::Dim::Sym(s) => {
                return Err(format!(
                    "axis {axis} has extent {f} where the input has the symbolic extent {s}: only 1 fits every {s}"
                ))
            }
        }
    }
    Ok(())
}

fn name_of(e: &Expr) -> Option<String> {
    match e {
        Expr::Name(p) => Some(p.text()),
        _ => None,
    }
}

/// Method names that can establish a claim kind.
pub fn methods_for(kind: &str) -> Vec<&'static str> {
    METHODS
        .iter()
        .filter(|(_, kinds, _)| kinds.contains(&kind))
        .map(|m| m.0)
        .collect()
}

/// The kind word of an assumption item (`kernel`, `solver`, ...).
pub fn assumption_kind(db: &dyn Db, item: ItemSource<'_>) -> Option<String> {
    match &parse_item(db, item).item {
        Item::Assume(a) => Some(a.kind.text.clone()),
        _ => None,
    }
}

/// Assumption kinds tl knows.
pub const ASSUMPTION_KINDS: &[(&str, &str)] = &[
    (
        "kernel",
        "native code computes what its spec says (CUDA kernels, BLAS)",
    ),
    ("solver", "an external solver's answer is right"),
    (
        "environment",
        "an external environment (simulator, Gymnasium) behaves as modelled",
    ),
    (
        "float",
        "a floating-point behaviour beyond IEEE-754 basics (fast-math, fused ops)",
    ),
    (
        "certificate",
        "an external certificate tl does not recompute is valid",
    ),
];

/// Checks a tolerance or assumption item.
#[salsa::tracked(returns(ref))]
pub fn check_declaration<'db>(db: &'db dyn Db, item: ItemSource<'db>) -> Vec<Diagnostic<'db>> {
    let mut out = Vec::new();
    match &parse_item(db, item).item {
        Item::Tolerance(t) => {
            let mut seen = Vec::new();
            for c in &t.components {
                let kind = c.kind.text.as_str();
                if !matches!(kind, "abs" | "rel" | "ulp") {
                    out.push(
                        Diagnostic::error(413, Span::Item(item, c.kind.span), format!("unknown tolerance bound `{kind}`"))
                            .with_help("bounds: abs (absolute error), rel (relative error), ulp (units in the last place)"),
                    );
                    continue;
                }
                if seen.contains(&kind) {
                    out.push(Diagnostic::error(
                        413,
                        Span::Item(item, c.kind.span),
                        format!("`{kind}` is given twice"),
                    ));
                }
                seen.push(kind);
                match c.value.as_f64() {
                    Some(v) if v.is_finite() && v >= 0.0 && (kind != "ulp" || v.fract() == 0.0) => {
                    }
                    _ => out.push(Diagnostic::error(
                        413,
                        Span::Item(item, c.value.span),
                        format!(
                            "`{kind}` needs a finite number >= 0{}",
                            if kind == "ulp" { " (an integer)" } else { "" }
                        ),
                    )),
                }
            }
        }
        Item::Assume(a) => {
            if !ASSUMPTION_KINDS.iter().any(|(k, _)| *k == a.kind.text) {
                let kinds: Vec<&str> = ASSUMPTION_KINDS.iter().map(|k| k.0).collect();
                out.push(
                    Diagnostic::error(
                        414,
                        Span::Item(item, a.kind.span),
                        format!("unknown assumption kind `{}`", a.kind.text),
                    )
                    .with_help(format!("kinds: {}", kinds.join(", "))),
                );
            }
            if a.justification.value.trim().is_empty() {
                out.push(
                    Diagnostic::warning(
                        415,
                        Span::Item(item, a.justification.span),
                        "an assumption needs a justification",
                    )
                    .with_help("say why it holds and who checked it: reviewers read this"),
                );
            }
        }
        _ => {}
    }
    out
}
