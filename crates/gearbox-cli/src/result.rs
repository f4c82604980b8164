//! `gearbox result`: the outcome gearboxd kept of a background job (functions with
//! `keep_results`), by handle or by function and unique id, for scripts.
//!
//! This module owns the command line, what is printed where — the result's bytes raw on
//! stdout and nothing else there, so `gearbox result H > out` is the result — and the exit
//! status, which tells the states apart without parsing. The lookup (which servers are asked,
//! the exchange, the decoding) is the client library's `kept_result`; nothing here opens a
//! connection or parses an answer.

use std::io::Write;
use std::process::ExitCode;

use anyhow::{bail, Result};
use base64::Engine as _;
use clap::Args;
use gearbox_client::{Client, KeptResult, ResultState};
use serde_json::json;

use crate::admin::{json_text, print_flush, shown};

/// Arguments of `gearbox result`.
#[derive(Debug, Args)]
#[command(after_help = "\
Examples:
  gearbox result H:host:42 > out.bin        # the kept result, raw, if the job completed
  gearbox result resize img-42              # the latest job of function resize, unique img-42
  gearbox result --json H:host:42           # {\"state\":..,\"size\":..,\"data\":..,\"data_base64\":..}
  while gearbox result H:host:42 >out; [ $? -eq 3 ]; do sleep 1; done   # wait while pending

Exit status and output:
  0  complete: the result's bytes on stdout, as the worker sent them
  1  the question could not be asked (no server reachable, not gearboxd, ...)
  2  fail or exception: nothing on stdout; the exception's text on stderr
  3  pending: the job is still queued, waiting to be retried, or running
  4  unknown: no such job and nothing kept (its function has no keep_results, the result
     expired, or the job was never there)
With --json the object goes to stdout whatever the state, with the same exit status; data
is the kept text (bytes that are not UTF-8 as \\xNN) and data_base64 its exact bytes.

gearboxd keeps results of background jobs whose function's policy has keep_results, at most
keep_results_max bytes each (64 KiB unless set); size is the full size, and a result cut
short is reported on stderr. By handle every server is asked in turn; by unique id the
server the id routes to first.")]
pub struct ResultArgs {
    /// The job's handle, or its function and unique id.
    #[arg(value_name = "HANDLE | FUNCTION UNIQUE", num_args = 1..=2, required = true)]
    pub key: Vec<String>,
    /// Print JSON instead of the raw result.
    #[arg(long)]
    pub json: bool,
}

/// The exit status for each state (see the help text).
fn exit_status(state: ResultState) -> u8 {
    match state {
        ResultState::Complete => 0,
        ResultState::Fail | ResultState::Exception => 2,
        ResultState::Pending => 3,
        ResultState::Unknown => 4,
    }
}

/// Run `gearbox result`; the exit status tells the state.
pub async fn run(args: &ResultArgs, client: &Client) -> Result<ExitCode> {
    let (kept, job) = match &args.key[..] {
        [handle] => (
            client.kept_result(handle.as_bytes()).await?,
            format!("job {handle}"),
        ),
        [function, unique] => (
            client
                .kept_result_by_unique(function.as_bytes(), unique.as_bytes())
                .await?,
            format!("job {function} {unique}"),
        ),
        _ => bail!("expected HANDLE, or FUNCTION UNIQUE"),
    };
    if args.json {
        let b64 = base64::engine::general_purpose::STANDARD.encode(&kept.data);
        let v = json!({
            "state": kept.state.name(),
            "size": kept.size,
            "data": json_text(&kept.data),
            "data_base64": b64,
        });
        print_flush(&format!("{v}\n"))?;
    } else {
        report(&kept, &job)?;
    }
    Ok(ExitCode::from(exit_status(kept.state)))
}

/// The data on stdout for `complete`; a word on stderr for the other states.
fn report(kept: &KeptResult, job: &str) -> Result<()> {
    match kept.state {
        ResultState::Complete => {
            let mut out = std::io::stdout().lock();
            out.write_all(&kept.data)?;
            out.flush()?;
        }
        ResultState::Exception => {
            eprintln!("gearbox: {job} raised an exception: {}", shown(&kept.data));
        }
        ResultState::Fail => eprintln!("gearbox: {job} failed"),
        ResultState::Pending => eprintln!("gearbox: {job} has not finished"),
        ResultState::Unknown => eprintln!("gearbox: no result kept for {job}"),
    }
    if kept.is_cut() {
        eprintln!(
            "gearbox: {job}: the server kept {} of {} bytes (keep_results_max)",
            kept.data.len(),
            kept.size
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_state_has_its_own_exit_status_but_fail_and_exception() {
        let codes: Vec<u8> = [
            ResultState::Complete,
            ResultState::Fail,
            ResultState::Exception,
            ResultState::Pending,
            ResultState::Unknown,
        ]
        .into_iter()
        .map(exit_status)
        .collect();
        assert_eq!(codes, [0, 2, 2, 3, 4]);
    }
}
