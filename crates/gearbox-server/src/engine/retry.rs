//! Retry policies per function: how often a job is tried again after a failure, which
//! failures count (a lost worker, a run timeout, WORK_FAIL, WORK_EXCEPTION), and how long it
//! waits before each new attempt (exponential backoff with jitter between two bounds).
//!
//! Without a policy for its function a job follows gearmand's rules (a lost or timed-out job
//! goes back to its queue at once, up to `job_retries`; a failure is final). With one, a job
//! to be tried again waits outside its queue, pending like an epoch job, until its backoff
//! has passed; once its retries are used up it fails for good. WORK_FAIL and WORK_EXCEPTION
//! are retried only for a job no client waits for (a background job): a waiting client hears
//! the failure at once. A stored job's attempts and its next due time are written to the
//! store with each retry, so a restart neither resets its count nor cuts its wait short.
//! This module decides and schedules; it sends nothing to a connection.

use gearbox_store::{StoreOp, StoredRecord};

use super::ids::JobId;
use super::job::JobState;
use super::policy::PerFunction;
use super::records::{key_number, number_key, Reader, Undecodable, Writer, ATTEMPTS};
use super::stats::Event;
use super::timer::{JobRef, Timer, TimerKind};
use super::{Engine, FnId, Outbox};

/// What went wrong with one attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// The worker disconnected, or gave the function up, holding the job.
    Lost,
    /// The worker overran its CAN_DO_TIMEOUT.
    Timeout,
    /// The worker sent WORK_FAIL.
    Fail,
    /// The worker sent WORK_EXCEPTION.
    Exception,
}

/// Which failures a policy retries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryOn {
    /// A lost worker.
    pub lost: bool,
    /// A run timeout.
    pub timeout: bool,
    /// WORK_FAIL.
    pub fail: bool,
    /// WORK_EXCEPTION.
    pub exception: bool,
}

impl Default for RetryOn {
    fn default() -> Self {
        RetryOn {
            lost: true,
            timeout: true,
            fail: true,
            exception: true,
        }
    }
}

impl RetryOn {
    fn covers(self, failure: Failure) -> bool {
        match failure {
            Failure::Lost => self.lost,
            Failure::Timeout => self.timeout,
            Failure::Fail => self.fail,
            Failure::Exception => self.exception,
        }
    }
}

/// One function's policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts after the first (a job's attempt count is kept in 16 bits).
    pub retries: u16,
    /// Shortest wait before an attempt, in milliseconds.
    pub backoff_min_ms: u64,
    /// Longest wait before an attempt, in milliseconds.
    pub backoff_max_ms: u64,
    /// Which failures are retried.
    pub retry_on: RetryOn,
}

impl RetryPolicy {
    /// The wait before attempt `retry` (1 for the first retry): a random time between the
    /// lower bound and the lower bound doubled for each earlier retry, capped by the upper
    /// bound ("full jitter" above the floor). `random` is any 64-bit random number.
    pub fn backoff_ms(&self, retry: u32, random: u64) -> u64 {
        let doubled = self
            .backoff_min_ms
            .saturating_mul(1u64 << retry.saturating_sub(1).min(62));
        let cap = doubled.min(self.backoff_max_ms).max(self.backoff_min_ms);
        let span = cap - self.backoff_min_ms;
        self.backoff_min_ms + if span == 0 { 0 } else { random % (span + 1) }
    }
}

/// Policies by function name, and the one for every other function (`[functions."*"]`).
pub type RetryPolicies = PerFunction<RetryPolicy>;

impl Engine {
    /// The policy of `f`'s function, if it has one that covers `failure`.
    pub(super) fn policy_for(&self, f: FnId, failure: Failure) -> Option<RetryPolicy> {
        self.config
            .retry_policies
            .get(&self.functions[f].name)
            .filter(|p| p.retry_on.covers(failure))
            .copied()
    }

    /// A running job failed with `failure` under `policy`: if it has retries left, it waits
    /// its backoff outside its queue and true is returned; the caller fails it otherwise.
    /// The caller has detached it from its worker.
    pub(super) fn retry_later(
        &mut self,
        job_id: JobId,
        policy: RetryPolicy,
        out: &mut impl Outbox,
    ) -> bool {
        let job = &self.jobs[job_id];
        if job.retries >= policy.retries {
            return false;
        }
        let retry = job.retries + 1;
        let wait = policy.backoff_ms(u32::from(retry), self.next_random());
        let job = &mut self.jobs[job_id];
        let f = job.function;
        job.retries = retry;
        job.progress = (0, 0);
        job.state = JobState::Pending;
        self.functions[f].running -= 1;
        self.functions[f].pending[job.priority.index()] += 1;
        let store_id = job.store_id;
        self.count(job_id, Event::Retried);
        if store_id != 0 {
            // Whole seconds, rounded up: a restart never runs it before its wait is over.
            let due_secs = (self.now + wait).div_ceil(1000);
            let row = self.stored_job(job_id, due_secs);
            self.persist(StoreOp::Put(row), out);
            let record = Writer::new()
                .num(u64::from(retry))
                .record(ATTEMPTS, number_key(store_id));
            self.persist(StoreOp::PutRecord(record), out);
        }
        let job = &self.jobs[job_id];
        // Due like an epoch job: the same timer makes it runnable, at the back of its queue.
        self.timers.arm(Timer {
            deadline: self.now + wait,
            kind: TimerKind::EpochDue(JobRef {
                job: job_id,
                handle_no: job.handle_no,
            }),
        });
        true
    }

    /// The attempts a stored job used, read at start before the job itself.
    pub(super) fn restore_attempts(&mut self, r: &StoredRecord) -> Result<(), Undecodable> {
        let store_id = key_number(&r.key)?;
        let retries = Reader::new(&r.body)?.num()?;
        let retries = u16::try_from(retries).map_err(|_| Undecodable)?;
        self.restored_attempts.insert(store_id, retries);
        Ok(())
    }

    /// xorshift64: jitter needs no more, and a seed from the configuration keeps tests
    /// repeatable.
    fn next_random(&mut self) -> u64 {
        let mut x = self.random;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.random = x;
        x
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use super::*;

    fn policy(min: u64, max: u64) -> RetryPolicy {
        RetryPolicy {
            retries: 5,
            backoff_min_ms: min,
            backoff_max_ms: max,
            retry_on: RetryOn::default(),
        }
    }

    #[test]
    fn backoff_doubles_within_its_bounds_with_jitter() {
        let p = policy(1_000, 10_000);
        assert_eq!(p.backoff_ms(1, 12_345), 1_000);
        for random in [0, 1, 999, 1_000, u64::MAX] {
            assert!((1_000..=2_000).contains(&p.backoff_ms(2, random)));
            assert!((1_000..=4_000).contains(&p.backoff_ms(3, random)));
            assert!((1_000..=10_000).contains(&p.backoff_ms(10, random)));
            assert!((1_000..=10_000).contains(&p.backoff_ms(u32::MAX, random)));
        }
        assert_eq!(p.backoff_ms(3, 3_000), 4_000);
        assert_eq!(p.backoff_ms(3, 3_001), 1_000);
        // Spread: the jitter is not stuck at a bound.
        let waits: std::collections::HashSet<u64> =
            (0..100u64).map(|r| p.backoff_ms(4, r * 7_919)).collect();
        assert!(waits.len() > 50);
        assert_eq!(policy(500, 500).backoff_ms(7, 99), 500);
    }

    #[test]
    fn a_named_policy_wins_over_the_default() {
        let mut policies = RetryPolicies {
            default: Some(policy(1, 2)),
            ..RetryPolicies::default()
        };
        policies
            .by_function
            .insert(Bytes::from_static(b"billing"), policy(5, 6));
        assert_eq!(policies.get(b"billing").unwrap().backoff_min_ms, 5);
        assert_eq!(policies.get(b"other").unwrap().backoff_min_ms, 1);
        assert!(RetryPolicies::default().get(b"other").is_none());
    }
}
