//! Raw-socket helpers for the wire-level tests (the differential suite, `bad_input.rs`).
//!
//! [`Conn`] is a plain blocking TCP connection that writes arbitrary bytes and reads the
//! server's output back as [`Reply`] items: binary packets (decoded with `gearbox_proto`) and
//! admin text lines (kept raw, line ending included, so LF and CRLF stay distinguishable).
//! Every read has a deadline ([`TIMEOUT`]), so a server that stays silent fails the test
//! instead of hanging it. Nothing here interprets what the server means: the helpers only
//! frame, send, read and describe bytes, and must never wait without a deadline.

use std::fmt::Write as _;
use std::fs;
use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::BytesMut;
use gearbox_proto::{Codec, Frame, Packet, PacketType, HEADER_LEN};

/// How long any single expected reply may take before the test fails.
pub const TIMEOUT: Duration = Duration::from_secs(10);

/// A request packet (`\0REQ`): the last argument is the final field, the others are
/// NUL-terminated.
pub fn req(kind: PacketType, args: &[&[u8]]) -> Vec<u8> {
    Packet::req(kind, args).to_bytes().to_vec()
}

/// A packet with arbitrary magic, type number and body, for malformed input.
pub fn raw_packet(magic: &[u8; 4], kind: u32, body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(HEADER_LEN + body.len());
    out.extend_from_slice(magic);
    out.extend_from_slice(&kind.to_be_bytes());
    out.extend_from_slice(&u32::try_from(body.len()).unwrap().to_be_bytes());
    out.extend_from_slice(body);
    out
}

/// A header only, declaring `size` body bytes that may never be sent.
pub fn raw_header(magic: &[u8; 4], kind: u32, size: u32) -> Vec<u8> {
    let mut out = Vec::with_capacity(HEADER_LEN);
    out.extend_from_slice(magic);
    out.extend_from_slice(&kind.to_be_bytes());
    out.extend_from_slice(&size.to_be_bytes());
    out
}

/// One unit of server output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    /// A binary packet.
    Packet(Packet),
    /// An admin text line with its `\n` (and `\r`, if any).
    Line(Vec<u8>),
    /// Bytes left when the server closed the connection in the middle of a frame.
    Partial(Vec<u8>),
}

impl Reply {
    /// The packet, or a panic naming what came instead.
    pub fn packet(&self) -> &Packet {
        match self {
            Reply::Packet(p) => p,
            other => panic!("expected a binary packet, got {}", other.describe()),
        }
    }

    /// The packet's arguments as owned byte strings.
    pub fn args(&self) -> Vec<Vec<u8>> {
        let p = self.packet();
        let args = p
            .args()
            .unwrap_or_else(|e| panic!("reply {:?} does not split: {e}", p.kind));
        (0..args.len()).map(|i| args.get(i).to_vec()).collect()
    }

    /// True for a packet of this type.
    pub fn is(&self, kind: PacketType) -> bool {
        matches!(self, Reply::Packet(p) if p.kind == kind)
    }

    /// A readable one-line rendering (no normalisation).
    pub fn describe(&self) -> String {
        match self {
            Reply::Packet(p) => {
                let magic = match p.magic {
                    gearbox_proto::Magic::Req => "REQ ",
                    gearbox_proto::Magic::Res => "",
                };
                format!("{magic}{} {}", p.kind.name(), short(&p.body))
            }
            Reply::Line(l) => format!("line {}", short(l)),
            Reply::Partial(b) => format!("partial {}", short(b)),
        }
    }
}

/// [`esc`], abbreviated to its first 100 bytes and the total length for long input.
pub fn short(bytes: &[u8]) -> String {
    if bytes.len() <= 200 {
        esc(bytes)
    } else {
        format!("{}... ({} bytes)", esc(&bytes[..100]), bytes.len())
    }
}

/// Bytes as a quoted string with non-printable bytes escaped.
pub fn esc(bytes: &[u8]) -> String {
    let mut s = String::from("\"");
    for &b in bytes {
        match b {
            b'\n' => s.push_str("\\n"),
            b'\r' => s.push_str("\\r"),
            b'\t' => s.push_str("\\t"),
            0 => s.push_str("\\0"),
            b'"' => s.push_str("\\\""),
            b'\\' => s.push_str("\\\\"),
            0x20..=0x7e => s.push(char::from(b)),
            _ => {
                let _ = write!(s, "\\x{b:02x}");
            }
        }
    }
    s.push('"');
    s
}

/// Why a read returned without a reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReadEnd {
    /// The server closed the connection (EOF or reset).
    Closed,
    /// Nothing arrived before the deadline.
    TimedOut,
}

static SYNC_TOKENS: AtomicU64 = AtomicU64::new(1);

/// A raw client connection.
pub struct Conn {
    stream: TcpStream,
    buf: BytesMut,
    closed: bool,
    codec: Codec,
}

impl Conn {
    /// Connect over loopback, with Nagle off.
    pub fn connect(addr: SocketAddr) -> Conn {
        let stream = TcpStream::connect_timeout(&addr, TIMEOUT)
            .unwrap_or_else(|e| panic!("connecting to {addr}: {e}"));
        stream.set_nodelay(true).unwrap();
        stream.set_write_timeout(Some(TIMEOUT * 2)).unwrap();
        Conn {
            stream,
            buf: BytesMut::new(),
            closed: false,
            codec: Codec::default(),
        }
    }

    /// The socket, for options the helpers do not cover.
    pub fn stream(&self) -> &TcpStream {
        &self.stream
    }

    /// Write all of `bytes`.
    pub fn send(&mut self, bytes: &[u8]) {
        self.stream
            .write_all(bytes)
            .unwrap_or_else(|e| panic!("writing {} bytes: {e}", bytes.len()));
    }

    /// Write all of `bytes`, reporting failure instead of panicking.
    pub fn try_send(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.stream.write_all(bytes)
    }

    /// Write one request packet.
    pub fn send_req(&mut self, kind: PacketType, args: &[&[u8]]) {
        self.send(&req(kind, args));
    }

    /// Half-close: tell the server no more bytes follow.
    pub fn shutdown_write(&mut self) {
        let _ = self.stream.shutdown(Shutdown::Write);
    }

    /// Take one complete frame from the buffer, if there is one.
    fn take_frame(&mut self) -> Option<Reply> {
        let first = *self.buf.first()?;
        if first == 0 {
            match self.codec.decode(&mut self.buf) {
                Ok(Some(Frame::Packet(p))) => Some(Reply::Packet(p)),
                Ok(Some(Frame::Admin(_))) => unreachable!("a frame starting with 0 is binary"),
                Ok(None) => None,
                Err(e) => panic!(
                    "server sent an undecodable packet ({e}): {}",
                    short(&self.buf)
                ),
            }
        } else {
            let end = self.buf.iter().position(|&b| b == b'\n')?;
            Some(Reply::Line(self.buf.split_to(end + 1).to_vec()))
        }
    }

    /// Whatever bytes are buffered or arrive before `deadline`, undecoded. Panics at EOF.
    pub fn take_raw(&mut self, deadline: Instant) -> Vec<u8> {
        if self.buf.is_empty() {
            assert!(!self.closed, "connection closed");
            let left = deadline.saturating_duration_since(Instant::now());
            self.stream
                .set_read_timeout(Some(left.max(Duration::from_millis(1))))
                .unwrap();
            let mut chunk = [0u8; 65536];
            match self.stream.read(&mut chunk) {
                Ok(0) => panic!("connection closed"),
                Ok(n) => return chunk[..n].to_vec(),
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                    return Vec::new()
                }
                Err(e) => panic!("reading: {e}"),
            }
        }
        self.buf.split().to_vec()
    }

    /// The next reply, waiting at most `timeout`.
    pub fn recv_within(&mut self, timeout: Duration) -> Result<Reply, ReadEnd> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(reply) = self.take_frame() {
                return Ok(reply);
            }
            if self.closed {
                if self.buf.is_empty() {
                    return Err(ReadEnd::Closed);
                }
                let rest = self.buf.split().to_vec();
                return Ok(Reply::Partial(rest));
            }
            let now = Instant::now();
            if now >= deadline {
                return Err(ReadEnd::TimedOut);
            }
            self.stream
                .set_read_timeout(Some((deadline - now).max(Duration::from_millis(1))))
                .unwrap();
            let mut chunk = [0u8; 65536];
            match self.stream.read(&mut chunk) {
                Ok(0) => self.closed = true,
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                // A reset is how a server that closes with unread input looks from here.
                Err(_) => self.closed = true,
            }
        }
    }

    /// The next reply; panics on timeout or if the connection closes.
    pub fn recv(&mut self) -> Reply {
        match self.recv_within(TIMEOUT) {
            Ok(r) => r,
            Err(end) => panic!("expected a reply, got {end:?}"),
        }
    }

    /// Exactly `n` replies.
    pub fn recv_n(&mut self, n: usize) -> Vec<Reply> {
        let mut out = Vec::with_capacity(n);
        for i in 0..n {
            match self.recv_within(TIMEOUT) {
                Ok(r) => out.push(r),
                Err(end) => panic!(
                    "expected {n} replies, got {i} then {end:?}: {:?}",
                    out.iter().map(Reply::describe).collect::<Vec<_>>()
                ),
            }
        }
        out
    }

    /// Round-trip an ECHO with a fresh token and return everything the server sent before
    /// its answer. The server answers a connection's requests in order, so this is every
    /// direct reply to what was sent before, plus any asynchronous packet already queued.
    pub fn sync(&mut self) -> Vec<Reply> {
        let token = format!("sync-{}", SYNC_TOKENS.fetch_add(1, Ordering::Relaxed));
        self.send_req(PacketType::EchoReq, &[token.as_bytes()]);
        let mut out = Vec::new();
        loop {
            match self.recv_within(TIMEOUT) {
                Ok(Reply::Packet(p))
                    if p.kind == PacketType::EchoRes && p.body.as_ref() == token.as_bytes() =>
                {
                    return out
                }
                Ok(r) => out.push(r),
                Err(end) => panic!(
                    "waiting for the sync echo: {end:?} after {:?}",
                    out.iter().map(Reply::describe).collect::<Vec<_>>()
                ),
            }
        }
    }

    /// Send `bytes`, then [`Conn::sync`].
    pub fn request(&mut self, bytes: &[u8]) -> Vec<Reply> {
        self.send(bytes);
        self.sync()
    }

    /// One request packet, then [`Conn::sync`].
    pub fn request_req(&mut self, kind: PacketType, args: &[&[u8]]) -> Vec<Reply> {
        self.request(&req(kind, args))
    }

    /// Read one text line; panics if a packet, EOF or nothing arrives.
    pub fn recv_line(&mut self) -> Vec<u8> {
        match self.recv() {
            Reply::Line(l) => l,
            other => panic!("expected a text line, got {}", other.describe()),
        }
    }

    /// Send an admin line (`\n` appended) and read a one-line answer.
    pub fn admin_line(&mut self, line: &str) -> Vec<u8> {
        self.send(format!("{line}\n").as_bytes());
        self.recv_line()
    }

    /// Send an admin line (`\n` appended) and read a listing up to and including its `.` line.
    pub fn admin_list(&mut self, line: &str) -> Vec<Vec<u8>> {
        self.send(format!("{line}\n").as_bytes());
        self.recv_list()
    }

    /// Read lines up to and including a `.` line.
    pub fn recv_list(&mut self) -> Vec<Vec<u8>> {
        let mut lines = Vec::new();
        loop {
            let line = self.recv_line();
            let done = line == b".\n";
            lines.push(line);
            if done {
                return lines;
            }
        }
    }

    /// Read until the server closes the connection; returns what came before. Panics if the
    /// connection is still open after `timeout`.
    pub fn expect_closed_within(&mut self, timeout: Duration) -> Vec<Reply> {
        let deadline = Instant::now() + timeout;
        let mut out = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.recv_within(left) {
                Ok(r) => out.push(r),
                Err(ReadEnd::Closed) => return out,
                Err(ReadEnd::TimedOut) => panic!(
                    "connection still open after {timeout:?}; received {:?}",
                    out.iter().map(Reply::describe).collect::<Vec<_>>()
                ),
            }
        }
    }

    /// [`Conn::expect_closed_within`] with the default timeout.
    pub fn expect_closed(&mut self) -> Vec<Reply> {
        self.expect_closed_within(TIMEOUT)
    }

    /// Whatever arrives within `quiet` (nothing expected); stops at EOF.
    pub fn drain_for(&mut self, quiet: Duration) -> Vec<Reply> {
        let mut out = Vec::new();
        while let Ok(r) = self.recv_within(quiet) {
            out.push(r);
        }
        out
    }
}

/// A fresh connection must still get ECHO_RES and a `status` listing: the server kept serving.
pub fn assert_serving(addr: SocketAddr) {
    let mut c = Conn::connect(addr);
    c.send_req(PacketType::EchoReq, &[b"still alive"]);
    let r = c.recv();
    assert!(
        r.is(PacketType::EchoRes) && r.packet().body.as_ref() == b"still alive",
        "ECHO after the bad input: {}",
        r.describe()
    );
    // Read the listing as raw bytes: function names are printed as they were registered, and
    // after a garbage test they may hold NULs and newlines of their own.
    c.send(b"status\n");
    let deadline = Instant::now() + TIMEOUT;
    let mut raw = Vec::new();
    while !(raw == b".\n" || raw.ends_with(b"\n.\n")) {
        assert!(
            Instant::now() < deadline,
            "no end of `status`: {}",
            short(&raw)
        );
        raw.extend(c.take_raw(deadline));
    }
}

/// The `OK <pid>` answer to the admin `getpid`.
pub fn server_pid(addr: SocketAddr) -> u32 {
    let mut c = Conn::connect(addr);
    let line = c.admin_line("getpid");
    let text = String::from_utf8(line).unwrap();
    text.trim_end()
        .strip_prefix("OK ")
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("getpid answered {text:?}"))
}

/// A field of `/proc/<pid>/status`, in kB (e.g. `VmPeak`, `VmHWM`).
pub fn proc_status_kb(pid: u32, field: &str) -> u64 {
    let text = fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or_else(|| panic!("no {field} in /proc/{pid}/status"))
}
