//! `tlc run`: evaluate a graph of a spec (or a spec's ONNX import) on `.npy` inputs with the
//! reference (f64) or compiled (f32) engine, and print its outputs. Non-finite outputs are
//! reported per output with the first node that produced a non-finite value (TL0531).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use clap::Args;
use serde_json::{json, Value};
use tl_ir::{Graph, NodeKind};
use tl_kernels::exec::Payload;
use tl_kernels::{compile, denote, Tensor};

use crate::exit;
use crate::render::Renderer;

#[derive(Args)]
#[command(
    after_help = "Examples:\n  tlc run spec-examples/mnist_mlp.tl --input x=digit.npy\n  tlc run model.tl --graph net --input input=x.npy --engine compiled --format json"
)]
pub struct RunArgs {
    /// The spec.
    pub spec: PathBuf,
    /// The graph to run (a graph of the spec or an `import onnx ... as NAME`); needed when the
    /// spec has more than one.
    #[arg(long)]
    pub graph: Option<String>,
    /// A graph input: `NAME=FILE.npy` (repeat for each input).
    #[arg(long = "input", value_name = "NAME=FILE.npy")]
    pub inputs: Vec<String>,
    /// `reference` (f64, the spec semantics) or `compiled` (f32 plan).
    #[arg(long, default_value = "reference", value_parser = ["reference", "compiled"])]
    pub engine: String,
    /// `text` or `json` (`{"outputs": {"y": {"shape": [...], "data": [...]}}}`, row-major).
    #[arg(long, default_value = "text", value_parser = ["text", "json"])]
    pub format: String,
}

/// A coded error for the terminal, with the exit status it implies.
pub struct CliError {
    pub code: String,
    pub message: String,
    pub status: u8,
}

impl CliError {
    pub fn new(code: impl Into<String>, message: impl Into<String>, status: u8) -> Self {
        CliError {
            code: code.into(),
            message: message.into(),
            status,
        }
    }
    pub fn print(&self) -> u8 {
        eprintln!("error[{}]: {}", self.code, self.message);
        self.status
    }
}

impl From<tl_kernels::ExecError> for CliError {
    fn from(e: tl_kernels::ExecError) -> Self {
        let status = match e {
            tl_kernels::ExecError::MissingInput { .. }
            | tl_kernels::ExecError::InputMismatch { .. } => exit::USAGE,
            _ => exit::FINDINGS,
        };
        CliError::new(e.code(), e.to_string(), status)
    }
}

pub use tl_ide::RunnableGraph;

/// Loads a spec, refuses it when it has errors (printing them), and resolves the graph to run
/// (`tl_ide::Analysis::resolve_graph`).
pub fn resolve(spec: &Path, name: Option<&str>) -> Result<RunnableGraph, CliError> {
    let mut host = tl_ide::AnalysisHost::new();
    let mut change = tl_ide::Change::new();
    change.load_file(spec);
    host.apply_change(change);
    // Load what the specs import (the queries never read the disk).
    host.settle(&[spec.to_path_buf()]);
    let analysis = host.analysis();
    match crate::uncancelled(analysis.resolve_graph(spec, name)) {
        Ok(g) => Ok(g),
        Err(e) => {
            if !e.diagnostics.is_empty() {
                let mut r = Renderer::new(&analysis);
                for d in &e.diagnostics {
                    eprint!("{}", r.human(d));
                }
            }
            let status = if e.usage { exit::USAGE } else { exit::FINDINGS };
            Err(CliError::new(e.code, e.message, status))
        }
    }
}

/// Reads `NAME=FILE.npy` arguments.
pub fn read_inputs(args: &[String], graph: &Graph) -> Result<BTreeMap<String, Tensor>, CliError> {
    let mut out = BTreeMap::new();
    let names: Vec<&str> = graph
        .inputs
        .iter()
        .map(|&i| graph.nodes[i].name.as_str())
        .collect();
    for a in args {
        let (name, path) = a.split_once('=').ok_or_else(|| {
            CliError::new(
                "TL0530",
                format!("--input {a}: write NAME=FILE.npy"),
                exit::USAGE,
            )
        })?;
        if !names.contains(&name) {
            return Err(CliError::new(
                "TL0530",
                format!(
                    "`{name}` is not an input of graph {}; inputs: {}",
                    graph.name,
                    names.join(", ")
                ),
                exit::USAGE,
            ));
        }
        let t = tl_kernels::payload::npy::read(Path::new(path))
            .map_err(|e| CliError::new(e.code(), e.to_string(), exit::USAGE))?;
        if out.insert(name.to_string(), t).is_some() {
            return Err(CliError::new(
                "TL0530",
                format!("input `{name}` is given twice"),
                exit::USAGE,
            ));
        }
    }
    Ok(out)
}

/// A graph's outputs computed by one engine.
pub fn evaluate(
    graph: &Graph,
    payload: &dyn Payload,
    inputs: &BTreeMap<String, Tensor>,
    engine: &str,
) -> Result<Vec<(String, Tensor)>, CliError> {
    Ok(if engine == "compiled" {
        let plan = compile(graph, payload)?;
        let outs = plan.run(inputs)?;
        graph
            .outputs
            .iter()
            .filter_map(|(n, _)| outs.get(n).map(|t| (n.clone(), t.clone())))
            .collect()
    } else {
        let d = denote(graph, payload, inputs)?;
        d.outputs()
            .map(|(n, t)| (n.to_string(), t.clone()))
            .collect()
    })
}

/// For each output holding NaN or infinity: the first node (in evaluation order, among the
/// output's ancestors) whose reference value is not finite.
fn non_finite_report(
    graph: &Graph,
    payload: &dyn Payload,
    inputs: &BTreeMap<String, Tensor>,
    outputs: &[(String, Tensor)],
) -> Vec<(String, usize, Option<String>)> {
    let bad: Vec<(String, usize)> = outputs
        .iter()
        .filter_map(|(n, t)| {
            let count = t.to_f64().iter().filter(|x| !x.is_finite()).count();
            (count > 0).then(|| (n.clone(), count))
        })
        .collect();
    if bad.is_empty() {
        return Vec::new();
    }
    let reference = denote(graph, payload, inputs).ok();
    bad.into_iter()
        .map(|(name, count)| {
            let origin = reference.as_ref().and_then(|d| {
                let (_, out) = graph.outputs.iter().find(|(n, _)| *n == name)?;
                let mut ancestor = vec![false; graph.nodes.len()];
                let mut stack = vec![*out];
                while let Some(i) = stack.pop() {
                    if !std::mem::replace(&mut ancestor[i], true) {
                        stack.extend(graph.nodes[i].parents.iter().copied());
                    }
                }
                (0..graph.nodes.len())
                    .filter(|&i| ancestor[i])
                    .find(|&i| {
                        d.node(i)
                            .is_some_and(|t| t.to_f64().iter().any(|x| !x.is_finite()))
                    })
                    .map(|i| {
                        let n = &graph.nodes[i];
                        match &n.kind {
                            NodeKind::Op { op, .. } => format!("{} ({})", n.name, op.name()),
                            NodeKind::Input => format!("{} (an input)", n.name),
                            NodeKind::Param { .. } => format!("{} (a param)", n.name),
                        }
                    })
            });
            (name, count, origin)
        })
        .collect()
}

fn tensor_json(t: &Tensor) -> Value {
    let data: Vec<Value> = match t {
        Tensor::I64(a) => a.iter().map(|&v| json!(v)).collect(),
        _ => t
            .to_f64()
            .iter()
            .map(|&v| {
                if v.is_finite() {
                    json!(v)
                } else {
                    json!(format!("{v}"))
                }
            })
            .collect(),
    };
    json!({ "shape": t.shape(), "data": data })
}

pub fn run(args: RunArgs) -> u8 {
    match run_inner(&args) {
        Ok(code) => code,
        Err(e) => e.print(),
    }
}

fn run_inner(args: &RunArgs) -> Result<u8, CliError> {
    let runnable = resolve(&args.spec, args.graph.as_deref())?;
    let inputs = read_inputs(&args.inputs, runnable.graph())?;
    let (outputs, report) = runnable.with_payload(|graph, payload| {
        let outputs = evaluate(graph, payload, &inputs, &args.engine)?;
        let report = non_finite_report(graph, payload, &inputs, &outputs);
        Ok::<_, CliError>((outputs, report))
    })?;
    let mut warnings = Vec::new();
    for (output, count, origin) in &report {
        let at = match origin {
            Some(node) => format!("first produced at node {node}"),
            None => "the reference (f64) evaluation is finite: the compiled f32 engine overflowed"
                .into(),
        };
        let message = format!("output `{output}` has {count} non-finite value(s); {at}");
        eprintln!("warning[TL0531]: {message}");
        warnings.push(json!({"code": "TL0531", "output": output, "count": count, "node": origin, "message": message}));
    }
    if args.format == "json" {
        let mut outs = serde_json::Map::new();
        for (name, t) in &outputs {
            outs.insert(name.clone(), tensor_json(t));
        }
        let mut doc = json!({ "outputs": outs });
        if !warnings.is_empty() {
            doc["warnings"] = Value::Array(warnings);
        }
        println!("{doc}");
    } else {
        for (name, t) in &outputs {
            let data = t.to_f64();
            let values: Vec<String> = data.iter().map(|v| format!("{v}")).collect();
            println!("{name}: shape {:?}", t.shape());
            println!("  [{}]", values.join(", "));
        }
    }
    Ok(if report.is_empty() {
        exit::OK
    } else {
        exit::FINDINGS
    })
}
