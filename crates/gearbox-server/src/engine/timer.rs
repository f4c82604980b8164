//! Timers the engine keeps: epoch jobs and retries falling due, CAN_DO_TIMEOUT run limits,
//! retries of failed workload read-backs, schedules firing, and wake-ups a worker has not
//! answered.
//!
//! One binary heap ordered by deadline; entries are never removed early. Each carries what it
//! was armed for (the job's handle number and assignment count, the worker's sleep serial), and
//! the engine ignores an entry whose job has since finished, been requeued or reassigned, or
//! whose worker has since grabbed. The network layer sleeps until
//! [`Timers::next_deadline`] and then calls the engine's tick; nothing here touches a clock.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use super::ids::JobId;
use super::schedule::ScheduleKey;

/// A job a timer was armed for, with its handle number to ignore a reused slab slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct JobRef {
    /// Slab index of the job.
    pub job: JobId,
    /// Handle number of the job.
    pub handle_no: u64,
}

/// What a timer was armed for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum TimerKind {
    /// An epoch job becomes runnable.
    EpochDue(JobRef),
    /// A worker's run-time limit for one assignment of a job expires.
    RunTimeout {
        /// The job.
        job: JobRef,
        /// The job's assignment count when the timer was armed.
        assignment: u32,
    },
    /// Retry reading back the spilled workloads of the job's queue (`--resident-jobs`).
    Reload(JobRef),
    /// The schedule fires (`schedule.rs`).
    ScheduleDue(ScheduleKey),
    /// The kept result of the job with this handle number may expire (`kept.rs`).
    ResultExpires(u64),
    /// Check the workers woken longest ago (`worker.rs`): one that has not grabbed passes its
    /// wake-up on. One such timer is armed at a time.
    WakeCheck,
}

/// One armed timer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Timer {
    /// When it fires, in engine milliseconds.
    pub deadline: u64,
    /// Why it was armed.
    pub kind: TimerKind,
}

/// The engine's timers.
#[derive(Debug, Default)]
pub struct Timers {
    heap: BinaryHeap<Reverse<Timer>>,
}

impl Timers {
    /// Arm a timer.
    pub fn arm(&mut self, timer: Timer) {
        self.heap.push(Reverse(timer));
    }

    /// The earliest deadline, if any timer is armed.
    pub fn next_deadline(&self) -> Option<u64> {
        self.heap.peek().map(|Reverse(t)| t.deadline)
    }

    /// Every armed timer, in no particular order (stale ones included).
    pub fn iter(&self) -> impl Iterator<Item = &Timer> {
        self.heap.iter().map(|Reverse(t)| t)
    }

    /// Take the earliest timer if it is due at `now`.
    pub fn pop_due(&mut self, now: u64) -> Option<Timer> {
        match self.heap.peek() {
            Some(Reverse(t)) if t.deadline <= now => self.heap.pop().map(|Reverse(t)| t),
            _ => None,
        }
    }
}
