//! Per-function settings from the configuration file: one value for each named function and
//! one for every other function (`[functions."*"]`), and what the server does with the end of
//! a background job ([`KeepPolicy`]: dead letters and kept results). The retry rules are
//! `retry.rs`'s. Nothing here acts on a job.

use bytes::Bytes;
use rustc_hash::FxHashMap;

/// A setting by function name, with a default for the functions not named.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PerFunction<T> {
    /// Settings of named functions.
    pub by_function: FxHashMap<Bytes, T>,
    /// The setting of every function not named.
    pub default: Option<T>,
}

impl<T> Default for PerFunction<T> {
    fn default() -> Self {
        PerFunction {
            by_function: FxHashMap::default(),
            default: None,
        }
    }
}

impl<T> PerFunction<T> {
    /// The setting for a function, if any.
    pub fn get(&self, function: &[u8]) -> Option<&T> {
        self.by_function.get(function).or(self.default.as_ref())
    }
}

/// What is kept of a background job once it is over.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeepPolicy {
    /// A job that fails for good (its retries used up, or a failure its policy does not
    /// retry) is kept as a dead letter (`dead.rs`).
    pub dead_letter: bool,
    /// How long the outcome (complete with its data, fail, exception) is kept, in
    /// milliseconds; 0 keeps none (`kept.rs`).
    pub keep_results_ms: u64,
    /// Result data beyond this many bytes is cut off (its full size is still reported).
    pub max_result_bytes: u32,
}
