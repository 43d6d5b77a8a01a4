//! `tlc verify`: run every contract of a project and report honest statuses for CI;
//! `tlc merge`: combine the JSON reports of shards.

mod config;
mod formats;
mod report;

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use clap::Args;
use rayon::prelude::*;
use sha2::{Digest, Sha256};
use tl_ide::project::parse_method;
use tl_ide::verify::{execute, ContractRun, Memo, ResultCache, VerifyOptions};
use tl_ide::{Analysis, AnalysisHost, Change, ContractRef, Severity};

use config::Config;
use formats::Style;
use report::{code, ContractEntry, DiagnosticEntry, Location, Report, Shard};

#[derive(Args)]
#[command(
    after_help = "Examples:\n  tlc verify spec-examples/\n  tlc verify --format sarif > tl.sarif\n  tlc verify --shard 1/4 --format json > part1.json\n\nExit: 0 every contract meets the bar, 1 some do not, 2 the specs have errors, 3 usage or I/O error.\nDocs: docs/verify.md (statuses, JSON schema), docs/ci.md (GitHub Actions)."
)]
pub struct VerifyArgs {
    /// Files or directories (default: tl.toml `roots`, else the current directory).
    paths: Vec<PathBuf>,
    /// Output format.
    #[arg(long, default_value = "human", value_parser = formats::FORMATS)]
    format: String,
    /// Run only the contract with this name (or `file::name` id).
    #[arg(long)]
    contract: Option<String>,
    /// Run shard I of N (1-based), split deterministically by contract id.
    #[arg(long, value_name = "I/N")]
    shard: Option<String>,
    /// Do not read or write the result cache.
    #[arg(long)]
    no_cache: bool,
    /// Cache directory (default: .tl-cache/ beside tl.toml, else the user cache directory).
    #[arg(long, value_name = "DIR")]
    cache_dir: Option<PathBuf>,
    /// Statuses that fail the run (overrides tl.toml `fail_on`), e.g. falsified,uncovered.
    #[arg(long, value_delimiter = ',')]
    fail_on: Option<Vec<String>>,
    /// Print only the report (no progress).
    #[arg(long, short)]
    quiet: bool,
    /// Print every method's evidence, and which results came from the cache.
    #[arg(long, short)]
    verbose: bool,
}

#[derive(Args)]
#[command(after_help = "Example:\n  tlc merge part1.json part2.json --format sarif > tl.sarif")]
pub struct MergeArgs {
    /// JSON reports written by `tlc verify --format json`.
    #[arg(required = true)]
    reports: Vec<PathBuf>,
    #[arg(long, default_value = "human", value_parser = formats::FORMATS)]
    format: String,
}

fn usage(msg: impl std::fmt::Display) -> u8 {
    eprintln!("error: {msg}");
    code::USAGE
}

fn style(verbose: bool) -> Style {
    Style {
        color: std::io::stdout().is_terminal()
            && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty()),
        verbose,
    }
}

pub fn merge(args: MergeArgs) -> u8 {
    let mut parts = Vec::new();
    for p in &args.reports {
        let text = match std::fs::read_to_string(p) {
            Ok(t) => t,
            Err(e) => return usage(format!("TL0822: {}: {e}", p.display())),
        };
        match Report::parse(&text) {
            Ok(r) => parts.push(r),
            Err(e) => return usage(format!("TL0822: {}: {e}", p.display())),
        }
    }
    match Report::merge(parts) {
        Ok(r) => {
            print!("{}", formats::render(&r, &args.format, &style(false)));
            r.exit_code
        }
        Err(e) => usage(format!("TL0822: {e}")),
    }
}

fn parse_shard(s: &str) -> Option<Shard> {
    let (i, n) = s.split_once('/')?;
    let (index, count): (usize, usize) = (i.trim().parse().ok()?, n.trim().parse().ok()?);
    (count >= 1 && (1..=count).contains(&index)).then_some(Shard { index, count })
}

/// The shard (0-based) a contract id falls into.
fn shard_of(id: &str, count: usize) -> usize {
    let h = Sha256::digest(id.as_bytes());
    let v = u64::from_be_bytes(h[..8].try_into().expect("8 bytes"));
    (v % count as u64) as usize
}

fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(text.len());
    let mut end = offset;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    let before = &text[..end];
    let line = before.matches('\n').count() + 1;
    let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, col)
}

fn location(analysis: &Analysis, path: &Path, base: &Path, start: usize, end: usize) -> Location {
    let text = crate::uncancelled(analysis.file_text(path));
    let (line, column) = line_col(&text, start);
    let (end_line, end_column) = line_col(&text, end.max(start));
    let rel = path.strip_prefix(base).unwrap_or(path);
    Location {
        file: rel.to_string_lossy().replace('\\', "/"),
        line,
        column,
        end_line,
        end_column,
    }
}

pub fn run(args: VerifyArgs) -> u8 {
    let cwd = std::env::current_dir().unwrap_or_default();
    let start = args.paths.first().cloned().unwrap_or_else(|| cwd.clone());
    let config = match Config::discover(&start) {
        Ok(c) => c,
        Err(e) => return usage(e),
    };
    let mut fail_on = config.fail_on.clone();
    if let Some(f) = &args.fail_on {
        if let Err(e) = config::check_fail_on(f) {
            return usage(format!("--fail-on: {e}"));
        }
        fail_on = f.clone();
    }
    let shard = match args.shard.as_deref().map(|s| (s, parse_shard(s))) {
        None => None,
        Some((_, Some(s))) => Some(s),
        Some((s, None)) => return usage(format!("--shard `{s}`: expected I/N with 1 <= I <= N")),
    };
    let mut default_methods = Vec::new();
    for m in &config.default_methods {
        match parse_method(m) {
            Some(m) => default_methods.push(m),
            None => {
                return usage(format!(
                    "TL0820: tl.toml default_methods: unknown method `{m}`"
                ))
            }
        }
    }
    let catalog = match config.catalog() {
        Ok(c) => c,
        Err(e) => return usage(e),
    };
    let roots: Vec<PathBuf> = if !args.paths.is_empty() {
        args.paths.clone()
    } else if !config.roots.is_empty() {
        config.roots.clone()
    } else {
        vec![config.root.clone().unwrap_or_else(|| cwd.clone())]
    };
    let files: Vec<PathBuf> = match crate::sources::collect(&roots) {
        Ok(f) => f
            .into_iter()
            .map(|p| tl_ide::normalize_path(&p))
            .filter(|p| !config.excluded(p))
            .collect(),
        Err(e) => return usage(e),
    };
    if files.is_empty() {
        return usage("no .tl files to verify");
    }
    let base = config.root.clone().unwrap_or_else(|| cwd.clone());
    let mut host = AnalysisHost::new();
    let mut change = Change::new();
    for path in &files {
        change.load_file(path);
    }
    host.apply_change(change);
    // Load what the specs import (the queries never read the disk).
    host.settle(&files);
    let analysis = host.analysis();

    // 1. Spec diagnostics: any error stops the run (exit 2).
    let mut diagnostics = Vec::new();
    for path in &files {
        for d in crate::uncancelled(analysis.diagnostics(path)) {
            diagnostics.push(DiagnosticEntry {
                code: d.code_str(),
                severity: match d.severity {
                    Severity::Error => "error",
                    Severity::Warning => "warning",
                    Severity::Info => "note",
                }
                .into(),
                message: d.message.clone(),
                location: location(
                    &analysis,
                    &d.range.path,
                    &base,
                    d.range.range.start as usize,
                    d.range.range.end as usize,
                ),
            });
        }
    }
    let out_style = style(args.verbose);
    if diagnostics.iter().any(|d| d.severity == "error") {
        let r = Report::new(fail_on, shard, diagnostics, vec![]);
        print!("{}", formats::render(&r, &args.format, &out_style));
        return r.exit_code;
    }

    // 2. Contracts, in file and source order, filtered by --contract and --shard.
    struct Job {
        id: String,
        name: String,
        location: Location,
        contract: ContractRef,
        prepared: tl_ide::verify::Prepared,
    }
    let opts = VerifyOptions {
        default_methods,
        timeout: config.timeout,
        catalog: Arc::new(catalog),
        catalog_files: config.catalogs.clone(),
        ..VerifyOptions::default()
    };
    let mut jobs = Vec::new();
    for path in &files {
        for contract in crate::uncancelled(analysis.contracts(path)) {
            let name = contract.name.clone();
            let loc = location(
                &analysis,
                &contract.path,
                &base,
                contract.name_range.start as usize,
                contract.name_range.end as usize,
            );
            let id = format!("{}::{name}", loc.file);
            if let Some(want) = &args.contract {
                if *want != name && *want != id {
                    continue;
                }
            }
            if let Some(s) = &shard {
                if shard_of(&id, s.count) != s.index - 1 {
                    continue;
                }
            }
            let Some(prepared) = crate::uncancelled(analysis.prepare_contract(&contract, &opts))
            else {
                continue;
            };
            jobs.push(Job {
                id,
                name,
                location: loc,
                contract,
                prepared,
            });
        }
    }
    if let Some(want) = &args.contract {
        if jobs.is_empty() && shard.is_none() {
            return usage(format!("no contract named `{want}`"));
        }
    }

    // 3. Run in parallel (results keep the job order), through the cache.
    let cache = if args.no_cache {
        None
    } else {
        let dir = args
            .cache_dir
            .clone()
            .unwrap_or_else(|| match &config.root {
                Some(r) => r.join(".tl-cache").join("verify"),
                None => user_cache_dir().join("verify"),
            });
        Some(ResultCache::new(dir))
    };
    let memo = Memo::default();
    let total = jobs.len();
    let done = AtomicUsize::new(0);
    let bar = (!args.quiet && std::io::stderr().is_terminal()).then(|| {
        let b = indicatif::ProgressBar::new(total as u64);
        b.set_style(
            indicatif::ProgressStyle::with_template("{spinner} [{pos}/{len}] {wide_msg}")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        b
    });
    let cache_warned = std::sync::Once::new();
    let runs: Vec<ContractRun> = jobs
        .par_iter()
        .map(|job| {
            let cached = cache
                .as_ref()
                .and_then(|c| c.get_within(&job.prepared.cache_key, opts.timeout))
                .map(|r| r.for_contract(&job.prepared));
            let run = match cached {
                Some(r) => r,
                None => {
                    let r = execute(&job.prepared, &opts, &memo);
                    if let Some(c) = &cache {
                        if let Err(e) = c.put_within(&r, opts.timeout) {
                            cache_warned.call_once(|| {
                                eprintln!(
                                    "warning[TL0821]: cannot write the cache in {}: {e}",
                                    c.dir().display()
                                )
                            });
                        }
                    }
                    r
                }
            };
            let n = done.fetch_add(1, Ordering::SeqCst) + 1;
            // The method link's status, in the ledger's words: the contract's own status (its
            // weakest link, which may be weaker, e.g. `assumed`) is known only once every run has
            // finished, and is the one the final table reports.
            let line = format!(
                "{}: method link {}{}",
                job.id,
                run.evidence_status,
                if run.cached { " (cached)" } else { "" }
            );
            match &bar {
                Some(b) => {
                    b.set_message(line);
                    b.inc(1);
                }
                None if !args.quiet => eprintln!("[{n}/{total}] {line}"),
                None => {}
            }
            run
        })
        .collect();
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    if args.verbose {
        for (job, run) in jobs.iter().zip(&runs) {
            if run.cached {
                eprintln!("cached: {} ({})", job.id, &run.cache_key[..12]);
            }
        }
    }

    // The reported status is the trust ledger's: the weakest link of the whole evidence chain
    // (graph semantics, method, float bridge, execution target, assumptions), so `tlc verify`,
    // `tlc trust` and the editor agree on every contract.
    let mut runs = runs;
    let contracts: Vec<ContractRef> = jobs.iter().map(|j| j.contract.clone()).collect();
    crate::uncancelled(analysis.decide_statuses(&contracts, &mut runs));

    let contracts: Vec<ContractEntry> = jobs
        .into_iter()
        .zip(runs)
        .map(|(job, run)| ContractEntry {
            id: job.id,
            name: job.name,
            location: job.location,
            kind: run.kind,
            status: run.status,
            evidence_status: run.evidence_status,
            meets_bar: true,
            cached: run.cached,
            millis: run.millis,
            rests_on: run.rests_on,
            execute_on: run.execute_on,
            methods: run.outcome.methods,
            index_maps: run.outcome.index_maps,
            expected: job.contract.expect.map(str::to_string),
            expectation_met: None,
        })
        .collect();
    let r = Report::new(fail_on, shard, diagnostics, contracts);
    print!("{}", formats::render(&r, &args.format, &out_style));
    r.exit_code
}

fn user_cache_dir() -> PathBuf {
    if let Some(x) = std::env::var_os("XDG_CACHE_HOME").filter(|v| !v.is_empty()) {
        return PathBuf::from(x).join("tl");
    }
    match std::env::var_os("HOME") {
        Some(h) => PathBuf::from(h).join(".cache").join("tl"),
        None => std::env::temp_dir().join("tl-cache"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tl_ide::verify::Method;

    #[test]
    fn shards_partition_ids_and_parse() {
        assert_eq!(parse_shard("2/3").map(|s| (s.index, s.count)), Some((2, 3)));
        assert!(
            parse_shard("0/3").is_none()
                && parse_shard("4/3").is_none()
                && parse_shard("x").is_none()
        );
        for id in ["a.tl::x", "b.tl::y", "c.tl::z"] {
            assert!(shard_of(id, 3) < 3);
            assert_eq!(shard_of(id, 3), shard_of(id, 3));
            assert_eq!(shard_of(id, 1), 0);
        }
    }

    #[test]
    fn default_methods_parse() {
        assert_eq!(parse_method("crown"), Some(Method::Crown));
        assert_eq!(
            parse_method("sampling(20)"),
            Some(Method::Sampling {
                samples: 20,
                seed: 0
            })
        );
        assert_eq!(parse_method("magic"), None);
    }
}
