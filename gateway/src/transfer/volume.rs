//! Rule 19's year-to-date counters, as the decision sees them: data subjects of admitted
//! personal-information transfers per sending tenant and counting year (UTC+8, from the
//! registry's `volume_year_start`). A decision is held to the sum over every tenant of the
//! sender's **legal entity** in the registry it is evaluated under, so a change of a tenant's
//! `legal_entity` applies to the next decision with nothing to rebuild. They are kept in memory
//! (one entry per tenant and counting year) and, so that a start needs no scan of the log, in
//! the views tree in sled (`v/<year><tenant>`, written by `state::follow` from the decision
//! records), from which a start loads them; the regulator's per-route view of the same counts
//! is `crate::views`.
//!
//! Reading a processor's counters, evaluating and counting the admitted transfer happen under
//! one lock, so two concurrent transfers cannot both pass a threshold that together they cross.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};

use loopgate_audit::{Kind, Record, Verdict};
use loopgate_policy::{
    DataClass, Decision, Registry, TransferRequest, VolumeCounters, counters_after, park_date,
    volume_year_start,
};
use sled::Tree;
use time::{Date, OffsetDateTime};

use super::records::DecisionDetails;
use crate::record;
use crate::state::keys::{self, Changes};

const VOLUMES: &[u8] = keys::prefix::VOLUMES;

/// Per counting year (its first day), each sending tenant's counters.
type ByYear = HashMap<Date, HashMap<String, VolumeCounters>>;

/// The counters of every sending tenant and counting year.
#[derive(Debug, Default)]
pub(crate) struct Volumes {
    counters: Mutex<ByYear>,
}

impl Volumes {
    /// Evaluates a transfer with the year-to-date counters of the sender's legal entity and,
    /// when it is an allowed personal-information transfer, counts its subjects, all under one
    /// lock. Rule 19 counts every admitted transfer.
    pub(crate) fn evaluate(
        &self,
        registry: &Registry,
        mut request: TransferRequest,
        at: OffsetDateTime,
    ) -> Decision {
        let year = year_start(at, registry);
        let mut counters = self.lock();
        request.volume = entity_counters(&counters, &request.sender, year, registry);
        let decision = loopgate_policy::evaluate(registry, &request, at);
        if let (true, Some(class), Some(subjects)) = (
            decision.is_allowed(),
            decision.data_class,
            request.data_subjects,
        ) {
            add(&mut counters, &request.sender, year, class, subjects);
        }
        decision
    }

    /// Adds to `batch` the subjects of the durable decision `record` when it admitted personal
    /// information (the counting year by `registry`), to the counters as `batch` has them.
    pub(crate) fn observe_into(
        batch: &mut Changes,
        record: &Record,
        registry: &Registry,
    ) -> Result<(), sled::Error> {
        if record.kind != Kind::Decision || record.decision != Some(Verdict::Allow) {
            return Ok(());
        }
        let (Some(sender), Some(details), Ok(at)) = (
            record.sender.as_deref(),
            record::read::<DecisionDetails>(record),
            record.instant(),
        ) else {
            return Ok(());
        };
        let (Some(class), Some(subjects)) = (details.data_class, details.data_subjects) else {
            return Ok(());
        };
        if !class.is_personal() {
            return Ok(());
        }
        let key = [
            VOLUMES,
            &keys::date(year_start(at, registry)),
            sender.as_bytes(),
        ]
        .concat();
        let (plain, sensitive) = batch.get(&key)?.map_or((0, 0), |v| keys::two_u64(&v));
        let before = VolumeCounters {
            subjects: plain,
            sensitive_subjects: sensitive,
        };
        let after = counters_after(before, class.is_sensitive(), subjects);
        batch.insert(
            key,
            keys::pair_u64(after.subjects, after.sensitive_subjects),
        );
        Ok(())
    }

    /// Loads the counters kept in `tree` (at start, before any decision); returns how many.
    pub(crate) fn load(&self, tree: &Tree) -> Result<usize, sled::Error> {
        let mut counters = self.lock();
        counters.clear();
        let mut loaded = 0;
        for entry in tree.scan_prefix(VOLUMES) {
            let (k, v) = entry?;
            let Some(year) = k
                .get(VOLUMES.len()..VOLUMES.len() + 4)
                .and_then(keys::read_date)
            else {
                continue;
            };
            let tenant = String::from_utf8_lossy(&k[VOLUMES.len() + 4..]).into_owned();
            let (subjects, sensitive_subjects) = keys::two_u64(&v);
            counters.entry(year).or_default().insert(
                tenant,
                VolumeCounters {
                    subjects,
                    sensitive_subjects,
                },
            );
            loaded += 1;
        }
        Ok(loaded)
    }

    /// Counts an admitted transfer of `sender` found in the log.
    #[cfg(test)]
    pub(crate) fn count(
        &self,
        sender: &str,
        at: OffsetDateTime,
        registry: &Registry,
        class: DataClass,
        subjects: u64,
    ) {
        let year = year_start(at, registry);
        add(&mut self.lock(), sender, year, class, subjects);
    }

    /// The counters of `sender`'s legal entity for the counting year that contains `at`.
    #[cfg(test)]
    pub(crate) fn year_to_date(
        &self,
        sender: &str,
        at: OffsetDateTime,
        registry: &Registry,
    ) -> VolumeCounters {
        entity_counters(&self.lock(), sender, year_start(at, registry), registry)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, ByYear> {
        self.counters.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The sum of the counters of every tenant of `sender`'s legal entity in the counting year
/// starting `year` (just the sender's own when the registry does not know it).
fn entity_counters(
    counters: &ByYear,
    sender: &str,
    year: Date,
    registry: &Registry,
) -> VolumeCounters {
    let Some(tenants) = counters.get(&year) else {
        return VolumeCounters::default();
    };
    let of = |tenant: &str| tenants.get(tenant).copied().unwrap_or_default();
    let Some(entity) = registry.legal_entity_of(sender) else {
        return of(sender);
    };
    registry
        .tenants_of_entity(entity)
        .map(of)
        .fold(VolumeCounters::default(), |sum, c| VolumeCounters {
            subjects: sum.subjects.saturating_add(c.subjects),
            sensitive_subjects: sum.sensitive_subjects.saturating_add(c.sensitive_subjects),
        })
}

/// The first day (UTC+8) of the counting year that contains `at`.
fn year_start(at: OffsetDateTime, registry: &Registry) -> Date {
    volume_year_start(park_date(at), registry.parameters.volume_year_start)
}

/// Adds one admitted transfer's subjects to its sender's counters (personal data only).
fn add(counters: &mut ByYear, sender: &str, year: Date, class: DataClass, subjects: u64) {
    if !class.is_personal() {
        return;
    }
    let tenants = counters.entry(year).or_default();
    let entry = match tenants.get_mut(sender) {
        Some(entry) => entry,
        None => tenants.entry(sender.to_owned()).or_default(),
    };
    *entry = counters_after(*entry, class.is_sensitive(), subjects);
}

#[cfg(test)]
mod tests;
