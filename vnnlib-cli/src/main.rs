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
//! followed by the assignment, one `VAR[i,j]=value` line per element, in declaration order.
//! `sat` comes only with a counterexample that was replayed on the network (in f64 and in f32) and
//! met the query. `float32` queries are decided with the f32 executor margin (docs/bounds.md):
//! `unsat` then holds for any f32 executor; `Real` queries are decided over the reals. Errors go to
//! stderr as `error[TLxxxx] ...` with exit status 2.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use tl_bounds::vnnlib2::{self, codes, ElemType, Query, TensorDecl};
use tl_bounds::{BabConfig, BoundsError, Verdict};

const NAME: &str = "tl (bound propagation: IBP, CROWN, alpha-CROWN, branch and bound)";

fn usage_text() -> &'static str {
    "usage:
  tl-vnnlib --name
  tl-vnnlib --version
  tl-vnnlib verify QUERY.vnnlib --network NAME=MODEL.onnx [--network ...] [--timeout SECONDS]
  tl-vnnlib supports --onnx-opset-versions | --onnx-element-types | --onnx-operators
                     | --vnnlib-versions | --hidden-node-theories | --multiple-input-output-theories
                     | --multiple-network-theories | --multiple-node-comparison-theories
                     | --arithmetic-complexity-theories | --optimised-disjunctive-reasoning
                     | --serialise-assignments
  tl-vnnlib convert PROP.vnnlib [--to 2.0|1.0] [--element-type Real|float32] [--model MODEL.onnx]
      (not in the standard: a 1.0 or 2.0 property printed as 2.0 or 1.0; --model takes the
       declared shapes from the model's input and output)"
}

struct Failure(BoundsError);

impl From<BoundsError> for Failure {
    fn from(e: BoundsError) -> Failure {
        Failure(e)
    }
}

fn fail(code: &'static str, msg: impl Into<String>) -> Failure {
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
const SOUND_TYPES: [ElemType; 2] = [ElemType::Float32, ElemType::Real];

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
        // The importer's own table: an op outside it is refused at import (TL0631); the bound
        // verifier may still refuse an imported op without a relaxation (TL0600).
        "--onnx-operators" => tl_kernels::onnx::supported_ops()
            .into_iter()
            .map(|s| s.to_string())
            .collect(),
        // `verify` reads 2.0 queries (1.0 properties are read by `tlc vnncomp`).
        "--vnnlib-versions" => vec!["2.0".into(), "2.0".into()],
        "--hidden-node-theories" | "--hidden-nodes" => vec!["NH".into()],
        "--multiple-input-output-theories" | "--multiple-input-outputs" => vec!["SIO".into()],
        "--multiple-network-theories" | "--multiple-networks" => vec!["SNET".into()],
        "--multiple-node-comparison-theories" | "--multiple-node-comparisons" => {
            vec!["SNC".into()]
        }
        // Bounds on single inputs, linear constraints among outputs; no constraint over several
        // inputs (TL0612), so not LIN.
        "--arithmetic-complexity-theories" | "--arithmetic-complexity" => {
            vec!["BND".into(), "OUTC".into()]
        }
        // Disjunctions are brought into normal form and decided case by case, nothing more.
        "--optimised-disjunctive-reasoning" => vec!["false".into()],
        "--serialise-assignments" => vec!["false".into()],
        other => {
            return Err(fail(
                codes::USAGE,
                format!("unknown capability {other}\n{}", usage_text()),
            ))
        }
    };
    Ok(lines.iter().map(|l| format!("{l}\n")).collect())
}

struct VerifyArgs {
    query: PathBuf,
    networks: Vec<(String, PathBuf)>,
    timeout: Duration,
}

fn parse_verify_args(args: &[String]) -> Result<VerifyArgs, Failure> {
    let mut query = None;
    let mut networks: Vec<(String, PathBuf)> = Vec::new();
    let mut timeout = Duration::from_secs(300);
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
    })
}

fn with_path(path: &Path, mut e: BoundsError) -> BoundsError {
    e.message = format!("{}: {}", path.display(), e.message);
    e
}

fn verify(args: &[String]) -> Result<String, Failure> {
    let a = parse_verify_args(args)?;
    let text = std::fs::read_to_string(&a.query).map_err(|e| {
        fail(
            tl_bounds::codes::IO,
            format!("cannot read {}: {e}", a.query.display()),
        )
    })?;
    let q = vnnlib2::parse(&text).map_err(|e| with_path(&a.query, e))?;
    for (name, _) in &a.networks {
        if !q.networks.iter().any(|n| &n.name == name) {
            return Err(fail(
                codes::USAGE,
                format!("--network {name}: the query declares no network `{name}`"),
            ));
        }
    }
    if let Some(n) = q
        .networks
        .iter()
        .find(|n| !a.networks.iter().any(|(m, _)| *m == n.name))
    {
        return Err(fail(
            codes::USAGE,
            format!(
                "network `{}` of the query has no --network {}=MODEL.onnx",
                n.name, n.name
            ),
        ));
    }
    // What tl decides: one network, one input, one output; one element type it is sound for.
    let (net, x, y) = q.single().map_err(|e| with_path(&a.query, e))?;
    let elem = q.semantics().map_err(|e| with_path(&a.query, e))?;
    if !SOUND_TYPES.contains(&elem) {
        return Err(Failure(with_path(
            &a.query,
            BoundsError::at(
                codes::UNSOUND_TYPE,
                q.position(x.loc.start),
                format!(
                    "`{}` is {}: tl's analysis is sound over the reals (Real) and for f32 executors (float32) only",
                    x.name,
                    elem.name()
                ),
            ),
        )));
    }
    let model_path = &a.networks.iter().find(|(n, _)| *n == net.name).unwrap().1;
    let (graph, weights) = load_model(model_path, &q, x, y)?;
    let property = q.to_property().map_err(|e| with_path(&a.query, e))?;
    let bnet = tl_bounds::BoundNet::from_graph_map(&graph, &weights, None)?;
    let cfg = BabConfig {
        timeout: a.timeout,
        f32_executor: elem == ElemType::Float32,
        ..BabConfig::default()
    };
    let res = tl_bounds::verify(&bnet, &property, &cfg)?;
    Ok(match res.verdict {
        Verdict::Verified { .. } => "unsat\n".into(),
        Verdict::Timeout => "timed-out\n".into(),
        Verdict::Unknown(why) => {
            eprintln!("unknown: {why}");
            "unknown\n".into()
        }
        Verdict::Falsified(cx) => {
            // The search confirmed it by running the network; replay it here once more and say
            // `unknown` rather than `sat` should the replay not meet the query.
            let case = &property.cases[cx.case];
            let inside =
                cx.x.iter()
                    .enumerate()
                    .all(|(i, v)| case.input.lower[i] <= *v && *v <= case.input.upper[i]);
            let y_real = if elem == ElemType::Float32 {
                &cx.y_f32
            } else {
                &cx.y_f64
            };
            let meets = case.disjuncts[cx.disjunct].iter().all(|c| c.holds(y_real));
            if !(inside && meets) {
                eprintln!("unknown: the counterexample found did not replay");
                return Ok("unknown\n".into());
            }
            let mut out = String::from("sat\n");
            for (d, vals) in [(x, &cx.x), (y, y_real)] {
                for (k, v) in vals.iter().enumerate() {
                    let idx = d.index_of(k);
                    let idx: Vec<String> = idx.iter().map(|i| i.to_string()).collect();
                    out.push_str(&format!("{}[{}]={v:e}\n", d.name, idx.join(",")));
                }
            }
            out
        }
    })
}

type Weights = std::collections::HashMap<String, ndarray::ArrayD<f64>>;

fn elem_of(d: tl_ir::DType) -> ElemType {
    use tl_ir::DType as D;
    match d {
        D::F16 => ElemType::Float16,
        D::BF16 => ElemType::BFloat16,
        D::F32 => ElemType::Float32,
        D::F64 => ElemType::Float64,
        D::I8 => ElemType::Int8,
        D::I32 => ElemType::Int32,
        D::I64 => ElemType::Int64,
        D::U8 => ElemType::UInt8,
        D::Bool => ElemType::Bool,
    }
}

/// Loads the model and checks it against the network's declarations (the standard's first two
/// mandatory errors): one input and one output, their shapes, ONNX names and element types.
fn load_model(
    path: &Path,
    q: &Query,
    x: &TensorDecl,
    y: &TensorDecl,
) -> Result<(tl_ir::Graph, Weights), Failure> {
    let onnx = |m: String| fail(tl_bounds::codes::ONNX, format!("{}: {m}", path.display()));
    let model = tl_kernels::onnx::load(path).map_err(|e| onnx(e.to_string()))?;
    let imported =
        tl_kernels::onnx::import(&model).map_err(|e| onnx(format!("[{}] {e}", e.code())))?;
    let g = &imported.graph;
    let mismatch = |d: &TensorDecl, m: String| {
        Failure(BoundsError::at(
            codes::MODEL_MISMATCH,
            q.position(d.loc.start),
            format!("{}: {m}", path.display()),
        ))
    };
    if g.inputs.len() != 1 {
        return Err(mismatch(
            x,
            format!(
                "the network declares 1 input, the model has {}",
                g.inputs.len()
            ),
        ));
    }
    if g.outputs.len() != 1 {
        return Err(mismatch(
            y,
            format!(
                "the network declares 1 output, the model has {}",
                g.outputs.len()
            ),
        ));
    }
    let bound = tl_bounds::onnx::bind_symbols_to_one(g).map_err(onnx)?;
    let nodes = [
        (
            x,
            &bound.nodes[bound.inputs[0]],
            bound.nodes[bound.inputs[0]].name.clone(),
        ),
        (
            y,
            &bound.nodes[bound.outputs[0].1],
            bound.outputs[0].0.clone(),
        ),
    ];
    for (d, node, onnx_name) in nodes {
        let shape: Option<Vec<usize>> = node
            .shape
            .as_known()
            .map(|s| s.iter().map(|&v| v as usize).collect());
        if shape.as_deref() != Some(&d.shape[..]) {
            return Err(mismatch(
                d,
                format!(
                    "`{}` is declared {:?}, the model's is {} (symbolic extents bound to 1)",
                    d.name, d.shape, node.shape
                ),
            ));
        }
        if let Some(want) = &d.onnx_name {
            if *want != onnx_name {
                return Err(mismatch(
                    d,
                    format!(
                        "`{}` names ONNX node \"{want}\", the model's is \"{onnx_name}\"",
                        d.name
                    ),
                ));
            }
        }
        let model_elem = elem_of(node.dtype);
        if d.elem != ElemType::Real && d.elem != model_elem {
            return Err(Failure(BoundsError::at(
                codes::ELEMENT_TYPE_MISMATCH,
                q.position(d.loc.start),
                format!(
                    "{}: `{}` is declared {}, the model's is {}",
                    path.display(),
                    d.name,
                    d.elem.name(),
                    model_elem.name()
                ),
            )));
        }
    }
    let weights = imported
        .payload
        .iter()
        .map(|(k, t)| (k.clone(), t.to_f64()))
        .collect();
    Ok((bound, weights))
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
    let n = &mut q.networks[0];
    n.inputs[0].elem = elem;
    n.outputs[0].elem = elem;
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
        let (xs, ys) = (shape(g.inputs[0]), shape(g.outputs[0].1));
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
        n.inputs[0].shape = xs;
        n.outputs[0].shape = ys;
        // Indices follow the shapes (row-major, the order the verifier flattens in).
        let (xd, yd) = (n.inputs[0].clone(), n.outputs[0].clone());
        for a in &mut q.assertions {
            reindex(a, &xd, &yd);
        }
    }
    Ok(vnnlib2::write(&q))
}

fn reindex(b: &mut vnnlib2::BoolExpr, x: &TensorDecl, y: &TensorDecl) {
    use vnnlib2::{BoolExpr, Expr};
    fn expr(e: &mut Expr, x: &TensorDecl, y: &TensorDecl) {
        match e {
            Expr::Num(..) => {}
            Expr::Var(name, idx, _) => {
                let d = if *name == x.name { x } else { y };
                *idx = d.index_of(idx[0]);
            }
            Expr::Neg(a, _) => expr(a, x, y),
            Expr::Add(xs, _) | Expr::Sub(xs, _) | Expr::Mul(xs, _) => {
                xs.iter_mut().for_each(|a| expr(a, x, y))
            }
        }
    }
    match b {
        BoolExpr::Cmp(_, a, c, _) => {
            expr(a, x, y);
            expr(c, x, y);
        }
        BoolExpr::And(xs, _) | BoolExpr::Or(xs, _) => xs.iter_mut().for_each(|a| reindex(a, x, y)),
    }
}
