//! What a cluster node's store threads report to the server (`cluster.rs`, built with the
//! `postgres` feature, sends them). Defined without the feature so that the server's network
//! layer handles them whatever the build; nothing here does anything.

use bytes::Bytes;

use crate::{StoredJob, StoredRecord};

/// A node as its heartbeat row shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct NodeInfo {
    /// Its name.
    pub node: String,
    /// Seconds since its last heartbeat.
    pub heartbeat_age: f64,
    /// Seconds since it started.
    pub uptime: f64,
}

/// A job a claim took for this node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimedJob {
    /// The job.
    pub job: StoredJob,
    /// A background submission made it (or joined it): it outlives its foreground clients,
    /// and its end is kept as a background job's is.
    pub background: bool,
    /// This node watches it: foreground clients of this node wait for it.
    pub watched_here: bool,
    /// Other nodes watch it: its work packets are relayed to them.
    pub watched_elsewhere: bool,
}

impl ClaimedJob {
    /// A background job nobody watches.
    pub fn background(job: StoredJob) -> ClaimedJob {
        ClaimedJob {
            job,
            background: true,
            watched_here: false,
            watched_elsewhere: false,
        }
    }
}

/// The kind of a [`Relayed`] packet that is no work packet but an order to the node holding
/// the job (its row's owner) to cancel it: `cancel job` asked on another node
/// ([`JobStore::cancel_elsewhere`](crate::JobStore::cancel_elsewhere)). No packet type is 0.
pub const CANCEL_RELAY: u8 = 0;

/// A work packet another node relayed to this one for a job its clients wait for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Relayed {
    /// The job's store id.
    pub id: u64,
    /// The packet's type number.
    pub kind: u8,
    /// The packet's body after the handle and its NUL.
    pub data: Bytes,
}

/// What the cluster threads report.
#[derive(Debug)]
pub enum ClusterEvent {
    /// The answer to a claim (`Cluster::claim`): the jobs now this node's (maybe fewer than asked, or
    /// none), or why the claim failed.
    Claimed {
        /// The function claimed for.
        function: Bytes,
        /// How many were asked for.
        asked: u32,
        /// The claimed jobs.
        jobs: Result<Vec<ClaimedJob>, String>,
    },
    /// Another node (or this one) offered jobs of this function.
    Offered(Bytes),
    /// Work packets relayed to this node, in the order they were written.
    Relayed(Vec<Relayed>),
    /// A heartbeat went out (or failed). Unowned rows may have appeared without a
    /// notification (a dead node's, or an epoch job come due), so a node with idle workers
    /// claims again.
    Heartbeat(Result<Heartbeat, String>),
}

/// What a heartbeat learnt.
#[derive(Debug, Clone, PartialEq)]
pub struct Heartbeat {
    /// The nodes as the table shows them.
    pub nodes: Vec<NodeInfo>,
    /// This node holds the leader's lock: it fires the cluster's schedules. The lock is a
    /// PostgreSQL advisory lock of the heartbeat's connection, so it passes to another node
    /// as soon as this one's connection ends (the node dies or loses the database).
    pub leader: bool,
    /// Jobs waiting unclaimed in the table, by function and priority (0 high, 1 normal, 2
    /// low).
    pub waiting: Vec<(Bytes, u8, u64)>,
    /// Jobs other nodes hold (claimed or kept: queued there or running), by function and
    /// priority.
    pub held: Vec<(Bytes, u8, u64)>,
    /// The records of the kinds the node shares with the others (`ClusterSettings`), as the
    /// table holds them now, and of the kinds it follows by key, those whose keys are new
    /// since the last heartbeat.
    pub records: Vec<StoredRecord>,
    /// The keys of every record of the kinds the node follows by key, as the table holds
    /// them now.
    pub synced: Vec<(u8, Bytes)>,
    /// When the heartbeat began reading: what was written before is in what it read.
    pub read_at: std::time::Instant,
}
