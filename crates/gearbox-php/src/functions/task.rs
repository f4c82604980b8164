//! The `gearman_task_*` functions, each calling the `GearmanTask` method it is named after
//! (`gearman_task_numerator` is `taskNumerator`).

use ext_php_rs::binary::Binary;
use ext_php_rs::prelude::*;
use ext_php_rs::types::Zval;

use crate::task::GearmanTask;

procedural! {
    class GearmanTask;
    extra ;
    fn gearman_task_return_code => return_code() -> i64;
    fn gearman_task_function_name => function_name() -> Zval;
    fn gearman_task_unique => unique() -> Zval;
    fn gearman_task_job_handle => job_handle() -> Zval;
    fn gearman_task_is_known => is_known() -> bool;
    fn gearman_task_is_running => is_running() -> bool;
    fn gearman_task_numerator => task_numerator() -> Zval;
    fn gearman_task_denominator => task_denominator() -> Zval;
    fn gearman_task_data => data() -> Zval;
    fn gearman_task_data_size => data_size() -> Zval;
    fn gearman_task_send_workload => send_workload(data: Binary<u8>) -> Zval;
    fn gearman_task_recv_data => recv_data(data_len: i64) -> Zval;
}
