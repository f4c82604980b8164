//! Interop scenarios driven by the pure-Perl CPAN `Gearman::Client` / `Gearman::Worker` 2.004
//! (libgearman-client-perl). Scripts live in gearbox-testkit's `clients/perl/`.
//!
//! `Gearman::Worker` uses the oldest worker dialect (GRAB_JOB / JOB_ASSIGN, seconds-free
//! CAN_DO, SET_CLIENT_ID before every registration) and `Gearman::Client` does not ask for
//! exceptions unless told to, so these scenarios cover paths the PHP extension never takes.
//! Every scenario runs against gearmand 1.1.20 (the oracle) and gearboxd.

use gearbox_testkit::*;

both_servers!(
    perl_do_task,
    perl_dispatch_background_and_get_status,
    perl_task_set_callbacks,
    perl_and_php_interoperate,
    perl_exceptions,
    perl_worker_survives_die,
);

/// Gearman::Client::do_task against a Gearman::Worker (register_function + work).
fn perl_do_task(kind: Kind) {
    if !require_perl() {
        return;
    }
    let s = Server::start(kind, &[]);
    let worker = s.spawn_perl("worker.pl", &["--fn", "p_reverse:reverse", "--count", "1"]);
    let out = s.perl("client.pl", &["do_task", "p_reverse", "hello world"]);
    assert_lines(kind, &out, &["result dlrow olleh"]);
    assert_lines(
        kind,
        &worker.wait(PROC_TIMEOUT),
        &["JOB p_reverse hello world", "DONE 1"],
    );
    s.wait_status("p_reverse", (0, 0, 0));
}

/// dispatch_background, then get_status while queued, while running (with progress from
/// Gearman::Job::set_status) and after completion.
fn perl_dispatch_background_and_get_status(kind: Kind) {
    if !require_perl() {
        return;
    }
    let s = Server::start(kind, &[]);
    let sub = s.perl(
        "client.pl",
        &["background", "p_bg", "arg1", "perl-unique-1"],
    );
    assert!(sub.success(), "[{kind}] {sub}");
    assert_eq!(
        lines_without(&sub, "HANDLE "),
        strings(&["dispatched ok", "known=1 running=0 progress=0/0"]),
        "[{kind}] {sub}"
    );
    let handle = field_after(&sub, "HANDLE ");
    assert_eq!(s.function_status("p_bg"), Some((1, 0, 0)), "[{kind}]");
    assert_eq!(
        s.admin("show unique jobs"),
        strings(&["perl-unique-1"]),
        "[{kind}]"
    );

    let gate = Gate::new();
    let worker = s.spawn_perl(
        "worker.pl",
        &[
            "--fn",
            "p_bg:status",
            "--gate",
            &gate.path(),
            "--count",
            "1",
        ],
    );
    let running = s.perl("client.pl", &["status", &handle, "running"]);
    assert_lines(kind, &running, &["known=1 running=1 progress=1/2"]);
    gate.open();
    assert_lines(
        kind,
        &worker.wait(PROC_TIMEOUT),
        &["JOB p_bg arg1", "DONE 1"],
    );
    let gone = s.perl("client.pl", &["status", &handle, "gone"]);
    assert_lines(kind, &gone, &["known=0 running=0 progress=0/0"]);
    s.wait_status("p_bg", (0, 0, 0));
}

/// A task set with on_complete, on_fail, on_status and on_data handlers.
fn perl_task_set_callbacks(kind: Kind) {
    if !require_perl() {
        return;
    }
    let s = Server::start(kind, &[]);
    let worker = s.spawn_perl(
        "worker.pl",
        &[
            "--fn",
            "p_reverse:reverse",
            "--fn",
            "p_status:status",
            "--fn",
            "p_fail:fail",
            "--count",
            "4",
        ],
    );
    let out = s.perl("client.pl", &["taskset"]);
    assert_lines(
        kind,
        &out,
        &[
            "abc: complete cba",
            "f1: fail",
            "hello: complete olleh",
            "s1: data d:s1 | status 1/2 | complete status:s1",
        ],
    );
    let w = worker.wait(PROC_TIMEOUT);
    assert!(w.success(), "[{kind}] {w}");
    assert_eq!(
        w.sorted_lines(),
        strings(&[
            "DONE 4",
            "JOB p_fail f1",
            "JOB p_reverse abc",
            "JOB p_reverse hello",
            "JOB p_status s1"
        ]),
        "[{kind}] {w}"
    );
}

/// A PHP client served by a Perl worker (GRAB_JOB/JOB_ASSIGN) and a Perl client served by a
/// PHP worker (GRAB_JOB_ALL/JOB_ASSIGN_UNIQ).
fn perl_and_php_interoperate(kind: Kind) {
    if !require_perl() || !require_php() {
        return;
    }
    let s = Server::start(kind, &[]);
    let perl_worker = s.spawn_perl("worker.pl", &["--fn", "to_perl:reverse", "--count", "1"]);
    assert_lines(
        kind,
        &s.php("do.php", &["to_perl", "from php"]),
        &["result php morf GEARMAN_SUCCESS"],
    );
    assert_lines(
        kind,
        &perl_worker.wait(PROC_TIMEOUT),
        &["JOB to_perl from php", "DONE 1"],
    );

    let php_worker = s.spawn_php("worker.php", &["--fn", "to_php:reverse", "--count", "1"]);
    assert_lines(
        kind,
        &s.perl("client.pl", &["do_task", "to_php", "from perl"]),
        &["result lrep morf"],
    );
    assert_lines(
        kind,
        &php_worker.wait(PROC_TIMEOUT),
        &["JOB to_php from perl", "DONE 1"],
    );
}

/// WORK_EXCEPTION from a (PHP) worker: a Perl client that set `exceptions => 1` gets
/// on_exception with the data; one that did not gets on_fail.
fn perl_exceptions(kind: Kind) {
    if !require_perl() || !require_php() {
        return;
    }
    let s = Server::start(kind, &[]);
    let with = s.spawn_php("worker.php", &["--fn", "p_exc:exception", "--count", "1"]);
    let out = s.perl("client.pl", &["exception", "p_exc", "boom", "1"]);
    assert_lines(kind, &out, &["events: exception ex:boom"]);
    assert!(with.wait(PROC_TIMEOUT).success(), "[{kind}] worker failed");

    // [G-bug] gearmand converts WORK_EXCEPTION into a WORK_FAIL whose handle carries a trailing
    // NUL (PROTOCOL.md §5.6); Gearman::Client then croaks "Got work_fail for unknown handle".
    // The correct behaviour (plain WORK_FAIL ⇒ on_fail) is asserted for gearboxd only.
    if kind == Kind::Gearboxd {
        let without = s.spawn_php("worker.php", &["--fn", "p_exc:exception", "--count", "1"]);
        let out = s.perl("client.pl", &["exception", "p_exc", "boom", "0"]);
        assert_lines(kind, &out, &["events: fail"]);
        assert!(
            without.wait(PROC_TIMEOUT).success(),
            "[{kind}] worker failed"
        );
    }
    s.wait_status("p_exc", (0, 0, 0));
}

/// A Gearman::Worker handler that dies makes the library send WORK_EXCEPTION *and then*
/// WORK_FAIL for the same handle. The exception reaches an opted-in client; the worker must keep
/// working afterwards.
fn perl_worker_survives_die(kind: Kind) {
    if !require_perl() {
        return;
    }
    let s = Server::start(kind, &[]);
    let worker = s.spawn_perl(
        "worker.pl",
        &[
            "--fn",
            "p_die:die",
            "--fn",
            "p_rev:reverse",
            "--id",
            "dier",
            "--count",
            "2",
        ],
    );
    let out = s.perl("client.pl", &["exception", "p_die", "x", "1"]);
    assert_lines(kind, &out, &["events: exception <binary>"]);
    // PROTOCOL.md §11 [R]: gearboxd silently drops a WORK_FAIL that immediately follows a
    // WORK_EXCEPTION for the same handle from the same worker. gearmand answers it with
    // ERROR JOB_NOT_FOUND, which Gearman::Worker reads as the reply to its next GRAB_JOB and
    // dies on ("unexpected packet type: error"); so the follow-up job is checked on gearboxd only.
    if kind == Kind::Gearboxd {
        let second = s.perl("client.pl", &["do_task", "p_rev", "abc"]);
        assert_lines(kind, &second, &["result cba"]);
        assert_lines(
            kind,
            &worker.wait(PROC_TIMEOUT),
            &["JOB p_die x", "JOB p_rev abc", "DONE 2"],
        );
    }
}
