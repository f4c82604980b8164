//! The Redis store, for users who already run Redis (gearmand's `-q redis`).
//!
//! Layout, under a key prefix (default [`DEFAULT_REDIS_PREFIX`]):
//! * `<prefix>:jobs`, a hash from the job's id (20 decimal digits, zero-padded) to the job
//!   serialized by [`encode`];
//! * `<prefix>:ids`, a sorted set of the same ids, all with score 0, so that the set is
//!   ordered by its members, which for equal-width decimal ids is id order. Replay pages
//!   through it with `ZRANGEBYLEX … LIMIT` ([`REPLAY_PAGE`] ids a page) and `HMGET`; nothing
//!   ever uses `KEYS`. (A score of the id itself would lose exactness above 2^53.)
//! * `<prefix>:records`, a hash of the records (schedules, dead letters, kept results), each
//!   under a field of its kind byte followed by its key; replayed with `HSCAN`.
//!
//! A batch is one `MULTI`/`EXEC` pipeline of at most six commands (`HSET`, `ZADD` for the
//! puts, `HDEL`, `ZREM` for the dones, `HSET` and `HDEL` on the records), applied all at once
//! or not at all. Redis answers `EXEC` before its own persistence has synced: a committed batch
//! survives a Redis restart only with `appendonly yes` and `appendfsync always` (with
//! `everysec`, the last second can be lost; with neither AOF nor snapshots, everything is).
//! [`RedisStore::open`] logs a warning when Redis keeps less than that.
//!
//! The connection is reopened after a failure (see [`Link`]); connect, read and write timeouts
//! keep a call from blocking for more than a few seconds when Redis is down.

use std::collections::HashSet;

use bytes::{Buf, BufMut, Bytes, BytesMut};
use redis::{Commands, Connection, ConnectionAddr, ConnectionInfo, IntoConnectionInfo};
use tracing::warn;

use crate::batch::NetBatch;
use crate::link::{Link, CONNECT_TIMEOUT, IO_TIMEOUT, REPLAY_PAGE};
use crate::{JobStore, StoreError, StoreOp, StoredJob, StoredRecord};

/// The key prefix used when none is given.
pub const DEFAULT_REDIS_PREFIX: &str = "gearbox";

/// First byte of every serialized job: the layout's version.
const LAYOUT: u8 = 1;

/// Where the Redis server is (gearmand's `--redis-*` flags).
#[derive(Clone, PartialEq, Eq)]
pub struct RedisSettings {
    /// Host name or address (`--redis-server`, default `127.0.0.1`).
    pub host: String,
    /// TCP port (`--redis-port`, default 6379).
    pub port: u16,
    /// Password for `AUTH` (`--redis-password`).
    pub password: Option<String>,
    /// Database number.
    pub db: i64,
}

impl Default for RedisSettings {
    fn default() -> RedisSettings {
        RedisSettings {
            host: "127.0.0.1".into(),
            port: 6379,
            password: None,
            db: 0,
        }
    }
}

impl std::fmt::Debug for RedisSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisSettings")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("password", &self.password.as_ref().map(|_| "…"))
            .field("db", &self.db)
            .finish()
    }
}

/// A job store in three Redis keys.
pub struct RedisStore {
    client: redis::Client,
    jobs: String,
    ids: String,
    records: String,
    link: Link<Connection>,
}

impl std::fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisStore")
            .field("addr", self.client.get_connection_info().addr())
            .field("jobs", &self.jobs)
            .finish_non_exhaustive()
    }
}

/// The hash field and sorted-set member for `id`.
fn member(id: u64) -> String {
    format!("{id:020}")
}

/// One `HSCAN` reply: the next cursor (0 at the end) and (field, value) pairs.
type ScanPage = (u64, Vec<(Vec<u8>, Vec<u8>)>);

/// The records hash's field for a record: its kind byte, then its key.
fn record_field(kind: u8, key: &[u8]) -> Vec<u8> {
    let mut field = Vec::with_capacity(1 + key.len());
    field.push(kind);
    field.extend_from_slice(key);
    field
}

/// Serialize a job: layout byte, priority, `when_to_run` (u64), then function, unique and
/// reducer each as a u32 length and bytes, then the data to the end. Big-endian throughout.
fn encode(job: &StoredJob) -> Vec<u8> {
    let mut out = BytesMut::with_capacity(
        22 + job.function.len() + job.unique.len() + job.reducer.len() + job.data.len(),
    );
    out.put_u8(LAYOUT);
    out.put_u8(job.priority);
    out.put_u64(job.when_to_run);
    for field in [&job.function, &job.unique, &job.reducer] {
        out.put_u32(u32::try_from(field.len()).unwrap_or(u32::MAX));
        out.put_slice(field);
    }
    out.put_slice(&job.data);
    out.to_vec()
}

/// Read back what [`encode`] wrote; `None` for anything else.
fn decode(id: u64, bytes: Vec<u8>) -> Option<StoredJob> {
    let mut buf = Bytes::from(bytes);
    if buf.remaining() < 10 || buf.get_u8() != LAYOUT {
        return None;
    }
    let priority = buf.get_u8();
    let when_to_run = buf.get_u64();
    let mut field = || {
        if buf.remaining() < 4 {
            return None;
        }
        let len = buf.get_u32() as usize;
        (buf.remaining() >= len).then(|| buf.split_to(len))
    };
    let function = field()?;
    let unique = field()?;
    let reducer = field()?;
    Some(StoredJob {
        id,
        function,
        unique,
        priority: priority.min(2),
        when_to_run,
        reducer,
        data: buf,
    })
}

impl RedisStore {
    /// Connect with gearmand-style settings; keys start with `prefix`.
    pub fn open(settings: &RedisSettings, prefix: &str) -> Result<RedisStore, StoreError> {
        let mut redis = redis::RedisConnectionInfo::default().set_db(settings.db);
        if let Some(password) = &settings.password {
            redis = redis.set_password(password);
        }
        let info = ConnectionAddr::Tcp(settings.host.clone(), settings.port)
            .into_connection_info()?
            .set_redis_settings(redis);
        RedisStore::open_with(info, prefix)
    }

    /// Connect with a URL (`redis://[:password@]host[:port][/db]`); keys start with `prefix`.
    pub fn open_url(url: &str, prefix: &str) -> Result<RedisStore, StoreError> {
        RedisStore::open_with(url.into_connection_info()?, prefix)
    }

    fn open_with(info: ConnectionInfo, prefix: &str) -> Result<RedisStore, StoreError> {
        if prefix.is_empty() {
            return Err(StoreError::Settings("the Redis key prefix is empty".into()));
        }
        let mut store = RedisStore {
            client: redis::Client::open(info)?,
            jobs: format!("{prefix}:jobs"),
            ids: format!("{prefix}:ids"),
            records: format!("{prefix}:records"),
            link: Link::new("redis"),
        };
        let settings: Vec<String> = store.link.run(
            || connect(&store.client),
            |c| {
                let mut settings = Vec::new();
                for name in ["appendonly", "appendfsync"] {
                    // CONFIG may be renamed away on managed servers; then say nothing.
                    let pair: Vec<String> = redis::cmd("CONFIG")
                        .arg("GET")
                        .arg(name)
                        .query(c)
                        .unwrap_or_default();
                    settings.push(pair.get(1).cloned().unwrap_or_default());
                }
                Ok::<_, StoreError>(settings)
            },
        )?;
        match (settings[0].as_str(), settings[1].as_str()) {
            ("", _) | ("yes", "always") => {}
            ("yes", fsync) => warn!(
                appendfsync = fsync,
                "Redis syncs its append-only file only every second or less: jobs acknowledged \
                 in the last moments before a Redis crash can be lost; set appendfsync always"
            ),
            _ => warn!(
                "Redis has appendonly off: jobs survive a gearboxd restart but not a Redis \
                 restart; set appendonly yes and appendfsync always"
            ),
        }
        Ok(store)
    }

    /// Number of stored jobs (for tests and diagnostics).
    pub fn len(&mut self) -> Result<u64, StoreError> {
        let ids = &self.ids;
        self.link.run(|| connect(&self.client), |c| c.zcard(ids))
    }

    /// True when no job is stored.
    pub fn is_empty(&mut self) -> Result<bool, StoreError> {
        Ok(self.len()? == 0)
    }

    /// Delete the store's keys, records included (for tests and for clearing a queue by hand).
    pub fn drop_keys(&mut self) -> Result<(), StoreError> {
        let keys = [self.jobs.clone(), self.ids.clone(), self.records.clone()];
        self.link
            .run(|| connect(&self.client), |c| c.del::<_, ()>(&keys))
    }
}

fn connect(client: &redis::Client) -> Result<Connection, StoreError> {
    let conn = client.get_connection_with_timeout(CONNECT_TIMEOUT)?;
    conn.set_read_timeout(Some(IO_TIMEOUT))?;
    conn.set_write_timeout(Some(IO_TIMEOUT))?;
    Ok(conn)
}

impl JobStore for RedisStore {
    fn append(&mut self, batch: &[StoreOp]) -> Result<(), StoreError> {
        let net = NetBatch::of(batch);
        let mut pipe = redis::pipe();
        pipe.atomic();
        if !net.puts.is_empty() {
            let hset = pipe.cmd("HSET").arg(&self.jobs);
            for job in &net.puts {
                hset.arg(member(job.id)).arg(encode(job));
            }
            let zadd = pipe.ignore().cmd("ZADD").arg(&self.ids);
            for job in &net.puts {
                zadd.arg(0).arg(member(job.id));
            }
            pipe.ignore();
        }
        if !net.dones.is_empty() {
            let members: Vec<String> = net.dones.iter().map(|&id| member(id)).collect();
            pipe.cmd("HDEL")
                .arg(&self.jobs)
                .arg(&members)
                .ignore()
                .cmd("ZREM")
                .arg(&self.ids)
                .arg(&members)
                .ignore();
        }
        if !net.record_puts.is_empty() {
            let hset = pipe.cmd("HSET").arg(&self.records);
            for record in &net.record_puts {
                hset.arg(record_field(record.kind, &record.key))
                    .arg(&record.body[..]);
            }
            pipe.ignore();
        }
        if !net.record_drops.is_empty() {
            let fields: Vec<Vec<u8>> = net
                .record_drops
                .iter()
                .map(|&(kind, key)| record_field(kind, key))
                .collect();
            pipe.cmd("HDEL").arg(&self.records).arg(&fields).ignore();
        }
        if net.puts.is_empty()
            && net.dones.is_empty()
            && net.record_puts.is_empty()
            && net.record_drops.is_empty()
        {
            return Ok(());
        }
        self.link.run(|| connect(&self.client), |c| pipe.exec(c))
    }

    fn replay(&mut self, sink: &mut dyn FnMut(StoredJob)) -> Result<(), StoreError> {
        let mut from = "-".to_owned();
        loop {
            let (ids, jobs) = (&self.ids, &self.jobs);
            let page: Vec<(String, Option<Vec<u8>>)> = self.link.run(
                || connect(&self.client),
                |c| {
                    let members: Vec<String> = redis::cmd("ZRANGEBYLEX")
                        .arg(ids)
                        .arg(&from)
                        .arg("+")
                        .arg("LIMIT")
                        .arg(0)
                        .arg(REPLAY_PAGE)
                        .query(c)?;
                    if members.is_empty() {
                        return Ok::<_, redis::RedisError>(Vec::new());
                    }
                    let values: Vec<Option<Vec<u8>>> =
                        redis::cmd("HMGET").arg(jobs).arg(&members).query(c)?;
                    Ok(members.into_iter().zip(values).collect())
                },
            )?;
            let n = page.len();
            for (member, value) in page {
                from = format!("({member}");
                let Ok(id) = member.parse::<u64>() else {
                    warn!(member, key = %self.ids, "skipping a malformed id");
                    continue;
                };
                // Both keys change in one MULTI/EXEC, so a missing job means someone edited
                // them by hand; replay what is readable and say what is not.
                match value.and_then(|bytes| decode(id, bytes)) {
                    Some(job) => sink(job),
                    None => warn!(id, key = %self.jobs, "skipping a missing or unreadable job"),
                }
            }
            if n < REPLAY_PAGE {
                return Ok(());
            }
        }
    }

    fn replay_records(&mut self, sink: &mut dyn FnMut(StoredRecord)) -> Result<(), StoreError> {
        // HSCAN may return a field twice (when the hash is resized between calls): remember
        // the fields fed, a few bytes each, so that each record reaches the sink once.
        let mut seen: HashSet<Bytes> = HashSet::new();
        let mut cursor: u64 = 0;
        loop {
            let records = &self.records;
            let (next, page): ScanPage = self.link.run(
                || connect(&self.client),
                |c| {
                    redis::cmd("HSCAN")
                        .arg(records)
                        .arg(cursor)
                        .arg("COUNT")
                        .arg(REPLAY_PAGE)
                        .query(c)
                },
            )?;
            for (field, body) in page {
                let field = Bytes::from(field);
                let Some(&kind) = field.first() else {
                    warn!(key = %self.records, "skipping a record with an empty field");
                    continue;
                };
                if !seen.insert(field.clone()) {
                    continue;
                }
                sink(StoredRecord {
                    kind,
                    key: field.slice(1..),
                    body: Bytes::from(body),
                });
            }
            if next == 0 {
                return Ok(());
            }
            cursor = next;
        }
    }

    fn load(&mut self, ids: &[u64]) -> Result<Vec<(u64, Bytes)>, StoreError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let members: Vec<String> = ids.iter().map(|&id| member(id)).collect();
        let jobs = &self.jobs;
        let values: Vec<Option<Vec<u8>>> = self.link.run(
            || connect(&self.client),
            |c| redis::cmd("HMGET").arg(jobs).arg(&members).query(c),
        )?;
        let mut found = Vec::with_capacity(ids.len());
        for (&id, value) in ids.iter().zip(values) {
            let Some(bytes) = value else { continue };
            let job = decode(id, bytes).ok_or_else(|| StoreError::Corrupt {
                table: self.jobs.clone(),
                id,
                detail: "the stored job cannot be decoded".into(),
            })?;
            found.push((id, job.data));
        }
        Ok(found)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jobs_round_trip_through_the_encoding() {
        let job = StoredJob {
            id: 7,
            function: Bytes::from_static(b"f\0n"),
            unique: Bytes::new(),
            priority: 2,
            when_to_run: 1_900_000_000,
            reducer: Bytes::from_static(b"sum"),
            data: Bytes::from_static(b"\0\xff\0"),
        };
        assert_eq!(decode(7, encode(&job)), Some(job));
        assert_eq!(decode(7, vec![2, 0, 0]), None);
        assert!(member(5) < member(40), "members sort in id order");
        assert_eq!(member(u64::MAX).len(), 20);
    }
}
