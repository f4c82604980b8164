//! `gearbox-bench`: a load generator for Gearman job servers. It speaks the binary protocol
//! directly over TCP, runs one scenario against one server per invocation, measures the
//! server's CPU time and resident memory through `/proc/PID`, and prints one JSON line (for
//! `scripts/bench` and the `report` command) and one human line.
//!
//! By default everything runs on one current-thread tokio runtime: the generator shares a
//! small machine with the server it measures, and one thread keeps its own cost small and
//! predictable. `--threads N` runs it on N threads instead, for the other regime, where clients
//! and workers on the same machine keep every core busy and the server competes with them for
//! CPU (as it does wherever workers and the server share a machine). A run
//! is bounded by its job counts and by `--timeout`; a timeout, a lost, duplicated or foreign
//! job, or any protocol surprise makes the exit status non-zero.

mod ledger;
mod procstat;
mod report;
mod run;
mod scenario;
mod wire;

use std::net::{SocketAddr, TcpListener};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _, Result};
use clap::{Parser, Subcommand};
use gearbox_proto::PacketType;

use crate::ledger::NUM_LEN;
use crate::procstat::Proc;
use crate::report::Record;
use crate::scenario::{bg, cluster, conns, fg, fill, mixed, Env};

/// Benchmark a Gearman job server (gearboxd, gearmand, …) over TCP.
#[derive(Debug, Parser)]
#[command(name = "gearbox-bench", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Debug, Subcommand)]
enum Cmd {
    /// Background throughput: pipelined SUBMIT_JOB_BG clients, GRAB/WORK_COMPLETE workers.
    Bg {
        #[command(flatten)]
        common: Common,
        #[command(flatten)]
        args: bg::BgArgs,
    },
    /// Foreground latency: submit-and-wait clients against echo workers.
    Fg {
        #[command(flatten)]
        common: Common,
        #[command(flatten)]
        args: fg::FgArgs,
    },
    /// Memory per queued job, then drain rate and memory after the drain.
    Fill {
        #[command(flatten)]
        common: Common,
        #[command(flatten)]
        args: fill::FillArgs,
    },
    /// Memory per idle worker connection, and foreground p99 with and without them.
    Conns {
        #[command(flatten)]
        common: Common,
        #[command(flatten)]
        args: conns::ConnsArgs,
    },
    /// Several functions, all priorities, foreground and background: exactly-once check.
    Mixed {
        #[command(flatten)]
        common: Common,
        #[command(flatten)]
        args: mixed::MixedArgs,
    },
    /// The nodes of a cluster: background throughput spread over them, and wake-up latency
    /// from a client on the first to a sleeping worker on the last.
    Cluster {
        #[command(flatten)]
        common: Common,
        #[command(flatten)]
        args: cluster::ClusterArgs,
    },
    /// Print the markdown table (medians, ratios) of result lines from files.
    Report {
        /// Files holding result lines (other lines are ignored).
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// Server names in column order, comma-separated.
        #[arg(long)]
        servers: Option<String>,
        /// A ratio column `A/B` (repeatable); default: first server / second server.
        #[arg(long)]
        ratio: Vec<String>,
    },
    /// Wait until a server answers an ECHO_REQ (for scripts starting servers).
    Ping {
        /// Server address.
        addr: SocketAddr,
        /// Seconds to keep trying.
        #[arg(long, default_value_t = 10.0)]
        timeout: f64,
    },
    /// Print a TCP port that is free on 127.0.0.1 right now.
    FreePort,
}

/// What every scenario takes.
#[derive(Debug, Clone, clap::Args)]
struct Common {
    /// Server address, e.g. 127.0.0.1:4730.
    addr: SocketAddr,
    /// Server process id, to measure its CPU time and memory (required by fill and conns).
    #[arg(long)]
    server_pid: Option<i32>,
    /// Seconds the whole run may take before it fails.
    #[arg(long, default_value_t = 120.0)]
    timeout: f64,
    /// Server name for the record (the report's column).
    #[arg(long, default_value = "server")]
    name: String,
    /// Scenario name for the record (the report's row), e.g. fill-500000; default: the
    /// subcommand.
    #[arg(long)]
    label: Option<String>,
    /// Generator threads: 1 (default) is one current-thread runtime; more is a multi-thread
    /// runtime with that many workers.
    #[arg(long, default_value_t = 1)]
    threads: usize,
}

/// Parse a workload size; the job number needs its bytes.
fn payload_size(s: &str) -> Result<usize, String> {
    let n: usize = s.parse().map_err(|e| format!("{e}"))?;
    if n < NUM_LEN {
        return Err(format!(
            "at least {NUM_LEN} bytes: every workload carries its job number"
        ));
    }
    Ok(n)
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.cmd {
        Cmd::Report {
            files,
            servers,
            ratio,
        } => report::report(&files, servers.as_deref(), &ratio).map(|ok| {
            if ok {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }),
        Cmd::Ping { addr, timeout } => ping(addr, timeout).map(|()| ExitCode::SUCCESS),
        Cmd::FreePort => free_port().map(|()| ExitCode::SUCCESS),
        Cmd::Bg { common, args } => scenario_main(common, "bg", 0, |env| {
            Box::pin(async move { bg::run(env, &args).await })
        }),
        Cmd::Fg { common, args } => scenario_main(common, "fg", 0, |env| {
            Box::pin(async move { fg::run(env, &args).await })
        }),
        Cmd::Fill { common, args } => scenario_main(common, "fill", 0, |env| {
            Box::pin(async move { fill::run(env, &args).await })
        }),
        Cmd::Conns { common, args } => {
            let need = args.conns + conns::SPARE_FDS;
            scenario_main(common, "conns", need, |env| {
                Box::pin(async move { conns::run(env, &args).await })
            })
        }
        Cmd::Mixed { common, args } => scenario_main(common, "mixed", 0, |env| {
            Box::pin(async move { mixed::run(env, &args).await })
        }),
        Cmd::Cluster { common, args } => scenario_main(common, "cluster", 0, |env| {
            Box::pin(async move { cluster::run(env, &args).await })
        }),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("gearbox-bench: {e:#}");
            ExitCode::FAILURE
        }
    }
}

type ScenarioFuture<'a> = std::pin::Pin<Box<dyn std::future::Future<Output = Result<Record>> + 'a>>;

/// Run one scenario under the timeout and print its record. A failed run still prints a
/// record (`"ok":false` and the error) so that the report can list it.
fn scenario_main(
    common: Common,
    name: &str,
    fds_needed: u64,
    scenario: impl for<'a> FnOnce(&'a Env) -> ScenarioFuture<'a>,
) -> Result<ExitCode> {
    raise_fd_limit(fds_needed)?;
    let env = Env {
        addr: common.addr,
        server: common.server_pid.map(Proc::pid).transpose()?,
        me: Proc::own(),
    };
    let runtime = match common.threads {
        0 | 1 => tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?,
        n => tokio::runtime::Builder::new_multi_thread()
            .worker_threads(n)
            .enable_all()
            .build()?,
    };
    let limit = Duration::from_secs_f64(common.timeout);
    let started = Instant::now();
    let machine0 = procstat::MachineCpu::now()?;
    let server0 = env.server_cpu()?;
    let me0 = env.me.cpu_ms()?;
    let outcome = runtime.block_on(async {
        match tokio::time::timeout(limit, scenario(&env)).await {
            Ok(r) => r,
            Err(_) => Err(anyhow::anyhow!(
                "timed out after {} s while {}",
                common.timeout,
                run::describe()
            )),
        }
    });
    // Tasks still running (workers) end with the runtime, before anything is printed.
    drop(runtime);
    let mut rec = Record::default();
    rec.text("scenario", common.label.as_deref().unwrap_or(name))
        .text("server", &common.name);
    let ok = match outcome {
        Ok(measured) => {
            rec.flag("ok", true);
            rec.extend(measured);
            true
        }
        Err(e) => {
            rec.flag("ok", false).text("error", format!("{e:#}"));
            false
        }
    };
    let wall = started.elapsed().as_secs_f64();
    rec.num("gen_wall_s", wall);
    // CPU the rest of the machine used meanwhile, in cores: the figures of a run on a busy
    // machine are to be read with that in mind (the report shows it).
    if let (Ok(m1), Ok(Some(server1)), Some(server0), Ok(me1)) = (
        procstat::MachineCpu::now(),
        env.server_cpu(),
        server0,
        env.me.cpu_ms(),
    ) {
        let others = (m1.tasks_ms - machine0.tasks_ms) - (server1 - server0) - (me1 - me0);
        let cores = |ms: f64| (ms / 1000.0 / wall).max(0.0);
        rec.num("gen_other_load_cores", cores(others))
            .num("gen_irq_cores", cores(m1.irq_ms - machine0.irq_ms))
            .num("gen_steal_cores", cores(m1.steal_ms - machine0.steal_ms));
    }
    println!("{}", rec.to_json());
    println!("# {}", rec.human());
    Ok(if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// Raise the soft open-file limit to the hard limit; fail clearly if `needed` descriptors
/// still do not fit.
fn raise_fd_limit(needed: u64) -> Result<()> {
    use nix::sys::resource::{getrlimit, setrlimit, Resource};
    let (soft, hard) = getrlimit(Resource::RLIMIT_NOFILE).context("getrlimit(RLIMIT_NOFILE)")?;
    if soft < hard {
        setrlimit(Resource::RLIMIT_NOFILE, hard, hard).with_context(|| {
            format!("raising the open-file limit from {soft} to the hard limit {hard}")
        })?;
    }
    if needed > hard {
        bail!(
            "this run needs about {needed} open files but the hard limit is {hard}: raise it \
             (ulimit -Hn, or LimitNOFILE) or ask for fewer connections"
        );
    }
    Ok(())
}

fn ping(addr: SocketAddr, timeout: f64) -> Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let deadline = Instant::now() + Duration::from_secs_f64(timeout);
        loop {
            let attempt = async {
                let mut conn = wire::Conn::connect(addr).await?;
                conn.push(PacketType::EchoReq, &[], b"ping");
                conn.flush().await?;
                let p = conn.packet().await?;
                if p.kind != PacketType::EchoRes || &p.body[..] != b"ping" {
                    bail!("unexpected answer {} to ECHO_REQ", p.kind.name());
                }
                Ok(())
            };
            match tokio::time::timeout(Duration::from_secs(2), attempt).await {
                Ok(Ok(())) => return Ok(()),
                Ok(Err(e)) if Instant::now() > deadline => return Err(e),
                Err(_) if Instant::now() > deadline => bail!("{addr}: no answer to ECHO_REQ"),
                _ => tokio::time::sleep(Duration::from_millis(20)).await,
            }
        }
    })
}

fn free_port() -> Result<()> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    println!("{}", listener.local_addr()?.port());
    Ok(())
}
