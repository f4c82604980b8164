//! `gearbox dead` against gearboxd: background jobs that fail for good under a function with a
//! retry policy are listed (table and JSON), shown in full with their workload and exception
//! text decoded, retried — the job runs again with the same unique id and workload — and
//! purged; unknown ids are errors.

mod cli;

use std::time::Duration;

use cli::{gearbox, json};
use gearbox_client::blocking::Worker;
use gearbox_testkit::{Kind, Server, TempDir};

/// Bound of each wait for a job.
const WAIT: Duration = Duration::from_secs(15);

/// `f`: one retry a second after the first failure, then a dead letter; its results kept.
const CONFIG: &str = "\
[functions.\"f\"]
retries = 1
backoff = \"1s..1s\"
keep_results = \"1h\"
keep_results_max = \"64KiB\"
";

fn start() -> (Server, TempDir) {
    let dir = TempDir::new("dead");
    let config = dir.join("gearbox.toml");
    std::fs::write(&config, CONFIG).unwrap();
    let server = Server::start(Kind::Gearboxd, &["--config", config.to_str().unwrap()]);
    (server, dir)
}

/// A worker for `f` that answers as the test says, with a client id to find it by.
fn worker(server: &Server) -> Worker {
    let w = Worker::new();
    w.add_server(&server.addr.to_string()).unwrap();
    w.set_client_id("dead-test-worker");
    w.add_function("f", None);
    w
}

fn submit(server: &Server, unique: &str, workload: &str) -> String {
    let out = gearbox(
        server,
        &["submit", "-b", "--no-status", "-u", unique, "f", workload],
    );
    out.assert_success();
    out.stdout.trim().to_owned()
}

/// The dead letter of `unique` in a `dead list --json` array.
fn row<'a>(rows: &'a serde_json::Value, unique: &str) -> &'a serde_json::Value {
    rows.as_array()
        .unwrap()
        .iter()
        .find(|r| r["unique"] == unique)
        .unwrap_or_else(|| panic!("no dead letter {unique} in {rows}"))
}

#[test]
fn dead_letters_are_listed_shown_retried_and_purged() {
    let (server, _dir) = start();
    submit(&server, "u1", "hello");
    submit(&server, "u2", "bye");
    // Two attempts each (the second a second after the first), every one an exception.
    let w = worker(&server);
    for _ in 0..4 {
        let job = w.next_job(Some(WAIT)).unwrap().expect("a job");
        job.exception("boom\0!").unwrap();
    }
    server.wait_for("two dead letters", |s| s.admin("dead list").len() == 2);

    let out = gearbox(&server, &["dead", "list", "--json"]);
    out.assert_success();
    let rows = json(&out);
    let u1 = row(&rows, "u1");
    assert_eq!(u1["function"], "f", "{rows}");
    assert_eq!(u1["priority"], "normal");
    assert_eq!(u1["attempts"], 2);
    assert_eq!(u1["failure"], "exception");
    assert_eq!(u1["worker"], "dead-test-worker");
    assert_eq!(u1["size"], 5);
    assert!(u1["failed_at"].as_str().unwrap().ends_with('Z'), "{rows}");
    let id = u1["id"].as_u64().unwrap().to_string();

    let out = gearbox(&server, &["dead", "list"]);
    out.assert_success();
    let lines = out.lines();
    let header: Vec<&str> = lines[0].split_whitespace().collect();
    assert_eq!(
        header,
        [
            "ID",
            "FUNCTION",
            "UNIQUE",
            "PRIORITY",
            "ATTEMPTS",
            "FAILURE",
            "FAILED_AT",
            "WORKER",
            "SIZE"
        ],
        "{out}"
    );
    assert_eq!(lines.len(), 3, "{out}");
    let out = gearbox(&server, &["dead", "list", "other", "--json"]);
    assert_eq!(json(&out), serde_json::json!([]), "{out}");

    // In full: workload and exception text decoded, the NUL escaped; JSON has the bytes.
    let out = gearbox(&server, &["dead", "show", &id]);
    out.assert_success();
    let lines = out.lines();
    assert!(lines.contains(&"workload   hello".to_owned()), "{out}");
    assert!(lines.contains(&"detail     boom\\0!".to_owned()), "{out}");
    assert!(lines.contains(&"unique     u1".to_owned()), "{out}");
    let out = gearbox(&server, &["dead", "show", &id, "--json"]);
    let shown = json(&out);
    assert_eq!(shown["workload"], "hello", "{out}");
    assert_eq!(shown["detail"], "boom\0!");
    assert_eq!(shown["detail_base64"], "Ym9vbQAh");
    assert_eq!(shown["id"].as_u64().unwrap().to_string(), id);
    let out = gearbox(&server, &["dead", "show", "999"]);
    assert_eq!(out.code(), Some(1), "{out}");
    assert!(out.stderr.contains("no dead letter 999"), "{out}");

    // Retried: the same job runs again, and this time completes.
    let out = gearbox(&server, &["dead", "retry", &id]);
    out.assert_success();
    assert_eq!(out.stdout, "1\n");
    let job = w.next_job(Some(WAIT)).unwrap().expect("the retried job");
    assert_eq!(
        (job.unique(), &job.workload()[..]),
        (&b"u1"[..], &b"hello"[..])
    );
    job.complete("done").unwrap();
    let rows = json(&gearbox(&server, &["dead", "list", "--json"]));
    assert_eq!(rows.as_array().unwrap().len(), 1, "{rows}");
    row(&rows, "u2");
    // It is no dead letter any more: retrying it again is an error.
    let out = gearbox(&server, &["dead", "retry", &id]);
    assert_eq!((out.code(), out.stdout.as_str()), (Some(1), ""), "{out}");
    assert!(out.stderr.contains("NOT_FOUND"), "{out}");
    server.wait_for("the retried job's result", |_| {
        gearbox(&server, &["result", "f", "u1"]).stdout == "done"
    });

    // Purged by function, then nothing is left to purge by id.
    let out = gearbox(&server, &["dead", "purge", "f", "--json"]);
    out.assert_success();
    assert_eq!(json(&out), serde_json::json!({"purged": 1}));
    assert_eq!(gearbox(&server, &["dead", "list"]).lines().len(), 1);
    let out = gearbox(&server, &["dead", "purge", &id]);
    assert_eq!(out.code(), Some(1), "{out}");
    let out = gearbox(&server, &["dead", "purge", "all"]);
    assert_eq!(out.stdout, "0\n", "{out}");
    w.shutdown(WAIT).unwrap();
}

/// `gearbox work -- false` makes dead letters too; `retry all` puts them back in the queue.
#[test]
fn failing_commands_end_as_dead_letters_and_retry_all_requeues_them() {
    let (server, _dir) = start();
    for u in ["a", "b"] {
        submit(&server, u, u);
    }
    gearbox(&server, &["work", "--count", "4", "f", "--", "false"]).assert_finished();
    server.wait_for("two dead letters", |s| s.admin("dead list").len() == 2);
    let rows = json(&gearbox(&server, &["dead", "list", "--json"]));
    assert_eq!(row(&rows, "a")["failure"], "fail", "{rows}");
    let out = gearbox(&server, &["dead", "retry", "all"]);
    assert_eq!(out.stdout, "2\n", "{out}");
    server.wait_status("f", (2, 0, 0));
    assert!(gearbox(&server, &["dead", "list", "--json"]).stdout.trim() == "[]");
}
