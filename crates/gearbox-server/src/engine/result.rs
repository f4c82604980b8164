//! Work results from workers: WORK_DATA, WARNING, STATUS relayed to the job's clients, and the
//! terminal COMPLETE, FAIL and EXCEPTION that finish a job (PROTOCOL.md §5.6).
//!
//! Only the connection holding a running job may report on it; anything else gets
//! JOB_NOT_FOUND and changes nothing. Relayed packets reuse the worker's body buffer.

use gearbox_proto::{Args, Packet, PacketType};

use super::job::JobState;
use super::outcome::End;
use super::parse::{atoi_u32, ident};
use super::relay::{after_handle, deliver};
use super::retry::Failure;
use super::stats::Event;
use super::{ConnId, Engine, Outbox};

impl Engine {
    pub(super) fn work(
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
            let job = &self.jobs[j];
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
            return self.conns.error(out, id, "JOB_NOT_FOUND", text);
        };
        // A failure no client waits for (here or on another node) may be tried again under
        // the function's policy.
        let failure = match packet.kind {
            T::WorkFail => Some(Failure::Fail),
            T::WorkException => Some(Failure::Exception),
            _ => None,
        };
        let job = &self.jobs[job_id];
        let unwatched = job.listeners.is_empty() && !self.relays(job.handle_no);
        if let Some(failure) = failure.filter(|_| unwatched) {
            if let Some(policy) = self.policy_for(self.jobs[job_id].function, failure) {
                let handle_no = self.jobs[job_id].handle_no;
                self.take_from_worker(id, job_id);
                if self.retry_later(job_id, policy, out) {
                    if failure == Failure::Exception {
                        if let Some(conn) = self.conn_mut(id) {
                            conn.after_exception = Some(handle_no);
                        }
                    }
                    return;
                }
            }
        }
        if packet.kind == T::WorkStatus {
            self.jobs[job_id].progress = (atoi_u32(args.get(1)), atoi_u32(args.get(2)));
        }
        let job = &self.jobs[job_id];
        deliver(
            &mut self.conns,
            out,
            &job.listeners,
            packet.kind,
            &packet.body,
            handle,
        );
        self.relay_work(job_id, packet.kind, after_handle(packet, args.get(0)), out);
        let end = match packet.kind {
            T::WorkComplete => (Event::Completed, End::Complete(args.get(1))),
            T::WorkFail => (Event::Failed, End::Failed(Failure::Fail, b"")),
            T::WorkException => (
                Event::Exception,
                End::Failed(Failure::Exception, args.get(1)),
            ),
            _ => return,
        };
        let handle_no = self.jobs[job_id].handle_no;
        self.count(job_id, end.0);
        self.observe_ran(job_id);
        self.take_from_worker(id, job_id);
        let worker = self.worker_label(Some(id));
        self.job_over(job_id, end.1, &worker, out);
        self.remove_job(job_id, out);
        if packet.kind == T::WorkException {
            if let Some(conn) = self.conn_mut(id) {
                conn.after_exception = Some(handle_no);
            }
        }
    }
}
