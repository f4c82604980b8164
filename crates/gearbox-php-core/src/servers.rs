//! Where PECL's client and worker find their job servers: `addServer()`'s defaults (`localhost`,
//! port 4730), `addServers()`'s list syntax, the reachability probe PECL's `addServer()` makes
//! when it sets the exceptions option, and the random unique ids libgearman gives jobs that
//! were submitted without one. No state lives here.

use std::time::Duration;

use bytes::Bytes;
use gearbox_client::blocking::Client;

/// `GEARMAN_DEFAULT_TCP_HOST`.
pub const DEFAULT_HOST: &str = "localhost";
/// `GEARMAN_DEFAULT_TCP_PORT`.
pub const DEFAULT_PORT: u16 = 4730;

/// The `host:port` to connect to for `addServer($host, $port)`: an empty host is
/// `localhost`, port 0 is 4730, an IPv6 address goes in brackets.
pub fn address(host: Option<&str>, port: u16) -> String {
    let host = host.filter(|h| !h.is_empty()).unwrap_or(DEFAULT_HOST);
    let port = if port == 0 { DEFAULT_PORT } else { port };
    if host.contains(':') && !host.starts_with('[') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

/// The `(host, port)` entries of an `addServers()` list such as `"10.0.0.1:4730,10.0.0.2"`
/// (port 0 where none is given); an empty or missing list is `localhost`.
pub fn list(servers: Option<&str>) -> Vec<(&str, u16)> {
    servers
        .filter(|s| !s.is_empty())
        .unwrap_or(DEFAULT_HOST)
        .split(',')
        .map(str::trim)
        .filter(|e| !e.is_empty())
        .map(split_host_port)
        .collect()
}

/// Connect to `addr` (with `tls` when given) and set the exceptions option there, as PECL's
/// `addServer()` does: an unreachable server is an error now rather than at the first job.
pub fn probe(addr: &str, tls: Option<gearbox_client::Tls>) -> Result<(), gearbox_client::Error> {
    let probe = Client::new();
    probe.set_tls(tls);
    probe.set_exceptions(true);
    probe.set_timeout(Some(Duration::from_secs(10)));
    probe.add_server(addr)?;
    probe.echo("").map(|_| ())
}

/// The unique id of a job submitted with `unique`: that one, or (when it is missing or empty) a
/// random one, as libgearman gives: workers see a 36-character unique either way, and such
/// jobs never coalesce.
pub fn unique_or_random(unique: Option<&[u8]>) -> Bytes {
    unique
        .filter(|u| !u.is_empty())
        .map_or_else(|| Bytes::from(uuid()), Bytes::copy_from_slice)
}

/// A random version-4 UUID in its 36-character text form. Its randomness is std's per-process
/// hashing keys over a counter and the clock: unique ids need to differ, not to be secret.
pub fn uuid() -> String {
    use std::hash::{BuildHasher, Hasher};
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::OnceLock;
    static KEYS: OnceLock<std::collections::hash_map::RandomState> = OnceLock::new();
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let keys = KEYS.get_or_init(std::collections::hash_map::RandomState::new);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    // Parent and child of a fork share the keys and the counter; the pid tells them apart.
    let pid = std::process::id();
    let half = |salt: u64| {
        let mut h = keys.build_hasher();
        h.write_u64(salt);
        h.write_u64(n);
        h.write_u128(nanos);
        h.write_u32(pid);
        h.finish()
    };
    let bits = (u128::from(half(1)) << 64 | u128::from(half(2))) & !(0xf << 76) & !(0x3 << 62)
        | (0x4 << 76)
        | (0x2 << 62);
    let hex = format!("{bits:032x}");
    format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}

/// `host[:port]` (IPv6 in brackets), the port 0 when absent.
fn split_host_port(entry: &str) -> (&str, u16) {
    if let Some(rest) = entry.strip_prefix('[') {
        if let Some((host, after)) = rest.split_once(']') {
            let port = after
                .strip_prefix(':')
                .and_then(|p| p.parse().ok())
                .unwrap_or(0);
            return (host, port);
        }
    }
    match entry.rsplit_once(':') {
        Some((host, port)) if !host.contains(':') => (host, port.parse().unwrap_or(0)),
        _ => (entry, 0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uuids_are_36_characters_and_differ() {
        let (a, b) = (uuid(), uuid());
        assert_eq!(a.len(), 36);
        assert_ne!(a, b);
        assert_eq!(&a[14..15], "4", "version 4: {a}");
        assert!("89ab".contains(&a[19..20]), "RFC 4122 variant: {a}");
    }

    #[test]
    fn server_lists_split_like_pecls() {
        assert_eq!(split_host_port("h:1"), ("h", 1));
        assert_eq!(split_host_port("h"), ("h", 0));
        assert_eq!(split_host_port("[::1]:7"), ("::1", 7));
        assert_eq!(split_host_port("::1"), ("::1", 0));
    }

    #[test]
    fn addresses_take_pecls_defaults() {
        assert_eq!(address(None, 0), "localhost:4730");
        assert_eq!(address(Some(""), 7), "localhost:7");
        assert_eq!(address(Some("::1"), 0), "[::1]:4730");
        assert_eq!(list(Some("a:1, b")), [("a", 1), ("b", 0)]);
        assert_eq!(list(None), [("localhost", 0)]);
    }
}
