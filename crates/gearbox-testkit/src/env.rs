//! The test environment: whether this is CI, where programs and the client scripts are, and
//! what happens when a prerequisite is missing.
//!
//! This module owns the one rule for reading `CI` ([`in_ci`]); no other code, in the kit or in
//! a test, may read that variable. A missing prerequisite never passes silently: it panics in
//! CI and prints a `SKIPPED:` notice otherwise ([`require`] and friends return `false` so the
//! caller can return early).

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::Duration;

use crate::procs::run;

/// Whether this run is CI (`CI` set to `true`, `1`, `TRUE` or `True`): there, a missing tool or
/// service fails the test instead of skipping it.
pub fn in_ci() -> bool {
    matches!(
        std::env::var("CI").as_deref(),
        Ok("true") | Ok("1") | Ok("TRUE") | Ok("True")
    )
}

/// Locates `tool` on `PATH` (plus `/usr/sbin` and `/sbin`, where Debian installs `gearmand` and
/// which are not on an unprivileged user's `PATH`). A name with a `/` is checked as given.
pub fn which(tool: &str) -> Option<PathBuf> {
    if tool.contains('/') {
        let p = PathBuf::from(tool);
        return is_executable(&p).then_some(p);
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain([PathBuf::from("/usr/sbin"), PathBuf::from("/sbin")])
        .map(|dir| dir.join(tool))
        .find(|p| is_executable(p))
}

fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    fs::metadata(p)
        .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        .unwrap_or(false)
}

/// Reports a missing prerequisite `what`: panics in CI (tests must fail, not skip, there),
/// otherwise prints a skip notice. Always returns `false` so callers can `return`.
pub fn missing(what: &str) -> bool {
    if in_ci() {
        panic!(
            "required test prerequisite missing: {what} \
             (CI=true, so this is a failure, not a skip)"
        );
    }
    eprintln!("SKIPPED: {what} is not available; install it to run this test");
    false
}

/// True when the program `tool` can be found ([`which`]). When it cannot: panics in CI,
/// otherwise prints a skip notice and returns false (the caller then returns early).
pub fn require(tool: &str) -> bool {
    if which(tool).is_some() {
        true
    } else {
        missing(&format!("program `{tool}`"))
    }
}

/// `php` with the PECL `gearman` extension loaded, as [`require`] reports it.
pub fn require_php() -> bool {
    static OK: OnceLock<bool> = OnceLock::new();
    if !require("php") {
        return false;
    }
    let ok = *OK.get_or_init(|| {
        let mut c = Command::new("php");
        c.args(["-r", "exit(extension_loaded('gearman') ? 0 : 1);"]);
        run(c, Duration::from_secs(10)).success()
    });
    ok || missing("the PHP `gearman` extension (Debian package php-gearman)")
}

/// `perl` with `Gearman::Client` and `Gearman::Worker`, as [`require`] reports it.
pub fn require_perl() -> bool {
    static OK: OnceLock<bool> = OnceLock::new();
    if !require("perl") {
        return false;
    }
    let ok = *OK.get_or_init(|| {
        let mut c = Command::new("perl");
        c.args(["-MGearman::Client", "-MGearman::Worker", "-e", "1"]);
        run(c, Duration::from_secs(10)).success()
    });
    ok || missing("Perl modules Gearman::Client/Gearman::Worker (libgearman-client-perl)")
}

/// Path of a client script: `clients/<lang>/<script>` in this crate (`lang` is `php` or
/// `perl`).
pub fn client_script(lang: &str, script: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("clients")
        .join(lang)
        .join(script)
}

/// `target/<profile>` of the running test executable (`target/<profile>/deps/<test>`), where
/// Cargo puts the workspace's binaries.
pub fn profile_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("current_exe");
    exe.parent()
        .and_then(Path::parent)
        .unwrap_or_else(|| {
            panic!(
                "test executable {} is not in target/<profile>/deps",
                exe.display()
            )
        })
        .to_path_buf()
}
