//! Where each setting comes from, in order of precedence: a flag, then a `GEARBOX_*`
//! environment variable, then the `[server]` table of the configuration file, then the
//! built-in default. Every option can be given all four ways: the environment variable is
//! `GEARBOX_` and the option's long name in capitals with `_` for `-`
//! (`GEARBOX_MAX_QUEUE`), the file key is the long name with `_` (`max_queue = 100`); the
//! variables gearmand reads (`GEARMAND_PORT`) keep working for their options.
//!
//! Built on the command line's own parser: a file value becomes the option's default before
//! the command line is read, so each value is checked by the same rules wherever it comes
//! from. Also `--print-config` (the effective settings and where each came from) and
//! `--check-config FILE` (a file checked without starting anything). Nothing is started here.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use clap::parser::ValueSource;
use clap::{Arg, ArgAction, ArgMatches, Command, CommandFactory, FromArgMatches};
use gearbox_server::config_file::{ConfigFile, ServerSetting};

use crate::args::Args;

/// Options that are not settings: they act, or they name the file itself.
const NOT_SETTINGS: [&str; 5] = ["config", "print_config", "check_config", "version", "help"];

/// The environment variable of the option `id`.
fn env_name(id: &str) -> String {
    format!("GEARBOX_{}", id.to_ascii_uppercase())
}

/// Whether the option `arg` is a setting the file and the environment may give.
fn is_setting(arg: &Arg) -> bool {
    let id = arg.get_id().as_str();
    arg.get_long().is_some()
        && !NOT_SETTINGS.contains(&id)
        && !matches!(
            arg.get_action(),
            ArgAction::Count | ArgAction::Help | ArgAction::Version
        )
}

/// The command line, with every setting readable from `GEARBOX_*`.
fn command() -> Command {
    Args::command().mut_args(|arg| {
        if is_setting(&arg) && arg.get_env().is_none() {
            let env = env_name(arg.get_id().as_str());
            arg.env(env)
        } else {
            arg
        }
    })
}

/// Whether `argv` gives `arg` as a flag (`--name`, `--name=…`, `-n`, `-n…`).
fn on_command_line(arg: &Arg, argv: &[OsString]) -> bool {
    argv.iter().skip(1).any(|token| {
        let token = token.to_string_lossy();
        if let Some(long) = token.strip_prefix("--") {
            arg.get_long().is_some_and(|name| {
                long == name || long.strip_prefix(name).is_some_and(|r| r.starts_with('='))
            })
        } else if let Some(short) = token.strip_prefix('-') {
            arg.get_short()
                .is_some_and(|c| short.starts_with(c) && !short.is_empty())
        } else {
            false
        }
    })
}

/// The file's settings as flags, to be read before the real command line: each setting
/// that neither a flag nor its environment variable gives. A key that names no setting is
/// an error naming it and its line.
fn file_flags(
    cmd: &Command,
    path: &Path,
    settings: &[ServerSetting],
    argv: &[OsString],
) -> Result<Vec<OsString>> {
    let mut flags = Vec::new();
    for setting in settings {
        let Some(arg) = cmd
            .get_arguments()
            .find(|a| a.get_id() == setting.key.as_str() && is_setting(a))
        else {
            bail!(
                "{}:{}: [server] {}: no such option (keys are the long option names with _ for -, \
                 as gearboxd --help lists them)",
                path.display(),
                setting.line,
                setting.key
            );
        };
        let from_env = arg
            .get_env()
            .is_some_and(|name| std::env::var_os(name).is_some());
        if from_env || on_command_line(arg, argv) {
            continue;
        }
        let long = arg.get_long().unwrap_or_default();
        if matches!(arg.get_action(), ArgAction::SetTrue) {
            match setting.values.as_slice() {
                [v] if v == "true" => flags.push(OsString::from(format!("--{long}"))),
                [v] if v == "false" => {}
                _ => bail!(
                    "{}:{}: [server] {}: true or false",
                    path.display(),
                    setting.line,
                    setting.key
                ),
            }
            continue;
        }
        for value in &setting.values {
            flags.push(OsString::from(format!("--{long}={value}")));
        }
    }
    Ok(flags)
}

/// The file named by `--config` (or `GEARBOX_CONFIG`), found before the command line is
/// parsed, since its settings go under the flags.
fn config_path(argv: &[OsString]) -> Option<PathBuf> {
    let mut args = argv.iter().skip(1);
    while let Some(arg) = args.next() {
        let text = arg.to_string_lossy();
        if text == "--config" {
            return args.next().map(PathBuf::from);
        }
        if let Some(path) = text.strip_prefix("--config=") {
            return Some(PathBuf::from(path));
        }
    }
    std::env::var_os("GEARBOX_CONFIG").map(PathBuf::from)
}

/// The command line, the environment and the configuration file, read together.
pub struct Settings {
    /// The options in force.
    pub args: Args,
    /// The configuration file's other sections (functions, schedules).
    pub file: ConfigFile,
    /// The file, if one was read.
    pub path: Option<PathBuf>,
    matches: ArgMatches,
    cmd: Command,
    /// How many leading arguments came from the file.
    from_file: usize,
}

impl Settings {
    /// Read everything; a bad setting anywhere stops here with the reason.
    pub fn read() -> Result<Settings> {
        let argv: Vec<OsString> = std::env::args_os().collect();
        Settings::read_from(argv)
    }

    fn read_from(argv: Vec<OsString>) -> Result<Settings> {
        let path = config_path(&argv);
        let file = match &path {
            Some(path) => ConfigFile::load(path).context("--config")?,
            None => ConfigFile::default(),
        };
        let cmd = command();
        let file_path = path.as_deref().unwrap_or(Path::new("-"));
        let flags = file_flags(&cmd, file_path, &file.server, &argv)?;
        // Clap counts an option and its value as two positions, even as `--name=value`.
        let from_file = flags
            .iter()
            .map(|f| {
                if f.to_string_lossy().contains('=') {
                    2
                } else {
                    1
                }
            })
            .sum();
        // The program name, the file's settings, then the real arguments.
        let mut full = argv[..1.min(argv.len())].to_vec();
        full.extend(flags);
        full.extend(argv.into_iter().skip(1));
        let matches = match cmd.clone().try_get_matches_from(full) {
            Ok(matches) => matches,
            // --help, --version and usage errors print as clap prints them.
            Err(e) => e.exit(),
        };
        let args = Args::from_arg_matches(&matches)?;
        Ok(Settings {
            args,
            file,
            path,
            matches,
            cmd,
            from_file,
        })
    }

    /// The effective settings as a `[server]` table, each with where it came from.
    pub fn print(&self) -> String {
        let mut out = String::from("# gearboxd's effective settings (gearboxd --print-config)\n");
        if let Some(path) = &self.path {
            out.push_str(&format!(
                "# [functions] and [[schedule]]: as in {}\n",
                path.display()
            ));
        }
        out.push_str("[server]\n");
        for arg in self.cmd.get_arguments().filter(|a| is_setting(a)) {
            let id = arg.get_id().as_str();
            let source = match self.matches.value_source(id) {
                Some(ValueSource::CommandLine) if self.given_by_file(id) => "file",
                Some(ValueSource::CommandLine) => "flag",
                Some(ValueSource::EnvVariable) => "environment",
                Some(ValueSource::DefaultValue) => "default",
                _ => {
                    out.push_str(&format!("# {id}: not set\n"));
                    continue;
                }
            };
            let values: Vec<String> = self
                .matches
                .get_raw(id)
                .map(|raw| raw.map(|v| toml_value(&v.to_string_lossy())).collect())
                .unwrap_or_default();
            let value = if arg.get_num_args().is_some_and(|n| n.max_values() > 1)
                || matches!(arg.get_action(), ArgAction::Append)
            {
                format!("[{}]", values.join(", "))
            } else {
                values.into_iter().next().unwrap_or_default()
            };
            out.push_str(&format!("{id} = {value}  # {source}\n"));
        }
        out
    }

    /// Whether the value of `id` was one of the file's (its occurrences all come before the
    /// real arguments).
    fn given_by_file(&self, id: &str) -> bool {
        self.matches
            .indices_of(id)
            .is_some_and(|mut at| at.all(|i| i <= self.from_file))
    }
}

/// A value as TOML: numbers and booleans bare, anything else quoted.
fn toml_value(raw: &str) -> String {
    if raw == "true" || raw == "false" || raw.parse::<i64>().is_ok() {
        raw.to_owned()
    } else {
        let escaped: String = raw
            .chars()
            .flat_map(|c| match c {
                '"' | '\\' => vec!['\\', c],
                c => vec![c],
            })
            .collect();
        format!("\"{escaped}\"")
    }
}

/// `--check-config FILE`: every key known, every value accepted by its option, the policies
/// and schedules valid; the first mistake names the file, the line and the key.
pub fn check(path: &Path) -> Result<()> {
    let file = ConfigFile::load(path)?;
    let cmd = command();
    let program = [OsString::from("gearboxd")];
    for setting in &file.server {
        // Each setting alone, so that an error is the one setting's.
        let flags = file_flags(&cmd, path, std::slice::from_ref(setting), &program)?;
        let argv = program.iter().cloned().chain(flags);
        if let Err(e) = cmd.clone().try_get_matches_from(argv) {
            if matches!(e.kind(), clap::error::ErrorKind::MissingRequiredArgument) {
                continue;
            }
            bail!(
                "{}:{}: [server] {}: {}",
                path.display(),
                setting.line,
                setting.key,
                reason(&e)
            );
        }
    }
    // Together too: an option that needs another (`ssl_certificate` needs `ssl`) is checked
    // on the whole set.
    let flags = file_flags(&cmd, path, &file.server, &program)?;
    cmd.try_get_matches_from(program.iter().cloned().chain(flags))
        .map_err(|e| anyhow::anyhow!("{}: {}", path.display(), reason(&e)))?;
    Ok(())
}

/// Clap's message without its usage lines, on one line.
fn reason(e: &clap::Error) -> String {
    let text = e.to_string();
    let lines: Vec<&str> = text
        .lines()
        .take_while(|l| !l.trim().is_empty())
        .map(str::trim)
        .collect();
    lines.join(" ").trim_start_matches("error: ").to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(text: &str) -> (gearbox_testkit::TempDir, PathBuf) {
        let dir = gearbox_testkit::TempDir::new("layers");
        let path = dir.path().join("gearbox.toml");
        std::fs::write(&path, text).unwrap();
        (dir, path)
    }

    fn read(argv: &[&str]) -> Settings {
        let argv = argv.iter().map(OsString::from).collect();
        Settings::read_from(argv).unwrap()
    }

    #[test]
    fn flags_beat_the_file_which_beats_the_defaults() {
        let (_dir, path) = write(
            "[server]\nmax_queue = 7\nshutdown_timeout = 9\nhttp_listen = [\"127.0.0.1:9730\"]\n",
        );
        let p = path.to_str().unwrap();
        let s = read(&["gearboxd", "--config", p, "--shutdown-timeout", "3"]);
        assert_eq!(s.args.max_queue, 7);
        assert_eq!(s.args.shutdown_timeout, 3);
        assert_eq!(s.args.http_listen.len(), 1);
        assert_eq!(s.args.backlog, 1024);
        let printed = s.print();
        assert!(printed.contains("max_queue = 7  # file"), "{printed}");
        assert!(
            printed.contains("shutdown_timeout = 3  # flag"),
            "{printed}"
        );
        assert!(printed.contains("backlog = 1024  # default"), "{printed}");
        assert!(
            printed.contains("http_listen = [\"127.0.0.1:9730\"]  # file"),
            "{printed}"
        );
    }

    #[test]
    fn bad_files_name_the_line_and_the_key() {
        let (_dir, path) = write("# settings\n[server]\nport = 4730\nmax_queeu = 5\n");
        let err = check(&path).unwrap_err().to_string();
        assert!(err.ends_with(&format!("{}:4: [server] max_queeu: no such option (keys are the long option names with _ for -, as gearboxd --help lists them)", path.display())) || err.contains(":4: [server] max_queeu: no such option"), "{err}");
        let (_dir, path) = write("[server]\n\nmax_queue = \"lots\"\n");
        let err = check(&path).unwrap_err().to_string();
        assert!(
            err.contains(":3: [server] max_queue:") && err.contains("lots"),
            "{err}"
        );
        let (_dir, path) = write("[server]\nconfig = \"other.toml\"\n");
        assert!(check(&path)
            .unwrap_err()
            .to_string()
            .contains("config: no such option"));
        let (_dir, path) = write("[server]\nssl_certificate = \"c.pem\"\n");
        let err = check(&path).unwrap_err().to_string();
        assert!(err.contains("required") && err.contains("--ssl"), "{err}");
        let (_dir, path) = write("[server]\nport = 1\nhttp_listen = [\"127.0.0.1:9\"]\n");
        check(&path).unwrap();
    }
}
