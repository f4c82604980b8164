//! What a cluster node's store threads report to the server (`cluster.rs`, built with the
//! `postgres` feature, sends them). Defined without the feature so that the server's network
//! layer handles them whatever the build; nothing here does anything.

use bytes::Bytes;

use crate::StoredJob;

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
        jobs: Result<Vec<StoredJob>, String>,
    },
    /// Another node (or this one) offered jobs of this function.
    Offered(Bytes),
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
}
