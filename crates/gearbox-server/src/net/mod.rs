//! The network layer: accepts connections, frames their bytes, feeds the engine and writes its
//! answers. It decides nothing about jobs.
//!
//! Everything runs on one thread (a tokio `LocalSet`): the engine is a plain `RefCell`, so a
//! packet goes from the socket to the engine and its answer into the peer's output buffer with
//! no lock, channel or thread hop. Each read is decoded completely and answered as one batch;
//! output is written straight from the reading task with a non-blocking vectored write, and a
//! writer task is spawned only for a peer whose socket is full. No `RefCell` borrow is ever
//! held across an `.await`.

mod clock;
mod cluster;
mod connection;
mod error;
mod outbound;
mod outbuf;
mod per_ip;
mod tls_io;

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::net::SocketAddr;
use std::os::fd::AsRawFd;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use gearbox_proto::PacketType;
use slab::Slab;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Notify;
use tokio::task::LocalSet;
use tracing::{debug, info, warn, Instrument};

use crate::acl::AclFile;
use crate::config::ServerConfig;
use crate::engine::{ConnId, Engine, Outbox, Peer, StoreOp};
use crate::http::{
    Answered, ApiAnswer, Http, HttpOptions, HttpSocket, Metrics, Query, StoreStats, BATCH_BOUNDS,
    COMMIT_BOUNDS_US,
};
use crate::tls::Tls;
use clock::Clock;
pub use cluster::ClusterLink;
use connection::ConnIo;
pub use error::{ServerError, Stop};
use gearbox_store::{Committer, JobStore, StoreEvent};
use outbound::{OutboundLimits, Unsent};
use per_ip::{IpSlot, PerIp};

/// A bound socket the server accepts on, and whether its connections speak TLS.
pub struct Listener {
    /// The socket.
    pub socket: TcpListener,
    /// TLS for every connection accepted on it; `None`: plaintext.
    pub tls: Option<Arc<Tls>>,
}

impl From<TcpListener> for Listener {
    fn from(socket: TcpListener) -> Listener {
        Listener { socket, tls: None }
    }
}

/// State shared by the tasks of one server.
struct Shared {
    config: ServerConfig,
    engine: RefCell<Engine>,
    conns: RefCell<Slab<Rc<ConnIo>>>,
    /// Connections accepted whose TLS handshake is under way (counted against the limit).
    handshaking: Cell<usize>,
    /// Open connections by source address.
    per_ip: Rc<PerIp>,
    /// Connections with new output since the last flush.
    dirty: RefCell<Vec<ConnId>>,
    clock: Clock,
    /// Deadline the timer task sleeps until; it is woken when an earlier one appears.
    timer_at: Cell<Option<u64>>,
    timer_wake: Notify,
    /// Set by the admin `shutdown` command.
    stop_request: Cell<Option<Stop>>,
    stop_wake: Notify,
    /// The durable store's commit thread, when jobs are durable.
    store: Option<Committer>,
    /// Highest store write that could not even be queued (the store thread is gone).
    store_lost: Cell<Option<u64>>,
    /// Read-backs that could not even be queued.
    loads_lost: RefCell<Vec<u64>>,
    /// HTTP API requests whose answer waits for the store, by the engine's token, with
    /// whether each is a `result`.
    operator_waiting:
        RefCell<rustc_hash::FxHashMap<u64, (tokio::sync::oneshot::Sender<ApiAnswer>, bool)>>,
    /// Unsent output of every connection together.
    unsent: Rc<Unsent>,
    /// `unsent` passed the server-wide budget: cut the slowest readers after this batch.
    over_budget: Cell<bool>,
    /// The store's transactions, for `/metrics`.
    store_stats: RefCell<StoreStats>,
    /// In a cluster: workers found nothing, their functions are to be claimed for.
    cluster_wake: Notify,
}

/// The engine's [`Outbox`] over connection buffers.
struct NetOutbox<'a> {
    conns: &'a Slab<Rc<ConnIo>>,
    dirty: &'a mut Vec<ConnId>,
    /// Set when the output passes the server-wide budget.
    over_budget: &'a Cell<bool>,
    unsent: &'a Unsent,
    max_outbound_total: usize,
    stop: &'a Cell<Option<Stop>>,
    store: Option<&'a Committer>,
    store_lost: &'a Cell<Option<u64>>,
    loads_lost: &'a RefCell<Vec<u64>>,
}

impl NetOutbox<'_> {
    fn with(&mut self, id: ConnId, write: impl FnOnce(&mut outbuf::OutBuf)) {
        let Some(io) = self.conns.get(id.0 as usize) else {
            return;
        };
        if io.closing.get() {
            return;
        }
        io.append(write);
        if io.overdue() {
            warn!(conn = id.0, peer = %io.peer, bytes = io.pending(),
                "peer does not read its replies; closing the connection");
            io.close();
            return;
        }
        if self.unsent.get() > self.max_outbound_total {
            self.over_budget.set(true);
        }
        if !io.dirty.replace(true) {
            self.dirty.push(id);
        }
    }
}

impl Outbox for NetOutbox<'_> {
    fn packet(&mut self, conn: ConnId, kind: PacketType, fields: &[&[u8]], last: &[u8]) {
        self.with(conn, |out| out.packet(kind, fields, last));
    }

    fn packet_shared(&mut self, conn: ConnId, kind: PacketType, fields: &[&[u8]], last: &Bytes) {
        self.with(conn, |out| out.packet_shared(kind, fields, last));
    }

    fn text(&mut self, conn: ConnId, text: &[u8]) {
        self.with(conn, |out| out.text(text));
    }

    fn close(&mut self, conn: ConnId) {
        if let Some(io) = self.conns.get(conn.0 as usize) {
            io.close_after_flush();
            if !io.dirty.replace(true) {
                self.dirty.push(conn);
            }
        }
    }

    fn shutdown(&mut self, graceful: bool) {
        self.stop.set(Some(if graceful {
            Stop::Graceful
        } else {
            Stop::Immediate
        }));
    }

    fn persist(&mut self, seq: u64, op: StoreOp) {
        let queued = self.store.map(|store| store.submit(seq, op));
        if !matches!(queued, Some(Ok(()))) {
            self.store_lost.set(Some(seq));
        }
    }

    fn load(&mut self, token: u64, ids: Vec<u64>) {
        let queued = self.store.map(|store| store.load(token, ids));
        if !matches!(queued, Some(Ok(()))) {
            self.loads_lost.borrow_mut().push(token);
        }
    }

    fn find(&mut self, token: u64, unique: Bytes) {
        let queued = self.store.map(|store| store.find(token, unique));
        if !matches!(queued, Some(Ok(()))) {
            self.loads_lost.borrow_mut().push(token);
        }
    }

    fn cancel(&mut self, token: u64, id: u64) {
        let queued = self.store.map(|store| store.cancel(token, id));
        if !matches!(queued, Some(Ok(()))) {
            self.loads_lost.borrow_mut().push(token);
        }
    }

    fn find_record(&mut self, token: u64, id: u64, kind: u8, key: Bytes) {
        let queued = self
            .store
            .map(|store| store.find_record(token, id, kind, key));
        if !matches!(queued, Some(Ok(()))) {
            self.loads_lost.borrow_mut().push(token);
        }
    }
}

impl Shared {
    /// Run `f` against the engine with an outbox, then write out what it produced.
    fn with_engine<R>(&self, f: impl FnOnce(&mut Engine, &mut NetOutbox<'_>, u64) -> R) -> R {
        let result = {
            let mut engine = self.engine.borrow_mut();
            let conns = self.conns.borrow();
            let mut dirty = self.dirty.borrow_mut();
            let mut out = NetOutbox {
                conns: &conns,
                dirty: &mut dirty,
                over_budget: &self.over_budget,
                unsent: &self.unsent,
                max_outbound_total: self.config.max_outbound_total,
                stop: &self.stop_request,
                store: self.store.as_ref(),
                store_lost: &self.store_lost,
                loads_lost: &self.loads_lost,
            };
            f(&mut engine, &mut out, self.clock.now())
        };
        self.after_engine();
        result
    }

    /// Flush every connection that got output, re-arm the timer if the engine's next deadline
    /// moved earlier, and pass on a stop request.
    fn after_engine(&self) {
        if let Some(seq) = self.store_lost.take() {
            tracing::error!("the store thread is gone; durable submissions fail");
            self.with_engine(|engine, out, now| {
                engine.committed(seq, Some("the store thread has stopped"), now, out);
            });
        }
        let lost = std::mem::take(&mut *self.loads_lost.borrow_mut());
        if !lost.is_empty() {
            self.with_engine(|engine, out, now| {
                for token in lost {
                    engine.loaded(token, Err("the store thread has stopped".into()), now, out);
                }
            });
        }
        let answers = self.engine.borrow_mut().take_operator_answers();
        for (token, text) in answers {
            if let Some((waiting, result)) = self.operator_waiting.borrow_mut().remove(&token) {
                let _ = waiting.send(crate::http::admin_reply(&text, result));
            }
        }
        let dirty = std::mem::take(&mut *self.dirty.borrow_mut());
        {
            let conns = self.conns.borrow();
            for id in &dirty {
                if let Some(io) = conns.get(id.0 as usize) {
                    io.dirty.set(false);
                    io.flush();
                }
            }
        }
        if self.over_budget.replace(false) {
            self.cut_slowest_readers();
        }
        // Give the vector's capacity back for the next batch.
        let mut slot = self.dirty.borrow_mut();
        if slot.is_empty() {
            *slot = dirty;
            slot.clear();
        }
        drop(slot);
        let next = self.engine.borrow().next_deadline();
        if let Some(next) = next {
            if self.timer_at.get().is_none_or(|at| next < at) {
                self.timer_wake.notify_one();
            }
        }
        if self.stop_request.get().is_some() {
            self.stop_wake.notify_one();
        }
        if self.config.engine.cluster && self.engine.borrow().has_wanted() {
            self.cluster_wake.notify_one();
        }
    }
}

impl Shared {
    /// Unsent output passed the server-wide budget: cut the peers stalled longest, then those
    /// with the most unsent output, until it is back within.
    fn cut_slowest_readers(&self) {
        let total = self.config.max_outbound_total;
        let conns = self.conns.borrow();
        let unsent = self.unsent.get();
        if unsent <= total {
            return;
        }
        let backlogs = conns
            .iter()
            .map(|(id, io)| io.backlog(ConnId(u32::try_from(id).unwrap_or(u32::MAX))))
            .collect();
        for id in outbound::over_budget(backlogs, unsent, total) {
            if let Some(io) = conns.get(id.0 as usize) {
                warn!(conn = id.0, peer = %io.peer, bytes = io.pending(), total = unsent,
                    "unsent output of all peers is over --max-outbound-total; \
                     closing the slowest reader");
                io.close();
            }
        }
    }
}

/// Run a server on already-bound listeners until `stop` resolves or an administrator sends
/// `shutdown`. With a `store`, background jobs are durable: the store is replayed before any
/// connection is accepted. Must be awaited on a current-thread runtime (it runs a `LocalSet`).
///
/// `ready` is called once, with the listening addresses, when connections are being accepted
/// (after the replay).
pub async fn serve(
    listeners: Listeners,
    config: ServerConfig,
    storage: impl Into<Storage>,
    ready: impl FnOnce(&[SocketAddr]),
    stop: impl Future<Output = Stop>,
) -> Result<(), ServerError> {
    let local = LocalSet::new();
    local
        .run_until(run(listeners, config, storage.into(), ready, stop))
        .await
}

/// Where jobs are kept: in memory only, in a durable store, or in a cluster's shared store.
#[derive(Default)]
pub struct Storage {
    /// The durable store; `None`: memory only.
    pub store: Option<Box<dyn JobStore>>,
    /// This node's link to its cluster (with `config.engine.cluster`).
    pub cluster: Option<ClusterLink>,
}

impl From<Option<Box<dyn JobStore>>> for Storage {
    fn from(store: Option<Box<dyn JobStore>>) -> Storage {
        Storage {
            store,
            cluster: None,
        }
    }
}

/// Every socket a server accepts on.
#[derive(Default)]
pub struct Listeners {
    /// The Gearman protocol's (binary and text admin).
    pub gearman: Vec<Listener>,
    /// The HTTP listener's (`--http-listen`), bound and not yet accepting.
    pub http: Vec<HttpSocket>,
}

impl From<Vec<Listener>> for Listeners {
    fn from(gearman: Vec<Listener>) -> Listeners {
        Listeners {
            gearman,
            http: Vec::new(),
        }
    }
}

/// Build the engine, filled from the store if there is one.
fn restored_engine(
    config: &ServerConfig,
    store: Option<&mut Box<dyn JobStore>>,
    clock: Clock,
) -> Result<Engine, ServerError> {
    let mut engine_config = config.engine.clone();
    engine_config.durable = store.is_some();
    let mut engine = Engine::new(engine_config);
    if let Some(store) = store {
        let now = clock.now();
        // Records first: a job's attempt count is one.
        store
            .replay_records(&mut |record| engine.restore_record(record, now))
            .map_err(ServerError::Replay)?;
        store
            .replay(&mut |job| engine.restore(job, now))
            .map_err(ServerError::Replay)?;
        engine.restored();
        info!(jobs = engine.counters().restored, "replayed the job store");
    }
    Ok(engine)
}

async fn run(
    listeners: Listeners,
    mut config: ServerConfig,
    storage: Storage,
    ready: impl FnOnce(&[SocketAddr]),
    stop: impl Future<Output = Stop>,
) -> Result<(), ServerError> {
    // Up before the replay, so that /healthz answers and /readyz says "not yet" meanwhile.
    let http = match listeners.http {
        http if http.is_empty() => None,
        http => {
            let internal_client_id = Some(secret().map_err(ServerError::Http)?);
            config.engine.internal_client_id = internal_client_id.clone();
            let options = HttpOptions {
                jobs: plaintext_job_address(&listeners.gearman),
                internal_client_id,
                acl: config.acl.clone(),
                handshake_timeout: config.tls_handshake_timeout,
            };
            Some(Http::start(http, options).map_err(ServerError::Http)?)
        }
    };
    let listeners = listeners.gearman;
    let Storage {
        mut store,
        cluster: cluster_link,
    } = storage;
    let clock = Clock::new();
    let engine = restored_engine(&config, store.as_mut(), clock)?;
    let (commit_tx, commit_rx) = tokio::sync::mpsc::unbounded_channel();
    let committer = store.map(|store| {
        Committer::start(store, move |event| {
            let _ = commit_tx.send(event);
        })
    });
    let shared = Rc::new(Shared {
        engine: RefCell::new(engine),
        config,
        conns: RefCell::new(Slab::new()),
        handshaking: Cell::new(0),
        per_ip: Rc::new(PerIp::default()),
        dirty: RefCell::new(Vec::new()),
        clock,
        timer_at: Cell::new(None),
        timer_wake: Notify::new(),
        stop_request: Cell::new(None),
        stop_wake: Notify::new(),
        store: committer,
        store_lost: Cell::new(None),
        loads_lost: RefCell::new(Vec::new()),
        operator_waiting: RefCell::default(),
        unsent: Rc::new(Unsent::default()),
        over_budget: Cell::new(false),
        store_stats: RefCell::new(StoreStats::default()),
        cluster_wake: Notify::new(),
    });
    shared.with_engine(|engine, out, now| {
        engine.resume_loads(out);
        engine.start_schedules(now);
    });
    let acl = shared.config.acl.clone().map(|file| {
        shared.engine.borrow_mut().set_acl(Some(file.current()));
        tokio::task::spawn_local(acl_loop(shared.clone(), file))
    });
    let cluster = cluster_link
        .map(|link| tokio::task::spawn_local(cluster::cluster_loop(shared.clone(), link)));
    let timer = tokio::task::spawn_local(timer_loop(shared.clone()));
    let commits = tokio::task::spawn_local(commit_loop(shared.clone(), commit_rx));
    let mut acceptors = Vec::new();
    let mut addrs = Vec::new();
    for listener in listeners {
        if let Ok(addr) = listener.socket.local_addr() {
            info!(%addr, tls = listener.tls.is_some(), "listening");
            addrs.push(addr);
        }
        acceptors.push(tokio::task::spawn_local(accept_loop(
            shared.clone(),
            listener,
        )));
    }
    ready(&addrs);
    let (http, queries) = match http {
        Some((http, received)) => {
            http.set_ready();
            let answering = tokio::task::spawn_local(query_loop(shared.clone(), received));
            (Some(http), Some(answering))
        }
        None => (None, None),
    };
    let how = tokio::select! {
        how = stop => how,
        () = admin_stop(&shared) => shared.stop_request.get().unwrap_or(Stop::Immediate),
    };
    for acceptor in &acceptors {
        acceptor.abort();
    }
    if how == Stop::Graceful {
        drain(&shared).await;
    }
    timer.abort();
    commits.abort();
    if let Some(cluster) = cluster {
        cluster.abort();
    }
    if let Some(queries) = queries {
        queries.abort();
    }
    drop(http);
    if let Some(acl) = acl {
        acl.abort();
    }
    let conns: Vec<Rc<ConnIo>> = shared
        .conns
        .borrow()
        .iter()
        .map(|(_, io)| io.clone())
        .collect();
    for io in conns {
        io.close();
    }
    info!(?how, "server stopped");
    Ok(())
}

async fn admin_stop(shared: &Shared) {
    while shared.stop_request.get().is_none() {
        shared.stop_wake.notified().await;
    }
}

/// Refuse new submissions, then wait, at most `shutdown_timeout`, for running foreground jobs
/// to finish. Checks every 50 ms; says so in the log once a second.
async fn drain(shared: &Shared) {
    shared.engine.borrow_mut().begin_drain();
    let deadline = tokio::time::Instant::now() + shared.config.shutdown_timeout;
    let mut next_log = tokio::time::Instant::now();
    loop {
        let running = shared.engine.borrow().running_foreground();
        if running == 0 {
            return;
        }
        let now = tokio::time::Instant::now();
        if now >= deadline {
            warn!(running, "stopping with foreground jobs still running");
            return;
        }
        if now >= next_log {
            info!(
                running,
                "waiting for running foreground jobs before stopping"
            );
            next_log = now + Duration::from_secs(1);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Hand the store's reports to the engine: commits answer the submitters that waited for them,
/// read-backs give queued jobs their workloads back.
async fn commit_loop(
    shared: Rc<Shared>,
    mut events: tokio::sync::mpsc::UnboundedReceiver<StoreEvent>,
) {
    let mut batch = Vec::new();
    while events.recv_many(&mut batch, 64).await > 0 {
        shared.with_engine(|engine, out, now| {
            for event in batch.drain(..) {
                match event {
                    StoreEvent::Committed(mut commit) => {
                        shared.count_commit(&commit);
                        if !commit.coalesced.is_empty() {
                            engine.coalesced(std::mem::take(&mut commit.coalesced));
                        }
                        let failure = commit.result.err().map(|e| e.to_string());
                        engine.committed(commit.last, failure.as_deref(), now, out);
                    }
                    StoreEvent::Loaded(loaded) => {
                        let result = loaded.result.map_err(|e| e.to_string());
                        engine.loaded(loaded.token, result, now, out);
                    }
                }
            }
        });
    }
}

/// A random secret (32 bytes from the kernel, as hex): the HTTP front-end's client id.
fn secret() -> std::io::Result<bytes::Bytes> {
    use std::io::Read as _;
    let mut random = [0u8; 32];
    std::fs::File::open("/dev/urandom")?.read_exact(&mut random)?;
    let hex: String = random.iter().map(|b| format!("{b:02x}")).collect();
    Ok(bytes::Bytes::from(hex))
}

/// A plaintext job listener's address to connect to (a wildcard address as loopback), for
/// gearmand's HTTP submissions.
fn plaintext_job_address(listeners: &[Listener]) -> Option<SocketAddr> {
    let listener = listeners.iter().find(|l| l.tls.is_none())?;
    let mut addr = listener.socket.local_addr().ok()?;
    if addr.ip().is_unspecified() {
        let loopback: std::net::IpAddr = if addr.is_ipv6() {
            std::net::Ipv6Addr::LOCALHOST.into()
        } else {
            std::net::Ipv4Addr::LOCALHOST.into()
        };
        addr.set_ip(loopback);
    }
    Some(addr)
}

/// Answer the HTTP listener's queries from the engine, one at a time between batches.
async fn query_loop(shared: Rc<Shared>, mut queries: tokio::sync::mpsc::Receiver<Query>) {
    while let Some(query) = queries.recv().await {
        match query {
            Query::Api(request, reply) => {
                // A later answer's waiter is registered before `after_engine` looks for answers.
                shared.with_engine(|engine, out, now| {
                    match crate::http::answer(engine, request, now, out) {
                        Answered::Now(answer) => {
                            let _ = reply.send(answer);
                        }
                        Answered::Later(token, result) => {
                            shared
                                .operator_waiting
                                .borrow_mut()
                                .insert(token, (reply, result));
                        }
                    }
                });
            }
            Query::Metrics(answer) => {
                let metrics = Metrics {
                    engine: shared.engine.borrow().snapshot(),
                    store: shared
                        .store
                        .as_ref()
                        .map(|_| shared.store_stats.borrow().clone()),
                };
                let _ = answer.send(metrics);
            }
        }
    }
}

impl Shared {
    /// Count a store transaction for `/metrics`.
    fn count_commit(&self, commit: &gearbox_store::Commit) {
        let mut stats = self.store_stats.borrow_mut();
        let micros = u64::try_from(commit.elapsed.as_micros()).unwrap_or(u64::MAX);
        stats.commit_us.observe(&COMMIT_BOUNDS_US, micros);
        stats.batch_ops.observe(&BATCH_BOUNDS, commit.ops as u64);
        if commit.result.is_err() {
            stats.failures += 1;
        }
    }
}

/// Put each reloaded access list in force, for open connections too.
async fn acl_loop(shared: Rc<Shared>, file: Arc<AclFile>) {
    loop {
        file.changed().await;
        shared.engine.borrow_mut().set_acl(Some(file.current()));
        info!(path = %file.path().display(), "access list in force");
    }
}

async fn timer_loop(shared: Rc<Shared>) {
    loop {
        let next = shared.engine.borrow().next_deadline();
        shared.timer_at.set(next);
        match next {
            Some(at) => {
                let when = tokio::time::Instant::from_std(shared.clock.instant(at));
                tokio::select! {
                    () = tokio::time::sleep_until(when) => {
                        shared.with_engine(|engine, out, now| engine.tick(now, out));
                    }
                    () = shared.timer_wake.notified() => {}
                }
            }
            None => shared.timer_wake.notified().await,
        }
    }
}

async fn accept_loop(shared: Rc<Shared>, listener: Listener) {
    let mut backoff = Duration::from_millis(10);
    loop {
        match listener.socket.accept().await {
            Ok((stream, peer)) => {
                backoff = Duration::from_millis(10);
                let open = shared.conns.borrow().len() + shared.handshaking.get();
                if open >= shared.config.max_connections {
                    warn!(%peer, "connection limit reached; refusing connection");
                    continue;
                }
                let max_per_ip = shared.config.max_connections_per_ip;
                let Some(slot) = shared.per_ip.take(peer.ip().to_canonical(), max_per_ip) else {
                    warn!(%peer, max_per_ip, "connection limit per address reached; refusing connection");
                    continue;
                };
                prepare_socket(&shared, &stream);
                match &listener.tls {
                    None => start_connection(&shared, stream, peer, None, slot),
                    Some(tls) => {
                        tokio::task::spawn_local(tls_connection(
                            shared.clone(),
                            stream,
                            peer,
                            tls.config(),
                            slot,
                        ));
                    }
                }
            }
            Err(e) => {
                // Out of descriptors or memory: back off instead of spinning on accept.
                warn!(error = %e, "accept failed; retrying in {backoff:?}");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(1));
            }
        }
    }
}

fn prepare_socket(shared: &Shared, stream: &TcpStream) {
    let _ = stream.set_nodelay(true);
    if let Some(keepalive) = shared.config.keepalive {
        connection::set_keepalive(stream, keepalive);
    }
}

/// Run the TLS handshake within the handshake timeout, then serve the connection. A peer that
/// fails it is logged with the reason and never reaches the engine.
async fn tls_connection(
    shared: Rc<Shared>,
    stream: TcpStream,
    peer: SocketAddr,
    config: Arc<rustls::ServerConfig>,
    slot: IpSlot,
) {
    shared.handshaking.set(shared.handshaking.get() + 1);
    let timeout = shared.config.tls_handshake_timeout;
    let result = tokio::time::timeout(timeout, tls_io::handshake(&stream, config)).await;
    shared.handshaking.set(shared.handshaking.get() - 1);
    match result {
        Ok(Ok(tls)) => start_connection(&shared, stream, peer, Some(tls), slot),
        Ok(Err(e)) if e.is_plaintext_peer() => {
            info!(%peer, "plaintext on a TLS listener; closing (connect with TLS, or to a plaintext port)");
        }
        Ok(Err(e)) => info!(%peer, error = %e, "TLS handshake failed"),
        Err(_) => info!(%peer, ?timeout, "TLS handshake not finished in time; closing"),
    }
}

fn start_connection(
    shared: &Rc<Shared>,
    stream: TcpStream,
    peer: SocketAddr,
    tls: Option<rustls::ServerConnection>,
    slot: IpSlot,
) {
    // The verified client certificate's names, for the access list.
    let identity = tls
        .as_ref()
        .and_then(|tls| {
            tls.peer_certificates()?
                .first()
                .map(|c| crate::tls::identity(c))
        })
        .map(Arc::new);
    let label = u32::try_from(stream.as_raw_fd()).unwrap_or(0);
    let ip = peer.ip().to_canonical();
    let limits = OutboundLimits {
        per_conn: shared.config.max_outbound,
        stall_timeout: shared.config.outbound_timeout,
    };
    let io = Rc::new(ConnIo::new(
        stream,
        peer,
        tls,
        limits,
        shared.unsent.clone(),
        slot,
    ));
    let id =
        ConnId(u32::try_from(shared.conns.borrow_mut().insert(io.clone())).unwrap_or(u32::MAX));
    shared.engine.borrow_mut().connect(
        id,
        Peer {
            ip,
            label,
            identity,
        },
    );
    debug!(conn = id.0, %peer, "connection accepted");
    // Every log line about the connection carries its id, address and (once it sets one)
    // client id.
    let span =
        tracing::info_span!("conn", id = id.0, peer = %peer, client_id = tracing::field::Empty);
    tokio::task::spawn_local(connection::read_loop(shared.clone(), id, io).instrument(span));
}
