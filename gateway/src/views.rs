//! In-memory views of the log for the regulator API (SPEC.md section 4, RULES.md 19 and 21):
//! the open retention entries (completed transfers with no `destroyed` event) and the data
//! subject counters per processor, counting year and route.
//!
//! They are not the truth and are never stored: the log is. `AppState::rebuild` rebuilds them at
//! start from every record, and every durable append updates them after it is acknowledged. A
//! view may therefore lag the log by the appends in flight; nothing decides on them (rule 19's
//! decision uses `AppState`'s own counters, under the lock that evaluates).

#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, PoisonError};

use loopgate_audit::{Kind, Outcome, Record, Verdict};
use loopgate_policy::{LifecycleEvent, Registry, park_date, volume_year_start};
use time::{Date, OffsetDateTime};

use crate::record;
use crate::transfer::lifecycle::LifecycleDetails;
use crate::transfer::records::{DataScope, DecisionDetails};

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

/// An allow decision waiting for its outcome.
#[derive(Debug, Clone)]
struct Admitted {
    sender: String,
    recipient: String,
    item: String,
    retention_days: Option<u32>,
    scope: DataScope,
}

/// Where a transfer stands for retention.
#[derive(Debug, Clone, Copy)]
enum Held {
    /// Completed, not destroyed.
    Open(Open),
    /// Destroyed (kept so a late observation of its completion does not reopen it).
    Destroyed,
}

/// A [`Retention`] as the view keeps it: one is held per completed transfer that was not
/// destroyed, so it is small (72 bytes with its key, checked by a test, plus the map's own
/// share; the tenant and item ids are interned). Ten minutes of load keep about a million.
#[derive(Debug, Clone, Copy)]
struct Open {
    /// Interned sender, recipient and item.
    parties: [u32; 3],
    /// The `completed` outcome's time: Unix seconds and nanoseconds.
    received: (i64, u32),
    /// The item's retention period in days (a bundle allows at most 36,525, a century).
    retention_days: u16,
    outcome_log_index: u64,
    /// The class of the transfer's data ([`DataScope::to_bits`]).
    scope: u8,
}

impl Open {
    fn received_at(&self) -> OffsetDateTime {
        let (seconds, nanos) = self.received;
        OffsetDateTime::from_unix_timestamp(seconds)
            .map(|t| t + time::Duration::nanoseconds(i64::from(nanos)))
            .unwrap_or(OffsetDateTime::UNIX_EPOCH)
    }
}

/// A transfer id as a map key: the gateway's ids (32 lower-case hex digits) as a number, which
/// sorts as the text does; any other id as text.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum TransferKey {
    Hex([u8; 16]),
    Text(Box<str>),
}

impl TransferKey {
    fn new(id: &str) -> Self {
        let hex = id.len() == 32 && id.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
        match u128::from_str_radix(id, 16) {
            Ok(n) if hex => TransferKey::Hex(n.to_be_bytes()),
            _ => TransferKey::Text(id.into()),
        }
    }

    fn id(&self) -> String {
        match self {
            TransferKey::Hex(bytes) => format!("{:032x}", u128::from_be_bytes(*bytes)),
            TransferKey::Text(id) => id.to_string(),
        }
    }
}

#[derive(Debug, Default)]
struct Inner {
    admitted: HashMap<String, Admitted>,
    held: BTreeMap<TransferKey, Held>,
    /// Interned tenant and item ids of `held`.
    names: Vec<Arc<str>>,
    name_ids: HashMap<Arc<str>, u32>,
    counters: BTreeMap<(String, Date, String), (u64, u64)>,
}

impl Inner {
    fn intern(&mut self, name: String) -> u32 {
        if let Some(id) = self.name_ids.get(name.as_str()) {
            return *id;
        }
        let id = u32::try_from(self.names.len()).unwrap_or(u32::MAX);
        let name: Arc<str> = name.into();
        self.names.push(name.clone());
        self.name_ids.insert(name, id);
        id
    }

    fn name(&self, id: u32) -> String {
        self.names
            .get(id as usize)
            .map(ToString::to_string)
            .unwrap_or_default()
    }

    /// Counts an admitted personal-information transfer's subjects under its processor,
    /// counting year and route.
    fn count(
        &mut self,
        sender: &str,
        record: &Record,
        details: &DecisionDetails,
        registry: &Registry,
    ) {
        let (Some(class), Some(subjects), Ok(at)) =
            (details.data_class, details.data_subjects, record.instant())
        else {
            return;
        };
        if !class.is_personal() {
            return;
        }
        let start = volume_year_start(park_date(at), registry.parameters.volume_year_start);
        let route = details
            .route
            .map_or(UNKNOWN_ROUTE, loopgate_policy::Route::as_str)
            .to_owned();
        let counts = self
            .counters
            .entry((sender.to_owned(), start, route))
            .or_default();
        let counter = if class.is_sensitive() {
            &mut counts.1
        } else {
            &mut counts.0
        };
        *counter = counter.saturating_add(subjects);
    }

    fn retention(&self, key: &TransferKey, open: &Open) -> Retention {
        let [sender, recipient, item] = open.parties.map(|p| self.name(p));
        Retention {
            transfer_id: key.id(),
            sender,
            recipient,
            item,
            received: open.received_at(),
            retention_days: u32::from(open.retention_days),
            outcome_log_index: open.outcome_log_index,
            scope: DataScope::from_bits(open.scope),
        }
    }
}

/// The views; see the module documentation.
#[derive(Debug, Default)]
pub(crate) struct Views {
    inner: Mutex<Inner>,
}

impl Views {
    /// Updates the views with the durable `record` at `index` (the parameters of `registry`
    /// decide the counting year).
    pub(crate) fn observe(&self, index: u64, record: &Record, registry: &Registry) {
        let Some(transfer) = record.transfer_id.clone() else {
            return;
        };
        let mut inner = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        match record.kind {
            Kind::Decision if record.decision == Some(Verdict::Allow) => {
                let Some(details) = record::read::<DecisionDetails>(record) else {
                    return;
                };
                let sender = record.sender.clone().unwrap_or_default();
                inner.count(&sender, record, &details, registry);
                let admitted = Admitted {
                    sender,
                    recipient: record.recipient.clone().unwrap_or_default(),
                    item: record.item.clone().unwrap_or_default(),
                    retention_days: details.retention_days(),
                    scope: details.data_scope(),
                };
                inner.admitted.insert(transfer, admitted);
            }
            Kind::Outcome => {
                let Some(admitted) = inner.admitted.remove(&transfer) else {
                    return;
                };
                if record.outcome != Some(Outcome::Completed) {
                    return;
                }
                let (Some(retention_days), Ok(received)) =
                    (admitted.retention_days, record.instant())
                else {
                    return;
                };
                let key = TransferKey::new(&transfer);
                if inner.held.contains_key(&key) {
                    return;
                }
                let parties = [admitted.sender, admitted.recipient, admitted.item]
                    .map(|name| inner.intern(name));
                let open = Open {
                    parties,
                    received: (received.unix_timestamp(), received.nanosecond()),
                    retention_days: u16::try_from(retention_days).unwrap_or(u16::MAX),
                    outcome_log_index: index,
                    scope: admitted.scope.to_bits(),
                };
                inner.held.insert(key, Held::Open(open));
            }
            Kind::Lifecycle => {
                let accepted = !matches!(record.reason, Some(Some(_)));
                let destroyed = accepted
                    && record::read::<LifecycleDetails>(record)
                        .is_some_and(|e| e.event == LifecycleEvent::Destroyed);
                if destroyed {
                    inner
                        .held
                        .insert(TransferKey::new(&transfer), Held::Destroyed);
                }
            }
            Kind::Decision | Kind::PolicyChange | Kind::System | Kind::Shipment | Kind::Custody => {
            }
        }
    }

    /// Completed transfers with no `destroyed` event whose retention period ended before `now`,
    /// in transfer id order.
    pub(crate) fn overdue(&self, now: OffsetDateTime) -> Vec<Retention> {
        let inner = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        inner
            .held
            .iter()
            .filter_map(|(key, held)| match held {
                Held::Open(open) => Some((key, open)),
                Held::Destroyed => None,
            })
            .filter(|(_, open)| {
                loopgate_policy::is_overdue(
                    open.received_at(),
                    u32::from(open.retention_days),
                    false,
                    now,
                )
            })
            .map(|(key, open)| inner.retention(key, open))
            .collect()
    }

    /// Completed transfers with no `destroyed` event (overdue or not).
    #[cfg(test)]
    pub(crate) fn open_retention(&self) -> usize {
        let inner = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        inner
            .held
            .values()
            .filter(|held| matches!(held, Held::Open(_)))
            .count()
    }

    /// The counters of the counting year that contains `now` (by the parameters of
    /// `registry`), per legal entity (by `registry`: a tenant it does not know counts as an
    /// entity of its own) and route, of `entity` only when given, ordered by entity and route.
    pub(crate) fn counters(
        &self,
        now: OffsetDateTime,
        registry: &Registry,
        entity: Option<&str>,
    ) -> Vec<Counter> {
        let start = volume_year_start(park_date(now), registry.parameters.volume_year_start);
        let inner = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        let mut by_entity: BTreeMap<(String, String), Counter> = BTreeMap::new();
        let this_year = inner
            .counters
            .iter()
            .filter(|((_, year, _), _)| *year == start);
        for ((sender, year, route), (subjects, sensitive)) in this_year {
            let of = registry.legal_entity_of(sender).unwrap_or(sender);
            if entity.is_some_and(|e| e != of) {
                continue;
            }
            let counter = by_entity
                .entry((of.to_owned(), route.clone()))
                .or_insert_with(|| Counter {
                    legal_entity: of.to_owned(),
                    tenants: Vec::new(),
                    year_start: *year,
                    route: route.clone(),
                    subjects: 0,
                    sensitive_subjects: 0,
                });
            counter.tenants.push(sender.clone());
            counter.subjects = counter.subjects.saturating_add(*subjects);
            counter.sensitive_subjects = counter.sensitive_subjects.saturating_add(*sensitive);
        }
        by_entity.into_values().collect()
    }
}
