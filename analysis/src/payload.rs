//! Payload checks: every declared param has weights, of the declared shape and dtype.
//!
//! Only file headers are read, and by the loader, not here (`vfs::load_external`): a changed
//! weight file is a changed input, which re-runs exactly the checks that read it.

use std::path::Path;

use tl_syntax::TextRange;

use crate::db::{Db, ExternalFile};
use crate::diagnostics::{Diagnostic, Span};
use crate::graphs::{analyze_graph, NodeOrigin, ParamInit};
use crate::items::ItemSource;
use crate::scope::relative_path;
use crate::vfs::ExternalContent;

/// One tensor a weight file declares: name, dtype name, shape.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct HeaderEntry {
    pub name: String,
    pub dtype: String,
    pub shape: Vec<u64>,
}

impl From<tl_kernels::payload::TensorInfo> for HeaderEntry {
    fn from(i: tl_kernels::payload::TensorInfo) -> HeaderEntry {
        HeaderEntry {
            name: i.name,
            dtype: i.dtype.name().to_string(),
            shape: i.shape.iter().map(|&d| d as u64).collect(),
        }
    }
}

/// The tensors a weight file declares, or the loader's coded error: what the loader read into
/// the file's input (`vfs::load_external`), an ONNX model's initializers included.
#[salsa::tracked(returns(ref))]
pub fn payload_header(db: &dyn Db, file: ExternalFile) -> Result<Vec<HeaderEntry>, (u16, String)> {
    let path = file.path(db);
    match file.content(db) {
        ExternalContent::NotLoaded => {
            Err((301, format!("{}: file not loaded yet", path.display())))
        }
        ExternalContent::Missing => Err((301, format!("{}: file not found", path.display()))),
        ExternalContent::Onnx(Ok(model)) => Ok(model
            .headers
            .iter()
            .map(|(name, h)| HeaderEntry {
                name: name.clone(),
                dtype: h.dtype.name().to_string(),
                shape: h.shape.iter().map(|&d| d as u64).collect(),
            })
            .collect()),
        ExternalContent::Onnx(Err(e)) => Err(e.clone()),
        ExternalContent::Weights(r) => r.clone(),
    }
}

/// Payload diagnostics of one graph or block (blocks are checked through the graphs that
/// instantiate them, whose sources hold the block's params under the instance prefix).
#[salsa::tracked(returns(ref))]
pub fn check_payload<'db>(db: &'db dyn Db, item: ItemSource<'db>) -> Vec<Diagnostic<'db>> {
    let mut out = Vec::new();
    let Some(analysis) = analyze_graph(db, item) else {
        return out;
    };
    let file = item.file(db);
    let sources: Vec<(ExternalFile, TextRange)> = analysis
        .param_sources
        .iter()
        .map(|(p, span)| (db.external(&relative_path(db, file, p)), *span))
        .collect();
    let mut source_ok = Vec::new();
    for (&(ext, span), (written, _)) in sources.iter().zip(&analysis.param_sources) {
        match payload_header(db, ext) {
            Ok(_) => source_ok.push(ext),
            Err((code, msg)) => out.push(
                Diagnostic::error(
                    *code,
                    Span::Item(item, span),
                    format!(
                        "cannot read weights: {}",
                        msg.replace(&ext.path(db).display().to_string(), written)
                    ),
                )
                .with_help("paths are relative to the spec file"),
            ),
        }
    }
    let mut params: Vec<Param> = Vec::new();
    collect_params(db, item, "", &mut params, 0);
    for p in params {
        let span = Span::Item(p.item, p.span);
        let Some(declared) = p.declared else { continue };
        let (entry, origin) = match &p.init {
            ParamInit::Literal(_) => continue,
            ParamInit::Load { path, key } => {
                // A block's own `load(...)` is relative to the block's file.
                let ext = db.external(&relative_path(db, p.item.file(db), path));
                match payload_header(db, ext) {
                    Err((code, msg)) if p.prefix.is_empty() => {
                        let msg = msg.replace(&ext.path(db).display().to_string(), path);
                        out.push(Diagnostic::error(
                            *code,
                            span,
                            format!("cannot read weights for `{}`: {msg}", p.name),
                        ));
                        continue;
                    }
                    Err(_) => continue, // reported in the block itself
                    Ok(entries) => {
                        let wanted = key.clone().unwrap_or_else(|| p.name.clone());
                        let found = if entries.len() == 1 && key.is_none() {
                            entries.first()
                        } else {
                            entries.iter().find(|e| e.name == wanted)
                        };
                        match found {
                            Some(e) => (e.clone(), path.clone()),
                            None => {
                                if p.prefix.is_empty() {
                                    out.push(missing(span, &wanted, path, entries));
                                }
                                continue;
                            }
                        }
                    }
                }
            }
            ParamInit::FromGraphSource => {
                if !p.prefix.is_empty() || !sources.is_empty() {
                    let key = format!("{}{}", p.prefix, p.name);
                    let hit = source_ok.iter().find_map(|&ext| {
                        payload_header(db, ext)
                            .as_ref()
                            .ok()?
                            .iter()
                            .find(|e| e.name == key)
                            .map(|e| (e.clone(), ext.path(db).display().to_string()))
                    });
                    match hit {
                        Some(h) => h,
                        None if source_ok.len() == sources.len() && !sources.is_empty() => {
                            let shown = sources
                                .iter()
                                .map(|(e, _)| {
                                    e.path(db)
                                        .file_name()
                                        .map(|n| n.to_string_lossy().into_owned())
                                        .unwrap_or_default()
                                })
                                .collect::<Vec<_>>()
                                .join(", ");
                            let at = if p.prefix.is_empty() {
                                span
                            } else {
                                Span::Item(item, p.instance_span)
                            };
                            let names: Vec<String> = source_ok
                                .iter()
                                .filter_map(|&ext| payload_header(db, ext).as_ref().ok())
                                .flatten()
                                .map(|e| e.name.clone())
                                .collect();
                            let help = match crate::scope::suggest(&key, names.iter().map(String::as_str)) {
                                Some(h) => format!("did you mean `{h}`?"),
                                None => "the payload is keyed by the param's dotted name (block params by instance name + param name)".into(),
                            };
                            out.push(
                                Diagnostic::error(392, at, format!("no tensor `{key}` in {shown}"))
                                    .with_help(help),
                            );
                            continue;
                        }
                        None => continue,
                    }
                } else {
                    continue; // a block checked on its own: its graphs provide the payload
                }
            }
        };
        let shape = declared.1.as_known();
        let shape_ok = match &shape {
            Some(s) => *s == entry.shape,
            None => declared.1.rank() == entry.shape.len(),
        };
        let at = if p.prefix.is_empty() {
            span
        } else {
            Span::Item(item, p.instance_span)
        };
        if !shape_ok {
            out.push(
                Diagnostic::error(
                    390,
                    at,
                    format!(
                        "`{}{}` is declared {} but {} holds shape {:?}",
                        p.prefix, p.name, declared.1, origin, entry.shape
                    ),
                )
                .with_help("fix the declaration or re-export the weights"),
            );
        }
        if let Some(dt) = declared.0 {
            if dt.name() != entry.dtype {
                out.push(
                    Diagnostic::error(
                        391,
                        at,
                        format!(
                            "`{}{}` is declared {} but {} stores {}",
                            p.prefix, p.name, dt, origin, entry.dtype
                        ),
                    )
                    .with_help(format!(
                        "declare it `{}{}` or convert the file",
                        entry.dtype, declared.1
                    )),
                );
            }
        }
    }
    out
}

fn missing<'db>(
    span: Span<'db>,
    wanted: &str,
    path: &str,
    entries: &[HeaderEntry],
) -> Diagnostic<'db> {
    let names: Vec<&str> = entries.iter().map(|e| e.name.as_str()).take(8).collect();
    let mut d = Diagnostic::error(392, span, format!("no tensor `{wanted}` in {path}"));
    if let Some(h) = crate::scope::suggest(wanted, names.iter().copied()) {
        d = d.with_help(format!(
            "did you mean `{h}`? (or pass `key = \"...\"` to load)"
        ));
    } else {
        d = d.with_note(format!("the file holds: {}", names.join(", ")));
    }
    d
}

struct Param<'db> {
    item: ItemSource<'db>,
    prefix: String,
    name: String,
    span: TextRange,
    /// The span of the block instance in the checked graph (for params of blocks).
    instance_span: TextRange,
    declared: Option<(Option<tl_ir::DType>, tl_ir::Shape)>,
    init: ParamInit,
}

/// The params of a graph and, with their instance prefixes, of the blocks it instantiates.
fn collect_params<'db>(
    db: &'db dyn Db,
    item: ItemSource<'db>,
    prefix: &str,
    out: &mut Vec<Param<'db>>,
    depth: usize,
) {
    let Some(analysis) = analyze_graph(db, item) else {
        return;
    };
    if depth > 32 {
        return;
    }
    for n in &analysis.nodes {
        match &n.origin {
            NodeOrigin::Param { init } => out.push(Param {
                item,
                prefix: prefix.to_string(),
                name: n.name.clone(),
                span: n.name_span,
                instance_span: n.name_span,
                declared: n.ty.as_ref().map(|t| (t.dtype, t.shape.clone())),
                init: init.clone(),
            }),
            NodeOrigin::Block(block) => {
                let start = out.len();
                collect_params(db, *block, &format!("{prefix}{}.", n.name), out, depth + 1);
                set_instance(out, start, n.name_span, depth);
            }
            NodeOrigin::Repeat(block, times) => {
                for k in 0..*times {
                    let start = out.len();
                    collect_params(
                        db,
                        *block,
                        &format!("{prefix}{}.{k}.", n.name),
                        out,
                        depth + 1,
                    );
                    set_instance(out, start, n.name_span, depth);
                }
            }
            _ => {}
        }
    }
}

/// Block params are reported at the outermost instance in the checked graph.
fn set_instance(out: &mut [Param<'_>], start: usize, span: TextRange, depth: usize) {
    if depth == 0 {
        for p in &mut out[start..] {
            p.instance_span = span;
        }
    }
}

/// Whether a path names a file tl can read weights from.
pub fn is_weight_file(path: &Path) -> bool {
    matches!(
        path.extension().and_then(|e| e.to_str()),
        Some("npy" | "safetensors" | "onnx")
    )
}

/// An ONNX model used as a weight file: its initializers, by name.
pub fn is_onnx_file(path: &Path) -> bool {
    path.extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("onnx"))
}
