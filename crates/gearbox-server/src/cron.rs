//! Cron expressions, as Vixie cron reads them, and their next firing time in UTC: the five
//! fields of SUBMIT_JOB_SCHED (minute, hour, day of month, month, day of week) or one line
//! (`*/5 * * * *`, `@daily`).
//!
//! Each field is a list of items: `*`, a value, a range `a-b`, each optionally stepped
//! (`*/15`, `1-30/2`, `5/10` from 5 to the end); months and weekdays also by name (`jan`,
//! `mon`), Sunday as 0 or 7. As in Vixie cron, when both the day of month and the day of week
//! are restricted a day matching either fires; when one of them is `*`, only the other counts.
//! An expression that can never fire (`0 0 30 2 *`) is refused.
//!
//! This module is pure: no clock, no I/O. Times are seconds since the Unix epoch.

use std::fmt;

/// A field that cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CronError {
    /// The line does not have five fields (and is no `@` shorthand).
    #[error(
        "a cron expression has five fields (minute hour day-of-month month day-of-week), got {0}"
    )]
    FieldCount(usize),
    /// A field holds something that is not a cron item.
    #[error("{field}: {detail}")]
    Field {
        /// Which field.
        field: &'static str,
        /// What is wrong.
        detail: String,
    },
    /// The expression names no time that exists (such as 30 February).
    #[error("the expression never fires")]
    Never,
}

/// A parsed cron expression.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cron {
    minutes: u64,
    hours: u32,
    days: u32,
    months: u16,
    weekdays: u8,
    /// The day-of-month field was `*…`: only the day of week restricts days.
    any_day: bool,
    /// The day-of-week field was `*…`.
    any_weekday: bool,
    text: String,
}

struct Spec {
    name: &'static str,
    min: u32,
    max: u32,
    names: &'static [&'static str],
}

const MINUTE: Spec = Spec {
    name: "minute",
    min: 0,
    max: 59,
    names: &[],
};
const HOUR: Spec = Spec {
    name: "hour",
    min: 0,
    max: 23,
    names: &[],
};
const DAY: Spec = Spec {
    name: "day of month",
    min: 1,
    max: 31,
    names: &[],
};
const MONTH: Spec = Spec {
    name: "month",
    min: 1,
    max: 12,
    names: &[
        "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
    ],
};
/// 7 is Sunday too, folded onto 0 after parsing.
const WEEKDAY: Spec = Spec {
    name: "day of week",
    min: 0,
    max: 7,
    names: &["sun", "mon", "tue", "wed", "thu", "fri", "sat"],
};

impl Spec {
    fn error(&self, detail: impl Into<String>) -> CronError {
        CronError::Field {
            field: self.name,
            detail: detail.into(),
        }
    }

    fn value(&self, text: &str) -> Result<u32, CronError> {
        let lower = text.to_ascii_lowercase();
        if let Some(i) = self.names.iter().position(|n| *n == lower) {
            // Month names count from 1, weekday names from 0 (Sunday).
            return Ok(u32::try_from(i).unwrap_or(0) + if self.min == 1 { 1 } else { 0 });
        }
        let n: u32 = text
            .parse()
            .map_err(|_| self.error(format!("{text:?} is not a number")))?;
        if n < self.min || n > self.max {
            return Err(self.error(format!("{n} is outside {}-{}", self.min, self.max)));
        }
        Ok(n)
    }

    /// The set of values the field names, as a bit mask; and whether it began with `*`.
    fn parse(&self, field: &str) -> Result<(u64, bool), CronError> {
        if field.is_empty() {
            return Err(self.error("empty"));
        }
        let mut mask = 0u64;
        for item in field.split(',') {
            let (range, step) = match item.split_once('/') {
                Some((range, step)) => {
                    let step: u32 = step
                        .parse()
                        .map_err(|_| self.error(format!("step {step:?} is not a number")))?;
                    if step == 0 {
                        return Err(self.error("a step of 0"));
                    }
                    (range, Some(step))
                }
                None => (item, None),
            };
            let (from, to) = if range == "*" {
                (self.min, self.max)
            } else if let Some((a, b)) = range.split_once('-') {
                let (a, b) = (self.value(a)?, self.value(b)?);
                if a > b {
                    return Err(self.error(format!("range {range:?} runs backwards")));
                }
                (a, b)
            } else {
                let a = self.value(range)?;
                // `5/10` runs from 5 to the end; a plain value is itself.
                (a, if step.is_some() { self.max } else { a })
            };
            let step = step.unwrap_or(1);
            let mut v = from;
            while v <= to {
                mask |= 1 << v;
                v += step;
            }
        }
        Ok((mask, field.starts_with('*')))
    }
}

impl Cron {
    /// One line: five fields, or `@yearly`, `@annually`, `@monthly`, `@weekly`, `@daily`,
    /// `@midnight`, `@hourly`.
    pub fn parse(line: &str) -> Result<Cron, CronError> {
        let expanded = match line.trim() {
            "@yearly" | "@annually" => "0 0 1 1 *",
            "@monthly" => "0 0 1 * *",
            "@weekly" => "0 0 * * 0",
            "@daily" | "@midnight" => "0 0 * * *",
            "@hourly" => "0 * * * *",
            other => other,
        };
        let fields: Vec<&str> = expanded.split_whitespace().collect();
        let fields: [&str; 5] = fields
            .try_into()
            .map_err(|f: Vec<&str>| CronError::FieldCount(f.len()))?;
        let mut cron = Cron::from_fields(fields)?;
        cron.text = line.trim().to_owned();
        Ok(cron)
    }

    /// The five fields of SUBMIT_JOB_SCHED: minute, hour, day of month, month, day of week.
    pub fn from_fields(fields: [&str; 5]) -> Result<Cron, CronError> {
        let (minutes, _) = MINUTE.parse(fields[0])?;
        let (hours, _) = HOUR.parse(fields[1])?;
        let (days, any_day) = DAY.parse(fields[2])?;
        let (months, _) = MONTH.parse(fields[3])?;
        let (mut weekdays, any_weekday) = WEEKDAY.parse(fields[4])?;
        if weekdays & (1 << 7) != 0 {
            weekdays = (weekdays | 1) & 0x7f;
        }
        let narrow = |mask: u64| u32::try_from(mask).unwrap_or(u32::MAX);
        let cron = Cron {
            minutes,
            hours: narrow(hours),
            days: narrow(days),
            months: u16::try_from(months).unwrap_or(u16::MAX),
            weekdays: u8::try_from(weekdays).unwrap_or(u8::MAX),
            any_day,
            any_weekday,
            text: fields.join(" "),
        };
        // Eight years from 1970 cover every calendar case (29 February comes in 1972).
        if cron.next_after(0).is_none() {
            return Err(CronError::Never);
        }
        Ok(cron)
    }

    fn day_matches(&self, day: u32, weekday: u32) -> bool {
        let by_day = self.days & (1 << day) != 0;
        let by_weekday = self.weekdays & (1 << weekday) != 0;
        if self.any_day || self.any_weekday {
            by_day && by_weekday
        } else {
            by_day || by_weekday
        }
    }

    /// The first firing strictly after `t` (at second 0 of its minute), within eight years;
    /// `None` if there is none.
    pub fn next_after(&self, t: i64) -> Option<i64> {
        let start = t.div_euclid(60) * 60 + 60;
        let first_day = start.div_euclid(86_400);
        let first_minute = u32::try_from(start.rem_euclid(86_400) / 60).unwrap_or(0);
        for day in first_day..first_day + 8 * 366 {
            let (_, month, mday) = civil_from_days(day);
            // 1970-01-01 was a Thursday.
            let weekday = u32::try_from((day + 4).rem_euclid(7)).unwrap_or(0);
            if self.months & (1 << month) == 0 || !self.day_matches(mday, weekday) {
                continue;
            }
            let from = if day == first_day { first_minute } else { 0 };
            for minute_of_day in from..24 * 60 {
                let (hour, minute) = (minute_of_day / 60, minute_of_day % 60);
                if self.hours & (1 << hour) != 0 && self.minutes & (1 << minute) != 0 {
                    return Some(day * 86_400 + i64::from(minute_of_day) * 60);
                }
            }
        }
        None
    }
}

impl fmt::Display for Cron {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// (year, month 1-12, day 1-31) of a day counted from 1970-01-01 (Howard Hinnant's
/// `civil_from_days`).
pub fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = u32::try_from(doy - (153 * mp + 2) / 5 + 1).unwrap_or(1);
    let month = u32::try_from(if mp < 10 { mp + 3 } else { mp - 9 }).unwrap_or(1);
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Seconds since the epoch of a UTC date and time.
    fn at(y: i64, mo: u32, d: u32, h: u32, mi: u32) -> i64 {
        // days_from_civil, the inverse of civil_from_days.
        let y = if mo <= 2 { y - 1 } else { y };
        let era = y.div_euclid(400);
        let yoe = y.rem_euclid(400);
        let m = i64::from(mo);
        let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1;
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
        let days = era * 146_097 + doe - 719_468;
        days * 86_400 + i64::from(h) * 3600 + i64::from(mi) * 60
    }

    fn next(expr: &str, from: i64) -> i64 {
        Cron::parse(expr).unwrap().next_after(from).unwrap()
    }

    #[test]
    fn the_calendar_is_right() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(19_782), (2024, 2, 29));
        assert_eq!(civil_from_days(-1), (1969, 12, 31));
        assert_eq!(at(2024, 2, 29, 0, 0), 19_782 * 86_400);
    }

    #[test]
    fn every_minute_and_steps() {
        let t = at(2026, 12, 4, 10, 17);
        assert_eq!(next("* * * * *", t), t + 60);
        assert_eq!(next("* * * * *", t + 30), t + 60);
        assert_eq!(next("*/5 * * * *", t), at(2026, 12, 4, 10, 20));
        assert_eq!(
            next("*/15 * * * *", at(2026, 12, 4, 10, 45)),
            at(2026, 12, 4, 11, 0)
        );
        assert_eq!(next("5/20 * * * *", t), at(2026, 12, 4, 10, 25));
        assert_eq!(next("0 */6 * * *", t), at(2026, 12, 4, 12, 0));
    }

    #[test]
    fn ranges_lists_and_names() {
        let t = at(2026, 12, 4, 10, 17); // a Friday
        assert_eq!(next("0 9-17/4 * * *", t), at(2026, 12, 4, 13, 0));
        assert_eq!(next("30 8,12,18 * * *", t), at(2026, 12, 4, 12, 30));
        assert_eq!(next("0 9 * * mon-fri", t), at(2026, 12, 7, 9, 0));
        assert_eq!(next("0 9 * * sat,sun", t), at(2026, 12, 5, 9, 0));
        assert_eq!(next("0 0 1 jan *", t), at(2027, 1, 1, 0, 0));
        assert_eq!(next("0 0 * * 7", t), at(2026, 12, 6, 0, 0));
        assert_eq!(next("0 0 * * 0", t), at(2026, 12, 6, 0, 0));
        assert_eq!(next("@hourly", t), at(2026, 12, 4, 11, 0));
        assert_eq!(next("@daily", t), at(2026, 12, 5, 0, 0));
        assert_eq!(next("@weekly", t), at(2026, 12, 6, 0, 0));
        assert_eq!(next("@monthly", t), at(2027, 1, 1, 0, 0));
        assert_eq!(next("@yearly", t), at(2027, 1, 1, 0, 0));
    }

    #[test]
    fn month_ends_and_29_february() {
        let t = at(2026, 1, 31, 12, 0);
        // The 31st skips the months without one.
        assert_eq!(next("0 0 31 * *", t), at(2026, 3, 31, 0, 0));
        assert_eq!(next("0 0 30 * *", t), at(2026, 3, 30, 0, 0));
        assert_eq!(next("0 0 29 2 *", t), at(2028, 2, 29, 0, 0));
        assert_eq!(
            next("0 0 29 2 *", at(2028, 2, 29, 0, 0)),
            at(2032, 2, 29, 0, 0)
        );
        assert_eq!(
            next("0 0 28-31 * *", at(2026, 2, 28, 0, 0)),
            at(2026, 3, 28, 0, 0)
        );
    }

    #[test]
    fn day_of_month_with_day_of_week() {
        // Both restricted: the 13th or any Friday, whichever comes first (Vixie cron).
        let t = at(2026, 12, 4, 10, 0); // Friday the 4th
        assert_eq!(next("0 0 13 * fri", t), at(2026, 12, 11, 0, 0));
        assert_eq!(next("0 0 13 * mon", t), at(2026, 12, 7, 0, 0));
        assert_eq!(next("0 0 5 * mon", t), at(2026, 12, 5, 0, 0));
        // One of them `*`: only the other counts.
        assert_eq!(next("0 0 13 * *", t), at(2026, 12, 13, 0, 0));
        assert_eq!(next("0 0 * * fri", t), at(2026, 12, 11, 0, 0));
        assert_eq!(next("0 0 */2 * fri", t), at(2026, 12, 11, 0, 0));
    }

    #[test]
    fn the_fields_of_submit_job_sched() {
        let cron = Cron::from_fields(["0", "12", "*", "*", "1"]).unwrap();
        assert_eq!(cron.to_string(), "0 12 * * 1");
        let t = at(2026, 12, 4, 10, 0);
        assert_eq!(cron.next_after(t), Some(at(2026, 12, 7, 12, 0)));
    }

    #[test]
    fn bad_expressions_are_refused_with_the_reason() {
        let err = |e: &str| Cron::parse(e).unwrap_err().to_string();
        assert!(err("* * * *").contains("five fields"));
        assert!(err("60 * * * *").contains("minute: 60 is outside 0-59"));
        assert!(err("* 24 * * *").contains("hour"));
        assert!(err("* * 0 * *").contains("day of month"));
        assert!(err("* * * 13 *").contains("month"));
        assert!(err("* * * * 8").contains("day of week"));
        assert!(err("*/0 * * * *").contains("step of 0"));
        assert!(err("5-1 * * * *").contains("backwards"));
        assert!(err("x * * * *").contains("not a number"));
        assert!(err("1,,2 * * * *").contains("not a number"));
        assert_eq!(Cron::parse("0 0 30 2 *"), Err(CronError::Never));
        assert_eq!(Cron::parse("0 0 31 4,6,9,11 *"), Err(CronError::Never));
    }
}
