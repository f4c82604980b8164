//! `GearmanJob`: the PHP object a worker function receives, over a shared
//! `gearbox_php_core::worker::JobCore` that `GearmanWorker::work()` also holds, to answer the
//! job once the function has returned. `new GearmanJob()` gives an empty job, as in PECL.

use std::cell::RefCell;
use std::rc::Rc;

use ext_php_rs::binary::Binary;
use ext_php_rs::prelude::*;
use ext_php_rs::types::Zval;
use gearbox_php_core::codes::ReturnCode;
use gearbox_php_core::worker::JobCore;

use crate::exception::warn;
use crate::values::{bytes, bytes_or_false};

/// A job given to a worker function.
// No `Default`: ext-php-rs builds an object of a class with `Default` as an instance of this
// class even when PHP asked for a subclass (0.16.4), which would bypass a subclass's
// constructor and methods; without it, `new` on a subclass makes a subclass object.
#[php_class]
#[php(name = "GearmanJob")]
pub struct GearmanJob {
    core: Rc<RefCell<JobCore>>,
}

impl GearmanJob {
    /// An empty job, as `new GearmanJob()` gives in PECL.
    pub fn new() -> GearmanJob {
        GearmanJob::wrap(Rc::default())
    }

    /// The PHP object for `core`.
    pub fn wrap(core: Rc<RefCell<JobCore>>) -> GearmanJob {
        GearmanJob { core }
    }
}

impl GearmanJob {
    /// `ok`, after a warning naming the failure when it is false, as PECL.
    fn warn_unless(&self, ok: bool) -> bool {
        if !ok {
            warn(self.core.borrow().return_code().name());
        }
        ok
    }

    /// PECL refuses data and warnings for a job that is not live without a warning.
    fn live(&self) -> bool {
        !self.core.borrow().answered()
    }
}

fn clamp(n: i64) -> u32 {
    u32::try_from(n.max(0)).unwrap_or(u32::MAX)
}

#[php_impl]
impl GearmanJob {
    pub fn __construct() -> Self {
        GearmanJob::new()
    }

    /// The code of the last `send*` call.
    pub fn return_code(&self) -> Option<i64> {
        Some(self.core.borrow().return_code().0)
    }

    /// What the job ends with if the worker function does not answer it
    /// (`GEARMAN_WORK_FAIL` makes it a fail).
    pub fn set_return(&self, gearman_return_t: i64) -> Option<bool> {
        let ok = self
            .core
            .borrow_mut()
            .set_return(ReturnCode(gearman_return_t));
        if !ok {
            warn(&format!("Invalid gearman_return_t: {gearman_return_t}"));
        }
        Some(ok)
    }

    /// Send a chunk of partial output (WORK_DATA).
    pub fn send_data(&self, data: Binary<u8>) -> Option<bool> {
        if !self.live() {
            return Some(false);
        }
        let ok = self.core.borrow_mut().send_data(&data);
        Some(self.warn_unless(ok))
    }

    /// Send a warning (WORK_WARNING).
    pub fn send_warning(&self, warning: Binary<u8>) -> bool {
        if !self.live() {
            return false;
        }
        let ok = self.core.borrow_mut().send_warning(&warning);
        self.warn_unless(ok)
    }

    /// Send progress (WORK_STATUS).
    pub fn send_status(&self, numerator: i64, denominator: i64) -> bool {
        let ok = self
            .core
            .borrow_mut()
            .send_status(clamp(numerator), clamp(denominator));
        self.warn_unless(ok)
    }

    /// Answer the job with its result (WORK_COMPLETE).
    pub fn send_complete(&self, result: Binary<u8>) -> bool {
        let ok = self.core.borrow_mut().send_complete(&result);
        self.warn_unless(ok)
    }

    /// Answer the job with an exception (WORK_EXCEPTION).
    pub fn send_exception(&self, exception: Binary<u8>) -> bool {
        let ok = self.core.borrow_mut().send_exception(&exception);
        self.warn_unless(ok)
    }

    /// Answer the job as failed (WORK_FAIL).
    pub fn send_fail(&self) -> bool {
        let ok = self.core.borrow_mut().send_fail();
        self.warn_unless(ok)
    }

    /// The job handle, or `false` for an empty job.
    pub fn handle(&self) -> Zval {
        bytes_or_false(self.core.borrow().handle())
    }

    /// The function name, or `false` for an empty job.
    pub fn function_name(&self) -> Zval {
        bytes_or_false(self.core.borrow().function())
    }

    /// The unique id, or `false` when there is none.
    pub fn unique(&self) -> Zval {
        bytes_or_false(self.core.borrow().unique())
    }

    /// The workload.
    pub fn workload(&self) -> Binary<u8> {
        bytes(self.core.borrow().workload())
    }

    /// The workload's size in bytes.
    pub fn workload_size(&self) -> Option<i64> {
        Some(i64::try_from(self.core.borrow().workload().len()).unwrap_or(i64::MAX))
    }
}
