//! Completion: what may be written at the cursor, read from the tokens before it.
//!
//! The context comes from the last tokens before the cursor within the enclosing item (the item
//! may not parse yet: the user is typing), and the candidates from the analysis of what does parse:
//! ops and their attributes from the op table, names in scope, tolerances, assumptions, graphs,
//! check methods, and files next to the spec inside path strings.

use std::path::Path;

use tl_ir::{AttrKind, OpInfo, OPS};
use tl_syntax::lexer::{Spanned, Tok};
use tl_syntax::TextRange;

use super::hover::op_markdown;
use super::item_before;
use super::text::{is_ident, tokens_before};
use tl_analysis::contracts::{analyze_contract, Target, METHODS};
use tl_analysis::db::{Db, SourceFile};
use tl_analysis::graphs::{analyze_graph, graph_signature, NodeOrigin};
use tl_analysis::items::{DefKind, ItemSource};
use tl_analysis::scope::visible_names;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum CompletionKind {
    Op,
    Attribute,
    Block,
    Input,
    Param,
    Node,
    Graph,
    Tolerance,
    Assumption,
    Contract,
    Method,
    /// An input set (`linf_ball`) or claim form (`argmax(y) == k`).
    Function,
    Keyword,
    File,
    Folder,
}

/// One completion candidate. `insert_text` is an LSP-style snippet when `is_snippet`
/// (`${1:x}` placeholders); `edit_range` is set when the text to replace is not a plain word
/// (inside a path string).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CompletionItem {
    pub label: String,
    pub kind: CompletionKind,
    pub detail: Option<String>,
    pub documentation: Option<String>,
    pub insert_text: Option<String>,
    pub is_snippet: bool,
    pub edit_range: Option<TextRange>,
}

impl CompletionItem {
    fn new(label: impl Into<String>, kind: CompletionKind) -> Self {
        CompletionItem {
            label: label.into(),
            kind,
            detail: None,
            documentation: None,
            insert_text: None,
            is_snippet: false,
            edit_range: None,
        }
    }
    fn detail(mut self, d: impl Into<String>) -> Self {
        self.detail = Some(d.into());
        self
    }
    fn doc(mut self, d: impl Into<String>) -> Self {
        self.documentation = Some(d.into());
        self
    }
    fn snippet(mut self, s: impl Into<String>) -> Self {
        self.insert_text = Some(s.into());
        self.is_snippet = true;
        self
    }
}

/// The candidates at `offset` in `file`.
pub fn completions(db: &dyn Db, file: SourceFile, offset: u32) -> Vec<CompletionItem> {
    let Some(item) = item_before(db, file, offset) else {
        return item_keywords();
    };
    let text = item.text(db);
    let rel = (offset - item.offset(db)) as usize;
    if rel > text.len() {
        // After an item, on a new line: a flat item (tolerance, assumption, import) is complete.
        let gap = super::file_text(db, file)
            .get(item.offset(db) as usize + text.len()..offset as usize)
            .unwrap_or("");
        let flat = !matches!(
            item.keyword(db),
            tl_syntax::ItemKeyword::Graph
                | tl_syntax::ItemKeyword::Block
                | tl_syntax::ItemKeyword::Contract
        );
        if flat && gap.contains('\n') {
            return item_keywords();
        }
    }
    let mut toks = tokens_before(text, rel);
    // A word being typed is the filter, not the context.
    if toks
        .last()
        .is_some_and(|t| matches!(t.tok, Tok::Ident(_)) && t.span.end as usize == rel)
    {
        toks.pop();
    }
    // Only the item keyword (or nothing) so far: the user is starting an item.
    if toks.len() <= 1 && !matches!(toks.last().map(|t| t.tok), Some(Tok::Str(_))) {
        return if toks.is_empty() {
            item_keywords()
        } else {
            Vec::new()
        };
    }
    if let Some(items) = string_completion(db, file, item, text, rel, &toks) {
        return items;
    }
    let last = toks.last().map(|t| t.tok);
    match last {
        Some(Tok::KwWithin) => return defs_of(db, file, DefKind::Tolerance),
        Some(Tok::KwBy) | Some(Tok::KwThen) => return methods(),
        _ => {}
    }
    if after_rests_on(&toks) {
        return defs_of(db, file, DefKind::Assumption);
    }
    if let [.., a, b, c] = toks.as_slice() {
        if a.tok == Tok::KwContract && matches!(b.tok, Tok::Ident(_)) && c.tok == Tok::KwOn {
            return defs_of(db, file, DefKind::Graph);
        }
    }
    let depth: i32 = toks
        .iter()
        .map(|t| match t.tok {
            Tok::LBrace => 1,
            Tok::RBrace => -1,
            _ => 0,
        })
        .sum();
    if depth <= 0 {
        // Still in the header, or after the item's closing brace (the next item starts here).
        let closed = toks.iter().any(|t| t.tok == Tok::LBrace);
        return if closed { item_keywords() } else { Vec::new() };
    }
    match item.keyword(db) {
        tl_syntax::ItemKeyword::Graph | tl_syntax::ItemKeyword::Block => {
            graph_completion(db, file, item, rel as u32, &toks)
        }
        tl_syntax::ItemKeyword::Contract => contract_completion(db, item, &toks),
        _ => Vec::new(),
    }
}

fn item_keywords() -> Vec<CompletionItem> {
    [
        ("graph", "graph ${1:name}(${2:x}: ${3:f32}[${4:B}, ${5:N}]) -> ${6:y}: ${7:f32}[${8:B}, ${9:M}] {\n  $0\n}"),
        ("block", "block ${1:name}(${2:x}: ${3:f32}[${4:N}]) -> ${5:y}: ${6:f32}[${7:N}] {\n  $0\n}"),
        ("contract", "contract ${1:name} on ${2:graph} {\n  given ${3:x} in ${4:box(-1.0, 1.0)}\n  ensure $0\n  check by ${5:crown}\n}"),
        ("tolerance", "tolerance ${1:name} = abs ${2:1e-5}, rel ${3:1e-4}"),
        ("assume", "assume ${1|kernel,solver,environment,float,certificate|} ${2:name}: \"${3:why it holds}\""),
        ("import", "import \"${1:other.tl}\""),
    ]
    .into_iter()
    .map(|(k, s)| CompletionItem::new(k, CompletionKind::Keyword).snippet(s))
    .collect()
}

fn defs_of(db: &dyn Db, file: SourceFile, kind: DefKind) -> Vec<CompletionItem> {
    let ck = match kind {
        DefKind::Tolerance => CompletionKind::Tolerance,
        DefKind::Assumption => CompletionKind::Assumption,
        DefKind::Graph => CompletionKind::Graph,
        DefKind::Block => CompletionKind::Block,
        DefKind::Contract => CompletionKind::Contract,
        DefKind::Import => CompletionKind::Graph,
    };
    let mut out: Vec<CompletionItem> = visible_names(db, file)
        .into_iter()
        .filter(|(_, d)| d.kind == kind)
        .map(|(name, d)| {
            let detail = match kind {
                DefKind::Tolerance | DefKind::Assumption => d.item.text(db).lines().find(|l| {
                    let l = l.trim_start();
                    l.starts_with("tolerance") || l.starts_with("assume")
                }),
                _ => None,
            };
            let mut c = CompletionItem::new(name, ck);
            if let Some(line) = detail {
                c = c.detail(line.trim());
            } else {
                c = c.detail(kind.describe());
            }
            c
        })
        .collect();
    out.sort_by(|a, b| a.label.cmp(&b.label));
    out
}

fn methods() -> Vec<CompletionItem> {
    METHODS
        .iter()
        .map(|(name, kinds, doc)| {
            let c = CompletionItem::new(*name, CompletionKind::Method)
                .detail(format!("establishes {}", kinds.join(", ")))
                .doc(*doc);
            match *name {
                "bab" => c.snippet("bab(timeout = ${1:60s})"),
                "sampling" => c.snippet("sampling(${1:1000}, seed = ${2:0})"),
                "certificate" => c.snippet("certificate(\"${1:cert.json}\")"),
                _ => c,
            }
        })
        .collect()
}

/// `rests on`, `rests on a,`, `rests on a, b,` ...
fn after_rests_on(toks: &[Spanned<'_>]) -> bool {
    let mut i = toks.len();
    let mut expect_comma = false;
    while i > 0 {
        let t = &toks[i - 1];
        match t.tok {
            Tok::KwOn => return i >= 2 && toks[i - 2].tok == Tok::KwRests && !expect_comma,
            Tok::Comma if !expect_comma => expect_comma = true,
            Tok::Ident(_) if expect_comma => expect_comma = false,
            _ => return false,
        }
        i -= 1;
    }
    false
}

/// Inside `"..."`: files next to the spec, filtered by what the string is for.
fn string_completion(
    db: &dyn Db,
    file: SourceFile,
    item: ItemSource<'_>,
    text: &str,
    rel: usize,
    toks: &[Spanned<'_>],
) -> Option<Vec<CompletionItem>> {
    let last = toks.last()?;
    let Tok::Str(raw) = last.tok else {
        return None;
    };
    let closed = raw.len() >= 2 && raw.ends_with('"') && !raw.ends_with("\\\"");
    if closed || last.span.end as usize != rel {
        return None;
    }
    let before = &toks[..toks.len() - 1];
    let extensions: &[&str] = match before {
        [.., a, b] if a.tok == Tok::KwImport && is_ident(b, "onnx") => &["onnx"],
        [.., a] if a.tok == Tok::KwImport => &["tl"],
        [.., a, b] if a.tok == Tok::KwParams && b.tok == Tok::KwFrom => &["safetensors", "npy"],
        [.., a, b] if b.tok == Tok::LParen => match a.tok {
            Tok::Ident("load") => &["npy", "safetensors"],
            Tok::Ident("dataset") => &["npy"],
            Tok::Ident("vnnlib") => &["vnnlib"],
            Tok::Ident("certificate") => &[],
            _ => return Some(Vec::new()),
        },
        _ => return Some(Vec::new()),
    };
    let typed = &text[last.span.start as usize + 1..rel];
    let (dir_part, partial) = match typed.rfind('/') {
        Some(i) => (&typed[..=i], &typed[i + 1..]),
        None => ("", typed),
    };
    let base = file
        .path(db)
        .parent()
        .unwrap_or(Path::new("/"))
        .join(dir_part);
    let start = item.offset(db) + (rel - partial.len()) as u32;
    let edit_range = TextRange::new(start, item.offset(db) + rel as u32);
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(&base) else {
        return Some(out);
    };
    for entry in entries.flatten().take(2000) {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') || !name.starts_with(partial) || name.contains('"') {
            continue;
        }
        let is_dir = entry.file_type().is_ok_and(|t| t.is_dir());
        let ext_ok = extensions.is_empty()
            || extensions
                .iter()
                .any(|e| Path::new(&name).extension().is_some_and(|x| x == *e));
        if is_dir {
            let mut c = CompletionItem::new(format!("{name}/"), CompletionKind::Folder);
            c.edit_range = Some(edit_range);
            out.push(c);
        } else if ext_ok {
            let mut c = CompletionItem::new(name, CompletionKind::File);
            c.edit_range = Some(edit_range);
            out.push(c);
        }
    }
    out.sort_by(|a, b| a.label.cmp(&b.label));
    Some(out)
}

/// An op's call as a snippet: required inputs, then required attributes.
fn op_snippet(info: &OpInfo) -> String {
    let mut parts = Vec::new();
    let mut n = 1;
    for input in info.inputs.iter().filter(|i| !i.optional) {
        parts.push(format!("${{{n}:{}}}", input.name));
        n += 1;
    }
    for a in info.attrs.iter().filter(|a| a.default.is_none()) {
        parts.push(format!(
            "{} = {}",
            a.name,
            attr_placeholder(n, a.kind, a.name)
        ));
        n += 1;
    }
    format!("{}({})", info.name, parts.join(", "))
}

fn attr_placeholder(n: usize, kind: AttrKind, name: &str) -> String {
    match kind {
        AttrKind::Choice(options) => {
            let quoted: Vec<String> = options.iter().map(|o| format!("\"{o}\"")).collect();
            format!("${{{n}|{}|}}", quoted.join(","))
        }
        AttrKind::Bool => format!("${{{n}|true,false|}}"),
        _ => format!("${{{n}:{name}}}"),
    }
}

fn op_items() -> Vec<CompletionItem> {
    OPS.iter()
        .filter(|o| o.name != "constant")
        .map(|o| {
            CompletionItem::new(o.name, CompletionKind::Op)
                .detail(o.signature())
                .doc(op_markdown(o))
                .snippet(op_snippet(o))
        })
        .collect()
}

/// The call whose argument list the cursor is in: its callee path text and the tokens after `(`.
pub(crate) fn enclosing_call<'t, 'a>(
    toks: &'t [Spanned<'a>],
) -> Option<(String, &'t [Spanned<'a>])> {
    let mut depth = 0i32;
    for i in (0..toks.len()).rev() {
        match toks[i].tok {
            Tok::RParen | Tok::RBracket => depth += 1,
            Tok::LBracket => depth -= 1,
            Tok::LParen if depth == 0 => {
                let mut j = i;
                let mut callee = Vec::new();
                while j > 0 {
                    match toks[j - 1].tok {
                        Tok::Ident(s) => callee.push(s),
                        Tok::Int(s) => callee.push(s),
                        Tok::Dot => {}
                        _ => break,
                    }
                    j -= 1;
                }
                if callee.is_empty() {
                    return None;
                }
                callee.reverse();
                return Some((callee.join("."), &toks[i + 1..]));
            }
            Tok::LParen => depth -= 1,
            Tok::LBrace | Tok::RBrace => return None,
            _ => {}
        }
        if depth < 0 {
            return None;
        }
    }
    None
}

fn graph_completion(
    db: &dyn Db,
    file: SourceFile,
    item: ItemSource<'_>,
    rel: u32,
    toks: &[Spanned<'_>],
) -> Vec<CompletionItem> {
    let nodes_before = || -> Vec<CompletionItem> {
        let Some(a) = analyze_graph(db, item) else {
            return Vec::new();
        };
        a.nodes
            .iter()
            .filter(|n| !n.name.contains('#') && n.span.end < rel)
            .map(|n| {
                let kind = match n.origin {
                    NodeOrigin::Input => CompletionKind::Input,
                    NodeOrigin::Param { .. } => CompletionKind::Param,
                    _ => CompletionKind::Node,
                };
                let mut c = CompletionItem::new(n.name.clone(), kind);
                if let Some(t) = &n.ty {
                    c = c.detail(t.to_string());
                }
                c
            })
            .collect()
    };
    if let Some((callee, args)) = enclosing_call(toks) {
        // After `name =` inside the parentheses a value is expected, not a name.
        if matches!(args, [.., n, e] if matches!(n.tok, Tok::Ident(_)) && e.tok == Tok::Eq) {
            return Vec::new();
        }
        let mut out = nodes_before();
        if let Some(info) = tl_ir::lookup(&callee) {
            let given: Vec<&str> = args
                .windows(2)
                .filter_map(|w| match (w[0].tok, w[1].tok) {
                    (Tok::Ident(s), Tok::Eq) => Some(s),
                    _ => None,
                })
                .collect();
            for a in info.attrs.iter().filter(|a| !given.contains(&a.name)) {
                let default = a
                    .default
                    .map(|d| format!(" (default {d})"))
                    .unwrap_or_default();
                out.push(
                    CompletionItem::new(a.name, CompletionKind::Attribute)
                        .detail(format!("{}{default}", a.kind))
                        .doc(a.doc)
                        .snippet(format!(
                            "{} = {}",
                            a.name,
                            attr_placeholder(1, a.kind, a.name)
                        )),
                );
            }
        } else if callee == "repeat" && args.iter().all(|t| t.tok != Tok::Comma) {
            return defs_of(db, file, DefKind::Block);
        }
        return out;
    }
    // `name = |`: an op or block call goes here.
    if let [.., before, name, eq] = toks {
        if eq.tok == Tok::Eq
            && matches!(name.tok, Tok::Ident(_))
            && !matches!(before.tok, Tok::Colon | Tok::Comma | Tok::LParen)
        {
            let mut out = op_items();
            out.extend(defs_of(db, file, DefKind::Block).into_iter().map(|mut c| {
                c.insert_text = Some(format!("{}(${{1:x}})", c.label));
                c.is_snippet = true;
                c
            }));
            out.push(
                CompletionItem::new("repeat", CompletionKind::Function)
                    .detail("repeat(block, x, times = N)")
                    .doc("N chained instances of a block with one input and one output of the same type")
                    .snippet("repeat(${1:block}, ${2:x}, times = ${3:2})"),
            );
            return out;
        }
    }
    let mut out = nodes_before();
    out.push(
        CompletionItem::new("param", CompletionKind::Keyword)
            .snippet("param ${1:name}: ${2:f32}[${3:N}]"),
    );
    out.push(
        CompletionItem::new("params from", CompletionKind::Keyword)
            .snippet("params from \"${1:weights.safetensors}\""),
    );
    out
}

fn contract_completion(
    db: &dyn Db,
    item: ItemSource<'_>,
    toks: &[Spanned<'_>],
) -> Vec<CompletionItem> {
    let target = analyze_contract(db, item).as_ref().and_then(|a| a.target);
    let graph = match target {
        Some(Target::Graph(g)) => Some(g),
        _ => None,
    };
    // The clause the cursor is in: the last clause keyword before it.
    let clause = toks.iter().rev().find_map(|t| match t.tok {
        Tok::KwGiven | Tok::KwEnsure | Tok::KwCheck | Tok::KwRests | Tok::KwExecute => Some(t.tok),
        Tok::LBrace => Some(Tok::LBrace),
        _ => None,
    });
    let last = toks.last().map(|t| t.tok);
    match (clause, last) {
        (Some(Tok::KwGiven), Some(Tok::KwGiven)) => graph
            .and_then(|g| graph_signature(db, g).as_ref())
            .map(|sig| {
                sig.inputs
                    .iter()
                    .map(|p| {
                        CompletionItem::new(p.name.clone(), CompletionKind::Input)
                            .detail(p.ty.to_string())
                    })
                    .collect()
            })
            .unwrap_or_default(),
        (Some(Tok::KwGiven), Some(Tok::KwIn)) => [
            (
                "linf_ball",
                "linf_ball(${1:load(\"x.npy\")}, eps = ${2:0.01})",
                "every input within eps of a center (L-infinity)",
            ),
            (
                "box",
                "box(${1:-1.0}, ${2:1.0})",
                "every input between lower and upper, elementwise",
            ),
            (
                "dataset",
                "dataset(\"${1:inputs.npy}\")",
                "the rows of a file, as they are",
            ),
        ]
        .into_iter()
        .map(|(l, s, d)| {
            CompletionItem::new(l, CompletionKind::Function)
                .doc(d)
                .snippet(s)
        })
        .collect(),
        (Some(Tok::KwExecute), Some(Tok::KwOn)) => ["cpu", "cuda"]
            .into_iter()
            .map(|t| CompletionItem::new(t, CompletionKind::Keyword))
            .collect(),
        (Some(Tok::KwEnsure), _) => {
            let mut out: Vec<CompletionItem> = graph
                .and_then(|g| analyze_graph(db, g).as_ref())
                .map(|a| {
                    a.nodes
                        .iter()
                        .filter(|n| !n.name.contains('#'))
                        .map(|n| {
                            let mut c = CompletionItem::new(n.name.clone(), CompletionKind::Node);
                            if let Some(t) = &n.ty {
                                c = c.detail(t.to_string());
                            }
                            c
                        })
                        .collect()
                })
                .unwrap_or_default();
            if last == Some(Tok::KwEnsure) {
                for (l, s, d) in [
                    (
                        "argmax",
                        "argmax(${1:logits}) == ${2:0}",
                        "robustness: the predicted class stays k",
                    ),
                    (
                        "all",
                        "all(${1:y} >= ${2:0})",
                        "output range: every element satisfies the bound",
                    ),
                    (
                        "compiled ~= reference",
                        "compiled ~= reference within ${1:tolerance}",
                        "equivalence of the compiled executor and the reference",
                    ),
                    (
                        "gradient ~= finite_difference",
                        "gradient ~= finite_difference within ${1:tolerance}",
                        "autograd agrees with central differences",
                    ),
                    (
                        "masked_weights_zero",
                        "masked_weights_zero(${1:node})",
                        "masked attention weights are exactly 0",
                    ),
                    (
                        "ignored_labels_zero",
                        "ignored_labels_zero(${1:node})",
                        "ignored labels contribute zero loss",
                    ),
                    (
                        "batch_invariant",
                        "batch_invariant(${1:y})",
                        "row i of the batched output equals the graph on row i alone",
                    ),
                    (
                        "indices_in_vocab",
                        "indices_in_vocab(${1:node})",
                        "every embedding index lies in 0..vocab over the input set",
                    ),
                ] {
                    out.push(
                        CompletionItem::new(l, CompletionKind::Function)
                            .doc(d)
                            .snippet(s),
                    );
                }
            }
            out
        }
        (Some(Tok::LBrace), Some(Tok::LBrace))
        | (
            Some(_),
            Some(
                Tok::RParen
                | Tok::Ident(_)
                | Tok::Int(_)
                | Tok::Float(_)
                | Tok::Duration(_)
                | Tok::Str(_),
            ),
        ) => {
            let card = format!(
                "card ${{1|{}|}}",
                tl_analysis::ledger::bugzoo_cards().join(",")
            );
            [
                ("given", "given ${1:x} in ${2:box(-1.0, 1.0)}"),
                ("ensure", "ensure ${1:argmax(logits) == 0}"),
                ("check by", "check by ${1:crown}"),
                ("rests on", "rests on ${1:assumption}"),
                ("execute on", "execute on ${1|cpu,cuda|}"),
                ("expect falsified", "expect falsified"),
                ("card", card.as_str()),
            ]
            .into_iter()
            .map(|(l, s)| CompletionItem::new(l, CompletionKind::Keyword).snippet(s))
            .collect()
        }
        _ => Vec::new(),
    }
}
