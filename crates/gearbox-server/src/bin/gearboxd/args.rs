//! The command line: gearmand's flags where they apply, and Gearbox's own. Only parsing and
//! the help text live here; what a flag does is decided where it is used.

use std::path::PathBuf;

use clap::{ArgAction, Parser};

/// The Gearbox job server: a Gearman job server, wire-compatible with gearmand.
///
/// Clients, workers and admin tools written for gearmand (libgearman, the PECL extension,
/// gearman/gearadmin, the Perl, Python, Go and Java clients) work against it unchanged. The
/// flags are gearmand's where they apply.
#[derive(Debug, Parser)]
#[command(name = "gearboxd", version, about, long_about = None, disable_version_flag = true, args_override_self = true)]
pub struct Args {
    /// Port to listen on (gearmand -p). Also read from GEARMAND_PORT. 0 picks a free port.
    #[arg(short = 'p', long, env = "GEARMAND_PORT", default_value_t = 4730)]
    pub port: u16,

    /// Address to listen on; repeat for several (gearmand -L). An address may carry its own
    /// port (`127.0.0.1:4731`). Default: every IPv4 and IPv6 address.
    #[arg(short = 'L', long = "listen", value_name = "ADDR")]
    pub listen: Vec<String>,

    /// Configuration file (TOML): any option under `[server]` (its long name with _ for -,
    /// `max_queue = 100`; a flag or a GEARBOX_* variable overrides it), per-function policies
    /// under `[functions."NAME"]` and schedules (docs/configuration.md). Also GEARBOX_CONFIG.
    #[arg(long, value_name = "PATH")]
    pub config: Option<PathBuf>,

    /// Print the effective settings (flags, GEARBOX_* environment, file, defaults), each with
    /// where it came from, and exit.
    #[arg(long)]
    pub print_config: bool,

    /// Check a configuration file (every key, value, policy and schedule) and exit: 0 when
    /// it is good, else 1 with the file, line and key at fault.
    #[arg(long, value_name = "PATH")]
    pub check_config: Option<PathBuf>,

    /// Serve TLS on the -L/-p listeners (gearmand --ssl); needs --ssl-certificate and
    /// --ssl-key. Certificates are re-read on SIGHUP.
    #[arg(long)]
    pub ssl: bool,

    /// The server's certificate chain, PEM, leaf first (gearmand's flag).
    #[arg(long, value_name = "PATH", requires = "ssl")]
    pub ssl_certificate: Option<PathBuf>,

    /// The server's private key, PEM (gearmand's flag).
    #[arg(long, value_name = "PATH", requires = "ssl")]
    pub ssl_key: Option<PathBuf>,

    /// CA certificates, PEM, that client certificates are verified against (gearmand's flag;
    /// gearmand loads it but never asks for a client certificate, nor does gearboxd without
    /// --ssl-verify-client).
    #[arg(long, value_name = "PATH", requires = "ssl")]
    pub ssl_ca_file: Option<PathBuf>,

    /// Require a client certificate signed by --ssl-ca-file: without one, or with an expired
    /// or unknown one, the handshake fails.
    #[arg(long, requires = "ssl_ca_file")]
    pub ssl_verify_client: bool,

    /// Access list (TOML): which identities may work on, submit to and administer what
    /// (docs/security.md). Identities come from client certificates: with --ssl-ca-file, a
    /// certificate is asked for (and required with --ssl-verify-client); connections without
    /// one, plaintext listeners' included, are `anonymous`. Re-read on SIGHUP.
    #[arg(long, value_name = "PATH")]
    pub acl: Option<PathBuf>,

    /// Seconds a TLS client has to finish its handshake.
    #[arg(long, value_name = "SECONDS", default_value_t = 10)]
    pub ssl_handshake_timeout: u64,

    /// An HTTP listener for the dashboard, `/metrics`, `/healthz`, `/readyz` and the JSON API
    /// (`127.0.0.1:9730`); repeat for several. Off unless given. HTTPS with `--ssl` (the same
    /// certificates and client verification); `--acl` decides who may read and act
    /// (docs/observability.md).
    #[arg(long, value_name = "ADDR:PORT")]
    pub http_listen: Vec<std::net::SocketAddr>,

    /// A plaintext HTTP listener next to the HTTPS ones (`127.0.0.1:9731`), for a local
    /// scraper without TLS; repeat for several. The access list still applies (callers are
    /// anonymous).
    #[arg(long, value_name = "ADDR:PORT", requires = "ssl")]
    pub http_plain_listen: Vec<std::net::SocketAddr>,

    /// A plaintext listener next to the TLS ones (`127.0.0.1:4731`); repeat for several. For
    /// local tools such as gearadmin, which cannot speak TLS.
    #[arg(long, value_name = "ADDR:PORT", requires = "ssl")]
    pub plain_listen: Vec<std::net::SocketAddr>,

    /// Requeues allowed for a job whose worker disconnects, sends CANT_DO or times out:
    /// -1 unlimited (default), 0 none, N at most N; then waiting clients get WORK_FAIL.
    /// (gearmand 2.0 meaning; gearmand 1.1 read 0 as unlimited.)
    #[arg(short = 'j', long, default_value_t = -1, allow_negative_numbers = true)]
    pub job_retries: i32,

    /// Sleeping workers to wake (NOOP) for each job that becomes runnable; 0 wakes all of
    /// them (gearmand's default, a thundering herd with many workers). The default wakes one
    /// per job, longest asleep first.
    #[arg(short = 'w', long, default_value_t = 1)]
    pub worker_wakeup: u32,

    /// With --worker-wakeup above 0: a woken worker that has not asked for its job within MS
    /// milliseconds passes the wake-up on to another sleeping worker (0: never).
    #[arg(long, value_name = "MS", default_value_t = 500)]
    pub wakeup_timeout: u64,

    /// Accepted for gearmand compatibility. gearboxd serves every connection from one
    /// event-loop thread, which on its own outruns gearmand's I/O thread pool.
    #[arg(short = 't', long, default_value_t = 4)]
    pub threads: u32,

    /// Queue store. `sqlite` (default; alias `libsqlite3`): background jobs are written to an
    /// embedded SQLite database and survive restarts, `kill -9` and power loss.
    /// `memory` (alias `builtin`, gearmand's default): jobs live in RAM only.
    /// `postgres` (alias `libpq`), `mysql` (alias `mariadb`), `redis`: a database server you
    /// run (builds with the cargo feature of the same name); see the --libpq-*, --mysql-* and
    /// --redis-* flags, or --store-url.
    #[arg(short = 'q', long, default_value = "sqlite")]
    pub queue_type: String,

    /// The job store as a URL: `postgres://…`, `mysql://…` or `redis://…`. Chooses the
    /// backend (instead of -q) and replaces its host, port, user, password and database flags;
    /// the table or prefix still comes from --libpq-table, --mysql-table or --redis-prefix.
    #[arg(long, value_name = "URL")]
    pub store_url: Option<String>,

    /// PostgreSQL connection string (gearmand's flag): `key=value` pairs as for libpq
    /// (`host=db user=gearman dbname=jobs`) or a `postgres://` URL. Empty: the local socket.
    #[arg(long = "libpq-conninfo", default_value = "")]
    pub libpq_conninfo: String,

    /// PostgreSQL table name (gearmand's flag).
    #[arg(long = "libpq-table", default_value = "queue")]
    pub libpq_table: String,

    /// MySQL/MariaDB host (gearmand's flag).
    #[arg(long = "mysql-host", default_value = "localhost")]
    pub mysql_host: String,

    /// MySQL/MariaDB port (gearmand's flag).
    #[arg(long = "mysql-port", default_value_t = 3306)]
    pub mysql_port: u16,

    /// MySQL/MariaDB user (gearmand's flag).
    #[arg(long = "mysql-user")]
    pub mysql_user: Option<String>,

    /// MySQL/MariaDB password (gearmand's flag). Also read from GEARBOX_MYSQL_PASSWORD, which
    /// keeps it out of the process list.
    #[arg(
        long = "mysql-password",
        env = "GEARBOX_MYSQL_PASSWORD",
        hide_env_values = true
    )]
    pub mysql_password: Option<String>,

    /// MySQL/MariaDB database (gearmand's flag); required with -q mysql.
    #[arg(long = "mysql-db")]
    pub mysql_db: Option<String>,

    /// MySQL/MariaDB table name (gearmand's flag).
    #[arg(long = "mysql-table", default_value = "gearman_queue")]
    pub mysql_table: String,

    /// Redis host (gearmand's flag).
    #[arg(long = "redis-server", default_value = "127.0.0.1")]
    pub redis_server: String,

    /// Redis port (gearmand's flag).
    #[arg(long = "redis-port", default_value_t = 6379)]
    pub redis_port: u16,

    /// Redis password (gearmand's flag). Also read from GEARBOX_REDIS_PASSWORD.
    #[arg(
        long = "redis-password",
        env = "GEARBOX_REDIS_PASSWORD",
        hide_env_values = true
    )]
    pub redis_password: Option<String>,

    /// Prefix of the Redis keys (gearmand's flag): jobs are kept in `<prefix>:jobs` and
    /// `<prefix>:ids`.
    #[arg(long = "redis-prefix", default_value = "gearbox")]
    pub redis_prefix: String,

    /// Directory for the default SQLite database (`gearbox.db`); created if missing.
    #[arg(long, default_value = "gearbox-data")]
    pub data_dir: PathBuf,

    /// SQLite database file (gearmand's flag); default `<data-dir>/gearbox.db`. A queue file
    /// written by gearmand's `-q libsqlite3` is taken over.
    #[arg(long = "libsqlite3-db")]
    pub libsqlite3_db: Option<PathBuf>,

    /// SQLite table name (gearmand's flag).
    #[arg(long = "libsqlite3-table", default_value = gearbox_store::DEFAULT_TABLE)]
    pub libsqlite3_table: String,

    /// Answer JOB_CREATED before the store commit instead of after it: faster, but a crash or
    /// power loss can lose background jobs whose JOB_CREATED was already sent.
    #[arg(long)]
    pub ack_before_commit: bool,

    /// Run as one node of a cluster: several gearboxd sharing one PostgreSQL store (`-q
    /// postgres` or `--store-url postgres://…`) run its background jobs together
    /// (docs/cluster.md).
    #[arg(long)]
    pub cluster: bool,

    /// This node's name in the cluster, unique and the same across its restarts (its jobs are
    /// found again by it). Default: the host name.
    #[arg(long, value_name = "NAME", requires = "cluster")]
    pub node_id: Option<String>,

    /// Seconds a cluster node's jobs stay its own without a heartbeat; then other nodes run
    /// them again. Heartbeats go out every fifth of it.
    #[arg(
        long,
        value_name = "SECONDS",
        default_value_t = 10,
        requires = "cluster"
    )]
    pub cluster_lease: u64,

    /// Keep the workloads of at most N jobs in memory; further queued background jobs keep
    /// theirs only in the durable store and get them back shortly before their turn. Bounds
    /// memory for very long queues (each queued job still costs ~200 bytes). 0: no limit.
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub resident_jobs: u32,

    /// For testing: hold every store transaction back by MS milliseconds, as a slow disk or a
    /// distant database would. No effect with `-q memory`.
    #[arg(long, value_name = "MS", default_value_t = 0, hide = true)]
    pub store_delay_ms: u64,

    /// Log level: FATAL, ALERT, CRITICAL, ERROR, WARNING, NOTICE, INFO or DEBUG (also shown by
    /// the admin `verbose` command).
    #[arg(long, default_value = "INFO")]
    pub verbose: String,

    /// Raise the log level one step per -v (after --verbose).
    #[arg(short = 'v', action = ArgAction::Count)]
    pub more_verbose: u8,

    /// Where logs go: `stderr` (default), `none`, or a file path (appended).
    #[arg(short = 'l', long, default_value = "stderr")]
    pub log_file: String,

    /// Log line format: `text` (for people) or `json` (one object a line, for log
    /// collectors), each with the connection's id, address and client id where there is one.
    #[arg(long, value_name = "FORMAT", default_value = "text", value_parser = ["text", "json"])]
    pub log_format: String,

    /// Write the process id to this file.
    #[arg(short = 'P', long)]
    pub pid_file: Option<PathBuf>,

    /// After binding the listeners, switch to this user (and its group).
    #[arg(short = 'u', long)]
    pub user: Option<String>,

    /// Enable TCP keepalive on accepted sockets.
    #[arg(long)]
    pub keepalive: bool,

    /// TCP_KEEPIDLE in seconds, with --keepalive (-1: system default).
    #[arg(long, default_value_t = -1, allow_negative_numbers = true)]
    pub keepalive_idle: i64,

    /// TCP_KEEPINTVL in seconds, with --keepalive (-1: system default).
    #[arg(long, default_value_t = -1, allow_negative_numbers = true)]
    pub keepalive_interval: i64,

    /// TCP_KEEPCNT, with --keepalive (-1: system default).
    #[arg(long, default_value_t = -1, allow_negative_numbers = true)]
    pub keepalive_count: i64,

    /// Listen backlog.
    #[arg(short = 'b', long, default_value_t = 1024)]
    pub backlog: u32,

    /// Open-file limit to ask for; default: the hard limit, so many connections fit.
    #[arg(short = 'f', long)]
    pub file_descriptors: Option<u64>,

    /// Treat every connection as having set the `exceptions` option.
    #[arg(long)]
    pub exceptions: bool,

    /// Job handle prefix; handles are `<prefix>:<n>`. Default `H:<hostname>`.
    #[arg(long)]
    pub job_handle_prefix: Option<String>,

    /// Accepted for gearmand compatibility: work is always handed out round-robin between a
    /// worker's functions.
    #[arg(short = 'R', long)]
    pub round_robin: bool,

    /// Largest packet body accepted, in bytes; larger ones get ERROR and the connection closes.
    #[arg(long, default_value_t = gearbox_proto::DEFAULT_MAX_BODY)]
    pub max_body: u32,

    /// Unsent bytes above which a connection's requests are no longer read until it reads its
    /// replies; one that then takes nothing for --outbound-timeout seconds is closed. A peer
    /// that reads is never cut off, however large an answer.
    #[arg(long, default_value_t = 64 * 1024 * 1024)]
    pub max_outbound: usize,

    /// Seconds a connection over --max-outbound may go without reading before it is closed.
    #[arg(long, value_name = "SECONDS", default_value_t = 10)]
    pub outbound_timeout: u64,

    /// Unsent bytes of all connections together; beyond it the peers that stopped reading
    /// longest are closed first, then those with the most unsent output.
    #[arg(long, default_value_t = 512 * 1024 * 1024)]
    pub max_outbound_total: usize,

    /// Distinct functions the server keeps at most (0: no limit). Idle ones (no worker, job or
    /// queue limit) are forgotten to make room; beyond that, what would create one more gets
    /// ERROR TOO_MANY_FUNCTIONS.
    #[arg(long, value_name = "N", default_value_t = 100_000)]
    pub max_functions: u32,

    /// Functions one connection may register at most (0: no limit); CAN_DO beyond gets ERROR
    /// TOO_MANY_FUNCTIONS.
    #[arg(long, value_name = "N", default_value_t = 10_000)]
    pub max_worker_functions: u32,

    /// Connections served at once; a connection accepted beyond it is closed at once.
    #[arg(long, default_value_t = 1_000_000)]
    pub max_connections: usize,

    /// Connections from one IP address at once (0: no limit); one beyond is closed at once.
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub max_connections_per_ip: usize,

    /// Close a connection that sent no request for SECONDS and holds nothing (no registered
    /// function, no job it runs or waits for); 0: never (gearmand's behaviour). Workers and
    /// clients waiting for a job are never idle.
    #[arg(long, value_name = "SECONDS", default_value_t = 0)]
    pub idle_timeout: u64,

    /// Close a connection whose request, once begun, is not complete within SECONDS (a peer
    /// trickling bytes cannot hold a connection); 0: no limit.
    #[arg(long, value_name = "SECONDS", default_value_t = 120)]
    pub request_timeout: u64,

    /// Queued jobs each function may hold per priority, as the admin `maxqueue` sets for one
    /// function (0: no limit); beyond it a submission gets ERROR QUEUE_ERROR.
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub max_queue: u32,

    /// Bytes the jobs in memory may hold together (workloads and unique ids); a submission
    /// beyond it gets ERROR QUEUE_ERROR instead of the server growing without bound.
    /// Default: half the machine's memory. 0: no limit. Workloads left in the store by
    /// --resident-jobs do not count.
    #[arg(long, value_name = "BYTES")]
    pub max_queued_bytes: Option<u64>,

    /// On SIGTERM/SIGINT, seconds running foreground jobs get to finish.
    #[arg(long, default_value_t = 30)]
    pub shutdown_timeout: u64,

    /// Accept the admin `shutdown` command from any address (default: loopback only).
    #[arg(long)]
    pub remote_shutdown: bool,

    /// Once listening, write the first bound address (`IP:PORT`) to this file.
    #[arg(long)]
    pub ready_file: Option<PathBuf>,

    /// Print the version and exit.
    #[arg(short = 'V', long = "version", action = ArgAction::Version)]
    pub version: Option<bool>,
}
