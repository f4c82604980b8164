//! Job submission: validation, unique-id coalescing, queue limits, job creation and the
//! JOB_CREATED answer (PROTOCOL.md §5.2, §8.4, §8.8).
//!
//! A new job is stored with a compact copy of its submission body, so it never pins a network
//! read buffer. Nothing here picks a worker: a runnable job is queued and sleepers are woken.

use bytes::Bytes;
use gearbox_proto::{Args, Packet, PacketType};

use super::conn::Waiting;
use super::ids::JobId;
use super::job::{JobState, Priority};
use super::lifecycle::NewJob;
use super::parse::{offset_in, parse_decimal};
use super::stats::Event;
use super::timer::{JobRef, Timer, TimerKind};
use super::{ConnId, Engine, FnId, Outbox, COMPACT_LIMIT, MAX_REDUCER, MAX_UNIQUE};

impl Engine {
    pub(super) fn submit(
        &mut self,
        id: ConnId,
        packet: &Packet,
        args: &Args,
        now: u64,
        out: &mut impl Outbox,
    ) {
        use PacketType as T;
        let (priority, background) = match packet.kind {
            T::SubmitJob | T::SubmitReduceJob => (Priority::Normal, false),
            T::SubmitJobHigh => (Priority::High, false),
            T::SubmitJobLow => (Priority::Low, false),
            T::SubmitJobHighBg => (Priority::High, true),
            T::SubmitJobLowBg => (Priority::Low, true),
            _ => (Priority::Normal, true),
        };
        let function = args.get(0);
        let unique = args.get(1);
        let reducer = match packet.kind {
            T::SubmitReduceJob | T::SubmitReduceJobBackground => args.get(2),
            _ => &[],
        };
        let when = if packet.kind == T::SubmitJobEpoch {
            match parse_decimal(args.get(2)) {
                Some(when) if when <= u64::MAX / 1000 => when,
                _ => return self.reject(id, "ARGUMENT_TOO_LARGE", "Epoch time too large", out),
            }
        } else {
            0
        };
        if self.draining {
            return self.reject(id, "SHUTTING_DOWN", "Server is shutting down", out);
        }
        if unique.len() > MAX_UNIQUE {
            return self.reject(id, "ARGUMENT_TOO_LARGE", "Unique value too large", out);
        }
        if function.len() > self.config.max_function {
            return self.reject(id, "ARGUMENT_TOO_LARGE", "Function name too large", out);
        }
        if reducer.len() > MAX_REDUCER {
            return self.reject(id, "ARGUMENT_TOO_LARGE", "Reducer name too large", out);
        }
        let data = args.last();
        let Ok(fn_id) = self.function_id(function) else {
            return self.too_many_functions(id, out);
        };

        // Coalescing (PROTOCOL.md §8.4): the empty unique never matches; `-` matches on payload.
        let by_payload = unique == b"-";
        let coalesce = !(unique.is_empty() || by_payload && data.is_empty());
        if coalesce {
            let found = if by_payload {
                self.payloads.get(&self.jobs, fn_id, data)
            } else {
                self.uniques.get(&self.jobs, fn_id, unique)
            };
            match found.map(|existing| (existing, self.leaving(existing))) {
                // A job of the other kind leaving for the cluster: this submission is a job
                // of its own, which the table joins to it (see `Engine::leaving`).
                Some((_, Some(watched))) if watched == background => {}
                Some((existing, _)) => return self.join(id, existing, background, out),
                None => {}
            }
        }
        if let Err(text) = self.admit(fn_id, priority, packet.body.len()) {
            return self.reject(id, "QUEUE_ERROR", text, out);
        }

        let body = if packet.body.len() <= COMPACT_LIMIT {
            Bytes::copy_from_slice(&packet.body)
        } else {
            packet.body.clone()
        };
        let reducer_at = if reducer.is_empty() {
            0
        } else {
            offset_in(&packet.body, reducer)
        };
        let job_id = self.insert_job(NewJob {
            function: fn_id,
            unique: (offset_in(&packet.body, unique), unique.len()),
            reducer: (reducer_at, reducer.len()),
            data_start: offset_in(&packet.body, data),
            body,
            priority,
            background,
            store_id: 0,
            handle_no: 0,
        });
        self.count_submitted(job_id);
        if !background {
            self.attach(id, job_id);
        }
        self.settle_new_job(job_id, background, when, now, out, |engine, out| {
            if engine.jobs[job_id].committing {
                engine.defer_created(id, job_id);
            } else {
                engine.reply_created(id, job_id, out);
            }
        });
    }

    /// Submit a background job on the server's own behalf (a schedule's firing, a retried
    /// dead letter), as a SUBMIT_JOB_BG of `priority` would, with nobody to answer: refused
    /// when a job with the same unique is still there, its queue is full, or the memory
    /// budget is spent.
    pub(super) fn submit_own(
        &mut self,
        function: &Bytes,
        unique: &[u8],
        workload: &[u8],
        priority: Priority,
        now: u64,
        out: &mut impl Outbox,
    ) -> Result<JobId, &'static str> {
        if self.draining {
            return Err("the server is shutting down");
        }
        let fn_id = self
            .function_id(function)
            .map_err(|_| "the server holds its maximum of functions")?;
        if !unique.is_empty() && self.uniques.get(&self.jobs, fn_id, unique).is_some() {
            return Err("a job with this unique id is still there");
        }
        // The body a SUBMIT_JOB_BG would carry: function, unique, workload.
        let mut body = Vec::with_capacity(function.len() + unique.len() + workload.len() + 2);
        body.extend_from_slice(function);
        body.push(0);
        body.extend_from_slice(unique);
        body.push(0);
        body.extend_from_slice(workload);
        self.admit(fn_id, priority, body.len())?;
        let unique_at = function.len() + 1;
        let job_id = self.insert_job(NewJob {
            function: fn_id,
            body: Bytes::from(body),
            unique: (unique_at, unique.len()),
            reducer: (0, 0),
            data_start: unique_at + unique.len() + 1,
            priority,
            background: true,
            store_id: 0,
            handle_no: 0,
        });
        self.count_submitted(job_id);
        self.settle_new_job(job_id, true, 0, now, out, |_, _| {});
        Ok(job_id)
    }

    /// Whether a new job of `priority` with a body of `size` bytes fits: its queue's limit
    /// (`maxqueue`) and the memory budget (`max_queued_bytes`); the ERROR text if not.
    pub(super) fn admit(
        &self,
        fn_id: FnId,
        priority: Priority,
        size: usize,
    ) -> Result<(), &'static str> {
        if self.functions[fn_id].is_full(priority) {
            return Err("Job queue is full");
        }
        let budget = self.config.max_queued_bytes;
        if budget != 0 && self.held_bytes + size as u64 > budget {
            return Err("Queued jobs hold the server's whole memory budget (--max-queued-bytes)");
        }
        Ok(())
    }

    /// A job was just created: write it to the store if it is durable (or, in a cluster, a
    /// foreground job that goes to another node's workers, `relay.rs`), let `answer` tell its
    /// submitter (before anything the job causes), then queue it, or leave it waiting for its
    /// epoch or for the commit. A durable job enters its queue when its write is committed,
    /// so no worker runs a job whose submitter may yet hear ERROR (`store.rs`).
    pub(super) fn settle_new_job<O: Outbox>(
        &mut self,
        job_id: JobId,
        background: bool,
        when: u64,
        now: u64,
        out: &mut O,
        answer: impl FnOnce(&mut Engine, &mut O),
    ) {
        let stored = background || self.offers_foreground(self.jobs[job_id].function);
        let held = self.config.durable && stored && self.store_job(job_id, when, true, out);
        answer(self, out);
        if !held {
            self.make_runnable(job_id, when, now, out);
        }
    }

    /// A submission matched an existing job: attach a foreground submitter and answer with the
    /// existing handle. A background submitter's answer waits for the job's store write, if one
    /// is pending, and is that write's outcome; a foreground one's does not (the job need not
    /// be durable for it), unless the job is a foreground one being offered to the cluster,
    /// whose commit may name another node's handle. A background submission joining a job
    /// another node runs for clients here makes its row background (`relay.rs`).
    fn join(&mut self, id: ConnId, job_id: JobId, background: bool, out: &mut impl Outbox) {
        self.count(job_id, Event::Coalesced);
        if background && self.jobs[job_id].state == JobState::Elsewhere {
            return self.adopt_elsewhere(id, job_id, out);
        }
        let job = &mut self.jobs[job_id];
        job.background |= background;
        let stored = job.store_id != 0;
        if !background {
            self.attach(id, job_id);
        }
        if self.config.durable && background && !stored {
            // A background submission joined a foreground job: the job must now survive a
            // restart like any background job. It is not delayed, whatever this submission said,
            // and stays runnable for its foreground clients meanwhile.
            self.store_job(job_id, 0, false, out);
        }
        // A foreground job leaving for the cluster may be stored as another node's equal job,
        // whose handle every submitter then hears (`relay.rs`).
        let waits = if background {
            self.jobs[job_id].committing
        } else {
            self.leaving(job_id) == Some(true)
        };
        if waits {
            self.defer_created(id, job_id);
        } else {
            self.reply_created(id, job_id, out);
        }
    }

    /// JOB_CREATED naming the job: its own handle, or for a job waiting here for another
    /// node's equal job, that job's handle, which its clients heard (`relay.rs`).
    fn reply_created(&mut self, id: ConnId, job_id: JobId, out: &mut impl Outbox) {
        let handle_no = self.jobs[job_id].handle_no;
        let handle = match self.shown_handle(handle_no) {
            Some(shown) => shown,
            None => Bytes::copy_from_slice(self.handle_of(handle_no).as_bytes()),
        };
        self.conns
            .packet(out, id, PacketType::JobCreated, &[], &handle);
    }

    /// Queue a job now, or arm its timer if its epoch time is still ahead.
    pub(super) fn make_runnable(
        &mut self,
        job_id: JobId,
        when: u64,
        now: u64,
        out: &mut impl Outbox,
    ) {
        if !self.wait_for_epoch(job_id, when, now) {
            self.enqueue_back(job_id, out);
        }
    }

    /// Drop the job's workload if the memory limit says so, and if its epoch time is still
    /// ahead, leave it pending with a timer armed; false when it is due now.
    pub(super) fn wait_for_epoch(&mut self, job_id: JobId, when: u64, now: u64) -> bool {
        self.spill_if_over(job_id);
        if when.saturating_mul(1000) <= now {
            return false;
        }
        let job = &mut self.jobs[job_id];
        job.state = JobState::Pending;
        self.functions[job.function].pending[job.priority.index()] += 1;
        self.timers.arm(Timer {
            deadline: when * 1000,
            kind: TimerKind::EpochDue(JobRef {
                job: job_id,
                handle_no: job.handle_no,
            }),
        });
        true
    }

    pub(super) fn reject(&mut self, id: ConnId, code: &str, text: &str, out: &mut impl Outbox) {
        self.counters.rejected += 1;
        self.conns.error(out, id, code, text);
    }

    /// Make `id` a listener of `job` (once per foreground submission, as gearmand does: a
    /// connection that submits the same unique twice gets every packet twice, one per task).
    pub(super) fn attach(&mut self, id: ConnId, job_id: JobId) {
        let job = &mut self.jobs[job_id];
        job.listeners.push(id);
        let waiting = Waiting {
            job: job_id,
            handle_no: job.handle_no,
        };
        let jobs = &self.jobs;
        if let Some(conn) = self.conns.get_mut(id) {
            conn.attach(waiting, |w| {
                jobs.get(w.job)
                    .is_some_and(|j| j.handle_no == w.handle_no && j.listeners.contains(&id))
            });
        }
    }

    /// Put a job whose store write just committed into its queue where its submission order
    /// puts it: behind every job submitted before it, ahead of the foreground jobs submitted
    /// while it was being written (only those can be behind it, so the walk is short).
    pub(super) fn enqueue_in_order(&mut self, job_id: JobId, out: &mut impl Outbox) {
        let job = &mut self.jobs[job_id];
        job.state = JobState::Queued;
        let (f, p, handle_no) = (job.function, job.priority.index(), job.handle_no);
        let queue = &self.functions[f].queues[p];
        let mut after = queue.back().unwrap_or(JobId::NIL);
        while after != JobId::NIL && self.jobs[after].handle_no > handle_no {
            after = self.jobs[after].prev;
        }
        self.functions[f].queues[p].insert_after(&mut self.jobs, after, job_id);
        self.spill_count(job_id);
        self.refill(f, p, out);
        if self.jobs[job_id].ready() {
            self.wake(f, out);
        }
    }

    pub(super) fn enqueue_back(&mut self, job_id: JobId, out: &mut impl Outbox) {
        let (f, p) = self.append_to_queue(job_id);
        self.refill(f, p, out);
        if self.jobs[job_id].ready() {
            self.wake(f, out);
        }
    }

    /// Put a job at the tail of its queue; returns its function and priority.
    pub(super) fn append_to_queue(&mut self, job_id: JobId) -> (FnId, usize) {
        let job = &mut self.jobs[job_id];
        job.state = JobState::Queued;
        let (f, p) = (job.function, job.priority.index());
        self.functions[f].queues[p].push_back(&mut self.jobs, job_id);
        self.spill_count(job_id)
    }
}
