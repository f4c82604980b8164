//! The embedded default store: SQLite in WAL mode with full sync, so a committed job survives
//! `kill -9` and power loss.
//!
//! The table keeps gearmand's columns (`unique_key, function_name, priority, data,
//! when_to_run`) plus an integer `id` that orders the rows and is the key, so empty or repeated
//! uniques never overwrite each other (gearmand's sqlite queue keys on the unique and loses
//! them), and a `reducer` column for reduce jobs. A table written by gearmand's
//! `-q libsqlite3` is converted in place on open, in submission (rowid) order. Records
//! (schedules, dead letters, kept results) live in a second table, `<table>_records`, keyed by
//! kind and key.

use std::collections::HashSet;
use std::path::Path;

use bytes::Bytes;
use rusqlite::{params, Connection, OptionalExtension};
use tracing::info;

use crate::{table_layout, JobStore, StoreError, StoreOp, StoredJob, StoredRecord, TableLayout};

/// gearmand's default table name for `-q libsqlite3`.
pub const DEFAULT_TABLE: &str = "gearman_queue";

/// A job store in one SQLite database file.
pub struct SqliteStore {
    conn: Connection,
    table: String,
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStore")
            .field("table", &self.table)
            .finish_non_exhaustive()
    }
}

impl SqliteStore {
    /// Open (creating if needed) the database at `path` with the given table.
    pub fn open(path: &Path, table: &str) -> Result<SqliteStore, StoreError> {
        crate::check_table_name(table, usize::MAX)?;
        let conn = Connection::open(path)?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        let store = SqliteStore {
            conn,
            table: table.to_owned(),
        };
        store.prepare_table()?;
        Ok(store)
    }

    fn prepare_table(&self) -> Result<(), StoreError> {
        let t = &self.table;
        self.conn.execute_batch(&format!(
            "CREATE TABLE IF NOT EXISTS {t}_records (kind INTEGER NOT NULL, key BLOB NOT NULL, \
             body BLOB NOT NULL, PRIMARY KEY (kind, key))"
        ))?;
        let create = format!(
            "CREATE TABLE {t} (id INTEGER PRIMARY KEY, unique_key BLOB NOT NULL, \
             function_name BLOB NOT NULL, priority INTEGER NOT NULL, data BLOB NOT NULL, \
             when_to_run INTEGER NOT NULL, reducer BLOB NOT NULL DEFAULT x'')"
        );
        // No rows for a table that does not exist.
        let columns: Vec<String> = self
            .conn
            .prepare(&format!("PRAGMA table_info({t})"))?
            .query_map([], |row| row.get::<_, String>(1))?
            .collect::<Result<_, _>>()?;
        match table_layout(t, &columns)? {
            TableLayout::Missing => {
                self.conn.execute_batch(&create)?;
                return Ok(());
            }
            TableLayout::Ours => return Ok(()),
            TableLayout::Gearmand => {}
        }
        // A gearmand queue table: take its rows over in the order gearmand wrote them.
        let old = format!("{t}_gearmand_import");
        self.conn.execute_batch(&format!(
            "BEGIN IMMEDIATE;
             ALTER TABLE {t} RENAME TO {old};
             {create};
             INSERT INTO {t} (unique_key, function_name, priority, data, when_to_run)
               SELECT CAST(COALESCE(unique_key, '') AS BLOB), CAST(function_name AS BLOB),
                      COALESCE(priority, 1), CAST(COALESCE(data, x'') AS BLOB),
                      COALESCE(when_to_run, 0)
               FROM {old} ORDER BY rowid;
             DROP TABLE {old};
             COMMIT;"
        ))?;
        info!(table = %t, "converted a gearmand queue table");
        Ok(())
    }

    /// Number of stored jobs (for tests and diagnostics).
    pub fn len(&self) -> Result<u64, StoreError> {
        let n: i64 =
            self.conn
                .query_row(&format!("SELECT COUNT(*) FROM {}", self.table), [], |r| {
                    r.get(0)
                })?;
        Ok(u64::try_from(n).unwrap_or(0))
    }

    /// True when no job is stored.
    pub fn is_empty(&self) -> Result<bool, StoreError> {
        Ok(self.len()? == 0)
    }
}

/// SQLite integers are signed; ids and times are far below `i64::MAX`, and anything above it
/// is clamped rather than wrapped into a negative key.
fn int(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

impl JobStore for SqliteStore {
    fn append(&mut self, batch: &[StoreOp]) -> Result<(), StoreError> {
        // A job put and finished within one batch never needs to reach the disk.
        let put_here: HashSet<u64> = batch
            .iter()
            .filter_map(|op| match op {
                StoreOp::Put(job) | StoreOp::Offer(job) | StoreOp::OfferWatched(job) => {
                    Some(job.id)
                }
                _ => None,
            })
            .collect();
        let done_here: HashSet<u64> = batch
            .iter()
            .filter_map(|op| match op {
                StoreOp::Done { id } if put_here.contains(id) => Some(*id),
                _ => None,
            })
            .collect();
        let t = &self.table;
        let tx = self.conn.transaction()?;
        {
            let mut insert = tx.prepare_cached(&format!(
                "INSERT OR REPLACE INTO {t} \
                 (id, unique_key, function_name, priority, data, when_to_run, reducer) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)"
            ))?;
            let mut delete = tx.prepare_cached(&format!("DELETE FROM {t} WHERE id = ?1"))?;
            let mut put_record = tx.prepare_cached(&format!(
                "INSERT OR REPLACE INTO {t}_records (kind, key, body) VALUES (?1, ?2, ?3)"
            ))?;
            let mut drop_record = tx.prepare_cached(&format!(
                "DELETE FROM {t}_records WHERE kind = ?1 AND key = ?2"
            ))?;
            for op in batch {
                match op {
                    StoreOp::Put(job) | StoreOp::Offer(job) | StoreOp::OfferWatched(job)
                        if !done_here.contains(&job.id) =>
                    {
                        insert.execute(params![
                            int(job.id),
                            &job.unique[..],
                            &job.function[..],
                            job.priority,
                            &job.data[..],
                            int(job.when_to_run),
                            &job.reducer[..],
                        ])?;
                    }
                    StoreOp::Done { id } if !done_here.contains(id) => {
                        delete.execute([int(*id)])?;
                    }
                    StoreOp::PutRecord(r) => {
                        put_record.execute(params![r.kind, &r.key[..], &r.body[..]])?;
                    }
                    StoreOp::DropRecord { kind, key } => {
                        drop_record.execute(params![kind, &key[..]])?;
                    }
                    _ => {}
                }
            }
        }
        tx.commit()?;
        Ok(())
    }

    fn replay(&mut self, sink: &mut dyn FnMut(StoredJob)) -> Result<(), StoreError> {
        let mut stmt = self.conn.prepare(&format!(
            "SELECT id, unique_key, function_name, priority, data, when_to_run, reducer \
             FROM {} ORDER BY id",
            self.table
        ))?;
        let mut rows = stmt.query([])?;
        while let Some(row) = rows.next()? {
            let bytes = |i: usize| -> rusqlite::Result<Bytes> {
                let value = row.get_ref(i)?;
                Ok(match value {
                    rusqlite::types::ValueRef::Null => Bytes::new(),
                    other => Bytes::copy_from_slice(other.as_bytes()?),
                })
            };
            let priority: i64 = row.get(3)?;
            sink(StoredJob {
                id: u64::try_from(row.get::<_, i64>(0)?).unwrap_or(0),
                unique: bytes(1)?,
                function: bytes(2)?,
                priority: u8::try_from(priority.clamp(0, 2)).unwrap_or(1),
                data: bytes(4)?,
                when_to_run: u64::try_from(row.get::<_, i64>(5)?).unwrap_or(0),
                reducer: bytes(6)?,
            });
        }
        Ok(())
    }

    fn replay_records(&mut self, sink: &mut dyn FnMut(StoredRecord)) -> Result<(), StoreError> {
        let mut stmt = self.conn.prepare(&format!(
            "SELECT kind, key, body FROM {}_records",
            self.table
        ))?;
        let mut rows = stmt.query([])?;
        while let Some(row) = rows.next()? {
            let blob = |i: usize| -> rusqlite::Result<Bytes> {
                Ok(Bytes::copy_from_slice(row.get_ref(i)?.as_bytes()?))
            };
            sink(StoredRecord {
                kind: row.get(0)?,
                key: blob(1)?,
                body: blob(2)?,
            });
        }
        Ok(())
    }

    fn load(&mut self, ids: &[u64]) -> Result<Vec<(u64, Bytes)>, StoreError> {
        let mut select = self
            .conn
            .prepare_cached(&format!("SELECT data FROM {} WHERE id = ?1", self.table))?;
        let mut found = Vec::with_capacity(ids.len());
        for &id in ids {
            let data: Option<Vec<u8>> = select.query_row([int(id)], |row| row.get(0)).optional()?;
            if let Some(data) = data {
                found.push((id, Bytes::from(data)));
            }
        }
        Ok(found)
    }
}
