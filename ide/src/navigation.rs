//! Go to definition, find references and rename.

use tl_syntax::TextRange;

use super::occurrences::{file_occurrences, occurrence_at, Occurrence, Symbol};
use super::text::{is_identifier, is_param_path};
use super::{file_text, FileEdit, SourceRange};
use tl_analysis::db::{Db, SourceFile};
use tl_analysis::graphs::{analyze_graph, NodeOrigin, ParamInit};
use tl_analysis::items::{file_definitions, name_span, DefKind};
use tl_analysis::scope::{import_target, ImportTarget};

/// Where the symbol under `offset` is defined (`None` for ops, attributes and methods, which live
/// in the op table rather than in a file).
pub fn definition(db: &dyn Db, file: SourceFile, offset: u32) -> Option<SourceRange> {
    let occ = occurrence_at(db, file, offset)?;
    definition_of(db, &occ.symbol)
}

fn definition_of(db: &dyn Db, symbol: &Symbol<'_>) -> Option<SourceRange> {
    match symbol {
        Symbol::Node { graph, index } => {
            let node = analyze_graph(db, *graph).as_ref()?.nodes.get(*index)?;
            Some(SourceRange {
                file: graph.file(db),
                range: node.name_span.shift(graph.offset(db)),
            })
        }
        Symbol::Def { item, .. } => {
            let span = name_span(db, *item).resolve(db);
            Some(SourceRange {
                file: span.file,
                range: span.range,
            })
        }
        Symbol::Op(_) | Symbol::Attr(..) | Symbol::Method(_) => None,
    }
}

/// Every occurrence of the symbol under `offset` in `workspace` (and in `file`), sorted by file
/// and position; the definition is included when `include_declaration`.
pub fn references(
    db: &dyn Db,
    workspace: &[SourceFile],
    file: SourceFile,
    offset: u32,
    include_declaration: bool,
) -> Vec<SourceRange> {
    let Some(occ) = occurrence_at(db, file, offset) else {
        return Vec::new();
    };
    symbol_occurrences(db, workspace, file, &occ.symbol)
        .into_iter()
        .filter(|(_, o)| include_declaration || !o.is_definition)
        .map(|(file, o)| SourceRange {
            file,
            range: o.range,
        })
        .collect()
}

fn symbol_occurrences<'db>(
    db: &'db dyn Db,
    workspace: &[SourceFile],
    file: SourceFile,
    symbol: &Symbol<'db>,
) -> Vec<(SourceFile, Occurrence<'db>)> {
    let mut files: Vec<SourceFile> = workspace.to_vec();
    for extra in [Some(file), definition_of(db, symbol).map(|d| d.file)]
        .into_iter()
        .flatten()
    {
        if !files.contains(&extra) {
            files.push(extra);
        }
    }
    let mut out = Vec::new();
    for f in files {
        for o in file_occurrences(db, f) {
            if &o.symbol == symbol {
                out.push((f, o));
            }
        }
    }
    out.sort_by(|a, b| (a.0.path(db), a.1.range.start).cmp(&(b.0.path(db), b.1.range.start)));
    out
}

/// Why a rename cannot be done.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RenameError(pub String);

impl std::fmt::Display for RenameError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// The range a rename at `offset` would replace, or why nothing there can be renamed.
pub fn prepare_rename(
    db: &dyn Db,
    file: SourceFile,
    offset: u32,
) -> Result<TextRange, RenameError> {
    let occ = occurrence_at(db, file, offset)
        .ok_or_else(|| RenameError("there is no name here that tl can rename".into()))?;
    renamable(db, &occ.symbol)?;
    Ok(edit_range(file_text(db, file), &occ))
}

/// Renames the symbol under `offset` everywhere in `workspace`, after checking the new name.
pub fn rename(
    db: &dyn Db,
    workspace: &[SourceFile],
    file: SourceFile,
    offset: u32,
    new_name: &str,
) -> Result<Vec<FileEdit>, RenameError> {
    let occ = occurrence_at(db, file, offset)
        .ok_or_else(|| RenameError("there is no name here that tl can rename".into()))?;
    let is_param = renamable(db, &occ.symbol)?;
    let valid = if is_param {
        is_param_path(new_name)
    } else {
        is_identifier(new_name)
    };
    if !valid {
        return Err(RenameError(format!(
            "`{new_name}` is not a valid name: use letters, digits and `_`, not starting with a digit{}, and no keyword",
            if is_param { " (dotted segments allowed)" } else { "" }
        )));
    }
    check_conflict(db, &occ.symbol, new_name)?;
    let mut edits = Vec::new();
    for (f, o) in symbol_occurrences(db, workspace, file, &occ.symbol) {
        edits.push(FileEdit {
            path: f.path(db).clone(),
            range: edit_range(file_text(db, f), &o),
            new_text: new_name.to_string(),
        });
    }
    Ok(edits)
}

/// Checks that a symbol can be renamed; returns whether it is a param (dotted names allowed).
fn renamable(db: &dyn Db, symbol: &Symbol<'_>) -> Result<bool, RenameError> {
    match symbol {
        Symbol::Op(op) => Err(RenameError(format!(
            "`{}` is an op from the op table and cannot be renamed",
            op.name()
        ))),
        Symbol::Attr(..) => Err(RenameError(
            "attribute names come from the op table and cannot be renamed".into(),
        )),
        Symbol::Method(m) => Err(RenameError(format!(
            "`{m}` is a check method and cannot be renamed"
        ))),
        Symbol::Node { graph, index } => {
            let node = analyze_graph(db, *graph)
                .as_ref()
                .and_then(|a| a.nodes.get(*index))
                .ok_or_else(|| RenameError("the graph has changed; try again".into()))?;
            match &node.origin {
                NodeOrigin::Param {
                    init: ParamInit::FromGraphSource,
                } => Err(RenameError(format!(
                    "param `{}` takes its payload from `params from` by this name; renaming it would load a different tensor",
                    node.name
                ))),
                NodeOrigin::Param { .. } => Ok(true),
                _ => Ok(false),
            }
        }
        Symbol::Def {
            item,
            kind: DefKind::Import,
        } => match import_target(db, *item) {
            Some(ImportTarget::Onnx(_)) => Ok(false),
            _ => Err(RenameError(
                "renaming a spec import's alias is not supported: rename the `as` name and its `alias.` prefixes by hand".into(),
            )),
        },
        Symbol::Def { .. } => Ok(false),
    }
}

fn check_conflict(db: &dyn Db, symbol: &Symbol<'_>, new_name: &str) -> Result<(), RenameError> {
    match symbol {
        Symbol::Node { graph, .. } => {
            let taken = analyze_graph(db, *graph)
                .as_ref()
                .is_some_and(|a| a.node(new_name).is_some());
            if taken {
                return Err(RenameError(format!(
                    "`{new_name}` is already defined in graph `{}`",
                    graph.name(db).clone().unwrap_or_default()
                )));
            }
        }
        Symbol::Def { item, .. } if file_definitions(db, item.file(db)).contains_key(new_name) => {
            return Err(RenameError(format!(
                "`{new_name}` is already defined in {}",
                item.file(db).path(db).display()
            )));
        }
        _ => {}
    }
    Ok(())
}

/// The part of an occurrence a rename replaces: for `ns.name` (a definition reached through an
/// import alias) only `name`.
fn edit_range(text: &str, occ: &Occurrence<'_>) -> TextRange {
    let r = occ.range;
    if let Symbol::Def { kind, .. } = occ.symbol {
        if kind != DefKind::Import {
            if let Some(slice) = text.get(r.start as usize..r.end as usize) {
                if let Some(dot) = slice.rfind('.') {
                    return TextRange::new(r.start + dot as u32 + 1, r.end);
                }
            }
        }
    }
    r
}
