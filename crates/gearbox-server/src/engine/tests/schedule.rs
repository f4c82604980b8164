//! Schedules on the fake clock: each firing submits a background job whose unique names the
//! firing, at the cron expression's times; missed firings are skipped, or made up once; a
//! firing whose job is still there is not doubled; durable firings wait for their commit;
//! schedules created with SUBMIT_JOB_SCHED are answered with a handle after their commit,
//! replaced by a second submission with the same unique, cancelled by handle, and survive a
//! restart.

use super::*;
use crate::cron::Cron;

pub(super) fn five_minutes_config(durable: bool, missed: Missed) -> EngineConfig {
    EngineConfig {
        handle_prefix: "H:test".into(),
        durable,
        schedules: vec![ScheduleSpec {
            cron: Cron::parse("*/5 * * * *").unwrap(),
            function: Bytes::from_static(b"report"),
            workload: Bytes::from_static(b"w"),
            unique: Bytes::from_static(b"s"),
            priority: Priority::Normal,
            missed,
            zone: None,
        }],
        ..EngineConfig::default()
    }
}

fn every_five_minutes(durable: bool) -> Harness {
    let mut h = Harness::with(five_minutes_config(durable, Missed::Skip));
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

/// Fire every timer up to `ms` from now, committing what is written; the uniques of the jobs
/// the worker then runs to completion.
fn run_for(h: &mut Harness, disk: &mut Disk, ms: u64) -> Vec<String> {
    let sent = h.advance(ms);
    h.commit_all(disk, &sent);
    let mut ran = Vec::new();
    while let Some((handle, _, unique, _)) = h.grab(W) {
        let sent = h.send(W, T::WorkComplete, &[handle.as_bytes(), b""]);
        h.commit_all(disk, &sent);
        ran.push(unique);
    }
    ran
}

#[test]
fn missed_once_makes_up_one_firing_after_a_restart_and_skip_none() {
    for missed in [Missed::Once, Missed::Skip] {
        let config = || five_minutes_config(true, missed);
        let mut h = Harness::with(config());
        h.engine.start_schedules(h.now);
        let mut disk = Disk::default();
        h.connect(1);
        h.send(W, T::CanDo, &[b"report"]);
        let first = h.now + to_next_slot(h.now);
        let wait = to_next_slot(h.now);
        assert_eq!(run_for(&mut h, &mut disk, wait).len(), 1);
        // Down for an hour: twelve firings missed.
        let back = first + 3_600_000 + 1_000;
        let mut h = disk.restart(config(), back);
        h.connect(1);
        h.send(W, T::CanDo, &[b"report"]);
        let made_up = run_for(&mut h, &mut disk, 0);
        match missed {
            Missed::Once => assert_eq!(made_up, vec![format!("s@{}", first / 1000 + 300)]),
            Missed::Skip => assert!(made_up.is_empty(), "{made_up:?}"),
        }
        // Then on as usual.
        let wait = to_next_slot(h.now);
        let next = run_for(&mut h, &mut disk, wait);
        assert_eq!(next, vec![format!("s@{}", h.now / 1000)]);
    }
}

fn sched(h: &mut Harness, unique: &str, minute: &str, workload: &str) -> Vec<Sent> {
    h.send(
        C,
        T::SubmitJobSched,
        &[
            b"report",
            unique.as_bytes(),
            minute.as_bytes(),
            b"",
            b"*",
            b"",
            b"",
            workload.as_bytes(),
        ],
    )
}

#[test]
fn submit_job_sched_creates_a_durable_schedule_that_survives_a_restart() {
    let config = || EngineConfig {
        handle_prefix: "H:test".into(),
        durable: true,
        ..EngineConfig::default()
    };
    let mut h = Harness::with(config());
    h.engine.start_schedules(h.now);
    let mut disk = Disk::default();
    h.connect(1);
    h.connect(2);
    h.send(W, T::CanDo, &[b"report"]);
    let sent = sched(&mut h, "nightly", "*/5", "v1");
    assert!(
        kinds_to(&sent, C).is_empty(),
        "answered before the commit: {sent:?}"
    );
    let sent = h.commit_all(&mut disk, &sent);
    let handle = created(&sent, C);
    // The same unique again replaces the definition and keeps the handle.
    let sent = sched(&mut h, "nightly", "*/10", "v2");
    let sent = h.commit_all(&mut disk, &sent);
    assert_eq!(created(&sent, C), handle);
    let listing = fields(&h.admin(C, "show scheduled"));
    assert_eq!(listing.len(), 1, "{listing:?}");
    assert_eq!(&listing[0][..3], [handle.as_str(), "report", "nightly"]);
    let to_ten = 600_000 - h.now % 600_000;
    assert_eq!(
        run_for(&mut h, &mut disk, to_ten),
        vec![format!("nightly@{}", h.now / 1000)]
    );

    // After a restart it goes on firing, under the same handle.
    let mut h = disk.restart(config(), h.now + 1_000);
    h.connect(1);
    h.connect(2);
    h.send(W, T::CanDo, &[b"report"]);
    let listing = fields(&h.admin(C, "show scheduled"));
    assert_eq!(listing[0][0], handle);
    let to_ten = 600_000 - h.now % 600_000;
    let fired = run_for(&mut h, &mut disk, to_ten);
    assert_eq!(fired, vec![format!("nightly@{}", h.now / 1000)]);
    // A second schedule, which stays.
    let sent = h.send(
        C,
        T::SubmitJobSched,
        &[b"report", b"", b"0", b"0", b"", b"", b"", b"w"],
    );
    h.commit_all(&mut disk, &sent);

    // Cancelled by its handle: gone, and gone from the store.
    let line = Bytes::from(format!("cancel job {handle}"));
    h.engine.admin(C, &line, &mut h.out);
    let sent = std::mem::take(&mut h.out.sent);
    assert!(sent.contains(&Sent::Text(C, "OK\r\n".into())), "{sent:?}");
    disk.apply(&sent);
    let listing = fields(&h.admin(C, "show scheduled"));
    assert!(listing.iter().all(|l| l[0] != handle), "{listing:?}");
    assert!(run_for(&mut h, &mut disk, 600_000)
        .iter()
        .all(|u| !u.starts_with("nightly@")));
    assert_eq!(
        disk.count(super::super::records::SCHEDULE),
        1,
        "the sched- one stays"
    );
}

#[test]
fn bad_schedules_are_refused_with_an_error() {
    let mut h = Harness::new();
    h.connect(2);
    let sent = sched(&mut h, "x", "61", "");
    assert_eq!(error_code(&sent, C), "INVALID_SCHEDULE");
    let long = "u".repeat(MAX_SCHEDULE_UNIQUE + 1);
    let sent = sched(&mut h, &long, "*", "");
    assert_eq!(error_code(&sent, C), "ARGUMENT_TOO_LARGE");
    let sent = h.send(
        C,
        T::SubmitJobSched,
        &[b"", b"u", b"", b"", b"", b"", b"", b""],
    );
    assert_eq!(error_code(&sent, C), "INVALID_FUNCTION_NAME");
    assert_eq!(h.admin(C, "show scheduled"), ".\n");
    // In memory mode the answer comes at once, and an empty unique is made up.
    let sent = sched(&mut h, "", "*", "");
    let handle = created(&sent, C);
    let listing = fields(&h.admin(C, "show scheduled"));
    let number = handle.rsplit(':').next().unwrap();
    assert_eq!(listing[0][2], format!("sched-{number}"));
}

#[test]
fn a_schedule_in_a_time_zone_fires_at_its_wall_clock_time() {
    let mut config = five_minutes_config(false, Missed::Skip);
    config.schedules[0].cron = Cron::parse("0 9 * * *").unwrap();
    config.schedules[0].zone = Some(crate::zone::Zone::get("Europe/Paris").unwrap());
    let mut h = Harness::with(config);
    h.engine.start_schedules(h.now);
    h.connect(1);
    h.connect(2);
    // T0 is 2023-11-14T22:13:20Z; 09:00 in Paris (UTC+1 in November) is 08:00 UTC.
    let listing = fields(&h.admin(C, "show scheduled"));
    assert_eq!(listing[0][3], "2023-11-15T08:00:00Z", "{listing:?}");
    h.send(W, T::CanDo, &[b"report"]);
    h.advance(1_700_035_200_000 - h.now - 1);
    assert_eq!(h.grab(W), None, "fired early");
    h.advance(1);
    let (_, _, unique, _) = h.grab(W).expect("the firing");
    assert_eq!(unique, "s@1700035200");
}
