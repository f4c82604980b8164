//! Binary packets: the 42 packet types, their argument layouts, and encoding.
//!
//! A packet is a 12-byte header (magic, type, body size, big-endian) and a body made of `n`
//! NUL-terminated fields followed by one final field that runs to the end of the body and may
//! contain NULs (PROTOCOL.md §3.2). `n` is fixed per type and kept here in one table, so a data
//! field is never split on an embedded NUL. Splitting is bounded by the body: a packet can never
//! swallow bytes of the next one (gearmand's desynchronisation bug, §3.3).

use bytes::{BufMut, Bytes, BytesMut};

use crate::error::ProtoError;

/// Length of the binary header: magic (4), type (4), body size (4).
pub const HEADER_LEN: usize = 12;

/// Direction marker in the first four bytes of a binary packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Magic {
    /// `\0REQ`: sent to a server (by clients and workers).
    Req,
    /// `\0RES`: sent by a server.
    Res,
}

impl Magic {
    /// The four bytes on the wire.
    pub const fn bytes(self) -> &'static [u8; 4] {
        match self {
            Magic::Req => b"\0REQ",
            Magic::Res => b"\0RES",
        }
    }

    /// Recognise the four magic bytes.
    pub fn parse(bytes: [u8; 4]) -> Result<Magic, ProtoError> {
        match &bytes {
            b"\0REQ" => Ok(Magic::Req),
            b"\0RES" => Ok(Magic::Res),
            _ => Err(ProtoError::BadMagic(bytes)),
        }
    }
}

/// How a packet type's body is laid out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arity {
    /// No arguments. Body bytes, if any, are read and ignored (gearmand does the same).
    None,
    /// `n` NUL-terminated fields, then one final field to the end of the body.
    Fields(usize),
}

impl Arity {
    /// Total number of arguments (terminated fields plus the final one).
    pub const fn count(self) -> usize {
        match self {
            Arity::None => 0,
            Arity::Fields(n) => n + 1,
        }
    }
}

macro_rules! packet_types {
    ($( $(#[$doc:meta])* $variant:ident = $num:literal, $wire:literal, $arity:expr; )*) => {
        /// The Gearman packet types, numbered as on the wire (PROTOCOL.md §4).
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        #[repr(u32)]
        pub enum PacketType {
            $( $(#[$doc])* $variant = $num, )*
        }

        impl PacketType {
            /// Every packet type, in wire-number order.
            pub const ALL: &'static [PacketType] = &[$(PacketType::$variant),*];

            /// The type for a wire number, or `None` for 0 and numbers above 42.
            pub const fn from_u32(value: u32) -> Option<PacketType> {
                match value {
                    $( $num => Some(PacketType::$variant), )*
                    _ => None,
                }
            }

            /// The wire number.
            pub const fn number(self) -> u32 {
                self as u32
            }

            /// The protocol's name for the type, e.g. `SUBMIT_JOB_LOW_BG`.
            pub const fn name(self) -> &'static str {
                match self {
                    $( PacketType::$variant => $wire, )*
                }
            }

            /// The body layout of the type.
            pub const fn arity(self) -> Arity {
                match self {
                    $( PacketType::$variant => $arity, )*
                }
            }
        }
    };
}

use Arity::{Fields, None as NoArgs};

packet_types! {
    /// `CAN_DO function`: a worker registers a function.
    CanDo = 1, "CAN_DO", Fields(0);
    /// `CANT_DO function`: a worker unregisters a function.
    CantDo = 2, "CANT_DO", Fields(0);
    /// `RESET_ABILITIES`: a worker unregisters every function.
    ResetAbilities = 3, "RESET_ABILITIES", NoArgs;
    /// `PRE_SLEEP`: a worker is about to wait for a NOOP.
    PreSleep = 4, "PRE_SLEEP", NoArgs;
    /// Type 5 is reserved and never valid.
    Unused = 5, "UNUSED", NoArgs;
    /// `NOOP`: wake-up hint to a sleeping worker.
    Noop = 6, "NOOP", NoArgs;
    /// `SUBMIT_JOB function unique data`: normal-priority foreground job.
    SubmitJob = 7, "SUBMIT_JOB", Fields(2);
    /// `JOB_CREATED handle`: answer to a submission.
    JobCreated = 8, "JOB_CREATED", Fields(0);
    /// `GRAB_JOB`: a worker asks for a job.
    GrabJob = 9, "GRAB_JOB", NoArgs;
    /// `NO_JOB`: nothing to hand out.
    NoJob = 10, "NO_JOB", NoArgs;
    /// `JOB_ASSIGN handle function data`: answer to GRAB_JOB.
    JobAssign = 11, "JOB_ASSIGN", Fields(2);
    /// `WORK_STATUS handle numerator denominator`: progress, relayed to clients.
    WorkStatus = 12, "WORK_STATUS", Fields(2);
    /// `WORK_COMPLETE handle data`: the result; terminal.
    WorkComplete = 13, "WORK_COMPLETE", Fields(1);
    /// `WORK_FAIL handle`: failure; terminal.
    WorkFail = 14, "WORK_FAIL", Fields(0);
    /// `GET_STATUS handle`: status query by handle.
    GetStatus = 15, "GET_STATUS", Fields(0);
    /// `ECHO_REQ data`: echo request.
    EchoReq = 16, "ECHO_REQ", Fields(0);
    /// `ECHO_RES data`: echo answer.
    EchoRes = 17, "ECHO_RES", Fields(0);
    /// `SUBMIT_JOB_BG function unique data`: normal-priority background job.
    SubmitJobBg = 18, "SUBMIT_JOB_BG", Fields(2);
    /// `ERROR code text`: an error answer.
    Error = 19, "ERROR", Fields(1);
    /// `STATUS_RES handle known running numerator denominator`.
    StatusRes = 20, "STATUS_RES", Fields(4);
    /// `SUBMIT_JOB_HIGH function unique data`: high-priority foreground job.
    SubmitJobHigh = 21, "SUBMIT_JOB_HIGH", Fields(2);
    /// `SET_CLIENT_ID id`: label the connection.
    SetClientId = 22, "SET_CLIENT_ID", Fields(0);
    /// `CAN_DO_TIMEOUT function timeout`: register with a run-time limit.
    CanDoTimeout = 23, "CAN_DO_TIMEOUT", Fields(1);
    /// `ALL_YOURS`: reserved, never implemented by gearmand.
    AllYours = 24, "ALL_YOURS", NoArgs;
    /// `WORK_EXCEPTION handle data`: exception; terminal.
    WorkException = 25, "WORK_EXCEPTION", Fields(1);
    /// `OPTION_REQ option`: set a connection option.
    OptionReq = 26, "OPTION_REQ", Fields(0);
    /// `OPTION_RES option`: option accepted.
    OptionRes = 27, "OPTION_RES", Fields(0);
    /// `WORK_DATA handle data`: partial data, relayed to clients.
    WorkData = 28, "WORK_DATA", Fields(1);
    /// `WORK_WARNING handle data`: warning, relayed to clients.
    WorkWarning = 29, "WORK_WARNING", Fields(1);
    /// `GRAB_JOB_UNIQ`: ask for a job, with its unique.
    GrabJobUniq = 30, "GRAB_JOB_UNIQ", NoArgs;
    /// `JOB_ASSIGN_UNIQ handle function unique data`.
    JobAssignUniq = 31, "JOB_ASSIGN_UNIQ", Fields(3);
    /// `SUBMIT_JOB_HIGH_BG function unique data`.
    SubmitJobHighBg = 32, "SUBMIT_JOB_HIGH_BG", Fields(2);
    /// `SUBMIT_JOB_LOW function unique data`.
    SubmitJobLow = 33, "SUBMIT_JOB_LOW", Fields(2);
    /// `SUBMIT_JOB_LOW_BG function unique data`.
    SubmitJobLowBg = 34, "SUBMIT_JOB_LOW_BG", Fields(2);
    /// `SUBMIT_JOB_SCHED function unique minute hour mday month wday data`: never implemented by
    /// gearmand; gearboxd creates a recurring schedule.
    SubmitJobSched = 35, "SUBMIT_JOB_SCHED", Fields(7);
    /// `SUBMIT_JOB_EPOCH function unique epoch data`: background job run at a Unix time.
    SubmitJobEpoch = 36, "SUBMIT_JOB_EPOCH", Fields(3);
    /// `SUBMIT_REDUCE_JOB function unique reducer aggregator data`.
    SubmitReduceJob = 37, "SUBMIT_REDUCE_JOB", Fields(4);
    /// `SUBMIT_REDUCE_JOB_BACKGROUND function unique reducer aggregator data`.
    SubmitReduceJobBackground = 38, "SUBMIT_REDUCE_JOB_BACKGROUND", Fields(4);
    /// `GRAB_JOB_ALL`: ask for a job with unique and reducer.
    GrabJobAll = 39, "GRAB_JOB_ALL", NoArgs;
    /// `JOB_ASSIGN_ALL handle function unique reducer data`.
    JobAssignAll = 40, "JOB_ASSIGN_ALL", Fields(4);
    /// `GET_STATUS_UNIQUE unique`: status query by unique.
    GetStatusUnique = 41, "GET_STATUS_UNIQUE", Fields(0);
    /// `STATUS_RES_UNIQUE unique known running numerator denominator waiting_clients`.
    StatusResUnique = 42, "STATUS_RES_UNIQUE", Fields(5);
}

impl TryFrom<u32> for PacketType {
    type Error = ProtoError;

    fn try_from(value: u32) -> Result<Self, ProtoError> {
        PacketType::from_u32(value).ok_or(ProtoError::UnknownType(value))
    }
}

/// The most arguments any packet type has (SUBMIT_JOB_SCHED: seven fields plus data).
const MAX_ARGS: usize = 8;

/// The arguments of one packet, borrowed from its body.
#[derive(Debug, Clone, Copy)]
pub struct Args<'a> {
    parts: [&'a [u8]; MAX_ARGS],
    len: usize,
}

impl<'a> Args<'a> {
    /// Argument `i`; an empty slice when out of range.
    pub fn get(&self, i: usize) -> &'a [u8] {
        if i < self.len {
            self.parts[i]
        } else {
            &[]
        }
    }

    /// Number of arguments.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True for packet types without arguments.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The final (unterminated, possibly NUL-containing) argument.
    pub fn last(&self) -> &'a [u8] {
        if self.len == 0 {
            &[]
        } else {
            self.parts[self.len - 1]
        }
    }
}

/// A decoded binary packet. The body is a shared buffer: slicing it never copies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Packet {
    /// Direction marker as received.
    pub magic: Magic,
    /// Packet type.
    pub kind: PacketType,
    /// The raw body (everything after the header).
    pub body: Bytes,
}

impl Packet {
    /// Build a packet from its arguments; the last one is the unterminated final field.
    pub fn new(magic: Magic, kind: PacketType, args: &[&[u8]]) -> Packet {
        let mut body = BytesMut::with_capacity(args.iter().map(|a| a.len() + 1).sum());
        for (i, arg) in args.iter().enumerate() {
            body.put_slice(arg);
            if i + 1 < args.len() {
                body.put_u8(0);
            }
        }
        Packet {
            magic,
            kind,
            body: body.freeze(),
        }
    }

    /// A request packet (`\0REQ`).
    pub fn req(kind: PacketType, args: &[&[u8]]) -> Packet {
        Packet::new(Magic::Req, kind, args)
    }

    /// A response packet (`\0RES`).
    pub fn res(kind: PacketType, args: &[&[u8]]) -> Packet {
        Packet::new(Magic::Res, kind, args)
    }

    /// Split the body into the type's arguments, bounded by the body.
    pub fn args(&self) -> Result<Args<'_>, ProtoError> {
        let mut parts: [&[u8]; MAX_ARGS] = [&[]; MAX_ARGS];
        let n = match self.kind.arity() {
            Arity::None => return Ok(Args { parts, len: 0 }),
            Arity::Fields(n) => n,
        };
        let mut rest: &[u8] = &self.body;
        for (i, part) in parts.iter_mut().enumerate().take(n) {
            match rest.iter().position(|&b| b == 0) {
                Some(end) => {
                    *part = &rest[..end];
                    rest = &rest[end + 1..];
                }
                None => {
                    return Err(ProtoError::Arity {
                        kind: self.kind,
                        expected: n + 1,
                        found: i + 1,
                    })
                }
            }
        }
        parts[n] = rest;
        Ok(Args { parts, len: n + 1 })
    }

    /// A shared (zero-copy) handle on an argument returned by [`Packet::args`].
    pub fn share(&self, arg: &[u8]) -> Bytes {
        if arg.is_empty() {
            Bytes::new()
        } else {
            self.body.slice_ref(arg)
        }
    }

    /// Append the packet's wire form to `out`.
    pub fn encode(&self, out: &mut BytesMut) {
        out.reserve(HEADER_LEN + self.body.len());
        out.put_slice(self.magic.bytes());
        out.put_u32(self.kind.number());
        out.put_u32(body_size(self.body.len()));
        out.put_slice(&self.body);
    }

    /// The packet's wire form as a new buffer.
    pub fn to_bytes(&self) -> Bytes {
        let mut out = BytesMut::with_capacity(HEADER_LEN + self.body.len());
        self.encode(&mut out);
        out.freeze()
    }
}

/// Body sizes are u32 on the wire; the codec never accepts or builds anything larger, so a
/// larger value here is a caller bug and saturates rather than wrapping into a short header.
fn body_size(len: usize) -> u32 {
    u32::try_from(len).unwrap_or(u32::MAX)
}

/// Append a header and the NUL-terminated `fields`, declaring a body that also holds a final
/// field of `final_len` bytes which the caller appends next (possibly as a separate buffer, so
/// that a large payload is written without being copied).
pub fn encode_head(
    out: &mut BytesMut,
    magic: Magic,
    kind: PacketType,
    fields: &[&[u8]],
    final_len: usize,
) {
    let fields_len: usize = fields.iter().map(|f| f.len() + 1).sum();
    out.reserve(HEADER_LEN + fields_len);
    out.put_slice(magic.bytes());
    out.put_u32(kind.number());
    out.put_u32(body_size(fields_len + final_len));
    for field in fields {
        out.put_slice(field);
        out.put_u8(0);
    }
}

/// Append a whole packet: NUL-terminated `fields`, then the final field `last`.
pub fn encode_packet(
    out: &mut BytesMut,
    magic: Magic,
    kind: PacketType,
    fields: &[&[u8]],
    last: &[u8],
) {
    encode_head(out, magic, kind, fields, last.len());
    out.put_slice(last);
}
