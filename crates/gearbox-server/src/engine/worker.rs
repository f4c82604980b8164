//! The worker side: registrations, sleeping and waking, handing out jobs, and taking them
//! back when a worker is lost (PROTOCOL.md §5.4, §5.5, §8.2, §8.3, §8.7).
//!
//! A GRAB serves every high job among the worker's functions before any normal one, FIFO
//! within a function and round-robin between functions. A requeued job goes to the head of its
//! queue the first time, to the tail after that. Wake-ups go to the longest-sleeping workers first, at most once per sleep.

use bytes::Bytes;
use gearbox_proto::PacketType;
use smallvec::SmallVec;

use super::conn::{Ability, Conn};
use super::function::{Sleeper, IDLE_FUNCTIONS_KEPT};
use super::ids::{Functions, JobId, Jobs};
use super::job::{JobState, Priority};
use super::outcome::End;
use super::retry::Failure;
use super::stats::Event;
use super::timer::{JobRef, Timer, TimerKind};
use super::{ConnId, Engine, FnId, Outbox};

/// How finely wake-up deadlines are checked, in milliseconds.
const WAKE_CHECK_GRAIN_MS: u64 = 50;

/// A worker woken with NOOP, and when it must have grabbed by.
#[derive(Debug)]
pub(super) struct Woken {
    conn: ConnId,
    /// Its sleep serial when woken: a grab or a new sleep changes it.
    serial: u64,
    function: FnId,
    deadline: u64,
}

impl Engine {
    /// Wake sleeping workers of `f`: all of them, or `worker_wakeup` of them, longest asleep
    /// first, each at most once per sleep.
    pub(super) fn wake(&mut self, f: FnId, out: &mut impl Outbox) {
        let limit = match self.config.worker_wakeup {
            0 => usize::MAX,
            n => n as usize,
        };
        let mut woken = 0;
        while woken < limit {
            let Some(sleeper) = self.functions[f].sleepers.pop_front() else {
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
                if limit != usize::MAX {
                    self.await_grab(sleeper.conn, sleeper.serial, f);
                }
            }
        }
    }

    /// A worker was just woken for `f`: unless it grabs within `wakeup_timeout_ms`, the
    /// wake-up passes on to another sleeper, so one stuck worker cannot leave work unserved.
    /// Wake-ups are remembered in order (their deadlines only grow) and checked by one timer
    /// at a time, rounded up to [`WAKE_CHECK_GRAIN_MS`], so that a NOOP costs no heap entry.
    fn await_grab(&mut self, conn: ConnId, serial: u64, f: FnId) {
        if self.config.wakeup_timeout_ms == 0 {
            return;
        }
        let deadline = self.now + self.config.wakeup_timeout_ms;
        self.woken.push_back(Woken {
            conn,
            serial,
            function: f,
            deadline,
        });
        self.arm_wake_check();
    }

    fn arm_wake_check(&mut self) {
        if self.wake_check_armed {
            return;
        }
        if let Some(first) = self.woken.front() {
            self.timers.arm(Timer {
                deadline: first.deadline.div_ceil(WAKE_CHECK_GRAIN_MS) * WAKE_CHECK_GRAIN_MS,
                kind: TimerKind::WakeCheck,
            });
            self.wake_check_armed = true;
        }
    }

    /// The wake-check timer fired: every worker woken before the timeout that still has not
    /// grabbed, while its function still has work ready, passes its wake-up on.
    pub(super) fn check_woken(&mut self, now: u64, out: &mut impl Outbox) {
        self.wake_check_armed = false;
        while self.woken.front().is_some_and(|w| w.deadline <= now) {
            let Some(woken) = self.woken.pop_front() else {
                break;
            };
            let unanswered = self
                .conns
                .get(woken.conn)
                .is_some_and(|c| c.sleep_serial == woken.serial && c.sleeping && c.noop_sent);
            if unanswered
                && self.functions.contains(woken.function)
                && self.has_ready(woken.function)
            {
                tracing::debug!(
                    conn = woken.conn.0,
                    "a woken worker has not grabbed; waking another"
                );
                self.wake(woken.function, out);
            }
        }
        self.arm_wake_check();
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
        let known = self.function_ids.get(function).copied();
        let max = self.config.max_worker_functions as usize;
        let Some(conn) = self.conns.get_mut(id) else {
            return;
        };
        // Registering twice only updates the timeout; gearmand would count it twice.
        if let Some(ability) = conn
            .abilities
            .iter_mut()
            .find(|a| Some(a.function) == known)
        {
            ability.timeout_ms = timeout_ms;
            return;
        }
        if max != 0 && conn.abilities.len() >= max {
            let text = format!("A connection may register at most {max} functions");
            return self.conns.error(out, id, "TOO_MANY_FUNCTIONS", &text);
        }
        let Ok(f) = self.function_id(function) else {
            return self.too_many_functions(id, out);
        };
        let Some(conn) = self.conns.get_mut(id) else {
            return;
        };
        conn.abilities.push(Ability {
            function: f,
            timeout_ms,
        });
        self.functions[f].workers += 1;
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
        self.functions[f].workers -= 1;
        for job in held {
            if self.jobs[job].function == f {
                self.take_from_worker(id, job);
                let worker = self.worker_label(Some(id));
                self.requeue(job, Failure::Lost, &worker, out);
            }
        }
        self.unserved(f, out);
    }

    pub(super) fn reset_abilities(&mut self, id: ConnId, out: &mut impl Outbox) {
        let Some(conn) = self.conn_mut(id) else {
            return;
        };
        let abilities = std::mem::take(&mut conn.abilities);
        let held = std::mem::take(&mut conn.held);
        for ability in &abilities {
            self.functions[ability.function].workers -= 1;
        }
        if abilities.len() > IDLE_FUNCTIONS_KEPT {
            self.forget_idle_functions(IDLE_FUNCTIONS_KEPT);
        }
        let worker = self.worker_label(Some(id));
        for job in held {
            self.jobs[job].worker = None;
            self.requeue(job, Failure::Lost, &worker, out);
        }
        for ability in &abilities {
            self.unserved(ability.function, out);
        }
    }

    pub(super) fn pre_sleep(&mut self, id: ConnId, out: &mut impl Outbox) {
        let serial = self.next_sleep_serial;
        self.next_sleep_serial += 1;
        let Some(conn) = self.conns.get(id) else {
            return;
        };
        let runnable = conn
            .abilities
            .iter()
            .find(|a| self.has_ready(a.function))
            .map(|a| a.function);
        let Some(conn) = self.conns.get_mut(id) else {
            return;
        };
        conn.sleeping = true;
        conn.noop_sent = false;
        conn.sleep_serial = serial;
        if let Some(f) = runnable {
            // Work arrived between NO_JOB and PRE_SLEEP: wake the worker at once.
            conn.noop_sent = true;
            self.conns.packet(out, id, PacketType::Noop, &[], &[]);
            if self.config.worker_wakeup != 0 {
                self.await_grab(id, serial, f);
            }
            return;
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
            self.functions[ability.function].add_sleeper(Sleeper { conn: id, serial }, alive);
        }
        self.want_for(id);
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
            self.want_for(id);
            return self.conns.packet(out, id, PacketType::NoJob, &[], &[]);
        };
        conn.held.push(job_id);
        let job = &mut self.jobs[job_id];
        let (f, p) = (job.function, job.priority.index());
        let function = &mut self.functions[f];
        function.queues[p].remove(&mut self.jobs, job_id);
        function.running += 1;
        self.refill(f, p, out);
        self.taken(f);
        let job = &mut self.jobs[job_id];
        job.state = JobState::Running;
        job.worker = Some(id);
        job.assignment = job.assignment.wrapping_add(1);
        self.counters.assigned += 1;
        let job_ref = JobRef {
            job: job_id,
            handle_no: job.handle_no,
        };
        let assignment = job.assignment;
        self.observe_assigned(job_id);
        if timeout_ms > 0 {
            self.timers.arm(Timer {
                deadline: now + timeout_ms,
                kind: TimerKind::RunTimeout {
                    job: job_ref,
                    assignment,
                },
            });
        }
        let job = &self.jobs[job_id];
        let handle = self.handle_of(job.handle_no);
        let name = &self.functions[job.function].name;
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
        self.relay_end(job_id, out);
        let handle = self.handle_of(self.jobs[job_id].handle_no);
        for &listener in &self.jobs[job_id].listeners {
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
        self.jobs[job_id].worker = None;
    }

    /// A running job lost its worker: back to its queue, or dropped with WORK_FAIL to its
    /// clients once `job_retries` is used up (gearmand 2.0 semantics). The first time it goes
    /// to the head, since it was first in line and was most likely cut off by chance (a worker
    /// restarting); after that to the tail, so that a job that kills every worker taking it
    /// cannot keep overtaking the jobs behind it (gearmand always requeues at the tail).
    ///
    /// With a retry policy for the job's function that covers `failure` (`retry.rs`), the
    /// job instead waits its backoff outside its queue, or fails once its retries are used up.
    ///
    /// `worker` is the client id of the worker that had it, for a dead letter.
    pub(super) fn requeue(
        &mut self,
        job_id: JobId,
        failure: Failure,
        worker: &Bytes,
        out: &mut impl Outbox,
    ) {
        let job = &self.jobs[job_id];
        let f = job.function;
        let retries = self.config.job_retries;
        let retried = match self.policy_for(f, failure) {
            Some(policy) => self.retry_later(job_id, policy, out),
            None if retries >= 0 && i64::from(job.retries) >= i64::from(retries) => false,
            None => {
                self.requeue_at_once(job_id, out);
                true
            }
        };
        if !retried {
            self.count(job_id, Event::Failed);
            self.job_over(job_id, End::Failed(failure, b""), worker, out);
            self.fail_job(job_id, out);
        }
    }

    /// gearmand's requeue: back in the queue at once (see [`Engine::requeue`]).
    fn requeue_at_once(&mut self, job_id: JobId, out: &mut impl Outbox) {
        let f = self.jobs[job_id].function;
        self.count(job_id, Event::Retried);
        self.restamp(job_id);
        let job = &mut self.jobs[job_id];
        job.state = JobState::Queued;
        let first_loss = job.retries == 0;
        job.retries = job.retries.saturating_add(1);
        job.progress = (0, 0);
        let p = job.priority.index();
        self.functions[f].running -= 1;
        let queue = &mut self.functions[f].queues[p];
        if first_loss {
            queue.push_front(&mut self.jobs, job_id);
        } else {
            queue.push_back(&mut self.jobs, job_id);
        }
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
    functions: &Functions,
    jobs: &Jobs,
) -> Option<(JobId, u64)> {
    let n = conn.abilities.len();
    let ready = |job: JobId| jobs[job].ready();
    for priority in Priority::ALL {
        for step in 0..n {
            let at = (conn.next_ability + step) % n;
            let ability = conn.abilities[at];
            let queues = &functions[ability.function].queues;
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
