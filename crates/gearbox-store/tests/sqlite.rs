//! The SQLite store against a real database file: what goes in comes back, in order, byte for
//! byte; gearmand's own queue files are taken over.

// The backend suite's checks that need no service are shared with SQLite.
#[allow(unused_macros)]
mod suite;

use std::sync::mpsc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use gearbox_store::{Committer, JobStore, SqliteStore, StoreEvent, StoreOp, DEFAULT_TABLE};
use suite::{job, records, records_round_trip_in, replayed};

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
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("gearmand.db");
    let db_arg = format!("--libsqlite3-db={}", db.display());
    if !suite::fill_with_gearmand(
        &["-q", "libsqlite3", &db_arg, "--libsqlite3-table"],
        DEFAULT_TABLE,
    ) {
        return;
    }
    let mut store = SqliteStore::open(&db, DEFAULT_TABLE).unwrap();
    suite::check_gearmand_jobs(&replayed(&mut store));
    // New jobs go after the imported ones and are kept alongside.
    store
        .append(&[StoreOp::Put(job(1_000_000, b"", b"new"))])
        .unwrap();
    assert_eq!(replayed(&mut store).len(), 4);
}

#[test]
fn records_round_trip_and_survive_reopening() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("q.db");
    let mut store = SqliteStore::open(&path, DEFAULT_TABLE).unwrap();
    records_round_trip_in(&mut store);
    let before = records(&mut store);
    drop(store);
    let mut store = SqliteStore::open(&path, DEFAULT_TABLE).unwrap();
    assert_eq!(records(&mut store), before);
}
