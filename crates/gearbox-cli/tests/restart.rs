//! What gearboxd keeps durably, as the `gearbox` command shows it across a `kill -9`: a dead
//! letter, a kept result, an epoch job not yet due and a recurring schedule, all written to
//! the default SQLite store, are listed the same after the server is killed and started again
//! on the same data directory.

mod cli;

use cli::{gearbox, json};
use gearbox_testkit::{Kind, Server, TempDir, STATE_TIMEOUT};

/// `f`: one retry a second after the first failure, then a dead letter; its results kept.
const CONFIG: &str = "\
[functions.\"f\"]
retries = 1
backoff = \"1s..1s\"
keep_results = \"1h\"
keep_results_max = \"64KiB\"
";

fn submit(server: &Server, args: &[&str]) -> String {
    let mut all = vec!["submit", "-b", "--no-status"];
    all.extend_from_slice(args);
    let out = gearbox(server, &all);
    out.assert_success();
    out.stdout.trim().to_owned()
}

#[test]
fn dead_letters_results_epoch_jobs_and_schedules_survive_kill_9() {
    let dir = TempDir::new("restart");
    let config = dir.join("gearbox.toml");
    std::fs::write(&config, CONFIG).unwrap();
    let data = dir.join("data");
    let args = [
        "--config",
        config.to_str().unwrap(),
        "--data-dir",
        data.to_str().unwrap(),
    ];
    let mut server = Server::start(Kind::Gearboxd, &args);

    // A kept result, then a dead letter (two failed attempts a second apart).
    let kept = submit(&server, &["-u", "kept", "f", "kept data"]);
    gearbox(&server, &["work", "--count", "1", "f", "--", "cat"]).assert_success();
    submit(&server, &["-u", "doomed", "f", "doomed data"]);
    gearbox(&server, &["work", "--count", "2", "f", "--", "false"]).assert_finished();
    server.wait_for("the dead letter", |s| s.admin("dead list").len() == 1);
    // The epoch job and the schedule are acknowledged only once committed; the store commits
    // in order, so the dead letter and the result written before them are committed too.
    let epoch = submit(&server, &["--at", "+3600", "-u", "later", "e", "w"]);
    let out = gearbox(
        &server,
        &[
            "schedule",
            "add",
            "--cron",
            "0 0 1 1 *",
            "-u",
            "yearly",
            "tick",
        ],
    );
    out.assert_success();
    let schedule = out.stdout.trim().to_owned();
    let scheduled_before = json(&gearbox(&server, &["schedule", "list", "--json"]));
    assert_eq!(
        scheduled_before.as_array().unwrap().len(),
        2,
        "{scheduled_before}"
    );

    server.signal("KILL");
    assert!(
        server.wait_exit(STATE_TIMEOUT).is_some(),
        "gearboxd survived kill -9"
    );
    drop(server);
    let server = Server::start(Kind::Gearboxd, &args);

    // The dead letter, whole.
    let rows = json(&gearbox(&server, &["dead", "list", "--json"]));
    let letters = rows.as_array().unwrap();
    assert_eq!(letters.len(), 1, "{rows}");
    assert_eq!(letters[0]["unique"], "doomed");
    assert_eq!(letters[0]["failure"], "fail");
    assert_eq!(letters[0]["attempts"], 2);
    let id = letters[0]["id"].as_u64().unwrap().to_string();
    let shown = json(&gearbox(&server, &["dead", "show", &id, "--json"]));
    assert_eq!(shown["workload"], "doomed data", "{shown}");

    // The kept result, by handle (handles survive restarts) and by unique id.
    for args in [&["result", kept.as_str()][..], &["result", "f", "kept"]] {
        let out = gearbox(&server, args);
        assert_eq!(out.code(), Some(0), "{args:?}: {out}");
        assert_eq!(out.stdout, "kept data", "{args:?}");
    }

    // The epoch job, still pending and due when it was, and the schedule, same handle.
    let scheduled = json(&gearbox(&server, &["schedule", "list", "--json"]));
    assert_eq!(scheduled, scheduled_before);
    let handles: Vec<&str> = scheduled
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["handle"].as_str().unwrap())
        .collect();
    assert_eq!(handles, [epoch.as_str(), schedule.as_str()], "{scheduled}");
    let out = gearbox(&server, &["result", &epoch]);
    assert_eq!(out.code(), Some(3), "the epoch job is pending: {out}");

    // And the restored dead letter can still be retried.
    let out = gearbox(&server, &["dead", "retry", &id]);
    assert_eq!(out.stdout, "1\n", "{out}");
    server.wait_status("f", (1, 0, 0));
}
