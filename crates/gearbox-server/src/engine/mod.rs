//! The engine: the one owner of all job state. Functions, queues, jobs, uniques, workers,
//! timers and counters live here, and every decision is made here: which job a GRAB gets, whom
//! a NOOP wakes, when a job is retried, dropped or coalesced, what an admin command answers.
//!
//! It is synchronous and does no I/O: the network layer feeds it packets, admin lines,
//! connects, disconnects and timer ticks with the current time, and the engine answers through
//! an [`Outbox`]. So every rule is unit-tested with a fake clock and no sockets. Nothing here
//! may block, sleep or read a clock; time only arrives as the `now` argument (milliseconds on
//! a Unix-time scale, so epoch jobs compare with it directly).
//!
//! This file holds the [`Engine`] and the dispatch of what arrives; the rules live in the
//! modules named after what they own: `submit` (submissions, coalescing), `worker` (grabs,
//! sleeping and waking, requeues), `result` (WORK_*), `status`, `admin`, `store` (the durable
//! path), `spill` (`--resident-jobs`), `lifecycle` (creating and forgetting jobs), `function`
//! and `job` (the per-function and per-job state), `conns` (the one path to a connection),
//! `ids` (identifiers and typed tables), `index`, `timer`, `handle`, `parse` and `outbox`.

mod access;
mod admin;
mod audit;
mod cluster;
mod conn;
mod conns;
mod counters;
mod dead;
mod function;
mod handle;
mod ids;
mod index;
mod job;
mod kept;
mod lifecycle;
mod outbox;
mod outcome;
mod parse;
mod policy;
mod records;
mod relay;
mod result;
mod retry;
mod schedule;
mod spill;
mod stats;
mod status;
mod store;
mod submit;
#[cfg(test)]
mod tests;
mod timer;
mod views;
mod worker;

use bytes::Bytes;
use gearbox_proto::{AdminCommand, Magic, Packet, PacketType};
use rustc_hash::FxHashMap;

pub use admin::Answer;
pub use cluster::{ClusterView, NodeView};

/// The kinds of records the nodes of a cluster share while they run (read again at each
/// heartbeat, `Engine::sync_schedules`): the schedules and their last firings.
pub const SHARED_RECORD_KINDS: [u8; 2] = [records::SCHEDULE, records::FIRED];

/// The kinds of records the nodes of a cluster follow by key while they run (bodies read for
/// new keys only, `Engine::sync_dead_letters`): the dead letters.
pub const SYNCED_RECORD_KINDS: [u8; 1] = [records::DEAD_LETTER];
pub use conn::Peer;
pub use counters::Counters;
pub use gearbox_store::{StoreOp, StoredJob};
pub use ids::ConnId;
pub use job::Priority;
pub use outbox::Outbox;
pub use policy::{KeepPolicy, PerFunction};
pub use retry::{Failure, RetryOn, RetryPolicies, RetryPolicy};
pub use schedule::{Missed, ScheduleKey, ScheduleSpec, MAX_SCHEDULE_UNIQUE};
/// The access log of admin commands (target `gearboxd::access`; the connection's span names
/// the peer): commands that change something at INFO, the others, which monitoring sends
/// all day, at DEBUG.
fn access_log(command: &AdminCommand, line: &[u8]) {
    let line = String::from_utf8_lossy(line);
    if command.changes_state() {
        tracing::info!(target: "gearboxd::access", command = %line, "admin");
    } else {
        tracing::debug!(target: "gearboxd::access", command = %line, "admin");
    }
}

/// A Unix time as `2026-12-04T19:50:00Z`.
pub fn utc_text(secs: i64) -> String {
    admin::utc(secs)
}

pub use stats::{
    ClusterSnapshot, FunctionSnapshot, FunctionStats, Histogram, Snapshot, TimeHistogram,
    BUCKETS_MS,
};
pub use views::{ConnectionView, DeadView, JobPage, JobView, ScheduledView};

use access::Asked;
use conn::Conn;
use conns::{Conns, Held};
use function::IDLE_FUNCTIONS_KEPT;
use handle::{format_handle, parse_handle, HandleBuf};
use ids::{FnId, Functions, JobId, Jobs};
use index::{CoalesceIndex, HandleIndex, KeyKind};
use job::JobState;
use parse::{ident, parse_decimal};
use timer::{JobRef, TimerKind, Timers};

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

/// What the engine needs to know from the server's configuration.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// Job handles are `<prefix>:<n>`; gearmand's default prefix is `H:<hostname>`.
    pub handle_prefix: String,
    /// First handle number; seeded from the clock so handles differ across restarts.
    pub first_handle: u64,
    /// Requeues allowed after a worker is lost: -1 unlimited, 0 none, N at most N.
    pub job_retries: i32,
    /// Sleeping workers to wake per job that becomes runnable; 0 wakes all of them
    /// (gearmand's default); 1, our default, wakes one per job.
    pub worker_wakeup: u32,
    /// With `worker_wakeup` above 0: a woken worker that has not grabbed within this many
    /// milliseconds passes its wake-up on to another sleeper; 0 never.
    pub wakeup_timeout_ms: u64,
    /// Treat every connection as having set the `exceptions` option (gearmand `--exceptions`).
    pub exceptions: bool,
    /// Longest function name accepted.
    pub max_function: usize,
    /// Distinct functions the server keeps at most; 0 for no limit.
    pub max_functions: u32,
    /// Functions one connection may register at most; 0 for no limit.
    pub max_worker_functions: u32,
    /// Accept the admin `shutdown` from any address, not only loopback.
    pub remote_shutdown: bool,
    /// Level reported by the admin `verbose` command.
    pub verbose: String,
    /// Version reported by the admin `version` command.
    pub version: String,
    /// Process id reported by the admin `getpid` command.
    pub pid: u32,
    /// Background jobs are written to a durable store; JOB_CREATED waits for the commit.
    pub durable: bool,
    /// With `durable`: answer JOB_CREATED before the commit (faster; a crash can lose jobs
    /// whose JOB_CREATED was already sent).
    pub ack_before_commit: bool,
    /// With `durable`: keep the workloads of at most this many jobs in memory and leave the
    /// rest of the queued background jobs' workloads in the store until their turn nears
    /// (see `spill.rs`); 0 keeps every workload in memory.
    pub resident_jobs: u32,
    /// Queue limits (high, normal, low) every new function starts with, as if set by the
    /// admin `maxqueue`; 0 is unlimited.
    pub default_queue_limits: [u32; 3],
    /// Bytes of submissions (workloads with their unique ids) the jobs in memory may hold
    /// together; a submission beyond it gets ERROR QUEUE_ERROR. 0 is unlimited.
    pub max_queued_bytes: u64,
    /// Retry policies by function (`retry.rs`); without one, gearmand's rules.
    pub retry_policies: RetryPolicies,
    /// Recurring jobs (`schedule.rs`), armed by [`Engine::start_schedules`].
    pub schedules: Vec<ScheduleSpec>,
    /// Dead letters and kept results by function (`dead.rs`, `kept.rs`).
    pub keep_policies: PerFunction<KeepPolicy>,
    /// What schedules created with SUBMIT_JOB_SCHED do with firings missed while the server
    /// was down.
    pub schedule_missed: Missed,
    /// A SET_CLIENT_ID of exactly these bytes from a loopback peer marks the connection as
    /// the server's own HTTP front-end (`http/submit.rs`): the access list does not apply to
    /// it, because the HTTP side has already checked its caller's rights, and it shows as
    /// [`INTERNAL_CLIENT_ID`]. A random secret made at start; `None`: no such connection.
    pub internal_client_id: Option<Bytes>,
    /// A node of a cluster (`cluster.rs`): background jobs no worker here waits for are
    /// offered to every node rather than queued here. Needs `durable`.
    pub cluster: bool,
}

/// The client id the HTTP front-end's connection shows.
pub const INTERNAL_CLIENT_ID: &str = "gearboxd-http";

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            handle_prefix: "H:localhost".to_owned(),
            first_handle: 1,
            job_retries: -1,
            worker_wakeup: 1,
            wakeup_timeout_ms: 500,
            exceptions: false,
            max_function: 512,
            max_functions: 100_000,
            max_worker_functions: 10_000,
            remote_shutdown: false,
            verbose: "ERROR".to_owned(),
            version: "1.1.20".to_owned(),
            pid: std::process::id(),
            durable: false,
            ack_before_commit: false,
            resident_jobs: 0,
            default_queue_limits: [0; 3],
            max_queued_bytes: 0,
            retry_policies: RetryPolicies::default(),
            schedules: Vec::new(),
            keep_policies: PerFunction::default(),
            schedule_missed: Missed::Skip,
            internal_client_id: None,
            cluster: false,
        }
    }
}

/// A nonzero seed for the retry jitter, from the configuration (the first handle number is
/// seeded from the clock), so that tests with a fixed one repeat exactly.
fn config_seed(first_handle: u64) -> u64 {
    (first_handle ^ 0x9e37_79b9_7f4a_7c15) | 1
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
    jobs: Jobs,
    /// Handle number to job.
    handles: HandleIndex,
    /// (function, unique) to job, for uniques other than empty and `-`.
    uniques: CoalesceIndex,
    /// (function, workload) to job, for the unique `-` (coalesce on identical payload).
    payloads: CoalesceIndex,
    functions: Functions,
    function_ids: FxHashMap<Bytes, FnId>,
    conns: Conns,
    timers: Timers,
    next_handle: u64,
    next_sleep_serial: u64,
    /// The latest time an entry point was called with, for timers armed deep inside.
    now: u64,
    /// Workers woken with NOOP, oldest first, to check that they grabbed (`worker.rs`).
    woken: std::collections::VecDeque<worker::Woken>,
    /// A [`TimerKind::WakeCheck`] is armed.
    wake_check_armed: bool,
    counters: Counters,
    /// Sequence number of the next store write.
    next_seq: u64,
    /// Durable jobs whose store write is not yet committed, in sequence order.
    storing: std::collections::VecDeque<store::Storing>,
    /// Jobs whose workload is only in the store (spilled or being read back).
    spilled: u32,
    /// Jobs created by a background submission that wait outside their queue for their store
    /// commit (`store.rs`).
    held: u32,
    /// Read-backs in flight, by token.
    loads: FxHashMap<u64, spill::Load>,
    /// Token of the next read-back.
    next_load: u64,
    /// No read-back is asked for while the store is being replayed.
    loads_paused: bool,
    /// The server is stopping gracefully: no new submissions.
    draining: bool,
    /// The access list in force, if any.
    acl: Option<std::sync::Arc<crate::acl::Acl>>,
    /// Bytes of the bodies of the jobs in memory, for `max_queued_bytes`.
    held_bytes: u64,
    /// State of the generator of retry jitter.
    random: u64,
    /// Recurring jobs, configured and submitted (`schedule.rs`).
    schedules: schedule::Schedules,
    /// Background jobs that failed for good (`dead.rs`).
    dead: dead::DeadLetters,
    /// Outcomes of finished background jobs (`kept.rs`).
    kept: kept::KeptResults,
    /// Attempts used by stored jobs, read from the store at start until their jobs are
    /// restored (`retry.rs`).
    restored_attempts: FxHashMap<u64, u16>,
    /// In a cluster: wanted functions and the nodes (`cluster.rs`).
    cluster: cluster::ClusterState,
    /// In a cluster: foreground jobs watched here and relayed from here (`relay.rs`).
    relay: relay::RelayState,
}

impl Engine {
    /// A new engine with no functions, jobs or connections.
    pub fn new(config: EngineConfig) -> Engine {
        // Room for ':' and a 20-digit number within the 63-byte handle limit.
        let config_first_handle = config.first_handle;
        let cluster = config.cluster;
        let schedules = schedule::configured(&config.schedules);
        let mut prefix = config.handle_prefix.as_bytes().to_vec();
        prefix.truncate(MAX_HANDLE - 21);
        prefix.push(b':');
        Engine {
            handle_prefix: prefix,
            next_handle: config.first_handle.max(1),
            config,
            jobs: Jobs::default(),
            handles: HandleIndex::default(),
            uniques: CoalesceIndex::new(KeyKind::Unique),
            payloads: CoalesceIndex::new(KeyKind::Payload),
            functions: Functions::default(),
            function_ids: FxHashMap::default(),
            conns: Conns::default(),
            timers: Timers::default(),
            next_sleep_serial: 1,
            now: 0,
            woken: std::collections::VecDeque::new(),
            wake_check_armed: false,
            counters: Counters::default(),
            next_seq: 1,
            storing: std::collections::VecDeque::new(),
            spilled: 0,
            held: 0,
            loads: FxHashMap::default(),
            next_load: 1,
            loads_paused: false,
            draining: false,
            acl: None,
            held_bytes: 0,
            random: config_seed(config_first_handle),
            schedules,
            dead: dead::DeadLetters::default(),
            kept: kept::KeptResults::default(),
            restored_attempts: FxHashMap::default(),
            cluster: cluster::ClusterState::new(cluster),
            relay: relay::RelayState::default(),
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

    /// Bytes of submissions the jobs in memory hold (what `max_queued_bytes` limits).
    pub fn held_bytes(&self) -> u64 {
        self.held_bytes
    }

    /// A graceful stop began: submissions are refused from now on (ERROR SHUTTING_DOWN), so
    /// that no client is left with a job the server will not run; work already accepted goes
    /// on.
    pub fn begin_drain(&mut self) {
        self.draining = true;
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
                .map(|&p| self.functions[f].queued(p))
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
        let mut conn = Conn::new(peer);
        conn.exceptions = self.config.exceptions;
        self.access_for(&mut conn);
        self.conns.insert(id, conn);
    }

    /// The connection registers no function, runs no job, waits for none and has no output
    /// held back: closing it loses nothing (what the idle timeout may close).
    pub fn holds_nothing(&self, id: ConnId) -> bool {
        self.conn(id).is_none_or(|c| {
            c.abilities.is_empty()
                && c.held.is_empty()
                && c.waiting_live == 0
                && c.deferred.is_empty()
        })
    }

    /// A connection is gone: its registrations vanish, the jobs it ran go back to their queues,
    /// and foreground jobs nobody waits for any more are dropped (PROTOCOL.md §7.4).
    pub fn disconnect(&mut self, id: ConnId, now: u64, out: &mut impl Outbox) {
        self.now = now;
        let Some(conn) = self.conns.remove(id) else {
            return;
        };
        for ability in &conn.abilities {
            self.functions[ability.function].workers -= 1;
        }
        for &job in &conn.held {
            self.jobs[job].worker = None;
            self.requeue(job, Failure::Lost, &conn.client_id, out);
        }
        for ability in &conn.abilities {
            self.unserved(ability.function, out);
        }
        if !self.cluster.failed_on_commit.is_empty() {
            for listeners in self.cluster.failed_on_commit.values_mut() {
                listeners.retain(|l| *l != id);
            }
        }
        for waiting in &conn.waiting {
            let Some(job) = self.jobs.get_mut(waiting.job) else {
                continue;
            };
            if job.handle_no != waiting.handle_no {
                continue;
            }
            job.listeners.retain(|l| *l != id);
            let waits = matches!(job.state, JobState::Queued | JobState::Elsewhere);
            if job.listeners.is_empty()
                && !job.background
                && waits
                && self.give_back(waiting.job, out)
            {
                self.counters.abandoned += 1;
                self.remove_job(waiting.job, out);
            }
        }
        // A worker that was woken but never grabbed leaves work nobody else was told about.
        if conn.sleeping && conn.noop_sent {
            for ability in &conn.abilities {
                if self.has_ready(ability.function) {
                    self.wake(ability.function, out);
                }
            }
        }
        if conn.abilities.len() > IDLE_FUNCTIONS_KEPT {
            self.forget_idle_functions(IDLE_FUNCTIONS_KEPT);
        }
    }

    fn conn_mut(&mut self, id: ConnId) -> Option<&mut Conn> {
        self.conns.get_mut(id)
    }

    fn conn(&self, id: ConnId) -> Option<&Conn> {
        self.conns.get(id)
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
        self.now = now;
        let worker = matches!(
            packet.kind,
            PacketType::GrabJob
                | PacketType::GrabJobUniq
                | PacketType::GrabJobAll
                | PacketType::PreSleep
        );
        if self
            .conns
            .hold_input(id, worker, || Held::Packet(packet.clone()))
        {
            return;
        }
        let Some(conn) = self.conn_mut(id) else {
            return;
        };
        let after_exception = conn.after_exception.take();
        if packet.magic != Magic::Req {
            return self
                .conns
                .error(out, id, "INVALID_MAGIC", "Request magic expected");
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
        ) {
            return self
                .conns
                .error(out, id, "INVALID_COMMAND", "Command not expected");
        }
        let args = match packet.args() {
            Ok(args) => args,
            Err(e) => return self.conns.error(out, id, "INVALID_PACKET", &e.to_string()),
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
            | T::SubmitReduceJobBackground => {
                if !self.refused(id, Asked::Submit(ident(args.get(0))), out) {
                    self.submit(id, packet, &args, now, out);
                }
            }
            T::SubmitJobSched => self.submit_schedule(id, &args, out),
            T::GrabJob | T::GrabJobUniq | T::GrabJobAll => self.grab(id, packet.kind, now, out),
            T::PreSleep => self.pre_sleep(id, out),
            T::WorkData
            | T::WorkWarning
            | T::WorkStatus
            | T::WorkComplete
            | T::WorkFail
            | T::WorkException => self.work(id, packet, &args, after_exception, out),
            T::CanDo => {
                let function = ident(args.last());
                if !self.refused(id, Asked::Work(function), out) {
                    self.can_do(id, function, 0, out);
                }
            }
            T::CanDoTimeout => {
                let timeout = match parse_decimal(args.last()) {
                    Some(0) => 0,
                    Some(ms) => ms.max(MIN_RUN_TIMEOUT_MS),
                    None => {
                        return self
                            .conns
                            .error(out, id, "ARGUMENT_TOO_LARGE", "Timeout too large")
                    }
                };
                if !self.refused(id, Asked::Work(args.get(0)), out) {
                    self.can_do(id, args.get(0), timeout, out);
                }
            }
            T::CantDo => self.cant_do(id, ident(args.last()), out),
            T::ResetAbilities => self.reset_abilities(id, out),
            T::GetStatus => self.get_status(id, args.last(), out),
            T::GetStatusUnique => self.get_status_unique(id, args.last(), out),
            T::EchoReq => self
                .conns
                .packet_shared(out, id, T::EchoRes, &[], &packet.body),
            T::OptionReq => self.option(id, args.last(), out),
            T::SetClientId => {
                let label = ident(args.last());
                if self.is_internal(id, label) {
                    return;
                }
                // Copied, so that a huge label does not keep its whole packet alive.
                let label = Bytes::copy_from_slice(&label[..label.len().min(MAX_CLIENT_ID)]);
                // The network layer runs each connection in a span of its own: from now on
                // its log lines carry the client id too.
                tracing::Span::current().record("client_id", &*String::from_utf8_lossy(&label));
                if let Some(conn) = self.conn_mut(id) {
                    conn.client_id = if label.is_empty() {
                        Bytes::from_static(b"-")
                    } else {
                        label
                    };
                }
            }
            _ => self
                .conns
                .error(out, id, "INVALID_COMMAND", "Command not expected"),
        }
    }

    /// A handle number read back from the store at start: new handles stay above it. In a
    /// cluster, this start's range of ids (`EngineConfig::first_handle`) is above every
    /// earlier start's already, and a higher number belongs to a node started since, whose
    /// range this node must not enter.
    pub(super) fn handle_seen(&mut self, handle_no: u64) {
        if !self.config.cluster {
            self.next_handle = self.next_handle.max(handle_no.saturating_add(1));
        }
    }

    fn handle_of(&self, handle_no: u64) -> HandleBuf {
        format_handle(&self.handle_prefix, handle_no)
    }

    /// The job a handle names, if it is one of ours and the job still exists.
    fn lookup(&self, handle: &[u8]) -> Option<JobId> {
        let handle_no = self.handle_no(handle)?;
        self.handles.get(&self.jobs, handle_no)
    }

    fn handle_no(&self, handle: &[u8]) -> Option<u64> {
        parse_handle(&self.handle_prefix, handle)
    }

    // ----- timers ------------------------------------------------------------------------

    /// Fire every timer due at `now`: epoch jobs become runnable (waking sleeping workers) and
    /// expired run limits put their jobs back in the queue.
    pub fn tick(&mut self, now: u64, out: &mut impl Outbox) {
        self.now = now;
        while let Some(timer) = self.timers.pop_due(now) {
            let live = |job: JobRef| {
                self.jobs
                    .get(job.job)
                    .filter(|j| j.handle_no == job.handle_no)
                    .map(|j| (job.job, j))
            };
            match timer.kind {
                TimerKind::EpochDue(job) => {
                    if let Some((id, job)) = live(job).filter(|(_, j)| j.state == JobState::Pending)
                    {
                        self.functions[job.function].pending[job.priority.index()] -= 1;
                        self.restamp(id);
                        self.enqueue_back(id, out);
                    }
                }
                TimerKind::RunTimeout { job, assignment } => {
                    let running = live(job).filter(|(_, j)| {
                        j.state == JobState::Running && j.assignment == assignment
                    });
                    if let Some((id, job)) = running {
                        let worker = job.worker;
                        self.count(id, stats::Event::TimedOut);
                        let label = self.worker_label(worker);
                        if let Some(worker) = worker {
                            self.take_from_worker(worker, id);
                        }
                        self.requeue(id, Failure::Timeout, &label, out);
                    }
                }
                TimerKind::Reload(job) => {
                    if let Some((id, _)) = live(job) {
                        self.reload(id, out);
                    }
                }
                TimerKind::ScheduleDue(key) => {
                    self.fire_schedule(key, timer.deadline, now, out);
                }
                TimerKind::WakeCheck => self.check_woken(now, out),
                TimerKind::ResultExpires(handle_no) => self.expire_result(handle_no, now, out),
            }
        }
    }

    // ----- admin -------------------------------------------------------------------------

    /// Handle one admin text line from `id`.
    pub fn admin(&mut self, id: ConnId, line: &Bytes, out: &mut impl Outbox) {
        if self
            .conns
            .hold_input(id, false, || Held::Admin(line.clone()))
        {
            return;
        }
        match AdminCommand::parse(line) {
            Ok(command) => {
                access_log(&command, line);
                self.admin_command(id, command, out)
            }
            Err(e) => self.conns.text(out, id, &e.reply()),
        }
    }
}
