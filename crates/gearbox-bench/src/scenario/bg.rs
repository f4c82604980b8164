//! `bg`: background-job throughput. C client connections submit N SUBMIT_JOB_BG jobs,
//! pipelined (a window of unanswered submissions per connection), while W workers grab and
//! complete them. Measures the submit rate, the end-to-end rate (first submission to last
//! completion) and server CPU per 1000 jobs; fails unless exactly the N submitted job numbers
//! were completed, once each.

use std::sync::Arc;
use std::time::Instant;

use anyhow::Result;

use super::{await_ledger, expect_drained, rate, start_workers, submit_all_bg, Env, WorkerSpec};
use crate::ledger::Ledger;
use crate::report::Record;
use crate::run;

/// Sizes of a `bg` run.
#[derive(Debug, Clone, clap::Args)]
pub struct BgArgs {
    /// Jobs to submit.
    #[arg(short = 'n', long, default_value_t = 200_000)]
    pub jobs: u64,
    /// Client connections submitting.
    #[arg(short = 'c', long, default_value_t = 4)]
    pub clients: u64,
    /// Worker connections.
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
pub async fn run(env: &Env, a: &BgArgs) -> Result<Record> {
    let function: Arc<str> = Arc::from("bench_bg");
    let functions = vec![function.to_string()];

    run::stage("registering workers", None);
    let t_setup = Instant::now();
    let ledger = Arc::new(Ledger::new(a.jobs, t_setup));
    let spec = WorkerSpec::one_function(&functions, false, &ledger);
    let workers = start_workers(env.addr, a.workers, &spec, |_| vec![0]).await?;

    run::stage("submitting and working", Some(&ledger));
    let cpu = env.cpu()?;
    let t0 = Instant::now();
    let submit_secs = submit_all_bg(
        &[env.addr],
        &function,
        a.jobs,
        a.clients,
        a.window,
        a.payload,
        t0,
    )
    .await?;
    await_ledger(env.addr, &ledger, &functions, true).await?;
    // The ledger's clock started at setup; measure from the first submission.
    let e2e_secs = ledger.last_secs() - t0.duration_since(t_setup).as_secs_f64();

    let mut rec = Record::default();
    rec.num("submit_per_s", rate(a.jobs, submit_secs))
        .num("e2e_per_s", rate(a.jobs, e2e_secs));
    cpu.record_since(env, a.jobs, "", &mut rec)?;
    run::stage("checking the server is empty", None);
    expect_drained(env.addr, &functions).await?;
    drop(workers);
    rec.text(
        "params",
        format!(
            "jobs={} clients={} workers={} payload={} window={}",
            a.jobs, a.clients, a.workers, a.payload, a.window
        ),
    );
    Ok(rec)
}
