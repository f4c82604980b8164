//! `gearbox`: the Gearman command-line tool — submit jobs, run shell commands as workers, and
//! query any Gearman server's admin protocol (gearmand or gearboxd).
//!
//! This file owns the command line (global options, subcommands), the exit status and the
//! one current-thread runtime the client library needs; the subcommands live in their own
//! modules. Nothing here talks to a server or prints results.

mod admin;
mod progress;
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
    /// Deadline in seconds: for submit the whole command, for admin each reply.
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
enum ScheduleCommand {
    /// Epoch jobs not yet due, soonest first: handle, function, unique, due time (UTC),
    /// priority.
    List,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run a job and print its result (or submit it in the background).
    Submit(submit::SubmitArgs),
    /// Serve a function by running a command for each job.
    Work(work::WorkArgs),
    /// Query or change a server through the text admin protocol (like gearadmin).
    Admin(admin::AdminArgs),
    /// Scheduled jobs: `list` shows the epoch jobs not yet due (gearboxd); cancel one with
    /// `gearbox admin cancel HANDLE`.
    Schedule {
        #[command(subcommand)]
        command: ScheduleCommand,
        /// Print JSON instead of a table.
        #[arg(long, global = true)]
        json: bool,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(&cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("gearbox: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: &Cli) -> Result<()> {
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
    match &cli.command {
        Command::Submit(args) => {
            runtime()?.block_on(submit::run(args, &settings.servers, timeout, tls))
        }
        Command::Work(args) => runtime()?.block_on(work::run(args, &settings.servers, tls)),
        Command::Admin(args) => admin::run(
            args,
            &settings.servers,
            &admin::Reach {
                timeout: timeout.unwrap_or(DEFAULT_ADMIN_TIMEOUT),
                tls,
            },
        ),
        Command::Schedule {
            command: ScheduleCommand::List,
            json,
        } => admin::run(
            &admin::AdminArgs {
                command: admin::AdminCommand::Scheduled,
                json: *json,
                watch: None,
                iterations: None,
            },
            &settings.servers,
            &admin::Reach {
                timeout: timeout.unwrap_or(DEFAULT_ADMIN_TIMEOUT),
                tls,
            },
        ),
    }
}
