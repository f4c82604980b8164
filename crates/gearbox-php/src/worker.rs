//! `GearmanWorker`: the PHP class over `gearbox_php_core::worker::WorkerCore`, and the one place
//! that calls PHP worker functions. `work()` takes a job from the core with no borrow held,
//! calls the function registered for it with the `GearmanJob` (and the context, when one was
//! given), then lets the core answer the job from what the function returned or threw; the
//! exception itself reaches `work()`'s caller unchanged. The procedural `gearman_worker_*`
//! functions (`functions.rs`) call these same methods.

use std::cell::RefCell;
use std::rc::Rc;

use bytes::Bytes;
use ext_php_rs::binary::Binary;
use ext_php_rs::convert::IntoZval;
use ext_php_rs::prelude::*;
use ext_php_rs::types::{ZendClassObject, Zval};
use gearbox_php_core::codes::ReturnCode;
use gearbox_php_core::worker::{JobCore, WorkerCore};

use crate::callbacks::{call, pending_exception_message, propagate};
use crate::exception::{gearman_exception, server_unreachable, warn, warn_failure};
use crate::ini;
use crate::job::GearmanJob;
use crate::values::{string_or_false, CallableArg};

/// The codes `work()` returns false for without a warning, as PECL.
const WORK_QUIET: [ReturnCode; 6] = [
    ReturnCode::SUCCESS,
    ReturnCode::IO_WAIT,
    ReturnCode::WORK_FAIL,
    ReturnCode::TIMEOUT,
    ReturnCode::WORK_EXCEPTION,
    ReturnCode::NO_JOBS,
];

/// A worker function: the callable, and the context it is called with, if one was given.
struct Function {
    name: Bytes,
    callable: Zval,
    context: Option<Zval>,
}

/// A Gearman worker.
// No `Default`: ext-php-rs builds an object of a class with `Default` as an instance of this
// class even when PHP asked for a subclass (0.16.4), which would bypass a subclass's
// constructor and methods; without it, `new` on a subclass makes a subclass object.
#[php_class]
#[php(name = "GearmanWorker")]
pub struct GearmanWorker {
    core: RefCell<WorkerCore>,
    functions: RefCell<Vec<Function>>,
}

fn port(port: i64) -> u16 {
    u16::try_from(port).unwrap_or(0)
}

impl GearmanWorker {
    /// A worker with no server and no function, as `new GearmanWorker()` gives.
    pub fn new() -> GearmanWorker {
        let worker = GearmanWorker {
            core: RefCell::default(),
            functions: RefCell::default(),
        };
        let defaults = ini::ssl_defaults();
        if defaults.enabled {
            if let Err(e) = worker.core.borrow_mut().set_ssl(&defaults) {
                warn(&format!("gearman.ssl: {e}"));
            }
        }
        worker
    }

    /// Why `addServer` failed, as the exception PECL throws, or the TLS settings' reason.
    fn add_error(&self) -> PhpException {
        let core = self.core.borrow();
        if core.return_code() == ReturnCode::INVALID_ARGUMENT {
            gearman_exception(core.error().unwrap_or("invalid TLS settings"), 0)
        } else {
            server_unreachable()
        }
    }

    /// `ok`, after warning with the last error when it is false (PECL's rule for most calls).
    fn warn_unless(&self, ok: bool) -> bool {
        if !ok {
            self.warn_last_error();
        }
        ok
    }

    fn warn_last_error(&self) {
        let core = self.core.borrow();
        warn_failure(core.return_code(), core.error());
    }

    /// Run the worker function for `job`; the return code `work()` reports (with a message
    /// when it is a failure of the worker's own), or the exception the function threw.
    fn run(&self, job: JobCore) -> PhpResult<(ReturnCode, Option<String>)> {
        let function = job.function().clone();
        let found = self
            .functions
            .borrow()
            .iter()
            .find(|f| f.name == function)
            .map(|f| {
                (
                    f.callable.shallow_clone(),
                    f.context.as_ref().map(Zval::shallow_clone),
                )
            });
        let shared = Rc::new(RefCell::new(job));
        let Some((callable, context)) = found else {
            // Registered with register() only: nothing can run it. libgearman leaves such a
            // job unanswered until the worker disconnects; failing it lets the client go on.
            shared.borrow_mut().send_fail();
            let message = "no PHP function was added for this function (register() only)";
            return Ok((ReturnCode::INVALID_FUNCTION_NAME, Some(message.into())));
        };
        let object = ZendClassObject::new(GearmanJob::wrap(Rc::clone(&shared)));
        let job_zval = object.into_zval(false)?;
        // PECL always passes the context, null when none was given.
        let context = context.unwrap_or_default();
        match call(&callable, &[&job_zval, &context]) {
            Ok(value) => {
                let result = crate::values::result_bytes(&value);
                Ok((shared.borrow_mut().finish(&result), None))
            }
            Err(threw) => {
                let message = pending_exception_message();
                shared.borrow_mut().finish_with_exception(&message);
                self.core.borrow_mut().set_outcome(
                    ReturnCode::WORK_EXCEPTION,
                    Some("the worker function threw".into()),
                );
                Err(propagate(threw))
            }
        }
    }
}

#[php_impl]
impl GearmanWorker {
    pub fn __construct() -> Self {
        GearmanWorker::new()
    }

    /// The return code of the last call (`GEARMAN_*`).
    pub fn return_code(&self) -> Option<i64> {
        Some(self.core.borrow().return_code().0)
    }

    /// The last failure's message, or `false` when the last call succeeded.
    pub fn error(&self) -> Zval {
        string_or_false(self.core.borrow().error())
    }

    /// The system error number of the last failure; 0 (Gearbox reports errors as text).
    pub fn get_errno(&self) -> Zval {
        crate::values::optional_int(Some(0))
    }

    /// The worker's option bits (`GEARMAN_WORKER_*`).
    pub fn options(&self) -> Option<i64> {
        Some(self.core.borrow().options())
    }

    /// Set the option bits that can be set (`GEARMAN_WORKER_NON_BLOCKING`, `_GRAB_UNIQ`,
    /// `_GRAB_ALL`, `_TIMEOUT_RETURN`) to those in `$option`.
    pub fn set_options(&self, option: i64) -> Option<bool> {
        self.core.borrow_mut().set_options(option);
        Some(true)
    }

    /// Add option bits.
    pub fn add_options(&self, option: i64) -> Option<bool> {
        self.core.borrow_mut().add_options(option);
        Some(true)
    }

    /// Remove option bits.
    pub fn remove_options(&self, option: i64) -> Option<bool> {
        self.core.borrow_mut().remove_options(option);
        Some(true)
    }

    /// How long `work()` waits for a job, in milliseconds; -1 for ever.
    pub fn timeout(&self) -> Option<i64> {
        Some(self.core.borrow().timeout())
    }

    /// Set how long `work()` waits for a job; negative waits for ever.
    pub fn set_timeout(&self, timeout: i64) -> bool {
        self.core.borrow_mut().set_timeout(timeout);
        true
    }

    /// Label the worker's connections (shown by the admin `workers` command): 1 to 254
    /// printable characters, no spaces; false otherwise.
    pub fn set_id(&self, id: Binary<u8>) -> bool {
        self.core.borrow_mut().set_id(&id)
    }

    /// Add a job server (`localhost` and port 4730 by default); with
    /// `$setupExceptionHandler` (PECL 2.1.5, on by default), a `GearmanException` when it
    /// cannot be reached.
    #[php(defaults(port = 0, setupExceptionHandler = true))]
    pub fn add_server(
        &self,
        host: Option<String>,
        port: i64,
        setupExceptionHandler: bool,
    ) -> PhpResult<bool> {
        let added = self.core.borrow_mut().add_server(
            host.as_deref(),
            self::port(port),
            setupExceptionHandler,
        );
        added.map(|()| true).map_err(|_| self.add_error())
    }

    /// Gearbox's own: TLS for the connections opened from now on (set it before the first
    /// `work()`); as `GearmanClient::setSSL()`.
    #[php(name = "setSSL", defaults(enable = true))]
    pub fn set_ssl(
        &self,
        enable: bool,
        caFile: Option<String>,
        certificate: Option<String>,
        key: Option<String>,
        serverName: Option<String>,
    ) -> bool {
        let settings = ini::ssl_arguments(enable, caFile, certificate, key, serverName);
        let set = self.core.borrow_mut().set_ssl(&settings).is_ok();
        self.warn_unless(set)
    }

    /// Add job servers from a list such as `"10.0.0.1:4730,10.0.0.2"`.
    #[php(defaults(setupExceptionHandler = true))]
    pub fn add_servers(
        &self,
        servers: Option<String>,
        setupExceptionHandler: bool,
    ) -> PhpResult<bool> {
        let added = self
            .core
            .borrow_mut()
            .add_servers(servers.as_deref(), setupExceptionHandler);
        added.map(|()| true).map_err(|_| self.add_error())
    }

    /// PECL 2.1.5's: check that every server can be reached to set the exceptions option
    /// (which concerns jobs a connection submits, so changes nothing for a worker).
    pub fn enable_exception_handler(&self) -> PhpResult<bool> {
        let enabled = self.core.borrow_mut().enable_exceptions();
        enabled.map(|()| true).map_err(|_| server_unreachable())
    }

    /// Wait (within the timeout) until a job is there for the next `work()`.
    pub fn wait(&self) -> bool {
        let ok = self.core.borrow_mut().wait();
        if !ok && self.core.borrow().return_code() != ReturnCode::TIMEOUT {
            self.warn_last_error();
        }
        ok
    }

    /// Announce a function without a PHP function to run it (for `grabJob()`).
    #[php(defaults(timeout = 0))]
    pub fn register(&self, function_name: Binary<u8>, timeout: i64) -> bool {
        let timeout = u32::try_from(timeout.max(0)).unwrap_or(u32::MAX);
        let ok = self.core.borrow_mut().register(&function_name, timeout);
        self.warn_unless(ok)
    }

    /// Stop announcing a function.
    pub fn unregister(&self, function_name: Binary<u8>) -> bool {
        self.functions
            .borrow_mut()
            .retain(|f| f.name.as_ref() != function_name.as_slice());
        let ok = self.core.borrow_mut().unregister(&function_name);
        self.warn_unless(ok)
    }

    /// Stop announcing every function.
    pub fn unregister_all(&self) -> bool {
        self.functions.borrow_mut().clear();
        let ok = self.core.borrow_mut().unregister_all();
        self.warn_unless(ok)
    }

    /// Run `$function` for every job of `$function_name`: called with the `GearmanJob`, and
    /// `$context` when one is given; what it returns is the job's result.
    #[php(defaults(timeout = 0))]
    pub fn add_function(
        &self,
        function_name: Binary<u8>,
        function: CallableArg,
        context: Option<&Zval>,
        timeout: i64,
    ) -> bool {
        let CallableArg(function) = function;
        if !function.is_callable() {
            let shown = function.string().unwrap_or_else(|| "[callable]".into());
            warn(&format!("Function '{shown}' is not a valid callback"));
            return false;
        }
        let timeout = u32::try_from(timeout.max(0)).unwrap_or(u32::MAX);
        if !self.core.borrow_mut().register(&function_name, timeout) {
            let core = self.core.borrow();
            let error = core.error().unwrap_or_default();
            warn(&format!(
                "Unable to add function to Gearman Worker: {error} {}",
                core.return_code().name()
            ));
            return false;
        }
        let name = Bytes::copy_from_slice(&function_name);
        let mut functions = self.functions.borrow_mut();
        functions.retain(|f| f.name != name);
        functions.push(Function {
            name,
            callable: function.shallow_clone(),
            context: context.map(Zval::shallow_clone),
        });
        true
    }

    /// Take one job and run its function: `true` when it was done, `false` with the reason in
    /// `returnCode()` (`GEARMAN_TIMEOUT`, `GEARMAN_IO_WAIT`, `GEARMAN_WORK_FAIL`…). An exception
    /// the function throws is sent as WORK_EXCEPTION, then thrown on from here.
    pub fn work(&self) -> PhpResult<bool> {
        let job = self.core.borrow_mut().grab();
        let Some(job) = job else {
            if !WORK_QUIET.contains(&self.core.borrow().return_code()) {
                self.warn_last_error();
            }
            return Ok(false);
        };
        let (code, message) = self.run(job)?;
        self.core.borrow_mut().set_outcome(code, message);
        if !WORK_QUIET.contains(&code) {
            self.warn_last_error();
        }
        Ok(code.is_success())
    }

    /// Take one job without running anything: its `GearmanJob`, or `false`.
    pub fn grab_job(&self) -> PhpResult<Zval> {
        let job = self.core.borrow_mut().grab();
        match job {
            Some(job) => {
                let object = ZendClassObject::new(GearmanJob::wrap(Rc::new(RefCell::new(job))));
                Ok(object.into_zval(false)?)
            }
            None => {
                if self.core.borrow().return_code() != ReturnCode::IO_WAIT {
                    self.warn_last_error();
                }
                Ok(string_or_false(None))
            }
        }
    }

    /// Send `$data` to the first server and expect it back.
    pub fn ping(&self, data: Binary<u8>) -> bool {
        let ok = self.core.borrow_mut().ping(&data);
        self.warn_unless(ok)
    }
}
