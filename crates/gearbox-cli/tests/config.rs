//! Where `gearbox` finds its servers, run for real: `--server` over `GEARMAN_SERVERS` over the
//! config file (`--config`, `$GEARBOX_CONFIG`, `~/.config/gearbox/config`), and the config
//! file's `timeout`.

mod cli;

use std::process::Command;

use gearbox_testkit::{both_servers, free_port, Kind, Output, Server, TempDir, PROC_TIMEOUT};

/// An address where nothing listens.
fn dead() -> String {
    format!("127.0.0.1:{}", free_port())
}

fn run(c: Command) -> Output {
    gearbox_testkit::run(c, PROC_TIMEOUT)
}

/// `admin getpid` answered by `server`: proves which server the command reached.
#[track_caller]
fn reached(kind: Kind, server: &Server, out: &Output) {
    out.assert_success();
    assert_eq!(
        out.stdout.trim(),
        server.pid().to_string(),
        "[{kind}]\n{out}"
    );
}

fn gearman_servers_env(kind: Kind) {
    let server = Server::start(kind, &[]);
    let home = TempDir::new("home");
    // The env var alone (the default port 4730 is covered by the unit tests: tests never
    // touch a fixed port).
    let mut c = cli::bare(home.path(), &["admin", "getpid"]);
    c.env("GEARMAN_SERVERS", server.addr.to_string());
    reached(kind, &server, &run(c));
    // --server wins over the env var.
    let mut c = cli::bare(
        home.path(),
        &["admin", "-s", &server.addr.to_string(), "getpid"],
    );
    c.env("GEARMAN_SERVERS", dead());
    reached(kind, &server, &run(c));
    // Jobs go through a list with a dead server too (the library fails over).
    let _w = cli::worker(&server, &["echo", "--", "cat"]);
    server.wait_workers("echo", 1);
    let mut c = cli::bare(home.path(), &["submit", "echo", "via-env"]);
    c.env("GEARMAN_SERVERS", format!("{},{}", dead(), server.addr));
    let out = run(c);
    out.assert_success();
    assert_eq!(out.stdout, "via-env", "[{kind}]\n{out}");
}

fn config_files(kind: Kind) {
    let server = Server::start(kind, &[]);
    let home = TempDir::new("home");
    let file = home.join("cfg");
    std::fs::write(
        &file,
        format!("# test\nserver = {}\ntimeout = 0.5\n", server.addr),
    )
    .unwrap();

    let mut c = cli::bare(home.path(), &["admin", "getpid"]);
    c.arg("--config").arg(&file);
    reached(kind, &server, &run(c));

    let mut c = cli::bare(home.path(), &["admin", "getpid"]);
    c.env("GEARBOX_CONFIG", &file);
    reached(kind, &server, &run(c));

    // GEARMAN_SERVERS beats the file.
    let mut c = cli::bare(home.path(), &["admin", "--timeout", "1", "getpid"]);
    c.env("GEARBOX_CONFIG", &file)
        .env("GEARMAN_SERVERS", dead());
    assert_eq!(
        run(c).code(),
        Some(1),
        "[{kind}] GEARMAN_SERVERS must win over the file"
    );

    // The default file under $HOME.
    std::fs::create_dir_all(home.join(".config/gearbox")).unwrap();
    std::fs::copy(&file, home.join(".config/gearbox/config")).unwrap();
    reached(
        kind,
        &server,
        &run(cli::bare(home.path(), &["admin", "getpid"])),
    );

    // The file's timeout applies to submit: nobody serves `idle`.
    let out = run(cli::bare(home.path(), &["submit", "idle", "x"]));
    assert_eq!(out.code(), Some(1), "[{kind}]\n{out}");
    assert!(
        out.stderr.contains("timed out after 0.5s"),
        "[{kind}]\n{out}"
    );

    // A named file that does not exist, or a bad line, is an error.
    let mut c = cli::bare(home.path(), &["admin", "getpid"]);
    c.arg("--config").arg(home.join("missing"));
    let out = run(c);
    assert_eq!(out.code(), Some(1), "{out}");
    assert!(out.stderr.contains("cannot read config file"), "{out}");
    std::fs::write(&file, "srever = x\n").unwrap();
    let mut c = cli::bare(home.path(), &["admin", "getpid"]);
    c.arg("--config").arg(&file);
    let out = run(c);
    assert!(out.stderr.contains("unknown key"), "{out}");
}

both_servers!(gearman_servers_env, config_files);

/// No reachable server: submit fails at once with a message naming the problem.
#[test]
fn submit_without_a_server() {
    let mut c = cli::bare(&cli::no_home(), &["submit", "-s", &dead(), "f", "x"]);
    c.args(["--timeout", "5"]);
    let out = run(c);
    assert_eq!(out.code(), Some(1), "{out}");
    assert!(out.stderr.contains("no job server reachable"), "{out}");
}
