//! Durable job storage for gearboxd: what is stored ([`StoredJob`], [`StoreOp`]), the one trait
//! every backend implements ([`JobStore`]), the group-commit thread that batches operations
//! into one transaction ([`Committer`]), the embedded SQLite backend ([`SqliteStore`]), and,
//! each behind its own cargo feature, backends for users who already run a database server:
//! PostgreSQL (`postgres`), MySQL/MariaDB (`mysql`) and Redis (`redis`).
//!
//! A backend only stores and replays; it never decides anything about jobs. Nothing here runs
//! on the server's event loop: backends block, so they live on the committer's own thread.

#[cfg(any(feature = "postgres", feature = "mysql", feature = "redis"))]
mod batch;
#[cfg(feature = "postgres")]
mod cluster;
mod cluster_events;
mod commit;
mod delayed;
mod error;
#[cfg(any(feature = "postgres", feature = "mysql", feature = "redis"))]
mod link;
#[cfg(feature = "mysql")]
mod mysql;
#[cfg(feature = "postgres")]
mod postgres;
#[cfg(feature = "redis")]
mod redis;
mod sqlite;
mod table;

use bytes::Bytes;

#[cfg(feature = "postgres")]
pub use cluster::{Cluster, ClusterSettings, EPOCH_IDS};
pub use cluster_events::{ClaimedJob, ClusterEvent, Heartbeat, NodeInfo, Relayed, CANCEL_RELAY};
pub use commit::{Commit, Committer, Loaded, StoreEvent, RECORD_ROW};
pub use delayed::DelayedStore;
pub use error::StoreError;
#[cfg(feature = "mysql")]
pub use mysql::{MysqlSettings, MysqlStore};
#[cfg(feature = "postgres")]
pub use postgres::{PostgresStore, DEFAULT_LIBPQ_TABLE};
#[cfg(feature = "redis")]
pub use redis::{RedisSettings, RedisStore, DEFAULT_REDIS_PREFIX};
pub use sqlite::{SqliteStore, DEFAULT_TABLE};
pub(crate) use table::{check_table_name, table_layout, TableLayout};

/// A background job as kept in the store, from acceptance until it completes, fails for good
/// or is cancelled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredJob {
    /// The store's key, chosen by the server; submission order is ascending id order.
    pub id: u64,
    /// Function name.
    pub function: Bytes,
    /// Unique id, possibly empty (never a key: two jobs with empty uniques are two rows).
    pub unique: Bytes,
    /// gearmand's priority code: 0 high, 1 normal, 2 low.
    pub priority: u8,
    /// Unix time (seconds) the job may run at; 0 for at once.
    pub when_to_run: u64,
    /// Reducer function name for reduce jobs, else empty.
    pub reducer: Bytes,
    /// The workload, NUL bytes and all.
    pub data: Bytes,
}

/// A durable object other than a queued job (a schedule, a dead letter, a kept result, a
/// job's attempt count), kept for the server under its kind and key. The store never reads
/// the body: what it means, and how it is encoded, is the server's business.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredRecord {
    /// What the record is; the server's numbering.
    pub kind: u8,
    /// Its key within its kind, at most [`MAX_RECORD_KEY`] bytes.
    pub key: Bytes,
    /// Its content.
    pub body: Bytes,
}

/// A new job not stored because an equal one (same function and unique id) already was.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Coalesced {
    /// The new job's id.
    pub id: u64,
    /// The stored job's handle, which its submitter heard and which every submitter of an
    /// equal job hears from now on.
    pub handle: Bytes,
}

/// Longest record key a backend must accept.
pub const MAX_RECORD_KEY: usize = 255;

/// One change to the store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreOp {
    /// Keep a newly accepted job, or replace the stored job with the same id.
    Put(StoredJob),
    /// Keep a newly accepted job for any node of a cluster to claim (`cluster.rs`): stored
    /// unowned, so the node that accepted it does not run it unless it claims it. Outside a
    /// cluster the same as [`StoreOp::Put`].
    Offer(StoredJob),
    /// Keep a new foreground job for any node of a cluster to claim, as [`StoreOp::Offer`],
    /// with this node watching it: whichever node runs it relays its work packets here
    /// ([`StoreOp::Relay`]), where its client waits. Never written outside a cluster.
    OfferWatched(StoredJob),
    /// In a cluster: a work packet of the job `id` for the nodes watching it (their
    /// foreground clients wait for it). The job's last packet (`last`) deletes its row in the
    /// same statement, so that no node starts watching a job whose end was already relayed.
    /// Ignored outside a cluster.
    Relay {
        /// The job's store id.
        id: u64,
        /// The packet's type number (WORK_DATA, WORK_STATUS, WORK_COMPLETE, ...).
        kind: u8,
        /// The packet's body after the handle and its NUL (empty for WORK_FAIL).
        data: Bytes,
        /// It ends the job (WORK_COMPLETE, WORK_FAIL, WORK_EXCEPTION).
        last: bool,
    },
    /// In a cluster: this node no longer needs the job `id` for a client that left before it
    /// ran: with `give_back` it no longer owns it (it had claimed it), with `unwatch` it no
    /// longer watches it (no other client here waits for it); a job nobody watches any more,
    /// that no background submission joined and that no other node has claimed is deleted.
    /// Ignored outside a cluster.
    Release {
        /// The job's store id.
        id: u64,
        /// This node claimed the job and gives it back.
        give_back: bool,
        /// This node stops watching the job.
        unwatch: bool,
    },
    /// In a cluster: a background submission joined the stored job `id`, which this node
    /// watches: it stays when its foreground clients leave. Ignored outside a cluster.
    Adopt {
        /// The job's store id.
        id: u64,
    },
    /// Forget a job: it completed, failed for good, or was cancelled.
    Done {
        /// The job's store id.
        id: u64,
    },
    /// Keep a record, replacing the one with the same kind and key.
    PutRecord(StoredRecord),
    /// Forget a record (a no-op if there is none).
    DropRecord {
        /// Its kind.
        kind: u8,
        /// Its key.
        key: Bytes,
    },
}

/// A durable job store. Implementations block; they run on the committer's thread.
pub trait JobStore: Send + 'static {
    /// Make every operation in `batch` durable, in order, before returning: one transaction
    /// (one sync to disk) for the whole batch. On error nothing of the batch may be assumed
    /// stored.
    fn append(&mut self, batch: &[StoreOp]) -> Result<(), StoreError>;

    /// Feed every stored job to `sink` in submission order. Called once, before the server
    /// accepts connections.
    fn replay(&mut self, sink: &mut dyn FnMut(StoredJob)) -> Result<(), StoreError>;

    /// Feed every stored record to `sink`, in any order. Called once, before [`replay`]:
    /// restoring a job may need a record about it.
    ///
    /// [`replay`]: JobStore::replay
    fn replay_records(&mut self, sink: &mut dyn FnMut(StoredRecord)) -> Result<(), StoreError>;

    /// After a successful [`JobStore::append`]: the new jobs of that batch that were not
    /// stored because a job with the same function and unique id is already stored (in a
    /// cluster, accepted by another node). Empty outside a cluster.
    fn coalesced(&mut self) -> Vec<Coalesced> {
        Vec::new()
    }

    /// The ids of stored jobs whose unique id is `unique` (any function), newest first, for
    /// status lookups in a cluster. Outside a cluster (where every stored job is also in
    /// memory) none.
    fn find_unique(&mut self, _unique: &[u8]) -> Result<Vec<u64>, StoreError> {
        Ok(Vec::new())
    }

    /// The body of the stored record `kind`/`key`, for lookups in a cluster of records
    /// another node wrote after this node started (every node reads every record when it
    /// starts). Outside a cluster (where every record is also in memory) none.
    fn find_record(&mut self, _kind: u8, _key: &[u8]) -> Result<Option<Bytes>, StoreError> {
        Ok(None)
    }

    /// `cancel job` in a cluster for a job no job of this node is: delete its row, relay
    /// WORK_FAIL to the nodes watching it and order the node holding it (if any) to cancel
    /// it ([`CANCEL_RELAY`]). Whether the row was there. Outside a cluster (where every stored
    /// job is also in memory) false.
    fn cancel_elsewhere(&mut self, _id: u64) -> Result<bool, StoreError> {
        Ok(false)
    }

    /// The workloads of the jobs `ids` that are still stored, as `(id, data)` in any order; an
    /// id that is not stored is left out. Used to read back workloads the server chose not to
    /// keep in memory (`--resident-jobs`), so it runs often and must be one round trip.
    fn load(&mut self, ids: &[u64]) -> Result<Vec<(u64, Bytes)>, StoreError>;
}
