//! Rules S9-S12: the custody chain of an allowed shipment. Every event out of order and by every
//! wrong party, the evidence each event needs, times at and just past both bounds, each
//! discrepancy flag, the quantity held, who holds the samples, closing, and overdue handovers
//! and retention.
#![allow(clippy::unwrap_used)]

pub(crate) mod common;

use common::{FACILITY, instant};
use loopgate_policy::CustodyEvent::{
    self, BorderCleared, CheckedOut, Delivered, Destroyed, PickedUp, Received, Returned, Sealed,
    Stored, Used,
};
use loopgate_policy::CustodyFlag::{
    FacilityMismatch, OverConsumed, QuantityMismatch, SealMismatch,
};
use loopgate_policy::{
    Custody, CustodyFlag, CustodyParty, CustodyReport, Declared, Overdue, Parameters, ReasonCode,
    ShipmentStatus,
};
use time::{Duration, OffsetDateTime};

/// The declaration was decided at 02:00Z on 15 April; the gateway's clock reads five days later.
const DECLARED_AT: &str = "2026-04-15T02:00:00Z";
const NOW: &str = "2026-04-20T02:00:00Z";
const CERT: &str = "0f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c4b5a69788796a5b4c3d2e1f0";
const SEALS: &[&str] = &["SEAL-0001", "SEAL-0002"];
const DECLARED: u64 = 10;

/// The handovers in order; `stored` opens the storage phase.
const PATH: [CustodyEvent; 6] = [Sealed, PickedUp, BorderCleared, Delivered, Received, Stored];
const STORAGE: [CustodyEvent; 5] = [Stored, CheckedOut, Used, Returned, Destroyed];

const INVALID: Result<Vec<CustodyFlag>, ReasonCode> = Err(ReasonCode::CustodyInvalidTransition);
const FORBIDDEN: Result<Vec<CustodyFlag>, ReasonCode> = Err(ReasonCode::AuthForbidden);
const BAD_TIME: Result<Vec<CustodyFlag>, ReasonCode> = Err(ReasonCode::CustodyBadTime);
const NO_EVIDENCE: Result<Vec<CustodyFlag>, ReasonCode> = Err(ReasonCode::CustodyMissingEvidence);
/// No flag, no event.
const NONE: [CustodyFlag; 0] = [];
const NO_EVENT: [CustodyEvent; 0] = [];

/// Test strings that live as long as the reports borrowing them.
fn ids(list: &[&str]) -> &'static [String] {
    Vec::leak(list.iter().map(|s| (*s).to_owned()).collect())
}

fn declared_at() -> OffsetDateTime {
    instant(DECLARED_AT)
}

fn now() -> OffsetDateTime {
    instant(NOW)
}

/// `hours` after the declaration.
fn hour(hours: i64) -> OffsetDateTime {
    declared_at() + Duration::hours(hours)
}

fn declared() -> Declared {
    Declared {
        quantity: DECLARED,
        storage_facility: FACILITY.to_owned(),
        retention_days: 365,
        at: declared_at(),
    }
}

/// `event` by its own party at `at`, with exactly the evidence it needs: the sealed ids, the
/// declared quantity received, one unit checked out, used, returned or destroyed.
fn report(event: CustodyEvent, at: OffsetDateTime) -> CustodyReport<'static> {
    CustodyReport {
        event,
        at: Some(at),
        by: event.party(),
        seal_ids: matches!(event, Sealed | PickedUp | Received).then(|| ids(SEALS)),
        customs_declaration: (event == BorderCleared).then_some("CUS-2026-000123"),
        quantity: match event {
            Received => Some(DECLARED),
            CheckedOut | Used | Returned | Destroyed => Some(1),
            _ => None,
        },
        facility: (event == Stored).then_some(FACILITY),
        project: matches!(event, CheckedOut | Used).then_some("cohort-2026"),
        method: (event == Destroyed).then_some("autoclave"),
        certificate_sha256: (event == Destroyed).then_some(CERT),
    }
}

/// `report(event, ..)` with `quantity`.
fn counted(event: CustodyEvent, at: OffsetDateTime, quantity: u64) -> CustodyReport<'static> {
    CustodyReport {
        quantity: Some(quantity),
        ..report(event, at)
    }
}

/// The chain after `reports`, each checked (it must be accepted) and applied with its flags.
fn chain(reports: &[CustodyReport<'static>]) -> Custody {
    let mut custody = Custody::new(declared());
    for r in reports {
        accept(&mut custody, r);
    }
    custody
}

/// Checks `r` at the gateway's `NOW` with default parameters, applies it, returns its flags.
fn accept(custody: &mut Custody, r: &CustodyReport<'_>) -> Vec<CustodyFlag> {
    let flags = custody
        .check(r, now(), &Parameters::default())
        .unwrap_or_else(|code| panic!("{:?} refused with {code}", r.event));
    custody.apply(r, &flags);
    flags
}

/// The first `n` handovers, an hour apart from one hour after the declaration.
fn path(n: usize) -> Vec<CustodyReport<'static>> {
    PATH.iter()
        .take(n)
        .zip(1..)
        .map(|(event, h)| report(*event, hour(h)))
        .collect()
}

/// `path(6)` followed by `events` (storage phase), an hour apart.
fn stored_then(events: &[CustodyReport<'static>]) -> Vec<CustodyReport<'static>> {
    let mut all = path(6);
    all.extend_from_slice(events);
    all
}

/// The chain just before `event` may first come.
fn before(event: CustodyEvent) -> Custody {
    match PATH.iter().position(|e| *e == event) {
        Some(i) => chain(&path(i)),
        None => chain(&path(6)),
    }
}

// ---------------------------------------------------------------------------------------------
// S9: order and party.

/// Every event in every state: the chain's own order, written out here, decides which are
/// accepted; all others are `custody.invalid_transition`, and `next_events` lists exactly the
/// accepted ones.
#[test]
fn every_event_in_every_state() {
    let storage = STORAGE.to_vec();
    let states: Vec<(&str, Vec<CustodyReport<'static>>, Vec<CustodyEvent>)> = vec![
        ("declared", path(0), vec![Sealed]),
        ("sealed", path(1), vec![PickedUp]),
        ("picked up", path(2), vec![BorderCleared]),
        ("border cleared", path(3), vec![Delivered]),
        ("delivered", path(4), vec![Received]),
        ("received", path(5), vec![Stored]),
        ("stored", path(6), storage.clone()),
        (
            "checked out",
            stored_then(&[report(CheckedOut, hour(7))]),
            storage.clone(),
        ),
        (
            "used",
            stored_then(&[report(Used, hour(7))]),
            storage.clone(),
        ),
        (
            "returned",
            stored_then(&[report(Returned, hour(7))]),
            storage.clone(),
        ),
        (
            "destroyed in part",
            stored_then(&[report(Destroyed, hour(7))]),
            storage.clone(),
        ),
        (
            "stored again after use",
            stored_then(&[report(Used, hour(7)), report(Stored, hour(8))]),
            storage.clone(),
        ),
        (
            "checked out twice",
            stored_then(&[report(CheckedOut, hour(7)), report(CheckedOut, hour(8))]),
            storage,
        ),
        (
            "closed: everything destroyed",
            stored_then(&[counted(Destroyed, hour(7), DECLARED)]),
            vec![],
        ),
        (
            "closed: used and returned to zero",
            stored_then(&[counted(Used, hour(7), 4), counted(Returned, hour(8), 6)]),
            vec![],
        ),
        (
            "closed: nothing received",
            {
                let mut reports = path(4);
                reports.push(counted(Received, hour(5), 0));
                reports
            },
            vec![],
        ),
    ];
    for (name, history, allowed) in states {
        let custody = chain(&history);
        assert_eq!(custody.next_events(), allowed, "{name}: next_events");
        for event in CustodyEvent::ALL.iter().copied() {
            let expect = if allowed.contains(&event) {
                Ok(vec![])
            } else {
                INVALID
            };
            let got = custody.check(&report(event, hour(20)), now(), &Parameters::default());
            assert_eq!(got, expect, "{name}: {}", event.as_str());
        }
    }
}

#[test]
fn who_reports_each_event() {
    use CustodyParty::{Carrier, Recipient, Sender};
    let table = [
        (Sealed, Sender),
        (PickedUp, Carrier),
        (BorderCleared, Carrier),
        (Delivered, Carrier),
        (Received, Recipient),
        (Stored, Recipient),
        (CheckedOut, Recipient),
        (Used, Recipient),
        (Returned, Recipient),
        (Destroyed, Recipient),
    ];
    assert_eq!(
        table.iter().map(|(e, _)| *e).collect::<Vec<_>>(),
        CustodyEvent::ALL
    );
    for (event, party) in table {
        assert_eq!(event.party(), party, "{}", event.as_str());
    }
}

/// Every event by every party that may not report it, where the event would otherwise be
/// accepted, is `auth.forbidden`; so it is out of order and on a closed shipment (the party is
/// checked first).
#[test]
fn every_wrong_party_is_forbidden() {
    let closed = chain(&stored_then(&[counted(Destroyed, hour(7), DECLARED)]));
    for event in CustodyEvent::ALL.iter().copied() {
        for by in CustodyParty::ALL.iter().copied() {
            if by == event.party() {
                continue;
            }
            let r = CustodyReport {
                by,
                ..report(event, hour(20))
            };
            let name = format!("{} by the {}", event.as_str(), by.as_str());
            let params = Parameters::default();
            assert_eq!(before(event).check(&r, now(), &params), FORBIDDEN, "{name}");
            assert_eq!(
                Custody::new(declared()).check(&r, now(), &params),
                FORBIDDEN,
                "{name}, before sealed"
            );
            assert_eq!(
                closed.check(&r, now(), &params),
                FORBIDDEN,
                "{name}, closed"
            );
            // Neither a missing time nor missing evidence comes first.
            let bare = CustodyReport {
                event,
                at: None,
                by,
                seal_ids: None,
                customs_declaration: None,
                quantity: None,
                facility: None,
                project: None,
                method: None,
                certificate_sha256: None,
            };
            assert_eq!(
                before(event).check(&bare, now(), &params),
                FORBIDDEN,
                "{name}, bare"
            );
        }
    }
}

// ---------------------------------------------------------------------------------------------
// S10: evidence and times.

struct Row {
    name: &'static str,
    report: CustodyReport<'static>,
    expect: Result<Vec<CustodyFlag>, ReasonCode>,
}

fn row(
    name: &'static str,
    report: CustodyReport<'static>,
    expect: Result<Vec<CustodyFlag>, ReasonCode>,
) -> Row {
    Row {
        name,
        report,
        expect,
    }
}

/// `report(event, ..)` at a time every state accepts, changed by `edit`.
fn with(event: CustodyEvent, edit: fn(&mut CustodyReport<'static>)) -> CustodyReport<'static> {
    let mut r = report(event, hour(20));
    edit(&mut r);
    r
}

fn evidence_rows() -> Vec<Row> {
    let ok = Ok(vec![]);
    vec![
        // Every event with exactly its evidence, and nothing but its time for `delivered`.
        row("sealed", with(Sealed, |_| {}), ok.clone()),
        row("picked up", with(PickedUp, |_| {}), ok.clone()),
        row("border cleared", with(BorderCleared, |_| {}), ok.clone()),
        row("delivered", with(Delivered, |_| {}), ok.clone()),
        row("received", with(Received, |_| {}), ok.clone()),
        row("stored", with(Stored, |_| {}), ok.clone()),
        row("checked out", with(CheckedOut, |_| {}), ok.clone()),
        row("used", with(Used, |_| {}), ok.clone()),
        row("returned", with(Returned, |_| {}), ok.clone()),
        row("destroyed", with(Destroyed, |_| {}), ok.clone()),
        // A time is evidence too, for every event.
        row(
            "sealed without at",
            with(Sealed, |r| r.at = None),
            NO_EVIDENCE,
        ),
        row(
            "picked up without at",
            with(PickedUp, |r| r.at = None),
            NO_EVIDENCE,
        ),
        row(
            "border cleared without at",
            with(BorderCleared, |r| r.at = None),
            NO_EVIDENCE,
        ),
        row(
            "delivered without at",
            with(Delivered, |r| r.at = None),
            NO_EVIDENCE,
        ),
        row(
            "received without at",
            with(Received, |r| r.at = None),
            NO_EVIDENCE,
        ),
        row(
            "stored without at",
            with(Stored, |r| r.at = None),
            NO_EVIDENCE,
        ),
        row(
            "checked out without at",
            with(CheckedOut, |r| r.at = None),
            NO_EVIDENCE,
        ),
        row("used without at", with(Used, |r| r.at = None), NO_EVIDENCE),
        row(
            "returned without at",
            with(Returned, |r| r.at = None),
            NO_EVIDENCE,
        ),
        row(
            "destroyed without at",
            with(Destroyed, |r| r.at = None),
            NO_EVIDENCE,
        ),
        // sealed and picked_up: seal ids, not empty, none blank.
        row(
            "sealed without seal ids",
            with(Sealed, |r| r.seal_ids = None),
            NO_EVIDENCE,
        ),
        row(
            "sealed with no seal id",
            with(Sealed, |r| r.seal_ids = Some(&[])),
            NO_EVIDENCE,
        ),
        row(
            "sealed with a blank seal id",
            with(Sealed, |r| r.seal_ids = Some(ids(&["SEAL-0001", "  "]))),
            NO_EVIDENCE,
        ),
        row(
            "sealed with an empty seal id",
            with(Sealed, |r| r.seal_ids = Some(ids(&[""]))),
            NO_EVIDENCE,
        ),
        row(
            "sealed with one seal",
            with(Sealed, |r| r.seal_ids = Some(ids(&["SEAL-9"]))),
            ok.clone(),
        ),
        row(
            "picked up without seal ids",
            with(PickedUp, |r| r.seal_ids = None),
            NO_EVIDENCE,
        ),
        row(
            "picked up with no seal id",
            with(PickedUp, |r| r.seal_ids = Some(&[])),
            NO_EVIDENCE,
        ),
        row(
            "picked up with a blank seal id",
            with(PickedUp, |r| r.seal_ids = Some(ids(&["SEAL-0001", "\t"]))),
            NO_EVIDENCE,
        ),
        // border_cleared: a customs declaration.
        row(
            "border cleared without a customs declaration",
            with(BorderCleared, |r| r.customs_declaration = None),
            NO_EVIDENCE,
        ),
        row(
            "border cleared with a blank customs declaration",
            with(BorderCleared, |r| r.customs_declaration = Some(" ")),
            NO_EVIDENCE,
        ),
        // delivered: nothing but the time.
        row(
            "delivered with nothing but its time",
            with(Delivered, |r| {
                *r = CustodyReport {
                    event: Delivered,
                    at: r.at,
                    by: CustodyParty::Carrier,
                    seal_ids: None,
                    customs_declaration: None,
                    quantity: None,
                    facility: None,
                    project: None,
                    method: None,
                    certificate_sha256: None,
                }
            }),
            ok.clone(),
        ),
        // received: seal ids and a quantity (0 allowed).
        row(
            "received without seal ids",
            with(Received, |r| r.seal_ids = None),
            NO_EVIDENCE,
        ),
        row(
            "received with a blank seal id",
            with(Received, |r| r.seal_ids = Some(ids(&[""]))),
            NO_EVIDENCE,
        ),
        row(
            "received without a quantity",
            with(Received, |r| r.quantity = None),
            NO_EVIDENCE,
        ),
        row(
            "received nothing (quantity 0)",
            with(Received, |r| r.quantity = Some(0)),
            Ok(vec![QuantityMismatch]),
        ),
        // stored: a facility.
        row(
            "stored without a facility",
            with(Stored, |r| r.facility = None),
            NO_EVIDENCE,
        ),
        row(
            "stored at a blank facility",
            with(Stored, |r| r.facility = Some("   ")),
            NO_EVIDENCE,
        ),
        // checked_out and used: a quantity of at least 1 and a project.
        row(
            "checked out without a quantity",
            with(CheckedOut, |r| r.quantity = None),
            NO_EVIDENCE,
        ),
        row(
            "checked out 0",
            with(CheckedOut, |r| r.quantity = Some(0)),
            NO_EVIDENCE,
        ),
        row(
            "checked out without a project",
            with(CheckedOut, |r| r.project = None),
            NO_EVIDENCE,
        ),
        row(
            "checked out for a blank project",
            with(CheckedOut, |r| r.project = Some("")),
            NO_EVIDENCE,
        ),
        row(
            "used without a quantity",
            with(Used, |r| r.quantity = None),
            NO_EVIDENCE,
        ),
        row("used 0", with(Used, |r| r.quantity = Some(0)), NO_EVIDENCE),
        row(
            "used without a project",
            with(Used, |r| r.project = None),
            NO_EVIDENCE,
        ),
        row(
            "used for a blank project",
            with(Used, |r| r.project = Some(" \n")),
            NO_EVIDENCE,
        ),
        // returned: a quantity of at least 1.
        row(
            "returned without a quantity",
            with(Returned, |r| r.quantity = None),
            NO_EVIDENCE,
        ),
        row(
            "returned 0",
            with(Returned, |r| r.quantity = Some(0)),
            NO_EVIDENCE,
        ),
        // destroyed: a quantity of at least 1, a method and a certificate of 64 hex digits.
        row(
            "destroyed without a quantity",
            with(Destroyed, |r| r.quantity = None),
            NO_EVIDENCE,
        ),
        row(
            "destroyed 0",
            with(Destroyed, |r| r.quantity = Some(0)),
            NO_EVIDENCE,
        ),
        row(
            "destroyed without a method",
            with(Destroyed, |r| r.method = None),
            NO_EVIDENCE,
        ),
        row(
            "destroyed by a blank method",
            with(Destroyed, |r| r.method = Some(" ")),
            NO_EVIDENCE,
        ),
        row(
            "destroyed without a certificate",
            with(Destroyed, |r| r.certificate_sha256 = None),
            NO_EVIDENCE,
        ),
        row(
            "destroyed with 63 hex digits",
            with(Destroyed, |r| r.certificate_sha256 = Some(&CERT[1..])),
            NO_EVIDENCE,
        ),
        row(
            "destroyed with 64 characters that are not all hex",
            with(Destroyed, |r| {
                r.certificate_sha256 =
                    Some("zz1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c4b5a69788796a5b4c3d2e1f0");
            }),
            NO_EVIDENCE,
        ),
        row(
            "destroyed with upper-case hex",
            with(Destroyed, |r| {
                r.certificate_sha256 =
                    Some("0F1E2D3C4B5A69788796A5B4C3D2E1F00F1E2D3C4B5A69788796A5B4C3D2E1F0");
            }),
            ok.clone(),
        ),
        // Evidence an event does not need is ignored, even when it is blank.
        row(
            "returned with a blank project",
            with(Returned, |r| r.project = Some(" ")),
            ok,
        ),
    ]
}

/// Each row is checked in the state where its event may come next.
#[test]
fn evidence_table() {
    for row in evidence_rows() {
        let custody = before(row.report.event);
        assert_eq!(
            custody.check(&row.report, now(), &Parameters::default()),
            row.expect,
            "{}",
            row.name
        );
    }
}

struct TimeRow {
    name: &'static str,
    history: Vec<CustodyReport<'static>>,
    report: CustodyReport<'static>,
    skew: u64,
    expect: Result<Vec<CustodyFlag>, ReasonCode>,
}

fn time_row(
    name: &'static str,
    history: Vec<CustodyReport<'static>>,
    report: CustodyReport<'static>,
    expect: Result<Vec<CustodyFlag>, ReasonCode>,
) -> TimeRow {
    TimeRow {
        name,
        history,
        report,
        skew: 300,
        expect,
    }
}

fn time_rows() -> Vec<TimeRow> {
    let ok = Ok(vec![]);
    let d = declared_at();
    let s = Duration::seconds;
    let sealed_at = |at| vec![report(Sealed, at)];
    vec![
        // Before any event the floor is the declaration: the skew is allowed below it.
        time_row(
            "sealed at the declaration",
            vec![],
            report(Sealed, d),
            ok.clone(),
        ),
        time_row(
            "sealed 300 s before the declaration",
            vec![],
            report(Sealed, d - s(300)),
            ok.clone(),
        ),
        time_row(
            "sealed 301 s before the declaration",
            vec![],
            report(Sealed, d - s(301)),
            BAD_TIME,
        ),
        // ...and above the gateway's clock.
        time_row(
            "sealed at the clock",
            vec![],
            report(Sealed, now()),
            ok.clone(),
        ),
        time_row(
            "sealed 300 s ahead of the clock",
            vec![],
            report(Sealed, now() + s(300)),
            ok.clone(),
        ),
        time_row(
            "sealed 301 s ahead of the clock",
            vec![],
            report(Sealed, now() + s(301)),
            BAD_TIME,
        ),
        TimeRow {
            skew: 0,
            ..time_row(
                "no skew: a second before the declaration",
                vec![],
                report(Sealed, d - s(1)),
                BAD_TIME,
            )
        },
        TimeRow {
            skew: 0,
            ..time_row(
                "no skew: at the declaration",
                vec![],
                report(Sealed, d),
                ok.clone(),
            )
        },
        TimeRow {
            skew: 0,
            ..time_row(
                "no skew: at the clock",
                vec![],
                report(Sealed, now()),
                ok.clone(),
            )
        },
        TimeRow {
            skew: 0,
            ..time_row(
                "no skew: a second ahead of the clock",
                vec![],
                report(Sealed, now() + s(1)),
                BAD_TIME,
            )
        },
        // After an event, its time is the floor.
        time_row(
            "picked up at the sealing",
            sealed_at(hour(2)),
            report(PickedUp, hour(2)),
            ok.clone(),
        ),
        time_row(
            "picked up 300 s before the sealing",
            sealed_at(hour(2)),
            report(PickedUp, hour(2) - s(300)),
            ok.clone(),
        ),
        time_row(
            "picked up 301 s before the sealing",
            sealed_at(hour(2)),
            report(PickedUp, hour(2) - s(301)),
            BAD_TIME,
        ),
        time_row(
            "picked up 301 s ahead of the clock",
            sealed_at(hour(2)),
            report(PickedUp, now() + s(301)),
            BAD_TIME,
        ),
        // An event dated (within the skew) before the declaration does not lower the floor.
        time_row(
            "after an early sealing: 300 s before the declaration",
            sealed_at(d - s(200)),
            report(PickedUp, d - s(300)),
            ok.clone(),
        ),
        time_row(
            "after an early sealing: 301 s before the declaration",
            sealed_at(d - s(200)),
            report(PickedUp, d - s(301)),
            BAD_TIME,
        ),
        // In the storage phase, the last event's time is the floor, whatever the event.
        time_row(
            "used 301 s before the last storage event",
            stored_then(&[report(CheckedOut, hour(10))]),
            report(Used, hour(10) - s(301)),
            BAD_TIME,
        ),
        time_row(
            "used 300 s before the last storage event",
            stored_then(&[report(CheckedOut, hour(10))]),
            report(Used, hour(10) - s(300)),
            ok.clone(),
        ),
        // Offsets do not matter, only the instant.
        time_row(
            "an instant written in UTC+8",
            vec![],
            report(Sealed, instant("2026-04-20T10:05:00+08:00")),
            ok,
        ),
        // Order: party, transition, time present, time, evidence.
        time_row(
            "order: out of order and too early",
            sealed_at(hour(2)),
            report(BorderCleared, d - s(3600)),
            INVALID,
        ),
        time_row(
            "order: wrong party and too late",
            vec![],
            CustodyReport {
                by: CustodyParty::Carrier,
                ..report(Sealed, now() + s(3600))
            },
            FORBIDDEN,
        ),
        time_row(
            "order: too late and without evidence",
            vec![],
            CustodyReport {
                seal_ids: None,
                ..report(Sealed, now() + s(3600))
            },
            BAD_TIME,
        ),
        time_row(
            "order: out of order without at",
            vec![],
            CustodyReport {
                at: None,
                ..report(PickedUp, d)
            },
            INVALID,
        ),
    ]
}

#[test]
fn time_table() {
    for row in time_rows() {
        let custody = chain(&row.history);
        let params = Parameters {
            clock_skew_secs: row.skew,
            ..Parameters::default()
        };
        assert_eq!(
            custody.check(&row.report, now(), &params),
            row.expect,
            "{}",
            row.name
        );
    }
}

/// A huge skew or a time at the ends of the range is decided, not a panic.
#[test]
fn extreme_times_and_skews_are_decided() {
    let far = OffsetDateTime::new_utc(time::Date::MAX, time::Time::MIDNIGHT);
    let early = OffsetDateTime::new_utc(time::Date::MIN, time::Time::MIDNIGHT);
    let custody = Custody::new(declared());
    for skew in [0, 300, u64::MAX] {
        let params = Parameters {
            clock_skew_secs: skew,
            ..Parameters::default()
        };
        for at in [early, far] {
            let got = custody.check(&report(Sealed, at), now(), &params);
            let expect = if skew == u64::MAX {
                Ok(vec![])
            } else {
                BAD_TIME
            };
            assert_eq!(got, expect, "skew {skew}, at {at}");
        }
    }
}

/// The codes the S9-S10 tables produce (for `rules_coverage.rs`).
pub(crate) fn codes() -> Vec<ReasonCode> {
    let mut codes: Vec<ReasonCode> = evidence_rows()
        .iter()
        .filter_map(|row| {
            before(row.report.event)
                .check(&row.report, now(), &Parameters::default())
                .err()
        })
        .collect();
    for row in time_rows() {
        let params = Parameters {
            clock_skew_secs: row.skew,
            ..Parameters::default()
        };
        codes.extend(chain(&row.history).check(&row.report, now(), &params).err());
    }
    codes
}

#[test]
fn every_custody_code_has_a_row() {
    let codes = codes();
    for code in [
        ReasonCode::AuthForbidden,
        ReasonCode::CustodyInvalidTransition,
        ReasonCode::CustodyBadTime,
        ReasonCode::CustodyMissingEvidence,
    ] {
        assert!(codes.contains(&code), "no row answers {code}");
    }
}

// ---------------------------------------------------------------------------------------------
// S11: discrepancies are flags, never refusals.

#[test]
fn seal_ids_are_compared_as_a_set() {
    let cases: &[(&str, &[&str], &[CustodyFlag])] = &[
        ("the same seals", &["SEAL-0001", "SEAL-0002"], &[]),
        ("in another order", &["SEAL-0002", "SEAL-0001"], &[]),
        (
            "one of them twice",
            &["SEAL-0001", "SEAL-0002", "SEAL-0001"],
            &[],
        ),
        ("one missing", &["SEAL-0001"], &[SealMismatch]),
        (
            "one more",
            &["SEAL-0001", "SEAL-0002", "SEAL-0003"],
            &[SealMismatch],
        ),
        ("another case", &["seal-0001", "SEAL-0002"], &[SealMismatch]),
        ("others", &["X-1", "X-2"], &[SealMismatch]),
    ];
    for (name, seals, flags) in cases {
        let picked = CustodyReport {
            seal_ids: Some(ids(seals)),
            ..report(PickedUp, hour(2))
        };
        let mut custody = chain(&path(1));
        assert_eq!(accept(&mut custody, &picked), *flags, "picked up: {name}");
        let received = CustodyReport {
            seal_ids: Some(ids(seals)),
            ..report(Received, hour(5))
        };
        let mut custody = chain(&path(4));
        assert_eq!(accept(&mut custody, &received), *flags, "received: {name}");
        assert_eq!(
            custody.flags().iter().copied().collect::<Vec<_>>(),
            *flags,
            "received: {name}: flags so far"
        );
    }
}

#[test]
fn each_flag_and_their_sum() {
    // Received: the quantity against the declared one, with or without a seal mismatch.
    for (quantity, seals, flags) in [
        (DECLARED, SEALS, vec![]),
        (DECLARED - 1, SEALS, vec![QuantityMismatch]),
        (DECLARED + 1, SEALS, vec![QuantityMismatch]),
        (
            DECLARED + 1,
            &["SEAL-0001"][..],
            vec![SealMismatch, QuantityMismatch],
        ),
    ] {
        let mut custody = chain(&path(4));
        let r = CustodyReport {
            seal_ids: Some(ids(seals)),
            ..counted(Received, hour(5), quantity)
        };
        assert_eq!(accept(&mut custody, &r), flags, "received {quantity}");
    }
    // Stored: the facility as written against the sample item's.
    for (facility, flags) in [
        (FACILITY, vec![]),
        ("HKP-BIOBANK-2", vec![FacilityMismatch]),
        ("hkp-biobank-1", vec![FacilityMismatch]),
    ] {
        let mut custody = chain(&path(5));
        let r = CustodyReport {
            facility: Some(facility),
            ..report(Stored, hour(6))
        };
        assert_eq!(accept(&mut custody, &r), flags, "stored at {facility}");
    }
    // Every flag raised along one chain is kept, in order, without duplicates.
    let mut custody = chain(&path(1));
    let odd_seals = CustodyReport {
        seal_ids: Some(ids(&["SEAL-0001"])),
        ..report(PickedUp, hour(2))
    };
    assert_eq!(accept(&mut custody, &odd_seals), [SealMismatch]);
    accept(&mut custody, &report(BorderCleared, hour(3)));
    accept(&mut custody, &report(Delivered, hour(4)));
    let short = CustodyReport {
        seal_ids: Some(ids(&["SEAL-0001"])),
        ..counted(Received, hour(5), 4)
    };
    assert_eq!(
        accept(&mut custody, &short),
        [SealMismatch, QuantityMismatch]
    );
    let elsewhere = CustodyReport {
        facility: Some("HKP-BIOBANK-2"),
        ..report(Stored, hour(6))
    };
    assert_eq!(accept(&mut custody, &elsewhere), [FacilityMismatch]);
    // Stored back at the right facility raises nothing new; the old flag stays.
    assert_eq!(accept(&mut custody, &report(Stored, hour(7))), NONE);
    assert_eq!(accept(&mut custody, &counted(Used, hour(8), 3)), NONE);
    assert_eq!(
        accept(&mut custody, &counted(Destroyed, hour(9), 2)),
        [OverConsumed]
    );
    assert_eq!(
        custody.flags().iter().copied().collect::<Vec<_>>(),
        [
            SealMismatch,
            QuantityMismatch,
            FacilityMismatch,
            OverConsumed
        ]
    );
    assert!(custody.is_closed());
    assert_eq!(
        (custody.received(), custody.consumed(), custody.held()),
        (Some(4), 5, 0)
    );
}

#[test]
fn over_consumption_by_each_consuming_event() {
    for event in [Used, Returned, Destroyed] {
        // Exactly what was received: closed, no flag.
        let mut custody = chain(&stored_then(&[counted(Used, hour(7), 4)]));
        assert_eq!(accept(&mut custody, &counted(event, hour(8), 6)), NONE);
        assert!(custody.is_closed(), "{}", event.as_str());
        // One more: closed, flagged.
        let mut custody = chain(&stored_then(&[counted(Used, hour(7), 4)]));
        assert_eq!(
            accept(&mut custody, &counted(event, hour(8), 7)),
            [OverConsumed]
        );
        assert!(custody.is_closed(), "{}", event.as_str());
        assert_eq!(custody.held(), 0);
        assert_eq!(custody.consumed(), 11);
    }
    // Checking out more than is held is no consumption: no flag, nothing changes.
    let mut custody = chain(&path(6));
    assert_eq!(
        accept(&mut custody, &counted(CheckedOut, hour(7), 1_000)),
        NONE
    );
    assert_eq!((custody.held(), custody.consumed()), (DECLARED, 0));
    assert!(!custody.is_closed());
}

// ---------------------------------------------------------------------------------------------
// Quantities, the holder, closing.

#[test]
fn a_whole_chain_step_by_step() {
    use CustodyParty::{Carrier, Recipient, Sender};
    let mut custody = Custody::new(declared());
    assert_eq!(custody.held(), DECLARED);
    assert_eq!(custody.holder(), Some(Sender));
    assert_eq!(custody.last_event(), None);
    assert_eq!(custody.next_events(), [Sealed]);
    assert_eq!(custody.received(), None);
    let steps: Vec<(CustodyReport<'static>, u64, Option<CustodyParty>, bool)> = vec![
        (report(Sealed, hour(1)), DECLARED, Some(Sender), false),
        (report(PickedUp, hour(2)), DECLARED, Some(Carrier), false),
        (
            report(BorderCleared, hour(3)),
            DECLARED,
            Some(Carrier),
            false,
        ),
        (report(Delivered, hour(4)), DECLARED, Some(Carrier), false),
        (counted(Received, hour(5), 8), 8, Some(Recipient), false),
        (report(Stored, hour(6)), 8, Some(Recipient), false),
        (counted(CheckedOut, hour(7), 5), 8, Some(Recipient), false),
        (counted(Used, hour(8), 3), 5, Some(Recipient), false),
        (report(Stored, hour(9)), 5, Some(Recipient), false),
        (counted(Returned, hour(10), 2), 3, Some(Recipient), false),
        (counted(Destroyed, hour(11), 3), 0, None, true),
    ];
    for (r, held, holder, closed) in steps {
        accept(&mut custody, &r);
        let name = r.event.as_str();
        assert_eq!(custody.held(), held, "{name}: held");
        assert_eq!(custody.holder(), holder, "{name}: holder");
        assert_eq!(custody.is_closed(), closed, "{name}: closed");
        assert_eq!(custody.last_event(), Some(r.event), "{name}: last event");
    }
    assert_eq!(custody.received(), Some(8));
    assert_eq!(custody.consumed(), 8);
    assert_eq!(custody.next_events(), NO_EVENT);
    assert_eq!(
        custody.flags().iter().copied().collect::<Vec<_>>(),
        [QuantityMismatch]
    );
    assert_eq!(
        custody.status(now(), &Parameters::default()),
        ShipmentStatus::Closed
    );
    assert_eq!(
        custody.check(&report(Stored, hour(12)), now(), &Parameters::default()),
        INVALID
    );
}

#[test]
fn receiving_nothing_closes_the_shipment_at_once() {
    let mut custody = chain(&path(4));
    assert_eq!(
        accept(&mut custody, &counted(Received, hour(5), 0)),
        [QuantityMismatch]
    );
    assert!(custody.is_closed());
    assert_eq!(custody.held(), 0);
    assert_eq!(custody.holder(), None);
    assert_eq!(custody.next_events(), NO_EVENT);
    assert_eq!(custody.last_event(), Some(Received));
    assert_eq!(
        custody.check(&report(Stored, hour(6)), now(), &Parameters::default()),
        INVALID
    );
    assert_eq!(
        custody.overdue(hour(24 * 1000), &Parameters::default()),
        None
    );
}

/// Regression guard: quantities near u64::MAX saturate instead of overflowing, and a sum past
/// the range still counts as over-consumed.
#[test]
fn huge_quantities_saturate() {
    let mut custody = chain(&path(4));
    accept(&mut custody, &counted(Received, hour(5), u64::MAX));
    accept(&mut custody, &report(Stored, hour(6)));
    assert_eq!(custody.held(), u64::MAX);
    assert_eq!(
        accept(&mut custody, &counted(Used, hour(7), u64::MAX - 1)),
        NONE
    );
    assert_eq!(custody.held(), 1);
    assert_eq!(
        accept(&mut custody, &counted(Returned, hour(8), 5)),
        [OverConsumed]
    );
    assert_eq!(custody.consumed(), u64::MAX);
    assert_eq!(custody.held(), 0);
    assert!(custody.is_closed());
}

// ---------------------------------------------------------------------------------------------
// S12: overdue.

struct OverdueRow {
    name: &'static str,
    history: Vec<CustodyReport<'static>>,
    retention_days: u32,
    hours: u64,
    now: OffsetDateTime,
    expect: Option<Overdue>,
}

fn overdue_rows() -> Vec<OverdueRow> {
    let d = declared_at();
    let s = Duration::seconds;
    let h = Duration::hours;
    let o = |name, history, now, expect| OverdueRow {
        name,
        history,
        retention_days: 365,
        hours: 48,
        now,
        expect,
    };
    let received = hour(5);
    let days = Duration::days;
    vec![
        o("declared, within the hours", path(0), d + h(48), None),
        o(
            "declared, a second past the hours",
            path(0),
            d + h(48) + s(1),
            Some(Overdue::Handover { since: d }),
        ),
        o("sealed, within the hours", path(1), hour(1) + h(48), None),
        o(
            "sealed, a second past the hours",
            path(1),
            hour(1) + h(48) + s(1),
            Some(Overdue::Handover { since: hour(1) }),
        ),
        o(
            "delivered, a second past the hours",
            path(4),
            hour(4) + h(48) + s(1),
            Some(Overdue::Handover { since: hour(4) }),
        ),
        o(
            "received, within the hours",
            path(5),
            received + h(48),
            None,
        ),
        o(
            "received, not stored in time",
            path(5),
            received + h(48) + s(1),
            Some(Overdue::Handover { since: received }),
        ),
        OverdueRow {
            hours: 1,
            ..o(
                "custody_handover_hours is a parameter",
                path(2),
                hour(3) + s(1),
                Some(Overdue::Handover { since: hour(2) }),
            )
        },
        OverdueRow {
            hours: u64::MAX,
            ..o("a huge handover limit", path(2), d + days(365 * 100), None)
        },
        // Stored: no more handovers; the retention runs from received.
        o("stored, days later", path(6), hour(6) + days(30), None),
        o(
            "stored, at the end of retention",
            path(6),
            received + days(365),
            None,
        ),
        o(
            "stored, a second after retention",
            path(6),
            received + days(365) + s(1),
            Some(Overdue::Retention {
                due: received + days(365),
            }),
        ),
        o(
            "in use, a second after retention",
            stored_then(&[report(CheckedOut, hour(7)), counted(Used, hour(8), 9)]),
            received + days(365) + s(1),
            Some(Overdue::Retention {
                due: received + days(365),
            }),
        ),
        // Received and not stored: both can apply; the handover is reported.
        OverdueRow {
            retention_days: 0,
            ..o(
                "received, retention over but handover not yet due",
                path(5),
                received + h(48),
                Some(Overdue::Retention { due: received }),
            )
        },
        OverdueRow {
            retention_days: 0,
            ..o(
                "received, both overdue",
                path(5),
                received + h(48) + s(1),
                Some(Overdue::Handover { since: received }),
            )
        },
        // Closed: never overdue.
        o(
            "closed, long after everything",
            stored_then(&[counted(Destroyed, hour(7), DECLARED)]),
            received + days(3650),
            None,
        ),
        o("a clock before the declaration", path(0), d - days(1), None),
    ]
}

#[test]
fn overdue_table() {
    for row in overdue_rows() {
        let mut custody = Custody::new(Declared {
            retention_days: row.retention_days,
            ..declared()
        });
        for r in &row.history {
            accept(&mut custody, r);
        }
        let params = Parameters {
            custody_handover_hours: row.hours,
            ..Parameters::default()
        };
        assert_eq!(
            custody.overdue(row.now, &params),
            row.expect,
            "{}",
            row.name
        );
        let status = if custody.is_closed() {
            ShipmentStatus::Closed
        } else if row.expect.is_some() {
            ShipmentStatus::Overdue
        } else {
            ShipmentStatus::Open
        };
        assert_eq!(custody.status(row.now, &params), status, "{}", row.name);
    }
}

// ---------------------------------------------------------------------------------------------
// Spellings.

#[test]
fn spellings_round_trip() {
    let events = [
        "sealed",
        "picked_up",
        "border_cleared",
        "delivered",
        "received",
        "stored",
        "checked_out",
        "used",
        "returned",
        "destroyed",
    ];
    assert_eq!(
        CustodyEvent::ALL
            .iter()
            .map(|e| e.as_str())
            .collect::<Vec<_>>(),
        events
    );
    for event in CustodyEvent::ALL {
        assert_eq!(CustodyEvent::parse(event.as_str()), Some(*event));
        let json = serde_json::to_string(event).unwrap();
        assert_eq!(json, format!("\"{}\"", event.as_str()));
        assert_eq!(serde_json::from_str::<CustodyEvent>(&json).unwrap(), *event);
    }
    assert_eq!(CustodyEvent::parse("PickedUp"), None);
    assert_eq!(CustodyEvent::parse("picked-up"), None);
    assert!(serde_json::from_str::<CustodyEvent>("\"accessed\"").is_err());

    let flags = [
        "seal_mismatch",
        "quantity_mismatch",
        "facility_mismatch",
        "over_consumed",
    ];
    assert_eq!(
        CustodyFlag::ALL
            .iter()
            .map(|f| f.as_str())
            .collect::<Vec<_>>(),
        flags
    );
    for flag in CustodyFlag::ALL {
        assert_eq!(CustodyFlag::parse(flag.as_str()), Some(*flag));
        let json = serde_json::to_string(flag).unwrap();
        assert_eq!(json, format!("\"{}\"", flag.as_str()));
        assert_eq!(serde_json::from_str::<CustodyFlag>(&json).unwrap(), *flag);
    }
    // Ordered as listed, which is the order `check` returns them in.
    assert!(CustodyFlag::ALL.is_sorted());

    let parties = ["sender", "carrier", "recipient"];
    assert_eq!(
        CustodyParty::ALL
            .iter()
            .map(|p| p.as_str())
            .collect::<Vec<_>>(),
        parties
    );
    for party in CustodyParty::ALL {
        let json = serde_json::to_string(party).unwrap();
        assert_eq!(serde_json::from_str::<CustodyParty>(&json).unwrap(), *party);
    }

    let statuses = ["open", "closed", "overdue"];
    assert_eq!(
        ShipmentStatus::ALL
            .iter()
            .map(|s| s.as_str())
            .collect::<Vec<_>>(),
        statuses
    );
    for status in ShipmentStatus::ALL {
        assert_eq!(ShipmentStatus::parse(status.as_str()), Some(*status));
        let json = serde_json::to_string(status).unwrap();
        assert_eq!(
            serde_json::from_str::<ShipmentStatus>(&json).unwrap(),
            *status
        );
    }
    assert_eq!(ShipmentStatus::parse("discrepancy"), None);
}
