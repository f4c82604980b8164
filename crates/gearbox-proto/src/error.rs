//! Protocol errors: what a peer can get wrong on the wire.
//!
//! Every variant carries enough context to log one clear line. None of them is fatal to the
//! server: the connection layer decides whether the stream is still in step (answer ERROR and
//! go on) or not (close that one connection).

use crate::packet::PacketType;

/// A violation of the Gearman framing or argument layout by the peer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ProtoError {
    /// The first four bytes of a binary packet were neither `\0REQ` nor `\0RES`.
    #[error("bad magic {0:02x?}")]
    BadMagic([u8; 4]),
    /// The packet type number is not one of the 42 Gearman types (0 and ≥ 43 included).
    #[error("unknown packet type {0}")]
    UnknownType(u32),
    /// The declared body size is above the configured limit; nothing was allocated for it.
    #[error("packet body of {size} bytes exceeds the limit of {max} bytes")]
    BodyTooLarge {
        /// Size the header declared.
        size: u32,
        /// The codec's limit.
        max: u32,
    },
    /// The body has fewer NUL-terminated fields than the packet type requires.
    #[error("{kind:?} needs {expected} arguments, found {found}")]
    Arity {
        /// Packet type whose layout was violated.
        kind: PacketType,
        /// Number of arguments the type requires.
        expected: usize,
        /// Number of arguments found in the body.
        found: usize,
    },
    /// A text (admin) line grew past the limit without a newline.
    #[error("admin command line longer than {max} bytes")]
    AdminLineTooLong {
        /// The codec's limit.
        max: usize,
    },
}
