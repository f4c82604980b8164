//! Work results from workers: WORK_DATA, WARNING, STATUS relayed to the job's clients, and the
//! terminal COMPLETE, FAIL and EXCEPTION that finish a job (PROTOCOL.md §5.6).
//!
//! Only the connection holding a running job may report on it; anything else gets
//! JOB_NOT_FOUND and changes nothing. Relayed packets reuse the worker's body buffer.

use gearbox_proto::{Args, Packet, PacketType};

use super::conns::Conns;
use super::job::JobState;
use super::outcome::End;
use super::parse::{atoi_u32, ident};
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
        // A failure no client waits for may be tried again under the function's policy.
        let failure = match packet.kind {
            T::WorkFail => Some(Failure::Fail),
            T::WorkException => Some(Failure::Exception),
            _ => None,
        };
        if let Some(failure) = failure.filter(|_| self.jobs[job_id].listeners.is_empty()) {
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
        let job = &mut self.jobs[job_id];
        match packet.kind {
            T::WorkStatus => {
                job.progress = (atoi_u32(args.get(1)), atoi_u32(args.get(2)));
                relay(&mut self.conns, out, &job.listeners, packet);
            }
            T::WorkData | T::WorkWarning => relay(&mut self.conns, out, &job.listeners, packet),
            T::WorkComplete => {
                relay(&mut self.conns, out, &job.listeners, packet);
                self.count(job_id, Event::Completed);
                self.observe_ran(job_id);
                self.take_from_worker(id, job_id);
                let worker = self.worker_label(Some(id));
                self.job_over(job_id, End::Complete(args.get(1)), &worker, out);
                self.remove_job(job_id, out);
            }
            T::WorkFail => {
                for &listener in &job.listeners {
                    self.conns.packet(out, listener, T::WorkFail, &[], handle);
                }
                self.count(job_id, Event::Failed);
                self.observe_ran(job_id);
                self.take_from_worker(id, job_id);
                let worker = self.worker_label(Some(id));
                self.job_over(job_id, End::Failed(Failure::Fail, b""), &worker, out);
                self.remove_job(job_id, out);
            }
            _ => {
                for &listener in &job.listeners {
                    let wants = self.conns.get(listener).is_some_and(|c| c.exceptions);
                    if wants {
                        self.conns.packet_shared(
                            out,
                            listener,
                            T::WorkException,
                            &[],
                            &packet.body,
                        );
                    } else {
                        self.conns.packet(out, listener, T::WorkFail, &[], handle);
                    }
                }
                let handle_no = job.handle_no;
                self.count(job_id, Event::Exception);
                self.observe_ran(job_id);
                self.take_from_worker(id, job_id);
                let worker = self.worker_label(Some(id));
                let text = args.get(1);
                self.job_over(job_id, End::Failed(Failure::Exception, text), &worker, out);
                self.remove_job(job_id, out);
                if let Some(conn) = self.conn_mut(id) {
                    conn.after_exception = Some(handle_no);
                }
            }
        }
    }
}

fn relay(conns: &mut Conns, out: &mut impl Outbox, listeners: &[ConnId], packet: &Packet) {
    for &listener in listeners {
        conns.packet_shared(out, listener, packet.kind, &[], &packet.body);
    }
}
