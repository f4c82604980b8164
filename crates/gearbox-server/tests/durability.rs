//! Durability of gearboxd's default SQLite store, end to end with the real binary: every
//! background job whose JOB_CREATED a client received survives `kill -9` and is completed
//! after the restart.

#[allow(unused_macros)]
mod support;

use std::collections::HashSet;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use bytes::BytesMut;
use gearbox_proto::{encode_packet, Codec, Frame, Magic, Packet, PacketType};
use support::{Kind, Server, TempDir};

const JOBS: u64 = 100_000;
/// Submissions written per batch; JOB_CREATED answers are read concurrently.
const BATCH: u64 = 500;
const LIMIT: Duration = Duration::from_secs(120);

fn start(data: &TempDir) -> Server {
    let dir = data.path().to_str().expect("utf-8 temp path").to_owned();
    Server::start(Kind::Gearboxd, &["--data-dir", &dir])
}

/// Read packets from `stream` until it closes or `deadline`, handing each to `each`;
/// `each` returns false to stop.
fn read_packets(stream: &mut TcpStream, deadline: Instant, mut each: impl FnMut(Packet) -> bool) {
    let codec = Codec::default();
    let mut buf = BytesMut::with_capacity(64 * 1024);
    let mut chunk = vec![0u8; 64 * 1024];
    stream
        .set_read_timeout(Some(Duration::from_millis(200)))
        .expect("read timeout");
    while Instant::now() < deadline {
        match stream.read(&mut chunk) {
            Ok(0) => return,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                continue
            }
            Err(_) => return,
        }
        while let Ok(Some(frame)) = codec.decode(&mut buf) {
            if let Frame::Packet(packet) = frame {
                if !each(packet) {
                    return;
                }
            }
        }
    }
}

/// Submit `JOBS` background jobs (workload = job number) as fast as the server takes them;
/// return the numbers whose JOB_CREATED arrived, however the connection ends.
fn submit_until_killed(addr: SocketAddr, acked: mpsc::Sender<u64>) {
    let mut stream = TcpStream::connect(addr).expect("connect");
    let mut reader = stream.try_clone().expect("clone stream");
    let writer = thread::spawn(move || {
        let mut out = BytesMut::new();
        for start in (0..JOBS).step_by(BATCH as usize) {
            out.clear();
            for n in start..(start + BATCH).min(JOBS) {
                let data = n.to_string();
                encode_packet(
                    &mut out,
                    Magic::Req,
                    PacketType::SubmitJobBg,
                    &[b"crash", b""],
                    data.as_bytes(),
                );
            }
            if stream.write_all(&out).is_err() {
                return;
            }
        }
    });
    // JOB_CREATED answers come in submission order.
    let mut next = 0u64;
    read_packets(&mut reader, Instant::now() + LIMIT, |packet| {
        assert_eq!(
            packet.kind,
            PacketType::JobCreated,
            "unexpected {:?}",
            packet.kind
        );
        let _ = acked.send(next);
        next += 1;
        next < JOBS
    });
    let _ = writer.join();
}

/// Run a worker until no job has come for a while; return the workloads it completed.
fn drain(addr: SocketAddr) -> Vec<u64> {
    let mut stream = TcpStream::connect(addr).expect("connect worker");
    let mut out = BytesMut::new();
    encode_packet(&mut out, Magic::Req, PacketType::CanDo, &[], b"crash");
    encode_packet(&mut out, Magic::Req, PacketType::GrabJob, &[], b"");
    stream.write_all(&out).expect("register");
    let mut writer = stream.try_clone().expect("clone");
    let mut done = Vec::new();
    let mut idle_since = Instant::now();
    let codec = Codec::default();
    let mut buf = BytesMut::new();
    let mut chunk = vec![0u8; 64 * 1024];
    stream
        .set_read_timeout(Some(Duration::from_millis(100)))
        .expect("timeout");
    let deadline = Instant::now() + LIMIT;
    while Instant::now() < deadline && idle_since.elapsed() < Duration::from_secs(2) {
        match stream.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(_) => continue,
        }
        let mut reply = BytesMut::new();
        while let Ok(Some(Frame::Packet(packet))) = codec.decode(&mut buf) {
            match packet.kind {
                PacketType::JobAssign => {
                    idle_since = Instant::now();
                    let args = packet.args().expect("JOB_ASSIGN layout");
                    let n: u64 = std::str::from_utf8(args.last()).unwrap().parse().unwrap();
                    done.push(n);
                    encode_packet(
                        &mut reply,
                        Magic::Req,
                        PacketType::WorkComplete,
                        &[args.get(0)],
                        b"",
                    );
                    encode_packet(&mut reply, Magic::Req, PacketType::GrabJob, &[], b"");
                }
                PacketType::NoJob => {
                    encode_packet(&mut reply, Magic::Req, PacketType::PreSleep, &[], b"");
                }
                PacketType::Noop => {
                    encode_packet(&mut reply, Magic::Req, PacketType::GrabJob, &[], b"");
                }
                other => panic!("worker got {other:?}"),
            }
        }
        writer.write_all(&reply).expect("worker write");
    }
    done
}

#[test]
fn acknowledged_background_jobs_survive_kill_9() {
    let data = TempDir::new("crash");
    let server = start(&data);
    let addr = server.addr;
    let pid = server.pid();
    let (tx, rx) = mpsc::channel();
    let submitter = thread::spawn(move || submit_until_killed(addr, tx));

    // Kill the server in the middle of the stream of submissions.
    let mut acked = Vec::new();
    let deadline = Instant::now() + LIMIT;
    while acked.len() < 30_000 {
        match rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
            Ok(n) => acked.push(n),
            Err(e) => panic!("only {} jobs acknowledged before {e:?}", acked.len()),
        }
    }
    let killed = std::process::Command::new("kill")
        .args(["-9", &pid.to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    submitter.join().expect("submitter");
    acked.extend(rx.try_iter());
    drop(server);
    assert!(
        (acked.len() as u64) < JOBS,
        "the kill came too late to test anything"
    );

    let server = start(&data);
    let done = drain(server.addr);
    let distinct: HashSet<u64> = done.iter().copied().collect();
    let lost: Vec<u64> = acked
        .iter()
        .copied()
        .filter(|n| !distinct.contains(n))
        .collect();
    assert!(
        lost.is_empty(),
        "{} acknowledged jobs lost, e.g. {:?}",
        lost.len(),
        &lost[..lost.len().min(10)]
    );
    // No worker ran before the kill, so nothing may run twice.
    assert_eq!(done.len(), distinct.len(), "duplicated jobs after replay");
    // Jobs committed whose JOB_CREATED was still in flight may run too (at-least-once).
    let unacknowledged = distinct.len() - acked.len();
    eprintln!(
        "acknowledged {}, completed after restart {}, committed but unacknowledged {unacknowledged}",
        acked.len(),
        distinct.len()
    );
    assert!(
        server.status().get("crash").is_some_and(|s| s.0 == 0),
        "queue drained"
    );
}

#[test]
fn memory_mode_loses_jobs_on_restart_as_gearmand_does() {
    let data = TempDir::new("memory");
    let dir = data.path().to_str().unwrap().to_owned();
    let server = Server::start(Kind::Gearboxd, &["-q", "memory", "--data-dir", &dir]);
    let mut stream = TcpStream::connect(server.addr).unwrap();
    let mut out = BytesMut::new();
    encode_packet(
        &mut out,
        Magic::Req,
        PacketType::SubmitJobBg,
        &[b"gone", b""],
        b"x",
    );
    stream.write_all(&out).unwrap();
    let mut created = false;
    read_packets(&mut stream, Instant::now() + Duration::from_secs(10), |p| {
        created = p.kind == PacketType::JobCreated;
        false
    });
    assert!(created);
    drop(server);
    let server = Server::start(Kind::Gearboxd, &["-q", "memory", "--data-dir", &dir]);
    assert!(!server.status().contains_key("gone"));
    assert!(
        !data.join("gearbox.db").exists(),
        "memory mode writes no database"
    );
}
