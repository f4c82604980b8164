//! Read-only views of the engine's state, as rows: the connections, a page of the jobs in
//! memory, what is scheduled, the dead letters. The admin text protocol and the HTTP API both
//! format these rows, so both list the same things in the same order.
//!
//! Building a view copies what it shows; nothing here changes state or answers a connection.
//! A job page walks the job table from its start, so its cost grows with the offset.

use std::net::IpAddr;

use bytes::Bytes;

use super::dead::DeadLetter;
use super::job::{JobState, Priority};
use super::schedule::ScheduleKey;
use super::timer::TimerKind;
use super::{ConnId, Engine};

/// One connection.
#[derive(Debug, Clone)]
pub struct ConnectionView {
    /// The number `workers` shows first.
    pub label: u32,
    /// The peer's address.
    pub ip: IpAddr,
    /// Its SET_CLIENT_ID (`-` if none).
    pub client_id: Bytes,
    /// The functions it registered, most recent first (as `workers` lists them).
    pub functions: Vec<Bytes>,
    /// Its verified certificate's name, if any.
    pub identity: Option<String>,
    /// Jobs it waits for.
    pub waiting: usize,
    /// Jobs it runs.
    pub running: usize,
}

/// One job in memory.
#[derive(Debug, Clone)]
pub struct JobView {
    /// Its handle.
    pub handle: String,
    /// Its function.
    pub function: Bytes,
    /// Its unique id.
    pub unique: Bytes,
    /// Its priority.
    pub priority: Priority,
    /// `queued`, `running` or `waiting` (an epoch job or a retry not due yet, or a write not
    /// committed yet).
    pub state: &'static str,
    /// A background submission contributed to it.
    pub background: bool,
    /// Attempts made before this one (`show jobs`' second column).
    pub retries: u16,
    /// Workload size in bytes (0 while it is only in the store).
    pub size: usize,
    /// Foreground clients waiting for it.
    pub clients: usize,
}

/// A page of the jobs in memory.
#[derive(Debug, Clone)]
pub struct JobPage {
    /// Jobs in memory in all.
    pub total: usize,
    /// The jobs from the offset asked for.
    pub jobs: Vec<JobView>,
}

/// Something due later: an epoch job (or a retry waiting for its time), or a schedule's next
/// firing.
#[derive(Debug, Clone)]
pub struct ScheduledView {
    /// The job's or the schedule's handle; `cron:N` for the Nth configured schedule.
    pub handle: String,
    /// The function.
    pub function: Bytes,
    /// The job's unique, or the schedule's.
    pub unique: Bytes,
    /// When, in Unix seconds.
    pub due: u64,
    /// The priority of the job (or of the schedule's jobs).
    pub priority: Priority,
    /// The schedule's cron expression; `None` for a job.
    pub cron: Option<String>,
}

/// One dead letter, with its id.
#[derive(Debug, Clone)]
pub struct DeadView {
    /// Its id.
    pub id: u64,
    /// Its function.
    pub function: Bytes,
    /// Its unique id.
    pub unique: Bytes,
    /// Its workload.
    pub workload: Bytes,
    /// Its priority.
    pub priority: Priority,
    /// Attempts made, the first included.
    pub attempts: u32,
    /// `lost`, `timeout`, `fail` or `exception`.
    pub failure: &'static str,
    /// The exception's text, else empty.
    pub detail: Bytes,
    /// The last worker's client id.
    pub worker: Bytes,
    /// When it failed for good, Unix seconds.
    pub failed_at: u64,
}

impl DeadView {
    pub(super) fn of(id: u64, d: &DeadLetter) -> DeadView {
        DeadView {
            id,
            function: d.function.clone(),
            unique: d.unique.clone(),
            workload: d.workload.clone(),
            priority: d.priority,
            attempts: d.attempts,
            failure: d.failure.name(),
            detail: d.detail.clone(),
            worker: d.worker.clone(),
            failed_at: d.failed_at,
        }
    }
}

impl Engine {
    /// A handle as text (the prefix is UTF-8, the number digits).
    fn handle_text(&self, handle_no: u64) -> String {
        String::from_utf8_lossy(self.handle_of(handle_no).as_bytes()).into_owned()
    }

    /// Every connection, in the order `workers` lists them.
    pub fn connections_view(&self) -> Vec<ConnectionView> {
        self.conns
            .iter()
            .map(|c| ConnectionView {
                label: c.peer.label,
                ip: c.peer.ip,
                client_id: c.client_id.clone(),
                functions: c
                    .abilities
                    .iter()
                    .rev()
                    .map(|a| self.functions[a.function].name.clone())
                    .collect(),
                identity: c.peer.identity.as_ref().map(|i| i.label().to_owned()),
                waiting: c.waiting_live,
                running: c.held.len(),
            })
            .collect()
    }

    /// Up to `limit` jobs from the `offset`th, in the order `show jobs` lists them.
    pub fn jobs_view(&self, offset: usize, limit: usize) -> JobPage {
        let jobs = self
            .jobs
            .iter()
            .skip(offset)
            .take(limit)
            .map(|(_, job)| JobView {
                handle: self.handle_text(job.handle_no),
                function: self.functions[job.function].name.clone(),
                unique: job.body.slice_ref(job.unique()),
                priority: job.priority,
                state: match job.state {
                    JobState::Queued => "queued",
                    JobState::Running => "running",
                    JobState::Pending => "waiting",
                    JobState::Elsewhere => "elsewhere",
                },
                background: job.background,
                retries: job.retries,
                size: if job.ready() {
                    job.data_slice().len()
                } else {
                    0
                },
                clients: job.listeners.len(),
            })
            .collect();
        JobPage {
            total: self.jobs.len(),
            jobs,
        }
    }

    /// What is due later, soonest first: epoch jobs and retries waiting for their time, then
    /// schedules by their next firing; only what `asker` may see (`None`: everything).
    pub(super) fn scheduled_view(&self, asker: Option<ConnId>) -> Vec<ScheduledView> {
        let mut rows: Vec<ScheduledView> = self
            .timers
            .iter()
            .filter_map(|t| match t.kind {
                // A stale timer (the job gone, or already due and queued) is skipped.
                TimerKind::EpochDue(r) => self
                    .jobs
                    .get(r.job)
                    .filter(|j| j.handle_no == r.handle_no && j.state == JobState::Pending)
                    .map(|j| ScheduledView {
                        handle: self.handle_text(j.handle_no),
                        function: self.functions[j.function].name.clone(),
                        unique: j.body.slice_ref(j.unique()),
                        due: t.deadline / 1000,
                        priority: j.priority,
                        cron: None,
                    }),
                _ => None,
            })
            .collect();
        rows.extend(
            self.next_firings()
                .into_iter()
                .map(|(due, key, spec)| ScheduledView {
                    handle: match key {
                        ScheduleKey::Config(index) => format!("cron:{}", index + 1),
                        ScheduleKey::Submitted(n) => self.handle_text(n),
                    },
                    function: spec.function.clone(),
                    unique: spec.unique.clone(),
                    due: due / 1000,
                    priority: spec.priority,
                    cron: Some(spec.cron.to_string()),
                }),
        );
        rows.retain(|r| self.visible(asker, &r.function));
        rows.sort_by(|a, b| (a.due, &a.handle).cmp(&(b.due, &b.handle)));
        rows
    }

    /// Every schedule and job due later, soonest first.
    pub fn scheduled(&self) -> Vec<ScheduledView> {
        self.scheduled_view(None)
    }

    /// The dead letters, oldest first, of one function or all.
    pub fn dead_letters_view(&self, function: Option<&[u8]>) -> Vec<DeadView> {
        self.dead
            .iter()
            .filter(|(_, d)| function.is_none_or(|f| d.function == f))
            .map(|(&id, d)| DeadView::of(id, d))
            .collect()
    }
}
