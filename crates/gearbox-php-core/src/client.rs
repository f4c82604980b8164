//! `GearmanClient` without PHP: the state PECL's client keeps between calls and the rules of its
//! synchronous calls, over gearbox-client's blocking facade (which builds no runtime and opens
//! no connection before the first call that needs one, and starts afresh after a `fork`).
//!
//! What lives here: servers (PECL's defaults: `localhost`, port 4730), options, the timeout, the
//! last return code and message, the last job handle and status, and the context string. The binding turns these
//! results into PHP values; nothing here knows PHP.

use std::time::Duration;

use bytes::Bytes;
use gearbox_client::blocking::Client;
use gearbox_client::{Error, JobEvent, JobRequest, Priority};

use crate::codes::{from_error, ReturnCode};
use crate::servers;
use crate::ssl::{SslSettings, SslState};
use crate::tasks::Tasks;

/// `GEARMAN_CLIENT_NON_BLOCKING`.
pub const OPTION_NON_BLOCKING: i64 = 2;
/// `GEARMAN_CLIENT_FREE_TASKS`, set by PECL on every new client.
pub const OPTION_FREE_TASKS: i64 = 32;

/// Which `do*` call: priority and foreground or background.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DoKind {
    /// Queue priority.
    pub priority: Priority,
    /// `doBackground` and friends.
    pub background: bool,
}

/// A client's state between PHP calls.
pub struct ClientCore {
    pub(crate) client: Client,
    servers: Vec<String>,
    options: i64,
    /// Milliseconds; -1 waits for ever (PECL's default).
    timeout_ms: i64,
    code: ReturnCode,
    /// Message of the last failed call; `None` after a success.
    error: Option<String>,
    job_handle: Bytes,
    status: (u32, u32),
    context: Bytes,
    ssl: SslState,
    pub(crate) tasks: Tasks,
}

impl Default for ClientCore {
    fn default() -> Self {
        ClientCore::new()
    }
}

impl ClientCore {
    /// A client with no server, as `new GearmanClient()` gives.
    pub fn new() -> ClientCore {
        // WORK_EXCEPTION is asked for once `addServer` (by default) or
        // `enableExceptionHandler` sets the exceptions option; until then the server sends a
        // job's exception as WORK_FAIL, as to any client.
        let client = Client::new();
        ClientCore {
            client,
            servers: Vec::new(),
            options: OPTION_FREE_TASKS,
            timeout_ms: -1,
            code: ReturnCode::SUCCESS,
            error: None,
            job_handle: Bytes::new(),
            status: (0, 0),
            context: Bytes::new(),
            ssl: SslState::Off,
            tasks: Tasks::default(),
        }
    }

    /// `setSSL()` and the `gearman.ssl*` ini settings: TLS for connections opened from now on.
    /// `Err` (and every later `addServer` refused) when the settings cannot be used.
    pub fn set_ssl(&mut self, settings: &SslSettings) -> Result<(), String> {
        self.ssl = SslState::from_settings(settings);
        self.client.set_tls(self.ssl.tls());
        match self.ssl.refusal() {
            Some(e) => {
                let e = e.to_owned();
                self.fail_with(ReturnCode::INVALID_ARGUMENT, e.clone());
                Err(e)
            }
            None => {
                self.succeed(ReturnCode::SUCCESS);
                Ok(())
            }
        }
    }

    /// `returnCode()`.
    pub fn return_code(&self) -> ReturnCode {
        self.code
    }

    /// `error()`: the last failure's message, `None` when the last call succeeded.
    pub fn error(&self) -> Option<&str> {
        self.error.as_deref()
    }

    pub(crate) fn succeed(&mut self, code: ReturnCode) {
        self.code = code;
        self.error = None;
    }

    pub(crate) fn fail(&mut self, error: &Error) {
        let (code, message) = from_error(error);
        self.code = code;
        self.error = Some(message);
    }

    pub(crate) fn fail_with(&mut self, code: ReturnCode, message: impl Into<String>) {
        self.code = code;
        self.error = Some(message.into());
    }

    /// `options()`.
    pub fn options(&self) -> i64 {
        self.options
    }

    /// `setOptions()`, `addOptions()`, `removeOptions()`: the new option bits.
    pub fn set_options(&mut self, options: i64) {
        self.options = options;
    }

    /// `timeout()`, in milliseconds; -1 for none.
    pub fn timeout(&self) -> i64 {
        self.timeout_ms
    }

    /// `setTimeout()`: milliseconds, negative for none.
    pub fn set_timeout(&mut self, ms: i64) {
        self.timeout_ms = ms;
        let timeout = u64::try_from(ms).ok().map(Duration::from_millis);
        self.client.set_timeout(timeout);
    }

    /// `addServer($host, $port)`, with PECL's defaults for a missing host or a zero port. With
    /// `check` (`$setupExceptionHandler`), the client asks for WORK_EXCEPTION and the server
    /// must be reachable now (PECL connects to set the exceptions option and throws when it
    /// cannot).
    pub fn add_server(&mut self, host: Option<&str>, port: u16, check: bool) -> Result<(), String> {
        if let Some(e) = self.ssl.refusal() {
            let e = e.to_owned();
            self.fail_with(ReturnCode::INVALID_ARGUMENT, e.clone());
            return Err(e);
        }
        let addr = servers::address(host, port);
        if let Err(e) = self.client.add_server(&addr) {
            let message = e.to_string();
            self.fail(&e);
            return Err(message);
        }
        self.servers.push(addr.clone());
        self.succeed(ReturnCode::SUCCESS);
        if check {
            if let Err(e) = servers::probe(&addr, self.ssl.tls()) {
                self.fail(&e);
                return Err(e.to_string());
            }
            self.client.set_exceptions(true);
        }
        Ok(())
    }

    /// `enableExceptionHandler()`: ask for WORK_EXCEPTION (on connections opened from now on);
    /// `Err` when a server cannot be reached to set the option, as PECL.
    pub fn enable_exceptions(&mut self) -> Result<(), String> {
        for addr in &self.servers {
            if let Err(e) = servers::probe(addr, self.ssl.tls()) {
                let message = e.to_string();
                self.fail(&e);
                return Err(message);
            }
        }
        self.client.set_exceptions(true);
        Ok(())
    }

    /// `addServers("h1:p1,h2")`: each entry as [`ClientCore::add_server`] would take it.
    pub fn add_servers(&mut self, servers: Option<&str>, check: bool) -> Result<(), String> {
        for (host, port) in servers::list(servers) {
            self.add_server(Some(host), port, check)?;
        }
        Ok(())
    }

    /// True once a server was added.
    pub(crate) fn has_servers(&self) -> bool {
        !self.servers.is_empty()
    }

    pub(crate) fn request(
        &self,
        function: Bytes,
        workload: Bytes,
        unique: Bytes,
        kind: DoKind,
    ) -> JobRequest {
        JobRequest::new(function, workload)
            .priority(kind.priority)
            .unique(unique)
    }

    /// The request of a `do*` call; `None`, with NO_SERVERS recorded, before any server was
    /// added.
    fn do_request(
        &mut self,
        function: &[u8],
        workload: &[u8],
        unique: Option<&[u8]>,
        kind: DoKind,
    ) -> Option<JobRequest> {
        if self.servers.is_empty() {
            self.fail_with(ReturnCode::NO_SERVERS, "no servers added");
            return None;
        }
        Some(self.request(
            Bytes::copy_from_slice(function),
            Bytes::copy_from_slice(workload),
            servers::unique_or_random(unique),
            kind,
        ))
    }

    /// `doNormal`, `doHigh`, `doLow`: run the job to its end, as libgearman 1.1 does: every
    /// WORK_DATA is gathered in front of the WORK_COMPLETE result, warnings are dropped, and a
    /// WORK_FAIL or WORK_EXCEPTION gives an empty result with that return code.
    pub fn do_foreground(
        &mut self,
        function: &[u8],
        workload: &[u8],
        unique: Option<&[u8]>,
        kind: DoKind,
    ) -> Bytes {
        let Some(req) = self.do_request(function, workload, unique, kind) else {
            return Bytes::new();
        };
        // One blocking call for the whole job: nothing here calls back into PHP.
        let followed = match self.client.follow(req) {
            Ok(followed) => followed,
            Err(e) => {
                self.fail(&e);
                return Bytes::new();
            }
        };
        self.job_handle = followed.handle;
        let mut gathered = Vec::new();
        let mut outcome = None;
        for event in followed.events {
            match event {
                JobEvent::Data(data) => gathered.extend_from_slice(&data),
                JobEvent::Warning(_) => {}
                JobEvent::Status {
                    numerator,
                    denominator,
                } => self.status = (numerator, denominator),
                JobEvent::Complete(result) => {
                    gathered.extend_from_slice(&result);
                    outcome = Some(Ok(Bytes::from(std::mem::take(&mut gathered))));
                }
                JobEvent::Fail => {
                    outcome = Some(Err((
                        ReturnCode::WORK_FAIL,
                        "the job failed (WORK_FAIL)".to_owned(),
                    )))
                }
                JobEvent::Exception(data) => {
                    let text = String::from_utf8_lossy(&data);
                    outcome = Some(Err((
                        ReturnCode::WORK_EXCEPTION,
                        format!("the job raised an exception: {text}"),
                    )));
                }
            }
        }
        let outcome = match (outcome, followed.error) {
            (Some(outcome), _) => outcome,
            (None, Some(e)) => Err(from_error(&e)),
            (None, None) => Err((
                ReturnCode::LOST_CONNECTION,
                "the job ended without a result".to_owned(),
            )),
        };
        // The status belongs to the job in progress; it is gone with it.
        self.status = (0, 0);
        match outcome {
            Ok(result) => {
                self.succeed(ReturnCode::SUCCESS);
                result
            }
            Err((code, message)) => {
                self.fail_with(code, message);
                Bytes::new()
            }
        }
    }

    /// `doBackground`, `doHighBackground`, `doLowBackground`: the job handle.
    pub fn do_background(
        &mut self,
        function: &[u8],
        workload: &[u8],
        unique: Option<&[u8]>,
        kind: DoKind,
    ) -> Bytes {
        let Some(req) = self.do_request(function, workload, unique, kind) else {
            return Bytes::new();
        };
        match self.client.submit_background(req) {
            Ok(handle) => {
                self.job_handle = handle.clone();
                self.succeed(ReturnCode::SUCCESS);
                handle
            }
            Err(e) => {
                self.fail(&e);
                Bytes::new()
            }
        }
    }

    /// `doJobHandle()`: the handle of the last job a `do*` call submitted.
    pub fn job_handle(&self) -> &Bytes {
        &self.job_handle
    }

    /// `doStatus()`: the WORK_STATUS of the job a `do*` call is working through; (0, 0) once
    /// the call has returned, as in PECL.
    pub fn do_status(&self) -> (u32, u32) {
        self.status
    }

    /// `jobStatus($handle)`: (known, running, numerator, denominator).
    pub fn job_status(&mut self, handle: &[u8]) -> (bool, bool, u32, u32) {
        match self.client.status(handle) {
            Ok(s) => {
                self.succeed(ReturnCode::SUCCESS);
                (s.known, s.running, s.numerator, s.denominator)
            }
            Err(e) => {
                self.fail(&e);
                (false, false, 0, 0)
            }
        }
    }

    /// `jobStatusByUniqueKey($unique)`: (known, running, numerator, denominator).
    pub fn job_status_by_unique(&mut self, unique: &[u8]) -> (bool, bool, u32, u32) {
        match self.client.status_unique(unique) {
            Ok(s) => {
                self.succeed(ReturnCode::SUCCESS);
                (s.known, s.running, s.numerator, s.denominator)
            }
            Err(e) => {
                self.fail(&e);
                (false, false, 0, 0)
            }
        }
    }

    /// `ping($workload)`: an ECHO round trip that must come back unchanged.
    pub fn ping(&mut self, workload: &[u8]) -> bool {
        if self.servers.is_empty() {
            self.fail_with(ReturnCode::NO_SERVERS, "no servers added");
            return false;
        }
        match self.client.echo(Bytes::copy_from_slice(workload)) {
            Ok(back) if back == workload => {
                self.succeed(ReturnCode::SUCCESS);
                true
            }
            Ok(_) => {
                self.fail_with(
                    ReturnCode::ECHO_DATA_CORRUPTION,
                    "the echo came back changed",
                );
                false
            }
            Err(e) => {
                self.fail(&e);
                false
            }
        }
    }

    /// `context()`.
    pub fn context(&self) -> &Bytes {
        &self.context
    }

    /// `setContext()`.
    pub fn set_context(&mut self, context: &[u8]) {
        self.context = Bytes::copy_from_slice(context);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_client_is_as_pecls() {
        let c = ClientCore::new();
        assert_eq!(c.return_code(), ReturnCode::SUCCESS);
        assert_eq!(c.error(), None);
        assert_eq!(c.options(), 32);
        assert_eq!(c.timeout(), -1);
    }

    #[test]
    fn calls_without_a_server_fail_with_no_servers() {
        let mut c = ClientCore::new();
        let kind = DoKind {
            priority: Priority::Normal,
            background: false,
        };
        assert!(c.do_foreground(b"f", b"x", None, kind).is_empty());
        assert_eq!(c.return_code(), ReturnCode::NO_SERVERS);
        assert!(c.error().is_some());
        assert!(!c.ping(b"x"));
        assert_eq!(c.return_code(), ReturnCode::NO_SERVERS);
    }
}
