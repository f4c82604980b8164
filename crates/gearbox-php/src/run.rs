//! `GearmanClient`'s tasks on the PHP side: the `GearmanTask` objects and contexts of the tasks
//! added, the callbacks set, and `runTasks()`, which takes each step of the core's run and
//! makes the callback it names with the task's object (and its context, when `addTask` was
//! given one, even `null`, as PECL passes it). A callback that returns a non-zero code ends the
//! run with that code; one that throws ends it with the exception. The rest of the tasks wait
//! for the next `runTasks()`.

use std::collections::HashMap;

use bytes::Bytes;
use ext_php_rs::convert::IntoZval;
use ext_php_rs::prelude::*;
use ext_php_rs::types::{ZendClassObject, Zval};
use gearbox_php_core::client::DoKind;
use gearbox_php_core::codes::ReturnCode;
use gearbox_php_core::tasks::{Callback, SharedTask, Step, CALLBACKS};

use crate::callbacks::{call, propagate, return_code};
use crate::client::GearmanClient;
use crate::exception::warn;
use crate::task::GearmanTask;
use crate::values::{CallableArg, WorkloadArg};

/// A task's PHP side: its object, and its context if one was given.
pub struct PhpTask {
    object: Zval,
    context: Option<Zval>,
}

/// The callbacks set on a client, by [`Callback`].
pub type Callbacks = [Option<Zval>; CALLBACKS];

/// The PHP side of every task a client holds, by the core's task key.
pub type PhpTasks = HashMap<u64, PhpTask>;

impl GearmanClient {
    /// Keep `task` with its PHP object and `context`; the object, for `addTask*()` to return.
    fn adopt(&self, task: SharedTask, context: Option<&Zval>) -> PhpResult<Zval> {
        let key = task.borrow().key();
        let object = ZendClassObject::new(GearmanTask::wrap(task)).into_zval(false)?;
        self.tasks.borrow_mut().insert(
            key,
            PhpTask {
                object: object.shallow_clone(),
                context: context.map(Zval::shallow_clone),
            },
        );
        Ok(object)
    }

    /// `addTask()` and its variants.
    pub(crate) fn add_task_of_kind(
        &self,
        function: &[u8],
        workload: WorkloadArg,
        context: Option<&Zval>,
        unique: Option<&[u8]>,
        kind: DoKind,
    ) -> PhpResult<Zval> {
        let workload = Bytes::from(crate::values::result_bytes(&workload.0));
        let task = self
            .core
            .borrow_mut()
            .add_task(function, &workload, unique, kind);
        self.adopt(task, context)
    }

    /// `addTaskStatus()`.
    pub(crate) fn add_status_task(&self, handle: &[u8], context: Option<&Zval>) -> PhpResult<Zval> {
        let task = self.core.borrow_mut().add_task_status(handle);
        self.adopt(task, context)
    }

    /// `set*Callback()`: false, with PECL's warning, when `function` cannot be called.
    pub(crate) fn set_callback(&self, callback: Callback, function: CallableArg) -> bool {
        let CallableArg(function) = function;
        if !function.is_callable() {
            let shown = function.string().unwrap_or_default();
            warn(&format!("function {shown} is not callable"));
            return false;
        }
        self.callbacks.borrow_mut()[callback as usize] = Some(function);
        true
    }

    /// `runTasks()`.
    pub(crate) fn run_tasks_now(&self) -> PhpResult<bool> {
        loop {
            let step = self.core.borrow_mut().run_step();
            let (task, callback, last) = match step {
                Step::Done => return Ok(true),
                Step::Stopped => {
                    let ok = self.core.borrow().return_code().is_client_ok();
                    self.warn_unless(|code| code.is_client_ok());
                    return Ok(ok);
                }
                Step::Callback {
                    task,
                    callback,
                    last,
                } => (task, callback, last),
            };
            let key = task.borrow().key();
            let function = self.callbacks.borrow()[callback as usize]
                .as_ref()
                .map(Zval::shallow_clone);
            let php = self.tasks.borrow().get(&key).map(|t| {
                (
                    t.object.shallow_clone(),
                    t.context.as_ref().map(Zval::shallow_clone),
                )
            });
            let returned = match (function, php) {
                (Some(function), Some((object, Some(context)))) => {
                    call(&function, &[&object, &context]).map(|v| return_code(&v))
                }
                (Some(function), Some((object, None))) => {
                    call(&function, &[&object]).map(|v| return_code(&v))
                }
                _ => Ok(0),
            };
            if last && self.core.borrow_mut().release(&task) {
                self.tasks.borrow_mut().remove(&key);
            }
            let code = returned.map_err(propagate)?;
            if code != 0 {
                let code = ReturnCode(code);
                self.core
                    .borrow_mut()
                    .stop_run(code, format!("a task callback returned {}", code.name()));
                self.warn_unless(|code| code.is_client_ok());
                return Ok(code.is_client_ok());
            }
        }
    }

    /// `clearCallbacks()`: no callback is made until new ones are set.
    pub(crate) fn clear_callbacks_now(&self) {
        *self.callbacks.borrow_mut() = Callbacks::default();
    }
}
