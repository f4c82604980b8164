//! The [`JobHandle`]: the client-side view of one foreground job after submission, which
//! streams its events and resolves to its result.
//!
//! It does not submit, route or retry (that is `client.rs`), and it never resubmits a job whose
//! connection died: it reports [`Error::ConnectionLost`] with the job's handle instead.

use std::time::Duration;

use bytes::Bytes;
use tokio::sync::mpsc;
use tokio::time::Instant;

use crate::error::Error;
use crate::event::{JobEvent, Update};
use crate::session::Session;

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
