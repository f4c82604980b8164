//! Server configuration: what the network layer needs beyond the engine's own settings.
//!
//! Plain data with defaults; the `gearboxd` binary fills it from its command line. Keeping it
//! free of parsing lets tests build a server in a few lines.

use std::sync::Arc;
use std::time::Duration;

use crate::acl::AclFile;
use crate::engine::EngineConfig;

/// TCP keepalive settings for accepted sockets (gearmand's `--keepalive*` options).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Keepalive {
    /// Idle time before the first probe (TCP_KEEPIDLE); system default when `None`.
    pub idle: Option<Duration>,
    /// Time between probes (TCP_KEEPINTVL).
    pub interval: Option<Duration>,
    /// Probes before the peer is declared dead (TCP_KEEPCNT).
    pub count: Option<u32>,
}

/// Everything `serve` needs.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Job rules and identity.
    pub engine: EngineConfig,
    /// Largest packet body accepted; larger ones get ERROR and the connection is closed.
    pub max_body: u32,
    /// Longest admin line accepted.
    pub max_admin_line: usize,
    /// Unsent bytes above which a connection's requests are no longer read, and it is cut off
    /// once its socket has taken nothing for `outbound_timeout`.
    pub max_outbound: usize,
    /// How long a connection over `max_outbound` may go without reading before it is cut off.
    pub outbound_timeout: Duration,
    /// Unsent bytes of all connections together; beyond it the peers stalled longest are cut
    /// first.
    pub max_outbound_total: usize,
    /// Connections served at once; one accepted beyond it is closed at once (and logged).
    pub max_connections: usize,
    /// Connections from one IP address at once (0: no limit); one beyond is closed at once.
    pub max_connections_per_ip: usize,
    /// A connection that sent no complete request for this long and holds nothing (no
    /// registration, no job it runs or waits for) is closed; `None`: never.
    pub idle_timeout: Option<Duration>,
    /// A request begun but not completed within this long closes its connection (a peer
    /// trickling bytes cannot hold a connection); `None`: no limit.
    pub request_timeout: Option<Duration>,
    /// TCP keepalive for accepted sockets; `None` leaves it off.
    pub keepalive: Option<Keepalive>,
    /// On a graceful stop, how long running foreground jobs get to finish.
    pub shutdown_timeout: Duration,
    /// How long a TLS peer has to finish its handshake before it is cut off.
    pub tls_handshake_timeout: Duration,
    /// The access list, re-read when its owner reloads it; `None`: everyone may do everything.
    pub acl: Option<Arc<AclFile>>,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            engine: EngineConfig::default(),
            max_body: gearbox_proto::DEFAULT_MAX_BODY,
            max_admin_line: gearbox_proto::DEFAULT_MAX_ADMIN_LINE,
            max_outbound: 64 * 1024 * 1024,
            outbound_timeout: Duration::from_secs(10),
            max_outbound_total: 512 * 1024 * 1024,
            max_connections: 1_000_000,
            max_connections_per_ip: 0,
            idle_timeout: None,
            request_timeout: Some(Duration::from_secs(120)),
            keepalive: None,
            shutdown_timeout: Duration::from_secs(30),
            tls_handshake_timeout: Duration::from_secs(10),
            acl: None,
        }
    }
}
