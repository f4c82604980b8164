//! The admin text protocol: every command, its errors, and text mixed with binary packets on
//! one connection.

use gearbox_proto::PacketType as T;
use gearbox_testkit::differential::{differential, handle_of, lines, wait_status};
use gearbox_testkit::wire::{req, Reply};

#[test]
fn admin_status_workers_prioritystatus() {
    differential(|s| {
        let mut a = s.conn();
        // No `workers` yet: gearmand may still list the harness's closed readiness probe.
        s.admin("a", &mut a, "status");
        s.admin("a", &mut a, "prioritystatus");
        let mut w1 = s.conn();
        let mut w2 = s.conn();
        let mut c = s.conn();
        s.req("w1", &mut w1, T::SetClientId, &[b"worker-one"]);
        s.req("w1", &mut w1, T::CanDo, &[b"alpha"]);
        s.req("w1", &mut w1, T::CanDo, &[b"beta"]);
        s.req("w2", &mut w2, T::CanDoTimeout, &[b"beta", b"5000"]);
        s.req("w2", &mut w2, T::SetClientId, &[b"first"]);
        s.req("w2", &mut w2, T::SetClientId, &[b"second"]);
        s.req("c", &mut c, T::SubmitJobHighBg, &[b"alpha", b"", b"1"]);
        s.req("c", &mut c, T::SubmitJobLowBg, &[b"alpha", b"", b"2"]);
        s.req("c", &mut c, T::SubmitJobBg, &[b"beta", b"", b"3"]);
        s.req("c", &mut c, T::SubmitJob, &[b"gamma", b"", b"4"]);
        s.admin("a", &mut a, "status");
        s.admin("a", &mut a, "workers");
        s.admin("a", &mut a, "prioritystatus");
        s.req("w2", &mut w2, T::GrabJob, &[]);
        s.req("w1", &mut w1, T::GrabJobUniq, &[]);
        s.admin("a", &mut a, "status");
        s.admin("a", &mut a, "prioritystatus");
        s.req("w1", &mut w1, T::CantDo, &[b"alpha"]);
        s.admin("a", &mut a, "status");
        s.admin("a", &mut a, "workers");
        drop(w2);
        wait_status(&mut a, "beta", "1\t0\t1");
        s.pending("w1", &mut w1);
        s.admin("a", &mut a, "status");
        s.admin("a", &mut a, "workers");
        // Case-insensitive command word, trailing spaces.
        s.admin("a", &mut a, "STATUS");
        s.admin("a", &mut a, "Workers");
        s.admin("a", &mut a, "status  ");
        s.admin("a", &mut a, "PriorityStatus");
    });
}

#[test]
fn admin_show_jobs_and_show_unique_jobs() {
    differential(|s| {
        let mut a = s.conn();
        let mut c = s.conn();
        let mut w = s.conn();
        s.admin("a", &mut a, "show jobs");
        s.admin("a", &mut a, "show unique jobs");
        // Foreground jobs only: see difference_show_jobs_flags_background_jobs.
        s.req("c", &mut c, T::SubmitJob, &[b"f", b"one", b"1"]);
        s.req("c", &mut c, T::SubmitJobHigh, &[b"f", b"two", b"2"]);
        s.req("c", &mut c, T::SubmitJobLow, &[b"g", b"", b"3"]);
        s.admin("a", &mut a, "show jobs");
        s.admin("a", &mut a, "show unique jobs");
        s.req("w", &mut w, T::CanDo, &[b"f"]);
        s.req("w", &mut w, T::GrabJob, &[]);
        s.admin("a", &mut a, "show jobs");
        s.admin("a", &mut a, "SHOW JOBS");
        s.admin("a", &mut a, "show UNIQUE jobs");
        s.admin("a", &mut a, "show");
        s.admin("a", &mut a, "show errors");
        s.admin("a", &mut a, "show unique");
        s.admin("a", &mut a, "show jobs extra");
        s.admin("a", &mut a, "show unique jobs extra");
        s.admin("a", &mut a, "show  jobs");
    });
}

#[test]
fn admin_maxqueue_forms_and_effects() {
    differential(|s| {
        let mut a = s.conn();
        let mut c = s.conn();
        s.admin("a", &mut a, "maxqueue");
        s.admin("a", &mut a, "Maxqueue f");
        // Make the function exist first (see difference_maxqueue_for_unknown_function).
        s.admin("a", &mut a, "create function f");
        s.admin("a", &mut a, "maxqueue f 1");
        s.req("c", &mut c, T::SubmitJobBg, &[b"f", b"", b"1"]);
        s.req("c", &mut c, T::SubmitJobBg, &[b"f", b"", b"2"]);
        s.req("c", &mut c, T::SubmitJobHighBg, &[b"f", b"", b"3"]);
        s.req("c", &mut c, T::SubmitJob, &[b"f", b"", b"4"]);
        // Coalescing onto an existing job is not limited.
        s.req("c", &mut c, T::SubmitJobBg, &[b"f", b"dup", b"5"]);
        s.admin("a", &mut a, "maxqueue f");
        s.req("c", &mut c, T::SubmitJobBg, &[b"f", b"dup", b"6"]);
        s.admin("a", &mut a, "maxqueue f 1");
        s.req("c", &mut c, T::SubmitJobBg, &[b"f", b"dup", b"7"]);
        // high 4, normal 3, low unlimited.
        s.admin("a", &mut a, "maxqueue f 4 3");
        s.req("c", &mut c, T::SubmitJobBg, &[b"f", b"", b"8"]);
        s.req("c", &mut c, T::SubmitJobHighBg, &[b"f", b"", b"9"]);
        s.req("c", &mut c, T::SubmitJobHighBg, &[b"f", b"", b"10"]);
        s.req("c", &mut c, T::SubmitJobLowBg, &[b"f", b"", b"11"]);
        s.req("c", &mut c, T::SubmitJobLowBg, &[b"f", b"", b"12"]);
        // Per-priority: high unlimited (0), normal unlimited (-1), low 1.
        s.admin("a", &mut a, "maxqueue f 0 -1 1");
        s.req("c", &mut c, T::SubmitJobLowBg, &[b"f", b"", b"13"]);
        s.req("c", &mut c, T::SubmitJobBg, &[b"f", b"", b"14"]);
        s.req("c", &mut c, T::SubmitJobHighBg, &[b"f", b"", b"15"]);
        // Non-numeric means unlimited.
        s.admin("a", &mut a, "maxqueue f abc");
        s.req("c", &mut c, T::SubmitJobLowBg, &[b"f", b"", b"16"]);
        s.admin("a", &mut a, "maxqueue f 2x");
        s.req("c", &mut c, T::SubmitJobLowBg, &[b"f", b"", b"17"]);
        s.admin("a", &mut a, "maxqueue  f  1  1  1");
        s.admin("a", &mut a, "status");
        s.admin("a", &mut a, "prioritystatus");
    });
}

#[test]
fn admin_cancel_job() {
    differential(|s| {
        let mut a = s.conn();
        let mut c = s.conn();
        let mut c2 = s.conn();
        s.admin("a", &mut a, "cancel");
        s.admin("a", &mut a, "cancel job");
        s.admin("a", &mut a, "cancel job H:nope:1");
        s.admin("a", &mut a, "cancel a b");
        s.admin("a", &mut a, "cancel job h extra");
        s.admin("a", &mut a, "CANCEL JOB H:nope:1");
        let fg = handle_of(&s.req("c", &mut c, T::SubmitJob, &[b"f", b"u", b"x"]));
        s.req("c2", &mut c2, T::SubmitJob, &[b"f", b"u", b"x"]);
        let bg = handle_of(&s.req("c", &mut c, T::SubmitJobBg, &[b"f", b"", b"y"]));
        let fg = String::from_utf8(fg).unwrap();
        let bg = String::from_utf8(bg).unwrap();
        // Every attached client gets WORK_FAIL.
        s.admin("a", &mut a, &format!("cancel job {fg}"));
        s.expect("c", &mut c, 1);
        s.expect("c2", &mut c2, 1);
        s.admin("a", &mut a, &format!("cancel job {bg}"));
        s.pending("c", &mut c);
        // Cancelled jobs are never handed out.
        let mut w = s.conn();
        s.req("w", &mut w, T::CanDo, &[b"f"]);
        s.req("w", &mut w, T::GrabJob, &[]);
        s.req("w", &mut w, T::GrabJob, &[]);
    });
}

#[test]
fn admin_create_and_drop_function() {
    differential(|s| {
        let mut a = s.conn();
        s.admin("a", &mut a, "create");
        s.admin("a", &mut a, "create function");
        s.admin("a", &mut a, "create function a b");
        s.admin("a", &mut a, "create func x");
        s.admin("a", &mut a, "create function made");
        s.admin("a", &mut a, "CREATE FUNCTION Made2");
        s.admin("a", &mut a, "status");
        s.admin("a", &mut a, "drop");
        s.admin("a", &mut a, "drop function");
        s.admin("a", &mut a, "drop function a b");
        s.admin("a", &mut a, "drop function nope");
        s.admin("a", &mut a, "drop function MADE");
        s.admin("a", &mut a, "drop function made");
        s.admin("a", &mut a, "drop function made2");
        s.admin("a", &mut a, "status");
        // A function with a registered worker cannot be dropped.
        let mut w = s.conn();
        s.req("w", &mut w, T::CanDo, &[b"busy"]);
        s.admin("a", &mut a, "drop function busy");
        // Nor one with a running job after the worker unregistered... (the worker holds it).
        let mut c = s.conn();
        s.req("c", &mut c, T::SubmitJobBg, &[b"busy", b"", b"x"]);
        let h = handle_of(&s.req("w", &mut w, T::GrabJob, &[]));
        s.admin("a", &mut a, "drop function busy");
        s.req("w", &mut w, T::WorkComplete, &[&h, b""]);
        drop(w);
        wait_status(&mut a, "busy", "0\t0\t0");
        s.admin("a", &mut a, "drop function busy");
        s.admin("a", &mut a, "status");
    });
}

#[test]
fn admin_version_getpid_verbose() {
    differential(|s| {
        let mut a = s.conn();
        s.admin("a", &mut a, "getpid");
        s.admin("a", &mut a, "GETPID");
        s.admin("a", &mut a, "getpid extra");
        s.admin("a", &mut a, "verbose");
        s.admin("a", &mut a, "verbose extra");
    });
}

#[test]
fn admin_unknown_commands_and_errors() {
    differential(|s| {
        let mut a = s.conn();
        for line in [
            "bogus",
            "",
            " status",
            "status\t",
            "\tstatus",
            "jobs",
            "clients",
            "gladiator",
            "show",
            "show errors",
            "help",
            "quit",
            "x y z",
            "stat",
            "statusx",
        ] {
            s.admin("a", &mut a, line);
        }
        // Bare LF endings.
        s.admin_raw("a", &mut a, "bogus\n");
        s.admin_raw("a", &mut a, "\n");
        s.admin_raw("a", &mut a, "status\n");
        s.admin_raw("a", &mut a, "\r\n");
    });
}

/// Trailing spaces end a line with one empty token, as gearmand reads it: `cancel job ` names
/// the empty handle (ERR UNKNOWN_JOB), `show ` has an unknown argument, `maxqueue ` names no
/// function.
#[test]
fn admin_lines_with_trailing_spaces() {
    differential(|s| {
        let mut a = s.conn();
        for line in [
            "cancel job ",
            "cancel job   ",
            "cancel ",
            "cancel job x ",
            "show ",
            "show jobs ",
            "show unique jobs ",
            "status ",
            "workers ",
            "maxqueue ",
            "drop function ",
            "drop function x ",
        ] {
            s.admin("a", &mut a, line);
        }
        s.admin("a", &mut a, "status");
    });
}

#[test]
fn text_and_binary_interleaved_on_one_connection() {
    differential(|s| {
        let mut c = s.conn();
        let mut bytes = Vec::new();
        bytes.extend(req(T::EchoReq, &[b"one"]));
        bytes.extend(b"status\r\n");
        // Foreground: see background_submit_then_grab_pipelined_on_one_connection.
        bytes.extend(req(T::SubmitJob, &[b"f", b"u", b"x"]));
        bytes.extend(b"status\n");
        bytes.extend(req(T::CanDo, &[b"f"]));
        bytes.extend(b"workers\n");
        bytes.extend(req(T::GrabJobUniq, &[]));
        bytes.extend(b"getpid\r\n");
        bytes.extend(req(T::EchoReq, &[b"two\0"]));
        bytes.extend(b"bogus\n");
        bytes.extend(req(T::GrabJob, &[]));
        bytes.extend(b"prioritystatus\r\n");
        let replies = c.request(&bytes);
        // Check the order of the kinds of replies; contents via the transcript.
        let shape: Vec<String> = replies
            .iter()
            .map(|r| match r {
                Reply::Packet(p) => p.kind.name().to_owned(),
                Reply::Line(_) => "line".to_owned(),
                Reply::Partial(_) => "partial".to_owned(),
            })
            .collect();
        s.log.push(format!("shape {shape:?}"));
        let mut keep = Vec::new();
        for r in &replies {
            if let Reply::Packet(_) = r {
                keep.push(r.clone());
            }
        }
        s.record("c", "(packets of the mixed write)".to_owned(), &keep);
        let text = lines(
            &replies
                .into_iter()
                .filter(|r| matches!(r, Reply::Line(_)))
                .collect::<Vec<_>>(),
        );
        let mut text: Vec<String> = text
            .iter()
            .map(|l| {
                let l = String::from_utf8_lossy(l).into_owned();
                // getpid and workers lines carry numbers that differ per server.
                if l.starts_with("OK ") {
                    "OK <pid>\n".to_owned()
                } else if l.contains(" 127.0.0.1 ") {
                    l.split_once(' ')
                        .map(|(_, rest)| format!("FD {rest}"))
                        .unwrap()
                } else {
                    l
                }
            })
            .collect();
        text.sort();
        s.log.push(format!("text lines (sorted) {text:?}"));
    });
}

#[test]
fn admin_show_jobs_with_background_jobs() {
    differential(|s| {
        let mut a = s.conn();
        let mut c = s.conn();
        let mut w = s.conn();
        s.req("c", &mut c, T::SubmitJob, &[b"f", b"fg", b"x"]);
        s.req("c", &mut c, T::SubmitJobBg, &[b"f", b"bg", b"y"]);
        s.req("c", &mut c, T::SubmitJobLowBg, &[b"g", b"", b"z"]);
        s.admin("a", &mut a, "show jobs");
        s.req("w", &mut w, T::CanDo, &[b"f"]);
        s.req("w", &mut w, T::GrabJob, &[]);
        s.req("w", &mut w, T::GrabJob, &[]);
        s.admin("a", &mut a, "show jobs");
        // A requeued background job counts a retry.
        drop(w);
        wait_status(&mut a, "f", "2\t0\t0");
        s.admin("a", &mut a, "show jobs");
        s.admin("a", &mut a, "show unique jobs");
    });
}

/// The word gearmand names in `ERR INVALID_ARGUMENTS …+command+<word>` is the command word as
/// the client typed it.
#[test]
fn admin_invalid_arguments_echo_the_command_word_as_typed() {
    differential(|s| {
        let mut a = s.conn();
        for line in [
            "MAXQUEUE",
            "MaxQueue",
            "CREATE",
            "Create function",
            "DROP",
            "Drop Function",
            "CANCEL",
            "Cancel job",
            "SHOW",
        ] {
            s.admin("a", &mut a, line);
        }
    });
}

/// One connection pipelines a background submission, a registration and GRABs: requests are
/// processed in order, so the GRAB sees the job whose JOB_CREATED came just before.
#[test]
fn background_submit_then_grab_pipelined_on_one_connection() {
    differential(|s| {
        let mut c = s.conn();
        let mut bytes = req(T::SubmitJobBg, &[b"f", b"u", b"x"]);
        bytes.extend(req(T::GetStatusUnique, &[b"u"]));
        bytes.extend(b"status\n");
        bytes.extend(req(T::CanDo, &[b"f"]));
        bytes.extend(req(T::GrabJobUniq, &[]));
        bytes.extend(req(T::GetStatusUnique, &[b"u"]));
        s.send("c", &mut c, &bytes);
        s.req("c", &mut c, T::GrabJobUniq, &[]);
        s.req("c", &mut c, T::GetStatusUnique, &[b"u"]);
    });
}
