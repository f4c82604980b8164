//! Coalescing: submissions with the same unique share one job and each gets its answers.

use gearbox_proto::PacketType as T;
use gearbox_testkit::differential::{differential, handle_of};
use gearbox_testkit::wire::req;

#[test]
fn coalescing_on_unique_relays_once_per_submission() {
    differential(|s| {
        let mut c1 = s.conn();
        let mut c2 = s.conn();
        let mut w = s.conn();
        // Same connection twice, then another connection (foreground and background).
        let mut two = req(T::SubmitJob, &[b"f", b"u", b"d1"]);
        two.extend(req(T::SubmitJob, &[b"f", b"u", b"d2"]));
        s.send("c1", &mut c1, &two);
        s.req("c2", &mut c2, T::SubmitJobHigh, &[b"f", b"u", b"d3"]);
        s.req("c2", &mut c2, T::SubmitJobBg, &[b"f", b"u", b"d4"]);
        s.req("c2", &mut c2, T::GetStatusUnique, &[b"u"]);
        // Same unique, other function: a different job.
        s.req("c2", &mut c2, T::SubmitJobBg, &[b"g", b"u", b"other fn"]);
        s.admin("c2", &mut c2, "status");
        s.req("w", &mut w, T::CanDo, &[b"f"]);
        let assign = s.req("w", &mut w, T::GrabJob, &[]);
        let h = handle_of(&assign);
        s.req("w", &mut w, T::GrabJob, &[]);
        // Attaching to a running job.
        s.req("c2", &mut c2, T::SubmitJob, &[b"f", b"u", b"d5"]);
        s.req("c2", &mut c2, T::GetStatusUnique, &[b"u"]);
        let mut work = req(T::WorkData, &[&h, b"part"]);
        work.extend(req(T::WorkStatus, &[&h, b"1", b"1"]));
        work.extend(req(T::WorkComplete, &[&h, b"res"]));
        s.send("w", &mut w, &work);
        s.expect("c1", &mut c1, 6);
        s.expect("c2", &mut c2, 6);
        s.pending("c1", &mut c1);
        s.pending("c2", &mut c2);
        // Finished: the unique makes a new job.
        s.req("c1", &mut c1, T::SubmitJobBg, &[b"f", b"u", b"d6"]);
    });
}

#[test]
fn coalescing_dash_unique_and_empty_unique() {
    differential(|s| {
        let mut c = s.conn();
        s.req("c", &mut c, T::SubmitJobBg, &[b"f", b"-", b"same"]);
        s.req("c", &mut c, T::SubmitJobBg, &[b"f", b"-", b"same"]);
        s.req("c", &mut c, T::SubmitJobBg, &[b"f", b"-", b"other"]);
        s.req("c", &mut c, T::SubmitJobBg, &[b"g", b"-", b"same"]);
        s.req("c", &mut c, T::SubmitJobBg, &[b"f", b"-", b""]);
        s.req("c", &mut c, T::SubmitJobBg, &[b"f", b"-", b""]);
        s.req("c", &mut c, T::SubmitJobBg, &[b"f", b"", b"x"]);
        s.req("c", &mut c, T::SubmitJobBg, &[b"f", b"", b"x"]);
        s.req("c", &mut c, T::SubmitJobBg, &[b"f", b"U", b"x"]);
        s.req("c", &mut c, T::SubmitJobBg, &[b"f", b"u", b"x"]);
        s.admin("c", &mut c, "status");
        s.admin("c", &mut c, "show unique jobs");
    });
}
