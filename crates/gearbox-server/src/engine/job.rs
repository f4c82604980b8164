//! Jobs and the intrusive FIFO lists that queue them.
//!
//! A job is stored once, in the engine's slab; queues link jobs through `prev`/`next` indices so
//! that push at either end and removal from the middle (cancel, abandon) are O(1) and a queue
//! costs no memory of its own as it grows. Nothing here decides policy: which job runs, when it
//! is retried or dropped is the engine's business.

use bytes::Bytes;
use smallvec::SmallVec;

use super::ids::{ConnId, FnId, JobId, Jobs};

/// Job priority; the discriminant indexes a function's three queues.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Priority {
    /// `*_HIGH*` submissions.
    High = 0,
    /// Plain submissions, epoch and reduce jobs.
    Normal = 1,
    /// `*_LOW*` submissions.
    Low = 2,
}

impl Priority {
    /// High, normal, low: the order GRAB serves them in.
    pub const ALL: [Priority; 3] = [Priority::High, Priority::Normal, Priority::Low];

    /// Index into per-priority arrays.
    pub fn index(self) -> usize {
        self as usize
    }

    /// `high`, `normal` or `low`, as admin listings show it.
    pub fn name(self) -> &'static str {
        match self {
            Priority::High => "high",
            Priority::Normal => "normal",
            Priority::Low => "low",
        }
    }
}

/// Where a job is in its life (PROTOCOL.md §7.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobState {
    /// Submitted with an epoch still in the future: counted, but in no queue until it is due.
    Pending,
    /// In its function's queue for its priority.
    Queued,
    /// Held by a worker connection.
    Running,
    /// In a cluster: a foreground job claimed by another node, whose work packets are relayed
    /// here to its clients (`relay.rs`). In no queue.
    Elsewhere,
}

/// Whether a job's workload is in memory (`--resident-jobs`, see `spill.rs`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Payload {
    /// The workload is in the job's body.
    Resident,
    /// The workload is only in the durable store.
    Spilled,
    /// The workload is being read back from the store.
    Loading,
}

/// One job in memory.
#[derive(Debug)]
pub struct Job {
    /// The `N` of the job handle `<prefix>:N`.
    pub handle_no: u64,
    /// Function the job was submitted for.
    pub function: FnId,
    /// The submission body (`function\0unique\0…data`); unique, reducer and data are ranges of
    /// it, so a job holds one buffer however many fields it has.
    pub body: Bytes,
    /// Range of the unique in `body`.
    pub unique: (u16, u16),
    /// Range of the reducer name in `body` (empty for jobs without one).
    pub reducer: (u16, u16),
    /// Offset of the workload in `body`.
    pub data_start: u32,
    /// Queue the job lives in.
    pub priority: Priority,
    /// Some background submission contributed to the job, so it survives its clients leaving.
    pub background: bool,
    /// Queued, pending or running.
    pub state: JobState,
    /// Whether the workload is in `body` or only in the store.
    pub payload: Payload,
    /// Times the job went back to the queue after losing its worker.
    pub retries: u16,
    /// Low 32 bits of the engine time (ms) the job started waiting in its queue, or, while it
    /// runs, was handed to its worker (`stats.rs`).
    pub stamp: u32,
    /// Last WORK_STATUS numerator and denominator.
    pub progress: (u32, u32),
    /// Foreground connections that receive the job's WORK_* packets.
    pub listeners: SmallVec<[ConnId; 1]>,
    /// The worker holding the job while it runs.
    pub worker: Option<ConnId>,
    /// Key of the job's row in the durable store; 0 when the job is not stored.
    pub store_id: u64,
    /// The job's store write is not committed yet: background submitters joining it wait for
    /// the commit (and a job a background submission created waits for it outside its queue).
    pub committing: bool,
    /// Counts assignments, so a timeout armed for an earlier run of the job is recognised.
    pub assignment: u32,
    /// Previous job in the queue, or [`JobId::NIL`].
    pub prev: JobId,
    /// Next job in the queue, or [`JobId::NIL`].
    pub next: JobId,
}

impl Job {
    /// The unique id, possibly empty.
    pub fn unique(&self) -> &[u8] {
        &self.body[self.unique.0 as usize..(self.unique.0 + self.unique.1) as usize]
    }

    /// The reducer function name, empty when the job has none.
    pub fn reducer(&self) -> &[u8] {
        &self.body[self.reducer.0 as usize..(self.reducer.0 + self.reducer.1) as usize]
    }

    /// The workload, shared with the job's buffer.
    pub fn data(&self) -> Bytes {
        self.body.slice(self.data_start as usize..)
    }

    /// The job can be handed to a worker: its workload is in memory.
    pub fn ready(&self) -> bool {
        self.payload == Payload::Resident
    }

    /// The workload, borrowed.
    pub fn data_slice(&self) -> &[u8] {
        &self.body[self.data_start as usize..]
    }

    /// Give the job a body of its own holding its unique, its reducer and `data` as the
    /// workload: with an empty `data` the workload leaves memory, and with the stored one it
    /// comes back. The function name is not kept: it is the function's.
    pub fn set_workload(&mut self, data: &[u8]) {
        let (unique, reducer) = (self.unique(), self.reducer());
        let mut body = Vec::with_capacity(unique.len() + reducer.len() + data.len());
        body.extend_from_slice(unique);
        body.extend_from_slice(reducer);
        body.extend_from_slice(data);
        self.unique = (0, self.unique.1);
        self.reducer = (self.unique.1, self.reducer.1);
        self.data_start = u32::from(self.unique.1) + u32::from(self.reducer.1);
        self.body = Bytes::from(body);
    }
}

/// Head and tail of one intrusive FIFO list, with its length.
#[derive(Debug, Clone, Copy)]
pub struct JobList {
    head: JobId,
    tail: JobId,
    len: u32,
}

impl Default for JobList {
    fn default() -> Self {
        JobList {
            head: JobId::NIL,
            tail: JobId::NIL,
            len: 0,
        }
    }
}

impl JobList {
    /// Number of jobs in the list.
    pub fn len(&self) -> u32 {
        self.len
    }

    /// The oldest job.
    pub fn front(&self) -> Option<JobId> {
        (self.head != JobId::NIL).then_some(self.head)
    }

    /// Append at the tail (new submissions).
    pub fn push_back(&mut self, jobs: &mut Jobs, id: JobId) {
        let job = &mut jobs[id];
        job.prev = self.tail;
        job.next = JobId::NIL;
        if self.tail == JobId::NIL {
            self.head = id;
        } else {
            jobs[self.tail].next = id;
        }
        self.tail = id;
        self.len += 1;
    }

    /// Insert after `after`, or at the head when `after` is [`JobId::NIL`].
    pub fn insert_after(&mut self, jobs: &mut Jobs, after: JobId, id: JobId) {
        if after == JobId::NIL {
            return self.push_front(jobs, id);
        }
        let next = jobs[after].next;
        if next == JobId::NIL {
            return self.push_back(jobs, id);
        }
        let job = &mut jobs[id];
        job.prev = after;
        job.next = next;
        jobs[after].next = id;
        jobs[next].prev = id;
        self.len += 1;
    }

    /// The last job.
    pub fn back(&self) -> Option<JobId> {
        (self.tail != JobId::NIL).then_some(self.tail)
    }

    /// Insert at the head (a job that lost its worker for the first time).
    pub fn push_front(&mut self, jobs: &mut Jobs, id: JobId) {
        let job = &mut jobs[id];
        job.prev = JobId::NIL;
        job.next = self.head;
        if self.head == JobId::NIL {
            self.tail = id;
        } else {
            jobs[self.head].prev = id;
        }
        self.head = id;
        self.len += 1;
    }

    /// Unlink a job that is in this list.
    pub fn remove(&mut self, jobs: &mut Jobs, id: JobId) {
        let (prev, next) = {
            let job = &mut jobs[id];
            let links = (job.prev, job.next);
            job.prev = JobId::NIL;
            job.next = JobId::NIL;
            links
        };
        if prev == JobId::NIL {
            self.head = next;
        } else {
            jobs[prev].next = next;
        }
        if next == JobId::NIL {
            self.tail = prev;
        } else {
            jobs[next].prev = prev;
        }
        self.len -= 1;
    }
}
