//! Direct replies: the answers to a connection's own requests (JOB_CREATED, ERROR, JOB_ASSIGN,
//! NO_JOB, STATUS_RES, ECHO_RES, OPTION_RES, admin text).
//!
//! Clients match these to their requests by order alone, so they must leave in request order.
//! When a connection has a JOB_CREATED waiting for its store commit, every later direct reply
//! waits behind it in the connection's deferred queue. Asynchronous packets (NOOP, relayed
//! WORK_*) never wait: the protocol lets them interleave anywhere.

use bytes::{BufMut, Bytes, BytesMut};
use gearbox_proto::PacketType;

use super::conn::{Conn, Deferred};
use super::{ConnId, Outbox};

fn gate(conns: &mut [Option<Conn>], id: ConnId) -> Option<&mut Conn> {
    conns
        .get_mut(id.0 as usize)
        .and_then(Option::as_mut)
        .filter(|c| !c.deferred.is_empty())
}

fn body(fields: &[&[u8]], last: &[u8]) -> Bytes {
    let mut body =
        BytesMut::with_capacity(fields.iter().map(|f| f.len() + 1).sum::<usize>() + last.len());
    for field in fields {
        body.put_slice(field);
        body.put_u8(0);
    }
    body.put_slice(last);
    body.freeze()
}

/// Send a direct reply to `id`, or queue it behind a pending JOB_CREATED.
pub fn reply(
    conns: &mut [Option<Conn>],
    out: &mut impl Outbox,
    id: ConnId,
    kind: PacketType,
    fields: &[&[u8]],
    last: &[u8],
) {
    match gate(conns, id) {
        Some(conn) => conn.deferred.push_back(Deferred::Packet {
            kind,
            body: body(fields, last),
        }),
        None => out.packet(id, kind, fields, last),
    }
}

/// [`reply`] with a shared final field that is not copied on the common path.
pub fn reply_shared(
    conns: &mut [Option<Conn>],
    out: &mut impl Outbox,
    id: ConnId,
    kind: PacketType,
    fields: &[&[u8]],
    last: &Bytes,
) {
    match gate(conns, id) {
        Some(conn) => conn.deferred.push_back(Deferred::Packet {
            kind,
            body: body(fields, last),
        }),
        None => out.packet_shared(id, kind, fields, last),
    }
}

/// Send an admin answer, or queue it behind a pending JOB_CREATED.
pub fn reply_text(conns: &mut [Option<Conn>], out: &mut impl Outbox, id: ConnId, text: &[u8]) {
    match gate(conns, id) {
        Some(conn) => conn
            .deferred
            .push_back(Deferred::Text(Bytes::copy_from_slice(text))),
        None => out.text(id, text),
    }
}

/// Send `ERROR code text` as a direct reply.
pub fn error(
    conns: &mut [Option<Conn>],
    out: &mut impl Outbox,
    id: ConnId,
    code: &str,
    text: &str,
) {
    reply(
        conns,
        out,
        id,
        PacketType::Error,
        &[code.as_bytes()],
        text.as_bytes(),
    );
}
