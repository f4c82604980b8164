//! Cluster mode (`--cluster`): the queue of background jobs is the shared PostgreSQL table, and
//! this node runs the part of it its workers claim.
//!
//! A background job accepted here is kept (stored as this node's and queued here, as in a
//! single server) when this node's workers for its function will take it soon (see
//! [`Engine::keeps`]); otherwise it is offered: stored unowned for any node to claim, and forgotten here once its
//! JOB_CREATED has gone out. Workers that find nothing (NO_JOB, PRE_SLEEP) make their
//! functions wanted; the network layer claims for them from the table and hands the claimed
//! jobs to [`Engine::claimed`], which queues them and wakes the workers. A claimed job is this
//! node's like any other: it is written and deleted as in a single server.
//!
//! This module only decides and keeps the engine's side; the table, the claims and the
//! heartbeats are `gearbox_store::Cluster`'s, driven by the network layer. Outside cluster
//! mode nothing here changes anything.

use bytes::Bytes;
use gearbox_proto::PacketType;
use gearbox_store::ClaimedJob;

use super::job::JobState;
use rustc_hash::FxHashMap;

use super::function::Sleeper;
use super::parse::parse_decimal;
use super::records::{number_key, RESULT};
use super::status::flag;
use super::{ConnId, Engine, FnId, Outbox, StoreOp};

/// Jobs a node keeps queued per worker of a function, claimed ahead.
const PREFETCH: usize = 16;
/// Most jobs one claim takes.
const MAX_CLAIM: usize = 256;

/// A node of the cluster as its last heartbeat showed it, for the admin `nodes`.
#[derive(Debug, Clone, PartialEq)]
pub struct NodeView {
    /// Its name.
    pub node: String,
    /// Seconds since its heartbeat.
    pub heartbeat_age: f64,
    /// Seconds since it started.
    pub uptime: f64,
    /// It fires the cluster's schedules (as far as this node knows: only its own part).
    pub leader: bool,
}

/// What a heartbeat tells a node about the cluster.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ClusterView {
    /// The nodes.
    pub nodes: Vec<NodeView>,
    /// This node fires the schedules.
    pub leader: bool,
    /// Jobs waiting unclaimed in the table, by function, per priority (high, normal, low).
    pub waiting: Vec<(Bytes, [u64; 3])>,
    /// Jobs other nodes hold (queued there or running), by function, per priority.
    pub held: Vec<(Bytes, [u64; 3])>,
    /// The schedule records the shared table holds, and the dead letters new to it.
    pub records: Vec<gearbox_store::StoredRecord>,
    /// The keys of every dead letter the shared table holds.
    pub synced: Vec<(u8, Bytes)>,
    /// When the heartbeat began reading the table (engine milliseconds).
    pub read_at: u64,
}

/// A lookup in the store: who asked, and what.
#[derive(Debug)]
enum Lookup {
    /// GET_STATUS: the handle asked and its number.
    Handle(ConnId, u64, Bytes),
    /// GET_STATUS_UNIQUE: the unique asked.
    Unique(ConnId, Bytes),
    /// `cancel job` of a job another node may hold.
    Cancel(Asker),
    /// `result HANDLE` of a job another node may hold or have ended: its number.
    Result(Asker, u64),
}

/// The answer to an admin command the store could not carry out.
const STORE_FAILED: &[u8] = b"ERR QUEUE_ERROR the+job+store+failed\r\n";

/// Who waits for the answer of a `cancel job` that the store carries out.
#[derive(Debug, Clone, Copy)]
pub(super) enum Asker {
    /// A connection: the answer waits in its place among the connection's replies.
    Conn(ConnId),
    /// The operator (the HTTP API): the network layer takes the answer.
    Operator,
    /// Nobody: the job was cancelled here already (it waited here for another node's).
    Nobody,
}

/// The engine's cluster state.
#[derive(Debug, Default)]
pub(super) struct ClusterState {
    /// Functions whose workers found nothing since the network layer last asked.
    wanted: Vec<FnId>,
    /// The nodes, as of the last heartbeat.
    pub(super) nodes: Vec<NodeView>,
    /// Jobs waiting unclaimed in the table, as of the last heartbeat.
    pub(super) waiting: std::collections::BTreeMap<Bytes, [u64; 3]>,
    /// Jobs other nodes hold, as of the last heartbeat.
    held: std::collections::BTreeMap<Bytes, u64>,
    /// Lookups in the store, by read-back token.
    lookups: FxHashMap<u64, Lookup>,
    /// The operator's answers that waited for the store ([`Lookup::Cancel`]), by token, for
    /// the network layer to take ([`Engine::take_operator_answers`]).
    operator_answers: Vec<(u64, Vec<u8>)>,
    /// In a cluster: this node holds the leader's lock and fires the schedules. `None`
    /// outside a cluster (a single server fires its own).
    leader: Option<bool>,
    /// New jobs the store did not keep because an equal one was stored, by id, with that
    /// one's handle; taken when their commit is reported.
    joined: FxHashMap<u64, Bytes>,
    /// Offered jobs this node claimed back before their commit was reported to it (the
    /// claim and the commit report travel on different threads): they stay.
    reclaimed: rustc_hash::FxHashSet<u64>,
    /// Jobs cancelled while their offer was being committed, by handle number: the clients
    /// whose WORK_FAIL waits for the commit report, which tells the handle they hear.
    pub(super) failed_on_commit: FxHashMap<u64, Vec<ConnId>>,
    /// Submitted schedules the shared table held at the last heartbeat (`schedule.rs`).
    schedules_seen: std::collections::BTreeSet<u64>,
}

impl ClusterState {
    /// The state of a node (`cluster`) or of a single server.
    pub(super) fn new(cluster: bool) -> ClusterState {
        ClusterState {
            // A node fires nothing until a heartbeat says it leads.
            leader: cluster.then_some(false),
            ..ClusterState::default()
        }
    }

    /// Whether this node fires schedules: outside a cluster always, in one only as leader.
    pub(super) fn leads(&self) -> bool {
        self.leader.unwrap_or(true)
    }
}

impl Engine {
    /// Whether a new background job of `f` stays on this node: this node has workers for `f`
    /// and fewer jobs queued or on their way for them than it would claim ahead
    /// ([`PREFETCH`] per worker), or more sleeping workers than that. Always outside a
    /// cluster. So a node keeps what its own workers will take soon (stored and deleted as on
    /// a single server) and offers the rest to the cluster.
    pub(super) fn keeps(&self, f: FnId) -> bool {
        if !self.config.cluster {
            return true;
        }
        let function = &self.functions[f];
        let ahead: u32 = function.queues.iter().map(|q| q.len()).sum::<u32>()
            + function.pending.iter().sum::<u32>();
        let room = (function.workers as usize * PREFETCH).min(MAX_CLAIM);
        room.max(self.live_sleepers(f)) > ahead as usize
    }

    /// Workers of `f` asleep and not yet woken.
    fn live_sleepers(&self, f: FnId) -> usize {
        let conns = &self.conns;
        let alive = |s: &Sleeper| {
            conns
                .get(s.conn)
                .is_some_and(|c| c.sleep_serial == s.serial && c.sleeping && !c.noop_sent)
        };
        self.functions[f]
            .sleepers
            .iter()
            .filter(|s| alive(s))
            .count()
    }

    /// In a cluster, the worker `conn` found nothing: its functions are wanted.
    pub(super) fn want_for(&mut self, conn: super::ConnId) {
        if !self.config.cluster {
            return;
        }
        if let Some(c) = self.conns.get(conn) {
            self.cluster
                .wanted
                .extend(c.abilities.iter().map(|a| a.function));
        }
    }

    /// Whether workers found nothing since [`Engine::take_wanted`] was last called.
    pub fn has_wanted(&self) -> bool {
        !self.cluster.wanted.is_empty()
    }

    /// The functions this node's workers found nothing for, each with how many jobs to claim:
    /// one per sleeping worker (at least one, for a worker that polls with GRAB instead of
    /// sleeping) less what is queued here already. Empties the list.
    pub fn take_wanted(&mut self) -> Vec<(Bytes, u32)> {
        let mut wanted = std::mem::take(&mut self.cluster.wanted);
        wanted.sort_unstable();
        wanted.dedup();
        wanted
            .into_iter()
            .filter(|&f| self.functions.contains(f))
            .map(|f| (self.functions[f].name.clone(), self.demand_of(f, 1)))
            .collect()
    }

    /// Jobs to claim for the function `name` now: its sleeping workers less its queued jobs.
    pub fn demand(&self, name: &[u8]) -> u32 {
        self.function_ids
            .get(name)
            .map_or(0, |&f| self.demand_of(f, 0))
    }

    /// Every function with sleeping workers that nothing queued here serves, with
    /// [`Engine::demand`].
    pub fn demands(&self) -> Vec<(Bytes, u32)> {
        self.functions
            .iter()
            .filter(|(_, function)| function.workers > 0)
            .map(|(f, function)| (function.name.clone(), self.demand_of(f, 0)))
            .filter(|&(_, n)| n > 0)
            .collect()
    }

    /// How many jobs of `f` to claim: enough to keep [`PREFETCH`] jobs queued per worker of
    /// this node (at most [`MAX_CLAIM`] at once), and at least one per sleeping worker (and
    /// `floor`), less what is queued already. Workers never wait for a claim's round trip
    /// while the table has jobs, and no node holds more than a few jobs per worker that
    /// another node's idle workers could have run.
    fn demand_of(&self, f: FnId, floor: usize) -> u32 {
        let function = &self.functions[f];
        let queued: u32 = function.queues.iter().map(|q| q.len()).sum();
        let prefetch = (function.workers as usize * PREFETCH).min(MAX_CLAIM);
        let want = self.live_sleepers(f).max(floor).max(prefetch);
        u32::try_from(want)
            .unwrap_or(u32::MAX)
            .saturating_sub(queued)
    }

    /// A worker took a job of `f`: in a cluster, claim more before the queue runs dry.
    pub(super) fn taken(&mut self, f: FnId) {
        if !self.config.cluster {
            return;
        }
        let function = &self.functions[f];
        let queued: u32 = function.queues.iter().map(|q| q.len()).sum();
        if (queued as usize) < function.workers as usize * PREFETCH / 2 {
            self.cluster.wanted.push(f);
        }
    }

    /// In a cluster, `f` has no worker on this node any more: the stored background jobs of
    /// `f` queued here go back to the table (offered again, announced) for other nodes'
    /// workers, rather than wait here for a worker of this node to come back. Jobs a client
    /// here waits for, and jobs whose workload is not in memory, stay.
    pub(super) fn unserved(&mut self, f: FnId, out: &mut impl Outbox) {
        if !self.config.cluster || !self.functions.contains(f) || self.functions[f].workers > 0 {
            return;
        }
        let mut leaving = Vec::new();
        for p in super::job::Priority::ALL {
            let mut at = self.functions[f].queues[p.index()].front();
            while let Some(id) = at {
                let job = &self.jobs[id];
                if job.store_id != 0 && job.background && job.listeners.is_empty() && job.ready() {
                    leaving.push(id);
                }
                at = (job.next != super::ids::JobId::NIL).then_some(job.next);
            }
        }
        for id in leaving {
            let row = self.stored_job(id, 0);
            self.persist(StoreOp::Offer(row), out);
            self.jobs[id].store_id = 0;
            self.counters.offered += 1;
            self.remove_job(id, out);
        }
    }

    /// Jobs this node claimed from the cluster's table: queue them (in the order given) and
    /// wake workers for them. A job already here is left as it is. Their ids are other nodes'
    /// numbers: the handle counter is not moved for them.
    ///
    /// A claimed job other nodes watch relays its packets to them (`relay.rs`); so does one
    /// this node watches for a job of its own that joined it. This node's own foreground
    /// offer, waiting here for another node, runs here instead.
    pub fn claimed(&mut self, jobs: Vec<ClaimedJob>, now: u64, out: &mut impl Outbox) {
        self.now = now;
        for claimed in jobs {
            let stored = claimed.job;
            if self.cancel_ordered_before(stored.id) {
                // Cancelled, or removed here, before this claim's report came: the row is
                // deleted or about to be.
                continue;
            }
            if let Some(job) = self.handles.get(&self.jobs, stored.id) {
                if claimed.watched_elsewhere {
                    self.mark_relaying(stored.id);
                }
                if self.jobs[job].committing {
                    // Still here: an offer whose commit this node has not heard of yet. The
                    // row is this node's now, so the job stays when the commit is reported.
                    self.cluster.reclaimed.insert(stored.id);
                } else if self.jobs[job].state == JobState::Elsewhere {
                    self.take_back(job);
                    self.counters.claimed += 1;
                    self.make_runnable(job, stored.when_to_run, now, out);
                }
                continue;
            }
            if claimed.watched_here || claimed.watched_elsewhere {
                self.mark_relaying(stored.id);
            }
            let when = stored.when_to_run;
            let job_id = self.revive(stored);
            self.jobs[job_id].background = claimed.background;
            self.counters.claimed += 1;
            if !self.wait_for_epoch(job_id, when, now) {
                self.enqueue_back(job_id, out);
            }
        }
    }

    /// GET_STATUS for a handle no job here has: in a cluster the job may wait in the shared
    /// table or run on another node, so its row is looked up (any node's handle will do: ids
    /// are unique in the cluster), and the reply waits for the answer in its place among the
    /// connection's replies. False outside a cluster, for what is no handle of the cluster,
    /// and under an access list (the row's function cannot be checked before the lookup).
    pub(super) fn status_elsewhere(
        &mut self,
        id: ConnId,
        handle: &[u8],
        out: &mut impl Outbox,
    ) -> bool {
        if !self.config.cluster || self.acl.is_some() {
            return false;
        }
        let Some(number) = cluster_handle_number(handle) else {
            return false;
        };
        let handle = Bytes::copy_from_slice(handle);
        let lookup = Lookup::Handle(id, number, handle);
        let token = self.begin_lookup(lookup, Some(PacketType::StatusRes));
        out.load(token, vec![number]);
        true
    }

    /// GET_STATUS_UNIQUE for a unique no job here has: as [`Engine::status_elsewhere`], by
    /// the newest stored job with that unique id.
    pub(super) fn status_unique_elsewhere(
        &mut self,
        id: ConnId,
        unique: &[u8],
        out: &mut impl Outbox,
    ) -> bool {
        if !self.config.cluster || self.acl.is_some() || unique.is_empty() {
            return false;
        }
        let unique = Bytes::copy_from_slice(unique);
        let lookup = Lookup::Unique(id, unique.clone());
        let token = self.begin_lookup(lookup, Some(PacketType::StatusResUnique));
        out.find(token, unique);
        true
    }

    /// `cancel job` for a handle no job here has: in a cluster the job may wait in the shared
    /// table or be held by another node, so the store deletes its row, tells its watchers and
    /// orders its holder to cancel it (`JobStore::cancel_elsewhere`). The answer waits for
    /// that in its place among the asker's replies; for the operator it is taken by the
    /// network layer ([`Engine::take_operator_answers`]). The token, or `None` outside a
    /// cluster and for what is no handle of the cluster.
    pub(super) fn cancel_elsewhere(
        &mut self,
        asker: Option<ConnId>,
        handle: &[u8],
        out: &mut impl Outbox,
    ) -> Option<u64> {
        if !self.config.cluster {
            return None;
        }
        let number = cluster_handle_number(handle)?;
        let asker = asker.map_or(Asker::Operator, Asker::Conn);
        Some(self.cancel_row(asker, number, out))
    }

    /// Have the store cancel the row `id` (see [`Engine::cancel_elsewhere`]); the token its
    /// answer comes under.
    pub(super) fn cancel_row(&mut self, asker: Asker, id: u64, out: &mut impl Outbox) -> u64 {
        let token = self.begin_lookup(Lookup::Cancel(asker), None);
        out.cancel(token, id);
        token
    }

    /// `result HANDLE` for a handle neither a job nor a result here has: in a cluster the job
    /// may wait in the table or run elsewhere, or have ended on another node, which kept its
    /// result in the shared records table; both are looked up, and the answer waits as a
    /// cancel's does ([`Engine::cancel_elsewhere`]). `None` outside a cluster, for what is no
    /// handle of the cluster, and under an access list (as [`Engine::status_elsewhere`]).
    pub(super) fn result_elsewhere(
        &mut self,
        asker: Option<ConnId>,
        handle: &[u8],
        out: &mut impl Outbox,
    ) -> Option<u64> {
        if !self.config.cluster || self.acl.is_some() {
            return None;
        }
        let number = cluster_handle_number(handle)?;
        let asker = asker.map_or(Asker::Operator, Asker::Conn);
        let token = self.begin_lookup(Lookup::Result(asker, number), None);
        out.find_record(token, number, RESULT, number_key(number));
        Some(token)
    }

    /// Register `lookup` under a new token; a connection asking holds its replies from here
    /// until the answer, a `kind` packet (`None`: admin text).
    fn begin_lookup(&mut self, lookup: Lookup, kind: Option<PacketType>) -> u64 {
        let token = self.next_load;
        self.next_load += 1;
        let conn = match &lookup {
            Lookup::Handle(id, ..) | Lookup::Unique(id, _) => Some(*id),
            Lookup::Cancel(Asker::Conn(id)) | Lookup::Result(Asker::Conn(id), _) => Some(*id),
            Lookup::Cancel(_) | Lookup::Result(..) => None,
        };
        if let Some(id) = conn {
            self.conns.hold_lookup(id, token, kind);
        }
        self.cluster.lookups.insert(token, lookup);
        token
    }

    /// The operator's answers that waited for the store, with the token each was promised
    /// under ([`Engine::admin_as_operator`]).
    pub fn take_operator_answers(&mut self) -> Vec<(u64, Vec<u8>)> {
        std::mem::take(&mut self.cluster.operator_answers)
    }

    /// Answer the lookup `token` if it is one: a status is known if the row is still stored
    /// (the job waits or runs somewhere; which, and its progress, only its node knows); a
    /// cancel is done if the row was there; a result is the record's, or pending while the
    /// row is stored.
    pub(super) fn answer_lookup(
        &mut self,
        token: u64,
        result: &Result<Vec<(u64, Bytes)>, String>,
        now: u64,
        out: &mut impl Outbox,
    ) -> bool {
        let Some(lookup) = self.cluster.lookups.remove(&token) else {
            return false;
        };
        let found = |wanted: Option<u64>| match result {
            Ok(rows) => rows.iter().any(|&(row, _)| wanted.is_none_or(|w| row == w)),
            Err(reason) => {
                tracing::warn!(%reason, "a status lookup in the cluster's store failed");
                false
            }
        };
        let (asker, line) = match lookup {
            Lookup::Handle(id, number, handle) => {
                let known = flag(found(Some(number)));
                let fields: [&[u8]; 4] = [&handle, known, b"0", b"0"];
                self.conns.settle_lookup(id, token, &fields, b"0");
                self.release(id, now, out);
                return true;
            }
            Lookup::Unique(id, unique) => {
                let known = flag(found(None));
                let fields: [&[u8]; 5] = [&unique, known, b"0", b"0", b"0"];
                self.conns.settle_lookup(id, token, &fields, b"0");
                self.release(id, now, out);
                return true;
            }
            Lookup::Cancel(asker) => {
                let line: &[u8] = match result {
                    Ok(rows) if !rows.is_empty() => b"OK\r\n",
                    Ok(_) => b"ERR UNKNOWN_JOB\r\n",
                    Err(_) => STORE_FAILED,
                };
                (asker, line.to_vec())
            }
            Lookup::Result(asker, number) => match result {
                Ok(rows) => (asker, self.stored_result_line(number, rows, now)),
                Err(_) => (asker, STORE_FAILED.to_vec()),
            },
        };
        if let Err(reason) = result {
            tracing::warn!(%reason, "a lookup in the cluster's store failed");
        }
        match asker {
            Asker::Conn(id) => {
                self.conns.settle_lookup(id, token, &[], &line);
                self.release(id, now, out);
            }
            Asker::Operator => self.cluster.operator_answers.push((token, line)),
            Asker::Nobody => {}
        }
        true
    }

    /// The store reports new jobs it did not keep because an equal job (same function and
    /// unique) was stored already, by another node: their submitters hear that job's handle
    /// when the commit is reported ([`Engine::committed`]), and they leave this node.
    pub fn coalesced(&mut self, jobs: Vec<gearbox_store::Coalesced>) {
        for job in jobs {
            self.counters.coalesced += 1;
            self.cluster.joined.insert(job.id, job.handle);
        }
    }

    /// Whether the offered job `handle_no` was claimed back by this node (see
    /// [`Engine::claimed`]): it stays rather than leaving for the cluster.
    pub(super) fn reclaimed(&mut self, handle_no: u64) -> bool {
        !self.cluster.reclaimed.is_empty() && self.cluster.reclaimed.remove(&handle_no)
    }

    /// The handle of the stored job equal to the new job `handle_no`, if the store said so.
    pub(super) fn joined_elsewhere(&mut self, handle_no: u64) -> Option<Bytes> {
        if self.cluster.joined.is_empty() {
            return None;
        }
        self.cluster.joined.remove(&handle_no)
    }

    /// A new job joined an equal one stored by another node (`handle`): a foreground one
    /// waits here for that job's packets (`relay.rs`); a background one leaves this node
    /// without a trace in the store, unless a foreground client joined it here meanwhile or a
    /// worker here already runs it (a foreground job a background submission joined while it
    /// ran): then it goes on here too, as a job in memory (at least once).
    pub(super) fn leave_joined(
        &mut self,
        job_id: super::ids::JobId,
        handle: Bytes,
        held: Option<u64>,
        now: u64,
        out: &mut impl Outbox,
    ) {
        if !self.jobs[job_id].background {
            if let Some(row) = cluster_handle_number(&handle) {
                return self.watch_elsewhere(job_id, row, Some(handle), out);
            }
        }
        self.jobs[job_id].store_id = 0;
        let job = &self.jobs[job_id];
        if job.listeners.is_empty() && job.state != JobState::Running {
            self.remove_job(job_id, out);
        } else {
            self.settle_job(job_id, held, false, now, out);
        }
    }

    /// What the last heartbeat showed at `now`: the nodes, whether this node leads (fires the
    /// schedules), what waits unclaimed in the table and what other nodes hold, the
    /// cluster's schedules.
    pub fn set_cluster_view(&mut self, view: ClusterView, now: u64) {
        self.now = now;
        self.set_leader(view.leader);
        self.sync_schedules(&view.records, now);
        self.sync_dead_letters(&view.synced, &view.records, view.read_at);
        self.cluster.nodes = view.nodes;
        self.cluster.waiting = view.waiting.into_iter().collect();
        self.cluster.held = view
            .held
            .into_iter()
            .map(|(name, counts)| (name, counts.iter().sum()))
            .collect();
    }

    /// This node's figures, in a cluster.
    pub(super) fn cluster_snapshot(&self) -> Option<super::stats::ClusterSnapshot> {
        self.config.cluster.then(|| super::stats::ClusterSnapshot {
            nodes: self.cluster.nodes.len() as u64,
            leader: self.cluster.leads(),
            offered: self.counters.offered,
            claimed: self.counters.claimed,
            waiting: self
                .cluster
                .waiting
                .iter()
                .map(|(name, counts)| (name.clone(), *counts))
                .collect(),
        })
    }

    /// Whether this node fires the cluster's schedules.
    pub fn set_leader(&mut self, leader: bool) {
        if self.cluster.leader != Some(leader) {
            tracing::info!(leader, "this node's part in firing the cluster's schedules");
        }
        self.cluster.leader = Some(leader);
    }

    /// Jobs of `name` waiting unclaimed in the cluster's table, per priority, as of the last
    /// heartbeat (none outside a cluster).
    pub(super) fn waiting_in_table(&self, name: &[u8]) -> [u64; 3] {
        self.cluster.waiting.get(name).copied().unwrap_or_default()
    }

    /// Submitted schedules the shared table held at the last heartbeat.
    pub(super) fn cluster_schedules_seen(&self) -> &std::collections::BTreeSet<u64> {
        &self.cluster.schedules_seen
    }

    /// The submitted schedules the shared table holds now.
    pub(super) fn set_cluster_schedules_seen(&mut self, seen: std::collections::BTreeSet<u64>) {
        self.cluster.schedules_seen = seen;
    }

    /// Jobs of `name` other nodes hold (queued there or running), as of the last heartbeat.
    pub(super) fn held_elsewhere(&self, name: &[u8]) -> u64 {
        if self.cluster.held.is_empty() {
            return 0;
        }
        self.cluster.held.get(name).copied().unwrap_or(0)
    }

    /// Functions with jobs in the cluster's table that this node does not know: those
    /// waiting unclaimed, per priority, and those other nodes hold.
    pub(super) fn only_in_table(&self) -> Vec<(Bytes, [u64; 3], u64)> {
        let unknown = |name: &Bytes| !self.function_ids.contains_key(&name[..]);
        let mut names: Vec<&Bytes> = self.cluster.waiting.keys().filter(|n| unknown(n)).collect();
        names.extend(self.cluster.held.keys().filter(|n| unknown(n)));
        names.sort_unstable();
        names.dedup();
        names
            .into_iter()
            .map(|name| {
                let waiting = self.waiting_in_table(name);
                (name.clone(), waiting, self.held_elsewhere(name))
            })
            .collect()
    }
}

/// The number of a cluster handle, `<anything>:<digits>`.
fn cluster_handle_number(handle: &[u8]) -> Option<u64> {
    let colon = handle.iter().rposition(|&b| b == b':')?;
    let digits = &handle[colon + 1..];
    if digits.is_empty() || digits.len() > 20 || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    parse_decimal(digits)
}
