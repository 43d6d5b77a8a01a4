//! Two-network claims: `ensure a ~= b within T` where `a` (the contract's graph) and `b` are two
//! graphs of the spec with one signature, e.g. a model and its f16-rounded copy.
//!
//! The claim: on every input `x` of the set, `|a(x)_j - b(x)_j| <= T` for every element `j` of
//! the first output, with T's relative and ulp parts taken relative to `b` (the graph the
//! contract is not on). The bound methods decide it on the difference network: both graphs
//! lowered over one shared input (`tl_bounds::BoundNet::compose`) and every `a_j - b_j` bounded
//! as a linear function of that input, with the f32 executor margin on. They certify only the
//! absolute part, `|a - b| <= abs`, which implies the claim (`abs <= T.allowed(b)`). A
//! counterexample is reported only after both graphs' compiled f32 plans ran it and broke the
//! full tolerance there. Sampling runs the same two plans on seeded points of the set: evidence
//! of status tested, never checked.

use std::collections::BTreeMap;

use tl_bounds::{BoundNet, Case, InputBox, Method as BoundMethod, OutputConstraint, Property};
use tl_kernels::Tensor;

use super::bounds::{bab_with, bound, Problem};
use super::model::{instantiate, values, Model};
use super::sets::box_samples;
use super::{Cx, Failure, Tolerance};
use crate::contracts::{Claim, Method};
use crate::outcome::{Counterexample, Verdict};

const ALPHA_ITERS: usize = 20;
const ALPHA_LR: f64 = 0.1;

/// The two graphs, concrete, with their outputs (paired by position) and the input set.
struct Pair<'a> {
    a: &'a Model,
    b: &'a Model,
    other: &'a str,
    input: String,
    input_shape: Vec<usize>,
    /// Every output of each, in signature order: (name, shape). The claim pairs them by
    /// position: output k of the target against output k of the other graph.
    out_a: Vec<(String, Vec<usize>)>,
    out_b: Vec<(String, Vec<usize>)>,
    set: InputBox,
    concrete_a: tl_ir::Graph,
    concrete_b: tl_ir::Graph,
}

fn known(shape: &tl_ir::Shape) -> Result<Vec<usize>, Failure> {
    shape
        .as_known()
        .map(|s| s.iter().map(|&d| d as usize).collect())
        .ok_or_else(|| Failure::unsupported(format!("shape {shape} is not concrete")))
}

impl<'a> Pair<'a> {
    fn new(cx: &Cx<'a>, b: &'a Model, other: &'a str) -> Result<Pair<'a>, Failure> {
        let a = cx.model;
        type Outputs = Vec<(String, Vec<usize>)>;
        let one = |m: &Model, which: &str| -> Result<(tl_ir::Graph, Outputs), Failure> {
            if m.graph.inputs.len() != 1 {
                return Err(Failure::unsupported(format!(
                    "a two-network claim needs graphs with one input; {which} has {}",
                    m.graph.inputs.len()
                )));
            }
            let g = instantiate(&m.graph, 1)?;
            if g.outputs.is_empty() {
                return Err(Failure::claim(format!("{which} has no output")));
            }
            let outs = g
                .outputs
                .iter()
                .map(|(name, id)| Ok((name.clone(), known(&g.nodes[*id].shape)?)))
                .collect::<Result<Outputs, Failure>>()?;
            Ok((g, outs))
        };
        let (concrete_a, out_a) = one(a, "the contract's graph")?;
        let (concrete_b, out_b) = one(b, other)?;
        let ia = concrete_a.inputs[0];
        let ib = concrete_b.inputs[0];
        let input_shape = known(&concrete_a.nodes[ia].shape)?;
        let shapes = |o: &Outputs| o.iter().map(|(_, s)| s.clone()).collect::<Vec<_>>();
        if known(&concrete_b.nodes[ib].shape)? != input_shape || shapes(&out_a) != shapes(&out_b) {
            return Err(Failure::claim(format!(
                "the graphs' input or output shapes differ ({input_shape:?} -> {:?} against {:?} -> {:?}; outputs pair by position)",
                shapes(&out_a),
                known(&concrete_b.nodes[ib].shape)?,
                shapes(&out_b)
            )));
        }
        let input = concrete_a.nodes[ia].name.clone();
        let set = cx
            .set_for(&input)
            .ok_or_else(|| Failure::input(format!("input `{input}` has no `given` set")))?
            .to_box(&input_shape)?;
        Ok(Pair {
            a,
            b,
            other,
            input,
            input_shape,
            out_a,
            out_b,
            set,
            concrete_a,
            concrete_b,
        })
    }

    /// The difference network and the unsafe set `exists j: |a_j - b_j| > abs`.
    fn problem(&self, tol: &Tolerance) -> Result<Problem, Failure> {
        let n: usize = self.input_shape.iter().product();
        let pa = |k: &str| self.a.f64_param(k);
        let pb = |k: &str| self.b.f64_param(k);
        let out_ids = |g: &tl_ir::Graph| g.outputs.iter().map(|o| o.1).collect::<Vec<_>>();
        let parts = [
            tl_bounds::lower::Part {
                graph: &self.concrete_a,
                payload: &pa,
                inputs: vec![(0..n).collect()],
                outputs: out_ids(&self.concrete_a),
            },
            tl_bounds::lower::Part {
                graph: &self.concrete_b,
                payload: &pb,
                inputs: vec![(0..n).collect()],
                outputs: out_ids(&self.concrete_b),
            },
        ];
        let net = BoundNet::compose(n, &parts).map_err(Failure::bounds)?;
        let m: usize = self
            .out_a
            .iter()
            .map(|(_, s)| s.iter().product::<usize>())
            .sum();
        let mut disjuncts = Vec::with_capacity(2 * m);
        for j in 0..m {
            for sign in [1.0, -1.0] {
                // sign * (a_j - b_j) > abs, i.e. sign * (b_j - a_j) < -abs.
                let mut coeffs = vec![0.0; 2 * m];
                coeffs[j] = -sign;
                coeffs[m + j] = sign;
                disjuncts.push(vec![OutputConstraint {
                    coeffs,
                    rhs: -tol.abs,
                    strict: true,
                }]);
            }
        }
        Ok(Problem {
            net,
            property: Property {
                n_inputs: n,
                n_outputs: 2 * m,
                cases: vec![Case {
                    input: self.set.clone(),
                    disjuncts,
                }],
            },
            rows: None,
            node: self
                .out_a
                .iter()
                .map(|(n, _)| n.as_str())
                .collect::<Vec<_>>()
                .join(", "),
            input: self.input.clone(),
            input_shape: self.input_shape.clone(),
        })
    }

    /// Both compiled f32 plans at each point; the first point where some element breaks the
    /// tolerance, as a counterexample.
    fn run_points(
        &self,
        tol: &Tolerance,
        points: &[Vec<f64>],
    ) -> Result<(Option<Counterexample>, f64, Option<String>), Failure> {
        let plan_a = self.a.compile()?;
        let plan_b = self.b.compile()?;
        let mut worst: f64 = 0.0;
        for x in points {
            let t = Tensor::from_f64(&self.input_shape, x.clone())
                .map_err(|e| Failure::input(e.to_string()))?;
            let inputs = BTreeMap::from([(self.input.clone(), t)]);
            let ya = plan_a.run(&inputs).map_err(Failure::exec)?;
            let inputs_b = BTreeMap::from([(
                self.b.graph.nodes[self.b.graph.inputs[0]].name.clone(),
                inputs[&self.input].clone(),
            )]);
            let yb = plan_b.run(&inputs_b).map_err(Failure::exec)?;
            let get = |out: &BTreeMap<String, Tensor>, name: &str| {
                out.get(name)
                    .map(values)
                    .ok_or_else(|| Failure::claim(format!("no value for `{name}`")))
            };
            let mut broken: Option<String> = None;
            let mut outputs = Vec::new();
            for ((na, shape), (nb, _)) in self.out_a.iter().zip(&self.out_b) {
                let (va, vb) = (get(&ya, na)?, get(&yb, nb)?);
                for (j, (p, q)) in va.iter().zip(&vb).enumerate() {
                    let d = (p - q).abs();
                    let allowed = tol.allowed(*q);
                    worst = worst.max(if allowed > 0.0 { d / allowed } else { d });
                    if !(d <= allowed) && broken.is_none() {
                        broken = Some(format!(
                            "{na}{} is {p:.6e}, {}.{nb} {q:.6e}: they differ by {d:.3e} > {allowed:.3e}",
                            super::claims::index_text(shape, j),
                            self.other
                        ));
                    }
                }
                outputs.push((na.clone(), shape.clone(), va));
                outputs.push((format!("{}.{nb}", self.other), shape.clone(), vb));
            }
            if let Some(first) = broken {
                return Ok((
                    Some(Counterexample {
                        inputs: vec![(self.input.clone(), self.input_shape.clone(), x.clone())],
                        outputs,
                        confirmed_on: Counterexample::compiled_executor(),
                    }),
                    worst,
                    Some(first),
                ));
            }
        }
        Ok((None, worst, None))
    }
}

pub(super) fn run(cx: &Cx, method: &Method) -> Result<(Verdict, String), Failure> {
    let Claim::TwoNetwork { other } = cx.claim else {
        return Err(Failure::claim("not a two-network claim"));
    };
    let tol =
        cx.p.tolerance
            .as_ref()
            .ok_or_else(|| Failure::claim("a two-network contract needs a tolerance"))?;
    let b = match &cx.p.other {
        Some(Ok(m)) => m.clone(),
        Some(Err(f)) => return Err(f.clone()),
        None => return Err(Failure::target(format!("graph `{other}` was not loaded"))),
    };
    let pair = Pair::new(cx, &b, other)?;
    let what = format!(
        "the difference network `{} - {other}` over the shared input",
        cx.model.graph.name
    );
    let scope = format!(
        "certifies |{} - {other}| <= abs {} element-wise, which implies {}",
        cx.model.graph.name, tol.abs, tol.name
    );
    let bounded = |label: &str, m: BoundMethod| -> Result<(Verdict, String), Failure> {
        let p = pair.problem(tol)?;
        let (v, detail) = bound(cx, &p, m, &format!("{label} on {what}"))?;
        Ok(match v {
            Verdict::Holds => (v, format!("{detail}; {scope}")),
            v => (v, detail),
        })
    };
    match method {
        Method::Ibp => bounded("IBP", BoundMethod::Ibp),
        Method::Crown => bounded("CROWN", BoundMethod::Crown),
        Method::AlphaCrown => bounded(
            "alpha-CROWN",
            BoundMethod::AlphaCrown {
                iters: ALPHA_ITERS,
                lr: ALPHA_LR,
            },
        ),
        Method::Bab {
            timeout_ms,
            max_nodes,
            split,
        } => {
            let p = pair.problem(tol)?;
            let confirm = |x: &[f64]| pair.run_points(tol, &[x.to_vec()]).map(|r| r.0);
            let (v, detail) =
                bab_with(cx, &p, *timeout_ms, *max_nodes, split.as_deref(), &confirm)?;
            Ok(match v {
                Verdict::Holds => (v, format!("{detail}; on {what}; {scope}")),
                v => (v, format!("{detail}; on {what}")),
            })
        }
        Method::Sampling { samples, seed } => {
            let points = box_samples(&pair.set, *samples, *seed);
            let (cex, worst, first) = pair.run_points(tol, &points)?;
            Ok(match cex {
                Some(c) => (
                    Verdict::Violated { counterexample: c },
                    format!(
                        "a sample breaks {} on the compiled f32 executors of both graphs: {}",
                        tol.name,
                        first.unwrap_or_default()
                    ),
                ),
                None => (
                    Verdict::Holds,
                    format!(
                        "{} samples of the input set on both graphs' compiled f32 executors, worst |{} - {other}| at {:.3} of {}; tested, not checked",
                        points.len(),
                        cx.model.graph.name,
                        worst,
                        tol.name
                    ),
                ),
            })
        }
        other_method => Err(Failure::unsupported(format!(
            "{} cannot check a two-network claim (use ibp, crown, alpha_crown, bab or sampling)",
            other_method.name()
        ))),
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::super::{run_contract, ContractRun, VerifyOptions};
    use crate::contracts::analyze_contract;
    use crate::items::file_items;
    use crate::outcome::Status;
    use crate::RootDatabase;
    use tl_syntax::ItemKeyword;

    /// Seeded weights drawn at test time: a 3 -> 8 -> 2 relu net and a copy with every weight
    /// moved by up to `delta`.
    fn spec(seed: u64, delta: f64, tail: &str) -> String {
        let mut s = seed;
        let mut next = move || {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            (s >> 11) as f64 / (1u64 << 53) as f64 * 2.0 - 1.0
        };
        let mut mats = Vec::new();
        for (r, c) in [(8, 3), (8, 1), (2, 8), (2, 1)] {
            let m: Vec<Vec<f64>> = (0..r).map(|_| (0..c).map(|_| next()).collect()).collect();
            let moved: Vec<Vec<f64>> = m
                .iter()
                .map(|row| row.iter().map(|v| v + delta * next()).collect())
                .collect();
            mats.push((m, moved));
        }
        let lit = |m: &Vec<Vec<f64>>, vector: bool| {
            let rows: Vec<String> = m
                .iter()
                .map(|row| {
                    let vs: Vec<String> = row.iter().map(|v| format!("{:.6}", *v as f32)).collect();
                    vs.join(", ")
                })
                .collect();
            if vector {
                format!("[{}]", rows.join(", "))
            } else {
                format!("[[{}]]", rows.join("], ["))
            }
        };
        let graph = |name: &str, k: usize| {
            let pick = |i: usize| if k == 0 { &mats[i].0 } else { &mats[i].1 };
            format!(
                "graph {name}(x: f32[1, 3]) -> y: f32[1, 2] {{\n  param w0: f32[8, 3] = {}\n  param b0: f32[8] = {}\n  param w1: f32[2, 8] = {}\n  param b1: f32[2] = {}\n  y = linear(relu(linear(x, w0, b0)), w1, b1)\n}}\n",
                lit(pick(0), false),
                lit(pick(1), true),
                lit(pick(2), false),
                lit(pick(3), true)
            )
        };
        format!("{}{}{tail}", graph("teacher", 0), graph("student", 1))
    }

    fn run(text: &str, name: &str) -> ContractRun {
        let mut db = RootDatabase::default();
        let file = db.set_source_text(Path::new("/tmp/two_network_inline.tl"), text.to_string());
        let item = file_items(&db, file)
            .iter()
            .copied()
            .find(|i| {
                i.keyword(&db) == ItemKeyword::Contract && i.name(&db).as_deref() == Some(name)
            })
            .unwrap();
        run_contract(&db, item, &VerifyOptions::default())
    }

    fn codes(text: &str, name: &str) -> Vec<u16> {
        let mut db = RootDatabase::default();
        let file = db.set_source_text(Path::new("/tmp/two_network_bad.tl"), text.to_string());
        let item = file_items(&db, file)
            .iter()
            .copied()
            .find(|i| {
                i.keyword(&db) == ItemKeyword::Contract && i.name(&db).as_deref() == Some(name)
            })
            .unwrap();
        analyze_contract(&db, item)
            .as_ref()
            .unwrap()
            .diagnostics
            .iter()
            .map(|d| d.code)
            .collect()
    }

    fn contract(name: &str, set: &str, tol: &str, methods: &str) -> String {
        format!(
            "tolerance t_{name} = abs {tol}\ncontract {name} on student {{\n  given x in {set}\n  ensure student ~= teacher within t_{name}\n  check by {methods}\n}}\n"
        )
    }

    #[test]
    fn close_copies_are_checked_on_the_difference_network() {
        for seed in [7u64, 1234, 99991] {
            let text = spec(
                seed,
                1e-4,
                &contract(
                    "close",
                    "box(-0.05, 0.05)",
                    "0.01",
                    "crown then bab(timeout = 20s)",
                ),
            );
            let r = run(&text, "close");
            assert_eq!(r.status, Status::Checked, "{seed}: {:?}", r.outcome.methods);
            let d = &r.deciding_method().unwrap().detail;
            assert!(d.contains("difference network"), "{d}");
        }
    }

    #[test]
    fn a_copy_too_far_is_falsified_with_a_replayed_counterexample() {
        let text = spec(
            42,
            0.05,
            &contract("far", "box(-1.0, 1.0)", "1e-6", "bab(timeout = 20s)"),
        );
        let r = run(&text, "far");
        assert_eq!(r.status, Status::Falsified, "{:?}", r.outcome.methods);
        let m = r.deciding_method().unwrap();
        let crate::outcome::Verdict::Violated { counterexample: c } = &m.verdict else {
            panic!("{:?}", m.verdict)
        };
        assert_eq!(c.outputs.len(), 2);
        let (s, t) = (&c.outputs[0].2, &c.outputs[1].2);
        assert!(s.iter().zip(t).any(|(a, b)| (a - b).abs() > 1e-6), "{c:?}");
        assert!(c.inputs[0].2.iter().all(|v| (-1.0..=1.0).contains(v)));
    }

    /// Two outputs that pair by position; only the second differs (a value cache written in
    /// the wrong order). Every output counts: an earlier version compared the first only and
    /// called this claim checked.
    #[test]
    fn every_output_pair_counts_not_only_the_first() {
        let graph = |name: &str, second: &str| {
            format!(
                "graph {name}(x: f32[1, 2]) -> (a: f32[1, 2], b: f32[1, 2]) {{\n  param wa: f32[2, 2] = [[1.0, 0.5], [0.0, 1.0]]\n  param wb: f32[2, 2] = {second}\n  param z: f32[2] = [0.0, 0.0]\n  a = linear(x, wa, z)\n  b = linear(x, wb, z)\n}}\n"
            )
        };
        let text = format!(
            "{}{}tolerance t = abs 1e-4\ncontract c on copy {{\n  given x in box(-1.0, 1.0)\n  ensure copy ~= model within t\n  check by crown then bab(timeout = 10s)\n}}\ncontract s on copy {{\n  given x in box(-1.0, 1.0)\n  ensure copy ~= model within t\n  check by sampling(50, seed = 3)\n}}\n",
            graph("model", "[[1.0, 0.0], [0.0, 1.0]]"),
            graph("copy", "[[0.0, 1.0], [1.0, 0.0]]"),
        );
        for name in ["c", "s"] {
            let r = run(&text, name);
            assert_eq!(
                r.status,
                Status::Falsified,
                "{name}: {:?}",
                r.outcome.methods
            );
            let m = r.deciding_method().unwrap();
            let crate::outcome::Verdict::Violated { counterexample: c } = &m.verdict else {
                panic!("{:?}", m.verdict)
            };
            assert_eq!(c.outputs.len(), 4, "both pairs are reported: {c:?}");
        }
        // The same pair with equal second outputs holds.
        let same = text.replace("[[0.0, 1.0], [1.0, 0.0]]", "[[1.0, 0.0], [0.0, 1.0]]");
        assert_eq!(run(&same, "c").status, Status::Checked);
    }

    #[test]
    fn sampling_alone_grants_tested() {
        let text = spec(
            5,
            1e-4,
            &contract("sampled", "box(-1.0, 1.0)", "0.5", "sampling(50, seed = 1)"),
        );
        let r = run(&text, "sampled");
        assert_eq!(r.status, Status::Tested, "{:?}", r.outcome.methods);
    }

    #[test]
    fn bad_two_network_claims_are_coded() {
        let base = spec(3, 1e-4, "");
        // Neither side is the contract's graph.
        let text = format!(
            "{base}graph third(x: f32[1, 3]) -> y: f32[1, 2] {{\n  y = linear(x, [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]], [0.0, 0.0])\n}}\ntolerance t = abs 0.1\ncontract c on third {{\n  given x in box(-1.0, 1.0)\n  ensure student ~= teacher within t\n  check by crown\n}}\n"
        );
        assert!(codes(&text, "c").contains(&460), "{:?}", codes(&text, "c"));
        // Different signatures.
        let text = format!(
            "{base}graph wide(x: f32[1, 3]) -> y: f32[1, 3] {{\n  y = relu(x)\n}}\ntolerance t = abs 0.1\ncontract c on wide {{\n  given x in box(-1.0, 1.0)\n  ensure wide ~= teacher within t\n  check by crown\n}}\n"
        );
        assert!(codes(&text, "c").contains(&460), "{:?}", codes(&text, "c"));
        // No tolerance.
        let text = format!(
            "{base}contract c on student {{\n  given x in box(-1.0, 1.0)\n  ensure student ~= teacher\n  check by crown\n}}\n"
        );
        assert!(codes(&text, "c").contains(&410), "{:?}", codes(&text, "c"));
    }
}
