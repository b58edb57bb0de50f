//! Rules S9-S12: the custody chain of an allowed shipment, as a pure state machine.
//!
//! A [`Custody`] starts from what the allowed declaration fixed ([`Declared`]). The gateway asks
//! [`Custody::check`] whether a reported event may be logged at its clock's `now`, logs it, and
//! folds it in with [`Custody::apply`] (it rebuilds a shipment's chain from its log records the
//! same way). Nothing here reads the clock or keeps anything but the chain's own state.
//!
//! **Order (S9).** Before any event only `sealed`; then `picked_up`, `border_cleared`,
//! `delivered`, `received` and `stored`, each once and in that order. From the first `stored`
//! on, the storage phase: `stored` (back into the warehouse), `checked_out`, `used`, `returned`
//! and `destroyed` in any order and any number of times, until the shipment closes. A closed
//! shipment takes no event. Out of order or closed: `custody.invalid_transition`.
//!
//! **Party (S9).** Each event is reported by one party ([`CustodyEvent::party`]): `sealed` by
//! the sender; `picked_up`, `border_cleared` and `delivered` by the carrier; the rest by the
//! recipient. Anyone else: `auth.forbidden`.
//!
//! **Checks**, in this order, the first failure deciding: the party (`auth.forbidden`); the
//! transition (`custody.invalid_transition`); `at` present (`custody.missing_evidence`); the time
//! (`custody.bad_time`); the evidence (`custody.missing_evidence`).
//!
//! **Times (S10).** With `skew` = `clock_skew_secs` and `floor` = the later of the declaration's
//! time and the `at` of the last accepted event, `at` must lie in `floor - skew ..= now + skew`
//! (both ends allowed). The reports come from three parties with their own clocks, so the skew
//! is allowed on both sides.
//!
//! **Evidence (S10).** Text is given when present and not blank after trimming. `sealed` and
//! `picked_up`: `seal_ids`, not empty, every id given. `border_cleared`: `customs_declaration`.
//! `delivered`: nothing more. `received`: `seal_ids` as for `sealed`, and `quantity` (0 allowed:
//! nothing arrived). `stored`: `facility`. `checked_out` and `used`: `quantity` of at least 1 and
//! `project`. `returned`: `quantity` of at least 1. `destroyed`: `quantity` of at least 1,
//! `method`, and `certificate_sha256` of 64 hex digits.
//!
//! **Discrepancies (S11)** are flags on the accepted record, never refusals: `seal_mismatch`
//! when the seal ids of `picked_up` or `received` differ, as a set, from those `sealed`;
//! `quantity_mismatch` when `received` counts other than the declared quantity;
//! `facility_mismatch` when `stored` names another facility than the sample item's; and
//! `over_consumed` when `used`, `returned` or `destroyed` take the quantity consumed (their sum)
//! above the quantity received. Ids, facilities and quantities are compared exactly as written.
//!
//! **Quantities.** The quantity held is the declared one until `received`, then received minus
//! consumed (never below 0; all arithmetic saturates). `checked_out` takes samples out of the
//! warehouse but keeps them held. The shipment closes when the quantity held reaches 0 after
//! `received` (a `received` of 0 closes it at once). The samples are held by the sender until
//! `picked_up`, by the carrier until `received`, then by the recipient; by no one once closed.
//!
//! **Overdue (S12).** Until `stored` (also before `sealed`), a shipment whose last handover (or
//! declaration) is more than `custody_handover_hours` ago is overdue for its next handover. Once
//! received and not closed, it is overdue when its retention (received + `retention_days`) has
//! passed. A closed shipment is never overdue; when both apply, the handover is reported.

use std::collections::BTreeSet;

use time::{Duration, OffsetDateTime};

use crate::bundle::is_sha256_hex;
use crate::lifecycle::retention_due;
use crate::model::{Parameters, spelled};
use crate::reason::ReasonCode;

spelled! {
    /// A custody event (`POST /v1/shipments/{id}/events`), in the order of the chain.
    pub enum CustodyEvent {
        /// The sender sealed the samples (seal ids).
        Sealed = "sealed",
        /// The carrier took them (the seal ids it saw).
        PickedUp = "picked_up",
        /// The carrier cleared customs at the boundary (customs declaration reference).
        BorderCleared = "border_cleared",
        /// The carrier delivered them to the recipient.
        Delivered = "delivered",
        /// The recipient received them (quantity and the seal ids it saw).
        Received = "received",
        /// The recipient put them in (or back in) its storage facility.
        Stored = "stored",
        /// The recipient took some out of storage for a project (still held).
        CheckedOut = "checked_out",
        /// The recipient used some up for a project.
        Used = "used",
        /// The recipient returned some to the sender.
        Returned = "returned",
        /// The recipient destroyed some (method and certificate).
        Destroyed = "destroyed",
    }
}

spelled! {
    /// Who reports a custody event: the party that holds or takes the samples.
    pub enum CustodyParty {
        /// The shipment's sender tenant.
        Sender = "sender",
        /// The carrier the declaration named.
        Carrier = "carrier",
        /// The shipment's recipient tenant.
        Recipient = "recipient",
    }
}

spelled! {
    /// A discrepancy S11 records on an accepted custody event (never a refusal).
    pub enum CustodyFlag {
        /// `picked_up` or `received` saw other seal ids than were sealed.
        SealMismatch = "seal_mismatch",
        /// `received` counted another quantity than was declared.
        QuantityMismatch = "quantity_mismatch",
        /// `stored` named another facility than the sample item's `storage_facility`.
        FacilityMismatch = "facility_mismatch",
        /// `used`, `returned` and `destroyed` together exceed the quantity received.
        OverConsumed = "over_consumed",
    }
}

spelled! {
    /// A shipment's status, as the custody view and the regulators' list show it.
    pub enum ShipmentStatus {
        /// Samples are still held and nothing is overdue.
        Open = "open",
        /// The quantity held reached zero after `received`.
        Closed = "closed",
        /// A handover or the retention is overdue (S12).
        Overdue = "overdue",
    }
}

/// The handovers, each once, in order; the last one opens the storage phase.
const HANDOVERS: [CustodyEvent; 6] = [
    CustodyEvent::Sealed,
    CustodyEvent::PickedUp,
    CustodyEvent::BorderCleared,
    CustodyEvent::Delivered,
    CustodyEvent::Received,
    CustodyEvent::Stored,
];

impl CustodyEvent {
    /// The only party that may report this event (S9): `sealed` the sender; `picked_up`,
    /// `border_cleared` and `delivered` the carrier; the rest the recipient.
    pub fn party(self) -> CustodyParty {
        match self {
            Self::Sealed => CustodyParty::Sender,
            Self::PickedUp | Self::BorderCleared | Self::Delivered => CustodyParty::Carrier,
            Self::Received
            | Self::Stored
            | Self::CheckedOut
            | Self::Used
            | Self::Returned
            | Self::Destroyed => CustodyParty::Recipient,
        }
    }

    /// Whether the event belongs to the storage phase (any order, any number of times).
    fn in_storage(self) -> bool {
        matches!(
            self,
            Self::Stored | Self::CheckedOut | Self::Used | Self::Returned | Self::Destroyed
        )
    }

    /// Whether the event consumes samples (adds its quantity to what was consumed).
    fn consumes(self) -> bool {
        matches!(self, Self::Used | Self::Returned | Self::Destroyed)
    }
}

/// One custody event as its reporter sends it, with its evidence (SPEC.md, shipments). Fields an
/// event does not need are ignored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CustodyReport<'a> {
    /// What happened.
    pub event: CustodyEvent,
    /// When it happened, as the reporter says (`None`: not sent, `custody.missing_evidence`).
    pub at: Option<OffsetDateTime>,
    /// Who reports it (the role of the principal, as the gateway established it).
    pub by: CustodyParty,
    /// `seal_ids`: the seals applied (`sealed`) or seen (`picked_up`, `received`).
    pub seal_ids: Option<&'a [String]>,
    /// `customs_declaration`: the customs declaration reference (`border_cleared`).
    pub customs_declaration: Option<&'a str>,
    /// `quantity`: units received, checked out, used, returned or destroyed.
    pub quantity: Option<u64>,
    /// `facility`: where the samples were stored (`stored`).
    pub facility: Option<&'a str>,
    /// `project`: what they were checked out or used for (`checked_out`, `used`).
    pub project: Option<&'a str>,
    /// `method`: how they were destroyed (`destroyed`).
    pub method: Option<&'a str>,
    /// `certificate_sha256`: the destruction certificate's SHA-256 as 64 hex digits
    /// (`destroyed`).
    pub certificate_sha256: Option<&'a str>,
}

/// What an allowed declaration fixed: where the chain starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Declared {
    /// The quantity declared (and allowed by S5).
    pub quantity: u64,
    /// The sample item's `storage_facility`: where `stored` must put the samples.
    pub storage_facility: String,
    /// The sample item's `retention_days`, counted from `received`.
    pub retention_days: u32,
    /// When the declaration was decided (the gateway's clock): the chain's first floor.
    pub at: OffsetDateTime,
}

/// Why a shipment is overdue (S12).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Overdue {
    /// The next handover has not happened `custody_handover_hours` after the last one.
    Handover {
        /// The `at` of the last accepted event (the declaration's time before any).
        since: OffsetDateTime,
    },
    /// The retention ended with samples still held.
    Retention {
        /// received + `retention_days`.
        due: OffsetDateTime,
    },
}

/// A shipment's custody chain: what the accepted events so far add up to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Custody {
    declared: Declared,
    /// The last accepted event and its `at`.
    last: Option<(CustodyEvent, OffsetDateTime)>,
    /// The seal ids `sealed` applied.
    sealed: BTreeSet<String>,
    /// The quantity `received` counted, and its `at`.
    received: Option<(u64, OffsetDateTime)>,
    /// The sum of `used`, `returned` and `destroyed` (saturating).
    consumed: u64,
    flags: BTreeSet<CustodyFlag>,
}

impl Custody {
    /// The chain of a shipment just declared: no event yet, the sender holds the samples.
    pub fn new(declared: Declared) -> Self {
        Self {
            declared,
            last: None,
            sealed: BTreeSet::new(),
            received: None,
            consumed: 0,
            flags: BTreeSet::new(),
        }
    }

    /// S9-S11 for `report` at the gateway's `now`: Ok(the S11 flags it raises, sorted, no
    /// duplicates) or the refusal's code. Checked in the order of the module docs: party
    /// (`auth.forbidden`), transition (`custody.invalid_transition`), `at` present
    /// (`custody.missing_evidence`), time (`custody.bad_time`), evidence
    /// (`custody.missing_evidence`).
    pub fn check(
        &self,
        report: &CustodyReport<'_>,
        now: OffsetDateTime,
        params: &Parameters,
    ) -> Result<Vec<CustodyFlag>, ReasonCode> {
        if report.by != report.event.party() {
            return Err(ReasonCode::AuthForbidden);
        }
        if !self.allows(report.event) {
            return Err(ReasonCode::CustodyInvalidTransition);
        }
        let at = report.at.ok_or(ReasonCode::CustodyMissingEvidence)?;
        let skew = Duration::seconds(i64::try_from(params.clock_skew_secs).unwrap_or(i64::MAX));
        if at < self.floor().saturating_sub(skew) || at > now.saturating_add(skew) {
            return Err(ReasonCode::CustodyBadTime);
        }
        if !has_evidence(report) {
            return Err(ReasonCode::CustodyMissingEvidence);
        }
        Ok(self.discrepancies(report).into_iter().collect())
    }

    /// Folds in a report that `check` accepted with `flags` (the gateway rebuilds the chain from
    /// its log this way). It does not check again: a report `check` would refuse leaves the
    /// chain in a state no accepted history reaches, but never panics.
    pub fn apply(&mut self, report: &CustodyReport<'_>, flags: &[CustodyFlag]) {
        let at = report.at.unwrap_or_else(|| self.floor());
        let quantity = report.quantity.unwrap_or(0);
        match report.event {
            CustodyEvent::Sealed => {
                self.sealed = seal_set(report).into_iter().map(str::to_owned).collect();
            }
            CustodyEvent::Received => self.received = Some((quantity, at)),
            event if event.consumes() => self.consumed = self.consumed.saturating_add(quantity),
            _ => {}
        }
        self.last = Some((report.event, at));
        self.flags.extend(flags.iter().copied());
    }

    /// The quantity held now: the declared one until `received`, then received minus consumed
    /// (0 at least).
    pub fn held(&self) -> u64 {
        match self.received {
            None => self.declared.quantity,
            Some((received, _)) => received.saturating_sub(self.consumed),
        }
    }

    /// Who holds the samples: the sender until `picked_up`, the carrier until `received`, then
    /// the recipient; `None` once closed.
    pub fn holder(&self) -> Option<CustodyParty> {
        if self.is_closed() {
            return None;
        }
        Some(
            self.last_event()
                .map_or(CustodyParty::Sender, CustodyEvent::party),
        )
    }

    /// The last accepted event, if any.
    pub fn last_event(&self) -> Option<CustodyEvent> {
        self.last.map(|(event, _)| event)
    }

    /// What may come next, in [`CustodyEvent::ALL`] order (empty once closed).
    pub fn next_events(&self) -> Vec<CustodyEvent> {
        CustodyEvent::ALL
            .iter()
            .copied()
            .filter(|event| self.allows(*event))
            .collect()
    }

    /// Every flag raised so far.
    pub fn flags(&self) -> &BTreeSet<CustodyFlag> {
        &self.flags
    }

    /// Whether the quantity held reached zero after `received`.
    pub fn is_closed(&self) -> bool {
        self.received
            .is_some_and(|(received, _)| self.consumed >= received)
    }

    /// The quantity `received` counted, once received.
    pub fn received(&self) -> Option<u64> {
        self.received.map(|(received, _)| received)
    }

    /// The quantity `used`, `returned` and `destroyed` so far, together (saturating).
    pub fn consumed(&self) -> u64 {
        self.consumed
    }

    /// S12 at `now`: until `stored`, overdue for the next handover strictly after the last
    /// event's `at` (the declaration's before any) + `custody_handover_hours`; once received and
    /// not closed, overdue strictly after received + `retention_days`. Never when closed; the
    /// handover first when both apply.
    pub fn overdue(&self, now: OffsetDateTime, params: &Parameters) -> Option<Overdue> {
        if self.is_closed() {
            return None;
        }
        if !self.last_event().is_some_and(CustodyEvent::in_storage) {
            let since = self.last.map_or(self.declared.at, |(_, at)| at);
            let seconds = params.custody_handover_hours.saturating_mul(3_600);
            let wait = Duration::seconds(i64::try_from(seconds).unwrap_or(i64::MAX));
            if now > since.saturating_add(wait) {
                return Some(Overdue::Handover { since });
            }
        }
        let (_, received_at) = self.received?;
        let due = retention_due(received_at, self.declared.retention_days);
        (now > due).then_some(Overdue::Retention { due })
    }

    /// `closed`, else `overdue` when [`Custody::overdue`] says so, else `open`.
    pub fn status(&self, now: OffsetDateTime, params: &Parameters) -> ShipmentStatus {
        if self.is_closed() {
            ShipmentStatus::Closed
        } else if self.overdue(now, params).is_some() {
            ShipmentStatus::Overdue
        } else {
            ShipmentStatus::Open
        }
    }

    /// Whether `event` may come next (S9).
    fn allows(&self, event: CustodyEvent) -> bool {
        if self.is_closed() {
            return false;
        }
        match self.last_event() {
            None => event == CustodyEvent::Sealed,
            Some(last) if last.in_storage() => event.in_storage(),
            Some(last) => HANDOVERS
                .iter()
                .position(|handover| *handover == last)
                .and_then(|i| HANDOVERS.get(i + 1))
                .is_some_and(|next| *next == event),
        }
    }

    /// The earliest an event may be dated, before the skew: the later of the declaration's time
    /// and the last accepted event's.
    fn floor(&self) -> OffsetDateTime {
        match self.last {
            Some((_, at)) => at.max(self.declared.at),
            None => self.declared.at,
        }
    }

    /// S11: the flags an acceptable `report` raises.
    fn discrepancies(&self, report: &CustodyReport<'_>) -> BTreeSet<CustodyFlag> {
        let mut flags = BTreeSet::new();
        let event = report.event;
        if matches!(event, CustodyEvent::PickedUp | CustodyEvent::Received) {
            let sealed: BTreeSet<&str> = self.sealed.iter().map(String::as_str).collect();
            if seal_set(report) != sealed {
                flags.insert(CustodyFlag::SealMismatch);
            }
        }
        if event == CustodyEvent::Received && report.quantity != Some(self.declared.quantity) {
            flags.insert(CustodyFlag::QuantityMismatch);
        }
        if event == CustodyEvent::Stored
            && report.facility != Some(self.declared.storage_facility.as_str())
        {
            flags.insert(CustodyFlag::FacilityMismatch);
        }
        if event.consumes() {
            // A sum past u64::MAX is above any quantity received: checked, not saturating, so a
            // saturated `consumed` cannot hide it.
            let over = |received: u64| {
                self.consumed
                    .checked_add(report.quantity.unwrap_or(0))
                    .is_none_or(|consumed| consumed > received)
            };
            if self.received().is_some_and(over) {
                flags.insert(CustodyFlag::OverConsumed);
            }
        }
        flags
    }
}

/// The report's seal ids as a set (empty when none were sent).
fn seal_set<'a>(report: &CustodyReport<'a>) -> BTreeSet<&'a str> {
    report
        .seal_ids
        .unwrap_or_default()
        .iter()
        .map(String::as_str)
        .collect()
}

/// S10: whether `report` carries the evidence its event needs.
fn has_evidence(report: &CustodyReport<'_>) -> bool {
    let given = |text: Option<&str>| text.is_some_and(|t| !t.trim().is_empty());
    let seals = report
        .seal_ids
        .is_some_and(|ids| !ids.is_empty() && ids.iter().all(|id| given(Some(id))));
    let some_quantity = report.quantity.is_some_and(|q| q >= 1);
    match report.event {
        CustodyEvent::Sealed | CustodyEvent::PickedUp => seals,
        CustodyEvent::BorderCleared => given(report.customs_declaration),
        CustodyEvent::Delivered => true,
        CustodyEvent::Received => seals && report.quantity.is_some(),
        CustodyEvent::Stored => given(report.facility),
        CustodyEvent::CheckedOut | CustodyEvent::Used => some_quantity && given(report.project),
        CustodyEvent::Returned => some_quantity,
        CustodyEvent::Destroyed => {
            some_quantity
                && given(report.method)
                && report.certificate_sha256.is_some_and(is_sha256_hex)
        }
    }
}
