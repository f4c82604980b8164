//! Exceptions: WORK_EXCEPTION to clients with and without the `exceptions` option.

use gearbox_proto::PacketType as T;
use gearbox_testkit::differential::{differential, each, handle_of};
use gearbox_testkit::wire::req;

/// gearmand converts WORK_EXCEPTION into `WORK_FAIL "handle\0"` for clients without the
/// `exceptions` option (a stray NUL, [G-bug]); gearboxd sends `WORK_FAIL "handle"`. The raw
/// bodies are asserted here, then the transcripts are compared modulo that NUL.
#[test]
fn work_exception_to_opted_in_and_plain_clients() {
    differential(|s| {
        s.norm.strip_fail_nul = true;
        let mut opted = s.conn();
        let mut plain = s.conn();
        let mut w = s.conn();
        s.req("opted", &mut opted, T::OptionReq, &[b"exceptions"]);
        let h = handle_of(&s.req("opted", &mut opted, T::SubmitJob, &[b"f", b"u", b"x"]));
        s.req("plain", &mut plain, T::SubmitJob, &[b"f", b"u", b"x"]);
        s.req("w", &mut w, T::CanDo, &[b"f"]);
        s.req("w", &mut w, T::GrabJobAll, &[]);
        s.req("w", &mut w, T::WorkData, &[&h, b"before"]);
        s.req("w", &mut w, T::WorkException, &[&h, b"boom\0bin"]);
        s.expect("opted", &mut opted, 2);
        let got = s.expect("plain", &mut plain, 2);
        let fail = got[1].packet();
        assert_eq!(fail.kind, T::WorkFail);
        let mut with_nul = h.clone();
        with_nul.push(0);
        if s.gearmand() {
            assert_eq!(fail.body.as_ref(), &with_nul[..], "gearmand's stray NUL");
        } else {
            assert_eq!(fail.body.as_ref(), &h[..], "gearboxd sends the bare handle");
        }
        // Exception is terminal.
        s.req("opted", &mut opted, T::GetStatus, &[&h]);
        s.admin("opted", &mut opted, "status");
    });
}

/// gearboxd silently drops a WORK_FAIL that immediately follows a WORK_EXCEPTION for the same
/// handle from the same worker ([R], for workers written for the Perl server's non-terminal
/// exceptions); gearmand answers it with ERROR JOB_NOT_FOUND.
#[test]
fn difference_work_fail_right_after_work_exception() {
    each(|s| {
        let mut c = s.conn();
        let mut w = s.conn();
        let h = handle_of(&s.req("c", &mut c, T::SubmitJob, &[b"f", b"", b"x"]));
        s.req("w", &mut w, T::CanDo, &[b"f"]);
        s.req("w", &mut w, T::GrabJob, &[]);
        let mut both = req(T::WorkException, &[&h, b"e"]);
        both.extend(req(T::WorkFail, &[&h]));
        let replies = w.request(&both);
        if s.gearmand() {
            assert_eq!(replies.len(), 1, "{replies:?}");
            assert_eq!(
                replies[0].args(),
                [
                    b"JOB_NOT_FOUND".to_vec(),
                    b"Job given in work result not found".to_vec()
                ]
            );
        } else {
            assert!(replies.is_empty(), "{replies:?}");
        }
        // The client got one terminal packet either way.
        let got = c.recv();
        assert!(got.is(T::WorkFail), "{}", got.describe());
        assert!(c.sync().is_empty());
        // A second WORK_FAIL is no longer "immediately after": JOB_NOT_FOUND on both.
        let replies = w.request(&req(T::WorkFail, &[&h]));
        assert_eq!(replies.len(), 1);
        assert_eq!(replies[0].args()[0], b"JOB_NOT_FOUND");
    });
}
