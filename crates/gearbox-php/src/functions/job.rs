//! The `gearman_job_*` functions, each calling the `GearmanJob` method it is named after.

use ext_php_rs::binary::Binary;
use ext_php_rs::prelude::*;
use ext_php_rs::types::Zval;

use crate::job::GearmanJob;

procedural! {
    class GearmanJob;
    extra ;
    fn gearman_job_return_code => return_code() -> Option<i64>;
    fn gearman_job_set_return => set_return(gearman_return_t: i64) -> Option<bool>;
    fn gearman_job_send_data => send_data(data: Binary<u8>) -> Option<bool>;
    fn gearman_job_send_warning => send_warning(warning: Binary<u8>) -> bool;
    fn gearman_job_send_status => send_status(numerator: i64, denominator: i64) -> bool;
    fn gearman_job_send_complete => send_complete(result: Binary<u8>) -> bool;
    fn gearman_job_send_exception => send_exception(exception: Binary<u8>) -> bool;
    fn gearman_job_send_fail => send_fail() -> bool;
    fn gearman_job_handle => handle() -> Zval;
    fn gearman_job_function_name => function_name() -> Zval;
    fn gearman_job_unique => unique() -> Zval;
    fn gearman_job_workload => workload() -> Binary<u8>;
    fn gearman_job_workload_size => workload_size() -> Option<i64>;
}
