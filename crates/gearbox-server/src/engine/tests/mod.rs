//! Engine rules, tested with a recorded outbox and a fake clock: no sockets, no sleeping.

use std::net::{IpAddr, Ipv4Addr};

use bytes::Bytes;
use gearbox_proto::{Packet, PacketType as T};

use super::*;

/// What the engine sent, decoded back into packets or text.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Sent {
    Packet(ConnId, T, Vec<Vec<u8>>),
    Text(ConnId, String),
    Close(ConnId),
    Shutdown(bool),
    Persist(u64, StoreOp),
    Load(u64, Vec<u64>),
    Find(u64, Bytes),
    Cancel(u64, u64),
    FindRecord(u64, u64, u8, Bytes),
}

#[derive(Default)]
struct Recorder {
    sent: Vec<Sent>,
}

impl Outbox for Recorder {
    fn packet(&mut self, conn: ConnId, kind: T, fields: &[&[u8]], last: &[u8]) {
        let mut args: Vec<Vec<u8>> = fields.iter().map(|f| f.to_vec()).collect();
        if kind.arity().count() > 0 {
            args.push(last.to_vec());
        }
        // Relayed packets arrive as one pre-built body; split it like a client would.
        if fields.is_empty() && kind.arity().count() > 1 {
            let packet = Packet::res(kind, &[last]);
            let parsed = Packet {
                body: packet.body.clone(),
                ..packet
            };
            let parsed = parsed.args().expect("relayed body has the type's layout");
            args = (0..parsed.len()).map(|i| parsed.get(i).to_vec()).collect();
        }
        self.sent.push(Sent::Packet(conn, kind, args));
    }

    fn text(&mut self, conn: ConnId, text: &[u8]) {
        self.sent
            .push(Sent::Text(conn, String::from_utf8_lossy(text).into_owned()));
    }

    fn close(&mut self, conn: ConnId) {
        self.sent.push(Sent::Close(conn));
    }

    fn shutdown(&mut self, graceful: bool) {
        self.sent.push(Sent::Shutdown(graceful));
    }

    fn persist(&mut self, seq: u64, op: StoreOp) {
        self.sent.push(Sent::Persist(seq, op));
    }

    fn load(&mut self, token: u64, ids: Vec<u64>) {
        self.sent.push(Sent::Load(token, ids));
    }

    fn find(&mut self, token: u64, unique: Bytes) {
        self.sent.push(Sent::Find(token, unique));
    }

    fn cancel(&mut self, token: u64, id: u64) {
        self.sent.push(Sent::Cancel(token, id));
    }

    fn find_record(&mut self, token: u64, id: u64, kind: u8, key: Bytes) {
        self.sent.push(Sent::FindRecord(token, id, kind, key));
    }
}

const T0: u64 = 1_700_000_000_000;

struct Harness {
    engine: Engine,
    out: Recorder,
    now: u64,
}

impl Harness {
    fn new() -> Harness {
        Harness::with(EngineConfig {
            handle_prefix: "H:test".into(),
            ..EngineConfig::default()
        })
    }

    fn with(config: EngineConfig) -> Harness {
        Harness {
            engine: Engine::new(config),
            out: Recorder::default(),
            now: T0,
        }
    }

    fn connect(&mut self, id: u32) -> ConnId {
        self.connect_from(id, IpAddr::V4(Ipv4Addr::LOCALHOST))
    }

    fn connect_from(&mut self, id: u32, ip: IpAddr) -> ConnId {
        let conn = ConnId(id);
        self.engine.connect(
            conn,
            Peer {
                ip,
                label: 100 + id,
                identity: None,
            },
        );
        conn
    }

    fn send(&mut self, conn: ConnId, kind: T, args: &[&[u8]]) -> Vec<Sent> {
        let packet = Packet::req(kind, args);
        self.engine.packet(conn, &packet, self.now, &mut self.out);
        std::mem::take(&mut self.out.sent)
    }

    fn admin(&mut self, conn: ConnId, line: &str) -> String {
        self.engine.admin(
            conn,
            &Bytes::copy_from_slice(line.as_bytes()),
            &mut self.out,
        );
        let sent = std::mem::take(&mut self.out.sent);
        sent.into_iter()
            .filter_map(|s| match s {
                Sent::Text(_, t) => Some(t),
                _ => None,
            })
            .collect()
    }

    fn close(&mut self, conn: ConnId) -> Vec<Sent> {
        self.engine.disconnect(conn, self.now, &mut self.out);
        std::mem::take(&mut self.out.sent)
    }

    /// Answer the read-back `token` of `ids` as a store holding `rows` would.
    fn read_back(
        &mut self,
        token: u64,
        ids: &[u64],
        rows: &std::collections::BTreeMap<u64, Bytes>,
    ) {
        let found = ids
            .iter()
            .filter_map(|id| rows.get(id).map(|d| (*id, d.clone())))
            .collect();
        self.engine
            .loaded(token, Ok(found), self.now, &mut self.out);
    }

    fn advance(&mut self, ms: u64) -> Vec<Sent> {
        self.now += ms;
        self.engine.tick(self.now, &mut self.out);
        std::mem::take(&mut self.out.sent)
    }

    /// Submit and return the handle from JOB_CREATED.
    fn submit(
        &mut self,
        conn: ConnId,
        kind: T,
        function: &str,
        unique: &str,
        data: &str,
    ) -> String {
        let sent = self.send(
            conn,
            kind,
            &[function.as_bytes(), unique.as_bytes(), data.as_bytes()],
        );
        created(&sent, conn)
    }

    /// GRAB_JOB_UNIQ: (handle, function, unique, data), or None on NO_JOB.
    fn grab(&mut self, worker: ConnId) -> Option<(String, String, String, String)> {
        let sent = self.send(worker, T::GrabJobUniq, &[]);
        match sent.as_slice() {
            [Sent::Packet(c, T::JobAssignUniq, args)] if *c == worker => {
                let s = |i: usize| String::from_utf8(args[i].clone()).unwrap();
                Some((s(0), s(1), s(2), s(3)))
            }
            [Sent::Packet(c, T::NoJob, _)] if *c == worker => None,
            other => panic!("unexpected answer to GRAB_JOB_UNIQ: {other:?}"),
        }
    }
}

/// What a durable store would hold after the writes a test saw: enough to start a new engine
/// from, as the server does after a restart (records first, then jobs in id order).
#[derive(Debug, Default)]
struct Disk {
    jobs: std::collections::BTreeMap<u64, StoredJob>,
    records: std::collections::BTreeMap<(u8, Bytes), Bytes>,
}

impl Disk {
    /// Apply every store write in `sent`, as committed.
    fn apply(&mut self, sent: &[Sent]) {
        for s in sent {
            let Sent::Persist(_, op) = s else { continue };
            match op {
                StoreOp::Put(job) | StoreOp::Offer(job) | StoreOp::OfferWatched(job) => {
                    self.jobs.insert(job.id, job.clone());
                }
                StoreOp::Relay { .. } | StoreOp::Release { .. } | StoreOp::Adopt { .. } => {}
                StoreOp::Done { id } => {
                    self.jobs.remove(id);
                }
                StoreOp::PutRecord(r) => {
                    self.records.insert((r.kind, r.key.clone()), r.body.clone());
                }
                StoreOp::DropRecord { kind, key } => {
                    self.records.remove(&(*kind, key.clone()));
                }
            }
        }
    }

    /// Records of `kind`.
    fn count(&self, kind: u8) -> usize {
        self.records.keys().filter(|(k, _)| *k == kind).count()
    }

    /// A new engine with `config`, filled from this store at `now`.
    fn restart(&self, config: EngineConfig, now: u64) -> Harness {
        let mut h = Harness::with(EngineConfig {
            durable: true,
            ..config
        });
        h.now = now;
        for ((kind, key), body) in &self.records {
            let record = gearbox_store::StoredRecord {
                kind: *kind,
                key: key.clone(),
                body: body.clone(),
            };
            h.engine.restore_record(record, now);
        }
        for job in self.jobs.values() {
            h.engine.restore(job.clone(), now);
        }
        h.engine.restored();
        h.engine.start_schedules(now);
        h
    }
}

impl Harness {
    /// Report every store write so far as committed, applying it to `disk`.
    fn commit_all(&mut self, disk: &mut Disk, sent: &[Sent]) -> Vec<Sent> {
        disk.apply(sent);
        let through = sent
            .iter()
            .filter_map(|s| match s {
                Sent::Persist(seq, _) => Some(*seq),
                _ => None,
            })
            .max();
        match through {
            Some(seq) => {
                self.engine.committed(seq, None, self.now, &mut self.out);
                std::mem::take(&mut self.out.sent)
            }
            None => Vec::new(),
        }
    }
}

/// The tab-separated fields of each line of an admin listing, up to its `.`.
fn fields(listing: &str) -> Vec<Vec<String>> {
    listing
        .lines()
        .take_while(|l| *l != ".")
        .map(|l| l.split('\t').map(str::to_owned).collect())
        .collect()
}

fn created(sent: &[Sent], conn: ConnId) -> String {
    for s in sent {
        if let Sent::Packet(c, T::JobCreated, args) = s {
            assert_eq!(*c, conn);
            return String::from_utf8(args[0].clone()).unwrap();
        }
    }
    panic!("no JOB_CREATED in {sent:?}");
}

fn packets_to(sent: &[Sent], conn: ConnId) -> Vec<(T, Vec<Vec<u8>>)> {
    sent.iter()
        .filter_map(|s| match s {
            Sent::Packet(c, k, a) if *c == conn => Some((*k, a.clone())),
            _ => None,
        })
        .collect()
}

fn kinds_to(sent: &[Sent], conn: ConnId) -> Vec<T> {
    packets_to(sent, conn).into_iter().map(|(k, _)| k).collect()
}

fn error_code(sent: &[Sent], conn: ConnId) -> String {
    match packets_to(sent, conn).as_slice() {
        [(T::Error, args)] => String::from_utf8(args[0].clone()).unwrap(),
        other => panic!("expected one ERROR, got {other:?}"),
    }
}

const W: ConnId = ConnId(1);
const C: ConnId = ConnId(2);

#[test]
fn foreground_job_flows_from_client_to_worker_and_back() {
    let mut h = Harness::new();
    h.connect(1);
    h.connect(2);
    h.send(W, T::CanDo, &[b"upper"]);
    let handle = h.submit(C, T::SubmitJob, "upper", "u-1", "hi");
    assert!(handle.starts_with("H:test:"));
    let (assigned, function, unique, data) = h.grab(W).unwrap();
    assert_eq!(
        (
            assigned.as_str(),
            function.as_str(),
            unique.as_str(),
            data.as_str()
        ),
        (handle.as_str(), "upper", "u-1", "hi")
    );
    let sent = h.send(W, T::WorkStatus, &[handle.as_bytes(), b"1", b"2"]);
    assert_eq!(
        packets_to(&sent, C),
        vec![(
            T::WorkStatus,
            vec![handle.clone().into_bytes(), b"1".to_vec(), b"2".to_vec()]
        )]
    );
    let sent = h.send(W, T::WorkData, &[handle.as_bytes(), b"part\0with nul"]);
    assert_eq!(packets_to(&sent, C)[0].1[1], b"part\0with nul".to_vec());
    let sent = h.send(W, T::WorkComplete, &[handle.as_bytes(), b"HI"]);
    assert_eq!(
        packets_to(&sent, C),
        vec![(
            T::WorkComplete,
            vec![handle.clone().into_bytes(), b"HI".to_vec()]
        )]
    );
    assert_eq!(h.engine.jobs_in_memory(), 0);
    // Finished jobs are forgotten: status is unknown and a late result is refused.
    let sent = h.send(C, T::GetStatus, &[handle.as_bytes()]);
    assert_eq!(
        packets_to(&sent, C)[0].1[1..],
        [b"0".to_vec(), b"0".to_vec(), b"0".to_vec(), b"0".to_vec()]
    );
    let sent = h.send(W, T::WorkComplete, &[handle.as_bytes(), b"again"]);
    assert_eq!(error_code(&sent, W), "JOB_NOT_FOUND");
}

#[test]
fn background_job_sends_nothing_to_its_submitter() {
    let mut h = Harness::new();
    h.connect(1);
    h.connect(2);
    h.send(W, T::CanDo, &[b"f"]);
    let handle = h.submit(C, T::SubmitJobBg, "f", "", "x");
    h.grab(W).unwrap();
    let sent = h.send(W, T::WorkStatus, &[handle.as_bytes(), b"1", b"3"]);
    assert!(sent.is_empty());
    let sent = h.send(C, T::GetStatus, &[handle.as_bytes()]);
    assert_eq!(
        packets_to(&sent, C)[0].1,
        vec![
            handle.clone().into_bytes(),
            b"1".to_vec(),
            b"1".to_vec(),
            b"1".to_vec(),
            b"3".to_vec()
        ]
    );
    let sent = h.send(W, T::WorkComplete, &[handle.as_bytes(), b""]);
    assert!(sent.is_empty());
}

#[test]
fn priorities_are_served_high_normal_low_and_fifo_within_each() {
    let mut h = Harness::new();
    h.connect(1);
    h.connect(2);
    h.submit(C, T::SubmitJobLowBg, "f", "", "low1");
    h.submit(C, T::SubmitJobBg, "f", "", "normal1");
    h.submit(C, T::SubmitJobHighBg, "f", "", "high1");
    h.submit(C, T::SubmitJobLowBg, "f", "", "low2");
    h.submit(C, T::SubmitJobHighBg, "f", "", "high2");
    h.send(W, T::CanDo, &[b"f"]);
    let order: Vec<String> = (0..5).map(|_| h.grab(W).unwrap().3).collect();
    assert_eq!(order, ["high1", "high2", "normal1", "low1", "low2"]);
    assert!(h.grab(W).is_none());
}

#[test]
fn priority_is_global_across_a_workers_functions() {
    let mut h = Harness::new();
    h.connect(1);
    h.connect(2);
    h.send(W, T::CanDo, &[b"a"]);
    h.send(W, T::CanDo, &[b"b"]);
    h.submit(C, T::SubmitJobLowBg, "a", "", "a-low");
    h.submit(C, T::SubmitJobHighBg, "b", "", "b-high");
    assert_eq!(h.grab(W).unwrap().3, "b-high");
    assert_eq!(h.grab(W).unwrap().3, "a-low");
}

#[test]
fn functions_of_equal_priority_take_turns() {
    let mut h = Harness::new();
    h.connect(1);
    h.connect(2);
    h.send(W, T::CanDo, &[b"a"]);
    h.send(W, T::CanDo, &[b"b"]);
    for i in 0..3 {
        h.submit(C, T::SubmitJobBg, "a", "", &format!("a{i}"));
    }
    for i in 0..3 {
        h.submit(C, T::SubmitJobBg, "b", "", &format!("b{i}"));
    }
    let order: Vec<String> = (0..6).map(|_| h.grab(W).unwrap().3).collect();
    assert_eq!(order, ["a0", "b0", "a1", "b1", "a2", "b2"]);
}

#[test]
fn grab_job_all_gives_unique_and_reducer_only_when_there_is_a_reducer() {
    let mut h = Harness::new();
    h.connect(1);
    h.connect(2);
    h.send(W, T::CanDo, &[b"map"]);
    h.send(
        C,
        T::SubmitReduceJobBackground,
        &[b"map", b"u1", b"reduce", b"", b"data"],
    );
    h.send(C, T::SubmitJobBg, &[b"map", b"u2", b"plain"]);
    let sent = h.send(W, T::GrabJobAll, &[]);
    let (kind, args) = packets_to(&sent, W).remove(0);
    assert_eq!(kind, T::JobAssignAll);
    assert_eq!(
        args[1..],
        [
            b"map".to_vec(),
            b"u1".to_vec(),
            b"reduce".to_vec(),
            b"data".to_vec()
        ]
    );
    let sent = h.send(W, T::GrabJobAll, &[]);
    let (kind, args) = packets_to(&sent, W).remove(0);
    assert_eq!(kind, T::JobAssignUniq);
    assert_eq!(
        args[1..],
        [b"map".to_vec(), b"u2".to_vec(), b"plain".to_vec()]
    );
    let sent = h.send(W, T::GrabJob, &[]);
    assert_eq!(kinds_to(&sent, W), [T::NoJob]);
}

#[test]
fn same_unique_coalesces_and_every_submission_gets_every_packet() {
    let mut h = Harness::new();
    h.connect(1);
    h.connect(2);
    h.connect(3);
    h.send(W, T::CanDo, &[b"f"]);
    let first = h.submit(C, T::SubmitJob, "f", "same", "one");
    let second = h.submit(ConnId(3), T::SubmitJobHigh, "f", "same", "two");
    let again = h.submit(C, T::SubmitJob, "f", "same", "three");
    assert_eq!(first, second);
    assert_eq!(first, again);
    assert_eq!(h.engine.jobs_in_memory(), 1);
    let (handle, _, _, data) = h.grab(W).unwrap();
    assert_eq!(data, "one");
    assert!(h.grab(W).is_none());
    let sent = h.send(W, T::WorkComplete, &[handle.as_bytes(), b"r"]);
    // gearmand sends one packet per attached submission: C submitted twice.
    assert_eq!(kinds_to(&sent, C), [T::WorkComplete, T::WorkComplete]);
    assert_eq!(kinds_to(&sent, ConnId(3)), [T::WorkComplete]);
    // The unique is free again once the job finished.
    let next = h.submit(C, T::SubmitJobBg, "f", "same", "four");
    assert_ne!(next, first);
}

#[test]
fn coalescing_is_per_function_and_empty_unique_never_coalesces() {
    let mut h = Harness::new();
    h.connect(2);
    let a = h.submit(C, T::SubmitJobBg, "f", "u", "x");
    let b = h.submit(C, T::SubmitJobBg, "g", "u", "x");
    let c = h.submit(C, T::SubmitJobBg, "f", "", "x");
    let d = h.submit(C, T::SubmitJobBg, "f", "", "x");
    assert_eq!(h.engine.jobs_in_memory(), 4);
    assert!(a != b && c != d);
}

#[test]
fn dash_unique_coalesces_on_identical_payload() {
    let mut h = Harness::new();
    h.connect(2);
    let a = h.submit(C, T::SubmitJobBg, "f", "-", "payload");
    let b = h.submit(C, T::SubmitJobBg, "f", "-", "payload");
    let c = h.submit(C, T::SubmitJobBg, "f", "-", "other");
    let d = h.submit(C, T::SubmitJobBg, "f", "-", "");
    let e = h.submit(C, T::SubmitJobBg, "f", "-", "");
    assert_eq!(a, b);
    assert_ne!(a, c);
    assert_ne!(d, e, "an empty payload is never coalesced");
}

#[test]
fn unique_longer_than_64_bytes_is_refused_and_64_is_kept_whole() {
    let mut h = Harness::new();
    h.connect(2);
    let long = "u".repeat(65);
    let sent = h.send(C, T::SubmitJobBg, &[b"f", long.as_bytes(), b"x"]);
    assert_eq!(error_code(&sent, C), "ARGUMENT_TOO_LARGE");
    let exact = "v".repeat(64);
    h.submit(C, T::SubmitJobBg, "f", &exact, "x");
    assert_eq!(h.admin(C, "show unique jobs"), format!("{exact}\n.\n"));
}

#[test]
fn worker_disconnect_puts_job_back_at_the_head_of_its_queue() {
    let mut h = Harness::new();
    h.connect(1);
    h.connect(2);
    h.connect(3);
    h.send(W, T::CanDo, &[b"resize"]);
    h.submit(C, T::SubmitJob, "resize", "u-1", "img1");
    h.submit(C, T::SubmitJob, "resize", "u-2", "img2");
    let (handle, ..) = h.grab(W).unwrap();
    h.send(W, T::WorkStatus, &[handle.as_bytes(), b"5", b"10"]);
    h.close(W);
    assert_eq!(h.engine.queued("resize"), 2);
    let other = ConnId(3);
    h.send(other, T::CanDo, &[b"resize"]);
    let (again, _, _, data) = h.grab(other).unwrap();
    assert_eq!((again.as_str(), data.as_str()), (handle.as_str(), "img1"));
    // Progress was reset by the requeue, and the retry is counted.
    let sent = h.send(C, T::GetStatus, &[handle.as_bytes()]);
    assert_eq!(
        packets_to(&sent, C)[0].1[3..],
        [b"0".to_vec(), b"0".to_vec()]
    );
    assert!(h
        .admin(C, "show jobs")
        .contains(&format!("{handle}\t1\t0\t0\n")));
    let sent = h.send(other, T::WorkComplete, &[handle.as_bytes(), b"done"]);
    assert_eq!(kinds_to(&sent, C), [T::WorkComplete]);
}

#[test]
fn a_job_lost_again_goes_to_the_tail_so_a_poison_job_cannot_starve_the_queue() {
    let mut h = Harness::new();
    h.connect(2);
    h.submit(C, T::SubmitJobBg, "f", "", "poison");
    for i in 0..3 {
        h.submit(C, T::SubmitJobBg, "f", "", &format!("ok{i}"));
    }
    let mut ran = Vec::new();
    // Every worker that takes the poison job dies; the others finish their job.
    for w in 10..20 {
        let worker = h.connect(w);
        h.send(worker, T::CanDo, &[b"f"]);
        let Some((handle, _, _, data)) = h.grab(worker) else {
            break;
        };
        ran.push(data.clone());
        if data == "poison" {
            h.close(worker);
        } else {
            h.send(worker, T::WorkComplete, &[handle.as_bytes(), b""]);
        }
        if ran.len() == 6 {
            break;
        }
    }
    assert_eq!(
        ran,
        ["poison", "poison", "ok0", "ok1", "ok2", "poison"],
        "head after the first loss, tail after the second"
    );
}

#[test]
fn job_retries_limit_fails_the_job_for_its_clients() {
    let mut h = Harness::with(EngineConfig {
        job_retries: 1,
        ..EngineConfig::default()
    });
    h.connect(2);
    let handle = h.submit(C, T::SubmitJob, "f", "", "x");
    for worker in [10, 11] {
        let w = h.connect(worker);
        h.send(w, T::CanDo, &[b"f"]);
        h.grab(w).unwrap();
        let sent = h.close(w);
        if worker == 10 {
            assert!(sent.is_empty(), "first loss is retried");
        } else {
            assert_eq!(
                packets_to(&sent, C),
                vec![(T::WorkFail, vec![handle.clone().into_bytes()])]
            );
        }
    }
    assert_eq!(h.engine.jobs_in_memory(), 0);
    assert_eq!(h.admin(C, "status"), "f\t0\t0\t0\n.\n");
}

#[test]
fn job_retries_zero_means_no_retry() {
    let mut h = Harness::with(EngineConfig {
        job_retries: 0,
        ..EngineConfig::default()
    });
    h.connect(1);
    h.connect(2);
    h.send(W, T::CanDo, &[b"f"]);
    h.submit(C, T::SubmitJob, "f", "", "x");
    h.grab(W).unwrap();
    let sent = h.close(W);
    assert_eq!(kinds_to(&sent, C), [T::WorkFail]);
}

#[test]
fn cant_do_requeues_the_jobs_of_that_function() {
    let mut h = Harness::new();
    h.connect(1);
    h.connect(2);
    h.send(W, T::CanDo, &[b"f"]);
    let handle = h.submit(C, T::SubmitJob, "f", "", "x");
    h.grab(W).unwrap();
    h.send(W, T::CantDo, &[b"f"]);
    assert_eq!(h.engine.queued("f"), 1);
    let sent = h.send(W, T::WorkComplete, &[handle.as_bytes(), b"late"]);
    assert_eq!(error_code(&sent, W), "JOB_NOT_FOUND");
    assert!(h.grab(W).is_none(), "no longer registered");
}

#[test]
fn reset_abilities_requeues_every_held_job() {
    let mut h = Harness::new();
    h.connect(1);
    h.connect(2);
    h.send(W, T::CanDo, &[b"f"]);
    h.send(W, T::CanDo, &[b"g"]);
    h.submit(C, T::SubmitJobBg, "f", "", "x");
    h.submit(C, T::SubmitJobBg, "g", "", "y");
    h.grab(W).unwrap();
    h.grab(W).unwrap();
    h.send(W, T::ResetAbilities, &[]);
    assert_eq!(h.engine.queued("f") + h.engine.queued("g"), 2);
    assert_eq!(
        h.admin(C, "workers"),
        "101 127.0.0.1 - :\n102 127.0.0.1 - :\n.\n"
    );
}

#[test]
fn run_timeout_requeues_and_the_late_result_is_refused() {
    let mut h = Harness::new();
    h.connect(1);
    h.connect(2);
    h.send(W, T::CanDoTimeout, &[b"slow", b"1500"]);
    let handle = h.submit(C, T::SubmitJob, "slow", "", "x");
    h.grab(W).unwrap();
    assert!(h.advance(1499).is_empty());
    assert_eq!(h.engine.queued("slow"), 0);
    h.advance(1);
    assert_eq!(h.engine.queued("slow"), 1);
    assert_eq!(h.engine.counters().timed_out, 1);
    let sent = h.send(W, T::WorkComplete, &[handle.as_bytes(), b"late"]);
    assert_eq!(error_code(&sent, W), "JOB_NOT_FOUND");
    // The next run gets a fresh timer; finishing in time leaves nothing to fire.
    h.grab(W).unwrap();
    let sent = h.send(W, T::WorkComplete, &[handle.as_bytes(), b"ok"]);
    assert_eq!(kinds_to(&sent, C), [T::WorkComplete]);
    assert!(h.advance(5000).is_empty());
    assert_eq!(h.engine.counters().timed_out, 1);
}

#[test]
fn run_timeout_below_one_second_is_raised_to_one_second() {
    let mut h = Harness::new();
    h.connect(1);
    h.connect(2);
    h.send(W, T::CanDoTimeout, &[b"f", b"10"]);
    h.submit(C, T::SubmitJobBg, "f", "", "x");
    h.grab(W).unwrap();
    h.advance(999);
    assert_eq!(h.engine.queued("f"), 0);
    h.advance(1);
    assert_eq!(h.engine.queued("f"), 1);
}

#[test]
fn epoch_job_waits_for_its_time_then_wakes_sleeping_workers() {
    let mut h = Harness::new();
    h.connect(1);
    h.connect(2);
    h.send(W, T::CanDo, &[b"later"]);
    let when = (T0 / 1000 + 10).to_string();
    let sent = h.send(
        C,
        T::SubmitJobEpoch,
        &[b"later", b"e1", when.as_bytes(), b"data"],
    );
    created(&sent, C);
    assert!(h.grab(W).is_none());
    assert!(h.send(W, T::PreSleep, &[]).is_empty());
    // Counted in status while pending, but not queued.
    assert_eq!(h.admin(C, "status"), "later\t1\t0\t1\n.\n");
    assert!(h.advance(9_999).is_empty());
    let sent = h.advance(1);
    assert_eq!(
        kinds_to(&sent, W),
        [T::Noop],
        "no other submission is needed"
    );
    assert_eq!(h.grab(W).unwrap().3, "data");
}

#[test]
fn pending_epoch_job_does_not_block_other_jobs() {
    let mut h = Harness::new();
    h.connect(1);
    h.connect(2);
    h.send(W, T::CanDo, &[b"f"]);
    let when = (T0 / 1000 + 3600).to_string();
    h.send(
        C,
        T::SubmitJobEpoch,
        &[b"f", b"", when.as_bytes(), b"future"],
    );
    h.submit(C, T::SubmitJobLowBg, "f", "", "now");
    assert_eq!(h.grab(W).unwrap().3, "now");
}

#[test]
fn epoch_in_the_past_or_not_numeric_runs_now() {
    let mut h = Harness::new();
    h.connect(1);
    h.connect(2);
    h.send(W, T::CanDo, &[b"f"]);
    h.send(C, T::SubmitJobEpoch, &[b"f", b"", b"12", b"past"]);
    h.send(C, T::SubmitJobEpoch, &[b"f", b"", b"soon", b"text"]);
    assert_eq!(h.grab(W).unwrap().3, "past");
    assert_eq!(h.grab(W).unwrap().3, "text");
}

#[test]
fn pre_sleep_with_work_waiting_gets_an_immediate_noop() {
    let mut h = Harness::new();
    h.connect(1);
    h.connect(2);
    h.send(W, T::CanDo, &[b"f"]);
    h.submit(C, T::SubmitJobBg, "f", "", "x");
    let sent = h.send(W, T::PreSleep, &[]);
    assert_eq!(kinds_to(&sent, W), [T::Noop]);
}

#[test]
fn sleeping_worker_gets_one_noop_per_sleep() {
    let mut h = Harness::new();
    h.connect(1);
    h.connect(2);
    h.send(W, T::CanDo, &[b"f"]);
    h.send(W, T::PreSleep, &[]);
    let sent = h.send(C, T::SubmitJobBg, &[b"f", b"", b"1"]);
    assert_eq!(kinds_to(&sent, W), [T::Noop]);
    let sent = h.send(C, T::SubmitJobBg, &[b"f", b"", b"2"]);
    assert!(kinds_to(&sent, W).is_empty(), "already woken");
    h.grab(W).unwrap();
    h.send(W, T::PreSleep, &[]);
    // Work is waiting: the new sleep is answered at once.
    assert!(h.out.sent.is_empty());
}

#[test]
fn workers_that_did_not_pre_sleep_get_no_noop() {
    let mut h = Harness::new();
    h.connect(1);
    h.connect(2);
    h.send(W, T::CanDo, &[b"f"]);
    let sent = h.send(C, T::SubmitJobBg, &[b"f", b"", b"1"]);
    assert!(kinds_to(&sent, W).is_empty());
}

#[test]
fn worker_wakeup_limits_noops_per_job_and_rotates() {
    let mut h = Harness::with(EngineConfig {
        worker_wakeup: 1,
        ..EngineConfig::default()
    });
    h.connect(2);
    let workers: Vec<ConnId> = (10..13).map(|i| h.connect(i)).collect();
    for &w in &workers {
        h.send(w, T::CanDo, &[b"f"]);
        h.send(w, T::PreSleep, &[]);
    }
    let mut woken = Vec::new();
    for i in 0..3 {
        let sent = h.send(C, T::SubmitJobBg, &[b"f", b"", i.to_string().as_bytes()]);
        let noops: Vec<ConnId> = workers
            .iter()
            .copied()
            .filter(|&w| kinds_to(&sent, w) == [T::Noop])
            .collect();
        assert_eq!(noops.len(), 1, "one sleeper per job");
        woken.push(noops[0]);
    }
    assert_eq!(woken, workers, "longest asleep first, each once");
}

#[test]
fn worker_wakeup_zero_wakes_every_sleeper() {
    let mut h = Harness::with(EngineConfig {
        worker_wakeup: 0,
        ..EngineConfig::default()
    });
    h.connect(2);
    let workers: Vec<ConnId> = (10..14).map(|i| h.connect(i)).collect();
    for &w in &workers {
        h.send(w, T::CanDo, &[b"f"]);
        h.send(w, T::PreSleep, &[]);
    }
    let sent = h.send(C, T::SubmitJobBg, &[b"f", b"", b"x"]);
    for &w in &workers {
        assert_eq!(kinds_to(&sent, w), [T::Noop]);
    }
}

#[test]
fn woken_worker_that_leaves_without_grabbing_passes_the_wakeup_on() {
    let mut h = Harness::with(EngineConfig {
        worker_wakeup: 1,
        ..EngineConfig::default()
    });
    h.connect(2);
    let a = h.connect(10);
    let b = h.connect(11);
    for w in [a, b] {
        h.send(w, T::CanDo, &[b"f"]);
        h.send(w, T::PreSleep, &[]);
    }
    let sent = h.send(C, T::SubmitJobBg, &[b"f", b"", b"x"]);
    assert_eq!(kinds_to(&sent, a), [T::Noop]);
    let sent = h.close(a);
    assert_eq!(kinds_to(&sent, b), [T::Noop]);
}

#[test]
fn woken_worker_that_does_not_grab_in_time_passes_the_wakeup_on() {
    let mut h = Harness::with(EngineConfig {
        worker_wakeup: 1,
        wakeup_timeout_ms: 500,
        ..EngineConfig::default()
    });
    h.connect(2);
    let (a, b, c) = (h.connect(10), h.connect(11), h.connect(12));
    for w in [a, b, c] {
        h.send(w, T::CanDo, &[b"f"]);
        h.send(w, T::PreSleep, &[]);
    }
    let sent = h.send(C, T::SubmitJobBg, &[b"f", b"", b"x"]);
    assert_eq!(kinds_to(&sent, a), [T::Noop]);
    assert!(h.advance(499).is_empty(), "a gets its time");
    let sent = h.advance(1);
    assert_eq!(kinds_to(&sent, b), [T::Noop], "a is stuck: b is woken");
    assert!(kinds_to(&sent, c).is_empty());
    assert!(h.grab(b).is_some());
    assert!(
        h.advance(1000).is_empty(),
        "the job is taken: nobody else is woken"
    );
    // A worker that answers in time passes nothing on.
    h.send(b, T::PreSleep, &[]);
    let sent = h.send(C, T::SubmitJobBg, &[b"f", b"", b"y"]);
    let woken: Vec<ConnId> = [b, c]
        .into_iter()
        .filter(|w| !kinds_to(&sent, *w).is_empty())
        .collect();
    assert_eq!(woken.len(), 1);
    assert!(h.grab(woken[0]).is_some());
    assert!(h.advance(1000).is_empty());
}

#[test]
fn foreground_job_whose_clients_all_left_is_dropped_before_it_runs() {
    let mut h = Harness::new();
    h.connect(1);
    h.connect(2);
    h.submit(C, T::SubmitJob, "f", "trap", "x");
    h.close(C);
    assert_eq!(h.engine.jobs_in_memory(), 0);
    // A later submitter with the same unique gets a fresh job, not the abandoned one.
    let c2 = h.connect(3);
    h.send(W, T::CanDo, &[b"f"]);
    let handle = h.submit(c2, T::SubmitJob, "f", "trap", "y");
    let (assigned, _, _, data) = h.grab(W).unwrap();
    assert_eq!((assigned, data.as_str()), (handle, "y"));
}

#[test]
fn running_job_keeps_running_when_its_client_leaves() {
    let mut h = Harness::new();
    h.connect(1);
    h.connect(2);
    h.send(W, T::CanDo, &[b"f"]);
    let handle = h.submit(C, T::SubmitJob, "f", "", "x");
    h.grab(W).unwrap();
    h.close(C);
    assert_eq!(h.engine.jobs_in_memory(), 1);
    let sent = h.send(W, T::WorkComplete, &[handle.as_bytes(), b"r"]);
    assert!(sent.is_empty());
    assert_eq!(h.engine.jobs_in_memory(), 0);
}

#[test]
fn foreground_client_leaving_a_coalesced_background_job_keeps_it() {
    let mut h = Harness::new();
    h.connect(2);
    let fg = h.connect(3);
    h.submit(C, T::SubmitJobBg, "f", "u", "x");
    h.submit(fg, T::SubmitJob, "f", "u", "x");
    h.close(fg);
    assert_eq!(h.engine.jobs_in_memory(), 1);
}

#[test]
fn exception_reaches_only_clients_that_asked_for_exceptions() {
    let mut h = Harness::new();
    h.connect(1);
    h.connect(2);
    let plain = h.connect(3);
    h.send(W, T::CanDo, &[b"f"]);
    let sent = h.send(C, T::OptionReq, &[b"exceptions"]);
    assert_eq!(
        packets_to(&sent, C),
        vec![(T::OptionRes, vec![b"exceptions".to_vec()])]
    );
    let handle = h.submit(C, T::SubmitJob, "f", "u", "x");
    h.submit(plain, T::SubmitJob, "f", "u", "x");
    h.grab(W).unwrap();
    let sent = h.send(W, T::WorkException, &[handle.as_bytes(), b"boom"]);
    assert_eq!(
        packets_to(&sent, C),
        vec![(
            T::WorkException,
            vec![handle.clone().into_bytes(), b"boom".to_vec()]
        )]
    );
    assert_eq!(
        packets_to(&sent, plain),
        vec![(T::WorkFail, vec![handle.clone().into_bytes()])]
    );
    // A WORK_FAIL right after the exception (Perl-server convention) is dropped silently...
    assert!(h.send(W, T::WorkFail, &[handle.as_bytes()]).is_empty());
    // ...but not a second time.
    let sent = h.send(W, T::WorkFail, &[handle.as_bytes()]);
    assert_eq!(error_code(&sent, W), "JOB_NOT_FOUND");
}

#[test]
fn exceptions_option_is_case_insensitive_and_echoed_as_sent() {
    let mut h = Harness::new();
    h.connect(2);
    let sent = h.send(C, T::OptionReq, &[b"EXCEPTIONS"]);
    assert_eq!(
        packets_to(&sent, C),
        vec![(T::OptionRes, vec![b"EXCEPTIONS".to_vec()])]
    );
    let sent = h.send(C, T::OptionReq, &[b"frobnicate"]);
    assert_eq!(error_code(&sent, C), "UNKNOWN_OPTION");
}

#[test]
fn work_results_from_a_connection_not_holding_the_job_are_refused() {
    let mut h = Harness::new();
    h.connect(1);
    h.connect(2);
    let other = h.connect(3);
    h.send(W, T::CanDo, &[b"f"]);
    let handle = h.submit(C, T::SubmitJob, "f", "", "x");
    // Queued, not running: nobody holds it yet.
    let sent = h.send(W, T::WorkData, &[handle.as_bytes(), b"d"]);
    assert_eq!(error_code(&sent, W), "JOB_NOT_FOUND");
    h.grab(W).unwrap();
    for kind in [
        T::WorkData,
        T::WorkWarning,
        T::WorkComplete,
        T::WorkException,
    ] {
        let sent = h.send(other, kind, &[handle.as_bytes(), b"d"]);
        assert_eq!(error_code(&sent, other), "JOB_NOT_FOUND", "{kind:?}");
    }
    let sent = h.send(other, T::WorkStatus, &[handle.as_bytes(), b"1", b"2"]);
    assert_eq!(error_code(&sent, other), "JOB_NOT_FOUND");
    let sent = h.send(other, T::WorkFail, &[handle.as_bytes()]);
    assert_eq!(error_code(&sent, other), "JOB_NOT_FOUND");
    let sent = h.send(other, T::WorkFail, &[b"H:test:nonsense"]);
    assert_eq!(error_code(&sent, other), "JOB_NOT_FOUND");
}

#[test]
fn work_fail_with_a_trailing_nul_on_the_handle_is_understood() {
    let mut h = Harness::new();
    h.connect(1);
    h.connect(2);
    h.send(W, T::CanDo, &[b"f"]);
    let handle = h.submit(C, T::SubmitJob, "f", "", "x");
    h.grab(W).unwrap();
    let with_nul = format!("{handle}\0");
    let sent = h.send(W, T::WorkFail, &[with_nul.as_bytes()]);
    assert_eq!(
        packets_to(&sent, C),
        vec![(T::WorkFail, vec![handle.into_bytes()])]
    );
}

#[test]
fn can_do_with_a_trailing_nul_registers_the_plain_name() {
    let mut h = Harness::new();
    h.connect(1);
    h.connect(2);
    h.send(W, T::CanDo, &[b"f\0"]);
    h.submit(C, T::SubmitJobBg, "f", "", "x");
    assert!(h.grab(W).is_some());
    assert_eq!(h.admin(C, "status"), "f\t1\t1\t1\n.\n");
}

#[test]
fn status_unique_reports_waiting_clients() {
    let mut h = Harness::new();
    h.connect(2);
    let other = h.connect(3);
    h.submit(C, T::SubmitJob, "f", "u1", "x");
    h.submit(other, T::SubmitJob, "f", "u1", "x");
    let sent = h.send(C, T::GetStatusUnique, &[b"u1"]);
    assert_eq!(
        packets_to(&sent, C)[0],
        (
            T::StatusResUnique,
            vec![
                b"u1".to_vec(),
                b"1".to_vec(),
                b"0".to_vec(),
                b"0".to_vec(),
                b"0".to_vec(),
                b"2".to_vec()
            ]
        )
    );
    let sent = h.send(C, T::GetStatusUnique, &[b"nope"]);
    assert_eq!(
        packets_to(&sent, C)[0].1,
        vec![
            b"nope".to_vec(),
            b"0".to_vec(),
            b"0".to_vec(),
            b"0".to_vec(),
            b"0".to_vec(),
            b"0".to_vec()
        ]
    );
}

#[test]
fn queue_limit_refuses_new_jobs_but_not_coalesced_ones() {
    let mut h = Harness::new();
    h.connect(2);
    assert_eq!(h.admin(C, "maxqueue f 2"), "OK\r\n");
    h.submit(C, T::SubmitJobBg, "f", "a", "x");
    h.submit(C, T::SubmitJobBg, "f", "b", "x");
    let sent = h.send(C, T::SubmitJobBg, &[b"f", b"c", b"x"]);
    assert_eq!(error_code(&sent, C), "QUEUE_ERROR");
    h.submit(C, T::SubmitJobBg, "f", "a", "x");
    assert_eq!(h.admin(C, "maxqueue f"), "OK\r\n");
    h.submit(C, T::SubmitJobBg, "f", "c", "x");
}

#[test]
fn queue_limit_is_per_priority() {
    let mut h = Harness::new();
    h.connect(2);
    h.admin(C, "maxqueue f 5 1 0");
    h.submit(C, T::SubmitJobBg, "f", "", "x");
    let sent = h.send(C, T::SubmitJobBg, &[b"f", b"", b"x"]);
    assert_eq!(error_code(&sent, C), "QUEUE_ERROR");
    h.submit(C, T::SubmitJobHighBg, "f", "", "x");
    h.submit(C, T::SubmitJobLowBg, "f", "", "x");
}

#[test]
fn response_magic_and_reply_only_types_get_errors_and_the_connection_stays() {
    let mut h = Harness::new();
    h.connect(2);
    let packet = Packet::res(T::EchoReq, &[b"hi"]);
    h.engine.packet(C, &packet, h.now, &mut h.out);
    let sent = std::mem::take(&mut h.out.sent);
    assert_eq!(
        packets_to(&sent, C),
        vec![(
            T::Error,
            vec![
                b"INVALID_MAGIC".to_vec(),
                b"Request magic expected".to_vec()
            ]
        )]
    );
    for kind in [
        T::NoJob,
        T::Noop,
        T::JobCreated,
        T::AllYours,
        T::Unused,
        T::EchoRes,
        T::StatusRes,
    ] {
        let sent = h.send(C, kind, &[]);
        assert_eq!(error_code(&sent, C), "INVALID_COMMAND", "{kind:?}");
    }
    let sent = h.send(C, T::EchoReq, &[b"still here"]);
    assert_eq!(
        packets_to(&sent, C),
        vec![(T::EchoRes, vec![b"still here".to_vec()])]
    );
}

#[test]
fn packet_with_too_few_fields_gets_an_error_and_nothing_changes() {
    let mut h = Harness::new();
    h.connect(2);
    let packet = Packet {
        magic: gearbox_proto::Magic::Req,
        kind: T::SubmitJob,
        body: Bytes::from_static(b"no-nuls"),
    };
    h.engine.packet(C, &packet, h.now, &mut h.out);
    let sent = std::mem::take(&mut h.out.sent);
    assert_eq!(error_code(&sent, C), "INVALID_PACKET");
    assert_eq!(h.engine.jobs_in_memory(), 0);
}

#[test]
fn admin_status_workers_and_priority_status() {
    let mut h = Harness::new();
    h.connect(1);
    h.connect(2);
    h.send(W, T::SetClientId, &[b"worker 1"]);
    h.send(W, T::CanDo, &[b"rev"]);
    h.send(W, T::CanDo, &[b"other"]);
    h.submit(C, T::SubmitJobHighBg, "rev", "", "x");
    h.submit(C, T::SubmitJobLowBg, "rev", "", "y");
    h.grab(W).unwrap();
    assert_eq!(h.admin(C, "status"), "rev\t2\t1\t1\nother\t0\t0\t1\n.\n");
    assert_eq!(
        h.admin(C, "prioritystatus"),
        "rev\t0\t0\t1\t1\nother\t0\t0\t0\t1\n.\n"
    );
    assert_eq!(
        h.admin(C, "workers"),
        "101 127.0.0.1 worker_1 : other rev\n102 127.0.0.1 - :\n.\n"
    );
}

#[test]
fn admin_version_getpid_verbose() {
    let mut h = Harness::with(EngineConfig {
        pid: 4242,
        ..EngineConfig::default()
    });
    h.connect(2);
    assert_eq!(h.admin(C, "version"), "OK 1.1.20\n");
    assert_eq!(h.admin(C, "getpid"), "OK 4242\n");
    assert_eq!(h.admin(C, "verbose"), "OK ERROR\n");
    assert_eq!(
        h.admin(C, "bogus"),
        "ERR UNKNOWN_COMMAND Unknown+server+commandbogus\r\n"
    );
}

#[test]
fn admin_cancel_fails_clients_once_and_forgets_the_job() {
    let mut h = Harness::new();
    h.connect(1);
    h.connect(2);
    h.send(W, T::CanDo, &[b"f"]);
    let handle = h.submit(C, T::SubmitJob, "f", "u", "x");
    h.grab(W).unwrap();
    h.engine.admin(
        ConnId(2),
        &Bytes::from(format!("cancel job {handle}")),
        &mut h.out,
    );
    let sent = std::mem::take(&mut h.out.sent);
    assert_eq!(kinds_to(&sent, C), [T::WorkFail]);
    assert!(sent.contains(&Sent::Text(C, "OK\r\n".into())));
    assert_eq!(
        h.admin(C, &format!("cancel job {handle}")),
        "ERR UNKNOWN_JOB\r\n"
    );
    // The worker's late result reaches nobody.
    let sent = h.send(W, T::WorkComplete, &[handle.as_bytes(), b"r"]);
    assert_eq!(error_code(&sent, W), "JOB_NOT_FOUND");
    assert_eq!(h.admin(C, "status"), "f\t0\t0\t1\n.\n");
}

#[test]
fn admin_drop_function_refuses_while_jobs_are_queued() {
    let mut h = Harness::new();
    h.connect(2);
    h.submit(C, T::SubmitJobBg, "f", "", "x");
    assert_eq!(
        h.admin(C, "drop function f"),
        "ERR there are still connected workers or executing clients\r\n"
    );
    assert_eq!(h.admin(C, "create function g"), "OK\r\n");
    assert_eq!(h.admin(C, "drop function G"), "OK\r\n");
    assert_eq!(h.admin(C, "drop function g"), "ERR function not found\r\n");
    assert_eq!(h.admin(C, "status"), "f\t1\t0\t0\n.\n");
}

#[test]
fn admin_shutdown_only_from_loopback() {
    let mut h = Harness::new();
    let remote = h.connect_from(5, IpAddr::V4(Ipv4Addr::new(192, 0, 2, 7)));
    assert!(h
        .admin(remote, "shutdown")
        .starts_with("ERR PERMISSION_DENIED"));
    h.connect(2);
    h.engine
        .admin(C, &Bytes::from_static(b"shutdown graceful"), &mut h.out);
    let sent = std::mem::take(&mut h.out.sent);
    assert_eq!(
        sent,
        vec![Sent::Shutdown(true), Sent::Text(C, "OK\r\n".into())]
    );
}

#[test]
fn client_id_is_cut_to_127_bytes() {
    let mut h = Harness::new();
    h.connect(2);
    let long = "x".repeat(200);
    h.send(C, T::SetClientId, &[long.as_bytes()]);
    let listing = h.admin(C, "workers");
    assert!(listing.contains(&format!(" {} :", "x".repeat(127))));
    assert!(!listing.contains(&"x".repeat(128)));
}

#[test]
fn one_connection_registers_at_most_max_worker_functions() {
    let mut h = Harness::with(EngineConfig {
        max_worker_functions: 3,
        ..EngineConfig::default()
    });
    h.connect(1);
    for name in ["a", "b", "c", "a"] {
        assert!(h.send(W, T::CanDo, &[name.as_bytes()]).is_empty());
    }
    let sent = h.send(W, T::CanDo, &[b"d"]);
    assert_eq!(error_code(&sent, W), "TOO_MANY_FUNCTIONS");
    let status = h.admin(W, "status");
    assert!(status.contains("a\t0\t0\t1\n") && status.contains("c\t0\t0\t1\n"));
    assert!(!status.contains("d\t"), "{status}");
}

#[test]
fn the_server_keeps_at_most_max_functions_and_reuses_idle_ones() {
    let mut h = Harness::with(EngineConfig {
        max_functions: 3,
        ..EngineConfig::default()
    });
    h.connect(1);
    h.connect(2);
    h.send(W, T::CanDo, &[b"busy"]);
    h.submit(C, T::SubmitJobBg, "queued", "", "x");
    h.admin(C, "create function idle");
    // Full, and nothing is idle but `idle`: it is forgotten to make room.
    let handle = h.submit(C, T::SubmitJobBg, "new", "", "x");
    let status = h.admin(C, "status");
    assert!(!status.contains("idle\t"), "{status}");
    // Full with nothing idle: refused, for submissions, registrations and admin alike.
    let sent = h.send(C, T::SubmitJob, &[b"fourth", b"", b"x"]);
    assert_eq!(error_code(&sent, C), "TOO_MANY_FUNCTIONS");
    let sent = h.send(W, T::CanDo, &[b"fourth"]);
    assert_eq!(error_code(&sent, W), "TOO_MANY_FUNCTIONS");
    assert!(h
        .admin(C, "create function fourth")
        .starts_with("ERR TOO_MANY_FUNCTIONS"));
    // Once `new` has no job left, it makes room.
    h.send(W, T::CanDo, &[b"new"]);
    let (assigned, ..) = h.grab(W).unwrap();
    assert_eq!(assigned, handle);
    h.send(W, T::WorkComplete, &[handle.as_bytes(), b""]);
    h.send(W, T::CantDo, &[b"new"]);
    h.submit(C, T::SubmitJobBg, "fourth", "", "x");
}

#[test]
fn idle_functions_of_a_departed_flood_are_forgotten() {
    let mut h = Harness::new();
    h.connect(1);
    h.connect(2);
    h.send(W, T::CanDo, &[b"kept"]);
    let flood = h.connect(3);
    for i in 0..3000 {
        h.send(flood, T::CanDo, &[format!("flood-{i}").as_bytes()]);
    }
    let listed = |h: &mut Harness| h.admin(C, "status").lines().count() - 1;
    assert_eq!(listed(&mut h), 3001);
    h.close(flood);
    // The function still in use and the first idle ones stay visible, as in gearmand; the
    // rest is given back.
    assert_eq!(listed(&mut h), 1 + function::IDLE_FUNCTIONS_KEPT);
    assert!(h.admin(C, "status").contains("kept\t0\t0\t1\n"));
    assert!(h.engine.functions.capacity() < 3000);
}

#[test]
fn a_huge_client_id_does_not_keep_its_packet_alive() {
    let mut h = Harness::new();
    h.connect(2);
    let packet = Packet::req(T::SetClientId, &["y".repeat(1 << 20).as_bytes()]);
    h.engine.packet(C, &packet, h.now, &mut h.out);
    let kept = &h.engine.conns.get(C).unwrap().client_id;
    assert_eq!(kept.len(), 127);
    assert!(
        kept.is_unique(),
        "the label is a copy of its own, not a slice of the 1 MiB packet"
    );
}

#[test]
fn submissions_are_refused_once_a_graceful_stop_begins() {
    let mut h = Harness::new();
    h.connect(1);
    h.connect(2);
    h.send(W, T::CanDo, &[b"f"]);
    let handle = h.submit(C, T::SubmitJob, "f", "", "before");
    h.engine.begin_drain();
    for kind in [
        T::SubmitJob,
        T::SubmitJobBg,
        T::SubmitJobHigh,
        T::SubmitJobEpoch,
    ] {
        let args: &[&[u8]] = if kind == T::SubmitJobEpoch {
            &[b"f", b"", b"0", b"x"]
        } else {
            &[b"f", b"", b"x"]
        };
        let sent = h.send(C, kind, args);
        assert_eq!(error_code(&sent, C), "SHUTTING_DOWN", "{kind:?}");
    }
    // Work already accepted goes on.
    let (assigned, ..) = h.grab(W).unwrap();
    assert_eq!(assigned, handle);
    let sent = h.send(W, T::WorkComplete, &[handle.as_bytes(), b"r"]);
    assert_eq!(kinds_to(&sent, C), [T::WorkComplete]);
}

#[test]
fn handles_carry_the_prefix_and_a_rising_number() {
    let mut h = Harness::with(EngineConfig {
        handle_prefix: "H:box".into(),
        first_handle: 7,
        ..EngineConfig::default()
    });
    h.connect(2);
    assert_eq!(h.submit(C, T::SubmitJobBg, "f", "", "a"), "H:box:7");
    assert_eq!(h.submit(C, T::SubmitJobBg, "f", "", "b"), "H:box:8");
}

#[test]
fn long_lived_client_does_not_accumulate_finished_jobs() {
    let mut h = Harness::new();
    h.connect(1);
    h.connect(2);
    h.send(W, T::CanDo, &[b"f"]);
    for i in 0..1000 {
        let handle = h.submit(C, T::SubmitJob, "f", "", &i.to_string());
        h.grab(W).unwrap();
        h.send(W, T::WorkComplete, &[handle.as_bytes(), b""]);
    }
    let conn = h.engine.conn(C).unwrap();
    assert!(
        conn.waiting.len() < 100,
        "{} entries kept",
        conn.waiting.len()
    );
}

#[test]
fn sleepers_list_stays_bounded_when_work_never_comes() {
    let mut h = Harness::new();
    h.connect(1);
    h.send(W, T::CanDo, &[b"quiet"]);
    for _ in 0..1000 {
        h.send(W, T::PreSleep, &[]);
        h.send(W, T::GrabJob, &[]);
    }
    let f = h.engine.function_ids[&Bytes::from_static(b"quiet")];
    assert!(h.engine.functions[f].sleepers.len() <= 32);
}

mod access;
mod cluster;
mod cluster_props;
mod durable;
mod ordering;
mod outcomes;
mod retry;
mod schedule;
mod spill;

#[test]
fn prioritystatus_counts_epoch_jobs_not_yet_due_as_waiting() {
    let mut h = Harness::new();
    h.connect(2);
    let when = (T0 / 1000 + 3600).to_string();
    h.send(
        C,
        T::SubmitJobEpoch,
        &[b"f", b"", when.as_bytes(), b"later"],
    );
    h.submit(C, T::SubmitJobBg, "f", "", "now");
    assert_eq!(h.admin(C, "prioritystatus"), "f\t0\t2\t0\t0\n.\n");
    assert_eq!(h.engine.queued("f"), 1, "only the due job is in a queue");
    h.advance(3_600_000);
    assert_eq!(h.admin(C, "prioritystatus"), "f\t0\t2\t0\t0\n.\n");
    assert_eq!(h.engine.queued("f"), 2);
}

#[test]
fn work_status_numbers_read_like_c_atoi_into_u32() {
    let mut h = Harness::new();
    h.connect(1);
    h.connect(2);
    h.send(W, T::CanDo, &[b"f"]);
    let handle = h.submit(C, T::SubmitJobBg, "f", "", "x");
    h.grab(W).unwrap();
    h.send(W, T::WorkStatus, &[handle.as_bytes(), b"-5", b"7 of 9"]);
    let sent = h.send(C, T::GetStatus, &[handle.as_bytes()]);
    assert_eq!(
        packets_to(&sent, C)[0].1[3..],
        [b"4294967291".to_vec(), b"7".to_vec()]
    );
}

#[test]
fn default_wakes_one_sleeper_per_runnable_job() {
    let mut h = Harness::new();
    h.connect(2);
    let workers: Vec<ConnId> = (10..14).map(|i| h.connect(i)).collect();
    for &w in &workers {
        h.send(w, T::CanDo, &[b"f"]);
        h.send(w, T::PreSleep, &[]);
    }
    let sent = h.send(C, T::SubmitJobBg, &[b"f", b"", b"x"]);
    let woken: Vec<ConnId> = workers
        .iter()
        .copied()
        .filter(|&w| kinds_to(&sent, w) == [T::Noop])
        .collect();
    assert_eq!(woken, [workers[0]]);
}

#[test]
fn job_tables_give_their_memory_back_once_a_backlog_drains() {
    let mut h = Harness::new();
    h.connect(1);
    h.connect(2);
    for i in 0..5000 {
        h.submit(C, T::SubmitJobBg, "f", &format!("u{i}"), "x");
    }
    assert!(h.engine.jobs.capacity() >= 5000);
    h.send(W, T::CanDo, &[b"f"]);
    while let Some((handle, ..)) = h.grab(W) {
        h.send(W, T::WorkComplete, &[handle.as_bytes(), b""]);
    }
    assert_eq!(h.engine.jobs_in_memory(), 0);
    assert!(
        h.engine.jobs.capacity() < 1024,
        "slab kept {}",
        h.engine.jobs.capacity()
    );
    assert!(
        h.engine.handles.capacity() < 2048,
        "{}",
        h.engine.handles.capacity()
    );
    assert!(
        h.engine.uniques.capacity() < 2048,
        "{}",
        h.engine.uniques.capacity()
    );
}
