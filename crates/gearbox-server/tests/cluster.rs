//! Cluster mode (`--cluster` on the PostgreSQL store) with three real gearboxd nodes on
//! loopback ports against the machine's PostgreSQL: background jobs submitted to any node run
//! on workers connected to another; equal jobs submitted to several nodes are one; a handle's
//! status answers on every node; `nodes` lists
//! them all; the jobs a `kill -9`ed node had claimed run on another node once its lease runs
//! out; and a node killed under load loses no acknowledged job.

#![cfg(feature = "postgres")]

use std::collections::{BTreeMap, HashMap, HashSet};
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use gearbox_proto::PacketType as T;
use gearbox_testkit::services::{unique_name, Service};
use gearbox_testkit::wire::Conn;
use gearbox_testkit::{Kind, Server};

const CONNINFO: &str = "host=127.0.0.1 port=5432 user=postgres dbname=test";
/// The lease the nodes run with, in seconds: short, so a dead node's jobs move soon.
const LEASE: &str = "2";

/// A table of one test, dropped with its cluster tables at the end.
struct Table(String);

impl Table {
    fn new() -> Table {
        Table(unique_name("gbc"))
    }

    fn rows(&self) -> u64 {
        gearbox_store::PostgresStore::open(CONNINFO, &self.0)
            .and_then(|mut s| s.len())
            .expect("count the table's rows")
    }
}

impl Drop for Table {
    fn drop(&mut self) {
        if let Ok(mut store) = gearbox_store::PostgresStore::open(CONNINFO, &self.0) {
            let _ = store.drop_table();
        }
    }
}

fn node(table: &Table, name: &str) -> Server {
    node_with_lease(table, name, LEASE)
}

fn node_with_lease(table: &Table, name: &str, lease: &str) -> Server {
    node_with(table, name, lease, &[])
}

fn node_with(table: &Table, name: &str, lease: &str, extra: &[&str]) -> Server {
    let mut args = vec![
        "-q",
        "postgres",
        "--libpq-conninfo",
        CONNINFO,
        "--libpq-table",
        &table.0,
        "--cluster",
        "--node-id",
        name,
        "--cluster-lease",
        lease,
    ];
    args.extend_from_slice(extra);
    Server::start(Kind::Gearboxd, &args)
}

/// `kill -9` a node.
fn kill_9(server: &Server) {
    let killed = Command::new("kill")
        .args(["-9", &server.pid().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
}

/// How many of `nodes` say they lead, once one does (or after 10 s).
fn leaders(nodes: &[Server]) -> usize {
    let count = || {
        nodes
            .iter()
            .filter(|n| n.admin("nodes").iter().any(|l| l.ends_with("\tleader")))
            .count()
    };
    let until = Instant::now() + Duration::from_secs(10);
    while count() == 0 && Instant::now() < until {
        std::thread::sleep(Duration::from_millis(100));
    }
    count()
}

/// Submit a background job; its handle.
fn submit(server: &Server, function: &str, unique: &str) -> Vec<u8> {
    let mut c = Conn::connect(server.addr);
    let r = c.request_req(
        T::SubmitJobBg,
        &[function.as_bytes(), unique.as_bytes(), b"work"],
    );
    assert!(r[0].is(T::JobCreated), "{}", r[0].describe());
    r[0].args()[0].clone()
}

/// GET_STATUS on `server`: (known, running).
fn status(server: &Server, handle: &[u8]) -> (bool, bool) {
    let mut c = Conn::connect(server.addr);
    let r = c.request_req(T::GetStatus, &[handle]);
    assert!(r[0].is(T::StatusRes), "{}", r[0].describe());
    let args = r[0].args();
    (args[1] == b"1", args[2] == b"1")
}

/// A configuration file holding `text`, in a directory that lives as long as the first
/// value: its path.
fn config_file(text: &str) -> (gearbox_testkit::TempDir, String) {
    let dir = gearbox_testkit::TempDir::new("config");
    let path = dir.path().join("gearbox.toml");
    std::fs::write(&path, text).unwrap();
    let path = path.to_str().unwrap().to_owned();
    (dir, path)
}

/// Grab on `worker` (polling, as many workers do) until a job comes, for at most 20 s: its
/// JOB_ASSIGN_UNIQ's arguments.
fn grab_within(worker: &mut Conn) -> Vec<Vec<u8>> {
    let until = Instant::now() + Duration::from_secs(20);
    loop {
        let r = worker.request_req(T::GrabJobUniq, &[]);
        if r[0].is(T::JobAssignUniq) {
            return r[0].args();
        }
        assert!(Instant::now() < until, "no job reached the worker");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A worker on `server` for `function` that grabs (polling, as many workers do) until it has
/// `count` jobs or `deadline` passes; completes each unless `hold`. The uniques it got.
fn work(
    server: &Server,
    function: &str,
    count: usize,
    hold: bool,
    deadline: Duration,
) -> (Conn, Vec<String>) {
    let mut w = Conn::connect(server.addr);
    w.send_req(T::CanDo, &[function.as_bytes()]);
    let until = Instant::now() + deadline;
    let mut got = Vec::new();
    while got.len() < count && Instant::now() < until {
        let r = w.request_req(T::GrabJobUniq, &[]);
        if !r[0].is(T::JobAssignUniq) {
            std::thread::sleep(Duration::from_millis(20));
            continue;
        }
        let args = r[0].args();
        got.push(String::from_utf8(args[2].clone()).unwrap());
        if !hold {
            w.send_req(T::WorkComplete, &[&args[0], b"done"]);
        }
    }
    w.sync();
    (w, got)
}

#[test]
fn jobs_submitted_to_any_node_run_on_workers_of_another() {
    let Some(_lock) = Service::Postgres.shared() else {
        return;
    };
    let table = Table::new();
    let nodes = [node(&table, "n1"), node(&table, "n2"), node(&table, "n3")];
    // Every node knows every node.
    for n in &nodes {
        n.wait_for("three nodes", |s| s.admin("nodes").len() == 3);
        let names: Vec<String> = n
            .admin("nodes")
            .iter()
            .map(|l| l.split('\t').next().unwrap().to_owned())
            .collect();
        assert_eq!(names, ["n1", "n2", "n3"]);
    }
    // One of them holds the leader's lock (each node knows only its own part).
    assert_eq!(leaders(&nodes), 1, "exactly one node leads");

    // Jobs submitted to n1 and n3 while the only worker is on n2.
    let mut expected = Vec::new();
    for i in 0..20 {
        let at = if i % 2 == 0 { &nodes[0] } else { &nodes[2] };
        let unique = format!("u{i}");
        submit(at, "f", &unique);
        expected.push(unique);
    }
    let (_w, mut got) = work(&nodes[1], "f", 20, false, Duration::from_secs(30));
    got.sort();
    expected.sort();
    assert_eq!(got, expected, "every job ran once, on n2's worker");

    // Equal jobs (function and unique id) submitted to three nodes are one job, with the
    // first one's handle, run once.
    let handles: Vec<Vec<u8>> = nodes.iter().map(|n| submit(n, "c", "same")).collect();
    assert!(handles[0].starts_with(b"H:n1:"));
    assert!(
        handles.iter().all(|h| *h == handles[0]),
        "{:?}",
        handles
            .iter()
            .map(|h| String::from_utf8_lossy(h))
            .collect::<Vec<_>>()
    );
    assert_eq!(table.rows(), 1);
    let (_w, got) = work(&nodes[2], "c", 2, false, Duration::from_secs(3));
    assert_eq!(got, ["same"], "the equal jobs ran once");

    // A job nobody works on yet: its handle is known on every node, by any node's handle.
    let handle = submit(&nodes[0], "g", "later");
    assert!(
        handle.starts_with(b"H:n1:"),
        "{}",
        String::from_utf8_lossy(&handle)
    );
    for n in &nodes {
        assert_eq!(status(n, &handle), (true, false), "status on {}", n.addr);
        // By its unique id too.
        let mut c = Conn::connect(n.addr);
        let r = c.request_req(T::GetStatusUnique, &[b"later"]);
        assert!(r[0].is(T::StatusResUnique), "{}", r[0].describe());
        assert_eq!(r[0].args()[1], b"1", "unique known on {}", n.addr);
        // Every node's `status` counts it, from its next heartbeat.
        n.wait_for("g counted", |s| {
            s.function_status("g").is_some_and(|g| g.0 == 1)
        });
    }
    let (_w, got) = work(&nodes[2], "g", 1, false, Duration::from_secs(30));
    assert_eq!(got, ["later"]);
    let gone = Instant::now() + Duration::from_secs(10);
    while table.rows() > 0 && Instant::now() < gone {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(table.rows(), 0, "finished jobs leave the table");
    for n in &nodes {
        assert_eq!(status(n, &handle), (false, false), "status on {}", n.addr);
    }
}

#[test]
fn a_killed_nodes_jobs_run_on_another_node() {
    let Some(_lock) = Service::Postgres.shared() else {
        return;
    };
    let table = Table::new();
    let a = node(&table, "a");
    let b = node(&table, "b");
    for i in 0..10 {
        submit(&a, "h", &format!("j{i}"));
    }
    // b's worker takes four jobs and never finishes them; then b dies.
    let (_held, taken) = work(&b, "h", 4, true, Duration::from_secs(30));
    assert_eq!(taken.len(), 4);
    kill_9(&b);
    // A worker on a gets all ten once b's lease runs out (b had claimed them all ahead for
    // its worker).
    let started = Instant::now();
    let (_w, got) = work(&a, "h", 10, false, Duration::from_secs(30));
    let mut got: BTreeMap<String, u32> = got.into_iter().map(|u| (u, 1)).collect();
    assert_eq!(got.len(), 10, "all ten ran on a: {got:?}");
    for u in &taken {
        got.remove(u).expect("b's job ran again on a");
    }
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "b's jobs waited for its lease"
    );
    // a leads now, whoever did before: b's lock went with its connection.
    a.wait_for("a to lead", |s| {
        s.admin("nodes")
            .iter()
            .any(|l| l.starts_with("a\t") && l.ends_with("\tleader"))
    });
    let gone = Instant::now() + Duration::from_secs(10);
    while table.rows() > 0 && Instant::now() < gone {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(table.rows(), 0);
}

/// Jobs of the load test.
const LOAD_JOBS: u64 = 100_000;
/// Background submissions a submitter keeps in flight.
const LOAD_WINDOW: usize = 500;

/// Submit `numbers` as background jobs of `load` to `addr` in windows; the numbers whose
/// JOB_CREATED arrived, counted in `acked` as they come. Stops at the first failure (its node
/// died).
fn submit_load(addr: String, numbers: Vec<u64>, acked: &AtomicU64) -> Vec<u64> {
    use gearbox_client::blocking::Client;
    use gearbox_client::{JobRequest, TaskEvent};
    let client = Client::new();
    client.add_server(&addr).unwrap();
    client.set_timeout(Some(Duration::from_secs(30)));
    let mut done = Vec::new();
    for window in numbers.chunks(LOAD_WINDOW) {
        let Ok(mut tasks) = client.task_set() else {
            return done;
        };
        let mut by_task = HashMap::new();
        for &n in window {
            let id = tasks.add_background(JobRequest::new("load", n.to_string()).unique(""));
            by_task.insert(id, n);
        }
        let mut failed = false;
        while tasks.pending() > 0 {
            match tasks.next_event() {
                Ok(Some(TaskEvent::Created { task, .. })) => {
                    done.push(by_task[&task]);
                    acked.fetch_add(1, Ordering::Relaxed);
                }
                Ok(Some(_)) => failed = true,
                Ok(None) | Err(_) => {
                    failed = true;
                    break;
                }
            }
        }
        if failed {
            return done;
        }
    }
    done
}

/// A worker on `addr` completing `load` jobs until `stop`; (node index, workload) of each.
fn work_load(addr: String, index: usize, stop: &AtomicBool, ran: &Mutex<Vec<(usize, u64)>>) {
    use gearbox_client::blocking::Worker;
    let worker = Worker::new();
    worker.add_server(&addr).unwrap();
    worker.set_concurrency(4);
    worker.add_function("load", None);
    while !stop.load(Ordering::Acquire) {
        match worker.next_job(Some(Duration::from_millis(200))) {
            Ok(Some(job)) => {
                let n: u64 = std::str::from_utf8(job.workload())
                    .unwrap()
                    .parse()
                    .unwrap();
                if job.complete("").is_ok() {
                    ran.lock().unwrap().push((index, n));
                }
            }
            Ok(None) => {}
            Err(_) => std::thread::sleep(Duration::from_millis(50)),
        }
    }
}

/// `kill -9` one of three nodes while jobs stream into all three and workers on all three
/// drain them: every job whose JOB_CREATED arrived runs; a job that runs twice ran once on
/// the killed node (its completion died with it); the table ends empty.
#[test]
fn a_node_killed_under_load_loses_no_acknowledged_job() {
    let Some(_lock) = Service::Postgres.shared() else {
        return;
    };
    let table = Table::new();
    let nodes = [node(&table, "k1"), node(&table, "k2"), node(&table, "k3")];
    let addrs: Vec<String> = nodes.iter().map(|n| n.addr.to_string()).collect();
    let acked = AtomicU64::new(0);
    let stop = AtomicBool::new(false);
    let ran = Mutex::new(Vec::new());
    let started = Instant::now();
    let submitted: Vec<u64> = std::thread::scope(|scope| {
        for (i, addr) in addrs.iter().enumerate() {
            let (stop, ran) = (&stop, &ran);
            scope.spawn(move || work_load(addr.clone(), i, stop, ran));
        }
        let submitters: Vec<_> = addrs
            .iter()
            .enumerate()
            .map(|(i, addr)| {
                let numbers: Vec<u64> = (0..LOAD_JOBS).filter(|n| n % 3 == i as u64).collect();
                let acked = &acked;
                scope.spawn(move || submit_load(addr.clone(), numbers, acked))
            })
            .collect();
        // k2 dies a third of the way through.
        let until = Instant::now() + Duration::from_secs(120);
        while acked.load(Ordering::Relaxed) < LOAD_JOBS / 3 && Instant::now() < until {
            std::thread::sleep(Duration::from_millis(5));
        }
        kill_9(&nodes[1]);
        let submitted: Vec<u64> = submitters
            .into_iter()
            .flat_map(|s| s.join().unwrap())
            .collect();
        // Every acknowledged job runs on k1's or k3's worker (k2's jobs after its lease).
        // Waited for while jobs keep completing (a busy machine drains slowly), at most 30 s
        // without one and 10 minutes in all.
        let wanted: HashSet<u64> = submitted.iter().copied().collect();
        let until = Instant::now() + Duration::from_secs(600);
        let (mut seen, mut progressed) = (0, Instant::now());
        loop {
            let done: HashSet<u64> = ran.lock().unwrap().iter().map(|&(_, n)| n).collect();
            if wanted.is_subset(&done) || Instant::now() > until {
                break;
            }
            if done.len() > seen {
                (seen, progressed) = (done.len(), Instant::now());
            } else if progressed.elapsed() > Duration::from_secs(30) {
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        stop.store(true, Ordering::Release);
        submitted
    });
    let ran = ran.into_inner().unwrap();
    let mut runs: HashMap<u64, Vec<usize>> = HashMap::new();
    for (node, n) in &ran {
        runs.entry(*n).or_default().push(*node);
    }
    let lost: Vec<u64> = submitted
        .iter()
        .copied()
        .filter(|n| !runs.contains_key(n))
        .collect();
    assert!(
        lost.is_empty(),
        "{} of {} acknowledged jobs never ran, e.g. {:?}",
        lost.len(),
        submitted.len(),
        &lost[..lost.len().min(10)]
    );
    let twice: Vec<(&u64, &Vec<usize>)> = runs.iter().filter(|(_, r)| r.len() > 1).collect();
    for (n, nodes_run) in &twice {
        assert!(
            nodes_run.contains(&1) && nodes_run.len() == 2,
            "job {n} ran on nodes {nodes_run:?}: only a job the killed node ran may run again"
        );
    }
    eprintln!(
        "{} jobs acknowledged of {LOAD_JOBS}, all ran; {} ran twice (on the killed node, then \
         again); {:.1} s",
        submitted.len(),
        twice.len(),
        started.elapsed().as_secs_f64()
    );
    let until = Instant::now() + Duration::from_secs(20);
    while table.rows() > 0 && Instant::now() < until {
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(table.rows(), 0, "nothing is left behind");
}

/// Epoch jobs are rows like any other: submitted to a node that dies before they are due, they
/// run once each, when due, on the nodes left; and the leader's lock (schedules) moves to one
/// of those.
#[test]
fn epoch_jobs_of_a_dead_node_fire_once_on_the_others() {
    let Some(_lock) = Service::Postgres.shared() else {
        return;
    };
    let table = Table::new();
    let first = node(&table, "e1");
    first.wait_for("e1 to lead", |s| {
        s.admin("nodes").iter().any(|l| l.ends_with("\tleader"))
    });
    let others = [node(&table, "e2"), node(&table, "e3")];
    let due = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + 3;
    let mut c = Conn::connect(first.addr);
    for i in 0..5 {
        let r = c.request_req(
            T::SubmitJobEpoch,
            &[
                b"tick",
                format!("t{i}").as_bytes(),
                due.to_string().as_bytes(),
                b"w",
            ],
        );
        assert!(r[0].is(T::JobCreated), "{}", r[0].describe());
    }
    kill_9(&first);
    assert_eq!(leaders(&others), 1, "one of the nodes left leads");
    let runs = std::thread::scope(|scope| {
        let workers: Vec<_> = others
            .iter()
            .map(|n| scope.spawn(move || work(n, "tick", 5, false, Duration::from_secs(8)).1))
            .collect();
        workers
            .into_iter()
            .flat_map(|w| w.join().unwrap())
            .collect::<Vec<_>>()
    });
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    assert!(now >= due, "the jobs ran before they were due");
    let mut runs = runs;
    runs.sort();
    assert_eq!(
        runs,
        ["t0", "t1", "t2", "t3", "t4"],
        "each epoch job ran once"
    );
}

/// A node restarted under its name within its lease takes back the jobs it held and runs
/// them; no other node runs them meanwhile.
#[test]
fn a_node_restarted_under_its_name_runs_the_jobs_it_held() {
    let Some(_lock) = Service::Postgres.shared() else {
        return;
    };
    let table = Table::new();
    // A lease the restart surely fits in, however slow the machine.
    let mut first = node_with_lease(&table, "r1", "30");
    let other = node_with_lease(&table, "r2", "30");
    // r1 keeps these for its (idle) worker.
    let mut idle = Conn::connect(first.addr);
    idle.request_req(T::CanDo, &[b"held"]);
    for i in 0..5 {
        submit(&first, "held", &format!("h{i}"));
    }
    drop(idle);
    drop(first);
    first = node_with_lease(&table, "r1", "30");
    std::thread::scope(|scope| {
        let elsewhere = scope.spawn(|| work(&other, "held", 5, false, Duration::from_secs(3)).1);
        let (_w, mut here) = work(&first, "held", 5, false, Duration::from_secs(20));
        here.sort();
        assert_eq!(here, ["h0", "h1", "h2", "h3", "h4"], "r1 ran what it held");
        assert!(elsewhere.join().unwrap().is_empty(), "r2 ran r1's jobs");
    });
}

/// `/metrics` of a node shows the cluster: its nodes, its leadership, the jobs it offered and
/// claimed, what waits in the table; and passes promtool.
#[test]
fn metrics_show_the_cluster() {
    let Some(_lock) = Service::Postgres.shared() else {
        return;
    };
    let table = Table::new();
    let watched = node_with(&table, "m1", LEASE, &["--http-listen", "127.0.0.1:0"]);
    let _other = node(&table, "m2");
    for i in 0..3 {
        submit(&watched, "m", &format!("m{i}"));
    }
    let url = format!("http://{}/metrics", watched.http[0]);
    let scrape = || {
        let out = Command::new("curl")
            .args(["-s", "--max-time", "10", &url])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let until = Instant::now() + Duration::from_secs(10);
    let mut page = scrape();
    while !(page.contains("gearbox_cluster_nodes 2\n")
        && page.contains("gearbox_cluster_jobs_waiting{function=\"m\",priority=\"normal\"} 3\n"))
        && Instant::now() < until
    {
        std::thread::sleep(Duration::from_millis(100));
        page = scrape();
    }
    for line in [
        "gearbox_cluster_nodes 2\n",
        "gearbox_cluster_jobs_offered_total 3\n",
        "gearbox_cluster_jobs_claimed_total 0\n",
        "gearbox_cluster_jobs_waiting{function=\"m\",priority=\"normal\"} 3\n",
    ] {
        assert!(page.contains(line), "no {line:?} in\n{page}");
    }
    assert!(page.contains("gearbox_cluster_leader "), "{page}");
    gearbox_testkit::prometheus::assert_clean(&page);
}

/// Two processes started under one node name are told, loudly: each heartbeat finds the
/// other's instance number in the name's row.
#[test]
fn two_nodes_sharing_a_name_are_reported() {
    let Some(_lock) = Service::Postgres.shared() else {
        return;
    };
    let table = Table::new();
    let a = node(&table, "twin");
    let b = node(&table, "twin");
    let said = |s: &Server| s.log().contains("two nodes share one --node-id");
    let until = Instant::now() + Duration::from_secs(10);
    while !(said(&a) || said(&b)) && Instant::now() < until {
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(
        said(&a) || said(&b),
        "no report in\n{}\n{}",
        a.log(),
        b.log()
    );
}

/// libgearman's own `gearman` tool, unchanged, against two nodes: background submissions
/// with one unique id to each node are one job, which a `gearman -w` worker on the other
/// node runs once.
#[test]
fn libgearmans_tool_works_across_nodes() {
    let Some(_lock) = Service::Postgres.shared() else {
        return;
    };
    if !gearbox_testkit::require("gearman") {
        return;
    }
    let table = Table::new();
    let (a, b) = (node(&table, "g1"), node(&table, "g2"));
    for (n, data) in [(&a, "payload"), (&b, "other")] {
        let out = gearbox_testkit::procs::Proc::spawn(n.gearman_cmd(&[
            "-b",
            "-u",
            "tool-same",
            "-f",
            "tooljob",
            data,
        ]))
        .wait(Duration::from_secs(20));
        assert!(out.success(), "{out}");
    }
    assert_eq!(table.rows(), 1, "one job for the two submissions");
    let sink = b.scratch().join("tooljob.out");
    let sink_s = sink.to_string_lossy().into_owned();
    let out = gearbox_testkit::procs::Proc::spawn(
        b.gearman_cmd(&["-w", "-f", "tooljob", "-c", "1", "--", "tee", &sink_s]),
    )
    .wait(Duration::from_secs(30));
    assert!(out.success(), "worker: {out}");
    assert_eq!(std::fs::read_to_string(&sink).unwrap(), "payload");
    let until = Instant::now() + Duration::from_secs(10);
    while table.rows() > 0 && Instant::now() < until {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(table.rows(), 0);
}

/// Read replies on `c` until one of `kind` arrives (or 20 s pass); every reply read.
fn until_kind(c: &mut Conn, kind: T) -> Vec<gearbox_testkit::wire::Reply> {
    let until = Instant::now() + Duration::from_secs(20);
    let mut got = Vec::new();
    while Instant::now() < until {
        let Ok(reply) = c.recv_within(Duration::from_millis(200)) else {
            continue;
        };
        let last = reply.is(kind);
        got.push(reply);
        if last {
            return got;
        }
    }
    panic!(
        "no {kind:?} within 20 s; got {:?}",
        got.iter().map(|r| r.describe()).collect::<Vec<_>>()
    );
}

/// Foreground jobs submitted to nodes without a worker run on a worker of a third node, and
/// their clients hear every work packet under the handle they heard: equal submissions to two
/// nodes are one job with the first handle, run once; its status answers on the node that
/// holds it for its client; nothing is left in the table.
#[test]
fn foreground_jobs_run_on_another_nodes_worker() {
    let Some(_lock) = Service::Postgres.shared() else {
        return;
    };
    let table = Table::new();
    let (a, b, c) = (node(&table, "f1"), node(&table, "f2"), node(&table, "f3"));
    let mut first = Conn::connect(a.addr);
    let r = first.request_req(T::SubmitJob, &[b"fgx", b"same", b"payload"]);
    assert!(r[0].is(T::JobCreated), "{}", r[0].describe());
    let handle = r[0].args()[0].clone();
    assert!(handle.starts_with(b"H:f1:"), "{}", r[0].describe());
    let mut second = Conn::connect(b.addr);
    let r = second.request_req(T::SubmitJob, &[b"fgx", b"same", b"other"]);
    assert!(r[0].is(T::JobCreated), "{}", r[0].describe());
    assert_eq!(
        r[0].args()[0],
        handle,
        "the second submitter hears the first handle"
    );
    assert_eq!(status(&a, &handle), (true, false));

    // The worker, on the third node, gets the one job.
    let mut w = Conn::connect(c.addr);
    w.send_req(T::CanDo, &[b"fgx"]);
    let assigned = grab_within(&mut w);
    assert_eq!(assigned[2], b"same");
    assert_eq!(assigned[3], b"payload");
    let theirs = assigned[0].clone();
    w.send_req(T::WorkData, &[&theirs, b"part"]);
    w.send_req(T::WorkStatus, &[&theirs, b"1", b"2"]);
    w.send_req(T::WorkComplete, &[&theirs, b"result"]);
    for client in [&mut first, &mut second] {
        let got = until_kind(client, T::WorkComplete);
        let seen: Vec<(T, Vec<Vec<u8>>)> =
            got.iter().map(|r| (r.packet().kind, r.args())).collect();
        assert_eq!(
            seen,
            vec![
                (T::WorkData, vec![handle.clone(), b"part".to_vec()]),
                (
                    T::WorkStatus,
                    vec![handle.clone(), b"1".to_vec(), b"2".to_vec()]
                ),
                (T::WorkComplete, vec![handle.clone(), b"result".to_vec()]),
            ]
        );
    }
    let r = w.request_req(T::GrabJobUniq, &[]);
    assert!(r[0].is(T::NoJob), "ran once: {}", r[0].describe());
    let until = Instant::now() + Duration::from_secs(10);
    while table.rows() > 0 && Instant::now() < until {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(table.rows(), 0, "nothing left in the table");
    assert_eq!(status(&a, &handle), (false, false));
}

/// The PECL extension, unchanged, with every client callback: tasks submitted to one node and
/// run by a PHP worker on another hear exactly what they hear when client and worker share a
/// node (data, warning, status, then complete, fail or exception).
#[test]
fn pecl_callbacks_across_nodes_match_one_node() {
    let Some(_lock) = Service::Postgres.shared() else {
        return;
    };
    if !gearbox_testkit::require_php() {
        return;
    }
    let table = Table::new();
    let (a, b) = (node(&table, "p1"), node(&table, "p2"));
    let run = |client: &Server| {
        let worker = b.spawn_php("worker.php", &["--fn", "pcb:callbacks", "--count", "4"]);
        let out = client.php(
            "callbacks.php",
            &["pcb", "complete", "fail", "exception", "other"],
        );
        assert!(out.success(), "{out}");
        assert!(worker.wait(Duration::from_secs(30)).success());
        out.stdout
    };
    let one_node = run(&b);
    let across = run(&a);
    assert!(
        one_node.contains("complete: created | data d:complete"),
        "{one_node}"
    );
    assert_eq!(across, one_node);
}

/// libgearman's `gearman` tool, unchanged: a foreground client on one node gets the result of
/// a `gearman -w` worker on another.
#[test]
fn libgearmans_foreground_client_gets_another_nodes_result() {
    let Some(_lock) = Service::Postgres.shared() else {
        return;
    };
    if !gearbox_testkit::require("gearman") {
        return;
    }
    let table = Table::new();
    let (a, b) = (node(&table, "t1"), node(&table, "t2"));
    let worker = gearbox_testkit::procs::Proc::spawn(
        b.gearman_cmd(&["-w", "-f", "upper", "-c", "1", "--", "tr", "a-z", "A-Z"]),
    );
    let out = a.gearman(&["-f", "upper", "shout"]);
    assert!(out.success(), "{out}");
    assert_eq!(out.stdout, "SHOUT");
    assert!(worker.wait(Duration::from_secs(30)).success());
}

/// `cancel job` answers on every node, whichever node holds the job: with libgearman's
/// `gearadmin` on one node, a background job waiting in the table is gone for every node, a
/// foreground client waiting on another node hears WORK_FAIL (and so do the clients of every
/// node when it is cancelled on one of them), and a job running on a third node's worker is
/// cancelled there (its late result is refused); over the HTTP API too; a second cancel finds
/// nothing.
#[test]
fn cancel_job_works_from_any_node() {
    let Some(_lock) = Service::Postgres.shared() else {
        return;
    };
    if !gearbox_testkit::require("gearadmin") {
        return;
    }
    let table = Table::new();
    let a = node(&table, "x1");
    let b = node_with(&table, "x2", LEASE, &["--http-listen", "127.0.0.1:0"]);
    let c = node(&table, "x3");
    let cancel = |server: &Server, handle: &[u8]| {
        let out = server.gearadmin(&["--cancel-job", std::str::from_utf8(handle).unwrap()]);
        (out.stdout, out.stderr)
    };
    let ok = ("OK\n".to_owned(), String::new());
    let unknown = (String::new(), "Error: UNKNOWN_JOB\r\n".to_owned());

    // A background job waiting unclaimed in the table.
    let waiting = submit(&a, "cx", "waiting");
    assert_eq!(cancel(&b, &waiting), ok);
    assert_eq!(
        cancel(&b, &waiting),
        unknown,
        "a second cancel finds nothing"
    );
    for n in [&a, &b, &c] {
        assert_eq!(status(n, &waiting), (false, false));
    }
    assert_eq!(table.rows(), 0);

    // A foreground job whose client waits on the first node.
    let mut client = Conn::connect(a.addr);
    let r = client.request_req(T::SubmitJob, &[b"cx", b"fg", b"work"]);
    assert!(r[0].is(T::JobCreated), "{}", r[0].describe());
    let fg = r[0].args()[0].clone();
    assert_eq!(cancel(&b, &fg), ok);
    let got = until_kind(&mut client, T::WorkFail);
    assert_eq!(got.len(), 1, "WORK_FAIL alone");
    assert_eq!(got[0].args(), vec![fg.clone()]);

    // A foreground job two nodes' clients wait for, cancelled on one of them: both hear
    // WORK_FAIL.
    let mut first = Conn::connect(a.addr);
    let r = first.request_req(T::SubmitJob, &[b"cx", b"both", b"work"]);
    assert!(r[0].is(T::JobCreated), "{}", r[0].describe());
    let both = r[0].args()[0].clone();
    let mut second = Conn::connect(b.addr);
    let r = second.request_req(T::SubmitJob, &[b"cx", b"both", b"work"]);
    assert_eq!(r[0].args(), vec![both.clone()], "{}", r[0].describe());
    assert_eq!(cancel(&a, &both), ok);
    for client in [&mut first, &mut second] {
        let got = until_kind(client, T::WorkFail);
        assert_eq!(got.len(), 1, "WORK_FAIL alone");
        assert_eq!(got[0].args(), vec![both.clone()]);
    }
    assert_eq!(table.rows(), 0);

    // A job running on the third node's worker, cancelled over the second node's HTTP API.
    let running = submit(&a, "cx", "running");
    let mut worker = Conn::connect(c.addr);
    worker.send_req(T::CanDo, &[b"cx"]);
    let assigned = grab_within(&mut worker);
    assert_eq!(assigned[2], b"running");
    // Running there (the total also counts the table as of the last heartbeat).
    let running_there = |line: &String| {
        let fields: Vec<&str> = line.split('\t').collect();
        fields.len() == 4 && fields[0] == "cx" && fields[2] == "1"
    };
    assert!(c.admin("status").iter().any(running_there));
    let url = format!(
        "http://{}/api/jobs/{}/cancel",
        b.http[0],
        std::str::from_utf8(&running).unwrap()
    );
    let post = || {
        let out = Command::new("curl")
            .args([
                "-s",
                "--max-time",
                "10",
                "-X",
                "POST",
                "-w",
                " %{http_code}",
                &url,
            ])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    assert_eq!(post(), r#"{"ok":true} 200"#);
    assert!(post().ends_with(" 404"), "a second cancel finds nothing");
    let until = Instant::now() + Duration::from_secs(10);
    while c.admin("status").iter().any(running_there) && Instant::now() < until {
        std::thread::sleep(Duration::from_millis(50));
    }
    let r = worker.request_req(T::WorkComplete, &[&assigned[0], b"late"]);
    assert!(r[0].is(T::Error), "{}", r[0].describe());
    assert_eq!(r[0].args()[0], b"JOB_NOT_FOUND");
    assert_eq!(table.rows(), 0, "nothing left in the table");
}

/// `result HANDLE` answers on every node: pending while the job waits in the table, then
/// the result the node that ran it kept, over the admin protocol and the HTTP API of a third
/// node that neither took nor ran the job.
#[test]
fn a_kept_result_is_seen_from_any_node() {
    let Some(_lock) = Service::Postgres.shared() else {
        return;
    };
    let table = Table::new();
    let (_dir, config) = config_file("[functions.\"kr\"]\nkeep_results = \"1h\"\n");
    let config = config.as_str();
    let a = node_with(&table, "k1", LEASE, &["--config", config]);
    let b = node_with(
        &table,
        "k2",
        LEASE,
        &["--config", config, "--http-listen", "127.0.0.1:0"],
    );
    let c = node_with(&table, "k3", LEASE, &["--config", config]);
    let handle = submit(&a, "kr", "one");
    let handle = String::from_utf8(handle).unwrap();
    assert_eq!(b.admin(&format!("result {handle}")), vec!["OK pending 0"]);

    let mut worker = Conn::connect(c.addr);
    worker.send_req(T::CanDo, &[b"kr"]);
    let assigned = grab_within(&mut worker);
    worker.send_req(T::WorkComplete, &[&assigned[0], b"done"]);
    worker.sync();
    // "done" in base64.
    let kept = vec!["OK complete 4 ZG9uZQ==".to_owned()];
    let until = Instant::now() + Duration::from_secs(10);
    while b.admin(&format!("result {handle}")) != kept && Instant::now() < until {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(b.admin(&format!("result {handle}")), kept);
    assert_eq!(c.admin(&format!("result {handle}")), kept, "where it ran");
    let url = format!("http://{}/api/results/{handle}", b.http[0]);
    let out = Command::new("curl")
        .args(["-s", "--max-time", "10", &url])
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        r#"{"data_base64":"ZG9uZQ==","size":4,"state":"complete"}"#
    );
    assert_eq!(
        b.admin("result H:k9:12345"),
        vec!["OK unknown 0"],
        "no such job anywhere"
    );
}

/// Dead letters are the cluster's: one buried on the node whose worker failed the job is
/// listed on another at its next heartbeat, retried there (the job runs again, on the first
/// node's worker), and then leaves the first node's list too.
#[test]
fn dead_letters_are_seen_and_retried_from_any_node() {
    let Some(_lock) = Service::Postgres.shared() else {
        return;
    };
    let table = Table::new();
    let (_dir, config) = config_file("[functions.\"dl\"]\nretries = 0\ndead_letter = true\n");
    let config = config.as_str();
    let a = node_with(&table, "d1", LEASE, &["--config", config]);
    let b = node_with(&table, "d2", LEASE, &["--config", config]);
    submit(&a, "dl", "doomed");
    let mut worker = Conn::connect(b.addr);
    worker.send_req(T::CanDo, &[b"dl"]);
    let assigned = grab_within(&mut worker);
    assert_eq!(assigned[2], b"doomed");
    worker.send_req(T::WorkFail, &[&assigned[0]]);
    worker.sync();
    let listed = |server: &Server| {
        server
            .admin("dead list")
            .into_iter()
            .filter(|l| l.contains("\tdl\t"))
            .count()
    };
    assert_eq!(listed(&b), 1, "buried where it failed");
    let until = Instant::now() + Duration::from_secs(10);
    while listed(&a) == 0 && Instant::now() < until {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(listed(&a), 1, "seen from the other node");
    assert_eq!(a.admin("dead retry all"), vec!["OK 1"]);
    assert_eq!(listed(&a), 0);
    let again = grab_within(&mut worker);
    assert_eq!(again[2], b"doomed", "runs again");
    worker.send_req(T::WorkComplete, &[&again[0], b"ok"]);
    worker.sync();
    let until = Instant::now() + Duration::from_secs(10);
    while listed(&b) > 0 && Instant::now() < until {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(listed(&b), 0, "gone from the node that buried it");
}
