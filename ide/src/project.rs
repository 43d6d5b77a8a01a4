//! `tl.toml`, read by one resolver for both front ends: [`ProjectFile`] is the file as
//! `tlc verify` reads it (found upward from a spec or directory, unknown keys refused, every
//! error a `TL0820` message naming the file), and [`project_settings`] is what a verify run of one
//! spec uses from it (default methods, the search time limit, catalogs, and the result cache
//! `.tl-cache/verify/` beside it, shared by `tlc verify` and the editor).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;

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
    let project = ProjectFile::discover(spec)?;
    let Some(root) = project.root.clone() else {
        return Ok(ProjectSettings {
            root: None,
            options: VerifyOptions::default(),
            cache_dir: None,
        });
    };
    let fail = |what: String| format!("TL0820: {}: {what}", root.join("tl.toml").display());
    let mut default_methods = Vec::new();
    for m in &project.default_methods {
        default_methods.push(
            parse_method(m)
                .ok_or_else(|| fail(format!("default_methods: unknown method `{m}`")))?,
        );
    }
    let catalog = project.catalog()?;
    Ok(ProjectSettings {
        cache_dir: Some(root.join(".tl-cache").join("verify")),
        root: Some(root),
        options: VerifyOptions {
            default_methods,
            timeout: project.timeout,
            catalog: Arc::new(catalog),
            catalog_files: project.catalogs.clone(),
            ..VerifyOptions::default()
        },
    })
}

impl ProjectFile {
    /// The builtin catalog with the project's catalogs merged in (errors: each entry's code).
    pub fn catalog(&self) -> Result<Catalog, String> {
        let mut catalog = Catalog::builtin();
        for c in &self.catalogs {
            catalog.merge_file(c).map_err(|errs| {
                let msgs: Vec<String> = errs
                    .iter()
                    .map(|e| format!("{} {}", e.code, e.message))
                    .collect();
                format!("catalog {}: {}", c.display(), msgs.join("; "))
            })?;
        }
        Ok(catalog)
    }
}

/// Statuses and outcomes `fail_on` may name.
pub const FAIL_ON_VALUES: &[&str] = &[
    "falsified",
    "uncovered",
    "assumed",
    "tested",
    "timeout",
    "error",
];

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Raw {
    roots: Option<Vec<String>>,
    exclude: Option<Vec<String>>,
    default_methods: Option<Vec<String>>,
    timeout: Option<toml::Value>,
    catalogs: Option<Vec<String>>,
    fail_on: Option<Vec<String>>,
}

/// `tl.toml` as written, paths made absolute.
#[derive(Debug, Clone)]
pub struct ProjectFile {
    /// The directory holding tl.toml (None: no tl.toml found).
    pub root: Option<PathBuf>,
    pub roots: Vec<PathBuf>,
    pub exclude: Vec<String>,
    pub default_methods: Vec<String>,
    pub timeout: Option<Duration>,
    pub catalogs: Vec<PathBuf>,
    pub fail_on: Vec<String>,
}

impl ProjectFile {
    fn defaults(root: Option<PathBuf>) -> ProjectFile {
        ProjectFile {
            root,
            roots: vec![],
            exclude: vec![],
            default_methods: vec![],
            timeout: None,
            catalogs: vec![],
            fail_on: vec!["falsified".into()],
        }
    }

    /// Finds tl.toml in `start` or a directory above it and reads it.
    pub fn discover(start: &Path) -> Result<ProjectFile, String> {
        let start = crate::normalize_path(start);
        let mut dir = if start.is_dir() {
            Some(start.as_path())
        } else {
            start.parent()
        };
        while let Some(d) = dir {
            let candidate = d.join("tl.toml");
            if candidate.is_file() {
                return ProjectFile::load(&candidate);
            }
            dir = d.parent();
        }
        Ok(ProjectFile::defaults(None))
    }

    pub fn load(path: &Path) -> Result<ProjectFile, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("TL0820: cannot read {}: {e}", path.display()))?;
        let raw: Raw = toml::from_str(&text)
            .map_err(|e| format!("TL0820: {}: {}", path.display(), e.message()))?;
        let root = path.parent().unwrap_or(Path::new(".")).to_path_buf();
        let mut c = ProjectFile::defaults(Some(root.clone()));
        c.roots = raw
            .roots
            .unwrap_or_default()
            .iter()
            .map(|r| root.join(r))
            .collect();
        c.exclude = raw.exclude.unwrap_or_default();
        c.default_methods = raw.default_methods.unwrap_or_default();
        c.catalogs = raw
            .catalogs
            .unwrap_or_default()
            .iter()
            .map(|r| root.join(r))
            .collect();
        if let Some(f) = raw.fail_on {
            c.fail_on = f;
        }
        check_fail_on(&c.fail_on).map_err(|e| format!("TL0820: {}: {e}", path.display()))?;
        c.timeout = match raw.timeout {
            None => None,
            Some(toml::Value::Integer(s)) if s > 0 => Some(Duration::from_secs(s as u64)),
            Some(toml::Value::String(s)) => Some(parse_duration(&s).ok_or_else(|| {
                format!(
                    "TL0820: {}: timeout `{s}` is not a duration like 60s",
                    path.display()
                )
            })?),
            Some(other) => {
                return Err(format!(
                    "TL0820: {}: timeout must be seconds or a string like \"60s\", not {other}",
                    path.display()
                ))
            }
        };
        Ok(c)
    }

    /// Whether `path` (absolute) is excluded by a pattern (matched against the path relative to
    /// the project root; `*` stays within a path segment, `**` crosses them).
    pub fn excluded(&self, path: &Path) -> bool {
        let rel = match &self.root {
            Some(r) => path.strip_prefix(r).unwrap_or(path),
            None => path,
        };
        let rel = rel.to_string_lossy().replace('\\', "/");
        self.exclude.iter().any(|p| {
            let p = p.trim_end_matches('/');
            glob(p, &rel) || rel.starts_with(&format!("{p}/"))
        })
    }
}

pub fn check_fail_on(values: &[String]) -> Result<(), String> {
    for v in values {
        if !FAIL_ON_VALUES.contains(&v.as_str()) {
            return Err(format!(
                "fail_on value `{v}` is not one of {}",
                FAIL_ON_VALUES.join(", ")
            ));
        }
    }
    Ok(())
}

fn glob(pattern: &str, text: &str) -> bool {
    fn go(p: &[u8], t: &[u8]) -> bool {
        match p.first() {
            None => t.is_empty(),
            Some(b'*') if p.get(1) == Some(&b'*') => {
                let rest = &p[2..];
                (0..=t.len()).any(|i| go(rest, &t[i..]))
            }
            Some(b'*') => {
                let rest = &p[1..];
                (0..=t.len())
                    .take_while(|&i| i == 0 || t[i - 1] != b'/')
                    .any(|i| go(rest, &t[i..]))
            }
            Some(&c) => t.first() == Some(&c) && go(&p[1..], &t[1..]),
        }
    }
    go(pattern.as_bytes(), text.as_bytes())
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
        "structure" => Method::Structure,
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
    fn globs_and_durations() {
        assert!(glob("fixtures/*.tl", "fixtures/a.tl"));
        assert!(!glob("fixtures/*.tl", "fixtures/x/a.tl"));
        assert!(glob("**/broken/*", "tests/fixtures/broken/a.tl"));
        assert_eq!(parse_duration("90s"), Some(Duration::from_secs(90)));
        assert_eq!(parse_duration("2m"), Some(Duration::from_secs(120)));
        assert_eq!(parse_duration("fast"), None);
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
