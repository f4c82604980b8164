//! Job submission: validation, unique-id coalescing, queue limits, job creation and the
//! JOB_CREATED answer (PROTOCOL.md §5.2, §8.4, §8.8).
//!
//! A new job is stored with a compact copy of its submission body, so it never pins a network
//! read buffer. Nothing here picks a worker: a runnable job is queued and sleepers are woken.

use bytes::Bytes;
use gearbox_proto::{Args, Packet, PacketType};
use smallvec::SmallVec;

use super::conn::Waiting;
use super::job::{self, Job, JobId, JobState, Priority};
use super::timer::{Timer, TimerKind};
use super::{
    error, offset_in, parse_decimal, to_u16, ConnId, Engine, Outbox, COMPACT_LIMIT, MAX_REDUCER,
    MAX_UNIQUE,
};

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
        let fn_id = self.function_id(function);

        // Coalescing (PROTOCOL.md §8.4): the empty unique never matches; `-` matches on payload.
        let by_payload = unique == b"-";
        let coalesce = !(unique.is_empty() || by_payload && data.is_empty());
        if coalesce {
            let key = (fn_id, packet.share(if by_payload { data } else { unique }));
            let map = if by_payload {
                &self.payloads
            } else {
                &self.uniques
            };
            if let Some(&existing) = map.get(&key) {
                self.counters.coalesced += 1;
                let job = &mut self.jobs[existing as usize];
                job.background |= background;
                let handle_no = job.handle_no;
                if !background {
                    self.attach(id, existing);
                }
                let handle = self.handle_of(handle_no);
                return out.packet(id, T::JobCreated, &[], handle.as_bytes());
            }
        }
        if self.functions[fn_id as usize].is_full(priority) {
            return self.reject(id, "QUEUE_ERROR", "Job queue is full", out);
        }

        let body = if packet.body.len() <= COMPACT_LIMIT {
            Bytes::copy_from_slice(&packet.body)
        } else {
            packet.body.clone()
        };
        let handle_no = self.next_handle;
        self.next_handle += 1;
        let unique_at = offset_in(&packet.body, unique);
        let reducer_at = if reducer.is_empty() {
            0
        } else {
            offset_in(&packet.body, reducer)
        };
        let data_at = offset_in(&packet.body, data);
        let pending = when.saturating_mul(1000) > now;
        let job_id = self.jobs.insert(Job {
            handle_no,
            function: fn_id,
            unique: (to_u16(unique_at), to_u16(unique.len())),
            reducer: (to_u16(reducer_at), to_u16(reducer.len())),
            data_start: u32::try_from(data_at).unwrap_or(u32::MAX),
            body,
            priority,
            background,
            state: if pending {
                JobState::Pending
            } else {
                JobState::Queued
            },
            retries: 0,
            progress: (0, 0),
            listeners: SmallVec::new(),
            worker: None,
            assignment: 0,
            prev: job::NIL,
            next: job::NIL,
        }) as JobId;
        self.handles.insert(handle_no, job_id);
        if coalesce {
            let job = &self.jobs[job_id as usize];
            let key = if by_payload {
                job.data()
            } else {
                job.body.slice_ref(job.unique())
            };
            let map = if by_payload {
                &mut self.payloads
            } else {
                &mut self.uniques
            };
            map.insert((fn_id, key), job_id);
        }
        self.functions[fn_id as usize].total += 1;
        self.counters.submitted += 1;
        if !background {
            self.attach(id, job_id);
        }
        let handle = self.handle_of(handle_no);
        out.packet(id, T::JobCreated, &[], handle.as_bytes());
        if pending {
            self.timers.arm(Timer {
                deadline: when * 1000,
                job: job_id,
                handle_no,
                kind: TimerKind::EpochDue,
            });
        } else {
            self.enqueue_back(job_id, out);
        }
    }

    pub(super) fn reject(&mut self, id: ConnId, code: &str, text: &str, out: &mut impl Outbox) {
        self.counters.rejected += 1;
        error(out, id, code, text);
    }

    /// Make `id` a listener of `job` (once per foreground submission, as gearmand does: a
    /// connection that submits the same unique twice gets every packet twice, one per task).
    pub(super) fn attach(&mut self, id: ConnId, job_id: JobId) {
        let job = &mut self.jobs[job_id as usize];
        job.listeners.push(id);
        let waiting = Waiting {
            job: job_id,
            handle_no: job.handle_no,
        };
        let jobs = &self.jobs;
        if let Some(conn) = self.conns.get_mut(id.0 as usize).and_then(Option::as_mut) {
            conn.attach(waiting, |w| {
                jobs.get(w.job as usize)
                    .is_some_and(|j| j.handle_no == w.handle_no && j.listeners.contains(&id))
            });
        }
    }

    pub(super) fn enqueue_back(&mut self, job_id: JobId, out: &mut impl Outbox) {
        let job = &mut self.jobs[job_id as usize];
        job.state = JobState::Queued;
        let (f, p) = (job.function, job.priority.index());
        self.functions[f as usize].queues[p].push_back(&mut self.jobs, job_id);
        self.wake(f, out);
    }
}
