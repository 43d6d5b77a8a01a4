//! `tlc tolerance`: the derived float budgets of a graph per node (`tl_ide::tolerance`, the
//! analysis `tlc verify` runs for `compiled ~= reference within T`), over each equivalence
//! contract's input set or an explicit `--box LO,HI`.

use std::path::PathBuf;

use clap::Args;
use tl_ide::tolerance::{InputRequest, OutputReport, Section, ToleranceReport};
use tl_ide::{AnalysisHost, Change};

use crate::exit;
use crate::render::Renderer;
use crate::run::CliError;

/// The `schema` of the JSON output (docs/verify.md).
pub const SCHEMA: &str = "tl.tolerance/1";

#[derive(Args)]
#[command(after_help = "Examples:
  tlc tolerance spec-examples/mnist_mlp.tl
  tlc tolerance spec-examples/small_cnn.tl --box 0,1 --format json

Without --box: one section per `compiled ~= reference within T` contract on the graph, over its
input set, with the declared tolerance beside the derived bound. With --box LO,HI: every input
coordinate in [LO, HI] (symbolic extents 1). JSON: schema tl.tolerance/1 (docs/verify.md).
Exit 0 every budget derived, 1 the analysis stopped at a node (or a contract's set is no box),
2 usage, I/O or spec errors (TL0532 no such graph, TL0827 no contract and no box, TL0828 bad box).")]
pub struct ToleranceArgs {
    /// The spec.
    pub spec: PathBuf,
    /// The graph (a graph of the spec or an `import onnx ... as NAME`); needed when the spec has
    /// more than one.
    #[arg(long)]
    pub graph: Option<String>,
    /// An explicit input box: every coordinate of the graph's one input in [LO, HI].
    #[arg(long = "box", value_name = "LO,HI", allow_hyphen_values = true)]
    pub input_box: Option<String>,
    /// `text` or `json`.
    #[arg(long, default_value = "text", value_parser = ["text", "json"])]
    pub format: String,
}

pub fn run(args: ToleranceArgs) -> u8 {
    match tolerance(&args) {
        Ok((text, all_derived)) => {
            print!("{text}");
            if all_derived {
                exit::OK
            } else {
                exit::FINDINGS
            }
        }
        Err(e) => e.print(),
    }
}

/// `--box LO,HI`: two finite numbers, LO <= HI (TL0828).
pub fn parse_box(text: &str) -> Result<(f64, f64), CliError> {
    let bad = |why: &str| CliError::new("TL0828", format!("--box {text}: {why}"), exit::USAGE);
    let (lo, hi) = text
        .split_once(',')
        .ok_or_else(|| bad("write LO,HI (two numbers)"))?;
    let num = |s: &str| {
        s.trim()
            .parse::<f64>()
            .map_err(|_| bad(&format!("`{}` is not a number", s.trim())))
    };
    let (lo, hi) = (num(lo)?, num(hi)?);
    if !lo.is_finite() || !hi.is_finite() {
        return Err(bad("the bounds must be finite"));
    }
    if lo > hi {
        return Err(bad("LO is greater than HI"));
    }
    Ok((lo, hi))
}

fn tolerance(args: &ToleranceArgs) -> Result<(String, bool), CliError> {
    let request = match &args.input_box {
        Some(b) => {
            let (lo, hi) = parse_box(b)?;
            InputRequest::Box { lo, hi }
        }
        None => InputRequest::Contracts,
    };
    let mut host = AnalysisHost::new();
    let mut change = Change::new();
    change.load_file(&args.spec);
    host.apply_change(change);
    host.settle(std::slice::from_ref(&args.spec));
    let analysis = host.analysis();
    let report =
        crate::uncancelled(analysis.tolerance(&args.spec, args.graph.as_deref(), &request))
            .map_err(|e| {
                if !e.diagnostics.is_empty() {
                    let mut r = Renderer::new(&analysis);
                    for d in &e.diagnostics {
                        eprint!("{}", r.human(d));
                    }
                }
                // As `tlc bounds`: a spec or graph that does not load is a usage problem here.
                CliError::new(e.code, e.message, exit::USAGE)
            })?;
    let text = if args.format == "json" {
        render_json(&report)
    } else {
        render_text(&report)
    };
    Ok((text, report.all_derived()))
}

fn render_json(report: &ToleranceReport) -> String {
    let mut v = serde_json::to_value(report).expect("a report serialises");
    if let serde_json::Value::Object(m) = &mut v {
        m.insert("schema".into(), SCHEMA.into());
    }
    format!(
        "{}\n",
        serde_json::to_string_pretty(&v).expect("JSON values")
    )
}

fn sci(v: f64) -> String {
    format!("{v:.3e}")
}

fn opt(v: Option<f64>) -> String {
    v.map_or_else(|| "-".to_string(), sci)
}

fn render_text(report: &ToleranceReport) -> String {
    let mut s = format!(
        "derived float budgets of {} per node: bounds on |compiled f32 - real| and |reference f64 - real| (interval ranges and a per-op rounding model; `tlc verify` decides the contracts)\n",
        report.graph
    );
    for section in &report.sections {
        s.push('\n');
        render_section(&mut s, section);
    }
    s
}

fn render_section(s: &mut String, section: &Section) {
    match (&section.contract, &section.tolerance) {
        (Some(c), Some(t)) => {
            let mut parts = vec![format!("abs {:?}", t.abs), format!("rel {:?}", t.rel)];
            if let Some(u) = t.ulp {
                parts.push(format!("ulp {u:?}"));
            }
            s.push_str(&format!(
                "contract {c}: {} within {} ({})\n",
                section.input,
                t.name,
                parts.join(", ")
            ));
        }
        (Some(c), None) => s.push_str(&format!("contract {c}: {}\n", section.input)),
        (None, _) => s.push_str(&format!("explicit box: {}\n", section.input)),
    }
    if let Some(why) = &section.error {
        s.push_str(&format!("  not derived: {why}\n"));
        return;
    }
    for o in &section.outputs {
        render_output(s, o, section.tolerance.as_ref().map(|t| t.name.as_str()));
    }
}

fn render_output(s: &mut String, o: &OutputReport, tol: Option<&str>) {
    match &o.range_method {
        Some(m) => s.push_str(&format!("  output {} (ranges by {m})\n", o.output)),
        None => s.push_str(&format!("  output {}\n", o.output)),
    }
    if let Some(stop) = &o.stopped {
        match &stop.node {
            Some(node) => s.push_str(&format!(
                "    not derived: the analysis stops at node {node}: {}\n",
                stop.reason
            )),
            None => s.push_str(&format!("    not derived: {}\n", stop.reason)),
        }
        return;
    }
    s.push_str(&format!(
        "    {:<24} {:<10} {:>10} {:>10} {:>10} {:>10}  rule\n",
        "node", "kind", "f32 abs", "f32 rel", "f64 abs", "f64 rel"
    ));
    for n in &o.nodes {
        s.push_str(&format!(
            "    {:<24} {:<10} {:>10} {:>10} {:>10} {:>10}  {}\n",
            n.name,
            n.kind,
            sci(n.compiled_abs),
            opt(n.compiled_rel),
            opt(n.reference_abs),
            opt(n.reference_rel),
            n.rule
        ));
    }
    if let Some(bound) = o.bound {
        let fit = match (&o.fit, tol) {
            (Some(f), Some(t)) if f.fits => {
                format!(": fits {t} (at most {:.3} of the allowed error)", f.ratio)
            }
            (Some(f), Some(t)) => format!(": exceeds {t} by a factor {:.3}", f.ratio),
            _ => String::new(),
        };
        s.push_str(&format!(
            "    |compiled - reference| <= {}{fit}\n",
            sci(bound)
        ));
    }
    if !o.assumptions.is_empty() {
        s.push_str(&format!("    rests on: {}\n", o.assumptions.join("; ")));
    }
}
