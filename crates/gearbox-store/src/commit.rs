//! Group commit: one thread owns the store, takes every operation queued since its last
//! commit, writes them in one transaction and reports the outcome for the whole batch.
//!
//! At 50,000 submissions a second a 1 ms commit carries 50 jobs, so the cost of a sync is
//! shared by all of them. Operations carry a sequence number given by the server; a [`Commit`]
//! names the range it covers, so the server can answer exactly the submissions that became
//! durable (or failed). Submitting never blocks the caller.

use std::sync::mpsc::{channel, Receiver, Sender, TryRecvError};
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
}

enum Request {
    Op(u64, StoreOp),
    Stop,
}

/// Handle on the store thread.
pub struct Committer {
    tx: Sender<Request>,
    thread: Option<JoinHandle<()>>,
}

impl Committer {
    /// Start the thread; `on_commit` is called on it after every transaction.
    pub fn start(
        store: Box<dyn JobStore>,
        on_commit: impl FnMut(Commit) + Send + 'static,
    ) -> Committer {
        let (tx, rx) = channel();
        let thread = std::thread::Builder::new()
            .name("gearbox-store".into())
            .spawn(move || run(store, rx, on_commit))
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

fn run(mut store: Box<dyn JobStore>, rx: Receiver<Request>, mut on_commit: impl FnMut(Commit)) {
    let mut batch = Vec::new();
    let mut stopping = false;
    while !stopping {
        let (first, op) = match rx.recv() {
            Ok(Request::Op(seq, op)) => (seq, op),
            Ok(Request::Stop) | Err(_) => break,
        };
        let mut last = first;
        batch.push(op);
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(Request::Op(seq, op)) => {
                    last = seq;
                    batch.push(op);
                }
                Ok(Request::Stop) | Err(TryRecvError::Disconnected) => {
                    stopping = true;
                    break;
                }
                Err(TryRecvError::Empty) => break,
            }
        }
        let result = store.append(&batch);
        if let Err(e) = &result {
            error!(error = %e, ops = batch.len(), "store commit failed");
        }
        batch.clear();
        on_commit(Commit {
            first,
            last,
            result,
        });
    }
    info!("store thread stopped");
}
