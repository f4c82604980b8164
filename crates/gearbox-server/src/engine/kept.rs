//! Kept results: the outcome of each background job of a function whose policy keeps them
//! (`keep_results`), for that long, durably: complete with its data (cut to the policy's size
//! cap; the full size is still told), fail, or the exception's text. The admin command
//! `result HANDLE` or `result FUNCTION UNIQUE` answers one line, `OK <state> <size> [<base64>]`,
//! where the state is `complete`, `fail`, `exception`, `pending` (the job is still queued or
//! running) or `unknown`.
//!
//! A result is found by its job's handle (handles survive restarts, `store.rs`) and by its
//! function and unique (the latest job with that unique). Each expires on a timer; an expired
//! one is dropped from memory and the store. Nothing here changes what GET_STATUS answers.

use base64::Engine as _;
use bytes::Bytes;
use gearbox_proto::ResultKey;
use gearbox_store::{StoreOp, StoredRecord, RECORD_ROW};
use rustc_hash::FxHashMap;

use super::records::{key_number, number_key, Reader, Undecodable, Writer, RESULT};
use super::timer::{Timer, TimerKind};
use super::{Answer, ConnId, Engine, Outbox};

/// How a job ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Ended {
    Complete,
    Fail,
    Exception,
}

impl Ended {
    fn name(self) -> &'static str {
        match self {
            Ended::Complete => "complete",
            Ended::Fail => "fail",
            Ended::Exception => "exception",
        }
    }

    fn code(self) -> u64 {
        self as u64
    }

    fn from_code(code: u64) -> Result<Ended, Undecodable> {
        Ok(match code {
            0 => Ended::Complete,
            1 => Ended::Fail,
            2 => Ended::Exception,
            _ => return Err(Undecodable),
        })
    }
}

/// One kept outcome.
#[derive(Debug, Clone)]
struct Kept {
    function: Bytes,
    unique: Bytes,
    ended: Ended,
    /// The full size of the data.
    size: u64,
    /// The data, possibly cut to the cap.
    data: Bytes,
    /// When it is forgotten, engine milliseconds.
    expires: u64,
}

/// Kept results by handle number, and the latest by function and unique.
#[derive(Debug, Default)]
pub(super) struct KeptResults {
    by_handle: FxHashMap<u64, Kept>,
    by_unique: FxHashMap<(Bytes, Bytes), u64>,
}

impl KeptResults {
    /// Results kept.
    pub(super) fn len(&self) -> usize {
        self.by_handle.len()
    }

    fn insert(&mut self, handle_no: u64, kept: Kept) {
        if !kept.unique.is_empty() {
            let key = (kept.function.clone(), kept.unique.clone());
            self.by_unique.insert(key, handle_no);
        }
        self.by_handle.insert(handle_no, kept);
    }

    fn remove(&mut self, handle_no: u64) -> bool {
        let Some(kept) = self.by_handle.remove(&handle_no) else {
            return false;
        };
        let key = (kept.function, kept.unique);
        if self.by_unique.get(&key) == Some(&handle_no) {
            self.by_unique.remove(&key);
        }
        true
    }
}

impl Kept {
    fn decode(body: &Bytes) -> Result<Kept, Undecodable> {
        let mut read = Reader::new(body)?;
        Ok(Kept {
            function: read.bytes()?,
            unique: read.bytes()?,
            ended: Ended::from_code(read.num()?)?,
            size: read.num()?,
            data: read.bytes()?,
            expires: read.num()?,
        })
    }

    /// The `result` answer for it.
    fn line(&self) -> Vec<u8> {
        let mut line = format!("OK {} {}", self.ended.name(), self.size).into_bytes();
        if !self.data.is_empty() {
            line.push(b' ');
            let encoded = base64::engine::general_purpose::STANDARD.encode(&self.data);
            line.extend_from_slice(encoded.as_bytes());
        }
        line.extend_from_slice(b"\r\n");
        line
    }
}

const PENDING: &[u8] = b"OK pending 0\r\n";
const UNKNOWN: &[u8] = b"OK unknown 0\r\n";

fn record(handle_no: u64, k: &Kept) -> StoredRecord {
    Writer::new()
        .bytes(&k.function)
        .bytes(&k.unique)
        .num(k.ended.code())
        .num(k.size)
        .bytes(&k.data)
        .num(k.expires)
        .record(RESULT, number_key(handle_no))
}

impl Engine {
    /// Keep the outcome of the background job `handle_no` if its function's policy says so.
    pub(super) fn keep_result(
        &mut self,
        handle_no: u64,
        function: &Bytes,
        unique: &[u8],
        ended: Ended,
        data: &[u8],
        out: &mut impl Outbox,
    ) {
        let Some(policy) = self.config.keep_policies.get(function).copied() else {
            return;
        };
        if policy.keep_results_ms == 0 {
            return;
        }
        let cap = data.len().min(policy.max_result_bytes as usize);
        let kept = Kept {
            function: function.clone(),
            unique: Bytes::copy_from_slice(unique),
            ended,
            size: data.len() as u64,
            data: Bytes::copy_from_slice(&data[..cap]),
            expires: self.now.saturating_add(policy.keep_results_ms),
        };
        if self.config.durable {
            self.persist(StoreOp::PutRecord(record(handle_no, &kept)), out);
        }
        self.arm_expiry(handle_no, kept.expires);
        self.kept.insert(handle_no, kept);
    }

    fn arm_expiry(&mut self, handle_no: u64, expires: u64) {
        self.timers.arm(Timer {
            deadline: expires,
            kind: TimerKind::ResultExpires(handle_no),
        });
    }

    /// A result's timer fired: forget it if its time has come (a newer outcome for the same
    /// handle cannot exist, but its time is checked anyway).
    pub(super) fn expire_result(&mut self, handle_no: u64, now: u64, out: &mut impl Outbox) {
        let due = self
            .kept
            .by_handle
            .get(&handle_no)
            .is_some_and(|k| k.expires <= now);
        if due && self.kept.remove(handle_no) && self.config.durable {
            self.persist(
                StoreOp::DropRecord {
                    kind: RESULT,
                    key: number_key(handle_no),
                },
                out,
            );
        }
    }

    /// Rebuild a kept result at start; one already expired is dropped at the first tick.
    pub(super) fn restore_result(
        &mut self,
        r: &StoredRecord,
        _now: u64,
    ) -> Result<(), Undecodable> {
        let handle_no = key_number(&r.key)?;
        let kept = Kept::decode(&r.body)?;
        self.handle_seen(handle_no);
        self.arm_expiry(handle_no, kept.expires);
        self.kept.insert(handle_no, kept);
        Ok(())
    }

    /// `result HANDLE` / `result FUNCTION UNIQUE`. In a cluster, a handle neither a job nor a
    /// result here has is looked up in the store: the job may wait or run elsewhere, or have
    /// ended on another node, which kept its result.
    pub(super) fn result_answer(
        &mut self,
        conn: Option<ConnId>,
        key: &ResultKey,
        out: &mut impl Outbox,
    ) -> Answer {
        let line = self.result_line(conn, key);
        if let (None, ResultKey::Handle(handle)) = (&line, key) {
            if let Some(token) = self.result_elsewhere(conn, handle, out) {
                return Answer::Later(token);
            }
        }
        Answer::Now(line.unwrap_or_else(|| UNKNOWN.to_vec()))
    }

    /// The answer to a `result` lookup in the store for the job `handle_no` (see
    /// [`Engine::result_answer`]): `rows` holds the job's id if it is stored, and the result's
    /// record as [`RECORD_ROW`].
    pub(super) fn stored_result_line(
        &self,
        handle_no: u64,
        rows: &[(u64, Bytes)],
        now: u64,
    ) -> Vec<u8> {
        let kept = rows
            .iter()
            .find(|(row, _)| *row == RECORD_ROW)
            .and_then(|(_, body)| Kept::decode(body).ok())
            .filter(|k| k.expires > now);
        match kept {
            Some(k) => k.line(),
            None if rows.iter().any(|(row, _)| *row == handle_no) => PENDING.to_vec(),
            None => UNKNOWN.to_vec(),
        }
    }

    /// The answer from what this node knows, if it knows the job or its result.
    fn result_line(&self, conn: Option<ConnId>, key: &ResultKey) -> Option<Vec<u8>> {
        let (live, kept) = match key {
            ResultKey::Handle(handle) => {
                let handle_no = self.handle_no(handle);
                let live = self.lookup(handle).map(|j| self.jobs[j].function);
                let live = live.map(|f| self.functions[f].name.clone());
                (live, handle_no.and_then(|n| self.kept.by_handle.get(&n)))
            }
            ResultKey::Unique { function, unique } => {
                let live = self
                    .function_ids
                    .get(function)
                    .and_then(|&f| self.uniques.get(&self.jobs, f, unique))
                    .map(|_| function.clone());
                let key = (function.clone(), unique.clone());
                let kept = self.kept.by_unique.get(&key);
                (live, kept.and_then(|n| self.kept.by_handle.get(n)))
            }
        };
        match (live, kept) {
            (Some(f), _) if self.visible(conn, &f) => Some(PENDING.to_vec()),
            (None, Some(k)) if self.visible(conn, &k.function) => Some(k.line()),
            // Known here, but not to this asker: as if unknown, and not looked up elsewhere.
            (Some(_), _) | (None, Some(_)) => Some(UNKNOWN.to_vec()),
            (None, None) => None,
        }
    }
}
