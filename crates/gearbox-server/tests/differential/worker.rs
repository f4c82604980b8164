//! Workers: grabbing, sleeping and waking, relaying WORK_* packets to clients, status of
//! background jobs, unknown handles, and a lost worker's job.

use gearbox_proto::PacketType as T;
use gearbox_testkit::differential::{differential, differential_with, each, handle_of};
use gearbox_testkit::wire::{raw_packet, req};

#[test]
fn worker_grab_variants_pre_sleep_and_noop() {
    differential(|s| {
        let mut c = s.conn();
        let mut w = s.conn();
        // No registrations: every GRAB gets NO_JOB.
        s.req("w", &mut w, T::GrabJob, &[]);
        s.req("w", &mut w, T::GrabJobUniq, &[]);
        s.req("w", &mut w, T::GrabJobAll, &[]);
        s.req("w", &mut w, T::CanDo, &[b"f"]);
        s.req("w", &mut w, T::GrabJob, &[]);
        // Asleep with nothing to do: no NOOP until a job arrives, then exactly one.
        s.req("w", &mut w, T::PreSleep, &[]);
        s.req("c", &mut c, T::SubmitJobBg, &[b"f", b"u1", b"d1"]);
        s.expect("w", &mut w, 1);
        s.req("c", &mut c, T::SubmitJobBg, &[b"f", b"u2", b"d2"]);
        s.req("c", &mut c, T::SubmitJobBg, &[b"f", b"u3", b"d3"]);
        s.req("c", &mut c, T::SubmitJobBg, &[b"other", b"u4", b"d4"]);
        s.pending("w", &mut w);
        s.admin("c", &mut c, "status");
        s.req("w", &mut w, T::GrabJob, &[]);
        s.req("w", &mut w, T::GrabJobUniq, &[]);
        // GRAB_JOB_ALL on a job without a reducer gives JOB_ASSIGN_UNIQ.
        s.req("w", &mut w, T::GrabJobAll, &[]);
        s.req("w", &mut w, T::GrabJobAll, &[]);
        s.admin("c", &mut c, "status");
        // A non-empty body on a no-argument type is read and ignored.
        s.send("w", &mut w, &raw_packet(b"\0REQ", 9, b"junk"));
        // PRE_SLEEP while a job is queued: NOOP at once, and again for a second PRE_SLEEP.
        s.req("c", &mut c, T::SubmitJobBg, &[b"f", b"u5", b"d5"]);
        s.req("w", &mut w, T::PreSleep, &[]);
        s.req("w", &mut w, T::PreSleep, &[]);
        s.req("w", &mut w, T::GrabJobUniq, &[]);
        // Sleeping again; a job for a function this worker lacks wakes nobody.
        s.req("w", &mut w, T::PreSleep, &[]);
        s.req("c", &mut c, T::SubmitJobBg, &[b"other", b"u6", b"d6"]);
        s.pending("w", &mut w);
        s.req("w", &mut w, T::CantDo, &[b"f"]);
        s.req("w", &mut w, T::CanDo, &[b"other"]);
        s.req("w", &mut w, T::GrabJob, &[]);
        s.req("w", &mut w, T::ResetAbilities, &[]);
        s.req("w", &mut w, T::GrabJob, &[]);
        s.admin("c", &mut c, "status");
    });
}

/// gearmand wakes every sleeping worker for a new job; gearboxd does with `-w 0`.
#[test]
fn difference_default_wakes_one_sleeper_per_job() {
    each(|s| {
        let mut c = s.conn();
        let mut w1 = s.conn();
        let mut w2 = s.conn();
        for w in [&mut w1, &mut w2] {
            w.send_req(T::CanDo, &[b"f"]);
            assert!(w.request_req(T::GrabJob, &[])[0].is(T::NoJob));
            // Synced, so both are asleep before the job is submitted on another connection.
            assert!(w.request_req(T::PreSleep, &[]).is_empty());
        }
        assert!(c.request_req(T::SubmitJobBg, &[b"f", b"", b"d"])[0].is(T::JobCreated));
        assert!(w1.recv().is(T::Noop));
        let second = w2.recv_within(std::time::Duration::from_millis(300));
        if s.gearmand() {
            assert!(second.expect("gearmand wakes every sleeper").is(T::Noop));
        } else {
            assert!(second.is_err(), "gearboxd wakes one sleeper per job");
        }
    });
}

#[test]
fn several_sleeping_workers_are_woken() {
    differential_with(&["-w", "0"], |s| {
        let mut c = s.conn();
        let mut w1 = s.conn();
        let mut w2 = s.conn();
        for w in [&mut w1, &mut w2] {
            s.req("w", w, T::CanDo, &[b"f"]);
            s.req("w", w, T::GrabJob, &[]);
            s.req("w", w, T::PreSleep, &[]);
        }
        s.req("c", &mut c, T::SubmitJobBg, &[b"f", b"", b"d"]);
        s.expect("w1", &mut w1, 1);
        s.expect("w2", &mut w2, 1);
        s.req("w2", &mut w2, T::GrabJob, &[]);
        s.req("w1", &mut w1, T::GrabJob, &[]);
    });
}

#[test]
fn work_packets_are_relayed_to_a_foreground_client() {
    differential(|s| {
        let mut c = s.conn();
        let mut w = s.conn();
        let created = s.req("c", &mut c, T::SubmitJob, &[b"f", b"uniq", b"payload"]);
        let h = handle_of(&created);
        // Queued: known, not running.
        s.req("c", &mut c, T::GetStatus, &[&h]);
        s.req("c", &mut c, T::GetStatusUnique, &[b"uniq"]);
        s.req("w", &mut w, T::CanDo, &[b"f"]);
        s.req("w", &mut w, T::GrabJobUniq, &[]);
        // Running.
        s.req("c", &mut c, T::GetStatus, &[&h]);
        s.req("c", &mut c, T::GetStatusUnique, &[b"uniq"]);
        s.req("w", &mut w, T::WorkStatus, &[&h, b"1", b"4"]);
        s.expect("c", &mut c, 1);
        s.req("c", &mut c, T::GetStatus, &[&h]);
        s.req("c", &mut c, T::GetStatusUnique, &[b"uniq"]);
        let mut bytes = req(T::WorkData, &[&h, b"da\0ta"]);
        bytes.extend(req(T::WorkWarning, &[&h, b"warn\0ing"]));
        bytes.extend(req(T::WorkData, &[&h, b""]));
        bytes.extend(req(T::WorkStatus, &[&h, b"3", b"4"]));
        bytes.extend(req(T::WorkComplete, &[&h, b"result\0bytes"]));
        s.send("w", &mut w, &bytes);
        s.expect("c", &mut c, 5);
        s.pending("c", &mut c);
        // Finished: forgotten.
        s.req("c", &mut c, T::GetStatus, &[&h]);
        s.req("c", &mut c, T::GetStatusUnique, &[b"uniq"]);
        s.admin("c", &mut c, "status");
        // Never-existing handle and unique.
        s.req("c", &mut c, T::GetStatus, &[b"H:nowhere:1"]);
        s.req("c", &mut c, T::GetStatusUnique, &[b"nope"]);
    });
}

#[test]
fn work_complete_with_large_binary_result() {
    differential(|s| {
        let mut c = s.conn();
        let mut w = s.conn();
        let payload: Vec<u8> = (0..300_000u32).map(|i| (i * 7 % 256) as u8).collect();
        let h = handle_of(&s.req("c", &mut c, T::SubmitJob, &[b"f", b"", &payload]));
        s.req("w", &mut w, T::CanDo, &[b"f"]);
        s.req("w", &mut w, T::GrabJob, &[]);
        s.req("w", &mut w, T::WorkComplete, &[&h, &payload]);
        let r = s.expect("c", &mut c, 1);
        assert_eq!(&r[0].args()[1], &payload);
    });
}

#[test]
fn work_fail_is_relayed() {
    differential(|s| {
        let mut c = s.conn();
        let mut w = s.conn();
        let h = handle_of(&s.req("c", &mut c, T::SubmitJobLow, &[b"f", b"", b"x"]));
        s.req("w", &mut w, T::CanDo, &[b"f"]);
        s.req("w", &mut w, T::GrabJobAll, &[]);
        s.req("w", &mut w, T::WorkFail, &[&h]);
        s.expect("c", &mut c, 1);
        s.req("c", &mut c, T::GetStatus, &[&h]);
        // The same unique is free again once the job is finished.
        let again = s.req("c", &mut c, T::SubmitJob, &[b"f", b"", b"x"]);
        assert_ne!(handle_of(&again), h);
    });
}

#[test]
fn background_job_status_and_dropped_work_data() {
    differential(|s| {
        let mut c = s.conn();
        let mut w = s.conn();
        let h = handle_of(&s.req("c", &mut c, T::SubmitJobBg, &[b"f", b"bgu", b"x"]));
        s.req("c", &mut c, T::GetStatus, &[&h]);
        s.req("c", &mut c, T::GetStatusUnique, &[b"bgu"]);
        s.req("w", &mut w, T::CanDo, &[b"f"]);
        s.req("w", &mut w, T::GrabJob, &[]);
        s.req("w", &mut w, T::WorkStatus, &[&h, b"5", b"10"]);
        s.req("c", &mut c, T::GetStatus, &[&h]);
        s.req("c", &mut c, T::GetStatusUnique, &[b"bgu"]);
        // Non-numeric progress parses as 0 (atoi), leading digits are kept.
        s.req("w", &mut w, T::WorkStatus, &[&h, b"abc", b"7x"]);
        s.req("c", &mut c, T::GetStatus, &[&h]);
        s.req("w", &mut w, T::WorkData, &[&h, b"nobody listens"]);
        s.req("w", &mut w, T::WorkWarning, &[&h, b"nobody listens"]);
        s.req("w", &mut w, T::WorkComplete, &[&h, b"done"]);
        s.pending("c", &mut c);
        s.req("c", &mut c, T::GetStatus, &[&h]);
        s.req("c", &mut c, T::GetStatusUnique, &[b"bgu"]);
    });
}

#[test]
fn job_not_found_errors_and_their_texts() {
    differential(|s| {
        let mut c = s.conn();
        let mut w = s.conn();
        let mut other = s.conn();
        let bogus: &[u8] = b"H:bogus:1";
        s.req("w", &mut w, T::WorkStatus, &[bogus, b"1", b"2"]);
        s.req("w", &mut w, T::WorkData, &[bogus, b"d"]);
        s.req("w", &mut w, T::WorkWarning, &[bogus, b"d"]);
        s.req("w", &mut w, T::WorkComplete, &[bogus, b"d"]);
        s.req("w", &mut w, T::WorkFail, &[bogus]);
        s.req("w", &mut w, T::WorkException, &[bogus, b"d"]);
        // A queued job nobody holds, then a job held by another connection.
        let h = handle_of(&s.req("c", &mut c, T::SubmitJob, &[b"f", b"", b"x"]));
        s.req("w", &mut w, T::WorkComplete, &[&h, b"d"]);
        s.req("w", &mut w, T::CanDo, &[b"f"]);
        s.req("w", &mut w, T::GrabJob, &[]);
        for kind in [
            T::WorkData,
            T::WorkWarning,
            T::WorkComplete,
            T::WorkException,
        ] {
            s.req("other", &mut other, kind, &[&h, b"d"]);
        }
        s.req("other", &mut other, T::WorkStatus, &[&h, b"1", b"2"]);
        s.req("other", &mut other, T::WorkFail, &[&h]);
        s.pending("c", &mut c);
        // The holder finishes; everything after that is unknown.
        s.req("w", &mut w, T::WorkComplete, &[&h, b"ok"]);
        s.expect("c", &mut c, 1);
        s.req("w", &mut w, T::WorkComplete, &[&h, b"again"]);
        s.req("w", &mut w, T::WorkData, &[&h, b"late"]);
        s.req("w", &mut w, T::WorkStatus, &[&h, b"1", b"2"]);
        s.req("w", &mut w, T::WorkFail, &[&h]);
        s.req("w", &mut w, T::WorkException, &[&h, b"late"]);
        s.pending("c", &mut c);
    });
}

#[test]
fn worker_disconnect_requeues_its_job() {
    differential(|s| {
        let mut c = s.conn();
        let mut w1 = s.conn();
        let mut w2 = s.conn();
        let h = handle_of(&s.req("c", &mut c, T::SubmitJob, &[b"f", b"u", b"x"]));
        s.req("w1", &mut w1, T::CanDo, &[b"f"]);
        s.req("w1", &mut w1, T::GrabJob, &[]);
        s.req("w1", &mut w1, T::WorkStatus, &[&h, b"1", b"2"]);
        s.expect("c", &mut c, 1);
        s.req("w2", &mut w2, T::CanDo, &[b"f"]);
        s.req("w2", &mut w2, T::GrabJob, &[]);
        s.req("w2", &mut w2, T::PreSleep, &[]);
        drop(w1);
        s.expect("w2", &mut w2, 1);
        // Requeued: progress reset, not running.
        s.req("c", &mut c, T::GetStatus, &[&h]);
        s.req("w2", &mut w2, T::GrabJobUniq, &[]);
        s.req("w2", &mut w2, T::WorkComplete, &[&h, b"r"]);
        s.expect("c", &mut c, 1);
    });
}
