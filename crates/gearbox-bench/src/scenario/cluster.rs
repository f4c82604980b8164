//! `cluster`: the nodes of one gearboxd cluster (or any single server, for comparison). First
//! background throughput with the clients and the workers spread over the nodes (client `i`
//! and worker `i` on node `i mod k`), measured end to end as `bg` does; then the wake-up
//! latency across nodes: a worker asleep on the last node, a client on the first submitting
//! one background job at a time, the time from sending SUBMIT_JOB_BG to the worker receiving
//! the job; then foreground jobs across nodes: a client on the first node, a worker on the
//! last, the time from SUBMIT_JOB to WORK_COMPLETE one job at a time (the worker awake), and
//! the throughput with a window of jobs in flight (every job has a unique id, as libgearman's
//! clients give them). On one server all run against it alone. Fails unless every job
//! completed once.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Result};
use gearbox_proto::PacketType;
use tokio::sync::mpsc;

use super::{
    await_ledger, expect_drained, latency_fields, rate, start_workers, submit_all_bg, Env,
    WorkerSpec,
};
use crate::ledger::{parse_num, put_payload, Ledger};
use crate::report::Record;
use crate::run;
use crate::wire::{Conn, Decimal};

/// Sizes of a `cluster` run.
#[derive(Debug, Clone, clap::Args)]
pub struct ClusterArgs {
    /// The other nodes (the first is the positional address).
    #[arg(long = "also", value_name = "ADDR")]
    pub also: Vec<SocketAddr>,
    /// Jobs to submit.
    #[arg(short = 'n', long, default_value_t = 100_000)]
    pub jobs: u64,
    /// Client connections submitting, spread over the nodes.
    #[arg(short = 'c', long, default_value_t = 6)]
    pub clients: u64,
    /// Worker connections, spread over the nodes.
    #[arg(short = 'w', long, default_value_t = 12)]
    pub workers: usize,
    /// Workload bytes per job (at least 12: the job number).
    #[arg(short = 's', long, default_value_t = 100, value_parser = crate::payload_size)]
    pub payload: usize,
    /// Unanswered submissions per client connection.
    #[arg(long, default_value_t = 256)]
    pub window: u64,
    /// Wake-ups to time.
    #[arg(long, default_value_t = 200)]
    pub wakeups: u64,
    /// Foreground round trips to time, one at a time.
    #[arg(long, default_value_t = 200)]
    pub round_trips: u64,
    /// Foreground jobs for the throughput across nodes.
    #[arg(long, default_value_t = 5_000)]
    pub fg_jobs: u64,
    /// Foreground jobs in flight for that throughput.
    #[arg(long, default_value_t = 32)]
    pub fg_window: u64,
}

/// Run it.
pub async fn run(env: &Env, a: &ClusterArgs) -> Result<Record> {
    let nodes: Vec<SocketAddr> = std::iter::once(env.addr)
        .chain(a.also.iter().copied())
        .collect();
    let mut rec = Record::default();
    throughput(&nodes, a, &mut rec).await?;
    wakeups(&nodes, a, &mut rec).await?;
    foreground(&nodes, a, &mut rec).await?;
    rec.text(
        "params",
        format!(
            "nodes={} jobs={} clients={} workers={} payload={} window={} wakeups={} \
             round_trips={} fg_jobs={} fg_window={}",
            nodes.len(),
            a.jobs,
            a.clients,
            a.workers,
            a.payload,
            a.window,
            a.wakeups,
            a.round_trips,
            a.fg_jobs,
            a.fg_window
        ),
    );
    Ok(rec)
}

async fn throughput(nodes: &[SocketAddr], a: &ClusterArgs, rec: &mut Record) -> Result<()> {
    let function: Arc<str> = Arc::from("bench_cluster");
    let functions = vec![function.to_string()];
    run::stage("registering workers", None);
    let t_setup = Instant::now();
    let ledger = Arc::new(Ledger::new(a.jobs, t_setup));
    let spec = WorkerSpec::one_function(&functions, false, &ledger);
    let mut workers = Vec::new();
    for (k, &node) in nodes.iter().enumerate() {
        let here = (0..a.workers).filter(|i| i % nodes.len() == k).count();
        workers.extend(start_workers(node, here, &spec, |_| vec![0]).await?);
    }
    run::stage("submitting and working", Some(&ledger));
    let t0 = Instant::now();
    let submit_secs =
        submit_all_bg(nodes, &function, a.jobs, a.clients, a.window, a.payload, t0).await?;
    // Jobs wait in the shared table, which no node's `status` shows: only the ledger tells.
    await_ledger(nodes[0], &ledger, &functions, false).await?;
    let e2e_secs = ledger.last_secs() - t0.duration_since(t_setup).as_secs_f64();
    rec.num("submit_per_s", rate(a.jobs, submit_secs))
        .num("e2e_per_s", rate(a.jobs, e2e_secs));
    run::stage("checking the nodes are empty", None);
    for &node in nodes {
        expect_drained(node, &functions).await?;
    }
    drop(workers);
    Ok(())
}

/// Time `a.wakeups` jobs from a client on the first node to a sleeping worker on the last.
async fn wakeups(nodes: &[SocketAddr], a: &ClusterArgs, rec: &mut Record) -> Result<()> {
    let function = "bench_wake";
    run::stage("timing wake-ups", None);
    let (assigned, mut arrivals) = mpsc::unbounded_channel();
    let mut worker = Conn::connect(*nodes.last().unwrap_or(&nodes[0])).await?;
    worker.push(PacketType::CanDo, &[], function.as_bytes());
    worker.push(PacketType::GrabJobUniq, &[], &[]);
    worker.flush().await?;
    let worker = run::spawn("wake-up worker".into(), sleeper(worker, assigned));
    let mut client = Conn::connect(nodes[0]).await?;
    let mut latencies = Vec::with_capacity(a.wakeups as usize);
    for n in 0..a.wakeups {
        // The worker is asleep again before the next job: what is timed is a wake-up.
        tokio::time::sleep(Duration::from_millis(10)).await;
        let unique = Decimal::new(n);
        client.push_head(
            PacketType::SubmitJobBg,
            &[function.as_bytes(), unique.as_bytes()],
            a.payload,
        );
        put_payload(client.out(), n, a.payload);
        let sent = Instant::now();
        client.flush().await?;
        let p = client.packet().await?;
        if p.kind != PacketType::JobCreated {
            bail!("wake-up job {n}: {} instead of JOB_CREATED", p.kind.name());
        }
        let Some((got, at)) = arrivals.recv().await else {
            bail!("the wake-up worker stopped");
        };
        if got != n {
            bail!("wake-up job {got} arrived while {n} was expected");
        }
        latencies.push(u64::try_from(at.duration_since(sent).as_nanos()).unwrap_or(u64::MAX));
    }
    drop(worker);
    latency_fields(rec, "wake_", &mut latencies);
    Ok(())
}

/// Foreground jobs from a client on the first node to a worker on the last: `a.round_trips`
/// timed one at a time, then `a.fg_jobs` with `a.fg_window` in flight.
async fn foreground(nodes: &[SocketAddr], a: &ClusterArgs, rec: &mut Record) -> Result<()> {
    let function = "bench_relay";
    run::stage("timing foreground jobs across nodes", None);
    let (assigned, _arrivals) = mpsc::unbounded_channel();
    let mut worker = Conn::connect(*nodes.last().unwrap_or(&nodes[0])).await?;
    worker.push(PacketType::CanDo, &[], function.as_bytes());
    worker.push(PacketType::GrabJobUniq, &[], &[]);
    worker.flush().await?;
    let worker = run::spawn("foreground worker".into(), sleeper(worker, assigned));
    let mut client = Conn::connect(nodes[0]).await?;
    let submit = |client: &mut Conn, n: u64| {
        let unique = Decimal::new(n);
        client.push_head(
            PacketType::SubmitJob,
            &[function.as_bytes(), unique.as_bytes()],
            a.payload,
        );
        put_payload(client.out(), n, a.payload);
    };
    // The answers a foreground job gets here: JOB_CREATED, then WORK_COMPLETE.
    async fn completed(client: &mut Conn) -> Result<()> {
        loop {
            let p = client.packet().await?;
            match p.kind {
                PacketType::JobCreated => {}
                PacketType::WorkComplete => return Ok(()),
                other => bail!("a foreground job got {}", other.name()),
            }
        }
    }
    let mut latencies = Vec::with_capacity(a.round_trips as usize);
    for n in 0..a.round_trips {
        submit(&mut client, n);
        let sent = Instant::now();
        client.flush().await?;
        completed(&mut client).await?;
        latencies.push(u64::try_from(sent.elapsed().as_nanos()).unwrap_or(u64::MAX));
    }
    latency_fields(rec, "fg_", &mut latencies);
    let first = a.round_trips;
    let t0 = Instant::now();
    let mut next = first;
    let end = first + a.fg_jobs;
    while next < end.min(first + a.fg_window) {
        submit(&mut client, next);
        next += 1;
    }
    client.flush().await?;
    for _ in 0..a.fg_jobs {
        completed(&mut client).await?;
        if next < end {
            submit(&mut client, next);
            next += 1;
            client.flush().await?;
        }
    }
    rec.num("fg_per_s", rate(a.fg_jobs, t0.elapsed().as_secs_f64()));
    drop(worker);
    Ok(())
}

/// A worker that sleeps between jobs (PRE_SLEEP, then GRAB on NOOP) and reports each job's
/// number and arrival time.
async fn sleeper(mut conn: Conn, assigned: mpsc::UnboundedSender<(u64, Instant)>) -> Result<()> {
    loop {
        let p = conn.packet().await?;
        let at = Instant::now();
        match p.kind {
            PacketType::NoJob => conn.push(PacketType::PreSleep, &[], &[]),
            PacketType::Noop => conn.push(PacketType::GrabJobUniq, &[], &[]),
            PacketType::JobAssignUniq => {
                let args = p.args()?;
                let Some(n) = parse_num(args.get(3)) else {
                    bail!("a wake-up job without a number");
                };
                conn.push(PacketType::WorkComplete, &[args.get(0)], b"");
                conn.push(PacketType::GrabJobUniq, &[], &[]);
                if assigned.send((n, at)).is_err() {
                    return Ok(());
                }
            }
            other => bail!("wake-up worker got {}", other.name()),
        }
        conn.flush().await?;
    }
}
