//! Reconnect pacing: jittered exponential backoff.
//!
//! This module owns the arithmetic only: given how many attempts in a row have failed, how long
//! to wait before the next one. It never sleeps and never touches a socket; the client pool and
//! the worker's connection loops do the waiting.

use std::time::Duration;

/// Delay between reconnect attempts to one server: `base · 2^(failures-1)` capped at `max`,
/// then a uniformly random value between half of that and all of it ("equal jitter"), so that
/// many clients that lost the same server do not come back in lockstep.
///
/// ```
/// use std::time::Duration;
/// use gearbox_client::Backoff;
///
/// let b = Backoff::new(Duration::from_millis(100), Duration::from_secs(5));
/// let d = b.delay(3); // third failure in a row: 200..=400 ms
/// assert!(d >= Duration::from_millis(200) && d <= Duration::from_millis(400));
/// assert!(b.delay(50) <= Duration::from_secs(5));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// Delay after the first failure (before jitter).
    pub base: Duration,
    /// Upper bound of any delay.
    pub max: Duration,
}

impl Default for Backoff {
    /// 100 ms doubling up to 10 s.
    fn default() -> Self {
        Backoff {
            base: Duration::from_millis(100),
            max: Duration::from_secs(10),
        }
    }
}

impl Backoff {
    /// A backoff with the given first delay and cap.
    pub fn new(base: Duration, max: Duration) -> Backoff {
        Backoff { base, max }
    }

    /// The delay to wait after `failures` consecutive failed attempts (0 means none: no wait).
    pub fn delay(&self, failures: u32) -> Duration {
        if failures == 0 {
            return Duration::ZERO;
        }
        let exp = (failures - 1).min(31);
        let full = self
            .base
            .checked_mul(1u32 << exp)
            .unwrap_or(self.max)
            .min(self.max);
        let half = full / 2;
        let spread = u64::try_from((full - half).as_micros()).unwrap_or(u64::MAX);
        half + Duration::from_micros(fastrand::u64(0..=spread))
    }
}
