//! Schedules in a named time zone (`timezone = "Europe/Paris"` in a `[[schedule]]`): the cron
//! fields are read as that zone's wall-clock time, through its daylight-saving changes.
//!
//! A wall-clock time that does not exist (skipped when clocks go forward) fires at the same
//! distance after the change (02:30 becomes 03:30); one that happens twice (clocks go back)
//! fires once, at its first occurrence, and the repeated hour fires nothing again. The zone
//! rules come from the system's zoneinfo database (`/usr/share/zoneinfo`). This module does
//! no I/O after the zone is loaded and reads no clock; times are Unix seconds.

use jiff::tz::TimeZone;
use jiff::Timestamp;

use crate::cron::Cron;

/// A named time zone.
#[derive(Debug, Clone)]
pub struct Zone {
    name: String,
    tz: TimeZone,
}

impl PartialEq for Zone {
    fn eq(&self, other: &Zone) -> bool {
        self.name == other.name
    }
}

impl Eq for Zone {}

impl Zone {
    /// The zone called `name` (an IANA name such as `America/New_York`, or `UTC`).
    pub fn get(name: &str) -> Result<Zone, String> {
        let tz = TimeZone::get(name).map_err(|e| format!("time zone {name:?}: {e}"))?;
        Ok(Zone {
            name: name.to_owned(),
            tz,
        })
    }

    /// Its name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The wall-clock time at `t`, as seconds since 1970-01-01T00:00 wall-clock time.
    fn local(&self, t: i64) -> Option<i64> {
        let ts = Timestamp::from_second(t).ok()?;
        Some(t + i64::from(self.tz.to_offset(ts).seconds()))
    }

    /// The instant of the wall-clock time `local` (seconds as [`Zone::local`] counts them):
    /// a skipped time moves forward by the gap, a repeated one is its first occurrence.
    fn instant(&self, local: i64) -> Option<i64> {
        let civil = Timestamp::from_second(local)
            .ok()?
            .to_zoned(TimeZone::UTC)
            .datetime();
        let zoned = self.tz.to_ambiguous_zoned(civil).compatible().ok()?;
        Some(zoned.timestamp().as_second())
    }
}

/// The first firing of `cron` strictly after `t`, in `zone`'s wall-clock time (UTC without
/// one).
pub fn next_firing(cron: &Cron, zone: Option<&Zone>, t: i64) -> Option<i64> {
    let Some(zone) = zone else {
        return cron.next_after(t);
    };
    let mut local = zone.local(t)?;
    // A candidate at or before `t` is a repeated wall-clock time already past; the next one
    // is then searched from it. A day has at most a few such minutes.
    for _ in 0..1_500 {
        let candidate = cron.next_after(local)?;
        let at = zone.instant(candidate)?;
        if at > t {
            return Some(at);
        }
        local = candidate;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Unix seconds of a UTC time written `YYYY-MM-DDTHH:MM:SSZ`.
    fn at(text: &str) -> i64 {
        text.parse::<Timestamp>().unwrap().as_second()
    }

    fn next(cron: &str, zone: &str, after: &str) -> String {
        let zone = Zone::get(zone).unwrap();
        let cron = Cron::parse(cron).unwrap();
        let t = next_firing(&cron, Some(&zone), at(after)).unwrap();
        Timestamp::from_second(t).unwrap().to_string()
    }

    #[test]
    fn fields_are_wall_clock_time_in_the_zone() {
        // 09:00 in Paris is 08:00 UTC in winter, 07:00 UTC in summer.
        assert_eq!(
            next("0 9 * * *", "Europe/Paris", "2026-01-10T12:00:00Z"),
            "2026-01-11T08:00:00Z"
        );
        assert_eq!(
            next("0 9 * * *", "Europe/Paris", "2026-07-10T12:00:00Z"),
            "2026-07-11T07:00:00Z"
        );
        assert_eq!(
            next("30 17 * * fri", "America/New_York", "2026-12-04T12:00:00Z"),
            "2026-12-04T22:30:00Z"
        );
        // UTC by name is UTC.
        assert_eq!(
            next("0 0 * * *", "UTC", "2026-12-04T12:00:00Z"),
            "2026-12-05T00:00:00Z"
        );
    }

    #[test]
    fn a_skipped_time_fires_after_the_gap_and_a_repeated_one_once() {
        // 2026-03-29: Paris goes from 02:00 to 03:00; 02:30 does not exist.
        assert_eq!(
            next("30 2 * * *", "Europe/Paris", "2026-03-28T12:00:00Z"),
            "2026-03-29T01:30:00Z"
        );
        // 2026-10-25: Paris goes from 03:00 back to 02:00; 02:30 happens twice.
        let first = next("30 2 * * *", "Europe/Paris", "2026-10-24T12:00:00Z");
        assert_eq!(first, "2026-10-25T00:30:00Z");
        let after_first = next("30 2 * * *", "Europe/Paris", &first);
        assert_eq!(
            after_first, "2026-10-26T01:30:00Z",
            "the repeat did not fire again"
        );
        // Hourly through the change: after 02:30 (the first time) comes 03:00 wall clock; the
        // repeated 02:00 does not fire.
        let three = next("0 * * * *", "Europe/Paris", "2026-10-25T00:30:00Z");
        assert_eq!(three, "2026-10-25T02:00:00Z");
        assert_eq!(
            next("0 * * * *", "Europe/Paris", &three),
            "2026-10-25T03:00:00Z"
        );
    }

    #[test]
    fn unknown_zones_are_refused() {
        assert!(Zone::get("Mars/Olympus")
            .unwrap_err()
            .contains("Mars/Olympus"));
    }
}
