//! Functions: the per-function queues, counters, queue limits and the sleeping workers that can
//! be woken for new work, and the bounds on how many functions the server keeps.
//!
//! Functions are created by the first CAN_DO, submission, `maxqueue` or `create function`, and
//! stay visible in `status` once nobody uses them, as gearmand keeps them, until `drop
//! function`. Since any peer can name functions, that is bounded: at most `max_functions` exist
//! at once (a request that would create one more is refused with ERROR TOO_MANY_FUNCTIONS, after
//! idle ones are forgotten to make room), one connection registers at most
//! `max_worker_functions`, and beyond [`IDLE_FUNCTIONS_KEPT`] idle functions (no worker, no
//! job, no queue limit) the newest idle ones are forgotten when a connection that registered
//! many leaves, so their memory is given back. The sleeper list holds stale entries lazily; it
//! is compacted when it outgrows the registrations, so it stays bounded however often workers
//! sleep and wake.

use std::collections::VecDeque;

use bytes::Bytes;

use super::ids::JobId;
use super::job::{JobList, Priority};
use super::{ConnId, Engine, FnId};

/// Idle functions (no worker, job or queue limit) kept visible once many are forgotten.
pub const IDLE_FUNCTIONS_KEPT: usize = 1024;

/// A request would create a function beyond `max_functions`.
#[derive(Debug)]
pub struct TooManyFunctions;

/// A sleeping worker as recorded at its PRE_SLEEP; `serial` tells whether it is still asleep.
#[derive(Debug, Clone, Copy)]
pub struct Sleeper {
    /// The worker connection.
    pub conn: ConnId,
    /// The connection's sleep serial when it went to sleep.
    pub serial: u64,
}

/// The jobs of one queue whose workloads are not in memory (`--resident-jobs`).
#[derive(Debug, Clone, Copy)]
pub struct Spill {
    /// The oldest job whose workload is only in the store and not being read back, or [`JobId::NIL`].
    /// Every job ahead of it in the queue is resident or loading.
    pub first: JobId,
    /// Jobs in the queue whose workload is not in memory (spilled or loading).
    pub count: u32,
    /// A read-back for this queue is in flight.
    pub loading: bool,
}

impl Default for Spill {
    fn default() -> Self {
        Spill {
            first: JobId::NIL,
            count: 0,
            loading: false,
        }
    }
}

/// One function and everything kept per function.
#[derive(Debug, Default)]
pub struct Function {
    /// Name as registered or submitted.
    pub name: Bytes,
    /// Runnable jobs per priority, oldest first.
    pub queues: [JobList; 3],
    /// Per priority, the queued jobs whose workloads are only in the store.
    pub spill: [Spill; 3],
    /// Jobs in memory: queued, pending (epoch) and running.
    pub total: u32,
    /// Jobs held by workers.
    pub running: u32,
    /// In a cluster: foreground jobs among `total` waiting here for another node
    /// (`relay.rs`); their rows are counted with the table's.
    pub elsewhere: u32,
    /// Epoch jobs per priority whose time has not come: counted as queued, in no queue.
    pub pending: [u32; 3],
    /// Connections registered for the function.
    pub workers: u32,
    /// Queue limits per priority; 0 is unlimited.
    pub limits: [u32; 3],
    /// Totals and time histograms for `/metrics` (`stats.rs`).
    pub stats: super::stats::FunctionStats,
    /// Workers asleep waiting for this function's work, longest asleep first.
    pub sleepers: VecDeque<Sleeper>,
}

impl Function {
    /// A new, empty function.
    pub fn new(name: Bytes) -> Function {
        Function {
            name,
            ..Function::default()
        }
    }

    /// Jobs waiting in the queue of `priority`.
    pub fn queued(&self, priority: Priority) -> u32 {
        self.queues[priority.index()].len()
    }

    /// Jobs waiting at `priority`, epoch jobs not yet due included (what `prioritystatus`
    /// shows, as gearmand does).
    pub fn waiting(&self, priority: Priority) -> u32 {
        self.queued(priority) + self.pending[priority.index()]
    }

    /// Nobody uses the function: no worker, no job, no queue limit but the default one.
    pub fn is_idle(&self, default_limits: [u32; 3]) -> bool {
        self.workers == 0 && self.total == 0 && self.limits == default_limits
    }

    /// True when a new job of `priority` must be refused (`maxqueue`).
    pub fn is_full(&self, priority: Priority) -> bool {
        let limit = self.limits[priority.index()];
        limit != 0 && self.total >= limit
    }

    /// Record a sleeping worker; `alive` tells which recorded sleepers are still asleep, so that
    /// stale entries are dropped once they outnumber the registrations.
    pub fn add_sleeper(&mut self, sleeper: Sleeper, alive: impl Fn(&Sleeper) -> bool) {
        if self.sleepers.len() >= 16 && self.sleepers.len() > 2 * self.workers as usize {
            self.sleepers.retain(|s| alive(s));
        }
        self.sleepers.push_back(sleeper);
    }
}

impl Engine {
    /// The function named `name`, created if it does not exist yet and the limit allows.
    pub(super) fn function_id(&mut self, name: &[u8]) -> Result<FnId, TooManyFunctions> {
        if let Some(&id) = self.function_ids.get(name) {
            return Ok(id);
        }
        let max = self.config.max_functions as usize;
        if max != 0 && self.functions.len() >= max {
            // Make room by forgetting functions nobody uses.
            self.forget_idle_functions(0);
            if self.functions.len() >= max {
                return Err(TooManyFunctions);
            }
        }
        Ok(self.create_function(name))
    }

    /// The function named `name`, created whatever the limit: for jobs replayed from the store,
    /// which were accepted once and must not be lost.
    pub(super) fn function_id_unbounded(&mut self, name: &[u8]) -> FnId {
        match self.function_ids.get(name) {
            Some(&id) => id,
            None => self.create_function(name),
        }
    }

    fn create_function(&mut self, name: &[u8]) -> FnId {
        let name = Bytes::copy_from_slice(name);
        let mut function = Function::new(name.clone());
        function.limits = self.config.default_queue_limits;
        let id = self.functions.insert(function);
        self.function_ids.insert(name, id);
        id
    }

    /// Forget idle functions beyond the first `keep` (oldest slots first), and give their
    /// memory back.
    pub(super) fn forget_idle_functions(&mut self, keep: usize) {
        let idle: Vec<FnId> = self
            .functions
            .iter()
            .filter(|(_, f)| f.is_idle(self.config.default_queue_limits))
            .map(|(id, _)| id)
            .skip(keep)
            .collect();
        if idle.is_empty() {
            return;
        }
        for f in idle {
            let function = self.functions.remove(f);
            self.function_ids.remove(&function.name);
        }
        self.functions.shrink_to_fit();
        self.function_ids.shrink_to_fit();
    }

    /// ERROR TOO_MANY_FUNCTIONS to `id`.
    pub(super) fn too_many_functions(&mut self, id: ConnId, out: &mut impl super::Outbox) {
        self.counters.rejected += 1;
        let text = format!(
            "The server holds its maximum of {} functions",
            self.config.max_functions
        );
        self.conns.error(out, id, "TOO_MANY_FUNCTIONS", &text);
    }
}
