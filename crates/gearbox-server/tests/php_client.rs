//! Interop scenarios driven by the PECL `gearman` extension (php-gearman 2.1, libgearman 1.1.20)
//! as client and as worker. Scripts live in gearbox-testkit's `clients/php/`.
//!
//! Every scenario runs against gearmand 1.1.20 (the oracle) and gearboxd with the same expected
//! output. Note: the extension's `addServer()` always sends `OPTION_REQ exceptions`, so a PHP
//! client cannot run *without* exceptions; the "no exceptions option ⇒ the task fails" half of
//! the exception scenario is covered by the Perl client and the `gearman` tool instead.

use gearbox_testkit::*;

both_servers!(
    php_do_normal_high_low,
    php_background_jobs_served_high_normal_low,
    php_foreground_tasks_served_high_normal_low,
    php_unique_coalesces_tasks_on_one_client,
    php_job_status_of_background_job,
    php_task_callbacks,
    php_worker_timeout_requeues_job_to_another_worker,
    php_exceptions_reach_exception_callback,
    php_echo,
    php_worker_client_id_in_gearadmin_workers,
    php_foreground_and_background_tasks_in_one_run_tasks,
);

/// doNormal, doHigh and doLow against a PHP worker.
fn php_do_normal_high_low(kind: Kind) {
    if !require_php() {
        return;
    }
    let s = Server::start(kind, &[]);
    let worker = s.spawn_php("worker.php", &["--fn", "reverse:reverse", "--count", "3"]);
    let out = s.php("do_sync.php", &["reverse"]);
    assert_lines(
        kind,
        &out,
        &[
            "doNormal lamron GEARMAN_SUCCESS",
            "doHigh hgih GEARMAN_SUCCESS",
            "doLow wol GEARMAN_SUCCESS",
        ],
    );
    let w = worker.wait(PROC_TIMEOUT);
    assert_lines(
        kind,
        &w,
        &[
            "JOB reverse normal",
            "JOB reverse high",
            "JOB reverse low",
            "DONE 3",
        ],
    );
    s.wait_status("reverse", (0, 0, 0));
}

/// doBackground/doHighBackground/doLowBackground with no worker running, then one worker that
/// records the order: high before normal before low, FIFO within a priority.
fn php_background_jobs_served_high_normal_low(kind: Kind) {
    if !require_php() {
        return;
    }
    let s = Server::start(kind, &[]);
    let sub = s.php(
        "submit_bg.php",
        &[
            "prio",
            "low:L1",
            "normal:N1",
            "high:H1",
            "low:L2",
            "normal:N2",
            "high:H2",
        ],
    );
    assert!(sub.success(), "[{kind}] {sub}");
    assert_eq!(
        lines_without(&sub, "HANDLE "),
        strings(&[
            "submitted low L1 GEARMAN_SUCCESS",
            "submitted normal N1 GEARMAN_SUCCESS",
            "submitted high H1 GEARMAN_SUCCESS",
            "submitted low L2 GEARMAN_SUCCESS",
            "submitted normal N2 GEARMAN_SUCCESS",
            "submitted high H2 GEARMAN_SUCCESS",
        ]),
        "[{kind}] {sub}"
    );
    let mut handles: Vec<String> = ["L1", "N1", "H1", "L2", "N2", "H2"]
        .iter()
        .map(|w| field_after(&sub, &format!("HANDLE {w} ")))
        .collect();
    assert!(
        handles.iter().all(|h| !h.is_empty() && h.len() <= 63),
        "[{kind}] handles {handles:?}"
    );
    handles.sort();
    handles.dedup();
    assert_eq!(
        handles.len(),
        6,
        "[{kind}] handles must be distinct: {handles:?}"
    );

    assert_eq!(
        s.admin("prioritystatus"),
        strings(&["prio\t2\t2\t2\t0"]),
        "[{kind}]"
    );
    assert_eq!(s.function_status("prio"), Some((6, 0, 0)), "[{kind}]");

    let w = s.php("worker.php", &["--fn", "prio:echo", "--count", "6"]);
    assert_lines(
        kind,
        &w,
        &[
            "JOB prio H1",
            "JOB prio H2",
            "JOB prio N1",
            "JOB prio N2",
            "JOB prio L1",
            "JOB prio L2",
            "DONE 6",
        ],
    );
    s.wait_status("prio", (0, 0, 0));
}

/// addTaskHigh/addTask/addTaskLow queued before any worker exists are served by priority, and
/// every foreground client gets its own result.
fn php_foreground_tasks_served_high_normal_low(kind: Kind) {
    if !require_php() {
        return;
    }
    let s = Server::start(kind, &[]);
    let client = s.spawn_php(
        "tasks.php",
        &[
            "fgprio",
            "low:L1",
            "normal:N1",
            "high:H1",
            "low:L2",
            "normal:N2",
            "high:H2",
        ],
    );
    s.wait_for("6 queued foreground jobs", |s| {
        s.admin("prioritystatus") == strings(&["fgprio\t2\t2\t2\t0"])
    });
    let w = s.php("worker.php", &["--fn", "fgprio:reverse", "--count", "6"]);
    assert!(w.success(), "[{kind}] {w}");
    // libgearman submits the tasks of one runTasks() in its own order, so only the priority
    // classes are compared, not the order inside a class.
    let classes: Vec<char> = w
        .lines()
        .iter()
        .filter_map(|l| l.strip_prefix("JOB fgprio "))
        .map(|wl| wl.chars().next().unwrap_or('?'))
        .collect();
    assert_eq!(
        classes,
        vec!['H', 'H', 'N', 'N', 'L', 'L'],
        "[{kind}] worker order:\n{w}"
    );
    let out = client.wait(PROC_TIMEOUT);
    assert_lines(
        kind,
        &out,
        &[
            "complete H1 1H",
            "complete H2 2H",
            "complete L1 1L",
            "complete L2 2L",
            "complete N1 1N",
            "complete N2 2N",
            "runTasks ok GEARMAN_SUCCESS",
        ],
    );
}

/// Two addTask() with the same unique on one client: one job, one execution, both tasks get
/// every packet (status and complete); jobStatusByUniqueKey sees it running, then unknown.
fn php_unique_coalesces_tasks_on_one_client(kind: Kind) {
    if !require_php() {
        return;
    }
    let s = Server::start(kind, &[]);
    let gate = Gate::new();
    let worker = s.spawn_php(
        "worker.php",
        &[
            "--fn",
            "coalesce:gated",
            "--gate",
            &gate.path(),
            "--count",
            "1",
        ],
    );
    let out = s.php("coalesce.php", &["coalesce", "same-unique", &gate.path()]);
    // libgearman sends the second SUBMIT_JOB only after the first JOB_CREATED, so on a busy
    // machine the worker's WORK_STATUS can reach the client before the second task has joined
    // the job; that task then (rightly) never sees it. Both orders are correct; anything else
    // (a second job, a lost completion) is not.
    let joined_first = [
        "created same-unique",
        "created same-unique",
        "status same-unique 1/2",
        "by-unique while running: known=1 running=1 num=1 den=2",
        "status same-unique 1/2",
    ];
    let joined_late = [
        "created same-unique",
        "status same-unique 1/2",
        "by-unique while running: known=1 running=1 num=1 den=2",
        "created same-unique",
    ];
    let head: &[&str] = if out.lines().get(1).map(String::as_str) == Some(joined_late[1]) {
        &joined_late
    } else {
        &joined_first
    };
    let tail = [
        "complete same-unique gated:payload",
        "complete same-unique gated:payload",
        "runTasks ok GEARMAN_SUCCESS",
        "same handle: yes",
        "by-unique after: known=0 running=0 num=0 den=0",
    ];
    let expected: Vec<&str> = head.iter().chain(tail.iter()).copied().collect();
    assert_lines(kind, &out, &expected);
    let w = worker.wait(PROC_TIMEOUT);
    assert_lines(kind, &w, &["JOB coalesce payload", "DONE 1"]);
    s.wait_status("coalesce", (0, 0, 0));
}

/// jobStatus and jobStatusByUniqueKey of a background job: queued, running (with progress),
/// then unknown once done; a second doBackground with the same unique returns the same handle.
fn php_job_status_of_background_job(kind: Kind) {
    if !require_php() {
        return;
    }
    let s = Server::start(kind, &[]);
    let unique = "bg-status-1";
    let sub = s.php(
        "submit_bg.php",
        &[
            "bgstat",
            "normal:first:bg-status-1",
            "normal:second:bg-status-1",
        ],
    );
    assert!(sub.success(), "[{kind}] {sub}");
    let handle = field_after(&sub, "HANDLE first ");
    assert!(!handle.is_empty(), "[{kind}] no handle:\n{sub}");
    assert_eq!(
        field_after(&sub, "HANDLE second "),
        handle,
        "[{kind}] same unique, same job"
    );
    assert_eq!(s.function_status("bgstat"), Some((1, 0, 0)), "[{kind}]");

    let queued = s.php("status.php", &[&handle, unique, "now"]);
    assert_lines(
        kind,
        &queued,
        &[
            "handle known=1 running=0 num=0 den=0",
            "unique known=1 running=0 num=0 den=0",
        ],
    );

    let gate = Gate::new();
    let worker = s.spawn_php(
        "worker.php",
        &[
            "--fn",
            "bgstat:gated",
            "--gate",
            &gate.path(),
            "--count",
            "1",
        ],
    );
    let running = s.php("status.php", &[&handle, unique, "running"]);
    assert_lines(
        kind,
        &running,
        &[
            "handle known=1 running=1 num=1 den=2",
            "unique known=1 running=1 num=1 den=2",
        ],
    );
    gate.open();
    assert_lines(
        kind,
        &worker.wait(PROC_TIMEOUT),
        &["JOB bgstat first", "DONE 1"],
    );

    let gone = s.php("status.php", &[&handle, unique, "gone"]);
    assert_lines(
        kind,
        &gone,
        &[
            "handle known=0 running=0 num=0 den=0",
            "unique known=0 running=0 num=0 den=0",
        ],
    );
    let never = s.php(
        "status.php",
        &["H:no-such-host:4242", "no-such-unique", "now"],
    );
    assert_lines(
        kind,
        &never,
        &[
            "handle known=0 running=0 num=0 den=0",
            "unique known=0 running=0 num=0 den=0",
        ],
    );
}

/// addTask/runTasks with every callback; the worker uses sendData, sendWarning, sendStatus and
/// sendComplete/sendFail/sendException.
fn php_task_callbacks(kind: Kind) {
    if !require_php() {
        return;
    }
    let s = Server::start(kind, &[]);
    let worker = s.spawn_php("worker.php", &["--fn", "cb:callbacks", "--count", "4"]);
    let out = s.php(
        "callbacks.php",
        &["cb", "complete", "fail", "exception", "plain"],
    );
    assert_lines(
        kind,
        &out,
        &[
            "complete: created | data d:complete | warning w:complete | status 1/2 | complete done:complete",
            "exception: created | data d:exception | warning w:exception | status 1/2 | exception ex:exception",
            "fail: created | data d:fail | warning w:fail | status 1/2 | fail",
            "plain: created | data d:plain | warning w:plain | status 1/2 | complete ret:plain",
            "runTasks ok GEARMAN_SUCCESS",
        ],
    );
    let w = worker.wait(PROC_TIMEOUT);
    assert!(w.success(), "[{kind}] {w}");
    assert_eq!(
        w.sorted_lines(),
        strings(&[
            "DONE 4",
            "JOB cb complete",
            "JOB cb exception",
            "JOB cb fail",
            "JOB cb plain"
        ]),
        "[{kind}] {w}"
    );
}

/// addFunction() with a 1500 ms timeout (CAN_DO_TIMEOUT, milliseconds since gearmand 1.1.19):
/// worker A holds the job past it, the server requeues the job, worker B runs it and the client
/// gets B's result. A's late WORK_COMPLETE must not reach the client.
fn php_worker_timeout_requeues_job_to_another_worker(kind: Kind) {
    if !require_php() {
        return;
    }
    // gearmand quirk (not in PROTOCOL.md): with its default 4 I/O threads, the requeue done by
    // the CAN_DO_TIMEOUT timer apparently does not wake a sleeping worker whose connection lives
    // on another I/O thread; under load B then sleeps until its own timeout (observed in 4 of
    // 6 parallel runs). With one I/O thread the oracle is deterministic.
    let oracle_args: &[&str] = if kind == Kind::Gearmand {
        &["-t", "1"]
    } else {
        &[]
    };
    let s = Server::start(kind, oracle_args);
    let a = s.spawn_php(
        "worker.php",
        &[
            "--fn",
            "slow:sleep:1500",
            "--tag",
            "A",
            "--count",
            "1",
            "--idle",
            "15000",
        ],
    );
    s.wait_workers("slow", 1);
    let client = s.spawn_php("do.php", &["slow", "4"]);
    s.wait_running("slow", 1);
    assert!(
        a.wait_stdout_contains("JOB slow 4", STATE_TIMEOUT),
        "[{kind}] A never got the job"
    );
    let b = s.spawn_php(
        "worker.php",
        &["--fn", "slow:tagged", "--tag", "B", "--count", "1"],
    );
    let out = client.wait(PROC_TIMEOUT);
    assert_lines(kind, &out, &["result B:4 GEARMAN_SUCCESS"]);
    assert_lines(kind, &b.wait(PROC_TIMEOUT), &["JOB slow 4", "DONE 1"]);
    let a_out = a.wait(PROC_TIMEOUT);
    assert_eq!(
        a_out.lines().first().map(String::as_str),
        Some("JOB slow 4"),
        "[{kind}] {a_out}"
    );
    s.wait_status("slow", (0, 0, 0));
}

/// WORK_EXCEPTION with the exceptions option on (the extension always requests it, with or
/// without setOptions(GEARMAN_CLIENT_EXCEPTION)): doNormal returns GEARMAN_WORK_EXCEPTION and
/// the exception callback gets the data; no fail callback.
fn php_exceptions_reach_exception_callback(kind: Kind) {
    if !require_php() {
        return;
    }
    let s = Server::start(kind, &[]);
    let worker = s.spawn_php("worker.php", &["--fn", "exc:callbacks", "--count", "4"]);
    let out = s.php("exception.php", &["exc"]);
    assert_lines(
        kind,
        &out,
        &[
            "default doNormal result='' GEARMAN_WORK_EXCEPTION",
            "default task exception ex:exception",
            "default runTasks ok",
            "option doNormal result='' GEARMAN_WORK_EXCEPTION",
            "option task exception ex:exception",
            "option runTasks ok",
        ],
    );
    assert!(
        worker.wait(PROC_TIMEOUT).success(),
        "[{kind}] worker failed"
    );
    s.wait_status("exc", (0, 0, 0));
}

/// ECHO_REQ from a client (text, binary with NULs, 100 KB) and from a worker.
fn php_echo(kind: Kind) {
    if !require_php() {
        return;
    }
    let s = Server::start(kind, &[]);
    let out = s.php("echo.php", &[]);
    assert_lines(
        kind,
        &out,
        &[
            "client ping text: true",
            "client ping binary: true",
            "client ping 100k: true",
            "worker ping: true",
        ],
    );
}

/// GearmanWorker::setId is shown by `gearadmin --workers` with the worker's functions.
fn php_worker_client_id_in_gearadmin_workers(kind: Kind) {
    if !require_php() || !require("gearadmin") {
        return;
    }
    let s = Server::start(kind, &[]);
    let worker = s.spawn_php(
        "worker.php",
        &[
            "--fn",
            "idfn1:echo",
            "--fn",
            "idfn2:echo",
            "--id",
            "php-worker-7",
            "--idle",
            "15000",
        ],
    );
    s.wait_for("php-worker-7 registered for idfn1 and idfn2", |s| {
        s.admin("workers")
            .iter()
            .any(|l| l.contains(" php-worker-7 :") && l.contains(" idfn1") && l.contains(" idfn2"))
    });
    let out = s.gearadmin(&["--workers"]);
    assert!(out.success(), "[{kind}] {out}");
    let line = out
        .stdout
        .lines()
        .find(|l| l.split(' ').nth(2) == Some("php-worker-7"))
        .unwrap_or_else(|| panic!("[{kind}] no workers line for php-worker-7:\n{out}"));
    let f: Vec<&str> = line.split(' ').collect();
    assert!(f[0].parse::<u64>().is_ok(), "[{kind}] fd field in {line:?}");
    assert_eq!(f[1], "127.0.0.1", "[{kind}] {line:?}");
    assert_eq!(f[3], ":", "[{kind}] {line:?}");
    assert_eq!(
        sorted(&f[4..]),
        strings(&["idfn1", "idfn2"]),
        "[{kind}] {line:?}"
    );
    drop(worker);
}

/// Issue 9: foreground and background tasks of every priority in one runTasks(), against a
/// worker that answers at once. gearboxd once sent a foreground job's WORK_COMPLETE before its
/// JOB_CREATED (which waited behind the commit of the background jobs submitted before it);
/// libgearman dropped the result and waited for ever. Every store mode of gearboxd is tried.
fn php_foreground_and_background_tasks_in_one_run_tasks(kind: Kind) {
    if !require_php() {
        return;
    }
    let modes: &[&[&str]] = match kind {
        Kind::Gearmand => &[&[]],
        Kind::Gearboxd => &[&[], &["-q", "memory"], &["--resident-jobs", "2"]],
    };
    let rounds = 3;
    let mut tasks = vec!["mixed".to_owned(), "--created".to_owned()];
    let mut expected = Vec::new();
    for round in 1..=rounds {
        for kind in ["normal", "normal_bg", "high", "high_bg", "low", "low_bg"] {
            tasks.push(format!("{kind}:{round}-{kind}"));
            expected.push(format!("created {round}-{kind}"));
            if !kind.ends_with("_bg") {
                expected.push(format!("complete {round}-{kind} {round}-{kind}"));
            }
        }
    }
    expected.sort();
    expected.push("runTasks ok GEARMAN_SUCCESS".to_owned());
    let tasks: Vec<&str> = tasks.iter().map(String::as_str).collect();
    for args in modes {
        let s = Server::start(kind, args);
        let worker = s.spawn_php("worker.php", &["--fn", "mixed:echo", "--idle", "3000"]);
        s.wait_workers("mixed", 1);
        let out = s.php("tasks.php", &tasks);
        assert_eq!(out.lines(), expected, "[{kind} {args:?}] {out}");
        // Every background job ran too, once.
        let w = worker.wait(PROC_TIMEOUT);
        let mut ran = w.lines();
        ran.retain(|l| l.starts_with("JOB "));
        assert_eq!(ran.len(), 6 * rounds, "[{kind} {args:?}] worker:\n{w}");
        s.wait_status("mixed", (0, 0, 0));
    }
}

/// Gearbox's kept results and epoch jobs through an unchanged PECL client: a job submitted
/// with `doBackground` and run by a PECL worker has its result read back with the admin
/// `result HANDLE`, and an epoch job shows in `show scheduled` (gearboxd only: gearmand keeps
/// neither).
#[test]
fn php_reads_a_kept_result_and_sees_its_epoch_job_scheduled() {
    if !require_php() {
        return;
    }
    let dir = TempDir::new("php-kept");
    let config = dir.path().join("gearbox.toml");
    std::fs::write(&config, "[functions.\"reverse\"]\nkeep_results = \"1h\"\n").unwrap();
    let s = Server::start(Kind::Gearboxd, &["--config", config.to_str().unwrap()]);
    let worker = s.spawn_php("worker.php", &["--fn", "reverse:reverse", "--count", "1"]);
    let out = s.php("kept_result.php", &["reverse"]);
    assert_lines(
        Kind::Gearboxd,
        &out,
        &[
            "SUBMITTED GEARMAN_SUCCESS",
            "RESULT complete 5 olleh",
            "EPOCH CREATED",
            "SCHEDULED php-epoch",
        ],
    );
    let w = worker.wait(PROC_TIMEOUT);
    assert_lines(Kind::Gearboxd, &w, &["JOB reverse hello", "DONE 1"]);
}
