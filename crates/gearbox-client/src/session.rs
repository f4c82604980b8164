//! The client side of one connection: matching replies to requests and routing job events.
//!
//! One task per connection owns all of its state, so nothing here is locked. It keeps the FIFO
//! of requests that have a direct reply (PROTOCOL.md §2: the server answers SUBMIT_*, GET_STATUS,
//! GET_STATUS_UNIQUE, ECHO_REQ and OPTION_REQ strictly in order, ERROR standing in for any of
//! them) and the map from job handle to the listeners of foreground jobs (several with
//! coalescing). When the connection ends, every outstanding request and job is told so; a
//! request still queued and never written is reported as [`CallError::NotSent`], so the caller
//! knows that retrying it elsewhere cannot run it twice.
//!
//! This module does not choose servers, reconnect or retry (see `pool.rs`, `client.rs`).

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use gearbox_proto::{Packet, PacketType};
use tokio::sync::{mpsc, oneshot};

use crate::conn::{clean_handle, request, Link};
use crate::error::Error;
use crate::event::{parse_u32, JobEvent, JobStatus, Listener, UniqueStatus, Update};

/// Which direct reply a request expects, and where job events go for a submission.
pub(crate) enum Expect {
    /// SUBMIT_*: JOB_CREATED; a foreground submission registers its listener.
    Submit(Option<Listener>),
    /// GET_STATUS: STATUS_RES.
    Status,
    /// GET_STATUS_UNIQUE: STATUS_RES_UNIQUE.
    StatusUnique,
    /// ECHO_REQ: ECHO_RES.
    Echo,
    /// OPTION_REQ: OPTION_RES.
    Option,
}

impl Expect {
    fn reply_type(&self) -> PacketType {
        match self {
            Expect::Submit(_) => PacketType::JobCreated,
            Expect::Status => PacketType::StatusRes,
            Expect::StatusUnique => PacketType::StatusResUnique,
            Expect::Echo => PacketType::EchoRes,
            Expect::Option => PacketType::OptionRes,
        }
    }
}

/// A direct reply, decoded.
#[derive(Debug)]
pub(crate) enum Reply {
    /// JOB_CREATED: the handle.
    Created(Bytes),
    /// STATUS_RES.
    Status(JobStatus),
    /// STATUS_RES_UNIQUE.
    StatusUnique(UniqueStatus),
    /// ECHO_RES: the payload.
    Echo(Bytes),
    /// OPTION_RES.
    Option,
}

/// Why a call produced no reply.
#[derive(Debug)]
pub(crate) enum CallError {
    /// The connection ended before the request was written: nothing reached the server.
    NotSent,
    /// The request was sent and failed (ERROR, connection lost, protocol violation).
    Failed(Error),
}

struct Pending {
    expect: Expect,
    reply: Option<oneshot::Sender<Result<Reply, Error>>>,
}

struct Command {
    packet: Bytes,
    pending: Option<Pending>,
}

/// Options every new connection is set up with before any request.
#[derive(Debug, Clone, Default)]
pub(crate) struct Setup {
    pub(crate) client_id: Option<Bytes>,
    pub(crate) exceptions: bool,
}

/// A running connection; cheap to clone. The connection closes when every clone is dropped
/// and nothing is outstanding on it.
#[derive(Clone)]
pub(crate) struct Session {
    cmd: mpsc::UnboundedSender<Command>,
    alive: Arc<AtomicBool>,
    server: Arc<str>,
}

impl Session {
    /// Start the connection's task on an established link and queue the setup requests.
    pub(crate) fn start(link: Link, setup: &Setup) -> Session {
        let server: Arc<str> = link.outbox.server().into();
        let (cmd, rx) = mpsc::unbounded_channel();
        let alive = Arc::new(AtomicBool::new(true));
        let session = Session {
            cmd,
            alive: alive.clone(),
            server: server.clone(),
        };
        if setup.exceptions {
            // The reply is only logged: a server that refuses the option still runs jobs,
            // and exceptions then arrive as WORK_FAIL.
            session.queue(
                request(PacketType::OptionReq, &[], b"exceptions"),
                Some(Pending {
                    expect: Expect::Option,
                    reply: None,
                }),
            );
        }
        if let Some(id) = &setup.client_id {
            session.queue(request(PacketType::SetClientId, &[], id), None);
        }
        tokio::spawn(Driver::new(server, alive).run(link, rx));
        session
    }

    /// Whether the connection is still up.
    pub(crate) fn is_alive(&self) -> bool {
        self.alive.load(Ordering::Acquire) && !self.cmd.is_closed()
    }

    /// The server address.
    pub(crate) fn server(&self) -> &str {
        &self.server
    }

    fn queue(&self, packet: Bytes, pending: Option<Pending>) -> bool {
        self.cmd.send(Command { packet, pending }).is_ok()
    }

    /// Send a request without a direct reply (SET_CLIENT_ID).
    pub(crate) fn send(&self, packet: Bytes) -> Result<(), CallError> {
        if self.queue(packet, None) {
            Ok(())
        } else {
            Err(CallError::NotSent)
        }
    }

    /// Send a request and wait for its direct reply.
    pub(crate) async fn call(&self, packet: Bytes, expect: Expect) -> Result<Reply, CallError> {
        let (tx, rx) = oneshot::channel();
        let pending = Pending {
            expect,
            reply: Some(tx),
        };
        if !self.queue(packet, Some(pending)) {
            return Err(CallError::NotSent);
        }
        match rx.await {
            Ok(Ok(reply)) => Ok(reply),
            Ok(Err(e)) => Err(CallError::Failed(e)),
            // Dropped unanswered: the command was still queued when the connection ended.
            Err(_) => Err(CallError::NotSent),
        }
    }
}

struct Driver {
    server: Arc<str>,
    alive: Arc<AtomicBool>,
    fifo: VecDeque<Pending>,
    jobs: HashMap<Bytes, Vec<Listener>>,
}

impl Driver {
    fn new(server: Arc<str>, alive: Arc<AtomicBool>) -> Driver {
        Driver {
            server,
            alive,
            fifo: VecDeque::new(),
            jobs: HashMap::new(),
        }
    }

    async fn run(mut self, mut link: Link, mut commands: mpsc::UnboundedReceiver<Command>) {
        let end = loop {
            tokio::select! {
                cmd = commands.recv() => match cmd {
                    Some(Command { packet, pending }) => {
                        if let Some(p) = pending {
                            self.fifo.push_back(p);
                        }
                        if let Err(e) = link.outbox.send(packet) {
                            break e;
                        }
                    }
                    // Every handle is gone; stay only while someone still waits for an answer.
                    None if self.idle() => {
                        link.close(std::time::Duration::from_secs(1)).await;
                        self.alive.store(false, Ordering::Release);
                        return;
                    }
                    None => {
                        match link.inbound.recv().await {
                            Some(Ok(p)) => if let Err(e) = self.on_packet(p) { break e },
                            Some(Err(e)) => break e,
                            None => break self.lost(),
                        }
                    }
                },
                inbound = link.inbound.recv() => match inbound {
                    Some(Ok(p)) => if let Err(e) = self.on_packet(p) { break e },
                    Some(Err(e)) => break e,
                    None => break self.lost(),
                },
            }
        };
        self.alive.store(false, Ordering::Release);
        tracing::debug!(server = %self.server, "connection ended: {end}");
        commands.close();
        self.fail_all(&end);
    }

    /// Nobody waits for anything on this connection any more.
    fn idle(&mut self) -> bool {
        self.jobs.retain(|_, listeners| {
            listeners.retain(|l| !l.tx.is_closed());
            !listeners.is_empty()
        });
        self.jobs.is_empty()
            && self
                .fifo
                .iter()
                .all(|p| p.reply.as_ref().is_none_or(|r| r.is_closed()))
    }

    fn lost(&self) -> Error {
        Error::ConnectionLost {
            server: self.server.to_string(),
            handle: None,
        }
    }

    fn protocol(&self, detail: String) -> Error {
        tracing::warn!(server = %self.server, %detail, "protocol violation; closing the connection");
        Error::Protocol {
            server: self.server.to_string(),
            detail,
        }
    }

    /// Tell every outstanding request and job that the connection ended.
    fn fail_all(&mut self, end: &Error) {
        for p in self.fifo.drain(..) {
            if let Some(reply) = p.reply {
                let _ = reply.send(Err(end.clone()));
            }
        }
        for (handle, listeners) in self.jobs.drain() {
            let err = match end {
                Error::ConnectionLost { server, .. } => Error::ConnectionLost {
                    server: server.clone(),
                    handle: Some(handle.clone()),
                },
                other => other.clone(),
            };
            for l in listeners {
                let _ = l.tx.send((l.id, Update::Failed(err.clone())));
            }
        }
    }

    fn on_packet(&mut self, p: Packet) -> Result<(), Error> {
        let args = p
            .args()
            .map_err(|e| self.protocol(format!("malformed {}: {e}", p.kind.name())))?;
        match p.kind {
            PacketType::Error => {
                let code = String::from_utf8_lossy(args.get(0)).into_owned();
                let text = String::from_utf8_lossy(args.get(1)).into_owned();
                match self.fifo.pop_front() {
                    Some(Pending {
                        reply: Some(reply), ..
                    }) => {
                        let _ = reply.send(Err(Error::Server {
                            server: self.server.to_string(),
                            code,
                            text,
                        }));
                    }
                    Some(Pending { expect, .. }) => {
                        let what = expect.reply_type().name();
                        tracing::warn!(server = %self.server, %code, %text, "server refused a setup request (expected {what})");
                    }
                    None => {
                        tracing::warn!(server = %self.server, %code, %text, "unsolicited ERROR")
                    }
                }
            }
            PacketType::JobCreated
            | PacketType::StatusRes
            | PacketType::StatusResUnique
            | PacketType::EchoRes
            | PacketType::OptionRes => {
                let Some(pending) = self.fifo.pop_front() else {
                    return Err(self.protocol(format!("{} without a request", p.kind.name())));
                };
                if pending.expect.reply_type() != p.kind {
                    let due = pending.expect.reply_type().name();
                    // Put it back so that the failure below reaches its caller.
                    self.fifo.push_front(pending);
                    return Err(self.protocol(format!("{} where {due} was due", p.kind.name())));
                }
                let reply = match pending.expect {
                    Expect::Submit(listener) => {
                        let handle = Bytes::copy_from_slice(clean_handle(args.get(0)));
                        if let Some(l) = listener {
                            if l.announce {
                                let _ = l.tx.send((l.id, Update::Created(handle.clone())));
                            }
                            if l.follow {
                                self.jobs.entry(handle.clone()).or_default().push(l);
                            }
                        }
                        Reply::Created(handle)
                    }
                    Expect::Status => Reply::Status(JobStatus {
                        handle: p.share(args.get(0)),
                        known: parse_u32(args.get(1)) != 0,
                        running: parse_u32(args.get(2)) != 0,
                        numerator: parse_u32(args.get(3)),
                        denominator: parse_u32(args.get(4)),
                    }),
                    Expect::StatusUnique => Reply::StatusUnique(UniqueStatus {
                        unique: p.share(args.get(0)),
                        known: parse_u32(args.get(1)) != 0,
                        running: parse_u32(args.get(2)) != 0,
                        numerator: parse_u32(args.get(3)),
                        denominator: parse_u32(args.get(4)),
                        waiting_clients: parse_u32(args.get(5)),
                    }),
                    Expect::Echo => Reply::Echo(p.share(args.get(0))),
                    Expect::Option => Reply::Option,
                };
                match pending.reply {
                    Some(tx) => {
                        let _ = tx.send(Ok(reply));
                    }
                    None => tracing::debug!(server = %self.server, "setup reply {reply:?}"),
                }
            }
            PacketType::WorkStatus
            | PacketType::WorkData
            | PacketType::WorkWarning
            | PacketType::WorkComplete
            | PacketType::WorkFail
            | PacketType::WorkException => {
                let handle = clean_handle(args.get(0));
                let event = match p.kind {
                    PacketType::WorkStatus => JobEvent::Status {
                        numerator: parse_u32(args.get(1)),
                        denominator: parse_u32(args.get(2)),
                    },
                    PacketType::WorkData => JobEvent::Data(p.share(args.get(1))),
                    PacketType::WorkWarning => JobEvent::Warning(p.share(args.get(1))),
                    PacketType::WorkComplete => JobEvent::Complete(p.share(args.get(1))),
                    PacketType::WorkException => JobEvent::Exception(p.share(args.get(1))),
                    _ => JobEvent::Fail,
                };
                self.deliver(handle, event);
            }
            PacketType::Noop => {}
            other => {
                tracing::warn!(server = %self.server, "ignoring unexpected {}", other.name());
            }
        }
        Ok(())
    }

    fn deliver(&mut self, handle: &[u8], event: JobEvent) {
        let terminal = event.is_terminal();
        let Some(listeners) = self.jobs.get_mut(handle) else {
            tracing::debug!(
                server = %self.server,
                handle = %String::from_utf8_lossy(handle),
                "event for a job nobody waits for"
            );
            return;
        };
        listeners.retain(|l| l.tx.send((l.id, Update::Event(event.clone()))).is_ok());
        if terminal || listeners.is_empty() {
            self.jobs.remove(handle);
        }
    }
}
