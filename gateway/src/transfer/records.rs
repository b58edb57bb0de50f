//! The records the transfer pipeline writes (SPEC.md section 5, RULES.md "What a decision
//! record holds"): one decision per request, and one outcome per admitted transfer (recovery
//! writes `interrupted` for an admission the last stop cut off, and so does `state::conclude` for
//! one a failed append left without an outcome). Metadata and digests only,
//! never payload bytes. Their details are typed here and read back everywhere through
//! [`crate::record::read`].

use std::borrow::Cow;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use loopgate_audit::{Kind, Outcome, Record, Verdict};
use loopgate_policy::{DataClass, Decision, Flag, Party, ReasonCode, Route, Scope};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::headers::TransferHeaders;
use crate::record::{self, Day, Details};

/// What a decision record says beyond its common fields (sender, recipient, item, verdict,
/// reason).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct DecisionDetails<'a> {
    /// `Loop-Purpose` (as sent, when the headers did not parse).
    #[serde(borrow)]
    pub(crate) purpose: Option<Cow<'a, str>>,
    /// `Loop-Contract-Filing`.
    #[serde(borrow)]
    pub(crate) filing: Option<Cow<'a, str>>,
    /// `Loop-Data-Subjects`.
    pub(crate) data_subjects: Option<u64>,
    /// `Content-Length`.
    pub(crate) declared_size: Option<u64>,
    /// `Content-Digest`, as `sha-256=:<base64>:`.
    #[serde(borrow)]
    pub(crate) declared_digest: Option<Cow<'a, str>>,
    /// `Idempotency-Key`.
    #[serde(borrow)]
    pub(crate) idempotency_key: Option<Cow<'a, str>>,
    /// The policy version the request was decided under (the log index of its
    /// `policy_change` record).
    #[serde(default)]
    pub(crate) policy_version: u64,
    /// The route of the filing the request names, as the registry had it (rule 19 counts per
    /// route); `None` without a known filing, and on records written before it was kept.
    pub(crate) route: Option<Route>,
    /// The rule that denied it.
    pub(crate) rule: Option<u8>,
    /// The item's data class, when the item is known.
    pub(crate) data_class: Option<DataClass>,
    /// Whether the item is human genetic resources information, when the item is known.
    #[serde(default)]
    pub(crate) hgr: Option<bool>,
    /// The sender's legal entity (rule 19 counts per legal entity), when the sender is known.
    #[serde(default, borrow)]
    pub(crate) legal_entity: Option<Cow<'a, str>>,
    /// The numbers of the filing's entries (per party) the decision relied on.
    #[serde(default, borrow)]
    pub(crate) filing_numbers: Vec<FilingNumber<'a>>,
    /// The filing's impact assessment report digest (hex).
    #[serde(default, borrow)]
    pub(crate) pia_report_sha256: Option<Cow<'a, str>>,
    /// The HGR approvals rule 9 relied on.
    #[serde(default, borrow)]
    pub(crate) hgr_approvals: Vec<Cow<'a, str>>,
    /// The party that had not filed in time, with `contract.filing_overdue`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) overdue_party: Option<Party>,
    /// Flags, e.g. `filed_late:recipient` (records of the first version say `filed_late`).
    #[serde(default)]
    pub(crate) flags: Vec<Flag>,
    /// The calendar day (UTC+8) the rules were evaluated for; absent for a request refused
    /// before evaluation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) evaluated_on: Option<Day>,
    /// The item's retention period (rule 21): absent before evaluation, `null` for an item
    /// without one (read it with [`DecisionDetails::retention_days`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) retention_days: Option<Option<u32>>,
}

/// One filing number a decision relied on: `{"party": "recipient", "number": "DPO-..."}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct FilingNumber<'a> {
    pub(crate) party: Party,
    #[serde(borrow)]
    pub(crate) number: Cow<'a, str>,
}

impl Details for DecisionDetails<'_> {
    const KIND: Kind = Kind::Decision;
}

impl DecisionDetails<'_> {
    /// The item's retention period, when the decision was evaluated and the item has one.
    pub(crate) fn retention_days(&self) -> Option<u32> {
        self.retention_days.flatten()
    }

    /// The class of the transfer's data, as its records repeat it.
    pub(crate) fn data_scope(&self) -> DataScope {
        DataScope {
            data_class: self.data_class,
            hgr: self.hgr,
        }
    }
}

/// The class of a transfer's data: on its decision, and repeated on its outcome and lifecycle
/// records so that a regulator's scope (`[[regulator]] sees`) applies to each record on its
/// own. Both `None` on records written before it was kept, and on a request refused before
/// its item was known.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct DataScope {
    pub(crate) data_class: Option<DataClass>,
    pub(crate) hgr: Option<bool>,
}

impl DataScope {
    /// The class in one byte, for views that keep an entry per transfer: bits 0-2 the class
    /// (0 when unknown), bits 3-4 `hgr` (0 unknown, 1 false, 2 true).
    pub(crate) fn to_bits(self) -> u8 {
        let class = self
            .data_class
            .and_then(|c| DataClass::ALL.iter().position(|k| *k == c))
            .and_then(|i| u8::try_from(i + 1).ok())
            .unwrap_or(0);
        let hgr = match self.hgr {
            None => 0,
            Some(false) => 1,
            Some(true) => 2,
        };
        class | (hgr << 3)
    }

    /// [`DataScope::to_bits`] read back.
    pub(crate) fn from_bits(bits: u8) -> Self {
        let class = usize::from(bits & 0b111);
        DataScope {
            data_class: class
                .checked_sub(1)
                .and_then(|i| DataClass::ALL.get(i).copied()),
            hgr: match (bits >> 3) & 0b11 {
                1 => Some(false),
                2 => Some(true),
                _ => None,
            },
        }
    }

    /// The regulator scopes a record of this data falls under; none when the class is unknown
    /// (then only a regulator that sees `all` sees it).
    pub(crate) fn scopes(self) -> Vec<Scope> {
        match self.data_class {
            Some(class) => Scope::of_transfer(class, self.hgr.unwrap_or(false)),
            None => Vec::new(),
        }
    }
}

/// What a `completed` outcome says: the upstream took the whole, verified body.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct CompletedDetails {
    /// Bytes forwarded.
    pub(crate) size: u64,
    /// Their SHA-256.
    #[serde(with = "record::base64_sha256")]
    pub(crate) sha256: [u8; 32],
    /// The upstream's status.
    pub(crate) upstream_status: u16,
    /// The class of the transfer's data (see [`DataScope`]).
    #[serde(default)]
    pub(crate) data_class: Option<DataClass>,
    /// Whether it is human genetic resources information.
    #[serde(default)]
    pub(crate) hgr: Option<bool>,
}

impl Details for CompletedDetails {
    const KIND: Kind = Kind::Outcome;
}

impl CompletedDetails {
    /// The class of the transfer's data, as the record repeats it.
    pub(crate) fn data_scope(&self) -> DataScope {
        DataScope {
            data_class: self.data_class,
            hgr: self.hgr,
        }
    }
}

/// What a `failed` or `interrupted` outcome says (its reason code is the record's `reason`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct FailedDetails {
    /// Bytes received from the sender before it failed, when known.
    pub(crate) size: Option<u64>,
    /// The upstream's status, when it answered.
    pub(crate) upstream_status: Option<u16>,
    /// The class of the transfer's data (see [`DataScope`]).
    #[serde(default)]
    pub(crate) data_class: Option<DataClass>,
    /// Whether it is human genetic resources information.
    #[serde(default)]
    pub(crate) hgr: Option<bool>,
}

impl Details for FailedDetails {
    const KIND: Kind = Kind::Outcome;
}

impl FailedDetails {
    /// The class of the transfer's data, as the record repeats it.
    pub(crate) fn data_scope(&self) -> DataScope {
        DataScope {
            data_class: self.data_class,
            hgr: self.hgr,
        }
    }
}

/// Everything a decision record says beyond the policy engine's answer.
#[derive(Debug, Clone)]
pub(crate) struct DecisionFacts<'a> {
    /// The new transfer's id.
    pub(crate) transfer_id: &'a str,
    /// The sender (the principal's tenant id).
    pub(crate) sender: &'a str,
    /// The parsed headers; `None` when they could not be parsed.
    pub(crate) headers: Option<&'a TransferHeaders>,
    /// Raw header values for a malformed request: recipient, item, purpose as sent.
    pub(crate) raw: [Option<&'a str>; 3],
    /// The policy version (log index of the registry change in force).
    pub(crate) policy_version: u64,
    /// The instant of evaluation.
    pub(crate) at: OffsetDateTime,
    /// The route of the filing the request names, as the registry had it at evaluation (rule
    /// 19's counters are kept per route); `None` without a known filing.
    pub(crate) route: Option<Route>,
}

/// Longest header value copied as sent into a record (a malformed request's recipient, item and
/// purpose); a longer one is cut (see [`capped`]).
pub(crate) const MAX_RAW_HEADER: usize = 256;

/// `text` when it is at most `max` bytes; else its first `max` bytes (at a character boundary),
/// `...`, and the whole value's length and SHA-256, so that a record holds a bounded prefix yet
/// still identifies what was sent: `<prefix>...[15000 bytes, sha-256=:<base64>:]`.
pub(crate) fn capped(text: &str, max: usize) -> Cow<'_, str> {
    if text.len() <= max {
        return Cow::Borrowed(text);
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    let digest = crate::registry::sha256(text.as_bytes());
    Cow::Owned(format!(
        "{}...[{} bytes, sha-256=:{}:]",
        &text[..end],
        text.len(),
        STANDARD.encode(digest)
    ))
}

/// A decision record: the engine's decision, or a denial before evaluation (`code`, e.g. a
/// malformed header), with everything RULES.md asks a decision record to hold.
pub(crate) fn decision(
    facts: &DecisionFacts<'_>,
    outcome: Result<&Decision, ReasonCode>,
) -> Result<Record, loopgate_audit::Error> {
    let (verdict, reason) = match outcome {
        Ok(decision) if decision.is_allowed() => (Verdict::Allow, None),
        Ok(decision) => (Verdict::Deny, decision.reason),
        Err(code) => (Verdict::Deny, Some(code)),
    };
    // A malformed request's values as sent, capped: a 15 KB header must not land in a record.
    let [raw_recipient, raw_item, raw_purpose] =
        facts.raw.map(|v| v.map(|v| capped(v, MAX_RAW_HEADER)));
    let h = facts.headers;
    let mut record = Record::decision(
        facts.at,
        facts.transfer_id,
        Some(facts.sender),
        Some(h.map_or(raw_recipient.as_deref().unwrap_or(""), |h| &h.recipient)),
        Some(h.map_or(raw_item.as_deref().unwrap_or(""), |h| &h.item)),
        verdict,
        reason.map(ReasonCode::as_str),
    )?;
    let mut details = DecisionDetails {
        purpose: match h {
            Some(h) => Some(Cow::Borrowed(h.purpose.as_str())),
            None => raw_purpose,
        },
        filing: h.and_then(|h| h.filing.as_deref()).map(Cow::Borrowed),
        data_subjects: h.and_then(|h| h.data_subjects),
        declared_size: h.and_then(|h| h.content_length),
        declared_digest: h
            .and_then(|h| h.sha256)
            .map(|d| Cow::Owned(format!("sha-256=:{}:", STANDARD.encode(d)))),
        idempotency_key: h
            .and_then(|h| h.idempotency_key.as_deref())
            .map(Cow::Borrowed),
        policy_version: facts.policy_version,
        route: facts.route,
        ..DecisionDetails::default()
    };
    match outcome {
        Ok(decision) => evaluated(&mut details, decision),
        Err(code) => details.rule = code.rule(),
    }
    record::write(&mut record, &details)?;
    Ok(record)
}

/// What the engine's decision adds to a decision record.
fn evaluated<'a>(details: &mut DecisionDetails<'a>, decision: &'a Decision) {
    details.rule = decision.rule;
    details.data_class = decision.data_class;
    details.hgr = decision.hgr;
    details.legal_entity = decision.legal_entity.as_deref().map(Cow::Borrowed);
    details.filing_numbers = decision
        .filing_numbers
        .iter()
        .map(|(party, number)| FilingNumber {
            party: *party,
            number: Cow::Borrowed(number),
        })
        .collect();
    details.pia_report_sha256 = decision.pia_report_sha256.as_deref().map(Cow::Borrowed);
    details.hgr_approvals = decision
        .hgr_approvals
        .iter()
        .map(|r| Cow::Borrowed(r.as_str()))
        .collect();
    details.overdue_party = decision.overdue_party;
    details.flags.clone_from(&decision.flags);
    details.evaluated_on = Some(Day(decision.evaluated_on));
    details.retention_days = Some(decision.retention_days);
}

/// How an admitted transfer ended.
#[derive(Debug, Clone)]
pub(crate) enum Ending {
    /// The upstream took the whole, verified body.
    Completed(CompletedDetails),
    /// It did not.
    Failed {
        /// Why.
        reason: ReasonCode,
        /// Bytes received and the upstream's answer, when known.
        details: FailedDetails,
    },
}

impl Ending {
    /// The ending with the class of the transfer's data (see [`DataScope`]).
    pub(crate) fn in_scope(mut self, scope: DataScope) -> Self {
        let (class, hgr) = match &mut self {
            Ending::Completed(details) => (&mut details.data_class, &mut details.hgr),
            Ending::Failed { details, .. } => (&mut details.data_class, &mut details.hgr),
        };
        *class = scope.data_class;
        *hgr = scope.hgr;
        self
    }
}

/// What the `system` record says before the `interrupted` outcomes written in the same process
/// after the log failed and took writes again (`state::conclude`): the log resumed (a start's
/// record, before recovery's, says `"event": "start"`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct ResumedDetails {
    /// `resumed`.
    pub(crate) event: String,
    /// The policy version in force.
    pub(crate) policy_version: u64,
    /// How many transfers lost their outcome to the failure (each gets `interrupted` next).
    pub(crate) interrupted: usize,
}

impl Details for ResumedDetails {
    const KIND: Kind = Kind::System;
}

/// The `system` record of a log that resumed with `interrupted` transfers to record.
pub(crate) fn resumed(
    policy_version: u64,
    interrupted: usize,
    at: OffsetDateTime,
) -> Result<Record, loopgate_audit::Error> {
    let mut record = Record::new(Kind::System, at)?;
    let details = ResumedDetails {
        event: "resumed".to_owned(),
        policy_version,
        interrupted,
    };
    record::write(&mut record, &details)?;
    Ok(record)
}

/// An outcome record naming the transfer and its parties, with `reason` (null when none).
fn ended(
    transfer_id: &str,
    parties: [Option<&str>; 3],
    outcome: Outcome,
    reason: Option<ReasonCode>,
    at: OffsetDateTime,
) -> Result<Record, loopgate_audit::Error> {
    let mut record = Record::outcome(at, transfer_id, outcome)?;
    let [sender, recipient, item] = parties.map(|p| p.map(str::to_owned));
    record.sender = sender;
    record.recipient = recipient;
    record.item = item;
    record.reason = Some(reason.map(|code| code.as_str().to_owned()));
    Ok(record)
}

/// The outcome record of transfer `transfer_id`.
pub(crate) fn outcome(
    transfer_id: &str,
    parties: [&str; 3],
    ending: &Ending,
    at: OffsetDateTime,
) -> Result<Record, loopgate_audit::Error> {
    let parties = parties.map(Some);
    match ending {
        Ending::Completed(details) => {
            let mut record = ended(transfer_id, parties, Outcome::Completed, None, at)?;
            record::write(&mut record, details)?;
            Ok(record)
        }
        Ending::Failed { reason, details } => {
            let mut record = ended(transfer_id, parties, Outcome::Failed, Some(*reason), at)?;
            record::write(&mut record, details)?;
            Ok(record)
        }
    }
}

/// The `interrupted` outcome that recovery writes for an admitted transfer (its allow
/// `decision`) that has no outcome in the log: the gateway stopped before it ended (DESIGN.md
/// invariant 2).
pub(crate) fn interrupted(
    decision: &Record,
    at: OffsetDateTime,
) -> Result<Record, loopgate_audit::Error> {
    let transfer_id = decision.transfer_id.as_deref().ok_or_else(|| {
        loopgate_audit::Error::InvalidRecord("a decision without a transfer_id".to_owned())
    })?;
    let parties = [&decision.sender, &decision.recipient, &decision.item].map(Option::as_deref);
    let mut record = ended(transfer_id, parties, Outcome::Interrupted, None, at)?;
    let scope = record::read::<DecisionDetails>(decision)
        .map(|d| d.data_scope())
        .unwrap_or_default();
    // Only the class: nothing is known of the size or the upstream.
    if scope.data_class.is_some() {
        let details = FailedDetails {
            data_class: scope.data_class,
            hgr: scope.hgr,
            ..FailedDetails::default()
        };
        record::write(&mut record, &details)?;
    }
    Ok(record)
}

#[cfg(test)]
mod tests;
