//! A Gearman client and worker library on tokio, for Gearbox's `gearboxd` and any gearmand
//! compatible server.
//!
//! * [`Client`] submits jobs — foreground (stream events, await the result through a
//!   [`JobHandle`]) or background, at every [`Priority`], with or without a unique id, or at a
//!   time ([`JobRequest::run_at`]) — runs [`TaskSet`]s, and queries status by handle or unique
//!   id.
//! * On gearboxd, [`Client::schedule`] creates recurring jobs (cron), and typed admin calls
//!   read kept results ([`Client::kept_result`]) and list, retry and purge dead letters
//!   ([`Client::dead_letters`], [`Client::retry_dead`]).
//! * [`Worker`] registers functions on every server, runs their [`Job`]s with up to N at once
//!   (handlers, or a pull API), and drains gracefully.
//! * [`blocking`] wraps both for synchronous callers (the `gearbox` CLI, the PHP extension):
//!   fork-safe, no thread or runtime until the first I/O.
//!
//! Behaviour that Gearman users ask of clients, and what this library does:
//!
//! * **Lazy connections.** `add_server` checks syntax only; servers are connected on first
//!   use and reconnected with jittered exponential [`Backoff`]. Client id and options are sent
//!   again on every new connection; a worker registers its functions again.
//! * **Several servers.** A job with a unique id goes to the server chosen by hashing the id
//!   (the Perl client's hash, see [`server_index`]), so coalescing works across a pool; other
//!   requests go round-robin. An unreachable server is skipped for the next one.
//! * **Failover and idempotency.** A submission that could not be sent is retried on the next
//!   server. One whose connection died after it was sent is retried elsewhere only if it has a
//!   unique id; without one the caller gets [`Error::ConnectionLost`], since the job may exist.
//!   A foreground job whose connection dies after it was accepted is never resubmitted: its
//!   handle reports [`Error::ConnectionLost`] carrying the job handle (the job may have run).
//!   Give jobs unique ids, and make workers idempotent, if you need at-least-once.
//! * **Deadlines.** Every call takes the client's default timeout or the request's own, and
//!   fails with [`Error::Timeout`] — distinct from a lost connection and from
//!   [`Error::NoServerReachable`].
//! * **Robustness.** Nothing a server sends makes the library panic: malformed input closes
//!   that connection with [`Error::Protocol`]; `ERROR` packets become [`Error::Server`] with the
//!   server's code and text; events for unknown handles are logged and dropped.
//!
//! ```no_run
//! use gearbox_client::{Client, JobRequest, Worker};
//!
//! # async fn demo() -> Result<(), gearbox_client::Error> {
//! let worker = Worker::new();
//! worker.add_server("127.0.0.1:4730")?;
//! worker.register("upper", |job| async move {
//!     let out = job.workload().to_ascii_uppercase();
//!     let _ = job.complete(out).await;
//! });
//! tokio::spawn({
//!     let worker = worker.clone();
//!     async move { worker.run().await }
//! });
//!
//! let client = Client::new();
//! client.add_server("127.0.0.1:4730")?;
//! let result = client.run(JobRequest::new("upper", "hi")).await?;
//! assert_eq!(&result[..], b"HI");
//! worker.shutdown().await;
//! # Ok(()) }
//! ```
//!
//! Logging goes through `tracing`; nothing is printed unless the application installs a
//! subscriber.

mod admin;
mod backoff;
pub mod blocking;
mod client;
mod conn;
mod deadline;
mod error;
mod event;
mod handle;
mod job;
mod pool;
mod request;
mod ring;
mod schedule;
mod session;
mod taskset;
mod tls;
mod worker;
mod worker_conn;

pub use admin::{DeadLetter, DeadSelector, FailureKind, KeptResult, ResultState};
pub use backoff::Backoff;
pub use client::{Client, DEFAULT_CONNECT_TIMEOUT};
pub use error::Error;
pub use event::{JobEvent, JobStatus, UniqueStatus};
pub use handle::JobHandle;
pub use job::Job;
pub use request::{JobRequest, Priority, MAX_REDUCER_LEN, MAX_UNIQUE_LEN};
pub use ring::{server_index, DEFAULT_PORT};
pub use schedule::MAX_SCHEDULE_UNIQUE_LEN;
pub use taskset::{TaskEvent, TaskId, TaskSet};
pub use tls::{Tls, TlsOptions};
pub use worker::Worker;
