//! The engine driven by random sequences of requests from four simulated connections (binary
//! packets built from a small vocabulary so that they meet: a few functions, uniques and job
//! handles seen earlier; admin lines; connects and disconnects), clock ticks and, in durable
//! mode, store commits, failures and read-backs in random order; with and without a retry
//! policy. After every step the engine must be consistent (`Engine::audit`: every job in
//! exactly one place, every count right); nothing may panic; and once every connection has
//! gone and the store has caught up, it must still be consistent with no foreground job left
//! running for a client that is gone.
#![no_main]

use std::collections::{BTreeMap, HashSet, VecDeque};

use bytes::{Bytes, BytesMut};
use gearbox_proto::{
    encode_packet, Codec, Frame, Magic, PacketType as T, DEFAULT_MAX_ADMIN_LINE, DEFAULT_MAX_BODY,
};
use gearbox_server::engine::{
    ConnId, Engine, EngineConfig, Outbox, Peer, RetryOn, RetryPolicies, RetryPolicy, StoreOp,
};
use libfuzzer_sys::fuzz_target;

const CONNS: u32 = 4;
const FUNCTIONS: [&[u8]; 3] = [b"f", b"g", b"h"];
const UNIQUES: [&[u8]; 4] = [b"", b"-", b"u1", b"u2"];
const DATA: [&[u8]; 3] = [b"", b"x", b"yy"];
const REQUESTS: [T; 22] = [
    T::SubmitJob,
    T::SubmitJobBg,
    T::SubmitJobHigh,
    T::SubmitJobHighBg,
    T::SubmitJobLow,
    T::SubmitJobLowBg,
    T::SubmitJobEpoch,
    T::SubmitReduceJob,
    T::GrabJob,
    T::GrabJobUniq,
    T::GrabJobAll,
    T::PreSleep,
    T::CanDo,
    T::CanDoTimeout,
    T::CantDo,
    T::ResetAbilities,
    T::WorkComplete,
    T::WorkFail,
    T::WorkException,
    T::WorkData,
    T::WorkStatus,
    T::GetStatus,
];
const ADMIN: [&str; 9] = [
    "status",
    "workers",
    "show jobs",
    "show unique jobs",
    "prioritystatus",
    "maxqueue f 1",
    "maxqueue f 0",
    "drop function g",
    "create function h",
];

/// The engine's output, kept as far as the fuzzer needs it.
#[derive(Default)]
struct Recorder {
    handles: Vec<Bytes>,
    created: HashSet<Bytes>,
    writes: VecDeque<(u64, StoreOp)>,
    loads: VecDeque<(u64, Vec<u64>)>,
    closed: Vec<ConnId>,
}

impl Outbox for Recorder {
    fn packet(&mut self, conn: ConnId, kind: T, fields: &[&[u8]], last: &[u8]) {
        let _ = conn;
        let handle = match kind {
            T::JobCreated => {
                let handle = Bytes::copy_from_slice(last);
                self.created.insert(handle.clone());
                Some(handle)
            }
            T::JobAssign | T::JobAssignUniq | T::JobAssignAll => {
                fields.first().map(|h| Bytes::copy_from_slice(h))
            }
            _ => None,
        };
        if let Some(handle) = handle {
            if self.handles.len() < 64 {
                self.handles.push(handle);
            } else {
                let i = self.handles.len() % 64;
                self.handles[i] = handle;
            }
        }
    }

    fn text(&mut self, _conn: ConnId, _text: &[u8]) {}

    fn close(&mut self, conn: ConnId) {
        self.closed.push(conn);
    }

    fn shutdown(&mut self, _graceful: bool) {}

    fn persist(&mut self, seq: u64, op: StoreOp) {
        self.writes.push_back((seq, op));
    }

    fn load(&mut self, token: u64, ids: Vec<u64>) {
        self.loads.push_back((token, ids));
    }

    // Never asked for: the fuzzed engine is no cluster node.
    fn find(&mut self, _token: u64, _unique: Bytes) {}

    // Never asked for either.
    fn cancel(&mut self, _token: u64, _id: u64) {}

    fn find_record(&mut self, _token: u64, _id: u64, _kind: u8, _key: Bytes) {}
}

struct Input<'a> {
    data: &'a [u8],
}

impl Input<'_> {
    fn byte(&mut self) -> Option<u8> {
        let (&b, rest) = self.data.split_first()?;
        self.data = rest;
        Some(b)
    }

    fn pick<'v, V>(&mut self, values: &'v [V]) -> Option<&'v V> {
        let b = self.byte()?;
        values.get(usize::from(b) % values.len())
    }
}

struct World {
    engine: Engine,
    out: Recorder,
    connected: [bool; CONNS as usize],
    now: u64,
    durable: bool,
    /// What the fake store holds: store id to workload.
    stored: BTreeMap<u64, Bytes>,
}

impl World {
    fn connect(&mut self, k: u32) {
        self.engine.connect(
            ConnId(k),
            Peer {
                ip: [127, 0, 0, 1].into(),
                label: k,
                identity: None,
            },
        );
        self.connected[k as usize] = true;
    }

    fn disconnect(&mut self, k: u32) {
        self.engine.disconnect(ConnId(k), self.now, &mut self.out);
        self.connected[k as usize] = false;
    }

    fn request(&mut self, k: u32, input: &mut Input<'_>) -> Option<()> {
        let kind = *input.pick(&REQUESTS)?;
        let function = *input.pick(&FUNCTIONS)?;
        let handle = match self.out.handles.len() {
            0 => Bytes::from_static(b"H:none:1"),
            n => self.out.handles[usize::from(input.byte()?) % n].clone(),
        };
        let unique = *input.pick(&UNIQUES)?;
        let data = *input.pick(&DATA)?;
        let args: Vec<&[u8]> = match kind {
            T::SubmitJobEpoch => vec![function, unique, b"1", data],
            T::SubmitReduceJob => vec![function, unique, b"r", data],
            T::SubmitJob
            | T::SubmitJobBg
            | T::SubmitJobHigh
            | T::SubmitJobHighBg
            | T::SubmitJobLow
            | T::SubmitJobLowBg => vec![function, unique, data],
            T::CanDo | T::CantDo => vec![function],
            T::CanDoTimeout => vec![function, b"1"],
            T::WorkComplete | T::WorkFail | T::WorkException | T::WorkData => {
                vec![&handle, data]
            }
            T::WorkStatus => vec![&handle, b"1", b"2"],
            T::GetStatus => vec![&handle],
            _ => vec![],
        };
        let (last, fields) = args
            .split_last()
            .map_or((&b""[..], &[][..]), |(l, f)| (*l, f));
        let mut bytes = BytesMut::new();
        encode_packet(&mut bytes, Magic::Req, kind, fields, last);
        let codec = Codec {
            max_body: DEFAULT_MAX_BODY,
            max_admin_line: DEFAULT_MAX_ADMIN_LINE,
        };
        if let Ok(Some(Frame::Packet(packet))) = codec.decode(&mut bytes) {
            self.engine
                .packet(ConnId(k), &packet, self.now, &mut self.out);
        }
        Some(())
    }

    /// A store event, in durable mode.
    fn store(&mut self, input: &mut Input<'_>) -> Option<()> {
        match input.byte()? % 3 {
            0 | 1 => {
                let fail = input.byte()? % 4 == 0;
                let (seq, op) = self.out.writes.pop_front()?;
                if !fail {
                    match op {
                        StoreOp::Put(job) | StoreOp::Offer(job) | StoreOp::OfferWatched(job) => {
                            self.stored.insert(job.id, job.data.clone());
                        }
                        StoreOp::Done { id } => {
                            self.stored.remove(&id);
                        }
                        // Records are never read back by the engine while it runs, and the
                        // cluster's relays and watches do not change what a job holds.
                        StoreOp::PutRecord(_)
                        | StoreOp::DropRecord { .. }
                        | StoreOp::Relay { .. }
                        | StoreOp::Release { .. }
                        | StoreOp::Adopt { .. } => {}
                    }
                }
                let failure = fail.then_some("disk full");
                self.engine.committed(seq, failure, self.now, &mut self.out);
            }
            _ => {
                let (token, ids) = self.out.loads.pop_front()?;
                let found = ids
                    .iter()
                    .filter_map(|id| Some((*id, self.stored.get(id)?.clone())))
                    .collect();
                self.engine
                    .loaded(token, Ok(found), self.now, &mut self.out);
            }
        }
        Some(())
    }

    fn step(&mut self, input: &mut Input<'_>) -> Option<()> {
        let op = input.byte()?;
        let k = u32::from(input.byte()?) % CONNS;
        match op % 8 {
            0 => {
                if self.connected[k as usize] {
                    self.disconnect(k);
                } else {
                    self.connect(k);
                }
            }
            1..=3 if self.connected[k as usize] => self.request(k, input)?,
            4 if self.connected[k as usize] => {
                let line = *input.pick(&ADMIN)?;
                self.engine.admin(
                    ConnId(k),
                    &Bytes::from_static(line.as_bytes()),
                    &mut self.out,
                );
            }
            5 => {
                self.now += u64::from(input.byte()?) * 20;
                self.engine.tick(self.now, &mut self.out);
            }
            6 | 7 if self.durable => self.store(input)?,
            _ => {}
        }
        for conn in std::mem::take(&mut self.out.closed) {
            if self.connected[conn.0 as usize] {
                self.disconnect(conn.0);
            }
        }
        Some(())
    }
}

fuzz_target!(|data: &[u8]| {
    let mut input = Input { data };
    let Some(mode) = input.byte() else {
        return;
    };
    let durable = mode & 1 == 1;
    let config = EngineConfig {
        durable,
        resident_jobs: if mode & 2 == 2 && durable { 2 } else { 0 },
        job_retries: if mode & 4 == 4 { 1 } else { -1 },
        max_queued_bytes: if mode & 8 == 8 { 64 } else { 0 },
        retry_policies: if mode & 16 == 16 {
            // A policy for `f` only: `g` and `h` keep gearmand's rules beside it.
            let mut policies = RetryPolicies::default();
            policies.by_function.insert(
                Bytes::from_static(b"f"),
                RetryPolicy {
                    retries: 2,
                    backoff_min_ms: 10,
                    backoff_max_ms: 200,
                    retry_on: RetryOn::default(),
                },
            );
            policies
        } else {
            RetryPolicies::default()
        },
        ..EngineConfig::default()
    };
    let mut world = World {
        engine: Engine::new(config),
        out: Recorder::default(),
        connected: [false; CONNS as usize],
        now: 1,
        durable,
        stored: BTreeMap::new(),
    };
    for k in 0..CONNS {
        world.connect(k);
    }
    while world.step(&mut input).is_some() {
        let problems = world.engine.audit();
        assert!(problems.is_empty(), "inconsistent: {problems:#?}");
    }
    // Everyone leaves; the store catches up.
    for k in 0..CONNS {
        if world.connected[k as usize] {
            world.disconnect(k);
        }
    }
    while let Some((seq, _)) = world.out.writes.pop_front() {
        world.engine.committed(seq, None, world.now, &mut world.out);
    }
    let problems = world.engine.audit();
    assert!(
        problems.is_empty(),
        "inconsistent at the end: {problems:#?}"
    );
    assert_eq!(
        world.engine.running_foreground(),
        0,
        "a foreground job outlived its clients"
    );
});
