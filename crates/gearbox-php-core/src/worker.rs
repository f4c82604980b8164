//! `GearmanWorker` and `GearmanJob` without PHP: a worker's servers, options, timeout,
//! registrations and last return code, and one job's state from its assignment to its answer,
//! over gearbox-client's blocking worker (no runtime before the first call that needs one, a
//! fresh one after a fork).
//!
//! The rules are PECL's (libgearman 1.1.20's): a job a worker function returns from without
//! answering is completed with the return value (its `setReturn` code may make it a fail);
//! one it answered itself keeps that answer; a function that throws sends WORK_EXCEPTION.
//! The binding calls the PHP function between [`WorkerCore::grab`] and [`JobCore::finish`];
//! nothing here knows PHP.

use std::time::Duration;

use bytes::Bytes;
use gearbox_client::blocking::{Client, Job, Worker};

use crate::codes::{from_error, ReturnCode};
use crate::servers;
use crate::ssl::{SslSettings, SslState};

/// `GEARMAN_WORKER_NON_BLOCKING`: `work()` returns `GEARMAN_IO_WAIT` rather than wait.
pub const OPTION_NON_BLOCKING: i64 = 2;
/// `GEARMAN_WORKER_PACKET_INIT`: libgearman's internal state, always reported.
const OPTION_PACKET_INIT: i64 = 4;
/// `GEARMAN_WORKER_CHANGE`: registrations not yet sent to the servers.
const OPTION_CHANGE: i64 = 64;
/// `GEARMAN_WORKER_GRAB_UNIQ`.
const OPTION_GRAB_UNIQ: i64 = 128;
/// `GEARMAN_WORKER_TIMEOUT_RETURN`: `work()` gives up after the timeout (set by `setTimeout`).
const OPTION_TIMEOUT_RETURN: i64 = 256;
/// `GEARMAN_WORKER_GRAB_ALL`.
const OPTION_GRAB_ALL: i64 = 512;
/// `GEARMAN_WORKER_SSL`.
const OPTION_SSL: i64 = 1024;
/// `GEARMAN_WORKER_IDENTIFIER`: the worker has an id (`setId`).
const OPTION_IDENTIFIER: i64 = 2048;
/// The bits `setOptions()` may change; the others are state.
const USABLE_OPTIONS: [i64; 6] = [
    OPTION_NON_BLOCKING,
    OPTION_GRAB_UNIQ,
    OPTION_GRAB_ALL,
    OPTION_TIMEOUT_RETURN,
    OPTION_SSL,
    OPTION_IDENTIFIER,
];
/// A new worker's option bits, as PECL reports them (GRAB_ALL, GRAB_UNIQ, PACKET_INIT).
pub const DEFAULT_OPTIONS: i64 = OPTION_GRAB_ALL | OPTION_GRAB_UNIQ | OPTION_PACKET_INIT;
/// `GEARMAN_WORKER_WAIT_TIMEOUT`: the timeout removing TIMEOUT_RETURN leaves.
const WAIT_TIMEOUT_MS: i64 = 10_000;
/// `GEARMAN_MAX_RETURN`: `setReturn()` takes 0 to this.
const MAX_RETURN: i64 = 53;
/// libgearman's `GEARMAN_MAX_IDENTIFIER`.
const MAX_IDENTIFIER: usize = 254;

/// A worker's state between PHP calls.
pub struct WorkerCore {
    worker: Worker,
    servers: Vec<String>,
    functions: Vec<Bytes>,
    /// The usable option bits set, and the state bits (PACKET_INIT, CHANGE, IDENTIFIER).
    options: i64,
    /// Milliseconds; -1 waits for ever.
    timeout_ms: i64,
    code: ReturnCode,
    error: Option<String>,
    /// A job `wait()` took, for the next `work()` or `grabJob()`.
    waiting: Option<Job>,
    ssl: SslState,
}

impl Default for WorkerCore {
    fn default() -> Self {
        WorkerCore::new()
    }
}

impl WorkerCore {
    /// A worker with no server and no function, as `new GearmanWorker()` gives.
    pub fn new() -> WorkerCore {
        WorkerCore {
            worker: Worker::new(),
            servers: Vec::new(),
            functions: Vec::new(),
            options: DEFAULT_OPTIONS,
            timeout_ms: -1,
            code: ReturnCode::SUCCESS,
            error: None,
            waiting: None,
            ssl: SslState::Off,
        }
    }

    /// `setSSL()` and the `gearman.ssl*` ini settings: TLS for connections opened from now on
    /// (set it before the first `work()`). `Err` (and every later `addServer` refused) when
    /// the settings cannot be used.
    pub fn set_ssl(&mut self, settings: &SslSettings) -> Result<(), String> {
        self.ssl = SslState::from_settings(settings);
        self.worker.set_tls(self.ssl.tls());
        match self.ssl.refusal() {
            Some(e) => {
                let e = e.to_owned();
                self.set_outcome(ReturnCode::INVALID_ARGUMENT, Some(e.clone()));
                Err(e)
            }
            None => {
                self.set_outcome(ReturnCode::SUCCESS, None);
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

    /// Record the outcome of a call.
    pub fn set_outcome(&mut self, code: ReturnCode, error: Option<String>) {
        self.code = code;
        self.error = error;
    }

    fn fail(&mut self, error: &gearbox_client::Error) {
        let (code, message) = from_error(error);
        self.set_outcome(code, Some(message));
    }

    /// `options()`.
    pub fn options(&self) -> i64 {
        self.options
    }

    /// `setOptions()`: each usable bit added or removed as `options` has it; the state bits
    /// stay as they are.
    pub fn set_options(&mut self, options: i64) {
        for bit in USABLE_OPTIONS {
            if options & bit != 0 {
                self.add_options(bit);
            } else {
                self.remove_options(bit);
            }
        }
    }

    /// `addOptions()`. IDENTIFIER gives the worker a random id.
    pub fn add_options(&mut self, options: i64) {
        for bit in USABLE_OPTIONS.into_iter().filter(|bit| options & bit != 0) {
            if bit == OPTION_IDENTIFIER {
                self.worker.set_client_id(Bytes::from(servers::uuid()));
            }
            self.options |= bit;
        }
    }

    /// `removeOptions()`. Removing TIMEOUT_RETURN (even when it was not set) puts the timeout
    /// back to `GEARMAN_WORKER_WAIT_TIMEOUT`, as libgearman does; removing IDENTIFIER drops
    /// the id.
    pub fn remove_options(&mut self, options: i64) {
        for bit in USABLE_OPTIONS.into_iter().filter(|bit| options & bit != 0) {
            match bit {
                OPTION_TIMEOUT_RETURN => self.timeout_ms = WAIT_TIMEOUT_MS,
                OPTION_IDENTIFIER => self.worker.set_client_id(Bytes::new()),
                _ => {}
            }
            self.options &= !bit;
        }
    }

    /// `timeout()`, in milliseconds; -1 for none.
    pub fn timeout(&self) -> i64 {
        self.timeout_ms
    }

    /// `setTimeout()`: how long `work()` waits for a job; negative for ever. It turns
    /// TIMEOUT_RETURN on, without which `work()` waits for ever whatever the timeout.
    pub fn set_timeout(&mut self, ms: i64) {
        self.add_options(OPTION_TIMEOUT_RETURN);
        self.timeout_ms = ms;
    }

    fn wait_limit(&self) -> Option<Duration> {
        if self.options & OPTION_NON_BLOCKING != 0 {
            return Some(Duration::ZERO);
        }
        if self.options & OPTION_TIMEOUT_RETURN == 0 {
            return None;
        }
        u64::try_from(self.timeout_ms)
            .ok()
            .map(Duration::from_millis)
    }

    /// `setId()`: the label `workers` shows. libgearman takes 1 to 254 printable ASCII
    /// characters and nothing else; a refused id leaves the return code alone (PECL does not
    /// record it) but sets the error.
    pub fn set_id(&mut self, id: &[u8]) -> bool {
        let refused = if id.is_empty() {
            Some("the id is empty")
        } else if id.len() > MAX_IDENTIFIER {
            Some("the id is longer than 254 bytes")
        } else if !id.iter().all(u8::is_ascii_graphic) {
            Some("invalid character found in the id (spaces and control characters are refused)")
        } else {
            None
        };
        if let Some(reason) = refused {
            self.error = Some(reason.into());
            return false;
        }
        self.worker.set_client_id(Bytes::copy_from_slice(id));
        self.options |= OPTION_IDENTIFIER;
        true
    }

    /// `addServer($host, $port)`, with PECL's defaults. With `check` (PECL 2.1.5's
    /// `$setupExceptionHandler`, on by default), `Err` (the message for GearmanException) when
    /// the server cannot be reached now: PECL connects here to set the exceptions option and
    /// throws when it cannot.
    pub fn add_server(&mut self, host: Option<&str>, port: u16, check: bool) -> Result<(), String> {
        if let Some(e) = self.ssl.refusal() {
            let e = e.to_owned();
            self.set_outcome(ReturnCode::INVALID_ARGUMENT, Some(e.clone()));
            return Err(e);
        }
        let addr = servers::address(host, port);
        let tls = self.ssl.tls();
        let added = self.worker.add_server(&addr).and_then(|()| {
            if check {
                servers::probe(&addr, tls)
            } else {
                Ok(())
            }
        });
        match added {
            Ok(()) => {
                self.servers.push(addr);
                self.set_outcome(ReturnCode::SUCCESS, None);
                Ok(())
            }
            Err(e) => {
                self.fail(&e);
                Err(e.to_string())
            }
        }
    }

    /// `addServers("h1:p1,h2")`: each as [`WorkerCore::add_server`] takes it.
    pub fn add_servers(&mut self, servers: Option<&str>, check: bool) -> Result<(), String> {
        for (host, port) in servers::list(servers) {
            self.add_server(Some(host), port, check)?;
        }
        Ok(())
    }

    /// `enableExceptionHandler()` (PECL 2.1.5): the exceptions option concerns the jobs a
    /// connection submits, which a worker's do not, so this only checks, as PECL does, that
    /// every server can be reached to set it.
    pub fn enable_exceptions(&mut self) -> Result<(), String> {
        for addr in &self.servers {
            if let Err(e) = servers::probe(addr, self.ssl.tls()) {
                let message = e.to_string();
                self.fail(&e);
                return Err(message);
            }
        }
        Ok(())
    }

    /// `register($function, $timeout)` (and `addFunction`'s registration): CAN_DO, or
    /// CAN_DO_TIMEOUT with the timeout as given, as libgearman sends it. An empty name is
    /// refused (`GEARMAN_INVALID_ARGUMENT`).
    pub fn register(&mut self, function: &[u8], timeout: u32) -> bool {
        if function.is_empty() {
            self.set_outcome(
                ReturnCode::INVALID_ARGUMENT,
                Some("invalid function: the name is empty".into()),
            );
            return false;
        }
        let timeout = (timeout > 0).then(|| Duration::from_millis(u64::from(timeout)));
        self.worker
            .add_function(Bytes::copy_from_slice(function), timeout);
        if !self.functions.iter().any(|f| f == function) {
            self.functions.push(Bytes::copy_from_slice(function));
        }
        self.options |= OPTION_CHANGE;
        self.set_outcome(ReturnCode::SUCCESS, None);
        true
    }

    /// `unregister($function)`: CANT_DO; `GEARMAN_NO_REGISTERED_FUNCTION` if it was not
    /// registered.
    pub fn unregister(&mut self, function: &[u8]) -> bool {
        let Some(at) = self.functions.iter().position(|f| f == function) else {
            self.set_outcome(
                ReturnCode::NO_REGISTERED_FUNCTION,
                Some("the function is not registered".into()),
            );
            return false;
        };
        self.functions.remove(at);
        self.worker.remove_function(function);
        self.options |= OPTION_CHANGE;
        self.set_outcome(ReturnCode::SUCCESS, None);
        true
    }

    /// `unregisterAll()`: `GEARMAN_NO_REGISTERED_FUNCTIONS` when there was none.
    pub fn unregister_all(&mut self) -> bool {
        if self.functions.is_empty() {
            self.set_outcome(
                ReturnCode::NO_REGISTERED_FUNCTIONS,
                Some("no functions are registered".into()),
            );
            return false;
        }
        for function in std::mem::take(&mut self.functions) {
            self.worker.remove_function(&function);
        }
        self.options |= OPTION_CHANGE;
        self.set_outcome(ReturnCode::SUCCESS, None);
        true
    }

    /// Functions registered.
    pub fn functions(&self) -> &[Bytes] {
        &self.functions
    }

    /// The next job, within the timeout (immediately with the non-blocking option): `None`
    /// with the return code saying why (TIMEOUT, IO_WAIT, NO_SERVERS, NO_REGISTERED_FUNCTIONS…).
    pub fn grab(&mut self) -> Option<JobCore> {
        if let Some(job) = self.waiting.take() {
            self.set_outcome(ReturnCode::SUCCESS, None);
            return Some(JobCore::new(job));
        }
        self.next().map(JobCore::new)
    }

    fn next(&mut self) -> Option<Job> {
        if self.servers.is_empty() {
            self.set_outcome(ReturnCode::NO_SERVERS, Some("no servers added".into()));
            return None;
        }
        if self.functions.is_empty() {
            self.set_outcome(
                ReturnCode::NO_REGISTERED_FUNCTIONS,
                Some("no functions registered".into()),
            );
            return None;
        }
        let non_blocking = self.options & OPTION_NON_BLOCKING != 0;
        // The registrations go out with the request for a job.
        self.options &= !OPTION_CHANGE;
        match self.worker.next_job(self.wait_limit()) {
            Ok(Some(job)) => {
                self.set_outcome(ReturnCode::SUCCESS, None);
                Some(job)
            }
            Ok(None) => {
                self.set_outcome(
                    ReturnCode::LOST_CONNECTION,
                    Some("the worker stopped".into()),
                );
                None
            }
            Err(gearbox_client::Error::Timeout) if non_blocking => {
                self.set_outcome(ReturnCode::IO_WAIT, Some("no job ready".into()));
                None
            }
            Err(e) => {
                self.fail(&e);
                None
            }
        }
    }

    /// `wait()`: block (within the timeout) until a job is there for the next `work()`.
    pub fn wait(&mut self) -> bool {
        if self.waiting.is_some() {
            return true;
        }
        let saved = self.options;
        self.options &= !OPTION_NON_BLOCKING;
        let job = self.next();
        self.options = saved;
        match job {
            Some(job) => {
                self.waiting = Some(job);
                true
            }
            None => false,
        }
    }

    /// `ping($data)`: an ECHO round trip to the worker's first server.
    pub fn ping(&mut self, data: &[u8]) -> bool {
        let Some(server) = self.servers.first() else {
            self.set_outcome(ReturnCode::NO_SERVERS, Some("no servers added".into()));
            return false;
        };
        let probe = Client::new();
        probe.set_timeout(self.wait_limit().filter(|t| !t.is_zero()));
        let echoed = probe
            .add_server(server)
            .and_then(|()| probe.echo(Bytes::copy_from_slice(data)));
        match echoed {
            Ok(back) if back == data => {
                self.set_outcome(ReturnCode::SUCCESS, None);
                true
            }
            Ok(_) => {
                self.set_outcome(
                    ReturnCode::ECHO_DATA_CORRUPTION,
                    Some("the echo came back changed".into()),
                );
                false
            }
            Err(e) => {
                self.fail(&e);
                false
            }
        }
    }
}

/// One job from its assignment to its answer.
pub struct JobCore {
    job: Option<Job>,
    handle: Bytes,
    function: Bytes,
    unique: Bytes,
    workload: Bytes,
    /// The code of the last `send*` or `setReturn()` call: PECL keeps one, so that a
    /// `setReturn(GEARMAN_WORK_FAIL)` followed by a successful send no longer fails the job.
    code: ReturnCode,
}

impl Default for JobCore {
    /// An empty job, as `new GearmanJob()` gives in PHP.
    fn default() -> Self {
        JobCore {
            job: None,
            handle: Bytes::new(),
            function: Bytes::new(),
            unique: Bytes::new(),
            workload: Bytes::new(),
            code: ReturnCode::SUCCESS,
        }
    }
}

impl JobCore {
    fn new(job: Job) -> JobCore {
        JobCore {
            handle: Bytes::copy_from_slice(job.handle()),
            function: Bytes::copy_from_slice(job.function()),
            unique: Bytes::copy_from_slice(job.unique()),
            workload: job.workload().clone(),
            job: Some(job),
            ..JobCore::default()
        }
    }

    /// The job handle.
    pub fn handle(&self) -> &Bytes {
        &self.handle
    }

    /// The function name.
    pub fn function(&self) -> &Bytes {
        &self.function
    }

    /// The unique id.
    pub fn unique(&self) -> &Bytes {
        &self.unique
    }

    /// The workload.
    pub fn workload(&self) -> &Bytes {
        &self.workload
    }

    /// True once the job was given a terminal answer (or never was a live job).
    pub fn answered(&self) -> bool {
        self.job.is_none()
    }

    /// `returnCode()`.
    pub fn return_code(&self) -> ReturnCode {
        self.code
    }

    /// `setReturn()`: what the job ends with if the function does not answer it
    /// (`GEARMAN_WORK_FAIL` fails it); false, changing nothing, for a code libgearman does
    /// not have.
    pub fn set_return(&mut self, code: ReturnCode) -> bool {
        if !(0..=MAX_RETURN).contains(&code.0) {
            return false;
        }
        self.code = code;
        true
    }

    fn outcome(&mut self, sent: Result<(), gearbox_client::Error>) -> bool {
        self.code = match sent {
            Ok(()) => ReturnCode::SUCCESS,
            Err(e) => from_error(&e).0,
        };
        self.code.is_success()
    }

    /// A send on a job that is not live: PECL refuses data and warnings quietly and lets
    /// libgearman answer the others with `GEARMAN_INVALID_ARGUMENT`.
    fn not_live(&mut self) -> bool {
        self.code = ReturnCode::INVALID_ARGUMENT;
        false
    }

    /// `sendData()`.
    pub fn send_data(&mut self, data: &[u8]) -> bool {
        let Some(job) = &self.job else {
            return false;
        };
        let sent = job.data(data);
        self.outcome(sent)
    }

    /// `sendWarning()`.
    pub fn send_warning(&mut self, data: &[u8]) -> bool {
        let Some(job) = &self.job else {
            return false;
        };
        let sent = job.warning(data);
        self.outcome(sent)
    }

    /// `sendStatus()`.
    pub fn send_status(&mut self, numerator: u32, denominator: u32) -> bool {
        let Some(job) = &self.job else {
            return self.not_live();
        };
        let sent = job.status(numerator, denominator);
        self.outcome(sent)
    }

    /// `sendComplete()`.
    pub fn send_complete(&mut self, result: &[u8]) -> bool {
        let Some(job) = self.job.take() else {
            return self.not_live();
        };
        let sent = job.complete(result);
        self.outcome(sent)
    }

    /// `sendFail()`.
    pub fn send_fail(&mut self) -> bool {
        let Some(job) = self.job.take() else {
            return self.not_live();
        };
        let sent = job.fail();
        self.outcome(sent)
    }

    /// `sendException()`.
    pub fn send_exception(&mut self, exception: &[u8]) -> bool {
        let Some(job) = self.job.take() else {
            return self.not_live();
        };
        let sent = job.exception(exception);
        self.outcome(sent)
    }

    /// After the worker function returned `result`: answer the job unless it answered itself,
    /// with a complete, or with a fail when `setReturn` said so. The code `work()` reports.
    pub fn finish(&mut self, result: &[u8]) -> ReturnCode {
        if self.answered() {
            return ReturnCode::SUCCESS;
        }
        match self.code {
            ReturnCode::WORK_FAIL => {
                self.send_fail();
                ReturnCode::WORK_FAIL
            }
            _ => {
                self.send_complete(result);
                self.code
            }
        }
    }

    /// After the worker function threw `message`: WORK_EXCEPTION with it, unless the job was
    /// answered already. The code `work()` reports.
    pub fn finish_with_exception(&mut self, message: &[u8]) -> ReturnCode {
        if !self.answered() {
            self.send_exception(message);
        }
        ReturnCode::WORK_EXCEPTION
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_worker_is_as_pecls() {
        let w = WorkerCore::new();
        assert_eq!(w.options(), 644);
        assert_eq!(w.timeout(), -1);
        assert_eq!(w.return_code(), ReturnCode::SUCCESS);
    }

    #[test]
    fn grabbing_needs_a_reachable_server() {
        let mut w = WorkerCore::new();
        assert!(w.grab().is_none());
        assert_eq!(w.return_code(), ReturnCode::NO_SERVERS);
        assert!(w.add_server(Some("127.0.0.1"), 1, true).is_err());
        assert!(w.grab().is_none());
        assert_eq!(w.return_code(), ReturnCode::NO_SERVERS);
    }

    #[test]
    fn registrations_are_libgearmans() {
        let mut w = WorkerCore::new();
        assert!(!w.unregister(b"f"));
        assert_eq!(w.return_code(), ReturnCode::NO_REGISTERED_FUNCTION);
        assert!(!w.unregister_all());
        assert_eq!(w.return_code(), ReturnCode::NO_REGISTERED_FUNCTIONS);
        assert!(!w.register(b"", 0));
        assert_eq!(w.return_code(), ReturnCode::INVALID_ARGUMENT);
        assert!(w.register(b"f", 0));
        assert_eq!(w.functions(), [Bytes::from_static(b"f")]);
        assert_eq!(w.options(), DEFAULT_OPTIONS | OPTION_CHANGE);
        assert!(w.unregister(b"f"));
        assert!(w.functions().is_empty());
    }

    #[test]
    fn options_keep_their_state_bits() {
        let mut w = WorkerCore::new();
        w.set_options(OPTION_NON_BLOCKING);
        assert_eq!(w.options(), OPTION_NON_BLOCKING | OPTION_PACKET_INIT);
        // setOptions removed TIMEOUT_RETURN, which resets the timeout.
        assert_eq!(w.timeout(), WAIT_TIMEOUT_MS);
        w.set_timeout(150);
        assert_eq!(w.options() & OPTION_TIMEOUT_RETURN, OPTION_TIMEOUT_RETURN);
        w.add_options(OPTION_IDENTIFIER);
        assert_eq!(w.options() & OPTION_IDENTIFIER, OPTION_IDENTIFIER);
        w.remove_options(OPTION_IDENTIFIER | OPTION_NON_BLOCKING);
        assert_eq!(w.options(), OPTION_PACKET_INIT | OPTION_TIMEOUT_RETURN);
    }

    #[test]
    fn without_timeout_return_work_waits_for_ever() {
        let mut w = WorkerCore::new();
        assert_eq!(w.wait_limit(), None);
        w.set_timeout(150);
        assert_eq!(w.wait_limit(), Some(Duration::from_millis(150)));
        w.remove_options(OPTION_TIMEOUT_RETURN);
        assert_eq!(w.wait_limit(), None);
        w.add_options(OPTION_NON_BLOCKING);
        assert_eq!(w.wait_limit(), Some(Duration::ZERO));
    }

    #[test]
    fn ids_are_printable_and_short() {
        let mut w = WorkerCore::new();
        assert!(!w.set_id(b"my id"));
        assert!(!w.set_id(b""));
        assert!(!w.set_id(&[b'a'; 255]));
        assert!(w.error().is_some());
        assert_eq!(w.return_code(), ReturnCode::SUCCESS);
        assert_eq!(w.options() & OPTION_IDENTIFIER, 0);
        assert!(w.set_id(&[b'a'; 254]));
        assert_eq!(w.options() & OPTION_IDENTIFIER, OPTION_IDENTIFIER);
    }

    #[test]
    fn set_return_takes_libgearmans_codes_only() {
        let mut job = JobCore::default();
        assert!(job.set_return(ReturnCode::WORK_FAIL));
        assert!(!job.set_return(ReturnCode(54)));
        assert!(!job.set_return(ReturnCode(-1)));
        assert_eq!(job.return_code(), ReturnCode::WORK_FAIL);
    }

    #[test]
    fn an_empty_job_answers_nothing() {
        let mut job = JobCore::default();
        assert!(job.answered());
        assert!(!job.send_complete(b"x"));
        assert!(!job.send_data(b"x"));
        assert_eq!(job.finish(b"r"), ReturnCode::SUCCESS);
    }
}
