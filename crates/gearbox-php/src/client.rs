//! `GearmanClient`: the PHP class over `gearbox_php_core::client::ClientCore`. Each method
//! borrows the core, asks it, and turns the answer into PHP values; the core decides. The
//! procedural `gearman_client_*` functions (`functions.rs`) call these same methods.

use std::cell::RefCell;

use ext_php_rs::binary::Binary;
use ext_php_rs::boxed::ZBox;
use ext_php_rs::prelude::*;
use ext_php_rs::types::{ZendHashTable, Zval};
use gearbox_client::Priority;
use gearbox_php_core::client::{ClientCore, DoKind};
use gearbox_php_core::codes::ReturnCode;

use crate::exception::{server_unreachable, warn_failure};
use crate::values::{bytes, status_array, string_or_false};

/// A Gearman client.
#[php_class]
#[php(name = "GearmanClient")]
#[derive(Default)]
pub struct GearmanClient {
    core: RefCell<ClientCore>,
}

fn kind(priority: Priority, background: bool) -> DoKind {
    DoKind {
        priority,
        background,
    }
}

impl GearmanClient {
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
    fn warn_unless(&self, ok: impl Fn(ReturnCode) -> bool) {
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
        GearmanClient::default()
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
            Err(_) if setupExceptionHandler => Err(server_unreachable()),
            Err(_) => {
                self.warn_unless(|code| code.is_success());
                Ok(false)
            }
        }
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
            Err(_) if setupExceptionHandler => Err(server_unreachable()),
            Err(_) => {
                self.warn_unless(|code| code.is_success());
                Ok(false)
            }
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

    /// Ask every server for WORK_EXCEPTION packets; Gearbox's clients always do.
    pub fn enable_exception_handler(&self) -> bool {
        true
    }
}
