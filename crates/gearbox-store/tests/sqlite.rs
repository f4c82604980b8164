//! The SQLite store against a real database file: what goes in comes back, in order, byte for
//! byte; gearmand's own queue files are taken over.

// The backend suite's checks that need no service are shared with SQLite.
mod services;
#[allow(unused_macros)]
mod suite;

use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use gearbox_store::{
    Committer, JobStore, SqliteStore, StoreEvent, StoreOp, StoredJob, DEFAULT_TABLE,
};

fn job(id: u64, unique: &[u8], data: &[u8]) -> StoredJob {
    StoredJob {
        id,
        function: Bytes::from_static(b"resize"),
        unique: Bytes::copy_from_slice(unique),
        priority: 1,
        when_to_run: 0,
        reducer: Bytes::new(),
        data: Bytes::copy_from_slice(data),
    }
}

fn replayed(store: &mut SqliteStore) -> Vec<StoredJob> {
    let mut jobs = Vec::new();
    store.replay(&mut |j| jobs.push(j)).unwrap();
    jobs
}

#[test]
fn jobs_come_back_in_submission_order_with_every_field() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("q.db");
    let mut store = SqliteStore::open(&path, DEFAULT_TABLE).unwrap();
    let mut epoch = job(30, b"u-3", b"later");
    epoch.when_to_run = 1_900_000_000;
    epoch.priority = 2;
    let mut reduce = job(40, b"u-4", b"map");
    reduce.reducer = Bytes::from_static(b"sum");
    reduce.priority = 0;
    let batch = vec![
        StoreOp::Put(job(10, b"u-1", b"one")),
        StoreOp::Put(job(20, b"u-2", b"two")),
        StoreOp::Put(epoch.clone()),
        StoreOp::Put(reduce.clone()),
    ];
    store.append(&batch).unwrap();
    drop(store);
    let mut store = SqliteStore::open(&path, DEFAULT_TABLE).unwrap();
    let jobs = replayed(&mut store);
    assert_eq!(
        jobs,
        vec![
            job(10, b"u-1", b"one"),
            job(20, b"u-2", b"two"),
            epoch,
            reduce
        ]
    );
}

#[test]
fn nul_bytes_in_payloads_survive() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = SqliteStore::open(&dir.path().join("q.db"), DEFAULT_TABLE).unwrap();
    let data = b"\0a\0\0b\0\xff";
    store.append(&[StoreOp::Put(job(1, b"", data))]).unwrap();
    assert_eq!(replayed(&mut store)[0].data, Bytes::from_static(data));
}

#[test]
fn empty_and_repeated_uniques_never_overwrite_each_other() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = SqliteStore::open(&dir.path().join("q.db"), DEFAULT_TABLE).unwrap();
    let batch: Vec<StoreOp> = (1..=5)
        .map(|i| StoreOp::Put(job(i, if i % 2 == 0 { b"" } else { b"-" }, &[i as u8])))
        .collect();
    store.append(&batch).unwrap();
    assert_eq!(replayed(&mut store).len(), 5);
}

#[test]
fn done_removes_a_job_and_put_then_done_in_one_batch_leaves_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = SqliteStore::open(&dir.path().join("q.db"), DEFAULT_TABLE).unwrap();
    store
        .append(&[
            StoreOp::Put(job(1, b"a", b"x")),
            StoreOp::Put(job(2, b"b", b"y")),
        ])
        .unwrap();
    store
        .append(&[
            StoreOp::Done { id: 1 },
            StoreOp::Put(job(3, b"c", b"z")),
            StoreOp::Done { id: 3 },
        ])
        .unwrap();
    let ids: Vec<u64> = replayed(&mut store).iter().map(|j| j.id).collect();
    assert_eq!(ids, vec![2]);
}

#[test]
fn load_reads_back_what_is_stored() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = SqliteStore::open(&dir.path().join("q.db"), DEFAULT_TABLE).unwrap();
    suite::load_reads_back_what_is_stored_in(&mut store);
}

/// A load queued behind writes sees them: the committer writes what came first, then loads.
#[test]
fn committer_loads_after_the_writes_queued_before_the_load() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&dir.path().join("q.db"), DEFAULT_TABLE).unwrap();
    let (tx, rx) = mpsc::channel();
    let committer = Committer::start(Box::new(store), move |event| {
        tx.send(event).unwrap();
    });
    for round in 0..50u64 {
        let first = round * 10 + 1;
        for id in first..first + 10 {
            committer
                .submit(id, StoreOp::Put(job(id, b"", format!("w{id}").as_bytes())))
                .unwrap();
        }
        committer
            .load(round, (first..first + 10).collect())
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            match rx.recv_timeout(deadline - Instant::now()).unwrap() {
                StoreEvent::Committed(c) => assert!(c.result.is_ok()),
                StoreEvent::Loaded(loaded) => {
                    assert_eq!(loaded.token, round);
                    let mut found = loaded.result.unwrap();
                    found.sort_by_key(|(id, _)| *id);
                    let expected: Vec<(u64, Bytes)> = (first..first + 10)
                        .map(|id| (id, Bytes::from(format!("w{id}"))))
                        .collect();
                    assert_eq!(found, expected, "round {round}");
                    break;
                }
            }
        }
    }
    committer.stop();
}

#[test]
fn committer_batches_and_reports_each_range_once() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("q.db");
    let store = SqliteStore::open(&path, DEFAULT_TABLE).unwrap();
    let (tx, rx) = mpsc::channel();
    let committer = Committer::start(Box::new(store), move |event| {
        if let StoreEvent::Committed(c) = event {
            tx.send((c.first, c.last, c.result.is_ok())).unwrap();
        }
    });
    for seq in 1..=1000u64 {
        committer
            .submit(seq, StoreOp::Put(job(seq, b"", b"p")))
            .unwrap();
    }
    let mut covered = 0;
    let mut next = 1;
    let deadline = Instant::now() + Duration::from_secs(30);
    while covered < 1000 {
        let (first, last, ok) = rx.recv_timeout(deadline - Instant::now()).unwrap();
        assert!(ok);
        assert_eq!(first, next, "ranges are contiguous and in order");
        covered += last - first + 1;
        next = last + 1;
    }
    committer.stop();
    let mut store = SqliteStore::open(&path, DEFAULT_TABLE).unwrap();
    assert_eq!(replayed(&mut store).len(), 1000);
}

#[test]
fn a_bad_table_name_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    assert!(SqliteStore::open(&dir.path().join("q.db"), "x; DROP TABLE y").is_err());
}

/// A queue file written by Debian's gearmand (`-q libsqlite3`) is taken over in order.
#[test]
fn gearmand_sqlite_queue_is_taken_over() {
    let have = |tool: &str| {
        Command::new("sh")
            .args(["-c", &format!("command -v {tool}")])
            .stdout(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    };
    if !have("gearmand") || !have("gearman") {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "gearmand and gearman must be installed in CI"
        );
        eprintln!("skipping: gearmand or gearman not installed");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("gearmand.db");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut gearmand = Command::new("gearmand")
        .args([
            "-L",
            "127.0.0.1",
            "-p",
            &port.to_string(),
            "-l",
            "none",
            "-q",
            "libsqlite3",
        ])
        .arg(format!("--libsqlite3-db={}", db.display()))
        .arg(format!("--pid-file={}", dir.path().join("pid").display()))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "gearmand did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    let submit = |args: &[&str]| {
        let status = Command::new("timeout")
            .arg("10")
            .arg("gearman")
            .args(["-h", "127.0.0.1", "-p", &port.to_string(), "-b"])
            .args(args)
            .stdout(Stdio::null())
            .status()
            .unwrap();
        assert!(status.success());
    };
    submit(&["-f", "first", "-u", "u-1", "one"]);
    submit(&["-f", "second", "-I", "two"]);
    submit(&["-f", "third", "-L", "three"]);
    let _ = gearmand.kill();
    let _ = gearmand.wait();

    let mut store = SqliteStore::open(&db, DEFAULT_TABLE).unwrap();
    let jobs = replayed(&mut store);
    let summary: Vec<(&[u8], u8, &[u8])> = jobs
        .iter()
        .map(|j| (&j.function[..], j.priority, &j.data[..]))
        .collect();
    assert_eq!(
        summary,
        vec![
            (&b"first"[..], 1, &b"one"[..]),
            (b"second", 0, b"two"),
            (b"third", 2, b"three")
        ]
    );
    assert_eq!(jobs[0].unique, Bytes::from_static(b"u-1"));
    // New jobs go after the imported ones and are kept alongside.
    store
        .append(&[StoreOp::Put(job(1_000_000, b"", b"new"))])
        .unwrap();
    assert_eq!(replayed(&mut store).len(), 4);
}
