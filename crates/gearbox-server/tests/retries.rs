//! Retry policies from `gearboxd --config`, end to end with the real binary: a background job
//! that fails is tried again after its backoff, its attempt number shows in `show jobs`, and
//! once it succeeds it is gone; a configuration file with a mistake stops gearboxd at start
//! with the file and the reason.

use std::time::{Duration, Instant};

use gearbox_proto::PacketType as T;
use gearbox_testkit::wire::Conn;
use gearbox_testkit::{gearboxd_bin, run, Kind, Server, TempDir, PROC_TIMEOUT};

#[test]
fn a_failing_background_job_is_tried_again_after_its_backoff() {
    let dir = TempDir::new("retries");
    let config = dir.path().join("gearbox.toml");
    std::fs::write(
        &config,
        "[functions.\"flaky\"]\nretries = 2\nbackoff = \"1s..1s\"\nretry_on = [\"fail\", \"lost\"]\n",
    )
    .unwrap();
    let server = Server::start(Kind::Gearboxd, &["--config", config.to_str().unwrap()]);
    let mut client = Conn::connect(server.addr);
    let r = client.request_req(T::SubmitJobBg, &[b"flaky", b"u-1", b"payload"]);
    assert!(r[0].is(T::JobCreated), "{}", r[0].describe());

    let mut worker = Conn::connect(server.addr);
    worker.send_req(T::CanDo, &[b"flaky"]);
    let grab = |worker: &mut Conn| {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let r = worker.request_req(T::GrabJobUniq, &[]);
            if r[0].is(T::JobAssignUniq) {
                return (Instant::now(), r[0].args()[0].clone());
            }
            assert!(Instant::now() < deadline, "the job never came back");
            std::thread::sleep(Duration::from_millis(50));
        }
    };
    let (first, handle) = grab(&mut worker);
    worker.send_req(T::WorkFail, &[&handle]);
    let (second, again) = grab(&mut worker);
    assert_eq!(again, handle);
    assert!(
        second - first >= Duration::from_millis(900),
        "{:?}",
        second - first
    );
    let jobs = client.admin_list("show jobs");
    let line = String::from_utf8_lossy(&jobs[0]).into_owned();
    assert_eq!(line.split('\t').nth(1), Some("1"), "attempt count: {line}");
    // Lost this time (the worker drops it), then it completes.
    drop(worker);
    let mut worker = Conn::connect(server.addr);
    worker.send_req(T::CanDo, &[b"flaky"]);
    let (_, third) = grab(&mut worker);
    assert_eq!(third, handle);
    worker.send_req(T::WorkComplete, &[&handle, b"done"]);
    worker.sync();
    assert_eq!(client.admin_list("show jobs"), vec![b".\n".to_vec()]);
}

#[test]
fn a_bad_configuration_file_stops_the_server_with_the_reason() {
    let dir = TempDir::new("bad-config");
    let config = dir.path().join("gearbox.toml");
    std::fs::write(&config, "[functions.\"f\"]\nbackoff = \"10m..1s\"\n").unwrap();
    let mut cmd = std::process::Command::new(gearboxd_bin());
    cmd.args(["-L", "127.0.0.1", "-p", "0", "-q", "memory", "--config"])
        .arg(&config);
    let out = run(cmd, PROC_TIMEOUT);
    assert!(!out.success(), "{out}");
    assert!(out.stderr.contains("gearbox.toml"), "{out}");
    assert!(out.stderr.contains("lower bound"), "{out}");
}
