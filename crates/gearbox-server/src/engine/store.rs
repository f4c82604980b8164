//! The durable path: writing background jobs to the store, answering their submitters only
//! once the write is committed, and rebuilding the queues from the store at start.
//!
//! A durable job is queued at once (workers need not wait for the disk), but its JOB_CREATED
//! waits until the network layer reports the commit through [`Engine::committed`], in order
//! with the connection's other replies. If the commit failed, the submitter gets ERROR
//! QUEUE_ERROR instead and a job no worker has taken is dropped, so nothing acknowledged is
//! ever lost. Nothing here does I/O: writes leave through [`Outbox::persist`].

use bytes::{BufMut, Bytes, BytesMut};
use gearbox_proto::PacketType;
use smallvec::SmallVec;

use super::conn::Deferred;
use super::job::{JobId, JobState, Priority};
use super::submit::NewJob;
use super::{format_handle, ConnId, Engine, Outbox, StoreOp, StoredJob};

/// A durable job whose store write is not committed yet.
#[derive(Debug)]
pub(super) struct Storing {
    /// Sequence number of the write.
    seq: u64,
    /// The job, and its handle number to detect a reused slot.
    job: JobId,
    handle_no: u64,
    /// Connections waiting for a JOB_CREATED naming this job (one entry per submission).
    waiters: SmallVec<[ConnId; 1]>,
}

impl Engine {
    /// Write a job to the store. Its store id is its handle number, which grows across
    /// restarts, so ascending ids are submission order.
    pub(super) fn store_job(&mut self, job_id: JobId, when: u64, out: &mut impl Outbox) {
        let job = &mut self.jobs[job_id as usize];
        job.store_id = job.handle_no;
        job.committing = !self.config.ack_before_commit;
        let stored = StoredJob {
            id: job.store_id,
            function: self.functions[job.function as usize].name.clone(),
            unique: job.body.slice_ref(job.unique()),
            priority: job.priority as u8,
            when_to_run: when,
            reducer: job.body.slice_ref(job.reducer()),
            data: job.data(),
        };
        let seq = self.next_seq;
        self.next_seq += 1;
        self.storing.push_back(Storing {
            seq,
            job: job_id,
            handle_no: job.handle_no,
            waiters: SmallVec::new(),
        });
        out.persist(seq, StoreOp::Put(stored));
    }

    /// Answer `id` with the JOB_CREATED for `job_id` once the job's store write commits.
    pub(super) fn defer_created(&mut self, id: ConnId, job_id: JobId) {
        let handle_no = self.jobs[job_id as usize].handle_no;
        let Some(storing) = self
            .storing
            .iter_mut()
            .rev()
            .find(|s| s.handle_no == handle_no)
        else {
            return;
        };
        storing.waiters.push(id);
        if let Some(conn) = self.conns.get_mut(id.0 as usize).and_then(Option::as_mut) {
            conn.deferred.push_back(Deferred::Created {
                handle_no,
                seq: storing.seq,
                outcome: None,
            });
        }
    }

    /// The store committed (or, with `failure`, failed to commit) every write up to sequence
    /// number `through`. Jobs become runnable or are dropped, and waiting submitters get their
    /// JOB_CREATED or ERROR, each in order with their other replies.
    pub fn committed(&mut self, through: u64, failure: Option<&str>, out: &mut impl Outbox) {
        let reason = failure.map(|e| Bytes::from(format!("Job could not be stored: {e}")));
        let mut touched: Vec<ConnId> = Vec::new();
        while self.storing.front().is_some_and(|s| s.seq <= through) {
            let Some(storing) = self.storing.pop_front() else {
                break;
            };
            let live = self
                .jobs
                .get_mut(storing.job as usize)
                .filter(|j| j.handle_no == storing.handle_no);
            if let Some(job) = live {
                job.committing = false;
                if reason.is_some() {
                    // Never stored: forget the store id so nothing is deleted for it later. A
                    // job no worker has taken yet is dropped, so nothing unacknowledged runs.
                    job.store_id = 0;
                    if job.state != JobState::Running {
                        self.counters.rejected += 1;
                        self.remove_job(storing.job, out);
                    }
                }
            }
            for &waiter in &storing.waiters {
                let Some(conn) = self
                    .conns
                    .get_mut(waiter.0 as usize)
                    .and_then(Option::as_mut)
                else {
                    continue;
                };
                let entry = conn.deferred.iter_mut().find_map(|d| match d {
                    Deferred::Created { seq, outcome, .. }
                        if *seq == storing.seq && outcome.is_none() =>
                    {
                        Some(outcome)
                    }
                    _ => None,
                });
                if let Some(outcome) = entry {
                    *outcome = Some(reason.clone());
                }
                touched.push(waiter);
            }
        }
        touched.sort_unstable();
        touched.dedup();
        for id in touched {
            self.release(id, out);
        }
    }

    /// Send a connection's deferred replies up to the first one still waiting for a commit.
    fn release(&mut self, id: ConnId, out: &mut impl Outbox) {
        let Some(conn) = self.conns.get_mut(id.0 as usize).and_then(Option::as_mut) else {
            return;
        };
        while let Some(front) = conn.deferred.front() {
            match front {
                Deferred::Created { outcome: None, .. } => break,
                Deferred::Created {
                    handle_no,
                    outcome: Some(None),
                    ..
                } => {
                    let handle = format_handle(&self.handle_prefix, *handle_no);
                    out.packet(id, PacketType::JobCreated, &[], handle.as_bytes());
                }
                Deferred::Created {
                    outcome: Some(Some(reason)),
                    ..
                } => {
                    out.packet(id, PacketType::Error, &[b"QUEUE_ERROR"], reason);
                }
                Deferred::Packet { kind, body } => out.packet_shared(id, *kind, &[], body),
                Deferred::Text(text) => out.text(id, text),
            }
            conn.deferred.pop_front();
        }
    }

    /// Rebuild a job from the store at start, before any connection is accepted. It gets a new
    /// handle but keeps its store row, priority, unique and epoch time.
    pub fn restore(&mut self, stored: StoredJob, now: u64, out: &mut impl Outbox) {
        // New jobs take their store ids from the handle counter: keep it above every id in the
        // store, whatever the clock said at start.
        self.next_handle = self.next_handle.max(stored.id.saturating_add(1));
        let function = self.function_id(&stored.function);
        let mut body = BytesMut::with_capacity(
            stored.function.len()
                + stored.unique.len()
                + stored.reducer.len()
                + stored.data.len()
                + 3,
        );
        body.put_slice(&stored.function);
        body.put_u8(0);
        let unique_at = body.len();
        body.put_slice(&stored.unique);
        body.put_u8(0);
        let reducer_at = body.len();
        body.put_slice(&stored.reducer);
        body.put_u8(0);
        let data_start = body.len();
        body.put_slice(&stored.data);
        let priority = match stored.priority {
            0 => Priority::High,
            2 => Priority::Low,
            _ => Priority::Normal,
        };
        let job_id = self.insert_job(NewJob {
            function,
            body: body.freeze(),
            unique: (unique_at, stored.unique.len()),
            reducer: (reducer_at, stored.reducer.len()),
            data_start,
            priority,
            background: true,
            store_id: stored.id,
        });
        self.counters.restored += 1;
        // Read-backs wait until the replay is over and the store can answer them.
        self.loads_paused = true;
        self.make_runnable(job_id, stored.when_to_run, now, out);
    }
}
