//! `GearmanClient`: the PHP class over `gearbox_php_core::client::ClientCore`. Each method
//! borrows the core, asks it, and turns the answer into PHP values; the core decides. The
//! procedural `gearman_client_*` functions (`functions/client.rs`) call these same methods;
//! the tasks and their callbacks are `run.rs`'s.

use std::cell::RefCell;

use ext_php_rs::binary::Binary;
use ext_php_rs::boxed::ZBox;
use ext_php_rs::prelude::*;
use ext_php_rs::types::{ZendHashTable, Zval};
use gearbox_client::Priority;
use gearbox_php_core::client::{ClientCore, DoKind};
use gearbox_php_core::codes::ReturnCode;
use gearbox_php_core::tasks::Callback;

use crate::exception::{gearman_exception, server_unreachable, warn, warn_failure};
use crate::ini;
use crate::run::{Callbacks, PhpTasks};
use crate::values::{bytes, status_array, string_or_false, CallableArg, WorkloadArg};

/// A Gearman client.
// No `Default`: ext-php-rs builds an object of a class with `Default` as an instance of this
// class even when PHP asked for a subclass (0.16.4), which would bypass a subclass's
// constructor and methods; without it, `new` on a subclass makes a subclass object.
#[php_class]
#[php(name = "GearmanClient")]
pub struct GearmanClient {
    pub(crate) core: RefCell<ClientCore>,
    pub(crate) callbacks: RefCell<Callbacks>,
    pub(crate) tasks: RefCell<PhpTasks>,
}

fn kind(priority: Priority, background: bool) -> DoKind {
    DoKind {
        priority,
        background,
    }
}

impl GearmanClient {
    /// A client with no server, as `new GearmanClient()` gives; TLS if the ini says so.
    pub fn new() -> GearmanClient {
        let client = GearmanClient {
            core: RefCell::default(),
            callbacks: RefCell::default(),
            tasks: RefCell::default(),
        };
        let defaults = ini::ssl_defaults();
        if defaults.enabled {
            if let Err(e) = client.core.borrow_mut().set_ssl(&defaults) {
                warn(&format!("gearman.ssl: {e}"));
            }
        }
        client
    }

    /// `addServer`'s failure: the TLS settings' reason, else PECL's exception or warning.
    fn add_failed(&self, setup: bool) -> PhpResult<bool> {
        let core = self.core.borrow();
        match (core.return_code(), setup) {
            (ReturnCode::INVALID_ARGUMENT, true) => Err(gearman_exception(
                core.error().unwrap_or("invalid TLS settings"),
                0,
            )),
            (_, true) => Err(server_unreachable()),
            (code, false) => {
                warn_failure(code, core.error());
                Ok(false)
            }
        }
    }

    fn run_do(
        &self,
        function: &[u8],
        workload: &[u8],
        unique: Option<&[u8]>,
        kind: DoKind,
    ) -> Binary<u8> {
        let mut core = self.core.borrow_mut();
        let out = if kind.background {
            core.do_background(function, workload, unique, kind)
        } else {
            core.do_foreground(function, workload, unique, kind)
        };
        drop(core);
        self.warn_unless(|code| code.is_client_ok());
        bytes(&out)
    }

    /// Warn with the last error unless `ok` accepts the last return code (PECL warns on
    /// most failures; scripts that turn warnings into exceptions rely on it).
    pub(crate) fn warn_unless(&self, ok: impl Fn(ReturnCode) -> bool) {
        let core = self.core.borrow();
        if !ok(core.return_code()) {
            warn_failure(core.return_code(), core.error());
        }
    }

    /// The status calls warn on anything but success (or I/O wait).
    fn status_warning(&self) {
        self.warn_unless(|code| code == ReturnCode::SUCCESS || code == ReturnCode::IO_WAIT);
    }
}

#[php_impl]
impl GearmanClient {
    pub fn __construct() -> Self {
        GearmanClient::new()
    }

    /// The return code of the last call (`GEARMAN_*`).
    pub fn return_code(&self) -> i64 {
        self.core.borrow().return_code().0
    }

    /// The last failure's message, or `false` when the last call succeeded.
    pub fn error(&self) -> Zval {
        string_or_false(self.core.borrow().error())
    }

    /// The system error number of the last failure; 0 (Gearbox reports errors as text).
    pub fn get_errno(&self) -> i64 {
        0
    }

    /// The client's option bits (`GEARMAN_CLIENT_*`).
    pub fn options(&self) -> i64 {
        self.core.borrow().options()
    }

    /// Replace the option bits.
    pub fn set_options(&self, option: i64) -> bool {
        self.core.borrow_mut().set_options(option);
        true
    }

    /// Add option bits.
    pub fn add_options(&self, option: i64) -> bool {
        let mut core = self.core.borrow_mut();
        let options = core.options() | option;
        core.set_options(options);
        true
    }

    /// Remove option bits.
    pub fn remove_options(&self, option: i64) -> bool {
        let mut core = self.core.borrow_mut();
        let options = core.options() & !option;
        core.set_options(options);
        true
    }

    /// The I/O timeout in milliseconds; -1 waits for ever.
    pub fn timeout(&self) -> i64 {
        self.core.borrow().timeout()
    }

    /// Set the I/O timeout in milliseconds; negative waits for ever.
    pub fn set_timeout(&self, timeout: i64) -> bool {
        self.core.borrow_mut().set_timeout(timeout);
        true
    }

    /// Add a job server (`localhost` and port 4730 by default). With `$setupExceptionHandler`
    /// the server must answer now, or a `GearmanException` is thrown.
    #[php(defaults(port = 0, setupExceptionHandler = true))]
    pub fn add_server(
        &self,
        host: Option<String>,
        port: i64,
        setupExceptionHandler: bool,
    ) -> PhpResult<bool> {
        let port = u16::try_from(port).unwrap_or(0);
        let added = self
            .core
            .borrow_mut()
            .add_server(host.as_deref(), port, setupExceptionHandler);
        match added {
            Ok(()) => Ok(true),
            Err(_) => self.add_failed(setupExceptionHandler),
        }
    }

    /// Gearbox's own: TLS for the connections opened from now on (`$enable = false`: plain
    /// TCP). A path not given takes its `gearman.ssl_*` ini value; no CA file means the
    /// system's CA bundle. False, with a warning, when a file cannot be used; `addServer` is
    /// then refused until TLS is set right or off: never a silent fallback to plaintext.
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
        let set = self.core.borrow_mut().set_ssl(&settings);
        self.warn_unless(|code| code.is_success());
        set.is_ok()
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
        match added {
            Ok(()) => Ok(true),
            Err(_) => self.add_failed(setupExceptionHandler),
        }
    }

    /// Run a job and wait for its result (or for its next WORK_DATA, WORK_WARNING or
    /// WORK_STATUS: see `returnCode()`).
    pub fn do_normal(
        &self,
        function: Binary<u8>,
        workload: Binary<u8>,
        unique: Option<Binary<u8>>,
    ) -> Binary<u8> {
        self.run_do(
            &function,
            &workload,
            unique.as_ref().map(|u| u.as_slice()),
            kind(Priority::Normal, false),
        )
    }

    /// `doNormal` at high priority.
    pub fn do_high(
        &self,
        function: Binary<u8>,
        workload: Binary<u8>,
        unique: Option<Binary<u8>>,
    ) -> Binary<u8> {
        self.run_do(
            &function,
            &workload,
            unique.as_ref().map(|u| u.as_slice()),
            kind(Priority::High, false),
        )
    }

    /// `doNormal` at low priority.
    pub fn do_low(
        &self,
        function: Binary<u8>,
        workload: Binary<u8>,
        unique: Option<Binary<u8>>,
    ) -> Binary<u8> {
        self.run_do(
            &function,
            &workload,
            unique.as_ref().map(|u| u.as_slice()),
            kind(Priority::Low, false),
        )
    }

    /// Submit a background job; its handle.
    pub fn do_background(
        &self,
        function: Binary<u8>,
        workload: Binary<u8>,
        unique: Option<Binary<u8>>,
    ) -> Binary<u8> {
        self.run_do(
            &function,
            &workload,
            unique.as_ref().map(|u| u.as_slice()),
            kind(Priority::Normal, true),
        )
    }

    /// `doBackground` at high priority.
    pub fn do_high_background(
        &self,
        function: Binary<u8>,
        workload: Binary<u8>,
        unique: Option<Binary<u8>>,
    ) -> Binary<u8> {
        self.run_do(
            &function,
            &workload,
            unique.as_ref().map(|u| u.as_slice()),
            kind(Priority::High, true),
        )
    }

    /// `doBackground` at low priority.
    pub fn do_low_background(
        &self,
        function: Binary<u8>,
        workload: Binary<u8>,
        unique: Option<Binary<u8>>,
    ) -> Binary<u8> {
        self.run_do(
            &function,
            &workload,
            unique.as_ref().map(|u| u.as_slice()),
            kind(Priority::Low, true),
        )
    }

    /// The handle of the last job a `do*` call submitted.
    pub fn do_job_handle(&self) -> Binary<u8> {
        bytes(self.core.borrow().job_handle())
    }

    /// `[numerator, denominator]` of the last WORK_STATUS a `do*` call returned.
    pub fn do_status(&self) -> ZBox<ZendHashTable> {
        let (numerator, denominator) = self.core.borrow().do_status();
        let mut array = ZendHashTable::new();
        let _ = array.push(i64::from(numerator));
        let _ = array.push(i64::from(denominator));
        array
    }

    /// `[known, running, numerator, denominator]` of the job `$job_handle`.
    pub fn job_status(&self, job_handle: Binary<u8>) -> ZBox<ZendHashTable> {
        let status = self.core.borrow_mut().job_status(&job_handle);
        self.status_warning();
        status_array(status)
    }

    /// `[known, running, numerator, denominator]` of the job with the unique `$unique_key`.
    pub fn job_status_by_unique_key(&self, unique_key: Binary<u8>) -> ZBox<ZendHashTable> {
        let status = self.core.borrow_mut().job_status_by_unique(&unique_key);
        self.status_warning();
        status_array(status)
    }

    /// Send `$workload` to a server and expect it back.
    pub fn ping(&self, workload: Binary<u8>) -> bool {
        let ok = self.core.borrow_mut().ping(&workload);
        self.status_warning();
        ok
    }

    /// The client's context string.
    pub fn context(&self) -> Binary<u8> {
        bytes(self.core.borrow().context())
    }

    /// Set the client's context string.
    pub fn set_context(&self, data: Binary<u8>) -> bool {
        self.core.borrow_mut().set_context(&data);
        true
    }

    /// Add a task for the next `runTasks()`: a job of `$function_name` with `$workload`
    /// (a string or number), `$context` for its callbacks and an optional unique id.
    pub fn add_task(
        &self,
        function_name: Binary<u8>,
        workload: WorkloadArg,
        context: Option<&Zval>,
        unique_key: Option<Binary<u8>>,
    ) -> PhpResult<Zval> {
        self.add_task_of_kind(
            &function_name,
            workload,
            context,
            unique_key.as_ref().map(|u| u.as_slice()),
            kind(Priority::Normal, false),
        )
    }

    /// `addTask` at high priority.
    pub fn add_task_high(
        &self,
        function_name: Binary<u8>,
        workload: WorkloadArg,
        context: Option<&Zval>,
        unique_key: Option<Binary<u8>>,
    ) -> PhpResult<Zval> {
        self.add_task_of_kind(
            &function_name,
            workload,
            context,
            unique_key.as_ref().map(|u| u.as_slice()),
            kind(Priority::High, false),
        )
    }

    /// `addTask` at low priority.
    pub fn add_task_low(
        &self,
        function_name: Binary<u8>,
        workload: WorkloadArg,
        context: Option<&Zval>,
        unique_key: Option<Binary<u8>>,
    ) -> PhpResult<Zval> {
        self.add_task_of_kind(
            &function_name,
            workload,
            context,
            unique_key.as_ref().map(|u| u.as_slice()),
            kind(Priority::Low, false),
        )
    }

    /// `addTask` for a background job: its callbacks end with `created`.
    pub fn add_task_background(
        &self,
        function_name: Binary<u8>,
        workload: WorkloadArg,
        context: Option<&Zval>,
        unique_key: Option<Binary<u8>>,
    ) -> PhpResult<Zval> {
        self.add_task_of_kind(
            &function_name,
            workload,
            context,
            unique_key.as_ref().map(|u| u.as_slice()),
            kind(Priority::Normal, true),
        )
    }

    /// `addTaskBackground` at high priority.
    pub fn add_task_high_background(
        &self,
        function_name: Binary<u8>,
        workload: WorkloadArg,
        context: Option<&Zval>,
        unique_key: Option<Binary<u8>>,
    ) -> PhpResult<Zval> {
        self.add_task_of_kind(
            &function_name,
            workload,
            context,
            unique_key.as_ref().map(|u| u.as_slice()),
            kind(Priority::High, true),
        )
    }

    /// `addTaskBackground` at low priority.
    pub fn add_task_low_background(
        &self,
        function_name: Binary<u8>,
        workload: WorkloadArg,
        context: Option<&Zval>,
        unique_key: Option<Binary<u8>>,
    ) -> PhpResult<Zval> {
        self.add_task_of_kind(
            &function_name,
            workload,
            context,
            unique_key.as_ref().map(|u| u.as_slice()),
            kind(Priority::Low, true),
        )
    }

    /// Add a task asking for the status of the job `$job_handle`: its status callback.
    pub fn add_task_status(
        &self,
        job_handle: Binary<u8>,
        context: Option<&Zval>,
    ) -> PhpResult<Zval> {
        self.add_status_task(&job_handle, context)
    }

    /// Run the tasks added until each has ended, making their callbacks; false (with a
    /// warning) when the run stopped on a failure such as `GEARMAN_TIMEOUT`, the unfinished
    /// tasks staying for the next call.
    pub fn run_tasks(&self) -> PhpResult<bool> {
        self.run_tasks_now()
    }

    /// Wait for activity on the client's connections: true when tasks are under way (the next
    /// `runTasks()` waits for them), otherwise `GEARMAN_NO_ACTIVE_FDS` as libgearman.
    pub fn wait(&self) -> bool {
        let ok = self.core.borrow_mut().wait();
        self.warn_unless(|code| code.is_success());
        ok
    }

    /// Set the callback for streamed workloads (never called: Gearbox sends each workload whole).
    pub fn set_workload_callback(&self, function: CallableArg) -> bool {
        self.set_callback(Callback::Workload, function)
    }

    /// Set the callback made when the server has created a task's job.
    pub fn set_created_callback(&self, function: CallableArg) -> bool {
        self.set_callback(Callback::Created, function)
    }

    /// Set the callback made for each WORK_DATA.
    pub fn set_data_callback(&self, function: CallableArg) -> bool {
        self.set_callback(Callback::Data, function)
    }

    /// Set the callback made for each WORK_WARNING.
    pub fn set_warning_callback(&self, function: CallableArg) -> bool {
        self.set_callback(Callback::Warning, function)
    }

    /// Set the callback made for each WORK_STATUS and `addTaskStatus()` answer.
    pub fn set_status_callback(&self, function: CallableArg) -> bool {
        self.set_callback(Callback::Status, function)
    }

    /// Set the callback made when a task's job completes.
    pub fn set_complete_callback(&self, function: CallableArg) -> bool {
        self.set_callback(Callback::Complete, function)
    }

    /// Set the callback made when a task's job throws (WORK_EXCEPTION).
    /// Like PECL's, it first sets the exceptions option (`enableExceptionHandler`).
    pub fn set_exception_callback(&self, function: CallableArg) -> PhpResult<bool> {
        self.enable_exception_handler()?;
        Ok(self.set_callback(Callback::Exception, function))
    }

    /// Set the callback made when a task's job fails.
    pub fn set_fail_callback(&self, function: CallableArg) -> bool {
        self.set_callback(Callback::Fail, function)
    }

    /// Forget every callback.
    pub fn clear_callbacks(&self) -> bool {
        self.clear_callbacks_now();
        true
    }

    /// Ask the servers for WORK_EXCEPTION packets (`addServer` does by default); a
    /// `GearmanException` when a server cannot be reached to set the option.
    pub fn enable_exception_handler(&self) -> PhpResult<bool> {
        let enabled = self.core.borrow_mut().enable_exceptions();
        enabled.map(|()| true).map_err(|_| server_unreachable())
    }
}
