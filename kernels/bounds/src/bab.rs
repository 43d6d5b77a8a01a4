//! Branch and bound over a property: attack first, then split the input box (or relu neurons)
//! until every domain is refuted by CROWN / alpha-CROWN, a confirmed counterexample turns up, or
//! a limit is hit. Both cores work through batches of domains (rayon).

use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ndarray::{Array1, Array2};
use rayon::prelude::*;

use crate::attack::{attack, confirm, AttackConfig, Counterexample, Rng};
use crate::certificate::{CaseCertificate, CertNode, Certificate, LeafBound};
use crate::crown::{Analysis, CrownOptions, InputBox, Method, ReluSplit};
use crate::error::{codes, BoundsError, Result};
use crate::net::{BoundNet, Layer};
use crate::rounding::{down, U32};
use crate::stop::{is_stop, Stop, StopReason};
use crate::vnnlib::{Case, Property};

/// An axis this many times wider (relative to the case's box) than the smear heuristic's pick is
/// split first.
const WIDTH_RATIO: f64 = 64.0;

/// What to split.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Branching {
    /// Halve the input axis with the largest |coefficient| x width (best for few inputs).
    Input,
    /// Fix the unstable relu with the largest coefficient x relaxation gap to either side.
    Relu,
}

/// Limits and knobs of the search.
#[derive(Clone, Debug)]
pub struct BabConfig {
    pub timeout: Duration,
    /// Domains processed before giving up with `Unknown`.
    pub max_domains: usize,
    pub threads: usize,
    /// Set to true (e.g. on Ctrl-C) to stop with `Unknown`.
    pub cancel: Arc<AtomicBool>,
    pub branching: Branching,
    /// alpha-CROWN steps on domains CROWN cannot refute (0: CROWN only).
    pub alpha_iters: usize,
    pub attack: AttackConfig,
    /// Require the margin of an f32 executor too (docs/bounds.md).
    pub f32_executor: bool,
    pub certificate: bool,
    pub seed: u64,
    /// An absolute deadline on top of `timeout` (e.g. counted from before the import), if any.
    pub deadline: Option<Instant>,
    /// Bytes the network, the workers' bound passes and the open domains may take together; the
    /// answer is `unknown` (naming the ceiling) rather than exhausting memory.
    pub memory_limit: usize,
}

/// The default memory ceiling: 4 GiB.
pub const DEFAULT_MEMORY_LIMIT: usize = 4 << 30;

impl Default for BabConfig {
    fn default() -> Self {
        BabConfig {
            timeout: Duration::from_secs(60),
            max_domains: 2_000_000,
            threads: std::thread::available_parallelism().map_or(2, |n| n.get()),
            cancel: Arc::new(AtomicBool::new(false)),
            branching: Branching::Input,
            alpha_iters: 0,
            attack: AttackConfig::default(),
            f32_executor: true,
            certificate: false,
            seed: 0x5EED,
            deadline: None,
            memory_limit: DEFAULT_MEMORY_LIMIT,
        }
    }
}

/// The answer.
#[derive(Clone, Debug, PartialEq)]
pub enum Verdict {
    /// No input in any box reaches the unsafe set ("unsat").
    Verified {
        certificate: Option<Certificate>,
    },
    /// A confirmed counterexample ("sat").
    Falsified(Counterexample),
    /// Gave up (domain limit, cancelled, unsupported) without an answer.
    Unknown(String),
    Timeout,
}

/// Counters of a run.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize)]
pub struct Stats {
    pub domains: usize,
    pub max_depth: usize,
    pub elapsed_s: f64,
}

#[derive(Clone, Debug)]
struct Domain {
    input: InputBox,
    splits: Vec<ReluSplit>,
    node: usize,
    depth: usize,
}

enum Outcome {
    Refuted(CertNode),
    Found(Counterexample),
    Split(Vec<(Domain, CertNodeKind)>, SplitKind),
    /// Neither refuted nor splittable (narrower than f64 resolution): set aside, so the search
    /// can still find a counterexample elsewhere; the answer can then no longer be `unsat`.
    Undecided(String),
}

/// What a child domain is, for the certificate.
#[derive(Clone, Copy)]
enum CertNodeKind {
    Child,
}

#[derive(Clone, Copy)]
enum SplitKind {
    Input { dim: usize, mid: f64 },
    Relu { layer: usize, neuron: usize },
}

/// The property rows of one case as a spec matrix: row r is `C[r] y <= rhs[r]`.
pub(crate) struct CaseSpec {
    pub c: Array2<f64>,
    pub rhs: Array1<f64>,
    /// Rows of each disjunct.
    pub rows: Vec<std::ops::Range<usize>>,
}

impl CaseSpec {
    pub fn new(case: &Case, n_out: usize) -> CaseSpec {
        let total: usize = case.disjuncts.iter().map(Vec::len).sum();
        let mut c = Array2::zeros((total.max(1), n_out));
        let mut rhs = Array1::zeros(total.max(1));
        let mut rows = Vec::new();
        let mut r = 0;
        for d in &case.disjuncts {
            let start = r;
            for con in d {
                for (j, v) in con.coeffs.iter().enumerate() {
                    c[[r, j]] = *v;
                }
                rhs[r] = con.rhs;
                r += 1;
            }
            rows.push(start..r);
        }
        CaseSpec { c, rhs, rows }
    }

    /// For each disjunct, the row that refutes it (lower slack above the margin), if any.
    pub fn refuting_rows(&self, lower: &Array1<f64>, margin: &Array1<f64>) -> Vec<Option<usize>> {
        self.rows
            .iter()
            .map(|range| {
                range
                    .clone()
                    .find(|&r| down(lower[r] - self.rhs[r], 0.0) > margin[r])
            })
            .collect()
    }
}

/// Extra margin per row on top of the bounds (zero: the f32 executor's error is already inside
/// the bounds when `CrownOptions::f32_executor` is on).
pub(crate) fn row_margins(spec: &CaseSpec) -> Array1<f64> {
    Array1::zeros(spec.c.nrows())
}

struct Search<'a> {
    net: &'a BoundNet,
    case: &'a Case,
    case_index: usize,
    spec: CaseSpec,
    cfg: &'a BabConfig,
    opts: CrownOptions,
    stop: Stop,
}

impl Search<'_> {
    fn process(&self, d: &Domain) -> Result<Outcome> {
        let Some(an) = Analysis::with_stop(
            self.net,
            &d.input,
            Method::Crown,
            self.opts,
            &d.splits,
            &self.stop,
        )?
        else {
            return Ok(Outcome::Refuted(CertNode::Leaf {
                empty: true,
                bounds: Vec::new(),
                alphas: None,
            }));
        };
        let margin = row_margins(&self.spec);
        let mut lb = an.spec_lower(&self.spec.c, None);
        let mut refuting = self.spec.refuting_rows(&lb.lower, &margin);
        let mut alphas = None;
        if refuting.iter().any(Option::is_none) && self.cfg.alpha_iters > 0 {
            let opt =
                crate::alpha::optimize_with_alphas(&an, &self.spec.c, self.cfg.alpha_iters, 0.1);
            let r2 = self.spec.refuting_rows(&opt.0.lower, &margin);
            if r2.iter().all(Option::is_some) {
                lb = opt.0;
                refuting = r2;
                alphas = Some(opt.1);
            }
        }
        // A stopped pass bounds nothing: say so instead of splitting on `-inf`.
        self.stop.check("branch and bound")?;
        if refuting.iter().all(Option::is_some) {
            let bounds = refuting
                .iter()
                .map(|r| {
                    let r = r.expect("all refuted");
                    LeafBound {
                        row: r,
                        lower: lb.lower[r],
                        a_in: lb.a_in.row(r).to_vec(),
                        bias: lb.bias[r],
                    }
                })
                .collect();
            return Ok(Outcome::Refuted(CertNode::Leaf {
                empty: false,
                bounds,
                alphas: alphas.map(|a| {
                    a.into_iter()
                        .map(|(k, v)| (k, v.outer_iter().map(|r| r.to_vec()).collect()))
                        .collect()
                }),
            }));
        }
        // Cheap falsification: the centre and the corner minimising each open row's bound.
        let open: Vec<usize> = (0..refuting.len())
            .filter(|&k| refuting[k].is_none())
            .collect();
        for &k in &open {
            let mut points = vec![d.input.center()];
            for r in self.spec.rows[k].clone() {
                points.push(
                    (0..d.input.lower.len())
                        .map(|j| {
                            if lb.a_in[[r, j]] >= 0.0 {
                                d.input.lower[j]
                            } else {
                                d.input.upper[j]
                            }
                        })
                        .collect(),
                );
            }
            for p in points {
                if let Some(cx) = confirm(self.net, self.case, self.case_index, k, &p) {
                    return Ok(Outcome::Found(cx));
                }
            }
        }
        // The open row closest to being refuted guides the split.
        let best_row = open
            .iter()
            .flat_map(|&k| self.spec.rows[k].clone())
            .max_by(|&a, &b| {
                (lb.lower[a] - self.spec.rhs[a] - margin[a])
                    .total_cmp(&(lb.lower[b] - self.spec.rhs[b] - margin[b]))
            })
            .unwrap_or(0);
        if self.cfg.branching == Branching::Relu {
            if let Some((layer, neuron)) = self.pick_relu(&an, best_row, &d.splits) {
                let children = [false, true]
                    .into_iter()
                    .map(|active| {
                        let mut splits = d.splits.clone();
                        splits.push(ReluSplit {
                            layer,
                            neuron,
                            active,
                        });
                        (
                            Domain {
                                input: d.input.clone(),
                                splits,
                                node: 0,
                                depth: d.depth + 1,
                            },
                            CertNodeKind::Child,
                        )
                    })
                    .collect();
                return Ok(Outcome::Split(children, SplitKind::Relu { layer, neuron }));
            }
        }
        let dim = self.pick_input_dim(&d.input, lb.a_in.row(best_row));
        let (l, u) = (d.input.lower[dim], d.input.upper[dim]);
        let mid = l + (u - l) / 2.0;
        if self.opts.f32_executor && u - l <= 4.0 * U32 * l.abs().max(u.abs()) {
            // The executor's rounding of the input alone spans this axis: halving it cannot
            // remove the f32 margin that keeps the domain open.
            return Ok(Outcome::Undecided(format!(
                "a domain at f32 resolution is still undecided (near x = {:?}, row {best_row} bound {:e} vs {:e}): the property is within an f32 executor's rounding of failing there",
                d.input.center(),
                lb.lower[best_row],
                self.spec.rhs[best_row]
            )));
        }
        if !(mid > l && mid < u) {
            return Ok(Outcome::Undecided(format!(
                "a domain narrower than f64 resolution is still undecided (near x = {:?}, row {best_row} bound {:e} vs {:e}): the property is within rounding error of holding there",
                d.input.center(),
                lb.lower[best_row],
                self.spec.rhs[best_row]
            )));
        }
        let mut lo = d.input.clone();
        lo.upper[dim] = mid;
        let mut hi = d.input.clone();
        hi.lower[dim] = mid;
        let mk = |input| {
            (
                Domain {
                    input,
                    splits: d.splits.clone(),
                    node: 0,
                    depth: d.depth + 1,
                },
                CertNodeKind::Child,
            )
        };
        Ok(Outcome::Split(
            vec![mk(lo), mk(hi)],
            SplitKind::Input { dim, mid },
        ))
    }

    /// The input axis to halve: the largest |coefficient| x width of the guiding row (the axis
    /// whose range moves the linear bound most). A coefficient says nothing about the relaxation
    /// gaps an axis causes, so an axis left much wider (relative to the case's box) than the
    /// chosen one is split instead; otherwise such an axis could stay unsplit forever.
    fn pick_input_dim(&self, b: &InputBox, a: ndarray::ArrayView1<f64>) -> usize {
        let root = &self.case.input;
        let n = b.lower.len();
        let width = |j: usize| b.upper[j] - b.lower[j];
        let relative = |j: usize| {
            let w0 = root.upper[j] - root.lower[j];
            if w0 > 0.0 {
                width(j) / w0
            } else {
                0.0
            }
        };
        let by =
            |f: &dyn Fn(usize) -> f64| (0..n).max_by(|&x, &y| f(x).total_cmp(&f(y))).unwrap_or(0);
        let smear = by(&|j| (a[j].abs() + 1e-12) * width(j));
        let widest = by(&relative);
        if relative(widest) > WIDTH_RATIO * relative(smear) {
            widest
        } else {
            smear
        }
    }

    /// BaBSR-like score: |A at the relu output| x the upper relaxation's intercept.
    fn pick_relu(&self, an: &Analysis, row: usize, splits: &[ReluSplit]) -> Option<(usize, usize)> {
        let c = self
            .spec
            .c
            .row(row)
            .to_owned()
            .insert_axis(ndarray::Axis(0));
        let lb = an.backward(self.net.output, c, None, true);
        let mut best: Option<(f64, usize, usize)> = None;
        for (i, node) in self.net.nodes.iter().enumerate() {
            if !matches!(node.layer, Layer::Relu { .. } | Layer::LeakyRelu { .. }) {
                continue;
            }
            let (Some(rl), Some(a)) = (an.relax[i].as_ref(), lb.relu_a.get(&i)) else {
                continue;
            };
            for j in 0..rl.unstable.len() {
                if !rl.unstable[j] || splits.iter().any(|s| s.layer == i && s.neuron == j) {
                    continue;
                }
                let score = a[[0, j]].abs() * rl.up_b[j].abs() + 1e-12;
                if best.is_none_or(|b| score > b.0) {
                    best = Some((score, i, j));
                }
            }
        }
        best.map(|(_, i, j)| (i, j))
    }
}

/// Result of [`verify`].
#[derive(Clone, Debug, PartialEq)]
pub struct BabResult {
    pub verdict: Verdict,
    pub stats: Stats,
}

/// Decides `prop` on `net`.
pub fn verify(net: &BoundNet, prop: &Property, cfg: &BabConfig) -> Result<BabResult> {
    let start = Instant::now();
    let mut deadline = start
        .checked_add(cfg.timeout)
        .unwrap_or(start + Duration::from_secs(1 << 40));
    if let Some(d) = cfg.deadline {
        deadline = deadline.min(d);
    }
    let stop = Stop::new(Some(deadline), Some(cfg.cancel.clone()));
    if prop.n_inputs != net.input_size() || prop.n_outputs != net.output_size() {
        return Err(BoundsError::new(
            codes::VNNLIB_MISMATCH,
            format!(
                "the property has {} inputs and {} outputs, the network {} and {}",
                prop.n_inputs,
                prop.n_outputs,
                net.input_size(),
                net.output_size()
            ),
        ));
    }
    let mut stats = Stats::default();
    // Counterexamples are confirmed on tl-kernels' engines; if they cannot run the network at
    // all, an undecided answer says so instead of looking like a weak search.
    let unrunnable = match (&net.exec, prop.cases.first()) {
        (None, _) => Some("the net was built by hand and has no executor".to_string()),
        (Some(e), Some(c)) => e
            .compiled(&c.input.center())
            .and_then(|_| e.reference(&c.input.center()))
            .err()
            .map(|e| format!("[{}] {}", e.code, e.message)),
        (Some(_), None) => None,
    };
    let finish = |verdict: Verdict, mut stats: Stats| {
        stats.elapsed_s = start.elapsed().as_secs_f64();
        let verdict = match (verdict, &unrunnable) {
            (Verdict::Unknown(why), Some(e)) if why != "cancelled" => {
                Verdict::Unknown(format!("{why}; no counterexample can be confirmed: {e}"))
            }
            (v, _) => v,
        };
        Ok(BabResult { verdict, stats })
    };
    let stopped = |reason: StopReason, stats: Stats| match reason {
        StopReason::Deadline => finish(Verdict::Timeout, stats),
        StopReason::Cancelled => finish(Verdict::Unknown("cancelled".into()), stats),
    };
    let threads = cfg.threads.max(1);
    let work_bytes = net.bytes() + threads * net.pass_bytes(2 * crate::crown::NEURON_CHUNK);
    if work_bytes > cfg.memory_limit {
        return finish(
            Verdict::Unknown(format!(
                "memory ceiling [{}]: the network and {threads} bound passes need about {} MiB, the limit is {} MiB",
                codes::MEMORY_CEILING,
                work_bytes >> 20,
                cfg.memory_limit >> 20
            )),
            stats,
        );
    }
    let mut rng = Rng(cfg.seed);
    for (k, case) in prop.cases.iter().enumerate() {
        if let Some(cx) = attack(net, case, k, cfg.attack, &mut rng, &stop) {
            return finish(Verdict::Falsified(cx), stats);
        }
        if let Some(r) = stop.reason() {
            return stopped(r, stats);
        }
    }
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(cfg.threads.max(1))
        .build()
        .map_err(|e| BoundsError::new(codes::IO, format!("cannot start worker threads: {e}")))?;
    let opts = CrownOptions {
        f32_executor: cfg.f32_executor,
        ..CrownOptions::default()
    };
    let mut cases = Vec::new();
    // The first domain set aside as undecided: no `unsat` after one.
    let mut undecided: Option<String> = None;
    for (k, case) in prop.cases.iter().enumerate() {
        let mut search = Search {
            net,
            case,
            case_index: k,
            spec: CaseSpec::new(case, net.output_size()),
            cfg,
            opts,
            stop: stop.clone(),
        };
        let mut tree: Vec<CertNode> = vec![CertNode::Open];
        let mut stack = vec![Domain {
            input: case.input.clone(),
            splits: Vec::new(),
            node: 0,
            depth: 0,
        }];
        let batch = 8 * threads;
        let domain_bytes = 16 * net.input_size() + 64;
        while !stack.is_empty() {
            if let Some(r) = stop.reason() {
                return stopped(r, stats);
            }
            let open_bytes: usize = stack
                .last()
                .map_or(0, |d| stack.len() * (domain_bytes + 16 * d.splits.len()));
            if work_bytes + open_bytes > cfg.memory_limit {
                return finish(
                    Verdict::Unknown(format!(
                        "memory ceiling [{}]: {} open domains need about {} MiB beside the network's {} MiB, the limit is {} MiB",
                        codes::MEMORY_CEILING,
                        stack.len(),
                        open_bytes >> 20,
                        work_bytes >> 20,
                        cfg.memory_limit >> 20
                    )),
                    stats,
                );
            }
            if stats.domains >= cfg.max_domains {
                return finish(
                    Verdict::Unknown(format!("domain limit {} reached", cfg.max_domains)),
                    stats,
                );
            }
            let take = stack.len().min(batch);
            let work: Vec<Domain> = stack.split_off(stack.len() - take);
            let outcomes: Vec<Result<Outcome>> =
                pool.install(|| work.par_iter().map(|d| search.process(d)).collect());
            stats.domains += work.len();
            for (d, o) in work.into_iter().zip(outcomes) {
                stats.max_depth = stats.max_depth.max(d.depth);
                match o {
                    Err(e) if is_stop(&e) => {
                        let r = stop.reason().unwrap_or(if e.code == codes::CANCELLED {
                            StopReason::Cancelled
                        } else {
                            StopReason::Deadline
                        });
                        return stopped(r, stats);
                    }
                    Err(e) if e.code == codes::UNSUPPORTED_GRAPH => {
                        return finish(Verdict::Unknown(e.message), stats)
                    }
                    Err(e) => return Err(e),
                    Ok(Outcome::Found(cx)) => return finish(Verdict::Falsified(cx), stats),
                    Ok(Outcome::Undecided(why)) => {
                        undecided.get_or_insert(why);
                        // `unsat` is out of reach now; only a counterexample can still be
                        // found. Confirmed ones violate the property in f64 with room to spare,
                        // so over the reals too: bounds over the reals (which converge, unlike
                        // the f32 margin) prune the rest of the search. Pruning can at worst
                        // lose a counterexample, never make an answer wrong.
                        search.opts.f32_executor = false;
                    }
                    Ok(Outcome::Refuted(leaf)) => {
                        if cfg.certificate {
                            tree[d.node] = leaf;
                        }
                    }
                    Ok(Outcome::Split(children, kind)) => {
                        let mut ids = Vec::new();
                        for (mut child, _) in children {
                            if cfg.certificate {
                                tree.push(CertNode::Open);
                                child.node = tree.len() - 1;
                                ids.push(child.node);
                            }
                            stack.push(child);
                        }
                        if cfg.certificate {
                            tree[d.node] = match kind {
                                SplitKind::Input { dim, mid } => CertNode::InputSplit {
                                    dim,
                                    mid,
                                    children: [ids[0], ids[1]],
                                },
                                SplitKind::Relu { layer, neuron } => CertNode::ReluSplit {
                                    layer,
                                    neuron,
                                    children: [ids[0], ids[1]],
                                },
                            };
                        }
                    }
                }
            }
        }
        if cfg.certificate {
            cases.push(CaseCertificate {
                case: k,
                nodes: tree,
            });
        }
    }
    if let Some(why) = undecided {
        return finish(Verdict::Unknown(why), stats);
    }
    let certificate = cfg.certificate.then(|| Certificate {
        version: 1,
        f32_executor: cfg.f32_executor,
        cases,
    });
    finish(Verdict::Verified { certificate }, stats)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::net::NetNode;
    use crate::vnnlib::OutputConstraint;

    fn identity_net() -> BoundNet {
        BoundNet {
            nodes: vec![NetNode {
                layer: Layer::Input,
                size: 2,
                name: "x".into(),
                shape: vec![2],
            }],
            output: 0,
            exec: None,
        }
    }

    #[test]
    fn input_split_prefers_the_smear_pick_until_another_axis_is_far_wider() {
        let net = identity_net();
        let case = Case {
            input: InputBox::new(vec![0.0, 0.0], vec![1.0, 1.0]).unwrap(),
            disjuncts: vec![vec![OutputConstraint {
                coeffs: vec![0.0, 1.0],
                rhs: -1.0,
                strict: false,
            }]],
        };
        let cfg = BabConfig::default();
        let search = Search {
            net: &net,
            case: &case,
            case_index: 0,
            spec: CaseSpec::new(&case, 2),
            cfg: &cfg,
            opts: CrownOptions::default(),
            stop: Stop::never(),
        };
        // The linear bound ignores axis 0: the smear pick is axis 1 ...
        let a = ndarray::arr1(&[0.0, 1.0]);
        let b = InputBox::new(vec![0.0, 0.0], vec![1.0, 1.0 / 32.0]).unwrap();
        assert_eq!(search.pick_input_dim(&b, a.view()), 1);
        // ... until axis 0 is more than WIDTH_RATIO times wider, relative to the case's box.
        let b = InputBox::new(vec![0.0, 0.0], vec![1.0, 1.0 / 128.0]).unwrap();
        assert_eq!(search.pick_input_dim(&b, a.view()), 0);
    }
}
