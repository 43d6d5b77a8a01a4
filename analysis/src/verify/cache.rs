//! The result cache: one JSON file per contract run, named by its cache key (a sha256 of
//! everything the result depends on, see `prepare`). A run is reused only when every input of
//! it is byte-identical; runs that timed out are not stored (a faster machine may decide them).

use std::path::{Path, PathBuf};

use super::ContractRun;

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

    /// The stored run for `key`; a missing, unreadable or outdated file is a miss.
    pub fn get(&self, key: &str) -> Option<ContractRun> {
        let text = std::fs::read_to_string(self.path(key)).ok()?;
        let mut run: ContractRun = serde_json::from_str(&text).ok()?;
        if run.cache_key != key {
            return None;
        }
        run.cached = true;
        Some(run)
    }

    /// Stores a run (written to a temporary file and renamed, so readers never see half a file).
    pub fn put(&self, run: &ContractRun) -> std::io::Result<()> {
        if run.timed_out() {
            return Ok(());
        }
        std::fs::create_dir_all(&self.dir)?;
        let mut stored = run.clone();
        stored.cached = false;
        let text = serde_json::to_string_pretty(&stored).map_err(std::io::Error::other)?;
        let tmp = self
            .dir
            .join(format!(".{}.{}.tmp", run.cache_key, std::process::id()));
        std::fs::write(&tmp, text)?;
        std::fs::rename(&tmp, self.path(&run.cache_key))
    }
}
