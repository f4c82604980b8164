//! One Gearman connection as the load generator sees it: a TCP stream with a read buffer that
//! the `gearbox-proto` codec splits into packets, and a write buffer that collects every
//! request a task produces before it is written in one system call.
//!
//! The generator shares two cores with the server it measures, so this layer is deliberately
//! thin: packets are encoded straight into the outgoing buffer (no per-packet `Vec`), the
//! codec hands out slices of the receive buffer (no per-packet copy), and a task drains every
//! packet already buffered before it flushes, so one read and one write serve a whole batch.

use std::net::SocketAddr;

use anyhow::{bail, Context as _, Result};
use bytes::{BufMut as _, BytesMut};
use gearbox_proto::{
    encode_head, encode_packet, AdminReply, AdminReplyReader, Codec, Frame, Magic, Packet,
    PacketType, ReplyShape,
};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;

/// Receive-buffer refill size: large enough that a busy connection reads many packets per
/// system call, small enough that ten thousand idle connections would not matter (idle ones
/// never get a `Conn`; see the `conns` scenario).
const READ_CHUNK: usize = 64 * 1024;

/// A client or worker connection speaking the binary protocol.
pub struct Conn {
    stream: TcpStream,
    rbuf: BytesMut,
    wbuf: BytesMut,
    codec: Codec,
}

impl Conn {
    /// Connect with Nagle off: every flush is a deliberate batch, and delaying it would only
    /// add latency to the figures.
    pub async fn connect(addr: SocketAddr) -> Result<Conn> {
        let stream = TcpStream::connect(addr)
            .await
            .with_context(|| format!("connecting to {addr}"))?;
        stream.set_nodelay(true)?;
        Ok(Conn {
            stream,
            rbuf: BytesMut::with_capacity(READ_CHUNK),
            wbuf: BytesMut::with_capacity(READ_CHUNK),
            codec: Codec::default(),
        })
    }

    /// Queue a request whose final field is `last`.
    pub fn push(&mut self, kind: PacketType, fields: &[&[u8]], last: &[u8]) {
        encode_packet(&mut self.wbuf, Magic::Req, kind, fields, last);
    }

    /// Queue the header and terminated fields of a request whose final field of `final_len`
    /// bytes the caller writes next into [`Conn::out`]; lets a payload be generated in place.
    pub fn push_head(&mut self, kind: PacketType, fields: &[&[u8]], final_len: usize) {
        encode_head(&mut self.wbuf, Magic::Req, kind, fields, final_len);
    }

    /// The outgoing buffer, for writing a final field after [`Conn::push_head`].
    pub fn out(&mut self) -> &mut BytesMut {
        &mut self.wbuf
    }

    /// Queue raw bytes (an admin text command).
    pub fn push_raw(&mut self, bytes: &[u8]) {
        self.wbuf.put_slice(bytes);
    }

    /// Write everything queued.
    pub async fn flush(&mut self) -> Result<()> {
        if !self.wbuf.is_empty() {
            self.stream
                .write_all(&self.wbuf)
                .await
                .context("writing to the server")?;
            self.wbuf.clear();
        }
        Ok(())
    }

    /// A packet that is already buffered, without waiting.
    pub fn try_packet(&mut self) -> Result<Option<Packet>> {
        match self.codec.decode(&mut self.rbuf)? {
            Some(Frame::Packet(p)) => {
                if p.magic != Magic::Res {
                    bail!("server sent a {} with request magic", p.kind.name());
                }
                Ok(Some(p))
            }
            Some(Frame::Admin(line)) => bail!(
                "server sent a text line where a packet was expected: {:?}",
                String::from_utf8_lossy(&line)
            ),
            None => Ok(None),
        }
    }

    /// The next packet, reading as needed.
    pub async fn packet(&mut self) -> Result<Packet> {
        loop {
            if let Some(p) = self.try_packet()? {
                return Ok(p);
            }
            self.fill().await?;
        }
    }

    async fn fill(&mut self) -> Result<()> {
        if self.rbuf.capacity() - self.rbuf.len() < READ_CHUNK / 4 {
            self.rbuf.reserve(READ_CHUNK);
        }
        let n = self
            .stream
            .read_buf(&mut self.rbuf)
            .await
            .context("reading from the server")?;
        if n == 0 {
            bail!("the server closed the connection");
        }
        Ok(())
    }

    /// Send an admin text command and collect its answer, framed by gearbox-proto's reader
    /// (the one every Gearbox admin reader uses): a listing's lines, or the one line.
    pub async fn admin(&mut self, command: &str) -> Result<Vec<String>> {
        self.push_raw(command.as_bytes());
        self.push_raw(b"\n");
        self.flush().await?;
        let mut reader = AdminReplyReader::new(ReplyShape::of_line(command.as_bytes()));
        loop {
            while let Some(end) = self.rbuf.iter().position(|&b| b == b'\n') {
                let raw = self.rbuf.split_to(end + 1);
                match reader.line(&raw) {
                    None => {}
                    Some(AdminReply::List(lines)) => return Ok(lines),
                    Some(AdminReply::Line(line)) => return Ok(vec![line]),
                    Some(AdminReply::Err(err)) => bail!("{command}: {err}"),
                }
            }
            self.fill().await?;
        }
    }
}

/// Decimal digits of `n` without allocating (unique ids and payload numbers are written for
/// every job).
pub struct Decimal {
    buf: [u8; 20],
    start: usize,
}

impl Decimal {
    /// Format `n`.
    pub fn new(mut n: u64) -> Decimal {
        let mut buf = [0u8; 20];
        let mut start = buf.len();
        loop {
            start -= 1;
            buf[start] = b'0' + (n % 10) as u8;
            n /= 10;
            if n == 0 {
                break;
            }
        }
        Decimal { buf, start }
    }

    /// The digits.
    pub fn as_bytes(&self) -> &[u8] {
        &self.buf[self.start..]
    }
}

/// Queue counts from the admin `status` listing: (jobs queued or running, running) per
/// function, for the functions in `names`. A function the server does not list counts as 0.
pub async fn queue_counts(addr: SocketAddr, names: &[String]) -> Result<Vec<(u64, u64)>> {
    let mut conn = Conn::connect(addr).await?;
    let lines = conn.admin("status").await?;
    let mut counts = vec![(0, 0); names.len()];
    for line in lines {
        let mut cols = line.split('\t');
        let Some(name) = cols.next() else { continue };
        let Some(i) = names.iter().position(|n| n == name) else {
            continue;
        };
        let total = cols.next().and_then(|c| c.parse().ok()).unwrap_or(0);
        let running = cols.next().and_then(|c| c.parse().ok()).unwrap_or(0);
        counts[i] = (total, running);
    }
    Ok(counts)
}

#[cfg(test)]
mod tests {
    use super::Decimal;

    #[test]
    fn decimal_digits() {
        assert_eq!(Decimal::new(0).as_bytes(), b"0");
        assert_eq!(Decimal::new(7).as_bytes(), b"7");
        assert_eq!(Decimal::new(1234567890).as_bytes(), b"1234567890");
        assert_eq!(
            Decimal::new(u64::MAX).as_bytes(),
            u64::MAX.to_string().as_bytes()
        );
    }
}
