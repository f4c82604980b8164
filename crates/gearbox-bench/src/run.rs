//! The state of the one run this process performs: the stage it is in (for the timeout
//! message) and the first failure any task found (a lost, duplicated or foreign job, an ERROR
//! reply, a dropped connection), plus the helpers that spawn tasks and wait on them.
//!
//! One process runs one scenario, so this is process-global: every task can report a failure
//! without a handle being threaded through it, and the waiting side polls one place. Polling
//! every couple of milliseconds costs nothing measurable and needs no synchronisation
//! primitives beyond a mutex.

use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{bail, Result};
use tokio::task::JoinHandle;

use crate::ledger::Ledger;

/// How often a waiting scenario looks at the shared state.
pub const POLL: Duration = Duration::from_millis(2);

struct State {
    stage: String,
    ledger: Option<Arc<Ledger>>,
    failure: Option<String>,
}

static STATE: Mutex<State> = Mutex::new(State {
    stage: String::new(),
    ledger: None,
    failure: None,
});

fn state() -> std::sync::MutexGuard<'static, State> {
    STATE.lock().unwrap_or_else(|e| e.into_inner())
}

/// Enter a stage; `ledger`, if given, is what the timeout message quotes as progress.
pub fn stage(name: impl Into<String>, ledger: Option<&Arc<Ledger>>) {
    let mut s = state();
    s.stage = name.into();
    s.ledger = ledger.cloned();
}

/// Record a failure. The first one wins: later ones are usually its consequences.
pub fn fail(msg: String) {
    let mut s = state();
    if s.failure.is_none() {
        s.failure = Some(msg);
    }
}

/// The first failure, if any.
pub fn failure() -> Option<String> {
    state().failure.clone()
}

/// What the run was doing, for a timeout: "filling the queue (41234 of 500000 done)".
pub fn describe() -> String {
    let s = state();
    let mut out = s.stage.clone();
    if let Some(l) = &s.ledger {
        out.push_str(&format!(" ({} of {} done)", l.done(), l.len()));
    }
    if let Some(f) = &s.failure {
        out.push_str(&format!("; first failure: {f}"));
    }
    out
}

/// Spawn a task whose error becomes the run's failure.
pub fn spawn(name: String, fut: impl Future<Output = Result<()>> + Send + 'static) -> Task {
    Task(tokio::spawn(async move {
        if let Err(e) = fut.await {
            fail(format!("{name}: {e:#}"));
        }
    }))
}

/// A spawned task; aborted when dropped, so a failing scenario leaves nothing running.
pub struct Task(JoinHandle<()>);

impl Task {
    /// Whether the task has ended.
    pub fn is_finished(&self) -> bool {
        self.0.is_finished()
    }
}

impl Drop for Task {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Wait until `done` holds, failing as soon as any task has failed.
pub async fn wait_for(mut done: impl FnMut() -> bool) -> Result<()> {
    loop {
        if let Some(f) = failure() {
            bail!(f);
        }
        if done() {
            return Ok(());
        }
        tokio::time::sleep(POLL).await;
    }
}

/// Wait until every task has ended (successfully: a failure ends the wait with it).
pub async fn join(tasks: &[Task]) -> Result<()> {
    wait_for(|| tasks.iter().all(Task::is_finished)).await?;
    match failure() {
        Some(f) => bail!(f),
        None => Ok(()),
    }
}
