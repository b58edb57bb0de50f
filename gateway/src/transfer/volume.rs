//! Rule 19's year-to-date counters, as the decision sees them: data subjects of admitted
//! personal-information transfers per processor and counting year (UTC+8, from the registry's
//! `volume_year_start`). They are rebuilt from the log at start (`state::rebuild`) and kept in
//! memory; the regulator's per-route view of the same counts is `crate::views`.
//!
//! Reading a processor's counters, evaluating and counting the admitted transfer happen under
//! one lock, so two concurrent transfers cannot both pass a threshold that together they cross.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};

use loopgate_policy::{
    DataClass, Decision, Registry, TransferRequest, VolumeCounters, counters_after, park_date,
    volume_year_start,
};
use time::{Date, OffsetDateTime};

/// The counters of every processor and counting year.
#[derive(Debug, Default)]
pub(crate) struct Volumes {
    counters: Mutex<HashMap<(String, Date), VolumeCounters>>,
}

impl Volumes {
    /// Evaluates a transfer with the sender's year-to-date counters and, when it is an allowed
    /// personal-information transfer, counts its subjects, all under one lock. Rule 19 counts
    /// every admitted transfer.
    pub(crate) fn evaluate(
        &self,
        registry: &Registry,
        mut request: TransferRequest,
        at: OffsetDateTime,
    ) -> Decision {
        let key = key(&request.sender, at, registry);
        let mut counters = self.lock();
        request.volume = counters.get(&key).copied().unwrap_or_default();
        let decision = loopgate_policy::evaluate(registry, &request, at);
        if let (true, Some(class), Some(subjects)) = (
            decision.is_allowed(),
            decision.data_class,
            request.data_subjects,
        ) {
            if class.is_personal() {
                add(&mut counters, key, class, subjects);
            }
        }
        decision
    }

    /// Counts an admitted transfer found in the log (at start).
    pub(crate) fn count(
        &self,
        processor: &str,
        at: OffsetDateTime,
        registry: &Registry,
        class: DataClass,
        subjects: u64,
    ) {
        if class.is_personal() {
            add(
                &mut self.lock(),
                key(processor, at, registry),
                class,
                subjects,
            );
        }
    }

    /// The counters of `processor` for the counting year that contains `at`.
    #[cfg(test)]
    pub(crate) fn year_to_date(
        &self,
        processor: &str,
        at: OffsetDateTime,
        registry: &Registry,
    ) -> VolumeCounters {
        let key = key(processor, at, registry);
        self.lock().get(&key).copied().unwrap_or_default()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<(String, Date), VolumeCounters>> {
        self.counters.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The counters' key of `processor` for the counting year (UTC+8) that contains `at`.
fn key(processor: &str, at: OffsetDateTime, registry: &Registry) -> (String, Date) {
    let start = volume_year_start(park_date(at), registry.parameters.volume_year_start);
    (processor.to_owned(), start)
}

/// Adds one admitted transfer's subjects to its processor's counters.
fn add(
    counters: &mut HashMap<(String, Date), VolumeCounters>,
    key: (String, Date),
    class: DataClass,
    subjects: u64,
) {
    let entry = counters.entry(key).or_default();
    *entry = counters_after(*entry, class.is_sensitive(), subjects);
}

#[cfg(test)]
mod tests;
