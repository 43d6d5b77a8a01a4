//! Bridges: `ensure other within T` with `execute on cpu|cuda`. The other contract runs (once per
//! process, memoised); its status carries over only with evidence that the executor's measured
//! deviation from the reference semantics stays within T. That evidence is sampled, so a bridge
//! grants at most "tested". There is no CUDA executor in tl: for `execute on cuda` the deviation
//! is measured on the CPU compiled f32 plan and the detail says that CUDA execution was not
//! checked; what is claimed about CUDA rests on the contract's named assumptions.

use tl_kernels::denote;

use super::model::values;
use super::sampling::draw;
use super::{execute, Cx, Failure, Memo, MethodResult, Prepared, VerifyOptions};
use crate::contracts::Method;
use crate::outcome::{Status, Verdict};

/// Samples when the bridge names no sampling method.
const DEFAULT_SAMPLES: u64 = 100;

pub(super) fn run(p: &Prepared, m: &Method, opts: &VerifyOptions, memo: &Memo) -> MethodResult {
    let ceiling = Status::Tested;
    match measure(p, m, opts, memo) {
        Ok((verdict, grants, detail)) => (verdict, grants, detail),
        Err(f) => (
            Verdict::Error {
                code: f.code.to_string(),
                message: f.message,
            },
            ceiling,
            String::new(),
        ),
    }
}

fn measure(
    p: &Prepared,
    m: &Method,
    opts: &VerifyOptions,
    memo: &Memo,
) -> Result<MethodResult, Failure> {
    let target = match &p.bridged {
        Some(Ok(t)) => t,
        Some(Err(f)) => return Err(f.clone()),
        None => return Err(Failure::new("TL0808", "not a bridge")),
    };
    let (samples, seed) = match m {
        Method::Sampling { samples, seed } => (*samples, *seed),
        Method::Catalog => {
            return Ok((
                Verdict::Unknown {
                    reason: "no catalog entry states a result for execution bridges".into(),
                },
                Status::Proved,
                String::new(),
            ))
        }
        _ => (DEFAULT_SAMPLES, 0),
    };
    let tol = p
        .tolerance
        .as_ref()
        .ok_or_else(|| Failure::claim("a bridge needs a tolerance"))?;
    let model = p.model.as_ref().map_err(Clone::clone)?;
    let other = execute(target, opts, memo);
    let other_status = other.evidence_status;
    let executor = match p.execute_on.as_deref() {
        Some("cuda") => "the CPU compiled f32 plan; CUDA execution was NOT checked (tl has no CUDA executor on this machine), so the CUDA result rests on the named assumptions",
        _ => "the CPU compiled f32 plan",
    };
    if other_status == Status::Falsified {
        let cex = other
            .outcome
            .methods
            .iter()
            .find_map(|m| match &m.verdict {
                Verdict::Violated { counterexample } => Some(counterexample.clone()),
                _ => None,
            })
            .ok_or_else(|| Failure::new("TL0808", "falsified without a counterexample"))?;
        let on = cex.confirmed_on.clone();
        return Ok((
            Verdict::Violated {
                counterexample: cex,
            },
            Status::Tested,
            format!(
                "`{}` is falsified (counterexample confirmed on {on})",
                target.name
            ),
        ));
    }
    if other_status == Status::Uncovered {
        return Ok((
            Verdict::Unknown {
                reason: format!(
                    "`{}` is uncovered: there is nothing to carry over",
                    target.name
                ),
            },
            Status::Tested,
            String::new(),
        ));
    }
    let claim = target
        .claim
        .as_ref()
        .ok_or_else(|| Failure::claim(format!("`{}` has errors", target.name)))?;
    let cx = Cx {
        p: target,
        opts,
        model,
        claim,
    };
    let plan = model.compile()?;
    let mut worst = (0.0f64, 0.0f64, String::new());
    for inputs in draw(&cx, model, samples, seed, 1)? {
        let out = plan.run(&inputs).map_err(Failure::exec)?;
        let den = denote(&model.graph, &model.params, &inputs).map_err(Failure::exec)?;
        for (name, c) in &out {
            let Some(r) = den.output(name) else { continue };
            for (a, b) in values(c).iter().zip(values(r)) {
                let err = (a - b).abs();
                let err = if err.is_nan() { f64::INFINITY } else { err };
                let allowed = tol.allowed(b);
                if worst.2.is_empty()
                    || err / allowed.max(f64::MIN_POSITIVE)
                        > worst.0 / worst.1.max(f64::MIN_POSITIVE)
                {
                    worst = (err, allowed, name.clone());
                }
            }
        }
    }
    let measured = format!(
        "{samples} samples (seed {seed}) on {executor}: worst output deviation {:.3e} at {} (allowed {:.3e} by {})",
        worst.0, worst.2, worst.1, tol.name
    );
    if worst.0.is_nan() || worst.0 > worst.1 {
        return Ok((
            Verdict::Unknown {
                reason: format!("the executor deviates beyond {}: {measured}", tol.name),
            },
            Status::Tested,
            measured,
        ));
    }
    Ok((
        Verdict::Holds,
        other_status.compose(Status::Tested),
        format!("`{}` is {other_status}; {measured}", target.name),
    ))
}
