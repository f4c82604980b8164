//! The library against a scripted fake server: each test plays the server's side of a
//! conversation packet by packet (with `gearbox_proto`), or line by line for the admin calls,
//! and breaks it on purpose — dropped connections, silence, garbage, ERROR packets, malformed
//! answers — to check that the client and worker report typed errors, reconnect, re-register
//! and never panic.
//!
//! Everything listens on 127.0.0.1 port 0; every wait is bounded by [`WAIT`].

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::BytesMut;
use gearbox_client::{
    Backoff, Client, DeadSelector, Error, FailureKind, JobEvent, JobRequest, Priority, ResultState,
    Worker,
};
use gearbox_proto::{Codec, Frame, Packet, PacketType};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, Notify};

/// Upper bound of any single wait in these tests.
const WAIT: Duration = Duration::from_secs(5);

struct Fake {
    listener: TcpListener,
}

impl Fake {
    async fn start() -> Fake {
        Fake {
            listener: TcpListener::bind("127.0.0.1:0").await.unwrap(),
        }
    }

    fn addr(&self) -> String {
        self.listener.local_addr().unwrap().to_string()
    }

    async fn accept(&self) -> Peer {
        let (stream, _) = tokio::time::timeout(WAIT, self.listener.accept())
            .await
            .expect("no connection within the wait")
            .unwrap();
        Peer {
            stream,
            buf: BytesMut::new(),
        }
    }

    /// True if a connection arrives within `within`.
    async fn connects_within(&self, within: Duration) -> bool {
        tokio::time::timeout(within, self.listener.accept())
            .await
            .is_ok()
    }
}

struct Peer {
    stream: TcpStream,
    buf: BytesMut,
}

impl Peer {
    /// The next packet, or `None` at EOF; panics after [`WAIT`].
    async fn next(&mut self) -> Option<Packet> {
        let codec = Codec::default();
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            match codec
                .decode(&mut self.buf)
                .expect("client sent a malformed frame")
            {
                Some(Frame::Packet(p)) => return Some(p),
                Some(Frame::Admin(l)) => panic!("client sent a text line {l:?}"),
                None => {}
            }
            let n = tokio::time::timeout_at(deadline, self.stream.read_buf(&mut self.buf))
                .await
                .expect("client sent nothing within the wait")
                .unwrap_or(0);
            if n == 0 {
                return None;
            }
        }
    }

    /// The next text line (an admin command), without its line end; panics on a packet or EOF.
    async fn line(&mut self) -> String {
        let codec = Codec::default();
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            match codec
                .decode(&mut self.buf)
                .expect("client sent a malformed frame")
            {
                Some(Frame::Admin(l)) => return String::from_utf8(l.to_vec()).unwrap(),
                Some(Frame::Packet(p)) => panic!("client sent a packet {p:?}, not a line"),
                None => {}
            }
            let n = tokio::time::timeout_at(deadline, self.stream.read_buf(&mut self.buf))
                .await
                .expect("client sent nothing within the wait")
                .unwrap_or(0);
            assert!(n > 0, "EOF, expected a line");
        }
    }

    /// The next packet, which must be of `kind`; its arguments as owned byte strings.
    async fn expect(&mut self, kind: PacketType) -> Vec<Vec<u8>> {
        let p = self
            .next()
            .await
            .unwrap_or_else(|| panic!("EOF, expected {kind:?}"));
        assert_eq!(p.kind, kind, "unexpected packet {p:?}");
        let args = p.args().unwrap();
        (0..args.len()).map(|i| args.get(i).to_vec()).collect()
    }

    /// Nothing arrives for `quiet` (the connection may stay open).
    async fn silent_for(&mut self, quiet: Duration) {
        if let Ok(p) = tokio::time::timeout(quiet, self.next()).await {
            panic!("expected silence, got {p:?}");
        }
    }

    async fn send(&mut self, kind: PacketType, args: &[&[u8]]) {
        let bytes = Packet::res(kind, args).to_bytes();
        self.stream.write_all(&bytes).await.unwrap();
    }

    async fn send_raw(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).await.unwrap();
    }
}

fn client_for(addrs: &[&str]) -> Client {
    let c = Client::new();
    for a in addrs {
        c.add_server(a).unwrap();
    }
    c.set_timeout(Some(WAIT));
    c.set_backoff(Backoff::new(
        Duration::from_millis(20),
        Duration::from_millis(100),
    ));
    c
}

/// An address where nothing listens.
async fn dead_addr() -> String {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    l.local_addr().unwrap().to_string()
}

#[tokio::test]
async fn connection_dropped_mid_job_is_a_typed_error_and_not_resubmitted() {
    let fake = Fake::start().await;
    let client = client_for(&[&fake.addr()]);
    let submit = tokio::spawn({
        let client = client.clone();
        async move { client.submit(JobRequest::new("f", "w")).await }
    });
    let mut peer = fake.accept().await;
    assert_eq!(
        peer.expect(PacketType::SubmitJob).await,
        vec![b"f".to_vec(), vec![], b"w".to_vec()]
    );
    peer.send(PacketType::JobCreated, &[b"H:1"]).await;
    peer.send(PacketType::WorkStatus, &[b"H:1", b"1", b"4"])
        .await;
    let mut job = submit.await.unwrap().unwrap();
    assert_eq!(&job.handle()[..], b"H:1");
    assert_eq!(
        job.next_event().await.unwrap(),
        Some(JobEvent::Status {
            numerator: 1,
            denominator: 4
        })
    );
    drop(peer);
    match job.next_event().await {
        Err(Error::ConnectionLost {
            handle: Some(h), ..
        }) => assert_eq!(&h[..], b"H:1"),
        other => panic!("expected ConnectionLost with the handle, got {other:?}"),
    }
    assert!(
        !fake.connects_within(Duration::from_millis(300)).await,
        "a foreground job without unique was resubmitted"
    );
}

#[tokio::test]
async fn submission_lost_after_send_fails_over_only_with_a_unique() {
    let (a, b) = (Fake::start().await, Fake::start().await);
    // Order the pool so that the unique routes to server `a`.
    let unique = "job-17";
    let first = gearbox_client::server_index(unique.as_bytes(), b"", 2).unwrap();
    let addrs = if first == 0 {
        [a.addr(), b.addr()]
    } else {
        [b.addr(), a.addr()]
    };
    let client = client_for(&[&addrs[0], &addrs[1]]);

    // With a unique: a takes the submission and dies; b gets the same submission.
    let submit = tokio::spawn({
        let client = client.clone();
        async move {
            client
                .submit_background(JobRequest::new("f", "w").unique(unique))
                .await
        }
    });
    let mut pa = a.accept().await;
    pa.expect(PacketType::SubmitJobBg).await;
    drop(pa);
    let mut pb = b.accept().await;
    assert_eq!(
        pb.expect(PacketType::SubmitJobBg).await,
        vec![b"f".to_vec(), unique.as_bytes().to_vec(), b"w".to_vec()]
    );
    pb.send(PacketType::JobCreated, &[b"H:b:1"]).await;
    assert_eq!(&submit.await.unwrap().unwrap()[..], b"H:b:1");

    // Without a unique: the job may exist on the dead server, so the caller is told.
    let client = client_for(&[&a.addr()]);
    let submit = tokio::spawn({
        let client = client.clone();
        async move { client.submit_background(JobRequest::new("f", "w")).await }
    });
    let mut pa = a.accept().await;
    pa.expect(PacketType::SubmitJobBg).await;
    drop(pa);
    match submit.await.unwrap() {
        Err(Error::ConnectionLost { handle: None, .. }) => {}
        other => panic!("expected ConnectionLost, got {other:?}"),
    }
}

#[tokio::test]
async fn silent_server_gives_timeout_not_connection_lost() {
    let fake = Fake::start().await;
    let client = client_for(&[&fake.addr()]);
    client.set_timeout(Some(Duration::from_millis(300)));
    let server = tokio::spawn(async move {
        // Accept and read, never answer: a half-open or stuck server.
        let mut peer = fake.accept().await;
        while peer.next().await.is_some() {}
    });
    let started = Instant::now();
    assert_eq!(
        client.submit(JobRequest::new("f", "w")).await.unwrap_err(),
        Error::Timeout
    );
    assert_eq!(client.echo("x").await.unwrap_err(), Error::Timeout);
    // A per-call deadline overrides the client's.
    let r = client
        .run(JobRequest::new("f", "w").timeout(Duration::from_millis(100)))
        .await;
    assert_eq!(r.unwrap_err(), Error::Timeout);
    // So does a view with its own deadline, for any call.
    let quick = Instant::now();
    let echo = client
        .with_timeout(Some(Duration::from_millis(50)))
        .echo("y")
        .await;
    assert_eq!(echo.unwrap_err(), Error::Timeout);
    assert!(quick.elapsed() < Duration::from_millis(250));
    assert!(started.elapsed() < Duration::from_secs(3));
    server.abort();
}

#[tokio::test]
async fn slow_job_hits_the_deadline_after_job_created() {
    let fake = Fake::start().await;
    let client = client_for(&[&fake.addr()]);
    let run = tokio::spawn({
        let client = client.clone();
        async move {
            client
                .run(JobRequest::new("f", "w").timeout(Duration::from_millis(400)))
                .await
        }
    });
    let mut peer = fake.accept().await;
    peer.expect(PacketType::SubmitJob).await;
    peer.send(PacketType::JobCreated, &[b"H:1"]).await;
    assert_eq!(run.await.unwrap().unwrap_err(), Error::Timeout);
}

#[tokio::test]
async fn garbage_from_the_server_is_a_protocol_error() {
    let cases: [&[u8]; 4] = [
        b"HTTP/1.1 400 Bad Request\r\n\r\n",
        b"\0XYZ\0\0\0\x08\0\0\0\0",
        // Valid magic, unknown type 99.
        b"\0RES\0\0\0\x63\0\0\0\0",
        // STATUS_RES where JOB_CREATED is due.
        b"\0RES\0\0\0\x14\0\0\0\x09h\x000\x000\x000\x000",
    ];
    for garbage in cases {
        let fake = Fake::start().await;
        let client = client_for(&[&fake.addr()]);
        let submit = tokio::spawn({
            let client = client.clone();
            async move { client.submit_background(JobRequest::new("f", "w")).await }
        });
        let mut peer = fake.accept().await;
        peer.expect(PacketType::SubmitJobBg).await;
        peer.send_raw(garbage).await;
        match submit.await.unwrap() {
            Err(Error::Protocol { .. }) => {}
            other => panic!("garbage {garbage:?}: expected Protocol, got {other:?}"),
        }
    }
}

#[tokio::test]
async fn truncated_packet_then_close_is_connection_lost() {
    let fake = Fake::start().await;
    let client = client_for(&[&fake.addr()]);
    let echo = tokio::spawn({
        let client = client.clone();
        async move { client.echo("x").await }
    });
    let mut peer = fake.accept().await;
    peer.expect(PacketType::EchoReq).await;
    peer.send_raw(b"\0RES\0\0\0\x11\0\0\0\x64abc").await;
    drop(peer);
    assert!(echo.await.unwrap().unwrap_err().is_connection_lost());
}

#[tokio::test]
async fn error_packet_is_typed_and_the_connection_survives() {
    let fake = Fake::start().await;
    let client = client_for(&[&fake.addr()]);
    let calls = tokio::spawn({
        let client = client.clone();
        async move {
            let first = client.submit_background(JobRequest::new("f", "w")).await;
            let second = client.echo("still here").await;
            (first, second)
        }
    });
    let mut peer = fake.accept().await;
    peer.expect(PacketType::SubmitJobBg).await;
    peer.send(PacketType::Error, &[b"QUEUE_ERROR", b"Job queue is full"])
        .await;
    // Stray packets a client must shrug off: NOOP, work for an unknown handle, a worker-only
    // reply, an unsolicited-looking ERROR would be matched, so none of that here.
    peer.send(PacketType::Noop, &[]).await;
    peer.send(PacketType::WorkComplete, &[b"H:unknown", b"x"])
        .await;
    peer.send(PacketType::NoJob, &[]).await;
    let echo = peer.expect(PacketType::EchoReq).await;
    peer.send(PacketType::EchoRes, &[&echo[0]]).await;
    let (first, second) = calls.await.unwrap();
    match first {
        Err(Error::Server { code, text, .. }) => {
            assert_eq!(code, "QUEUE_ERROR");
            assert_eq!(text, "Job queue is full");
        }
        other => panic!("expected Server error, got {other:?}"),
    }
    assert_eq!(&second.unwrap()[..], b"still here");
}

#[tokio::test]
async fn unreachable_servers_fail_over_then_report_no_server() {
    let fake = Fake::start().await;
    let dead = dead_addr().await;
    let client = client_for(&[&dead, &fake.addr()]);
    let calls = tokio::spawn({
        let client = client.clone();
        async move {
            let mut out = Vec::new();
            for _ in 0..2 {
                out.push(client.submit_background(JobRequest::new("f", "w")).await);
            }
            out
        }
    });
    let mut peer = fake.accept().await;
    for i in 0..2 {
        peer.expect(PacketType::SubmitJobBg).await;
        peer.send(PacketType::JobCreated, &[format!("H:{i}").as_bytes()])
            .await;
    }
    for r in calls.await.unwrap() {
        r.unwrap();
    }

    let client = client_for(&[&dead_addr().await, &dead_addr().await]);
    match client.echo("x").await {
        Err(Error::NoServerReachable { .. }) => {}
        other => panic!("expected NoServerReachable, got {other:?}"),
    }
    assert_eq!(Client::new().echo("x").await.unwrap_err(), Error::NoServers);
}

#[tokio::test]
async fn options_and_client_id_are_sent_again_after_reconnect() {
    let fake = Fake::start().await;
    let client = client_for(&[&fake.addr()]);
    client.set_exceptions(true);
    client.set_client_id("cli-1");
    for round in 0..2 {
        let echo = tokio::spawn({
            let client = client.clone();
            async move { client.echo("ping").await }
        });
        let mut peer = fake.accept().await;
        assert_eq!(
            peer.expect(PacketType::OptionReq).await,
            vec![b"exceptions".to_vec()],
            "round {round}"
        );
        peer.send(PacketType::OptionRes, &[b"exceptions"]).await;
        assert_eq!(
            peer.expect(PacketType::SetClientId).await,
            vec![b"cli-1".to_vec()]
        );
        let data = peer.expect(PacketType::EchoReq).await;
        peer.send(PacketType::EchoRes, &[&data[0]]).await;
        assert_eq!(&echo.await.unwrap().unwrap()[..], b"ping");
        drop(peer);
        // Give the client a moment to notice the close before the next round.
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn refused_exceptions_option_does_not_break_the_connection() {
    let fake = Fake::start().await;
    let client = client_for(&[&fake.addr()]);
    client.set_exceptions(true);
    let echo = tokio::spawn({
        let client = client.clone();
        async move { client.echo("ping").await }
    });
    let mut peer = fake.accept().await;
    peer.expect(PacketType::OptionReq).await;
    peer.send(PacketType::Error, &[b"UNKNOWN_OPTION", b"nope"])
        .await;
    let data = peer.expect(PacketType::EchoReq).await;
    peer.send(PacketType::EchoRes, &[&data[0]]).await;
    assert_eq!(&echo.await.unwrap().unwrap()[..], b"ping");
}

fn worker_for(addr: &str) -> Worker {
    let w = Worker::new();
    w.add_server(addr).unwrap();
    w.set_backoff(Backoff::new(
        Duration::from_millis(20),
        Duration::from_millis(100),
    ));
    w
}

/// CAN_DO has no reply: the worker follows its registrations with an ECHO_REQ and counts
/// itself registered on a server only once that is answered, and no longer once the
/// connection is lost.
#[tokio::test]
async fn wait_registered_resolves_on_the_echo_after_the_registrations() {
    let fake = Fake::start().await;
    let worker = worker_for(&fake.addr());
    worker.add_function("f", None);
    let waiting = tokio::spawn({
        let worker = worker.clone();
        async move { worker.wait_registered().await }
    });
    let mut peer = fake.accept().await;
    assert_eq!(peer.expect(PacketType::CanDo).await, vec![b"f".to_vec()]);
    let token = peer.expect(PacketType::EchoReq).await;
    peer.expect(PacketType::GrabJobUniq).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(
        !waiting.is_finished(),
        "registered before the server confirmed"
    );
    assert!(worker.registered_servers().is_empty());
    peer.send(PacketType::EchoRes, &[&token[0]]).await;
    tokio::time::timeout(WAIT, waiting)
        .await
        .expect("wait_registered resolves once the echo is answered")
        .unwrap()
        .unwrap();
    assert_eq!(worker.registered_servers(), vec![fake.addr()]);
    // An echo with another payload confirms nothing on the next connection.
    drop(peer);
    let mut peer = fake.accept().await;
    peer.expect(PacketType::CanDo).await;
    peer.expect(PacketType::EchoReq).await;
    assert!(
        worker.registered_servers().is_empty(),
        "lost with the connection"
    );
    peer.send(PacketType::EchoRes, &[b"something else"]).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(worker.registered_servers().is_empty());
    worker.drain();
}

/// A function removed while connected is withdrawn with CANT_DO; one added is announced.
#[tokio::test]
async fn functions_removed_while_connected_get_cant_do() {
    let fake = Fake::start().await;
    let worker = worker_for(&fake.addr());
    worker.add_function("f", None);
    worker.add_function("g", None);
    let waiting = tokio::spawn({
        let worker = worker.clone();
        async move { worker.wait_registered().await }
    });
    let mut peer = fake.accept().await;
    let mut announced = vec![
        peer.expect(PacketType::CanDo).await,
        peer.expect(PacketType::CanDo).await,
    ];
    announced.sort();
    assert_eq!(announced, [vec![b"f".to_vec()], vec![b"g".to_vec()]]);
    let token = peer.expect(PacketType::EchoReq).await;
    peer.expect(PacketType::GrabJobUniq).await;
    peer.send(PacketType::EchoRes, &[&token[0]]).await;
    tokio::time::timeout(WAIT, waiting)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    worker.remove_function(b"g");
    assert_eq!(peer.expect(PacketType::CantDo).await, vec![b"g".to_vec()]);
    worker.add_function("h", None);
    assert_eq!(peer.expect(PacketType::CanDo).await, vec![b"h".to_vec()]);
    worker.drain();
}

#[tokio::test]
async fn worker_survives_server_restart_while_holding_a_job() {
    let fake = Fake::start().await;
    let worker = worker_for(&fake.addr());
    worker.set_client_id("w-1");
    let release = Arc::new(Notify::new());
    let (done_tx, mut done_rx) = mpsc::unbounded_channel();
    worker.register("f", {
        let release = release.clone();
        move |job| {
            let release = release.clone();
            let done_tx = done_tx.clone();
            async move {
                release.notified().await;
                let _ = done_tx.send(job.complete("late").await);
            }
        }
    });
    let run = tokio::spawn({
        let worker = worker.clone();
        async move { worker.run().await }
    });

    let mut peer = fake.accept().await;
    assert_eq!(
        peer.expect(PacketType::SetClientId).await,
        vec![b"w-1".to_vec()]
    );
    assert_eq!(peer.expect(PacketType::CanDo).await, vec![b"f".to_vec()]);
    peer.expect(PacketType::EchoReq).await;
    peer.expect(PacketType::GrabJobUniq).await;
    peer.send(
        PacketType::JobAssignUniq,
        &[b"H:1", b"f", b"u-1", b"payload"],
    )
    .await;
    // The server "restarts" while the job runs.
    drop(peer);

    let mut peer = fake.accept().await;
    assert_eq!(
        peer.expect(PacketType::SetClientId).await,
        vec![b"w-1".to_vec()]
    );
    assert_eq!(peer.expect(PacketType::CanDo).await, vec![b"f".to_vec()]);
    peer.expect(PacketType::EchoReq).await;
    // The only permit is held by the running job: no grab until it finishes.
    peer.silent_for(Duration::from_millis(200)).await;
    release.notify_one();
    let answer = tokio::time::timeout(WAIT, done_rx.recv())
        .await
        .unwrap()
        .unwrap();
    assert!(
        answer.unwrap_err().is_connection_lost(),
        "the answer for a job of the dead connection must fail"
    );
    // The permit is back: grab, sleep on NO_JOB, grab again only after NOOP.
    peer.expect(PacketType::GrabJobUniq).await;
    peer.send(PacketType::NoJob, &[]).await;
    peer.expect(PacketType::PreSleep).await;
    peer.silent_for(Duration::from_millis(300)).await;
    peer.send(PacketType::Noop, &[]).await;
    peer.expect(PacketType::GrabJobUniq).await;
    // A stale NOOP while the grab is outstanding is not an answer to it.
    peer.send(PacketType::Noop, &[]).await;
    peer.silent_for(Duration::from_millis(200)).await;
    peer.send(PacketType::NoJob, &[]).await;
    peer.expect(PacketType::PreSleep).await;
    peer.silent_for(Duration::from_millis(200)).await;

    worker.drain();
    assert!(peer.next().await.is_none(), "a drained worker disconnects");
    tokio::time::timeout(WAIT, run)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
}

#[tokio::test]
async fn worker_fails_dropped_jobs_and_handles_errors_and_garbage() {
    let fake = Fake::start().await;
    let worker = worker_for(&fake.addr());
    worker.register_with_timeout("f", Duration::from_millis(1500), |job| async move {
        if job.workload().as_ref() == b"drop" {
            return; // unanswered: the library must send WORK_FAIL
        }
        job.data("d").await.unwrap();
        job.status(1, 2).await.unwrap();
        job.warning("w").await.unwrap();
        job.exception("boom").await.unwrap();
    });
    let run = tokio::spawn({
        let worker = worker.clone();
        async move { worker.run().await }
    });
    let mut peer = fake.accept().await;
    assert_eq!(
        peer.expect(PacketType::CanDoTimeout).await,
        vec![b"f".to_vec(), b"1500".to_vec()]
    );
    peer.expect(PacketType::EchoReq).await;
    peer.expect(PacketType::GrabJobUniq).await;
    peer.send(PacketType::JobAssignUniq, &[b"H:1", b"f", b"", b"drop"])
        .await;
    assert_eq!(
        peer.expect(PacketType::WorkFail).await,
        vec![b"H:1".to_vec()]
    );
    peer.expect(PacketType::GrabJobUniq).await;
    // JOB_ASSIGN_ALL (reply to GRAB_JOB_ALL) is understood too.
    peer.send(PacketType::JobAssignAll, &[b"H:2", b"f", b"u", b"", b"go"])
        .await;
    assert_eq!(
        peer.expect(PacketType::WorkData).await,
        vec![b"H:2".to_vec(), b"d".to_vec()]
    );
    assert_eq!(
        peer.expect(PacketType::WorkStatus).await,
        vec![b"H:2".to_vec(), b"1".to_vec(), b"2".to_vec()]
    );
    assert_eq!(
        peer.expect(PacketType::WorkWarning).await,
        vec![b"H:2".to_vec(), b"w".to_vec()]
    );
    assert_eq!(
        peer.expect(PacketType::WorkException).await,
        vec![b"H:2".to_vec(), b"boom".to_vec()]
    );
    peer.expect(PacketType::GrabJobUniq).await;
    // An ERROR (e.g. JOB_NOT_FOUND for a late answer) is logged, not taken as the grab reply.
    peer.send(PacketType::Error, &[b"JOB_NOT_FOUND", b"gone"])
        .await;
    peer.silent_for(Duration::from_millis(200)).await;
    // Garbage ends the connection; the worker reconnects and registers again.
    peer.send_raw(b"garbage\n").await;
    assert!(peer.next().await.is_none());
    let mut peer = fake.accept().await;
    peer.expect(PacketType::CanDoTimeout).await;
    peer.expect(PacketType::EchoReq).await;
    peer.expect(PacketType::GrabJobUniq).await;
    worker.drain();
    peer.send(PacketType::NoJob, &[]).await;
    // Draining: no PRE_SLEEP wait, just a clean close (a PRE_SLEEP may precede it).
    loop {
        match peer.next().await {
            None => break,
            Some(p) => assert_eq!(p.kind, PacketType::PreSleep, "unexpected {p:?}"),
        }
    }
    tokio::time::timeout(WAIT, run)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
}

#[tokio::test]
async fn worker_without_servers_or_functions_is_an_error() {
    assert_eq!(
        Worker::new().next_job().await.unwrap_err(),
        Error::NoServers
    );
    let w = worker_for("127.0.0.1:1");
    assert!(matches!(w.run().await, Err(Error::InvalidArgument(_))));
}

#[tokio::test]
async fn schedule_sends_five_cron_fields_and_returns_the_handle() {
    let fake = Fake::start().await;
    let client = client_for(&[&fake.addr()]);
    let calls = tokio::spawn({
        let client = client.clone();
        async move {
            let first = client
                .schedule("*/5 * * * 1-5", "report", "r1", "w\0x")
                .await;
            let second = client.schedule("@daily", "report", "", "").await;
            let third = client.schedule("61 * * * *", "report", "r1", "").await;
            (first, second, third)
        }
    });
    let mut peer = fake.accept().await;
    assert_eq!(
        peer.expect(PacketType::SubmitJobSched).await,
        [
            &b"report"[..],
            b"r1",
            b"*/5",
            b"*",
            b"*",
            b"*",
            b"1-5",
            b"w\0x"
        ]
    );
    peer.send(PacketType::JobCreated, &[b"H:s:1"]).await;
    assert_eq!(
        peer.expect(PacketType::SubmitJobSched).await,
        [&b"report"[..], b"", b"0", b"0", b"*", b"*", b"*", b""]
    );
    peer.send(PacketType::JobCreated, &[b"H:s:2"]).await;
    peer.expect(PacketType::SubmitJobSched).await;
    peer.send(
        PacketType::Error,
        &[b"INVALID_SCHEDULE", b"minute 61 out of range 0-59"],
    )
    .await;
    let (first, second, third) = calls.await.unwrap();
    assert_eq!(&first.unwrap()[..], b"H:s:1");
    assert_eq!(&second.unwrap()[..], b"H:s:2");
    match third {
        Err(Error::Server { code, text, .. }) => {
            assert_eq!(code, "INVALID_SCHEDULE");
            assert!(text.contains("61"), "{text}");
        }
        other => panic!("expected the server's INVALID_SCHEDULE, got {other:?}"),
    }
    // Not five fields, or a unique with no room for the firing time: nothing is sent.
    match client.schedule("* * * *", "report", "r1", "").await {
        Err(Error::CronFields { fields: 4, .. }) => {}
        other => panic!("expected CronFields, got {other:?}"),
    }
    assert!(matches!(
        client
            .schedule("* * * * *", "report", "u".repeat(54), "")
            .await,
        Err(Error::InvalidArgument(_))
    ));
    peer.silent_for(Duration::from_millis(100)).await;
}

/// A schedule is replaced, not doubled, by the same function and unique: one sent with a
/// unique id fails over to the next server after a lost connection, one without does not.
#[tokio::test]
async fn schedule_with_a_unique_fails_over_like_a_job() {
    let (a, b) = (Fake::start().await, Fake::start().await);
    let unique = "nightly";
    let first = gearbox_client::server_index(unique.as_bytes(), b"", 2).unwrap();
    let addrs = if first == 0 {
        [a.addr(), b.addr()]
    } else {
        [b.addr(), a.addr()]
    };
    let client = client_for(&[&addrs[0], &addrs[1]]);
    let call = tokio::spawn({
        let client = client.clone();
        async move { client.schedule("0 3 * * *", "backup", unique, "").await }
    });
    let mut pa = a.accept().await;
    pa.expect(PacketType::SubmitJobSched).await;
    drop(pa);
    let mut pb = b.accept().await;
    assert_eq!(pb.expect(PacketType::SubmitJobSched).await[1], b"nightly");
    pb.send(PacketType::JobCreated, &[b"H:b:9"]).await;
    assert_eq!(&call.await.unwrap().unwrap()[..], b"H:b:9");

    let client = client_for(&[&a.addr()]);
    let call = tokio::spawn({
        let client = client.clone();
        async move { client.schedule("0 3 * * *", "backup", "", "").await }
    });
    let mut pa = a.accept().await;
    pa.expect(PacketType::SubmitJobSched).await;
    drop(pa);
    assert!(call.await.unwrap().unwrap_err().is_connection_lost());
}

/// Play one admin exchange: the command line the client must send, then `answer` (raw).
async fn admin_once(fake: &Fake, command: &str, answer: &[u8]) {
    let mut peer = fake.accept().await;
    assert_eq!(peer.line().await, command);
    peer.send_raw(answer).await;
}

#[tokio::test]
async fn kept_results_are_decoded_and_asked_of_each_server_in_turn() {
    let (a, b) = (Fake::start().await, Fake::start().await);
    let client = client_for(&[&a.addr(), &b.addr()]);
    let call = tokio::spawn({
        let client = client.clone();
        async move { client.kept_result(b"H:b:7").await }
    });
    // The first server does not know the handle; the second kept its result.
    admin_once(&a, "result H:b:7", b"OK unknown 0\r\n").await;
    admin_once(&b, "result H:b:7", b"OK complete 4 aAB5AQ==\r\n").await;
    let kept = call.await.unwrap().unwrap();
    assert_eq!(kept.state, ResultState::Complete);
    assert_eq!((kept.size, &kept.data[..]), (4, &b"h\0y\x01"[..]));
    assert!(!kept.is_cut());

    // By unique: the server the unique routes to first; an answer other than unknown ends it.
    let unique = "u-42";
    let first = gearbox_client::server_index(unique.as_bytes(), b"", 2).unwrap();
    let (routed, other) = if first == 0 { (&a, &b) } else { (&b, &a) };
    let call = tokio::spawn({
        let client = client.clone();
        async move { client.kept_result_by_unique(b"f", unique.as_bytes()).await }
    });
    admin_once(routed, "result f u-42", b"OK exception 10 Ym9vbQ==\r\n").await;
    let kept = call.await.unwrap().unwrap();
    assert_eq!(kept.state, ResultState::Exception);
    assert_eq!(&kept.data[..], b"boom");
    assert!(kept.is_cut());
    assert!(!other.connects_within(Duration::from_millis(100)).await);

    // Nobody knows it: unknown. One server failing does not hide another's answer.
    let call = tokio::spawn({
        let client = client.clone();
        async move { client.kept_result(b"H:x:1").await }
    });
    admin_once(&a, "result H:x:1", b"OK pending 0\r\n").await;
    assert_eq!(call.await.unwrap().unwrap().state, ResultState::Pending);
    let call = tokio::spawn({
        let client = client.clone();
        async move { client.kept_result(b"H:x:1").await }
    });
    admin_once(
        &a,
        "result H:x:1",
        b"ERR UNKNOWN_COMMAND Unknown+server+commandresult\r\n",
    )
    .await;
    admin_once(&b, "result H:x:1", b"OK unknown 0\r\n").await;
    assert_eq!(call.await.unwrap().unwrap().state, ResultState::Unknown);

    // Arguments the text protocol cannot carry are refused before any connection.
    assert!(matches!(
        client.kept_result(b"H:1 2").await,
        Err(Error::InvalidArgument(_))
    ));
    assert!(matches!(
        client.kept_result_by_unique(b"f", b"").await,
        Err(Error::InvalidArgument(_))
    ));
    assert!(!a.connects_within(Duration::from_millis(100)).await);
}

/// Whether an error is the one a case expects.
type IsExpected = fn(&Error) -> bool;

#[tokio::test]
async fn malformed_admin_answers_are_typed_errors() {
    let cases: [(&[u8], IsExpected); 7] = [
        (b"OK complete x\r\n", |e| {
            matches!(e, Error::Protocol { .. })
        }),
        (b"OK complete 1 !!!\r\n", |e| {
            matches!(e, Error::Protocol { .. })
        }),
        (b"OK finished 0\r\n", |e| {
            matches!(e, Error::Protocol { .. })
        }),
        (b"hello\r\n", |e| matches!(e, Error::Protocol { .. })),
        (b"\xff\xfe\r\n", |e| matches!(e, Error::Protocol { .. })),
        // The line never ends: the connection closes first.
        (b"OK complete 1", Error::is_connection_lost),
        (
            b"ERR UNKNOWN_COMMAND Unknown+server+commandresult\r\n",
            |e| e.server_code() == Some("UNKNOWN_COMMAND"),
        ),
    ];
    for (answer, expected) in cases {
        let fake = Fake::start().await;
        let client = client_for(&[&fake.addr()]);
        let call = tokio::spawn({
            let client = client.clone();
            async move { client.kept_result(b"H:1").await }
        });
        admin_once(&fake, "result H:1", answer).await;
        let err = call.await.unwrap().unwrap_err();
        assert!(expected(&err), "answer {answer:?}: got {err:?}");
    }

    // Listings: a bad row, a listing cut short, and silence.
    let fake = Fake::start().await;
    let client = client_for(&[&fake.addr()]);
    let call = tokio::spawn({
        let client = client.clone();
        async move { client.dead_letters(None).await }
    });
    admin_once(&fake, "dead list", b"1\tf\tu\tnormal\n.\n").await;
    assert!(matches!(call.await.unwrap(), Err(Error::Protocol { .. })));
    let call = tokio::spawn({
        let client = client.clone();
        async move { client.dead_letter(1).await }
    });
    admin_once(&fake, "dead show 1", b"id\t1\nfunction\tZg==\n").await;
    assert!(call.await.unwrap().unwrap_err().is_connection_lost());
    let quiet = client.with_timeout(Some(Duration::from_millis(200)));
    let call = tokio::spawn(async move { quiet.retry_dead(DeadSelector::All).await });
    let mut peer = fake.accept().await;
    assert_eq!(peer.line().await, "dead retry all");
    assert_eq!(call.await.unwrap(), Err(Error::Timeout));
    drop(peer);
    let call = tokio::spawn({
        let client = client.clone();
        async move { client.purge_dead(DeadSelector::Id(3)).await }
    });
    admin_once(&fake, "dead purge 3", b"OK three\r\n").await;
    assert!(matches!(call.await.unwrap(), Err(Error::Protocol { .. })));
}

#[tokio::test]
async fn dead_letters_go_to_the_first_server() {
    let (a, b) = (Fake::start().await, Fake::start().await);
    let client = client_for(&[&a.addr(), &b.addr()]);
    let call = tokio::spawn({
        let client = client.clone();
        async move {
            let all = client.dead_letters(None).await;
            let of_f = client.dead_letters(Some(b"f")).await;
            let one = client.dead_letter(2).await;
            let none = client.dead_letter(9).await;
            let retried = client.retry_dead(DeadSelector::Function("f".into())).await;
            let purged = client.purge_dead(DeadSelector::All).await;
            (all, of_f, one, none, retried, purged)
        }
    });
    admin_once(
        &a,
        "dead list",
        b"1\tf\tu1\thigh\t2\tfail\t2026-12-04T19:50:00Z\t-\t5\n\
          2\tg\tu_2\tnormal\t3\texception\t2026-12-04T19:51:00Z\tw-1\t0\n.\n",
    )
    .await;
    admin_once(&a, "dead list f", b".\n").await;
    admin_once(
        &a,
        "dead show 2",
        b"id\t2\nfunction\tZw==\nunique\tdSAy\npriority\tnormal\nattempts\t3\n\
          failure\texception\ndetail\tYm9vbQ==\nworker\tdy0x\nfailed_at\t2026-12-04T19:51:00Z\n\
          workload\t\n.\n",
    )
    .await;
    admin_once(&a, "dead show 9", b"ERR NOT_FOUND No+such+dead+letter\r\n").await;
    admin_once(&a, "dead retry f", b"OK 1\r\n").await;
    admin_once(&a, "dead purge all", b"OK 2\r\n").await;
    let (all, of_f, one, none, retried, purged) = call.await.unwrap();
    let all = all.unwrap();
    assert_eq!(all.len(), 2);
    assert_eq!(
        (
            all[0].id,
            &all[0].function[..],
            all[0].priority,
            all[0].attempts
        ),
        (1, &b"f"[..], Priority::High, 2)
    );
    assert_eq!((all[0].failure, all[0].size), (FailureKind::Fail, 5));
    assert_eq!(all[1].failed_at, "2026-12-04T19:51:00Z");
    assert_eq!(&all[1].worker[..], b"w-1");
    assert!(of_f.unwrap().is_empty());
    let one = one.unwrap().unwrap();
    assert_eq!(&one.unique[..], b"u 2", "exact bytes from dead show");
    assert_eq!(one.detail.as_deref(), Some(&b"boom"[..]));
    assert_eq!(one.workload.as_deref(), Some(&b""[..]));
    assert_eq!(none.unwrap(), None);
    assert_eq!(retried.unwrap(), 1);
    assert_eq!(purged.unwrap(), 2);
    assert!(!b.connects_within(Duration::from_millis(100)).await);

    // A function the server would read as an id or as `all` cannot be selected.
    for name in ["17", "ALL"] {
        assert!(matches!(
            client.purge_dead(DeadSelector::Function(name.into())).await,
            Err(Error::InvalidArgument(_))
        ));
    }
    assert_eq!(
        Client::new().dead_letters(None).await.unwrap_err(),
        Error::NoServers
    );
    assert!(matches!(
        client_for(&[&dead_addr().await]).dead_letters(None).await,
        Err(Error::NoServerReachable { .. })
    ));
}

/// The blocking facade runs the same calls on its own runtime.
#[test]
fn blocking_admin_calls_and_schedule() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let fake = rt.block_on(Fake::start());
    let addr = fake.addr();
    let server = std::thread::spawn(move || {
        rt.block_on(async move {
            let mut peer = fake.accept().await;
            assert_eq!(peer.expect(PacketType::SubmitJobSched).await[6], b"0");
            peer.send(PacketType::JobCreated, &[b"H:s:3"]).await;
            admin_once(&fake, "result H:s:3", b"OK fail 0\r\n").await;
            admin_once(&fake, "dead purge 4", b"OK 0\r\n").await;
        })
    });
    let client = gearbox_client::blocking::Client::new();
    client.add_server(&addr).unwrap();
    client.set_timeout(Some(WAIT));
    assert_eq!(
        &client.schedule("@weekly", "f", "u", "").unwrap()[..],
        b"H:s:3"
    );
    assert_eq!(
        client.kept_result(b"H:s:3").unwrap().state,
        ResultState::Fail
    );
    assert_eq!(client.purge_dead(DeadSelector::Id(4)).unwrap(), 0);
    server.join().unwrap();
}
