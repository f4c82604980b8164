//! `fg`: foreground round trips. C clients each run a submit-and-wait loop (SUBMIT_JOB, then
//! JOB_CREATED, then the relayed WORK_COMPLETE) against W echo workers, N jobs in all.
//! Measures throughput, latency percentiles (submission written to result read) and server CPU
//! per job. Every result must be the echo of the job that client submitted, and every job must
//! be executed exactly once.
//!
//! By default the loop is closed: each client submits its next job as soon as it has the
//! result, so the rate is whatever the server and the machine sustain. With `--rate R` each
//! client submits on a schedule (R jobs per second in all, the clients staggered) and still
//! waits for each result, so two servers can be compared at the same load, below saturation.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, Result};
use gearbox_proto::PacketType;

use super::{
    await_ledger, describe_error, expect_drained, latency_fields, rate, share, start_workers, Env,
    WorkerSpec,
};
use crate::ledger::{parse_num, put_payload, Ledger};
use crate::report::Record;
use crate::run;
use crate::wire::{Conn, Decimal};

/// Sizes of an `fg` run.
#[derive(Debug, Clone, clap::Args)]
pub struct FgArgs {
    /// Jobs in all.
    #[arg(short = 'n', long, default_value_t = 100_000)]
    pub jobs: u64,
    /// Concurrent clients, one job outstanding each.
    #[arg(short = 'c', long, default_value_t = 16)]
    pub clients: u64,
    /// Echo workers.
    #[arg(short = 'w', long, default_value_t = 8)]
    pub workers: usize,
    /// Workload bytes per job (at least 12: the job number).
    #[arg(short = 's', long, default_value_t = 100, value_parser = crate::payload_size)]
    pub payload: usize,
    /// Jobs per second in all, on a schedule; 0: as fast as results come back.
    #[arg(long, default_value_t = 0.0)]
    pub rate: f64,
}

impl FgArgs {
    /// The parameters, for the record.
    pub fn params(&self) -> String {
        let mut params = format!(
            "jobs={} clients={} workers={} payload={}",
            self.jobs, self.clients, self.workers, self.payload
        );
        if self.rate > 0.0 {
            params.push_str(&format!(" rate={}", self.rate));
        }
        params
    }
}

/// Run it.
pub async fn run(env: &Env, a: &FgArgs) -> Result<Record> {
    let mut rec = Record::default();
    measure(env, a, "", &mut rec).await?;
    rec.text("params", a.params());
    Ok(rec)
}

/// One foreground measurement, its fields named with `prefix` (the `conns` scenario runs two).
pub async fn measure(env: &Env, a: &FgArgs, prefix: &str, rec: &mut Record) -> Result<()> {
    let functions = vec!["bench_fg".to_owned()];
    let function: Arc<str> = Arc::from(functions[0].as_str());

    run::stage(format!("{prefix}registering workers"), None);
    let ledger = Arc::new(Ledger::new(a.jobs, Instant::now()));
    let spec = WorkerSpec::one_function(&functions, true, &ledger);
    let workers = start_workers(env.addr, a.workers, &spec, |_| vec![0]).await?;

    run::stage(format!("{prefix}submit-and-wait loops"), Some(&ledger));
    let latencies = Arc::new(Mutex::new(Vec::with_capacity(a.jobs as usize)));
    let cpu = env.cpu()?;
    let t0 = Instant::now();
    // With a rate, each client submits every `clients / rate` seconds, the clients staggered
    // evenly over one such interval.
    let interval = (a.rate > 0.0).then(|| Duration::from_secs_f64(a.clients as f64 / a.rate));
    let clients: Vec<_> = (0..a.clients)
        .map(|i| {
            let schedule = interval.map(|every| Schedule {
                start: t0 + every.mul_f64(i as f64 / a.clients as f64),
                every,
            });
            run::spawn(
                format!("client {i}"),
                client(
                    env.addr,
                    Arc::clone(&function),
                    share(a.jobs, a.clients, i),
                    a.payload,
                    schedule,
                    Arc::clone(&latencies),
                ),
            )
        })
        .collect();
    run::join(&clients).await?;
    let secs = t0.elapsed().as_secs_f64();
    // Every client has its results, so the workers must have marked every job; this also
    // catches a job executed twice after its first result was relayed.
    await_ledger(env.addr, &ledger, &functions, true).await?;

    rec.num(&format!("{prefix}jobs_per_s"), rate(a.jobs, secs));
    let mut lat = std::mem::take(&mut *latencies.lock().unwrap_or_else(|e| e.into_inner()));
    latency_fields(rec, prefix, &mut lat);
    cpu.record_since(env, a.jobs, prefix, rec)?;
    run::stage(format!("{prefix}checking the server is empty"), None);
    expect_drained(env.addr, &functions).await?;
    drop(workers);
    Ok(())
}

/// When a rate-limited client submits its jobs.
#[derive(Debug, Clone, Copy)]
struct Schedule {
    start: Instant,
    every: Duration,
}

async fn client(
    addr: std::net::SocketAddr,
    function: Arc<str>,
    range: std::ops::Range<u64>,
    payload: usize,
    schedule: Option<Schedule>,
    latencies: Arc<Mutex<Vec<u64>>>,
) -> Result<()> {
    let mut conn = Conn::connect(addr).await?;
    let mut lat = Vec::with_capacity((range.end - range.start) as usize);
    for (nth, num) in range.enumerate() {
        if let Some(s) = schedule {
            let due = s.start + s.every.mul_f64(nth as f64);
            tokio::time::sleep_until(due.into()).await;
        }
        let unique = Decimal::new(num);
        conn.push_head(
            PacketType::SubmitJob,
            &[function.as_bytes(), unique.as_bytes()],
            payload,
        );
        put_payload(conn.out(), num, payload);
        let t = Instant::now();
        conn.flush().await?;
        let created = conn.packet().await?;
        match created.kind {
            PacketType::JobCreated => {}
            PacketType::Error => bail!("job {num}: {}", describe_error(&created)),
            other => bail!("job {num}: expected JOB_CREATED, got {}", other.name()),
        }
        let result = conn.packet().await?;
        lat.push(u64::try_from(t.elapsed().as_nanos()).unwrap_or(u64::MAX));
        if result.kind != PacketType::WorkComplete {
            bail!(
                "job {num}: expected WORK_COMPLETE, got {}",
                result.kind.name()
            );
        }
        let args = result.args()?;
        if args.get(0) != &created.body[..] {
            bail!(
                "job {num}: WORK_COMPLETE for handle {:?}, but the job is {:?}",
                String::from_utf8_lossy(args.get(0)),
                String::from_utf8_lossy(&created.body)
            );
        }
        if parse_num(args.get(1)) != Some(num) || args.get(1).len() != payload {
            bail!("job {num}: the result is not this job's workload echoed");
        }
    }
    latencies
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .extend_from_slice(&lat);
    Ok(())
}
