//! The records the gateway writes (SPEC.md section 5, RULES.md "What a decision record holds"),
//! filled in as `loopgate-audit` plain data. Metadata and digests only, never payload bytes.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use loopgate_audit::{Kind, Outcome, Record, Verdict};
use loopgate_policy::{Decision, ReasonCode, Route};
use serde_json::{Value, json};
use time::OffsetDateTime;

use crate::transfer::headers::TransferHeaders;

/// Everything a decision record says beyond the policy engine's answer.
#[derive(Debug, Clone)]
pub struct DecisionFacts<'a> {
    /// The new transfer's id.
    pub transfer_id: &'a str,
    /// The sender (the principal's tenant id).
    pub sender: &'a str,
    /// The parsed headers; `None` when they could not be parsed.
    pub headers: Option<&'a TransferHeaders>,
    /// Raw header values for a malformed request: recipient, item, purpose as sent.
    pub raw: [Option<&'a str>; 3],
    /// The policy version (log index of the registry change in force).
    pub policy_version: u64,
    /// The instant of evaluation.
    pub at: OffsetDateTime,
    /// The route of the filing the request names, as the registry had it at evaluation (rule
    /// 19's counters are kept per route); `None` without a known filing.
    pub route: Option<Route>,
}

fn set(record: &mut Record, key: &str, value: Value) {
    record.details.insert(key.to_owned(), value);
}

/// A decision record: the engine's decision, or a denial before evaluation (`code`, e.g. a
/// malformed header), with everything RULES.md asks a decision record to hold.
pub fn decision(
    facts: &DecisionFacts<'_>,
    outcome: Result<&Decision, ReasonCode>,
) -> Result<Record, loopgate_audit::Error> {
    let (verdict, reason) = match outcome {
        Ok(decision) if decision.is_allowed() => (Verdict::Allow, None),
        Ok(decision) => (Verdict::Deny, decision.reason),
        Err(code) => (Verdict::Deny, Some(code)),
    };
    let [raw_recipient, raw_item, raw_purpose] = facts.raw;
    let h = facts.headers;
    let mut record = Record::decision(
        facts.at,
        facts.transfer_id,
        Some(facts.sender),
        Some(h.map_or(raw_recipient.unwrap_or(""), |h| &h.recipient)),
        Some(h.map_or(raw_item.unwrap_or(""), |h| &h.item)),
        verdict,
        reason.map(ReasonCode::as_str),
    )?;
    set(
        &mut record,
        "purpose",
        Value::from(h.map_or(raw_purpose, |h| Some(h.purpose.as_str()))),
    );
    set(
        &mut record,
        "filing",
        Value::from(h.and_then(|h| h.filing.as_deref())),
    );
    set(
        &mut record,
        "data_subjects",
        Value::from(h.and_then(|h| h.data_subjects)),
    );
    set(
        &mut record,
        "declared_size",
        Value::from(h.and_then(|h| h.content_length)),
    );
    let digest = h
        .and_then(|h| h.sha256)
        .map(|d| format!("sha-256=:{}:", STANDARD.encode(d)));
    set(&mut record, "declared_digest", Value::from(digest));
    set(
        &mut record,
        "idempotency_key",
        Value::from(h.and_then(|h| h.idempotency_key.as_deref())),
    );
    set(
        &mut record,
        "policy_version",
        Value::from(facts.policy_version),
    );
    // The route's serde name (snake_case), as `json!` gave it.
    set(&mut record, "route", json!(facts.route));
    match outcome {
        Ok(decision) => {
            set(&mut record, "rule", Value::from(decision.rule));
            set(
                &mut record,
                "data_class",
                Value::from(decision.data_class.map(|c| c.as_str())),
            );
            set(
                &mut record,
                "retention_days",
                Value::from(decision.retention_days),
            );
            let flags = decision.flags.iter().map(|f| Value::from(f.as_str()));
            set(&mut record, "flags", Value::Array(flags.collect()));
            set(
                &mut record,
                "evaluated_on",
                Value::String(decision.evaluated_on.to_string()),
            );
        }
        Err(code) => {
            set(&mut record, "rule", Value::from(code.rule()));
            set(&mut record, "data_class", Value::Null);
            set(&mut record, "flags", Value::Array(Vec::new()));
        }
    }
    Ok(record)
}

/// How an admitted transfer ended.
#[derive(Debug, Clone)]
pub enum Ending {
    /// The upstream took the whole, verified body.
    Completed {
        /// Bytes forwarded.
        size: u64,
        /// Their SHA-256.
        sha256: [u8; 32],
        /// The upstream's status.
        upstream_status: u16,
    },
    /// It did not.
    Failed {
        /// Why.
        reason: ReasonCode,
        /// Bytes received from the sender before it failed.
        size: Option<u64>,
        /// The upstream's status, when it answered.
        upstream_status: Option<u16>,
    },
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
pub fn outcome(
    transfer_id: &str,
    sender: &str,
    recipient: &str,
    item: &str,
    ending: &Ending,
    at: OffsetDateTime,
) -> Result<Record, loopgate_audit::Error> {
    let parties = [Some(sender), Some(recipient), Some(item)];
    let record = match ending {
        Ending::Completed {
            size,
            sha256,
            upstream_status,
        } => {
            let mut record = ended(transfer_id, parties, Outcome::Completed, None, at)?;
            set(&mut record, "size", Value::from(*size));
            set(
                &mut record,
                "sha256",
                Value::String(STANDARD.encode(sha256)),
            );
            set(
                &mut record,
                "upstream_status",
                Value::from(*upstream_status),
            );
            record
        }
        Ending::Failed {
            reason,
            size,
            upstream_status,
        } => {
            let mut record = ended(transfer_id, parties, Outcome::Failed, Some(*reason), at)?;
            set(&mut record, "size", Value::from(*size));
            set(
                &mut record,
                "upstream_status",
                Value::from(*upstream_status),
            );
            record
        }
    };
    Ok(record)
}

/// The `interrupted` outcome that recovery writes for an admitted transfer (its allow
/// `decision`) that has no outcome in the log: the gateway stopped before it ended (DESIGN.md
/// invariant 2).
pub fn interrupted(decision: &Record, at: OffsetDateTime) -> Result<Record, loopgate_audit::Error> {
    let transfer_id = decision.transfer_id.as_deref().ok_or_else(|| {
        loopgate_audit::Error::InvalidRecord("a decision without a transfer_id".to_owned())
    })?;
    let parties = [&decision.sender, &decision.recipient, &decision.item].map(Option::as_deref);
    ended(transfer_id, parties, Outcome::Interrupted, None, at)
}

/// The `system` record every start writes, before recovery's `interrupted` outcomes: the
/// software version, the policy version in force and how many transfers the last stop cut off.
pub fn started(
    policy_version: u64,
    interrupted: usize,
    at: OffsetDateTime,
) -> Result<Record, loopgate_audit::Error> {
    let mut record = Record::new(Kind::System, at)?;
    set(&mut record, "event", Value::from("start"));
    set(
        &mut record,
        "software",
        Value::from(concat!("loopgate ", env!("CARGO_PKG_VERSION"))),
    );
    set(&mut record, "policy_version", Value::from(policy_version));
    set(&mut record, "interrupted", Value::from(interrupted));
    Ok(record)
}

#[cfg(test)]
mod tests {
    use loopgate_policy::{DataClass, Flag, Verdict as Allowed};
    use time::macros::{date, datetime};

    use super::*;

    fn facts<'a>(headers: Option<&'a TransferHeaders>) -> DecisionFacts<'a> {
        DecisionFacts {
            transfer_id: "00112233445566778899aabbccddeeff",
            sender: "sz-genomics",
            headers,
            raw: [Some("hk-biolab"), None, Some("marketing")],
            policy_version: 3,
            at: datetime!(2026-11-25 08:00 UTC),
            route: Some(Route::GbaSc),
        }
    }

    fn details(record: &Record) -> Value {
        Value::Object(record.details.clone())
    }

    #[test]
    fn decision_details_are_what_json_made_of_them() {
        let headers = TransferHeaders {
            item: "INV-PI-001".to_owned(),
            recipient: "hk-biolab".to_owned(),
            purpose: "research.cohort_study".to_owned(),
            filing: Some("GBA-SC-DEMO-001".to_owned()),
            data_subjects: Some(250),
            content_length: Some(1024),
            sha256: Some([7; 32]),
            idempotency_key: None,
        };
        let decision = Decision {
            verdict: Allowed::Allow,
            reason: None,
            rule: None,
            flags: vec![Flag::FiledLate],
            evaluated_on: date!(2026 - 11 - 25),
            data_class: Some(DataClass::Personal),
            retention_days: Some(365),
            filing_due: None,
        };
        let allowed = decision_record(&facts(Some(&headers)), Ok(&decision));
        assert_eq!(
            details(&allowed),
            json!({
                "purpose": "research.cohort_study",
                "filing": "GBA-SC-DEMO-001",
                "data_subjects": 250,
                "declared_size": 1024,
                "declared_digest": format!("sha-256=:{}:", STANDARD.encode([7; 32])),
                "idempotency_key": null,
                "policy_version": 3,
                "route": "gba_sc",
                "rule": null,
                "data_class": "personal",
                "retention_days": 365,
                "flags": ["filed_late"],
                "evaluated_on": "2026-11-25",
            })
        );
        let refused = decision_record(&facts(None), Err(ReasonCode::RequestMissingHeader));
        assert_eq!(
            details(&refused),
            json!({
                "purpose": "marketing",
                "filing": null,
                "data_subjects": null,
                "declared_size": null,
                "declared_digest": null,
                "idempotency_key": null,
                "policy_version": 3,
                "route": "gba_sc",
                "rule": 11,
                "data_class": null,
                "flags": [],
            })
        );
    }

    fn decision_record(
        facts: &DecisionFacts<'_>,
        outcome: Result<&Decision, ReasonCode>,
    ) -> Record {
        decision(facts, outcome).expect("a record")
    }

    #[test]
    fn outcome_and_start_details_are_what_json_made_of_them() {
        let at = datetime!(2026-11-25 08:00 UTC);
        let completed = Ending::Completed {
            size: 1024,
            sha256: [9; 32],
            upstream_status: 201,
        };
        let record = outcome("ab", "s", "r", "i", &completed, at).expect("a record");
        assert_eq!(
            details(&record),
            json!({"size": 1024, "sha256": STANDARD.encode([9; 32]), "upstream_status": 201})
        );
        let failed = Ending::Failed {
            reason: ReasonCode::UpstreamUnavailable,
            size: None,
            upstream_status: Some(503),
        };
        let record = outcome("ab", "s", "r", "i", &failed, at).expect("a record");
        assert_eq!(
            details(&record),
            json!({"size": null, "upstream_status": 503})
        );
        let record = started(4, 2, at).expect("a record");
        assert_eq!(
            details(&record),
            json!({
                "event": "start",
                "software": concat!("loopgate ", env!("CARGO_PKG_VERSION")),
                "policy_version": 4,
                "interrupted": 2,
            })
        );
    }
}
