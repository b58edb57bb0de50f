//! Per-day aggregates of the log for the regulator console's overview (`GET /v1/audit/stats`):
//! decisions on transfers and on shipment declarations per verdict, denials per reason, and
//! the bytes of completed transfers, per park day (UTC+8), sender and regulator scope. The
//! overview of a long log reads a few keys per day instead of its records.
//!
//! Keys (in the views tree, see `state::follow`), each with a count as 8 bytes big-endian:
//! - `o/<day><scopes>n<kind><verdict><sized sender><reason>`: records of `kind` (its index in
//!   [`Kind::ALL`], one byte) with a `decision` (`verdict`: `a` allow, `d` deny), by sender and
//!   reason code (empty on allow);
//! - `o/<day><scopes>b<sized sender>`: the bytes forwarded by `completed` outcomes.
//!
//! `<day>` is the record's park day ([`keys::date`]), `<scopes>` one byte with a bit per
//! [`Scope`] the record falls under ([`scope::to_bits`]; none: only `all` sees it), so a
//! regulator's sum takes exactly the keys whose scopes it sees. A record's scopes are judged
//! when it is applied: for records that do not carry their data's class (first-version
//! records), by the item in the bundle in force then, as `crate::scope` does.

use std::collections::BTreeMap;

use loopgate_audit::{Kind, Outcome, Record, Verdict};
use loopgate_policy::{Registry, park_date};
use time::Date;

use crate::record;
use crate::scope;
use crate::state::keys::{self, Changes};
use crate::transfer::records::CompletedDetails;

const STATS: &[u8] = keys::prefix::STATS;
const COUNT: u8 = b'n';
const BYTES: u8 = b'b';

/// Allowed and denied decisions.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Tally {
    pub(crate) allow: u64,
    pub(crate) deny: u64,
}

impl Tally {
    fn add(&mut self, verdict: Verdict, n: u64) {
        let slot = match verdict {
            Verdict::Allow => &mut self.allow,
            Verdict::Deny => &mut self.deny,
        };
        *slot = slot.saturating_add(n);
    }

    /// Allowed and denied.
    pub(crate) fn total(self) -> u64 {
        self.allow.saturating_add(self.deny)
    }
}

/// What one day, one sender or the whole range adds up to.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Sums {
    /// Decisions on transfer requests (`decision` records).
    pub(crate) transfers: Tally,
    /// Decisions on shipment declarations (`shipment` records).
    pub(crate) shipments: Tally,
    /// Bytes of completed transfers.
    pub(crate) bytes: u64,
}

impl Sums {
    fn count(&mut self, kind: Kind, verdict: Verdict, n: u64) {
        match kind {
            Kind::Decision => self.transfers.add(verdict, n),
            Kind::Shipment => self.shipments.add(verdict, n),
            _ => {}
        }
    }
}

/// The aggregates of a range of days, as one regulator sees them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Stats {
    /// Per day (only days with something in them).
    pub(crate) days: BTreeMap<Date, Sums>,
    /// Per sender.
    pub(crate) senders: BTreeMap<String, Sums>,
    /// Denials (records of any kind with decision `deny`) per reason code.
    pub(crate) denials: BTreeMap<String, u64>,
    /// The whole range.
    pub(crate) totals: Sums,
}

fn verdict_byte(verdict: Verdict) -> u8 {
    match verdict {
        Verdict::Allow => b'a',
        Verdict::Deny => b'd',
    }
}

fn kind_byte(kind: Kind) -> u8 {
    Kind::ALL
        .iter()
        .position(|k| *k == kind)
        .and_then(|i| u8::try_from(i).ok())
        .unwrap_or(u8::MAX)
}

/// `o/<day><scopes>`
fn prefix(day: Date, scopes: u8) -> Vec<u8> {
    let mut k = STATS.to_vec();
    k.extend_from_slice(&keys::date(day));
    k.push(scopes);
    k
}

/// The key counting records of `kind` with `verdict` from `sender` for `reason`.
pub(crate) fn count_key(
    day: Date,
    scopes: u8,
    kind: Kind,
    verdict: Verdict,
    sender: &str,
    reason: &str,
) -> Vec<u8> {
    let mut k = prefix(day, scopes);
    k.extend_from_slice(&[COUNT, kind_byte(kind), verdict_byte(verdict)]);
    k.extend_from_slice(&keys::sized(sender));
    k.extend_from_slice(reason.as_bytes());
    k
}

/// The key of the bytes `sender`'s completed transfers forwarded.
pub(crate) fn bytes_key(day: Date, scopes: u8, sender: &str) -> Vec<u8> {
    let mut k = prefix(day, scopes);
    k.push(BYTES);
    k.extend_from_slice(&keys::sized(sender));
    k
}

/// One key read back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Entry {
    /// [`count_key`]'s parts.
    Count {
        day: Date,
        scopes: u8,
        kind: Kind,
        verdict: Verdict,
        sender: String,
        reason: String,
    },
    /// [`bytes_key`]'s parts.
    Bytes {
        day: Date,
        scopes: u8,
        sender: String,
    },
}

/// A key of this module read back; `None` for anything else.
pub(crate) fn parse_key(k: &[u8]) -> Option<Entry> {
    let rest = k.strip_prefix(STATS)?;
    let day = keys::read_date(rest.get(..4)?)?;
    let scopes = *rest.get(4)?;
    let tag = *rest.get(5)?;
    let body = rest.get(6..)?;
    match tag {
        COUNT => {
            let kind = *Kind::ALL.get(usize::from(*body.first()?))?;
            let verdict = match body.get(1)? {
                b'a' => Verdict::Allow,
                b'd' => Verdict::Deny,
                _ => return None,
            };
            let (sender, reason) = keys::split_sized(body.get(2..)?)?;
            Some(Entry::Count {
                day,
                scopes,
                kind,
                verdict,
                sender,
                reason: String::from_utf8_lossy(reason).into_owned(),
            })
        }
        BYTES => {
            let (sender, rest) = keys::split_sized(body)?;
            rest.is_empty().then_some(Entry::Bytes {
                day,
                scopes,
                sender,
            })
        }
        _ => None,
    }
}

fn add(batch: &mut Changes, key: Vec<u8>, n: u64) -> Result<(), sled::Error> {
    let was = batch.get(&key)?.map_or(0, |v| keys::u64_at(&v, 0));
    batch.insert(key, was.saturating_add(n).to_be_bytes());
    Ok(())
}

/// Adds to `batch` what `record` adds to the aggregates: a count for a record with a
/// `decision`, the bytes of a `completed` outcome. Records whose time does not read are left
/// out (the log refuses them, so none is there).
pub(crate) fn observe_into(
    batch: &mut Changes,
    record: &Record,
    registry: &Registry,
) -> Result<(), sled::Error> {
    let completed = record.kind == Kind::Outcome && record.outcome == Some(Outcome::Completed);
    if record.decision.is_none() && !completed {
        return Ok(());
    }
    let Ok(at) = record.instant() else {
        return Ok(());
    };
    let day = park_date(at);
    let scopes = scope::to_bits(&scope::of_record(record, registry));
    let sender = record.sender.as_deref().unwrap_or_default();
    if let Some(verdict) = record.decision {
        let reason = match verdict {
            Verdict::Allow => "",
            Verdict::Deny => record
                .reason
                .as_ref()
                .and_then(Option::as_deref)
                .unwrap_or(""),
        };
        add(
            batch,
            count_key(day, scopes, record.kind, verdict, sender, reason),
            1,
        )?;
    }
    if completed {
        if let Some(details) = record::read::<CompletedDetails>(record) {
            add(batch, bytes_key(day, scopes, sender), details.size)?;
        }
    }
    Ok(())
}

/// The aggregates of the days `from..=to`, of the records whose scopes `sees` (given
/// [`scope::to_bits`]' byte) accepts, of `tenant`'s only when given.
pub(crate) fn read(
    tree: &sled::Tree,
    from: Date,
    to: Date,
    sees: impl Fn(u8) -> bool,
    tenant: Option<&str>,
) -> Result<Stats, sled::Error> {
    let start = prefix(from, 0);
    let end = match to.next_day() {
        Some(next) => prefix(next, 0),
        None => [STATS, &[0xff; 8][..]].concat(),
    };
    let mut stats = Stats::default();
    for entry in tree.range(start..end) {
        let (k, v) = entry?;
        let n = keys::u64_at(&v, 0);
        match parse_key(&k) {
            Some(Entry::Count {
                day,
                scopes,
                kind,
                verdict,
                sender,
                reason,
            }) => {
                if !sees(scopes) || tenant.is_some_and(|t| t != sender) {
                    continue;
                }
                stats.days.entry(day).or_default().count(kind, verdict, n);
                stats.totals.count(kind, verdict, n);
                if verdict == Verdict::Deny {
                    let denied = stats.denials.entry(reason).or_default();
                    *denied = denied.saturating_add(n);
                }
                if matches!(kind, Kind::Decision | Kind::Shipment) {
                    stats
                        .senders
                        .entry(sender)
                        .or_default()
                        .count(kind, verdict, n);
                }
            }
            Some(Entry::Bytes {
                day,
                scopes,
                sender,
            }) => {
                if !sees(scopes) || tenant.is_some_and(|t| t != sender) {
                    continue;
                }
                let sums = stats.days.entry(day).or_default();
                sums.bytes = sums.bytes.saturating_add(n);
                stats.totals.bytes = stats.totals.bytes.saturating_add(n);
                let by_sender = stats.senders.entry(sender).or_default();
                by_sender.bytes = by_sender.bytes.saturating_add(n);
            }
            None => {}
        }
    }
    Ok(stats)
}

#[cfg(test)]
mod tests;
