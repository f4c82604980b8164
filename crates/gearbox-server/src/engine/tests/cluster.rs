//! Cluster mode on the fake clock: a background job no worker of this node waits for is
//! offered (stored unowned) and leaves the node once committed, still known by its handle
//! through a store lookup; what this node's workers will take soon stays; workers that find
//! nothing make their functions wanted; claimed jobs are queued and handed out like any other;
//! schedules fire only on the leader.

use super::*;
use gearbox_store::{ClaimedJob, Relayed};

fn node() -> Harness {
    Harness::with(node_config())
}

pub(super) fn node_config() -> EngineConfig {
    EngineConfig {
        handle_prefix: "H:n1".into(),
        durable: true,
        cluster: true,
        first_handle: 5 << 40,
        ..EngineConfig::default()
    }
}

/// A stored job of `function` with workload `d`, at normal priority, due at once.
fn stored_job(id: u64, function: &'static [u8], unique: &'static [u8]) -> StoredJob {
    StoredJob {
        id,
        function: Bytes::from_static(function),
        unique: Bytes::from_static(unique),
        priority: 1,
        when_to_run: 0,
        reducer: Bytes::new(),
        data: Bytes::from_static(b"d"),
    }
}

fn writes(sent: &[Sent]) -> Vec<(u64, StoreOp)> {
    sent.iter()
        .filter_map(|s| match s {
            Sent::Persist(seq, op) => Some((*seq, op.clone())),
            _ => None,
        })
        .collect()
}

fn commit(h: &mut Harness, through: u64) -> Vec<Sent> {
    h.engine.committed(through, None, h.now, &mut h.out);
    std::mem::take(&mut h.out.sent)
}

#[test]
fn a_job_nobody_here_waits_for_is_offered_and_leaves_once_committed() {
    let mut h = node();
    h.connect(2);
    let sent = h.send(C, T::SubmitJobBg, &[b"f", b"u", b"x"]);
    let w = writes(&sent);
    let [(seq, StoreOp::Offer(job))] = w.as_slice() else {
        panic!("not offered: {w:?}")
    };
    let seq = *seq;
    assert_eq!(job.id, 5 << 40, "ids come from this start's range");
    let sent = commit(&mut h, seq);
    let handle = created(&sent, C);
    assert_eq!(handle, format!("H:n1:{}", 5u64 << 40));
    assert!(
        writes(&sent).is_empty(),
        "nothing deleted: the row is the cluster's"
    );
    assert_eq!(h.admin(C, "show jobs"), ".\n", "not kept here");

    // Its status comes from the store, in order with what the connection asked before and
    // after (an echo after it waits for it).
    let sent = h.send(C, T::GetStatus, &[handle.as_bytes()]);
    let [Sent::Load(token, ids)] = sent.as_slice() else {
        panic!("{sent:?}")
    };
    assert_eq!(ids, &vec![5u64 << 40]);
    let token = *token;
    let sent = h.send(C, T::EchoReq, &[b"after"]);
    assert!(
        sent.is_empty(),
        "the echo waits behind the lookup: {sent:?}"
    );
    let rows = std::collections::BTreeMap::from([(5u64 << 40, Bytes::from_static(b"x"))]);
    h.read_back(token, &[5 << 40], &rows);
    let replies = packets_to(&std::mem::take(&mut h.out.sent), C);
    assert_eq!(replies.len(), 2, "{replies:?}");
    assert_eq!(replies[0].0, T::StatusRes);
    assert_eq!(replies[0].1[1], b"1", "known");
    assert_eq!(replies[1].0, T::EchoRes);

    // Another node's handle is looked up the same way; a row no longer stored is unknown.
    let sent = h.send(C, T::GetStatus, &[b"H:n2:77"]);
    let [Sent::Load(token, ids)] = sent.as_slice() else {
        panic!("{sent:?}")
    };
    assert_eq!(ids, &vec![77]);
    let token = *token;
    h.read_back(token, &[77], &Default::default());
    let replies = packets_to(&std::mem::take(&mut h.out.sent), C);
    assert_eq!(replies[0].1[1], b"0", "unknown");
}

#[test]
fn what_this_nodes_workers_take_soon_stays_and_the_rest_is_offered() {
    let mut h = node();
    h.connect(1);
    h.connect(2);
    h.send(W, T::CanDo, &[b"f"]);
    h.send(W, T::PreSleep, &[]);
    // One worker: sixteen jobs ahead of it stay here, the seventeenth is offered.
    let mut ops = Vec::new();
    for i in 0..17 {
        let sent = h.send(C, T::SubmitJobBg, &[b"f", format!("u{i}").as_bytes(), b"x"]);
        ops.extend(writes(&sent));
    }
    let kept = ops
        .iter()
        .filter(|(_, op)| matches!(op, StoreOp::Put(_)))
        .count();
    let last = match ops.last() {
        Some((seq, StoreOp::Offer(job))) => {
            assert_eq!(&job.unique[..], b"u16");
            *seq
        }
        other => panic!("the last one was not offered: {other:?}"),
    };
    assert_eq!(kept, 16);
    let sent = commit(&mut h, last);
    assert_eq!(kinds_to(&sent, W), vec![T::Noop], "the worker is woken");
    let uniques: Vec<String> = std::iter::from_fn(|| h.grab(W).map(|j| j.2)).collect();
    let expected: Vec<String> = (0..16).map(|i| format!("u{i}")).collect();
    assert_eq!(
        uniques, expected,
        "the kept jobs, in order; the offered one left"
    );
}

#[test]
fn idle_workers_want_and_claimed_jobs_run_here() {
    let mut h = node();
    h.connect(1);
    h.send(W, T::CanDo, &[b"f"]);
    assert!(h.engine.take_wanted().is_empty());
    assert_eq!(h.grab(W), None);
    // Enough to keep sixteen jobs queued for the one worker.
    assert_eq!(h.engine.take_wanted(), vec![(Bytes::from_static(b"f"), 16)]);
    h.send(W, T::PreSleep, &[]);
    assert_eq!(h.engine.take_wanted(), vec![(Bytes::from_static(b"f"), 16)]);
    assert_eq!(h.engine.demand(b"f"), 16);

    let stored = |id: u64, priority: u8, unique: &'static [u8]| StoredJob {
        priority,
        ..stored_job(id, b"f", unique)
    };
    // Another node's ids: the handle counter stays in this node's range.
    h.engine.claimed(
        vec![
            ClaimedJob::background(stored(9 << 40, 0, b"hi")),
            ClaimedJob::background(stored((9 << 40) + 1, 1, b"lo")),
        ],
        h.now,
        &mut h.out,
    );
    let sent = std::mem::take(&mut h.out.sent);
    assert_eq!(kinds_to(&sent, W), vec![T::Noop]);
    assert_eq!(
        h.engine.demand(b"f"),
        14,
        "queued jobs count against the demand"
    );
    let (handle, _, unique, _) = h.grab(W).unwrap();
    assert_eq!(
        (handle.as_str(), unique.as_str()),
        ("H:n1:9895604649984", "hi")
    );
    let sent = h.send(W, T::WorkComplete, &[handle.as_bytes(), b"ok"]);
    let done: Vec<u64> = writes(&sent)
        .into_iter()
        .filter_map(|(_, op)| match op {
            StoreOp::Done { id } => Some(id),
            _ => None,
        })
        .collect();
    assert_eq!(done, vec![9 << 40], "a claimed job is deleted when done");
    // Claiming a job already here changes nothing.
    h.engine.claimed(
        vec![ClaimedJob::background(stored((9 << 40) + 1, 1, b"lo"))],
        h.now,
        &mut h.out,
    );
    assert_eq!(h.grab(W).map(|j| j.2), Some("lo".to_owned()));
    assert_eq!(h.grab(W), None);
    let c = h.connect(2);
    let created = h.submit(c, T::SubmitJob, "f", "fg", "x");
    let number: u64 = created["H:n1:".len()..].parse().unwrap();
    assert!(
        number >> 40 == 5,
        "the handle counter left this node's range: {created}"
    );
}

#[test]
fn only_the_leader_fires_schedules() {
    let mut h = Harness::with(EngineConfig {
        schedules: super::schedule::five_minutes_config(true, Missed::Skip).schedules,
        ..node_config()
    });
    h.engine.start_schedules(h.now);
    let slot = 300_000 - h.now % 300_000;
    let sent = h.advance(slot);
    assert!(writes(&sent).is_empty(), "a node that does not lead fired");
    h.engine.set_leader(true);
    let sent = h.advance(300_000);
    assert_eq!(
        writes(&sent).len(),
        2,
        "the leader fires (a job and its record): {sent:?}"
    );
}

/// The claim of an offered job can reach this node before the report of the offer's commit
/// (they travel on different threads): the job stays and runs here, not lost between the two.
#[test]
fn an_offer_claimed_back_before_its_commit_is_reported_stays() {
    let mut h = node();
    h.connect(1);
    h.connect(2);
    let sent = h.send(C, T::SubmitJobBg, &[b"f", b"u", b"x"]);
    let w = writes(&sent);
    let [(seq, StoreOp::Offer(job))] = w.as_slice() else {
        panic!("not offered: {w:?}")
    };
    let (seq, job) = (*seq, job.clone());
    h.send(W, T::CanDo, &[b"f"]);
    h.engine
        .claimed(vec![ClaimedJob::background(job)], h.now, &mut h.out);
    let sent = commit(&mut h, seq);
    assert!(created(&sent, C).starts_with("H:n1:"));
    let (_, _, unique, _) = h.grab(W).expect("the job stayed");
    assert_eq!(unique, "u");
}

/// `status` counts every job of the cluster (as of the last heartbeat): this node's, those
/// waiting unclaimed in the table and those other nodes hold, with this node's running jobs
/// and workers; `prioritystatus` counts what waits here and unclaimed in the table. Functions
/// only the table has are listed. A foreground job waiting here for another node is counted
/// once, with the table.
#[test]
fn status_counts_the_clusters_jobs() {
    let mut h = node();
    h.connect(1);
    h.connect(2);
    h.send(W, T::CanDo, &[b"f"]);
    // A foreground job of `g`, which no worker here does: offered, then waiting here.
    let sent = h.send(C, T::SubmitJob, &[b"g", b"", b"x"]);
    let seq = sent
        .iter()
        .find_map(|s| match s {
            Sent::Persist(seq, StoreOp::OfferWatched(_)) => Some(*seq),
            _ => None,
        })
        .expect("a foreground job no worker here does is offered");
    let sent = commit(&mut h, seq);
    assert!(created(&sent, C).starts_with("H:n1:"));
    h.engine.set_cluster_view(
        ClusterView {
            nodes: Vec::new(),
            leader: false,
            waiting: vec![
                (Bytes::from_static(b"f"), [1, 2, 0]),
                (Bytes::from_static(b"g"), [0, 1, 0]),
                (Bytes::from_static(b"other"), [0, 0, 3]),
            ],
            synced: Vec::new(),
            read_at: 0,
            held: vec![
                (Bytes::from_static(b"f"), [0, 4, 0]),
                (Bytes::from_static(b"elsewhere"), [0, 5, 0]),
            ],
            records: Vec::new(),
        },
        h.now,
    );
    assert_eq!(
        fields(&h.admin(W, "status")),
        vec![
            vec!["f", "7", "0", "1"],
            vec!["g", "1", "0", "0"],
            vec!["elsewhere", "5", "0", "0"],
            vec!["other", "3", "0", "0"]
        ]
    );
    assert_eq!(
        fields(&h.admin(W, "prioritystatus")),
        vec![
            vec!["f", "1", "2", "0", "1"],
            vec!["g", "0", "1", "0", "0"],
            vec!["elsewhere", "0", "0", "0", "0"],
            vec!["other", "0", "0", "3", "0"]
        ]
    );
}

/// GET_STATUS_UNIQUE for a unique no job here has asks the store, in order with the
/// connection's other replies.
#[test]
fn a_unique_no_job_here_has_is_looked_up_in_the_store() {
    let mut h = node();
    h.connect(2);
    let sent = h.send(C, T::GetStatusUnique, &[b"far"]);
    let [Sent::Find(token, unique)] = sent.as_slice() else {
        panic!("{sent:?}")
    };
    assert_eq!(&unique[..], b"far");
    let token = *token;
    assert!(h.send(C, T::EchoReq, &[b"after"]).is_empty());
    h.engine
        .loaded(token, Ok(vec![(77, Bytes::new())]), h.now, &mut h.out);
    let replies = packets_to(&std::mem::take(&mut h.out.sent), C);
    assert_eq!(replies[0].0, T::StatusResUnique);
    assert_eq!(replies[0].1[0], b"far");
    assert_eq!(replies[0].1[1], b"1", "known");
    assert_eq!(replies[1].0, T::EchoRes);
    let sent = h.send(C, T::GetStatusUnique, &[b"gone"]);
    let [Sent::Find(token, _)] = sent.as_slice() else {
        panic!("{sent:?}")
    };
    let token = *token;
    h.engine.loaded(token, Ok(Vec::new()), h.now, &mut h.out);
    let replies = packets_to(&std::mem::take(&mut h.out.sent), C);
    assert_eq!(replies[0].1[1], b"0", "unknown");
}

/// A foreground job offered to the cluster: its JOB_CREATED waits for the write, then the
/// packets another node relays reach its clients under their handle (WORK_EXCEPTION only to
/// a client that asked for exceptions, WORK_FAIL to the other), WORK_STATUS shows in
/// GET_STATUS, and the last packet ends the job here.
#[test]
fn relayed_packets_reach_the_clients_under_their_handle() {
    let mut h = node();
    h.connect(2);
    h.connect(3);
    let other = ConnId(3);
    h.send(other, T::OptionReq, &[b"exceptions"]);
    let sent = h.send(C, T::SubmitJob, &[b"g", b"u", b"x"]);
    assert!(
        kinds_to(&sent, C).is_empty(),
        "JOB_CREATED waits for the write"
    );
    let w = writes(&sent);
    let [(seq, StoreOp::OfferWatched(job))] = w.as_slice() else {
        panic!("not offered for watching: {w:?}")
    };
    let (seq, id) = (*seq, job.id);
    assert!(h.send(other, T::SubmitJob, &[b"g", b"u", b"x"]).is_empty());
    let sent = commit(&mut h, seq);
    let handle = created(&sent, C);
    assert_eq!(
        packets_to(&sent, other),
        vec![(T::JobCreated, vec![handle.clone().into_bytes()])]
    );
    let relay = |kind: T, data: &'static [u8]| Relayed {
        id,
        kind: kind as u8,
        data: Bytes::from_static(data),
    };
    h.engine.relayed(
        vec![relay(T::WorkData, b"part"), relay(T::WorkStatus, b"1\x002")],
        h.now,
        &mut h.out,
    );
    let sent = std::mem::take(&mut h.out.sent);
    for conn in [C, other] {
        let got = packets_to(&sent, conn);
        assert_eq!(
            got[0],
            (
                T::WorkData,
                vec![handle.clone().into_bytes(), b"part".to_vec()]
            )
        );
        assert_eq!(got[1].0, T::WorkStatus);
    }
    let status = packets_to(&h.send(C, T::GetStatus, &[handle.as_bytes()]), C);
    assert_eq!(
        status[0].1[1..],
        [b"1".to_vec(), b"0".to_vec(), b"1".to_vec(), b"2".to_vec()]
    );
    h.engine
        .relayed(vec![relay(T::WorkException, b"oops")], h.now, &mut h.out);
    let sent = std::mem::take(&mut h.out.sent);
    assert_eq!(kinds_to(&sent, C), vec![T::WorkFail]);
    assert_eq!(
        packets_to(&sent, other),
        vec![(
            T::WorkException,
            vec![handle.clone().into_bytes(), b"oops".to_vec()]
        )]
    );
    assert_eq!(h.admin(W, "show jobs"), ".\n", "the job ended here");
    assert!(h.engine.audit().is_empty());
}

/// A claimed job other nodes watch, cancelled here, tells them WORK_FAIL (its last packet,
/// which deletes its row), as it tells its clients here.
#[test]
fn a_cancelled_watched_job_relays_its_failure() {
    let mut h = node();
    h.connect(1);
    h.send(W, T::CanDo, &[b"g"]);
    let id = (9 << 40) + 3;
    h.engine.claimed(
        vec![ClaimedJob {
            job: stored_job(id, b"g", b"w"),
            background: false,
            watched_here: false,
            watched_elsewhere: true,
        }],
        h.now,
        &mut h.out,
    );
    h.out.sent.clear();
    let handle = format!("H:n1:{id}");
    let line = Bytes::from(format!("cancel job {handle}"));
    h.engine.admin(W, &line, &mut h.out);
    let sent = std::mem::take(&mut h.out.sent);
    assert!(sent.contains(&Sent::Text(W, "OK\r\n".into())), "{sent:?}");
    let w = writes(&sent);
    assert!(
        w.iter().any(
            |(_, op)| matches!(op, StoreOp::Relay { id: i, kind, last: true, .. }
            if *i == id && *kind == T::WorkFail as u8)
        ),
        "{w:?}"
    );
}

/// A schedule submitted to a node that does not lead is fired by the leader, which reads the
/// cluster's schedule records at every heartbeat; one cancelled on another node (its record
/// gone) is dropped; a node's own schedule whose record is not in the table yet stays.
#[test]
fn the_leader_fires_schedules_submitted_to_other_nodes() {
    let view = |leader: bool, records: Vec<gearbox_store::StoredRecord>| ClusterView {
        nodes: Vec::new(),
        leader,
        waiting: Vec::new(),
        held: Vec::new(),
        records,
        synced: Vec::new(),
        read_at: 0,
    };
    let mut other = Harness::with(EngineConfig {
        handle_prefix: "H:n2".into(),
        first_handle: 6 << 40,
        ..node_config()
    });
    other.connect(1);
    other.connect(2);
    let sent = other.send(
        C,
        T::SubmitJobSched,
        &[b"report", b"s", b"*/5", b"", b"", b"", b"", b"w"],
    );
    let record = writes(&sent)
        .into_iter()
        .find_map(|(_, op)| match op {
            StoreOp::PutRecord(r) => Some(r),
            _ => None,
        })
        .expect("the schedule is a record");
    // Its own record not yet in the table: the schedule stays.
    other
        .engine
        .set_cluster_view(view(false, Vec::new()), other.now);
    assert_eq!(fields(&other.admin(W, "show scheduled")).len(), 1);

    let mut h = node();
    h.connect(1);
    h.engine.start_schedules(h.now);
    h.engine
        .set_cluster_view(view(true, vec![record.clone()]), h.now);
    let listed = fields(&h.admin(W, "show scheduled"));
    assert_eq!(listed.len(), 1, "{listed:?}");
    let slot = 300_000 - h.now % 300_000;
    let sent = h.advance(slot);
    let fired: Vec<StoredJob> = writes(&sent)
        .into_iter()
        .filter_map(|(_, op)| match op {
            StoreOp::Put(job) | StoreOp::Offer(job) => Some(job),
            _ => None,
        })
        .collect();
    assert_eq!(fired.len(), 1, "the leader fired it: {sent:?}");
    assert_eq!(&fired[0].function[..], b"report");
    // Cancelled on the other node: its record is gone from the table.
    h.engine.set_cluster_view(view(true, Vec::new()), h.now);
    assert_eq!(h.admin(W, "show scheduled"), ".\n");
    let sent = h.advance(300_000);
    assert!(
        writes(&sent).is_empty(),
        "a cancelled schedule fired: {sent:?}"
    );
}

/// The last worker of a function leaving a node gives the stored jobs of it queued there back
/// to the table (offered again), for other nodes' workers; a job a client here waits for
/// stays.
#[test]
fn jobs_queued_for_a_worker_that_left_go_back_to_the_table() {
    let mut h = node();
    h.connect(1);
    h.connect(2);
    h.send(W, T::CanDo, &[b"f"]);
    let mut kept = Vec::new();
    for unique in [&b"a"[..], b"b"] {
        let sent = h.send(C, T::SubmitJobBg, &[b"f", unique, b"x"]);
        let w = writes(&sent);
        let [(seq, StoreOp::Put(job))] = w.as_slice() else {
            panic!("kept for the worker: {w:?}")
        };
        kept.push(job.id);
        commit(&mut h, *seq);
    }
    // A foreground client joins `b`: it stays for that client.
    h.send(ConnId(2), T::SubmitJob, &[b"f", b"b", b"x"]);
    let sent = h.close(W);
    let offered: Vec<u64> = writes(&sent)
        .into_iter()
        .filter_map(|(_, op)| match op {
            StoreOp::Offer(job) => Some(job.id),
            _ => None,
        })
        .collect();
    assert_eq!(offered, vec![kept[0]]);
    let listed = fields(&h.admin(ConnId(2), "show jobs"));
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert!(h.engine.audit().is_empty());
}

/// `cancel job` of a handle no job here has is asked of the store (which deletes the row,
/// tells its watchers and orders its holder to cancel it); the answer waits for it in its
/// place among the connection's replies, and the operator's comes under its token.
#[test]
fn cancel_of_another_nodes_job_waits_for_the_store() {
    let mut h = node();
    h.connect(2);
    let ask = |h: &mut Harness, found: Result<Vec<(u64, Bytes)>, String>| {
        h.engine
            .admin(C, &Bytes::from_static(b"cancel job H:n2:77"), &mut h.out);
        let sent = std::mem::take(&mut h.out.sent);
        let [Sent::Cancel(token, 77)] = sent.as_slice() else {
            panic!("not asked of the store: {sent:?}")
        };
        let token = *token;
        let sent = h.send(C, T::EchoReq, &[b"after"]);
        assert!(
            sent.is_empty(),
            "the echo waits behind the answer: {sent:?}"
        );
        h.engine.loaded(token, found, h.now, &mut h.out);
        let sent = std::mem::take(&mut h.out.sent);
        let Some(Sent::Text(C, text)) = sent.first() else {
            panic!("{sent:?}")
        };
        assert_eq!(kinds_to(&sent, C), vec![T::EchoRes], "after the answer");
        text.clone()
    };
    assert_eq!(ask(&mut h, Ok(vec![(77, Bytes::new())])), "OK\r\n");
    assert_eq!(ask(&mut h, Ok(Vec::new())), "ERR UNKNOWN_JOB\r\n");
    assert!(ask(&mut h, Err("gone".into())).starts_with("ERR QUEUE_ERROR "));
    // Not a cluster handle: answered at once.
    assert_eq!(h.admin(C, "cancel job nonsense"), "ERR UNKNOWN_JOB\r\n");

    // The operator (the HTTP API).
    let command = gearbox_proto::AdminCommand::Cancel {
        handle: Bytes::from_static(b"H:n3:78"),
    };
    let Answer::Later(token) = h.engine.admin_as_operator(command, h.now, &mut h.out) else {
        panic!("answered before the store did")
    };
    assert!(h.engine.take_operator_answers().is_empty());
    h.engine
        .loaded(token, Ok(vec![(78, Bytes::new())]), h.now, &mut h.out);
    assert_eq!(
        h.engine.take_operator_answers(),
        vec![(token, b"OK\r\n".to_vec())]
    );

    // Outside a cluster every job is in memory: an unknown handle is unknown at once.
    let mut single = Harness::new();
    single.connect(2);
    assert_eq!(single.admin(C, "cancel job H:n2:77"), "ERR UNKNOWN_JOB\r\n");
}

/// The node holding a job another node's `cancel job` deleted hears the order and cancels it
/// as if asked itself: a running job's late result is refused, a queued one is never handed
/// out, and one whose claim is reported after the order is dropped.
#[test]
fn a_cancel_ordered_by_another_node_ends_the_job_here() {
    let mut h = node();
    h.connect(1);
    h.connect(2);
    h.send(W, T::CanDo, &[b"f"]);
    let stored = |id: u64| ClaimedJob {
        job: stored_job(id, b"f", b""),
        background: false,
        watched_here: false,
        watched_elsewhere: true,
    };
    let order = |id: u64| {
        vec![Relayed {
            id,
            kind: gearbox_store::CANCEL_RELAY,
            data: Bytes::new(),
        }]
    };
    let (running, queued, late) = (9 << 40, (9 << 40) + 1, (9 << 40) + 2);
    h.engine
        .claimed(vec![stored(running), stored(queued)], h.now, &mut h.out);
    let (handle, ..) = h.grab(W).expect("the first claimed job");
    assert_eq!(handle, format!("H:n1:{running}"));
    h.out.sent.clear();

    h.engine.relayed(order(running), h.now, &mut h.out);
    h.engine.relayed(order(queued), h.now, &mut h.out);
    assert_eq!(h.admin(C, "show jobs"), ".\n", "both gone");
    let sent = h.send(W, T::WorkComplete, &[handle.as_bytes(), b"late"]);
    assert_eq!(error_code(&sent, W), "JOB_NOT_FOUND");
    assert_eq!(h.grab(W), None);

    // Not here (yet): cancelled in the store again, in case this node wrote the row again
    // after the order left, and remembered for the claim's report.
    h.engine.relayed(order(late), h.now, &mut h.out);
    let sent = std::mem::take(&mut h.out.sent);
    assert!(
        matches!(sent.as_slice(), [Sent::Cancel(_, id)] if *id == late),
        "{sent:?}"
    );
    h.engine.claimed(vec![stored(late)], h.now, &mut h.out);
    assert_eq!(h.grab(W), None, "cancelled before its claim came");
    assert_eq!(h.admin(C, "status"), "f\t0\t0\t1\n.\n");
}

/// `cancel job` of a job that waits here for another node's: its client here hears WORK_FAIL
/// at once, and the store is asked (after this node's watch is released) to cancel the row in
/// the whole cluster, whose answer nobody waits for.
#[test]
fn cancel_of_a_watched_job_cancels_it_in_the_cluster() {
    let mut h = node();
    h.connect(1);
    h.connect(2);
    let sent = h.send(C, T::SubmitJob, &[b"g", b"u", b"x"]);
    let w = writes(&sent);
    let [(seq, StoreOp::OfferWatched(job))] = w.as_slice() else {
        panic!("not offered for watching: {w:?}")
    };
    let (seq, id) = (*seq, job.id);
    let handle = created(&commit(&mut h, seq), C);
    let line = Bytes::from(format!("cancel job {handle}"));
    h.engine.admin(W, &line, &mut h.out);
    let sent = std::mem::take(&mut h.out.sent);
    assert!(sent.contains(&Sent::Text(W, "OK\r\n".into())), "{sent:?}");
    assert_eq!(kinds_to(&sent, C), vec![T::WorkFail]);
    let release = sent
        .iter()
        .position(|s| matches!(s, Sent::Persist(_, StoreOp::Release { id: i, .. }) if *i == id));
    let cancel = sent
        .iter()
        .position(|s| matches!(s, Sent::Cancel(_, i) if *i == id));
    assert!(
        matches!((release, cancel), (Some(r), Some(c)) if r < c),
        "released, then cancelled in the cluster: {sent:?}"
    );
    let Some(Sent::Cancel(token, _)) = cancel.map(|c| &sent[c]) else {
        unreachable!()
    };
    h.engine
        .loaded(*token, Ok(vec![(id, Bytes::new())]), h.now, &mut h.out);
    assert!(h.out.sent.is_empty(), "nobody waits: {:?}", h.out.sent);
    assert!(h.engine.take_operator_answers().is_empty());
    assert_eq!(h.admin(W, "show jobs"), ".\n");
    assert!(h.engine.audit().is_empty());
}

/// What a node reads back at start may carry ids of nodes started since (their records are
/// in the shared table): its handle counter stays in its own range.
#[test]
fn ids_read_back_keep_the_handle_counter_in_this_starts_range() {
    let mut h = node();
    h.engine
        .restore(stored_job((9 << 40) + 7, b"f", b""), h.now);
    h.connect(2);
    let sent = h.send(C, T::SubmitJobBg, &[b"f", b"", b"x"]);
    let w = writes(&sent);
    let [(_, StoreOp::Offer(job))] = w.as_slice() else {
        panic!("{w:?}")
    };
    assert_eq!(job.id, 5 << 40, "the next id of this start's range");
}
