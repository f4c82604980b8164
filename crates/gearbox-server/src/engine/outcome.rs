//! The end of a background job, as the features built on it see it: its kept result
//! (`kept.rs`) and, for a failure that is final, its dead letter (`dead.rs`). Called once per
//! job, just before it is forgotten, by every path that ends a job a worker had: WORK_COMPLETE,
//! WORK_FAIL and WORK_EXCEPTION (`result.rs`), and a lost or timed-out job that is not tried
//! again (`worker.rs`). A cancelled job has no outcome. Foreground jobs have none either:
//! their clients heard it.

use bytes::Bytes;

use super::dead::DeadLetter;
use super::ids::JobId;
use super::kept::Ended;
use super::retry::Failure;
use super::{Engine, Outbox};

/// How a job ended, with its data (the result, or the exception's text).
#[derive(Debug, Clone, Copy)]
pub(super) enum End<'a> {
    Complete(&'a [u8]),
    Failed(Failure, &'a [u8]),
}

impl Engine {
    /// `job_id` ended as `end`; `worker` is the client id of the worker that had it last.
    pub(super) fn job_over(
        &mut self,
        job_id: JobId,
        end: End<'_>,
        worker: &Bytes,
        out: &mut impl Outbox,
    ) {
        let job = &self.jobs[job_id];
        if !job.background {
            return;
        }
        let function = self.functions[job.function].name.clone();
        let Some(policy) = self.config.keep_policies.get(&function).copied() else {
            return;
        };
        let handle_no = job.handle_no;
        let unique = job.body.slice_ref(job.unique());
        let (ended, data) = match end {
            End::Complete(data) => (Ended::Complete, data),
            End::Failed(Failure::Exception, text) => (Ended::Exception, text),
            End::Failed(_, _) => (Ended::Fail, &[][..]),
        };
        self.keep_result(handle_no, &function, &unique, ended, data, out);
        let End::Failed(failure, detail) = end else {
            return;
        };
        if !policy.dead_letter {
            return;
        }
        let job = &self.jobs[job_id];
        let letter = DeadLetter {
            function,
            unique,
            workload: job.data(),
            priority: job.priority,
            attempts: u32::from(job.retries) + 1,
            failure,
            detail: Bytes::copy_from_slice(detail),
            worker: worker.clone(),
            failed_at: self.now / 1000,
        };
        self.bury(letter, out);
    }

    /// The client id of a worker connection (`-` when it set none or is gone).
    pub(super) fn worker_label(&self, worker: Option<super::ConnId>) -> Bytes {
        worker
            .and_then(|w| self.conns.get(w))
            .map_or_else(|| Bytes::from_static(b"-"), |c| c.client_id.clone())
    }
}
