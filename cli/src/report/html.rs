//! The page itself: HTML, inline CSS and script, the SVG graph from layout-rs.

use layout::backends::svg::SVGWriter;
use layout::core::base::Orientation;
use layout::core::color::Color;
use layout::core::geometry::Point;
use layout::core::style::StyleAttr;
use layout::std_shapes::shapes::{Arrow, Element, ShapeKind};
use layout::topo::layout::VisualGraph;
use serde_json::{json, Value};
use tl_ir::{Graph, NodeKind};

use super::{GraphView, ReportArgs};

const STYLE: &str = include_str!("report.css");
const SCRIPT: &str = include_str!("report.js");

/// The trust statuses, strongest first (docs/trust.md).
const STATUSES: [&str; 5] = ["proved", "checked", "tested", "assumed", "uncovered"];

fn rank(status: &str) -> usize {
    STATUSES
        .iter()
        .position(|s| *s == status)
        .unwrap_or(STATUSES.len() - 1)
}

fn fill(status: Option<&str>) -> u32 {
    match status {
        Some("proved") => 0xc8e6c9ff,
        Some("checked") => 0xbbdefbff,
        Some("tested") => 0xfff9c4ff,
        Some("assumed") => 0xffe0b2ff,
        Some("uncovered") => 0xffcdd2ff,
        _ => 0xeeeeeeff,
    }
}

pub fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// The weakest of `statuses` (None when empty).
fn weakest<'a>(statuses: impl Iterator<Item = &'a str>) -> Option<&'a str> {
    statuses.max_by_key(|s| rank(s))
}

fn node_op(kind: &NodeKind) -> String {
    match kind {
        NodeKind::Input => "input".into(),
        NodeKind::Param { .. } => "param".into(),
        NodeKind::Op { op, .. } => op.name().to_string(),
    }
}

/// The weakest coverage status of each node of the coverage entry, by node name.
fn node_coverage(cov: &Value, name: &str) -> Option<(String, Value)> {
    let node = cov["nodes"]
        .as_array()?
        .iter()
        .find(|n| n["node"] == name)?
        .clone();
    let status = weakest(
        node["layers"]
            .as_array()?
            .iter()
            .filter_map(|l| l["status"].as_str()),
    )?
    .to_string();
    Some((status, node["layers"].clone()))
}

/// The graph as SVG, laid out by layout-rs; each node's group carries `data-node`.
fn svg(graph: &Graph, cov: &Value, contract_status: Option<&str>) -> String {
    let mut vg = VisualGraph::new(Orientation::TopToBottom);
    let stroke = Color::from_name(match contract_status {
        Some("proved") => "darkgreen",
        Some("checked") => "blue",
        Some("tested") => "gold",
        Some("assumed") => "orange",
        Some("uncovered") => "red",
        _ => "gray",
    })
    .unwrap_or_else(|| Color::new(0x000000ff));
    let handles: Vec<_> = graph
        .nodes
        .iter()
        .map(|n| {
            let status = node_coverage(cov, &n.name).map(|(s, _)| s);
            let label = format!("{}\n{} {}{}", n.name, node_op(&n.kind), n.dtype, n.shape);
            let width =
                label.lines().map(|l| l.chars().count()).max().unwrap_or(4) as f64 * 8.0 + 20.0;
            let look = StyleAttr::new(stroke, 2, Some(Color::new(fill(status.as_deref()))), 4, 13);
            let props = format!(
                "class=\"tl-node\" data-node=\"{}\" data-coverage=\"{}\"",
                esc(&n.name),
                status.as_deref().unwrap_or("none")
            );
            let elem = Element::create_with_properties(
                ShapeKind::new_box(&label),
                look,
                Orientation::LeftToRight,
                Point::new(width, 48.0),
                props,
            );
            vg.add_node(elem)
        })
        .collect();
    for (i, n) in graph.nodes.iter().enumerate() {
        for &p in &n.parents {
            vg.add_edge(Arrow::simple(""), handles[p], handles[i]);
        }
    }
    let mut w = SVGWriter::new();
    vg.do_it(false, false, false, &mut w);
    w.finalize()
}

fn status_badge(status: &str) -> String {
    format!(
        "<span class=\"status status-{s}\" data-status=\"{s}\">{s}</span>",
        s = esc(status)
    )
}

fn ledger_html(l: &Value) -> String {
    let name = l["contract"].as_str().unwrap_or("?");
    let mut s = format!(
        "<div class=\"contract\" data-contract=\"{}\"><h3>contract <code>{}</code> on <code>{}</code> ({}) {}{}</h3>",
        esc(name),
        esc(name),
        esc(l["target"].as_str().unwrap_or("?")),
        esc(l["kind"].as_str().unwrap_or("?")),
        status_badge(l["status"].as_str().unwrap_or("uncovered")),
        if l["pending"] == true {
            " <span class=\"pending\">pending: links need a verify run (`tlc report --verify`)</span>"
        } else {
            ""
        }
    );
    if let Some(c) = l["ceiling"].as_str() {
        s.push_str(&format!("<p>ceiling: {}</p>", esc(c)));
    }
    s.push_str("<table class=\"links\"><tr><th>layer</th><th>claim</th><th>status</th><th>evidence</th><th>assumptions</th></tr>");
    for link in l["links"].as_array().into_iter().flatten() {
        let list = |v: &Value| {
            let items: Vec<String> = v
                .as_array()
                .into_iter()
                .flatten()
                .map(|e| format!("<li>{}</li>", esc(&value_text(e))))
                .collect();
            if items.is_empty() {
                String::new()
            } else {
                format!("<ul>{}</ul>", items.join(""))
            }
        };
        s.push_str(&format!(
            "<tr><td>{}{}</td><td>{}</td><td>{}{}</td><td>{}</td><td>{}</td></tr>",
            esc(link["layer"].as_str().unwrap_or("?")),
            if link["required"] == true {
                ""
            } else {
                " (not required)"
            },
            esc(link["claim"].as_str().unwrap_or("")),
            status_badge(link["status"].as_str().unwrap_or("uncovered")),
            if link["pending"] == true {
                " pending"
            } else {
                ""
            },
            list(&link["evidence"]),
            list(&link["assumptions"]),
        ));
    }
    s.push_str("</table>");
    for (key, title) in [
        ("assumptions", "assumptions"),
        ("boundaries", "trust boundaries"),
    ] {
        let items: Vec<String> = l[key]
            .as_array()
            .into_iter()
            .flatten()
            .map(|e| format!("<li>{}</li>", esc(&value_text(e))))
            .collect();
        if !items.is_empty() {
            s.push_str(&format!("<p>{title}:</p><ul>{}</ul>", items.join("")));
        }
    }
    s.push_str("</div>");
    s
}

fn value_text(v: &Value) -> String {
    let field = |k: &str| v[k].as_str().unwrap_or("").to_string();
    match v {
        Value::String(s) => s.clone(),
        // An assumption: name (kind, source): text.
        Value::Object(o) if o.contains_key("name") && o.contains_key("text") => format!(
            "{} ({}, {}): {}",
            field("name"),
            field("kind"),
            field("source"),
            field("text")
        ),
        // A trust boundary: code what (kind), accepted by the listed assumptions.
        Value::Object(o) if o.contains_key("code") && o.contains_key("what") => format!(
            "{} {} ({}); covered by: {}",
            field("code"),
            field("what"),
            field("kind"),
            v["covered_by"]
                .as_array()
                .map(|a| a
                    .iter()
                    .filter_map(|x| x.as_str())
                    .collect::<Vec<_>>()
                    .join(", "))
                .filter(|s| !s.is_empty())
                .unwrap_or_else(|| "nothing".into())
        ),
        other => other.to_string(),
    }
}

fn num(v: &Value) -> String {
    v.as_f64().map_or("-".into(), |x| format!("{x:.4e}"))
}

/// A number of a replay (serde writes NaN and infinities as null).
fn value(v: &Value) -> String {
    v.as_f64().map_or("NaN".into(), |x| format!("{x:.6e}"))
}

fn summary(v: &Value) -> String {
    let first: Vec<String> = v["first"]
        .as_array()
        .map(|a| a.iter().map(value).collect())
        .unwrap_or_default();
    let more = v["len"].as_u64().unwrap_or(0) as usize > first.len();
    format!(
        "[{}, {}]<br><small>{}{}</small>",
        value(&v["min"]),
        value(&v["max"]),
        first.join(", "),
        if more { ", ..." } else { "" }
    )
}

/// Each counterexample a verify run found, replayed node by node in both engines.
fn replays_html(replays: &[Value]) -> String {
    if replays.is_empty() {
        return String::new();
    }
    let mut s = String::from("<section class=\"replay\"><h2>counterexample replay <span class=\"label diag\">diagnostic view: the counterexample of the ledger's falsified method link, re-run on tl's f64 reference semantics and compiled f32 executor with every op node recorded</span></h2>");
    for r in replays {
        let contract = r["contract"].as_str().unwrap_or("?");
        s.push_str(&format!(
            "<div class=\"replay-case\" data-contract=\"{}\"><h3>contract <code>{}</code>: found by <code>{}</code>, confirmed on {}</h3>",
            esc(contract),
            esc(contract),
            esc(r["method"].as_str().unwrap_or("?")),
            esc(r["counterexample"]["confirmed_on"].as_str().unwrap_or("?"))
        ));
        s.push_str("<table><tr><th>input</th><th>shape</th><th>range, first values</th></tr>");
        for input in r["counterexample"]["inputs"]
            .as_array()
            .into_iter()
            .flatten()
        {
            let vals: Vec<f64> = input[2]
                .as_array()
                .map(|a| a.iter().map(|v| v.as_f64().unwrap_or(f64::NAN)).collect())
                .unwrap_or_default();
            let (lo, hi) = vals
                .iter()
                .fold((f64::INFINITY, f64::NEG_INFINITY), |(l, h), &x| {
                    (l.min(x), h.max(x))
                });
            let first: Vec<String> = vals.iter().take(8).map(|x| format!("{x:.6e}")).collect();
            s.push_str(&format!(
                "<tr><td><code>{}</code></td><td>{}</td><td>[{lo:.6e}, {hi:.6e}]<br><small>{}{}</small></td></tr>",
                esc(input[0].as_str().unwrap_or("?")),
                esc(&input[1].to_string()),
                first.join(", "),
                if vals.len() > 8 { ", ..." } else { "" }
            ));
        }
        s.push_str("</table>");
        match (r["nodes"].get("Ok"), r["nodes"].get("Err")) {
            (Some(nodes), _) => {
                s.push_str("<table class=\"replay-nodes\"><tr><th>node</th><th>op</th><th>shape</th><th>reference (f64): range, first values</th><th>compiled (f32): range, first values</th><th>max |ref - f32|</th></tr>");
                for n in nodes.as_array().into_iter().flatten() {
                    s.push_str(&format!(
                        "<tr data-replay-node=\"{}\"><td><code>{}</code></td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                        esc(n["node"].as_str().unwrap_or("?")),
                        esc(n["node"].as_str().unwrap_or("?")),
                        esc(n["op"].as_str().unwrap_or("?")),
                        esc(&n["shape"].to_string()),
                        summary(&n["reference"]),
                        summary(&n["compiled"]),
                        value(&n["max_abs_diff"])
                    ));
                }
                s.push_str("</table>");
            }
            (_, Some(why)) => s.push_str(&format!(
                "<p class=\"note\">not replayed: {}</p>",
                esc(why.as_str().unwrap_or("?"))
            )),
            _ => {}
        }
        s.push_str("</div>");
    }
    s.push_str("</section>");
    s
}

fn bounds_html(view: &GraphView) -> String {
    let Some(b) = &view.bounds else {
        return String::new();
    };
    let mut s = format!(
        "<section class=\"bounds\"><h3>per-node boxes of <code>{}</code> <span class=\"label diag\">diagnostic view: the bound pass of `tlc bounds --per-node` (CROWN, f32 semantics); sound boxes, not a contract</span></h3><p>{}</p>",
        esc(&view.name),
        esc(&view.bounds_input)
    );
    for (out, per) in b["per_node"].as_object().into_iter().flatten() {
        s.push_str(&format!("<h4>output <code>{}</code></h4><table class=\"boxes\"><tr><th>layer</th><th>node</th><th>kind</th><th>shape</th><th>IBP lower min</th><th>IBP upper max</th><th>IBP mean width</th><th>CROWN lower min</th><th>CROWN upper max</th><th>CROWN mean width</th><th>IBP/CROWN</th></tr>", esc(out)));
        for n in per["nodes"].as_array().into_iter().flatten() {
            s.push_str(&format!(
                "<tr class=\"box-row\" data-box-node=\"{}\"><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                esc(n["name"].as_str().unwrap_or("")),
                n["layer"],
                esc(n["name"].as_str().unwrap_or("")),
                esc(n["kind"].as_str().unwrap_or("")),
                esc(&n["shape"].to_string()),
                num(&n["ibp"]["lower_min"]),
                num(&n["ibp"]["upper_max"]),
                num(&n["ibp"]["mean_width"]),
                num(&n["crown"]["lower_min"]),
                num(&n["crown"]["upper_max"]),
                num(&n["crown"]["mean_width"]),
                n["ratio"].as_f64().map_or("-".into(), |r| format!("{r:.3}")),
            ));
        }
        s.push_str(
            "</table><p>tightness ranking (loosest CROWN box first):</p><ol class=\"ranking\">",
        );
        for r in per["ranking"].as_array().into_iter().flatten() {
            s.push_str(&format!("<li>{}</li>", esc(r.as_str().unwrap_or(""))));
        }
        s.push_str("</ol>");
        s.push_str(&float_budget_html(&per["float"]));
    }
    s.push_str("</section>");
    s
}

/// The gradient tape of a gradient contract's target (diagnostic).
fn tape_html(view: &GraphView) -> String {
    let Some(tape) = &view.tape else {
        return String::new();
    };
    let mut s = format!(
        "<section class=\"tape\"><h3>gradient tape of <code>{}</code> <span class=\"label diag\">diagnostic view: the reverse sweep of tl's autograd (f64 reference semantics) at one seeded point; a gradient contract checks this sweep against finite differences</span></h3>",
        esc(&view.name)
    );
    match tape {
        Err(why) => s.push_str(&format!("<p class=\"note\">no tape: {}</p>", esc(why))),
        Ok(t) => {
            s.push_str(&format!(
                "<p>output <code>{}</code>; {}</p>",
                esc(&t.output),
                esc(&t.point)
            ));
            s.push_str("<table class=\"tape-rows\"><tr><th>step</th><th>node</th><th>op</th><th>shape</th><th>value range</th><th>adjoint range</th><th>adjoint L2</th></tr>");
            for (i, r) in t.rows.iter().enumerate() {
                s.push_str(&format!(
                    "<tr data-tape-node=\"{}\"><td>{}</td><td><code>{}</code></td><td>{}</td><td>{:?}</td><td>[{:.4e}, {:.4e}]</td><td>[{:.4e}, {:.4e}]</td><td>{:.4e}</td></tr>",
                    esc(&r.node),
                    i + 1,
                    esc(&r.node),
                    esc(&r.op),
                    r.shape,
                    r.value.0,
                    r.value.1,
                    r.adjoint.0,
                    r.adjoint.1,
                    r.adjoint_l2
                ));
            }
            s.push_str("</table>");
        }
    }
    s.push_str("</section>");
    s
}

/// The derived f32 rounding budget per node over the same box (`tlc bounds --per-node`'s `float`).
fn float_budget_html(f: &Value) -> String {
    if f.is_null() {
        return String::new();
    }
    let mut s = String::from("<div class=\"float-budget\"><p>f32 rounding budget per node <span class=\"label diag\">diagnostic view: the derived bound on |compiled f32 - real| that a contract's float link uses (tl_bounds::float_error, docs/trust.md), over the same box</span></p>");
    if let Some(why) = f["unmodelled"].as_str() {
        s.push_str(&format!(
            "<p class=\"note\">not derived: {}</p></div>",
            esc(why)
        ));
        return s;
    }
    s.push_str("<table class=\"budget\"><tr><th>node</th><th>kind</th><th>abs bound</th><th>rel bound</th><th>rule</th></tr>");
    for n in f["nodes"].as_array().into_iter().flatten() {
        s.push_str(&format!(
            "<tr data-budget-node=\"{}\"><td><code>{}</code></td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            esc(n["name"].as_str().unwrap_or("")),
            esc(n["name"].as_str().unwrap_or("")),
            esc(n["kind"].as_str().unwrap_or("")),
            num(&n["max_abs"]),
            n["max_rel"].as_f64().map_or("-".into(), |r| format!("{r:.4e}")),
            esc(n["rule"].as_str().unwrap_or("")),
        ));
    }
    s.push_str("</table>");
    let rests: Vec<&str> = f["assumptions"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    if !rests.is_empty() {
        s.push_str(&format!("<p>rests on: {}</p>", esc(&rests.join(", "))));
    }
    s.push_str("</div>");
    s
}

pub fn page(
    args: &ReportArgs,
    trust: &Value,
    contracts: &[Value],
    replays: &[Value],
    graphs: &[GraphView],
) -> String {
    let title = format!("tl report: {}", args.spec.display());
    let mut body = format!("<h1>{}</h1>", esc(&title));
    body.push_str(&format!(
        "<p class=\"meta\">{} · {}</p>",
        if args.verify {
            "contracts run (--verify)"
        } else {
            "contracts not run: method links pending"
        },
        if trust["errors"].as_u64().unwrap_or(0) > 0 {
            format!(
                "{} error(s) in the spec: its ledgers are incomplete (`tlc check`)",
                trust["errors"]
            )
        } else {
            "the spec checks clean".into()
        }
    ));
    body.push_str("<div class=\"legend\">");
    for s in STATUSES {
        body.push_str(&status_badge(s));
    }
    body.push_str("</div>");
    // The ledger: the checked artifact.
    body.push_str("<section class=\"ledger\"><h2>ledger <span class=\"label artifact\">the checked artifact rendered: the trust ledger of `tlc trust` (schema tl.trust/1), unchanged</span></h2>");
    if contracts.is_empty() {
        body.push_str("<p>no contracts in this spec</p>");
    }
    for l in contracts {
        body.push_str(&ledger_html(l));
    }
    body.push_str("</section>");
    body.push_str(&replays_html(replays));
    // Graph details for the script.
    let mut data = serde_json::Map::new();
    for view in graphs {
        body.push_str(&format!(
            "<section class=\"graph\" data-graph=\"{}\"><h2>graph <code>{}</code> <span class=\"label diag\">diagnostic view: layout by layout-rs; fill = weakest proof-layer coverage of the node, border = weakest status of the contracts on this graph</span></h2>",
            esc(&view.name),
            esc(&view.name)
        ));
        for n in &view.note {
            body.push_str(&format!("<p class=\"note\">{}</p>", esc(n)));
        }
        if let Some(g) = &view.graph {
            let on: Vec<&str> = contracts
                .iter()
                .filter(|l| l["target"] == view.name.as_str())
                .filter_map(|l| l["status"].as_str())
                .collect();
            let cstatus = weakest(on.iter().copied());
            body.push_str(&format!(
                "<p>contracts on it: {} (weakest: {})</p>",
                on.len(),
                cstatus.map_or("none".to_string(), status_badge)
            ));
            body.push_str("<div class=\"layout\"><div class=\"svg\">");
            body.push_str(&svg(g, &view.coverage, cstatus));
            body.push_str("</div><div class=\"details\" id=\"details-");
            body.push_str(&esc(&view.name));
            body.push_str("\"><p>click a node for its details</p></div></div>");
            body.push_str("<details><summary>nodes</summary><ul class=\"node-list\">");
            let mut nodes = serde_json::Map::new();
            for n in &g.nodes {
                let cov = node_coverage(&view.coverage, &n.name);
                body.push_str(&format!(
                    "<li data-node-id=\"{}\"><code>{}</code> {} {}{} coverage: {}</li>",
                    esc(&n.name),
                    esc(&n.name),
                    esc(&node_op(&n.kind)),
                    n.dtype,
                    esc(&n.shape.to_string()),
                    cov.as_ref()
                        .map_or("not listed".to_string(), |(s, _)| s.clone())
                ));
                let boxes: Vec<Value> = view
                    .bounds
                    .as_ref()
                    .and_then(|b| b["per_node"].as_object())
                    .into_iter()
                    .flat_map(|m| m.values())
                    .flat_map(|per| per["nodes"].as_array().cloned().unwrap_or_default())
                    .filter(|b| b["name"] == n.name.as_str())
                    .map(|mut b| {
                        // The values are in the table's JSON; the panel shows the summary.
                        for k in ["ibp", "crown"] {
                            if let Some(o) = b[k].as_object_mut() {
                                o.remove("lower");
                                o.remove("upper");
                            }
                        }
                        b
                    })
                    .collect();
                nodes.insert(
                    n.name.clone(),
                    json!({
                        "op": node_op(&n.kind),
                        "dtype": n.dtype.to_string(),
                        "shape": n.shape.to_string(),
                        "parents": n.parents.iter().map(|&p| g.nodes[p].name.clone()).collect::<Vec<_>>(),
                        "coverage": cov.map(|(_, l)| l),
                        "boxes": boxes,
                    }),
                );
            }
            body.push_str("</ul></details>");
            data.insert(view.name.clone(), Value::Object(nodes));
        }
        body.push_str(&bounds_html(view));
        body.push_str(&tape_html(view));
        body.push_str("</section>");
    }
    // `</` cannot appear inside a script element.
    let data = serde_json::to_string(&Value::Object(data))
        .unwrap_or_else(|_| "{}".into())
        .replace("</", "<\\/");
    // The CSP says what "self-contained" means: inline style and script only, nothing fetched, so
    // the page behaves the same opened from disk and in an editor's webview.
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><meta http-equiv=\"Content-Security-Policy\" content=\"{CSP}\"><title>{}</title><style>{STYLE}</style></head><body>{body}<script type=\"application/json\" id=\"tl-data\">{data}</script><script>{SCRIPT}</script></body></html>\n",
        esc(&title)
    )
}

/// The page's Content-Security-Policy: no network, no other file; inline style, inline script and
/// data: images only.
pub const CSP: &str =
    "default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:";
