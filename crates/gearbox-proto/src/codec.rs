//! Framing: turning a byte stream into binary packets and admin text lines.
//!
//! One port carries both (PROTOCOL.md §2): at a frame boundary a `0x00` byte starts a binary
//! packet, anything else a text line ending in `\n`. Decoding is two-phase: check that a whole
//! frame is buffered, then split it off without copying. "Need more bytes" is `Ok(None)` and
//! allocates nothing; an untrusted declared size is checked against the limit before anything is
//! reserved for it.

use bytes::{Buf, Bytes, BytesMut};

use crate::error::ProtoError;
use crate::packet::{Magic, Packet, PacketType, HEADER_LEN};

/// Default cap on a packet body: 64 MiB.
pub const DEFAULT_MAX_BODY: u32 = 64 * 1024 * 1024;
/// Default cap on an admin line, gearmand's ~8 KiB.
pub const DEFAULT_MAX_ADMIN_LINE: usize = 8192;

/// One unit of input on a Gearman port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    /// A binary packet.
    Packet(Packet),
    /// A text line, without its `\n` and without one `\r` before it.
    Admin(Bytes),
}

/// Stateless decoder with its limits.
#[derive(Debug, Clone, Copy)]
pub struct Codec {
    /// Largest accepted body size in bytes.
    pub max_body: u32,
    /// Longest accepted admin line, newline excluded.
    pub max_admin_line: usize,
}

impl Default for Codec {
    fn default() -> Self {
        Codec {
            max_body: DEFAULT_MAX_BODY,
            max_admin_line: DEFAULT_MAX_ADMIN_LINE,
        }
    }
}

impl Codec {
    /// Take one frame off the front of `buf`. `Ok(None)` means "buffer more bytes"; an error
    /// means the peer broke the framing and the stream cannot be trusted any more.
    pub fn decode(&self, buf: &mut BytesMut) -> Result<Option<Frame>, ProtoError> {
        let Some(&first) = buf.first() else {
            return Ok(None);
        };
        if first != 0 {
            return self.decode_line(buf);
        }
        if buf.len() < HEADER_LEN {
            return Ok(None);
        }
        let magic = Magic::parse([buf[0], buf[1], buf[2], buf[3]])?;
        let kind = PacketType::try_from(u32::from_be_bytes([buf[4], buf[5], buf[6], buf[7]]))?;
        let size = u32::from_be_bytes([buf[8], buf[9], buf[10], buf[11]]);
        if size > self.max_body {
            return Err(ProtoError::BodyTooLarge {
                size,
                max: self.max_body,
            });
        }
        // Nothing is reserved for a body that has not arrived: the size is the peer's claim, and
        // a 12-byte header must not be able to make us allocate up to `max_body`.
        let total = HEADER_LEN.saturating_add(size as usize);
        if buf.len() < total {
            return Ok(None);
        }
        buf.advance(HEADER_LEN);
        let body = buf.split_to(total - HEADER_LEN).freeze();
        Ok(Some(Frame::Packet(Packet { magic, kind, body })))
    }

    fn decode_line(&self, buf: &mut BytesMut) -> Result<Option<Frame>, ProtoError> {
        let window = buf.len().min(self.max_admin_line.saturating_add(2));
        match buf[..window].iter().position(|&b| b == b'\n') {
            Some(end) => {
                let mut line = buf.split_to(end + 1);
                line.truncate(end);
                if line.last() == Some(&b'\r') {
                    line.truncate(end - 1);
                }
                if line.len() > self.max_admin_line {
                    return Err(ProtoError::AdminLineTooLong {
                        max: self.max_admin_line,
                    });
                }
                Ok(Some(Frame::Admin(line.freeze())))
            }
            None if buf.len() > self.max_admin_line.saturating_add(1) => {
                Err(ProtoError::AdminLineTooLong {
                    max: self.max_admin_line,
                })
            }
            None => Ok(None),
        }
    }
}
