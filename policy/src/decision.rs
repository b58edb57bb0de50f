//! What goes into and comes out of [`crate::evaluate`].

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use time::Date;

use crate::model::{DataClass, Party};
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
    /// `Loop-Data-Subjects`, if sent (rule 11 refuses 0).
    pub data_subjects: Option<u64>,
    /// `Content-Length`, if sent (rule 10 checks the declared size; the gateway checks the
    /// actual size while streaming).
    pub declared_size: Option<u64>,
    /// The year-to-date volume of the sender's **legal entity** before this transfer (rule 19):
    /// the caller sums the counters of every tenant of that entity
    /// ([`crate::Registry::tenants_of_entity`]).
    pub volume: VolumeCounters,
}

/// Data subjects a legal entity has sent since the start of the counting year (rule 19), not
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

/// A remark on an allowed decision that regulators need to see. Written (and read back) as
/// its [`Flag::as_str`] spelling, e.g. `filed_late:recipient`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Flag {
    /// Rule 14: this party filed, but after its due date.
    FiledLate(Party),
}

impl Flag {
    /// The flag as written in records and CLI output: `filed_late:processor`,
    /// `filed_late:recipient`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::FiledLate(Party::Processor) => "filed_late:processor",
            Self::FiledLate(Party::Recipient) => "filed_late:recipient",
        }
    }

    /// Parses [`Flag::as_str`]'s spelling. The first version's `filed_late` (only the
    /// processor filed then) reads as `filed_late:processor`, so records written by it still
    /// read.
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "filed_late:processor" | "filed_late" => Some(Self::FiledLate(Party::Processor)),
            "filed_late:recipient" => Some(Self::FiledLate(Party::Recipient)),
            _ => None,
        }
    }
}

impl fmt::Display for Flag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for Flag {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Flag {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = std::borrow::Cow::<'de, str>::deserialize(deserializer)?;
        Self::parse(&text).ok_or_else(|| {
            serde::de::Error::custom(format!(
                "unknown flag {text:?}; expected filed_late:processor or filed_late:recipient"
            ))
        })
    }
}

/// The engine's answer, with what a decision record needs beyond the request itself (RULES.md,
/// "What a decision record holds").
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    /// Allow or deny.
    pub verdict: Verdict,
    /// The reason code of the first failing rule (`None` on allow).
    pub reason: Option<ReasonCode>,
    /// The number of that rule (`None` on allow). Usually `reason`'s own rule; rule 11 also
    /// denies with `request.malformed_header` (zero data subjects), a code of no fixed rule,
    /// and rule 17a is recorded as 17 (its codes tell it apart).
    pub rule: Option<u8>,
    /// Flags of an allowed transfer, e.g. `filed_late:recipient`; empty on deny.
    pub flags: Vec<Flag>,
    /// The calendar day (UTC+8) the rules were evaluated for.
    pub evaluated_on: Date,
    /// The sender's legal entity, when the sender is known.
    pub legal_entity: Option<String>,
    /// The item's data class, when the item is known.
    pub data_class: Option<DataClass>,
    /// Whether the item is human genetic resources information, when the item is known.
    pub hgr: Option<bool>,
    /// The item's retention period, when the item is known.
    pub retention_days: Option<u32>,
    /// The HGR approval references rule 9 relied on (every qualifying one), once it passed.
    pub hgr_approvals: Vec<String>,
    /// The numbers of the filing's entries that have one, once the filing is known to be
    /// between these parties (rule 12, or rule 8 for important data).
    pub filing_numbers: Vec<(Party, String)>,
    /// The filing's `pia_report_sha256`, from the same point on.
    pub pia_report_sha256: Option<String>,
    /// Each required party's due date under rule 14, as far as they were computed.
    pub filing_due: Vec<(Party, Date)>,
    /// The party that has not filed and is past due, with `contract.filing_overdue`.
    pub overdue_party: Option<Party>,
}

impl Decision {
    /// Whether the transfer may go ahead.
    pub fn is_allowed(&self) -> bool {
        self.verdict == Verdict::Allow
    }

    /// A decision with nothing decided yet, for the day `evaluated_on`.
    pub(crate) fn open(evaluated_on: Date) -> Self {
        Self {
            verdict: Verdict::Allow,
            reason: None,
            rule: None,
            flags: Vec::new(),
            evaluated_on,
            legal_entity: None,
            data_class: None,
            hgr: None,
            retention_days: None,
            hgr_approvals: Vec::new(),
            filing_numbers: Vec::new(),
            pia_report_sha256: None,
            filing_due: Vec::new(),
            overdue_party: None,
        }
    }
}

/// Why a rule denied: its code and the rule number the decision records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Denial {
    pub(crate) code: ReasonCode,
    pub(crate) rule: Option<u8>,
}

impl Denial {
    /// A code returned by a rule other than its own (rule 11's `request.malformed_header`).
    pub(crate) fn at(code: ReasonCode, rule: u8) -> Self {
        Self {
            code,
            rule: Some(rule),
        }
    }
}

impl From<ReasonCode> for Denial {
    fn from(code: ReasonCode) -> Self {
        Self {
            code,
            rule: code.rule(),
        }
    }
}
