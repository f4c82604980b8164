//! Group commit: one thread owns the store, takes every operation queued since its last
//! commit, writes them in one transaction and reports the outcome for the whole batch.
//!
//! At 50,000 submissions a second a 1 ms commit carries 50 jobs, so the cost of a sync is
//! shared by all of them. Operations carry a sequence number given by the server; a [`Commit`]
//! names the range it covers, so the server can answer exactly the submissions that became
//! durable (or failed). Submitting never blocks the caller.
//!
//! The same thread reads workloads back ([`Committer::load`]) between transactions, so a load
//! always sees every write queued before it: a job is never asked for before it is stored.

use std::sync::mpsc::{channel, Receiver, Sender, TryRecvError};

use bytes::Bytes;
use std::thread::JoinHandle;

use tracing::{error, info};

use crate::{JobStore, StoreError, StoreOp};

/// Largest batch written in one transaction.
const MAX_BATCH: usize = 16 * 1024;

/// The outcome of one transaction.
#[derive(Debug)]
pub struct Commit {
    /// Sequence number of the first operation in the batch.
    pub first: u64,
    /// Sequence number of the last operation in the batch.
    pub last: u64,
    /// Whether the batch is durable.
    pub result: Result<(), StoreError>,
    /// Operations in the batch.
    pub ops: usize,
    /// How long the transaction took.
    pub elapsed: std::time::Duration,
    /// New jobs of the batch not stored because an equal job already was (a cluster).
    pub coalesced: Vec<crate::Coalesced>,
}

/// The outcome of one [`Committer::load`].
#[derive(Debug)]
pub struct Loaded {
    /// The token the load was asked with.
    pub token: u64,
    /// The workloads found, as `(id, data)`; ids no longer stored are missing.
    pub result: Result<Vec<(u64, Bytes)>, StoreError>,
}

/// What the store thread reports back.
#[derive(Debug)]
pub enum StoreEvent {
    /// A transaction finished.
    Committed(Commit),
    /// A load finished.
    Loaded(Loaded),
}

enum Request {
    Op(u64, StoreOp),
    Load(u64, Read),
    Stop,
}

/// A read the store thread runs between transactions.
enum Read {
    /// The workloads of these jobs.
    Ids(Vec<u64>),
    /// The jobs with this unique id ([`JobStore::find_unique`]).
    Unique(Bytes),
    /// Cancel this job held elsewhere in the cluster ([`JobStore::cancel_elsewhere`]).
    Cancel(u64),
    /// Whether this job is stored, and this record ([`JobStore::find_record`]).
    Record(u64, u8, Bytes),
}

/// In the outcome of [`Committer::find_record`], the row that carries the record's body.
pub const RECORD_ROW: u64 = u64::MAX;

/// Handle on the store thread.
pub struct Committer {
    tx: Sender<Request>,
    thread: Option<JoinHandle<()>>,
}

impl Committer {
    /// Start the thread; `on_event` is called on it after every transaction and load.
    pub fn start(
        store: Box<dyn JobStore>,
        on_event: impl FnMut(StoreEvent) + Send + 'static,
    ) -> Committer {
        let (tx, rx) = channel();
        let thread = std::thread::Builder::new()
            .name("gearbox-store".into())
            .spawn(move || run(store, rx, on_event))
            .expect("spawning the store thread");
        Committer {
            tx,
            thread: Some(thread),
        }
    }

    /// Queue an operation; `seq` must grow with every call.
    pub fn submit(&self, seq: u64, op: StoreOp) -> Result<(), StoreError> {
        self.tx
            .send(Request::Op(seq, op))
            .map_err(|_| StoreError::Stopped)
    }

    /// Read back the workloads of `ids` once every operation queued so far is written; the
    /// outcome comes back as [`StoreEvent::Loaded`] with `token`.
    pub fn load(&self, token: u64, ids: Vec<u64>) -> Result<(), StoreError> {
        self.tx
            .send(Request::Load(token, Read::Ids(ids)))
            .map_err(|_| StoreError::Stopped)
    }

    /// Find the stored jobs with `unique` ([`JobStore::find_unique`]) once every operation
    /// queued so far is written; the outcome comes back as [`StoreEvent::Loaded`] with
    /// `token`, each job as its id with an empty workload.
    pub fn find(&self, token: u64, unique: Bytes) -> Result<(), StoreError> {
        self.tx
            .send(Request::Load(token, Read::Unique(unique)))
            .map_err(|_| StoreError::Stopped)
    }

    /// Cancel the job `id` another node of the cluster holds or may claim
    /// ([`JobStore::cancel_elsewhere`]) once every operation queued so far is written; the
    /// outcome comes back as [`StoreEvent::Loaded`] with `token`: `id` (with an empty
    /// workload) if its row was there, nothing if not.
    pub fn cancel(&self, token: u64, id: u64) -> Result<(), StoreError> {
        self.tx
            .send(Request::Load(token, Read::Cancel(id)))
            .map_err(|_| StoreError::Stopped)
    }

    /// Whether the job `id` is still stored and the body of the record `kind`/`key`
    /// ([`JobStore::find_record`]), once every operation queued so far is written; the outcome
    /// comes back as [`StoreEvent::Loaded`] with `token`: `id` (with an empty workload) if the
    /// job is stored, and [`RECORD_ROW`] with the body if the record is.
    pub fn find_record(&self, token: u64, id: u64, kind: u8, key: Bytes) -> Result<(), StoreError> {
        self.tx
            .send(Request::Load(token, Read::Record(id, kind, key)))
            .map_err(|_| StoreError::Stopped)
    }

    /// Write what is queued, then stop the thread and wait for it.
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        let _ = self.tx.send(Request::Stop);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for Committer {
    fn drop(&mut self) {
        self.shutdown();
    }
}

fn run(mut store: Box<dyn JobStore>, rx: Receiver<Request>, mut on_event: impl FnMut(StoreEvent)) {
    let mut batch = Vec::new();
    // A load that arrived behind the batch being gathered: it runs after that batch commits.
    let mut load: Option<(u64, Read)> = None;
    let mut stopping = false;
    while !stopping {
        let mut first = None;
        let mut last = 0;
        match rx.recv() {
            Ok(Request::Op(seq, op)) => {
                first = Some(seq);
                last = seq;
                batch.push(op);
            }
            Ok(Request::Load(token, read)) => load = Some((token, read)),
            Ok(Request::Stop) | Err(_) => break,
        }
        while first.is_some() && load.is_none() && batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(Request::Op(seq, op)) => {
                    last = seq;
                    batch.push(op);
                }
                Ok(Request::Load(token, read)) => load = Some((token, read)),
                Ok(Request::Stop) | Err(TryRecvError::Disconnected) => {
                    stopping = true;
                    break;
                }
                Err(TryRecvError::Empty) => break,
            }
        }
        if let Some(first) = first {
            let started = std::time::Instant::now();
            let result = store.append(&batch);
            let elapsed = started.elapsed();
            let coalesced = if result.is_ok() {
                store.coalesced()
            } else {
                Vec::new()
            };
            let ops = batch.len();
            if let Err(e) = &result {
                error!(error = %e, ops = batch.len(), "store commit failed");
            }
            batch.clear();
            on_event(StoreEvent::Committed(Commit {
                first,
                last,
                result,
                ops,
                elapsed,
                coalesced,
            }));
        }
        if let Some((token, read)) = load.take() {
            let result = match read {
                Read::Ids(ids) => store.load(&ids),
                Read::Unique(unique) => store
                    .find_unique(&unique)
                    .map(|ids| ids.into_iter().map(|id| (id, Bytes::new())).collect()),
                Read::Cancel(id) => store
                    .cancel_elsewhere(id)
                    .map(|found| found.then(|| (id, Bytes::new())).into_iter().collect()),
                Read::Record(id, kind, key) => store.load(&[id]).and_then(|live| {
                    let record = store.find_record(kind, &key)?;
                    Ok(live
                        .into_iter()
                        .map(|(id, _)| (id, Bytes::new()))
                        .chain(record.map(|body| (RECORD_ROW, body)))
                        .collect())
                }),
            };
            if let Err(e) = &result {
                error!(error = %e, "reading from the store failed");
            }
            on_event(StoreEvent::Loaded(Loaded { token, result }));
        }
    }
    info!("store thread stopped");
}
