//! Creating and forgetting jobs: everything a job is entered into when it is created (the job
//! table, the handle and coalescing indexes, its function's count) and taken out of when it is
//! forgotten (its queue or running count, its store row, its clients' bookkeeping).
//!
//! The two are kept side by side so that every index a job enters is one it leaves. Nothing
//! here decides whether a job is created or forgotten, or tells any client about it.

use bytes::Bytes;
use smallvec::SmallVec;

use super::ids::{FnId, JobId};
use super::job::{Job, JobState, Payload, Priority};
use super::parse::to_u16;
use super::records::{number_key, ATTEMPTS};
use super::{Engine, Outbox, StoreOp};

/// A job about to be created: where its fields lie in its body.
pub(super) struct NewJob {
    pub function: FnId,
    pub body: Bytes,
    /// (offset, length) of the unique in `body`.
    pub unique: (usize, usize),
    /// (offset, length) of the reducer name in `body`.
    pub reducer: (usize, usize),
    pub data_start: usize,
    pub priority: Priority,
    pub background: bool,
    pub store_id: u64,
    /// The handle number to use; 0 takes the next one. Only a job restored from the store
    /// brings its own, which is above every number handed out since the start.
    pub handle_no: u64,
}

impl Engine {
    /// Create a job and index it; it is in no queue yet.
    pub(super) fn insert_job(&mut self, new: NewJob) -> JobId {
        let handle_no = if new.handle_no != 0 {
            new.handle_no
        } else {
            self.next_handle += 1;
            self.next_handle - 1
        };
        let job_id = self.jobs.insert(Job {
            handle_no,
            function: new.function,
            unique: (to_u16(new.unique.0), to_u16(new.unique.1)),
            reducer: (to_u16(new.reducer.0), to_u16(new.reducer.1)),
            data_start: u32::try_from(new.data_start).unwrap_or(u32::MAX),
            body: new.body,
            priority: new.priority,
            background: new.background,
            state: JobState::Pending,
            payload: Payload::Resident,
            store_id: new.store_id,
            committing: false,
            retries: 0,
            stamp: self.now as u32,
            progress: (0, 0),
            listeners: SmallVec::new(),
            worker: None,
            assignment: 0,
            prev: JobId::NIL,
            next: JobId::NIL,
        });
        self.handles.insert(&self.jobs, job_id);
        let job = &self.jobs[job_id];
        self.held_bytes += job.body.len() as u64;
        let unique = job.unique();
        if unique == b"-" && !job.data_slice().is_empty() {
            self.payloads.insert(&self.jobs, job_id);
        } else if !unique.is_empty() && unique != b"-" {
            self.uniques.insert(&self.jobs, job_id);
        }
        self.functions[new.function].total += 1;
        job_id
    }

    /// Forget a job: unlink it from its queue and indexes, fix the counters, free it. The
    /// caller has already told its clients whatever they must hear and detached its worker.
    pub(super) fn remove_job(&mut self, job_id: JobId, out: &mut impl Outbox) {
        if self.jobs[job_id].state == JobState::Elsewhere {
            self.forget_elsewhere(job_id, out);
        }
        let job = &self.jobs[job_id];
        let f = job.function;
        let mut unqueued = None;
        match job.state {
            JobState::Queued => {
                let p = job.priority.index();
                self.spill_unqueued(job_id);
                self.functions[f].queues[p].remove(&mut self.jobs, job_id);
                unqueued = Some(p);
            }
            JobState::Running => self.functions[f].running -= 1,
            JobState::Elsewhere => self.functions[f].elsewhere -= 1,
            JobState::Pending => {
                self.functions[f].pending[job.priority.index()] -= 1;
                // Pending and committing: held for its commit (`store.rs`).
                if job.committing {
                    self.held -= 1;
                    if self.config.cluster && job.store_id != 0 {
                        // Removed, not leaving for the cluster: a claim may take its row
                        // before its deletion is written.
                        let (id, now) = (job.handle_no, self.now);
                        self.withdraw(id, now);
                    }
                }
            }
        }
        self.handles.remove(&self.jobs, job_id);
        let unique = self.jobs[job_id].unique();
        if unique == b"-" {
            self.payloads.remove(&self.jobs, job_id);
        } else if !unique.is_empty() {
            self.uniques.remove(&self.jobs, job_id);
        }
        self.spill_forgotten(job_id);
        let job = self.jobs.remove(job_id);
        self.held_bytes -= job.body.len() as u64;
        if job.store_id != 0 {
            self.persist(StoreOp::Done { id: job.store_id }, out);
            if job.retries > 0 {
                // Its attempt count, if `retry.rs` stored one.
                self.persist(
                    StoreOp::DropRecord {
                        kind: ATTEMPTS,
                        key: number_key(job.store_id),
                    },
                    out,
                );
            }
        }
        self.functions[f].total -= 1;
        for listener in &job.listeners {
            if let Some(conn) = self.conns.get_mut(*listener) {
                conn.waiting_live = conn.waiting_live.saturating_sub(1);
            }
        }
        if let Some(p) = unqueued {
            self.refill(f, p, out);
        }
        self.give_back_memory();
    }

    /// Hand a store write to the outbox with the next sequence number.
    pub(super) fn persist(&mut self, op: StoreOp, out: &mut impl Outbox) {
        let seq = self.next_seq;
        self.next_seq += 1;
        out.persist(seq, op);
    }

    /// After a backlog drains, hand the slab's memory back. Only when it is empty: its indexes
    /// are referenced everywhere, so it cannot be compacted (the indexes shrink themselves).
    pub(super) fn give_back_memory(&mut self) {
        self.jobs.shrink_if_empty(1024);
    }
}
