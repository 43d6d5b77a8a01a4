//! Check orchestration: running a contract's methods and recording honest evidence.
//!
//! [`prepare`] reads everything a contract needs from the database (claim, input sets, the
//! lowered graph with its weights, tolerance, the bridged contract) into a [`Prepared`] job that
//! owns its data; [`execute`] runs the job without the database, so `tlc verify` can run
//! contracts on worker threads. [`run_contract`] does both.
//!
//! Methods run in the order the contract names them and stop at the first that decides (holds or
//! finds a counterexample). What each method may grant is fixed here and documented in
//! docs/verify.md: bound methods grant **checked**, sampling **tested**, a catalog theorem with
//! mechanically checked side conditions **proved**; a counterexample is reported only after the
//! compiled f32 executor re-ran it and confirmed the violation. Gradient claims are about the
//! reference (f64) semantics: reverse mode against finite differences of that semantics.

mod adjoint;
mod batch;
mod bounds;
mod bridge;
pub mod cache;
mod catalog_method;
pub mod claims;
mod domain;
mod external;
pub mod float;
mod gradient;
pub mod index_maps;
mod jacobian;
pub mod model;
pub mod replay;
mod sampling;
pub mod sets;
pub mod transitions;
mod two_network;
mod vocab;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};
use tl_syntax::ast::Item;

use crate::catalog::Catalog;
use crate::contracts::{analyze_contract, Claim, Method, Target};
use crate::db::Db;
use crate::graphs::{analyze_graph, NodeOrigin};
use crate::items::{parse_item, ItemSource};
use crate::lower::{lower_graph, ParamSource, SpecPayload};
use crate::outcome::{ContractOutcome, MethodOutcome, Status, Verdict};
use crate::scope::{import_target, relative_path, ImportTarget};

pub use model::Model;
pub use sets::SetSpec;

/// Why a method could not run: a stable code (TL08xx, docs/diagnostics.md) and a message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Failure {
    pub code: &'static str,
    pub message: String,
}

impl Failure {
    pub fn new(code: &'static str, message: impl Into<String>) -> Failure {
        Failure {
            code,
            message: message.into(),
        }
    }
    /// TL0801: the target graph or its weights cannot be loaded.
    pub fn target(message: impl Into<String>) -> Failure {
        Failure::new("TL0801", message)
    }
    /// TL0802: an input set cannot be made concrete.
    pub fn input(message: impl Into<String>) -> Failure {
        Failure::new("TL0802", message)
    }
    /// TL0803: the method cannot check this claim (a form or op it does not support).
    pub fn unsupported(message: impl Into<String>) -> Failure {
        Failure::new("TL0803", message)
    }
    /// TL0804: the claim does not fit the graph (unknown node, index out of range).
    pub fn claim(message: impl Into<String>) -> Failure {
        Failure::new("TL0804", message)
    }
    /// TL0806: an engine failed while running the graph.
    pub fn exec(e: tl_kernels::ExecError) -> Failure {
        Failure::new("TL0806", format!("{} [{}]", e, e.code()))
    }
    /// TL0807: the bounds crate failed.
    pub fn bounds(e: tl_bounds::BoundsError) -> Failure {
        Failure::new("TL0807", format!("{} [{}]", e.message, e.code))
    }
    fn verdict(self) -> Verdict {
        Verdict::Error {
            code: self.code.to_string(),
            message: self.message,
        }
    }
}

/// Settings every contract of a run shares (from the command line and tl.toml).
#[derive(Clone, Debug)]
pub struct VerifyOptions {
    /// Methods for contracts that name none (tl.toml `default_methods`).
    pub default_methods: Vec<Method>,
    /// Upper limit for each search (bab), whatever the contract says.
    pub timeout: Option<Duration>,
    /// Worker threads of one branch-and-bound search.
    pub bab_threads: usize,
    /// The proof catalog (builtin plus tl.toml `catalogs`).
    pub catalog: Arc<Catalog>,
    /// User catalog files (their bytes are part of the cache key).
    pub catalog_files: Vec<PathBuf>,
    /// Set to stop a running search early (the editor sets it when the text changes); a result
    /// obtained after it was set is `Unknown` and must not be cached.
    pub cancel: Arc<std::sync::atomic::AtomicBool>,
}

impl Default for VerifyOptions {
    fn default() -> Self {
        VerifyOptions {
            default_methods: vec![],
            timeout: None,
            bab_threads: std::thread::available_parallelism().map_or(2, |n| n.get()),
            catalog: Arc::new(Catalog::builtin()),
            catalog_files: vec![],
            cancel: Arc::default(),
        }
    }
}

/// A tolerance's bounds: `|compiled - reference| <= abs + rel * |reference|`, or within `ulp`
/// units in the last place of the f32 reference value.
#[derive(Clone, Debug, PartialEq)]
pub struct Tolerance {
    pub name: String,
    pub abs: f64,
    pub rel: f64,
    pub ulp: Option<f64>,
}

impl Tolerance {
    /// The error allowed at reference value `r`.
    pub fn allowed(&self, r: f64) -> f64 {
        let linear = self.abs + self.rel * r.abs();
        match self.ulp {
            Some(u) => linear.max(u * f32_spacing(r)),
            None => linear,
        }
    }
}

/// The distance from |r| (as f32) to the next f32 up.
fn f32_spacing(r: f64) -> f64 {
    let f = (r as f32).abs();
    if !f.is_finite() {
        return f64::INFINITY;
    }
    (f32::from_bits(f.to_bits() + 1) - f) as f64
}

/// A contract ready to run: everything read from the database.
#[derive(Clone, Debug)]
pub struct Prepared {
    pub name: String,
    /// The `.tl` file the contract is in.
    pub file: PathBuf,
    pub claim: Option<Claim>,
    /// Inputs named by `given` clauses (None: the graph's only input).
    pub inputs: Vec<(Option<String>, SetSpec)>,
    /// The VNN-LIB file of a `given vnnlib(...)` contract.
    pub vnnlib: Option<PathBuf>,
    /// The records file of a `given transitions(...)` contract (read at verify time only).
    pub transitions: Option<PathBuf>,
    /// The methods that will run (the contract's, else the defaults that fit its kind).
    pub methods: Vec<Method>,
    pub tolerance: Option<Tolerance>,
    pub execute_on: Option<String>,
    pub rests_on: Vec<String>,
    pub model: Result<Arc<Model>, Failure>,
    /// For `ensure other within T`: the other contract.
    pub bridged: Option<Result<Box<Prepared>, Failure>>,
    /// For a two-network claim (`target ~= other within T`): the other graph.
    pub other: Option<Result<Arc<Model>, Failure>>,
    pub cache_key: String,
}

impl Prepared {
    pub fn kind(&self) -> &'static str {
        self.claim.as_ref().map_or("unknown", Claim::kind)
    }
}

/// One contract's result as `tlc verify` reports and caches it.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ContractRun {
    pub outcome: ContractOutcome,
    pub kind: String,
    /// What the evidence alone supports ([`ContractOutcome::evidence_status`]).
    pub evidence_status: Status,
    /// The reported status: the evidence status, at most `assumed` when the contract rests on
    /// named assumptions.
    pub status: Status,
    pub rests_on: Vec<String>,
    pub execute_on: Option<String>,
    /// Wall time of all methods, in milliseconds.
    pub millis: u64,
    pub cache_key: String,
    /// Taken from the result cache instead of run (set by the caller).
    #[serde(default)]
    pub cached: bool,
}

impl ContractRun {
    /// This result as the result of the contract `p`. Cache keys hash what a contract checks,
    /// not where it is written, so two files with the same contract text share a stored run; the
    /// run's identity (file and name) is always the asking item's.
    pub fn for_contract(mut self, p: &Prepared) -> ContractRun {
        self.outcome.contract = p.name.clone();
        self.outcome.file = p.file.clone();
        self
    }

    /// Any method ran out of time.
    pub fn timed_out(&self) -> bool {
        self.outcome
            .methods
            .iter()
            .any(|m| m.verdict == Verdict::Timeout)
    }
    /// Any method could not run.
    pub fn errored(&self) -> bool {
        self.outcome
            .methods
            .iter()
            .any(|m| matches!(m.verdict, Verdict::Error { .. }))
    }
    /// The method that decided (the last one run), for one-line summaries.
    pub fn deciding_method(&self) -> Option<&MethodOutcome> {
        self.outcome.methods.last()
    }
}

/// Results of contracts already run in this process, by cache key (bridges reuse them).
#[derive(Default)]
pub struct Memo(Mutex<HashMap<String, ContractRun>>);

impl Memo {
    pub fn get(&self, key: &str) -> Option<ContractRun> {
        self.0.lock().expect("memo lock").get(key).cloned()
    }
    pub fn put(&self, run: &ContractRun) {
        self.0
            .lock()
            .expect("memo lock")
            .insert(run.cache_key.clone(), run.clone());
    }
}

/// Names the running build for cache keys: the version plus the executable's size and mtime, so
/// a rebuilt dev binary whose numerics changed never serves results cached by the previous build
/// (an installed release keeps its key across runs). Falls back to the version alone when the
/// executable cannot be inspected.
pub fn build_identity() -> &'static str {
    static IDENTITY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    IDENTITY.get_or_init(|| {
        let version = env!("CARGO_PKG_VERSION");
        let stamp = std::env::current_exe()
            .and_then(std::fs::metadata)
            .ok()
            .and_then(|meta| {
                let mtime = meta.modified().ok()?;
                let nanos = mtime.duration_since(std::time::UNIX_EPOCH).ok()?.as_nanos();
                Some(format!("{}-{nanos}", meta.len()))
            });
        match stamp {
            Some(stamp) => format!("{version}+{stamp}"),
            None => version.to_string(),
        }
    })
}

/// Prepares and runs one contract item.
pub fn run_contract(db: &dyn Db, contract: ItemSource<'_>, opts: &VerifyOptions) -> ContractRun {
    let prepared = prepare(db, contract, opts);
    execute(&prepared, opts, &Memo::default())
}

/// Reads a contract and everything it depends on out of the database.
pub fn prepare(db: &dyn Db, contract: ItemSource<'_>, opts: &VerifyOptions) -> Prepared {
    prepare_inner(db, contract, opts, &mut Vec::new())
}

fn prepare_inner<'db>(
    db: &'db dyn Db,
    contract: ItemSource<'db>,
    opts: &VerifyOptions,
    stack: &mut Vec<ItemSource<'db>>,
) -> Prepared {
    let file = contract.file(db);
    let path = file.path(db).clone();
    let name = contract.name(db).clone().unwrap_or_default();
    let resolve = |p: &str| relative_path(db, file, p);
    let mut hasher = Sha256::new();
    hasher.update(format!("tl-verify {}\n", build_identity()));
    hasher.update(contract.text(db).as_bytes());
    let analysis = analyze_contract(db, contract).as_ref();
    let claim = analysis.and_then(|a| a.claim.clone());
    let inputs: Vec<(Option<String>, SetSpec)> = analysis
        .map(|a| {
            a.inputs
                .iter()
                .map(|(n, s)| (n.clone(), SetSpec::resolve(s, &resolve)))
                .collect()
        })
        .unwrap_or_default();
    let vnnlib = match &claim {
        Some(Claim::VnnLib { path }) => Some(resolve(path)),
        _ => None,
    };
    let transitions = match &claim {
        Some(Claim::Transitions { path, .. }) => Some(resolve(path)),
        _ => None,
    };
    let mut methods = analysis.map(|a| a.methods.clone()).unwrap_or_default();
    if methods.is_empty() {
        if let Some(kind) = claim.as_ref().map(Claim::kind) {
            let fits = crate::contracts::methods_for(kind);
            methods = opts
                .default_methods
                .iter()
                .filter(|m| fits.contains(&m.name()))
                .cloned()
                .collect();
        }
    }
    let tolerance = analysis.and_then(|a| a.tolerance).and_then(|t| {
        hasher.update(t.text(db).as_bytes());
        tolerance_of(db, t)
    });
    let rests_on: Vec<String> = analysis
        .map(|a| {
            a.rests_on
                .iter()
                .map(|&i| {
                    hasher.update(i.text(db).as_bytes());
                    i.name(db).clone().unwrap_or_default()
                })
                .collect()
        })
        .unwrap_or_default();
    let execute_on = analysis.and_then(|a| a.execute_on.clone());
    let model = match analysis.and_then(|a| a.target) {
        Some(Target::Graph(g)) => load_graph(db, g, &mut hasher),
        Some(Target::Onnx(import)) => load_onnx(db, import, &mut hasher),
        None => Err(Failure::target("the contract's target does not resolve")),
    };
    let other = match &claim {
        Some(Claim::TwoNetwork { other }) => {
            let segs: Vec<&str> = other.split('.').collect();
            Some(
                match crate::scope::lookup(db, file, &segs)
                    .filter(|d| d.kind == crate::items::DefKind::Graph)
                {
                    Some(def) => load_graph(db, def.item, &mut hasher),
                    None => Err(Failure::target(format!("graph `{other}` does not resolve"))),
                },
            )
        }
        _ => None,
    };
    let mut files: Vec<PathBuf> = inputs.iter().flat_map(|(_, s)| s.files()).collect();
    files.extend(vnnlib.clone());
    files.extend(transitions.clone());
    files.extend(opts.catalog_files.iter().cloned());
    for f in &files {
        hash_file(&mut hasher, f);
    }
    let bridged = match &claim {
        Some(Claim::Bridge { contract: other }) => {
            Some(bridge_target(db, contract, other, opts, stack).map(|p| {
                hasher.update(p.cache_key.as_bytes());
                Box::new(p)
            }))
        }
        _ => None,
    };
    // Not the run's time limit (`opts.timeout`): the cache stores a timed-out run with the limit
    // it had and reuses it only within that limit (cache.rs); a decided run holds whatever time
    // a rerun would get. A bridge keeps it: the other contract's timeout shows in the bridge's
    // run as an unknown, not a timeout, so the cache could not tell a larger limit apart.
    hasher.update(format!("{methods:?}\n{:?}\n", opts.default_methods));
    if bridged.is_some() {
        hasher.update(format!("{:?}\n", opts.timeout));
    }
    let cache_key = hex(&hasher.finalize());
    Prepared {
        name,
        file: path,
        claim,
        inputs,
        vnnlib,
        transitions,
        methods,
        tolerance,
        execute_on,
        rests_on,
        model,
        bridged,
        other,
        cache_key,
    }
}

fn bridge_target<'db>(
    db: &'db dyn Db,
    contract: ItemSource<'db>,
    other: &str,
    opts: &VerifyOptions,
    stack: &mut Vec<ItemSource<'db>>,
) -> Result<Prepared, Failure> {
    let def = crate::scope::lookup(db, contract.file(db), &[other])
        .ok_or_else(|| Failure::new("TL0808", format!("contract `{other}` does not resolve")))?;
    if def.item == contract || stack.contains(&def.item) {
        return Err(Failure::new(
            "TL0808",
            format!("contract `{other}` bridges back to itself"),
        ));
    }
    stack.push(contract);
    let p = prepare_inner(db, def.item, opts, stack);
    stack.pop();
    Ok(p)
}

fn tolerance_of(db: &dyn Db, item: ItemSource<'_>) -> Option<Tolerance> {
    let Item::Tolerance(t) = &parse_item(db, item).item else {
        return None;
    };
    let mut tol = Tolerance {
        name: t.name.text.clone(),
        abs: 0.0,
        rel: 0.0,
        ulp: None,
    };
    for c in &t.components {
        let v = c.value.as_f64()?;
        match c.kind.text.as_str() {
            "abs" => tol.abs = v,
            "rel" => tol.rel = v,
            "ulp" => tol.ulp = Some(v),
            _ => return None,
        }
    }
    Some(tol)
}

/// Lowers a graph item and loads every param; hashes the graph, its blocks and weight files.
fn load_graph(
    db: &dyn Db,
    graph: ItemSource<'_>,
    hasher: &mut Sha256,
) -> Result<Arc<Model>, Failure> {
    hash_items(db, graph, hasher, 0);
    let lowered = lower_graph(db, graph)
        .as_ref()
        .map_err(|e| Failure::target(e.to_string()))?;
    let mut files: Vec<&PathBuf> = lowered
        .params
        .values()
        .filter_map(|s| match s {
            ParamSource::File { path, .. } => Some(path),
            ParamSource::Literal { .. } => None,
        })
        .collect();
    files.sort();
    files.dedup();
    for f in files {
        hash_file(hasher, f);
    }
    let payload = SpecPayload::new(&lowered.params);
    let mut params = std::collections::BTreeMap::new();
    for key in lowered.params.keys() {
        let t = tl_kernels::Payload::load(&payload, key)
            .map_err(|e| Failure::target(format!("param {key}: {e} [{}]", e.code())))?;
        params.insert(key.clone(), t);
    }
    Ok(Arc::new(Model {
        graph: lowered.graph.clone(),
        params,
    }))
}

/// The texts of a graph and of every block it instantiates, recursively.
fn hash_items(db: &dyn Db, item: ItemSource<'_>, hasher: &mut Sha256, depth: usize) {
    hasher.update(item.text(db).as_bytes());
    if depth > 64 {
        return;
    }
    if let Some(a) = analyze_graph(db, item) {
        for n in &a.nodes {
            if let NodeOrigin::Block(b) | NodeOrigin::Repeat(b, _) = n.origin {
                hash_items(db, b, hasher, depth + 1);
            }
        }
    }
}

fn load_onnx(
    db: &dyn Db,
    import: ItemSource<'_>,
    hasher: &mut Sha256,
) -> Result<Arc<Model>, Failure> {
    hasher.update(import.text(db).as_bytes());
    let Some(ImportTarget::Onnx(ext)) = import_target(db, import) else {
        return Err(Failure::target("the target is not an ONNX import"));
    };
    let path = ext.path(db).clone();
    hash_file(hasher, &path);
    let model = tl_kernels::onnx::load(&path)
        .map_err(|e| Failure::target(format!("{e} [{}]", e.code())))?;
    let imported = tl_kernels::onnx::import(&model)
        .map_err(|e| Failure::target(format!("{e} [{}]", e.code())))?;
    Ok(Arc::new(Model {
        graph: imported.graph,
        params: imported.payload,
    }))
}

/// Files up to this size are hashed whole; larger ones by size, mtime and their first and last MiB.
const HASH_WHOLE_LIMIT: u64 = 256 * 1024 * 1024;

fn hash_file(hasher: &mut Sha256, path: &Path) {
    hasher.update(path.to_string_lossy().as_bytes());
    let Ok(meta) = std::fs::metadata(path) else {
        hasher.update(b"(missing)");
        return;
    };
    if meta.len() <= HASH_WHOLE_LIMIT {
        match content_digest(path, &meta) {
            Ok(digest) => hasher.update(digest),
            Err(e) => hasher.update(e.to_string().as_bytes()),
        }
        return;
    }
    use std::io::{Read, Seek, SeekFrom};
    let mtime = meta
        .modified()
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_nanos());
    hasher.update(format!("{} {mtime}", meta.len()));
    if let Ok(mut f) = std::fs::File::open(path) {
        let mut buf = vec![0u8; 1 << 20];
        if f.read_exact(&mut buf).is_ok() {
            hasher.update(&buf);
        }
        if f.seek(SeekFrom::End(-(1 << 20))).is_ok() && f.read_exact(&mut buf).is_ok() {
            hasher.update(&buf);
        }
    }
}

/// The sha256 of a file's bytes, streamed (never the whole file in memory) and remembered per
/// process by path, size and mtime, so a server that re-verifies after every save re-reads only
/// the payloads that changed.
fn content_digest(path: &Path, meta: &std::fs::Metadata) -> std::io::Result<[u8; 32]> {
    type Stamp = (u64, Option<std::time::SystemTime>);
    static DIGESTS: std::sync::OnceLock<Mutex<HashMap<PathBuf, (Stamp, [u8; 32])>>> =
        std::sync::OnceLock::new();
    let digests = DIGESTS.get_or_init(Default::default);
    let stamp: Stamp = (meta.len(), meta.modified().ok());
    // Without an mtime a stale entry could not be told apart: always re-read then.
    if stamp.1.is_some() {
        if let Some((seen, digest)) = digests.lock().expect("digest lock").get(path) {
            if *seen == stamp {
                return Ok(*digest);
            }
        }
    }
    let mut file_hasher = Sha256::new();
    std::io::copy(&mut std::fs::File::open(path)?, &mut file_hasher)?;
    let digest: [u8; 32] = file_hasher.finalize().into();
    if stamp.1.is_some() {
        digests
            .lock()
            .expect("digest lock")
            .insert(path.to_path_buf(), (stamp, digest));
    }
    Ok(digest)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Runs a prepared contract's methods (no database needed).
pub fn execute(p: &Prepared, opts: &VerifyOptions, memo: &Memo) -> ContractRun {
    if let Some(run) = memo.get(&p.cache_key) {
        return run.for_contract(p);
    }
    let start = Instant::now();
    let mut methods = Vec::new();
    for m in &p.methods {
        let t0 = Instant::now();
        let (verdict, grants, detail) = run_method(p, m, opts, memo);
        let decided = matches!(verdict, Verdict::Holds | Verdict::Violated { .. });
        let fatal = matches!(&verdict, Verdict::Error { code, .. } if code == "TL0801");
        methods.push(MethodOutcome {
            method: m.name().to_string(),
            verdict,
            grants,
            millis: t0.elapsed().as_millis() as u64,
            detail,
        });
        if decided || fatal {
            break;
        }
    }
    // The target's data-movement kernels, for the ledger's semantics link (records-only
    // contracts never load a graph).
    let index_maps = match (&p.claim, &p.model) {
        (Some(Claim::Transitions { .. }), _) | (_, Err(_)) => Vec::new(),
        (_, Ok(model)) => index_maps::check(&model.graph),
    };
    let outcome = ContractOutcome {
        contract: p.name.clone(),
        file: p.file.clone(),
        methods,
        index_maps,
    };
    let evidence_status = outcome.evidence_status();
    let status = if p.rests_on.is_empty() || evidence_status == Status::Falsified {
        evidence_status
    } else {
        evidence_status.compose(Status::Assumed)
    };
    let run = ContractRun {
        outcome,
        kind: p.kind().to_string(),
        evidence_status,
        status,
        rests_on: p.rests_on.clone(),
        execute_on: p.execute_on.clone(),
        millis: start.elapsed().as_millis() as u64,
        cache_key: p.cache_key.clone(),
        cached: false,
    };
    memo.put(&run);
    run
}

/// The verdict, the status it grants when it holds, and the reviewer's line.
type MethodResult = (Verdict, Status, String);

fn run_method(p: &Prepared, m: &Method, opts: &VerifyOptions, memo: &Memo) -> MethodResult {
    let grants = m.grants(p.claim.as_ref());
    let fail = |f: Failure| (f.verdict(), grants, String::new());
    let Some(claim) = &p.claim else {
        return fail(Failure::claim("the contract has errors; run `tlc check`"));
    };
    if let Method::Certificate { path } = m {
        return fail(Failure::unsupported(format!(
            "certificate({path}) is checked by `tlc certificate check`, not by verify"
        )));
    }
    if let Claim::Bridge { .. } = claim {
        return bridge::run(p, m, opts, memo);
    }
    // The records are checked without the graph: the target need not load.
    if let (Claim::Transitions { boundary, .. }, Method::Records) = (claim, m) {
        let Some(path) = &p.transitions else {
            return fail(Failure::claim("the transitions file does not resolve"));
        };
        let (verdict, detail) = transitions::verdict(path, boundary);
        return (verdict, grants, detail);
    }
    let model = match &p.model {
        Ok(m) => m.clone(),
        Err(f) => return fail(f.clone()),
    };
    let cx = Cx {
        p,
        opts,
        model: &model,
        claim,
    };
    let result = match (claim, m) {
        (Claim::TwoNetwork { .. }, m) => two_network::run(&cx, m),
        (
            Claim::Argmax { .. } | Claim::Linear { .. } | Claim::All(_) | Claim::VnnLib { .. },
            Method::External { path },
        ) => external::run(&cx, path),
        (
            Claim::Argmax { .. } | Claim::Linear { .. } | Claim::All(_) | Claim::VnnLib { .. },
            Method::Ibp | Method::Crown | Method::AlphaCrown | Method::Bab { .. },
        ) => bounds::run(&cx, m),
        (Claim::Gradient, Method::Sampling { samples, seed }) => {
            gradient::run(&cx, *samples, *seed)
        }
        (Claim::Equivalence, Method::Sampling { samples, seed }) => {
            return equivalence_with_derived_bound(&cx, *samples, *seed);
        }
        (Claim::Adjoint { output }, Method::Sampling { samples, seed }) => {
            adjoint::run(&cx, output, *samples, *seed)
        }
        (Claim::Lipschitz { .. } | Claim::Derivative { .. }, Method::Ibp) => {
            jacobian::enclose(&cx, 0)
        }
        (
            Claim::Lipschitz { .. } | Claim::Derivative { .. },
            Method::Sampling { samples, seed },
        ) => jacobian::sample(&cx, *samples, *seed),
        (Claim::BatchInvariant { output }, Method::Structure) => batch::structure(&cx, output),
        (Claim::IndicesInVocab { node }, Method::Structure) => vocab::structure(&cx, node),
        (
            Claim::DomainSafe { output },
            m @ (Method::Ibp | Method::Crown | Method::AlphaCrown | Method::Sampling { .. }),
        ) => domain::run(&cx, output, m),
        (Claim::BatchInvariant { output }, Method::Sampling { samples, seed }) => {
            batch::sample(&cx, output, *samples, *seed)
        }
        (_, Method::Sampling { samples, seed }) => sampling::run(&cx, *samples, *seed),
        (_, Method::Catalog) => catalog_method::run(&cx),
        (c, m) => Err(Failure::unsupported(format!(
            "{} cannot check a {} claim",
            m.name(),
            c.kind()
        ))),
    };
    match result {
        Ok((verdict, detail)) => (verdict, grants, detail),
        Err(f) => fail(f),
    }
}

/// `compiled ~= reference within T` by sampling: first the derived float bound over the input
/// box (tl-bounds `float_error`); when it fits T at every output and rests on no assumption the
/// spec does not name, the claim is **checked** without sampling. Otherwise sampling decides
/// (**tested**) and the detail carries the derived result: by how much it exceeded T, the
/// assumption it would rest on, or why no bound could be derived.
fn equivalence_with_derived_bound(cx: &Cx, samples: u64, seed: u64) -> MethodResult {
    let Some(tol) = cx.p.tolerance.as_ref() else {
        let f = Failure::claim("an equivalence contract needs a tolerance");
        return (f.verdict(), Status::Tested, String::new());
    };
    let derived = float::derive(cx, tol);
    let note = match &derived {
        Ok(d) => {
            let line = float::describe(d, tol);
            let assumptions: Vec<&String> = d.iter().flat_map(|d| &d.assumptions).collect();
            let fits = d.iter().all(|d| d.ratio <= 1.0);
            if fits && assumptions.is_empty() {
                return (
                    Verdict::Holds,
                    Status::Checked,
                    format!("{line}; checked, sampling not needed"),
                );
            }
            if fits {
                format!(
                    "{line}; it rests on {}, which the spec does not name, so sampling decides",
                    assumptions
                        .iter()
                        .map(|a| a.split(':').next().unwrap_or(a))
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            } else {
                format!("{line}; so sampling decides")
            }
        }
        Err(why) => format!("no derived float bound ({why}); sampling decides"),
    };
    match sampling::run(cx, samples, seed) {
        Ok((verdict, detail)) => (verdict, Status::Tested, format!("{detail}; {note}")),
        Err(f) => (f.verdict(), Status::Tested, note),
    }
}

/// What a method runs with.
struct Cx<'a> {
    p: &'a Prepared,
    opts: &'a VerifyOptions,
    model: &'a Model,
    claim: &'a Claim,
}

impl Cx<'_> {
    /// `Unknown` once the run was asked to stop (an edit in the editor, Ctrl-C). Sampling loops
    /// check it before each sample, so a long run ends within one sample; the caller never caches
    /// a result obtained after the flag was set.
    fn cancelled(&self, done: usize, total: u64) -> Option<(Verdict, String)> {
        self.opts
            .cancel
            .load(std::sync::atomic::Ordering::Relaxed)
            .then(|| {
                (
                    Verdict::Unknown {
                        reason: format!(
                            "stopped after {done} of {total} samples: the run was cancelled"
                        ),
                    },
                    String::new(),
                )
            })
    }

    /// The set of graph input `name` (a nameless `given` is the graph's only input).
    fn set_for(&self, name: &str) -> Option<&SetSpec> {
        input_set(self.p, self.model, name)
    }
}

/// The set a contract gives graph input `name` (a nameless `given` is the graph's only input).
fn input_set<'a>(p: &'a Prepared, model: &Model, name: &str) -> Option<&'a SetSpec> {
    let single = model.graph.inputs.len() == 1;
    p.inputs
        .iter()
        .find(|(n, _)| n.as_deref() == Some(name) || (n.is_none() && single))
        .map(|(_, s)| s)
}

#[cfg(test)]
mod batch_tests;
#[cfg(test)]
mod dataset_tests;
#[cfg(test)]
mod domain_contract_tests;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod transitions_contract_tests;
