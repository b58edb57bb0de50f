//! Rules 20-21: what happens to data after it crossed, as pure functions of its history.

use serde::{Deserialize, Serialize};
use time::{Duration, OffsetDateTime};

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

/// Rule 20: whether `event` may be reported now. Only the recipient reports; once the data is
/// destroyed nothing more can happen to it (no `accessed` or `stored` after `destroyed`, and
/// `destroyed` only once).
pub fn check_transition(
    history: &[LifecycleEvent],
    event: LifecycleEvent,
    reporter_is_recipient: bool,
) -> Result<(), ReasonCode> {
    if !reporter_is_recipient {
        return Err(ReasonCode::AuthForbidden);
    }
    let destroyed = history.contains(&LifecycleEvent::Destroyed);
    match event {
        LifecycleEvent::Stored | LifecycleEvent::Accessed | LifecycleEvent::Destroyed
            if destroyed =>
        {
            Err(ReasonCode::LifecycleInvalidTransition)
        }
        LifecycleEvent::Stored | LifecycleEvent::Accessed | LifecycleEvent::Destroyed => Ok(()),
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
