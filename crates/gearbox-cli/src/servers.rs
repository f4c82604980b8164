//! Which job servers a command talks to, and the settings file that can name them.
//!
//! This module owns address resolution: `--server` flags first, then the `GEARMAN_SERVERS`
//! environment variable, then the config file, then `127.0.0.1:4730`; and the config file
//! format (`key = value` lines, see [`CONFIG_HELP`]); and the one place a library [`Client`]
//! is set up for them ([`client`]). It does no network I/O: addresses are only checked for
//! shape here, and connecting is the client library's or `admin.rs`'s job.
//!
//! [`Client`]: gearbox_client::Client

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Context, Result};

/// The Gearman port (IANA), used when an address names none.
pub const DEFAULT_PORT: u16 = 4730;

/// Shown in `gearbox --help`: where servers come from and what the config file holds.
pub const CONFIG_HELP: &str = "\
Servers: --server/-s HOST[:PORT] (repeatable), else $GEARMAN_SERVERS (comma-separated
HOST[:PORT] list), else the config file, else 127.0.0.1:4730. The port defaults to 4730.

Config file: --config FILE, else $GEARBOX_CONFIG, else ~/.config/gearbox/config (ignored
when absent). One `key = value` per line; `#` starts a comment:
    server = 10.0.0.5:4730      # repeatable; a comma-separated list works too
    server = 10.0.0.6
    timeout = 10                # seconds; the default for --timeout";

/// What the command line, the environment and the config file say together.
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    /// `host:port` of every server, in order, without duplicates.
    pub servers: Vec<String>,
    /// Default deadline for client calls, from the config file (`--timeout` overrides it).
    pub timeout: Option<Duration>,
}

/// Where the inputs come from; `resolve` takes them explicitly so tests need no real env.
#[derive(Debug, Default)]
pub struct Sources<'a> {
    /// `--server` values.
    pub flags: &'a [String],
    /// `--config` value.
    pub config_flag: Option<&'a Path>,
    /// `$GEARMAN_SERVERS`.
    pub env_servers: Option<String>,
    /// `$GEARBOX_CONFIG`.
    pub env_config: Option<PathBuf>,
    /// `$HOME`.
    pub home: Option<PathBuf>,
}

impl Sources<'_> {
    /// The sources for this process: flags plus the real environment.
    pub fn from_env<'a>(flags: &'a [String], config_flag: Option<&'a Path>) -> Sources<'a> {
        let var = |k| std::env::var_os(k).filter(|v| !v.is_empty());
        Sources {
            flags,
            config_flag,
            env_servers: var("GEARMAN_SERVERS").map(|v| v.to_string_lossy().into_owned()),
            env_config: var("GEARBOX_CONFIG").map(PathBuf::from),
            home: var("HOME").map(PathBuf::from),
        }
    }
}

/// Resolve servers and defaults (see the module docs for the order).
pub fn resolve(src: &Sources) -> Result<Settings> {
    // A file named explicitly must exist; the default one is optional.
    let config = match (src.config_flag, &src.env_config) {
        (Some(p), _) => Some(read_config(p)?),
        (None, Some(p)) => Some(read_config(p)?),
        (None, None) => match &src.home {
            Some(home) => {
                let p = home.join(".config/gearbox/config");
                if p.exists() {
                    Some(read_config(&p)?)
                } else {
                    None
                }
            }
            None => None,
        },
    };
    let (file_servers, timeout) = config.unwrap_or_default();
    let servers = if !src.flags.is_empty() {
        parse_list(src.flags.iter().map(String::as_str)).context("--server")?
    } else if let Some(env) = src.env_servers.as_deref() {
        parse_list([env]).context("GEARMAN_SERVERS")?
    } else if !file_servers.is_empty() {
        file_servers
    } else {
        vec![format!("127.0.0.1:{DEFAULT_PORT}")]
    };
    Ok(Settings { servers, timeout })
}

/// Addresses from several comma-separated lists, normalized, duplicates dropped.
fn parse_list<'a>(lists: impl IntoIterator<Item = &'a str>) -> Result<Vec<String>> {
    let mut out: Vec<String> = Vec::new();
    for list in lists {
        for item in list.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            let addr = normalize(item)?;
            if !out.contains(&addr) {
                out.push(addr);
            }
        }
    }
    if out.is_empty() {
        bail!("no server address given");
    }
    Ok(out)
}

/// `host` → `host:4730`; `[v6]` → `[v6]:4730`; checks that a given port is a number.
pub fn normalize(addr: &str) -> Result<String> {
    let (host, port) = if let Some(rest) = addr.strip_prefix('[') {
        match rest.split_once(']') {
            Some((h, "")) => (format!("[{h}]"), None),
            Some((h, p)) => match p.strip_prefix(':') {
                Some(p) => (format!("[{h}]"), Some(p)),
                None => bail!("bad server address {addr:?}"),
            },
            None => bail!("bad server address {addr:?}"),
        }
    } else {
        match addr.rsplit_once(':') {
            // More than one colon without brackets: a bare IPv6 address.
            Some((h, _)) if h.contains(':') => (format!("[{addr}]"), None),
            Some((h, p)) => (h.to_string(), Some(p)),
            None => (addr.to_string(), None),
        }
    };
    if host.is_empty() || host == "[]" {
        bail!("bad server address {addr:?}: no host");
    }
    let port = match port {
        Some(p) => p
            .parse::<u16>()
            .with_context(|| format!("bad port in server address {addr:?}"))?,
        None => DEFAULT_PORT,
    };
    Ok(format!("{host}:{port}"))
}

/// Read a config file: its servers (normalized) and timeout.
fn read_config(path: &Path) -> Result<(Vec<String>, Option<Duration>)> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read config file {}", path.display()))?;
    parse_config(&text).with_context(|| format!("in config file {}", path.display()))
}

fn parse_config(text: &str) -> Result<(Vec<String>, Option<Duration>)> {
    let mut servers = Vec::new();
    let mut timeout = None;
    for (n, raw) in text.lines().enumerate() {
        let line = raw.split('#').next().unwrap_or("").trim();
        if line.is_empty() {
            continue;
        }
        let Some((key, value)) = line.split_once('=') else {
            bail!("line {}: expected `key = value`, got {raw:?}", n + 1);
        };
        let value = value.trim();
        match key.trim() {
            "server" | "servers" => {
                for s in parse_list([value]).with_context(|| format!("line {}", n + 1))? {
                    if !servers.contains(&s) {
                        servers.push(s);
                    }
                }
            }
            "timeout" => {
                timeout = Some(parse_secs(value).with_context(|| format!("line {}", n + 1))?)
            }
            other => bail!(
                "line {}: unknown key {other:?} (known: server, timeout)",
                n + 1
            ),
        }
    }
    Ok((servers, timeout))
}

/// A client of the library for `servers`, with the call deadline `timeout` (`None`: none) and
/// TLS if asked for. Nothing is connected yet.
pub fn client(
    servers: &[String],
    timeout: Option<Duration>,
    tls: Option<gearbox_client::Tls>,
) -> Result<gearbox_client::Client> {
    let client = gearbox_client::Client::new();
    client.set_tls(tls);
    for s in servers {
        client.add_server(s)?;
    }
    client.set_timeout(timeout);
    Ok(client)
}

/// Seconds as a decimal number (`10`, `0.5`) → a duration.
pub fn parse_secs(s: &str) -> Result<Duration> {
    let secs: f64 = s
        .trim()
        .parse()
        .with_context(|| format!("not a number of seconds: {s:?}"))?;
    if !secs.is_finite() || secs < 0.0 {
        bail!("not a valid number of seconds: {s:?}");
    }
    Ok(Duration::from_secs_f64(secs))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_get_the_default_port() {
        assert_eq!(normalize("h").unwrap(), "h:4730");
        assert_eq!(normalize("h:1").unwrap(), "h:1");
        assert_eq!(normalize("[::1]").unwrap(), "[::1]:4730");
        assert_eq!(normalize("[::1]:9").unwrap(), "[::1]:9");
        assert_eq!(normalize("::1").unwrap(), "[::1]:4730");
        assert!(normalize("h:x").is_err());
        assert!(normalize(":1").is_err());
        assert!(normalize("h:70000").is_err());
    }

    #[test]
    fn order_is_flags_env_file_default() {
        let dir = std::env::temp_dir().join(format!("gearbox-cli-unit-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("config");
        std::fs::write(
            &file,
            "# servers\nserver = f1\nserver = f2:7 # second\ntimeout = 2.5\n",
        )
        .unwrap();
        let flags = vec!["a:1".to_string(), "b,a:1".to_string()];
        let s = resolve(&Sources {
            flags: &flags,
            env_servers: Some("e".into()),
            env_config: Some(file.clone()),
            ..Default::default()
        })
        .unwrap();
        assert_eq!(s.servers, ["a:1", "b:4730"]);
        assert_eq!(s.timeout, Some(Duration::from_millis(2500)));

        let s = resolve(&Sources {
            env_servers: Some("e1, e2:5".into()),
            env_config: Some(file.clone()),
            ..Default::default()
        })
        .unwrap();
        assert_eq!(s.servers, ["e1:4730", "e2:5"]);

        let s = resolve(&Sources {
            env_config: Some(file.clone()),
            ..Default::default()
        })
        .unwrap();
        assert_eq!(s.servers, ["f1:4730", "f2:7"]);

        // The default file under $HOME is optional.
        let s = resolve(&Sources {
            home: Some(dir.join("nohome")),
            ..Default::default()
        })
        .unwrap();
        assert_eq!(s.servers, ["127.0.0.1:4730"]);
        assert_eq!(s.timeout, None);

        // A named file must exist.
        assert!(resolve(&Sources {
            config_flag: Some(&dir.join("missing")),
            ..Default::default()
        })
        .is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn bad_config_lines_are_errors() {
        assert!(parse_config("server\n").is_err());
        assert!(parse_config("colour = red\n").is_err());
        assert!(parse_config("timeout = soon\n").is_err());
        assert_eq!(parse_config("\n# only comments\n").unwrap(), (vec![], None));
    }
}
