//! Hover: what the name under the cursor is, in markdown.

use std::fmt::Write;

use tl_ir::{Op, OpInfo};
use tl_syntax::ast::Item;
use tl_syntax::{ItemKeyword, TextRange};

use super::occurrences::{occurrence_at, Symbol};
use super::text::md_code;
use tl_analysis::contracts::{analyze_contract, Claim, Method, Target, ASSUMPTION_KINDS, METHODS};
use tl_analysis::db::{Db, SourceFile};
use tl_analysis::graphs::{analyze_graph, graph_signature, NodeOrigin, ParamInit};
use tl_analysis::items::{file_items, parse_item, DefKind, ItemSource};

/// A hover: the range it is about and markdown to show.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Hover {
    pub range: TextRange,
    pub markdown: String,
}

/// The hover at `offset`; `workspace` is searched for an assumption's dependents.
pub fn hover(
    db: &dyn Db,
    workspace: &[SourceFile],
    file: SourceFile,
    offset: u32,
) -> Option<Hover> {
    let occ = occurrence_at(db, file, offset)?;
    let markdown = match &occ.symbol {
        Symbol::Op(op) => op_markdown(op.info()),
        Symbol::Attr(op, name) => attr_markdown(*op, name)?,
        Symbol::Node { graph, index } => node_markdown(db, *graph, *index)?,
        Symbol::Def { item, kind } => def_markdown(db, workspace, *item, *kind)?,
        Symbol::Method(name) => method_markdown(name)?,
    };
    Some(Hover {
        range: occ.range,
        markdown,
    })
}

/// An op: signature, semantics, shape rule, family and attributes, from the op table.
pub(crate) fn op_markdown(info: &OpInfo) -> String {
    let mut s = format!("```tl\n{}\n```\n\n{}\n\n", info.signature(), info.semantics);
    let _ = writeln!(s, "**Shape rule:** {}\n", info.shape_rule);
    let _ = writeln!(s, "**Family:** {}", info.family.name());
    if !info.attrs.is_empty() {
        s.push_str("\n**Attributes:**\n");
        for a in info.attrs {
            let default = a
                .default
                .map(|d| format!(" (default {})", md_code(d)))
                .unwrap_or_else(|| " (required)".into());
            let _ = writeln!(s, "- {}: {}{default}: {}", md_code(a.name), a.kind, a.doc);
        }
    }
    s.trim_end().to_string()
}

fn attr_markdown(op: Op, name: &str) -> Option<String> {
    let info = op.info();
    let a = info.attr(name)?;
    let default = a
        .default
        .map(|d| format!("default {}", md_code(d)))
        .unwrap_or_else(|| "required".into());
    Some(format!(
        "attribute {} of {}: {} ({default})\n\n{}",
        md_code(a.name),
        md_code(info.name),
        a.kind,
        a.doc
    ))
}

fn node_markdown(db: &dyn Db, graph: ItemSource<'_>, index: usize) -> Option<String> {
    let a = analyze_graph(db, graph).as_ref()?;
    let n = a.nodes.get(index)?;
    let ty =
        n.ty.as_ref()
            .map(|t| t.to_string())
            .unwrap_or_else(|| "unknown (an error upstream)".into());
    let graph_name = graph.name(db).clone().unwrap_or_default();
    let (what, origin) = match &n.origin {
        NodeOrigin::Input => ("input", format!("input of {}", md_code(&graph_name))),
        NodeOrigin::Param { init } => (
            "param",
            match init {
                ParamInit::FromGraphSource => {
                    let sources: Vec<String> =
                        a.param_sources.iter().map(|(p, _)| md_code(p)).collect();
                    if sources.is_empty() {
                        "payload from the instantiating graph's `params from`".to_string()
                    } else {
                        format!(
                            "payload from {} (key {})",
                            sources.join(", "),
                            md_code(&n.name)
                        )
                    }
                }
                ParamInit::Load { path, key: None } => format!("payload from {}", md_code(path)),
                ParamInit::Load { path, key: Some(k) } => {
                    format!("payload from {} (key {})", md_code(path), md_code(k))
                }
                ParamInit::Literal(v) => format!("literal values ({} numbers)", v.len()),
            },
        ),
        NodeOrigin::Op(op) => ("node", format!("op {}", md_code(op.name()))),
        NodeOrigin::Block(b) => (
            "node",
            format!(
                "instance of block {}",
                md_code(&b.name(db).clone().unwrap_or_default())
            ),
        ),
        NodeOrigin::Repeat(b, times) => (
            "node",
            format!(
                "{times} chained instances of block {}",
                md_code(&b.name(db).clone().unwrap_or_default())
            ),
        ),
    };
    let mut s = format!("```tl\n{what} {}: {ty}\n```\n\n{origin}", n.name);
    if let NodeOrigin::Op(op) = &n.origin {
        let _ = write!(s, "\n\nshape rule: {}", op.info().shape_rule);
    }
    if let Some(t) = &n.tolerance {
        let _ = write!(s, "\n\nwithin tolerance {}", md_code(t));
    }
    if a.outputs.iter().any(|(_, i)| *i == index) {
        s.push_str("\n\noutput of the graph");
    }
    if let Some(doc) = &n.doc {
        let _ = write!(s, "\n\n---\n{}", doc.trim());
    }
    Some(s)
}

fn def_markdown(
    db: &dyn Db,
    workspace: &[SourceFile],
    item: ItemSource<'_>,
    kind: DefKind,
) -> Option<String> {
    let parsed = &parse_item(db, item).item;
    let mut s = match parsed {
        Item::Graph(g) => {
            let sig = graph_signature(db, item).as_ref()?;
            let ports = |ps: &[tl_analysis::graphs::Port]| {
                ps.iter()
                    .map(|p| format!("{}: {}", p.name, p.ty))
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            let mut s = format!(
                "```tl\n{} {}({}) -> ({})\n```",
                kind.describe(),
                g.name.text,
                ports(&sig.inputs),
                ports(&sig.outputs)
            );
            if let Some(t) = &sig.tolerance {
                let _ = write!(s, "\n\nwithin tolerance {}", md_code(t));
            }
            if let Some(a) = analyze_graph(db, item) {
                let ops = a
                    .nodes
                    .iter()
                    .filter(|n| matches!(n.origin, NodeOrigin::Op(_)) && !n.name.contains('#'))
                    .count();
                let params = a
                    .nodes
                    .iter()
                    .filter(|n| matches!(n.origin, NodeOrigin::Param { .. }))
                    .count();
                let _ = write!(s, "\n\n{ops} op nodes, {params} params");
            }
            s
        }
        Item::Contract(c) => contract_markdown(db, item, &c.name.text)?,
        Item::Tolerance(t) => {
            let bounds: Vec<String> = t
                .components
                .iter()
                .map(|c| {
                    let what = match c.kind.text.as_str() {
                        "abs" => "absolute error",
                        "rel" => "relative error",
                        "ulp" => "units in the last place",
                        _ => "unknown bound",
                    };
                    format!("- {}: {what} at most {}", c.kind.text, c.value.text)
                })
                .collect();
            format!(
                "```tl\ntolerance {}\n```\n\n{}",
                t.name.text,
                bounds.join("\n")
            )
        }
        Item::Assume(a) => {
            let kind_doc = ASSUMPTION_KINDS
                .iter()
                .find(|(k, _)| *k == a.kind.text)
                .map(|(_, d)| format!(" ({d})"))
                .unwrap_or_default();
            let dependents = assumption_dependents(db, workspace, item);
            let mut s = format!(
                "```tl\nassume {} {}\n```\n\n{}{kind_doc}\n\n> {}\n\n",
                a.kind.text,
                a.name.text,
                md_code(&a.kind.text),
                a.justification.value
            );
            if dependents.is_empty() {
                s.push_str("No contract rests on it.");
            } else {
                let names: Vec<String> = dependents.iter().map(|d| md_code(d)).collect();
                let _ = write!(s, "Contracts resting on it: {}", names.join(", "));
            }
            s
        }
        Item::Import(i) => {
            let format = i.format.as_ref().map_or("tl", |f| f.text.as_str());
            format!(
                "```tl\nimport {}\n```\n\n{format} import of {}",
                i.alias.as_ref().map_or("", |a| a.text.as_str()),
                md_code(&i.path.value)
            )
        }
        Item::Error(_) => return None,
    };
    let doc = match parsed {
        Item::Graph(g) => g.doc.as_ref(),
        Item::Contract(c) => c.doc.as_ref(),
        Item::Tolerance(t) => t.doc.as_ref(),
        Item::Assume(a) => a.doc.as_ref(),
        Item::Import(i) => i.doc.as_ref(),
        Item::Error(_) => None,
    };
    if let Some(doc) = doc {
        let _ = write!(s, "\n\n---\n{}", doc.trim());
    }
    Some(s)
}

/// The names of contracts in `workspace` that rest on the assumption `item`.
pub(crate) fn assumption_dependents(
    db: &dyn Db,
    workspace: &[SourceFile],
    item: ItemSource<'_>,
) -> Vec<String> {
    let mut out = Vec::new();
    let mut files: Vec<SourceFile> = workspace.to_vec();
    if !files.contains(&item.file(db)) {
        files.push(item.file(db));
    }
    for f in files {
        for &c in file_items(db, f) {
            if c.keyword(db) != ItemKeyword::Contract {
                continue;
            }
            if analyze_contract(db, c)
                .as_ref()
                .is_some_and(|a| a.rests_on.contains(&item))
            {
                out.push(c.name(db).clone().unwrap_or_default());
            }
        }
    }
    out
}

fn contract_markdown(db: &dyn Db, item: ItemSource<'_>, name: &str) -> Option<String> {
    let a = analyze_contract(db, item).as_ref()?;
    let target = match a.target {
        Some(Target::Graph(g)) | Some(Target::Onnx(g)) => g.name(db).clone().unwrap_or_default(),
        None => "?".into(),
    };
    let kind = a
        .claim
        .as_ref()
        .map_or("unknown (no valid claim)", Claim::kind);
    let mut s = format!("```tl\ncontract {name} on {target}\n```\n\nclaim kind: **{kind}**");
    if a.methods.is_empty() {
        s.push_str("\n\ncheck methods: none (status **uncovered**)");
    } else {
        let methods: Vec<String> = a.methods.iter().map(|m| md_code(&m.to_string())).collect();
        let _ = write!(s, "\n\ncheck methods: {}", methods.join(" then "));
        if a.methods
            .iter()
            .all(|m| matches!(m, Method::Sampling { .. }))
        {
            s.push_str(" (sampling alone gives status **tested**, never verified)");
        }
    }
    match a.tolerance {
        Some(t) => {
            let bounds = match &parse_item(db, t).item {
                Item::Tolerance(tol) => tol
                    .components
                    .iter()
                    .map(|c| format!("{} {}", c.kind.text, c.value.text))
                    .collect::<Vec<_>>()
                    .join(", "),
                _ => String::new(),
            };
            let _ = write!(
                s,
                "\n\ntolerance: {} ({bounds})",
                md_code(&t.name(db).clone().unwrap_or_default())
            );
        }
        None => s.push_str("\n\ntolerance: none"),
    }
    if a.rests_on.is_empty() {
        s.push_str("\n\nassumptions: none");
    } else {
        let names: Vec<String> = a
            .rests_on
            .iter()
            .map(|i| md_code(&i.name(db).clone().unwrap_or_default()))
            .collect();
        let _ = write!(s, "\n\nassumptions: {}", names.join(", "));
    }
    if let Some(e) = &a.execute_on {
        let _ = write!(s, "\n\nexecutes on {}", md_code(e));
    }
    Some(s)
}

fn method_markdown(name: &str) -> Option<String> {
    let (n, kinds, doc) = METHODS.iter().find(|(n, _, _)| *n == name)?;
    Some(format!(
        "check method {}: {doc}\n\nestablishes: {}",
        md_code(n),
        kinds.join(", ")
    ))
}
