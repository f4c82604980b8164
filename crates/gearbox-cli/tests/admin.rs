//! `gearbox admin` against gearmand and gearboxd: every command in table and `--json` form,
//! numbers checked against `gearadmin` and the raw admin protocol, `ERR` replies as failures,
//! and `--watch`.

mod cli;

use std::collections::BTreeMap;
use std::time::Duration;

use cli::{gearbox, json, worker};
use gearbox_testkit::{both_servers, free_port, require, run, Kind, Proc, Server, PROC_TIMEOUT};
use serde_json::Value;

/// Two queued jobs of `fa`, a `gearbox work` registered for `fb`.
fn populated(kind: Kind) -> (Server, cli::Bg) {
    let server = Server::start(kind, &[]);
    for wl in ["1", "2"] {
        gearbox(
            &server,
            &[
                "submit",
                "-b",
                "--no-status",
                "-u",
                &format!("u{wl}"),
                "fa",
                wl,
            ],
        )
        .assert_success();
    }
    let w = worker(&server, &["--id", "my-worker", "fb", "--", "cat"]);
    server.wait_workers("fb", 1);
    server.wait_status("fa", (2, 0, 0));
    (server, w)
}

/// Parse gearadmin's tab-separated list output by first column.
fn gearadmin_rows(server: &Server, flag: &str) -> BTreeMap<String, Vec<u64>> {
    let out = server.gearadmin(&[flag]);
    out.assert_success();
    out.lines()
        .iter()
        .filter(|l| l.as_str() != ".")
        .map(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            (
                f[0].to_string(),
                f[1..].iter().map(|n| n.parse().unwrap()).collect(),
            )
        })
        .collect()
}

fn json_rows(v: &Value, key: &str, cols: &[&str]) -> BTreeMap<String, Vec<u64>> {
    v.as_array()
        .expect("array")
        .iter()
        .map(|o| {
            let nums = cols
                .iter()
                .map(|c| o[*c].as_u64().expect("number"))
                .collect();
            (o[key].as_str().unwrap().to_string(), nums)
        })
        .collect()
}

/// `status`: the table has a header and one aligned row per function; `--json` has the same
/// numbers as gearadmin --status.
fn status(kind: Kind) {
    if !require("gearadmin") {
        return;
    }
    let (server, _w) = populated(kind);
    let out = gearbox(&server, &["admin", "status"]);
    out.assert_success();
    let lines = out.lines();
    let header: Vec<&str> = lines[0].split_whitespace().collect();
    assert_eq!(
        header,
        ["FUNCTION", "QUEUED", "RUNNING", "WORKERS"],
        "[{kind}]\n{out}"
    );
    let fa = lines.iter().find(|l| l.starts_with("fa ")).expect("fa row");
    assert_eq!(
        fa.split_whitespace().collect::<Vec<_>>(),
        ["fa", "2", "0", "0"],
        "[{kind}]"
    );
    // Aligned: every row as long as the header's columns need.
    let qcol = lines[0].find("QUEUED").unwrap() + "QUEUED".len();
    assert_eq!(
        &fa[qcol - 1..qcol],
        "2",
        "[{kind}] numbers right-aligned under their header\n{out}"
    );

    let out = gearbox(&server, &["admin", "status", "--json"]);
    let ours = json_rows(&json(&out), "function", &["queued", "running", "workers"]);
    assert_eq!(ours, gearadmin_rows(&server, "--status"), "[{kind}]\n{out}");
    assert_eq!(ours["fb"], [0, 0, 1], "[{kind}]");
}

/// `priority-status` agrees with gearadmin --priority-status.
fn priority_status(kind: Kind) {
    if !require("gearadmin") {
        return;
    }
    let server = Server::start(kind, &[]);
    for p in ["high", "low", "low"] {
        gearbox(
            &server,
            &["submit", "-b", "--no-status", "--priority", p, "pq", "x"],
        )
        .assert_success();
    }
    let out = gearbox(&server, &["admin", "priority-status", "--json"]);
    let ours = json_rows(
        &json(&out),
        "function",
        &["high", "normal", "low", "workers"],
    );
    assert_eq!(ours["pq"], [1, 0, 2, 0], "[{kind}]\n{out}");
    assert_eq!(
        ours,
        gearadmin_rows(&server, "--priority-status"),
        "[{kind}]"
    );
    let out = gearbox(&server, &["admin", "priority-status"]);
    assert!(
        out.lines()[0].starts_with("FUNCTION  HIGH  NORMAL  LOW  WORKERS"),
        "[{kind}]\n{out}"
    );
}

/// `workers` lists our worker with its client id and function, in both forms.
fn workers(kind: Kind) {
    let (server, _w) = populated(kind);
    let out = gearbox(&server, &["admin", "workers", "--json"]);
    let v = json(&out);
    let ours: Vec<&Value> = v
        .as_array()
        .unwrap()
        .iter()
        .filter(|o| o["client_id"] == "my-worker")
        .collect();
    assert_eq!(ours.len(), 1, "[{kind}]\n{out}");
    assert_eq!(ours[0]["functions"], serde_json::json!(["fb"]), "[{kind}]");
    assert_eq!(ours[0]["ip"], "127.0.0.1", "[{kind}]");
    assert!(ours[0]["fd"].is_u64(), "[{kind}]");
    let out = gearbox(&server, &["admin", "workers"]);
    out.assert_success();
    assert!(out.lines()[0].starts_with("FD  IP"), "[{kind}]\n{out}");
    let row = out
        .lines()
        .into_iter()
        .find(|l| l.contains("my-worker"))
        .expect("row");
    assert!(row.ends_with("my-worker  fb"), "[{kind}] {row:?}");
}

/// `jobs` and `unique-jobs` list what gearadmin lists.
fn jobs_and_uniques(kind: Kind) {
    if !require("gearadmin") {
        return;
    }
    let (server, _w) = populated(kind);
    let out = gearbox(&server, &["admin", "jobs", "--json"]);
    let v = json(&out);
    let mut ours: Vec<String> = v
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["handle"].as_str().unwrap().to_string())
        .collect();
    ours.sort();
    let theirs = gearadmin_rows(&server, "--show-jobs");
    assert_eq!(
        ours,
        theirs.keys().cloned().collect::<Vec<_>>(),
        "[{kind}]\n{out}"
    );
    assert_eq!(ours.len(), 2, "[{kind}]");
    assert_eq!(v[0]["retries"], 0, "[{kind}]");
    let out = gearbox(&server, &["admin", "jobs"]);
    assert!(out.lines()[0].starts_with("HANDLE"), "[{kind}]\n{out}");
    assert_eq!(out.lines().len(), 3, "[{kind}]\n{out}");

    let out = gearbox(&server, &["admin", "unique-jobs", "--json"]);
    let mut uniques: Vec<String> = json(&out)
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["unique"].as_str().unwrap().to_string())
        .collect();
    uniques.sort();
    assert_eq!(uniques, ["u1", "u2"], "[{kind}]\n{out}");
}

/// `maxqueue`: OK, and the limit holds (a further background submit fails).
fn maxqueue(kind: Kind) {
    let server = Server::start(kind, &[]);
    gearbox(&server, &["submit", "-b", "mq", "1"]).assert_success();
    let out = gearbox(&server, &["admin", "maxqueue", "mq", "1"]);
    out.assert_success();
    assert_eq!(out.stdout, "OK\n", "[{kind}]");
    assert_eq!(
        gearbox(&server, &["submit", "-b", "mq", "2"]).code(),
        Some(1),
        "[{kind}]"
    );
    // No number: unlimited again.
    let out = gearbox(&server, &["admin", "maxqueue", "mq", "--json"]);
    assert_eq!(json(&out)["ok"], true, "[{kind}]\n{out}");
    gearbox(&server, &["submit", "-b", "mq", "3"]).assert_success();
}

/// `cancel`: a queued job's waiting client gets a failure; an unknown handle is an error.
fn cancel(kind: Kind) {
    let server = Server::start(kind, &[]);
    let client = Proc::spawn(cli::cmd(&server, &["submit", "cx", "x"]));
    server.wait_status("cx", (1, 0, 0));
    let handle = server.admin("show jobs")[0]
        .split('\t')
        .next()
        .unwrap()
        .to_string();
    let out = gearbox(&server, &["admin", "cancel", &handle]);
    out.assert_success();
    assert_eq!(out.stdout, "OK\n", "[{kind}]");
    let c = client.wait(PROC_TIMEOUT);
    assert_eq!(c.code(), Some(1), "[{kind}] cancelled job's client\n{c}");
    let out = gearbox(&server, &["admin", "cancel", "H:nope:1"]);
    assert_eq!(out.code(), Some(1), "[{kind}]\n{out}");
    assert!(out.stderr.contains("UNKNOWN_JOB"), "[{kind}]\n{out}");
    assert!(out.stdout.is_empty(), "[{kind}]\n{out}");
}

/// `create-function` makes a function appear in `status` (whole name: the command is sent
/// with CRLF); `drop-function` removes it; dropping a missing one is an error.
fn create_and_drop(kind: Kind) {
    let server = Server::start(kind, &[]);
    gearbox(&server, &["admin", "create-function", "newfn"]).assert_success();
    assert_eq!(
        server.function_status("newfn"),
        Some((0, 0, 0)),
        "[{kind}] {:?}",
        server.status()
    );
    gearbox(&server, &["admin", "drop-function", "newfn"]).assert_success();
    assert_eq!(server.function_status("newfn"), None, "[{kind}]");
    let out = gearbox(&server, &["admin", "drop-function", "newfn"]);
    assert_eq!(out.code(), Some(1), "[{kind}]\n{out}");
    assert!(out.stderr.contains("not found"), "[{kind}]\n{out}");
}

/// `version` and `getpid` print the values (gearadmin and the process agree).
fn version_and_getpid(kind: Kind) {
    if !require("gearadmin") {
        return;
    }
    let server = Server::start(kind, &[]);
    let out = gearbox(&server, &["admin", "version"]);
    out.assert_success();
    let theirs = server.gearadmin(&["--server-version"]);
    assert_eq!(out.stdout.trim(), theirs.stdout.trim(), "[{kind}]");
    let out = gearbox(&server, &["admin", "getpid"]);
    assert_eq!(
        out.stdout.trim(),
        server.pid().to_string(),
        "[{kind}]\n{out}"
    );
    let out = gearbox(&server, &["admin", "getpid", "--json"]);
    assert_eq!(
        json(&out)["value"],
        server.pid().to_string(),
        "[{kind}]\n{out}"
    );
}

/// `shutdown`: gearboxd stops; gearmand 1.1.20 refuses (unknown command) and gearbox says so.
fn shutdown(kind: Kind) {
    let mut server = Server::start(kind, &[]);
    let out = gearbox(&server, &["admin", "shutdown", "--graceful"]);
    match kind {
        Kind::Gearboxd => {
            out.assert_success();
            assert!(
                server.wait_exit(Duration::from_secs(10)).is_some(),
                "gearboxd still running"
            );
        }
        Kind::Gearmand => {
            assert_eq!(out.code(), Some(1), "{out}");
            assert!(out.stderr.contains("UNKNOWN_COMMAND"), "{out}");
            assert!(server.wait_exit(Duration::from_millis(200)).is_none());
        }
    }
}

/// `--watch` redraws; `--iterations` ends it. JSON mode prints one array per refresh.
fn watch(kind: Kind) {
    let (server, _w) = populated(kind);
    let out = gearbox(
        &server,
        &["admin", "status", "--watch", "0.1", "--iterations", "3"],
    );
    out.assert_success();
    assert_eq!(out.stdout.matches("FUNCTION").count(), 3, "[{kind}]\n{out}");
    let out = gearbox(
        &server,
        &[
            "admin",
            "status",
            "--json",
            "--watch",
            "0.1",
            "--iterations",
            "2",
        ],
    );
    out.assert_success();
    let lines = out.lines();
    assert_eq!(lines.len(), 2, "[{kind}]\n{out}");
    for l in lines {
        let v: Value = serde_json::from_str(&l).unwrap();
        assert!(v
            .as_array()
            .unwrap()
            .iter()
            .any(|o| o["function"] == "fa" && o["queued"] == 2));
    }
    let out = gearbox(&server, &["admin", "version", "--watch"]);
    assert_eq!(out.code(), Some(1), "[{kind}] --watch is for lists\n{out}");
}

both_servers!(
    status,
    priority_status,
    workers,
    jobs_and_uniques,
    maxqueue,
    cancel,
    create_and_drop,
    version_and_getpid,
    shutdown,
    watch,
);

/// A server that is not there is a clear, bounded failure.
#[test]
fn unreachable_server() {
    let port = free_port();
    let mut c = cli::bare(
        &cli::no_home(),
        &["admin", "-s", &format!("127.0.0.1:{port}"), "status"],
    );
    c.args(["--timeout", "2"]);
    let out = run(c, PROC_TIMEOUT);
    assert_eq!(out.code(), Some(1), "{out}");
    assert!(out.stderr.contains("cannot connect"), "{out}");
}
