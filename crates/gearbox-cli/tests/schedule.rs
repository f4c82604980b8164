//! `gearbox schedule list` (the admin `show scheduled`): epoch jobs not yet due, soonest
//! first, with their due time in UTC; still there, with the same due time, after a `kill -9`
//! and restart of the durable server; gone once cancelled.

mod cli;

use std::time::{SystemTime, UNIX_EPOCH};

use cli::{bare, json};
use gearbox_proto::PacketType as T;
use gearbox_testkit::wire::Conn;
use gearbox_testkit::{run, Kind, Server, TempDir, PROC_TIMEOUT};

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
