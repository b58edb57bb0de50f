//! The record schema, as plain data. A leaf of the log is the exact bytes of one record: a
//! compact JSON object with `"v": 1`, `"kind"`, `"time"` (RFC 3339, UTC) and `"transfer_id"`
//! where one applies. The gateway fills records; this crate validates them and decodes enough to
//! index them. Records carry metadata and digests only, never payload bytes: a record with a
//! `payload` or `body` key is refused.

#[cfg(test)]
mod tests;

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{Map, Value};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::error::{Error, Result};

/// The record format version this crate writes and reads.
pub const FORMAT_VERSION: u32 = 1;

/// What a record is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// A policy decision on a transfer request (allow or deny).
    Decision,
    /// How an admitted transfer ended.
    Outcome,
    /// A recipient's lifecycle event (stored, accessed, destroyed).
    Lifecycle,
    /// A policy decision on a shipment declaration of samples (allow or deny).
    Shipment,
    /// A custody event of a shipment (sealed, picked up, ..., destroyed).
    Custody,
    /// A change of the policy bundle.
    PolicyChange,
    /// The gateway itself (start, stop, recovery).
    System,
}

impl Kind {
    /// Every kind, in the order SPEC.md lists them.
    pub const ALL: [Kind; 7] = [
        Kind::Decision,
        Kind::Outcome,
        Kind::Lifecycle,
        Kind::Shipment,
        Kind::Custody,
        Kind::PolicyChange,
        Kind::System,
    ];

    /// The kind as records spell it (`"kind"`).
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Decision => "decision",
            Kind::Outcome => "outcome",
            Kind::Lifecycle => "lifecycle",
            Kind::Shipment => "shipment",
            Kind::Custody => "custody",
            Kind::PolicyChange => "policy_change",
            Kind::System => "system",
        }
    }

    /// Parses [`Kind::as_str`]'s spelling.
    pub fn parse(text: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|kind| kind.as_str() == text)
    }
}

/// A decision's verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// The transfer may proceed.
    Allow,
    /// The transfer is refused.
    Deny,
}

/// How an admitted transfer ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Delivered to the upstream.
    Completed,
    /// Not delivered (the reason is in the record's details).
    Failed,
    /// Cut by a restart: written by recovery for an admission with no outcome.
    Interrupted,
}

/// One audit record. Fields that do not apply to a kind are `None` and not serialised; extra
/// metadata (sizes, digests, purpose, policy version, ...) goes into `details`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Record {
    /// Format version, [`FORMAT_VERSION`].
    pub v: u32,
    /// What the record is about.
    pub kind: Kind,
    /// When it happened, RFC 3339 in UTC.
    pub time: String,
    /// The transfer it belongs to, where one applies.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transfer_id: Option<String>,
    /// Shipment and custody: the shipment it belongs to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shipment_id: Option<String>,
    /// Decision: the sending tenant (absent when the request did not say, e.g. malformed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sender: Option<String>,
    /// Decision: the recipient tenant.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recipient: Option<String>,
    /// Decision: the inventory item.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub item: Option<String>,
    /// Shipment and custody: the sample item (an entry of the logistics list).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sample_item: Option<String>,
    /// Decision: allow or deny.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decision: Option<Verdict>,
    /// Decision: the reason code, or `Some(None)` for JSON `null` (an allow).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "present"
    )]
    pub reason: Option<Option<String>>,
    /// Outcome: how the transfer ended.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outcome: Option<Outcome>,
    /// Any further metadata of the record.
    #[serde(flatten)]
    pub details: Map<String, Value>,
}

fn present<'de, D: Deserializer<'de>>(
    d: D,
) -> std::result::Result<Option<Option<String>>, D::Error> {
    Option::<String>::deserialize(d).map(Some)
}

/// The JSON keys of [`Record`]'s own fields. A detail with one of these names is read back
/// from the leaf as that field (e.g. a `policy_change`'s `reason` detail as its `reason`).
const NAMED_FIELDS: [&str; 12] = [
    "v",
    "kind",
    "time",
    "transfer_id",
    "sender",
    "recipient",
    "item",
    "shipment_id",
    "sample_item",
    "decision",
    "reason",
    "outcome",
];

/// An indexed field of a record (the query index's key space, see the crate README).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Field {
    /// `sender` (the tenant).
    Sender,
    /// `recipient`.
    Recipient,
    /// `item`.
    Item,
    /// `decision` (`allow` / `deny`).
    Decision,
    /// `reason` code.
    Reason,
    /// `transfer_id`.
    Transfer,
    /// `kind`.
    Kind,
    /// `time`, as 8 bytes: big-endian Unix seconds offset by 2^63, so keys sort by time.
    Time,
    /// `shipment_id`.
    Shipment,
    /// `sample_item`.
    SampleItem,
}

impl Field {
    /// The tag byte of this field in index keys.
    pub(crate) fn tag(self) -> u8 {
        match self {
            Field::Sender => b's',
            Field::Recipient => b'r',
            Field::Item => b'i',
            Field::Decision => b'd',
            Field::Reason => b'c',
            Field::Transfer => b'x',
            Field::Kind => b'k',
            Field::Time => b't',
            Field::Shipment => b'h',
            Field::SampleItem => b'm',
        }
    }
}

/// The time-index value of an instant: big-endian Unix seconds offset by 2^63.
pub fn time_key(t: OffsetDateTime) -> [u8; 8] {
    (t.unix_timestamp() as u64 ^ (1 << 63)).to_be_bytes()
}

impl Record {
    /// A record of `kind` at `time` with no kind-specific fields yet.
    pub fn new(kind: Kind, time: OffsetDateTime) -> Result<Self> {
        let time = time
            .to_offset(time::UtcOffset::UTC)
            .format(&Rfc3339)
            .map_err(|e| Error::InvalidRecord(format!("time cannot be formatted: {e}")))?;
        Ok(Self {
            v: FORMAT_VERSION,
            kind,
            time,
            transfer_id: None,
            sender: None,
            recipient: None,
            item: None,
            shipment_id: None,
            sample_item: None,
            decision: None,
            reason: None,
            outcome: None,
            details: Map::new(),
        })
    }

    /// A decision record. `sender`, `recipient` and `item` are `None` only when the request
    /// did not carry them (a malformed request is logged too); `reason` is `None` for an allow.
    #[allow(clippy::too_many_arguments)]
    pub fn decision(
        time: OffsetDateTime,
        transfer_id: &str,
        sender: Option<&str>,
        recipient: Option<&str>,
        item: Option<&str>,
        verdict: Verdict,
        reason: Option<&str>,
    ) -> Result<Self> {
        let mut r = Self::new(Kind::Decision, time)?;
        r.transfer_id = Some(transfer_id.to_owned());
        r.sender = sender.map(str::to_owned);
        r.recipient = recipient.map(str::to_owned);
        r.item = item.map(str::to_owned);
        r.decision = Some(verdict);
        r.reason = Some(reason.map(str::to_owned));
        Ok(r)
    }

    /// An outcome record; put sizes, digests and the upstream status in `details`.
    pub fn outcome(time: OffsetDateTime, transfer_id: &str, outcome: Outcome) -> Result<Self> {
        let mut r = Self::new(Kind::Outcome, time)?;
        r.transfer_id = Some(transfer_id.to_owned());
        r.outcome = Some(outcome);
        Ok(r)
    }

    /// Checks the schema: version, time, the fields of its kind, no payload.
    pub fn validate(&self) -> Result<()> {
        let bad = |why: String| Err(Error::InvalidRecord(why));
        if self.v != FORMAT_VERSION {
            return bad(format!(
                "unsupported version {}; write v {FORMAT_VERSION}",
                self.v
            ));
        }
        self.instant()?;
        for key in ["payload", "body"] {
            if self.details.contains_key(key) {
                return bad(format!("records never carry payload bytes, found {key:?}"));
            }
        }
        match self.kind {
            Kind::Decision => {
                // sender, recipient and item may be absent: a malformed request is logged too.
                if self.decision.is_none() || self.reason.is_none() {
                    return bad("a decision needs decision and reason (a code or null)".into());
                }
                if self.transfer_id.is_none() {
                    return bad("a decision needs a transfer_id".into());
                }
            }
            Kind::Outcome => {
                if self.outcome.is_none() || self.transfer_id.is_none() {
                    return bad("an outcome needs outcome and transfer_id".into());
                }
            }
            Kind::Shipment => {
                if self.decision.is_none() || self.reason.is_none() {
                    return bad("a shipment needs decision and reason (a code or null)".into());
                }
                if self.shipment_id.is_none() {
                    return bad("a shipment needs a shipment_id".into());
                }
            }
            Kind::Custody => {
                if self.shipment_id.is_none() {
                    return bad("a custody record needs a shipment_id".into());
                }
            }
            Kind::Lifecycle | Kind::PolicyChange | Kind::System => {}
        }
        Ok(())
    }

    /// The record's time.
    pub fn instant(&self) -> Result<OffsetDateTime> {
        let t = OffsetDateTime::parse(&self.time, &Rfc3339).map_err(|e| {
            Error::InvalidRecord(format!("time {:?} is not RFC 3339: {e}", self.time))
        })?;
        if !t.offset().is_utc() {
            return Err(Error::InvalidRecord(format!(
                "time {:?} is not in UTC",
                self.time
            )));
        }
        Ok(t)
    }

    /// The leaf bytes: the validated record as compact JSON.
    pub fn to_leaf(&self) -> Result<Vec<u8>> {
        self.validate()?;
        serde_json::to_vec(self).map_err(|e| Error::InvalidRecord(e.to_string()))
    }

    /// Parses and validates leaf bytes.
    pub fn from_leaf(leaf: &[u8]) -> Result<Self> {
        let r: Record = serde_json::from_slice(leaf)
            .map_err(|e| Error::InvalidRecord(format!("not a record object: {e}")))?;
        r.validate()?;
        Ok(r)
    }

    /// The `(field, value)` terms the record's leaf is indexed under: [`Record::index_terms`],
    /// unless a detail is named like a field, and then those of the record parsed back from
    /// `leaf` (which must be this record's), as the leaf is what a rebuilt index reads.
    pub(crate) fn leaf_terms(&self, leaf: &[u8]) -> Result<Vec<(Field, Vec<u8>)>> {
        if NAMED_FIELDS.iter().any(|k| self.details.contains_key(*k)) {
            return Ok(Record::from_leaf(leaf)?.index_terms());
        }
        Ok(self.index_terms())
    }

    /// The `(field, value)` terms this record is indexed under.
    pub fn index_terms(&self) -> Vec<(Field, Vec<u8>)> {
        let mut terms = Vec::with_capacity(8);
        terms.push((Field::Kind, self.kind.as_str().as_bytes().to_vec()));
        if let Ok(t) = self.instant() {
            terms.push((Field::Time, time_key(t).to_vec()));
        }
        let strings = [
            (Field::Transfer, &self.transfer_id),
            (Field::Sender, &self.sender),
            (Field::Recipient, &self.recipient),
            (Field::Item, &self.item),
            (Field::Shipment, &self.shipment_id),
            (Field::SampleItem, &self.sample_item),
        ];
        for (field, value) in strings {
            if let Some(v) = value {
                terms.push((field, v.as_bytes().to_vec()));
            }
        }
        if let Some(d) = self.decision {
            let d = match d {
                Verdict::Allow => "allow",
                Verdict::Deny => "deny",
            };
            terms.push((Field::Decision, d.as_bytes().to_vec()));
        }
        if let Some(Some(reason)) = &self.reason {
            terms.push((Field::Reason, reason.as_bytes().to_vec()));
        }
        terms
    }
}
