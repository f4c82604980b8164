//! Output that peers have not read yet: the limits on it, and whom to cut off when they are
//! passed.
//!
//! A peer is cut off for not reading, measured as such: its unsent output is above the
//! per-connection limit *and* its socket has taken nothing for the stall timeout. A peer that
//! reads, however slowly, is never cut for one large answer (an ECHO of the largest body, a big
//! WORK_COMPLETE, a long `status` listing). While a peer's unsent output is above the limit the
//! server reads no more of its requests, so a peer that pipelines requests without reading the
//! replies is held back by TCP instead of growing its buffer. All unsent output together is
//! bounded by a server-wide budget: beyond it the peers stalled longest are cut first, then
//! those with the most unsent output. Nothing here does I/O; the connection layer applies it.

use std::cell::Cell;
use std::time::{Duration, Instant};

use crate::engine::ConnId;

/// The limits on one connection's unsent output.
#[derive(Debug, Clone, Copy)]
pub struct OutboundLimits {
    /// Unsent bytes above which a connection's requests are no longer read, and it is cut off
    /// once its socket has taken nothing for `stall_timeout`.
    pub per_conn: usize,
    /// How long a connection above `per_conn` may go without its socket taking a byte.
    pub stall_timeout: Duration,
}

/// Unsent bytes of all connections, kept by the connections as they queue and write.
#[derive(Debug, Default)]
pub struct Unsent(Cell<usize>);

impl Unsent {
    /// `n` more bytes are queued.
    pub fn add(&self, n: usize) {
        self.0.set(self.0.get() + n);
    }

    /// `n` bytes were written or dropped.
    pub fn sub(&self, n: usize) {
        self.0.set(self.0.get().saturating_sub(n));
    }

    /// Unsent bytes in all.
    pub fn get(&self) -> usize {
        self.0.get()
    }
}

/// One connection as the budget sees it.
#[derive(Debug, Clone, Copy)]
pub struct Backlog {
    /// The connection.
    pub conn: ConnId,
    /// Since when its socket has taken nothing, if it is full.
    pub stalled_since: Option<Instant>,
    /// Its unsent bytes.
    pub unsent: usize,
}

/// Whom to cut so that `unsent` falls to `total` or below: peers stalled longest first, then
/// those with the most unsent output.
pub fn over_budget(mut backlogs: Vec<Backlog>, unsent: usize, total: usize) -> Vec<ConnId> {
    backlogs.retain(|b| b.unsent > 0);
    backlogs.sort_by(|a, b| match (a.stalled_since, b.stalled_since) {
        (Some(x), Some(y)) => x.cmp(&y),
        (Some(_), None) => std::cmp::Ordering::Less,
        (None, Some(_)) => std::cmp::Ordering::Greater,
        (None, None) => b.unsent.cmp(&a.unsent),
    });
    let mut left = unsent;
    backlogs
        .into_iter()
        .take_while(|b| {
            let cut = left > total;
            left = left.saturating_sub(b.unsent);
            cut
        })
        .map(|b| b.conn)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_longest_stalled_go_first_then_the_largest_backlogs() {
        let t0 = Instant::now();
        let at = |ms| Some(t0 + Duration::from_millis(ms));
        let backlog = |conn, stalled_since, unsent| Backlog {
            conn: ConnId(conn),
            stalled_since,
            unsent,
        };
        let all = vec![
            backlog(1, None, 50),
            backlog(2, at(20), 10),
            backlog(3, at(10), 10),
            backlog(4, None, 80),
            backlog(5, None, 0),
        ];
        let total: usize = all.iter().map(|b| b.unsent).sum();
        assert!(over_budget(all.clone(), total, total).is_empty());
        assert_eq!(over_budget(all.clone(), total, total - 1), [ConnId(3)]);
        assert_eq!(
            over_budget(all.clone(), total, total - 15),
            [ConnId(3), ConnId(2)]
        );
        assert_eq!(
            over_budget(all.clone(), total, total - 21),
            [ConnId(3), ConnId(2), ConnId(4)]
        );
        assert_eq!(over_budget(all, total, 0).len(), 4);
    }
}
