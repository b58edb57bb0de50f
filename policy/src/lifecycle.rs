//! Rules 20-21: what happens to data after it crossed, as pure functions of its history.

use serde::{Deserialize, Serialize};
use time::{Duration, OffsetDateTime};

use crate::bundle::is_sha256_hex;
use crate::model::Parameters;
use crate::reason::ReasonCode;

/// A lifecycle event the recipient reports (`POST /v1/transfers/{id}/events`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LifecycleEvent {
    /// The data was put in storage.
    Stored,
    /// The data was used.
    Accessed,
    /// The data was destroyed: closes the retention clock.
    Destroyed,
}

impl LifecycleEvent {
    /// Parses the wire spelling.
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "stored" => Some(Self::Stored),
            "accessed" => Some(Self::Accessed),
            "destroyed" => Some(Self::Destroyed),
            _ => None,
        }
    }

    /// The wire spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Stored => "stored",
            Self::Accessed => "accessed",
            Self::Destroyed => "destroyed",
        }
    }
}

/// One lifecycle event as the recipient reports it, with its evidence (SPEC.md section 3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LifecycleReport<'a> {
    /// What happened.
    pub event: LifecycleEvent,
    /// When it happened, as the reporter says.
    pub at: OffsetDateTime,
    /// Whether the reporting principal is the transfer's recipient.
    pub by_recipient: bool,
    /// `project`: what the data was used for (needed for `accessed`).
    pub project: Option<&'a str>,
    /// `method`: how it was destroyed (needed for `destroyed`).
    pub method: Option<&'a str>,
    /// `certificate_sha256`: the destruction certificate's SHA-256 as 64 hex digits (needed for
    /// `destroyed`).
    pub certificate_sha256: Option<&'a str>,
}

/// Rule 20: whether `report` may be logged now, given the events already logged (`history`),
/// the instant the transfer completed (`None`: it has not completed) and the gateway's clock.
/// Checked in this order:
/// 1. only the recipient reports: `auth.forbidden`;
/// 2. `at` not before `completed_at` and not after `now` + `clock_skew_secs` (both ends
///    allowed): `lifecycle.bad_time`;
/// 3. a transfer that has not completed, or was destroyed already, takes no event:
///    `lifecycle.invalid_transition` (so no `accessed` after `destroyed`, `destroyed` once);
/// 4. `accessed` names a `project`, `destroyed` a `method` and a `certificate_sha256` of 64 hex
///    digits (non-blank text): `lifecycle.missing_evidence`.
pub fn check_event(
    report: &LifecycleReport<'_>,
    history: &[LifecycleEvent],
    completed_at: Option<OffsetDateTime>,
    now: OffsetDateTime,
    params: &Parameters,
) -> Result<(), ReasonCode> {
    if !report.by_recipient {
        return Err(ReasonCode::AuthForbidden);
    }
    let skew = Duration::seconds(i64::try_from(params.clock_skew_secs).unwrap_or(i64::MAX));
    let too_early = completed_at.is_some_and(|completed| report.at < completed);
    let too_late = report.at > now.saturating_add(skew);
    if too_early || too_late {
        return Err(ReasonCode::LifecycleBadTime);
    }
    if completed_at.is_none() || history.contains(&LifecycleEvent::Destroyed) {
        return Err(ReasonCode::LifecycleInvalidTransition);
    }
    let given = |text: Option<&str>| text.is_some_and(|t| !t.trim().is_empty());
    let evidence = match report.event {
        LifecycleEvent::Stored => true,
        LifecycleEvent::Accessed => given(report.project),
        LifecycleEvent::Destroyed => {
            given(report.method) && report.certificate_sha256.is_some_and(is_sha256_hex)
        }
    };
    if evidence {
        Ok(())
    } else {
        Err(ReasonCode::LifecycleMissingEvidence)
    }
}

/// Rule 21: the instant the retention period ends (received + `retention_days` days).
pub fn retention_due(received: OffsetDateTime, retention_days: u32) -> OffsetDateTime {
    received.saturating_add(Duration::days(i64::from(retention_days)))
}

/// Rule 21: a transfer is overdue when its retention period has passed and it was not destroyed.
pub fn is_overdue(
    received: OffsetDateTime,
    retention_days: u32,
    destroyed: bool,
    now: OffsetDateTime,
) -> bool {
    !destroyed && now > retention_due(received, retention_days)
}
