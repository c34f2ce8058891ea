use agentwerke_types::{ErrorCode, Timestamp};

use super::*;

fn ts(text: &str) -> Timestamp {
    let t = OffsetDateTime::parse(text, &Rfc3339).unwrap();
    Timestamp((t.unix_timestamp_nanos() / 1_000_000) as i64)
}

fn spec(kind: TimerKind, expression: &str) -> TimerSpec {
    TimerSpec {
        kind,
        expression: expression.to_owned(),
        position: Position::default(),
    }
}

#[test]
fn parses_durations() {
    let d = IsoDuration::parse("P1Y2M3W4DT5H6M7.25S").unwrap();
    assert_eq!(
        d,
        IsoDuration {
            years: 1,
            months: 2,
            weeks: 3,
            days: 4,
            hours: 5,
            minutes: 6,
            millis: 7250
        }
    );
    assert_eq!(IsoDuration::parse("PT0,5S").unwrap().millis, 500);
    assert_eq!(IsoDuration::parse("PT1M").unwrap().minutes, 1);
    assert_eq!(IsoDuration::parse("P1M").unwrap().months, 1);
    for bad in [
        "",
        "P",
        "PT",
        "-PT1M",
        "PT-1M",
        "1D",
        "P1H",
        "PT1D",
        "P1.5D",
        "PT1M1M",
        "PT5",
        "P1DT",
        "PT.5S",
        "PT1.S",
        "P99999999999D",
    ] {
        let err = IsoDuration::parse(bad).unwrap_err();
        assert_eq!(err.code(), "bpmn.invalid_timer", "{bad}");
    }
}

#[test]
fn adds_calendar_months_and_fixed_time() {
    let jan31 = ts("2024-01-31T10:00:00Z");
    assert_eq!(
        IsoDuration::parse("P1M").unwrap().add_to(jan31),
        ts("2024-02-29T10:00:00Z")
    );
    assert_eq!(
        IsoDuration::parse("P1Y1M").unwrap().add_to(jan31),
        ts("2025-02-28T10:00:00Z")
    );
    assert_eq!(
        IsoDuration::parse("P1DT1H30M").unwrap().add_to(jan31),
        ts("2024-02-01T11:30:00Z")
    );
    assert_eq!(
        IsoDuration::parse("P2W").unwrap().add_to(jan31),
        ts("2024-02-14T10:00:00Z")
    );
    let before_epoch = ts("1969-12-31T23:00:00Z");
    assert_eq!(
        IsoDuration::parse("P1M").unwrap().add_to(before_epoch),
        ts("1970-01-31T23:00:00Z")
    );
}

#[test]
fn addition_saturates() {
    let big = IsoDuration {
        years: u32::MAX,
        ..Default::default()
    };
    assert_eq!(big.add_to(Timestamp(0)), Timestamp(i64::MAX));
    let days = IsoDuration {
        days: u32::MAX,
        hours: u32::MAX,
        millis: u64::MAX,
        ..Default::default()
    };
    assert_eq!(days.add_to(Timestamp(i64::MAX - 5)), Timestamp(i64::MAX));
}

#[test]
fn duration_and_date_fire_once() {
    let after = spec(TimerKind::Duration, " PT10M ").schedule().unwrap();
    assert_eq!(after.first_due(Timestamp(1_000)), Timestamp(601_000));
    assert_eq!(after.next_due(Timestamp(601_000), 1), None);
    let at = spec(TimerKind::Date, "2026-12-01T10:00:00Z")
        .schedule()
        .unwrap();
    assert_eq!(at, Schedule::At(ts("2026-12-01T10:00:00Z")));
    assert_eq!(at.first_due(Timestamp(0)), ts("2026-12-01T10:00:00Z"));
    assert_eq!(at.next_due(Timestamp(0), 1), None);
    let offset = spec(TimerKind::Date, "2026-12-01T12:00:00+02:00")
        .schedule()
        .unwrap();
    assert_eq!(offset, at);
    assert!(spec(TimerKind::Date, "2026-12-01").schedule().is_err());
    assert!(spec(TimerKind::Date, "tomorrow").schedule().is_err());
}

#[test]
fn cycles() {
    let bounded = spec(TimerKind::Cycle, "R3/2026-12-01T10:00:00Z/P1D")
        .schedule()
        .unwrap();
    let start = ts("2026-12-01T10:00:00Z");
    assert_eq!(bounded.first_due(Timestamp(0)), start);
    assert_eq!(bounded.next_due(start, 1), Some(ts("2026-12-02T10:00:00Z")));
    assert_eq!(
        bounded.next_due(ts("2026-12-02T10:00:00Z"), 2),
        Some(ts("2026-12-03T10:00:00Z"))
    );
    assert_eq!(bounded.next_due(ts("2026-12-03T10:00:00Z"), 3), None);
    let unbounded = spec(TimerKind::Cycle, "R/PT1H").schedule().unwrap();
    assert_eq!(unbounded.first_due(Timestamp(0)), Timestamp(3_600_000));
    assert_eq!(
        unbounded.next_due(Timestamp(3_600_000), 1_000_000),
        Some(Timestamp(7_200_000))
    );
    for bad in [
        "PT1H",
        "R0/PT1H",
        "R/PT0S",
        "R5/P0D",
        "Rx/PT1H",
        "R5",
        "R5/a/b/c",
        "R-1/PT1M",
        "R/2026-12-01T10:00:00Z/PT0M",
        "R/bad/PT1M",
    ] {
        let err = spec(TimerKind::Cycle, bad).schedule().unwrap_err();
        assert_eq!(err.code(), "bpmn.invalid_timer", "{bad}");
    }
}
