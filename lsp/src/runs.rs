//! What the server remembers about verify runs: each file's results for the document version
//! they were computed on, the contracts in flight, and a result store keyed by the content hash
//! of everything a result depends on (`Prepared::cache_key`).
//!
//! Results are shown only for the version they were computed on: after an edit the editor
//! falls back to the analysis statuses until the next run (a save, with `verifyOnSave`), which
//! takes unchanged contracts straight from the store.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};

use std::time::Duration;

use tl_ide::verify::{ContractRun, Limit, ResultCache};

/// Results kept in memory before the oldest half is dropped.
const MEMORY_LIMIT: usize = 4096;

/// One file's latest results.
#[derive(Default)]
struct FileRuns {
    /// The document version the results are about (`None`: the file as it is on disk).
    version: Option<i32>,
    runs: Vec<ContractRun>,
    running: Vec<String>,
    /// Bumped by every run of the file: a run that finds a newer one stops.
    generation: u64,
}

#[derive(Default)]
pub struct Runs {
    files: Mutex<HashMap<PathBuf, FileRuns>>,
    /// Results by cache key; a run that timed out keeps the limit it had (`ResultCache`'s rule:
    /// reused by a run with the same or a smaller limit, rerun when the limit grows).
    memory: Mutex<HashMap<String, (ContractRun, Option<Limit>)>>,
    cache_warned: AtomicBool,
}

/// A run's claim on a file: the generation it started and the version it verifies.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ticket {
    pub generation: u64,
    pub version: Option<i32>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Runs {
    /// Starts a run of `path` at `version`: older runs of the file stop at their next contract,
    /// and results for another version are dropped.
    pub fn begin(&self, path: &Path, version: Option<i32>) -> Ticket {
        let mut files = lock(&self.files);
        let f = files.entry(path.to_path_buf()).or_default();
        if f.version != version {
            f.runs.clear();
            f.version = version;
        }
        f.running.clear();
        f.generation += 1;
        Ticket {
            generation: f.generation,
            version,
        }
    }

    /// Whether `ticket` is still the file's latest run.
    pub fn is_current(&self, path: &Path, ticket: Ticket) -> bool {
        lock(&self.files)
            .get(path)
            .is_some_and(|f| f.generation == ticket.generation)
    }

    /// Marks contracts as in flight (only for the latest run).
    pub fn set_running(&self, path: &Path, ticket: Ticket, names: Vec<String>) {
        if let Some(f) = lock(&self.files).get_mut(path) {
            if f.generation == ticket.generation {
                f.running = names;
            }
        }
    }

    /// Records a finished contract (only for the latest run) and takes it off the running list.
    pub fn record(&self, path: &Path, ticket: Ticket, run: ContractRun) {
        if let Some(f) = lock(&self.files).get_mut(path) {
            if f.generation == ticket.generation {
                f.running.retain(|n| *n != run.outcome.contract);
                f.runs
                    .retain(|r| r.outcome.contract != run.outcome.contract);
                f.runs.push(run);
            }
        }
    }

    /// The results and in-flight contracts for `path` at `version` (nothing for another version).
    pub fn current(&self, path: &Path, version: Option<i32>) -> (Vec<ContractRun>, Vec<String>) {
        match lock(&self.files).get(path) {
            Some(f) if f.version == version => (f.runs.clone(), f.running.clone()),
            _ => (Vec::new(), Vec::new()),
        }
    }

    /// Forgets a file's results and stops its run (the document closed or reopened).
    pub fn forget(&self, path: &Path) {
        if let Some(f) = lock(&self.files).get_mut(path) {
            f.runs.clear();
            f.running.clear();
            f.version = None;
            f.generation += 1;
        }
    }

    /// Forgets every file's shown results (files changed on disk: weights, data, imports). The
    /// store keeps its entries: their keys hash those files, so a changed file misses.
    pub fn forget_all(&self) {
        for f in lock(&self.files).values_mut() {
            f.runs.clear();
            f.running.clear();
            f.generation += 1;
        }
    }

    /// A stored result for `key` usable by a run capped at `cap` (tl.toml `timeout`): from
    /// memory, else from the disk cache in `dir`. A stored timeout serves only a run with the
    /// same or a smaller limit.
    pub fn lookup(
        &self,
        key: &str,
        dir: Option<&Path>,
        cap: Option<Duration>,
    ) -> Option<ContractRun> {
        if let Some((run, timed_out_under)) = lock(&self.memory).get(key) {
            let reusable = match timed_out_under {
                None => true,
                Some(had) => Limit::of(cap).at_most(*had),
            };
            if reusable {
                let mut run = run.clone();
                run.cached = true;
                return Some(run);
            }
        }
        let run = ResultCache::new(dir?).get_within(key, cap)?;
        self.remember(&run, cap);
        Some(run)
    }

    /// Stores a fresh result, computed under the limit `cap`, in memory and in the disk cache in
    /// `dir` (a run that timed out is stored with its limit).
    pub fn store(&self, run: &ContractRun, dir: Option<&Path>, cap: Option<Duration>) {
        self.remember(run, cap);
        if let Some(dir) = dir {
            let cache = ResultCache::new(dir);
            if let Err(e) = cache.put_within(run, cap) {
                if !self.cache_warned.swap(true, Ordering::SeqCst) {
                    eprintln!(
                        "tl-lsp: warning[TL0821]: cannot write the cache in {}: {e}",
                        dir.display()
                    );
                }
            }
        }
    }

    fn remember(&self, run: &ContractRun, cap: Option<Duration>) {
        let timed_out_under = run.timed_out().then(|| Limit::of(cap));
        let mut memory = lock(&self.memory);
        if memory.len() >= MEMORY_LIMIT {
            let drop: Vec<String> = memory.keys().take(MEMORY_LIMIT / 2).cloned().collect();
            for k in drop {
                memory.remove(&k);
            }
        }
        memory.insert(run.cache_key.clone(), (run.clone(), timed_out_under));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tl_ide::verify::{ContractOutcome, Status};

    fn run(name: &str, key: &str) -> ContractRun {
        ContractRun {
            outcome: ContractOutcome {
                contract: name.into(),
                file: Default::default(),
                methods: vec![],
                index_maps: Vec::new(),
            },
            kind: "robustness".into(),
            evidence_status: Status::Uncovered,
            status: Status::Uncovered,
            rests_on: vec![],
            execute_on: None,
            millis: 1,
            cache_key: key.into(),
            cached: false,
        }
    }

    #[test]
    fn a_newer_run_or_version_supersedes_and_results_are_per_version() {
        let runs = Runs::default();
        let p = Path::new("/x/a.tl");
        let first = runs.begin(p, Some(1));
        runs.set_running(p, first, vec!["a".into(), "b".into()]);
        runs.record(p, first, run("a", "k1"));
        assert_eq!(runs.current(p, Some(1)).1, vec!["b".to_string()]);
        assert_eq!(runs.current(p, Some(1)).0.len(), 1);
        assert!(runs.current(p, Some(2)).0.is_empty(), "another version");
        // A second run of the same version keeps the results, and the first one is stale.
        let second = runs.begin(p, Some(1));
        assert!(!runs.is_current(p, first) && runs.is_current(p, second));
        runs.record(p, first, run("b", "k2"));
        assert_eq!(
            runs.current(p, Some(1)).0.len(),
            1,
            "stale runs record nothing"
        );
        // A run of a newer version drops the old results.
        runs.begin(p, Some(2));
        assert!(runs.current(p, Some(1)).0.is_empty());
        runs.forget(p);
        assert!(!runs.is_current(p, second));
    }

    #[test]
    fn store_remembers_and_reads_the_disk_cache() {
        let dir = std::env::temp_dir().join(format!("tl-lsp-runs-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let runs = Runs::default();
        assert!(runs.lookup("k", Some(&dir), None).is_none());
        runs.store(&run("a", "k"), Some(&dir), None);
        let hit = runs.lookup("k", Some(&dir), None).expect("memory hit");
        assert!(hit.cached);
        // A fresh server finds it on disk.
        let fresh = Runs::default();
        assert!(fresh
            .lookup("k", Some(&dir), None)
            .is_some_and(|r| r.cached));
        assert!(fresh.lookup("k", None, None).is_some(), "now in memory too");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_timeout_is_reused_within_its_limit_and_rerun_when_the_limit_grows() {
        use tl_ide::verify::{MethodOutcome, Verdict};
        let dir = std::env::temp_dir().join(format!("tl-lsp-timeouts-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let mut timed_out = run("a", "t");
        timed_out.outcome.methods.push(MethodOutcome {
            method: "bab".into(),
            verdict: Verdict::Timeout,
            grants: Status::Checked,
            millis: 2_000,
            detail: "no answer within 2000 ms".into(),
        });
        let secs = |s| Some(Duration::from_secs(s));
        let runs = Runs::default();
        runs.store(&timed_out, Some(&dir), secs(2));
        for (label, memory) in [("memory", &runs), ("disk", &Runs::default())] {
            assert!(
                memory
                    .lookup("t", Some(&dir), secs(2))
                    .is_some_and(|r| r.cached),
                "{label}: the same limit reuses the timeout"
            );
            assert!(
                memory.lookup("t", Some(&dir), secs(1)).is_some(),
                "{label}: a smaller one too"
            );
            assert!(
                memory.lookup("t", Some(&dir), secs(3)).is_none(),
                "{label}: a larger limit reruns"
            );
            assert!(
                memory.lookup("t", Some(&dir), None).is_none(),
                "{label}: no cap reruns"
            );
        }
        let _ = std::fs::remove_dir_all(&dir);
    }
}
