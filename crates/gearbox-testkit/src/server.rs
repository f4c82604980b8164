//! Job servers as separate processes: our `gearboxd` and Debian's `gearmand` on 127.0.0.1,
//! started on a free port with a private directory, polled through the admin protocol, and
//! used to spawn the real Gearman clients (PHP, Perl, `gearman`, `gearadmin`) against them.
//!
//! A [`Server`] is killed when dropped and prints its log if the test is panicking. Nothing
//! here may leave a server running, share a directory between servers, or wait without a
//! deadline. Which gearboxd binary runs is decided by [`gearboxd_bin`].

use std::collections::BTreeMap;
use std::fmt;
use std::fs::{self, File};
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::thread;
use std::time::{Duration, Instant};

use crate::admin::{admin_command, get_status_unique};
use crate::env::{client_script, profile_dir, require, which};
use crate::procs::{read_lossy, run, wait_until, Output, Proc, PROC_TIMEOUT};
use crate::tempdir::TempDir;

/// The store delay of the `gearboxd_slow_store` variant of every scenario, in milliseconds.
pub const SLOW_STORE_MS: u64 = 15;

thread_local! {
    /// Set while a scenario runs in its slow-store variant: every gearboxd it starts gets
    /// `--store-delay-ms`.
    static SLOW_STORE: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Run `scenario` with every gearboxd it starts on this thread delaying each store transaction
/// by [`SLOW_STORE_MS`]: processes get `--store-delay-ms`, and an in-process server with a
/// SQLite store ([`crate::start_server`]) gets the same delay unless its options set one.
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

/// How long to wait for a server to come up.
pub const START_TIMEOUT: Duration = Duration::from_secs(10);
/// How long to wait for a server-side state (admin `status` etc.) to be reached.
pub const STATE_TIMEOUT: Duration = Duration::from_secs(10);

/// Whether [`with_slow_store`] is in effect on this thread.
pub(crate) fn slow_store_active() -> bool {
    SLOW_STORE.with(|slow| slow.get())
}

/// The `gearboxd` binary under test: `target/<profile>/gearboxd` beside the running test
/// executable (`target/<profile>/deps/<test>`), built once per test process with
/// `cargo build -p gearbox-server --bin gearboxd` (same profile) when it is not there yet.
///
/// The same rule serves every crate. `CARGO_BIN_EXE_gearboxd` cannot be used here: Cargo sets
/// it only while compiling gearbox-server's own integration tests, not while compiling this
/// kit. Inside gearbox-server's tests Cargo has just built the binary at that very path, so it
/// is current; elsewhere it is the one the last build of gearbox-server left there (run
/// `cargo build -p gearbox-server` after changing the server). Cross-compiled layouts
/// (`target/<triple>/<profile>`) are not supported.
pub fn gearboxd_bin() -> PathBuf {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    BUILT
        .get_or_init(|| built_bin("gearbox-server", "gearboxd"))
        .clone()
}

/// The `gearbox` command under test, found or built by the rule of [`gearboxd_bin`] (from
/// `gearbox-cli`), for the server crate's tests that drive it.
pub fn gearbox_bin() -> PathBuf {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    BUILT
        .get_or_init(|| built_bin("gearbox-cli", "gearbox"))
        .clone()
}

/// `target/<profile>/<bin>`, built with `cargo build -p <package> --bin <bin>` (same profile)
/// when it is not there yet.
fn built_bin(package: &str, bin: &str) -> PathBuf {
    let profile_dir = profile_dir();
    let path = profile_dir.join(bin);
    if !path.exists() {
        let mut cargo = Command::new(std::env::var("CARGO").unwrap_or("cargo".into()));
        cargo.args(["build", "-p", package, "--bin", bin]);
        // `target/debug` is the `dev` profile; every other directory is named after its
        // profile.
        match profile_dir.file_name().and_then(|n| n.to_str()) {
            Some("debug") | None => {}
            Some(profile) => {
                cargo.args(["--profile", profile]);
            }
        }
        let status = cargo
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .status()
            .unwrap_or_else(|e| panic!("run cargo build for {bin}: {e}"));
        assert!(status.success(), "cargo build of {bin} failed");
        assert!(path.exists(), "cargo did not build {}", path.display());
    }
    path
}

/// Whether a server of this kind can be started (gearboxd is always built by cargo).
pub fn server_available(kind: Kind) -> bool {
    match kind {
        Kind::Gearboxd => true,
        Kind::Gearmand => require("gearmand"),
    }
}

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
    /// Its HTTP listeners (gearboxd `--http-listen`), in the order given.
    pub http: Vec<SocketAddr>,
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
        if slow_store_active() {
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
                if text.ends_with('\n') {
                    // The job listener's address, then `http ADDR` per HTTP listener.
                    let mut lines = text.lines();
                    let parsed = lines.next().and_then(|l| l.trim().parse().ok()).and_then(
                        |addr: SocketAddr| {
                            let http: Option<Vec<SocketAddr>> = lines
                                .map(|l| l.strip_prefix("http ")?.trim().parse().ok())
                                .collect();
                            Some((addr, http?))
                        },
                    );
                    let Some((addr, http)) = parsed else {
                        let _ = child.kill();
                        let _ = child.wait();
                        panic!("gearboxd wrote an unparsable ready file {text:?}")
                    };
                    return Server {
                        addr,
                        http,
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
                        http: Vec::new(),
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

    /// `php <kit clients/php/script> 127.0.0.1 PORT <args>` as a command.
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

    /// `perl -w <kit clients/perl/script> 127.0.0.1 PORT <args>` as a command.
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
