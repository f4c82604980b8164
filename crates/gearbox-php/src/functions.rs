//! The procedural API: `gearman_version()`, `gearman_verbose_name()` and the `gearman_client_*`
//! functions, each calling the method of the same name on the object it is given, so that
//! there is one implementation of each.

use ext_php_rs::binary::Binary;
use ext_php_rs::boxed::ZBox;
use ext_php_rs::prelude::*;
use ext_php_rs::types::{ZendClassObject, ZendHashTable, Zval};
use gearbox_php_core::constants::{Value, CONSTANTS};

use crate::client::GearmanClient;

type Client = ZendClassObject<GearmanClient>;

/// The protocol level this implementation answers for: libgearman 1.1.20's.
#[php_function]
pub fn gearman_version() -> &'static str {
    "1.1.20"
}

/// Where to report bugs.
#[php_function]
pub fn gearman_bugreport() -> &'static str {
    "https://example.invalid/gearbox/issues"
}

/// The name of a verbosity level (`FATAL`, `ERROR`, …), `UNKNOWN` for another number.
#[php_function]
pub fn gearman_verbose_name(verbose: i64) -> &'static str {
    CONSTANTS
        .iter()
        .filter_map(|(name, v)| name.strip_prefix("GEARMAN_VERBOSE_").zip(Some(v)))
        .find(|(name, v)| *name != "MAX" && **v == Value::Int(verbose))
        .map_or("UNKNOWN", |(name, _)| name)
}

#[php_function]
pub fn gearman_client_create() -> GearmanClient {
    GearmanClient::default()
}

#[php_function]
pub fn gearman_client_return_code(obj: &Client) -> i64 {
    obj.return_code()
}

#[php_function]
pub fn gearman_client_error(obj: &Client) -> Zval {
    obj.error()
}

#[php_function]
pub fn gearman_client_get_errno(obj: &Client) -> i64 {
    obj.get_errno()
}

#[php_function]
pub fn gearman_client_options(obj: &Client) -> i64 {
    obj.options()
}

#[php_function]
pub fn gearman_client_set_options(obj: &Client, option: i64) -> bool {
    obj.set_options(option)
}

#[php_function]
pub fn gearman_client_add_options(obj: &Client, option: i64) -> bool {
    obj.add_options(option)
}

#[php_function]
pub fn gearman_client_remove_options(obj: &Client, option: i64) -> bool {
    obj.remove_options(option)
}

#[php_function]
pub fn gearman_client_timeout(obj: &Client) -> i64 {
    obj.timeout()
}

#[php_function]
pub fn gearman_client_set_timeout(obj: &Client, timeout: i64) -> bool {
    obj.set_timeout(timeout)
}

#[php_function]
#[php(defaults(port = 0, setupExceptionHandler = true))]
pub fn gearman_client_add_server(
    obj: &Client,
    host: Option<String>,
    port: i64,
    setupExceptionHandler: bool,
) -> PhpResult<bool> {
    obj.add_server(host, port, setupExceptionHandler)
}

#[php_function]
#[php(defaults(setupExceptionHandler = true))]
pub fn gearman_client_add_servers(
    obj: &Client,
    servers: Option<String>,
    setupExceptionHandler: bool,
) -> PhpResult<bool> {
    obj.add_servers(servers, setupExceptionHandler)
}

macro_rules! do_functions {
    ($($name:ident => $method:ident),* $(,)?) => {
        $(
            #[php_function]
            pub fn $name(
                obj: &Client,
                function: Binary<u8>,
                workload: Binary<u8>,
                unique: Option<Binary<u8>>,
            ) -> Binary<u8> {
                obj.$method(function, workload, unique)
            }
        )*
    };
}

do_functions!(
    gearman_client_do_normal => do_normal,
    gearman_client_do_high => do_high,
    gearman_client_do_low => do_low,
    gearman_client_do_background => do_background,
    gearman_client_do_high_background => do_high_background,
    gearman_client_do_low_background => do_low_background,
);

#[php_function]
pub fn gearman_client_do_job_handle(obj: &Client) -> Binary<u8> {
    obj.do_job_handle()
}

#[php_function]
pub fn gearman_client_do_status(obj: &Client) -> ZBox<ZendHashTable> {
    obj.do_status()
}

#[php_function]
pub fn gearman_client_job_status(obj: &Client, job_handle: Binary<u8>) -> ZBox<ZendHashTable> {
    obj.job_status(job_handle)
}

#[php_function]
pub fn gearman_client_job_status_by_unique_key(
    obj: &Client,
    unique_key: Binary<u8>,
) -> ZBox<ZendHashTable> {
    obj.job_status_by_unique_key(unique_key)
}

#[php_function]
pub fn gearman_client_ping(obj: &Client, workload: Binary<u8>) -> bool {
    obj.ping(workload)
}

#[php_function]
pub fn gearman_client_context(obj: &Client) -> Binary<u8> {
    obj.context()
}

#[php_function]
pub fn gearman_client_set_context(obj: &Client, data: Binary<u8>) -> bool {
    obj.set_context(data)
}

#[php_function]
pub fn gearman_client_enable_exception_handler(obj: &Client) -> bool {
    obj.enable_exception_handler()
}

/// Add every function of this file to the module.
pub fn register(module: ModuleBuilder) -> ModuleBuilder {
    module
        .function(wrap_function!(gearman_version))
        .function(wrap_function!(gearman_bugreport))
        .function(wrap_function!(gearman_verbose_name))
        .function(wrap_function!(gearman_client_create))
        .function(wrap_function!(gearman_client_return_code))
        .function(wrap_function!(gearman_client_error))
        .function(wrap_function!(gearman_client_get_errno))
        .function(wrap_function!(gearman_client_options))
        .function(wrap_function!(gearman_client_set_options))
        .function(wrap_function!(gearman_client_add_options))
        .function(wrap_function!(gearman_client_remove_options))
        .function(wrap_function!(gearman_client_timeout))
        .function(wrap_function!(gearman_client_set_timeout))
        .function(wrap_function!(gearman_client_add_server))
        .function(wrap_function!(gearman_client_add_servers))
        .function(wrap_function!(gearman_client_do_normal))
        .function(wrap_function!(gearman_client_do_high))
        .function(wrap_function!(gearman_client_do_low))
        .function(wrap_function!(gearman_client_do_background))
        .function(wrap_function!(gearman_client_do_high_background))
        .function(wrap_function!(gearman_client_do_low_background))
        .function(wrap_function!(gearman_client_do_job_handle))
        .function(wrap_function!(gearman_client_do_status))
        .function(wrap_function!(gearman_client_job_status))
        .function(wrap_function!(gearman_client_job_status_by_unique_key))
        .function(wrap_function!(gearman_client_ping))
        .function(wrap_function!(gearman_client_context))
        .function(wrap_function!(gearman_client_set_context))
        .function(wrap_function!(gearman_client_enable_exception_handler))
}
