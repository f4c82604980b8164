//! Foreground jobs across a cluster's nodes (`--cluster`): the client waits on one node, the
//! worker runs the job on another, and the work packets travel through the shared table.
//!
//! On the client's node a foreground job no worker of that node can take is offered with
//! this node watching it (`StoreOp::OfferWatched`); its JOB_CREATED waits for the commit, which
//! may report an equal job stored already (another node's): then the client hears that job's
//! handle and this node watches it instead. Once committed the job stays here in the state
//! [`JobState::Elsewhere`], in no queue, holding its clients, until the packets relayed by the
//! node running it arrive ([`Engine::relayed`]): they go to its clients under the handle they
//! heard, and the last one (COMPLETE, FAIL, EXCEPTION) ends it. Its last client leaving, or
//! `cancel job`, stops the watch (`StoreOp::Release`); a background submission joining it makes
//! the row background (`StoreOp::Adopt`), so that it outlives its foreground clients.
//!
//! On the node running a job that has a row and is or may be watched (its claim said so, or
//! its unique id lets other nodes join it), each work packet its worker sends is also written
//! for the nodes watching the row (`StoreOp::Relay`; the store fans it out to the watchers it
//! finds in the row when it writes it, so a node that starts watching a job already claimed or
//! running hears the rest of it), and a job that ends without a terminal packet of its worker
//! (cancelled, failed after its retries) relays WORK_FAIL, so a waiting client always hears an
//! end. A claimed job known to be watched is not retried under a retry policy on failure,
//! as a job with a client here is not.
//!
//! `cancel job` asked on another node deletes the row in the store, which relays WORK_FAIL to
//! the watching nodes and an order to cancel ([`CANCEL_RELAY`]) to the node that claimed it:
//! that node cancels the job as if asked itself ([`Engine::cancel_job`]).
//!
//! Outside a cluster nothing here runs: the maps stay empty and every hook returns at once.

use bytes::{BufMut, Bytes, BytesMut};
use gearbox_proto::{Packet, PacketType};
use gearbox_store::{Relayed, CANCEL_RELAY};
use smallvec::SmallVec;

use super::cluster::Asker;
use super::conns::Conns;
use super::ids::JobId;
use super::job::JobState;
use super::parse::atoi_u32;
use super::{ConnId, Engine, FnId, Outbox, StoreOp};

/// How long packets for a row this node does not watch are kept in case its watch is about to
/// begin (the commit report of its offer is late); far longer than a commit report can lag.
const EARLY_KEPT_MS: u64 = 60_000;

/// The cluster's relay state of one node.
#[derive(Debug, Default)]
pub(super) struct RelayState {
    /// Rows watched from here, by store id: the handle numbers of the jobs here waiting for
    /// them.
    watching: rustc_hash::FxHashMap<u64, SmallVec<[u64; 1]>>,
    /// Jobs here that joined another node's job: handle number → (that job's store id, the
    /// handle its clients heard).
    joined: rustc_hash::FxHashMap<u64, (u64, Bytes)>,
    /// Packets for rows not watched here (yet): relayed before the commit of this node's offer
    /// or join was reported to it (the relay and the commit report travel on different
    /// threads), or after it stopped watching. Kept, by row, with the time they came, until
    /// the row is watched or for [`EARLY_KEPT_MS`].
    early: rustc_hash::FxHashMap<u64, (u64, Vec<Relayed>)>,
    /// Offers of foreground jobs being committed.
    offering: usize,
    /// Jobs claimed here whose clients wait on other nodes (as the claim saw the row), by
    /// handle number (= store id).
    relaying: rustc_hash::FxHashSet<u64>,
}

impl Engine {
    /// Whether a new foreground job of `f` goes to the cluster: in a cluster with commits
    /// acknowledged (so JOB_CREATED can wait for the row), when this node has no worker for
    /// `f`. A node with one keeps its foreground jobs, as a single server does (in memory, no
    /// write): a foreground job offered costs its client a few milliseconds (the offer's
    /// commit, the claim, the relay), so a busy worker here is usually the faster way.
    pub(super) fn offers_foreground(&self, f: FnId) -> bool {
        self.config.cluster
            && self.config.durable
            && !self.config.ack_before_commit
            && self.functions[f].workers == 0
    }

    /// The store row a job waiting here for another node stands for, and the handle its
    /// clients heard (`None`: this node's own handle).
    pub(super) fn watched_row(&self, job_id: JobId) -> (u64, Option<Bytes>) {
        let handle_no = self.jobs[job_id].handle_no;
        match self.relay.joined.get(&handle_no) {
            Some((row, handle)) => (*row, Some(handle.clone())),
            None => (handle_no, None),
        }
    }

    /// The handle the clients of the job `handle_no` heard, if it joined another node's job.
    pub(super) fn shown_handle(&self, handle_no: u64) -> Option<Bytes> {
        if self.relay.joined.is_empty() {
            return None;
        }
        self.relay
            .joined
            .get(&handle_no)
            .map(|(_, shown)| shown.clone())
    }

    /// A foreground job's offer is committed as the row `row` (its own, or with `shown`, the
    /// equal job another node stored, whose handle its clients heard): it waits here for the
    /// packets of whichever node runs it. A job whose clients all left meanwhile stops
    /// watching at once.
    pub(super) fn watch_elsewhere(
        &mut self,
        job_id: JobId,
        row: u64,
        shown: Option<Bytes>,
        out: &mut impl Outbox,
    ) {
        let job = &mut self.jobs[job_id];
        // Out of the held state `store_job` put it in.
        job.committing = false;
        job.store_id = 0;
        self.functions[job.function].pending[job.priority.index()] -= 1;
        self.held -= 1;
        job.state = JobState::Elsewhere;
        self.functions[job.function].elsewhere += 1;
        let handle_no = job.handle_no;
        self.relay.watching.entry(row).or_default().push(handle_no);
        if let Some(shown) = shown {
            self.relay.joined.insert(handle_no, (row, shown));
        }
        if self.jobs[job_id].listeners.is_empty() && !self.jobs[job_id].background {
            return self.remove_job(job_id, out);
        }
        // What the node running the row relayed before this watch began.
        let early = self.relay.early.get(&row).map(|(_, early)| early.clone());
        for packet in early.unwrap_or_default() {
            let Ok(kind) = PacketType::try_from(u32::from(packet.kind)) else {
                continue;
            };
            if terminal(kind) {
                self.stop_watching(row, handle_no);
            }
            self.hand_relayed(handle_no, kind, &packet.data, out);
            if terminal(kind) {
                break;
            }
        }
    }

    /// The job `handle_no` no longer waits for `row`; true if nothing here does any more.
    fn stop_watching(&mut self, row: u64, handle_no: u64) -> bool {
        let Some(locals) = self.relay.watching.get_mut(&row) else {
            return false;
        };
        locals.retain(|h| *h != handle_no);
        if locals.is_empty() {
            self.relay.watching.remove(&row);
            return true;
        }
        false
    }

    /// An offer of a foreground job is being committed (`begun`) or was reported.
    pub(super) fn offering(&mut self, begun: bool) {
        if begun {
            self.relay.offering += 1;
        } else {
            self.relay.offering = self.relay.offering.saturating_sub(1);
        }
    }

    /// `job_id`, waiting here for another node, is being forgotten (`remove_job`): unless its
    /// end was relayed, this node stops watching the row, if no other job here waits for it.
    /// Nor while an equal foreground job of this node is being offered: the table may join it
    /// to this row, and a watch dropped cannot be taken up again without missing the job's end
    /// (the packets of a row nobody here waits for are dropped; the watch ends with the row
    /// or with this node's next start).
    pub(super) fn forget_elsewhere(&mut self, job_id: JobId, out: &mut impl Outbox) {
        let (row, _) = self.watched_row(job_id);
        let job = &self.jobs[job_id];
        let (handle_no, function) = (job.handle_no, job.function);
        let joinable = self.offering_equal(job_id, function);
        self.relay.joined.remove(&handle_no);
        if self.stop_watching(row, handle_no) && !joinable {
            self.persist(
                StoreOp::Release {
                    id: row,
                    give_back: false,
                    unwatch: true,
                },
                out,
            );
        }
    }

    /// A background submission joined `job_id`, which waits here for another node: its row
    /// becomes background (it outlives the foreground clients), and the submitter hears
    /// JOB_CREATED with the handle the job's clients heard once that is committed.
    pub(super) fn adopt_elsewhere(&mut self, id: ConnId, job_id: JobId, out: &mut impl Outbox) {
        let (row, shown) = self.watched_row(job_id);
        let handle_no = self.jobs[job_id].handle_no;
        self.jobs[job_id].background = true;
        self.store_answered(id, handle_no, shown, StoreOp::Adopt { id: row }, out);
    }

    /// A foreground job whose clients are gone is to be dropped before it ran: true if it may
    /// be. One with a row (an offer this node claimed back) does not delete the row but gives
    /// it back ([`StoreOp::Release`]), since submissions on other nodes may have joined it
    /// through the table, and still watches it if another job here waits for that row; it
    /// stays (and runs) while an equal foreground job of this node is being offered, which
    /// the table may join to it.
    pub(super) fn give_back(&mut self, job_id: JobId, out: &mut impl Outbox) -> bool {
        let id = self.jobs[job_id].store_id;
        if self.config.cluster && id != 0 {
            if self.offering_equal(job_id, self.jobs[job_id].function) {
                return false;
            }
            self.jobs[job_id].store_id = 0;
            let unwatch = !self.relay.watching.contains_key(&id);
            self.persist(
                StoreOp::Release {
                    id,
                    give_back: true,
                    unwatch,
                },
                out,
            );
        }
        true
    }

    /// A job this node claimed was waiting here for another node (this node's own offer,
    /// claimed back by its own workers): it runs here now, its row this node's.
    pub(super) fn take_back(&mut self, job_id: JobId) {
        let handle_no = self.jobs[job_id].handle_no;
        self.stop_watching(handle_no, handle_no);
        self.jobs[job_id].store_id = handle_no;
        self.functions[self.jobs[job_id].function].elsewhere -= 1;
    }

    /// A job this node claimed is watched: by other nodes, or by this one for a job of its own
    /// that joined it.
    pub(super) fn mark_relaying(&mut self, handle_no: u64) {
        self.relay.relaying.insert(handle_no);
    }

    /// Whether clients on other nodes are known to wait for the job `handle_no` running here.
    pub(super) fn relays(&self, handle_no: u64) -> bool {
        !self.relay.relaying.is_empty() && self.relay.relaying.contains(&handle_no)
    }

    /// In a cluster, a work packet of a job running here that has a row, for the nodes
    /// watching the row: `data` is its body after the handle.
    pub(super) fn relay_work(
        &mut self,
        job_id: JobId,
        kind: PacketType,
        data: Bytes,
        out: &mut impl Outbox,
    ) {
        let job = &self.jobs[job_id];
        let (id, handle_no) = (job.store_id, job.handle_no);
        if !self.config.cluster || id == 0 {
            return;
        }
        // Only a row with a unique id can be joined by another node after its claim (the
        // table's unique index skips the empty one and `-`); any other is watched only if its
        // claim said so.
        let unique = job.unique();
        let joinable = !unique.is_empty() && unique != b"-";
        if !joinable && !self.relays(handle_no) {
            return;
        }
        let last = terminal(kind);
        if last && !self.relay.relaying.is_empty() {
            self.relay.relaying.remove(&handle_no);
        }
        self.persist(
            StoreOp::Relay {
                id,
                kind: kind as u8,
                data,
                last,
            },
            out,
        );
    }

    /// `job_id` ends without a terminal packet of its worker (cancelled, given up): its
    /// watchers hear WORK_FAIL, as its clients here do.
    pub(super) fn relay_end(&mut self, job_id: JobId, out: &mut impl Outbox) {
        self.relay_work(job_id, PacketType::WorkFail, Bytes::new(), out);
    }

    /// Work packets relayed to this node by the nodes running jobs its clients wait for: each
    /// goes to the clients of the jobs watching its row, under the handle they heard; a
    /// terminal one ends those jobs here. Packets for a row not watched here are kept a while,
    /// and so are terminal ones while an offer of a foreground job is being committed here:
    /// the commit report that starts a watch of that row may come after them.
    pub fn relayed(&mut self, packets: Vec<Relayed>, now: u64, out: &mut impl Outbox) {
        self.now = now;
        if !self.relay.early.is_empty() {
            self.relay
                .early
                .retain(|_, (since, _)| now.saturating_sub(*since) < EARLY_KEPT_MS);
        }
        let offering = self.relay.offering > 0;
        for packet in packets {
            if packet.kind == CANCEL_RELAY {
                self.cancel_ordered(packet, now, out);
                continue;
            }
            let Ok(kind) = PacketType::try_from(u32::from(packet.kind)) else {
                continue;
            };
            let locals = self.relay.watching.get(&packet.id).cloned();
            if locals.is_none() || offering && terminal(kind) {
                let early = self
                    .relay
                    .early
                    .entry(packet.id)
                    .or_insert((now, Vec::new()));
                early.1.push(packet.clone());
            }
            let Some(locals) = locals else {
                continue;
            };
            if terminal(kind) {
                // Ended by the packet, not unwatched: nothing to tell the store.
                self.relay.watching.remove(&packet.id);
            }
            for handle_no in locals {
                self.hand_relayed(handle_no, kind, &packet.data, out);
            }
        }
    }

    /// Another node's `cancel job` deleted the row of a job this node holds (its owner): the
    /// job is cancelled here as if asked here. One not here any more may have been written
    /// again after the order left (given back to the table, retried) or not be reported yet
    /// (its claim): the row is cancelled again, which reaches whoever holds it now, and the
    /// order is remembered, so that a late claim's report drops the job
    /// ([`Engine::cancel_ordered_before`]). Each cancel deletes the row, so this ends.
    fn cancel_ordered(&mut self, packet: Relayed, now: u64, out: &mut impl Outbox) {
        match self.handles.get(&self.jobs, packet.id) {
            Some(job_id) => self.cancel_job(job_id, out),
            None => {
                self.cancel_row(Asker::Nobody, packet.id, out);
                self.withdraw(packet.id, now);
            }
        }
    }

    /// Remember that the row `id` must not run here if a claim of it is reported later: it
    /// was cancelled, or its job was removed while the offer that wrote it was being
    /// committed (the claim may have taken the row before the job's deletion reached it).
    pub(super) fn withdraw(&mut self, id: u64, now: u64) {
        let early = self.relay.early.entry(id).or_default();
        early.0 = now;
        early.1.push(Relayed {
            id,
            kind: CANCEL_RELAY,
            data: Bytes::new(),
        });
    }

    /// Whether the row `id` was withdrawn before this node's claim of it was reported
    /// ([`Engine::withdraw`]).
    pub(super) fn cancel_ordered_before(&mut self, id: u64) -> bool {
        let cancelled = self
            .relay
            .early
            .get(&id)
            .is_some_and(|(_, packets)| packets.iter().any(|p| p.kind == CANCEL_RELAY));
        if cancelled {
            self.relay.early.remove(&id);
        }
        cancelled
    }

    /// A relayed packet to the clients of the job `handle_no`; a terminal one ends it.
    fn hand_relayed(
        &mut self,
        handle_no: u64,
        kind: PacketType,
        data: &[u8],
        out: &mut impl Outbox,
    ) {
        let Some(job_id) = self.handles.get(&self.jobs, handle_no) else {
            return;
        };
        let handle = self
            .shown_handle(handle_no)
            .unwrap_or_else(|| Bytes::copy_from_slice(self.handle_of(handle_no).as_bytes()));
        let mut body = BytesMut::with_capacity(handle.len() + 1 + data.len());
        body.put_slice(&handle);
        if kind != PacketType::WorkFail {
            body.put_u8(0);
            body.put_slice(data);
        }
        let body = body.freeze();
        if kind == PacketType::WorkStatus {
            let mut fields = data.split(|&b| b == 0);
            let numerator = atoi_u32(fields.next().unwrap_or_default());
            let denominator = atoi_u32(fields.next().unwrap_or_default());
            self.jobs[job_id].progress = (numerator, denominator);
        }
        let job = &self.jobs[job_id];
        deliver(&mut self.conns, out, &job.listeners, kind, &body, &handle);
        if terminal(kind) {
            self.remove_job(job_id, out);
        }
    }
}

/// Whether a work packet ends its job.
fn terminal(kind: PacketType) -> bool {
    matches!(
        kind,
        PacketType::WorkComplete | PacketType::WorkFail | PacketType::WorkException
    )
}

/// Send a job's work packet (`body`, starting with `handle`) to its clients: WORK_FAIL is the
/// handle alone, and WORK_EXCEPTION goes only to clients that asked for exceptions (the others
/// hear WORK_FAIL, as from gearmand). The body is shared, never copied per client.
pub(super) fn deliver(
    conns: &mut Conns,
    out: &mut impl Outbox,
    listeners: &[ConnId],
    kind: PacketType,
    body: &Bytes,
    handle: &[u8],
) {
    for &listener in listeners {
        match kind {
            PacketType::WorkFail => conns.packet(out, listener, kind, &[], handle),
            PacketType::WorkException if !conns.get(listener).is_some_and(|c| c.exceptions) => {
                conns.packet(out, listener, PacketType::WorkFail, &[], handle);
            }
            _ => conns.packet_shared(out, listener, kind, &[], body),
        }
    }
}

/// A work packet's body after its handle (empty when there is nothing after it).
pub(super) fn after_handle(packet: &Packet, handle: &[u8]) -> Bytes {
    let start = handle.len() + 1;
    if packet.body.len() > start {
        packet.body.slice(start..)
    } else {
        Bytes::new()
    }
}
