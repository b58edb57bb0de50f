//! Properties of the custody chain (S9-S12), with proptest: random sequences of random reports
//! (any event, any party, times around both bounds or missing, quantities from 0 to u64::MAX,
//! seal sets that match or not, blank and missing evidence) are driven against [`Model`], a
//! small reference written here from RULES.md and the module docs, independently of the
//! crate's code: wide integers instead of saturating ones, a step counter instead of a
//! transition table. After every step, `check`'s verdict and flags, `held`, `holder`,
//! `is_closed`, `last_event`, `next_events`, `flags`, `received`, `consumed` and `overdue`
//! agree with the model. And `check` and `apply` never panic, even when every report is
//! applied whether or not it was accepted.
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::BTreeSet;

use common::instant;
use loopgate_policy::{
    Custody, CustodyEvent, CustodyFlag, CustodyParty, CustodyReport, Declared, Overdue, Parameters,
    ReasonCode,
};
use proptest::prelude::*;
use proptest::sample::select;
use time::{Duration, OffsetDateTime};

const FACILITY: &str = "HKP-BIOBANK-1";
const CERT: &str = "0f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c4b5a69788796a5b4c3d2e1f0";

// ---------------------------------------------------------------------------------------------
// The reference model. Times are whole seconds since the declaration (i128), quantities u128.

/// The chain's order as a list: a handover's index, or the storage phase at its end.
const ORDER: [&str; 6] = [
    "sealed",
    "picked_up",
    "border_cleared",
    "delivered",
    "received",
    "stored",
];
const STORAGE: [&str; 5] = ["stored", "checked_out", "used", "returned", "destroyed"];

#[derive(Debug, Clone)]
struct Model {
    declared: u128,
    retention_secs: i128,
    /// How many handovers happened (6: the storage phase).
    step: usize,
    last: Option<(&'static str, i128)>,
    sealed: BTreeSet<String>,
    received: Option<(u128, i128)>,
    consumed: u128,
    flags: BTreeSet<&'static str>,
}

impl Model {
    fn new(declared: u64, retention_days: u32) -> Self {
        Self {
            declared: u128::from(declared),
            retention_secs: i128::from(retention_days) * 86_400,
            step: 0,
            last: None,
            sealed: BTreeSet::new(),
            received: None,
            consumed: 0,
            flags: BTreeSet::new(),
        }
    }

    fn closed(&self) -> bool {
        self.received.is_some_and(|(r, _)| self.consumed >= r)
    }

    fn allowed(&self, event: &str) -> bool {
        if self.closed() {
            false
        } else if self.step < ORDER.len() {
            ORDER[self.step] == event
        } else {
            STORAGE.contains(&event)
        }
    }

    fn party(event: &str) -> &'static str {
        match event {
            "sealed" => "sender",
            "picked_up" | "border_cleared" | "delivered" => "carrier",
            _ => "recipient",
        }
    }

    fn floor(&self) -> i128 {
        self.last.map_or(0, |(_, at)| at.max(0))
    }

    /// The verdict and flags of a report (`r.at` in seconds since the declaration; `now` too).
    fn check(&self, r: &Report, now: i128, skew: i128) -> Result<Vec<&'static str>, &'static str> {
        if r.by != Self::party(r.event) {
            return Err("auth.forbidden");
        }
        if !self.allowed(r.event) {
            return Err("custody.invalid_transition");
        }
        let Some(at) = r.at else {
            return Err("custody.missing_evidence");
        };
        if at < self.floor() - skew || at > now + skew {
            return Err("custody.bad_time");
        }
        let text = |t: &Option<String>| t.as_ref().is_some_and(|t| !t.trim().is_empty());
        let seals = r
            .seals
            .as_ref()
            .is_some_and(|s| !s.is_empty() && s.iter().all(|id| !id.trim().is_empty()));
        let positive = r.quantity.is_some_and(|q| q > 0);
        let cert = r
            .cert
            .as_ref()
            .is_some_and(|c| c.len() == 64 && c.chars().all(|ch| ch.is_ascii_hexdigit()));
        let evidence = match r.event {
            "sealed" | "picked_up" => seals,
            "border_cleared" => text(&r.customs),
            "delivered" => true,
            "received" => seals && r.quantity.is_some(),
            "stored" => text(&r.facility),
            "checked_out" | "used" => positive && text(&r.project),
            "returned" => positive,
            _ => positive && text(&r.method) && cert,
        };
        if !evidence {
            return Err("custody.missing_evidence");
        }
        let mut flags = Vec::new();
        let seen: BTreeSet<String> = r.seals.clone().unwrap_or_default().into_iter().collect();
        if matches!(r.event, "picked_up" | "received") && seen != self.sealed {
            flags.push("seal_mismatch");
        }
        if r.event == "received" && r.quantity.map(u128::from) != Some(self.declared) {
            flags.push("quantity_mismatch");
        }
        if r.event == "stored" && r.facility.as_deref() != Some(FACILITY) {
            flags.push("facility_mismatch");
        }
        if matches!(r.event, "used" | "returned" | "destroyed") {
            let after = self.consumed + u128::from(r.quantity.unwrap_or(0));
            if self.received.is_some_and(|(received, _)| after > received) {
                flags.push("over_consumed");
            }
        }
        Ok(flags)
    }

    fn apply(&mut self, r: &Report, flags: &[&'static str]) {
        let at = r.at.unwrap();
        let q = u128::from(r.quantity.unwrap_or(0));
        match r.event {
            "sealed" => self.sealed = r.seals.clone().unwrap().into_iter().collect(),
            "received" => self.received = Some((q, at)),
            "used" | "returned" | "destroyed" => self.consumed += q,
            _ => {}
        }
        if self.step < ORDER.len() {
            self.step += 1;
        }
        self.last = Some((r.event, at));
        self.flags.extend(flags);
    }

    fn held(&self) -> u128 {
        match self.received {
            None => self.declared,
            Some((r, _)) => r.saturating_sub(self.consumed),
        }
    }

    fn holder(&self) -> Option<&'static str> {
        if self.closed() {
            None
        } else if self.step <= 1 {
            // Declared or sealed: the sender has them until the carrier picks them up.
            Some("sender")
        } else if self.step < 5 {
            Some("carrier")
        } else {
            Some("recipient")
        }
    }

    fn next_events(&self) -> Vec<&'static str> {
        [
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
        ]
        .into_iter()
        .filter(|e| self.allowed(e))
        .collect()
    }

    /// ("handover", since) or ("retention", due), in seconds since the declaration.
    fn overdue(&self, now: i128, handover_secs: i128) -> Option<(&'static str, i128)> {
        if self.closed() {
            return None;
        }
        if self.step < ORDER.len() {
            let since = self.last.map_or(0, |(_, at)| at);
            if now > since + handover_secs {
                return Some(("handover", since));
            }
        }
        let (_, received_at) = self.received?;
        let due = received_at + self.retention_secs;
        (now > due).then_some(("retention", due))
    }
}

// ---------------------------------------------------------------------------------------------
// Random reports, resolved against the model's state at each step (so that many are accepted).

/// One report, written with owned strings; `at` in seconds since the declaration.
#[derive(Debug, Clone)]
struct Report {
    event: &'static str,
    by: &'static str,
    at: Option<i128>,
    seals: Option<Vec<String>>,
    customs: Option<String>,
    quantity: Option<u64>,
    facility: Option<String>,
    project: Option<String>,
    method: Option<String>,
    cert: Option<String>,
}

/// How a step picks its time: relative to the model's floor, to `now`, or anywhere.
#[derive(Debug, Clone, Copy)]
enum When {
    Missing,
    FloorMinusSkew(i128),
    AfterFloor(i128),
    AroundNow(i128),
}

#[derive(Debug, Clone)]
struct Step {
    /// `None`: the model's first allowed event (when there is one).
    event: Option<&'static str>,
    right_party: bool,
    wrong_party: &'static str,
    when: When,
    /// Advance the clock by this many seconds before the step.
    tick: i128,
    /// `None`: the seals sealed so far (or a fixed pair before sealing).
    seals: Option<Option<Vec<String>>>,
    text: Option<String>,
    facility: Option<String>,
    quantity: Option<u64>,
    cert: Option<String>,
    /// Pick among the allowed events by this index.
    pick: usize,
}

const EVENTS: [&str; 10] = [
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

fn text() -> impl Strategy<Value = Option<String>> {
    prop_oneof![
        6 => Just(Some("evidence".to_owned())),
        1 => Just(Some("   ".to_owned())),
        1 => Just(Some(String::new())),
        1 => Just(None),
    ]
}

fn seal_ids() -> impl Strategy<Value = Option<Option<Vec<String>>>> {
    let id = prop_oneof![
        4 => select(vec!["A", "B", "C"]).prop_map(str::to_owned),
        1 => Just(" ".to_owned()),
    ];
    prop_oneof![
        4 => Just(None),
        3 => prop::collection::vec(id, 0..4).prop_map(|ids| Some(Some(ids))),
        1 => Just(Some(None)),
    ]
}

fn quantity() -> impl Strategy<Value = Option<u64>> {
    prop_oneof![
        1 => Just(None),
        2 => Just(Some(0)),
        6 => (1u64..6).prop_map(Some),
        1 => Just(Some(10)),
        1 => Just(Some(u64::MAX)),
        1 => Just(Some(u64::MAX - 1)),
        1 => any::<u64>().prop_map(Some),
    ]
}

fn when() -> impl Strategy<Value = When> {
    prop_oneof![
        1 => Just(When::Missing),
        2 => (-2i128..=1).prop_map(When::FloorMinusSkew),
        8 => (0i128..7_200).prop_map(When::AfterFloor),
        2 => (-1i128..=2).prop_map(When::AroundNow),
    ]
}

prop_compose! {
    fn step()(
        event in prop::option::weighted(0.3, select(EVENTS.to_vec())),
        right_party in prop::bool::weighted(0.9),
        wrong_party in select(vec!["sender", "carrier", "recipient"]),
        when in when(),
        tick in prop_oneof![3 => 0i128..3_600, 1 => 0i128..400_000],
        seals in seal_ids(),
        text in text(),
        facility in prop_oneof![4 => Just(Some(FACILITY.to_owned())), 1 => Just(Some("HKP-OTHER".to_owned())), 1 => text()],
        quantity in quantity(),
        cert in prop_oneof![
            4 => Just(Some(CERT.to_owned())),
            1 => Just(Some(CERT.to_uppercase())),
            1 => Just(Some(CERT[1..].to_owned())),
            1 => Just(None),
        ],
        pick in any::<usize>(),
    ) -> Step {
        Step { event, right_party, wrong_party, when, tick, seals, text, facility, quantity, cert, pick }
    }
}

impl Step {
    /// The report this step makes in the model's state, with the clock at `now`.
    fn resolve(&self, model: &Model, now: i128, skew: i128) -> Report {
        let allowed = model.next_events();
        let event = match self.event {
            Some(event) => event,
            None if allowed.is_empty() => EVENTS[self.pick % EVENTS.len()],
            None => allowed[self.pick % allowed.len()],
        };
        let by = if self.right_party {
            Model::party(event)
        } else {
            self.wrong_party
        };
        let at = match self.when {
            When::Missing => None,
            When::FloorMinusSkew(d) => Some(model.floor() - skew + d),
            When::AfterFloor(d) => Some(model.floor() + d),
            When::AroundNow(d) => Some(now + skew + d),
        };
        let seals = match &self.seals {
            None if model.sealed.is_empty() => Some(vec!["A".to_owned(), "B".to_owned()]),
            None => Some(model.sealed.iter().cloned().collect()),
            Some(given) => given.clone(),
        };
        // Mostly the declared quantity on `received`, so that many chains reach storage.
        let quantity = match (event, self.pick % 3) {
            ("received", 0) => Some(u64::try_from(model.declared).unwrap()),
            _ => self.quantity,
        };
        Report {
            event,
            by,
            at,
            seals,
            customs: self.text.clone(),
            quantity,
            facility: self.facility.clone(),
            project: self.text.clone(),
            method: self.text.clone(),
            cert: self.cert.clone(),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Driving the crate's chain and the model side by side.

fn event_of(name: &str) -> CustodyEvent {
    CustodyEvent::parse(name).unwrap()
}

fn party_of(name: &str) -> CustodyParty {
    CustodyParty::parse(name).unwrap()
}

fn flag_name(flag: CustodyFlag) -> &'static str {
    flag.as_str()
}

fn seconds(n: i128) -> Duration {
    Duration::seconds(i64::try_from(n).unwrap())
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 1024,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn the_chain_agrees_with_the_model(
        declared in prop_oneof![5 => 1u64..12, 1 => Just(u64::MAX)],
        retention_days in 0u32..3,
        skew in select(vec![0u64, 1, 300]),
        handover_hours in 1u64..72,
        steps in prop::collection::vec(step(), 1..40),
    ) {
        let start = instant("2026-04-15T02:00:00Z");
        let params = Parameters {
            clock_skew_secs: skew,
            custody_handover_hours: handover_hours,
            ..Parameters::default()
        };
        let skew = i128::from(skew);
        let mut custody = Custody::new(Declared {
            quantity: declared,
            storage_facility: FACILITY.to_owned(),
            retention_days,
            at: start,
        });
        // Takes every report, accepted or not: must never panic.
        let mut careless = custody.clone();
        let mut model = Model::new(declared, retention_days);
        let mut now = 0i128;
        for (i, step) in steps.iter().enumerate() {
            now += step.tick;
            let r = step.resolve(&model, now, skew);
            let report = CustodyReport {
                event: event_of(r.event),
                at: r.at.map(|at| start + seconds(at)),
                by: party_of(r.by),
                seal_ids: r.seals.as_deref(),
                customs_declaration: r.customs.as_deref(),
                quantity: r.quantity,
                facility: r.facility.as_deref(),
                project: r.project.as_deref(),
                method: r.method.as_deref(),
                certificate_sha256: r.cert.as_deref(),
            };
            let at_now = start + seconds(now);
            let got = custody.check(&report, at_now, &params);
            let expected = model.check(&r, now, skew);
            let got_names = got
                .clone()
                .map(|flags| flags.into_iter().map(flag_name).collect::<Vec<_>>())
                .map_err(ReasonCode::as_str);
            prop_assert_eq!(&got_names, &expected, "step {}: {:?}", i, r);
            if let Ok(flags) = &got {
                custody.apply(&report, flags);
                model.apply(&r, &expected.clone().unwrap());
            }
            careless.apply(&report, got.as_deref().unwrap_or(&[]));
            let _ = careless.check(&report, at_now, &params);
            let _ = (careless.held(), careless.holder(), careless.next_events());
            let _ = careless.status(at_now, &params);

            prop_assert_eq!(u128::from(custody.held()), model.held().min(u128::from(u64::MAX)), "step {}: held", i);
            prop_assert_eq!(custody.holder().map(CustodyParty::as_str), model.holder(), "step {}: holder", i);
            prop_assert_eq!(custody.is_closed(), model.closed(), "step {}: closed", i);
            prop_assert_eq!(custody.last_event().map(CustodyEvent::as_str), model.last.map(|(e, _)| e), "step {}: last event", i);
            prop_assert_eq!(
                custody.next_events().into_iter().map(CustodyEvent::as_str).collect::<Vec<_>>(),
                model.next_events(),
                "step {}: next events", i
            );
            prop_assert_eq!(
                custody.flags().iter().copied().map(flag_name).collect::<BTreeSet<_>>(),
                model.flags.clone(),
                "step {}: flags", i
            );
            prop_assert_eq!(custody.received().map(u128::from), model.received.map(|(q, _)| q), "step {}: received", i);
            prop_assert_eq!(u128::from(custody.consumed()), model.consumed.min(u128::from(u64::MAX)), "step {}: consumed", i);
            // Overdue, at the step's clock and a while later.
            for later in [0i128, 3_600 * i128::from(handover_hours), 86_400 * 4] {
                let t = now + later;
                let got = custody.overdue(start + seconds(t), &params).map(|o| match o {
                    Overdue::Handover { since } => ("handover", (since - start).whole_seconds()),
                    Overdue::Retention { due } => ("retention", (due - start).whole_seconds()),
                });
                let expected = model
                    .overdue(t, 3_600 * i128::from(handover_hours))
                    .map(|(kind, when)| (kind, i64::try_from(when).unwrap()));
                prop_assert_eq!(got, expected, "step {}: overdue at +{}", i, later);
            }
        }
    }

    /// Reports with no regard for the chain, at any instant time can hold: decided, no panic.
    #[test]
    fn check_and_apply_never_panic(
        events in prop::collection::vec((select(EVENTS.to_vec()), select(vec!["sender", "carrier", "recipient"]), any::<i64>(), quantity(), seal_ids()), 0..30),
        skew in prop_oneof![Just(0u64), Just(300), Just(u64::MAX)],
        hours in prop_oneof![Just(1u64), Just(48), Just(u64::MAX)],
        retention_days in prop_oneof![Just(0u32), Just(u32::MAX)],
    ) {
        let params = Parameters {
            clock_skew_secs: skew,
            custody_handover_hours: hours,
            ..Parameters::default()
        };
        let min = OffsetDateTime::new_utc(time::Date::MIN, time::Time::MIDNIGHT).unix_timestamp();
        let max = OffsetDateTime::new_utc(time::Date::MAX, time::Time::MIDNIGHT).unix_timestamp();
        let clamp = |t: i64| OffsetDateTime::from_unix_timestamp(t.clamp(min, max)).unwrap();
        let mut custody = Custody::new(Declared {
            quantity: u64::MAX,
            storage_facility: FACILITY.to_owned(),
            retention_days,
            at: clamp(0),
        });
        for (event, by, at, quantity, seals) in events {
            let seals = seals.flatten();
            let report = CustodyReport {
                event: event_of(event),
                at: Some(clamp(at)),
                by: party_of(by),
                seal_ids: seals.as_deref(),
                customs_declaration: Some("CUS-1"),
                quantity,
                facility: Some(FACILITY),
                project: Some("p"),
                method: Some("m"),
                certificate_sha256: Some(CERT),
            };
            let verdict = custody.check(&report, clamp(at), &params);
            custody.apply(&report, verdict.as_deref().unwrap_or(&[]));
            let _ = (custody.held(), custody.holder(), custody.next_events(), custody.is_closed());
            for now in [clamp(min), clamp(at), clamp(max)] {
                let _ = custody.overdue(now, &params);
                let _ = custody.status(now, &params);
            }
        }
    }
}
