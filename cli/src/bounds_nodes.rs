//! `tlc bounds --per-node`: the box of every node of the bound network by IBP and by CROWN (or
//! alpha-CROWN), and a tightness ranking. A diagnostic view of the bound pass that `tlc bounds`
//! and `tlc verify` run; the boxes are sound (the same analysis), the ranking is only a reading
//! aid.
//!
//! Per node, `ibp` is a pure interval pass from the input box; `crown` is the box the CROWN pass
//! keeps for that layer: a backward CROWN pass where a relaxation depends on it (pre-activation
//! layers), interval arithmetic on the already-tightened parents elsewhere, intersected with IBP
//! when the analysis does so (it does by default). The output node's `crown` box is the final
//! backward pass: exactly what `tlc bounds` prints for it.

use serde::Serialize;
use tl_bounds::crown::Analysis;
use tl_bounds::float_error::{analyze, Format};
use tl_bounds::{BoundNet, CrownOptions, InputBox, Method};
use tl_ir::Graph;

use crate::bounds::bounds_error;
use crate::run::CliError;

/// A box's summary and its values (row-major over the node's shape).
#[derive(Clone, Debug, Serialize)]
pub struct NodeBox {
    pub lower_min: f64,
    pub lower_max: f64,
    pub upper_min: f64,
    pub upper_max: f64,
    pub mean_width: f64,
    pub max_width: f64,
    pub lower: Vec<f64>,
    pub upper: Vec<f64>,
}

impl NodeBox {
    fn new(lower: Vec<f64>, upper: Vec<f64>) -> NodeBox {
        let fold = |v: &[f64], min: bool| {
            v.iter().copied().fold(
                if min {
                    f64::INFINITY
                } else {
                    f64::NEG_INFINITY
                },
                |a, b| if min { a.min(b) } else { a.max(b) },
            )
        };
        let widths: Vec<f64> = lower.iter().zip(&upper).map(|(l, u)| u - l).collect();
        let mean_width = if widths.is_empty() {
            0.0
        } else {
            widths.iter().sum::<f64>() / widths.len() as f64
        };
        NodeBox {
            lower_min: fold(&lower, true),
            lower_max: fold(&lower, false),
            upper_min: fold(&upper, true),
            upper_max: fold(&upper, false),
            mean_width,
            max_width: fold(&widths, false),
            lower,
            upper,
        }
    }
}

/// One layer of the bound network.
#[derive(Clone, Debug, Serialize)]
pub struct NodeBounds {
    /// The layer's index in the bound network (topological order, 0 is the input).
    pub layer: usize,
    /// The tl graph node it computes.
    pub name: String,
    /// The bound network's layer kind (affine, relu, ...).
    pub kind: String,
    pub shape: Vec<usize>,
    /// Whether this is the layer whose bounds `tlc bounds` prints.
    pub output: bool,
    pub ibp: NodeBox,
    pub crown: NodeBox,
    /// IBP's mean width over CROWN's (>= 1 when CROWN is tighter; null when CROWN's is 0).
    pub ratio: Option<f64>,
}

/// The boxes of every live layer of `net`.
pub fn node_bounds(
    net: &BoundNet,
    input: &InputBox,
    method: Method,
    opts: CrownOptions,
) -> Result<Vec<NodeBounds>, CliError> {
    let ibp = Analysis::new(net, input, Method::Ibp, opts, &[])
        .map_err(bounds_error)?
        .expect("no splits: the domain is never empty");
    let tight = Analysis::new(net, input, method, opts, &[])
        .map_err(bounds_error)?
        .expect("no splits: the domain is never empty");
    let (out_lo, out_hi) = tight.output_bounds(method);
    let live = net.live();
    let mut out = Vec::new();
    for (i, node) in net.nodes.iter().enumerate() {
        if !live[i] {
            continue;
        }
        let ibp_box = NodeBox::new(ibp.lower[i].to_vec(), ibp.upper[i].to_vec());
        let crown_box = if i == net.output {
            NodeBox::new(out_lo.clone(), out_hi.clone())
        } else {
            NodeBox::new(tight.lower[i].to_vec(), tight.upper[i].to_vec())
        };
        let ratio = (crown_box.mean_width > 0.0).then(|| ibp_box.mean_width / crown_box.mean_width);
        out.push(NodeBounds {
            layer: i,
            name: node.name.clone(),
            kind: node.layer.kind_name().to_string(),
            shape: node.shape.clone(),
            output: i == net.output,
            ibp: ibp_box,
            crown: crown_box,
            ratio,
        });
    }
    Ok(out)
}

/// The derived f32 rounding budget per node: a bound on |compiled f32 - real| over the same box
/// (`tl_bounds::float_error`, the analysis a contract's float link uses).
#[derive(Clone, Debug, Serialize)]
pub struct FloatBudget {
    pub nodes: Vec<FloatNode>,
    /// Named assumptions the budget rests on (libm accuracy for sigmoid/tanh, ...).
    pub assumptions: Vec<String>,
    /// Where and why the analysis stopped, when it could not model a node (then `nodes` is empty).
    pub unmodelled: Option<String>,
}

#[derive(Clone, Debug, Serialize)]
pub struct FloatNode {
    pub name: String,
    pub kind: String,
    /// The largest bound on |compiled f32 - real| over the node's elements.
    pub max_abs: f64,
    /// The largest relative bound, where every element's real range excludes zero.
    pub max_rel: Option<f64>,
    /// The rounding rule charged at this node.
    pub rule: String,
}

/// The f32 rounding budget of every live layer of `net` over `input`.
pub fn float_budget(
    net: &BoundNet,
    graph: &Graph,
    input: &InputBox,
    method: Method,
) -> FloatBudget {
    let method = match method {
        Method::Ibp => Method::Ibp,
        _ => Method::Crown,
    };
    match analyze(net, graph, input, method, Format::F32) {
        Ok(b) => FloatBudget {
            nodes: b
                .nodes
                .iter()
                .map(|n| FloatNode {
                    name: n.name.clone(),
                    kind: n.kind.to_string(),
                    max_abs: n.max_abs(),
                    max_rel: n.max_rel(),
                    rule: n.rule.clone(),
                })
                .collect(),
            assumptions: b.assumptions,
            unmodelled: None,
        },
        Err(u) => FloatBudget {
            nodes: vec![],
            assumptions: vec![],
            unmodelled: Some(u.to_string()),
        },
    }
}

/// The float budget as text lines under the per-node boxes.
pub fn render_float_text(budget: &FloatBudget) -> String {
    let mut s = String::from(
        "f32 rounding budget per node: derived bound on |compiled f32 - real| over the box (diagnostic view)\n",
    );
    if let Some(why) = &budget.unmodelled {
        s.push_str(&format!("  not derived: {why}\n"));
        return s;
    }
    for n in &budget.nodes {
        s.push_str(&format!(
            "  {:<24} {:<10} abs <= {:.3e}{}  ({})\n",
            n.name,
            n.kind,
            n.max_abs,
            n.max_rel
                .map_or(String::new(), |r| format!(", rel <= {r:.3e}")),
            n.rule
        ));
    }
    if !budget.assumptions.is_empty() {
        s.push_str(&format!("  rests on: {}\n", budget.assumptions.join(", ")));
    }
    s
}

/// Indices into `nodes`, loosest CROWN box (largest mean width) first; ties by name.
pub fn ranking(nodes: &[NodeBounds]) -> Vec<usize> {
    let mut idx: Vec<usize> = (0..nodes.len()).collect();
    idx.sort_by(|&a, &b| {
        nodes[b]
            .crown
            .mean_width
            .total_cmp(&nodes[a].crown.mean_width)
            .then_with(|| nodes[a].name.cmp(&nodes[b].name))
    });
    idx
}

/// The text table of `tlc bounds --per-node`.
pub fn render_text(output: &str, nodes: &[NodeBounds]) -> String {
    let mut s =
        format!("per-node boxes of the bound network for output {output} (diagnostic view)\n");
    s.push_str(&format!(
        "{:>5}  {:<24} {:<10} {:<14} {:>13} {:>13} {:>13} {:>13} {:>8}\n",
        "layer", "node", "kind", "shape", "ibp lo..hi", "", "crown lo..hi", "", "ibp/crn"
    ));
    for n in nodes {
        s.push_str(&format!(
            "{:>5}  {:<24} {:<10} {:<14} {:>13.6e} {:>13.6e} {:>13.6e} {:>13.6e} {:>8}\n",
            n.layer,
            n.name,
            n.kind,
            format!("{:?}", n.shape),
            n.ibp.lower_min,
            n.ibp.upper_max,
            n.crown.lower_min,
            n.crown.upper_max,
            n.ratio.map_or("-".to_string(), |r| format!("{r:.3}")),
        ));
    }
    s.push_str("tightness (loosest CROWN box first: mean width, ibp mean width)\n");
    for (rank, &i) in ranking(nodes).iter().enumerate() {
        let n = &nodes[i];
        s.push_str(&format!(
            "  {:>3}. {} (layer {}): {:.6e}, {:.6e}\n",
            rank + 1,
            n.name,
            n.layer,
            n.crown.mean_width,
            n.ibp.mean_width
        ));
    }
    s
}
