//! The engine: the one owner of all job state. Functions, queues, jobs, uniques, workers,
//! timers and counters live here, and every decision is made here: which job a GRAB gets, whom
//! a NOOP wakes, when a job is retried, dropped or coalesced, what an admin command answers.
//!
//! It is synchronous and does no I/O: the network layer feeds it packets, admin lines,
//! connects, disconnects and timer ticks with the current time, and the engine answers through
//! an [`Outbox`]. So every rule is unit-tested with a fake clock and no sockets. Nothing here
//! may block, sleep or read a clock; time only arrives as the `now` argument (milliseconds on
//! a Unix-time scale, so epoch jobs compare with it directly).

mod admin;
mod conn;
mod counters;
mod function;
mod job;
#[cfg(test)]
mod tests;
mod timer;

use std::io::Write as _;

use bytes::Bytes;
use gearbox_proto::{AdminCommand, Args, Magic, Packet, PacketType};
use rustc_hash::FxHashMap;
use slab::Slab;
use smallvec::SmallVec;

pub use conn::Peer;
pub use counters::Counters;
pub use job::Priority;

use conn::{Ability, Conn, Waiting};
use function::{Function, Sleeper};
use job::{Job, JobId, JobState, Links};
use timer::{Timer, TimerKind, Timers};

/// Identifies a connection; assigned by the network layer, reused only after
/// [`Engine::disconnect`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnId(pub u32);

/// Index of a function in the engine.
pub type FnId = u32;

/// Longest unique accepted (PROTOCOL.md §3.4).
pub const MAX_UNIQUE: usize = 64;
/// Longest reducer name accepted (gearmand copies it into a 512-byte buffer).
pub const MAX_REDUCER: usize = 511;
/// Longest job handle on the wire.
pub const MAX_HANDLE: usize = 63;
/// SET_CLIENT_ID labels are cut to this length, as gearmand does.
pub const MAX_CLIENT_ID: usize = 127;
/// Smallest CAN_DO_TIMEOUT honoured, in milliseconds (gearmand raises smaller values to it).
pub const MIN_RUN_TIMEOUT_MS: u64 = 1000;
/// Bodies up to this size are copied into a buffer of their own when a job is stored, so a
/// long-queued job never pins a whole network read buffer; larger ones are kept as they came.
const COMPACT_LIMIT: usize = 16 * 1024;

/// Where the engine's answers go. The network layer implements it over connection buffers;
/// tests implement it with a recorder.
pub trait Outbox {
    /// Send a packet to `conn`: `fields` NUL-terminated, then the final field `last`.
    fn packet(&mut self, conn: ConnId, kind: PacketType, fields: &[&[u8]], last: &[u8]);

    /// Send a packet whose final field is a shared buffer, which need not be copied.
    fn packet_shared(&mut self, conn: ConnId, kind: PacketType, fields: &[&[u8]], last: &Bytes) {
        self.packet(conn, kind, fields, last);
    }

    /// Send admin text to `conn`, in one piece.
    fn text(&mut self, conn: ConnId, text: &[u8]);

    /// Close `conn` once what was sent to it is written.
    fn close(&mut self, conn: ConnId);

    /// An administrator asked the server to stop.
    fn shutdown(&mut self, graceful: bool);
}

/// What the engine needs to know from the server's configuration.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// Job handles are `<prefix>:<n>`; gearmand's default prefix is `H:<hostname>`.
    pub handle_prefix: String,
    /// First handle number; seeded from the clock so handles differ across restarts.
    pub first_handle: u64,
    /// Requeues allowed after a worker is lost: -1 unlimited, 0 none, N at most N.
    pub job_retries: i32,
    /// Sleeping workers to wake per job that becomes runnable; 0 wakes all of them.
    pub worker_wakeup: u32,
    /// Treat every connection as having set the `exceptions` option (gearmand `--exceptions`).
    pub exceptions: bool,
    /// Longest function name accepted.
    pub max_function: usize,
    /// Accept the admin `shutdown` from any address, not only loopback.
    pub remote_shutdown: bool,
    /// Level reported by the admin `verbose` command.
    pub verbose: String,
    /// Version reported by the admin `version` command.
    pub version: String,
    /// Process id reported by the admin `getpid` command.
    pub pid: u32,
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            handle_prefix: "H:localhost".to_owned(),
            first_handle: 1,
            job_retries: -1,
            worker_wakeup: 0,
            exceptions: false,
            max_function: 512,
            remote_shutdown: false,
            verbose: "ERROR".to_owned(),
            version: "1.1.20".to_owned(),
            pid: std::process::id(),
        }
    }
}

/// An action that authorization decides on, checked once at dispatch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Action {
    /// The admin `shutdown` command.
    Shutdown,
}

/// The job server's state and rules.
#[derive(Debug)]
pub struct Engine {
    config: EngineConfig,
    /// `<prefix>:`, ready to be followed by the handle number.
    handle_prefix: Vec<u8>,
    jobs: Slab<Job>,
    /// Handle number to job.
    handles: FxHashMap<u64, JobId>,
    /// (function, unique) to job, for uniques other than empty and `-`.
    uniques: FxHashMap<(FnId, Bytes), JobId>,
    /// (function, workload) to job, for the unique `-` (coalesce on identical payload).
    payloads: FxHashMap<(FnId, Bytes), JobId>,
    functions: Slab<Function>,
    function_ids: FxHashMap<Bytes, FnId>,
    /// Indexed by [`ConnId`].
    conns: Vec<Option<Conn>>,
    timers: Timers,
    next_handle: u64,
    next_sleep_serial: u64,
    counters: Counters,
}

/// Strip exactly one trailing NUL from an identifier sent as a final field (PROTOCOL.md §3.2).
fn ident(field: &[u8]) -> &[u8] {
    field.strip_suffix(b"\0").unwrap_or(field)
}

/// C `atoi` into u32, as gearmand reads progress numbers: leading digits, else 0.
fn atoi_u32(text: &[u8]) -> u32 {
    let mut value: u32 = 0;
    for &b in text.iter().take_while(|b| b.is_ascii_digit()) {
        value = value.wrapping_mul(10).wrapping_add(u32::from(b - b'0'));
    }
    value
}

/// A decimal number of at most 20 digits, or `None` when it has more or overflows u64.
/// Text that does not start with a digit reads as 0, as gearmand's `strtoll` does.
fn parse_decimal(text: &[u8]) -> Option<u64> {
    let digits: &[u8] = &text[..text.iter().take_while(|b| b.is_ascii_digit()).count()];
    if digits.len() > 20 {
        return None;
    }
    digits.iter().try_fold(0u64, |acc, &b| {
        acc.checked_mul(10)?.checked_add(u64::from(b - b'0'))
    })
}

/// Offset of `part` within `whole`; `part` must be a sub-slice of it.
fn offset_in(whole: &[u8], part: &[u8]) -> usize {
    part.as_ptr() as usize - whole.as_ptr() as usize
}

fn to_u16(n: usize) -> u16 {
    u16::try_from(n).unwrap_or(u16::MAX)
}

/// Stack buffer holding one job handle.
struct HandleBuf {
    buf: [u8; MAX_HANDLE + 1],
    len: usize,
}

impl HandleBuf {
    fn as_bytes(&self) -> &[u8] {
        &self.buf[..self.len]
    }
}

impl Engine {
    /// A new engine with no functions, jobs or connections.
    pub fn new(config: EngineConfig) -> Engine {
        // Room for ':' and a 20-digit number within the 63-byte handle limit.
        let mut prefix = config.handle_prefix.as_bytes().to_vec();
        prefix.truncate(MAX_HANDLE - 21);
        prefix.push(b':');
        Engine {
            handle_prefix: prefix,
            next_handle: config.first_handle.max(1),
            config,
            jobs: Slab::new(),
            handles: FxHashMap::default(),
            uniques: FxHashMap::default(),
            payloads: FxHashMap::default(),
            functions: Slab::new(),
            function_ids: FxHashMap::default(),
            conns: Vec::new(),
            timers: Timers::default(),
            next_sleep_serial: 1,
            counters: Counters::default(),
        }
    }

    /// The configuration the engine runs with.
    pub fn config(&self) -> &EngineConfig {
        &self.config
    }

    /// Counters since start.
    pub fn counters(&self) -> Counters {
        self.counters
    }

    /// Jobs in memory (queued, pending and running).
    pub fn jobs_in_memory(&self) -> usize {
        self.jobs.len()
    }

    /// Running jobs that some client still waits for: what a graceful stop waits on.
    pub fn running_foreground(&self) -> usize {
        self.jobs
            .iter()
            .filter(|(_, j)| j.state == JobState::Running && !j.listeners.is_empty())
            .count()
    }

    /// Queued (runnable) jobs of a function, all priorities; 0 for an unknown function.
    pub fn queued(&self, function: impl AsRef<[u8]>) -> u32 {
        self.function_ids.get(function.as_ref()).map_or(0, |&f| {
            Priority::ALL
                .iter()
                .map(|&p| self.functions[f as usize].queued(p))
                .sum()
        })
    }

    /// When the engine next needs a [`Engine::tick`], in engine milliseconds.
    pub fn next_deadline(&self) -> Option<u64> {
        self.timers.next_deadline()
    }

    // ----- connections -------------------------------------------------------------------

    /// A connection was accepted under `id`.
    pub fn connect(&mut self, id: ConnId, peer: Peer) {
        let index = id.0 as usize;
        if self.conns.len() <= index {
            self.conns.resize_with(index + 1, || None);
        }
        let mut conn = Conn::new(peer);
        conn.exceptions = self.config.exceptions;
        self.conns[index] = Some(conn);
    }

    /// A connection is gone: its registrations vanish, the jobs it ran go back to their queues,
    /// and foreground jobs nobody waits for any more are dropped (PROTOCOL.md §7.4).
    pub fn disconnect(&mut self, id: ConnId, out: &mut impl Outbox) {
        let Some(conn) = self.conns.get_mut(id.0 as usize).and_then(Option::take) else {
            return;
        };
        for ability in &conn.abilities {
            self.functions[ability.function as usize].workers -= 1;
        }
        for &job in &conn.held {
            self.jobs[job as usize].worker = None;
            self.requeue(job, out);
        }
        for waiting in &conn.waiting {
            let Some(job) = self.jobs.get_mut(waiting.job as usize) else {
                continue;
            };
            if job.handle_no != waiting.handle_no {
                continue;
            }
            job.listeners.retain(|l| *l != id);
            if job.listeners.is_empty() && !job.background && job.state == JobState::Queued {
                self.counters.abandoned += 1;
                self.remove_job(waiting.job);
            }
        }
        // A worker that was woken but never grabbed leaves work nobody else was told about.
        if conn.sleeping && conn.noop_sent {
            for ability in &conn.abilities {
                if self.functions[ability.function as usize].has_runnable() {
                    self.wake(ability.function, out);
                }
            }
        }
    }

    fn conn_mut(&mut self, id: ConnId) -> Option<&mut Conn> {
        self.conns.get_mut(id.0 as usize).and_then(Option::as_mut)
    }

    fn conn(&self, id: ConnId) -> Option<&Conn> {
        self.conns.get(id.0 as usize).and_then(Option::as_ref)
    }

    fn permitted(&self, id: ConnId, action: Action) -> bool {
        let Some(conn) = self.conn(id) else {
            return false;
        };
        match action {
            Action::Shutdown => self.config.remote_shutdown || conn.peer.ip.is_loopback(),
        }
    }

    // ----- binary packets ----------------------------------------------------------------

    /// Handle one binary packet from `id`.
    pub fn packet(&mut self, id: ConnId, packet: &Packet, now: u64, out: &mut impl Outbox) {
        let Some(conn) = self.conn_mut(id) else {
            return;
        };
        let after_exception = conn.after_exception.take();
        if packet.magic != Magic::Req {
            return error(out, id, "INVALID_MAGIC", "Request magic expected");
        }
        use PacketType as T;
        // Reply-only types, the reserved type 5, and the two requests gearmand never
        // implemented (SUBMIT_JOB_SCHED, ALL_YOURS) get gearmand's answer whatever their body.
        if matches!(
            packet.kind,
            T::Unused
                | T::Noop
                | T::JobCreated
                | T::NoJob
                | T::JobAssign
                | T::JobAssignUniq
                | T::JobAssignAll
                | T::EchoRes
                | T::Error
                | T::StatusRes
                | T::StatusResUnique
                | T::OptionRes
                | T::AllYours
                | T::SubmitJobSched
        ) {
            return error(out, id, "INVALID_COMMAND", "Command not expected");
        }
        let args = match packet.args() {
            Ok(args) => args,
            Err(e) => return error(out, id, "INVALID_PACKET", &e.to_string()),
        };
        match packet.kind {
            T::SubmitJob
            | T::SubmitJobBg
            | T::SubmitJobHigh
            | T::SubmitJobHighBg
            | T::SubmitJobLow
            | T::SubmitJobLowBg
            | T::SubmitJobEpoch
            | T::SubmitReduceJob
            | T::SubmitReduceJobBackground => self.submit(id, packet, &args, now, out),
            T::GrabJob | T::GrabJobUniq | T::GrabJobAll => self.grab(id, packet.kind, now, out),
            T::PreSleep => self.pre_sleep(id, out),
            T::WorkData
            | T::WorkWarning
            | T::WorkStatus
            | T::WorkComplete
            | T::WorkFail
            | T::WorkException => self.work(id, packet, &args, after_exception, out),
            T::CanDo => self.can_do(id, ident(args.last()), 0, out),
            T::CanDoTimeout => {
                let timeout = match parse_decimal(args.last()) {
                    Some(0) => 0,
                    Some(ms) => ms.max(MIN_RUN_TIMEOUT_MS),
                    None => return error(out, id, "ARGUMENT_TOO_LARGE", "Timeout too large"),
                };
                self.can_do(id, args.get(0), timeout, out)
            }
            T::CantDo => self.cant_do(id, ident(args.last()), out),
            T::ResetAbilities => self.reset_abilities(id, out),
            T::GetStatus => self.get_status(id, args.last(), out),
            T::GetStatusUnique => self.get_status_unique(id, args.last(), out),
            T::EchoReq => out.packet_shared(id, T::EchoRes, &[], &packet.body),
            T::OptionReq => self.option(id, args.last(), out),
            T::SetClientId => {
                let label = ident(args.last());
                let label = &label[..label.len().min(MAX_CLIENT_ID)];
                let label = packet.share(label);
                if let Some(conn) = self.conn_mut(id) {
                    conn.client_id = if label.is_empty() {
                        Bytes::from_static(b"-")
                    } else {
                        label
                    };
                }
            }
            _ => error(out, id, "INVALID_COMMAND", "Command not expected"),
        }
    }

    fn handle_of(&self, handle_no: u64) -> HandleBuf {
        let mut buf = [0u8; MAX_HANDLE + 1];
        let prefix = self.handle_prefix.len();
        buf[..prefix].copy_from_slice(&self.handle_prefix);
        let mut cursor = std::io::Cursor::new(&mut buf[prefix..]);
        // 20 digits always fit: the prefix was cut to leave room for them.
        let _ = write!(cursor, "{handle_no}");
        let len = prefix + cursor.position() as usize;
        HandleBuf { buf, len }
    }

    /// The job a handle names, if it is one of ours and the job still exists.
    fn lookup(&self, handle: &[u8]) -> Option<JobId> {
        let handle_no = self.handle_no(handle)?;
        self.handles.get(&handle_no).copied()
    }

    fn handle_no(&self, handle: &[u8]) -> Option<u64> {
        let digits = handle.strip_prefix(self.handle_prefix.as_slice())?;
        if digits.is_empty() || digits.len() > 20 || !digits.iter().all(u8::is_ascii_digit) {
            return None;
        }
        parse_decimal(digits)
    }

    fn function_id(&mut self, name: &[u8]) -> FnId {
        if let Some(&id) = self.function_ids.get(name) {
            return id;
        }
        let name = Bytes::copy_from_slice(name);
        let id = self.functions.insert(Function::new(name.clone())) as FnId;
        self.function_ids.insert(name, id);
        id
    }

    // ----- submission --------------------------------------------------------------------

    fn submit(
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

    fn reject(&mut self, id: ConnId, code: &str, text: &str, out: &mut impl Outbox) {
        self.counters.rejected += 1;
        error(out, id, code, text);
    }

    /// Make `id` a listener of `job` (once per foreground submission, as gearmand does: a
    /// connection that submits the same unique twice gets every packet twice, one per task).
    fn attach(&mut self, id: ConnId, job_id: JobId) {
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

    fn enqueue_back(&mut self, job_id: JobId, out: &mut impl Outbox) {
        let job = &mut self.jobs[job_id as usize];
        job.state = JobState::Queued;
        let (f, p) = (job.function, job.priority.index());
        self.functions[f as usize].queues[p].push_back(&mut self.jobs, job_id);
        self.wake(f, out);
    }

    /// Wake sleeping workers of `f`: all of them, or `worker_wakeup` of them, longest asleep
    /// first, each at most once per sleep.
    fn wake(&mut self, f: FnId, out: &mut impl Outbox) {
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
            let Some(conn) = self
                .conns
                .get_mut(sleeper.conn.0 as usize)
                .and_then(Option::as_mut)
            else {
                continue;
            };
            if conn.sleep_serial == sleeper.serial && conn.sleeping && !conn.noop_sent {
                conn.noop_sent = true;
                out.packet(sleeper.conn, PacketType::Noop, &[], &[]);
                woken += 1;
            }
        }
    }

    // ----- workers -----------------------------------------------------------------------

    fn can_do(&mut self, id: ConnId, function: &[u8], timeout_ms: u64, out: &mut impl Outbox) {
        if function.len() > self.config.max_function {
            return error(out, id, "ARGUMENT_TOO_LARGE", "Function name too large");
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

    fn cant_do(&mut self, id: ConnId, function: &[u8], out: &mut impl Outbox) {
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

    fn reset_abilities(&mut self, id: ConnId, out: &mut impl Outbox) {
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

    fn pre_sleep(&mut self, id: ConnId, out: &mut impl Outbox) {
        let serial = self.next_sleep_serial;
        self.next_sleep_serial += 1;
        let Some(conn) = self.conns.get_mut(id.0 as usize).and_then(Option::as_mut) else {
            return;
        };
        conn.sleeping = true;
        conn.noop_sent = false;
        conn.sleep_serial = serial;
        let runnable = conn
            .abilities
            .iter()
            .any(|a| self.functions[a.function as usize].has_runnable());
        if runnable {
            // Work arrived between NO_JOB and PRE_SLEEP: wake the worker at once.
            conn.noop_sent = true;
            return out.packet(id, PacketType::Noop, &[], &[]);
        }
        let conns = &self.conns;
        let alive = |s: &Sleeper| {
            conns
                .get(s.conn.0 as usize)
                .and_then(Option::as_ref)
                .is_some_and(|c| c.sleep_serial == s.serial && c.sleeping && !c.noop_sent)
        };
        let Some(conn) = conns.get(id.0 as usize).and_then(Option::as_ref) else {
            return;
        };
        for ability in &conn.abilities {
            self.functions[ability.function as usize]
                .add_sleeper(Sleeper { conn: id, serial }, alive);
        }
    }

    fn grab(&mut self, id: ConnId, kind: PacketType, now: u64, out: &mut impl Outbox) {
        let serial = self.next_sleep_serial;
        self.next_sleep_serial += 1;
        let Some(conn) = self.conns.get_mut(id.0 as usize).and_then(Option::as_mut) else {
            return;
        };
        conn.sleeping = false;
        conn.noop_sent = false;
        conn.sleep_serial = serial;
        let Some((job_id, timeout_ms)) = select_job(conn, &self.functions) else {
            return out.packet(id, PacketType::NoJob, &[], &[]);
        };
        conn.held.push(job_id);
        let job = &mut self.jobs[job_id as usize];
        let function = &mut self.functions[job.function as usize];
        function.queues[job.priority.index()].remove(&mut self.jobs, job_id);
        function.running += 1;
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
            PacketType::GrabJob => {
                out.packet_shared(id, PacketType::JobAssign, &[handle.as_bytes(), name], &data)
            }
            PacketType::GrabJobAll if job.reducer.1 > 0 => out.packet_shared(
                id,
                PacketType::JobAssignAll,
                &[handle.as_bytes(), name, job.unique(), job.reducer()],
                &data,
            ),
            _ => out.packet_shared(
                id,
                PacketType::JobAssignUniq,
                &[handle.as_bytes(), name, job.unique()],
                &data,
            ),
        }
    }

    /// Detach a running job from the worker holding it.
    fn take_from_worker(&mut self, id: ConnId, job_id: JobId) {
        if let Some(conn) = self.conn_mut(id) {
            if let Some(at) = conn.held.iter().position(|&j| j == job_id) {
                conn.held.swap_remove(at);
            }
        }
        self.jobs[job_id as usize].worker = None;
    }

    /// A running job lost its worker: back to the head of its queue, or dropped with WORK_FAIL
    /// to its clients once `job_retries` is used up (gearmand 2.0 semantics).
    fn requeue(&mut self, job_id: JobId, out: &mut impl Outbox) {
        let job = &self.jobs[job_id as usize];
        let (f, handle_no) = (job.function, job.handle_no);
        let retries = self.config.job_retries;
        if retries >= 0 && i64::from(job.retries) >= i64::from(retries) {
            self.counters.failed += 1;
            let handle = self.handle_of(handle_no);
            for &listener in &self.jobs[job_id as usize].listeners {
                out.packet(listener, PacketType::WorkFail, &[], handle.as_bytes());
            }
            return self.remove_job(job_id);
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

    // ----- results -----------------------------------------------------------------------

    fn work(
        &mut self,
        id: ConnId,
        packet: &Packet,
        args: &Args,
        after_exception: Option<u64>,
        out: &mut impl Outbox,
    ) {
        use PacketType as T;
        let handle = if packet.kind == T::WorkFail {
            ident(args.get(0))
        } else {
            args.get(0)
        };
        let held = self.lookup(handle).filter(|&j| {
            let job = &self.jobs[j as usize];
            job.state == JobState::Running && job.worker == Some(id)
        });
        let Some(job_id) = held else {
            if packet.kind == T::WorkFail
                && after_exception.is_some()
                && after_exception == self.handle_no(handle)
            {
                return;
            }
            let text = match packet.kind {
                T::WorkData | T::WorkWarning => "Job does not exist on server",
                T::WorkException => "An exception was received for a job that does not exist",
                _ => "Job given in work result not found",
            };
            return error(out, id, "JOB_NOT_FOUND", text);
        };
        let job = &mut self.jobs[job_id as usize];
        match packet.kind {
            T::WorkStatus => {
                job.progress = (atoi_u32(args.get(1)), atoi_u32(args.get(2)));
                relay(out, &job.listeners, packet);
            }
            T::WorkData | T::WorkWarning => relay(out, &job.listeners, packet),
            T::WorkComplete => {
                relay(out, &job.listeners, packet);
                self.counters.completed += 1;
                self.take_from_worker(id, job_id);
                self.remove_job(job_id);
            }
            T::WorkFail => {
                for &listener in &job.listeners {
                    out.packet(listener, T::WorkFail, &[], handle);
                }
                self.counters.failed += 1;
                self.take_from_worker(id, job_id);
                self.remove_job(job_id);
            }
            _ => {
                for &listener in &job.listeners {
                    let wants = self.conns[listener.0 as usize]
                        .as_ref()
                        .is_some_and(|c| c.exceptions);
                    if wants {
                        out.packet_shared(listener, T::WorkException, &[], &packet.body);
                    } else {
                        out.packet(listener, T::WorkFail, &[], handle);
                    }
                }
                let handle_no = job.handle_no;
                self.counters.failed += 1;
                self.take_from_worker(id, job_id);
                self.remove_job(job_id);
                if let Some(conn) = self.conn_mut(id) {
                    conn.after_exception = Some(handle_no);
                }
            }
        }
    }

    /// Forget a job: unlink it from its queue and indexes, fix the counters, free it. The
    /// caller has already told its clients whatever they must hear and detached its worker.
    fn remove_job(&mut self, job_id: JobId) {
        let job = &self.jobs[job_id as usize];
        let f = job.function;
        match job.state {
            JobState::Queued => {
                let p = job.priority.index();
                self.functions[f as usize].queues[p].remove(&mut self.jobs, job_id);
            }
            JobState::Running => self.functions[f as usize].running -= 1,
            JobState::Pending => {}
        }
        let job = self.jobs.remove(job_id as usize);
        self.functions[f as usize].total -= 1;
        self.handles.remove(&job.handle_no);
        let unique = job.unique();
        if unique == b"-" {
            let key = (f, job.data());
            if self.payloads.get(&key) == Some(&job_id) {
                self.payloads.remove(&key);
            }
        } else if !unique.is_empty() {
            let key = (f, job.body.slice_ref(unique));
            if self.uniques.get(&key) == Some(&job_id) {
                self.uniques.remove(&key);
            }
        }
        for listener in &job.listeners {
            if let Some(conn) = self
                .conns
                .get_mut(listener.0 as usize)
                .and_then(Option::as_mut)
            {
                conn.waiting_live = conn.waiting_live.saturating_sub(1);
            }
        }
    }

    // ----- queries and options -----------------------------------------------------------

    fn get_status(&mut self, id: ConnId, handle: &[u8], out: &mut impl Outbox) {
        let (known, running, num, den) = match self.lookup(ident(handle)) {
            Some(j) => {
                let job = &self.jobs[j as usize];
                (
                    true,
                    job.state == JobState::Running,
                    job.progress.0,
                    job.progress.1,
                )
            }
            None => (false, false, 0, 0),
        };
        let (num, den) = (num.to_string(), den.to_string());
        out.packet(
            id,
            PacketType::StatusRes,
            &[handle, flag(known), flag(running), num.as_bytes()],
            den.as_bytes(),
        );
    }

    fn get_status_unique(&mut self, id: ConnId, unique: &[u8], out: &mut impl Outbox) {
        let unique = ident(unique);
        // gearmand searches every function and answers with the most recently created match.
        let key_unique = Bytes::copy_from_slice(unique);
        let found = self
            .functions
            .iter()
            .filter_map(|(f, _)| self.uniques.get(&(f as FnId, key_unique.clone())))
            .map(|&j| &self.jobs[j as usize])
            .max_by_key(|j| j.handle_no);
        let (known, running, num, den, waiting) = match found {
            Some(job) => (
                true,
                job.state == JobState::Running,
                job.progress.0,
                job.progress.1,
                job.listeners.len(),
            ),
            None => (false, false, 0, 0, 0),
        };
        let (num, den, waiting) = (num.to_string(), den.to_string(), waiting.to_string());
        out.packet(
            id,
            PacketType::StatusResUnique,
            &[
                unique,
                flag(known),
                flag(running),
                num.as_bytes(),
                den.as_bytes(),
            ],
            waiting.as_bytes(),
        );
    }

    fn option(&mut self, id: ConnId, option: &[u8], out: &mut impl Outbox) {
        if ident(option).eq_ignore_ascii_case(b"exceptions") {
            if let Some(conn) = self.conn_mut(id) {
                conn.exceptions = true;
            }
            out.packet(id, PacketType::OptionRes, &[], option);
        } else {
            error(
                out,
                id,
                "UNKNOWN_OPTION",
                "Server does not recognize given option",
            );
        }
    }

    // ----- timers ------------------------------------------------------------------------

    /// Fire every timer due at `now`: epoch jobs become runnable (waking sleeping workers) and
    /// expired run limits put their jobs back in the queue.
    pub fn tick(&mut self, now: u64, out: &mut impl Outbox) {
        while let Some(timer) = self.timers.pop_due(now) {
            let Some(job) = self.jobs.get(timer.job as usize) else {
                continue;
            };
            if job.handle_no != timer.handle_no {
                continue;
            }
            match timer.kind {
                TimerKind::EpochDue if job.state == JobState::Pending => {
                    self.enqueue_back(timer.job, out);
                }
                TimerKind::RunTimeout { assignment }
                    if job.state == JobState::Running && job.assignment == assignment =>
                {
                    self.counters.timed_out += 1;
                    if let Some(worker) = job.worker {
                        self.take_from_worker(worker, timer.job);
                    }
                    self.requeue(timer.job, out);
                }
                _ => {}
            }
        }
    }

    // ----- admin -------------------------------------------------------------------------

    /// Handle one admin text line from `id`.
    pub fn admin(&mut self, id: ConnId, line: &Bytes, out: &mut impl Outbox) {
        match AdminCommand::parse(line) {
            Ok(command) => self.admin_command(id, command, out),
            Err(e) => out.text(id, &e.reply()),
        }
    }
}

/// The GRAB rule (gearmand 2.0, PROTOCOL.md §8.2): every high job among the worker's functions
/// before any normal one, normal before low; FIFO within a function and priority; between
/// functions of one priority, round-robin from where the worker's previous grab stopped.
fn select_job(conn: &mut Conn, functions: &Slab<Function>) -> Option<(JobId, u64)> {
    let n = conn.abilities.len();
    for priority in Priority::ALL {
        for step in 0..n {
            let at = (conn.next_ability + step) % n;
            let ability = conn.abilities[at];
            let queue = &functions[ability.function as usize].queues[priority.index()];
            if let Some(job) = queue.front() {
                conn.next_ability = (at + 1) % n;
                return Some((job, ability.timeout_ms));
            }
        }
    }
    None
}

fn relay(out: &mut impl Outbox, listeners: &[ConnId], packet: &Packet) {
    for &listener in listeners {
        out.packet_shared(listener, packet.kind, &[], &packet.body);
    }
}

fn flag(value: bool) -> &'static [u8] {
    if value {
        b"1"
    } else {
        b"0"
    }
}

fn error(out: &mut impl Outbox, id: ConnId, code: &str, text: &str) {
    out.packet(id, PacketType::Error, &[code.as_bytes()], text.as_bytes());
}

impl Links for Slab<Job> {
    fn job(&mut self, id: JobId) -> &mut Job {
        &mut self[id as usize]
    }
}
