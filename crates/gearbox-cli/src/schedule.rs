//! `gearbox schedule`: work a gearboxd runs later — `list` shows the epoch jobs not yet due
//! and the recurring schedules with their next firing (admin `show scheduled`), `add` creates
//! a recurring job (SUBMIT_JOB_SCHED), `rm` removes one a client created (admin `cancel job`).
//!
//! This module owns the command line and what `add` prints. Listing and removing go through
//! `admin.rs` (its exchange and renderers, exactly as `gearbox admin scheduled` and `gearbox
//! admin cancel`), creating through the client library's `schedule`; nothing here opens a
//! connection. The cron expression is only split here (by the library); what its fields mean
//! is the server's to check, and its refusal is shown as it gave it.

use anyhow::{anyhow, Result};
use clap::{Args, Subcommand};
use gearbox_client::{Client, Error};
use serde_json::json;

use crate::admin::{self, AdminArgs, AdminCommand, Reach};

/// Arguments of `gearbox schedule`.
#[derive(Debug, Args)]
#[command(after_help = "\
Examples:
  gearbox schedule list                           # HANDLE FUNCTION UNIQUE DUE PRIORITY
  gearbox schedule add --cron '*/5 * * * *' --unique poll poll-feeds
  gearbox schedule add --cron '0 3 * * 1-5' --unique nightly backup /srv/data
  gearbox schedule add --cron @hourly report hourly
  gearbox schedule rm H:host:42

--cron is `minute hour day-of-month month day-of-week` in UTC (Vixie cron: ranges 1-5,
steps */5, lists 1,15, names JAN and MON), or @hourly, @daily, @weekly, @monthly, @yearly.
At each firing gearboxd submits a background job for FUNCTION with WORKLOAD and the unique
id UNIQUE@<firing time>. add prints the schedule's handle. With --unique, adding again with
the same function and unique id replaces the schedule and keeps its handle; without one
each add creates another schedule. Schedules are gearboxd's own (gearmand refuses them);
they survive restarts with a durable store. rm removes a schedule made by add, and also
cancels an epoch job (`gearbox submit -b --at`) by its handle; the ones of the server's
configuration file (listed as cron:N) change only with that file.")]
pub struct ScheduleArgs {
    /// What to do.
    #[command(subcommand)]
    pub command: ScheduleCommand,
    /// Print JSON instead of text.
    #[arg(long, global = true)]
    pub json: bool,
}

/// One `gearbox schedule` command.
#[derive(Debug, Subcommand)]
pub enum ScheduleCommand {
    /// Epoch jobs not yet due and recurring schedules, soonest first: handle, function,
    /// unique, next due time (UTC), priority.
    List,
    /// Create (or, with the same --unique, replace) a recurring job; prints its handle.
    Add {
        /// When it fires: `minute hour day-of-month month day-of-week` (UTC), or a shorthand
        /// such as @hourly.
        #[arg(long, value_name = "EXPR")]
        cron: String,
        /// The schedule's unique id (at most 53 bytes); the same one again replaces it.
        #[arg(short, long, value_name = "U")]
        unique: Option<String>,
        /// Function each firing's job is for.
        function: String,
        /// Workload of each job (default: empty).
        workload: Option<String>,
    },
    /// Remove a schedule (or an epoch job) by its handle (`cancel job`).
    #[command(alias = "remove")]
    Rm {
        /// The handle `add` printed (or `list` shows).
        handle: String,
    },
}

/// Run `gearbox schedule`: `list` and `rm` through the admin exchange with every server,
/// `add` through `client` on `runtime`.
pub fn run(
    args: &ScheduleArgs,
    client: &Client,
    runtime: &tokio::runtime::Runtime,
    servers: &[String],
    reach: &Reach,
) -> Result<()> {
    let admin = |command| {
        admin::run(
            &AdminArgs {
                command,
                json: args.json,
                watch: None,
                iterations: None,
            },
            servers,
            reach,
        )
    };
    match &args.command {
        ScheduleCommand::List => admin(AdminCommand::Scheduled),
        ScheduleCommand::Rm { handle } => admin(AdminCommand::Cancel {
            handle: handle.clone(),
        }),
        ScheduleCommand::Add {
            cron,
            unique,
            function,
            workload,
        } => {
            let handle = runtime
                .block_on(client.schedule(
                    cron,
                    function.clone(),
                    unique.clone().unwrap_or_default(),
                    workload.clone().unwrap_or_default(),
                ))
                .map_err(|e| explain(&e))?;
            let handle = String::from_utf8_lossy(&handle);
            let text = if args.json {
                format!("{}\n", json!({ "handle": handle }))
            } else {
                format!("{handle}\n")
            };
            admin::print_flush(&text)
        }
    }
}

/// What the library said, with the hint a shell user needs for the two refusals that come
/// from the server.
fn explain(e: &Error) -> anyhow::Error {
    match e.server_code() {
        Some("INVALID_SCHEDULE") => anyhow!("{e} (the cron expression is not valid)"),
        Some("INVALID_COMMAND") => anyhow!("{e} (schedules need gearboxd)"),
        _ => anyhow!("{e}"),
    }
}
