//! What is kept of background jobs once they are over, on the fake clock: dead letters (kept
//! with everything needed to run them again, listed, shown, retried, purged), kept results
//! (by handle and by unique, cut to their cap, expiring), and attempt counts and backoffs of
//! stored jobs, all surviving a restart from what the store was sent.

use base64::Engine as _;

use super::super::records::{ATTEMPTS, DEAD_LETTER, RESULT};
use super::*;
use gearbox_store::StoredRecord;

fn config(retries: u16, keep_results_ms: u64, max_result_bytes: u32) -> EngineConfig {
    let mut retry_policies = RetryPolicies::default();
    retry_policies.by_function.insert(
        Bytes::from_static(b"f"),
        RetryPolicy {
            retries,
            backoff_min_ms: 1_000,
            backoff_max_ms: 1_000,
            retry_on: RetryOn::default(),
        },
    );
    let mut keep_policies = PerFunction::default();
    keep_policies.by_function.insert(
        Bytes::from_static(b"f"),
        KeepPolicy {
            dead_letter: true,
            keep_results_ms,
            max_result_bytes,
        },
    );
    EngineConfig {
        handle_prefix: "H:test".into(),
        durable: true,
        retry_policies,
        keep_policies,
        ..EngineConfig::default()
    }
}

/// A durable engine with a worker (client id `worker-7`) for `f` and a client, and its store.
fn started(config: EngineConfig) -> (Harness, Disk) {
    let mut h = Harness::with(config);
    h.connect(1);
    h.connect(2);
    h.send(W, T::CanDo, &[b"f"]);
    h.send(W, T::SetClientId, &[b"worker-7"]);
    (h, Disk::default())
}

/// Submit a background job to `f` and commit it; its handle.
fn submit_committed(h: &mut Harness, disk: &mut Disk, unique: &str, data: &str) -> String {
    let sent = h.send(
        C,
        T::SubmitJobBg,
        &[b"f", unique.as_bytes(), data.as_bytes()],
    );
    let sent = h.commit_all(disk, &sent);
    created(&sent, C)
}

/// Send a work packet and commit whatever it wrote.
fn work(h: &mut Harness, disk: &mut Disk, kind: T, args: &[&[u8]]) {
    let sent = h.send(W, kind, args);
    h.commit_all(disk, &sent);
}

#[test]
fn a_job_that_fails_for_good_is_a_dead_letter_that_survives_a_restart_and_runs_again() {
    let (mut h, mut disk) = started(config(1, 0, 0));
    let handle = submit_committed(&mut h, &mut disk, "u", "data");
    assert!(h.grab(W).is_some());
    work(
        &mut h,
        &mut disk,
        T::WorkException,
        &[handle.as_bytes(), b"boom"],
    );
    assert_eq!(
        h.admin(C, "dead list"),
        ".\n",
        "buried before its retries ran out"
    );
    h.advance(1_000);
    assert!(h.grab(W).is_some());
    work(
        &mut h,
        &mut disk,
        T::WorkException,
        &[handle.as_bytes(), b"bang"],
    );
    let listed = fields(&h.admin(C, "dead list"));
    let [row] = listed.as_slice() else {
        panic!("{listed:?}")
    };
    let failed_at = super::super::admin::utc(i64::try_from(h.now / 1000).unwrap());
    assert_eq!(
        row,
        &[
            "1",
            "f",
            "u",
            "normal",
            "2",
            "exception",
            &failed_at,
            "worker-7",
            "4"
        ]
    );
    assert_eq!(h.admin(C, "show jobs"), ".\n");
    assert_eq!(disk.count(DEAD_LETTER), 1);
    assert!(
        disk.jobs.is_empty() && disk.count(ATTEMPTS) == 0,
        "{disk:?}"
    );

    // A restart keeps it whole.
    let mut h = disk.restart(config(1, 0, 0), h.now + 60_000);
    h.connect(1);
    h.connect(2);
    assert_eq!(fields(&h.admin(C, "dead list")), listed);
    let shown = h.admin(C, "dead show 1");
    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
    for field in [
        format!("function\t{}", b64("f")),
        format!("unique\t{}", b64("u")),
        format!("workload\t{}", b64("data")),
        format!("detail\t{}", b64("bang")),
        format!("worker\t{}", b64("worker-7")),
        "attempts\t2".to_owned(),
        "failure\texception".to_owned(),
    ] {
        assert!(shown.lines().any(|l| l == field), "{field:?} in {shown}");
    }
    assert!(shown.ends_with("\n.\n"));
    assert!(h.admin(C, "dead show 9").starts_with("ERR NOT_FOUND"));

    // Retried: a new job with the same unique and workload, and the letter is gone.
    let sent = {
        h.engine
            .admin(C, &Bytes::from_static(b"dead retry 1"), &mut h.out);
        std::mem::take(&mut h.out.sent)
    };
    assert!(sent.contains(&Sent::Text(C, "OK 1\r\n".into())), "{sent:?}");
    h.commit_all(&mut disk, &sent);
    assert_eq!(h.admin(C, "dead list"), ".\n");
    assert_eq!(disk.count(DEAD_LETTER), 0);
    h.send(W, T::CanDo, &[b"f"]);
    let (_, function, unique, data) = h.grab(W).expect("the retried job");
    assert_eq!(
        (function.as_str(), unique.as_str(), data.as_str()),
        ("f", "u", "data")
    );
    assert!(h.engine.audit().is_empty(), "{:?}", h.engine.audit());
}

#[test]
fn dead_letters_are_retried_and_purged_by_id_function_or_all() {
    let mut cfg = config(0, 0, 0);
    cfg.keep_policies.default = Some(KeepPolicy {
        dead_letter: true,
        keep_results_ms: 0,
        max_result_bytes: 0,
    });
    let (mut h, mut disk) = started(cfg);
    h.send(W, T::CanDo, &[b"g"]);
    for (function, unique) in [("f", "a"), ("f", "b"), ("g", "c")] {
        let sent = h.send(
            C,
            T::SubmitJobBg,
            &[function.as_bytes(), unique.as_bytes(), b"x"],
        );
        h.commit_all(&mut disk, &sent);
        let (handle, ..) = h.grab(W).unwrap();
        work(&mut h, &mut disk, T::WorkFail, &[handle.as_bytes()]);
    }
    let ids = |h: &mut Harness, line: &str| -> Vec<String> {
        fields(&h.admin(C, line))
            .into_iter()
            .map(|r| r[0].clone())
            .collect()
    };
    assert_eq!(ids(&mut h, "dead list"), ["1", "2", "3"]);
    assert_eq!(ids(&mut h, "dead list g"), ["3"]);
    assert_eq!(h.admin(C, "dead purge f"), "OK 2\r\n");
    assert_eq!(ids(&mut h, "dead list"), ["3"]);
    // A job with the letter's unique is still there: the retry waits.
    let sent = h.send(C, T::SubmitJobBg, &[b"g", b"c", b"again"]);
    h.commit_all(&mut disk, &sent);
    assert_eq!(h.admin(C, "dead retry all"), "OK 0\r\n");
    assert_eq!(ids(&mut h, "dead list"), ["3"]);
    assert_eq!(h.admin(C, "dead purge 3"), "OK 1\r\n");
    assert!(h.admin(C, "dead purge 3").starts_with("ERR NOT_FOUND"));
    assert!(h.admin(C, "dead retry 3").starts_with("ERR NOT_FOUND"));
    assert_eq!(h.admin(C, "dead purge all"), "OK 0\r\n");
    assert_eq!(h.admin(C, "dead list"), ".\n");
}

#[test]
fn a_lost_job_whose_retries_ran_out_is_buried_with_its_last_workers_id() {
    let (mut h, mut disk) = started(config(0, 0, 0));
    submit_committed(&mut h, &mut disk, "u", "data");
    assert!(h.grab(W).is_some());
    h.close(W);
    let listed = fields(&h.admin(C, "dead list"));
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert_eq!(
        (listed[0][5].as_str(), listed[0][7].as_str()),
        ("lost", "worker-7")
    );
}

#[test]
fn results_are_kept_by_handle_and_unique_cut_to_their_cap_until_they_expire() {
    let (mut h, mut disk) = started(config(0, 3_600_000, 4));
    let handle = submit_committed(&mut h, &mut disk, "img-7", "data");
    assert_eq!(h.admin(C, &format!("result {handle}")), "OK pending 0\r\n");
    assert_eq!(h.admin(C, "result f img-7"), "OK pending 0\r\n");
    assert!(h.grab(W).is_some());
    work(
        &mut h,
        &mut disk,
        T::WorkComplete,
        &[handle.as_bytes(), b"resized!"],
    );
    let kept = format!(
        "OK complete 8 {}\r\n",
        base64::engine::general_purpose::STANDARD.encode("resi")
    );
    assert_eq!(h.admin(C, &format!("result {handle}")), kept);
    assert_eq!(h.admin(C, "result f img-7"), kept);
    assert_eq!(h.admin(C, "result f other"), "OK unknown 0\r\n");
    // GET_STATUS answers as gearmand does for a finished job: unknown.
    let sent = h.send(C, T::GetStatus, &[handle.as_bytes()]);
    let status = packets_to(&sent, C);
    assert_eq!(status[0].0, T::StatusRes);
    assert_eq!(status[0].1[1], b"0", "known");
    assert_eq!(h.admin(C, "result H:test:999"), "OK unknown 0\r\n");
    assert_eq!(disk.count(RESULT), 1);

    // Across a restart, until it expires.
    let mut h = disk.restart(config(0, 3_600_000, 4), h.now + 1_000);
    h.connect(2);
    assert_eq!(h.admin(C, &format!("result {handle}")), kept);
    let sent = h.advance(3_600_000);
    disk.apply(&sent);
    assert_eq!(h.admin(C, &format!("result {handle}")), "OK unknown 0\r\n");
    assert_eq!(h.admin(C, "result f img-7"), "OK unknown 0\r\n");
    assert_eq!(disk.count(RESULT), 0);
}

#[test]
fn failures_and_exceptions_are_kept_and_foreground_jobs_are_not() {
    let (mut h, mut disk) = started(config(0, 60_000, 1024));
    let failed = submit_committed(&mut h, &mut disk, "a", "x");
    h.grab(W);
    work(&mut h, &mut disk, T::WorkFail, &[failed.as_bytes()]);
    assert_eq!(h.admin(C, &format!("result {failed}")), "OK fail 0\r\n");
    let raised = submit_committed(&mut h, &mut disk, "b", "x");
    h.grab(W);
    work(
        &mut h,
        &mut disk,
        T::WorkException,
        &[raised.as_bytes(), b"no"],
    );
    assert_eq!(
        h.admin(C, &format!("result {raised}")),
        "OK exception 2 bm8=\r\n"
    );
    let sent = h.send(C, T::SubmitJob, &[b"f", b"c", b"x"]);
    let foreground = created(&sent, C);
    h.grab(W);
    work(
        &mut h,
        &mut disk,
        T::WorkComplete,
        &[foreground.as_bytes(), b"r"],
    );
    assert_eq!(
        h.admin(C, &format!("result {foreground}")),
        "OK unknown 0\r\n"
    );
}

#[test]
fn a_stored_jobs_attempts_and_backoff_survive_a_restart_with_its_handle() {
    let (mut h, mut disk) = started(config(3, 0, 0));
    let handle = submit_committed(&mut h, &mut disk, "u", "data");
    h.grab(W);
    work(&mut h, &mut disk, T::WorkFail, &[handle.as_bytes()]);
    assert_eq!(disk.count(ATTEMPTS), 1);
    let row = disk.jobs.values().next().expect("the job's row");
    assert_eq!(row.when_to_run, (h.now + 1_000).div_ceil(1_000));

    let mut h = disk.restart(config(3, 0, 0), h.now + 100);
    h.connect(1);
    h.connect(2);
    h.send(W, T::CanDo, &[b"f"]);
    let listed = fields(&h.admin(C, "show jobs"));
    assert_eq!(listed.len(), 1);
    assert_eq!(
        (listed[0][0].as_str(), listed[0][1].as_str()),
        (handle.as_str(), "1")
    );
    assert_eq!(h.grab(W), None, "ran before its backoff");
    h.advance(2_000);
    let (got, ..) = h.grab(W).expect("the second attempt");
    assert_eq!(got, handle);
    let sent = h.send(W, T::WorkComplete, &[handle.as_bytes(), b""]);
    disk.apply(&sent);
    assert!(
        disk.jobs.is_empty() && disk.count(ATTEMPTS) == 0,
        "{disk:?}"
    );
}

/// In a cluster, `result HANDLE` for a job neither held nor ended here is looked up in the
/// store, in its place among the asker's replies: the result another node kept (until it
/// expires), pending while the job's row is stored, unknown otherwise; the operator's
/// answer comes under its token.
#[test]
fn a_result_another_node_kept_is_looked_up_in_the_store() {
    // The node that ran the job and kept its result.
    let (mut other, mut disk) = started(config(0, 60_000, 1024));
    let handle = submit_committed(&mut other, &mut disk, "u", "x");
    assert!(other.grab(W).is_some());
    work(
        &mut other,
        &mut disk,
        T::WorkComplete,
        &[handle.as_bytes(), b"done"],
    );
    let number: u64 = handle.rsplit(':').next().unwrap().parse().unwrap();
    let body = disk
        .records
        .get(&(RESULT, super::super::records::number_key(number)))
        .expect("the result's record")
        .clone();

    let mut h = Harness::with(super::cluster::node_config());
    h.connect(2);
    let ask = |h: &mut Harness, rows: Vec<(u64, Bytes)>| {
        let line = Bytes::from(format!("result H:n2:{number}"));
        h.engine.admin(C, &line, &mut h.out);
        let sent = std::mem::take(&mut h.out.sent);
        let [Sent::FindRecord(token, id, RESULT, _)] = sent.as_slice() else {
            panic!("not looked up: {sent:?}")
        };
        assert_eq!(*id, number);
        let token = *token;
        assert!(
            h.send(C, T::EchoReq, &[b"after"]).is_empty(),
            "the echo waits"
        );
        h.engine.loaded(token, Ok(rows), h.now, &mut h.out);
        let sent = std::mem::take(&mut h.out.sent);
        assert_eq!(kinds_to(&sent, C), vec![T::EchoRes], "after the answer");
        match sent.first() {
            Some(Sent::Text(C, text)) => text.clone(),
            other => panic!("{other:?}"),
        }
    };
    let kept = format!(
        "OK complete 4 {}\r\n",
        base64::engine::general_purpose::STANDARD.encode("done")
    );
    let record = (gearbox_store::RECORD_ROW, body.clone());
    assert_eq!(ask(&mut h, vec![record.clone()]), kept);
    assert_eq!(
        ask(&mut h, vec![(number, Bytes::new())]),
        "OK pending 0\r\n"
    );
    assert_eq!(ask(&mut h, Vec::new()), "OK unknown 0\r\n");
    h.now += 60_001;
    assert_eq!(ask(&mut h, vec![record]), "OK unknown 0\r\n", "expired");

    // The operator (the HTTP API).
    let command = gearbox_proto::AdminCommand::Result(gearbox_proto::ResultKey::Handle(
        Bytes::from(format!("H:n2:{number}")),
    ));
    let Answer::Later(token) = h.engine.admin_as_operator(command, h.now, &mut h.out) else {
        panic!("answered before the store did")
    };
    h.engine
        .loaded(token, Ok(vec![(number, Bytes::new())]), h.now, &mut h.out);
    assert_eq!(
        h.engine.take_operator_answers(),
        vec![(token, b"OK pending 0\r\n".to_vec())]
    );
}

/// In a cluster every node follows the dead letters in the shared table at each heartbeat:
/// another node's is listed and can be retried here; once it leaves the table (retried or
/// purged anywhere) it leaves every node; one retried here is not taken in again while its
/// deletion is on its way; a node's own not yet in the table stays.
#[test]
fn in_a_cluster_every_node_follows_the_dead_letters_of_the_others() {
    let node = |prefix: &str, epoch: u64| EngineConfig {
        handle_prefix: prefix.into(),
        cluster: true,
        first_handle: epoch << 40,
        ..config(0, 0, 0)
    };
    let (mut n2, mut disk) = started(node("H:n2", 6));
    let handle = submit_committed(&mut n2, &mut disk, "u", "data");
    assert!(n2.grab(W).is_some());
    work(&mut n2, &mut disk, T::WorkFail, &[handle.as_bytes()]);
    let (key, body) = disk
        .records
        .iter()
        .find(|((kind, _), _)| *kind == DEAD_LETTER)
        .map(|((_, key), body)| (key.clone(), body.clone()))
        .expect("a dead letter");
    let id = super::super::records::key_number(&key).unwrap();
    assert_eq!(id >> 40, 6, "numbered in its node's range");
    let record = StoredRecord {
        kind: DEAD_LETTER,
        key: key.clone(),
        body,
    };
    let view = |synced: Vec<(u8, Bytes)>, records: Vec<StoredRecord>| ClusterView {
        synced,
        records,
        ..ClusterView::default()
    };
    let in_table = vec![(DEAD_LETTER, key.clone())];
    n2.engine
        .set_cluster_view(view(in_table.clone(), vec![record.clone()]), n2.now);

    let (mut n1, _) = started(node("H:n1", 5));
    assert_eq!(n1.admin(C, "dead list"), ".\n");
    n1.engine
        .set_cluster_view(view(in_table.clone(), vec![record.clone()]), n1.now);
    let listed = fields(&n1.admin(C, "dead list"));
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert_eq!(listed[0][0], id.to_string());
    let shown = n1.admin(C, &format!("dead show {id}"));
    let workload = format!(
        "workload\t{}",
        base64::engine::general_purpose::STANDARD.encode("data")
    );
    assert!(shown.lines().any(|l| l == workload), "{shown}");

    // Retried here: a new job of this node, and the record's deletion.
    n1.engine
        .admin(C, &Bytes::from(format!("dead retry {id}")), &mut n1.out);
    let sent = std::mem::take(&mut n1.out.sent);
    assert!(sent.contains(&Sent::Text(C, "OK 1\r\n".into())), "{sent:?}");
    assert!(sent.iter().any(|s| matches!(s,
        Sent::Persist(_, StoreOp::DropRecord { kind: DEAD_LETTER, key: k }) if *k == key)));
    // A heartbeat that still sees the record does not bring it back.
    n1.engine
        .set_cluster_view(view(in_table.clone(), vec![record.clone()]), n1.now);
    assert_eq!(n1.admin(C, "dead list"), ".\n");
    // Gone from the table: gone from the node that buried it.
    n2.engine
        .set_cluster_view(view(Vec::new(), Vec::new()), n2.now);
    assert_eq!(n2.admin(C, "dead list"), ".\n");

    // A node's own dead letter stays while its write is on its way, and while no heartbeat
    // that read the table after it was written has missed it; then it was retried or purged
    // elsewhere before this node saw it in the table.
    let handle = submit_committed(&mut n2, &mut disk, "v", "data");
    assert!(n2.grab(W).is_some());
    let sent = n2.send(W, T::WorkFail, &[handle.as_bytes()]);
    let read_at = |read_at: u64| ClusterView {
        read_at,
        ..ClusterView::default()
    };
    n2.engine.set_cluster_view(read_at(n2.now + 60_000), n2.now);
    assert_eq!(
        fields(&n2.admin(C, "dead list")).len(),
        1,
        "not written yet"
    );
    n2.commit_all(&mut disk, &sent);
    n2.engine.set_cluster_view(read_at(n2.now), n2.now);
    assert_eq!(
        fields(&n2.admin(C, "dead list")).len(),
        1,
        "read before it was written"
    );
    n2.engine.set_cluster_view(read_at(n2.now + 1_000), n2.now);
    assert_eq!(n2.admin(C, "dead list"), ".\n", "gone from the table");
}
