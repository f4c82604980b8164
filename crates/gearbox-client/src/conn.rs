//! One TCP connection to a job server, plaintext or TLS, as two tasks: a reader that turns
//! bytes into packets and a writer that sends queued packets in order. Opening the socket
//! (TCP, then the TLS handshake, within the connect timeout) is [`dial`], which the admin
//! exchanges (`admin.rs`) use as well.
//!
//! This module owns the socket and the framing (through `gearbox_proto::Codec`); it knows
//! nothing about jobs, replies or retries — the client session (`session.rs`) and the worker
//! loop (`worker_conn.rs`) give the packets their meaning. Anything malformed the server sends
//! ends the connection with an [`Error`]; nothing here may panic on input.

use std::time::Duration;

use bytes::{Bytes, BytesMut};
use gearbox_proto::{Codec, Frame, Packet, DEFAULT_MAX_BODY};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use crate::error::Error;
use crate::tls::Tls;

/// What the reader hands on: a packet, or the reason the connection ended (sent once, last).
pub(crate) type Inbound = Result<Packet, Error>;

struct Outgoing {
    bytes: Bytes,
    flushed: Option<oneshot::Sender<()>>,
}

/// The sending side of a connection; cheap to clone. Packets are written in the order they
/// were queued, across all clones.
#[derive(Clone)]
pub(crate) struct Outbox {
    tx: mpsc::UnboundedSender<Outgoing>,
    server: std::sync::Arc<str>,
}

impl std::fmt::Debug for Outbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Outbox({})", self.server)
    }
}

impl Outbox {
    /// Queue bytes without waiting; fails only when the connection is gone.
    pub(crate) fn send(&self, bytes: Bytes) -> Result<(), Error> {
        self.tx
            .send(Outgoing {
                bytes,
                flushed: None,
            })
            .map_err(|_| self.lost())
    }

    /// Queue bytes and wait until they have been written to the socket.
    pub(crate) async fn send_flushed(&self, bytes: Bytes) -> Result<(), Error> {
        let (done, flushed) = oneshot::channel();
        self.tx
            .send(Outgoing {
                bytes,
                flushed: Some(done),
            })
            .map_err(|_| self.lost())?;
        flushed.await.map_err(|_| self.lost())
    }

    fn lost(&self) -> Error {
        Error::ConnectionLost {
            server: self.server.to_string(),
            handle: None,
        }
    }

    /// The server address this connection goes to.
    pub(crate) fn server(&self) -> &str {
        &self.server
    }
}

/// A live connection: the outbox, the stream of inbound packets, and the two tasks.
pub(crate) struct Link {
    pub(crate) outbox: Outbox,
    pub(crate) inbound: mpsc::Receiver<Inbound>,
    writer: JoinHandle<()>,
    // Dropping a link without `close` (the connection failed) stops both tasks at once, so
    // jobs still holding the outbox learn that their answers cannot be delivered.
    tasks: [AbortOnDrop; 2],
}

impl Link {
    /// Stop sending: once every clone of the outbox is dropped, the writer flushes what is
    /// queued, shuts the socket's write side down and ends; waits at most `grace` for that.
    pub(crate) async fn close(self, grace: Duration) {
        let Link {
            outbox,
            inbound,
            writer,
            tasks,
        } = self;
        drop(outbox);
        drop(inbound);
        if tokio::time::timeout(grace, writer).await.is_err() {
            tracing::debug!("writer did not finish within {grace:?}");
        }
        drop(tasks);
    }
}

/// Stops the reader task when its link goes away.
struct AbortOnDrop(tokio::task::AbortHandle);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// A connected socket, plaintext or TLS (the handshake done).
pub(crate) enum Dialed {
    /// Plaintext TCP.
    Plain(TcpStream),
    /// TLS over TCP.
    Tls(Box<tokio_rustls::client::TlsStream<TcpStream>>),
}

/// Open a socket to `server` (a normalized `host:port`), with the TLS handshake when `tls` is
/// given, within `timeout`. The one place a connection is made: the binary protocol's
/// sessions ([`connect`]) and the admin exchanges (`admin.rs`) both come through here.
pub(crate) async fn dial(
    server: &str,
    timeout: Duration,
    tls: Option<&Tls>,
) -> Result<Dialed, String> {
    let open = async {
        let stream = TcpStream::connect(server)
            .await
            .map_err(|e| format!("connect to {server}: {e}"))?;
        // Requests are small and latency matters more than packet count.
        let _ = stream.set_nodelay(true);
        let Some(tls) = tls else {
            return Ok(Dialed::Plain(stream));
        };
        let name = tls.server_name(server).map_err(|e| e.to_string())?;
        let stream = tokio_rustls::TlsConnector::from(tls.config())
            .connect(name, stream)
            .await
            .map_err(|e| format!("TLS handshake with {server}: {e}"))?;
        Ok(Dialed::Tls(Box::new(stream)))
    };
    match tokio::time::timeout(timeout, open).await {
        Ok(result) => result,
        Err(_) => Err(format!("connect to {server}: timed out after {timeout:?}")),
    }
}

/// Connect to `server` (a normalized `host:port`), with TLS when `tls` is given, within
/// `timeout` (the handshake included) and start the two tasks.
pub(crate) async fn connect(
    server: &str,
    timeout: Duration,
    tls: Option<&Tls>,
) -> Result<Link, String> {
    Ok(match dial(server, timeout, tls).await? {
        Dialed::Plain(stream) => start(stream.into_split(), server),
        Dialed::Tls(stream) => start(tokio::io::split(*stream), server),
    })
}

/// Start the reader and writer on the two halves of a connected stream.
fn start<R, W>((read, write): (R, W), server: &str) -> Link
where
    R: AsyncRead + Unpin + Send + 'static,
    W: AsyncWrite + Unpin + Send + 'static,
{
    let server: std::sync::Arc<str> = server.into();
    let (in_tx, inbound) = mpsc::channel(64);
    let (out_tx, out_rx) = mpsc::unbounded_channel();
    let reader = tokio::spawn(read_loop(read, in_tx, server.clone()));
    let writer = tokio::spawn(write_loop(write, out_rx, reader.abort_handle()));
    Link {
        outbox: Outbox { tx: out_tx, server },
        inbound,
        tasks: [
            AbortOnDrop(reader.abort_handle()),
            AbortOnDrop(writer.abort_handle()),
        ],
        writer,
    }
}

async fn read_loop(
    mut read: impl AsyncRead + Unpin,
    tx: mpsc::Sender<Inbound>,
    server: std::sync::Arc<str>,
) {
    // A server never sends text lines on a binary connection: with no room for one, the codec
    // rejects a frame that does not start with a NUL byte at once instead of buffering it.
    let codec = Codec {
        max_body: DEFAULT_MAX_BODY,
        max_admin_line: 0,
    };
    let mut buf = BytesMut::with_capacity(8 * 1024);
    loop {
        loop {
            match codec.decode(&mut buf) {
                Ok(Some(Frame::Packet(p))) => {
                    if tx.send(Ok(p)).await.is_err() {
                        return;
                    }
                }
                Ok(Some(Frame::Admin(line))) => {
                    let detail = format!("unexpected text {:?}", String::from_utf8_lossy(&line));
                    let _ = tx.send(Err(protocol(&server, detail))).await;
                    return;
                }
                Ok(None) => break,
                Err(e) => {
                    let _ = tx.send(Err(protocol(&server, e.to_string()))).await;
                    return;
                }
            }
        }
        match read.read_buf(&mut buf).await {
            Ok(0) | Err(_) => {
                let _ = tx
                    .send(Err(Error::ConnectionLost {
                        server: server.to_string(),
                        handle: None,
                    }))
                    .await;
                return;
            }
            Ok(_) => {}
        }
    }
}

fn protocol(server: &str, detail: String) -> Error {
    tracing::warn!(server, %detail, "protocol violation; closing the connection");
    Error::Protocol {
        server: server.to_string(),
        detail,
    }
}

async fn write_loop(
    mut write: impl AsyncWrite + Unpin,
    mut rx: mpsc::UnboundedReceiver<Outgoing>,
    reader: tokio::task::AbortHandle,
) {
    while let Some(out) = rx.recv().await {
        if let Err(e) = write.write_all(&out.bytes).await {
            tracing::debug!("write failed: {e}");
            // The reader's end tells the owner that the connection is gone.
            reader.abort();
            return;
        }
        if let Some(done) = out.flushed {
            let _ = done.send(());
        }
    }
    let _ = write.shutdown().await;
}

/// Encode a request packet: NUL-terminated `fields`, then the final field `last`.
pub(crate) fn request(kind: gearbox_proto::PacketType, fields: &[&[u8]], last: &[u8]) -> Bytes {
    let mut out = BytesMut::new();
    gearbox_proto::encode_packet(&mut out, gearbox_proto::Magic::Req, kind, fields, last);
    out.freeze()
}

/// A handle as received, minus one trailing NUL (gearmand adds one to the WORK_FAIL it sends
/// in place of an exception, PROTOCOL.md §5.6).
pub(crate) fn clean_handle(handle: &[u8]) -> &[u8] {
    handle.strip_suffix(b"\0").unwrap_or(handle)
}
