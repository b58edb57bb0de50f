//! What goes into and comes out of [`crate::evaluate`].

use serde::{Deserialize, Serialize};
use time::Date;

use crate::model::DataClass;
use crate::reason::ReasonCode;

/// One transfer as the gateway (or `loopgate policy eval`) presents it to the engine.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TransferRequest {
    /// Sender tenant id, from the client certificate.
    pub sender: String,
    /// `Loop-Recipient`.
    pub recipient: String,
    /// `Loop-Inventory-Item`.
    pub item: String,
    /// `Loop-Purpose`.
    pub purpose: String,
    /// `Loop-Contract-Filing`, if sent.
    pub filing: Option<String>,
    /// `Loop-Data-Subjects`, if sent.
    pub data_subjects: Option<u64>,
    /// `Content-Length`, if sent (rule 10 checks the declared size; the gateway checks the
    /// actual size while streaming).
    pub declared_size: Option<u64>,
    /// The sender's year-to-date volume before this transfer (rule 19).
    pub volume: VolumeCounters,
}

/// Data subjects a processor has sent since the start of the counting year (rule 19), not
/// counting the transfer being evaluated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct VolumeCounters {
    /// Subjects of non-sensitive personal information.
    pub subjects: u64,
    /// Subjects of sensitive personal information (`sensitive_personal`, `human_genetic`).
    pub sensitive_subjects: u64,
}

/// Allow or deny.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// Every rule passed.
    Allow,
    /// The first failing rule decided.
    Deny,
}

/// A remark on an allowed (or denied) decision that regulators need to see.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Flag {
    /// Rule 14: the contract was filed, but after its due date.
    FiledLate,
}

impl Flag {
    /// The flag as written in records and CLI output.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::FiledLate => "filed_late",
        }
    }
}

/// The engine's answer, with what a decision record needs beyond the request itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    /// Allow or deny.
    pub verdict: Verdict,
    /// The reason code of the first failing rule (`None` on allow).
    pub reason: Option<ReasonCode>,
    /// The number of that rule (`None` on allow).
    pub rule: Option<u8>,
    /// Flags, e.g. `filed_late`.
    pub flags: Vec<Flag>,
    /// The calendar day (UTC+8) the rules were evaluated for.
    pub evaluated_on: Date,
    /// The item's data class, when the item is known.
    pub data_class: Option<DataClass>,
    /// The item's retention period, when the item is known.
    pub retention_days: Option<u32>,
    /// The filing's due date under rule 14, when it was computed.
    pub filing_due: Option<Date>,
}

impl Decision {
    /// Whether the transfer may go ahead.
    pub fn is_allowed(&self) -> bool {
        self.verdict == Verdict::Allow
    }
}
