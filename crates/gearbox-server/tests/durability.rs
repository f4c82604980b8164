//! Durability of gearboxd's job stores, end to end with the real binary: every background job
//! whose JOB_CREATED a client received survives `kill -9` and is completed after the restart.
//! The kill test runs for the default SQLite store and for every server backend compiled in
//! (features `postgres`, `mysql`, `redis`), against the real services on 127.0.0.1; for those,
//! a second test restarts the database under load: submissions get ERROR while it is down and
//! succeed again after, and every acknowledged job completes. A third kills the server holding
//! one of each durable object besides queued jobs (a dead letter, a kept result, a pending
//! epoch job and a submitted schedule) and finds each of them after the restart, with the
//! `gearbox` command as well as the admin protocol.

use std::collections::HashSet;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{mpsc, Arc};
use std::thread;
use std::time::{Duration, Instant};

use bytes::BytesMut;
use gearbox_proto::{encode_packet, Codec, Frame, Magic, Packet, PacketType};
// The service control shared with gearbox-store's backend tests (locks, restarts, CI rules).
#[cfg(any(feature = "postgres", feature = "mysql", feature = "redis"))]
use gearbox_testkit::services;
use gearbox_testkit::{Kind, Server, TempDir};

const JOBS: u64 = 100_000;
/// Submissions written per batch; JOB_CREATED answers are read concurrently.
const BATCH: u64 = 500;
const LIMIT: Duration = Duration::from_secs(120);
/// Acknowledgements seen before the server is killed.
const KILL_AFTER: u64 = 30_000;
/// Submissions the writer keeps ahead of the acknowledgements read. Without it a fast store
/// can acknowledge all `JOBS` into the socket buffer before the reader reaches `KILL_AFTER`,
/// and the kill lands after everything is done (seen on CI with MariaDB on a busy machine).
const WINDOW: u64 = 5_000;

fn start(store_args: &[String]) -> Server {
    let args: Vec<&str> = store_args.iter().map(String::as_str).collect();
    Server::start(Kind::Gearboxd, &args)
}

fn sqlite_args(data: &TempDir) -> Vec<String> {
    let dir = data.path().to_str().expect("utf-8 temp path").to_owned();
    vec!["--data-dir".into(), dir]
}

/// Read packets from `stream` until it closes or `deadline`, handing each to `each`;
/// `each` returns false to stop.
fn read_packets(stream: &mut TcpStream, deadline: Instant, mut each: impl FnMut(Packet) -> bool) {
    let codec = Codec::default();
    let mut buf = BytesMut::with_capacity(64 * 1024);
    let mut chunk = vec![0u8; 64 * 1024];
    stream
        .set_read_timeout(Some(Duration::from_millis(200)))
        .expect("read timeout");
    while Instant::now() < deadline {
        match stream.read(&mut chunk) {
            Ok(0) => return,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                continue
            }
            Err(_) => return,
        }
        while let Ok(Some(frame)) = codec.decode(&mut buf) {
            if let Frame::Packet(packet) = frame {
                if !each(packet) {
                    return;
                }
            }
        }
    }
}

/// Submit `JOBS` background jobs (workload = job number) as fast as the server takes them;
/// return the numbers whose JOB_CREATED arrived, however the connection ends.
/// The reader itself sends `kill -9` to `pid` once it has seen [`KILL_AFTER`] acknowledgements,
/// so the kill lands while submissions are still streaming in, however fast the store.
fn submit_until_killed(addr: SocketAddr, pid: u32, acked: mpsc::Sender<u64>) {
    let mut stream = TcpStream::connect(addr).expect("connect");
    let mut reader = stream.try_clone().expect("clone stream");
    let seen = Arc::new(AtomicU64::new(0));
    let reading = Arc::new(AtomicBool::new(true));
    let (writer_seen, writer_reading) = (Arc::clone(&seen), Arc::clone(&reading));
    let writer = thread::spawn(move || {
        let mut out = BytesMut::new();
        for start in (0..JOBS).step_by(BATCH as usize) {
            while start >= writer_seen.load(Ordering::Acquire) + WINDOW {
                if !writer_reading.load(Ordering::Acquire) {
                    return;
                }
                thread::sleep(Duration::from_millis(1));
            }
            out.clear();
            for n in start..(start + BATCH).min(JOBS) {
                let data = n.to_string();
                encode_packet(
                    &mut out,
                    Magic::Req,
                    PacketType::SubmitJobBg,
                    &[b"crash", b""],
                    data.as_bytes(),
                );
            }
            if stream.write_all(&out).is_err() {
                return;
            }
        }
    });
    // JOB_CREATED answers come in submission order.
    let mut next = 0u64;
    read_packets(&mut reader, Instant::now() + LIMIT, |packet| {
        assert_eq!(
            packet.kind,
            PacketType::JobCreated,
            "unexpected {:?}",
            packet.kind
        );
        let _ = acked.send(next);
        next += 1;
        seen.store(next, Ordering::Release);
        if next == KILL_AFTER {
            let killed = std::process::Command::new("kill")
                .args(["-9", &pid.to_string()])
                .status()
                .expect("running kill");
            assert!(killed.success(), "kill -9 {pid}");
        }
        next < JOBS
    });
    reading.store(false, Ordering::Release);
    let _ = writer.join();
}

/// Run a worker until no job has come for a while; return the workloads it completed.
fn drain(addr: SocketAddr) -> Vec<u64> {
    let mut stream = TcpStream::connect(addr).expect("connect worker");
    let mut out = BytesMut::new();
    encode_packet(&mut out, Magic::Req, PacketType::CanDo, &[], b"crash");
    encode_packet(&mut out, Magic::Req, PacketType::GrabJob, &[], b"");
    stream.write_all(&out).expect("register");
    let mut writer = stream.try_clone().expect("clone");
    let mut done = Vec::new();
    let mut idle_since = Instant::now();
    let codec = Codec::default();
    let mut buf = BytesMut::new();
    let mut chunk = vec![0u8; 64 * 1024];
    stream
        .set_read_timeout(Some(Duration::from_millis(100)))
        .expect("timeout");
    let deadline = Instant::now() + LIMIT;
    // The server writes its ready file before it replays the store, so the first job can
    // take as long as the replay (seconds for 60,000 jobs on a busy machine); after that, two
    // idle seconds mean the queue is empty.
    let idle_limit = |done: &Vec<u64>| {
        if done.is_empty() {
            LIMIT
        } else {
            Duration::from_secs(2)
        }
    };
    while Instant::now() < deadline && idle_since.elapsed() < idle_limit(&done) {
        match stream.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(_) => continue,
        }
        let mut reply = BytesMut::new();
        while let Ok(Some(Frame::Packet(packet))) = codec.decode(&mut buf) {
            match packet.kind {
                PacketType::JobAssign => {
                    idle_since = Instant::now();
                    let args = packet.args().expect("JOB_ASSIGN layout");
                    let n: u64 = std::str::from_utf8(args.last()).unwrap().parse().unwrap();
                    done.push(n);
                    encode_packet(
                        &mut reply,
                        Magic::Req,
                        PacketType::WorkComplete,
                        &[args.get(0)],
                        b"",
                    );
                    encode_packet(&mut reply, Magic::Req, PacketType::GrabJob, &[], b"");
                }
                PacketType::NoJob => {
                    encode_packet(&mut reply, Magic::Req, PacketType::PreSleep, &[], b"");
                }
                PacketType::Noop => {
                    encode_packet(&mut reply, Magic::Req, PacketType::GrabJob, &[], b"");
                }
                other => panic!("worker got {other:?}"),
            }
        }
        writer.write_all(&reply).expect("worker write");
    }
    done
}

#[test]
fn acknowledged_background_jobs_survive_kill_9() {
    let data = TempDir::new("crash");
    survive_kill_9(&sqlite_args(&data));
}

/// With `--resident-jobs`, most queued workloads live only in the store, before and after the
/// crash: every acknowledged job still runs, once, with its own workload, in order.
#[test]
fn bounded_memory_loses_nothing_across_kill_9() {
    let data = TempDir::new("crash-bounded");
    let mut args = sqlite_args(&data);
    args.extend(["--resident-jobs".to_owned(), "500".to_owned()]);
    survive_kill_9(&args);
}

/// Submit a stream of background jobs to a gearboxd using `store_args`, `kill -9` it in the
/// middle, start it again on the same store, and check that every acknowledged job runs once.
fn survive_kill_9(store_args: &[String]) {
    let server = start(store_args);
    let addr = server.addr;
    let pid = server.pid();
    let (tx, rx) = mpsc::channel();
    let submitter = thread::spawn(move || submit_until_killed(addr, pid, tx));
    submitter.join().expect("submitter");
    let acked: Vec<u64> = rx.try_iter().collect();
    assert!(
        acked.len() as u64 >= KILL_AFTER,
        "only {} jobs acknowledged in {LIMIT:?}",
        acked.len()
    );
    drop(server);
    assert!(
        (acked.len() as u64) < JOBS,
        "the kill came too late to test anything"
    );

    let server = start(store_args);
    let done = drain(server.addr);
    let distinct: HashSet<u64> = done.iter().copied().collect();
    let lost: Vec<u64> = acked
        .iter()
        .copied()
        .filter(|n| !distinct.contains(n))
        .collect();
    assert!(
        lost.is_empty(),
        "{} acknowledged jobs lost, e.g. {:?}",
        lost.len(),
        &lost[..lost.len().min(10)]
    );
    // No worker ran before the kill, so nothing may run twice.
    assert_eq!(done.len(), distinct.len(), "duplicated jobs after replay");
    // One submitter, one worker: the replayed queue runs in submission order.
    assert!(
        done.windows(2).all(|w| w[0] < w[1]),
        "replayed jobs ran out of submission order"
    );
    // Jobs committed whose JOB_CREATED was still in flight may run too (at-least-once).
    let unacknowledged = distinct.len() - acked.len();
    eprintln!(
        "acknowledged {}, completed after restart {}, committed but unacknowledged {unacknowledged}",
        acked.len(),
        distinct.len()
    );
    assert!(
        server.status().get("crash").is_some_and(|s| s.0 == 0),
        "queue drained"
    );
}

/// The policy file for [`objects_survive_kill_9`]: failures of `f` are final and kept as
/// dead letters, outcomes are kept for an hour.
const OBJECTS_CONFIG: &str = "[functions.\"f\"]\nretries = 0\nkeep_results = \"1h\"\n";

/// A dead letter, a kept result, a pending epoch job and a submitted schedule, each made
/// durable, then `kill -9` and a restart on the same store: all four are there, by the same
/// handles, and the dead letter still runs again when retried.
fn objects_survive_kill_9(store_args: &[String]) {
    use gearbox_testkit::wire::Conn;
    use PacketType as T;

    let dir = TempDir::new("objects");
    let config = dir.path().join("gearbox.toml");
    std::fs::write(&config, OBJECTS_CONFIG).expect("write the config");
    let mut args = store_args.to_vec();
    args.extend(strings(&["--config", config.to_str().expect("utf-8 path")]));
    let server = start(&args);
    let mut client = Conn::connect(server.addr);
    let created = |client: &mut Conn, kind: T, args: &[&[u8]]| -> Vec<u8> {
        let r = client.request_req(kind, args);
        assert!(r[0].is(T::JobCreated), "{}", r[0].describe());
        r[0].args()[0].clone()
    };
    let doomed = created(&mut client, T::SubmitJobBg, &[b"f", b"dead-1", b"w\0one"]);
    let kept = created(&mut client, T::SubmitJobBg, &[b"f", b"kept-1", b"w2"]);
    let due = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs()
        + 3600;
    let due = due.to_string();
    let later = created(
        &mut client,
        T::SubmitJobEpoch,
        &[b"f", b"later", due.as_bytes(), b"w3"],
    );
    let schedule = created(
        &mut client,
        T::SubmitJobSched,
        &[b"f", b"nightly", b"0", b"3", b"", b"", b"", b"sw"],
    );
    let mut worker = Conn::connect(server.addr);
    worker.send_req(T::CanDo, &[b"f"]);
    worker.send_req(T::SetClientId, &[b"crash-worker"]);
    for _ in 0..2 {
        let r = worker.request_req(T::GrabJob, &[]);
        assert!(r[0].is(T::JobAssign), "{}", r[0].describe());
        let handle = r[0].args()[0].clone();
        if handle == doomed {
            worker.send_req(T::WorkFail, &[&handle]);
        } else {
            assert_eq!(handle, kept);
            worker.send_req(T::WorkComplete, &[&handle, b"result\0bytes"]);
        }
    }
    worker.sync();
    // Commits are in order: once a later submission is acknowledged, the dead letter and
    // the result written before it are stored.
    created(&mut client, T::SubmitJobBg, &[b"barrier", b"", b""]);
    drop(server);

    let server = start(&args);
    // The `gearbox` command lists and reads them, as an operator would.
    let gearbox = |args: &[&str]| -> String {
        let mut cmd = std::process::Command::new(gearbox_testkit::gearbox_bin());
        cmd.args(["-s", &server.addr.to_string()]).args(args);
        let out = gearbox_testkit::run(cmd, gearbox_testkit::PROC_TIMEOUT);
        assert!(out.success(), "gearbox {args:?}: {out}");
        out.stdout
    };
    let shown = gearbox(&["dead", "show", "1"]);
    assert!(
        shown.contains("dead-1") && shown.contains("crash-worker"),
        "{shown}"
    );
    let kept_handle = String::from_utf8_lossy(&kept).into_owned();
    assert_eq!(gearbox(&["result", &kept_handle]), "result\0bytes");
    let listed = gearbox(&["schedule", "list"]);
    for handle in [&later, &schedule] {
        assert!(
            listed.contains(&*String::from_utf8_lossy(handle)),
            "{listed}"
        );
    }
    let mut admin = Conn::connect(server.addr);
    let dead = admin.admin_list("dead list");
    let dead: Vec<String> = dead
        .iter()
        .map(|l| String::from_utf8_lossy(l).into_owned())
        .collect();
    assert_eq!(
        dead.len(),
        2,
        "one dead letter and the closing dot: {dead:?}"
    );
    let fields: Vec<&str> = dead[0].trim_end().split('\t').collect();
    assert_eq!(
        (fields[1], fields[2], fields[5], fields[7], fields[8]),
        ("f", "dead-1", "fail", "crash-worker", "5"),
        "{dead:?}"
    );
    let result = admin.admin_line(&format!("result {}", String::from_utf8_lossy(&kept)));
    assert_eq!(
        String::from_utf8_lossy(&result),
        "OK complete 12 cmVzdWx0AGJ5dGVz\r\n"
    );
    let scheduled = admin.admin_list("show scheduled");
    let scheduled: Vec<String> = scheduled
        .iter()
        .map(|l| String::from_utf8_lossy(l).into_owned())
        .collect();
    for (handle, unique) in [(&later, "later"), (&schedule, "nightly")] {
        let handle = String::from_utf8_lossy(handle).into_owned();
        assert!(
            scheduled
                .iter()
                .any(|l| l.starts_with(&format!("{handle}\tf\t{unique}\t"))),
            "{handle} {unique} in {scheduled:?}"
        );
    }
    // The dead letter runs again, with its unique and workload.
    let retried = admin.admin_line("dead retry all");
    assert_eq!(String::from_utf8_lossy(&retried), "OK 1\r\n");
    let mut worker = Conn::connect(server.addr);
    worker.send_req(T::CanDo, &[b"f"]);
    // It is queued once its store write commits.
    let deadline = Instant::now() + Duration::from_secs(10);
    let r = loop {
        let r = worker.request_req(T::GrabJobUniq, &[]);
        if r[0].is(T::JobAssignUniq) || Instant::now() > deadline {
            break r;
        }
        thread::sleep(Duration::from_millis(20));
    };
    assert!(r[0].is(T::JobAssignUniq), "{}", r[0].describe());
    assert_eq!(&r[0].args()[2..], [b"dead-1".to_vec(), b"w\0one".to_vec()]);
}

#[test]
fn dead_letters_results_epoch_jobs_and_schedules_survive_kill_9() {
    let data = TempDir::new("objects");
    objects_survive_kill_9(&sqlite_args(&data));
}

#[test]
fn memory_mode_loses_jobs_on_restart_as_gearmand_does() {
    let data = TempDir::new("memory");
    let dir = data.path().to_str().unwrap().to_owned();
    let server = Server::start(Kind::Gearboxd, &["-q", "memory", "--data-dir", &dir]);
    let mut stream = TcpStream::connect(server.addr).unwrap();
    let mut out = BytesMut::new();
    encode_packet(
        &mut out,
        Magic::Req,
        PacketType::SubmitJobBg,
        &[b"gone", b""],
        b"x",
    );
    stream.write_all(&out).unwrap();
    let mut created = false;
    read_packets(&mut stream, Instant::now() + Duration::from_secs(10), |p| {
        created = p.kind == PacketType::JobCreated;
        false
    });
    assert!(created);
    drop(server);
    let server = Server::start(Kind::Gearboxd, &["-q", "memory", "--data-dir", &dir]);
    assert!(!server.status().contains_key("gone"));
    assert!(
        !data.join("gearbox.db").exists(),
        "memory mode writes no database"
    );
}

/// What the submitter of [`restart_under_load`] saw for one submission.
#[cfg(any(feature = "postgres", feature = "mysql", feature = "redis"))]
enum Answer {
    Created(u64),
    Refused(u64),
}

/// Submit background jobs in windows of 20 until `stop`, reporting each answer in order.
#[cfg(any(feature = "postgres", feature = "mysql", feature = "redis"))]
fn submit_until_stopped(
    addr: SocketAddr,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    answers: mpsc::Sender<Answer>,
) {
    use std::sync::atomic::Ordering;
    const WINDOW: u64 = 20;
    let mut stream = TcpStream::connect(addr).expect("connect");
    let mut next = 0u64;
    while !stop.load(Ordering::Relaxed) {
        let mut out = BytesMut::new();
        for n in next..next + WINDOW {
            encode_packet(
                &mut out,
                Magic::Req,
                PacketType::SubmitJobBg,
                &[b"crash", b""],
                n.to_string().as_bytes(),
            );
        }
        stream.write_all(&out).expect("submit");
        let mut answered = 0;
        read_packets(&mut stream, Instant::now() + LIMIT, |packet| {
            let n = next + answered;
            let answer = match packet.kind {
                PacketType::JobCreated => Answer::Created(n),
                PacketType::Error => {
                    let args = packet.args().expect("ERROR layout");
                    assert_eq!(args.get(0), b"QUEUE_ERROR", "error code");
                    Answer::Refused(n)
                }
                other => panic!("unexpected {other:?}"),
            };
            let _ = answers.send(answer);
            answered += 1;
            answered < WINDOW
        });
        assert_eq!(answered, WINDOW, "every submission is answered");
        next += WINDOW;
    }
}

/// Restart the database under a gearboxd using `store_args` while a client submits: the
/// submissions made while it is down get ERROR QUEUE_ERROR, those after it is back succeed
/// with no restart of gearboxd, and every acknowledged job runs (no refused one does).
#[cfg(any(feature = "postgres", feature = "mysql", feature = "redis"))]
fn restart_under_load(service: services::Service, store_args: &[String]) {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;

    let server = start(store_args);
    let stop = Arc::new(AtomicBool::new(false));
    let (tx, rx) = mpsc::channel();
    let submitter = {
        let (addr, stop) = (server.addr, stop.clone());
        thread::spawn(move || submit_until_stopped(addr, stop, tx))
    };
    let mut acked = Vec::new();
    let mut refused = Vec::new();
    let mut collect_until = |what: &str, done: &dyn Fn(usize, usize) -> bool| {
        let (acked_before, refused_before) = (acked.len(), refused.len());
        let deadline = Instant::now() + Duration::from_secs(60);
        while !done(acked.len() - acked_before, refused.len() - refused_before) {
            match rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
                Ok(Answer::Created(n)) => acked.push(n),
                Ok(Answer::Refused(n)) => refused.push(n),
                Err(e) => panic!(
                    "waiting for {what}: {e:?} after {} acknowledged, {} refused",
                    acked.len(),
                    refused.len()
                ),
            }
        }
        (acked.len() - acked_before, refused.len() - refused_before)
    };

    let (before, early_refusals) = collect_until("acknowledgements", &|a, _| a >= 500);
    assert_eq!(early_refusals, 0, "refusals while the database was up");
    let outage = services::Outage::begin(service);
    let (_, during) = collect_until("refusals while down", &|_, r| r >= 50);
    outage.end();
    let (after, _) = collect_until("acknowledgements after the restart", &|a, _| a >= 500);
    stop.store(true, Ordering::Relaxed);
    drop(rx);
    submitter.join().expect("submitter");
    eprintln!(
        "acknowledged {before} before the outage, refused {during} during it, acknowledged \
         {after} after; in all {} acknowledged, {} refused",
        acked.len(),
        refused.len()
    );

    let done: HashSet<u64> = drain(server.addr).into_iter().collect();
    let lost: Vec<u64> = acked
        .iter()
        .copied()
        .filter(|n| !done.contains(n))
        .collect();
    assert!(
        lost.is_empty(),
        "{} acknowledged jobs never ran, e.g. {:?}",
        lost.len(),
        &lost[..lost.len().min(10)]
    );
    let ran_anyway: Vec<u64> = refused
        .iter()
        .copied()
        .filter(|n| done.contains(n))
        .collect();
    assert!(
        ran_anyway.is_empty(),
        "refused jobs ran: {:?}",
        &ran_anyway[..ran_anyway.len().min(10)]
    );
}

/// Start gearboxd with `store_args`, submit one background job with a new unique and a
/// workload holding NUL bytes, and return once it is acknowledged (so it is in the store).
#[cfg(any(feature = "postgres", feature = "mysql", feature = "redis"))]
fn submit_one(store_args: &[String]) {
    let unique = services::unique_name("one");
    let server = start(store_args);
    let mut stream = TcpStream::connect(server.addr).expect("connect");
    let mut out = BytesMut::new();
    encode_packet(
        &mut out,
        Magic::Req,
        PacketType::SubmitJobBg,
        &[b"crash", unique.as_bytes()],
        b"\0data",
    );
    stream.write_all(&out).expect("submit");
    let mut created = false;
    read_packets(&mut stream, Instant::now() + Duration::from_secs(10), |p| {
        created = p.kind == PacketType::JobCreated;
        false
    });
    assert!(created, "JOB_CREATED");
}

/// A table or key prefix of one test run, removed on drop.
#[cfg(any(feature = "postgres", feature = "mysql", feature = "redis"))]
struct Scratch {
    name: String,
    remove: fn(&str),
}

#[cfg(any(feature = "postgres", feature = "mysql", feature = "redis"))]
impl Scratch {
    fn new(remove: fn(&str)) -> Scratch {
        Scratch {
            name: services::unique_name("gbd"),
            remove,
        }
    }
}

#[cfg(any(feature = "postgres", feature = "mysql", feature = "redis"))]
impl Drop for Scratch {
    fn drop(&mut self) {
        (self.remove)(&self.name);
    }
}

fn strings(args: &[&str]) -> Vec<String> {
    args.iter().map(|s| (*s).to_owned()).collect()
}

/// `args` with a workload limit well below the crash test's job count, so the backend's
/// read-back path runs for most of the jobs and the resident path for the first ones.
#[cfg(any(feature = "postgres", feature = "mysql", feature = "redis"))]
fn bounded(mut args: Vec<String>) -> Vec<String> {
    args.extend(strings(&["--resident-jobs", "2000"]));
    args
}

#[cfg(feature = "postgres")]
mod postgres {
    use super::*;
    use services::Service;

    const CONNINFO: &str = "host=127.0.0.1 port=5432 user=postgres dbname=test";

    fn scratch() -> Scratch {
        Scratch::new(|table| {
            if let Ok(mut store) = gearbox_store::PostgresStore::open(CONNINFO, table) {
                let _ = store.drop_table();
            }
        })
    }

    fn args(table: &str) -> Vec<String> {
        strings(&[
            "-q",
            "postgres",
            "--libpq-conninfo",
            CONNINFO,
            "--libpq-table",
            table,
        ])
    }

    #[test]
    fn acknowledged_background_jobs_survive_kill_9() {
        let Some(_lock) = Service::Postgres.shared() else {
            return;
        };
        let table = scratch();
        survive_kill_9(&bounded(args(&table.name)));
    }

    #[test]
    fn dead_letters_results_epoch_jobs_and_schedules_survive_kill_9() {
        let Some(_lock) = Service::Postgres.shared() else {
            return;
        };
        let table = scratch();
        objects_survive_kill_9(&args(&table.name));
    }

    #[test]
    fn a_database_restart_under_load_refuses_only_while_it_is_down() {
        let Some(_lock) = Service::Postgres.exclusive() else {
            return;
        };
        let table = scratch();
        restart_under_load(Service::Postgres, &args(&table.name));
    }

    /// The same as a node of a cluster: jobs offered to the table while nobody works, claimed
    /// by the worker that drains them after the restart.
    #[test]
    fn a_database_restart_under_a_cluster_node_refuses_only_while_it_is_down() {
        let Some(_lock) = Service::Postgres.exclusive() else {
            return;
        };
        let table = scratch();
        let mut args = args(&table.name);
        args.extend(strings(&[
            "--cluster",
            "--node-id",
            "solo",
            "--cluster-lease",
            "2",
        ]));
        restart_under_load(Service::Postgres, &args);
    }

    #[test]
    fn a_store_url_and_gearmands_queue_name_work_too() {
        let Some(_lock) = Service::Postgres.shared() else {
            return;
        };
        let table = scratch();
        let url = "postgres://postgres@127.0.0.1:5432/test";
        submit_one(&strings(&[
            "--store-url",
            url,
            "--libpq-table",
            &table.name,
        ]));
        let mut store = gearbox_store::PostgresStore::open(CONNINFO, &table.name).unwrap();
        assert_eq!(store.len().unwrap(), 1);
        submit_one(&strings(&[
            "-q",
            "Postgres",
            "--libpq-conninfo",
            CONNINFO,
            "--libpq-table",
            &table.name,
        ]));
        assert_eq!(store.len().unwrap(), 2);
    }
}

#[cfg(feature = "mysql")]
mod mysql {
    use super::*;
    use services::Service;

    fn settings() -> gearbox_store::MysqlSettings {
        gearbox_store::MysqlSettings {
            host: "127.0.0.1".into(),
            port: 3306,
            user: Some("root".into()),
            password: None,
            database: Some("test".into()),
        }
    }

    fn scratch() -> Scratch {
        Scratch::new(|table| {
            if let Ok(mut store) = gearbox_store::MysqlStore::open(&settings(), table) {
                let _ = store.drop_table();
            }
        })
    }

    fn args(table: &str) -> Vec<String> {
        strings(&[
            "-q",
            "mysql",
            "--mysql-host",
            "127.0.0.1",
            "--mysql-port",
            "3306",
            "--mysql-user",
            "root",
            "--mysql-db",
            "test",
            "--mysql-table",
            table,
        ])
    }

    #[test]
    fn acknowledged_background_jobs_survive_kill_9() {
        let Some(_lock) = Service::Mysql.shared() else {
            return;
        };
        let table = scratch();
        survive_kill_9(&bounded(args(&table.name)));
    }

    #[test]
    fn dead_letters_results_epoch_jobs_and_schedules_survive_kill_9() {
        let Some(_lock) = Service::Mysql.shared() else {
            return;
        };
        let table = scratch();
        objects_survive_kill_9(&args(&table.name));
    }

    #[test]
    fn a_database_restart_under_load_refuses_only_while_it_is_down() {
        let Some(_lock) = Service::Mysql.exclusive() else {
            return;
        };
        let table = scratch();
        restart_under_load(Service::Mysql, &args(&table.name));
    }

    #[test]
    fn a_store_url_works_too() {
        let Some(_lock) = Service::Mysql.shared() else {
            return;
        };
        let table = scratch();
        let url = "mariadb://root@127.0.0.1:3306/test";
        submit_one(&strings(&[
            "--store-url",
            url,
            "--mysql-table",
            &table.name,
        ]));
        let mut store = gearbox_store::MysqlStore::open(&settings(), &table.name).unwrap();
        assert_eq!(store.len().unwrap(), 1);
    }
}

#[cfg(feature = "redis")]
mod redis {
    use super::*;
    use services::Service;

    fn scratch() -> Scratch {
        Scratch::new(|prefix| {
            let settings = gearbox_store::RedisSettings::default();
            if let Ok(mut store) = gearbox_store::RedisStore::open(&settings, prefix) {
                let _ = store.drop_keys();
            }
        })
    }

    /// The URL form of the store flags.
    fn args(prefix: &str) -> Vec<String> {
        strings(&[
            "--store-url",
            "redis://127.0.0.1:6379/0",
            "--redis-prefix",
            prefix,
        ])
    }

    #[test]
    fn acknowledged_background_jobs_survive_kill_9() {
        let Some(_lock) = Service::Redis.shared() else {
            return;
        };
        let prefix = scratch();
        survive_kill_9(&bounded(args(&prefix.name)));
    }

    #[test]
    fn dead_letters_results_epoch_jobs_and_schedules_survive_kill_9() {
        let Some(_lock) = Service::Redis.shared() else {
            return;
        };
        let prefix = scratch();
        objects_survive_kill_9(&args(&prefix.name));
    }

    /// This Redis keeps nothing on disk, so what it held is gone after its restart; the jobs
    /// still run because gearboxd, not restarted, still has them queued.
    #[test]
    fn a_database_restart_under_load_refuses_only_while_it_is_down() {
        let Some(_lock) = Service::Redis.exclusive() else {
            return;
        };
        let prefix = scratch();
        restart_under_load(Service::Redis, &args(&prefix.name));
    }

    #[test]
    fn gearmands_redis_flags_work_too() {
        let Some(_lock) = Service::Redis.shared() else {
            return;
        };
        let prefix = scratch();
        submit_one(&strings(&[
            "-q",
            "redis",
            "--redis-server",
            "127.0.0.1",
            "--redis-port",
            "6379",
            "--redis-prefix",
            &prefix.name,
        ]));
        let settings = gearbox_store::RedisSettings::default();
        let mut store = gearbox_store::RedisStore::open(&settings, &prefix.name).unwrap();
        assert_eq!(store.len().unwrap(), 1);
    }
}

/// A backend left out of the build is named in a clear startup error.
#[test]
fn a_backend_not_compiled_in_is_a_clear_error() {
    let mut missing = Vec::new();
    if cfg!(not(feature = "postgres")) {
        missing.push(strings(&["-q", "postgres"]));
    }
    if cfg!(not(feature = "mysql")) {
        missing.push(strings(&["--store-url", "mysql://root@127.0.0.1/test"]));
    }
    if cfg!(not(feature = "redis")) {
        missing.push(strings(&["-q", "redis"]));
    }
    missing.push(strings(&["-q", "oracle"]));
    for args in missing {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_gearboxd"))
            .args(["-L", "127.0.0.1", "-p", "0", "-l", "none"])
            .args(&args)
            .output()
            .expect("run gearboxd");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{args:?} started");
        assert!(
            stderr.contains("built without") || stderr.contains("is not known"),
            "{args:?}: {stderr}"
        );
    }
}
