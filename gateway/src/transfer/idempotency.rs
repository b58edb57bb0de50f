//! `Idempotency-Key`: a retry with the same key and sender gets the first request's answer,
//! never a second transfer; the same key with another request is refused
//! (`request.idempotency_conflict`).
//!
//! A key is remembered for `[limits] idempotency_retention_hours` from its decision record's
//! time; after that a retry is a new transfer. Keys whose first request is still running are
//! in a small in-memory map that a key leaves once the views hold its decision (after the
//! answer when the log failed meanwhile: `AppState::release_when_covered`), and a key is looked
//! up once the views hold every acknowledged record (`AppState::claim_key`); every other key is in the views tree
//! in sled (written by `state::follow` from the decision records, so it is rebuilt from the log
//! like every view), never in memory:
//! - `i/<sender><key>`: the decision's time (8 bytes, Unix seconds), the request's
//!   [`Fingerprint`] (32 bytes) and the transfer id;
//! - `t/<time><sender><key>`: the same key by time, so expired keys are purged without a scan.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use loopgate_audit::{Kind, Record};
use loopgate_policy::ReasonCode;

use crate::state::keys::{Changes, ViewsTree};
use time::OffsetDateTime;

use super::headers::TransferHeaders;
use super::records::DecisionDetails;
use crate::record;
use crate::state::keys;

const KEYS: &[u8] = keys::prefix::TRANSFER_KEYS;
const BY_TIME: &[u8] = keys::prefix::TRANSFER_KEYS_BY_TIME;

/// SHA-256 of what makes a transfer request the same request: method and path, and the
/// transfer headers (recipient, item, purpose, filing, subjects, `Content-Length` and
/// `Content-Digest`).
pub(crate) type Fingerprint = [u8; 32];

/// The fields a fingerprint covers, as headers or a decision record give them.
struct Fields<'a> {
    recipient: &'a str,
    item: &'a str,
    purpose: Option<&'a str>,
    filing: Option<&'a str>,
    subjects: Option<u64>,
    size: Option<u64>,
    /// `sha-256=:<base64>:`.
    digest: Option<&'a str>,
}

impl Fields<'_> {
    fn fingerprint(&self) -> Fingerprint {
        let mut bytes = b"POST /v1/transfers\n".to_vec();
        for text in [
            Some(self.recipient),
            Some(self.item),
            self.purpose,
            self.filing,
            self.digest,
        ] {
            match text {
                Some(text) => {
                    bytes.push(1);
                    bytes.extend_from_slice(&keys::sized(text));
                }
                None => bytes.push(0),
            }
        }
        for number in [self.subjects, self.size] {
            match number {
                Some(n) => {
                    bytes.push(1);
                    bytes.extend_from_slice(&n.to_be_bytes());
                }
                None => bytes.push(0),
            }
        }
        crate::registry::sha256(&bytes)
    }
}

/// The fingerprint of a request with these headers.
pub(crate) fn fingerprint(headers: &TransferHeaders) -> Fingerprint {
    let digest = headers
        .sha256
        .map(|d| format!("sha-256=:{}:", STANDARD.encode(d)));
    Fields {
        recipient: &headers.recipient,
        item: &headers.item,
        purpose: Some(&headers.purpose),
        filing: headers.filing.as_deref(),
        subjects: headers.data_subjects,
        size: headers.content_length,
        digest: digest.as_deref(),
    }
    .fingerprint()
}

/// The fingerprint of the request a decision record was written for (the same as
/// [`fingerprint`] of its headers).
fn recorded(record: &Record, details: &DecisionDetails) -> Fingerprint {
    Fields {
        recipient: record.recipient.as_deref().unwrap_or(""),
        item: record.item.as_deref().unwrap_or(""),
        purpose: details.purpose.as_deref(),
        filing: details.filing.as_deref(),
        subjects: details.data_subjects,
        size: details.declared_size,
        digest: details.declared_digest.as_deref(),
    }
    .fingerprint()
}

/// What a key is, for a request that brings it.
#[derive(Debug)]
pub(crate) enum Claim {
    /// A new key: the caller runs the transfer, holding this until its records are in the
    /// views (then the key is found in sled).
    First(Running),
    /// The first request is still running; `same`: whether this one asks the same.
    Running { same: bool },
    /// The key started `transfer_id` (within the retention window).
    Logged { transfer_id: String, same: bool },
}

type RunningMap = Mutex<HashMap<(String, String), Fingerprint>>;

/// A key whose first request is running; dropping it forgets it from memory.
#[derive(Debug)]
pub(crate) struct Running {
    map: Arc<RunningMap>,
    key: (String, String),
}

impl Drop for Running {
    fn drop(&mut self) {
        self.map
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&self.key);
    }
}

/// The keys of every sender; see the module documentation.
#[derive(Debug)]
pub(crate) struct Idempotency {
    tree: ViewsTree,
    running: Arc<RunningMap>,
}

impl Idempotency {
    /// Keys kept in `tree`.
    pub(crate) fn new(tree: ViewsTree) -> Self {
        Self {
            tree,
            running: Arc::default(),
        }
    }

    /// What `sender`'s `key` is for a request with fingerprint `asked` at `now`, keys older
    /// than `retention` forgotten. A new key is marked running (atomically with the lookup:
    /// of two concurrent first requests, one runs).
    pub(crate) fn claim(
        &self,
        sender: &str,
        key: &str,
        asked: Fingerprint,
        now: OffsetDateTime,
        retention: Duration,
    ) -> Result<Claim, sled::Error> {
        let mut running = self.running.lock().unwrap_or_else(PoisonError::into_inner);
        let entry = (sender.to_owned(), key.to_owned());
        if let Some(first) = running.get(&entry) {
            return Ok(Claim::Running {
                same: *first == asked,
            });
        }
        if let Some((transfer_id, first)) = self.logged(sender, key, now, retention)? {
            return Ok(Claim::Logged {
                transfer_id,
                same: first == asked,
            });
        }
        running.insert(entry.clone(), asked);
        Ok(Claim::First(Running {
            map: self.running.clone(),
            key: entry,
        }))
    }

    /// The transfer `sender`'s `key` started and its fingerprint, unless it is older than
    /// `retention` at `now`.
    fn logged(
        &self,
        sender: &str,
        key: &str,
        now: OffsetDateTime,
        retention: Duration,
    ) -> Result<Option<(String, Fingerprint)>, sled::Error> {
        let Some(value) = self
            .tree
            .now()?
            .get([KEYS, &keys::pair(sender, key)].concat())?
        else {
            return Ok(None);
        };
        let made = keys::u64_at(&value, 0);
        if expired(made, now, retention) {
            return Ok(None);
        }
        let (Some(fp), Some(id)) = (value.get(8..40), value.get(40..)) else {
            return Ok(None);
        };
        let fp: Fingerprint = fp.try_into().unwrap_or([0; 32]);
        Ok(Some((String::from_utf8_lossy(id).into_owned(), fp)))
    }

    /// Adds to `batch` the key of the durable decision `record`, if it has one.
    pub(crate) fn observe_into(batch: &mut Changes, record: &Record) {
        if record.kind != Kind::Decision {
            return;
        }
        let (Some(sender), Some(transfer), Some(details), Ok(at)) = (
            record.sender.as_deref(),
            record.transfer_id.as_deref(),
            record::read::<DecisionDetails>(record),
            record.instant(),
        ) else {
            return;
        };
        let Some(key) = details.idempotency_key.as_deref() else {
            return;
        };
        // The refusal of a request that reused the key names it too, but the key stays the
        // first request's.
        if record.reason.as_ref().and_then(Option::as_deref)
            == Some(ReasonCode::RequestIdempotencyConflict.as_str())
        {
            return;
        }
        let made = u64::try_from(at.unix_timestamp())
            .unwrap_or(0)
            .to_be_bytes();
        let pair = keys::pair(sender, key);
        let mut value = made.to_vec();
        value.extend_from_slice(&recorded(record, &details));
        value.extend_from_slice(transfer.as_bytes());
        batch.insert([KEYS, &pair].concat(), value);
        batch.insert([BY_TIME, &made[..], &pair].concat(), []);
    }

    /// Forgets the keys older than `retention` at `now`; returns how many.
    pub(crate) fn purge(
        &self,
        now: OffsetDateTime,
        retention: Duration,
    ) -> Result<usize, sled::Error> {
        keys::purge_before(&self.tree.now()?, BY_TIME, KEYS, cutoff(now, retention))
    }
}

/// Unix seconds before which a key made is forgotten at `now`.
pub(crate) fn cutoff(now: OffsetDateTime, retention: Duration) -> u64 {
    u64::try_from(now.unix_timestamp())
        .unwrap_or(0)
        .saturating_sub(retention.as_secs())
}

/// Whether a key made at `made` (Unix seconds) is forgotten at `now`.
pub(crate) fn expired(made: u64, now: OffsetDateTime, retention: Duration) -> bool {
    made < cutoff(now, retention)
}

#[cfg(test)]
mod tests {
    use loopgate_audit::Verdict;
    use serde_json::json;
    use time::macros::datetime;

    use super::*;

    const DAY: Duration = Duration::from_secs(86_400);

    fn headers(item: &str) -> TransferHeaders {
        TransferHeaders {
            item: item.into(),
            recipient: "hk-biolab".into(),
            purpose: "research".into(),
            content_length: Some(1024),
            sha256: Some([7; 32]),
            idempotency_key: Some("k1".into()),
            ..TransferHeaders::default()
        }
    }

    /// The decision record the pipeline writes for `headers`.
    fn decision(id: &str, at: OffsetDateTime, h: &TransferHeaders) -> Record {
        let mut r = Record::decision(
            at,
            id,
            Some("sz-genomics"),
            Some(&h.recipient),
            Some(&h.item),
            Verdict::Allow,
            None,
        )
        .unwrap();
        r.details.insert("purpose".into(), json!(h.purpose));
        r.details
            .insert("declared_size".into(), json!(h.content_length));
        let digest = format!("sha-256=:{}:", STANDARD.encode(h.sha256.unwrap()));
        r.details.insert("declared_digest".into(), json!(digest));
        r.details
            .insert("idempotency_key".into(), json!(h.idempotency_key));
        r
    }

    #[test]
    fn a_decision_record_has_its_request_s_fingerprint() {
        let mut h = headers("INV-1");
        h.filing = Some("GBA-1".into());
        h.data_subjects = Some(12);
        let at = datetime!(2026-11-25 02:00 UTC);
        let facts = super::super::records::DecisionFacts {
            transfer_id: "ab12",
            sender: "sz-genomics",
            headers: Some(&h),
            raw: [None; 3],
            policy_version: 3,
            at,
            route: None,
        };
        let denied = Err(loopgate_policy::ReasonCode::InventoryPurposeNotAllowed);
        let record = super::super::records::decision(&facts, denied).unwrap();
        let details = record::read::<DecisionDetails>(&record).unwrap();
        assert_eq!(recorded(&record, &details), fingerprint(&h));
        // Read back from its leaf too.
        let back = Record::from_leaf(&record.to_leaf().unwrap()).unwrap();
        let details = record::read::<DecisionDetails>(&back).unwrap();
        assert_eq!(recorded(&back, &details), fingerprint(&h));
        let mut other = h.clone();
        other.content_length = Some(1025);
        assert_ne!(fingerprint(&other), fingerprint(&h));
    }

    #[test]
    fn a_key_is_claimed_once_then_found_with_its_request() {
        let keys = Idempotency::new(ViewsTree::temporary());
        let t0 = datetime!(2026-11-25 02:00 UTC);
        let first = headers("INV-1");
        let fp = fingerprint(&first);
        let Claim::First(running) = keys.claim("sz-genomics", "k1", fp, t0, DAY).unwrap() else {
            panic!("a new key");
        };
        assert!(matches!(
            keys.claim("sz-genomics", "k1", fp, t0, DAY).unwrap(),
            Claim::Running { same: true }
        ));
        let other = fingerprint(&headers("INV-2"));
        assert!(matches!(
            keys.claim("sz-genomics", "k1", other, t0, DAY).unwrap(),
            Claim::Running { same: false }
        ));
        // Another sender's key of the same name is another key.
        assert!(matches!(
            keys.claim("hk-biolab", "k1", fp, t0, DAY).unwrap(),
            Claim::First(_)
        ));
        let mut batch = Changes::new(keys.tree.now().unwrap());
        Idempotency::observe_into(&mut batch, &decision("ab12", t0, &first));
        batch.apply().unwrap();
        drop(running);
        assert!(
            matches!(keys.claim("sz-genomics", "k1", fp, t0, DAY).unwrap(),
            Claim::Logged { transfer_id, same: true } if transfer_id == "ab12"),
            "the record's fingerprint is the headers'"
        );
        assert!(matches!(
            keys.claim("sz-genomics", "k1", other, t0, DAY).unwrap(),
            Claim::Logged { same: false, .. }
        ));
        // A day and a second later the key is forgotten, and purged.
        let later = t0 + time::Duration::seconds(86_401);
        assert!(matches!(
            keys.claim("sz-genomics", "k1", fp, later, DAY).unwrap(),
            Claim::First(_)
        ));
        assert_eq!(keys.purge(t0, DAY).unwrap(), 0);
        assert_eq!(keys.purge(later, DAY).unwrap(), 1);
        assert_eq!(
            keys.tree.now().unwrap().len(),
            0,
            "both the key and its time index went"
        );
    }
}
