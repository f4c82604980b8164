//! A store that waits before every transaction, for tests: a fast disk commits in well under a
//! millisecond and so hides every race between a commit and the traffic around it. Wrapped
//! around a real backend by `gearboxd --store-delay-ms`; it changes nothing but timing.

use std::time::Duration;

use bytes::Bytes;

use crate::{JobStore, StoreError, StoreOp, StoredJob, StoredRecord};

/// `inner`, with every [`JobStore::append`] held back by `delay`.
pub struct DelayedStore {
    inner: Box<dyn JobStore>,
    delay: Duration,
}

impl DelayedStore {
    /// Wrap `inner`.
    pub fn new(inner: Box<dyn JobStore>, delay: Duration) -> DelayedStore {
        DelayedStore { inner, delay }
    }
}

impl JobStore for DelayedStore {
    fn append(&mut self, batch: &[StoreOp]) -> Result<(), StoreError> {
        std::thread::sleep(self.delay);
        self.inner.append(batch)
    }

    fn replay(&mut self, sink: &mut dyn FnMut(StoredJob)) -> Result<(), StoreError> {
        self.inner.replay(sink)
    }

    fn replay_records(&mut self, sink: &mut dyn FnMut(StoredRecord)) -> Result<(), StoreError> {
        self.inner.replay_records(sink)
    }

    fn find_unique(&mut self, unique: &[u8]) -> Result<Vec<u64>, StoreError> {
        self.inner.find_unique(unique)
    }

    fn find_record(&mut self, kind: u8, key: &[u8]) -> Result<Option<Bytes>, StoreError> {
        self.inner.find_record(kind, key)
    }

    fn cancel_elsewhere(&mut self, id: u64) -> Result<bool, StoreError> {
        self.inner.cancel_elsewhere(id)
    }

    fn coalesced(&mut self) -> Vec<crate::Coalesced> {
        self.inner.coalesced()
    }

    fn load(&mut self, ids: &[u64]) -> Result<Vec<(u64, Bytes)>, StoreError> {
        self.inner.load(ids)
    }
}
