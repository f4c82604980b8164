//! `gearbox schedule list` (the admin `show scheduled`): epoch jobs not yet due, soonest
//! first, with their due time in UTC; still there, with the same due time, after a `kill -9`
//! and restart of the durable server; gone once cancelled. `gearbox schedule add` creates a
//! recurring job (SUBMIT_JOB_SCHED) that the listing shows with its next firing, replaced by
//! the same unique id, removed by `gearbox schedule rm`; a bad cron expression is a clear
//! error, and gearmand refuses schedules.

mod cli;

use std::time::{SystemTime, UNIX_EPOCH};

use cli::{bare, gearbox, json};
use gearbox_proto::PacketType as T;
use gearbox_testkit::wire::Conn;
use gearbox_testkit::{require, run, Kind, Server, TempDir, PROC_TIMEOUT};

fn list(server: &Server) -> serde_json::Value {
    let mut cmd = bare(&cli::no_home(), &["schedule"]);
    cmd.args(["-s", &server.addr.to_string(), "list", "--json"]);
    let out = run(cmd, PROC_TIMEOUT);
    out.assert_success();
    json(&out)
}

#[test]
fn scheduled_jobs_are_listed_survive_a_crash_and_can_be_cancelled() {
    let data = TempDir::new("schedule");
    let dir = data.path().to_string_lossy().into_owned();
    let server = Server::start(Kind::Gearboxd, &["--data-dir", &dir]);
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    // 2030-01-01T00:00:00Z and 2029-06-15T12:30:00Z, submitted latest first.
    let mut c = Conn::connect(server.addr);
    let mut handles = Vec::new();
    for (unique, when) in [("later", 1_893_456_000u64), ("sooner", 1_876_221_000)] {
        assert!(when > now, "the test's dates are in the past");
        let r = c.request_req(
            T::SubmitJobEpoch,
            &[
                b"report",
                unique.as_bytes(),
                when.to_string().as_bytes(),
                b"w",
            ],
        );
        assert!(r[0].is(T::JobCreated), "{}", r[0].describe());
        handles.push(String::from_utf8_lossy(&r[0].args()[0]).into_owned());
    }
    let r = c.request_req(T::SubmitJobBg, &[b"report", b"now", b"w"]);
    assert!(r[0].is(T::JobCreated));

    let rows = list(&server);
    let expected = serde_json::json!([
        {"handle": handles[1], "function": "report", "unique": "sooner",
         "due": "2029-06-15T12:30:00Z", "priority": "normal"},
        {"handle": handles[0], "function": "report", "unique": "later",
         "due": "2030-01-01T00:00:00Z", "priority": "normal"},
    ]);
    assert_eq!(rows, expected);

    // kill -9 and a restart on the same store: the same jobs, due at the same times.
    drop(c);
    drop(server);
    let server = Server::start(Kind::Gearboxd, &["--data-dir", &dir]);
    let rows = list(&server);
    let dues: Vec<&str> = rows
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["due"].as_str().unwrap())
        .collect();
    assert_eq!(
        dues,
        ["2029-06-15T12:30:00Z", "2030-01-01T00:00:00Z"],
        "{rows}"
    );
    let uniques: Vec<&str> = rows
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["unique"].as_str().unwrap())
        .collect();
    assert_eq!(uniques, ["sooner", "later"]);

    // `gearbox submit --at` schedules one too.
    let mut at = bare(&cli::no_home(), &["submit"]);
    at.args([
        "-s",
        &server.addr.to_string(),
        "--background",
        "--no-status",
        "--at",
        "+86400",
        "--unique",
        "tomorrow",
        "report",
        "w",
    ]);
    run(at, PROC_TIMEOUT).assert_success();
    let rows = list(&server);
    assert_eq!(rows.as_array().unwrap().len(), 3, "{rows}");
    assert_eq!(rows[0]["unique"], "tomorrow", "{rows}");
    let mut cancel = bare(&cli::no_home(), &["admin"]);
    cancel.args([
        "-s",
        &server.addr.to_string(),
        "cancel",
        rows[0]["handle"].as_str().unwrap(),
    ]);
    run(cancel, PROC_TIMEOUT).assert_success();

    // Cancel the sooner one by its (new) handle.
    let rows = list(&server);
    assert_eq!(rows[0]["unique"], "sooner", "{rows}");
    let handle = rows[0]["handle"].as_str().unwrap().to_owned();
    let mut cancel = bare(&cli::no_home(), &["admin"]);
    cancel.args(["-s", &server.addr.to_string(), "cancel", &handle]);
    run(cancel, PROC_TIMEOUT).assert_success();
    let rows = list(&server);
    let left = rows.as_array().unwrap();
    assert_eq!(left.len(), 1, "{rows}");
    assert_eq!(left[0]["unique"], "later");
}

/// A schedule from the configuration file is listed with its next firing, on a minute.
#[test]
fn configured_schedules_are_listed_with_their_next_firing() {
    let dir = TempDir::new("cron");
    let config = dir.path().join("gearbox.toml");
    std::fs::write(
        &config,
        "[[schedule]]\ncron = \"*/10 * * * *\"\nfunction = \"tick\"\nunique = \"ten\"\npriority = \"high\"\n",
    )
    .unwrap();
    let server = Server::start(
        Kind::Gearboxd,
        &["-q", "memory", "--config", config.to_str().unwrap()],
    );
    let rows = list(&server);
    let row = &rows[0];
    assert_eq!(row["handle"], "cron:1", "{rows}");
    assert_eq!(row["function"], "tick");
    assert_eq!(row["unique"], "ten");
    assert_eq!(row["priority"], "high");
    let due = row["due"].as_str().unwrap();
    // 2026-12-04T19:50:00Z: minutes a multiple of ten, seconds zero.
    assert!(due.ends_with("0:00Z"), "{due}");
    assert_eq!(&due[15..16], "0", "{due}");
}

/// `schedule add` prints the handle `schedule list` shows with the next firing; adding again
/// with the same unique id replaces the schedule under the same handle; `schedule rm` removes
/// it, and a second `rm` finds nothing.
#[test]
fn schedules_are_added_listed_replaced_and_removed() {
    let server = Server::start(Kind::Gearboxd, &[]);
    let out = gearbox(
        &server,
        &[
            "schedule",
            "add",
            "--cron",
            "*/5 * * * *",
            "--unique",
            "poll",
            "tick",
            "feeds",
        ],
    );
    out.assert_success();
    let handle = out.stdout.trim().to_owned();
    assert!(handle.starts_with("H:"), "{out}");

    let rows = list(&server);
    assert_eq!(rows.as_array().unwrap().len(), 1, "{rows}");
    let row = &rows[0];
    assert_eq!(row["handle"], handle.as_str(), "{rows}");
    assert_eq!(row["function"], "tick");
    assert_eq!(row["unique"], "poll");
    assert_eq!(row["priority"], "normal");
    // The next firing is on a minute that is a multiple of five, on the minute.
    let due = row["due"].as_str().unwrap();
    assert!(due.ends_with(":00Z"), "{due}");
    let minute: u32 = due[14..16].parse().unwrap();
    assert_eq!(minute % 5, 0, "{due}");

    // The same function and unique: replaced, same handle, the new firing time.
    let out = gearbox(
        &server,
        &[
            "schedule",
            "add",
            "--json",
            "--cron",
            "0 0 1 1 *",
            "-u",
            "poll",
            "tick",
        ],
    );
    out.assert_success();
    assert_eq!(json(&out)["handle"], handle.as_str(), "{out}");
    let rows = list(&server);
    assert_eq!(rows.as_array().unwrap().len(), 1, "{rows}");
    assert!(
        rows[0]["due"]
            .as_str()
            .unwrap()
            .ends_with("-01-01T00:00:00Z"),
        "{rows}"
    );
    // Another unique id is another schedule; without one the server names it.
    let out = gearbox(&server, &["schedule", "add", "--cron", "@daily", "tock"]);
    out.assert_success();
    let other = out.stdout.trim().to_owned();
    assert_ne!(other, handle);
    let rows = list(&server);
    assert_eq!(rows.as_array().unwrap().len(), 2, "{rows}");

    let out = gearbox(&server, &["schedule", "rm", &handle]);
    out.assert_success();
    assert_eq!(out.stdout, "OK\n");
    let rows = list(&server);
    let left = rows.as_array().unwrap();
    assert_eq!(left.len(), 1, "{rows}");
    assert_eq!(left[0]["handle"], other.as_str());
    let out = gearbox(&server, &["schedule", "rm", &handle]);
    assert_eq!(out.code(), Some(1), "{out}");
    assert!(out.stderr.contains("UNKNOWN_JOB"), "{out}");
}

/// Not five fields: refused before anything is sent. Five the server cannot read: its
/// INVALID_SCHEDULE and reason. Nothing is created either way.
#[test]
fn a_bad_cron_expression_is_a_clear_error() {
    let server = Server::start(Kind::Gearboxd, &[]);
    let out = gearbox(&server, &["schedule", "add", "--cron", "*/5 * * *", "tick"]);
    assert_eq!(out.code(), Some(1), "{out}");
    assert!(
        out.stderr
            .contains("has 4 field(s); expected 5: minute hour"),
        "{out}"
    );
    for bad in ["61 * * * *", "* * * * funday", "*/0 * * * *"] {
        let out = gearbox(&server, &["schedule", "add", "--cron", bad, "tick"]);
        assert_eq!(out.code(), Some(1), "{bad}: {out}");
        assert!(out.stderr.contains("INVALID_SCHEDULE"), "{bad}: {out}");
        assert!(out.stderr.contains("not valid"), "{bad}: {out}");
    }
    let long = "u".repeat(54);
    let out = gearbox(
        &server,
        &["schedule", "add", "--cron", "@hourly", "-u", &long, "tick"],
    );
    assert_eq!(out.code(), Some(1), "{out}");
    assert!(out.stderr.contains("53 bytes"), "{out}");
    assert_eq!(list(&server), serde_json::json!([]));
}

/// gearmand has no SUBMIT_JOB_SCHED: it answers ERROR INVALID_COMMAND, which gearbox reports.
#[test]
fn gearmand_refuses_schedules() {
    if !require("gearmand") {
        return;
    }
    let server = Server::start(Kind::Gearmand, &[]);
    let out = gearbox(
        &server,
        &["schedule", "add", "--cron", "@hourly", "-u", "h", "tick"],
    );
    assert_eq!(out.code(), Some(1), "{out}");
    assert!(out.stderr.contains("schedules need gearboxd"), "{out}");
}
