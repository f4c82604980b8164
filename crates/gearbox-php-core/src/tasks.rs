//! `addTask*()`, `addTaskStatus()` and `runTasks()` without PHP: each task's state as
//! `GearmanTask` shows it, and the run that turns server replies into callbacks one at a time.
//!
//! The binding asks [`ClientCore::run_step`] for the next callback to make, makes it with no
//! borrow held, and asks again; so callbacks may add tasks or read any task, and a callback
//! that asks to stop (a non-zero return) or throws leaves the rest for the next `runTasks()`.
//! The rules are PECL's over libgearman 1.1: tasks go to the server newest first, a task's
//! state is readable in its callbacks and is released after its last one (with the client's
//! FREE_TASKS option, set by default), and a wait that exceeds the client's timeout ends the
//! run with `GEARMAN_TIMEOUT` while the tasks carry on. Nothing here knows PHP.

use std::cell::RefCell;
use std::collections::{HashMap, VecDeque};
use std::rc::Rc;

use bytes::Bytes;
use gearbox_client::blocking::TaskSet;
use gearbox_client::{JobEvent, TaskEvent, TaskId};

use crate::client::{ClientCore, DoKind, OPTION_FREE_TASKS};
use crate::codes::{from_error, ReturnCode};

/// The callbacks a run makes, in `GearmanClient::set*Callback` order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Callback {
    /// `setWorkloadCallback`: libgearman's streamed workloads, which Gearbox never asks for.
    Workload = 0,
    /// `setCreatedCallback`: the server accepted the job.
    Created,
    /// `setDataCallback`: WORK_DATA.
    Data,
    /// `setWarningCallback`: WORK_WARNING.
    Warning,
    /// `setStatusCallback`: WORK_STATUS, or the answer to `addTaskStatus()`.
    Status,
    /// `setCompleteCallback`: WORK_COMPLETE.
    Complete,
    /// `setExceptionCallback`: WORK_EXCEPTION.
    Exception,
    /// `setFailCallback`: WORK_FAIL.
    Fail,
}

/// How many kinds of callback there are.
pub const CALLBACKS: usize = 8;

/// What a task asks the server.
#[derive(Debug, Clone)]
enum Request {
    /// Run a job.
    Job {
        function: Bytes,
        workload: Bytes,
        unique: Bytes,
        kind: DoKind,
    },
    /// `addTaskStatus($handle)`: the status of a job.
    Status,
}

/// One task, as `GearmanTask` reads it.
#[derive(Debug)]
pub struct TaskState {
    /// The binding's key for the PHP object and context of this task.
    key: u64,
    request: Request,
    handle: Bytes,
    known: bool,
    running: bool,
    numerator: u32,
    denominator: u32,
    data: Bytes,
    code: ReturnCode,
    /// Until the task is released after its last callback (PECL's GEARMAN_TASK_OBJ_CREATED):
    /// a released task answers `false` to most questions.
    live: bool,
}

/// A task as both the run and its PHP object hold it.
pub type SharedTask = Rc<RefCell<TaskState>>;

impl TaskState {
    fn new(key: u64, request: Request, handle: Bytes) -> TaskState {
        TaskState {
            key,
            request,
            handle,
            known: false,
            running: false,
            numerator: 0,
            denominator: 0,
            data: Bytes::new(),
            code: ReturnCode::SUCCESS,
            live: true,
        }
    }

    /// The key the task was added with.
    pub fn key(&self) -> u64 {
        self.key
    }

    /// Whether the task is still held (not released after its last callback).
    pub fn is_live(&self) -> bool {
        self.live
    }

    /// `functionName()`: the function; a status task shows its job handle, as libgearman.
    pub fn function_name(&self) -> Option<&Bytes> {
        self.live.then_some(match &self.request {
            Request::Job { function, .. } => function,
            Request::Status => &self.handle,
        })
    }

    /// `unique()`.
    pub fn unique(&self) -> Option<&Bytes> {
        static NONE: Bytes = Bytes::new();
        self.live.then_some(match &self.request {
            Request::Job { unique, .. } => unique,
            Request::Status => &NONE,
        })
    }

    /// `jobHandle()`: empty until the server created the job.
    pub fn job_handle(&self) -> Option<&Bytes> {
        self.live.then_some(&self.handle)
    }

    /// `isKnown()`: the server has the job (created, and not yet ended).
    pub fn is_known(&self) -> bool {
        self.live && self.known
    }

    /// `isRunning()`: a worker has it.
    pub fn is_running(&self) -> bool {
        self.live && self.running
    }

    /// `taskNumerator()`, `taskDenominator()`: the last status.
    pub fn status(&self) -> Option<(u32, u32)> {
        self.live.then_some((self.numerator, self.denominator))
    }

    /// `data()`: what the event being handled carried (data, warning, result, exception).
    pub fn data(&self) -> Option<&Bytes> {
        self.live.then_some(&self.data)
    }

    /// `returnCode()`.
    pub fn return_code(&self) -> ReturnCode {
        self.code
    }

    fn end(&mut self, data: Bytes) {
        self.data = data;
        self.known = false;
        self.running = false;
    }
}

/// The next thing `runTasks()` does.
#[derive(Debug)]
pub enum Step {
    /// Make `callback` for `task`; with `last`, the task has ended and is released after it
    /// ([`ClientCore::release`]).
    Callback {
        /// The task.
        task: SharedTask,
        /// Which callback.
        callback: Callback,
        /// The task's last callback.
        last: bool,
    },
    /// Every task has ended; the return code is `GEARMAN_SUCCESS`.
    Done,
    /// The run stopped with the client's return code and error set (a timeout, no server, a
    /// lost connection); the tasks not ended stay for the next run.
    Stopped,
}

/// The tasks of one client between and during runs.
#[derive(Default)]
pub struct Tasks {
    next_key: u64,
    /// Added, not yet sent: oldest first.
    queued: Vec<SharedTask>,
    /// Status requests sent at the next step, in the order libgearman sends them.
    status: VecDeque<SharedTask>,
    set: Option<TaskSet>,
    running: HashMap<TaskId, SharedTask>,
}

impl Tasks {
    fn key(&mut self) -> u64 {
        self.next_key += 1;
        self.next_key
    }

    fn has_work(&self) -> bool {
        !self.queued.is_empty() || !self.status.is_empty() || !self.running.is_empty()
    }
}

impl ClientCore {
    /// `addTask()` and its priority and background variants: a task for the next run. The
    /// unique id is chosen now (a random one when none is given), as libgearman does, so that
    /// `unique()` answers before the run.
    pub fn add_task(
        &mut self,
        function: &[u8],
        workload: &[u8],
        unique: Option<&[u8]>,
        kind: DoKind,
    ) -> SharedTask {
        let unique = crate::servers::unique_or_random(unique);
        let request = Request::Job {
            function: Bytes::copy_from_slice(function),
            workload: Bytes::copy_from_slice(workload),
            unique,
            kind,
        };
        self.queue_task(request, Bytes::new())
    }

    /// `addTaskStatus($handle)`: ask for a job's status in the next run (its status callback).
    pub fn add_task_status(&mut self, handle: &[u8]) -> SharedTask {
        self.queue_task(Request::Status, Bytes::copy_from_slice(handle))
    }

    fn queue_task(&mut self, request: Request, handle: Bytes) -> SharedTask {
        let key = self.tasks.key();
        let task = Rc::new(RefCell::new(TaskState::new(key, request, handle)));
        self.tasks.queued.push(Rc::clone(&task));
        self.succeed(ReturnCode::SUCCESS);
        task
    }

    /// End the run because a callback returned `code` (non-zero): `runTasks()` returns with
    /// it, and the next run goes on from the next reply.
    pub fn stop_run(&mut self, code: ReturnCode, message: String) {
        self.fail_with(code, message);
    }

    /// `wait()`: true when tasks are under way (the next `runTasks()` waits for them);
    /// otherwise libgearman's `GEARMAN_NO_ACTIVE_FDS`.
    pub fn wait(&mut self) -> bool {
        if self.tasks.has_work() {
            self.succeed(ReturnCode::SUCCESS);
            return true;
        }
        self.fail_with(
            ReturnCode::NO_ACTIVE_FDS,
            "no active file descriptors: no task is under way",
        );
        false
    }

    /// After a task's last callback: release it, unless FREE_TASKS was taken off the client
    /// (then the task keeps answering until the client is gone). True when released.
    pub fn release(&mut self, task: &SharedTask) -> bool {
        if self.options() & OPTION_FREE_TASKS == 0 {
            return false;
        }
        task.borrow_mut().live = false;
        true
    }

    /// The next step of `runTasks()`: send what was added since the last step (newest
    /// first), then wait for the next reply of any task within the client's timeout.
    pub fn run_step(&mut self) -> Step {
        if !self.tasks.has_work() {
            self.succeed(ReturnCode::SUCCESS);
            return Step::Done;
        }
        if !self.has_servers() {
            self.fail_with(ReturnCode::NO_SERVERS, "no servers added");
            return Step::Stopped;
        }
        if let Err(step) = self.send_queued() {
            return step;
        }
        if let Some(task) = self.tasks.status.pop_front() {
            return self.answer_status(task);
        }
        self.next_reply()
    }

    fn send_queued(&mut self) -> Result<(), Step> {
        let queued = std::mem::take(&mut self.tasks.queued);
        for task in queued.into_iter().rev() {
            let request = task.borrow().request.clone();
            match request {
                Request::Status => self.tasks.status.push_back(task),
                Request::Job {
                    function,
                    workload,
                    unique,
                    kind,
                } => {
                    if self.tasks.set.is_none() {
                        match self.client.task_set() {
                            Ok(set) => self.tasks.set = Some(set),
                            Err(e) => {
                                // Not sent: the task waits for the next run.
                                self.tasks.queued.push(task);
                                self.fail(&e);
                                return Err(Step::Stopped);
                            }
                        }
                    }
                    let req = self.request(function, workload, unique, kind);
                    let Some(set) = self.tasks.set.as_mut() else {
                        continue;
                    };
                    let id = if kind.background {
                        set.add_background(req)
                    } else {
                        set.add(req)
                    };
                    self.tasks.running.insert(id, task);
                }
            }
        }
        Ok(())
    }

    fn answer_status(&mut self, task: SharedTask) -> Step {
        let handle = task.borrow().handle.clone();
        match self.client.status(&handle) {
            Ok(status) => {
                let mut state = task.borrow_mut();
                state.known = status.known;
                state.running = status.running;
                state.numerator = status.numerator;
                state.denominator = status.denominator;
                drop(state);
                Step::Callback {
                    task,
                    callback: Callback::Status,
                    last: true,
                }
            }
            Err(e) => {
                task.borrow_mut().code = from_error(&e).0;
                self.fail(&e);
                Step::Stopped
            }
        }
    }

    fn next_reply(&mut self) -> Step {
        loop {
            let Some(set) = self.tasks.set.as_mut() else {
                self.succeed(ReturnCode::SUCCESS);
                return Step::Done;
            };
            let event = match set.next_event() {
                Ok(Some(event)) => event,
                Ok(None) => {
                    self.tasks.set = None;
                    self.tasks.running.clear();
                    self.succeed(ReturnCode::SUCCESS);
                    return Step::Done;
                }
                Err(e) => {
                    self.fail(&e);
                    return Step::Stopped;
                }
            };
            let id = event.task();
            // Every event is for a task of this client's set.
            if let Some(task) = self.tasks.running.get(&id).cloned() {
                return self.apply(id, task, event);
            }
        }
    }

    /// Record `event` in `task`'s state; the callback it calls for.
    fn apply(&mut self, id: TaskId, task: SharedTask, event: TaskEvent) -> Step {
        let mut state = task.borrow_mut();
        let (callback, last) = match event {
            TaskEvent::Created { handle, .. } => {
                state.handle = handle;
                state.known = true;
                let background = matches!(
                    state.request,
                    Request::Job { kind, .. } if kind.background
                );
                (Callback::Created, background)
            }
            TaskEvent::Job { event, .. } => match event {
                JobEvent::Data(data) => {
                    state.data = data;
                    state.running = true;
                    (Callback::Data, false)
                }
                JobEvent::Warning(data) => {
                    state.data = data;
                    state.running = true;
                    (Callback::Warning, false)
                }
                JobEvent::Status {
                    numerator,
                    denominator,
                } => {
                    state.numerator = numerator;
                    state.denominator = denominator;
                    state.data = Bytes::new();
                    state.running = true;
                    (Callback::Status, false)
                }
                JobEvent::Complete(result) => {
                    state.end(result);
                    (Callback::Complete, true)
                }
                JobEvent::Exception(data) => {
                    state.end(data);
                    (Callback::Exception, true)
                }
                JobEvent::Fail => {
                    state.end(Bytes::new());
                    (Callback::Fail, true)
                }
            },
            TaskEvent::Failed { error, .. } => {
                // The job never ran: the run stops with the reason, as libgearman's does.
                state.code = from_error(&error).0;
                state.live = false;
                drop(state);
                self.tasks.running.remove(&id);
                self.fail(&error);
                return Step::Stopped;
            }
        };
        drop(state);
        if last {
            self.tasks.running.remove(&id);
        }
        Step::Callback {
            task,
            callback,
            last,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use gearbox_client::Priority;

    fn normal() -> DoKind {
        DoKind {
            priority: Priority::Normal,
            background: false,
        }
    }

    #[test]
    fn a_new_task_answers_before_the_run() {
        let mut core = ClientCore::new();
        let task = core.add_task(b"f", b"w", Some(b"u"), normal());
        let state = task.borrow();
        assert_eq!(state.function_name().map(|b| &b[..]), Some(&b"f"[..]));
        assert_eq!(state.unique().map(|b| &b[..]), Some(&b"u"[..]));
        assert_eq!(state.job_handle().map(|b| b.len()), Some(0));
        assert!(!state.is_known());
        assert_eq!(state.status(), Some((0, 0)));
    }

    #[test]
    fn tasks_without_a_unique_get_a_random_one() {
        let mut core = ClientCore::new();
        let a = core.add_task(b"f", b"w", None, normal());
        let b = core.add_task(b"f", b"w", Some(b""), normal());
        let (a, b) = (a.borrow(), b.borrow());
        assert_eq!(a.unique().map(Bytes::len), Some(36));
        assert_ne!(a.unique(), b.unique());
    }

    #[test]
    fn a_run_without_tasks_is_done_and_without_servers_stops() {
        let mut core = ClientCore::new();
        assert!(matches!(core.run_step(), Step::Done));
        core.add_task(b"f", b"w", None, normal());
        assert!(matches!(core.run_step(), Step::Stopped));
        assert_eq!(core.return_code(), ReturnCode::NO_SERVERS);
    }

    #[test]
    fn released_tasks_answer_nothing() {
        let mut core = ClientCore::new();
        let task = core.add_task_status(b"H:x:1");
        assert_eq!(
            task.borrow().function_name().map(|b| &b[..]),
            Some(&b"H:x:1"[..])
        );
        assert!(core.release(&task));
        let state = task.borrow();
        assert!(state.function_name().is_none() && state.data().is_none());
        assert!(!state.is_known());
    }

    #[test]
    fn without_free_tasks_a_task_is_kept() {
        let mut core = ClientCore::new();
        core.set_options(0);
        let task = core.add_task(b"f", b"w", None, normal());
        assert!(!core.release(&task));
        assert!(task.borrow().is_live());
    }
}
