//! Harness shared by the client-interop integration tests.
//!
//! Every scenario runs against two servers: Debian's `gearmand` 1.1.20 (the oracle) and our
//! `gearboxd`. The harness starts either one on 127.0.0.1 with a kernel-chosen port, runs real,
//! independently written Gearman clients against it (the PECL `gearman` extension for PHP, the
//! CPAN `Gearman::Client`/`Gearman::Worker` for Perl, and the `gearman`/`gearadmin` tools) and
//! captures their output.
//!
//! Rules the helpers enforce:
//! * every wait is bounded in time; an external program that hangs is killed and reported;
//! * everything talks to 127.0.0.1 only, never to a fixed port;
//! * a missing tool skips the test locally but fails it when `CI=true`.
//!
//! Set `GEARBOX_TEST_KEEP=1` to keep the temporary directories (server logs, program output)
//! under `target/tmp` after the test.

#![allow(dead_code)]

pub mod wire;

use std::collections::BTreeMap;
use std::fmt;
use std::fs::{self, File};
use std::io::{self, BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// The store delay of the `gearboxd_slow_store` variant of every scenario, in milliseconds.
pub const SLOW_STORE_MS: u64 = 15;

thread_local! {
    /// Set while a scenario runs in its slow-store variant: every gearboxd it starts gets
    /// `--store-delay-ms`.
    static SLOW_STORE: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Run `scenario` with every gearboxd it starts (on this thread) delaying each store
/// transaction by [`SLOW_STORE_MS`].
pub fn with_slow_store(scenario: impl FnOnce()) {
    struct Reset;
    impl Drop for Reset {
        fn drop(&mut self) {
            SLOW_STORE.with(|slow| slow.set(false));
        }
    }
    SLOW_STORE.with(|slow| slow.set(true));
    let _reset = Reset;
    scenario();
}

/// How long one external client, worker or tool may run before it is killed.
pub const PROC_TIMEOUT: Duration = Duration::from_secs(20);
/// How long to wait for a server to come up.
pub const START_TIMEOUT: Duration = Duration::from_secs(10);
/// How long to wait for a server-side state (admin `status` etc.) to be reached.
pub const STATE_TIMEOUT: Duration = Duration::from_secs(10);
/// Read/write timeout of the raw admin socket.
pub const ADMIN_IO_TIMEOUT: Duration = Duration::from_secs(5);

/// Expands to one module per scenario with a `gearmand`, a `gearboxd` and a
/// `gearboxd_slow_store` test, all calling the scenario function `fn name(kind: Kind)` defined
/// next to the macro call. The third runs gearboxd with every store transaction delayed by
/// [`SLOW_STORE_MS`], since a fast disk hides races between a commit and the traffic around it.
/// Test names read `<scenario>::gearmand` and `<scenario>::gearboxd`, so `cargo test
/// <scenario>` runs all three and `cargo test gearboxd` runs every scenario against our server
/// only.
macro_rules! both_servers {
    ($($name:ident),* $(,)?) => {
        $(
            mod $name {
                #[test]
                fn gearmand() {
                    if $crate::support::server_available($crate::support::Kind::Gearmand) {
                        super::$name($crate::support::Kind::Gearmand);
                    }
                }

                #[test]
                fn gearboxd() {
                    if $crate::support::server_available($crate::support::Kind::Gearboxd) {
                        super::$name($crate::support::Kind::Gearboxd);
                    }
                }

                #[test]
                fn gearboxd_slow_store() {
                    $crate::support::with_slow_store(|| super::$name($crate::support::Kind::Gearboxd));
                }
            }
        )*
    };
}

// ---------------------------------------------------------------------------------------------
// Tool discovery
// ---------------------------------------------------------------------------------------------

/// The `gearboxd` binary under test. Inside `gearbox-server` Cargo names it; the other crates of
/// the workspace include this harness with `#[path]` and find it beside their own test binary
/// (`target/<profile>/gearboxd`), building it once with cargo when it is not there yet.
pub fn gearboxd_bin() -> PathBuf {
    if let Some(path) = option_env!("CARGO_BIN_EXE_gearboxd") {
        return PathBuf::from(path);
    }
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    BUILT
        .get_or_init(|| {
            let exe = std::env::current_exe().expect("current_exe");
            // target/<profile>/deps/<test> -> target/<profile>
            let profile_dir = exe
                .parent()
                .and_then(Path::parent)
                .expect("test binary lives in target/<profile>/deps");
            let bin = profile_dir.join("gearboxd");
            if !bin.exists() {
                let release = profile_dir.file_name().is_some_and(|n| n == "release");
                let mut cargo = Command::new(std::env::var("CARGO").unwrap_or("cargo".into()));
                cargo.args(["build", "-p", "gearbox-server", "--bin", "gearboxd"]);
                if release {
                    cargo.arg("--release");
                }
                let status = cargo.status().expect("run cargo build for gearboxd");
                assert!(status.success(), "cargo build of gearboxd failed");
            }
            bin
        })
        .clone()
}

fn in_ci() -> bool {
    matches!(
        std::env::var("CI").as_deref(),
        Ok("true") | Ok("1") | Ok("TRUE") | Ok("True")
    )
}

/// Locates `tool` on `PATH` (plus `/usr/sbin` and `/sbin`, where Debian installs `gearmand` and
/// which are not on an unprivileged user's `PATH`).
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

/// Reports a missing prerequisite: panics in CI (tests must fail, not skip, there), otherwise
/// prints a skip notice. Always returns `false` so callers can `return`.
fn missing(what: &str) -> bool {
    if in_ci() {
        panic!(
            "required test prerequisite missing: {what} \
             (CI=true, so this is a failure, not a skip)"
        );
    }
    eprintln!("SKIPPED: {what} is not available; install it to run this test");
    false
}

/// True when the program `tool` can be found. When it cannot: panics if `CI=true`, otherwise
/// prints a skip notice and returns false (the caller then returns early).
pub fn require(tool: &str) -> bool {
    if which(tool).is_some() {
        true
    } else {
        missing(&format!("program `{tool}`"))
    }
}

fn cached_check(cache: &'static OnceLock<bool>, check: impl FnOnce() -> bool) -> bool {
    *cache.get_or_init(check)
}

/// `php` with the PECL `gearman` extension loaded.
pub fn require_php() -> bool {
    static OK: OnceLock<bool> = OnceLock::new();
    if !require("php") {
        return false;
    }
    let ok = cached_check(&OK, || {
        let mut c = Command::new("php");
        c.args(["-r", "exit(extension_loaded('gearman') ? 0 : 1);"]);
        run(c, Duration::from_secs(10)).success()
    });
    ok || missing("the PHP `gearman` extension (Debian package php-gearman)")
}

/// `perl` with `Gearman::Client` and `Gearman::Worker`.
pub fn require_perl() -> bool {
    static OK: OnceLock<bool> = OnceLock::new();
    if !require("perl") {
        return false;
    }
    let ok = cached_check(&OK, || {
        let mut c = Command::new("perl");
        c.args(["-MGearman::Client", "-MGearman::Worker", "-e", "1"]);
        run(c, Duration::from_secs(10)).success()
    });
    ok || missing("Perl modules Gearman::Client/Gearman::Worker (libgearman-client-perl)")
}

/// Whether a server of this kind can be started (gearboxd is always built by cargo).
pub fn server_available(kind: Kind) -> bool {
    match kind {
        Kind::Gearboxd => true,
        Kind::Gearmand => require("gearmand"),
    }
}

// ---------------------------------------------------------------------------------------------
// Temporary directories
// ---------------------------------------------------------------------------------------------

/// A private directory under `target/tmp`, removed on drop unless `GEARBOX_TEST_KEEP` is set.
pub struct TempDir {
    path: PathBuf,
}

impl TempDir {
    /// Creates a fresh, uniquely named directory.
    pub fn new(prefix: &str) -> TempDir {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let base = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("gearbox-it");
        fs::create_dir_all(&base).expect("create target/tmp/gearbox-it");
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

// ---------------------------------------------------------------------------------------------
// Servers
// ---------------------------------------------------------------------------------------------

/// Which server implementation a scenario runs against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Our server, built by cargo.
    Gearboxd,
    /// Debian's gearmand 1.1.20, the behavioural oracle.
    Gearmand,
}

impl Kind {
    /// Both kinds, oracle first.
    pub const ALL: [Kind; 2] = [Kind::Gearmand, Kind::Gearboxd];
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Kind::Gearboxd => "gearboxd",
            Kind::Gearmand => "gearmand",
        })
    }
}

/// A running job server on 127.0.0.1; killed when dropped.
pub struct Server {
    /// Where the server listens.
    pub addr: SocketAddr,
    /// Which implementation it is.
    pub kind: Kind,
    child: Child,
    log: PathBuf,
    dir: TempDir,
}

impl Server {
    /// Starts a server of `kind` with extra command-line arguments; panics (with the server's
    /// log) if it does not come up within [`START_TIMEOUT`].
    pub fn start(kind: Kind, extra_args: &[&str]) -> Server {
        match kind {
            Kind::Gearboxd => Self::start_gearboxd(extra_args),
            Kind::Gearmand => Self::start_gearmand(extra_args),
        }
    }

    fn start_gearboxd(extra_args: &[&str]) -> Server {
        let dir = TempDir::new("gearboxd");
        let ready = dir.join("ready");
        let log = dir.join("server.log");
        let mut cmd = Command::new(gearboxd_bin());
        // Each server gets its own job store; a test's own --data-dir or -q overrides it.
        cmd.args(["-L", "127.0.0.1", "-p", "0", "--ready-file"])
            .arg(&ready)
            .args(["-l", "stderr", "--data-dir"])
            .arg(dir.join("data"));
        if SLOW_STORE.with(|slow| slow.get()) {
            cmd.args(["--store-delay-ms", &SLOW_STORE_MS.to_string()]);
        }
        cmd.args(extra_args)
            // Relative paths (e.g. the default `gearbox-data` queue directory) stay private to
            // this server instead of being shared by every test running in parallel.
            .current_dir(dir.path())
            .stdin(Stdio::null())
            .stdout(File::create(dir.join("stdout.log")).expect("create stdout.log"))
            .stderr(File::create(&log).expect("create server.log"));
        let mut child = cmd.spawn().expect("spawn gearboxd");
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if let Ok(text) = fs::read_to_string(&ready) {
                if let Some(line) = text.strip_suffix('\n') {
                    let addr: SocketAddr = line.trim().parse().unwrap_or_else(|e| {
                        let _ = child.kill();
                        let _ = child.wait();
                        panic!("gearboxd wrote an unparsable ready file {text:?}: {e}")
                    });
                    return Server {
                        addr,
                        kind: Kind::Gearboxd,
                        child,
                        log,
                        dir,
                    };
                }
            }
            if let Ok(Some(status)) = child.try_wait() {
                panic!(
                    "gearboxd exited ({status}) before becoming ready; args {extra_args:?}\n\
                     --- log ---\n{}",
                    read_lossy(&log)
                );
            }
            if Instant::now() >= deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "gearboxd did not write its ready file within {START_TIMEOUT:?}\n\
                     --- log ---\n{}",
                    read_lossy(&log)
                );
            }
            thread::sleep(Duration::from_millis(20));
        }
    }

    fn start_gearmand(extra_args: &[&str]) -> Server {
        let exe = which("gearmand").expect("gearmand not found (call require(\"gearmand\") first)");
        let mut last_error = String::new();
        // The port is chosen by binding to port 0 and releasing it, so another process may grab
        // it in between; retry a few times with a fresh port.
        for attempt in 0..3 {
            let dir = TempDir::new("gearmand");
            let log = dir.join("gearmand.log");
            let port = free_port();
            let mut cmd = Command::new(&exe);
            cmd.args(["-L", "127.0.0.1", "-p", &port.to_string(), "-l"])
                .arg(&log)
                .args(["--verbose", "ERROR", "-P"])
                .arg(dir.join("gearmand.pid"))
                .args(extra_args)
                .current_dir(dir.path())
                .stdin(Stdio::null())
                .stdout(File::create(dir.join("stdout.log")).expect("create stdout.log"))
                .stderr(File::create(dir.join("stderr.log")).expect("create stderr.log"));
            let mut child = cmd.spawn().expect("spawn gearmand");
            let addr = SocketAddr::from(([127, 0, 0, 1], port));
            let deadline = Instant::now() + START_TIMEOUT;
            let outcome = loop {
                if let Ok(Some(status)) = child.try_wait() {
                    break Err(format!("gearmand exited ({status}) during startup"));
                }
                // Make sure the listener that answers is ours, not a squatter on the port.
                if let Ok(lines) = admin_command(addr, "getpid") {
                    if lines.first().map(String::as_str) == Some(&format!("OK {}", child.id())) {
                        break Ok(());
                    }
                    break Err(format!("port {port} answered getpid with {lines:?}"));
                }
                if Instant::now() >= deadline {
                    break Err(format!(
                        "gearmand not accepting connections after {START_TIMEOUT:?}"
                    ));
                }
                thread::sleep(Duration::from_millis(20));
            };
            match outcome {
                Ok(()) => {
                    return Server {
                        addr,
                        kind: Kind::Gearmand,
                        child,
                        log,
                        dir,
                    }
                }
                Err(e) => {
                    let _ = child.kill();
                    let _ = child.wait();
                    last_error = format!(
                        "attempt {attempt}: {e}\n--- log ---\n{}\n--- stderr ---\n{}",
                        read_lossy(&log),
                        read_lossy(&dir.join("stderr.log"))
                    );
                }
            }
        }
        panic!("could not start gearmand: {last_error}");
    }

    /// `"127.0.0.1"`.
    pub fn host(&self) -> String {
        self.addr.ip().to_string()
    }

    /// The listening port.
    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// Process id of the server.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The server's log so far (for failure messages).
    pub fn log(&self) -> String {
        read_lossy(&self.log)
    }

    /// A scratch directory that lives as long as the server.
    pub fn scratch(&self) -> &Path {
        self.dir.path()
    }

    /// Sends one admin text command on a fresh connection and returns the response lines
    /// (without the terminating `.` line). Panics on I/O errors or timeouts.
    pub fn admin(&self, command: &str) -> Vec<String> {
        admin_command(self.addr, command).unwrap_or_else(|e| {
            panic!(
                "[{}] admin command {command:?} failed: {e}\n--- server log ---\n{}",
                self.kind,
                self.log()
            )
        })
    }

    /// Parsed `status`: function → (total, running, available_workers).
    pub fn status(&self) -> BTreeMap<String, (u64, u64, u64)> {
        self.admin("status")
            .iter()
            .map(|line| {
                let f: Vec<&str> = line.split('\t').collect();
                assert_eq!(f.len(), 4, "[{}] malformed status line {line:?}", self.kind);
                let n = |s: &str| {
                    s.parse::<u64>()
                        .unwrap_or_else(|_| panic!("bad number in {line:?}"))
                };
                (f[0].to_string(), (n(f[1]), n(f[2]), n(f[3])))
            })
            .collect()
    }

    /// The `status` entry of one function, if listed.
    pub fn function_status(&self, function: &str) -> Option<(u64, u64, u64)> {
        self.status().get(function).copied()
    }

    /// Waits until `cond` holds for this server, polling every 20 ms; panics with `what`, the
    /// last `status` and the server log after [`STATE_TIMEOUT`].
    #[track_caller]
    pub fn wait_for(&self, what: &str, mut cond: impl FnMut(&Server) -> bool) {
        if !wait_until(STATE_TIMEOUT, || cond(self)) {
            panic!(
                "[{}] timed out after {STATE_TIMEOUT:?} waiting for {what}; status now {:?}\n\
                 --- server log ---\n{}",
                self.kind,
                self.admin("status"),
                self.log()
            );
        }
    }

    /// Waits until `status` shows exactly (total, running, workers) for `function`.
    #[track_caller]
    pub fn wait_status(&self, function: &str, expected: (u64, u64, u64)) {
        self.wait_for(&format!("status of {function} == {expected:?}"), |s| {
            s.function_status(function) == Some(expected)
        });
    }

    /// Waits until at least `n` workers are registered for `function`.
    #[track_caller]
    pub fn wait_workers(&self, function: &str, n: u64) {
        self.wait_for(&format!("{n} worker(s) registered for {function}"), |s| {
            s.function_status(function).is_some_and(|(_, _, w)| w >= n)
        });
    }

    /// Waits until `running` jobs of `function` are assigned to workers.
    #[track_caller]
    pub fn wait_running(&self, function: &str, running: u64) {
        self.wait_for(&format!("{running} running job(s) of {function}"), |s| {
            s.function_status(function)
                .is_some_and(|(_, r, _)| r == running)
        });
    }

    /// GET_STATUS_UNIQUE over a raw binary connection: the STATUS_RES_UNIQUE fields after the
    /// unique (known, running, numerator, denominator, waiting_clients).
    pub fn status_unique(&self, unique: &str) -> Vec<String> {
        get_status_unique(self.addr, unique).unwrap_or_else(|e| {
            panic!(
                "[{}] GET_STATUS_UNIQUE {unique:?} failed: {e}\n--- server log ---\n{}",
                self.kind,
                self.log()
            )
        })
    }

    /// Runs `gearadmin -h 127.0.0.1 -p PORT <args>`.
    pub fn gearadmin(&self, args: &[&str]) -> Output {
        let mut c = Command::new("gearadmin");
        c.args(["-h", &self.host(), "-p", &self.port().to_string()])
            .args(args);
        run(c, PROC_TIMEOUT)
    }

    /// `gearman -h 127.0.0.1 -p PORT <args>` as a command (not started).
    pub fn gearman_cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new("gearman");
        c.args(["-h", &self.host(), "-p", &self.port().to_string()])
            .args(args);
        c
    }

    /// Runs the `gearman` tool to completion.
    pub fn gearman(&self, args: &[&str]) -> Output {
        run(self.gearman_cmd(args), PROC_TIMEOUT)
    }

    /// Starts the `gearman` tool in the background.
    pub fn spawn_gearman(&self, args: &[&str]) -> Proc {
        Proc::spawn(self.gearman_cmd(args))
    }

    /// `php <tests/clients/php/script> 127.0.0.1 PORT <args>` as a command.
    pub fn php_cmd(&self, script: &str, args: &[&str]) -> Command {
        let mut c = Command::new("php");
        // Keep stdout for the script's own, deterministic output.
        c.args(["-d", "display_errors=stderr", "-d", "log_errors=0"])
            .arg(client_script("php", script))
            .arg(self.host())
            .arg(self.port().to_string())
            .args(args);
        c
    }

    /// Runs a PHP client script to completion.
    pub fn php(&self, script: &str, args: &[&str]) -> Output {
        run(self.php_cmd(script, args), PROC_TIMEOUT)
    }

    /// Starts a PHP script (typically a worker) in the background.
    pub fn spawn_php(&self, script: &str, args: &[&str]) -> Proc {
        Proc::spawn(self.php_cmd(script, args))
    }

    /// `perl -w <tests/clients/perl/script> 127.0.0.1 PORT <args>` as a command.
    pub fn perl_cmd(&self, script: &str, args: &[&str]) -> Command {
        let mut c = Command::new("perl");
        c.arg("-w")
            .arg(client_script("perl", script))
            .arg(self.host())
            .arg(self.port().to_string())
            .args(args);
        c
    }

    /// Runs a Perl client script to completion.
    pub fn perl(&self, script: &str, args: &[&str]) -> Output {
        run(self.perl_cmd(script, args), PROC_TIMEOUT)
    }

    /// Starts a Perl script (typically a worker) in the background.
    pub fn spawn_perl(&self, script: &str, args: &[&str]) -> Proc {
        Proc::spawn(self.perl_cmd(script, args))
    }
}

impl Server {
    /// Send SIGTERM (through `kill`: the tests use no libc).
    pub fn terminate(&self) {
        self.signal("TERM");
    }

    /// Send the signal `name` (`TERM`, `USR1`, …).
    pub fn signal(&self, name: &str) {
        let status = Command::new("kill")
            .args([&format!("-{name}"), &self.pid().to_string()])
            .status()
            .expect("running kill");
        assert!(status.success(), "kill -{name} {} failed", self.pid());
    }

    /// Wait at most `timeout` for the process to end; its exit status, if it did.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<std::process::ExitStatus> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                return Some(status);
            }
            if Instant::now() >= deadline {
                return None;
            }
            thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if thread::panicking() {
            eprintln!(
                "--- {} log ({}) ---\n{}",
                self.kind,
                self.log.display(),
                self.log()
            );
        }
    }
}

/// A port that was free a moment ago (bind to port 0, read it, release it).
pub fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    l.local_addr().expect("local_addr").port()
}

/// Path of a client script under `tests/clients/<lang>/`.
pub fn client_script(lang: &str, script: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/clients")
        .join(lang)
        .join(script)
}

// ---------------------------------------------------------------------------------------------
// Admin text protocol over a raw socket
// ---------------------------------------------------------------------------------------------

/// Sends one admin line on a fresh connection and reads the response: a single `OK…`/`ERR…`
/// line, or lines up to a line holding a single `.` (not included). Line ends are stripped.
pub fn admin_command(addr: SocketAddr, command: &str) -> io::Result<Vec<String>> {
    let stream = TcpStream::connect_timeout(&addr, ADMIN_IO_TIMEOUT)?;
    stream.set_read_timeout(Some(ADMIN_IO_TIMEOUT))?;
    stream.set_write_timeout(Some(ADMIN_IO_TIMEOUT))?;
    (&stream).write_all(format!("{command}\n").as_bytes())?;
    read_admin_response(&mut BufReader::new(stream))
}

/// Sends GET_STATUS_UNIQUE (type 41) on a fresh connection and returns the fields of the
/// STATUS_RES_UNIQUE (type 42) reply after the echoed unique.
pub fn get_status_unique(addr: SocketAddr, unique: &str) -> io::Result<Vec<String>> {
    use std::io::Read;
    let mut stream = TcpStream::connect_timeout(&addr, ADMIN_IO_TIMEOUT)?;
    stream.set_read_timeout(Some(ADMIN_IO_TIMEOUT))?;
    stream.set_write_timeout(Some(ADMIN_IO_TIMEOUT))?;
    let mut req = b"\0REQ".to_vec();
    req.extend_from_slice(&41u32.to_be_bytes());
    req.extend_from_slice(&(unique.len() as u32).to_be_bytes());
    req.extend_from_slice(unique.as_bytes());
    stream.write_all(&req)?;
    let mut head = [0u8; 12];
    stream.read_exact(&mut head)?;
    let kind = u32::from_be_bytes([head[4], head[5], head[6], head[7]]);
    let size = u32::from_be_bytes([head[8], head[9], head[10], head[11]]) as usize;
    let bad = |what: String| io::Error::new(io::ErrorKind::InvalidData, what);
    if &head[..4] != b"\0RES" || kind != 42 || size > 4096 {
        return Err(bad(format!("unexpected reply header {head:?}")));
    }
    let mut body = vec![0u8; size];
    stream.read_exact(&mut body)?;
    let fields: Vec<String> = body
        .split(|&b| b == 0)
        .map(|f| String::from_utf8_lossy(f).into_owned())
        .collect();
    if fields.len() != 6 || fields[0] != unique {
        return Err(bad(format!("malformed STATUS_RES_UNIQUE {fields:?}")));
    }
    Ok(fields[1..].to_vec())
}

/// Reads one admin response from `reader` (see [`admin_command`]).
pub fn read_admin_response(reader: &mut impl BufRead) -> io::Result<Vec<String>> {
    let mut lines = Vec::new();
    loop {
        let mut buf = Vec::new();
        if reader.read_until(b'\n', &mut buf)? == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!("connection closed after {lines:?}"),
            ));
        }
        let line = String::from_utf8_lossy(&buf)
            .trim_end_matches(['\n', '\r'])
            .to_string();
        let single =
            line == "OK" || line.starts_with("OK ") || line == "ERR" || line.starts_with("ERR ");
        if lines.is_empty() && single {
            lines.push(line);
            return Ok(lines);
        }
        if line == "." {
            return Ok(lines);
        }
        lines.push(line);
    }
}

// ---------------------------------------------------------------------------------------------
// External programs
// ---------------------------------------------------------------------------------------------

/// What an external program did.
#[derive(Debug, Clone)]
pub struct Output {
    /// The command line, for messages.
    pub what: String,
    /// Exit status (`None` only if it could not be collected).
    pub status: Option<ExitStatus>,
    /// Whether it was killed for running past its timeout.
    pub timed_out: bool,
    /// Captured standard output (lossy UTF-8).
    pub stdout: String,
    /// Captured standard error (lossy UTF-8).
    pub stderr: String,
}

impl Output {
    /// Exit code, if it exited normally.
    pub fn code(&self) -> Option<i32> {
        self.status.and_then(|s| s.code())
    }

    /// Exited with 0 in time.
    pub fn success(&self) -> bool {
        !self.timed_out && self.status.is_some_and(|s| s.success())
    }

    /// Stdout lines.
    pub fn lines(&self) -> Vec<String> {
        self.stdout.lines().map(str::to_string).collect()
    }

    /// Stdout lines, sorted.
    pub fn sorted_lines(&self) -> Vec<String> {
        let mut l = self.lines();
        l.sort();
        l
    }

    /// Panics (showing everything) unless the program exited with 0 in time.
    #[track_caller]
    pub fn assert_success(&self) -> &Self {
        assert!(self.success(), "program failed:\n{self}");
        self
    }

    /// Panics unless the program finished (any exit code) in time.
    #[track_caller]
    pub fn assert_finished(&self) -> &Self {
        assert!(
            !self.timed_out && self.status.is_some(),
            "program did not finish:\n{self}"
        );
        self
    }
}

impl fmt::Display for Output {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let status = match (self.timed_out, self.status) {
            (true, _) => "KILLED after timeout".to_string(),
            (false, Some(s)) => s.to_string(),
            (false, None) => "unknown".to_string(),
        };
        write!(
            f,
            "$ {}\n  status: {status}\n--- stdout ---\n{}--- stderr ---\n{}--- end ---",
            self.what, self.stdout, self.stderr
        )
    }
}

/// A program running in the background with stdout/stderr captured to files (so a lingering
/// grandchild holding the pipe can never block the test). Killed on drop.
pub struct Proc {
    child: Option<Child>,
    what: String,
    out: PathBuf,
    err: PathBuf,
    dir: TempDir,
    result: Option<Output>,
}

fn describe(cmd: &Command) -> String {
    let mut s = cmd.get_program().to_string_lossy().into_owned();
    for a in cmd.get_args() {
        s.push(' ');
        s.push_str(&a.to_string_lossy());
    }
    s
}

fn read_lossy(p: &Path) -> String {
    fs::read(p)
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_default()
}

impl Proc {
    /// Starts `cmd` with stdin from /dev/null.
    pub fn spawn(mut cmd: Command) -> Proc {
        let what = describe(&cmd);
        let dir = TempDir::new("proc");
        let out = dir.join("stdout");
        let err = dir.join("stderr");
        cmd.stdin(Stdio::null())
            .stdout(File::create(&out).expect("create stdout file"))
            .stderr(File::create(&err).expect("create stderr file"));
        let child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start `{what}`: {e}"));
        Proc {
            child: Some(child),
            what,
            out,
            err,
            dir,
            result: None,
        }
    }

    /// Stdout written so far.
    pub fn stdout_now(&self) -> String {
        read_lossy(&self.out)
    }

    /// Stderr written so far.
    pub fn stderr_now(&self) -> String {
        read_lossy(&self.err)
    }

    /// Whether it is still running.
    pub fn is_running(&mut self) -> bool {
        match self.child.as_mut() {
            Some(c) => matches!(c.try_wait(), Ok(None)),
            None => false,
        }
    }

    /// Waits (bounded) until stdout contains `needle`; false if it did not appear in time.
    pub fn wait_stdout_contains(&self, needle: &str, timeout: Duration) -> bool {
        wait_until(timeout, || self.stdout_now().contains(needle))
    }

    /// Waits up to `timeout` for the program to exit; kills it if it does not.
    pub fn wait(mut self, timeout: Duration) -> Output {
        self.finish(Some(timeout))
    }

    /// Kills the program (if still running) and returns what it printed.
    pub fn kill(mut self) -> Output {
        self.finish(None)
    }

    fn finish(&mut self, timeout: Option<Duration>) -> Output {
        if let Some(r) = &self.result {
            return r.clone();
        }
        let mut child = self.child.take().expect("child present");
        let mut timed_out = false;
        let status = match timeout {
            Some(t) => {
                let deadline = Instant::now() + t;
                loop {
                    match child.try_wait() {
                        Ok(Some(s)) => break Some(s),
                        Ok(None) if Instant::now() < deadline => {
                            thread::sleep(Duration::from_millis(10))
                        }
                        Ok(None) => {
                            timed_out = true;
                            let _ = child.kill();
                            break child.wait().ok();
                        }
                        Err(_) => break None,
                    }
                }
            }
            None => {
                let _ = child.kill();
                child.wait().ok()
            }
        };
        let out = Output {
            what: self.what.clone(),
            status,
            timed_out,
            stdout: read_lossy(&self.out),
            stderr: read_lossy(&self.err),
        };
        self.result = Some(out.clone());
        out
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        let _ = &self.dir;
    }
}

/// Runs `cmd` to completion, killing it after `timeout`.
pub fn run(cmd: Command, timeout: Duration) -> Output {
    Proc::spawn(cmd).wait(timeout)
}

/// Polls `cond` every 20 ms until it holds or `timeout` passes; returns whether it held.
pub fn wait_until(timeout: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if cond() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        thread::sleep(Duration::from_millis(20));
    }
}

/// Sorted copy of some lines (for admin output whose order is unspecified).
pub fn sorted<S: AsRef<str>>(lines: &[S]) -> Vec<String> {
    let mut v: Vec<String> = lines.iter().map(|s| s.as_ref().to_string()).collect();
    v.sort();
    v
}

/// Owned strings from string literals, for comparisons.
pub fn strings(lines: &[&str]) -> Vec<String> {
    lines.iter().map(|s| s.to_string()).collect()
}

/// A gate file a test worker waits for: the worker blocks (bounded) until the test opens it.
pub struct Gate {
    path: PathBuf,
    _dir: TempDir,
}

impl Gate {
    /// A new, closed gate.
    pub fn new() -> Gate {
        let dir = TempDir::new("gate");
        Gate {
            path: dir.join("open"),
            _dir: dir,
        }
    }

    /// Path to pass to a worker script.
    pub fn path(&self) -> String {
        self.path.to_string_lossy().into_owned()
    }

    /// Opens the gate.
    pub fn open(&self) {
        fs::write(&self.path, b"open").expect("open gate");
    }
}

impl Default for Gate {
    fn default() -> Self {
        Gate::new()
    }
}

/// Asserts that the program exited with 0 in time and printed exactly `expected` on stdout.
#[track_caller]
pub fn assert_lines(kind: Kind, out: &Output, expected: &[&str]) {
    assert!(out.success(), "[{kind}] program failed:\n{out}");
    assert_eq!(
        out.lines(),
        strings(expected),
        "[{kind}] unexpected stdout:\n{out}"
    );
}

/// The value after `prefix` on the first stdout line starting with it (e.g. `"HANDLE x "`).
#[track_caller]
pub fn field_after(out: &Output, prefix: &str) -> String {
    out.stdout
        .lines()
        .find_map(|l| l.strip_prefix(prefix))
        .map(str::to_string)
        .unwrap_or_else(|| panic!("no stdout line starting with {prefix:?}:\n{out}"))
}

/// Stdout lines that do not start with `prefix`.
pub fn lines_without(out: &Output, prefix: &str) -> Vec<String> {
    out.stdout
        .lines()
        .filter(|l| !l.starts_with(prefix))
        .map(str::to_string)
        .collect()
}
