//! The library's one error type.
//!
//! Every failure a caller can see is a variant of [`Error`], chosen so that the cases a program
//! must treat differently stay distinguishable: a deadline that passed ([`Error::Timeout`]), a
//! connection that died while a request or job was outstanding ([`Error::ConnectionLost`]), no
//! server accepting connections at all ([`Error::NoServerReachable`]), and an `ERROR` packet
//! from the server ([`Error::Server`]). Nothing here performs I/O or decides policy; and nothing
//! a server sends may turn into a panic instead of one of these values.

use bytes::Bytes;

/// What went wrong with a call, a job or a connection.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// No job server was added to the client or worker.
    #[error("no job server configured")]
    NoServers,
    /// Every configured server refused the connection, was unreachable, or is waiting out its
    /// reconnect backoff. `last` describes the last failure seen.
    #[error("no job server reachable (last error: {last})")]
    NoServerReachable {
        /// The last connection failure, for logs.
        last: String,
    },
    /// The call's deadline passed before it completed. The request may still be processed by
    /// the server (a submitted job may still run).
    #[error("deadline exceeded")]
    Timeout,
    /// The connection to `server` broke while this request or job was outstanding.
    ///
    /// With `handle: None` the server may or may not have received the request. With
    /// `handle: Some(..)` the server had accepted the job (JOB_CREATED) before the connection
    /// broke: the job may have run, may still be running, or may be lost with the server. The
    /// library never resubmits such a job by itself.
    #[error("connection to {server} lost{}", match handle {
        Some(h) => format!(" while waiting for job {}", String::from_utf8_lossy(h)),
        None => String::new(),
    })]
    ConnectionLost {
        /// Address of the server, as given to `add_server`.
        server: String,
        /// The job's handle when the job had been created on that server.
        handle: Option<Bytes>,
    },
    /// The server answered with an `ERROR` packet (PROTOCOL.md §6).
    #[error("server {server} answered ERROR {code}: {text}")]
    Server {
        /// Address of the server.
        server: String,
        /// The error code, e.g. `QUEUE_ERROR`, `UNKNOWN_OPTION`, `ARGUMENT_TOO_LARGE`.
        code: String,
        /// The server's free-form message.
        text: String,
    },
    /// The worker reported failure (`WORK_FAIL`), or the server failed the job.
    #[error("job {} failed", String::from_utf8_lossy(handle))]
    WorkFail {
        /// The job handle.
        handle: Bytes,
    },
    /// The worker raised an exception (`WORK_EXCEPTION`); only delivered when the client
    /// enabled exceptions, otherwise the server turns it into [`Error::WorkFail`].
    #[error(
        "job {} raised an exception: {}",
        String::from_utf8_lossy(handle),
        String::from_utf8_lossy(data)
    )]
    WorkException {
        /// The job handle.
        handle: Bytes,
        /// The exception payload sent by the worker.
        data: Bytes,
    },
    /// The server broke the protocol (garbage bytes, a malformed packet, a reply that matches
    /// no request). The connection was closed.
    #[error("protocol violation by {server}: {detail}")]
    Protocol {
        /// Address of the server.
        server: String,
        /// What was wrong.
        detail: String,
    },
    /// An argument was rejected before anything was sent (bad address, unique too long…).
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
    /// A cron expression given to [`Client::schedule`](crate::Client::schedule) is not five
    /// fields (`minute hour day-of-month month day-of-week`) nor one of the `@` shorthands;
    /// nothing was sent. What each field holds is checked by the server (`ERROR
    /// INVALID_SCHEDULE`, an [`Error::Server`]).
    #[error(
        "cron expression {expression:?} has {fields} field(s); expected 5: minute hour \
         day-of-month month day-of-week (or @hourly, @daily, @weekly, @monthly, @yearly)"
    )]
    CronFields {
        /// The expression as given.
        expression: String,
        /// How many whitespace-separated fields it has.
        fields: usize,
    },
    /// The worker was drained or the object was used after it was shut down (or, in the
    /// blocking facade, after a `fork()` in a child process).
    #[error("closed")]
    Closed,
}

impl Error {
    /// True for [`Error::Timeout`].
    pub fn is_timeout(&self) -> bool {
        matches!(self, Error::Timeout)
    }

    /// True for [`Error::ConnectionLost`].
    pub fn is_connection_lost(&self) -> bool {
        matches!(self, Error::ConnectionLost { .. })
    }

    /// The server's `ERROR` code, for [`Error::Server`].
    pub fn server_code(&self) -> Option<&str> {
        match self {
            Error::Server { code, .. } => Some(code),
            _ => None,
        }
    }
}
