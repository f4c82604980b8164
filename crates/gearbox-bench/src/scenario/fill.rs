//! `fill`: the cost of a deep queue. N background jobs (100-byte workloads by default) are
//! queued with no worker connected; the server's resident memory before and after gives the
//! bytes each queued job costs. Then W workers drain the queue: the drain rate, and the
//! resident memory afterwards (does the server give the memory back?).

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Result};

use super::{await_ledger, expect_drained, rate, start_workers, submit_all_bg, Env, WorkerSpec};
use crate::ledger::Ledger;
use crate::report::Record;
use crate::run;
use crate::wire::queue_counts;

/// Time given to the server to settle (close connections, free buffers) before its memory is
/// read; RSS is instantaneous, so reading it mid-teardown would be noise.
const SETTLE: Duration = Duration::from_millis(300);

/// Sizes of a `fill` run.
#[derive(Debug, Clone, clap::Args)]
pub struct FillArgs {
    /// Jobs to queue.
    #[arg(short = 'n', long, default_value_t = 50_000)]
    pub jobs: u64,
    /// Client connections filling the queue.
    #[arg(short = 'c', long, default_value_t = 4)]
    pub clients: u64,
    /// Workers that drain it.
    #[arg(short = 'w', long, default_value_t = 8)]
    pub workers: usize,
    /// Workload bytes per job (at least 12: the job number).
    #[arg(short = 's', long, default_value_t = 100, value_parser = crate::payload_size)]
    pub payload: usize,
    /// Unanswered submissions per client connection.
    #[arg(long, default_value_t = 256)]
    pub window: u64,
}

/// Run it.
pub async fn run(env: &Env, a: &FillArgs) -> Result<Record> {
    let function: Arc<str> = Arc::from("bench_fill");
    let functions = vec![function.to_string()];
    let mut rec = Record::default();

    let rss_before = env.server_rss()?;
    run::stage("filling the queue", None);
    let cpu = env.cpu()?;
    let t0 = Instant::now();
    submit_all_bg(
        &[env.addr],
        &function,
        a.jobs,
        a.clients,
        a.window,
        a.payload,
        t0,
    )
    .await?;
    let fill_secs = t0.elapsed().as_secs_f64();
    let cpu_fill = cpu.since(env, a.jobs)?;
    tokio::time::sleep(SETTLE).await;
    let rss_full = env.server_rss()?;
    let queued = queue_counts(env.addr, &functions).await?[0].0;
    if queued != a.jobs {
        bail!("queued {} jobs, but the server lists {queued}", a.jobs);
    }

    let ledger = Arc::new(Ledger::new(a.jobs, Instant::now()));
    run::stage("draining", Some(&ledger));
    let cpu = env.cpu()?;
    let spec = WorkerSpec::one_function(&functions, false, &ledger);
    let workers = start_workers(env.addr, a.workers, &spec, |_| vec![0]).await?;
    await_ledger(env.addr, &ledger, &functions, true).await?;
    let drain_secs = ledger.last_secs();
    let cpu_drain = cpu.since(env, a.jobs)?;
    run::stage("checking the server is empty", None);
    expect_drained(env.addr, &functions).await?;
    drop(workers);
    tokio::time::sleep(SETTLE).await;
    let rss_after = env.server_rss()?;

    let grown = rss_full.saturating_sub(rss_before);
    rec.num("rss_before_kb", rss_before as f64)
        .num("rss_full_kb", rss_full as f64)
        .num("bytes_per_job", grown as f64 * 1024.0 / a.jobs as f64)
        .num("fill_per_s", rate(a.jobs, fill_secs))
        .num("drain_per_s", rate(a.jobs, drain_secs))
        .num("rss_drained_kb", rss_after as f64)
        .num(
            "rss_kept_pct",
            if grown > 0 {
                rss_after.saturating_sub(rss_before) as f64 * 100.0 / grown as f64
            } else {
                0.0
            },
        );
    cpu_fill.record("fill_", &mut rec);
    cpu_drain.record("drain_", &mut rec);
    rec.text(
        "params",
        format!(
            "jobs={} clients={} workers={} payload={} window={}",
            a.jobs, a.clients, a.workers, a.payload, a.window
        ),
    );
    Ok(rec)
}
