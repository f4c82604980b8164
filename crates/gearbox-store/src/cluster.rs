//! Cluster mode on PostgreSQL: several gearboxd nodes sharing one queue table.
//!
//! A job row has an `owner`: the node that runs it, or NULL while any node may claim it. A
//! node owns what it [`StoreOp::Put`]s (a job it accepted for a worker of its own that was
//! waiting) and leaves what it [`StoreOp::Offer`]s unowned; the offering transaction also
//! sends `NOTIFY <table>_jobs` with the function's name (hex), once per function, so nodes
//! with idle workers for it claim at once. A claim takes the oldest unowned rows of one
//! function by priority with `FOR UPDATE SKIP LOCKED`, so nodes never wait on each other and
//! never take the same row.
//!
//! Ownership is leased through the node's heartbeat row in `<table>_nodes`, renewed every
//! fifth of the lease: rows owned by a node whose heartbeat is older than the lease are
//! released (owner NULL) by any live node, and their functions announced, so another node
//! runs them again (at least once). A node releases nothing until it has itself been
//! connected for a whole lease, so a database outage that stops every heartbeat does not make
//! the first node back take everyone's jobs.
//!
//! Two nodes accepting background jobs with the same function and unique id (other than empty
//! and `-`) store one: a unique index over the live rows refuses the second, whose node then
//! answers its submitter with the first one's handle (`origin`, the accepting node's handle
//! prefix, is kept in the row for that).
//!
//! A claim whose answer never arrives (the connection broke after the database committed it)
//! would leave its rows owned by a live node that does not know them: each claim stores a
//! token of its own in the rows it takes, and the next heartbeat gives back the rows of the
//! tokens whose answer was lost.
//!
//! Foreground jobs travel the same way. A node offers a foreground job none of its workers can
//! take with itself in the row's `watchers` ([`StoreOp::OfferWatched`]); a foreground
//! submission refused by the unique index adds its node to the equal row's watchers instead.
//! The node running a watched job writes each of its work packets to `<table>_relay`, once per
//! watching node, in the transaction that also deletes the row after the last one, and
//! `NOTIFY <table>_relay` with each node's name; each node takes its packets (in the order
//! written) and hands them to its waiting clients. A watched job whose runner dies runs again
//! elsewhere, so its clients may hear its packets twice (at least once, as background jobs).
//!
//! Job ids are unique in the cluster: each node start takes the next value of
//! `<table>_epoch` and numbers its jobs from that value times 2^40.
//!
//! [`Cluster`] runs on two threads of its own (claims and heartbeats on one connection,
//! `LISTEN` on another) and reports through a callback; nothing here decides which function to
//! claim for or runs anything on the server's event loop.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use postgres::fallible_iterator::FallibleIterator as _;
use postgres::{Client, Config, NoTls, Statement};
use tracing::{info, warn};

use crate::batch::NetBatch;
use crate::link::Link;
use crate::{
    ClaimedJob, ClusterEvent, Coalesced, Heartbeat, NodeInfo, Relayed, StoreError, StoredRecord,
    CANCEL_RELAY,
};

/// Ids a node start may use: its epoch times this.
pub const EPOCH_IDS: u64 = 1 << 40;

/// The columns and tables a cluster adds to a queue table; run under the table's advisory
/// lock.
pub(crate) fn prepare(client: &mut Client, t: &str) -> Result<(), StoreError> {
    client.batch_execute(&format!(
        "ALTER TABLE {t} ADD COLUMN IF NOT EXISTS owner TEXT;
         ALTER TABLE {t} ADD COLUMN IF NOT EXISTS claim BIGINT;
         ALTER TABLE {t} ADD COLUMN IF NOT EXISTS origin TEXT;
         ALTER TABLE {t} ADD COLUMN IF NOT EXISTS watchers TEXT[] NOT NULL DEFAULT '{{}}';
         ALTER TABLE {t} ADD COLUMN IF NOT EXISTS background BOOLEAN NOT NULL DEFAULT true;
         CREATE TABLE IF NOT EXISTS {t}_relay (seq BIGSERIAL PRIMARY KEY, node TEXT NOT NULL,
           job BIGINT NOT NULL, kind SMALLINT NOT NULL, data BYTEA NOT NULL);
         CREATE INDEX IF NOT EXISTS {t}_relay_node ON {t}_relay (node, seq);
         CREATE UNIQUE INDEX IF NOT EXISTS {t}_live_unique ON {t} (function_name, unique_key)
           WHERE unique_key <> '\\x'::bytea AND unique_key <> '\\x2d'::bytea;
         CREATE INDEX IF NOT EXISTS {t}_unowned ON {t} (function_name, priority, id)
           WHERE owner IS NULL;
         CREATE INDEX IF NOT EXISTS {t}_owned ON {t} (owner) WHERE owner IS NOT NULL;
         CREATE TABLE IF NOT EXISTS {t}_nodes (node TEXT PRIMARY KEY,
           heartbeat TIMESTAMPTZ NOT NULL, started TIMESTAMPTZ NOT NULL);
         ALTER TABLE {t}_nodes ADD COLUMN IF NOT EXISTS instance BIGINT;
         CREATE SEQUENCE IF NOT EXISTS {t}_epoch;"
    ))?;
    Ok(())
}

/// A node's rewrite of its stored jobs (retries, taking an offered job back): an update by
/// id, returning the ids it found. `$8` says which rows are offered, `$9` is the node.
pub(crate) fn rewrite_sql(t: &str, unnest: &str) -> String {
    format!(
        "UPDATE {t} AS t SET unique_key = u.unique_key, function_name = u.function_name, \
           priority = u.priority, data = u.data, when_to_run = u.when_to_run, \
           reducer = u.reducer, owner = CASE WHEN u.offered THEN NULL ELSE $9 END \
         FROM {unnest}, $8::bool[]) \
           AS u(id, unique_key, function_name, priority, data, when_to_run, reducer, offered) \
         WHERE t.id = u.id RETURNING t.id"
    )
}

/// A cluster node's statements for writing new jobs, relaying work packets and watching.
pub(crate) struct NodeStatements {
    /// Insert the rows not there yet, skipping any an equal live job refuses.
    insert: Statement,
    /// Join the stored jobs equal to new ones that were refused (a foreground one watches
    /// it, a background one makes it background): (new id, stored id, origin).
    existing: Statement,
    /// Write work packets for every node watching their jobs, and notify those nodes.
    relay: Statement,
    /// Delete jobs only this node watched that nobody else needs (see [`StoreOp::Release`]).
    unwatch_delete: Statement,
    /// Stop watching jobs.
    unwatch: Statement,
    /// Mark jobs background.
    adopt: Statement,
    /// Cancel a job for `cancel job` asked on a node that does not hold it.
    cancel: Statement,
}

/// WORK_FAIL's packet type number, which the watchers of a cancelled job hear.
const WORK_FAIL: i16 = 14;

impl NodeStatements {
    pub(crate) fn prepare(
        client: &mut Client,
        t: &str,
        unnest: &str,
    ) -> Result<NodeStatements, StoreError> {
        let insert = client.prepare(&format!(
            "INSERT INTO {t} (id, unique_key, function_name, priority, data, when_to_run, \
                              reducer, owner, origin, watchers, background) \
             SELECT u.id, u.unique_key, u.function_name, u.priority, u.data, u.when_to_run, \
                    u.reducer, CASE WHEN u.offered THEN NULL ELSE $9 END, $10, \
                    CASE WHEN u.watched THEN ARRAY[$9] ELSE '{{}}'::text[] END, NOT u.watched \
             FROM {unnest}, $8::bool[], $11::bool[]) \
               AS u(id, unique_key, function_name, priority, data, when_to_run, reducer, \
                    offered, watched) \
             WHERE NOT EXISTS (SELECT 1 FROM {t} x WHERE x.id = u.id) \
             ON CONFLICT DO NOTHING RETURNING id"
        ))?;
        let existing = client.prepare(&format!(
            "UPDATE {t} t SET \
               watchers = CASE WHEN n.watch AND NOT ($5 = ANY(t.watchers)) \
                 THEN array_append(t.watchers, $5) ELSE t.watchers END, \
               background = t.background OR NOT n.watch \
             FROM UNNEST($1::int8[], $2::bytea[], $3::bytea[], $4::bool[]) \
               AS n(id, function_name, unique_key, watch) \
             WHERE t.function_name = n.function_name AND t.unique_key = n.unique_key \
               AND t.id <> n.id \
             RETURNING n.id, t.id, t.origin"
        ))?;
        // Sequence numbers follow the order of the SELECT, which is the batch's. A row whose
        // last packet this is goes in the same statement: a node that joins it later finds no
        // row (its write fails and is retried) rather than a job whose end it will never hear.
        let relay = client.prepare(&format!(
            "WITH r AS (INSERT INTO {t}_relay (node, job, kind, data) \
               SELECT w.node, u.job, u.kind, u.data \
               FROM UNNEST($1::int8[], $2::int2[], $3::bytea[]) WITH ORDINALITY \
                 AS u(job, kind, data, ord) \
               JOIN {t} t ON t.id = u.job \
               CROSS JOIN LATERAL UNNEST(t.watchers) AS w(node) \
               ORDER BY u.ord RETURNING node), \
             ended AS (DELETE FROM {t} WHERE id = ANY($4::int8[])) \
             SELECT pg_notify('{channel}', node) FROM (SELECT DISTINCT node FROM r) AS d",
            channel = relay_channel(t)
        ))?;
        let unwatch_delete = client.prepare(&format!(
            "DELETE FROM {t} t \
             USING UNNEST($1::int8[], $3::bool[], $4::bool[]) AS u(id, give_back, unwatch) \
             WHERE t.id = u.id AND NOT t.background AND u.unwatch \
               AND (t.owner IS NULL OR t.owner = $2 AND u.give_back) \
               AND t.watchers <@ ARRAY[$2]::text[]"
        ))?;
        let unwatch = client.prepare(&format!(
            "WITH freed AS (UPDATE {t} t SET \
                              watchers = CASE WHEN u.unwatch \
                                THEN array_remove(t.watchers, $2) ELSE t.watchers END, \
                              owner = CASE WHEN t.owner = $2 AND u.give_back THEN NULL \
                                ELSE t.owner END \
                            FROM UNNEST($1::int8[], $3::bool[], $4::bool[]) \
                              AS u(id, give_back, unwatch) \
                            WHERE t.id = u.id \
                            RETURNING t.function_name, t.owner) \
             SELECT pg_notify('{channel}', f) \
             FROM (SELECT DISTINCT encode(function_name, 'hex') AS f FROM freed \
                   WHERE owner IS NULL) AS d",
            channel = channel(t)
        ))?;
        let adopt = client.prepare(&format!(
            "UPDATE {t} SET background = true WHERE id = ANY($1::int8[])"
        ))?;
        // Every watching node hears WORK_FAIL, the end of the job for its clients (the owner
        // too, if its clients wait for the row under another job's handle); the owner (the
        // node holding the job) also hears the order to cancel it.
        let cancel = client.prepare(&format!(
            "WITH gone AS (DELETE FROM {t} WHERE id = $1 RETURNING owner, watchers), \
             r AS (INSERT INTO {t}_relay (node, job, kind, data) \
               SELECT w.node, $1, {WORK_FAIL}, '\\x'::bytea \
               FROM gone CROSS JOIN LATERAL UNNEST(gone.watchers) AS w(node) \
               UNION ALL \
               SELECT gone.owner, $1, {CANCEL_RELAY}, '\\x'::bytea FROM gone \
               WHERE gone.owner IS NOT NULL \
               RETURNING node) \
             SELECT (SELECT count(*) FROM gone), \
               (SELECT count(pg_notify('{channel}', d.node)) \
                FROM (SELECT DISTINCT node FROM r) AS d)",
            channel = relay_channel(t)
        ))?;
        Ok(NodeStatements {
            insert,
            existing,
            relay,
            unwatch_delete,
            unwatch,
            adopt,
            cancel,
        })
    }

    /// Cancel the job `id` for `cancel job` asked on a node that does not hold it (see
    /// [`JobStore::cancel_elsewhere`](crate::JobStore::cancel_elsewhere)); whether its row
    /// was there.
    pub(crate) fn cancel(&self, client: &mut Client, id: u64) -> Result<bool, StoreError> {
        let row = client.query_one(&self.cancel, &[&crate::postgres::int(id)])?;
        Ok(row.get::<_, i64>(0) > 0)
    }

    /// Relay a batch's work packets (before its deletions: a packet reaches the watchers of
    /// a row that is still there), mark the jobs background submissions joined, and drop the
    /// jobs it stops watching.
    pub(crate) fn relay_and_unwatch(
        &self,
        tx: &mut postgres::Transaction<'_>,
        node: &String,
        net: &NetBatch<'_>,
    ) -> Result<(), StoreError> {
        use crate::postgres::int;
        if !net.relays.is_empty() {
            let ids: Vec<i64> = net.relays.iter().map(|r| int(r.0)).collect();
            let kinds: Vec<i16> = net.relays.iter().map(|r| i16::from(r.1)).collect();
            let data: Vec<&[u8]> = net.relays.iter().map(|r| &r.2[..]).collect();
            let ended: Vec<i64> = net
                .relays
                .iter()
                .filter(|r| r.3)
                .map(|r| int(r.0))
                .collect();
            tx.query(&self.relay, &[&ids, &kinds, &data, &ended])?;
        }
        if !net.adopted.is_empty() {
            let ids: Vec<i64> = net.adopted.iter().map(|&id| int(id)).collect();
            tx.execute(&self.adopt, &[&ids])?;
        }
        if !net.releases.is_empty() {
            let ids: Vec<i64> = net.releases.iter().map(|r| int(r.0)).collect();
            let give_back: Vec<bool> = net.releases.iter().map(|r| r.1).collect();
            let unwatch: Vec<bool> = net.releases.iter().map(|r| r.2).collect();
            tx.execute(&self.unwatch_delete, &[&ids, node, &give_back, &unwatch])?;
            tx.query(&self.unwatch, &[&ids, node, &give_back, &unwatch])?;
        }
        Ok(())
    }

    /// Write a batch's jobs: rewrite those stored (`rewrite`, see [`rewrite_sql`]), insert the
    /// new ones, and return the new ones an equal stored job refused, with that job's handle
    /// (its origin, or `origin` for a row without one, and its id). `params` holds the
    /// rewrite's nine parameters; `rows` the batch's ids, functions and uniques.
    pub(crate) fn write<'a>(
        &self,
        tx: &mut postgres::Transaction<'_>,
        rewrite: &Statement,
        params: &mut Vec<&'a (dyn postgres::types::ToSql + Sync)>,
        origin: &'a String,
        watched: &'a Vec<bool>,
        rows: (&[i64], &[&[u8]], &[&[u8]]),
    ) -> Result<Vec<Coalesced>, StoreError> {
        let ids = |found: Vec<postgres::Row>| -> HashSet<i64> {
            found.iter().map(|row| row.get::<_, i64>(0)).collect()
        };
        let node = params[8];
        let mut written = ids(tx.query(rewrite, params)?);
        params.push(origin);
        params.push(watched);
        written.extend(ids(tx.query(&self.insert, params)?));
        let (all_ids, functions, uniques) = rows;
        let refused: Vec<usize> = (0..all_ids.len())
            .filter(|&i| !written.contains(&all_ids[i]))
            .collect();
        if refused.is_empty() {
            return Ok(Vec::new());
        }
        let pick_ids: Vec<i64> = refused.iter().map(|&i| all_ids[i]).collect();
        let pick_functions: Vec<&[u8]> = refused.iter().map(|&i| functions[i]).collect();
        let pick_uniques: Vec<&[u8]> = refused.iter().map(|&i| uniques[i]).collect();
        let pick_watched: Vec<bool> = refused.iter().map(|&i| watched[i]).collect();
        let found = tx.query(
            &self.existing,
            &[
                &pick_ids,
                &pick_functions,
                &pick_uniques,
                &pick_watched,
                node,
            ],
        )?;
        if found.len() != refused.len() {
            // The equal job finished between the insert and the look-up: let the batch fail
            // and its submitters retry, rather than acknowledge a job stored nowhere.
            return Err(StoreError::Settings(
                "a job equal to a new one finished while it was being stored; retry".into(),
            ));
        }
        Ok(found
            .iter()
            .map(|row| {
                let prefix: Option<String> = row.get(2);
                let stored: i64 = row.get(1);
                Coalesced {
                    id: u64::try_from(row.get::<_, i64>(0)).unwrap_or(0),
                    handle: Bytes::from(format!(
                        "{}:{stored}",
                        prefix.as_deref().unwrap_or(origin)
                    )),
                }
            })
            .collect())
    }
}

/// The channel offered jobs are announced on.
fn channel(t: &str) -> String {
    format!("{t}_jobs")
}

/// The channel relayed work packets are announced on, with the watching node's name.
fn relay_channel(t: &str) -> String {
    format!("{t}_relay")
}

/// A node (re)starting: its clients of before are gone, so it watches nothing and nothing
/// relayed to it is for anyone; foreground jobs nobody watches any more are dropped (unless
/// claimed by a live node, which runs them out); the watched jobs it held go back to everyone
/// (another start of it does not know whom to relay to). Run before its replay.
pub(crate) fn rejoin(client: &mut Client, t: &str, node: &str) -> Result<(), StoreError> {
    let mut tx = client.transaction()?;
    tx.execute(&format!("DELETE FROM {t}_relay WHERE node = $1"), &[&node])?;
    tx.execute(
        &format!("UPDATE {t} SET watchers = array_remove(watchers, $1) WHERE $1 = ANY(watchers)"),
        &[&node],
    )?;
    tx.execute(
        &format!(
            "DELETE FROM {t} WHERE NOT background AND cardinality(watchers) = 0 \
             AND (owner IS NULL OR owner = $1)"
        ),
        &[&node],
    )?;
    tx.query(
        &format!(
            "WITH freed AS (UPDATE {t} SET owner = NULL, claim = NULL \
                            WHERE owner = $1 AND cardinality(watchers) > 0 \
                            RETURNING function_name) \
             SELECT pg_notify('{channel}', f) \
             FROM (SELECT DISTINCT encode(function_name, 'hex') AS f FROM freed) AS d",
            channel = channel(t)
        ),
        &[&node],
    )?;
    tx.commit()?;
    Ok(())
}

/// `NOTIFY` the channel with each function name (hex) of `$1`.
pub(crate) fn notify_sql(t: &str) -> String {
    format!(
        "SELECT pg_notify('{}', f) FROM UNNEST($1::text[]) AS f",
        channel(t)
    )
}

/// The distinct functions (hex) of the jobs a batch offers.
pub(crate) fn offered_functions(net: &NetBatch<'_>) -> Vec<String> {
    let mut functions: Vec<String> = net
        .puts
        .iter()
        .zip(&net.offered)
        .filter(|(_, &offered)| offered)
        .map(|(job, _)| hex(&job.function))
        .collect();
    functions.sort_unstable();
    functions.dedup();
    functions
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(text: &str) -> Option<Bytes> {
    let digits = text.as_bytes();
    if !digits.len().is_multiple_of(2) {
        return None;
    }
    digits
        .chunks(2)
        .map(|pair| u8::from_str_radix(std::str::from_utf8(pair).ok()?, 16).ok())
        .collect::<Option<Vec<u8>>>()
        .map(Bytes::from)
}

/// Take the next epoch for a starting node: the first id it may use. Above every id in the
/// table, whatever wrote it.
pub(crate) fn first_id(client: &mut Client, t: &str) -> Result<u64, StoreError> {
    let highest: i64 = client
        .query_one(&format!("SELECT COALESCE(MAX(id), 0) FROM {t}"), &[])?
        .get(0);
    let floor = u64::try_from(highest).unwrap_or(0) / EPOCH_IDS + 1;
    let epoch: i64 = client
        .query_one(
            &format!("SELECT GREATEST(nextval('{t}_epoch'), $1::int8)"),
            &[&i64::try_from(floor).unwrap_or(i64::MAX)],
        )?
        .get(0);
    let epoch = u64::try_from(epoch).unwrap_or(1);
    client.execute(
        &format!("SELECT setval('{t}_epoch', GREATEST($1::int8, last_value)) FROM {t}_epoch"),
        &[&i64::try_from(epoch).unwrap_or(i64::MAX)],
    )?;
    Ok(epoch.saturating_mul(EPOCH_IDS))
}

/// How a node takes part in the cluster.
#[derive(Debug, Clone)]
pub struct ClusterSettings {
    /// The node's name, unique in the cluster and stable across its restarts.
    pub node: String,
    /// How long a node's jobs stay its own without a heartbeat.
    pub lease: Duration,
    /// Kinds of records every node reads again at each heartbeat (the server's schedules:
    /// any node may write them, and the leader must fire what the others submitted).
    pub shared_records: Vec<u8>,
    /// Kinds of records every node follows at each heartbeat by their keys, reading the
    /// bodies of new keys only (the server's dead letters: many, and large).
    pub synced_records: Vec<u8>,
}

enum Request {
    Claim { function: Bytes, count: u32 },
}

/// This node's part in a cluster: its heartbeat, its claims and the notifications it hears.
/// Dropping it stops both threads (within a second).
pub struct Cluster {
    requests: mpsc::Sender<Request>,
    stop: Arc<AtomicBool>,
}

impl std::fmt::Debug for Cluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cluster").finish_non_exhaustive()
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
    }
}

impl Cluster {
    /// Join the cluster of `table` (prepared by a node's [`crate::PostgresStore`]) as
    /// `settings.node`, reporting to `report` from the cluster's threads.
    pub fn start(
        conninfo: &str,
        table: &str,
        settings: ClusterSettings,
        report: impl Fn(ClusterEvent) -> bool + Send + Sync + 'static,
    ) -> Result<Cluster, StoreError> {
        let config = crate::postgres::config(conninfo)?;
        let table = table.to_ascii_lowercase();
        let report = Arc::new(report);
        let stop = Arc::new(AtomicBool::new(false));
        let (requests, received) = mpsc::channel();
        let mut node = Node {
            config: config.clone(),
            table: table.clone(),
            settings,
            link: Link::new("postgres cluster"),
            connected_since: None,
            joined: false,
            instance: instance_number(),
            next_claim: 1,
            lost_claims: Vec::new(),
            synced: HashSet::new(),
        };
        // The first heartbeat before anything else, so a bad setting fails the start.
        node.beat()?;
        let name = node.settings.node.clone();
        {
            let report = report.clone();
            let stop = stop.clone();
            std::thread::Builder::new()
                .name("gearboxd-cluster".into())
                .spawn(move || node.run(&received, &*report, &stop))
                .map_err(StoreError::Thread)?;
        }
        {
            let stop = stop.clone();
            std::thread::Builder::new()
                .name("gearboxd-listen".into())
                .spawn(move || listen(&config, &table, &name, &*report, &stop))
                .map_err(StoreError::Thread)?;
        }
        Ok(Cluster { requests, stop })
    }

    /// Claim up to `count` runnable jobs of `function` for this node; answered with
    /// [`ClusterEvent::Claimed`].
    pub fn claim(&self, function: Bytes, count: u32) {
        let _ = self.requests.send(Request::Claim { function, count });
    }
}

/// Statements of the claiming connection.
struct Session {
    client: Client,
    claim: Statement,
    beat: Statement,
    join: Statement,
    release: Statement,
    unclaim: Statement,
    nodes: Statement,
    waiting: Statement,
    /// The records of the kinds `ClusterSettings::shared_records`.
    shared: Statement,
    /// The keys of the records of the kinds `ClusterSettings::synced_records`.
    synced_keys: Statement,
    /// The records of the given kinds and keys.
    records_by_key: Statement,
    /// This connection holds the leader's lock.
    leader: bool,
}

struct Node {
    config: Config,
    table: String,
    settings: ClusterSettings,
    link: Link<Session>,
    /// Since when heartbeats have succeeded without a break.
    connected_since: Option<Instant>,
    /// The first heartbeat of this start went out.
    joined: bool,
    /// This process's number, written with every heartbeat (see `session`).
    instance: i64,
    /// The next claim's token (stored with the rows it takes).
    next_claim: i64,
    /// Tokens of claims whose answer never arrived: their rows may be this node's in the
    /// table without the server knowing them, so the next heartbeat gives them back.
    lost_claims: Vec<i64>,
    /// The keys of the synced records (`ClusterSettings::synced_records`) the last
    /// heartbeat saw: their bodies were reported then or before.
    synced: HashSet<(u8, Bytes)>,
}

/// A number for this process, different from any other's that may share a node name: the
/// process id and the start time's nanoseconds.
fn instance_number() -> i64 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    (i64::from(std::process::id()) << 32) | i64::from(nanos)
}

fn session(config: &Config, t: &str) -> Result<Session, StoreError> {
    let mut client = config.connect(NoTls)?;
    let claim = client.prepare(&format!(
        "UPDATE {t} SET owner = $1, claim = $5 WHERE id IN (
           SELECT id FROM {t} WHERE owner IS NULL AND function_name = $2 AND when_to_run <= $3
           ORDER BY priority, id LIMIT $4 FOR UPDATE SKIP LOCKED)
         RETURNING id, unique_key, function_name, priority, data, when_to_run, reducer,
                   background, watchers"
    ))?;
    // Each heartbeat writes this process's instance number and returns the one it replaced:
    // another number means another process runs under the same name.
    let insert = format!(
        "WITH before AS (SELECT instance FROM {t}_nodes WHERE node = $1) \
         INSERT INTO {t}_nodes (node, heartbeat, started, instance) \
         VALUES ($1, now(), now(), $2)"
    );
    let beat = client.prepare(&format!(
        "{insert} ON CONFLICT (node) DO UPDATE SET heartbeat = now(), instance = $2 \
         RETURNING (SELECT instance FROM before)"
    ))?;
    // The first heartbeat of a start: a restarted node shows its new start time.
    let join = client.prepare(&format!(
        "{insert} ON CONFLICT (node) DO UPDATE SET heartbeat = now(), started = now(), \
         instance = $2 RETURNING (SELECT instance FROM before)"
    ))?;
    // Rows of nodes whose lease ran out become anyone's, and their functions are announced.
    let release = client.prepare(&format!(
        "WITH live AS (SELECT node FROM {t}_nodes
                       WHERE heartbeat >= now() - make_interval(secs => $1)),
              freed AS (UPDATE {t} SET owner = NULL
                        WHERE owner IS NOT NULL AND owner NOT IN (SELECT node FROM live)
                        RETURNING function_name),
              unheard AS (DELETE FROM {t}_relay WHERE node NOT IN (SELECT node FROM live))
         SELECT pg_notify('{channel}', f), f
         FROM (SELECT DISTINCT encode(function_name, 'hex') AS f FROM freed) AS d",
        channel = channel(t)
    ))?;
    // Claims whose answer never arrived: their rows go back to everyone.
    let unclaim = client.prepare(&format!(
        "WITH freed AS (UPDATE {t} SET owner = NULL, claim = NULL
                        WHERE owner = $1 AND claim = ANY($2::int8[]) RETURNING function_name)
         SELECT pg_notify('{channel}', f), f
         FROM (SELECT DISTINCT encode(function_name, 'hex') AS f FROM freed) AS d",
        channel = channel(t)
    ))?;
    let nodes = client.prepare(&format!(
        "SELECT node, EXTRACT(EPOCH FROM now() - heartbeat)::float8,
                EXTRACT(EPOCH FROM now() - started)::float8
         FROM {t}_nodes ORDER BY node"
    ))?;
    // Two scans, each on its partial index: the unowned rows, and the few other nodes hold
    // (each holds some per worker); a (function, priority) may come twice.
    let waiting = client.prepare(&format!(
        "SELECT function_name, priority, COUNT(*)::int8, 0::int8 FROM {t} \
         WHERE owner IS NULL GROUP BY function_name, priority \
         UNION ALL \
         SELECT function_name, priority, 0::int8, COUNT(*)::int8 FROM {t} \
         WHERE owner IS NOT NULL AND owner <> $1 GROUP BY function_name, priority"
    ))?;
    let shared = client.prepare(&format!(
        "SELECT kind, key, body FROM {t}_records WHERE kind = ANY($1::int2[])"
    ))?;
    let synced_keys = client.prepare(&format!(
        "SELECT kind, key FROM {t}_records WHERE kind = ANY($1::int2[])"
    ))?;
    let records_by_key = client.prepare(&format!(
        "SELECT r.kind, r.key, r.body FROM {t}_records r \
         JOIN UNNEST($1::int2[], $2::bytea[]) AS u(kind, key) \
           ON r.kind = u.kind AND r.key = u.key"
    ))?;
    Ok(Session {
        client,
        shared,
        synced_keys,
        records_by_key,
        claim,
        beat,
        join,
        release,
        unclaim,
        nodes,
        waiting,
        leader: false,
    })
}

impl Node {
    fn beat_every(&self) -> Duration {
        (self.settings.lease / 5).max(Duration::from_millis(100))
    }

    fn run(
        &mut self,
        requests: &mpsc::Receiver<Request>,
        report: &dyn Fn(ClusterEvent) -> bool,
        stop: &AtomicBool,
    ) {
        let mut next_beat = Instant::now() + self.beat_every();
        while !stop.load(Ordering::Acquire) {
            let wait = next_beat
                .saturating_duration_since(Instant::now())
                .min(Duration::from_secs(1));
            let event = match requests.recv_timeout(wait) {
                Ok(Request::Claim { function, count }) => {
                    let jobs = self.claim(&function, count).map_err(|e| e.to_string());
                    ClusterEvent::Claimed {
                        function,
                        asked: count,
                        jobs,
                    }
                }
                Err(mpsc::RecvTimeoutError::Timeout) if Instant::now() >= next_beat => {
                    next_beat = Instant::now() + self.beat_every();
                    ClusterEvent::Heartbeat(self.beat().map_err(|e| e.to_string()))
                }
                Err(mpsc::RecvTimeoutError::Timeout) => continue,
                Err(mpsc::RecvTimeoutError::Disconnected) => return,
            };
            if !report(event) {
                return;
            }
        }
    }

    fn claim(&mut self, function: &Bytes, count: u32) -> Result<Vec<ClaimedJob>, StoreError> {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let now = i64::try_from(now).unwrap_or(i64::MAX);
        let limit = i64::from(count);
        let node = &self.settings.node;
        let (next_claim, lost_claims) = (&mut self.next_claim, &mut self.lost_claims);
        let mut token: Option<i64> = None;
        // Each attempt (the link retries once on a fresh connection) has its own token; one
        // whose answer did not arrive is remembered as lost.
        let rows = self.link.run(
            || session(&self.config, &self.table),
            |s| {
                lost_claims.extend(token.take());
                let attempt = *next_claim;
                *next_claim += 1;
                token = Some(attempt);
                let rows = s
                    .client
                    .query(&s.claim, &[node, &&function[..], &now, &limit, &attempt])?;
                token = None;
                Ok::<_, postgres::Error>(rows)
            },
        );
        lost_claims.extend(token);
        let rows = rows?;
        let mut jobs = rows
            .iter()
            .map(|row| {
                let watchers: Vec<String> = row.try_get(8)?;
                Ok(ClaimedJob {
                    job: crate::postgres::job_of_row(row)?,
                    background: row.try_get(7)?,
                    watched_here: watchers.iter().any(|w| w == node),
                    watched_elsewhere: watchers.iter().any(|w| w != node),
                })
            })
            .collect::<Result<Vec<_>, postgres::Error>>()?;
        jobs.sort_unstable_by_key(|j| (j.job.priority, j.job.id));
        Ok(jobs)
    }

    /// Renew the lease, release dead nodes' rows once this node has been connected for a whole
    /// lease, and list the nodes.
    fn beat(&mut self) -> Result<Heartbeat, StoreError> {
        let lease = self.settings.lease;
        let node = &self.settings.node;
        let first = self.connected_since.is_none() && !self.joined;
        let instance = self.instance;
        let beat = self.link.run(
            || session(&self.config, &self.table),
            |s| {
                let statement = if first { &s.join } else { &s.beat };
                s.client.query_one(statement, &[node, &instance])
            },
        );
        if let Ok(row) = &beat {
            let before: Option<i64> = row.get(0);
            if !first && before.is_some_and(|b| b != instance) {
                tracing::error!(
                    node = %node,
                    "another gearboxd runs as this node: two nodes share one --node-id, so \
                     both run the same jobs; give each node a name of its own"
                );
            }
        }
        if let Err(e) = beat {
            self.connected_since = None;
            return Err(e);
        }
        self.joined = true;
        if !self.lost_claims.is_empty() {
            let lost = &self.lost_claims;
            let freed = self.link.run(
                || session(&self.config, &self.table),
                |s| s.client.query(&s.unclaim, &[node, lost]),
            )?;
            warn!(
                claims = self.lost_claims.len(),
                functions = freed.len(),
                "gave back the rows of claims whose answer never arrived"
            );
            self.lost_claims.clear();
        }
        let since = *self.connected_since.get_or_insert_with(Instant::now);
        if since.elapsed() >= lease {
            let secs = lease.as_secs_f64();
            let freed = self.link.run(
                || session(&self.config, &self.table),
                |s| s.client.query(&s.release, &[&secs]),
            )?;
            if !freed.is_empty() {
                info!(
                    functions = freed.len(),
                    "released the jobs of nodes whose lease ran out"
                );
            }
        }
        let lock = format!("{}:leader", self.table);
        let kinds: Vec<i16> = self
            .settings
            .shared_records
            .iter()
            .map(|&k| i16::from(k))
            .collect();
        let synced_kinds: Vec<i16> = self
            .settings
            .synced_records
            .iter()
            .map(|&k| i16::from(k))
            .collect();
        let known = &self.synced;
        let read_at = Instant::now();
        let (rows, waiting, leader, shared, synced, fetched) = self.link.run(
            || session(&self.config, &self.table),
            |s| {
                if !s.leader {
                    s.leader = s
                        .client
                        .query_one("SELECT pg_try_advisory_lock(hashtext($1))", &[&lock])?
                        .get(0);
                }
                let nodes = s.client.query(&s.nodes, &[])?;
                let waiting = s.client.query(&s.waiting, &[node])?;
                let shared = s.client.query(&s.shared, &[&kinds])?;
                let synced: HashSet<(u8, Bytes)> = s
                    .client
                    .query(&s.synced_keys, &[&synced_kinds])?
                    .iter()
                    .filter_map(|row| {
                        let kind = u8::try_from(row.get::<_, i16>(0)).ok()?;
                        Some((kind, Bytes::from(row.get::<_, Vec<u8>>(1))))
                    })
                    .collect();
                let new: Vec<&(u8, Bytes)> = synced.difference(known).collect();
                let fetched = if new.is_empty() {
                    Vec::new()
                } else {
                    let kinds: Vec<i16> = new.iter().map(|(k, _)| i16::from(*k)).collect();
                    let keys: Vec<&[u8]> = new.iter().map(|(_, key)| &key[..]).collect();
                    s.client.query(&s.records_by_key, &[&kinds, &keys])?
                };
                Ok::<_, postgres::Error>((nodes, waiting, s.leader, shared, synced, fetched))
            },
        )?;
        let counts = |column: usize| -> Vec<(Bytes, u8, u64)> {
            waiting
                .iter()
                .filter_map(|row| {
                    let count = u64::try_from(row.get::<_, i64>(column)).unwrap_or(0);
                    let priority: i32 = row.get(1);
                    (count > 0).then(|| {
                        (
                            Bytes::from(row.get::<_, Vec<u8>>(0)),
                            u8::try_from(priority.clamp(0, 2)).unwrap_or(1),
                            count,
                        )
                    })
                })
                .collect()
        };
        let (held, waiting) = (counts(3), counts(2));
        let nodes = rows
            .iter()
            .map(|row| NodeInfo {
                node: row.get(0),
                heartbeat_age: row.get::<_, f64>(1).max(0.0),
                uptime: row.get::<_, f64>(2).max(0.0),
            })
            .collect();
        let records = shared
            .iter()
            .chain(&fetched)
            .filter_map(|row| {
                Some(StoredRecord {
                    kind: u8::try_from(row.get::<_, i16>(0)).ok()?,
                    key: Bytes::from(row.get::<_, Vec<u8>>(1)),
                    body: Bytes::from(row.get::<_, Vec<u8>>(2)),
                })
            })
            .collect();
        self.synced = synced;
        Ok(Heartbeat {
            nodes,
            leader,
            waiting,
            held,
            records,
            synced: self.synced.iter().cloned().collect(),
            read_at,
        })
    }
}

/// Hear the offers and take the packets relayed to this node: `LISTEN` on a connection of its
/// own, reconnecting after a failure. After a reconnect nothing is assumed heard: the relayed
/// packets are taken at once, and the next heartbeat makes the node claim anyway.
fn listen(
    config: &Config,
    table: &str,
    node: &str,
    report: &dyn Fn(ClusterEvent) -> bool,
    stop: &AtomicBool,
) {
    let (offers, relays) = (channel(table), relay_channel(table));
    let take = take_relayed_sql(table);
    let mut backoff = Duration::from_millis(100);
    while !stop.load(Ordering::Acquire) {
        let mut client = match config.connect(NoTls) {
            Ok(client) => client,
            Err(e) => {
                warn!(error = %e, "cannot listen for the cluster's offers; retrying");
                std::thread::sleep(backoff);
                backoff = (backoff * 2).min(Duration::from_secs(2));
                continue;
            }
        };
        if let Err(e) = client.batch_execute(&format!("LISTEN {offers}; LISTEN {relays}")) {
            warn!(error = %e, "LISTEN failed; retrying");
            std::thread::sleep(backoff);
            continue;
        }
        backoff = Duration::from_millis(100);
        // Packets may have been written while this node was not listening.
        let mut relayed = true;
        loop {
            if stop.load(Ordering::Acquire) {
                return;
            }
            if std::mem::take(&mut relayed) {
                match take_relayed(&mut client, &take, node) {
                    Ok(packets) if packets.is_empty() => {}
                    Ok(packets) => {
                        if !report(ClusterEvent::Relayed(packets)) {
                            return;
                        }
                    }
                    Err(e) => {
                        warn!(error = %e, "taking relayed work packets failed; reconnecting");
                        break;
                    }
                }
            }
            let mut heard = Vec::new();
            let first = client
                .notifications()
                .timeout_iter(Duration::from_millis(500))
                .next();
            match first {
                Ok(Some(notification)) => heard.push(notification),
                Ok(None) => {
                    // A quiet half second: make sure the connection is still there.
                    if client.is_closed() {
                        break;
                    }
                    continue;
                }
                Err(e) => {
                    warn!(error = %e, "the cluster's LISTEN connection failed; reconnecting");
                    break;
                }
            }
            // Whatever else has arrived: one take serves every relay notification.
            let mut more = client.notifications();
            let mut pending = more.iter();
            while let Ok(Some(notification)) = pending.next() {
                heard.push(notification);
            }
            for notification in heard {
                if notification.channel() == relays {
                    relayed |= notification.payload() == node;
                } else if let Some(function) = unhex(notification.payload()) {
                    if !report(ClusterEvent::Offered(function)) {
                        return;
                    }
                }
            }
        }
    }
}

/// Take the packets relayed to `node`, in the order they were written.
/// The statement of [`take_relayed`]: a node's packets, deleted, in the order written.
fn take_relayed_sql(table: &str) -> String {
    format!(
        "WITH d AS (DELETE FROM {table}_relay WHERE node = $1 RETURNING seq, job, kind, data) \
         SELECT job, kind, data FROM d ORDER BY seq"
    )
}

fn take_relayed(
    client: &mut Client,
    take: &str,
    node: &str,
) -> Result<Vec<Relayed>, postgres::Error> {
    let rows = client.query(take, &[&node])?;
    rows.iter()
        .map(|row| {
            let kind: i16 = row.try_get(1)?;
            Ok(Relayed {
                id: u64::try_from(row.try_get::<_, i64>(0)?).unwrap_or(0),
                kind: u8::try_from(kind).unwrap_or(0),
                data: Bytes::from(row.try_get::<_, Vec<u8>>(2)?),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{JobStore, PostgresStore, StoreOp, StoredJob};

    const CONNINFO: &str = "host=127.0.0.1 port=5432 user=postgres dbname=test";

    fn job(id: u64, unique: &'static [u8]) -> StoredJob {
        StoredJob {
            id,
            function: Bytes::from_static(b"f"),
            unique: Bytes::from_static(unique),
            priority: 1,
            when_to_run: 0,
            reducer: Bytes::new(),
            data: Bytes::from_static(b"d"),
        }
    }

    fn node(t: &str, name: &str) -> Node {
        Node {
            config: crate::postgres::config(CONNINFO).unwrap(),
            table: t.to_owned(),
            settings: ClusterSettings {
                node: name.into(),
                lease: Duration::from_secs(10),
                shared_records: vec![1],
                synced_records: vec![3],
            },
            link: Link::new("test"),
            connected_since: None,
            joined: false,
            instance: instance_number(),
            next_claim: 1,
            lost_claims: Vec::new(),
            synced: HashSet::new(),
        }
    }

    fn client() -> Client {
        crate::postgres::config(CONNINFO)
            .unwrap()
            .connect(NoTls)
            .unwrap()
    }

    fn relay(id: u64, kind: u8, data: &'static [u8], last: bool) -> StoreOp {
        StoreOp::Relay {
            id,
            kind,
            data: Bytes::from_static(data),
            last,
        }
    }

    /// Each heartbeat reads the records of the shared kinds as the table holds them, and the
    /// keys of the synced kinds with the bodies of new ones.
    #[test]
    fn heartbeats_read_the_shared_records() {
        let Some(_lock) = gearbox_testkit::services::Service::Postgres.shared() else {
            return;
        };
        let t = gearbox_testkit::services::unique_name("gbs");
        let mut store = PostgresStore::open_node(CONNINFO, &t, "n1", "H:n1").unwrap();
        let record = |kind: u8, key: &'static [u8]| StoredRecord {
            kind,
            key: Bytes::from_static(key),
            body: Bytes::from_static(b"b"),
        };
        store
            .append(&[
                StoreOp::PutRecord(record(1, b"shared")),
                StoreOp::PutRecord(record(2, b"not shared")),
            ])
            .unwrap();
        let mut node = node(&t, "n1");
        assert_eq!(node.beat().unwrap().records, vec![record(1, b"shared")]);
        store
            .append(&[StoreOp::DropRecord {
                kind: 1,
                key: Bytes::from_static(b"shared"),
            }])
            .unwrap();
        assert!(node.beat().unwrap().records.is_empty());

        // Synced kinds: every key at each heartbeat, a body only the first time.
        store
            .append(&[StoreOp::PutRecord(record(3, b"synced"))])
            .unwrap();
        let key = (3, Bytes::from_static(b"synced"));
        let beat = node.beat().unwrap();
        assert_eq!(beat.records, vec![record(3, b"synced")]);
        assert_eq!(beat.synced, vec![key.clone()]);
        let beat = node.beat().unwrap();
        assert!(beat.records.is_empty(), "its body was reported");
        assert_eq!(beat.synced, vec![key]);
        store
            .append(&[StoreOp::DropRecord {
                kind: 3,
                key: Bytes::from_static(b"synced"),
            }])
            .unwrap();
        assert!(node.beat().unwrap().synced.is_empty());
        store.drop_table().unwrap();
    }

    /// A foreground job offered by one node, joined by a foreground submission on a second and
    /// by a background one on a third, runs on the third: its packets reach the two watching
    /// nodes in order, the last one deletes the row, and a watch given up before the end
    /// leaves nothing behind.
    #[test]
    fn work_packets_reach_the_watching_nodes() {
        let Some(_lock) = gearbox_testkit::services::Service::Postgres.shared() else {
            return;
        };
        let t = gearbox_testkit::services::unique_name("gbr");
        let mut a = PostgresStore::open_node(CONNINFO, &t, "a", "H:a").unwrap();
        let mut b = PostgresStore::open_node(CONNINFO, &t, "b", "H:b").unwrap();
        let mut c = PostgresStore::open_node(CONNINFO, &t, "c", "H:c").unwrap();
        a.append(&[StoreOp::OfferWatched(job(1, b"u"))]).unwrap();
        b.append(&[StoreOp::OfferWatched(job(2, b"u"))]).unwrap();
        let joined = b.coalesced();
        assert_eq!(joined.len(), 1);
        assert_eq!((joined[0].id, &joined[0].handle[..]), (2, &b"H:a:1"[..]));
        c.append(&[StoreOp::Offer(job(3, b"u"))]).unwrap();
        assert_eq!(c.coalesced().len(), 1);
        let mut runner = node(&t, "c");
        runner.beat().unwrap();
        let claimed = runner.claim(&Bytes::from_static(b"f"), 5).unwrap();
        assert_eq!(claimed.len(), 1);
        let claimed = &claimed[0];
        assert_eq!(claimed.job.id, 1);
        assert!(claimed.background, "a background submission joined it");
        assert!(!claimed.watched_here && claimed.watched_elsewhere);
        c.append(&[relay(1, 28, b"part", false), relay(1, 13, b"result", true)])
            .unwrap();
        let mut client = client();
        let take = take_relayed_sql(&t);
        for watcher in ["a", "b"] {
            let packets = take_relayed(&mut client, &take, watcher).unwrap();
            let seen: Vec<(u64, u8, &[u8])> = packets
                .iter()
                .map(|p| (p.id, p.kind, &p.data[..]))
                .collect();
            assert_eq!(seen, vec![(1, 28, &b"part"[..]), (1, 13, &b"result"[..])]);
        }
        assert!(take_relayed(&mut client, &take, "c").unwrap().is_empty());
        assert!(a.is_empty().unwrap(), "the last packet deletes the row");

        // A foreground job whose only watcher gives it up before it runs is deleted; one a
        // second node also watches stays for it.
        a.append(&[StoreOp::OfferWatched(job(4, b"v"))]).unwrap();
        a.append(&[StoreOp::OfferWatched(job(5, b"w"))]).unwrap();
        b.append(&[StoreOp::OfferWatched(job(6, b"w"))]).unwrap();
        a.append(&[
            StoreOp::Release {
                id: 4,
                give_back: false,
                unwatch: true,
            },
            StoreOp::Release {
                id: 5,
                give_back: false,
                unwatch: true,
            },
        ])
        .unwrap();
        let left: Vec<(i64, Vec<String>)> = client
            .query(&format!("SELECT id, watchers FROM {t} ORDER BY id"), &[])
            .unwrap()
            .iter()
            .map(|r| (r.get(0), r.get(1)))
            .collect();
        assert_eq!(left, vec![(5, vec!["b".to_owned()])]);
        a.drop_table().unwrap();
    }

    /// `cancel job` asked on a node that does not hold the job: its row goes, every node
    /// watching it hears WORK_FAIL, and the node that claimed it the order to cancel too; a
    /// row that is not there is reported so.
    #[test]
    fn a_cancel_elsewhere_tells_the_watchers_and_the_holder() {
        let Some(_lock) = gearbox_testkit::services::Service::Postgres.shared() else {
            return;
        };
        let t = gearbox_testkit::services::unique_name("gbc");
        let mut a = PostgresStore::open_node(CONNINFO, &t, "a", "H:a").unwrap();
        let mut b = PostgresStore::open_node(CONNINFO, &t, "b", "H:b").unwrap();
        let mut c = PostgresStore::open_node(CONNINFO, &t, "c", "H:c").unwrap();
        a.append(&[StoreOp::OfferWatched(job(1, b"u"))]).unwrap();
        b.append(&[StoreOp::OfferWatched(job(2, b"u"))]).unwrap();
        assert_eq!(b.coalesced().len(), 1, "b watches a's job");
        let mut runner = node(&t, "b");
        runner.beat().unwrap();
        assert_eq!(runner.claim(&Bytes::from_static(b"f"), 5).unwrap().len(), 1);

        assert!(c.cancel_elsewhere(1).unwrap(), "the row was there");
        assert!(a.is_empty().unwrap(), "the row is gone");
        assert!(
            !c.cancel_elsewhere(1).unwrap(),
            "a second cancel finds nothing"
        );
        let mut client = client();
        let take = take_relayed_sql(&t);
        let seen = |client: &mut Client, node: &str| -> Vec<(u64, u8)> {
            take_relayed(client, &take, node)
                .unwrap()
                .iter()
                .map(|p| (p.id, p.kind))
                .collect()
        };
        assert_eq!(seen(&mut client, "a"), vec![(1, 14)], "WORK_FAIL");
        let mut b_heard = seen(&mut client, "b");
        b_heard.sort_unstable();
        assert_eq!(
            b_heard,
            vec![(1, CANCEL_RELAY), (1, 14)],
            "the order, and WORK_FAIL"
        );
        assert!(seen(&mut client, "c").is_empty());

        // A background job nobody claimed or watches: the row goes, nobody hears anything.
        a.append(&[StoreOp::Offer(job(3, b"bg"))]).unwrap();
        assert!(c.cancel_elsewhere(3).unwrap());
        assert!(a.is_empty().unwrap());
        for n in ["a", "b", "c"] {
            assert!(seen(&mut client, n).is_empty());
        }
        // Outside a cluster every job is in memory: the store has nothing to cancel.
        let mut single = PostgresStore::open(CONNINFO, &t).unwrap();
        assert!(!single.cancel_elsewhere(3).unwrap());
        a.drop_table().unwrap();
    }

    /// The rows of a claim whose answer never arrived go back to everyone at the next
    /// heartbeat; an answered claim's stay.
    #[test]
    fn lost_claims_are_given_back() {
        let Some(_lock) = gearbox_testkit::services::Service::Postgres.shared() else {
            return;
        };
        let t = gearbox_testkit::services::unique_name("gbl");
        let mut store = PostgresStore::open_node(CONNINFO, &t, "n1", "H:n1").unwrap();
        store
            .append(&[StoreOp::Offer(job(1, b"")), StoreOp::Offer(job(2, b""))])
            .unwrap();
        let mut node = node(&t, "n1");
        node.beat().unwrap();
        let got = node.claim(&Bytes::from_static(b"f"), 1).unwrap();
        assert_eq!(got.iter().map(|j| j.job.id).collect::<Vec<_>>(), vec![1]);
        // A second claim whose answer is lost: its row is this node's in the table only.
        let mut client = client();
        client
            .execute(
                &format!("UPDATE {t} SET owner = 'n1', claim = 77 WHERE id = 2"),
                &[],
            )
            .unwrap();
        node.lost_claims.push(77);
        node.beat().unwrap();
        let owners: Vec<(i64, Option<String>)> = client
            .query(&format!("SELECT id, owner FROM {t} ORDER BY id"), &[])
            .unwrap()
            .iter()
            .map(|r| (r.get(0), r.get(1)))
            .collect();
        assert_eq!(owners, vec![(1, Some("n1".into())), (2, None)]);
        assert!(node.lost_claims.is_empty());
        store.drop_table().unwrap();
    }

    #[test]
    fn function_names_travel_as_hex() {
        assert_eq!(hex(b"a\0\xff"), "6100ff");
        assert_eq!(unhex("6100ff").as_deref(), Some(&b"a\0\xff"[..]));
        assert_eq!(unhex("610"), None);
        assert_eq!(unhex("zz"), None);
    }
}
