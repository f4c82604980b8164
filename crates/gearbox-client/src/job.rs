//! A job a worker is running: what it is (function, handle, unique id, workload) and how the
//! worker reports on it (status, data, warning, then exactly one of complete, fail or
//! exception).
//!
//! This module owns the "exactly one answer" rule: the answering methods consume the job, and
//! a job dropped unanswered (a handler that returned early, panicked, or was cancelled) sends
//! WORK_FAIL, so no client is left waiting for a job nobody runs. It owns no connection: it
//! writes to the one the job came from, and a job whose connection died cannot be answered
//! (the server has already requeued it).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use gearbox_proto::PacketType;
use tokio::sync::{Notify, OwnedSemaphorePermit};

use crate::conn::{request, Outbox};
use crate::error::Error;

/// Counts the jobs a connection has handed out that are not finished yet.
#[derive(Debug, Default)]
pub(crate) struct InFlight {
    count: AtomicUsize,
    pub(crate) changed: Notify,
}

impl InFlight {
    pub(crate) fn count(&self) -> usize {
        self.count.load(Ordering::Acquire)
    }
}

/// Held by a job while it is not finished.
#[derive(Debug)]
pub(crate) struct InFlightGuard(Arc<InFlight>);

impl InFlightGuard {
    pub(crate) fn new(inflight: &Arc<InFlight>) -> InFlightGuard {
        inflight.count.fetch_add(1, Ordering::AcqRel);
        InFlightGuard(inflight.clone())
    }
}

impl Drop for InFlightGuard {
    fn drop(&mut self) {
        self.0.count.fetch_sub(1, Ordering::AcqRel);
        self.0.changed.notify_one();
    }
}

/// A job assigned to this worker.
///
/// Report progress with [`Job::status`], [`Job::data`] and [`Job::warning`]; finish with
/// [`Job::complete`], [`Job::fail`] or [`Job::exception`], which consume it. Dropping a job
/// without finishing it sends WORK_FAIL.
///
/// The sending methods return once the packet has been written to the socket; they fail with
/// [`Error::ConnectionLost`] when the job's connection is gone (the server requeues the job
/// then, and another worker may already be running it).
#[derive(Debug)]
pub struct Job {
    handle: Bytes,
    function: Bytes,
    unique: Bytes,
    workload: Bytes,
    // Field order matters: the outbox is released before the in-flight guard, so a draining
    // worker that sees the count reach zero finds every answer already queued.
    outbox: Outbox,
    answered: bool,
    _permit: Option<OwnedSemaphorePermit>,
    _guard: InFlightGuard,
}

impl Job {
    pub(crate) fn new(
        handle: Bytes,
        function: Bytes,
        unique: Bytes,
        workload: Bytes,
        outbox: Outbox,
        permit: Option<OwnedSemaphorePermit>,
        guard: InFlightGuard,
    ) -> Job {
        Job {
            handle,
            function,
            unique,
            workload,
            outbox,
            answered: false,
            _permit: permit,
            _guard: guard,
        }
    }

    /// The function name the job was submitted for.
    pub fn function(&self) -> &[u8] {
        &self.function
    }

    /// The job handle assigned by the server.
    pub fn handle(&self) -> &[u8] {
        &self.handle
    }

    /// The unique id given by the client (empty: none).
    pub fn unique(&self) -> &[u8] {
        &self.unique
    }

    /// The workload.
    pub fn workload(&self) -> &Bytes {
        &self.workload
    }

    /// The server (as given to `add_server`) the job came from.
    pub fn server(&self) -> &str {
        self.outbox.server()
    }

    /// WORK_STATUS: progress `numerator / denominator`.
    pub async fn status(&self, numerator: u32, denominator: u32) -> Result<(), Error> {
        let (n, d) = (numerator.to_string(), denominator.to_string());
        let packet = request(
            PacketType::WorkStatus,
            &[&self.handle, n.as_bytes()],
            d.as_bytes(),
        );
        self.outbox.send_flushed(packet).await
    }

    /// WORK_DATA: a chunk of partial output for the waiting clients.
    pub async fn data(&self, data: impl AsRef<[u8]>) -> Result<(), Error> {
        self.send(PacketType::WorkData, data.as_ref()).await
    }

    /// WORK_WARNING: a warning for the waiting clients.
    pub async fn warning(&self, data: impl AsRef<[u8]>) -> Result<(), Error> {
        self.send(PacketType::WorkWarning, data.as_ref()).await
    }

    /// WORK_COMPLETE: finish with a result.
    pub async fn complete(mut self, result: impl AsRef<[u8]>) -> Result<(), Error> {
        self.answered = true;
        self.send(PacketType::WorkComplete, result.as_ref()).await
    }

    /// WORK_FAIL: finish as failed.
    pub async fn fail(mut self) -> Result<(), Error> {
        self.answered = true;
        self.outbox.send_flushed(self.fail_packet()).await
    }

    /// WORK_EXCEPTION: finish with an exception. Clients that enabled exceptions receive the
    /// data; gearmand and gearboxd send the others WORK_FAIL.
    pub async fn exception(mut self, data: impl AsRef<[u8]>) -> Result<(), Error> {
        self.answered = true;
        self.send(PacketType::WorkException, data.as_ref()).await
    }

    async fn send(&self, kind: PacketType, data: &[u8]) -> Result<(), Error> {
        let packet = request(kind, &[&self.handle], data);
        self.outbox.send_flushed(packet).await
    }

    fn fail_packet(&self) -> Bytes {
        request(PacketType::WorkFail, &[], &self.handle)
    }
}

impl Drop for Job {
    fn drop(&mut self) {
        if !self.answered {
            tracing::warn!(
                handle = %String::from_utf8_lossy(&self.handle),
                "job dropped without an answer; sending WORK_FAIL"
            );
            let _ = self.outbox.send(self.fail_packet());
        }
    }
}
