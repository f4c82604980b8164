//! What a client gets back about a job: the events of a foreground job ([`JobEvent`]), the
//! [`JobHandle`] that streams them and resolves to the result, and the answers to status
//! queries ([`JobStatus`], [`UniqueStatus`]).
//!
//! This module owns the client-side view of one job after submission. It does not submit,
//! route or retry (that is `client.rs`), and it never resubmits a job whose connection died:
//! it reports [`Error::ConnectionLost`] with the job's handle instead.

use std::time::Duration;

use bytes::Bytes;
use tokio::sync::mpsc;
use tokio::time::Instant;

use crate::error::Error;
use crate::session::Session;

/// One event of a foreground job, in the order the worker sent them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JobEvent {
    /// `WORK_STATUS`: progress `numerator / denominator` (non-numeric text reads as 0, as in
    /// libgearman).
    Status {
        /// Work done.
        numerator: u32,
        /// Total work.
        denominator: u32,
    },
    /// `WORK_DATA`: a chunk of partial output.
    Data(Bytes),
    /// `WORK_WARNING`: a warning from the worker.
    Warning(Bytes),
    /// `WORK_COMPLETE` (terminal): the result.
    Complete(Bytes),
    /// `WORK_FAIL` (terminal).
    Fail,
    /// `WORK_EXCEPTION` (terminal), only with exceptions enabled on the client.
    Exception(Bytes),
}

impl JobEvent {
    /// True for the events that end a job: complete, fail, exception.
    pub fn is_terminal(&self) -> bool {
        matches!(
            self,
            JobEvent::Complete(_) | JobEvent::Fail | JobEvent::Exception(_)
        )
    }
}

/// What the session hands a listener.
#[derive(Debug)]
pub(crate) enum Update {
    /// The server accepted the submission (sent only to listeners that ask for it).
    Created(Bytes),
    /// An event of the job.
    Event(JobEvent),
    /// No more events will come: the connection ended.
    Failed(Error),
}

/// Where the session delivers news of one submission: a channel and the listener's id (a task
/// set shares one channel among many listeners).
#[derive(Clone)]
pub(crate) struct Listener {
    pub(crate) id: u64,
    pub(crate) tx: mpsc::UnboundedSender<(u64, Update)>,
    /// Receive the job's WORK_* events (foreground jobs).
    pub(crate) follow: bool,
    /// Receive [`Update::Created`] when the server accepts the job.
    pub(crate) announce: bool,
}

/// A foreground job that the server accepted. Await [`JobHandle::result`] for the outcome, or
/// read every event with [`JobHandle::next_event`].
///
/// The handle keeps its connection open. Dropping it stops listening; the job itself keeps
/// running on the server (Gearman has no cancel).
#[derive(Debug)]
pub struct JobHandle {
    handle: Bytes,
    server: String,
    rx: mpsc::UnboundedReceiver<(u64, Update)>,
    deadline: Option<Instant>,
    done: bool,
    _session: SessionGuard,
}

/// Keeps a session's command channel open while a job handle exists.
pub(crate) struct SessionGuard(#[allow(dead_code)] pub(crate) Session);

impl std::fmt::Debug for SessionGuard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SessionGuard")
    }
}

impl JobHandle {
    pub(crate) fn new(
        handle: Bytes,
        server: String,
        rx: mpsc::UnboundedReceiver<(u64, Update)>,
        deadline: Option<Instant>,
        session: Session,
    ) -> JobHandle {
        JobHandle {
            handle,
            server,
            rx,
            deadline,
            done: false,
            _session: SessionGuard(session),
        }
    }

    /// The job handle the server assigned (opaque bytes, e.g. `H:host:42`).
    pub fn handle(&self) -> &Bytes {
        &self.handle
    }

    /// The server (as given to `add_server`) that holds the job.
    pub fn server(&self) -> &str {
        &self.server
    }

    /// Change the deadline for the rest of this job: `None` waits without limit.
    pub fn set_timeout(&mut self, timeout: Option<Duration>) {
        self.deadline = timeout.map(|t| Instant::now() + t);
    }

    /// The next event; `Ok(None)` once a terminal event has been returned.
    ///
    /// Errors: [`Error::Timeout`] when the deadline passes (the job goes on; calling again
    /// waits again only if the deadline was extended), [`Error::ConnectionLost`] with the
    /// handle when the connection to the server died (the job may have run).
    pub async fn next_event(&mut self) -> Result<Option<JobEvent>, Error> {
        if self.done {
            return Ok(None);
        }
        let next = match self.deadline {
            Some(at) => tokio::time::timeout_at(at, self.rx.recv())
                .await
                .map_err(|_| Error::Timeout)?,
            None => self.rx.recv().await,
        };
        let update = next.map(|(_, u)| u).unwrap_or_else(|| {
            Update::Failed(Error::ConnectionLost {
                server: self.server.clone(),
                handle: Some(self.handle.clone()),
            })
        });
        match update {
            Update::Event(event) => {
                self.done = event.is_terminal();
                Ok(Some(event))
            }
            Update::Failed(e) => {
                self.done = true;
                Err(e)
            }
            Update::Created(_) => Box::pin(self.next_event()).await,
        }
    }

    /// Wait for the end of the job and return its result, skipping the other events.
    /// `WORK_FAIL` becomes [`Error::WorkFail`], `WORK_EXCEPTION` [`Error::WorkException`].
    pub async fn result(mut self) -> Result<Bytes, Error> {
        loop {
            match self.next_event().await? {
                Some(JobEvent::Complete(data)) => return Ok(data),
                Some(JobEvent::Fail) | None => {
                    return Err(Error::WorkFail {
                        handle: self.handle.clone(),
                    })
                }
                Some(JobEvent::Exception(data)) => {
                    return Err(Error::WorkException {
                        handle: self.handle.clone(),
                        data,
                    })
                }
                Some(_) => {}
            }
        }
    }
}

/// Answer to a status query by handle (`STATUS_RES`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobStatus {
    /// The handle, as echoed by the server.
    pub handle: Bytes,
    /// The server knows the job (queued or running). False for finished or unknown jobs.
    pub known: bool,
    /// A worker is running the job.
    pub running: bool,
    /// Last progress numerator reported by the worker.
    pub numerator: u32,
    /// Last progress denominator reported by the worker.
    pub denominator: u32,
}

/// Answer to a status query by unique id (`STATUS_RES_UNIQUE`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UniqueStatus {
    /// The unique id, as echoed by the server.
    pub unique: Bytes,
    /// The server knows a job with this unique id.
    pub known: bool,
    /// A worker is running it.
    pub running: bool,
    /// Last progress numerator.
    pub numerator: u32,
    /// Last progress denominator.
    pub denominator: u32,
    /// Foreground clients waiting for the job.
    pub waiting_clients: u32,
}

/// A decimal field read the way libgearman reads it (`atoi`): leading digits, anything else
/// ends the number, no digits is 0, too large saturates.
pub(crate) fn parse_u32(field: &[u8]) -> u32 {
    let mut n: u32 = 0;
    for &b in field.iter().skip_while(|b| **b == b' ') {
        if !b.is_ascii_digit() {
            break;
        }
        n = n.saturating_mul(10).saturating_add(u32::from(b - b'0'));
    }
    n
}

#[cfg(test)]
mod tests {
    use super::parse_u32;

    #[test]
    fn numbers_are_read_leniently() {
        assert_eq!(parse_u32(b"42"), 42);
        assert_eq!(parse_u32(b"7x"), 7);
        assert_eq!(parse_u32(b""), 0);
        assert_eq!(parse_u32(b"abc"), 0);
        assert_eq!(parse_u32(b"99999999999"), u32::MAX);
    }
}
