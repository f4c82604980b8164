//! The worker's loop for one server: connect, register, grab, sleep, reconnect, drain.
//!
//! One task per server runs this loop for the worker's whole life. It owns the grab cycle of
//! PROTOCOL.md §7.3: a GRAB_JOB_UNIQ only while a concurrency permit is free, PRE_SLEEP after
//! NO_JOB, and the next grab only after a NOOP — a NOOP that arrives while a grab is
//! outstanding is ignored, so the loop can never spin. After a lost connection it reconnects
//! with backoff and registers every function and the client id again. When the worker drains
//! it stops grabbing, waits until the jobs it handed out are answered, and disconnects.
//! CAN_DO has no reply, so after registering on a new connection it sends an ECHO_REQ: the
//! server answers requests in order, so the ECHO_RES confirms the registration, and the server
//! is marked registered until the connection is lost. Running handlers is not its business
//! (`worker.rs`).

use std::collections::{BTreeSet, HashSet};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use gearbox_proto::{Packet, PacketType};
use tokio::sync::{mpsc, watch, OwnedSemaphorePermit, Semaphore};

use crate::backoff::Backoff;
use crate::conn::{self, clean_handle, request, Link};
use crate::error::Error;
use crate::job::{InFlight, InFlightGuard, Job};
use crate::tls::Tls;

/// A function the worker can run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Ability {
    pub(crate) name: Bytes,
    pub(crate) timeout: Option<Duration>,
}

/// What every server loop of one worker shares.
pub(crate) struct Shared {
    pub(crate) abilities: watch::Receiver<Vec<Ability>>,
    pub(crate) drain: watch::Receiver<bool>,
    pub(crate) permits: Arc<Semaphore>,
    pub(crate) client_id: Option<Bytes>,
    pub(crate) backoff: Backoff,
    pub(crate) connect_timeout: Duration,
    pub(crate) tls: Option<Tls>,
    /// Servers whose current connection has confirmed the registrations.
    pub(crate) registered: Arc<watch::Sender<BTreeSet<String>>>,
}

/// The ECHO_REQ payload that confirms a registration.
const REGISTERED_TOKEN: &[u8] = b"gearbox-worker-registered";

/// How long a draining worker waits for its last packets to be written.
const CLOSE_GRACE: Duration = Duration::from_secs(5);

/// Serve one server until the worker drains.
pub(crate) async fn serve(server: String, shared: Arc<Shared>, jobs: mpsc::UnboundedSender<Job>) {
    let mut drain = shared.drain.clone();
    let mut failures = 0u32;
    loop {
        if *drain.borrow_and_update() {
            return;
        }
        let connected = tokio::select! {
            r = conn::connect(&server, shared.connect_timeout, shared.tls.as_ref()) => r,
            _ = drained(&mut drain) => return,
        };
        match connected {
            Ok(link) => {
                tracing::debug!(%server, "worker connected");
                let end = Session::new(&shared, &jobs).run(link).await;
                shared
                    .registered
                    .send_if_modified(|set| set.remove(&server));
                match end {
                    End::Drained => return,
                    End::Lost(e) => {
                        tracing::warn!(%server, "worker connection lost: {e}; reconnecting");
                        failures = 1;
                    }
                }
            }
            Err(e) => {
                failures = failures.saturating_add(1);
                tracing::warn!(%server, failures, "{e}");
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(shared.backoff.delay(failures)) => {}
            _ = drained(&mut drain) => return,
        }
    }
}

/// Resolves once draining was requested (or the worker is gone).
async fn drained(drain: &mut watch::Receiver<bool>) {
    let _ = drain.wait_for(|d| *d).await;
}

enum End {
    Drained,
    Lost(Error),
}

enum State {
    /// Ready to grab as soon as a permit is free.
    Ready,
    /// GRAB_JOB_UNIQ sent; the permit waits for the job.
    Grabbing(OwnedSemaphorePermit),
    /// PRE_SLEEP sent; waiting for a NOOP.
    Sleeping,
}

struct Session<'a> {
    shared: &'a Shared,
    jobs: &'a mpsc::UnboundedSender<Job>,
    inflight: Arc<InFlight>,
    registered: HashSet<Bytes>,
    state: State,
}

impl<'a> Session<'a> {
    fn new(shared: &'a Shared, jobs: &'a mpsc::UnboundedSender<Job>) -> Session<'a> {
        Session {
            shared,
            jobs,
            inflight: Arc::new(InFlight::default()),
            registered: HashSet::new(),
            state: State::Ready,
        }
    }

    /// Bring the server in line with `abilities`: CANT_DO for what was dropped, CAN_DO (or
    /// CAN_DO_TIMEOUT) for what is new.
    fn register(&mut self, link: &Link, abilities: &[Ability]) -> Result<(), Error> {
        let dropped: Vec<Bytes> = self
            .registered
            .iter()
            .filter(|name| !abilities.iter().any(|a| a.name == **name))
            .cloned()
            .collect();
        for name in dropped {
            self.registered.remove(&name);
            link.outbox.send(request(PacketType::CantDo, &[], &name))?;
        }
        for a in abilities {
            if !self.registered.insert(a.name.clone()) {
                continue;
            }
            let packet = match a.timeout {
                Some(t) => {
                    let ms = t.as_millis().max(1).to_string();
                    request(PacketType::CanDoTimeout, &[&a.name], ms.as_bytes())
                }
                None => request(PacketType::CanDo, &[], &a.name),
            };
            link.outbox.send(packet)?;
        }
        Ok(())
    }

    async fn run(mut self, mut link: Link) -> End {
        let mut drain = self.shared.drain.clone();
        let mut abilities = self.shared.abilities.clone();
        let mut draining = *drain.borrow_and_update();
        let mut abilities_open = true;
        if let Some(id) = &self.shared.client_id {
            if let Err(e) = link.outbox.send(request(PacketType::SetClientId, &[], id)) {
                return End::Lost(e);
            }
        }
        let current = abilities.borrow_and_update().clone();
        if let Err(e) = self.register(&link, &current) {
            return End::Lost(e);
        }
        if let Err(e) = link
            .outbox
            .send(request(PacketType::EchoReq, &[], REGISTERED_TOKEN))
        {
            return End::Lost(e);
        }
        loop {
            if draining && !matches!(self.state, State::Grabbing(_)) && self.inflight.count() == 0 {
                link.close(CLOSE_GRACE).await;
                return End::Drained;
            }
            let may_grab = matches!(self.state, State::Ready) && !draining;
            tokio::select! {
                inbound = link.inbound.recv() => match inbound {
                    Some(Ok(p)) => {
                        if let Err(e) = self.on_packet(&link, p) {
                            return End::Lost(e);
                        }
                    }
                    Some(Err(e)) => return End::Lost(e),
                    None => return End::Lost(Error::ConnectionLost {
                        server: link.outbox.server().to_string(),
                        handle: None,
                    }),
                },
                permit = self.shared.permits.clone().acquire_owned(), if may_grab => {
                    let Ok(permit) = permit else {
                        draining = true;
                        continue;
                    };
                    if let Err(e) = link.outbox.send(request(PacketType::GrabJobUniq, &[], &[])) {
                        return End::Lost(e);
                    }
                    self.state = State::Grabbing(permit);
                }
                changed = drain.changed(), if !draining => {
                    // An error means the worker itself is gone: drain as well.
                    draining = changed.is_err() || *drain.borrow_and_update();
                }
                changed = abilities.changed(), if abilities_open => {
                    if changed.is_err() {
                        abilities_open = false;
                    } else {
                        let current = abilities.borrow_and_update().clone();
                        if let Err(e) = self.register(&link, &current) {
                            return End::Lost(e);
                        }
                    }
                }
                _ = self.inflight.changed.notified(), if draining => {}
            }
        }
    }

    fn on_packet(&mut self, link: &Link, p: Packet) -> Result<(), Error> {
        let server = link.outbox.server();
        match p.kind {
            PacketType::Noop => {
                if matches!(self.state, State::Sleeping) {
                    self.state = State::Ready;
                }
            }
            PacketType::NoJob => {
                if matches!(self.state, State::Grabbing(_)) {
                    // Releases the permit for the other servers while this one sleeps.
                    self.state = State::Sleeping;
                    link.outbox.send(request(PacketType::PreSleep, &[], &[]))?;
                } else {
                    tracing::warn!(server, "NO_JOB without a grab; ignored");
                }
            }
            PacketType::JobAssign | PacketType::JobAssignUniq | PacketType::JobAssignAll => {
                let args = p.args().map_err(|e| Error::Protocol {
                    server: server.to_string(),
                    detail: format!("malformed {}: {e}", p.kind.name()),
                })?;
                let (unique, workload) = match p.kind {
                    PacketType::JobAssign => (Bytes::new(), p.share(args.get(2))),
                    PacketType::JobAssignUniq => (p.share(args.get(2)), p.share(args.get(3))),
                    _ => (p.share(args.get(2)), p.share(args.get(4))),
                };
                let permit = match std::mem::replace(&mut self.state, State::Ready) {
                    State::Grabbing(permit) => Some(permit),
                    other => {
                        tracing::warn!(server, "job assigned without a grab; failing it");
                        self.state = other;
                        None
                    }
                };
                let granted = permit.is_some();
                let job = Job::new(
                    Bytes::copy_from_slice(clean_handle(args.get(0))),
                    p.share(args.get(1)),
                    unique,
                    workload,
                    link.outbox.clone(),
                    permit,
                    InFlightGuard::new(&self.inflight),
                );
                if !granted {
                    drop(job);
                } else if let Err(mpsc::error::SendError(job)) = self.jobs.send(job) {
                    // Nobody takes jobs any more: the drop answers WORK_FAIL.
                    drop(job);
                }
            }
            PacketType::EchoRes if p.body.as_ref() == REGISTERED_TOKEN => {
                let server = server.to_string();
                self.shared
                    .registered
                    .send_if_modified(|set| set.insert(server));
            }
            PacketType::Error => {
                let args = p.args().ok();
                let field = |i| {
                    args.as_ref()
                        .map(|a| String::from_utf8_lossy(a.get(i)).into_owned())
                        .unwrap_or_default()
                };
                tracing::warn!(server, code = %field(0), text = %field(1), "server ERROR");
            }
            other => tracing::warn!(server, "ignoring unexpected {}", other.name()),
        }
        Ok(())
    }
}
