//! `gradient ~= finite_difference within T`: tl's reverse mode (`tl_kernels::autograd`, over the
//! f64 reference semantics) against central finite differences of the same semantics, at points
//! drawn from the contract's input sets. Sampled evidence: status "tested", never more.
//!
//! The differentiated value is the graph's one output, or the sum of its elements when it is not
//! a scalar (the detail says so). Small problems compare every coordinate of every float input and
//! param; larger ones a seeded subset of coordinates plus random directional derivatives.
//!
//! Points at a kink are skipped, and the detail says how many and why: where a relu or abs input
//! is exactly 0, a clamp input exactly at a bound, or two values of a max reduction or max-pooling
//! window tie for the maximum, the objective is not differentiable, so neither number compared
//! means anything there. A point whose comparison fails while such a value is within
//! `KINK_MARGIN * max(1, |v|)` of its kink is skipped too (the central difference of step h may
//! straddle the kink); a point near a kink whose comparisons pass counts as checked, so large
//! networks (whose many relus put some always near 0) are not skipped wholesale. A box's corners often sit on ties (a constant image ties every pooling window), so the
//! check draws up to as many extra points again to reach `samples` differentiable ones; when every
//! point lies at a kink the result is unknown, never a pass.

use std::collections::BTreeMap;

use tl_bounds::attack::Rng;
use tl_kernels::autograd::{AutogradError, Gradients, Objective, Wrt};
use tl_kernels::Tensor;

use super::claims::index_text;
use super::model::values;
use super::sampling::{draw, STRUCTURE_SIZE};
use super::{Cx, Failure, Tolerance};
use crate::outcome::{Counterexample, Verdict};

/// Problems with at most this many scalar coordinates are checked coordinate by coordinate.
const ALL_COORDINATES: usize = 256;
/// Otherwise: this many seeded coordinates per sample ...
const SUBSET: usize = 64;
/// ... and this many random directions through all coordinates.
const DIRECTIONS: usize = 4;
/// The finite-difference step relative to the coordinate's magnitude: h = STEP * max(1, |x|).
const STEP: f64 = 1e-6;
/// A point whose comparison fails within `KINK_MARGIN * max(1, |v|)` of a kink is skipped (100
/// steps h: the central difference's own span, with room for the step's growth through layers).
const KINK_MARGIN: f64 = 100.0 * STEP;

pub(super) fn run(cx: &Cx, samples: u64, seed: u64) -> Result<(Verdict, String), Failure> {
    let tol =
        cx.p.tolerance
            .as_ref()
            .ok_or_else(|| Failure::claim("a gradient contract needs a tolerance"))?;
    let graph = &cx.model.graph;
    let output = match graph.outputs.as_slice() {
        [(name, _)] => name.clone(),
        outs => {
            return Err(Failure::new(
                "TL0805",
                format!(
                    "the graph has {} outputs: a gradient contract differentiates exactly one (write a graph whose output is the loss)",
                    outs.len()
                ),
            ))
        }
    };
    let draws = draw(
        cx,
        cx.model,
        samples.saturating_mul(2),
        seed,
        STRUCTURE_SIZE,
    )?;
    let mut worst: Option<Comparison> = None;
    let mut plan_text = String::new();
    let mut summed = 1;
    let (mut checked, mut skipped) = (0u64, 0u64);
    let mut first_kink: Option<String> = None;
    for (k, inputs) in draws.iter().enumerate() {
        if checked >= samples {
            break;
        }
        if let Some(stop) = cx.cancelled(k, samples) {
            return Ok(stop);
        }
        let objective =
            Objective::new(graph, &cx.model.params, inputs, &output).map_err(autograd_failure)?;
        // Exactly at a kink (a tie, relu(0)): skipped before comparing.
        let kinks = objective.kinks(0.0).map_err(autograd_failure)?;
        if let Some(kink) = kinks.first() {
            skipped += 1;
            first_kink.get_or_insert_with(|| format!("point {k}: {kink}"));
            continue;
        }
        let grads = objective.gradients().map_err(autograd_failure)?;
        summed = grads.summed;
        if !grads.value.is_finite() {
            return Ok((
                Verdict::Unknown {
                    reason: format!(
                        "sample {k}: `{output}` is {} there, so its gradient is undefined; not a pass",
                        grads.value
                    ),
                },
                format!("{samples} samples (seed {seed})"),
            ));
        }
        let blocks = objective.coordinates();
        let total: usize = blocks
            .iter()
            .map(|(_, s)| s.iter().product::<usize>())
            .sum();
        if total == 0 {
            return Err(Failure::new(
                "TL0805",
                "the graph has no float input or param to differentiate: the claim would hold vacuously",
            ));
        }
        let mut rng = Rng(seed ^ (k as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ 0x06AD_1E27);
        let picked = pick_coordinates(&blocks, total, &mut rng);
        plan_text = if total <= ALL_COORDINATES {
            format!("all {total} coordinates")
        } else {
            format!(
                "{} of {total} coordinates (a seeded subset per sample) and {DIRECTIONS} random directional derivatives",
                picked.len()
            )
        };
        let mut found = Vec::new();
        for (wrt, index) in picked {
            found.push(coordinate(&objective, &grads, tol, wrt, index)?);
        }
        if total > ALL_COORDINATES {
            for d in 0..DIRECTIONS {
                found.push(direction(&objective, &grads, tol, &blocks, d, &mut rng)?);
            }
        }
        if found.iter().any(Comparison::fails) {
            // Near a kink the central difference may straddle it: such a point is skipped, not
            // counted against the rules (and not for them either).
            let near = objective.kinks(KINK_MARGIN).map_err(autograd_failure)?;
            if let Some(kink) = near.first() {
                skipped += 1;
                first_kink.get_or_insert_with(|| {
                    format!("point {k}: {kink}, within {KINK_MARGIN:e} * max(1, |v|), where a comparison failed")
                });
                continue;
            }
        }
        checked += 1;
        for c in found {
            if c.fails() {
                return Ok(violation(
                    &objective, inputs, &output, tol, k, samples, seed, c,
                ));
            }
            if worst.as_ref().is_none_or(|w| c.ratio() > w.ratio()) {
                worst = Some(c);
            }
        }
    }
    let kink_note = match &first_kink {
        Some(first) => format!(
            "; skipped {skipped} point(s) at a kink, where the objective is not differentiable (first: {first})"
        ),
        None => String::new(),
    };
    if checked == 0 {
        return Ok((
            Verdict::Unknown {
                reason: format!(
                    "every one of {} drawn points lies at a kink, where the gradient is undefined (first: {}); not a pass",
                    draws.len(),
                    first_kink.unwrap_or_default()
                ),
            },
            format!("{samples} samples (seed {seed})"),
        ));
    }
    let worst_text =
        worst.map_or("no coordinates to compare".into(), |w| {
            format!(
            "worst {}: autograd {:.6e}, central difference {:.6e}, error {:.3e} (allowed {:.3e})",
            w.what, w.autograd, w.numeric, w.error(), w.allowed
        )
        });
    let sum_note = if summed > 1 {
        format!("; `{output}` has {summed} elements: the gradient of their sum")
    } else {
        String::new()
    };
    Ok((
        Verdict::Holds,
        format!(
            "{checked} samples (seed {seed}), symbolic extents {STRUCTURE_SIZE}: reverse-mode gradients of `{output}` (f64 reference semantics) agree with central differences (h = {STEP:e} * max(1, |x|)) within {} on {plan_text}{sum_note}{kink_note}; {worst_text}; sampled, not proved",
            tol.name
        ),
    ))
}

/// One autograd value against its finite-difference estimate.
struct Comparison {
    /// `d loss / d param fc1.weight[2, 0]` or `direction 1 (g . v)`.
    what: String,
    autograd: f64,
    numeric: f64,
    allowed: f64,
    /// The coordinate, for the kink analysis of a failure (None for directions).
    coordinate: Option<(Wrt, usize, f64)>,
}

impl Comparison {
    fn error(&self) -> f64 {
        let e = (self.autograd - self.numeric).abs();
        if e.is_nan() {
            f64::INFINITY
        } else {
            e
        }
    }
    fn fails(&self) -> bool {
        !self.autograd.is_finite() || !self.numeric.is_finite() || self.error() > self.allowed
    }
    fn ratio(&self) -> f64 {
        if self.allowed > 0.0 {
            self.error() / self.allowed
        } else {
            self.error()
        }
    }
}

fn autograd_failure(e: AutogradError) -> Failure {
    let code = e.code();
    match e {
        AutogradError::Exec(inner) => Failure::exec(inner),
        other => Failure::new("TL0805", format!("{other} [{code}]")),
    }
}

/// Every coordinate when there are few; else a seeded subset without repeats.
fn pick_coordinates(
    blocks: &[(Wrt, Vec<usize>)],
    total: usize,
    rng: &mut Rng,
) -> Vec<(Wrt, usize)> {
    let locate = |mut flat: usize| {
        for (wrt, shape) in blocks {
            let n: usize = shape.iter().product();
            if flat < n {
                return (wrt.clone(), flat);
            }
            flat -= n;
        }
        unreachable!("flat index below the total")
    };
    if total <= ALL_COORDINATES {
        return (0..total).map(locate).collect();
    }
    let mut chosen = std::collections::BTreeSet::new();
    while chosen.len() < SUBSET {
        chosen.insert(((rng.next_f64() * total as f64) as usize).min(total - 1));
    }
    chosen.into_iter().map(locate).collect()
}

fn gradient_block<'a>(grads: &'a Gradients, wrt: &Wrt) -> Option<&'a ndarray::ArrayD<f64>> {
    match wrt {
        Wrt::Input(n) => grads.inputs.get(n),
        Wrt::Param(k) => grads.params.get(k),
    }
}

fn coordinate(
    objective: &Objective,
    grads: &Gradients,
    tol: &Tolerance,
    wrt: Wrt,
    index: usize,
) -> Result<Comparison, Failure> {
    let block = objective
        .block(&wrt)
        .ok_or_else(|| Failure::claim(format!("no values for {wrt}")))?;
    let shape = block.shape().to_vec();
    let x = block.iter().nth(index).copied().unwrap_or(f64::NAN);
    let autograd = gradient_block(grads, &wrt)
        .and_then(|g| g.iter().nth(index).copied())
        .unwrap_or(f64::NAN);
    let numeric = objective
        .central_difference(&wrt, index, STEP * x.abs().max(1.0))
        .map_err(autograd_failure)?;
    Ok(Comparison {
        what: format!("d {} / d {wrt}{}", grads.output, index_text(&shape, index)),
        autograd,
        numeric,
        allowed: tol.allowed(numeric),
        coordinate: Some((wrt, index, x)),
    })
}

/// `g . v` against `(f(x + h v) - f(x - h v)) / 2h` for a random `v` with entries in [-1, 1].
fn direction(
    objective: &Objective,
    grads: &Gradients,
    tol: &Tolerance,
    blocks: &[(Wrt, Vec<usize>)],
    d: usize,
    rng: &mut Rng,
) -> Result<Comparison, Failure> {
    let mut v = Vec::with_capacity(blocks.len());
    let mut dot = 0.0;
    let mut scale = 1.0f64;
    for (wrt, shape) in blocks {
        let dir = ndarray::ArrayD::from_shape_simple_fn(ndarray::IxDyn(shape), || {
            2.0 * rng.next_f64() - 1.0
        });
        if let Some(g) = gradient_block(grads, wrt) {
            dot += (g * &dir).sum();
        }
        if let Some(x) = objective.block(wrt) {
            scale = x.iter().fold(scale, |m, v| m.max(v.abs()));
        }
        v.push((wrt.clone(), dir));
    }
    let numeric = objective
        .directional_difference(&v, STEP * scale)
        .map_err(autograd_failure)?;
    Ok(Comparison {
        what: format!("direction {d} (gradient . v, v uniform in [-1, 1])"),
        autograd: dot,
        numeric,
        allowed: tol.allowed(numeric),
        coordinate: None,
    })
}

#[allow(clippy::too_many_arguments)]
fn violation(
    objective: &Objective,
    inputs: &BTreeMap<String, Tensor>,
    output: &str,
    tol: &Tolerance,
    k: usize,
    samples: u64,
    seed: u64,
    c: Comparison,
) -> (Verdict, String) {
    let mut detail = format!(
        "sample {k} of {samples} (seed {seed}): {}: autograd {:e}, central difference {:e}, error {:.3e} > {:.3e} allowed by {}",
        c.what,
        c.autograd,
        c.numeric,
        c.error(),
        c.allowed,
        tol.name
    );
    if !c.autograd.is_finite() || !c.numeric.is_finite() {
        detail.push_str(" (a non-finite value is never a pass)");
    }
    if let Some(kink) = c
        .coordinate
        .as_ref()
        .and_then(|(wrt, i, x)| one_sided(objective, wrt, *i, *x, tol))
    {
        detail.push_str(&kink);
    }
    detail.push_str("; reverse mode over the f64 reference semantics");
    let outputs = objective
        .value()
        .ok()
        .map(|v| vec![(output.to_string(), vec![], vec![v])])
        .unwrap_or_default();
    (
        Verdict::Violated {
            counterexample: Counterexample {
                inputs: inputs
                    .iter()
                    .map(|(n, t)| (n.clone(), t.shape().to_vec(), values(t)))
                    .collect(),
                outputs,
                confirmed_on:
                    "the f64 reference semantics (reverse mode against central differences)".into(),
            },
        },
        detail,
    )
}

/// When the left and right difference quotients disagree, the point is (near) a kink: the
/// objective is not differentiable there and autograd returns a subgradient by convention.
fn one_sided(
    objective: &Objective,
    wrt: &Wrt,
    index: usize,
    x: f64,
    tol: &Tolerance,
) -> Option<String> {
    let h = STEP * x.abs().max(1.0);
    let f0 = objective.value().ok()?;
    let up = objective.value_with(&[(wrt.clone(), index, x + h)]).ok()?;
    let down = objective.value_with(&[(wrt.clone(), index, x - h)]).ok()?;
    let right = (up - f0) / ((x + h) - x);
    let left = (f0 - down) / (x - (x - h));
    ((right - left).abs() > tol.allowed(right.abs().max(left.abs()))).then(|| {
        format!(
            "; the one-sided differences differ (left {left:e}, right {right:e}): `{}` is not differentiable at this point (a kink, e.g. relu or abs at 0), where autograd returns PyTorch's subgradient (relu'(0) = 0)",
            objective.output()
        )
    })
}
