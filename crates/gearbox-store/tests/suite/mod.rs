//! The behaviour every server backend must show, written once and run against each real
//! service by `backend_tests!` (tests/postgres.rs, tests/mysql.rs, tests/redis.rs). Each test
//! works in a table (or key prefix) of its own, named uniquely per run and dropped afterwards.

#![allow(dead_code)]

use std::fs::File;
use std::time::{Duration, Instant};

use bytes::Bytes;
use gearbox_store::{JobStore, StoreOp, StoredJob, StoredRecord, MAX_RECORD_KEY};

use gearbox_testkit::services::{unique_name, Outage, Service};
use gearbox_testkit::{missing, which};

/// A backend under test.
pub trait Backend {
    /// Its store.
    type Store: JobStore;
    /// The service it talks to.
    const SERVICE: Service;
    /// Whether the service keeps committed data across its own restart.
    const KEEPS_DATA_ACROSS_RESTART: bool;
    /// Open a store on the table or key prefix `name`.
    fn open(name: &str) -> Result<Self::Store, gearbox_store::StoreError>;
    /// Remove the table or keys `name`.
    fn remove(name: &str);
}

/// A table or prefix for one test, removed on drop; holds the service lock.
pub struct Scratch<B: Backend> {
    pub name: String,
    remove: fn(&str),
    _lock: File,
    _backend: std::marker::PhantomData<B>,
}

impl<B: Backend> Scratch<B> {
    /// Shared use of the service (`None`: skip).
    pub fn shared() -> Option<Scratch<B>> {
        Some(Scratch::with_lock(B::SERVICE.shared()?))
    }

    /// Sole use of the service, for restarting it (`None`: skip).
    pub fn exclusive() -> Option<Scratch<B>> {
        Some(Scratch::with_lock(B::SERVICE.exclusive()?))
    }

    fn with_lock(lock: File) -> Scratch<B> {
        Scratch {
            name: unique_name("gbt"),
            remove: B::remove,
            _lock: lock,
            _backend: std::marker::PhantomData,
        }
    }

    pub fn open(&self) -> B::Store {
        B::open(&self.name).expect("open the store")
    }
}

impl<B: Backend> Drop for Scratch<B> {
    fn drop(&mut self) {
        (self.remove)(&self.name);
    }
}

pub fn job(id: u64, unique: &[u8], data: &[u8]) -> StoredJob {
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

pub fn replayed(store: &mut impl JobStore) -> Vec<StoredJob> {
    let mut jobs = Vec::new();
    store.replay(&mut |j| jobs.push(j)).expect("replay");
    jobs
}

/// (unique, function, priority, data, when_to_run) of one job.
pub type Summary<'a> = (&'a [u8], &'a [u8], u8, &'a [u8], u64);

pub fn summary(jobs: &[StoredJob]) -> Vec<Summary<'_>> {
    jobs.iter()
        .map(|j| {
            (
                &j.unique[..],
                &j.function[..],
                j.priority,
                &j.data[..],
                j.when_to_run,
            )
        })
        .collect()
}

fn ids(store: &mut impl JobStore) -> Vec<u64> {
    replayed(store).iter().map(|j| j.id).collect()
}

pub fn jobs_come_back_with_every_field<B: Backend>() {
    let Some(scratch) = Scratch::<B>::shared() else {
        return;
    };
    let mut store = scratch.open();
    let mut epoch = job(30, b"u-3", b"later");
    epoch.when_to_run = 1_900_000_000;
    epoch.priority = 2;
    let mut reduce = job(40, b"u-4", b"map");
    reduce.reducer = Bytes::from_static(b"sum");
    reduce.priority = 0;
    // Real ids are handle numbers seeded from the clock: around 1.8e15.
    let big = job(1_800_000_000_000_123, b"u-5", b"big id");
    let batch = vec![
        StoreOp::Put(job(10, b"u-1", b"one")),
        StoreOp::Put(job(20, b"u-2", b"two")),
        StoreOp::Put(epoch.clone()),
        StoreOp::Put(reduce.clone()),
        StoreOp::Put(big.clone()),
    ];
    store.append(&batch).expect("append");
    drop(store);
    let mut store = scratch.open();
    assert_eq!(
        replayed(&mut store),
        vec![
            job(10, b"u-1", b"one"),
            job(20, b"u-2", b"two"),
            epoch,
            reduce,
            big
        ]
    );
}

/// Replay is in id order whatever the order of writing, across many pages.
pub fn replay_pages_in_id_order<B: Backend>() {
    let Some(scratch) = Scratch::<B>::shared() else {
        return;
    };
    let mut store = scratch.open();
    // 1,300 jobs (more than two replay pages) written in three batches, out of id order,
    // with ids of different decimal widths.
    let ids_written: Vec<u64> = (1..=1300u64)
        .map(|i| (i * 7919) % 1301 * 1000 + 9)
        .collect();
    for chunk in ids_written.chunks(500) {
        let batch: Vec<StoreOp> = chunk
            .iter()
            .map(|&id| StoreOp::Put(job(id, b"", id.to_string().as_bytes())))
            .collect();
        store.append(&batch).expect("append");
    }
    let jobs = replayed(&mut store);
    let mut sorted = ids_written.clone();
    sorted.sort_unstable();
    assert_eq!(jobs.iter().map(|j| j.id).collect::<Vec<_>>(), sorted);
    assert!(jobs.iter().all(|j| j.data == j.id.to_string().as_bytes()));
}

pub fn nul_bytes_survive_everywhere<B: Backend>() {
    let Some(scratch) = Scratch::<B>::shared() else {
        return;
    };
    let mut store = scratch.open();
    let mut odd = job(1, b"\0u\0", b"\0a\0\0b\0\xff");
    odd.function = Bytes::from_static(b"f\0\xfe");
    odd.reducer = Bytes::from_static(b"\0r");
    let mut empty = job(2, b"", b"");
    empty.function = Bytes::from_static(b"e");
    let large = job(3, b"big", &vec![0u8; 3 << 20]);
    store
        .append(&[
            StoreOp::Put(odd.clone()),
            StoreOp::Put(empty.clone()),
            StoreOp::Put(large.clone()),
        ])
        .expect("append");
    assert_eq!(replayed(&mut store), vec![odd, empty, large]);
}

pub fn empty_and_repeated_uniques_never_overwrite_each_other<B: Backend>() {
    let Some(scratch) = Scratch::<B>::shared() else {
        return;
    };
    let mut store = scratch.open();
    let batch: Vec<StoreOp> = (1..=6u8)
        .map(|i| {
            let unique: &[u8] = match i % 3 {
                0 => b"",
                1 => b"-",
                _ => b"same",
            };
            StoreOp::Put(job(u64::from(i), unique, &[i]))
        })
        .collect();
    store.append(&batch).expect("append");
    store
        .append(&[StoreOp::Put(job(7, b"same", b"again"))])
        .expect("append");
    assert_eq!(ids(&mut store), vec![1, 2, 3, 4, 5, 6, 7]);
}

pub fn done_removes_and_put_then_done_leaves_nothing<B: Backend>() {
    let Some(scratch) = Scratch::<B>::shared() else {
        return;
    };
    let mut store = scratch.open();
    store
        .append(&[
            StoreOp::Put(job(1, b"a", b"x")),
            StoreOp::Put(job(2, b"b", b"y")),
        ])
        .expect("append");
    store
        .append(&[
            StoreOp::Done { id: 1 },
            StoreOp::Put(job(3, b"c", b"z")),
            StoreOp::Done { id: 3 },
            StoreOp::Done { id: 99 },
        ])
        .expect("append");
    assert_eq!(ids(&mut store), vec![2]);
    store.append(&[StoreOp::Done { id: 2 }]).expect("append");
    assert!(ids(&mut store).is_empty());
    // An empty batch is a no-op.
    store.append(&[]).expect("empty append");
}

/// `load` returns the workloads of stored ids, NUL bytes and all, leaves out ids that are not
/// (or no longer) stored, and answers an empty request with nothing. Shared with the SQLite
/// tests, which need no service.
pub fn load_reads_back_what_is_stored_in(store: &mut impl JobStore) {
    let big = vec![7u8; 300_000];
    store
        .append(&[
            StoreOp::Put(job(1, b"a", b"one\0\0")),
            StoreOp::Put(job(2, b"", b"")),
            StoreOp::Put(job(3, b"", &big)),
            StoreOp::Put(job(4, b"d", b"four")),
        ])
        .expect("append");
    store.append(&[StoreOp::Done { id: 4 }]).expect("append");
    let mut found = store.load(&[3, 99, 1, 4, 2]).expect("load");
    found.sort_by_key(|(id, _)| *id);
    assert_eq!(
        found,
        vec![
            (1, Bytes::from_static(b"one\0\0")),
            (2, Bytes::new()),
            (3, Bytes::from(big)),
        ]
    );
    assert!(store.load(&[]).expect("empty load").is_empty());
    let many: Vec<u64> = (1..=2500).collect();
    assert_eq!(store.load(&many).expect("load many").len(), 3);
}

/// Every record stored, sorted by (kind, key).
pub fn records(store: &mut impl JobStore) -> Vec<StoredRecord> {
    let mut all = Vec::new();
    store
        .replay_records(&mut |r| all.push(r))
        .expect("replay records");
    all.sort_by(|a, b| (a.kind, &a.key).cmp(&(b.kind, &b.key)));
    all
}

pub fn record(kind: u8, key: &[u8], body: &[u8]) -> StoredRecord {
    StoredRecord {
        kind,
        key: Bytes::copy_from_slice(key),
        body: Bytes::copy_from_slice(body),
    }
}

/// Records come back byte for byte (NUL bytes, a large body, the longest key), a put replaces
/// the record with the same kind and key, the same key under two kinds is two records, a drop
/// removes one (dropping a missing one is no error), the last operation on a key within one
/// batch wins, and records and jobs in one batch do not disturb each other. Shared with the
/// SQLite tests.
pub fn records_round_trip_in(store: &mut impl JobStore) {
    assert!(records(store).is_empty());
    let big = vec![9u8; 200_000];
    let long_key = vec![b'k'; MAX_RECORD_KEY];
    store
        .append(&[
            StoreOp::PutRecord(record(1, b"a", b"first")),
            StoreOp::PutRecord(record(2, b"a", b"\0other\0kind\0")),
            StoreOp::PutRecord(record(3, b"\0\xff", &big)),
            StoreOp::PutRecord(record(1, &long_key, b"")),
            StoreOp::Put(job(5, b"u", b"job")),
        ])
        .expect("append records");
    store
        .append(&[
            StoreOp::PutRecord(record(1, b"a", b"second")),
            StoreOp::DropRecord {
                kind: 1,
                key: Bytes::copy_from_slice(&long_key),
            },
            StoreOp::DropRecord {
                kind: 4,
                key: Bytes::from_static(b"missing"),
            },
            StoreOp::PutRecord(record(4, b"b", b"gone")),
            StoreOp::DropRecord {
                kind: 4,
                key: Bytes::from_static(b"b"),
            },
            StoreOp::DropRecord {
                kind: 5,
                key: Bytes::from_static(b"c"),
            },
            StoreOp::PutRecord(record(5, b"c", b"back")),
        ])
        .expect("append record changes");
    assert_eq!(
        records(store),
        vec![
            record(1, b"a", b"second"),
            record(2, b"a", b"\0other\0kind\0"),
            record(3, b"\0\xff", &big),
            record(5, b"c", b"back"),
        ]
    );
    assert_eq!(ids(store), vec![5]);
}

/// A queue table from before records (no `<table>_records`: dropped here with `sql`, the
/// backend's command-line client) gets its records table on open, and keeps its jobs.
pub fn a_store_from_before_records_gets_its_records_table<B: Backend>(sql: fn(&str)) {
    let Some(scratch) = Scratch::<B>::shared() else {
        return;
    };
    let t = &scratch.name;
    scratch
        .open()
        .append(&[StoreOp::Put(job(1, b"", b"old"))])
        .unwrap();
    sql(&format!("DROP TABLE {t}_records"));
    let mut store = scratch.open();
    store
        .append(&[StoreOp::PutRecord(record(2, b"k", b"new"))])
        .unwrap();
    assert_eq!(records(&mut store), vec![record(2, b"k", b"new")]);
    assert_eq!(replayed(&mut store), vec![job(1, b"", b"old")]);
}

/// The longest table name accepted (`longest` bytes) leaves room for its records table; a
/// longer one is refused with the limit in the error.
pub fn the_longest_table_name_has_room_for_its_records_table<B: Backend>(longest: usize) {
    let Some(scratch) = Scratch::<B>::shared() else {
        return;
    };
    let name = format!("{:x<longest$}", scratch.name);
    let mut store = B::open(&name).unwrap();
    store
        .append(&[StoreOp::PutRecord(record(1, b"k", b"v"))])
        .unwrap();
    let kept = records(&mut store);
    drop(store);
    B::remove(&name);
    assert_eq!(kept, vec![record(1, b"k", b"v")]);
    let error = match B::open(&format!("{name}x")) {
        Ok(_) => panic!("a {}-byte table name was accepted", longest + 1),
        Err(e) => e.to_string(),
    };
    assert!(error.contains(&format!("at most {longest}")), "{error}");
}

pub fn records_round_trip<B: Backend>() {
    let Some(scratch) = Scratch::<B>::shared() else {
        return;
    };
    records_round_trip_in(&mut scratch.open());
}

/// Replay of records goes across pages (and, in Redis, across `HSCAN` calls) and feeds each
/// record once; a batch with more records than one statement holds goes through whole.
pub fn records_replay_across_pages<B: Backend>() {
    let Some(scratch) = Scratch::<B>::shared() else {
        return;
    };
    let mut store = scratch.open();
    // Keys that are prefixes of one another, the empty key, and the extreme kinds.
    let written: Vec<StoredRecord> = (0..1300u32)
        .map(|i| {
            let kind = [0u8, 7, 255][(i % 3) as usize];
            let key = if i < 3 {
                Vec::new()
            } else {
                (i / 3).to_string().into_bytes()
            };
            record(kind, &key, &i.to_le_bytes())
        })
        .collect();
    let batch: Vec<StoreOp> = written.iter().cloned().map(StoreOp::PutRecord).collect();
    store.append(&batch).expect("append records");
    let mut expected = written.clone();
    expected.sort_by(|a, b| (a.kind, &a.key).cmp(&(b.kind, &b.key)));
    assert_eq!(records(&mut store), expected);
    assert_eq!(records(&mut scratch.open()), expected);
    // Drop all but the last hundred in one batch.
    let drops: Vec<StoreOp> = written[..1200]
        .iter()
        .map(|r| StoreOp::DropRecord {
            kind: r.kind,
            key: r.key.clone(),
        })
        .collect();
    store.append(&drops).expect("drop records");
    let mut rest = written[1200..].to_vec();
    rest.sort_by(|a, b| (a.kind, &a.key).cmp(&(b.kind, &b.key)));
    assert_eq!(records(&mut store), rest);
}

/// Removing a store (the scratch cleanup, `drop_table` / `drop_keys`) removes its records
/// too: a store opened afresh on the same name has none.
pub fn removing_a_store_removes_its_records<B: Backend>() {
    let Some(scratch) = Scratch::<B>::shared() else {
        return;
    };
    let mut store = scratch.open();
    store
        .append(&[
            StoreOp::PutRecord(record(1, b"a", b"body")),
            StoreOp::Put(job(1, b"", b"x")),
        ])
        .expect("append");
    drop(store);
    B::remove(&scratch.name);
    let mut store = scratch.open();
    assert!(records(&mut store).is_empty());
    assert!(replayed(&mut store).is_empty());
}

pub fn load_reads_back_what_is_stored<B: Backend>() {
    let Some(scratch) = Scratch::<B>::shared() else {
        return;
    };
    load_reads_back_what_is_stored_in(&mut scratch.open());
}

/// A large batch goes through in one call and comes back whole.
pub fn a_large_batch_is_one_append<B: Backend>() {
    let Some(scratch) = Scratch::<B>::shared() else {
        return;
    };
    let mut store = scratch.open();
    let batch: Vec<StoreOp> = (1..=10_000u64)
        .map(|id| StoreOp::Put(job(id, b"", &[b'p'; 100])))
        .collect();
    let started = Instant::now();
    store.append(&batch).expect("append");
    eprintln!("10,000 puts in one batch: {:?}", started.elapsed());
    let done: Vec<StoreOp> = (1..=9_000u64).map(|id| StoreOp::Done { id }).collect();
    store.append(&done).expect("append");
    assert_eq!(replayed(&mut store).len(), 1000);
}

fn put(store: &mut impl JobStore, id: u64) -> Result<(), gearbox_store::StoreError> {
    store.append(&[StoreOp::Put(job(id, b"", b"r"))])
}

/// The service restarts (while the store is idle, then while it is in use): `append` fails
/// quickly while it is down and works again, with no help, once it is back.
pub fn reconnects_after_the_service_restarts<B: Backend>() {
    let Some(scratch) = Scratch::<B>::exclusive() else {
        return;
    };
    let mut store = scratch.open();
    put(&mut store, 1).expect("append before the restart");

    // Restarted while idle: the stale connection is replaced without an error.
    Outage::begin(B::SERVICE).end();
    put(&mut store, 2).expect("first append after a restart");

    // Down: every append fails, and quickly.
    let outage = Outage::begin(B::SERVICE);
    for id in [3, 4] {
        let started = Instant::now();
        let result = put(&mut store, id);
        let took = started.elapsed();
        let error = result.expect_err("append while the service is down");
        eprintln!("append while down failed after {took:?}: {error}");
        assert!(
            took < Duration::from_secs(8),
            "a failing append took {took:?}"
        );
    }
    outage.end();
    put(&mut store, 5).expect("first append after the service came back");

    let expected = if B::KEEPS_DATA_ACROSS_RESTART {
        vec![1, 2, 5]
    } else {
        vec![5]
    };
    assert_eq!(ids(&mut store), expected);
    // A store opened now sees the same.
    assert_eq!(ids(&mut scratch.open()), expected);
}

/// The service is down when the store is opened: opening fails at once with an error.
pub fn opening_fails_quickly_when_the_service_is_down<B: Backend>() {
    let Some(scratch) = Scratch::<B>::exclusive() else {
        return;
    };
    let outage = Outage::begin(B::SERVICE);
    let started = Instant::now();
    let error = B::open(&scratch.name)
        .err()
        .expect("opening succeeded while the service is down");
    let took = started.elapsed();
    eprintln!("open while down failed after {took:?}: {error}");
    assert!(
        took < Duration::from_secs(8),
        "a failing open took {took:?}"
    );
    outage.end();
}

/// Run Debian's gearmand with `queue_args` followed by `table`, submit three background jobs
/// with the `gearman` tool (normal, high and low priority), and stop it. False: gearmand is
/// not installed and this is not CI (skip); in CI that fails.
pub fn fill_with_gearmand(queue_args: &[&str], table: &str) -> bool {
    use std::process::{Command, Stdio};
    // `which` also looks in /usr/sbin, where Debian puts gearmand, off a non-root PATH.
    let (Some(gearmand_bin), Some(gearman_bin)) = (which("gearmand"), which("gearman")) else {
        return missing("programs `gearmand` and `gearman`");
    };
    let dir = tempfile::tempdir().expect("temp dir");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port();
    let log = dir.path().join("gearmand.log");
    let mut gearmand = Command::new(&gearmand_bin)
        .args([
            "-L",
            "127.0.0.1",
            "-p",
            &port.to_string(),
            "--verbose",
            "INFO",
        ])
        .arg(format!("--log-file={}", log.display()))
        .arg(format!("--pid-file={}", dir.path().join("pid").display()))
        .args(queue_args)
        .arg(table)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn gearmand");
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        if Instant::now() > deadline || gearmand.try_wait().ok().flatten().is_some() {
            let _ = gearmand.kill();
            let _ = gearmand.wait();
            panic!(
                "gearmand did not start: {}",
                std::fs::read_to_string(&log).unwrap_or_default()
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    for args in [
        &["-f", "first", "-u", "u-1", "one"][..],
        &["-f", "second", "-I", "two"],
        &["-f", "third", "-L", "three"],
    ] {
        let status = Command::new("timeout")
            .arg("10")
            .arg(&gearman_bin)
            .args(["-h", "127.0.0.1", "-p", &port.to_string(), "-b"])
            .args(args)
            .stdout(Stdio::null())
            .status()
            .expect("gearman");
        assert!(status.success(), "gearman {args:?}");
    }
    let _ = gearmand.kill();
    let _ = gearmand.wait();
    true
}

/// The jobs [`fill_with_gearmand`] submitted, in order.
pub fn check_gearmand_jobs(jobs: &[StoredJob]) {
    let got: Vec<(&[u8], u8, &[u8])> = jobs
        .iter()
        .map(|j| (&j.function[..], j.priority, &j.data[..]))
        .collect();
    assert_eq!(
        got,
        vec![
            (&b"first"[..], 1, &b"one"[..]),
            (b"second", 0, b"two"),
            (b"third", 2, b"three")
        ]
    );
    assert_eq!(jobs[0].unique, Bytes::from_static(b"u-1"));
    assert!(!jobs[1].unique.is_empty(), "gearman made up a unique");
}

/// One `#[test]` per scenario for a backend type.
#[macro_export]
macro_rules! backend_tests {
    ($backend:ty) => {
        #[test]
        fn jobs_come_back_with_every_field() {
            suite::jobs_come_back_with_every_field::<$backend>();
        }
        #[test]
        fn replay_pages_in_id_order() {
            suite::replay_pages_in_id_order::<$backend>();
        }
        #[test]
        fn nul_bytes_survive_everywhere() {
            suite::nul_bytes_survive_everywhere::<$backend>();
        }
        #[test]
        fn empty_and_repeated_uniques_never_overwrite_each_other() {
            suite::empty_and_repeated_uniques_never_overwrite_each_other::<$backend>();
        }
        #[test]
        fn done_removes_and_put_then_done_leaves_nothing() {
            suite::done_removes_and_put_then_done_leaves_nothing::<$backend>();
        }
        #[test]
        fn load_reads_back_what_is_stored() {
            suite::load_reads_back_what_is_stored::<$backend>();
        }
        #[test]
        fn records_round_trip() {
            suite::records_round_trip::<$backend>();
        }
        #[test]
        fn records_replay_across_pages() {
            suite::records_replay_across_pages::<$backend>();
        }
        #[test]
        fn removing_a_store_removes_its_records() {
            suite::removing_a_store_removes_its_records::<$backend>();
        }
        #[test]
        fn a_large_batch_is_one_append() {
            suite::a_large_batch_is_one_append::<$backend>();
        }
        #[test]
        fn reconnects_after_the_service_restarts() {
            suite::reconnects_after_the_service_restarts::<$backend>();
        }
        #[test]
        fn opening_fails_quickly_when_the_service_is_down() {
            suite::opening_fails_quickly_when_the_service_is_down::<$backend>();
        }
    };
}
