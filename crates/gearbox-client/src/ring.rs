//! Server selection: which server of a pool a request goes to first, and in which order the
//! others are tried when it fails. Also the syntax of a server address.
//!
//! This module is pure: no sockets, no clocks, no locks beyond one atomic counter. Which
//! servers are healthy is the pool's business (`pool.rs`), not this module's.
//!
//! # The hash
//!
//! A job with a unique id goes to server `((crc32(key) >> 16) & 0x7fff) % n`, where `crc32` is
//! the IEEE CRC-32 (zlib's), `n` the number of servers in the order they were added, and `key`
//! the unique id — or the workload when the unique id is `-` (gearmand coalesces `-` by
//! payload). This is exactly what the Perl `Gearman::Client` does (`Gearman::Task::hash`), so
//! Perl and Gearbox clients given the same server list send a given unique id to the same
//! server and coalescing holds across the pool.
//!
//! libgearman (and so the PECL PHP extension and the `gearman` tool) 1.1.x does not hash at
//! all: it sends every job to the first server of its list that accepts a connection
//! (gearman/gearmand#64; an opt-in ketama ring is proposed in gearman/gearmand#511 and not in
//! any release). No hash can match that; a libgearman client mixed with ours coalesces only
//! on the first server.
//!
//! Jobs without a unique id are spread round-robin. On failure the next servers are tried in
//! list order, wrapping around.

use std::sync::atomic::{AtomicUsize, Ordering};

use crate::error::Error;

/// The Gearman port, used when an address has none.
pub const DEFAULT_PORT: u16 = 4730;

/// Validates `host[:port]` (IPv6 literals in brackets: `[::1]:4730`) and returns it with the
/// port made explicit. No name resolution happens here.
pub(crate) fn normalize_addr(addr: &str) -> Result<String, Error> {
    let addr = addr.trim();
    let bad = |why: &str| Error::InvalidArgument(format!("server address {addr:?}: {why}"));
    if addr.is_empty() {
        return Err(bad("empty"));
    }
    let (host, port) = if let Some(rest) = addr.strip_prefix('[') {
        let (host, after) = rest.split_once(']').ok_or_else(|| bad("unclosed '['"))?;
        match after {
            "" => (host, None),
            p => (
                host,
                Some(p.strip_prefix(':').ok_or_else(|| bad("junk after ']'"))?),
            ),
        }
    } else {
        match addr.rsplit_once(':') {
            Some((h, _)) if h.contains(':') => return Err(bad("IPv6 addresses need brackets")),
            Some((h, p)) => (h, Some(p)),
            None => (addr, None),
        }
    };
    if host.is_empty() {
        return Err(bad("empty host"));
    }
    let port = match port {
        None => DEFAULT_PORT,
        Some(p) => p
            .parse::<u16>()
            .map_err(|_| bad("port is not a number 0-65535"))?,
    };
    if addr.starts_with('[') {
        Ok(format!("[{host}]:{port}"))
    } else {
        Ok(format!("{host}:{port}"))
    }
}

/// IEEE CRC-32 (reflected, polynomial 0xEDB88320), as zlib and Perl's String::CRC32 compute it.
fn crc32(data: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &byte in data {
        crc ^= u32::from(byte);
        for _ in 0..8 {
            let mask = (crc & 1).wrapping_neg();
            crc = (crc >> 1) ^ (0xEDB8_8320 & mask);
        }
    }
    !crc
}

/// The key a job is routed by: its unique id, or its workload for the unique id `-`; `None`
/// when the job has no key (empty unique, or `-` with an empty workload).
fn routing_key<'a>(unique: &'a [u8], workload: &'a [u8]) -> Option<&'a [u8]> {
    let key = if unique == b"-" { workload } else { unique };
    (!key.is_empty()).then_some(key)
}

/// Index of the server (among `servers`, in the order they were added) that a job with this
/// unique id and workload is sent to first, or `None` when the job has no routing key and is
/// spread round-robin instead. See the module docs for the hash.
///
/// ```
/// // Same unique id, same server, whatever the payload.
/// let a = gearbox_client::server_index(b"order-17", b"x", 3);
/// assert_eq!(a, gearbox_client::server_index(b"order-17", b"other payload", 3));
/// assert_eq!(gearbox_client::server_index(b"", b"x", 3), None);
/// ```
pub fn server_index(unique: &[u8], workload: &[u8], servers: usize) -> Option<usize> {
    if servers == 0 {
        return None;
    }
    let key = routing_key(unique, workload)?;
    let hash = (crc32(key) >> 16) & 0x7fff;
    Some(hash as usize % servers)
}

/// Round-robin cursor for requests without a routing key.
#[derive(Debug, Default)]
pub(crate) struct RoundRobin(AtomicUsize);

impl RoundRobin {
    /// The order in which to try `servers` servers for a request: the hashed server first when
    /// there is a key, else the next round-robin start; then the others, wrapping around.
    pub(crate) fn order(&self, key: Option<(&[u8], &[u8])>, servers: usize) -> Vec<usize> {
        if servers == 0 {
            return Vec::new();
        }
        let start = key
            .and_then(|(unique, workload)| server_index(unique, workload, servers))
            .unwrap_or_else(|| self.0.fetch_add(1, Ordering::Relaxed) % servers);
        (0..servers).map(|i| (start + i) % servers).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc32_matches_zlib() {
        assert_eq!(crc32(b""), 0);
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
        assert_eq!(
            crc32(b"The quick brown fox jumps over the lazy dog"),
            0x414F_A339
        );
    }

    #[test]
    fn hash_is_perl_gearman_task_hash() {
        // (crc32("123456789") >> 16) & 0x7fff = 0xCBF4 & 0x7fff = 0x4BF4 = 19444.
        assert_eq!(server_index(b"123456789", b"", 1 << 15), Some(19444));
        assert_eq!(server_index(b"123456789", b"", 7), Some(19444 % 7));
        // `-` routes by the workload.
        assert_eq!(
            server_index(b"-", b"123456789", 1 << 15),
            Some(19444),
            "unique '-' hashes the payload"
        );
        assert_eq!(server_index(b"-", b"", 3), None);
        assert_eq!(server_index(b"", b"123456789", 3), None);
    }

    #[test]
    fn order_starts_at_hash_and_wraps() {
        let rr = RoundRobin::default();
        let start = server_index(b"abc", b"", 3).unwrap();
        let order = rr.order(Some((b"abc", b"")), 3);
        assert_eq!(order, vec![start, (start + 1) % 3, (start + 2) % 3]);
        assert_eq!(rr.order(None, 3)[0], 0);
        assert_eq!(rr.order(None, 3)[0], 1);
        assert_eq!(rr.order(None, 3)[0], 2);
        assert!(rr.order(None, 0).is_empty());
    }

    #[test]
    fn addresses() {
        assert_eq!(normalize_addr("localhost").unwrap(), "localhost:4730");
        assert_eq!(normalize_addr("127.0.0.1:1").unwrap(), "127.0.0.1:1");
        assert_eq!(normalize_addr("[::1]").unwrap(), "[::1]:4730");
        assert_eq!(normalize_addr("[::1]:99").unwrap(), "[::1]:99");
        for bad in ["", ":1", "h:x", "h:70000", "::1", "[::1", "[::1]x"] {
            assert!(normalize_addr(bad).is_err(), "{bad:?} accepted");
        }
    }
}
