//! The `tl.toml` settings a verify run in the editor needs, read the way `tlc verify` reads them
//! (the file is found upward from the spec): default methods, the search time limit, catalogs,
//! and the result cache `.tl-cache/verify/` beside it, shared with `tlc verify`. Keys that only
//! matter to a command-line run (`roots`, `exclude`, `fail_on`) are not read here; `tlc verify`
//! validates them.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

pub use tl_analysis::catalog::Catalog;
use tl_analysis::contracts::Method;
use tl_analysis::verify::VerifyOptions;

/// What verifying a spec uses from its project.
#[derive(Debug)]
pub struct ProjectSettings {
    /// The directory holding tl.toml, when there is one.
    pub root: Option<PathBuf>,
    pub options: VerifyOptions,
    /// Where results are cached on disk (`None`: no tl.toml, keep them in memory).
    pub cache_dir: Option<PathBuf>,
}

/// Finds the tl.toml governing `spec` (in its directory or above) and reads it; the defaults when
/// there is none. Errors are `TL0820` messages, as `tlc verify` reports them.
pub fn project_settings(spec: &Path) -> Result<ProjectSettings, String> {
    let mut dir = spec.parent();
    while let Some(d) = dir {
        let candidate = d.join("tl.toml");
        if candidate.is_file() {
            return read_project(&candidate);
        }
        dir = d.parent();
    }
    Ok(ProjectSettings {
        root: None,
        options: VerifyOptions::default(),
        cache_dir: None,
    })
}

fn read_project(path: &Path) -> Result<ProjectSettings, String> {
    let fail = |what: String| format!("TL0820: {}: {what}", path.display());
    let text = std::fs::read_to_string(path).map_err(|e| fail(format!("cannot read: {e}")))?;
    let table: toml::Table = toml::from_str(&text).map_err(|e| fail(e.message().to_string()))?;
    let root = path.parent().unwrap_or(Path::new(".")).to_path_buf();
    let strings = |key: &str| -> Result<Vec<String>, String> {
        match table.get(key) {
            None => Ok(vec![]),
            Some(toml::Value::Array(items)) => items
                .iter()
                .map(|v| {
                    v.as_str()
                        .map(String::from)
                        .ok_or_else(|| fail(format!("`{key}` must be a list of strings")))
                })
                .collect(),
            Some(_) => Err(fail(format!("`{key}` must be a list of strings"))),
        }
    };
    let mut default_methods = Vec::new();
    for m in strings("default_methods")? {
        default_methods.push(
            parse_method(&m)
                .ok_or_else(|| fail(format!("default_methods: unknown method `{m}`")))?,
        );
    }
    let timeout = match table.get("timeout") {
        None => None,
        Some(toml::Value::Integer(s)) if *s > 0 => Some(Duration::from_secs(*s as u64)),
        Some(toml::Value::String(s)) => Some(
            parse_duration(s)
                .ok_or_else(|| fail(format!("timeout `{s}` is not a duration like 60s")))?,
        ),
        Some(other) => {
            return Err(fail(format!(
                "timeout must be seconds or a string like \"60s\", not {other}"
            )))
        }
    };
    let catalog_files: Vec<PathBuf> = strings("catalogs")?.iter().map(|c| root.join(c)).collect();
    let mut catalog = Catalog::builtin();
    for c in &catalog_files {
        catalog.merge_file(c).map_err(|errs| {
            let msgs: Vec<String> = errs
                .iter()
                .map(|e| format!("{} {}", e.code, e.message))
                .collect();
            format!("catalog {}: {}", c.display(), msgs.join("; "))
        })?;
    }
    Ok(ProjectSettings {
        cache_dir: Some(root.join(".tl-cache").join("verify")),
        root: Some(root),
        options: VerifyOptions {
            default_methods,
            timeout,
            catalog: Arc::new(catalog),
            catalog_files,
            ..VerifyOptions::default()
        },
    })
}

/// `crown`, `bab`, `sampling`, `sampling(200)`: the `default_methods` forms docs/verify.md lists.
pub fn parse_method(s: &str) -> Option<Method> {
    let s = s.trim();
    let (name, arg) = match s.split_once('(') {
        Some((n, rest)) => (n.trim(), rest.strip_suffix(')')?.trim()),
        None => (s, ""),
    };
    Some(match name {
        "ibp" => Method::Ibp,
        "crown" => Method::Crown,
        "alpha_crown" => Method::AlphaCrown,
        "bab" => Method::Bab {
            timeout_ms: None,
            max_nodes: None,
            split: None,
        },
        "catalog" => Method::Catalog,
        "sampling" => Method::Sampling {
            samples: if arg.is_empty() {
                100
            } else {
                arg.parse().ok()?
            },
            seed: 0,
        },
        _ => return None,
    })
}

/// `500ms`, `60s`, `2m`, `1h` (the same units as durations in specs).
pub fn parse_duration(s: &str) -> Option<Duration> {
    tl_syntax::lexer::duration_millis(s.trim()).map(Duration::from_millis)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp(tag: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("tl-ide-project-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(d.join("specs")).expect("temp dir");
        d
    }

    #[test]
    fn reads_tl_toml_above_the_spec() {
        let d = temp("ok");
        std::fs::write(
            d.join("tl.toml"),
            "roots = [\"specs\"]\ndefault_methods = [\"crown\", \"sampling(20)\"]\ntimeout = \"90s\"\n",
        )
        .unwrap();
        let s = project_settings(&d.join("specs/a.tl")).expect("settings");
        assert_eq!(s.root.as_deref(), Some(d.as_path()));
        assert_eq!(s.cache_dir, Some(d.join(".tl-cache/verify")));
        assert_eq!(
            s.options.default_methods,
            vec![
                Method::Crown,
                Method::Sampling {
                    samples: 20,
                    seed: 0
                }
            ]
        );
        assert_eq!(s.options.timeout, Some(Duration::from_secs(90)));
        let _ = std::fs::remove_dir_all(&d);
    }

    #[test]
    fn bad_settings_are_coded_and_no_project_is_in_memory() {
        let d = temp("bad");
        std::fs::write(d.join("tl.toml"), "default_methods = [\"magic\"]\n").unwrap();
        let e = project_settings(&d.join("specs/a.tl")).unwrap_err();
        assert!(e.starts_with("TL0820") && e.contains("magic"), "{e}");
        std::fs::write(d.join("tl.toml"), "timeout = [1]\n").unwrap();
        assert!(project_settings(&d.join("a.tl"))
            .unwrap_err()
            .contains("timeout"));
        std::fs::write(d.join("tl.toml"), "not toml [\n").unwrap();
        assert!(project_settings(&d.join("a.tl"))
            .unwrap_err()
            .starts_with("TL0820"));
        let _ = std::fs::remove_dir_all(&d);
        let none = project_settings(Path::new("/nonexistent-tl-dir/x/a.tl")).expect("defaults");
        assert!(none.root.is_none() && none.cache_dir.is_none());
    }
}
