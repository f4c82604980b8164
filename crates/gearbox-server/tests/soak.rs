//! A fault soak, bounded in time, against gearboxd in its default durable mode: background
//! submitters, foreground clients that hang up in the middle of their jobs, a client that
//! stops reading its replies, workers that die holding jobs, and the server itself killed
//! with `kill -9` and restarted on the same store, twice, all at once. Afterwards a clean
//! worker drains the queue, and then:
//! * every background job whose JOB_CREATED arrived has completed;
//! * no job completed twice within one life of the server (a job may run again only after a
//!   `kill -9` that came before its completion was committed: at-least-once, docs/durability.md);
//! * the server answers as it should.

use std::collections::{HashMap, HashSet};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use bytes::BytesMut;
use gearbox_proto::{encode_packet, Codec, Frame, Magic, Packet, PacketType as T};
use gearbox_testkit::{Kind, Server, TempDir};

/// How long the faults go on.
const CHAOS: Duration = Duration::from_secs(15);
/// How long the clean worker may take to drain what is left.
const DRAIN: Duration = Duration::from_secs(60);
const FUNCTION: &[u8] = b"soak";
/// Background jobs each submitter sends at most (the soak is about faults, not volume).
const PER_SUBMITTER: u64 = 3_000;

/// What every thread shares: where the server is now, and which life of it that is.
struct Shared {
    addr: Mutex<SocketAddr>,
    life: AtomicU64,
    stop: AtomicBool,
    /// Uniques whose JOB_CREATED arrived.
    acked: Mutex<HashSet<String>>,
    /// Completions sent, as (unique, life of the server then).
    completed: Mutex<Vec<(String, u64)>>,
    next: AtomicU64,
}

/// A blocking connection that reports failure instead of panicking (the server dies here).
struct Link {
    stream: TcpStream,
    buf: BytesMut,
}

impl Link {
    fn open(shared: &Shared) -> Option<Link> {
        let addr = *shared.addr.lock().unwrap();
        let stream = TcpStream::connect_timeout(&addr, Duration::from_millis(500)).ok()?;
        stream
            .set_read_timeout(Some(Duration::from_millis(300)))
            .ok()?;
        // Small requests back to back: without it Nagle holds each for a delayed ACK.
        stream.set_nodelay(true).ok()?;
        Some(Link {
            stream,
            buf: BytesMut::new(),
        })
    }

    fn send(&mut self, kind: T, fields: &[&[u8]], last: &[u8]) -> Option<()> {
        let mut out = BytesMut::new();
        encode_packet(&mut out, Magic::Req, kind, fields, last);
        self.stream.write_all(&out).ok()
    }

    /// The next packet within `wait`; `None` on timeout or a dead connection.
    fn recv(&mut self, wait: Duration) -> Option<Packet> {
        let deadline = Instant::now() + wait;
        let codec = Codec::default();
        let mut chunk = [0u8; 16 * 1024];
        loop {
            if let Ok(Some(Frame::Packet(p))) = codec.decode(&mut self.buf) {
                return Some(p);
            }
            if Instant::now() >= deadline {
                return None;
            }
            match self.stream.read(&mut chunk) {
                Ok(0) => return None,
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) => {}
                Err(_) => return None,
            }
        }
    }
}

fn unique_of(packet: &Packet) -> Option<String> {
    let args = packet.args().ok()?;
    Some(String::from_utf8_lossy(args.get(2)).into_owned())
}

/// Background submissions, one at a time, recording each acknowledged unique.
fn submitter(shared: Arc<Shared>) {
    let mut sent = 0;
    while !shared.stop.load(Ordering::Relaxed) && sent < PER_SUBMITTER {
        let Some(mut link) = Link::open(&shared) else {
            thread::sleep(Duration::from_millis(50));
            continue;
        };
        while !shared.stop.load(Ordering::Relaxed) && sent < PER_SUBMITTER {
            sent += 1;
            // Spread over the whole soak, so that the kills fall among submissions.
            thread::sleep(Duration::from_millis(4));
            let unique = format!("bg-{}", shared.next.fetch_add(1, Ordering::Relaxed));
            if link
                .send(T::SubmitJobBg, &[FUNCTION, unique.as_bytes()], b"payload")
                .is_none()
            {
                break;
            }
            match link.recv(Duration::from_secs(2)) {
                Some(p) if p.kind == T::JobCreated => {
                    shared.acked.lock().unwrap().insert(unique);
                }
                Some(_) => {}
                None => break,
            }
        }
    }
}

/// Foreground jobs abandoned at random moments: right after submitting, or after
/// JOB_CREATED.
fn deserter(shared: Arc<Shared>, seed: u64) {
    let mut rng = fastrand_like(seed);
    while !shared.stop.load(Ordering::Relaxed) {
        let Some(mut link) = Link::open(&shared) else {
            thread::sleep(Duration::from_millis(50));
            continue;
        };
        let unique = format!("fg-{}", shared.next.fetch_add(1, Ordering::Relaxed));
        let _ = link.send(T::SubmitJob, &[FUNCTION, unique.as_bytes()], b"payload");
        if rng().is_multiple_of(2) {
            let _ = link.recv(Duration::from_millis(200));
        }
        drop(link);
        thread::sleep(Duration::from_millis(rng() % 20));
    }
}

/// A client that submits foreground jobs and reads nothing for seconds at a time.
fn slow_reader(shared: Arc<Shared>) {
    while !shared.stop.load(Ordering::Relaxed) {
        let Some(mut link) = Link::open(&shared) else {
            thread::sleep(Duration::from_millis(50));
            continue;
        };
        for _ in 0..50 {
            let unique = format!("slow-{}", shared.next.fetch_add(1, Ordering::Relaxed));
            if link
                .send(T::SubmitJob, &[FUNCTION, unique.as_bytes()], &[b's'; 4096])
                .is_none()
            {
                break;
            }
        }
        thread::sleep(Duration::from_secs(2));
        while link.recv(Duration::from_millis(100)).is_some() {}
    }
}

/// A worker that completes jobs, and dies holding one now and then (`crash_one_in`; 0 never).
fn worker(shared: Arc<Shared>, crash_one_in: u64, seed: u64, until: impl Fn() -> bool) {
    let mut rng = fastrand_like(seed);
    while !until() {
        let Some(mut link) = Link::open(&shared) else {
            thread::sleep(Duration::from_millis(50));
            continue;
        };
        if link.send(T::CanDo, &[], FUNCTION).is_none() {
            continue;
        }
        loop {
            if until() || link.send(T::GrabJobUniq, &[], b"").is_none() {
                break;
            }
            let Some(reply) = link.recv(Duration::from_secs(1)) else {
                break;
            };
            match reply.kind {
                T::JobAssignUniq => {
                    let life = shared.life.load(Ordering::Relaxed);
                    if crash_one_in != 0 && rng().is_multiple_of(crash_one_in) {
                        break; // dies holding the job
                    }
                    let args = reply.args().expect("JOB_ASSIGN_UNIQ");
                    let handle = args.get(0).to_vec();
                    let unique = unique_of(&reply).unwrap_or_default();
                    if link.send(T::WorkComplete, &[&handle], b"done").is_none() {
                        break;
                    }
                    if unique.starts_with("bg-") {
                        shared.completed.lock().unwrap().push((unique, life));
                    }
                }
                T::NoJob => {
                    if link.send(T::PreSleep, &[], b"").is_none() {
                        break;
                    }
                    // A NOOP, or a timeout, then grab again.
                    let _ = link.recv(Duration::from_millis(300));
                }
                _ => {}
            }
        }
    }
}

/// A small deterministic generator (xorshift), so that a failure can be replayed by seed.
fn fastrand_like(seed: u64) -> impl FnMut() -> u64 {
    let mut state = seed | 1;
    move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    }
}

#[test]
fn faults_everywhere_lose_no_acknowledged_job() {
    let data = TempDir::new("soak");
    let dir = data.path().to_string_lossy().into_owned();
    let args = ["--data-dir", dir.as_str()];
    let mut server = Server::start(Kind::Gearboxd, &args);
    let shared = Arc::new(Shared {
        addr: Mutex::new(server.addr),
        life: AtomicU64::new(0),
        stop: AtomicBool::new(false),
        acked: Mutex::new(HashSet::new()),
        completed: Mutex::new(Vec::new()),
        next: AtomicU64::new(0),
    });
    let mut threads = Vec::new();
    for i in 0..2 {
        let s = shared.clone();
        threads.push(thread::spawn(move || submitter(s)));
        let s = shared.clone();
        threads.push(thread::spawn(move || deserter(s, 7 + i)));
        let s = shared.clone();
        threads.push(thread::spawn(move || {
            let stop = s.clone();
            worker(s, 5, 11 + i, move || stop.stop.load(Ordering::Relaxed))
        }));
    }
    let s = shared.clone();
    threads.push(thread::spawn(move || slow_reader(s)));

    // Two kill -9s, a third and two thirds of the way through.
    let started = Instant::now();
    for kill_at in [CHAOS / 3, CHAOS * 2 / 3] {
        thread::sleep(kill_at.saturating_sub(started.elapsed()));
        drop(server);
        shared.life.fetch_add(1, Ordering::Relaxed);
        server = Server::start(Kind::Gearboxd, &args);
        *shared.addr.lock().unwrap() = server.addr;
    }
    thread::sleep(CHAOS.saturating_sub(started.elapsed()));
    shared.stop.store(true, Ordering::Relaxed);
    for t in threads {
        t.join().expect("a soak thread panicked");
    }

    // A clean worker drains what is left.
    let acked = shared.acked.lock().unwrap().clone();
    assert!(acked.len() > 100, "only {} jobs acknowledged", acked.len());
    let deadline = Instant::now() + DRAIN;
    let done = {
        let s = shared.clone();
        let acked = acked.clone();
        let next_check = std::cell::Cell::new(Instant::now());
        let finished = std::cell::Cell::new(false);
        move || {
            // Worked out every 100 ms (it walks every completion); the answer in between is
            // the last one.
            if finished.get() || Instant::now() < next_check.get() {
                return finished.get();
            }
            next_check.set(Instant::now() + Duration::from_millis(100));
            let completed: HashSet<String> = s
                .completed
                .lock()
                .unwrap()
                .iter()
                .map(|(u, _)| u.clone())
                .collect();
            finished.set(Instant::now() >= deadline || acked.is_subset(&completed));
            finished.get()
        }
    };
    worker(shared.clone(), 0, 99, done);

    let completed = shared.completed.lock().unwrap().clone();
    let mut runs: HashMap<&str, Vec<u64>> = HashMap::new();
    for (unique, life) in &completed {
        runs.entry(unique).or_default().push(*life);
    }
    let lost: Vec<&String> = acked
        .iter()
        .filter(|u| !runs.contains_key(u.as_str()))
        .collect();
    assert!(
        lost.is_empty(),
        "{} of {} acknowledged jobs never completed, e.g. {:?}; the server's status: {:?}",
        lost.len(),
        acked.len(),
        &lost[..lost.len().min(5)],
        server.status()
    );
    let twice_in_one_life: Vec<_> = runs
        .iter()
        .filter(|(_, lives)| {
            let distinct: HashSet<_> = lives.iter().collect();
            distinct.len() != lives.len()
        })
        .collect();
    assert!(
        twice_in_one_life.is_empty(),
        "jobs completed twice within one life of the server: {twice_in_one_life:?}"
    );
    let again = runs.values().filter(|lives| lives.len() > 1).count();
    eprintln!(
        "acknowledged {}, completed {}, ran again after a kill -9 {again}",
        acked.len(),
        runs.len()
    );
    // The server is still serving after all that.
    gearbox_testkit::wire::assert_serving(server.addr);
}
