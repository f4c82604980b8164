//! The `gearman_worker_*` functions, each calling the `GearmanWorker` method it is named after
//! (`gearman_worker_errno` is `getErrno`).

use ext_php_rs::binary::Binary;
use ext_php_rs::prelude::*;
use ext_php_rs::types::Zval;

use crate::values::CallableArg;

use crate::worker::GearmanWorker;

#[php_function]
pub fn gearman_worker_create() -> GearmanWorker {
    GearmanWorker::new()
}

procedural! {
    class GearmanWorker;
    extra gearman_worker_create;
    fn gearman_worker_return_code => return_code() -> Option<i64>;
    fn gearman_worker_error => error() -> Zval;
    fn gearman_worker_errno => get_errno() -> Zval;
    fn gearman_worker_options => options() -> Option<i64>;
    fn gearman_worker_set_options => set_options(option: i64) -> Option<bool>;
    fn gearman_worker_add_options => add_options(option: i64) -> Option<bool>;
    fn gearman_worker_remove_options => remove_options(option: i64) -> Option<bool>;
    fn gearman_worker_timeout => timeout() -> Option<i64>;
    fn gearman_worker_set_timeout => set_timeout(timeout: i64) -> bool;
    fn gearman_worker_set_id => set_id(id: Binary<u8>) -> bool;
    #[php(defaults(port = 0, setupExceptionHandler = true))]
    fn gearman_worker_add_server => add_server(
        host: Option<String>, port: i64, setupExceptionHandler: bool
    ) -> PhpResult<bool>;
    #[php(defaults(setupExceptionHandler = true))]
    fn gearman_worker_add_servers => add_servers(
        servers: Option<String>, setupExceptionHandler: bool
    ) -> PhpResult<bool>;
    #[php(defaults(enable = true))]
    fn gearman_worker_set_ssl => set_ssl(
        enable: bool, caFile: Option<String>, certificate: Option<String>, key: Option<String>,
        serverName: Option<String>
    ) -> bool;
    fn gearman_worker_enable_exception_handler => enable_exception_handler() -> PhpResult<bool>;
    fn gearman_worker_wait => wait() -> bool;
    #[php(defaults(timeout = 0))]
    fn gearman_worker_register => register(function_name: Binary<u8>, timeout: i64) -> bool;
    fn gearman_worker_unregister => unregister(function_name: Binary<u8>) -> bool;
    fn gearman_worker_unregister_all => unregister_all() -> bool;
    fn gearman_worker_grab_job => grab_job() -> PhpResult<Zval>;
    #[php(defaults(timeout = 0))]
    fn gearman_worker_add_function => add_function(
        function_name: Binary<u8>, function: CallableArg, context: Option<&Zval>, timeout: i64
    ) -> bool;
    fn gearman_worker_work => work() -> PhpResult<bool>;
    fn gearman_worker_ping => ping(data: Binary<u8>) -> bool;
}
