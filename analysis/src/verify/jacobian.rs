//! Jacobian claims: `lipschitz(y, x, norm = "linf") <= L` and `d(y[i]) / d(x[j]) >= c`.
//!
//! `ibp` decides them with a sound enclosure of the Jacobian over the input box
//! (`tl_kernels::autograd::jacobian_enclosure`: forward mode with interval primals and tangents).
//! When the enclosure proves the claim it holds (**checked**, from `Method::grants`); when it does
//! not, exact Jacobians at sampled interior points of the box (forward mode along every unit
//! direction, f64 reference semantics) either violate the claim, a counterexample (**falsified**),
//! or the answer is unknown: the enclosure is too loose to tell. `sampling` evaluates only those
//! sampled Jacobians (**tested** at most).
//!
//! A Lipschitz bound over a set with a coordinate the set holds fixed (`lower == upper`) counts
//! only the free coordinates: the constant is taken over the set. Sampled points at a kink (a relu
//! or abs input at exactly 0, a tie for a maximum) are skipped and counted: the derivative there is
//! not unique, and autograd's convention value need not be in the generalized Jacobian.

use std::collections::BTreeMap;

use ndarray::{Array2, ArrayD, IxDyn};
use tl_kernels::autograd::{
    gamma, jacobian_enclosure_with, jvp, kinks, AutogradError, JacobianEnclosure, Seeds, ValueHints,
};
use tl_kernels::Tensor;

use super::claims::{flat_index, index_text};
use super::model::{instantiate, values, Model};
use super::sampling::draw;
use super::{Cx, Failure};
use crate::contracts::{Claim, Cmp, JacobianNorm};
use crate::outcome::{Counterexample, Verdict};

/// Sampled points the ibp method tries when the enclosure does not decide.
const FALSIFY_SAMPLES: u64 = 64;

/// A Jacobian claim resolved against the model.
struct Problem {
    graph: tl_ir::Graph,
    output: String,
    input: String,
    input_shape: Vec<usize>,
    output_shape: Vec<usize>,
    /// Lower and upper values of every input over its set.
    boxes: BTreeMap<String, (ArrayD<f64>, ArrayD<f64>)>,
    free: Vec<bool>,
    kind: Kind,
}

enum Kind {
    Lipschitz {
        norm: JacobianNorm,
        bound: f64,
        strict: bool,
    },
    Derivative {
        row: usize,
        col: usize,
        cmp: Cmp,
        bound: f64,
        text: String,
    },
}

impl Kind {
    /// The claim's text with the bound, for details.
    fn text(&self, p: &Problem) -> String {
        match self {
            Kind::Lipschitz {
                norm,
                bound,
                strict,
            } => format!(
                "lipschitz({}, {}, norm = \"{}\") {} {bound}",
                p.output,
                p.input,
                norm.name(),
                if *strict { "<" } else { "<=" }
            ),
            Kind::Derivative {
                text, cmp, bound, ..
            } => format!("{text} {} {bound}", cmp_text(*cmp)),
        }
    }
}

fn cmp_text(c: Cmp) -> &'static str {
    match c {
        Cmp::Le => "<=",
        Cmp::Lt => "<",
        Cmp::Ge => ">=",
        Cmp::Gt => ">",
    }
}

fn holds(v: f64, cmp: Cmp, bound: f64) -> bool {
    match cmp {
        Cmp::Le => v <= bound,
        Cmp::Lt => v < bound,
        Cmp::Ge => v >= bound,
        Cmp::Gt => v > bound,
    }
}

fn autograd_failure(e: AutogradError) -> Failure {
    let code = e.code();
    match e {
        AutogradError::Exec(inner) => Failure::exec(inner),
        other => Failure::new("TL0809", format!("{other} [{code}]")),
    }
}

fn problem(cx: &Cx) -> Result<Problem, Failure> {
    let (output, input) = match cx.claim {
        Claim::Lipschitz { output, input, .. } => (output.clone(), input.clone()),
        Claim::Derivative { output, input, .. } => (output.name.clone(), input.name.clone()),
        other => {
            return Err(Failure::unsupported(format!(
                "not a jacobian claim: {}",
                other.kind()
            )))
        }
    };
    let with_node = cx.model.with_outputs(std::slice::from_ref(&output))?;
    let graph = instantiate(&with_node.graph, 1)?;
    let shape_of = |name: &str| -> Result<Vec<usize>, Failure> {
        let id = graph
            .outputs
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, id)| *id)
            .or_else(|| graph.node_by_name(name))
            .ok_or_else(|| Failure::claim(format!("the graph has no value `{name}`")))?;
        graph.nodes[id]
            .shape
            .as_known()
            .map(|s| s.iter().map(|&d| d as usize).collect())
            .ok_or_else(|| Failure::unsupported(format!("`{name}` has no concrete shape")))
    };
    let mut boxes = BTreeMap::new();
    for &id in &graph.inputs {
        let node = &graph.nodes[id];
        let shape = shape_of(&node.name)?;
        let set = cx
            .set_for(&node.name)
            .ok_or_else(|| Failure::input(format!("input `{}` has no `given` set", node.name)))?;
        let b = set.to_box(&shape)?;
        let arr = |v: Vec<f64>| {
            ArrayD::from_shape_vec(IxDyn(&shape), v).map_err(|e| Failure::input(e.to_string()))
        };
        boxes.insert(node.name.clone(), (arr(b.lower)?, arr(b.upper)?));
    }
    let input_shape = shape_of(&input)?;
    let output_shape = shape_of(&output)?;
    let (lo, hi) = boxes
        .get(&input)
        .ok_or_else(|| Failure::claim(format!("`{input}` is not an input of the graph")))?;
    let free = lo.iter().zip(hi.iter()).map(|(l, h)| l < h).collect();
    let kind = match cx.claim {
        Claim::Lipschitz {
            norm,
            bound,
            strict,
            ..
        } => Kind::Lipschitz {
            norm: *norm,
            bound: *bound,
            strict: *strict,
        },
        Claim::Derivative {
            output: o,
            input: i,
            cmp,
            bound,
        } => {
            let (Some(oi), Some(ii)) = (&o.index, &i.index) else {
                return Err(Failure::claim(
                    "`d` takes indexed elements: d(y[0]) / d(x[3])",
                ));
            };
            let row = flat_index(o, oi, &output_shape)?;
            let col = flat_index(i, ii, &input_shape)?;
            Kind::Derivative {
                row,
                col,
                cmp: *cmp,
                bound: *bound,
                text: format!(
                    "d({}{}) / d({}{})",
                    o.name,
                    index_text(&output_shape, row),
                    i.name,
                    index_text(&input_shape, col)
                ),
            }
        }
        _ => unreachable!("checked above"),
    };
    Ok(Problem {
        graph,
        output,
        input,
        input_shape,
        output_shape,
        boxes,
        free,
        kind,
    })
}

fn norm_of(j: &Array2<f64>, norm: JacobianNorm, free: &[bool]) -> f64 {
    match norm {
        JacobianNorm::Linf => j
            .outer_iter()
            .map(|r| {
                r.iter()
                    .zip(free)
                    .filter(|(_, &f)| f)
                    .map(|(v, _)| v.abs())
                    .sum::<f64>()
            })
            .fold(0.0, f64::max),
        JacobianNorm::L1 => (0..j.ncols())
            .filter(|&c| free[c])
            .map(|c| j.column(c).iter().map(|v| v.abs()).sum::<f64>())
            .fold(0.0, f64::max),
    }
}

/// What the enclosure says: the bound it proves and whether that decides the claim.
fn enclosure_decides(p: &Problem, e: &JacobianEnclosure) -> (bool, String) {
    match &p.kind {
        Kind::Lipschitz {
            norm,
            bound,
            strict,
        } => {
            let u = match norm {
                JacobianNorm::Linf => e.linf_norm_bound(&p.free),
                JacobianNorm::L1 => e.l1_norm_bound(&p.free),
            };
            let ok = if *strict { u < *bound } else { u <= *bound };
            let free = p.free.iter().filter(|&&f| f).count();
            (
                ok,
                format!(
                    "the Jacobian enclosure bounds the {} Lipschitz constant of `{}` by {u:.6e} over the set ({free} of {} coordinates of `{}` free)",
                    norm.name(),
                    p.output,
                    p.free.len(),
                    p.input
                ),
            )
        }
        Kind::Derivative {
            row,
            col,
            cmp,
            bound,
            text,
        } => {
            let (lo, hi) = (e.lo[[*row, *col]], e.hi[[*row, *col]]);
            let ok = match cmp {
                Cmp::Ge | Cmp::Gt => holds(lo, *cmp, *bound),
                Cmp::Le | Cmp::Lt => holds(hi, *cmp, *bound),
            };
            (
                ok,
                format!("the Jacobian enclosure puts {text} in [{lo:.6e}, {hi:.6e}] over the set"),
            )
        }
    }
}

/// `ibp`: the enclosure decides, else sampled exact Jacobians may falsify, else unknown.
pub(super) fn enclose(cx: &Cx, seed: u64) -> Result<(Verdict, String), Failure> {
    let p = problem(cx)?;
    let (hints, hint_note) = crown_hints(cx, &p);
    let e = match jacobian_enclosure_with(
        &p.graph,
        &cx.model.params,
        &p.boxes,
        &p.input,
        &p.output,
        &hints,
    ) {
        Ok(e) => e,
        Err(err @ AutogradError::NoRule { .. }) => {
            return Ok((
                Verdict::Unknown {
                    reason: format!("no Jacobian enclosure: {err} [{}]", err.code()),
                },
                String::new(),
            ))
        }
        Err(err) => return Err(autograd_failure(err)),
    };
    let (ok, line) = enclosure_decides(&p, &e);
    if ok {
        return Ok((
            Verdict::Holds,
            format!(
                "{line}: {} holds (interval forward mode over the f64 reference semantics, generalized derivatives at kinks, rounding outward{hint_note}); checked",
                p.kind.text(&p)
            ),
        ));
    }
    let sampled = sample_jacobians(cx, &p, FALSIFY_SAMPLES, seed)?;
    if let Some(v) = sampled.violation {
        return Ok(v);
    }
    Ok((
        Verdict::Unknown {
            reason: format!(
                "{line}, which does not prove {}; {}: the enclosure is too loose to decide",
                p.kind.text(&p),
                sampled.summary
            ),
        },
        String::new(),
    ))
}

/// CROWN bounds of every layer over the box (sound over the reals: f64 rounding charged, no f32
/// executor margin), to tighten the enclosure's primal intervals; none when the graph is outside
/// the bounds crate (more than one input, an op it does not lower).
fn crown_hints(cx: &Cx, p: &Problem) -> (ValueHints, String) {
    let mut hints = ValueHints::new();
    if p.graph.inputs.len() != 1 {
        return (hints, String::new());
    }
    let payload = |key: &str| cx.model.f64_param(key);
    let Ok(net) = tl_bounds::BoundNet::from_graph(&p.graph, &payload, Some(&p.output)) else {
        return (hints, String::new());
    };
    let (lo, hi) = &p.boxes[&p.input];
    let Ok(input) =
        tl_bounds::InputBox::new(lo.iter().copied().collect(), hi.iter().copied().collect())
    else {
        return (hints, String::new());
    };
    let opts = tl_bounds::CrownOptions {
        intersect_ibp: true,
        sound: true,
        f32_executor: false,
    };
    let Ok(Some(a)) = tl_bounds::Analysis::new(&net, &input, tl_bounds::Method::Crown, opts, &[])
    else {
        return (hints, String::new());
    };
    for (i, node) in net.nodes.iter().enumerate() {
        let (l, h) = (&a.lower[i], &a.upper[i]);
        if !l.is_empty() && l.len() == h.len() {
            hints.insert(node.name.clone(), (l.to_vec(), h.to_vec()));
        }
    }
    (hints, ", value intervals tightened by CROWN".into())
}

/// `sampling`: exact Jacobians at sampled interior points only.
pub(super) fn sample(cx: &Cx, samples: u64, seed: u64) -> Result<(Verdict, String), Failure> {
    let p = problem(cx)?;
    let s = sample_jacobians(cx, &p, samples, seed)?;
    if let Some(v) = s.violation {
        return Ok(v);
    }
    if s.checked == 0 {
        return Ok((
            Verdict::Unknown {
                reason: format!("{}: no point to judge by; not a pass", s.summary),
            },
            String::new(),
        ));
    }
    Ok((
        Verdict::Holds,
        format!(
            "{}: {} holds at every one; sampled, not proved",
            s.summary,
            p.kind.text(&p)
        ),
    ))
}

struct Sampled {
    checked: usize,
    summary: String,
    violation: Option<(Verdict, String)>,
}

fn sample_jacobians(cx: &Cx, p: &Problem, samples: u64, seed: u64) -> Result<Sampled, Failure> {
    let model = Model {
        graph: p.graph.clone(),
        params: cx.model.params.clone(),
    };
    // Two extra draws: the box's corners come first, and they are not interior points.
    let draws = draw(cx, &model, samples + 2, seed, 1)?;
    let (lo, hi) = &p.boxes[&p.input];
    let n = p.input_shape.iter().product::<usize>();
    // The rounding budget of a computed Jacobian entry: gamma over every value the forward sweep
    // computes, times the entry's own magnitude plus 1 (the tangents start at magnitude 1).
    let computed: usize = p
        .graph
        .nodes
        .iter()
        .filter_map(|nd| nd.shape.as_known())
        .map(|s| s.iter().product::<u64>() as usize)
        .sum();
    let rel = 4.0 * gamma(computed + n);
    let (mut checked, mut skipped, mut not_interior) = (0usize, 0usize, 0usize);
    let mut first_kink = None;
    let mut extreme: Option<f64> = None;
    let mut ambiguous: Option<usize> = None;
    for (k, inputs) in draws.iter().enumerate() {
        if let Some(stop) = cx.cancelled(k, samples) {
            return Ok(Sampled {
                checked,
                summary: String::new(),
                violation: Some(stop),
            });
        }
        let x = inputs[&p.input].to_f64();
        let interior = x
            .iter()
            .zip(lo.iter().zip(hi.iter()))
            .zip(&p.free)
            .all(|((&v, (&l, &h)), &f)| !f || (l < v && v < h));
        if !interior {
            not_interior += 1;
            continue;
        }
        let den = tl_kernels::denote(&p.graph, &cx.model.params, inputs).map_err(Failure::exec)?;
        let at = kinks(&p.graph, &den, 0.0).map_err(autograd_failure)?;
        if let Some(kink) = at.first() {
            skipped += 1;
            first_kink.get_or_insert_with(|| kink.to_string());
            continue;
        }
        checked += 1;
        let j = exact_jacobian(p, &cx.model.params, inputs, n)?;
        let (value, violated, what) = match &p.kind {
            Kind::Lipschitz {
                norm,
                bound,
                strict: _,
            } => {
                let v = norm_of(&j, *norm, &p.free);
                // At a differentiable interior point the constant is at least the norm there.
                let slack = rel * (v.abs() + 1.0);
                if v > *bound && v <= bound + slack {
                    ambiguous.get_or_insert(k);
                }
                (
                    v,
                    v > bound + slack,
                    format!("{} norm of the Jacobian", norm.name()),
                )
            }
            Kind::Derivative {
                row,
                col,
                cmp,
                bound,
                text,
            } => {
                let v = j[[*row, *col]];
                let slack = rel * (v.abs() + 1.0);
                let bad = match cmp {
                    Cmp::Ge => v < bound - slack,
                    Cmp::Gt => v <= bound - slack,
                    Cmp::Le => v > bound + slack,
                    Cmp::Lt => v >= bound + slack,
                };
                // Within the rounding budget of the bound on the wrong side: neither a
                // counterexample nor evidence for the claim.
                let holds = match cmp {
                    Cmp::Ge => v >= *bound,
                    Cmp::Gt => v > *bound,
                    Cmp::Le => v <= *bound,
                    Cmp::Lt => v < *bound,
                };
                if !bad && !holds {
                    ambiguous.get_or_insert(k);
                }
                (v, bad, text.clone())
            }
        };
        extreme = Some(match (&p.kind, extreme) {
            (_, None) => value,
            (Kind::Lipschitz { .. }, Some(e)) => e.max(value),
            (Kind::Derivative { cmp, .. }, Some(e)) => match cmp {
                Cmp::Ge | Cmp::Gt => e.min(value),
                Cmp::Le | Cmp::Lt => e.max(value),
            },
        });
        if violated {
            let detail = format!(
                "sample {k} (seed {seed}): the {what} is {value:.9e} at this interior point of the set, where `{}` is differentiable (no kink), so {} is false; exact Jacobian by forward mode over the f64 reference semantics (rounding budget {:.1e} relative)",
                p.output,
                p.kind.text(p),
                rel
            );
            let outputs = den
                .node(
                    p.graph
                        .outputs
                        .iter()
                        .find(|(o, _)| *o == p.output)
                        .map(|(_, id)| *id)
                        .unwrap_or(0),
                )
                .map(|t| vec![(p.output.clone(), t.shape().to_vec(), values(t))])
                .unwrap_or_default();
            return Ok(Sampled {
                checked,
                summary: String::new(),
                violation: Some((
                    Verdict::Violated {
                        counterexample: Counterexample {
                            inputs: inputs
                                .iter()
                                .map(|(n, t)| (n.clone(), t.shape().to_vec(), values(t)))
                                .collect(),
                            outputs,
                            confirmed_on: "the f64 reference semantics (forward-mode Jacobian)"
                                .into(),
                        },
                    },
                    detail,
                )),
            });
        }
    }
    let mut summary =
        format!("exact Jacobians at {checked} sampled interior point(s) (seed {seed})");
    if let Some(e) = extreme {
        let what = match &p.kind {
            Kind::Lipschitz { .. } => "largest norm (a sampled lower bound of the constant)",
            Kind::Derivative { cmp, .. } => match cmp {
                Cmp::Ge | Cmp::Gt => "smallest value",
                Cmp::Le | Cmp::Lt => "largest value",
            },
        };
        summary.push_str(&format!(", {what} {e:.6e}"));
    }
    if skipped > 0 {
        summary.push_str(&format!(
            "; skipped {skipped} point(s) at a kink, where the claim needs the derivative and it is not unique (first: {})",
            first_kink.unwrap_or_default()
        ));
    }
    if not_interior > 0 {
        summary.push_str(&format!(
            "; {not_interior} point(s) on the set's boundary not used"
        ));
    }
    let _ = &p.output_shape;
    if let Some(k) = ambiguous {
        // A property inside the rounding margin is unknown, never tested-true.
        return Ok(Sampled {
            checked,
            summary: summary.clone(),
            violation: Some((
                Verdict::Unknown {
                    reason: format!(
                        "sample {k} (seed {seed}): the value lies within the rounding budget ({rel:.1e} relative) of the bound on the wrong side, so the sample neither falsifies nor supports {}; {summary}",
                        p.kind.text(p)
                    ),
                },
                summary,
            )),
        });
    }
    Ok(Sampled {
        checked,
        summary,
        violation: None,
    })
}

/// `[output element, input coordinate]` at the point, by forward mode along each unit direction.
fn exact_jacobian(
    p: &Problem,
    params: &BTreeMap<String, Tensor>,
    inputs: &BTreeMap<String, Tensor>,
    n: usize,
) -> Result<Array2<f64>, Failure> {
    let mut cols: Vec<Vec<f64>> = Vec::with_capacity(n);
    for j in 0..n {
        let mut e = ArrayD::zeros(IxDyn(&p.input_shape));
        if let Some(slot) = e.iter_mut().nth(j) {
            *slot = 1.0;
        }
        let seeds = Seeds {
            inputs: BTreeMap::from([(p.input.clone(), e)]),
            params: BTreeMap::new(),
        };
        let t = jvp(&p.graph, params, inputs, &p.output, &seeds).map_err(autograd_failure)?;
        cols.push(t.tangent.iter().copied().collect());
    }
    let m = cols.first().map_or(0, Vec::len);
    Ok(Array2::from_shape_fn((m, n), |(i, j)| cols[j][i]))
}
