//! The records of a shipment (SPEC.md section 5, RULES.md "What a decision record holds"): one
//! `shipment` record per declaration (the decision on rules S1-S8, allow or deny), then one
//! `custody` record per reported event, accepted or refused. Both name the shipment, its sender,
//! recipient and sample item in the record's own fields, so the regulator's filters
//! (`tenant=`, `recipient=`, `sample_item=`, `shipment=`) find every record of a chain.

#[cfg(test)]
mod tests;

use std::borrow::Cow;

use loopgate_audit::{Kind, Record, Verdict};
use loopgate_policy::{CustodyEvent, CustodyFlag, CustodyParty, ReasonCode, ShipmentDecision};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::record::{self, Day, Details};

/// A declaration as the sender sent it (`POST /v1/shipments`), after its JSON parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Declaration {
    pub(crate) sample_item: String,
    pub(crate) recipient: String,
    /// As sent: rule S5 refuses anything outside `1..=max_quantity`.
    pub(crate) quantity: i64,
    pub(crate) purpose: String,
    pub(crate) carrier: String,
    pub(crate) idempotency_key: Option<String>,
}

/// What a `shipment` record says beyond its common fields (shipment, sender, recipient, sample
/// item, verdict, reason).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct ShipmentDetails<'a> {
    /// The carrier named to move the samples.
    #[serde(borrow)]
    pub(crate) carrier: Cow<'a, str>,
    /// Units declared (as sent; a denial may record one outside the allowed range).
    pub(crate) quantity: i64,
    /// The purpose code.
    #[serde(borrow)]
    pub(crate) purpose: Cow<'a, str>,
    /// The declaration's `idempotency_key`.
    #[serde(default, borrow, skip_serializing_if = "Option::is_none")]
    pub(crate) idempotency_key: Option<Cow<'a, str>>,
    /// The policy version the declaration was decided under.
    pub(crate) policy_version: u64,
    /// The rule that denied it, `S1` to `S8`; `null` on allow.
    #[serde(borrow)]
    pub(crate) rule: Option<Cow<'a, str>>,
    /// The sender's legal entity, when the sender is known.
    #[serde(default, borrow, skip_serializing_if = "Option::is_none")]
    pub(crate) legal_entity: Option<Cow<'a, str>>,
    /// Whether the samples are human genetic resources, when the item is known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) hgr: Option<bool>,
    /// The item's sample type, unit, biosafety level, storage facility and retention period,
    /// when the item is known: the chain's later checks (S11, S12) use these, as declared.
    #[serde(default, borrow, skip_serializing_if = "Option::is_none")]
    pub(crate) sample_type: Option<Cow<'a, str>>,
    #[serde(default, borrow, skip_serializing_if = "Option::is_none")]
    pub(crate) unit: Option<Cow<'a, str>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) biosafety_level: Option<u8>,
    #[serde(default, borrow, skip_serializing_if = "Option::is_none")]
    pub(crate) storage_facility: Option<Cow<'a, str>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) retention_days: Option<u32>,
    /// The HGR export approvals rule S7 relied on.
    #[serde(default, borrow)]
    pub(crate) hgr_approvals: Vec<Cow<'a, str>>,
    /// The calendar day (UTC+8) the rules were evaluated for.
    pub(crate) evaluated_on: Option<Day>,
}

impl Details for ShipmentDetails<'_> {
    const KIND: Kind = Kind::Shipment;
}

impl ShipmentDetails<'_> {
    /// Whether a retry carrying the same key asks for the same declaration.
    pub(crate) fn same_request(&self, record: &Record, declared: &Declaration) -> bool {
        record.sample_item.as_deref() == Some(declared.sample_item.as_str())
            && record.recipient.as_deref() == Some(declared.recipient.as_str())
            && self.quantity == declared.quantity
            && self.purpose == declared.purpose
            && self.carrier == declared.carrier
    }
}

/// The `shipment` record of `declared` from `sender`, decided by `decision`.
pub(crate) fn shipment(
    shipment_id: &str,
    sender: &str,
    declared: &Declaration,
    decision: &ShipmentDecision,
    policy_version: u64,
    at: OffsetDateTime,
) -> Result<Record, loopgate_audit::Error> {
    let mut record = Record::new(Kind::Shipment, at)?;
    record.shipment_id = Some(shipment_id.to_owned());
    record.sender = Some(sender.to_owned());
    record.recipient = Some(declared.recipient.clone());
    record.sample_item = Some(declared.sample_item.clone());
    let (verdict, reason) = if decision.is_allowed() {
        (Verdict::Allow, None)
    } else {
        (
            Verdict::Deny,
            decision.reason.map(|c| c.as_str().to_owned()),
        )
    };
    record.decision = Some(verdict);
    record.reason = Some(reason);
    let details = ShipmentDetails {
        carrier: Cow::Borrowed(&declared.carrier),
        quantity: declared.quantity,
        purpose: Cow::Borrowed(&declared.purpose),
        idempotency_key: record::borrowed(&declared.idempotency_key),
        policy_version,
        rule: decision.rule.map(|n| Cow::Owned(format!("S{n}"))),
        legal_entity: record::borrowed(&decision.legal_entity),
        hgr: decision.hgr,
        sample_type: record::borrowed(&decision.sample_type),
        unit: record::borrowed(&decision.unit),
        biosafety_level: decision.biosafety_level,
        storage_facility: record::borrowed(&decision.storage_facility),
        retention_days: decision.retention_days,
        hgr_approvals: decision
            .hgr_approvals
            .iter()
            .map(|r| Cow::Borrowed(r.as_str()))
            .collect(),
        evaluated_on: Some(Day(decision.evaluated_on)),
    };
    record::write(&mut record, &details)?;
    Ok(record)
}

/// A custody event as its reporter sent it (`POST /v1/shipments/{id}/events`), after its JSON
/// parsed; which fields it needs is rule S10's to say.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Event {
    pub(crate) at: Option<OffsetDateTime>,
    pub(crate) seal_ids: Option<Vec<String>>,
    pub(crate) customs_declaration: Option<String>,
    pub(crate) quantity: Option<u64>,
    pub(crate) facility: Option<String>,
    pub(crate) project: Option<String>,
    pub(crate) method: Option<String>,
    pub(crate) certificate_sha256: Option<String>,
    pub(crate) note: Option<String>,
}

/// What a `custody` record says beyond the shipment and its parties. A refused report is the
/// same, with the record's `reason` set to the refusal's code.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct CustodyDetails<'a> {
    /// What happened.
    pub(crate) event: CustodyEvent,
    /// When it happened, as the reporter says (UTC); the record's `time` is when it was logged.
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub(crate) reported_at: Option<OffsetDateTime>,
    /// Who reported it: `tenant/<id>` or `carrier/<id>`.
    #[serde(borrow)]
    pub(crate) principal: Cow<'a, str>,
    /// The shipment's carrier, as declared.
    #[serde(borrow)]
    pub(crate) carrier: Cow<'a, str>,
    #[serde(default, borrow, skip_serializing_if = "Option::is_none")]
    pub(crate) seal_ids: Option<Vec<Cow<'a, str>>>,
    #[serde(default, borrow, skip_serializing_if = "Option::is_none")]
    pub(crate) customs_declaration: Option<Cow<'a, str>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) quantity: Option<u64>,
    #[serde(default, borrow, skip_serializing_if = "Option::is_none")]
    pub(crate) facility: Option<Cow<'a, str>>,
    #[serde(default, borrow, skip_serializing_if = "Option::is_none")]
    pub(crate) project: Option<Cow<'a, str>>,
    #[serde(default, borrow, skip_serializing_if = "Option::is_none")]
    pub(crate) method: Option<Cow<'a, str>>,
    #[serde(default, borrow, skip_serializing_if = "Option::is_none")]
    pub(crate) certificate_sha256: Option<Cow<'a, str>>,
    #[serde(default, borrow, skip_serializing_if = "Option::is_none")]
    pub(crate) note: Option<Cow<'a, str>>,
    /// The discrepancies this event raised (rule S11); empty when none, and on a refusal.
    #[serde(default)]
    pub(crate) flags: Vec<CustodyFlag>,
    /// The quantity held once the event was applied (unchanged by a refusal).
    pub(crate) held: u64,
    /// Whether the samples are human genetic resources (for regulator scopes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) hgr: Option<bool>,
}

impl Details for CustodyDetails<'_> {
    const KIND: Kind = Kind::Custody;
}

impl<'a> CustodyDetails<'a> {
    /// The report these details record, as rule S9-S11 checks take it.
    pub(crate) fn report<'b>(&'b self, seals: &'b [String]) -> loopgate_policy::CustodyReport<'b> {
        loopgate_policy::CustodyReport {
            event: self.event,
            at: self.reported_at,
            by: self.event.party(),
            seal_ids: self.seal_ids.as_ref().map(|_| seals),
            customs_declaration: self.customs_declaration.as_deref(),
            quantity: self.quantity,
            facility: self.facility.as_deref(),
            project: self.project.as_deref(),
            method: self.method.as_deref(),
            certificate_sha256: self.certificate_sha256.as_deref(),
        }
    }

    /// Folds this accepted step into `custody` (how the chain and the regulators' list are
    /// rebuilt from the log).
    pub(crate) fn apply_to(&self, custody: &mut loopgate_policy::Custody) {
        let seals = self.seals();
        custody.apply(&self.report(&seals), &self.flags);
    }

    /// The seal ids as owned strings (for [`CustodyDetails::report`]).
    pub(crate) fn seals(&self) -> Vec<String> {
        self.seal_ids
            .iter()
            .flatten()
            .map(|s| s.to_string())
            .collect()
    }
}

/// What a custody record is about: the shipment's declaration, the reporter and the verdict.
pub(crate) struct Reported<'a> {
    pub(crate) declaration: &'a Record,
    pub(crate) carrier: &'a str,
    pub(crate) hgr: Option<bool>,
    pub(crate) principal: String,
    pub(crate) event: CustodyEvent,
    pub(crate) body: &'a Event,
    /// `Ok(flags)` when accepted, the refusal's code otherwise.
    pub(crate) verdict: Result<Vec<CustodyFlag>, ReasonCode>,
    /// The quantity held after the event.
    pub(crate) held: u64,
}

/// The `custody` record of a report.
pub(crate) fn custody(
    reported: &Reported<'_>,
    at: OffsetDateTime,
) -> Result<Record, loopgate_audit::Error> {
    let declaration = reported.declaration;
    let mut record = Record::new(Kind::Custody, at)?;
    record.shipment_id = declaration.shipment_id.clone();
    record.sender = declaration.sender.clone();
    record.recipient = declaration.recipient.clone();
    record.sample_item = declaration.sample_item.clone();
    let flags = match &reported.verdict {
        Ok(flags) => flags.clone(),
        Err(code) => {
            record.reason = Some(Some(code.as_str().to_owned()));
            Vec::new()
        }
    };
    let body = reported.body;
    let details = CustodyDetails {
        event: reported.event,
        reported_at: body.at,
        principal: Cow::Borrowed(&reported.principal),
        carrier: Cow::Borrowed(reported.carrier),
        seal_ids: body
            .seal_ids
            .as_ref()
            .map(|ids| ids.iter().map(|s| Cow::Borrowed(s.as_str())).collect()),
        customs_declaration: record::borrowed(&body.customs_declaration),
        quantity: body.quantity,
        facility: record::borrowed(&body.facility),
        project: record::borrowed(&body.project),
        method: record::borrowed(&body.method),
        certificate_sha256: record::borrowed(&body.certificate_sha256),
        note: record::borrowed(&body.note),
        flags,
        held: reported.held,
        hgr: reported.hgr,
    };
    record::write(&mut record, &details)?;
    Ok(record)
}

/// The party a principal is on a shipment, when it is one: its sender or recipient tenant, or
/// its named carrier.
pub(crate) fn party_of(
    declaration: &Record,
    carrier: &str,
    role: crate::identity::Role,
    id: &str,
) -> Option<CustodyParty> {
    use crate::identity::Role;
    match role {
        Role::Tenant if declaration.sender.as_deref() == Some(id) => Some(CustodyParty::Sender),
        Role::Tenant if declaration.recipient.as_deref() == Some(id) => {
            Some(CustodyParty::Recipient)
        }
        Role::Carrier if carrier == id => Some(CustodyParty::Carrier),
        _ => None,
    }
}
