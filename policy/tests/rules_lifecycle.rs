//! Rules 20-21: only the recipient reports lifecycle events, nothing is valid after `destroyed`,
//! and a transfer is overdue strictly after received + `retention_days` unless destroyed.
#![allow(clippy::unwrap_used)]

mod common;

use common::instant;
use loopgate_policy::LifecycleEvent::{self, Accessed, Destroyed, Stored};
use loopgate_policy::{ReasonCode, check_transition, is_overdue, retention_due};
use time::{Duration, OffsetDateTime};

struct Transition {
    name: &'static str,
    history: &'static [LifecycleEvent],
    event: LifecycleEvent,
    by_recipient: bool,
    expect: Result<(), ReasonCode>,
}

const fn row(
    name: &'static str,
    history: &'static [LifecycleEvent],
    event: LifecycleEvent,
    by_recipient: bool,
    expect: Result<(), ReasonCode>,
) -> Transition {
    Transition {
        name,
        history,
        event,
        by_recipient,
        expect,
    }
}

const FORBIDDEN: Result<(), ReasonCode> = Err(ReasonCode::AuthForbidden);
const INVALID: Result<(), ReasonCode> = Err(ReasonCode::LifecycleInvalidTransition);

const TRANSITIONS: &[Transition] = &[
    row("stored first", &[], Stored, true, Ok(())),
    row("accessed first", &[], Accessed, true, Ok(())),
    row("destroyed first", &[], Destroyed, true, Ok(())),
    row("accessed after stored", &[Stored], Accessed, true, Ok(())),
    row(
        "accessed twice",
        &[Stored, Accessed],
        Accessed,
        true,
        Ok(()),
    ),
    row("stored again", &[Stored], Stored, true, Ok(())),
    row(
        "destroyed after use",
        &[Stored, Accessed, Accessed],
        Destroyed,
        true,
        Ok(()),
    ),
    row(
        "accessed after destroyed",
        &[Stored, Destroyed],
        Accessed,
        true,
        INVALID,
    ),
    row(
        "stored after destroyed",
        &[Stored, Destroyed],
        Stored,
        true,
        INVALID,
    ),
    row(
        "destroyed twice",
        &[Stored, Destroyed],
        Destroyed,
        true,
        INVALID,
    ),
    row(
        "destroyed first, then accessed",
        &[Destroyed],
        Accessed,
        true,
        INVALID,
    ),
    row(
        "destroyed in the middle of history",
        &[Destroyed, Stored],
        Accessed,
        true,
        INVALID,
    ),
    row("sender reports stored", &[], Stored, false, FORBIDDEN),
    row(
        "sender reports destroyed",
        &[Stored],
        Destroyed,
        false,
        FORBIDDEN,
    ),
    // Who reports is checked before what is reported.
    row(
        "sender after destroyed",
        &[Destroyed],
        Accessed,
        false,
        FORBIDDEN,
    ),
];

#[test]
fn transition_table() {
    for t in TRANSITIONS {
        assert_eq!(
            check_transition(t.history, t.event, t.by_recipient),
            t.expect,
            "{}",
            t.name
        );
    }
}

#[test]
fn event_spellings_round_trip() {
    for event in [Stored, Accessed, Destroyed] {
        assert_eq!(LifecycleEvent::parse(event.as_str()), Some(event));
    }
    assert_eq!(LifecycleEvent::parse("Destroyed"), None);
    assert_eq!(LifecycleEvent::parse(""), None);
}

struct Retention {
    name: &'static str,
    retention_days: u32,
    destroyed: bool,
    now: &'static str,
    overdue: bool,
}

/// Received at 2026-03-01T10:00:00Z.
const RECEIVED: &str = "2026-03-01T10:00:00Z";

const RETENTION: &[Retention] = &[
    Retention {
        name: "well before due",
        retention_days: 30,
        destroyed: false,
        now: "2026-03-15T00:00:00Z",
        overdue: false,
    },
    Retention {
        name: "exactly at due",
        retention_days: 30,
        destroyed: false,
        now: "2026-03-31T10:00:00Z",
        overdue: false,
    },
    Retention {
        name: "one second after due",
        retention_days: 30,
        destroyed: false,
        now: "2026-03-31T10:00:01Z",
        overdue: true,
    },
    Retention {
        name: "a day after due",
        retention_days: 30,
        destroyed: false,
        now: "2026-04-01T10:00:00Z",
        overdue: true,
    },
    Retention {
        name: "destroyed, long after due",
        retention_days: 30,
        destroyed: true,
        now: "2027-01-01T00:00:00Z",
        overdue: false,
    },
    Retention {
        name: "zero days, at receipt",
        retention_days: 0,
        destroyed: false,
        now: "2026-03-01T10:00:00Z",
        overdue: false,
    },
    Retention {
        name: "zero days, a second later",
        retention_days: 0,
        destroyed: false,
        now: "2026-03-01T10:00:01Z",
        overdue: true,
    },
    Retention {
        name: "now before receipt",
        retention_days: 0,
        destroyed: false,
        now: "2026-02-01T00:00:00Z",
        overdue: false,
    },
];

#[test]
fn retention_table() {
    let received = instant(RECEIVED);
    for r in RETENTION {
        assert_eq!(
            is_overdue(received, r.retention_days, r.destroyed, instant(r.now)),
            r.overdue,
            "{}",
            r.name
        );
    }
}

#[test]
fn retention_due_is_received_plus_whole_days() {
    let received = instant(RECEIVED);
    assert_eq!(retention_due(received, 30), instant("2026-03-31T10:00:00Z"));
    assert_eq!(retention_due(received, 0), received);
    assert_eq!(retention_due(received, 365), received + Duration::days(365));
    // Regression guard: a huge retention near the end of time saturates instead of panicking.
    let late = OffsetDateTime::new_utc(time::Date::MAX, time::Time::MIDNIGHT);
    assert!(retention_due(late, u32::MAX) >= late);
    assert!(!is_overdue(late, u32::MAX, false, late));
}
