//! Indexes over the job slab that hold only job ids: jobs by handle number, and jobs by
//! (function, unique) or (function, workload) for coalescing.
//!
//! Keys are read back from the jobs themselves, so an entry costs a 4-byte id and a control
//! byte instead of a copy of its key: with a million queued jobs that is tens of megabytes
//! saved. An index must be updated while its job is still in the slab (removal looks the key
//! up through the job).

use std::hash::{Hash, Hasher};

use hashbrown::HashTable;
use rustc_hash::FxHasher;

use super::ids::{JobId, Jobs};
use super::job::Job;
use super::FnId;

fn hash_handle(handle_no: u64) -> u64 {
    let mut hasher = FxHasher::default();
    handle_no.hash(&mut hasher);
    hasher.finish()
}

fn hash_key(function: FnId, key: &[u8]) -> u64 {
    let mut hasher = FxHasher::default();
    function.hash(&mut hasher);
    key.hash(&mut hasher);
    hasher.finish()
}

/// Jobs by handle number.
#[derive(Debug, Default)]
pub struct HandleIndex {
    table: HashTable<JobId>,
}

impl HandleIndex {
    /// The job with this handle number.
    pub fn get(&self, jobs: &Jobs, handle_no: u64) -> Option<JobId> {
        self.table
            .find(hash_handle(handle_no), |&id| {
                jobs[id].handle_no == handle_no
            })
            .copied()
    }

    /// Index a job that is in the slab.
    pub fn insert(&mut self, jobs: &Jobs, id: JobId) {
        let hash = hash_handle(jobs[id].handle_no);
        self.table
            .insert_unique(hash, id, |&other| hash_handle(jobs[other].handle_no));
    }

    /// Forget a job, before it leaves the slab.
    pub fn remove(&mut self, jobs: &Jobs, id: JobId) {
        let hash = hash_handle(jobs[id].handle_no);
        if let Ok(entry) = self.table.find_entry(hash, |&other| other == id) {
            entry.remove();
        }
        if self.table.capacity() > 1024 && self.table.len() * 8 < self.table.capacity() {
            self.table
                .shrink_to_fit(|&other| hash_handle(jobs[other].handle_no));
        }
    }

    /// Buckets allocated.
    #[cfg(test)]
    pub fn capacity(&self) -> usize {
        self.table.capacity()
    }
}

/// What a coalescing index keys jobs by, besides their function.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyKind {
    /// The unique id (uniques other than empty and `-`).
    Unique,
    /// The workload (the unique `-`: coalesce identical payloads).
    Payload,
}

/// Jobs by (function, unique) or (function, workload).
#[derive(Debug)]
pub struct CoalesceIndex {
    kind: KeyKind,
    table: HashTable<JobId>,
}

impl CoalesceIndex {
    /// An empty index keyed by `kind`.
    pub fn new(kind: KeyKind) -> CoalesceIndex {
        CoalesceIndex {
            kind,
            table: HashTable::new(),
        }
    }

    fn key(kind: KeyKind, job: &Job) -> &[u8] {
        match kind {
            KeyKind::Unique => job.unique(),
            KeyKind::Payload => job.data_slice(),
        }
    }

    fn rehash(kind: KeyKind, jobs: &Jobs) -> impl Fn(&JobId) -> u64 + '_ {
        move |&id| {
            let job = &jobs[id];
            hash_key(job.function, Self::key(kind, job))
        }
    }

    /// The job of `function` with this key.
    pub fn get(&self, jobs: &Jobs, function: FnId, key: &[u8]) -> Option<JobId> {
        let kind = self.kind;
        self.table
            .find(hash_key(function, key), |&id| {
                let job = &jobs[id];
                job.function == function && Self::key(kind, job) == key
            })
            .copied()
    }

    /// Index a job that is in the slab.
    pub fn insert(&mut self, jobs: &Jobs, id: JobId) {
        let job = &jobs[id];
        let hash = hash_key(job.function, Self::key(self.kind, job));
        self.table
            .insert_unique(hash, id, Self::rehash(self.kind, jobs));
    }

    /// Forget a job, before it leaves the slab.
    pub fn remove(&mut self, jobs: &Jobs, id: JobId) {
        let job = &jobs[id];
        let hash = hash_key(job.function, Self::key(self.kind, job));
        if let Ok(entry) = self.table.find_entry(hash, |&other| other == id) {
            entry.remove();
        }
        if self.table.capacity() > 1024 && self.table.len() * 8 < self.table.capacity() {
            self.table.shrink_to_fit(Self::rehash(self.kind, jobs));
        }
    }

    /// Buckets allocated.
    #[cfg(test)]
    pub fn capacity(&self) -> usize {
        self.table.capacity()
    }
}
