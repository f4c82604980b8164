//! `gearbox work`: a worker that runs a shell command for each job, like `gearman -w`.
//!
//! This module owns the job ↔ process contract: the workload goes to the command's stdin, its
//! stdout becomes the result (WORK_COMPLETE), a non-zero exit, a failed spawn or a run past
//! `--job-timeout` becomes WORK_FAIL, and its stderr passes through to ours. It also owns the
//! worker's lifecycle: at most `--concurrency` commands at once, dropping privileges for
//! `--user` once connected, and the drain on SIGTERM/SIGINT (take no new job, let running
//! commands finish, exit 0). A job must never be answered twice, and no command may run with
//! the privileges `--user` was asked to drop.

use std::collections::HashSet;
use std::ffi::{CString, OsString};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{bail, Context, Result};
use clap::Args;
use gearbox_client::{Job, Tls, Worker};
use nix::sys::signal::{killpg, Signal};
use nix::unistd::{Pid, Uid, User};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::signal::unix::{signal, SignalKind};
use tokio::task::JoinSet;

/// Extra time the server's CAN_DO_TIMEOUT allows beyond `--job-timeout`: our own kill and
/// WORK_FAIL must reach the server first, or gearmand would requeue the job and run it again.
const SERVER_TIMEOUT_GRACE: Duration = Duration::from_secs(5);
/// How long `--user` waits for the worker to show up registered on every server before it
/// drops privileges anyway.
const REGISTER_WAIT: Duration = Duration::from_secs(10);

/// Arguments of `gearbox work`.
#[derive(Debug, Args)]
#[command(after_help = "\
Examples:
  gearbox work reverse -- rev                     # each job: workload | rev > result
  gearbox work -f upper -f shout -- tr a-z A-Z    # several functions, one command
  gearbox work -j 4 --job-timeout 30 thumb -- ./make-thumb.sh
  sudo gearbox work --user nobody pdf -- ./render # connect as root, then run as nobody
  gearbox work --count 1 once -- cat              # exit after one job

The command gets the workload on stdin and GEARMAN_FUNCTION, GEARMAN_HANDLE and
GEARMAN_UNIQUE in its environment; its stdout is the result. A non-zero exit, a command that
cannot be started, or one killed by --job-timeout fails the job (WORK_FAIL). SIGTERM or
SIGINT drains: no new jobs are taken, running commands finish and are answered, then gearbox
exits 0; a second signal kills the running commands and exits at once.

--user USER: gearbox resolves USER, connects to the servers and registers (as the invoking
user, normally root), then calls initgroups, setgid and setuid before running any command;
every command and every reconnect then runs as USER.")]
pub struct WorkArgs {
    /// Function to serve.
    #[arg(value_name = "FUNCTION")]
    pub function: Option<String>,
    /// More functions to serve (repeatable).
    #[arg(short = 'f', long = "function", value_name = "FUNCTION")]
    pub functions: Vec<String>,
    /// The command to run for each job, after `--`.
    #[arg(last = true, required = true, value_name = "COMMAND")]
    pub command: Vec<OsString>,
    /// How many jobs may run at once.
    #[arg(short = 'j', long, default_value_t = 1, value_name = "N")]
    pub concurrency: usize,
    /// Kill a command running longer than SECS and fail its job; the function is registered
    /// with CAN_DO_TIMEOUT so the server takes the job back if this worker hangs.
    #[arg(long, value_name = "SECS", value_parser = crate::servers::parse_secs)]
    pub job_timeout: Option<Duration>,
    /// Run commands as USER (name or uid): privileges are dropped after connecting.
    #[arg(long, value_name = "USER")]
    pub user: Option<String>,
    /// Exit after N jobs (like `gearman -c`); jobs already taken still run.
    #[arg(short = 'c', long, value_name = "N")]
    pub count: Option<u64>,
    /// Client id shown by `gearbox admin workers` (default `gearbox-work-<pid>`).
    #[arg(long, value_name = "ID")]
    pub id: Option<String>,
}

/// Process groups of the commands running now, for the kill on a second signal.
type Running = Arc<Mutex<HashSet<i32>>>;

/// Run `gearbox work` until drained, `--count` jobs were taken, or a second signal.
pub async fn run(args: &WorkArgs, servers: &[String], tls: Option<Tls>) -> Result<()> {
    let mut functions: Vec<String> = Vec::new();
    for f in args.function.iter().chain(&args.functions) {
        if !functions.contains(f) {
            functions.push(f.clone());
        }
    }
    if functions.is_empty() {
        bail!("no function given (gearbox work FUNCTION -- COMMAND)");
    }
    if args.count == Some(0) {
        return Ok(());
    }
    let job_timeout = args.job_timeout;
    // Resolve the user first, while /etc/passwd and NSS are surely readable.
    let user = args.user.as_deref().map(lookup_user).transpose()?;
    if let Some(u) = &user {
        if u.uid != Uid::effective() && !Uid::effective().is_root() {
            bail!(
                "--user {} needs root (running as uid {})",
                u.name,
                Uid::effective()
            );
        }
    }
    let worker = Worker::new();
    worker.set_tls(tls);
    for s in servers {
        worker.add_server(s)?;
    }
    let mut concurrency = args.concurrency.max(1);
    if let Some(c) = args.count {
        concurrency = concurrency.min(usize::try_from(c).unwrap_or(usize::MAX));
    }
    worker.set_concurrency(concurrency);
    let id = args
        .id
        .clone()
        .unwrap_or_else(|| format!("gearbox-work-{}", std::process::id()));
    worker.set_client_id(id.clone());
    for f in &functions {
        worker.add_function(f.clone(), job_timeout.map(|t| t + SERVER_TIMEOUT_GRACE));
    }
    let mut sigterm = signal(SignalKind::terminate())?;
    let mut sigint = signal(SignalKind::interrupt())?;

    let mut env: Vec<(&str, String)> = Vec::new();
    if let Some(u) = &user {
        // Connect and register as the invoking user; jobs taken meanwhile wait in the worker
        // until privileges are dropped, so no command ever runs as the invoking user.
        match tokio::time::timeout(REGISTER_WAIT, worker.wait_registered()).await {
            Ok(registered) => registered?,
            Err(_) => eprintln!(
                "gearbox work: not registered on every server after {REGISTER_WAIT:?}; \
                 dropping privileges anyway"
            ),
        }
        drop_privileges(u)?;
        let home = u.dir.to_string_lossy().into_owned();
        env = vec![
            ("USER", u.name.clone()),
            ("LOGNAME", u.name.clone()),
            ("HOME", home),
        ];
    }

    let command = Arc::new(args.command.clone());
    let env = Arc::new(env);
    let running: Running = Arc::default();
    let mut tasks = JoinSet::new();
    let mut taken = 0u64;
    let mut draining = false;
    loop {
        let next = tokio::select! {
            job = worker.next_job() => job?,
            _ = sigterm.recv() => { on_signal(&worker, &mut draining, &running); continue }
            _ = sigint.recv() => { on_signal(&worker, &mut draining, &running); continue }
            Some(_) = tasks.join_next(), if !tasks.is_empty() => continue,
        };
        let Some(job) = next else { break };
        taken += 1;
        tasks.spawn(run_job(
            job,
            command.clone(),
            env.clone(),
            job_timeout,
            running.clone(),
        ));
        if !draining && args.count.is_some_and(|c| taken >= c) {
            draining = true;
            worker.drain();
        }
    }
    while tasks.join_next().await.is_some() {}
    Ok(())
}

fn on_signal(worker: &Worker, draining: &mut bool, running: &Running) {
    if *draining {
        eprintln!("gearbox work: second signal; killing running commands");
        for &pgid in running.lock().unwrap_or_else(|e| e.into_inner()).iter() {
            let _ = killpg(Pid::from_raw(pgid), Signal::SIGKILL);
        }
        std::process::exit(1);
    }
    eprintln!("gearbox work: draining: finishing running jobs, taking no new ones");
    *draining = true;
    worker.drain();
}

fn lookup_user(name: &str) -> Result<User> {
    let found = match name.parse::<u32>() {
        Ok(uid) => User::from_uid(Uid::from_raw(uid)),
        Err(_) => User::from_name(name),
    }
    .with_context(|| format!("cannot look up user {name:?}"))?;
    found.with_context(|| format!("no such user: {name:?}"))
}

/// initgroups, setgid, setuid — in that order, since each later step removes the right to do
/// the earlier ones. glibc applies setuid/setgid to every thread of the process.
fn drop_privileges(user: &User) -> Result<()> {
    if Uid::effective() == user.uid {
        return Ok(());
    }
    let name = CString::new(user.name.as_bytes()).context("user name contains a NUL")?;
    nix::unistd::initgroups(&name, user.gid).context("initgroups")?;
    nix::unistd::setgid(user.gid).context("setgid")?;
    nix::unistd::setuid(user.uid).context("setuid")?;
    if nix::unistd::setuid(Uid::from_raw(0)).is_ok() && user.uid.as_raw() != 0 {
        bail!("privileges were not dropped: setuid(0) still succeeds");
    }
    Ok(())
}

/// Run the command for one job and answer it exactly once.
async fn run_job(
    job: Job,
    command: Arc<Vec<OsString>>,
    env: Arc<Vec<(&'static str, String)>>,
    timeout: Option<Duration>,
    running: Running,
) {
    let handle = String::from_utf8_lossy(job.handle()).into_owned();
    let shown = command
        .iter()
        .map(|a| a.to_string_lossy())
        .collect::<Vec<_>>()
        .join(" ");
    let mut cmd = tokio::process::Command::new(&command[0]);
    cmd.args(&command[1..])
        .envs(env.iter().map(|(k, v)| (k, v)))
        .env(
            "GEARMAN_FUNCTION",
            String::from_utf8_lossy(job.function()).as_ref(),
        )
        .env("GEARMAN_HANDLE", &handle)
        .env(
            "GEARMAN_UNIQUE",
            String::from_utf8_lossy(job.unique()).as_ref(),
        )
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        // Its own process group: a timeout kills the command's children too, and a Ctrl-C
        // in the terminal reaches only gearbox, which drains instead of killing the jobs.
        .process_group(0)
        .kill_on_drop(true);
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("gearbox work: job {handle}: cannot run {shown}: {e}");
            let _ = job.fail().await;
            return;
        }
    };
    let pgid = child.id().and_then(|p| i32::try_from(p).ok());
    if let Some(p) = pgid {
        running.lock().unwrap_or_else(|e| e.into_inner()).insert(p);
    }
    let stdin = child.stdin.take();
    let mut stdout = child.stdout.take();
    let workload = job.workload().clone();
    let outcome = {
        let feed = async move {
            if let Some(mut stdin) = stdin {
                // A command that does not read its stdin (e.g. `id -u`) closes the pipe early.
                let _ = stdin.write_all(&workload).await;
            }
        };
        let collect = async {
            let mut out = Vec::new();
            if let Some(s) = stdout.as_mut() {
                s.read_to_end(&mut out).await.map(|_| out)
            } else {
                Ok(out)
            }
        };
        let all = async { tokio::join!(feed, collect, child.wait()) };
        match timeout {
            Some(t) => tokio::time::timeout(t, all).await.ok(),
            None => Some(all.await),
        }
    };
    let answer = match outcome {
        Some(((), Ok(out), Ok(status))) if status.success() => job.complete(out).await,
        Some(((), out, status)) => {
            let why = match (out, status) {
                (Err(e), _) => format!("reading its output failed: {e}"),
                (_, Err(e)) => format!("waiting for it failed: {e}"),
                (_, Ok(s)) => format!("{s}"),
            };
            eprintln!("gearbox work: job {handle}: {shown}: {why}");
            job.fail().await
        }
        None => {
            if let Some(p) = pgid {
                let _ = killpg(Pid::from_raw(p), Signal::SIGKILL);
            }
            let _ = child.kill().await;
            eprintln!(
                "gearbox work: job {handle}: {shown}: killed after --job-timeout {}s",
                timeout.unwrap_or_default().as_secs_f64()
            );
            job.fail().await
        }
    };
    if let Some(p) = pgid {
        running.lock().unwrap_or_else(|e| e.into_inner()).remove(&p);
    }
    if let Err(e) = answer {
        eprintln!("gearbox work: job {handle}: could not send the answer: {e}");
    }
}
