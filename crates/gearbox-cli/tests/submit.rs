//! `gearbox submit` against gearmand and gearboxd, with real workers (`gearman -w`, the PECL
//! PHP worker, `gearbox work`): results, streamed data and warnings, failures, background
//! jobs and their status, priorities, coalescing by unique id, `--lines`, `--json`, timeouts.

mod cli;

use std::time::{Duration, Instant};

use cli::{gearbox, json, with_stdin, worker};
use gearbox_proto::PacketType as T;
use gearbox_testkit::wire::Conn;
use gearbox_testkit::{both_servers, require, require_php, run, Kind, Proc, Server, PROC_TIMEOUT};

/// A `gearman -w` worker (libgearman, the reference tool) serves `gearbox submit`, with the
/// workload given as an argument and on stdin; bytes come back exactly.
fn fg_result_from_gearman_worker(kind: Kind) {
    if !require("gearman") {
        return;
    }
    let server = Server::start(kind, &[]);
    let _w = server.spawn_gearman(&["-w", "-f", "up", "--", "tr", "a-z", "A-Z"]);
    server.wait_workers("up", 1);
    let out = gearbox(&server, &["submit", "up", "abc"]);
    out.assert_success();
    assert_eq!(out.stdout, "ABC", "[{kind}]");
    let out = with_stdin(cli::cmd(&server, &["submit", "up"]), b"hello\nworld\n");
    out.assert_success();
    assert_eq!(out.stdout, "HELLO\nWORLD\n", "[{kind}]");
}

/// WORK_DATA is streamed to stdout before the result, WORK_WARNING goes to stderr; a
/// WORK_FAIL and an exception give a message and a non-zero exit.
fn data_warnings_and_failures(kind: Kind) {
    if !require_php() {
        return;
    }
    let server = Server::start(kind, &[]);
    let _w = server.spawn_php("worker.php", &["--fn", "cb:callbacks", "--count", "3"]);
    server.wait_workers("cb", 1);

    let out = gearbox(&server, &["submit", "cb", "complete"]);
    out.assert_success();
    assert_eq!(out.stdout, "d:completedone:complete", "[{kind}]\n{out}");
    assert!(
        out.stderr.contains("w:complete"),
        "[{kind}] warning not on stderr\n{out}"
    );

    let out = gearbox(&server, &["submit", "cb", "fail"]);
    assert_eq!(out.code(), Some(1), "[{kind}]\n{out}");
    assert!(out.stderr.contains("failed"), "[{kind}]\n{out}");

    let out = gearbox(&server, &["submit", "--json", "cb", "exception"]);
    assert_eq!(out.code(), Some(1), "[{kind}]\n{out}");
    assert!(out.stderr.contains("ex:exception"), "[{kind}]\n{out}");
    let v = json(&out);
    assert_eq!(v["error"], "exception", "[{kind}]\n{out}");
    assert_eq!(v["data"][0], "d:exception", "[{kind}]\n{out}");
}

/// A background job prints its handle and status; the server holds it (gearadmin agrees);
/// `--json` gives the same as an object.
fn background_and_status(kind: Kind) {
    let server = Server::start(kind, &[]);
    let out = gearbox(&server, &["submit", "--background", "bgf", "x"]);
    out.assert_success();
    let lines = out.lines();
    assert_eq!(lines.len(), 2, "[{kind}]\n{out}");
    assert!(lines[0].starts_with("H:"), "[{kind}] handle {:?}", lines[0]);
    assert_eq!(
        lines[1], "known=1 running=0 numerator=0 denominator=0",
        "[{kind}]"
    );
    server.wait_status("bgf", (1, 0, 0));
    let jobs = server.admin("show jobs");
    assert!(
        jobs.iter()
            .any(|l| l.starts_with(&format!("{}\t", lines[0]))),
        "[{kind}] {jobs:?}"
    );

    let out = gearbox(&server, &["submit", "-b", "--json", "bgf", "y"]);
    let v = json(&out);
    assert_eq!(v["known"], true, "[{kind}]\n{out}");
    assert_eq!(v["running"], false, "[{kind}]\n{out}");
    assert!(
        v["handle"].as_str().unwrap().starts_with("H:"),
        "[{kind}]\n{out}"
    );
    server.wait_status("bgf", (2, 0, 0));

    let out = gearbox(&server, &["submit", "-b", "--no-status", "bgf", "z"]);
    assert_eq!(out.lines().len(), 1, "[{kind}]\n{out}");
}

/// Jobs queued low, normal, high run high, normal, low (one `gearbox work` that exits after
/// three jobs appends each workload to a file).
fn priority_order(kind: Kind) {
    let server = Server::start(kind, &[]);
    for (prio, wl) in [("low", "L"), ("normal", "N"), ("high", "H")] {
        gearbox(&server, &["submit", "-b", "--priority", prio, "prio", wl]).assert_success();
    }
    let pq = server.admin("prioritystatus");
    assert!(
        pq.contains(&"prio\t1\t1\t1\t0".to_string()),
        "[{kind}] {pq:?}"
    );
    let file = server.scratch().join("order");
    let script = format!("cat >> '{}'; echo >> '{}'", file.display(), file.display());
    let mut w = worker(
        &server,
        &["--count", "3", "prio", "--", "sh", "-c", &script],
    );
    assert_eq!(
        w.wait(Duration::from_secs(20)),
        Some(0),
        "[{kind}] {}",
        w.stderr()
    );
    assert_eq!(
        std::fs::read_to_string(&file).unwrap(),
        "H\nN\nL\n",
        "[{kind}]"
    );
}

/// Submissions with the same unique id are one job: background submits get the same
/// handle; two foreground clients both get the result of a single run.
fn unique_coalesces(kind: Kind) {
    let server = Server::start(kind, &[]);
    let a = gearbox(
        &server,
        &["submit", "-b", "--no-status", "-u", "same", "co", "1"],
    );
    let b = gearbox(
        &server,
        &["submit", "-b", "--no-status", "-u", "same", "co", "2"],
    );
    assert_eq!(a.lines(), b.lines(), "[{kind}]\n{a}\n{b}");
    server.wait_status("co", (1, 0, 0));

    let c1 = Proc::spawn(cli::cmd(&server, &["submit", "-u", "fg", "cofg", "one"]));
    server.wait_for("first client attached", |s| s.status_unique("fg")[4] == "1");
    let c2 = Proc::spawn(cli::cmd(&server, &["submit", "-u", "fg", "cofg", "two"]));
    server.wait_for("both clients attached", |s| s.status_unique("fg")[4] == "2");
    server.wait_status("cofg", (1, 0, 0));
    let file = server.scratch().join("runs");
    let script = format!("echo run >> '{}'; cat", file.display());
    let mut w = worker(
        &server,
        &["--count", "1", "cofg", "--", "sh", "-c", &script],
    );
    let (o1, o2) = (c1.wait(PROC_TIMEOUT), c2.wait(PROC_TIMEOUT));
    assert_eq!(o1.stdout, "one", "[{kind}]\n{o1}");
    assert_eq!(
        o2.stdout, "one",
        "[{kind}] coalesced client gets the first workload's result\n{o2}"
    );
    assert_eq!(w.wait(Duration::from_secs(20)), Some(0), "[{kind}]");
    assert_eq!(
        std::fs::read_to_string(&file).unwrap(),
        "run\n",
        "[{kind}] ran once"
    );
}

/// `--lines`: 60 jobs, run 4 at a time (so they finish out of order), printed in input
/// order; `--json` gives one object per line.
fn lines_in_order(kind: Kind) {
    let server = Server::start(kind, &[]);
    // Later lines sleep less, so completions come back roughly reversed.
    let script = "read x; sleep 0.0$(( (60 - x) % 10 )); echo $((x * x))";
    let _w = worker(&server, &["-j", "4", "sq", "--", "sh", "-c", script]);
    server.wait_workers("sq", 1);
    let input: String = (1..=60).map(|i| format!("{i}\n")).collect();
    let out = with_stdin(
        cli::cmd(&server, &["submit", "--lines", "sq"]),
        input.as_bytes(),
    );
    out.assert_success();
    let expected: Vec<String> = (1..=60u32).map(|i| (i * i).to_string()).collect();
    assert_eq!(out.lines(), expected, "[{kind}]\n{out}");
    assert!(
        !out.stderr.contains('\r'),
        "[{kind}] progress line on a non-terminal\n{out}"
    );

    let out = with_stdin(
        cli::cmd(&server, &["submit", "-n", "--json", "sq"]),
        b"3\n4\n",
    );
    let v = json(&out);
    assert_eq!(v[0]["line"], 1, "[{kind}]\n{out}");
    assert_eq!(v[0]["workload"], "3", "[{kind}]\n{out}");
    assert_eq!(v[0]["result"], "9\n", "[{kind}]\n{out}");
    assert_eq!(v[1]["result"], "16\n", "[{kind}]\n{out}");
}

/// With stderr on a terminal (a pty from `script`), `--lines` draws a progress line and
/// erases it at the end.
fn progress_on_a_terminal(kind: Kind) {
    if !require("script") {
        return;
    }
    let server = Server::start(kind, &[]);
    let _w = worker(&server, &["-j", "4", "cat", "--", "cat"]);
    server.wait_workers("cat", 1);
    let lines: String = (1..=30).map(|i| format!("{i}\n")).collect();
    let c = cli::cmd(&server, &["submit", "--lines", "cat", &lines]);
    let shell_line: Vec<String> = std::iter::once(c.get_program())
        .chain(c.get_args())
        .map(|a| format!("'{}'", a.to_string_lossy()))
        .collect();
    let mut script = std::process::Command::new("script");
    script
        .args(["-qec", &shell_line.join(" "), "/dev/null"])
        .env_remove("GEARMAN_SERVERS")
        .env_remove("GEARBOX_CONFIG");
    let out = run(script, PROC_TIMEOUT);
    out.assert_success();
    assert!(
        out.stdout.contains("] 30/30 100%"),
        "[{kind}] no progress line\n{out:?}"
    );
    assert!(
        out.stdout.contains("\r\x1b[K"),
        "[{kind}] progress line not erased\n{out:?}"
    );
    assert!(
        out.stdout.contains("29\r\n30\r\n"),
        "[{kind}] results\n{out:?}"
    );
}

/// A failed line is reported (stderr, empty stdout line, exit 1) without hiding the others.
fn lines_with_a_failure(kind: Kind) {
    let server = Server::start(kind, &[]);
    let _w = worker(
        &server,
        &[
            "-j",
            "2",
            "odd",
            "--",
            "sh",
            "-c",
            "read x; [ $((x % 2)) = 1 ] && echo $x",
        ],
    );
    server.wait_workers("odd", 1);
    let out = with_stdin(cli::cmd(&server, &["submit", "-n", "odd"]), b"1\n2\n3\n");
    assert_eq!(out.code(), Some(1), "[{kind}]\n{out}");
    assert_eq!(out.lines(), ["1", "", "3"], "[{kind}]\n{out}");
    assert!(out.stderr.contains("line 2"), "[{kind}]\n{out}");
}

/// `--timeout` ends a wait for a job nobody runs, with a message and exit 1.
fn timeout_without_worker(kind: Kind) {
    let server = Server::start(kind, &[]);
    let t = Instant::now();
    let out = gearbox(&server, &["submit", "--timeout", "0.5", "nobody", "x"]);
    assert_eq!(out.code(), Some(1), "[{kind}]\n{out}");
    assert!(out.stderr.contains("timed out"), "[{kind}]\n{out}");
    assert!(
        t.elapsed() < Duration::from_secs(10),
        "[{kind}] took {:?}",
        t.elapsed()
    );
}

/// `--reducer` submits SUBMIT_REDUCE_JOB (and _BACKGROUND with `-b`): a worker asking with
/// GRAB_JOB_ALL gets JOB_ASSIGN_ALL naming the reducer, and its result comes back.
fn reduce_jobs_carry_their_reducer(kind: Kind) {
    let server = Server::start(kind, &[]);
    let mut w = Conn::connect(server.addr);
    w.send_req(T::CanDo, &[b"map"]);
    w.sync();
    let client = Proc::spawn(cli::cmd(
        &server,
        &[
            "submit",
            "--reducer",
            "sum",
            "--unique",
            "u1",
            "map",
            "hello",
        ],
    ));
    let assigned = grab_all(&mut w);
    assert_eq!(assigned.kind, T::JobAssignAll, "[{kind}]");
    let args = assigned.args().unwrap();
    let fields: Vec<&[u8]> = (0..5).map(|i| args.get(i)).collect();
    assert_eq!(
        &fields[1..],
        [&b"map"[..], b"u1", b"sum", b"hello"],
        "[{kind}]"
    );
    w.send_req(T::WorkComplete, &[fields[0], b"olleh"]);
    let out = client.wait(PROC_TIMEOUT);
    out.assert_success();
    assert_eq!(out.stdout, "olleh", "[{kind}]\n{out}");

    let out = gearbox(
        &server,
        &[
            "submit",
            "-b",
            "--no-status",
            "--reducer",
            "sum",
            "map",
            "x",
        ],
    );
    out.assert_success();
    let assigned = grab_all(&mut w);
    let args = assigned.args().unwrap();
    assert_eq!(
        (args.get(3), args.get(4)),
        (&b"sum"[..], &b"x"[..]),
        "[{kind}]"
    );
}

/// GRAB_JOB_ALL until a job comes (the submission may still be on its way).
fn grab_all(w: &mut Conn) -> gearbox_proto::Packet {
    let deadline = Instant::now() + PROC_TIMEOUT;
    loop {
        let reply = w.request_req(T::GrabJobAll, &[]);
        let packet = reply[0].packet().clone();
        if packet.kind != T::NoJob {
            return packet;
        }
        assert!(Instant::now() < deadline, "no job reached the worker");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A server ERROR (queue full after `maxqueue`) is a clear failure.
fn server_error_is_a_failure(kind: Kind) {
    let server = Server::start(kind, &[]);
    gearbox(&server, &["submit", "-b", "full", "1"]).assert_success();
    gearbox(&server, &["admin", "maxqueue", "full", "1"]).assert_success();
    let out = gearbox(&server, &["submit", "-b", "full", "2"]);
    assert_eq!(out.code(), Some(1), "[{kind}]\n{out}");
    assert!(out.stderr.contains("QUEUE_ERROR"), "[{kind}]\n{out}");
}

both_servers!(
    fg_result_from_gearman_worker,
    data_warnings_and_failures,
    background_and_status,
    priority_order,
    unique_coalesces,
    lines_in_order,
    progress_on_a_terminal,
    lines_with_a_failure,
    timeout_without_worker,
    server_error_is_a_failure,
    reduce_jobs_carry_their_reducer,
);

#[test]
fn help_has_examples() {
    for sub in ["submit", "work", "admin"] {
        let out = run(cli::bare(&cli::no_home(), &[sub, "--help"]), PROC_TIMEOUT);
        out.assert_success();
        assert!(out.stdout.contains("Examples:"), "{sub} --help\n{out}");
    }
}
