//! A consistency check of the engine's tables, for tests and fuzzing: every job is in exactly
//! the place its state says (its queue, a worker's hands, or neither while pending), and every
//! count the admin protocol shows agrees with the jobs and connections behind it.
//!
//! It reads only and changes nothing; it walks every table, so it is for tests, never for the
//! serving path.

use std::collections::HashSet;

use super::ids::JobId;
use super::job::{JobState, Priority};
use super::Engine;

impl Engine {
    /// Every broken rule found, as sentences; empty when the engine is consistent.
    pub fn audit(&self) -> Vec<String> {
        let mut problems = Vec::new();
        let bytes: u64 = self.jobs.iter().map(|(_, j)| j.body.len() as u64).sum();
        if bytes != self.held_bytes {
            problems.push(format!(
                "held_bytes is {} but the jobs hold {bytes}",
                self.held_bytes
            ));
        }
        for (f, function) in self.functions.iter() {
            let name = String::from_utf8_lossy(&function.name);
            let jobs: Vec<_> = self.jobs.iter().filter(|(_, j)| j.function == f).collect();
            if function.total as usize != jobs.len() {
                problems.push(format!(
                    "{name}: total {} but {} jobs",
                    function.total,
                    jobs.len()
                ));
            }
            let counted = [
                ("running", function.running, JobState::Running),
                ("elsewhere", function.elsewhere, JobState::Elsewhere),
            ];
            for (what, count, state) in counted {
                let found = jobs.iter().filter(|(_, j)| j.state == state).count();
                if count as usize != found {
                    problems.push(format!("{name}: {what} {count} but {found} jobs {what}"));
                }
            }
            for p in Priority::ALL {
                let queue = &function.queues[p.index()];
                let mut walked = HashSet::new();
                let mut at = queue.front();
                while let Some(id) = at {
                    if !walked.insert(id) || walked.len() > self.jobs.len() {
                        problems.push(format!("{name}: queue {p:?} loops"));
                        break;
                    }
                    let job = &self.jobs[id];
                    if job.function != f || job.priority != p || job.state != JobState::Queued {
                        problems.push(format!("{name}: queue {p:?} holds a job not queued there"));
                    }
                    at = (job.next != JobId::NIL).then_some(job.next);
                }
                let queued: HashSet<JobId> = jobs
                    .iter()
                    .filter(|(_, j)| j.state == JobState::Queued && j.priority == p)
                    .map(|(id, _)| *id)
                    .collect();
                if walked != queued || queue.len() as usize != queued.len() {
                    problems.push(format!(
                        "{name}: queue {p:?} has {} ({} linked) but {} jobs are queued there",
                        queue.len(),
                        walked.len(),
                        queued.len()
                    ));
                }
            }
            let workers = self
                .conns
                .iter()
                .filter(|c| c.abilities.iter().any(|a| a.function == f))
                .count();
            if function.workers as usize != workers {
                problems.push(format!(
                    "{name}: workers {} but {workers} connections registered it",
                    function.workers
                ));
            }
        }
        for (id, job) in self.jobs.iter() {
            if self.handles.get(&self.jobs, job.handle_no) != Some(id) {
                problems.push(format!("job {} is not found by its handle", job.handle_no));
            }
            match (job.state, job.worker) {
                (JobState::Running, Some(worker)) => {
                    if !self.conns.get(worker).is_some_and(|c| c.held.contains(&id)) {
                        problems.push(format!(
                            "job {} runs on a connection that does not hold it",
                            job.handle_no
                        ));
                    }
                }
                (JobState::Running, None) => {
                    problems.push(format!("job {} runs on no worker", job.handle_no));
                }
                (_, Some(_)) => {
                    problems.push(format!(
                        "job {} has a worker but is not running",
                        job.handle_no
                    ));
                }
                (_, None) => {}
            }
        }
        for (conn, c) in self.conns.with_ids() {
            for &id in &c.held {
                if self.jobs.get(id).is_none_or(|j| j.worker != Some(conn)) {
                    problems.push(format!(
                        "connection {} holds a job not assigned to it",
                        conn.0
                    ));
                }
            }
        }
        problems
    }
}

#[cfg(test)]
mod tests {
    use super::super::{Engine, EngineConfig};

    #[test]
    fn a_fresh_engine_is_consistent_and_broken_counts_are_found() {
        let mut engine = Engine::new(EngineConfig::default());
        assert!(engine.audit().is_empty());
        engine.held_bytes = 7;
        let f = engine.function_id(b"f").unwrap();
        engine.functions[f].total = 2;
        engine.functions[f].workers = 1;
        let problems = engine.audit().join("\n");
        assert!(problems.contains("held_bytes is 7"), "{problems}");
        assert!(problems.contains("f: total 2 but 0 jobs"), "{problems}");
        assert!(problems.contains("f: workers 1 but 0"), "{problems}");
    }
}
