//! A cluster node's invariants under random interleavings (issue 14): one node under test and
//! a fake shared table that another node also claims from. Background submissions with
//! colliding unique ids, a worker grabbing, sleeping and completing, the table committing
//! batches (refusing a new job equal to a stored one, as the unique index does), commit
//! reports reaching the engine late (after claims of the same rows, as the real threads may),
//! claims by this node (for what its workers want, or at random) and by the other node.
//!
//! Checked throughout: this node's worker only ever runs a job whose row this node owns (so
//! no other node can run it at the same time). Checked at the end, after everything has been
//! committed, reported, claimed and run: every job whose JOB_CREATED a client received ran
//! exactly once in the cluster (here or on the other node), nothing ran that nobody was told
//! of, and neither the table nor the node holds anything.

use std::collections::{BTreeMap, VecDeque};

use gearbox_store::Coalesced;
use proptest::prelude::*;

use super::*;

const WORKER: ConnId = ConnId(1);

fn client(i: u8) -> ConnId {
    ConnId(10 + u32::from(i % 2))
}

#[derive(Debug, Clone)]
enum Action {
    /// A background submission to `f` (which the worker does from the start) or `g` (which it
    /// takes up only later, so until then this node offers every `g` job); unique 0 is none,
    /// else `u<n>`.
    Submit {
        client: u8,
        g: bool,
        unique: u8,
    },
    /// The worker registers `g` too.
    CanDoG,
    Grab,
    PreSleep,
    /// The worker completes the oldest job it holds.
    Complete,
    /// The table commits the next `n` writes as one batch.
    Store {
        n: u8,
    },
    /// The oldest commit report reaches the engine.
    Report,
    /// This node claims what its workers want.
    ClaimWanted,
    /// This node claims up to `n` rows anyway (a heartbeat's claim).
    ClaimHere {
        n: u8,
    },
    /// The other node claims up to `n` rows and runs them.
    ClaimRemote {
        n: u8,
    },
}

fn action() -> impl Strategy<Value = Action> {
    prop_oneof![
        5 => (any::<u8>(), any::<bool>(), 0..4u8)
            .prop_map(|(client, g, unique)| Action::Submit { client, g, unique }),
        1 => Just(Action::CanDoG),
        3 => Just(Action::Grab),
        1 => Just(Action::PreSleep),
        3 => Just(Action::Complete),
        3 => (1..5u8).prop_map(|n| Action::Store { n }),
        3 => Just(Action::Report),
        2 => Just(Action::ClaimWanted),
        1 => (1..4u8).prop_map(|n| Action::ClaimHere { n }),
        1 => (1..4u8).prop_map(|n| Action::ClaimRemote { n }),
    ]
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Owner {
    Here,
    Remote,
}

#[derive(Debug)]
struct Row {
    job: StoredJob,
    owner: Option<Owner>,
}

struct World {
    h: Harness,
    table: BTreeMap<u64, Row>,
    /// Writes the engine sent, not yet committed.
    writes: VecDeque<(u64, StoreOp)>,
    /// Committed batches whose report the engine has not had: last sequence number, and the
    /// new jobs the table refused as equal to stored ones.
    reports: VecDeque<(u64, Vec<Coalesced>)>,
    /// Job ids whose JOB_CREATED a client received.
    acked: Vec<u64>,
    /// Jobs the worker holds, oldest first: (handle, id).
    held: VecDeque<(String, u64)>,
    /// Runs per job id, here and on the other node.
    runs: BTreeMap<u64, u32>,
}

/// The id in a handle `<prefix>:<id>`.
fn id_of(handle: &str) -> u64 {
    handle.rsplit(':').next().unwrap().parse().unwrap()
}

impl World {
    fn new() -> World {
        let mut h = Harness::with(EngineConfig {
            handle_prefix: "H:n1".into(),
            durable: true,
            cluster: true,
            first_handle: 5 << 40,
            ..EngineConfig::default()
        });
        h.connect(1);
        h.connect(10);
        h.connect(11);
        h.send(WORKER, T::CanDo, &[b"f"]);
        World {
            h,
            table: BTreeMap::new(),
            writes: VecDeque::new(),
            reports: VecDeque::new(),
            acked: Vec::new(),
            held: VecDeque::new(),
            runs: BTreeMap::new(),
        }
    }

    /// Take in what the engine sent: writes to commit, JOB_CREATED to count, jobs handed to
    /// the worker (which must be this node's rows).
    fn absorb(&mut self, sent: Vec<Sent>) -> Result<(), TestCaseError> {
        for s in sent {
            match s {
                Sent::Persist(seq, op) => self.writes.push_back((seq, op)),
                Sent::Packet(conn, T::JobCreated, args) if conn != WORKER => {
                    self.acked
                        .push(id_of(std::str::from_utf8(&args[0]).unwrap()));
                }
                Sent::Packet(conn, T::Error, args) => {
                    return Err(TestCaseError::fail(format!(
                        "ERROR to {conn:?}: {:?}",
                        args.iter()
                            .map(|a| String::from_utf8_lossy(a))
                            .collect::<Vec<_>>()
                    )))
                }
                Sent::Packet(WORKER, T::JobAssignUniq, args) => {
                    let handle = String::from_utf8(args[0].clone()).unwrap();
                    let id = id_of(&handle);
                    let owner = self.table.get(&id).and_then(|r| r.owner);
                    prop_assert_eq!(
                        owner,
                        Some(Owner::Here),
                        "job {} handed to this node's worker while its row is {:?}",
                        id,
                        self.table.get(&id)
                    );
                    self.held.push_back((handle, id));
                }
                _ => {}
            }
        }
        Ok(())
    }

    fn take(&mut self) -> Vec<Sent> {
        std::mem::take(&mut self.h.out.sent)
    }

    fn step(&mut self, action: &Action) -> Result<(), TestCaseError> {
        let sent = match action {
            Action::Submit {
                client: c,
                g,
                unique,
            } => {
                let unique = if *unique == 0 {
                    String::new()
                } else {
                    format!("u{unique}")
                };
                let function: &[u8] = if *g { b"g" } else { b"f" };
                self.h.send(
                    client(*c),
                    T::SubmitJobBg,
                    &[function, unique.as_bytes(), b"d"],
                )
            }
            Action::CanDoG => self.h.send(WORKER, T::CanDo, &[b"g"]),
            Action::Grab => self.h.send(WORKER, T::GrabJobUniq, &[]),
            Action::PreSleep => self.h.send(WORKER, T::PreSleep, &[]),
            Action::Complete => match self.held.pop_front() {
                Some((handle, id)) => {
                    *self.runs.entry(id).or_default() += 1;
                    self.h
                        .send(WORKER, T::WorkComplete, &[handle.as_bytes(), b"ok"])
                }
                None => Vec::new(),
            },
            Action::Store { n } => {
                self.commit(usize::from(*n));
                Vec::new()
            }
            Action::Report => {
                self.report();
                self.take()
            }
            Action::ClaimWanted => {
                let wanted = self.h.engine.take_wanted();
                let n: u32 = wanted.iter().map(|(_, n)| *n).sum();
                self.claim(Owner::Here, n as usize);
                self.take()
            }
            Action::ClaimHere { n } => {
                self.claim(Owner::Here, usize::from(*n));
                self.take()
            }
            Action::ClaimRemote { n } => {
                self.claim(Owner::Remote, usize::from(*n));
                Vec::new()
            }
        };
        self.absorb(sent)
    }

    /// Commit the next `n` writes as one batch, as the PostgreSQL store does.
    fn commit(&mut self, n: usize) {
        let mut last = None;
        let mut coalesced = Vec::new();
        for _ in 0..n {
            let Some((seq, op)) = self.writes.pop_front() else {
                break;
            };
            last = Some(seq);
            let (job, owner) = match op {
                StoreOp::Put(job) => (job, Some(Owner::Here)),
                StoreOp::Offer(job) => (job, None),
                StoreOp::Done { id } => {
                    self.table.remove(&id);
                    continue;
                }
                StoreOp::PutRecord(_) | StoreOp::DropRecord { .. } => continue,
            };
            if let Some(row) = self.table.get_mut(&job.id) {
                row.job = job;
                row.owner = owner;
                continue;
            }
            let equal = (!job.unique.is_empty()).then(|| {
                self.table
                    .values()
                    .find(|r| r.job.function == job.function && r.job.unique == job.unique)
                    .map(|r| r.job.id)
            });
            match equal.flatten() {
                Some(existing) => coalesced.push(Coalesced {
                    id: job.id,
                    handle: Bytes::from(format!("H:n0:{existing}")),
                }),
                None => {
                    self.table.insert(job.id, Row { job, owner });
                }
            }
        }
        if let Some(last) = last {
            self.reports.push_back((last, coalesced));
        }
    }

    fn report(&mut self) {
        if let Some((through, coalesced)) = self.reports.pop_front() {
            self.h.engine.coalesced(coalesced);
            self.h
                .engine
                .committed(through, None, self.h.now, &mut self.h.out);
        }
    }

    /// Claim up to `n` unowned rows, by priority and id.
    fn claim(&mut self, who: Owner, n: usize) {
        let mut ids: Vec<(u8, u64)> = self
            .table
            .values()
            .filter(|r| r.owner.is_none())
            .map(|r| (r.job.priority, r.job.id))
            .collect();
        ids.sort_unstable();
        ids.truncate(n);
        let mut claimed = Vec::new();
        for (_, id) in ids {
            match who {
                Owner::Here => {
                    let row = self.table.get_mut(&id).unwrap();
                    row.owner = Some(Owner::Here);
                    claimed.push(row.job.clone());
                }
                Owner::Remote => {
                    // The other node runs it and deletes the row.
                    self.table.remove(&id);
                    *self.runs.entry(id).or_default() += 1;
                }
            }
        }
        if !claimed.is_empty() {
            self.h.engine.claimed(claimed, self.h.now, &mut self.h.out);
        }
    }

    /// Commit, report, claim and run everything.
    fn drain(&mut self) -> Result<(), TestCaseError> {
        self.step(&Action::CanDoG)?;
        for _ in 0..500 {
            if self.writes.is_empty()
                && self.reports.is_empty()
                && self.table.is_empty()
                && self.held.is_empty()
            {
                break;
            }
            self.commit(self.writes.len());
            while !self.reports.is_empty() {
                self.report();
                let sent = self.take();
                self.absorb(sent)?;
            }
            self.claim(Owner::Here, 4);
            let sent = self.take();
            self.absorb(sent)?;
            let sent = self.h.send(WORKER, T::GrabJobUniq, &[]);
            self.absorb(sent)?;
            self.step(&Action::Complete)?;
        }
        Ok(())
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn every_acknowledged_job_runs_once_in_the_cluster(
        actions in proptest::collection::vec(action(), 1..80)
    ) {
        let mut w = World::new();
        for action in &actions {
            w.step(action)?;
        }
        w.drain()?;
        prop_assert!(w.table.is_empty(), "rows left: {:?}", w.table);
        prop_assert!(w.writes.is_empty() && w.held.is_empty());
        for id in &w.acked {
            prop_assert_eq!(w.runs.get(id).copied(), Some(1), "job {} ran {:?} times", id, w.runs.get(id));
        }
        for (id, runs) in &w.runs {
            prop_assert!(w.acked.contains(id), "job {} ran {} times, nobody was told of it", id, runs);
        }
        prop_assert_eq!(w.h.admin(WORKER, "show jobs"), ".\n", "the node still holds jobs");
    }
}
