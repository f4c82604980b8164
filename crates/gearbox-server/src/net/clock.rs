//! The engine's clock: milliseconds on a Unix-time scale that never go backwards. The only
//! place the server reads time for the engine.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Milliseconds on a Unix-time scale that never go backwards: the wall clock read once at
/// start, advanced by a monotonic clock.
#[derive(Debug, Clone, Copy)]
pub struct Clock {
    start: Instant,
    start_ms: u64,
}

impl Clock {
    /// Start the clock now.
    pub fn new() -> Clock {
        let start_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
        Clock {
            start: Instant::now(),
            start_ms,
        }
    }

    /// The time now, in milliseconds since the Unix epoch.
    pub fn now(&self) -> u64 {
        self.start_ms + u64::try_from(self.start.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    /// The instant at which [`Clock::now`] reads `ms`, for sleeping until it.
    pub fn instant(&self, ms: u64) -> Instant {
        self.start + Duration::from_millis(ms.saturating_sub(self.start_ms))
    }
}
