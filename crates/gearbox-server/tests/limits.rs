//! Every limit of gearboxd that the other suites do not already hit (packet size, admin line
//! length and the function limits are in `bad_input.rs`), hit on purpose: the refusal is
//! checked, then a round trip on another connection proves the server still serves everyone
//! else, and for the memory budget, that the server's memory stayed within it.

use std::time::{Duration, Instant};

use gearbox_proto::PacketType as T;
use gearbox_testkit::pki::Pki;
use gearbox_testkit::wire::{assert_serving, req, Conn, Reply};
use gearbox_testkit::{Kind, Server};

fn is_error(reply: &Reply, code: &str) -> bool {
    reply.is(T::Error) && reply.args().first().is_some_and(|c| c == code.as_bytes())
}

/// `--max-connections` and `--max-connections-per-ip`: a connection beyond either is closed at
/// once; once one closes, a new one is served.
#[test]
fn connection_limits() {
    for flag in ["--max-connections", "--max-connections-per-ip"] {
        let server = Server::start(Kind::Gearboxd, &[flag, "3"]);
        let mut open: Vec<Conn> = (0..3).map(|_| Conn::connect(server.addr)).collect();
        for conn in &mut open {
            conn.sync();
        }
        let mut extra = Conn::connect(server.addr);
        extra.send_req(T::EchoReq, &[b"one too many"]);
        extra.expect_closed_within(Duration::from_secs(2));
        assert!(
            server.log().contains("connection limit"),
            "{}",
            server.log()
        );
        drop(open.pop());
        // The closed connection's place is given back (after the server saw it close).
        let started = Instant::now();
        loop {
            let mut conn = Conn::connect(server.addr);
            conn.send_req(T::EchoReq, &[b"again"]);
            match conn.recv_within(Duration::from_secs(1)) {
                Ok(r) if r.is(T::EchoRes) => break,
                _ if started.elapsed() < Duration::from_secs(5) => continue,
                other => panic!("{flag}: no place given back: {other:?}"),
            }
        }
        for conn in &mut open {
            conn.sync();
        }
    }
}

/// `--idle-timeout`: a connection that sends nothing and holds nothing is closed; a sleeping
/// worker and a client waiting for its job are not, whatever the time.
#[test]
fn idle_connections_holding_nothing_are_closed() {
    let server = Server::start(Kind::Gearboxd, &["--idle-timeout", "1"]);
    let mut idle = Conn::connect(server.addr);
    idle.sync();
    let mut worker = Conn::connect(server.addr);
    worker.send_req(T::CanDo, &[b"slow"]);
    worker.send_req(T::PreSleep, &[]);
    let mut client = Conn::connect(server.addr);
    client.send_req(T::SubmitJob, &[b"nobody-works-on-this", b"", b"w"]);
    assert!(client.recv().is(T::JobCreated));
    let started = Instant::now();
    idle.expect_closed_within(Duration::from_secs(4));
    assert!(started.elapsed() >= Duration::from_millis(900));
    std::thread::sleep(Duration::from_millis(1500));
    worker.sync();
    client.sync();
    assert!(server.log().contains("idle timeout"), "{}", server.log());
    assert_serving(server.addr);
}

/// `--request-timeout`: a peer that trickles a request byte by byte is cut off once the
/// request has taken longer than the limit, though it never stopped sending.
#[test]
fn a_trickled_request_is_cut_off() {
    let server = Server::start(Kind::Gearboxd, &["--request-timeout", "1"]);
    let mut slow = Conn::connect(server.addr);
    let packet = req(T::SubmitJobBg, &[b"f", b"u", &[b'x'; 200]]);
    let started = Instant::now();
    let mut sent = 0;
    while started.elapsed() < Duration::from_secs(5) && sent < packet.len() {
        if slow.try_send(&packet[sent..sent + 1]).is_err() {
            break;
        }
        sent += 1;
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(sent < packet.len(), "the whole request got through");
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "{:?}",
        started.elapsed()
    );
    assert!(server.log().contains("request timeout"), "{}", server.log());
    assert_serving(server.addr);
}

/// `--ssl-handshake-timeout`: a TCP connection to a TLS port that never starts its handshake
/// is closed after the timeout.
#[test]
fn a_silent_tls_peer_is_cut_off() {
    let pki = Pki::new("limits");
    let cert = pki.server.cert.to_string_lossy().into_owned();
    let key = pki.server.key.to_string_lossy().into_owned();
    let server = Server::start(
        Kind::Gearboxd,
        &[
            "--ssl",
            "--ssl-certificate",
            &cert,
            "--ssl-key",
            &key,
            "--ssl-handshake-timeout",
            "1",
        ],
    );
    let started = Instant::now();
    let mut silent = Conn::connect(server.addr);
    silent.expect_closed_within(Duration::from_secs(4));
    assert!(started.elapsed() >= Duration::from_millis(900));
    assert!(
        server.log().contains("TLS handshake not finished"),
        "{}",
        server.log()
    );
}

/// `--max-queue`: every function starts with that queue limit; the admin `maxqueue` still
/// changes it for one function.
#[test]
fn a_default_queue_limit() {
    let server = Server::start(Kind::Gearboxd, &["-q", "memory", "--max-queue", "2"]);
    let mut c = Conn::connect(server.addr);
    for i in 0..2 {
        let unique = format!("u{i}");
        let r = c.request_req(T::SubmitJobBg, &[b"limited", unique.as_bytes(), b"w"]);
        assert!(r[0].is(T::JobCreated), "{}", r[0].describe());
    }
    let r = c.request_req(T::SubmitJobBg, &[b"limited", b"u2", b"w"]);
    assert!(is_error(&r[0], "QUEUE_ERROR"), "{}", r[0].describe());
    let r = c.request_req(T::SubmitJobBg, &[b"other", b"u3", b"w"]);
    assert!(r[0].is(T::JobCreated), "{}", r[0].describe());
    assert_eq!(c.admin_line("maxqueue limited 5"), b"OK\r\n");
    let r = c.request_req(T::SubmitJobBg, &[b"limited", b"u4", b"w"]);
    assert!(r[0].is(T::JobCreated), "{}", r[0].describe());
    assert_serving(server.addr);
}

/// The server's resident memory, from /proc.
fn rss_bytes(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
    line.split_whitespace()
        .nth(1)
        .unwrap()
        .parse::<u64>()
        .unwrap()
        * 1024
}

/// `--max-queued-bytes`: submissions beyond the budget get ERROR QUEUE_ERROR, the server's
/// memory stays near the budget however much is pushed at it, and a job that finishes gives
/// its room back.
#[test]
fn a_memory_budget_for_queued_jobs() {
    const BUDGET: u64 = 4 << 20;
    let server = Server::start(
        Kind::Gearboxd,
        &["-q", "memory", "--max-queued-bytes", &BUDGET.to_string()],
    );
    let before = rss_bytes(server.pid());
    let mut c = Conn::connect(server.addr);
    let workload = vec![b'w'; 64 * 1024];
    let (mut created, mut refused) = (0u32, 0u32);
    // 64 MiB offered against a 4 MiB budget, in 64 KiB jobs.
    for i in 0..1024 {
        let unique = format!("big-{i}");
        c.send_req(T::SubmitJobBg, &[b"big", unique.as_bytes(), &workload]);
        let r = c.recv();
        if r.is(T::JobCreated) {
            created += 1;
        } else {
            assert!(is_error(&r, "QUEUE_ERROR"), "{}", r.describe());
            refused += 1;
        }
    }
    assert!(
        created > 0 && u64::from(created) * 64 * 1024 <= BUDGET,
        "{created} created"
    );
    assert!(refused >= 1024 - 64, "{refused} refused");
    let grown = rss_bytes(server.pid()).saturating_sub(before);
    assert!(
        grown < BUDGET + (16 << 20),
        "the server grew by {grown} bytes with a budget of {BUDGET}"
    );
    assert!(server.log().is_empty() || !server.log().contains("panicked"));
    // A worker takes one job: its room is given back.
    let mut worker = Conn::connect(server.addr);
    worker.send_req(T::CanDo, &[b"big"]);
    worker.send_req(T::GrabJobUniq, &[]);
    let assigned = worker.recv();
    assert!(assigned.is(T::JobAssignUniq), "{}", assigned.describe());
    let handle = assigned.args()[0].clone();
    worker.send_req(T::WorkComplete, &[&handle, b"done"]);
    worker.sync();
    let r = c.request_req(T::SubmitJobBg, &[b"big", b"after", &workload]);
    assert!(r[0].is(T::JobCreated), "{}", r[0].describe());
    assert_serving(server.addr);
}
