//! The engine's identifiers and the tables they index: [`ConnId`] (given by the network
//! layer), [`JobId`] into [`Jobs`] and [`FnId`] into [`Functions`].
//!
//! Each id is its own type, so a job id can never index the function table, and each table is
//! indexed by its id alone, with no `as usize` at the call sites. Ids are slab keys: a slot is
//! reused once its entry is removed, so anything that keeps an id across a removal (timers,
//! read-backs, waiting clients) also keeps what it needs to recognise a reused slot (a job's
//! handle number, a worker's sleep serial). Nothing here decides anything.

use std::ops::{Index, IndexMut};

use slab::Slab;

use super::function::Function;
use super::job::Job;

/// Identifies a connection; assigned by the network layer, reused only after
/// [`super::Engine::disconnect`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnId(pub u32);

/// A job's key in [`Jobs`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct JobId(u32);

impl JobId {
    /// "No job", in queue links.
    pub const NIL: JobId = JobId(u32::MAX);

    fn key(self) -> usize {
        self.0 as usize
    }
}

/// A function's key in [`Functions`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FnId(u32);

impl FnId {
    fn key(self) -> usize {
        self.0 as usize
    }
}

/// Slab keys fit in 32 bits: the engine never holds four billion jobs or functions at once.
fn id32(key: usize) -> u32 {
    u32::try_from(key).expect("more than 2^32 live entries")
}

/// Every job in memory.
#[derive(Debug, Default)]
pub struct Jobs(Slab<Job>);

impl Jobs {
    /// Store a job; its id stays valid until [`Jobs::remove`].
    pub fn insert(&mut self, job: Job) -> JobId {
        JobId(id32(self.0.insert(job)))
    }

    /// Take a job out; its id may then name another job.
    pub fn remove(&mut self, id: JobId) -> Job {
        self.0.remove(id.key())
    }

    /// The job `id`, if the slot is occupied (by it or by a later job: compare handle numbers).
    pub fn get(&self, id: JobId) -> Option<&Job> {
        self.0.get(id.key())
    }

    /// [`Jobs::get`], to change.
    pub fn get_mut(&mut self, id: JobId) -> Option<&mut Job> {
        self.0.get_mut(id.key())
    }

    /// Jobs in memory.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// No job in memory.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Every job with its id.
    pub fn iter(&self) -> impl Iterator<Item = (JobId, &Job)> {
        self.0.iter().map(|(key, job)| (JobId(id32(key)), job))
    }

    /// Slots allocated.
    #[cfg(test)]
    pub fn capacity(&self) -> usize {
        self.0.capacity()
    }

    /// Give the slab's memory back once it is empty and large: its ids are referenced
    /// everywhere, so it cannot be compacted while anything is in it.
    pub fn shrink_if_empty(&mut self, above: usize) {
        if self.is_empty() && self.0.capacity() > above {
            self.0 = Slab::new();
        }
    }
}

impl Index<JobId> for Jobs {
    type Output = Job;

    fn index(&self, id: JobId) -> &Job {
        &self.0[id.key()]
    }
}

impl IndexMut<JobId> for Jobs {
    fn index_mut(&mut self, id: JobId) -> &mut Job {
        &mut self.0[id.key()]
    }
}

/// Every function the engine knows.
#[derive(Debug, Default)]
pub struct Functions(Slab<Function>);

impl Functions {
    /// Store a function.
    pub fn insert(&mut self, function: Function) -> FnId {
        FnId(id32(self.0.insert(function)))
    }

    /// Forget a function.
    pub fn remove(&mut self, id: FnId) -> Function {
        self.0.remove(id.key())
    }

    /// Whether `id` names a function (possibly a later one in a reused slot).
    pub fn contains(&self, id: FnId) -> bool {
        self.0.contains(id.key())
    }

    /// Functions known.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Every function with its id, in slot order.
    pub fn iter(&self) -> impl Iterator<Item = (FnId, &Function)> {
        self.0.iter().map(|(key, f)| (FnId(id32(key)), f))
    }

    /// Every function id, in slot order.
    pub fn ids(&self) -> Vec<FnId> {
        self.0.iter().map(|(key, _)| FnId(id32(key))).collect()
    }

    /// Give back the memory of removed slots at the end of the table.
    pub fn shrink_to_fit(&mut self) {
        self.0.shrink_to_fit();
    }

    /// Slots allocated.
    #[cfg(test)]
    pub fn capacity(&self) -> usize {
        self.0.capacity()
    }
}

impl Index<FnId> for Functions {
    type Output = Function;

    fn index(&self, id: FnId) -> &Function {
        &self.0[id.key()]
    }
}

impl IndexMut<FnId> for Functions {
    fn index_mut(&mut self, id: FnId) -> &mut Function {
        &mut self.0[id.key()]
    }
}
