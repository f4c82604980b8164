//! The durable path: JOB_CREATED only after the commit, replies kept in order behind it,
//! failures answered with ERROR, and jobs rebuilt from the store.

use super::*;

fn durable() -> Harness {
    Harness::with(EngineConfig {
        durable: true,
        handle_prefix: "H:test".into(),
        ..EngineConfig::default()
    })
}

fn persisted(sent: &[Sent]) -> Vec<(u64, StoreOp)> {
    sent.iter()
        .filter_map(|s| match s {
            Sent::Persist(seq, op) => Some((*seq, op.clone())),
            _ => None,
        })
        .collect()
}

impl Harness {
    fn commit(&mut self, through: u64, failure: Option<&str>) -> Vec<Sent> {
        self.engine
            .committed(through, failure, self.now, &mut self.out);
        std::mem::take(&mut self.out.sent)
    }
}

#[test]
fn a_background_job_is_answered_and_handed_out_only_once_committed() {
    let mut h = durable();
    h.connect(1);
    h.connect(2);
    h.send(W, T::CanDo, &[b"f"]);
    h.send(W, T::PreSleep, &[]);
    let sent = h.send(C, T::SubmitJobBg, &[b"f", b"u", b"x\0y"]);
    assert!(
        kinds_to(&sent, C).is_empty(),
        "no JOB_CREATED before the commit"
    );
    assert!(
        kinds_to(&sent, W).is_empty(),
        "no wake-up before the commit"
    );
    let writes = persisted(&sent);
    let [(seq, StoreOp::Put(job))] = writes.as_slice() else {
        panic!("{writes:?}")
    };
    assert_eq!(
        (
            &job.function[..],
            &job.unique[..],
            &job.data[..],
            job.priority
        ),
        (&b"f"[..], &b"u"[..], &b"x\0y"[..], 1)
    );
    assert_eq!(h.grab(W), None, "an uncommitted job is not handed out");
    h.send(W, T::PreSleep, &[]);
    let sent = h.commit(*seq, None);
    assert_eq!(kinds_to(&sent, C), [T::JobCreated]);
    assert_eq!(kinds_to(&sent, W), [T::Noop], "the commit wakes a worker");
    let (handle, _, _, data) = h.grab(W).unwrap();
    assert_eq!(data, "x\0y");
    let sent = h.send(W, T::WorkComplete, &[handle.as_bytes(), b""]);
    assert_eq!(
        persisted(&sent),
        vec![(seq + 1, StoreOp::Done { id: job.id })]
    );
}

#[test]
fn a_committed_job_takes_its_place_in_submission_order() {
    let mut h = durable();
    h.connect(1);
    h.connect(2);
    h.connect(3);
    let other = ConnId(3);
    h.send(W, T::CanDo, &[b"f"]);
    let sent = h.send(C, T::SubmitJobBg, &[b"f", b"", b"bg"]);
    let seq = persisted(&sent)[0].0;
    for data in ["fg1", "fg2", "fg3"] {
        h.send(other, T::SubmitJob, &[b"f", b"", data.as_bytes()]);
    }
    // Meanwhile, jobs submitted after it may run: it is not in the queue yet.
    assert_eq!(h.grab(W).unwrap().3, "fg1");
    assert_eq!(h.engine.queued("f"), 2);
    h.commit(seq, None);
    // Committed, it goes where its submission put it: ahead of the later foreground jobs.
    assert_eq!(h.grab(W).unwrap().3, "bg");
    assert_eq!(h.grab(W).unwrap().3, "fg2");
    assert_eq!(h.grab(W).unwrap().3, "fg3");
}

#[test]
fn a_committing_job_is_counted_as_waiting_and_can_be_cancelled() {
    let mut h = durable();
    h.connect(2);
    let admin = h.connect(3);
    let sent = h.send(C, T::SubmitJobHighBg, &[b"f", b"", b"x"]);
    let writes = persisted(&sent);
    let [(seq, StoreOp::Put(job))] = writes.as_slice() else {
        panic!("{sent:?}")
    };
    assert_eq!(h.admin(admin, "prioritystatus"), "f\t1\t0\t0\t0\n.\n");
    let cancel = format!("cancel job H:test:{}", job.id);
    assert_eq!(h.admin(admin, &cancel), "OK\r\n");
    let sent = h.commit(*seq, None);
    assert_eq!(
        kinds_to(&sent, C),
        [T::JobCreated],
        "the write itself succeeded"
    );
    assert_eq!(h.engine.jobs_in_memory(), 0);
}

#[test]
fn a_failed_commit_keeps_a_job_a_foreground_client_has() {
    let mut h = durable();
    h.connect(1);
    h.connect(2);
    h.connect(3);
    let a = ConnId(3);
    h.send(W, T::CanDo, &[b"f"]);
    // Running: a background submission joins it, and its write fails.
    h.submit(a, T::SubmitJob, "f", "run", "x");
    let (handle, ..) = h.grab(W).unwrap();
    let sent = h.send(C, T::SubmitJobBg, &[b"f", b"run", b"x"]);
    let seq = persisted(&sent)[0].0;
    let sent = h.commit(seq, Some("disk full"));
    assert_eq!(error_code(&sent, C), "QUEUE_ERROR");
    let sent = h.send(W, T::WorkComplete, &[handle.as_bytes(), b"r"]);
    assert_eq!(kinds_to(&sent, a), [T::WorkComplete]);
    assert!(
        persisted(&sent).is_empty(),
        "nothing to delete: it was never stored"
    );
    // Queued: the same; it stays runnable for its foreground client throughout.
    h.submit(a, T::SubmitJob, "f", "queued", "y");
    let sent = h.send(C, T::SubmitJobBg, &[b"f", b"queued", b"y"]);
    let seq = persisted(&sent)[0].0;
    let sent = h.commit(seq, Some("disk full"));
    assert_eq!(error_code(&sent, C), "QUEUE_ERROR");
    let (handle, ..) = h.grab(W).unwrap();
    let sent = h.send(W, T::WorkComplete, &[handle.as_bytes(), b"r"]);
    assert_eq!(kinds_to(&sent, a), [T::WorkComplete]);
    assert_eq!(h.engine.jobs_in_memory(), 0);
}

#[test]
fn replies_after_a_pending_job_created_keep_request_order() {
    let mut h = durable();
    h.connect(2);
    let s1 = h.send(C, T::SubmitJobBg, &[b"f", b"", b"1"]);
    let s2 = h.send(C, T::EchoReq, &[b"ping"]);
    let s3 = h.send(C, T::SubmitJobBg, &[b"f", b"", b"2"]);
    let s4 = h.send(C, T::SubmitJob, &[b"f", b"", b"fg"]);
    h.engine
        .admin(C, &Bytes::from_static(b"version"), &mut h.out);
    assert!(kinds_to(&[s1.clone(), s2, s3.clone(), s4].concat(), C).is_empty());
    assert!(std::mem::take(&mut h.out.sent)
        .iter()
        .all(|s| !matches!(s, Sent::Text(..))));
    let first = persisted(&s1)[0].0;
    let second = persisted(&s3)[0].0;
    // Only the first write committed: its JOB_CREATED and the ECHO behind it go out.
    let sent = h.commit(first, None);
    assert_eq!(kinds_to(&sent, C), [T::JobCreated, T::EchoRes]);
    let sent = h.commit(second, None);
    assert_eq!(kinds_to(&sent, C), [T::JobCreated, T::JobCreated]);
    assert!(sent.contains(&Sent::Text(C, "OK 1.1.20\n".into())));
}

#[test]
fn a_failed_commit_answers_error_and_forgets_the_job() {
    let mut h = durable();
    h.connect(2);
    let sent = h.send(C, T::SubmitJobBg, &[b"f", b"u", b"x"]);
    let seq = persisted(&sent)[0].0;
    let sent = h.commit(seq, Some("disk full"));
    match packets_to(&sent, C).as_slice() {
        [(T::Error, args)] => {
            assert_eq!(args[0], b"QUEUE_ERROR");
            assert!(String::from_utf8_lossy(&args[1]).contains("disk full"));
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(h.engine.jobs_in_memory(), 0);
    assert!(
        persisted(&sent).is_empty(),
        "nothing to delete for a job never stored"
    );
    // The unique is free again.
    let sent = h.send(C, T::SubmitJobBg, &[b"f", b"u", b"x"]);
    assert_eq!(persisted(&sent).len(), 1);
}

#[test]
fn foreground_jobs_are_not_stored_and_answered_at_once() {
    let mut h = durable();
    h.connect(2);
    let sent = h.send(C, T::SubmitJob, &[b"f", b"", b"x"]);
    assert_eq!(kinds_to(&sent, C), [T::JobCreated]);
    assert!(persisted(&sent).is_empty());
}

#[test]
fn ack_before_commit_answers_at_once_and_still_stores() {
    let mut h = Harness::with(EngineConfig {
        durable: true,
        ack_before_commit: true,
        ..EngineConfig::default()
    });
    h.connect(1);
    h.connect(2);
    h.send(W, T::CanDo, &[b"f"]);
    let sent = h.send(C, T::SubmitJobBg, &[b"f", b"", b"x"]);
    assert_eq!(kinds_to(&sent, C), [T::JobCreated]);
    assert_eq!(persisted(&sent).len(), 1);
    assert!(h.grab(W).is_some());
}

#[test]
fn a_submission_joining_a_storing_job_waits_for_the_same_commit() {
    let mut h = durable();
    h.connect(2);
    let other = h.connect(3);
    let sent = h.send(C, T::SubmitJobBg, &[b"f", b"same", b"x"]);
    let seq = persisted(&sent)[0].0;
    let sent = h.send(other, T::SubmitJobBg, &[b"f", b"same", b"x"]);
    assert!(kinds_to(&sent, other).is_empty());
    assert!(persisted(&sent).is_empty(), "one job, one write");
    let sent = h.commit(seq, None);
    let a = packets_to(&sent, C);
    let b = packets_to(&sent, other);
    assert_eq!(a.len(), 1);
    assert_eq!(a, b, "the same JOB_CREATED to both");
}

#[test]
fn a_background_submission_joining_a_foreground_job_makes_it_durable() {
    let mut h = durable();
    h.connect(2);
    let bg = h.connect(3);
    let handle = h.submit(C, T::SubmitJob, "f", "same", "x");
    let sent = h.send(bg, T::SubmitJobBg, &[b"f", b"same", b"x"]);
    assert!(kinds_to(&sent, bg).is_empty());
    let seq = persisted(&sent)[0].0;
    let sent = h.commit(seq, None);
    assert_eq!(created(&sent, bg), handle);
    // The foreground client leaving no longer drops the job.
    h.close(C);
    assert_eq!(h.engine.jobs_in_memory(), 1);
}

#[test]
fn cancel_and_retry_exhaustion_delete_the_stored_copy() {
    let mut h = Harness::with(EngineConfig {
        durable: true,
        job_retries: 0,
        handle_prefix: "H:test".into(),
        ..EngineConfig::default()
    });
    h.connect(1);
    h.connect(2);
    let sent = h.send(C, T::SubmitJobBg, &[b"f", b"", b"a"]);
    let (seq_a, StoreOp::Put(a)) = persisted(&sent)[0].clone() else {
        panic!()
    };
    let sent = h.send(C, T::SubmitJobBg, &[b"f", b"", b"b"]);
    let (seq_b, StoreOp::Put(b)) = persisted(&sent)[0].clone() else {
        panic!()
    };
    let sent = h.commit(seq_b, None);
    let handles: Vec<String> = packets_to(&sent, C)
        .iter()
        .map(|(_, a)| String::from_utf8(a[0].clone()).unwrap())
        .collect();
    assert!(seq_a < seq_b);
    assert!(
        h.admin(C, "show jobs").contains("\t0\t0\t1\n"),
        "shown as persisted"
    );
    h.engine.admin(
        C,
        &Bytes::from(format!("cancel job {}", handles[0])),
        &mut h.out,
    );
    let sent = std::mem::take(&mut h.out.sent);
    assert_eq!(
        persisted(&sent)
            .iter()
            .map(|(_, op)| op.clone())
            .collect::<Vec<_>>(),
        vec![StoreOp::Done { id: a.id }]
    );
    h.send(W, T::CanDo, &[b"f"]);
    h.grab(W).unwrap();
    let sent = h.close(W);
    assert_eq!(
        persisted(&sent)
            .iter()
            .map(|(_, op)| op.clone())
            .collect::<Vec<_>>(),
        vec![StoreOp::Done { id: b.id }]
    );
}

#[test]
fn restored_jobs_keep_order_priority_unique_and_epoch() {
    let mut h = durable();
    let stored = |id: u64, unique: &str, priority: u8, when: u64, data: &str| StoredJob {
        id,
        function: Bytes::from_static(b"f"),
        unique: Bytes::copy_from_slice(unique.as_bytes()),
        priority,
        when_to_run: when,
        reducer: Bytes::new(),
        data: Bytes::copy_from_slice(data.as_bytes()),
    };
    let later = T0 / 1000 + 60;
    for job in [
        stored(5, "a", 1, 0, "normal-1"),
        stored(6, "", 2, 0, "low"),
        stored(7, "c", 1, later, "epoch"),
        stored(8, "", 1, 0, "normal-2"),
        stored(9, "", 0, 0, "high"),
    ] {
        h.engine.restore(job, h.now);
    }
    assert!(
        persisted(&std::mem::take(&mut h.out.sent)).is_empty(),
        "replay writes nothing"
    );
    h.connect(1);
    h.connect(2);
    h.send(W, T::CanDo, &[b"f"]);
    let order: Vec<String> = std::iter::from_fn(|| h.grab(W).map(|g| g.3)).collect();
    assert_eq!(order, ["high", "normal-1", "normal-2", "low"]);
    // The unique still coalesces, and finishing a restored job deletes its original row.
    let sent = h.send(C, T::SubmitJobBg, &[b"f", b"c", b"again"]);
    assert_eq!(kinds_to(&sent, C), [T::JobCreated]);
    assert!(persisted(&sent).is_empty());
    h.advance(60_000);
    let (handle, _, unique, data) = h.grab(W).unwrap();
    assert_eq!((unique.as_str(), data.as_str()), ("c", "epoch"));
    let sent = h.send(W, T::WorkComplete, &[handle.as_bytes(), b""]);
    assert_eq!(persisted(&sent)[0].1, StoreOp::Done { id: 7 });
}

#[test]
fn new_jobs_never_reuse_a_replayed_store_id() {
    let mut h = durable();
    let replayed_id = 9_000_000_000_000_000;
    h.engine.restore(
        StoredJob {
            id: replayed_id,
            function: Bytes::from_static(b"f"),
            unique: Bytes::new(),
            priority: 1,
            when_to_run: 0,
            reducer: Bytes::new(),
            data: Bytes::from_static(b"old"),
        },
        h.now,
    );
    h.connect(2);
    let sent = h.send(C, T::SubmitJobBg, &[b"f", b"", b"new"]);
    let writes = persisted(&sent);
    let [(_, StoreOp::Put(job))] = writes.as_slice() else {
        panic!("{writes:?}")
    };
    assert!(job.id > replayed_id);
}
