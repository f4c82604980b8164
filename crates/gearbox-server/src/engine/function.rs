//! Functions: the per-function queues, counters, queue limits and the sleeping workers that can
//! be woken for new work.
//!
//! Functions are created by the first CAN_DO, submission, `maxqueue` or `create function`, and
//! live until `drop function` (gearmand keeps them visible in `status` the same way). The
//! sleeper list holds stale entries lazily; it is compacted when it outgrows the registrations,
//! so it stays bounded however often workers sleep and wake.

use std::collections::VecDeque;

use bytes::Bytes;

use super::job::{JobId, JobList, Priority, NIL};
use super::ConnId;

/// A sleeping worker as recorded at its PRE_SLEEP; `serial` tells whether it is still asleep.
#[derive(Debug, Clone, Copy)]
pub struct Sleeper {
    /// The worker connection.
    pub conn: ConnId,
    /// The connection's sleep serial when it went to sleep.
    pub serial: u64,
}

/// The jobs of one queue whose workloads are not in memory (`--resident-jobs`).
#[derive(Debug, Clone, Copy)]
pub struct Spill {
    /// The oldest job whose workload is only in the store and not being read back, or [`NIL`].
    /// Every job ahead of it in the queue is resident or loading.
    pub first: JobId,
    /// Jobs in the queue whose workload is not in memory (spilled or loading).
    pub count: u32,
    /// A read-back for this queue is in flight.
    pub loading: bool,
}

impl Default for Spill {
    fn default() -> Self {
        Spill {
            first: NIL,
            count: 0,
            loading: false,
        }
    }
}

/// One function and everything kept per function.
#[derive(Debug, Default)]
pub struct Function {
    /// Name as registered or submitted.
    pub name: Bytes,
    /// Runnable jobs per priority, oldest first.
    pub queues: [JobList; 3],
    /// Per priority, the queued jobs whose workloads are only in the store.
    pub spill: [Spill; 3],
    /// Jobs in memory: queued, pending (epoch) and running.
    pub total: u32,
    /// Jobs held by workers.
    pub running: u32,
    /// Epoch jobs per priority whose time has not come: counted as queued, in no queue.
    pub pending: [u32; 3],
    /// Connections registered for the function.
    pub workers: u32,
    /// Queue limits per priority; 0 is unlimited.
    pub limits: [u32; 3],
    /// Workers asleep waiting for this function's work, longest asleep first.
    pub sleepers: VecDeque<Sleeper>,
}

impl Function {
    /// A new, empty function.
    pub fn new(name: Bytes) -> Function {
        Function {
            name,
            ..Function::default()
        }
    }

    /// Jobs waiting in the queue of `priority`.
    pub fn queued(&self, priority: Priority) -> u32 {
        self.queues[priority.index()].len()
    }

    /// Jobs waiting at `priority`, epoch jobs not yet due included (what `prioritystatus`
    /// shows, as gearmand does).
    pub fn waiting(&self, priority: Priority) -> u32 {
        self.queued(priority) + self.pending[priority.index()]
    }

    /// True when a new job of `priority` must be refused (`maxqueue`).
    pub fn is_full(&self, priority: Priority) -> bool {
        let limit = self.limits[priority.index()];
        limit != 0 && self.total >= limit
    }

    /// Record a sleeping worker; `alive` tells which recorded sleepers are still asleep, so that
    /// stale entries are dropped once they outnumber the registrations.
    pub fn add_sleeper(&mut self, sleeper: Sleeper, alive: impl Fn(&Sleeper) -> bool) {
        if self.sleepers.len() >= 16 && self.sleepers.len() > 2 * self.workers as usize {
            self.sleepers.retain(|s| alive(s));
        }
        self.sleepers.push_back(sleeper);
    }
}
