//! `domain_safe(y)` (the BugZoo StableLoss and AutogradDomain cards): every domain-restricted
//! node that `y` depends on keeps its argument inside the op's safe domain over the input set.
//!
//! The restricted nodes and their bad sets (where the value or the gradient is undefined):
//! `log(x)`: x <= 0; `sqrt(x)`: x <= 0 (undefined below 0, infinite gradient at 0); `div(a, b)`:
//! b = 0; `pow(x, e)` with a constant non-integer e: x < 0 when e > 1, x <= 0 when e < 1; with a
//! negative integer e: x = 0; with an exponent that is not one constant: x <= 0.
//!
//! The bound methods (ibp, crown, alpha_crown) bound each argument over the input set: the graph
//! is lowered with the argument (and pow's exponent) as the composed network's output
//! (`BoundNet::compose`), with the f32 executor's rounding carried in the bound, so a range inside
//! the domain holds for the real semantics and the compiled f32 executor (**checked**). A range
//! that reaches the bad set is not a counterexample: tl then searches the set (its corners, the
//! centre, the point with every coordinate that may be 0 set to 0, seeded samples, and sign-
//! gradient descent on the bounded network toward the bad set) and replays each candidate in the
//! f64 reference semantics and the compiled f32 executor. Only a replayed argument inside the bad
//! set makes the claim falsified (TL0572); otherwise the method is unknown and names the node,
//! the op, the derived range and the bad set (TL0571). Sampling replays seeded points only
//! (**tested**, or falsified the same way).

use std::collections::BTreeMap;

use tl_bounds::attack::{f32_point_in_box, Rng};
use tl_bounds::crown::Analysis;
use tl_bounds::{BoundNet, CrownOptions, InputBox, Method as BoundMethod};
use tl_ir::{Graph, NodeKind, Op};
use tl_kernels::{denote, Tensor};

use super::model::{instantiate, values, Model};
use super::sets::box_samples;
use super::{Cx, Failure};
use crate::contracts::Method;
use crate::outcome::{Counterexample, Verdict};

const ALPHA_ITERS: usize = 20;
const ALPHA_LR: f64 = 0.1;
/// Seeded samples the bound methods' witness search replays (beyond its fixed points).
const SEARCH_SAMPLES: u64 = 64;
/// Sign-gradient descent: starts and steps per offending node.
const DESCENT_STARTS: usize = 4;
const DESCENT_STEPS: usize = 40;

/// Where an argument must not go.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Bad {
    /// x <= 0.
    NonPositive,
    /// x < 0.
    Negative,
    /// x = 0.
    Zero,
    /// No bad value (pow by a non-negative integer).
    None,
}

impl Bad {
    /// The bad set as a reader sees it.
    pub fn text(self) -> &'static str {
        match self {
            Bad::NonPositive => "x <= 0",
            Bad::Negative => "x < 0",
            Bad::Zero => "x = 0",
            Bad::None => "none",
        }
    }

    /// Whether the value is in the bad set (NaN is outside every domain).
    pub fn hits(self, v: f64) -> bool {
        if v.is_nan() {
            return self != Bad::None;
        }
        match self {
            Bad::NonPositive => v <= 0.0,
            Bad::Negative => v < 0.0,
            Bad::Zero => v == 0.0,
            Bad::None => false,
        }
    }

    /// Whether the whole range [lo, hi] stays out of the bad set.
    pub fn avoids(self, lo: f64, hi: f64) -> bool {
        if lo.is_nan() || hi.is_nan() {
            return self == Bad::None;
        }
        match self {
            Bad::NonPositive => lo > 0.0,
            Bad::Negative => lo >= 0.0,
            Bad::Zero => lo > 0.0 || hi < 0.0,
            Bad::None => true,
        }
    }

    /// The bad set of pow's base for an exponent range (one constant when `lo == hi`).
    pub fn for_pow(lo: f64, hi: f64) -> Bad {
        if lo != hi || !lo.is_finite() {
            return Bad::NonPositive;
        }
        let e = lo;
        if e.fract() == 0.0 {
            if e >= 0.0 {
                Bad::None
            } else {
                Bad::Zero
            }
        } else if e > 1.0 {
            Bad::Negative
        } else {
            Bad::NonPositive
        }
    }

    /// Why this set is bad for `op`.
    fn why(self, op: Op) -> &'static str {
        match (op, self) {
            (Op::Log, _) => "log is undefined at and below 0",
            (Op::Sqrt, _) => "sqrt is undefined below 0 and its gradient is infinite at 0",
            (Op::Div, _) => "division by 0",
            (Op::Pow, Bad::Zero) => "a negative power of 0 is infinite",
            (Op::Pow, Bad::Negative) => "a non-integer power of a negative base is undefined",
            (Op::Pow, _) => {
                "a power below 1 (or not one constant) is undefined below 0 or has an infinite gradient at 0"
            }
            _ => "outside the op's domain",
        }
    }
}

/// One domain-restricted node of the concrete graph.
#[derive(Clone, Debug)]
struct Site {
    node: usize,
    op: Op,
    /// The restricted argument (log/sqrt's operand, div's denominator, pow's base).
    arg: usize,
    /// pow's exponent, bounded alongside the base.
    exponent: Option<usize>,
}

/// The restricted nodes `output` depends on (itself included), in graph order.
fn sites(g: &Graph, output: usize) -> Vec<Site> {
    let mut needed = vec![false; g.nodes.len()];
    needed[output] = true;
    for id in (0..=output).rev() {
        if needed[id] {
            for &p in &g.nodes[id].parents {
                needed[p] = true;
            }
        }
    }
    let mut out = Vec::new();
    for (id, n) in g.nodes.iter().enumerate() {
        if !needed[id] {
            continue;
        }
        let NodeKind::Op { op, .. } = &n.kind else {
            continue;
        };
        let (arg, exponent) = match (op, n.parents.as_slice()) {
            (Op::Log | Op::Sqrt, [x, ..]) => (*x, None),
            (Op::Div, [_, b, ..]) => (*b, None),
            (Op::Pow, [x, e, ..]) => (*x, Some(*e)),
            _ => continue,
        };
        out.push(Site {
            node: id,
            op: *op,
            arg,
            exponent,
        });
    }
    out
}

/// The contract's graph made concrete, its one input and the input set's box.
struct Setup {
    graph: Graph,
    input: String,
    input_shape: Vec<usize>,
    set: InputBox,
    output: usize,
    sites: Vec<Site>,
    /// Whether symbolic extents were set to 1 (said in the detail).
    instantiated: bool,
}

fn setup(cx: &Cx, output: &str) -> Result<Setup, Failure> {
    let model = cx.model;
    if model.graph.inputs.len() != 1 {
        return Err(Failure::unsupported(format!(
            "domain_safe needs a graph with one input; `{}` has {}",
            model.graph.name,
            model.graph.inputs.len()
        )));
    }
    let instantiated = model
        .graph
        .nodes
        .iter()
        .any(|n| n.shape.as_known().is_none());
    let graph = instantiate(&model.graph, 1)?;
    let out = graph
        .outputs
        .iter()
        .find(|(o, _)| o == output)
        .map(|(_, id)| *id)
        .or_else(|| graph.node_by_name(output))
        .ok_or_else(|| Failure::claim(format!("the graph has no value `{output}`")))?;
    let iid = graph.inputs[0];
    let input = graph.nodes[iid].name.clone();
    let input_shape: Vec<usize> = graph.nodes[iid]
        .shape
        .as_known()
        .map(|s| s.iter().map(|&d| d as usize).collect())
        .ok_or_else(|| Failure::unsupported("the input's shape is not concrete"))?;
    let set = cx
        .set_for(&input)
        .ok_or_else(|| Failure::input(format!("input `{input}` has no `given` set")))?
        .to_box(&input_shape)?;
    let sites = sites(&graph, out);
    Ok(Setup {
        graph,
        input,
        input_shape,
        set,
        output: out,
        sites,
        instantiated,
    })
}

/// The bound network whose output is `nodes`' values, concatenated.
fn net_for(cx: &Cx, s: &Setup, nodes: Vec<usize>) -> Result<BoundNet, Failure> {
    let n: usize = s.input_shape.iter().product();
    let payload = |k: &str| cx.model.f64_param(k);
    let parts = [tl_bounds::lower::Part {
        graph: &s.graph,
        payload: &payload,
        inputs: vec![(0..n).collect()],
        outputs: nodes,
    }];
    BoundNet::compose(n, &parts).map_err(Failure::bounds)
}

fn numel(g: &Graph, id: usize) -> usize {
    g.nodes[id]
        .shape
        .as_known()
        .map_or(0, |s| s.iter().product::<u64>() as usize)
}

/// A site whose derived argument range reaches its bad set.
struct Reach {
    site: usize,
    element: usize,
    lo: f64,
    hi: f64,
    bad: Bad,
    /// The bound network of the argument (first `n_arg` outputs), for the descent.
    net: BoundNet,
}

/// The smallest lower and largest upper end of element ranges.
fn range(lo: &[f64], hi: &[f64]) -> (f64, f64) {
    lo.iter()
        .zip(hi)
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), (l, h)| {
            (a.min(*l), b.max(*h))
        })
}

fn op_name(op: Op) -> &'static str {
    op.name()
}

/// How one argument's range reads in a detail line.
fn describe_site(g: &Graph, site: &Site, lo: f64, hi: f64, bad: Bad) -> String {
    format!(
        "`{}` ({}) takes `{}` in {lo:e}..{hi:e}, bad set {}",
        g.nodes[site.node].name,
        op_name(site.op),
        g.nodes[site.arg].name,
        bad.text()
    )
}

pub(super) fn run(cx: &Cx, output: &str, method: &Method) -> Result<(Verdict, String), Failure> {
    let s = setup(cx, output)?;
    let scope = if s.instantiated {
        " (symbolic extents set to 1)"
    } else {
        ""
    };
    if s.sites.is_empty() {
        return Ok((
            Verdict::Holds,
            format!(
                "`{output}` depends on no domain-restricted node (log, sqrt, div, pow){scope}: nothing can leave its domain"
            ),
        ));
    }
    let (label, bm) = match method {
        Method::Ibp => ("IBP", BoundMethod::Ibp),
        Method::Crown => ("CROWN", BoundMethod::Crown),
        Method::AlphaCrown => (
            "alpha-CROWN",
            BoundMethod::AlphaCrown {
                iters: ALPHA_ITERS,
                lr: ALPHA_LR,
            },
        ),
        Method::Sampling { samples, seed } => {
            let points = box_samples(&s.set, *samples, *seed);
            return Ok(match replay_points(cx, &s, &points)? {
                Some((cex, line)) => (Verdict::Violated { counterexample: cex }, line),
                None => (
                    Verdict::Holds,
                    format!(
                        "{} samples of the input set replayed in the reference semantics and the compiled f32 executor: every argument of the {} domain-restricted node(s) stayed inside its domain{scope}; tested, not checked",
                        points.len(),
                        s.sites.len()
                    ),
                ),
            });
        }
        other => {
            return Err(Failure::unsupported(format!(
                "{} cannot check a domain_safe claim (use ibp, crown, alpha_crown or sampling)",
                other.name()
            )))
        }
    };
    let mut inside = Vec::new();
    let mut rechecked = 0usize;
    let mut reach: Option<Reach> = None;
    for (k, site) in s.sites.iter().enumerate() {
        if cx.opts.cancel.load(std::sync::atomic::Ordering::Relaxed) {
            return Ok((
                Verdict::Unknown {
                    reason: "the run was cancelled".into(),
                },
                String::new(),
            ));
        }
        let mut outs = vec![site.arg];
        outs.extend(site.exponent);
        let net = net_for(cx, &s, outs)?;
        let analysis = Analysis::new(&net, &s.set, bm, CrownOptions::default(), &[])
            .map_err(Failure::bounds)?
            .ok_or_else(|| Failure::input("the input set is empty"))?;
        let (lo, hi) = analysis.output_bounds(bm);
        let n_arg = numel(&s.graph, site.arg);
        let bad = match site.exponent {
            None if site.op == Op::Div => Bad::Zero,
            None => Bad::NonPositive,
            // The exponent broadcasts against the base: one constant over all of it, or the
            // conservative set.
            Some(_) => {
                let (el, eh) = range(&lo[n_arg..], &hi[n_arg..]);
                Bad::for_pow(el, eh)
            }
        };
        let offending = (0..n_arg).find(|&j| !bad.avoids(lo[j], hi[j]));
        let (amin, amax) = range(&lo[..n_arg], &hi[..n_arg]);
        match offending {
            None => {
                inside.push(describe_site(&s.graph, site, amin, amax, bad));
                let property = unsafe_arguments(&s.set, net.output_size(), n_arg, bad, &lo, &hi);
                if let Err(why) = super::bounds::recheck_property(cx, &net, &property) {
                    return Ok((
                        Verdict::Unknown {
                            reason: format!(
                                "{label} keeps `{}`'s argument inside its domain ({}), but the independent checker does not confirm it ({why}) [TL0608]",
                                s.graph.nodes[site.node].name,
                                inside.last().map(String::as_str).unwrap_or_default()
                            ),
                        },
                        format!("{label} over the input set; not re-checked"),
                    ));
                }
                rechecked += 1;
            }
            Some(j) => {
                reach = Some(Reach {
                    site: k,
                    element: j,
                    lo: lo[j],
                    hi: hi[j],
                    bad,
                    net,
                });
                // Later arguments depend on this node's values: their bounds would rest on a
                // value the domain does not allow.
                break;
            }
        }
    }
    let Some(r) = reach else {
        return Ok((
            Verdict::Holds,
            format!(
                "{label} over the input set{scope}, f32 executor rounding included: every argument stays inside its domain: {}; the {rechecked} range{} re-check{} independently (a checker that shares no bound code with {label})",
                inside.join("; "),
                if rechecked == 1 { "" } else { "s" },
                if rechecked == 1 { "s" } else { "" },
            ),
        ));
    };
    let site = &s.sites[r.site];
    let derived = format!(
        "{label} derives a range for element {} of `{}`'s argument that reaches the bad set: {}; {}",
        r.element,
        s.graph.nodes[site.node].name,
        describe_site(&s.graph, site, r.lo, r.hi, r.bad),
        r.bad.why(site.op)
    );
    let points = witness_candidates(&s, &r);
    if let Some((cex, line)) = replay_points(cx, &s, &points)? {
        return Ok((
            Verdict::Violated {
                counterexample: cex,
            },
            format!("{line}; {derived}"),
        ));
    }
    Ok((
        Verdict::Unknown {
            reason: format!(
                "{derived}; no replayed input of the {} tried reaches it, so this is not a counterexample [TL0571]",
                points.len()
            ),
        },
        String::new(),
    ))
}

/// The unsafe set of one site's argument as a property for the independent checker: for every
/// element, the half-space of the bad set on the side its range lies (a division's
/// denominator may sit below 0 as well as above).
fn unsafe_arguments(
    set: &InputBox,
    n_outputs: usize,
    n_arg: usize,
    bad: Bad,
    lo: &[f64],
    hi: &[f64],
) -> tl_bounds::Property {
    let mut disjuncts = Vec::new();
    for j in 0..n_arg {
        // y_j <= 0 (sign 1), y_j >= 0 (sign -1); strict for x < 0.
        let (sign, strict) = match bad {
            Bad::None => continue,
            Bad::NonPositive => (1.0, false),
            Bad::Negative => (1.0, true),
            Bad::Zero if lo[j] > 0.0 => (1.0, false),
            Bad::Zero if hi[j] < 0.0 => (-1.0, false),
            // Not reached: the range avoids the bad set on one side, or the site was reported.
            Bad::Zero => (1.0, false),
        };
        let mut coeffs = vec![0.0; n_outputs];
        coeffs[j] = sign;
        disjuncts.push(vec![tl_bounds::OutputConstraint {
            coeffs,
            rhs: 0.0,
            strict,
        }]);
    }
    tl_bounds::Property {
        n_inputs: set.lower.len(),
        n_outputs,
        cases: vec![tl_bounds::Case {
            input: set.clone(),
            disjuncts,
        }],
    }
}

/// Points of the set to replay: corners, centre, zeros, seeded samples, and sign-gradient
/// descent of the offending element toward its bad set.
fn witness_candidates(s: &Setup, r: &Reach) -> Vec<Vec<f64>> {
    let b = &s.set;
    let mut pts = box_samples(b, SEARCH_SAMPLES, 0);
    pts.push(b.center());
    let zeros: Vec<f64> = b
        .lower
        .iter()
        .zip(&b.upper)
        .map(|(&l, &u)| {
            if l <= 0.0 && 0.0 <= u {
                0.0
            } else {
                (l + u) / 2.0
            }
        })
        .collect();
    pts.push(zeros);
    let n_out = r.net.nodes[r.net.output].size;
    let mut rng = Rng(0xD0_3A11);
    for start in 0..DESCENT_STARTS {
        let mut x = if start == 0 { b.center() } else { rng.point(b) };
        for _ in 0..DESCENT_STEPS {
            // tl-kernels' reference semantics of the source graph and its reverse sweep.
            let Some(Ok(y)) = r.net.exec.as_deref().map(|e| e.reference(&x)) else {
                break;
            };
            let v = y[r.element];
            if r.bad.hits(v) {
                break;
            }
            // Minimise the argument (x <= 0, x < 0) or its magnitude (x = 0).
            let mut w = vec![0.0; n_out];
            w[r.element] = if r.bad == Bad::Zero && v < 0.0 {
                -1.0
            } else {
                1.0
            };
            let Some(Ok(g)) = r.net.exec.as_deref().map(|e| e.reference_gradient(&x, &w)) else {
                break;
            };
            for (i, xi) in x.iter_mut().enumerate() {
                let step = (b.upper[i] - b.lower[i]) / 16.0;
                *xi = (*xi - step * g[i].signum()).clamp(b.lower[i], b.upper[i]);
            }
        }
        pts.push(x);
    }
    pts.into_iter()
        .map(|p| f32_point_in_box(&p, b).unwrap_or_else(|| b.center()))
        .collect()
}

/// Values of `id` in one engine's run: an input, a param, or a computed node.
fn node_values(
    g: &Graph,
    model: &Model,
    id: usize,
    inputs: &BTreeMap<String, Tensor>,
    outs: &BTreeMap<String, Tensor>,
) -> Option<Vec<f64>> {
    let n = &g.nodes[id];
    match &n.kind {
        NodeKind::Input => inputs.get(&n.name).map(values),
        NodeKind::Param { key } => model.params.get(key).map(values),
        NodeKind::Op { .. } => outs.get(&n.name).map(values),
    }
}

/// Replays `points` in the f64 reference semantics and the compiled f32 executor; the first point
/// where some restricted node's argument lands in its bad set (in either engine), as a
/// counterexample with its line.
fn replay_points(
    cx: &Cx,
    s: &Setup,
    points: &[Vec<f64>],
) -> Result<Option<(Counterexample, String)>, Failure> {
    let g = &s.graph;
    let mut names: Vec<String> = Vec::new();
    for site in &s.sites {
        for id in [Some(site.arg), site.exponent].into_iter().flatten() {
            if matches!(g.nodes[id].kind, NodeKind::Op { .. }) {
                names.push(g.nodes[id].name.clone());
            }
        }
    }
    names.push(g.nodes[s.output].name.clone());
    let model = Model {
        graph: s.graph.clone(),
        params: cx.model.params.clone(),
    }
    .with_outputs(&names)?;
    let plan = model.compile()?;
    for x in points {
        if cx.opts.cancel.load(std::sync::atomic::Ordering::Relaxed) {
            return Ok(None);
        }
        let t = Tensor::from_f64(&s.input_shape, x.clone())
            .map_err(|e| Failure::input(e.to_string()))?;
        let inputs = BTreeMap::from([(s.input.clone(), t)]);
        let compiled = plan.run(&inputs).map_err(Failure::exec)?;
        let reference = denote(&model.graph, &model.params, &inputs).map_err(Failure::exec)?;
        let ref_outs: BTreeMap<String, Tensor> = names
            .iter()
            .filter_map(|n| {
                reference
                    .get(n)
                    .or_else(|| reference.output(n))
                    .map(|t| (n.clone(), t.clone()))
            })
            .collect();
        for site in &s.sites {
            let engines = [
                ("reference semantics (f64)", &ref_outs),
                ("compiled f32 executor", &compiled),
            ];
            for (engine, outs) in engines {
                let Some(arg) = node_values(g, &model, site.arg, &inputs, outs) else {
                    continue;
                };
                let bad = match site.exponent {
                    None if site.op == Op::Div => Bad::Zero,
                    None => Bad::NonPositive,
                    Some(e) => {
                        let ev = node_values(g, &model, e, &inputs, outs).unwrap_or_default();
                        let (lo, hi) = range(&ev, &ev);
                        Bad::for_pow(lo, hi)
                    }
                };
                if let Some((j, v)) = arg.iter().enumerate().find(|(_, v)| bad.hits(**v)) {
                    let out_name = g.nodes[s.output].name.clone();
                    let out_vals = compiled.get(&out_name).map(values).unwrap_or_default();
                    let out_shape = compiled
                        .get(&out_name)
                        .map(|t| t.shape().to_vec())
                        .unwrap_or_default();
                    let cex = Counterexample {
                        inputs: vec![(s.input.clone(), s.input_shape.clone(), x.clone())],
                        outputs: vec![(out_name, out_shape, out_vals)],
                        confirmed_on: format!("the {engine}"),
                    };
                    let line = format!(
                        "replayed in the {engine}: `{}` ({}) gets argument `{}`[{j}] = {v:e}, in its bad set {} ({}) [TL0572]",
                        g.nodes[site.node].name,
                        op_name(site.op),
                        g.nodes[site.arg].name,
                        bad.text(),
                        bad.why(site.op)
                    );
                    return Ok(Some((cex, line)));
                }
            }
        }
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::Bad;

    #[test]
    fn bad_sets_follow_each_ops_domain() {
        assert!(Bad::NonPositive.hits(0.0) && !Bad::NonPositive.hits(1e-30));
        assert!(Bad::Zero.hits(0.0) && !Bad::Zero.hits(-1.0));
        assert!(Bad::Negative.hits(-1e-30) && !Bad::Negative.hits(0.0));
        assert!(Bad::NonPositive.hits(f64::NAN));
        assert!(Bad::Zero.avoids(-2.0, -1.0) && !Bad::Zero.avoids(-1.0, 1.0));
        assert!(!Bad::NonPositive.avoids(0.0, 1.0) && Bad::NonPositive.avoids(1e-6, 1.0));
        assert_eq!(Bad::for_pow(2.0, 2.0), Bad::None);
        assert_eq!(Bad::for_pow(-1.0, -1.0), Bad::Zero);
        assert_eq!(Bad::for_pow(1.5, 1.5), Bad::Negative);
        assert_eq!(Bad::for_pow(0.5, 0.5), Bad::NonPositive);
        assert_eq!(Bad::for_pow(1.0, 2.0), Bad::NonPositive);
    }
}
