//! The MySQL/MariaDB store, for users who already run one (gearmand's `-q mysql`).
//!
//! The table keeps gearmand's columns (`unique_key, function_name, priority, data,
//! when_to_run`) plus the integer key `id` (submission order) and `reducer`, like the SQLite
//! store; the name columns are `BLOB` rather than gearmand's `VARCHAR` so that NUL bytes and
//! non-UTF-8 uniques survive, and the table is InnoDB so that a batch is one transaction. A
//! table written by gearmand's `-q MySQL` is taken over on open (renamed aside, copied in
//! insertion order, dropped; an interrupted take-over is finished on the next open). A batch is one
//! transaction of multi-row `REPLACE` statements (at most [`ROWS_PER_STATEMENT`] rows each) and
//! `DELETE … IN (…)` statements; it is as durable as `innodb_flush_log_at_trx_commit` makes a
//! commit (1, flush at every commit, by default). Replay pages through the table by id,
//! [`REPLAY_PAGE`] rows at a time.
//!
//! Records (schedules, dead letters, kept results) live in a second InnoDB table,
//! `<table>_records`, keyed by kind and key (created on open if missing); a batch writes them in
//! the same transaction as its jobs, with multi-row `INSERT … ON DUPLICATE KEY UPDATE` and
//! `DELETE … WHERE (kind, key) IN (…)` statements.
//!
//! The connection is reopened after a failure (see [`Link`]); connect, read and write timeouts
//! keep a call from blocking for more than a few seconds when the server is down.

use bytes::Bytes;
use mysql::prelude::Queryable;
use mysql::{Conn, Opts, OptsBuilder, Params, TxOpts, Value};
use tracing::info;

use crate::batch::NetBatch;
use crate::link::{Link, CONNECT_TIMEOUT, IO_TIMEOUT, REPLAY_PAGE};
use crate::{table_layout, JobStore, StoreError, StoreOp, StoredJob, StoredRecord, TableLayout};

/// Rows written by one `REPLACE` statement: 64 × 7 placeholders, far below the protocol's limit
/// of 65,535, and one prepared statement per row count stays in the statement cache.
const ROWS_PER_STATEMENT: usize = 64;
/// Bytes of job data one `REPLACE` statement carries before the batch moves to the next, so a
/// statement stays well below MySQL's default `max_allowed_packet` (16 MiB in MariaDB 10.11).
const BYTES_PER_STATEMENT: usize = 4 * 1024 * 1024;
/// Ids (or record keys) named by one `DELETE` or `SELECT ... IN` statement.
const IDS_PER_STATEMENT: usize = 1000;
/// Longest table name: MySQL's 64-byte identifiers, less the longer of the suffixes of the
/// import table (`_gearmand_import`) and the records table (`_records`).
const MAX_TABLE: usize = 40;
const _: () = assert!(MAX_TABLE + "_gearmand_import".len() <= 64);
const _: () = assert!(MAX_TABLE + "_records".len() <= 64);

/// Where the MySQL or MariaDB server is, and who to log in as (gearmand's `--mysql-*` flags).
#[derive(Clone, PartialEq, Eq)]
pub struct MysqlSettings {
    /// Host name or address (`--mysql-host`, default `localhost`).
    pub host: String,
    /// TCP port (`--mysql-port`, default 3306).
    pub port: u16,
    /// User name (`--mysql-user`); none: the server's default.
    pub user: Option<String>,
    /// Password (`--mysql-password`).
    pub password: Option<String>,
    /// Database (`--mysql-db`); required.
    pub database: Option<String>,
}

impl Default for MysqlSettings {
    fn default() -> MysqlSettings {
        MysqlSettings {
            host: "localhost".into(),
            port: 3306,
            user: None,
            password: None,
            database: None,
        }
    }
}

impl std::fmt::Debug for MysqlSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MysqlSettings")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("user", &self.user)
            .field("password", &self.password.as_ref().map(|_| "…"))
            .field("database", &self.database)
            .finish()
    }
}

/// A job store in one MySQL/MariaDB table.
pub struct MysqlStore {
    opts: Opts,
    table: String,
    link: Link<Conn>,
}

impl std::fmt::Debug for MysqlStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MysqlStore")
            .field("host", &self.opts.get_ip_or_hostname())
            .field("port", &self.opts.get_tcp_port())
            .field("database", &self.opts.get_db_name())
            .field("table", &self.table)
            .finish_non_exhaustive()
    }
}

impl MysqlStore {
    /// Connect with gearmand-style settings and prepare `table`, creating it if missing.
    pub fn open(settings: &MysqlSettings, table: &str) -> Result<MysqlStore, StoreError> {
        let builder = OptsBuilder::new()
            .ip_or_hostname(Some(settings.host.clone()))
            .tcp_port(settings.port)
            .user(settings.user.clone())
            .pass(settings.password.clone())
            .db_name(settings.database.clone());
        MysqlStore::open_with(builder, table)
    }

    /// Connect with a URL (`mysql://user:password@host:port/database`) and prepare `table`.
    pub fn open_url(url: &str, table: &str) -> Result<MysqlStore, StoreError> {
        let opts = Opts::from_url(url).map_err(|e| StoreError::Settings(e.to_string()))?;
        MysqlStore::open_with(OptsBuilder::from_opts(opts), table)
    }

    fn open_with(builder: OptsBuilder, table: &str) -> Result<MysqlStore, StoreError> {
        crate::check_table_name(table, MAX_TABLE)?;
        let opts: Opts = builder
            // Connect where we were told, not to a local socket the server may advertise.
            .prefer_socket(false)
            .tcp_connect_timeout(Some(CONNECT_TIMEOUT))
            .read_timeout(Some(IO_TIMEOUT))
            .write_timeout(Some(IO_TIMEOUT))
            .tcp_keepalive_time_ms(Some(5_000))
            // One statement per row count for jobs and for records, and a few others.
            .stmt_cache_size(2 * ROWS_PER_STATEMENT + 16)
            .into();
        if opts.get_db_name().is_none() {
            return Err(StoreError::Settings(
                "the MySQL store needs a database (--mysql-db or a URL path)".into(),
            ));
        }
        let mut store = MysqlStore {
            opts,
            table: table.to_owned(),
            link: Link::new("mysql"),
        };
        store.link.run(
            || connect(&store.opts, &store.table),
            |_| Ok::<(), StoreError>(()),
        )?;
        Ok(store)
    }

    /// Number of stored jobs (for tests and diagnostics).
    pub fn len(&mut self) -> Result<u64, StoreError> {
        let sql = format!("SELECT COUNT(*) FROM {}", self.table);
        let n: Option<u64> = self
            .link
            .run(|| connect(&self.opts, &self.table), |c| c.query_first(&sql))?;
        Ok(n.unwrap_or(0))
    }

    /// True when no job is stored.
    pub fn is_empty(&mut self) -> Result<bool, StoreError> {
        Ok(self.len()? == 0)
    }

    /// Drop the table and its records table (for tests and for clearing a queue by hand).
    pub fn drop_table(&mut self) -> Result<(), StoreError> {
        let sql = format!("DROP TABLE IF EXISTS {t}, {t}_records", t = self.table);
        self.link
            .run(|| connect(&self.opts, &self.table), |c| c.query_drop(&sql))
    }
}

fn connect(opts: &Opts, table: &str) -> Result<Conn, StoreError> {
    let mut conn = Conn::new(opts.clone())?;
    prepare_table(&mut conn, table)?;
    Ok(conn)
}

fn columns(conn: &mut Conn, table: &str) -> Result<Vec<String>, StoreError> {
    Ok(conn.exec(
        "SELECT COLUMN_NAME FROM information_schema.COLUMNS \
         WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ?",
        (table,),
    )?)
}

fn create_sql(t: &str) -> String {
    format!(
        "CREATE TABLE IF NOT EXISTS {t} (id BIGINT UNSIGNED NOT NULL PRIMARY KEY, \
         unique_key BLOB NOT NULL, function_name BLOB NOT NULL, priority INT NOT NULL, \
         data LONGBLOB NOT NULL, when_to_run BIGINT NOT NULL, reducer BLOB NOT NULL) \
         ENGINE=InnoDB"
    )
}

fn prepare_table(conn: &mut Conn, t: &str) -> Result<(), StoreError> {
    conn.query_drop(format!(
        "CREATE TABLE IF NOT EXISTS {t}_records (kind TINYINT UNSIGNED NOT NULL, \
         `key` VARBINARY(255) NOT NULL, body LONGBLOB NOT NULL, PRIMARY KEY (kind, `key`)) \
         ENGINE=InnoDB"
    ))?;
    let old = format!("{t}_gearmand_import");
    match table_layout(t, &columns(conn, t)?)? {
        TableLayout::Missing => conn.query_drop(create_sql(t))?,
        TableLayout::Ours => {}
        TableLayout::Gearmand => {
            conn.query_drop(format!("RENAME TABLE {t} TO {old}"))?;
            conn.query_drop(create_sql(t))?;
        }
    }
    if columns(conn, &old)?.is_empty() {
        return Ok(());
    }
    // A gearmand queue table set aside (now or by an open that was interrupted): copy its rows
    // in the order a plain scan returns them, which is the order gearmand itself replays them
    // in (its table has no primary key, so InnoDB keeps rows in insertion order). Ids 1..N
    // are taken on every try, so a second copy after an interrupted one inserts nothing.
    let mut tx = conn.start_transaction(TxOpts::default())?;
    tx.query_drop(format!(
        "INSERT IGNORE INTO {t} \
           (id, unique_key, function_name, priority, data, when_to_run, reducer) \
         SELECT ROW_NUMBER() OVER (), \
                CAST(COALESCE(unique_key, '') AS BINARY), CAST(function_name AS BINARY), \
                COALESCE(priority, 1), COALESCE(data, ''), COALESCE(when_to_run, 0), '' \
         FROM {old}"
    ))?;
    tx.commit()?;
    conn.query_drop(format!("DROP TABLE {old}"))?;
    info!(table = %t, "converted a gearmand queue table");
    Ok(())
}

/// The multi-row upsert for `rows` jobs.
fn replace_sql(t: &str, rows: usize) -> String {
    let mut sql = format!(
        "REPLACE INTO {t} (id, unique_key, function_name, priority, data, when_to_run, reducer) \
         VALUES "
    );
    for i in 0..rows {
        if i > 0 {
            sql.push(',');
        }
        sql.push_str("(?,?,?,?,?,?,?)");
    }
    sql
}

/// The multi-row upsert for `rows` records.
fn record_upsert_sql(t: &str, rows: usize) -> String {
    let mut sql = format!("INSERT INTO {t}_records (kind, `key`, body) VALUES ");
    for i in 0..rows {
        if i > 0 {
            sql.push(',');
        }
        sql.push_str("(?,?,?)");
    }
    // `VALUES(body)`, not MySQL 8's row alias, which MariaDB lacks.
    sql.push_str(" ON DUPLICATE KEY UPDATE body = VALUES(body)");
    sql
}

/// The delete of `records`, keys written as hex literals (as the jobs' delete writes its ids
/// into the text), so that no prepared statement is made per count.
fn record_delete_sql(t: &str, records: &[(u8, &Bytes)]) -> String {
    use std::fmt::Write;
    let mut sql = format!("DELETE FROM {t}_records WHERE (kind, `key`) IN (");
    for (i, (kind, key)) in records.iter().enumerate() {
        if i > 0 {
            sql.push(',');
        }
        let _ = write!(sql, "({kind},X'");
        for byte in key.iter() {
            let _ = write!(sql, "{byte:02x}");
        }
        sql.push_str("')");
    }
    sql.push(')');
    sql
}

/// Split `items` into runs of at most [`ROWS_PER_STATEMENT`] items and, unless one item alone
/// is larger, [`BYTES_PER_STATEMENT`] bytes as `size` counts them.
fn split_rows<T>(items: &[T], size: impl Fn(&T) -> usize) -> Vec<&[T]> {
    let mut chunks = Vec::new();
    let mut start = 0;
    let mut bytes = 0;
    for (at, item) in items.iter().enumerate() {
        let size = size(item);
        if at > start && (at - start == ROWS_PER_STATEMENT || bytes + size > BYTES_PER_STATEMENT) {
            chunks.push(&items[start..at]);
            start = at;
            bytes = 0;
        }
        bytes += size;
    }
    if start < items.len() {
        chunks.push(&items[start..]);
    }
    chunks
}

impl JobStore for MysqlStore {
    fn append(&mut self, batch: &[StoreOp]) -> Result<(), StoreError> {
        let net = NetBatch::of(batch);
        // Split the puts, of jobs and of records, into statements of bounded rows and bytes.
        let job_chunks = split_rows(&net.puts, |job| {
            job.data.len() + job.unique.len() + job.function.len()
        });
        let record_chunks = split_rows(&net.record_puts, |r| r.key.len() + r.body.len());
        let t = &self.table;
        self.link.run(
            || connect(&self.opts, t),
            |conn| {
                let mut tx = conn.start_transaction(TxOpts::default())?;
                for chunk in &job_chunks {
                    let mut values = Vec::with_capacity(chunk.len() * 7);
                    for job in *chunk {
                        values.extend([
                            Value::UInt(job.id),
                            Value::Bytes(job.unique.to_vec()),
                            Value::Bytes(job.function.to_vec()),
                            Value::Int(i64::from(job.priority)),
                            Value::Bytes(job.data.to_vec()),
                            Value::Int(i64::try_from(job.when_to_run).unwrap_or(i64::MAX)),
                            Value::Bytes(job.reducer.to_vec()),
                        ]);
                    }
                    tx.exec_drop(replace_sql(t, chunk.len()), Params::Positional(values))?;
                }
                for ids in net.dones.chunks(IDS_PER_STATEMENT) {
                    let list: Vec<String> = ids.iter().map(u64::to_string).collect();
                    tx.query_drop(format!("DELETE FROM {t} WHERE id IN ({})", list.join(",")))?;
                }
                for chunk in &record_chunks {
                    let mut values = Vec::with_capacity(chunk.len() * 3);
                    for record in *chunk {
                        values.extend([
                            Value::UInt(u64::from(record.kind)),
                            Value::Bytes(record.key.to_vec()),
                            Value::Bytes(record.body.to_vec()),
                        ]);
                    }
                    tx.exec_drop(
                        record_upsert_sql(t, chunk.len()),
                        Params::Positional(values),
                    )?;
                }
                for records in net.record_drops.chunks(IDS_PER_STATEMENT) {
                    tx.query_drop(record_delete_sql(t, records))?;
                }
                tx.commit()
            },
        )
    }

    fn replay(&mut self, sink: &mut dyn FnMut(StoredJob)) -> Result<(), StoreError> {
        type Row = (u64, Vec<u8>, Vec<u8>, i64, Vec<u8>, i64, Vec<u8>);
        let t = &self.table;
        let sql = format!(
            "SELECT id, unique_key, function_name, priority, data, when_to_run, reducer \
             FROM {t} WHERE id >= ? ORDER BY id LIMIT ?"
        );
        let mut after: Option<u64> = None;
        loop {
            let from = match after {
                None => 0,
                Some(u64::MAX) => return Ok(()),
                Some(id) => id + 1,
            };
            let rows: Vec<mysql::Row> = self.link.run(
                || connect(&self.opts, t),
                |c| c.exec(&sql, (from, REPLAY_PAGE as u64)),
            )?;
            let n = rows.len();
            for row in rows {
                let (id, unique, function, priority, data, when, reducer): Row =
                    mysql::from_row_opt(row).map_err(|e| StoreError::Corrupt {
                        table: t.clone(),
                        id: from,
                        detail: format!("a row at or after this id: {e}"),
                    })?;
                after = Some(id);
                sink(StoredJob {
                    id,
                    unique: Bytes::from(unique),
                    function: Bytes::from(function),
                    priority: u8::try_from(priority.clamp(0, 2)).unwrap_or(1),
                    data: Bytes::from(data),
                    when_to_run: u64::try_from(when).unwrap_or(0),
                    reducer: Bytes::from(reducer),
                });
            }
            if n < REPLAY_PAGE {
                return Ok(());
            }
        }
    }

    fn replay_records(&mut self, sink: &mut dyn FnMut(StoredRecord)) -> Result<(), StoreError> {
        let t = &self.table;
        // Keyset paging on the primary key, written as an OR so that MariaDB scans a range
        // (it does not for a row comparison).
        let first =
            format!("SELECT kind, `key`, body FROM {t}_records ORDER BY kind, `key` LIMIT ?");
        let next = format!(
            "SELECT kind, `key`, body FROM {t}_records \
             WHERE kind > ? OR (kind = ? AND `key` > ?) ORDER BY kind, `key` LIMIT ?"
        );
        let mut after: Option<(u8, Vec<u8>)> = None;
        loop {
            let rows: Vec<(u8, Vec<u8>, Vec<u8>)> = self.link.run(
                || connect(&self.opts, t),
                |c| match &after {
                    None => c.exec(&first, (REPLAY_PAGE as u64,)),
                    Some((kind, key)) => c.exec(&next, (kind, kind, key, REPLAY_PAGE as u64)),
                },
            )?;
            let n = rows.len();
            let last = rows.last().map(|(kind, key, _)| (*kind, key.clone()));
            for (kind, key, body) in rows {
                sink(StoredRecord {
                    kind,
                    key: Bytes::from(key),
                    body: Bytes::from(body),
                });
            }
            if n < REPLAY_PAGE {
                return Ok(());
            }
            after = last;
        }
    }

    fn load(&mut self, ids: &[u64]) -> Result<Vec<(u64, Bytes)>, StoreError> {
        let t = &self.table;
        let mut found = Vec::with_capacity(ids.len());
        for chunk in ids.chunks(IDS_PER_STATEMENT) {
            let list: Vec<String> = chunk.iter().map(u64::to_string).collect();
            let sql = format!("SELECT id, data FROM {t} WHERE id IN ({})", list.join(","));
            let rows: Vec<(u64, Vec<u8>)> = self
                .link
                .run(|| connect(&self.opts, t), |c| c.query(&sql))?;
            found.extend(rows.into_iter().map(|(id, data)| (id, Bytes::from(data))));
        }
        Ok(found)
    }
}
