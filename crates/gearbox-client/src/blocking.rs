//! Blocking wrappers of [`Client`](crate::Client) and [`Worker`](crate::Worker) for synchronous
//! programs: the `gearbox` CLI and the PHP extension.
//!
//! This module owns the runtime those programs do not have, and fork safety. Nothing here
//! creates a thread or a runtime when it is loaded or when an object is created or configured:
//! a current-thread tokio runtime is built at the first call that does I/O, and only that call
//! (and later ones) drives the connections — between calls nothing runs in the background. If
//! the process id differs from the one that built the runtime (the program forked, as PHP-FPM
//! and `pcntl_fork` do), the old runtime and connections are abandoned with `std::mem::forget`
//! (dropping them in a forked child would shut down and deregister the sockets it shares with
//! the parent, and can hang on state copied from it) and fresh ones are built; an object
//! dropped in a child abandons them the same way; objects that belong to the old runtime ([`JobHandle`], [`TaskSet`], [`Job`])
//! answer [`Error::Closed`] in the child. Must not be called from inside an async runtime.
//!
//! ```no_run
//! use gearbox_client::blocking::Client;
//! use gearbox_client::JobRequest;
//!
//! let client = Client::new();
//! client.add_server("127.0.0.1:4730").unwrap();
//! client.set_timeout(Some(std::time::Duration::from_secs(10)));
//! let out = client.run(JobRequest::new("reverse", "hello")).unwrap();
//! println!("{}", String::from_utf8_lossy(&out));
//! ```

use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use tokio::runtime::Runtime;

use crate::admin::{DeadLetter, DeadSelector, KeptResult};
use crate::backoff::Backoff;
use crate::error::Error;
use crate::event::{JobEvent, JobStatus, UniqueStatus};
use crate::request::JobRequest;
use crate::taskset::{TaskEvent, TaskId};

/// A runtime and the process that built it.
#[derive(Clone)]
struct RtRef {
    pid: u32,
    rt: Arc<Runtime>,
}

impl RtRef {
    /// Run `fut` to completion on this runtime, unless the process forked since it was built.
    fn block_on<T>(&self, fut: impl Future<Output = Result<T, Error>>) -> Result<T, Error> {
        if self.pid != std::process::id() {
            return Err(Error::Closed);
        }
        self.run(fut)
    }

    /// [`RtRef::block_on`] for a runtime [`Lazy::get`] has just checked against the process
    /// id: `getpid` is a system call, and a PHP call would otherwise pay for it twice.
    fn run<T>(&self, fut: impl Future<Output = Result<T, Error>>) -> Result<T, Error> {
        if tokio::runtime::Handle::try_current().is_ok() {
            return Err(Error::InvalidArgument(
                "the blocking API was called from inside an async runtime".into(),
            ));
        }
        self.rt.block_on(fut)
    }
}

/// An async object plus the runtime its connections live on, built on first use and rebuilt
/// in a forked child.
struct Lazy<T: Rebuild> {
    value: T,
    rt: Option<RtRef>,
}

trait Rebuild {
    /// A fresh object with the same settings and no connections.
    fn rebuild(&self) -> Self;
}

impl Rebuild for crate::Client {
    fn rebuild(&self) -> Self {
        crate::Client::from_config(self.snapshot())
    }
}

impl Rebuild for crate::Worker {
    fn rebuild(&self) -> Self {
        crate::Worker::from_config(self.snapshot())
    }
}

impl<T: Rebuild> Drop for Lazy<T> {
    /// In a forked child, the parent's runtime and connections are abandoned, never dropped:
    /// dropping them would shut down the sockets parent and child share (tokio shuts a write
    /// half down when it is dropped) and deregister them from the epoll instance they share,
    /// cutting the parent's connections. A child that exits without using the object, as a
    /// PHP-FPM or `pcntl_fork` child may, would do exactly that.
    fn drop(&mut self) {
        if let Some(rt) = self.rt.take_if(|r| r.pid != std::process::id()) {
            std::mem::forget(rt);
            // The object holds handles into the abandoned runtime: swap in a fresh one (no
            // I/O) so that the old one can be forgotten too.
            let fresh = self.value.rebuild();
            std::mem::forget(std::mem::replace(&mut self.value, fresh));
        }
    }
}

impl<T: Rebuild + Clone> Lazy<T> {
    fn new(value: T) -> Mutex<Lazy<T>> {
        Mutex::new(Lazy { value, rt: None })
    }

    /// The object and a runtime for it (building or rebuilding them as needed).
    fn get(cell: &Mutex<Lazy<T>>) -> Result<(T, RtRef), Error> {
        let mut lazy = cell.lock().unwrap_or_else(|e| e.into_inner());
        let pid = std::process::id();
        if let Some(old) = lazy.rt.take_if(|r| r.pid != pid) {
            // Forked: never drop what the parent's runtime owns (see the module docs).
            std::mem::forget(old);
            let fresh = lazy.value.rebuild();
            std::mem::forget(std::mem::replace(&mut lazy.value, fresh));
        }
        let rt = match &lazy.rt {
            Some(rt) => rt.clone(),
            None => {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .map_err(|e| Error::InvalidArgument(format!("cannot start a runtime: {e}")))?;
                let rt = RtRef {
                    pid,
                    rt: Arc::new(runtime),
                };
                lazy.rt = Some(rt.clone());
                rt
            }
        };
        Ok((lazy.value.clone(), rt))
    }

    /// The object for configuration, without creating a runtime.
    fn value(cell: &Mutex<Lazy<T>>) -> T {
        cell.lock().unwrap_or_else(|e| e.into_inner()).value.clone()
    }
}

/// Blocking [`crate::Client`]. Same semantics; every call blocks until done or its deadline.
pub struct Client {
    lazy: Mutex<Lazy<crate::Client>>,
}

impl Default for Client {
    fn default() -> Self {
        Client::new()
    }
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("blocking::Client")
            .field("servers", &self.servers())
            .finish()
    }
}

impl Client {
    /// A client with no servers; creates no runtime and no thread.
    pub fn new() -> Client {
        Client {
            lazy: Lazy::new(crate::Client::new()),
        }
    }

    fn cfg(&self) -> crate::Client {
        Lazy::value(&self.lazy)
    }

    fn call<T, F, Fut>(&self, f: F) -> Result<T, Error>
    where
        F: FnOnce(crate::Client) -> Fut,
        Fut: Future<Output = Result<T, Error>>,
    {
        let (client, rt) = Lazy::get(&self.lazy)?;
        rt.run(f(client))
    }

    /// See [`crate::Client::add_server`] (no I/O).
    pub fn add_server(&self, addr: &str) -> Result<(), Error> {
        self.cfg().add_server(addr)
    }

    /// See [`crate::Client::servers`].
    pub fn servers(&self) -> Vec<String> {
        self.cfg().servers()
    }

    /// See [`crate::Client::set_timeout`].
    pub fn set_timeout(&self, timeout: Option<Duration>) {
        self.cfg().set_timeout(timeout)
    }

    /// See [`crate::Client::set_connect_timeout`].
    pub fn set_connect_timeout(&self, timeout: Duration) {
        self.cfg().set_connect_timeout(timeout)
    }

    /// See [`crate::Client::set_backoff`].
    pub fn set_backoff(&self, backoff: Backoff) {
        self.cfg().set_backoff(backoff)
    }

    /// See [`crate::Client::set_client_id`].
    pub fn set_client_id(&self, id: impl Into<Bytes>) {
        self.cfg().set_client_id(id)
    }

    /// See [`crate::Client::set_exceptions`].
    pub fn set_exceptions(&self, enabled: bool) {
        self.cfg().set_exceptions(enabled)
    }

    /// See [`crate::Client::set_tls`].
    pub fn set_tls(&self, tls: Option<crate::Tls>) {
        self.cfg().set_tls(tls)
    }

    /// See [`crate::Client::run`].
    pub fn run(&self, req: JobRequest) -> Result<Bytes, Error> {
        self.call(|c| async move { c.run(req).await })
    }

    /// See [`crate::Client::submit`].
    pub fn submit(&self, req: JobRequest) -> Result<JobHandle, Error> {
        let (client, rt) = Lazy::get(&self.lazy)?;
        let inner = rt.run(client.submit(req))?;
        Ok(JobHandle { inner, rt })
    }

    /// Submit a foreground job and follow it to its end in one blocking call (one wait per
    /// job instead of one per event): [`Client::submit`] then [`JobHandle::next_event`] until
    /// a terminal event, the end of the stream, or an error.
    pub fn follow(&self, req: JobRequest) -> Result<Followed, Error> {
        self.call(|c| async move {
            let mut job = c.submit(req).await?;
            let mut followed = Followed {
                handle: job.handle().clone(),
                events: Vec::new(),
                error: None,
            };
            loop {
                match job.next_event().await {
                    Ok(Some(event)) => {
                        let end = event.is_terminal();
                        followed.events.push(event);
                        if end {
                            break;
                        }
                    }
                    Ok(None) => break,
                    Err(e) => {
                        followed.error = Some(e);
                        break;
                    }
                }
            }
            Ok(followed)
        })
    }

    /// See [`crate::Client::submit_background`].
    pub fn submit_background(&self, req: JobRequest) -> Result<Bytes, Error> {
        self.call(|c| async move { c.submit_background(req).await })
    }

    /// See [`crate::Client::schedule`].
    pub fn schedule(
        &self,
        cron: &str,
        function: impl Into<Bytes>,
        unique: impl Into<Bytes>,
        workload: impl Into<Bytes>,
    ) -> Result<Bytes, Error> {
        let (function, unique, workload) = (function.into(), unique.into(), workload.into());
        self.call(|c| async move { c.schedule(cron, function, unique, workload).await })
    }

    /// See [`crate::Client::kept_result`].
    pub fn kept_result(&self, handle: &[u8]) -> Result<KeptResult, Error> {
        self.call(|c| async move { c.kept_result(handle).await })
    }

    /// See [`crate::Client::kept_result_by_unique`].
    pub fn kept_result_by_unique(
        &self,
        function: &[u8],
        unique: &[u8],
    ) -> Result<KeptResult, Error> {
        self.call(|c| async move { c.kept_result_by_unique(function, unique).await })
    }

    /// See [`crate::Client::dead_letters`].
    pub fn dead_letters(&self, function: Option<&[u8]>) -> Result<Vec<DeadLetter>, Error> {
        self.call(|c| async move { c.dead_letters(function).await })
    }

    /// See [`crate::Client::dead_letter`].
    pub fn dead_letter(&self, id: u64) -> Result<Option<DeadLetter>, Error> {
        self.call(|c| async move { c.dead_letter(id).await })
    }

    /// See [`crate::Client::retry_dead`].
    pub fn retry_dead(&self, selector: DeadSelector) -> Result<u64, Error> {
        self.call(|c| async move { c.retry_dead(selector).await })
    }

    /// See [`crate::Client::purge_dead`].
    pub fn purge_dead(&self, selector: DeadSelector) -> Result<u64, Error> {
        self.call(|c| async move { c.purge_dead(selector).await })
    }

    /// See [`crate::Client::status`].
    pub fn status(&self, handle: &[u8]) -> Result<JobStatus, Error> {
        self.call(|c| async move { c.status(handle).await })
    }

    /// See [`crate::Client::status_unique`].
    pub fn status_unique(&self, unique: &[u8]) -> Result<UniqueStatus, Error> {
        self.call(|c| async move { c.status_unique(unique).await })
    }

    /// See [`crate::Client::echo`].
    pub fn echo(&self, data: impl Into<Bytes>) -> Result<Bytes, Error> {
        let data = data.into();
        self.call(|c| async move { c.echo(data).await })
    }

    /// See [`crate::Client::task_set`].
    pub fn task_set(&self) -> Result<TaskSet, Error> {
        let (client, rt) = Lazy::get(&self.lazy)?;
        Ok(TaskSet {
            inner: client.task_set(),
            rt,
        })
    }
}

/// A foreground job followed to its end by [`Client::follow`].
#[derive(Debug)]
pub struct Followed {
    /// The job's handle.
    pub handle: Bytes,
    /// Every event, in order; the last is terminal unless the stream ended or failed first.
    pub events: Vec<JobEvent>,
    /// Why the stream of events broke off, if it did.
    pub error: Option<Error>,
}

/// Blocking [`crate::JobHandle`].
#[derive(Debug)]
pub struct JobHandle {
    inner: crate::JobHandle,
    rt: RtRef,
}

impl std::fmt::Debug for RtRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Runtime(pid {})", self.pid)
    }
}

impl JobHandle {
    /// See [`crate::JobHandle::handle`].
    pub fn handle(&self) -> &Bytes {
        self.inner.handle()
    }

    /// See [`crate::JobHandle::server`].
    pub fn server(&self) -> &str {
        self.inner.server()
    }

    /// See [`crate::JobHandle::set_timeout`].
    pub fn set_timeout(&mut self, timeout: Option<Duration>) {
        self.inner.set_timeout(timeout)
    }

    /// See [`crate::JobHandle::next_event`].
    pub fn next_event(&mut self) -> Result<Option<JobEvent>, Error> {
        let rt = self.rt.clone();
        rt.block_on(self.inner.next_event())
    }

    /// See [`crate::JobHandle::result`].
    pub fn result(self) -> Result<Bytes, Error> {
        let JobHandle { inner, rt } = self;
        rt.block_on(inner.result())
    }
}

/// Blocking [`crate::TaskSet`].
#[derive(Debug)]
pub struct TaskSet {
    inner: crate::TaskSet,
    rt: RtRef,
}

impl TaskSet {
    /// See [`crate::TaskSet::add`].
    pub fn add(&mut self, req: JobRequest) -> TaskId {
        self.inner.add(req)
    }

    /// See [`crate::TaskSet::add_background`].
    pub fn add_background(&mut self, req: JobRequest) -> TaskId {
        self.inner.add_background(req)
    }

    /// See [`crate::TaskSet::set_timeout`].
    pub fn set_timeout(&mut self, timeout: Option<Duration>) {
        self.inner.set_timeout(timeout)
    }

    /// See [`crate::TaskSet::pending`].
    pub fn pending(&self) -> usize {
        self.inner.pending()
    }

    /// See [`crate::TaskSet::next_event`].
    pub fn next_event(&mut self) -> Result<Option<TaskEvent>, Error> {
        let rt = self.rt.clone();
        rt.block_on(self.inner.next_event())
    }
}

/// Blocking [`crate::Worker`], with the pull API only: call [`Worker::next_job`] in a loop.
///
/// ```no_run
/// use std::time::Duration;
/// use gearbox_client::blocking::Worker;
///
/// let worker = Worker::new();
/// worker.add_server("127.0.0.1:4730").unwrap();
/// worker.add_function("reverse", None);
/// while let Ok(Some(job)) = worker.next_job(Some(Duration::from_secs(60))) {
///     let mut out = job.workload().to_vec();
///     out.reverse();
///     job.complete(out).unwrap();
/// }
/// ```
pub struct Worker {
    lazy: Mutex<Lazy<crate::Worker>>,
}

impl Default for Worker {
    fn default() -> Self {
        Worker::new()
    }
}

impl std::fmt::Debug for Worker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("blocking::Worker")
    }
}

impl Worker {
    /// A worker with no servers; creates no runtime and no thread.
    pub fn new() -> Worker {
        Worker {
            lazy: Lazy::new(crate::Worker::new()),
        }
    }

    fn cfg(&self) -> crate::Worker {
        Lazy::value(&self.lazy)
    }

    /// See [`crate::Worker::add_server`] (no I/O).
    pub fn add_server(&self, addr: &str) -> Result<(), Error> {
        self.cfg().add_server(addr)
    }

    /// See [`crate::Worker::set_client_id`].
    pub fn set_client_id(&self, id: impl Into<Bytes>) {
        self.cfg().set_client_id(id)
    }

    /// See [`crate::Worker::set_concurrency`]: how many jobs may be held at once.
    pub fn set_concurrency(&self, jobs: usize) {
        self.cfg().set_concurrency(jobs)
    }

    /// See [`crate::Worker::set_backoff`].
    pub fn set_backoff(&self, backoff: Backoff) {
        self.cfg().set_backoff(backoff)
    }

    /// See [`crate::Worker::set_connect_timeout`].
    pub fn set_connect_timeout(&self, timeout: Duration) {
        self.cfg().set_connect_timeout(timeout)
    }

    /// See [`crate::Worker::set_tls`].
    pub fn set_tls(&self, tls: Option<crate::Tls>) {
        self.cfg().set_tls(tls)
    }

    /// See [`crate::Worker::add_function`].
    pub fn add_function(&self, function: impl Into<Bytes>, timeout: Option<Duration>) {
        self.cfg().add_function(function, timeout)
    }

    /// See [`crate::Worker::remove_function`].
    pub fn remove_function(&self, function: &[u8]) {
        self.cfg().remove_function(function)
    }

    /// The next job, waiting at most `timeout` (`None`: no limit) → [`Error::Timeout`].
    /// `Ok(None)` once the worker has drained.
    pub fn next_job(&self, timeout: Option<Duration>) -> Result<Option<Job>, Error> {
        let (worker, rt) = Lazy::get(&self.lazy)?;
        let job = rt.run(async move {
            match timeout {
                Some(t) => tokio::time::timeout(t, worker.next_job())
                    .await
                    .unwrap_or(Err(Error::Timeout)),
                None => worker.next_job().await,
            }
        })?;
        Ok(job.map(|job| Job { job: Some(job), rt }))
    }

    /// Connect and wait, at most `timeout`, until every server has confirmed the worker's
    /// registrations ([`crate::Worker::wait_registered`]) → [`Error::Timeout`].
    pub fn wait_registered(&self, timeout: Duration) -> Result<(), Error> {
        let (worker, rt) = Lazy::get(&self.lazy)?;
        rt.run(async move {
            tokio::time::timeout(timeout, worker.wait_registered())
                .await
                .unwrap_or(Err(Error::Timeout))
        })
    }

    /// Stop taking jobs, wait (at most `timeout`) until held jobs are answered, disconnect.
    pub fn shutdown(&self, timeout: Duration) -> Result<(), Error> {
        let (worker, rt) = Lazy::get(&self.lazy)?;
        rt.run(async move {
            tokio::time::timeout(timeout, worker.shutdown())
                .await
                .map_err(|_| Error::Timeout)
        })
    }
}

/// Blocking [`crate::Job`]. Dropping it unanswered sends WORK_FAIL before returning.
#[derive(Debug)]
pub struct Job {
    job: Option<crate::Job>,
    rt: RtRef,
}

impl Job {
    fn inner(&self) -> &crate::Job {
        // Only the consuming methods take the job out, and they consume `self`.
        self.job
            .as_ref()
            .unwrap_or_else(|| unreachable!("job taken"))
    }

    /// See [`crate::Job::function`].
    pub fn function(&self) -> &[u8] {
        self.inner().function()
    }

    /// See [`crate::Job::handle`].
    pub fn handle(&self) -> &[u8] {
        self.inner().handle()
    }

    /// See [`crate::Job::unique`].
    pub fn unique(&self) -> &[u8] {
        self.inner().unique()
    }

    /// See [`crate::Job::workload`].
    pub fn workload(&self) -> &Bytes {
        self.inner().workload()
    }

    /// See [`crate::Job::status`].
    pub fn status(&self, numerator: u32, denominator: u32) -> Result<(), Error> {
        self.rt
            .block_on(self.inner().status(numerator, denominator))
    }

    /// See [`crate::Job::data`].
    pub fn data(&self, data: impl AsRef<[u8]>) -> Result<(), Error> {
        self.rt.block_on(self.inner().data(data))
    }

    /// See [`crate::Job::warning`].
    pub fn warning(&self, data: impl AsRef<[u8]>) -> Result<(), Error> {
        self.rt.block_on(self.inner().warning(data))
    }

    fn take(mut self) -> (crate::Job, RtRef) {
        let job = self.job.take().unwrap_or_else(|| unreachable!("job taken"));
        (job, self.rt.clone())
    }

    /// See [`crate::Job::complete`].
    pub fn complete(self, result: impl AsRef<[u8]>) -> Result<(), Error> {
        let (job, rt) = self.take();
        rt.block_on(job.complete(result))
    }

    /// See [`crate::Job::fail`].
    pub fn fail(self) -> Result<(), Error> {
        let (job, rt) = self.take();
        rt.block_on(job.fail())
    }

    /// See [`crate::Job::exception`].
    pub fn exception(self, data: impl AsRef<[u8]>) -> Result<(), Error> {
        let (job, rt) = self.take();
        rt.block_on(job.exception(data))
    }
}

impl Drop for Job {
    fn drop(&mut self) {
        if let Some(job) = self.job.take() {
            if self.rt.pid == std::process::id() && tokio::runtime::Handle::try_current().is_err() {
                let _ = self.rt.block_on(job.fail());
            } else {
                // Forked child or async context: never touch the runtime; never drop it either.
                std::mem::forget(job);
            }
        }
    }
}
