//! The HTTP listener (`--http-listen ADDR:PORT`): `/metrics` in the Prometheus text format,
//! `/healthz` (the process answers), `/readyz` (the store is replayed and the job listeners
//! are bound), the JSON API under `/api/` (`api.rs`) and the dashboard at `/` (one page,
//! `dashboard.html`, compiled into the binary, drawing from the API and from the recent
//! history the HTTP thread keeps, `history.rs`). Its sockets speak TLS when the server has
//! it (`listen.rs`), and the access list decides who may read and act (`guard.rs`).
//!
//! It runs on a thread of its own with its own small runtime, so it answers `/healthz` and
//! `/readyz` even while the engine replays the store or is busy. It never touches the engine:
//! a request that needs the engine's state sends a [`Query`] to the network layer's thread,
//! which answers from the engine between two batches of packets. Nothing here may block that
//! thread or hold engine state across a request.

mod api;
mod guard;
mod history;
mod listen;
mod metrics;
mod submit;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use tokio::sync::{mpsc, oneshot};
use tracing::{info, warn};

pub use api::{admin_reply, answer, Answered, ApiAnswer, ApiRequest};
pub use listen::HttpSocket;
pub use metrics::{render, StoreStats, BATCH_BOUNDS, COMMIT_BOUNDS_US};

use crate::acl::AclFile;
use crate::engine::Snapshot;
use history::History;
use listen::{Caller, HttpListener};

/// Queries waiting for the engine; more wait for room (the scrapers are few).
const QUERY_QUEUE: usize = 64;

/// What the HTTP side asks the network layer's thread.
#[derive(Debug)]
pub enum Query {
    /// Everything `/metrics` shows.
    Metrics(oneshot::Sender<Metrics>),
    /// An API request, answered by [`answer`] on the engine's thread.
    Api(ApiRequest, oneshot::Sender<ApiAnswer>),
}

/// The state `/metrics` renders.
#[derive(Debug, Clone, Default)]
pub struct Metrics {
    /// The engine's counters and gauges.
    pub engine: Snapshot,
    /// The durable store's commits, when there is a store.
    pub store: Option<StoreStats>,
}

/// The running HTTP listener; dropping it stops it (its thread ends once the requests in
/// flight are answered; nothing waits for that).
#[derive(Debug)]
pub struct Http {
    ready: Arc<AtomicBool>,
    stop: Option<oneshot::Sender<()>>,
}

#[derive(Clone)]
struct AppState {
    ready: Arc<AtomicBool>,
    queries: mpsc::Sender<Query>,
    history: Arc<Mutex<History>>,
    /// gearmand's HTTP submissions go through this client (`submit.rs`).
    submitter: Option<gearbox_client::Client>,
    /// The access list, when there is one (`guard.rs`).
    acl: Option<Arc<AclFile>>,
}

/// How the HTTP listener is reached and guarded.
#[derive(Debug, Clone, Default)]
pub struct HttpOptions {
    /// A plaintext job listener of this server, for gearmand's HTTP submissions.
    pub jobs: Option<SocketAddr>,
    /// The client id that makes the submissions' connection the server's own
    /// (`EngineConfig::internal_client_id`), so the access list checked here is not applied
    /// twice.
    pub internal_client_id: Option<bytes::Bytes>,
    /// The access list.
    pub acl: Option<Arc<AclFile>>,
    /// How long a TLS handshake may take.
    pub handshake_timeout: Duration,
}

/// The dashboard page.
const DASHBOARD: &str = include_str!("dashboard.html");

impl Http {
    /// Serve on `listeners` (bound, not yet accepting) from a thread of its own; the queries
    /// its requests make arrive on the returned receiver.
    ///
    pub fn start(
        listeners: Vec<HttpSocket>,
        options: HttpOptions,
    ) -> std::io::Result<(Http, mpsc::Receiver<Query>)> {
        let (queries, received) = mpsc::channel(QUERY_QUEUE);
        let ready = Arc::new(AtomicBool::new(false));
        let (stop, stopped) = oneshot::channel::<()>();
        for listener in &listeners {
            listener.socket.set_nonblocking(true)?;
        }
        let state = AppState {
            ready: ready.clone(),
            queries,
            history: Arc::default(),
            submitter: None,
            acl: options.acl.clone(),
        };
        std::thread::Builder::new()
            .name("gearboxd-http".into())
            .spawn(move || serve(listeners, state, options, stopped))?;
        Ok((
            Http {
                ready,
                stop: Some(stop),
            },
            received,
        ))
    }

    /// The store is replayed and the job listeners accept: `/readyz` says so from now on.
    pub fn set_ready(&self) {
        self.ready.store(true, Ordering::Release);
    }
}

impl Drop for Http {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

fn serve(
    listeners: Vec<HttpSocket>,
    mut state: AppState,
    options: HttpOptions,
    stopped: oneshot::Receiver<()>,
) {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            warn!(error = %e, "the HTTP listener could not start");
            return;
        }
    };
    runtime.block_on(async move {
        // The client lives in this runtime: it is made here.
        state.submitter = options
            .jobs
            .and_then(|jobs| submit::client(jobs, options.internal_client_id.clone()));
        tokio::spawn(sample(state.clone()));
        let app = Router::new()
            .route("/", get(dashboard))
            .route("/api/history", get(history))
            .route("/api/summary", get(summary))
            .route("/metrics", get(metrics))
            .route("/healthz", get(healthz))
            .route("/readyz", get(readyz))
            .merge(api::routes())
            .route("/{function}", axum::routing::post(submit::submit))
            .layer(axum::middleware::from_fn_with_state(
                state.clone(),
                guard::reads,
            ))
            .with_state(state);
        let (stop_all, _) = tokio::sync::watch::channel(false);
        let mut servers = Vec::new();
        for HttpSocket { socket, tls } in listeners {
            let https = tls.is_some();
            let listener = match tokio::net::TcpListener::from_std(socket)
                .and_then(|socket| HttpListener::start(socket, tls, options.handshake_timeout))
            {
                Ok(listener) => listener,
                Err(e) => {
                    warn!(error = %e, "an HTTP listener could not be used");
                    continue;
                }
            };
            if let Ok(caller) = axum::serve::Listener::local_addr(&listener) {
                info!(addr = %caller.addr, tls = https, "HTTP listening");
            }
            let mut stop = stop_all.subscribe();
            let app = app.clone();
            servers.push(tokio::spawn(async move {
                let shutdown = async move {
                    let _ = stop.wait_for(|stop| *stop).await;
                };
                let service = app.into_make_service_with_connect_info::<Caller>();
                if let Err(e) = axum::serve(listener, service)
                    .with_graceful_shutdown(shutdown)
                    .await
                {
                    warn!(error = %e, "the HTTP listener failed");
                }
            }));
        }
        let _ = stopped.await;
        let _ = stop_all.send(true);
        for server in servers {
            let _ = server.await;
        }
    });
}

/// The addresses of bound HTTP listeners, for the ready file and the log.
pub fn addresses(listeners: &[HttpSocket]) -> Vec<SocketAddr> {
    listeners
        .iter()
        .filter_map(|l| l.socket.local_addr().ok())
        .collect()
}

async fn healthz() -> &'static str {
    "ok\n"
}

async fn readyz(State(state): State<AppState>) -> Response {
    if state.ready.load(Ordering::Acquire) {
        "ready\n".into_response()
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "replaying the job store\n").into_response()
    }
}

/// The engine's metrics, if the server is serving.
async fn fetch_metrics(state: &AppState) -> Option<Metrics> {
    let (answer, answered) = oneshot::channel();
    state.queries.send(Query::Metrics(answer)).await.ok()?;
    answered.await.ok()
}

/// Take a history sample every [`history::SAMPLE_EVERY`], for the dashboard's charts.
async fn sample(state: AppState) {
    let mut every = tokio::time::interval(history::SAMPLE_EVERY);
    loop {
        every.tick().await;
        if let Some(metrics) = fetch_metrics(&state).await {
            if let Ok(mut history) = state.history.lock() {
                history.record(&metrics);
            }
        }
    }
}

fn not_serving() -> Response {
    (
        StatusCode::SERVICE_UNAVAILABLE,
        "the server is not serving\n",
    )
        .into_response()
}

async fn dashboard() -> Html<&'static str> {
    Html(DASHBOARD)
}

async fn history(State(state): State<AppState>) -> Response {
    match state.history.lock() {
        Ok(history) => Json(history.series()).into_response(),
        Err(_) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}

/// The server-wide gauges, for the dashboard's header.
async fn summary(State(state): State<AppState>) -> Response {
    let Some(m) = fetch_metrics(&state).await else {
        return not_serving();
    };
    let s = &m.engine;
    Json(serde_json::json!({
        "version": env!("CARGO_PKG_VERSION"),
        "connections": s.connections,
        "workers": s.workers,
        "clients": s.clients,
        "jobs": s.jobs,
        "queued_bytes": s.held_bytes,
        "dead_letters": s.dead_letters,
        "kept_results": s.kept_results,
        "schedules": s.schedules,
        "resident_bytes": metrics::resident_bytes(),
    }))
    .into_response()
}

async fn metrics(State(state): State<AppState>) -> Response {
    let Some(metrics) = fetch_metrics(&state).await else {
        return not_serving();
    };
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        render(&metrics, metrics::resident_bytes()),
    )
        .into_response()
}
