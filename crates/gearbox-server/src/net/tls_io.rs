//! TLS on a connection's non-blocking socket, driven by hand (rustls without an async
//! wrapper) so that a TLS connection keeps the plaintext path's shape: output is encrypted and
//! written straight from the engine's flush, input is decrypted in the reading task.
//!
//! This module owns the handshake and moving bytes between the socket and rustls; it never
//! waits on a socket except in the handshake, and never holds more than one buffer limit of
//! encrypted output (the rest stays in the connection's own buffer, where the outbound limits
//! see it).

use std::io::{self, ErrorKind, Read, Write};
use std::sync::Arc;

use bytes::BytesMut;
use rustls::{ServerConfig, ServerConnection};
use tokio::net::TcpStream;

/// The socket as `std::io` sees it: every call is a non-blocking attempt, `WouldBlock` when
/// the socket is not ready (which also clears tokio's readiness, so the next wait is real).
struct SockIo<'a>(&'a TcpStream);

impl Read for SockIo<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.0.try_read(buf)
    }
}

impl Write for SockIo<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.try_write(buf)
    }

    fn write_vectored(&mut self, bufs: &[io::IoSlice<'_>]) -> io::Result<usize> {
        self.0.try_write_vectored(bufs)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Why a handshake failed, for the log.
#[derive(Debug, thiserror::Error)]
pub enum HandshakeError {
    /// The peer closed the connection before the handshake ended.
    #[error("the peer closed the connection during the TLS handshake")]
    Eof,
    /// The peer does not speak TLS, or its certificate or parameters were refused.
    #[error("{0}")]
    Tls(#[from] rustls::Error),
    /// The socket failed.
    #[error("{0}")]
    Io(#[from] io::Error),
}

impl HandshakeError {
    /// A plaintext Gearman client on a TLS port: its first byte is a NUL (binary packet) or a
    /// letter (admin command), never a TLS record type.
    pub fn is_plaintext_peer(&self) -> bool {
        matches!(
            self,
            HandshakeError::Tls(rustls::Error::InvalidMessage(
                rustls::InvalidMessage::InvalidContentType
            ))
        )
    }
}

/// Run the server side of a handshake to its end.
pub async fn handshake(
    stream: &TcpStream,
    config: Arc<ServerConfig>,
) -> Result<ServerConnection, HandshakeError> {
    let mut conn = ServerConnection::new(config)?;
    while conn.is_handshaking() {
        flush_blocking(stream, &mut conn).await?;
        if !conn.is_handshaking() {
            break;
        }
        stream.readable().await?;
        match conn.read_tls(&mut SockIo(stream)) {
            Ok(0) => return Err(HandshakeError::Eof),
            Ok(_) => {
                if let Err(e) = conn.process_new_packets() {
                    // The alert rustls queued tells the peer why; best effort.
                    let _ = conn.write_tls(&mut SockIo(stream));
                    return Err(e.into());
                }
            }
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::Interrupted) => {}
            Err(e) => return Err(e.into()),
        }
    }
    flush_blocking(stream, &mut conn).await?;
    Ok(conn)
}

/// Write every queued TLS record, waiting for the socket as needed (handshake only).
async fn flush_blocking(stream: &TcpStream, conn: &mut ServerConnection) -> io::Result<()> {
    while conn.wants_write() {
        match conn.write_tls(&mut SockIo(stream)) {
            Ok(0) => return Err(ErrorKind::WriteZero.into()),
            Ok(_) => {}
            Err(e) if e.kind() == ErrorKind::WouldBlock => stream.writable().await?,
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Read what the socket has, decrypt it and append the plaintext to `buf`. `Ok(0)` is the end
/// of the stream (TCP FIN or TLS close_notify); `WouldBlock` means no plaintext yet (a partial
/// record, or a record that carried none). A TLS error is returned as `InvalidData`, after
/// the alert that explains it was queued.
pub fn read(
    stream: &TcpStream,
    conn: &mut ServerConnection,
    buf: &mut BytesMut,
) -> io::Result<usize> {
    let before = buf.len();
    let mut closed = false;
    // Bounded so a fast sender cannot keep one connection here for ever; the socket stays
    // readable and the caller comes back.
    for _ in 0..16 {
        let socket_done = match conn.read_tls(&mut SockIo(stream)) {
            Ok(0) => {
                closed = true;
                true
            }
            Ok(_) => false,
            Err(e) if e.kind() == ErrorKind::WouldBlock => true,
            Err(e) if e.kind() == ErrorKind::Interrupted => false,
            Err(e) => return Err(e),
        };
        if let Err(e) = conn.process_new_packets() {
            let _ = conn.write_tls(&mut SockIo(stream));
            return Err(io::Error::new(ErrorKind::InvalidData, e));
        }
        // Taken out at once: rustls stops reading while its plaintext buffer is full.
        closed |= take_plaintext(conn, buf)?;
        if socket_done || closed {
            break;
        }
    }
    let got = buf.len() - before;
    if got > 0 {
        Ok(got)
    } else if closed {
        Ok(0)
    } else {
        Err(ErrorKind::WouldBlock.into())
    }
}

/// Move the decrypted bytes into `buf`; true when the peer has ended the stream.
fn take_plaintext(conn: &mut ServerConnection, buf: &mut BytesMut) -> io::Result<bool> {
    let mut chunk = [0u8; 16 * 1024];
    loop {
        match conn.reader().read(&mut chunk) {
            // close_notify.
            Ok(0) => return Ok(true),
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(e) if e.kind() == ErrorKind::WouldBlock => return Ok(false),
            // TCP closed without close_notify: an end all the same.
            Err(e) if e.kind() == ErrorKind::UnexpectedEof => return Ok(true),
            Err(e) => return Err(e),
        }
    }
}

/// Write the encrypted records rustls holds. `Ok(true)` when all are written, `Ok(false)`
/// when the socket is full.
pub fn write_records(stream: &TcpStream, conn: &mut ServerConnection) -> io::Result<bool> {
    while conn.wants_write() {
        match conn.write_tls(&mut SockIo(stream)) {
            Ok(0) => return Err(ErrorKind::WriteZero.into()),
            Ok(_) => {}
            Err(e) if e.kind() == ErrorKind::WouldBlock => return Ok(false),
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(true)
}

/// Encrypt plaintext into records (rustls takes what its buffer limit allows).
pub fn encrypt(conn: &mut ServerConnection, slices: &[io::IoSlice<'_>]) -> io::Result<usize> {
    conn.writer().write_vectored(slices)
}
