//! Views of the log for the regulator API (SPEC.md section 4, RULES.md 19 and 21), kept in sled
//! (the gateway's views tree, see `state::follow`) rather than in memory, so that what the
//! process holds does not grow with the log's history: the open retention entries (completed
//! transfers with no `destroyed` event), the data subject counters per processor, counting
//! year and route, and the admitted transfers still waiting for their outcome (what recovery
//! closes as `interrupted` after a stop).
//!
//! They are not the truth: the log is. `state::follow` applies every durable record to them in
//! log order, one sled batch per record together with the log index they cover (the
//! watermark), so a restart replays only the records past it, and deleting them rebuilds them
//! from the log. Nothing decides on them (rule 19's decision uses `transfer::volume`'s own
//! counters, under the lock that evaluates).
//!
//! Keys (all in the one views tree):
//! - `a/<transfer id>`: an admitted transfer waiting for its outcome ([`Admitted`]);
//! - `r/<transfer id>`: a completed transfer: its retention due time (8 bytes, Unix seconds,
//!   big-endian), or nothing once destroyed (kept, so a late completion cannot reopen it);
//! - `d/<due><transfer id>`: an open retention entry ([`Open`]), in due-time order, so the
//!   overdue list reads only what is overdue;
//! - `c/<sender><year><route>`: a counter of rule 19 for the regulator (16 bytes);
//! - `o/...`: the per-day aggregates of the regulator's overview ([`stats`]).

pub(crate) mod stats;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;

use loopgate_audit::{Kind, Outcome, Record, Verdict};
use loopgate_policy::{LifecycleEvent, Registry, park_date, retention_due, volume_year_start};
use serde::{Deserialize, Serialize};

use crate::state::keys::{Changes, ViewsTree};
use time::{Date, OffsetDateTime};

use crate::record;
use crate::state::keys;
use crate::transfer::lifecycle::LifecycleDetails;
use crate::transfer::records::{DataScope, DecisionDetails};

use crate::state::keys::prefix::{ADMITTED, COUNTER, DUE, RETAINED};

/// A completed transfer whose data has not been reported destroyed (rule 21).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Retention {
    /// The transfer.
    pub(crate) transfer_id: String,
    /// The sending tenant.
    pub(crate) sender: String,
    /// The recipient tenant.
    pub(crate) recipient: String,
    /// The inventory item.
    pub(crate) item: String,
    /// When it was received: the time of its `completed` outcome record.
    pub(crate) received: OffsetDateTime,
    /// The item's retention period, from the allow decision record.
    pub(crate) retention_days: u32,
    /// The log index of the `completed` outcome record.
    pub(crate) outcome_log_index: u64,
    /// The class of the transfer's data, as its decision recorded it (for regulator scopes).
    pub(crate) scope: DataScope,
}

/// Year-to-date data subjects of one processor under one route (rule 19).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Counter {
    /// The processor's legal entity, by the registry in force (rule 19 counts per legal
    /// entity).
    pub(crate) legal_entity: String,
    /// The sending tenants whose transfers are counted here.
    pub(crate) tenants: Vec<String>,
    /// First day (UTC+8) of the counting year.
    pub(crate) year_start: Date,
    /// The filing's route (`gba_sc`, `national_sc`, ...), `unknown` for records written before
    /// decisions named it.
    pub(crate) route: String,
    /// Subjects of non-sensitive personal information.
    pub(crate) subjects: u64,
    /// Subjects of sensitive personal information.
    pub(crate) sensitive_subjects: u64,
}

/// The route recorded on decisions that predate the `route` detail.
pub(crate) const UNKNOWN_ROUTE: &str = "unknown";

/// An allow decision waiting for its outcome (`a/`).
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Admitted {
    /// The decision's log index (recovery reads the decision back).
    i: u64,
    s: String,
    r: String,
    it: String,
    d: Option<u32>,
    /// [`DataScope::to_bits`].
    c: u8,
}

/// An open retention entry (`d/`).
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Open {
    s: String,
    r: String,
    it: String,
    /// The `completed` outcome's time: Unix seconds and nanoseconds.
    t: (i64, u32),
    d: u32,
    o: u64,
    c: u8,
}

impl Open {
    fn received_at(&self) -> OffsetDateTime {
        let (seconds, nanos) = self.t;
        OffsetDateTime::from_unix_timestamp(seconds)
            .map(|t| t + time::Duration::nanoseconds(i64::from(nanos)))
            .unwrap_or(OffsetDateTime::UNIX_EPOCH)
    }
}

/// Unix seconds as a key part that sorts as time does (times before 1970 as 0).
fn secs_key(t: OffsetDateTime) -> [u8; 8] {
    u64::try_from(t.unix_timestamp()).unwrap_or(0).to_be_bytes()
}

fn key(prefix: &[u8], rest: &[u8]) -> Vec<u8> {
    let mut k = Vec::with_capacity(prefix.len() + rest.len());
    k.extend_from_slice(prefix);
    k.extend_from_slice(rest);
    k
}

/// The views; see the module documentation.
#[derive(Debug, Clone)]
pub(crate) struct Views {
    tree: ViewsTree,
}

impl Views {
    /// The views kept in `tree`.
    pub(crate) fn new(tree: ViewsTree) -> Self {
        Self { tree }
    }

    /// Views in a temporary sled database (unit tests).
    #[cfg(test)]
    pub(crate) fn temporary() -> Self {
        Self::new(ViewsTree::temporary())
    }

    /// Applies the durable `record` at `index` at once (unit tests; the gateway goes through
    /// [`Views::observe_into`] and one batch per run of records).
    #[cfg(test)]
    pub(crate) fn observe(&self, index: u64, record: &Record, registry: &Registry) {
        let mut changes = Changes::new(self.tree.now().unwrap());
        self.observe_into(&mut changes, index, record, registry)
            .unwrap();
        changes.apply().unwrap();
    }

    /// Adds to `changes` what the durable `record` at `index` changes in the views (the
    /// parameters of `registry` decide the counting year). Reads the views through `changes`,
    /// as the records before it left them.
    pub(crate) fn observe_into(
        &self,
        batch: &mut Changes,
        index: u64,
        record: &Record,
        registry: &Registry,
    ) -> Result<(), sled::Error> {
        stats::observe_into(batch, record, registry)?;
        let Some(transfer) = record.transfer_id.as_deref() else {
            return Ok(());
        };
        let id = transfer.as_bytes();
        match record.kind {
            Kind::Decision if record.decision == Some(Verdict::Allow) => {
                let Some(details) = record::read::<DecisionDetails>(record) else {
                    return Ok(());
                };
                let sender = record.sender.clone().unwrap_or_default();
                self.count(batch, &sender, record, &details, registry)?;
                let admitted = Admitted {
                    i: index,
                    s: sender,
                    r: record.recipient.clone().unwrap_or_default(),
                    it: record.item.clone().unwrap_or_default(),
                    d: details.retention_days(),
                    c: details.data_scope().to_bits(),
                };
                batch.insert(key(ADMITTED, id), keys::json(&admitted));
            }
            Kind::Outcome => {
                let Some(admitted) = batch
                    .get(&key(ADMITTED, id))?
                    .and_then(|v| serde_json::from_slice::<Admitted>(&v).ok())
                else {
                    return Ok(());
                };
                batch.remove(key(ADMITTED, id));
                if record.outcome != Some(Outcome::Completed) {
                    return Ok(());
                }
                let (Some(retention_days), Ok(received)) = (admitted.d, record.instant()) else {
                    return Ok(());
                };
                if batch.contains_key(&key(RETAINED, id))? {
                    return Ok(());
                }
                let due = secs_key(retention_due(received, retention_days));
                let open = Open {
                    s: admitted.s,
                    r: admitted.r,
                    it: admitted.it,
                    t: (received.unix_timestamp(), received.nanosecond()),
                    d: retention_days,
                    o: index,
                    c: admitted.c,
                };
                batch.insert(key(RETAINED, id), due);
                batch.insert(key(DUE, &[&due[..], id].concat()), keys::json(&open));
            }
            Kind::Lifecycle => {
                let accepted = !matches!(record.reason, Some(Some(_)));
                let destroyed = accepted
                    && record::read::<LifecycleDetails>(record)
                        .is_some_and(|e| e.event == LifecycleEvent::Destroyed);
                if destroyed {
                    if let Some(due) = batch.get(&key(RETAINED, id))? {
                        if !due.is_empty() {
                            batch.remove(key(DUE, &[&due[..], id].concat()));
                        }
                    }
                    batch.insert(key(RETAINED, id), []);
                }
            }
            Kind::Decision | Kind::PolicyChange | Kind::System | Kind::Shipment | Kind::Custody => {
            }
        }
        Ok(())
    }

    /// Counts an admitted personal-information transfer's subjects under its processor,
    /// counting year and route.
    fn count(
        &self,
        batch: &mut Changes,
        sender: &str,
        record: &Record,
        details: &DecisionDetails,
        registry: &Registry,
    ) -> Result<(), sled::Error> {
        let (Some(class), Some(subjects), Ok(at)) =
            (details.data_class, details.data_subjects, record.instant())
        else {
            return Ok(());
        };
        if !class.is_personal() {
            return Ok(());
        }
        let start = volume_year_start(park_date(at), registry.parameters.volume_year_start);
        let route = details
            .route
            .map_or(UNKNOWN_ROUTE, loopgate_policy::Route::as_str);
        let mut k = key(COUNTER, &keys::sized(sender));
        k.extend_from_slice(&keys::date(start));
        k.extend_from_slice(route.as_bytes());
        let (mut plain, mut sensitive) = batch.get(&k)?.map_or((0, 0), |v| keys::two_u64(&v));
        let counter = if class.is_sensitive() {
            &mut sensitive
        } else {
            &mut plain
        };
        *counter = counter.saturating_add(subjects);
        batch.insert(k, keys::pair_u64(plain, sensitive));
        Ok(())
    }

    /// The per-day aggregates of `from..=to` ([`stats::read`]).
    pub(crate) fn stats(
        &self,
        from: Date,
        to: Date,
        sees: impl Fn(u8) -> bool,
        tenant: Option<&str>,
    ) -> Result<stats::Stats, sled::Error> {
        stats::read(&self.tree.now()?, from, to, sees, tenant)
    }

    /// Completed transfers with no `destroyed` event whose retention period ended before `now`,
    /// in transfer id order.
    pub(crate) fn overdue(&self, now: OffsetDateTime) -> Result<Vec<Retention>, sled::Error> {
        let end = key(
            DUE,
            &u64::try_from(now.unix_timestamp())
                .unwrap_or(0)
                .saturating_add(1)
                .to_be_bytes(),
        );
        let mut found = Vec::new();
        for entry in self.tree.now()?.range(DUE.to_vec()..end) {
            let (k, v) = entry?;
            let Some(id) = k.get(DUE.len() + 8..) else {
                continue;
            };
            let Ok(open) = serde_json::from_slice::<Open>(&v) else {
                continue;
            };
            let received = open.received_at();
            if !loopgate_policy::is_overdue(received, open.d, false, now) {
                continue;
            }
            found.push(Retention {
                transfer_id: String::from_utf8_lossy(id).into_owned(),
                sender: open.s,
                recipient: open.r,
                item: open.it,
                received,
                retention_days: open.d,
                outcome_log_index: open.o,
                scope: DataScope::from_bits(open.c),
            });
        }
        found.sort_by(|a, b| a.transfer_id.cmp(&b.transfer_id));
        Ok(found)
    }

    /// Completed transfers with no `destroyed` event (overdue or not).
    #[cfg(test)]
    pub(crate) fn open_retention(&self) -> usize {
        self.tree.now().unwrap().scan_prefix(DUE).count()
    }

    /// The log indexes of the allow decisions that have no outcome yet, in log order.
    pub(crate) fn admitted(&self) -> Result<Vec<u64>, sled::Error> {
        let mut indexes = Vec::new();
        for entry in self.tree.now()?.scan_prefix(ADMITTED) {
            let (_, v) = entry?;
            if let Ok(admitted) = serde_json::from_slice::<Admitted>(&v) {
                indexes.push(admitted.i);
            }
        }
        indexes.sort_unstable();
        Ok(indexes)
    }

    /// The counters of the counting year that contains `now` (by the parameters of
    /// `registry`), per legal entity (by `registry`: a tenant it does not know counts as an
    /// entity of its own) and route, of `entity` only when given, ordered by entity and route.
    pub(crate) fn counters(
        &self,
        now: OffsetDateTime,
        registry: &Registry,
        entity: Option<&str>,
    ) -> Result<Vec<Counter>, sled::Error> {
        let start = volume_year_start(park_date(now), registry.parameters.volume_year_start);
        let mut by_entity: BTreeMap<(String, String), Counter> = BTreeMap::new();
        for entry in self.tree.now()?.scan_prefix(COUNTER) {
            let (k, v) = entry?;
            let Some((sender, rest)) = keys::split_sized(&k[COUNTER.len()..]) else {
                continue;
            };
            let (Some(year), Some(route)) = (
                rest.get(..4).and_then(keys::read_date),
                rest.get(4..).map(String::from_utf8_lossy),
            ) else {
                continue;
            };
            if year != start {
                continue;
            }
            let (subjects, sensitive) = keys::two_u64(&v);
            let of = registry.legal_entity_of(&sender).unwrap_or(&sender);
            if entity.is_some_and(|e| e != of) {
                continue;
            }
            let counter = by_entity
                .entry((of.to_owned(), route.to_string()))
                .or_insert_with(|| Counter {
                    legal_entity: of.to_owned(),
                    tenants: Vec::new(),
                    year_start: year,
                    route: route.to_string(),
                    subjects: 0,
                    sensitive_subjects: 0,
                });
            counter.tenants.push(sender.clone());
            counter.subjects = counter.subjects.saturating_add(subjects);
            counter.sensitive_subjects = counter.sensitive_subjects.saturating_add(sensitive);
        }
        let mut counters: Vec<Counter> = by_entity.into_values().collect();
        for counter in &mut counters {
            counter.tenants.sort();
        }
        Ok(counters)
    }
}
