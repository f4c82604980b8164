//! The engine's output invariants under random interleavings and store delays (issue 9).
//!
//! A durable engine runs random mixes of foreground and background submissions of every
//! priority on several client connections, with coalescing uniques, workers grabbing and
//! answering at random moments, workers lost mid-job, status and echo requests, and a fake
//! store whose commits (and read-backs, with a workload limit) complete after random delays
//! or fail. After every step the packets the engine produced are checked against a model of
//! what each connection may receive:
//! - replies to a connection's own requests arrive in request order;
//! - no WORK_* for a job reaches a connection before that job's JOB_CREATED, and none after
//!   its last terminal packet;
//! - a job a background submission created is never handed to a worker before its store write
//!   is committed (a foreground job that a background submission joined stays runnable).
//!
//! At the end everything is committed and run to completion, and every foreground submission
//! has had exactly one terminal packet, every acknowledged background job has finished exactly
//! once, and every request has had its answer.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};

use proptest::prelude::*;

use super::*;

/// Client connections are 10, 11, 12; workers 1 and 2, the first doing `f` and `g`, the second
/// only `f`. Clients register `f` too, so that worker requests also arrive on connections
/// whose output is held behind a commit.
const CLIENTS: u32 = 3;
const WORKERS: u32 = 2;

fn client(i: u8) -> ConnId {
    ConnId(10 + u32::from(i) % CLIENTS)
}

fn worker(i: u8) -> ConnId {
    ConnId(1 + u32::from(i) % WORKERS)
}

/// Any connection: a worker or a client.
fn any_conn(i: u8) -> ConnId {
    match u32::from(i) % (WORKERS + CLIENTS) {
        n if n < WORKERS => ConnId(1 + n),
        n => ConnId(10 + n - WORKERS),
    }
}

const SUBMITS: [T; 6] = [
    T::SubmitJob,
    T::SubmitJobBg,
    T::SubmitJobHigh,
    T::SubmitJobHighBg,
    T::SubmitJobLow,
    T::SubmitJobLowBg,
];

#[derive(Debug, Clone)]
enum Action {
    /// A client submits to `f` or `g`: kind index into [`SUBMITS`], unique (0: none, else
    /// `u<n>`), workload.
    Submit {
        client: u8,
        g: bool,
        kind: u8,
        unique: u8,
        data: u8,
    },
    Grab {
        worker: u8,
        uniq: bool,
    },
    PreSleep {
        worker: u8,
    },
    /// A worker reports on the `nth` job it holds.
    Work {
        worker: u8,
        nth: u8,
        what: u8,
    },
    /// A worker connection is lost and a new one registers in its place.
    Lose {
        worker: u8,
    },
    Echo {
        client: u8,
    },
    /// GET_STATUS for the `nth` handle seen so far.
    Status {
        client: u8,
        nth: u8,
    },
    /// The store works through its next `n` operations.
    Store {
        n: u8,
    },
    /// The store's next transaction fails.
    StoreFails,
}

fn action() -> impl Strategy<Value = Action> {
    prop_oneof![
        6 => (any::<u8>(), any::<bool>(), 0..6u8, 0..4u8, 0..3u8).prop_map(
            |(client, g, kind, unique, data)| Action::Submit { client, g, kind, unique, data }
        ),
        4 => (any::<u8>(), any::<bool>()).prop_map(|(worker, uniq)| Action::Grab { worker, uniq }),
        2 => any::<u8>().prop_map(|worker| Action::PreSleep { worker }),
        5 => (any::<u8>(), any::<u8>(), 0..6u8)
            .prop_map(|(worker, nth, what)| Action::Work { worker, nth, what }),
        1 => any::<u8>().prop_map(|worker| Action::Lose { worker }),
        1 => any::<u8>().prop_map(|client| Action::Echo { client }),
        1 => (any::<u8>(), any::<u8>()).prop_map(|(client, nth)| Action::Status { client, nth }),
        4 => (1..6u8).prop_map(|n| Action::Store { n }),
        1 => Just(Action::StoreFails),
    ]
}

/// A request whose direct reply a connection waits for, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expect {
    Created { background: bool },
    Status,
    Echo,
    Grab,
}

/// What one connection has asked for and been told.
#[derive(Debug, Default)]
struct Peer {
    expect: VecDeque<Expect>,
    /// Foreground submissions per handle still owed a terminal packet.
    open: HashMap<Vec<u8>, u32>,
    /// Jobs held, as a worker.
    held: Vec<Vec<u8>>,
}

/// An operation queued at the fake store, in the order the engine issued it.
#[derive(Debug)]
enum Queued {
    Write(u64, StoreOp),
    Load(u64, Vec<u64>),
}

struct World {
    h: Harness,
    peers: BTreeMap<ConnId, Peer>,
    store: VecDeque<Queued>,
    /// Rows the store holds (committed Puts not yet Done).
    rows: BTreeMap<u64, Bytes>,
    /// Store ids of Puts issued and not yet reported.
    uncommitted: BTreeSet<u64>,
    /// The next transaction fails.
    fail_next: bool,
    /// Background jobs acknowledged with JOB_CREATED, by handle.
    acked: BTreeSet<Vec<u8>>,
    /// Terminal results the engine accepted from workers, per handle.
    finished: HashMap<Vec<u8>, u32>,
    /// Every handle seen, for GET_STATUS.
    handles: Vec<Vec<u8>>,
}

fn register(h: &mut Harness, worker: ConnId) {
    h.send(worker, T::CanDo, &[b"f"]);
    if worker.0 == 1 {
        h.send(worker, T::CanDo, &[b"g"]);
    }
}

fn store_id(handle: &[u8]) -> u64 {
    let digits = handle.rsplit(|&b| b == b':').next().unwrap_or_default();
    std::str::from_utf8(digits).unwrap().parse().unwrap()
}

impl World {
    fn new(worker_wakeup: u32, resident_jobs: u32) -> World {
        let mut h = Harness::with(EngineConfig {
            durable: true,
            worker_wakeup,
            resident_jobs,
            handle_prefix: "H:test".into(),
            ..EngineConfig::default()
        });
        let mut peers = BTreeMap::new();
        for w in 0..WORKERS {
            let id = h.connect(1 + w);
            register(&mut h, id);
            peers.insert(id, Peer::default());
        }
        for c in 0..CLIENTS {
            let id = h.connect(10 + c);
            h.send(id, T::CanDo, &[b"f"]);
            peers.insert(id, Peer::default());
        }
        World {
            h,
            peers,
            store: VecDeque::new(),
            rows: BTreeMap::new(),
            uncommitted: BTreeSet::new(),
            fail_next: false,
            acked: BTreeSet::new(),
            finished: HashMap::new(),
            handles: Vec::new(),
        }
    }

    /// Check what the engine just produced against the model, and keep the store's share.
    fn absorb(&mut self) {
        let problems = self.h.engine.audit();
        assert!(
            problems.is_empty(),
            "the engine is inconsistent: {problems:#?}"
        );
        for sent in std::mem::take(&mut self.h.out.sent) {
            match sent {
                Sent::Persist(seq, op) => {
                    if let StoreOp::Put(job) = &op {
                        self.uncommitted.insert(job.id);
                    }
                    self.store.push_back(Queued::Write(seq, op));
                }
                Sent::Load(token, ids) => self.store.push_back(Queued::Load(token, ids)),
                Sent::Packet(conn, kind, args) => self.received(conn, kind, &args),
                Sent::Text(conn, text) => panic!("unexpected admin text to {conn:?}: {text}"),
                other => panic!("unexpected {other:?}"),
            }
        }
    }

    fn received(&mut self, conn: ConnId, kind: T, args: &[Vec<u8>]) {
        let peer = self.peers.get_mut(&conn).expect("a known connection");
        let handle = args.first().cloned().unwrap_or_default();
        let direct = match kind {
            T::JobCreated | T::Error => Some(Expect::Created { background: false }),
            T::StatusRes => Some(Expect::Status),
            T::EchoRes => Some(Expect::Echo),
            T::JobAssign | T::JobAssignUniq | T::NoJob => Some(Expect::Grab),
            _ => None,
        };
        if let Some(expected) = direct {
            let front = peer.expect.pop_front();
            let matches = match (front, expected) {
                (Some(Expect::Created { .. }), Expect::Created { .. }) => true,
                (Some(a), b) => a == b,
                (None, _) => false,
            };
            assert!(
                matches,
                "{conn:?} got {kind:?} {args:?} while waiting for {front:?} (reply order)"
            );
            match (kind, front) {
                (T::JobCreated, Some(Expect::Created { background })) => {
                    self.handles.push(handle.clone());
                    if background {
                        self.acked.insert(handle);
                    } else {
                        *peer.open.entry(handle).or_default() += 1;
                    }
                }
                (T::JobAssign | T::JobAssignUniq, _) => {
                    // Only a foreground job that a background submission joined may run while
                    // that write is pending; such a job has a foreground client.
                    let foreground = self
                        .h
                        .engine
                        .lookup(&handle)
                        .is_some_and(|j| !self.h.engine.jobs[j].listeners.is_empty());
                    assert!(
                        !self.uncommitted.contains(&store_id(&handle)) || foreground,
                        "{handle:?} handed to {conn:?} before its store write committed"
                    );
                    peer.held.push(handle);
                }
                (T::Error, _) => {
                    assert_eq!(
                        args[0], b"QUEUE_ERROR",
                        "only the store refuses submissions"
                    );
                }
                _ => {}
            }
            return;
        }
        match kind {
            T::Noop => {}
            T::WorkData | T::WorkWarning | T::WorkStatus => assert!(
                peer.open.get(&handle).is_some_and(|&n| n > 0),
                "{conn:?} got {kind:?} for {handle:?} outside JOB_CREATED..terminal"
            ),
            T::WorkComplete | T::WorkFail | T::WorkException => {
                let open = peer.open.get_mut(&handle);
                assert!(
                    open.as_ref().is_some_and(|n| **n > 0),
                    "{conn:?} got {kind:?} for {handle:?} outside JOB_CREATED..terminal"
                );
                if let Some(n) = open {
                    *n -= 1;
                }
            }
            other => panic!("{conn:?} got unexpected {other:?}"),
        }
    }

    fn submit_to(&mut self, client: ConnId, kind: T, function: &[u8], unique: u8, data: u8) {
        let unique = if unique == 0 {
            String::new()
        } else {
            format!("u{unique}")
        };
        let background = matches!(
            kind,
            T::SubmitJobBg | T::SubmitJobHighBg | T::SubmitJobLowBg
        );
        self.peers
            .get_mut(&client)
            .unwrap()
            .expect
            .push_back(Expect::Created { background });
        let data = format!("d{data}");
        let packet = Packet::req(kind, &[function, unique.as_bytes(), data.as_bytes()]);
        self.h
            .engine
            .packet(client, &packet, self.h.now, &mut self.h.out);
    }

    fn request(&mut self, conn: ConnId, kind: T, args: &[&[u8]], expect: Expect) {
        self.peers.get_mut(&conn).unwrap().expect.push_back(expect);
        let packet = Packet::req(kind, args);
        self.h
            .engine
            .packet(conn, &packet, self.h.now, &mut self.h.out);
    }

    /// A worker reports on a job it holds; terminal reports are counted per handle.
    fn work(&mut self, conn: ConnId, nth: u8, what: u8) {
        let held = &mut self.peers.get_mut(&conn).unwrap().held;
        if held.is_empty() {
            return;
        }
        let at = usize::from(nth) % held.len();
        let handle = held[at].clone();
        let kind = match what {
            0 => T::WorkData,
            1 => T::WorkStatus,
            2 => T::WorkWarning,
            3 => T::WorkFail,
            4 => T::WorkException,
            _ => T::WorkComplete,
        };
        let args: Vec<&[u8]> = match kind {
            T::WorkStatus => vec![&handle, b"1", b"2"],
            T::WorkFail => vec![&handle],
            _ => vec![&handle, b"r"],
        };
        let packet = Packet::req(kind, &args);
        self.h
            .engine
            .packet(conn, &packet, self.h.now, &mut self.h.out);
        if matches!(kind, T::WorkComplete | T::WorkFail | T::WorkException) {
            held.remove(at);
            *self.finished.entry(handle).or_default() += 1;
        }
    }

    fn lose(&mut self, conn: ConnId) {
        self.h.engine.disconnect(conn, self.h.now, &mut self.h.out);
        self.absorb();
        self.peers.insert(conn, Peer::default());
        self.h.connect(conn.0);
        register(&mut self.h, conn);
        self.absorb();
    }

    /// The store works through up to `n` queued operations: each run of writes is one
    /// transaction, reported committed (or failed); a read-back sees every earlier write.
    fn store(&mut self, n: u8) {
        let mut left = n;
        while left > 0 {
            let Some(front) = self.store.pop_front() else {
                return;
            };
            left -= 1;
            match front {
                Queued::Load(token, ids) => self.h.read_back(token, &ids, &self.rows),
                Queued::Write(seq, op) => {
                    let mut batch = vec![(seq, op)];
                    while left > 0 && matches!(self.store.front(), Some(Queued::Write(..))) {
                        if let Some(Queued::Write(seq, op)) = self.store.pop_front() {
                            batch.push((seq, op));
                        }
                        left -= 1;
                    }
                    let failed = std::mem::take(&mut self.fail_next);
                    let last = batch.last().map_or(0, |(seq, _)| *seq);
                    for (_, op) in batch {
                        match op {
                            StoreOp::Put(job) | StoreOp::Offer(job) => {
                                self.uncommitted.remove(&job.id);
                                if !failed {
                                    self.rows.insert(job.id, job.data);
                                }
                            }
                            StoreOp::Done { id } if !failed => {
                                self.rows.remove(&id);
                            }
                            // No policy is configured and no cluster runs here.
                            _ => {}
                        }
                    }
                    let failure = failed.then_some("disk full");
                    self.h
                        .engine
                        .committed(last, failure, self.h.now, &mut self.h.out);
                }
            }
            self.absorb();
        }
    }

    fn step(&mut self, action: &Action) {
        match *action {
            Action::Submit {
                client: c,
                g,
                kind,
                unique,
                data,
            } => {
                let function = if g { b"g" } else { b"f" };
                self.submit_to(
                    client(c),
                    SUBMITS[usize::from(kind)],
                    function,
                    unique,
                    data,
                );
            }
            Action::Grab { worker: w, uniq } => {
                let kind = if uniq { T::GrabJobUniq } else { T::GrabJob };
                self.request(any_conn(w), kind, &[], Expect::Grab);
            }
            Action::PreSleep { worker: w } => {
                self.h.send(any_conn(w), T::PreSleep, &[]);
                self.absorb();
                return;
            }
            Action::Work {
                worker: w,
                nth,
                what,
            } => self.work(any_conn(w), nth, what),
            Action::Lose { worker: w } => return self.lose(worker(w)),
            Action::Echo { client: c } => {
                self.request(client(c), T::EchoReq, &[b"ping"], Expect::Echo);
            }
            Action::Status { client: c, nth } => {
                let handle = if self.handles.is_empty() {
                    b"H:test:0".to_vec()
                } else {
                    self.handles[usize::from(nth) % self.handles.len()].clone()
                };
                self.request(client(c), T::GetStatus, &[&handle], Expect::Status);
            }
            Action::Store { n } => return self.store(n),
            Action::StoreFails => {
                self.fail_next = true;
                return;
            }
        }
        self.absorb();
    }

    /// Commit everything, finish every job a connection holds, and run the rest to
    /// completion with the first worker.
    fn finish(&mut self) {
        self.fail_next = false;
        for _ in 0..10_000 {
            self.store(u8::MAX);
            for c in 0..(WORKERS + CLIENTS) as u8 {
                while !self.peers[&any_conn(c)].held.is_empty() {
                    self.work(any_conn(c), 0, 5);
                    self.absorb();
                }
            }
            if self.h.engine.jobs_in_memory() == 0 && self.store.is_empty() {
                return;
            }
            self.request(worker(0), T::GrabJobUniq, &[], Expect::Grab);
            self.absorb();
        }
        panic!("the jobs did not drain");
    }

    fn check_end(&self) {
        for (conn, peer) in &self.peers {
            assert!(
                peer.expect.is_empty(),
                "{conn:?} still waits for {:?}",
                peer.expect
            );
            let owed: Vec<_> = peer.open.iter().filter(|(_, &n)| n > 0).collect();
            assert!(
                owed.is_empty(),
                "{conn:?} never got a terminal packet for {owed:?}"
            );
        }
        for handle in &self.acked {
            assert_eq!(
                self.finished.get(handle).copied().unwrap_or(0),
                1,
                "acknowledged background job {handle:?} must finish exactly once"
            );
        }
    }
}

fn run(worker_wakeup: u32, resident_jobs: u32, actions: &[Action]) {
    let mut world = World::new(worker_wakeup, resident_jobs);
    for action in actions {
        world.step(action);
    }
    world.finish();
    world.check_end();
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn replies_stay_in_order_and_every_job_is_answered_once(
        wakeup in 0..3u32,
        actions in proptest::collection::vec(action(), 1..80),
    ) {
        run(wakeup, 0, &actions);
    }

    #[test]
    fn the_same_holds_with_workloads_read_back_from_the_store(
        actions in proptest::collection::vec(action(), 1..80),
    ) {
        run(1, 2, &actions);
    }
}

/// The exchange that hung the PECL client (issue 9): one connection pipelines foreground and
/// background submissions of every priority while a worker answers each job at once. The
/// background jobs go to another function here, so that their pending commits hold back
/// nothing but the connection's output.
#[test]
fn foreground_results_wait_behind_earlier_background_acknowledgements() {
    let mut world = World::new(1, 0);
    let c = client(0);
    for (kind, function) in [
        (T::SubmitJobBg, &b"g"[..]),
        (T::SubmitJob, b"f"),
        (T::SubmitJobHighBg, b"g"),
        (T::SubmitJobHigh, b"f"),
        (T::SubmitJobLowBg, b"g"),
        (T::SubmitJobLow, b"f"),
    ] {
        world.submit_to(c, kind, function, 0, 0);
        world.absorb();
        // The second worker does only `f`.
        world.step(&Action::Grab {
            worker: 1,
            uniq: true,
        });
        world.work(worker(1), 0, 5);
        world.absorb();
    }
    assert!(
        world.peers[&c].expect.len() == 6,
        "nothing may reach the client before the first commit"
    );
    world.finish();
    world.check_end();
}
