//! `mixed`: correctness under a realistic mix. F functions, all three priorities, foreground
//! and background jobs submitted together over pipelined client connections; W workers each
//! serve a subset of the functions (worker i: functions i and i+1, modulo F). Every job must be
//! executed exactly once, by a worker that registered its function, and every foreground job's
//! result must reach its own client exactly once.
//!
//! Job number j selects its function (j mod F), priority ((j / F) mod 3) and mode
//! ((j / 3F) mod 2: odd is background), so all combinations occur evenly and are reconstructible
//! from the number alone.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::ops::Range;
use std::sync::Arc;
use std::time::Instant;

use anyhow::{bail, Result};
use gearbox_proto::{Packet, PacketType};

use super::{
    await_ledger, describe_error, expect_drained, rate, share, start_workers, Env, WorkerSpec,
};
use crate::ledger::{parse_num, put_payload, Ledger};
use crate::report::Record;
use crate::run;
use crate::wire::{Conn, Decimal};

/// Sizes of a `mixed` run.
#[derive(Debug, Clone, clap::Args)]
pub struct MixedArgs {
    /// Jobs in all.
    #[arg(short = 'n', long, default_value_t = 100_000)]
    pub jobs: u64,
    /// Client connections.
    #[arg(short = 'c', long, default_value_t = 8)]
    pub clients: u64,
    /// Worker connections (each serves two of the functions).
    #[arg(short = 'w', long, default_value_t = 6)]
    pub workers: usize,
    /// Functions.
    #[arg(short = 'f', long, default_value_t = 4)]
    pub functions: usize,
    /// Jobs in flight per client connection (submitted and not yet finished).
    #[arg(long, default_value_t = 64)]
    pub window: u64,
    /// Workload bytes per job (at least 12: the job number).
    #[arg(short = 's', long, default_value_t = 100, value_parser = crate::payload_size)]
    pub payload: usize,
}

fn function_of(num: u64, functions: usize) -> usize {
    (num % functions as u64) as usize
}

fn is_bg(num: u64, functions: usize) -> bool {
    (num / (3 * functions as u64)) % 2 == 1
}

fn submit_kind(num: u64, functions: usize) -> PacketType {
    let priority = (num / functions as u64) % 3;
    match (is_bg(num, functions), priority) {
        (false, 0) => PacketType::SubmitJobHigh,
        (false, 1) => PacketType::SubmitJob,
        (false, _) => PacketType::SubmitJobLow,
        (true, 0) => PacketType::SubmitJobHighBg,
        (true, 1) => PacketType::SubmitJobBg,
        (true, _) => PacketType::SubmitJobLowBg,
    }
}

/// Run it.
pub async fn run(env: &Env, a: &MixedArgs) -> Result<Record> {
    if a.functions == 0 || a.workers == 0 {
        bail!("mixed needs at least one function and one worker");
    }
    let functions: Vec<String> = (0..a.functions).map(|f| format!("bench_mix{f}")).collect();
    let subset = |i: usize| {
        let mut s = vec![i % a.functions, (i + 1) % a.functions];
        s.dedup();
        s
    };
    let covered: Vec<usize> = (0..a.workers).flat_map(subset).collect();
    if let Some(f) = (0..a.functions).find(|f| !covered.contains(f)) {
        bail!(
            "with {} workers function {f} has no worker; use at least {} workers",
            a.workers,
            a.functions.div_ceil(2)
        );
    }

    run::stage("registering workers", None);
    let ledger = Arc::new(Ledger::new(a.jobs, Instant::now()));
    let spec = Arc::new(WorkerSpec {
        functions: functions.clone(),
        function_of,
        echo: true,
        ledger: Arc::clone(&ledger),
    });
    let workers = start_workers(env.addr, a.workers, &spec, subset).await?;

    run::stage("submitting and working", Some(&ledger));
    let results = Arc::new(Ledger::new(a.jobs, Instant::now()));
    let functions_arc: Arc<[String]> = functions.clone().into();
    let cpu = env.cpu()?;
    let t0 = Instant::now();
    let clients: Vec<_> = (0..a.clients)
        .map(|i| {
            run::spawn(
                format!("client {i}"),
                client(
                    env.addr,
                    Arc::clone(&functions_arc),
                    share(a.jobs, a.clients, i),
                    a.window,
                    a.payload,
                    Arc::clone(&results),
                ),
            )
        })
        .collect();
    run::join(&clients).await?;
    await_ledger(env.addr, &ledger, &functions, true).await?;
    let secs = t0.elapsed().as_secs_f64();
    let fg_jobs = (0..a.jobs).filter(|&j| !is_bg(j, a.functions)).count() as u64;
    if results.done() != fg_jobs {
        bail!(
            "{} foreground results arrived for {fg_jobs} foreground jobs",
            results.done()
        );
    }

    let mut rec = Record::default();
    rec.num("jobs_per_s", rate(a.jobs, secs));
    cpu.record_since(env, a.jobs, "", &mut rec)?;
    run::stage("checking the server is empty", None);
    expect_drained(env.addr, &functions).await?;
    drop(workers);
    rec.text(
        "params",
        format!(
            "jobs={} (fg {fg_jobs}) functions={} clients={} workers={} window={} payload={}",
            a.jobs, a.functions, a.clients, a.workers, a.window, a.payload
        ),
    );
    Ok(rec)
}

/// A client keeping up to `window` of its jobs in flight. A background job is finished when
/// its JOB_CREATED arrives, a foreground one when its WORK_COMPLETE does.
async fn client(
    addr: SocketAddr,
    functions: Arc<[String]>,
    range: Range<u64>,
    window: u64,
    payload: usize,
    results: Arc<Ledger>,
) -> Result<()> {
    let f = functions.len();
    let mut conn = Conn::connect(addr).await?;
    let mut next = range.start;
    let mut in_flight = 0u64;
    // JOB_CREATED answers submissions in order (PROTOCOL.md §2); this remembers, for each
    // unanswered one, the job it was for.
    let mut unanswered: VecDeque<u64> = VecDeque::with_capacity(window as usize);
    let on_packet = |p: &Packet, in_flight: &mut u64, unanswered: &mut VecDeque<u64>| {
        match p.kind {
            PacketType::JobCreated => {
                let Some(num) = unanswered.pop_front() else {
                    bail!("JOB_CREATED with no submission outstanding");
                };
                if is_bg(num, f) {
                    *in_flight -= 1;
                }
            }
            PacketType::WorkComplete => {
                let args = p.args()?;
                let num = parse_num(args.get(1));
                match num {
                    Some(n) if range.contains(&n) && !is_bg(n, f) => {
                        results
                            .mark(n, "foreground result")
                            .map_err(anyhow::Error::msg)?;
                        *in_flight -= 1;
                    }
                    _ => bail!(
                        "foreign result: WORK_COMPLETE for handle {:?} carries job {num:?}, \
                         not one of this client's foreground jobs",
                        String::from_utf8_lossy(args.get(0))
                    ),
                }
            }
            PacketType::Error => bail!("{}", describe_error(p)),
            other => bail!("client got an unexpected {}", other.name()),
        }
        Ok(())
    };
    loop {
        while in_flight < window && next < range.end {
            let unique = Decimal::new(next);
            let function = functions[function_of(next, f)].as_bytes();
            conn.push_head(
                submit_kind(next, f),
                &[function, unique.as_bytes()],
                payload,
            );
            put_payload(conn.out(), next, payload);
            unanswered.push_back(next);
            next += 1;
            in_flight += 1;
        }
        conn.flush().await?;
        if in_flight == 0 && unanswered.is_empty() {
            return Ok(());
        }
        let p = conn.packet().await?;
        on_packet(&p, &mut in_flight, &mut unanswered)?;
        while let Some(p) = conn.try_packet()? {
            on_packet(&p, &mut in_flight, &mut unanswered)?;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_combination_occurs() {
        let f = 4;
        let mut seen = std::collections::HashSet::new();
        for j in 0..(6 * f as u64) {
            seen.insert((function_of(j, f), submit_kind(j, f)));
        }
        assert_eq!(seen.len(), 6 * f);
    }
}
