//! Configured schedules on the fake clock: each firing submits a background job whose unique
//! names the firing, at the cron expression's times; missed firings are skipped; a firing
//! whose job is still there is not doubled; durable firings wait for their commit.

use super::*;
use crate::cron::Cron;

fn every_five_minutes(durable: bool) -> Harness {
    let mut h = Harness::with(EngineConfig {
        handle_prefix: "H:test".into(),
        durable,
        schedules: vec![ScheduleSpec {
            cron: Cron::parse("*/5 * * * *").unwrap(),
            function: Bytes::from_static(b"report"),
            workload: Bytes::from_static(b"w"),
            unique: Bytes::from_static(b"s"),
            priority: Priority::Normal,
            missed: Missed::Skip,
        }],
        ..EngineConfig::default()
    });
    h.engine.start_schedules(h.now);
    h
}

/// Milliseconds from `now` to the next multiple of five minutes.
fn to_next_slot(now: u64) -> u64 {
    300_000 - now % 300_000
}

#[test]
fn each_firing_submits_one_background_job() {
    let mut h = every_five_minutes(false);
    h.connect(1);
    h.send(W, T::CanDo, &[b"report"]);
    let wait = to_next_slot(h.now);
    h.advance(wait - 1);
    assert_eq!(h.grab(W), None, "fired early");
    h.advance(1);
    let (_, function, unique, data) = h.grab(W).expect("the first firing");
    assert_eq!((function.as_str(), data.as_str()), ("report", "w"));
    assert_eq!(unique, format!("s@{}", h.now / 1000));
    // Two more firings, five minutes apart; the jobs queue up.
    h.advance(300_000);
    h.advance(300_000);
    let uniques: Vec<String> = std::iter::from_fn(|| h.grab(W).map(|(_, _, u, _)| u)).collect();
    assert_eq!(
        uniques,
        vec![
            format!("s@{}", (h.now - 300_000) / 1000),
            format!("s@{}", h.now / 1000)
        ]
    );
    assert!(h.engine.audit().is_empty(), "{:?}", h.engine.audit());
}

#[test]
fn missed_firings_are_skipped_and_the_listing_shows_the_next() {
    let mut h = every_five_minutes(false);
    h.connect(1);
    h.connect(2);
    let first = h.now + to_next_slot(h.now);
    // The tick comes an hour late (a stalled server): one firing, not twelve.
    h.now = first + 3_600_000;
    h.engine.tick(h.now, &mut h.out);
    h.out.sent.clear();
    h.send(W, T::CanDo, &[b"report"]);
    assert!(h.grab(W).is_some());
    assert_eq!(h.grab(W), None, "missed firings were made up");
    let listing = h.admin(C, "show scheduled");
    let line = listing.lines().next().unwrap().to_owned();
    let fields: Vec<&str> = line.split('\t').collect();
    assert_eq!(&fields[..3], ["cron:1", "report", "s"], "{listing}");
    assert_eq!(fields[4], "normal");
    let next_secs = (h.now + to_next_slot(h.now)) / 1000;
    let expected = super::super::admin::utc(i64::try_from(next_secs).unwrap());
    assert_eq!(fields[3], expected);
}

#[test]
fn a_firing_whose_job_is_still_there_is_not_doubled() {
    let mut h = every_five_minutes(false);
    h.connect(2);
    let due = h.now + to_next_slot(h.now);
    // A client already submitted the job this firing would make.
    let unique = format!("s@{}", due / 1000);
    h.submit(C, T::SubmitJobBg, "report", &unique, "from a client");
    h.advance(to_next_slot(h.now));
    let shown = h.admin(C, "show unique jobs");
    assert_eq!(shown.matches(&unique).count(), 1, "{shown}");
}

#[test]
fn a_durable_firing_runs_once_committed() {
    let mut h = every_five_minutes(true);
    h.connect(1);
    h.send(W, T::CanDo, &[b"report"]);
    let sent = h.advance(to_next_slot(h.now));
    let seq = sent
        .iter()
        .find_map(|s| match s {
            Sent::Persist(seq, StoreOp::Put(job)) if &job.function[..] == b"report" => Some(*seq),
            _ => None,
        })
        .expect("the firing's job is written to the store");
    assert_eq!(h.grab(W), None, "handed out before its commit");
    h.engine.committed(seq, None, h.now, &mut h.out);
    h.out.sent.clear();
    assert!(h.grab(W).is_some());
}
