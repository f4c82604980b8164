//! What a batch changes, per job and per record: the server backends write a batch as bulk
//! upserts and bulk deletes instead of one statement per operation, so they need its net
//! effect.

use std::collections::HashMap;

use bytes::Bytes;

use crate::{StoreOp, StoredJob, StoredRecord};

/// The net effect of a batch of [`StoreOp`]s. A job id's or a record key's last operation
/// wins: a job put and finished within one batch is only deleted (a no-op unless an earlier
/// batch stored it), and no id or key appears twice, so a bulk statement never touches one
/// row twice.
#[derive(Debug, Default)]
pub(crate) struct NetBatch<'a> {
    /// Jobs to insert or replace, in batch order.
    pub puts: Vec<&'a StoredJob>,
    /// For each of `puts`: it was offered to the cluster ([`StoreOp::Offer`]), not kept by
    /// this node.
    pub offered: Vec<bool>,
    /// For each of `puts`: this node watches it ([`StoreOp::OfferWatched`]).
    pub watched: Vec<bool>,
    /// Work packets to relay, as (id, kind, data, last), in batch order (never merged).
    pub relays: Vec<(u64, u8, &'a Bytes, bool)>,
    /// Jobs this node releases, in batch order: (id, gives it back, stops watching it).
    pub releases: Vec<(u64, bool, bool)>,
    /// Watched jobs a background submission joined, in batch order.
    pub adopted: Vec<u64>,
    /// Ids to delete, in batch order.
    pub dones: Vec<u64>,
    /// Records to insert or replace, in batch order.
    pub record_puts: Vec<&'a StoredRecord>,
    /// Records to delete, as (kind, key), in batch order.
    pub record_drops: Vec<(u8, &'a Bytes)>,
}

/// What an operation is about: a job id or a record's kind and key.
#[derive(Debug, PartialEq, Eq, Hash)]
enum Target<'a> {
    Job(u64),
    Record(u8, &'a [u8]),
}

impl<'a> NetBatch<'a> {
    pub(crate) fn of(batch: &'a [StoreOp]) -> NetBatch<'a> {
        // Relays and unwatches are not states of a row: every one counts, in order.
        let target = |op: &'a StoreOp| match op {
            StoreOp::Put(job) | StoreOp::Offer(job) | StoreOp::OfferWatched(job) => {
                Some(Target::Job(job.id))
            }
            StoreOp::Done { id } => Some(Target::Job(*id)),
            StoreOp::PutRecord(r) => Some(Target::Record(r.kind, &r.key)),
            StoreOp::DropRecord { kind, key } => Some(Target::Record(*kind, key)),
            StoreOp::Relay { .. } | StoreOp::Release { .. } | StoreOp::Adopt { .. } => None,
        };
        let mut last: HashMap<Target<'a>, usize> = HashMap::with_capacity(batch.len());
        for (at, op) in batch.iter().enumerate() {
            if let Some(target) = target(op) {
                last.insert(target, at);
            }
        }
        let mut net = NetBatch::default();
        for (at, op) in batch.iter().enumerate() {
            if target(op).is_some_and(|t| last.get(&t) != Some(&at)) {
                continue;
            }
            let mut put = |job, offered, watched| {
                net.puts.push(job);
                net.offered.push(offered);
                net.watched.push(watched);
            };
            match op {
                StoreOp::Put(job) => put(job, false, false),
                StoreOp::Offer(job) => put(job, true, false),
                StoreOp::OfferWatched(job) => put(job, true, true),
                StoreOp::Relay {
                    id,
                    kind,
                    data,
                    last,
                } => net.relays.push((*id, *kind, data, *last)),
                StoreOp::Release {
                    id,
                    give_back,
                    unwatch,
                } => net.releases.push((*id, *give_back, *unwatch)),
                StoreOp::Adopt { id } => net.adopted.push(*id),
                StoreOp::Done { id } => net.dones.push(*id),
                StoreOp::PutRecord(record) => net.record_puts.push(record),
                StoreOp::DropRecord { kind, key } => net.record_drops.push((*kind, key)),
            }
        }
        net
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use super::*;

    fn put(id: u64) -> StoreOp {
        StoreOp::Put(StoredJob {
            id,
            function: Bytes::from_static(b"f"),
            unique: Bytes::new(),
            priority: 1,
            when_to_run: 0,
            reducer: Bytes::new(),
            data: Bytes::new(),
        })
    }

    #[test]
    fn the_last_operation_on_an_id_wins() {
        let batch = [
            put(1),
            put(2),
            StoreOp::Done { id: 1 },
            StoreOp::Done { id: 7 },
            put(3),
            put(2),
        ];
        let net = NetBatch::of(&batch);
        let puts: Vec<u64> = net.puts.iter().map(|j| j.id).collect();
        assert_eq!(puts, vec![3, 2]);
        assert_eq!(net.dones, vec![1, 7]);
        assert!(net.record_puts.is_empty() && net.record_drops.is_empty());
    }

    #[test]
    fn the_last_operation_on_a_record_wins() {
        let record = |kind: u8, key: &'static [u8], body: &'static [u8]| StoredRecord {
            kind,
            key: Bytes::from_static(key),
            body: Bytes::from_static(body),
        };
        let drop = |kind: u8, key: &'static [u8]| StoreOp::DropRecord {
            kind,
            key: Bytes::from_static(key),
        };
        let batch = [
            StoreOp::PutRecord(record(1, b"a", b"first")),
            StoreOp::PutRecord(record(2, b"a", b"other kind")),
            drop(1, b"b"),
            StoreOp::PutRecord(record(1, b"a", b"second")),
            StoreOp::PutRecord(record(1, b"b", b"back")),
            put(1),
            drop(2, b"a"),
        ];
        let net = NetBatch::of(&batch);
        let puts: Vec<(&[u8], &[u8])> = net
            .record_puts
            .iter()
            .map(|r| (&r.key[..], &r.body[..]))
            .collect();
        assert_eq!(puts, vec![(&b"a"[..], &b"second"[..]), (b"b", b"back")]);
        assert_eq!(net.record_drops, vec![(2, &Bytes::from_static(b"a"))]);
        assert_eq!(net.puts.len(), 1);
    }
}
