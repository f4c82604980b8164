//! The dashboard's recent past: every [`SAMPLE_EVERY`] the HTTP thread takes the metrics
//! snapshot and keeps, per function, the totals the charts need, for the last [`KEPT`]
//! samples (ten minutes) in a ring buffer. `/api/history` turns consecutive samples into
//! rates: jobs completed and failed per second, the mean queue wait of the jobs handed out in
//! each interval, and the queue length at each sample.
//!
//! Kept on the HTTP thread, so the engine keeps no history and pays nothing for it; lost at
//! a restart.

use std::collections::{BTreeMap, VecDeque};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{json, Value};

use super::Metrics;

/// How often a sample is taken.
pub const SAMPLE_EVERY: Duration = Duration::from_secs(5);
/// How many samples are kept.
pub const KEPT: usize = 120;
/// Functions charted at most (the busiest by jobs completed in the window).
const CHARTED: usize = 8;

/// One function's totals at one moment.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Point {
    completed: u64,
    failed: u64,
    wait_sum_ms: u64,
    wait_count: u64,
    queued: u64,
}

#[derive(Debug, Clone)]
struct Sample {
    /// Unix milliseconds.
    at: u64,
    functions: BTreeMap<String, Point>,
}

/// The ring buffer.
#[derive(Debug, Default)]
pub struct History {
    samples: VecDeque<Sample>,
}

impl History {
    /// Keep a sample of `metrics` taken now.
    pub fn record(&mut self, metrics: &Metrics) {
        let at = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
        self.record_at(at, metrics);
    }

    fn record_at(&mut self, at: u64, metrics: &Metrics) {
        let functions = metrics
            .engine
            .functions
            .iter()
            .map(|f| {
                let s = &f.stats;
                let point = Point {
                    completed: s.completed,
                    failed: s.failed + s.exceptions,
                    wait_sum_ms: s.queue_wait.sum,
                    wait_count: s.queue_wait.count(),
                    queued: f.waiting.iter().map(|&n| u64::from(n)).sum(),
                };
                (String::from_utf8_lossy(&f.name).into_owned(), point)
            })
            .collect();
        if self.samples.len() == KEPT {
            self.samples.pop_front();
        }
        self.samples.push_back(Sample { at, functions });
    }

    /// The charts' series: for each interval between two samples, per function, completed
    /// and failed jobs per second, the mean queue wait (ms) of the jobs handed out in it, and
    /// the queue length at its end. A function's counters going down (it was forgotten and
    /// created again) count from zero.
    pub fn series(&self) -> Value {
        let mut busiest: BTreeMap<&str, u64> = BTreeMap::new();
        if let (Some(first), Some(last)) = (self.samples.front(), self.samples.back()) {
            for (name, p) in &last.functions {
                let before = first.functions.get(name).map_or(0, |q| q.completed);
                busiest.insert(name, p.completed.saturating_sub(before) + p.queued);
            }
        }
        let mut names: Vec<&str> = busiest.keys().copied().collect();
        names.sort_by_key(|n| std::cmp::Reverse(busiest[n]));
        names.truncate(CHARTED);
        names.sort_unstable();
        let points: Vec<Value> = self
            .samples
            .iter()
            .zip(self.samples.iter().skip(1))
            .map(|(before, after)| {
                let secs = (after.at.saturating_sub(before.at) as f64 / 1000.0).max(0.001);
                let functions: serde_json::Map<String, Value> = names
                    .iter()
                    .map(|&name| {
                        let b = before.functions.get(name).copied().unwrap_or_default();
                        let a = after.functions.get(name).copied().unwrap_or_default();
                        let delta = |x: u64, y: u64| if x >= y { x - y } else { x };
                        let waits = delta(a.wait_count, b.wait_count);
                        let wait_ms = if waits == 0 {
                            0.0
                        } else {
                            delta(a.wait_sum_ms, b.wait_sum_ms) as f64 / waits as f64
                        };
                        let point = json!({
                            "completed_per_s": delta(a.completed, b.completed) as f64 / secs,
                            "failed_per_s": delta(a.failed, b.failed) as f64 / secs,
                            "wait_ms": wait_ms,
                            "queued": a.queued,
                        });
                        (name.to_owned(), point)
                    })
                    .collect();
                json!({"t": after.at, "functions": functions})
            })
            .collect();
        json!({
            "interval_s": SAMPLE_EVERY.as_secs(),
            "functions": names,
            "points": points,
        })
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use super::*;
    use crate::engine::{FunctionSnapshot, FunctionStats, Snapshot, BUCKETS_MS};

    fn metrics(completed: u64, waits: &[u64], queued: u32) -> Metrics {
        let mut stats = FunctionStats {
            completed,
            ..FunctionStats::default()
        };
        for &w in waits {
            stats.queue_wait.observe(&BUCKETS_MS, w);
        }
        Metrics {
            engine: Snapshot {
                functions: vec![FunctionSnapshot {
                    name: Bytes::from_static(b"f"),
                    stats,
                    waiting: [0, queued, 0],
                    running: 0,
                    workers: 1,
                }],
                ..Snapshot::default()
            },
            store: None,
        }
    }

    #[test]
    fn rates_come_from_consecutive_samples_and_the_ring_is_bounded() {
        let mut h = History::default();
        h.record_at(10_000, &metrics(100, &[], 7));
        h.record_at(15_000, &metrics(150, &[10, 30], 3));
        let series = h.series();
        let point = &series["points"][0]["functions"]["f"];
        assert_eq!(point["completed_per_s"], 10.0);
        assert_eq!(point["wait_ms"], 20.0);
        assert_eq!(point["queued"], 3);
        assert_eq!(series["functions"], json!(["f"]));
        for i in 0..(KEPT as u64 + 10) {
            h.record_at(20_000 + i * 5_000, &metrics(200 + i, &[], 0));
        }
        assert_eq!(h.samples.len(), KEPT);
        assert_eq!(h.series()["points"].as_array().unwrap().len(), KEPT - 1);
    }
}
