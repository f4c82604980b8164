//! What a client hears about jobs: the events of a foreground job ([`JobEvent`]), how a
//! session hands them to whoever listens ([`Listener`], [`Update`]), and the answers to status
//! queries ([`JobStatus`], [`UniqueStatus`]). Plain data: nothing here does I/O or knows a
//! session.

use bytes::Bytes;
use tokio::sync::mpsc;

use crate::error::Error;

/// One event of a foreground job, in the order the worker sent them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JobEvent {
    /// `WORK_STATUS`: progress `numerator / denominator` (non-numeric text reads as 0, as in
    /// libgearman).
    Status {
        /// Work done.
        numerator: u32,
        /// Total work.
        denominator: u32,
    },
    /// `WORK_DATA`: a chunk of partial output.
    Data(Bytes),
    /// `WORK_WARNING`: a warning from the worker.
    Warning(Bytes),
    /// `WORK_COMPLETE` (terminal): the result.
    Complete(Bytes),
    /// `WORK_FAIL` (terminal).
    Fail,
    /// `WORK_EXCEPTION` (terminal), only with exceptions enabled on the client.
    Exception(Bytes),
}

impl JobEvent {
    /// True for the events that end a job: complete, fail, exception.
    pub fn is_terminal(&self) -> bool {
        matches!(
            self,
            JobEvent::Complete(_) | JobEvent::Fail | JobEvent::Exception(_)
        )
    }
}

/// What the session hands a listener.
#[derive(Debug)]
pub(crate) enum Update {
    /// The server accepted the submission (sent only to listeners that ask for it).
    Created(Bytes),
    /// An event of the job.
    Event(JobEvent),
    /// No more events will come: the connection ended.
    Failed(Error),
}

/// Where the session delivers news of one submission: a channel and the listener's id (a task
/// set shares one channel among many listeners).
#[derive(Clone)]
pub(crate) struct Listener {
    pub(crate) id: u64,
    pub(crate) tx: mpsc::UnboundedSender<(u64, Update)>,
    /// Receive the job's WORK_* events (foreground jobs).
    pub(crate) follow: bool,
    /// Receive [`Update::Created`] when the server accepts the job.
    pub(crate) announce: bool,
}

/// Answer to a status query by handle (`STATUS_RES`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobStatus {
    /// The handle, as echoed by the server.
    pub handle: Bytes,
    /// The server knows the job (queued or running). False for finished or unknown jobs.
    pub known: bool,
    /// A worker is running the job.
    pub running: bool,
    /// Last progress numerator reported by the worker.
    pub numerator: u32,
    /// Last progress denominator reported by the worker.
    pub denominator: u32,
}

/// Answer to a status query by unique id (`STATUS_RES_UNIQUE`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UniqueStatus {
    /// The unique id, as echoed by the server.
    pub unique: Bytes,
    /// The server knows a job with this unique id.
    pub known: bool,
    /// A worker is running it.
    pub running: bool,
    /// Last progress numerator.
    pub numerator: u32,
    /// Last progress denominator.
    pub denominator: u32,
    /// Foreground clients waiting for the job.
    pub waiting_clients: u32,
}

/// A decimal field read the way libgearman reads it (`atoi`): leading digits, anything else
/// ends the number, no digits is 0, too large saturates.
pub(crate) fn parse_u32(field: &[u8]) -> u32 {
    let mut n: u32 = 0;
    for &b in field.iter().skip_while(|b| **b == b' ') {
        if !b.is_ascii_digit() {
            break;
        }
        n = n.saturating_mul(10).saturating_add(u32::from(b - b'0'));
    }
    n
}

#[cfg(test)]
mod tests {
    use super::parse_u32;

    #[test]
    fn numbers_are_read_leniently() {
        assert_eq!(parse_u32(b"42"), 42);
        assert_eq!(parse_u32(b"7x"), 7);
        assert_eq!(parse_u32(b""), 0);
        assert_eq!(parse_u32(b"abc"), 0);
        assert_eq!(parse_u32(b"99999999999"), u32::MAX);
    }
}
