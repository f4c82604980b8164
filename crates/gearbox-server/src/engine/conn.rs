//! Per-connection state the engine keeps: registrations, sleep flags, options, the jobs the
//! connection holds as a worker and the jobs it waits for as a client.
//!
//! Every piece of it dies with the connection (PROTOCOL.md §7.4). The engine never does I/O for
//! a connection; it only knows its id.

use std::collections::VecDeque;
use std::net::IpAddr;
use std::sync::Arc;

use bytes::Bytes;
use smallvec::SmallVec;

use super::conns::Deferred;
use super::ids::JobId;
use super::FnId;
use crate::acl::{Access, Identity};

/// What the network layer tells the engine about a new connection.
#[derive(Debug, Clone)]
pub struct Peer {
    /// Peer address, shown by `workers`.
    pub ip: IpAddr,
    /// The number shown first on the connection's `workers` line (the socket's descriptor).
    pub label: u32,
    /// Who its verified client certificate names; `None` without one (anonymous).
    pub identity: Option<Arc<Identity>>,
}

/// A function a worker registered, with its CAN_DO_TIMEOUT in milliseconds (0: none).
#[derive(Debug, Clone, Copy)]
pub struct Ability {
    /// The function.
    pub function: FnId,
    /// Maximum run time of one job, 0 for no limit.
    pub timeout_ms: u64,
}

/// A job a client is attached to, with its handle number to detect a reused slab slot.
#[derive(Debug, Clone, Copy)]
pub struct Waiting {
    /// The job's slab index when attached.
    pub job: JobId,
    /// The job's handle number, which is never reused.
    pub handle_no: u64,
}

/// One connection.
#[derive(Debug)]
pub struct Conn {
    /// Address and label.
    pub peer: Peer,
    /// SET_CLIENT_ID label, `-` until set.
    pub client_id: Bytes,
    /// Registered functions, oldest first.
    pub abilities: Vec<Ability>,
    /// Where the next GRAB starts looking among `abilities` (round-robin between functions).
    pub next_ability: usize,
    /// Sent PRE_SLEEP and has not grabbed since.
    pub sleeping: bool,
    /// Already woken once in the current sleep.
    pub noop_sent: bool,
    /// Changes at every PRE_SLEEP and GRAB; recorded sleepers with another serial are stale.
    pub sleep_serial: u64,
    /// OPTION_REQ `exceptions` was accepted.
    pub exceptions: bool,
    /// Jobs this connection runs as a worker.
    pub held: SmallVec<[JobId; 2]>,
    /// Foreground jobs this connection waits for (may hold finished ones; see `waiting_live`).
    pub waiting: Vec<Waiting>,
    /// How many entries of `waiting` are still attached; drives compaction.
    pub waiting_live: usize,
    /// Handle number of a WORK_EXCEPTION this connection sent as its previous packet, so that
    /// a WORK_FAIL that immediately follows it (Perl-server convention) is dropped silently.
    pub after_exception: Option<u64>,
    /// Output waiting behind an uncommitted JOB_CREATED, and requests held with it (see
    /// `conns.rs`); empty in memory mode.
    pub deferred: VecDeque<Deferred>,
    /// Requests among `deferred`.
    pub held_inputs: u32,
    /// What it may do under the access list; `None`: there is none, everything is allowed.
    pub access: Option<Access>,
    /// The server's own HTTP front-end (see `EngineConfig::internal_client_id`).
    pub internal: bool,
    /// Denials already logged for this connection (each is logged once), bounded.
    pub denials_logged: Vec<Bytes>,
}

impl Conn {
    /// A new connection with no registrations.
    pub fn new(peer: Peer) -> Conn {
        Conn {
            peer,
            client_id: Bytes::from_static(b"-"),
            abilities: Vec::new(),
            next_ability: 0,
            sleeping: false,
            noop_sent: false,
            sleep_serial: 0,
            exceptions: false,
            held: SmallVec::new(),
            waiting: Vec::new(),
            waiting_live: 0,
            after_exception: None,
            deferred: VecDeque::new(),
            held_inputs: 0,
            access: None,
            internal: false,
            denials_logged: Vec::new(),
        }
    }

    /// Attach to a job as a waiting client, compacting finished entries now and then so a
    /// long-lived client does not accumulate them.
    pub fn attach(&mut self, waiting: Waiting, still_attached: impl Fn(&Waiting) -> bool) {
        if self.waiting.len() >= 32 && self.waiting.len() > 2 * self.waiting_live {
            self.waiting.retain(|w| still_attached(w));
        }
        self.waiting.push(waiting);
        self.waiting_live += 1;
    }
}
