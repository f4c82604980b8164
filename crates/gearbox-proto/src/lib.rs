//! The Gearman wire protocol, with no I/O: packet types and their argument layouts, the binary
//! framing (12-byte header, NUL-separated arguments), the text admin line, and the admin
//! command grammar that gearmand 1.1.20 accepts.
//!
//! This crate owns byte-exactness. It never blocks, never allocates to wait for more bytes, and
//! never panics on what a peer sends: every malformed input becomes a [`ProtoError`] or an
//! [`AdminError`]. Limits (body size, admin line length) are fields of the [`Codec`], not
//! constants buried in functions. Policy (what a server does with a packet) lives elsewhere.

mod admin;
mod admin_reply;
mod codec;
mod error;
mod packet;

pub use admin::{AdminCommand, AdminError, DeadSelector, ResultKey, MAX_ADMIN_TOKENS};
pub use admin_reply::{AdminErr, AdminReply, AdminReplyReader, ReplyShape};
pub use codec::{Codec, Frame, DEFAULT_MAX_ADMIN_LINE, DEFAULT_MAX_BODY};
pub use error::ProtoError;
pub use packet::{encode_head, encode_packet, Args, Arity, Magic, Packet, PacketType, HEADER_LEN};
