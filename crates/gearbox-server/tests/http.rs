//! The HTTP listener end to end with the real binary: `/healthz` and `/readyz` answer,
//! `/metrics` counts a known workload exactly (jobs submitted, completed, failed, coalesced,
//! the time histograms' counts, the gauges) and passes Prometheus's own `promtool check
//! metrics` (format and naming conventions). Without `--http-listen` nothing listens.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use gearbox_proto::PacketType as T;
use gearbox_testkit::wire::Conn;
use gearbox_testkit::{require, Kind, Server, TempDir};

/// `method path` over HTTP/1.1 with an empty body; the status code and the body.
fn request(addr: SocketAddr, method: &str, path: &str) -> (u16, String) {
    let mut stream = TcpStream::connect(addr).expect("connect to the HTTP listener");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: gearbox\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut response = String::new();
    stream
        .read_to_string(&mut response)
        .expect("read the response");
    let (head, body) = response
        .split_once("\r\n\r\n")
        .expect("a header and a body");
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("a status line");
    (status, body.to_owned())
}

/// `GET path`.
fn get(addr: SocketAddr, path: &str) -> (u16, String) {
    request(addr, "GET", path)
}

/// The value of the sample written exactly as `series` (name and labels).
fn sample(page: &str, series: &str) -> f64 {
    page.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or_else(|| panic!("no sample {series} in\n{page}"))
}

#[test]
fn health_and_readiness_answer() {
    let server = Server::start(Kind::Gearboxd, &["--http-listen", "127.0.0.1:0"]);
    let http = server.http[0];
    assert_eq!(get(http, "/healthz"), (200, "ok\n".to_owned()));
    assert_eq!(get(http, "/readyz"), (200, "ready\n".to_owned()));
    assert_eq!(get(http, "/no/such/page").0, 404);
    // `/NAME` takes gearmand's HTTP submissions, by POST only.
    assert_eq!(get(http, "/nothing").0, 405);
}

#[test]
fn no_http_listener_unless_asked() {
    let server = Server::start(Kind::Gearboxd, &[]);
    assert!(server.http.is_empty());
}

#[test]
fn metrics_count_a_known_workload_and_pass_promtool() {
    let dir = TempDir::new("metrics");
    let config = dir.path().join("gearbox.toml");
    std::fs::write(&config, "[functions.\"flaky\"]\nretries = 0\n").unwrap();
    let server = Server::start(
        Kind::Gearboxd,
        &[
            "--http-listen",
            "127.0.0.1:0",
            "--config",
            config.to_str().unwrap(),
        ],
    );
    let http = server.http[0];
    let mut client = Conn::connect(server.addr);
    // 20 background jobs to `work`, one of them submitted three times (2 coalesced), 3 high
    // foreground jobs to `work`, and 4 background jobs to `flaky` that fail.
    for n in 0..20 {
        let unique = format!("u{n}");
        let r = client.request_req(T::SubmitJobBg, &[b"work", unique.as_bytes(), b"x"]);
        assert!(r[0].is(T::JobCreated), "{}", r[0].describe());
    }
    for _ in 0..2 {
        let r = client.request_req(T::SubmitJobBg, &[b"work", b"u7", b"x"]);
        assert!(r[0].is(T::JobCreated), "{}", r[0].describe());
    }
    for n in 0..4 {
        let unique = format!("f{n}");
        client.request_req(T::SubmitJobBg, &[b"flaky", unique.as_bytes(), b"x"]);
    }
    let mut foreground = Conn::connect(server.addr);
    for n in 0..3 {
        let unique = format!("fg{n}");
        foreground.send_req(T::SubmitJobHigh, &[b"work", unique.as_bytes(), b"x"]);
    }
    let created = foreground.recv_n(3);
    assert!(created.iter().all(|r| r.is(T::JobCreated)));

    let page = get(http, "/metrics").1;
    assert_eq!(
        sample(
            &page,
            r#"gearbox_jobs_queued{function="work",priority="normal"}"#
        ),
        20.0
    );
    assert_eq!(
        sample(
            &page,
            r#"gearbox_jobs_queued{function="work",priority="high"}"#
        ),
        3.0
    );

    let mut worker = Conn::connect(server.addr);
    worker.send_req(T::CanDo, &[b"work"]);
    worker.send_req(T::CanDo, &[b"flaky"]);
    let mut ran = 0;
    loop {
        let r = worker.request_req(T::GrabJob, &[]);
        if r[0].is(T::NoJob) {
            break;
        }
        let args = r[0].args();
        let kind = if args[1] == b"flaky" {
            T::WorkFail
        } else {
            T::WorkComplete
        };
        if kind == T::WorkFail {
            worker.send_req(kind, &[&args[0]]);
        } else {
            worker.send_req(kind, &[&args[0], b"done"]);
        }
        ran += 1;
        assert!(ran <= 27, "more jobs than submitted");
    }
    worker.sync();
    assert_eq!(ran, 27);
    let _ = foreground.recv_n(3);

    let (status, page) = get(http, "/metrics");
    assert_eq!(status, 200);
    let work = |name: &str| sample(&page, &format!("{name}{{function=\"work\"}}"));
    let flaky = |name: &str| sample(&page, &format!("{name}{{function=\"flaky\"}}"));
    assert_eq!(
        sample(
            &page,
            r#"gearbox_jobs_submitted_total{function="work",priority="normal",kind="background"}"#
        ),
        20.0
    );
    assert_eq!(
        sample(
            &page,
            r#"gearbox_jobs_submitted_total{function="work",priority="high",kind="foreground"}"#
        ),
        3.0
    );
    assert_eq!(work("gearbox_jobs_coalesced_total"), 2.0);
    assert_eq!(work("gearbox_jobs_completed_total"), 23.0);
    assert_eq!(flaky("gearbox_jobs_failed_total"), 4.0);
    assert_eq!(flaky("gearbox_jobs_completed_total"), 0.0);
    assert_eq!(work("gearbox_job_queue_wait_seconds_count"), 23.0);
    assert_eq!(work("gearbox_job_run_seconds_count"), 23.0);
    // Every wait was shorter than the test.
    let waited = work("gearbox_job_queue_wait_seconds_sum");
    assert!((0.0..120.0).contains(&(waited / 23.0)), "{waited}");
    assert_eq!(work("gearbox_jobs_running"), 0.0);
    assert_eq!(work("gearbox_function_workers"), 1.0);
    assert_eq!(sample(&page, "gearbox_workers"), 1.0);
    assert_eq!(sample(&page, "gearbox_clients"), 2.0);
    assert_eq!(sample(&page, "gearbox_jobs_in_memory"), 0.0);
    assert!(sample(&page, "process_resident_memory_bytes") > 1e6);
    // The default store is durable: its commits are counted.
    assert!(sample(&page, "gearbox_store_commit_seconds_count") >= 1.0);
    assert!(sample(&page, "gearbox_store_commit_batch_size_sum") >= 24.0);

    gearbox_testkit::prometheus::assert_clean(&page);
}

/// `method path` over HTTP/1.1, parsed as JSON.
fn json(addr: SocketAddr, method: &str, path: &str) -> (u16, serde_json::Value) {
    let (status, body) = request(addr, method, path);
    let value = serde_json::from_str(&body).unwrap_or_else(|e| panic!("{e}: {body:?}"));
    (status, value)
}

/// The JSON API lists what the admin protocol lists for the same state, and its actions do
/// what the admin commands do.
#[test]
fn the_json_api_agrees_with_the_admin_protocol() {
    let dir = TempDir::new("api");
    let config = dir.path().join("gearbox.toml");
    std::fs::write(
        &config,
        "[functions.\"f\"]\nretries = 0\nkeep_results = \"1h\"\n",
    )
    .unwrap();
    let server = Server::start(
        Kind::Gearboxd,
        &[
            "--http-listen",
            "127.0.0.1:0",
            "--config",
            config.to_str().unwrap(),
        ],
    );
    let http = server.http[0];
    let mut client = Conn::connect(server.addr);
    let mut handles = Vec::new();
    for unique in ["a", "b", "c"] {
        let r = client.request_req(T::SubmitJobBg, &[b"f", unique.as_bytes(), b"w"]);
        handles.push(String::from_utf8(r[0].args()[0].clone()).unwrap());
    }
    client.request_req(T::SubmitJobEpoch, &[b"f", b"later", b"4102444800", b"w"]);
    client.request_req(
        T::SubmitJobSched,
        &[b"f", b"nightly", b"0", b"3", b"", b"", b"", b""],
    );
    let mut worker = Conn::connect(server.addr);
    worker.send_req(T::SetClientId, &[b"api-worker"]);
    worker.send_req(T::CanDo, &[b"f"]);
    // a completes, b fails (a dead letter), c stays queued.
    for (kind, handle) in [(T::WorkComplete, &handles[0]), (T::WorkFail, &handles[1])] {
        let r = worker.request_req(T::GrabJob, &[]);
        assert_eq!(r[0].args()[0], handle.as_bytes());
        let args: &[&[u8]] = if kind == T::WorkFail {
            &[handle.as_bytes()]
        } else {
            &[handle.as_bytes(), b"done"]
        };
        worker.send_req(kind, args);
    }
    worker.sync();

    let (status, functions) = json(http, "GET", "/api/functions");
    assert_eq!(status, 200);
    let f = functions
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["name"] == "f")
        .unwrap();
    // `status`: f, jobs in memory (c and the epoch job), running, workers.
    assert_eq!(server.function_status("f"), Some((2, 0, 1)));
    assert_eq!(f["queued"]["normal"], 2);
    assert_eq!(
        (f["running"].as_u64(), f["workers"].as_u64()),
        (Some(0), Some(1))
    );
    assert_eq!(
        (f["completed"].as_u64(), f["failed"].as_u64()),
        (Some(1), Some(1))
    );

    // `workers` is asked on a connection of its own, which it lists too. The admin
    // connections asked before may still be closing on the server when the API is asked
    // (the server sees the close a moment after the test drops it): ask again until the
    // two views are of the same moment, within a bound.
    let mut tries = 0;
    let connections = loop {
        let (_, connections) = json(http, "GET", "/api/connections");
        let workers = server.admin("workers");
        if connections.as_array().unwrap().len() + 1 == workers.len() {
            break connections;
        }
        tries += 1;
        assert!(
            tries < 100,
            "the API lists {connections} but `workers` lists {workers:?}"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    let w = connections
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["client_id"] == "api-worker")
        .unwrap();
    assert_eq!(w["functions"], serde_json::json!(["f"]));

    let (_, jobs) = json(http, "GET", "/api/jobs?limit=1");
    assert_eq!(jobs["total"], 2);
    assert_eq!(jobs["jobs"].as_array().unwrap().len(), 1);
    let (_, jobs) = json(http, "GET", "/api/jobs");
    let listed: Vec<String> = server
        .admin("show jobs")
        .iter()
        .map(|l| l.split('\t').next().unwrap().to_owned())
        .collect();
    let api: Vec<String> = jobs["jobs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|j| j["handle"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(api, listed);

    let (_, scheduled) = json(http, "GET", "/api/scheduled");
    let text = server.admin("show scheduled");
    assert_eq!(scheduled.as_array().unwrap().len(), text.len());
    for (row, line) in scheduled.as_array().unwrap().iter().zip(&text) {
        let fields: Vec<&str> = line.split('\t').collect();
        assert_eq!(row["handle"], fields[0]);
        assert_eq!(row["due"], fields[3]);
    }
    assert_eq!(scheduled[0]["unique"], "nightly");
    assert_eq!(scheduled[0]["cron"], "0 3 * * *");

    let (_, dead) = json(http, "GET", "/api/dead");
    let dead = dead.as_array().unwrap();
    assert_eq!(dead.len(), 1);
    assert_eq!(
        (dead[0]["unique"].as_str(), dead[0]["worker"].as_str()),
        (Some("b"), Some("api-worker"))
    );
    let (_, result) = json(http, "GET", &format!("/api/results/{}", handles[0]));
    assert_eq!(
        result,
        serde_json::json!({"state": "complete", "size": 4, "data_base64": "ZG9uZQ=="})
    );
    let (_, result) = json(http, "GET", "/api/results/f/c");
    assert_eq!(result["state"], "pending");

    // Actions: retry the dead letter (b runs again), cancel c, a queue limit.
    assert_eq!(
        json(http, "POST", "/api/dead/1/retry"),
        (200, serde_json::json!({"count": 1}))
    );
    assert_eq!(json(http, "POST", "/api/dead/1/retry").0, 404);
    let (status, _) = json(http, "POST", &format!("/api/jobs/{}/cancel", handles[2]));
    assert_eq!(status, 200);
    assert_eq!(
        json(http, "POST", &format!("/api/jobs/{}/cancel", handles[2])).0,
        404
    );
    let (status, _) = json(http, "POST", "/api/functions/g/maxqueue?normal=1");
    assert_eq!(status, 200);
    let r = client.request_req(T::SubmitJobBg, &[b"g", b"", b"1"]);
    assert!(r[0].is(T::JobCreated), "{}", r[0].describe());
    let r = client.request_req(T::SubmitJobBg, &[b"g", b"", b"2"]);
    assert!(r[0].is(T::Error), "over the limit: {}", r[0].describe());
    let r = worker.request_req(T::GrabJobUniq, &[]);
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let mut r = r;
    while !r[0].is(T::JobAssignUniq) && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
        r = worker.request_req(T::GrabJobUniq, &[]);
    }
    assert_eq!(r[0].args()[2], b"b", "{}", r[0].describe());
}

/// `curl -i -X POST --data-binary BODY [-H header]… URL`: the status, the headers (lower-case
/// names) and the body.
fn curl(url: &str, body: &str, headers: &[&str]) -> (u16, Vec<(String, String)>, String) {
    let mut cmd = std::process::Command::new("curl");
    cmd.args([
        "-s",
        "-i",
        "--max-time",
        "20",
        "-X",
        "POST",
        "--data-binary",
        body,
    ]);
    for h in headers {
        cmd.args(["-H", h]);
    }
    let out = cmd.arg(url).output().expect("run curl");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").expect("an HTTP answer");
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split(' ').nth(1)?.parse().ok())
        .unwrap();
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    (status, headers, body.to_owned())
}

fn header<'a>(headers: &'a [(String, String)], name: &str) -> &'a str {
    headers
        .iter()
        .find(|(k, _)| k == name)
        .map_or("", |(_, v)| v.as_str())
}

/// gearmand's HTTP front-end (PROTOCOL.md Appendix B), with curl: `POST /FUNCTION` runs a job
/// and answers its result with the job's handle and final packet; the headers choose a
/// background submission, its priority and unique id.
#[test]
fn gearmands_http_submission_works_with_curl() {
    if !require("curl") {
        return;
    }
    let server = Server::start(Kind::Gearboxd, &["--http-listen", "127.0.0.1:0"]);
    let base = format!("http://{}", server.http[0]);
    // A worker: reverses `reverse` jobs, fails `fails` jobs.
    let addr = server.addr;
    let worker = std::thread::spawn(move || {
        let mut w = Conn::connect(addr);
        w.send_req(T::CanDo, &[b"reverse"]);
        w.send_req(T::CanDo, &[b"fails"]);
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        let mut done = 0;
        while done < 3 && std::time::Instant::now() < deadline {
            let r = w.request_req(T::GrabJob, &[]);
            if !r[0].is(T::JobAssign) {
                std::thread::sleep(Duration::from_millis(20));
                continue;
            }
            let args = r[0].args();
            if args[1] == b"fails" {
                w.send_req(T::WorkFail, &[&args[0]]);
            } else {
                let reversed: Vec<u8> = args[2].iter().rev().copied().collect();
                w.send_req(T::WorkComplete, &[&args[0], &reversed]);
            }
            done += 1;
        }
        w.sync();
    });
    let (status, headers, body) = curl(&format!("{base}/reverse"), "hello", &[]);
    assert_eq!((status, body.as_str()), (200, "olleh"));
    assert_eq!(header(&headers, "x-gearman-command"), "WORK_COMPLETE");
    assert!(
        header(&headers, "x-gearman-job-handle").starts_with("H:"),
        "{headers:?}"
    );
    let (status, headers, _) = curl(&format!("{base}/fails"), "x", &[]);
    assert_eq!(status, 200);
    assert_eq!(header(&headers, "x-gearman-command"), "WORK_FAIL");
    let (status, headers, body) = curl(
        &format!("{base}/reverse"),
        "later",
        &[
            "X-Gearman-Background: true",
            "X-Gearman-Priority: high",
            "X-Gearman-Unique: u1",
        ],
    );
    assert_eq!((status, body.as_str()), (200, ""));
    assert_eq!(header(&headers, "x-gearman-command"), "JOB_CREATED");
    let handle = header(&headers, "x-gearman-job-handle").to_owned();
    assert!(handle.starts_with("H:"), "{headers:?}");
    worker.join().unwrap();
    assert_eq!(server.admin("show unique jobs"), Vec::<String>::new());
}
