//! The scenarios and the pieces they share: the environment of a run (server address, the
//! server process to measure, the generator itself), the worker loop, the pipelined
//! background submitter, and the end-of-run checks (nothing lost, nothing left on the server).
//!
//! Each scenario is bounded by its job count and, from `main`, by the wall-clock timeout, and
//! returns one [`Record`].

pub mod bg;
pub mod cluster;
pub mod conns;
pub mod fg;
pub mod fill;
pub mod mixed;

use std::net::SocketAddr;
use std::ops::Range;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _, Result};
use gearbox_proto::{Packet, PacketType};

use crate::ledger::{parse_num, put_payload, Ledger};
use crate::procstat::Proc;
use crate::report::Record;
use crate::run::{self, Task};
use crate::wire::{queue_counts, Conn, Decimal};

/// Where and what a scenario measures.
pub struct Env {
    /// The server's Gearman port.
    pub addr: SocketAddr,
    /// The server process, when `--server-pid` was given.
    pub server: Option<Proc>,
    /// The generator itself.
    pub me: Proc,
}

impl Env {
    /// Server CPU milliseconds so far, if the server is being measured.
    pub fn server_cpu(&self) -> Result<Option<f64>> {
        self.server.as_ref().map(Proc::cpu_ms).transpose()
    }

    /// Server resident memory in KiB; scenarios about memory require `--server-pid`.
    pub fn server_rss(&self) -> Result<u64> {
        self.server
            .as_ref()
            .context("this scenario measures server memory: pass --server-pid")?
            .rss_kb()
    }

    /// A snapshot of both CPU clocks, to charge a stretch of the run.
    pub fn cpu(&self) -> Result<CpuMark> {
        Ok(CpuMark {
            server: self.server_cpu()?,
            me: self.me.cpu_ms()?,
        })
    }
}

/// CPU clocks at one moment.
#[derive(Debug, Clone, Copy)]
pub struct CpuMark {
    server: Option<f64>,
    me: f64,
}

impl CpuMark {
    /// CPU spent since `self`, per 1000 of `jobs`.
    pub fn since(&self, env: &Env, jobs: u64) -> Result<CpuCost> {
        let now = env.cpu()?;
        let per_1k = 1000.0 / jobs.max(1) as f64;
        Ok(CpuCost {
            server: self.server.zip(now.server).map(|(a, b)| (b - a) * per_1k),
            me: (now.me - self.me) * per_1k,
        })
    }

    /// [`CpuMark::since`], recorded at once.
    pub fn record_since(&self, env: &Env, jobs: u64, prefix: &str, rec: &mut Record) -> Result<()> {
        self.since(env, jobs)?.record(prefix, rec);
        Ok(())
    }
}

/// CPU milliseconds per 1000 jobs, of the server and of the generator.
#[derive(Debug, Clone, Copy)]
pub struct CpuCost {
    server: Option<f64>,
    me: f64,
}

impl CpuCost {
    /// Add `{prefix}cpu_ms_per_1k` (server, when measured) and `gen_{prefix}cpu_ms_per_1k`.
    pub fn record(&self, prefix: &str, rec: &mut Record) {
        if let Some(s) = self.server {
            rec.num(&format!("{prefix}cpu_ms_per_1k"), s);
        }
        rec.num(&format!("gen_{prefix}cpu_ms_per_1k"), self.me);
    }
}

/// Jobs per second.
pub fn rate(jobs: u64, secs: f64) -> f64 {
    if secs > 0.0 {
        jobs as f64 / secs
    } else {
        f64::NAN
    }
}

/// The slice of `0..n` that client `i` of `clients` submits.
pub fn share(n: u64, clients: u64, i: u64) -> Range<u64> {
    (n * i / clients)..(n * (i + 1) / clients)
}

/// What a worker does with a job, and which jobs it may legitimately receive.
pub struct WorkerSpec {
    /// Every function of the scenario; jobs name one of them.
    pub functions: Vec<String>,
    /// Which function job number `n` was submitted to (an index into `functions`).
    pub function_of: fn(u64, usize) -> usize,
    /// Send the workload back as the result (foreground clients check it); otherwise the result
    /// is empty.
    pub echo: bool,
    /// Where completed job numbers are marked.
    pub ledger: Arc<Ledger>,
}

impl WorkerSpec {
    /// Workers of the one function `functions[0]`, echoing the workload or not.
    pub fn one_function(functions: &[String], echo: bool, ledger: &Arc<Ledger>) -> Arc<WorkerSpec> {
        Arc::new(WorkerSpec {
            functions: functions.to_vec(),
            function_of: |_, _| 0,
            echo,
            ledger: Arc::clone(ledger),
        })
    }
}

/// Connect `count` workers, worker `i` registering the functions `subset(i)` (indexes into
/// `spec.functions`), and start their loops. Returns once the server has processed every
/// registration (an ECHO round trip after the CAN_DOs), so jobs submitted afterwards find them.
pub async fn start_workers(
    addr: SocketAddr,
    count: usize,
    spec: &Arc<WorkerSpec>,
    subset: impl Fn(usize) -> Vec<usize>,
) -> Result<Vec<Task>> {
    let mut tasks = Vec::with_capacity(count);
    for i in 0..count {
        let mut conn = Conn::connect(addr).await?;
        let mine = subset(i);
        for &f in &mine {
            conn.push(PacketType::CanDo, &[], spec.functions[f].as_bytes());
        }
        conn.push(PacketType::EchoReq, &[], b"registered");
        conn.flush().await?;
        let p = conn.packet().await?;
        if p.kind != PacketType::EchoRes {
            bail!(
                "worker {i}: expected ECHO_RES after CAN_DO, got {}",
                p.kind.name()
            );
        }
        let spec = Arc::clone(spec);
        tasks.push(run::spawn(
            format!("worker {i}"),
            worker_loop(conn, spec, mine),
        ));
    }
    Ok(tasks)
}

/// A worker: one GRAB_JOB_UNIQ outstanding at a time; NO_JOB is answered with PRE_SLEEP and
/// the worker then waits for NOOP (it never polls). Every packet already received is handled
/// before the answers are written in one batch.
async fn worker_loop(mut conn: Conn, spec: Arc<WorkerSpec>, mine: Vec<usize>) -> Result<()> {
    conn.push(PacketType::GrabJobUniq, &[], &[]);
    conn.flush().await?;
    let mut grabbing = true;
    loop {
        let p = conn.packet().await?;
        worker_handle(&mut conn, &spec, &mine, &mut grabbing, &p)?;
        while let Some(p) = conn.try_packet()? {
            worker_handle(&mut conn, &spec, &mine, &mut grabbing, &p)?;
        }
        conn.flush().await?;
    }
}

fn worker_handle(
    conn: &mut Conn,
    spec: &WorkerSpec,
    mine: &[usize],
    grabbing: &mut bool,
    p: &Packet,
) -> Result<()> {
    match p.kind {
        PacketType::NoJob => {
            *grabbing = false;
            conn.push(PacketType::PreSleep, &[], &[]);
        }
        PacketType::Noop => {
            // A NOOP while a GRAB is outstanding needs no second GRAB: the answer to the first
            // one will carry the job.
            if !*grabbing {
                conn.push(PacketType::GrabJobUniq, &[], &[]);
                *grabbing = true;
            }
        }
        PacketType::JobAssignUniq => {
            *grabbing = false;
            let args = p.args()?;
            let (handle, function, unique, data) =
                (args.get(0), args.get(1), args.get(2), args.get(3));
            let what = || {
                format!(
                    "JOB_ASSIGN_UNIQ handle {:?} function {:?}",
                    String::from_utf8_lossy(handle),
                    String::from_utf8_lossy(function)
                )
            };
            let Some(num) = parse_num(data) else {
                bail!(
                    "foreign job: {} has a workload without a job number",
                    what()
                );
            };
            if unique != Decimal::new(num).as_bytes() {
                bail!(
                    "foreign job: {} for job {num} carries unique {:?}",
                    what(),
                    String::from_utf8_lossy(unique)
                );
            }
            let expected = (spec.function_of)(num, spec.functions.len());
            if spec.functions.get(expected).map(String::as_bytes) != Some(function) {
                bail!(
                    "foreign job: {} for job {num} (submitted to another function)",
                    what()
                );
            }
            if !mine.contains(&expected) {
                bail!("{} for job {num}: this worker never registered it", what());
            }
            spec.ledger.mark(num, &what()).map_err(anyhow::Error::msg)?;
            let result: &[u8] = if spec.echo { data } else { b"" };
            conn.push(PacketType::WorkComplete, &[handle], result);
            conn.push(PacketType::GrabJobUniq, &[], &[]);
            *grabbing = true;
        }
        PacketType::Error => bail!("server sent {}", describe_error(p)),
        other => bail!("worker got an unexpected {}", other.name()),
    }
    Ok(())
}

/// "ERROR QUEUE_ERROR: Job queue is full".
pub fn describe_error(p: &Packet) -> String {
    match p.args() {
        Ok(a) => format!(
            "ERROR {}: {}",
            String::from_utf8_lossy(a.get(0)),
            String::from_utf8_lossy(a.get(1))
        ),
        Err(_) => "a malformed ERROR".to_owned(),
    }
}

/// Submit background jobs `0..jobs` of `function` over `clients` connections, each keeping up
/// to `window` unanswered, and wait for every JOB_CREATED. Returns the time of the last one, in
/// seconds from `t0`.
pub async fn submit_all_bg(
    addrs: &[SocketAddr],
    function: &Arc<str>,
    jobs: u64,
    clients: u64,
    window: u64,
    payload: usize,
    t0: Instant,
) -> Result<f64> {
    let last_created = Arc::new(AtomicU64::new(0));
    let tasks: Vec<_> = (0..clients)
        .map(|i| {
            run::spawn(
                format!("client {i}"),
                submit_bg(
                    addrs[i as usize % addrs.len()],
                    Arc::clone(function),
                    share(jobs, clients, i),
                    window,
                    payload,
                    t0,
                    Arc::clone(&last_created),
                ),
            )
        })
        .collect();
    run::join(&tasks).await?;
    Ok(last_created.load(Ordering::Relaxed) as f64 / 1e9)
}

/// A client that submits the background jobs `range` to `function`, keeping up to `window`
/// submissions unanswered, and returns when every JOB_CREATED has arrived. The time of its
/// last JOB_CREATED (nanoseconds from `t0`) is folded into `last_created`.
pub async fn submit_bg(
    addr: SocketAddr,
    function: Arc<str>,
    range: Range<u64>,
    window: u64,
    payload: usize,
    t0: Instant,
    last_created: Arc<AtomicU64>,
) -> Result<()> {
    let mut conn = Conn::connect(addr).await?;
    let mut next = range.start;
    let mut outstanding = 0u64;
    loop {
        while outstanding < window && next < range.end {
            let unique = Decimal::new(next);
            conn.push_head(
                PacketType::SubmitJobBg,
                &[function.as_bytes(), unique.as_bytes()],
                payload,
            );
            put_payload(conn.out(), next, payload);
            next += 1;
            outstanding += 1;
        }
        conn.flush().await?;
        if outstanding == 0 {
            break;
        }
        let p = conn.packet().await?;
        outstanding -= created(&p)?;
        while let Some(p) = conn.try_packet()? {
            outstanding -= created(&p)?;
        }
    }
    let ns = u64::try_from(t0.elapsed().as_nanos()).unwrap_or(u64::MAX);
    last_created.fetch_max(ns, Ordering::Relaxed);
    Ok(())
}

fn created(p: &Packet) -> Result<u64> {
    match p.kind {
        PacketType::JobCreated => Ok(1),
        PacketType::Error => bail!("submission answered with {}", describe_error(p)),
        other => bail!("client got an unexpected {}", other.name()),
    }
}

/// Wait until the ledger is complete. Once every job has been accepted (`all_accepted`), a
/// ledger that stops advancing for a second while the server lists nothing queued or running
/// for `functions` means jobs were lost: fail at once rather than at the timeout.
pub async fn await_ledger(
    addr: SocketAddr,
    ledger: &Ledger,
    functions: &[String],
    all_accepted: bool,
) -> Result<()> {
    let mut last = ledger.done();
    let mut since = Instant::now();
    loop {
        run::wait_for(|| ledger.done() >= ledger.len() || since.elapsed() > Duration::from_secs(1))
            .await?;
        let done = ledger.done();
        if done >= ledger.len() {
            return Ok(());
        }
        if done == last && all_accepted {
            let counts = queue_counts(addr, functions).await?;
            if counts.iter().all(|&(total, _)| total == 0) {
                bail!(
                    "lost jobs: {done} of {} completed, the server lists none queued or \
                     running; first missing: {:?}",
                    ledger.len(),
                    ledger.missing(5)
                );
            }
        }
        last = done;
        since = Instant::now();
    }
}

/// After every job completed, the server must list none of `functions` as queued or running.
/// A completed job's WORK_COMPLETE may still be in flight, so this retries for a moment.
pub async fn expect_drained(addr: SocketAddr, functions: &[String]) -> Result<()> {
    let deadline = Instant::now() + Duration::from_secs(3);
    loop {
        let counts = queue_counts(addr, functions).await?;
        if counts.iter().all(|&(total, _)| total == 0) {
            return Ok(());
        }
        if Instant::now() > deadline {
            let left: Vec<String> = functions
                .iter()
                .zip(&counts)
                .filter(|(_, c)| c.0 > 0)
                .map(|(f, c)| format!("{f}: {} queued/running, {} running", c.0, c.1))
                .collect();
            bail!(
                "every job completed, yet the server still lists {}",
                left.join("; ")
            );
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Latency percentiles from samples in nanoseconds, as microseconds.
pub fn latency_fields(rec: &mut Record, prefix: &str, lat: &mut [u64]) {
    lat.sort_unstable();
    let pick = |q: f64| -> f64 {
        if lat.is_empty() {
            return f64::NAN;
        }
        let idx = ((q * lat.len() as f64).ceil() as usize).clamp(1, lat.len()) - 1;
        lat[idx] as f64 / 1000.0
    };
    rec.num(&format!("{prefix}p50_us"), pick(0.5));
    rec.num(&format!("{prefix}p99_us"), pick(0.99));
    rec.num(&format!("{prefix}p999_us"), pick(0.999));
    rec.num(&format!("{prefix}max_us"), pick(1.0));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares_cover_everything_once() {
        let n = 1001;
        let mut next = 0;
        for i in 0..7 {
            let r = share(n, 7, i);
            assert_eq!(r.start, next);
            next = r.end;
        }
        assert_eq!(next, n);
    }

    #[test]
    fn percentiles() {
        let mut rec = Record::default();
        let mut lat: Vec<u64> = (1..=1000).map(|i| i * 1000).collect();
        latency_fields(&mut rec, "", &mut lat);
        assert_eq!(rec.get("p50_us"), Some(&crate::report::Value::Num(500.0)));
        assert_eq!(rec.get("p99_us"), Some(&crate::report::Value::Num(990.0)));
        assert_eq!(rec.get("p999_us"), Some(&crate::report::Value::Num(999.0)));
        assert_eq!(rec.get("max_us"), Some(&crate::report::Value::Num(1000.0)));
    }
}
