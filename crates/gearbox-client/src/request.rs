//! What a client asks a server to run: [`JobRequest`] and [`Priority`], and their encoding as a
//! SUBMIT_* packet.
//!
//! This module owns argument validation and the choice of packet type; it does no I/O and no
//! routing.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use gearbox_proto::PacketType;

use crate::conn::request;
use crate::error::Error;

/// Longest unique id a server accepts (PROTOCOL.md §3.4).
pub const MAX_UNIQUE_LEN: usize = 64;
/// Longest reducer name a server accepts (gearmand copies it into a 512-byte buffer).
pub const MAX_REDUCER_LEN: usize = 511;

/// Queue priority of a job.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Priority {
    /// Taken before normal and low jobs.
    High,
    /// The default.
    #[default]
    Normal,
    /// Taken after high and normal jobs.
    Low,
}

/// A job to submit: function name, workload, and options.
///
/// ```
/// use std::time::Duration;
/// use gearbox_client::{JobRequest, Priority};
///
/// let req = JobRequest::new("resize", "img-42.png")
///     .unique("img-42")
///     .priority(Priority::High)
///     .timeout(Duration::from_secs(30));
/// assert_eq!(req.function_name(), b"resize");
/// ```
#[derive(Debug, Clone)]
pub struct JobRequest {
    function: Bytes,
    workload: Bytes,
    unique: Bytes,
    reducer: Bytes,
    priority: Priority,
    run_at: Option<SystemTime>,
    timeout: Option<Option<Duration>>,
}

impl JobRequest {
    /// A normal-priority job for `function` with `workload` and no unique id.
    pub fn new(function: impl Into<Bytes>, workload: impl Into<Bytes>) -> JobRequest {
        JobRequest {
            function: function.into(),
            workload: workload.into(),
            unique: Bytes::new(),
            reducer: Bytes::new(),
            priority: Priority::Normal,
            run_at: None,
            timeout: None,
        }
    }

    /// Set the unique id (empty: none). Jobs with the same function and unique id are
    /// coalesced by the server, and routed to the same server of a pool; `-` coalesces by
    /// workload (gearmand). At most [`MAX_UNIQUE_LEN`] bytes, no NUL.
    pub fn unique(mut self, unique: impl Into<Bytes>) -> JobRequest {
        self.unique = unique.into();
        self
    }

    /// Submit as a map/reduce job (SUBMIT_REDUCE_JOB, or SUBMIT_REDUCE_JOB_BACKGROUND in the
    /// background) whose results the function `reducer` combines (empty: an ordinary job).
    /// The protocol has normal priority only for these, and no `run_at`. At most
    /// [`MAX_REDUCER_LEN`] bytes, no NUL.
    pub fn reducer(mut self, reducer: impl Into<Bytes>) -> JobRequest {
        self.reducer = reducer.into();
        self
    }

    /// Set the priority.
    pub fn priority(mut self, priority: Priority) -> JobRequest {
        self.priority = priority;
        self
    }

    /// Run the job no earlier than `at` (SUBMIT_JOB_EPOCH, whole seconds). Only for background
    /// submissions; the priority is then ignored (the protocol has normal priority only).
    pub fn run_at(mut self, at: SystemTime) -> JobRequest {
        self.run_at = Some(at);
        self
    }

    /// Deadline for this call, overriding the client's default; `None` waits without limit.
    /// For a foreground job it covers the whole job, from submission to result.
    pub fn timeout(mut self, timeout: impl Into<Option<Duration>>) -> JobRequest {
        self.timeout = Some(timeout.into());
        self
    }

    /// The function name.
    pub fn function_name(&self) -> &[u8] {
        &self.function
    }

    /// The workload.
    pub fn workload(&self) -> &[u8] {
        &self.workload
    }

    /// The unique id (empty: none).
    pub fn unique_id(&self) -> &[u8] {
        &self.unique
    }

    /// The deadline set on this request, if any (`Some(None)`: explicitly unlimited).
    pub(crate) fn timeout_override(&self) -> Option<Option<Duration>> {
        self.timeout
    }

    /// True when retrying the submission on another server after an ambiguous failure cannot
    /// create a second, independent job: the unique id makes the servers coalesce it.
    pub(crate) fn is_idempotent(&self) -> bool {
        !self.unique.is_empty()
    }

    /// Check the arguments and encode the SUBMIT_* packet.
    pub(crate) fn encode(&self, background: bool) -> Result<Bytes, Error> {
        let bad = |m: &str| Err(Error::InvalidArgument(m.to_string()));
        if self.function.is_empty() {
            return bad("empty function name");
        }
        if self.function.contains(&0) {
            return bad("function name contains a NUL byte");
        }
        if self.unique.contains(&0) {
            return bad("unique id contains a NUL byte");
        }
        if self.unique.len() > MAX_UNIQUE_LEN {
            return bad("unique id longer than 64 bytes");
        }
        if !self.reducer.is_empty() {
            if self.reducer.contains(&0) {
                return bad("reducer name contains a NUL byte");
            }
            if self.reducer.len() > MAX_REDUCER_LEN {
                return bad("reducer name longer than 511 bytes");
            }
            if self.run_at.is_some() {
                return bad("a reduce job cannot have run_at");
            }
            if self.priority != Priority::Normal {
                return bad("reduce jobs have normal priority only");
            }
            let kind = if background {
                PacketType::SubmitReduceJobBackground
            } else {
                PacketType::SubmitReduceJob
            };
            // The aggregator field comes next; servers ignore it, libgearman sends it empty.
            return Ok(request(
                kind,
                &[&self.function, &self.unique, &self.reducer, b""],
                &self.workload,
            ));
        }
        if let Some(at) = self.run_at {
            if !background {
                return bad("run_at is only for background jobs");
            }
            let secs = at
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(0)
                .to_string();
            return Ok(request(
                PacketType::SubmitJobEpoch,
                &[&self.function, &self.unique, secs.as_bytes()],
                &self.workload,
            ));
        }
        let kind = match (self.priority, background) {
            (Priority::High, false) => PacketType::SubmitJobHigh,
            (Priority::Normal, false) => PacketType::SubmitJob,
            (Priority::Low, false) => PacketType::SubmitJobLow,
            (Priority::High, true) => PacketType::SubmitJobHighBg,
            (Priority::Normal, true) => PacketType::SubmitJobBg,
            (Priority::Low, true) => PacketType::SubmitJobLowBg,
        };
        Ok(request(
            kind,
            &[&self.function, &self.unique],
            &self.workload,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packet_types_by_priority_and_mode() {
        let cases = [
            (Priority::High, false, PacketType::SubmitJobHigh),
            (Priority::Normal, false, PacketType::SubmitJob),
            (Priority::Low, false, PacketType::SubmitJobLow),
            (Priority::High, true, PacketType::SubmitJobHighBg),
            (Priority::Normal, true, PacketType::SubmitJobBg),
            (Priority::Low, true, PacketType::SubmitJobLowBg),
        ];
        for (prio, bg, kind) in cases {
            let bytes = JobRequest::new("f", "w")
                .unique("u")
                .priority(prio)
                .encode(bg)
                .unwrap();
            assert_eq!(&bytes[4..8], &kind.number().to_be_bytes());
            assert_eq!(&bytes[12..], b"f\0u\0w");
        }
    }

    #[test]
    fn epoch_packet() {
        let at = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let bytes = JobRequest::new("f", "w").run_at(at).encode(true).unwrap();
        assert_eq!(
            &bytes[4..8],
            &PacketType::SubmitJobEpoch.number().to_be_bytes()
        );
        assert_eq!(&bytes[12..], b"f\0\x001700000000\0w");
        assert!(JobRequest::new("f", "w").run_at(at).encode(false).is_err());
    }

    #[test]
    fn reduce_packets() {
        for (bg, kind) in [
            (false, PacketType::SubmitReduceJob),
            (true, PacketType::SubmitReduceJobBackground),
        ] {
            let bytes = JobRequest::new("map", "w")
                .unique("u")
                .reducer("sum")
                .encode(bg)
                .unwrap();
            assert_eq!(&bytes[4..8], &kind.number().to_be_bytes());
            assert_eq!(&bytes[12..], b"map\0u\0sum\0\0w");
        }
        let reduce = || JobRequest::new("map", "w").reducer("sum");
        assert!(reduce().priority(Priority::High).encode(false).is_err());
        assert!(reduce().run_at(UNIX_EPOCH).encode(true).is_err());
        assert!(reduce().reducer("s\0").encode(false).is_err());
        assert!(reduce().reducer(vec![b'r'; 512]).encode(false).is_err());
        assert!(reduce().reducer(vec![b'r'; 511]).encode(false).is_ok());
    }

    #[test]
    fn rejects_bad_arguments() {
        assert!(JobRequest::new("", "w").encode(false).is_err());
        assert!(JobRequest::new("a\0b", "w").encode(false).is_err());
        assert!(JobRequest::new("f", "w")
            .unique("u\0")
            .encode(false)
            .is_err());
        assert!(JobRequest::new("f", "w")
            .unique(vec![b'u'; 65])
            .encode(false)
            .is_err());
        assert!(JobRequest::new("f", "w")
            .unique(vec![b'u'; 64])
            .encode(false)
            .is_ok());
    }
}
