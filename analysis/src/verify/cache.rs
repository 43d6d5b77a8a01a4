//! The result cache: one JSON file per contract run, named by its cache key (a sha256 of
//! everything the result depends on, see `prepare`). A run is reused only when every input of
//! it is byte-identical.
//!
//! The run's time limit (tl.toml `timeout`, capping every search) is not part of the key: a
//! decided result stays true whatever time a rerun would get. A run in which a method timed out
//! is stored with the limit it ran under and reused only by a run with the same or a smaller
//! limit (it would time out again); a larger limit misses, so the search gets its chance. A
//! reused timeout is still a timeout (the stored verdicts are returned as they are), marked
//! `cached` like every other reused run.

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::ContractRun;

/// The time limit a run had: tl.toml `timeout` (`VerifyOptions::timeout`), which caps every
/// method's own timeout. No cap is the largest limit.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Limit {
    /// Every method ran with its own timeout.
    Uncapped,
    /// Every search was capped at this many milliseconds.
    CappedMs(u64),
}

impl Limit {
    pub fn of(cap: Option<Duration>) -> Limit {
        match cap {
            None => Limit::Uncapped,
            Some(d) => Limit::CappedMs(d.as_millis().min(u64::MAX as u128) as u64),
        }
    }

    /// Whether a run with this limit has at most the time of one with `other`.
    pub fn at_most(self, other: Limit) -> bool {
        match (self, other) {
            (_, Limit::Uncapped) => true,
            (Limit::Uncapped, Limit::CappedMs(_)) => false,
            (Limit::CappedMs(a), Limit::CappedMs(b)) => a <= b,
        }
    }
}

/// One cache file: the run, and for a run that timed out the limit it had.
#[derive(serde::Serialize, serde::Deserialize)]
struct Stored {
    #[serde(flatten)]
    run: ContractRun,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    timed_out_under: Option<Limit>,
}

pub struct ResultCache {
    dir: PathBuf,
}

impl ResultCache {
    pub fn new(dir: impl Into<PathBuf>) -> ResultCache {
        ResultCache { dir: dir.into() }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn path(&self, key: &str) -> PathBuf {
        self.dir.join(format!("{key}.json"))
    }

    /// The stored run for `key` for a run without a cap ([`ResultCache::get_within`] with
    /// `None`).
    pub fn get(&self, key: &str) -> Option<ContractRun> {
        self.get_within(key, None)
    }

    /// The stored run for `key` for a run whose searches are capped at `cap`: a decided (or
    /// otherwise finished) run always, a timed-out one only when it had at least this much time.
    /// A missing, unreadable or outdated file is a miss.
    pub fn get_within(&self, key: &str, cap: Option<Duration>) -> Option<ContractRun> {
        let text = std::fs::read_to_string(self.path(key)).ok()?;
        let stored: Stored = serde_json::from_str(&text).ok()?;
        let mut run = stored.run;
        if run.cache_key != key {
            return None;
        }
        if run.timed_out() {
            // A timed-out run without its limit (never written so) cannot be trusted to repeat.
            let had = stored.timed_out_under?;
            if !Limit::of(cap).at_most(had) {
                return None;
            }
        }
        run.cached = true;
        Some(run)
    }

    /// Stores a run whose limit is not known: a run that timed out is not stored (a rerun with
    /// more time may decide it).
    pub fn put(&self, run: &ContractRun) -> std::io::Result<()> {
        if run.timed_out() {
            return Ok(());
        }
        self.write(run, None)
    }

    /// Stores a run made with searches capped at `cap` (tl.toml `timeout`); a run that timed
    /// out is stored with that limit.
    pub fn put_within(&self, run: &ContractRun, cap: Option<Duration>) -> std::io::Result<()> {
        let limit = run.timed_out().then(|| Limit::of(cap));
        self.write(run, limit)
    }

    /// Written to a temporary file and renamed, so readers never see half a file.
    fn write(&self, run: &ContractRun, timed_out_under: Option<Limit>) -> std::io::Result<()> {
        std::fs::create_dir_all(&self.dir)?;
        let mut stored = Stored {
            run: run.clone(),
            timed_out_under,
        };
        stored.run.cached = false;
        let text = serde_json::to_string_pretty(&stored).map_err(std::io::Error::other)?;
        let tmp = self
            .dir
            .join(format!(".{}.{}.tmp", run.cache_key, std::process::id()));
        std::fs::write(&tmp, text)?;
        std::fs::rename(&tmp, self.path(&run.cache_key))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::outcome::{ContractOutcome, MethodOutcome, Status, Verdict};

    fn run(key: &str, verdict: Verdict) -> ContractRun {
        let status = match verdict {
            Verdict::Holds => Status::Checked,
            _ => Status::Uncovered,
        };
        ContractRun {
            outcome: ContractOutcome {
                contract: "c".into(),
                file: PathBuf::from("spec.tl"),
                methods: vec![MethodOutcome {
                    method: "bab".into(),
                    verdict,
                    grants: Status::Checked,
                    millis: 30_000,
                    detail: "no answer within 30000 ms".into(),
                }],
                index_maps: Vec::new(),
            },
            kind: "robustness".into(),
            evidence_status: status,
            status,
            rests_on: vec![],
            execute_on: None,
            millis: 30_000,
            cache_key: key.into(),
            cached: false,
        }
    }

    fn dir(tag: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("tl-cache-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        d
    }

    const S: fn(u64) -> Option<Duration> = |s| Some(Duration::from_secs(s));

    #[test]
    fn a_timeout_is_reused_within_its_limit_and_rerun_when_the_limit_grows() {
        let d = dir("timeout");
        let cache = ResultCache::new(&d);
        let t = run("k1", Verdict::Timeout);
        cache.put_within(&t, S(30)).unwrap();
        for cap in [S(30), S(10), Some(Duration::ZERO)] {
            let back = cache
                .get_within("k1", cap)
                .expect("the same or a smaller limit");
            assert!(back.cached);
            // Still a timeout, still unknown: the cache adds nothing but the mark.
            assert_eq!(back.outcome.methods[0].verdict, Verdict::Timeout);
            assert_eq!(back.status, Status::Uncovered);
            assert_eq!(back.outcome, t.outcome);
        }
        assert!(
            cache.get_within("k1", S(31)).is_none(),
            "a larger limit reruns"
        );
        assert!(
            cache.get_within("k1", None).is_none(),
            "no cap is the largest limit"
        );
        assert!(cache.get("k1").is_none());
        // A timeout without a cap serves every limit.
        let u = run("k2", Verdict::Timeout);
        cache.put_within(&u, None).unwrap();
        assert!(cache.get("k2").is_some());
        assert!(cache.get_within("k2", S(1)).is_some());
        // A rerun that decided replaces it, and a decided run serves any limit.
        cache.put_within(&run("k1", Verdict::Holds), S(60)).unwrap();
        for cap in [None, S(1), S(600)] {
            let back = cache.get_within("k1", cap).unwrap();
            assert_eq!(back.outcome.methods[0].verdict, Verdict::Holds);
        }
        let _ = std::fs::remove_dir_all(d);
    }

    #[test]
    fn put_without_a_limit_still_stores_no_timeout_and_old_files_read_back() {
        let d = dir("nolimit");
        let cache = ResultCache::new(&d);
        cache.put(&run("k3", Verdict::Timeout)).unwrap();
        assert!(cache.get_within("k3", Some(Duration::ZERO)).is_none());
        // A file written as a bare ContractRun (before limits were stored) reads back; a
        // timed-out one without its limit is a miss.
        std::fs::create_dir_all(&d).unwrap();
        let bare = run("k4", Verdict::Holds);
        std::fs::write(d.join("k4.json"), serde_json::to_string(&bare).unwrap()).unwrap();
        assert_eq!(cache.get("k4").unwrap().outcome, bare.outcome);
        let bare_t = run("k5", Verdict::Timeout);
        std::fs::write(d.join("k5.json"), serde_json::to_string(&bare_t).unwrap()).unwrap();
        assert!(cache.get_within("k5", Some(Duration::ZERO)).is_none());
        // A file under another key's name is a miss.
        std::fs::copy(d.join("k4.json"), d.join("k6.json")).unwrap();
        assert!(cache.get("k6").is_none());
        let _ = std::fs::remove_dir_all(d);
    }
}
