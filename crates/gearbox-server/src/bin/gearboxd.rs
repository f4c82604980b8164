//! `gearboxd`: the Gearbox job server. Reads gearmand's flags, binds the listeners, drops
//! privileges if asked, and runs the server on one thread until SIGTERM, SIGINT or an admin
//! `shutdown`.

use std::fs::File;
use std::io::Write as _;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{bail, Context as _, Result};
use clap::{ArgAction, Parser};
use gearbox_server::config::{Keepalive, ServerConfig};
use gearbox_server::engine::EngineConfig;
use gearbox_server::net::{serve, Stop};
use gearbox_store::{DelayedStore, JobStore, SqliteStore};
use tokio::net::TcpListener;
use tracing::{info, warn};

/// mimalloc instead of the system allocator: jobs are many small allocations of similar sizes,
/// which it packs without a per-allocation header, and it returns freed pages to the system
/// once a backlog drains (glibc keeps most of them).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// The Gearbox job server: a Gearman job server, wire-compatible with gearmand.
///
/// Clients, workers and admin tools written for gearmand (libgearman, the PECL extension,
/// gearman/gearadmin, the Perl, Python, Go and Java clients) work against it unchanged. The
/// flags are gearmand's where they apply.
#[derive(Debug, Parser)]
#[command(name = "gearboxd", version, about, long_about = None, disable_version_flag = true, args_override_self = true)]
struct Args {
    /// Port to listen on (gearmand -p). Also read from GEARMAND_PORT. 0 picks a free port.
    #[arg(short = 'p', long, env = "GEARMAND_PORT", default_value_t = 4730)]
    port: u16,

    /// Address to listen on; repeat for several (gearmand -L). An address may carry its own
    /// port (`127.0.0.1:4731`). Default: every IPv4 and IPv6 address.
    #[arg(short = 'L', long = "listen", value_name = "ADDR")]
    listen: Vec<String>,

    /// Requeues allowed for a job whose worker disconnects, sends CANT_DO or times out:
    /// -1 unlimited (default), 0 none, N at most N; then waiting clients get WORK_FAIL.
    /// (gearmand 2.0 meaning; gearmand 1.1 read 0 as unlimited.)
    #[arg(short = 'j', long, default_value_t = -1, allow_negative_numbers = true)]
    job_retries: i32,

    /// Sleeping workers to wake (NOOP) for each job that becomes runnable; 0 wakes all of
    /// them (gearmand's default, a thundering herd with many workers). The default wakes one
    /// per job, longest asleep first.
    #[arg(short = 'w', long, default_value_t = 1)]
    worker_wakeup: u32,

    /// With --worker-wakeup above 0: a woken worker that has not asked for its job within MS
    /// milliseconds passes the wake-up on to another sleeping worker (0: never).
    #[arg(long, value_name = "MS", default_value_t = 500)]
    wakeup_timeout: u64,

    /// Accepted for gearmand compatibility. gearboxd serves every connection from one
    /// event-loop thread, which on its own outruns gearmand's I/O thread pool.
    #[arg(short = 't', long, default_value_t = 4)]
    threads: u32,

    /// Queue store. `sqlite` (default; alias `libsqlite3`): background jobs are written to an
    /// embedded SQLite database and survive restarts, `kill -9` and power loss.
    /// `memory` (alias `builtin`, gearmand's default): jobs live in RAM only.
    /// `postgres` (alias `libpq`), `mysql` (alias `mariadb`), `redis`: a database server you
    /// run (builds with the cargo feature of the same name); see the --libpq-*, --mysql-* and
    /// --redis-* flags, or --store-url.
    #[arg(short = 'q', long, default_value = "sqlite")]
    queue_type: String,

    /// The job store as a URL: `postgres://…`, `mysql://…` or `redis://…`. Chooses the
    /// backend (instead of -q) and replaces its host, port, user, password and database flags;
    /// the table or prefix still comes from --libpq-table, --mysql-table or --redis-prefix.
    #[arg(long, value_name = "URL")]
    store_url: Option<String>,

    /// PostgreSQL connection string (gearmand's flag): `key=value` pairs as for libpq
    /// (`host=db user=gearman dbname=jobs`) or a `postgres://` URL. Empty: the local socket.
    #[arg(long = "libpq-conninfo", default_value = "")]
    libpq_conninfo: String,

    /// PostgreSQL table name (gearmand's flag).
    #[arg(long = "libpq-table", default_value = "queue")]
    libpq_table: String,

    /// MySQL/MariaDB host (gearmand's flag).
    #[arg(long = "mysql-host", default_value = "localhost")]
    mysql_host: String,

    /// MySQL/MariaDB port (gearmand's flag).
    #[arg(long = "mysql-port", default_value_t = 3306)]
    mysql_port: u16,

    /// MySQL/MariaDB user (gearmand's flag).
    #[arg(long = "mysql-user")]
    mysql_user: Option<String>,

    /// MySQL/MariaDB password (gearmand's flag). Also read from GEARBOX_MYSQL_PASSWORD, which
    /// keeps it out of the process list.
    #[arg(
        long = "mysql-password",
        env = "GEARBOX_MYSQL_PASSWORD",
        hide_env_values = true
    )]
    mysql_password: Option<String>,

    /// MySQL/MariaDB database (gearmand's flag); required with -q mysql.
    #[arg(long = "mysql-db")]
    mysql_db: Option<String>,

    /// MySQL/MariaDB table name (gearmand's flag).
    #[arg(long = "mysql-table", default_value = "gearman_queue")]
    mysql_table: String,

    /// Redis host (gearmand's flag).
    #[arg(long = "redis-server", default_value = "127.0.0.1")]
    redis_server: String,

    /// Redis port (gearmand's flag).
    #[arg(long = "redis-port", default_value_t = 6379)]
    redis_port: u16,

    /// Redis password (gearmand's flag). Also read from GEARBOX_REDIS_PASSWORD.
    #[arg(
        long = "redis-password",
        env = "GEARBOX_REDIS_PASSWORD",
        hide_env_values = true
    )]
    redis_password: Option<String>,

    /// Prefix of the Redis keys (gearmand's flag): jobs are kept in `<prefix>:jobs` and
    /// `<prefix>:ids`.
    #[arg(long = "redis-prefix", default_value = "gearbox")]
    redis_prefix: String,

    /// Directory for the default SQLite database (`gearbox.db`); created if missing.
    #[arg(long, default_value = "gearbox-data")]
    data_dir: PathBuf,

    /// SQLite database file (gearmand's flag); default `<data-dir>/gearbox.db`. A queue file
    /// written by gearmand's `-q libsqlite3` is taken over.
    #[arg(long = "libsqlite3-db")]
    libsqlite3_db: Option<PathBuf>,

    /// SQLite table name (gearmand's flag).
    #[arg(long = "libsqlite3-table", default_value = gearbox_store::DEFAULT_TABLE)]
    libsqlite3_table: String,

    /// Answer JOB_CREATED before the store commit instead of after it: faster, but a crash or
    /// power loss can lose background jobs whose JOB_CREATED was already sent.
    #[arg(long)]
    ack_before_commit: bool,

    /// Keep the workloads of at most N jobs in memory; further queued background jobs keep
    /// theirs only in the durable store and get them back shortly before their turn. Bounds
    /// memory for very long queues (each queued job still costs ~200 bytes). 0: no limit.
    #[arg(long, value_name = "N", default_value_t = 0)]
    resident_jobs: u32,

    /// For testing: hold every store transaction back by MS milliseconds, as a slow disk or a
    /// distant database would. No effect with `-q memory`.
    #[arg(long, value_name = "MS", default_value_t = 0, hide = true)]
    store_delay_ms: u64,

    /// Log level: FATAL, ALERT, CRITICAL, ERROR, WARNING, NOTICE, INFO or DEBUG (also shown by
    /// the admin `verbose` command).
    #[arg(long, default_value = "INFO")]
    verbose: String,

    /// Raise the log level one step per -v (after --verbose).
    #[arg(short = 'v', action = ArgAction::Count)]
    more_verbose: u8,

    /// Where logs go: `stderr` (default), `none`, or a file path (appended).
    #[arg(short = 'l', long, default_value = "stderr")]
    log_file: String,

    /// Write the process id to this file.
    #[arg(short = 'P', long)]
    pid_file: Option<PathBuf>,

    /// After binding the listeners, switch to this user (and its group).
    #[arg(short = 'u', long)]
    user: Option<String>,

    /// Enable TCP keepalive on accepted sockets.
    #[arg(long)]
    keepalive: bool,

    /// TCP_KEEPIDLE in seconds, with --keepalive (-1: system default).
    #[arg(long, default_value_t = -1, allow_negative_numbers = true)]
    keepalive_idle: i64,

    /// TCP_KEEPINTVL in seconds, with --keepalive (-1: system default).
    #[arg(long, default_value_t = -1, allow_negative_numbers = true)]
    keepalive_interval: i64,

    /// TCP_KEEPCNT, with --keepalive (-1: system default).
    #[arg(long, default_value_t = -1, allow_negative_numbers = true)]
    keepalive_count: i64,

    /// Listen backlog.
    #[arg(short = 'b', long, default_value_t = 1024)]
    backlog: u32,

    /// Open-file limit to ask for; default: the hard limit, so many connections fit.
    #[arg(short = 'f', long)]
    file_descriptors: Option<u64>,

    /// Treat every connection as having set the `exceptions` option.
    #[arg(long)]
    exceptions: bool,

    /// Job handle prefix; handles are `<prefix>:<n>`. Default `H:<hostname>`.
    #[arg(long)]
    job_handle_prefix: Option<String>,

    /// Accepted for gearmand compatibility: work is always handed out round-robin between a
    /// worker's functions.
    #[arg(short = 'R', long)]
    round_robin: bool,

    /// Largest packet body accepted, in bytes; larger ones get ERROR and the connection closes.
    #[arg(long, default_value_t = gearbox_proto::DEFAULT_MAX_BODY)]
    max_body: u32,

    /// Unsent bytes above which a connection's requests are no longer read until it reads its
    /// replies; one that then takes nothing for --outbound-timeout seconds is closed. A peer
    /// that reads is never cut off, however large an answer.
    #[arg(long, default_value_t = 64 * 1024 * 1024)]
    max_outbound: usize,

    /// Seconds a connection over --max-outbound may go without reading before it is closed.
    #[arg(long, value_name = "SECONDS", default_value_t = 10)]
    outbound_timeout: u64,

    /// Unsent bytes of all connections together; beyond it the peers that stopped reading
    /// longest are closed first, then those with the most unsent output.
    #[arg(long, default_value_t = 512 * 1024 * 1024)]
    max_outbound_total: usize,

    /// Distinct functions the server keeps at most (0: no limit). Idle ones (no worker, job or
    /// queue limit) are forgotten to make room; beyond that, what would create one more gets
    /// ERROR TOO_MANY_FUNCTIONS.
    #[arg(long, value_name = "N", default_value_t = 100_000)]
    max_functions: u32,

    /// Functions one connection may register at most (0: no limit); CAN_DO beyond gets ERROR
    /// TOO_MANY_FUNCTIONS.
    #[arg(long, value_name = "N", default_value_t = 10_000)]
    max_worker_functions: u32,

    /// Connections served at once.
    #[arg(long, default_value_t = 1_000_000)]
    max_connections: usize,

    /// On SIGTERM/SIGINT, seconds running foreground jobs get to finish.
    #[arg(long, default_value_t = 30)]
    shutdown_timeout: u64,

    /// Accept the admin `shutdown` command from any address (default: loopback only).
    #[arg(long)]
    remote_shutdown: bool,

    /// Once listening, write the first bound address (`IP:PORT`) to this file.
    #[arg(long)]
    ready_file: Option<PathBuf>,

    /// Print the version and exit.
    #[arg(short = 'V', long = "version", action = ArgAction::Version)]
    version: Option<bool>,
}

const LEVELS: [&str; 8] = [
    "FATAL", "ALERT", "CRITICAL", "ERROR", "WARNING", "NOTICE", "INFO", "DEBUG",
];

fn level(args: &Args) -> Result<&'static str> {
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

fn init_logging(args: &Args, level: &str) -> Result<()> {
    let filter = match level {
        "FATAL" | "ALERT" | "CRITICAL" | "ERROR" => "error",
        "WARNING" => "warn",
        "NOTICE" | "INFO" => "info",
        _ => "debug",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("GEARBOX_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(filter));
    let builder = tracing_subscriber::fmt().with_env_filter(filter);
    match args.log_file.as_str() {
        "stderr" => builder.with_writer(std::io::stderr).init(),
        "none" => builder.with_writer(std::io::sink).init(),
        path => {
            let file = File::options()
                .create(true)
                .append(true)
                .open(path)
                .with_context(|| format!("opening log file {path}"))?;
            builder
                .with_ansi(false)
                .with_writer(Mutex::new(file))
                .init();
        }
    }
    Ok(())
}

fn listen_addrs(args: &Args) -> Result<Vec<SocketAddr>> {
    if args.listen.is_empty() {
        return Ok(vec![
            SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), args.port),
            SocketAddr::new(IpAddr::V6(Ipv6Addr::UNSPECIFIED), args.port),
        ]);
    }
    args.listen
        .iter()
        .map(|text| {
            if let Ok(addr) = text.parse::<SocketAddr>() {
                return Ok(addr);
            }
            let host = text.trim_start_matches('[').trim_end_matches(']');
            if let Ok(ip) = host.parse::<IpAddr>() {
                return Ok(SocketAddr::new(ip, args.port));
            }
            std::net::ToSocketAddrs::to_socket_addrs(&(host, args.port))
                .with_context(|| format!("resolving listen address {text}"))?
                .next()
                .with_context(|| format!("listen address {text} resolves to nothing"))
        })
        .collect()
}

fn bind(
    addr: SocketAddr,
    backlog: u32,
    only_default: bool,
) -> Result<Option<std::net::TcpListener>> {
    let domain = socket2::Domain::for_address(addr);
    let socket = socket2::Socket::new(domain, socket2::Type::STREAM, Some(socket2::Protocol::TCP))?;
    if addr.is_ipv6() {
        // The IPv4 wildcard has its own listener; keep the IPv6 one to IPv6.
        socket.set_only_v6(true)?;
    }
    socket.set_reuse_address(true)?;
    if let Err(e) = socket.bind(&addr.into()) {
        // With no -L, a machine without IPv6 still serves IPv4.
        if only_default && addr.is_ipv6() {
            warn!(%addr, error = %e, "not listening on IPv6");
            return Ok(None);
        }
        return Err(e).with_context(|| format!("binding {addr}"));
    }
    socket.listen(i32::try_from(backlog).unwrap_or(i32::MAX))?;
    socket.set_nonblocking(true)?;
    Ok(Some(socket.into()))
}

fn raise_fd_limit(wanted: Option<u64>) {
    use nix::sys::resource::{getrlimit, setrlimit, Resource};
    let Ok((soft, hard)) = getrlimit(Resource::RLIMIT_NOFILE) else {
        return;
    };
    let target = wanted.unwrap_or(hard).min(hard);
    if target > soft {
        if let Err(e) = setrlimit(Resource::RLIMIT_NOFILE, target, hard) {
            warn!(error = %e, "could not raise the open-file limit");
        }
    }
}

fn drop_privileges(name: &str) -> Result<()> {
    use nix::unistd::{initgroups, setgid, setuid, User};
    let user = User::from_name(name)?.with_context(|| format!("no such user {name}"))?;
    let cname = std::ffi::CString::new(name)?;
    initgroups(&cname, user.gid).context("initgroups")?;
    setgid(user.gid).context("setgid")?;
    setuid(user.uid).context("setuid")?;
    info!(user = name, "dropped privileges");
    Ok(())
}

fn open_store(args: &Args) -> Result<Option<Box<dyn JobStore>>> {
    if let Some(url) = &args.store_url {
        return open_store_url(args, url).map(Some);
    }
    // Case-insensitive, as gearmand's plugin names are (`-q Postgres`, `-q MySQL`).
    match args.queue_type.to_ascii_lowercase().as_str() {
        "memory" | "builtin" => Ok(None),
        "sqlite" | "libsqlite3" => {
            let path = match &args.libsqlite3_db {
                Some(path) => path.clone(),
                None => {
                    std::fs::create_dir_all(&args.data_dir).with_context(|| {
                        format!("creating data directory {}", args.data_dir.display())
                    })?;
                    args.data_dir.join("gearbox.db")
                }
            };
            let store = SqliteStore::open(&path, &args.libsqlite3_table)
                .with_context(|| format!("opening job store {}", path.display()))?;
            info!(path = %path.display(), "durable job store: SQLite");
            Ok(Some(Box::new(store)))
        }
        "postgres" | "postgresql" | "libpq" => {
            open_postgres(&args.libpq_conninfo, &args.libpq_table).map(Some)
        }
        "mysql" | "mariadb" => open_mysql(args, None).map(Some),
        "redis" | "hiredis" => open_redis(args, None).map(Some),
        _ => bail!(
            "queue type {:?} is not known; use `sqlite` (durable, default), `memory`, \
             `postgres`, `mysql` or `redis`",
            args.queue_type
        ),
    }
}

fn open_store_url(args: &Args, url: &str) -> Result<Box<dyn JobStore>> {
    let scheme = url.split_once("://").map_or("", |(scheme, _)| scheme);
    match scheme {
        "postgres" | "postgresql" => open_postgres(url, &args.libpq_table),
        "mysql" => open_mysql(args, Some(url)),
        // The MySQL client reads only its own scheme; the protocol is the same.
        "mariadb" => open_mysql(args, Some(&format!("mysql{}", &url["mariadb".len()..]))),
        "redis" => open_redis(args, Some(url)),
        _ => bail!(
            "--store-url must start with postgres://, mysql://, mariadb:// or redis://; for \
             SQLite use -q sqlite with --libsqlite3-db"
        ),
    }
}

/// The error for a backend left out of this build.
#[allow(dead_code)]
fn not_built(feature: &str) -> anyhow::Error {
    anyhow::anyhow!(
        "this gearboxd was built without the {feature} job store; rebuild it with \
         `cargo build --release -p gearbox-server --features {feature}` (or use -q sqlite)"
    )
}

#[cfg(feature = "postgres")]
fn open_postgres(conninfo: &str, table: &str) -> Result<Box<dyn JobStore>> {
    let store = gearbox_store::PostgresStore::open(conninfo, table)
        .with_context(|| format!("opening the PostgreSQL job store (table {table})"))?;
    info!(table, "durable job store: PostgreSQL");
    Ok(Box::new(store))
}

#[cfg(not(feature = "postgres"))]
fn open_postgres(_conninfo: &str, _table: &str) -> Result<Box<dyn JobStore>> {
    Err(not_built("postgres"))
}

#[cfg(feature = "mysql")]
fn open_mysql(args: &Args, url: Option<&str>) -> Result<Box<dyn JobStore>> {
    use gearbox_store::{MysqlSettings, MysqlStore};
    let table = &args.mysql_table;
    let store = match url {
        Some(url) => MysqlStore::open_url(url, table),
        None => MysqlStore::open(
            &MysqlSettings {
                host: args.mysql_host.clone(),
                port: args.mysql_port,
                user: args.mysql_user.clone(),
                password: args.mysql_password.clone(),
                database: args.mysql_db.clone(),
            },
            table,
        ),
    }
    .with_context(|| format!("opening the MySQL job store (table {table})"))?;
    info!(table = %table, "durable job store: MySQL");
    Ok(Box::new(store))
}

#[cfg(not(feature = "mysql"))]
fn open_mysql(_args: &Args, _url: Option<&str>) -> Result<Box<dyn JobStore>> {
    Err(not_built("mysql"))
}

#[cfg(feature = "redis")]
fn open_redis(args: &Args, url: Option<&str>) -> Result<Box<dyn JobStore>> {
    use gearbox_store::{RedisSettings, RedisStore};
    let prefix = &args.redis_prefix;
    let store = match url {
        Some(url) => RedisStore::open_url(url, prefix),
        None => RedisStore::open(
            &RedisSettings {
                host: args.redis_server.clone(),
                port: args.redis_port,
                password: args.redis_password.clone(),
                db: 0,
            },
            prefix,
        ),
    }
    .with_context(|| format!("opening the Redis job store (prefix {prefix})"))?;
    info!(prefix = %prefix, "durable job store: Redis");
    Ok(Box::new(store))
}

#[cfg(not(feature = "redis"))]
fn open_redis(_args: &Args, _url: Option<&str>) -> Result<Box<dyn JobStore>> {
    Err(not_built("redis"))
}

/// mimalloc gives freed pages back to the system only during later allocator calls, after a
/// delay, so an idle server that has just drained a backlog would keep its peak memory. With
/// `MIMALLOC_PURGE_DELAY=0` it gives them back as they are freed. mimalloc reads its settings
/// before `main`, so the variable has to be in the environment at exec: when it is missing, the
/// process re-executes itself once with it set (same pid, same arguments). A value the operator
/// set is kept.
fn allocator_settings() {
    use std::os::unix::process::CommandExt;
    const PURGE_DELAY: &str = "MIMALLOC_PURGE_DELAY";
    if std::env::var_os(PURGE_DELAY).is_some() {
        return;
    }
    let Ok(exe) = std::env::current_exe() else {
        return;
    };
    let error = std::process::Command::new(exe)
        .args(std::env::args_os().skip(1))
        .env(PURGE_DELAY, "0")
        .exec();
    // exec only returns on failure; run with the default settings then.
    eprintln!("gearboxd: could not re-execute with {PURGE_DELAY}=0: {error}");
}

fn seconds(value: i64) -> Option<Duration> {
    u64::try_from(value).ok().map(Duration::from_secs)
}

async fn stop_signal() -> Stop {
    use tokio::signal::unix::{signal, SignalKind};
    let (Ok(mut term), Ok(mut int), Ok(mut usr1)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
        signal(SignalKind::user_defined1()),
    ) else {
        return std::future::pending().await;
    };
    tokio::select! {
        _ = term.recv() => info!("SIGTERM: stopping gracefully"),
        _ = int.recv() => info!("SIGINT: stopping gracefully"),
        // gearmand's graceful stop.
        _ = usr1.recv() => info!("SIGUSR1: stopping gracefully"),
    }
    Stop::Graceful
}

fn main() -> Result<()> {
    allocator_settings();
    let args = Args::parse();
    let level = level(&args)?;
    init_logging(&args, level)?;
    raise_fd_limit(args.file_descriptors);

    let defaults = listen_addrs(&args)?;
    let mut std_listeners = Vec::new();
    for addr in &defaults {
        if let Some(listener) = bind(*addr, args.backlog, args.listen.is_empty())? {
            std_listeners.push(listener);
        }
    }
    // The pid and ready files are created before dropping privileges, like the listeners:
    // they usually live in directories only the starting user may write.
    if let Some(path) = &args.pid_file {
        std::fs::write(path, format!("{}\n", std::process::id()))
            .with_context(|| format!("writing pid file {}", path.display()))?;
    }
    let ready_file = match &args.ready_file {
        Some(path) => Some(
            File::create(path)
                .with_context(|| format!("creating ready file {}", path.display()))?,
        ),
        None => None,
    };
    if let Some(user) = &args.user {
        drop_privileges(user)?;
    }
    // Opened as the final user, so the database files it creates belong to that user.
    let store = open_store(&args)?.map(|store| -> Box<dyn JobStore> {
        if args.store_delay_ms == 0 {
            return store;
        }
        warn!(
            ms = args.store_delay_ms,
            "every store transaction is delayed (--store-delay-ms, for testing)"
        );
        Box::new(DelayedStore::new(
            store,
            Duration::from_millis(args.store_delay_ms),
        ))
    });
    if store.is_none() && args.resident_jobs > 0 {
        bail!("--resident-jobs needs a durable store: workloads can only wait in a store, not with -q memory");
    }

    let hostname = nix::unistd::gethostname()
        .ok()
        .and_then(|h| h.into_string().ok())
        .unwrap_or_else(|| "localhost".to_owned());
    // Seeded from the clock so that a handle from before a restart never names a new job.
    let first_handle = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(1, |d| d.as_secs())
        * 1_000_000;
    let keepalive = args.keepalive.then(|| Keepalive {
        idle: seconds(args.keepalive_idle),
        interval: seconds(args.keepalive_interval),
        count: u32::try_from(args.keepalive_count).ok(),
    });
    let config = ServerConfig {
        engine: EngineConfig {
            handle_prefix: args
                .job_handle_prefix
                .clone()
                .unwrap_or(format!("H:{hostname}")),
            first_handle,
            job_retries: args.job_retries,
            worker_wakeup: args.worker_wakeup,
            wakeup_timeout_ms: args.wakeup_timeout,
            max_functions: args.max_functions,
            max_worker_functions: args.max_worker_functions,
            exceptions: args.exceptions,
            remote_shutdown: args.remote_shutdown,
            verbose: level.to_owned(),
            ack_before_commit: args.ack_before_commit,
            resident_jobs: args.resident_jobs,
            ..EngineConfig::default()
        },
        max_body: args.max_body,
        max_outbound: args.max_outbound,
        outbound_timeout: Duration::from_secs(args.outbound_timeout),
        max_outbound_total: args.max_outbound_total,
        max_connections: args.max_connections,
        keepalive,
        shutdown_timeout: Duration::from_secs(args.shutdown_timeout),
        ..ServerConfig::default()
    };

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        let mut listeners = Vec::new();
        for listener in std_listeners {
            listeners.push(TcpListener::from_std(listener)?);
        }
        // Written once the store is replayed and connections are accepted, so a script that
        // waits for it finds a server with its whole queue.
        let ready = |addrs: &[SocketAddr]| {
            if let (Some(mut file), Some(addr)) = (ready_file, addrs.first()) {
                // One write, so a reader never sees half an address.
                if let Err(e) = file.write_all(format!("{addr}\n").as_bytes()) {
                    warn!(error = %e, "could not write the ready file");
                }
            }
        };
        serve(listeners, config, store, ready, stop_signal()).await?;
        Ok::<(), anyhow::Error>(())
    })?;
    if let Some(path) = &args.pid_file {
        let _ = std::fs::remove_file(path);
    }
    Ok(())
}
