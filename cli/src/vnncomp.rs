//! `tlc vnncomp`: one VNN-COMP instance (an ONNX network and a VNN-LIB property) decided by
//! branch and bound, with the result file the competition scripts read; and `tlc import vnnlib`,
//! which writes a spec stating the same instance as a contract.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use clap::Args;
use tl_bounds::{BabConfig, Branching, Instance, Verdict};

use crate::bounds::bounds_error;
use crate::exit;
use crate::run::CliError;

#[derive(Args)]
#[command(after_help = "Examples:
  tlc vnncomp ACASXU_run2a_1_1_batch_2000.onnx prop_1.vnnlib --timeout 116 --result out.txt
  tlc vnncomp net.onnx prop.vnnlib --timeout 60 --result out.txt --certificate cert.json

The result file's first line is unsat, sat, unknown or timeout; sat is followed by the
counterexample as ((X_0 v) ... (Y_0 v) ...). The time limit counts from the start (import
included) and is obeyed at every stage: `timeout` is written within the limit plus 1 s. Ctrl-C
stops the search and writes unknown (within 1 s; a second Ctrl-C exits at once).
`unsat` with --semantics f32 (the default) also holds for any f32 executor of the network.
Every `unsat` is written only after its certificate re-checks in the independent checker
(sharing no bound code with the search); one that does not re-check is `unknown` [TL0608].
Exit 0 when a result was written, 2 on usage, input or I/O errors.")]
pub struct VnncompArgs {
    /// The network (ONNX, one input and one output).
    pub network: PathBuf,
    /// The property (VNN-LIB).
    pub property: PathBuf,
    /// Time limit in seconds.
    #[arg(long, default_value_t = 116.0)]
    pub timeout: f64,
    /// Where to write the result.
    #[arg(long)]
    pub result: PathBuf,
    /// Also write the certificate of an `unsat` answer here (JSON; check it with
    /// `tlc certificate check`).
    #[arg(long)]
    pub certificate: Option<PathBuf>,
    /// Split the input box (`input`, best for few inputs) or unstable relus (`relu`).
    #[arg(long, default_value = "input", value_parser = ["input", "relu"])]
    pub split: String,
    /// `f32`: answers hold over the reals and for any f32 executor; `reals`: over the reals.
    #[arg(long, default_value = "f32", value_parser = ["f32", "reals"])]
    pub semantics: String,
    /// Memory ceiling in GiB: past it the answer is `unknown` (naming the ceiling).
    #[arg(long, default_value_t = 4.0)]
    pub memory_limit: f64,
}

pub fn run(args: VnncompArgs) -> u8 {
    match decide(&args) {
        Ok(()) => exit::OK,
        Err(e) => e.print(),
    }
}

/// Sets `cancel` on Ctrl-C; a second Ctrl-C exits at once.
fn cancel_on_ctrl_c(cancel: Arc<AtomicBool>) {
    let installed = ctrlc::set_handler(move || {
        if cancel.swap(true, Ordering::SeqCst) {
            std::process::exit(130);
        }
    });
    if let Err(e) = installed {
        eprintln!("warning: Ctrl-C will not stop the search cleanly: {e}");
    }
}

/// The last resort behind the verifier's own checks: a stage that overruns anyway (a huge ONNX
/// file being decoded) cannot make `tlc vnncomp` miss its limit. Past the deadline plus a grace
/// period, or a grace period after Ctrl-C, it writes `timeout` / `unknown` (unless an answer was
/// written) and exits.
fn watchdog(
    deadline: Instant,
    cancel: Arc<AtomicBool>,
    result: PathBuf,
    written: Arc<Mutex<bool>>,
) {
    const GRACE: Duration = Duration::from_millis(600);
    std::thread::spawn(move || {
        let mut cancelled_at: Option<Instant> = None;
        loop {
            std::thread::sleep(Duration::from_millis(20));
            let now = Instant::now();
            if cancelled_at.is_none() && cancel.load(Ordering::Relaxed) {
                cancelled_at = Some(now);
            }
            let (word, why) = if now >= deadline + GRACE {
                (
                    "timeout\n",
                    "timeout (the time limit was reached during import or a bound pass) [TL0640]",
                )
            } else if cancelled_at.is_some_and(|t| now >= t + GRACE) {
                ("unknown\n", "unknown: cancelled [TL0641]")
            } else {
                continue;
            };
            let mut done = written.lock().unwrap_or_else(|e| e.into_inner());
            if *done {
                return;
            }
            let _ = std::fs::write(&result, word);
            *done = true;
            println!("{why}");
            std::process::exit(exit::OK as i32);
        }
    });
}

fn decide(args: &VnncompArgs) -> Result<(), CliError> {
    let started = Instant::now();
    if !(args.memory_limit.is_finite() && args.memory_limit > 0.0) {
        return Err(CliError::new(
            tl_bounds::codes::BAD_OPTION,
            format!(
                "--memory-limit {}: give a positive number of GiB",
                args.memory_limit
            ),
            exit::USAGE,
        ));
    }
    if !(args.timeout.is_finite() && args.timeout > 0.0) {
        return Err(CliError::new(
            tl_bounds::codes::BAD_OPTION,
            format!(
                "--timeout {}: give a positive number of seconds",
                args.timeout
            ),
            exit::USAGE,
        ));
    }
    let deadline = started + Duration::from_secs_f64(args.timeout.min(1e9));
    let cancel = Arc::new(AtomicBool::new(false));
    cancel_on_ctrl_c(cancel.clone());
    let written = Arc::new(Mutex::new(false));
    watchdog(
        deadline,
        cancel.clone(),
        args.result.clone(),
        written.clone(),
    );
    let instance = Instance::load(&args.network, &args.property).map_err(|mut e| {
        e.message = format!("{} (while loading the instance)", e.message);
        let mut e = bounds_error(e);
        e.status = exit::USAGE;
        e
    })?;
    let cfg = BabConfig {
        timeout: Duration::from_secs_f64(args.timeout.min(1e9)),
        deadline: Some(deadline),
        memory_limit: (args.memory_limit.min(1e6) * (1u64 << 30) as f64) as usize,
        cancel,
        branching: if args.split == "relu" {
            Branching::Relu
        } else {
            Branching::Input
        },
        f32_executor: args.semantics == "f32",
        // Every unsat is re-checked from its certificate before it is written.
        certificate: true,
        ..BabConfig::default()
    };
    let progress = std::io::stderr().is_terminal().then(|| {
        let bar = indicatif::ProgressBar::new_spinner();
        bar.set_message(format!(
            "deciding {} on {} (limit {} s)",
            args.property.display(),
            args.network.display(),
            args.timeout
        ));
        bar.enable_steady_tick(Duration::from_millis(120));
        bar
    });
    let outcome = instance.run(&cfg);
    if let Some(bar) = progress {
        bar.finish_and_clear();
    }
    // Still under the watchdog: a re-check that overruns the limit ends as `timeout`.
    let (outcome, recheck) = match outcome {
        Ok(mut res) => {
            let cancel = cfg.cancel.clone();
            let stop = move || Instant::now() >= deadline || cancel.load(Ordering::Relaxed);
            let recheck = recheck_unsat(&instance, &mut res.verdict, &stop);
            (Ok(res), recheck)
        }
        Err(e) => (Err(e), None),
    };
    // From here on the watchdog must not write over the answer.
    let mut done = written.lock().unwrap_or_else(|e| e.into_inner());
    if *done {
        return Ok(());
    }
    *done = true;
    let res = match outcome {
        Ok(res) => res,
        Err(e) => {
            // No answer: say so in the result file too, then report the error.
            let _ = tl_bounds::write_result(&args.result, &Verdict::Unknown(e.message.clone()));
            return Err(bounds_error(e));
        }
    };
    tl_bounds::write_result(&args.result, &res.verdict).map_err(|mut e| {
        e.code = tl_bounds::codes::IO;
        let mut e = bounds_error(e);
        e.status = exit::USAGE;
        e
    })?;
    let word = tl_bounds::format_result(&res.verdict)
        .lines()
        .next()
        .unwrap_or("")
        .to_string();
    let mut line = format!(
        "{word} ({:.2} s, {} domains)",
        res.stats.elapsed_s, res.stats.domains
    );
    if let Verdict::Unknown(why) = &res.verdict {
        line.push_str(&format!(": {why}"));
    }
    if let Some(recheck) = &recheck {
        line.push_str("; ");
        line.push_str(recheck);
    }
    if let Some(path) = &args.certificate {
        match &res.verdict {
            Verdict::Verified {
                certificate: Some(c),
            } => {
                std::fs::write(path, c.to_json()).map_err(|e| {
                    CliError::new(
                        tl_bounds::codes::IO,
                        format!("cannot write {}: {e}", path.display()),
                        exit::USAGE,
                    )
                })?;
                line.push_str(&format!("; certificate written to {}", path.display()));
            }
            _ => line.push_str("; no certificate (only unsat answers have one)"),
        }
    }
    println!("{line}");
    Ok(())
}

/// Re-checks an `unsat` verdict from its certificate by the independent checker (which shares
/// no bound code with the search). An unsat that does not re-check becomes `unknown` naming why:
/// the result file never says more than the re-check supports. Returns the line to print.
fn recheck_unsat(
    instance: &Instance,
    verdict: &mut Verdict,
    stop: &(dyn Fn() -> bool + Sync),
) -> Option<String> {
    let Verdict::Verified { certificate } = verdict else {
        return None;
    };
    let failed = match certificate.as_ref() {
        None => "the search returned no certificate".to_string(),
        Some(c) => match instance.net() {
            Err(e) => format!("the network does not load for the re-check [{}]: {}", e.code, e.message),
            Ok(net) => match tl_bounds::check_independently_until(
                c,
                &net,
                &instance.property,
                c.f32_executor,
                stop,
            ) {
                Ok(r) => {
                    return Some(format!(
                        "independent check: passes ({} leaves re-derived by a second evaluator that shares no bound code with the search)",
                        r.leaves
                    ))
                }
                Err(e) if e.code == tl_bounds::codes::TIMED_OUT => {
                    *verdict = Verdict::Timeout;
                    return Some(format!("independent check: {} [{}]", e.message, e.code));
                }
                Err(e) => format!("[{}] {}", e.code, e.message),
            },
        },
    };
    *verdict = Verdict::Unknown(format!(
        "the search proved the property but its certificate does not re-check independently ({failed}) [TL0608]"
    ));
    Some("independent check: does not pass, so the answer is unknown".to_string())
}

/// `tlc import vnnlib PROP --model NET.onnx`: a spec importing the network with one contract whose
/// claim is the property, decided by branch and bound. Paths are written relative to `output`.
pub fn import_vnnlib(
    property: &Path,
    model: &Path,
    timeout_s: u64,
    relative: impl Fn(&Path) -> String,
) -> Result<String, CliError> {
    // Refuse what `tlc vnncomp` would refuse, so the spec is checkable.
    Instance::load(model, property).map_err(|e| {
        let mut e = bounds_error(e);
        e.status = exit::USAGE;
        e
    })?;
    let contract = identifier(
        property
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default()
            .as_str(),
    );
    let (net, prop) = (relative(model), relative(property));
    Ok(format!(
        "// The VNN-LIB property {prop} on the ONNX network {net},\n\
         // written by `tlc import vnnlib`; `tlc verify` decides it by branch and bound.\n\
         \n\
         import onnx \"{net}\" as net\n\
         \n\
         assume environment network_file: \"{net} is the network of this VNN-COMP instance; review before relying on the result\"\n\
         assume environment property_file: \"{prop} states the property of this VNN-COMP instance; review before relying on the result\"\n\
         \n\
         /// The unsafe set of {prop} is unreachable from its input box.\n\
         contract {contract} on net {{\n  \
           given vnnlib(\"{prop}\")\n  \
           check by bab(timeout = {timeout_s}s, split = \"input\")\n  \
           rests on network_file, property_file\n\
         }}\n"
    ))
}

/// A tl identifier from a file stem: `prop_1` stays, `1-robust.x` becomes `p_1_robust_x`.
fn identifier(stem: &str) -> String {
    let mut s: String = stem
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    if !s.starts_with(|c: char| c.is_ascii_alphabetic()) {
        s.insert_str(0, "p_");
    }
    s
}

#[cfg(test)]
mod tests {
    use super::identifier;

    #[test]
    fn identifiers_from_file_stems() {
        assert_eq!(identifier("prop_1"), "prop_1");
        assert_eq!(identifier("1-robust.x"), "p_1_robust_x");
        assert_eq!(identifier(""), "p_");
        assert_eq!(identifier("é"), "p__");
    }
}
