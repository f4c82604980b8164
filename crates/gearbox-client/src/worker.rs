//! The asynchronous [`Worker`]: which functions it runs, with which handlers, on how many jobs
//! at once, and its lifecycle (lazy start, graceful drain).
//!
//! This module owns configuration and dispatch: jobs grabbed by the per-server loops
//! (`worker_conn.rs`) arrive on one queue, from which [`Worker::next_job`] pulls them or
//! [`Worker::run`] hands each to its handler on a task of its own. It opens no socket itself,
//! and nothing here may answer a job on a handler's behalf except by dropping it (WORK_FAIL).

use std::collections::{BTreeSet, HashMap};
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::{mpsc, watch, Semaphore};
use tokio::task::JoinHandle;

use crate::backoff::Backoff;
use crate::client::DEFAULT_CONNECT_TIMEOUT;
use crate::error::Error;
use crate::job::Job;
use crate::ring::normalize_addr;
use crate::tls::Tls;
use crate::worker_conn::{serve, Ability, Shared};

type Handler = Arc<dyn Fn(Job) -> Pin<Box<dyn Future<Output = ()> + Send>> + Send + Sync>;

#[derive(Debug, Clone)]
pub(crate) struct WorkerConfig {
    pub(crate) servers: Vec<String>,
    pub(crate) client_id: Option<Bytes>,
    pub(crate) concurrency: usize,
    pub(crate) backoff: Backoff,
    pub(crate) connect_timeout: Duration,
    pub(crate) abilities: Vec<Ability>,
    pub(crate) tls: Option<Tls>,
}

impl Default for WorkerConfig {
    fn default() -> Self {
        WorkerConfig {
            servers: Vec::new(),
            client_id: None,
            concurrency: 1,
            backoff: Backoff::default(),
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            abilities: Vec::new(),
            tls: None,
        }
    }
}

enum Phase {
    Configuring,
    Started {
        jobs: Arc<tokio::sync::Mutex<mpsc::UnboundedReceiver<Job>>>,
        loops: Vec<JoinHandle<()>>,
    },
}

struct Inner {
    config: Mutex<WorkerConfig>,
    handlers: Mutex<HashMap<Bytes, Handler>>,
    abilities: watch::Sender<Vec<Ability>>,
    drain: watch::Sender<bool>,
    registered: Arc<watch::Sender<BTreeSet<String>>>,
    phase: Mutex<Phase>,
}

/// A Gearman worker: registers functions on every configured server and runs their jobs.
///
/// Cheap to clone. Configure it (servers, functions, concurrency, client id), then either
/// [`Worker::run`] the registered handlers or pull jobs with [`Worker::next_job`]. The first of
/// those calls connects to every server (nothing before it does I/O); after that, the worker
/// keeps each connection up on its own, reconnecting with [`Backoff`] and registering again.
/// [`Worker::drain`] stops it gracefully.
///
/// ```no_run
/// use gearbox_client::Worker;
///
/// # async fn demo() -> Result<(), gearbox_client::Error> {
/// let worker = Worker::new();
/// worker.add_server("127.0.0.1:4730")?;
/// worker.set_concurrency(4);
/// worker.register("reverse", |job| async move {
///     let mut out = job.workload().to_vec();
///     out.reverse();
///     let _ = job.complete(out).await;
/// });
///
/// let stopper = worker.clone();
/// tokio::spawn(async move {
///     tokio::time::sleep(std::time::Duration::from_secs(3600)).await; // or on SIGTERM
///     stopper.drain(); // finish running jobs, take no new ones, disconnect
/// });
/// worker.run().await?;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Worker {
    inner: Arc<Inner>,
}

impl Default for Worker {
    fn default() -> Self {
        Worker::new()
    }
}

impl std::fmt::Debug for Worker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Worker")
            .field("servers", &self.config().servers)
            .finish()
    }
}

impl Worker {
    /// A worker with no servers and no functions, running one job at a time.
    pub fn new() -> Worker {
        Worker::from_config(WorkerConfig::default())
    }

    pub(crate) fn from_config(config: WorkerConfig) -> Worker {
        let (abilities, _) = watch::channel(config.abilities.clone());
        let (drain, _) = watch::channel(false);
        let (registered, _) = watch::channel(BTreeSet::new());
        Worker {
            inner: Arc::new(Inner {
                config: Mutex::new(config),
                handlers: Mutex::new(HashMap::new()),
                abilities,
                drain,
                registered: Arc::new(registered),
                phase: Mutex::new(Phase::Configuring),
            }),
        }
    }

    fn config(&self) -> std::sync::MutexGuard<'_, WorkerConfig> {
        self.inner.config.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Connect to every server with TLS (`None`: plaintext). Set it before the worker starts.
    pub fn set_tls(&self, tls: Option<Tls>) {
        self.config().tls = tls;
    }

    pub(crate) fn snapshot(&self) -> WorkerConfig {
        self.config().clone()
    }

    fn started(&self) -> bool {
        matches!(
            *self.inner.phase.lock().unwrap_or_else(|e| e.into_inner()),
            Phase::Started { .. }
        )
    }

    /// Add a job server, `host[:port]` (default port 4730). Syntax check only, no I/O. The
    /// worker serves every server; servers must be added before it starts.
    pub fn add_server(&self, addr: &str) -> Result<(), Error> {
        let addr = normalize_addr(addr)?;
        if self.started() {
            return Err(Error::InvalidArgument(
                "servers must be added before the worker starts".into(),
            ));
        }
        let mut config = self.config();
        if !config.servers.contains(&addr) {
            config.servers.push(addr);
        }
        Ok(())
    }

    /// Label the worker's connections (SET_CLIENT_ID, shown by admin `workers`); sent on every
    /// connection, after each reconnect too. Set it before the worker starts.
    pub fn set_client_id(&self, id: impl Into<Bytes>) {
        self.config().client_id = Some(id.into());
    }

    /// How many jobs may run at once across all servers (at least 1; default 1). Set it before
    /// the worker starts.
    pub fn set_concurrency(&self, jobs: usize) {
        self.config().concurrency = jobs.max(1);
    }

    /// Reconnect backoff.
    pub fn set_backoff(&self, backoff: Backoff) {
        self.config().backoff = backoff;
    }

    /// How long one connection attempt may take.
    pub fn set_connect_timeout(&self, timeout: Duration) {
        self.config().connect_timeout = timeout;
    }

    /// Announce `function` (CAN_DO, or CAN_DO_TIMEOUT with `timeout`: the server takes the
    /// job back if it runs longer; gearmand rounds up to 1 s) without a handler: its jobs are
    /// returned by [`Worker::next_job`], or failed by [`Worker::run`]. May be called while
    /// running: connected servers are told at once.
    pub fn add_function(&self, function: impl Into<Bytes>, timeout: Option<Duration>) {
        let ability = Ability {
            name: function.into(),
            timeout,
        };
        let mut config = self.config();
        config.abilities.retain(|a| a.name != ability.name);
        config.abilities.push(ability);
        let all = config.abilities.clone();
        drop(config);
        self.inner.abilities.send_replace(all);
    }

    /// Stop announcing `function` (CANT_DO on every connected server) and drop its handler.
    /// May be called while running.
    pub fn remove_function(&self, function: &[u8]) {
        self.inner
            .handlers
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(function);
        let mut config = self.config();
        config.abilities.retain(|a| a.name != function);
        let all = config.abilities.clone();
        drop(config);
        self.inner.abilities.send_replace(all);
    }

    /// Register `function` with a handler run by [`Worker::run`], one task per job.
    ///
    /// The handler owns the job: it should finish it with `complete`, `fail` or `exception`;
    /// a job it drops unanswered (including by panicking) is failed with WORK_FAIL.
    pub fn register<F, Fut>(&self, function: impl Into<Bytes>, handler: F)
    where
        F: Fn(Job) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        self.register_inner(function.into(), None, handler);
    }

    /// Like [`Worker::register`], with CAN_DO_TIMEOUT: the server requeues a job of this
    /// function that runs longer than `timeout` (milliseconds on the wire).
    pub fn register_with_timeout<F, Fut>(
        &self,
        function: impl Into<Bytes>,
        timeout: Duration,
        handler: F,
    ) where
        F: Fn(Job) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        self.register_inner(function.into(), Some(timeout), handler);
    }

    fn register_inner<F, Fut>(&self, function: Bytes, timeout: Option<Duration>, handler: F)
    where
        F: Fn(Job) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let handler: Handler = Arc::new(move |job| Box::pin(handler(job)));
        self.inner
            .handlers
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(function.clone(), handler);
        self.add_function(function, timeout);
    }

    /// Start the server loops if not started yet; the job queue.
    fn start(&self) -> Result<Arc<tokio::sync::Mutex<mpsc::UnboundedReceiver<Job>>>, Error> {
        let mut phase = self.inner.phase.lock().unwrap_or_else(|e| e.into_inner());
        if let Phase::Started { jobs, .. } = &*phase {
            return Ok(jobs.clone());
        }
        let config = self.config().clone();
        if config.servers.is_empty() {
            return Err(Error::NoServers);
        }
        let shared = Arc::new(Shared {
            abilities: self.inner.abilities.subscribe(),
            drain: self.inner.drain.subscribe(),
            permits: Arc::new(Semaphore::new(config.concurrency)),
            client_id: config.client_id.clone(),
            backoff: config.backoff,
            connect_timeout: config.connect_timeout,
            tls: config.tls.clone(),
            registered: self.inner.registered.clone(),
        });
        let (tx, rx) = mpsc::unbounded_channel();
        let loops = config
            .servers
            .iter()
            .map(|s| tokio::spawn(serve(s.clone(), shared.clone(), tx.clone())))
            .collect();
        let jobs = Arc::new(tokio::sync::Mutex::new(rx));
        *phase = Phase::Started {
            jobs: jobs.clone(),
            loops,
        };
        Ok(jobs)
    }

    /// The next job for any registered function, connecting first if needed. `Ok(None)` once
    /// the worker has drained: no job will come any more. Wrap it in `tokio::time::timeout`
    /// to bound the wait.
    pub async fn next_job(&self) -> Result<Option<Job>, Error> {
        let jobs = self.start()?;
        let mut jobs = jobs.lock().await;
        Ok(jobs.recv().await)
    }

    /// Connect (if not started yet) and wait until every server has confirmed the worker's
    /// functions and client id: the worker follows its CAN_DOs with an ECHO_REQ, which the
    /// server answers only after handling them. Jobs that arrive meanwhile wait for
    /// [`Worker::next_job`]. A server that is down keeps this waiting (it is retried with
    /// backoff), so bound it with `tokio::time::timeout`. Useful before dropping privileges,
    /// or to know a job submitted now will find this worker.
    ///
    /// ```no_run
    /// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
    /// let worker = gearbox_client::Worker::new();
    /// worker.add_server("127.0.0.1:4730")?;
    /// worker.add_function("resize", None);
    /// tokio::time::timeout(std::time::Duration::from_secs(10), worker.wait_registered()).await??;
    /// // every server now hands "resize" jobs to this worker
    /// # Ok(()) }
    /// ```
    pub async fn wait_registered(&self) -> Result<(), Error> {
        self.start()?;
        let servers: BTreeSet<String> = self.config().servers.iter().cloned().collect();
        let mut registered = self.inner.registered.subscribe();
        registered
            .wait_for(|set| servers.is_subset(set))
            .await
            .map(|_| ())
            .map_err(|_| Error::Closed)
    }

    /// The servers on which the worker is registered right now (its connection is up and has
    /// confirmed the registrations).
    pub fn registered_servers(&self) -> Vec<String> {
        self.inner.registered.borrow().iter().cloned().collect()
    }

    /// Run registered handlers until the worker is drained; returns once every job it took
    /// has been answered and every connection is closed.
    pub async fn run(&self) -> Result<(), Error> {
        if self.config().abilities.is_empty() {
            return Err(Error::InvalidArgument("no function registered".into()));
        }
        while let Some(job) = self.next_job().await? {
            let handler = self
                .inner
                .handlers
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .get(job.function())
                .cloned();
            match handler {
                Some(h) => {
                    tokio::spawn(h(job));
                }
                None => tracing::warn!(
                    function = %String::from_utf8_lossy(job.function()),
                    "no handler for the function; failing the job"
                ),
            }
        }
        Ok(())
    }

    /// Begin a graceful stop: take no new jobs, let running ones finish, then disconnect.
    /// Returns at once; [`Worker::run`] returns (and [`Worker::next_job`] yields `None`) when
    /// the drain is complete. See also [`Worker::shutdown`].
    pub fn drain(&self) {
        self.inner.drain.send_replace(true);
    }

    /// True once [`Worker::drain`] was called.
    pub fn is_draining(&self) -> bool {
        *self.inner.drain.borrow()
    }

    /// Drain and wait until every server loop has ended. Jobs already handed out must still
    /// be answered (or dropped) for this to return; with the pull API keep calling
    /// [`Worker::next_job`] until it yields `None`.
    pub async fn shutdown(&self) {
        self.drain();
        let loops = match &mut *self.inner.phase.lock().unwrap_or_else(|e| e.into_inner()) {
            Phase::Started { loops, .. } => std::mem::take(loops),
            Phase::Configuring => Vec::new(),
        };
        for l in loops {
            let _ = l.await;
        }
    }
}
