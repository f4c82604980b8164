//! The `gearboxd` command line: gearmand's flags and environment, files it writes, and the
//! privilege drop. Each test runs the real binary.

use std::fs;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use gearbox_testkit::{free_port, in_ci, wire, Kind, Server, TempDir};

const GEARBOXD: &str = env!("CARGO_BIN_EXE_gearboxd");

fn output(args: &[&str]) -> (bool, String) {
    let out = Command::new(GEARBOXD)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run gearboxd");
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    (out.status.success(), text)
}

#[test]
fn help_explains_every_gearmand_flag() {
    let (ok, text) = output(&["--help"]);
    assert!(ok);
    for flag in [
        "--port",
        "--listen",
        "--job-retries",
        "--worker-wakeup",
        "--threads",
        "--queue-type",
        "--verbose",
        "--log-file",
        "--pid-file",
        "--user",
        "--keepalive",
        "--keepalive-idle",
        "--keepalive-interval",
        "--keepalive-count",
        "--backlog",
        "--exceptions",
        "--job-handle-prefix",
        "--libsqlite3-db",
        "GEARMAND_PORT",
    ] {
        assert!(
            text.contains(flag),
            "--help does not mention {flag}:\n{text}"
        );
    }
    let (ok, text) = output(&["-V"]);
    assert!(ok && text.contains("gearboxd"), "{text}");
}

#[test]
fn unknown_queue_type_and_level_are_refused_clearly() {
    let dir = TempDir::new("cli");
    let data = dir.path().to_str().unwrap();
    let cases: [(&[&str], &str); 3] = [
        (&["--data-dir", data, "-q", "libmemcached"], "libmemcached"),
        (&["-q", "memory", "--verbose", "LOUD"], "LOUD"),
        (
            &["-q", "memory", "--resident-jobs", "10"],
            "--resident-jobs needs a durable store",
        ),
    ];
    for (args, expected) in cases {
        let mut all = vec!["-L", "127.0.0.1", "-p", "0"];
        all.extend_from_slice(args);
        let (ok, text) = output(&all);
        assert!(!ok, "{args:?} was accepted");
        assert!(text.contains(expected), "{args:?}: {text}");
    }
}

#[test]
fn gearmand_port_environment_variable_sets_the_port() {
    let dir = TempDir::new("cli-env");
    let port = free_port();
    let ready = dir.join("ready");
    let mut child = Command::new(GEARBOXD)
        .args([
            "-L",
            "127.0.0.1",
            "-q",
            "memory",
            "-l",
            "none",
            "--ready-file",
        ])
        .arg(&ready)
        .env("GEARMAND_PORT", port.to_string())
        .stdin(Stdio::null())
        .spawn()
        .expect("spawn gearboxd");
    let deadline = Instant::now() + Duration::from_secs(10);
    let text = loop {
        if let Ok(text) = fs::read_to_string(&ready) {
            if text.ends_with('\n') {
                break text;
            }
        }
        assert!(Instant::now() < deadline, "gearboxd did not start");
        std::thread::sleep(Duration::from_millis(20));
    };
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(text.trim(), format!("127.0.0.1:{port}"));
}

#[test]
fn pid_file_and_log_file_are_written_and_the_pid_file_removed_on_exit() {
    let files = TempDir::new("cli-files");
    let pid_file = files.join("gearboxd.pid");
    let log_file = files.join("gearboxd.log");
    let mut server = Server::start(
        Kind::Gearboxd,
        &[
            "-P",
            pid_file.to_str().unwrap(),
            "-l",
            log_file.to_str().unwrap(),
        ],
    );
    assert_eq!(
        fs::read_to_string(&pid_file).unwrap().trim(),
        server.pid().to_string()
    );
    assert!(fs::read_to_string(&log_file).unwrap().contains("listening"));
    server.terminate();
    let status = server
        .wait_exit(Duration::from_secs(10))
        .expect("exit after SIGTERM");
    assert!(status.success(), "{status}");
    assert!(!pid_file.exists(), "pid file left behind");
}

#[test]
fn user_flag_drops_privileges_after_binding() {
    let uid = |name: &str| {
        let out = Command::new("id").args(["-u", name]).output().expect("id");
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    };
    if uid("") != "0" && !in_ci() {
        eprintln!("skipping: dropping privileges needs root");
        return;
    }
    let nobody = uid("nobody");
    assert!(!nobody.is_empty(), "no user nobody");
    // The store is opened after the drop, so its directory must belong to the user.
    let data = TempDir::new("cli-user");
    let status = Command::new("chown")
        .args(["-R", "nobody"])
        .arg(data.path())
        .status()
        .unwrap();
    assert!(status.success());
    let server = Server::start(
        Kind::Gearboxd,
        &["-u", "nobody", "--data-dir", data.path().to_str().unwrap()],
    );
    let proc_status = fs::read_to_string(format!("/proc/{}/status", server.pid())).unwrap();
    let uids = proc_status
        .lines()
        .find(|l| l.starts_with("Uid:"))
        .unwrap()
        .to_owned();
    assert_eq!(
        uids.split_whitespace().skip(1).collect::<Vec<_>>(),
        vec![nobody.as_str(); 4],
        "{uids}"
    );
    wire::assert_serving(server.addr);
    assert!(data.join("gearbox.db").exists());
}

/// The layers of the configuration with the real binary: a flag beats `GEARBOX_*`, which
/// beats the file's `[server]` table, which beats the default; `--print-config` says which
/// gave each value, and `--check-config` names the line and key of a mistake.
#[test]
fn settings_come_from_flags_environment_file_and_defaults_in_that_order() {
    let dir = TempDir::new("layers");
    let config = dir.join("gearbox.toml");
    fs::write(
        &config,
        "[server]\nmax_queue = 7\nshutdown_timeout = 9\nbacklog = 64\nhttp_listen = [\"127.0.0.1:9730\"]\n",
    )
    .unwrap();
    let out = Command::new(GEARBOXD)
        .args([
            "--config",
            config.to_str().unwrap(),
            "--shutdown-timeout",
            "3",
            "--print-config",
        ])
        .env("GEARBOX_MAX_QUEUE", "50")
        .env("GEARBOX_BACKLOG", "128")
        .output()
        .expect("run gearboxd");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for line in [
        "max_queue = 50  # environment",
        "backlog = 128  # environment",
        "shutdown_timeout = 3  # flag",
        "http_listen = [\"127.0.0.1:9730\"]  # file",
        "port = 4730  # default",
    ] {
        assert!(text.lines().any(|l| l == line), "{line:?} in\n{text}");
    }

    fs::write(&config, "[server]\nport = 4730\n\nmax_queue = \"lots\"\n").unwrap();
    let (ok, text) = output(&["--check-config", config.to_str().unwrap()]);
    assert!(!ok);
    assert!(
        text.contains("gearbox.toml:4: [server] max_queue:"),
        "{text}"
    );
    assert!(text.contains("lots"), "{text}");
    fs::write(
        &config,
        "[server]\nport = 4731\n[functions.\"f\"]\nretries = 2\n",
    )
    .unwrap();
    let (ok, text) = output(&["--check-config", config.to_str().unwrap()]);
    assert!(ok, "{text}");
    assert!(text.contains("good"), "{text}");
    // The file's settings are in force when the server runs.
    let server = Server::start(
        Kind::Gearboxd,
        &["--config", config.to_str().unwrap(), "-p", "0"],
    );
    wire::assert_serving(server.addr);
}

/// `--log-format json`: one JSON object a line; a connection's lines carry its span (id,
/// address and, once set, client id); the admin commands that change something are in the
/// access log at INFO.
#[test]
fn json_logs_carry_the_connection_and_the_access_log() {
    let files = TempDir::new("cli-json-log");
    let log_file = files.join("gearboxd.log");
    let server = Server::start(
        Kind::Gearboxd,
        &[
            "-l",
            log_file.to_str().unwrap(),
            "--log-format",
            "json",
            "-q",
            "memory",
        ],
    );
    let mut admin = wire::Conn::connect(server.addr);
    admin.send_req(gearbox_proto::PacketType::SetClientId, &[b"ops-console"]);
    assert_eq!(admin.admin_line("maxqueue resize 5"), b"OK\r\n");
    let deadline = Instant::now() + Duration::from_secs(10);
    let line = loop {
        let text = fs::read_to_string(&log_file).unwrap_or_default();
        if let Some(line) = text.lines().find(|l| l.contains("maxqueue resize 5")) {
            break line.to_owned();
        }
        assert!(Instant::now() < deadline, "no access log line in\n{text}");
        std::thread::sleep(Duration::from_millis(50));
    };
    let entry: serde_json::Value = serde_json::from_str(&line).expect("a JSON line");
    assert_eq!(entry["target"], "gearboxd::access", "{line}");
    assert_eq!(entry["level"], "INFO", "{line}");
    assert_eq!(entry["span"]["client_id"], "ops-console", "{line}");
    assert!(
        entry["span"]["peer"]
            .as_str()
            .unwrap()
            .starts_with("127.0.0.1:"),
        "{line}"
    );
    // Every line is JSON.
    for line in fs::read_to_string(&log_file).unwrap().lines() {
        serde_json::from_str::<serde_json::Value>(line).unwrap_or_else(|e| panic!("{e}: {line}"));
    }
}
