//! What `/metrics` reports, kept where the engine decides: per-function counters (jobs
//! submitted by priority and kind, completed, failed, exceptions, retried, timed out,
//! cancelled, coalesced) and histograms of queue wait and run time, plus a [`Snapshot`] of
//! the gauges taken when asked.
//!
//! Counting is a few integer additions on paths the engine takes anyway; a histogram
//! observation is a search over a short fixed bucket list. Times come from a job's 32-bit
//! millisecond stamp (`Job::stamp`), so an interval over 49 days reads as a wrapped, shorter
//! one. Nothing here is formatted for any protocol: the HTTP layer renders the snapshot.

use bytes::Bytes;

use super::ids::JobId;
use super::job::Priority;
use super::Engine;

/// Upper bounds of the time histograms' buckets, in milliseconds (`+Inf` follows).
pub const BUCKETS_MS: [u64; 16] = [
    1, 5, 10, 25, 50, 100, 250, 500, 1_000, 2_500, 5_000, 10_000, 30_000, 60_000, 300_000,
    1_800_000,
];

/// A histogram over `N - 1` bucket bounds kept elsewhere: observations per bucket (not
/// cumulative; the last is above every bound) and their sum.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Histogram<const N: usize> {
    /// Observations per bucket, then above the last bound.
    pub counts: [u64; N],
    /// Sum of the observations.
    pub sum: u64,
}

impl<const N: usize> Default for Histogram<N> {
    fn default() -> Self {
        Histogram {
            counts: [0; N],
            sum: 0,
        }
    }
}

impl<const N: usize> Histogram<N> {
    /// Count `value` in the first bucket of `bounds` (`N - 1` ascending bounds) at or above it.
    pub fn observe(&mut self, bounds: &[u64], value: u64) {
        let bucket = bounds.partition_point(|&bound| bound < value).min(N - 1);
        self.counts[bucket] += 1;
        self.sum = self.sum.saturating_add(value);
    }

    /// Observations in all.
    pub fn count(&self) -> u64 {
        self.counts.iter().sum()
    }
}

/// A time histogram over [`BUCKETS_MS`], in milliseconds.
pub type TimeHistogram = Histogram<{ BUCKETS_MS.len() + 1 }>;

/// Totals for one function since it was created.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FunctionStats {
    /// Jobs created, by priority (high, normal, low) and kind (foreground, background).
    pub submitted: [[u64; 2]; 3],
    /// Submissions that joined an existing job.
    pub coalesced: u64,
    /// Jobs that ended with WORK_COMPLETE.
    pub completed: u64,
    /// Jobs that failed for good (WORK_FAIL, or lost or timed out with no retry left).
    pub failed: u64,
    /// Jobs that ended with WORK_EXCEPTION.
    pub exceptions: u64,
    /// Attempts that were tried again.
    pub retried: u64,
    /// Attempts that overran their CAN_DO_TIMEOUT.
    pub timed_out: u64,
    /// Jobs removed by the admin `cancel job`.
    pub cancelled: u64,
    /// From becoming runnable (or being submitted) to being handed to a worker.
    pub queue_wait: TimeHistogram,
    /// From being handed to a worker to its WORK_COMPLETE, WORK_FAIL or WORK_EXCEPTION.
    pub run_time: TimeHistogram,
}

/// One function as `/metrics` shows it.
#[derive(Debug, Clone)]
pub struct FunctionSnapshot {
    /// Its name.
    pub name: Bytes,
    /// Its totals.
    pub stats: FunctionStats,
    /// Jobs waiting per priority (queued and pending), as `prioritystatus` counts them.
    pub waiting: [u32; 3],
    /// Jobs running.
    pub running: u32,
    /// Connections registered for it.
    pub workers: u32,
}

/// The engine's state at one moment, for `/metrics`.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    /// Every function.
    pub functions: Vec<FunctionSnapshot>,
    /// Open connections.
    pub connections: u64,
    /// Connections registered for at least one function.
    pub workers: u64,
    /// Connections that submitted a job they still wait for, or registered nothing.
    pub clients: u64,
    /// Jobs in memory.
    pub jobs: u64,
    /// Store writes handed out and not yet reported committed.
    pub store_backlog: u64,
    /// Bytes the jobs in memory hold.
    pub held_bytes: u64,
    /// Dead letters kept.
    pub dead_letters: u64,
    /// Results kept.
    pub kept_results: u64,
    /// Schedules.
    pub schedules: u64,
    /// In a cluster: this node's part (`cluster.rs`).
    pub cluster: Option<ClusterSnapshot>,
}

/// A cluster node's figures, for `/metrics`.
#[derive(Debug, Clone, Default)]
pub struct ClusterSnapshot {
    /// Nodes with a heartbeat row, as of the last heartbeat.
    pub nodes: u64,
    /// This node fires the schedules.
    pub leader: bool,
    /// Jobs accepted here and offered to every node.
    pub offered: u64,
    /// Jobs claimed from the table.
    pub claimed: u64,
    /// Jobs waiting unclaimed in the table, by function, per priority, as of the last
    /// heartbeat.
    pub waiting: Vec<(Bytes, [u64; 3])>,
}

/// What happened to a job, counted per function.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Event {
    Completed,
    Failed,
    Exception,
    Retried,
    TimedOut,
    Cancelled,
    Coalesced,
}

impl Engine {
    /// Count `event` for the function of `job_id`, and in the server's totals (where an
    /// exception counts as a failure).
    pub(super) fn count(&mut self, job_id: JobId, event: Event) {
        let f = self.jobs[job_id].function;
        let stats = &mut self.functions[f].stats;
        let totals = &mut self.counters;
        let (mine, total) = match event {
            Event::Completed => (&mut stats.completed, &mut totals.completed),
            Event::Failed => (&mut stats.failed, &mut totals.failed),
            Event::Exception => (&mut stats.exceptions, &mut totals.failed),
            Event::Retried => (&mut stats.retried, &mut totals.retried),
            Event::TimedOut => (&mut stats.timed_out, &mut totals.timed_out),
            Event::Cancelled => (&mut stats.cancelled, &mut totals.cancelled),
            Event::Coalesced => (&mut stats.coalesced, &mut totals.coalesced),
        };
        *mine += 1;
        *total += 1;
    }

    /// A job was created by a submission.
    pub(super) fn count_submitted(&mut self, job_id: JobId) {
        self.counters.submitted += 1;
        let job = &mut self.jobs[job_id];
        job.stamp = self.now as u32;
        let (f, p, kind) = (job.function, job.priority, usize::from(job.background));
        self.functions[f].stats.submitted[p.index()][kind] += 1;
    }

    /// A job starts waiting in its queue again (due, or retried): its wait counts from now.
    pub(super) fn restamp(&mut self, job_id: JobId) {
        self.jobs[job_id].stamp = self.now as u32;
    }

    /// A job is handed to a worker: its queue wait ends and its run time starts.
    pub(super) fn observe_assigned(&mut self, job_id: JobId) {
        let now = self.now as u32;
        let job = &mut self.jobs[job_id];
        let waited = now.wrapping_sub(job.stamp);
        job.stamp = now;
        let f = job.function;
        self.functions[f]
            .stats
            .queue_wait
            .observe(&BUCKETS_MS, u64::from(waited));
    }

    /// A worker reported the end of a job it ran.
    pub(super) fn observe_ran(&mut self, job_id: JobId) {
        let job = &self.jobs[job_id];
        let ran = (self.now as u32).wrapping_sub(job.stamp);
        let f = job.function;
        self.functions[f]
            .stats
            .run_time
            .observe(&BUCKETS_MS, u64::from(ran));
    }

    /// The state to report now.
    pub fn snapshot(&self) -> Snapshot {
        let functions = self
            .functions
            .iter()
            .map(|(_, f)| FunctionSnapshot {
                name: f.name.clone(),
                stats: f.stats.clone(),
                waiting: Priority::ALL.map(|p| f.waiting(p)),
                running: f.running,
                workers: f.workers,
            })
            .collect();
        let (mut workers, mut clients) = (0, 0);
        for conn in self.conns.iter() {
            if conn.abilities.is_empty() {
                clients += 1;
            } else {
                workers += 1;
            }
        }
        Snapshot {
            functions,
            connections: workers + clients,
            workers,
            clients,
            jobs: self.jobs.len() as u64,
            store_backlog: self.storing.len() as u64,
            held_bytes: self.held_bytes,
            dead_letters: self.dead.len() as u64,
            kept_results: self.kept.len() as u64,
            schedules: self.schedules.len() as u64,
            cluster: self.cluster_snapshot(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn observations_land_in_the_first_bucket_at_or_above_them() {
        let mut h = TimeHistogram::default();
        for ms in [0, 1, 2, 5, 1_800_000, 1_800_001, u64::MAX] {
            h.observe(&BUCKETS_MS, ms);
        }
        assert_eq!(h.counts[0], 2, "0 and 1 ms are within the 1 ms bucket");
        assert_eq!(h.counts[1], 2, "2 and 5 ms");
        assert_eq!(h.counts[15], 1);
        assert_eq!(h.counts[16], 2, "+Inf");
        assert_eq!(h.count(), 7);
        assert_eq!(h.sum, u64::MAX, "the sum saturates");
    }
}
