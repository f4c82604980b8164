//! A recurring job a client asks a server to create (SUBMIT_JOB_SCHED, gearboxd only): the
//! cron expression split into its five fields, the checks made before anything is sent, and
//! the packet.
//!
//! This module owns the split and the argument checks. It does not judge what a field holds
//! (ranges, steps, lists, names): the server parses the fields and answers `ERROR
//! INVALID_SCHEDULE` with the reason, so client and server can never disagree about what an
//! expression means. No I/O, no routing; sending is `client.rs`'s, through the same path as
//! every submission answered by JOB_CREATED.

use bytes::Bytes;
use gearbox_proto::PacketType;

use crate::conn::request;
use crate::error::Error;
use crate::request::MAX_UNIQUE_LEN;

/// Longest schedule unique id gearboxd accepts: each firing's job is given the unique
/// `<unique>@<Unix seconds>`, which must still fit in [`MAX_UNIQUE_LEN`].
pub const MAX_SCHEDULE_UNIQUE_LEN: usize = MAX_UNIQUE_LEN - 11;

/// The `@` shorthands of Vixie cron, as the five fields they stand for. `@reboot` has no
/// fields and is not one of them.
const SHORTHANDS: &[(&str, &str)] = &[
    ("@yearly", "0 0 1 1 *"),
    ("@annually", "0 0 1 1 *"),
    ("@monthly", "0 0 1 * *"),
    ("@weekly", "0 0 * * 0"),
    ("@daily", "0 0 * * *"),
    ("@midnight", "0 0 * * *"),
    ("@hourly", "0 * * * *"),
];

/// `minute hour day-of-month month day-of-week`, split on white space; an `@` shorthand is
/// expanded first, because the packet carries five fields and has no room for one.
pub(crate) fn cron_fields(expression: &str) -> Result<[&str; 5], Error> {
    let trimmed = expression.trim();
    let expanded = SHORTHANDS
        .iter()
        .find(|(name, _)| trimmed.eq_ignore_ascii_case(name))
        .map_or(trimmed, |(_, fields)| fields);
    let fields: Vec<&str> = expanded.split_whitespace().collect();
    <[&str; 5]>::try_from(fields.as_slice()).map_err(|_| Error::CronFields {
        expression: expression.to_owned(),
        fields: fields.len(),
    })
}

/// Check the arguments and encode the SUBMIT_JOB_SCHED packet: `function, unique, minute,
/// hour, day of month, month, day of week`, then the workload.
pub(crate) fn encode(
    cron: &str,
    function: &[u8],
    unique: &[u8],
    workload: &[u8],
) -> Result<Bytes, Error> {
    let bad = |m: &str| Err(Error::InvalidArgument(m.to_string()));
    if function.is_empty() {
        return bad("empty function name");
    }
    if function.contains(&0) {
        return bad("function name contains a NUL byte");
    }
    if unique.contains(&0) {
        return bad("unique id contains a NUL byte");
    }
    if unique.len() > MAX_SCHEDULE_UNIQUE_LEN {
        return bad("a schedule's unique id is longer than 53 bytes");
    }
    if cron.contains('\0') {
        return bad("cron expression contains a NUL byte");
    }
    let [minute, hour, day, month, weekday] = cron_fields(cron)?;
    Ok(request(
        PacketType::SubmitJobSched,
        &[
            function,
            unique,
            minute.as_bytes(),
            hour.as_bytes(),
            day.as_bytes(),
            month.as_bytes(),
            weekday.as_bytes(),
        ],
        workload,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn five_fields_or_a_shorthand() {
        assert_eq!(
            cron_fields(" */5  *\t* * 1-5 ").unwrap(),
            ["*/5", "*", "*", "*", "1-5"]
        );
        assert_eq!(cron_fields("@HOURLY").unwrap(), ["0", "*", "*", "*", "*"]);
        assert_eq!(cron_fields("@weekly").unwrap(), ["0", "0", "*", "*", "0"]);
        for (text, n) in [("* * * *", 4), ("* * * * * *", 6), ("", 0), ("@reboot", 1)] {
            assert_eq!(
                cron_fields(text).unwrap_err(),
                Error::CronFields {
                    expression: text.into(),
                    fields: n
                }
            );
        }
        let said = cron_fields("* *").unwrap_err().to_string();
        assert!(said.contains("has 2 field(s); expected 5"), "{said}");
    }

    #[test]
    fn the_packet() {
        let bytes = encode("*/5 1 * JAN mon", b"f", b"u", b"w\0x").unwrap();
        assert_eq!(
            &bytes[4..8],
            &PacketType::SubmitJobSched.number().to_be_bytes()
        );
        assert_eq!(&bytes[12..], b"f\0u\0*/5\x001\0*\0JAN\0mon\0w\0x");
    }

    #[test]
    fn rejects_bad_arguments() {
        let invalid = |r: Result<Bytes, Error>| matches!(r, Err(Error::InvalidArgument(_)));
        assert!(invalid(encode("* * * * *", b"", b"u", b"")));
        assert!(invalid(encode("* * * * *", b"f\0", b"u", b"")));
        assert!(invalid(encode("* * * * *", b"f", b"u\0", b"")));
        assert!(invalid(encode("* * * * *", b"f", &[b'u'; 54], b"")));
        assert!(invalid(encode("* * \0 * *", b"f", b"u", b"")));
        assert!(encode("* * * * *", b"f", &[b'u'; 53], b"").is_ok());
        assert!(encode("* * * * *", b"f", b"", b"").is_ok());
    }
}
