//! `gearbox submit`: run a job (or one job per input line) and print what the worker sends.
//!
//! This module owns the client side of the command: building the requests, printing results
//! (raw bytes on stdout, WORK_DATA streamed before the result as `gearman -f` does, warnings
//! on stderr, or JSON), background handles with their status, and the exit status (non-zero
//! whenever a job did not complete). It never retries or resubmits a job: the client library
//! decides failover, and a job whose fate is unknown is reported as such.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};
use bytes::Bytes;
use clap::{Args, ValueEnum};
use gearbox_client::{Client, Error, JobEvent, JobRequest, Priority, TaskEvent, Tls};
use serde_json::{json, Value};
use tokio::time::Instant;

use crate::progress::Progress;

/// Arguments of `gearbox submit`.
#[derive(Debug, Args)]
#[command(after_help = "\
Examples:
  gearbox submit reverse hello                  # prints the worker's result
  echo hello | gearbox submit reverse           # workload from stdin
  gearbox submit -b --priority high resize a.png   # background: prints handle and status
  gearbox submit --unique img-42 resize a.png   # same unique: coalesced with a running job
  gearbox submit --reducer sum count words.txt  # a map/reduce job (SUBMIT_REDUCE_JOB)
  gearbox submit -b --at +3600 report monthly   # runs in an hour (SUBMIT_JOB_EPOCH)
  seq 1000 | gearbox submit --lines square      # one job per line, results in input order
  gearbox submit --json --timeout 30 reverse hi # {\"handle\":..,\"result\":..}

Exit status: 0 when every job completed; 1 when a job failed, raised an exception, timed
out or could not be submitted (the reason is on stderr).")]
pub struct SubmitArgs {
    /// Function to run.
    pub function: String,
    /// The workload; read from stdin when absent.
    pub workload: Option<String>,
    /// Submit as a background job: print its handle (and status) instead of waiting.
    #[arg(short, long)]
    pub background: bool,
    /// Queue priority.
    #[arg(short, long, value_enum, default_value_t = Prio::Normal)]
    pub priority: Prio,
    /// Unique id: jobs with the same function and unique id are coalesced by the server.
    #[arg(short, long, value_name = "U")]
    pub unique: Option<String>,
    /// Submit a map/reduce job whose results the function REDUCER combines
    /// (SUBMIT_REDUCE_JOB; normal priority only).
    #[arg(long, value_name = "REDUCER")]
    pub reducer: Option<String>,
    /// With --background: query and print the status once (the default).
    #[arg(long, overrides_with = "no_status")]
    pub status: bool,
    /// With --background: print only the handle.
    #[arg(long, overrides_with = "status")]
    pub no_status: bool,
    /// One job per input line (without its line end), all submitted at once; results are
    /// printed one per line, in input order.
    #[arg(short = 'n', long)]
    pub lines: bool,
    /// Print results as JSON.
    #[arg(long)]
    pub json: bool,
    /// With --background: run the job no earlier than WHEN, Unix seconds or `+SECONDS` from
    /// now (SUBMIT_JOB_EPOCH; normal priority). `gearbox schedule list` shows it until then.
    #[arg(long, value_name = "WHEN", requires = "background", value_parser = parse_at)]
    pub at: Option<std::time::SystemTime>,
}

/// `--at`: Unix seconds, or `+SECONDS` from now.
fn parse_at(text: &str) -> Result<std::time::SystemTime, String> {
    use std::time::{Duration, SystemTime, UNIX_EPOCH};
    let (relative, digits) = match text.strip_prefix('+') {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    let secs: u64 = digits
        .parse()
        .map_err(|_| format!("{text:?}: expected Unix seconds or +SECONDS"))?;
    let base = if relative {
        SystemTime::now()
    } else {
        UNIX_EPOCH
    };
    Ok(base + Duration::from_secs(secs))
}

/// `--priority` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Prio {
    /// Before normal and low jobs.
    High,
    /// The default.
    Normal,
    /// After high and normal jobs.
    Low,
}

impl From<Prio> for Priority {
    fn from(p: Prio) -> Priority {
        match p {
            Prio::High => Priority::High,
            Prio::Normal => Priority::Normal,
            Prio::Low => Priority::Low,
        }
    }
}

/// Run `gearbox submit`. `timeout` bounds the whole command (`None`: wait for ever).
pub async fn run(
    args: &SubmitArgs,
    servers: &[String],
    timeout: Option<Duration>,
    tls: Option<Tls>,
) -> Result<()> {
    let client = crate::servers::client(servers, timeout, tls)?;
    // Exceptions carry the worker's message; without the option they arrive as a bare fail.
    client.set_exceptions(true);
    let input: Bytes = match &args.workload {
        Some(w) => Bytes::copy_from_slice(w.as_bytes()),
        None => {
            let mut buf = Vec::new();
            std::io::stdin()
                .read_to_end(&mut buf)
                .context("cannot read the workload from stdin")?;
            buf.into()
        }
    };
    let request = |workload: Bytes| {
        let mut req =
            JobRequest::new(args.function.clone(), workload).priority(args.priority.into());
        if let Some(reducer) = &args.reducer {
            req = req.reducer(reducer.clone());
        }
        if let Some(at) = args.at {
            req = req.run_at(at);
        }
        match &args.unique {
            Some(u) => req = req.unique(u.clone()),
            // PROTOCOL.md §10.4: gearmand's persistent queues lose or reject background jobs
            // without a unique id, so give each one its own, as the `gearman` tool does.
            None if args.background => req = req.unique(fresh_unique()),
            None => {}
        }
        req
    };
    if args.lines {
        let lines = split_lines(&input);
        return batch(
            &client,
            args,
            lines.into_iter().map(|l| (l.clone(), request(l))).collect(),
            timeout,
        )
        .await;
    }
    let req = request(input);
    if args.background {
        background(&client, args, req).await
    } else {
        foreground(&client, args, req).await
    }
}

/// Lines without their `\n` or `\r\n`; a final line without a line end counts too.
fn split_lines(input: &Bytes) -> Vec<Bytes> {
    let mut out = Vec::new();
    let mut start = 0;
    for (i, &b) in input.iter().enumerate() {
        if b == b'\n' {
            let end = if i > start && input[i - 1] == b'\r' {
                i - 1
            } else {
                i
            };
            out.push(input.slice(start..end));
            start = i + 1;
        }
    }
    if start < input.len() {
        out.push(input.slice(start..));
    }
    out
}

/// A unique id no other submission uses: process id, clock and a counter.
fn fresh_unique() -> String {
    static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!("gearbox-{}-{nanos:x}-{n}", std::process::id())
}

fn lossy(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Explain a library error the way a shell user needs it.
fn explain(e: &Error, timeout: Option<Duration>) -> String {
    match (e, timeout) {
        (Error::Timeout, Some(t)) => {
            format!(
                "timed out after {}s (a submitted job may still run)",
                t.as_secs_f64()
            )
        }
        _ => e.to_string(),
    }
}

fn write_out(bytes: &[u8]) -> Result<()> {
    let mut out = std::io::stdout().lock();
    out.write_all(bytes)?;
    out.flush()?;
    Ok(())
}

fn warn(handle: &[u8], data: &[u8]) {
    let mut err = std::io::stderr().lock();
    let _ = writeln!(
        err,
        "gearbox: warning from job {}: {}",
        lossy(handle),
        lossy(data).trim_end()
    );
}

async fn foreground(client: &Client, args: &SubmitArgs, req: JobRequest) -> Result<()> {
    let timeout = client.timeout();
    let mut job = client
        .submit(req)
        .await
        .map_err(|e| anyhow!(explain(&e, timeout)))?;
    let handle = job.handle().clone();
    let mut data = Vec::new();
    loop {
        let event = job
            .next_event()
            .await
            .map_err(|e| anyhow!("job {}: {}", lossy(&handle), explain(&e, timeout)))?;
        match event {
            Some(JobEvent::Data(d)) if args.json => data.push(Value::from(lossy(&d))),
            Some(JobEvent::Data(d)) => write_out(&d)?,
            Some(JobEvent::Warning(w)) => warn(&handle, &w),
            Some(JobEvent::Status { .. }) => {}
            Some(JobEvent::Complete(result)) => {
                if args.json {
                    let v =
                        json!({"handle": lossy(&handle), "data": data, "result": lossy(&result)});
                    write_out(format!("{v}\n").as_bytes())?;
                } else {
                    write_out(&result)?;
                }
                return Ok(());
            }
            Some(JobEvent::Fail) | None => {
                if args.json {
                    let v = json!({"handle": lossy(&handle), "data": data, "error": "failed"});
                    write_out(format!("{v}\n").as_bytes())?;
                }
                bail!("job {} failed (WORK_FAIL)", lossy(&handle))
            }
            Some(JobEvent::Exception(x)) => {
                if args.json {
                    let v = json!({"handle": lossy(&handle), "data": data, "error": "exception", "exception": lossy(&x)});
                    write_out(format!("{v}\n").as_bytes())?;
                }
                bail!("job {} raised an exception: {}", lossy(&handle), lossy(&x))
            }
        }
    }
}

async fn background(client: &Client, args: &SubmitArgs, req: JobRequest) -> Result<()> {
    let timeout = client.timeout();
    let handle = client
        .submit_background(req)
        .await
        .map_err(|e| anyhow!(explain(&e, timeout)))?;
    let status = if args.no_status {
        None
    } else {
        Some(client.status(&handle).await.map_err(|e| {
            anyhow!(
                "job {} was submitted, but its status query failed: {}",
                lossy(&handle),
                explain(&e, timeout)
            )
        })?)
    };
    let text = if args.json {
        let mut v = json!({"handle": lossy(&handle)});
        if let Some(s) = &status {
            v["known"] = s.known.into();
            v["running"] = s.running.into();
            v["numerator"] = s.numerator.into();
            v["denominator"] = s.denominator.into();
        }
        format!("{v}\n")
    } else {
        let mut t = format!("{}\n", lossy(&handle));
        if let Some(s) = &status {
            t.push_str(&format!(
                "known={} running={} numerator={} denominator={}\n",
                u8::from(s.known),
                u8::from(s.running),
                s.numerator,
                s.denominator
            ));
        }
        t
    };
    write_out(text.as_bytes())
}

/// What became of one line's job.
enum Outcome {
    /// Background: the handle; foreground: WORK_DATA chunks and the result, concatenated.
    Done(Bytes),
    Failed(String),
}

/// `--lines`: a task set with one job per line; results in input order.
async fn batch(
    client: &Client,
    args: &SubmitArgs,
    jobs: Vec<(Bytes, JobRequest)>,
    timeout: Option<Duration>,
) -> Result<()> {
    let deadline = timeout.map(|t| Instant::now() + t);
    let mut set = client.task_set();
    let mut index = HashMap::new();
    let mut partial: Vec<Vec<u8>> = vec![Vec::new(); jobs.len()];
    let mut outcome: Vec<Option<Outcome>> = (0..jobs.len()).map(|_| None).collect();
    let mut handles: Vec<Option<Bytes>> = vec![None; jobs.len()];
    let workloads: Vec<Bytes> = jobs.iter().map(|(w, _)| w.clone()).collect();
    for (i, (_, req)) in jobs.into_iter().enumerate() {
        let id = if args.background {
            set.add_background(req)
        } else {
            set.add(req)
        };
        index.insert(id, i);
    }
    let mut progress = Progress::new(workloads.len());
    loop {
        // One deadline for the whole batch, however many events arrive.
        set.set_timeout(deadline.map(|d| d.saturating_duration_since(Instant::now())));
        let event = match set.next_event().await {
            Ok(Some(e)) => e,
            Ok(None) => break,
            Err(e) => {
                progress.clear();
                bail!(
                    "{} ({} of {} jobs unfinished)",
                    explain(&e, timeout),
                    set.pending(),
                    workloads.len()
                );
            }
        };
        let Some(&i) = index.get(&event.task()) else {
            continue;
        };
        let ended = match event {
            TaskEvent::Created { handle, .. } => {
                handles[i] = Some(handle.clone());
                args.background.then(|| Outcome::Done(handle))
            }
            TaskEvent::Job { event, .. } => match event {
                JobEvent::Data(d) => {
                    partial[i].extend_from_slice(&d);
                    None
                }
                JobEvent::Warning(w) => {
                    progress.clear();
                    warn(handles[i].as_deref().unwrap_or_default(), &w);
                    None
                }
                JobEvent::Status { .. } => None,
                JobEvent::Complete(r) => {
                    partial[i].extend_from_slice(&r);
                    Some(Outcome::Done(std::mem::take(&mut partial[i]).into()))
                }
                JobEvent::Fail => Some(Outcome::Failed("failed (WORK_FAIL)".into())),
                JobEvent::Exception(x) => Some(Outcome::Failed(format!(
                    "raised an exception: {}",
                    lossy(&x)
                ))),
            },
            TaskEvent::Failed { error, .. } => Some(Outcome::Failed(explain(&error, timeout))),
        };
        if let Some(o) = ended {
            progress.tick(matches!(o, Outcome::Done(_)));
            outcome[i] = Some(o);
        }
    }
    progress.clear();
    let mut failed = 0;
    let mut text = Vec::new();
    let mut items = Vec::new();
    for (i, o) in outcome.into_iter().enumerate() {
        let o = o.unwrap_or_else(|| Outcome::Failed("no answer".into()));
        let mut item = json!({"line": i + 1, "workload": lossy(&workloads[i])});
        match &o {
            Outcome::Done(bytes) => {
                let key = if args.background { "handle" } else { "result" };
                item[key] = lossy(bytes).into();
                let body = bytes.strip_suffix(b"\n").unwrap_or(bytes);
                text.extend_from_slice(body);
            }
            Outcome::Failed(why) => {
                failed += 1;
                item["error"] = why.as_str().into();
                eprintln!(
                    "gearbox: line {} ({:?}): job {why}",
                    i + 1,
                    lossy(&workloads[i])
                );
            }
        }
        text.push(b'\n');
        items.push(item);
    }
    if args.json {
        write_out(format!("{}\n", Value::Array(items)).as_bytes())?;
    } else {
        write_out(&text)?;
    }
    if failed > 0 {
        bail!("{failed} of {} jobs did not complete", workloads.len());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::split_lines;
    use bytes::Bytes;

    #[test]
    fn lines_lose_their_ends() {
        let l = split_lines(&Bytes::from_static(b"a\nb\r\n\nc"));
        assert_eq!(l, [&b"a"[..], b"b", b"", b"c"]);
        assert!(split_lines(&Bytes::new()).is_empty());
    }
}
