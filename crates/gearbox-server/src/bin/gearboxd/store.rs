//! Choosing and opening the job store: `-q` with gearmand's plugin names and flags, or
//! `--store-url`; the network backends only when built with their cargo feature.

use std::time::Duration;

use anyhow::{bail, Context as _, Result};
use gearbox_store::{DelayedStore, JobStore, SqliteStore};
use tracing::{info, warn};

use crate::args::Args;

/// The store the flags choose, `None` for `-q memory`; with `--store-delay-ms`, wrapped to
/// delay every transaction (for tests).
pub fn open(args: &Args) -> Result<Option<Box<dyn JobStore>>> {
    let store = chosen(args)?;
    if args.store_delay_ms == 0 {
        return Ok(store);
    }
    warn!(
        ms = args.store_delay_ms,
        "every store transaction is delayed (--store-delay-ms, for testing)"
    );
    let delay = Duration::from_millis(args.store_delay_ms);
    Ok(store.map(|store| -> Box<dyn JobStore> { Box::new(DelayedStore::new(store, delay)) }))
}

fn chosen(args: &Args) -> Result<Option<Box<dyn JobStore>>> {
    if let Some(url) = &args.store_url {
        return open_url(args, url).map(Some);
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

pub fn open_url(args: &Args, url: &str) -> Result<Box<dyn JobStore>> {
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

/// A cluster node's store, the first job id of this start, and its link to the cluster.
pub struct Node {
    pub store: Box<dyn JobStore>,
    pub first_id: u64,
    pub link: gearbox_server::net::ClusterLink,
}

/// Join the cluster on the PostgreSQL store the flags name, as `node`.
#[cfg(feature = "postgres")]
pub fn open_node(args: &Args, node: &str) -> Result<Node> {
    use gearbox_server::net::ClusterLink;
    use gearbox_store::{Cluster, ClusterSettings, PostgresStore};
    let conninfo = match &args.store_url {
        Some(url) if url.starts_with("postgres://") || url.starts_with("postgresql://") => url,
        None if matches!(
            args.queue_type.to_ascii_lowercase().as_str(),
            "postgres" | "postgresql" | "libpq"
        ) =>
        {
            &args.libpq_conninfo
        }
        _ => bail!("--cluster needs the PostgreSQL store: -q postgres or --store-url postgres://…"),
    };
    let table = &args.libpq_table;
    let prefix = args
        .job_handle_prefix
        .clone()
        .unwrap_or_else(|| format!("H:{node}"));
    let mut store = PostgresStore::open_node(conninfo, table, node, &prefix)
        .with_context(|| format!("opening the cluster's PostgreSQL store (table {table})"))?;
    let first_id = store.first_id().context("taking this node's job ids")?;
    let (sender, events) = tokio::sync::mpsc::unbounded_channel();
    let settings = ClusterSettings {
        node: node.to_owned(),
        lease: Duration::from_secs(args.cluster_lease.max(1)),
        shared_records: gearbox_server::engine::SHARED_RECORD_KINDS.to_vec(),
        synced_records: gearbox_server::engine::SYNCED_RECORD_KINDS.to_vec(),
    };
    let cluster = Cluster::start(conninfo, table, settings, move |event| {
        sender.send(event).is_ok()
    })
    .context("joining the cluster")?;
    info!(node, table = %table, first_id, "cluster node on PostgreSQL");
    Ok(Node {
        store: Box::new(store),
        first_id,
        link: ClusterLink {
            node: node.to_owned(),
            claim: Box::new(move |function, count| cluster.claim(function, count)),
            events,
        },
    })
}

#[cfg(not(feature = "postgres"))]
pub fn open_node(_args: &Args, _node: &str) -> Result<Node> {
    Err(not_built("postgres"))
}

/// The error for a backend left out of this build.
#[allow(dead_code)]
pub fn not_built(feature: &str) -> anyhow::Error {
    anyhow::anyhow!(
        "this gearboxd was built without the {feature} job store; rebuild it with \
         `cargo build --release -p gearbox-server --features {feature}` (or use -q sqlite)"
    )
}

#[cfg(feature = "postgres")]
pub fn open_postgres(conninfo: &str, table: &str) -> Result<Box<dyn JobStore>> {
    let store = gearbox_store::PostgresStore::open(conninfo, table)
        .with_context(|| format!("opening the PostgreSQL job store (table {table})"))?;
    info!(table, "durable job store: PostgreSQL");
    Ok(Box::new(store))
}

#[cfg(not(feature = "postgres"))]
pub fn open_postgres(_conninfo: &str, _table: &str) -> Result<Box<dyn JobStore>> {
    Err(not_built("postgres"))
}

#[cfg(feature = "mysql")]
pub fn open_mysql(args: &Args, url: Option<&str>) -> Result<Box<dyn JobStore>> {
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
pub fn open_mysql(_args: &Args, _url: Option<&str>) -> Result<Box<dyn JobStore>> {
    Err(not_built("mysql"))
}

#[cfg(feature = "redis")]
pub fn open_redis(args: &Args, url: Option<&str>) -> Result<Box<dyn JobStore>> {
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
pub fn open_redis(_args: &Args, _url: Option<&str>) -> Result<Box<dyn JobStore>> {
    Err(not_built("redis"))
}
