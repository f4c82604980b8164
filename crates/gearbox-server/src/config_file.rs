//! The configuration file (`gearboxd --config PATH`, TOML), for what has no natural flag:
//! per-function policies under `[functions."NAME"]`, with `[functions."*"]` for every
//! function not named, and recurring jobs under `[[schedule]]`. A policy holds the retry
//! rules and what is kept of a background job once it is over:
//!
//! ```toml
//! schedule_missed = "skip"         # for schedules clients create (SUBMIT_JOB_SCHED)
//!
//! [functions."*"]
//! retries = 3                      # attempts after the first
//! backoff = "1s..10m"              # exponential with jitter between the bounds
//! retry_on = ["lost", "timeout", "fail", "exception"]
//! dead_letter = true               # the default when retries are set
//! keep_results = "1h"              # keep each outcome this long (default: none)
//! keep_results_max = "64KiB"       # result data kept at most (default 64KiB)
//!
//! [functions."billing.charge"]
//! retries = 10                     # the other keys come from "*"
//!
//! [[schedule]]
//! cron = "*/5 * * * *"             # UTC
//! function = "report"
//! workload = "hourly"              # optional; also unique, priority, missed = "skip"|"once",
//!                                  # timezone = "Europe/Paris"
//! ```
//!
//! A function has a retry policy when `retries`, `backoff` or `retry_on` is set for it (or
//! for `"*"`); without one a lost job is requeued at once, as gearmand does. This module owns
//! the file's format and its checks; what a policy does is `engine::retry`'s, `engine::dead`'s
//! and `engine::kept`'s. A key it does not know is an error, never ignored.

use std::collections::BTreeMap;
use std::path::Path;

use bytes::Bytes;
use serde::Deserialize;

use crate::cron::Cron;
use crate::engine::{
    KeepPolicy, Missed, PerFunction, Priority, RetryOn, RetryPolicies, RetryPolicy, ScheduleSpec,
    MAX_SCHEDULE_UNIQUE,
};
use crate::file_error::FileError;
use crate::zone::{next_firing, Zone};

/// What the file sets.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConfigFile {
    /// Retry policies by function.
    pub retry_policies: RetryPolicies,
    /// Recurring jobs, in the file's order.
    pub schedules: Vec<ScheduleSpec>,
    /// Dead letters and kept results by function.
    pub keep_policies: PerFunction<KeepPolicy>,
    /// Missed firings of the schedules clients create.
    pub schedule_missed: Missed,
    /// The `[server]` table: settings of command-line options, by option name, in file order
    /// (what they mean is the command line's business).
    pub server: Vec<ServerSetting>,
}

/// One `[server]` key: an option's long name with `_` for `-` (`max_queue`), its value(s)
/// as the command line would spell them, and where it is in the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerSetting {
    /// The option, as `max_queue` or `http_listen`.
    pub key: String,
    /// One value, or several for a repeatable option (a TOML array).
    pub values: Vec<String>,
    /// Its line in the file (from 1).
    pub line: usize,
}

/// A configuration file that cannot be used.
pub type ConfigError = FileError;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileFormat {
    schedule_missed: Option<String>,
    #[serde(default)]
    server: BTreeMap<String, toml::Spanned<toml::Value>>,
    #[serde(default)]
    functions: BTreeMap<String, FunctionFormat>,
    #[serde(default)]
    schedule: Vec<ScheduleFormat>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ScheduleFormat {
    cron: String,
    function: String,
    #[serde(default)]
    workload: String,
    unique: Option<String>,
    priority: Option<String>,
    missed: Option<String>,
    timezone: Option<String>,
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct FunctionFormat {
    retries: Option<u16>,
    backoff: Option<String>,
    retry_on: Option<Vec<String>>,
    dead_letter: Option<bool>,
    keep_results: Option<String>,
    keep_results_max: Option<String>,
}

/// Backoff when a policy names none.
const DEFAULT_BACKOFF: (u64, u64) = (1_000, 300_000);
/// Result data kept at most when a policy names no cap.
const DEFAULT_RESULT_MAX: u32 = 64 * 1024;

impl ConfigFile {
    /// Read and check the file.
    pub fn load(path: &Path) -> Result<ConfigFile, ConfigError> {
        ConfigFile::parse(&FileError::read(path)?, path)
    }

    /// Check `text`; `path` only names the file in errors.
    pub fn parse(text: &str, path: &Path) -> Result<ConfigFile, ConfigError> {
        let invalid = |detail: String| FileError::invalid(path, detail);
        let file: FileFormat = toml::from_str(text).map_err(|e| invalid(e.to_string()))?;
        let fallback = file.functions.get("*").cloned().unwrap_or_default();
        let mut policies = RetryPolicies::default();
        let mut keep_policies = PerFunction::default();
        for (name, section) in &file.functions {
            let at = |e: String| invalid(format!("[functions.\"{name}\"]: {e}"));
            let retry = policy(section, &fallback).map_err(at)?;
            let keep = keep_policy(section, &fallback, retry.is_some()).map_err(at)?;
            set(&mut policies, name, retry);
            set(&mut keep_policies, name, keep);
        }
        let schedule_missed = match file.schedule_missed.as_deref() {
            None => Missed::Skip,
            Some(text) => missed(text).map_err(|e| invalid(format!("schedule_missed: {e}")))?,
        };
        let schedules = file
            .schedule
            .iter()
            .enumerate()
            .map(|(i, s)| {
                schedule(i + 1, s).map_err(|e| invalid(format!("[[schedule]] {}: {e}", i + 1)))
            })
            .collect::<Result<_, _>>()?;
        let mut server = file
            .server
            .iter()
            .map(|(key, value)| {
                let line = text[..value.span().start.min(text.len())]
                    .matches('\n')
                    .count()
                    + 1;
                let values = option_values(value.get_ref())
                    .map_err(|e| invalid(format!("line {line}: [server] {key}: {e}")))?;
                Ok(ServerSetting {
                    key: key.clone(),
                    values,
                    line,
                })
            })
            .collect::<Result<Vec<_>, ConfigError>>()?;
        server.sort_by_key(|s| s.line);
        Ok(ConfigFile {
            retry_policies: policies,
            schedules,
            keep_policies,
            schedule_missed,
            server,
        })
    }
}

fn schedule(number: usize, s: &ScheduleFormat) -> Result<ScheduleSpec, String> {
    let cron = Cron::parse(&s.cron).map_err(|e| format!("cron {:?}: {e}", s.cron))?;
    if s.function.is_empty() || s.function.len() > 512 {
        return Err("function: 1 to 512 bytes".into());
    }
    let unique = s
        .unique
        .clone()
        .unwrap_or_else(|| format!("schedule-{number}"));
    if unique.is_empty() || unique.len() > MAX_SCHEDULE_UNIQUE || unique == "-" {
        return Err(format!(
            "unique: 1 to {MAX_SCHEDULE_UNIQUE} bytes, not \"-\" (each firing adds @TIME)"
        ));
    }
    let priority = match s.priority.as_deref().unwrap_or("normal") {
        "high" => Priority::High,
        "normal" => Priority::Normal,
        "low" => Priority::Low,
        other => {
            return Err(format!(
                "priority {other:?} is not one of high, normal, low"
            ))
        }
    };
    let missed = missed(s.missed.as_deref().unwrap_or("skip"))?;
    let zone = s.timezone.as_deref().map(Zone::get).transpose()?;
    if let Some(zone) = &zone {
        if next_firing(&cron, Some(zone), 0).is_none() {
            return Err(format!("cron {:?} never fires in {}", s.cron, zone.name()));
        }
    }
    Ok(ScheduleSpec {
        cron,
        function: Bytes::copy_from_slice(s.function.as_bytes()),
        workload: Bytes::copy_from_slice(s.workload.as_bytes()),
        unique: Bytes::from(unique),
        priority,
        missed,
        zone,
    })
}

/// A `[server]` value as command-line arguments: a string, number or boolean is one, an array
/// of them several.
fn option_values(value: &toml::Value) -> Result<Vec<String>, String> {
    let one = |v: &toml::Value| match v {
        toml::Value::String(s) => Ok(s.clone()),
        toml::Value::Integer(n) => Ok(n.to_string()),
        toml::Value::Float(f) => Ok(f.to_string()),
        toml::Value::Boolean(b) => Ok(b.to_string()),
        other => Err(format!("a {} is not an option value", other.type_str())),
    };
    match value {
        toml::Value::Array(items) => items.iter().map(one).collect(),
        other => Ok(vec![one(other)?]),
    }
}

fn missed(text: &str) -> Result<Missed, String> {
    match text {
        "skip" => Ok(Missed::Skip),
        "once" => Ok(Missed::Once),
        other => Err(format!("missed {other:?} is not one of \"skip\", \"once\"")),
    }
}

/// Put a named function's setting, or the default's (`"*"`), if there is one.
fn set<T>(settings: &mut PerFunction<T>, name: &str, value: Option<T>) {
    let Some(value) = value else { return };
    if name == "*" {
        settings.default = Some(value);
    } else {
        settings
            .by_function
            .insert(Bytes::copy_from_slice(name.as_bytes()), value);
    }
}

/// What is kept of the function's background jobs, if anything: dead letters (by default
/// when it has a retry policy) and results (when `keep_results` is set).
fn keep_policy(
    section: &FunctionFormat,
    fallback: &FunctionFormat,
    has_retries: bool,
) -> Result<Option<KeepPolicy>, String> {
    let dead_letter = section
        .dead_letter
        .or(fallback.dead_letter)
        .unwrap_or(has_retries);
    let keep_results_ms = match section
        .keep_results
        .as_ref()
        .or(fallback.keep_results.as_ref())
    {
        Some(text) => duration_ms(text).map_err(|e| format!("keep_results: {e}"))?,
        None => 0,
    };
    let max_result_bytes = match section
        .keep_results_max
        .as_ref()
        .or(fallback.keep_results_max.as_ref())
    {
        Some(text) => size(text).map_err(|e| format!("keep_results_max: {e}"))?,
        None => DEFAULT_RESULT_MAX,
    };
    Ok((dead_letter || keep_results_ms > 0).then_some(KeepPolicy {
        dead_letter,
        keep_results_ms,
        max_result_bytes,
    }))
}

/// `"65536"`, `"64KiB"`, `"1MiB"`, in bytes (at most 4 GiB - 1).
fn size(text: &str) -> Result<u32, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let n: u64 = number
        .parse()
        .map_err(|_| format!("{text:?}: not a size"))?;
    let scale: u64 = match unit.trim() {
        "" | "B" => 1,
        "KiB" | "K" | "KB" => 1024,
        "MiB" | "M" | "MB" => 1024 * 1024,
        _ => return Err(format!("{text:?}: the unit is one of B, KiB, MiB")),
    };
    n.checked_mul(scale)
        .and_then(|b| u32::try_from(b).ok())
        .ok_or_else(|| format!("{text:?}: too large"))
}

/// The function's retry policy, if `retries`, `backoff` or `retry_on` is set for it or for
/// every function.
fn policy(
    section: &FunctionFormat,
    fallback: &FunctionFormat,
) -> Result<Option<RetryPolicy>, String> {
    let set =
        |f: &FunctionFormat| f.retries.is_some() || f.backoff.is_some() || f.retry_on.is_some();
    if !set(section) && !set(fallback) {
        return Ok(None);
    }
    let (backoff_min_ms, backoff_max_ms) =
        match section.backoff.as_ref().or(fallback.backoff.as_ref()) {
            Some(text) => backoff(text)?,
            None => DEFAULT_BACKOFF,
        };
    let retry_on = match section.retry_on.as_ref().or(fallback.retry_on.as_ref()) {
        Some(list) => {
            let mut on = RetryOn {
                lost: false,
                timeout: false,
                fail: false,
                exception: false,
            };
            for item in list {
                match item.as_str() {
                    "lost" => on.lost = true,
                    "timeout" => on.timeout = true,
                    "fail" => on.fail = true,
                    "exception" => on.exception = true,
                    other => {
                        return Err(format!(
                            "retry_on: {other:?} is not one of lost, timeout, fail, exception"
                        ))
                    }
                }
            }
            on
        }
        None => RetryOn::default(),
    };
    Ok(Some(RetryPolicy {
        retries: section.retries.or(fallback.retries).unwrap_or(0),
        backoff_min_ms,
        backoff_max_ms,
        retry_on,
    }))
}

/// `"1s..10m"`: the bounds, in milliseconds.
fn backoff(text: &str) -> Result<(u64, u64), String> {
    let (min, max) = text
        .split_once("..")
        .ok_or_else(|| format!("backoff {text:?}: expected MIN..MAX, such as \"1s..10m\""))?;
    let (min, max) = (duration_ms(min)?, duration_ms(max)?);
    if min > max {
        return Err(format!(
            "backoff {text:?}: the lower bound is above the upper one"
        ));
    }
    Ok((min, max))
}

/// `"500ms"`, `"30s"`, `"10m"`, `"2h"`, `"1d"`, in milliseconds.
pub fn duration_ms(text: &str) -> Result<u64, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .ok_or_else(|| format!("{text:?}: a duration needs a unit (ms, s, m, h, d)"))?;
    let (number, unit) = text.split_at(split);
    let n: u64 = number
        .parse()
        .map_err(|_| format!("{text:?}: not a duration"))?;
    let scale = match unit {
        "ms" => 1,
        "s" => 1_000,
        "m" => 60_000,
        "h" => 3_600_000,
        "d" => 86_400_000,
        _ => return Err(format!("{text:?}: the unit is one of ms, s, m, h, d")),
    };
    n.checked_mul(scale)
        .ok_or_else(|| format!("{text:?}: too long"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<ConfigFile, String> {
        ConfigFile::parse(text, Path::new("gearbox.toml")).map_err(|e| e.to_string())
    }

    #[test]
    fn named_functions_take_what_they_do_not_set_from_the_default() {
        let file = parse(
            r#"
            [functions."*"]
            retries = 3
            backoff = "1s..10m"
            retry_on = ["lost", "timeout"]

            [functions."billing.charge"]
            retries = 10
            "#,
        )
        .unwrap();
        let billing = file.retry_policies.get(b"billing.charge").unwrap();
        assert_eq!(billing.retries, 10);
        assert_eq!(
            (billing.backoff_min_ms, billing.backoff_max_ms),
            (1_000, 600_000)
        );
        assert!(billing.retry_on.lost && billing.retry_on.timeout);
        assert!(!billing.retry_on.fail && !billing.retry_on.exception);
        let other = file.retry_policies.get(b"other").unwrap();
        assert_eq!(other.retries, 3);
    }

    #[test]
    fn without_a_default_only_named_functions_have_a_policy() {
        let file = parse("[functions.resize]\nretries = 2\n").unwrap();
        let resize = file.retry_policies.get(b"resize").unwrap();
        assert_eq!(resize.retries, 2);
        assert_eq!(
            (resize.backoff_min_ms, resize.backoff_max_ms),
            DEFAULT_BACKOFF
        );
        assert_eq!(resize.retry_on, RetryOn::default());
        assert!(file.retry_policies.get(b"other").is_none());
        assert_eq!(parse("").unwrap(), ConfigFile::default());
    }

    #[test]
    fn schedules() {
        let file = parse(
            r#"
            [[schedule]]
            cron = "*/5 * * * *"
            function = "report"
            workload = "hourly"

            [[schedule]]
            cron = "@daily"
            function = "cleanup"
            unique = "nightly-cleanup"
            priority = "low"
            "#,
        )
        .unwrap();
        let [report, cleanup] = file.schedules.as_slice() else {
            panic!("{:?}", file.schedules)
        };
        assert_eq!(report.cron.to_string(), "*/5 * * * *");
        assert_eq!(&report.workload[..], b"hourly");
        assert_eq!(&report.unique[..], b"schedule-1");
        assert_eq!(report.priority, Priority::Normal);
        assert_eq!(&cleanup.unique[..], b"nightly-cleanup");
        assert_eq!(cleanup.priority, Priority::Low);
        let err = |text: &str| parse(text).unwrap_err();
        assert!(err("[[schedule]]\ncron = \"61 * * * *\"\nfunction = \"f\"\n").contains("minute"));
        assert!(err("[[schedule]]\ncron = \"* * * * *\"\n").contains("function"));
        let once = parse("[[schedule]]\ncron = \"@daily\"\nfunction = \"f\"\nmissed = \"once\"\n");
        assert_eq!(once.unwrap().schedules[0].missed, Missed::Once);
        assert!(
            err("[[schedule]]\ncron = \"@daily\"\nfunction = \"f\"\nmissed = \"all\"\n")
                .contains("\"all\"")
        );
        assert!(err("schedule_missed = \"never\"\n").contains("schedule_missed"));
        assert_eq!(
            parse("schedule_missed = \"once\"\n")
                .unwrap()
                .schedule_missed,
            Missed::Once
        );
        let paris = parse(
            "[[schedule]]\ncron = \"@daily\"\nfunction = \"f\"\ntimezone = \"Europe/Paris\"\n",
        );
        assert_eq!(
            paris.unwrap().schedules[0].zone.as_ref().unwrap().name(),
            "Europe/Paris"
        );
        assert!(
            err("[[schedule]]\ncron = \"@daily\"\nfunction = \"f\"\ntimezone = \"Nowhere\"\n")
                .contains("Nowhere")
        );
        assert!(
            err("[[schedule]]\ncron = \"@daily\"\nfunction = \"f\"\npriority = \"urgent\"\n")
                .contains("urgent")
        );
    }

    #[test]
    fn keep_policies_and_which_functions_have_retries() {
        let file = parse(
            r#"
            [functions."*"]
            keep_results = "1h"

            [functions.billing]
            retries = 3

            [functions.thumbs]
            dead_letter = false
            keep_results_max = "1MiB"
            "#,
        )
        .unwrap();
        // keep_results alone gives no retry policy: lost jobs keep gearmand's requeue.
        assert!(file.retry_policies.get(b"other").is_none());
        assert!(file.retry_policies.get(b"thumbs").is_none());
        assert_eq!(file.retry_policies.get(b"billing").unwrap().retries, 3);
        let keep = |f: &[u8]| *file.keep_policies.get(f).unwrap();
        assert_eq!(
            keep(b"billing"),
            KeepPolicy {
                dead_letter: true,
                keep_results_ms: 3_600_000,
                max_result_bytes: DEFAULT_RESULT_MAX,
            }
        );
        assert!(!keep(b"other").dead_letter);
        assert!(!keep(b"thumbs").dead_letter);
        assert_eq!(keep(b"thumbs").max_result_bytes, 1 << 20);
        let none = parse("[functions.f]\nretries = 1\ndead_letter = false\n").unwrap();
        assert!(none.keep_policies.get(b"f").is_none());
        let err = |text: &str| parse(text).unwrap_err();
        assert!(err("[functions.f]\nkeep_results = \"1\"\n").contains("keep_results"));
        assert!(err("[functions.f]\nkeep_results_max = \"9GiB\"\n").contains("keep_results_max"));
        assert_eq!(size("65536"), Ok(65_536));
        assert_eq!(size("64KiB"), Ok(65_536));
        assert!(size("5GiB").is_err() && size("5MiB").is_ok() && size("x").is_err());
    }

    #[test]
    fn server_settings_keep_their_lines_and_values() {
        let file = parse(
            "schedule_missed = \"skip\"\n[server]\nport = 4731\nhttp_listen = [\"127.0.0.1:1\", \"127.0.0.1:2\"]\nssl = true\n",
        )
        .unwrap();
        let got: Vec<(&str, Vec<&str>, usize)> = file
            .server
            .iter()
            .map(|s| {
                (
                    s.key.as_str(),
                    s.values.iter().map(String::as_str).collect(),
                    s.line,
                )
            })
            .collect();
        assert_eq!(
            got,
            vec![
                ("port", vec!["4731"], 3),
                ("http_listen", vec!["127.0.0.1:1", "127.0.0.1:2"], 4),
                ("ssl", vec!["true"], 5),
            ]
        );
        let err = parse("[server]\n\nlisten = { a = 1 }\n").unwrap_err();
        assert!(err.contains("line 3") && err.contains("listen"), "{err}");
    }

    #[test]
    fn durations() {
        assert_eq!(duration_ms("500ms"), Ok(500));
        assert_eq!(duration_ms("30s"), Ok(30_000));
        assert_eq!(duration_ms("10m"), Ok(600_000));
        assert_eq!(duration_ms("2h"), Ok(7_200_000));
        assert_eq!(duration_ms("1d"), Ok(86_400_000));
        assert!(duration_ms("10").unwrap_err().contains("unit"));
        assert!(duration_ms("10y").unwrap_err().contains("unit"));
        assert!(duration_ms("s").is_err());
    }

    #[test]
    fn mistakes_are_refused_with_the_file_and_the_reason() {
        let err = |text: &str| parse(text).unwrap_err();
        assert!(err("[functions.f]\nretries = -1\n").starts_with("gearbox.toml:"));
        assert!(err("[functions.f]\nretries = 70000\n").contains("retries"));
        assert!(err("[functions.f]\nbackoff = \"10m..1s\"\n").contains("lower bound"));
        assert!(err("[functions.f]\nbackoff = \"1s\"\n").contains("MIN..MAX"));
        assert!(err("[functions.f]\nretry_on = [\"crash\"]\n").contains("\"crash\""));
        assert!(err("[functions.f]\nretrys = 3\n").contains("retrys"));
        assert!(err("[function.f]\nretries = 3\n").contains("function"));
        assert!(err("[functions.f]\nretry_on = [\"crash\"]\n").contains("[functions.\"f\"]"));
    }
}
