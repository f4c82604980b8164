//! Return codes: libgearman's `gearman_return_t`, which PECL's `returnCode()` reports and whose
//! names are the `GEARMAN_*` constants, and the one mapping from a gearbox-client error to a
//! code and a message.
//!
//! The message is Gearbox's own sentence (the client library's error, which names the server
//! and what happened), where libgearman gives a source-file position and a pid: PHP code
//! compares codes, not texts. Nothing here does I/O.

use gearbox_client::Error;

use crate::constants::{Value, CONSTANTS};

/// A `gearman_return_t` value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ReturnCode(pub i64);

impl ReturnCode {
    /// `GEARMAN_SUCCESS`.
    pub const SUCCESS: ReturnCode = ReturnCode(0);
    /// `GEARMAN_IO_WAIT`: a non-blocking call would block.
    pub const IO_WAIT: ReturnCode = ReturnCode(1);
    /// `GEARMAN_NO_ACTIVE_FDS`: nothing to wait for.
    pub const NO_ACTIVE_FDS: ReturnCode = ReturnCode(7);
    /// `GEARMAN_GETADDRINFO`: a server name did not resolve.
    pub const GETADDRINFO: ReturnCode = ReturnCode(12);
    /// `GEARMAN_NO_SERVERS`: no server was added.
    pub const NO_SERVERS: ReturnCode = ReturnCode(13);
    /// `GEARMAN_LOST_CONNECTION`.
    pub const LOST_CONNECTION: ReturnCode = ReturnCode(14);
    /// `GEARMAN_SERVER_ERROR`: an ERROR packet.
    pub const SERVER_ERROR: ReturnCode = ReturnCode(18);
    /// `GEARMAN_WORK_DATA`: a foreground job sent WORK_DATA.
    pub const WORK_DATA: ReturnCode = ReturnCode(20);
    /// `GEARMAN_WORK_WARNING`.
    pub const WORK_WARNING: ReturnCode = ReturnCode(21);
    /// `GEARMAN_WORK_STATUS`.
    pub const WORK_STATUS: ReturnCode = ReturnCode(22);
    /// `GEARMAN_WORK_EXCEPTION`.
    pub const WORK_EXCEPTION: ReturnCode = ReturnCode(23);
    /// `GEARMAN_WORK_FAIL`.
    pub const WORK_FAIL: ReturnCode = ReturnCode(24);
    /// `GEARMAN_COULD_NOT_CONNECT`.
    pub const COULD_NOT_CONNECT: ReturnCode = ReturnCode(26);
    /// `GEARMAN_INVALID_FUNCTION_NAME`.
    pub const INVALID_FUNCTION_NAME: ReturnCode = ReturnCode(31);
    /// `GEARMAN_NO_REGISTERED_FUNCTION`: not one of PECL's constants, but libgearman's code for
    /// unregistering a function that is not registered.
    pub const NO_REGISTERED_FUNCTION: ReturnCode = ReturnCode(33);
    /// `GEARMAN_NO_REGISTERED_FUNCTIONS`.
    pub const NO_REGISTERED_FUNCTIONS: ReturnCode = ReturnCode(34);
    /// `GEARMAN_NO_JOBS`.
    pub const NO_JOBS: ReturnCode = ReturnCode(35);
    /// `GEARMAN_ECHO_DATA_CORRUPTION`.
    pub const ECHO_DATA_CORRUPTION: ReturnCode = ReturnCode(36);
    /// `GEARMAN_PAUSE`.
    pub const PAUSE: ReturnCode = ReturnCode(38);
    /// `GEARMAN_UNKNOWN_STATE`: libgearman's "no error recorded".
    pub const UNKNOWN_STATE: ReturnCode = ReturnCode(39);
    /// `GEARMAN_QUEUE_ERROR`: the server could not queue the job.
    pub const QUEUE_ERROR: ReturnCode = ReturnCode(42);
    /// `GEARMAN_UNKNOWN_OPTION`.
    pub const UNKNOWN_OPTION: ReturnCode = ReturnCode(46);
    /// `GEARMAN_TIMEOUT`.
    pub const TIMEOUT: ReturnCode = ReturnCode(47);
    /// `GEARMAN_INVALID_ARGUMENT` (libgearman 1.1.20's 49; PECL names no constant for it).
    pub const INVALID_ARGUMENT: ReturnCode = ReturnCode(49);

    /// True for `GEARMAN_SUCCESS`.
    pub fn is_success(self) -> bool {
        self == ReturnCode::SUCCESS
    }

    /// True for the codes PECL's client calls return without a warning
    /// (`PHP_GEARMAN_CLIENT_RET_OK`): success, and a job's own outcomes and progress.
    pub fn is_client_ok(self) -> bool {
        [
            ReturnCode::SUCCESS,
            ReturnCode::PAUSE,
            ReturnCode::IO_WAIT,
            ReturnCode::WORK_STATUS,
            ReturnCode::WORK_DATA,
            ReturnCode::WORK_EXCEPTION,
            ReturnCode::WORK_WARNING,
            ReturnCode::WORK_FAIL,
        ]
        .contains(&self)
    }

    /// The constant's name (`GEARMAN_TIMEOUT`), or `GEARMAN_UNKNOWN_STATE` for a value with
    /// no name.
    pub fn name(self) -> &'static str {
        let start = CONSTANTS
            .iter()
            .position(|(n, _)| *n == "GEARMAN_SUCCESS")
            .unwrap_or(0);
        CONSTANTS[start..]
            .iter()
            .take_while(|(n, _)| *n != "GEARMAN_VERBOSE_FATAL")
            .find(|(_, v)| *v == Value::Int(self.0))
            .map_or("GEARMAN_UNKNOWN_STATE", |(n, _)| n)
    }
}

/// The code and the message a failed call leaves behind.
pub fn from_error(error: &Error) -> (ReturnCode, String) {
    let code = match error {
        Error::NoServers => ReturnCode::NO_SERVERS,
        Error::NoServerReachable { .. } => ReturnCode::COULD_NOT_CONNECT,
        Error::Timeout => ReturnCode::TIMEOUT,
        Error::ConnectionLost { .. } | Error::Closed => ReturnCode::LOST_CONNECTION,
        Error::Server { code, .. } if code == "QUEUE_ERROR" => ReturnCode::QUEUE_ERROR,
        Error::Server { code, .. } if code == "UNKNOWN_OPTION" => ReturnCode::UNKNOWN_OPTION,
        Error::Server { .. } => ReturnCode::SERVER_ERROR,
        Error::WorkFail { .. } => ReturnCode::WORK_FAIL,
        Error::WorkException { .. } => ReturnCode::WORK_EXCEPTION,
        Error::Protocol { .. } => ReturnCode::LOST_CONNECTION,
        Error::InvalidArgument(_) => ReturnCode::INVALID_ARGUMENT,
        _ => ReturnCode::UNKNOWN_STATE,
    };
    (code, error.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_the_constants() {
        assert_eq!(ReturnCode::SUCCESS.name(), "GEARMAN_SUCCESS");
        assert_eq!(ReturnCode::TIMEOUT.name(), "GEARMAN_TIMEOUT");
        assert_eq!(ReturnCode::WORK_FAIL.name(), "GEARMAN_WORK_FAIL");
        assert_eq!(
            ReturnCode(33).name(),
            "GEARMAN_UNKNOWN_STATE",
            "there is no 33"
        );
        assert_eq!(
            ReturnCode(1).name(),
            "GEARMAN_IO_WAIT",
            "not GEARMAN_VERBOSE_FATAL"
        );
    }

    #[test]
    fn errors_map_to_libgearmans_codes() {
        let code = |e: Error| from_error(&e).0;
        assert_eq!(code(Error::NoServers), ReturnCode::NO_SERVERS);
        assert_eq!(code(Error::Timeout), ReturnCode::TIMEOUT);
        assert_eq!(
            code(Error::NoServerReachable {
                last: "refused".into()
            }),
            ReturnCode::COULD_NOT_CONNECT
        );
        let server = |c: &str| Error::Server {
            server: "s".into(),
            code: c.into(),
            text: "t".into(),
        };
        assert_eq!(code(server("QUEUE_ERROR")), ReturnCode::QUEUE_ERROR);
        assert_eq!(code(server("INVALID_PACKET")), ReturnCode::SERVER_ERROR);
        let (_, message) = from_error(&server("QUEUE_ERROR"));
        assert!(message.contains("QUEUE_ERROR"), "{message}");
    }
}
