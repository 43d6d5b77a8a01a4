//! The derived float budget: `tl_bounds::float_error` bounds |compiled f32 - reference f64| at
//! each graph output over the contract's input box. An equivalence contract whose derived bound
//! fits its tolerance everywhere in the box is **checked**; otherwise sampling decides (tested)
//! and the detail says by how much the derived bound exceeded the tolerance, or why none could
//! be derived.

use tl_bounds::float_error::{
    analyze, executor_vs_reference, FloatBounds, Format, NodeBound, Unmodelled,
};
use tl_bounds::{BoundNet, InputBox, Method as BoundMethod};
use tl_ir::Graph;

use super::model::{instantiate, Model};
use super::{input_set, Cx, Failure, Prepared, Tolerance};

/// Networks up to this many neurons get CROWN ranges (tighter), larger ones IBP.
pub const CROWN_NEURONS: usize = 20_000;

/// The derived bound of one output against a tolerance.
#[derive(Clone, Debug)]
pub(super) struct Derived {
    pub output: String,
    /// The largest derived error bound over the output's elements.
    pub bound: f64,
    /// The largest `bound / allowed` over the elements (<= 1: fits).
    pub ratio: f64,
    /// Named assumptions the bound rests on.
    pub assumptions: Vec<String>,
}

/// Why the analysis of one output stopped.
#[derive(Clone, Debug, PartialEq)]
pub enum Stop {
    /// The graph does not lower to a bound network (a tl-bounds error and its code).
    Net {
        output: String,
        message: String,
        code: String,
    },
    /// A node whose rounding is not modelled (or whose range reaches overflow).
    Unmodelled(Unmodelled),
}

impl std::fmt::Display for Stop {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Stop::Net {
                output,
                message,
                code,
            } => write!(f, "{output}: {message} [{code}]"),
            Stop::Unmodelled(u) => write!(f, "{u}"),
        }
    }
}

/// The derived budgets of one graph output over a box: the f32 executor's and the f64
/// reference's bound against the real value per node, and their sum at the output (the bound on
/// |compiled f32 - reference f64|, `float_error::executor_vs_reference`).
#[derive(Clone, Debug)]
pub struct Budget {
    pub f32_pass: FloatBounds,
    /// The f64 pass per node (when asked for: `tlc tolerance` lists it, a contract needs only
    /// the combined bound).
    pub f64_pass: Option<FloatBounds>,
    /// Elementwise bound on |compiled f32 - reference f64| at the output.
    pub combined: Vec<f64>,
}

/// One output's budgets, or where and why the analysis stopped.
#[derive(Clone, Debug)]
pub struct OutputBudget {
    pub output: String,
    /// The range analysis used (`crown`, or `ibp` above [`CROWN_NEURONS`] neurons); `None` when
    /// the graph does not lower to a bound network.
    pub range_method: Option<&'static str>,
    pub result: Result<Budget, Stop>,
}

/// The budgets of every output of `graph` (concrete shapes, one input) over the input box `b`,
/// with the weights from `weights`; with `reference_nodes` also the f64 pass per node. The
/// analysis `tlc verify`'s equivalence contracts use.
pub fn output_budgets(
    graph: &Graph,
    weights: &dyn Fn(&str) -> Option<ndarray::ArrayD<f64>>,
    b: &InputBox,
    reference_nodes: bool,
) -> Vec<OutputBudget> {
    let mut out = Vec::new();
    for (name, _) in &graph.outputs {
        let net = match BoundNet::from_graph(graph, weights, Some(name)) {
            Ok(net) => net,
            Err(e) => {
                out.push(OutputBudget {
                    output: name.clone(),
                    range_method: None,
                    result: Err(Stop::Net {
                        output: name.clone(),
                        message: e.message,
                        code: e.code.to_string(),
                    }),
                });
                continue;
            }
        };
        let neurons: usize = net.nodes.iter().map(|n| n.size).sum();
        let (method, range_method) = if neurons <= CROWN_NEURONS {
            (BoundMethod::Crown, "crown")
        } else {
            (BoundMethod::Ibp, "ibp")
        };
        let result =
            executor_vs_reference(&net, graph, b, method).and_then(|(f32_pass, combined)| {
                let f64_pass = if reference_nodes {
                    Some(analyze(&net, graph, b, method, Format::F64)?)
                } else {
                    None
                };
                Ok(Budget {
                    f32_pass,
                    f64_pass,
                    combined,
                })
            });
        out.push(OutputBudget {
            output: name.clone(),
            range_method: Some(range_method),
            result: result.map_err(Stop::Unmodelled),
        });
    }
    out
}

/// The concrete graph (symbolic extents 1) and the input box of a contract over one graph input
/// (its `given` set), or why there is none.
pub fn contract_box(p: &Prepared, model: &Model) -> Result<(Graph, InputBox), String> {
    let graph = &model.graph;
    if graph.inputs.len() != 1 {
        return Err(format!(
            "the float analysis needs one graph input, {} has {}",
            graph.name,
            graph.inputs.len()
        ));
    }
    let (input_id, input) = model.inputs().remove(0);
    let concrete = instantiate(graph, 1).map_err(|f: Failure| f.message)?;
    let shape: Vec<usize> = concrete.nodes[input_id]
        .shape
        .as_known()
        .map(|s| s.iter().map(|&d| d as usize).collect())
        .ok_or_else(|| "the input shape is not concrete".to_string())?;
    let set =
        input_set(p, model, &input).ok_or_else(|| format!("input `{input}` has no `given` set"))?;
    let b = set.to_box(&shape).map_err(|f| f.message)?;
    Ok((concrete, b))
}

/// The largest `bound / allowed` over the output's elements (<= 1: the derived bound fits `tol`
/// everywhere in the box). `output` is the f32 pass's output node (its real range), `combined`
/// the bound on |compiled - reference|.
pub fn fit_ratio(output: &NodeBound, combined: &[f64], tol: &Tolerance) -> f64 {
    let mut ratio: f64 = 0.0;
    for ((&l, &h), &e) in output.lower.iter().zip(&output.upper).zip(combined) {
        // The smallest |reference| the element can have (the f64 reference lies within its
        // own bound of the real range).
        let e64 = e; // generous: the combined bound also encloses the reference's error
        let dist = if l - e64 > 0.0 {
            l - e64
        } else if h + e64 < 0.0 {
            -(h + e64)
        } else {
            0.0
        };
        let allowed = tol.abs + tol.rel * dist;
        ratio = ratio.max(if allowed > 0.0 {
            e / allowed
        } else {
            f64::INFINITY
        });
    }
    ratio
}

/// Why there is no derived bound (a reason for the reviewer), or the bound per output.
pub(super) fn derive(cx: &Cx, tol: &Tolerance) -> Result<Vec<Derived>, String> {
    let (concrete, b) = contract_box(cx.p, cx.model)?;
    let payload = |key: &str| cx.model.f64_param(key);
    let mut out = Vec::new();
    for ob in output_budgets(&concrete, &payload, &b, false) {
        let budget = ob.result.map_err(|s| s.to_string())?;
        let o = budget.f32_pass.output();
        out.push(Derived {
            ratio: fit_ratio(o, &budget.combined, tol),
            bound: budget.combined.iter().fold(0.0f64, |m, &v| m.max(v)),
            output: ob.output,
            assumptions: budget.f32_pass.assumptions.clone(),
        });
    }
    Ok(out)
}

/// The reviewer's line for a derived result.
pub(super) fn describe(d: &[Derived], tol: &Tolerance) -> String {
    let parts: Vec<String> = d
        .iter()
        .map(|d| {
            let fit = if d.ratio <= 1.0 {
                format!(
                    "fits {} (at most {:.3} of the allowed error)",
                    tol.name, d.ratio
                )
            } else {
                format!("exceeds {} by a factor {:.3}", tol.name, d.ratio)
            };
            format!("output {}: derived bound {:.3e}, {fit}", d.output, d.bound)
        })
        .collect();
    format!(
        "derived float bound over the input box (tl-bounds float_error: interval ranges and a per-op rounding model of the compiled f32 kernels and the f64 reference): {}",
        parts.join("; ")
    )
}

#[cfg(test)]
mod tests {
    //! Tightness and soundness on the shipped examples: the derived bound against the largest
    //! |compiled - reference| found by sampling the contract's box and then a search that moves
    //! single coordinates to the box's faces (kept when the deviation grows).
    //! `cargo test -p tl-analysis float::tests -- --nocapture` prints the table of
    //! docs/performance.md.
    use std::collections::BTreeMap;
    use std::path::Path;

    use super::super::sets::box_samples;
    use super::super::*;
    use crate::items::file_items;
    use crate::RootDatabase;
    use tl_kernels::{compile, denote, Tensor};
    use tl_syntax::ItemKeyword;

    fn measure(file: &str, contract: &str) -> Option<(f64, f64, usize)> {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../spec-examples")
            .join(file);
        let mut db = RootDatabase::default();
        let f = db.load_source(&path);
        db.settle(&[f]);
        let item = file_items(&db, f)
            .iter()
            .copied()
            .find(|i| {
                i.keyword(&db) == ItemKeyword::Contract && i.name(&db).as_deref() == Some(contract)
            })
            .unwrap();
        let opts = VerifyOptions::default();
        let p = prepare(&db, item, &opts);
        let model = p.model.as_ref().unwrap();
        let claim = p.claim.as_ref().unwrap();
        let cx = Cx {
            p: &p,
            opts: &opts,
            model,
            claim,
        };
        let tol = Tolerance {
            name: "t".into(),
            abs: 1.0,
            rel: 0.0,
            ulp: None,
        };
        let derived = match super::derive(&cx, &tol) {
            Ok(d) => d,
            Err(why) => {
                println!("{file} {contract}: no derived bound: {why}");
                return None;
            }
        };
        let (input_id, input) = model.inputs().remove(0);
        let concrete = super::instantiate(&model.graph, 1).unwrap();
        let shape: Vec<usize> = concrete.nodes[input_id]
            .shape
            .as_known()
            .unwrap()
            .iter()
            .map(|&d| d as usize)
            .collect();
        let b = cx.set_for(&input).unwrap().to_box(&shape).unwrap();
        let plan = compile(&concrete, &model.params).unwrap();
        let dev = |x: &[f64]| -> f64 {
            let t = ndarray::ArrayD::from_shape_vec(
                ndarray::IxDyn(&shape),
                x.iter().map(|&v| v as f32).collect(),
            )
            .unwrap();
            let inputs: BTreeMap<String, Tensor> = [(input.clone(), Tensor::F32(t))].into();
            let c = plan.run(&inputs).unwrap();
            let r = denote(&concrete, &model.params, &inputs).unwrap();
            let mut worst: f64 = 0.0;
            for (name, _) in &concrete.outputs {
                let (cv, rv) = (
                    model::values(&c[name]),
                    model::values(r.output(name).unwrap()),
                );
                for (a, b) in cv.iter().zip(&rv) {
                    worst = worst.max((a - b).abs());
                }
            }
            worst
        };
        let bound = derived.iter().fold(0.0f64, |m, d| m.max(d.bound));
        let samples = box_samples(&b, 200, 1);
        let mut best = (samples[0].clone(), 0.0f64);
        let mut evals = 0;
        for x in &samples {
            let d = dev(x);
            evals += 1;
            assert!(
                d <= bound,
                "{file} {contract}: deviation {d:e} > derived {bound:e}"
            );
            if d > best.1 {
                best = (x.clone(), d);
            }
        }
        let (mut x, mut m) = best;
        let mut state = 0x2545_f491_4f6c_dd1du64;
        for step in 0..400 {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let j = (state % x.len() as u64) as usize;
            let old = x[j];
            x[j] = if step % 2 == 0 {
                b.lower[j]
            } else {
                b.upper[j]
            };
            let d = dev(&x);
            evals += 1;
            assert!(
                d <= bound,
                "{file} {contract}: deviation {d:e} > derived {bound:e}"
            );
            if d > m {
                m = d;
            } else {
                x[j] = old;
            }
        }
        println!(
            "| {file} `{contract}` | {bound:.3e} | {m:.3e} | {:.0} | {evals} |",
            bound / m.max(f64::MIN_POSITIVE)
        );
        Some((bound, m, evals))
    }

    #[test]
    fn derived_bounds_contain_the_executor_on_the_shipped_examples() {
        let cases = [
            ("mnist_mlp.tl", "compiled_matches"),
            ("mnist_mlp.tl", "robust_digit_7"),
            ("small_cnn.tl", "scores_bounded"),
            ("residual_block.tl", "head_bounded"),
            ("transformer_encoder.tl", "encoder_compiled_matches"),
        ];
        let mut derived = 0;
        for (file, contract) in cases {
            if measure(file, contract).is_some() {
                derived += 1;
            }
        }
        // MLP, CNN and residual net are modelled; the encoder (layer_norm, attention, gelu) is not.
        assert_eq!(derived, 4);
    }
}
