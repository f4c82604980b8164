//! A cluster node's invariants under random interleavings (issue 14): one node under test and
//! a fake shared table that another node also claims from. Background and foreground
//! submissions with colliding unique ids, clients leaving, a worker grabbing, sleeping and
//! completing, the table committing batches (refusing a new job equal to a stored one, as the
//! unique index does, and then watching it or making it background), commit reports reaching
//! the engine late (after claims of the same rows, as the real threads may), claims by this
//! node (for what its workers want, or at random) and by the other node, the other node's
//! foreground clients joining rows, `cancel job` asked on the other node (which deletes a row,
//! relays WORK_FAIL to its watchers and orders this node to cancel a row it owns), and the
//! work packets relayed between the nodes arriving late.
//!
//! Checked throughout: this node's worker only ever runs a job whose row this node owns (so
//! no other node can run it at the same time), and every reply a client gets is for a
//! submission it made, in order. Checked at the end, after everything has been committed,
//! reported, claimed, run and relayed: every job whose JOB_CREATED a client received ran
//! exactly once in the cluster (here or on the other node), or at most once if cancelled;
//! every foreground client still connected heard exactly one end per submission under the
//! handle it heard (WORK_COMPLETE, or WORK_FAIL for a cancelled job); every client of the
//! other node that joined a row heard its end exactly once;
//! nothing ran that nobody submitted; neither the table nor the node holds anything.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use gearbox_store::{ClaimedJob, Coalesced, Relayed};
use proptest::prelude::*;

use super::*;

const WORKER: ConnId = ConnId(1);
/// The connection asking admin commands.
const ADMIN: ConnId = ConnId(5);

#[derive(Debug, Clone)]
enum Action {
    /// A submission, background or foreground, to `f` (which the worker does from the start)
    /// or `g` (which it takes up only later, so until then this node offers every `g` job);
    /// unique 0 is none, else `u<n>`.
    Submit {
        client: u8,
        g: bool,
        unique: u8,
        foreground: bool,
    },
    /// A client disconnects (and a new one takes its place): its foreground jobs need not run.
    Leave {
        client: u8,
    },
    /// A foreground client of the other node submits to `g` with unique `u<n>`: if a row
    /// holds an equal job, it watches that row.
    RemoteJoin {
        unique: u8,
    },
    /// The packets relayed to this node arrive.
    Deliver,
    /// The worker registers `g` too.
    CanDoG,
    /// The worker disconnects (its jobs go back to their queues, and with no worker left the
    /// node gives its queued jobs back to the table) and a new one takes its place.
    WorkerLeaves,
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
    /// `cancel job` on the other node for the row at `pick` (modulo the rows there are).
    CancelRemote {
        pick: u8,
    },
    /// `cancel job` on this node for the job with the `pick`th id submitted so far (modulo
    /// their number): it may be here, in the table, or gone.
    CancelHere {
        pick: u8,
    },
}

fn action() -> impl Strategy<Value = Action> {
    prop_oneof![
        5 => (any::<u8>(), any::<bool>(), 0..4u8, any::<bool>()).prop_map(
            |(client, g, unique, foreground)| Action::Submit { client, g, unique, foreground }
        ),
        1 => any::<u8>().prop_map(|client| Action::Leave { client }),
        1 => (1..4u8).prop_map(|unique| Action::RemoteJoin { unique }),
        2 => Just(Action::Deliver),
        1 => Just(Action::CanDoG),
        1 => Just(Action::WorkerLeaves),
        3 => Just(Action::Grab),
        1 => Just(Action::PreSleep),
        3 => Just(Action::Complete),
        3 => (1..5u8).prop_map(|n| Action::Store { n }),
        3 => Just(Action::Report),
        2 => Just(Action::ClaimWanted),
        1 => (1..4u8).prop_map(|n| Action::ClaimHere { n }),
        1 => (1..4u8).prop_map(|n| Action::ClaimRemote { n }),
        1 => any::<u8>().prop_map(|pick| Action::CancelRemote { pick }),
        1 => any::<u8>().prop_map(|pick| Action::CancelHere { pick }),
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
    /// A background submission made or joined it.
    background: bool,
    /// This node watches it.
    watched_here: bool,
    /// A client of the other node watches it.
    watched_remote: bool,
}

struct World {
    h: Harness,
    table: BTreeMap<u64, Row>,
    /// Writes the engine sent, not yet committed.
    writes: VecDeque<(u64, StoreOp)>,
    /// Committed batches whose report the engine has not had: last sequence number, and the
    /// new jobs the table refused as equal to stored ones.
    reports: VecDeque<(u64, Vec<Coalesced>)>,
    /// Job ids whose background JOB_CREATED a client received.
    acked: Vec<u64>,
    /// The connection each client slot uses now (a slot that left gets a new one).
    clients: [ConnId; 2],
    /// Per connection, the submissions not yet answered, oldest first: foreground or not.
    asked: BTreeMap<ConnId, VecDeque<bool>>,
    /// Foreground submissions answered, per (connection, handle heard): WORK_COMPLETEs
    /// expected and received.
    waits: BTreeMap<(ConnId, String), (u32, u32)>,
    /// Connections that left.
    left: BTreeSet<ConnId>,
    /// Submissions whose client left before hearing JOB_CREATED (they may run unannounced).
    unanswered: usize,
    /// Ids foreground submissions stored or were told (they may run with nobody left).
    foreground_ids: BTreeSet<u64>,
    /// Packets relayed to this node, not yet delivered.
    inbox: Vec<Relayed>,
    /// Rows the other node's clients watch: how many times clients there began watching a
    /// row of that id (a row may be written again after its end: given back after a cancel
    /// that crossed it), and the ends they heard.
    remote_ends: BTreeMap<u64, (u32, u32)>,
    /// Rows run by this node's worker.
    ran_here: BTreeSet<u64>,
    /// The worker does `g`.
    does_g: bool,
    /// Jobs the worker holds, oldest first: (handle, id).
    held: VecDeque<(String, u64)>,
    /// Runs per job id, here and on the other node.
    runs: BTreeMap<u64, u32>,
    /// Jobs (by id) a `cancel job` was asked for, on either node.
    cancelled: BTreeSet<u64>,
    /// Every job id the engine wrote, in order.
    ids: Vec<u64>,
    /// New jobs the table refused as equal to a stored one: new id → stored id.
    joins: BTreeMap<u64, u64>,
    /// The job the worker completed last.
    completing: Option<u64>,
}

/// The id in a handle `<prefix>:<id>`.
fn id_of(handle: &str) -> u64 {
    handle.rsplit(':').next().unwrap().parse().unwrap()
}

impl World {
    fn new() -> World {
        let mut h = Harness::with(super::cluster::node_config());
        h.connect(1);
        h.connect(ADMIN.0);
        let clients = [h.connect(10), h.connect(11)];
        h.send(WORKER, T::CanDo, &[b"f"]);
        World {
            h,
            table: BTreeMap::new(),
            writes: VecDeque::new(),
            reports: VecDeque::new(),
            acked: Vec::new(),
            clients,
            asked: BTreeMap::new(),
            waits: BTreeMap::new(),
            left: BTreeSet::new(),
            unanswered: 0,
            foreground_ids: BTreeSet::new(),
            inbox: Vec::new(),
            remote_ends: BTreeMap::new(),
            ran_here: BTreeSet::new(),
            does_g: false,
            held: VecDeque::new(),
            runs: BTreeMap::new(),
            cancelled: BTreeSet::new(),
            ids: Vec::new(),
            completing: None,
            joins: BTreeMap::new(),
        }
    }

    /// Take in what the engine sent: writes to commit, JOB_CREATED to count, jobs handed to
    /// the worker (which must be this node's rows).
    fn absorb(&mut self, sent: Vec<Sent>) -> Result<(), TestCaseError> {
        for s in sent {
            match s {
                Sent::Persist(seq, op) => {
                    if let StoreOp::Put(job) | StoreOp::Offer(job) | StoreOp::OfferWatched(job) =
                        &op
                    {
                        self.ids.push(job.id);
                    }
                    self.writes.push_back((seq, op));
                }
                // The store cancels after every write queued before, and answers.
                Sent::Cancel(token, id) => {
                    self.commit(self.writes.len());
                    let found = self.cancel_row(id);
                    let rows = if found {
                        vec![(id, Bytes::new())]
                    } else {
                        Vec::new()
                    };
                    self.h
                        .engine
                        .loaded(token, Ok(rows), self.h.now, &mut self.h.out);
                    let sent = self.take();
                    self.absorb(sent)?;
                }
                Sent::Packet(conn, T::JobCreated, args) if conn != WORKER => {
                    let handle = String::from_utf8(args[0].clone()).unwrap();
                    let foreground = self.asked.get_mut(&conn).and_then(VecDeque::pop_front);
                    match foreground {
                        Some(true) => {
                            self.foreground_ids.insert(id_of(&handle));
                            self.waits.entry((conn, handle)).or_default().0 += 1;
                        }
                        Some(false) => self.acked.push(id_of(&handle)),
                        None => {
                            return Err(TestCaseError::fail(format!(
                                "JOB_CREATED {handle} to {conn:?}, which asked for nothing"
                            )))
                        }
                    }
                }
                Sent::Packet(conn, kind @ (T::WorkComplete | T::WorkFail), args)
                    if conn != WORKER
                        && (kind == T::WorkComplete
                            || self.was_cancelled(id_of(&String::from_utf8_lossy(&args[0])))) =>
                {
                    let handle = String::from_utf8(args[0].clone()).unwrap();
                    match self.waits.get_mut(&(conn, handle.clone())) {
                        Some(wait) => wait.1 += 1,
                        None => {
                            return Err(TestCaseError::fail(format!(
                                "{kind:?} {handle} to {conn:?}, which was not told of it"
                            )))
                        }
                    }
                }
                Sent::Packet(conn, kind @ (T::WorkFail | T::WorkException), args)
                    if conn != WORKER =>
                {
                    return Err(TestCaseError::fail(format!(
                        "{kind:?} {:?} to {conn:?}",
                        String::from_utf8_lossy(&args[0])
                    )))
                }
                // The result of a job cancelled while the worker ran it.
                Sent::Packet(WORKER, T::Error, args)
                    if args[0] == b"JOB_NOT_FOUND"
                        && self.completing.is_some_and(|id| self.was_cancelled(id)) => {}
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
                    // A foreground job kept here has no row; any other must be this node's.
                    if let Some(row) = self.table.get(&id) {
                        prop_assert_eq!(
                            row.owner,
                            Some(Owner::Here),
                            "job {} handed to this node's worker while its row is {:?}",
                            id,
                            row
                        );
                    }
                    self.held.push_back((handle, id));
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// Whether a cancel was asked for the job `id` or for a job that joined it.
    fn was_cancelled(&self, id: u64) -> bool {
        self.cancelled.contains(&id)
            || self
                .joins
                .iter()
                .any(|(new, stored)| *stored == id && self.cancelled.contains(new))
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
                foreground,
            } => {
                let unique = if *unique == 0 {
                    String::new()
                } else {
                    format!("u{unique}")
                };
                let function: &[u8] = if *g { b"g" } else { b"f" };
                let conn = self.clients[usize::from(c % 2)];
                self.asked.entry(conn).or_default().push_back(*foreground);
                let kind = if *foreground {
                    T::SubmitJob
                } else {
                    T::SubmitJobBg
                };
                self.h
                    .send(conn, kind, &[function, unique.as_bytes(), b"d"])
            }
            Action::Leave { client: c } => {
                let slot = usize::from(c % 2);
                let conn = self.clients[slot];
                self.left.insert(conn);
                self.unanswered += self.asked.get(&conn).map_or(0, VecDeque::len);
                let sent = self.h.close(conn);
                let next = ConnId(conn.0 + 2);
                self.h.connect(next.0);
                self.clients[slot] = next;
                sent
            }
            Action::RemoteJoin { unique } => {
                let unique = format!("u{unique}");
                if let Some(row) = self
                    .table
                    .values_mut()
                    .find(|r| &r.job.function[..] == b"g" && r.job.unique == unique.as_bytes())
                {
                    if !row.watched_remote {
                        row.watched_remote = true;
                        self.remote_ends.entry(row.job.id).or_default().0 += 1;
                    }
                }
                Vec::new()
            }
            Action::Deliver => {
                let packets = std::mem::take(&mut self.inbox);
                if !packets.is_empty() {
                    self.h.engine.relayed(packets, self.h.now, &mut self.h.out);
                }
                self.take()
            }
            Action::CanDoG => {
                self.does_g = true;
                self.h.send(WORKER, T::CanDo, &[b"g"])
            }
            Action::WorkerLeaves => {
                let mut sent = self.h.close(WORKER);
                self.held.clear();
                self.h.connect(WORKER.0);
                sent.extend(self.h.send(WORKER, T::CanDo, &[b"f"]));
                if self.does_g {
                    sent.extend(self.h.send(WORKER, T::CanDo, &[b"g"]));
                }
                sent
            }
            Action::Grab => self.h.send(WORKER, T::GrabJobUniq, &[]),
            Action::PreSleep => self.h.send(WORKER, T::PreSleep, &[]),
            Action::Complete => match self.held.pop_front() {
                Some((handle, id)) => {
                    self.completing = Some(id);
                    *self.runs.entry(id).or_default() += 1;
                    self.ran_here.insert(id);
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
            Action::CancelRemote { pick } => {
                if !self.table.is_empty() {
                    let pick = usize::from(*pick) % self.table.len();
                    let id = *self.table.keys().nth(pick).unwrap();
                    self.cancelled.insert(id);
                    self.cancel_row(id);
                }
                Vec::new()
            }
            Action::CancelHere { pick } => {
                if self.ids.is_empty() {
                    return Ok(());
                }
                let id = self.ids[usize::from(*pick) % self.ids.len()];
                self.cancelled.insert(id);
                let line = Bytes::from(format!("cancel job H:n1:{id}"));
                self.h.engine.admin(ADMIN, &line, &mut self.h.out);
                self.take()
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
            let (job, owner, watched) = match op {
                StoreOp::Put(job) => (job, Some(Owner::Here), false),
                StoreOp::Offer(job) => (job, None, false),
                StoreOp::OfferWatched(job) => {
                    self.foreground_ids.insert(job.id);
                    (job, None, true)
                }
                StoreOp::Done { id } => {
                    self.table.remove(&id);
                    continue;
                }
                StoreOp::Relay {
                    id,
                    kind,
                    data,
                    last,
                } => {
                    if let Some(row) = self.table.get(&id) {
                        if row.watched_remote && last {
                            self.remote_ends.entry(id).or_default().1 += 1;
                        }
                        if row.watched_here {
                            self.inbox.push(Relayed { id, kind, data });
                        }
                    }
                    if last {
                        self.table.remove(&id);
                    }
                    continue;
                }
                StoreOp::Release {
                    id,
                    give_back,
                    unwatch,
                } => {
                    if let Some(row) = self.table.get_mut(&id) {
                        if unwatch {
                            row.watched_here = false;
                        }
                        if give_back && row.owner == Some(Owner::Here) {
                            row.owner = None;
                        }
                        if unwatch && !row.background && row.owner.is_none() && !row.watched_remote
                        {
                            self.table.remove(&id);
                        }
                    }
                    continue;
                }
                StoreOp::Adopt { id } => {
                    if let Some(row) = self.table.get_mut(&id) {
                        row.background = true;
                    }
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
                    .values_mut()
                    .find(|r| r.job.function == job.function && r.job.unique == job.unique)
            });
            match equal.flatten() {
                Some(existing) => {
                    if watched {
                        existing.watched_here = true;
                    } else {
                        existing.background = true;
                    }
                    self.joins.insert(job.id, existing.job.id);
                    coalesced.push(Coalesced {
                        id: job.id,
                        handle: Bytes::from(format!("H:n0:{}", existing.job.id)),
                    });
                }
                None => {
                    self.table.insert(
                        job.id,
                        Row {
                            job,
                            owner,
                            background: !watched,
                            watched_here: watched,
                            watched_remote: false,
                        },
                    );
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

    /// `cancel job` of the row `id` as the PostgreSQL store carries it out: the row goes, the
    /// watchers hear WORK_FAIL, and the owner (if this node) the order to cancel it too.
    /// Whether the row was there.
    fn cancel_row(&mut self, id: u64) -> bool {
        let Some(row) = self.table.remove(&id) else {
            return false;
        };
        self.end_row(&row, T::WorkFail, b"");
        if row.owner == Some(Owner::Here) {
            self.inbox.push(Relayed {
                id,
                kind: gearbox_store::CANCEL_RELAY,
                data: Bytes::new(),
            });
        }
        true
    }

    /// A row ended with `kind`: the other node's clients watching it hear it, and so does
    /// this node if it watches it (relayed).
    fn end_row(&mut self, row: &Row, kind: T, data: &'static [u8]) {
        let id = row.job.id;
        if row.watched_remote {
            self.remote_ends.entry(id).or_default().1 += 1;
        }
        if row.watched_here {
            self.inbox.push(Relayed {
                id,
                kind: kind as u8,
                data: Bytes::from_static(data),
            });
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
                    claimed.push(ClaimedJob {
                        job: row.job.clone(),
                        background: row.background,
                        watched_here: row.watched_here,
                        watched_elsewhere: row.watched_remote,
                    });
                }
                Owner::Remote => {
                    // The other node runs it, relays its end to this node if this node
                    // watches it, and deletes the row.
                    let row = self.table.remove(&id).unwrap();
                    self.end_row(&row, T::WorkComplete, b"ok");
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
                && self.inbox.is_empty()
                && self.h.admin(WORKER, "show jobs") == ".\n"
            {
                break;
            }
            self.commit(self.writes.len());
            while !self.reports.is_empty() {
                self.report();
                let sent = self.take();
                self.absorb(sent)?;
            }
            self.step(&Action::Deliver)?;
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
            let problems = w.h.engine.audit();
            prop_assert!(problems.is_empty(), "after {:?}: {:?}", action, problems);
        }
        w.drain()?;
        prop_assert!(w.table.is_empty(), "rows left: {:?}", w.table);
        prop_assert!(w.writes.is_empty() && w.held.is_empty());
        let ran_right = |id: u64| match w.runs.get(&id).copied() {
            Some(1) => true,
            None => w.was_cancelled(id),
            Some(_) => false,
        };
        for id in &w.acked {
            prop_assert!(ran_right(*id), "job {} ran {:?} times", id, w.runs.get(id));
        }
        for ((conn, handle), (expected, heard)) in &w.waits {
            if !w.left.contains(conn) {
                prop_assert_eq!(expected, heard, "{:?} heard {} ends of {}", conn, heard, handle);
                prop_assert!(ran_right(id_of(handle)), "job {} ran {:?} times", handle, w.runs.get(&id_of(handle)));
            }
        }
        for (id, (watches, ends)) in &w.remote_ends {
            prop_assert_eq!(watches, ends, "the other node's clients of {} heard {} ends", id, ends);
        }
        let unannounced = w
            .runs
            .keys()
            .filter(|id| !w.acked.contains(id) && !w.foreground_ids.contains(id))
            .count();
        prop_assert!(
            unannounced <= w.unanswered,
            "{} jobs ran that nobody was told of, but only {} submissions went unanswered",
            unannounced, w.unanswered
        );
        for (id, runs) in &w.runs {
            prop_assert_eq!(*runs, 1, "job {} ran {} times", id, runs);
        }
        prop_assert_eq!(w.h.admin(WORKER, "show jobs"), ".\n", "the node still holds jobs");
    }
}
