//! Priorities and reducers: order within a function, reducer jobs and GRAB_JOB_ALL.

use gearbox_proto::PacketType as T;
use gearbox_testkit::differential::{differential, handle_of};

#[test]
fn priorities_within_one_function() {
    differential(|s| {
        let mut c = s.conn();
        let mut w = s.conn();
        s.req("c", &mut c, T::SubmitJobLowBg, &[b"f", b"", b"low 1"]);
        s.req("c", &mut c, T::SubmitJobBg, &[b"f", b"", b"normal 1"]);
        s.req("c", &mut c, T::SubmitJobHighBg, &[b"f", b"", b"high 1"]);
        s.req("c", &mut c, T::SubmitJobLow, &[b"f", b"", b"low 2"]);
        s.req("c", &mut c, T::SubmitJobHigh, &[b"f", b"", b"high 2"]);
        s.req("c", &mut c, T::SubmitJob, &[b"f", b"", b"normal 2"]);
        s.req(
            "c",
            &mut c,
            T::SubmitJobEpoch,
            &[b"f", b"", b"1", b"epoch 1"],
        );
        s.req(
            "c",
            &mut c,
            T::SubmitReduceJobBackground,
            &[b"f", b"", b"r", b"", b"reduce 1"],
        );
        s.admin("c", &mut c, "prioritystatus");
        s.req("w", &mut w, T::CanDo, &[b"f"]);
        for _ in 0..8 {
            s.req("w", &mut w, T::GrabJob, &[]);
        }
        s.req("w", &mut w, T::GrabJob, &[]);
        s.admin("c", &mut c, "prioritystatus");
        s.admin("c", &mut c, "status");
    });
}

#[test]
fn reducer_jobs_and_grab_job_all() {
    differential(|s| {
        let mut c = s.conn();
        let mut w = s.conn();
        s.req(
            "c",
            &mut c,
            T::SubmitReduceJobBackground,
            &[b"f", b"ru1", b"red", b"agg", b"p1"],
        );
        let h2 = handle_of(&s.req(
            "c",
            &mut c,
            T::SubmitReduceJob,
            &[b"f", b"ru2", b"red2", b"", b"p\x002"],
        ));
        s.req(
            "c",
            &mut c,
            T::SubmitReduceJobBackground,
            &[b"f", b"ru3", b"red3", b"", b"p3"],
        );
        s.req(
            "c",
            &mut c,
            T::SubmitReduceJobBackground,
            &[b"f", b"ru4", b"red4", b"", b"p4"],
        );
        s.req("w", &mut w, T::CanDo, &[b"f"]);
        s.req("w", &mut w, T::GrabJobAll, &[]);
        s.req("w", &mut w, T::GrabJobAll, &[]);
        // Reducer jobs to the older grabs: plain JOB_ASSIGN / JOB_ASSIGN_UNIQ.
        s.req("w", &mut w, T::GrabJob, &[]);
        s.req("w", &mut w, T::GrabJobUniq, &[]);
        s.req("w", &mut w, T::GrabJobAll, &[]);
        s.req("w", &mut w, T::WorkComplete, &[&h2, b"reduced"]);
        s.expect("c", &mut c, 1);
    });
}
