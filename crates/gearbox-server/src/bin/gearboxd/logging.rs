//! Log levels by gearmand's names, where the log goes and in what form (`-l`, `--verbose`,
//! `-v`, `--log-format`, `GEARBOX_LOG`).

use std::fs::File;
use std::io::IsTerminal as _;
use std::sync::Mutex;

use anyhow::{bail, Context as _, Result};
use tracing_subscriber::fmt::writer::BoxMakeWriter;

use crate::args::Args;

const LEVELS: [&str; 8] = [
    "FATAL", "ALERT", "CRITICAL", "ERROR", "WARNING", "NOTICE", "INFO", "DEBUG",
];

pub fn level(args: &Args) -> Result<&'static str> {
    let wanted = args.verbose.to_ascii_uppercase();
    let Some(at) = LEVELS.iter().position(|l| *l == wanted) else {
        bail!(
            "unknown --verbose level {:?}; use one of {}",
            args.verbose,
            LEVELS.join(", ")
        );
    };
    Ok(LEVELS[(at + usize::from(args.more_verbose)).min(LEVELS.len() - 1)])
}

pub fn init(args: &Args, level: &str) -> Result<()> {
    let filter = match level {
        "FATAL" | "ALERT" | "CRITICAL" | "ERROR" => "error",
        "WARNING" => "warn",
        "NOTICE" | "INFO" => "info",
        _ => "debug",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("GEARBOX_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(filter));
    let writer = match args.log_file.as_str() {
        "stderr" => BoxMakeWriter::new(std::io::stderr),
        "none" => BoxMakeWriter::new(std::io::sink),
        path => {
            let file = File::options()
                .create(true)
                .append(true)
                .open(path)
                .with_context(|| format!("opening log file {path}"))?;
            BoxMakeWriter::new(Mutex::new(file))
        }
    };
    let colour = args.log_file == "stderr" && std::io::stderr().is_terminal();
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer)
        .with_ansi(colour);
    if args.log_format == "json" {
        builder.json().with_current_span(true).init();
    } else {
        builder.init();
    }
    Ok(())
}
