//! `gearbox work` against gearmand and gearboxd, serving real clients (`gearman -f`, the PECL
//! PHP client, `gearbox submit`): results, failures, job timeouts, concurrency, the drain on
//! SIGTERM, and `--user`.

mod cli;

use std::time::Duration;

use cli::{gated_cat, gearbox, worker};
use gearbox_testkit::{
    assert_lines, both_servers, require, require_php, run, wait_until, Gate, Kind, Proc, Server,
    PROC_TIMEOUT,
};

/// `gearman -f` (libgearman's client) gets the command's stdout as the result.
fn serves_gearman_client(kind: Kind) {
    if !require("gearman") {
        return;
    }
    let server = Server::start(kind, &[]);
    let _w = worker(&server, &["up", "--", "tr", "a-z", "A-Z"]);
    server.wait_workers("up", 1);
    let out = server.gearman(&["-f", "up", "abc"]);
    out.assert_success();
    assert_eq!(out.stdout, "ABC", "[{kind}]\n{out}");
}

/// The PECL extension's doNormal gets the result with GEARMAN_SUCCESS.
fn serves_php_client(kind: Kind) {
    if !require_php() {
        return;
    }
    let server = Server::start(kind, &[]);
    let _w = worker(&server, &["up", "--", "tr", "a-z", "A-Z"]);
    server.wait_workers("up", 1);
    assert_lines(
        kind,
        &server.php("do.php", &["up", "abc"]),
        &["result ABC GEARMAN_SUCCESS"],
    );
}

/// A command exiting non-zero fails the job for every kind of client; its stderr reaches
/// ours; a command that cannot start fails the job too.
fn failing_command_fails_the_job(kind: Kind) {
    let server = Server::start(kind, &[]);
    let w = worker(&server, &["fl", "--", "sh", "-c", "echo oops >&2; exit 3"]);
    server.wait_workers("fl", 1);
    let out = gearbox(&server, &["submit", "fl", "x"]);
    assert_eq!(out.code(), Some(1), "[{kind}]\n{out}");
    assert!(out.stderr.contains("failed"), "[{kind}]\n{out}");
    if require("gearman") {
        let out = server.gearman(&["-f", "fl", "x"]);
        assert!(
            out.code().is_some_and(|c| c != 0),
            "[{kind}] gearman should fail\n{out}"
        );
    }
    assert!(
        wait_until(Duration::from_secs(5), || w.stderr().contains("oops")),
        "[{kind}] command stderr not passed through: {}",
        w.stderr()
    );

    let _w2 = worker(&server, &["missing", "--", "/nonexistent/command"]);
    server.wait_workers("missing", 1);
    let out = gearbox(&server, &["submit", "missing", "x"]);
    assert_eq!(out.code(), Some(1), "[{kind}]\n{out}");
}

/// `--job-timeout` kills a command that runs too long and fails the job, once: the job is
/// not requeued by the server's CAN_DO_TIMEOUT.
fn job_timeout_fails_the_job(kind: Kind) {
    let server = Server::start(kind, &[]);
    let w = worker(
        &server,
        &[
            "--job-timeout",
            "1",
            "slow",
            "--",
            "sh",
            "-c",
            "sleep 30; cat",
        ],
    );
    server.wait_workers("slow", 1);
    let started = std::time::Instant::now();
    let out = gearbox(&server, &["submit", "slow", "x"]);
    assert_eq!(out.code(), Some(1), "[{kind}]\n{out}");
    assert!(
        started.elapsed() < Duration::from_secs(8),
        "[{kind}] {:?}",
        started.elapsed()
    );
    assert!(
        w.stderr().contains("job-timeout"),
        "[{kind}] {}",
        w.stderr()
    );
    server.wait_status("slow", (0, 0, 1));
}

/// `--concurrency 3` runs three commands at once.
fn concurrency(kind: Kind) {
    let server = Server::start(kind, &[]);
    let gate = Gate::new();
    let _w = worker(
        &server,
        &["-j", "3", "par", "--", "sh", "-c", &gated_cat(&gate)],
    );
    server.wait_workers("par", 1);
    let batch = Proc::spawn(cli::cmd(&server, &["submit", "-n", "par", "a\nb\nc"]));
    server.wait_running("par", 3);
    gate.open();
    let out = batch.wait(PROC_TIMEOUT);
    assert_lines(kind, &out, &["a", "b", "c"]);
}

/// SIGTERM drains: the running job completes and its client gets the result, no new job is
/// taken, and `gearbox work` exits 0.
fn sigterm_drains(kind: Kind) {
    drains_on(kind, "TERM");
}

/// SIGINT (Ctrl-C) drains the same way.
fn sigint_drains(kind: Kind) {
    drains_on(kind, "INT");
}

fn drains_on(kind: Kind, sig: &str) {
    let server = Server::start(kind, &[]);
    let gate = Gate::new();
    let mut w = worker(&server, &["dr", "--", "sh", "-c", &gated_cat(&gate)]);
    server.wait_workers("dr", 1);
    let client = Proc::spawn(cli::cmd(&server, &["submit", "dr", "payload"]));
    server.wait_running("dr", 1);
    w.signal(sig);
    assert!(
        wait_until(Duration::from_secs(5), || w.stderr().contains("draining")),
        "[{kind}] no drain message: {}",
        w.stderr()
    );
    // Queued after the drain began: must stay queued.
    gearbox(&server, &["submit", "-b", "--no-status", "dr", "later"]).assert_success();
    std::thread::sleep(Duration::from_millis(300));
    assert!(w.running(), "[{kind}] exited before its job finished");
    gate.open();
    let out = client.wait(PROC_TIMEOUT);
    assert_lines(kind, &out, &["payload"]);
    assert_eq!(
        w.wait(Duration::from_secs(10)),
        Some(0),
        "[{kind}] {}",
        w.stderr()
    );
    server.wait_status("dr", (1, 0, 0));
}

/// A second signal while draining kills the running command (its whole process group) and
/// exits non-zero at once; the server gets the job back for another worker.
fn second_signal_kills(kind: Kind) {
    let server = Server::start(kind, &[]);
    let gate = Gate::new();
    let pidfile = server.scratch().join("cmd.pid");
    let script = format!("echo $$ > '{}'; {}", pidfile.display(), gated_cat(&gate));
    let mut w = worker(&server, &["k", "--", "sh", "-c", &script]);
    server.wait_workers("k", 1);
    let _client = Proc::spawn(cli::cmd(&server, &["submit", "k", "x"]));
    server.wait_running("k", 1);
    assert!(wait_until(Duration::from_secs(5), || pidfile.exists()));
    let pid = std::fs::read_to_string(&pidfile)
        .unwrap()
        .trim()
        .to_string();
    w.signal("TERM");
    assert!(wait_until(Duration::from_secs(5), || w
        .stderr()
        .contains("draining")));
    w.signal("TERM");
    assert_eq!(
        w.wait(Duration::from_secs(10)),
        Some(1),
        "[{kind}] {}",
        w.stderr()
    );
    // Gone, or a zombie nobody has reaped yet (a container's pid 1 may not reap).
    let dead = || match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => stat
            .rsplit(')')
            .next()
            .is_some_and(|rest| rest.trim_start().starts_with('Z')),
        Err(_) => true,
    };
    assert!(
        wait_until(Duration::from_secs(5), dead),
        "[{kind}] command {pid} survived"
    );
    // The worker's connection is gone, so the server requeues the job.
    server.wait_status("k", (1, 0, 0));
}

/// `--user nobody` (as root): the command runs with nobody's uid.
fn user_nobody(kind: Kind) {
    let id = |args: &[&str]| {
        let mut c = std::process::Command::new("id");
        c.args(args);
        run(c, PROC_TIMEOUT)
    };
    if id(&["-u"]).stdout.trim() != "0" {
        eprintln!("SKIPPED: --user needs root");
        return;
    }
    let nobody = id(&["-u", "nobody"]);
    nobody.assert_success();
    let server = Server::start(kind, &[]);
    let mut w = worker(
        &server,
        &[
            "--user",
            "nobody",
            "--count",
            "2",
            "who",
            "--",
            "sh",
            "-c",
            "id -u; id -G",
        ],
    );
    server.wait_workers("who", 1);
    let out = gearbox(&server, &["submit", "who", "x"]);
    out.assert_success();
    let lines = out.lines();
    assert_eq!(lines[0], nobody.stdout.trim(), "[{kind}]\n{out}");
    assert!(
        !lines[1].split(' ').any(|g| g == "0"),
        "[{kind}] still in group root\n{out}"
    );
    if require("gearman") {
        let out = server.gearman(&["-f", "who", "y"]);
        assert!(
            out.stdout.starts_with(nobody.stdout.trim()),
            "[{kind}]\n{out}"
        );
    }
    assert_eq!(
        w.wait(Duration::from_secs(10)),
        Some(0),
        "[{kind}] {}",
        w.stderr()
    );
}

both_servers!(
    serves_gearman_client,
    serves_php_client,
    failing_command_fails_the_job,
    job_timeout_fails_the_job,
    concurrency,
    sigterm_drains,
    sigint_drains,
    second_signal_kills,
    user_nobody,
);
