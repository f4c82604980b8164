//! Answers to the admin text commands, byte-compatible with gearmand 1.1.20 (PROTOCOL.md §9).
//!
//! Every answer is built whole and handed to the outbox as one piece, because `gearadmin` stops
//! reading after a short pause. Listing order follows the engine's tables (gearmand's is its
//! hash order; nothing depends on it). Mutating commands go through the same helpers as the
//! binary protocol, so an admin `cancel` detaches clients exactly as a finished job does.

use std::io::Write as _;

use bytes::Bytes;
use gearbox_proto::{AdminCommand, PacketType};

use super::cluster::Asker;
use super::ids::JobId;
use super::job::{JobState, Priority};
use super::stats::Event;
use super::{Action, ConnId, Engine, Outbox};

const OK: &[u8] = b"OK\r\n";
const TOO_MANY: &[u8] = b"ERR TOO_MANY_FUNCTIONS The+server+holds+its+maximum+of+functions\r\n";

/// `workers` prints client ids raw in gearmand; a space or newline in one would break every
/// parser of the listing, so such bytes are shown as `_`.
pub(super) fn printable(label: &[u8], text: &mut Vec<u8>) {
    text.extend(
        label
            .iter()
            .map(|&b| if b <= b' ' || b == 0x7f { b'_' } else { b }),
    );
}

/// A time as `2026-12-04T19:50:00Z`.
pub(super) fn utc(secs: i64) -> String {
    let (y, mo, d) = crate::cron::civil_from_days(secs.div_euclid(86_400));
    let s = secs.rem_euclid(86_400);
    format!(
        "{y:04}-{mo:02}-{d:02}T{:02}:{:02}:{:02}Z",
        s / 3600,
        s / 60 % 60,
        s % 60
    )
}

/// An admin command's answer.
#[derive(Debug, PartialEq, Eq)]
pub enum Answer {
    /// The answer, as the text protocol sends it.
    Now(Vec<u8>),
    /// It waits for the store; it comes under this token.
    Later(u64),
}

impl Engine {
    pub(super) fn admin_command(
        &mut self,
        id: ConnId,
        command: AdminCommand,
        out: &mut impl Outbox,
    ) {
        let answer = match self.admin_refusal(id, &command) {
            Some(refusal) => Answer::Now(refusal),
            None => self.admin_reply(Some(id), command, out),
        };
        // A later answer is held in its place among the connection's replies already.
        if let Answer::Now(text) = answer {
            self.conns.text(out, id, &text);
        }
    }

    /// Run an admin command for the operator (the HTTP API), who has every right but
    /// `shutdown`; the answer as the text protocol would send it, now or, for one that waits
    /// for the store, later under its token ([`Engine::take_operator_answers`]).
    pub fn admin_as_operator(
        &mut self,
        command: AdminCommand,
        now: u64,
        out: &mut impl Outbox,
    ) -> Answer {
        self.now = now;
        self.admin_reply(None, command, out)
    }

    /// The answer to `command` asked by `asker` (`None`: the operator), whose rights allow it.
    fn admin_reply(
        &mut self,
        asker: Option<ConnId>,
        command: AdminCommand,
        out: &mut impl Outbox,
    ) -> Answer {
        let mut text = Vec::new();
        match command {
            // In a cluster, the total counts every job of the cluster: this node's (less those
            // waiting here for another node's, counted with the table), those waiting
            // unclaimed in the table and those other nodes hold; running and workers are this
            // node's.
            AdminCommand::Status => {
                for (_, f) in self.functions.iter() {
                    text.extend_from_slice(&f.name);
                    let total = u64::from(f.total - f.elsewhere)
                        + self.waiting_in_table(&f.name).iter().sum::<u64>()
                        + self.held_elsewhere(&f.name);
                    let _ = writeln!(text, "\t{total}\t{}\t{}", f.running, f.workers);
                }
                for (name, waiting, held) in self.only_in_table() {
                    text.extend_from_slice(&name);
                    let _ = writeln!(text, "\t{}\t0\t0", waiting.iter().sum::<u64>() + held);
                }
                text.extend_from_slice(b".\n");
            }
            AdminCommand::PriorityStatus => {
                for (_, f) in self.functions.iter() {
                    text.extend_from_slice(&f.name);
                    let table = self.waiting_in_table(&f.name);
                    let [high, normal, low] =
                        Priority::ALL.map(|p| f.waiting(p) as u64 + table[p.index()]);
                    let _ = writeln!(text, "\t{high}\t{normal}\t{low}\t{}", f.workers);
                }
                for (name, [high, normal, low], _) in self.only_in_table() {
                    text.extend_from_slice(&name);
                    let _ = writeln!(text, "\t{high}\t{normal}\t{low}\t0");
                }
                text.extend_from_slice(b".\n");
            }
            AdminCommand::Workers => {
                for conn in self.conns.iter() {
                    let _ = write!(text, "{} {} ", conn.peer.label, conn.peer.ip);
                    printable(&conn.client_id, &mut text);
                    text.extend_from_slice(b" :");
                    // gearmand lists the most recently registered function first.
                    for ability in conn.abilities.iter().rev() {
                        text.push(b' ');
                        text.extend_from_slice(&self.functions[ability.function].name);
                    }
                    text.push(b'\n');
                }
                text.extend_from_slice(b".\n");
            }
            AdminCommand::ShowJobs => {
                for (_, job) in self.jobs.iter() {
                    text.extend_from_slice(self.handle_of(job.handle_no).as_bytes());
                    // gearmand's fourth column is 1 for every background job, stored or not.
                    let background = u8::from(job.background);
                    let _ = writeln!(text, "\t{}\t0\t{background}", job.retries);
                }
                text.extend_from_slice(b".\n");
            }
            AdminCommand::ShowUniqueJobs => {
                for (_, job) in self.jobs.iter() {
                    text.extend_from_slice(job.unique());
                    text.push(b'\n');
                }
                text.extend_from_slice(b".\n");
            }
            AdminCommand::ShowScheduled => {
                for row in self.scheduled_view(asker) {
                    text.extend_from_slice(row.handle.as_bytes());
                    text.push(b'\t');
                    printable(&row.function, &mut text);
                    text.push(b'\t');
                    printable(&row.unique, &mut text);
                    let due = i64::try_from(row.due).unwrap_or(i64::MAX);
                    let _ = writeln!(text, "\t{}\t{}", utc(due), row.priority.name());
                }
                text.extend_from_slice(b".\n");
            }
            AdminCommand::Nodes => {
                for node in &self.cluster.nodes {
                    let role = if node.leader { "leader" } else { "-" };
                    let _ = writeln!(
                        text,
                        "{}\t{:.1}\t{:.0}\t{role}",
                        node.node, node.heartbeat_age, node.uptime
                    );
                }
                text.extend_from_slice(b".\n");
            }
            AdminCommand::Version => {
                let _ = writeln!(text, "OK {}", self.config.version);
            }
            AdminCommand::Getpid => {
                let _ = writeln!(text, "OK {}", self.config.pid);
            }
            AdminCommand::Verbose => {
                let _ = writeln!(text, "OK {}", self.config.verbose);
            }
            // No function has the empty name: nothing to limit, as gearmand answers.
            AdminCommand::MaxQueue { function, .. } if function.is_empty() => {
                text.extend_from_slice(OK);
            }
            AdminCommand::MaxQueue { function, limits } => {
                // gearmand ignores a limit for an unknown function; we create it, so the limit
                // holds for the jobs that come later.
                match self.function_id(&function) {
                    Ok(f) => {
                        self.functions[f].limits = limits;
                        text.extend_from_slice(OK);
                    }
                    Err(_) => text.extend_from_slice(TOO_MANY),
                }
            }
            AdminCommand::Cancel { handle } => match self.cancel(asker, &handle, out) {
                Answer::Now(line) => text = line,
                later => return later,
            },
            AdminCommand::CreateFunction(name) => match self.function_id(&name) {
                Ok(_) => text.extend_from_slice(OK),
                Err(_) => text.extend_from_slice(TOO_MANY),
            },
            AdminCommand::DropFunction(name) => text.extend_from_slice(self.drop_function(&name)),
            AdminCommand::DeadList(function) => self.dead_list(asker, function.as_ref(), &mut text),
            AdminCommand::DeadShow(n) => self.dead_show(asker, n, &mut text),
            AdminCommand::DeadRetry(selector) => {
                let now = self.now;
                text = self.dead_retry(asker, &selector, now, out);
            }
            AdminCommand::DeadPurge(selector) => text = self.dead_purge(asker, &selector, out),
            AdminCommand::Result(key) => return self.result_answer(asker, &key, out),
            AdminCommand::Shutdown { graceful } => {
                if asker.is_some_and(|id| self.permitted(id, Action::Shutdown)) {
                    text.extend_from_slice(OK);
                    out.shutdown(graceful);
                } else {
                    text.extend_from_slice(
                        b"ERR PERMISSION_DENIED shutdown+is+accepted+only+from+loopback+connections\r\n",
                    );
                }
            }
        }
        Answer::Now(text)
    }

    /// `cancel job`: clients get WORK_FAIL and are detached, and the job is gone at once, so a
    /// second cancel finds nothing and a worker's late result gets JOB_NOT_FOUND (gearmand keeps
    /// the job and its clients, who may then see two terminal packets). In a cluster, a job no
    /// job here is may be another node's: the answer then waits for the store; and a job that
    /// waits here for another node's is cancelled in the whole cluster too.
    fn cancel(&mut self, asker: Option<ConnId>, handle: &[u8], out: &mut impl Outbox) -> Answer {
        let Some(job_id) = self.lookup(handle) else {
            let schedule = self.handle_no(handle);
            if schedule.is_some_and(|n| self.cancel_schedule(n, out)) {
                return Answer::Now(OK.to_vec());
            }
            return match self.cancel_elsewhere(asker, handle, out) {
                Some(token) => Answer::Later(token),
                None => Answer::Now(b"ERR UNKNOWN_JOB\r\n".to_vec()),
            };
        };
        // A job waiting here for another node's, or whose row is being written (a claim may
        // take it before its deletion reaches it), is cancelled in the table too.
        let job = &self.jobs[job_id];
        let row = if job.state == JobState::Elsewhere {
            Some(self.watched_row(job_id).0)
        } else {
            (self.config.cluster && job.committing).then_some(job.handle_no)
        };
        self.cancel_job(job_id, out);
        if let Some(row) = row {
            self.cancel_row(Asker::Nobody, row, out);
        }
        Answer::Now(OK.to_vec())
    }

    /// Cancel `job_id`, asked here or by another node of the cluster (see [`Engine::cancel`]).
    pub(super) fn cancel_job(&mut self, job_id: JobId, out: &mut impl Outbox) {
        self.relay_end(job_id, out);
        let handle_no = self.jobs[job_id].handle_no;
        let handle = self
            .shown_handle(handle_no)
            .unwrap_or_else(|| Bytes::copy_from_slice(self.handle_of(handle_no).as_bytes()));
        let offered = self.leaving(job_id).is_some();
        let job = &self.jobs[job_id];
        if offered && !job.listeners.is_empty() {
            // Being offered to the cluster: its clients have not heard JOB_CREATED yet, nor so
            // which handle it names (an equal job of another node's, if the store finds one).
            // Their WORK_FAIL waits for the commit report.
            self.cluster
                .failed_on_commit
                .insert(handle_no, job.listeners.to_vec());
        } else {
            for &listener in &job.listeners {
                self.conns
                    .packet(out, listener, PacketType::WorkFail, &[], &handle);
            }
        }
        if let Some(worker) = job.worker {
            self.take_from_worker(worker, job_id);
        }
        self.count(job_id, Event::Cancelled);
        self.remove_job(job_id, out);
    }

    /// `drop function`: refused while the function has workers or any job, queued ones
    /// included (gearmand drops it and orphans the queued jobs).
    fn drop_function(&mut self, name: &[u8]) -> &'static [u8] {
        let found = self
            .functions
            .iter()
            .find(|(_, f)| f.name.eq_ignore_ascii_case(name))
            .map(|(id, f)| (id, f.workers > 0 || f.total > 0));
        match found {
            None => b"ERR function not found\r\n",
            Some((_, true)) => b"ERR there are still connected workers or executing clients\r\n",
            Some((f, false)) => {
                let function = self.functions.remove(f);
                self.function_ids.remove(&function.name);
                OK
            }
        }
    }
}
