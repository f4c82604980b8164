//! The HTTP listener's sockets: each accepted connection, over TLS when the listener has it,
//! handed to axum with its [`Caller`] (address and, with a verified client certificate, the
//! identity the access list knows it by).
//!
//! Accepting and TLS handshakes run in tasks of their own, each handshake under the server's
//! handshake timeout, so a slow or silent peer never holds up the next one. This module owns
//! nothing about what a caller may do (`guard.rs` decides that) and never reads a request.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::connect_info::Connected;
use axum::serve::{IncomingStream, Listener};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_rustls::TlsAcceptor;
use tracing::{info, warn};

use crate::acl::Identity;
use crate::tls::Tls;

/// A bound HTTP socket, not yet accepting.
#[derive(Debug)]
pub struct HttpSocket {
    /// The socket.
    pub socket: std::net::TcpListener,
    /// TLS for every connection accepted on it; `None`: plaintext.
    pub tls: Option<Arc<Tls>>,
}

/// Who sent a request.
#[derive(Debug, Clone)]
pub struct Caller {
    /// The peer's address.
    pub addr: SocketAddr,
    /// The names of its verified client certificate; `None` without one.
    pub identity: Option<Arc<Identity>>,
}

impl Connected<IncomingStream<'_, HttpListener>> for Caller {
    fn connect_info(stream: IncomingStream<'_, HttpListener>) -> Caller {
        stream.remote_addr().clone()
    }
}

/// A connection's byte stream, plaintext or TLS.
pub trait Stream: AsyncRead + AsyncWrite + Unpin + Send {}

impl<T: AsyncRead + AsyncWrite + Unpin + Send> Stream for T {}

/// Connections accepted and (with TLS) past their handshake wait here for axum.
const READY_QUEUE: usize = 64;

/// An HTTP listener for axum: connections ready to be read, with their callers.
pub struct HttpListener {
    ready: mpsc::Receiver<(Box<dyn Stream>, Caller)>,
    local: SocketAddr,
}

impl HttpListener {
    /// Start accepting on `socket` (in the current runtime).
    pub fn start(
        socket: TcpListener,
        tls: Option<Arc<Tls>>,
        handshake_timeout: Duration,
    ) -> io::Result<HttpListener> {
        let local = socket.local_addr()?;
        let (sender, ready) = mpsc::channel(READY_QUEUE);
        tokio::spawn(accept(socket, tls, handshake_timeout, sender));
        Ok(HttpListener { ready, local })
    }
}

impl Listener for HttpListener {
    type Io = Box<dyn Stream>;
    type Addr = Caller;

    async fn accept(&mut self) -> (Self::Io, Caller) {
        match self.ready.recv().await {
            Some(connection) => connection,
            // The accepting task ended (the server stops): accept nothing more.
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> io::Result<Caller> {
        Ok(Caller {
            addr: self.local,
            identity: None,
        })
    }
}

type Ready = mpsc::Sender<(Box<dyn Stream>, Caller)>;

async fn accept(socket: TcpListener, tls: Option<Arc<Tls>>, timeout: Duration, ready: Ready) {
    let mut backoff = Duration::from_millis(10);
    loop {
        let (stream, addr) = match socket.accept().await {
            Ok(accepted) => accepted,
            Err(e) => {
                // Out of descriptors: back off instead of spinning on accept.
                warn!(error = %e, "HTTP accept failed; retrying in {backoff:?}");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(1));
                continue;
            }
        };
        backoff = Duration::from_millis(10);
        let _ = stream.set_nodelay(true);
        match &tls {
            None => {
                let caller = Caller {
                    addr,
                    identity: None,
                };
                if ready.send((Box::new(stream), caller)).await.is_err() {
                    return;
                }
            }
            Some(tls) => {
                let acceptor = TlsAcceptor::from(tls.config());
                tokio::spawn(handshake(acceptor, stream, addr, timeout, ready.clone()));
            }
        }
    }
}

async fn handshake(
    acceptor: TlsAcceptor,
    stream: TcpStream,
    addr: SocketAddr,
    timeout: Duration,
    ready: Ready,
) {
    let stream = match tokio::time::timeout(timeout, acceptor.accept(stream)).await {
        Ok(Ok(stream)) => stream,
        Ok(Err(e)) => {
            info!(peer = %addr, error = %e, "HTTP TLS handshake failed");
            return;
        }
        Err(_) => {
            info!(peer = %addr, ?timeout, "HTTP TLS handshake not finished in time; closing");
            return;
        }
    };
    let identity = stream
        .get_ref()
        .1
        .peer_certificates()
        .and_then(|certificates| certificates.first())
        .map(|certificate| Arc::new(crate::tls::identity(certificate)));
    let _ = ready
        .send((Box::new(stream), Caller { addr, identity }))
        .await;
}
