//! Job numbering and the exactly-once ledger: how a job number is written into a workload, how
//! it is read back, and the record of which numbers have been completed.
//!
//! Every job a scenario submits gets a number `0..n`, written as the first [`NUM_LEN`] bytes
//! of its workload (zero-padded decimal, the rest padding). Whoever receives the job (a worker,
//! or a client getting an echoed result) reads the number back and marks it in a [`Ledger`]:
//! a number marked twice is a duplicate, a number out of range or an unreadable workload is a
//! foreign job, and a number never marked by the end is a lost job. Any of the three fails the
//! run. The ledger is a bitset of atomics so that tasks can share it without locks.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use bytes::{BufMut as _, BytesMut};

/// Bytes of a workload that carry the job number.
pub const NUM_LEN: usize = 12;

/// Append a workload of `size` bytes (at least [`NUM_LEN`]) carrying job number `num`.
pub fn put_payload(out: &mut BytesMut, num: u64, size: usize) {
    let mut digits = [b'0'; NUM_LEN];
    let mut n = num;
    for d in digits.iter_mut().rev() {
        *d = b'0' + (n % 10) as u8;
        n /= 10;
    }
    out.put_slice(&digits);
    out.put_bytes(b'.', size.saturating_sub(NUM_LEN));
}

/// The job number at the start of a workload, if it has one.
pub fn parse_num(data: &[u8]) -> Option<u64> {
    let digits = data.get(..NUM_LEN)?;
    let mut n = 0u64;
    for &d in digits {
        if !d.is_ascii_digit() {
            return None;
        }
        n = n * 10 + u64::from(d - b'0');
    }
    Some(n)
}

/// Which job numbers have been seen and when the last one was.
pub struct Ledger {
    bits: Vec<AtomicU64>,
    n: u64,
    done: AtomicU64,
    last_ns: AtomicU64,
    t0: Instant,
}

impl Ledger {
    /// A ledger for numbers `0..n`, timing from `t0`.
    pub fn new(n: u64, t0: Instant) -> Ledger {
        Ledger {
            bits: (0..n.div_ceil(64)).map(|_| AtomicU64::new(0)).collect(),
            n,
            done: AtomicU64::new(0),
            last_ns: AtomicU64::new(0),
            t0,
        }
    }

    /// Record number `num` as done. A duplicate or out-of-range number is an error, also
    /// recorded as the run's failure.
    pub fn mark(&self, num: u64, what: &str) -> Result<(), String> {
        if num >= self.n {
            let msg = format!(
                "foreign job: {what} carries job number {num}, outside 0..{}",
                self.n
            );
            crate::run::fail(msg.clone());
            return Err(msg);
        }
        let bit = 1u64 << (num % 64);
        let prev = self.bits[(num / 64) as usize].fetch_or(bit, Ordering::Relaxed);
        if prev & bit != 0 {
            let msg = format!("duplicated job: number {num} seen twice ({what})");
            crate::run::fail(msg.clone());
            return Err(msg);
        }
        self.done.fetch_add(1, Ordering::Relaxed);
        let ns = u64::try_from(self.t0.elapsed().as_nanos()).unwrap_or(u64::MAX);
        self.last_ns.fetch_max(ns, Ordering::Relaxed);
        Ok(())
    }

    /// How many numbers the ledger covers.
    pub fn len(&self) -> u64 {
        self.n
    }

    /// How many distinct numbers are done.
    pub fn done(&self) -> u64 {
        self.done.load(Ordering::Relaxed)
    }

    /// Seconds from `t0` to the latest mark.
    pub fn last_secs(&self) -> f64 {
        self.last_ns.load(Ordering::Relaxed) as f64 / 1e9
    }

    /// Up to `limit` numbers not yet done, for the "lost jobs" message.
    pub fn missing(&self, limit: usize) -> Vec<u64> {
        (0..self.n)
            .filter(|&i| {
                self.bits[(i / 64) as usize].load(Ordering::Relaxed) & (1 << (i % 64)) == 0
            })
            .take(limit)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payload_round_trip() {
        let mut out = BytesMut::new();
        put_payload(&mut out, 4711, 100);
        assert_eq!(out.len(), 100);
        assert_eq!(&out[..NUM_LEN], b"000000004711");
        assert_eq!(parse_num(&out), Some(4711));
        assert_eq!(parse_num(b"12"), None);
        assert_eq!(parse_num(b"00000000x000"), None);
    }

    #[test]
    fn ledger_detects_duplicates_and_strangers() {
        let l = Ledger::new(100, Instant::now());
        assert!(l.mark(3, "a").is_ok());
        assert!(l.mark(99, "b").is_ok());
        assert_eq!(l.done(), 2);
        assert!(l.mark(3, "c").unwrap_err().contains("duplicated"));
        assert!(l.mark(100, "d").is_err());
        assert_eq!(l.missing(2), vec![0, 1]);
    }
}
