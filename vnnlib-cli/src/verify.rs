//! `tl-vnnlib verify`: a 2.0 query over any number of networks, each with any number of inputs,
//! hidden nodes and outputs, decided by bounds on one composed network.
//!
//! Every network's model is imported (an `equal-to` network reuses its target's model; an
//! `isomorphic-to` network brings its own, which must have the same structure), its declared
//! hidden nodes exposed as extra outputs, and all of them lowered over one shared input
//! ([`tl_bounds::BoundNet::compose`]). The input is the concatenation of every declared input,
//! except that inputs the query equates element by element (`(== tX[0,0] sX[0,0])` as a
//! top-level conjunct) share one element: that is how a query over a teacher and a student on the
//! same input becomes bounds on the difference network. The output is the concatenation of every
//! hidden node and output, so linear constraints between networks are constraints on one output.
//!
//! `unsat` only when the bound is certified for the query's semantics (float32: for any f32
//! executor, `BabConfig::f32_executor`; Real: over the reals). `sat` only when the counterexample
//! replays: every network is run at the assignment by tl's engines (the compiled f32 plan for
//! float32 queries, the f64 reference evaluator for Real ones) and the query's assertions hold on
//! those values, evaluated from the query itself. Anything else is `unknown`.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use tl_bounds::lower::Part;
use tl_bounds::vnnlib2::{self, codes, BoolExpr, CmpOp, DeclKind, ElemType, Expr, Query, Slot};
use tl_bounds::vnnlib2::{Equivalence, Network, TensorDecl};
use tl_bounds::{BabConfig, BoundsError, Verdict};
use tl_ir::{Graph, NodeId, NodeKind};
use tl_kernels::Tensor;

use crate::{fail, with_path, Failure, SOUND_TYPES};

/// A hidden node named in the query that the imported graph does not have.
pub const HIDDEN_NOT_FOUND: &str = "TL0669";
/// An `isomorphic-to` network whose model's structure differs from its target's.
pub const NOT_ISOMORPHIC: &str = "TL0670";

pub struct VerifyArgs {
    pub query: PathBuf,
    pub networks: Vec<(String, PathBuf)>,
    pub timeout: std::time::Duration,
    pub serialise: Option<PathBuf>,
}

/// The outcome: the first line, and for `sat` the assignment (every declared variable, in
/// declaration order, with its row-major values).
pub enum Answer {
    Unsat,
    Sat(Assignment),
    Unknown(String),
    TimedOut,
}

/// A network's model, imported and bound to the query's declarations.
struct Model {
    graph: Graph,
    payload: BTreeMap<String, Tensor>,
    weights: HashMap<String, ndarray::ArrayD<f64>>,
    /// Per declared input: its graph input node.
    inputs: Vec<NodeId>,
    /// Per declared hidden node, then per declared output: the graph node (exposed as an output).
    outputs: Vec<NodeId>,
    path: PathBuf,
}

fn elem_of(d: tl_ir::DType) -> ElemType {
    use tl_ir::DType as D;
    match d {
        D::F16 => ElemType::Float16,
        D::BF16 => ElemType::BFloat16,
        D::F32 => ElemType::Float32,
        D::F64 => ElemType::Float64,
        D::I8 => ElemType::Int8,
        D::I32 => ElemType::Int32,
        D::I64 => ElemType::Int64,
        D::U8 => ElemType::UInt8,
        D::Bool => ElemType::Bool,
        D::I16 => ElemType::Int16,
        D::U16 => ElemType::UInt16,
        D::U32 => ElemType::UInt32,
        D::U64 => ElemType::UInt64,
    }
}

fn mismatch(q: &Query, d: &TensorDecl, path: &Path, m: String) -> Failure {
    Failure(BoundsError::at(
        codes::MODEL_MISMATCH,
        q.position(d.loc.start),
        format!("{}: {m}", path.display()),
    ))
}

/// Loads `path` and binds network `n`'s declarations to it: inputs and outputs by ONNX name when
/// every one of them gives one, by order otherwise; hidden nodes by ONNX output (or node) name.
fn load_model(path: &Path, q: &Query, n: &Network) -> Result<Model, Failure> {
    let onnx = |m: String| fail(tl_bounds::codes::ONNX, format!("{}: {m}", path.display()));
    let model = tl_kernels::onnx::load(path).map_err(|e| onnx(e.to_string()))?;
    let imported =
        tl_kernels::onnx::import(&model).map_err(|e| onnx(format!("[{}] {e}", e.code())))?;
    let mut graph = tl_bounds::onnx::bind_symbols_to_one(&imported.graph).map_err(onnx)?;
    let by_name = |ds: &[TensorDecl]| ds.iter().all(|d| d.onnx_name.is_some());
    let bind =
        |ds: &[TensorDecl],
         have: Vec<(String, NodeId)>,
         what: &str|
         -> Result<Vec<NodeId>, Failure> {
            if by_name(ds) && !ds.is_empty() {
                ds.iter()
                    .map(|d| {
                        let want = d.onnx_name.as_deref().unwrap();
                        have.iter()
                            .find(|(n, _)| n == want)
                            .map(|p| p.1)
                            .ok_or_else(|| {
                                let names: Vec<&str> = have.iter().map(|p| p.0.as_str()).collect();
                                mismatch(
                            q,
                            d,
                            path,
                            format!("the model has no {what} \"{want}\" (its {what}s: {names:?})"),
                        )
                            })
                    })
                    .collect()
            } else {
                if ds.len() != have.len() {
                    let d = ds.get(have.len()).or(ds.last()).unwrap_or(&n.inputs[0]);
                    return Err(mismatch(
                        q,
                        d,
                        path,
                        format!(
                            "network `{}` declares {} {what}s, the model has {}",
                            n.name,
                            ds.len(),
                            have.len()
                        ),
                    ));
                }
                for (d, (name, _)) in ds.iter().zip(&have) {
                    if let Some(want) = &d.onnx_name {
                        if want != name {
                            return Err(mismatch(
                                q,
                                d,
                                path,
                                format!(
                                    "`{}` names ONNX {what} \"{want}\", the model's is \"{name}\"",
                                    d.name
                                ),
                            ));
                        }
                    }
                }
                Ok(have.into_iter().map(|p| p.1).collect())
            }
        };
    let graph_inputs: Vec<(String, NodeId)> = graph
        .inputs
        .iter()
        .map(|&i| (graph.nodes[i].name.clone(), i))
        .collect();
    let inputs = bind(&n.inputs, graph_inputs, "input")?;
    let outs = bind(&n.outputs, graph.outputs.clone(), "output")?;
    // By name, every graph input must be declared exactly once.
    if let Some((k, _)) = inputs
        .iter()
        .enumerate()
        .find(|(k, id)| inputs[..*k].contains(id))
    {
        return Err(mismatch(
            q,
            &n.inputs[k],
            path,
            format!(
                "`{}` names a model input another declaration already names",
                n.inputs[k].name
            ),
        ));
    }
    if inputs.len() != graph.inputs.len() {
        return Err(mismatch(
            q,
            &n.inputs[0],
            path,
            format!(
                "network `{}` declares {} inputs, the model has {}",
                n.name,
                inputs.len(),
                graph.inputs.len()
            ),
        ));
    }
    let mut hidden = Vec::new();
    for d in &n.hidden {
        let want = d.onnx_name.as_deref().unwrap_or_default();
        // The ONNX output name is the imported node's name; a node name stands for its first
        // output.
        let value = model
            .nodes
            .iter()
            .find(|o| o.name == want && !o.outputs.is_empty())
            .map(|o| o.outputs[0].as_str())
            .unwrap_or(want);
        let id = graph
            .nodes
            .iter()
            .position(|g| g.name == value && !matches!(g.kind, NodeKind::Param { .. }));
        let Some(id) = id else {
            let known = model
                .nodes
                .iter()
                .any(|o| o.outputs.iter().any(|v| v == want));
            return Err(Failure(BoundsError::at(
                HIDDEN_NOT_FOUND,
                q.position(d.loc.start),
                format!(
                    "{}: hidden node `{}` names \"{want}\", {}",
                    path.display(),
                    d.name,
                    if known {
                        "an ONNX value tl's importer folded into another node (declare a node the imported graph keeps, e.g. an activation's output)"
                    } else {
                        "which is no node output of the model"
                    }
                ),
            )));
        };
        hidden.push(id);
    }
    for (i, &id) in hidden.iter().enumerate() {
        graph.add_output(format!("__hidden_{i}_{}", n.hidden[i].name), id);
    }
    let decl_nodes: Vec<(&TensorDecl, NodeId)> = n
        .inputs
        .iter()
        .zip(inputs.iter().copied())
        .chain(n.hidden.iter().zip(hidden.iter().copied()))
        .chain(n.outputs.iter().zip(outs.iter().copied()))
        .collect();
    check_decls(q, path, &graph, &decl_nodes)?;
    let weights = imported
        .payload
        .iter()
        .map(|(k, t)| (k.clone(), t.to_f64()))
        .collect();
    Ok(Model {
        graph,
        payload: imported.payload,
        weights,
        inputs,
        outputs: hidden.into_iter().chain(outs).collect(),
        path: path.to_path_buf(),
    })
}

/// Shapes and element types of declarations against their graph nodes (the standard's first two
/// mandatory errors).
fn check_decls(
    q: &Query,
    path: &Path,
    graph: &Graph,
    decls: &[(&TensorDecl, NodeId)],
) -> Result<(), Failure> {
    for (d, id) in decls {
        let node = &graph.nodes[*id];
        let shape: Option<Vec<usize>> = node
            .shape
            .as_known()
            .map(|s| s.iter().map(|&v| v as usize).collect());
        if shape.as_deref() != Some(&d.shape[..]) {
            return Err(mismatch(
                q,
                d,
                path,
                format!(
                    "`{}` is declared {:?}, the model's is {} (symbolic extents bound to 1)",
                    d.name, d.shape, node.shape
                ),
            ));
        }
        let model_elem = elem_of(node.dtype);
        if d.elem != ElemType::Real && d.elem != model_elem {
            return Err(Failure(BoundsError::at(
                codes::ELEMENT_TYPE_MISMATCH,
                q.position(d.loc.start),
                format!(
                    "{}: `{}` is declared {}, the model's is {}",
                    path.display(),
                    d.name,
                    d.elem.name(),
                    model_elem.name()
                ),
            )));
        }
    }
    Ok(())
}

/// Same structure: the same ops with the same attributes, parents and shapes, node by node
/// (params may hold other values).
fn isomorphic(a: &Graph, b: &Graph) -> Result<(), String> {
    if a.nodes.len() != b.nodes.len() || a.inputs != b.inputs || a.outputs.len() != b.outputs.len()
    {
        return Err(format!(
            "{} nodes, {} inputs, {} outputs against {}, {}, {}",
            b.nodes.len(),
            b.inputs.len(),
            b.outputs.len(),
            a.nodes.len(),
            a.inputs.len(),
            a.outputs.len()
        ));
    }
    for (x, y) in a.nodes.iter().zip(&b.nodes) {
        let same_kind = match (&x.kind, &y.kind) {
            (NodeKind::Input, NodeKind::Input)
            | (NodeKind::Param { .. }, NodeKind::Param { .. }) => true,
            (NodeKind::Op { op: o1, attrs: a1 }, NodeKind::Op { op: o2, attrs: a2 }) => {
                o1 == o2 && a1 == a2
            }
            _ => false,
        };
        if !same_kind || x.parents != y.parents || x.shape != y.shape || x.dtype != y.dtype {
            return Err(format!(
                "node {} of the model differs from node {} of its target",
                y.name, x.name
            ));
        }
    }
    Ok(())
}

/// Union-find over input elements.
struct Classes(Vec<usize>);

impl Classes {
    fn find(&mut self, mut i: usize) -> usize {
        while self.0[i] != i {
            self.0[i] = self.0[self.0[i]];
            i = self.0[i];
        }
        i
    }
    fn union(&mut self, a: usize, b: usize) {
        let (a, b) = (self.find(a), self.find(b));
        if a != b {
            self.0[a.max(b)] = a.min(b);
        }
    }
}

/// An element (row-major offset) of a declared variable.
type ElemRef<'q> = (&'q TensorDecl, usize);

/// Every declared variable with its values, in declaration order.
pub type Assignment = Vec<(TensorDecl, Vec<f64>)>;

type WeightFn<'a> = Box<dyn Fn(&str) -> Option<ndarray::ArrayD<f64>> + 'a>;

/// `(== A[i] B[j])` (or `=`) between two input elements.
fn input_equality<'q>(q: &'q Query, b: &BoolExpr) -> Option<(ElemRef<'q>, ElemRef<'q>)> {
    let BoolExpr::Cmp(CmpOp::Eq, Expr::Var(a, ia, _), Expr::Var(c, ic, _), _) = b else {
        return None;
    };
    let (_, da) = q.lookup(a)?;
    let (_, dc) = q.lookup(c)?;
    (da.kind == DeclKind::Input && dc.kind == DeclKind::Input)
        .then(|| ((da, da.offset(ia)), (dc, dc.offset(ic))))
}

pub fn verify(a: &VerifyArgs) -> Result<Answer, Failure> {
    let text = std::fs::read_to_string(&a.query).map_err(|e| {
        fail(
            tl_bounds::codes::IO,
            format!("cannot read {}: {e}", a.query.display()),
        )
    })?;
    let q = vnnlib2::parse(&text).map_err(|e| with_path(&a.query, e))?;
    let at = |e: BoundsError| Failure(with_path(&a.query, e));

    // One element type over the whole query, one tl is sound for.
    let decls: Vec<&TensorDecl> = q.networks.iter().flat_map(|n| n.decls()).collect();
    let elem = decls[0].elem;
    if let Some(d) = decls.iter().find(|d| d.elem != elem) {
        return Err(at(BoundsError::at(
            codes::UNSUPPORTED,
            q.position(d.loc.start),
            format!(
                "`{}` is {} while `{}` is {}: queries mixing element types are not supported",
                d.name,
                d.elem.name(),
                decls[0].name,
                elem.name()
            ),
        )));
    }
    if !SOUND_TYPES.contains(&elem) {
        return Err(at(BoundsError::at(
            codes::UNSOUND_TYPE,
            q.position(decls[0].loc.start),
            format!(
                "`{}` is {}: tl's analysis is sound over the reals (Real) and for f32 executors (float32) only",
                decls[0].name,
                elem.name()
            ),
        )));
    }

    // Which model each network runs: its own --network, or (equal-to) its target's.
    let target_of = |n: &Network| {
        n.equivalence.iter().find_map(|e| match e {
            Equivalence::EqualTo(t, _) => Some(t.clone()),
            _ => None,
        })
    };
    for (name, _) in &a.networks {
        match q.networks.iter().find(|n| &n.name == name) {
            None => {
                return Err(fail(
                    codes::USAGE,
                    format!("--network {name}: the query declares no network `{name}`"),
                ))
            }
            Some(n) if target_of(n).is_some() => {
                return Err(fail(
                    codes::USAGE,
                    format!(
                        "--network {name}: network `{name}` is equal-to `{}` and runs its model; give no model for it",
                        target_of(n).unwrap()
                    ),
                ))
            }
            Some(_) => {}
        }
    }
    let mut model_of: Vec<usize> = Vec::new(); // network -> index into `models`
    let mut models: Vec<Model> = Vec::new();
    for (i, n) in q.networks.iter().enumerate() {
        if let Some(t) = target_of(n) {
            let ti =
                q.networks.iter().position(|m| m.name == t).ok_or_else(|| {
                    fail(codes::SCOPE, format!("`{t}` is not a declared network"))
                })?;
            if ti >= i {
                return Err(fail(
                    codes::SCOPE,
                    format!("`{t}` is declared after `{}`", n.name),
                ));
            }
            let mi = model_of[ti];
            // The target's model, bound to this network's declarations.
            let m = load_model(&models[mi].path.clone(), &q, n)?;
            models.push(m);
            model_of.push(models.len() - 1);
            continue;
        }
        let Some((_, path)) = a.networks.iter().find(|(m, _)| *m == n.name) else {
            return Err(fail(
                codes::USAGE,
                format!(
                    "network `{}` of the query has no --network {}=MODEL.onnx",
                    n.name, n.name
                ),
            ));
        };
        let m = load_model(path, &q, n)?;
        for e in &n.equivalence {
            if let Equivalence::IsomorphicTo(t, loc) = e {
                if let Some(ti) = q
                    .networks
                    .iter()
                    .position(|x| &x.name == t)
                    .filter(|&ti| ti < i)
                {
                    isomorphic(&models[model_of[ti]].graph, &m.graph).map_err(|why| {
                        Failure(BoundsError::at(
                            NOT_ISOMORPHIC,
                            q.position(loc.start),
                            format!(
                                "{}: `{}` is isomorphic-to `{t}`, but its model's structure differs: {why}",
                                path.display(),
                                n.name
                            ),
                        ))
                    })?;
                }
            }
        }
        models.push(m);
        model_of.push(models.len() - 1);
    }

    // Input elements: every declared input's, merged where the query equates them.
    let mut base: HashMap<&str, usize> = HashMap::new();
    let mut n_all = 0usize;
    for n in &q.networks {
        for d in &n.inputs {
            base.insert(&d.name, n_all);
            n_all += d.size();
        }
    }
    let mut classes = Classes((0..n_all).collect());
    for c in q.top_conjuncts() {
        if let Some(((da, ia), (db, ib))) = input_equality(&q, c) {
            classes.union(base[da.name.as_str()] + ia, base[db.name.as_str()] + ib);
        }
    }
    let mut slot_of_class: HashMap<usize, usize> = HashMap::new();
    let mut slot = vec![0usize; n_all];
    for (e, s) in slot.iter_mut().enumerate() {
        let r = classes.find(e);
        let next = slot_of_class.len();
        *s = *slot_of_class.entry(r).or_insert(next);
    }
    let n_in = slot_of_class.len();
    // A name per shared element: the first declared variable element it holds.
    let mut in_names = vec![String::new(); n_in];
    for n in &q.networks {
        for d in &n.inputs {
            for k in 0..d.size() {
                let s = slot[base[d.name.as_str()] + k];
                if in_names[s].is_empty() {
                    in_names[s] = format!("{}{:?}", d.name, d.index_of(k));
                }
            }
        }
    }
    // Output elements: per network, its hidden nodes then its outputs.
    let mut out_base: HashMap<&str, usize> = HashMap::new();
    let mut n_out = 0usize;
    for n in &q.networks {
        for d in n.hidden.iter().chain(&n.outputs) {
            out_base.insert(&d.name, n_out);
            n_out += d.size();
        }
    }
    if n_in == 0 || n_out == 0 {
        return Err(at(BoundsError::at(
            codes::UNSUPPORTED,
            q.position(q.networks[0].loc.start),
            "a query with no input or no output elements cannot be verified",
        )));
    }
    let slot_fn = |d: &TensorDecl, k: usize| match d.kind {
        DeclKind::Input => base.get(d.name.as_str()).map(|b| Slot::Input(slot[b + k])),
        _ => out_base.get(d.name.as_str()).map(|b| Slot::Output(b + k)),
    };
    let skip = |b: &BoolExpr| input_equality(&q, b).is_some();
    let property = q
        .to_property_with(n_in, n_out, &slot_fn, &skip, &|i| in_names[i].clone())
        .map_err(at)?;

    // The composed network.
    let payloads: Vec<WeightFn> = models
        .iter()
        .map(|m| Box::new(move |k: &str| m.weights.get(k).cloned()) as WeightFn)
        .collect();
    let parts: Vec<Part> = q
        .networks
        .iter()
        .zip(&model_of)
        .map(|(n, &mi)| {
            let m = &models[mi];
            // Per graph input (signature order), the shared elements of the declaration bound
            // to it.
            let inputs = m
                .graph
                .inputs
                .iter()
                .map(|gi| {
                    let k = m.inputs.iter().position(|x| x == gi).unwrap();
                    let d = &n.inputs[k];
                    let b = base[d.name.as_str()];
                    (0..d.size()).map(|e| slot[b + e]).collect()
                })
                .collect();
            Part {
                graph: &m.graph,
                payload: &*payloads[mi],
                inputs,
                outputs: m.outputs.clone(),
            }
        })
        .collect();
    let bnet = tl_bounds::BoundNet::compose(n_in, &parts)?;
    let cfg = BabConfig {
        timeout: a.timeout,
        f32_executor: elem == ElemType::Float32,
        // An unsat is answered only when its certificate re-checks independently (below).
        certificate: true,
        ..BabConfig::default()
    };
    let started = std::time::Instant::now();
    let res = tl_bounds::verify(&bnet, &property, &cfg)?;
    Ok(match res.verdict {
        Verdict::Verified {
            certificate: Some(c),
        } => {
            let until = started + a.timeout;
            let stop = move || std::time::Instant::now() >= until;
            match tl_bounds::check_independently_until(&c, &bnet, &property, cfg.f32_executor, &stop) {
                Ok(_) => Answer::Unsat,
                Err(e) if e.code == tl_bounds::codes::TIMED_OUT => Answer::TimedOut,
                Err(e) => Answer::Unknown(format!(
                    "the search proved the query but its certificate does not re-check independently ([{}] {}) [TL0608]",
                    e.code, e.message
                )),
            }
        }
        Verdict::Verified { certificate: None } => {
            Answer::Unknown("the search returned no certificate to re-check [TL0608]".into())
        }
        Verdict::Timeout => Answer::TimedOut,
        Verdict::Unknown(why) => Answer::Unknown(why),
        Verdict::Falsified(cx) => match replay(&q, &models, &model_of, &base, &slot, &cx.x, elem) {
            Ok(Some(values)) => Answer::Sat(values),
            Ok(None) => Answer::Unknown(
                "the counterexample found did not meet the query when replayed on tl's engines"
                    .into(),
            ),
            Err(why) => Answer::Unknown(format!("the counterexample could not be replayed: {why}")),
        },
    })
}

/// Runs every network at the shared input `x` with tl's engines and checks the query on the
/// values: the compiled f32 plan for float32 queries, the f64 reference for Real ones. Returns
/// the assignment when every assertion holds.
#[allow(clippy::too_many_arguments)]
fn replay(
    q: &Query,
    models: &[Model],
    model_of: &[usize],
    base: &HashMap<&str, usize>,
    slot: &[usize],
    x: &[f64],
    elem: ElemType,
) -> Result<Option<Assignment>, String> {
    let mut values: HashMap<String, Vec<f64>> = HashMap::new();
    let mut order: Vec<TensorDecl> = Vec::new();
    for (n, &mi) in q.networks.iter().zip(model_of) {
        let m = &models[mi];
        let mut feeds = BTreeMap::new();
        for (d, &gi) in n.inputs.iter().zip(&m.inputs) {
            let b = base[d.name.as_str()];
            let v: Vec<f64> = (0..d.size()).map(|e| x[slot[b + e]]).collect();
            let t = Tensor::from_f64(&d.shape, v.clone()).map_err(|e| e.to_string())?;
            feeds.insert(m.graph.nodes[gi].name.clone(), t);
            values.insert(d.name.clone(), v);
        }
        let outs: Vec<Vec<f64>> = if elem == ElemType::Float32 {
            let plan =
                tl_kernels::exec::compile(&m.graph, &m.payload).map_err(|e| e.to_string())?;
            let out = plan.run(&feeds).map_err(|e| e.to_string())?;
            m.outputs
                .iter()
                .map(|id| {
                    let name = &m.graph.outputs.iter().find(|(_, o)| o == id).unwrap().0;
                    out.get(name)
                        .map(|t| t.to_f64().iter().copied().collect())
                        .ok_or_else(|| format!("the plan gave no output {name}"))
                })
                .collect::<Result<_, _>>()?
        } else {
            let den = tl_kernels::exec::denote(&m.graph, &m.payload, &feeds)
                .map_err(|e| e.to_string())?;
            m.outputs
                .iter()
                .map(|id| {
                    den.node(*id)
                        .map(|t| t.to_f64().iter().copied().collect())
                        .ok_or_else(|| format!("no value for node {id}"))
                })
                .collect::<Result<_, _>>()?
        };
        for (d, v) in n.hidden.iter().chain(&n.outputs).zip(outs) {
            if v.len() != d.size() {
                return Err(format!(
                    "{} has {} values, {} declared",
                    d.name,
                    v.len(),
                    d.size()
                ));
            }
            values.insert(d.name.clone(), v);
        }
        order.extend(n.decls().cloned());
    }
    let holds = q.holds(&|d, k| {
        values
            .get(&d.name)
            .and_then(|v| v.get(k))
            .copied()
            .unwrap_or(f64::NAN)
    });
    if !holds {
        return Ok(None);
    }
    Ok(Some(
        order
            .into_iter()
            .map(|d| {
                let v = values.remove(&d.name).unwrap_or_default();
                (d, v)
            })
            .collect(),
    ))
}

/// The standard's command-line assignment format: per variable a header `NAME TYPE [dims]`,
/// then one value per line, row-major. float32 values print as the shortest decimal that reads
/// back to the same f32.
pub fn format_assignment(values: &[(TensorDecl, Vec<f64>)]) -> String {
    let mut out = String::new();
    for (d, v) in values {
        let dims: Vec<String> = d.shape.iter().map(|s| s.to_string()).collect();
        out.push_str(&format!(
            "{} {} [{}]\n",
            d.name,
            d.elem.name(),
            dims.join(",")
        ));
        for x in v {
            if d.elem == ElemType::Float32 {
                out.push_str(&format!("{}\n", *x as f32));
            } else {
                out.push_str(&format!("{x}\n"));
            }
        }
    }
    out
}

/// The serialised format: `DIR/NAME.pb`, one ONNX TensorProto per variable, with its name, its
/// element type (float32 as FLOAT, Real as DOUBLE) and its shape.
pub fn serialise(dir: &Path, values: &[(TensorDecl, Vec<f64>)]) -> Result<(), Failure> {
    use prost::Message;
    use tl_kernels::onnx::proto::{tensor_proto::DataType, TensorProto};
    std::fs::create_dir_all(dir).map_err(|e| {
        fail(
            tl_bounds::codes::IO,
            format!("--serialise-assignments {}: {e}", dir.display()),
        )
    })?;
    for (d, v) in values {
        let mut t = TensorProto {
            name: d.name.clone(),
            dims: d.shape.iter().map(|&s| s as i64).collect(),
            ..Default::default()
        };
        if d.elem == ElemType::Float32 {
            t.data_type = DataType::Float as i32;
            t.float_data = v.iter().map(|&x| x as f32).collect();
        } else {
            t.data_type = DataType::Double as i32;
            t.double_data = v.clone();
        }
        let p = dir.join(format!("{}.pb", d.name));
        std::fs::write(&p, t.encode_to_vec()).map_err(|e| {
            fail(
                tl_bounds::codes::IO,
                format!("cannot write {}: {e}", p.display()),
            )
        })?;
    }
    Ok(())
}
