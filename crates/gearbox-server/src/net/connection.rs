//! One connection's I/O: the reading task that frames input and feeds the engine, the
//! non-blocking flush of its output, and the writer task spawned only while its socket is full.
//!
//! The reader owns the connection's life: when it ends (EOF, error, protocol violation, or the
//! server cutting the peer off) it tells the engine once and releases the connection id. A
//! protocol violation is logged once and costs only this connection. Idle connections hold no
//! read buffer and no output buffer of any size. The limits on unsent output are applied here
//! as `outbound.rs` decides them: no reading while the output is over the limit, and a cut once
//! the socket has taken nothing for the stall timeout.

use std::cell::{Cell, RefCell};
use std::future::Future as _;
use std::io::{self, ErrorKind};
use std::net::{Shutdown, SocketAddr};
use std::rc::Rc;
use std::task::Poll;
use std::time::Instant;

use bytes::BytesMut;
use gearbox_proto::{Codec, Frame, PacketType, ProtoError};
use rustls::ServerConnection;
use tokio::io::{Interest, Ready};
use tokio::net::TcpStream;
use tokio::sync::Notify;
use tracing::{debug, info, warn};

use super::outbound::{Backlog, OutboundLimits, Unsent};
use super::outbuf::OutBuf;
use super::per_ip::IpSlot;
use super::{tls_io, Shared};
use crate::config::Keepalive;
use crate::engine::{ConnId, Outbox};

/// Free space below which the read buffer is grown before a read.
const MIN_READ_SPACE: usize = 4096;
/// How much the read buffer grows by.
const READ_CHUNK: usize = 64 * 1024;
/// Reads handled in a row before the task yields, so one busy peer cannot starve the others.
const READS_PER_TURN: u32 = 16;

/// A connection's socket and output, shared by its tasks and the engine's outbox.
pub struct ConnIo {
    pub stream: TcpStream,
    pub peer: SocketAddr,
    /// The TLS session, on a TLS listener's connection (its handshake is done); the output
    /// buffer holds plaintext, encrypted as the socket takes it.
    tls: Option<RefCell<ServerConnection>>,
    /// Unsent output; changed only through [`ConnIo::append`] and the writes, which keep
    /// `unsent` in step.
    out: RefCell<OutBuf>,
    limits: OutboundLimits,
    /// Every connection's unsent bytes together.
    unsent: Rc<Unsent>,
    /// Since when the socket has been full without taking a byte.
    stalled_since: Cell<Option<Instant>>,
    /// Signalled when the unsent output falls to the limit, for a reader that paused.
    drained: Notify,
    /// Queued in the server's dirty list.
    pub dirty: Cell<bool>,
    /// No more output is accepted and the reader is to stop.
    pub closing: Cell<bool>,
    /// Close once the pending output is written (after an ERROR that ends the stream).
    close_when_flushed: Cell<bool>,
    writer_active: Cell<bool>,
    closed: Notify,
    /// Its place in the per-address count, given back when the connection is dropped.
    _ip_slot: IpSlot,
}

impl ConnIo {
    pub fn new(
        stream: TcpStream,
        peer: SocketAddr,
        tls: Option<ServerConnection>,
        limits: OutboundLimits,
        unsent: Rc<Unsent>,
        ip_slot: IpSlot,
    ) -> ConnIo {
        ConnIo {
            stream,
            peer,
            tls: tls.map(RefCell::new),
            out: RefCell::new(OutBuf::default()),
            limits,
            unsent,
            stalled_since: Cell::new(None),
            drained: Notify::new(),
            dirty: Cell::new(false),
            closing: Cell::new(false),
            close_when_flushed: Cell::new(false),
            writer_active: Cell::new(false),
            closed: Notify::new(),
            _ip_slot: ip_slot,
        }
    }

    /// Queue output with `write`; returns the unsent bytes after it.
    pub fn append(&self, write: impl FnOnce(&mut OutBuf)) -> usize {
        let mut out = self.out.borrow_mut();
        let before = out.len();
        write(&mut out);
        self.unsent.add(out.len() - before);
        out.len()
    }

    /// Unsent bytes.
    pub fn pending(&self) -> usize {
        self.out.borrow().len()
    }

    /// The connection as the server-wide budget sees it.
    pub fn backlog(&self, conn: ConnId) -> Backlog {
        Backlog {
            conn,
            stalled_since: self.stalled_since.get(),
            unsent: self.pending(),
        }
    }

    /// Over the limit, with a socket that has taken nothing for the stall timeout: a peer that
    /// does not read.
    pub fn overdue(&self) -> bool {
        self.pending() > self.limits.per_conn
            && self
                .stalled_since
                .get()
                .is_some_and(|t| t.elapsed() >= self.limits.stall_timeout)
    }

    /// Cut the connection now, dropping unsent output.
    pub fn close(&self) {
        if self.closing.replace(true) {
            return;
        }
        let mut out = self.out.borrow_mut();
        self.unsent.sub(out.len());
        out.discard();
        drop(out);
        if let Some(tls) = &self.tls {
            // Tell a TLS peer the stream ended on purpose; best effort, the socket may be full.
            let mut tls = tls.borrow_mut();
            tls.send_close_notify();
            let _ = tls_io::write_records(&self.stream, &mut tls);
        }
        let _ = socket2::SockRef::from(&self.stream).shutdown(Shutdown::Both);
        self.closed.notify_one();
    }

    /// Close once everything sent so far is written.
    pub fn close_after_flush(&self) {
        self.close_when_flushed.set(true);
    }

    /// Write what is pending without waiting; hand the rest to a writer task.
    pub fn flush(self: &Rc<Self>) {
        match self.try_write() {
            Ok(true) => {
                if self.close_when_flushed.get() {
                    self.close();
                }
            }
            Ok(false) => {
                if !self.writer_active.replace(true) {
                    tokio::task::spawn_local(write_pending(self.clone()));
                }
            }
            Err(e) => {
                debug!(peer = %self.peer, error = %e, "write failed");
                self.close();
            }
        }
    }

    /// `Ok(true)` when everything was written, `Ok(false)` when the socket is full.
    fn try_write(&self) -> io::Result<bool> {
        match &self.tls {
            None => self.try_write_plain(),
            Some(tls) => self.try_write_tls(&mut tls.borrow_mut()),
        }
    }

    fn try_write_plain(&self) -> io::Result<bool> {
        let mut out = self.out.borrow_mut();
        while !out.is_empty() {
            let mut slices = OutBuf::slice_array();
            let n = out.slices(&mut slices);
            match self.stream.try_write_vectored(&slices[..n]) {
                Ok(0) => return Err(ErrorKind::WriteZero.into()),
                Ok(written) => {
                    out.advance(written);
                    self.unsent.sub(written);
                    self.stalled_since.set(None);
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => {
                    if self.stalled_since.get().is_none() {
                        self.stalled_since.set(Some(Instant::now()));
                    }
                    return Ok(false);
                }
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(true)
    }

    /// Records already encrypted go first; plaintext is encrypted only once they are all
    /// written, so the unsent output stays in `out`, where the limits count it.
    fn try_write_tls(&self, tls: &mut ServerConnection) -> io::Result<bool> {
        let mut out = self.out.borrow_mut();
        loop {
            if !tls_io::write_records(&self.stream, tls)? {
                if self.stalled_since.get().is_none() {
                    self.stalled_since.set(Some(Instant::now()));
                }
                return Ok(false);
            }
            self.stalled_since.set(None);
            if out.is_empty() {
                return Ok(true);
            }
            let mut slices = OutBuf::slice_array();
            let n = out.slices(&mut slices);
            let taken = tls_io::encrypt(tls, &slices[..n])?;
            if taken == 0 {
                return Err(io::Error::other("TLS session took no output"));
            }
            out.advance(taken);
            self.unsent.sub(taken);
        }
    }

    /// Read once: plaintext from the socket or, on TLS, decrypted from it. `Ok(0)` is the end
    /// of the stream, `WouldBlock` nothing to hand on yet.
    fn read(&self, ready: Ready, buf: &mut BytesMut) -> io::Result<usize> {
        match &self.tls {
            None => read_once(&self.stream, ready, buf),
            Some(tls) => tls_io::read(&self.stream, &mut tls.borrow_mut(), buf),
        }
    }

    /// A TLS session with records to send that no output caused (an alert, a key update).
    fn tls_wants_write(&self) -> bool {
        self.tls
            .as_ref()
            .is_some_and(|tls| tls.borrow().wants_write())
    }
}

/// Keep writing while the peer's socket is full; cut the peer off if it stops reading.
async fn write_pending(io: Rc<ConnIo>) {
    loop {
        let result = io.try_write();
        if io.pending() <= io.limits.per_conn {
            io.drained.notify_one();
        }
        match result {
            Ok(true) => break,
            Ok(false) => {
                tokio::select! {
                    writable = io.stream.writable() => if writable.is_err() {
                        io.close();
                        break;
                    },
                    () = tokio::time::sleep(io.limits.stall_timeout) => {
                        if io.overdue() {
                            warn!(peer = %io.peer, bytes = io.pending(),
                                "peer does not read its replies; closing the connection");
                            io.close();
                            break;
                        }
                    }
                }
            }
            Err(e) => {
                debug!(peer = %io.peer, error = %e, "write failed");
                io.close();
                break;
            }
        }
    }
    io.writer_active.set(false);
    if io.close_when_flushed.get() {
        io.close();
    }
}

/// Enable TCP keepalive on an accepted socket.
pub fn set_keepalive(stream: &TcpStream, keepalive: Keepalive) {
    let mut params = socket2::TcpKeepalive::new();
    if let Some(idle) = keepalive.idle {
        params = params.with_time(idle);
    }
    if let Some(interval) = keepalive.interval {
        params = params.with_interval(interval);
    }
    if let Some(count) = keepalive.count {
        params = params.with_retries(count);
    }
    if let Err(e) = socket2::SockRef::from(stream).set_tcp_keepalive(&params) {
        debug!(error = %e, "could not enable keepalive");
    }
}

/// Why a connection ended, for the log.
enum End {
    Eof {
        pending: usize,
    },
    Io(io::Error),
    Protocol(ProtoError),
    /// A TLS ClientHello on a plaintext listener.
    TlsOnPlaintext,
    /// No complete request for the idle timeout, holding nothing.
    Idle,
    /// A request begun and not completed within the request timeout.
    Trickle,
    ClosedByServer,
}

/// The first byte of a TLS handshake record; never the first byte of a Gearman request (NUL)
/// or admin command (a letter).
const TLS_HANDSHAKE_RECORD: u8 = 0x16;

/// Read, frame and dispatch until the connection ends, then tell the engine.
pub async fn read_loop(shared: Rc<Shared>, id: ConnId, io: Rc<ConnIo>) {
    let codec = Codec {
        max_body: shared.config.max_body,
        max_admin_line: shared.config.max_admin_line,
    };
    let mut buf = BytesMut::new();
    let mut reads = 0u32;
    let mut first = true;
    // The idle timeout counts from the last complete request (a peer trickling the bytes of
    // one request never resets it).
    let idle_timeout = shared.config.idle_timeout;
    let request_timeout = shared.config.request_timeout;
    let mut last_request = Instant::now();
    // Since when part of a request has been waiting in `buf` for the rest.
    let mut partial_since: Option<Instant> = None;
    if io.tls.is_some() {
        // The handshake's last read may have brought requests with it.
        if let Ok(n) = io.read(Ready::EMPTY, &mut buf) {
            if n > 0 {
                first = false;
                if let Err(e) = dispatch(&shared, id, &io, &codec, &mut buf) {
                    info!(conn = id.0, peer = %io.peer, error = %e, "protocol violation; closing");
                    io.close();
                }
            }
        }
    }
    let end = loop {
        if io.closing.get() {
            break End::ClosedByServer;
        }
        if let Some(idle) = idle_timeout {
            if last_request.elapsed() >= idle {
                if shared.engine.borrow().holds_nothing(id) {
                    break End::Idle;
                }
                last_request = Instant::now();
            }
        }
        if let (Some(limit), Some(since)) = (request_timeout, partial_since) {
            if since.elapsed() >= limit {
                break End::Trickle;
            }
        }
        if io.pending() > io.limits.per_conn {
            // The peer has not read what it has: read no more until it does (or is cut off).
            tokio::select! {
                () = io.drained.notified() => {}
                () = io.closed.notified() => {}
            }
            // Not reading was our choice: the peer's half request gets its time afresh.
            if partial_since.is_some() {
                partial_since = Some(Instant::now());
            }
            continue;
        }
        // At once while the socket is known to be readable; otherwise the connection parks.
        let mut readable = std::pin::pin!(io.stream.ready(Interest::READABLE));
        let now = std::future::poll_fn(|cx| Poll::Ready(readable.as_mut().poll(cx))).await;
        let ready = match now {
            Poll::Ready(ready) => ready,
            Poll::Pending => {
                reads = 0;
                if buf.is_empty() {
                    // Idle: give the read buffer back until the peer sends again.
                    buf = BytesMut::new();
                }
                let idle_at = idle_timeout.map(|idle| last_request + idle);
                let partial_at = request_timeout.zip(partial_since).map(|(t, s)| s + t);
                let wake_at = match (idle_at, partial_at) {
                    (Some(a), Some(b)) => Some(a.min(b)),
                    (a, b) => a.or(b),
                };
                tokio::select! {
                    biased;
                    ready = &mut readable => ready,
                    () = io.closed.notified() => continue,
                    () = sleep_until(wake_at), if wake_at.is_some() => continue,
                }
            }
        };
        let ready = match ready {
            Ok(ready) => ready,
            Err(e) => break End::Io(e),
        };
        // Grown only now, so an idle connection parks without a buffer.
        if buf.capacity() - buf.len() < MIN_READ_SPACE {
            buf.reserve(READ_CHUNK);
        }
        match io.read(ready, &mut buf) {
            Ok(0) => break End::Eof { pending: buf.len() },
            Ok(_) => {
                if std::mem::take(&mut first)
                    && io.tls.is_none()
                    && buf.first() == Some(&TLS_HANDSHAKE_RECORD)
                {
                    break End::TlsOnPlaintext;
                }
                if io.tls_wants_write() {
                    io.flush();
                }
                match dispatch(&shared, id, &io, &codec, &mut buf) {
                    Ok(0) => {}
                    // The clock is read only when a timeout needs it.
                    Ok(_) if idle_timeout.is_some() || !buf.is_empty() => {
                        last_request = Instant::now();
                    }
                    Ok(_) => {}
                    Err(e) => break End::Protocol(e),
                }
                partial_since = match (buf.is_empty(), partial_since) {
                    (true, _) => None,
                    (false, None) => Some(Instant::now()),
                    // Still the same request unless one completed just now.
                    (false, Some(since)) if since < last_request => Some(last_request),
                    (false, since) => since,
                };
                reads += 1;
                if reads == READS_PER_TURN {
                    reads = 0;
                    tokio::task::yield_now().await;
                }
            }
            // Parks at the top of the loop, giving the buffer back if it is empty.
            Err(e) if e.kind() == ErrorKind::WouldBlock => {
                if io.tls_wants_write() {
                    io.flush();
                }
            }
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => break End::Io(e),
        }
    };
    match end {
        End::Eof { pending: 0 } | End::ClosedByServer => {
            debug!(conn = id.0, peer = %io.peer, "connection closed");
        }
        End::Eof { pending } => {
            info!(conn = id.0, peer = %io.peer, pending, "peer closed in the middle of a packet");
        }
        End::Io(e) => debug!(conn = id.0, peer = %io.peer, error = %e, "connection failed"),
        End::Protocol(e) => {
            info!(conn = id.0, peer = %io.peer, error = %e, "protocol violation; closing");
        }
        End::Trickle => {
            info!(conn = id.0, peer = %io.peer, timeout = ?request_timeout,
                "a request not completed within the request timeout; closing");
        }
        End::Idle => {
            info!(conn = id.0, peer = %io.peer, timeout = ?idle_timeout,
                "no request within the idle timeout; closing");
        }
        End::TlsOnPlaintext => {
            info!(conn = id.0, peer = %io.peer,
                "TLS handshake on a plaintext listener; closing (connect without TLS, or to the TLS port)");
        }
    }
    shared.with_engine(|engine, out, now| engine.disconnect(id, now, out));
    shared.conns.borrow_mut().try_remove(id.0 as usize);
    if !io.writer_active.get() {
        io.close();
    }
}

/// Sleep until `at`, or for ever without one.
async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at.into()).await,
        None => std::future::pending().await,
    }
}

/// Read once into `buf`. A read that leaves room in `buf` has drained the socket, so the
/// socket's readiness is dropped with it: otherwise tokio learns that only from one more read
/// failing with EAGAIN, a wasted syscall per request on a request-reply connection. Data or a
/// FIN arriving after the read raises readiness again (epoll reports every arrival). Not when
/// `ready` already shows the peer's FIN: that must still be read, as EOF.
fn read_once(stream: &TcpStream, ready: Ready, buf: &mut BytesMut) -> io::Result<usize> {
    let room = buf.capacity() - buf.len();
    let mut got = 0;
    let read = stream.try_io(Interest::READABLE, || {
        got = stream.try_read_buf(buf)?;
        if got > 0 && got < room && !ready.is_read_closed() {
            // Reported as WouldBlock only so that tokio clears the readiness; the bytes read
            // are returned below.
            return Err(ErrorKind::WouldBlock.into());
        }
        Ok(got)
    });
    match read {
        Err(e) if e.kind() == ErrorKind::WouldBlock && got > 0 => Ok(got),
        other => other,
    }
}

/// Decode every complete frame in `buf` and hand it to the engine, as one batch; how many.
fn dispatch(
    shared: &Shared,
    id: ConnId,
    io: &ConnIo,
    codec: &Codec,
    buf: &mut BytesMut,
) -> Result<usize, ProtoError> {
    let mut frames = 0;
    shared.with_engine(|engine, out, now| loop {
        if io.closing.get() {
            return Ok(frames);
        }
        match codec.decode(buf) {
            Ok(Some(Frame::Packet(packet))) => {
                frames += 1;
                engine.packet(id, &packet, now, out);
            }
            Ok(Some(Frame::Admin(line))) => {
                frames += 1;
                engine.admin(id, &line, out);
            }
            Ok(None) => return Ok(frames),
            Err(e) => {
                // The stream is out of step: say why where a reply can still be framed, then
                // close. Bad magic and unknown types get no reply, as from gearmand.
                match &e {
                    ProtoError::BodyTooLarge { .. } => out.packet(
                        id,
                        PacketType::Error,
                        &[b"ARGUMENT_TOO_LARGE"],
                        e.to_string().as_bytes(),
                    ),
                    ProtoError::AdminLineTooLong { max } => out.text(
                        id,
                        format!("ERR ARGUMENT_TOO_LARGE Line+longer+than+{max}+bytes\r\n")
                            .as_bytes(),
                    ),
                    _ => {}
                }
                out.close(id);
                return Err(e);
            }
        }
    })
}
