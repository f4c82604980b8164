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
use crate::{ClusterEvent, Coalesced, Heartbeat, NodeInfo, StoreError, StoredJob};

/// Ids a node start may use: its epoch times this.
pub const EPOCH_IDS: u64 = 1 << 40;

/// The columns and tables a cluster adds to a queue table; run under the table's advisory
/// lock.
pub(crate) fn prepare(client: &mut Client, t: &str) -> Result<(), StoreError> {
    client.batch_execute(&format!(
        "ALTER TABLE {t} ADD COLUMN IF NOT EXISTS owner TEXT;
         ALTER TABLE {t} ADD COLUMN IF NOT EXISTS claim BIGINT;
         ALTER TABLE {t} ADD COLUMN IF NOT EXISTS origin TEXT;
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

/// A cluster node's statements for writing new jobs.
pub(crate) struct NodeStatements {
    /// Insert the rows not there yet, skipping any an equal live job refuses.
    insert: Statement,
    /// The stored jobs equal to new ones that were refused: (new id, stored id, origin).
    existing: Statement,
}

impl NodeStatements {
    pub(crate) fn prepare(
        client: &mut Client,
        t: &str,
        unnest: &str,
    ) -> Result<NodeStatements, StoreError> {
        let insert = client.prepare(&format!(
            "INSERT INTO {t} (id, unique_key, function_name, priority, data, when_to_run, \
                              reducer, owner, origin) \
             SELECT u.id, u.unique_key, u.function_name, u.priority, u.data, u.when_to_run, \
                    u.reducer, CASE WHEN u.offered THEN NULL ELSE $9 END, $10 \
             FROM {unnest}, $8::bool[]) \
               AS u(id, unique_key, function_name, priority, data, when_to_run, reducer, \
                    offered) \
             WHERE NOT EXISTS (SELECT 1 FROM {t} x WHERE x.id = u.id) \
             ON CONFLICT DO NOTHING RETURNING id"
        ))?;
        let existing = client.prepare(&format!(
            "SELECT n.id, t.id, t.origin \
             FROM UNNEST($1::int8[], $2::bytea[], $3::bytea[]) AS n(id, function_name, unique_key) \
             JOIN {t} t ON t.function_name = n.function_name AND t.unique_key = n.unique_key \
               AND t.id <> n.id"
        ))?;
        Ok(NodeStatements { insert, existing })
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
        rows: (&[i64], &[&[u8]], &[&[u8]]),
    ) -> Result<Vec<Coalesced>, StoreError> {
        let ids = |found: Vec<postgres::Row>| -> HashSet<i64> {
            found.iter().map(|row| row.get::<_, i64>(0)).collect()
        };
        let mut written = ids(tx.query(rewrite, params)?);
        params.push(origin);
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
        let found = tx.query(&self.existing, &[&pick_ids, &pick_functions, &pick_uniques])?;
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
        };
        // The first heartbeat before anything else, so a bad setting fails the start.
        node.beat()?;
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
                .spawn(move || listen(&config, &channel(&table), &*report, &stop))
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
         RETURNING id, unique_key, function_name, priority, data, when_to_run, reducer"
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
                        RETURNING function_name)
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
    let waiting = client.prepare(&format!(
        "SELECT function_name, priority, COUNT(*)::int8 FROM {t} WHERE owner IS NULL \
         GROUP BY function_name, priority"
    ))?;
    Ok(Session {
        client,
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

    fn claim(&mut self, function: &Bytes, count: u32) -> Result<Vec<StoredJob>, StoreError> {
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
            .map(crate::postgres::job_of_row)
            .collect::<Result<Vec<_>, _>>()?;
        jobs.sort_unstable_by_key(|j| (j.priority, j.id));
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
        let (rows, waiting, leader) = self.link.run(
            || session(&self.config, &self.table),
            |s| {
                if !s.leader {
                    s.leader = s
                        .client
                        .query_one("SELECT pg_try_advisory_lock(hashtext($1))", &[&lock])?
                        .get(0);
                }
                let nodes = s.client.query(&s.nodes, &[])?;
                let waiting = s.client.query(&s.waiting, &[])?;
                Ok::<_, postgres::Error>((nodes, waiting, s.leader))
            },
        )?;
        let waiting = waiting
            .iter()
            .map(|row| {
                let function: Vec<u8> = row.get(0);
                let priority: i32 = row.get(1);
                let count: i64 = row.get(2);
                (
                    Bytes::from(function),
                    u8::try_from(priority.clamp(0, 2)).unwrap_or(1),
                    u64::try_from(count).unwrap_or(0),
                )
            })
            .collect();
        let nodes = rows
            .iter()
            .map(|row| NodeInfo {
                node: row.get(0),
                heartbeat_age: row.get::<_, f64>(1).max(0.0),
                uptime: row.get::<_, f64>(2).max(0.0),
            })
            .collect();
        Ok(Heartbeat {
            nodes,
            leader,
            waiting,
        })
    }
}

/// Hear the offers: `LISTEN` on a connection of its own, reconnecting after a failure. After a
/// reconnect nothing is assumed heard: the next heartbeat makes the node claim anyway.
fn listen(
    config: &Config,
    channel: &str,
    report: &dyn Fn(ClusterEvent) -> bool,
    stop: &AtomicBool,
) {
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
        if let Err(e) = client.batch_execute(&format!("LISTEN {channel}")) {
            warn!(error = %e, "LISTEN failed; retrying");
            std::thread::sleep(backoff);
            continue;
        }
        backoff = Duration::from_millis(100);
        loop {
            if stop.load(Ordering::Acquire) {
                return;
            }
            let heard = client
                .notifications()
                .timeout_iter(Duration::from_millis(500))
                .next();
            match heard {
                Ok(Some(notification)) => {
                    if let Some(function) = unhex(notification.payload()) {
                        if !report(ClusterEvent::Offered(function)) {
                            return;
                        }
                    }
                }
                Ok(None) => {
                    // A quiet half second: make sure the connection is still there.
                    if client.is_closed() {
                        break;
                    }
                }
                Err(e) => {
                    warn!(error = %e, "the cluster's LISTEN connection failed; reconnecting");
                    break;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{JobStore, PostgresStore, StoreOp};

    const CONNINFO: &str = "host=127.0.0.1 port=5432 user=postgres dbname=test";

    /// The rows of a claim whose answer never arrived go back to everyone at the next
    /// heartbeat; an answered claim's stay.
    #[test]
    fn lost_claims_are_given_back() {
        let Some(_lock) = gearbox_testkit::services::Service::Postgres.shared() else {
            return;
        };
        let t = gearbox_testkit::services::unique_name("gbl");
        let mut store = PostgresStore::open_node(CONNINFO, &t, "n1", "H:n1").unwrap();
        let job = |id: u64| StoredJob {
            id,
            function: Bytes::from_static(b"f"),
            unique: Bytes::new(),
            priority: 1,
            when_to_run: 0,
            reducer: Bytes::new(),
            data: Bytes::from_static(b"d"),
        };
        store
            .append(&[StoreOp::Offer(job(1)), StoreOp::Offer(job(2))])
            .unwrap();
        let mut node = Node {
            config: crate::postgres::config(CONNINFO).unwrap(),
            table: t.clone(),
            settings: ClusterSettings {
                node: "n1".into(),
                lease: Duration::from_secs(10),
            },
            link: Link::new("test"),
            connected_since: None,
            joined: false,
            instance: instance_number(),
            next_claim: 1,
            lost_claims: Vec::new(),
        };
        node.beat().unwrap();
        let got = node.claim(&Bytes::from_static(b"f"), 1).unwrap();
        assert_eq!(got.iter().map(|j| j.id).collect::<Vec<_>>(), vec![1]);
        // A second claim whose answer is lost: its row is this node's in the table only.
        let mut client = crate::postgres::config(CONNINFO)
            .unwrap()
            .connect(NoTls)
            .unwrap();
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
