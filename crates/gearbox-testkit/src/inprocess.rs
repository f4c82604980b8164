//! gearboxd inside the test process, for tests that need only protocol behaviour: no binary
//! to build or find, no process to start, no ready file to poll.
//!
//! [`start_server`] runs `gearbox_server::net::serve` on a thread of its own with a
//! current-thread tokio runtime (the server is single-threaded by design), listening on
//! 127.0.0.1 with a kernel-chosen port. The [`InProcessServer`] handle stops the server and
//! joins its thread when dropped, so a test never leaves one running. Jobs live in memory
//! unless [`ServerOptions::store`] asks for SQLite.
//!
//! What must not happen here: anything that needs a process boundary (signals, `kill -9`,
//! command-line flags, `--user`, the ready and pid files) belongs to [`crate::Server`], which
//! runs the real binary; and gearbox-server's own `src/` unit tests must not use this module
//! (the kit links the non-test build of the server library).

use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::thread::{self, JoinHandle};
use std::time::Duration;

use gearbox_server::config::ServerConfig;
use gearbox_server::net::{serve, Listeners, ServerError, Stop};
use gearbox_store::{DelayedStore, JobStore, SqliteStore, DEFAULT_TABLE};

use crate::server::{slow_store_active, SLOW_STORE_MS, START_TIMEOUT};
use crate::tempdir::TempDir;

/// Where an in-process server keeps its background jobs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum StoreMode {
    /// In memory only (`gearboxd -q memory`, gearmand's behaviour).
    #[default]
    Memory,
    /// SQLite, in a fresh [`TempDir`] that lives as long as the server handle.
    Sqlite,
    /// SQLite, in this database file (created if missing): start a second server on the same
    /// file to see what the first one left behind.
    SqliteAt(PathBuf),
}

/// How to start an in-process server. The default is gearboxd's library defaults
/// ([`ServerConfig::default`]: handles `H:localhost:<n>` from 1, log level `ERROR`) with jobs
/// in memory.
#[derive(Debug, Clone, Default)]
pub struct ServerOptions {
    /// The server's settings, as `gearboxd` would build them from its flags.
    pub config: ServerConfig,
    /// Where background jobs are kept.
    pub store: StoreMode,
    /// Hold every store transaction back by this long (`--store-delay-ms`). `None` delays by
    /// [`SLOW_STORE_MS`] inside [`crate::with_slow_store`] and not at all otherwise. No effect
    /// with [`StoreMode::Memory`].
    pub store_delay: Option<Duration>,
}

impl ServerOptions {
    /// The defaults with a SQLite store in a private temporary directory.
    pub fn sqlite() -> ServerOptions {
        ServerOptions {
            store: StoreMode::Sqlite,
            ..ServerOptions::default()
        }
    }
}

/// A gearboxd running on a thread of this process; stopped (at once, as `Stop::Immediate`)
/// and joined when dropped.
pub struct InProcessServer {
    addr: SocketAddr,
    database: Option<PathBuf>,
    stop: Option<tokio::sync::oneshot::Sender<Stop>>,
    thread: Option<JoinHandle<Result<(), ServerError>>>,
    _dir: Option<TempDir>,
}

/// Starts gearboxd in this process on 127.0.0.1 with a kernel-chosen port and returns once it
/// accepts connections (after replaying its store, if it has one). Panics if the store cannot
/// be opened or the server does not come up within [`START_TIMEOUT`].
pub fn start_server(options: ServerOptions) -> InProcessServer {
    let (dir, database) = match options.store {
        StoreMode::Memory => (None, None),
        StoreMode::Sqlite => {
            let dir = TempDir::new("in-process");
            let database = dir.join("gearbox.db");
            (Some(dir), Some(database))
        }
        StoreMode::SqliteAt(path) => (None, Some(path)),
    };
    let store = database.as_deref().map(|path| {
        let store: Box<dyn JobStore> = Box::new(
            SqliteStore::open(path, DEFAULT_TABLE)
                .unwrap_or_else(|e| panic!("opening {}: {e}", path.display())),
        );
        let delay = options
            .store_delay
            .or_else(|| slow_store_active().then(|| Duration::from_millis(SLOW_STORE_MS)));
        match delay {
            Some(delay) if !delay.is_zero() => {
                Box::new(DelayedStore::new(store, delay)) as Box<dyn JobStore>
            }
            _ => store,
        }
    });

    let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    listener
        .set_nonblocking(true)
        .expect("non-blocking listener");
    let addr = listener.local_addr().expect("local_addr");
    let (ready_tx, ready_rx) = mpsc::channel();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<Stop>();
    let config = options.config;
    let thread = thread::Builder::new()
        .name(format!("gearboxd-in-process-{}", addr.port()))
        .spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("build the server's runtime");
            runtime.block_on(async move {
                let listener =
                    tokio::net::TcpListener::from_std(listener).map_err(ServerError::Listener)?;
                let ready = move |_: &[SocketAddr]| {
                    let _ = ready_tx.send(());
                };
                // A dropped handle (no message) stops the server too.
                let stop = async move { stop_rx.await.unwrap_or(Stop::Immediate) };
                let listeners = Listeners::from(vec![listener.into()]);
                serve(listeners, config, store, ready, stop).await
            })
        })
        .expect("spawn the server thread");
    let mut server = InProcessServer {
        addr,
        database,
        stop: Some(stop_tx),
        thread: Some(thread),
        _dir: dir,
    };
    match ready_rx.recv_timeout(START_TIMEOUT) {
        Ok(()) => server,
        Err(mpsc::RecvTimeoutError::Timeout) => {
            panic!("the in-process gearboxd did not come up within {START_TIMEOUT:?}")
        }
        // The thread ended before calling `ready`: report how.
        Err(mpsc::RecvTimeoutError::Disconnected) => match server.join(Stop::Immediate) {
            Ok(()) => panic!("the in-process gearboxd stopped before it was ready"),
            Err(e) => panic!("the in-process gearboxd failed to start: {e}"),
        },
    }
}

impl InProcessServer {
    /// Where the server listens (127.0.0.1 and a kernel-chosen port).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `"127.0.0.1"`.
    pub fn host(&self) -> String {
        self.addr.ip().to_string()
    }

    /// The listening port.
    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// The SQLite database file, if the server has one.
    pub fn database(&self) -> Option<&Path> {
        self.database.as_deref()
    }

    /// Whether the server is still serving (the admin `shutdown` command stops it on its own).
    pub fn is_running(&self) -> bool {
        self.thread.as_ref().is_some_and(|t| !t.is_finished())
    }

    /// Stops the server as `how` says (`Stop::Graceful` lets running foreground jobs finish,
    /// bounded by `shutdown_timeout`), waits for its thread, and returns what `serve`
    /// returned. Panics if the server thread panicked.
    pub fn stop(mut self, how: Stop) -> Result<(), ServerError> {
        self.join(how)
    }

    fn join(&mut self, how: Stop) -> Result<(), ServerError> {
        if let Some(stop) = self.stop.take() {
            // Fails only if the server already stopped (admin `shutdown`, or an error).
            let _ = stop.send(how);
        }
        match self.thread.take().map(JoinHandle::join) {
            None => Ok(()),
            Some(Ok(result)) => result,
            Some(Err(panic)) => std::panic::resume_unwind(panic),
        }
    }
}

impl Drop for InProcessServer {
    fn drop(&mut self) {
        if self.thread.is_none() {
            return;
        }
        if thread::panicking() {
            // Do not panic again while unwinding; still stop and join the server.
            if let Some(stop) = self.stop.take() {
                let _ = stop.send(Stop::Immediate);
            }
            if let Some(t) = self.thread.take() {
                let _ = t.join();
            }
            return;
        }
        if let Err(e) = self.join(Stop::Immediate) {
            eprintln!("the in-process gearboxd at {} ended with: {e}", self.addr);
        }
    }
}
