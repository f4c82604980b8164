//! Deliberate differences ([G-bug] / [R] items): each server's own answer, asserted
//! explicitly, next to a few neighbouring exchanges where both servers agree.

use std::time::Duration;

use gearbox_proto::PacketType as T;
use gearbox_testkit::differential::{each, each_with, handle_of, line_str, wait_status, Session};
use gearbox_testkit::wire::{req, Conn};
use gearbox_testkit::{server_available, Kind, Server};

/// `version`: gearmand (Debian build) answers `OK 1.1.20+ds`; gearboxd a plain dotted number
/// that compares as ≥ 1.1.19 ([R]).
#[test]
fn difference_version_text() {
    each(|s| {
        let mut a = s.conn();
        let answer = a.admin_line("version");
        let expected: &[u8] = if s.gearmand() {
            b"OK 1.1.20+ds\n"
        } else {
            b"OK 1.1.20\n"
        };
        assert_eq!(line_str(&answer), line_str(expected));
        // Extra arguments are ignored.
        assert_eq!(a.admin_line("version x"), expected);
    });
}

/// 1.1.x gearmand NOOPs a sleeping worker at once for a not-yet-due epoch job and never when
/// it becomes due ([G-bug]); gearboxd NOOPs only when the job is due ([R]). Both hand the job
/// out only after its time.
#[test]
fn difference_epoch_job_wakes_sleeping_worker_when_due() {
    each(|s| {
        let mut c = s.conn();
        let mut w = s.conn();
        w.send_req(T::CanDo, &[b"f"]);
        assert!(w.request_req(T::GrabJob, &[])[0].is(T::NoJob));
        w.send_req(T::PreSleep, &[]);
        assert!(w.sync().is_empty());
        let due = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs()
            + 2;
        let created = c.request_req(
            T::SubmitJobEpoch,
            &[b"f", b"", due.to_string().as_bytes(), b"later"],
        );
        assert!(created[0].is(T::JobCreated));
        let early = w.sync();
        if s.gearmand() {
            assert_eq!(early.len(), 1, "gearmand wakes at submission");
            assert!(early[0].is(T::Noop));
            // Not due yet: nothing to grab.
            assert!(w.request_req(T::GrabJob, &[])[0].is(T::NoJob));
            w.send_req(T::PreSleep, &[]);
            // No NOOP when the time comes.
            let late = w.drain_for(Duration::from_secs(4));
            assert!(late.is_empty(), "{late:?}");
        } else {
            assert!(early.is_empty(), "{early:?}");
            let wake = w.recv();
            assert!(wake.is(T::Noop), "{}", wake.describe());
        }
        let assign = w.request_req(T::GrabJob, &[]);
        assert!(assign[0].is(T::JobAssign), "{}", assign[0].describe());
        assert_eq!(assign[0].args()[2], b"later");
    });
}

/// A worker with two functions: gearmand 1.1 scans its functions in registration order (most
/// recent first) and serves the first one with any job, so a low job can beat a high one; gearboxd
/// serves priority across all of the worker's functions ([R], gearmand 2.0 semantics).
#[test]
fn difference_priority_across_functions() {
    each(|s| {
        let mut c = s.conn();
        c.request_req(T::SubmitJobLowBg, &[b"a", b"", b"a-low"]);
        c.request_req(T::SubmitJobHighBg, &[b"b", b"", b"b-high"]);
        c.request_req(T::SubmitJobBg, &[b"a", b"", b"a-normal"]);
        let mut w = s.conn();
        // Registered b first, then a: gearmand looks at a first.
        w.send_req(T::CanDo, &[b"b"]);
        w.send_req(T::CanDo, &[b"a"]);
        let order: Vec<Vec<u8>> = (0..3)
            .map(|_| w.request_req(T::GrabJob, &[])[0].args()[2].clone())
            .collect();
        let expected: [&[u8]; 3] = if s.gearmand() {
            [b"a-normal", b"a-low", b"b-high"]
        } else {
            [b"b-high", b"a-normal", b"a-low"]
        };
        assert_eq!(order, expected.map(<[u8]>::to_vec));
    });
}

/// CAN_DO of the same function twice: gearmand keeps two registrations (counted twice in
/// `status`, listed twice in `workers`); gearboxd de-duplicates ([R]).
#[test]
fn difference_can_do_same_function_twice() {
    each(|s| {
        let mut w = s.conn();
        w.send_req(T::CanDo, &[b"f"]);
        w.send_req(T::CanDo, &[b"f"]);
        w.send_req(T::CanDoTimeout, &[b"f", b"5000"]);
        w.sync();
        let mut a = s.conn();
        let status = a.admin_list("status");
        let workers = a.admin_list("workers");
        let worker_line = workers
            .iter()
            .map(|l| line_str(l))
            .find(|l| l.contains(": f"))
            .unwrap()
            .split_once(' ')
            .unwrap()
            .1
            .to_owned();
        if s.gearmand() {
            assert_eq!(status, [b"f\t0\t0\t3\n".to_vec(), b".\n".to_vec()]);
            assert_eq!(worker_line, "127.0.0.1 - : f f f\n");
        } else {
            assert_eq!(status, [b"f\t0\t0\t1\n".to_vec(), b".\n".to_vec()]);
            assert_eq!(worker_line, "127.0.0.1 - : f\n");
        }
        // CANT_DO removes every registration on both.
        w.send_req(T::CantDo, &[b"f"]);
        w.sync();
        assert_eq!(
            a.admin_list("status"),
            [b"f\t0\t0\t0\n".to_vec(), b".\n".to_vec()]
        );
    });
}

/// A trailing NUL on CAN_DO's function name: gearmand registers a different function `f\0`
/// ([G]); gearboxd strips one trailing NUL from identifiers ([R]), so the worker gets `f` jobs.
#[test]
fn difference_can_do_with_trailing_nul() {
    each(|s| {
        let mut w = s.conn();
        let mut c = s.conn();
        w.send_req(T::CanDo, &[b"f\0"]);
        c.request_req(T::SubmitJobBg, &[b"f", b"", b"x"]);
        let got = w.request_req(T::GrabJob, &[]);
        if s.gearmand() {
            assert!(got[0].is(T::NoJob), "{}", got[0].describe());
        } else {
            assert!(got[0].is(T::JobAssign), "{}", got[0].describe());
        }
    });
}

/// `cancel job` twice: gearmand answers OK again and re-sends WORK_FAIL ([G-bug]); gearboxd
/// removed the job at the first cancel, so the second gets `ERR UNKNOWN_JOB` ([R]). gearmand
/// also keeps cancelled jobs in `status` totals until a worker would pull them.
#[test]
fn difference_cancel_job_twice() {
    each(|s| {
        let mut a = s.conn();
        let mut c = s.conn();
        let h = handle_of(&c.request_req(T::SubmitJob, &[b"f", b"", b"x"]));
        let line = format!("cancel job {}", String::from_utf8(h.clone()).unwrap());
        assert_eq!(a.admin_line(&line), b"OK\r\n");
        let fail = c.recv();
        assert!(fail.is(T::WorkFail) && fail.packet().body.as_ref() == h.as_slice());
        let status = a.admin_list("status");
        if s.gearmand() {
            assert_eq!(a.admin_line(&line), b"OK\r\n");
            let again = c.recv();
            assert!(again.is(T::WorkFail), "{}", again.describe());
            assert_eq!(status, [b"f\t1\t0\t0\n".to_vec(), b".\n".to_vec()]);
        } else {
            assert_eq!(a.admin_line(&line), b"ERR UNKNOWN_JOB\r\n");
            assert!(c.sync().is_empty());
            assert_eq!(status, [b"f\t0\t0\t0\n".to_vec(), b".\n".to_vec()]);
        }
    });
}

/// Cancelling a running job: both send WORK_FAIL to the client. gearmand leaves the client
/// attached, so the worker's later WORK_COMPLETE reaches it too (two terminal packets,
/// [G-bug]); gearboxd detaches it and answers the worker's late result with JOB_NOT_FOUND.
#[test]
fn difference_cancel_running_job_then_late_result() {
    each(|s| {
        let mut a = s.conn();
        let mut c = s.conn();
        let mut w = s.conn();
        let h = handle_of(&c.request_req(T::SubmitJob, &[b"f", b"", b"x"]));
        w.send_req(T::CanDo, &[b"f"]);
        assert!(w.request_req(T::GrabJob, &[])[0].is(T::JobAssign));
        let line = format!("cancel job {}", String::from_utf8(h.clone()).unwrap());
        assert_eq!(a.admin_line(&line), b"OK\r\n");
        assert!(c.recv().is(T::WorkFail));
        let late = w.request_req(T::WorkComplete, &[&h, b"late"]);
        if s.gearmand() {
            assert!(late.is_empty(), "{late:?}");
            let second = c.recv();
            assert!(second.is(T::WorkComplete), "{}", second.describe());
        } else {
            assert_eq!(late.len(), 1);
            assert_eq!(late[0].args()[0], b"JOB_NOT_FOUND");
            assert!(c.sync().is_empty());
        }
    });
}

/// `create function x` with a bare LF: gearmand computes the name length assuming CRLF and
/// loses the last character ([G-bug]); gearboxd creates `x` as typed.
#[test]
fn difference_create_function_with_bare_lf() {
    each(|s| {
        let mut a = s.conn();
        assert_eq!(a.admin_line("create function abcd"), b"OK\r\n");
        a.send(b"create function wxyz\r\n");
        assert_eq!(a.recv_line(), b"OK\r\n");
        let status: Vec<Vec<u8>> = {
            let mut l = a.admin_list("status");
            l.sort();
            l
        };
        if s.gearmand() {
            assert_eq!(
                status,
                [
                    b".\n".to_vec(),
                    b"abc\t0\t0\t0\n".to_vec(),
                    b"wxyz\t0\t0\t0\n".to_vec()
                ]
            );
        } else {
            assert_eq!(
                status,
                [
                    b".\n".to_vec(),
                    b"abcd\t0\t0\t0\n".to_vec(),
                    b"wxyz\t0\t0\t0\n".to_vec()
                ]
            );
        }
    });
}

/// `drop function` while the function still has queued jobs: gearmand drops it and orphans
/// the jobs ([G-bug]); gearboxd refuses with the "still connected workers or executing clients"
/// error ([R]).
#[test]
fn difference_drop_function_with_queued_jobs() {
    each(|s| {
        let mut a = s.conn();
        let mut c = s.conn();
        c.request_req(T::SubmitJobBg, &[b"f", b"", b"x"]);
        let answer = a.admin_line("drop function f");
        let status = a.admin_list("status");
        if s.gearmand() {
            assert_eq!(answer, b"OK\r\n");
            assert_eq!(status, [b".\n".to_vec()]);
        } else {
            assert_eq!(
                line_str(&answer),
                "ERR there are still connected workers or executing clients\r\n"
            );
            assert_eq!(status, [b"f\t1\t0\t0\n".to_vec(), b".\n".to_vec()]);
        }
    });
}

/// `maxqueue` for a function that does not exist: gearmand answers OK and does nothing
/// ([G]); gearboxd creates the function, so the limit holds for later jobs ([R]).
#[test]
fn difference_maxqueue_for_unknown_function() {
    each(|s| {
        let mut a = s.conn();
        let mut c = s.conn();
        assert_eq!(a.admin_line("maxqueue f 1"), b"OK\r\n");
        let status = a.admin_list("status");
        c.request_req(T::SubmitJobBg, &[b"f", b"", b"1"]);
        let second = c.request_req(T::SubmitJobBg, &[b"f", b"", b"2"]);
        if s.gearmand() {
            assert_eq!(status, [b".\n".to_vec()]);
            assert!(second[0].is(T::JobCreated));
        } else {
            assert_eq!(status, [b"f\t0\t0\t0\n".to_vec(), b".\n".to_vec()]);
            assert_eq!(
                second[0].args(),
                [b"QUEUE_ERROR".to_vec(), b"Job queue is full".to_vec()]
            );
        }
    });
}

/// Admin lines of six or more tokens: gearmand closes the connection; gearboxd answers
/// `ERR INVALID_ARGUMENTS Too+many+arguments+were+sent+in+one+line` and keeps it ([R]).
#[test]
fn difference_six_token_admin_lines() {
    each(|s| {
        for line in ["status a b c d e", "a b c d e f", "maxqueue f 1 2 3 4"] {
            let mut a = s.conn();
            a.send(format!("{line}\r\n").as_bytes());
            if s.gearmand() {
                let before = a.expect_closed();
                assert!(before.is_empty(), "{before:?}");
            } else {
                assert_eq!(
                    line_str(&a.recv_line()),
                    "ERR INVALID_ARGUMENTS Too+many+arguments+were+sent+in+one+line\r\n"
                );
                assert_eq!(a.admin_list("status"), [b".\n".to_vec()]);
            }
        }
        // Five tokens are fine on both.
        let mut a = s.conn();
        assert_eq!(a.admin_line("maxqueue f 1 2 3"), b"OK\r\n");
    });
}

/// The admin `shutdown` was removed from gearmand 1.1.15 (unknown command); gearboxd keeps it
/// for loopback peers ([R]) and stops.
#[test]
fn difference_shutdown_command() {
    each(|s| {
        let mut a = s.conn();
        if s.gearmand() {
            assert_eq!(
                line_str(&a.admin_line("shutdown")),
                "ERR UNKNOWN_COMMAND Unknown+server+commandshutdown\r\n"
            );
            assert_eq!(
                line_str(&a.admin_line("shutdown graceful")),
                "ERR UNKNOWN_COMMAND Unknown+server+commandshutdown\r\n"
            );
        } else {
            assert_eq!(a.admin_line("shutdown"), b"OK\r\n");
            a.expect_closed();
        }
    });
}

/// A foreground job whose only client disconnects before it runs: gearmand keeps it
/// (abandoned) in `status` totals and `show jobs` until a worker would pull it ([G]);
/// gearboxd removes it at once ([R]). Neither hands it to a worker.
#[test]
fn difference_abandoned_foreground_job() {
    each(|s| {
        let mut a = s.conn();
        {
            let mut c = s.conn();
            c.request_req(T::SubmitJob, &[b"f", b"u", b"x"]);
        }
        if s.gearmand() {
            // Give it time to notice the close; nothing changes anyway.
            std::thread::sleep(Duration::from_millis(300));
            let status = a.admin_list("status");
            assert_eq!(status, [b"f\t1\t0\t0\n".to_vec(), b".\n".to_vec()]);
        } else {
            wait_status(&mut a, "f", "0\t0\t0");
        }
        let mut w = s.conn();
        w.send_req(T::CanDo, &[b"f"]);
        assert!(w.request_req(T::GrabJob, &[])[0].is(T::NoJob));
        assert_eq!(
            a.admin_list("status"),
            [b"f\t0\t0\t1\n".to_vec(), b".\n".to_vec()]
        );
    });
}

/// `show jobs`, fourth column: gearmand prints 1 for background jobs, which it hands to its
/// queue back end even when that is the no-op builtin one; gearboxd prints the same with
/// `-q memory` as with its default durable store.
#[test]
fn show_jobs_background_flag_with_memory_store() {
    if !server_available(Kind::Gearmand) {
        return;
    }
    for kind in Kind::ALL {
        let server = match kind {
            Kind::Gearmand => Server::start(kind, &[]),
            Kind::Gearboxd => Server::start(kind, &["-q", "memory"]),
        };
        let mut a = Conn::connect(server.addr);
        let mut c = Conn::connect(server.addr);
        let fg = handle_of(&c.request_req(T::SubmitJob, &[b"f", b"", b"x"]));
        let bg = handle_of(&c.request_req(T::SubmitJobBg, &[b"f", b"", b"y"]));
        let mut listing: Vec<String> = a
            .admin_list("show jobs")
            .iter()
            .map(|l| line_str(l).to_owned())
            .collect();
        listing.sort();
        let fg = String::from_utf8(fg).unwrap();
        let bg = String::from_utf8(bg).unwrap();
        let bg_flag = 1;
        let mut expected = vec![
            ".\n".to_owned(),
            format!("{fg}\t0\t0\t0\n"),
            format!("{bg}\t0\t0\t{bg_flag}\n"),
        ];
        expected.sort();
        assert_eq!(listing, expected, "{kind}");
    }
}

/// A 64-byte unique: gearmand stores only 63 bytes of it ([G-bug]); gearboxd stores it whole
/// and finds it by GET_STATUS_UNIQUE. (gearmand does not answer a GET_STATUS_UNIQUE of 64
/// bytes at all: see difference_status_queries_with_64_byte_arguments.)
#[test]
fn difference_unique_of_64_bytes() {
    each(|s| {
        let mut c = s.conn();
        let unique = [b'u'; 64];
        assert!(c.request_req(T::SubmitJobBg, &[b"f", &unique, b"x"])[0].is(T::JobCreated));
        let listing = c.admin_list("show unique jobs");
        if s.gearmand() {
            assert_eq!(listing, [[&unique[..63], b"\n"].concat(), b".\n".to_vec()]);
        } else {
            assert_eq!(listing, [[&unique[..], b"\n"].concat(), b".\n".to_vec()]);
            let r = c.request_req(T::GetStatusUnique, &[&unique]);
            assert_eq!(r[0].args()[1], b"1");
        }
    });
}

/// GET_STATUS with a handle, or GET_STATUS_UNIQUE with a unique, of 64 bytes or more: gearmand
/// never answers (and usually closes the connection when the next request arrives, [G-bug]);
/// gearboxd answers "unknown" and goes on ([R]).
#[test]
fn difference_status_queries_with_64_byte_arguments() {
    each(|s| {
        let long_handle = [b'h'; 64];
        let long_unique = [b'u'; 65];
        for (kind, arg) in [
            (T::GetStatus, &long_handle[..]),
            (T::GetStatus, &[b'h'; 200][..]),
            (T::GetStatusUnique, &long_unique[..64]),
            (T::GetStatusUnique, &long_unique[..]),
        ] {
            let mut c = s.conn();
            let mut bytes = req(kind, &[arg]);
            bytes.extend(req(T::EchoReq, &[b"after"]));
            c.send(&bytes);
            if s.gearmand() {
                // Whatever comes (nothing, the echo, or EOF), it is never a status answer.
                let got = c.drain_for(Duration::from_millis(500));
                assert!(
                    !got.iter()
                        .any(|r| r.is(T::StatusRes) || r.is(T::StatusResUnique)),
                    "{got:?}"
                );
            } else {
                let r = c.recv();
                let args = r.args();
                assert_eq!(args[0], arg);
                assert!(args[1..].iter().all(|a| a == b"0"), "{}", r.describe());
                assert!(c.recv().is(T::EchoRes));
            }
        }
    });
}

/// WORK_FAIL with a 64-byte handle: gearmand answers ARGUMENT_TOO_LARGE (its handle buffer);
/// gearboxd treats it as any unknown handle: JOB_NOT_FOUND.
#[test]
fn difference_work_fail_with_64_byte_handle() {
    each(|s| {
        let mut w = s.conn();
        let r = w.request_req(T::WorkFail, &[&[b'h'; 64]]);
        let expected: &[u8] = if s.gearmand() {
            b"ARGUMENT_TOO_LARGE"
        } else {
            b"JOB_NOT_FOUND"
        };
        assert_eq!(r[0].args()[0], expected);
    });
}

/// A reducer name longer than gearmand's buffer: both refuse with ARGUMENT_TOO_LARGE, but
/// gearmand's text names the unique ([G-bug]: it checks the reducer against the unique limit).
#[test]
fn difference_reducer_name_too_long_text() {
    each(|s| {
        let mut c = s.conn();
        let r = c.request_req(T::SubmitReduceJob, &[b"f", b"u", &[b'r'; 600], b"", b"d"]);
        let text: &[u8] = if s.gearmand() {
            b"Unique value too large"
        } else {
            b"Reducer name too large"
        };
        assert_eq!(r[0].args(), [b"ARGUMENT_TOO_LARGE".to_vec(), text.to_vec()]);
        assert!(c.request_req(T::EchoReq, &[b"x"])[0].is(T::EchoRes));
    });
}

/// WORK_STATUS numbers outside u32: both servers copy at most 10 bytes and store `atoi` in a
/// u32, so `-5` reads back as 4294967291 and `99999999999` as 1410065407.
#[test]
fn work_status_numbers_out_of_range_read_like_atoi() {
    each(|s| {
        let mut c = s.conn();
        let mut w = s.conn();
        let h = handle_of(&c.request_req(T::SubmitJobBg, &[b"f", b"", b"x"]));
        w.send_req(T::CanDo, &[b"f"]);
        w.request_req(T::GrabJob, &[]);
        w.request_req(T::WorkStatus, &[&h, b"-5", b"99999999999"]);
        let r = c.request_req(T::GetStatus, &[&h]);
        assert_eq!(r[0].args()[3], b"4294967291");
        assert_eq!(r[0].args()[4], b"1410065407");
    });
}

/// A job that kills every worker taking it, among three good ones, one worker at a time.
/// gearmand requeues a lost job at the tail; gearboxd at the head the first time (it was first
/// in line), then at the tail, so the poison job cannot starve the jobs behind it.
#[test]
fn difference_lost_job_goes_to_the_head_once_then_to_the_tail() {
    each(|s| {
        let mut c = s.conn();
        for data in ["poison", "ok1", "ok2", "ok3"] {
            c.request_req(T::SubmitJobBg, &[b"f", b"", data.as_bytes()]);
        }
        let mut ran = Vec::new();
        for _ in 0..6 {
            let mut w = s.conn();
            w.send_req(T::CanDo, &[b"f"]);
            let assigned = w.request_req(T::GrabJob, &[]);
            let args = assigned[0].args();
            ran.push(String::from_utf8_lossy(&args[2]).into_owned());
            if args[2] == b"poison" {
                drop(w);
                // Let the server see the close before the next worker asks.
                std::thread::sleep(Duration::from_millis(100));
            } else {
                w.request_req(T::WorkComplete, &[&args[0], b""]);
            }
        }
        let expected = if s.gearmand() {
            ["poison", "ok1", "ok2", "ok3", "poison", "poison"]
        } else {
            ["poison", "poison", "ok1", "ok2", "ok3", "poison"]
        };
        assert_eq!(ran, expected, "[{}]", s.kind);
    });
}

/// `--job-retries 0`: unlimited in gearmand 1.1.20, no requeue at all in gearboxd (gearmand
/// 2.0's meaning, with -1 for unlimited).
#[test]
fn difference_job_retries_zero() {
    each_with(&["--job-retries", "0"], |s| {
        let mut c = s.conn();
        let handle = handle_of(&c.request_req(T::SubmitJob, &[b"f", b"", b"x"]));
        let mut w = s.conn();
        w.send_req(T::CanDo, &[b"f"]);
        assert!(w.request_req(T::GrabJob, &[])[0].is(T::JobAssign));
        drop(w);
        let mut w = s.conn();
        w.send_req(T::CanDo, &[b"f"]);
        if s.gearmand() {
            std::thread::sleep(Duration::from_millis(200));
            let again = w.request_req(T::GrabJob, &[]);
            assert!(again[0].is(T::JobAssign), "requeued without limit");
        } else {
            let fail = c.recv();
            assert!(fail.is(T::WorkFail), "{}", fail.describe());
            assert_eq!(fail.args()[0], handle);
            assert!(w.request_req(T::GrabJob, &[])[0].is(T::NoJob));
        }
    });
}

/// `--job-retries 1`: gearmand fails the job the first time its worker is lost (N counts
/// runs); gearboxd requeues it once and fails it the second time (N counts requeues).
#[test]
fn difference_job_retries_one() {
    each_with(&["--job-retries", "1"], |s| {
        let mut c = s.conn();
        c.request_req(T::SubmitJob, &[b"f", b"", b"x"]);
        let lose = |s: &mut Session| {
            let mut w = s.conn();
            w.send_req(T::CanDo, &[b"f"]);
            assert!(w.request_req(T::GrabJob, &[])[0].is(T::JobAssign));
        };
        lose(s);
        if !s.gearmand() {
            std::thread::sleep(Duration::from_millis(200));
            lose(s);
        }
        let fail = c.recv();
        assert!(fail.is(T::WorkFail), "[{}] {}", s.kind, fail.describe());
    });
}

/// CAN_DO_TIMEOUT: gearmand runs one timer per connection, armed at the first grab; once that
/// job is done, a second job taken later is never timed out (gearmand #301) and hangs.
/// gearboxd times every assignment: the second job goes back to the queue after its second.
#[test]
fn difference_run_timeout_per_assignment() {
    each(|s| {
        let mut c = s.conn();
        c.request_req(T::SubmitJob, &[b"f", b"", b"j1"]);
        c.request_req(T::SubmitJob, &[b"f", b"", b"j2"]);
        let mut w = s.conn();
        w.send_req(T::CanDoTimeout, &[b"f", b"1000"]);
        let first = w.request_req(T::GrabJob, &[]);
        std::thread::sleep(Duration::from_millis(600));
        w.request_req(T::WorkComplete, &[&first[0].args()[0], b""]);
        let second = w.request_req(T::GrabJob, &[]);
        assert_eq!(second[0].args()[2], b"j2");
        let mut other = s.conn();
        other.send_req(T::CanDo, &[b"f"]);
        let started = std::time::Instant::now();
        let mut taken = false;
        while started.elapsed() < Duration::from_millis(2500) && !taken {
            taken = other.request_req(T::GrabJob, &[])[0].is(T::JobAssign);
            std::thread::sleep(Duration::from_millis(100));
        }
        assert_eq!(taken, !s.gearmand(), "[{}]", s.kind);
    });
}

/// A background submission coalesced onto a foreground job; the foreground client leaves.
/// gearmand abandons the job with its client; gearboxd keeps it, since a background
/// submission contributed to it.
#[test]
fn difference_foreground_client_leaving_a_coalesced_background_job() {
    each(|s| {
        {
            let mut f = s.conn();
            f.request_req(T::SubmitJob, &[b"f", b"u", b"x"]);
            let mut b = s.conn();
            b.request_req(T::SubmitJobBg, &[b"f", b"u", b"x"]);
        }
        std::thread::sleep(Duration::from_millis(200));
        let mut w = s.conn();
        w.send_req(T::CanDo, &[b"f"]);
        let got = w.request_req(T::GrabJob, &[]);
        assert_eq!(got[0].is(T::JobAssign), !s.gearmand(), "[{}]", s.kind);
    });
}

/// `workers` shows a client id with spaces and control bytes as gearboxd's `_`, where
/// gearmand prints it raw and breaks the line format.
#[test]
fn difference_workers_client_id_with_spaces() {
    each(|s| {
        let mut w = s.conn();
        w.send_req(T::SetClientId, &[b"my worker\tone"]);
        w.send_req(T::CanDo, &[b"f"]);
        w.sync();
        let mut a = s.conn();
        let listing = a.admin_list("workers");
        let line = listing
            .iter()
            .map(|l| String::from_utf8_lossy(l).into_owned())
            .find(|l| l.ends_with(" : f\n"))
            .unwrap_or_else(|| panic!("[{}] {listing:?}", s.kind));
        let id = if s.gearmand() {
            "my worker\tone"
        } else {
            "my_worker_one"
        };
        assert!(
            line.contains(&format!(" {id} : f")),
            "[{}] {line:?}",
            s.kind
        );
    });
}

/// Handle numbers: gearmand counts from 1 at every start, so a handle from before a restart
/// names a new job; gearboxd seeds the count from the clock (seconds × 10^6).
#[test]
fn difference_handle_numbers_are_seeded_from_the_clock() {
    each(|s| {
        let mut c = s.conn();
        let handle = handle_of(&c.request_req(T::SubmitJobBg, &[b"f", b"", b"x"]));
        let handle = String::from_utf8(handle).unwrap();
        let n: u64 = handle.rsplit(':').next().unwrap().parse().unwrap();
        if s.gearmand() {
            assert_eq!(n, 1, "{handle}");
        } else {
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_secs();
            assert!(
                (now - 60) * 1_000_000 <= n && n <= (now + 1) * 1_000_000,
                "{handle}"
            );
        }
    });
}

/// A woken worker that never asks for its job: gearmand woke every sleeper at once anyway
/// (`--worker-wakeup 0`); gearboxd wakes one, and passes the wake-up on to the next sleeper
/// once `--wakeup-timeout` (500 ms) has passed without a grab.
#[test]
fn difference_a_woken_worker_that_does_not_grab_passes_the_wakeup_on() {
    each(|s| {
        let mut stuck = s.conn();
        let mut other = s.conn();
        for w in [&mut stuck, &mut other] {
            w.send_req(T::CanDo, &[b"f"]);
            w.send_req(T::PreSleep, &[]);
            w.sync();
        }
        let mut c = s.conn();
        c.request_req(T::SubmitJobBg, &[b"f", b"", b"x"]);
        assert!(stuck.recv().is(T::Noop), "[{}]", s.kind);
        if s.gearmand() {
            assert!(other.recv().is(T::Noop), "gearmand wakes every sleeper");
        } else {
            let early = other.recv_within(Duration::from_millis(200));
            assert!(early.is_err(), "woken before the timeout: {early:?}");
            let late = other.recv_within(Duration::from_secs(3));
            assert!(
                matches!(&late, Ok(r) if r.is(T::Noop)),
                "the wake-up was not passed on: {late:?}"
            );
        }
        let got = other.request_req(T::GrabJob, &[]);
        assert!(
            got[0].is(T::JobAssign),
            "[{}] {}",
            s.kind,
            got[0].describe()
        );
    });
}

/// SUBMIT_JOB_SCHED: gearmand never implemented it and answers ERROR INVALID_COMMAND
/// ([G]); gearboxd creates a recurring schedule and answers JOB_CREATED with its handle, and
/// `cancel job` removes it (docs/scheduling.md).
#[test]
fn difference_submit_job_sched_creates_a_schedule() {
    each(|s| {
        let mut c = s.conn();
        let fields: &[&[u8]] = &[b"f", b"u", b"*/5", b"", b"", b"", b"", b"w"];
        let answer = c.request_req(T::SubmitJobSched, fields);
        if s.gearmand() {
            assert!(answer[0].is(T::Error), "{}", answer[0].describe());
            assert_eq!(answer[0].args()[0], b"INVALID_COMMAND");
        } else {
            assert!(answer[0].is(T::JobCreated), "{}", answer[0].describe());
            let handle = String::from_utf8(answer[0].args()[0].clone()).unwrap();
            let listed = c.admin_list("show scheduled");
            assert!(
                listed[0].starts_with(format!("{handle}\tf\tu\t").as_bytes()),
                "{listed:?}"
            );
            assert_eq!(c.admin_line(&format!("cancel job {handle}")), b"OK\r\n");
            assert_eq!(c.admin_list("show scheduled"), [b".\n".to_vec()]);
        }
        // Nothing else changed: no job, no function with work.
        assert!(c.request_req(T::EchoReq, &[b"x"])[0].is(T::EchoRes));
    });
}
