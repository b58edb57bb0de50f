use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use loopgate_audit::Record;
use loopgate_policy::{DataClass, Decision, Flag, Party, ReasonCode, Route, Verdict as Allowed};
use serde_json::{Value, json};
use time::macros::{date, datetime};

use super::*;
use crate::record::Day;

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

fn headers() -> TransferHeaders {
    TransferHeaders {
        item: "INV-PI-001".to_owned(),
        recipient: "hk-biolab".to_owned(),
        purpose: "research.cohort_study".to_owned(),
        filing: Some("GBA-SC-DEMO-001".to_owned()),
        data_subjects: Some(250),
        content_length: Some(1024),
        sha256: Some([7; 32]),
        idempotency_key: None,
    }
}

fn allowed() -> Decision {
    Decision {
        verdict: Allowed::Allow,
        reason: None,
        rule: None,
        flags: vec![Flag::FiledLate(Party::Processor)],
        evaluated_on: date!(2026 - 11 - 25),
        legal_entity: Some("sz-genomics".to_owned()),
        data_class: Some(DataClass::Personal),
        hgr: Some(false),
        retention_days: Some(365),
        hgr_approvals: Vec::new(),
        filing_numbers: vec![
            (Party::Processor, "GD-SC-2026-0142".to_owned()),
            (Party::Recipient, "DPO-GBA-2026-0087".to_owned()),
        ],
        pia_report_sha256: Some("9f".repeat(32)),
        filing_due: Vec::new(),
        overdue_party: None,
    }
}

/// Every key a decision record holds (RULES.md "What a decision record holds"), and a key absent
/// where it is absent (a leaf's bytes depend on both). The keys of the first version are
/// written as they were.
#[test]
fn decision_details_are_what_json_made_of_them() {
    let headers = headers();
    let admitted = decision(&facts(Some(&headers)), Ok(&allowed())).expect("a record");
    assert_eq!(
        details(&admitted),
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
            "hgr": false,
            "legal_entity": "sz-genomics",
            "filing_numbers": [
                {"party": "processor", "number": "GD-SC-2026-0142"},
                {"party": "recipient", "number": "DPO-GBA-2026-0087"},
            ],
            "pia_report_sha256": "9f".repeat(32),
            "hgr_approvals": [],
            "retention_days": 365,
            "flags": ["filed_late:processor"],
            "evaluated_on": "2026-11-25",
        })
    );
    // The party that has not filed in time is named with its denial.
    let overdue = Decision {
        verdict: Allowed::Deny,
        reason: Some(ReasonCode::ContractFilingOverdue),
        rule: Some(14),
        flags: Vec::new(),
        overdue_party: Some(Party::Recipient),
        ..allowed()
    };
    let record = decision(&facts(Some(&headers)), Ok(&overdue)).expect("a record");
    assert_eq!(record.details["overdue_party"], "recipient");
    assert_eq!(
        record.reason,
        Some(Some("contract.filing_overdue".to_owned()))
    );
    let refused = decision(&facts(None), Err(ReasonCode::RequestMissingHeader)).expect("a record");
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
            "hgr": null,
            "legal_entity": null,
            "filing_numbers": [],
            "pia_report_sha256": null,
            "hgr_approvals": [],
            "flags": [],
        })
    );
    // An evaluated decision whose item has no retention period says so with null.
    let no_retention = Decision {
        retention_days: None,
        ..allowed()
    };
    let record = decision(&facts(Some(&headers)), Ok(&no_retention)).expect("a record");
    assert_eq!(record.details["retention_days"], Value::Null);
}

#[test]
fn outcome_details_are_what_json_made_of_them() {
    let at = datetime!(2026-11-25 08:00 UTC);
    let scope = DataScope {
        data_class: Some(DataClass::NonPersonal),
        hgr: Some(true),
    };
    let completed = Ending::Completed(CompletedDetails {
        size: 1024,
        sha256: [9; 32],
        upstream_status: 201,
        data_class: None,
        hgr: None,
    })
    .in_scope(scope);
    let record = outcome("ab", ["s", "r", "i"], &completed, at).expect("a record");
    assert_eq!(
        details(&record),
        json!({"size": 1024, "sha256": STANDARD.encode([9; 32]), "upstream_status": 201,
            "data_class": "non_personal", "hgr": true})
    );
    let failed = Ending::Failed {
        reason: ReasonCode::UpstreamUnavailable,
        details: FailedDetails {
            size: None,
            upstream_status: Some(503),
            ..FailedDetails::default()
        },
    };
    let record = outcome("ab", ["s", "r", "i"], &failed, at).expect("a record");
    assert_eq!(
        details(&record),
        json!({"size": null, "upstream_status": 503, "data_class": null, "hgr": null})
    );
    assert_eq!(record.reason, Some(Some("upstream.unavailable".to_owned())));
}

/// Every detail written is read back as it was, through the leaf's bytes.
#[test]
fn details_read_back_from_the_leaf_as_written() {
    let headers = headers();
    let written = decision(&facts(Some(&headers)), Ok(&allowed())).expect("a record");
    let read_back = Record::from_leaf(&written.to_leaf().expect("a leaf")).expect("a record");
    let typed: DecisionDetails = record::read(&read_back).expect("decision details");
    assert_eq!(typed.data_class, Some(DataClass::Personal));
    assert_eq!(typed.data_subjects, Some(250));
    assert_eq!(typed.route, Some(Route::GbaSc));
    assert_eq!(typed.retention_days(), Some(365));
    assert_eq!(typed.flags, [Flag::FiledLate(Party::Processor)]);
    assert_eq!(typed.evaluated_on, Some(Day(date!(2026 - 11 - 25))));
    assert_eq!(typed.legal_entity.as_deref(), Some("sz-genomics"));
    assert_eq!(typed.filing_numbers[1].party, Party::Recipient);
    assert_eq!(typed.filing_numbers[1].number, "DPO-GBA-2026-0087");
    assert_eq!(
        typed.data_scope().scopes(),
        loopgate_policy::Scope::of_transfer(DataClass::Personal, false)
    );
    let refused = decision(&facts(None), Err(ReasonCode::RequestMissingHeader)).expect("a record");
    let typed: DecisionDetails = record::read(&refused).expect("decision details");
    assert_eq!(
        (typed.evaluated_on, typed.retention_days, typed.rule),
        (None, None, Some(11))
    );

    let at = datetime!(2026-11-25 08:00 UTC);
    let done = CompletedDetails {
        size: 5,
        sha256: [3; 32],
        upstream_status: 201,
        data_class: Some(DataClass::Personal),
        hgr: Some(false),
    };
    let record = outcome("ab", ["s", "r", "i"], &Ending::Completed(done), at).expect("a record");
    let leaf = Record::from_leaf(&record.to_leaf().expect("a leaf")).expect("a record");
    assert_eq!(record::read::<CompletedDetails>(&leaf), Some(done));
    // Details of one kind are never read from a record of another.
    assert_eq!(record::read::<DecisionDetails>(&leaf), None);
}

/// Decisions written before `route` and `retention_days` were kept still read, as unknown.
#[test]
fn decisions_of_older_versions_read_with_what_they_hold() {
    let leaf = br#"{"v":1,"kind":"decision","time":"2026-11-20T01:02:03Z","transfer_id":"aa","sender":"sz-genomics","recipient":"hk-biolab","item":"INV-PI-001","decision":"allow","reason":null,"data_class":"personal","data_subjects":7,"evaluated_on":"2026-11-20","filing":"GBA-SC-DEMO-001","flags":[],"policy_version":0,"purpose":"research.cohort_study","rule":null}"#;
    let record = Record::from_leaf(leaf).expect("a record");
    let typed: DecisionDetails = record::read(&record).expect("decision details");
    assert_eq!(typed.route, None);
    assert_eq!(typed.retention_days(), None);
    assert_eq!(typed.data_subjects, Some(7));
}
