//! A connection to a database server that is reopened when it fails, shared by the server
//! backends.
//!
//! Any error drops the connection. An operation that fails on a connection that had worked
//! before is tried once more on a fresh one, so a database restart between two batches costs
//! no submission an error; an operation that fails on a fresh connection is reported at once.
//! Retrying is safe because every backend's writes are idempotent (upserts and deletes by id).
//! Connect and I/O timeouts keep a failing `append` within a few seconds, so submitters get
//! ERROR promptly while the database is down and succeed again once it is back.

use std::fmt::Display;
use std::time::Duration;

use tracing::{info, warn};

use crate::StoreError;

/// How long connecting to a database server may take.
pub(crate) const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
/// How long a read or write on an open connection may block.
pub(crate) const IO_TIMEOUT: Duration = Duration::from_secs(5);
/// Jobs fetched per round trip during replay; bounds replay's memory use.
pub(crate) const REPLAY_PAGE: usize = 500;

/// An optional open connection and the name of its backend (for the log).
pub(crate) struct Link<C> {
    conn: Option<C>,
    backend: &'static str,
}

impl<C> Link<C> {
    pub(crate) fn new(backend: &'static str) -> Link<C> {
        Link {
            conn: None,
            backend,
        }
    }

    /// Run `op` on the connection, opening one with `connect` if there is none, and retry once
    /// on a fresh connection if an established one fails.
    pub(crate) fn run<T, E>(
        &mut self,
        connect: impl Fn() -> Result<C, StoreError>,
        mut op: impl FnMut(&mut C) -> Result<T, E>,
    ) -> Result<T, StoreError>
    where
        E: Into<StoreError> + Display,
    {
        if let Some(mut conn) = self.conn.take() {
            match op(&mut conn) {
                Ok(value) => {
                    self.conn = Some(conn);
                    return Ok(value);
                }
                Err(e) => {
                    warn!(backend = self.backend, error = %e, "store connection failed; reconnecting");
                }
            }
        }
        let mut conn = connect()?;
        info!(backend = self.backend, "connected to the store");
        let value = op(&mut conn).map_err(Into::into)?;
        self.conn = Some(conn);
        Ok(value)
    }
}
