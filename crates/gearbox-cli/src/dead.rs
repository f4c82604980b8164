//! `gearbox dead`: the dead letters of a gearboxd — background jobs that failed for good under
//! a function whose policy keeps them — listed, shown in full, submitted again or forgotten.
//!
//! This module owns the command line and what it prints: the listing through `admin.rs`'s
//! table renderers (one row model, so table and JSON cannot disagree), one letter field by
//! field with its workload and exception text decoded, and the counts of `retry` and `purge`.
//! The exchange and the decoding of the server's answers are the client library's typed admin
//! calls; nothing here opens a connection or parses an answer. Dead letter ids are per server,
//! so every command goes to the first server, as the library does; `retry` and `purge` are
//! sent once.

use std::fmt::Write as _;

use anyhow::{bail, Result};
use base64::Engine as _;
use clap::{Args, Subcommand};
use gearbox_client::{Client, DeadLetter, DeadSelector, Priority};
use serde_json::{json, Value};

use crate::admin::{json_text, print_flush, shown, table_json, table_text, Cell, Table};

/// Arguments of `gearbox dead`.
#[derive(Debug, Args)]
#[command(after_help = "\
Examples:
  gearbox dead list                      # ID FUNCTION UNIQUE PRIORITY ATTEMPTS FAILURE ..
  gearbox dead list billing.charge --json
  gearbox dead show 17                   # every field; workload and exception text decoded
  gearbox dead retry 17                  # submit it again (same unique, workload, priority)
  gearbox dead retry billing.charge      # every dead letter of a function
  gearbox dead purge all                 # forget them all

Dead letters are kept by gearboxd for functions whose policy has `dead_letter` (the default
with `retries` in its --config file). Their ids are per server: every command goes to the
first server (-s). ID|FUNCTION|all: a token of digits is an id, `all` is every dead letter,
anything else a function name. retry and purge print how many dead letters they resubmitted
or forgot; naming an ID that is not retried (no such letter, or a job with its unique id is
still queued) or not purged is an error (exit 1).

In `show`, bytes that are not UTF-8 are printed as \\xNN and control characters escaped;
--json gives the text fields and, for workload and detail, their exact bytes in base64
(workload_base64, detail_base64).")]
pub struct DeadArgs {
    /// What to do.
    #[command(subcommand)]
    pub command: DeadCommand,
    /// Print JSON instead of text.
    #[arg(long, global = true)]
    pub json: bool,
}

/// One `gearbox dead` command.
#[derive(Debug, Subcommand)]
pub enum DeadCommand {
    /// Dead letters, oldest first (`dead list`): ID FUNCTION UNIQUE PRIORITY ATTEMPTS FAILURE
    /// FAILED_AT WORKER SIZE.
    List {
        /// Only this function's.
        function: Option<String>,
    },
    /// One dead letter in full (`dead show`).
    Show {
        /// Its id.
        id: u64,
    },
    /// Submit dead letters again as background jobs (`dead retry`).
    Retry {
        /// Which: an id, a function, or `all`.
        #[arg(value_name = "ID|FUNCTION|all")]
        which: String,
    },
    /// Forget dead letters (`dead purge`).
    Purge {
        /// Which: an id, a function, or `all`.
        #[arg(value_name = "ID|FUNCTION|all")]
        which: String,
    },
}

/// `ID|FUNCTION|all`, read as the server reads it.
fn selector(which: &str) -> DeadSelector {
    if which.eq_ignore_ascii_case("all") {
        DeadSelector::All
    } else if let Some(id) = which
        .bytes()
        .all(|b| b.is_ascii_digit())
        .then(|| which.parse().ok())
        .flatten()
    {
        DeadSelector::Id(id)
    } else {
        DeadSelector::Function(which.as_bytes().to_vec().into())
    }
}

/// `high`, `normal` or `low`.
fn priority_name(p: Priority) -> &'static str {
    match p {
        Priority::High => "high",
        Priority::Normal => "normal",
        Priority::Low => "low",
    }
}

fn table(letters: &[DeadLetter]) -> Table {
    let text = |b: &[u8]| Cell::Text(shown(b));
    Table {
        columns: vec![
            "id",
            "function",
            "unique",
            "priority",
            "attempts",
            "failure",
            "failed_at",
            "worker",
            "size",
        ],
        rows: letters
            .iter()
            .map(|d| {
                vec![
                    Cell::Num(d.id),
                    text(&d.function),
                    text(&d.unique),
                    Cell::Text(priority_name(d.priority).into()),
                    Cell::Num(d.attempts.into()),
                    Cell::Text(d.failure.name().into()),
                    Cell::Text(d.failed_at.clone()),
                    text(&d.worker),
                    Cell::Num(d.size),
                ]
            })
            .collect(),
    }
}

/// `gearbox dead show`: aligned `NAME  VALUE` lines.
fn show_text(d: &DeadLetter) -> String {
    let none = bytes::Bytes::new();
    let fields = [
        ("id", d.id.to_string()),
        ("function", shown(&d.function)),
        ("unique", shown(&d.unique)),
        ("priority", priority_name(d.priority).to_owned()),
        ("attempts", d.attempts.to_string()),
        ("failure", d.failure.name().to_owned()),
        ("failed_at", d.failed_at.clone()),
        ("worker", shown(&d.worker)),
        ("size", d.size.to_string()),
        ("workload", shown(d.workload.as_ref().unwrap_or(&none))),
        ("detail", shown(d.detail.as_ref().unwrap_or(&none))),
    ];
    let mut out = String::new();
    for (name, value) in fields {
        if value.is_empty() {
            let _ = writeln!(out, "{name}");
        } else {
            let _ = writeln!(out, "{name:<10} {value}");
        }
    }
    out
}

fn show_json(d: &DeadLetter) -> Value {
    let b64 = |b: &Option<bytes::Bytes>| {
        base64::engine::general_purpose::STANDARD.encode(b.as_deref().unwrap_or_default())
    };
    let text = |b: &Option<bytes::Bytes>| json_text(b.as_deref().unwrap_or_default());
    json!({
        "id": d.id,
        "function": json_text(&d.function),
        "unique": json_text(&d.unique),
        "priority": priority_name(d.priority),
        "attempts": d.attempts,
        "failure": d.failure.name(),
        "failed_at": d.failed_at,
        "worker": json_text(&d.worker),
        "size": d.size,
        "workload": text(&d.workload),
        "workload_base64": b64(&d.workload),
        "detail": text(&d.detail),
        "detail_base64": b64(&d.detail),
    })
}

/// Run `gearbox dead` with `client` (its first server is the one asked).
pub async fn run(args: &DeadArgs, client: &Client) -> Result<()> {
    let server = client.servers().into_iter().next().unwrap_or_default();
    match &args.command {
        DeadCommand::List { function } => {
            let letters = client
                .dead_letters(function.as_deref().map(str::as_bytes))
                .await?;
            let tables = [(server, table(&letters))];
            if args.json {
                print_flush(&format!("{}\n", table_json(&tables)))
            } else {
                print_flush(&table_text(&tables))
            }
        }
        DeadCommand::Show { id } => {
            let Some(letter) = client.dead_letter(*id).await? else {
                bail!("{server}: no dead letter {id}");
            };
            if args.json {
                print_flush(&format!("{}\n", show_json(&letter)))
            } else {
                print_flush(&show_text(&letter))
            }
        }
        DeadCommand::Retry { which } => {
            let selector = selector(which);
            let n = client.retry_dead(selector.clone()).await?;
            print_flush(&count(args.json, "retried", n))?;
            if let (DeadSelector::Id(id), 0) = (selector, n) {
                bail!(
                    "{server}: dead letter {id} was not retried (a job with its unique id is \
                     still there, or its queue is full)"
                );
            }
            Ok(())
        }
        DeadCommand::Purge { which } => {
            let selector = selector(which);
            let n = client.purge_dead(selector.clone()).await?;
            print_flush(&count(args.json, "purged", n))?;
            if let (DeadSelector::Id(id), 0) = (selector, n) {
                bail!("{server}: no dead letter {id}");
            }
            Ok(())
        }
    }
}

/// `N`, or `{"retried": N}` / `{"purged": N}`.
fn count(json: bool, key: &str, n: u64) -> String {
    if json {
        format!("{}\n", json!({ key: n }))
    } else {
        format!("{n}\n")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use gearbox_client::FailureKind;

    #[test]
    fn selectors_read_as_the_server_reads_them() {
        assert_eq!(selector("17"), DeadSelector::Id(17));
        assert_eq!(selector("ALL"), DeadSelector::All);
        assert_eq!(selector("f1"), DeadSelector::Function("f1".into()));
        // Too large for an id: the server reads it as a name, which the library then refuses
        // (a name of digits is ambiguous).
        let huge = "99999999999999999999999";
        assert_eq!(selector(huge), DeadSelector::Function(huge.into()));
    }

    #[test]
    fn a_letter_is_shown_decoded_and_escaped() {
        let d = DeadLetter {
            id: 3,
            function: "f".into(),
            unique: "u 1".into(),
            priority: Priority::Low,
            attempts: 2,
            failure: FailureKind::Exception,
            failed_at: "2026-12-04T19:50:00Z".into(),
            worker: "-".into(),
            size: 5,
            workload: Some(bytes::Bytes::from_static(b"a\0\xffb\n")),
            detail: Some("boom".into()),
        };
        let text = show_text(&d);
        assert!(text.contains("\nunique     u 1\n"), "{text}");
        assert!(text.contains("\nworkload   a\\0\\xffb\\n\n"), "{text}");
        assert!(text.ends_with("detail     boom\n"), "{text}");
        let v = show_json(&d);
        assert_eq!(v["workload"], "a\\0\\xffb\\n");
        assert_eq!(v["workload_base64"], "YQD/Ygo=");
        assert_eq!(v["detail"], "boom");
        assert_eq!(v["priority"], "low");
        let t = table(&[d]);
        assert_eq!(t.rows[0][5], Cell::Text("exception".into()));
    }
}
