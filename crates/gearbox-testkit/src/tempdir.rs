//! Private temporary directories under `target/tmp/gearbox-it`.
//!
//! Each [`TempDir`] is unique to one test (process id, counter and clock in its name) and is
//! removed on drop unless `GEARBOX_TEST_KEEP` is set. Nothing here may write outside the
//! workspace's `target` directory, and no two tests may share a directory.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use crate::env::profile_dir;

/// A private directory under `target/tmp`, removed on drop unless `GEARBOX_TEST_KEEP` is set.
pub struct TempDir {
    path: PathBuf,
}

/// `target/tmp/gearbox-it`: the test executable lives in `target/<profile>/deps`, and
/// `target/tmp` is where Cargo points integration tests (`CARGO_TARGET_TMPDIR`, which is not
/// set when a library such as this kit is compiled).
fn base() -> PathBuf {
    let profile = profile_dir();
    let target = profile.parent().unwrap_or(&profile);
    target.join("tmp").join("gearbox-it")
}

impl TempDir {
    /// Creates a fresh, uniquely named directory whose name starts with `prefix`.
    pub fn new(prefix: &str) -> TempDir {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let base = base();
        fs::create_dir_all(&base).unwrap_or_else(|e| panic!("create {}: {e}", base.display()));
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let path = base.join(format!(
            "{prefix}-{}-{n}-{}",
            std::process::id(),
            nanos % 1_000_000_000
        ));
        fs::create_dir_all(&path).expect("create temp dir");
        TempDir { path }
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// A path inside the directory.
    pub fn join(&self, name: &str) -> PathBuf {
        self.path.join(name)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        if std::env::var_os("GEARBOX_TEST_KEEP").is_none() {
            let _ = fs::remove_dir_all(&self.path);
        }
    }
}
