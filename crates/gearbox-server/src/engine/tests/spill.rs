//! Bounded memory: workloads beyond `resident_jobs` wait in the store, come back in queue
//! order before their turn, and nothing is lost or reordered on the way.

use std::collections::BTreeMap;

use super::*;

/// A durable engine with a workload limit, over a fake store that keeps what the engine
/// persists and answers its read-backs when told to.
struct Spilling {
    h: Harness,
    rows: BTreeMap<u64, Bytes>,
    loads: Vec<(u64, Vec<u64>)>,
    /// Last write persisted, and last write reported committed.
    seq: u64,
    committed: u64,
}

impl Spilling {
    fn new(resident_jobs: u32) -> Spilling {
        let mut h = Harness::with(EngineConfig {
            durable: true,
            resident_jobs,
            handle_prefix: "H:test".into(),
            ..EngineConfig::default()
        });
        h.connect(1);
        h.connect(2);
        h.send(W, T::CanDo, &[b"f"]);
        Spilling {
            h,
            rows: BTreeMap::new(),
            loads: Vec::new(),
            seq: 0,
            committed: 0,
        }
    }

    /// Keep the store's side of what the engine sent; return the rest.
    fn absorb(&mut self, sent: Vec<Sent>) -> Vec<Sent> {
        let mut rest = Vec::new();
        for s in sent {
            match s {
                Sent::Persist(seq, StoreOp::Put(job)) => {
                    self.seq = seq;
                    self.rows.insert(job.id, job.data);
                }
                Sent::Persist(seq, StoreOp::Done { id }) => {
                    self.seq = seq;
                    self.rows.remove(&id);
                }
                Sent::Load(token, ids) => self.loads.push((token, ids)),
                other => rest.push(other),
            }
        }
        rest
    }

    fn send(&mut self, conn: ConnId, kind: T, args: &[&[u8]]) -> Vec<Sent> {
        let sent = self.h.send(conn, kind, args);
        self.absorb(sent)
    }

    /// Report every write so far committed; false when there was none to report.
    fn commit(&mut self) -> bool {
        if self.committed == self.seq {
            return false;
        }
        self.committed = self.seq;
        self.h
            .engine
            .committed(self.seq, None, self.h.now, &mut self.h.out);
        let sent = std::mem::take(&mut self.h.out.sent);
        self.absorb(sent);
        true
    }

    /// Submit background jobs and commit them.
    fn submit_bg(&mut self, kind: T, payloads: &[&str]) {
        for data in payloads {
            self.send(C, kind, &[b"f", b"", data.as_bytes()]);
        }
        self.commit();
    }

    /// Answer every pending read-back from the fake store.
    fn serve_loads(&mut self) -> Vec<Sent> {
        let mut rest = Vec::new();
        while !self.loads.is_empty() {
            for (token, ids) in std::mem::take(&mut self.loads) {
                self.h.read_back(token, &ids, &self.rows);
                let sent = std::mem::take(&mut self.h.out.sent);
                rest.extend(self.absorb(sent));
            }
        }
        rest
    }

    /// GRAB_JOB_UNIQ and finish the job: its workload, or None on NO_JOB.
    fn run_one(&mut self) -> Option<String> {
        let sent = self.send(W, T::GrabJobUniq, &[]);
        let [Sent::Packet(_, T::JobAssignUniq, args)] = sent.as_slice() else {
            assert_eq!(kinds_to(&sent, W), [T::NoJob]);
            return None;
        };
        let handle = args[0].clone();
        let data = String::from_utf8(args[3].clone()).unwrap();
        self.send(W, T::WorkComplete, &[&handle, b""]);
        Some(data)
    }

    /// Run every job, committing writes and serving read-backs whenever the worker finds
    /// nothing ready.
    fn drain(&mut self) -> Vec<String> {
        let mut done = Vec::new();
        for _ in 0..10_000 {
            match self.run_one() {
                Some(data) => done.push(data),
                None if self.commit() => {}
                None if self.loads.is_empty() => return done,
                None => {
                    self.serve_loads();
                }
            }
        }
        panic!("drain did not finish");
    }

    fn spilled(&self) -> usize {
        self.h.engine.jobs_in_memory() - self.h.engine.resident_jobs()
    }
}

fn payloads(n: usize, prefix: &str) -> Vec<String> {
    (0..n).map(|i| format!("{prefix}{i}")).collect()
}

fn refs(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

#[test]
fn workloads_beyond_the_limit_wait_in_the_store_and_come_back_in_order() {
    let mut s = Spilling::new(8);
    let all = payloads(100, "job-");
    s.submit_bg(T::SubmitJobBg, &refs(&all));
    assert_eq!(s.h.engine.jobs_in_memory(), 100);
    assert!(
        s.h.engine.resident_jobs() <= 8,
        "only the limit stays resident"
    );
    assert_eq!(
        s.h.engine.queued("f"),
        100,
        "spilled jobs still count as queued"
    );
    assert!(
        s.loads.is_empty(),
        "no read-back while the head run is long enough"
    );
    assert_eq!(s.drain(), all);
    assert_eq!(s.h.engine.jobs_in_memory(), 0);
    assert!(s.rows.is_empty(), "every finished job left the store");
}

#[test]
fn the_resident_count_stays_near_the_limit_while_draining() {
    let mut s = Spilling::new(40);
    s.submit_bg(T::SubmitJobBg, &refs(&payloads(400, "x")));
    let mut peak = 0;
    for _ in 0..2000 {
        peak = peak.max(s.h.engine.resident_jobs());
        if s.run_one().is_none() {
            if s.loads.is_empty() {
                break;
            }
            s.serve_loads();
        }
    }
    assert_eq!(s.h.engine.jobs_in_memory(), 0);
    // One batch (a quarter of the limit) may be read back on top of the limit.
    assert!(peak <= 40 + 10, "peak resident {peak}");
}

#[test]
fn a_sleeping_worker_is_woken_when_its_job_is_read_back() {
    let mut s = Spilling::new(1);
    s.submit_bg(T::SubmitJobBg, &["a", "b", "c"]);
    assert_eq!(s.run_one().as_deref(), Some("a"));
    // Taking "a" emptied the resident run: "b" is being read back.
    assert_eq!(s.loads.len(), 1);
    assert_eq!(
        s.run_one(),
        None,
        "nothing is ready while the read is in flight"
    );
    let sent = s.send(W, T::PreSleep, &[]);
    assert!(
        kinds_to(&sent, W).is_empty(),
        "a job being read back is no reason to wake: that would spin the worker"
    );
    let sent = s.serve_loads();
    assert_eq!(kinds_to(&sent, W), [T::Noop]);
    assert_eq!(s.drain(), ["b", "c"]);
}

#[test]
fn priority_order_holds_while_a_high_job_is_read_back() {
    let mut s = Spilling::new(2);
    s.submit_bg(T::SubmitJobBg, &["n1", "n2"]);
    s.submit_bg(T::SubmitJobHighBg, &["h1", "h2"]);
    assert_eq!(s.spilled(), 2);
    assert_eq!(
        s.loads.len(),
        1,
        "a queue with nothing resident is read back at once"
    );
    assert_eq!(
        s.run_one(),
        None,
        "normal jobs wait while a high one is read back"
    );
    assert_eq!(s.drain(), ["h1", "h2", "n1", "n2"]);
}

#[test]
fn a_failed_read_back_is_retried_after_a_pause() {
    let mut s = Spilling::new(1);
    s.submit_bg(T::SubmitJobBg, &["a", "b"]);
    assert_eq!(s.run_one().as_deref(), Some("a"));
    let loads = std::mem::take(&mut s.loads);
    let [(token, ids)] = loads.as_slice() else {
        panic!("one read-back expected")
    };
    let (token, ids) = (*token, ids.clone());
    s.h.engine
        .loaded(token, Err("db down".into()), s.h.now, &mut s.h.out);
    let sent = std::mem::take(&mut s.h.out.sent);
    assert!(s.absorb(sent).is_empty());
    assert!(s.loads.is_empty(), "no retry before the pause");
    assert_eq!(s.run_one(), None);
    let sent = s.h.advance(crate::engine::spill::RELOAD_RETRY_MS);
    s.absorb(sent);
    assert_eq!(s.loads.len(), 1, "retried after the pause");
    assert_eq!(s.loads[0].1, ids, "the same jobs are asked for again");
    assert_eq!(s.drain(), ["b"]);
}

#[test]
fn a_job_missing_from_the_store_is_dropped_and_the_queue_moves_on() {
    let mut s = Spilling::new(1);
    s.submit_bg(T::SubmitJobBg, &["a", "b", "c"]);
    assert_eq!(s.run_one().as_deref(), Some("a"));
    let lost = s.loads[0].1.clone();
    for id in &lost {
        s.rows.remove(id);
    }
    let left = s.drain();
    assert_eq!(left.len(), 3 - 1 - lost.len());
    assert_eq!(left.last().map(String::as_str), Some("c"));
    assert_eq!(s.h.engine.jobs_in_memory(), 0);
    assert_eq!(s.spilled(), 0);
}

#[test]
fn cancelling_spilled_and_loading_jobs_keeps_the_books() {
    let mut s = Spilling::new(1);
    s.submit_bg(T::SubmitJobBg, &["a", "b", "c", "d"]);
    let handles: Vec<String> = (0..4)
        .map(|i| format!("H:test:{}", s.h.engine.config().first_handle + i))
        .collect();
    assert_eq!(s.run_one().as_deref(), Some("a"));
    // "b" is loading, "c" and "d" are spilled: cancel one of each.
    assert_eq!(
        s.h.admin(C, &format!("cancel job {}", handles[1])),
        "OK\r\n"
    );
    assert_eq!(
        s.h.admin(C, &format!("cancel job {}", handles[2])),
        "OK\r\n"
    );
    let sent = std::mem::take(&mut s.h.out.sent);
    s.absorb(sent);
    assert_eq!(s.drain(), ["d"]);
    assert_eq!(s.h.engine.jobs_in_memory(), 0);
    assert_eq!(s.spilled(), 0);
}

#[test]
fn epoch_jobs_spill_while_they_wait_and_run_when_due() {
    let mut s = Spilling::new(1);
    s.submit_bg(T::SubmitJobBg, &["now"]);
    let when = (T0 / 1000 + 60).to_string();
    let sent = s.send(
        C,
        T::SubmitJobEpoch,
        &[b"f", b"e", when.as_bytes(), b"later"],
    );
    assert!(kinds_to(&sent, C).is_empty());
    s.commit();
    assert_eq!(
        s.spilled(),
        1,
        "a committed epoch job keeps no workload in memory while it waits"
    );
    assert_eq!(s.drain(), ["now"]);
    let sent = s.h.advance(60_000);
    s.absorb(sent);
    assert_eq!(s.drain(), ["later"]);
}

#[test]
fn foreground_running_and_dash_unique_jobs_keep_their_workloads() {
    let mut s = Spilling::new(1);
    s.submit_bg(T::SubmitJobBg, &["bg"]);
    s.send(C, T::SubmitJob, &[b"f", b"", b"fg"]);
    s.send(C, T::SubmitJobBg, &[b"f", b"-", b"dash"]);
    // The dash job still coalesces on its workload.
    let sent = s.send(C, T::SubmitJobBg, &[b"f", b"-", b"dash"]);
    assert_eq!(
        kinds_to(&sent, C),
        [] as [T; 0],
        "joined, answered after the commit"
    );
    assert_eq!(s.h.engine.jobs_in_memory(), 3);
    assert_eq!(s.spilled(), 0);
    assert_eq!(s.drain(), ["bg", "fg", "dash"]);
    assert!(s.loads.is_empty());
}

#[test]
fn replayed_jobs_beyond_the_limit_are_read_back_only_after_the_replay() {
    let mut s = Spilling::new(2);
    for i in 0..6u64 {
        let job = StoredJob {
            id: 100 + i,
            function: Bytes::from_static(b"f"),
            unique: Bytes::new(),
            priority: if i == 5 { 0 } else { 1 },
            when_to_run: 0,
            reducer: Bytes::new(),
            data: Bytes::from(format!("r{i}")),
        };
        s.rows.insert(job.id, job.data.clone());
        s.h.engine.restore(job, s.h.now);
    }
    let sent = std::mem::take(&mut s.h.out.sent);
    s.absorb(sent);
    assert!(s.loads.is_empty(), "nothing is read back during the replay");
    assert_eq!(s.spilled(), 4);
    s.h.engine.resume_loads(&mut s.h.out);
    let sent = std::mem::take(&mut s.h.out.sent);
    s.absorb(sent);
    assert_eq!(
        s.loads.len(),
        1,
        "the high queue has nothing resident: read at once"
    );
    assert_eq!(s.drain(), ["r5", "r0", "r1", "r2", "r3", "r4"]);
}

#[test]
fn without_a_limit_nothing_is_spilled() {
    let mut s = Spilling::new(0);
    let all = payloads(50, "m");
    s.submit_bg(T::SubmitJobBg, &refs(&all));
    assert_eq!(s.spilled(), 0);
    assert_eq!(s.drain(), all);
    assert!(s.loads.is_empty());
}
