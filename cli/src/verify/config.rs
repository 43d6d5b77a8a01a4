//! `tl.toml`: the project file `tlc verify` reads (found upward from the cwd or the given path).

use std::path::{Path, PathBuf};
use std::time::Duration;
use tl_ide::project::parse_duration;

use serde::Deserialize;

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

/// The project settings, paths made absolute.
#[derive(Debug, Clone)]
pub struct Config {
    /// The directory holding tl.toml (None: no tl.toml found).
    pub root: Option<PathBuf>,
    pub roots: Vec<PathBuf>,
    pub exclude: Vec<String>,
    pub default_methods: Vec<String>,
    pub timeout: Option<Duration>,
    pub catalogs: Vec<PathBuf>,
    pub fail_on: Vec<String>,
}

impl Config {
    fn defaults(root: Option<PathBuf>) -> Config {
        Config {
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
    pub fn discover(start: &Path) -> Result<Config, String> {
        let start = tl_ide::normalize_path(start);
        let mut dir = if start.is_dir() {
            Some(start.as_path())
        } else {
            start.parent()
        };
        while let Some(d) = dir {
            let candidate = d.join("tl.toml");
            if candidate.is_file() {
                return Config::load(&candidate);
            }
            dir = d.parent();
        }
        Ok(Config::defaults(None))
    }

    pub fn load(path: &Path) -> Result<Config, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("TL0820: cannot read {}: {e}", path.display()))?;
        let raw: Raw = toml::from_str(&text)
            .map_err(|e| format!("TL0820: {}: {}", path.display(), e.message()))?;
        let root = path.parent().unwrap_or(Path::new(".")).to_path_buf();
        let mut c = Config::defaults(Some(root.clone()));
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs_and_durations() {
        assert!(glob("fixtures/*.tl", "fixtures/a.tl"));
        assert!(!glob("fixtures/*.tl", "fixtures/x/a.tl"));
        assert!(glob("**/broken/*", "tests/fixtures/broken/a.tl"));
        assert_eq!(parse_duration("90s"), Some(Duration::from_secs(90)));
        assert_eq!(parse_duration("2m"), Some(Duration::from_secs(120)));
        assert_eq!(parse_duration("fast"), None);
    }
}
