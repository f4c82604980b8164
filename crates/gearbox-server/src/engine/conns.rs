//! The table of connections and the one path by which the engine's packets reach them.
//!
//! Every packet and admin answer bound for a connection goes through [`Conns`], so that it
//! leaves in an order the protocol allows whatever the durable store is doing. The rule is
//! simple: a connection's output is the sequence in which the engine produced it, and a
//! JOB_CREATED that waits for its store commit holds back everything produced after it on that
//! connection (direct replies, relayed WORK_*, STATUS_RES, NOOP alike) until the commit is
//! reported. So clients match replies to requests by order as they must, and no job's WORK_*
//! precedes its JOB_CREATED on any connection attached to it.
//!
//! Requests are processed as they arrive, which is what lets one connection pipeline many
//! durable submissions through one commit, with one exception: a GRAB or PRE_SLEEP arriving
//! while output is held back is held too, and so is every request from that connection after
//! it; each runs when it reaches the front. So a worker request sees the jobs its connection
//! submitted before it, and later requests see its effect, as with gearmand. Nothing else in
//! the engine may write to an [`Outbox`] packet or text method directly.

use std::collections::VecDeque;

use bytes::{BufMut, Bytes, BytesMut};
use gearbox_proto::{Packet, PacketType};

use super::conn::Conn;
use super::{format_handle, ConnId, Outbox};

/// Output held back behind a JOB_CREATED that waits for its store commit.
#[derive(Debug)]
pub enum Deferred {
    /// The answer to a durable submission: JOB_CREATED once `seq` is committed, or ERROR if the
    /// commit failed. `outcome` is filled in when the commit is reported.
    Created {
        /// Handle number of the job the answer names.
        handle_no: u64,
        /// Sequence number of the job's store write.
        seq: u64,
        /// Filled in when the commit is reported.
        outcome: Option<Created>,
    },
    /// Any other packet, as its type and encoded body.
    Packet {
        /// Packet type.
        kind: PacketType,
        /// Encoded body.
        body: Bytes,
    },
    /// An admin answer.
    Text(Bytes),
    /// A reply that waits for a lookup in the cluster's store (`cluster.rs`): the packet's
    /// body (or the admin answer) once the lookup `token` is answered.
    Lookup {
        /// The lookup.
        token: u64,
        /// The reply's packet type; `None` for an admin answer.
        kind: Option<PacketType>,
        /// Its body, once known.
        body: Option<Bytes>,
    },
    /// A request from the connection to run once everything before it has left.
    Input(Held),
}

/// How a store write that a JOB_CREATED waits for turned out.
#[derive(Debug, Clone)]
pub enum Created {
    /// Committed: JOB_CREATED names the job.
    Stored,
    /// The store failed: ERROR QUEUE_ERROR with the reason.
    Failed(Bytes),
    /// An equal job was stored already (by another node of a cluster): JOB_CREATED names it.
    Joined(Bytes),
}

/// A request held back (see the module documentation).
#[derive(Debug)]
pub enum Held {
    /// A binary request.
    Packet(Packet),
    /// An admin line.
    Admin(Bytes),
}

/// What [`Conns::set_aside`] took out of a connection's queue.
#[derive(Debug, Default)]
pub struct SetAside {
    deferred: VecDeque<Deferred>,
    inputs: u32,
}

/// Connections by [`ConnId`]; a slot is empty once its connection is gone.
#[derive(Debug, Default)]
pub struct Conns {
    slots: Vec<Option<Conn>>,
}

fn encode(fields: &[&[u8]], last: &[u8]) -> Bytes {
    let mut body =
        BytesMut::with_capacity(fields.iter().map(|f| f.len() + 1).sum::<usize>() + last.len());
    for field in fields {
        body.put_slice(field);
        body.put_u8(0);
    }
    body.put_slice(last);
    body.freeze()
}

impl Conns {
    /// Put a new connection under `id`.
    pub fn insert(&mut self, id: ConnId, conn: Conn) {
        let index = id.0 as usize;
        if self.slots.len() <= index {
            self.slots.resize_with(index + 1, || None);
        }
        self.slots[index] = Some(conn);
    }

    /// Take a connection out of the table; what it held back is dropped with it.
    pub fn remove(&mut self, id: ConnId) -> Option<Conn> {
        self.slots.get_mut(id.0 as usize).and_then(Option::take)
    }

    /// The live connection `id`.
    pub fn get(&self, id: ConnId) -> Option<&Conn> {
        self.slots.get(id.0 as usize).and_then(Option::as_ref)
    }

    /// The live connection `id`, to change.
    pub fn get_mut(&mut self, id: ConnId) -> Option<&mut Conn> {
        self.slots.get_mut(id.0 as usize).and_then(Option::as_mut)
    }

    /// Every live connection, by id.
    pub fn iter(&self) -> impl Iterator<Item = &Conn> {
        self.slots.iter().flatten()
    }

    /// Every live connection with its id.
    pub fn with_ids(&self) -> impl Iterator<Item = (ConnId, &Conn)> {
        self.slots
            .iter()
            .enumerate()
            .filter_map(|(i, c)| Some((ConnId(u32::try_from(i).ok()?), c.as_ref()?)))
    }

    /// Every live connection, to change.
    pub fn iter_mut(&mut self) -> impl Iterator<Item = &mut Conn> {
        self.slots.iter_mut().flatten()
    }

    /// The connection `id` if output to it must wait behind an uncommitted JOB_CREATED.
    fn held(&mut self, id: ConnId) -> Option<&mut Conn> {
        self.get_mut(id).filter(|c| !c.deferred.is_empty())
    }

    /// Hold a request from `id` if it must wait (see the module documentation): any request
    /// once one is held, and a worker request (`worker`) while output is held. False when it
    /// may run now.
    pub fn hold_input(&mut self, id: ConnId, worker: bool, input: impl FnOnce() -> Held) -> bool {
        match self.held(id) {
            Some(conn) if worker || conn.held_inputs > 0 => {
                conn.deferred.push_back(Deferred::Input(input()));
                conn.held_inputs += 1;
                true
            }
            _ => false,
        }
    }

    /// Take what `id` holds out of its queue while one of its held requests runs; the request's
    /// own output then queues (or leaves) as if it ran now, ahead of what was set aside, which
    /// [`Conns::restore`] puts back behind it.
    pub fn set_aside(&mut self, id: ConnId) -> SetAside {
        let Some(conn) = self.get_mut(id) else {
            return SetAside::default();
        };
        SetAside {
            deferred: std::mem::take(&mut conn.deferred),
            inputs: std::mem::take(&mut conn.held_inputs),
        }
    }

    /// Put back what [`Conns::set_aside`] took, behind what was queued since.
    pub fn restore(&mut self, id: ConnId, mut aside: SetAside) {
        if let Some(conn) = self.get_mut(id) {
            conn.deferred.append(&mut aside.deferred);
            conn.held_inputs += aside.inputs;
        }
    }

    /// Send a packet to `id`: `fields` NUL-terminated, then the final field `last`.
    pub fn packet(
        &mut self,
        out: &mut impl Outbox,
        id: ConnId,
        kind: PacketType,
        fields: &[&[u8]],
        last: &[u8],
    ) {
        match self.held(id) {
            Some(conn) => conn.deferred.push_back(Deferred::Packet {
                kind,
                body: encode(fields, last),
            }),
            None => out.packet(id, kind, fields, last),
        }
    }

    /// [`Conns::packet`] with a shared final field, not copied on the common path (relayed
    /// results, workloads).
    pub fn packet_shared(
        &mut self,
        out: &mut impl Outbox,
        id: ConnId,
        kind: PacketType,
        fields: &[&[u8]],
        last: &Bytes,
    ) {
        match self.held(id) {
            Some(conn) => conn.deferred.push_back(Deferred::Packet {
                kind,
                body: if fields.is_empty() {
                    last.clone()
                } else {
                    encode(fields, last)
                },
            }),
            None => out.packet_shared(id, kind, fields, last),
        }
    }

    /// Send admin text to `id`, in one piece.
    pub fn text(&mut self, out: &mut impl Outbox, id: ConnId, text: &[u8]) {
        match self.held(id) {
            Some(conn) => conn
                .deferred
                .push_back(Deferred::Text(Bytes::copy_from_slice(text))),
            None => out.text(id, text),
        }
    }

    /// Send `ERROR code text` to `id`.
    pub fn error(&mut self, out: &mut impl Outbox, id: ConnId, code: &str, text: &str) {
        self.packet(
            out,
            id,
            PacketType::Error,
            &[code.as_bytes()],
            text.as_bytes(),
        );
    }

    /// Hold `id`'s output from here on until the store write `seq` of job `handle_no` is
    /// reported; then the JOB_CREATED (or ERROR) goes out first.
    pub fn hold_created(&mut self, id: ConnId, handle_no: u64, seq: u64) {
        if let Some(conn) = self.get_mut(id) {
            conn.deferred.push_back(Deferred::Created {
                handle_no,
                seq,
                outcome: None,
            });
        }
    }

    /// Hold `id`'s output from here on until the lookup `token` is answered with
    /// [`Conns::settle_lookup`]; then its `kind` reply (`None`: admin text) goes out first.
    pub fn hold_lookup(&mut self, id: ConnId, token: u64, kind: Option<PacketType>) {
        if let Some(conn) = self.get_mut(id) {
            conn.deferred.push_back(Deferred::Lookup {
                token,
                kind,
                body: None,
            });
        }
    }

    /// The reply to `id`'s lookup `token`: fields NUL-terminated, then `last`.
    pub fn settle_lookup(&mut self, id: ConnId, token: u64, fields: &[&[u8]], last: &[u8]) {
        let Some(conn) = self.get_mut(id) else {
            return;
        };
        for deferred in conn.deferred.iter_mut() {
            if let Deferred::Lookup { token: t, body, .. } = deferred {
                if *t == token {
                    *body = Some(encode(fields, last));
                    return;
                }
            }
        }
    }

    /// Record the outcome of the store write `seq` in `id`'s first JOB_CREATED waiting for it.
    pub fn settle_created(&mut self, id: ConnId, seq: u64, created: Created) {
        let Some(conn) = self.get_mut(id) else {
            return;
        };
        let entry = conn.deferred.iter_mut().find_map(|d| match d {
            Deferred::Created {
                seq: s, outcome, ..
            } if *s == seq && outcome.is_none() => Some(outcome),
            _ => None,
        });
        if let Some(outcome) = entry {
            *outcome = Some(created);
        }
    }

    /// Send what `id` held back, up to the first JOB_CREATED still waiting for its commit (or
    /// status reply waiting for its lookup) or the first held request, which is taken out and returned for the engine to run (between
    /// [`Conns::set_aside`] and [`Conns::restore`]) before it calls this again. Handles are
    /// `handle_prefix` followed by the number.
    pub fn release(
        &mut self,
        out: &mut impl Outbox,
        id: ConnId,
        handle_prefix: &[u8],
    ) -> Option<Held> {
        let conn = self.get_mut(id)?;
        let deferred = &mut conn.deferred;
        while let Some(front) = deferred.front() {
            match front {
                Deferred::Created { outcome: None, .. } | Deferred::Lookup { body: None, .. } => {
                    break
                }
                Deferred::Lookup {
                    kind,
                    body: Some(body),
                    ..
                } => match kind {
                    Some(kind) => out.packet_shared(id, *kind, &[], body),
                    None => out.text(id, body),
                },
                Deferred::Created {
                    handle_no,
                    outcome: Some(Created::Stored),
                    ..
                } => {
                    let handle = format_handle(handle_prefix, *handle_no);
                    out.packet(id, PacketType::JobCreated, &[], handle.as_bytes());
                }
                Deferred::Created {
                    outcome: Some(Created::Joined(handle)),
                    ..
                } => out.packet(id, PacketType::JobCreated, &[], handle),
                Deferred::Created {
                    outcome: Some(Created::Failed(reason)),
                    ..
                } => out.packet(id, PacketType::Error, &[b"QUEUE_ERROR"], reason),
                Deferred::Packet { kind, body } => out.packet_shared(id, *kind, &[], body),
                Deferred::Text(text) => out.text(id, text),
                Deferred::Input(_) => {
                    conn.held_inputs -= 1;
                    return match deferred.pop_front() {
                        Some(Deferred::Input(held)) => Some(held),
                        _ => None,
                    };
                }
            }
            deferred.pop_front();
        }
        None
    }
}
