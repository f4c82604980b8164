//! The asynchronous [`Client`]: submitting jobs and schedules, querying status, echo, and the
//! per-call deadlines and failover policy around them (Gearbox's admin calls are in
//! `admin.rs`).
//!
//! This module owns the retry rule. A request goes to the server chosen by `ring.rs`; when
//! that server cannot be reached the next one is tried. A submission whose connection died
//! after it was written is retried on the next server only if the job has a unique id (the
//! servers coalesce it, so at worst it runs twice, never as two unrelated jobs); without a
//! unique id the caller gets [`Error::ConnectionLost`], because the job may already exist. A
//! foreground job whose connection dies after JOB_CREATED is never resubmitted: its handle
//! reports [`Error::ConnectionLost`] with the job's handle. Socket handling lives in `conn.rs`,
//! reply matching in `session.rs`.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use gearbox_proto::PacketType;
use tokio::sync::mpsc;
use tokio::time::Instant;

use crate::backoff::Backoff;
use crate::conn::request;
use crate::deadline::with_deadline;
use crate::error::Error;
use crate::event::{JobStatus, Listener, UniqueStatus};
use crate::handle::JobHandle;
use crate::pool::{ConnectSettings, Pool};
use crate::request::JobRequest;
use crate::ring::normalize_addr;
use crate::session::{CallError, Expect, Reply, Session, Setup};
use crate::tls::Tls;

/// Default for [`Client::set_connect_timeout`].
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Settings of a client, as set through its setters.
#[derive(Debug, Clone)]
pub(crate) struct ClientConfig {
    pub(crate) servers: Vec<String>,
    pub(crate) timeout: Option<Duration>,
    pub(crate) connect_timeout: Duration,
    pub(crate) backoff: Backoff,
    pub(crate) client_id: Option<Bytes>,
    pub(crate) exceptions: bool,
    pub(crate) tls: Option<Tls>,
}

impl Default for ClientConfig {
    fn default() -> Self {
        ClientConfig {
            servers: Vec::new(),
            timeout: None,
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            backoff: Backoff::default(),
            client_id: None,
            exceptions: false,
            tls: None,
        }
    }
}

struct Inner {
    pool: Pool,
    config: Mutex<ClientConfig>,
    next_listener: AtomicU64,
}

/// A Gearman client: submits jobs to a pool of servers.
///
/// Cheap to clone (all clones share connections and settings). Creating it and adding servers
/// performs no I/O: each server is connected on first use, from inside the tokio runtime of
/// that call, and reconnected after a failure (with [`Backoff`]). Its connections then live on
/// that runtime.
///
/// ```no_run
/// use gearbox_client::{Client, JobEvent, JobRequest, Priority};
///
/// # async fn demo() -> Result<(), gearbox_client::Error> {
/// let client = Client::new();
/// client.add_server("127.0.0.1:4730")?;
///
/// // Run a job and wait for its result.
/// let out = client.run(JobRequest::new("reverse", "hello")).await?;
/// assert_eq!(&out[..], b"olleh");
///
/// // Or follow its progress.
/// let mut job = client
///     .submit(JobRequest::new("resize", "img.png").priority(Priority::High))
///     .await?;
/// while let Some(event) = job.next_event().await? {
///     if let JobEvent::Status { numerator, denominator } = event {
///         println!("{numerator}/{denominator}");
///     }
/// }
///
/// // Fire and forget, with a unique id (coalesced, routed to the same server every time).
/// let handle = client
///     .submit_background(JobRequest::new("index", "doc-7").unique("doc-7"))
///     .await?;
/// let status = client.status(&handle).await?;
/// println!("known={} running={}", status.known, status.running);
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
    /// Deadline of this view's calls, when set by [`Client::with_timeout`].
    call_timeout: Option<Option<Duration>>,
}

impl Default for Client {
    fn default() -> Self {
        Client::new()
    }
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("servers", &self.servers())
            .finish()
    }
}

impl Client {
    /// A client with no servers and default settings: no call deadline, 5 s connect timeout,
    /// backoff 100 ms..10 s, exceptions off.
    pub fn new() -> Client {
        Client::from_config(ClientConfig::default())
    }

    pub(crate) fn from_config(config: ClientConfig) -> Client {
        let pool = Pool::default();
        for s in &config.servers {
            pool.add(s.clone());
        }
        Client {
            inner: Arc::new(Inner {
                pool,
                config: Mutex::new(config),
                next_listener: AtomicU64::new(1),
            }),
            call_timeout: None,
        }
    }

    fn config(&self) -> std::sync::MutexGuard<'_, ClientConfig> {
        self.inner.config.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Add a job server, `host[:port]` (port 4730 by default; IPv6 as `[::1]:4730`). Only the
    /// syntax is checked: no name resolution, no connection. Adding a server twice is a no-op.
    /// The order of servers matters for routing by unique id (see [`crate::server_index`]).
    pub fn add_server(&self, addr: &str) -> Result<(), Error> {
        let addr = normalize_addr(addr)?;
        let mut config = self.config();
        if !config.servers.contains(&addr) {
            config.servers.push(addr.clone());
        }
        self.inner.pool.add(addr);
        Ok(())
    }

    /// The configured servers, normalized, in the order added.
    pub fn servers(&self) -> Vec<String> {
        self.config().servers.clone()
    }

    /// Default deadline of every call (`None`: wait without limit, the default). A request's
    /// own [`JobRequest::timeout`] overrides it.
    pub fn set_timeout(&self, timeout: Option<Duration>) {
        self.config().timeout = timeout;
    }

    /// The deadline of this client's calls: its own from [`Client::with_timeout`], else the
    /// default.
    pub fn timeout(&self) -> Option<Duration> {
        self.call_timeout.unwrap_or_else(|| self.config().timeout)
    }

    /// A view of this client (same servers, connections and settings) whose calls use
    /// `timeout` as their deadline: a per-call deadline for any method.
    ///
    /// ```no_run
    /// # async fn demo(client: gearbox_client::Client) -> Result<(), gearbox_client::Error> {
    /// use std::time::Duration;
    /// let pong = client.with_timeout(Some(Duration::from_millis(200))).echo("ping").await?;
    /// # Ok(()) }
    /// ```
    pub fn with_timeout(&self, timeout: Option<Duration>) -> Client {
        Client {
            inner: self.inner.clone(),
            call_timeout: Some(timeout),
        }
    }

    /// How long one connection attempt may take before the next server is tried.
    pub fn set_connect_timeout(&self, timeout: Duration) {
        self.config().connect_timeout = timeout;
    }

    /// Reconnect backoff for servers that failed to connect.
    pub fn set_backoff(&self, backoff: Backoff) {
        self.config().backoff = backoff;
    }

    /// Label connections with SET_CLIENT_ID (shown by the admin `workers` command). Sent on
    /// every open connection now and on every connection opened later, reconnects included.
    pub fn set_client_id(&self, id: impl Into<Bytes>) {
        let id = id.into();
        self.config().client_id = Some(id.clone());
        for slot in self.inner.pool.all() {
            if let Some(s) = slot.live_session() {
                let _ = s.send(request(PacketType::SetClientId, &[], &id));
            }
        }
    }

    /// Ask servers to forward WORK_EXCEPTION (OPTION_REQ `exceptions`) instead of turning it
    /// into WORK_FAIL. Applies to connections opened after the call; set it before first use.
    pub fn set_exceptions(&self, enabled: bool) {
        self.config().exceptions = enabled;
    }

    /// Connect to every server with TLS (`None`: plaintext). Applies to connections opened
    /// after the call; set it before first use.
    pub fn set_tls(&self, tls: Option<Tls>) {
        self.config().tls = tls;
    }

    pub(crate) fn snapshot(&self) -> ClientConfig {
        self.config().clone()
    }

    pub(crate) fn connect_settings(&self) -> ConnectSettings {
        let c = self.config();
        ConnectSettings {
            timeout: c.connect_timeout,
            backoff: c.backoff,
            setup: Setup {
                client_id: c.client_id.clone(),
                exceptions: c.exceptions,
            },
            tls: c.tls.clone(),
        }
    }

    pub(crate) fn deadline(&self, own: Option<Option<Duration>>) -> Option<Instant> {
        own.unwrap_or_else(|| self.timeout())
            .map(|t| Instant::now() + t)
    }

    pub(crate) fn listener_id(&self) -> u64 {
        self.inner.next_listener.fetch_add(1, Ordering::Relaxed)
    }

    /// Submit a foreground job. Returns once the server accepted it (JOB_CREATED); the handle
    /// then yields its events and result. The deadline (the request's or the client's) covers
    /// the whole job.
    pub async fn submit(&self, req: JobRequest) -> Result<JobHandle, Error> {
        let packet = req.encode(false)?;
        let deadline = self.deadline(req.timeout_override());
        let (tx, rx) = mpsc::unbounded_channel();
        let listener = Listener {
            id: self.listener_id(),
            tx,
            follow: true,
            announce: false,
        };
        let (handle, session) =
            with_deadline(deadline, self.submit_packet(packet, &req, Some(listener))).await?;
        Ok(JobHandle::new(
            handle,
            session.server().to_string(),
            rx,
            deadline,
            session,
        ))
    }

    /// Submit a foreground job and wait for its result (`WORK_COMPLETE` data). Failure and
    /// exception become [`Error::WorkFail`] and [`Error::WorkException`].
    pub async fn run(&self, req: JobRequest) -> Result<Bytes, Error> {
        self.submit(req).await?.result().await
    }

    /// Submit a background job (at [`JobRequest::run_at`] if set); returns its handle.
    pub async fn submit_background(&self, req: JobRequest) -> Result<Bytes, Error> {
        let packet = req.encode(true)?;
        let deadline = self.deadline(req.timeout_override());
        let (handle, _) = with_deadline(deadline, self.submit_packet(packet, &req, None)).await?;
        Ok(handle)
    }

    /// Create a recurring job on the server (SUBMIT_JOB_SCHED; gearboxd only, gearmand answers
    /// `ERROR INVALID_COMMAND`): at each firing of `cron` the server submits a background job
    /// for `function` with `workload`, as a client would. Returns the schedule's handle, once
    /// the server has stored the schedule; `gearbox schedule list` (admin `show scheduled`)
    /// lists it with its next firing, and the admin `cancel job HANDLE` removes it.
    ///
    /// `cron` is `minute hour day-of-month month day-of-week` in UTC (`"*/5 * * * *"`), or
    /// `@hourly`, `@daily`/`@midnight`, `@weekly`, `@monthly`, `@yearly`/`@annually`. Anything
    /// but five fields is [`Error::CronFields`], before anything is sent; a field the server
    /// cannot read is [`Error::Server`] with the code `INVALID_SCHEDULE` and the reason.
    ///
    /// The same function and unique again replace the schedule's definition and keep its
    /// handle, so a submission with a unique id is retried on the next server after an
    /// ambiguous failure (it is routed by the unique id, as jobs are). An empty unique lets
    /// the server name the schedule; each such call creates another one. Each firing's job
    /// gets the unique `<unique>@<firing time>`, hence at most [`MAX_SCHEDULE_UNIQUE_LEN`]
    /// bytes here. The deadline is the client's.
    ///
    /// [`MAX_SCHEDULE_UNIQUE_LEN`]: crate::MAX_SCHEDULE_UNIQUE_LEN
    pub async fn schedule(
        &self,
        cron: &str,
        function: impl Into<Bytes>,
        unique: impl Into<Bytes>,
        workload: impl Into<Bytes>,
    ) -> Result<Bytes, Error> {
        let (function, unique, workload) = (function.into(), unique.into(), workload.into());
        let packet = crate::schedule::encode(cron, &function, &unique, &workload)?;
        let deadline = self.deadline(None);
        let key = Some((&unique[..], &b""[..]));
        let created = self.created(packet, key, !unique.is_empty(), None);
        let (handle, _) = with_deadline(deadline, created).await?;
        Ok(handle)
    }

    /// Send a SUBMIT_* packet with failover; the handle and the session that accepted it.
    pub(crate) async fn submit_packet(
        &self,
        packet: Bytes,
        req: &JobRequest,
        listener: Option<Listener>,
    ) -> Result<(Bytes, Session), Error> {
        let key = Some((req.unique_id(), req.workload()));
        self.created(packet, key, req.is_idempotent(), listener)
            .await
    }

    /// Send a request that JOB_CREATED answers (SUBMIT_*, SUBMIT_JOB_SCHED), routed by `key`,
    /// with failover (`retry_sent`: also after the connection died with the request sent);
    /// the handle and the session that accepted it.
    async fn created(
        &self,
        packet: Bytes,
        key: Option<(&[u8], &[u8])>,
        retry_sent: bool,
        listener: Option<Listener>,
    ) -> Result<(Bytes, Session), Error> {
        self.call_with_failover(key, retry_sent, || {
            (packet.clone(), Expect::Submit(listener.clone()))
        })
        .await
        .and_then(|(reply, session)| match reply {
            Reply::Created(handle) => Ok((handle, session)),
            other => Err(wrong_reply(&session, other)),
        })
    }

    /// Try servers in routing order until one answers.
    async fn call_with_failover(
        &self,
        key: Option<(&[u8], &[u8])>,
        retry_sent: bool,
        make: impl Fn() -> (Bytes, Expect),
    ) -> Result<(Reply, Session), Error> {
        let order = self.inner.pool.order(key);
        if order.is_empty() {
            return Err(Error::NoServers);
        }
        let settings = self.connect_settings();
        // The most recent failure is what the caller gets when every server failed: a lost
        // connection stays a lost connection, unreachable servers are "no server reachable".
        let mut last = Error::NoServers;
        for slot in order {
            let session = match slot.session(&settings).await {
                Ok(s) => s,
                Err(e) => {
                    last = Error::NoServerReachable { last: e };
                    continue;
                }
            };
            let (packet, expect) = make();
            match session.call(packet, expect).await {
                Ok(reply) => return Ok((reply, session)),
                Err(CallError::NotSent) => {
                    last = Error::NoServerReachable {
                        last: format!("connection to {} closed", slot.addr()),
                    };
                }
                Err(CallError::Failed(e @ Error::ConnectionLost { .. })) if retry_sent => {
                    tracing::info!(server = slot.addr(), "{e}; trying the next server");
                    last = e;
                }
                Err(CallError::Failed(e)) => return Err(e),
            }
        }
        Err(last)
    }

    /// Status of a job by handle (GET_STATUS). Handles are per server: every reachable server
    /// is asked in turn until one knows the job; otherwise the last "unknown" answer is
    /// returned.
    pub async fn status(&self, handle: &[u8]) -> Result<JobStatus, Error> {
        let deadline = self.deadline(None);
        with_deadline(deadline, async {
            let mut answer = None;
            let mut last_err = None;
            for slot in self.inner.pool.all() {
                match self
                    .call_on(
                        &slot,
                        request(PacketType::GetStatus, &[], handle),
                        Expect::Status,
                    )
                    .await
                {
                    Ok(Reply::Status(s)) if s.known => return Ok(s),
                    Ok(Reply::Status(s)) => answer = Some(s),
                    Ok(other) => last_err = Some(protocol_on(&slot, other)),
                    Err(e) => last_err = Some(e),
                }
            }
            answer.ok_or_else(|| last_err.unwrap_or(Error::NoServers))
        })
        .await
    }

    /// Status of a job by unique id (GET_STATUS_UNIQUE; gearmand ≥ 1.1.19 and gearboxd). The
    /// server the unique id routes to is asked first, then the others, until one knows it.
    pub async fn status_unique(&self, unique: &[u8]) -> Result<UniqueStatus, Error> {
        let deadline = self.deadline(None);
        with_deadline(deadline, async {
            let mut answer = None;
            let mut last_err = None;
            for slot in self.inner.pool.order(Some((unique, b""))) {
                let packet = request(PacketType::GetStatusUnique, &[], unique);
                match self.call_on(&slot, packet, Expect::StatusUnique).await {
                    Ok(Reply::StatusUnique(s)) if s.known => return Ok(s),
                    Ok(Reply::StatusUnique(s)) => answer = Some(s),
                    Ok(other) => last_err = Some(protocol_on(&slot, other)),
                    Err(e) => last_err = Some(e),
                }
            }
            answer.ok_or_else(|| last_err.unwrap_or(Error::NoServers))
        })
        .await
    }

    async fn call_on(
        &self,
        slot: &crate::pool::Slot,
        packet: Bytes,
        expect: Expect,
    ) -> Result<Reply, Error> {
        let session = slot
            .session(&self.connect_settings())
            .await
            .map_err(|last| Error::NoServerReachable { last })?;
        session.call(packet, expect).await.map_err(|e| match e {
            CallError::NotSent => Error::ConnectionLost {
                server: slot.addr().to_string(),
                handle: None,
            },
            CallError::Failed(e) => e,
        })
    }

    /// ECHO_REQ to one server (round-robin, failing over): returns the payload as echoed.
    /// Useful as a health check.
    pub async fn echo(&self, data: impl Into<Bytes>) -> Result<Bytes, Error> {
        let data = data.into();
        let deadline = self.deadline(None);
        let (reply, session) = with_deadline(
            deadline,
            self.call_with_failover(None, true, || {
                (request(PacketType::EchoReq, &[], &data), Expect::Echo)
            }),
        )
        .await?;
        match reply {
            Reply::Echo(d) => Ok(d),
            other => Err(wrong_reply(&session, other)),
        }
    }
}

/// The session checks that every reply has the type its request expects, so this cannot
/// happen; it is an error rather than a panic all the same.
fn wrong_reply(session: &Session, reply: Reply) -> Error {
    unexpected(session.server(), reply)
}

fn protocol_on(slot: &crate::pool::Slot, reply: Reply) -> Error {
    unexpected(slot.addr(), reply)
}

fn unexpected(server: &str, reply: Reply) -> Error {
    Error::Protocol {
        server: server.to_string(),
        detail: format!("unexpected reply {reply:?}"),
    }
}
