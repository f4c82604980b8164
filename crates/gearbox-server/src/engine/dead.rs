//! Dead letters: background jobs that failed for good (their retries used up, or a failure
//! their policy does not retry) under a function whose policy keeps them (`dead_letter`).
//! Each is kept, durably, with everything needed to run it again: function, unique, workload,
//! priority, attempts, the last failure and its text, the last worker's client id and when it
//! died. The admin commands `dead list|show|retry|purge` read and act on them; a retried dead
//! letter is a new background job with the same unique, and leaves the set once submitted.
//!
//! Dead letters are kept in memory as well as in the store, so the set is bounded only by
//! the operator's purges; nothing here sends to a worker or a waiting client.
//!
//! In a cluster the records table is shared: every node follows the dead letters there at
//! each heartbeat (`Engine::sync_dead_letters`), so each lists, shows, retries and purges
//! those of every node, and one retried or purged on one node leaves the others.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write as _;

use base64::Engine as _;
use bytes::Bytes;
use gearbox_proto::DeadSelector;
use gearbox_store::{StoreOp, StoredRecord};

use super::admin::{printable, utc};
use super::job::Priority;
use super::records::{key_number, number_key, Reader, Undecodable, Writer, DEAD_LETTER};
use super::retry::Failure;
use super::{ConnId, Engine, Outbox};

/// The answer for an id that names no dead letter (or one the connection may not see).
const NOT_FOUND: &[u8] = b"ERR NOT_FOUND No+such+dead+letter\r\n";

/// One dead letter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct DeadLetter {
    pub function: Bytes,
    pub unique: Bytes,
    pub workload: Bytes,
    pub priority: Priority,
    /// Attempts made, the first included.
    pub attempts: u32,
    pub failure: Failure,
    /// The exception's text (WORK_EXCEPTION), else empty.
    pub detail: Bytes,
    /// The client id of the worker that had it last (`-` when it set none).
    pub worker: Bytes,
    /// When it failed for good, Unix seconds.
    pub failed_at: u64,
}

/// The dead letters by id (ascending ids are the order they died in).
#[derive(Debug, Default)]
pub(super) struct DeadLetters {
    by_id: BTreeMap<u64, DeadLetter>,
    next_id: u64,
    /// In a cluster: the ids the shared table held at the last heartbeat.
    seen: BTreeSet<u64>,
    /// In a cluster: ids retried or purged here whose record may still be in the table (its
    /// deletion not yet written when a heartbeat reads it): not taken in again.
    dropped: BTreeSet<u64>,
    /// In a cluster: this node's dead letters no heartbeat has seen in the table yet.
    pub(super) own: BTreeMap<u64, Written>,
}

/// Where the write of a node's own dead letter is.
#[derive(Debug, Clone, Copy)]
pub(super) enum Written {
    /// Not reported yet: the write's sequence number.
    Pending(u64),
    /// Committed, reported at this time (engine milliseconds).
    At(u64),
}

impl DeadLetters {
    /// Every dead letter, oldest first.
    pub(super) fn iter(&self) -> impl Iterator<Item = (&u64, &DeadLetter)> {
        self.by_id.iter()
    }

    /// Dead letters kept.
    pub(super) fn len(&self) -> usize {
        self.by_id.len()
    }
}

impl Failure {
    fn code(self) -> u64 {
        match self {
            Failure::Lost => 0,
            Failure::Timeout => 1,
            Failure::Fail => 2,
            Failure::Exception => 3,
        }
    }

    fn from_code(code: u64) -> Result<Failure, Undecodable> {
        Ok(match code {
            0 => Failure::Lost,
            1 => Failure::Timeout,
            2 => Failure::Fail,
            3 => Failure::Exception,
            _ => return Err(Undecodable),
        })
    }

    /// `lost`, `timeout`, `fail` or `exception`, as listings show it.
    pub(super) fn name(self) -> &'static str {
        match self {
            Failure::Lost => "lost",
            Failure::Timeout => "timeout",
            Failure::Fail => "fail",
            Failure::Exception => "exception",
        }
    }
}

fn priority_from(code: u64) -> Priority {
    match code {
        0 => Priority::High,
        2 => Priority::Low,
        _ => Priority::Normal,
    }
}

fn decode(r: &StoredRecord) -> Result<(u64, DeadLetter), Undecodable> {
    let id = key_number(&r.key)?;
    let mut read = Reader::new(&r.body)?;
    let letter = DeadLetter {
        function: read.bytes()?,
        unique: read.bytes()?,
        workload: read.bytes()?,
        priority: priority_from(read.num()?),
        attempts: u32::try_from(read.num()?).unwrap_or(u32::MAX),
        failure: Failure::from_code(read.num()?)?,
        detail: read.bytes()?,
        worker: read.bytes()?,
        failed_at: read.num()?,
    };
    Ok((id, letter))
}

fn record(id: u64, d: &DeadLetter) -> StoredRecord {
    Writer::new()
        .bytes(&d.function)
        .bytes(&d.unique)
        .bytes(&d.workload)
        .num(d.priority as u64)
        .num(u64::from(d.attempts))
        .num(d.failure.code())
        .bytes(&d.detail)
        .bytes(&d.worker)
        .num(d.failed_at)
        .record(DEAD_LETTER, number_key(id))
}

impl Engine {
    /// Keep a dead letter (in memory and, with a durable store, in the store).
    pub(super) fn bury(&mut self, letter: DeadLetter, out: &mut impl Outbox) {
        // In a cluster the records table is shared: numbers from this start's range of ids,
        // which no other node uses.
        let floor = if self.config.cluster {
            self.config.first_handle
        } else {
            1
        };
        self.dead.next_id = self.dead.next_id.max(floor);
        let id = self.dead.next_id;
        self.dead.next_id += 1;
        if self.config.cluster && self.config.durable {
            self.dead.own.insert(id, Written::Pending(self.next_seq));
        }
        if self.config.durable {
            self.persist(StoreOp::PutRecord(record(id, &letter)), out);
        }
        tracing::warn!(
            dead_letter = id,
            function = %String::from_utf8_lossy(&letter.function),
            failure = letter.failure.name(),
            attempts = letter.attempts,
            "a background job failed for good and was kept as a dead letter"
        );
        self.counters.dead_lettered += 1;
        self.dead.by_id.insert(id, letter);
    }

    pub(super) fn restore_dead_letter(&mut self, r: &StoredRecord) -> Result<(), Undecodable> {
        let (id, letter) = decode(r)?;
        if self.config.cluster {
            // Numbered in its node's range; this start's is above every earlier one.
            self.dead.seen.insert(id);
        } else {
            self.dead.next_id = self.dead.next_id.max(id + 1);
        }
        self.dead.by_id.insert(id, letter);
        Ok(())
    }

    /// The store reported its writes up to `through` (failed, unless `ok`): this node's dead
    /// letters written by then are in the table from now on (a failed one never will be, and
    /// stays this node's alone).
    pub(super) fn dead_letters_written(&mut self, through: u64, ok: bool, now: u64) {
        self.dead.own.retain(|_, written| match *written {
            Written::Pending(seq) if seq <= through => {
                *written = Written::At(now);
                ok
            }
            _ => true,
        });
    }

    /// In a cluster, the dead letters as the shared table holds them now (read from
    /// `read_at`): `keys` of all, and among `records` those new since the last heartbeat.
    /// Another node's new ones are taken in; those gone since they were seen (retried or
    /// purged on another node) are dropped, and so are this node's own written before the
    /// read and not in it; its own not written yet stay.
    pub fn sync_dead_letters(
        &mut self,
        keys: &[(u8, Bytes)],
        records: &[StoredRecord],
        read_at: u64,
    ) {
        let in_table: BTreeSet<u64> = keys
            .iter()
            .filter(|(kind, _)| *kind == DEAD_LETTER)
            .filter_map(|(_, key)| key_number(key).ok())
            .collect();
        self.dead.dropped.retain(|id| in_table.contains(id));
        for r in records.iter().filter(|r| r.kind == DEAD_LETTER) {
            match decode(r) {
                Ok((id, _)) if self.dead.dropped.contains(&id) => {}
                Ok((id, letter)) => {
                    self.dead.by_id.entry(id).or_insert(letter);
                }
                Err(_) => tracing::warn!("skipping an undecodable dead letter of another node"),
            }
        }
        let mut gone: Vec<u64> = self.dead.seen.difference(&in_table).copied().collect();
        self.dead.own.retain(|id, written| match *written {
            _ if in_table.contains(id) => false,
            // Written before the read began (with a margin for the clocks' rounding).
            Written::At(at) if at + 5 < read_at => {
                gone.push(*id);
                false
            }
            _ => true,
        });
        for id in gone {
            self.dead.by_id.remove(&id);
        }
        self.dead.seen = in_table;
    }

    /// The ids a selector names, in id order, limited to the functions `id` may see.
    fn dead_selected(&self, conn: Option<ConnId>, selector: &DeadSelector) -> Vec<u64> {
        self.dead
            .by_id
            .iter()
            .filter(|(&n, d)| match selector {
                DeadSelector::Id(want) => n == *want,
                DeadSelector::Function(f) => d.function == *f,
                DeadSelector::All => true,
            })
            .filter(|(_, d)| self.visible(conn, &d.function))
            .map(|(&n, _)| n)
            .collect()
    }

    /// `dead list [FUNCTION]`: one line per dead letter, oldest first.
    pub(super) fn dead_list(
        &self,
        conn: Option<ConnId>,
        function: Option<&Bytes>,
        text: &mut Vec<u8>,
    ) {
        for d in self.dead_letters_view(function.map(|f| &f[..])) {
            if !self.visible(conn, &d.function) {
                continue;
            }
            let _ = write!(text, "{}\t", d.id);
            printable(&d.function, text);
            text.push(b'\t');
            printable(&d.unique, text);
            let failed_at = i64::try_from(d.failed_at).unwrap_or(i64::MAX);
            let _ = write!(
                text,
                "\t{}\t{}\t{}\t{}\t",
                d.priority.name(),
                d.attempts,
                d.failure,
                utc(failed_at)
            );
            printable(&d.worker, text);
            let _ = writeln!(text, "\t{}", d.workload.len());
        }
        text.extend_from_slice(b".\n");
    }

    /// `dead show ID`: every field on a line of its own, bytes in base64.
    pub(super) fn dead_show(&self, conn: Option<ConnId>, id: u64, text: &mut Vec<u8>) {
        let Some(d) = self
            .dead
            .by_id
            .get(&id)
            .filter(|d| self.visible(conn, &d.function))
        else {
            text.extend_from_slice(NOT_FOUND);
            return;
        };
        let b64 = |b: &[u8]| base64::engine::general_purpose::STANDARD.encode(b);
        let failed_at = i64::try_from(d.failed_at).unwrap_or(i64::MAX);
        let _ = write!(
            text,
            "id\t{id}\nfunction\t{}\nunique\t{}\npriority\t{}\nattempts\t{}\nfailure\t{}\n\
             detail\t{}\nworker\t{}\nfailed_at\t{}\nworkload\t{}\n.\n",
            b64(&d.function),
            b64(&d.unique),
            d.priority.name(),
            d.attempts,
            d.failure.name(),
            b64(&d.detail),
            b64(&d.worker),
            utc(failed_at),
            b64(&d.workload),
        );
    }

    /// `dead retry ...`: submit each selected dead letter again as a background job with its
    /// unique, workload and priority; one that cannot be submitted (a job with its unique is
    /// still there, its queue is full) stays. Answers `OK <number submitted>`, or
    /// `ERR NOT_FOUND` for an id that names no dead letter.
    pub(super) fn dead_retry(
        &mut self,
        conn: Option<ConnId>,
        selector: &DeadSelector,
        now: u64,
        out: &mut impl Outbox,
    ) -> Vec<u8> {
        let selected = self.dead_selected(conn, selector);
        if selected.is_empty() && matches!(selector, DeadSelector::Id(_)) {
            return NOT_FOUND.to_vec();
        }
        let mut submitted = 0;
        for n in selected {
            let d = self.dead.by_id[&n].clone();
            match self.submit_own(&d.function, &d.unique, &d.workload, d.priority, now, out) {
                Ok(_) => {
                    self.unbury(n, out);
                    submitted += 1;
                }
                Err(reason) => tracing::info!(dead_letter = n, reason, "dead letter not retried"),
            }
        }
        format!("OK {submitted}\r\n").into_bytes()
    }

    /// `dead purge ...`: forget the selected dead letters. Answers `OK <number purged>`, or
    /// `ERR NOT_FOUND` for an id that names no dead letter.
    pub(super) fn dead_purge(
        &mut self,
        conn: Option<ConnId>,
        selector: &DeadSelector,
        out: &mut impl Outbox,
    ) -> Vec<u8> {
        let ids = self.dead_selected(conn, selector);
        if ids.is_empty() && matches!(selector, DeadSelector::Id(_)) {
            return NOT_FOUND.to_vec();
        }
        for &n in &ids {
            self.unbury(n, out);
        }
        format!("OK {}\r\n", ids.len()).into_bytes()
    }

    fn unbury(&mut self, id: u64, out: &mut impl Outbox) {
        if self.config.cluster {
            self.dead.dropped.insert(id);
        }
        if self.dead.by_id.remove(&id).is_some() && self.config.durable {
            self.persist(
                StoreOp::DropRecord {
                    kind: DEAD_LETTER,
                    key: number_key(id),
                },
                out,
            );
        }
    }
}
