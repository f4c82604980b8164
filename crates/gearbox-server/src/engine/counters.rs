//! Counters kept at the engine boundary, for `/metrics` and the benchmark.
//!
//! Plain integers bumped where the engine decides; reading them never touches job state.

/// Totals since the engine started.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Counters {
    /// Jobs created by a submission.
    pub submitted: u64,
    /// Submissions that joined an existing job with the same unique.
    pub coalesced: u64,
    /// Submissions refused (queue full, bad arguments).
    pub rejected: u64,
    /// Jobs handed to a worker.
    pub assigned: u64,
    /// Jobs finished with WORK_COMPLETE.
    pub completed: u64,
    /// Jobs finished with WORK_FAIL or WORK_EXCEPTION, or dropped after their last retry.
    pub failed: u64,
    /// Jobs put back in the queue after losing their worker.
    pub retried: u64,
    /// Run-time limits (CAN_DO_TIMEOUT) that expired.
    pub timed_out: u64,
    /// Foreground jobs dropped because every client left before a worker took them.
    pub abandoned: u64,
    /// Jobs removed by the admin `cancel job`.
    pub cancelled: u64,
    /// Jobs rebuilt from the durable store at start.
    pub restored: u64,
    /// Background jobs kept as dead letters.
    pub dead_lettered: u64,
    /// In a cluster: background jobs accepted here and offered to every node.
    pub offered: u64,
    /// In a cluster: jobs this node claimed from the shared table.
    pub claimed: u64,
}
