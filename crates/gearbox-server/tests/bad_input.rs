//! Hostile and broken input over raw TCP: bad framing, oversized declarations, truncated
//! packets, malformed arguments, overlong admin lines, peers that never read, garbage from many
//! connections, and the graceful stop on SIGTERM.
//!
//! After every bad connection a fresh connection must still get ECHO_RES and a `status`
//! listing, proving that the server kept serving. Cases whose outcome is safe to provoke in
//! gearmand 1.1.20 run against it too, as the reference.

use std::io::ErrorKind;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use gearbox_proto::PacketType as T;
use gearbox_testkit::wire::{
    assert_serving, proc_status_kb, raw_header, raw_packet, req, server_pid, Conn, Reply,
};
use gearbox_testkit::{require, server_available, wait_until, wire, Kind, Server, TempDir};

/// A server under test, with gearboxd's private job store.
struct Target {
    server: Server,
    _data: Option<TempDir>,
}

impl Target {
    fn start(kind: Kind, extra: &[&str]) -> Target {
        match kind {
            Kind::Gearboxd => {
                let data = TempDir::new("gearboxd-data");
                let dir = data.path().to_str().unwrap().to_owned();
                let mut args = vec!["--data-dir", &dir];
                args.extend_from_slice(extra);
                Target {
                    server: Server::start(kind, &args),
                    _data: Some(data),
                }
            }
            Kind::Gearmand => Target {
                server: Server::start(kind, extra),
                _data: None,
            },
        }
    }

    fn conn(&self) -> Conn {
        Conn::connect(self.server.addr)
    }

    fn kind(&self) -> Kind {
        self.server.kind
    }
}

/// gearboxd always; gearmand too when it is installed.
fn both() -> Vec<Kind> {
    if server_available(Kind::Gearmand) {
        vec![Kind::Gearmand, Kind::Gearboxd]
    } else {
        vec![Kind::Gearboxd]
    }
}

fn describe(replies: &[Reply]) -> Vec<String> {
    replies.iter().map(Reply::describe).collect()
}

/// Send `bytes` on a fresh connection and require that the server closes it without sending
/// anything.
fn closes_silently(t: &Target, what: &str, bytes: &[u8]) {
    let mut c = t.conn();
    c.send(bytes);
    let got = c.expect_closed();
    assert!(
        got.is_empty(),
        "[{}] {what}: expected no reply before the close, got {:?}",
        t.kind(),
        describe(&got)
    );
    assert_serving(t.server.addr);
}

#[test]
fn bad_magic_closes_the_connection_without_reply() {
    for kind in both() {
        let t = Target::start(kind, &[]);
        for magic in [
            b"\0REX",
            b"\0\0\0\0",
            b"\0req",
            b"\0RE\0",
            b"\0\xff\xff\xff",
        ] {
            let mut bytes = raw_packet(magic, 16, b"ping");
            // A valid request behind it must not be answered either.
            bytes.extend(req(T::EchoReq, &[b"after"]));
            closes_silently(&t, &format!("magic {magic:?}"), &bytes);
        }
    }
}

#[test]
fn unknown_packet_types_close_the_connection_without_reply() {
    for kind in both() {
        let t = Target::start(kind, &[]);
        // gearmand 1.1.20 crashes on 0xffffffff, so the huge numbers go to gearboxd only.
        let types: &[u32] = match kind {
            Kind::Gearmand => &[0, 43, 44, 100],
            Kind::Gearboxd => &[0, 43, 44, 100, 0x8000_0000, 0xffff_fffe, 0xffff_ffff],
        };
        for &kind_no in types {
            let mut bytes = raw_packet(b"\0REQ", kind_no, b"");
            bytes.extend(req(T::EchoReq, &[b"after"]));
            closes_silently(&t, &format!("type {kind_no}"), &bytes);
            // With a body, and with response magic.
            closes_silently(
                &t,
                &format!("type {kind_no}"),
                &raw_packet(b"\0REQ", kind_no, b"x\0y"),
            );
            closes_silently(
                &t,
                &format!("type {kind_no}"),
                &raw_packet(b"\0RES", kind_no, b""),
            );
        }
    }
}

#[test]
fn declared_body_above_the_limit_gets_error_then_close() {
    let t = Target::start(Kind::Gearboxd, &["--max-body", "1024"]);
    // At the limit: fine.
    let mut c = t.conn();
    let body = vec![b'x'; 1024];
    let r = c.request_req(T::EchoReq, &[&body]);
    assert_eq!(r.len(), 1, "{:?}", describe(&r));
    assert_eq!(r[0].packet().body.as_ref(), &body[..]);

    let pid = server_pid(t.server.addr);
    let peak_before = proc_status_kb(pid, "VmPeak");
    for (size, sent) in [
        (1025u32, 0usize),
        (1025, 1025),
        (0x7fff_ffff, 100),
        (u32::MAX, 0),
    ] {
        for kind_no in [16u32, 7] {
            let mut c = t.conn();
            let mut bytes = raw_header(b"\0REQ", kind_no, size);
            bytes.extend(std::iter::repeat_n(b'a', sent));
            c.send(&bytes);
            let got = c.expect_closed();
            assert_eq!(got.len(), 1, "size {size}: {:?}", describe(&got));
            let args = got[0].args();
            assert!(got[0].is(T::Error), "size {size}: {}", got[0].describe());
            assert_eq!(args[0], b"ARGUMENT_TOO_LARGE", "size {size}");
        }
    }
    // Twenty connections declaring 4 GiB each, at once.
    let mut held = Vec::new();
    for _ in 0..20 {
        let mut c = t.conn();
        c.send(&raw_header(b"\0REQ", 16, u32::MAX));
        held.push(c);
    }
    for c in &mut held {
        let got = c.expect_closed();
        assert_eq!(got.len(), 1);
    }
    let peak_after = proc_status_kb(pid, "VmPeak");
    assert!(
        peak_after < peak_before + 256 * 1024,
        "VmPeak grew from {peak_before} kB to {peak_after} kB: the declared size was allocated"
    );
    assert_serving(t.server.addr);
}

#[test]
fn declared_but_unsent_bodies_are_not_preallocated() {
    let t = Target::start(Kind::Gearboxd, &["--max-body", "67108864"]);
    let pid = server_pid(t.server.addr);
    let peak_before = proc_status_kb(pid, "VmPeak");
    let mut held = Vec::new();
    for i in 0..24 {
        let mut c = t.conn();
        let mut bytes = raw_header(b"\0REQ", 16, 64 * 1024 * 1024);
        bytes.extend(format!("start of body {i}").as_bytes());
        c.send(&bytes);
        held.push(c);
    }
    // Every one of them is now waiting for its body inside the server.
    assert_serving(t.server.addr);
    let peak_after = proc_status_kb(pid, "VmPeak");
    assert!(
        peak_after < peak_before + 512 * 1024,
        "VmPeak grew from {peak_before} kB to {peak_after} kB for 24 declared 64 MiB bodies"
    );
    // Abandon them half-way: EOF inside a packet.
    for mut c in held {
        c.shutdown_write();
        assert!(c.expect_closed().is_empty());
    }
    assert_serving(t.server.addr);
}

#[test]
fn truncated_packet_then_eof() {
    for kind in both() {
        let t = Target::start(kind, &[]);
        let whole = req(T::SubmitJob, &[b"f", b"u", b"some payload"]);
        for cut in [1, 5, 11, 12, 15, whole.len() - 1] {
            let mut c = t.conn();
            c.send(&whole[..cut]);
            c.shutdown_write();
            let got = c.expect_closed();
            assert!(
                got.is_empty(),
                "[{kind}] cut at {cut}: {:?}",
                describe(&got)
            );
        }
        // A complete packet, then a truncated one: the first is answered.
        let mut c = t.conn();
        let mut bytes = req(T::EchoReq, &[b"whole"]);
        bytes.extend(&raw_header(b"\0REQ", 16, 100));
        bytes.extend(b"only part");
        c.send(&bytes);
        assert_eq!(c.recv().packet().body.as_ref(), b"whole", "[{kind}]");
        c.shutdown_write();
        let got = c.expect_closed();
        assert!(got.is_empty(), "[{kind}] {:?}", describe(&got));
        // A partial admin line.
        let mut c = t.conn();
        c.send(b"stat");
        c.shutdown_write();
        assert!(c.expect_closed().is_empty());
        // No job was created by any of it.
        let mut a = t.conn();
        assert_eq!(a.admin_list("status"), [b".\n".to_vec()], "[{kind}]");
        assert_serving(t.server.addr);
    }
}

/// A request and the peer's FIN arriving together: the request is answered and the end of the
/// stream is still seen (gearboxd drops a socket's readiness after a short read, which must
/// not swallow a FIN that came with the data). gearmand 1.1.20 closes at the FIN without
/// answering, so only gearboxd is checked.
#[test]
fn a_request_followed_at_once_by_eof_is_answered_then_closed() {
    {
        let kind = Kind::Gearboxd;
        let t = Target::start(kind, &[]);
        for round in 0..50 {
            let mut c = t.conn();
            let token = format!("round {round}");
            c.send(&req(T::EchoReq, &[token.as_bytes()]));
            c.shutdown_write();
            let got = c.expect_closed();
            assert_eq!(
                describe(&got).len(),
                1,
                "[{kind}] round {round}: {:?}",
                describe(&got)
            );
            assert_eq!(got[0].packet().body.as_ref(), token.as_bytes(), "[{kind}]");
        }
        assert_serving(t.server.addr);
    }
}

/// gearmand does not bound its NUL search by the packet size and desynchronises ([G-bug]), so
/// only gearboxd is checked: ERROR INVALID_PACKET, nothing created, the connection goes on.
#[test]
fn too_few_fields_get_invalid_packet_and_the_connection_goes_on() {
    let t = Target::start(Kind::Gearboxd, &[]);
    let mut c = t.conn();
    let cases: &[(u32, &[u8])] = &[
        (7, b"fn"),
        (7, b"fn\0unique"),
        (18, b""),
        (21, b"fn"),
        (36, b"fn\0u\0"),
        (37, b"fn\0u\0reducer\0"),
        (38, b"fn"),
        (35, b"f\0u\0"),
        (12, b"H:x:1\0"),
        (13, b"H:x:1"),
        (23, b"fn"),
        (25, b"H:x:1"),
        (28, b"H:x:1"),
    ];
    for &(kind_no, body) in cases {
        c.send(&raw_packet(b"\0REQ", kind_no, body));
        let got = c.recv();
        let args = got.args();
        assert!(got.is(T::Error), "type {kind_no}: {}", got.describe());
        assert_eq!(
            args[0],
            b"INVALID_PACKET",
            "type {kind_no}: {}",
            got.describe()
        );
        // Still in step: the next packet is read from the right place.
        c.send_req(T::EchoReq, &[b"in step"]);
        let echo = c.recv();
        assert!(echo.is(T::EchoRes), "type {kind_no}: {}", echo.describe());
        assert_eq!(echo.packet().body.as_ref(), b"in step");
    }
    // Nothing was created or registered.
    assert_eq!(c.admin_list("status"), [b".\n".to_vec()]);
    assert_serving(t.server.addr);
}

/// An admin line longer than 8192 bytes: gearboxd answers an ERR line and closes ([R]);
/// gearmand closes without a word ([G]).
#[test]
fn overlong_admin_line_gets_err_then_close() {
    for kind in both() {
        let t = Target::start(kind, &[]);
        for (what, bytes) in [
            ("no newline", vec![b'x'; 9000]),
            (
                "newline after 9000 bytes",
                [vec![b'x'; 9000], b"\n".to_vec()].concat(),
            ),
            ("huge", vec![b's'; 100_000]),
        ] {
            let mut c = t.conn();
            c.send(&bytes);
            let got = c.expect_closed();
            match kind {
                Kind::Gearmand => {
                    assert!(got.is_empty(), "[gearmand] {what}: {:?}", describe(&got));
                }
                Kind::Gearboxd => {
                    assert_eq!(got.len(), 1, "[gearboxd] {what}: {:?}", describe(&got));
                    let Reply::Line(line) = &got[0] else {
                        panic!("[gearboxd] {what}: {}", got[0].describe());
                    };
                    assert!(
                        line.starts_with(b"ERR ") && line.ends_with(b"\r\n"),
                        "[gearboxd] {what}: {}",
                        got[0].describe()
                    );
                }
            }
            assert_serving(t.server.addr);
        }
        // Long but below the limit: answered normally on both.
        let mut c = t.conn();
        let line = format!("status{}\n", " ".repeat(8000));
        c.send(line.as_bytes());
        assert_eq!(c.recv_list(), [b".\n".to_vec()], "[{kind}]");
    }
}

/// A client that pipelines large ECHO_REQs and never reads: once its unsent output passes
/// `--max-outbound` gearboxd stops reading from it, and once it has read nothing for
/// `--outbound-timeout` gearboxd closes it, serving everybody else meanwhile.
#[test]
fn a_peer_that_never_reads_is_cut_off_at_max_outbound() {
    let t = Target::start(
        Kind::Gearboxd,
        &["--max-outbound", "1048576", "--outbound-timeout", "1"],
    );
    let addr = t.server.addr;
    let done = Arc::new(AtomicBool::new(false));
    let stalled = Arc::new(AtomicBool::new(false));
    let writer = {
        let done = done.clone();
        let stalled = stalled.clone();
        thread::spawn(move || {
            let mut c = Conn::connect(addr);
            let _ = socket2::SockRef::from(c.stream()).set_recv_buffer_size(4096);
            let packet = req(T::EchoReq, &[&vec![b'z'; 64 * 1024]]);
            // Below the limit first: the server holds unsent output for a stalled reader.
            let mut sent: u64 = 0;
            for _ in 0..8 {
                c.send(&packet);
                sent += packet.len() as u64;
            }
            stalled.store(true, Ordering::SeqCst);
            thread::sleep(Duration::from_millis(500));
            let mut batch = Vec::new();
            for _ in 0..16 {
                batch.extend_from_slice(&packet);
            }
            let started = Instant::now();
            let outcome = loop {
                if sent > 1024 * 1024 * 1024 {
                    break Err(format!(
                        "wrote {sent} bytes and the server never cut us off"
                    ));
                }
                match c.try_send(&batch) {
                    Ok(()) => sent += batch.len() as u64,
                    Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                        break Err(format!(
                            "writes blocked for 20 s after {sent} bytes: the server stopped \
                             reading instead of closing"
                        ))
                    }
                    Err(_) => break Ok(sent),
                }
            };
            done.store(true, Ordering::SeqCst);
            (outcome, started.elapsed(), c)
        })
    };
    // Others are served while the reader stalls, and while it is being cut off.
    while !stalled.load(Ordering::SeqCst) {
        thread::sleep(Duration::from_millis(10));
    }
    assert_serving(addr);
    assert_serving(addr);
    let mut checks = 2;
    while !done.load(Ordering::SeqCst) {
        assert_serving(addr);
        checks += 1;
        thread::sleep(Duration::from_millis(50));
    }
    let (outcome, elapsed, mut c) = writer.join().unwrap();
    let sent = outcome.unwrap_or_else(|e| panic!("{e} (after {elapsed:?})"));
    assert!(elapsed < Duration::from_secs(20), "took {elapsed:?}");
    // What is left to read ends in a close, well below what was asked for.
    let mut echoed = 0u64;
    loop {
        match c.recv_within(wire::TIMEOUT) {
            Ok(Reply::Packet(p)) => echoed += p.body.len() as u64,
            // Cut off in the middle of a packet.
            Ok(Reply::Partial(rest)) => echoed += rest.len() as u64,
            Ok(other) => panic!("unexpected {}", other.describe()),
            Err(wire::ReadEnd::Closed) => break,
            Err(e) => panic!("slow reader not closed: {e:?}"),
        }
    }
    assert!(echoed < sent, "all {sent} bytes were echoed: never cut off");
    eprintln!("sent {sent} bytes, {echoed} echoed before the close, {checks} checks meanwhile");
    assert_serving(addr);
}

/// Read one packet after a pause, as a busy client does: meanwhile the answer waits in the
/// server, well over `--max-outbound`.
fn recv_slowly(c: &mut Conn) -> Reply {
    thread::sleep(Duration::from_millis(300));
    c.recv()
}

/// Answers far larger than `--max-outbound` reach a peer that reads them, however slowly: an
/// ECHO of the largest body accepted, a big WORK_COMPLETE relayed to its client, and two big
/// WORK_DATA to a client reading in a loop. (They were once cut off as "does not read".)
#[test]
fn a_reading_peer_gets_answers_larger_than_max_outbound() {
    let t = Target::start(
        Kind::Gearboxd,
        &[
            "--max-body",
            "8388608",
            "--max-outbound",
            "1048576",
            "--outbound-timeout",
            "2",
        ],
    );
    let addr = t.server.addr;
    let mut c = Conn::connect(addr);
    // The header and the one argument make the body exactly --max-body.
    let echo = vec![b'e'; 8_388_608];
    c.send_req(T::EchoReq, &[&echo]);
    let back = recv_slowly(&mut c);
    assert!(back.is(T::EchoRes), "{}", back.describe());
    assert_eq!(back.packet().body.len(), echo.len());

    let mut w = Conn::connect(addr);
    w.send_req(T::CanDo, &[b"big"]);
    let created = c.request_req(T::SubmitJob, &[b"big", b"", b"x"]);
    let handle = created[0].args()[0].clone();
    assert!(w.request_req(T::GrabJob, &[])[0].is(T::JobAssign));
    let chunk = vec![b'd'; 6 * 1024 * 1024];
    let mut results = req(T::WorkData, &[&handle, &chunk]);
    results.extend(req(T::WorkData, &[&handle, &chunk]));
    results.extend(req(T::WorkComplete, &[&handle, &chunk]));
    w.send(&results);
    for kind in [T::WorkData, T::WorkData, T::WorkComplete] {
        let got = recv_slowly(&mut c);
        assert!(got.is(kind), "{}", got.describe());
        assert_eq!(got.args()[1].len(), chunk.len());
    }
    assert_eq!(c.request_req(T::EchoReq, &[b"still here"]).len(), 1);
    assert!(
        !t.server.log().contains("does not read"),
        "{}",
        t.server.log()
    );
}

/// Ten peers that stop reading, each under `--max-outbound`, cannot make the server hold more
/// than `--max-outbound-total`: beyond it the one stalled longest is cut first, and a peer that
/// reads is served throughout.
#[test]
fn all_unsent_output_is_bounded_and_the_slowest_readers_go_first() {
    let t = Target::start(
        Kind::Gearboxd,
        &[
            "--max-outbound-total",
            "16777216",
            "--outbound-timeout",
            "60",
        ],
    );
    let addr = t.server.addr;
    let body = vec![b's'; 4 * 1024 * 1024];
    let mut stalled = Vec::new();
    for _ in 0..10 {
        let mut c = Conn::connect(addr);
        // Three 4 MiB answers, under the per-connection limit of 64 MiB.
        for _ in 0..3 {
            c.send_req(T::EchoReq, &[&body]);
        }
        stalled.push(c);
        thread::sleep(Duration::from_millis(100));
        assert_serving(addr);
    }
    let pid = server_pid(addr);
    let rss_mb = proc_status_kb(pid, "VmRSS") / 1024;
    // The first stalled peers were cut; the most recent ones are still connected.
    let mut cut = 0;
    for c in &mut stalled[..5] {
        let mut closed = false;
        for _ in 0..3 {
            match c.recv_within(Duration::from_secs(5)) {
                Ok(Reply::Packet(_)) => {}
                Ok(_) | Err(wire::ReadEnd::Closed) => {
                    closed = true;
                    break;
                }
                Err(e) => panic!("{e:?}"),
            }
        }
        cut += usize::from(closed);
    }
    assert!(
        cut >= 3,
        "only {cut} of the first five stalled peers were cut"
    );
    let last = stalled.last_mut().unwrap();
    for _ in 0..3 {
        let got = last.recv();
        assert!(got.is(T::EchoRes), "{}", got.describe());
    }
    assert!(
        t.server.log().contains("--max-outbound-total"),
        "{}",
        t.server.log()
    );
    eprintln!("server RSS with ten stalled peers: {rss_mb} MB");
    assert!(rss_mb < 120, "RSS {rss_mb} MB");
}

/// One peer registering thousands of long function names cannot break `status` for everyone:
/// the listing (larger than `--max-outbound`) reaches gearadmin whole, a connection registers
/// at most `--max-worker-functions`, the server keeps at most `--max-functions`, and once the
/// flood leaves, the idle names are forgotten and their memory given back.
#[test]
fn a_function_flood_cannot_break_status_or_keep_its_memory() {
    if !require("gearadmin") {
        return;
    }
    let t = Target::start(
        Kind::Gearboxd,
        &[
            "--max-outbound",
            "1048576",
            "--max-worker-functions",
            "3000",
            "--max-functions",
            "4000",
        ],
    );
    let addr = t.server.addr;
    let name = |i: usize| format!("{i:06}{}", "f".repeat(505));
    let mut flood = Conn::connect(addr);
    let mut batch = Vec::new();
    for i in 0..3000 {
        batch.extend(req(T::CanDo, &[name(i).as_bytes()]));
    }
    flood.send(&batch);
    let over = flood.request_req(T::CanDo, &[b"one-too-many"]);
    assert!(
        over[0].is(T::Error) && over[0].args()[0] == b"TOO_MANY_FUNCTIONS",
        "{}",
        over[0].describe()
    );
    let mut second = Conn::connect(addr);
    let mut batch = Vec::new();
    for i in 3000..4000 {
        batch.extend(req(T::CanDo, &[name(i).as_bytes()]));
    }
    second.send(&batch);
    let over = second.request_req(T::SubmitJobBg, &[b"a-new-function", b"", b"x"]);
    assert!(
        over[0].is(T::Error) && over[0].args()[0] == b"TOO_MANY_FUNCTIONS",
        "{}",
        over[0].describe()
    );
    drop(second);
    // About 1.5 MB of listing, over --max-outbound: gearadmin reads it all, twice.
    for _ in 0..2 {
        let out = t.server.gearadmin(&["--status"]);
        assert!(out.success(), "{out}");
        assert!(out.lines().len() >= 3000, "{} lines", out.lines().len());
    }
    let pid = server_pid(addr);
    let before_kb = proc_status_kb(pid, "VmRSS");
    drop(flood);
    // 1024 idle names stay visible, as gearmand keeps them; the listing ends with ".".
    let forgotten = wait_until(Duration::from_secs(10), || {
        let mut admin = Conn::connect(addr);
        admin.admin_list("status").len() == 1024 + 1
    });
    assert!(forgotten, "the flood's idle functions were not forgotten");
    let after_kb = proc_status_kb(pid, "VmRSS");
    eprintln!("RSS with 4000 long names: {before_kb} kB; after the flood left: {after_kb} kB");
    assert_serving(addr);
}

/// Deterministic pseudo-random bytes (xorshift64*).
fn garbage(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    (0..len)
        .map(|_| {
            x ^= x >> 12;
            x ^= x << 25;
            x ^= x >> 27;
            (x.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 56) as u8
        })
        .collect()
}

#[test]
fn garbage_from_many_connections_at_once() {
    let t = Target::start(Kind::Gearboxd, &[]);
    let addr = t.server.addr;
    let mut threads = Vec::new();
    for i in 0..48u64 {
        threads.push(thread::spawn(move || {
            let mut bytes = match i % 6 {
                // Binary-looking: starts with a zero byte, then noise.
                0 => [vec![0u8], garbage(i, 16 * 1024)].concat(),
                // A valid header with a small size, then noise.
                1 => [raw_header(b"\0REQ", 16, 64), garbage(i, 16 * 1024)].concat(),
                // Text noise with newlines (answered as unknown commands).
                2 => garbage(i, 16 * 1024)
                    .into_iter()
                    .map(|b| if b % 16 == 0 { b'\n' } else { b'a' + b % 26 })
                    .collect(),
                // Valid packets with noise in their argument fields.
                3 => {
                    let mut v = Vec::new();
                    for k in 0..200 {
                        let noise = garbage(i * 1000 + k, 40);
                        let kind =
                            [T::SubmitJobBg, T::WorkData, T::GetStatus, T::CanDo][k as usize % 4];
                        v.extend(req(kind, &[&noise[..10], &noise[10..20], &noise[20..]]));
                    }
                    v
                }
                // Pure noise.
                _ => garbage(i, 32 * 1024),
            };
            bytes.extend(req(T::EchoReq, &[b"tail"]));
            let mut c = Conn::connect(addr);
            // The server may close in the middle of our write.
            let _ = c.try_send(&bytes);
            c.shutdown_write();
            let deadline = Instant::now() + Duration::from_secs(15);
            loop {
                match c.recv_within(deadline.saturating_duration_since(Instant::now())) {
                    Ok(_) => {}
                    Err(wire::ReadEnd::Closed) => return,
                    Err(wire::ReadEnd::TimedOut) => {
                        panic!("connection {i} still open 15 s after EOF")
                    }
                }
            }
        }));
    }
    for (i, th) in threads.into_iter().enumerate() {
        th.join()
            .unwrap_or_else(|_| panic!("garbage connection {i} failed"));
    }
    assert_serving(addr);
    // Still a working job server.
    let mut c = Conn::connect(addr);
    let mut w = Conn::connect(addr);
    let created = c.request_req(T::SubmitJob, &[b"after-garbage", b"", b"x"]);
    assert!(created[0].is(T::JobCreated), "{}", created[0].describe());
    w.send_req(T::CanDo, &[b"after-garbage"]);
    let assign = w.request_req(T::GrabJob, &[]);
    assert!(assign[0].is(T::JobAssign), "{}", assign[0].describe());
    let handle = assign[0].args()[0].clone();
    w.send_req(T::WorkComplete, &[&handle, b"fine"]);
    assert_eq!(c.recv().args()[1], b"fine");
}

// ---------------------------------------------------------------------------------------------
// Graceful stop
// ---------------------------------------------------------------------------------------------

/// SIGTERM while a foreground job runs: gearboxd stops accepting, refuses new submissions, lets
/// the worker finish, relays the WORK_COMPLETE to the client, then exits 0.
#[test]
fn sigterm_waits_for_the_running_foreground_job() {
    graceful_stop_waits_for_the_running_foreground_job("TERM");
}

/// SIGUSR1 is gearmand's graceful stop: the same (it once killed gearboxd).
#[test]
fn sigusr1_stops_gracefully_like_sigterm() {
    graceful_stop_waits_for_the_running_foreground_job("USR1");
}

fn graceful_stop_waits_for_the_running_foreground_job(signal: &str) {
    let mut g = Server::start(Kind::Gearboxd, &[]);
    let mut c = Conn::connect(g.addr);
    let mut w = Conn::connect(g.addr);
    w.send_req(T::CanDo, &[b"f"]);
    let created = c.request_req(T::SubmitJob, &[b"f", b"", b"work"]);
    let handle = created[0].args()[0].clone();
    let assign = w.request_req(T::GrabJob, &[]);
    assert!(assign[0].is(T::JobAssign), "{}", assign[0].describe());

    g.signal(signal);
    thread::sleep(Duration::from_millis(1500));
    assert!(
        g.wait_exit(Duration::ZERO).is_none(),
        "gearboxd exited with a foreground job still running\n{}",
        g.log()
    );
    // New connections are no longer accepted (or are closed at once).
    if let Ok(mut s) = std::net::TcpStream::connect_timeout(&g.addr, Duration::from_secs(2)) {
        use std::io::{Read, Write};
        let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
        let _ = s.write_all(&req(T::EchoReq, &[b"late"]));
        let mut buf = [0u8; 64];
        assert!(
            matches!(s.read(&mut buf), Ok(0) | Err(_)),
            "a connection made after SIGTERM was served"
        );
    }
    // Connected peers are still served, but new work is refused: nobody is left with a job
    // the server will not run.
    c.send_req(T::EchoReq, &[b"still here"]);
    assert!(c.recv().is(T::EchoRes));
    for kind in [T::SubmitJob, T::SubmitJobBg] {
        let refused = c.request_req(kind, &[b"f", b"", b"late"]);
        assert!(
            refused[0].is(T::Error) && refused[0].args()[0] == b"SHUTTING_DOWN",
            "{}",
            refused[0].describe()
        );
    }
    // The wait is logged once a second, not at every check.
    let waits = g
        .log()
        .matches("waiting for running foreground jobs")
        .count();
    assert!((1..=3).contains(&waits), "{waits} wait lines\n{}", g.log());

    let mut done = req(T::WorkData, &[&handle, b"partial"]);
    done.extend(req(T::WorkComplete, &[&handle, b"result"]));
    w.send(&done);
    let data = c.recv();
    assert!(data.is(T::WorkData), "{}", data.describe());
    let complete = c.recv();
    assert!(complete.is(T::WorkComplete), "{}", complete.describe());
    assert_eq!(complete.args(), [handle.clone(), b"result".to_vec()]);

    let status = g.wait_exit(Duration::from_secs(10)).unwrap_or_else(|| {
        panic!(
            "gearboxd still running 10 s after the job finished\n{}",
            g.log()
        )
    });
    assert!(status.success(), "exit status {status}\n{}", g.log());
    c.expect_closed();
}

/// SIGTERM with no running job (idle connections, a queued background job and a sleeping
/// worker are not running jobs): gearboxd exits 0 promptly.
#[test]
fn sigterm_without_running_jobs_exits_promptly() {
    let mut g = Server::start(Kind::Gearboxd, &[]);
    let mut idle = Conn::connect(g.addr);
    assert_eq!(idle.request_req(T::EchoReq, &[b"x"]).len(), 1);
    let mut c = Conn::connect(g.addr);
    c.request_req(T::SubmitJobBg, &[b"queued", b"", b"x"]);
    let mut w = Conn::connect(g.addr);
    w.send_req(T::CanDo, &[b"other"]);
    w.request_req(T::GrabJob, &[]);
    w.send_req(T::PreSleep, &[]);
    w.sync();

    let started = Instant::now();
    g.terminate();
    let status = g
        .wait_exit(Duration::from_secs(10))
        .unwrap_or_else(|| panic!("gearboxd still running 10 s after SIGTERM\n{}", g.log()));
    assert!(status.success(), "exit status {status}\n{}", g.log());
    eprintln!("exited {:?} after SIGTERM", started.elapsed());
    idle.expect_closed();
}

/// SIGTERM with a running job that never finishes: the wait is bounded by
/// `--shutdown-timeout`.
#[test]
fn sigterm_drain_is_bounded_by_shutdown_timeout() {
    let mut g = Server::start(Kind::Gearboxd, &["--shutdown-timeout", "1"]);
    let mut c = Conn::connect(g.addr);
    let mut w = Conn::connect(g.addr);
    w.send_req(T::CanDo, &[b"f"]);
    c.request_req(T::SubmitJob, &[b"f", b"", b"never finishes"]);
    assert!(w.request_req(T::GrabJob, &[])[0].is(T::JobAssign));
    let started = Instant::now();
    g.terminate();
    let status = g
        .wait_exit(Duration::from_secs(10))
        .unwrap_or_else(|| panic!("gearboxd still running 10 s after SIGTERM\n{}", g.log()));
    assert!(status.success(), "exit status {status}\n{}", g.log());
    assert!(
        started.elapsed() >= Duration::from_millis(900),
        "exited after {:?}, before the job could finish",
        started.elapsed()
    );
    c.expect_closed();
    w.expect_closed();
}
