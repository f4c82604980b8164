//! Task sets: many jobs submitted together, their events received as each arrives (PECL's
//! `addTask` + `runTasks`, as a stream instead of callbacks).
//!
//! This module owns the bookkeeping of which tasks are still open. Submission and failover go
//! through the client (`client.rs`); event routing through the sessions. It must not block on
//! one task while others have events ready.

use std::collections::HashSet;
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::mpsc;

use crate::client::Client;
use crate::deadline::with_deadline;
use crate::error::Error;
use crate::event::{JobEvent, Listener, Update};
use crate::request::JobRequest;

/// Identifies a task within its [`TaskSet`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TaskId(pub u64);

/// News about one task of a set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TaskEvent {
    /// The server accepted the task's job. For a background task this is its last event.
    Created {
        /// The task.
        task: TaskId,
        /// The job handle.
        handle: Bytes,
    },
    /// An event of a foreground task's job; a terminal one is the task's last event.
    Job {
        /// The task.
        task: TaskId,
        /// The event.
        event: JobEvent,
    },
    /// The task failed without a result: the submission was refused or could not be sent, or
    /// the connection died while waiting for the job (see [`Error::ConnectionLost`]). Last
    /// event of the task.
    Failed {
        /// The task.
        task: TaskId,
        /// Why.
        error: Error,
    },
}

impl TaskEvent {
    /// The task this event is about.
    pub fn task(&self) -> TaskId {
        match self {
            TaskEvent::Created { task, .. }
            | TaskEvent::Job { task, .. }
            | TaskEvent::Failed { task, .. } => *task,
        }
    }
}

/// A set of jobs run together. [`TaskSet::add`] and [`TaskSet::add_background`] only queue;
/// the first [`TaskSet::next_event`] submits every queued task at once (pipelined on each
/// connection) and then returns events in arrival order until every task has ended.
///
/// ```no_run
/// use gearbox_client::{Client, JobEvent, JobRequest, TaskEvent};
///
/// # async fn demo(client: Client) -> Result<(), gearbox_client::Error> {
/// let mut set = client.task_set();
/// for word in ["a", "b", "c"] {
///     set.add(JobRequest::new("reverse", word));
/// }
/// while let Some(event) = set.next_event().await? {
///     if let TaskEvent::Job { task, event: JobEvent::Complete(data) } = event {
///         println!("task {task:?}: {data:?}");
///     }
/// }
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct TaskSet {
    client: Client,
    tx: mpsc::UnboundedSender<(u64, Update)>,
    rx: mpsc::UnboundedReceiver<(u64, Update)>,
    queued: Vec<(u64, JobRequest, bool)>,
    open: HashSet<u64>,
    background: HashSet<u64>,
    timeout: Option<Option<Duration>>,
}

impl Client {
    /// A new, empty task set: submit many jobs, then receive their events as they arrive.
    pub fn task_set(&self) -> TaskSet {
        TaskSet::new(self.clone())
    }
}

impl TaskSet {
    fn new(client: Client) -> TaskSet {
        let (tx, rx) = mpsc::unbounded_channel();
        TaskSet {
            client,
            tx,
            rx,
            queued: Vec::new(),
            open: HashSet::new(),
            background: HashSet::new(),
            timeout: None,
        }
    }

    /// Queue a foreground job.
    pub fn add(&mut self, req: JobRequest) -> TaskId {
        self.queue(req, false)
    }

    /// Queue a background job (its only event is `Created`, or `Failed`).
    pub fn add_background(&mut self, req: JobRequest) -> TaskId {
        self.queue(req, true)
    }

    fn queue(&mut self, req: JobRequest, background: bool) -> TaskId {
        let id = self.client.listener_id();
        self.queued.push((id, req, background));
        self.open.insert(id);
        TaskId(id)
    }

    /// Bound each wait of [`TaskSet::next_event`] (and each submission); `None` waits without
    /// limit. Defaults to the client's timeout.
    pub fn set_timeout(&mut self, timeout: Option<Duration>) {
        self.timeout = Some(timeout);
    }

    /// Tasks that have not ended yet.
    pub fn pending(&self) -> usize {
        self.open.len()
    }

    /// Submit what is queued, then wait for the next event of any task. `Ok(None)` when every
    /// task has ended; [`Error::Timeout`] when the wait exceeded the set's timeout (the tasks
    /// go on, and calling again keeps waiting).
    pub async fn next_event(&mut self) -> Result<Option<TaskEvent>, Error> {
        self.submit_queued();
        while !self.open.is_empty() {
            let deadline = self.client.deadline(self.timeout);
            let next = with_deadline(deadline, async { Ok(self.rx.recv().await) }).await?;
            // The set holds a sender itself, so the channel never closes under it.
            let Some((id, update)) = next else {
                return Ok(None);
            };
            if !self.open.contains(&id) {
                continue;
            }
            let task = TaskId(id);
            let (event, last) = match update {
                Update::Created(handle) => {
                    let last = self.background.contains(&id);
                    (TaskEvent::Created { task, handle }, last)
                }
                Update::Event(event) => {
                    let last = event.is_terminal();
                    (TaskEvent::Job { task, event }, last)
                }
                Update::Failed(error) => (TaskEvent::Failed { task, error }, true),
            };
            if last {
                self.open.remove(&id);
                self.background.remove(&id);
            }
            return Ok(Some(event));
        }
        Ok(None)
    }

    fn submit_queued(&mut self) {
        for (id, req, background) in self.queued.drain(..) {
            if background {
                self.background.insert(id);
            }
            let listener = Listener {
                id,
                tx: self.tx.clone(),
                follow: !background,
                announce: true,
            };
            let failed = self.tx.clone();
            let client = self.client.clone();
            let deadline = client.deadline(self.timeout.or(req.timeout_override()));
            // One task per submission so that all of them are in flight at once; each reports
            // only its failure, the session announces the success.
            tokio::spawn(async move {
                let outcome = match req.encode(background) {
                    Ok(packet) => {
                        with_deadline(deadline, client.submit_packet(packet, &req, Some(listener)))
                            .await
                    }
                    Err(e) => Err(e),
                };
                if let Err(error) = outcome {
                    let _ = failed.send((id, Update::Failed(error)));
                }
            });
        }
    }
}
