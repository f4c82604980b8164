//! The worker side: registrations, sleeping and waking, handing out jobs, and taking them
//! back when a worker is lost (PROTOCOL.md §5.4, §5.5, §8.2, §8.3, §8.7).
//!
//! A GRAB serves every high job among the worker's functions before any normal one, FIFO
//! within a function and round-robin between functions. A requeued job goes to the head of its
//! queue. Wake-ups go to the longest-sleeping workers first, at most once per sleep.

use gearbox_proto::PacketType;
use slab::Slab;
use smallvec::SmallVec;

use super::conn::{Ability, Conn};
use super::function::{Function, Sleeper};
use super::job::{Job, JobId, JobState, Priority};
use super::timer::{Timer, TimerKind};
use super::{ConnId, Engine, FnId, Outbox};

impl Engine {
    /// Wake sleeping workers of `f`: all of them, or `worker_wakeup` of them, longest asleep
    /// first, each at most once per sleep.
    pub(super) fn wake(&mut self, f: FnId, out: &mut impl Outbox) {
        let limit = match self.config.worker_wakeup {
            0 => usize::MAX,
            n => n as usize,
        };
        let function = &mut self.functions[f as usize];
        let mut woken = 0;
        while woken < limit {
            let Some(sleeper) = function.sleepers.pop_front() else {
                break;
            };
            let Some(conn) = self.conns.get_mut(sleeper.conn) else {
                continue;
            };
            if conn.sleep_serial == sleeper.serial && conn.sleeping && !conn.noop_sent {
                conn.noop_sent = true;
                self.conns
                    .packet(out, sleeper.conn, PacketType::Noop, &[], &[]);
                woken += 1;
            }
        }
    }

    pub(super) fn can_do(
        &mut self,
        id: ConnId,
        function: &[u8],
        timeout_ms: u64,
        out: &mut impl Outbox,
    ) {
        if function.len() > self.config.max_function {
            return self
                .conns
                .error(out, id, "ARGUMENT_TOO_LARGE", "Function name too large");
        }
        let f = self.function_id(function);
        let Some(conn) = self.conn_mut(id) else {
            return;
        };
        // Registering twice only updates the timeout; gearmand would count it twice.
        if let Some(ability) = conn.abilities.iter_mut().find(|a| a.function == f) {
            ability.timeout_ms = timeout_ms;
            return;
        }
        conn.abilities.push(Ability {
            function: f,
            timeout_ms,
        });
        self.functions[f as usize].workers += 1;
    }

    pub(super) fn cant_do(&mut self, id: ConnId, function: &[u8], out: &mut impl Outbox) {
        let Some(&f) = self.function_ids.get(function) else {
            return;
        };
        let Some(conn) = self.conn_mut(id) else {
            return;
        };
        let before = conn.abilities.len();
        conn.abilities.retain(|a| a.function != f);
        if conn.abilities.len() == before {
            return;
        }
        let held: SmallVec<[JobId; 2]> = conn.held.clone();
        self.functions[f as usize].workers -= 1;
        for job in held {
            if self.jobs[job as usize].function == f {
                self.take_from_worker(id, job);
                self.requeue(job, out);
            }
        }
    }

    pub(super) fn reset_abilities(&mut self, id: ConnId, out: &mut impl Outbox) {
        let Some(conn) = self.conn_mut(id) else {
            return;
        };
        let abilities = std::mem::take(&mut conn.abilities);
        let held = std::mem::take(&mut conn.held);
        for ability in abilities {
            self.functions[ability.function as usize].workers -= 1;
        }
        for job in held {
            self.jobs[job as usize].worker = None;
            self.requeue(job, out);
        }
    }

    pub(super) fn pre_sleep(&mut self, id: ConnId, out: &mut impl Outbox) {
        let serial = self.next_sleep_serial;
        self.next_sleep_serial += 1;
        let Some(conn) = self.conns.get(id) else {
            return;
        };
        let runnable = conn.abilities.iter().any(|a| self.has_ready(a.function));
        let Some(conn) = self.conns.get_mut(id) else {
            return;
        };
        conn.sleeping = true;
        conn.noop_sent = false;
        conn.sleep_serial = serial;
        if runnable {
            // Work arrived between NO_JOB and PRE_SLEEP: wake the worker at once.
            conn.noop_sent = true;
            return self.conns.packet(out, id, PacketType::Noop, &[], &[]);
        }
        let conns = &self.conns;
        let alive = |s: &Sleeper| {
            conns
                .get(s.conn)
                .is_some_and(|c| c.sleep_serial == s.serial && c.sleeping && !c.noop_sent)
        };
        let Some(conn) = conns.get(id) else {
            return;
        };
        for ability in &conn.abilities {
            self.functions[ability.function as usize]
                .add_sleeper(Sleeper { conn: id, serial }, alive);
        }
    }

    pub(super) fn grab(&mut self, id: ConnId, kind: PacketType, now: u64, out: &mut impl Outbox) {
        let serial = self.next_sleep_serial;
        self.next_sleep_serial += 1;
        let Some(conn) = self.conns.get_mut(id) else {
            return;
        };
        conn.sleeping = false;
        conn.noop_sent = false;
        conn.sleep_serial = serial;
        let Some((job_id, timeout_ms)) = select_job(conn, &self.functions, &self.jobs) else {
            return self.conns.packet(out, id, PacketType::NoJob, &[], &[]);
        };
        conn.held.push(job_id);
        let job = &mut self.jobs[job_id as usize];
        let (f, p) = (job.function, job.priority.index());
        let function = &mut self.functions[f as usize];
        function.queues[p].remove(&mut self.jobs, job_id);
        function.running += 1;
        self.refill(f, p, out);
        let job = &mut self.jobs[job_id as usize];
        job.state = JobState::Running;
        job.worker = Some(id);
        job.assignment = job.assignment.wrapping_add(1);
        self.counters.assigned += 1;
        if timeout_ms > 0 {
            self.timers.arm(Timer {
                deadline: now + timeout_ms,
                job: job_id,
                handle_no: job.handle_no,
                kind: TimerKind::RunTimeout {
                    assignment: job.assignment,
                },
            });
        }
        let job = &self.jobs[job_id as usize];
        let handle = self.handle_of(job.handle_no);
        let name = &self.functions[job.function as usize].name;
        let data = job.data();
        // GRAB_JOB_ALL answers JOB_ASSIGN_UNIQ unless the job has a reducer (PROTOCOL.md §5.5).
        match kind {
            PacketType::GrabJob => self.conns.packet_shared(
                out,
                id,
                PacketType::JobAssign,
                &[handle.as_bytes(), name],
                &data,
            ),
            PacketType::GrabJobAll if job.reducer.1 > 0 => self.conns.packet_shared(
                out,
                id,
                PacketType::JobAssignAll,
                &[handle.as_bytes(), name, job.unique(), job.reducer()],
                &data,
            ),
            _ => self.conns.packet_shared(
                out,
                id,
                PacketType::JobAssignUniq,
                &[handle.as_bytes(), name, job.unique()],
                &data,
            ),
        }
    }

    /// Give up on a job that is not running: its clients get WORK_FAIL and it is forgotten.
    pub(super) fn fail_job(&mut self, job_id: JobId, out: &mut impl Outbox) {
        let handle = self.handle_of(self.jobs[job_id as usize].handle_no);
        for &listener in &self.jobs[job_id as usize].listeners {
            self.conns
                .packet(out, listener, PacketType::WorkFail, &[], handle.as_bytes());
        }
        self.remove_job(job_id, out);
    }

    /// Detach a running job from the worker holding it.
    pub(super) fn take_from_worker(&mut self, id: ConnId, job_id: JobId) {
        if let Some(conn) = self.conn_mut(id) {
            if let Some(at) = conn.held.iter().position(|&j| j == job_id) {
                conn.held.swap_remove(at);
            }
        }
        self.jobs[job_id as usize].worker = None;
    }

    /// A running job lost its worker: back to the head of its queue, or dropped with WORK_FAIL
    /// to its clients once `job_retries` is used up (gearmand 2.0 semantics).
    pub(super) fn requeue(&mut self, job_id: JobId, out: &mut impl Outbox) {
        let job = &self.jobs[job_id as usize];
        let f = job.function;
        let retries = self.config.job_retries;
        if retries >= 0 && i64::from(job.retries) >= i64::from(retries) {
            self.counters.failed += 1;
            return self.fail_job(job_id, out);
        }
        self.counters.retried += 1;
        let job = &mut self.jobs[job_id as usize];
        job.state = JobState::Queued;
        job.retries = job.retries.saturating_add(1);
        job.progress = (0, 0);
        let p = job.priority.index();
        self.functions[f as usize].running -= 1;
        self.functions[f as usize].queues[p].push_front(&mut self.jobs, job_id);
        self.wake(f, out);
    }
}

/// The GRAB rule (gearmand 2.0, PROTOCOL.md §8.2): every high job among the worker's functions
/// before any normal one, normal before low; FIFO within a function and priority; between
/// functions of one priority, round-robin from where the worker's previous grab stopped. A
/// queue whose head is not ready (its workload is still in the store, `spill.rs`, or its store
/// write is not committed, `store.rs`) holds back its function's lower priorities until it is.
pub(super) fn select_job(
    conn: &mut Conn,
    functions: &Slab<Function>,
    jobs: &Slab<Job>,
) -> Option<(JobId, u64)> {
    let n = conn.abilities.len();
    let ready = |job: JobId| jobs[job as usize].ready();
    for priority in Priority::ALL {
        for step in 0..n {
            let at = (conn.next_ability + step) % n;
            let ability = conn.abilities[at];
            let queues = &functions[ability.function as usize].queues;
            let Some(job) = queues[priority.index()].front() else {
                continue;
            };
            let held_back = queues[..priority.index()]
                .iter()
                .any(|q| q.front().is_some_and(|head| !ready(head)));
            if ready(job) && !held_back {
                conn.next_ability = (at + 1) % n;
                return Some((job, ability.timeout_ms));
            }
        }
    }
    None
}
