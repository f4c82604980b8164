//! The `gearman_client_*` functions, each calling the `GearmanClient` method of the same name.

use ext_php_rs::binary::Binary;
use ext_php_rs::boxed::ZBox;
use ext_php_rs::prelude::*;
use ext_php_rs::types::{ZendHashTable, Zval};

use crate::client::GearmanClient;
use crate::values::{CallableArg, WorkloadArg};

#[php_function]
pub fn gearman_client_create() -> GearmanClient {
    GearmanClient::new()
}

procedural! {
    class GearmanClient;
    extra gearman_client_create;
    fn gearman_client_return_code => return_code() -> i64;
    fn gearman_client_error => error() -> Zval;
    fn gearman_client_get_errno => get_errno() -> i64;
    fn gearman_client_options => options() -> i64;
    fn gearman_client_set_options => set_options(option: i64) -> bool;
    fn gearman_client_add_options => add_options(option: i64) -> bool;
    fn gearman_client_remove_options => remove_options(option: i64) -> bool;
    fn gearman_client_timeout => timeout() -> i64;
    fn gearman_client_set_timeout => set_timeout(timeout: i64) -> bool;
    #[php(defaults(port = 0, setupExceptionHandler = true))]
    fn gearman_client_add_server => add_server(
        host: Option<String>, port: i64, setupExceptionHandler: bool
    ) -> PhpResult<bool>;
    #[php(defaults(enable = true))]
    fn gearman_client_set_ssl => set_ssl(
        enable: bool, caFile: Option<String>, certificate: Option<String>, key: Option<String>,
        serverName: Option<String>
    ) -> bool;
    #[php(defaults(setupExceptionHandler = true))]
    fn gearman_client_add_servers => add_servers(
        servers: Option<String>, setupExceptionHandler: bool
    ) -> PhpResult<bool>;
    fn gearman_client_do_normal => do_normal(
        function: Binary<u8>, workload: Binary<u8>, unique: Option<Binary<u8>>
    ) -> Binary<u8>;
    fn gearman_client_do_high => do_high(
        function: Binary<u8>, workload: Binary<u8>, unique: Option<Binary<u8>>
    ) -> Binary<u8>;
    fn gearman_client_do_low => do_low(
        function: Binary<u8>, workload: Binary<u8>, unique: Option<Binary<u8>>
    ) -> Binary<u8>;
    fn gearman_client_do_background => do_background(
        function: Binary<u8>, workload: Binary<u8>, unique: Option<Binary<u8>>
    ) -> Binary<u8>;
    fn gearman_client_do_high_background => do_high_background(
        function: Binary<u8>, workload: Binary<u8>, unique: Option<Binary<u8>>
    ) -> Binary<u8>;
    fn gearman_client_do_low_background => do_low_background(
        function: Binary<u8>, workload: Binary<u8>, unique: Option<Binary<u8>>
    ) -> Binary<u8>;
    fn gearman_client_do_job_handle => do_job_handle() -> Binary<u8>;
    fn gearman_client_do_status => do_status() -> ZBox<ZendHashTable>;
    fn gearman_client_job_status => job_status(job_handle: Binary<u8>) -> ZBox<ZendHashTable>;
    fn gearman_client_job_status_by_unique_key => job_status_by_unique_key(
        unique_key: Binary<u8>
    ) -> ZBox<ZendHashTable>;
    fn gearman_client_ping => ping(workload: Binary<u8>) -> bool;
    fn gearman_client_add_task => add_task(
        function_name: Binary<u8>, workload: WorkloadArg, context: Option<&Zval>,
        unique_key: Option<Binary<u8>>
    ) -> PhpResult<Zval>;
    fn gearman_client_add_task_high => add_task_high(
        function_name: Binary<u8>, workload: WorkloadArg, context: Option<&Zval>,
        unique_key: Option<Binary<u8>>
    ) -> PhpResult<Zval>;
    fn gearman_client_add_task_low => add_task_low(
        function_name: Binary<u8>, workload: WorkloadArg, context: Option<&Zval>,
        unique_key: Option<Binary<u8>>
    ) -> PhpResult<Zval>;
    fn gearman_client_add_task_background => add_task_background(
        function_name: Binary<u8>, workload: WorkloadArg, context: Option<&Zval>,
        unique_key: Option<Binary<u8>>
    ) -> PhpResult<Zval>;
    fn gearman_client_add_task_high_background => add_task_high_background(
        function_name: Binary<u8>, workload: WorkloadArg, context: Option<&Zval>,
        unique_key: Option<Binary<u8>>
    ) -> PhpResult<Zval>;
    fn gearman_client_add_task_low_background => add_task_low_background(
        function_name: Binary<u8>, workload: WorkloadArg, context: Option<&Zval>,
        unique_key: Option<Binary<u8>>
    ) -> PhpResult<Zval>;
    fn gearman_client_add_task_status => add_task_status(
        job_handle: Binary<u8>, context: Option<&Zval>
    ) -> PhpResult<Zval>;
    fn gearman_client_run_tasks => run_tasks() -> PhpResult<bool>;
    fn gearman_client_wait => wait() -> bool;
    fn gearman_client_set_workload_callback => set_workload_callback(function: CallableArg) -> bool;
    fn gearman_client_set_created_callback => set_created_callback(function: CallableArg) -> bool;
    fn gearman_client_set_data_callback => set_data_callback(function: CallableArg) -> bool;
    fn gearman_client_set_warning_callback => set_warning_callback(function: CallableArg) -> bool;
    fn gearman_client_set_status_callback => set_status_callback(function: CallableArg) -> bool;
    fn gearman_client_set_complete_callback => set_complete_callback(function: CallableArg) -> bool;
    fn gearman_client_set_exception_callback => set_exception_callback(
        function: CallableArg
    ) -> PhpResult<bool>;
    fn gearman_client_set_fail_callback => set_fail_callback(function: CallableArg) -> bool;
    fn gearman_client_clear_callbacks => clear_callbacks() -> bool;
    fn gearman_client_context => context() -> Binary<u8>;
    fn gearman_client_set_context => set_context(data: Binary<u8>) -> bool;
    fn gearman_client_enable_exception_handler => enable_exception_handler() -> PhpResult<bool>;
}
