//! External programs: running them with bounded waits and capturing what they print.
//!
//! [`Proc`] starts a program in the background with its output going to files (so a lingering
//! grandchild holding a pipe can never block a test), [`run`] runs one to completion, and
//! [`Output`] carries the result with assertions that print everything on failure; a [`Gate`]
//! is a file a test worker waits for. Nothing here may wait without a deadline
//! ([`wait_until`]): a program past its timeout is killed and reported as such.

use std::fmt;
use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use crate::server::Kind;
use crate::tempdir::TempDir;

/// How long one external client, worker or tool may run before it is killed.
pub const PROC_TIMEOUT: Duration = Duration::from_secs(20);

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

pub(crate) fn read_lossy(p: &Path) -> String {
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
