//! Submission: every SUBMIT_JOB variant, epoch jobs, and pipelined submissions.

use gearbox_proto::PacketType as T;
use gearbox_testkit::differential::{differential, handle_of};
use gearbox_testkit::wire::req;

#[test]
fn every_submit_variant_gets_job_created() {
    differential(|s| {
        let mut c = s.conn();
        s.req("c", &mut c, T::SubmitJob, &[b"f", b"", b"normal"]);
        s.req("c", &mut c, T::SubmitJobHigh, &[b"f", b"", b"high"]);
        s.req("c", &mut c, T::SubmitJobLow, &[b"f", b"", b"low"]);
        s.req("c", &mut c, T::SubmitJobBg, &[b"f", b"", b"normal bg"]);
        s.req("c", &mut c, T::SubmitJobHighBg, &[b"f", b"", b"high bg"]);
        s.req("c", &mut c, T::SubmitJobLowBg, &[b"f", b"", b"low bg"]);
        s.req(
            "c",
            &mut c,
            T::SubmitJobEpoch,
            &[b"f", b"", b"0", b"epoch now"],
        );
        s.req(
            "c",
            &mut c,
            T::SubmitReduceJob,
            &[b"f", b"", b"r", b"", b"reduce"],
        );
        s.req(
            "c",
            &mut c,
            T::SubmitReduceJobBackground,
            &[b"f", b"", b"r", b"", b"reduce bg"],
        );
        // Uniques, empty function name, binary data.
        s.req("c", &mut c, T::SubmitJob, &[b"f", b"u-1", b"x\0y"]);
        s.req("c", &mut c, T::SubmitJobBg, &[b"", b"u-2", b""]);
        s.req("c", &mut c, T::SubmitJobLowBg, &[b"g", b"u-3", b"\0\0"]);
        // Unique of 65 bytes is refused.
        s.req("c", &mut c, T::SubmitJob, &[b"f", &[b'u'; 65], b"d"]);
        s.req("c", &mut c, T::SubmitJobBg, &[b"f", &[b'u'; 65], b"d"]);
        s.admin("c", &mut c, "status");
        s.admin("c", &mut c, "prioritystatus");
        s.admin("c", &mut c, "show unique jobs");
    });
}

/// An epoch job due in an hour is created, known to GET_STATUS, counted in `status` and, as a
/// queued normal-priority job, in `prioritystatus`; a worker cannot take it yet.
#[test]
fn epoch_job_not_yet_due() {
    differential(|s| {
        let mut c = s.conn();
        let mut w = s.conn();
        // 2100-01-01: a fixed value, so that both transcripts show the same request.
        let later = "4102444800";
        s.req("c", &mut c, T::SubmitJobBg, &[b"f", b"", b"now"]);
        let epoch = s.req(
            "c",
            &mut c,
            T::SubmitJobEpoch,
            &[b"f", b"later", later.as_bytes(), b"epoch later"],
        );
        s.req("c", &mut c, T::GetStatus, &[&handle_of(&epoch)]);
        s.req("c", &mut c, T::GetStatusUnique, &[b"later"]);
        s.admin("c", &mut c, "status");
        s.admin("c", &mut c, "prioritystatus");
        s.req("w", &mut w, T::CanDo, &[b"f"]);
        s.req("w", &mut w, T::GrabJob, &[]);
        s.req("w", &mut w, T::GrabJob, &[]);
        s.admin("c", &mut c, "status");
    });
}

#[test]
fn several_submissions_in_one_write_are_answered_in_order() {
    differential(|s| {
        let mut c = s.conn();
        let mut bytes = Vec::new();
        for i in 0..50 {
            let unique = format!("u{}", i % 7);
            let kind = [T::SubmitJobBg, T::SubmitJob, T::SubmitJobLowBg][i % 3];
            bytes.extend(req(kind, &[b"f", unique.as_bytes(), b"d"]));
            if i % 10 == 0 {
                bytes.extend(req(T::EchoReq, &[format!("mark {i}").as_bytes()]));
            }
        }
        s.send("c", &mut c, &bytes);
        s.admin("c", &mut c, "status");
    });
}
