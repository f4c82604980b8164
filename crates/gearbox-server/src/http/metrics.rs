//! `/metrics`: the engine's snapshot and the store's commit statistics in the Prometheus text
//! exposition format (version 0.0.4), named by Prometheus's conventions: a `gearbox_` prefix,
//! `_total` for counters, base units (seconds, bytes) in the name, label values escaped.
//!
//! Rendering only: what is counted, and when, is `engine::stats`'s and the network layer's.

use std::fmt::Write as _;

use crate::engine::{FunctionSnapshot, Histogram, Snapshot, BUCKETS_MS};

use super::Metrics;

/// Upper bounds of the store commit latency buckets, in microseconds.
pub const COMMIT_BOUNDS_US: [u64; 14] = [
    100, 250, 500, 1_000, 2_500, 5_000, 10_000, 25_000, 50_000, 100_000, 250_000, 500_000,
    1_000_000, 5_000_000,
];
/// Upper bounds of the store batch size buckets, in operations.
pub const BATCH_BOUNDS: [u64; 15] = [
    1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1_024, 2_048, 4_096, 8_192, 16_384,
];

/// The durable store's transactions since the start.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StoreStats {
    /// How long each transaction took, in microseconds.
    pub commit_us: Histogram<{ COMMIT_BOUNDS_US.len() + 1 }>,
    /// Operations per transaction.
    pub batch_ops: Histogram<{ BATCH_BOUNDS.len() + 1 }>,
    /// Transactions that failed.
    pub failures: u64,
}

/// The resident memory of this process, from `/proc/self/status` (0 where there is none).
pub fn resident_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status.lines().find_map(|line| {
                let kb = line.strip_prefix("VmRSS:")?.trim().strip_suffix("kB")?;
                kb.trim().parse::<u64>().ok()
            })
        })
        .map_or(0, |kb| kb * 1024)
}

/// A label value with `\`, `"` and line feeds escaped; bytes that are not UTF-8 replaced.
/// A cluster node's part: nodes, leadership, offers, claims, and what waits in the table.
fn render_cluster(out: &mut String, c: &crate::engine::ClusterSnapshot) {
    let gauges = [
        (
            "gearbox_cluster_nodes",
            "Nodes of the cluster with a heartbeat row.",
            c.nodes,
        ),
        (
            "gearbox_cluster_leader",
            "1 if this node fires the cluster's schedules.",
            u64::from(c.leader),
        ),
    ];
    for (name, help, value) in gauges {
        single(out, name, "gauge", help, value);
    }
    let counters = [
        (
            "gearbox_cluster_jobs_offered_total",
            "Background jobs accepted here and offered to every node.",
            c.offered,
        ),
        (
            "gearbox_cluster_jobs_claimed_total",
            "Jobs this node claimed from the shared table.",
            c.claimed,
        ),
    ];
    for (name, help, value) in counters {
        single(out, name, "counter", help, value);
    }
    header(
        out,
        "gearbox_cluster_jobs_waiting",
        "gauge",
        "Jobs waiting unclaimed in the shared table, by function and priority.",
    );
    for (function, counts) in &c.waiting {
        let f = label(function);
        for (p, priority) in ["high", "normal", "low"].iter().enumerate() {
            let _ = writeln!(
                out,
                "gearbox_cluster_jobs_waiting{{function=\"{f}\",priority=\"{priority}\"}} {}",
                counts[p]
            );
        }
    }
}

fn label(value: &[u8]) -> String {
    let text = String::from_utf8_lossy(value);
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out
}

/// How a per-function sample is read from a function's snapshot.
type Value = fn(&FunctionSnapshot) -> u64;

/// A metric with one unlabelled sample.
fn single(out: &mut String, name: &str, kind: &str, help: &str, value: u64) {
    header(out, name, kind, help);
    let _ = writeln!(out, "{name} {value}");
}

fn header(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

/// One metric family with one sample per function.
fn per_function(
    out: &mut String,
    functions: &[(String, &FunctionSnapshot)],
    name: &str,
    kind: &str,
    help: &str,
    value: impl Fn(&FunctionSnapshot) -> u64,
) {
    header(out, name, kind, help);
    for (f, snapshot) in functions {
        let _ = writeln!(out, "{name}{{function=\"{f}\"}} {}", value(snapshot));
    }
}

/// A histogram's samples: cumulative buckets with `le` in seconds, `_sum` and `_count`.
fn histogram<const N: usize>(
    out: &mut String,
    name: &str,
    labels: &str,
    h: &Histogram<N>,
    bounds: &[u64],
    per_second: f64,
) {
    let sep = if labels.is_empty() { "" } else { "," };
    let mut cumulative = 0;
    for (i, count) in h.counts.iter().enumerate() {
        cumulative += count;
        let le = bounds.get(i).map_or_else(
            || "+Inf".to_owned(),
            |b| (*b as f64 / per_second).to_string(),
        );
        let _ = writeln!(
            out,
            "{name}_bucket{{{labels}{sep}le=\"{le}\"}} {cumulative}"
        );
    }
    let braces = if labels.is_empty() {
        String::new()
    } else {
        format!("{{{labels}}}")
    };
    let _ = writeln!(out, "{name}_sum{braces} {}", h.sum as f64 / per_second);
    let _ = writeln!(out, "{name}_count{braces} {cumulative}");
}

/// The whole page.
pub fn render(metrics: &Metrics, resident: u64) -> String {
    let mut out = String::with_capacity(4096);
    let s: &Snapshot = &metrics.engine;
    let functions: Vec<(String, &FunctionSnapshot)> =
        s.functions.iter().map(|f| (label(&f.name), f)).collect();

    header(
        &mut out,
        "gearbox_jobs_submitted_total",
        "counter",
        "Jobs created by a submission, by function, priority and kind.",
    );
    for (f, snapshot) in &functions {
        for (p, priority) in ["high", "normal", "low"].iter().enumerate() {
            for (k, kind) in ["foreground", "background"].iter().enumerate() {
                let _ = writeln!(
                    out,
                    "gearbox_jobs_submitted_total{{function=\"{f}\",priority=\"{priority}\",kind=\"{kind}\"}} {}",
                    snapshot.stats.submitted[p][k]
                );
            }
        }
    }
    let counters: [(&str, &str, Value); 7] = [
        (
            "gearbox_jobs_completed_total",
            "Jobs that ended with WORK_COMPLETE.",
            |f| f.stats.completed,
        ),
        (
            "gearbox_jobs_failed_total",
            "Jobs that failed for good (WORK_FAIL, or lost or timed out with no retry left).",
            |f| f.stats.failed,
        ),
        (
            "gearbox_jobs_exceptions_total",
            "Jobs that ended with WORK_EXCEPTION.",
            |f| f.stats.exceptions,
        ),
        (
            "gearbox_jobs_retried_total",
            "Attempts that were tried again.",
            |f| f.stats.retried,
        ),
        (
            "gearbox_jobs_timed_out_total",
            "Attempts that overran their CAN_DO_TIMEOUT.",
            |f| f.stats.timed_out,
        ),
        (
            "gearbox_jobs_cancelled_total",
            "Jobs removed by the admin cancel job.",
            |f| f.stats.cancelled,
        ),
        (
            "gearbox_jobs_coalesced_total",
            "Submissions that joined an existing job with the same unique id.",
            |f| f.stats.coalesced,
        ),
    ];
    for (name, help, value) in counters {
        per_function(&mut out, &functions, name, "counter", help, value);
    }

    header(
        &mut out,
        "gearbox_jobs_queued",
        "gauge",
        "Jobs waiting, by function and priority (epoch and retry waits included).",
    );
    for (f, snapshot) in &functions {
        for (p, priority) in ["high", "normal", "low"].iter().enumerate() {
            let _ = writeln!(
                out,
                "gearbox_jobs_queued{{function=\"{f}\",priority=\"{priority}\"}} {}",
                snapshot.waiting[p]
            );
        }
    }
    per_function(
        &mut out,
        &functions,
        "gearbox_jobs_running",
        "gauge",
        "Jobs held by workers.",
        |f| u64::from(f.running),
    );
    per_function(
        &mut out,
        &functions,
        "gearbox_function_workers",
        "gauge",
        "Connections registered for the function.",
        |f| u64::from(f.workers),
    );

    for (name, help, h) in [
        (
            "gearbox_job_queue_wait_seconds",
            "Time from becoming runnable to being handed to a worker.",
            0,
        ),
        (
            "gearbox_job_run_seconds",
            "Time from being handed to a worker to its result.",
            1,
        ),
    ] {
        header(&mut out, name, "histogram", help);
        for (f, snapshot) in &functions {
            let which = if h == 0 {
                &snapshot.stats.queue_wait
            } else {
                &snapshot.stats.run_time
            };
            histogram(
                &mut out,
                name,
                &format!("function=\"{f}\""),
                which,
                &BUCKETS_MS,
                1_000.0,
            );
        }
    }

    let gauges = [
        ("gearbox_connections", "Open connections.", s.connections),
        (
            "gearbox_workers",
            "Connections registered for at least one function.",
            s.workers,
        ),
        (
            "gearbox_clients",
            "Connections registered for no function.",
            s.clients,
        ),
        (
            "gearbox_jobs_in_memory",
            "Jobs in memory: queued, waiting and running.",
            s.jobs,
        ),
        (
            "gearbox_queued_bytes",
            "Bytes the jobs in memory hold (submissions and workloads).",
            s.held_bytes,
        ),
        (
            "gearbox_store_backlog",
            "Job store writes whose commit the server still waits for.",
            s.store_backlog,
        ),
        ("gearbox_dead_letters", "Dead letters kept.", s.dead_letters),
        (
            "gearbox_kept_results",
            "Results of background jobs kept.",
            s.kept_results,
        ),
        ("gearbox_schedules", "Recurring schedules.", s.schedules),
        (
            "process_resident_memory_bytes",
            "Resident memory size in bytes.",
            resident,
        ),
    ];
    for (name, help, value) in gauges {
        single(&mut out, name, "gauge", help, value);
    }

    if let Some(cluster) = &s.cluster {
        render_cluster(&mut out, cluster);
    }

    if let Some(store) = &metrics.store {
        header(
            &mut out,
            "gearbox_store_commit_seconds",
            "histogram",
            "Duration of the job store's transactions.",
        );
        histogram(
            &mut out,
            "gearbox_store_commit_seconds",
            "",
            &store.commit_us,
            &COMMIT_BOUNDS_US,
            1_000_000.0,
        );
        header(
            &mut out,
            "gearbox_store_commit_batch_size",
            "histogram",
            "Operations written per job store transaction.",
        );
        histogram(
            &mut out,
            "gearbox_store_commit_batch_size",
            "",
            &store.batch_ops,
            &BATCH_BOUNDS,
            1.0,
        );
        header(
            &mut out,
            "gearbox_store_commit_failures_total",
            "counter",
            "Job store transactions that failed.",
        );
        let _ = writeln!(
            out,
            "gearbox_store_commit_failures_total {}",
            store.failures
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(label(b"a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
        assert_eq!(label(b"\xff"), "\u{fffd}");
    }

    #[test]
    fn histograms_are_cumulative_in_seconds() {
        let mut h = crate::engine::TimeHistogram::default();
        h.observe(&BUCKETS_MS, 3);
        h.observe(&BUCKETS_MS, 7_000_000);
        let mut out = String::new();
        histogram(&mut out, "x", "function=\"f\"", &h, &BUCKETS_MS, 1_000.0);
        assert!(
            out.contains("x_bucket{function=\"f\",le=\"0.001\"} 0\n"),
            "{out}"
        );
        assert!(
            out.contains("x_bucket{function=\"f\",le=\"0.005\"} 1\n"),
            "{out}"
        );
        assert!(
            out.contains("x_bucket{function=\"f\",le=\"1800\"} 1\n"),
            "{out}"
        );
        assert!(
            out.contains("x_bucket{function=\"f\",le=\"+Inf\"} 2\n"),
            "{out}"
        );
        assert!(out.contains("x_sum{function=\"f\"} 7000.003\n"), "{out}");
        assert!(out.contains("x_count{function=\"f\"} 2\n"), "{out}");
    }
}
