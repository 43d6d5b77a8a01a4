//! ibp, crown, alpha_crown and bab: the claim as a VNN-LIB unsafe set, decided by tl-bounds.
//!
//! Bounds are computed with the bounds crate's f32-executor margin on (`CrownOptions::f32_executor`
//! and `BabConfig::f32_executor`), so "holds" means: sound over the reals and for an f32 executor
//! whose per-layer rounding error the crate bounds. A counterexample from branch and bound is
//! re-executed by the compiled f32 plan before it is reported.

use std::collections::BTreeMap;
use std::time::Duration;

use ndarray::Array2;
use tl_bounds::{
    compute_bounds, BabConfig, BoundNet, Branching, CrownOptions, Method as BoundMethod, Property,
};
use tl_kernels::Tensor;

use super::claims::{self, property_violated, RowClaim};
use super::model::{instantiate, values};
use super::{Cx, Failure};
use crate::contracts::{Claim, Method};
use crate::outcome::{Counterexample, Verdict};

/// The default branch-and-bound time limit when neither the contract nor the run sets one.
const DEFAULT_BAB_TIMEOUT: Duration = Duration::from_secs(60);
const ALPHA_ITERS: usize = 20;
const ALPHA_LR: f64 = 0.1;

/// A claim ready for the bounds crate.
pub(super) struct Problem {
    pub(super) net: BoundNet,
    pub(super) property: Property,
    /// Row form (None for a VNN-LIB property), to confirm counterexamples.
    pub(super) rows: Option<RowClaim>,
    pub(super) node: String,
    pub(super) input: String,
    pub(super) input_shape: Vec<usize>,
}

pub(super) fn run(cx: &Cx, method: &Method) -> Result<(Verdict, String), Failure> {
    let problem = problem(cx)?;
    match method {
        Method::Bab {
            timeout_ms,
            max_nodes,
            split,
        } => bab(cx, &problem, *timeout_ms, *max_nodes, split.as_deref()),
        Method::Ibp => bound(cx, &problem, BoundMethod::Ibp, "IBP"),
        Method::Crown => bound(cx, &problem, BoundMethod::Crown, "CROWN"),
        Method::AlphaCrown => bound(
            cx,
            &problem,
            BoundMethod::AlphaCrown {
                iters: ALPHA_ITERS,
                lr: ALPHA_LR,
            },
            "alpha-CROWN",
        ),
        other => Err(Failure::unsupported(format!(
            "{} is not a bound method",
            other.name()
        ))),
    }
}

pub(super) fn problem(cx: &Cx) -> Result<Problem, Failure> {
    let graph = &cx.model.graph;
    if graph.inputs.len() != 1 {
        return Err(Failure::unsupported(format!(
            "bound methods need a graph with one input; {} has {}",
            graph.name,
            graph.inputs.len()
        )));
    }
    let (input_id, input) = cx.model.inputs().remove(0);
    let node = match cx.claim {
        Claim::VnnLib { .. } => graph
            .outputs
            .first()
            .map(|(n, _)| n.clone())
            .ok_or_else(|| Failure::claim("the graph has no output"))?,
        c => claims::claim_node(c)?,
    };
    let with_node = cx.model.with_outputs(std::slice::from_ref(&node))?;
    let concrete = instantiate(&with_node.graph, 1)?;
    let input_shape: Vec<usize> = known(&concrete.nodes[input_id].shape)?;
    let node_id = concrete
        .outputs
        .iter()
        .find(|(n, _)| *n == node)
        .map(|(_, id)| *id)
        .ok_or_else(|| Failure::claim(format!("no node `{node}`")))?;
    let node_shape = known(&concrete.nodes[node_id].shape)?;
    let payload = |key: &str| cx.model.f64_param(key);
    let net = BoundNet::from_graph(&concrete, &payload, Some(&node)).map_err(Failure::bounds)?;
    let (property, rows) = match cx.claim {
        Claim::VnnLib { .. } => {
            let path =
                cx.p.vnnlib
                    .as_ref()
                    .ok_or_else(|| Failure::input("no VNN-LIB file"))?;
            let prop = tl_bounds::vnnlib::load(path).map_err(|e| {
                Failure::input(format!("{}: {} [{}]", path.display(), e.message, e.code))
            })?;
            (prop, None)
        }
        c => {
            let set = cx
                .set_for(&input)
                .ok_or_else(|| Failure::input(format!("input `{input}` has no `given` set")))?;
            let b = set.to_box(&input_shape)?;
            let rc = claims::rows(c, &node, &node_shape)?;
            (rc.property(b), Some(rc))
        }
    };
    Ok(Problem {
        net,
        property,
        rows,
        node,
        input,
        input_shape,
    })
}

fn known(shape: &tl_ir::Shape) -> Result<Vec<usize>, Failure> {
    shape
        .as_known()
        .map(|s| s.iter().map(|&d| d as usize).collect())
        .ok_or_else(|| Failure::unsupported(format!("shape {shape} is not concrete")))
}

/// Leaves the re-check may split the input box into (per case) before it gives up.
const RECHECK_MAX_LEAVES: usize = 256;
/// The re-check's time limit when the run sets none (or a longer one).
const RECHECK_LIMIT: Duration = Duration::from_secs(10);

/// The independent checker (`tl_bounds::check_independently`) on the claim: it re-derives the
/// bound of every refuting row with its own interval and linear rules, the f32 executor margin
/// included. It is looser than CROWN, so where it cannot refute a box the box is bisected along
/// its widest side (breadth first, at most `RECHECK_MAX_LEAVES` leaves per case) and the split
/// tree becomes the certificate, which the checker then walks from each case's box and
/// re-derives leaf by leaf. Not confirmed within the budget: the method is unknown, never
/// checked. Returns the number of leaves.
fn recheck(cx: &Cx, p: &Problem) -> Result<usize, String> {
    recheck_property(cx, &p.net, &p.property)
}

/// [`recheck`] on any net and property (the domain check re-checks its argument ranges too).
pub(super) fn recheck_property(
    cx: &Cx,
    net: &tl_bounds::BoundNet,
    property: &tl_bounds::Property,
) -> Result<usize, String> {
    use tl_bounds::certificate::{CaseCertificate, CertNode};
    let limit = cx
        .opts
        .timeout
        .map_or(RECHECK_LIMIT, |t| t.min(RECHECK_LIMIT));
    let until = std::time::Instant::now() + limit;
    let cancel = cx.opts.cancel.clone();
    let stop = move || {
        cancel.load(std::sync::atomic::Ordering::Relaxed) || std::time::Instant::now() >= until
    };
    let mut cases = Vec::with_capacity(property.cases.len());
    for (k, case) in property.cases.iter().enumerate() {
        let mut nodes = vec![CertNode::Open];
        let mut queue = std::collections::VecDeque::from([(
            0usize,
            case.input.lower.clone(),
            case.input.upper.clone(),
        )]);
        let mut leaves = 1usize;
        while let Some((id, lo, hi)) = queue.pop_front() {
            if stop() {
                return Err(format!(
                    "[TL0640] the re-check ran past {} ms or was cancelled",
                    limit.as_millis()
                ));
            }
            let err = match tl_bounds::refutes_box(net, case, &lo, &hi, true) {
                Ok(()) => {
                    nodes[id] = CertNode::Leaf {
                        empty: false,
                        bounds: vec![],
                        alphas: None,
                    };
                    continue;
                }
                Err(e) => e,
            };
            let widest = (0..lo.len())
                .filter(|&d| lo[d] < hi[d])
                .max_by(|&a, &b| (hi[a] - lo[a]).total_cmp(&(hi[b] - lo[b])));
            let mid = widest.map(|d| (d, lo[d] + (hi[d] - lo[d]) / 2.0));
            let split = mid.filter(|&(d, m)| lo[d] < m && m < hi[d]);
            let (Some((dim, mid)), true, true) = (
                split,
                err.code == tl_bounds::codes::CERT_REJECTED,
                leaves < RECHECK_MAX_LEAVES,
            ) else {
                let at = if leaves == 1 {
                    "over the whole box".to_string()
                } else {
                    format!("on a sub-box after {leaves} leaves")
                };
                return Err(format!("case {k}, {at}: [{}] {}", err.code, err.message));
            };
            let (a, b) = (nodes.len(), nodes.len() + 1);
            nodes.push(CertNode::Open);
            nodes.push(CertNode::Open);
            nodes[id] = CertNode::InputSplit {
                dim,
                mid,
                children: [a, b],
            };
            let (mut hi_a, mut lo_b) = (hi.clone(), lo.clone());
            hi_a[dim] = mid;
            lo_b[dim] = mid;
            queue.push_back((a, lo, hi_a));
            queue.push_back((b, lo_b, hi));
            leaves += 1;
        }
        cases.push(CaseCertificate { case: k, nodes });
    }
    let cert = tl_bounds::Certificate {
        version: 1,
        f32_executor: true,
        cases,
    };
    tl_bounds::check_independently_until(&cert, net, property, true, &stop)
        .map(|r| r.leaves)
        .map_err(|e| format!("[{}] {}", e.code, e.message))
}

/// One bound computation: holds iff every disjunct of every case is refuted by some row, and
/// the refutation re-checks in the independent checker (one leaf per case: the whole box).
pub(super) fn bound(
    cx: &Cx,
    p: &Problem,
    method: BoundMethod,
    label: &str,
) -> Result<(Verdict, String), Failure> {
    let mut worst: Option<(f64, usize, usize)> = None;
    for (k, case) in p.property.cases.iter().enumerate() {
        let rows: Vec<&tl_bounds::OutputConstraint> = case.disjuncts.iter().flatten().collect();
        let n = p.property.n_outputs;
        let mut c = Array2::zeros((rows.len().max(1), n));
        for (r, con) in rows.iter().enumerate() {
            for (j, v) in con.coeffs.iter().enumerate() {
                c[[r, j]] = *v;
            }
        }
        let b = compute_bounds(
            &p.net,
            &case.input,
            method,
            Some(&c),
            CrownOptions::default(),
        )
        .map_err(Failure::bounds)?;
        let mut r = 0;
        for (d, disjunct) in case.disjuncts.iter().enumerate() {
            // The disjunct is unreachable when one of its constraints cannot be met: its lower
            // bound exceeds the right-hand side. Margin > 0 refutes.
            let best = disjunct
                .iter()
                .enumerate()
                .map(|(i, con)| {
                    let margin = b.lower[r + i] - con.rhs;
                    if con.strict && margin == 0.0 {
                        f64::MIN_POSITIVE
                    } else {
                        margin
                    }
                })
                .fold(f64::NEG_INFINITY, f64::max);
            r += disjunct.len();
            if best <= 0.0 && worst.is_none_or(|w| best < w.0) {
                worst = Some((best, k, d));
            }
        }
    }
    let scope =
        "sound over the reals and for an f32 executor (bounds include the f32 rounding margin)";
    Ok(match worst {
        None => match recheck(cx, p) {
            Ok(leaves) => (
                Verdict::Holds,
                format!("{label} bounds exclude the unsafe set over the input box; the refutation re-checks independently ({leaves} box{} re-derived by a checker that shares no bound code with {label}); {scope}", if leaves == 1 { "" } else { "es" }),
            ),
            Err(why) => (
                Verdict::Unknown {
                    reason: format!(
                        "{label} bounds exclude the unsafe set over the input box, but the independent checker does not confirm it ({why}) [TL0608]"
                    ),
                },
                format!("{label} over the input box; not re-checked"),
            ),
        },
        Some((margin, case, d)) => {
            let what = p
                .rows
                .as_ref()
                .and_then(|rc| rc.rows.get(d))
                .map(|r| format!("`{}`", r.text))
                .unwrap_or_else(|| format!("case {case}, disjunct {d}"));
            (
                Verdict::Unknown {
                    reason: format!(
                        "{label} bounds cannot prove {what}: margin {margin:.4e} (needs > 0)"
                    ),
                },
                format!("{label} over the input box; bounds too loose"),
            )
        }
    })
}

fn bab(
    cx: &Cx,
    p: &Problem,
    timeout_ms: Option<u64>,
    max_nodes: Option<u64>,
    split: Option<&str>,
) -> Result<(Verdict, String), Failure> {
    bab_with(cx, p, timeout_ms, max_nodes, split, &|x| confirm(cx, p, x))
}

/// A confirmation: re-runs a candidate input on the compiled executor(s), `Some` when the claim
/// fails there.
pub(super) type Confirm<'a> = dyn Fn(&[f64]) -> Result<Option<Counterexample>, Failure> + 'a;

/// Branch and bound on `p`, a counterexample reported only when `confirm` replays it.
pub(super) fn bab_with(
    cx: &Cx,
    p: &Problem,
    timeout_ms: Option<u64>,
    max_nodes: Option<u64>,
    split: Option<&str>,
    confirm: &Confirm,
) -> Result<(Verdict, String), Failure> {
    let mut timeout = timeout_ms.map_or(DEFAULT_BAB_TIMEOUT, Duration::from_millis);
    if let Some(cap) = cx.opts.timeout {
        timeout = timeout.min(cap);
    }
    let defaults = BabConfig::default();
    let cfg = BabConfig {
        timeout,
        max_domains: max_nodes.map_or(defaults.max_domains, |n| n as usize),
        threads: cx.opts.bab_threads.max(1),
        branching: match split {
            Some("relu") => Branching::Relu,
            _ => Branching::Input,
        },
        f32_executor: true,
        cancel: cx.opts.cancel.clone(),
        // A refutation counts only when its certificate re-checks independently (below).
        certificate: true,
        ..defaults
    };
    let started = std::time::Instant::now();
    let result = tl_bounds::verify(&p.net, &p.property, &cfg).map_err(Failure::bounds)?;
    let stats = format!(
        "{} domains, depth {}, {:.2} s",
        result.stats.domains, result.stats.max_depth, result.stats.elapsed_s
    );
    Ok(match result.verdict {
        tl_bounds::Verdict::Verified { certificate } => {
            let recheck = match &certificate {
                None => Err((false, "the search returned no certificate".to_string())),
                Some(c) => {
                    // The re-check shares the search's time limit and cancellation.
                    let until = started + timeout;
                    let cancel = cx.opts.cancel.clone();
                    let stop = move || {
                        std::time::Instant::now() >= until || cancel.load(std::sync::atomic::Ordering::Relaxed)
                    };
                    tl_bounds::check_independently_until(c, &p.net, &p.property, true, &stop)
                        .map_err(|e| (e.code == tl_bounds::codes::TIMED_OUT, format!("[{}] {}", e.code, e.message)))
                }
            };
            match recheck {
                Ok(r) => (
                    Verdict::Holds,
                    format!(
                        "branch and bound refuted every domain ({stats}); its certificate re-checks independently ({} leaves re-derived by a checker that shares no bound code with the search); sound over the reals and for an f32 executor (bounds include the f32 rounding margin)",
                        r.leaves
                    ),
                ),
                Err((true, why)) => (
                    Verdict::Timeout,
                    format!("no answer within {} ms: branch and bound refuted every domain ({stats}) but the independent re-check of its certificate did not finish ({why})", timeout.as_millis()),
                ),
                Err((false, why)) => (
                    Verdict::Unknown {
                        reason: format!(
                            "branch and bound refuted every domain ({stats}) but its certificate does not re-check independently ({why}) [TL0608]"
                        ),
                    },
                    stats,
                ),
            }
        }
        tl_bounds::Verdict::Falsified(found) => match confirm(&found.x)? {
            Some(cex) => (
                Verdict::Violated {
                    counterexample: cex,
                },
                format!("branch and bound found a counterexample ({stats}), confirmed by the compiled f32 executor"),
            ),
            None => (
                Verdict::Unknown {
                    reason: "branch and bound reported a counterexample that the compiled f32 executor does not confirm".into(),
                },
                stats,
            ),
        },
        tl_bounds::Verdict::Unknown(why) => (Verdict::Unknown { reason: why }, stats),
        tl_bounds::Verdict::Timeout => (
            Verdict::Timeout,
            format!("no answer within {} ms ({stats})", timeout.as_millis()),
        ),
    })
}

/// Re-runs `x` on the compiled f32 plan and checks that the claim fails there.
pub(super) fn confirm(cx: &Cx, p: &Problem, x: &[f64]) -> Result<Option<Counterexample>, Failure> {
    let model = cx.model.with_outputs(std::slice::from_ref(&p.node))?;
    let plan = model.compile()?;
    let input =
        Tensor::from_f64(&p.input_shape, x.to_vec()).map_err(|e| Failure::input(e.to_string()))?;
    let inputs = BTreeMap::from([(p.input.clone(), input)]);
    let out = plan.run(&inputs).map_err(Failure::exec)?;
    let y_t = out
        .get(&p.node)
        .ok_or_else(|| Failure::claim(format!("no value for `{}`", p.node)))?;
    let y = values(y_t);
    let violated = match &p.rows {
        Some(rc) => !rc.holds(&y),
        None => property_violated(&p.property, x, &y),
    };
    Ok(violated.then(|| Counterexample {
        inputs: vec![(p.input.clone(), p.input_shape.clone(), x.to_vec())],
        outputs: vec![(p.node.clone(), y_t.shape().to_vec(), y)],
        confirmed_on: Counterexample::compiled_executor(),
    }))
}
