//! Running the `gearbox` binary under test: with a clean environment (no inherited
//! `GEARMAN_SERVERS`/`GEARBOX_CONFIG`, a private `HOME`), optional stdin, and every wait
//! bounded like the shared harness's.

#![allow(dead_code)]

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use gearbox_testkit::{run, Gate, Output, Server, TempDir, PROC_TIMEOUT};

/// The binary under test.
pub fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_gearbox"))
}

/// `gearbox` with a clean environment and `HOME` at `home`; no server flag.
pub fn bare(home: &Path, args: &[&str]) -> Command {
    let mut c = Command::new(bin());
    c.env_remove("GEARMAN_SERVERS")
        .env_remove("GEARBOX_CONFIG")
        .env("HOME", home)
        .args(args);
    c
}

/// A `HOME` without a config file.
pub fn no_home() -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("gearbox-cli-no-home")
}

/// `gearbox SUBCOMMAND -s 127.0.0.1:PORT REST...` (the subcommand is `args[0]`).
pub fn cmd(server: &Server, args: &[&str]) -> Command {
    let mut c = bare(&no_home(), &args[..1]);
    c.args(["-s", &server.addr.to_string()]).args(&args[1..]);
    c
}

/// Run `gearbox` against `server` to completion (stdin empty).
pub fn gearbox(server: &Server, args: &[&str]) -> Output {
    run(cmd(server, args), PROC_TIMEOUT)
}

/// Run a command with `input` on its stdin, bounded by [`PROC_TIMEOUT`].
pub fn with_stdin(mut c: Command, input: &[u8]) -> Output {
    let dir = TempDir::new("stdin");
    let path = dir.join("stdin");
    std::fs::write(&path, input).expect("write stdin file");
    // The harness's Proc gives its programs /dev/null as stdin; a shell redirect does not.
    let mut sh = Command::new("sh");
    sh.arg("-c")
        .arg("exec \"$@\" < \"$GEARBOX_TEST_STDIN\"")
        .arg("sh")
        .arg(c.get_program())
        .args(c.get_args())
        .env("GEARBOX_TEST_STDIN", &path);
    for (k, v) in c.get_envs() {
        match v {
            Some(v) => sh.env(k, v),
            None => sh.env_remove(k),
        };
    }
    c = sh;
    run(c, PROC_TIMEOUT)
}

/// A background `gearbox` (typically `work`) whose pid we know, for signals.
pub struct Bg {
    child: Option<Child>,
    out: PathBuf,
    err: PathBuf,
    _dir: TempDir,
}

impl Bg {
    /// Start `c` with stdin from /dev/null and output captured to files.
    pub fn spawn(mut c: Command) -> Bg {
        let dir = TempDir::new("bg");
        let (out, err) = (dir.join("stdout"), dir.join("stderr"));
        c.stdin(Stdio::null())
            .stdout(File::create(&out).expect("stdout file"))
            .stderr(File::create(&err).expect("stderr file"));
        let child = c.spawn().expect("spawn gearbox");
        Bg {
            child: Some(child),
            out,
            err,
            _dir: dir,
        }
    }

    /// Process id.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("running").id()
    }

    /// Send a signal by name through `kill`.
    pub fn signal(&self, name: &str) {
        let ok = Command::new("kill")
            .args([&format!("-{name}"), &self.pid().to_string()])
            .status()
            .expect("run kill")
            .success();
        assert!(ok, "kill -{name} failed");
    }

    /// Still running?
    pub fn running(&mut self) -> bool {
        matches!(self.child.as_mut().expect("child").try_wait(), Ok(None))
    }

    /// Stderr so far.
    pub fn stderr(&self) -> String {
        String::from_utf8_lossy(&std::fs::read(&self.err).unwrap_or_default()).into_owned()
    }

    /// Stdout so far.
    pub fn stdout(&self) -> String {
        String::from_utf8_lossy(&std::fs::read(&self.out).unwrap_or_default()).into_owned()
    }

    /// Wait at most `timeout` for the exit; its code (None: still running, killed now).
    pub fn wait(&mut self, timeout: Duration) -> Option<i32> {
        let deadline = Instant::now() + timeout;
        let child = self.child.as_mut().expect("child");
        loop {
            if let Ok(Some(status)) = child.try_wait() {
                return Some(status.code().unwrap_or(-1));
            }
            if Instant::now() >= deadline {
                let _ = child.kill();
                let _ = child.wait();
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Bg {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// `gearbox work -s ADDR ARGS...` in the background.
pub fn worker(server: &Server, args: &[&str]) -> Bg {
    let mut all = vec!["work"];
    all.extend_from_slice(args);
    Bg::spawn(cmd(server, &all))
}

/// A shell command that waits (at most ~10 s) for `gate` to exist, then copies stdin to
/// stdout.
pub fn gated_cat(gate: &Gate) -> String {
    format!(
        "i=0; while [ ! -f '{}' ] && [ $i -lt 200 ]; do sleep 0.05; i=$((i+1)); done; cat",
        gate.path()
    )
}

/// Parse JSON printed by gearbox (a failure shows the program's output).
#[track_caller]
pub fn json(out: &Output) -> serde_json::Value {
    serde_json::from_str(&out.stdout).unwrap_or_else(|e| panic!("not JSON ({e}):\n{out}"))
}
