//! `gearbox result` against gearboxd: each state of a background job's kept outcome —
//! complete (the bytes round trip, NUL and non-UTF-8 included), fail, exception, pending,
//! unknown — by handle and by function and unique id, with its own exit status, in raw and
//! JSON form; and against gearmand, which has no such command, a plain failure.

mod cli;

use std::time::Duration;

use cli::{gearbox, json};
use gearbox_client::blocking::Worker;
use gearbox_testkit::{require, Kind, Server, TempDir};

/// Bound of each wait for a job.
const WAIT: Duration = Duration::from_secs(15);

/// `k` keeps its outcomes (no retries, so a failure is final at once); `plain` keeps none.
const CONFIG: &str = "[functions.\"k\"]\nkeep_results = \"1h\"\nkeep_results_max = \"64KiB\"\n";

fn submit(server: &Server, function: &str, unique: &str, workload: &str) -> String {
    let out = gearbox(
        server,
        &[
            "submit",
            "-b",
            "--no-status",
            "-u",
            unique,
            function,
            workload,
        ],
    );
    out.assert_success();
    out.stdout.trim().to_owned()
}

/// `gearbox result ARGS`: (exit code, stdout, stderr).
fn result(server: &Server, args: &[&str]) -> (Option<i32>, String, String) {
    let mut all = vec!["result"];
    all.extend_from_slice(args);
    let out = gearbox(server, &all);
    out.assert_finished();
    (out.code(), out.stdout, out.stderr)
}

#[test]
fn every_state_by_handle_and_by_unique() {
    let dir = TempDir::new("result");
    let config = dir.join("gearbox.toml");
    std::fs::write(&config, CONFIG).unwrap();
    let server = Server::start(Kind::Gearboxd, &["--config", config.to_str().unwrap()]);
    let w = Worker::new();
    w.add_server(&server.addr.to_string()).unwrap();
    w.add_function("k", None);
    w.add_function("plain", None);
    let run_next = |answer: &dyn Fn(gearbox_client::blocking::Job)| {
        answer(w.next_job(Some(WAIT)).unwrap().expect("a job"));
    };

    // Complete, with a NUL and a non-ASCII character: raw on stdout, exit 0.
    let text = submit(&server, "k", "text", "x");
    run_next(&|job| job.complete("a\0b\u{e9}\n").unwrap());
    for args in [&[text.as_str()][..], &["k", "text"]] {
        let (code, stdout, stderr) = result(&server, args);
        assert_eq!(code, Some(0), "{args:?}: {stderr}");
        assert_eq!(stdout, "a\0b\u{e9}\n", "{args:?}");
        assert!(stderr.is_empty(), "{stderr}");
    }
    // Bytes that are not UTF-8: exact in data_base64, escaped in data.
    let binary = submit(&server, "k", "binary", "x");
    run_next(&|job| job.complete(b"\xff\x00z").unwrap());
    let out = gearbox(&server, &["result", "--json", &binary]);
    assert_eq!(out.code(), Some(0), "{out}");
    assert_eq!(
        json(&out),
        serde_json::json!({"state": "complete", "size": 3, "data": "\\xff\\0z", "data_base64": "/wB6"})
    );

    // Fail and exception: exit 2, nothing on stdout, the exception's text on stderr.
    let failed = submit(&server, "k", "failed", "x");
    run_next(&|job| job.fail().unwrap());
    let (code, stdout, stderr) = result(&server, &[&failed]);
    assert_eq!((code, stdout.as_str()), (Some(2), ""), "{stderr}");
    assert!(stderr.contains("failed"), "{stderr}");
    submit(&server, "k", "raised", "x");
    run_next(&|job| job.exception("disk full").unwrap());
    let (code, stdout, stderr) = result(&server, &["k", "raised"]);
    assert_eq!((code, stdout.as_str()), (Some(2), ""), "{stderr}");
    assert!(
        stderr.contains("raised an exception: disk full"),
        "{stderr}"
    );
    let out = gearbox(&server, &["result", "k", "raised", "--json"]);
    assert_eq!(
        json(&out),
        serde_json::json!({"state": "exception", "size": 9, "data": "disk full", "data_base64": "ZGlzayBmdWxs"})
    );

    // Pending while queued: exit 3, by handle and by unique.
    let queued = submit(&server, "k", "queued", "x");
    for args in [&[queued.as_str()][..], &["k", "queued"]] {
        let (code, stdout, stderr) = result(&server, args);
        assert_eq!((code, stdout.as_str()), (Some(3), ""), "{args:?}: {stderr}");
        assert!(stderr.contains("has not finished"), "{stderr}");
    }
    let out = gearbox(&server, &["result", "--json", &queued]);
    assert_eq!(json(&out)["state"], "pending", "{out}");
    run_next(&|job| job.complete("late").unwrap());
    assert_eq!(result(&server, &[&queued]).1, "late");

    // Unknown: no such job, no such unique, or a function that keeps nothing: exit 4.
    let plain = submit(&server, "plain", "p", "x");
    run_next(&|job| job.complete("gone").unwrap());
    for args in [&["H:nowhere:1"][..], &["k", "nosuch"], &[plain.as_str()]] {
        let (code, stdout, stderr) = result(&server, args);
        assert_eq!((code, stdout.as_str()), (Some(4), ""), "{args:?}: {stderr}");
        assert!(stderr.contains("no result kept"), "{stderr}");
    }
    let out = gearbox(&server, &["result", "--json", "k", "nosuch"]);
    assert_eq!(
        json(&out),
        serde_json::json!({"state": "unknown", "size": 0, "data": "", "data_base64": ""})
    );
    w.shutdown(WAIT).unwrap();
}

/// A result larger than keep_results_max is cut: what is kept goes to stdout, the full size
/// and the cut to stderr.
#[test]
fn a_result_over_the_cap_is_cut_and_says_so() {
    let dir = TempDir::new("result-cap");
    let config = dir.join("gearbox.toml");
    std::fs::write(
        &config,
        "[functions.\"k\"]\nkeep_results = \"1h\"\nkeep_results_max = \"4\"\n",
    )
    .unwrap();
    let server = Server::start(Kind::Gearboxd, &["--config", config.to_str().unwrap()]);
    let handle = submit(&server, "k", "big", "x");
    gearbox(
        &server,
        &["work", "--count", "1", "k", "--", "echo", "0123456789"],
    )
    .assert_success();
    server.wait_for("the result", |_| result(&server, &[&handle]).0 == Some(0));
    let (_, stdout, stderr) = result(&server, &[&handle]);
    assert_eq!(stdout, "0123");
    assert!(stderr.contains("kept 4 of 11 bytes"), "{stderr}");
}

/// gearmand has no `result`: a failure (exit 1) that says what the server answered.
#[test]
fn gearmand_has_no_kept_results() {
    if !require("gearmand") {
        return;
    }
    let server = Server::start(Kind::Gearmand, &[]);
    let (code, stdout, stderr) = result(&server, &["H:x:1"]);
    assert_eq!((code, stdout.as_str()), (Some(1), ""), "{stderr}");
    assert!(stderr.contains("UNKNOWN_COMMAND"), "{stderr}");
}
