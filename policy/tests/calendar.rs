//! Working days (rule 14), the park date of an instant, and the start of the rule 19 year.
#![allow(clippy::unwrap_used)]

mod common;

use common::{date, instant, reference};
use loopgate_policy::{Calendar, WeekdayKey, park_date, volume_year_start};
use time::{Date, Month, Weekday};

struct Add {
    name: &'static str,
    start: &'static str,
    n: u32,
    mainland: &'static str,
    hong_kong: &'static str,
}

/// Mainland 2026: holidays 10-01, 10-02, 10-05..=10-07; make-up Sunday 09-27 and Saturday 10-10.
/// Hong Kong 2026: holidays 10-01, 10-19, 12-25, 12-26; no make-up days.
const ADD: &[Add] = &[
    // Worked by hand in rules_contract.rs: 09-27(1) 28 29 30(4) 10-08(5) 09 10(7) 12 13 14(10).
    // Hong Kong: 09-28(1) 29 30(3) 10-02(4) 05 06 07 08 09(9) 12(10).
    Add {
        name: "golden week, 10 days",
        start: "2026-09-25",
        n: 10,
        mainland: "2026-10-14",
        hong_kong: "2026-10-12",
    },
    Add {
        name: "zero days is the start itself",
        start: "2026-09-26",
        n: 0,
        mainland: "2026-09-26",
        hong_kong: "2026-09-26",
    },
    Add {
        name: "make-up sunday is a working day",
        start: "2026-09-26",
        n: 1,
        mainland: "2026-09-27",
        hong_kong: "2026-09-28",
    },
    Add {
        name: "start on a make-up day does not count",
        start: "2026-09-27",
        n: 1,
        mainland: "2026-09-28",
        hong_kong: "2026-09-28",
    },
    Add {
        name: "over the holiday block",
        start: "2026-09-30",
        n: 1,
        mainland: "2026-10-08",
        hong_kong: "2026-10-02",
    },
    Add {
        name: "make-up saturday is a working day",
        start: "2026-10-09",
        n: 1,
        mainland: "2026-10-10",
        hong_kong: "2026-10-12",
    },
    Add {
        name: "start on a holiday",
        start: "2026-10-01",
        n: 1,
        mainland: "2026-10-08",
        hong_kong: "2026-10-02",
    },
    Add {
        name: "reference filing",
        start: "2026-03-02",
        n: 10,
        mainland: "2026-03-16",
        hong_kong: "2026-03-16",
    },
    Add {
        name: "friday plus one is monday",
        start: "2026-03-06",
        n: 1,
        mainland: "2026-03-09",
        hong_kong: "2026-03-09",
    },
    Add {
        name: "hong kong christmas",
        start: "2026-12-24",
        n: 1,
        mainland: "2026-12-25",
        hong_kong: "2026-12-28",
    },
    Add {
        name: "hong kong 10-19 holiday",
        start: "2026-10-16",
        n: 1,
        mainland: "2026-10-19",
        hong_kong: "2026-10-20",
    },
    Add {
        name: "across a year end",
        start: "2026-12-31",
        n: 1,
        mainland: "2027-01-01",
        hong_kong: "2027-01-01",
    },
];

#[test]
fn add_working_days_table() {
    let registry = reference();
    for a in ADD {
        assert_eq!(
            registry
                .calendars
                .mainland
                .add_working_days(date(a.start), a.n),
            Some(date(a.mainland)),
            "mainland: {}",
            a.name
        );
        assert_eq!(
            registry
                .calendars
                .hong_kong
                .add_working_days(date(a.start), a.n),
            Some(date(a.hong_kong)),
            "hong kong: {}",
            a.name
        );
    }
}

#[test]
fn working_day_classification() {
    let mainland = reference().calendars.mainland;
    assert!(
        mainland.is_working_day(date("2026-09-27")),
        "make-up sunday"
    );
    assert!(
        mainland.is_working_day(date("2026-10-10")),
        "make-up saturday"
    );
    assert!(!mainland.is_working_day(date("2026-10-01")), "holiday");
    assert!(!mainland.is_working_day(date("2026-10-03")), "weekend");
    assert!(mainland.is_working_day(date("2026-10-08")), "thursday");
    let hk = reference().calendars.hong_kong;
    assert!(
        !hk.is_working_day(date("2026-09-27")),
        "no make-up days in hong kong"
    );
}

#[test]
fn custom_weekend() {
    // A Friday-Saturday weekend.
    let calendar = Calendar {
        weekend: [WeekdayKey(Weekday::Friday), WeekdayKey(Weekday::Saturday)]
            .into_iter()
            .collect(),
        ..Calendar::default()
    };
    // Thursday 2026-03-05 + 1 = Sunday 03-08.
    assert_eq!(
        calendar.add_working_days(date("2026-03-05"), 1),
        Some(date("2026-03-08"))
    );
}

#[test]
fn no_working_day_gives_none_not_a_hang() {
    // Validation refuses such a calendar; one built by hand must still terminate.
    let calendar = Calendar {
        weekend: [
            Weekday::Monday,
            Weekday::Tuesday,
            Weekday::Wednesday,
            Weekday::Thursday,
            Weekday::Friday,
            Weekday::Saturday,
            Weekday::Sunday,
        ]
        .into_iter()
        .map(WeekdayKey)
        .collect(),
        ..Calendar::default()
    };
    assert_eq!(calendar.add_working_days(date("2026-03-02"), 10), None);
    // Only make-up days: still found.
    let mut with_workday = calendar.clone();
    with_workday.workdays.insert(date("2026-03-10"));
    assert_eq!(
        with_workday.add_working_days(date("2026-03-02"), 1),
        Some(date("2026-03-10"))
    );
}

/// The search gives up ten years (3,660 days) after the `n`th day could first be: a make-up day
/// 3,661 days on is found for `n = 1`, one a day later is not.
#[test]
fn the_search_gives_up_exactly_at_its_limit() {
    let nothing_but_weekends = Calendar {
        weekend: (0..7)
            .map(|i| WeekdayKey(Weekday::Monday.nth_next(i)))
            .collect(),
        ..Calendar::default()
    };
    let start = date("2026-03-02");
    for (after, found) in [(3_661, true), (3_662, false)] {
        let day = start + time::Duration::days(after);
        let mut calendar = nothing_but_weekends.clone();
        calendar.workdays.insert(day);
        assert_eq!(
            calendar.add_working_days(start, 1),
            found.then_some(day),
            "a make-up day {after} days on"
        );
    }
}

#[test]
fn weekdays_order_monday_first() {
    let (monday, sunday) = (WeekdayKey(Weekday::Monday), WeekdayKey(Weekday::Sunday));
    assert!(monday < sunday);
    assert_eq!(monday.partial_cmp(&sunday), Some(std::cmp::Ordering::Less));
}

#[test]
fn end_of_the_date_range_gives_none() {
    // Regression guard: walking past Date::MAX must not panic.
    let calendar = Calendar::default();
    assert_eq!(calendar.add_working_days(Date::MAX, 1), None);
    assert_eq!(calendar.add_working_days(Date::MAX, 0), Some(Date::MAX));
}

#[test]
fn park_date_is_utc_plus_8() {
    assert_eq!(
        park_date(instant("2026-03-16T15:59:59Z")),
        date("2026-03-16")
    );
    assert_eq!(
        park_date(instant("2026-03-16T16:00:00Z")),
        date("2026-03-17")
    );
    assert_eq!(
        park_date(instant("2026-03-16T00:00:00+08:00")),
        date("2026-03-16")
    );
    assert_eq!(
        park_date(instant("2026-03-16T23:59:59+08:00")),
        date("2026-03-16")
    );
    assert_eq!(
        park_date(instant("2026-03-16T11:00:00-05:00")),
        date("2026-03-17")
    );
    assert_eq!(
        park_date(instant("2026-12-31T16:00:00Z")),
        date("2027-01-01")
    );
}

#[test]
fn volume_year_start_table() {
    let cases: &[(&str, (Month, u8), &str)] = &[
        ("2026-03-16", (Month::January, 1), "2026-01-01"),
        ("2026-01-01", (Month::January, 1), "2026-01-01"),
        ("2025-12-31", (Month::January, 1), "2025-01-01"),
        ("2026-03-31", (Month::April, 1), "2025-04-01"),
        ("2026-04-01", (Month::April, 1), "2026-04-01"),
        ("2026-04-02", (Month::April, 1), "2026-04-01"),
        // A 29 February start falls back to 28 February in common years.
        ("2028-03-01", (Month::February, 29), "2028-02-29"),
        ("2028-02-28", (Month::February, 29), "2027-02-28"),
        ("2027-03-01", (Month::February, 29), "2027-02-28"),
        ("2027-02-28", (Month::February, 29), "2027-02-28"),
        ("2027-02-27", (Month::February, 29), "2026-02-28"),
        ("2026-12-31", (Month::December, 31), "2026-12-31"),
        ("2026-12-30", (Month::December, 31), "2025-12-31"),
    ];
    for (today, start, expected) in cases {
        assert_eq!(
            volume_year_start(date(today), *start),
            date(expected),
            "today {today}, start {start:?}"
        );
    }
}

/// Regression guard: `park_date` (and so `evaluate`) panicked with "local datetime out of valid
/// range" for an instant whose UTC+8 day is after 9999-12-31, e.g. `loopgate policy eval --at
/// 9999-12-31T16:00:00Z`. Such instants are now held at the last supported day.
#[test]
fn park_date_at_the_ends_of_the_date_range() {
    assert_eq!(park_date(instant("9999-12-31T15:59:59Z")), Date::MAX);
    assert_eq!(park_date(instant("9999-12-31T16:00:00Z")), Date::MAX);
    assert_eq!(park_date(instant("9999-12-31T23:59:59-08:00")), Date::MAX);
    let earliest = time::PrimitiveDateTime::new(Date::MIN, time::Time::MIDNIGHT)
        .assume_offset(time::UtcOffset::from_hms(14, 0, 0).unwrap());
    assert_eq!(park_date(earliest), Date::MIN);
    let registry = reference();
    let decision =
        loopgate_policy::evaluate(&registry, &common::pi(), instant("9999-12-31T16:00:00Z"));
    assert_eq!(
        decision.reason,
        Some(loopgate_policy::ReasonCode::TenantNotValid)
    );
    assert_eq!(decision.evaluated_on, Date::MAX);
}
