//! Recurring jobs: schedules declared in the configuration file (`[[schedule]]`) and schedules
//! created by clients with SUBMIT_JOB_SCHED (PROTOCOL.md §5.2, never implemented by gearmand).
//! At each firing of its cron expression a schedule submits an ordinary background job, as a
//! client would, and the job then runs like any other (durably with the default store).
//!
//! A firing's unique id is the schedule's own followed by `@` and the firing time in Unix
//! seconds, so a firing is never doubled: if a job with that id is still there (the server
//! restarted within the minute and replayed it), the firing is skipped. Firings missed while
//! the server was down follow the schedule's policy: `skip` (the next firing is the first one
//! to come) or `once` (one catch-up firing at start, labelled with the first missed time). A
//! firing that finds its queue full or the memory budget spent is skipped and logged. Times
//! are UTC unless a configured schedule names a time zone (`crate::zone`).
//!
//! With a durable store a submitted schedule is a record (its definition and last firing),
//! and a configured one keeps its last firing in a record, so `missed = "once"` knows what
//! was missed. This module creates jobs and schedules; it never runs one.

use std::collections::BTreeMap;

use bytes::Bytes;
use gearbox_proto::{Args, PacketType};
use gearbox_store::{StoreOp, StoredRecord};

use super::access::Asked;
use super::job::Priority;
use super::records::{key_number, number_key, Reader, Undecodable, Writer, FIRED, SCHEDULE};
use super::timer::{Timer, TimerKind};
use super::{ConnId, Engine, Outbox};
use crate::cron::Cron;
use crate::zone::{next_firing, Zone};

/// Longest schedule unique: room is left for `@` and ten digits of the firing time within
/// the protocol's 64 bytes.
pub const MAX_SCHEDULE_UNIQUE: usize = 64 - 11;

/// What happens to firings missed while the server was down.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Missed {
    /// Nothing: the next firing is the first one to come.
    #[default]
    Skip,
    /// One catch-up firing at start.
    Once,
}

/// One recurring job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScheduleSpec {
    /// When it fires.
    pub cron: Cron,
    /// The function its jobs are for.
    pub function: Bytes,
    /// Their workload.
    pub workload: Bytes,
    /// The schedule's unique id; each firing's job gets `<unique>@<firing time>`.
    pub unique: Bytes,
    /// Their priority.
    pub priority: Priority,
    /// Firings missed while the server was down.
    pub missed: Missed,
    /// The time zone its fields are read in; UTC without one (`crate::zone`).
    pub zone: Option<Zone>,
}

impl ScheduleSpec {
    /// Its first firing strictly after `t` (Unix seconds), in its time zone.
    fn next_after(&self, t: i64) -> Option<i64> {
        next_firing(&self.cron, self.zone.as_ref(), t)
    }
}

/// Which schedule: the `N`th of the configuration file (from 0), or one a client submitted,
/// by its handle number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ScheduleKey {
    /// `[[schedule]]` number N + 1 of the configuration, listed as `cron:N+1`.
    Config(u32),
    /// Created by SUBMIT_JOB_SCHED; its handle names it.
    Submitted(u64),
}

#[derive(Debug, Clone)]
pub(super) struct Schedule {
    spec: ScheduleSpec,
    /// The last firing, Unix seconds; 0 if none is known.
    last_fired: u64,
    /// The armed firing, engine milliseconds; a timer for another time is stale.
    next_due: u64,
}

/// Every schedule.
pub(super) type Schedules = BTreeMap<ScheduleKey, Schedule>;

/// The configured schedules, before anything is restored.
pub(super) fn configured(specs: &[ScheduleSpec]) -> Schedules {
    specs
        .iter()
        .enumerate()
        .map(|(i, spec)| {
            let key = ScheduleKey::Config(u32::try_from(i).unwrap_or(u32::MAX));
            let schedule = Schedule {
                spec: spec.clone(),
                last_fired: 0,
                next_due: 0,
            };
            (key, schedule)
        })
        .collect()
}

fn priority_from(code: u64) -> Priority {
    match code {
        0 => Priority::High,
        2 => Priority::Low,
        _ => Priority::Normal,
    }
}

fn record(handle_no: u64, s: &Schedule) -> StoredRecord {
    Writer::new()
        .bytes(s.spec.cron.to_string().as_bytes())
        .bytes(&s.spec.function)
        .bytes(&s.spec.unique)
        .bytes(&s.spec.workload)
        .num(s.spec.priority as u64)
        .num(u64::from(s.spec.missed == Missed::Once))
        .num(s.last_fired)
        .record(SCHEDULE, number_key(handle_no))
}

impl Engine {
    /// Arm every schedule (engine milliseconds): for its first firing after `now`, or, for a
    /// schedule with `missed = "once"` whose last firing is known and which missed one since,
    /// for that missed firing at once. Called once, when the server starts serving (after
    /// the store is replayed).
    pub fn start_schedules(&mut self, now: u64) {
        let keys: Vec<ScheduleKey> = self.schedules.keys().copied().collect();
        for key in keys {
            let s = &self.schedules[&key];
            let missed = (s.spec.missed == Missed::Once && s.last_fired != 0)
                .then(|| s.spec.next_after(secs(s.last_fired * 1000)))
                .flatten()
                .and_then(|t| u64::try_from(t).ok())
                .filter(|&t| t * 1000 <= now);
            match missed {
                Some(t) => self.arm_schedule_at(key, t * 1000),
                None => self.arm_schedule(key, now),
            }
        }
    }

    fn arm_schedule(&mut self, key: ScheduleKey, after_ms: u64) {
        let Some(s) = self.schedules.get(&key) else {
            return;
        };
        let next = s.spec.next_after(secs(after_ms));
        if let Some(next) = next.and_then(|s| u64::try_from(s).ok()) {
            self.arm_schedule_at(key, next * 1000);
        }
    }

    fn arm_schedule_at(&mut self, key: ScheduleKey, due: u64) {
        if let Some(s) = self.schedules.get_mut(&key) {
            s.next_due = due;
            self.timers.arm(Timer {
                deadline: due,
                kind: TimerKind::ScheduleDue(key),
            });
        }
    }

    /// The schedule `key` fires for `due` (engine milliseconds): submit its job, remember the
    /// firing, arm the next one after `now` (firings missed since are skipped).
    pub(super) fn fire_schedule(
        &mut self,
        key: ScheduleKey,
        due: u64,
        now: u64,
        out: &mut impl Outbox,
    ) {
        let Some(s) = self.schedules.get_mut(&key).filter(|s| s.next_due == due) else {
            return;
        };
        if !self.cluster.leads() {
            // Another node of the cluster fires it; this one only keeps the next time, to fire
            // from there if it comes to lead.
            return self.arm_schedule(key, now.max(due));
        }
        s.last_fired = due / 1000;
        let spec = s.spec.clone();
        let mut unique = spec.unique.to_vec();
        unique.extend_from_slice(format!("@{}", due / 1000).as_bytes());
        let submitted = self.submit_own(
            &spec.function,
            &unique,
            &spec.workload,
            spec.priority,
            now,
            out,
        );
        if let Err(reason) = submitted {
            tracing::warn!(
                schedule = ?key,
                function = %String::from_utf8_lossy(&spec.function),
                reason,
                "scheduled firing skipped"
            );
        }
        if self.config.durable {
            let s = &self.schedules[&key];
            let record = match key {
                ScheduleKey::Submitted(handle_no) => record(handle_no, s),
                ScheduleKey::Config(_) => Writer::new()
                    .num(s.last_fired)
                    .record(FIRED, s.spec.unique.clone()),
            };
            self.persist(StoreOp::PutRecord(record), out);
        }
        self.arm_schedule(key, now.max(due));
    }

    /// SUBMIT_JOB_SCHED: `function, unique, minute, hour, day of month, month, day of week,
    /// workload`; an empty cron field is `*`. Creates a schedule, or replaces the definition
    /// of the one with the same function and unique (keeping its handle), and answers
    /// JOB_CREATED with its handle, after the commit with a durable store. Its jobs are
    /// normal-priority; an empty unique gets `sched-<handle number>`.
    pub(super) fn submit_schedule(&mut self, id: ConnId, args: &Args, out: &mut impl Outbox) {
        let function = args.get(0);
        if self.refused(id, Asked::Submit(function), out) {
            return;
        }
        if self.draining {
            return self.reject(id, "SHUTTING_DOWN", "Server is shutting down", out);
        }
        if function.is_empty() || function.len() > self.config.max_function {
            return self.reject(
                id,
                "INVALID_FUNCTION_NAME",
                "Function name is empty or too large",
                out,
            );
        }
        if args.get(1).len() > MAX_SCHEDULE_UNIQUE {
            let text = format!("A schedule's unique id is at most {MAX_SCHEDULE_UNIQUE} bytes");
            return self.reject(id, "ARGUMENT_TOO_LARGE", &text, out);
        }
        let fields: Vec<String> = (2..7)
            .map(|i| match String::from_utf8_lossy(args.get(i)).trim() {
                "" => "*".to_owned(),
                field => field.to_owned(),
            })
            .collect();
        let cron = match Cron::parse(&fields.join(" ")) {
            Ok(cron) => cron,
            Err(e) => return self.reject(id, "INVALID_SCHEDULE", &e.to_string(), out),
        };
        let function = Bytes::copy_from_slice(function);
        let existing = self.schedules.iter().find_map(|(k, s)| match k {
            ScheduleKey::Submitted(n)
                if s.spec.function == function && s.spec.unique[..] == *args.get(1) =>
            {
                Some(*n)
            }
            _ => None,
        });
        let handle_no = existing.unwrap_or_else(|| {
            self.next_handle += 1;
            self.next_handle - 1
        });
        let unique = match args.get(1) {
            b"" => Bytes::from(format!("sched-{handle_no}")),
            u => Bytes::copy_from_slice(u),
        };
        let key = ScheduleKey::Submitted(handle_no);
        let last_fired = self.schedules.get(&key).map_or(0, |s| s.last_fired);
        let schedule = Schedule {
            spec: ScheduleSpec {
                cron,
                function,
                workload: Bytes::copy_from_slice(args.get(7)),
                unique,
                priority: Priority::Normal,
                missed: self.config.schedule_missed,
                zone: None,
            },
            last_fired,
            next_due: 0,
        };
        let stored = self.config.durable.then(|| record(handle_no, &schedule));
        self.schedules.insert(key, schedule);
        self.arm_schedule(key, self.now);
        match stored {
            Some(record) => {
                self.store_answered(id, handle_no, None, StoreOp::PutRecord(record), out)
            }
            None => {
                let handle = self.handle_of(handle_no);
                self.conns
                    .packet(out, id, PacketType::JobCreated, &[], handle.as_bytes());
            }
        }
    }

    /// `cancel job HANDLE` for a submitted schedule: it is removed, for good.
    pub(super) fn cancel_schedule(&mut self, handle_no: u64, out: &mut impl Outbox) -> bool {
        if self
            .schedules
            .remove(&ScheduleKey::Submitted(handle_no))
            .is_none()
        {
            return false;
        }
        if self.config.durable {
            let key = number_key(handle_no);
            self.persist(
                StoreOp::DropRecord {
                    kind: SCHEDULE,
                    key,
                },
                out,
            );
        }
        true
    }

    /// A submitted schedule, read back at start.
    pub(super) fn restore_schedule(&mut self, r: &StoredRecord) -> Result<(), Undecodable> {
        let (handle_no, schedule) = decode_schedule(r)?;
        self.handle_seen(handle_no);
        self.schedules
            .insert(ScheduleKey::Submitted(handle_no), schedule);
        Ok(())
    }

    /// In a cluster, the schedule records as the shared table holds them now (any node may
    /// write them, read at every heartbeat): schedules submitted on other nodes are added and
    /// armed, changed ones take their new definition, those cancelled elsewhere (seen in the
    /// table before, gone now) are dropped, and last firings move forward. So the leader fires
    /// every schedule of the cluster, and a new leader knows the last firings. A schedule
    /// submitted here whose record is not yet in the table stays.
    pub fn sync_schedules(&mut self, records: &[StoredRecord], now: u64) {
        let mut seen = std::collections::BTreeSet::new();
        for r in records {
            match r.kind {
                SCHEDULE => {
                    let Ok((handle_no, schedule)) = decode_schedule(r) else {
                        continue;
                    };
                    seen.insert(handle_no);
                    let key = ScheduleKey::Submitted(handle_no);
                    match self.schedules.get_mut(&key) {
                        Some(s) if s.spec == schedule.spec => {
                            s.last_fired = s.last_fired.max(schedule.last_fired);
                        }
                        Some(s) => {
                            s.spec = schedule.spec;
                            s.last_fired = s.last_fired.max(schedule.last_fired);
                            self.arm_schedule(key, now);
                        }
                        None => {
                            self.schedules.insert(key, schedule);
                            self.arm_schedule(key, now);
                        }
                    }
                }
                FIRED => {
                    let Ok(last) = Reader::new(&r.body).and_then(|mut read| read.num()) else {
                        continue;
                    };
                    for (key, s) in self.schedules.iter_mut() {
                        if matches!(key, ScheduleKey::Config(_)) && s.spec.unique == r.key {
                            s.last_fired = s.last_fired.max(last);
                        }
                    }
                }
                _ => {}
            }
        }
        let gone: Vec<u64> = self
            .cluster_schedules_seen()
            .difference(&seen)
            .copied()
            .collect();
        for handle_no in gone {
            self.schedules.remove(&ScheduleKey::Submitted(handle_no));
        }
        self.set_cluster_schedules_seen(seen);
    }
}

/// A submitted schedule from its record: its handle number and the schedule, not armed.
fn decode_schedule(r: &StoredRecord) -> Result<(u64, Schedule), Undecodable> {
    let handle_no = key_number(&r.key)?;
    let mut read = Reader::new(&r.body)?;
    let cron = read.bytes()?;
    let cron = std::str::from_utf8(&cron).map_err(|_| Undecodable)?;
    let cron = Cron::parse(cron).map_err(|_| Undecodable)?;
    let spec = ScheduleSpec {
        cron,
        function: read.bytes()?,
        unique: read.bytes()?,
        workload: read.bytes()?,
        priority: priority_from(read.num()?),
        missed: if read.num()? == 1 {
            Missed::Once
        } else {
            Missed::Skip
        },
        zone: None,
    };
    let last_fired = read.num()?;
    let schedule = Schedule {
        spec,
        last_fired,
        next_due: 0,
    };
    Ok((handle_no, schedule))
}

impl Engine {
    /// The last firing of a configured schedule, read back at start; a schedule no longer in
    /// the configuration is ignored.
    pub(super) fn restore_fired(&mut self, r: &StoredRecord) -> Result<(), Undecodable> {
        let last = Reader::new(&r.body)?.num()?;
        for (key, s) in self.schedules.iter_mut() {
            if matches!(key, ScheduleKey::Config(_)) && s.spec.unique == r.key {
                s.last_fired = last;
            }
        }
        Ok(())
    }

    /// The schedules with their next firing (engine milliseconds), soonest first.
    pub(super) fn next_firings(&self) -> Vec<(u64, ScheduleKey, &ScheduleSpec)> {
        let mut all: Vec<_> = self
            .schedules
            .iter()
            .filter(|(_, s)| s.next_due != 0)
            .map(|(k, s)| (s.next_due, *k, &s.spec))
            .collect();
        all.sort_by_key(|(due, k, _)| (*due, *k));
        all
    }
}

/// Engine milliseconds as whole seconds for the cron arithmetic.
fn secs(ms: u64) -> i64 {
    i64::try_from(ms / 1000).unwrap_or(i64::MAX)
}
