//! The admin text protocol and GET_STATUS_UNIQUE over a raw blocking socket, for polling a
//! server's state from a test.
//!
//! Each call opens a fresh connection with read and write timeouts ([`ADMIN_IO_TIMEOUT`]), so a
//! silent server fails the call instead of hanging the test. These helpers return I/O errors;
//! [`crate::Server`]'s methods turn them into panics with the server's log.

use std::io::{self, BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use gearbox_proto::{AdminReply, AdminReplyReader, ReplyShape};

/// Read/write timeout of the raw admin socket.
pub const ADMIN_IO_TIMEOUT: Duration = Duration::from_secs(5);

/// Sends one admin line on a fresh connection and reads the response: the lines of a listing
/// (without the closing `.`), or the single `OK…`/`ERR…` line. Line ends are stripped.
pub fn admin_command(addr: SocketAddr, command: &str) -> io::Result<Vec<String>> {
    let stream = TcpStream::connect_timeout(&addr, ADMIN_IO_TIMEOUT)?;
    stream.set_read_timeout(Some(ADMIN_IO_TIMEOUT))?;
    stream.set_write_timeout(Some(ADMIN_IO_TIMEOUT))?;
    (&stream).write_all(format!("{command}\n").as_bytes())?;
    read_admin_response(&mut BufReader::new(stream), command)
}

/// Sends GET_STATUS_UNIQUE (type 41) on a fresh connection and returns the fields of the
/// STATUS_RES_UNIQUE (type 42) reply after the echoed unique.
pub fn get_status_unique(addr: SocketAddr, unique: &str) -> io::Result<Vec<String>> {
    use std::io::Read;
    let mut stream = TcpStream::connect_timeout(&addr, ADMIN_IO_TIMEOUT)?;
    stream.set_read_timeout(Some(ADMIN_IO_TIMEOUT))?;
    stream.set_write_timeout(Some(ADMIN_IO_TIMEOUT))?;
    let mut req = b"\0REQ".to_vec();
    req.extend_from_slice(&41u32.to_be_bytes());
    req.extend_from_slice(&(unique.len() as u32).to_be_bytes());
    req.extend_from_slice(unique.as_bytes());
    stream.write_all(&req)?;
    let mut head = [0u8; 12];
    stream.read_exact(&mut head)?;
    let kind = u32::from_be_bytes([head[4], head[5], head[6], head[7]]);
    let size = u32::from_be_bytes([head[8], head[9], head[10], head[11]]) as usize;
    let bad = |what: String| io::Error::new(io::ErrorKind::InvalidData, what);
    if &head[..4] != b"\0RES" || kind != 42 || size > 4096 {
        return Err(bad(format!("unexpected reply header {head:?}")));
    }
    let mut body = vec![0u8; size];
    stream.read_exact(&mut body)?;
    let fields: Vec<String> = body
        .split(|&b| b == 0)
        .map(|f| String::from_utf8_lossy(f).into_owned())
        .collect();
    if fields.len() != 6 || fields[0] != unique {
        return Err(bad(format!("malformed STATUS_RES_UNIQUE {fields:?}")));
    }
    Ok(fields[1..].to_vec())
}

/// Reads the response to the admin line `command` from `reader` (see [`admin_command`]),
/// framed by gearbox-proto's reader, the one the `gearbox` command and the benchmark use: a
/// listing's lines, or the one `OK`/value/`ERR` line.
pub fn read_admin_response(reader: &mut impl BufRead, command: &str) -> io::Result<Vec<String>> {
    let mut framer = AdminReplyReader::new(ReplyShape::of_line(command.as_bytes()));
    loop {
        let mut buf = Vec::new();
        if reader.read_until(b'\n', &mut buf)? == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!("connection closed after {:?}", framer.partial()),
            ));
        }
        match framer.line(&buf) {
            None => {}
            Some(AdminReply::List(lines)) => return Ok(lines),
            Some(AdminReply::Line(line)) => return Ok(vec![line]),
            Some(AdminReply::Err(err)) => return Ok(vec![err.line]),
        }
    }
}
