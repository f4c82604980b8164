//! The PostgreSQL store, for users who already run PostgreSQL (gearmand's `-q libpq`).
//!
//! The table keeps gearmand's columns (`unique_key, function_name, priority, data,
//! when_to_run`) plus the integer key `id` (submission order) and `reducer`, like the SQLite
//! store; the name columns are `BYTEA` rather than gearmand's `VARCHAR` so that NUL bytes and
//! non-UTF-8 uniques survive. A table written by gearmand's `-q libpq` is converted in place on
//! open, in one transaction. A batch is one transaction holding one bulk upsert (`UNNEST` of
//! arrays) and one bulk delete, so its cost hardly grows with its size; it is as durable as
//! the server's `synchronous_commit` and `fsync` settings make a commit (both on by default).
//! Replay pages through the table by id, [`REPLAY_PAGE`] rows at a time.
//!
//! Records (schedules, dead letters, kept results) live in a second table, `<table>_records`,
//! keyed by kind and key (created on open if missing); a batch's records go into the same
//! transaction as its jobs, as one bulk upsert and one bulk delete of their own.
//!
//! The connection is reopened after a failure (see [`Link`]); the connect timeout, TCP user
//! timeout and keepalives keep a call from blocking for more than a few seconds when the
//! server is down or unreachable.

use std::time::Duration;

use bytes::Bytes;
use postgres::{Client, Config, NoTls, Statement};
use tracing::{info, warn};

use crate::batch::NetBatch;
use crate::link::{Link, CONNECT_TIMEOUT, IO_TIMEOUT, REPLAY_PAGE};
use crate::{table_layout, JobStore, StoreError, StoreOp, StoredJob, StoredRecord, TableLayout};

/// gearmand's default table name for `-q libpq`.
pub const DEFAULT_LIBPQ_TABLE: &str = "queue";

/// Longest table name: PostgreSQL's 63-byte identifiers, less the longer of the suffixes of
/// the import table (`_gearmand_import`) and the records table (`_records`).
const MAX_TABLE: usize = 40;
const _: () = assert!(MAX_TABLE + "_gearmand_import".len() <= 63);
const _: () = assert!(MAX_TABLE + "_records".len() <= 63);

/// A job store in one PostgreSQL table.
pub struct PostgresStore {
    config: Config,
    table: String,
    /// In cluster mode, this node's name (its jobs are the rows it owns) and handle prefix
    /// (`cluster.rs`).
    node: Option<(String, String)>,
    /// Jobs of the last batch not stored because an equal one was (cluster mode).
    coalesced: Vec<crate::Coalesced>,
    link: Link<Session>,
}

impl std::fmt::Debug for PostgresStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresStore")
            .field("hosts", &self.config.get_hosts())
            .field("dbname", &self.config.get_dbname())
            .field("table", &self.table)
            .finish_non_exhaustive()
    }
}

/// An open connection with the statements `append` and `replay` use.
struct Session {
    client: Client,
    upsert: Statement,
    delete: Statement,
    page: Statement,
    load: Statement,
    /// A cluster node's statements for new jobs.
    node: Option<crate::cluster::NodeStatements>,
    /// `NOTIFY` the cluster's nodes of offered jobs' functions.
    notify: Statement,
    record_upsert: Statement,
    record_delete: Statement,
    record_page: Statement,
}

/// Ids and times are far below `i64::MAX`; anything above it is clamped rather than wrapped
/// into a negative key.
pub(crate) fn int(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

impl PostgresStore {
    /// Connect with a libpq connection string, either `key=value` pairs
    /// (`host=127.0.0.1 user=postgres dbname=test`) or a URL
    /// (`postgres://postgres@127.0.0.1/test`), and prepare `table`, creating it if missing.
    /// With no host, the local Unix socket and then `localhost` are tried, as libpq does.
    pub fn open(conninfo: &str, table: &str) -> Result<PostgresStore, StoreError> {
        PostgresStore::open_as(conninfo, table, None)
    }

    /// [`PostgresStore::open`] for the node `node` of a cluster (`cluster.rs`), whose job
    /// handles start with `handle_prefix`: jobs it [`StoreOp::Put`]s are its own, those it
    /// [`StoreOp::Offer`]s are anyone's to claim, it replays only its own, and a new job equal
    /// to a stored one is not stored but reported ([`JobStore::coalesced`]).
    pub fn open_node(
        conninfo: &str,
        table: &str,
        node: &str,
        handle_prefix: &str,
    ) -> Result<PostgresStore, StoreError> {
        let mut store = PostgresStore::open_as(
            conninfo,
            table,
            Some((node.to_owned(), handle_prefix.to_owned())),
        )?;
        let t = &store.table;
        store.link.run(
            || connect(&store.config, t, store.node.as_ref()),
            |s| crate::cluster::rejoin(&mut s.client, t, node),
        )?;
        Ok(store)
    }

    fn open_as(
        conninfo: &str,
        table: &str,
        node: Option<(String, String)>,
    ) -> Result<PostgresStore, StoreError> {
        crate::check_table_name(table, MAX_TABLE)?;
        let mut store = PostgresStore {
            config: config(conninfo)?,
            // Unquoted identifiers are folded to lower case; the catalog holds that form.
            table: table.to_ascii_lowercase(),
            node,
            coalesced: Vec::new(),
            link: Link::new("postgres"),
        };
        store.link.run(
            || connect(&store.config, &store.table, store.node.as_ref()),
            |_| Ok::<(), StoreError>(()),
        )?;
        Ok(store)
    }

    /// Number of stored jobs (for tests and diagnostics).
    pub fn len(&mut self) -> Result<u64, StoreError> {
        let sql = format!("SELECT COUNT(*) FROM {}", self.table);
        let n: i64 = self.link.run(
            || connect(&self.config, &self.table, self.node.as_ref()),
            |s| s.client.query_one(&sql, &[]).map(|row| row.get(0)),
        )?;
        Ok(u64::try_from(n).unwrap_or(0))
    }

    /// True when no job is stored.
    pub fn is_empty(&mut self) -> Result<bool, StoreError> {
        Ok(self.len()? == 0)
    }

    /// Drop the table and its records table, with a cluster's node table and id sequence
    /// (for tests and for clearing a queue by hand).
    pub fn drop_table(&mut self) -> Result<(), StoreError> {
        let sql = format!(
            "DROP TABLE IF EXISTS {t}, {t}_records, {t}_nodes, {t}_relay; \
             DROP SEQUENCE IF EXISTS {t}_epoch",
            t = self.table
        );
        self.link.run(
            || connect(&self.config, &self.table, self.node.as_ref()),
            |s| s.client.batch_execute(&sql),
        )
    }
}

/// A libpq connection string (`key=value` pairs or a URL) with gearboxd's defaults: the local
/// socket then `localhost` when no host is given, bounded connect and I/O times, keepalives.
pub(crate) fn config(conninfo: &str) -> Result<Config, StoreError> {
    let mut config: Config = conninfo.parse()?;
    if config.get_hosts().is_empty() && config.get_hostaddrs().is_empty() {
        config.host("/var/run/postgresql");
        config.host("localhost");
    }
    if config.get_connect_timeout().is_none() {
        config.connect_timeout(CONNECT_TIMEOUT);
    }
    if config.get_tcp_user_timeout().is_none() {
        config.tcp_user_timeout(IO_TIMEOUT);
    }
    if config.get_application_name().is_none() {
        config.application_name("gearboxd");
    }
    config
        .keepalives(true)
        .keepalives_idle(Duration::from_secs(5))
        .keepalives_interval(Duration::from_secs(1))
        .keepalives_retries(3);
    Ok(config)
}

/// Open a connection, make sure the table is there in our layout (with the cluster's columns
/// and tables for a node), and prepare statements.
fn connect(
    config: &Config,
    table: &str,
    node: Option<&(String, String)>,
) -> Result<Session, StoreError> {
    let mut client = config.connect(NoTls)?;
    // Nodes of a cluster start together: one prepares the tables at a time.
    client.execute("SELECT pg_advisory_lock(hashtext($1))", &[&table])?;
    let prepared = prepare_table(&mut client, table).and_then(|()| match node {
        Some(_) => crate::cluster::prepare(&mut client, table),
        None => Ok(()),
    });
    client.execute("SELECT pg_advisory_unlock(hashtext($1))", &[&table])?;
    prepared?;
    let t = table;
    let columns = "id, unique_key, function_name, priority, data, when_to_run, reducer";
    let unnest = "UNNEST($1::int8[], $2::bytea[], $3::bytea[], $4::int4[], $5::bytea[], \
                  $6::int8[], $7::bytea[]";
    let update = "unique_key = EXCLUDED.unique_key, function_name = EXCLUDED.function_name, \
                  priority = EXCLUDED.priority, data = EXCLUDED.data, \
                  when_to_run = EXCLUDED.when_to_run, reducer = EXCLUDED.reducer";
    let (upsert, page) = match node {
        None => (
            format!(
                "INSERT INTO {t} ({columns}) SELECT * FROM {unnest}) \
                 ON CONFLICT (id) DO UPDATE SET {update}"
            ),
            format!("SELECT {columns} FROM {t} WHERE id > $1 ORDER BY id LIMIT $2"),
        ),
        // A node rewrites its stored jobs here (`cluster.rs` inserts the new ones).
        Some(_) => (
            crate::cluster::rewrite_sql(t, unnest),
            format!("SELECT {columns} FROM {t} WHERE id > $1 AND owner = $3 ORDER BY id LIMIT $2"),
        ),
    };
    let upsert = client.prepare(&upsert)?;
    let node_statements = match node {
        Some(_) => Some(crate::cluster::NodeStatements::prepare(
            &mut client,
            t,
            unnest,
        )?),
        None => None,
    };
    let page = client.prepare(&page)?;
    let delete = client.prepare(&format!("DELETE FROM {t} WHERE id = ANY($1::int8[])"))?;
    let notify = client.prepare(&crate::cluster::notify_sql(t))?;
    let load = client.prepare(&format!(
        "SELECT id, data FROM {t} WHERE id = ANY($1::int8[])"
    ))?;
    let record_upsert = client.prepare(&format!(
        "INSERT INTO {t}_records (kind, key, body) \
         SELECT * FROM UNNEST($1::int2[], $2::bytea[], $3::bytea[]) \
         ON CONFLICT (kind, key) DO UPDATE SET body = EXCLUDED.body"
    ))?;
    let record_delete = client.prepare(&format!(
        "DELETE FROM {t}_records r USING UNNEST($1::int2[], $2::bytea[]) AS d(kind, key) \
         WHERE r.kind = d.kind AND r.key = d.key"
    ))?;
    let record_page = client.prepare(&format!(
        "SELECT kind, key, body FROM {t}_records WHERE (kind, key) > ($1, $2) \
         ORDER BY kind, key LIMIT $3"
    ))?;
    Ok(Session {
        client,
        upsert,
        delete,
        page,
        load,
        node: node_statements,
        notify,
        record_upsert,
        record_delete,
        record_page,
    })
}

fn create_sql(t: &str) -> String {
    format!(
        "CREATE TABLE IF NOT EXISTS {t} (id BIGINT PRIMARY KEY, unique_key BYTEA NOT NULL, \
         function_name BYTEA NOT NULL, priority INTEGER NOT NULL, data BYTEA NOT NULL, \
         when_to_run BIGINT NOT NULL, reducer BYTEA NOT NULL DEFAULT '')"
    )
}

fn prepare_table(client: &mut Client, t: &str) -> Result<(), StoreError> {
    // Looked up first, as the queue table is, so that an existing table costs no "already
    // exists" notice in the log at every connect.
    let records = format!("{t}_records");
    let have_records = client
        .query_opt(
            "SELECT 1 FROM information_schema.tables \
             WHERE table_schema = current_schema() AND table_name = $1",
            &[&records],
        )?
        .is_some();
    if !have_records {
        client.batch_execute(&format!(
            "CREATE TABLE IF NOT EXISTS {records} (kind SMALLINT NOT NULL, \
             key BYTEA NOT NULL, body BYTEA NOT NULL, PRIMARY KEY (kind, key))"
        ))?;
    }
    let columns: Vec<String> = client
        .query(
            "SELECT column_name::text FROM information_schema.columns \
             WHERE table_schema = current_schema() AND table_name = $1",
            &[&t],
        )?
        .iter()
        .map(|row| row.get(0))
        .collect();
    match table_layout(t, &columns)? {
        TableLayout::Missing => {
            client.batch_execute(&create_sql(t))?;
            return Ok(());
        }
        TableLayout::Ours => return Ok(()),
        TableLayout::Gearmand => {}
    }
    // A gearmand queue table (VARCHAR names, no order column): take its rows over in the
    // order they lie in the table, which for gearmand's insert-only use is insertion order.
    let old = format!("{t}_gearmand_import");
    let mut tx = client.transaction()?;
    tx.batch_execute(&format!(
        "ALTER TABLE {t} RENAME TO {old};
         {create};
         INSERT INTO {t} (id, unique_key, function_name, priority, data, when_to_run, reducer)
           SELECT row_number() OVER (ORDER BY ctid),
                  convert_to(COALESCE(unique_key::text, ''), 'UTF8'),
                  convert_to(COALESCE(function_name::text, ''), 'UTF8'),
                  COALESCE(priority, 1), COALESCE(data::bytea, ''::bytea),
                  COALESCE(when_to_run, 0), ''::bytea
           FROM {old};
         DROP TABLE {old};",
        create = create_sql(t)
    ))?;
    tx.commit()?;
    info!(table = %t, "converted a gearmand queue table");
    Ok(())
}

impl JobStore for PostgresStore {
    fn append(&mut self, batch: &[StoreOp]) -> Result<(), StoreError> {
        let net = NetBatch::of(batch);
        let ids: Vec<i64> = net.puts.iter().map(|j| int(j.id)).collect();
        let uniques: Vec<&[u8]> = net.puts.iter().map(|j| &j.unique[..]).collect();
        let functions: Vec<&[u8]> = net.puts.iter().map(|j| &j.function[..]).collect();
        let priorities: Vec<i32> = net.puts.iter().map(|j| i32::from(j.priority)).collect();
        let data: Vec<&[u8]> = net.puts.iter().map(|j| &j.data[..]).collect();
        let whens: Vec<i64> = net.puts.iter().map(|j| int(j.when_to_run)).collect();
        let reducers: Vec<&[u8]> = net.puts.iter().map(|j| &j.reducer[..]).collect();
        let dones: Vec<i64> = net.dones.iter().map(|&id| int(id)).collect();
        let put_kinds: Vec<i16> = net.record_puts.iter().map(|r| i16::from(r.kind)).collect();
        let put_keys: Vec<&[u8]> = net.record_puts.iter().map(|r| &r.key[..]).collect();
        let bodies: Vec<&[u8]> = net.record_puts.iter().map(|r| &r.body[..]).collect();
        let drop_kinds: Vec<i16> = net
            .record_drops
            .iter()
            .map(|&(k, _)| i16::from(k))
            .collect();
        let drop_keys: Vec<&[u8]> = net.record_drops.iter().map(|(_, key)| &key[..]).collect();
        // The functions of the jobs offered to the cluster, whose nodes are told (`NOTIFY`,
        // sent by PostgreSQL when the transaction commits, once per distinct function).
        let offered_functions = crate::cluster::offered_functions(&net);
        let node = self.node.as_ref();
        let coalesced = self.link.run(
            || connect(&self.config, &self.table, self.node.as_ref()),
            |s| {
                let mut coalesced = Vec::new();
                let mut tx = s.client.transaction()?;
                if !ids.is_empty() {
                    let jobs: [&(dyn postgres::types::ToSql + Sync); 7] = [
                        &ids,
                        &uniques,
                        &functions,
                        &priorities,
                        &data,
                        &whens,
                        &reducers,
                    ];
                    match (node, &s.node) {
                        (Some((node, origin)), Some(statements)) => {
                            let mut params = jobs.to_vec();
                            params.push(&net.offered);
                            params.push(node);
                            coalesced = statements.write(
                                &mut tx,
                                &s.upsert,
                                &mut params,
                                origin,
                                &net.watched,
                                (&ids, &functions, &uniques),
                            )?;
                        }
                        _ => {
                            tx.execute(&s.upsert, &jobs)?;
                        }
                    }
                }
                if !offered_functions.is_empty() {
                    tx.execute(&s.notify, &[&offered_functions])?;
                }
                if let (Some((node, _)), Some(statements)) = (node, &s.node) {
                    statements.relay_and_unwatch(&mut tx, node, &net)?;
                }
                if !dones.is_empty() {
                    tx.execute(&s.delete, &[&dones])?;
                }
                if !put_kinds.is_empty() {
                    tx.execute(&s.record_upsert, &[&put_kinds, &put_keys, &bodies])?;
                }
                if !drop_kinds.is_empty() {
                    tx.execute(&s.record_delete, &[&drop_kinds, &drop_keys])?;
                }
                tx.commit()?;
                Ok::<_, StoreError>(coalesced)
            },
        )?;
        self.coalesced = coalesced;
        Ok(())
    }

    fn coalesced(&mut self) -> Vec<crate::Coalesced> {
        std::mem::take(&mut self.coalesced)
    }

    fn find_record(&mut self, kind: u8, key: &[u8]) -> Result<Option<Bytes>, StoreError> {
        if self.node.is_none() {
            return Ok(None);
        }
        let sql = format!(
            "SELECT body FROM {}_records WHERE kind = $1 AND key = $2",
            self.table
        );
        let kind = i16::from(kind);
        let rows = self.link.run(
            || connect(&self.config, &self.table, self.node.as_ref()),
            |s| s.client.query(&sql, &[&kind, &key]),
        )?;
        Ok(rows
            .first()
            .map(|row| Bytes::from(row.get::<_, Vec<u8>>(0))))
    }

    fn cancel_elsewhere(&mut self, id: u64) -> Result<bool, StoreError> {
        if self.node.is_none() {
            return Ok(false);
        }
        self.link.run(
            || connect(&self.config, &self.table, self.node.as_ref()),
            |s| match &s.node {
                Some(statements) => statements.cancel(&mut s.client, id),
                None => Ok(false),
            },
        )
    }

    fn find_unique(&mut self, unique: &[u8]) -> Result<Vec<u64>, StoreError> {
        if self.node.is_none() {
            return Ok(Vec::new());
        }
        // No index on the unique alone (it would cost every insert): a lookup, which an
        // operator or a polling client asks for now and then, scans.
        let sql = format!(
            "SELECT id FROM {} WHERE unique_key = $1 ORDER BY id DESC LIMIT 1",
            self.table
        );
        let rows = self.link.run(
            || connect(&self.config, &self.table, self.node.as_ref()),
            |s| s.client.query(&sql, &[&unique]),
        )?;
        Ok(rows
            .iter()
            .map(|row| u64::try_from(row.get::<_, i64>(0)).unwrap_or(0))
            .collect())
    }

    fn replay(&mut self, sink: &mut dyn FnMut(StoredJob)) -> Result<(), StoreError> {
        let mut after = -1i64;
        loop {
            // The client blocks on a runtime of its own, which tokio refuses inside another
            // runtime, and gearboxd replays from within its event loop: fetch each page on a
            // thread of its own, and feed the sink here.
            let page = std::thread::scope(|scope| {
                scope
                    .spawn(|| self.page(after))
                    .join()
                    .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
            })?;
            let n = page.len();
            for job in page {
                after = int(job.id);
                sink(job);
            }
            if n < REPLAY_PAGE {
                return Ok(());
            }
        }
    }

    fn replay_records(&mut self, sink: &mut dyn FnMut(StoredRecord)) -> Result<(), StoreError> {
        // Keyset paging on the primary key; kind -1 sorts before every record.
        let mut after: (i16, Bytes) = (-1, Bytes::new());
        loop {
            // On a thread of its own, as in `replay`.
            let page = std::thread::scope(|scope| {
                scope
                    .spawn(|| self.record_page(&after))
                    .join()
                    .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
            })?;
            let n = page.len();
            for (kind, key, body) in page {
                after = (kind, key.clone());
                // The column is wider than a kind: a row outside 0..=255 was written by hand.
                match u8::try_from(kind) {
                    Ok(kind) => sink(StoredRecord { kind, key, body }),
                    Err(_) => {
                        warn!(kind, table = %self.table, "skipping a record of an impossible kind")
                    }
                }
            }
            if n < REPLAY_PAGE {
                return Ok(());
            }
        }
    }

    fn load(&mut self, ids: &[u64]) -> Result<Vec<(u64, Bytes)>, StoreError> {
        let keys: Vec<i64> = ids.iter().map(|&id| int(id)).collect();
        let rows = self.link.run(
            || connect(&self.config, &self.table, self.node.as_ref()),
            |s| s.client.query(&s.load, &[&keys]),
        )?;
        let mut found = Vec::with_capacity(rows.len());
        for row in rows {
            let id: i64 = row.try_get(0)?;
            let data: Vec<u8> = row.try_get(1)?;
            found.push((u64::try_from(id).unwrap_or(0), Bytes::from(data)));
        }
        Ok(found)
    }
}

/// A job from a row of `id, unique_key, function_name, priority, data, when_to_run, reducer`.
pub(crate) fn job_of_row(row: &postgres::Row) -> Result<StoredJob, postgres::Error> {
    let bytes = |i: usize| -> Result<Bytes, postgres::Error> {
        Ok(Bytes::from(row.try_get::<_, Vec<u8>>(i)?))
    };
    let priority: i32 = row.try_get(3)?;
    Ok(StoredJob {
        id: u64::try_from(row.try_get::<_, i64>(0)?).unwrap_or(0),
        unique: bytes(1)?,
        function: bytes(2)?,
        priority: u8::try_from(priority.clamp(0, 2)).unwrap_or(1),
        data: bytes(4)?,
        when_to_run: u64::try_from(row.try_get::<_, i64>(5)?).unwrap_or(0),
        reducer: bytes(6)?,
    })
}

impl PostgresStore {
    /// Up to [`REPLAY_PAGE`] jobs with ids above `after`, in id order.
    fn page(&mut self, after: i64) -> Result<Vec<StoredJob>, StoreError> {
        let limit = i64::try_from(REPLAY_PAGE).unwrap_or(i64::MAX);
        let rows = self.link.run(
            || connect(&self.config, &self.table, self.node.as_ref()),
            |s| match &self.node {
                None => s.client.query(&s.page, &[&after, &limit]),
                Some((node, _)) => s.client.query(&s.page, &[&after, &limit, node]),
            },
        )?;
        Ok(rows.iter().map(job_of_row).collect::<Result<_, _>>()?)
    }

    /// Take this node's first job id (`cluster.rs`): call once, at start, in cluster mode.
    pub fn first_id(&mut self) -> Result<u64, StoreError> {
        let table = &self.table;
        self.link.run(
            || connect(&self.config, &self.table, self.node.as_ref()),
            |s| crate::cluster::first_id(&mut s.client, table),
        )
    }

    /// Up to [`REPLAY_PAGE`] records, as (kind, key, body), after `after` in (kind, key)
    /// order.
    fn record_page(
        &mut self,
        after: &(i16, Bytes),
    ) -> Result<Vec<(i16, Bytes, Bytes)>, StoreError> {
        let limit = i64::try_from(REPLAY_PAGE).unwrap_or(i64::MAX);
        let (kind, key) = (after.0, &after.1[..]);
        let rows = self.link.run(
            || connect(&self.config, &self.table, self.node.as_ref()),
            |s| s.client.query(&s.record_page, &[&kind, &key, &limit]),
        )?;
        let mut records = Vec::with_capacity(rows.len());
        for row in rows {
            records.push((
                row.try_get::<_, i16>(0)?,
                Bytes::from(row.try_get::<_, Vec<u8>>(1)?),
                Bytes::from(row.try_get::<_, Vec<u8>>(2)?),
            ));
        }
        Ok(records)
    }
}
