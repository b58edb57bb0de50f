//! Rules 20-21: only the recipient reports lifecycle events, at times between the transfer's
//! completion and the gateway's clock plus `clock_skew_secs`, nothing after `destroyed`, with
//! the evidence each event needs; a transfer is overdue strictly after received +
//! `retention_days` unless destroyed.
#![allow(clippy::unwrap_used)]

pub(crate) mod common;

use common::instant;
use loopgate_policy::LifecycleEvent::{self, Accessed, Destroyed, Stored};
use loopgate_policy::{
    LifecycleReport, Parameters, ReasonCode, check_event, is_overdue, retention_due,
};
use time::{Duration, OffsetDateTime};

/// The transfer completed at 10:00:00Z on 1 March; the gateway's clock reads noon on 10 March.
const COMPLETED: &str = "2026-03-01T10:00:00Z";
const NOW: &str = "2026-03-10T12:00:00Z";
const CERT: &str = "0f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c4b5a69788796a5b4c3d2e1f0";

struct EventRow {
    name: &'static str,
    history: &'static [LifecycleEvent],
    completed: Option<&'static str>,
    report: LifecycleReport<'static>,
    skew: u64,
    expect: Result<(), ReasonCode>,
}

fn report(event: LifecycleEvent, at: &str) -> LifecycleReport<'static> {
    LifecycleReport {
        event,
        at: instant(at),
        by_recipient: true,
        project: (event == Accessed).then_some("cohort-2026"),
        method: (event == Destroyed).then_some("crypto_erase"),
        certificate_sha256: (event == Destroyed).then_some(CERT),
    }
}

fn ev(
    name: &'static str,
    history: &'static [LifecycleEvent],
    report: LifecycleReport<'static>,
    expect: Result<(), ReasonCode>,
) -> EventRow {
    EventRow {
        name,
        history,
        completed: Some(COMPLETED),
        report,
        skew: 300,
        expect,
    }
}

const BAD_TIME: Result<(), ReasonCode> = Err(ReasonCode::LifecycleBadTime);
const NO_EVIDENCE: Result<(), ReasonCode> = Err(ReasonCode::LifecycleMissingEvidence);

fn event_rows() -> Vec<EventRow> {
    let at = "2026-03-05T09:00:00Z";
    vec![
        ev("stored", &[], report(Stored, at), Ok(())),
        ev(
            "accessed with its project",
            &[Stored],
            report(Accessed, at),
            Ok(()),
        ),
        ev(
            "destroyed with method and certificate",
            &[Stored],
            report(Destroyed, at),
            Ok(()),
        ),
        // Times: not before the transfer completed (the instant itself is allowed).
        ev(
            "at the instant it completed",
            &[],
            report(Stored, COMPLETED),
            Ok(()),
        ),
        ev(
            "a second before it completed",
            &[],
            report(Stored, "2026-03-01T09:59:59Z"),
            BAD_TIME,
        ),
        // ...and at most clock_skew_secs ahead of the gateway's clock (the limit is allowed).
        ev("at the gateway's clock", &[], report(Stored, NOW), Ok(())),
        ev(
            "300 s ahead of the clock",
            &[],
            report(Stored, "2026-03-10T12:05:00Z"),
            Ok(()),
        ),
        ev(
            "301 s ahead of the clock",
            &[],
            report(Stored, "2026-03-10T12:05:01Z"),
            BAD_TIME,
        ),
        EventRow {
            skew: 0,
            ..ev(
                "no skew allowed: a second ahead",
                &[],
                report(Stored, "2026-03-10T12:00:01Z"),
                BAD_TIME,
            )
        },
        EventRow {
            skew: 0,
            ..ev(
                "no skew allowed: at the clock",
                &[],
                report(Stored, NOW),
                Ok(()),
            )
        },
        ev(
            "offsets do not matter, only the instant",
            &[],
            report(Stored, "2026-03-10T20:05:00+08:00"),
            Ok(()),
        ),
        // Transitions.
        ev(
            "accessed after destroyed",
            &[Stored, Destroyed],
            report(Accessed, at),
            INVALID,
        ),
        ev(
            "destroyed twice",
            &[Destroyed],
            report(Destroyed, at),
            INVALID,
        ),
        EventRow {
            completed: None,
            ..ev(
                "the transfer has not completed",
                &[],
                report(Stored, at),
                INVALID,
            )
        },
        // Evidence.
        ev(
            "accessed without a project",
            &[],
            LifecycleReport {
                project: None,
                ..report(Accessed, at)
            },
            NO_EVIDENCE,
        ),
        ev(
            "accessed with a blank project",
            &[],
            LifecycleReport {
                project: Some("  "),
                ..report(Accessed, at)
            },
            NO_EVIDENCE,
        ),
        ev(
            "destroyed without a method",
            &[],
            LifecycleReport {
                method: None,
                ..report(Destroyed, at)
            },
            NO_EVIDENCE,
        ),
        ev(
            "destroyed without a certificate",
            &[],
            LifecycleReport {
                certificate_sha256: None,
                ..report(Destroyed, at)
            },
            NO_EVIDENCE,
        ),
        ev(
            "destroyed with 63 hex digits",
            &[],
            LifecycleReport {
                certificate_sha256: Some(&CERT[1..]),
                ..report(Destroyed, at)
            },
            NO_EVIDENCE,
        ),
        ev(
            "destroyed with 64 characters that are not all hex",
            &[],
            LifecycleReport {
                certificate_sha256: Some(
                    "zz1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c4b5a69788796a5b4c3d2e1f0",
                ),
                ..report(Destroyed, at)
            },
            NO_EVIDENCE,
        ),
        ev(
            "destroyed with upper-case hex",
            &[],
            LifecycleReport {
                certificate_sha256: Some(
                    "0F1E2D3C4B5A69788796A5B4C3D2E1F00F1E2D3C4B5A69788796A5B4C3D2E1F0",
                ),
                ..report(Destroyed, at)
            },
            Ok(()),
        ),
        ev(
            "stored needs no evidence",
            &[],
            LifecycleReport {
                project: None,
                ..report(Stored, at)
            },
            Ok(()),
        ),
        // Order: who, then when, then what may follow, then evidence.
        ev(
            "order: not the recipient before bad time",
            &[],
            LifecycleReport {
                by_recipient: false,
                ..report(Stored, "2020-01-01T00:00:00Z")
            },
            FORBIDDEN,
        ),
        ev(
            "order: bad time before invalid transition",
            &[Destroyed],
            report(Accessed, "2026-03-01T09:00:00Z"),
            BAD_TIME,
        ),
        EventRow {
            completed: None,
            ..ev(
                "order: not completed and ahead of the clock",
                &[],
                report(Stored, "2026-03-11T00:00:00Z"),
                BAD_TIME,
            )
        },
        ev(
            "order: invalid transition before missing evidence",
            &[Destroyed],
            LifecycleReport {
                method: None,
                ..report(Destroyed, at)
            },
            INVALID,
        ),
    ]
}

#[test]
fn event_table() {
    let now = instant(NOW);
    for row in event_rows() {
        let params = Parameters {
            clock_skew_secs: row.skew,
            ..Parameters::default()
        };
        let completed = row.completed.map(instant);
        assert_eq!(
            check_event(&row.report, row.history, completed, now, &params),
            row.expect,
            "{}",
            row.name
        );
    }
}

#[test]
fn every_rule_20_answer_has_a_row() {
    let codes = codes();
    for code in [
        ReasonCode::AuthForbidden,
        ReasonCode::LifecycleBadTime,
        ReasonCode::LifecycleInvalidTransition,
        ReasonCode::LifecycleMissingEvidence,
    ] {
        assert!(codes.contains(&code), "no row answers {code}");
    }
}

/// The codes rule 20's rows produce (also for `rules_coverage.rs`).
pub(crate) fn codes() -> Vec<ReasonCode> {
    let now = instant(NOW);
    event_rows()
        .iter()
        .filter_map(|row| {
            let params = Parameters {
                clock_skew_secs: row.skew,
                ..Parameters::default()
            };
            check_event(
                &row.report,
                row.history,
                row.completed.map(instant),
                now,
                &params,
            )
            .err()
        })
        .collect()
}

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

/// The order of events alone: every report well evidenced and in time.
#[test]
fn transition_table() {
    let params = Parameters::default();
    for t in TRANSITIONS {
        let report = LifecycleReport {
            by_recipient: t.by_recipient,
            ..report(t.event, "2026-03-05T09:00:00Z")
        };
        assert_eq!(
            check_event(
                &report,
                t.history,
                Some(instant(COMPLETED)),
                instant(NOW),
                &params
            ),
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
