//! Looking for counterexamples cheaply (random points and projected sign-gradient descent) and
//! confirming candidates by concrete execution before anything is reported: tl-kernels' compiled
//! f32 executor and its f64 reference semantics, on the graph the net was lowered from
//! ([`crate::execute`]).

use crate::crown::InputBox;
use crate::execute::Executor;
use crate::net::BoundNet;
use crate::stop::Stop;
use crate::vnnlib::{Case, OutputConstraint};

/// A confirmed counterexample: `x` (f32-representable, inside the box) drives the outputs, as
/// computed in f64 and in f32, into disjunct `disjunct` of case `case`.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Counterexample {
    pub case: usize,
    pub disjunct: usize,
    pub x: Vec<f64>,
    pub y_f64: Vec<f64>,
    pub y_f32: Vec<f64>,
}

/// A small deterministic generator (splitmix64); attacks are reproducible.
#[derive(Clone, Debug)]
pub struct Rng(pub u64);

impl Rng {
    pub fn next_f64(&mut self) -> f64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        (z >> 11) as f64 / (1u64 << 53) as f64
    }
    pub fn point(&mut self, b: &InputBox) -> Vec<f64> {
        b.lower
            .iter()
            .zip(&b.upper)
            .map(|(l, u)| l + (u - l) * self.next_f64())
            .collect()
    }
}

/// Rounds `x` to f32 values that stay inside the box; `None` when the box has no f32 point on
/// some axis.
pub fn f32_point_in_box(x: &[f64], b: &InputBox) -> Option<Vec<f64>> {
    x.iter()
        .zip(b.lower.iter().zip(&b.upper))
        .map(|(&v, (&l, &u))| {
            let mut p = v.clamp(l, u) as f32;
            if (p as f64) < l {
                p = p.next_up();
            }
            if (p as f64) > u {
                p = p.next_down();
            }
            ((l..=u).contains(&(p as f64))).then_some(p as f64)
        })
        .collect()
}

/// Whether the f64 outputs meet every constraint with room for f64 evaluation error.
fn holds_f64(rows: &[OutputConstraint], y: &[f64]) -> bool {
    rows.iter().all(|r| {
        let scale: f64 = r
            .coeffs
            .iter()
            .zip(y)
            .map(|(c, v)| (c * v).abs())
            .sum::<f64>()
            + r.rhs.abs();
        r.slack(y) <= -1e-9 * scale.max(1e-300)
    })
}

/// Confirms a candidate: rounds it to an f32 point of the box and runs it on the compiled f32
/// executor and in the f64 reference semantics; both must violate. `None` also when the net has
/// no executor (built by hand) or an engine cannot run the point.
pub fn confirm(
    net: &BoundNet,
    case: &Case,
    case_index: usize,
    disjunct: usize,
    x: &[f64],
) -> Option<Counterexample> {
    let exec = net.exec.as_deref()?;
    let x = f32_point_in_box(x, &case.input)?;
    let rows = &case.disjuncts[disjunct];
    // The compiled plan first: it is the cheaper engine, and most candidates fail there.
    let y32 = exec.compiled(&x).ok()?;
    if !rows.iter().all(|r| r.holds(&y32)) {
        return None;
    }
    let y64 = exec.reference(&x).ok()?;
    if !holds_f64(rows, &y64) {
        return None;
    }
    Some(Counterexample {
        case: case_index,
        disjunct,
        x,
        y_f64: y64,
        y_f32: y32,
    })
}

/// Largest slack of a disjunct's rows at `y` (<= 0 means all constraints hold) and its row.
fn worst(rows: &[OutputConstraint], y: &[f64]) -> (f64, usize) {
    rows.iter()
        .enumerate()
        .map(|(i, r)| (r.slack(y), i))
        .fold((f64::NEG_INFINITY, 0), |a, b| if b.0 > a.0 { b } else { a })
}

/// Attack budget.
#[derive(Clone, Copy, Debug)]
pub struct AttackConfig {
    pub samples: usize,
    pub restarts: usize,
    pub steps: usize,
}

impl Default for AttackConfig {
    fn default() -> Self {
        AttackConfig {
            samples: 64,
            restarts: 8,
            steps: 40,
        }
    }
}

/// Random sampling then PGD on every disjunct of a case: candidates scored on the compiled
/// executor, steps along the reference semantics' gradient. Nothing to do without an executor.
pub fn attack(
    net: &BoundNet,
    case: &Case,
    case_index: usize,
    cfg: AttackConfig,
    rng: &mut Rng,
    stop: &Stop,
) -> Option<Counterexample> {
    let exec = net.exec.as_deref()?;
    let b = &case.input;
    for (d, rows) in case.disjuncts.iter().enumerate() {
        if rows.is_empty() {
            if let Some(cx) = confirm(net, case, case_index, d, &b.center()) {
                return Some(cx);
            }
            continue;
        }
        let mut starts = vec![b.center()];
        let mut scored: Vec<(f64, Vec<f64>)> = (0..cfg.samples)
            .take_while(|_| !stop.stopped())
            .map(|_| {
                let x = rng.point(b);
                (score(exec, rows, &x).0, x)
            })
            .collect();
        scored.sort_by(|a, b| a.0.total_cmp(&b.0));
        for (s, x) in &scored {
            if *s <= 0.0 {
                if let Some(cx) = confirm(net, case, case_index, d, x) {
                    return Some(cx);
                }
            }
        }
        starts.extend(scored.into_iter().take(cfg.restarts).map(|(_, x)| x));
        for mut x in starts {
            let mut eta = 0.1;
            for _ in 0..cfg.steps {
                if stop.stopped() {
                    return None;
                }
                let (s, r) = score(exec, rows, &x);
                if s <= 0.0 {
                    if let Some(cx) = confirm(net, case, case_index, d, &x) {
                        return Some(cx);
                    }
                }
                let Ok(g) = exec.reference_gradient(&x, &rows[r].coeffs) else {
                    break;
                };
                for j in 0..x.len() {
                    let w = b.upper[j] - b.lower[j];
                    x[j] = (x[j] - eta * w * g[j].signum()).clamp(b.lower[j], b.upper[j]);
                }
                eta *= 0.9;
            }
        }
    }
    None
}

/// [`worst`] of the compiled executor's outputs at `x` (`+inf` where it cannot run).
fn score(exec: &Executor, rows: &[OutputConstraint], x: &[f64]) -> (f64, usize) {
    match exec.compiled(x) {
        Ok(y) => worst(rows, &y),
        Err(_) => (f64::INFINITY, 0),
    }
}
