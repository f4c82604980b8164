//! The durable path: writing background jobs to the store, answering their submitters only
//! once the write is committed, and rebuilding the queues from the store at start.
//!
//! A job a background submission creates waits outside its queue, counted as waiting, until
//! the network layer reports its write committed through [`Engine::committed`]; then it takes
//! the place in its queue its submission order gives it, and its JOB_CREATED goes out. So a
//! job runs only once it is durable, and ERROR QUEUE_ERROR (the write failed) means it never
//! ran. Jobs submitted after it may run meanwhile: nothing waits on a commit but the job itself
//! and its submitters' output (`conns.rs`). Nothing acknowledged is ever lost, and nothing here
//! does I/O: writes leave through [`Outbox::persist`].

use bytes::{BufMut, Bytes, BytesMut};
use smallvec::SmallVec;

use super::conns::{Created, Held};
use super::ids::JobId;
use super::job::{JobState, Priority};
use super::lifecycle::NewJob;
use super::{ConnId, Engine, Outbox, StoreOp, StoredJob};

/// A durable job whose store write is not committed yet.
#[derive(Debug)]
pub(super) struct Storing {
    /// Sequence number of the write.
    seq: u64,
    /// The job, and its handle number to detect a reused slot.
    job: JobId,
    handle_no: u64,
    /// Background submissions waiting for a JOB_CREATED naming this job.
    waiters: SmallVec<[ConnId; 1]>,
    /// The job was created by this write's submission and waits outside its queue for the
    /// commit, to run at this epoch time (0: at once).
    held: Option<u64>,
    /// In a cluster: the job was offered to every node; once committed it leaves this one.
    offered: bool,
    /// In a cluster: the offered job is a foreground one this node watches (`relay.rs`).
    watched: bool,
    /// The handle the waiters hear instead of the one `handle_no` makes (another node's job).
    answer: Option<Bytes>,
}

impl Engine {
    /// Write a job to the store. Its store id is its handle number, which grows across
    /// restarts, so ascending ids are submission order. With `held`, the job was just created
    /// by a background submission: it stays out of its queue until the write is committed
    /// (see [`Engine::settle_job`]), unless JOB_CREATED goes out before the commit anyway
    /// (`ack_before_commit`).
    pub(super) fn store_job(
        &mut self,
        job_id: JobId,
        when: u64,
        held: bool,
        out: &mut impl Outbox,
    ) -> bool {
        let job = &mut self.jobs[job_id];
        job.store_id = job.handle_no;
        job.committing = !self.config.ack_before_commit;
        let stored = self.stored_job(job_id, when);
        let job = &self.jobs[job_id];
        let seq = self.next_seq;
        self.next_seq += 1;
        let held = (held && job.committing).then_some(when);
        // Only a job that waits for its commit anyway can leave for the cluster: one already
        // queued here (JOB_CREATED before the commit) stays.
        let offered = held.is_some() && !self.keeps(job.function);
        self.storing.push_back(Storing {
            seq,
            job: job_id,
            handle_no: job.handle_no,
            waiters: SmallVec::new(),
            held,
            offered,
            watched: offered && !job.background,
            answer: None,
        });
        let op = match (offered, job.background) {
            (false, _) => StoreOp::Put(stored),
            (true, true) => StoreOp::Offer(stored),
            // A foreground job: its clients wait here for the node that runs it (`relay.rs`).
            (true, false) => {
                self.offering(true);
                StoreOp::OfferWatched(stored)
            }
        };
        out.persist(seq, op);
        if held.is_some() {
            // Counted as waiting (in `status` and `prioritystatus`), in no queue yet.
            let job = &mut self.jobs[job_id];
            job.state = JobState::Pending;
            self.functions[job.function].pending[job.priority.index()] += 1;
            self.held += 1;
        }
        held.is_some()
    }

    /// The store row of `job_id`, to run at `when` (Unix seconds, 0 at once).
    pub(super) fn stored_job(&self, job_id: JobId, when: u64) -> StoredJob {
        let job = &self.jobs[job_id];
        StoredJob {
            id: job.store_id,
            function: self.functions[job.function].name.clone(),
            unique: job.body.slice_ref(job.unique()),
            priority: job.priority as u8,
            when_to_run: when,
            reducer: job.body.slice_ref(job.reducer()),
            data: job.data(),
        }
    }

    /// In a cluster: whether `job_id` is being offered, so that it leaves this node once its
    /// write is committed (a foreground one to be watched from here, `watched`). A submission
    /// of the other kind (foreground for a background job, background for a foreground one)
    /// does not join it here: it is a job of its own, which the table joins to the stored one
    /// (watching it from the start, so that no node can finish the job before this one
    /// watches it, or making it background, so that it outlives its foreground clients).
    pub(super) fn leaving(&self, job_id: JobId) -> Option<bool> {
        if !self.config.cluster || !self.jobs[job_id].committing {
            return None;
        }
        let handle_no = self.jobs[job_id].handle_no;
        self.storing
            .iter()
            .rev()
            .find(|s| s.handle_no == handle_no && s.job == job_id)
            .filter(|s| s.offered)
            .map(|s| s.watched)
    }

    /// In a cluster: whether a foreground job of `function` with the unique id of `job_id` is
    /// being offered (its commit not reported yet), so that the table may join it to the row
    /// `job_id` waits for (`relay.rs`).
    pub(super) fn offering_equal(&self, job_id: JobId, function: super::FnId) -> bool {
        let unique = self.jobs[job_id].unique();
        if unique.is_empty() || unique == b"-" {
            return false;
        }
        self.storing.iter().filter(|s| s.watched).any(|s| {
            s.job != job_id
                && self.jobs.get(s.job).is_some_and(|j| {
                    j.handle_no == s.handle_no && j.function == function && j.unique() == unique
                })
        })
    }

    /// Answer `id` with the JOB_CREATED for `job_id` once the job's store write commits; until
    /// then everything else bound for `id` waits behind it.
    pub(super) fn defer_created(&mut self, id: ConnId, job_id: JobId) {
        let handle_no = self.jobs[job_id].handle_no;
        let Some(storing) = self
            .storing
            .iter_mut()
            .rev()
            .find(|s| s.handle_no == handle_no)
        else {
            return;
        };
        storing.waiters.push(id);
        self.conns.hold_created(id, handle_no, storing.seq);
    }

    /// Write `op`, which answers a request of `id` (a submitted schedule's record, a
    /// background submission joining a job another node runs): `id` hears JOB_CREATED naming
    /// `handle_no` (or `answer`, another node's handle) once the write is committed, or ERROR
    /// if it fails, in order with everything else bound for it.
    pub(super) fn store_answered(
        &mut self,
        id: ConnId,
        handle_no: u64,
        answer: Option<Bytes>,
        op: StoreOp,
        out: &mut impl Outbox,
    ) {
        let seq = self.next_seq;
        self.next_seq += 1;
        // No job: `committed` finds none for this entry and only answers its waiter.
        self.storing.push_back(Storing {
            seq,
            job: JobId::NIL,
            handle_no,
            waiters: smallvec::smallvec![id],
            held: None,
            offered: false,
            watched: false,
            answer,
        });
        self.conns.hold_created(id, handle_no, seq);
        out.persist(seq, op);
    }

    /// The store committed (or, with `failure`, failed to commit) every write up to sequence
    /// number `through`. Committed jobs become runnable; a job whose write failed is dropped
    /// unless a worker or a foreground client already has it. Waiting submitters get their
    /// JOB_CREATED or ERROR, each in order with everything else bound for them.
    pub fn committed(
        &mut self,
        through: u64,
        failure: Option<&str>,
        now: u64,
        out: &mut impl Outbox,
    ) {
        self.now = now;
        if !self.dead.own.is_empty() {
            self.dead_letters_written(through, failure.is_none(), now);
        }
        let reason = failure.map(|e| Bytes::from(format!("Job could not be stored: {e}")));
        let mut touched: Vec<ConnId> = Vec::new();
        while self.storing.front().is_some_and(|s| s.seq <= through) {
            let Some(storing) = self.storing.pop_front() else {
                break;
            };
            if storing.watched {
                self.offering(false);
            }
            let live = self
                .jobs
                .get(storing.job)
                .is_some_and(|j| j.handle_no == storing.handle_no);
            let joined = match storing.answer {
                Some(answer) => Some(answer),
                None => self.joined_elsewhere(storing.handle_no),
            };
            // A foreground job offered to the cluster whose write failed runs here, as a job
            // in memory: its client hears its own handle.
            let foreground = live && !self.jobs[storing.job].background;
            let created = match (&reason, &joined) {
                (Some(_), _) if foreground => Created::Stored,
                (Some(reason), _) => Created::Failed(reason.clone()),
                (None, Some(handle)) => Created::Joined(handle.clone()),
                (None, None) => Created::Stored,
            };
            for &waiter in &storing.waiters {
                self.conns
                    .settle_created(waiter, storing.seq, created.clone());
                touched.push(waiter);
            }
            if !self.cluster.failed_on_commit.is_empty() {
                self.fail_on_commit(storing.handle_no, &created, &mut touched, out);
            }
            if let (true, Some(handle), None) = (live, joined, &reason) {
                self.leave_joined(storing.job, handle, storing.held, now, out);
            } else if live
                && storing.offered
                && reason.is_none()
                && !self.reclaimed(storing.handle_no)
            {
                self.leave_to_cluster(storing.job, storing.watched, out);
            } else if live {
                self.settle_job(storing.job, storing.held, reason.is_some(), now, out);
            }
        }
        touched.sort_unstable();
        touched.dedup();
        for id in touched {
            self.release(id, now, out);
        }
    }

    /// The commit of a job cancelled while it was being committed is reported: its clients
    /// hear WORK_FAIL after their JOB_CREATED, under the handle that named (none after an
    /// ERROR).
    fn fail_on_commit(
        &mut self,
        handle_no: u64,
        created: &Created,
        touched: &mut Vec<ConnId>,
        out: &mut impl Outbox,
    ) {
        let Some(listeners) = self.cluster.failed_on_commit.remove(&handle_no) else {
            return;
        };
        let handle = match created {
            Created::Failed(_) => return,
            Created::Joined(handle) => handle.clone(),
            Created::Stored => Bytes::copy_from_slice(self.handle_of(handle_no).as_bytes()),
        };
        for listener in listeners {
            self.conns.packet(
                out,
                listener,
                gearbox_proto::PacketType::WorkFail,
                &[],
                &handle,
            );
            touched.push(listener);
        }
    }

    /// Send what `id` held back behind commits that are now reported, running its held
    /// requests in their turn.
    pub(super) fn release(&mut self, id: ConnId, now: u64, out: &mut impl Outbox) {
        while let Some(held) = self.conns.release(out, id, &self.handle_prefix) {
            let aside = self.conns.set_aside(id);
            match held {
                Held::Packet(packet) => self.packet(id, &packet, now, out),
                Held::Admin(line) => self.admin(id, &line, out),
            }
            self.conns.restore(id, aside);
        }
    }

    /// A job's store write was reported. A job held for it (`held`: created by a background
    /// submission) now takes its place in its queue, in submission order, or waits for its
    /// epoch time. A failed write is never stored and its background submitters hear ERROR:
    /// the job goes on only for a worker already running it or for foreground clients waiting
    /// for it (as a job in memory).
    pub(super) fn settle_job(
        &mut self,
        job_id: JobId,
        held: Option<u64>,
        failed: bool,
        now: u64,
        out: &mut impl Outbox,
    ) {
        if failed {
            let job = &mut self.jobs[job_id];
            // Forget the store id so that nothing is deleted for it later.
            job.store_id = 0;
            let kept = job.state == JobState::Running || !job.listeners.is_empty();
            if !kept {
                self.counters.rejected += 1;
                return self.fail_job(job_id, out);
            }
        }
        self.jobs[job_id].committing = false;
        if let Some(when) = held {
            let job = &self.jobs[job_id];
            self.functions[job.function].pending[job.priority.index()] -= 1;
            self.held -= 1;
            if !self.wait_for_epoch(job_id, when, now) {
                self.enqueue_in_order(job_id, out);
            }
        }
    }

    /// An offered job's write is committed: the row is the cluster's now. A foreground job
    /// (`watched`) waits here for the packets of the node that runs it (`relay.rs`); a
    /// background one leaves this node without a trace in the store (no foreground client
    /// joins it here while it is being offered: see [`Engine::leaving`]).
    fn leave_to_cluster(&mut self, job_id: JobId, watched: bool, out: &mut impl Outbox) {
        if watched {
            let row = self.jobs[job_id].handle_no;
            return self.watch_elsewhere(job_id, row, None, out);
        }
        self.counters.offered += 1;
        // Its row stays: nothing is deleted for it here.
        self.jobs[job_id].store_id = 0;
        self.remove_job(job_id, out);
    }

    /// Rebuild a job from the store at start, before any connection is accepted. It keeps its
    /// handle (its store id is its handle number), its store row, priority, unique, epoch
    /// time and the attempts it used (`retry.rs`), so a status or result lookup by the
    /// handle its submitter heard still works. Nobody is connected and nothing is read back
    /// yet, so this sends nothing.
    pub fn restore(&mut self, stored: StoredJob, now: u64) {
        self.now = now;
        // New jobs take their store ids from the handle counter: keep it above every id in the
        // store, whatever the clock said at start.
        self.handle_seen(stored.id);
        let when = stored.when_to_run;
        let job_id = self.revive(stored);
        self.counters.restored += 1;
        // Read-backs wait until the replay is over and the store can answer them.
        self.loads_paused = true;
        if !self.wait_for_epoch(job_id, when, now) {
            self.append_to_queue(job_id);
        }
    }

    /// A job from its store row, with its handle (its store id) and the attempts it used; in no
    /// queue yet.
    pub(super) fn revive(&mut self, stored: StoredJob) -> JobId {
        let function = self.function_id_unbounded(&stored.function);
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
            handle_no: stored.id,
        });
        if let Some(retries) = self.restored_attempts.remove(&stored.id) {
            self.jobs[job_id].retries = retries;
        }
        job_id
    }
}
