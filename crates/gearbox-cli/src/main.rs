//! `gearbox`: the Gearman command-line tool — submit jobs, run shell commands as workers,
//! query any Gearman server's admin protocol (gearmand or gearboxd), and use gearboxd's own
//! features: schedules, dead letters and kept results.
//!
//! This file owns the command line (global options, subcommands), the exit status and the
//! one current-thread runtime the client library needs; the subcommands live in their own
//! modules. Nothing here talks to a server or prints results.

mod admin;
mod dead;
mod progress;
mod result;
mod schedule;
mod servers;
mod submit;
mod work;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use gearbox_client::{Tls, TlsOptions};

/// Admin replies are small; a server that does not answer within this is reported.
const DEFAULT_ADMIN_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Debug, Parser)]
#[command(
    name = "gearbox",
    version,
    about = "Submit Gearman jobs, run commands as workers, and administer Gearman servers.",
    after_help = servers::CONFIG_HELP,
)]
struct Cli {
    /// Job server HOST[:PORT] (repeatable; port 4730 by default).
    #[arg(short, long = "server", global = true, value_name = "HOST[:PORT]")]
    servers: Vec<String>,
    /// Config file (default $GEARBOX_CONFIG, else ~/.config/gearbox/config).
    #[arg(long, global = true, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Deadline in seconds: for submit the whole command; for admin, dead, result and
    /// schedule each reply (default 5).
    #[arg(short, long, global = true, value_name = "SECS", value_parser = servers::parse_secs)]
    timeout: Option<Duration>,
    #[command(flatten)]
    tls: TlsArgs,
    #[command(subcommand)]
    command: Command,
}

/// TLS to the servers (gearman's own flag names).
#[derive(Debug, clap::Args)]
struct TlsArgs {
    /// Connect with TLS.
    #[arg(long, global = true)]
    ssl: bool,
    /// CA certificates (PEM) the server's certificate must chain to; default: the system's.
    #[arg(long, global = true, value_name = "PATH")]
    ssl_ca_file: Option<PathBuf>,
    /// Client certificate (PEM), for servers that require one.
    #[arg(long, global = true, value_name = "PATH")]
    ssl_certificate: Option<PathBuf>,
    /// The client certificate's key (PEM).
    #[arg(long, global = true, value_name = "PATH")]
    ssl_key: Option<PathBuf>,
    /// Name the server's certificate must carry; default: the host of each --server.
    #[arg(long, global = true, value_name = "NAME")]
    ssl_server_name: Option<String>,
}

impl TlsArgs {
    fn tls(&self) -> Result<Option<Tls>> {
        let given = self.ssl_ca_file.is_some()
            || self.ssl_certificate.is_some()
            || self.ssl_key.is_some()
            || self.ssl_server_name.is_some();
        if !self.ssl {
            if given {
                anyhow::bail!("the --ssl-* options need --ssl");
            }
            return Ok(None);
        }
        let tls = Tls::new(&TlsOptions {
            ca_file: self.ssl_ca_file.clone(),
            certificate: self.ssl_certificate.clone(),
            key: self.ssl_key.clone(),
            server_name: self.ssl_server_name.clone(),
        })
        .context("--ssl")?;
        Ok(Some(tls))
    }
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run a job and print its result (or submit it in the background).
    Submit(submit::SubmitArgs),
    /// Serve a function by running a command for each job.
    Work(work::WorkArgs),
    /// Query or change a server through the text admin protocol (like gearadmin).
    Admin(admin::AdminArgs),
    /// Work that runs later (gearboxd): list epoch jobs and schedules, add or remove a
    /// recurring job (cron).
    Schedule(schedule::ScheduleArgs),
    /// Dead letters (gearboxd): background jobs that failed for good — list, show, retry,
    /// purge.
    Dead(dead::DeadArgs),
    /// The kept outcome of a background job (gearboxd), by handle or function and unique id;
    /// the exit status tells the state.
    Result(result::ResultArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(&cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("gearbox: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: &Cli) -> Result<ExitCode> {
    let settings = servers::resolve(&servers::Sources::from_env(
        &cli.servers,
        cli.config.as_deref(),
    ))?;
    let timeout = cli.timeout.or(settings.timeout);
    let tls = cli.tls.tls()?;
    let runtime = || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .context("cannot start the async runtime")
    };
    // Admin replies, kept results and schedules are quick: a silent server is reported.
    let quick = timeout.unwrap_or(DEFAULT_ADMIN_TIMEOUT);
    let reach = || admin::Reach {
        timeout: quick,
        tls: tls.clone(),
    };
    let quick_client = || servers::client(&settings.servers, Some(quick), tls.clone());
    let done = |r: Result<()>| r.map(|()| ExitCode::SUCCESS);
    match &cli.command {
        Command::Submit(args) => {
            done(runtime()?.block_on(submit::run(args, &settings.servers, timeout, tls)))
        }
        Command::Work(args) => done(runtime()?.block_on(work::run(args, &settings.servers, tls))),
        Command::Admin(args) => done(admin::run(args, &settings.servers, &reach())),
        Command::Schedule(args) => done(schedule::run(
            args,
            &quick_client()?,
            &runtime()?,
            &settings.servers,
            &reach(),
        )),
        Command::Dead(args) => done(runtime()?.block_on(dead::run(args, &quick_client()?))),
        Command::Result(args) => runtime()?.block_on(result::run(args, &quick_client()?)),
    }
}
