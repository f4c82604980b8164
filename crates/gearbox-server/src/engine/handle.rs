//! Job handles: `<prefix>:<n>` written into a stack buffer, and read back into the number.
//! The prefix is the engine's; nothing here knows about jobs.

use std::io::Write as _;

use super::parse::parse_decimal;
use super::MAX_HANDLE;

/// Stack buffer holding one job handle.
pub(super) struct HandleBuf {
    buf: [u8; MAX_HANDLE + 1],
    len: usize,
}

impl HandleBuf {
    pub(super) fn as_bytes(&self) -> &[u8] {
        &self.buf[..self.len]
    }
}

/// `<prefix>:<n>` in a stack buffer.
pub(super) fn format_handle(prefix: &[u8], handle_no: u64) -> HandleBuf {
    let mut buf = [0u8; MAX_HANDLE + 1];
    buf[..prefix.len()].copy_from_slice(prefix);
    let mut cursor = std::io::Cursor::new(&mut buf[prefix.len()..]);
    // 20 digits always fit: the prefix was cut to leave room for them.
    let _ = write!(cursor, "{handle_no}");
    let len = prefix.len() + usize::try_from(cursor.position()).unwrap_or(0);
    HandleBuf { buf, len }
}

/// The number of a handle with this `prefix`, or `None` if it is not one of ours.
pub(super) fn parse_handle(prefix: &[u8], handle: &[u8]) -> Option<u64> {
    let digits = handle.strip_prefix(prefix)?;
    if digits.is_empty() || digits.len() > 20 || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    parse_decimal(digits)
}
