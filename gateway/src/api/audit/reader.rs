//! Who is reading: the regulator's `[[regulator]]` entry in the policy in force, and what of the
//! log it may see (`crate::scope`). An unlisted regulator sees nothing: 403 on every endpoint
//! that shows records. Checkpoints and proofs reveal no record and stay open to every
//! regulator.

use std::sync::Arc;

use loopgate_audit::Record;
use loopgate_policy::{ReasonCode, Regulator, Scope};

use crate::reply::ApiError;
use crate::scope;
use crate::state::{AppState, PolicySnapshot};
use crate::transfer::records::DataScope;

/// A listed regulator and the policy snapshot its scope is read under.
#[derive(Debug, Clone)]
pub(crate) struct Reader {
    regulator: Regulator,
    snapshot: Arc<PolicySnapshot>,
}

impl Reader {
    /// The regulator `id` as the policy in force lists it; 403 `auth.forbidden` when it does
    /// not.
    pub(crate) fn of(state: &AppState, id: &str) -> Result<Self, ApiError> {
        let snapshot = state.policy();
        let Some(regulator) = snapshot.registry.regulators.get(id).cloned() else {
            return Err(ApiError::new(ReasonCode::AuthForbidden).message(format!(
                "regulator/{id} has no [[regulator]] entry in the policy in force (version {}), so it sees no record; checkpoints and proofs stay open to it",
                snapshot.version
            )));
        };
        Ok(Self {
            regulator,
            snapshot,
        })
    }

    /// Whether it sees every record (`sees = ["all"]`): no record needs reading to filter.
    pub(crate) fn sees_all(&self) -> bool {
        self.regulator.sees(Scope::All)
    }

    /// Whether it sees records under `scope`.
    pub(crate) fn sees(&self, scope: Scope) -> bool {
        self.regulator.sees(scope)
    }

    /// Whether it sees `record`.
    pub(crate) fn sees_record(&self, record: &Record) -> bool {
        self.sees_all()
            || scope::sees(
                &self.regulator,
                &scope::of_record(record, &self.snapshot.registry),
            )
    }

    /// Whether it sees records under the scopes `bits` ([`scope::to_bits`]).
    pub(crate) fn sees_bits(&self, bits: u8) -> bool {
        scope::sees(&self.regulator, &scope::from_bits(bits))
    }

    /// The scopes it sees, as the bundle spells them.
    pub(crate) fn scopes(&self) -> Vec<&'static str> {
        self.regulator.sees.iter().map(|s| s.as_str()).collect()
    }

    /// Whether it sees the record `leaf` (one that does not parse only with `all`).
    pub(crate) fn sees_leaf(&self, leaf: &[u8]) -> bool {
        self.sees_all() || Record::from_leaf(leaf).is_ok_and(|record| self.sees_record(&record))
    }

    /// Whether it sees the records of a transfer of `item` whose data's class is `data`.
    pub(crate) fn sees_transfer(&self, data: DataScope, item: &str) -> bool {
        self.sees_all()
            || scope::sees(
                &self.regulator,
                &scope::of_transfer(data, item, &self.snapshot.registry),
            )
    }

    /// Whether it sees the records of a shipment of `sample_item` (`hgr`: whether its samples
    /// are human genetic resources, as declared).
    pub(crate) fn sees_shipment(&self, hgr: Option<bool>, sample_item: &str) -> bool {
        self.sees_all()
            || scope::sees(
                &self.regulator,
                &scope::of_shipment(hgr, Some(sample_item), &self.snapshot.registry),
            )
    }

    /// The regulator's id.
    pub(crate) fn id(&self) -> &str {
        &self.regulator.id
    }
}
