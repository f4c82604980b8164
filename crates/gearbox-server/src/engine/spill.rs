//! Bounded memory (`--resident-jobs N`): which queued workloads stay in RAM, and reading the
//! others back from the durable store before their turn comes.
//!
//! Once more than N jobs hold their workloads in memory, a durable job entering its queue (or
//! waiting for its epoch time) drops its workload: it is already in the store, and the job keeps
//! only what the engine decides with (handle, function, unique, priority, links). Each queue
//! keeps a run of resident jobs at its head: when that run falls below a batch, the next batch
//! of spilled jobs is read back through [`Outbox::load`], one request per queue at a time, and
//! [`Engine::loaded`] puts the workloads back and wakes workers. A queue whose head is not
//! resident yet is not runnable: GRAB passes over it (and over that function's lower
//! priorities, so priority order holds), and a worker sleeping on it is woken by the load. A
//! failed read is retried after [`RELOAD_RETRY_MS`]; a job the store no longer holds is dropped
//! with an error in the log. Nothing here reads the store itself.
//!
//! Jobs that are never spilled: foreground jobs (they are not stored), running jobs, and jobs
//! with the unique `-` (they coalesce on their workload, which must stay at hand). So N bounds
//! what the queues can push out; the resident count may exceed N by at most one batch per queue
//! with spilled jobs.

use bytes::Bytes;
use rustc_hash::FxHashMap;

use super::ids::JobId;
use super::job::{JobState, Payload};
use super::stats::Event;
use super::timer::{JobRef, Timer, TimerKind};
use super::{Engine, FnId, Outbox};

/// How long a failed read-back waits before it is tried again, in milliseconds.
pub const RELOAD_RETRY_MS: u64 = 1000;
/// Largest number of workloads read back in one request.
const MAX_LOAD_BATCH: u32 = 256;

/// A read-back in flight: the jobs asked for, in queue order.
#[derive(Debug)]
pub(super) struct Load {
    function: FnId,
    priority: usize,
    jobs: Vec<(JobId, u64)>,
}

impl Engine {
    /// Workloads read back per request: a quarter of the limit, at most [`MAX_LOAD_BATCH`].
    fn load_batch(&self) -> u32 {
        (self.config.resident_jobs / 4).clamp(1, MAX_LOAD_BATCH)
    }

    /// Jobs holding their workload in memory.
    pub fn resident_jobs(&self) -> usize {
        self.jobs.len() - self.spilled as usize
    }

    /// Resident jobs the limit is applied to: those in queues, running or waiting for their
    /// epoch time, not those still waiting for their store commit (they are charged when they
    /// enter their queue, oldest first, so the oldest stay resident).
    fn charged_jobs(&self) -> usize {
        self.resident_jobs() - self.held as usize
    }

    /// Drop a job's workload from memory if it is stored and the limit is reached. Called when
    /// the job enters its queue or starts waiting for its epoch time.
    pub(super) fn spill_if_over(&mut self, job_id: JobId) {
        let limit = self.config.resident_jobs as usize;
        if limit == 0 || self.charged_jobs() <= limit {
            return;
        }
        let job = &mut self.jobs[job_id];
        if job.store_id == 0
            || job.payload != Payload::Resident
            || job.state == JobState::Running
            || job.unique() == b"-"
        {
            return;
        }
        let before = job.body.len();
        job.set_workload(&[]);
        self.held_bytes -= (before - job.body.len()) as u64;
        job.payload = Payload::Spilled;
        self.spilled += 1;
    }

    /// A job was appended to its queue: account for it if its workload is not in memory, and
    /// read back what the queue needs.
    /// Count a job just appended to its queue among the queue's spilled ones if its workload
    /// is not in memory; returns its function and priority.
    pub(super) fn spill_count(&mut self, job_id: JobId) -> (FnId, usize) {
        let job = &self.jobs[job_id];
        let (f, p) = (job.function, job.priority.index());
        if job.payload != Payload::Resident {
            let spill = &mut self.functions[f].spill[p];
            spill.count += 1;
            if spill.first == JobId::NIL && job.payload == Payload::Spilled {
                spill.first = job_id;
            }
        }
        (f, p)
    }

    /// A queued job is about to be unlinked from its queue.
    pub(super) fn spill_unqueued(&mut self, job_id: JobId) {
        let job = &self.jobs[job_id];
        if job.payload == Payload::Resident {
            return;
        }
        let (f, p, next) = (job.function, job.priority.index(), job.next);
        let first = self.functions[f].spill[p].first;
        let advanced = if first == job_id {
            self.next_spilled(next)
        } else {
            first
        };
        let spill = &mut self.functions[f].spill[p];
        spill.count -= 1;
        spill.first = advanced;
    }

    /// A job leaves memory altogether.
    pub(super) fn spill_forgotten(&mut self, job_id: JobId) {
        if self.jobs[job_id].payload != Payload::Resident {
            self.spilled -= 1;
        }
    }

    /// The first job from `from` on (in queue order) whose workload is spilled and not
    /// being read back.
    fn next_spilled(&self, mut from: JobId) -> JobId {
        while from != JobId::NIL && self.jobs[from].payload != Payload::Spilled {
            from = self.jobs[from].next;
        }
        from
    }

    /// The head of a queue can be handed to a worker: it holds its workload and is committed.
    pub(super) fn head_ready(&self, f: FnId, p: usize) -> Option<JobId> {
        let head = self.functions[f].queues[p].front()?;
        self.jobs[head].ready().then_some(head)
    }

    /// Some job of `f` can be handed to a worker now.
    pub(super) fn has_ready(&self, f: FnId) -> bool {
        (0..3).any(|p| self.head_ready(f, p).is_some())
    }

    /// Ask for the next batch of a queue's spilled workloads when its resident run is short
    /// and no read-back is in flight for it.
    pub(super) fn refill(&mut self, f: FnId, p: usize, out: &mut impl Outbox) {
        let batch = self.load_batch();
        let function = &self.functions[f];
        let (queue, spill) = (&function.queues[p], function.spill[p]);
        if spill.first == JobId::NIL || spill.loading || self.loads_paused {
            return;
        }
        // Foreground jobs are never spilled and may sit behind spilled ones, so the count of
        // resident jobs only estimates the run at the head; a spilled head always loads.
        let resident_here = queue.len() - spill.count;
        let head_resident = queue
            .front()
            .is_some_and(|head| self.jobs[head].payload == Payload::Resident);
        let room = self.charged_jobs() + batch as usize <= self.config.resident_jobs as usize;
        // A queue with nothing resident at its head loads whatever the total, or it would
        // never move.
        if head_resident && (resident_here >= batch || !room) {
            return;
        }
        let mut jobs = Vec::with_capacity(batch as usize);
        let mut ids = Vec::with_capacity(batch as usize);
        let mut at = spill.first;
        while at != JobId::NIL && jobs.len() < batch as usize {
            let job = &mut self.jobs[at];
            if job.payload == Payload::Spilled {
                job.payload = Payload::Loading;
                jobs.push((at, job.handle_no));
                ids.push(job.store_id);
            }
            at = job.next;
        }
        let first = self.next_spilled(at);
        let spill = &mut self.functions[f].spill[p];
        spill.first = first;
        spill.loading = true;
        let token = self.next_load;
        self.next_load += 1;
        self.loads.insert(
            token,
            Load {
                function: f,
                priority: p,
                jobs,
            },
        );
        out.load(token, ids);
    }

    /// Start reading back after the replay: every queue with spilled jobs gets its first batch.
    pub fn resume_loads(&mut self, out: &mut impl Outbox) {
        self.loads_paused = false;
        let functions = self.functions.ids();
        for f in functions {
            for p in 0..3 {
                self.refill(f, p, out);
            }
        }
    }

    /// The store answered the read-back `token`: with the workloads found, or with why it
    /// failed. Found workloads go back into their jobs and wake workers; a failed read is
    /// retried after [`RELOAD_RETRY_MS`]; a job the store no longer holds is dropped.
    pub fn loaded(
        &mut self,
        token: u64,
        result: Result<Vec<(u64, Bytes)>, String>,
        now: u64,
        out: &mut impl Outbox,
    ) {
        self.now = now;
        if self.answer_lookup(token, &result, now, out) {
            return;
        }
        let Some(load) = self.loads.remove(&token) else {
            return;
        };
        let (f, p) = (load.function, load.priority);
        self.functions[f].spill[p].loading = false;
        let live = |engine: &Engine, &(job_id, handle_no): &(JobId, u64)| {
            engine.jobs.get(job_id).is_some_and(|job| {
                job.handle_no == handle_no
                    && job.payload == Payload::Loading
                    && job.state == JobState::Queued
            })
        };
        let found = match result {
            Ok(found) => found,
            Err(reason) => {
                tracing::warn!(%reason, jobs = load.jobs.len(),
                    "reading queued workloads back failed; retrying");
                let mut retry: Option<(JobId, u64)> = None;
                for entry in &load.jobs {
                    if live(self, entry) {
                        self.jobs[entry.0].payload = Payload::Spilled;
                        retry.get_or_insert(*entry);
                    }
                }
                if let Some((job, handle_no)) = retry {
                    // The reverted jobs all lie ahead of the queue's old first spilled job.
                    self.functions[f].spill[p].first = job;
                    self.timers.arm(Timer {
                        deadline: now + RELOAD_RETRY_MS,
                        kind: TimerKind::Reload(JobRef { job, handle_no }),
                    });
                }
                return;
            }
        };
        let mut workloads: FxHashMap<u64, Bytes> = found.into_iter().collect();
        let mut ready = 0;
        for entry in &load.jobs {
            if !live(self, entry) {
                continue;
            }
            let job = &mut self.jobs[entry.0];
            match workloads.remove(&job.store_id) {
                Some(data) => {
                    let before = job.body.len();
                    job.set_workload(&data);
                    self.held_bytes += (job.body.len() - before) as u64;
                    job.payload = Payload::Resident;
                    ready += usize::from(job.ready());
                    self.spilled -= 1;
                    self.functions[f].spill[p].count -= 1;
                }
                None => {
                    tracing::error!(
                        store_id = job.store_id,
                        "a queued job is no longer in the store; dropping it"
                    );
                    self.count(entry.0, Event::Failed);
                    self.fail_job(entry.0, out);
                }
            }
        }
        for _ in 0..ready {
            self.wake(f, out);
        }
        self.refill(f, p, out);
    }

    /// A read-back retry fell due for the queue of `job_id`.
    pub(super) fn reload(&mut self, job_id: JobId, out: &mut impl Outbox) {
        let job = &self.jobs[job_id];
        if job.state == JobState::Queued && job.payload == Payload::Spilled {
            let (f, p) = (job.function, job.priority.index());
            self.refill(f, p, out);
        }
    }
}
