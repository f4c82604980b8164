//! The access list applied to requests: a CAN_DO for a function the connection may not work
//! on, a submission to one it may not submit to and an admin command beyond its rights are
//! refused (ERROR / ERR `PERMISSION_DENIED`, nothing registered or created), and status lookups
//! do not reveal jobs of functions it neither works on nor submits to. Each refusal is logged
//! once per connection, with the identity, the address and what was refused.
//!
//! This module only decides and answers; what an identity may do is `crate::acl`'s. Without an
//! access list nothing here refuses anything. A refused request never changes any state.

use std::sync::Arc;

use bytes::Bytes;
use gearbox_proto::AdminCommand;

use super::conn::Conn;
use super::{ConnId, Engine, FnId, Outbox};
use crate::acl::{Access, Acl};

/// What `conn` may do under `acl`: everything without one, and for the HTTP front-end.
fn access_of(acl: Option<&Acl>, conn: &Conn) -> Option<Access> {
    if conn.internal {
        return None;
    }
    acl.map(|acl| acl.access(conn.peer.identity.as_deref()))
}

/// Distinct refusals logged per connection; beyond this a connection's refusals are answered
/// but no longer logged, so a client retrying in a loop cannot flood the log.
const LOGGED_PER_CONN: usize = 32;

/// What a request asked for.
#[derive(Debug, Clone, Copy)]
pub(super) enum Asked<'a> {
    /// CAN_DO or CAN_DO_TIMEOUT for this function.
    Work(&'a [u8]),
    /// A submission to this function.
    Submit(&'a [u8]),
}

impl Engine {
    /// Put an access list in force (`None`: none), for open connections too.
    pub fn set_acl(&mut self, acl: Option<Arc<Acl>>) {
        for conn in self.conns.iter_mut() {
            conn.access = access_of(acl.as_deref(), conn);
        }
        self.acl = acl;
    }

    /// What a new connection may do.
    pub(super) fn access_for(&self, conn: &mut Conn) {
        conn.access = access_of(self.acl.as_deref(), conn);
    }

    /// If `label` is the HTTP front-end's secret and the peer is on this machine, mark the
    /// connection as that front-end and return true (the secret itself is never shown).
    pub(super) fn is_internal(&mut self, id: ConnId, label: &[u8]) -> bool {
        let Some(secret) = self.config.internal_client_id.as_deref() else {
            return false;
        };
        // Compared in full whatever the first difference, so timing reveals nothing.
        let same = secret.len() == label.len()
            && secret.iter().zip(label).fold(0, |d, (a, b)| d | (a ^ b)) == 0;
        let Some(conn) = self.conns.get_mut(id) else {
            return false;
        };
        if !same || !conn.peer.ip.is_loopback() {
            return false;
        }
        conn.internal = true;
        conn.access = None;
        conn.client_id = Bytes::from_static(super::INTERNAL_CLIENT_ID.as_bytes());
        true
    }

    /// Refuse `asked` if the access list does not allow it: ERROR PERMISSION_DENIED is sent
    /// and true returned.
    pub(super) fn refused(&mut self, id: ConnId, asked: Asked<'_>, out: &mut impl Outbox) -> bool {
        if self.acl.is_none() {
            return false;
        }
        let Some(conn) = self.conns.get(id) else {
            return false;
        };
        let Some(access) = &conn.access else {
            return false;
        };
        let (allowed, verb, function) = match asked {
            Asked::Work(f) => (access.may_work(f), "register as a worker for", f),
            Asked::Submit(f) => (access.may_submit(f), "submit jobs to", f),
        };
        if allowed {
            return false;
        }
        let text = format!(
            "{} may not {verb} {}",
            access.label(),
            String::from_utf8_lossy(function)
        );
        self.log_refusal(id, &text);
        self.conns.error(out, id, "PERMISSION_DENIED", &text);
        true
    }

    /// The `ERR` line for an admin command beyond the connection's rights, if it is.
    pub(super) fn admin_refusal(&mut self, id: ConnId, command: &AdminCommand) -> Option<Vec<u8>> {
        let access = self.conns.get(id)?.access.as_ref()?;
        if access.may_admin(command) {
            return None;
        }
        let text = format!(
            "{} may not use the admin command {}",
            access.label(),
            command.name()
        );
        self.log_refusal(id, &text);
        Some(format!("ERR PERMISSION_DENIED {}\r\n", text.replace(' ', "+")).into_bytes())
    }

    /// Whether a status lookup by `id` may reveal a job of `function`.
    pub(super) fn may_see(&self, id: ConnId, function: FnId) -> bool {
        self.acl.is_none() || self.may_see_name(id, &self.functions[function].name)
    }

    /// Whether `asker` (a connection, or `None` for the operator, who sees everything) may
    /// see jobs, dead letters and results of the function `name`.
    pub(super) fn visible(&self, asker: Option<ConnId>, name: &[u8]) -> bool {
        asker.is_none_or(|id| self.may_see_name(id, name))
    }

    /// Whether `id` may see jobs, dead letters and results of the function `name`.
    pub(super) fn may_see_name(&self, id: ConnId, name: &[u8]) -> bool {
        if self.acl.is_none() {
            return true;
        }
        match self.conns.get(id).and_then(|c| c.access.as_ref()) {
            None => true,
            Some(access) => access.may_see(name),
        }
    }

    fn log_refusal(&mut self, id: ConnId, text: &str) {
        let Some(conn) = self.conns.get_mut(id) else {
            return;
        };
        let key = Bytes::copy_from_slice(text.as_bytes());
        if conn.denials_logged.len() >= LOGGED_PER_CONN || conn.denials_logged.contains(&key) {
            return;
        }
        conn.denials_logged.push(key);
        tracing::warn!(peer = %conn.peer.ip, refused = text, "access list: permission denied");
        if conn.denials_logged.len() == LOGGED_PER_CONN {
            tracing::warn!(peer = %conn.peer.ip,
                "access list: further refusals on this connection are not logged");
        }
    }
}
