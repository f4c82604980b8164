//! How a server stops: the errors that end it, and the two ways it can be asked to.

use gearbox_store::StoreError;

/// Errors that stop the server.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServerError {
    /// A listener failed in a way that is not about one connection.
    #[error("listener failed: {0}")]
    Listener(#[source] std::io::Error),
    /// The durable store could not be read at start.
    #[error("replaying the job store failed: {0}")]
    Replay(#[source] StoreError),
    /// The HTTP listener could not be started.
    #[error("the HTTP listener could not start: {0}")]
    Http(#[source] std::io::Error),
}

/// How the server was asked to stop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stop {
    /// Stop accepting, let running foreground jobs finish (bounded), then return.
    Graceful,
    /// Return at once.
    Immediate,
}
