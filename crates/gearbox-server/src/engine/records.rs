//! The engine's durable objects other than queued jobs, as store records: their kinds, the
//! binary layout of their bodies, and the replay that rebuilds them at start.
//!
//! A body is a version byte followed by fields in a fixed order: numbers as 8 bytes big-endian,
//! byte strings as a 4-byte big-endian length and the bytes. A record that cannot be decoded
//! (written by a newer version, or damaged) is logged and left alone, never guessed at. Nothing
//! here decides anything about the objects; their rules are in `dead.rs`, `kept.rs`,
//! `schedule.rs` and `retry.rs`.

use bytes::{BufMut, Bytes, BytesMut};
use gearbox_store::StoredRecord;

use super::Engine;

/// A schedule created with SUBMIT_JOB_SCHED (`schedule.rs`), keyed by its handle number;
/// also the last firing of a configured schedule, keyed by its unique.
pub(super) const SCHEDULE: u8 = 1;
/// A dead letter (`dead.rs`), keyed by its id.
pub(super) const DEAD_LETTER: u8 = 2;
/// A kept result (`kept.rs`), keyed by the job's handle number.
pub(super) const RESULT: u8 = 3;
/// The attempts a stored job has used (`retry.rs`), keyed by its store id.
pub(super) const ATTEMPTS: u8 = 4;
/// The last firing of a schedule declared in the configuration, keyed by its unique.
pub(super) const FIRED: u8 = 5;

const VERSION: u8 = 1;

/// Builds a record body.
pub(super) struct Writer(BytesMut);

impl Writer {
    pub(super) fn new() -> Writer {
        let mut buf = BytesMut::with_capacity(64);
        buf.put_u8(VERSION);
        Writer(buf)
    }

    pub(super) fn num(mut self, n: u64) -> Writer {
        self.0.put_u64(n);
        self
    }

    pub(super) fn bytes(mut self, b: &[u8]) -> Writer {
        self.0.put_u32(u32::try_from(b.len()).unwrap_or(u32::MAX));
        self.0.put_slice(b);
        self
    }

    pub(super) fn record(self, kind: u8, key: Bytes) -> StoredRecord {
        StoredRecord {
            kind,
            key,
            body: self.0.freeze(),
        }
    }
}

/// Reads a record body written by [`Writer`]; every read fails on a short body.
pub(super) struct Reader {
    body: Bytes,
    at: usize,
}

/// A body that does not decode.
#[derive(Debug)]
pub(super) struct Undecodable;

impl Reader {
    pub(super) fn new(body: &Bytes) -> Result<Reader, Undecodable> {
        match body.first() {
            Some(&VERSION) => Ok(Reader {
                body: body.clone(),
                at: 1,
            }),
            _ => Err(Undecodable),
        }
    }

    fn take(&mut self, n: usize) -> Result<Bytes, Undecodable> {
        let end = self.at.checked_add(n).filter(|&e| e <= self.body.len());
        let end = end.ok_or(Undecodable)?;
        let out = self.body.slice(self.at..end);
        self.at = end;
        Ok(out)
    }

    pub(super) fn num(&mut self) -> Result<u64, Undecodable> {
        let b = self.take(8)?;
        Ok(u64::from_be_bytes(
            b[..].try_into().map_err(|_| Undecodable)?,
        ))
    }

    pub(super) fn bytes(&mut self) -> Result<Bytes, Undecodable> {
        let b = self.take(4)?;
        let len = u32::from_be_bytes(b[..].try_into().map_err(|_| Undecodable)?);
        self.take(len as usize)
    }
}

/// A number as a record key.
pub(super) fn number_key(n: u64) -> Bytes {
    Bytes::copy_from_slice(&n.to_be_bytes())
}

/// A record key read back as a number.
pub(super) fn key_number(key: &[u8]) -> Result<u64, Undecodable> {
    Ok(u64::from_be_bytes(key.try_into().map_err(|_| Undecodable)?))
}

impl Engine {
    /// Rebuild one durable object from the store at start, before the jobs are replayed
    /// ([`Engine::restore`]) and before any connection is accepted.
    pub fn restore_record(&mut self, record: StoredRecord, now: u64) {
        self.now = now;
        let restored = match record.kind {
            SCHEDULE => self.restore_schedule(&record),
            DEAD_LETTER => self.restore_dead_letter(&record),
            RESULT => self.restore_result(&record, now),
            ATTEMPTS => self.restore_attempts(&record),
            FIRED => self.restore_fired(&record),
            _ => Err(Undecodable),
        };
        if restored.is_err() {
            tracing::warn!(
                kind = record.kind,
                key = ?record.key,
                "a stored record could not be read; left as it is"
            );
        }
    }
}

impl Engine {
    /// The replay is over: attempt counts whose job was not in the store are dropped.
    pub fn restored(&mut self) {
        self.restored_attempts = Default::default();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_read_back_as_written_and_short_ones_fail() {
        let r = Writer::new()
            .num(7)
            .bytes(b"f\0n")
            .bytes(b"")
            .num(u64::MAX)
            .record(2, number_key(9));
        assert_eq!(key_number(&r.key).unwrap(), 9);
        let mut read = Reader::new(&r.body).unwrap();
        assert_eq!(read.num().unwrap(), 7);
        assert_eq!(&read.bytes().unwrap()[..], b"f\0n");
        assert!(read.bytes().unwrap().is_empty());
        assert_eq!(read.num().unwrap(), u64::MAX);
        assert!(read.num().is_err());
        let short = r.body.slice(..r.body.len() - 1);
        let mut read = Reader::new(&short).unwrap();
        read.num().unwrap();
        read.bytes().unwrap();
        read.bytes().unwrap();
        assert!(read.num().is_err());
        assert!(Reader::new(&Bytes::from_static(b"\x09")).is_err());
        assert!(Reader::new(&Bytes::new()).is_err());
        assert!(key_number(b"short").is_err());
    }
}
