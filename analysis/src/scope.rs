//! Imports and name lookup across files.

use std::path::{Path, PathBuf};

use tl_syntax::ast::{Import, Item};

use crate::db::{Db, ExternalFile, SourceFile};
use crate::diagnostics::{Diagnostic, Span};
use crate::items::{file_definitions, file_items, parse_item, Def, ItemSource};

/// What an import refers to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, salsa::SalsaValue)]
pub enum ImportTarget {
    Spec(SourceFile),
    Onnx(ExternalFile),
    /// A format tl does not know (reported once at the import).
    Unknown,
}

/// The path of a file referenced from `file`, relative to `file`'s directory.
pub fn relative_path(db: &dyn Db, file: SourceFile, reference: &str) -> PathBuf {
    let base = file.path(db).parent().unwrap_or(Path::new(""));
    crate::db::normalize(&base.join(reference))
}

/// The target of an import item.
#[salsa::tracked(returns(copy))]
pub fn import_target<'db>(db: &'db dyn Db, item: ItemSource<'db>) -> Option<ImportTarget> {
    let Item::Import(import) = &parse_item(db, item).item else {
        return None;
    };
    let path = relative_path(db, item.file(db), &import.path.value);
    Some(match import.format.as_ref().map(|f| f.text.as_str()) {
        None => ImportTarget::Spec(db.source(&path)),
        Some("onnx") => ImportTarget::Onnx(db.external(&path)),
        Some(_) => ImportTarget::Unknown,
    })
}

/// The `.tl` files a file imports, each with its import item.
#[salsa::tracked(returns(ref))]
pub fn spec_imports(db: &dyn Db, file: SourceFile) -> Vec<(ItemSource<'_>, SourceFile)> {
    file_items(db, file)
        .iter()
        .filter_map(|&item| match import_target(db, item) {
            Some(ImportTarget::Spec(target)) => Some((item, target)),
            _ => None,
        })
        .collect()
}

fn import_ast<'db>(db: &'db dyn Db, item: ItemSource<'db>) -> Option<&'db Import> {
    match &parse_item(db, item).item {
        Item::Import(i) => Some(i),
        _ => None,
    }
}

/// Resolves a top-level name as seen from `file`: its own definitions first, then the definitions
/// of files it imports without an alias; `ns.name` looks inside the file imported `as ns`.
pub fn lookup<'db>(db: &'db dyn Db, file: SourceFile, path: &[&str]) -> Option<Def<'db>> {
    match path {
        [name] => {
            if let Some(defs) = file_definitions(db, file).get(*name) {
                return Some(defs[0]);
            }
            spec_imports(db, file).iter().find_map(|&(item, target)| {
                let unaliased = import_ast(db, item).is_some_and(|i| i.alias.is_none());
                unaliased
                    .then(|| file_definitions(db, target).get(*name).map(|d| d[0]))
                    .flatten()
            })
        }
        [ns, name] => {
            let alias = file_definitions(db, file).get(*ns)?.first()?;
            match import_target(db, alias.item)? {
                ImportTarget::Spec(target) => file_definitions(db, target).get(*name).map(|d| d[0]),
                _ => None,
            }
        }
        _ => None,
    }
}

/// Every name visible at the top level of `file` (for completion and did-you-mean).
pub fn visible_names(db: &dyn Db, file: SourceFile) -> Vec<(String, Def<'_>)> {
    let mut out: Vec<(String, Def<'_>)> = file_definitions(db, file)
        .iter()
        .map(|(n, d)| (n.clone(), d[0]))
        .collect();
    for &(item, target) in spec_imports(db, file) {
        let prefix = import_ast(db, item)
            .and_then(|i| i.alias.as_ref())
            .map(|a| format!("{}.", a.text));
        for (n, d) in file_definitions(db, target) {
            out.push((format!("{}{n}", prefix.clone().unwrap_or_default()), d[0]));
        }
    }
    out
}

/// Problems with a file's imports: unreadable files, unknown formats, cycles.
#[salsa::tracked(returns(ref))]
pub fn import_diagnostics(db: &dyn Db, file: SourceFile) -> Vec<Diagnostic<'_>> {
    let mut out = Vec::new();
    for &item in file_items(db, file) {
        let Some(import) = import_ast(db, item) else {
            continue;
        };
        let path_span = Span::Item(item, import.path.span);
        match import_target(db, item) {
            Some(ImportTarget::Spec(target)) => {
                if let Err(e) = target.text(db) {
                    out.push(
                        Diagnostic::error(
                            110,
                            path_span,
                            format!("cannot read imported spec `{}`: {e}", import.path.value),
                        )
                        .with_note(format!("resolved to {}", target.path(db).display()))
                        .with_help("import paths are relative to the importing file"),
                    );
                } else if let Some(cycle) = import_cycle(db, file, target) {
                    out.push(
                        Diagnostic::error(111, path_span, "import cycle")
                            .with_label("this import leads back to this file")
                            .with_note(format!("cycle: {}", cycle.join(" -> "))),
                    );
                }
            }
            Some(ImportTarget::Onnx(ext)) => {
                if matches!(ext.content(db), crate::vfs::ExternalContent::Missing) {
                    out.push(
                        Diagnostic::error(
                            110,
                            path_span,
                            format!(
                                "cannot read ONNX model `{}`: file not found",
                                import.path.value
                            ),
                        )
                        .with_note(format!("resolved to {}", ext.path(db).display())),
                    );
                }
                if import.alias.is_none() {
                    out.push(
                        Diagnostic::error(
                            112,
                            Span::Item(item, import.span),
                            "an ONNX import needs a name",
                        )
                        .with_help(format!(
                            "write `import onnx \"{}\" as net`",
                            import.path.value
                        )),
                    );
                }
            }
            Some(ImportTarget::Unknown) => {
                let format = import
                    .format
                    .as_ref()
                    .expect("unknown implies a format word");
                out.push(
                    Diagnostic::error(113, Span::Item(item, format.span), format!("unknown import format `{}`", format.text))
                        .with_help("write `import \"x.tl\"` for a spec or `import onnx \"x.onnx\" as name` for a model"),
                );
            }
            None => {}
        }
    }
    out
}

/// A path of files from `to` back to `from` through spec imports, if there is one.
fn import_cycle(db: &dyn Db, from: SourceFile, to: SourceFile) -> Option<Vec<String>> {
    let name = |f: SourceFile| {
        f.path(db)
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default()
    };
    let mut stack = vec![(to, vec![name(from), name(to)])];
    if to == from {
        return Some(vec![name(from), name(from)]);
    }
    let mut seen = std::collections::HashSet::new();
    while let Some((f, trail)) = stack.pop() {
        if f == from {
            return Some(trail);
        }
        if !seen.insert(f) || trail.len() > 64 {
            continue;
        }
        for &(_, next) in spec_imports(db, f) {
            let mut t = trail.clone();
            t.push(name(next));
            stack.push((next, t));
        }
    }
    None
}

/// Levenshtein distance, for "did you mean".
pub fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, &cb) in b.iter().enumerate() {
            cur[j + 1] = (prev[j] + usize::from(ca != cb))
                .min(prev[j + 1] + 1)
                .min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

/// The closest candidate within a small distance.
pub fn suggest<'a>(name: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let limit = (name.chars().count() / 3).max(1);
    candidates
        .into_iter()
        .map(|c| (edit_distance(name, c), c))
        .filter(|&(d, _)| d <= limit)
        .min()
        .map(|(_, c)| c)
}
