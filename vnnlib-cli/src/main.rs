//! `tl-vnnlib`: tl's bound-propagation verifier behind the VNN-LIB 2.0 standard's command-line
//! interface (VNNLIB-Standard, chapter 5).
//!
//! ```text
//! tl-vnnlib --name | --version
//! tl-vnnlib verify QUERY.vnnlib --network NAME=MODEL.onnx [--timeout S]
//! tl-vnnlib supports --onnx-operators | --onnx-element-types | ...
//! ```
//!
//! `verify` prints `sat`, `unsat`, `unknown` or `timed-out` on the first line of stdout; `sat` is
//! followed by the assignment in the standard's command-line format (per declared variable, in
//! declaration order, a line `NAME TYPE [dims]` and then one value per line, row-major), or with
//! `--serialise-assignments DIR` written as one ONNX TensorProto per variable, `DIR/NAME.pb`.
//! Queries may declare several networks (`equal-to`, `isomorphic-to` or unrelated), several
//! inputs and outputs, and hidden nodes; see `verify.rs` for how they are decided. `sat` comes
//! only with a counterexample replayed on tl's engines that meets the query; `float32` queries
//! are decided with the f32 executor margin (docs/bounds.md): `unsat` then holds for any f32
//! executor; `Real` queries are decided over the reals. Errors go to stderr as
//! `error[TLxxxx] ...` with exit status 2.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use tl_bounds::vnnlib2::{self, codes, ElemType};
use tl_bounds::BoundsError;

const NAME: &str = "tl (bound propagation: IBP, CROWN, alpha-CROWN, branch and bound)";

fn usage_text() -> &'static str {
    "usage:
  tl-vnnlib --name
  tl-vnnlib --version
  tl-vnnlib verify QUERY.vnnlib --network NAME=MODEL.onnx [--network ...] [--timeout SECONDS]
                   [--serialise-assignments DIR]
  tl-vnnlib supports --onnx-opset-versions | --onnx-element-types | --onnx-operators
                     | --vnnlib-versions | --hidden-node-theories | --multiple-input-output-theories
                     | --multiple-network-theories | --multiple-node-comparison-theories
                     | --arithmetic-complexity-theories | --optimised-disjunctive-reasoning
                     | --serialise-assignments | --unsat-proofs
  tl-vnnlib convert PROP.vnnlib [--to 2.0|1.0] [--element-type Real|float32] [--model MODEL.onnx]
      (not in the standard: a 1.0 or 2.0 property printed as 2.0 or 1.0; --model takes the
       declared shapes from the model's input and output)"
}

mod verify;

use verify::{Answer, VerifyArgs};

pub(crate) struct Failure(pub(crate) BoundsError);

impl From<BoundsError> for Failure {
    fn from(e: BoundsError) -> Failure {
        Failure(e)
    }
}

pub(crate) fn fail(code: &'static str, msg: impl Into<String>) -> Failure {
    Failure(BoundsError::new(code, msg))
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match run(&args) {
        Ok(out) => {
            print!("{out}");
            ExitCode::SUCCESS
        }
        Err(Failure(e)) => {
            eprintln!("{e}");
            ExitCode::from(2)
        }
    }
}

fn run(args: &[String]) -> Result<String, Failure> {
    match args.first().map(String::as_str) {
        Some("--name") if args.len() == 1 => Ok(format!("{NAME}\n")),
        Some("--version") if args.len() == 1 => Ok(format!("{}\n", env!("CARGO_PKG_VERSION"))),
        Some("--help" | "-h") => Ok(format!("{}\n", usage_text())),
        Some("supports") => supports(&args[1..]),
        Some("verify") => verify(&args[1..]),
        Some("convert") => convert(&args[1..]),
        _ => Err(fail(
            codes::USAGE,
            format!(
                "unknown command line {:?}\n{}",
                args.join(" "),
                usage_text()
            ),
        )),
    }
}

/// Element types tl decides soundly: `Real` over the reals, `float32` for an f32 executor.
pub(crate) const SOUND_TYPES: [ElemType; 2] = [ElemType::Float32, ElemType::Real];

fn supports(args: &[String]) -> Result<String, Failure> {
    let [flag] = args else {
        return Err(fail(
            codes::USAGE,
            format!("supports takes one capability\n{}", usage_text()),
        ));
    };
    let lines: Vec<String> = match flag.as_str() {
        "--onnx-opset-versions" => {
            let (lo, hi) = tl_kernels::onnx::OPSETS;
            vec![lo.to_string(), hi.to_string()]
        }
        "--onnx-element-types" => SOUND_TYPES
            .iter()
            .map(|t| match t {
                ElemType::Real => "real".to_string(),
                t => t.name().to_string(),
            })
            .collect(),
        // ONNX ops both the importer maps and the bound lowering relaxes (an op the importer
        // reads but the verifier cannot bound is refused at verify time, TL0600, so it is not
        // listed); no element types after a name: every type of --onnx-element-types.
        "--onnx-operators" => supported_onnx_ops(),
        // `verify` reads 2.0 queries (1.0 properties are read by `tlc vnncomp` and converted by
        // `tl-vnnlib convert`).
        "--vnnlib-versions" => vec!["2.0".into(), "2.0".into()],
        // Hidden nodes are exposed as extra outputs of the imported graph.
        "--hidden-node-theories" | "--hidden-nodes" => vec!["NH".into(), "H".into()],
        "--multiple-input-output-theories" | "--multiple-input-outputs" => {
            vec!["SIO".into(), "MIO".into()]
        }
        // Any number of networks, lowered over one shared input (equal input elements merged).
        "--multiple-network-theories" | "--multiple-networks" => {
            vec!["SNET".into(), "MENET".into(), "MINET".into(), "MNET".into()]
        }
        // Comparisons between hidden nodes and outputs of one network are linear constraints
        // on the composed output; with the arithmetic theories below (inputs only bounded)
        // every MNC query is decided.
        "--multiple-node-comparison-theories" | "--multiple-node-comparisons" => {
            vec!["SNC".into(), "MNC".into()]
        }
        // Bounds on single inputs (and element-wise equalities between inputs), linear
        // constraints among hidden nodes and outputs; no other constraint over several inputs
        // (TL0612), so not LIN.
        "--arithmetic-complexity-theories" | "--arithmetic-complexity" => {
            vec!["BND".into(), "OUTC".into()]
        }
        // Disjunctions are brought into normal form and decided case by case, nothing more.
        "--optimised-disjunctive-reasoning" => vec!["false".into()],
        "--serialise-assignments" => vec!["true".into()],
        // No proof format is written.
        "--unsat-proofs" => vec!["false".into()],
        other => {
            return Err(fail(
                codes::USAGE,
                format!("unknown capability {other}\n{}", usage_text()),
            ))
        }
    };
    Ok(lines.iter().map(|l| format!("{l}\n")).collect())
}

/// ONNX op types the importer maps to a tl op the bound lowering handles, or folds at import.
fn supported_onnx_ops() -> Vec<String> {
    tl_kernels::onnx::supported_ops()
        .into_iter()
        .filter(|o| {
            tl_kernels::onnx::is_import_only(o)
                || tl_ir::OPS
                    .iter()
                    .any(|i| i.onnx.contains(o) && tl_bounds::lower::LOWERED_OPS.contains(&i.op))
        })
        .map(String::from)
        .collect()
}

fn parse_verify_args(args: &[String]) -> Result<VerifyArgs, Failure> {
    let mut query = None;
    let mut networks: Vec<(String, PathBuf)> = Vec::new();
    let mut timeout = Duration::from_secs(300);
    let mut serialise = None;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut value = |flag: &str| {
            it.next()
                .cloned()
                .ok_or_else(|| fail(codes::USAGE, format!("{flag} needs a value")))
        };
        match a.as_str() {
            "--network" => {
                let v = value("--network")?;
                let Some((name, path)) = v
                    .split_once('=')
                    .filter(|(n, p)| !n.is_empty() && !p.is_empty())
                else {
                    return Err(fail(
                        codes::USAGE,
                        format!("--network {v}: write NAME=MODEL.onnx"),
                    ));
                };
                if networks.iter().any(|(n, _)| n == name) {
                    return Err(fail(
                        codes::USAGE,
                        format!("--network {name} is given twice"),
                    ));
                }
                networks.push((name.to_string(), PathBuf::from(path)));
            }
            "--timeout" => {
                let v = value("--timeout")?;
                let s: f64 = v
                    .parse()
                    .ok()
                    .filter(|s: &f64| s.is_finite() && *s > 0.0 && *s < 1e9)
                    .ok_or_else(|| {
                        fail(
                            codes::USAGE,
                            format!("--timeout {v}: give a positive number of seconds"),
                        )
                    })?;
                timeout = Duration::from_secs_f64(s);
            }
            "--serialise-assignments" => {
                serialise = Some(PathBuf::from(value("--serialise-assignments")?));
            }
            s if s.starts_with("--") => {
                return Err(fail(codes::USAGE, format!("unknown option {s} of verify")))
            }
            s => {
                if query.replace(PathBuf::from(s)).is_some() {
                    return Err(fail(codes::USAGE, "verify takes one query file"));
                }
            }
        }
    }
    let query = query.ok_or_else(|| fail(codes::USAGE, "verify needs a query file"))?;
    Ok(VerifyArgs {
        query,
        networks,
        timeout,
        serialise,
    })
}

pub(crate) fn with_path(path: &Path, mut e: BoundsError) -> BoundsError {
    e.message = format!("{}: {}", path.display(), e.message);
    e
}

fn verify(args: &[String]) -> Result<String, Failure> {
    let a = parse_verify_args(args)?;
    Ok(match verify::verify(&a)? {
        Answer::Unsat => "unsat\n".into(),
        Answer::TimedOut => "timed-out\n".into(),
        Answer::Unknown(why) => {
            eprintln!("unknown: {why}");
            "unknown\n".into()
        }
        Answer::Sat(values) => match &a.serialise {
            Some(dir) => {
                verify::serialise(dir, &values)?;
                "sat\n".into()
            }
            None => format!("sat\n{}", verify::format_assignment(&values)),
        },
    })
}

/// `convert`: a property (either version) printed in the other syntax. 1.0 has no element types
/// or shapes: `--element-type` (default Real) and `--model` (the shapes of its one input and
/// output) supply them.
fn convert(args: &[String]) -> Result<String, Failure> {
    let mut file = None;
    let mut to = "2.0".to_string();
    let mut elem = ElemType::Real;
    let mut model = None;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut value = |flag: &str| {
            it.next()
                .cloned()
                .ok_or_else(|| fail(codes::USAGE, format!("{flag} needs a value")))
        };
        match a.as_str() {
            "--to" => {
                to = value("--to")?;
                if to != "2.0" && to != "1.0" {
                    return Err(fail(codes::USAGE, format!("--to {to}: 1.0 or 2.0")));
                }
            }
            "--element-type" => {
                let v = value("--element-type")?;
                elem = ElemType::from_name(&v).ok_or_else(|| {
                    fail(
                        codes::USAGE,
                        format!("--element-type {v}: not an element type"),
                    )
                })?;
            }
            "--model" => model = Some(PathBuf::from(value("--model")?)),
            s if s.starts_with("--") => {
                return Err(fail(codes::USAGE, format!("unknown option {s} of convert")))
            }
            s => {
                if file.replace(PathBuf::from(s)).is_some() {
                    return Err(fail(codes::USAGE, "convert takes one property file"));
                }
            }
        }
    }
    let file = file.ok_or_else(|| fail(codes::USAGE, "convert needs a property file"))?;
    let p = tl_bounds::vnnlib::load(&file)?;
    if to == "1.0" {
        return Ok(tl_bounds::vnnlib::write_v1(&p));
    }
    let mut q = vnnlib2::from_property(&p);
    let (mut xs, mut ys) = (vec![p.n_inputs], vec![p.n_outputs]);
    if let Some(m) = model {
        let net = tl_bounds::onnx::load_network(&m)?;
        let g = &net.graph;
        let shape = |id: tl_ir::NodeId| -> Vec<usize> {
            g.nodes[id]
                .shape
                .as_known()
                .map(|s| s.iter().map(|&v| v as usize).collect())
                .unwrap_or_default()
        };
        (xs, ys) = (shape(g.inputs[0]), shape(g.outputs[0].1));
        let size = |s: &[usize]| s.iter().product::<usize>();
        if size(&xs) != p.n_inputs || size(&ys) != p.n_outputs {
            return Err(fail(
                codes::MODEL_MISMATCH,
                format!(
                    "{}: the model's input {xs:?} and output {ys:?} do not have the property's {} inputs and {} outputs",
                    m.display(),
                    p.n_inputs,
                    p.n_outputs
                ),
            ));
        }
    }
    // Indices follow the shapes (row-major, the order the verifier flattens in).
    vnnlib2::shape_single(&mut q, elem, &xs, &ys);
    Ok(vnnlib2::write(&q))
}
