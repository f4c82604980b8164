//! The library against real servers: every scenario runs on gearboxd and on Debian's gearmand
//! 1.1.20 (through the shared test kit, `gearbox-testkit`), mixed with independent
//! implementations (the PECL PHP extension and libgearman's `gearman` tool) on the other side,
//! plus a failover run across two gearboxd servers, one killed and restarted mid-run.
//!
//! Scenarios that need only protocol behaviour (no store, no process) run gearboxd inside the
//! test process (`gearmand_and_in_process!`); the others start it as a process.
//!
//! Servers listen on 127.0.0.1 with kernel-chosen ports; every wait is bounded; a missing tool
//! skips locally and fails with `CI=true` (the kit decides).

use std::collections::HashSet;
use std::future::Future;
use std::net::SocketAddr;
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use gearbox_client::{Backoff, Client, Error, JobEvent, JobRequest, Priority, TaskEvent, Worker};
use gearbox_testkit::{
    assert_lines, both_servers, client_script, gearboxd_bin, gearmand_and_in_process, require,
    require_php, start_server, wait_until, Kind, Proc, Server, ServerOptions, TempDir,
    PROC_TIMEOUT, START_TIMEOUT,
};
use tokio::sync::Notify;

/// Bound of every wait in these scenarios.
const WAIT: Duration = Duration::from_secs(15);

fn block_on<T>(fut: impl Future<Output = T>) -> T {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
        .block_on(async move {
            tokio::time::timeout(Duration::from_secs(60), fut)
                .await
                .expect("scenario exceeded 60 s")
        })
}

fn quick_backoff() -> Backoff {
    Backoff::new(Duration::from_millis(50), Duration::from_millis(500))
}

fn client(servers: &[SocketAddr]) -> Client {
    let c = Client::new();
    for addr in servers {
        c.add_server(&addr.to_string()).unwrap();
    }
    c.set_timeout(Some(WAIT));
    c.set_backoff(quick_backoff());
    c
}

fn worker(servers: &[SocketAddr]) -> Worker {
    let w = Worker::new();
    for addr in servers {
        w.add_server(&addr.to_string()).unwrap();
    }
    w.set_backoff(quick_backoff());
    w
}

/// Start `worker.run()` in the background.
fn spawn_run(worker: &Worker) -> tokio::task::JoinHandle<Result<(), Error>> {
    let w = worker.clone();
    tokio::spawn(async move { w.run().await })
}

/// Wait until the server lists `n` workers for `function` (harness poll, off the runtime).
async fn workers_ready(server: &Server, function: &str, n: u64) {
    tokio::task::block_in_place(|| server.wait_workers(function, n));
}

async fn events(client: &Client, req: JobRequest) -> Vec<JobEvent> {
    let mut job = client.submit(req).await.unwrap();
    let mut out = Vec::new();
    while let Some(e) = job.next_event().await.unwrap() {
        out.push(e);
    }
    out
}

fn b(s: &str) -> Bytes {
    Bytes::copy_from_slice(s.as_bytes())
}

/// A handler that reports data, a warning and progress, then ends as the workload says.
fn register_events(worker: &Worker, function: &str) {
    worker.register(function.to_string(), |job| async move {
        let wl = String::from_utf8_lossy(job.workload()).into_owned();
        job.data(format!("d:{wl}")).await.unwrap();
        job.warning(format!("w:{wl}")).await.unwrap();
        job.status(1, 2).await.unwrap();
        let _ = match wl.as_str() {
            "fail" => job.fail().await,
            "exception" => job.exception(format!("ex:{wl}")).await,
            _ => job.complete(format!("done:{wl}")).await,
        };
    });
}

both_servers!(
    foreground_events_at_every_priority,
    background_status_by_handle_and_unique,
    epoch_submission,
    task_set_with_many_jobs,
    worker_runs_n_jobs_at_once,
    can_do_timeout_requeues_a_slow_job,
    graceful_drain_finishes_the_running_job_and_takes_no_more,
    blocking_facade,
    our_worker_with_the_php_client,
    php_worker_with_our_client,
    gearman_tool_worker_with_our_client,
);

// Protocol only: gearboxd runs in-process, with jobs in memory.
gearmand_and_in_process!(coalescing_by_unique, echo_round_trips_any_bytes);

fn foreground_events_at_every_priority(kind: Kind) {
    let server = Server::start(kind, &[]);
    block_on(async {
        let w = worker(&[server.addr]);
        register_events(&w, "ev");
        let run = spawn_run(&w);
        workers_ready(&server, "ev", 1).await;
        let with_ex = client(&[server.addr]);
        with_ex.set_exceptions(true);
        let plain = client(&[server.addr]);
        let progress = |wl: &str| {
            vec![
                JobEvent::Data(b(&format!("d:{wl}"))),
                JobEvent::Warning(b(&format!("w:{wl}"))),
                JobEvent::Status {
                    numerator: 1,
                    denominator: 2,
                },
            ]
        };
        for prio in [Priority::High, Priority::Normal, Priority::Low] {
            for (wl, last) in [
                ("ok", JobEvent::Complete(b("done:ok"))),
                ("fail", JobEvent::Fail),
                ("exception", JobEvent::Exception(b("ex:exception"))),
            ] {
                let mut expected = progress(wl);
                expected.push(last);
                let req = JobRequest::new("ev", wl).priority(prio);
                assert_eq!(
                    events(&with_ex, req).await,
                    expected,
                    "[{kind}] {prio:?} {wl}"
                );
            }
            // Without the option the server turns the exception into a failure.
            let mut expected = progress("exception");
            expected.push(JobEvent::Fail);
            let req = JobRequest::new("ev", "exception")
                .priority(prio)
                .unique("u-ex");
            assert_eq!(events(&plain, req).await, expected, "[{kind}] {prio:?}");
            // `run` maps the outcomes to results and typed errors.
            let ok = plain.run(JobRequest::new("ev", "x").priority(prio)).await;
            assert_eq!(ok.unwrap(), b("done:x"));
            let fail = plain
                .run(JobRequest::new("ev", "fail").priority(prio))
                .await;
            assert!(
                matches!(fail, Err(Error::WorkFail { .. })),
                "[{kind}] {fail:?}"
            );
            let ex = with_ex
                .run(JobRequest::new("ev", "exception").priority(prio))
                .await;
            match ex {
                Err(Error::WorkException { data, .. }) => assert_eq!(data, b("ex:exception")),
                other => panic!("[{kind}] expected WorkException, got {other:?}"),
            }
        }
        w.shutdown().await;
        run.await.unwrap().unwrap();
    });
}

fn background_status_by_handle_and_unique(kind: Kind) {
    let server = Server::start(kind, &[]);
    block_on(async {
        let c = client(&[server.addr]);
        let handle = c
            .submit_background(
                JobRequest::new("bgs", "x")
                    .unique("bg-1")
                    .priority(Priority::Low),
            )
            .await
            .unwrap();
        let s = c.status(&handle).await.unwrap();
        assert!(s.known && !s.running, "[{kind}] queued job: {s:?}");
        assert_eq!(s.handle, handle);
        let u = c.status_unique(b"bg-1").await.unwrap();
        assert!(
            u.known && !u.running && u.waiting_clients == 0,
            "[{kind}] {u:?}"
        );

        let release = Arc::new(Notify::new());
        let w = worker(&[server.addr]);
        w.register("bgs", {
            let release = release.clone();
            move |job| {
                let release = release.clone();
                async move {
                    job.status(3, 7).await.unwrap();
                    release.notified().await;
                    job.complete("done").await.unwrap();
                }
            }
        });
        let run = spawn_run(&w);
        let deadline = Instant::now() + WAIT;
        loop {
            let s = c.status(&handle).await.unwrap();
            if s.running && s.numerator == 3 && s.denominator == 7 {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "[{kind}] never saw it running: {s:?}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let u = c.status_unique(b"bg-1").await.unwrap();
        assert!(
            u.known && u.running && (u.numerator, u.denominator) == (3, 7),
            "{u:?}"
        );
        release.notify_one();
        let deadline = Instant::now() + WAIT;
        while c.status(&handle).await.unwrap().known {
            assert!(Instant::now() < deadline, "[{kind}] job never finished");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert!(!c.status_unique(b"bg-1").await.unwrap().known);
        assert!(!c.status(b"H:nonexistent:1").await.unwrap().known);
        w.shutdown().await;
        run.await.unwrap().unwrap();
    });
}

fn coalescing_by_unique(kind: Kind, addr: SocketAddr) {
    block_on(async {
        let (c1, c2) = (client(&[addr]), client(&[addr]));
        let j1 = c1
            .submit(JobRequest::new("co", "a").unique("same"))
            .await
            .unwrap();
        let j2 = c2
            .submit(JobRequest::new("co", "b").unique("same"))
            .await
            .unwrap();
        assert_eq!(j1.handle(), j2.handle(), "[{kind}] not coalesced");
        let other = c1.submit(JobRequest::new("co", "c")).await.unwrap();
        assert_ne!(other.handle(), j1.handle());
        let runs = Arc::new(AtomicUsize::new(0));
        let w = worker(&[addr]);
        w.register("co", {
            let runs = runs.clone();
            move |job| {
                let runs = runs.clone();
                async move {
                    runs.fetch_add(1, Ordering::SeqCst);
                    let out = job.workload().clone();
                    job.complete(out).await.unwrap();
                }
            }
        });
        let run = spawn_run(&w);
        assert_eq!(j1.result().await.unwrap(), b("a"));
        assert_eq!(j2.result().await.unwrap(), b("a"), "[{kind}] second waiter");
        assert_eq!(other.result().await.unwrap(), b("c"));
        assert_eq!(runs.load(Ordering::SeqCst), 2);
        w.shutdown().await;
        run.await.unwrap().unwrap();
    });
}

fn epoch_submission(kind: Kind) {
    let server = Server::start(kind, &[]);
    block_on(async {
        let ran = Arc::new(Mutex::new(Vec::new()));
        let w = worker(&[server.addr]);
        w.register("ep", {
            let ran = ran.clone();
            move |job| {
                let ran = ran.clone();
                async move {
                    ran.lock()
                        .unwrap()
                        .push((job.workload().clone(), SystemTime::now()));
                    job.complete("").await.unwrap();
                }
            }
        });
        let run = spawn_run(&w);
        workers_ready(&server, "ep", 1).await;
        let c = client(&[server.addr]);
        let at = SystemTime::now() + Duration::from_secs(2);
        let due_secs = at.duration_since(SystemTime::UNIX_EPOCH).unwrap().as_secs();
        c.submit_background(JobRequest::new("ep", "later").unique("ep-1").run_at(at))
            .await
            .unwrap();
        assert!(c.status_unique(b"ep-1").await.unwrap().known);
        tokio::time::sleep(Duration::from_millis(2500)).await;
        // gearmand 1.1 never wakes sleeping workers for a due epoch job (PROTOCOL.md §5.2):
        // a second job gives it the nudge.
        c.submit_background(JobRequest::new("ep", "nudge"))
            .await
            .unwrap();
        let deadline = Instant::now() + WAIT;
        while ran.lock().unwrap().len() < 2 {
            assert!(Instant::now() < deadline, "[{kind}] epoch job did not run");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let ran = ran.lock().unwrap().clone();
        let (_, when) = ran.iter().find(|(wl, _)| wl == &b("later")).unwrap();
        let ran_secs = when
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap()
            .as_secs();
        assert!(
            ran_secs >= due_secs,
            "[{kind}] ran at {ran_secs}, due {due_secs}"
        );
        w.shutdown().await;
        run.await.unwrap().unwrap();
    });
}

fn echo_round_trips_any_bytes(_kind: Kind, addr: SocketAddr) {
    block_on(async {
        let c = client(&[addr]);
        for payload in [&b""[..], b"hello", b"a\0b\0\xff", &[7u8; 70_000][..]] {
            assert_eq!(&c.echo(payload.to_vec()).await.unwrap()[..], payload);
        }
    });
}

fn task_set_with_many_jobs(kind: Kind) {
    let server = Server::start(kind, &[]);
    block_on(async {
        let w = worker(&[server.addr]);
        w.set_concurrency(4);
        w.register("rev", |job| async move {
            let mut out = job.workload().to_vec();
            out.reverse();
            job.complete(out).await.unwrap();
        });
        let run = spawn_run(&w);
        let c = client(&[server.addr]);
        let mut set = c.task_set();
        let mut expected = std::collections::HashMap::new();
        for i in 0..60 {
            let wl = format!("job-{i:03}");
            let id = set.add(JobRequest::new("rev", wl.clone()));
            expected.insert(id, wl.chars().rev().collect::<String>());
        }
        let mut background = HashSet::new();
        for i in 0..5 {
            background.insert(set.add_background(JobRequest::new("rev", format!("bg{i}"))));
        }
        let mut created = HashSet::new();
        let mut done = HashSet::new();
        for _ in 0..1000 {
            let Some(event) = set.next_event().await.unwrap() else {
                break;
            };
            match event {
                TaskEvent::Created { task, .. } => assert!(created.insert(task)),
                TaskEvent::Job {
                    task,
                    event: JobEvent::Complete(data),
                } => {
                    assert!(
                        created.contains(&task),
                        "[{kind}] result before JOB_CREATED"
                    );
                    assert_eq!(data, b(&expected[&task]), "[{kind}]");
                    assert!(done.insert(task));
                }
                other => panic!("[{kind}] unexpected {other:?}"),
            }
        }
        assert_eq!(done.len(), 60, "[{kind}]");
        assert_eq!(created.len(), 65);
        assert!(background.iter().all(|t| created.contains(t)));
        assert_eq!(set.pending(), 0);
        w.shutdown().await;
        run.await.unwrap().unwrap();
    });
}

fn worker_runs_n_jobs_at_once(kind: Kind) {
    let server = Server::start(kind, &[]);
    block_on(async {
        let active = Arc::new(AtomicUsize::new(0));
        let peak = Arc::new(AtomicUsize::new(0));
        let w = worker(&[server.addr]);
        w.set_concurrency(3);
        w.register("par", {
            let (active, peak) = (active.clone(), peak.clone());
            move |job| {
                let (active, peak) = (active.clone(), peak.clone());
                async move {
                    let now = active.fetch_add(1, Ordering::SeqCst) + 1;
                    peak.fetch_max(now, Ordering::SeqCst);
                    tokio::time::sleep(Duration::from_millis(300)).await;
                    active.fetch_sub(1, Ordering::SeqCst);
                    job.complete("").await.unwrap();
                }
            }
        });
        let run = spawn_run(&w);
        let c = client(&[server.addr]);
        let mut set = c.task_set();
        for i in 0..7 {
            set.add(JobRequest::new("par", i.to_string()));
        }
        let started = Instant::now();
        while set.next_event().await.unwrap().is_some() {}
        assert_eq!(peak.load(Ordering::SeqCst), 3, "[{kind}] peak concurrency");
        // 7 jobs of 300 ms, 3 at a time: three rounds.
        assert!(started.elapsed() >= Duration::from_millis(850), "[{kind}]");
        w.shutdown().await;
        run.await.unwrap().unwrap();
    });
}

fn can_do_timeout_requeues_a_slow_job(kind: Kind) {
    let server = Server::start(kind, &[]);
    block_on(async {
        // Two workers with one job slot each: gearmand cancels a connection's CAN_DO_TIMEOUT
        // timer when that connection sends PRE_SLEEP, so the requeued job must go to another
        // connection.
        let assignments = Arc::new(AtomicUsize::new(0));
        let workers: Vec<Worker> = (0..2).map(|_| worker(&[server.addr])).collect();
        let mut runs = Vec::new();
        for w in &workers {
            w.register_with_timeout("slow", Duration::from_millis(1000), {
                let assignments = assignments.clone();
                move |job| {
                    let assignments = assignments.clone();
                    async move {
                        if assignments.fetch_add(1, Ordering::SeqCst) == 0 {
                            // Longer than the timeout: the server takes the job back.
                            tokio::time::sleep(Duration::from_millis(2500)).await;
                            let _ = job.complete("first").await;
                        } else {
                            job.complete("second").await.unwrap();
                        }
                    }
                }
            });
            runs.push(spawn_run(w));
        }
        workers_ready(&server, "slow", 2).await;
        let c = client(&[server.addr]);
        let out = c.run(JobRequest::new("slow", "x")).await.unwrap();
        assert_eq!(out, b("second"), "[{kind}]");
        assert_eq!(assignments.load(Ordering::SeqCst), 2);
        for (w, run) in workers.iter().zip(runs) {
            w.shutdown().await;
            run.await.unwrap().unwrap();
        }
    });
}

fn graceful_drain_finishes_the_running_job_and_takes_no_more(kind: Kind) {
    let server = Server::start(kind, &[]);
    block_on(async {
        let started = Arc::new(Notify::new());
        let release = Arc::new(Notify::new());
        let runs = Arc::new(AtomicUsize::new(0));
        let w = worker(&[server.addr]);
        w.set_concurrency(2);
        w.register("dr", {
            let (started, release, runs) = (started.clone(), release.clone(), runs.clone());
            move |job| {
                let (started, release, runs) = (started.clone(), release.clone(), runs.clone());
                async move {
                    runs.fetch_add(1, Ordering::SeqCst);
                    started.notify_one();
                    release.notified().await;
                    job.complete("finished").await.unwrap();
                }
            }
        });
        let run = spawn_run(&w);
        let c = client(&[server.addr]);
        let job = c.submit(JobRequest::new("dr", "first")).await.unwrap();
        tokio::time::timeout(WAIT, started.notified())
            .await
            .unwrap();
        w.drain();
        // Let the drain reach the connection loops, then queue more work.
        tokio::time::sleep(Duration::from_millis(200)).await;
        c.submit_background(JobRequest::new("dr", "second"))
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert!(
            !run.is_finished(),
            "[{kind}] drained with a job still running"
        );
        release.notify_one();
        assert_eq!(job.result().await.unwrap(), b("finished"), "[{kind}]");
        tokio::time::timeout(WAIT, run)
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        assert_eq!(
            runs.load(Ordering::SeqCst),
            1,
            "[{kind}] took a job while draining"
        );
        // The worker is gone and the second job still waits in the queue.
        tokio::task::block_in_place(|| server.wait_status("dr", (1, 0, 0)));
    });
}

fn blocking_facade(kind: Kind) {
    use gearbox_client::blocking;
    let server = Server::start(kind, &[]);
    let addr = server.addr.to_string();
    let w = blocking::Worker::new();
    w.add_server(&addr).unwrap();
    w.set_client_id("blocking-worker");
    w.add_function("brev", None);
    let worker_thread = std::thread::spawn(move || {
        let mut served = 0;
        loop {
            match w.next_job(Some(Duration::from_secs(3))) {
                Ok(Some(job)) => {
                    let wl = job.workload().clone();
                    if &wl[..] == b"stop" {
                        job.complete("stopping").unwrap();
                        break;
                    }
                    if &wl[..] == b"drop" {
                        drop(job); // WORK_FAIL before returning
                        continue;
                    }
                    job.status(1, 1).unwrap();
                    let mut out = wl.to_vec();
                    out.reverse();
                    job.complete(out).unwrap();
                    served += 1;
                }
                Ok(None) => break,
                Err(e) => panic!("next_job: {e}"),
            }
        }
        w.shutdown(Duration::from_secs(5)).unwrap();
        served
    });
    let c = blocking::Client::new();
    c.add_server(&addr).unwrap();
    c.set_timeout(Some(WAIT));
    assert_eq!(&c.echo("e").unwrap()[..], b"e");
    assert_eq!(c.run(JobRequest::new("brev", "abc")).unwrap(), b("cba"));
    let mut h = c.submit(JobRequest::new("brev", "xy")).unwrap();
    assert_eq!(
        h.next_event().unwrap(),
        Some(JobEvent::Status {
            numerator: 1,
            denominator: 1
        })
    );
    assert_eq!(h.result().unwrap(), b("yx"));
    assert!(matches!(
        c.run(JobRequest::new("brev", "drop")),
        Err(Error::WorkFail { .. })
    ));
    let mut set = c.task_set().unwrap();
    for i in 0..10 {
        set.add(JobRequest::new("brev", format!("t{i}")));
    }
    let mut completes = 0;
    while let Some(e) = set.next_event().unwrap() {
        if let TaskEvent::Job {
            event: JobEvent::Complete(_),
            ..
        } = e
        {
            completes += 1;
        }
    }
    assert_eq!(completes, 10);
    let handle = c
        .submit_background(JobRequest::new("nobody", "x").unique("blk-1"))
        .unwrap();
    assert!(c.status(&handle).unwrap().known);
    assert!(c.status_unique(b"blk-1").unwrap().known);
    assert_eq!(
        c.run(JobRequest::new("brev", "stop")).unwrap(),
        b("stopping")
    );
    let served = worker_thread.join().unwrap();
    assert_eq!(served, 12, "[{kind}]");
}

// ---------------------------------------------------------------------------------------------
// Mixed pairs: our worker or client against independent implementations
// ---------------------------------------------------------------------------------------------

fn php_cmd(server: &Server, script: &str, args: &[&str]) -> Command {
    let mut c = Command::new("php");
    c.args(["-d", "display_errors=stderr", "-d", "log_errors=0"])
        .arg(client_script("php", script))
        .arg(server.host())
        .arg(server.port().to_string())
        .args(args);
    c
}

fn our_worker_with_the_php_client(kind: Kind) {
    if !require_php() {
        return;
    }
    let server = Server::start(kind, &[]);
    block_on(async {
        let w = worker(&[server.addr]);
        w.register("reverse", |job| async move {
            let mut out = job.workload().to_vec();
            out.reverse();
            job.complete(out).await.unwrap();
        });
        register_events(&w, "callbacks");
        let run = spawn_run(&w);
        workers_ready(&server, "reverse", 1).await;
        let out = tokio::task::block_in_place(|| {
            gearbox_testkit::run(
                php_cmd(&server, "do.php", &["reverse", "hello"]),
                PROC_TIMEOUT,
            )
        });
        assert_lines(kind, &out, &["result olleh GEARMAN_SUCCESS"]);
        let out = tokio::task::block_in_place(|| {
            gearbox_testkit::run(
                php_cmd(&server, "do.php", &["callbacks", "fail"]),
                PROC_TIMEOUT,
            )
        });
        assert_lines(kind, &out, &["result  GEARMAN_WORK_FAIL"]);
        w.shutdown().await;
        run.await.unwrap().unwrap();
    });
}

fn php_worker_with_our_client(kind: Kind) {
    if !require_php() {
        return;
    }
    let server = Server::start(kind, &[]);
    let php = Proc::spawn(php_cmd(
        &server,
        "worker.php",
        &[
            "--fn",
            "rev:reverse",
            "--fn",
            "cb:callbacks",
            "--count",
            "3",
        ],
    ));
    server.wait_workers("cb", 1);
    block_on(async {
        let c = client(&[server.addr]);
        c.set_exceptions(true);
        assert_eq!(
            c.run(JobRequest::new("rev", "abc")).await.unwrap(),
            b("cba")
        );
        let evs = events(&c, JobRequest::new("cb", "x")).await;
        assert_eq!(
            evs,
            vec![
                JobEvent::Data(b("d:x")),
                JobEvent::Warning(b("w:x")),
                JobEvent::Status {
                    numerator: 1,
                    denominator: 2
                },
                JobEvent::Complete(b("ret:x")),
            ],
            "[{kind}]"
        );
        let ex = c.run(JobRequest::new("cb", "exception")).await;
        match ex {
            Err(Error::WorkException { data, .. }) => assert_eq!(data, b("ex:exception")),
            other => panic!("[{kind}] expected WorkException, got {other:?}"),
        }
    });
    let out = php.wait(PROC_TIMEOUT);
    assert!(out.success(), "[{kind}] php worker:\n{out}");
    assert!(out.stdout.contains("DONE 3"), "{out}");
}

fn gearman_tool_worker_with_our_client(kind: Kind) {
    if !require("gearman") || !require("rev") {
        return;
    }
    let server = Server::start(kind, &[]);
    let tool = server.spawn_gearman(&["-w", "-c", "2", "-f", "toolrev", "--", "rev"]);
    server.wait_workers("toolrev", 1);
    block_on(async {
        let c = client(&[server.addr]);
        for word in ["hello", "gearbox"] {
            let out = c.run(JobRequest::new("toolrev", word)).await.unwrap();
            let expected: String = word.chars().rev().collect();
            assert_eq!(
                String::from_utf8_lossy(&out).trim_end(),
                expected,
                "[{kind}]"
            );
        }
    });
    let out = tool.wait(PROC_TIMEOUT);
    assert!(out.success(), "[{kind}] gearman -w:\n{out}");
}

// ---------------------------------------------------------------------------------------------
// Failover across two gearboxd servers
// ---------------------------------------------------------------------------------------------

/// A gearboxd we can kill -9 and restart on the same port and data directory.
struct Restartable {
    child: std::process::Child,
    addr: std::net::SocketAddr,
}

impl Restartable {
    fn start(dir: &TempDir, port: u16) -> Restartable {
        let ready = dir.join(&format!("ready-{port}"));
        let _ = std::fs::remove_file(&ready);
        let child = Command::new(gearboxd_bin())
            .args(["-L", "127.0.0.1", "-p", &port.to_string(), "--ready-file"])
            .arg(&ready)
            .args(["-l", "stderr", "--data-dir"])
            .arg(dir.join("data"))
            .current_dir(dir.path())
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::fs::File::create(dir.join(&format!("log-{port}"))).unwrap())
            .spawn()
            .expect("spawn gearboxd");
        let mut server = Restartable {
            child,
            addr: ([127, 0, 0, 1], 0).into(),
        };
        let mut addr = None;
        let up = wait_until(START_TIMEOUT, || {
            addr = std::fs::read_to_string(&ready)
                .ok()
                .and_then(|t| t.strip_suffix('\n').and_then(|l| l.trim().parse().ok()));
            addr.is_some()
        });
        assert!(up, "gearboxd did not become ready");
        server.addr = addr.unwrap_or(server.addr);
        server
    }
}

impl Drop for Restartable {
    fn drop(&mut self) {
        // SIGKILL: the crash the failover test is about.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn failover_kill_one_of_two_servers_mid_run() {
    // Only the victim needs a process (to be killed and restarted on its data directory).
    let stable = start_server(ServerOptions::default());
    let dir = TempDir::new("failover");
    let mut victim = Some(Restartable::start(&dir, 0));
    let victim_addr = victim.as_ref().map(|v| v.addr).unwrap();
    let total = 40;
    let done = Arc::new(Mutex::new(HashSet::new()));
    block_on(async {
        let servers = [victim_addr.to_string(), stable.addr().to_string()];
        let w = Worker::new();
        let c = Client::new();
        for s in &servers {
            w.add_server(s).unwrap();
            c.add_server(s).unwrap();
        }
        w.set_backoff(quick_backoff());
        w.set_concurrency(4);
        w.register("fo", {
            let done = done.clone();
            move |job| {
                let done = done.clone();
                async move {
                    done.lock().unwrap().insert(job.unique().to_vec());
                    job.complete("").await.unwrap();
                }
            }
        });
        let run = spawn_run(&w);
        c.set_backoff(quick_backoff());
        c.set_connect_timeout(Duration::from_secs(1));
        c.set_timeout(Some(WAIT));
        let mut on_victim = 0;
        for i in 0..total {
            let unique = format!("fo-{i}");
            if gearbox_client::server_index(unique.as_bytes(), b"", 2) == Some(0) {
                on_victim += 1;
            }
            if i == total / 2 {
                drop(victim.take());
            }
            c.submit_background(JobRequest::new("fo", "x").unique(unique))
                .await
                .unwrap_or_else(|e| panic!("submission {i} failed despite failover: {e}"));
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert!(on_victim > 4, "the uniques should spread over both servers");
        // Bring the killed server back: its durable queue replays the jobs it had accepted,
        // and the worker, reconnecting with backoff, runs them.
        victim = Some(tokio::task::block_in_place(|| {
            Restartable::start(&dir, victim_addr.port())
        }));
        let deadline = Instant::now() + Duration::from_secs(30);
        while done.lock().unwrap().len() < total {
            assert!(
                Instant::now() < deadline,
                "only {} of {total} jobs completed",
                done.lock().unwrap().len()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        w.shutdown().await;
        run.await.unwrap().unwrap();
    });
    drop(victim);
}
