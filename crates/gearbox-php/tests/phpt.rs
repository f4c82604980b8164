//! The `.phpt` suite in `tests/phpt`, run by PHP's own `run-tests.php` twice: with Debian's
//! PECL gearman (over libgearman) against gearmand, the oracle that the expected outputs were
//! taken from, and with this extension (`-n`, so PECL's is not loaded) against gearboxd, in its
//! default durable mode and with a slowed store. A PECL PHP worker serves `reverse` and `cb`;
//! the worker tests fork their own (`pcntl`, built into Debian's PHP CLI). Tests of where
//! Gearbox departs from PECL on purpose (docs/compatibility.md) skip in the oracle run.
//!
//! The extension is built by a nested `cargo build` in this test's profile (`cargo test` does
//! not build a cdylib by itself). Missing PHP, php-dev or gearmand skip locally and fail in CI.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::Duration;

use gearbox_testkit::pki::Pki;
use gearbox_testkit::{
    profile_dir, require, require_php, run, server_available, with_slow_store, Kind, Server,
    TempDir,
};

/// The extension, built once per test run.
fn extension() -> PathBuf {
    static BUILT: OnceLock<()> = OnceLock::new();
    BUILT.get_or_init(|| {
        let mut cmd = Command::new(env!("CARGO"));
        cmd.args(["build", "--quiet", "-p", "gearbox-php", "--lib"])
            .current_dir(env!("CARGO_MANIFEST_DIR"));
        if !cfg!(debug_assertions) {
            cmd.arg("--release");
        }
        let status = cmd.status().expect("running cargo build");
        assert!(status.success(), "building the extension failed");
    });
    profile_dir().join("libgearman_rs.so")
}

/// PHP's test runner, shipped with php-dev.
fn run_tests_php() -> Option<PathBuf> {
    let out = Command::new("php")
        .args(["-r", "echo PHP_EXTENSION_DIR;"])
        .output()
        .ok()?;
    let dir = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
    let path = dir.join("build").join("run-tests.php");
    path.exists().then_some(path)
}

/// The suite copied to a scratch directory, where run-tests.php writes its `.out` and `.diff`.
fn suite_copy() -> TempDir {
    let dir = TempDir::new("phpt");
    let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/phpt");
    for entry in std::fs::read_dir(&source).expect("reading tests/phpt") {
        let path = entry.expect("a directory entry").path();
        if let Some(name) = path.file_name() {
            std::fs::copy(&path, dir.join(&name.to_string_lossy())).expect("copying a test");
        }
    }
    dir
}

/// A second gearboxd, serving TLS only with a test CA, for `gearbox_ssl.phpt`.
struct TlsServer {
    server: Server,
    pki: Pki,
}

impl TlsServer {
    fn start() -> TlsServer {
        let pki = Pki::new("php");
        let cert = pki.server.cert.to_string_lossy().into_owned();
        let key = pki.server.key.to_string_lossy().into_owned();
        let server = Server::start(
            Kind::Gearboxd,
            &["--ssl", "--ssl-certificate", &cert, "--ssl-key", &key],
        );
        TlsServer { server, pki }
    }

    /// What the tests read to find it.
    fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("GEARMAN_TEST_SSL_PORT", self.server.port().to_string()),
            (
                "GEARMAN_TEST_SSL_CA",
                self.pki.ca().to_string_lossy().into_owned(),
            ),
        ]
    }
}

/// Run the suite against `server` with `php_args` (the extension to load) and `env`, and
/// require every test to pass.
fn run_suite(
    server: &Server,
    php_args: &[&str],
    env: &[(&str, String)],
    implementation: &str,
    label: &str,
) {
    let Some(runner) = run_tests_php() else {
        assert!(
            !gearbox_testkit::in_ci(),
            "run-tests.php (php-dev) is missing in CI"
        );
        eprintln!("SKIPPED: run-tests.php not found (install php-dev)");
        return;
    };
    let worker = server.spawn_php(
        "worker.php",
        &[
            "--fn",
            "reverse:reverse",
            "--fn",
            "cb:callbacks",
            "--idle",
            "60000",
        ],
    );
    server.wait_workers("reverse", 1);
    let dir = suite_copy();
    let php = gearbox_testkit::which("php").expect("php");
    let mut cmd = Command::new(&php);
    cmd.arg("-n")
        .arg(&runner)
        .args(["-q", "--show-diff"])
        .args(php_args)
        .arg(dir.path())
        .env("TEST_PHP_EXECUTABLE", &php)
        .env("GEARMAN_TEST_HOST", server.host())
        .env("GEARMAN_TEST_PORT", server.port().to_string())
        // Tests of where Gearbox departs from PECL on purpose skip unless it is Gearbox.
        .env("GEARMAN_TEST_IMPL", implementation)
        .env("NO_INTERACTION", "1")
        .envs(env.iter().map(|(k, v)| (k, v)));
    let out = run(cmd, Duration::from_secs(300));
    let text = format!("{}\n{}", out.stdout, out.stderr);
    // The summary's count, not the per-test lines: a test's title may say FAIL.
    let failed = summary_count(&text, "Tests failed") > 0 || text.contains("FAILED TEST SUMMARY");
    assert!(
        text.contains("Tests passed") && !failed && out.success(),
        "[{label}] the phpt suite failed:\n{text}"
    );
    // Only the tests of Gearbox's own behaviour may skip, and only in the oracle run.
    let gearbox_only = suite_files()
        .iter()
        .filter(|name| name.starts_with("gearbox_"))
        .count();
    let expected_skips = if implementation == "gearbox" {
        0
    } else {
        gearbox_only
    };
    assert_eq!(
        summary_count(&text, "Tests skipped"),
        expected_skips,
        "[{label}] unexpected skips:\n{text}"
    );
    assert_eq!(
        summary_count(&text, "Tests passed"),
        suite_files().len() - expected_skips,
        "[{label}] not every test ran:\n{text}"
    );
    drop(worker.kill());
}

/// The `.phpt` files of the suite.
fn suite_files() -> Vec<String> {
    let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/phpt");
    let mut names: Vec<String> = std::fs::read_dir(source)
        .expect("reading tests/phpt")
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|name| name.ends_with(".phpt"))
        .collect();
    names.sort();
    names
}

/// A count from run-tests.php's summary (`Tests passed    :   12 ( 92.3%) …`); 0 if absent.
fn summary_count(text: &str, label: &str) -> usize {
    text.lines()
        .find_map(|line| line.strip_prefix(label))
        .and_then(|rest| {
            rest.trim_start_matches([' ', ':'])
                .split_whitespace()
                .next()
        })
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

#[test]
fn pecl_against_gearmand_is_the_oracle() {
    if !require_php() || !server_available(Kind::Gearmand) {
        return;
    }
    // Not used here, but built first: the other runs build it, and a build taking both cores
    // while this suite runs made its timing-sensitive parts time out.
    extension();
    let server = Server::start(Kind::Gearmand, &[]);
    run_suite(&server, &[], &[], "pecl", "PECL gearman + gearmand");
}

#[test]
fn this_extension_against_gearboxd() {
    if !require_php() || !require("php-config") {
        return;
    }
    let ext = extension();
    let load = format!("extension={}", ext.display());
    let server = Server::start(Kind::Gearboxd, &[]);
    let tls = TlsServer::start();
    run_suite(
        &server,
        &["-n", "-d", &load],
        &tls.env(),
        "gearbox",
        "gearman_rs + gearboxd",
    );
}

#[test]
fn this_extension_against_gearboxd_with_a_slow_store() {
    if !require_php() || !require("php-config") {
        return;
    }
    let ext = extension();
    let load = format!("extension={}", ext.display());
    with_slow_store(|| {
        let server = Server::start(Kind::Gearboxd, &[]);
        let tls = TlsServer::start();
        run_suite(
            &server,
            &["-n", "-d", &load],
            &tls.env(),
            "gearbox",
            "gearman_rs + gearboxd, slow store",
        );
    });
}
