//! Retry policies on the fake clock: a failed attempt waits its backoff outside its queue, the
//! attempt number shows in `show jobs`, retries run out into a final failure, WORK_FAIL is
//! retried only when no client waits, and functions without a policy keep gearmand's rules.

use super::*;

fn with_policy(retries: u16, retry_on: RetryOn) -> Harness {
    let mut policies = RetryPolicies::default();
    policies.by_function.insert(
        Bytes::from_static(b"f"),
        RetryPolicy {
            retries,
            backoff_min_ms: 1_000,
            backoff_max_ms: 1_000,
            retry_on,
        },
    );
    Harness::with(EngineConfig {
        handle_prefix: "H:test".into(),
        retry_policies: policies,
        ..EngineConfig::default()
    })
}

/// `show jobs`' attempt column for the only job.
fn attempts(h: &mut Harness) -> String {
    let text = h.admin(C, "show jobs");
    text.lines()
        .next()
        .and_then(|l| l.split('\t').nth(1))
        .unwrap_or("none")
        .to_owned()
}

#[test]
fn a_failed_background_job_waits_its_backoff_then_runs_again() {
    let mut h = with_policy(2, RetryOn::default());
    h.connect(1);
    h.connect(2);
    h.send(W, T::CanDo, &[b"f"]);
    let handle = h.submit(C, T::SubmitJobBg, "f", "u", "data");
    // Attempt 1 fails (WORK_FAIL), attempt 2 raises (WORK_EXCEPTION): each waits 1 s.
    for (retry, kind) in [(1, T::WorkFail), (2, T::WorkException)] {
        let (got, ..) = h.grab(W).expect("the job");
        assert_eq!(got, handle);
        let args: &[&[u8]] = if kind == T::WorkFail {
            &[handle.as_bytes()]
        } else {
            &[handle.as_bytes(), b"boom"]
        };
        h.send(W, kind, args);
        assert_eq!(h.grab(W), None, "retry {retry} ran before its backoff");
        assert_eq!(attempts(&mut h), retry.to_string());
        assert!(h.engine.audit().is_empty(), "{:?}", h.engine.audit());
        h.advance(999);
        assert_eq!(h.grab(W), None);
        h.advance(1);
    }
    // Attempt 3, the last: its failure is final and the job is gone.
    let (got, ..) = h.grab(W).expect("the last attempt");
    assert_eq!(got, handle);
    h.send(W, T::WorkFail, &[handle.as_bytes()]);
    h.advance(10_000);
    assert_eq!(h.grab(W), None);
    assert_eq!(h.admin(C, "show jobs"), ".\n");
    assert!(h.engine.audit().is_empty(), "{:?}", h.engine.audit());
}

#[test]
fn a_lost_foreground_job_waits_and_its_client_keeps_waiting() {
    let mut h = with_policy(1, RetryOn::default());
    h.connect(1);
    h.connect(2);
    h.connect(3);
    h.send(W, T::CanDo, &[b"f"]);
    let handle = h.submit(C, T::SubmitJob, "f", "u", "data");
    assert!(h.grab(W).is_some());
    let sent = h.close(W);
    assert!(kinds_to(&sent, C).is_empty(), "the client heard {sent:?}");
    let w2 = ConnId(3);
    h.send(w2, T::CanDo, &[b"f"]);
    assert_eq!(h.grab(w2), None);
    h.advance(1_000);
    let (got, ..) = h.grab(w2).expect("the retry");
    assert_eq!(got, handle);
    // Lost again: no retries left, the client hears WORK_FAIL.
    let sent = h.close(w2);
    assert_eq!(kinds_to(&sent, C), vec![T::WorkFail]);
}

#[test]
fn work_fail_is_final_when_a_client_waits_or_the_policy_leaves_it_out() {
    let mut h = with_policy(3, RetryOn::default());
    h.connect(1);
    h.connect(2);
    h.send(W, T::CanDo, &[b"f"]);
    let handle = h.submit(C, T::SubmitJob, "f", "fg", "data");
    h.grab(W).unwrap();
    let sent = h.send(W, T::WorkFail, &[handle.as_bytes()]);
    assert_eq!(kinds_to(&sent, C), vec![T::WorkFail]);

    let mut h = with_policy(
        3,
        RetryOn {
            fail: false,
            ..RetryOn::default()
        },
    );
    h.connect(1);
    h.connect(2);
    h.send(W, T::CanDo, &[b"f"]);
    let handle = h.submit(C, T::SubmitJobBg, "f", "bg", "data");
    h.grab(W).unwrap();
    h.send(W, T::WorkFail, &[handle.as_bytes()]);
    h.advance(60_000);
    assert_eq!(h.grab(W), None, "a WORK_FAIL outside retry_on was retried");
}

#[test]
fn a_function_without_a_policy_keeps_gearmands_rules() {
    let mut h = with_policy(3, RetryOn::default());
    h.connect(1);
    h.connect(2);
    h.send(W, T::CanDo, &[b"g"]);
    let handle = h.submit(C, T::SubmitJobBg, "g", "u", "data");
    h.grab(W).unwrap();
    h.send(W, T::WorkFail, &[handle.as_bytes()]);
    assert_eq!(h.grab(W), None, "a failure without a policy is final");
    let handle = h.submit(C, T::SubmitJobBg, "g", "u2", "data");
    h.grab(W).unwrap();
    h.send(W, T::ResetAbilities, &[]);
    h.send(W, T::CanDo, &[b"g"]);
    let (again, ..) = h.grab(W).expect("requeued at once");
    assert_eq!(again, handle);
}
