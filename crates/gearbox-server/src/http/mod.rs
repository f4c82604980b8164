//! The HTTP listener (`--http-listen ADDR:PORT`): `/metrics` in the Prometheus text format,
//! `/healthz` (the process answers), `/readyz` (the store is replayed and the job listeners
//! are bound) and the JSON API under `/api/` (`api.rs`).
//!
//! It runs on a thread of its own with its own small runtime, so it answers `/healthz` and
//! `/readyz` even while the engine replays the store or is busy. It never touches the engine:
//! a request that needs the engine's state sends a [`Query`] to the network layer's thread,
//! which answers from the engine between two batches of packets. Nothing here may block that
//! thread or hold engine state across a request.

mod api;
mod metrics;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use tokio::sync::{mpsc, oneshot};
use tracing::{info, warn};

pub use api::{answer, ApiAnswer, ApiRequest};
pub use metrics::{render, StoreStats, BATCH_BOUNDS, COMMIT_BOUNDS_US};

use crate::engine::Snapshot;

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
}

impl Http {
    /// Serve on `listeners` (bound, not yet accepting) from a thread of its own; the queries
    /// its requests make arrive on the returned receiver.
    pub fn start(
        listeners: Vec<std::net::TcpListener>,
    ) -> std::io::Result<(Http, mpsc::Receiver<Query>)> {
        let (queries, received) = mpsc::channel(QUERY_QUEUE);
        let ready = Arc::new(AtomicBool::new(false));
        let (stop, stopped) = oneshot::channel::<()>();
        for listener in &listeners {
            listener.set_nonblocking(true)?;
        }
        let state = AppState {
            ready: ready.clone(),
            queries,
        };
        std::thread::Builder::new()
            .name("gearboxd-http".into())
            .spawn(move || serve(listeners, state, stopped))?;
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

fn serve(listeners: Vec<std::net::TcpListener>, state: AppState, stopped: oneshot::Receiver<()>) {
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
        let app = Router::new()
            .route("/metrics", get(metrics))
            .route("/healthz", get(healthz))
            .route("/readyz", get(readyz))
            .merge(api::routes())
            .with_state(state);
        let (stop_all, _) = tokio::sync::watch::channel(false);
        let mut servers = Vec::new();
        for listener in listeners {
            let listener = match tokio::net::TcpListener::from_std(listener) {
                Ok(listener) => listener,
                Err(e) => {
                    warn!(error = %e, "an HTTP listener could not be used");
                    continue;
                }
            };
            if let Ok(addr) = listener.local_addr() {
                info!(%addr, "HTTP listening");
            }
            let mut stop = stop_all.subscribe();
            let app = app.clone();
            servers.push(tokio::spawn(async move {
                let shutdown = async move {
                    let _ = stop.wait_for(|stop| *stop).await;
                };
                let service = app.into_make_service_with_connect_info::<SocketAddr>();
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
pub fn addresses(listeners: &[std::net::TcpListener]) -> Vec<SocketAddr> {
    listeners
        .iter()
        .filter_map(|l| l.local_addr().ok())
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

async fn metrics(State(state): State<AppState>) -> Response {
    let (answer, answered) = oneshot::channel();
    let asked = state.queries.send(Query::Metrics(answer)).await;
    let Ok(metrics) = (match asked {
        Ok(()) => answered.await.map_err(|_| ()),
        Err(_) => Err(()),
    }) else {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            "the server is not serving\n",
        )
            .into_response();
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
