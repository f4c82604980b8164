//! Status queries and connection options: GET_STATUS, GET_STATUS_UNIQUE, OPTION_REQ
//! (PROTOCOL.md §5.1, §5.3). Read-only except for the connection's `exceptions` flag. Under
//! an access list a lookup answers "unknown" for a job of a function the connection neither
//! works on nor submits to, exactly as for a job that does not exist.

use gearbox_proto::PacketType;

use super::job::JobState;
use super::parse::ident;
use super::{ConnId, Engine, Outbox};

impl Engine {
    pub(super) fn get_status(&mut self, id: ConnId, handle: &[u8], out: &mut impl Outbox) {
        let found = self
            .lookup(ident(handle))
            .filter(|&j| self.may_see(id, self.jobs[j].function));
        let (known, running, num, den) = match found {
            Some(j) => {
                let (running, num, den) = progress(&self.jobs[j]);
                (true, running, num, den)
            }
            None if self.status_elsewhere(id, ident(handle), out) => return,
            None => (false, false, 0, 0),
        };
        let (num, den) = (num.to_string(), den.to_string());
        self.conns.packet(
            out,
            id,
            PacketType::StatusRes,
            &[handle, flag(known), flag(running), num.as_bytes()],
            den.as_bytes(),
        );
    }

    pub(super) fn get_status_unique(&mut self, id: ConnId, unique: &[u8], out: &mut impl Outbox) {
        let unique = ident(unique);
        // gearmand searches every function and answers with the most recently created match.
        let found = self
            .functions
            .iter()
            .filter(|&(f, _)| self.may_see(id, f))
            .filter_map(|(f, _)| self.uniques.get(&self.jobs, f, unique))
            .max_by_key(|&j| self.jobs[j].handle_no);
        let (known, running, num, den, waiting) = match found {
            Some(j) => {
                let job = &self.jobs[j];
                let (running, num, den) = progress(job);
                (true, running, num, den, job.listeners.len())
            }
            None if self.status_unique_elsewhere(id, unique, out) => return,
            None => (false, false, 0, 0, 0),
        };
        let (num, den, waiting) = (num.to_string(), den.to_string(), waiting.to_string());
        self.conns.packet(
            out,
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

    pub(super) fn option(&mut self, id: ConnId, option: &[u8], out: &mut impl Outbox) {
        if ident(option).eq_ignore_ascii_case(b"exceptions") {
            if let Some(conn) = self.conn_mut(id) {
                conn.exceptions = true;
            }
            self.conns
                .packet(out, id, PacketType::OptionRes, &[], option);
        } else {
            self.conns.error(
                out,
                id,
                "UNKNOWN_OPTION",
                "Server does not recognize given option",
            );
        }
    }
}

/// `1` or `0`, as status replies spell booleans.
pub(super) fn flag(value: bool) -> &'static [u8] {
    if value {
        b"1"
    } else {
        b"0"
    }
}

/// What a status reply says of a job: whether it runs, and its last WORK_STATUS.
fn progress(job: &super::job::Job) -> (bool, u32, u32) {
    (
        job.state == JobState::Running,
        job.progress.0,
        job.progress.1,
    )
}
