//! `GearmanTask`: the PHP object `addTask*()` returns and the task callbacks receive, over a
//! `gearbox_php_core::tasks::TaskState` the client's run also holds. What it answers is the
//! core's; once the task is released after its last callback, most answers are `false`, as in
//! PECL. `new GearmanTask()` gives a task of no client that answers `false` likewise.

use ext_php_rs::binary::Binary;
use ext_php_rs::boxed::ZBox;
use ext_php_rs::prelude::*;
use ext_php_rs::types::{ZendHashTable, Zval};
use gearbox_php_core::tasks::{SharedTask, TaskState};

use crate::exception::warn;
use crate::values::{optional_bytes, optional_int};

/// A task of a `GearmanClient`.
// No `Default`: ext-php-rs builds an object of a class with `Default` as an instance of this
// class even when PHP asked for a subclass (0.16.4), which would bypass a subclass's
// constructor and methods; without it, `new` on a subclass makes a subclass object.
#[php_class]
#[php(name = "GearmanTask")]
pub struct GearmanTask {
    task: Option<SharedTask>,
}

impl GearmanTask {
    /// A task of no client, as `new GearmanTask()` gives.
    pub fn new() -> GearmanTask {
        GearmanTask { task: None }
    }

    /// The PHP object for `task`.
    pub fn wrap(task: SharedTask) -> GearmanTask {
        GearmanTask { task: Some(task) }
    }

    /// `read(state)` for a task of a client; `None` for `new GearmanTask()`.
    fn read<T>(&self, read: impl FnOnce(&TaskState) -> Option<T>) -> Option<T> {
        self.task.as_ref().and_then(|task| read(&task.borrow()))
    }
}

#[php_impl]
impl GearmanTask {
    pub fn __construct() -> Self {
        GearmanTask::new()
    }

    /// The return code of the task's last failure (`GEARMAN_SUCCESS` when none).
    pub fn return_code(&self) -> i64 {
        self.read(|t| Some(t.return_code().0)).unwrap_or(0)
    }

    /// The function name, or `false` once the task is released.
    pub fn function_name(&self) -> Zval {
        optional_bytes(self.read(|t| t.function_name().cloned()))
    }

    /// The unique id, or `false` once the task is released.
    pub fn unique(&self) -> Zval {
        optional_bytes(self.read(|t| t.unique().cloned()))
    }

    /// The job handle (empty until the server created the job), or `false` once released.
    pub fn job_handle(&self) -> Zval {
        optional_bytes(self.read(|t| t.job_handle().cloned()))
    }

    /// Whether the server has the job.
    pub fn is_known(&self) -> bool {
        self.read(|t| Some(t.is_known())).unwrap_or(false)
    }

    /// Whether a worker is running the job.
    pub fn is_running(&self) -> bool {
        self.read(|t| Some(t.is_running())).unwrap_or(false)
    }

    /// The numerator of the job's last status, or `false` once released.
    pub fn task_numerator(&self) -> Zval {
        optional_int(self.read(|t| t.status().map(|(n, _)| i64::from(n))))
    }

    /// The denominator of the job's last status, or `false` once released.
    pub fn task_denominator(&self) -> Zval {
        optional_int(self.read(|t| t.status().map(|(_, d)| i64::from(d))))
    }

    /// What the event being handled carried: data, warning, result or exception text.
    pub fn data(&self) -> Zval {
        optional_bytes(self.read(|t| t.data().cloned()))
    }

    /// The size of `data()`.
    pub fn data_size(&self) -> Zval {
        let size = self.read(|t| t.data().map(|d| i64::try_from(d.len()).unwrap_or(i64::MAX)));
        optional_int(size)
    }

    /// libgearman's streamed workload, which Gearbox does not have: a task's workload is
    /// sent whole with it. `false`, with a warning.
    pub fn send_workload(&self, data: Binary<u8>) -> Zval {
        let _ = data;
        warn("sending a workload in parts is not supported: give the whole workload to addTask()");
        optional_int(None)
    }

    /// `[length, data]`: up to `$data_len` bytes of `data()`, or `false` once released.
    pub fn recv_data(&self, data_len: i64) -> Zval {
        let limit = usize::try_from(data_len).unwrap_or(0);
        let Some(data) = self.read(|t| t.data().map(|d| d.slice(..limit.min(d.len())))) else {
            return optional_bytes(None);
        };
        let mut array: ZBox<ZendHashTable> = ZendHashTable::new();
        let _ = array.push(i64::try_from(data.len()).unwrap_or(i64::MAX));
        let _ = array.push(Binary::new(data.to_vec()));
        let mut zval = Zval::new();
        zval.set_hashtable(array);
        zval
    }
}
