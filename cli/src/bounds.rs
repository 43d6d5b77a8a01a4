//! `tlc bounds`: sound bounds of a graph's outputs (IBP, CROWN or alpha-CROWN from tl-bounds)
//! over the L-infinity ball of radius `--eps` around a centre read from `.npy`.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use clap::Args;
use serde_json::json;
use tl_bounds::{compute_bounds, BoundNet, BoundsError, CrownOptions, InputBox, Method};
use tl_ir::{Dim, Graph};

use crate::exit;
use crate::run::{read_inputs, resolve, CliError};

/// alpha-CROWN's optimisation budget (as `tlc verify` uses for `alpha_crown`).
const ALPHA_ITERS: usize = 20;
const ALPHA_LR: f64 = 0.1;

#[derive(Args)]
#[command(after_help = "Examples:
  tlc bounds spec-examples/acas_xu_controller.tl --input x=centre.npy --eps 0.01
  tlc bounds model.tl --graph net --method alpha-crown --input x=x0.npy --eps 0.1 --format json

JSON output: {\"graph\": ..., \"method\": ..., \"eps\": ..., \"semantics\": ...,
  \"outputs\": {\"y\": {\"shape\": [...], \"lower\": [...], \"upper\": [...]}}}, values row-major.
With --per-node: every layer's IBP and CROWN box and a tightness ranking (JSON: \"per_node\";
docs/views.md).
Exit 0 bounds printed, 1 the graph cannot be bounded (TL06xx), 2 usage, I/O or spec errors.")]
pub struct BoundsArgs {
    /// The spec.
    pub spec: PathBuf,
    /// The graph (a graph of the spec or an `import onnx ... as NAME`); needed when the spec has
    /// more than one.
    #[arg(long)]
    pub graph: Option<String>,
    /// `ibp`, `crown` or `alpha-crown`.
    #[arg(long, default_value = "crown", value_parser = ["ibp", "crown", "alpha-crown"])]
    pub method: String,
    /// The centre of the input ball: `NAME=CENTER.npy` (the graph must have exactly one input).
    #[arg(long = "input", value_name = "NAME=CENTER.npy")]
    pub input: String,
    /// The L-infinity radius of the ball (>= 0).
    #[arg(long, allow_negative_numbers = true)]
    pub eps: f64,
    /// `text` or `json`.
    #[arg(long, default_value = "text", value_parser = ["text", "json"])]
    pub format: String,
    /// `f32`: the bounds hold over the reals and for any f32 executor (docs/bounds.md);
    /// `reals`: over the reals only (tighter).
    #[arg(long, default_value = "f32", value_parser = ["f32", "reals"])]
    pub semantics: String,
    /// Also print every node's IBP and CROWN box and a tightness ranking (a diagnostic view;
    /// JSON: a `per_node` object keyed by output).
    #[arg(long)]
    pub per_node: bool,
}

/// A bounds-crate error as a CLI error: malformed inputs are usage errors, the rest findings.
pub fn bounds_error(e: BoundsError) -> CliError {
    let status = if e.code == tl_bounds::codes::BAD_INPUT_BOX || e.code == tl_bounds::codes::IO {
        exit::USAGE
    } else {
        exit::FINDINGS
    };
    CliError::new(e.code, e.message, status)
}

/// Bounds of one output.
struct OutputBounds {
    name: String,
    shape: Vec<u64>,
    lower: Vec<f64>,
    upper: Vec<f64>,
    /// With `--per-node`: every node's boxes.
    nodes: Option<Vec<crate::bounds_nodes::NodeBounds>>,
    /// With `--per-node`: every node's derived f32 rounding budget over the same box.
    float: Option<crate::bounds_nodes::FloatBudget>,
}

pub fn run(args: BoundsArgs) -> u8 {
    match bounds(&args) {
        Ok(text) => {
            print!("{text}");
            exit::OK
        }
        Err(e) => e.print(),
    }
}

pub(crate) fn bounds(args: &BoundsArgs) -> Result<String, CliError> {
    if !args.eps.is_finite() || args.eps < 0.0 {
        return Err(CliError::new(
            tl_bounds::codes::BAD_INPUT_BOX,
            format!(
                "--eps {}: the radius must be a finite number >= 0",
                args.eps
            ),
            exit::USAGE,
        ));
    }
    let runnable = resolve(&args.spec, args.graph.as_deref()).map_err(|mut e| {
        // A spec that does not load is a usage problem for this command.
        e.status = exit::USAGE;
        e
    })?;
    let graph = runnable.graph();
    if graph.inputs.len() != 1 {
        return Err(CliError::new(
            tl_bounds::codes::UNSUPPORTED_GRAPH,
            format!(
                "bounds need a graph with exactly one input; {} has {}",
                graph.name,
                graph.inputs.len()
            ),
            exit::USAGE,
        ));
    }
    let inputs = read_inputs(std::slice::from_ref(&args.input), graph)?;
    let (input_name, centre) = inputs.into_iter().next().ok_or_else(|| {
        CliError::new("TL0530", "--input NAME=CENTER.npy is required", exit::USAGE)
    })?;
    let centre_shape: Vec<usize> = centre.shape().to_vec();
    let centre: Vec<f64> = centre.to_f64().iter().copied().collect();
    if let Some(bad) = centre.iter().find(|v| !v.is_finite()) {
        return Err(CliError::new(
            tl_bounds::codes::BAD_INPUT_BOX,
            format!("{}: the centre contains {bad}", args.input),
            exit::USAGE,
        ));
    }
    let bound_graph = bind_input_shape(graph, &centre_shape)?;
    let input_box = InputBox::new(
        centre.iter().map(|c| c - args.eps).collect(),
        centre.iter().map(|c| c + args.eps).collect(),
    )
    .map_err(bounds_error)?;
    let method = match args.method.as_str() {
        "ibp" => Method::Ibp,
        "crown" => Method::Crown,
        _ => Method::AlphaCrown {
            iters: ALPHA_ITERS,
            lr: ALPHA_LR,
        },
    };
    let opts = CrownOptions {
        f32_executor: args.semantics == "f32",
        ..CrownOptions::default()
    };
    let outputs = runnable.with_payload(|_, payload| {
        let weights = |key: &str| payload.load(key).ok().map(|t| t.to_f64());
        bound_graph
            .outputs
            .iter()
            .map(|(name, id)| {
                let net = BoundNet::from_graph(&bound_graph, &weights, Some(name))
                    .map_err(bounds_error)?;
                let b =
                    compute_bounds(&net, &input_box, method, None, opts).map_err(bounds_error)?;
                let nodes = if args.per_node {
                    Some(crate::bounds_nodes::node_bounds(
                        &net, &input_box, method, opts,
                    )?)
                } else {
                    None
                };
                let float = args.per_node.then(|| {
                    crate::bounds_nodes::float_budget(&net, &bound_graph, &input_box, method)
                });
                Ok(OutputBounds {
                    nodes,
                    float,
                    name: name.clone(),
                    shape: bound_graph.nodes[*id].shape.as_known().unwrap_or_default(),
                    lower: b.lower,
                    upper: b.upper,
                })
            })
            .collect::<Result<Vec<_>, CliError>>()
    })?;
    Ok(if args.format == "json" {
        render_json(args, &bound_graph.name, &outputs)
    } else {
        render_text(args, &bound_graph.name, &input_name, &outputs)
    })
}

/// The graph with its input's symbolic extents taken from the centre's shape.
fn bind_input_shape(graph: &Graph, shape: &[usize]) -> Result<Graph, CliError> {
    let input = &graph.nodes[graph.inputs[0]];
    let mismatch = || {
        CliError::new(
            "TL0511",
            format!(
                "the centre has shape {shape:?}, input `{}` is declared {}",
                input.name, input.shape
            ),
            exit::USAGE,
        )
    };
    if input.shape.0.len() != shape.len() {
        return Err(mismatch());
    }
    let mut symbols = HashMap::new();
    for (d, &n) in input.shape.0.iter().zip(shape) {
        match d {
            Dim::Known(k) if *k as usize != n => return Err(mismatch()),
            Dim::Sym(s) => {
                if *symbols.entry(s.clone()).or_insert(n as u64) != n as u64 {
                    return Err(mismatch());
                }
            }
            _ => {}
        }
    }
    tl_bounds::onnx::bind_symbols(graph, &symbols)
        .map_err(|e| CliError::new(tl_bounds::codes::UNSUPPORTED_GRAPH, e, exit::FINDINGS))
}

fn semantics_words(semantics: &str) -> &'static str {
    if semantics == "f32" {
        "sound over the reals and for an f32 executor"
    } else {
        "sound over the reals"
    }
}

fn render_text(args: &BoundsArgs, graph: &str, input: &str, outputs: &[OutputBounds]) -> String {
    let centre = args.input.split_once('=').map_or("", |(_, p)| p);
    let mut s = format!(
        "{} bounds of {graph} for {input} within eps = {} of {} ({})\n",
        args.method,
        args.eps,
        Path::new(centre).display(),
        semantics_words(&args.semantics)
    );
    for o in outputs {
        s.push_str(&format!("{} {:?}\n", o.name, o.shape));
        let width = o.lower.len().saturating_sub(1).to_string().len();
        for (i, (l, u)) in o.lower.iter().zip(&o.upper).enumerate() {
            s.push_str(&format!("  [{i:>width$}] {l} .. {u}\n"));
        }
    }
    for o in outputs {
        if let Some(nodes) = &o.nodes {
            s.push_str(&crate::bounds_nodes::render_text(&o.name, nodes));
        }
        if let Some(budget) = &o.float {
            s.push_str(&crate::bounds_nodes::render_float_text(budget));
        }
    }
    s
}

fn render_json(args: &BoundsArgs, graph: &str, outputs: &[OutputBounds]) -> String {
    let outs: serde_json::Map<String, serde_json::Value> = outputs
        .iter()
        .map(|o| {
            (
                o.name.clone(),
                json!({"shape": o.shape, "lower": o.lower, "upper": o.upper}),
            )
        })
        .collect();
    let mut v = json!({
        "graph": graph,
        "method": args.method,
        "eps": args.eps,
        "semantics": args.semantics,
        "outputs": outs,
    });
    if args.per_node {
        let per: serde_json::Map<String, serde_json::Value> = outputs
            .iter()
            .filter_map(|o| {
                let nodes = o.nodes.as_ref()?;
                let ranking: Vec<&str> = crate::bounds_nodes::ranking(nodes)
                    .into_iter()
                    .map(|i| nodes[i].name.as_str())
                    .collect();
                Some((
                    o.name.clone(),
                    json!({"nodes": nodes, "ranking": ranking, "float": o.float}),
                ))
            })
            .collect();
        v["per_node"] = serde_json::Value::Object(per);
    }
    format!(
        "{}\n",
        serde_json::to_string_pretty(&v).expect("JSON values")
    )
}
