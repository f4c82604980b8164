//! The client's servers: one lazily opened connection per server, reconnect backoff, and the
//! order in which servers are tried for a request.
//!
//! This module owns connection health: it opens a connection on first use, reopens it after it
//! died, and keeps a server that failed to connect out of rotation until its backoff delay has
//! passed. It does not interpret requests or decide whether a failed request may be retried on
//! another server; `client.rs` does that. Adding a server never performs network I/O.

use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use tokio::time::Instant;

use crate::backoff::Backoff;
use crate::conn;
use crate::ring::RoundRobin;
use crate::session::{Session, Setup};
use crate::tls::Tls;

/// How new connections are made.
#[derive(Debug, Clone)]
pub(crate) struct ConnectSettings {
    pub(crate) timeout: Duration,
    pub(crate) backoff: Backoff,
    pub(crate) setup: Setup,
    pub(crate) tls: Option<Tls>,
}

/// One configured server.
pub(crate) struct Slot {
    addr: String,
    state: tokio::sync::Mutex<SlotState>,
}

#[derive(Default)]
struct SlotState {
    session: Option<Session>,
    failures: u32,
    retry_at: Option<Instant>,
    last_error: String,
}

impl Slot {
    /// The server address (normalized `host:port`).
    pub(crate) fn addr(&self) -> &str {
        &self.addr
    }

    /// The live session, if the connection is currently up (no I/O).
    pub(crate) fn live_session(&self) -> Option<Session> {
        let state = self.state.try_lock().ok()?;
        state.session.as_ref().filter(|s| s.is_alive()).cloned()
    }

    /// The server's session, connecting if needed. Fails without trying when the server is
    /// waiting out its backoff after failed connects.
    pub(crate) async fn session(&self, settings: &ConnectSettings) -> Result<Session, String> {
        let mut state = self.state.lock().await;
        if let Some(s) = state.session.as_ref().filter(|s| s.is_alive()) {
            return Ok(s.clone());
        }
        if let Some(at) = state.retry_at {
            if Instant::now() < at {
                return Err(format!("{} (reconnect backoff)", state.last_error));
            }
        }
        match conn::connect(&self.addr, settings.timeout, settings.tls.as_ref()).await {
            Ok(link) => {
                let session = Session::start(link, &settings.setup);
                state.session = Some(session.clone());
                state.failures = 0;
                state.retry_at = None;
                Ok(session)
            }
            Err(e) => {
                state.session = None;
                state.failures = state.failures.saturating_add(1);
                state.retry_at = Some(Instant::now() + settings.backoff.delay(state.failures));
                state.last_error = e.clone();
                tracing::warn!(server = %self.addr, failures = state.failures, "{e}");
                Err(e)
            }
        }
    }
}

/// The configured servers, in the order they were added.
#[derive(Default)]
pub(crate) struct Pool {
    slots: RwLock<Vec<Arc<Slot>>>,
    rr: RoundRobin,
    // Serializes `add` so that a server is never listed twice.
    adding: Mutex<()>,
}

impl Pool {
    /// Add a server (already normalized); adding one twice keeps one entry.
    pub(crate) fn add(&self, addr: String) {
        let _guard = self.adding.lock().unwrap_or_else(|e| e.into_inner());
        let mut slots = self.slots.write().unwrap_or_else(|e| e.into_inner());
        if slots.iter().all(|s| s.addr != addr) {
            slots.push(Arc::new(Slot {
                addr,
                state: tokio::sync::Mutex::new(SlotState::default()),
            }));
        }
    }

    /// Every server, in the order added.
    pub(crate) fn all(&self) -> Vec<Arc<Slot>> {
        self.slots.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Servers in the order to try for a request routed by `key` (unique id, workload);
    /// see `ring.rs`.
    pub(crate) fn order(&self, key: Option<(&[u8], &[u8])>) -> Vec<Arc<Slot>> {
        let slots = self.all();
        self.rr
            .order(key, slots.len())
            .into_iter()
            .map(|i| slots[i].clone())
            .collect()
    }
}
