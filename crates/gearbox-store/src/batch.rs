//! What a batch changes, per job: the server backends write a batch as one bulk upsert and one
//! bulk delete instead of one statement per operation, so they need its net effect.

use std::collections::HashMap;

use crate::{StoreOp, StoredJob};

/// The net effect of a batch of [`StoreOp`]s. An id's last operation wins: a job put and
/// finished within one batch is only deleted (a no-op unless an earlier batch stored it), and
/// no id appears twice, so a bulk statement never touches one row twice.
#[derive(Debug, Default)]
pub(crate) struct NetBatch<'a> {
    /// Jobs to insert or replace, in batch order.
    pub puts: Vec<&'a StoredJob>,
    /// Ids to delete, in batch order.
    pub dones: Vec<u64>,
}

impl<'a> NetBatch<'a> {
    pub(crate) fn of(batch: &'a [StoreOp]) -> NetBatch<'a> {
        let id = |op: &StoreOp| match op {
            StoreOp::Put(job) => job.id,
            StoreOp::Done { id } => *id,
        };
        let mut last: HashMap<u64, usize> = HashMap::with_capacity(batch.len());
        for (at, op) in batch.iter().enumerate() {
            last.insert(id(op), at);
        }
        let mut net = NetBatch::default();
        for (at, op) in batch.iter().enumerate() {
            if last.get(&id(op)) != Some(&at) {
                continue;
            }
            match op {
                StoreOp::Put(job) => net.puts.push(job),
                StoreOp::Done { id } => net.dones.push(*id),
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
    }
}
