//! Recurring jobs declared in the configuration file (`[[schedule]]`): at each firing of its
//! cron expression a schedule submits an ordinary background job, as a client would, and the
//! job then runs like any other (durably with the default store).
//!
//! A firing's unique id is the schedule's own followed by `@` and the firing time in Unix
//! seconds, so a firing is never doubled: if a job with that id is still there (the server
//! restarted within the minute and replayed it), the firing is skipped. Firings missed while
//! the server was down are skipped too: after a start, the next firing is the first one to
//! come. A firing that finds its queue full or the memory budget spent is skipped and
//! logged. Times are UTC. This module creates jobs; it never answers a connection.

use bytes::{BufMut, Bytes, BytesMut};

use super::job::Priority;
use super::lifecycle::NewJob;
use super::timer::{Timer, TimerKind};
use super::{Engine, Outbox};
use crate::cron::Cron;

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
}

impl Engine {
    /// Arm every schedule for its first firing after `now` (engine milliseconds). Called once,
    /// when the server starts serving (after the store is replayed).
    pub fn start_schedules(&mut self, now: u64) {
        for index in 0..self.config.schedules.len() {
            self.arm_schedule(index, now);
        }
    }

    fn arm_schedule(&mut self, index: usize, after_ms: u64) {
        let secs = i64::try_from(after_ms / 1000).unwrap_or(i64::MAX);
        let next = self.config.schedules[index].cron.next_after(secs);
        if let Some(next) = next.and_then(|s| u64::try_from(s).ok()) {
            self.timers.arm(Timer {
                deadline: next * 1000,
                kind: TimerKind::ScheduleDue(u32::try_from(index).unwrap_or(u32::MAX)),
            });
        }
    }

    /// The schedule `index` fires for `due` (engine milliseconds): submit its job, arm the
    /// next firing after `now` (missed ones are skipped).
    pub(super) fn fire_schedule(&mut self, index: u32, due: u64, now: u64, out: &mut impl Outbox) {
        let index = index as usize;
        let Some(spec) = self.config.schedules.get(index).cloned() else {
            return;
        };
        let mut unique = spec.unique.to_vec();
        unique.extend_from_slice(format!("@{}", due / 1000).as_bytes());
        match self.submit_scheduled(&spec, &unique, now, out) {
            Ok(()) => {}
            Err(reason) => tracing::warn!(
                schedule = index + 1,
                function = %String::from_utf8_lossy(&spec.function),
                reason,
                "scheduled firing skipped"
            ),
        }
        self.arm_schedule(index, now.max(due));
    }

    fn submit_scheduled(
        &mut self,
        spec: &ScheduleSpec,
        unique: &[u8],
        now: u64,
        out: &mut impl Outbox,
    ) -> Result<(), &'static str> {
        let fn_id = self
            .function_id(&spec.function)
            .map_err(|_| "the server holds its maximum of functions")?;
        if self.uniques.get(&self.jobs, fn_id, unique).is_some() {
            return Err("the job of this firing is still there");
        }
        // The body a SUBMIT_JOB_BG would carry: function, unique, workload.
        let mut body =
            BytesMut::with_capacity(spec.function.len() + unique.len() + spec.workload.len() + 2);
        body.put_slice(&spec.function);
        body.put_u8(0);
        body.put_slice(unique);
        body.put_u8(0);
        body.put_slice(&spec.workload);
        self.admit(fn_id, spec.priority, body.len())?;
        let unique_at = spec.function.len() + 1;
        let job_id = self.insert_job(NewJob {
            function: fn_id,
            body: body.freeze(),
            unique: (unique_at, unique.len()),
            reducer: (0, 0),
            data_start: unique_at + unique.len() + 1,
            priority: spec.priority,
            background: true,
            store_id: 0,
        });
        self.counters.submitted += 1;
        self.settle_new_job(job_id, true, 0, now, out, |_, _| {});
        Ok(())
    }

    /// The schedules' next firings, as (due in engine milliseconds, index).
    pub(super) fn next_firings(&self) -> Vec<(u64, usize)> {
        self.timers
            .iter()
            .filter_map(|t| match t.kind {
                TimerKind::ScheduleDue(i) => Some((t.deadline, i as usize)),
                _ => None,
            })
            .collect()
    }
}
